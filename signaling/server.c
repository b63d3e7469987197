/* The signaling server: one lws_context serving HTTP (the browser client,
 * /healthz, /metrics) and the WebSocket at /ws on one port; the rooms; the request
 * handler table; participant listeners and wake hooks (signaling.h).
 *
 * Timers (lws_sul): the chat group commit, armed 1 ms after the first send
 * of a loop turn, a 500 ms sweep of expired resume windows, and chat
 * retention ([chat] retention_days): at start, then every 10 minutes, in
 * batches of RETENTION_BATCH rows a loop turn apart, so that a large backlog
 * never holds the signaling thread for long. */
#include "palabre/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libwebsockets.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "palabre/access.h"
#include "palabre/chat_store.h"
#include "palabre/cluster.h"
#include "palabre/oidc.h"
#include "palabre/common.h"
#include "palabre/drain.h"
#include "palabre/http.h"
#include "palabre/ip_limits.h"
#include "palabre/jwt.h"
#include "palabre/log.h"
#include "palabre/oidc.h"
#include "palabre/room_store.h"
#include "palabre/rooms.h"
#include "palabre/session.h"
#include "palabre/tls.h"

#define MAX_LISTENERS 16
#define MAX_WAKE_HOOKS 16
#define SWEEP_US (500 * LWS_US_PER_MS)
#define RETENTION_BATCH 500
#define RETENTION_PERIOD_US (600 * LWS_US_PER_SEC)
#define RETENTION_NEXT_BATCH_US (10 * LWS_US_PER_MS)
#define SHUTDOWN_GRACE_MS 3000
#define SHUTDOWN_NOTICE_MS 300
#define DRAIN_ANSWER_MS 200
#define HEADER_BYTES_MAX (16 * 1024) /* request headers served; 431 above */
/* lws keeps HEADER_BUFFER bytes of header values and drops a request past
 * them; each header is cut just past HEADER_BYTES_MAX (pal_http_token_limits) */
#define HEADER_BUFFER (32 * 1024)
#define LWS_LOG_PER_SECOND 5
#define ACCEPT_BACKOFF_US (20 * 1000)

struct wake_hook {
    pal_wake_fn fn;
    void *ud;
};

#define MAX_METRICS_SOURCES 4
#define MAX_ADOPTED 4

struct adopted {
    void *obj;
    void (*destroy)(void *obj);
};

struct pal_server {
    /* owned */
    struct pal_config cfg;
    struct lws_context *ctx;
    struct pal_rooms *rooms;
    struct pal_chat_store *chat;
    struct pal_room_store *room_store;
    struct pal_jwt_verifier *jwt; /* [access] agents = token only */
    struct pal_oidc *oidc;        /* [access] agents = oidc only */
    struct pal_ip_limits *ip_limits;
    struct pal_cluster *cluster; /* [cluster] redis only */
    struct pal_handler_entry *handlers;
    int n_handlers, cap_handlers;
    struct pal_participant_listener listeners[MAX_LISTENERS];
    int n_listeners;
    struct wake_hook wake[MAX_WAKE_HOOKS];
    int n_wake;
    struct pal_metrics_source metrics[MAX_METRICS_SOURCES];
    int n_metrics;
    struct adopted adopted[MAX_ADOPTED]; /* media signaling: destroyed with the server */
    int n_adopted;
    pthread_mutex_t wake_mu; /* media workers' wakes vs. the context's destruction */
    bool wake_closed;        /* under wake_mu: the context is going, wake no more */
    pal_mix_admit_fn mix_admit;
    void *mix_admit_ud;
    lws_sorted_usec_list_t sul_flush, sul_sweep, sul_tick, sul_retention, sul_drain;
    /* borrowed */
    SSL_CTX *tls_ctx; /* the listening vhost's ([server] tls_cert), lws owns it */
    /* state */
    struct pal_session *sessions; /* connected sessions */
    atomic_int stop_requested;    /* set by a signal handler or another thread */
    atomic_int reload_requested;  /* SIGHUP: reload the TLS certificate */
    atomic_int drain_requests;    /* SIGTERMs so far (a signal handler) */
    int drain_requests_seen;
    bool draining;
    int64_t drain_deadline_wall_ms, drain_deadline_mono_ms;
    int64_t drain_not_before_ms; /* POST /admin/drain: its answer leaves before the stop */
    uint64_t turn;               /* turns of the service loop */
    bool stopping;
    bool flush_armed;
};

/* lws per-connection data: kept tiny (an idle connection costs lws's own
 * wsi and rx buffer, this, and the pal_session). */
struct pss {
    struct pal_session *s;
    char *http_body; /* /healthz or /metrics answer waiting for WRITEABLE */
    bool refused;    /* a method other than GET/HEAD: 405 once its body is read */
    bool admin;      /* ... unless it is POST /admin/drain: answered then */
};

/* ---- accessors ----------------------------------------------------------- */

const struct pal_config *pal_server_config(const struct pal_server *srv)
{
    return &srv->cfg;
}
struct pal_rooms *pal_server_rooms(struct pal_server *srv)
{
    return srv->rooms;
}
struct pal_chat_store *pal_server_chat(struct pal_server *srv)
{
    return srv->chat;
}
struct pal_room_store *pal_server_room_store(struct pal_server *srv)
{
    return srv->room_store;
}
struct pal_jwt_verifier *pal_server_jwt(struct pal_server *srv)
{
    return srv->jwt;
}
struct pal_cluster *pal_server_cluster(struct pal_server *srv)
{
    return srv->cluster;
}
struct pal_ip_limits *pal_server_ip_limits(struct pal_server *srv)
{
    return srv->ip_limits;
}
uint64_t pal_server_turn(const struct pal_server *srv)
{
    return srv->turn;
}
bool pal_server_stopping(const struct pal_server *srv)
{
    return srv->stopping;
}
struct pal_session **pal_server_sessions(struct pal_server *srv)
{
    return &srv->sessions;
}

struct pal_session *pal_server_find_participant(struct pal_server *srv, const char *participant_id)
{
    struct pal_participant *p = pal_rooms_find_participant(srv->rooms, participant_id);
    return p ? p->owner : NULL;
}

/* ---- registration -------------------------------------------------------- */

const struct pal_handler_entry *pal_server_find_handler(struct pal_server *srv, const char *type)
{
    for (int i = 0; i < srv->n_handlers; i++)
        if (strcmp(srv->handlers[i].type, type) == 0)
            return &srv->handlers[i];
    return NULL;
}

int pal_server_register_handler(struct pal_server *srv, const char *type, pal_request_fn fn,
                                bool needs_room, void *ud)
{
    if (pal_server_find_handler(srv, type))
        return -EEXIST;
    if (srv->n_handlers == srv->cap_handlers) {
        int cap = srv->cap_handlers ? srv->cap_handlers * 2 : 16;
        struct pal_handler_entry *h = realloc(srv->handlers, (size_t)cap * sizeof(*h));
        if (!h)
            return -ENOMEM;
        srv->handlers = h;
        srv->cap_handlers = cap;
    }
    char *t = strdup(type);
    if (!t)
        return -ENOMEM;
    srv->handlers[srv->n_handlers++] = (struct pal_handler_entry){t, fn, needs_room, ud};
    return 0;
}

int pal_server_add_participant_listener(struct pal_server *srv,
                                        const struct pal_participant_listener *l)
{
    if (srv->n_listeners >= MAX_LISTENERS)
        return -ENOSPC;
    srv->listeners[srv->n_listeners++] = *l;
    return 0;
}

int pal_server_add_metrics_source(struct pal_server *srv, pal_metrics_fn fn, void *ud)
{
    if (srv->n_metrics >= MAX_METRICS_SOURCES)
        return -ENOSPC;
    srv->metrics[srv->n_metrics++] = (struct pal_metrics_source){fn, ud};
    return 0;
}

int pal_server_metrics_sources(struct pal_server *srv, const struct pal_metrics_source **out)
{
    *out = srv->metrics;
    return srv->n_metrics;
}

int pal_server_adopt(struct pal_server *srv, void *obj, void (*destroy)(void *obj))
{
    if (srv->n_adopted >= MAX_ADOPTED)
        return -ENOSPC;
    srv->adopted[srv->n_adopted++] = (struct adopted){obj, destroy};
    return 0;
}

void pal_server_set_mix_admission(struct pal_server *srv, pal_mix_admit_fn fn, void *ud)
{
    srv->mix_admit = fn;
    srv->mix_admit_ud = ud;
}

bool pal_server_admit_mix(struct pal_server *srv, struct pal_session *s, char *why, size_t len)
{
    return !srv->mix_admit || srv->mix_admit(s, why, len, srv->mix_admit_ud);
}

int pal_server_add_wake_hook(struct pal_server *srv, pal_wake_fn fn, void *ud)
{
    if (srv->n_wake >= MAX_WAKE_HOOKS)
        return -ENOSPC;
    srv->wake[srv->n_wake++] = (struct wake_hook){fn, ud};
    return 0;
}

void pal_server_wake(struct pal_server *srv)
{
    /* Adopted objects (media workers) outlive the lws context by a little:
     * pal_server_destroy closes the wakes before destroying it. */
    pthread_mutex_lock(&srv->wake_mu);
    if (srv->ctx && !srv->wake_closed)
        lws_cancel_service(srv->ctx);
    pthread_mutex_unlock(&srv->wake_mu);
}

void pal_server_request_stop(struct pal_server *srv)
{
    srv->stop_requested = 1;
    if (srv->ctx)
        lws_cancel_service(srv->ctx);
}

/* ---- graceful drain ------------------------------------------------------------ */

void pal_server_request_drain(struct pal_server *srv)
{
    atomic_fetch_add(&srv->drain_requests, 1);
    if (srv->ctx)
        lws_cancel_service(srv->ctx);
}

bool pal_server_draining(const struct pal_server *srv)
{
    return srv->draining;
}

int64_t pal_server_drain_deadline_ms(const struct pal_server *srv)
{
    return srv->drain_deadline_wall_ms;
}

static int start_drain(struct pal_server *srv)
{
    if (srv->draining)
        return -EALREADY;
    int secs = srv->cfg.drain_seconds;
    srv->draining = true;
    srv->drain_deadline_mono_ms = pal_now_ms() + (int64_t)secs * 1000;
    srv->drain_deadline_wall_ms = pal_wall_ms() + (int64_t)secs * 1000;
    if (secs == 0) {
        PAL_INFO("server", NULL, NULL, "drain with drain_seconds = 0: stopping now");
        return 0; /* drain_turn stops: the deadline is now */
    }
    PAL_INFO("server", NULL, NULL,
             "draining: no new room; %d room(s) running may go on for up to %d s",
             pal_rooms_count(srv->rooms), secs);
    json_t *ev = pal_drain_event(srv->drain_deadline_wall_ms, pal_wall_ms());
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    struct pal_frame *frame = text ? pal_frame_create(text, strlen(text)) : NULL;
    free(text);
    for (struct pal_session *s = srv->sessions; frame && s; s = pal_session_next(s))
        pal_session_send_frame(s, frame);
    pal_frame_unref(frame);
    return 0;
}

static void drain_wake(lws_sorted_usec_list_t *sul)
{
    (void)sul; /* a turn of the loop: drain_turn looks again */
}

int pal_server_start_drain(struct pal_server *srv)
{
    int rc = start_drain(srv);
    if (rc == 0 && srv->ctx) {
        /* the HTTP answer is written in a later turn: the stop (no room, or
         * drain_seconds = 0) waits for it a little */
        srv->drain_not_before_ms = pal_now_ms() + DRAIN_ANSWER_MS;
        lws_sul_schedule(srv->ctx, 0, &srv->sul_drain, drain_wake,
                         (DRAIN_ANSWER_MS + 10) * LWS_US_PER_MS);
    }
    return rc;
}

/* Once a turn of the service loop: SIGTERMs that arrived, then whether the
 * drain is over (the last room emptied, or the deadline passed). */
static void drain_turn(struct pal_server *srv)
{
    int n = atomic_load(&srv->drain_requests);
    if (n > srv->drain_requests_seen) {
        srv->drain_requests_seen = n;
        if (n >= 2) {
            PAL_INFO("server", NULL, NULL, "second SIGTERM: stopping now");
            srv->stop_requested = 1;
            return;
        }
        start_drain(srv); /* after POST /admin/drain: the drain goes on */
    }
    if (!srv->draining || srv->stop_requested || pal_now_ms() < srv->drain_not_before_ms)
        return;
    if (pal_rooms_count(srv->rooms) == 0) {
        PAL_INFO("server", NULL, NULL, "drained: no room left");
        srv->stop_requested = 1;
    } else if (pal_now_ms() >= srv->drain_deadline_mono_ms) {
        PAL_INFO("server", NULL, NULL, "drain deadline: %d room(s) still running are closed",
                 pal_rooms_count(srv->rooms));
        srv->stop_requested = 1;
    }
}

/* ---- rooms and participants ------------------------------------------------ */

struct bcast {
    struct pal_frame *frame;
    const struct pal_session *except;
};

static void bcast_one(struct pal_participant *p, void *ud)
{
    struct bcast *b = ud;
    if (p->owner && p->owner != b->except && !p->disconnected)
        pal_session_send_frame(p->owner, b->frame);
}

void pal_server_broadcast_text(struct pal_server *srv, const char *room,
                               const struct pal_session *except, const char *text, size_t len)
{
    /* one copy for the whole room */
    struct bcast b = {pal_frame_create(text, len), except};
    if (!b.frame)
        return;
    pal_rooms_each_in_room(srv->rooms, room, bcast_one, &b);
    pal_frame_unref(b.frame);
}

void pal_server_broadcast(struct pal_server *srv, const char *room, const struct pal_session *except,
                          json_t *msg)
{
    if (!msg)
        return;
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!text)
        return;
    pal_server_broadcast_text(srv, room, except, text, strlen(text));
    free(text);
}

void pal_server_participant_joined(struct pal_server *srv, struct pal_session *s)
{
    struct pal_participant *p = pal_session_participant(s);
    pal_cluster_person(srv->cluster, p, true); /* a new home lets them back as themselves */
    pal_server_broadcast(srv, p->room, s,
                         json_pack("{s:s, s:o}", "type", "participant_joined", "participant",
                                   pal_participant_json(p)));
    for (int i = 0; i < srv->n_listeners; i++)
        if (srv->listeners[i].on_participant_joined)
            srv->listeners[i].on_participant_joined(s, srv->listeners[i].ud);
}

void pal_server_participant_blocked(struct pal_server *srv, struct pal_session *s)
{
    for (int i = 0; i < srv->n_listeners; i++)
        if (srv->listeners[i].on_participant_blocked)
            srv->listeners[i].on_participant_blocked(s, srv->listeners[i].ud);
}

void pal_server_participant_gone(struct pal_server *srv, struct pal_session *s, const char *reason)
{
    struct pal_participant *p = pal_session_participant(s);
    if (!p)
        return;
    if (p->waiting) {
        /* never in the meeting: no participant_left, no media to undo */
        PAL_INFO("rooms", p->room, p->id, "left the lobby (%s)", reason);
        pal_access_lobby_left(srv, p, reason);
        pal_session_set_participant(s, NULL);
        pal_rooms_remove(srv->rooms, p);
        if (!pal_session_connected(s))
            pal_session_destroy(s);
        return;
    }
    PAL_INFO("rooms", p->room, p->id, "left (%s)", reason);
    pal_cluster_person(srv->cluster, p, false);
    pal_server_broadcast(srv, p->room, s,
                         json_pack("{s:s, s:s, s:s}", "type", "participant_left", "participant_id",
                                   p->id, "reason", reason));
    for (int i = 0; i < srv->n_listeners; i++)
        if (srv->listeners[i].on_participant_left)
            srv->listeners[i].on_participant_left(s, srv->listeners[i].ud);
    pal_session_set_participant(s, NULL);
    pal_rooms_remove(srv->rooms, p);
    if (!pal_session_connected(s))
        pal_session_destroy(s);
}

static void expire_cb(struct pal_participant *p, void *ud)
{
    struct pal_server *srv = ud;
    if (p->owner) {
        pal_server_participant_gone(srv, p->owner, "timeout");
    } else {
        pal_rooms_remove(srv->rooms, p);
    }
}

void pal_server_tick(struct pal_server *srv, int64_t now_ms)
{
    if (srv->chat && pal_chat_store_pending(srv->chat) > 0)
        pal_chat_store_flush(srv->chat);
    pal_rooms_expire(srv->rooms, now_ms, expire_cb, srv);
}

static void flush_cb(lws_sorted_usec_list_t *sul)
{
    struct pal_server *srv = lws_container_of(sul, struct pal_server, sul_flush);
    srv->flush_armed = false;
    if (srv->chat && pal_chat_store_pending(srv->chat) > 0)
        pal_chat_store_flush(srv->chat);
}

void pal_server_schedule_flush(struct pal_server *srv)
{
    if (!srv->ctx || srv->flush_armed)
        return;
    srv->flush_armed = true;
    lws_sul_schedule(srv->ctx, 0, &srv->sul_flush, flush_cb, 1 * LWS_US_PER_MS);
}

static void sweep_cb(lws_sorted_usec_list_t *sul)
{
    struct pal_server *srv = lws_container_of(sul, struct pal_server, sul_sweep);
    pal_rooms_expire(srv->rooms, pal_now_ms(), expire_cb, srv);
    pal_access_lobby_sweep(srv, pal_now_ms());
    pal_ip_limits_sweep(srv->ip_limits, pal_now_ms());
    lws_sul_schedule(srv->ctx, 0, &srv->sul_sweep, sweep_cb, SWEEP_US);
}

static void retention_cb(lws_sorted_usec_list_t *sul)
{
    struct pal_server *srv = lws_container_of(sul, struct pal_server, sul_retention);
    int64_t keep_ms = (int64_t)srv->cfg.chat_retention_days * 24 * 3600 * 1000;
    int n = pal_chat_store_expire(srv->chat, pal_wall_ms() - keep_ms, RETENTION_BATCH);
    lws_sul_schedule(srv->ctx, 0, &srv->sul_retention, retention_cb,
                     n == RETENTION_BATCH ? RETENTION_NEXT_BATCH_US : RETENTION_PERIOD_US);
}

/* ---- lws callback ---------------------------------------------------------- */

/* Bytes of the request headers lws kept (values of the headers it knows,
 * Cookie included). */
static size_t header_bytes(struct lws *wsi)
{
    size_t n = 0;
    for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
        int len = lws_hdr_total_length(wsi, (enum lws_token_indexes)t);
        if (len > 0)
            n += (size_t)len;
    }
    return n;
}

int pal_server_check_headers(struct lws *wsi)
{
    size_t n = header_bytes(wsi);
    if (n <= HEADER_BYTES_MAX)
        return 0;
    PAL_DEBUG("http", NULL, NULL, "431: %zu bytes of headers", n);
    lws_return_http_status(wsi, 431, NULL);
    return 1;
}

static int check_upgrade(struct pal_server *srv, struct lws *wsi)
{
    char uri[128] = "", origin[256] = "", host[256] = "";
    if (pal_server_check_headers(wsi))
        return 1;
    lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
    int olen = lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN);
    lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST);
    if (strcmp(uri, "/ws") != 0) {
        lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL);
        return 1;
    }
    if (srv->stopping) {
        lws_return_http_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, NULL);
        return 1;
    }
    if (olen > 0 && !pal_http_origin_allowed(&srv->cfg, origin, host)) {
        PAL_WARN("http", NULL, NULL, "WebSocket upgrade refused: origin '%s' (host '%s')", origin,
                 host);
        lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN, NULL);
        return 1;
    }
    char ip[PAL_IP_MAX + 1];
    pal_http_client_address(wsi, &srv->cfg, ip, sizeof(ip));
    if (!pal_ip_limits_can_connect(srv->ip_limits, ip)) {
        PAL_WARN("http", NULL, NULL, "WebSocket upgrade refused: %s holds %d connections", ip,
                 srv->cfg.connections_per_ip);
        lws_return_http_status(wsi, 429, NULL);
        return 1;
    }
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct pss *pss = user;
    struct lws_context *ctx = lws_get_context(wsi);
    struct pal_server *srv = ctx ? lws_context_user(ctx) : NULL;

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        /* POST /admin/drain with Content-Length: 0 (fetch, requests) is
         * answered at body completion too: lws writes nothing before */
        if (!pal_http_method_allowed(wsi) &&
            (pal_http_has_body(wsi) ||
             (strcmp(in, "/admin/drain") == 0 &&
              lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0))) {
            pss->refused = true;
            pss->admin = strcmp(in, "/admin/drain") == 0;
            lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, 5);
            return 0;
        }
        /* OpenID Connect sign-in: answered by signaling/oidc.c, maybe
         * later (its worker calls the provider) */
        if (srv->oidc && pal_oidc_is_route(in) && pal_http_method_allowed(wsi))
            return pal_server_check_headers(wsi) ? -1 : pal_oidc_http(srv->oidc, wsi, in);
        return pal_http_serve(wsi, srv, in, &pss->http_body);
    case LWS_CALLBACK_HTTP_BODY:
        if (pss && pss->refused)
            return 0; /* dropped */
        break;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (pss && pss->refused) {
            pss->refused = false;
            lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
            if (pss->admin)
                return pal_http_admin_drain(wsi, srv, &pss->http_body);
            return pal_http_method_not_allowed(wsi, &pss->http_body);
        }
        break;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (pss && pss->http_body)
            return pal_http_write_body(wsi, &pss->http_body);
        if (srv && srv->oidc) {
            bool mine;
            int rc = pal_oidc_http_writeable(srv->oidc, wsi, &mine);
            if (mine)
                return rc;
        }
        break;
    case LWS_CALLBACK_CLOSED_HTTP:
        if (srv && srv->oidc)
            pal_oidc_http_closed(srv->oidc, wsi);
        if (pss) {
            free(pss->http_body);
            pss->http_body = NULL;
        }
        break;
    case LWS_CALLBACK_ADD_HEADERS:
        break;
    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
        /* lws's one look at the listening vhost's SSL_CTX (user): kept for
         * the SIGHUP reload */
        if (srv)
            srv->tls_ctx = user;
        return 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return check_upgrade(srv, wsi);
    case LWS_CALLBACK_ESTABLISHED: {
        pss->s = pal_session_create(srv, wsi, &pss->s);
        if (!pss->s)
            return -1;
        /* the headers are still there: counted against connections_per_ip
         * (checked at the upgrade) from now until the session is destroyed */
        char ip[PAL_IP_MAX + 1];
        pal_http_client_address(wsi, &srv->cfg, ip, sizeof(ip));
        if (pal_session_set_address(pss->s, ip))
            return -1;
        /* a signed-in agent's session cookie came with the upgrade */
        if (srv->oidc)
            pal_oidc_identify(srv->oidc, wsi, pss->s);
        PAL_DEBUG("session", NULL, NULL, "connected from %s", ip);
        return 0;
    }
    case LWS_CALLBACK_RECEIVE:
        if (pss->s)
            pal_session_on_receive(pss->s, in, len, lws_frame_is_binary(wsi),
                                   lws_is_final_fragment(wsi));
        return 0;
    case LWS_CALLBACK_TIMER:
        if (pss->s)
            pal_session_on_timer(pss->s);
        return 0;
    case LWS_CALLBACK_RECEIVE_PONG:
        if (pss->s)
            pal_session_seen(pss->s);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!pss->s)
            return -1;
        return pal_session_on_writeable(pss->s);
    case LWS_CALLBACK_CLOSED:
        if (pss->s) {
            struct pal_session *s = pss->s;
            pss->s = NULL;
            if (srv->oidc)
                pal_oidc_connection_closed(srv->oidc, s);
            pal_session_on_closed(s);
        }
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (!srv)
            return 0;
        for (int i = 0; i < srv->n_wake; i++)
            srv->wake[i].fn(srv, srv->wake[i].ud);
        if (srv->chat && pal_chat_store_pending(srv->chat) > 0)
            pal_chat_store_flush(srv->chat);
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"palabre", callback, sizeof(struct pss), 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* A vanished client: pinged after 10 s of silence, dropped after 20 s; its
 * resume window counts from the last time it was heard, so it is gone for
 * good within resume_seconds (30) of vanishing. */
static const lws_retry_bo_t retry = {
    .secs_since_valid_ping = 10,
    .secs_since_valid_hangup = 20,
};

/* Set when lws's accept() fails (descriptors exhausted): the listening
 * socket stays readable, so each turn of the loop would fail again at once.
 * The loop then pauses ACCEPT_BACKOFF_US per turn until an accept works. */
static atomic_bool accept_failing;
static bool lws_log_unlimited; /* PALABRE_LWS_LOG asked for lws's own lines */

/* lws writes one line per failed accept(): at most LWS_LOG_PER_SECOND lines
 * a second pass, and the next one that passes says how many were dropped. */
static void lws_log_emit(int level, const char *line)
{
    static int64_t window_s;
    static int in_window;
    static unsigned long dropped;
    if (strncmp(line, "accept", 6) == 0 || strstr(line, "accept:"))
        accept_failing = true;
    int64_t now_s = pal_now_ms() / 1000;
    if (now_s != window_s) {
        window_s = now_s;
        in_window = 0;
    }
    if (++in_window > LWS_LOG_PER_SECOND && !lws_log_unlimited) {
        dropped++;
        return;
    }
    if (dropped) {
        pal_log(PAL_LOG_WARN, "lws", NULL, NULL, "(%lu lines of lws log dropped)", dropped);
        dropped = 0;
    }
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    pal_log(level == LLL_ERR ? PAL_LOG_ERROR : PAL_LOG_WARN, "lws", NULL, NULL, "%.*s", (int)n,
            line);
}

/* lws stops accepting (it turns POLLIN off on the listening socket) when it
 * holds fd_limit_per_thread connections: that limit is set below the
 * process's descriptor limit so that the media sockets, the chat database
 * and the logs keep a quarter of it, and accept() does not fail first. */
static unsigned fd_limit_for_lws(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur < 256)
        return 0; /* lws's default */
    rlim_t reserve = rl.rlim_cur / 4 > 64 ? rl.rlim_cur / 4 : 64;
    return (unsigned)(rl.rlim_cur - reserve);
}

/* ---- life ------------------------------------------------------------------- */

static int mkdir_p(const char *path)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0750) && errno != EEXIST)
                return -errno;
            *p = '/';
        }
    }
    if (mkdir(buf, 0750) && errno != EEXIST)
        return -errno;
    return 0;
}

struct pal_server *pal_server_create(const struct pal_config *cfg)
{
    struct pal_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return NULL;
    srv->cfg = *cfg;
    pthread_mutex_init(&srv->wake_mu, NULL);
    int rc = mkdir_p(cfg->data_dir);
    if (rc) {
        PAL_ERROR("server", NULL, NULL, "cannot create data dir %s: %s", cfg->data_dir,
                  strerror(-rc));
        goto fail;
    }
    srv->rooms = pal_rooms_create(cfg->max_rooms, cfg->max_participants_per_room,
                                  cfg->resume_seconds);
    srv->chat = pal_chat_store_open(cfg->data_dir);
    srv->ip_limits = pal_ip_limits_create(cfg->connections_per_ip, cfg->rooms_per_ip_per_minute);
    if (!srv->rooms || !srv->chat || !srv->ip_limits)
        goto fail;
    if (pal_room_store_open(cfg->data_dir, &srv->room_store))
        goto fail; /* logged */
    if (cfg->agents == PAL_AGENTS_TOKEN) {
        /* a token-mode server that cannot check tokens would let nobody in,
         * or worse: it refuses to start instead */
        char err[256] = "";
        rc = pal_jwt_verifier_create(cfg->jwks_file, cfg->jwt_issuer, cfg->jwt_audience,
                                     cfg->jwt_algorithms, cfg->jwt_leeway_seconds, &srv->jwt, err,
                                     sizeof(err));
        if (rc) {
            PAL_ERROR("server", NULL, NULL, "[access] jwks_file %s: %s", cfg->jwks_file, err);
            goto fail;
        }
    }
    if (cfg->agents == PAL_AGENTS_OIDC && pal_oidc_create(srv, &srv->oidc))
        goto fail; /* logged */
    if (pal_handlers_register_builtin(srv) || pal_access_register(srv) ||
        pal_moderation_register(srv))
        goto fail;
    pal_chat_store_set_room_quota(srv->chat, (int64_t)cfg->chat_max_room_bytes);
    if (cfg->cluster_redis[0] && (rc = pal_cluster_create(srv, &srv->cluster))) {
        PAL_ERROR("server", NULL, NULL, "[cluster]: cannot start: %s", strerror(-rc));
        goto fail;
    }
    return srv;
fail:
    pal_server_destroy(srv);
    return NULL;
}

/* ---- listening: address, TLS, certificate reload ------------------------------ */

/* The listen address as numbers (lws takes an interface name or a numeric
 * address: a name such as "localhost" is resolved here), in *ss. An empty
 * address is the IPv6 wildcard, which also takes IPv4 (v6only off). */
static int listen_sockaddr(const struct pal_config *cfg, struct sockaddr_storage *ss,
                           socklen_t *sslen, char numeric[static INET6_ADDRSTRLEN])
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port[8];
    snprintf(port, sizeof(port), "%d", cfg->listen_port);
    int rc = getaddrinfo(cfg->listen_addr[0] ? cfg->listen_addr : "::", port, &hints, &res);
    if (rc) {
        PAL_ERROR("server", NULL, NULL, "cannot listen on %s: %s", cfg->listen_addr,
                  gai_strerror(rc));
        return -EADDRNOTAVAIL;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = res->ai_addrlen;
    freeaddrinfo(res);
    const void *a = ss->ss_family == AF_INET6 ? (void *)&((struct sockaddr_in6 *)ss)->sin6_addr
                                              : (void *)&((struct sockaddr_in *)ss)->sin_addr;
    inet_ntop(ss->ss_family, a, numeric, INET6_ADDRSTRLEN);
    return 0;
}

/* lws logs a listen socket it cannot bind and goes on (it waits for the
 * interface to appear): binding the same address first turns a busy port or
 * an address of another host into a refusal to start, with the reason. */
static int listen_probe(const struct pal_config *cfg, const struct sockaddr_storage *ss,
                        socklen_t sslen)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        PAL_ERROR("server", NULL, NULL, "cannot listen on %s port %d: %s", cfg->listen_addr,
                  cfg->listen_port, strerror(errno));
        return -errno;
    }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)); /* as lws does */
    if (ss->ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    int rc = bind(fd, (const struct sockaddr *)ss, sslen) ? -errno : 0;
    if (!rc && listen(fd, 1))
        rc = -errno;
    close(fd);
    if (!rc)
        return 0;
    const char *why = rc == -EADDRINUSE      ? "the port is already in use"
                      : rc == -EADDRNOTAVAIL ? "the address is not one of this host's"
                      : rc == -EACCES        ? "permission denied (a port below 1024 needs "
                                               "CAP_NET_BIND_SERVICE)"
                                             : strerror(-rc);
    PAL_ERROR("server", NULL, NULL, "cannot listen on %s port %d: %s", cfg->listen_addr,
              cfg->listen_port, why);
    return rc;
}

/* SIGHUP: the renewed certificate for new handshakes; the connections
 * already open keep the session they negotiated. */
static void tls_reload_now(struct pal_server *srv)
{
    srv->reload_requested = 0;
    if (!srv->cfg.tls_cert[0]) {
        PAL_INFO("server", NULL, NULL, "SIGHUP: no [server] tls_cert, nothing to reload");
        return;
    }
    char err[600];
    int rc = srv->tls_ctx ? pal_tls_reload(srv->tls_ctx, srv->cfg.tls_cert, srv->cfg.tls_key, err,
                                           sizeof(err))
                          : -ENOENT;
    if (rc == -ENOENT && !srv->tls_ctx)
        snprintf(err, sizeof(err), "the listener has no TLS context");
    if (rc)
        PAL_ERROR("server", NULL, NULL, "SIGHUP: certificate not reloaded, the previous one stays: %s",
                  err);
    else
        PAL_INFO("server", NULL, NULL, "SIGHUP: certificate reloaded from %s", srv->cfg.tls_cert);
}

void pal_server_request_reload(struct pal_server *srv)
{
    srv->reload_requested = 1;
    if (srv->ctx)
        lws_cancel_service(srv->ctx);
}

int pal_server_listen(struct pal_server *srv)
{
    /* PALABRE_LWS_LOG: an lws log bitmask (debugging lws itself) */
    const char *lvl = getenv("PALABRE_LWS_LOG");
    lws_log_unlimited = lvl != NULL;
    lws_set_log_level(lvl ? atoi(lvl) : LLL_ERR, lws_log_emit);
    const struct pal_config *cfg = &srv->cfg;
    bool tls = cfg->tls_cert[0] != '\0';
    char err[600];
    int rc;
    if (tls && (rc = pal_tls_check_files(cfg->tls_cert, cfg->tls_key, err, sizeof(err)))) {
        PAL_ERROR("server", NULL, NULL, "%s", err);
        return rc;
    }
    struct sockaddr_storage ss;
    socklen_t sslen;
    char iface[INET6_ADDRSTRLEN];
    if ((rc = listen_sockaddr(cfg, &ss, &sslen, iface)) || (rc = listen_probe(cfg, &ss, sslen)))
        return rc;
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = cfg->listen_port;
    info.iface = cfg->listen_addr[0] ? iface : NULL;
    info.protocols = protocols;
    info.user = srv;
    info.server_string = "palabre";
    info.retry_and_idle_policy = &retry;
    /* large intranet cookies: headers up to HEADER_BYTES_MAX are served */
    info.max_http_header_data2 = HEADER_BUFFER;
    info.token_limits = pal_http_token_limits(HEADER_BYTES_MAX);
    info.fd_limit_per_thread = fd_limit_for_lws();
    if (ss.ss_family == AF_INET)
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    else /* v6only off: [::] takes IPv4 clients too */
        info.options |= LWS_SERVER_OPTION_IPV6_V6ONLY_MODIFY;
    if (tls) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = cfg->tls_cert;
        info.ssl_private_key_filepath = cfg->tls_key;
        /* HTTP/1.1 only: the WebSocket, the per-address limits and the
         * header checks are those of HTTP/1.1 connections */
        info.alpn = "http/1.1";
    }
    srv->ctx = lws_create_context(&info);
    if (!srv->ctx) {
        PAL_ERROR("server", NULL, NULL, "cannot listen on %s port %d (libwebsockets refused, see "
                  "above)", cfg->listen_addr, cfg->listen_port);
        return -EADDRINUSE;
    }
    lws_sul_schedule(srv->ctx, 0, &srv->sul_sweep, sweep_cb, SWEEP_US);
    if (cfg->chat_retention_days > 0)
        lws_sul_schedule(srv->ctx, 0, &srv->sul_retention, retention_cb, 1);
    bool v6 = strchr(cfg->listen_addr, ':') != NULL;
    PAL_INFO("server", NULL, NULL, "listening on %s://%s%s%s:%d/ (web root %s, data %s)",
             tls ? "https" : "http", v6 ? "[" : "", cfg->listen_addr, v6 ? "]" : "",
             cfg->listen_port, cfg->web_root, cfg->data_dir);
    return 0;
}

static void shutdown_tick(lws_sorted_usec_list_t *sul)
{
    struct pal_server *srv = lws_container_of(sul, struct pal_server, sul_tick);
    lws_sul_schedule(srv->ctx, 0, &srv->sul_tick, shutdown_tick, 50 * LWS_US_PER_MS);
}

int pal_server_run(struct pal_server *srv)
{
    while (!srv->stop_requested) {
        accept_failing = false;
        srv->turn++;
        if (lws_service(srv->ctx, 0) < 0)
            break;
        if (srv->reload_requested)
            tls_reload_now(srv);
        if (accept_failing)
            usleep(ACCEPT_BACKOFF_US);
        drain_turn(srv);
    }
    PAL_INFO("server", NULL, NULL, "stopping: closing every connection");
    /* commit what is queued before refusing new requests */
    if (srv->chat && pal_chat_store_pending(srv->chat) > 0)
        pal_chat_store_flush(srv->chat);
    srv->stopping = true;
    for (struct pal_session *s = srv->sessions; s; s = pal_session_next(s))
        pal_session_send(s, json_pack("{s:s, s:s}", "type", "server_shutdown", "reason",
                                      "server stopping"));
    lws_sul_schedule(srv->ctx, 0, &srv->sul_tick, shutdown_tick, 50 * LWS_US_PER_MS);
    /* a short notice: requests still arriving are answered shutting_down */
    int64_t notice_end = pal_now_ms() + SHUTDOWN_NOTICE_MS;
    while (srv->sessions && pal_now_ms() < notice_end)
        if (lws_service(srv->ctx, 0) < 0)
            break;
    for (struct pal_session *s = srv->sessions; s; s = pal_session_next(s))
        pal_session_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
    int64_t deadline = pal_now_ms() + SHUTDOWN_GRACE_MS;
    while (srv->sessions && pal_now_ms() < deadline)
        if (lws_service(srv->ctx, 0) < 0)
            break;
    return 0;
}

static void gone_at_stop(struct pal_participant *p, void *ud)
{
    struct pal_server *srv = ud;
    if (p->owner)
        pal_server_participant_gone(srv, p->owner, "left");
    else
        pal_rooms_remove(srv->rooms, p);
}

void pal_server_destroy(struct pal_server *srv)
{
    if (!srv)
        return;
    srv->stopping = true;
    if (srv->chat && pal_chat_store_pending(srv->chat) > 0)
        pal_chat_store_flush(srv->chat);
    pthread_mutex_lock(&srv->wake_mu);
    srv->wake_closed = true;
    pthread_mutex_unlock(&srv->wake_mu);
    if (srv->ctx) {
        lws_context_destroy(srv->ctx); /* CLOSED for every connection */
        srv->ctx = NULL;
    }
    pal_oidc_destroy(srv->oidc); /* after the context: CLOSED_HTTP forgets its requests */
    srv->oidc = NULL;
    /* sessions without network (tests), then orphans waiting for resume */
    while (srv->sessions)
        pal_session_on_closed(srv->sessions);
    if (srv->rooms)
        pal_rooms_each(srv->rooms, gone_at_stop, srv);
    pal_cluster_destroy(srv->cluster); /* releases this node's leases */
    srv->cluster = NULL;
    while (srv->n_adopted > 0) { /* last adopted first */
        struct adopted *a = &srv->adopted[--srv->n_adopted];
        a->destroy(a->obj);
    }
    if (srv->chat)
        pal_chat_store_close(srv->chat);
    if (srv->room_store)
        pal_room_store_close(srv->room_store);
    if (srv->jwt)
        pal_jwt_verifier_destroy(srv->jwt);
    pal_rooms_destroy(srv->rooms);
    pal_ip_limits_destroy(srv->ip_limits);
    for (int i = 0; i < srv->n_handlers; i++)
        free((char *)srv->handlers[i].type);
    free(srv->handlers);
    pthread_mutex_destroy(&srv->wake_mu);
    free(srv);
}
