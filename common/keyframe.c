/* Keyframe request throttle (see palabre/keyframe.h). */
#include "palabre/keyframe.h"

#include <stdlib.h>

struct pal_keyframe {
    /* state */
    uint32_t interval_ms;
    int64_t last_sent_ms;
    bool sent_once;
    bool pending;  /* asked, not sent yet (throttled) */
    bool awaiting; /* sent, no keyframe yet */
    uint8_t fir_seq;
    uint64_t requests;
    uint64_t sent;
};

int pal_keyframe_create(uint32_t min_interval_ms, struct pal_keyframe **out)
{
    struct pal_keyframe *k = calloc(1, sizeof(*k));
    if (!k)
        return -ENOMEM;
    k->interval_ms = min_interval_ms ? min_interval_ms : PAL_KEYFRAME_MIN_INTERVAL_MS;
    *out = k;
    return 0;
}

void pal_keyframe_destroy(struct pal_keyframe *k)
{
    free(k);
}

static bool may_send(const struct pal_keyframe *k, int64_t now_ms)
{
    return !k->sent_once || now_ms - k->last_sent_ms >= (int64_t)k->interval_ms;
}

static bool send_now(struct pal_keyframe *k, int64_t now_ms)
{
    k->sent_once = true;
    k->last_sent_ms = now_ms;
    k->pending = false;
    k->awaiting = true;
    k->sent++;
    return true;
}

bool pal_keyframe_request(struct pal_keyframe *k, int64_t now_ms)
{
    k->requests++;
    if (may_send(k, now_ms))
        return send_now(k, now_ms);
    k->pending = true;
    return false;
}

bool pal_keyframe_poll(struct pal_keyframe *k, int64_t now_ms)
{
    if (k->pending && may_send(k, now_ms))
        return send_now(k, now_ms);
    return false;
}

void pal_keyframe_on_keyframe(struct pal_keyframe *k, int64_t now_ms)
{
    (void)now_ms;
    k->pending = false;
    k->awaiting = false;
}

bool pal_keyframe_pending(const struct pal_keyframe *k)
{
    return k->pending || k->awaiting;
}

uint8_t pal_keyframe_next_fir_seq(struct pal_keyframe *k)
{
    return k->fir_seq++;
}

uint64_t pal_keyframe_requests(const struct pal_keyframe *k)
{
    return k->requests;
}

uint64_t pal_keyframe_sent(const struct pal_keyframe *k)
{
    return k->sent;
}
