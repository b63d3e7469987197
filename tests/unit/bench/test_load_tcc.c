/* bench/load/tcc.c: palabre-load's subscribers send transport-cc feedback
 * (RTPFB FMT=15) for what they receive, so the server's bandwidth estimator
 * runs under load. Read back with the server's decoder: every numbered
 * packet reported once, in order, received or lost, with its arrival time
 * to the 250 µs unit; nothing without the negotiated extension; bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

/* the tool's sources are not in libpalabre.a: build the one under test here */
#include "../../../bench/load/tcc.c"

#include "palabre/rtcp.h"

#define EXT 3
#define SENDER 0x51515151u
#define MEDIA 0xABCD0001u

/* One received RTP packet, with the transport-wide number under ext_id (0: none). */
static bool receive(struct load_tcc *t, uint8_t ext_id, uint16_t tw, int64_t arrival_us)
{
    struct pal_rtp_header h = {.payload_type = 96, .seq = tw, .timestamp = 1, .ssrc = MEDIA};
    if (ext_id) {
        h.ext[0].id = ext_id;
        h.ext[0].len = 2;
        pal_wr16(h.ext[0].data, tw);
        h.n_ext = 1;
    }
    uint8_t payload[100] = {0}, buf[300];
    size_t n;
    assert_int_equal(pal_rtp_write(&h, payload, sizeof(payload), buf, sizeof(buf), &n), 0);
    struct pal_rtp_packet p;
    assert_int_equal(pal_rtp_parse(&p, buf, n, NULL), 0);
    return load_tcc_on_rtp(t, &p, arrival_us);
}

/* What the server reads from a compound: statuses in order, and for the
 * received ones the arrival time rebuilt from the reference time and the
 * deltas (on the feedback's own clock). */
struct report {
    size_t n, packets;
    uint16_t seq[20000];
    bool received[20000];
    int64_t at_us[20000];
};

static void decode(const uint8_t *buf, size_t len, struct report *r)
{
    struct pal_rtcp_iter it;
    struct pal_rtcp_packet p;
    pal_rtcp_iter_init(&it, buf, len);
    int rc;
    static struct pal_twcc_status st[8192];
    while ((rc = pal_rtcp_next(&it, &p, NULL)) == 1) {
        assert_int_equal(p.kind, PAL_RTCP_TWCC);
        assert_int_equal(p.fb.sender_ssrc, SENDER);
        assert_int_equal(p.fb.media_ssrc, MEDIA);
        int n = pal_twcc_feedback_decode(&p, st, 8192, NULL);
        assert_true(n > 0);
        int64_t at = (int64_t)p.fb.u.twcc.reference_time * 64000;
        for (int i = 0; i < n; i++) {
            assert_true(r->n < 20000);
            r->seq[r->n] = st[i].seq;
            r->received[r->n] = st[i].received;
            if (st[i].received)
                at += st[i].delta_us;
            r->at_us[r->n] = st[i].received ? at : -1;
            r->n++;
        }
        r->packets++;
    }
    assert_int_equal(rc, 0); /* the whole compound parsed */
}

static void test_reports_arrivals_and_losses(void **state)
{
    (void)state;
    struct load_tcc *t = NULL;
    assert_int_equal(load_tcc_create(SENDER, &t), 0);
    load_tcc_set_ext(t, EXT);
    /* 20 packets 1.3 ms apart from t = 10 s, number 7 lost; one arrives
     * 80 ms late (a large delta), the next early (a negative one) */
    int64_t at[20];
    for (int i = 0; i < 20; i++) {
        at[i] = 10000000 + i * 1300 + (i == 12 ? 80000 : 0);
        if (i != 7)
            assert_true(receive(t, EXT, (uint16_t)(500 + i), at[i]));
    }
    uint8_t buf[1200];
    size_t len;
    assert_int_equal(load_tcc_build(t, buf, sizeof(buf), &len), 0);
    assert_int_equal(len % 4, 0);
    static struct report r;
    memset(&r, 0, sizeof(r));
    decode(buf, len, &r);
    assert_int_equal(r.packets, 1);
    assert_int_equal(r.n, 20);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(r.seq[i], 500 + i);
        assert_int_equal(r.received[i], i != 7);
        if (i != 7) /* the feedback's clock: 250 µs units, rounded */
            assert_true(llabs(r.at_us[i] - at[i]) <= 125);
    }
    /* reported once: nothing new, nothing to send */
    assert_int_equal(load_tcc_build(t, buf, sizeof(buf), &len), -ENODATA);
    struct load_tcc_stats s;
    load_tcc_get_stats(t, &s);
    assert_int_equal(s.recorded, 19);
    assert_int_equal(s.feedbacks, 1);
    /* the next interval starts after the last reported */
    assert_true(receive(t, EXT, 520, 10100000));
    memset(&r, 0, sizeof(r));
    assert_int_equal(load_tcc_build(t, buf, sizeof(buf), &len), 0);
    decode(buf, len, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.seq[0], 520);
    load_tcc_destroy(t);
}

static void test_only_the_negotiated_extension(void **state)
{
    (void)state;
    struct load_tcc *t = NULL;
    uint8_t buf[1200];
    size_t len;
    assert_int_equal(load_tcc_create(SENDER, &t), 0);
    /* not negotiated yet: nothing recorded, nothing sent */
    assert_false(receive(t, EXT, 1, 1000));
    assert_int_equal(load_tcc_build(t, buf, sizeof(buf), &len), -ENODATA);
    load_tcc_set_ext(t, EXT);
    assert_false(receive(t, 0, 2, 2000));   /* no extension */
    assert_false(receive(t, 5, 3, 3000));   /* another id */
    assert_int_equal(load_tcc_build(t, buf, sizeof(buf), &len), -ENODATA);
    assert_true(receive(t, EXT, 4, 4000));
    assert_int_equal(load_tcc_build(t, buf, 27, &len), -ENOSPC); /* below one packet */
    assert_int_equal(load_tcc_build(t, buf, sizeof(buf), &len), 0);
    load_tcc_destroy(t);
}

/* A burst larger than one packet holds: several packets in the compound
 * (at most LOAD_TCC_MAX_PACKETS), the rest in the next one, each number
 * once and in order, across the 16-bit wrap. */
static void test_burst_and_wrap(void **state)
{
    (void)state;
    struct load_tcc *t = NULL;
    assert_int_equal(load_tcc_create(SENDER, &t), 0);
    load_tcc_set_ext(t, EXT);
    const int n = 2000;
    for (int i = 0; i < n; i++) /* alternate small and large (2-byte) deltas */
        receive(t, EXT, (uint16_t)(65000 + i), 5000000 + i * 100 + (i % 2) * 70000);
    static struct report r;
    memset(&r, 0, sizeof(r));
    uint8_t buf[1200];
    size_t len;
    assert_int_equal(load_tcc_build(t, buf, sizeof(buf), &len), 0);
    assert_true(len <= sizeof(buf));
    decode(buf, len, &r);
    assert_int_equal(r.packets, LOAD_TCC_MAX_PACKETS);
    assert_true(r.n < (size_t)n); /* it did not all fit */
    size_t first = r.n;
    int rc;
    while ((rc = load_tcc_build(t, buf, sizeof(buf), &len)) == 0)
        decode(buf, len, &r);
    assert_int_equal(rc, -ENODATA);
    assert_int_equal(r.n, (size_t)n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(r.seq[i], (uint16_t)(65000 + i));
        assert_true(r.received[i]);
    }
    assert_true(first > 0);
    load_tcc_destroy(t);
}

/* Without builds (a stalled loop), the state stays bounded: the feedback
 * covers only the last ring's worth of packets. */
static void test_bounded(void **state)
{
    (void)state;
    struct load_tcc *t = NULL;
    assert_int_equal(load_tcc_create(SENDER, &t), 0);
    load_tcc_set_ext(t, EXT);
    for (int i = 0; i < 10000; i++)
        receive(t, EXT, (uint16_t)i, 1000000 + i * 10);
    static struct report r;
    memset(&r, 0, sizeof(r));
    uint8_t buf[1200];
    size_t len;
    while (load_tcc_build(t, buf, sizeof(buf), &len) == 0)
        decode(buf, len, &r);
    assert_true(r.n > 0 && r.n <= 4096);
    assert_int_equal(r.seq[r.n - 1], 9999);
    load_tcc_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reports_arrivals_and_losses),
        cmocka_unit_test(test_only_the_negotiated_extension),
        cmocka_unit_test(test_burst_and_wrap),
        cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
