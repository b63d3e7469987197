/* Padding-only packets of a consumer (pal_consumer_send_padding), the
 * probes of palabre/bwe_probe.h: valid RTP (parsed back) with the padding
 * bit, no payload, at most 255 bytes of padding, the subscriber's SSRC and
 * payload type, our transport-wide sequence number; numbered after the last
 * packet sent and followed by the next without a gap; NACKs of packets sent
 * before a padding run still answered with the right packet, a NACK of a
 * padding packet not; no padding where it cannot go (not ready, audio, no
 * transport-cc, nothing sent yet). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "palabre/bwe.h"
#include "palabre/consumer.h"
#include "palabre/producer.h"
#include "palabre/rtp.h"

#define PUB_SSRC 0x1234
#define SUB_SSRC 0xB0B
#define PT_IN 96
#define PT_OUT 100
#define EXT_TWCC_PUB 3
#define EXT_TWCC_SUB 5

struct out {
    uint8_t buf[1600];
    size_t len;
};

struct rec {
    struct out pkts[64];
    size_t n;
};

static int rec_rtp(void *ctx, const uint8_t *hdr, size_t hdr_len, const uint8_t *body,
                   size_t body_len)
{
    struct rec *r = ctx;
    assert_true(r->n < 64 && hdr_len + body_len <= sizeof(r->pkts[0].buf));
    memcpy(r->pkts[r->n].buf, hdr, hdr_len);
    memcpy(r->pkts[r->n].buf + hdr_len, body, body_len);
    r->pkts[r->n].len = hdr_len + body_len;
    r->n++;
    return 0;
}

struct fx {
    struct pal_producer *prod;
    struct pal_consumer *c;
    struct pal_bwe *bwe;
    struct rec rec;
    struct pal_media_sink sink;
    uint16_t pub_tw;
};

static struct pal_media_track track(const char *mid, uint32_t ssrc, uint8_t pt, uint8_t tw)
{
    struct pal_media_track t = {0};
    snprintf(t.mid, sizeof(t.mid), "%s", mid);
    t.kind = PAL_MEDIA_VIDEO;
    t.payload_type = pt;
    t.clock_rate = 90000;
    t.ssrc = ssrc;
    t.ext_twcc = tw;
    return t;
}

static int setup(void **state)
{
    static struct fx f;
    memset(&f, 0, sizeof(f));
    struct pal_media_track pub = track("1", PUB_SSRC, PT_IN, EXT_TWCC_PUB);
    assert_int_equal(pal_producer_create("alice", &pub, &f.prod), 0);
    f.sink = (struct pal_media_sink){.ctx = &f.rec, .send_rtp = rec_rtp, .ready = true};
    struct pal_media_track sub = track("v0", SUB_SSRC, PT_OUT, EXT_TWCC_SUB);
    assert_int_equal(pal_consumer_create("bob", "alice", "1", &sub, &f.sink, &f.c), 0);
    assert_int_equal(pal_bwe_create(NULL, &f.bwe), 0);
    pal_consumer_set_bwe(f.c, f.bwe);
    pal_consumer_set_producer(f.c, f.prod);
    assert_int_equal(pal_producer_attach(f.prod, f.c), 0);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    pal_producer_unlink_all(f->prod);
    pal_producer_destroy(f->prod);
    pal_consumer_destroy(f->c);
    pal_bwe_destroy(f->bwe);
    return 0;
}

/* The publisher's packet seq (its first payload byte after the VP8
 * descriptor says which), forwarded. */
static void feed(struct fx *f, uint16_t seq, bool keyframe)
{
    struct pal_rtp_header h = {.payload_type = PT_IN, .seq = seq, .timestamp = seq * 3000u,
                               .ssrc = PUB_SSRC, .n_ext = 1};
    h.ext[0].id = EXT_TWCC_PUB;
    h.ext[0].len = 2;
    pal_wr16(h.ext[0].data, f->pub_tw++);
    uint8_t payload[40] = {0};
    payload[0] = 0x10;
    payload[1] = keyframe ? 0x00 : 0x01;
    payload[4] = 0x9d, payload[5] = 0x01, payload[6] = 0x2a;
    payload[7] = 64, payload[9] = 48;
    payload[20] = (uint8_t)seq;
    uint8_t buf[1500], scratch[PAL_MEDIA_SCRATCH];
    size_t len;
    assert_int_equal(pal_rtp_write(&h, payload, sizeof(payload), buf, sizeof(buf), &len), 0);
    struct pal_rtp_packet pkt;
    assert_int_equal(pal_rtp_parse(&pkt, buf, len, NULL), 0);
    struct pal_packet_info info = {.layer = 0, .recv_us = 5000000 + seq * 700};
    pal_producer_on_packet(f->prod, &pkt, 1000 + seq, &info);
    bool want_kf;
    pal_producer_forward(f->prod, &pkt, &info, scratch, sizeof(scratch), 1000 + seq, &want_kf);
}

static void parse(struct fx *f, size_t i, struct pal_rtp_packet *p, uint16_t *tw)
{
    assert_true(i < f->rec.n);
    assert_int_equal(pal_rtp_parse(p, f->rec.pkts[i].buf, f->rec.pkts[i].len, NULL), 0);
    size_t el;
    const uint8_t *t = pal_rtp_ext_find(p, EXT_TWCC_SUB, &el);
    assert_non_null(t);
    assert_int_equal(el, 2);
    *tw = pal_rd16(t);
}

static void test_padding_packets(void **state)
{
    struct fx *f = *state;
    /* nothing sent yet: no sequence number to follow */
    assert_int_equal(pal_consumer_send_padding(f->c, 1000, 1000000), -EAGAIN);
    feed(f, 100, true);
    feed(f, 101, false);
    assert_int_equal(f->rec.n, 2);
    struct pal_rtp_packet m;
    uint16_t tw0;
    parse(f, 1, &m, &tw0);
    uint16_t last = m.seq;
    uint32_t last_ts = m.timestamp;

    assert_int_equal(pal_consumer_send_padding(f->c, 600, 6000000), 600);
    /* 255 + 255 + 90 */
    assert_int_equal(f->rec.n, 5);
    size_t pads[3] = {255, 255, 90};
    for (size_t i = 0; i < 3; i++) {
        struct pal_rtp_packet p;
        uint16_t tw;
        parse(f, 2 + i, &p, &tw);
        assert_true(p.padding);
        assert_int_equal(p.payload_len, 0);
        assert_int_equal(p.padding_len, pads[i]);
        assert_int_equal(p.ssrc, SUB_SSRC);
        assert_int_equal(p.payload_type, PT_OUT);
        assert_false(p.marker);
        assert_int_equal(p.timestamp, last_ts);
        assert_int_equal(p.seq, (uint16_t)(last + 1 + i));
        assert_int_equal(tw, (uint16_t)(tw0 + 1 + i));
    }
    /* the stream goes on after them, no gap */
    feed(f, 102, false);
    struct pal_rtp_packet n;
    uint16_t tw;
    parse(f, 5, &n, &tw);
    assert_int_equal(n.seq, (uint16_t)(last + 4));
    assert_int_equal(tw, (uint16_t)(tw0 + 4));
    assert_int_equal(n.payload_len, 40);
    assert_int_equal(pal_rtp_payload(&n)[20], 102);

    /* NACKs: a packet from before the run is resent as it was; one of the
     * run is not (it carries nothing) */
    uint8_t scratch[PAL_MEDIA_SCRATCH];
    assert_int_equal(pal_consumer_retransmit(f->c, last, scratch, sizeof(scratch), 1200), 0);
    struct pal_rtp_packet r;
    parse(f, 6, &r, &tw);
    assert_int_equal(r.seq, last);
    assert_int_equal(pal_rtp_payload(&r)[20], 101);
    assert_int_equal(pal_consumer_retransmit(f->c, (uint16_t)(last + 4), scratch,
                                             sizeof(scratch), 1200),
                     0);
    parse(f, 7, &r, &tw);
    assert_int_equal(r.seq, (uint16_t)(last + 4));
    assert_int_equal(pal_rtp_payload(&r)[20], 102);
    for (uint16_t s = 1; s <= 3; s++)
        assert_int_equal(pal_consumer_retransmit(f->c, (uint16_t)(last + s), scratch,
                                                 sizeof(scratch), 1200),
                         -ENOENT);
    assert_int_equal(f->rec.n, 8);
}

/* Many runs: a NACK of a packet older than the runs kept is not answered
 * (its offset is forgotten), a recent one is. */
static void test_many_runs(void **state)
{
    struct fx *f = *state;
    feed(f, 1, true);
    struct pal_rtp_packet first;
    uint16_t tw;
    parse(f, 0, &first, &tw);
    for (uint16_t i = 2; i < 2 + PAL_CONSUMER_MAP_RUNS + 2; i++) {
        assert_int_equal(pal_consumer_send_padding(f->c, 10, 1000000 + i), 10);
        feed(f, i, false);
        f->rec.n = 1; /* keep the first only */
    }
    uint8_t scratch[PAL_MEDIA_SCRATCH];
    assert_int_equal(pal_consumer_retransmit(f->c, first.seq, scratch, sizeof(scratch), 1100),
                     -ENOENT);
    feed(f, 100, false);
    struct pal_rtp_packet p;
    parse(f, 1, &p, &tw);
    assert_int_equal(pal_consumer_retransmit(f->c, p.seq, scratch, sizeof(scratch), 1150), 0);
    struct pal_rtp_packet r;
    parse(f, 2, &r, &tw);
    assert_int_equal(pal_rtp_payload(&r)[20], 100);
}

/* Where padding cannot go. */
static void test_no_padding_where_it_cannot_go(void **state)
{
    struct fx *f = *state;
    feed(f, 7, true);
    f->sink.ready = false;
    assert_int_equal(pal_consumer_send_padding(f->c, 500, 1000000), -EAGAIN);
    f->sink.ready = true;
    pal_consumer_set_bwe(f->c, NULL); /* no transport-cc feedback to tell the result */
    assert_int_equal(pal_consumer_send_padding(f->c, 500, 1000000), -EAGAIN);
    pal_consumer_set_bwe(f->c, f->bwe);
    assert_int_equal(f->rec.n, 1);

    struct pal_media_track a = track("a0", 0xA0D, 111, EXT_TWCC_SUB);
    a.kind = PAL_MEDIA_AUDIO;
    a.clock_rate = 48000;
    struct pal_consumer *ac;
    assert_int_equal(pal_consumer_create("bob", "alice", "0", &a, &f->sink, &ac), 0);
    pal_consumer_set_bwe(ac, f->bwe);
    assert_int_equal(pal_consumer_send_padding(ac, 500, 1000000), -EAGAIN);
    pal_consumer_destroy(ac);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_padding_packets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_padding_where_it_cannot_go, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
