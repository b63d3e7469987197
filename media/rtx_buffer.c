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
    unsigned max_slots;
    size_t slot_size;
    uint32_t max_age_ms;
};

static bool pow2(unsigned n)
{
    return n && !(n & (n - 1));
}

int pal_rtx_buffer_create_growing(unsigned slots, unsigned max_slots, size_t slot_size,
                                  uint32_t max_age_ms, struct pal_rtx_buffer **out)
{
    if (!pow2(slots) || !pow2(max_slots) || max_slots < slots || max_slots > 32768 ||
        slot_size == 0 || slot_size > 0xFFFF || max_age_ms == 0)
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
    b->max_slots = max_slots;
    b->slot_size = slot_size;
    b->max_age_ms = max_age_ms;
    *out = b;
    return 0;
}

int pal_rtx_buffer_create(unsigned slots, size_t slot_size, uint32_t max_age_ms,
                          struct pal_rtx_buffer **out)
{
    return pal_rtx_buffer_create_growing(slots, slots, slot_size, max_age_ms, out);
}

int pal_rtx_buffer_create_for(bool video, struct pal_rtx_buffer **out)
{
    return pal_rtx_buffer_create_growing(64, video ? 512 : 128, PAL_RTP_MAX_PACKET,
                                         video ? PAL_RTX_VIDEO_MAX_AGE_MS
                                               : PAL_RTX_AUDIO_MAX_AGE_MS,
                                         out);
}

unsigned pal_rtx_buffer_slots(const struct pal_rtx_buffer *b)
{
    return b->mask + 1;
}

/* Twice the slots, keeping every packet held: two sequence numbers apart
 * modulo the old size are apart modulo the new one. On -ENOMEM the ring
 * stays as it was (the oldest packet is overwritten, as at full size). */
static int grow(struct pal_rtx_buffer *b)
{
    unsigned n = 2 * (b->mask + 1);
    struct slot *slots = calloc(n, sizeof(*slots));
    uint8_t *data = malloc((size_t)n * b->slot_size);
    if (!slots || !data) {
        free(slots);
        free(data);
        return -ENOMEM;
    }
    for (unsigned i = 0; i <= b->mask; i++) {
        const struct slot *s = &b->slots[i];
        if (!s->used)
            continue;
        unsigned j = s->seq & (n - 1);
        slots[j] = *s;
        memcpy(data + (size_t)j * b->slot_size, b->data + (size_t)i * b->slot_size, s->len);
    }
    free(b->slots);
    free(b->data);
    b->slots = slots;
    b->data = data;
    b->mask = n - 1;
    return 0;
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
    /* the packet there could still be asked for: the stream is faster than
     * the ring (a few times per stream at most, up to max_slots) */
    while (s->used && s->seq != seq && now_ms - s->stored_ms < (int64_t)b->max_age_ms &&
           b->mask + 1 < b->max_slots && grow(b) == 0) {
        i = seq & b->mask;
        s = &b->slots[i];
    }
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
