/* The whole media engine over real sockets on 127.0.0.1: a worker thread
 * with libnice, DTLS and SRTP, and two test clients built from the same
 * ICE/DTLS/SRTP pieces (as a browser would use them). alice publishes an
 * Opus-like stream, bob subscribes: bob must receive alice's packets,
 * rewritten to the SSRC/PT of his subscribe offer and decryptable with his
 * keys; a hard mute (TRACK_BLOCK) stops that and TRACK_STATS reports the
 * counters. A client whose certificate does not match the announced fingerprint
 * gets a dtls failure event. Everything is freed at the end (LeakSanitizer
 * in the ASan build). No timing is asserted: waits only bound a failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <glib.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "palabre/dtls.h"
#include "palabre/ice.h"
#include "palabre/media.h"
#include "palabre/rtcp.h"
#include "palabre/rtp.h"
#include "palabre/srtp.h"

#define WAIT_MS 20000

struct client {
    const char *name;
    enum pal_media_pc pc;
    GMainContext *ctx;
    struct pal_ice *ice;
    struct pal_dtls *dtls;
    struct pal_srtp *srtp;
    struct pal_media_ice_params local, server;
    bool ice_up, dtls_up, dtls_failed;
    enum pal_srtp_profile profile;
    int rtp_received;
    uint32_t last_ssrc;
    uint8_t last_pt;
    uint8_t last_payload[64];
    size_t last_payload_len;
    int plis;
};

static struct pal_media *media;
static struct pal_dtls_cert *cert_a, *cert_b;
static GMainContext *ctx;

static void wake(void *ud)
{
    (void)ud;
    g_main_context_wakeup(ctx);
}

static void on_dtls_send(void *c_, const uint8_t *d, size_t len)
{
    struct client *c = c_;
    pal_ice_send(c->ice, d, len);
}
static void on_dtls_connected(void *c_, const struct pal_srtp_keys *keys)
{
    struct client *c = c_;
    assert_int_equal(pal_srtp_create(keys, &c->srtp), 0);
    c->profile = keys->profile;
    c->dtls_up = true;
}
static void on_dtls_failed(void *c_, const char *reason)
{
    struct client *c = c_;
    (void)reason;
    c->dtls_failed = true;
}

static void on_ice_candidate(void *c_, const struct pal_media_candidate *cand)
{
    struct client *c = c_;
    struct pal_media_cmd cmd = {.type = PAL_MEDIA_CMD_REMOTE_CANDIDATE, .pc = c->pc};
    snprintf(cmd.room, sizeof(cmd.room), "demo");
    snprintf(cmd.participant, sizeof(cmd.participant), "%s", c->name);
    cmd.u.remote_candidate.cand = *cand;
    assert_int_equal(pal_media_post(media, &cmd), 0);
}
static void on_ice_connected(void *c_)
{
    struct client *c = c_;
    c->ice_up = true;
    pal_dtls_start(c->dtls);
}
static void on_ice_recv(void *c_, uint8_t *buf, size_t len)
{
    struct client *c = c_;
    if (buf[0] >= 20 && buf[0] <= 63) {
        pal_dtls_feed(c->dtls, buf, len);
        return;
    }
    if (!c->srtp || len < 12)
        return;
    size_t out;
    if (buf[1] >= 192 && buf[1] <= 223) {
        if (pal_srtp_unprotect_rtcp(c->srtp, buf, len, &out) == 0) {
            struct pal_rtcp_iter it;
            struct pal_rtcp_packet pk;
            pal_rtcp_iter_init(&it, buf, out);
            while (pal_rtcp_next(&it, &pk, NULL) == 1)
                if (pk.kind == PAL_RTCP_PLI)
                    c->plis++;
        }
        return;
    }
    if (pal_srtp_unprotect(c->srtp, buf, len, &out) != 0)
        return;
    struct pal_rtp_packet p;
    if (pal_rtp_parse(&p, buf, out, NULL) != 0)
        return;
    c->rtp_received++;
    c->last_ssrc = p.ssrc;
    c->last_pt = p.payload_type;
    c->last_payload_len = PAL_MIN(p.payload_len, sizeof(c->last_payload));
    memcpy(c->last_payload, pal_rtp_payload(&p), c->last_payload_len);
}

static const struct pal_media_config cfg = {.workers = 1, .interfaces = "lo",
                                            .add_loopback = true};

static void client_start(struct client *c, const char *name, enum pal_media_pc pc,
                         const struct pal_dtls_cert *cert)
{
    memset(c, 0, sizeof(*c));
    c->name = name;
    c->pc = pc;
    snprintf(c->local.ufrag, sizeof(c->local.ufrag), "%sU", name);
    snprintf(c->local.pwd, sizeof(c->local.pwd), "%s-password-0123456789", name);
    snprintf(c->server.ufrag, sizeof(c->server.ufrag), "srv%s", name);
    snprintf(c->server.pwd, sizeof(c->server.pwd), "server-password-for-%s-0123", name);
    struct pal_ice_listener il = {.ctx = c, .on_ice_candidate = on_ice_candidate,
                                  .on_ice_connected = on_ice_connected,
                                  .on_ice_recv = on_ice_recv};
    /* The offerer controls: the browser on its publish PC. */
    assert_int_equal(pal_ice_create(ctx, &cfg, pc == PAL_MEDIA_PC_PUBLISH, &c->local, NULL, &il, &c->ice),
                     0);
    assert_int_equal(pal_ice_set_remote(c->ice, &c->server), 0);
    struct pal_dtls_listener dl = {.ctx = c, .on_dtls_send = on_dtls_send,
                                   .on_dtls_connected = on_dtls_connected,
                                   .on_dtls_failed = on_dtls_failed};
    assert_int_equal(pal_dtls_create(cert, PAL_DTLS_CLIENT, pal_media_fingerprint(media), &dl,
                                     &c->dtls),
                     0);
}

static void client_stop(struct client *c)
{
    pal_ice_destroy(c->ice);
    pal_dtls_destroy(c->dtls);
    pal_srtp_destroy(c->srtp);
}

static struct client *clients[4];
static int n_events_failed_dtls;
static int n_connected;
static struct pal_media_event stats_ev; /* the last TRACK_STATS answer */
static int n_stats;

static void pump(int ms)
{
    int64_t end = pal_now_ms() + ms;
    while (pal_now_ms() < end) {
        g_main_context_iteration(ctx, FALSE);
        struct pal_media_event ev;
        while (pal_media_poll_event(media, &ev) == 1) {
            if (ev.type == PAL_MEDIA_EV_LOCAL_CANDIDATE) {
                for (int i = 0; i < 4; i++)
                    if (clients[i] && strcmp(clients[i]->name, ev.participant) == 0 &&
                        clients[i]->pc == ev.pc)
                        pal_ice_add_remote_candidate(clients[i]->ice, &ev.u.candidate);
            } else if (ev.type == PAL_MEDIA_EV_FAILED && ev.u.failed.code == PAL_MEDIA_FAIL_DTLS) {
                n_events_failed_dtls++;
            } else if (ev.type == PAL_MEDIA_EV_CONNECTED) {
                n_connected++;
            } else if (ev.type == PAL_MEDIA_EV_TRACK_STATS) {
                stats_ev = ev;
                n_stats++;
            }
        }
        g_usleep(1000);
    }
}

#define WAIT_FOR(cond)                                                                             \
    do {                                                                                           \
        int64_t end_ = pal_now_ms() + WAIT_MS;                                                     \
        while (!(cond) && pal_now_ms() < end_)                                                     \
            pump(5);                                                                               \
        assert_true(cond);                                                                         \
    } while (0)

static struct pal_media_track audio_track(const char *mid, uint32_t ssrc, uint8_t pt)
{
    struct pal_media_track t = {.kind = PAL_MEDIA_AUDIO, .payload_type = pt, .clock_rate = 48000,
                                .ssrc = ssrc};
    snprintf(t.mid, sizeof(t.mid), "%s", mid);
    return t;
}

static void post_publish(struct client *c, const struct pal_dtls_cert *claimed)
{
    struct pal_media_cmd cmd = {.type = PAL_MEDIA_CMD_PUBLISH, .pc = PAL_MEDIA_PC_PUBLISH};
    snprintf(cmd.room, sizeof(cmd.room), "demo");
    snprintf(cmd.participant, sizeof(cmd.participant), "%s", c->name);
    cmd.u.publish.local = c->server;
    cmd.u.publish.remote = c->local;
    snprintf(cmd.u.publish.dtls.fingerprint, sizeof(cmd.u.publish.dtls.fingerprint), "%s",
             pal_dtls_cert_fingerprint(claimed));
    cmd.u.publish.dtls.our_role = PAL_DTLS_SERVER;
    cmd.u.publish.n_tracks = 1;
    cmd.u.publish.tracks[0] = audio_track("0", 0x1111, 111);
    assert_int_equal(pal_media_post(media, &cmd), 0);
}

static void send_audio(struct client *c, uint16_t *seq, uint32_t *ts, int round)
{
    uint8_t payload[40];
    memset(payload, 0xA0 + (round & 15), sizeof(payload));
    struct pal_rtp_header h = {.payload_type = 111, .seq = (*seq)++, .timestamp = *ts,
                               .ssrc = 0x1111};
    *ts += 960;
    uint8_t buf[1500];
    size_t len, out;
    assert_int_equal(pal_rtp_write(&h, payload, sizeof(payload), buf, sizeof(buf), &len), 0);
    assert_int_equal(pal_srtp_protect(c->srtp, buf, len, sizeof(buf), &out), 0);
    pal_ice_send(c->ice, buf, out);
}

/* Posts TRACK_STATS for participant of room demo and waits for its answer. */
static struct pal_media_event track_stats(const char *participant, uint32_t request)
{
    struct pal_media_cmd cmd = {.type = PAL_MEDIA_CMD_TRACK_STATS};
    snprintf(cmd.room, sizeof(cmd.room), "demo");
    snprintf(cmd.participant, sizeof(cmd.participant), "%s", participant);
    cmd.u.stats.request = request;
    int n = n_stats;
    assert_int_equal(pal_media_post(media, &cmd), 0);
    WAIT_FOR(n_stats > n);
    assert_int_equal(stats_ev.u.track_stats.request, request);
    assert_string_equal(stats_ev.participant, participant);
    return stats_ev;
}

static void test_publish_subscribe_forwarding(void **state)
{
    (void)state;
    struct client alice, bob;
    n_connected = 0;
    client_start(&alice, "alice", PAL_MEDIA_PC_PUBLISH, cert_a);
    client_start(&bob, "bob", PAL_MEDIA_PC_SUBSCRIBE, cert_b);
    clients[0] = &alice;
    clients[1] = &bob;
    post_publish(&alice, cert_a);

    struct pal_media_cmd cmd = {.type = PAL_MEDIA_CMD_SUBSCRIBE_OPEN, .pc = PAL_MEDIA_PC_SUBSCRIBE};
    snprintf(cmd.room, sizeof(cmd.room), "demo");
    snprintf(cmd.participant, sizeof(cmd.participant), "bob");
    cmd.u.subscribe.local = bob.server;
    assert_int_equal(pal_media_post(media, &cmd), 0);
    cmd.type = PAL_MEDIA_CMD_CONSUMER_ADD;
    snprintf(cmd.u.consumer.producer, sizeof(cmd.u.consumer.producer), "alice");
    snprintf(cmd.u.consumer.producer_mid, sizeof(cmd.u.consumer.producer_mid), "0");
    cmd.u.consumer.track = audio_track("a-alice", 0xB0B, 109);
    assert_int_equal(pal_media_post(media, &cmd), 0);
    memset(&cmd.u, 0, sizeof(cmd.u));
    cmd.type = PAL_MEDIA_CMD_SUBSCRIBE_REMOTE;
    cmd.u.subscribe.remote = bob.local;
    snprintf(cmd.u.subscribe.dtls.fingerprint, sizeof(cmd.u.subscribe.dtls.fingerprint), "%s",
             pal_dtls_cert_fingerprint(cert_b));
    cmd.u.subscribe.dtls.our_role = PAL_DTLS_SERVER;
    assert_int_equal(pal_media_post(media, &cmd), 0);

    WAIT_FOR(alice.dtls_up && bob.dtls_up && n_connected == 2);
    /* AEAD_AES_128_GCM is preferred when both offer it */
    assert_int_equal(alice.profile, PAL_SRTP_AEAD_AES_128_GCM);

    uint16_t seq = 4000;
    uint32_t ts = 0;
    for (int round = 0; round < 200 && bob.rtp_received < 20; round++) {
        send_audio(&alice, &seq, &ts, round);
        pump(20);
    }
    assert_true(bob.rtp_received >= 20);
    assert_int_equal(bob.last_ssrc, 0xB0B);
    assert_int_equal(bob.last_pt, 109);
    assert_int_equal(bob.last_payload_len, 40);
    assert_int_equal(bob.last_payload[0] & 0xF0, 0xA0);

    struct pal_media_stats st;
    pump(100);
    pal_media_get_stats(media, &st);
    assert_int_equal(st.rooms, 1);
    assert_true(st.rtp_out >= 20);

    /* A moderator's hard mute through the command queue: alice's audio is
     * still received, bob gets nothing more; the counters come back as an
     * event answering the request. */
    struct pal_media_cmd blk = {.type = PAL_MEDIA_CMD_TRACK_BLOCK};
    snprintf(blk.room, sizeof(blk.room), "demo");
    snprintf(blk.participant, sizeof(blk.participant), "alice");
    blk.u.block.kind = PAL_MEDIA_AUDIO;
    blk.u.block.blocked = true;
    assert_int_equal(pal_media_post(media, &blk), 0);
    struct pal_media_event before = track_stats("alice", 41);
    assert_true(before.u.track_stats.found);
    assert_int_equal(before.u.track_stats.n, 1);
    assert_string_equal(before.u.track_stats.tracks[0].mid, "0");
    assert_true(before.u.track_stats.tracks[0].blocked);
    int got = bob.rtp_received;
    for (int round = 0; round < 10; round++) {
        send_audio(&alice, &seq, &ts, round);
        pump(20);
    }
    pump(200);
    struct pal_media_event after = track_stats("alice", 42);
    assert_int_equal(bob.rtp_received, got);
    assert_true(after.u.track_stats.tracks[0].packets_received >
                before.u.track_stats.tracks[0].packets_received);
    assert_int_equal(after.u.track_stats.tracks[0].packets_forwarded,
                     before.u.track_stats.tracks[0].packets_forwarded);
    /* nobody of that name: answered all the same */
    struct pal_media_event none = track_stats("nobody", 43);
    assert_false(none.u.track_stats.found);
    assert_int_equal(none.u.track_stats.n, 0);

    /* both leave: the room closes */
    cmd.type = PAL_MEDIA_CMD_PARTICIPANT_REMOVE;
    snprintf(cmd.participant, sizeof(cmd.participant), "alice");
    assert_int_equal(pal_media_post(media, &cmd), 0);
    snprintf(cmd.participant, sizeof(cmd.participant), "bob");
    assert_int_equal(pal_media_post(media, &cmd), 0);
    WAIT_FOR((pal_media_get_stats(media, &st), st.rooms == 0));
    clients[0] = clients[1] = NULL;
    client_stop(&alice);
    client_stop(&bob);
}

static void test_fingerprint_mismatch_fails_dtls(void **state)
{
    (void)state;
    struct client eve;
    n_events_failed_dtls = 0;
    client_start(&eve, "eve", PAL_MEDIA_PC_PUBLISH, cert_b); /* uses cert_b ... */
    clients[2] = &eve;
    post_publish(&eve, cert_a); /* ... but the SDP announced cert_a */
    WAIT_FOR(n_events_failed_dtls == 1);
    assert_false(eve.dtls_up);
    struct pal_media_cmd cmd = {.type = PAL_MEDIA_CMD_PARTICIPANT_REMOVE};
    snprintf(cmd.room, sizeof(cmd.room), "demo");
    snprintf(cmd.participant, sizeof(cmd.participant), "eve");
    assert_int_equal(pal_media_post(media, &cmd), 0);
    struct pal_media_stats st;
    WAIT_FOR((pal_media_get_stats(media, &st), st.rooms == 0));
    clients[2] = NULL;
    client_stop(&eve);
}

static int group_setup(void **state)
{
    (void)state;
    ctx = g_main_context_new();
    g_main_context_push_thread_default(ctx);
    assert_int_equal(pal_media_create(&cfg, wake, NULL, &media), 0);
    assert_int_equal(pal_dtls_cert_create(&cert_a), 0);
    assert_int_equal(pal_dtls_cert_create(&cert_b), 0);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    pal_media_destroy(media);
    pal_dtls_cert_destroy(cert_a);
    pal_dtls_cert_destroy(cert_b);
    while (g_main_context_iteration(ctx, FALSE))
        ;
    g_main_context_pop_thread_default(ctx);
    g_main_context_unref(ctx);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_subscribe_forwarding),
        cmocka_unit_test(test_fingerprint_mismatch_fails_dtls),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
