/* A track's layer from its share of the bandwidth estimate
 * (palabre/bwe_alloc.h): down at once after a cut, up only after the share
 * held, paused below the lowest layer, probing a capped track and backing
 * off when the probe brings a cut, a low estimate without a cut ignored. */
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
    /* a small tile wants q: not limited by bandwidth */
    assert_int_equal(pal_bwe_alloc_layer(&a, Q), Q);
    assert_false(pal_bwe_alloc_limited(&a, Q));
    /* the estimate recovers: once the cut is forgotten, f only after the
     * share held it for the hold time */
    now += PAL_BWE_ALLOC_CUT_MEMORY_MS;
    int64_t cut = 1000;
    run(&a, F, 2000000, cut, &now, PAL_BWE_ALLOC_UP_HOLD_MS - 500);
    assert_int_equal(pal_bwe_alloc_layer(&a, F), H);
    run(&a, F, 2000000, cut, &now, 1000);
    assert_int_equal(pal_bwe_alloc_layer(&a, F), F);
    assert_false(pal_bwe_alloc_limited(&a, F));
}

static void test_paused_below_lowest_and_probe(void **state)
{
    (void)state;
    struct pal_bwe_alloc a;
    pal_bwe_alloc_init(&a);
    int64_t now = 1000;
    pal_bwe_alloc_step(&a, need, 3, F, 40000, now, now);
    assert_int_equal(pal_bwe_alloc_layer(&a, F), -1); /* paused */
    assert_true(pal_bwe_alloc_limited(&a, F));
    /* the link stays short: each probe of q brings a cut, the probes grow
     * apart (backoff), the track stays paused in between */
    int probes = 0;
    int64_t start = now;
    while (now < start + 60000) {
        now += 500;
        int64_t cut = pal_bwe_alloc_layer(&a, F) >= 0 ? now : now - 6000;
        if (pal_bwe_alloc_layer(&a, F) >= 0)
            probes++;
        pal_bwe_alloc_step(&a, need, 3, F, 40000, cut, now);
        assert_true(pal_bwe_alloc_layer(&a, F) <= Q);
    }
    assert_in_range(probes, 60000 / PAL_BWE_ALLOC_BACKOFF_MAX_MS - 1,
                    60000 / PAL_BWE_ALLOC_BACKOFF_MIN_MS);
    /* the link recovers (no more cuts): a probe succeeds, then the next */
    int64_t last_cut = now - 500;
    run(&a, F, 40000, last_cut, &now, PAL_BWE_ALLOC_BACKOFF_MAX_MS + PAL_BWE_ALLOC_PROBE_MS + 1000);
    assert_true(pal_bwe_alloc_layer(&a, F) >= Q);
    run(&a, F, 200000, last_cut, &now, 4 * (PAL_BWE_ALLOC_BACKOFF_MIN_MS + PAL_BWE_ALLOC_PROBE_MS));
    assert_int_equal(pal_bwe_alloc_layer(&a, F), F);
    assert_false(pal_bwe_alloc_limited(&a, F));
}

static void test_hidden_keeps_cap(void **state)
{
    (void)state;
    struct pal_bwe_alloc a;
    pal_bwe_alloc_init(&a);
    int64_t now = 1000;
    pal_bwe_alloc_step(&a, need, 3, F, 200000, now, now);
    assert_int_equal(pal_bwe_alloc_layer(&a, F), Q);
    run(&a, -1, 200000, 1000, &now, 30000); /* hidden a while: no probe */
    assert_int_equal(pal_bwe_alloc_layer(&a, -1), -1);
    assert_int_equal(a.probe_until_ms, 0);
    assert_int_equal(pal_bwe_alloc_layer(&a, F), Q);
}

/* An estimate that does not even cover the audio: no probe (it would only
 * hurt the audio), until the share grows again. */
static void test_no_probe_below_audio(void **state)
{
    (void)state;
    struct pal_bwe_alloc a;
    pal_bwe_alloc_init(&a);
    int64_t now = 1000;
    pal_bwe_alloc_step(&a, need, 3, F, 0, now, now);
    assert_int_equal(pal_bwe_alloc_layer(&a, F), -1);
    for (int64_t end = now + 60000; now < end; now += 500) {
        pal_bwe_alloc_step(&a, need, 3, F, 0, 1000, now);
        assert_int_equal(pal_bwe_alloc_layer(&a, F), -1);
    }
    run(&a, F, 60000, 1000, &now, 1000); /* the estimate covers more than the audio */
    assert_int_equal(pal_bwe_alloc_layer(&a, F), Q); /* tried */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_cut_no_limit),
        cmocka_unit_test(test_down_fast_then_up_after_hold),
        cmocka_unit_test(test_paused_below_lowest_and_probe),
        cmocka_unit_test(test_hidden_keeps_cap),
        cmocka_unit_test(test_no_probe_below_audio),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
