/* A consumer's VP8 temporal filter (palabre/consumer.h) fed by a hostile
 * publisher: any TID, layer-sync and frame-start bits, sequence numbers
 * jumping back and forth, and the subscriber's allowed TID changing at any
 * time. Three bytes per step:
 *   op:  bits 0-1: 3 sets the max TID to (arg & 3), else a packet: bits 2-3
 *        its TID, 4 Y, 5 S (frame start), 6 keyframe, 7 next picture id;
 *   arg: the packet's sequence number relative to the last (int8);
 *   nack: bit 0, the subscriber NACKs what was just sent; bits 1-6 (k > 0):
 *        the k-th packet sent before it.
 * Whatever was sent and is asked again must be the same packet (the payload
 * carries the publisher's sequence number): the mapping of our numbering
 * back to the publisher's never names another packet. */
#include <stdlib.h>
#include <string.h>

#include "palabre/consumer.h"
#include "palabre/producer.h"
#include "palabre/rtp.h"

#define PAYLOAD 24

struct rec {
    bool sent;
    uint16_t seq, tag;
};

static int rec_rtp(void *ctx, const uint8_t *hdr, size_t hdr_len, const uint8_t *body,
                   size_t body_len)
{
    struct rec *r = ctx;
    if (hdr_len < 12 || body_len < PAYLOAD)
        abort();
    r->sent = true;
    r->seq = pal_rd16(hdr + 2);
    r->tag = pal_rd16(body + body_len - 2);
    return 0;
}

static int rec_rtcp(void *ctx, uint8_t *buf, size_t len, size_t cap)
{
    (void)ctx, (void)buf, (void)len, (void)cap;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pal_media_track t = {.kind = PAL_MEDIA_VIDEO, .payload_type = 96,
                                .clock_rate = 90000, .ssrc = 0x1234};
    strcpy(t.mid, "1");
    struct pal_producer *prod;
    if (pal_producer_create("alice", &t, &prod))
        abort();
    struct rec rec = {0};
    struct pal_media_sink sink = {.ctx = &rec, .send_rtp = rec_rtp, .send_rtcp = rec_rtcp,
                                  .ready = true};
    struct pal_media_track s = t;
    s.ssrc = 0x5555;
    struct pal_consumer *c;
    if (pal_consumer_create("bob", "alice", "1", &s, &sink, &c))
        abort();
    pal_consumer_set_producer(c, prod);
    pal_producer_attach(prod, c);
    static uint8_t scratch[PAL_MEDIA_SCRATCH];
    uint16_t seq = 1000, pic = 0;
    uint8_t tl0 = 0;
    int64_t now_ms = 1000;
    struct rec hist[64];
    size_t n_hist = 0;
    for (size_t i = 0; i + 3 <= size; i += 3) {
        uint8_t op = data[i], arg = data[i + 1], nack = data[i + 2];
        if ((op & 3) == 3) {
            pal_consumer_set_max_temporal(c, arg & 3);
            continue;
        }
        seq = (uint16_t)(seq + (int8_t)arg);
        int tid = (op >> 2) & 3;
        if (op & 0x80)
            pic = (uint16_t)((pic + 1) & 0x7fff);
        if (tid == 0 && (op & 0x20))
            tl0++;
        struct pal_rtp_header h = {.payload_type = 96, .seq = seq, .timestamp = pic * 3000u,
                                   .ssrc = 0x1234};
        uint8_t p[PAYLOAD] = {0};
        p[0] = (uint8_t)(0x80 | (op & 0x20 ? 0x10 : 0));
        p[1] = 0xE0;
        p[2] = (uint8_t)(0x80 | pic >> 8), p[3] = (uint8_t)pic;
        p[4] = tl0;
        p[5] = (uint8_t)(tid << 6 | (op & 0x10 ? 0x20 : 0));
        p[6] = op & 0x40 ? 0x00 : 0x01;
        pal_wr16(p + PAYLOAD - 2, seq);
        uint8_t buf[128];
        size_t len;
        struct pal_rtp_packet pkt;
        if (pal_rtp_write(&h, p, sizeof(p), buf, sizeof(buf), &len) ||
            pal_rtp_parse(&pkt, buf, len, NULL))
            abort();
        struct pal_packet_info info = {.layer = 0};
        pal_producer_on_packet(prod, &pkt, now_ms, &info);
        bool want_kf;
        rec.sent = false;
        pal_producer_forward(prod, &pkt, &info, scratch, sizeof(scratch), now_ms, &want_kf);
        if (rec.sent && rec.tag != seq)
            abort();
        if (rec.sent)
            hist[n_hist++ % 64] = rec;
        unsigned k = (nack >> 1) & 63;
        if (n_hist > k && ((nack & 1) || k)) {
            struct rec asked = hist[(n_hist - 1 - k) % 64];
            rec.sent = false;
            if (pal_consumer_retransmit(c, asked.seq, scratch, sizeof(scratch), now_ms) == 0 &&
                (!rec.sent || rec.seq != asked.seq || rec.tag != asked.tag))
                abort();
        }
        now_ms += 5;
    }
    pal_producer_unlink_all(prod);
    pal_consumer_destroy(c);
    pal_producer_destroy(prod);
    return 0;
}
