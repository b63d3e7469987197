/* Send-side bandwidth estimation (GCC). See palabre/bwe.h. */
#include "palabre/bwe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SENT_SLOTS 1024         /* power of two: > packets in flight between feedbacks */
#define BURST_US 5000           /* packets sent within 5 ms form one group */
#define MAX_BURST_US 100000     /* a group arriving in a burst spans at most 100 ms */
#define TREND_WINDOW 20         /* groups in the linear fit */
#define TREND_GAIN 4.0
#define SMOOTHING 0.9
#define OVERUSE_TIME_MS 10.0    /* the trend must stay above the threshold this long */
#define K_UP 0.0087
#define K_DOWN 0.039
#define RATE_WINDOW_US 500000   /* received rate: over the last 500 ms of arrivals */
#define LOSS_CUT_US 300000      /* the loss side cuts at most this often (GCC: 300 ms + RTT) */
/* Loss is judged over at least LOSS_PACKETS packets, summed over feedbacks
 * (libwebrtc's kLimitNumPackets): one feedback holds a handful, and one
 * packet lost at random in 6 reads as 17 %, a cut. Over 20, 5 % random loss
 * (radio) crosses the 10 % that cuts in 7.5 % of judgements, mildly.
 * Congestion (pal_bwe_last_congestion_us): overuse, or more than a fifth
 * lost; 5 % random loss loses 5 of 20 once in 400 judgements. */
#define LOSS_PACKETS 20
#define CONGESTION_LOSS 0.2
/* Overflow (pal_bwe_last_overflow_us, what fails a probe): overuse, or
 * more than 15 % lost; a probe 1.25 times above a policer's rate loses a
 * fifth, 5 % random loss loses 4 of 20 once in 60 judgements. */
#define OVERFLOW_LOSS 0.15

struct sent {
    uint16_t seq;
    bool valid;
    uint16_t bytes;
    int64_t send_us;
};

struct group {
    int64_t first_send_us, last_send_us, first_arrival_us, last_arrival_us;
    bool open;
};

struct pal_bwe {
    /* state */
    struct pal_bwe_config cfg;
    struct sent sent[SENT_SLOTS];
    struct group cur, prev;
    bool have_prev;
    double acc_delay_ms, smoothed_ms;
    double fit_x[TREND_WINDOW], fit_y[TREND_WINDOW];
    int n_fit, fit_next, n_groups;
    int64_t first_arrival_us;
    double threshold_ms;
    int64_t last_threshold_us;
    double overuse_ms;
    double prev_trend;
    enum pal_bwe_usage usage;
    uint16_t next_seq;
    bool has_feedback;
    int64_t last_cut_us; /* the estimate was last cut (overuse or loss); 0: never */
    int64_t last_loss_cut_us;
    int64_t last_congestion_us;
    int64_t last_overflow_us;
    uint32_t loss_known, loss_lost; /* summed until LOSS_PACKETS */
    int64_t loss_from_us;           /* the first of them was sent */
    int64_t last_loss_us;           /* the last judgement of the loss */
    double delay_bps, loss_bps;
    int64_t last_update_us;
    /* received rate: arrivals (time, bytes) in a ring */
    int64_t rx_us[256];
    uint16_t rx_bytes[256];
    unsigned rx_head, rx_n;
};

int pal_bwe_create(const struct pal_bwe_config *cfg, struct pal_bwe **out)
{
    struct pal_bwe *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    if (cfg)
        b->cfg = *cfg;
    if (!b->cfg.start_bps)
        b->cfg.start_bps = 300000;
    if (!b->cfg.min_bps)
        b->cfg.min_bps = 30000;
    if (!b->cfg.max_bps)
        b->cfg.max_bps = 20000000;
    b->delay_bps = b->loss_bps = b->cfg.start_bps;
    b->threshold_ms = 12.5;
    *out = b;
    return 0;
}

void pal_bwe_destroy(struct pal_bwe *b)
{
    free(b);
}

void pal_bwe_on_sent(struct pal_bwe *b, uint16_t seq, size_t bytes, int64_t send_us)
{
    struct sent *s = &b->sent[seq & (SENT_SLOTS - 1)];
    s->seq = seq;
    s->valid = true;
    s->bytes = (uint16_t)(bytes > UINT16_MAX ? UINT16_MAX : bytes);
    s->send_us = send_us;
}

uint16_t pal_bwe_next_seq(struct pal_bwe *b, size_t bytes, int64_t send_us)
{
    uint16_t seq = b->next_seq++;
    pal_bwe_on_sent(b, seq, bytes, send_us);
    return seq;
}

bool pal_bwe_has_feedback(const struct pal_bwe *b)
{
    return b->has_feedback;
}

static double received_bps(const struct pal_bwe *b)
{
    if (b->rx_n < 2)
        return 0;
    unsigned last = (b->rx_head + 255) & 255, first = (b->rx_head + 256 - b->rx_n) & 255;
    int64_t span = b->rx_us[last] - b->rx_us[first];
    if (span <= 0)
        return 0;
    double bytes = 0;
    for (unsigned i = 1; i < b->rx_n; i++)
        bytes += b->rx_bytes[(first + i) & 255];
    return bytes * 8e6 / (double)span;
}

static void rx_add(struct pal_bwe *b, int64_t arrival_us, uint16_t bytes)
{
    b->rx_us[b->rx_head] = arrival_us;
    b->rx_bytes[b->rx_head] = bytes;
    b->rx_head = (b->rx_head + 1) & 255;
    if (b->rx_n < 256)
        b->rx_n++;
    /* forget what is older than the window */
    while (b->rx_n > 2 &&
           arrival_us - b->rx_us[(b->rx_head + 256 - b->rx_n) & 255] > RATE_WINDOW_US)
        b->rx_n--;
}

/* Slope of the least-squares fit of the smoothed delay over arrival time. */
static double trend(const struct pal_bwe *b)
{
    double mx = 0, my = 0;
    for (int i = 0; i < b->n_fit; i++) {
        mx += b->fit_x[i];
        my += b->fit_y[i];
    }
    mx /= b->n_fit;
    my /= b->n_fit;
    double num = 0, den = 0;
    for (int i = 0; i < b->n_fit; i++) {
        num += (b->fit_x[i] - mx) * (b->fit_y[i] - my);
        den += (b->fit_x[i] - mx) * (b->fit_x[i] - mx);
    }
    return den > 0 ? num / den : 0;
}

/* The overuse detector on one new trend value (draft-ietf-rmcat-gcc 5.4-5.5). */
static void detect(struct pal_bwe *b, double slope, double dt_ms, int64_t now_us)
{
    double t = (b->n_groups < 60 ? b->n_groups : 60) * slope * TREND_GAIN;
    if (t > b->threshold_ms) {
        b->overuse_ms += dt_ms;
        if (b->overuse_ms > OVERUSE_TIME_MS && t >= b->prev_trend)
            b->usage = PAL_BWE_OVERUSE;
    } else if (t < -b->threshold_ms) {
        b->overuse_ms = 0;
        b->usage = PAL_BWE_UNDERUSE;
    } else {
        b->overuse_ms = 0;
        b->usage = PAL_BWE_NORMAL;
    }
    b->prev_trend = t;
    /* the threshold follows the trend, slowly up, faster down */
    double since = b->last_threshold_us ? (double)(now_us - b->last_threshold_us) / 1000 : 0;
    if (since > 100)
        since = 100;
    if (fabs(t) < b->threshold_ms + 15) {
        double k = fabs(t) < b->threshold_ms ? K_DOWN : K_UP;
        b->threshold_ms += k * (fabs(t) - b->threshold_ms) * since;
        b->threshold_ms = b->threshold_ms < 6 ? 6 : b->threshold_ms > 600 ? 600 : b->threshold_ms;
    }
    b->last_threshold_us = now_us;
}

/* A group is complete: its delay variation against the previous one. */
static void group_done(struct pal_bwe *b, int64_t now_us)
{
    if (b->have_prev) {
        double send_ms = (double)(b->cur.last_send_us - b->prev.last_send_us) / 1000;
        double arr_ms = (double)(b->cur.last_arrival_us - b->prev.last_arrival_us) / 1000;
        double d = arr_ms - send_ms;
        b->acc_delay_ms += d;
        b->smoothed_ms = SMOOTHING * b->smoothed_ms + (1 - SMOOTHING) * b->acc_delay_ms;
        b->fit_x[b->fit_next] = (double)(b->cur.last_arrival_us - b->first_arrival_us) / 1000;
        b->fit_y[b->fit_next] = b->smoothed_ms;
        b->fit_next = (b->fit_next + 1) % TREND_WINDOW;
        if (b->n_fit < TREND_WINDOW)
            b->n_fit++;
        b->n_groups++;
        if (b->n_fit == TREND_WINDOW)
            detect(b, trend(b), arr_ms, now_us);
    } else {
        b->first_arrival_us = b->cur.last_arrival_us;
    }
    b->prev = b->cur;
    b->have_prev = true;
}

/* Whether a packet sent at send_us and arriving at arrival_us belongs to
 * the open group although sent later than BURST_US after its first: it
 * arrived less than BURST_US after the group's last, sooner than it was sent
 * after it. That is a receiver that read nothing for a while, then all that
 * came meanwhile (a busy CPU, a radio's burst): the group arrived late, the
 * ones after it in a heap, and no queue grew. Apart, the late group reads
 * as a queue growing (overuse), the heap as draining (libwebrtc's
 * InterArrivalDelta merges bursts the same way). */
static bool in_burst(const struct group *g, int64_t send_us, int64_t arrival_us)
{
    int64_t arrival_delta = arrival_us - g->last_arrival_us;
    int64_t send_delta = send_us - g->last_send_us;
    return arrival_delta - send_delta < 0 && arrival_delta <= BURST_US &&
           arrival_us - g->first_arrival_us < MAX_BURST_US;
}

static double clamp(const struct pal_bwe *b, double bps)
{
    return bps < b->cfg.min_bps ? b->cfg.min_bps : bps > b->cfg.max_bps ? b->cfg.max_bps : bps;
}

/* One judgement of the loss over LOSS_PACKETS or more: over 10 % cuts,
 * under 2 % lets the rate grow, between holds (GCC). since: seconds since
 * the previous judgement (at most 1); from_us: when its first packet was
 * sent. */
static void on_loss(struct pal_bwe *b, double loss, double since, double rx, int64_t from_us,
                    int64_t now_us)
{
    if (loss > CONGESTION_LOSS)
        b->last_congestion_us = now_us;
    if (loss > OVERFLOW_LOSS && from_us > b->last_overflow_us)
        b->last_overflow_us = from_us; /* all of its packets were sent since */
    if (loss > 0.10) {
        /* once per LOSS_CUT_US: the judgements that follow report the
         * same episode (a queue draining), not a new one */
        if (!b->last_loss_cut_us || now_us - b->last_loss_cut_us >= LOSS_CUT_US) {
            /* not below 85 % of what arrived meanwhile (the link's rate
             * while it overflowed): a queue draining after the sender
             * slowed down still reports losses, of a rate gone already */
            double cut = b->loss_bps * (1 - 0.5 * loss);
            if (cut < 0.85 * rx)
                cut = 0.85 * rx < b->loss_bps ? 0.85 * rx : b->loss_bps;
            b->loss_bps = cut;
            b->last_loss_cut_us = now_us;
            /* a link that drops what goes over its rate without queueing (a
             * policer) never shows overuse: the delay side forgets what it
             * believed then. Only on an overflow's loss: after a few % lost
             * at random (radio), what arrived is what was sent, which says
             * nothing of the link, and following it down each time would
             * spiral (a smaller estimate, less sent, a smaller estimate). */
            if (loss > OVERFLOW_LOSS && rx > 0 && b->delay_bps > rx)
                b->delay_bps = clamp(b, rx);
        }
        b->last_cut_us = now_us;
    } else if (loss < 0.02) {
        /* it grows back fast, but not far above what arrives or what the
         * delay side holds: a link that lost what went over its rate says
         * nothing of a higher one (a padding probe does,
         * palabre/bwe_probe.h) */
        double up = b->loss_bps * pow(1.05, since * 10);
        double cap = rx > 0 ? 1.5 * rx + 10000 : up;
        if (cap < b->delay_bps)
            cap = b->delay_bps; /* back to what the delay side holds */
        b->loss_bps = up < cap ? up : (b->loss_bps > cap ? b->loss_bps : cap);
    }
    /* under 10 % lost, what arrived is a rate the link carries (a probe's
     * result among them): the loss side holds at least that */
    if (loss <= 0.10 && rx > b->loss_bps)
        b->loss_bps = rx;
    if (b->loss_bps > b->delay_bps * 1.5)
        b->loss_bps = b->delay_bps * 1.5; /* the loss side never runs far ahead */
    b->loss_bps = clamp(b, b->loss_bps);
}

void pal_bwe_on_feedback(struct pal_bwe *b, const struct pal_twcc_status *st, size_t n,
                         int64_t reference_us, int64_t now_us)
{
    int64_t arrival = reference_us;
    size_t lost = 0, known = 0;
    b->has_feedback = true;
    for (size_t i = 0; i < n; i++) {
        struct sent *s = &b->sent[st[i].seq & (SENT_SLOTS - 1)];
        if (!s->valid || s->seq != st[i].seq)
            continue; /* not ours, or too old */
        known++;
        if (!b->loss_from_us || s->send_us < b->loss_from_us)
            b->loss_from_us = s->send_us;
        if (!st[i].received) {
            lost++;
            continue;
        }
        arrival += st[i].delta_us;
        s->valid = false;
        rx_add(b, arrival, s->bytes);
        if (b->cur.open && s->send_us - b->cur.first_send_us > BURST_US &&
            !in_burst(&b->cur, s->send_us, arrival)) {
            group_done(b, now_us);
            b->cur.open = false;
        }
        if (!b->cur.open) {
            b->cur.first_send_us = s->send_us;
            b->cur.first_arrival_us = arrival;
            b->cur.open = true;
        }
        if (s->send_us >= b->cur.last_send_us || b->cur.first_send_us == s->send_us)
            b->cur.last_send_us = s->send_us;
        b->cur.last_arrival_us = arrival;
    }
    double rx = received_bps(b);
    double dt = b->last_update_us ? (double)(now_us - b->last_update_us) / 1e6 : 0;
    if (dt > 1)
        dt = 1;
    b->last_update_us = now_us;
    /* delay-based AIMD */
    if (b->usage == PAL_BWE_OVERUSE && rx > 0) {
        /* x0.85 of what arrived; app limited (far less sent than the
         * estimate), at most halved per episode: the queue that grew may not
         * be ours (jitter, other traffic), and a padding probe would have to
         * climb back from what the audio alone sends */
        double cut = 0.85 * rx;
        if (cut < 0.5 * b->delay_bps)
            cut = 0.5 * b->delay_bps;
        if (cut < b->delay_bps)
            b->delay_bps = cut;
        b->last_cut_us = b->last_congestion_us = b->last_overflow_us = now_us;
        b->usage = PAL_BWE_NORMAL; /* once per overuse episode: the detector says again */
        b->overuse_ms = 0;
    } else if (b->usage == PAL_BWE_NORMAL) {
        /* what went through without queues growing is at least the link's
         * rate (a probe's result, and the start without a slow climb) */
        if (rx > b->delay_bps)
            b->delay_bps = rx;
        double up = b->delay_bps * pow(1.08, dt);
        double cap = rx > 0 ? 1.5 * rx + 10000 : up;
        b->delay_bps = up < cap ? up : (b->delay_bps > cap ? b->delay_bps : cap);
    }
    b->delay_bps = clamp(b, b->delay_bps);
    /* loss-based: judged over LOSS_PACKETS and more, summed over feedbacks */
    b->loss_known += (uint32_t)known;
    b->loss_lost += (uint32_t)lost;
    if (b->loss_known >= LOSS_PACKETS) {
        double loss = (double)b->loss_lost / (double)b->loss_known;
        double since = b->last_loss_us ? (double)(now_us - b->last_loss_us) / 1e6 : 0;
        if (since > 1)
            since = 1;
        int64_t from_us = b->loss_from_us;
        b->loss_known = b->loss_lost = 0;
        b->loss_from_us = 0;
        b->last_loss_us = now_us;
        on_loss(b, loss, since, rx, from_us, now_us);
    }
}

int64_t pal_bwe_last_cut_us(const struct pal_bwe *b)
{
    return b->last_cut_us;
}

int64_t pal_bwe_last_congestion_us(const struct pal_bwe *b)
{
    return b->last_congestion_us;
}

int64_t pal_bwe_last_overflow_us(const struct pal_bwe *b)
{
    return b->last_overflow_us;
}

uint32_t pal_bwe_estimate(const struct pal_bwe *b)
{
    double e = b->delay_bps < b->loss_bps ? b->delay_bps : b->loss_bps;
    return (uint32_t)clamp(b, e);
}

enum pal_bwe_usage pal_bwe_usage(const struct pal_bwe *b)
{
    return b->usage;
}
