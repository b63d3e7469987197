/* The send-side bandwidth estimator (palabre/bwe.h) on synthetic traces: a
 * sender paced at the estimate through a simulated bottleneck (a FIFO of a
 * given rate and a 300 ms buffer, tail drop, 20 ms propagation, optional
 * random loss), with transport-cc feedback every 100 ms: steady, step down,
 * step up, loss; and an app-limited sender (a video held back) that probes
 * the link with padding (palabre/bwe_probe.h): the estimate takes what the
 * probes delivered on a wide link, and the probes stop and back off on a
 * short one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "palabre/bwe.h"
#include "palabre/bwe_probe.h"

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
    /* app limited: media at media_bps (0: at the estimate), padding from
     * probe clusters towards want_bps (probe NULL: none) */
    uint32_t media_bps, want_bps;
    struct pal_bwe_probe *probe;
    uint64_t padding_bytes;
    int64_t feedback_us; /* between feedbacks: 0, 100 ms */
    int feedback_loss_pct; /* feedback packets lost on the way back */
    uint32_t lowest_bps, highest_bps; /* the estimates seen (after the first feedback) */
    /* a receiver starved of CPU (stall_every_us 0: never): every
     * stall_every_us it reads nothing for 20 to 80 ms, then what came
     * meanwhile all at once, one packet every 20 us */
    int64_t stall_every_us, last_arrival_us;
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

static void send_pkt(struct sim *s, size_t bytes)
{
    if (s->sent >= MAX_PKTS)
        return;
    uint32_t seq = s->sent++;
    pal_bwe_on_sent(s->bwe, (uint16_t)seq, bytes, s->now_us);
    int64_t start = s->link_free_us > s->now_us ? s->link_free_us : s->now_us;
    if (start - s->now_us > s->buffer_us || lose(s)) {
        s->arrival[seq] = -1; /* the bottleneck's buffer is full, or random loss */
        s->dropped++;
    } else {
        s->link_free_us = start + (int64_t)((double)bytes * 8 * 1e6 / s->capacity_bps);
        int64_t a = s->link_free_us + 20000;
        if (s->stall_every_us) {
            int64_t k = a / s->stall_every_us, phase = a % s->stall_every_us;
            int64_t stall_us = 20000 + (k * 7919 % 61) * 1000;
            if (phase < stall_us)
                a += stall_us - phase; /* read when the receiver wakes up */
            if (a <= s->last_arrival_us)
                a = s->last_arrival_us + 20;
            s->last_arrival_us = a;
        }
        s->arrival[seq] = a;
    }
}

/* Runs ms milliseconds: sends at the estimate (or media_bps), feedback
 * every 100 ms; probes as the room does (a cluster asked every 500 ms,
 * padding every 20 ms in packets of 255 bytes and a 20-byte header). */
static void sim_run(struct sim *s, int ms)
{
    for (int t = 0; t < ms; t++, s->now_us += 1000) {
        uint32_t rate = s->media_bps ? s->media_bps : pal_bwe_estimate(s->bwe);
        while (s->next_send_us <= s->now_us && s->sent < MAX_PKTS) {
            send_pkt(s, PKT);
            s->next_send_us += (int64_t)(PKT * 8 * 1e6 / rate);
        }
        if (s->probe && s->now_us % 500000 == 0)
            pal_bwe_probe_start(s->probe, s->want_bps, pal_bwe_estimate(s->bwe), s->media_bps,
                                pal_bwe_has_feedback(s->bwe), s->now_us);
        if (s->probe && s->now_us % 20000 == 0) {
            size_t pad = pal_bwe_probe_tick(s->probe, s->media_bps,
                                            pal_bwe_last_overflow_us(s->bwe), s->now_us);
            s->padding_bytes += pad;
            for (; pad > 0; pad = pad > 255 ? pad - 255 : 0)
                send_pkt(s, 20 + (pad > 255 ? 255 : pad));
        }
        if (s->now_us % (s->feedback_us ? s->feedback_us : 100000) != 0)
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
        s->rng = s->rng * 1103515245u + 12345u;
        if ((int)((s->rng >> 16) % 100) < s->feedback_loss_pct)
            continue; /* this feedback is lost: its packets are never reported */
        pal_bwe_on_feedback(s->bwe, st, n, 0, s->now_us);
        if (!s->lowest_bps || pal_bwe_estimate(s->bwe) < s->lowest_bps)
            s->lowest_bps = pal_bwe_estimate(s->bwe);
        if (pal_bwe_estimate(s->bwe) > s->highest_bps)
            s->highest_bps = pal_bwe_estimate(s->bwe);
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

/* 5 % random loss (radio) on a fast link is no congestion: the estimate
 * may be trimmed, but nothing reports congestion (the temporal layers stay,
 * media/room.c); 30 % lost is. */
static void test_random_loss_is_not_congestion(void **state)
{
    (void)state;
    struct sim *s = new_sim(1000000, 10e6);
    sim_run(s, 3000);
    s->loss_pct = 5;
    sim_run(s, 30000);
    printf("# loss 5 %%: %u bit/s after 30 s, last congestion %lld us\n", pal_bwe_estimate(s->bwe),
           (long long)pal_bwe_last_congestion_us(s->bwe));
    assert_int_equal(pal_bwe_last_congestion_us(s->bwe), 0);
    assert_true(pal_bwe_estimate(s->bwe) > 500000);
    s->loss_pct = 30;
    sim_run(s, 2000);
    assert_true(pal_bwe_last_congestion_us(s->bwe) > 0);
    free_sim(s);
}

/* A video held back to 250 kbit/s on a 10 Mbit/s link: without probes the
 * estimate stays near what is sent (app limited); with them it takes what
 * the clusters delivered, doubling each time, and reaches what the views
 * want (3 Mbit/s) within a few seconds. */
static void test_probe_finds_room(void **state)
{
    (void)state;
    struct sim *s = new_sim(300000, 10e6);
    s->media_bps = 250000;
    sim_run(s, 10000);
    uint32_t app_limited = pal_bwe_estimate(s->bwe);
    assert_true(app_limited < 500000);
    struct pal_bwe_probe probe;
    pal_bwe_probe_init(&probe);
    s->probe = &probe;
    s->want_bps = 3000000;
    int64_t start_us = s->now_us;
    while (pal_bwe_estimate(s->bwe) < 2700000 && s->now_us - start_us < 15000000)
        sim_run(s, 100);
    printf("# probes: %u -> %u bit/s in %.1f s, %llu clusters, %llu bytes of padding\n",
           app_limited, pal_bwe_estimate(s->bwe), (double)(s->now_us - start_us) / 1e6,
           (unsigned long long)probe.clusters, (unsigned long long)s->padding_bytes);
    assert_true(pal_bwe_estimate(s->bwe) >= 2700000);
    assert_true(s->now_us - start_us <= 8000000);
    assert_true(probe.clusters >= 2); /* x2 at most each time: more than one */
    assert_int_equal(s->dropped, 0);
    free_sim(s);
}

/* The same video on a 300 kbit/s link: the first cluster fills the queue,
 * the estimator cuts, the cluster stops at once and the next ones wait
 * longer and longer; the estimate stays near the capacity. */
static void test_probe_backs_off_on_short_link(void **state)
{
    (void)state;
    struct sim *s = new_sim(300000, 300000);
    s->media_bps = 250000;
    sim_run(s, 5000);
    struct pal_bwe_probe probe;
    pal_bwe_probe_init(&probe);
    s->probe = &probe;
    s->want_bps = 1500000;
    sim_run(s, 60000);
    uint32_t e = pal_bwe_estimate(s->bwe);
    printf("# probes on 300 kbit/s: %llu clusters in 60 s, %llu bytes of padding, %u bit/s\n",
           (unsigned long long)probe.clusters, (unsigned long long)s->padding_bytes, e);
    assert_true(e < 450000);
    /* backoff 2, 4, 6, 6... s after each failure: far fewer than one
     * cluster every 1.1 s (a cluster and the gap after a success) */
    assert_true(probe.clusters >= 2 && probe.clusters <= 12);
    /* each stopped early: less padding than full clusters at the target */
    assert_true(s->padding_bytes < probe.clusters * 300000 / 8);
    free_sim(s);
}

/* A video app limited at 300 kbit/s (it wants a 600 kbit/s layer) on a
 * wide link that drops 5 % of packets at random, both ways (feedback too),
 * with feedback every 50 ms, a handful of packets each (one lost packet is
 * a third of a feedback): random loss is judged over 20 packets and more
 * (libwebrtc's kLimitNumPackets), so the estimate never sinks far below
 * what the video sends, and probes still find the room for the wanted
 * layer. */
/* A sender app limited at media_bps that wants want_bps, probing, on a
 * 10 Mbit/s link with feedback every 50 ms; after warm_ms without loss,
 * 5 % random loss both ways. */
static struct sim *lossy_radio(uint32_t start_bps, uint32_t media_bps, uint32_t want_bps,
                               int warm_ms, struct pal_bwe_probe *probe)
{
    struct sim *s = new_sim(start_bps, 10e6);
    s->media_bps = media_bps;
    s->feedback_us = 50000;
    sim_run(s, warm_ms);
    pal_bwe_probe_init(probe);
    s->probe = probe;
    s->want_bps = want_bps;
    s->loss_pct = s->feedback_loss_pct = 5;
    s->lowest_bps = s->highest_bps = 0;
    return s;
}

static void test_random_loss_app_limited(void **state)
{
    (void)state;
    struct pal_bwe_probe probe;
    struct sim *s = lossy_radio(300000, 300000, 600000, 3000, &probe);
    sim_run(s, 60000);
    printf("# 5 %% loss, app limited at 300 kbit/s: lowest %u bit/s, highest %u bit/s, %llu clusters\n",
           s->lowest_bps, s->highest_bps, (unsigned long long)probe.clusters);
    /* never so low that the room would drop the video's layer (it keeps a
     * layer while its share covers 70 % of it, palabre/bwe_alloc.h) */
    assert_true(s->lowest_bps >= 225000);
    /* the probes found the room the wanted layer needs (the room would
     * switch to it; here the video stays app limited, and the estimate,
     * which cannot stay far above what is sent, comes back down) */
    assert_true(s->highest_bps >= 600000);
    assert_int_equal(pal_bwe_last_congestion_us(s->bwe), 0);
    free_sim(s);
}

/* The same link, the video paused (only audio, 40 kbit/s, and an estimate
 * at the floor): probes bring the estimate back to what the video wants
 * within 10 s despite the 5 % lost. */
static void test_random_loss_recovers_from_floor(void **state)
{
    (void)state;
    struct pal_bwe_probe probe;
    struct sim *s = lossy_radio(30000, 40000, 400000, 0, &probe);
    int64_t start_us = s->now_us;
    while (pal_bwe_estimate(s->bwe) < 400000 && s->now_us - start_us < 30000000)
        sim_run(s, 100);
    printf("# 5 %% loss, from the floor: %u bit/s in %.1f s, %llu clusters\n",
           pal_bwe_estimate(s->bwe), (double)(s->now_us - start_us) / 1e6,
           (unsigned long long)probe.clusters);
    assert_true(pal_bwe_estimate(s->bwe) >= 400000);
    assert_true(s->now_us - start_us <= 10000000);
    free_sim(s);
}

/* A receiver starved of CPU (a loaded machine: its reading thread stalls
 * 20 to 80 ms four times a second, then reads the backlog at once) on a
 * wide link, video app limited at 600 kbit/s: no queue grew anywhere, so
 * no cut (each stall is a late group followed by a burst that makes up
 * for it, one group; without that every stall reads as a queue growing,
 * and the estimate falls below what the video needs). */
static void test_receiver_stalls_are_not_congestion(void **state)
{
    (void)state;
    struct sim *s = new_sim(600000, 10e6);
    s->media_bps = 600000;
    s->stall_every_us = 250000;
    sim_run(s, 30000);
    printf("# receiver stalls, app limited at 600 kbit/s: lowest %u bit/s, last cut at %lld us\n",
           s->lowest_bps, (long long)pal_bwe_last_cut_us(s->bwe));
    assert_int_equal(pal_bwe_last_cut_us(s->bwe), 0);
    assert_true(s->lowest_bps >= 600000);
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
        cmocka_unit_test(test_random_loss_is_not_congestion),
        cmocka_unit_test(test_probe_finds_room),
        cmocka_unit_test(test_probe_backs_off_on_short_link),
        cmocka_unit_test(test_random_loss_app_limited),
        cmocka_unit_test(test_random_loss_recovers_from_floor),
        cmocka_unit_test(test_receiver_stalls_are_not_congestion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
