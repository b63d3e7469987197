/* RTP parse / rewrite / write (RFC 3550, RFC 8285). See palabre/rtp.h. */
#include "palabre/rtp.h"

#include <string.h>

static int parse_extensions(struct pal_rtp_packet *p, struct pal_wire_err *err)
{
    const uint8_t *b = p->buf;
    size_t pos = p->ext_off, end = (size_t)p->ext_off + p->ext_len;
    bool one_byte = p->ext_profile == PAL_RTP_EXT_ONE_BYTE;
    bool two_byte = (p->ext_profile & 0xFFF0) == PAL_RTP_EXT_TWO_BYTE;
    if (!one_byte && !two_byte)
        return 0; /* unknown profile: kept as opaque bytes */
    while (pos < end) {
        uint8_t id, len;
        size_t hdr;
        if (one_byte) {
            id = b[pos] >> 4;
            len = (uint8_t)((b[pos] & 0x0F) + 1);
            hdr = 1;
            if (id == 0) { /* padding byte */
                pos++;
                continue;
            }
            if (id == 15) /* reserved: stop processing (RFC 8285 4.2) */
                break;
        } else {
            id = b[pos];
            if (id == 0) {
                pos++;
                continue;
            }
            if (pos + 2 > end)
                return pal_wire_fail(err, -EINVAL,
                                     "rtp: two-byte extension header: needed 2 bytes, had %zu",
                                     end - pos);
            len = b[pos + 1];
            hdr = 2;
        }
        if (pos + hdr + len > end)
            return pal_wire_fail(err, -EINVAL,
                                 "rtp: extension id %u: needed %zu bytes, had %zu", id, hdr + len,
                                 end - pos);
        if (p->n_ext < PAL_RTP_MAX_EXTENSIONS) {
            struct pal_rtp_ext *e = &p->ext[p->n_ext++];
            e->id = id;
            e->len = len;
            e->off = (uint16_t)(pos + hdr);
        }
        pos += hdr + len;
    }
    return 0;
}

int pal_rtp_parse_header(struct pal_rtp_packet *p, uint8_t *buf, size_t len,
                         struct pal_wire_err *err)
{
    if (len < PAL_RTP_HEADER_MIN)
        return pal_wire_fail(err, -EINVAL, "rtp: header: needed %d bytes, had %zu",
                             PAL_RTP_HEADER_MIN, len);
    if (len > 0xFFFF)
        return pal_wire_fail(err, -EINVAL, "rtp: packet of %zu bytes is too large", len);
    p->buf = buf;
    p->len = len;
    p->version = buf[0] >> 6;
    if (p->version != 2)
        return pal_wire_fail(err, -EINVAL, "rtp: version %u, expected 2", p->version);
    p->padding = (buf[0] >> 5) & 1;
    p->extension = (buf[0] >> 4) & 1;
    p->csrc_count = buf[0] & 0x0F;
    p->marker = buf[1] >> 7;
    p->payload_type = buf[1] & 0x7F;
    p->seq = pal_rd16(buf + 2);
    p->timestamp = pal_rd32(buf + 4);
    p->ssrc = pal_rd32(buf + 8);
    p->n_ext = 0;
    p->ext_profile = 0;
    p->ext_off = 0;
    p->ext_len = 0;
    size_t off = PAL_RTP_HEADER_MIN + 4u * p->csrc_count;
    if (off > len)
        return pal_wire_fail(err, -EINVAL, "rtp: %u CSRCs: needed %zu bytes, had %zu",
                             p->csrc_count, off, len);
    if (p->extension) {
        if (off + 4 > len)
            return pal_wire_fail(err, -EINVAL, "rtp: extension header: needed %zu bytes, had %zu",
                                 off + 4, len);
        p->ext_profile = pal_rd16(buf + off);
        size_t ext_len = 4u * pal_rd16(buf + off + 2);
        off += 4;
        if (off + ext_len > len)
            return pal_wire_fail(err, -EINVAL, "rtp: extension block: needed %zu bytes, had %zu",
                                 off + ext_len, len);
        p->ext_off = (uint16_t)off;
        p->ext_len = (uint16_t)ext_len;
        off += ext_len;
        int rc = parse_extensions(p, err);
        if (rc)
            return rc;
    }
    p->header_len = (uint16_t)off;
    p->padding_len = 0;
    p->payload_len = (uint16_t)(len - off);
    return 0;
}

int pal_rtp_parse_body(struct pal_rtp_packet *p, size_t len, struct pal_wire_err *err)
{
    size_t off = p->header_len;
    if (len < off)
        return pal_wire_fail(err, -EINVAL, "rtp: header of %zu bytes in a packet of %zu", off,
                             len);
    p->len = len;
    size_t pad = 0;
    if (p->padding) {
        if (len == off)
            return pal_wire_fail(err, -EINVAL, "rtp: padding: needed 1 byte, had 0");
        pad = p->buf[len - 1];
        if (pad == 0 || pad > len - off)
            return pal_wire_fail(err, -EINVAL, "rtp: padding of %zu bytes: needed %zu, had %zu",
                                 pad, pad ? pad : 1, len - off);
    }
    p->padding_len = (uint8_t)pad;
    p->payload_len = (uint16_t)(len - off - pad);
    return 0;
}

int pal_rtp_parse(struct pal_rtp_packet *p, uint8_t *buf, size_t len, struct pal_wire_err *err)
{
    int rc = pal_rtp_parse_header(p, buf, len, err);
    return rc ? rc : pal_rtp_parse_body(p, len, err);
}

const uint8_t *pal_rtp_ext_find(const struct pal_rtp_packet *p, uint8_t id, size_t *len)
{
    for (unsigned i = 0; i < p->n_ext; i++) {
        if (p->ext[i].id == id) {
            if (len)
                *len = p->ext[i].len;
            return p->buf + p->ext[i].off;
        }
    }
    return NULL;
}

void pal_rtp_ext_map_identity(struct pal_rtp_ext_map *m)
{
    for (unsigned i = 0; i < PAL_ARRAY_LEN(m->map); i++)
        m->map[i] = (uint8_t)i;
}

/* Applies m to the extension elements of p, writing into buf (a copy of
 * p's header, same layout). */
static void remap_into(const struct pal_rtp_packet *p, uint8_t *buf,
                       const struct pal_rtp_ext_map *m)
{
    bool one_byte = p->ext_profile == PAL_RTP_EXT_ONE_BYTE;
    for (unsigned i = 0; i < p->n_ext; i++) {
        const struct pal_rtp_ext *e = &p->ext[i];
        if (e->id >= 16)
            continue; /* two-byte ids above 15: unchanged */
        uint8_t nid = m->map[e->id];
        size_t hdr = one_byte ? 1 : 2;
        uint8_t *h = buf + e->off - hdr;
        if (nid == 0 || (one_byte && nid >= 15)) {
            memset(h, 0, hdr + e->len); /* RFC 8285 padding bytes */
        } else if (one_byte) {
            h[0] = (uint8_t)((nid << 4) | (h[0] & 0x0F));
        } else {
            h[0] = nid;
        }
    }
}

int pal_rtp_rewrite_header(const struct pal_rtp_packet *in, const struct pal_rtp_rewrite *rw,
                           uint8_t *out, size_t cap, size_t *out_len)
{
    if (in->header_len > cap)
        return -ENOSPC;
    memcpy(out, in->buf, in->header_len);
    out[1] = (uint8_t)((out[1] & 0x80) | (rw->payload_type & 0x7F));
    pal_wr16(out + 2, rw->seq);
    pal_wr32(out + 4, rw->timestamp);
    pal_wr32(out + 8, rw->ssrc);
    if (rw->ext_map && in->n_ext)
        remap_into(in, out, rw->ext_map);
    *out_len = in->header_len;
    return 0;
}

static size_t ext_block_len(const struct pal_rtp_header *h)
{
    if (h->n_ext == 0)
        return 0;
    size_t n = 0;
    for (unsigned i = 0; i < h->n_ext; i++)
        n += 1u + h->ext[i].len;
    return 4 + ((n + 3) & ~(size_t)3);
}

size_t pal_rtp_size(const struct pal_rtp_header *h, size_t payload_len)
{
    return PAL_RTP_HEADER_MIN + ext_block_len(h) + payload_len;
}

int pal_rtp_write(const struct pal_rtp_header *h, const uint8_t *payload, size_t payload_len,
                  uint8_t *out, size_t cap, size_t *out_len)
{
    if (h->n_ext > PAL_ARRAY_LEN(h->ext))
        return -EINVAL;
    for (unsigned i = 0; i < h->n_ext; i++)
        if (h->ext[i].id < 1 || h->ext[i].id > 14 || h->ext[i].len < 1 || h->ext[i].len > 16)
            return -EINVAL;
    size_t need = pal_rtp_size(h, payload_len);
    if (need > cap)
        return -ENOSPC;
    out[0] = (uint8_t)(0x80 | (h->n_ext ? 0x10 : 0));
    out[1] = (uint8_t)((h->marker ? 0x80 : 0) | (h->payload_type & 0x7F));
    pal_wr16(out + 2, h->seq);
    pal_wr32(out + 4, h->timestamp);
    pal_wr32(out + 8, h->ssrc);
    size_t off = PAL_RTP_HEADER_MIN;
    size_t block = ext_block_len(h);
    if (block) {
        pal_wr16(out + off, PAL_RTP_EXT_ONE_BYTE);
        pal_wr16(out + off + 2, (uint16_t)((block - 4) / 4));
        size_t pos = off + 4;
        for (unsigned i = 0; i < h->n_ext; i++) {
            out[pos++] = (uint8_t)((h->ext[i].id << 4) | (h->ext[i].len - 1));
            memcpy(out + pos, h->ext[i].data, h->ext[i].len);
            pos += h->ext[i].len;
        }
        memset(out + pos, 0, off + block - pos);
        off += block;
    }
    if (payload_len)
        memcpy(out + off, payload, payload_len);
    *out_len = need;
    return 0;
}

int64_t pal_seq_unwrap(struct pal_seq_unwrapper *u, uint16_t seq)
{
    if (u->last < 0) {
        u->last = seq;
        return seq;
    }
    int64_t v = u->last + pal_seq_diff(seq, (uint16_t)u->last);
    if (v > u->last)
        u->last = v;
    return v;
}
