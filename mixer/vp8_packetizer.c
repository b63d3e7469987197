/* VP8 RTP packetization. See palabre/mixer/vp8_packetizer.h. */
#include "palabre/mixer/vp8_packetizer.h"

#include <string.h>

int pal_vp8_packetizer_init(struct pal_vp8_packetizer *p, size_t mtu, uint16_t first_picture_id)
{
    if (mtu == 0)
        mtu = PAL_VP8_PACKETIZER_DEFAULT_MTU;
    if (mtu <= PAL_VP8_DESCRIPTOR_SIZE)
        return -EINVAL;
    memset(p, 0, sizeof(*p));
    p->mtu = mtu;
    p->picture_id = first_picture_id & 0x7FFF;
    return 0;
}

int pal_vp8_packetizer_begin(struct pal_vp8_packetizer *p, const uint8_t *frame, size_t len)
{
    if (!frame || len == 0)
        return -EINVAL;
    p->frame = frame;
    p->frame_len = len;
    p->offset = 0;
    return 0;
}

size_t pal_vp8_packetizer_count(const struct pal_vp8_packetizer *p, size_t len)
{
    size_t room = p->mtu - PAL_VP8_DESCRIPTOR_SIZE;
    return (len + room - 1) / room;
}

int pal_vp8_packetizer_next(struct pal_vp8_packetizer *p, uint8_t *out, size_t cap,
                            size_t *out_len, bool *marker)
{
    if (!p->frame || p->offset >= p->frame_len)
        return 0;
    /* Spread the frame evenly over the packets it needs, so that the last
     * one is not a runt. */
    size_t left = p->frame_len - p->offset;
    size_t n = pal_vp8_packetizer_count(p, left);
    size_t chunk = (left + n - 1) / n;
    if (cap < chunk + PAL_VP8_DESCRIPTOR_SIZE)
        return -ENOSPC;
    bool first = p->offset == 0;
    out[0] = 0x80 | (first ? 0x10 : 0x00); /* X, S, PID 0 */
    out[1] = 0x80;                          /* I */
    out[2] = 0x80 | (uint8_t)(p->picture_id >> 8);
    out[3] = (uint8_t)p->picture_id;
    memcpy(out + PAL_VP8_DESCRIPTOR_SIZE, p->frame + p->offset, chunk);
    p->offset += chunk;
    *out_len = chunk + PAL_VP8_DESCRIPTOR_SIZE;
    *marker = p->offset >= p->frame_len;
    if (*marker) {
        p->picture_id = (p->picture_id + 1) & 0x7FFF;
        p->frame = NULL;
    }
    return 1;
}
