/* Simulcast: rid lookup, layer choice from the view, and the router with a
 * three-layer publisher (in-memory sinks): layers learnt from the rid
 * extension, one layer forwarded per subscriber, switches only on a keyframe
 * of the target (asked by PLI to that layer's SSRC), sequence numbers,
 * timestamps, VP8 picture id and TL0PICIDX continuous across switches and
 * wraps, a hidden view gets nothing and resumes without a gap, and the SDP
 * side: a=rid / a=simulcast read into ordered layers and answered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/common.h"
#include "palabre/room.h"
#include "palabre/rtcp.h"
#include "rtcp_count.h"
#include "palabre/rtp.h"
#include "palabre/sdp_simulcast.h"
#include "palabre/simulcast.h"
#include "palabre/twcc.h"
#include "palabre/vp8.h"

#define MAX_SENT 512
#define EXT_RID 10

struct rec {
    int n_rtp, n_rtcp;
    uint8_t rtp[MAX_SENT][200];
    size_t rtp_len[MAX_SENT];
    uint8_t rtcp[64][1600];
    size_t rtcp_len[64];
};

static int rec_rtp(void *ctx, const uint8_t *hdr, size_t hdr_len, const uint8_t *body,
                   size_t body_len)
{
    struct rec *r = ctx;
    assert_true(hdr_len + body_len <= sizeof(r->rtp[0]));
    if (r->n_rtp < MAX_SENT) {
        memcpy(r->rtp[r->n_rtp], hdr, hdr_len);
        memcpy(r->rtp[r->n_rtp] + hdr_len, body, body_len);
        r->rtp_len[r->n_rtp++] = hdr_len + body_len;
    }
    return 0;
}

static int rec_rtcp(void *ctx, uint8_t *buf, size_t len, size_t cap)
{
    struct rec *r = ctx;
    (void)cap;
    if (r->n_rtcp < 64) {
        memcpy(r->rtcp[r->n_rtcp], buf, len);
        r->rtcp_len[r->n_rtcp++] = len;
    }
    return 0;
}

static const uint32_t SSRC[3] = {0xA0, 0xB0, 0xC0};
static const char *const RID[3] = {"q", "h", "f"};

struct fixture {
    struct pal_room *room;
    struct pal_room_peer *alice, *bob;
    struct rec alice_pub, bob_sub;
    /* per layer: the publisher's own numbering (each layer its own) */
    uint16_t seq[3];
    uint32_t ts[3];
    uint16_t pic[3];
    uint8_t tl0[3];
};

static void attach(struct pal_room_peer *p, enum pal_media_pc pc, struct rec *rec)
{
    struct pal_media_sink s = {.ctx = rec, .send_rtp = rec_rtp, .send_rtcp = rec_rtcp};
    pal_room_set_sink(p, pc, &s);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_int_equal(pal_room_create("demo", NULL, &f->room), 0);
    assert_int_equal(pal_room_peer_add(f->room, "alice", &f->alice), 0);
    assert_int_equal(pal_room_peer_add(f->room, "bob", &f->bob), 0);
    attach(f->alice, PAL_MEDIA_PC_PUBLISH, &f->alice_pub);
    attach(f->bob, PAL_MEDIA_PC_SUBSCRIBE, &f->bob_sub);
    pal_room_sink_ready(f->room, f->alice, PAL_MEDIA_PC_PUBLISH, 0);
    struct pal_media_track v = {.kind = PAL_MEDIA_VIDEO, .payload_type = 96,
                                .clock_rate = 90000, .ext_rid = EXT_RID, .n_layers = 3};
    strcpy(v.mid, "1");
    for (int i = 0; i < 3; i++)
        strcpy(v.rids[i], RID[i]);
    assert_int_equal(pal_room_producer_add(f->room, f->alice, &v, 0), 0);
    struct pal_media_track s = {.kind = PAL_MEDIA_VIDEO, .payload_type = 100,
                                .clock_rate = 90000, .ssrc = 0x5555};
    strcpy(s.mid, "v0");
    assert_int_equal(pal_room_consumer_add(f->room, f->bob, "alice", "1", &s, 0), 0);
    pal_room_sink_ready(f->room, f->bob, PAL_MEDIA_PC_SUBSCRIBE, 0);
    /* Layers far apart in every counter, near their wraps. */
    f->seq[0] = 65530, f->seq[1] = 100, f->seq[2] = 30000;
    f->ts[0] = 0xFFFFFF00u, f->ts[1] = 5000, f->ts[2] = 0x80000000u;
    f->pic[0] = 32765, f->pic[1] = 7, f->pic[2] = 20000;
    f->tl0[0] = 254, f->tl0[1] = 3, f->tl0[2] = 100;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    pal_room_destroy(f->room);
    free(f);
    return 0;
}

/* One packet (= one frame) of layer l: rid extension, VP8 descriptor with a
 * 15-bit picture id and TL0PICIDX, a keyframe header of the layer's size. */
static bool with_rid = true; /* browsers stop sending it once we reported the stream */

static void feed(struct fixture *f, int l, bool keyframe, int64_t now)
{
    struct pal_rtp_header h = {.payload_type = 96, .seq = f->seq[l], .timestamp = f->ts[l],
                               .ssrc = SSRC[l], .marker = true, .n_ext = with_rid ? 1 : 0};
    h.ext[0].id = EXT_RID;
    h.ext[0].len = 1;
    h.ext[0].data[0] = (uint8_t)RID[l][0];
    uint8_t p[40] = {0};
    p[0] = 0x90;                                       /* X, S=1, PID=0 */
    p[1] = 0xC0;                                       /* I, L */
    p[2] = (uint8_t)(0x80 | (f->pic[l] >> 8)), p[3] = (uint8_t)f->pic[l];
    p[4] = f->tl0[l];
    p[5] = keyframe ? 0x00 : 0x01;                     /* P bit */
    p[8] = 0x9d, p[9] = 0x01, p[10] = 0x2a;
    uint16_t w = (uint16_t)(320 << l), hh = (uint16_t)(180 << l);
    p[11] = (uint8_t)w, p[12] = (uint8_t)(w >> 8), p[13] = (uint8_t)hh, p[14] = (uint8_t)(hh >> 8);
    uint8_t buf[200];
    size_t len;
    assert_int_equal(pal_rtp_write(&h, p, sizeof(p), buf, sizeof(buf), &len), 0);
    struct pal_rtp_packet hdr;
    assert_int_equal(pal_rtp_parse(&hdr, buf, len, NULL), 0);
    assert_non_null(pal_room_peer_accept_rtp(f->alice, &hdr));
    pal_room_on_rtp(f->room, f->alice, buf, len, now);
    f->seq[l]++;
    f->ts[l] += 3000;
    f->pic[l] = (uint16_t)((f->pic[l] + 1) & 0x7fff);
    f->tl0[l]++;
}

/* One frame of every layer at time now. */
static void frame_all(struct fixture *f, bool keyframe, int64_t now)
{
    for (int l = 0; l < 3; l++)
        feed(f, l, keyframe, now);
}

struct out {
    uint16_t seq;
    uint32_t ts, ssrc;
    uint16_t pic, width;
    uint8_t tl0;
};

static struct out sent(const struct rec *r, int i)
{
    struct pal_rtp_packet pkt;
    uint8_t buf[200];
    memcpy(buf, r->rtp[i], r->rtp_len[i]);
    assert_int_equal(pal_rtp_parse(&pkt, buf, r->rtp_len[i], NULL), 0);
    struct pal_vp8_desc d;
    assert_int_equal(pal_vp8_parse(pal_rtp_payload(&pkt), pkt.payload_len, &d, NULL), 0);
    struct out o = {pkt.seq, pkt.timestamp, pkt.ssrc, d.picture_id, d.width, d.tl0picidx};
    return o;
}

/* Every packet bob got continues the one before: seq +1, picture id +1
 * (mod 2^15), TL0PICIDX +1 (mod 2^8), timestamp forward. */
static void assert_continuous(const struct rec *r)
{
    for (int i = 1; i < r->n_rtp; i++) {
        struct out a = sent(r, i - 1), b = sent(r, i);
        assert_int_equal(b.ssrc, 0x5555);
        assert_int_equal((uint16_t)(b.seq - a.seq), 1);
        assert_int_equal((b.pic - a.pic) & 0x7fff, 1);
        assert_int_equal((uint8_t)(b.tl0 - a.tl0), 1);
        assert_true(pal_ts_newer(b.ts, a.ts));
    }
}

static int count_pli(const struct rec *r, uint32_t media_ssrc)
{
    return count_plis_in(r->rtcp[0], sizeof(r->rtcp[0]), r->rtcp_len, r->n_rtcp, media_ssrc);
}

static void test_rid_layer(void **state)
{
    (void)state;
    struct pal_media_track t = {.kind = PAL_MEDIA_VIDEO, .n_layers = 3};
    strcpy(t.rids[0], "q"), strcpy(t.rids[1], "h"), strcpy(t.rids[2], "f");
    assert_int_equal(pal_simulcast_rid_layer(&t, (const uint8_t *)"h", 1), 1);
    assert_int_equal(pal_simulcast_rid_layer(&t, (const uint8_t *)"f", 1), 2);
    assert_int_equal(pal_simulcast_rid_layer(&t, (const uint8_t *)"ff", 2), -1);
    assert_int_equal(pal_simulcast_rid_layer(&t, (const uint8_t *)"x", 1), -1);
    assert_int_equal(pal_simulcast_rid_layer(&t, NULL, 0), -1);
}

static void test_choose(void **state)
{
    (void)state;
    struct pal_simulcast_layer l[3] = {{320, 180, true}, {640, 360, true}, {1280, 720, true}};
    struct pal_media_view v = {160, 90, true};
    assert_int_equal(pal_simulcast_choose(l, 3, &v), 0);
    v = (struct pal_media_view){320, 180, true};
    assert_int_equal(pal_simulcast_choose(l, 3, &v), 0);
    v = (struct pal_media_view){321, 100, true};
    assert_int_equal(pal_simulcast_choose(l, 3, &v), 1);
    v = (struct pal_media_view){1920, 1080, true};
    assert_int_equal(pal_simulcast_choose(l, 3, &v), 2); /* nothing fills: the largest */
    v.visible = false;
    assert_int_equal(pal_simulcast_choose(l, 3, &v), -1);
    /* the top layer stopped (the publisher's uplink): the largest active */
    l[2].active = false;
    v = (struct pal_media_view){1280, 720, true};
    assert_int_equal(pal_simulcast_choose(l, 3, &v), 1);
    /* unknown sizes: estimated from the known one, x2 per step */
    struct pal_simulcast_layer u[3] = {{0, 0, true}, {0, 0, true}, {960, 540, true}};
    v = (struct pal_media_view){240, 135, true};
    assert_int_equal(pal_simulcast_choose(u, 3, &v), 0);
    v = (struct pal_media_view){480, 270, true};
    assert_int_equal(pal_simulcast_choose(u, 3, &v), 1);
}

/* No view: the top layer; a small view: the low one, switched on its
 * keyframe after a PLI to its SSRC; back to full; continuity throughout. */
static void test_switch_continuity(void **state)
{
    struct fixture *f = *state;
    int64_t now = 10;
    frame_all(f, true, now); /* layers and sizes learnt */
    assert_int_equal(f->bob_sub.n_rtp, 1);
    assert_int_equal(sent(&f->bob_sub, 0).width, 1280);
    for (int i = 0; i < 5; i++)
        frame_all(f, false, now += 33);
    assert_int_equal(f->bob_sub.n_rtp, 6);

    struct pal_media_view small = {160, 90, true};
    int plis = count_pli(&f->alice_pub, SSRC[0]);
    assert_int_equal(pal_room_set_view(f->room, f->bob, "alice", "1", &small, now += 33), 0);
    assert_int_equal(count_pli(&f->alice_pub, SSRC[0]), plis + 1);
    /* until q's keyframe, f goes on */
    for (int i = 0; i < 3; i++)
        frame_all(f, false, now += 33);
    assert_int_equal(f->bob_sub.n_rtp, 9);
    feed(f, 0, true, now += 33); /* q keyframe: the switch */
    feed(f, 2, false, now);      /* f no longer */
    assert_int_equal(f->bob_sub.n_rtp, 10);
    assert_int_equal(sent(&f->bob_sub, 9).width, 320);
    for (int i = 0; i < 300; i++) /* past q's seq, ts, picture id and TL0 wraps */
        frame_all(f, false, now += 33);
    assert_int_equal(f->bob_sub.n_rtp, 310);

    struct pal_media_view big = {1280, 720, true};
    assert_int_equal(pal_room_set_view(f->room, f->bob, "alice", "1", &big, now += 33), 0);
    feed(f, 1, true, now += 33); /* h keyframe: not the target */
    feed(f, 2, true, now);       /* f keyframe */
    assert_int_equal(f->bob_sub.n_rtp, 311);
    assert_int_equal(sent(&f->bob_sub, 310).width, 1280);
    assert_continuous(&f->bob_sub);
    struct pal_room_stats st;
    pal_room_get_stats(f->room, &st);
    assert_int_equal(st.layer_switches, 2);
}

/* Hidden: nothing at once; visible again: from a keyframe, no seq gap. */
static void test_hidden_gets_nothing(void **state)
{
    struct fixture *f = *state;
    int64_t now = 10;
    frame_all(f, true, now);
    frame_all(f, false, now += 33);
    assert_int_equal(f->bob_sub.n_rtp, 2);
    struct pal_media_view hidden = {320, 180, false};
    assert_int_equal(pal_room_set_view(f->room, f->bob, "alice", "1", &hidden, now), 0);
    for (int i = 0; i < 20; i++)
        frame_all(f, i == 10, now += 33);
    assert_int_equal(f->bob_sub.n_rtp, 2);
    struct pal_room_stats st;
    pal_room_get_stats(f->room, &st);
    assert_int_equal(st.paused_tracks, 1);
    struct pal_media_view shown = {320, 180, true};
    assert_int_equal(pal_room_set_view(f->room, f->bob, "alice", "1", &shown, now += 33), 0);
    frame_all(f, false, now += 33);
    assert_int_equal(f->bob_sub.n_rtp, 2);
    feed(f, 0, true, now += 33);
    assert_int_equal(f->bob_sub.n_rtp, 3);
    assert_continuous(&f->bob_sub);
    /* an unknown track */
    assert_int_equal(pal_room_set_view(f->room, f->bob, "alice", "9", &shown, now), -ENOENT);
}

/* A NACK after a switch is answered from the current layer's ring, with the
 * same rewritten bytes as the original. */
static void test_nack_after_switch(void **state)
{
    struct fixture *f = *state;
    int64_t now = 10;
    frame_all(f, true, now);
    struct pal_media_view small = {160, 90, true};
    pal_room_set_view(f->room, f->bob, "alice", "1", &small, now);
    feed(f, 0, true, now += 33);
    frame_all(f, false, now += 33);
    int n = f->bob_sub.n_rtp;
    assert_int_equal(n, 3);
    struct out last = sent(&f->bob_sub, n - 1);
    uint8_t nack[64];
    size_t len;
    assert_int_equal(pal_rtcp_write_nack(nack, sizeof(nack), &len, 1, 0x5555, &last.seq, 1), 0);
    pal_room_on_rtcp(f->room, f->bob, PAL_MEDIA_PC_SUBSCRIBE, nack, len, now);
    assert_int_equal(f->bob_sub.n_rtp, n + 1);
    assert_int_equal(f->bob_sub.rtp_len[n], f->bob_sub.rtp_len[n - 1]);
    assert_memory_equal(f->bob_sub.rtp[n], f->bob_sub.rtp[n - 1], f->bob_sub.rtp_len[n]);
}

/* A renegotiation (publish again: ICE restart, screen share added) keeps the
 * SSRCs learnt: the browser sends no rid extension any more. */
static void test_renegotiation_keeps_layers(void **state)
{
    struct fixture *f = *state;
    int64_t now = 10;
    with_rid = true;
    frame_all(f, true, now);
    assert_int_equal(f->bob_sub.n_rtp, 1);
    with_rid = false;
    struct pal_media_track v = {.kind = PAL_MEDIA_VIDEO, .payload_type = 96,
                                .clock_rate = 90000, .ext_rid = EXT_RID, .n_layers = 3};
    strcpy(v.mid, "1");
    for (int i = 0; i < 3; i++)
        strcpy(v.rids[i], RID[i]);
    assert_int_equal(pal_room_producer_add(f->room, f->alice, &v, now), 0);
    frame_all(f, true, now += 33);
    frame_all(f, false, now += 33);
    with_rid = true;
    assert_int_equal(f->bob_sub.n_rtp, 3);
    assert_continuous(&f->bob_sub);
}

/* A header naming a flowing layer with another SSRC (forged: learnt before
 * SRTP authenticates it) is refused; after a second of silence the layer
 * takes its new SSRC (the browser restarted that encoder). */
static void test_layer_ssrc_not_taken_over(void **state)
{
    struct fixture *f = *state;
    int64_t now = pal_now_ms();
    frame_all(f, true, now);
    struct pal_rtp_header h = {.payload_type = 96, .seq = 1, .timestamp = 1, .ssrc = 0xBAD,
                               .n_ext = 1};
    h.ext[0].id = EXT_RID;
    h.ext[0].len = 1;
    h.ext[0].data[0] = 'q';
    uint8_t p[20] = {0x10, 0x01}, buf[100];
    size_t len;
    assert_int_equal(pal_rtp_write(&h, p, sizeof(p), buf, sizeof(buf), &len), 0);
    struct pal_rtp_packet hdr;
    assert_int_equal(pal_rtp_parse(&hdr, buf, len, NULL), 0);
    assert_null(pal_room_peer_accept_rtp(f->alice, &hdr));
    /* q silent for 2 s (its last packet that long ago): the new SSRC is q */
    teardown(state);
    setup(state);
    f = *state;
    feed(f, 0, true, pal_now_ms() - 2000);
    assert_non_null(pal_room_peer_accept_rtp(f->alice, &hdr));
}

/* Packets forwarded to a subscriber carry our transport-wide sequence
 * numbers (one numbering per subscribe PC, whatever the track), and its
 * transport-cc feedback gives it a bandwidth estimate. */
static void test_transport_wide_numbering(void **state)
{
    (void)state;
    struct pal_room *room;
    struct pal_room_peer *pub, *sub;
    struct rec *pub_rec = calloc(1, sizeof(*pub_rec)), *sub_rec = calloc(1, sizeof(*sub_rec));
    assert_int_equal(pal_room_create("tw", NULL, &room), 0);
    pal_room_peer_add(room, "pub", &pub);
    pal_room_peer_add(room, "sub", &sub);
    attach(pub, PAL_MEDIA_PC_PUBLISH, pub_rec);
    attach(sub, PAL_MEDIA_PC_SUBSCRIBE, sub_rec);
    struct pal_media_track a = {.mid = "0", .kind = PAL_MEDIA_AUDIO, .payload_type = 111,
                                .clock_rate = 48000, .ssrc = 0xA, .ext_twcc = 3};
    struct pal_media_track ca = a;
    assert_int_equal(pal_room_producer_add(room, pub, &a, 0), 0);
    ca.ssrc = 0xCA;
    ca.ext_twcc = 5; /* the subscribe PC's id */
    strcpy(ca.mid, "a");
    assert_int_equal(pal_room_consumer_add(room, sub, "pub", "0", &ca, 0), 0);
    pal_room_sink_ready(room, sub, PAL_MEDIA_PC_SUBSCRIBE, 0);
    struct pal_twcc *rx;
    assert_int_equal(pal_twcc_create(1, 0xCA, &rx), 0);
    for (int i = 0; i < 20; i++) {
        struct pal_rtp_header h = {.payload_type = 111, .seq = (uint16_t)(500 + i),
                                   .timestamp = (uint32_t)(960 * i), .ssrc = 0xA, .n_ext = 1};
        h.ext[0].id = 3; /* the publisher's transport-wide numbering */
        h.ext[0].len = 2;
        h.ext[0].data[0] = 0x77, h.ext[0].data[1] = (uint8_t)(0x10 + i);
        uint8_t pl[60] = {0xfc}, buf[200];
        size_t len;
        assert_int_equal(pal_rtp_write(&h, pl, sizeof(pl), buf, sizeof(buf), &len), 0);
        pal_room_on_rtp(room, pub, buf, len, 20 * i);
        struct pal_rtp_packet out;
        assert_int_equal(pal_rtp_parse(&out, sub_rec->rtp[i], sub_rec->rtp_len[i], NULL), 0);
        size_t el;
        const uint8_t *tw = pal_rtp_ext_find(&out, 5, &el);
        assert_non_null(tw);
        assert_int_equal(el, 2);
        assert_int_equal(pal_rd16(tw), i); /* ours, from 0, not the publisher's */
        pal_twcc_on_packet(rx, pal_rd16(tw), (int64_t)(20 * i) * 1000 + 30000);
    }
    struct pal_room_stats st;
    pal_room_get_stats(room, &st);
    assert_int_equal(st.bwe_subscribers, 0); /* no feedback yet */
    uint8_t fb[1200];
    size_t fl;
    assert_int_equal(pal_twcc_build(rx, fb, sizeof(fb), &fl), 0);
    pal_room_on_rtcp(room, sub, PAL_MEDIA_PC_SUBSCRIBE, fb, fl, 400);
    pal_room_get_stats(room, &st);
    assert_int_equal(st.bwe_subscribers, 1);
    assert_true(st.bwe_min_bps > 0 && st.bwe_sum_bps == st.bwe_min_bps);
    pal_twcc_destroy(rx);
    pal_room_destroy(room);
    free(pub_rec);
    free(sub_rec);
}

static void test_sdp_layers(void **state)
{
    (void)state;
    struct pal_sdp_media *m = calloc(1, sizeof(*m));
    char rids[3][PAL_MEDIA_RID_MAX];
    strcpy(m->rids[0], "f send");
    strcpy(m->rids[1], "h send max-width=640");
    strcpy(m->rids[2], "q send");
    m->n_rids = 3;
    strcpy(m->simulcast, "send f;h;~q");
    assert_int_equal(pal_sdp_simulcast_layers(m, PAL_SDP_DIR_SENDONLY, rids, 3, NULL), 3);
    assert_string_equal(rids[0], "q"); /* lowest first */
    assert_string_equal(rids[2], "f");
    assert_int_equal(pal_sdp_simulcast_layers(m, PAL_SDP_DIR_RECVONLY, rids, 3, NULL), 0);
    struct pal_sdp_media *am = calloc(1, sizeof(*am));
    pal_sdp_simulcast_layers(m, PAL_SDP_DIR_SENDONLY, rids, 3, NULL);
    pal_sdp_simulcast_answer(am, rids, 3);
    assert_int_equal(am->n_rids, 3);
    assert_string_equal(am->rids[0], "q recv");
    assert_string_equal(am->simulcast, "recv q;h;f");
    assert_int_equal(pal_sdp_simulcast_layers(am, PAL_SDP_DIR_RECVONLY, rids, 3, NULL), 3);
    /* alternatives: the first one; more than cap: the first cap */
    strcpy(m->simulcast, "send a,b;h;q;f");
    strcpy(m->rids[0], "a send");
    strcpy(m->rids[3], "f send");
    m->n_rids = 4;
    assert_int_equal(pal_sdp_simulcast_layers(m, PAL_SDP_DIR_SENDONLY, rids, 3, NULL), 3);
    assert_string_equal(rids[0], "a"); /* not all of q/h/f: the offer's order */
    assert_string_equal(rids[1], "h");
    /* errors */
    struct pal_sdp_error err = {0};
    strcpy(m->simulcast, "send q;x");
    assert_int_equal(pal_sdp_simulcast_layers(m, PAL_SDP_DIR_SENDONLY, rids, 3, &err), -EINVAL);
    assert_non_null(strstr(err.message, "'x'"));
    strcpy(m->simulcast, "send q;q");
    assert_int_equal(pal_sdp_simulcast_layers(m, PAL_SDP_DIR_SENDONLY, rids, 3, &err), -EINVAL);
    strcpy(m->simulcast, "sendq");
    assert_int_equal(pal_sdp_simulcast_layers(m, PAL_SDP_DIR_SENDONLY, rids, 3, &err), -EINVAL);
    strcpy(m->simulcast, "send q;;h");
    assert_int_equal(pal_sdp_simulcast_layers(m, PAL_SDP_DIR_SENDONLY, rids, 3, &err), -EINVAL);
    strcpy(m->simulcast, "send q");
    strcpy(m->rids[2], "q sideways");
    assert_int_equal(pal_sdp_simulcast_layers(m, PAL_SDP_DIR_SENDONLY, rids, 3, &err), -EINVAL);
    strcpy(m->rids[2], "q send");
    strcpy(m->simulcast, "send abcdefghijklmnopq");
    assert_int_equal(pal_sdp_simulcast_layers(m, PAL_SDP_DIR_SENDONLY, rids, 3, &err), -EINVAL);
    free(m);
    free(am);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rid_layer),
        cmocka_unit_test(test_choose),
        cmocka_unit_test_setup_teardown(test_switch_continuity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hidden_gets_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nack_after_switch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renegotiation_keeps_layers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layer_ssrc_not_taken_over, setup, teardown),
        cmocka_unit_test(test_transport_wide_numbering),
        cmocka_unit_test(test_sdp_layers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
