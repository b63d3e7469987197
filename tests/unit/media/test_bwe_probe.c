/* The probe controller (palabre/bwe_probe.h) alone: padding at the target
 * rate less the media, paced over the ticks; the target at twice the
 * estimate at most; an overflow stops a cluster at once and the next waits
 * longer each time (bounded), as after a cluster the estimate did not
 * follow; a success resets that; nothing without
 * feedback, nothing worth less than 10 %, never more padding than the cap;
 * idle, nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "palabre/bwe_probe.h"

#define TICK_US 20000

/* Ticks a cluster through (no cut); returns the padding it asked, and
 * checks no tick asked more than max_tick. */
static uint64_t run_cluster(struct pal_bwe_probe *p, uint32_t media_bps, int64_t *now,
                            size_t max_tick)
{
    uint64_t total = 0;
    while (pal_bwe_probe_running(p)) {
        *now += TICK_US;
        size_t b = pal_bwe_probe_tick(p, media_bps, 0, *now);
        assert_true(b <= max_tick);
        pal_bwe_probe_sent(p, b);
        total += b;
    }
    return total;
}

static void test_padding_at_target_paced(void **state)
{
    (void)state;
    struct pal_bwe_probe p;
    pal_bwe_probe_init(&p);
    int64_t now = 1000000;
    assert_false(pal_bwe_probe_running(&p));
    assert_int_equal(pal_bwe_probe_tick(&p, 0, 0, now), 0); /* idle: nothing */
    /* want 1 Mbit/s, estimate 600 kbit/s (x2 = 1.2 M: want is lower),
     * 400 kbit/s of media: the target 10 % above want, 700 kbit/s of
     * padding for the cluster */
    assert_true(pal_bwe_probe_start(&p, 1000000, 600000, 0, true, now));
    assert_int_equal(p.target_bps, 1100000);
    assert_true(pal_bwe_probe_running(&p));
    size_t per_tick = (size_t)700000 / 8 * TICK_US / 1000000; /* 1750 bytes */
    uint64_t total = run_cluster(&p, 400000, &now, per_tick);
    uint64_t expect = 700000ull / 8 * PAL_BWE_PROBE_CLUSTER_MS / 1000;
    assert_in_range(total, expect * 9 / 10, expect);
    assert_int_equal(p.padding_bytes, total);
    assert_int_equal(p.clusters, 1);
    /* over: nothing more, and no new cluster during the gap */
    assert_int_equal(pal_bwe_probe_tick(&p, 0, 0, now + TICK_US), 0);
    assert_false(pal_bwe_probe_start(&p, 1000000, 1000000 / 2, 0, true, now + 1000));
    assert_true(pal_bwe_probe_start(&p, 2000000, 1000000, 0, true,
                                    now + PAL_BWE_PROBE_GAP_MS * 1000));
    /* media above the target: no padding */
    now += PAL_BWE_PROBE_GAP_MS * 1000;
    assert_int_equal(run_cluster(&p, 3000000, &now, 0), 0);
}

static void test_target_twice_estimate_and_not_worth_it(void **state)
{
    (void)state;
    struct pal_bwe_probe p;
    pal_bwe_probe_init(&p);
    assert_true(pal_bwe_probe_start(&p, 5000000, 300000, 0, true, 1000000));
    assert_int_equal(p.target_bps, 600000);
    pal_bwe_probe_init(&p);
    /* what the views want the estimate covers: no probe */
    assert_false(pal_bwe_probe_start(&p, 1000000, 1000000, 0, true, 1000000));
    assert_false(pal_bwe_probe_start(&p, 500000, 1000000, 0, true, 1000000));
    assert_false(pal_bwe_probe_running(&p));
    assert_int_equal(p.clusters, 0);
    /* just above: 10 % above the estimate at least, and 10 % above the need */
    assert_true(pal_bwe_probe_start(&p, 1010000, 1000000, 0, true, 1000000));
    assert_int_equal(p.target_bps, 1111000);
}

static void test_no_feedback_no_probe(void **state)
{
    (void)state;
    struct pal_bwe_probe p;
    pal_bwe_probe_init(&p);
    assert_false(pal_bwe_probe_start(&p, 2000000, 300000, 0, false, 1000000));
    assert_false(pal_bwe_probe_running(&p));
    assert_int_equal(pal_bwe_probe_tick(&p, 0, 0, 1020000), 0);
}

static void test_padding_cap(void **state)
{
    (void)state;
    struct pal_bwe_probe p;
    pal_bwe_probe_init(&p);
    int64_t now = 1000000;
    assert_true(pal_bwe_probe_start(&p, 40000000, 10000000, 0, true, now));
    size_t cap = (size_t)PAL_BWE_PROBE_MAX_PADDING_BPS / 8 * TICK_US / 1000000;
    uint64_t total = run_cluster(&p, 0, &now, cap);
    assert_true(total <= (uint64_t)PAL_BWE_PROBE_MAX_PADDING_BPS / 8);
    /* a late tick (the worker was busy) makes up 100 ms at most: no burst
     * (the estimate took the cluster's 20 Mbit/s: a success) */
    assert_true(pal_bwe_probe_start(&p, 40000000, 20000000, 0, true,
                                    now + PAL_BWE_PROBE_GAP_MS * 1000));
    now += PAL_BWE_PROBE_GAP_MS * 1000 + 900000;
    assert_true(pal_bwe_probe_tick(&p, 0, 0, now) <= PAL_BWE_PROBE_MAX_PADDING_BPS / 80);
}

static void test_cut_stops_and_backs_off(void **state)
{
    (void)state;
    struct pal_bwe_probe p;
    pal_bwe_probe_init(&p);
    int64_t now = 1000000;
    uint32_t expect_ms = PAL_BWE_PROBE_BACKOFF_MIN_MS;
    for (int i = 0; i < 8; i++) {
        assert_true(pal_bwe_probe_start(&p, 2000000, 300000, 0, true, now));
        now += TICK_US;
        assert_true(pal_bwe_probe_tick(&p, 250000, 0, now) > 0);
        /* the estimator cuts (overuse or loss): stopped at this tick */
        now += TICK_US;
        assert_int_equal(pal_bwe_probe_tick(&p, 250000, now - 1000, now), 0);
        assert_false(pal_bwe_probe_running(&p));
        assert_int_equal(pal_bwe_probe_tick(&p, 250000, now - 1000, now + TICK_US), 0);
        /* not again before the backoff, which doubles up to its bound */
        assert_false(pal_bwe_probe_start(&p, 2000000, 300000, 0, true,
                                         now + (int64_t)expect_ms * 1000 - 1));
        now += (int64_t)expect_ms * 1000;
        expect_ms = expect_ms * 2 > PAL_BWE_PROBE_BACKOFF_MAX_MS ? PAL_BWE_PROBE_BACKOFF_MAX_MS
                                                                 : expect_ms * 2;
    }
    /* a cut from before the cluster does not fail it; its success resets
     * the backoff */
    assert_true(pal_bwe_probe_start(&p, 2000000, 300000, 0, true, now));
    int64_t old_cut = now - 1;
    while (pal_bwe_probe_running(&p)) {
        now += TICK_US;
        pal_bwe_probe_tick(&p, 250000, old_cut, now);
    }
    assert_true(pal_bwe_probe_start(&p, 2000000, 600000, 0, true,
                                    now + PAL_BWE_PROBE_GAP_MS * 1000));
    assert_int_equal(p.backoff_ms, PAL_BWE_PROBE_BACKOFF_MIN_MS);
}

/* A cluster that runs its course without an overflow but after which the
 * estimate did not follow (it found no room: a short link that queues a
 * little) is a failure: the next waits the backoff and aims lower. One
 * that took the estimate half the way to its target is a success. */
static void test_no_gain_is_a_failure(void **state)
{
    (void)state;
    struct pal_bwe_probe p;
    pal_bwe_probe_init(&p);
    int64_t now = 1000000;
    assert_true(pal_bwe_probe_start(&p, 2000000, 300000, 0, true, now));
    assert_int_equal(p.target_bps, 600000);
    run_cluster(&p, 250000, &now, SIZE_MAX);
    /* the estimate went from 300 to 440 kbit/s: less than half the way */
    now += PAL_BWE_PROBE_GAP_MS * 1000;
    assert_false(pal_bwe_probe_start(&p, 2000000, 440000, 0, true, now));
    assert_false(pal_bwe_probe_start(&p, 2000000, 440000, 0, true,
                                     now + PAL_BWE_PROBE_BACKOFF_MIN_MS * 1000 - 1));
    now += PAL_BWE_PROBE_BACKOFF_MIN_MS * 1000;
    assert_true(pal_bwe_probe_start(&p, 2000000, 440000, 0, true, now));
    assert_int_equal(p.target_bps, 660000); /* x1.5 */
    run_cluster(&p, 250000, &now, SIZE_MAX);
    /* 440 -> 560 kbit/s: more than half the way to 660, a success: x2 again */
    now += PAL_BWE_PROBE_GAP_MS * 1000;
    assert_true(pal_bwe_probe_start(&p, 2000000, 560000, 0, true, now));
    assert_int_equal(p.target_bps, 1120000);
    assert_int_equal(p.backoff_ms, PAL_BWE_PROBE_BACKOFF_MIN_MS);
}

/* A cluster whose room let every track up is not asked about again until
 * a later cut holds a track back: that cut says nothing of the cluster, and
 * the next one starts at once, twice the estimate. */
static void test_late_verdict_is_a_success(void **state)
{
    (void)state;
    struct pal_bwe_probe p;
    pal_bwe_probe_init(&p);
    int64_t now = 1000000;
    assert_true(pal_bwe_probe_start(&p, 2000000, 300000, 0, true, now));
    run_cluster(&p, 250000, &now, SIZE_MAX);
    /* 10 s later a cut: the estimate (240 kbit/s) is below where it started */
    now += 10000000;
    assert_true(pal_bwe_probe_start(&p, 400000, 240000, 0, true, now));
    assert_int_equal(p.target_bps, 440000);
    assert_int_equal(p.backoff_ms, PAL_BWE_PROBE_BACKOFF_MIN_MS);
    /* judged in time, the same estimate fails it */
    run_cluster(&p, 200000, &now, SIZE_MAX);
    now += (PAL_BWE_PROBE_GAP_MS + PAL_BWE_PROBE_VERDICT_MS) * 1000;
    assert_false(pal_bwe_probe_start(&p, 400000, 240000, 0, true, now));
    assert_int_equal(p.backoff_ms, 2 * PAL_BWE_PROBE_BACKOFF_MIN_MS);
}

/* The estimate at the floor (30 kbit/s), the audio alone sending more
 * (40 kbit/s): after two failures a cluster would aim at 1.25 x 30, less
 * than the audio, add no padding and find nothing: it aims 10 % above
 * what is sent instead. */
static void test_above_what_is_sent(void **state)
{
    (void)state;
    struct pal_bwe_probe p;
    pal_bwe_probe_init(&p);
    int64_t now = 1000000;
    for (int i = 0; i < 2; i++) { /* x2, x1.5: the estimate does not follow */
        assert_true(pal_bwe_probe_start(&p, 87000, 30000, 40000, true, now));
        assert_int_equal(p.target_bps, i == 0 ? 60000 : 45000);
        run_cluster(&p, 40000, &now, SIZE_MAX);
        now += PAL_BWE_PROBE_GAP_MS * 1000;
        assert_false(pal_bwe_probe_start(&p, 87000, 30000, 40000, true, now));
        now += p.backoff_ms * 1000;
    }
    assert_true(pal_bwe_probe_start(&p, 87000, 30000, 40000, true, now));
    assert_int_equal(p.target_bps, 44000); /* not 1.25 x 30 000 */
    uint64_t total = run_cluster(&p, 40000, &now, SIZE_MAX);
    uint64_t expect = 4000 / 8 * PAL_BWE_PROBE_CLUSTER_MS / 1000;
    assert_in_range(total, expect * 9 / 10, expect);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_padding_at_target_paced),
        cmocka_unit_test(test_target_twice_estimate_and_not_worth_it),
        cmocka_unit_test(test_no_feedback_no_probe),
        cmocka_unit_test(test_padding_cap),
        cmocka_unit_test(test_cut_stops_and_backs_off),
        cmocka_unit_test(test_no_gain_is_a_failure),
        cmocka_unit_test(test_late_verdict_is_a_success),
        cmocka_unit_test(test_above_what_is_sent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
