/* Retransmission ring (see palabre/rtx_buffer.h). */
#include "palabre/rtx_buffer.h"

#include <stdlib.h>
#include <string.h>

#include "palabre/rtp.h"

struct slot {
    int64_t stored_ms;
    uint16_t seq;
    uint16_t len;
    bool used;
};

struct pal_rtx_buffer {
    /* owned */
    struct slot *slots;
    uint8_t *data; /* slots * slot_size bytes, allocated once */
    /* state */
    unsigned mask;
    size_t slot_size;
    uint32_t max_age_ms;
};

int pal_rtx_buffer_create(unsigned slots, size_t slot_size, uint32_t max_age_ms,
                          struct pal_rtx_buffer **out)
{
    if (slots == 0 || (slots & (slots - 1)) || slots > 32768 || slot_size == 0 ||
        slot_size > 0xFFFF || max_age_ms == 0)
        return -EINVAL;
    struct pal_rtx_buffer *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    b->slots = calloc(slots, sizeof(*b->slots));
    b->data = malloc((size_t)slots * slot_size);
    if (!b->slots || !b->data) {
        pal_rtx_buffer_destroy(b);
        return -ENOMEM;
    }
    b->mask = slots - 1;
    b->slot_size = slot_size;
    b->max_age_ms = max_age_ms;
    *out = b;
    return 0;
}

int pal_rtx_buffer_create_for(bool video, struct pal_rtx_buffer **out)
{
    return pal_rtx_buffer_create(video ? 512 : 128, PAL_RTP_MAX_PACKET,
                                 video ? PAL_RTX_VIDEO_MAX_AGE_MS : PAL_RTX_AUDIO_MAX_AGE_MS, out);
}

void pal_rtx_buffer_destroy(struct pal_rtx_buffer *b)
{
    if (!b)
        return;
    free(b->slots);
    free(b->data);
    free(b);
}

int pal_rtx_buffer_store(struct pal_rtx_buffer *b, uint16_t seq, const uint8_t *pkt, size_t len,
                         int64_t now_ms)
{
    if (len > b->slot_size)
        return -EMSGSIZE;
    unsigned i = seq & b->mask;
    struct slot *s = &b->slots[i];
    memcpy(b->data + (size_t)i * b->slot_size, pkt, len);
    s->seq = seq;
    s->len = (uint16_t)len;
    s->stored_ms = now_ms;
    s->used = true;
    return 0;
}

int pal_rtx_buffer_get(struct pal_rtx_buffer *b, uint16_t seq, int64_t now_ms,
                       const uint8_t **pkt, size_t *len)
{
    unsigned i = seq & b->mask;
    const struct slot *s = &b->slots[i];
    if (!s->used || s->seq != seq || now_ms - s->stored_ms > (int64_t)b->max_age_ms)
        return -ENOENT;
    *pkt = b->data + (size_t)i * b->slot_size;
    *len = s->len;
    return 0;
}

void pal_rtx_buffer_clear(struct pal_rtx_buffer *b)
{
    memset(b->slots, 0, (size_t)(b->mask + 1) * sizeof(*b->slots));
}
