/* VP8 payload descriptor (RFC 7741). See palabre/vp8.h. */
#include "palabre/vp8.h"

#include <string.h>

int pal_vp8_parse(const uint8_t *b, size_t len, struct pal_vp8_desc *d, struct pal_wire_err *err)
{
    memset(d, 0, sizeof(*d));
    if (len < 1)
        return pal_wire_fail(err, -EINVAL, "vp8: descriptor: needed 1 byte, had 0");
    size_t pos = 1;
    bool x = b[0] & 0x80;
    d->non_reference = b[0] & 0x20;
    d->start_of_partition = b[0] & 0x10;
    d->partition_id = b[0] & 0x07;
    if (x) {
        if (len < 2)
            return pal_wire_fail(err, -EINVAL, "vp8: extension byte: needed 2 bytes, had %zu",
                                 len);
        uint8_t ext = b[1];
        pos = 2;
        bool i = ext & 0x80, l = ext & 0x40, t = ext & 0x20, k = ext & 0x10;
        if (i) {
            if (pos + 1 > len)
                return pal_wire_fail(err, -EINVAL, "vp8: picture id: needed %zu bytes, had %zu",
                                     pos + 1, len);
            d->has_picture_id = true;
            d->picture_id_off = (uint8_t)pos;
            if (b[pos] & 0x80) {
                if (pos + 2 > len)
                    return pal_wire_fail(err, -EINVAL,
                                         "vp8: 15-bit picture id: needed %zu bytes, had %zu",
                                         pos + 2, len);
                d->picture_id_bits = 15;
                d->picture_id = (uint16_t)(((b[pos] & 0x7F) << 8) | b[pos + 1]);
                pos += 2;
            } else {
                d->picture_id_bits = 7;
                d->picture_id = b[pos] & 0x7F;
                pos += 1;
            }
        }
        if (l) {
            if (pos + 1 > len)
                return pal_wire_fail(err, -EINVAL, "vp8: TL0PICIDX: needed %zu bytes, had %zu",
                                     pos + 1, len);
            d->has_tl0picidx = true;
            d->tl0picidx_off = (uint8_t)pos;
            d->tl0picidx = b[pos++];
        }
        if (t || k) {
            if (pos + 1 > len)
                return pal_wire_fail(err, -EINVAL, "vp8: TID/KEYIDX: needed %zu bytes, had %zu",
                                     pos + 1, len);
            d->has_tid = t;
            d->tid = t ? b[pos] >> 6 : 0;
            d->layer_sync = t && (b[pos] & 0x20);
            d->has_keyidx = k;
            d->keyidx = k ? b[pos] & 0x1F : 0;
            pos++;
        }
    }
    if (pos >= len)
        return pal_wire_fail(err, -EINVAL, "vp8: payload: needed %zu bytes, had %zu", pos + 1,
                             len);
    d->desc_len = (uint16_t)pos;
    if (d->start_of_partition && d->partition_id == 0) {
        /* VP8 payload header (RFC 6386 9.1): | size0 |H| ver |P| ... P=0: key frame */
        d->is_frame_start = true;
        const uint8_t *h = b + pos;
        size_t hl = len - pos;
        d->is_keyframe = (h[0] & 0x01) == 0;
        if (d->is_keyframe && hl >= 10 && h[3] == 0x9d && h[4] == 0x01 && h[5] == 0x2a) {
            d->width = (uint16_t)((h[6] | h[7] << 8) & 0x3FFF);
            d->height = (uint16_t)((h[8] | h[9] << 8) & 0x3FFF);
        }
    }
    return 0;
}

int pal_vp8_set_picture_id(uint8_t *payload, const struct pal_vp8_desc *d, uint16_t picture_id)
{
    if (!d->has_picture_id)
        return -EINVAL;
    uint8_t *p = payload + d->picture_id_off;
    if (d->picture_id_bits == 15) {
        p[0] = (uint8_t)(0x80 | ((picture_id >> 8) & 0x7F));
        p[1] = (uint8_t)picture_id;
    } else {
        p[0] = picture_id & 0x7F;
    }
    return 0;
}

int pal_vp8_set_tl0picidx(uint8_t *payload, const struct pal_vp8_desc *d, uint8_t tl0picidx)
{
    if (!d->has_tl0picidx)
        return -EINVAL;
    payload[d->tl0picidx_off] = tl0picidx;
    return 0;
}
