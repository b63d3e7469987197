/* One WebSocket connection and, once joined, its participant.
 *
 * A session whose connection drops while joined becomes an orphan (no wsi)
 * and waits the resume window with its participant; a join with the resume
 * token moves the participant to the new connection's session.
 *
 * Thread: the signaling thread only. Owner: signaling/session.c. */
#ifndef PALABRE_SESSION_H
#define PALABRE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "palabre/signaling.h"

struct lws;
struct pal_participant;

/* wsi NULL: a session without network (tests, fuzz): output stays queued
 * for pal_session_pop_output. slot: where the lws per-session data keeps the
 * session pointer (cleared if the session is taken over); may be NULL. */
struct pal_session *pal_session_create(struct pal_server *srv, struct lws *wsi,
                                       struct pal_session **slot);
void pal_session_destroy(struct pal_session *s);
/* A number no other session of this process has or will have: what another
 * module keeps to find the session again later (cluster.c's waiting joins),
 * since a freed session's address may be reused by a new one. */
uint64_t pal_session_serial(const struct pal_session *s);

/* One received chunk (lws RECEIVE). final: the last chunk of the message.
 * Reassembles, enforces size and rate limits, dispatches. */
void pal_session_on_receive(struct pal_session *s, const void *in, size_t len, bool binary,
                            bool final);
/* Traffic proof (pong). */
void pal_session_seen(struct pal_session *s);
/* LWS_CALLBACK_SERVER_WRITEABLE: writes queued messages until the socket
 * would block. Returns -1 to close the connection (after a requested close). */
int pal_session_on_writeable(struct pal_session *s);
/* The connection is gone (LWS_CALLBACK_CLOSED): a joined participant waits
 * for resume (the session becomes an orphan), otherwise s is destroyed. */
void pal_session_on_closed(struct pal_session *s);

/* The client address (pal_http_client_address) counted against
 * [limits] connections_per_ip until the session is destroyed: a dropped
 * participant waiting for its resume (a ghost) still counts. 0 or -ENOMEM. */
int pal_session_set_address(struct pal_session *s, const char *ip);
const char *pal_session_address(const struct pal_session *s);

/* rate_limited {retry_after_ms} in the error object, as a response. */
void pal_session_reply_rate_limited(struct pal_session *s, json_t *id, int64_t retry_after_ms,
                                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* join: s is about to create a room; refuses (rate_limited, retry_after_ms)
 * when its address created rooms_per_ip_per_minute rooms in the last minute. */
bool pal_session_create_room_or_reply(struct pal_session *s, json_t *id);

/* Closes after the queued messages are written, with this close code. */
void pal_session_close(struct pal_session *s, int code, const char *reason);
/* LWS_CALLBACK_TIMER: the linger before a policy close ended, or the join
 * timeout (closed 1008 "join timeout" if still not joined). */
void pal_session_on_timer(struct pal_session *s);
/* Drops the connection now (slow client, taken over). */
void pal_session_kill(struct pal_session *s);

bool pal_session_connected(const struct pal_session *s);
struct pal_participant *pal_session_participant(const struct pal_session *s);
void pal_session_set_participant(struct pal_session *s, struct pal_participant *p);

/* Queues already serialized JSON text (copied). */
int pal_session_send_text(struct pal_session *s, const char *text, size_t len);

/* A serialized message that many sessions can queue without a copy each
 * (a room's fan-out): reference counted, signaling thread only. create
 * copies text and returns it with one reference (NULL on ENOMEM);
 * pal_session_send_frame takes a reference of its own, so the creator
 * unrefs its reference when done queueing. */
struct pal_frame;
struct pal_frame *pal_frame_create(const char *text, size_t len);
void pal_frame_unref(struct pal_frame *f);
int pal_session_send_frame(struct pal_session *s, struct pal_frame *f);

/* Sessions without network: the oldest queued message as a NUL-terminated
 * string (caller frees), or NULL. */
char *pal_session_pop_output(struct pal_session *s);
/* The close code requested (0 if none). */
int pal_session_close_code(const struct pal_session *s);

/* handlers.c: parses one complete text message and runs its handler. */
void pal_handlers_dispatch(struct pal_session *s, const char *buf, size_t len);
/* handlers.c: registers join, leave, set_state, ping, chat_send, chat_history. */
int pal_handlers_register_builtin(struct pal_server *srv);
/* The connected sessions of a server, for iteration (pal_server_sessions). */
struct pal_session *pal_session_next(struct pal_session *s);

#endif
