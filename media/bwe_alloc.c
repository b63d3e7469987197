/* A track's layer from its share of the bandwidth estimate. See
 * palabre/bwe_alloc.h. */
#include "palabre/bwe_alloc.h"

#include <string.h>

#define DOWN_FRACTION 0.7 /* the current layer stays while the share covers 70 % of it: one
                             cut (x0.85 of what was received) is no reason to go down */
#define PROBE_FRACTION 0.1 /* no probe while the share is below 10 % of the next layer (an
                              estimate that does not even cover the audio: the link is short,
                              a try would only hurt the audio) */
#define AFTER_SUCCESS_MS 500 /* the next layer may be tried soon after a try that held */

void pal_bwe_alloc_init(struct pal_bwe_alloc *a)
{
    memset(a, 0, sizeof(*a));
    a->cap = PAL_BWE_ALLOC_FREE;
    a->backoff_ms = PAL_BWE_ALLOC_BACKOFF_MIN_MS;
}

int pal_bwe_alloc_layer(const struct pal_bwe_alloc *a, int want)
{
    if (want < 0)
        return -1;
    int cap = a->probe_until_ms ? a->probe_layer : a->cap;
    return want < cap ? want : cap;
}

bool pal_bwe_alloc_limited(const struct pal_bwe_alloc *a, int want)
{
    return want >= 0 && pal_bwe_alloc_layer(a, want) < want;
}

static void probe_failed(struct pal_bwe_alloc *a, int64_t now_ms)
{
    a->probe_until_ms = 0;
    a->next_probe_ms = now_ms + a->backoff_ms;
    a->backoff_ms *= 2;
    if (a->backoff_ms > PAL_BWE_ALLOC_BACKOFF_MAX_MS)
        a->backoff_ms = PAL_BWE_ALLOC_BACKOFF_MAX_MS;
}

void pal_bwe_alloc_step(struct pal_bwe_alloc *a, const uint32_t *need_bps, size_t n, int want,
                        uint32_t share_bps, int64_t last_cut_ms, int64_t now_ms)
{
    if (n == 0)
        return;
    if (want >= (int)n)
        want = (int)n - 1;
    if (want < 0) { /* hidden: nothing sent, nothing learnt */
        a->probe_until_ms = 0;
        a->up_since_ms = 0;
        return;
    }
    bool cut_recent = last_cut_ms && now_ms - last_cut_ms < PAL_BWE_ALLOC_CUT_MEMORY_MS;
    if (a->probe_until_ms) {
        if (last_cut_ms >= a->probe_start_ms) {
            probe_failed(a, now_ms); /* and the cut may take the cap down below */
        } else if (now_ms >= a->probe_until_ms) {
            a->cap = a->probe_layer >= (int)n - 1 ? PAL_BWE_ALLOC_FREE : a->probe_layer;
            a->probe_until_ms = 0;
            a->backoff_ms = PAL_BWE_ALLOC_BACKOFF_MIN_MS;
            a->next_probe_ms = now_ms + AFTER_SUCCESS_MS;
            a->up_since_ms = 0;
            return;
        } else {
            return;
        }
    }
    int cur = pal_bwe_alloc_layer(a, want);
    if (cut_recent && cur >= 0 && share_bps < DOWN_FRACTION * need_bps[cur]) {
        int l = cur - 1;
        while (l >= 0 && need_bps[l] > share_bps)
            l--;
        a->cap = l;
        a->up_since_ms = 0;
        if (a->next_probe_ms < now_ms + (int64_t)a->backoff_ms)
            a->next_probe_ms = now_ms + a->backoff_ms;
        return;
    }
    if (cur >= want) {
        a->up_since_ms = 0;
        return;
    }
    if (need_bps[cur + 1] <= share_bps && !cut_recent) {
        if (!a->up_since_ms) {
            a->up_since_ms = now_ms;
        } else if (now_ms - a->up_since_ms >= PAL_BWE_ALLOC_UP_HOLD_MS) {
            a->cap = cur + 1 >= (int)n - 1 ? PAL_BWE_ALLOC_FREE : cur + 1;
            a->up_since_ms = now_ms; /* the next step holds as long */
        }
        return;
    }
    a->up_since_ms = 0;
    if (now_ms >= a->next_probe_ms && share_bps > PROBE_FRACTION * need_bps[cur + 1]) {
        a->probe_layer = cur + 1;
        a->probe_start_ms = now_ms;
        a->probe_until_ms = now_ms + PAL_BWE_ALLOC_PROBE_MS;
    }
}
