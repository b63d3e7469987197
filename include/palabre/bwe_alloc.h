/* Which simulcast layer one subscriber's video track may get from its
 * share of the subscriber's bandwidth estimate (palabre/bwe.h): the
 * decision the view (palabre/simulcast.h) cannot make alone.
 *
 * - down fast: when the estimator cut its estimate lately (queues grew or
 *   packets were lost) and the share no longer covers 70 % of the current
 *   layer, the highest layer that fits, or none (video paused, audio kept);
 * - up once the link is known to have room: the share must cover the
 *   next layer's need for PAL_BWE_ALLOC_UP_HOLD_MS, then the track takes
 *   the highest layer (up to the view's) the share covers. The estimate
 *   cannot grow much above what is sent (it is app limited): what the
 *   tracks held back would need is found by probing the link with padding
 *   (palabre/bwe_probe.h, the room asks pal_bwe_alloc_next_need), never by
 *   trying a layer that may not fit (on a short link it floods the link
 *   and the video freezes). A paused track comes back the same way:
 *   paused, probe, resumed.
 * Without a cut lately, a low estimate is no reason to go down (it only
 * means little was sent): the view decides.
 *
 * No allocation: the state is a plain struct in the consumer.
 * Thread: the owner's (the room's worker). */
#ifndef PALABRE_BWE_ALLOC_H
#define PALABRE_BWE_ALLOC_H

#include "palabre/common.h"
#include "palabre/media.h"

#define PAL_BWE_ALLOC_FREE 127 /* cap: no bandwidth limit */
#define PAL_BWE_ALLOC_UP_HOLD_MS 1000
#define PAL_BWE_ALLOC_CUT_MEMORY_MS 5000 /* a cut older than this is forgotten */

struct pal_bwe_alloc {
    int cap;             /* highest layer allowed (-1: paused, FREE: no limit) */
    int64_t up_since_ms; /* the share has covered cap + 1 since (0: not) */
    uint32_t floor_bps;  /* the owner's: the lowest layer's rate it reserved for the
                            track in its budget (0: none: the track does not fit) */
};

void pal_bwe_alloc_init(struct pal_bwe_alloc *a);

/* One decision, every few hundred ms. need_bps: what each of the n layers
 * needs (lowest first); want: the layer the view asks (-1: hidden);
 * share_bps: this track's share of the estimate; last_cut_ms: when the
 * estimator last cut its estimate (0: never). */
void pal_bwe_alloc_step(struct pal_bwe_alloc *a, const uint32_t *need_bps, size_t n, int want,
                        uint32_t share_bps, int64_t last_cut_ms, int64_t now_ms);

/* The layer to forward when the view asks want: want capped (-1: none). */
int pal_bwe_alloc_layer(const struct pal_bwe_alloc *a, int want);

/* What the next layer up needs when the bandwidth holds the track below
 * want (the lowest layer's when paused), 0 when it does not: what a probe
 * must find room for. need_bps, n and want as pal_bwe_alloc_step. */
uint32_t pal_bwe_alloc_next_need(const struct pal_bwe_alloc *a, const uint32_t *need_bps, size_t n,
                                 int want);

/* Whether the bandwidth, not the view, decides (the layer is below want,
 * or paused). */
bool pal_bwe_alloc_limited(const struct pal_bwe_alloc *a, int want);

#endif
