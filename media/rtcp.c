/* RTCP parse / size / write (RFC 3550, RFC 4585, RFC 5104,
 * draft-alvestrand-rmcat-remb, draft-holmer-rmcat-transport-wide-cc).
 * See palabre/rtcp.h. */
#include "palabre/rtcp.h"

#include <string.h>

/* Common header of every RTCP packet (RFC 3550 6.4.1):
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P| RC/FMT  |      PT       |             length            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * length is the packet size in 32-bit words minus one. */
#define HDR 4

static void write_header(uint8_t *out, uint8_t count, uint8_t pt, size_t total)
{
    out[0] = (uint8_t)(0x80 | (count & 0x1F));
    out[1] = pt;
    pal_wr16(out + 2, (uint16_t)(total / 4 - 1));
}

/* Report block (RFC 3550 6.4.1), 24 bytes:
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                 SSRC_1 (SSRC of first source)                 |
 * | fraction lost |       cumulative number of packets lost       |
 * |           extended highest sequence number received           |
 * |                      interarrival jitter                      |
 * |                         last SR (LSR)                         |
 * |                   delay since last SR (DLSR)                  |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ */
#define REPORT_BLOCK 24

static void read_report(const uint8_t *b, struct pal_rtcp_report_block *r)
{
    r->ssrc = pal_rd32(b);
    r->fraction_lost = b[4];
    uint32_t lost = pal_rd24(b + 5);
    r->cumulative_lost = (lost & 0x800000) ? (int32_t)(lost | 0xFF000000u) : (int32_t)lost;
    r->highest_seq = pal_rd32(b + 8);
    r->jitter = pal_rd32(b + 12);
    r->lsr = pal_rd32(b + 16);
    r->dlsr = pal_rd32(b + 20);
}

static void write_report(uint8_t *b, const struct pal_rtcp_report_block *r)
{
    int32_t lost = r->cumulative_lost;
    if (lost > 0x7FFFFF)
        lost = 0x7FFFFF;
    if (lost < -0x800000)
        lost = -0x800000;
    pal_wr32(b, r->ssrc);
    b[4] = r->fraction_lost;
    pal_wr24(b + 5, (uint32_t)lost & 0xFFFFFF);
    pal_wr32(b + 8, r->highest_seq);
    pal_wr32(b + 12, r->jitter);
    pal_wr32(b + 16, r->lsr);
    pal_wr32(b + 20, r->dlsr);
}

/* Sender report (PT=200): header, then
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                         SSRC of sender                        |
 * |              NTP timestamp, most significant word             |
 * |             NTP timestamp, least significant word             |
 * |                         RTP timestamp                         |
 * |                     sender's packet count                     |
 * |                      sender's octet count                     |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * |                 report blocks (RC x 24 bytes)                 |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ */
static int parse_sr(struct pal_rtcp_packet *p, const uint8_t *b, size_t len,
                    struct pal_wire_err *err)
{
    size_t need = HDR + 24 + (size_t)p->count * REPORT_BLOCK;
    if (len < need)
        return pal_wire_fail(err, -EINVAL, "rtcp: SR with %u reports: needed %zu bytes, had %zu",
                             p->count, need, len);
    p->kind = PAL_RTCP_SR;
    p->sr.ssrc = pal_rd32(b + 4);
    p->sr.ntp = (uint64_t)pal_rd32(b + 8) << 32 | pal_rd32(b + 12);
    p->sr.rtp_ts = pal_rd32(b + 16);
    p->sr.packet_count = pal_rd32(b + 20);
    p->sr.octet_count = pal_rd32(b + 24);
    p->sr.n_reports = p->count;
    for (unsigned i = 0; i < p->count; i++)
        read_report(b + 28 + REPORT_BLOCK * i, &p->sr.reports[i]);
    return 0;
}

/* Receiver report (PT=201): header, SSRC of packet sender, RC report blocks. */
static int parse_rr(struct pal_rtcp_packet *p, const uint8_t *b, size_t len,
                    struct pal_wire_err *err)
{
    size_t need = HDR + 4 + (size_t)p->count * REPORT_BLOCK;
    if (len < need)
        return pal_wire_fail(err, -EINVAL, "rtcp: RR with %u reports: needed %zu bytes, had %zu",
                             p->count, need, len);
    p->kind = PAL_RTCP_RR;
    p->rr.ssrc = pal_rd32(b + 4);
    p->rr.n_reports = p->count;
    for (unsigned i = 0; i < p->count; i++)
        read_report(b + 8 + REPORT_BLOCK * i, &p->rr.reports[i]);
    return 0;
}

/* Source description (PT=202): SC chunks, each
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                          SSRC/CSRC_1                          |
 * |     type      |     length    | text (length bytes) ...       |
 * |  ... more items ...  |  0 (end) | zero padding to 32 bits      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * Only bounds-checked (item length is read only once its header fits). */
static int parse_sdes(struct pal_rtcp_packet *p, const uint8_t *b, size_t len,
                      struct pal_wire_err *err)
{
    size_t pos = HDR;
    for (unsigned c = 0; c < p->count; c++) {
        if (pos + 4 > len)
            return pal_wire_fail(err, -EINVAL, "rtcp: SDES chunk %u: needed %zu bytes, had %zu",
                                 c, pos + 4, len);
        pos += 4;
        for (;;) {
            if (pos + 1 > len)
                return pal_wire_fail(err, -EINVAL,
                                     "rtcp: SDES item type: needed %zu bytes, had %zu", pos + 1,
                                     len);
            if (b[pos] == 0) { /* end of list, then padding to 32 bits */
                pos = (pos + 4) & ~(size_t)3;
                break;
            }
            if (pos + 2 > len)
                return pal_wire_fail(err, -EINVAL,
                                     "rtcp: SDES item length: needed %zu bytes, had %zu", pos + 2,
                                     len);
            size_t ilen = b[pos + 1];
            if (pos + 2 + ilen > len)
                return pal_wire_fail(err, -EINVAL, "rtcp: SDES item: needed %zu bytes, had %zu",
                                     pos + 2 + ilen, len);
            pos += 2 + ilen;
        }
        if (pos > len)
            return pal_wire_fail(err, -EINVAL, "rtcp: SDES chunk padding: needed %zu bytes, had %zu",
                                 pos, len);
    }
    p->kind = PAL_RTCP_SDES;
    p->sdes.n_chunks = p->count;
    p->sdes.chunks = b + HDR;
    p->sdes.chunks_len = len - HDR;
    return 0;
}

/* Goodbye (PT=203): SC SSRC/CSRC words, then optionally
 * | length | reason for leaving ... (not NUL-terminated) | */
static int parse_bye(struct pal_rtcp_packet *p, const uint8_t *b, size_t len,
                     struct pal_wire_err *err)
{
    size_t need = HDR + 4u * p->count;
    if (len < need)
        return pal_wire_fail(err, -EINVAL, "rtcp: BYE with %u sources: needed %zu bytes, had %zu",
                             p->count, need, len);
    p->kind = PAL_RTCP_BYE;
    p->bye.n_ssrc = p->count;
    p->bye.ssrcs = b + HDR;
    p->bye.reason = NULL;
    p->bye.reason_len = 0;
    if (len > need) {
        size_t rlen = b[need];
        if (need + 1 + rlen > len)
            return pal_wire_fail(err, -EINVAL, "rtcp: BYE reason: needed %zu bytes, had %zu",
                                 need + 1 + rlen, len);
        p->bye.reason = rlen ? b + need + 1 : NULL;
        p->bye.reason_len = (uint8_t)rlen;
    }
    return 0;
}

/* Application-defined (PT=204): header (subtype in RC), SSRC, 4-char name, data. */
static int parse_app(struct pal_rtcp_packet *p, const uint8_t *b, size_t len,
                     struct pal_wire_err *err)
{
    if (len < HDR + 8)
        return pal_wire_fail(err, -EINVAL, "rtcp: APP: needed %d bytes, had %zu", HDR + 8, len);
    p->kind = PAL_RTCP_APP;
    p->app.subtype = p->count;
    p->app.ssrc = pal_rd32(b + 4);
    memcpy(p->app.name, b + 8, 4);
    p->app.data = b + 12;
    p->app.data_len = len - 12;
    return 0;
}

/* Feedback messages (RFC 4585 6.1), PT=205 (RTPFB) or 206 (PSFB):
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|   FMT   |       PT      |          length               |
 * |                  SSRC of packet sender                        |
 * |                  SSRC of media source                         |
 * :            Feedback Control Information (FCI)                 :
 *
 * Generic NACK FCI (205/1), n x:  | PID (16) | BLP (16) |
 * FIR FCI (206/4), n x:           | SSRC | Seq nr. (8) | Reserved (24) |
 * PLI (206/1): no FCI.
 * REMB (206/15):  | 'R' 'E' 'M' 'B' | Num SSRC | BR Exp (6) | BR Mantissa (18) |
 *                 | SSRC feedback (Num SSRC words) ... |
 * Transport-cc (205/15):
 *                 | base sequence number | packet status count |
 *                 | reference time (24, signed)  | fb pkt count |
 *                 | packet chunks ... | recv deltas ... |          */
static int parse_fb(struct pal_rtcp_packet *p, const uint8_t *b, size_t len,
                    struct pal_wire_err *err)
{
    const char *what = p->pt == PAL_RTCP_PT_RTPFB ? "RTPFB" : "PSFB";
    if (len < HDR + 8)
        return pal_wire_fail(err, -EINVAL, "rtcp: %s: needed %d bytes, had %zu", what, HDR + 8,
                             len);
    p->fb.sender_ssrc = pal_rd32(b + 4);
    p->fb.media_ssrc = pal_rd32(b + 8);
    p->fb.fci = b + 12;
    p->fb.fci_len = len - 12;
    size_t fl = p->fb.fci_len;
    const uint8_t *f = p->fb.fci;
    p->kind = PAL_RTCP_RAW;
    if (p->pt == PAL_RTCP_PT_RTPFB && p->count == PAL_RTCP_FMT_NACK) {
        if (fl < 4 || fl % 4)
            return pal_wire_fail(err, -EINVAL,
                                 "rtcp: NACK FCI: needed a multiple of 4 bytes (>= 4), had %zu",
                                 fl);
        p->kind = PAL_RTCP_NACK;
    } else if (p->pt == PAL_RTCP_PT_RTPFB && p->count == PAL_RTCP_FMT_TWCC) {
        if (fl < 8)
            return pal_wire_fail(err, -EINVAL, "rtcp: transport-cc FCI: needed 8 bytes, had %zu",
                                 fl);
        p->kind = PAL_RTCP_TWCC;
        p->fb.u.twcc.base_seq = pal_rd16(f);
        p->fb.u.twcc.status_count = pal_rd16(f + 2);
        uint32_t rt = pal_rd24(f + 4);
        p->fb.u.twcc.reference_time = (rt & 0x800000) ? (int32_t)(rt | 0xFF000000u) : (int32_t)rt;
        p->fb.u.twcc.fb_pkt_count = f[7];
    } else if (p->pt == PAL_RTCP_PT_PSFB && p->count == PAL_RTCP_FMT_PLI) {
        p->kind = PAL_RTCP_PLI;
    } else if (p->pt == PAL_RTCP_PT_PSFB && p->count == PAL_RTCP_FMT_FIR) {
        if (fl < 8 || fl % 8)
            return pal_wire_fail(err, -EINVAL,
                                 "rtcp: FIR FCI: needed a multiple of 8 bytes (>= 8), had %zu", fl);
        p->kind = PAL_RTCP_FIR;
    } else if (p->pt == PAL_RTCP_PT_PSFB && p->count == PAL_RTCP_FMT_AFB && fl >= 4 &&
               memcmp(f, "REMB", 4) == 0) {
        if (fl < 8)
            return pal_wire_fail(err, -EINVAL, "rtcp: REMB: needed 8 bytes of FCI, had %zu", fl);
        size_t n = f[4];
        if (fl < 8 + 4 * n)
            return pal_wire_fail(err, -EINVAL,
                                 "rtcp: REMB with %zu SSRCs: needed %zu bytes of FCI, had %zu", n,
                                 8 + 4 * n, fl);
        unsigned exp = f[5] >> 2;
        uint64_t mant = ((uint64_t)(f[5] & 3) << 16) | pal_rd16(f + 6);
        /* 18-bit mantissa shifted by up to 63: saturate instead of overflowing */
        p->fb.u.remb.bitrate = (exp > 46 && mant >> (64 - exp)) ? UINT64_MAX : mant << exp;
        p->fb.u.remb.n_ssrcs = (uint8_t)n;
        p->fb.u.remb.ssrcs = f + 8;
        p->kind = PAL_RTCP_REMB;
    }
    return 0;
}

int pal_rtcp_parse(const uint8_t *buf, size_t len, struct pal_rtcp_packet *p, size_t *used,
                   struct pal_wire_err *err)
{
    if (len < HDR)
        return pal_wire_fail(err, -EINVAL, "rtcp: header: needed %d bytes, had %zu", HDR, len);
    if ((buf[0] >> 6) != 2)
        return pal_wire_fail(err, -EINVAL, "rtcp: version %u, expected 2", buf[0] >> 6);
    uint8_t pt = buf[1];
    if (pt < 192 || pt > 223)
        return pal_wire_fail(err, -EINVAL, "rtcp: packet type %u is not RTCP", pt);
    size_t plen = 4u * ((size_t)pal_rd16(buf + 2) + 1);
    if (plen > len)
        return pal_wire_fail(err, -EINVAL, "rtcp: packet type %u: needed %zu bytes, had %zu", pt,
                             plen, len);
    size_t content = plen;
    if (buf[0] & 0x20) {
        size_t pad = buf[plen - 1];
        if (pad == 0 || pad > plen - HDR)
            return pal_wire_fail(err, -EINVAL,
                                 "rtcp: padding of %zu bytes: needed 1 to %zu, had %zu", pad,
                                 plen - HDR, pad);
        content = plen - pad;
    }
    memset(p, 0, offsetof(struct pal_rtcp_packet, sr));
    p->pt = pt;
    p->count = buf[0] & 0x1F;
    p->raw = buf;
    p->raw_len = plen;
    p->kind = PAL_RTCP_RAW;
    int rc = 0;
    switch (pt) {
    case PAL_RTCP_PT_SR:
        rc = parse_sr(p, buf, content, err);
        break;
    case PAL_RTCP_PT_RR:
        rc = parse_rr(p, buf, content, err);
        break;
    case PAL_RTCP_PT_SDES:
        rc = parse_sdes(p, buf, content, err);
        break;
    case PAL_RTCP_PT_BYE:
        rc = parse_bye(p, buf, content, err);
        break;
    case PAL_RTCP_PT_APP:
        rc = parse_app(p, buf, content, err);
        break;
    case PAL_RTCP_PT_RTPFB:
    case PAL_RTCP_PT_PSFB:
        rc = parse_fb(p, buf, content, err);
        break;
    case PAL_RTCP_PT_XR:
        /* Extended reports (RFC 3611): header, SSRC, report blocks; kept raw. */
        if (content < HDR + 4)
            return pal_wire_fail(err, -EINVAL, "rtcp: XR: needed %d bytes, had %zu", HDR + 4,
                                 content);
        p->kind = PAL_RTCP_XR;
        break;
    default:
        break; /* valid header, unknown type: kept raw */
    }
    if (rc)
        return rc;
    if (used)
        *used = plen;
    return 0;
}

int pal_rtcp_next(struct pal_rtcp_iter *it, struct pal_rtcp_packet *p, struct pal_wire_err *err)
{
    if (it->off == 0 && it->len == 0)
        return pal_wire_fail(err, -EINVAL, "rtcp: empty datagram: needed %d bytes, had 0", HDR);
    if (it->off >= it->len)
        return 0;
    size_t used;
    int rc = pal_rtcp_parse(it->buf + it->off, it->len - it->off, p, &used, err);
    if (rc) {
        it->off = it->len; /* stop: the rest cannot be trusted */
        return rc;
    }
    it->off += used;
    return 1;
}

int pal_rtcp_validate(const uint8_t *buf, size_t len, struct pal_wire_err *err)
{
    struct pal_rtcp_iter it;
    struct pal_rtcp_packet p;
    int n = 0, rc;
    pal_rtcp_iter_init(&it, buf, len);
    while ((rc = pal_rtcp_next(&it, &p, err)) == 1)
        n++;
    return rc < 0 ? rc : n;
}

size_t pal_rtcp_nack_seqs(const struct pal_rtcp_packet *p, uint16_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < pal_rtcp_nack_count(p); i++) {
        uint16_t pid, blp;
        pal_rtcp_nack_item(p, i, &pid, &blp);
        if (n < cap)
            out[n++] = pid;
        for (unsigned bit = 0; bit < 16; bit++)
            if ((blp >> bit) & 1 && n < cap)
                out[n++] = (uint16_t)(pid + bit + 1);
    }
    return n;
}

/* ---- builders */

size_t pal_rtcp_sr_size(size_t n_reports)
{
    return HDR + 24 + REPORT_BLOCK * n_reports;
}

int pal_rtcp_write_sr(uint8_t *out, size_t cap, size_t *len, const struct pal_rtcp_sr_info *sr,
                      const struct pal_rtcp_report_block *reports, size_t n_reports)
{
    if (n_reports > PAL_RTCP_MAX_REPORTS)
        return -EINVAL;
    size_t total = pal_rtcp_sr_size(n_reports);
    if (total > cap)
        return -ENOSPC;
    write_header(out, (uint8_t)n_reports, PAL_RTCP_PT_SR, total);
    pal_wr32(out + 4, sr->ssrc);
    pal_wr32(out + 8, (uint32_t)(sr->ntp >> 32));
    pal_wr32(out + 12, (uint32_t)sr->ntp);
    pal_wr32(out + 16, sr->rtp_ts);
    pal_wr32(out + 20, sr->packet_count);
    pal_wr32(out + 24, sr->octet_count);
    for (size_t i = 0; i < n_reports; i++)
        write_report(out + 28 + REPORT_BLOCK * i, &reports[i]);
    *len = total;
    return 0;
}

size_t pal_rtcp_rr_size(size_t n_reports)
{
    return HDR + 4 + REPORT_BLOCK * n_reports;
}

int pal_rtcp_write_rr(uint8_t *out, size_t cap, size_t *len, uint32_t ssrc,
                      const struct pal_rtcp_report_block *reports, size_t n_reports)
{
    if (n_reports > PAL_RTCP_MAX_REPORTS)
        return -EINVAL;
    size_t total = pal_rtcp_rr_size(n_reports);
    if (total > cap)
        return -ENOSPC;
    write_header(out, (uint8_t)n_reports, PAL_RTCP_PT_RR, total);
    pal_wr32(out + 4, ssrc);
    for (size_t i = 0; i < n_reports; i++)
        write_report(out + 8 + REPORT_BLOCK * i, &reports[i]);
    *len = total;
    return 0;
}

size_t pal_rtcp_sdes_cname_size(size_t cname_len)
{
    /* header, SSRC, CNAME item (2 + len), end item, padding to 32 bits */
    return HDR + ((4 + 2 + cname_len + 1 + 3) & ~(size_t)3);
}

int pal_rtcp_write_sdes_cname(uint8_t *out, size_t cap, size_t *len, uint32_t ssrc,
                              const char *cname)
{
    size_t cl = strlen(cname);
    if (cl == 0 || cl > 255)
        return -EINVAL;
    size_t total = pal_rtcp_sdes_cname_size(cl);
    if (total > cap)
        return -ENOSPC;
    memset(out, 0, total);
    write_header(out, 1, PAL_RTCP_PT_SDES, total);
    pal_wr32(out + 4, ssrc);
    out[8] = 1; /* CNAME */
    out[9] = (uint8_t)cl;
    memcpy(out + 10, cname, cl);
    *len = total;
    return 0;
}

int pal_rtcp_write_bye(uint8_t *out, size_t cap, size_t *len, const uint32_t *ssrcs, size_t n)
{
    if (n > 31)
        return -EINVAL;
    size_t total = HDR + 4 * n;
    if (total > cap)
        return -ENOSPC;
    write_header(out, (uint8_t)n, PAL_RTCP_PT_BYE, total);
    for (size_t i = 0; i < n; i++)
        pal_wr32(out + HDR + 4 * i, ssrcs[i]);
    *len = total;
    return 0;
}

#define NACK_MAX_ITEMS 256

/* Greedy packing into PID + BLP items: a seq joins the first item whose PID
 * is 1..16 before it. Sorted input (oldest first) gives the fewest items. */
static int nack_pack(const uint16_t *seqs, size_t n, uint16_t *pid, uint16_t *blp)
{
    int items = 0;
    for (size_t i = 0; i < n; i++) {
        int j;
        for (j = 0; j < items; j++) {
            uint16_t d = (uint16_t)(seqs[i] - pid[j]);
            if (d == 0)
                break;
            if (d >= 1 && d <= 16) {
                blp[j] |= (uint16_t)(1u << (d - 1));
                break;
            }
        }
        if (j < items)
            continue;
        if (items == NACK_MAX_ITEMS)
            return -EINVAL;
        pid[items] = seqs[i];
        blp[items] = 0;
        items++;
    }
    return items;
}

size_t pal_rtcp_nack_size(const uint16_t *seqs, size_t n)
{
    uint16_t pid[NACK_MAX_ITEMS], blp[NACK_MAX_ITEMS];
    int items = nack_pack(seqs, n, pid, blp);
    return items <= 0 ? 0 : HDR + 8 + 4 * (size_t)items;
}

int pal_rtcp_write_nack(uint8_t *out, size_t cap, size_t *len, uint32_t sender_ssrc,
                        uint32_t media_ssrc, const uint16_t *seqs, size_t n)
{
    uint16_t pid[NACK_MAX_ITEMS], blp[NACK_MAX_ITEMS];
    int items = nack_pack(seqs, n, pid, blp);
    if (items <= 0)
        return -EINVAL;
    size_t total = HDR + 8 + 4 * (size_t)items;
    if (total > cap)
        return -ENOSPC;
    write_header(out, PAL_RTCP_FMT_NACK, PAL_RTCP_PT_RTPFB, total);
    pal_wr32(out + 4, sender_ssrc);
    pal_wr32(out + 8, media_ssrc);
    for (int i = 0; i < items; i++) {
        pal_wr16(out + 12 + 4 * i, pid[i]);
        pal_wr16(out + 14 + 4 * i, blp[i]);
    }
    *len = total;
    return 0;
}

int pal_rtcp_write_pli(uint8_t *out, size_t cap, size_t *len, uint32_t sender_ssrc,
                       uint32_t media_ssrc)
{
    if (cap < PAL_RTCP_PLI_SIZE)
        return -ENOSPC;
    write_header(out, PAL_RTCP_FMT_PLI, PAL_RTCP_PT_PSFB, PAL_RTCP_PLI_SIZE);
    pal_wr32(out + 4, sender_ssrc);
    pal_wr32(out + 8, media_ssrc);
    *len = PAL_RTCP_PLI_SIZE;
    return 0;
}

int pal_rtcp_write_fir(uint8_t *out, size_t cap, size_t *len, uint32_t sender_ssrc,
                       uint32_t media_ssrc, uint8_t seq_nr)
{
    if (cap < PAL_RTCP_FIR_SIZE)
        return -ENOSPC;
    write_header(out, PAL_RTCP_FMT_FIR, PAL_RTCP_PT_PSFB, PAL_RTCP_FIR_SIZE);
    pal_wr32(out + 4, sender_ssrc);
    pal_wr32(out + 8, 0); /* RFC 5104 4.3.1.2: media source SSRC is 0 */
    pal_wr32(out + 12, media_ssrc);
    out[16] = seq_nr;
    out[17] = out[18] = out[19] = 0;
    *len = PAL_RTCP_FIR_SIZE;
    return 0;
}

size_t pal_rtcp_remb_size(size_t n_ssrcs)
{
    return HDR + 8 + 8 + 4 * n_ssrcs;
}

int pal_rtcp_write_remb(uint8_t *out, size_t cap, size_t *len, uint32_t sender_ssrc,
                        uint64_t bitrate, const uint32_t *ssrcs, size_t n_ssrcs)
{
    if (n_ssrcs > 255)
        return -EINVAL;
    size_t total = pal_rtcp_remb_size(n_ssrcs);
    if (total > cap)
        return -ENOSPC;
    unsigned exp = 0;
    while (bitrate >> exp > 0x3FFFF)
        exp++;
    uint32_t mant = (uint32_t)(bitrate >> exp);
    write_header(out, PAL_RTCP_FMT_AFB, PAL_RTCP_PT_PSFB, total);
    pal_wr32(out + 4, sender_ssrc);
    pal_wr32(out + 8, 0);
    memcpy(out + 12, "REMB", 4);
    out[16] = (uint8_t)n_ssrcs;
    out[17] = (uint8_t)((exp << 2) | (mant >> 16));
    pal_wr16(out + 18, (uint16_t)mant);
    for (size_t i = 0; i < n_ssrcs; i++)
        pal_wr32(out + 20 + 4 * i, ssrcs[i]);
    *len = total;
    return 0;
}

uint64_t pal_ntp_from_wall_us(int64_t wall_us)
{
    uint64_t secs = (uint64_t)(wall_us / 1000000) + 2208988800u; /* 1900 -> 1970 */
    uint64_t frac = ((uint64_t)(wall_us % 1000000) << 32) / 1000000;
    return secs << 32 | frac;
}
