/* Probing a subscriber's link with padding: its estimate (palabre/bwe.h)
 * cannot grow much above what is sent (it is app limited), so a track held
 * back for bandwidth would never learn that the link has room, and trying
 * the next layer itself floods a short link (the video freezes). Instead a
 * probe cluster tops what is sent up to a target with padding-only packets
 * (palabre/consumer.h, pal_consumer_send_padding) for
 * PAL_BWE_PROBE_CLUSTER_MS, paced over the worker's ticks; the estimator
 * takes the rate that arrived when no queue grew and nothing was lost
 * (GCC's probe result), and only then the allocator (palabre/bwe_alloc.h)
 * moves a track up.
 *
 * - target: what the wanted allocation needs (and 10 %: what arrives is a
 *   little less than what is sent; at least 10 % above the estimate), or
 *   twice the estimate, whichever is lower (a success lets the next cluster go twice as high:
 *   the estimate grows exponentially while the link has room); at least 10 % above
 *   what goes out anyway (the audio alone can be more than an estimate at
 *   its floor: a cluster below it would send no padding);
 * - an overflow during a cluster (a queue grew, or more than 15 % was
 *   lost: pal_bwe_last_overflow_us) stops it at once, and fails it;
 * - a cluster that ran its course succeeded if, when the next would start
 *   (PAL_BWE_PROBE_GAP_MS later: the feedback of its end has come), the
 *   estimate went at least half the way to its target; otherwise it failed
 *   (it found no room: a short link that queues a little without overuse,
 *   say). Like libwebrtc, which probes on only while the estimate follows.
 *   A cluster is judged only when the next is asked for (a track is still
 *   held back); not asked within PAL_BWE_PROBE_VERDICT_MS, it let every
 *   track up: a success (never judged later, against an estimate cut since);
 * - after a failure the next cluster waits PAL_BWE_PROBE_BACKOFF_MIN_MS,
 *   doubling after each failure up to PAL_BWE_PROBE_BACKOFF_MAX_MS, and
 *   aims lower: 1.5, then 1.25 times the estimate (a link just above the
 *   estimate is found without flooding it each time), twice again after a
 *   success;
 * - never without transport-cc feedback (nothing would tell the result),
 *   never more than PAL_BWE_PROBE_MAX_PADDING_BPS of padding;
 * - idle, it costs one test per subscriber and tick.
 *
 * No allocation: a plain struct the room keeps per subscriber.
 * Thread: the owner's (the room's worker). */
#ifndef PALABRE_BWE_PROBE_H
#define PALABRE_BWE_PROBE_H

#include "palabre/common.h"

#define PAL_BWE_PROBE_CLUSTER_MS 600
#define PAL_BWE_PROBE_GAP_MS 500 /* after a success: the feedback of its end comes */
#define PAL_BWE_PROBE_VERDICT_MS 1000 /* a cluster not judged this long after GAP: a success */
#define PAL_BWE_PROBE_BACKOFF_MIN_MS 2000
#define PAL_BWE_PROBE_BACKOFF_MAX_MS 6000
#define PAL_BWE_PROBE_MAX_PADDING_BPS 2500000
#define PAL_BWE_PROBE_MIN_GAIN 1.1 /* no cluster for less than 10 % above the estimate */
#define PAL_BWE_PROBE_MIN_TRY_GAIN 1.25

struct pal_bwe_probe {
    int64_t start_us, end_us; /* the running cluster (end_us 0: none) */
    int64_t last_tick_us;
    uint32_t target_bps;      /* media and padding together */
    uint32_t from_bps;        /* the estimate when it started */
    bool judge;               /* it ran its course: judged at the next start */
    int64_t next_us;          /* no cluster before */
    uint32_t backoff_ms;
    double gain;              /* the target at most gain x the estimate */
    /* totals: clusters started, padding bytes asked and sent */
    uint64_t clusters, padding_bytes;
};

void pal_bwe_probe_init(struct pal_bwe_probe *p);

/* A cluster towards want_bps (what the wanted allocation needs), at most
 * twice estimate_bps but at least 10 % above sent_bps (what goes out
 * anyway), if none runs, the subscriber's feedback came, the backoff
 * allows and the estimate does not cover want_bps. Returns true when one
 * starts. */
bool pal_bwe_probe_start(struct pal_bwe_probe *p, uint32_t want_bps, uint32_t estimate_bps,
                         uint32_t sent_bps, bool has_feedback, int64_t now_us);

/* Every tick: the padding to send now, in bytes (0: none or idle), for
 * the target given that media_bps goes out anyway. last_overflow_us: when
 * the estimator last saw the link carry less than was sent
 * (pal_bwe_last_overflow_us; not a few % of random loss, which a cluster
 * on a radio link meets whatever its rate): an overflow since the
 * cluster started fails it. Ends the cluster when its time is up. */
size_t pal_bwe_probe_tick(struct pal_bwe_probe *p, uint32_t media_bps, int64_t last_overflow_us,
                          int64_t now_us);

/* bytes of padding went out. */
void pal_bwe_probe_sent(struct pal_bwe_probe *p, size_t bytes);

bool pal_bwe_probe_running(const struct pal_bwe_probe *p);

#endif
