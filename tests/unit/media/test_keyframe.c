#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "palabre/keyframe.h"

static void throttles_and_coalesces(void **state)
{
    struct pal_keyframe *k;
    assert_int_equal(pal_keyframe_create(500, &k), 0);
    assert_false(pal_keyframe_pending(k));
    assert_true(pal_keyframe_request(k, 1000)); /* first: now */
    assert_true(pal_keyframe_pending(k));
    /* 20 subscribers ask within the window: coalesced, nothing sent */
    for (int i = 0; i < 20; i++)
        assert_false(pal_keyframe_request(k, 1000 + 10 * i));
    assert_false(pal_keyframe_poll(k, 1499));
    /* No keyframe came: one PLI when the window ends */
    assert_true(pal_keyframe_poll(k, 1500));
    assert_false(pal_keyframe_poll(k, 1501));
    assert_int_equal(pal_keyframe_requests(k), 21);
    assert_int_equal(pal_keyframe_sent(k), 2);
    pal_keyframe_destroy(k);
}

static void keyframe_satisfies_pending(void **state)
{
    struct pal_keyframe *k;
    assert_int_equal(pal_keyframe_create(0, &k), 0); /* default 500 ms */
    assert_true(pal_keyframe_request(k, 0));
    assert_false(pal_keyframe_request(k, 100));
    pal_keyframe_on_keyframe(k, 200);
    assert_false(pal_keyframe_pending(k));
    assert_false(pal_keyframe_poll(k, 10000)); /* nothing left to send */
    assert_true(pal_keyframe_request(k, 10000));
    assert_int_equal(pal_keyframe_sent(k), 2);
    assert_int_equal(pal_keyframe_next_fir_seq(k), 0);
    assert_int_equal(pal_keyframe_next_fir_seq(k), 1);
    pal_keyframe_destroy(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(throttles_and_coalesces),
        cmocka_unit_test(keyframe_satisfies_pending),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
