/* One function per request of docs/protocol.md. Each validates its fields
 * with the *_or_reply helpers (which answer the error themselves) and
 * answers exactly once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/access.h"
#include "palabre/chat_store.h"
#include "palabre/cluster.h"
#include "palabre/common.h"
#include "palabre/drain.h"
#include "palabre/log.h"
#include "palabre/moderation.h"
#include "palabre/protocol.h"
#include "palabre/rooms.h"
#include "palabre/server.h"
#include "palabre/session.h"

json_t *pal_participant_json(const struct pal_participant *p)
{
    return json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:b, s:b}", "id", p->id, "name",
                     p->name, "role", pal_role_name(p->role), "is_agent", p->is_agent, "mic",
                     p->mic, "camera", p->camera, "screen", p->screen, "mic_blocked",
                     p->mic_blocked, "camera_blocked", p->camera_blocked);
}

static json_t *message_json(const struct pal_chat_message *m)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:s}", "id", (json_int_t)m->id, "room",
                     m->room, "from", m->from, "name", m->name, "text", m->text, "ts",
                     (json_int_t)m->ts_ms, "client_msg_id", m->client_msg_id);
}

void pal_handlers_dispatch(struct pal_session *s, const char *buf, size_t len)
{
    json_error_t jerr;
    json_t *req = json_loadb(buf, len, 0, &jerr);
    if (!req) {
        pal_session_reply_error(s, NULL, "bad_json", NULL, "not valid JSON: %s (at %d)", jerr.text,
                                jerr.position);
        return;
    }
    if (!json_is_object(req)) {
        pal_session_reply_error(s, NULL, "bad_json", NULL, "not a JSON object");
        json_decref(req);
        return;
    }
    json_t *id;
    if (pal_request_id_or_reply(s, req, &id))
        goto out;
    json_t *type = json_object_get(req, "type");
    if (!type) {
        pal_session_reply_error(s, id, "missing_field", "type", "type: required");
        goto out;
    }
    if (!json_is_string(type)) {
        pal_session_reply_error(s, id, "bad_field", "type", "type: expected a string");
        goto out;
    }
    struct pal_server *srv = pal_session_server(s);
    const struct pal_handler_entry *h = pal_server_find_handler(srv, json_string_value(type));
    if (!h) {
        pal_session_reply_error(s, id, "unknown_type", "type", "unknown type '%.64s'",
                                json_string_value(type));
        goto out;
    }
    if (pal_server_stopping(srv)) {
        pal_session_reply_error(s, id, "shutting_down", NULL, "the server is stopping");
        goto out;
    }
    /* the lobby: waiting participants may only leave, ping and auth */
    const struct pal_participant *p = pal_session_participant(s);
    if (p && p->waiting && strcmp(h->type, "leave") != 0 && strcmp(h->type, "ping") != 0 &&
        strcmp(h->type, "auth") != 0) {
        pal_session_reply_error(s, id, "in_lobby", NULL,
                                "you are waiting in the lobby until a moderator lets you in");
        goto out;
    }
    if (h->needs_room && !p) {
        pal_session_reply_error(s, id, "not_joined", NULL, "join a room first");
        goto out;
    }
    h->fn(s, id, req, h->ud);
out:
    json_decref(req);
}

/* ---- join -------------------------------------------------------------- */

/* A resume: the participant (role, lobby, state) moves to this connection,
 * unless it was removed with a ban meanwhile (its resume token is banned). */
static struct pal_participant *resume_or_reply(struct pal_session *s, json_t *id, const char *room,
                                               const char *token, bool *resumed)
{
    struct pal_server *srv = pal_session_server(s);
    struct pal_participant *p;
    *resumed = true;
    if (pal_access_resume_banned_or_reply(s, id, room, token))
        return NULL;
    if (pal_rooms_resume(pal_server_rooms(srv), room, token, pal_now_ms(), &p)) {
        /* a cluster: this node may have taken the room over from the node
         * that gave the token; then they come back as themselves */
        int rc = pal_cluster_adopt_or_reply(pal_server_cluster(srv), s, id, room, token, &p);
        if (rc) {
            *resumed = false;
            return rc > 0 ? p : NULL;
        }
        pal_session_reply_error(s, id, "resume_failed", "resume_token",
                                "unknown or expired resume token: join again without it");
        return NULL;
    }
    struct pal_session *old = p->owner;
    if (!pal_access_resume_allowed(s, p)) {
        /* its session ended while it was away: the participant goes with it */
        PAL_INFO("rooms", room, p->id, "resume refused: the agent's session ended");
        if (old)
            pal_server_participant_gone(srv, old, "session_expired");
        else
            pal_rooms_remove(pal_server_rooms(srv), p);
        pal_session_reply_error(s, id, "resume_failed", "resume_token",
                                "unknown or expired resume token: join again without it");
        return NULL;
    }
    if (old && old != s) {
        /* The previous connection may still look alive (its loss not yet
         * detected): it is dropped, the participant moves here. */
        pal_session_set_participant(old, NULL);
        pal_session_kill(old);
        if (!pal_session_connected(old))
            pal_session_destroy(old);
    }
    pal_session_set_participant(s, p);
    struct pal_identity *me = pal_session_identity(s);
    me->known = true;
    me->agent = p->is_agent;
    snprintf(me->sub, sizeof(me->sub), "%s", p->sub ? p->sub : "");
    PAL_INFO("rooms", room, p->id, "resumed");
    return p;
}

/* A new participant, in the meeting or in the lobby (access.c decides). */
static struct pal_participant *enter_or_reply(struct pal_session *s, json_t *id, json_t *req,
                                              const char *room, const char *name,
                                              enum pal_role role)
{
    struct pal_server *srv = pal_session_server(s);
    struct pal_rooms *rooms = pal_server_rooms(srv);
    if (pal_rooms_room_size(rooms, room) == 0 &&
        (!pal_drain_new_room_or_reply(s, id) || !pal_session_create_room_or_reply(s, id)))
        return NULL;
    struct pal_participant *p;
    int rc = pal_rooms_join(rooms, room, name, role, &p);
    if (rc == -EUSERS) {
        pal_session_reply_error(s, id, "room_full", "room", "room '%s' is full (%d participants)",
                                room, pal_server_config(srv)->max_participants_per_room);
        return NULL;
    }
    if (rc == -EMFILE) {
        pal_session_reply_error(s, id, "too_many_rooms", "room", "the server already has %d rooms",
                                pal_server_config(srv)->max_rooms);
        return NULL;
    }
    if (rc) {
        pal_session_reply_error(s, id, "storage_error", NULL, "cannot join: %s", strerror(-rc));
        return NULL;
    }
    if (!pal_access_enter_or_reply(s, id, req, p)) {
        pal_rooms_remove(rooms, p); /* never announced */
        return NULL;
    }
    return p;
}

static void handle_join(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    struct pal_server *srv = pal_session_server(s);
    if (pal_session_participant(s)) {
        pal_session_reply_error(s, id, "already_joined", NULL, "already in room '%s'",
                                pal_session_room(s));
        return;
    }
    const char *room = pal_room_or_reply(s, id, req, "room");
    if (!room)
        return;
    const char *name = pal_string_or_reply(s, id, req, "name", 1, 64, true);
    if (!name)
        return;
    enum pal_role role = PAL_ROLE_PARTICIPANT;
    if (json_object_get(req, "role")) {
        const char *r = pal_string_or_reply(s, id, req, "role", 1, 16, true);
        if (!r)
            return;
        if (pal_role_parse(r, &role)) {
            pal_session_reply_error(s, id, "bad_field", "role", "role: participant or guest");
            return;
        }
    }
    const char *token = NULL;
    if (json_object_get(req, "resume_token")) {
        token = pal_string_or_reply(s, id, req, "resume_token", 1, 128, true);
        if (!token)
            return;
    }
    bool mic = false, camera = false;
    if (json_object_get(req, "mic") && !pal_bool_or_reply(s, id, req, "mic", true, &mic))
        return;
    if (json_object_get(req, "camera") && !pal_bool_or_reply(s, id, req, "camera", true, &camera))
        return;
    bool mixed = false;
    if (json_object_get(req, "receive") &&
        !pal_receive_mode_or_reply(s, id, req, "receive", true, &mixed))
        return;
    /* a cluster: the room may live on another node (redirect), or be placed
     * first (the join runs again once it is here) */
    struct pal_cluster *cluster = pal_server_cluster(srv);
    if (cluster && !pal_cluster_room_here_or_defer(cluster, s, id, req, room))
        return;

    bool resumed = false;
    struct pal_participant *p = token ? resume_or_reply(s, id, room, token, &resumed)
                                      : enter_or_reply(s, id, req, room, name, role);
    if (!p)
        return;
    json_t *receive_error = NULL;
    if (!resumed) {
        p->mic = mic && !p->mic_blocked;
        p->camera = camera && !p->camera_blocked;
        pal_session_set_participant(s, p);
        /* the lobby keeps the ask; admission to the mix is decided when let in */
        char why[160];
        if (mixed && !p->waiting && !pal_server_admit_mix(srv, s, why, sizeof(why))) {
            /* Past the mixer's cap the join still succeeds, on individual tracks. */
            mixed = false;
            receive_error = json_pack("{s:s, s:s}", "code", "mixer_busy", "message", why);
        }
        p->receive_mixed = mixed; /* a resume keeps the mode in force */
        PAL_INFO("rooms", room, p->id, "%s as %s", p->waiting ? "waits in the lobby" : "joined",
                 pal_role_name(p->role));
    }
    json_t *data = pal_access_join_data(srv, p, resumed);
    if (data && receive_error)
        json_object_set_new(data, "receive_error", receive_error);
    else
        json_decref(receive_error);
    pal_session_reply_ok(s, id, data);
    pal_drain_tell(s);
    if (!resumed && p->waiting)
        pal_access_lobby_knock(srv, p);
    else if (!resumed)
        pal_server_participant_joined(srv, s);
}

/* ---- leave, set_state, ping --------------------------------------------- */

static void handle_leave(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    pal_session_reply_ok(s, id, NULL);
    pal_server_participant_gone(pal_session_server(s), s, "left");
}

static void handle_set_state(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    struct pal_participant *p = pal_session_participant(s);
    static const char *const fields[] = {"mic", "camera", "screen"};
    bool vals[3], have[3], any = false;
    for (int i = 0; i < 3; i++) {
        have[i] = json_object_get(req, fields[i]) != NULL;
        if (have[i] && !pal_bool_or_reply(s, id, req, fields[i], true, &vals[i]))
            return;
        any |= have[i];
    }
    if (!any) {
        pal_session_reply_error(s, id, "missing_field", "mic", "mic and/or camera: required");
        return;
    }
    if (!pal_moderation_state_allowed_or_reply(s, id, req))
        return;
    if (have[0])
        p->mic = vals[0];
    if (have[1])
        p->camera = vals[1];
    if (have[2])
        p->screen = vals[2];
    pal_session_reply_ok(s, id, json_pack("{s:o}", "participant", pal_participant_json(p)));
    pal_server_broadcast(pal_session_server(s), p->room, s,
                         json_pack("{s:s, s:o}", "type", "participant_updated", "participant",
                                   pal_participant_json(p)));
}

static void handle_ping(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    pal_session_reply_ok(s, id, json_pack("{s:I}", "time", (json_int_t)pal_wall_ms()));
}

/* ---- chat --------------------------------------------------------------- */

struct chat_pending {
    struct pal_server *srv;
    json_t *id;
    char pid[PAL_PARTICIPANT_ID_LEN + 1];
};

/* The response to the sender and the chat_message event carry the same
 * message object: it is serialized once (jansson's dump is the largest
 * cost per send after SQLite), then wrapped twice. The envelopes are those
 * of pal_response_ok and the event table of docs/protocol.md. */
static void reply_and_broadcast(struct chat_pending *cp, struct pal_session *s,
                                const struct pal_chat_message *msg, bool duplicate)
{
    json_t *mj = message_json(msg);
    char *m = mj ? json_dumps(mj, JSON_COMPACT) : NULL;
    char *id = json_dumps(cp->id ? cp->id : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(mj);
    char *text = NULL;
    int n;
    if (m && id && s &&
        (n = asprintf(&text, "{\"type\":\"response\",\"id\":%s,\"ok\":true,"
                             "\"data\":{\"message\":%s}}", id, m)) >= 0) {
        pal_session_send_text(s, text, (size_t)n);
        free(text);
    }
    if (m && !duplicate &&
        (n = asprintf(&text, "{\"type\":\"chat_message\",\"message\":%s}", m)) >= 0) {
        pal_server_broadcast_text(cp->srv, msg->room, s, text, (size_t)n);
        free(text);
    }
    free(m);
    free(id);
}

/* A cluster: the message is committed here and now in the room's Redis
 * stream too (pal_cluster_chat_replicate): only now is it acknowledged. */
static void chat_replicated(void *ud, int status, const struct pal_chat_message *msg)
{
    struct chat_pending *cp = ud;
    struct pal_participant *p =
        msg ? pal_rooms_find_participant(pal_server_rooms(cp->srv), cp->pid) : NULL;
    struct pal_session *s = p ? p->owner : NULL;
    if (msg && status == -ESTALE) {
        if (s)
            pal_session_reply_error(s, cp->id, "storage_error", NULL,
                                    "the room moved to another node: send the message again");
    } else if (msg) {
        if (status)
            PAL_WARN("chat", msg->room, cp->pid, "message %lld committed here but not in the "
                     "room's Redis stream (Redis unreachable)", (long long)msg->id);
        reply_and_broadcast(cp, s, msg, false);
    }
    json_decref(cp->id);
    free(cp);
}

/* Runs after the commit (pal_chat_store_flush): only now is the send
 * acknowledged and shown to the room (on a cluster, once in Redis too). */
static void chat_stored(void *ud, int err, const struct pal_chat_message *msg, bool duplicate)
{
    struct chat_pending *cp = ud;
    struct pal_participant *p = pal_rooms_find_participant(pal_server_rooms(cp->srv), cp->pid);
    struct pal_session *s = p ? p->owner : NULL;
    if (err == -EEXIST) {
        /* Not a storage failure: the client reused an id for another text
         * (the store logged it). Retrying cannot help; a new id will. */
        if (s)
            pal_session_reply_error(s, cp->id, "bad_field", "client_msg_id",
                                    "client_msg_id: already used in this room for another "
                                    "message; use a new id for a new message");
    } else if (err == -EDQUOT) {
        /* A council's chat is a record: a full room refuses new messages
         * rather than dropping old ones ([chat] max_room_bytes). */
        if (s)
            pal_session_reply_error(s, cp->id, "chat_quota", NULL,
                                    "this room's chat has reached its size limit; nothing was "
                                    "stored");
    } else if (err) {
        PAL_ERROR("chat", p ? p->room : NULL, cp->pid, "chat message not stored: %s",
                  strerror(-err));
        if (s)
            pal_session_reply_error(s, cp->id, "storage_error", NULL,
                                    "the message could not be stored; nothing was stored");
    } else {
        struct pal_cluster *cluster = pal_server_cluster(cp->srv);
        if (cluster && !duplicate && pal_cluster_chat_replicate(cluster, msg, chat_replicated, cp) == 0)
            return; /* cp is chat_replicated's now */
        reply_and_broadcast(cp, s, msg, duplicate);
    }
    json_decref(cp->id);
    free(cp);
}

static void handle_chat_send(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    const char *text = pal_text_or_reply(s, id, req, "text", PAL_CHAT_TEXT_MAX);
    if (!text)
        return;
    const char *cmid = pal_string_or_reply(s, id, req, "client_msg_id", 1, PAL_ID_MAX, true);
    if (!cmid)
        return;
    if (!pal_access_may_chat_or_reply(s, id))
        return;
    struct pal_server *srv = pal_session_server(s);
    struct pal_chat_store *cs = pal_server_chat(srv);
    struct chat_pending *cp = calloc(1, sizeof(*cp));
    if (!cs || !cp) {
        free(cp);
        pal_session_reply_error(s, id, "storage_error", NULL, "chat storage unavailable");
        return;
    }
    cp->srv = srv;
    cp->id = json_incref(id);
    snprintf(cp->pid, sizeof(cp->pid), "%s", pal_session_participant_id(s));
    int rc = pal_chat_store_submit(cs, pal_session_room(s), cp->pid, pal_session_name(s), text, cmid,
                                   chat_stored, cp);
    if (rc) {
        json_decref(cp->id);
        free(cp);
        pal_session_reply_error(s, id, "storage_error", NULL, "cannot queue the message: %s",
                                strerror(-rc));
        return;
    }
    pal_server_schedule_flush(srv);
}

static void add_row(void *ud, const struct pal_chat_message *msg)
{
    json_array_append_new(ud, message_json(msg));
}

static void handle_chat_history(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    json_int_t before = 0, after = 0, limit = 50;
    if (json_object_get(req, "before") &&
        !pal_int_or_reply(s, id, req, "before", 1, INT64_MAX, true, &before))
        return;
    if (json_object_get(req, "after") &&
        !pal_int_or_reply(s, id, req, "after", 1, INT64_MAX, true, &after))
        return;
    if (before && after) {
        pal_session_reply_error(s, id, "bad_field", "after", "before and after: not both");
        return;
    }
    if (json_object_get(req, "limit") &&
        !pal_int_or_reply(s, id, req, "limit", 1, 200, true, &limit))
        return;
    struct pal_chat_store *cs = pal_server_chat(pal_session_server(s));
    json_t *arr = json_array();
    bool has_more = false;
    int rc = cs ? pal_chat_store_history(cs, pal_session_room(s), before, after, (int)limit,
                                         add_row, arr, &has_more)
                : -EIO;
    if (rc < 0) {
        json_decref(arr);
        pal_session_reply_error(s, id, "storage_error", NULL, "cannot read the history: %s",
                                strerror(-rc));
        return;
    }
    pal_session_reply_ok(s, id, json_pack("{s:o, s:b}", "messages", arr, "has_more", has_more));
}

int pal_handlers_register_builtin(struct pal_server *srv)
{
    int rc = 0;
    rc |= pal_server_register_handler(srv, "join", handle_join, false, NULL);
    rc |= pal_server_register_handler(srv, "leave", handle_leave, true, NULL);
    rc |= pal_server_register_handler(srv, "set_state", handle_set_state, true, NULL);
    rc |= pal_server_register_handler(srv, "ping", handle_ping, false, NULL);
    rc |= pal_server_register_handler(srv, "chat_send", handle_chat_send, true, NULL);
    rc |= pal_server_register_handler(srv, "chat_history", handle_chat_history, true, NULL);
    return rc ? -ENOMEM : 0;
}
