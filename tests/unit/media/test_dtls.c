/* DTLS-SRTP between two in-memory endpoints: datagrams are passed from one
 * object to the other in a loop (no network). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "palabre/dtls.h"

#define QCAP 64

struct endpoint {
    struct pal_dtls *dtls;
    struct endpoint *peer;
    /* datagrams sent by this endpoint, waiting for the peer */
    uint8_t q[QCAP][1500];
    size_t qlen[QCAP];
    int n;
    int connected, failed, closed;
    struct pal_srtp_keys keys;
    char reason[256];
};

static void on_send(void *ctx, const uint8_t *data, size_t len)
{
    struct endpoint *e = ctx;
    assert_true(len <= 1500);
    assert_true(e->n < QCAP);
    memcpy(e->q[e->n], data, len);
    e->qlen[e->n++] = len;
}

static void on_connected(void *ctx, const struct pal_srtp_keys *k)
{
    struct endpoint *e = ctx;
    e->connected++;
    e->keys = *k;
}

static void on_failed(void *ctx, const char *reason)
{
    struct endpoint *e = ctx;
    e->failed++;
    snprintf(e->reason, sizeof(e->reason), "%s", reason);
}

static void on_closed(void *ctx)
{
    ((struct endpoint *)ctx)->closed++;
}

static void make_endpoint(struct endpoint *e, const struct pal_dtls_cert *mine,
                          enum pal_dtls_role role, const char *peer_fp)
{
    memset(e, 0, sizeof(*e));
    struct pal_dtls_listener l = {e, on_send, on_connected, on_failed, on_closed};
    assert_int_equal(pal_dtls_create(mine, role, peer_fp, &l, &e->dtls), 0);
}

/* Delivers what a sent to b; returns how many datagrams moved. */
static int deliver(struct endpoint *a, struct endpoint *b)
{
    int n = a->n;
    for (int i = 0; i < n; i++)
        pal_dtls_feed(b->dtls, a->q[i], a->qlen[i]);
    memmove(a->q, a->q + n, (size_t)(a->n - n) * sizeof(a->q[0]));
    memmove(a->qlen, a->qlen + n, (size_t)(a->n - n) * sizeof(a->qlen[0]));
    a->n -= n;
    return n;
}

static void run(struct endpoint *c, struct endpoint *s)
{
    assert_int_equal(pal_dtls_start(s->dtls), 0);
    pal_dtls_start(c->dtls);
    for (int round = 0; round < 20; round++) {
        int moved = deliver(c, s) + deliver(s, c);
        if (!moved)
            break;
    }
}

static void handshake_gives_same_keys_and_gcm(void **state)
{
    struct pal_dtls_cert *cc, *sc;
    assert_int_equal(pal_dtls_cert_create(&cc), 0);
    assert_int_equal(pal_dtls_cert_create(&sc), 0);
    const char *fp = pal_dtls_cert_fingerprint(cc);
    assert_int_equal(strlen(fp), 95);
    assert_int_equal(fp[2], ':');
    assert_string_not_equal(fp, pal_dtls_cert_fingerprint(sc));

    static struct endpoint c, s;
    make_endpoint(&c, cc, PAL_DTLS_CLIENT, pal_dtls_cert_fingerprint(sc));
    make_endpoint(&s, sc, PAL_DTLS_SERVER, pal_dtls_cert_fingerprint(cc));
    assert_int_equal(pal_dtls_timeout_ms(s.dtls), -1);
    run(&c, &s);
    assert_int_equal(c.connected, 1);
    assert_int_equal(s.connected, 1);
    assert_int_equal(c.failed + s.failed, 0);
    assert_int_equal(pal_dtls_state(c.dtls), PAL_DTLS_CONNECTED);
    assert_int_equal(pal_dtls_state(s.dtls), PAL_DTLS_CONNECTED);
    assert_int_equal(c.keys.profile, PAL_SRTP_AEAD_AES_128_GCM);
    assert_int_equal(s.keys.profile, PAL_SRTP_AEAD_AES_128_GCM);
    assert_int_equal(c.keys.key_len, 16);
    assert_int_equal(c.keys.salt_len, 12);
    assert_memory_equal(c.keys.local_key, s.keys.remote_key, 16);
    assert_memory_equal(c.keys.remote_key, s.keys.local_key, 16);
    assert_memory_equal(c.keys.local_salt, s.keys.remote_salt, 12);
    assert_memory_equal(c.keys.remote_salt, s.keys.local_salt, 12);
    assert_memory_not_equal(c.keys.local_key, c.keys.remote_key, 16);
    struct pal_srtp_keys k;
    assert_int_equal(pal_dtls_srtp_keys(s.dtls, &k), 0);
    assert_memory_equal(&k, &s.keys, sizeof(k));
    assert_int_equal(pal_dtls_timeout_ms(c.dtls), -1);

    /* The keys work: client protects, server unprotects. */
    struct pal_srtp *cs, *ss;
    assert_int_equal(pal_srtp_create(&c.keys, &cs), 0);
    assert_int_equal(pal_srtp_create(&s.keys, &ss), 0);
    uint8_t pkt[100] = {0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 42};
    size_t n;
    assert_int_equal(pal_srtp_protect(cs, pkt, 60, sizeof(pkt), &n), 0);
    assert_int_equal(pal_srtp_unprotect(ss, pkt, n, &n), 0);
    assert_int_equal(n, 60);
    pal_srtp_destroy(cs);
    pal_srtp_destroy(ss);

    /* Garbage after the handshake is ignored; close_notify is seen. */
    uint8_t junk[20] = {23, 0xfe, 0xfd};
    assert_int_equal(pal_dtls_feed(s.dtls, junk, sizeof(junk)), 0);
    pal_dtls_close(c.dtls);
    deliver(&c, &s);
    assert_int_equal(s.closed, 1);
    assert_int_equal(pal_dtls_state(s.dtls), PAL_DTLS_CLOSED);

    pal_dtls_destroy(c.dtls);
    pal_dtls_destroy(s.dtls);
    pal_dtls_cert_destroy(cc);
    pal_dtls_cert_destroy(sc);
}

static void fingerprint_mismatch_fails_clearly(void **state)
{
    struct pal_dtls_cert *cc, *sc, *other;
    assert_int_equal(pal_dtls_cert_create(&cc), 0);
    assert_int_equal(pal_dtls_cert_create(&sc), 0);
    assert_int_equal(pal_dtls_cert_create(&other), 0);
    static struct endpoint c, s;
    make_endpoint(&c, cc, PAL_DTLS_CLIENT, pal_dtls_cert_fingerprint(sc));
    /* The server was told (by the SDP) to expect another certificate. */
    make_endpoint(&s, sc, PAL_DTLS_SERVER, pal_dtls_cert_fingerprint(other));
    run(&c, &s);
    assert_int_equal(s.connected, 0);
    assert_int_equal(c.connected, 0);
    assert_int_equal(s.failed, 1);
    assert_int_equal(pal_dtls_state(s.dtls), PAL_DTLS_FAILED);
    assert_non_null(strstr(s.reason, "fingerprint mismatch"));
    assert_non_null(strstr(pal_dtls_error(s.dtls), "fingerprint mismatch"));
    /* Both fingerprints in full: the one presented and the one the SDP gave. */
    assert_non_null(strstr(pal_dtls_error(s.dtls), pal_dtls_cert_fingerprint(cc)));
    assert_non_null(strstr(pal_dtls_error(s.dtls), pal_dtls_cert_fingerprint(other)));
    assert_non_null(strstr(s.reason, pal_dtls_cert_fingerprint(cc)));
    assert_non_null(strstr(s.reason, pal_dtls_cert_fingerprint(other)));
    /* The client got an alert and failed too. */
    assert_int_equal(c.failed, 1);
    assert_int_equal(pal_dtls_state(c.dtls), PAL_DTLS_FAILED);
    struct pal_srtp_keys k;
    assert_int_equal(pal_dtls_srtp_keys(s.dtls, &k), -EAGAIN);
    assert_int_equal(pal_dtls_feed(s.dtls, (const uint8_t *)"x", 1), -EIO);
    pal_dtls_destroy(c.dtls);
    pal_dtls_destroy(s.dtls);

    /* Client side check: the server's certificate is not the expected one. */
    make_endpoint(&c, cc, PAL_DTLS_CLIENT, pal_dtls_cert_fingerprint(other));
    make_endpoint(&s, sc, PAL_DTLS_SERVER, pal_dtls_cert_fingerprint(cc));
    run(&c, &s);
    assert_int_equal(c.failed, 1);
    assert_non_null(strstr(c.reason, "fingerprint mismatch"));
    assert_int_equal(s.connected, 0);
    pal_dtls_destroy(c.dtls);
    pal_dtls_destroy(s.dtls);

    /* No fingerprint at all: fail closed. */
    make_endpoint(&c, cc, PAL_DTLS_CLIENT, pal_dtls_cert_fingerprint(sc));
    make_endpoint(&s, sc, PAL_DTLS_SERVER, NULL);
    run(&c, &s);
    assert_int_equal(s.failed, 1);
    assert_non_null(strstr(s.reason, "no remote DTLS fingerprint"));
    pal_dtls_destroy(c.dtls);
    pal_dtls_destroy(s.dtls);

    pal_dtls_cert_destroy(cc);
    pal_dtls_cert_destroy(sc);
    pal_dtls_cert_destroy(other);
}

static void lost_flight_is_retransmitted_on_timeout(void **state)
{
    struct pal_dtls_cert *cc, *sc;
    assert_int_equal(pal_dtls_cert_create(&cc), 0);
    assert_int_equal(pal_dtls_cert_create(&sc), 0);
    static struct endpoint c, s;
    make_endpoint(&c, cc, PAL_DTLS_CLIENT, pal_dtls_cert_fingerprint(sc));
    make_endpoint(&s, sc, PAL_DTLS_SERVER, pal_dtls_cert_fingerprint(cc));
    pal_dtls_start(s.dtls);
    pal_dtls_start(c.dtls);
    assert_true(c.n >= 1);
    c.n = 0; /* the ClientHello is lost */
    int64_t t = pal_dtls_timeout_ms(c.dtls);
    assert_true(t >= 0 && t <= 400);
    /* The caller's loop would wait t ms; DTLSv1_handle_timeout only acts once
     * the timer has expired, so poll until it retransmits (bounded). */
    for (int i = 0; i < 300 && c.n == 0; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        assert_int_equal(pal_dtls_handle_timeout(c.dtls), 0);
    }
    assert_true(c.n >= 1);
    for (int round = 0; round < 20; round++)
        if (!(deliver(&c, &s) + deliver(&s, &c)))
            break;
    assert_int_equal(c.connected, 1);
    assert_int_equal(s.connected, 1);
    pal_dtls_destroy(c.dtls);
    pal_dtls_destroy(s.dtls);
    pal_dtls_cert_destroy(cc);
    pal_dtls_cert_destroy(sc);
}

static void silent_peer_times_out(void **state)
{
    struct pal_dtls_cert *cc;
    assert_int_equal(pal_dtls_cert_create(&cc), 0);
    static struct endpoint c;
    make_endpoint(&c, cc, PAL_DTLS_CLIENT, pal_dtls_cert_fingerprint(cc));
    pal_dtls_set_max_retransmits(c.dtls, 1);
    pal_dtls_start(c.dtls);
    /* Nobody answers: one retransmission at ~400 ms, failure at ~1.2 s. */
    for (int i = 0; i < 400 && !c.failed; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        pal_dtls_handle_timeout(c.dtls);
    }
    assert_int_equal(c.failed, 1);
    assert_int_equal(c.n, 2); /* ClientHello and one retransmission */
    assert_non_null(strstr(c.reason, "timed out"));
    assert_int_equal(pal_dtls_state(c.dtls), PAL_DTLS_FAILED);
    assert_int_equal(pal_dtls_handle_timeout(c.dtls), -EIO);
    pal_dtls_destroy(c.dtls);
    pal_dtls_cert_destroy(cc);
}

static void bad_arguments(void **state)
{
    struct pal_dtls_cert *cc;
    assert_int_equal(pal_dtls_cert_create(&cc), 0);
    struct pal_dtls *d = NULL;
    struct pal_dtls_listener l = {0};
    assert_int_equal(pal_dtls_create(cc, PAL_DTLS_SERVER, "AB:CD", &l, &d), -EINVAL);
    assert_int_equal(pal_dtls_create(cc, PAL_DTLS_SERVER, NULL, &l, &d), 0);
    assert_int_equal(pal_dtls_set_remote_fingerprint(d, "zz"), -EINVAL);
    char lower[96];
    snprintf(lower, sizeof(lower), "%s", pal_dtls_cert_fingerprint(cc));
    for (char *p = lower; *p; p++)
        if (*p >= 'A' && *p <= 'F')
            *p = (char)(*p - 'A' + 'a');
    assert_int_equal(pal_dtls_set_remote_fingerprint(d, lower), 0);
    /* Garbage before a handshake: dropped, no crash. */
    uint8_t junk[40];
    memset(junk, 22, sizeof(junk));
    pal_dtls_feed(d, junk, sizeof(junk));
    pal_dtls_destroy(d);
    pal_dtls_cert_destroy(cc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(handshake_gives_same_keys_and_gcm),
        cmocka_unit_test(fingerprint_mismatch_fails_clearly),
        cmocka_unit_test(lost_flight_is_retransmitted_on_timeout),
        cmocka_unit_test(silent_peer_times_out),
        cmocka_unit_test(bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
