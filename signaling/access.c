/* Access (docs/protocol.md, "Roles" and "Lobby"): who a session is (auth,
 * join's credentials), the entry decision of a join, the lobby, invite
 * links, stored rooms, and the role checks the moderation handlers share
 * (include/palabre/access.h).
 *
 * Identity: an open-mode agent is known by the SHA-256 of a random key its
 * browser keeps (the key itself is never stored, so a database leak gives
 * no one a way in); a token-mode agent by the JWT's sub (jwt.h); a guest by
 * the invite link it came with. Stored rooms and links are in the room
 * store (room_store.h); the live meeting (who is in, the lobby, bans) in
 * rooms.h. */
#include "palabre/access.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/chat_store.h"
#include "palabre/cluster.h"
#include "palabre/common.h"
#include "palabre/jwt.h"
#include "palabre/log.h"
#include "palabre/protocol.h"
#include "palabre/room_store.h"
#include "palabre/rooms.h"
#include "palabre/server.h"
#include "palabre/session.h"
#include "palabre/turn.h"

#define ROOMS_MINE_MAX 200
#define REASON_MAX 200
#define KEY_MIN 22 /* agent_key: 128 bits of base64url at least */
#define GUEST_KEY_MIN 16
#define KEY_MAX 128
#define INVITE_MAX_USES 10000

static const struct pal_room_settings default_settings = {
    .lobby = true, .locked = false, .guest_chat = true};

/* ---- roles ----------------------------------------------------------------- */

bool pal_access_can_moderate(const struct pal_participant *p)
{
    return p && !p->waiting && (p->role == PAL_ROLE_OWNER || p->role == PAL_ROLE_MODERATOR);
}

bool pal_access_can_act_on(const struct pal_participant *actor,
                           const struct pal_participant *target)
{
    if (!actor || !target || actor == target || !pal_access_can_moderate(actor))
        return false;
    if (target->role == PAL_ROLE_OWNER)
        return false;
    if (target->role == PAL_ROLE_MODERATOR)
        return actor->role == PAL_ROLE_OWNER;
    return true;
}

bool pal_access_moderator_or_reply(struct pal_session *s, json_t *id)
{
    const struct pal_participant *p = pal_session_participant(s);
    if (pal_access_can_moderate(p))
        return true;
    pal_session_reply_error(s, id, "forbidden", NULL,
                            "this needs the room's owner or a moderator (you are %s)",
                            p ? pal_role_name(p->role) : "not in a room");
    return false;
}

/* ---- bans ------------------------------------------------------------------ */

/* The ban keys of p (rooms.h): at most four. Its resume token too, so that
 * a removed participant's resume says banned, not just resume_failed. */
static int ban_keys(const struct pal_participant *p, char keys[4][300])
{
    int n = 0;
    snprintf(keys[n++], sizeof(keys[0]), "resume:%s", p->resume_token);
    if (p->sub) /* an agent, or a guest signed in at the provider */
        snprintf(keys[n++], sizeof(keys[0]), "sub:%s", p->sub);
    if (p->invite_id > 0)
        snprintf(keys[n++], sizeof(keys[0]), "invite:%lld", (long long)p->invite_id);
    if (p->guest_key)
        snprintf(keys[n++], sizeof(keys[0]), "guest:%s", p->guest_key);
    return n;
}

int pal_access_ban_participant(struct pal_server *srv, const struct pal_participant *p)
{
    char keys[4][300];
    int n = ban_keys(p, keys);
    for (int i = 0; i < n; i++) {
        int rc = pal_rooms_ban(pal_server_rooms(srv), p->room, keys[i]);
        if (rc)
            return rc;
        /* a cluster: the room's next home refuses them too */
        pal_cluster_access_ban(pal_server_cluster(srv), p->room, keys[i]);
    }
    return 0;
}

bool pal_access_is_banned(struct pal_server *srv, const struct pal_participant *p)
{
    char keys[4][300];
    int n = ban_keys(p, keys);
    for (int i = 0; i < n; i++)
        if (pal_rooms_is_banned(pal_server_rooms(srv), p->room, keys[i]) ||
            pal_cluster_banned(pal_server_cluster(srv), p->room, keys[i]))
            return true;
    return false;
}

/* ---- JSON ------------------------------------------------------------------ */

static json_t *room_info_json(const struct pal_room_record *rec, const char *your_role)
{
    return json_pack("{s:s, s:s, s:s, s:{s:b, s:b, s:b}, s:s?}", "name", rec->name, "title",
                     rec->title, "owner_name", rec->owner_name, "settings", "lobby",
                     rec->settings.lobby, "locked", rec->settings.locked, "guest_chat",
                     rec->settings.guest_chat, "your_role", your_role);
}

json_t *pal_access_room_info(struct pal_server *srv, const char *room,
                             const struct pal_participant *p)
{
    struct pal_room_record rec;
    if (pal_room_store_get(pal_server_room_store(srv), room, &rec))
        return NULL;
    return room_info_json(&rec, p ? pal_role_name(p->role) : NULL);
}

/* What moderators see of someone in the lobby. */
static json_t *lobby_entry_json(const struct pal_participant *p)
{
    return json_pack("{s:s, s:s, s:s, s:s?}", "id", p->id, "name", p->name, "role",
                     pal_role_name(p->role), "invite_label", p->invite_label);
}

struct list_ctx {
    json_t *arr;
    const struct pal_participant *self;
};

static void add_other(struct pal_participant *p, void *ud)
{
    struct list_ctx *lc = ud;
    if (p != lc->self)
        json_array_append_new(lc->arr, pal_participant_json(p));
}

static void add_waiting(struct pal_participant *p, void *ud)
{
    json_array_append_new(ud, lobby_entry_json(p));
}

json_t *pal_access_join_data(struct pal_server *srv, const struct pal_participant *p, bool resumed)
{
    json_t *info = pal_access_room_info(srv, p->room, p);
    if (p->waiting)
        return json_pack("{s:s, s:b, s:o?, s:o, s:s}", "room", p->room, "lobby", 1, "room_info",
                         info, "participant", pal_participant_json(p), "resume_token",
                         p->resume_token);
    struct pal_rooms *rooms = pal_server_rooms(srv);
    struct list_ctx lc = {json_array(), p};
    pal_rooms_each_in_room(rooms, p->room, add_other, &lc);
    int64_t last = pal_chat_store_last_id(pal_server_chat(srv), p->room);
    json_t *data = json_pack("{s:s, s:o, s:o, s:s, s:b, s:o, s:s, s:o?}", "room", p->room,
                             "participant", pal_participant_json(p), "participants", lc.arr,
                             "resume_token", p->resume_token, "resumed", resumed, "last_message_id",
                             last > 0 ? json_integer(last) : json_null(), "receive",
                             p->receive_mixed ? "mixed" : "sfu", "room_info", info);
    /* TURN credentials only once in the meeting: a waiting guest gets none
     * (coturn would relay for someone not yet admitted); admitted carries them. */
    if (data)
        json_object_set_new(data, "ice_servers",
                            pal_turn_ice_servers_or_empty(pal_server_config(srv), p->id,
                                                          pal_wall_ms() / 1000));
    if (data && pal_access_can_moderate(p)) {
        json_t *lobby = json_array();
        pal_rooms_each_waiting(rooms, p->room, add_waiting, lobby);
        json_object_set_new(data, "lobby", lobby);
    }
    return data;
}

/* ---- announcements ----------------------------------------------------------- */

struct to_mods {
    struct pal_frame *frame;
};

static void send_if_moderator(struct pal_participant *p, void *ud)
{
    struct to_mods *tm = ud;
    if (pal_access_can_moderate(p) && p->owner && !p->disconnected)
        pal_session_send_frame(p->owner, tm->frame);
}

void pal_access_send_to_moderators(struct pal_server *srv, const char *room, json_t *msg)
{
    char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    if (!text)
        return;
    struct to_mods tm = {pal_frame_create(text, strlen(text))};
    free(text);
    if (!tm.frame)
        return;
    pal_rooms_each_in_room(pal_server_rooms(srv), room, send_if_moderator, &tm);
    pal_frame_unref(tm.frame);
}

void pal_access_lobby_knock(struct pal_server *srv, const struct pal_participant *p)
{
    pal_access_send_to_moderators(
        srv, p->room,
        json_pack("{s:s, s:o}", "type", "lobby_knock", "participant", lobby_entry_json(p)));
}

static void knock_to(struct pal_participant *w, void *ud)
{
    struct pal_session *mod = ud;
    pal_session_send(mod, json_pack("{s:s, s:o}", "type", "lobby_knock", "participant",
                                    lobby_entry_json(w)));
}

void pal_access_show_lobby(struct pal_server *srv, struct pal_participant *mod)
{
    if (mod->owner && !mod->disconnected && pal_access_can_moderate(mod))
        pal_rooms_each_waiting(pal_server_rooms(srv), mod->room, knock_to, mod->owner);
}

void pal_access_lobby_left(struct pal_server *srv, const struct pal_participant *p,
                           const char *reason)
{
    pal_access_send_to_moderators(srv, p->room,
                                  json_pack("{s:s, s:s, s:s}", "type", "lobby_left",
                                            "participant_id", p->id, "reason", reason));
}

void pal_access_announce(struct pal_server *srv, const struct pal_participant *actor,
                         const char *action, const struct pal_participant *target,
                         const char *detail)
{
    struct pal_journal_entry e = {
        .ts_ms = pal_wall_ms(),
        .room = actor->room,
        .action = action,
        .actor_id = actor->id,
        .actor_name = actor->name,
        .target_id = target ? target->id : "",
        .target_name = target ? target->name : "",
        .detail = detail ? detail : "",
    };
    int rc = pal_room_store_journal_add(pal_server_room_store(srv), &e);
    if (rc)
        PAL_WARN("access", actor->room, actor->id, "journal: %s not stored: %s", action,
                 strerror(-rc));
    json_t *t = target ? json_pack("{s:s, s:s}", "id", target->id, "name", target->name) : NULL;
    pal_server_broadcast(srv, actor->room, NULL,
                         json_pack("{s:s, s:s, s:{s:s, s:s}, s:o?, s:s?}", "type", "moderation",
                                   "action", action, "by", "id", actor->id, "name", actor->name,
                                   "target", t ? t : json_null(), "detail", detail));
}

/* ---- identity ------------------------------------------------------------- */

static bool base64url(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return false;
    return true;
}

/* A key field of [min, KEY_MAX] base64url characters, or NULL (replied). */
static const char *key_or_reply(struct pal_session *s, json_t *id, json_t *req, const char *field,
                                size_t min)
{
    const char *k = pal_string_or_reply(s, id, req, field, min, KEY_MAX, true);
    if (k && !base64url(k)) {
        pal_session_reply_error(s, id, "bad_field", field, "%s: %zu to %d characters of base64url",
                                field, min, KEY_MAX);
        return NULL;
    }
    return k;
}

/* "local:" + the first 32 hex digits of SHA-256(agent_key). */
static int local_sub(const char *key, char *out, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (!EVP_Digest(key, strlen(key), md, &mdlen, EVP_sha256(), NULL) || mdlen < 16)
        return -EIO;
    int n = snprintf(out, len, "local:");
    for (int i = 0; i < 16 && (size_t)n + 2 < len; i++)
        n += snprintf(out + n, len - (size_t)n, "%02x", md[i]);
    return 0;
}

/* An agent's credentials in req: token (token mode) or agent_key (open
 * mode). 1 and *out when given and valid, 0 when absent, -1 when refused
 * (replied: bad_token with the verifier's reason, bad_field). */
static int agent_credentials_or_reply(struct pal_session *s, json_t *id, json_t *req,
                                      struct pal_identity *out)
{
    struct pal_server *srv = pal_session_server(s);
    memset(out, 0, sizeof(*out));
    if (pal_server_config(srv)->agents == PAL_AGENTS_OIDC)
        return 0; /* agents came with their session cookie (signaling/oidc.c) */
    if (pal_server_config(srv)->agents == PAL_AGENTS_TOKEN) {
        if (!json_object_get(req, "token"))
            return 0;
        const char *tok = pal_string_or_reply(s, id, req, "token", 1, PAL_JWT_MAX_LEN, true);
        if (!tok)
            return -1;
        struct pal_jwt_identity ji;
        char err[200] = "";
        if (!pal_server_jwt(srv) ||
            pal_jwt_verify(pal_server_jwt(srv), tok, pal_wall_ms() / 1000, &ji, err, sizeof(err))) {
            PAL_INFO("access", NULL, NULL, "token refused: %s", err);
            pal_session_reply_error(s, id, "bad_token", "token", "%s",
                                    err[0] ? err : "token refused");
            return -1;
        }
        snprintf(out->sub, sizeof(out->sub), "%s", ji.sub);
        snprintf(out->name, sizeof(out->name), "%s", ji.name);
        snprintf(out->email, sizeof(out->email), "%s", ji.email);
    } else {
        if (!json_object_get(req, "agent_key"))
            return 0;
        const char *key = key_or_reply(s, id, req, "agent_key", KEY_MIN);
        if (!key)
            return -1;
        if (local_sub(key, out->sub, sizeof(out->sub))) {
            pal_session_reply_error(s, id, "storage_error", NULL, "cannot hash the key");
            return -1;
        }
    }
    out->known = out->agent = true;
    return 1;
}

static const char *mode_name(struct pal_server *srv)
{
    int mode = pal_server_config(srv)->agents;
    return mode == PAL_AGENTS_TOKEN ? "token" : mode == PAL_AGENTS_OIDC ? "oidc" : "open";
}

static void reply_auth_required(struct pal_session *s, json_t *id)
{
    if (pal_server_config(pal_session_server(s))->agents == PAL_AGENTS_OIDC)
        pal_session_reply_error(s, id, "auth_required", "session",
                                "agents sign in first (/oidc/login); guests need an invite link");
    else if (pal_server_config(pal_session_server(s))->agents == PAL_AGENTS_TOKEN)
        pal_session_reply_error(s, id, "auth_required", "token",
                                "agents sign in with a token; guests need an invite link");
    else
        pal_session_reply_error(s, id, "auth_required", "agent_key",
                                "auth with an agent_key first");
}

/* The session's agent, or NULL (replied auth_required, or forbidden for a
 * guest). */
static const struct pal_identity *agent_or_reply(struct pal_session *s, json_t *id)
{
    const struct pal_identity *me = pal_session_identity(s);
    if (me->known && me->agent)
        return me;
    if (me->known)
        pal_session_reply_error(s, id, "forbidden", NULL, "this needs an agent (you are a guest)");
    else
        reply_auth_required(s, id);
    return NULL;
}

static void handle_auth(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    struct pal_identity who;
    int rc = agent_credentials_or_reply(s, id, req, &who);
    if (rc < 0)
        return;
    if (rc == 0 && pal_server_config(pal_session_server(s))->agents == PAL_AGENTS_OIDC &&
        pal_session_identity(s)->known && pal_session_identity(s)->agent) {
        who = *pal_session_identity(s); /* signed in: the upgrade carried the session */
        rc = 1;
    }
    if (rc == 0) {
        reply_auth_required(s, id);
        return;
    }
    int mode = pal_server_config(pal_session_server(s))->agents;
    if (mode != PAL_AGENTS_TOKEN && mode != PAL_AGENTS_OIDC &&
        json_object_get(req, "name")) {
        const char *name = pal_string_or_reply(s, id, req, "name", 1, 64, true);
        if (!name)
            return;
        snprintf(who.name, sizeof(who.name), "%s", name);
    }
    *pal_session_identity(s) = who;
    pal_session_reply_ok(s, id,
                         json_pack("{s:{s:s, s:s?, s:s?}, s:s}", "agent", "sub", who.sub, "name",
                                   who.name[0] ? who.name : NULL, "email",
                                   who.email[0] ? who.email : NULL, "mode",
                                   mode_name(pal_session_server(s))));
}

/* ---- the entry decision of join -------------------------------------------- */

static bool set_string(char **dst, const char *v)
{
    free(*dst);
    *dst = v ? strdup(v) : NULL;
    return !v || *dst;
}

/* The error for the room store's answer to an invite use. */
static void reply_invite_error(struct pal_session *s, json_t *id, int rc, const char *room)
{
    switch (rc) {
    case -ENOENT:
        pal_session_reply_error(s, id, "invite_invalid", "invite",
                                "this invite link is not valid for room '%s'", room);
        break;
    case -ECANCELED:
        pal_session_reply_error(s, id, "invite_revoked", "invite", "this invite link was revoked");
        break;
    case -ETIMEDOUT:
        pal_session_reply_error(s, id, "invite_expired", "invite", "this invite link has expired");
        break;
    case -EUSERS:
        pal_session_reply_error(s, id, "invite_used_up", "invite",
                                "this invite link has been used as many times as allowed");
        break;
    default:
        pal_session_reply_error(s, id, "storage_error", NULL, "cannot read the invite: %s",
                                strerror(-rc));
    }
}

static void reply_banned(struct pal_session *s, json_t *id)
{
    pal_session_reply_error(s, id, "banned", NULL,
                            "you were removed from this meeting and cannot come back");
}

bool pal_access_resume_allowed(struct pal_session *s, const struct pal_participant *p)
{
    if (pal_server_config(pal_session_server(s))->agents != PAL_AGENTS_OIDC || !p->is_agent)
        return true;
    const struct pal_identity *me = pal_session_identity(s);
    return me->known && me->agent && p->sub && strcmp(me->sub, p->sub) == 0;
}

bool pal_access_resume_banned_or_reply(struct pal_session *s, json_t *id, const char *room,
                                       const char *token)
{
    char key[300];
    snprintf(key, sizeof(key), "resume:%s", token);
    struct pal_server *srv = pal_session_server(s);
    if (!pal_rooms_is_banned(pal_server_rooms(srv), room, key) &&
        !pal_cluster_banned(pal_server_cluster(srv), room, key))
        return false;
    reply_banned(s, id);
    return true;
}

/* The stored room of an agent's join, created when unknown (owner: that
 * agent, title: the name, default settings). */
static bool stored_room_or_reply(struct pal_session *s, json_t *id, const struct pal_identity *who,
                                 const struct pal_participant *p, struct pal_room_record *rec)
{
    struct pal_server *srv = pal_session_server(s);
    struct pal_room_store *rs = pal_server_room_store(srv);
    int rc = pal_room_store_get(rs, p->room, rec);
    if (rc == -ENOENT && who->agent) {
        rc = pal_room_store_create(rs, p->room, p->room, who->sub, p->name, &default_settings,
                                   pal_wall_ms(), pal_server_config(srv)->max_rooms_per_agent);
        if (rc == -EDQUOT) {
            pal_session_reply_error(s, id, "room_quota", "room", "you already own %d rooms",
                                    pal_server_config(srv)->max_rooms_per_agent);
            return false;
        }
        if (rc == 0) {
            PAL_INFO("access", p->room, p->id, "room created by %s", who->sub);
            rc = pal_room_store_get(rs, p->room, rec);
            pal_cluster_access_room(pal_server_cluster(srv), p->room);
        }
    }
    if (rc == -ENOENT) {
        pal_session_reply_error(s, id, "room_not_found", "room", "room '%s' does not exist",
                                p->room);
        return false;
    }
    if (rc) {
        pal_session_reply_error(s, id, "storage_error", NULL, "cannot read the room: %s",
                                strerror(-rc));
        return false;
    }
    return true;
}

/* Who joins: a guest with an invite, else an agent by the credentials in
 * req or the session's (auth), else (open mode) an anonymous agent.
 * OpenID Connect: someone signed in outside [oidc] agent_siret /
 * agent_email_domains is a guest named by the provider (who->sub set,
 * agent false), with or without an invite: see signed_in_guest. */
static bool joiner_or_reply(struct pal_session *s, json_t *id, json_t *req,
                            const struct pal_participant *p, bool guest, struct pal_identity *who)
{
    memset(who, 0, sizeof(*who));
    who->known = true;
    const struct pal_identity *me = pal_session_identity(s);
    if (pal_server_config(pal_session_server(s))->agents == PAL_AGENTS_OIDC && me->known &&
        !me->agent && me->sub[0]) {
        *who = *me;
        return true;
    }
    if (guest)
        return true;
    int rc = agent_credentials_or_reply(s, id, req, who);
    if (rc < 0)
        return false;
    if (rc > 0)
        return true;
    if (me->known && me->agent) {
        *who = *me;
        return true;
    }
    int mode = pal_server_config(pal_session_server(s))->agents;
    if (mode == PAL_AGENTS_TOKEN || mode == PAL_AGENTS_OIDC) {
        reply_auth_required(s, id);
        return false;
    }
    who->known = who->agent = true;
    snprintf(who->sub, sizeof(who->sub), "anon:%s", p->id);
    return true;
}

bool pal_access_enter_or_reply(struct pal_session *s, json_t *id, json_t *req,
                               struct pal_participant *p)
{
    struct pal_server *srv = pal_session_server(s);
    const char *invite = NULL, *guest_key = NULL;
    if (json_object_get(req, "invite") &&
        !(invite = pal_string_or_reply(s, id, req, "invite", 1, KEY_MAX, true)))
        return false;
    if (json_object_get(req, "guest_key") &&
        !(guest_key = key_or_reply(s, id, req, "guest_key", GUEST_KEY_MIN)))
        return false;
    struct pal_identity who;
    if (!joiner_or_reply(s, id, req, p, invite != NULL, &who))
        return false;
    p->is_agent = who.agent;
    bool ok = set_string(&p->sub, who.sub[0] ? who.sub : NULL) &&
              set_string(&p->email, who.email[0] ? who.email : NULL) &&
              set_string(&p->guest_key, guest_key) &&
              (!who.name[0] || set_string(&p->name, who.name)); /* a token's name wins */
    if (!ok) {
        pal_session_reply_error(s, id, "storage_error", NULL, "out of memory");
        return false;
    }
    struct pal_room_record rec;
    if (!stored_room_or_reply(s, id, &who, p, &rec))
        return false;
    /* 1. banned (a guest's invite id is known once the link is read, below) */
    if (pal_access_is_banned(srv, p)) {
        reply_banned(s, id);
        return false;
    }
    /* roles: from the store; a join's role may only lower them */
    enum pal_role role = PAL_ROLE_GUEST;
    if (who.agent && strcmp(who.sub, rec.owner_sub) == 0)
        role = PAL_ROLE_OWNER;
    else if (who.agent && pal_room_store_is_moderator(pal_server_room_store(srv), p->room, who.sub))
        role = PAL_ROLE_MODERATOR;
    else if (who.agent)
        role = PAL_ROLE_PARTICIPANT;
    if (p->role == PAL_ROLE_GUEST)
        role = PAL_ROLE_GUEST;
    bool lobby = false;
    /* signed in at the provider, outside the allow list: a guest who knocks
     * (the lobby, always), with an invite or without one (the provider
     * vouches for the name; the room must exist) */
    bool signed_in_guest = !who.agent && who.sub[0];
    if (signed_in_guest)
        lobby = true;
    if (!who.agent && (invite || !signed_in_guest)) {
        /* Found, checked against the meeting's bans, and only then counted:
         * a banned holder's attempt takes no use from the others. */
        struct pal_room_store *rs = pal_server_room_store(srv);
        struct pal_invite inv;
        int rc = pal_room_store_invite_find(rs, p->room, invite, pal_wall_ms(), &inv);
        if (rc) {
            reply_invite_error(s, id, rc, p->room);
            return false;
        }
        p->invite_id = inv.id;
        if (pal_access_is_banned(srv, p)) {
            reply_banned(s, id);
            return false;
        }
        if ((rc = pal_room_store_invite_consume(rs, &inv))) {
            reply_invite_error(s, id, rc, p->room);
            return false;
        }
        pal_cluster_access_invite(pal_server_cluster(srv), p->room, inv.id); /* its uses */
        if (!set_string(&p->invite_label, inv.label)) {
            pal_session_reply_error(s, id, "storage_error", NULL, "out of memory");
            return false;
        }
        lobby = lobby || inv.lobby || rec.settings.lobby;
    }
    if (rec.settings.locked)
        lobby = true;
    if (role == PAL_ROLE_OWNER || role == PAL_ROLE_MODERATOR)
        lobby = false;
    p->role = role;
    p->waiting = lobby;
    p->waiting_since_ms = lobby ? pal_now_ms() : 0;
    *pal_session_identity(s) = who;
    return true;
}

bool pal_access_may_chat_or_reply(struct pal_session *s, json_t *id)
{
    const struct pal_participant *p = pal_session_participant(s);
    if (!p || p->role != PAL_ROLE_GUEST)
        return true;
    struct pal_room_record rec;
    struct pal_server *srv = pal_session_server(s);
    if (pal_room_store_get(pal_server_room_store(srv), p->room, &rec) == 0 &&
        !rec.settings.guest_chat) {
        pal_session_reply_error(s, id, "forbidden", NULL,
                                "guests may not chat in this room (a moderator turned it off)");
        return false;
    }
    return true;
}

/* ---- stored rooms ---------------------------------------------------------- */

static bool settings_or_reply(struct pal_session *s, json_t *id, json_t *req,
                              struct pal_room_settings *out)
{
    *out = default_settings;
    json_t *st = json_object_get(req, "settings");
    if (!st)
        return true;
    if (!json_is_object(st)) {
        pal_session_reply_error(s, id, "bad_field", "settings",
                                "settings: an object {lobby, locked, guest_chat}");
        return false;
    }
    return (!json_object_get(st, "lobby") ||
            pal_bool_or_reply(s, id, st, "lobby", true, &out->lobby)) &&
           (!json_object_get(st, "locked") ||
            pal_bool_or_reply(s, id, st, "locked", true, &out->locked)) &&
           (!json_object_get(st, "guest_chat") ||
            pal_bool_or_reply(s, id, st, "guest_chat", true, &out->guest_chat));
}

static void handle_room_create(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    struct pal_server *srv = pal_session_server(s);
    const struct pal_identity *me = agent_or_reply(s, id);
    if (!me)
        return;
    const char *room = pal_room_or_reply(s, id, req, "room");
    if (!room)
        return;
    const char *title = pal_string_or_reply(s, id, req, "title", 1, PAL_ROOM_TITLE_MAX, true);
    if (!title)
        return;
    struct pal_room_settings st;
    if (!settings_or_reply(s, id, req, &st))
        return;
    if (!pal_session_create_room_or_reply(s, id))
        return;
    const char *owner_name = me->name[0] ? me->name : pal_session_name(s);
    int rc = pal_room_store_create(pal_server_room_store(srv), room, title, me->sub,
                                   owner_name ? owner_name : "", &st, pal_wall_ms(),
                                   pal_server_config(srv)->max_rooms_per_agent);
    if (rc == -EEXIST) {
        pal_session_reply_error(s, id, "room_exists", "room", "room '%s' already exists", room);
        return;
    }
    if (rc == -EDQUOT) {
        pal_session_reply_error(s, id, "room_quota", "room", "you already own %d rooms",
                                pal_server_config(srv)->max_rooms_per_agent);
        return;
    }
    struct pal_room_record rec;
    if (rc == 0)
        rc = pal_room_store_get(pal_server_room_store(srv), room, &rec);
    if (rc) {
        pal_session_reply_error(s, id, rc == -EINVAL ? "bad_field" : "storage_error", NULL,
                                "cannot create the room: %s", strerror(-rc));
        return;
    }
    PAL_INFO("access", room, NULL, "room created by %s", me->sub);
    pal_cluster_access_room(pal_server_cluster(srv), room);
    pal_session_reply_ok(s, id, json_pack("{s:o}", "room", room_info_json(&rec, "owner")));
}

static void add_mine(void *ud, const struct pal_room_record *room, bool owner)
{
    json_t *info = room_info_json(room, owner ? "owner" : "moderator");
    if (info) {
        json_object_set_new(info, "owner", json_boolean(owner));
        json_array_append_new(ud, info);
    }
}

static void handle_rooms_mine(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    const struct pal_identity *me = agent_or_reply(s, id);
    if (!me)
        return;
    json_t *arr = json_array();
    int rc = pal_room_store_list_for(pal_server_room_store(pal_session_server(s)), me->sub,
                                     ROOMS_MINE_MAX, add_mine, arr);
    if (rc < 0) {
        json_decref(arr);
        pal_session_reply_error(s, id, "storage_error", NULL, "cannot list the rooms: %s",
                                strerror(-rc));
        return;
    }
    pal_session_reply_ok(s, id, json_pack("{s:o}", "rooms", arr));
}

/* ---- lobby ----------------------------------------------------------------- */

/* A participant waiting in the moderator's room, by participant_id. */
static struct pal_participant *waiting_or_reply(struct pal_session *s, json_t *id, json_t *req)
{
    const char *pid = pal_string_or_reply(s, id, req, "participant_id", 1, 64, true);
    if (!pid)
        return NULL;
    struct pal_participant *p =
        pal_rooms_find_participant(pal_server_rooms(pal_session_server(s)), pid);
    if (!p || strcmp(p->room, pal_session_room(s)) != 0 || !p->waiting) {
        pal_session_reply_error(s, id, "unknown_participant", "participant_id",
                                "nobody with id '%s' waits in this room's lobby", pid);
        return NULL;
    }
    return p;
}

/* In: admitted with the data of a join, announced to the room. */
static void admit(struct pal_server *srv, const struct pal_participant *actor,
                  struct pal_participant *p)
{
    struct pal_session *gs = p->owner;
    p->waiting = false;
    pal_access_lobby_left(srv, p, "admitted");
    json_t *receive_error = NULL;
    char why[160];
    if (p->receive_mixed && gs && !pal_server_admit_mix(srv, gs, why, sizeof(why))) {
        p->receive_mixed = false;
        receive_error = json_pack("{s:s, s:s}", "code", "mixer_busy", "message", why);
    }
    json_t *ev = pal_access_join_data(srv, p, false);
    if (ev) {
        json_object_set_new(ev, "type", json_string("admitted"));
        if (receive_error)
            json_object_set(ev, "receive_error", receive_error);
    }
    json_decref(receive_error);
    PAL_INFO("access", p->room, p->id, "admitted by %s", actor->id);
    if (gs) {
        pal_session_send(gs, ev);
        pal_server_participant_joined(srv, gs);
    } else {
        json_decref(ev);
    }
    pal_access_announce(srv, actor, "admit", p, NULL);
}

static void handle_lobby_admit(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    if (!pal_access_moderator_or_reply(s, id))
        return;
    struct pal_participant *p = waiting_or_reply(s, id, req);
    if (!p)
        return;
    pal_session_reply_ok(s, id, NULL);
    admit(pal_session_server(s), pal_session_participant(s), p);
}

static void handle_lobby_deny(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    if (!pal_access_moderator_or_reply(s, id))
        return;
    struct pal_participant *p = waiting_or_reply(s, id, req);
    if (!p)
        return;
    const char *reason = NULL;
    if (json_object_get(req, "reason") &&
        !(reason = pal_string_or_reply(s, id, req, "reason", 0, REASON_MAX, true)))
        return;
    struct pal_server *srv = pal_session_server(s);
    pal_session_reply_ok(s, id, NULL);
    pal_access_announce(srv, pal_session_participant(s), "deny", p, reason);
    PAL_INFO("access", p->room, p->id, "denied by %s", pal_session_participant_id(s));
    struct pal_session *gs = p->owner;
    if (!gs) {
        pal_access_lobby_left(srv, p, "denied");
        pal_rooms_remove(pal_server_rooms(srv), p);
        return;
    }
    pal_session_send(gs, json_pack("{s:s, s:s?}", "type", "denied", "reason", reason));
    pal_session_close(gs, 4003, "denied");
    pal_server_participant_gone(srv, gs, "denied"); /* may destroy gs (no connection) */
}

/* A guest nobody admitted within [access] lobby_wait_seconds is let go as if
 * denied (the lobby holds a connection and a place in the room), with
 * `timeout` rather than a moderator's reason. */
struct lobby_sweep {
    struct pal_server *srv;
    int64_t before_ms;
};

static void lobby_expire_one(struct pal_participant *p, void *ud)
{
    struct lobby_sweep *ls = ud;
    if (!p->waiting || p->waiting_since_ms > ls->before_ms)
        return;
    PAL_INFO("access", p->room, p->id, "left the lobby: nobody admitted them in time");
    struct pal_session *gs = p->owner;
    if (!gs) {
        pal_access_lobby_left(ls->srv, p, "timeout");
        pal_rooms_remove(pal_server_rooms(ls->srv), p);
        return;
    }
    pal_session_send(gs, json_pack("{s:s, s:n, s:b}", "type", "denied", "reason", "timeout", 1));
    pal_session_close(gs, 4003, "lobby timeout");
    pal_server_participant_gone(ls->srv, gs, "timeout"); /* may destroy gs (no connection) */
}

void pal_access_lobby_sweep(struct pal_server *srv, int64_t now_ms)
{
    struct lobby_sweep ls = {srv, now_ms - (int64_t)pal_server_config(srv)->lobby_wait_seconds * 1000};
    pal_rooms_each(pal_server_rooms(srv), lobby_expire_one, &ls);
}

static void collect_waiting(struct pal_participant *p, void *ud)
{
    json_array_append_new(ud, json_string(p->id));
}

static void handle_lobby_admit_all(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    if (!pal_access_moderator_or_reply(s, id))
        return;
    struct pal_server *srv = pal_session_server(s);
    struct pal_rooms *rooms = pal_server_rooms(srv);
    /* ids first: admitting runs listeners that walk the room */
    json_t *ids = json_array();
    pal_rooms_each_waiting(rooms, pal_session_room(s), collect_waiting, ids);
    size_t n = json_array_size(ids);
    pal_session_reply_ok(s, id, json_pack("{s:i}", "admitted", (int)n));
    for (size_t i = 0; i < n; i++) {
        struct pal_participant *p =
            pal_rooms_find_participant(rooms, json_string_value(json_array_get(ids, i)));
        if (p && p->waiting)
            admit(srv, pal_session_participant(s), p);
    }
    json_decref(ids);
}

/* ---- invite links ---------------------------------------------------------- */

static json_t *invite_json(const struct pal_invite *inv)
{
    return json_pack(
        "{s:I, s:s, s:s, s:I, s:I, s:o, s:i, s:b, s:b, s:s}", "id", (json_int_t)inv->id, "label",
        inv->label, "created_by", inv->created_by, "created_at", (json_int_t)inv->created_ms,
        "expires_at", (json_int_t)inv->expires_ms, "max_uses",
        inv->max_uses > 0 ? json_integer(inv->max_uses) : json_null(), "uses", inv->uses, "lobby",
        inv->lobby, "revoked", inv->revoked_ms != 0, "state", pal_invite_state(inv, pal_wall_ms()));
}

static void handle_invite_create(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    if (!pal_access_moderator_or_reply(s, id))
        return;
    const char *label = pal_string_or_reply(s, id, req, "label", 1, PAL_INVITE_LABEL_MAX, true);
    if (!label)
        return;
    json_int_t expires_in = PAL_INVITE_DEFAULT_SECONDS, max_uses = 0;
    if (json_object_get(req, "expires_in") &&
        !pal_int_or_reply(s, id, req, "expires_in", 60, PAL_INVITE_MAX_SECONDS, true, &expires_in))
        return;
    if (json_object_get(req, "max_uses") &&
        !pal_int_or_reply(s, id, req, "max_uses", 1, INVITE_MAX_USES, true, &max_uses))
        return;
    bool lobby = true;
    if (json_object_get(req, "lobby") && !pal_bool_or_reply(s, id, req, "lobby", true, &lobby))
        return;
    struct pal_server *srv = pal_session_server(s);
    const char *room = pal_session_room(s);
    int64_t now = pal_wall_ms();
    char token[PAL_INVITE_TOKEN_LEN + 1];
    struct pal_invite inv;
    int rc = pal_room_store_invite_create(pal_server_room_store(srv), room, label,
                                          pal_session_name(s), now, now + expires_in * 1000,
                                          (int)max_uses, lobby, token, &inv);
    if (rc == -EDQUOT) {
        pal_session_reply_error(s, id, "invite_quota", NULL,
                                "this room already has %d active invite links: revoke some",
                                PAL_INVITES_PER_ROOM);
        return;
    }
    if (rc) {
        pal_session_reply_error(s, id, "storage_error", NULL, "cannot create the link: %s",
                                strerror(-rc));
        return;
    }
    pal_cluster_access_invite(pal_server_cluster(srv), room, inv.id);
    char path[PAL_ROOM_MAX + PAL_INVITE_TOKEN_LEN + 16];
    snprintf(path, sizeof(path), "/r/%s#invite=%s", room, token);
    const char *base = pal_server_config(srv)->public_url;
    size_t blen = strlen(base);
    while (blen && base[blen - 1] == '/')
        blen--;
    json_t *url = blen ? json_sprintf("%.*s%s", (int)blen, base, path) : json_null();
    PAL_INFO("access", room, pal_session_participant_id(s), "invite %lld created",
             (long long)inv.id);
    pal_session_reply_ok(s, id,
                         json_pack("{s:o, s:s, s:s, s:o}", "invite", invite_json(&inv), "token",
                                   token, "path", path, "url", url));
}

static void add_invite(void *ud, const struct pal_invite *inv)
{
    json_array_append_new(ud, invite_json(inv));
}

static void handle_invite_list(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    if (!pal_access_moderator_or_reply(s, id))
        return;
    json_t *arr = json_array();
    int rc = pal_room_store_invite_list(pal_server_room_store(pal_session_server(s)),
                                        pal_session_room(s), add_invite, arr);
    if (rc < 0) {
        json_decref(arr);
        pal_session_reply_error(s, id, "storage_error", NULL, "cannot list the links: %s",
                                strerror(-rc));
        return;
    }
    pal_session_reply_ok(s, id, json_pack("{s:o}", "invites", arr));
}

static void handle_invite_revoke(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    if (!pal_access_moderator_or_reply(s, id))
        return;
    json_int_t iid;
    if (!pal_int_or_reply(s, id, req, "invite_id", 1, INT64_MAX, true, &iid))
        return;
    struct pal_room_store *rs = pal_server_room_store(pal_session_server(s));
    struct pal_invite inv;
    int rc = pal_room_store_invite_revoke(rs, pal_session_room(s), iid, pal_wall_ms());
    if (rc == 0)
        rc = pal_room_store_invite_get(rs, pal_session_room(s), iid, &inv);
    if (rc == 0) /* a cluster: refused on every node from now on */
        pal_cluster_access_invite(pal_server_cluster(pal_session_server(s)), pal_session_room(s),
                                  iid);
    if (rc == -ENOENT) {
        pal_session_reply_error(s, id, "invite_invalid", "invite_id",
                                "this room has no invite link %lld", (long long)iid);
        return;
    }
    if (rc) {
        pal_session_reply_error(s, id, "storage_error", NULL, "cannot revoke the link: %s",
                                strerror(-rc));
        return;
    }
    PAL_INFO("access", pal_session_room(s), pal_session_participant_id(s), "invite %lld revoked",
             (long long)iid);
    pal_session_reply_ok(s, id, json_pack("{s:o}", "invite", invite_json(&inv)));
}

int pal_access_register(struct pal_server *srv)
{
    static const struct {
        const char *type;
        pal_request_fn fn;
        bool needs_room;
    } table[] = {
        {"auth", handle_auth, false},
        {"room_create", handle_room_create, false},
        {"rooms_mine", handle_rooms_mine, false},
        {"lobby_admit", handle_lobby_admit, true},
        {"lobby_deny", handle_lobby_deny, true},
        {"lobby_admit_all", handle_lobby_admit_all, true},
        {"invite_create", handle_invite_create, true},
        {"invite_list", handle_invite_list, true},
        {"invite_revoke", handle_invite_revoke, true},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (pal_server_register_handler(srv, table[i].type, table[i].fn, table[i].needs_room, NULL))
            return -ENOMEM;
    return 0;
}
