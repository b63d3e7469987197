#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "palabre/nack.h"
#include "palabre/rtcp.h"

static void gap_across_wrap_then_recovery(void **state)
{
    struct pal_nack *n;
    assert_int_equal(pal_nack_create(NULL, &n), 0);
    assert_int_equal(pal_nack_on_packet(n, 65533, 0), PAL_NACK_IN_ORDER);
    assert_int_equal(pal_nack_on_packet(n, 65534, 0), PAL_NACK_IN_ORDER);
    /* 65535, 0, 1 lost */
    assert_int_equal(pal_nack_on_packet(n, 2, 10), PAL_NACK_GAP);
    assert_int_equal(pal_nack_missing(n), 3);
    uint16_t out[16];
    size_t k = pal_nack_collect(n, 10, out, 16);
    assert_int_equal(k, 3);
    assert_int_equal(out[0], 65535);
    assert_int_equal(out[1], 0);
    assert_int_equal(out[2], 1);
    /* They can be written as one NACK item. */
    uint8_t buf[64];
    size_t len;
    assert_int_equal(pal_rtcp_write_nack(buf, sizeof(buf), &len, 1, 2, out, k), 0);
    assert_int_equal(len, 16);
    /* Not again before the retry interval (20 ms default). */
    assert_int_equal(pal_nack_collect(n, 20, out, 16), 0);
    /* 0 arrives (retransmission) */
    assert_int_equal(pal_nack_on_packet(n, 0, 25), PAL_NACK_RECOVERED);
    assert_int_equal(pal_nack_on_packet(n, 0, 26), PAL_NACK_DUPLICATE);
    assert_int_equal(pal_nack_on_packet(n, 2, 26), PAL_NACK_DUPLICATE);
    k = pal_nack_collect(n, 30, out, 16);
    assert_int_equal(k, 2);
    assert_int_equal(out[0], 65535);
    assert_int_equal(out[1], 1);
    pal_nack_destroy(n);
}

static void retry_limit_and_age(void **state)
{
    struct pal_nack_config cfg = {.max_retries = 3, .max_age_ms = 1000, .min_interval_ms = 10};
    struct pal_nack *n;
    assert_int_equal(pal_nack_create(&cfg, &n), 0);
    pal_nack_on_packet(n, 100, 0);
    pal_nack_on_packet(n, 102, 0); /* 101 missing */
    uint16_t out[4];
    int sent = 0;
    for (int64_t t = 0; t < 500; t += 10)
        sent += (int)pal_nack_collect(n, t, out, 4);
    assert_int_equal(sent, 3);
    assert_int_equal(pal_nack_missing(n), 0);
    /* Age limit: with RTT 400 ms, at most 3 tries within 1000 ms */
    pal_nack_set_rtt(n, 400);
    pal_nack_on_packet(n, 105, 1000); /* 103, 104 */
    sent = 0;
    for (int64_t t = 1000; t < 2500; t += 10)
        sent += (int)pal_nack_collect(n, t, out, 4);
    assert_int_equal(sent, 2 * 3);
    assert_int_equal(pal_nack_missing(n), 0);
    pal_nack_destroy(n);
}

static void large_gap_asks_keyframe(void **state)
{
    struct pal_nack_config cfg = {.max_missing = 8};
    struct pal_nack *n;
    assert_int_equal(pal_nack_create(&cfg, &n), 0);
    pal_nack_on_packet(n, 65530, 0);
    assert_int_equal(pal_nack_on_packet(n, 10, 0), PAL_NACK_NEED_KEYFRAME); /* 15 lost */
    assert_int_equal(pal_nack_missing(n), 0);
    assert_int_equal(pal_nack_on_packet(n, 11, 0), PAL_NACK_IN_ORDER);
    /* Table overflow: 5 + 5 missing with room for 8 */
    assert_int_equal(pal_nack_on_packet(n, 17, 0), PAL_NACK_GAP);
    assert_int_equal(pal_nack_on_packet(n, 23, 0), PAL_NACK_NEED_KEYFRAME);
    assert_int_equal(pal_nack_missing(n), 8);
    uint16_t out[16];
    assert_int_equal(pal_nack_collect(n, 0, out, 16), 8);
    assert_int_equal(out[0], 14); /* 12 and 13, the oldest, were dropped */
    /* A very old packet (half the space behind) is a duplicate, not a gap */
    assert_int_equal(pal_nack_on_packet(n, (uint16_t)(23 + 0x8000), 0), PAL_NACK_DUPLICATE);
    pal_nack_reset(n);
    assert_int_equal(pal_nack_missing(n), 0);
    assert_int_equal(pal_nack_on_packet(n, 9, 0), PAL_NACK_IN_ORDER);
    pal_nack_destroy(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gap_across_wrap_then_recovery),
        cmocka_unit_test(retry_limit_and_age),
        cmocka_unit_test(large_gap_asks_keyframe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
