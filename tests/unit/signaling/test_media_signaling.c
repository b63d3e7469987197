/* signaling/media_signaling.c against a stand-in signaling server (the
 * functions of palabre/signaling.h it uses are defined here and record what
 * would go to each session), with the real media engine behind it.
 * A Chromium publish offer (captured from Chromium 156) gets a usable
 * answer; the other participant gets a subscribe offer carrying the
 * publisher's tracks; bad SDP, stale answers and bad candidates get the
 * protocol's error codes; local candidates reach the browser as
 * ice_candidate events; leaving renegotiates the others; set_receive
 * switches a subscribe offer between the room's mix (exactly one audio and
 * one video m-line) and one track per participant; shutdown frees
 * everything (LeakSanitizer in the ASan build); a hard mute reaches the
 * media worker and track_stats answers from it, to whom it may. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "palabre/access.h"
#include "palabre/config.h"
#include "palabre/media_signaling.h"
#include "palabre/rooms.h"
#include "palabre/sdp.h"
#include "palabre/session.h"
#include "palabre/signaling.h"

/* ---- stand-in server ----------------------------------------------------- */

#define MAX_HANDLERS 8
#define MAX_MSGS 256
#define MAX_SESSIONS 48

struct pal_session {
    char pid[32], room[32];
    struct pal_participant *p; /* in srv.rooms (the real rooms.c) once joined */
    json_t *msgs[MAX_MSGS];
    int n_msgs;
    int answered; /* the last subscribe offer version answered */
};
struct pal_server {
    struct pal_config cfg;
    struct pal_rooms *rooms;
    struct { char type[32]; pal_request_fn fn; void *ud; } handlers[MAX_HANDLERS];
    int n_handlers;
    struct pal_participant_listener listener;
    pal_wake_fn hook;
    void *hook_ud;
    pal_metrics_fn metrics;
    void *metrics_ud;
    pal_mix_admit_fn admit;
    void *admit_ud;
    volatile int woken;
    struct pal_session *sessions[MAX_SESSIONS];
    int n_sessions;
};

static struct pal_server srv;
static struct pal_media_signaling *ms;
static struct pal_session alice = {.room = "demo"};
static struct pal_session bob = {.room = "demo"};

const char *pal_session_participant_id(const struct pal_session *s) { return s->pid; }
const char *pal_session_room(const struct pal_session *s) { return s->room; }
struct pal_participant *pal_session_participant(const struct pal_session *s) { return s->p; }
const struct pal_config *pal_server_config(const struct pal_server *sv) { return &sv->cfg; }
struct pal_rooms *pal_server_rooms(struct pal_server *sv) { return sv->rooms; }
int pal_server_add_metrics_source(struct pal_server *sv, pal_metrics_fn fn, void *ud)
{
    sv->metrics = fn;
    sv->metrics_ud = ud;
    return 0;
}
void pal_server_set_mix_admission(struct pal_server *sv, pal_mix_admit_fn fn, void *ud)
{
    sv->admit = fn;
    sv->admit_ud = ud;
}

int pal_session_send(struct pal_session *s, json_t *msg)
{
    if (s->n_msgs == MAX_MSGS) {
        json_decref(msg);
        return -ENOBUFS;
    }
    s->msgs[s->n_msgs++] = msg;
    return 0;
}
void pal_session_reply_ok(struct pal_session *s, json_t *id, json_t *data)
{
    pal_session_send(s, json_pack("{s:s,s:O,s:b,s:o}", "type", "response", "id", id, "ok", 1,
                                  "data", data ? data : json_object()));
}
void pal_session_reply_error(struct pal_session *s, json_t *id, const char *code,
                             const char *field, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pal_session_send(s, json_pack("{s:s,s:O,s:b,s:{s:s,s:s?,s:s}}", "type", "response", "id", id,
                                  "ok", 0, "error", "code", code, "field", field, "message", msg));
}
void pal_session_reply_rate_limited(struct pal_session *s, json_t *id, int64_t retry_after_ms,
                                    const char *fmt, ...)
{
    pal_session_send(s, json_pack("{s:s,s:O,s:b,s:{s:s,s:I}}", "type", "response", "id", id, "ok",
                                  0, "error", "code", "rate_limited", "retry_after_ms",
                                  (json_int_t)retry_after_ms));
}
/* The roles' rule (signaling/access.c). */
bool pal_access_can_moderate(const struct pal_participant *p)
{
    return p && (p->role == PAL_ROLE_OWNER || p->role == PAL_ROLE_MODERATOR);
}
struct pal_session *pal_server_find_participant(struct pal_server *sv, const char *pid)
{
    for (int i = 0; i < sv->n_sessions; i++)
        if (!strcmp(sv->sessions[i]->pid, pid))
            return sv->sessions[i];
    return NULL;
}
void pal_server_broadcast(struct pal_server *sv, const char *room, const struct pal_session *except,
                          json_t *msg)
{
    for (int i = 0; i < sv->n_sessions; i++)
        if (sv->sessions[i] != except && !strcmp(sv->sessions[i]->room, room))
            pal_session_send(sv->sessions[i], json_incref(msg));
    json_decref(msg);
}
int pal_server_register_handler(struct pal_server *sv, const char *type, pal_request_fn fn,
                                bool needs_room, void *ud)
{
    (void)needs_room;
    assert_true(sv->n_handlers < MAX_HANDLERS);
    snprintf(sv->handlers[sv->n_handlers].type, 32, "%s", type);
    sv->handlers[sv->n_handlers].fn = fn;
    sv->handlers[sv->n_handlers++].ud = ud;
    return 0;
}
int pal_server_add_participant_listener(struct pal_server *sv,
                                        const struct pal_participant_listener *l)
{
    sv->listener = *l;
    return 0;
}
int pal_server_add_wake_hook(struct pal_server *sv, pal_wake_fn fn, void *ud)
{
    sv->hook = fn;
    sv->hook_ud = ud;
    return 0;
}
void pal_server_wake(struct pal_server *sv) { __atomic_store_n(&sv->woken, 1, __ATOMIC_SEQ_CST); }

/* The validators are the real ones (signaling/protocol.c). */

/* ---- helpers ------------------------------------------------------------------- */

static json_t *request(struct pal_session *s, const char *type, json_t *req)
{
    json_object_set_new(req, "type", json_string(type));
    json_object_set_new(req, "id", json_integer(7));
    for (int i = 0; i < srv.n_handlers; i++) {
        if (!strcmp(srv.handlers[i].type, type)) {
            int before = s->n_msgs;
            srv.handlers[i].fn(s, json_object_get(req, "id"), req, srv.handlers[i].ud);
            json_decref(req);
            for (int k = before; k < s->n_msgs; k++)
                if (!strcmp(json_string_value(json_object_get(s->msgs[k], "type")), "response"))
                    return s->msgs[k];
            fail_msg("no response to %s", type);
        }
    }
    fail_msg("no handler for %s", type);
    return NULL;
}

static const char *error_code(json_t *resp)
{
    return json_string_value(json_object_get(json_object_get(resp, "error"), "code"));
}

static json_t *last_of(struct pal_session *s, const char *type)
{
    for (int k = s->n_msgs - 1; k >= 0; k--)
        if (!strcmp(json_string_value(json_object_get(s->msgs[k], "type")), type))
            return s->msgs[k];
    return NULL;
}

static int count_of(struct pal_session *s, const char *type)
{
    int n = 0;
    for (int k = 0; k < s->n_msgs; k++)
        n += !strcmp(json_string_value(json_object_get(s->msgs[k], "type")), type);
    return n;
}

static char *read_offer(void)
{
    const char *root = getenv("PALABRE_ROOT");
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/unit/signaling/chrome156_publish_offer.sdp",
             root ? root : ".");
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void pump_until(struct pal_session *s, const char *type, int min)
{
    for (int i = 0; i < 2000 && count_of(s, type) < min; i++) {
        if (__atomic_exchange_n(&srv.woken, 0, __ATOMIC_SEQ_CST))
            srv.hook(&srv, srv.hook_ud);
        usleep(2000);
    }
    assert_true(count_of(s, type) >= min);
}

/* ---- the test -------------------------------------------------------------------- */

/* Joins s to room in srv.rooms, as the join handler would (mixed: the
 * join asked for receive "mixed"; refused past the mixer's cap). Returns
 * whether the mix was admitted. */
static bool join(struct pal_session *s, const char *room, bool mixed)
{
    struct pal_participant *p;
    snprintf(s->room, sizeof(s->room), "%s", room);
    assert_int_equal(pal_rooms_join(srv.rooms, room, "someone", PAL_ROLE_PARTICIPANT, &p), 0);
    snprintf(s->pid, sizeof(s->pid), "%s", p->id);
    p->owner = s;
    s->p = p;
    char why[160];
    bool admitted = mixed && srv.admit(s, why, sizeof(why), srv.admit_ud);
    p->receive_mixed = admitted;
    bool known = false;
    for (int i = 0; i < srv.n_sessions; i++)
        known |= srv.sessions[i] == s;
    if (!known) {
        assert_true(srv.n_sessions < MAX_SESSIONS);
        srv.sessions[srv.n_sessions++] = s;
    }
    srv.listener.on_participant_joined(s, srv.listener.ud);
    return admitted;
}

/* s leaves (if joined), as the server would: listeners, then removal. */
static void leave(struct pal_session *s)
{
    if (!s->p)
        return;
    srv.listener.on_participant_left(s, srv.listener.ud);
    pal_rooms_remove(srv.rooms, s->p);
    s->p = NULL;
}

static void free_msgs(struct pal_session *s)
{
    for (int k = 0; k < s->n_msgs; k++)
        json_decref(s->msgs[k]);
    s->n_msgs = 0;
    s->answered = 0;
}

/* A fresh stand-in server with media signaling (mixer places: max_mixed). */
static void start(int max_mixed)
{
    /* alice and bob start afresh (even after a failed test) */
    free_msgs(&alice);
    free_msgs(&bob);
    alice.p = bob.p = NULL;
    memset(&srv, 0, sizeof(srv));
    snprintf(srv.cfg.listen_addr, sizeof(srv.cfg.listen_addr), "127.0.0.1");
    srv.cfg.media_workers = 1;
    srv.cfg.mixer_max_rooms = max_mixed;
    srv.rooms = pal_rooms_create(10, 100, 30);
    assert_non_null(srv.rooms);
    assert_int_equal(pal_media_signaling_create(&srv, &ms), 0);
}

/* Everyone leaves, media signaling stops, messages freed. */
static void stop(void)
{
    for (int i = 0; i < srv.n_sessions; i++)
        leave(srv.sessions[i]);
    pal_media_signaling_destroy(ms);
    for (int i = 0; i < srv.n_sessions; i++)
        free_msgs(srv.sessions[i]);
    pal_rooms_destroy(srv.rooms);
}

/* Media signaling on a fresh stand-in server; alice then bob join demo. */
static void join_both(bool bob_mixed)
{
    start(8);
    join(&alice, "demo", false);
    join(&bob, "demo", bob_mixed);
}

static void leave_both(void)
{
    stop();
}

static void test_publish_subscribe_signaling(void **state)
{
    (void)state;
    join_both(false);
    assert_int_equal(count_of(&bob, "subscribe_offer"), 0); /* nothing published yet */

    /* bad SDP */
    json_t *r = request(&alice, "publish", json_pack("{s:s}", "sdp", "hello"));
    assert_string_equal(error_code(r), "sdp_invalid");
    r = request(&alice, "publish",
                json_pack("{s:s}", "sdp",
                          "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
                          "a=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"
                          "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\na=mid:0\r\n"
                          "a=rtcp-mux\r\na=rtpmap:0 PCMU/8000\r\n"));
    assert_string_equal(error_code(r), "sdp_unsupported"); /* no fingerprint */
    r = request(&alice, "publish", json_object());
    assert_string_equal(error_code(r), "missing_field");

    /* Chromium's offer */
    r = request(&alice, "publish", json_pack("{s:s}", "sdp", read_offer()));
    assert_true(json_is_true(json_object_get(r, "ok")));
    const char *answer = json_string_value(json_object_get(json_object_get(r, "data"), "sdp"));
    assert_non_null(answer);
    assert_non_null(strstr(answer, "a=setup:passive"));
    assert_non_null(strstr(answer, "a=recvonly"));
    assert_non_null(strstr(answer, "a=rtpmap:111 opus/48000/2"));
    assert_non_null(strstr(answer, "a=rtpmap:96 VP8/90000"));
    assert_non_null(strstr(answer, "a=group:BUNDLE 0 1"));
    assert_non_null(strstr(answer, "a=fingerprint:sha-256 "));
    assert_non_null(strstr(answer, "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level"));

    /* bob is offered alice's two tracks */
    json_t *offer = last_of(&bob, "subscribe_offer");
    assert_non_null(offer);
    assert_int_equal(json_integer_value(json_object_get(offer, "version")), 1);
    const char *osdp = json_string_value(json_object_get(offer, "sdp"));
    char msid[128];
    snprintf(msid, sizeof(msid), "a=msid:%s c7c42e49-13ce-4f11-bdd9-4b6b80f618ad", alice.pid);
    assert_non_null(strstr(osdp, msid));
    snprintf(msid, sizeof(msid), "a=msid:%s 2a9caeae-f1eb-47d3-8ef2-04c2365aead9", alice.pid);
    assert_non_null(strstr(osdp, msid));
    /* the stream ids are listed too (aiortc reads a=msid only then) */
    snprintf(msid, sizeof(msid), "a=msid-semantic: WMS %s\r\n", alice.pid);
    assert_non_null(strstr(osdp, msid));
    assert_non_null(strstr(osdp, "a=setup:actpass"));
    assert_int_equal(count_of(&alice, "subscribe_offer"), 0); /* not her own tracks */

    /* the server's candidates reach alice (trickle) */
    pump_until(&alice, "ice_candidate", 2);
    json_t *cand = json_object_get(last_of(&alice, "ice_candidate"), "candidate");
    assert_true(json_is_null(cand) || strstr(json_string_value(json_object_get(cand, "candidate")),
                                             "candidate:") != NULL);

    /* candidates from the browser */
    r = request(&alice, "ice_candidate",
                json_pack("{s:s,s:{s:s,s:s,s:i}}", "pc", "publish", "candidate", "candidate",
                          "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", "sdpMid",
                          "0", "sdpMLineIndex", 0));
    assert_true(json_is_true(json_object_get(r, "ok")));
    r = request(&alice, "ice_candidate",
                json_pack("{s:s,s:{s:s}}", "pc", "publish", "candidate", "candidate", "garbage"));
    assert_string_equal(error_code(r), "bad_field");
    r = request(&alice, "ice_candidate", json_pack("{s:s,s:n}", "pc", "sideways", "candidate"));
    assert_string_equal(error_code(r), "bad_field");
    r = request(&alice, "ice_candidate", json_pack("{s:s,s:n}", "pc", "publish", "candidate"));
    assert_true(json_is_true(json_object_get(r, "ok")));

    /* bob answers an old version: refused; the right one: accepted */
    char bob_answer[2048];
    snprintf(bob_answer, sizeof(bob_answer),
             "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
             "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:bobu\r\na=ice-pwd:bobpassword0123456789012\r\n"
             "a=fingerprint:sha-256 %s\r\na=setup:active\r\na=mid:0\r\na=recvonly\r\na=rtcp-mux\r\n"
             "a=rtpmap:111 opus/48000/2\r\n"
             "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=recvonly\r\na=rtcp-mux\r\n"
             "a=rtpmap:96 VP8/90000\r\n",
             "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99");
    r = request(&bob, "subscribe_answer", json_pack("{s:s,s:i}", "sdp", bob_answer, "version", 0));
    assert_string_equal(error_code(r), "version_mismatch");
    r = request(&bob, "subscribe_answer", json_pack("{s:s,s:i}", "sdp", bob_answer, "version", 1));
    assert_true(json_is_true(json_object_get(r, "ok")));
    pump_until(&bob, "ice_candidate", 1);

    /* alice leaves: bob gets a new offer, her tracks no longer sent */
    leave(&alice);
    offer = last_of(&bob, "subscribe_offer");
    assert_int_equal(json_integer_value(json_object_get(offer, "version")), 2);
    osdp = json_string_value(json_object_get(offer, "sdp"));
    assert_null(strstr(osdp, "a=sendonly"));
    assert_non_null(strstr(osdp, "a=inactive"));

    /* subscribe_restart: a new offer with new ICE credentials */
    r = request(&bob, "subscribe_restart", json_object());
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_t *again = last_of(&bob, "subscribe_offer");
    assert_int_equal(json_integer_value(json_object_get(again, "version")), 3);

    leave_both();
}

static int count_str(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void test_set_receive_mixed(void **state)
{
    (void)state;
    join_both(false);

    json_t *r = request(&bob, "set_receive", json_object());
    assert_string_equal(error_code(r), "missing_field");
    r = request(&bob, "set_receive", json_pack("{s:s}", "mode", "both"));
    assert_string_equal(error_code(r), "bad_field");
    r = request(&bob, "set_receive", json_pack("{s:i}", "mode", 1));
    assert_string_equal(error_code(r), "bad_field");
    assert_int_equal(count_of(&bob, "subscribe_offer"), 0);

    /* mixed: one audio and one video m-line, the mixer's, before anyone publishes */
    r = request(&bob, "set_receive", json_pack("{s:s}", "mode", "mixed"));
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "data"), "mode")),
                        "mixed");
    json_t *offer = last_of(&bob, "subscribe_offer");
    assert_non_null(offer);
    const char *osdp = json_string_value(json_object_get(offer, "sdp"));
    assert_int_equal(count_str(osdp, "m=audio "), 1);
    assert_int_equal(count_str(osdp, "m=video "), 1);
    assert_int_equal(count_str(osdp, "a=sendonly"), 2);
    assert_non_null(strstr(osdp, "a=msid:mixer mix-audio"));
    assert_non_null(strstr(osdp, "a=msid:mixer mix-video"));
    r = request(&bob, "set_receive", json_pack("{s:s}", "mode", "mixed")); /* again: no change */
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(count_of(&bob, "subscribe_offer"), 1);

    /* alice publishes: a mixed bob is not offered her tracks */
    r = request(&alice, "publish", json_pack("{s:s}", "sdp", read_offer()));
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(count_of(&bob, "subscribe_offer"), 1);

    /* back to one track per participant: the mix goes inactive, alice's
     * tracks come (after bob answered the pending offer) */
    char bob_answer[2048];
    snprintf(bob_answer, sizeof(bob_answer),
             "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
             "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:bobu\r\na=ice-pwd:bobpassword0123456789012\r\n"
             "a=fingerprint:sha-256 %s\r\na=setup:active\r\na=mid:0\r\na=recvonly\r\na=rtcp-mux\r\n"
             "a=rtpmap:111 opus/48000/2\r\n"
             "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=recvonly\r\na=rtcp-mux\r\n"
             "a=rtpmap:96 VP8/90000\r\n",
             "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99");
    r = request(&bob, "set_receive", json_pack("{s:s}", "mode", "sfu"));
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(count_of(&bob, "subscribe_offer"), 1); /* waits for the answer */
    r = request(&bob, "subscribe_answer", json_pack("{s:s,s:i}", "sdp", bob_answer, "version", 1));
    assert_true(json_is_true(json_object_get(r, "ok")));
    offer = last_of(&bob, "subscribe_offer");
    assert_int_equal(json_integer_value(json_object_get(offer, "version")), 2);
    osdp = json_string_value(json_object_get(offer, "sdp"));
    assert_int_equal(count_str(osdp, "a=sendonly"), 2);
    assert_int_equal(count_str(osdp, "a=inactive"), 2);
    char msid[64];
    snprintf(msid, sizeof(msid), "a=msid:%s ", alice.pid);
    assert_non_null(strstr(osdp, msid));

    leave_both();
}

/* join {receive: "mixed"}: the first subscribe offer is the mix, no set_receive. */
static void test_join_receive_mixed(void **state)
{
    (void)state;
    join_both(true); /* bob's join asks for the mix */
    assert_int_equal(count_of(&bob, "subscribe_offer"), 1);
    assert_int_equal(count_of(&alice, "subscribe_offer"), 0);
    const char *osdp = json_string_value(json_object_get(last_of(&bob, "subscribe_offer"), "sdp"));
    assert_int_equal(count_str(osdp, "m=audio "), 1);
    assert_int_equal(count_str(osdp, "m=video "), 1);
    assert_non_null(strstr(osdp, "a=msid:mixer mix-audio"));
    assert_non_null(strstr(osdp, "a=msid:mixer mix-video"));
    /* already mixed: set_receive mixed changes nothing; alice's tracks are not offered */
    json_t *r = request(&bob, "set_receive", json_pack("{s:s}", "mode", "mixed"));
    assert_true(json_is_true(json_object_get(r, "ok")));
    r = request(&alice, "publish", json_pack("{s:s}", "sdp", read_offer()));
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(count_of(&bob, "subscribe_offer"), 1);

    leave_both();
}

/* ---- churn, bounds, the mixer's cap ------------------------------------------------ */

#define FP "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99"

/* A browser's answer to a subscribe offer: rejected m-lines stay rejected,
 * the others are received (recvonly), bundled. Caller frees. */
static char *answer_to(const char *offer)
{
    struct pal_session_desc *d = calloc(1, sizeof(*d));
    assert_non_null(d);
    struct pal_sdp_error err;
    assert_int_equal(pal_sdp_parse(offer, strlen(offer), d, &err), 0);
    size_t cap = 4096 + (size_t)d->n_media * 512, len = 0;
    char *a = malloc(cap);
    len += (size_t)snprintf(a + len, cap - len,
                            "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE");
    for (unsigned i = 0; i < d->n_media; i++)
        if (d->media[i].port)
            len += (size_t)snprintf(a + len, cap - len, " %s", d->media[i].mid);
    len += (size_t)snprintf(a + len, cap - len, "\r\n");
    for (unsigned i = 0; i < d->n_media; i++) {
        const struct pal_sdp_media *m = &d->media[i];
        bool audio = m->kind == PAL_SDP_KIND_AUDIO;
        unsigned pt = m->codecs[0].pt;
        if (!m->port) {
            len += (size_t)snprintf(a + len, cap - len,
                                    "m=%s 0 UDP/TLS/RTP/SAVPF %u\r\nc=IN IP4 0.0.0.0\r\n"
                                    "a=mid:%s\r\na=inactive\r\na=rtcp-mux\r\n",
                                    m->media_name, pt, m->mid);
            continue;
        }
        len += (size_t)snprintf(
            a + len, cap - len,
            "m=%s 9 UDP/TLS/RTP/SAVPF %u\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:bobu\r\n"
            "a=ice-pwd:bobpassword0123456789012\r\na=fingerprint:sha-256 %s\r\na=setup:active\r\n"
            "a=mid:%s\r\na=recvonly\r\na=rtcp-mux\r\na=rtpmap:%u %s\r\n",
            m->media_name, pt, FP, m->mid, pt, audio ? "opus/48000/2" : "VP8/90000");
    }
    free(d);
    return a;
}

/* Answers s's subscribe offers until none is pending (an answer may bring
 * the next offer at once). */
static void answer_all(struct pal_session *s)
{
    for (;;) {
        json_t *o = last_of(s, "subscribe_offer");
        if (!o || json_integer_value(json_object_get(o, "version")) <= s->answered)
            return;
        int version = (int)json_integer_value(json_object_get(o, "version"));
        char *a = answer_to(json_string_value(json_object_get(o, "sdp")));
        json_t *r = request(s, "subscribe_answer", json_pack("{s:s,s:i}", "sdp", a, "version", version));
        free(a);
        assert_true(json_is_true(json_object_get(r, "ok")));
        s->answered = version;
        if (s->n_msgs > MAX_MSGS - 16) { /* keep the newest offer only */
            json_t *keep = json_incref(last_of(s, "subscribe_offer"));
            free_msgs(s);
            s->msgs[s->n_msgs++] = keep;
            s->answered = version;
        }
    }
}

/* The latest subscribe offer's SDP. */
static const char *offer_sdp(struct pal_session *s)
{
    json_t *o = last_of(s, "subscribe_offer");
    assert_non_null(o);
    return json_string_value(json_object_get(o, "sdp"));
}

/* Whether sdp sends the track (stream id pid) in an active m-line. */
static int active_tracks_of(const char *sdp, const char *pid)
{
    char needle[96];
    snprintf(needle, sizeof(needle), "a=sendonly\r\na=msid:%.32s ", pid);
    return count_str(sdp, needle);
}

/* Chromium's publish offer with its mids renamed (a fresh pair each time). */
static char *offer_with_mids(const char *mid_a, const char *mid_v)
{
    const char *in = read_offer();
    char *out = malloc(strlen(in) + 256);
    char *w = out;
    for (const char *p = in; *p;) {
        const char *rep = NULL;
        size_t skip = 0;
        if (!strncmp(p, "a=group:BUNDLE 0 1\r\n", 20)) {
            w += sprintf(w, "a=group:BUNDLE %s %s\r\n", mid_a, mid_v);
            p += 20;
            continue;
        }
        if (!strncmp(p, "a=mid:0\r\n", 9))
            rep = mid_a, skip = 9;
        else if (!strncmp(p, "a=mid:1\r\n", 9))
            rep = mid_v, skip = 9;
        if (rep) {
            w += sprintf(w, "a=mid:%s\r\n", rep);
            p += skip;
            continue;
        }
        *w++ = *p++;
    }
    *w = '\0';
    return out;
}

/* Regression (issue 10): once 32 audio+video publishers had passed through
 * a room, the 64-m-line offer was full and nobody there received
 * newcomers. Rejected m-lines are now recycled: after 40 come and go, the
 * 41st is offered and bob's offer has not grown. */
static void test_churn_recycles_mlines(void **state)
{
    (void)state;
    static struct pal_session pubs[41];
    start(8);
    join(&bob, "demo", false);
    for (int i = 0; i < 41; i++) {
        memset(&pubs[i], 0, sizeof(pubs[i]));
        join(&pubs[i], "demo", false);
        json_t *r = request(&pubs[i], "publish", json_pack("{s:s}", "sdp", read_offer()));
        assert_true(json_is_true(json_object_get(r, "ok")));
        answer_all(&bob);
        assert_int_equal(active_tracks_of(offer_sdp(&bob), pubs[i].pid), 2);
        if (i < 40) {
            leave(&pubs[i]);
            answer_all(&bob);
            assert_int_equal(active_tracks_of(offer_sdp(&bob), pubs[i].pid), 0);
        }
    }
    /* two active, the first (inactive: it carries the transport) and the
     * last ones rejected since recycling needs the browser's answer */
    assert_true(count_str(offer_sdp(&bob), "\r\nm=") <= 6);
    stop();
    for (int i = 0; i < 41; i++)
        free_msgs(&pubs[i]);
}

/* One publisher renaming its mids on every publish does not grow the others'
 * offers; more than PAL_MEDIA_MAX_TRACKS tracks in one offer are refused. */
static void test_publisher_churn_bounded(void **state)
{
    (void)state;
    join_both(false);
    for (int i = 0; i < 150; i++) {
        char a[16], v[16];
        snprintf(a, sizeof(a), "a%d", i);
        snprintf(v, sizeof(v), "v%d", i);
        char *offer = offer_with_mids(a, v);
        json_t *r = request(&alice, "publish", json_pack("{s:s}", "sdp", offer));
        free(offer);
        assert_true(json_is_true(json_object_get(r, "ok")));
        if (i % 3 == 0) /* a slow browser: several publishes per answer */
            answer_all(&bob);
        free_msgs(&alice);
    }
    answer_all(&bob);
    const char *sdp = offer_sdp(&bob);
    assert_int_equal(active_tracks_of(sdp, alice.pid), 2);
    assert_true(count_str(sdp, "\r\nm=") <= 16);

    /* nine audio tracks in one publish offer */
    char big[16384];
    size_t len = (size_t)snprintf(big, sizeof(big),
                                  "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
                                  "a=group:BUNDLE 0 1 2 3 4 5 6 7 8\r\n");
    for (int i = 0; i < 9; i++)
        len += (size_t)snprintf(big + len, sizeof(big) - len,
                                "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n"
                                "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\n"
                                "a=fingerprint:sha-256 %s\r\na=setup:actpass\r\na=mid:%d\r\n"
                                "a=sendonly\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n",
                                FP, i);
    json_t *r = request(&alice, "publish", json_pack("{s:s}", "sdp", big));
    assert_string_equal(error_code(r), "sdp_unsupported");
    leave_both();
}

static double metric_value(const char *name)
{
    struct pal_metric m[64];
    size_t n = srv.metrics(m, 64, srv.metrics_ud);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(m[i].name, name))
            return m[i].value;
    fail_msg("no metric %s", name);
    return -1;
}

/* [mixer] max_rooms = 1: a second room's participants are refused the mix
 * (mixer_busy) and stay on individual tracks; the place is freed with the
 * first room's last mixed participant. */
/* track_stats {participant_id}: answered once the media worker has read the
 * counters (asynchronously); the hard mute posted by the participant
 * listener shows in them. Returns the response. */
static json_t *track_stats(struct pal_session *s, const char *pid)
{
    int n = count_of(s, "response");
    json_t *req = json_pack("{s:s,s:s,s:i}", "type", "track_stats", "participant_id", pid, "id", 7);
    for (int i = 0; i < srv.n_handlers; i++)
        if (!strcmp(srv.handlers[i].type, "track_stats"))
            srv.handlers[i].fn(s, json_object_get(req, "id"), req, srv.handlers[i].ud);
    json_decref(req);
    pump_until(s, "response", n + 1);
    return last_of(s, "response");
}

static json_t *track_of(json_t *resp, const char *kind)
{
    json_t *tracks = json_object_get(json_object_get(resp, "data"), "tracks"), *t;
    size_t i;
    json_array_foreach(tracks, i, t)
        if (!strcmp(json_string_value(json_object_get(t, "kind")), kind))
            return t;
    fail_msg("no %s track in %s", kind, json_dumps(resp, 0));
    return NULL;
}

static void test_track_stats_and_hard_mute(void **state)
{
    (void)state;
    join_both(false);
    json_t *r = request(&alice, "publish", json_pack("{s:s}", "sdp", read_offer()));
    assert_true(json_is_true(json_object_get(r, "ok")));

    r = track_stats(&alice, alice.pid);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "data"),
                                                          "participant_id")),
                        alice.pid);
    assert_false(json_is_true(json_object_get(track_of(r, "audio"), "blocked")));
    assert_int_equal(json_integer_value(json_object_get(track_of(r, "audio"),
                                                        "packets_forwarded")),
                     0);

    /* a moderator blocked alice's microphone: the listener tells the worker */
    alice.p->mic_blocked = true;
    srv.listener.on_participant_blocked(&alice, srv.listener.ud);
    r = track_stats(&alice, alice.pid);
    assert_true(json_is_true(json_object_get(track_of(r, "audio"), "blocked")));
    assert_false(json_is_true(json_object_get(track_of(r, "video"), "blocked")));

    /* bob, a participant, may not look at alice; as a moderator he may */
    r = request(&bob, "track_stats", json_pack("{s:s}", "participant_id", alice.pid));
    assert_string_equal(error_code(r), "forbidden");
    r = request(&bob, "track_stats", json_pack("{s:s}", "participant_id", "p_000000000000"));
    assert_string_equal(error_code(r), "unknown_participant");
    bob.p->role = PAL_ROLE_MODERATOR;
    r = track_stats(&bob, alice.pid);
    assert_true(json_is_true(json_object_get(track_of(r, "audio"), "blocked")));
    /* bob publishes nothing: no track */
    r = track_stats(&bob, bob.pid);
    assert_int_equal(json_array_size(json_object_get(json_object_get(r, "data"), "tracks")), 0);

    /* lifted */
    alice.p->mic_blocked = false;
    srv.listener.on_participant_blocked(&alice, srv.listener.ud);
    r = track_stats(&alice, alice.pid);
    assert_false(json_is_true(json_object_get(track_of(r, "audio"), "blocked")));

    /* what one participant may keep waiting is bounded; the rest is refused */
    int before = count_of(&bob, "response");
    for (int i = 0; i < 6; i++) {
        json_t *req = json_pack("{s:s,s:i}", "participant_id", alice.pid, "id", 7);
        for (int k = 0; k < srv.n_handlers; k++)
            if (!strcmp(srv.handlers[k].type, "track_stats"))
                srv.handlers[k].fn(&bob, json_object_get(req, "id"), req, srv.handlers[k].ud);
        json_decref(req);
    }
    int limited = 0;
    for (int k = 0; k < bob.n_msgs; k++) {
        json_t *e = json_object_get(bob.msgs[k], "error");
        limited += e && !strcmp(json_string_value(json_object_get(e, "code")), "rate_limited");
    }
    assert_int_equal(limited, 2);
    pump_until(&bob, "response", before + 6); /* the 4 others are answered */
    leave_both();
}

static void test_mixer_cap(void **state)
{
    (void)state;
    static struct pal_session carol, dave, erin;
    memset(&carol, 0, sizeof(carol));
    memset(&dave, 0, sizeof(dave));
    memset(&erin, 0, sizeof(erin));
    start(1);
    join(&alice, "demo", false);
    join(&bob, "demo", false);
    join(&carol, "other", false);
    join(&dave, "other", false);

    json_t *r = request(&bob, "set_receive", json_pack("{s:s}", "mode", "mixed"));
    assert_true(json_is_true(json_object_get(r, "ok")));
    r = request(&alice, "set_receive", json_pack("{s:s}", "mode", "mixed")); /* same room */
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_true(metric_value("palabre_mixer_rooms_admitted") == 1);

    r = request(&carol, "set_receive", json_pack("{s:s}", "mode", "mixed"));
    assert_string_equal(error_code(r), "mixer_busy");
    const char *msg = json_string_value(json_object_get(json_object_get(r, "error"), "message"));
    assert_non_null(strstr(msg, "at most 1 room"));
    assert_false(carol.p->receive_mixed);
    /* carol stays on individual tracks: dave's come to her */
    r = request(&dave, "publish", json_pack("{s:s}", "sdp", read_offer()));
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(active_tracks_of(offer_sdp(&carol), dave.pid), 2);
    assert_int_equal(count_str(offer_sdp(&carol), "a=msid:mixer"), 0);

    /* a join asking for the mix: admitted to the room, on individual tracks */
    assert_false(join(&erin, "other", true));
    assert_false(erin.p->receive_mixed);
    assert_int_equal(active_tracks_of(offer_sdp(&erin), dave.pid), 2);

    /* bob back to sfu: alice still mixes demo, the place is still taken */
    r = request(&bob, "set_receive", json_pack("{s:s}", "mode", "sfu"));
    assert_true(json_is_true(json_object_get(r, "ok")));
    r = request(&carol, "set_receive", json_pack("{s:s}", "mode", "mixed"));
    assert_string_equal(error_code(r), "mixer_busy");
    /* alice leaves: demo no longer mixed, other takes the place */
    leave(&alice);
    assert_true(metric_value("palabre_mixer_rooms_admitted") == 0);
    answer_all(&carol);
    r = request(&carol, "set_receive", json_pack("{s:s}", "mode", "mixed"));
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_true(carol.p->receive_mixed);
    answer_all(&carol);
    assert_int_equal(count_str(offer_sdp(&carol), "a=sendonly\r\na=msid:mixer "), 2);
    r = request(&bob, "set_receive", json_pack("{s:s}", "mode", "mixed"));
    assert_string_equal(error_code(r), "mixer_busy");
    stop();
    free_msgs(&carol);
    free_msgs(&dave);
    free_msgs(&erin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_subscribe_signaling),
        cmocka_unit_test(test_set_receive_mixed),
        cmocka_unit_test(test_join_receive_mixed),
        cmocka_unit_test(test_churn_recycles_mlines),
        cmocka_unit_test(test_publisher_churn_bounded),
        cmocka_unit_test(test_mixer_cap),
        cmocka_unit_test(test_track_stats_and_hard_mute),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
