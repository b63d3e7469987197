/* Receive-side NACK generator (see palabre/nack.h). Missing sequence numbers
 * are kept oldest first in a fixed array. */
#include "palabre/nack.h"

#include "palabre/rtp.h"

#include <stdlib.h>
#include <string.h>

struct missing {
    uint16_t seq;
    uint8_t retries;
    int64_t first_ms;
    int64_t last_sent_ms; /* -1: never requested */
};

struct pal_nack {
    /* owned */
    struct missing *m;
    /* state */
    struct pal_nack_config cfg;
    size_t count;
    bool started;
    uint16_t highest;
    uint32_t rtt_ms;
};

int pal_nack_create(const struct pal_nack_config *cfg, struct pal_nack **out)
{
    struct pal_nack_config c = {256, 10, 1000, 20};
    if (cfg) {
        if (cfg->max_missing)
            c.max_missing = cfg->max_missing;
        if (cfg->max_retries)
            c.max_retries = cfg->max_retries;
        if (cfg->max_age_ms)
            c.max_age_ms = cfg->max_age_ms;
        if (cfg->min_interval_ms)
            c.min_interval_ms = cfg->min_interval_ms;
    }
    if (c.max_missing > 0x4000 || c.max_retries > 255)
        return -EINVAL;
    struct pal_nack *n = calloc(1, sizeof(*n));
    if (!n)
        return -ENOMEM;
    n->m = calloc(c.max_missing, sizeof(*n->m));
    if (!n->m) {
        free(n);
        return -ENOMEM;
    }
    n->cfg = c;
    *out = n;
    return 0;
}

void pal_nack_destroy(struct pal_nack *n)
{
    if (!n)
        return;
    free(n->m);
    free(n);
}

void pal_nack_reset(struct pal_nack *n)
{
    n->count = 0;
    n->started = false;
}

static void remove_at(struct pal_nack *n, size_t i)
{
    memmove(n->m + i, n->m + i + 1, (n->count - i - 1) * sizeof(*n->m));
    n->count--;
}

enum pal_nack_event pal_nack_on_packet(struct pal_nack *n, uint16_t seq, int64_t now_ms)
{
    if (!n->started) {
        n->started = true;
        n->highest = seq;
        return PAL_NACK_IN_ORDER;
    }
    int d = pal_seq_diff(seq, n->highest);
    if (d == 0)
        return PAL_NACK_DUPLICATE;
    if (d < 0) {
        for (size_t i = 0; i < n->count; i++) {
            if (n->m[i].seq == seq) {
                remove_at(n, i);
                return PAL_NACK_RECOVERED;
            }
        }
        return PAL_NACK_DUPLICATE;
    }
    n->highest = seq;
    if (d == 1)
        return PAL_NACK_IN_ORDER;
    size_t gap = (size_t)d - 1;
    if (gap > n->cfg.max_missing) {
        /* Too much lost to repair with NACKs: start over from here. */
        n->count = 0;
        return PAL_NACK_NEED_KEYFRAME;
    }
    bool overflow = false;
    if (n->count + gap > n->cfg.max_missing) {
        size_t drop = n->count + gap - n->cfg.max_missing;
        memmove(n->m, n->m + drop, (n->count - drop) * sizeof(*n->m));
        n->count -= drop;
        overflow = true;
    }
    for (size_t k = 0; k < gap; k++) {
        struct missing *e = &n->m[n->count++];
        e->seq = (uint16_t)(seq - gap + k);
        e->retries = 0;
        e->first_ms = now_ms;
        e->last_sent_ms = -1;
    }
    return overflow ? PAL_NACK_NEED_KEYFRAME : PAL_NACK_GAP;
}

void pal_nack_set_rtt(struct pal_nack *n, uint32_t rtt_ms)
{
    n->rtt_ms = rtt_ms;
}

size_t pal_nack_collect(struct pal_nack *n, int64_t now_ms, uint16_t *out, size_t cap)
{
    int64_t interval = n->rtt_ms ? PAL_MAX(n->rtt_ms, 5u) : n->cfg.min_interval_ms;
    size_t w = 0, got = 0;
    for (size_t i = 0; i < n->count; i++) {
        struct missing e = n->m[i];
        if (now_ms - e.first_ms > (int64_t)n->cfg.max_age_ms || e.retries >= n->cfg.max_retries)
            continue; /* given up: dropped from the table */
        if (got < cap && (e.last_sent_ms < 0 || now_ms - e.last_sent_ms >= interval)) {
            out[got++] = e.seq;
            e.retries++;
            e.last_sent_ms = now_ms;
        }
        n->m[w++] = e;
    }
    n->count = w;
    return got;
}

size_t pal_nack_missing(const struct pal_nack *n)
{
    return n->count;
}
