/* The moderation requests of docs/protocol.md (Roles and moderation): mute,
 * allow_unmute, mute_all, remove, room_update, end_meeting, set_role,
 * journal. Each handler reads as a list of checks (pal_access_*_or_reply,
 * the fields), then one change, its announcement (pal_access_announce:
 * the room's journal and the moderation event) and one answer.
 *
 * Hard mute: mic_blocked / camera_blocked on the participant; media
 * signaling hears it through pal_server_participant_blocked and stops
 * forwarding (and mixing) every track of that kind; set_state refuses to
 * turn on what is blocked (pal_moderation_state_allowed_or_reply). The
 * camera's block covers every video track, a screen share included: the
 * media core blocks by kind. A hard mute holds for the person for the rest
 * of the meeting: a rejoin with the same identity gets it back (see
 * struct held_mute).
 *
 * Thread: the signaling thread only. */
#include "palabre/moderation.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/access.h"
#include "palabre/cluster.h"
#include "palabre/common.h"
#include "palabre/log.h"
#include "palabre/room_store.h"
#include "palabre/rooms.h"
#include "palabre/server.h"
#include "palabre/session.h"

#define REASON_MAX 200 /* characters of a remove's or an end's reason */

/* ---- shared checks ---------------------------------------------------------- */

/* An optional string field: false after replying its error; *out NULL when
 * absent. */
static bool opt_string_or_reply(struct pal_session *s, json_t *id, json_t *req, const char *field,
                                size_t min, size_t max, const char **out)
{
    *out = NULL;
    if (!json_object_get(req, field))
        return true;
    *out = pal_string_or_reply(s, id, req, field, min, max, true);
    return *out != NULL;
}

static bool opt_bool_or_reply(struct pal_session *s, json_t *id, json_t *req, const char *field,
                              bool *have, bool *out)
{
    *have = json_object_get(req, field) != NULL;
    return !*have || pal_bool_or_reply(s, id, req, field, true, out);
}

/* participant_id: someone in the meeting of the asker's room (the lobby
 * has lobby_admit / lobby_deny). NULL after replying. */
static struct pal_participant *target_or_reply(struct pal_session *s, json_t *id, json_t *req)
{
    const struct pal_participant *me = pal_session_participant(s);
    const char *tid = pal_string_or_reply(s, id, req, "participant_id", 1, 64, true);
    if (!tid)
        return NULL;
    struct pal_participant *t =
        pal_rooms_find_participant(pal_server_rooms(pal_session_server(s)), tid);
    if (!t || t->waiting || strcmp(t->room, me->room) != 0) {
        pal_session_reply_error(s, id, "unknown_participant", "participant_id",
                                "no participant '%s' in this meeting", tid);
        return NULL;
    }
    return t;
}

/* Whether the asker may do `verb` to t (pal_access_can_act_on); otherwise
 * forbidden, saying why. */
static bool act_on_or_reply(struct pal_session *s, json_t *id, const struct pal_participant *t,
                            const char *verb)
{
    const struct pal_participant *me = pal_session_participant(s);
    if (pal_access_can_act_on(me, t))
        return true;
    if (me == t)
        pal_session_reply_error(s, id, "forbidden", "participant_id", "you cannot %s yourself",
                                verb);
    else if (t->role == PAL_ROLE_OWNER)
        pal_session_reply_error(s, id, "forbidden", "participant_id",
                                "nobody can %s the room's owner", verb);
    else
        pal_session_reply_error(s, id, "forbidden", "participant_id",
                                "only the room's owner can %s a moderator", verb);
    return false;
}

/* kind: "mic" (audio) or "camera" (video); *video tells which. */
static bool kind_or_reply(struct pal_session *s, json_t *id, json_t *req, bool required,
                          bool *video)
{
    const char *k = NULL;
    *video = false;
    if (required)
        k = pal_string_or_reply(s, id, req, "kind", 1, 16, true);
    else if (!opt_string_or_reply(s, id, req, "kind", 1, 16, &k))
        return false;
    if (required && !k)
        return false;
    if (!k || strcmp(k, "mic") == 0)
        return true;
    if (strcmp(k, "camera") == 0) {
        *video = true;
        return true;
    }
    pal_session_reply_error(s, id, "bad_field", "kind", "kind: mic or camera");
    return false;
}

static json_t *who_json(const struct pal_participant *p)
{
    return json_pack("{s:s, s:s}", "id", p->id, "name", p->name);
}

static void broadcast_updated(struct pal_server *srv, const struct pal_participant *p)
{
    pal_server_broadcast(srv, p->room, NULL,
                         json_pack("{s:s, s:o}", "type", "participant_updated", "participant",
                                   pal_participant_json(p)));
}

/* ---- hard mutes held for the meeting ------------------------------------------------ */

/* A hard mute holds for the person, not for one connection: leaving and
 * joining again (a new participant) must not lift it. Kept per room by the
 * identity a rejoin keeps (an agent's sub, a guest's guest_key; not the
 * invite link, which others may share) until allowed or the meeting ends
 * (the room is gone), and put back by the participant listener at join. */
#define HELD_MAX 4096 /* over every room: past it a mute holds until a rejoin only */

struct held_mute {
    char room[PAL_ROOM_MAX + 1];
    char key[300];
    bool mic, camera;
};

struct moderation {
    /* borrowed */
    struct pal_server *srv;
    /* owned */
    struct held_mute *held; /* HELD_MAX, allocated with the first */
    /* state */
    size_t n_held;
};

/* The key a rejoin keeps, or false (an anonymous agent, a guest without key). */
static bool held_key(const struct pal_participant *p, char key[300])
{
    if (p->is_agent && p->sub && strncmp(p->sub, "anon:", 5) != 0)
        snprintf(key, 300, "sub:%s", p->sub);
    else if (!p->is_agent && p->guest_key)
        snprintf(key, 300, "guest:%s", p->guest_key);
    else
        return false;
    return true;
}

/* Forgets the mutes of meetings that ended (their room is gone). */
static void held_purge(struct moderation *m)
{
    for (size_t i = 0; i < m->n_held;)
        if (pal_rooms_room_size(pal_server_rooms(m->srv), m->held[i].room) == 0)
            m->held[i] = m->held[--m->n_held];
        else
            i++;
}

static struct held_mute *held_find(struct moderation *m, const char *room, const char *key)
{
    for (size_t i = 0; i < m->n_held; i++)
        if (strcmp(m->held[i].key, key) == 0 && strcmp(m->held[i].room, room) == 0)
            return &m->held[i];
    return NULL;
}

/* t's mutes as they stand now, remembered for its next joins. */
static void held_update(struct moderation *m, const struct pal_participant *t)
{
    char key[300];
    if (!held_key(t, key))
        return;
    struct held_mute *h = held_find(m, t->room, key);
    if (!t->mic_blocked && !t->camera_blocked) {
        if (h)
            *h = m->held[--m->n_held];
        return;
    }
    if (!h) {
        held_purge(m);
        if (!m->held && !(m->held = calloc(HELD_MAX, sizeof(*m->held))))
            return;
        if (m->n_held == HELD_MAX) {
            PAL_WARN("moderation", t->room, t->id,
                     "%d hard mutes held: this one lasts until a rejoin only", HELD_MAX);
            return;
        }
        h = &m->held[m->n_held++];
        snprintf(h->room, sizeof(h->room), "%s", t->room);
        snprintf(h->key, sizeof(h->key), "%s", key);
    }
    h->mic = t->mic_blocked;
    h->camera = t->camera_blocked;
}

/* Sets t's hard mute of one kind; turning it on also turns the device off.
 * Returns whether anything changed (then everyone is told and the media
 * follows). */
static bool set_blocked(struct moderation *m, struct pal_participant *t, bool video,
                        bool blocked)
{
    struct pal_server *srv = m->srv;
    bool *flag = video ? &t->camera_blocked : &t->mic_blocked;
    if (*flag == blocked)
        return false;
    *flag = blocked;
    if (blocked) {
        if (video)
            t->camera = t->screen = false;
        else
            t->mic = false;
    }
    held_update(m, t);
    broadcast_updated(srv, t);
    struct pal_session *ts = pal_server_find_participant(srv, t->id);
    if (ts)
        pal_server_participant_blocked(srv, ts);
    return true;
}

/* Someone enters the meeting (a join, an admission): the mutes its
 * identity carries in this meeting are put back. */
static void on_joined(struct pal_session *s, void *ud)
{
    struct moderation *m = ud;
    struct pal_participant *p = pal_session_participant(s);
    char key[300];
    const struct held_mute *h;
    if (!p || p->waiting || !held_key(p, key) || !(h = held_find(m, p->room, key)))
        return;
    bool mic = h->mic, camera = h->camera;
    if (mic)
        set_blocked(m, p, false, true);
    if (camera)
        set_blocked(m, p, true, true);
    if (mic || camera)
        PAL_INFO("moderation", p->room, p->id, "hard mute put back (%s%s)", mic ? "mic" : "",
                 camera ? (mic ? ", camera" : "camera") : "");
}

bool pal_moderation_state_allowed_or_reply(struct pal_session *s, json_t *id, json_t *req)
{
    const struct pal_participant *p = pal_session_participant(s);
    if (!p)
        return true;
    const char *refused = NULL;
    if (p->mic_blocked && json_is_true(json_object_get(req, "mic")))
        refused = "mic";
    else if (p->camera_blocked && json_is_true(json_object_get(req, "camera")))
        refused = "camera";
    else if (p->camera_blocked && json_is_true(json_object_get(req, "screen")))
        refused = "screen";
    if (!refused)
        return true;
    pal_session_reply_error(s, id, "muted_by_moderator", refused,
                            "a moderator turned off your %s: it stays off until they allow it",
                            strcmp(refused, "mic") == 0 ? "microphone" : "camera");
    return false;
}

/* ---- mute, allow_unmute, mute_all --------------------------------------------------- */

static void mute_or_allow(struct pal_session *s, json_t *id, json_t *req, struct moderation *m,
                          bool mute)
{
    struct pal_server *srv = pal_session_server(s);
    bool video;
    if (!pal_access_moderator_or_reply(s, id))
        return;
    struct pal_participant *t = target_or_reply(s, id, req);
    if (!t || !act_on_or_reply(s, id, t, mute ? "mute" : "allow to unmute") ||
        !kind_or_reply(s, id, req, true, &video))
        return;
    if (set_blocked(m, t, video, mute))
        pal_access_announce(srv, pal_session_participant(s), mute ? "mute" : "allow_unmute", t,
                            video ? "camera" : "mic");
    pal_session_reply_ok(s, id, json_pack("{s:o}", "participant", pal_participant_json(t)));
}

static void handle_mute(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    mute_or_allow(s, id, req, ud, true);
}

static void handle_allow_unmute(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    mute_or_allow(s, id, req, ud, false);
}

/* The participants of a room in the meeting (or its lobby), collected
 * first: acting on them sends events and may remove them. */
struct collect {
    struct pal_participant **list;
    size_t n, cap;
    bool oom;
};

static void collect_one(struct pal_participant *p, void *ud)
{
    struct collect *c = ud;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        struct pal_participant **a = realloc(c->list, cap * sizeof(*a));
        if (!a) {
            c->oom = true;
            return;
        }
        c->list = a;
        c->cap = cap;
    }
    c->list[c->n++] = p;
}

static void handle_mute_all(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    struct moderation *m = ud;
    struct pal_server *srv = pal_session_server(s);
    struct pal_participant *me = pal_session_participant(s);
    bool video;
    if (!pal_access_moderator_or_reply(s, id) || !kind_or_reply(s, id, req, false, &video))
        return;
    struct collect c = {0};
    pal_rooms_each_in_room(pal_server_rooms(srv), me->room, collect_one, &c);
    if (c.oom) {
        free(c.list);
        pal_session_reply_error(s, id, "internal", NULL, "out of memory");
        return;
    }
    int muted = 0;
    for (size_t i = 0; i < c.n; i++) {
        if (pal_access_can_moderate(c.list[i]))
            continue; /* owner and moderators: not theirs to mute each other this way */
        set_blocked(m, c.list[i], video, true);
        muted++;
    }
    free(c.list);
    pal_access_announce(srv, me, "mute_all", NULL, video ? "camera" : "mic");
    pal_session_reply_ok(s, id, json_pack("{s:i}", "muted", muted));
}

/* ---- remove, end_meeting -------------------------------------------------------------- */

static void handle_remove(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    (void)ud;
    struct pal_server *srv = pal_session_server(s);
    struct pal_participant *me = pal_session_participant(s);
    bool ban = false, have_ban;
    const char *reason;
    if (!pal_access_moderator_or_reply(s, id))
        return;
    struct pal_participant *t = target_or_reply(s, id, req);
    if (!t || !act_on_or_reply(s, id, t, "remove") ||
        !opt_bool_or_reply(s, id, req, "ban", &have_ban, &ban) ||
        !opt_string_or_reply(s, id, req, "reason", 1, REASON_MAX, &reason))
        return;
    if (ban) {
        int rc = pal_access_ban_participant(srv, t); /* its resume token too */
        if (rc) {
            pal_session_reply_error(s, id, "internal", "ban",
                                    "not banned (%s): nobody was removed", strerror(-rc));
            return;
        }
    }
    pal_access_announce(srv, me, ban ? "ban" : "remove", t, reason);
    struct pal_session *ts = pal_server_find_participant(srv, t->id);
    if (ts) {
        pal_session_send(ts, json_pack("{s:s, s:o, s:b, s:s?}", "type", "removed", "by",
                                       who_json(me), "ban", ban, "reason", reason));
        pal_session_close(ts, 4001, "removed");
        pal_server_participant_gone(srv, ts, "removed"); /* t is freed */
    }
    pal_session_reply_ok(s, id, NULL);
}

static void handle_end_meeting(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    (void)ud;
    struct pal_server *srv = pal_session_server(s);
    struct pal_participant *me = pal_session_participant(s);
    const char *reason;
    if (!pal_access_moderator_or_reply(s, id) ||
        !opt_string_or_reply(s, id, req, "reason", 1, REASON_MAX, &reason))
        return;
    struct collect c = {0};
    pal_rooms_each_in_room(pal_server_rooms(srv), me->room, collect_one, &c);
    pal_rooms_each_waiting(pal_server_rooms(srv), me->room, collect_one, &c);
    if (c.oom) {
        free(c.list);
        pal_session_reply_error(s, id, "internal", NULL, "out of memory");
        return;
    }
    pal_access_announce(srv, me, "end", NULL, reason);
    pal_session_reply_ok(s, id, NULL);
    /* Everyone hears it before anyone is gone; then each leaves for good
     * (their resume tokens die with them), the lobby first. */
    json_t *by = who_json(me);
    struct pal_session **sessions = calloc(c.n ? c.n : 1, sizeof(*sessions));
    for (size_t i = 0; sessions && i < c.n; i++) {
        sessions[i] = pal_server_find_participant(srv, c.list[i]->id);
        if (!sessions[i])
            continue;
        pal_session_send(sessions[i], json_pack("{s:s, s:O, s:s?}", "type", "meeting_ended",
                                                "by", by, "reason", reason));
        pal_session_close(sessions[i], 4002, "meeting ended");
    }
    json_decref(by);
    for (size_t k = c.n; sessions && k > 0; k--)
        if (sessions[k - 1])
            pal_server_participant_gone(srv, sessions[k - 1], "ended");
    if (!sessions) /* no memory for the list: still end it, without the goodbye */
        for (size_t i = 0; i < c.n; i++) {
            struct pal_session *ps = pal_server_find_participant(srv, c.list[i]->id);
            if (ps) {
                pal_session_close(ps, 4002, "meeting ended");
                pal_server_participant_gone(srv, ps, "ended");
            }
        }
    free(sessions);
    free(c.list);
}

/* ---- room_update ------------------------------------------------------------------ */

/* room_updated carries RoomInfo, whose your_role is each recipient's. */
static void send_room_updated(struct pal_participant *p, void *ud)
{
    struct pal_server *srv = ud;
    struct pal_session *ps = pal_server_find_participant(srv, p->id);
    json_t *info = pal_access_room_info(srv, p->room, p);
    if (ps && info)
        pal_session_send(ps, json_pack("{s:s, s:o}", "type", "room_updated", "room", info));
    else
        json_decref(info);
}

static void handle_room_update(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    (void)ud;
    struct pal_server *srv = pal_session_server(s);
    struct pal_participant *me = pal_session_participant(s);
    const char *title;
    bool locked, guest_chat, lobby, have_locked, have_chat, have_lobby;
    if (!pal_access_moderator_or_reply(s, id) ||
        !opt_string_or_reply(s, id, req, "title", 1, PAL_ROOM_TITLE_MAX, &title) ||
        !opt_bool_or_reply(s, id, req, "locked", &have_locked, &locked) ||
        !opt_bool_or_reply(s, id, req, "guest_chat", &have_chat, &guest_chat) ||
        !opt_bool_or_reply(s, id, req, "lobby", &have_lobby, &lobby))
        return;
    if (!title && !have_locked && !have_chat && !have_lobby) {
        pal_session_reply_error(s, id, "missing_field", "title",
                                "any of title, locked, guest_chat, lobby: required");
        return;
    }
    struct pal_room_store *rs = pal_server_room_store(srv);
    struct pal_room_record rec;
    int rc = rs ? pal_room_store_get(rs, me->room, &rec) : -EIO;
    if (rc == 0) {
        struct pal_room_settings st = rec.settings;
        if (have_locked)
            st.locked = locked;
        if (have_chat)
            st.guest_chat = guest_chat;
        if (have_lobby)
            st.lobby = lobby;
        rc = pal_room_store_update(rs, me->room, title, &st);
        if (rc == 0) /* a cluster: the room's next home has them too */
            pal_cluster_access_room(pal_server_cluster(srv), me->room);
    }
    if (rc) {
        pal_session_reply_error(s, id, rc == -ENOENT ? "room_not_found" : "storage_error", NULL,
                                "the room's settings could not be stored: %s", strerror(-rc));
        return;
    }
    /* One announcement per change, in the journal's words. */
    if (title && strcmp(title, rec.title) != 0)
        pal_access_announce(srv, me, "title", NULL, title);
    if (have_locked && locked != rec.settings.locked)
        pal_access_announce(srv, me, locked ? "lock" : "unlock", NULL, NULL);
    if (have_chat && guest_chat != rec.settings.guest_chat)
        pal_access_announce(srv, me, guest_chat ? "guest_chat_on" : "guest_chat_off", NULL, NULL);
    if (have_lobby && lobby != rec.settings.lobby)
        pal_access_announce(srv, me, lobby ? "lobby_on" : "lobby_off", NULL, NULL);
    pal_rooms_each_in_room(pal_server_rooms(srv), me->room, send_room_updated, srv);
    pal_session_reply_ok(s, id, json_pack("{s:o?}", "room", pal_access_room_info(srv, me->room, me)));
}

/* ---- set_role ------------------------------------------------------------------------- */

/* set_role {participant_id, role}: moderator, participant (agents) or
 * guest. The owner names moderators among agents for good (stored by sub,
 * kept across meetings) and takes it back the same way; a moderator's
 * promotions, and any guest's, last this meeting only. Whom one may act on:
 * pal_access_can_act_on (never the owner, moderators only by the owner). */
static void handle_set_role(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    (void)ud;
    struct pal_server *srv = pal_session_server(s);
    struct pal_participant *me = pal_session_participant(s);
    if (!pal_access_moderator_or_reply(s, id))
        return;
    struct pal_participant *t = target_or_reply(s, id, req);
    if (!t || !act_on_or_reply(s, id, t, "change the role of"))
        return;
    const char *name = pal_string_or_reply(s, id, req, "role", 1, 16, true);
    if (!name)
        return;
    enum pal_role role;
    if (strcmp(name, "moderator") == 0)
        role = PAL_ROLE_MODERATOR;
    else if (strcmp(name, "participant") == 0)
        role = PAL_ROLE_PARTICIPANT;
    else if (strcmp(name, "guest") == 0)
        role = PAL_ROLE_GUEST;
    else {
        pal_session_reply_error(s, id, "bad_field", "role", "role: moderator, participant or guest");
        return;
    }
    if (role == PAL_ROLE_PARTICIPANT && !t->is_agent) {
        pal_session_reply_error(s, id, "bad_field", "role",
                                "%s came by an invite link: moderator or guest", t->name);
        return;
    }
    if (role != t->role) {
        bool named = me->role == PAL_ROLE_OWNER && t->is_agent && t->sub &&
                     strncmp(t->sub, "anon:", 5) != 0;
        bool was_moderator = t->role == PAL_ROLE_MODERATOR;
        if (named && (role == PAL_ROLE_MODERATOR || was_moderator)) {
            int rc = pal_room_store_set_moderator(pal_server_room_store(srv), t->room, t->sub,
                                                  t->name, role == PAL_ROLE_MODERATOR);
            if (rc) {
                pal_session_reply_error(s, id, "storage_error", NULL,
                                        "the role could not be stored: %s", strerror(-rc));
                return;
            }
            pal_cluster_access_moderator(pal_server_cluster(srv), t->room, t->sub, t->name,
                                         role == PAL_ROLE_MODERATOR);
        }
        bool up = role < t->role; /* enum pal_role: highest first */
        t->role = role;
        pal_cluster_person(pal_server_cluster(srv), t, true);
        broadcast_updated(srv, t);
        pal_access_announce(srv, me, up ? "promote" : "demote", t, name);
        if (role == PAL_ROLE_MODERATOR)
            pal_access_show_lobby(srv, t); /* who already waits, as a moderator's join shows */
    }
    pal_session_reply_ok(s, id, json_pack("{s:o}", "participant", pal_participant_json(t)));
}

/* ---- journal --------------------------------------------------------------------------- */

struct journal_rows {
    json_t *arr;
    int limit, n;
};

static void add_entry(void *ud, const struct pal_journal_entry *e)
{
    struct journal_rows *j = ud;
    if (j->n++ >= j->limit)
        return; /* the one past the limit only says there is more */
    json_t *target = e->target_id[0] ? json_pack("{s:s, s:s}", "id", e->target_id, "name",
                                                 e->target_name)
                                     : json_null();
    json_array_append_new(
        j->arr, json_pack("{s:I, s:I, s:s, s:{s:s, s:s}, s:o, s:s?}", "id", (json_int_t)e->id,
                          "ts", (json_int_t)e->ts_ms, "action", e->action, "by", "id",
                          e->actor_id, "name", e->actor_name, "target", target, "detail",
                          e->detail[0] ? e->detail : NULL));
}

/* journal {before, limit}: the room's moderation actions, newest first. */
static void handle_journal(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    (void)ud;
    json_int_t before = 0, limit = 50;
    if (!pal_access_moderator_or_reply(s, id))
        return;
    if (json_object_get(req, "before") &&
        !pal_int_or_reply(s, id, req, "before", 1, INT64_MAX, true, &before))
        return;
    if (json_object_get(req, "limit") &&
        !pal_int_or_reply(s, id, req, "limit", 1, 200, true, &limit))
        return;
    struct pal_room_store *rs = pal_server_room_store(pal_session_server(s));
    struct journal_rows j = {json_array(), (int)limit, 0};
    int rc = rs ? pal_room_store_journal_list(rs, pal_session_room(s), before, (int)limit + 1,
                                              add_entry, &j)
                : -EIO;
    if (rc < 0) {
        json_decref(j.arr);
        pal_session_reply_error(s, id, "storage_error", NULL, "cannot read the journal: %s",
                                strerror(-rc));
        return;
    }
    pal_session_reply_ok(s, id,
                         json_pack("{s:o, s:b}", "entries", j.arr, "has_more", j.n > limit));
}

static void moderation_free(void *obj)
{
    struct moderation *m = obj;
    free(m->held);
    free(m);
}

int pal_moderation_register(struct pal_server *srv)
{
    static const struct {
        const char *type;
        pal_request_fn fn;
    } handlers[] = {
        {"mute", handle_mute},
        {"allow_unmute", handle_allow_unmute},
        {"mute_all", handle_mute_all},
        {"remove", handle_remove},
        {"room_update", handle_room_update},
        {"end_meeting", handle_end_meeting},
        {"set_role", handle_set_role},
        {"journal", handle_journal},
    };
    struct moderation *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->srv = srv;
    int rc = pal_server_adopt(srv, m, moderation_free);
    if (rc) {
        free(m);
        return rc;
    }
    const struct pal_participant_listener l = {.on_participant_joined = on_joined, .ud = m};
    if ((rc = pal_server_add_participant_listener(srv, &l)))
        return rc;
    for (size_t i = 0; i < PAL_ARRAY_LEN(handlers); i++)
        if ((rc = pal_server_register_handler(srv, handlers[i].type, handlers[i].fn, true, m)))
            return rc;
    return 0;
}
