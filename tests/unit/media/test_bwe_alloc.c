/* A track's layer from its share of the bandwidth estimate
 * (palabre/bwe_alloc.h): down at once after a cut, up only after the share
 * held (as far as it covers), paused below the lowest layer, never a layer
 * tried that the share does not cover (the room probes with padding for
 * what pal_bwe_alloc_next_need says), a low estimate without a cut
 * ignored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "palabre/bwe_alloc.h"

static const uint32_t need[3] = {150000, 500000, 1500000};
#define Q 0
#define H 1
#define F 2

/* Steps every 500 ms from *now for ms with a fixed share and last cut. */
static void run(struct pal_bwe_alloc *a, int want, uint32_t share, int64_t cut, int64_t *now,
                int64_t ms)
{
    for (int64_t end = *now + ms; *now < end; *now += 500)
        pal_bwe_alloc_step(a, need, 3, want, share, cut, *now);
}

static void test_no_cut_no_limit(void **state)
{
    (void)state;
    struct pal_bwe_alloc a;
    pal_bwe_alloc_init(&a);
    int64_t now = 1000;
    /* a low estimate without any cut: little was sent, the view decides */
    run(&a, F, 100000, 0, &now, 10000);
    assert_int_equal(pal_bwe_alloc_layer(&a, F), F);
    assert_false(pal_bwe_alloc_limited(&a, F));
    assert_int_equal(pal_bwe_alloc_layer(&a, -1), -1); /* hidden: nothing */
}

static void test_down_fast_then_up_after_hold(void **state)
{
    (void)state;
    struct pal_bwe_alloc a;
    pal_bwe_alloc_init(&a);
    int64_t now = 1000;
    /* a cut, the share covers h but not f: h at the next step */
    pal_bwe_alloc_step(&a, need, 3, F, 600000, now, now);
    assert_int_equal(pal_bwe_alloc_layer(&a, F), H);
    assert_true(pal_bwe_alloc_limited(&a, F));
    assert_int_equal(pal_bwe_alloc_next_need(&a, need, 3, F), need[F]);
    /* a small tile wants q: not limited by bandwidth, nothing to probe for */
    assert_int_equal(pal_bwe_alloc_layer(&a, Q), Q);
    assert_false(pal_bwe_alloc_limited(&a, Q));
    assert_int_equal(pal_bwe_alloc_next_need(&a, need, 3, Q), 0);
    /* the estimate covers f again (a probe found the room): f only after
     * the share held it for the hold time, even with the cut still recent */
    int64_t cut = now;
    now += 500;
    run(&a, F, 2000000, cut, &now, PAL_BWE_ALLOC_UP_HOLD_MS);
    assert_int_equal(pal_bwe_alloc_layer(&a, F), H);
    run(&a, F, 2000000, cut, &now, 500);
    assert_int_equal(pal_bwe_alloc_layer(&a, F), F);
    assert_false(pal_bwe_alloc_limited(&a, F));
    assert_int_equal(pal_bwe_alloc_next_need(&a, need, 3, F), 0);
}

/* On a short link a track stays on the layer its share covers: the next
 * layer is never tried (on a 300 kbit/s link it floods the link and the
 * video freezes); the room probes for it with padding instead. */
static void test_no_layer_trial_on_short_link(void **state)
{
    (void)state;
    struct pal_bwe_alloc a;
    pal_bwe_alloc_init(&a);
    int64_t now = 1000;
    pal_bwe_alloc_step(&a, need, 3, F, 300000, now, now);
    assert_int_equal(pal_bwe_alloc_layer(&a, F), Q);
    for (int64_t end = now + 60000; now < end; now += 500) {
        /* cuts now and then, or none for long: no difference */
        int64_t cut = now % 10000 == 0 ? now : 1000;
        pal_bwe_alloc_step(&a, need, 3, F, 300000, cut, now);
        assert_int_equal(pal_bwe_alloc_layer(&a, F), Q);
        assert_int_equal(pal_bwe_alloc_next_need(&a, need, 3, F), need[H]);
    }
}

/* Paused below the lowest layer, resumed when the share covers it (after
 * the hold), not before; a share covering f at once jumps there. */
static void test_paused_then_resumed(void **state)
{
    (void)state;
    struct pal_bwe_alloc a;
    pal_bwe_alloc_init(&a);
    int64_t now = 1000;
    pal_bwe_alloc_step(&a, need, 3, F, 40000, now, now);
    assert_int_equal(pal_bwe_alloc_layer(&a, F), -1); /* paused */
    assert_true(pal_bwe_alloc_limited(&a, F));
    assert_int_equal(pal_bwe_alloc_next_need(&a, need, 3, F), need[Q]);
    for (int64_t end = now + 60000; now < end; now += 500) {
        pal_bwe_alloc_step(&a, need, 3, F, 40000, now - 6000, now);
        assert_int_equal(pal_bwe_alloc_layer(&a, F), -1);
    }
    run(&a, F, 200000, 1000, &now, PAL_BWE_ALLOC_UP_HOLD_MS);
    assert_int_equal(pal_bwe_alloc_layer(&a, F), -1);
    run(&a, F, 200000, 1000, &now, 500);
    assert_int_equal(pal_bwe_alloc_layer(&a, F), Q);
    /* the share covers everything: straight to f, not a layer at a time */
    run(&a, F, 3000000, 1000, &now, PAL_BWE_ALLOC_UP_HOLD_MS + 500);
    assert_int_equal(pal_bwe_alloc_layer(&a, F), F);
}

static void test_hidden_keeps_cap(void **state)
{
    (void)state;
    struct pal_bwe_alloc a;
    pal_bwe_alloc_init(&a);
    int64_t now = 1000;
    pal_bwe_alloc_step(&a, need, 3, F, 200000, now, now);
    assert_int_equal(pal_bwe_alloc_layer(&a, F), Q);
    run(&a, -1, 200000, 1000, &now, 30000); /* hidden a while */
    assert_int_equal(pal_bwe_alloc_layer(&a, -1), -1);
    assert_int_equal(pal_bwe_alloc_next_need(&a, need, 3, -1), 0); /* nothing to probe for */
    assert_int_equal(pal_bwe_alloc_layer(&a, F), Q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_cut_no_limit),
        cmocka_unit_test(test_down_fast_then_up_after_hold),
        cmocka_unit_test(test_no_layer_trial_on_short_link),
        cmocka_unit_test(test_paused_then_resumed),
        cmocka_unit_test(test_hidden_keeps_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
