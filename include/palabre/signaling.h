/* What the signaling server offers to the other modules (chat, media, mixer
 * glue). Everything here is called on the signaling thread only, unless a
 * function says otherwise.
 *
 * Owner: signaling/server.c, signaling/session.c, signaling/handlers.c. */
#ifndef PALABRE_SIGNALING_H
#define PALABRE_SIGNALING_H

#include <jansson.h>
#include <stdbool.h>

#include "palabre/config.h"

struct pal_server;  /* the lws context, the rooms, the handlers */
struct pal_session; /* one WebSocket connection (and its participant, once joined) */

/* ---- sessions ---------------------------------------------------------- */

/* NULL until the session has joined a room. */
const char *pal_session_participant_id(const struct pal_session *s);
const char *pal_session_room(const struct pal_session *s);
const char *pal_session_name(const struct pal_session *s);
struct pal_server *pal_session_server(const struct pal_session *s);

/* Queues msg (a JSON object; the reference is stolen) on the session's bounded
 * outbound queue; it is written in LWS_CALLBACK_SERVER_WRITEABLE. Returns 0,
 * or -ENOBUFS when the queue is full (the slow client is then cut off). */
int pal_session_send(struct pal_session *s, json_t *msg);

/* Responses to a request. id is the request's id (borrowed; may be NULL).
 * data is stolen (NULL sends {}). */
void pal_session_reply_ok(struct pal_session *s, json_t *id, json_t *data);
void pal_session_reply_error(struct pal_session *s, json_t *id, const char *code,
                             const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* ---- the server -------------------------------------------------------- */

const struct pal_config *pal_server_config(const struct pal_server *srv);

/* The session of a participant, or NULL. */
struct pal_session *pal_server_find_participant(struct pal_server *srv, const char *participant_id);

/* Sends msg (stolen) to every session in room except `except` (may be NULL). */
void pal_server_broadcast(struct pal_server *srv, const char *room, const struct pal_session *except,
                          json_t *msg);

/* Extra request types, registered at start-up before the loop runs. The
 * handler validates its own fields with the *_or_reply helpers and answers
 * with pal_session_reply_ok/_error exactly once. needs_room: the server
 * answers not_joined itself when the session has not joined. */
typedef void (*pal_request_fn)(struct pal_session *s, json_t *id, json_t *req, void *ud);
int pal_server_register_handler(struct pal_server *srv, const char *type, pal_request_fn fn,
                                bool needs_room, void *ud);

/* Listeners for participant life, called after the change is broadcast. */
struct pal_participant_listener {
    void (*on_participant_joined)(struct pal_session *s, void *ud);
    /* The participant is gone for good (left, timed out, disconnected past
     * the resume window, server stopping). s is still valid during the call. */
    void (*on_participant_left)(struct pal_session *s, void *ud);
    /* A moderator changed the participant's hard mute (mic_blocked,
     * camera_blocked in struct pal_participant): media stops or resumes
     * forwarding that kind of track. May be NULL. */
    void (*on_participant_blocked)(struct pal_session *s, void *ud);
    void *ud;
};
int pal_server_add_participant_listener(struct pal_server *srv,
                                        const struct pal_participant_listener *l);

/* Other threads: wake the signaling thread (lws_cancel_service). Each wake
 * runs every hook on the signaling thread; hooks drain their own queues.
 * pal_server_wake is the only function here that any thread may call. */
typedef void (*pal_wake_fn)(struct pal_server *srv, void *ud);
int pal_server_add_wake_hook(struct pal_server *srv, pal_wake_fn fn, void *ud);
void pal_server_wake(struct pal_server *srv);

/* Whether a participant may receive the room's mix now (the mixer's
 * capacity, [mixer] max_rooms). Media signaling sets it; without one, every
 * request is admitted. Returns true, or false with a message for the client
 * in why (the join handler then answers receive_error mixer_busy). */
typedef bool (*pal_mix_admit_fn)(struct pal_session *s, char *why, size_t len, void *ud);
void pal_server_set_mix_admission(struct pal_server *srv, pal_mix_admit_fn fn, void *ud);
bool pal_server_admit_mix(struct pal_server *srv, struct pal_session *s, char *why, size_t len);

/* A module's figures for /metrics, asked for on each scrape: fn fills out[]
 * (at most cap) and returns how many. Names, types and help are static
 * strings; type is "gauge" or "counter". */
/* One sample. room: NULL, or the value of its `room` label (the samples of
 * one name come together, the first one's help and type are printed). */
struct pal_metric {
    const char *name, *type, *help;
    double value;
    const char *room;
};
typedef size_t (*pal_metrics_fn)(struct pal_metric *out, size_t cap, void *ud);
int pal_server_add_metrics_source(struct pal_server *srv, pal_metrics_fn fn, void *ud);

/* Hands an object to the server, which destroys it (destroy(obj)) in
 * pal_server_destroy once every participant has left (their listeners have
 * run) and before the server itself is freed (so worker threads that wake
 * the server stop first). Returns 0 or -ENOSPC. */
int pal_server_adopt(struct pal_server *srv, void *obj, void (*destroy)(void *obj));

/* ---- field validators: each sends the error itself and returns NULL/false */
const char *pal_string_or_reply(struct pal_session *s, json_t *id, json_t *req, const char *field,
                                size_t min_chars, size_t max_chars, bool required);
bool pal_bool_or_reply(struct pal_session *s, json_t *id, json_t *req, const char *field,
                       bool required, bool *out);
bool pal_int_or_reply(struct pal_session *s, json_t *id, json_t *req, const char *field,
                      json_int_t min, json_int_t max, bool required, json_int_t *out);

#endif
