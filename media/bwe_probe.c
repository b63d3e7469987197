/* Probing with padding. See palabre/bwe_probe.h. */
#include "palabre/bwe_probe.h"

#include <string.h>

#define MAX_TICK_US 100000 /* a late tick does not make up more than 100 ms (no burst) */

void pal_bwe_probe_init(struct pal_bwe_probe *p)
{
    memset(p, 0, sizeof(*p));
    p->backoff_ms = PAL_BWE_PROBE_BACKOFF_MIN_MS;
    p->gain = 2.0;
}

bool pal_bwe_probe_running(const struct pal_bwe_probe *p)
{
    return p->end_us != 0;
}

/* The link had no room: the next cluster waits longer each time, and
 * aims lower: x2, x1.5, x1.25 the estimate. */
static void failed(struct pal_bwe_probe *p, int64_t now_us)
{
    p->next_us = now_us + (int64_t)p->backoff_ms * 1000;
    p->backoff_ms *= 2;
    if (p->backoff_ms > PAL_BWE_PROBE_BACKOFF_MAX_MS)
        p->backoff_ms = PAL_BWE_PROBE_BACKOFF_MAX_MS;
    p->gain = 1 + (p->gain - 1) / 2;
    if (p->gain < PAL_BWE_PROBE_MIN_TRY_GAIN)
        p->gain = PAL_BWE_PROBE_MIN_TRY_GAIN;
}

bool pal_bwe_probe_start(struct pal_bwe_probe *p, uint32_t want_bps, uint32_t estimate_bps,
                         uint32_t sent_bps, bool has_feedback, int64_t now_us)
{
    if (p->end_us || !has_feedback || now_us < p->next_us)
        return false;
    if (p->judge) {
        /* the last cluster ran its course: it found room if the estimate
         * went at least half the way from where it was to the target. The
         * room asks for a cluster only while a track is held back: a
         * verdict nobody asked for within PAL_BWE_PROBE_VERDICT_MS of its
         * moment means the cluster's room let every track up, a success;
         * judging it later against an estimate cut since would fail it for
         * what happened after it. */
        p->judge = false;
        bool stale = now_us - p->next_us > PAL_BWE_PROBE_VERDICT_MS * 1000;
        if (!stale &&
            (double)estimate_bps < p->from_bps + 0.5 * ((double)p->target_bps - p->from_bps)) {
            failed(p, now_us);
            return false;
        }
        p->backoff_ms = PAL_BWE_PROBE_BACKOFF_MIN_MS;
        p->gain = 2.0;
    }
    if (want_bps <= estimate_bps)
        return false; /* the estimate covers it: nothing to find */
    /* a little above the need (what arrives is a little below what is
     * sent), at least PAL_BWE_PROBE_MIN_GAIN above the estimate (less says
     * nothing), at most gain times the estimate; and at least
     * PAL_BWE_PROBE_MIN_GAIN above what goes out anyway (the audio alone
     * over an estimate at the floor: a target below it would add no
     * padding, and find nothing) */
    double gain = p->gain > 0 ? p->gain : 2.0;
    double target = 1.1 * want_bps;
    if (target < PAL_BWE_PROBE_MIN_GAIN * estimate_bps)
        target = PAL_BWE_PROBE_MIN_GAIN * estimate_bps;
    if (target > gain * estimate_bps)
        target = gain * estimate_bps;
    if (target < PAL_BWE_PROBE_MIN_GAIN * sent_bps)
        target = PAL_BWE_PROBE_MIN_GAIN * sent_bps;
    if (target > UINT32_MAX)
        target = UINT32_MAX;
    p->target_bps = (uint32_t)target;
    p->from_bps = estimate_bps;
    p->start_us = p->last_tick_us = now_us;
    p->end_us = now_us + PAL_BWE_PROBE_CLUSTER_MS * 1000;
    p->clusters++;
    return true;
}

size_t pal_bwe_probe_tick(struct pal_bwe_probe *p, uint32_t media_bps, int64_t last_overflow_us,
                          int64_t now_us)
{
    if (!p->end_us)
        return 0;
    if (last_overflow_us >= p->start_us) {
        /* the link had no room: stop at once */
        p->end_us = 0;
        failed(p, now_us);
        return 0;
    }
    if (now_us >= p->end_us) {
        /* judged when the feedback of its end has come (the next start) */
        p->end_us = 0;
        p->judge = true;
        p->next_us = now_us + PAL_BWE_PROBE_GAP_MS * 1000;
        return 0;
    }
    int64_t dt = now_us - p->last_tick_us;
    p->last_tick_us = now_us;
    if (dt <= 0 || media_bps >= p->target_bps)
        return 0;
    if (dt > MAX_TICK_US)
        dt = MAX_TICK_US;
    uint64_t bps = p->target_bps - media_bps;
    if (bps > PAL_BWE_PROBE_MAX_PADDING_BPS)
        bps = PAL_BWE_PROBE_MAX_PADDING_BPS;
    return (size_t)(bps * (uint64_t)dt / 8000000);
}

void pal_bwe_probe_sent(struct pal_bwe_probe *p, size_t bytes)
{
    p->padding_bytes += bytes;
}
