/* The send-side bandwidth estimator (palabre/bwe.h) on synthetic traces: a
 * sender paced at the estimate through a simulated bottleneck (a FIFO of a
 * given rate and a 300 ms buffer, tail drop, 20 ms propagation, optional
 * random loss), with transport-cc feedback every 100 ms: steady, step down,
 * step up, loss. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "palabre/bwe.h"

#define PKT 1200
#define MAX_PKTS 200000

struct sim {
    struct pal_bwe *bwe;
    int64_t arrival[MAX_PKTS]; /* -1: dropped */
    int64_t now_us, link_free_us, next_send_us;
    uint32_t sent, reported;
    double capacity_bps;
    int loss_pct;
    int64_t buffer_us; /* the bottleneck's queue, in time */
    uint32_t rng, dropped;
};

static void sim_init(struct sim *s, uint32_t start_bps, double capacity_bps)
{
    struct pal_bwe_config cfg = {.start_bps = start_bps};
    assert_int_equal(pal_bwe_create(&cfg, &s->bwe), 0);
    s->capacity_bps = capacity_bps;
    s->rng = 12345;
    s->buffer_us = 300000;
}

static bool lose(struct sim *s)
{
    s->rng = s->rng * 1103515245u + 12345u;
    return (int)((s->rng >> 16) % 100) < s->loss_pct;
}

/* Runs ms milliseconds: sends at the estimate, feedback every 100 ms. */
static void sim_run(struct sim *s, int ms)
{
    for (int t = 0; t < ms; t++, s->now_us += 1000) {
        while (s->next_send_us <= s->now_us && s->sent < MAX_PKTS) {
            uint32_t seq = s->sent++;
            pal_bwe_on_sent(s->bwe, (uint16_t)seq, PKT, s->now_us);
            int64_t start = s->link_free_us > s->now_us ? s->link_free_us : s->now_us;
            if (start - s->now_us > s->buffer_us || lose(s)) {
                s->arrival[seq] = -1; /* the bottleneck's buffer is full, or random loss */
                s->dropped++;
            } else {
                s->link_free_us = start + (int64_t)(PKT * 8 * 1e6 / s->capacity_bps);
                s->arrival[seq] = s->link_free_us + 20000;
            }
            s->next_send_us += (int64_t)(PKT * 8 * 1e6 / pal_bwe_estimate(s->bwe));
        }
        if (s->now_us % 100000 != 0)
            continue;
        struct pal_twcc_status st[4096];
        size_t n = 0;
        int64_t prev = 0;
        while (s->reported < s->sent && n < 4096 && s->arrival[s->reported] <= s->now_us) {
            uint32_t seq = s->reported++;
            st[n].seq = (uint16_t)seq;
            st[n].received = s->arrival[seq] >= 0;
            st[n].delta_us = st[n].received ? (int32_t)(s->arrival[seq] - prev) : 0;
            if (st[n].received)
                prev = s->arrival[seq];
            n++;
        }
        pal_bwe_on_feedback(s->bwe, st, n, 0, s->now_us);
    }
}

static struct sim *new_sim(uint32_t start_bps, double capacity_bps)
{
    struct sim *s = calloc(1, sizeof(*s));
    sim_init(s, start_bps, capacity_bps);
    return s;
}

static void free_sim(struct sim *s)
{
    pal_bwe_destroy(s->bwe);
    free(s);
}

/* A link far above the rate: the estimate only grows (8 %/s). */
static void test_steady(void **state)
{
    (void)state;
    struct sim *s = new_sim(300000, 10e6);
    uint32_t last = pal_bwe_estimate(s->bwe);
    for (int i = 0; i < 10; i++) {
        sim_run(s, 1000);
        uint32_t e = pal_bwe_estimate(s->bwe);
        assert_true(e >= last);
        last = e;
    }
    assert_true(last > 500000);
    free_sim(s);
}

/* 2 Mbit/s then 300 kbit/s: the queue grows, the estimate falls to the
 * new capacity within 5 s and stays near it. */
static void test_step_down(void **state)
{
    (void)state;
    struct sim *s = new_sim(1500000, 2e6);
    sim_run(s, 5000);
    assert_true(pal_bwe_estimate(s->bwe) > 1000000);
    s->capacity_bps = 300000;
    sim_run(s, 5000);
    uint32_t e = pal_bwe_estimate(s->bwe);
    printf("# step down: %u bit/s after 5 s at 300 kbit/s\n", e);
    assert_true(e < 400000);
    sim_run(s, 10000);
    e = pal_bwe_estimate(s->bwe);
    assert_true(e < 450000 && e > 100000);
    free_sim(s);
}

/* The same step with a deep buffer (10 s): nothing is lost, only the delay
 * grows; the delay-based side alone must find the new capacity. */
static void test_step_down_delay_only(void **state)
{
    (void)state;
    struct sim *s = new_sim(1500000, 2e6);
    s->buffer_us = 10000000;
    sim_run(s, 5000);
    s->capacity_bps = 300000;
    sim_run(s, 8000);
    uint32_t e = pal_bwe_estimate(s->bwe);
    printf("# step down, deep buffer: %u bit/s after 8 s at 300 kbit/s, %u dropped\n", e,
           s->dropped);
    assert_int_equal(s->dropped, 0);
    assert_true(e < 400000);
    free_sim(s);
}

/* 300 kbit/s then 10 Mbit/s: the estimate climbs again. */
static void test_step_up(void **state)
{
    (void)state;
    struct sim *s = new_sim(300000, 300000);
    sim_run(s, 10000);
    uint32_t low = pal_bwe_estimate(s->bwe);
    assert_true(low < 450000);
    s->capacity_bps = 10e6;
    sim_run(s, 15000);
    uint32_t high = pal_bwe_estimate(s->bwe);
    printf("# step up: %u -> %u bit/s in 15 s\n", low, high);
    assert_true(high > 2 * low);
    free_sim(s);
}

/* 20 % random loss without queueing: the loss-based side cuts the rate. */
static void test_loss(void **state)
{
    (void)state;
    struct sim *s = new_sim(1000000, 10e6);
    s->loss_pct = 20;
    sim_run(s, 5000);
    uint32_t e = pal_bwe_estimate(s->bwe);
    printf("# loss 20 %%: %u bit/s after 5 s\n", e);
    assert_true(e < 500000);
    /* the loss goes: it grows again */
    s->loss_pct = 0;
    sim_run(s, 10000);
    assert_true(pal_bwe_estimate(s->bwe) > e);
    free_sim(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steady),
        cmocka_unit_test(test_step_down),
        cmocka_unit_test(test_step_down_delay_only),
        cmocka_unit_test(test_step_up),
        cmocka_unit_test(test_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
