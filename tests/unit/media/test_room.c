/* The router without network: peers with in-memory sinks that record what
 * would have been protected and sent. Fan-out, SSRC/seq/ts rewrite,
 * keyframe request on subscriber join, keyframe gating, NACK answered from
 * the ring, NACK/RR/SR generation, active speaker, resources freed on leave
 * (LeakSanitizer checks the last part in the ASan build), a moderator's hard
 * mute (nothing forwarded, counters, future tracks, resume). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "palabre/room.h"
#include "palabre/rtcp.h"
#include "rtcp_count.h"
#include "palabre/rtp.h"
#include "palabre/rtx_buffer.h"

#define MAX_SENT 256

struct rec {
    int n_rtp, n_rtcp;
    uint8_t rtp[MAX_SENT][1600];
    size_t rtp_len[MAX_SENT];
    uint8_t rtcp[MAX_SENT][1600];
    size_t rtcp_len[MAX_SENT];
};

static int rec_rtp(void *ctx, const uint8_t *hdr, size_t hdr_len, const uint8_t *body,
                   size_t body_len)
{
    struct rec *r = ctx;
    assert_true(hdr_len >= 12 && hdr_len + body_len <= sizeof(r->rtp[0]));
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
    assert_true(cap >= len + 16);
    if (r->n_rtcp < MAX_SENT) {
        memcpy(r->rtcp[r->n_rtcp], buf, len);
        r->rtcp_len[r->n_rtcp++] = len;
    }
    return 0;
}

/* Per test: alice publishes audio+video, bob and carol subscribe. */
struct fixture {
    struct pal_room *room;
    struct pal_room_peer *alice, *bob, *carol;
    struct rec alice_pub, bob_sub, carol_sub, bob_pub, carol_pub, alice_sub;
    char speaker[PAL_MEDIA_ID_MAX];
    int n_speaker_events;
    int n_kf_events;
};

static void on_speaker(void *ctx, const char *room, const char *pid)
{
    struct fixture *f = ctx;
    (void)room;
    snprintf(f->speaker, sizeof(f->speaker), "%s", pid);
    f->n_speaker_events++;
}

static void on_kf(void *ctx, const char *room, const char *pid)
{
    struct fixture *f = ctx;
    (void)room;
    (void)pid;
    f->n_kf_events++;
}

static void attach(struct pal_room_peer *p, enum pal_media_pc pc, struct rec *rec)
{
    struct pal_media_sink s = {.ctx = rec, .send_rtp = rec_rtp, .send_rtcp = rec_rtcp};
    pal_room_set_sink(p, pc, &s);
}

/* A retransmission equals the original (same numbering, same bytes) but
 * for its transport-wide sequence number: each datagram sent gets its own
 * (the subscriber's transport-cc feedback counts sends, not packets). */
static void assert_resent(const struct rec *r, int resent, int orig)
{
    assert_int_equal(r->rtp_len[resent], r->rtp_len[orig]);
    uint8_t a[sizeof(r->rtp[0])], b[sizeof(r->rtp[0])];
    memcpy(a, r->rtp[resent], r->rtp_len[resent]);
    memcpy(b, r->rtp[orig], r->rtp_len[orig]);
    struct pal_rtp_packet pa, pb;
    assert_int_equal(pal_rtp_parse(&pa, a, r->rtp_len[resent], NULL), 0);
    assert_int_equal(pal_rtp_parse(&pb, b, r->rtp_len[orig], NULL), 0);
    size_t la, lb;
    uint8_t *ta = (uint8_t *)pal_rtp_ext_find(&pa, 3, &la), *tb = (uint8_t *)pal_rtp_ext_find(&pb, 3, &lb);
    assert_non_null(ta);
    assert_non_null(tb);
    assert_int_not_equal(pal_rd16(ta), pal_rd16(tb));
    memset(ta, 0, la);
    memset(tb, 0, lb);
    assert_memory_equal(a, b, r->rtp_len[orig]);
}

static struct pal_media_track track(const char *mid, enum pal_media_kind kind, uint32_t ssrc)
{
    struct pal_media_track t = {0};
    snprintf(t.mid, sizeof(t.mid), "%s", mid);
    t.kind = kind;
    t.payload_type = kind == PAL_MEDIA_AUDIO ? 111 : 96;
    t.clock_rate = kind == PAL_MEDIA_AUDIO ? 48000 : 90000;
    t.ssrc = ssrc;
    t.ext_audio_level = kind == PAL_MEDIA_AUDIO ? 1 : 0;
    t.ext_twcc = 3;
    return t;
}

static int setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    struct pal_room_listener l = {.ctx = &f, .on_room_active_speaker = on_speaker,
                                  .on_room_keyframe_request = on_kf};
    assert_int_equal(pal_room_create("demo", &l, &f.room), 0);
    assert_int_equal(pal_room_peer_add(f.room, "alice", &f.alice), 0);
    assert_int_equal(pal_room_peer_add(f.room, "bob", &f.bob), 0);
    assert_int_equal(pal_room_peer_add(f.room, "carol", &f.carol), 0);
    attach(f.alice, PAL_MEDIA_PC_PUBLISH, &f.alice_pub);
    attach(f.alice, PAL_MEDIA_PC_SUBSCRIBE, &f.alice_sub);
    attach(f.bob, PAL_MEDIA_PC_SUBSCRIBE, &f.bob_sub);
    attach(f.bob, PAL_MEDIA_PC_PUBLISH, &f.bob_pub);
    attach(f.carol, PAL_MEDIA_PC_SUBSCRIBE, &f.carol_sub);
    attach(f.carol, PAL_MEDIA_PC_PUBLISH, &f.carol_pub);
    pal_room_sink_ready(f.room, f.alice, PAL_MEDIA_PC_PUBLISH, 0);
    struct pal_media_track a = track("0", PAL_MEDIA_AUDIO, 0x1111);
    struct pal_media_track v = track("1", PAL_MEDIA_VIDEO, 0x2222);
    assert_int_equal(pal_room_producer_add(f.room, f.alice, &a, 0), 0);
    assert_int_equal(pal_room_producer_add(f.room, f.alice, &v, 0), 0);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    pal_room_destroy(f->room);
    return 0;
}

/* An RTP packet from alice: VP8 (keyframe or not) or Opus with a level. */
static size_t make_rtp(uint8_t *buf, uint32_t ssrc, uint16_t seq, uint32_t ts, bool video,
                       bool keyframe, uint8_t level)
{
    struct pal_rtp_header h = {.payload_type = video ? 96 : 111, .seq = seq, .timestamp = ts,
                               .ssrc = ssrc, .marker = true};
    h.n_ext = 2;
    h.ext[0].id = video ? 5 : 1; /* audio level for audio, an unknown id for video */
    h.ext[0].len = 1;
    h.ext[0].data[0] = level;
    h.ext[1].id = 3; /* transport-cc */
    h.ext[1].len = 2;
    h.ext[1].data[0] = (uint8_t)(seq >> 8);
    h.ext[1].data[1] = (uint8_t)seq;
    uint8_t payload[40] = {0};
    if (video) {
        payload[0] = 0x10;                /* S=1, PID=0 */
        payload[1] = keyframe ? 0x00 : 0x01; /* P bit: 0 = keyframe */
        payload[4] = 0x9d, payload[5] = 0x01, payload[6] = 0x2a; /* start code */
        payload[7] = 64, payload[9] = 48;
    } else {
        payload[0] = 0xfc;
    }
    size_t len;
    assert_int_equal(pal_rtp_write(&h, payload, sizeof(payload), buf, 1500, &len), 0);
    return len;
}

static void feed(struct fixture *f, uint32_t ssrc, uint16_t seq, uint32_t ts, bool video,
                 bool keyframe, uint8_t level, int64_t now)
{
    uint8_t buf[1600];
    size_t len = make_rtp(buf, ssrc, seq, ts, video, keyframe, level);
    struct pal_rtp_packet hdr;
    assert_int_equal(pal_rtp_parse(&hdr, buf, len, NULL), 0);
    assert_non_null(pal_room_peer_accept_rtp(f->alice, &hdr));
    pal_room_on_rtp(f->room, f->alice, buf, len, now);
}

static void subscribe(struct fixture *f, struct pal_room_peer *p, struct rec *sub,
                      uint32_t audio_ssrc, uint32_t video_ssrc, int64_t now)
{
    struct pal_media_track a = track("a0", PAL_MEDIA_AUDIO, audio_ssrc);
    struct pal_media_track v = track("v0", PAL_MEDIA_VIDEO, video_ssrc);
    a.payload_type = 109; /* a different PT in the subscribe PC */
    a.ext_audio_level = 4;
    v.payload_type = 100;
    assert_int_equal(pal_room_consumer_add(f->room, p, "alice", "0", &a, now), 0);
    assert_int_equal(pal_room_consumer_add(f->room, p, "alice", "1", &v, now), 0);
    (void)sub;
    pal_room_sink_ready(f->room, p, PAL_MEDIA_PC_SUBSCRIBE, now);
}

static int count_pli(const struct rec *r, uint32_t media_ssrc)
{
    return count_plis_in(r->rtcp[0], sizeof(r->rtcp[0]), r->rtcp_len, r->n_rtcp, media_ssrc);
}

static void test_fanout_and_rewrite(void **state)
{
    struct fixture *f = *state;
    subscribe(f, f->bob, &f->bob_sub, 0xB0B0A, 0xB0B0B, 0);
    subscribe(f, f->carol, &f->carol_sub, 0xCA0A, 0xCA0B, 0);
    /* audio flows at once */
    for (int i = 0; i < 5; i++)
        feed(f, 0x1111, (uint16_t)(65533 + i), 1000u + 960u * i, false, false, 30, 10 + i);
    assert_int_equal(f->bob_sub.n_rtp, 5);
    assert_int_equal(f->carol_sub.n_rtp, 5);
    uint16_t first = 0, first_tw = 0;
    for (int i = 0; i < 5; i++) {
        struct pal_rtp_packet p;
        assert_int_equal(pal_rtp_parse(&p, f->bob_sub.rtp[i], f->bob_sub.rtp_len[i], NULL), 0);
        assert_int_equal(p.ssrc, 0xB0B0A);
        assert_int_equal(p.payload_type, 109);
        if (i == 0) {
            first = p.seq;
            assert_true(first < 0x8000); /* our numbering starts below 2^15 */
        }
        assert_int_equal(p.seq, (uint16_t)(first + i)); /* contiguous across the input wrap */
        size_t el;
        const uint8_t *lv = pal_rtp_ext_find(&p, 4, &el);
        assert_non_null(lv); /* audio level remapped from id 1 to 4 */
        assert_int_equal(lv[0], 30);
        /* transport-cc: our numbering of what bob's PC sends, not the publisher's */
        const uint8_t *tw = pal_rtp_ext_find(&p, 3, &el);
        assert_non_null(tw);
        assert_int_equal(el, 2);
        if (i == 0)
            first_tw = pal_rd16(tw);
        assert_int_equal(pal_rd16(tw), (uint16_t)(first_tw + i));
        struct pal_rtp_packet q;
        assert_int_equal(pal_rtp_parse(&q, f->carol_sub.rtp[i], f->carol_sub.rtp_len[i], NULL), 0);
        assert_int_equal(q.ssrc, 0xCA0A);
        assert_int_equal(q.payload_len, 40);
        assert_memory_equal(pal_rtp_payload(&q), pal_rtp_payload(&p), 40);
    }
    /* timestamps keep their spacing */
    struct pal_rtp_packet p0, p4;
    pal_rtp_parse(&p0, f->bob_sub.rtp[0], f->bob_sub.rtp_len[0], NULL);
    pal_rtp_parse(&p4, f->bob_sub.rtp[4], f->bob_sub.rtp_len[4], NULL);
    assert_int_equal((uint32_t)(p4.timestamp - p0.timestamp), 4 * 960);
    /* the publisher's own subscribe sink got nothing */
    assert_int_equal(f->alice_sub.n_rtp, 0);
    struct pal_room_stats st;
    pal_room_get_stats(f->room, &st);
    assert_int_equal(st.rtp_in, 5);
    assert_int_equal(st.rtp_out, 10);
}

static void test_keyframe_on_join_and_gating(void **state)
{
    struct fixture *f = *state;
    /* video flows before anyone subscribes */
    feed(f, 0x2222, 100, 9000, true, true, 0, 1000);
    feed(f, 0x2222, 101, 12000, true, false, 0, 1033);
    assert_int_equal(count_pli(&f->alice_pub, 0x2222), 0);
    subscribe(f, f->bob, &f->bob_sub, 0xB0B0A, 0xB0B0B, 1050);
    /* bob joining asks alice for a keyframe at once */
    assert_int_equal(count_pli(&f->alice_pub, 0x2222), 1);
    assert_int_equal(f->n_kf_events, 1);
    /* carol joining right after is coalesced into the same request */
    subscribe(f, f->carol, &f->carol_sub, 0xCA0A, 0xCA0B, 1060);
    assert_int_equal(count_pli(&f->alice_pub, 0x2222), 1);
    /* delta frames are held back until the keyframe */
    feed(f, 0x2222, 102, 15000, true, false, 0, 1066);
    assert_int_equal(f->bob_sub.n_rtp, 0);
    feed(f, 0x2222, 103, 18000, true, true, 0, 1100);
    feed(f, 0x2222, 104, 21000, true, false, 0, 1133);
    assert_int_equal(f->bob_sub.n_rtp, 2);
    assert_int_equal(f->carol_sub.n_rtp, 2);
    struct pal_rtp_packet p;
    assert_int_equal(pal_rtp_parse(&p, f->bob_sub.rtp[0], f->bob_sub.rtp_len[0], NULL), 0);
    assert_int_equal(p.ssrc, 0xB0B0B);
    assert_int_equal(p.payload_type, 100);
    /* a subscriber's PLI goes through to the publisher after the throttle */
    uint8_t pli[64];
    size_t len;
    assert_int_equal(pal_rtcp_write_pli(pli, sizeof(pli), &len, 0x77, 0xCA0B), 0);
    pal_room_on_rtcp(f->room, f->carol, PAL_MEDIA_PC_SUBSCRIBE, pli, len, 1200);
    pal_room_tick(f->room, 2000);
    assert_int_equal(count_pli(&f->alice_pub, 0x2222), 2);
}

static void test_nack_answered_from_ring(void **state)
{
    struct fixture *f = *state;
    subscribe(f, f->bob, &f->bob_sub, 0xB0B0A, 0xB0B0B, 0);
    feed(f, 0x2222, 500, 9000, true, true, 0, 10);
    for (int i = 1; i < 10; i++)
        feed(f, 0x2222, (uint16_t)(500 + i), 9000u + 3000u * i, true, false, 0, 10 + i);
    assert_int_equal(f->bob_sub.n_rtp, 10);
    struct pal_rtp_packet p3, p7;
    pal_rtp_parse(&p3, f->bob_sub.rtp[3], f->bob_sub.rtp_len[3], NULL);
    pal_rtp_parse(&p7, f->bob_sub.rtp[7], f->bob_sub.rtp_len[7], NULL);
    uint16_t lost[3] = {p3.seq, p7.seq, (uint16_t)(p7.seq + 100)};
    uint8_t nack[64];
    size_t len;
    assert_int_equal(pal_rtcp_write_nack(nack, sizeof(nack), &len, 0x99, 0xB0B0B, lost, 3), 0);
    pal_room_on_rtcp(f->room, f->bob, PAL_MEDIA_PC_SUBSCRIBE, nack, len, 100);
    assert_int_equal(f->bob_sub.n_rtp, 12); /* two resent, the unknown one not */
    assert_int_equal(f->bob_sub.rtp_len[10], f->bob_sub.rtp_len[3]);
    assert_resent(&f->bob_sub, 10, 3);
    assert_resent(&f->bob_sub, 11, 7);
    struct pal_room_stats st;
    pal_room_get_stats(f->room, &st);
    assert_int_equal(st.nack_in, 3);
    assert_int_equal(st.retransmitted, 2);
}

static uint16_t seq_of(const struct rec *r, int i)
{
    struct pal_rtp_packet p;
    assert_int_equal(pal_rtp_parse(&p, (uint8_t *)r->rtp[i], r->rtp_len[i], NULL), 0);
    return p.seq;
}

static void nack(struct fixture *f, struct pal_room_peer *p, uint32_t media_ssrc, uint16_t seq,
                 int64_t now)
{
    uint8_t buf[64];
    size_t len;
    assert_int_equal(pal_rtcp_write_nack(buf, sizeof(buf), &len, 0x99, media_ssrc, &seq, 1), 0);
    pal_room_on_rtcp(f->room, p, PAL_MEDIA_PC_SUBSCRIBE, buf, len, now);
}

/* One ring per published stream serves every subscriber: each gets the
 * packet again in its own numbering, and only what it was sent. */
static void test_nack_shared_ring_per_subscriber(void **state)
{
    struct fixture *f = *state;
    subscribe(f, f->bob, &f->bob_sub, 0xB0B0A, 0xB0B0B, 0);
    feed(f, 0x2222, 500, 9000, true, true, 0, 10);
    for (int i = 1; i < 10; i++)
        feed(f, 0x2222, (uint16_t)(500 + i), 9000u + 3000u * i, true, false, 0, 10 + i);
    subscribe(f, f->carol, &f->carol_sub, 0xCA0A, 0xCA0B, 20);
    feed(f, 0x2222, 510, 39000, true, true, 0, 30);
    for (int i = 1; i < 5; i++)
        feed(f, 0x2222, (uint16_t)(510 + i), 39000u + 3000u * i, true, false, 0, 30 + i);
    assert_int_equal(f->bob_sub.n_rtp, 15);
    assert_int_equal(f->carol_sub.n_rtp, 5);

    nack(f, f->carol, 0xCA0B, seq_of(&f->carol_sub, 2), 40); /* source 512 */
    assert_int_equal(f->carol_sub.n_rtp, 6);
    assert_int_equal(f->carol_sub.rtp_len[5], f->carol_sub.rtp_len[2]);
    assert_resent(&f->carol_sub, 5, 2);
    /* source 505 is in the ring, but carol joined after it: not hers */
    nack(f, f->carol, 0xCA0B, (uint16_t)(seq_of(&f->carol_sub, 0) - 5), 41);
    assert_int_equal(f->carol_sub.n_rtp, 6);
    /* bob had it */
    nack(f, f->bob, 0xB0B0B, seq_of(&f->bob_sub, 5), 42);
    assert_int_equal(f->bob_sub.n_rtp, 16);
    assert_resent(&f->bob_sub, 15, 5);
    /* nothing is kept past its age (video: 2 s) */
    nack(f, f->bob, 0xB0B0B, seq_of(&f->bob_sub, 6), 10 + 6 + PAL_RTX_VIDEO_MAX_AGE_MS + 1);
    assert_int_equal(f->bob_sub.n_rtp, 16);
}

static void test_publisher_loss_gets_nack_and_reports(void **state)
{
    struct fixture *f = *state;
    subscribe(f, f->bob, &f->bob_sub, 0xB0B0A, 0xB0B0B, 0);
    feed(f, 0x2222, 10, 9000, true, true, 0, 10);
    feed(f, 0x2222, 11, 12000, true, false, 0, 20);
    feed(f, 0x2222, 14, 21000, true, false, 0, 30); /* 12 and 13 lost */
    f->alice_pub.n_rtcp = 0;
    pal_room_tick(f->room, 50);   /* NACK (20 ms timer) */
    pal_room_tick(f->room, 1500); /* RR, SR, transport-cc */
    bool nack_seen = false, rr_seen = false, twcc_seen = false;
    for (int i = 0; i < f->alice_pub.n_rtcp; i++) {
        struct pal_rtcp_iter it;
        struct pal_rtcp_packet pk;
        pal_rtcp_iter_init(&it, f->alice_pub.rtcp[i], f->alice_pub.rtcp_len[i]);
        while (pal_rtcp_next(&it, &pk, NULL) == 1) {
            if (pk.kind == PAL_RTCP_NACK) {
                uint16_t seqs[8];
                size_t n = pal_rtcp_nack_seqs(&pk, seqs, 8);
                assert_int_equal(n, 2);
                assert_int_equal(seqs[0], 12);
                assert_int_equal(seqs[1], 13);
                assert_int_equal(pk.fb.media_ssrc, 0x2222);
                nack_seen = true;
            } else if (pk.kind == PAL_RTCP_RR) {
                for (int k = 0; k < pk.rr.n_reports; k++)
                    if (pk.rr.reports[k].ssrc == 0x2222) {
                        assert_int_equal(pk.rr.reports[k].cumulative_lost, 2);
                        assert_int_equal(pk.rr.reports[k].highest_seq & 0xffff, 14);
                        rr_seen = true;
                    }
            } else if (pk.kind == PAL_RTCP_TWCC) {
                twcc_seen = true;
            }
        }
    }
    assert_true(nack_seen);
    assert_true(rr_seen);
    assert_true(twcc_seen);
    /* bob gets a sender report for the stream he receives */
    bool sr_seen = false;
    for (int i = 0; i < f->bob_sub.n_rtcp; i++) {
        struct pal_rtcp_iter it;
        struct pal_rtcp_packet pk;
        pal_rtcp_iter_init(&it, f->bob_sub.rtcp[i], f->bob_sub.rtcp_len[i]);
        while (pal_rtcp_next(&it, &pk, NULL) == 1)
            if (pk.kind == PAL_RTCP_SR && pk.sr.ssrc == 0xB0B0B) {
                assert_int_equal(pk.sr.packet_count, 3);
                sr_seen = true;
            }
    }
    assert_true(sr_seen);
}

static void test_unknown_ssrc_and_garbage_dropped(void **state)
{
    struct fixture *f = *state;
    subscribe(f, f->bob, &f->bob_sub, 0xB0B0A, 0xB0B0B, 0);
    uint8_t buf[1600];
    size_t len = make_rtp(buf, 0xDEAD, 1, 1, false, false, 0);
    struct pal_rtp_packet hdr;
    assert_int_equal(pal_rtp_parse(&hdr, buf, len, NULL), 0);
    assert_null(pal_room_peer_accept_rtp(f->alice, &hdr));
    pal_room_on_rtp(f->room, f->alice, buf, len, 0);
    uint8_t junk[5] = {0x80, 1, 2, 3, 4};
    pal_room_on_rtp(f->room, f->alice, junk, sizeof(junk), 0);
    pal_room_on_rtcp(f->room, f->bob, PAL_MEDIA_PC_SUBSCRIBE, junk, sizeof(junk), 0);
    assert_int_equal(f->bob_sub.n_rtp, 0);
    struct pal_room_stats st;
    pal_room_get_stats(f->room, &st);
    assert_int_equal(st.rtp_in, 0);
    assert_true(st.dropped_in >= 3);
}

static void test_active_speaker(void **state)
{
    struct fixture *f = *state;
    struct pal_media_track a = track("0", PAL_MEDIA_AUDIO, 0x3333);
    assert_int_equal(pal_room_producer_add(f->room, f->bob, &a, 0), 0);
    /* alice loud (level 10 = -10 dBov), bob silent */
    for (int i = 0; i < 10; i++)
        feed(f, 0x1111, (uint16_t)i, 960u * i, false, false, 10, 100 + 20 * i);
    pal_room_tick(f->room, 600);
    assert_int_equal(f->n_speaker_events, 1);
    assert_string_equal(f->speaker, "alice");
    pal_room_tick(f->room, 1200); /* no level since: no change */
    assert_int_equal(f->n_speaker_events, 1);
}

static void test_leave_frees_and_unlinks(void **state)
{
    struct fixture *f = *state;
    subscribe(f, f->bob, &f->bob_sub, 0xB0B0A, 0xB0B0B, 0);
    subscribe(f, f->carol, &f->carol_sub, 0xCA0A, 0xCA0B, 0);
    assert_int_equal(pal_room_consumer_count(f->bob), 2);
    /* bob leaves: carol still receives */
    assert_int_equal(pal_room_peer_remove(f->room, "bob"), 0);
    assert_int_equal(pal_room_peer_remove(f->room, "bob"), -ENOENT);
    feed(f, 0x1111, 1, 960, false, false, 30, 10);
    assert_int_equal(f->carol_sub.n_rtp, 1);
    assert_int_equal(f->bob_sub.n_rtp, 0);
    /* alice (the publisher) leaves: carol's consumers stay but idle */
    assert_int_equal(pal_room_peer_remove(f->room, "alice"), 0);
    assert_int_equal(pal_room_consumer_count(f->carol), 2);
    pal_room_tick(f->room, 5000);
    /* alice comes back and publishes the same mids: carol is relinked */
    struct pal_room_peer *alice2;
    assert_int_equal(pal_room_peer_add(f->room, "alice", &alice2), 0);
    f->alice = alice2;
    attach(alice2, PAL_MEDIA_PC_PUBLISH, &f->alice_pub);
    pal_room_sink_ready(f->room, alice2, PAL_MEDIA_PC_PUBLISH, 5000);
    struct pal_media_track a = track("0", PAL_MEDIA_AUDIO, 0x4444);
    assert_int_equal(pal_room_producer_add(f->room, alice2, &a, 5000), 0);
    feed(f, 0x4444, 7, 960, false, false, 30, 5010);
    assert_int_equal(f->carol_sub.n_rtp, 2);
    struct pal_rtp_packet p1, p2;
    pal_rtp_parse(&p1, f->carol_sub.rtp[0], f->carol_sub.rtp_len[0], NULL);
    pal_rtp_parse(&p2, f->carol_sub.rtp[1], f->carol_sub.rtp_len[1], NULL);
    assert_int_equal(p2.ssrc, 0xCA0A);
    assert_int_equal(p2.seq, (uint16_t)(p1.seq + 1)); /* numbering continues */
    assert_int_equal(pal_room_consumer_remove(f->room, f->carol, "a0"), 0);
    assert_int_equal(pal_room_consumer_count(f->carol), 1);
    assert_int_equal(pal_room_peer_count(f->room), 2);
}

static struct pal_media_track_stats stats_of(struct pal_room_peer *p, const char *mid)
{
    struct pal_media_track_stats st[PAL_MEDIA_MAX_TRACKS];
    size_t n = pal_room_track_stats(p, st, PAL_MEDIA_MAX_TRACKS);
    for (size_t i = 0; i < n; i++)
        if (strcmp(st[i].mid, mid) == 0)
            return st[i];
    fail_msg("no track %s", mid);
    return st[0];
}

/* Hard mute of alice's microphone: her audio is still received and counted
 * but reaches nobody (not even by NACK), her video still flows; lifted, the
 * audio comes back with no sequence gap. */
static void test_block_audio_stops_and_resumes(void **state)
{
    struct fixture *f = *state;
    subscribe(f, f->bob, &f->bob_sub, 0xB0B0A, 0xB0B0B, 0);
    subscribe(f, f->carol, &f->carol_sub, 0xCA0A, 0xCA0B, 0);
    for (int i = 0; i < 3; i++)
        feed(f, 0x1111, (uint16_t)(10 + i), 960u * i, false, false, 30, 10 + i);
    assert_int_equal(f->bob_sub.n_rtp, 3);
    struct pal_media_track_stats a = stats_of(f->alice, "0");
    assert_int_equal(a.kind, PAL_MEDIA_AUDIO);
    assert_false(a.blocked);
    assert_int_equal(a.packets_received, 3);
    assert_int_equal(a.packets_forwarded, 6); /* one per subscriber */

    assert_int_equal(pal_room_block(f->room, f->alice, PAL_MEDIA_AUDIO, true, 20), 0);
    assert_true(pal_room_blocked(f->alice, PAL_MEDIA_AUDIO));
    assert_false(pal_room_blocked(f->alice, PAL_MEDIA_VIDEO));
    for (int i = 3; i < 8; i++)
        feed(f, 0x1111, (uint16_t)(10 + i), 960u * i, false, false, 30, 20 + i);
    assert_int_equal(f->bob_sub.n_rtp, 3);
    assert_int_equal(f->carol_sub.n_rtp, 3);
    a = stats_of(f->alice, "0");
    assert_true(a.blocked);
    assert_int_equal(a.packets_received, 8); /* still received */
    assert_int_equal(a.packets_forwarded, 6); /* the forwarded counter stopped */
    /* what bob was sent before stays his, but is not resent while blocked */
    nack(f, f->bob, 0xB0B0A, seq_of(&f->bob_sub, 1), 30);
    assert_int_equal(f->bob_sub.n_rtp, 3);
    /* her camera is not concerned */
    feed(f, 0x2222, 100, 9000, true, true, 0, 31);
    assert_int_equal(f->bob_sub.n_rtp, 4);
    assert_false(stats_of(f->alice, "1").blocked);

    assert_int_equal(pal_room_block(f->room, f->alice, PAL_MEDIA_AUDIO, false, 40), 0);
    feed(f, 0x1111, 20, 960u * 10, false, false, 30, 41);
    assert_int_equal(f->bob_sub.n_rtp, 5);
    assert_int_equal(f->carol_sub.n_rtp, 5);
    assert_int_equal(seq_of(&f->bob_sub, 4), (uint16_t)(seq_of(&f->bob_sub, 2) + 1));
    a = stats_of(f->alice, "0");
    assert_false(a.blocked);
    assert_int_equal(a.packets_received, 9);
    assert_int_equal(a.packets_forwarded, 8);
}

static int count_rtp_ssrc(const struct rec *r, uint32_t ssrc)
{
    int n = 0;
    for (int i = 0; i < r->n_rtp; i++) {
        struct pal_rtp_packet p;
        if (pal_rtp_parse(&p, (uint8_t *)r->rtp[i], r->rtp_len[i], NULL) == 0 && p.ssrc == ssrc)
            n++;
    }
    return n;
}

/* Hard mute of the camera: no keyframe is asked for a blocked track (even
 * by a subscriber's PLI); lifting it asks one at once, and subscribers get
 * nothing until it comes, then a stream without a sequence gap. */
static void test_block_video_keyframe_on_unblock(void **state)
{
    struct fixture *f = *state;
    subscribe(f, f->bob, &f->bob_sub, 0xB0B0A, 0xB0B0B, 0);
    feed(f, 0x2222, 100, 9000, true, true, 0, 10);
    feed(f, 0x2222, 101, 12000, true, false, 0, 43);
    assert_int_equal(count_rtp_ssrc(&f->bob_sub, 0xB0B0B), 2);
    int plis = count_pli(&f->alice_pub, 0x2222);
    assert_int_equal(pal_room_block(f->room, f->alice, PAL_MEDIA_VIDEO, true, 50), 0);
    feed(f, 0x2222, 102, 15000, true, true, 0, 76);
    feed(f, 0x2222, 103, 18000, true, false, 0, 109);
    uint8_t pli[64];
    size_t len;
    assert_int_equal(pal_rtcp_write_pli(pli, sizeof(pli), &len, 0x77, 0xB0B0B), 0);
    pal_room_on_rtcp(f->room, f->bob, PAL_MEDIA_PC_SUBSCRIBE, pli, len, 2000);
    pal_room_tick(f->room, 4000);
    assert_int_equal(count_pli(&f->alice_pub, 0x2222), plis);
    assert_int_equal(count_rtp_ssrc(&f->bob_sub, 0xB0B0B), 2);
    assert_int_equal(stats_of(f->alice, "1").packets_received, 4);
    assert_int_equal(stats_of(f->alice, "1").packets_forwarded, 2);

    assert_int_equal(pal_room_block(f->room, f->alice, PAL_MEDIA_VIDEO, false, 5000), 0);
    assert_int_equal(count_pli(&f->alice_pub, 0x2222), plis + 1);
    feed(f, 0x2222, 104, 21000, true, false, 0, 5010); /* a delta frame: held back */
    assert_int_equal(count_rtp_ssrc(&f->bob_sub, 0xB0B0B), 2);
    feed(f, 0x2222, 105, 24000, true, true, 0, 5020);
    feed(f, 0x2222, 106, 27000, true, false, 0, 5053);
    assert_int_equal(count_rtp_ssrc(&f->bob_sub, 0xB0B0B), 4);
    assert_int_equal(seq_of(&f->bob_sub, 2), (uint16_t)(seq_of(&f->bob_sub, 1) + 1));
    assert_int_equal(seq_of(&f->bob_sub, 3), (uint16_t)(seq_of(&f->bob_sub, 1) + 2));
    assert_int_equal(stats_of(f->alice, "1").packets_forwarded, 4);
}

/* The block holds for the participant, not for the tracks of the moment: a
 * track published while blocked (a new mid, or the same mid renegotiated)
 * is blocked too, and its counters survive a renegotiation. */
static void test_block_holds_for_future_tracks(void **state)
{
    struct fixture *f = *state;
    subscribe(f, f->carol, &f->carol_sub, 0xCA0A, 0xCA0B, 0);
    struct pal_media_track a = track("a1", PAL_MEDIA_AUDIO, 0x3333);
    /* carol will receive bob's audio under her mid "b0" */
    struct pal_media_track cb = track("b0", PAL_MEDIA_AUDIO, 0xCB0A);
    assert_int_equal(pal_room_consumer_add(f->room, f->carol, "bob", "a1", &cb, 0), 0);
    assert_int_equal(pal_room_block(f->room, f->bob, PAL_MEDIA_AUDIO, true, 0), 0);
    assert_int_equal(pal_room_producer_add(f->room, f->bob, &a, 0), 0);
    assert_true(stats_of(f->bob, "a1").blocked);
    uint8_t buf[1600];
    for (int i = 0; i < 4; i++) {
        size_t len = make_rtp(buf, 0x3333, (uint16_t)i, 960u * i, false, false, 10);
        pal_room_on_rtp(f->room, f->bob, buf, len, 10 + i);
    }
    assert_int_equal(count_rtp_ssrc(&f->carol_sub, 0xCB0A), 0);
    assert_int_equal(stats_of(f->bob, "a1").packets_received, 4);
    /* a loud blocked microphone is not the active speaker */
    pal_room_tick(f->room, 600);
    assert_int_equal(f->n_speaker_events, 0);
    /* renegotiated: the same mid comes again, still blocked, counters kept */
    assert_int_equal(pal_room_producer_add(f->room, f->bob, &a, 700), 0);
    size_t len = make_rtp(buf, 0x3333, 4, 960u * 4, false, false, 10);
    pal_room_on_rtp(f->room, f->bob, buf, len, 710);
    assert_int_equal(count_rtp_ssrc(&f->carol_sub, 0xCB0A), 0);
    assert_true(stats_of(f->bob, "a1").blocked);
    assert_int_equal(stats_of(f->bob, "a1").packets_received, 5);
    /* alice is not concerned */
    feed(f, 0x1111, 1, 960, false, false, 30, 720);
    assert_int_equal(count_rtp_ssrc(&f->carol_sub, 0xCA0A), 1);
    /* lifted: bob's audio reaches carol */
    assert_int_equal(pal_room_block(f->room, f->bob, PAL_MEDIA_AUDIO, false, 800), 0);
    len = make_rtp(buf, 0x3333, 5, 960u * 5, false, false, 10);
    pal_room_on_rtp(f->room, f->bob, buf, len, 810);
    assert_int_equal(count_rtp_ssrc(&f->carol_sub, 0xCB0A), 1);
    assert_int_equal(stats_of(f->bob, "a1").packets_forwarded, 1);
    assert_int_equal(pal_room_block(f->room, f->bob, (enum pal_media_kind)7, true, 0), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fanout_and_rewrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyframe_on_join_and_gating, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nack_answered_from_ring, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nack_shared_ring_per_subscriber, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publisher_loss_gets_nack_and_reports, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_ssrc_and_garbage_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_active_speaker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leave_frees_and_unlinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_block_audio_stops_and_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_block_video_keyframe_on_unblock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_block_holds_for_future_tracks, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
