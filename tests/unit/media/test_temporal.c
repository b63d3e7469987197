/* VP8 temporal layers (issue 14: "drop temporal layers instantly when
 * congested"). A producer and a consumer through their own API: packets of
 * a TID above the one allowed are dropped, down at the next frame start
 * (never half a frame), up only at a layer-sync frame of the next layer or
 * a keyframe; the subscriber sees one stream without holes (sequence
 * numbers and picture ids close over the dropped frames, across 16-bit
 * wraps), a NACK gets the packet it names, a late packet its own place,
 * and a simulcast switch keeps picture id and TL0PICIDX continuous. Then
 * the room's policy: a subscriber whose estimate is cut gets TL0 at once,
 * every layer back once the cuts stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/bwe.h"
#include "palabre/consumer.h"
#include "palabre/producer.h"
#include "palabre/room.h"
#include "palabre/rtp.h"
#include "palabre/twcc.h"
#include "palabre/vp8.h"

#define PT 96
#define SSRC 0x1234
#define EXT_RID 10
#define PAYLOAD 40
#define MAX_OUT 256

/* What the subscriber got of one packet: our numbering, its descriptor,
 * and the tag: the publisher's sequence number, carried in the payload. */
struct out {
    uint16_t seq, pic, tag;
    uint8_t tl0, tid;
    bool start, key;
};

struct rec {
    size_t n, total;
    struct out o[MAX_OUT]; /* the last MAX_OUT (a ring) */
    bool have_last;
    struct out last;
    uint64_t wraps;
    bool check; /* each packet continues the one before (assert_next) */
    size_t padding; /* padding-only packets (a bandwidth probe's): numbered, no frame */
};

static void assert_next(const struct out *a, const struct out *b)
{
    assert_int_equal((uint16_t)(b->seq - a->seq), 1);
    if (b->start)
        assert_int_equal((b->pic - a->pic) & 0x7fff, 1);
    else
        assert_int_equal(b->pic, a->pic);
    /* TL0PICIDX: +1 on a TL0 frame, else the last TL0's */
    assert_int_equal((uint8_t)(b->tl0 - a->tl0), b->start && b->tid == 0 ? 1 : 0);
}

/* A sent packet (header, then body) put together in buf and parsed. */
static void parse_sent(const uint8_t *hdr, size_t hdr_len, const uint8_t *body, size_t body_len,
                       uint8_t *buf, size_t cap, struct pal_rtp_packet *pkt,
                       struct pal_vp8_desc *d)
{
    assert_true(hdr_len + body_len <= cap);
    memcpy(buf, hdr, hdr_len);
    memcpy(buf + hdr_len, body, body_len);
    assert_int_equal(pal_rtp_parse(pkt, buf, hdr_len + body_len, NULL), 0);
    assert_int_equal(pal_vp8_parse(pal_rtp_payload(pkt), pkt->payload_len, d, NULL), 0);
}

static int rec_rtp(void *ctx, const uint8_t *hdr, size_t hdr_len, const uint8_t *body,
                   size_t body_len)
{
    struct rec *r = ctx;
    uint8_t buf[300];
    struct pal_rtp_packet pkt;
    struct pal_vp8_desc d;
    if (hdr_len + body_len <= sizeof(buf) && (hdr[0] & 0x20)) {
        memcpy(buf, hdr, hdr_len);
        memcpy(buf + hdr_len, body, body_len);
        if (pal_rtp_parse(&pkt, buf, hdr_len + body_len, NULL) == 0 && pkt.payload_len == 0) {
            /* a probe's padding: it takes the next number, the frames go on after it */
            if (r->check && r->have_last)
                assert_int_equal((uint16_t)(pkt.seq - r->last.seq), 1);
            r->last.seq = pkt.seq;
            r->padding++;
            return 0;
        }
    }
    parse_sent(hdr, hdr_len, body, body_len, buf, sizeof(buf), &pkt, &d);
    const uint8_t *p = pal_rtp_payload(&pkt);
    struct out o = {.seq = pkt.seq, .pic = d.picture_id, .tl0 = d.tl0picidx, .tid = d.tid,
                    .start = d.is_frame_start, .key = d.is_keyframe,
                    .tag = pal_rd16(p + pkt.payload_len - 2)};
    if (r->check && r->have_last)
        assert_next(&r->last, &o);
    if (r->have_last && o.seq < r->last.seq)
        r->wraps++;
    r->last = o;
    r->have_last = true;
    r->o[r->n++ % MAX_OUT] = o;
    r->total++;
    return 0;
}

static int rec_rtcp(void *ctx, uint8_t *buf, size_t len, size_t cap)
{
    (void)ctx, (void)buf, (void)len, (void)cap;
    return 0;
}

/* The publisher: its numbering (per simulcast layer), one camera. */
struct fixture {
    struct pal_producer *prod;
    struct pal_consumer *c;
    struct rec rec;
    struct pal_media_sink sink;
    uint16_t seq[2], pic[2];
    uint8_t tl0[2];
    uint32_t ts[2];
    int64_t now_ms;
    unsigned frame; /* of the L1T3 pattern */
};

static struct fixture *fixture_create(bool simulcast)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct pal_media_track t = {.kind = PAL_MEDIA_VIDEO, .payload_type = PT, .clock_rate = 90000};
    strcpy(t.mid, "1");
    if (simulcast) {
        t.ext_rid = EXT_RID, t.n_layers = 2;
        strcpy(t.rids[0], "q"), strcpy(t.rids[1], "h");
    } else {
        t.ssrc = SSRC;
    }
    assert_int_equal(pal_producer_create("alice", &t, &f->prod), 0);
    struct pal_media_track s = {.kind = PAL_MEDIA_VIDEO, .payload_type = 100, .clock_rate = 90000,
                                .ssrc = 0x5555, .ext_twcc = 7}; /* padding takes it */
    strcpy(s.mid, "v0");
    f->sink = (struct pal_media_sink){.ctx = &f->rec, .send_rtp = rec_rtp, .send_rtcp = rec_rtcp,
                                      .ready = true};
    assert_int_equal(pal_consumer_create("bob", "alice", "1", &s, &f->sink, &f->c), 0);
    pal_consumer_set_producer(f->c, f->prod);
    assert_int_equal(pal_producer_attach(f->prod, f->c), 0);
    /* near every wrap */
    f->seq[0] = 65500, f->seq[1] = 40000;
    f->pic[0] = 32700, f->pic[1] = 100;
    f->tl0[0] = 250, f->tl0[1] = 9;
    f->now_ms = 1000;
    return f;
}

static void fixture_destroy(struct fixture *f)
{
    pal_producer_unlink_all(f->prod);
    pal_consumer_destroy(f->c);
    pal_producer_destroy(f->prod);
    free(f);
}

/* Packet k of a frame of layer l (TID tid, layer sync y), as the publisher
 * numbered it, into buf. */
static size_t make_packet(struct fixture *f, int l, uint16_t seq, int tid, bool y, bool key,
                          bool start, uint8_t *buf)
{
    struct pal_rtp_header h = {.payload_type = PT, .seq = seq, .timestamp = f->ts[l],
                               .ssrc = f->prod && pal_producer_track(f->prod)->n_layers
                                           ? 0xA0u + (uint32_t)l
                                           : SSRC};
    if (pal_producer_track(f->prod)->n_layers) {
        h.n_ext = 1;
        h.ext[0].id = EXT_RID;
        h.ext[0].len = 1;
        h.ext[0].data[0] = l ? 'h' : 'q';
    }
    uint8_t p[PAYLOAD] = {0};
    p[0] = (uint8_t)(0x80 | (start ? 0x10 : 0)); /* X, S, PID 0 */
    p[1] = 0xE0;                                 /* I L T */
    p[2] = (uint8_t)(0x80 | (f->pic[l] >> 8)), p[3] = (uint8_t)f->pic[l];
    p[4] = f->tl0[l];
    p[5] = (uint8_t)(tid << 6 | (y ? 0x20 : 0));
    p[6] = key ? 0x00 : 0x01; /* P bit */
    p[9] = 0x9d, p[10] = 0x01, p[11] = 0x2a, p[12] = 64, p[14] = 48;
    pal_wr16(p + PAYLOAD - 2, seq); /* the tag */
    size_t len;
    assert_int_equal(pal_rtp_write(&h, p, sizeof(p), buf, 200, &len), 0);
    return len;
}

/* The producer receives buf and forwards it: whether the consumer sent it. */
static bool deliver(struct fixture *f, uint8_t *buf, size_t len)
{
    struct pal_rtp_packet pkt;
    assert_int_equal(pal_rtp_parse(&pkt, buf, len, NULL), 0);
    struct pal_packet_info info = {.layer = pal_producer_stream_of(f->prod, &pkt)};
    assert_true(info.layer >= 0);
    pal_producer_on_packet(f->prod, &pkt, f->now_ms, &info);
    uint8_t scratch[PAL_MEDIA_SCRATCH];
    bool want_kf;
    return pal_producer_forward(f->prod, &pkt, &info, scratch, sizeof(scratch), f->now_ms,
                                &want_kf) == 1;
}

/* A frame of n packets of layer l; returns how many went out. A TL0 frame
 * carries the next TL0PICIDX. */
static int frame(struct fixture *f, int l, int tid, bool y, bool key, int n)
{
    if (tid == 0)
        f->tl0[l]++;
    int sent = 0;
    for (int k = 0; k < n; k++) {
        uint8_t buf[200];
        size_t len = make_packet(f, l, f->seq[l]++, tid, y, key && k == 0, k == 0, buf);
        sent += deliver(f, buf, len);
    }
    f->pic[l] = (uint16_t)((f->pic[l] + 1) & 0x7fff);
    f->ts[l] += 3000;
    f->now_ms += 33;
    return sent;
}

/* libwebrtc's L1T3 over 8 frames: TL0 TL2 TL1 TL2, the first TL2 and TL1
 * after a TL0 layer-sync frames once every 8 (the others reference the TL1
 * frame before). */
static const int PATTERN_TID[8] = {0, 2, 1, 2, 0, 2, 1, 2};
static const bool PATTERN_SYNC[8] = {false, true, true, false, false, false, false, false};

static int next_frame(struct fixture *f, int l, int n)
{
    unsigned i = f->frame++ % 8;
    return frame(f, l, PATTERN_TID[i], PATTERN_SYNC[i], false, n);
}

static void keyframe(struct fixture *f, int l)
{
    f->frame = 1; /* a keyframe is the pattern's TL0 */
    assert_int_equal(frame(f, l, 0, false, true, 2), 2);
}

static const struct out *last_out(const struct fixture *f)
{
    assert_true(f->rec.n > 0);
    return &f->rec.o[(f->rec.n - 1) % MAX_OUT];
}

static void no_filter_forwards_every_layer(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(false);
    f->rec.check = true;
    assert_int_equal(pal_consumer_temporal(f->c), PAL_CONSUMER_TEMPORAL_ALL);
    keyframe(f, 0);
    for (int i = 0; i < 16; i++)
        assert_int_equal(next_frame(f, 0, 2), 2);
    assert_int_equal(f->rec.total, 34);
    assert_int_equal(pal_consumer_temporal_drops(f->c), 0);
    fixture_destroy(f);
}

static void filter_drops_higher_tids(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(false);
    f->rec.check = true; /* no hole in sequence numbers nor picture ids */
    keyframe(f, 0);
    pal_consumer_set_max_temporal(f->c, 0);
    assert_int_equal(pal_consumer_max_temporal(f->c), 0);
    for (int i = 0; i < 24; i++) {
        int tid = PATTERN_TID[f->frame % 8];
        assert_int_equal(next_frame(f, 0, 3), tid == 0 ? 3 : 0);
    }
    for (size_t i = 0; i < f->rec.n; i++)
        assert_int_equal(f->rec.o[i].tid, 0);
    assert_int_equal(f->rec.total, 2 + 6 * 3);
    assert_int_equal(pal_consumer_temporal(f->c), 0);
    assert_int_equal(pal_consumer_temporal_drops(f->c), 1);
    /* TL1 allowed: TID 2 still dropped, TID 1 from its next sync frame on */
    pal_consumer_set_max_temporal(f->c, 1);
    int tl1 = 0;
    for (int i = 0; i < 16; i++) {
        int tid = PATTERN_TID[f->frame % 8], sent = next_frame(f, 0, 2);
        if (tid == 2)
            assert_int_equal(sent, 0);
        tl1 += tid == 1 && sent;
    }
    assert_int_equal(tl1, 4);
    assert_int_equal(pal_consumer_temporal(f->c), 1);
    fixture_destroy(f);
}

static void down_waits_for_the_frame_end(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(false);
    f->rec.check = true;
    keyframe(f, 0); /* next: a TL2 frame */
    uint8_t buf[200];
    f->frame++;
    size_t len = make_packet(f, 0, f->seq[0]++, 2, true, false, true, buf);
    assert_true(deliver(f, buf, len));
    /* congestion in the middle of the TL2 frame: its rest still goes */
    pal_consumer_set_max_temporal(f->c, 0);
    for (int k = 0; k < 2; k++) {
        len = make_packet(f, 0, f->seq[0]++, 2, true, false, false, buf);
        assert_true(deliver(f, buf, len));
    }
    assert_int_equal(pal_consumer_temporal(f->c), PAL_CONSUMER_TEMPORAL_ALL);
    f->pic[0]++;
    /* from the next frame start on, TL0 only */
    assert_int_equal(next_frame(f, 0, 2), 0); /* TL1 */
    assert_int_equal(pal_consumer_temporal(f->c), 0);
    assert_int_equal(next_frame(f, 0, 2), 0); /* TL2 */
    assert_int_equal(next_frame(f, 0, 2), 2); /* TL0 */
    assert_int_equal(pal_consumer_temporal_drops(f->c), 1);
    fixture_destroy(f);
}

static void up_only_at_layer_sync(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(false);
    f->rec.check = true;
    keyframe(f, 0);
    pal_consumer_set_max_temporal(f->c, 0);
    for (int i = 0; i < 7; i++) /* to the frame before a TL0 */
        next_frame(f, 0, 1);
    /* every layer asked back, at the TL0 frame that starts the pattern */
    pal_consumer_set_max_temporal(f->c, PAL_CONSUMER_TEMPORAL_ALL);
    assert_int_equal(f->frame % 8, 0);
    assert_int_equal(next_frame(f, 0, 1), 1);           /* TL0 */
    assert_int_equal(pal_consumer_temporal(f->c), 0);   /* a TL0 frame syncs no layer */
    assert_int_equal(next_frame(f, 0, 1), 0);           /* TL2 sync: TL1 comes first */
    assert_int_equal(next_frame(f, 0, 1), 1);           /* TL1 sync */
    assert_int_equal(pal_consumer_temporal(f->c), 1);
    assert_int_equal(next_frame(f, 0, 1), 0);           /* TL2, not sync */
    assert_int_equal(next_frame(f, 0, 1), 1);           /* TL0 */
    assert_int_equal(next_frame(f, 0, 1), 0);           /* TL2, not sync */
    assert_int_equal(next_frame(f, 0, 1), 1);           /* TL1 */
    assert_int_equal(next_frame(f, 0, 1), 0);           /* TL2 */
    assert_int_equal(next_frame(f, 0, 1), 1);           /* TL0 */
    assert_int_equal(next_frame(f, 0, 1), 1);           /* TL2 sync */
    assert_int_equal(pal_consumer_temporal(f->c), 2);
    for (int i = 0; i < 8; i++)
        assert_int_equal(next_frame(f, 0, 1), 1);
    /* down then up again: a keyframe syncs every layer at once */
    pal_consumer_set_max_temporal(f->c, 0);
    assert_int_equal(next_frame(f, 0, 1), 0);           /* TL1 */
    pal_consumer_set_max_temporal(f->c, PAL_CONSUMER_TEMPORAL_ALL);
    keyframe(f, 0);
    assert_int_equal(pal_consumer_temporal(f->c), PAL_CONSUMER_TEMPORAL_ALL);
    assert_int_equal(frame(f, 0, 2, false, false, 1), 1); /* TL2, not a sync frame */
    assert_int_equal(frame(f, 0, 1, false, false, 1), 1); /* TL1, not a sync frame */
    assert_int_equal(pal_consumer_temporal_drops(f->c), 2);
    fixture_destroy(f);
}

/* 120,000 frames, TL0 only every other 300 frames: the input numbering
 * wraps twice, ours at least once, without a hole; the runs of dropped
 * packets kept for late packets and NACKs are recycled many times. */
static void continuous_across_wraps(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(false);
    f->rec.check = true;
    keyframe(f, 0);
    for (int i = 0; i < 120000; i++) {
        if (i % 300 == 0)
            pal_consumer_set_max_temporal(f->c, (i / 300) % 2 ? PAL_CONSUMER_TEMPORAL_ALL : 0);
        next_frame(f, 0, 1);
    }
    assert_true(f->rec.wraps >= 1);
    assert_true(f->rec.total > 65536);
    assert_true(f->rec.total < 120000);
    assert_int_equal(pal_consumer_temporal_drops(f->c), 200);
    fixture_destroy(f);
}

/* The out sequence number of tag (the publisher's seq) among what was
 * sent; asserts it was. */
static uint16_t out_of(const struct fixture *f, uint16_t tag)
{
    for (size_t i = 0; i < f->rec.n && i < MAX_OUT; i++)
        if (f->rec.o[i].tag == tag)
            return f->rec.o[i].seq;
    fail_msg("packet %u was not sent", tag);
    return 0;
}

static void nack_and_late_packets_after_drops(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(false);
    keyframe(f, 0);
    pal_consumer_set_max_temporal(f->c, 0);
    for (int i = 0; i < 16; i++) /* 4 TL0 frames of 2 packets sent, 12 frames dropped */
        next_frame(f, 0, 2);
    assert_int_equal(f->rec.total, 2 + 4 * 2);
    /* every packet sent, asked again: the same packet, same numbering */
    size_t sent = f->rec.n;
    for (size_t i = 0; i < sent; i++) {
        struct out o = f->rec.o[i];
        assert_int_equal(pal_consumer_retransmit(f->c, o.seq, (uint8_t[PAL_MEDIA_SCRATCH]){0},
                                                 PAL_MEDIA_SCRATCH, f->now_ms), 0);
        const struct out *r = last_out(f);
        assert_int_equal(r->tag, o.tag);
        assert_int_equal(r->pic, o.pic);
        assert_int_equal(r->tl0, o.tl0);
    }
    /* a number never sent (ahead) has nothing */
    assert_int_equal(pal_consumer_retransmit(f->c, (uint16_t)(last_out(f)->seq + 5),
                                             (uint8_t[PAL_MEDIA_SCRATCH]){0}, PAL_MEDIA_SCRATCH,
                                             f->now_ms),
                     -ENOENT);

    /* a TL0 frame whose second packet comes late, after a dropped TL2
     * frame: it takes its own place (the hole the receiver sees), and a
     * late packet of a dropped frame stays dropped */
    while (PATTERN_TID[f->frame % 8] != 0)
        next_frame(f, 0, 2);
    f->tl0[0]++;
    uint8_t late[200], late_drop[200], buf[200];
    size_t n1 = make_packet(f, 0, f->seq[0]++, 0, false, false, true, buf);
    assert_true(deliver(f, buf, n1));
    uint16_t first_out = last_out(f)->seq, first_pic = last_out(f)->pic;
    uint16_t late_seq = f->seq[0];
    size_t nl = make_packet(f, 0, f->seq[0]++, 0, false, false, false, late);
    f->pic[0]++, f->frame++;
    /* the TL2 frame: first packet dropped, second late, third dropped */
    n1 = make_packet(f, 0, f->seq[0]++, 2, true, false, true, buf);
    assert_false(deliver(f, buf, n1));
    size_t nd = make_packet(f, 0, f->seq[0]++, 2, true, false, false, late_drop);
    n1 = make_packet(f, 0, f->seq[0]++, 2, true, false, false, buf);
    assert_false(deliver(f, buf, n1));
    f->pic[0]++, f->frame++;
    assert_int_equal(next_frame(f, 0, 2), 0); /* TL1 */
    assert_int_equal(next_frame(f, 0, 2), 0); /* TL2 */
    assert_int_equal(next_frame(f, 0, 2), 2); /* TL0 */
    /* its numbering goes on from the TL0 frame: one hole, the late packet's */
    const struct out *o = last_out(f);
    assert_int_equal((uint16_t)(o->seq - first_out), 3);
    assert_int_equal((o->pic - first_pic) & 0x7fff, 1);
    assert_true(deliver(f, late, nl));
    assert_int_equal(last_out(f)->seq, (uint16_t)(first_out + 1));
    assert_int_equal(last_out(f)->tag, late_seq);
    assert_int_equal(last_out(f)->pic, first_pic);
    assert_false(deliver(f, late_drop, nd));
    assert_int_equal(last_out(f)->tag, late_seq);
    /* and a NACK of it finds it */
    assert_int_equal(pal_consumer_retransmit(f->c, (uint16_t)(first_out + 1),
                                             (uint8_t[PAL_MEDIA_SCRATCH]){0}, PAL_MEDIA_SCRATCH,
                                             f->now_ms),
                     0);
    assert_int_equal(last_out(f)->tag, late_seq);
    assert_int_equal(out_of(f, late_seq), (uint16_t)(first_out + 1));
    fixture_destroy(f);
}

/* Held at TL0, a TL0 frame lost between two dropped frames (it comes late,
 * as the publisher resends it): its place is kept, the subscriber sees the
 * hole, NACKs it, and the late frame fills it with the picture id after
 * the last TL0 sent. */
static void lost_frame_between_drops_keeps_its_place(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(false);
    keyframe(f, 0);
    pal_consumer_set_max_temporal(f->c, 0);
    while (PATTERN_TID[f->frame % 8] != 0)
        next_frame(f, 0, 1);
    assert_int_equal(next_frame(f, 0, 1), 1); /* TL0 */
    struct out before = *last_out(f);
    assert_int_equal(next_frame(f, 0, 1), 0); /* TL2 */
    /* TL0 (out of the pattern), lost on the way in */
    f->tl0[0]++;
    uint8_t lost[200];
    uint16_t lost_seq = f->seq[0];
    size_t nl = make_packet(f, 0, f->seq[0]++, 0, false, false, true, lost);
    f->pic[0]++;
    assert_int_equal(next_frame(f, 0, 1), 0); /* TL1 */
    assert_int_equal(next_frame(f, 0, 1), 0); /* TL2 */
    assert_int_equal(next_frame(f, 0, 1), 1); /* TL0 */
    const struct out *after = last_out(f);
    assert_int_equal((uint16_t)(after->seq - before.seq), 2); /* one hole */
    assert_int_equal((after->pic - before.pic) & 0x7fff, 2);
    assert_true(deliver(f, lost, nl));
    assert_int_equal(last_out(f)->tag, lost_seq);
    assert_int_equal(last_out(f)->seq, (uint16_t)(before.seq + 1));
    assert_int_equal(last_out(f)->pic, (uint16_t)((before.pic + 1) & 0x7fff));
    fixture_destroy(f);
}

/* q at TL0 only, then a switch to h (its keyframe): one stream for the
 * subscriber, picture id and TL0PICIDX going on from the last sent. */
static void spatial_switch_after_temporal_drops(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(true);
    f->rec.check = true;
    pal_consumer_set_target(f->c, 0);
    keyframe(f, 0);
    pal_consumer_set_max_temporal(f->c, 0);
    for (int i = 0; i < 13; i++) {
        next_frame(f, 0, 2);
        frame(f, 1, PATTERN_TID[(f->frame - 1) % 8], false, false, 1); /* h: not forwarded */
    }
    assert_int_equal(pal_consumer_layer(f->c), 0);
    size_t before = f->rec.total;
    struct out last = *last_out(f);
    assert_true(pal_consumer_set_target(f->c, 1));
    next_frame(f, 0, 2); /* q goes on until h's keyframe */
    f->frame = 1;
    assert_int_equal(frame(f, 1, 0, false, true, 2), 2);
    assert_int_equal(pal_consumer_layer(f->c), 1);
    assert_true(f->rec.total > before);
    /* rec.check: picture id, TL0PICIDX and sequence number go on by one */
    const struct out *o = &f->rec.o[(f->rec.n - 2) % MAX_OUT];
    assert_true(o->key);
    assert_true(pal_seq_newer(o->seq, last.seq));
    /* still TL0 only on h, continuous */
    for (int i = 0; i < 16; i++) {
        int tid = PATTERN_TID[f->frame % 8];
        assert_int_equal(next_frame(f, 1, 2), tid == 0 ? 2 : 0);
    }
    fixture_destroy(f);
}

/* ---- the room's policy ---------------------------------------------------------- */

#define EXT_TWCC_PUB 3
#define EXT_TWCC_SUB 5

struct world {
    struct pal_room *room;
    struct pal_room_peer *alice, *bob;
    struct pal_twcc *rx; /* bob's browser: its transport-cc feedback */
    uint16_t seq[2], pic[2], pub_tw;
    uint8_t tl0[2];
    uint32_t ts[2];
    unsigned frame;
    int64_t now_ms;
    int loss_every;  /* bob's link loses one packet in loss_every (0: none) */
    unsigned got, by_tid[2][4]; /* what bob got, by layer (q, f) and TID */
};

/* alice's camera: q (100 bytes a frame) and f (1,000), 50 frames/s, L1T3 */
static const size_t WORLD_SIZE[2] = {100, 1000};

static int world_rtp(void *ctx, const uint8_t *hdr, size_t hdr_len, const uint8_t *body,
                     size_t body_len)
{
    struct world *w = ctx;
    uint8_t buf[1200];
    struct pal_rtp_packet p;
    struct pal_vp8_desc d = {0};
    assert_true(hdr_len + body_len <= sizeof(buf));
    memcpy(buf, hdr, hdr_len);
    memcpy(buf + hdr_len, body, body_len);
    assert_int_equal(pal_rtp_parse(&p, buf, hdr_len + body_len, NULL), 0);
    if (p.payload_len > 0) /* else a probe's padding: on the link, no frame */
        parse_sent(hdr, hdr_len, body, body_len, buf, sizeof(buf), &p, &d);
    w->got++;
    if (p.payload_len > 0)
        w->by_tid[p.payload_len == WORLD_SIZE[1]][d.tid]++;
    size_t el;
    const uint8_t *tw = pal_rtp_ext_find(&p, EXT_TWCC_SUB, &el);
    assert_non_null(tw);
    if (!(w->loss_every && w->got % (unsigned)w->loss_every == 0))
        pal_twcc_on_packet(w->rx, pal_rd16(tw), w->now_ms * 1000 + 20000);
    return 0;
}

static void world_feed(struct world *w, int l, unsigned i)
{
    int tid = PATTERN_TID[i];
    if (tid == 0)
        w->tl0[l]++;
    struct pal_rtp_header h = {.payload_type = PT, .seq = w->seq[l]++, .timestamp = w->ts[l],
                               .ssrc = 0xA0u + (uint32_t)l, .marker = true, .n_ext = 2};
    h.ext[0].id = EXT_TWCC_PUB;
    h.ext[0].len = 2;
    pal_wr16(h.ext[0].data, w->pub_tw++);
    h.ext[1].id = EXT_RID;
    h.ext[1].len = 1;
    h.ext[1].data[0] = l ? 'f' : 'q';
    uint8_t p[1000] = {0};
    p[0] = 0x90, p[1] = 0xE0;
    p[2] = (uint8_t)(0x80 | (w->pic[l] >> 8)), p[3] = (uint8_t)w->pic[l];
    p[4] = w->tl0[l];
    p[5] = (uint8_t)(tid << 6 | (PATTERN_SYNC[i] ? 0x20 : 0));
    bool key = w->now_ms % 2000 == 0;
    p[6] = key ? 0x00 : 0x01;
    p[9] = 0x9d, p[10] = 0x01, p[11] = 0x2a, p[12] = (uint8_t)(l ? 0x80 : 0x40), p[14] = 48;
    uint8_t buf[1200];
    size_t len;
    assert_int_equal(pal_rtp_write(&h, p, WORLD_SIZE[l], buf, sizeof(buf), &len), 0);
    struct pal_rtp_packet hdr;
    assert_int_equal(pal_rtp_parse(&hdr, buf, len, NULL), 0);
    assert_non_null(pal_room_peer_accept_rtp(w->alice, &hdr));
    pal_room_on_rtp(w->room, w->alice, buf, len, w->now_ms);
    w->pic[l] = (uint16_t)((w->pic[l] + 1) & 0x7fff);
    w->ts[l] += 1800;
}

/* ms of the camera (a keyframe of each layer every 2 s), bob's feedback
 * every 100 ms, the room's tick every 20 ms. */
static void world_run(struct world *w, int64_t ms)
{
    for (int64_t end = w->now_ms + ms; w->now_ms < end; w->now_ms += 20) {
        unsigned i = w->frame++ % 8;
        world_feed(w, 0, i);
        world_feed(w, 1, i);
        pal_room_tick(w->room, w->now_ms);
        if (w->now_ms % 100 == 0) {
            uint8_t fb[1500];
            size_t fl;
            if (pal_twcc_build(w->rx, fb, sizeof(fb), &fl) == 0)
                pal_room_on_rtcp(w->room, w->bob, PAL_MEDIA_PC_SUBSCRIBE, fb, fl, w->now_ms);
        }
    }
}

/* Padding (a bandwidth probe) between temporal drops: our numbering is one
 * mapping for both. The subscriber sees no hole (drops close over, padding
 * takes numbers); a NACK of any packet sent gets that packet, before,
 * between and after the padding and the drops; a NACK of a padding packet
 * gets nothing. */
static void nack_across_drops_and_padding(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(false);
    struct pal_bwe *bwe;
    assert_int_equal(pal_bwe_create(NULL, &bwe), 0);
    pal_consumer_set_bwe(f->c, bwe);
    f->rec.check = true;
    keyframe(f, 0);
    pal_consumer_set_max_temporal(f->c, 0);
    for (int i = 0; i < 8; i++) /* TL0 only: 6 of 8 frames dropped */
        next_frame(f, 0, 2);
    uint16_t pad_first = (uint16_t)(last_out(f)->seq + 1);
    assert_int_equal(pal_consumer_send_padding(f->c, 600, 2000000), 600); /* 255 + 255 + 90 */
    assert_int_equal(f->rec.padding, 3);
    for (int i = 0; i < 8; i++)
        next_frame(f, 0, 2);
    pal_consumer_set_max_temporal(f->c, PAL_CONSUMER_TEMPORAL_ALL);
    assert_int_equal(pal_consumer_send_padding(f->c, 100, 2100000), 100);
    for (int i = 0; i < 16; i++) /* every layer back from a sync frame on */
        next_frame(f, 0, 2);
    assert_int_equal(f->rec.padding, 4);
    size_t sent = f->rec.n;
    assert_true(sent > 20 && sent < MAX_OUT);
    f->rec.check = false; /* retransmissions go back in the numbering */
    for (size_t i = 0; i < sent; i++) {
        struct out o = f->rec.o[i];
        assert_int_equal(pal_consumer_retransmit(f->c, o.seq, (uint8_t[PAL_MEDIA_SCRATCH]){0},
                                                 PAL_MEDIA_SCRATCH, f->now_ms), 0);
        const struct out *r = last_out(f);
        assert_int_equal(r->seq, o.seq);
        assert_int_equal(r->tag, o.tag);
        assert_int_equal(r->pic, o.pic);
        f->rec.n = sent; /* the retransmission is not one of the originals */
    }
    for (uint16_t k = 0; k < 3; k++)
        assert_int_equal(pal_consumer_retransmit(f->c, (uint16_t)(pad_first + k),
                                                 (uint8_t[PAL_MEDIA_SCRATCH]){0},
                                                 PAL_MEDIA_SCRATCH, f->now_ms),
                         -ENOENT);
    fixture_destroy(f);
    pal_bwe_destroy(bwe);
}

/* Bob's link loses half of what he gets: his estimate is cut below what f
 * needs; f goes on at TL0 from the next frame, without waiting for a
 * keyframe (a layer switch would). A clean link again: every temporal
 * layer back. */
static void congestion_drops_to_tl0_then_restores(void **state)
{
    (void)state;
    struct world *w = calloc(1, sizeof(*w));
    assert_int_equal(pal_room_create("tl", NULL, &w->room), 0);
    assert_int_equal(pal_room_peer_add(w->room, "alice", &w->alice), 0);
    assert_int_equal(pal_room_peer_add(w->room, "bob", &w->bob), 0);
    struct pal_media_sink sink = {.ctx = w, .send_rtp = world_rtp, .send_rtcp = rec_rtcp};
    pal_room_set_sink(w->alice, PAL_MEDIA_PC_PUBLISH, &sink);
    pal_room_set_sink(w->bob, PAL_MEDIA_PC_SUBSCRIBE, &sink);
    pal_room_sink_ready(w->room, w->alice, PAL_MEDIA_PC_PUBLISH, 0);
    struct pal_media_track v = {.kind = PAL_MEDIA_VIDEO, .payload_type = PT, .clock_rate = 90000,
                                .ext_twcc = EXT_TWCC_PUB, .ext_rid = EXT_RID, .n_layers = 2};
    strcpy(v.mid, "1");
    strcpy(v.rids[0], "q"), strcpy(v.rids[1], "f");
    assert_int_equal(pal_room_producer_add(w->room, w->alice, &v, 0), 0);
    struct pal_media_track s = {.kind = PAL_MEDIA_VIDEO, .payload_type = 100, .clock_rate = 90000,
                                .ssrc = 0x5555, .ext_twcc = EXT_TWCC_SUB};
    strcpy(s.mid, "v0");
    assert_int_equal(pal_room_consumer_add(w->room, w->bob, "alice", "1", &s, 0), 0);
    pal_room_sink_ready(w->room, w->bob, PAL_MEDIA_PC_SUBSCRIBE, 0);
    assert_int_equal(pal_twcc_create(1, 0x5555, &w->rx), 0);
    w->now_ms = 1000;
    w->seq[0] = 65000, w->seq[1] = 100, w->pic[1] = 32000;

    /* a clean link: f, every temporal layer */
    world_run(w, 5200); /* to 200 ms after a keyframe */
    assert_int_equal(w->now_ms % 2000, 200);
    assert_true(w->by_tid[1][1] > 0 && w->by_tid[1][2] > 0);
    struct pal_room_stats st;
    pal_room_get_stats(w->room, &st);
    assert_int_equal(st.temporal_drops, 0);

    /* half lost for 800 ms: the estimate is cut below 75 % of what bob is
     * sent; then, up to the next keyframe, f at TL0 */
    w->loss_every = 2;
    world_run(w, 800);
    memset(w->by_tid, 0, sizeof(w->by_tid));
    world_run(w, 900);
    assert_true(w->now_ms % 2000 < 2000 - 20);
    assert_true(w->by_tid[1][0] > 0);
    assert_int_equal(w->by_tid[1][1] + w->by_tid[1][2], 0);
    pal_room_get_stats(w->room, &st);
    assert_int_equal(st.temporal_drops, 1);

    /* the link heals: no cut for 2 s, every temporal layer back (of
     * whichever layer the allocator forwards by then) */
    w->loss_every = 0;
    world_run(w, 4000);
    memset(w->by_tid, 0, sizeof(w->by_tid));
    world_run(w, 1000);
    assert_true(w->by_tid[0][1] + w->by_tid[1][1] > 0 && w->by_tid[0][2] + w->by_tid[1][2] > 0);

    pal_twcc_destroy(w->rx);
    pal_room_destroy(w->room);
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_filter_forwards_every_layer),
        cmocka_unit_test(filter_drops_higher_tids),
        cmocka_unit_test(down_waits_for_the_frame_end),
        cmocka_unit_test(up_only_at_layer_sync),
        cmocka_unit_test(continuous_across_wraps),
        cmocka_unit_test(nack_and_late_packets_after_drops),
        cmocka_unit_test(lost_frame_between_drops_keeps_its_place),
        cmocka_unit_test(spatial_switch_after_temporal_drops),
        cmocka_unit_test(congestion_drops_to_tl0_then_restores),
        cmocka_unit_test(nack_across_drops_and_padding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
