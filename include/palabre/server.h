/* The signaling server's own interface (main.c, tests, fuzz), beyond what
 * signaling.h offers to other modules.
 *
 * A server can exist without a network (pal_server_create only): sessions
 * created with a NULL wsi then queue their output for the caller to read,
 * which is how the unit tests and the fuzz target drive the real handlers.
 *
 * Thread: the signaling thread, except pal_server_request_stop (any thread,
 * and async-signal-safe). Owner: signaling/server.c. */
#ifndef PALABRE_SERVER_H
#define PALABRE_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "palabre/config.h"
#include "palabre/signaling.h"

struct pal_rooms;
struct pal_chat_store;
struct pal_participant;
struct pal_ip_limits;
struct lws;

/* Copies cfg; opens the chat and room stores in cfg->data_dir (created if
 * missing) and, in token mode, loads the JWKS. Returns NULL with a log line
 * on error. */
struct pal_server *pal_server_create(const struct pal_config *cfg);
/* Closes every session (participants leave), flushes and closes the chat
 * store, destroys the lws context. */
void pal_server_destroy(struct pal_server *srv);

/* Creates the lws context listening on cfg->listen_addr:listen_port, over
 * TLS when cfg->tls_cert is set. Refuses (a log line, a negative errno) an
 * address of another host, a port in use, unreadable or mismatched TLS files. */
int pal_server_listen(struct pal_server *srv);
/* Async-signal-safe (SIGHUP): asks the signaling thread to reload the TLS
 * certificate and key from their files; a bad pair is logged and the
 * current one kept. */
void pal_server_request_reload(struct pal_server *srv);
/* Runs the service loop until a stop is requested, then shuts down
 * gracefully (server_shutdown to every client, close 1001). Returns 0. */
int pal_server_run(struct pal_server *srv);
void pal_server_request_stop(struct pal_server *srv);

/* Graceful drain (drain.h, docs/operations.md). pal_server_request_drain:
 * any thread, async-signal-safe (SIGTERM): the first request starts the
 * drain, the second stops at once. pal_server_start_drain: the signaling
 * thread (POST /admin/drain); 0, or -EALREADY when a drain is on. With
 * [server] drain_seconds = 0, or no room running, a drain is a stop. */
void pal_server_request_drain(struct pal_server *srv);
int pal_server_start_drain(struct pal_server *srv);
bool pal_server_draining(const struct pal_server *srv);
/* Wall clock (ms) at which a drain ends the meetings still running. */
int64_t pal_server_drain_deadline_ms(const struct pal_server *srv);

/* What the service loop does each turn: chat group commit, expired resume
 * windows (now_ms, monotonic). Tests and the fuzz target call it directly. */
void pal_server_tick(struct pal_server *srv, int64_t now_ms);

/* ---- for session.c and handlers.c ---- */
struct pal_rooms *pal_server_rooms(struct pal_server *srv);
struct pal_chat_store *pal_server_chat(struct pal_server *srv);
/* The JWT verifier ([access] agents = token), NULL in open mode. */
struct pal_jwt_verifier *pal_server_jwt(struct pal_server *srv);
/* Per client address bounds ([limits] connections_per_ip, rooms_per_ip_per_minute). */
/* The cluster node ([cluster] redis), or NULL for a single node. */
struct pal_cluster *pal_server_cluster(struct pal_server *srv);
struct pal_ip_limits *pal_server_ip_limits(struct pal_server *srv);
/* Turns of the service loop so far (a session's work budget is per turn). */
uint64_t pal_server_turn(const struct pal_server *srv);
/* http.c, the upgrade: answers 431 and returns 1 when the request headers
 * pass 16 KiB; 0 otherwise. */
int pal_server_check_headers(struct lws *wsi);
bool pal_server_stopping(const struct pal_server *srv);
/* Arms the group-commit timer (a chat send was queued). */
void pal_server_schedule_flush(struct pal_server *srv);

struct pal_handler_entry {
    const char *type;
    pal_request_fn fn;
    bool needs_room;
    void *ud;
};
const struct pal_handler_entry *pal_server_find_handler(struct pal_server *srv, const char *type);

/* pal_server_broadcast (signaling.h) for text already serialized: queued,
 * as one shared copy, to every connected member of room but except. */
void pal_server_broadcast_text(struct pal_server *srv, const char *room,
                               const struct pal_session *except, const char *text, size_t len);

/* Participant life: broadcast, then listeners. */
void pal_server_participant_joined(struct pal_server *srv, struct pal_session *s);
/* Broadcasts participant_left {reason}, runs listeners, removes the
 * participant; an orphan session (no connection) is destroyed with it. */
void pal_server_participant_gone(struct pal_server *srv, struct pal_session *s,
                                 const char *reason);

/* The participant's hard mute changed: runs the listeners. */
void pal_server_participant_blocked(struct pal_server *srv, struct pal_session *s);

/* metrics.c: the sources added with pal_server_add_metrics_source. */
struct pal_metrics_source {
    pal_metrics_fn fn;
    void *ud;
};
int pal_server_metrics_sources(struct pal_server *srv, const struct pal_metrics_source **out);
/* Head of the list of sessions that have a connection (session.c links). */
struct pal_session **pal_server_sessions(struct pal_server *srv);

/* Finds signaling/web next to the binary (/proc/self/exe/../../signaling/web)
 * or under the working directory, unless cfg->web_root is set. */
void pal_config_resolve_web_root(struct pal_config *cfg);

#endif
