/* A producer and its consumers through their own API, without a room:
 * pal_producer_forward's fan-out (what it counts, when it says a consumer
 * waits for a keyframe), the hard mute (nothing goes out, lifting it makes
 * every consumer wait for a keyframe again), and the consumer list that
 * only the producer edits (attach twice, detach, unlink_all). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "palabre/consumer.h"
#include "palabre/producer.h"
#include "palabre/rtp.h"

#define VIDEO_SSRC 0x1234
#define PT 96

/* A sink that counts what it is given and keeps the last SSRC sent. */
struct rec {
    int n_rtp;
    uint32_t last_ssrc;
};

static int rec_rtp(void *ctx, const uint8_t *hdr, size_t hdr_len, const uint8_t *body,
                   size_t body_len)
{
    struct rec *r = ctx;
    (void)body;
    (void)body_len;
    assert_true(hdr_len >= 12);
    r->n_rtp++;
    r->last_ssrc = pal_rd32(hdr + 8);
    return 0;
}

static struct pal_media_track video_track(const char *mid, uint32_t ssrc)
{
    struct pal_media_track t = {0};
    snprintf(t.mid, sizeof(t.mid), "%s", mid);
    t.kind = PAL_MEDIA_VIDEO;
    t.payload_type = PT;
    t.clock_rate = 90000;
    t.ssrc = ssrc;
    return t;
}

/* A VP8 packet of the publisher's (keyframe or delta), received and
 * counted by prod, then forwarded: returns how many consumers sent it. */
static size_t feed(struct pal_producer *prod, uint16_t seq, bool keyframe, bool *want_kf)
{
    struct pal_rtp_header h = {
        .payload_type = PT, .seq = seq, .timestamp = seq * 3000u, .ssrc = VIDEO_SSRC};
    uint8_t payload[40] = {0};
    payload[0] = 0x10;                                       /* S=1, PID=0 */
    payload[1] = keyframe ? 0x00 : 0x01;                     /* P bit: 0 = keyframe */
    payload[4] = 0x9d, payload[5] = 0x01, payload[6] = 0x2a; /* start code */
    payload[7] = 64, payload[9] = 48;
    uint8_t buf[1500], scratch[PAL_MEDIA_SCRATCH];
    size_t len;
    assert_int_equal(pal_rtp_write(&h, payload, sizeof(payload), buf, sizeof(buf), &len), 0);
    struct pal_rtp_packet pkt;
    assert_int_equal(pal_rtp_parse(&pkt, buf, len, NULL), 0);
    struct pal_packet_info info;
    assert_true(pal_producer_on_packet(prod, &pkt, 1000 + seq, &info) >= 0);
    assert_int_equal(info.layer, 0);
    assert_int_equal(info.keyframe, keyframe);
    return pal_producer_forward(prod, &pkt, &info, scratch, sizeof(scratch), 1000 + seq, want_kf);
}

struct fixture {
    struct pal_producer *prod;
    struct pal_consumer *bob, *carol;
    struct rec bob_rec, carol_rec;
    struct pal_media_sink bob_sink, carol_sink;
};

/* alice's camera, forwarded to bob (ready) and carol (DTLS not done). */
static int setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    struct pal_media_track pub = video_track("1", VIDEO_SSRC);
    assert_int_equal(pal_producer_create("alice", &pub, &f.prod), 0);
    f.bob_sink = (struct pal_media_sink){.ctx = &f.bob_rec, .send_rtp = rec_rtp, .ready = true};
    f.carol_sink = (struct pal_media_sink){.ctx = &f.carol_rec, .send_rtp = rec_rtp};
    struct pal_media_track tb = video_track("v-alice", 0xB0B), tc = video_track("v-alice", 0xCA7);
    assert_int_equal(pal_consumer_create("bob", "alice", "1", &tb, &f.bob_sink, &f.bob), 0);
    assert_int_equal(pal_consumer_create("carol", "alice", "1", &tc, &f.carol_sink, &f.carol), 0);
    pal_consumer_set_producer(f.bob, f.prod);
    pal_consumer_set_producer(f.carol, f.prod);
    assert_int_equal(pal_producer_attach(f.prod, f.bob), 0);
    assert_int_equal(pal_producer_attach(f.prod, f.carol), 0);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    pal_producer_unlink_all(f->prod);
    pal_producer_destroy(f->prod);
    pal_consumer_destroy(f->bob);
    pal_consumer_destroy(f->carol);
    return 0;
}

static void counters(const struct pal_producer *p, uint64_t want_received, uint64_t want_forwarded)
{
    uint64_t received, forwarded;
    pal_producer_counters(p, &received, &forwarded);
    assert_int_equal(received, want_received);
    assert_int_equal(forwarded, want_forwarded);
}

/* Video starts on a keyframe; until then the ready consumer makes the
 * producer say a keyframe is wanted, the one not ready does not count. */
static void test_forward_waits_for_keyframe(void **state)
{
    struct fixture *f = *state;
    bool want_kf = false;
    assert_int_equal(pal_producer_consumer_count(f->prod), 2);
    assert_int_equal(feed(f->prod, 10, false, &want_kf), 0);
    assert_true(want_kf);
    assert_int_equal(f->bob_rec.n_rtp, 0);

    assert_int_equal(feed(f->prod, 11, true, &want_kf), 1);
    assert_false(want_kf);
    assert_int_equal(f->bob_rec.n_rtp, 1);
    assert_int_equal(f->bob_rec.last_ssrc, 0xB0B); /* in bob's numbering */
    assert_int_equal(f->carol_rec.n_rtp, 0);       /* not ready: nothing */

    assert_int_equal(feed(f->prod, 12, false, &want_kf), 1);
    assert_false(want_kf);
    assert_int_equal(f->bob_rec.n_rtp, 2);
    counters(f->prod, 3, 2);
}

/* Hard mute: received and counted, never sent; lifting it makes the
 * consumers wait for a keyframe (the deltas in between are gone). */
static void test_blocked_then_resumed(void **state)
{
    struct fixture *f = *state;
    bool want_kf = false;
    assert_int_equal(feed(f->prod, 20, true, &want_kf), 1);
    pal_producer_set_blocked(f->prod, true, 0);
    assert_true(pal_producer_blocked(f->prod));
    assert_int_equal(feed(f->prod, 21, true, &want_kf), 0);
    assert_false(want_kf);
    assert_int_equal(f->bob_rec.n_rtp, 1);
    /* no keyframe is asked of a blocked track */
    assert_false(pal_producer_keyframe_request(f->prod, 0, 5000));

    pal_producer_set_blocked(f->prod, false, 2000000);
    assert_false(pal_producer_blocked(f->prod));
    assert_int_equal(feed(f->prod, 22, false, &want_kf), 0);
    assert_true(want_kf);
    assert_int_equal(feed(f->prod, 23, true, &want_kf), 1);
    assert_int_equal(f->bob_rec.n_rtp, 2);
    counters(f->prod, 4, 2);
}

/* The consumer list: attaching twice keeps one entry, a detached consumer
 * gets nothing, unlink_all empties the list and unlinks each consumer. */
static void test_consumer_list(void **state)
{
    struct fixture *f = *state;
    bool want_kf;
    f->carol_sink.ready = true;
    assert_int_equal(pal_producer_attach(f->prod, f->bob), 0);
    assert_int_equal(pal_producer_consumer_count(f->prod), 2);
    assert_int_equal(feed(f->prod, 30, true, &want_kf), 2);

    pal_producer_detach(f->prod, f->carol);
    assert_int_equal(pal_producer_consumer_count(f->prod), 1);
    assert_int_equal(feed(f->prod, 31, false, &want_kf), 1);
    assert_int_equal(f->carol_rec.n_rtp, 1);
    assert_int_equal(f->bob_rec.n_rtp, 2);

    pal_producer_unlink_all(f->prod);
    assert_int_equal(pal_producer_consumer_count(f->prod), 0);
    assert_null(pal_consumer_producer(f->bob));
    assert_int_equal(feed(f->prod, 32, true, &want_kf), 0);
    assert_int_equal(f->bob_rec.n_rtp, 2);
}

/* A renegotiation: the new producer takes over the counters and the SSRC
 * learnt from packets (a track announced without a=ssrc). */
static void test_inherit(void **state)
{
    (void)state;
    struct pal_media_track t = video_track("1", 0), t2 = video_track("1", 0);
    t.ext_mid = 4;
    t2.ext_mid = 4;
    struct pal_producer *old, *p;
    assert_int_equal(pal_producer_create("alice", &t, &old), 0);
    struct pal_rtp_header h = {.payload_type = PT, .seq = 1, .ssrc = 0xABC, .n_ext = 1};
    h.ext[0].id = 4;
    h.ext[0].len = 1;
    h.ext[0].data[0] = '1';
    uint8_t buf[200], payload[4] = {0};
    size_t len;
    assert_int_equal(pal_rtp_write(&h, payload, sizeof(payload), buf, sizeof(buf), &len), 0);
    struct pal_rtp_packet pkt;
    assert_int_equal(pal_rtp_parse(&pkt, buf, len, NULL), 0);
    assert_false(pal_producer_has_ssrc(old, 0xABC));
    assert_true(pal_producer_learn_ssrc(old, &pkt));
    assert_true(pal_producer_has_ssrc(old, 0xABC));
    assert_false(pal_producer_learn_ssrc(old, &pkt)); /* once */
    struct pal_packet_info info;
    assert_int_equal(pal_producer_on_packet(old, &pkt, 1000, &info), 0);

    assert_int_equal(pal_producer_create("alice", &t2, &p), 0);
    pal_producer_inherit(p, old);
    assert_int_equal(pal_producer_track(p)->ssrc, 0xABC);
    assert_int_equal(pal_producer_stream_ssrc(p, 0), 0xABC);
    counters(p, 1, 0);
    pal_producer_destroy(old);
    pal_producer_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_forward_waits_for_keyframe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blocked_then_resumed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_consumer_list, setup, teardown),
        cmocka_unit_test(test_inherit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
