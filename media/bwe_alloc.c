/* A track's layer from its share of the bandwidth estimate. See
 * palabre/bwe_alloc.h. */
#include "palabre/bwe_alloc.h"

#include <string.h>

#define DOWN_FRACTION 0.7 /* the current layer stays while the share covers 70 % of it: one
                             cut (x0.85 of what was received) is no reason to go down */

void pal_bwe_alloc_init(struct pal_bwe_alloc *a)
{
    memset(a, 0, sizeof(*a));
    a->cap = PAL_BWE_ALLOC_FREE;
}

int pal_bwe_alloc_layer(const struct pal_bwe_alloc *a, int want)
{
    if (want < 0)
        return -1;
    return want < a->cap ? want : a->cap;
}

bool pal_bwe_alloc_limited(const struct pal_bwe_alloc *a, int want)
{
    return want >= 0 && pal_bwe_alloc_layer(a, want) < want;
}

uint32_t pal_bwe_alloc_next_need(const struct pal_bwe_alloc *a, const uint32_t *need_bps, size_t n,
                                 int want)
{
    if (want >= (int)n)
        want = (int)n - 1;
    int cur = pal_bwe_alloc_layer(a, want);
    return want >= 0 && cur < want ? need_bps[cur + 1] : 0;
}

void pal_bwe_alloc_step(struct pal_bwe_alloc *a, const uint32_t *need_bps, size_t n, int want,
                        uint32_t share_bps, int64_t last_cut_ms, int64_t now_ms)
{
    if (n == 0)
        return;
    if (want >= (int)n)
        want = (int)n - 1;
    if (want < 0) { /* hidden: nothing sent, nothing learnt */
        a->up_since_ms = 0;
        return;
    }
    bool cut_recent = last_cut_ms && now_ms - last_cut_ms < PAL_BWE_ALLOC_CUT_MEMORY_MS;
    int cur = pal_bwe_alloc_layer(a, want);
    if (cut_recent && cur >= 0 && share_bps < DOWN_FRACTION * need_bps[cur]) {
        int l = cur - 1;
        while (l >= 0 && need_bps[l] > share_bps)
            l--;
        a->cap = l;
        a->up_since_ms = 0;
        return;
    }
    if (cur >= want || need_bps[cur + 1] > share_bps) {
        a->up_since_ms = 0;
        return;
    }
    /* the share covers the next layer (a probe found the room, or the
     * tracks around need less): held a while, up as far as it covers */
    if (!a->up_since_ms) {
        a->up_since_ms = now_ms;
        return;
    }
    if (now_ms - a->up_since_ms < PAL_BWE_ALLOC_UP_HOLD_MS)
        return;
    int l = cur + 1;
    while (l < want && need_bps[l + 1] <= share_bps)
        l++;
    a->cap = l >= (int)n - 1 ? PAL_BWE_ALLOC_FREE : l;
    a->up_since_ms = 0;
}
