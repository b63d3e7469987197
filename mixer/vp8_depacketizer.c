/* VP8 frame assembly. See palabre/mixer/vp8_depacketizer.h. */
#include "palabre/mixer/vp8_depacketizer.h"
#include "palabre/vp8.h"

#include <stdlib.h>
#include <string.h>

struct pal_vp8_depacketizer {
    /* borrowed */
    struct pal_vp8_depacketizer_listener l;
    /* owned */
    uint8_t *buf;
    size_t cap;
    /* state */
    size_t len;
    bool in_frame;
    bool frame_key;
    uint32_t frame_ts;
    bool waiting_keyframe;
    struct pal_vp8_depacketizer_stats st;
};

int pal_vp8_depacketizer_create(const struct pal_vp8_depacketizer_listener *l,
                                struct pal_vp8_depacketizer **out)
{
    if (!l || !out)
        return -EINVAL;
    struct pal_vp8_depacketizer *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->cap = 64 * 1024;
    d->buf = malloc(d->cap);
    if (!d->buf) {
        free(d);
        return -ENOMEM;
    }
    d->l = *l;
    d->waiting_keyframe = true; /* a decoder starts on a keyframe */
    *out = d;
    return 0;
}

void pal_vp8_depacketizer_destroy(struct pal_vp8_depacketizer *d)
{
    if (!d)
        return;
    free(d->buf);
    free(d);
}

static void need_keyframe(struct pal_vp8_depacketizer *d)
{
    d->waiting_keyframe = true;
    d->st.keyframe_requests++;
    if (d->l.on_keyframe_needed)
        d->l.on_keyframe_needed(d->l.ctx);
}

static void drop_frame(struct pal_vp8_depacketizer *d)
{
    if (d->in_frame)
        d->st.dropped_frames++;
    d->in_frame = false;
    d->len = 0;
}

static int append(struct pal_vp8_depacketizer *d, const uint8_t *p, size_t n)
{
    if (d->len + n > PAL_VP8_MAX_FRAME)
        return -EMSGSIZE;
    if (d->len + n > d->cap) {
        size_t cap = d->cap;
        while (cap < d->len + n)
            cap *= 2;
        uint8_t *b = realloc(d->buf, PAL_MIN(cap, (size_t)PAL_VP8_MAX_FRAME));
        if (!b)
            return -ENOMEM;
        d->buf = b;
        d->cap = PAL_MIN(cap, (size_t)PAL_VP8_MAX_FRAME);
    }
    memcpy(d->buf + d->len, p, n);
    d->len += n;
    return 0;
}

int pal_vp8_depacketizer_push(struct pal_vp8_depacketizer *d, const uint8_t *payload, size_t len,
                              uint32_t timestamp, bool marker, uint32_t lost_before)
{
    struct pal_vp8_desc desc;
    if (pal_vp8_parse(payload, len, &desc, NULL) != 0) {
        d->st.bad_packets++;
        drop_frame(d);
        need_keyframe(d);
        return -EINVAL;
    }
    if (lost_before > 0) {
        /* What was lost may be a fragment of this frame or a whole reference
         * frame: either way later frames cannot be trusted until a keyframe. */
        drop_frame(d);
        need_keyframe(d);
    }
    if (d->in_frame && (timestamp != d->frame_ts || desc.is_frame_start)) {
        drop_frame(d); /* the previous frame never saw its marker */
        need_keyframe(d);
    }
    if (desc.is_frame_start) {
        d->in_frame = true;
        d->frame_ts = timestamp;
        d->frame_key = desc.is_keyframe;
        d->len = 0;
    } else if (!d->in_frame) {
        return 0; /* a fragment of a frame whose start we dropped */
    }
    int rc = append(d, payload + desc.desc_len, len - desc.desc_len);
    if (rc != 0) {
        drop_frame(d);
        need_keyframe(d);
        return rc;
    }
    if (!marker)
        return 0;
    d->in_frame = false;
    if (d->waiting_keyframe && !d->frame_key) {
        d->st.dropped_frames++;
        need_keyframe(d);
        return 0;
    }
    d->waiting_keyframe = false;
    d->st.frames++;
    if (d->frame_key)
        d->st.keyframes++;
    if (d->l.on_frame_complete)
        d->l.on_frame_complete(d->l.ctx, d->buf, d->len, d->frame_ts, d->frame_key);
    d->len = 0;
    return 0;
}

bool pal_vp8_depacketizer_waiting_keyframe(const struct pal_vp8_depacketizer *d)
{
    return d->waiting_keyframe;
}

void pal_vp8_depacketizer_get_stats(const struct pal_vp8_depacketizer *d,
                                    struct pal_vp8_depacketizer_stats *st)
{
    *st = d->st;
}
