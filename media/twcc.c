/* Transport-wide congestion control feedback builder and decoder
 * (draft-holmer-rmcat-transport-wide-cc-extensions-01 section 3.1).
 * No library in Debian builds these packets for C; written by hand.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|  FMT=15 |    PT=205     |           length              |
 * |                     SSRC of packet sender                     |
 * |                      SSRC of media source                     |
 * |      base sequence number     |      packet status count      |
 * |                 reference time                | fb pkt. count |
 * |          packet chunk         |         packet chunk          |
 * .                                                               .
 * |         packet chunk          |  recv delta   |  recv delta   |
 * .                                                               .
 * |           recv delta          |  recv delta   | zero padding  |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Run length chunk:    |0| S (2) | run length (13)          |
 * Status vector chunk: |1|1| 7 symbols of 2 bits            |
 *                      |1|0| 14 symbols of 1 bit            |
 * Symbols: 0 not received, 1 small delta (1 byte, 0..63.75 ms),
 *          2 large or negative delta (2 bytes, signed), 3 reserved.
 * Deltas are in 250 us units; the reference time in 64 ms units. */
#include "palabre/twcc.h"

#include "palabre/rtp.h"

#include <stdlib.h>
#include <string.h>

#define RING 4096 /* packets remembered between two feedbacks */
#define MAX_PER_FEEDBACK 8191

struct arrival {
    int64_t useq; /* unwrapped seq stored here, -1 empty */
    int64_t us;
};

struct pal_twcc {
    /* owned */
    struct arrival *ring;
    /* state */
    uint32_t sender_ssrc, media_ssrc;
    struct pal_seq_unwrapper uw;
    int64_t base;    /* first unreported unwrapped seq, -1 before any */
    int64_t highest; /* highest unwrapped seq recorded */
    uint8_t fb_count;
};

int pal_twcc_create(uint32_t sender_ssrc, uint32_t media_ssrc, struct pal_twcc **out)
{
    struct pal_twcc *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->ring = malloc(RING * sizeof(*t->ring));
    if (!t->ring) {
        free(t);
        return -ENOMEM;
    }
    for (int i = 0; i < RING; i++)
        t->ring[i].useq = -1;
    t->sender_ssrc = sender_ssrc;
    t->media_ssrc = media_ssrc;
    pal_seq_unwrapper_init(&t->uw);
    t->base = -1;
    t->highest = -1;
    *out = t;
    return 0;
}

void pal_twcc_destroy(struct pal_twcc *t)
{
    if (!t)
        return;
    free(t->ring);
    free(t);
}

void pal_twcc_on_packet(struct pal_twcc *t, uint16_t twcc_seq, int64_t arrival_us)
{
    int64_t s = pal_seq_unwrap(&t->uw, twcc_seq) + (1 << 16); /* keep it positive */
    if (t->base < 0)
        t->base = s;
    if (s < t->base)
        return; /* already reported */
    if (s - t->base >= RING)
        t->base = s - RING + 1; /* too far behind: forget the oldest */
    struct arrival *a = &t->ring[s & (RING - 1)];
    a->useq = s;
    a->us = arrival_us;
    if (s > t->highest)
        t->highest = s;
}

static bool received(const struct pal_twcc *t, int64_t s, int64_t *us)
{
    const struct arrival *a = &t->ring[s & (RING - 1)];
    if (a->useq != s)
        return false;
    *us = a->us;
    return true;
}

/* floor division for negative arrival times */
static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

int pal_twcc_build(struct pal_twcc *t, uint8_t *out, size_t cap, size_t *len)
{
    if (cap < 28)
        return -ENOSPC;
    if (t->base < 0 || t->highest < t->base)
        return -ENODATA;
    /* Skip leading losses: start at the first received packet. */
    int64_t first_us = 0;
    while (t->base <= t->highest && !received(t, t->base, &first_us))
        t->base++;
    if (t->base > t->highest)
        return -ENODATA;
    /* Each packet costs at most 2 delta bytes and 2/7 of a chunk. */
    int64_t max_n = (int64_t)((cap - 24) / 3);
    int64_t n = PAL_MIN(t->highest - t->base + 1, PAL_MIN(max_n, MAX_PER_FEEDBACK));

    int64_t ref = floor_div(first_us, 64000);
    int64_t cur = ref * 64000;
    uint8_t sym[MAX_PER_FEEDBACK];
    int16_t delta[MAX_PER_FEEDBACK];
    for (int64_t i = 0; i < n; i++) {
        int64_t us;
        if (!received(t, t->base + i, &us)) {
            sym[i] = 0;
            continue;
        }
        int64_t ticks = floor_div(us - cur + 125, 250);
        if (ticks < INT16_MIN || ticks > INT16_MAX) {
            n = i; /* does not fit: the next feedback starts here */
            break;
        }
        sym[i] = (ticks >= 0 && ticks <= 255) ? 1 : 2;
        delta[i] = (int16_t)ticks;
        cur += ticks * 250;
    }
    size_t pos = 20;
    /* chunks */
    for (int64_t i = 0; i < n;) {
        int64_t run = 1;
        while (i + run < n && sym[i + run] == sym[i] && run < 8191)
            run++;
        if (run >= 7 || i + run == n) {
            pal_wr16(out + pos, (uint16_t)((sym[i] << 13) | run));
            i += run;
        } else {
            uint16_t c = 0xC000;
            for (int k = 0; k < 7; k++)
                c |= (uint16_t)((i + k < n ? sym[i + k] : 0) << (2 * (6 - k)));
            pal_wr16(out + pos, c);
            i += 7;
        }
        pos += 2;
    }
    for (int64_t i = 0; i < n; i++) {
        if (sym[i] == 1) {
            out[pos++] = (uint8_t)delta[i];
        } else if (sym[i] == 2) {
            pal_wr16(out + pos, (uint16_t)delta[i]);
            pos += 2;
        }
    }
    size_t pad = (4 - pos % 4) % 4;
    for (size_t k = 0; k < pad; k++)
        out[pos++] = 0;
    if (pad)
        out[pos - 1] = (uint8_t)pad;
    out[0] = (uint8_t)(0x80 | (pad ? 0x20 : 0) | PAL_RTCP_FMT_TWCC);
    out[1] = PAL_RTCP_PT_RTPFB;
    pal_wr16(out + 2, (uint16_t)(pos / 4 - 1));
    pal_wr32(out + 4, t->sender_ssrc);
    pal_wr32(out + 8, t->media_ssrc);
    pal_wr16(out + 12, (uint16_t)t->base);
    pal_wr16(out + 14, (uint16_t)n);
    pal_wr24(out + 16, (uint32_t)ref & 0xFFFFFF);
    out[19] = t->fb_count++;
    t->base += n;
    *len = pos;
    return 0;
}

int pal_twcc_feedback_decode(const struct pal_rtcp_packet *p, struct pal_twcc_status *out,
                             size_t cap, struct pal_wire_err *err)
{
    if (p->kind != PAL_RTCP_TWCC)
        return pal_wire_fail(err, -EINVAL, "twcc: not a transport-cc packet");
    const uint8_t *f = p->fb.fci;
    size_t fl = p->fb.fci_len, pos = 8;
    size_t count = p->fb.u.twcc.status_count, n = 0;
    uint16_t seq = p->fb.u.twcc.base_seq;
    /* First pass: symbols (kept in out[].received / a local for the size). */
    uint8_t sym[MAX_PER_FEEDBACK];
    if (count > MAX_PER_FEEDBACK)
        return pal_wire_fail(err, -EINVAL, "twcc: %zu statuses, at most %d supported", count,
                             MAX_PER_FEEDBACK);
    while (n < count) {
        if (pos + 2 > fl)
            return pal_wire_fail(err, -EINVAL, "twcc: packet chunk: needed %zu bytes, had %zu",
                                 pos + 2, fl);
        uint16_t c = pal_rd16(f + pos);
        pos += 2;
        if (!(c & 0x8000)) {
            size_t run = c & 0x1FFF;
            uint8_t s = (c >> 13) & 3;
            if (run == 0)
                return pal_wire_fail(err, -EINVAL, "twcc: run length chunk of 0 packets");
            for (size_t k = 0; k < run && n < count; k++)
                sym[n++] = s;
        } else if (c & 0x4000) {
            for (int k = 0; k < 7 && n < count; k++)
                sym[n++] = (c >> (2 * (6 - k))) & 3;
        } else {
            for (int k = 0; k < 14 && n < count; k++)
                sym[n++] = (c >> (13 - k)) & 1;
        }
    }
    size_t w = 0;
    for (size_t i = 0; i < count; i++, seq++) {
        int32_t ticks = 0;
        if (sym[i] == 3)
            return pal_wire_fail(err, -EINVAL, "twcc: reserved status symbol");
        if (sym[i] == 1) {
            if (pos + 1 > fl)
                return pal_wire_fail(err, -EINVAL, "twcc: recv delta: needed %zu bytes, had %zu",
                                     pos + 1, fl);
            ticks = f[pos++];
        } else if (sym[i] == 2) {
            if (pos + 2 > fl)
                return pal_wire_fail(err, -EINVAL, "twcc: recv delta: needed %zu bytes, had %zu",
                                     pos + 2, fl);
            ticks = (int16_t)pal_rd16(f + pos);
            pos += 2;
        }
        if (w < cap) {
            out[w].seq = seq;
            out[w].received = sym[i] != 0;
            out[w].delta_us = ticks * 250;
            w++;
        }
    }
    return (int)w;
}
