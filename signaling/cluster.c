/* The signaling side of a cluster node (include/palabre/cluster.h): the
 * rooms this node holds a lease for, the joins waiting for a placement, and
 * the cluster thread's results, drained by a wake hook.
 *
 * A held room is served while its lease is known good: until RENEWED says
 * otherwise, its deadline is the last renewal plus the lease. Past the
 * deadline with Redis reachable (a SIGSTOP, a long stall: another node may
 * hold the room now) the node stops serving it before even asking Redis;
 * with Redis unreachable it goes on (a Redis restart must not end every
 * meeting: nobody else can take a lease from a Redis that is down, and when
 * it is back the renewal round says whether the lease is still ours). */
#include "palabre/cluster.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/access.h"
#include "palabre/chat_store.h"
#include "palabre/cluster_thread.h"
#include "palabre/common.h"
#include "palabre/log.h"
#include "palabre/protocol.h"
#include "palabre/room_store.h"
#include "palabre/rooms.h"
#include "palabre/server.h"
#include "palabre/session.h"

#define MAX_PENDING 1024 /* joins waiting for a placement, one per session at most */
#define PENDING_TIMEOUT_MS 15000
#define EMPTY_GRACE_MS 10000 /* an empty room keeps its lease this long (a rejoin, a reload) */
#define LEASE_MARGIN_MS 1000 /* stop serving this much before Redis would expire the lease */
#define TICKET_MS 30000
#define RETRY_MS 1000

struct lease {
    char room[PAL_ROOM_MAX + 1];
    int64_t epoch;
    int64_t acquired_ms, deadline_ms, empty_since_ms;
    int resync; /* tries left to write the meeting's state again (Redis lost it) */
};

struct pending {
    uint64_t seq;
    uint64_t serial;       /* the session's (pal_session_serial): found again by it */
    json_t *id;
    char *text; /* the join request, run again once placed here */
    char room[PAL_ROOM_MAX + 1];
    int64_t at_ms;
};

/* A chat message waiting for its place in the room's stream. */
struct chat_wait {
    uint64_t seq;
    pal_cluster_chat_fn done;
    void *ud;
    int64_t id;
};

/* A ban of a meeting this node took over (pal:room:<room>:bans), kept
 * while it holds the room's lease: rooms.h's bans live with the room,
 * which does not exist yet when the import arrives. */
struct cban {
    char room[PAL_ROOM_MAX + 1];
    char *key;
};
#define MAX_CBANS (4 * PAL_ROOM_MAX_BANS)

/* Someone who was in a meeting this node took over (pal:room:<room>:people),
 * waiting for their join with the resume token of the old home: they come
 * back as themselves (same id, role, identity), once. */
struct adopt {
    char room[PAL_ROOM_MAX + 1];
    char hash[65];
    struct pal_cluster_person who;
};
#define MAX_ADOPT 20000

struct pal_cluster {
    /* borrowed */
    struct pal_server *srv;
    const struct pal_config *cfg;
    /* owned */
    struct pal_cluster_thread *thread;
    struct lease *leases;
    int n_leases, cap_leases;
    struct pending pending[MAX_PENDING];
    int n_pending;
    struct chat_wait *chats;
    int n_chats, cap_chats;
    struct pal_cluster_chat chat; /* 16 KB: kept off the stack */
    struct pal_cluster_access access; /* 4 KB: kept off the stack */
    struct cban *cbans;
    int n_cbans, cap_cbans;
    struct adopt *adopt;
    int n_adopt, cap_adopt;
    int access_dropped; /* writes the access queue refused (resync tells) */
    /* state */
    uint64_t next_seq;
    bool redis_up;
    double rtp_out_last;  /* palabre_media_rtp_out_packets_total at rtp_out_at_ms */
    int64_t rtp_out_at_ms;
    int64_t packets_per_second;
};

/* Room for one more of n items of size bytes in *items (capacity *cap). */
static int grow(void *items, int *cap, int n, size_t size)
{
    if (n < *cap)
        return 0;
    int ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*(void **)items, (size_t)ncap * size);
    if (!p)
        return -ENOMEM;
    *(void **)items = p;
    *cap = ncap;
    return 0;
}

static struct lease *find_lease(struct pal_cluster *c, const char *room)
{
    for (int i = 0; i < c->n_leases; i++)
        if (strcmp(c->leases[i].room, room) == 0)
            return &c->leases[i];
    return NULL;
}

static void drop_cbans(struct pal_cluster *c, const char *room)
{
    for (int i = 0; i < c->n_cbans;) {
        if (strcmp(c->cbans[i].room, room) == 0) {
            free(c->cbans[i].key);
            c->cbans[i] = c->cbans[--c->n_cbans];
        } else {
            i++;
        }
    }
}

static void drop_adopt(struct pal_cluster *c, const char *room)
{
    for (int i = 0; i < c->n_adopt;) {
        if (strcmp(c->adopt[i].room, room) == 0)
            c->adopt[i] = c->adopt[--c->n_adopt];
        else
            i++;
    }
}

static void drop_lease(struct pal_cluster *c, struct lease *l)
{
    drop_cbans(c, l->room);
    drop_adopt(c, l->room);
    *l = c->leases[--c->n_leases];
}

static void post_room(struct pal_cluster *c, int kind, const char *room, bool ended)
{
    struct pal_cluster_cmd cmd = {.kind = kind, .ended = ended};
    snprintf(cmd.room, sizeof(cmd.room), "%s", room);
    if (pal_cluster_thread_post(c->thread, &cmd))
        PAL_WARN("cluster", room, NULL, "cluster command queue full");
}

/* ---- losing a room ------------------------------------------------------------- */

struct ids {
    const char *room;
    char (*id)[PAL_PARTICIPANT_ID_LEN + 1];
    int n, cap;
};

static void collect(struct pal_participant *p, void *ud)
{
    struct ids *ids = ud;
    if (strcmp(p->room, ids->room) != 0)
        return;
    if (grow(&ids->id, &ids->cap, ids->n, sizeof(*ids->id)))
        return;
    snprintf(ids->id[ids->n++], sizeof(ids->id[0]), "%s", p->id);
}

/* Another node holds the room (or may): nobody stays here in a second copy.
 * The clients are closed PAL_CLUSTER_CLOSE_MOVED and join again. */
static void stop_serving(struct pal_cluster *c, const char *room_in, const char *why)
{
    char room[PAL_ROOM_MAX + 1];
    snprintf(room, sizeof(room), "%s", room_in);
    struct pal_rooms *rooms = pal_server_rooms(c->srv);
    struct ids ids = {.room = room};
    pal_rooms_each(rooms, collect, &ids);
    PAL_WARN("cluster", room, NULL, "stops serving the room (%s): %d participant(s) sent away",
             why, ids.n);
    for (int i = 0; i < ids.n; i++) {
        struct pal_participant *p = pal_rooms_find_participant(rooms, ids.id[i]);
        if (!p)
            continue;
        struct pal_session *s = p->owner;
        if (!s) {
            pal_rooms_remove(rooms, p);
            continue;
        }
        bool connected = pal_session_connected(s);
        pal_server_participant_gone(c->srv, s, "room moved");
        if (connected)
            pal_session_close(s, PAL_CLUSTER_CLOSE_MOVED, "room moved");
    }
    free(ids.id);
    struct lease *l = find_lease(c, room);
    if (l)
        drop_lease(c, l);
    post_room(c, PAL_CLUSTER_CMD_RELEASE, room, false);
}

/* ---- joins waiting for a placement -------------------------------------------- */

/* The waiting join's session if it is still connected and still not in a
 * room (it may have gone, or joined meanwhile), else NULL. */
static struct pal_session *pending_session(struct pal_cluster *c, const struct pending *p)
{
    for (struct pal_session *x = *pal_server_sessions(c->srv); x; x = pal_session_next(x))
        if (pal_session_serial(x) == p->serial)
            return pal_session_participant(x) ? NULL : x;
    return NULL;
}

static struct pending *take_pending(struct pal_cluster *c, uint64_t seq)
{
    for (int i = 0; i < c->n_pending; i++)
        if (c->pending[i].seq == seq)
            return &c->pending[i];
    return NULL;
}

static void free_pending(struct pal_cluster *c, struct pending *p)
{
    json_decref(p->id);
    free(p->text);
    *p = c->pending[--c->n_pending];
}

static void reply_unavailable(struct pal_session *s, json_t *id, const char *room)
{
    json_t *r = pal_response_error(id, "room_unavailable", "room",
                                   "the room's node cannot be reached right now: retry");
    json_object_set_new(json_object_get(r, "error"), "retry_after_ms", json_integer(RETRY_MS));
    pal_session_send(s, r);
}

static void reply_redirect(struct pal_cluster *c, struct pal_session *s, struct pending *p,
                           const struct pal_cluster_res *r)
{
    char url[PAL_CLUSTER_URL_MAX + 8], ticket[PAL_CLUSTER_TICKET_MAX + 1];
    if (pal_cluster_ws_url(r->url, url, sizeof(url)) ||
        pal_cluster_ticket_write(c->cfg->cluster_secret, r->room, r->node,
                                 pal_wall_ms() + TICKET_MS, ticket, sizeof(ticket))) {
        reply_unavailable(s, p->id, r->room);
        return;
    }
    json_t *e = pal_response_error(p->id, "redirect", "room", "the room is served by another node");
    json_t *err = json_object_get(e, "error");
    json_object_set_new(err, "url", json_string(url));
    json_object_set_new(err, "ticket", json_string(ticket));
    pal_session_send(s, e);
    PAL_INFO("cluster", r->room, NULL, "join redirected to node %s", r->node);
}

static void placed(struct pal_cluster *c, const struct pal_cluster_res *r)
{
    if (r->kind == PAL_CLUSTER_RES_HERE) {
        struct lease *l = find_lease(c, r->room);
        if (!l) {
            if (grow(&c->leases, &c->cap_leases, c->n_leases, sizeof(*c->leases)))
                return; /* the join times out as unavailable */
            l = &c->leases[c->n_leases++];
            memset(l, 0, sizeof(*l));
            snprintf(l->room, sizeof(l->room), "%s", r->room);
        }
        l->epoch = r->epoch;
        l->acquired_ms = r->at_ms;
        l->deadline_ms = r->at_ms + c->cfg->cluster_lease_seconds * 1000 - LEASE_MARGIN_MS;
        l->empty_since_ms = 0;
    }
    struct pending *p = take_pending(c, r->seq);
    if (!p)
        return;
    struct pal_session *s = pending_session(c, p);
    if (!s) {
        free_pending(c, p); /* gone, or joined meanwhile */
        return;
    }
    if (r->kind == PAL_CLUSTER_RES_HERE) {
        char *text = p->text;
        p->text = NULL;
        free_pending(c, p);
        pal_handlers_dispatch(s, text, strlen(text)); /* the join again, served here now */
        free(text);
        return;
    }
    if (r->kind == PAL_CLUSTER_RES_REDIRECT)
        reply_redirect(c, s, p, r);
    else
        reply_unavailable(s, p->id, r->room);
    free_pending(c, p);
}

/* ---- ticks ----------------------------------------------------------------------- */

static void count_one(struct pal_participant *p, void *ud)
{
    (void)p;
    (*(int *)ud)++;
}

/* Packets forwarded per second for the registry: the media metrics'
 * RTP-out counter, differentiated over ~2 s. */
static void measure_packets(struct pal_cluster *c, int64_t now)
{
    if (now - c->rtp_out_at_ms < 2000)
        return;
    const struct pal_metrics_source *src;
    int n = pal_server_metrics_sources(c->srv, &src);
    struct pal_metric m[64];
    for (int i = 0; i < n; i++) {
        size_t k = src[i].fn(m, PAL_ARRAY_LEN(m), src[i].ud);
        for (size_t j = 0; j < k && j < PAL_ARRAY_LEN(m); j++) {
            if (strcmp(m[j].name, "palabre_media_rtp_out_packets_total") != 0)
                continue;
            if (c->rtp_out_at_ms && m[j].value >= c->rtp_out_last)
                c->packets_per_second =
                    (int64_t)((m[j].value - c->rtp_out_last) * 1000 / (double)(now - c->rtp_out_at_ms));
            c->rtp_out_last = m[j].value;
        }
    }
    c->rtp_out_at_ms = now;
}

static void tick(struct pal_cluster *c)
{
    int64_t now = pal_now_ms();
    c->access_dropped = 0; /* one warning per tick at most */
    struct pal_rooms *rooms = pal_server_rooms(c->srv);
    for (int i = 0; i < c->n_leases;) {
        struct lease *l = &c->leases[i];
        if (c->redis_up && now > l->deadline_ms) {
            stop_serving(c, l->room, "lease not renewed in time");
            continue; /* l now holds another lease */
        }
        if (pal_rooms_room_size(rooms, l->room) > 0) {
            l->empty_since_ms = 0;
        } else if (!l->empty_since_ms) {
            l->empty_since_ms = now;
        } else if (now - l->empty_since_ms > EMPTY_GRACE_MS) {
            post_room(c, PAL_CLUSTER_CMD_RELEASE, l->room, true); /* the meeting ended */
            drop_lease(c, l);
            continue;
        }
        i++;
    }
    for (int i = 0; i < c->n_pending;) {
        struct pending *p = &c->pending[i];
        if (now - p->at_ms < PENDING_TIMEOUT_MS) {
            i++;
            continue;
        }
        struct pal_session *s = pending_session(c, p);
        if (s)
            reply_unavailable(s, p->id, p->room);
        free_pending(c, p);
    }
    measure_packets(c, now);
    struct pal_cluster_cmd st = {.kind = PAL_CLUSTER_CMD_STATS,
                                 .rooms = pal_rooms_count(rooms),
                                 .draining = pal_server_draining(c->srv),
                                 .packets_per_second = c->packets_per_second};
    pal_rooms_each(rooms, count_one, &st.participants);
    pal_cluster_thread_post(c->thread, &st);
}

static void import_done(void *ud, int err, const struct pal_chat_message *msg, bool duplicate)
{
    (void)ud, (void)msg, (void)duplicate;
    if (err)
        PAL_WARN("cluster", NULL, NULL, "a recovered chat message was not stored: %s",
                 strerror(-err));
}

/* Chat answers and imports, all of them: an import precedes the HERE that
 * placed its room, so the history is committed before the join runs. */
static void drain_chat(struct pal_cluster *c)
{
    struct pal_cluster_chat *m = &c->chat;
    struct pal_chat_store *cs = pal_server_chat(c->srv);
    int imported = 0;
    while (pal_cluster_thread_chat_poll(c->thread, m) == 1) {
        if (m->seq == 0) {
            if (cs && pal_chat_store_submit(cs, m->room, m->from, m->name, m->text,
                                            m->client_msg_id, import_done, NULL) == 0)
                imported++;
            continue;
        }
        for (int i = 0; i < c->n_chats; i++) {
            if (c->chats[i].seq != m->seq)
                continue;
            struct chat_wait w = c->chats[i];
            c->chats[i] = c->chats[--c->n_chats];
            struct pal_chat_message msg = {.id = w.id, .ts_ms = m->ts_ms, .room = m->room,
                                           .from = m->from, .name = m->name, .text = m->text,
                                           .client_msg_id = m->client_msg_id};
            w.done(w.ud, m->ok ? 0 : find_lease(c, m->room) ? -EAGAIN : -ESTALE, &msg);
            break;
        }
    }
    if (imported)
        pal_chat_store_flush(cs);
}

/* ---- access state ------------------------------------------------------------------ */

static void cban_add(struct pal_cluster *c, const char *room, const char *key)
{
    struct pal_room_store *rs = pal_server_room_store(c->srv);
    char local[64];
    if (strncmp(key, "inv:", 4) == 0) { /* ids are per node: the link's id here */
        int64_t id;
        if (pal_room_store_invite_id(rs, room, key + 4, &id))
            return;
        snprintf(local, sizeof(local), "invite:%lld", (long long)id);
        key = local;
    }
    if (c->n_cbans >= MAX_CBANS || pal_cluster_banned(c, room, key) ||
        grow(&c->cbans, &c->cap_cbans, c->n_cbans, sizeof(*c->cbans)))
        return;
    char *k = strdup(key);
    if (!k)
        return;
    snprintf(c->cbans[c->n_cbans].room, sizeof(c->cbans[0].room), "%s", room);
    c->cbans[c->n_cbans++].key = k;
}

/* A field of a room's access state read from Redis, into the local store:
 * imported by a new home (before the join that placed the room runs), or
 * changed by the home of a room we do not hold. */
static void apply_access(struct pal_cluster *c, const struct pal_cluster_access *a)
{
    struct pal_room_store *rs = pal_server_room_store(c->srv);
    if (!rs || (!a->import && find_lease(c, a->room)))
        return;
    int rc = 0;
    if (strcmp(a->field, "room") == 0) {
        struct pal_room_record rec;
        rc = pal_cluster_room_read(a->value, strlen(a->value), a->room, &rec);
        if (!rc)
            rc = pal_room_store_put(rs, &rec);
    } else if (strncmp(a->field, "mod:", 4) == 0 && (a->value[0] == '0' || a->value[0] == '1')) {
        rc = pal_room_store_set_moderator(rs, a->room, a->field + 4, a->value + 1,
                                          a->value[0] == '1');
    } else if (strncmp(a->field, "inv:", 4) == 0) {
        struct pal_invite inv;
        rc = pal_cluster_invite_read(a->value, strlen(a->value), a->room, &inv);
        if (!rc)
            rc = pal_room_store_invite_put(rs, a->field + 4, &inv, NULL);
    } else if (strcmp(a->field, "ban") == 0 && a->import) {
        cban_add(c, a->room, a->value);
    } else if (strncmp(a->field, "person:", 7) == 0 && a->import) {
        struct pal_cluster_person who;
        rc = pal_cluster_person_read(a->value, strlen(a->value), &who);
        if (!rc && strlen(a->field + 7) == 64 && c->n_adopt < MAX_ADOPT &&
            grow(&c->adopt, &c->cap_adopt, c->n_adopt, sizeof(*c->adopt)) == 0) {
            struct adopt *ad = &c->adopt[c->n_adopt++];
            snprintf(ad->room, sizeof(ad->room), "%s", a->room);
            snprintf(ad->hash, sizeof(ad->hash), "%s", a->field + 7);
            ad->who = who;
        }
    } else {
        rc = -EINVAL;
    }
    /* a copy of a room this node never had (its "room" field came before
     * this node subscribed): nothing to update */
    if (rc && !(rc == -ENOENT && !a->import))
        PAL_WARN("cluster", a->room, NULL, "access field %s from Redis not applied: %s", a->field,
                 strerror(-rc));
}

static void drain_access(struct pal_cluster *c)
{
    while (pal_cluster_thread_access_poll(c->thread, &c->access) == 1)
        apply_access(c, &c->access);
}

static void post_access(struct pal_cluster *c, const char *room, const char *field,
                        const char *value)
{
    struct pal_cluster_access *a = &c->access;
    if (strlen(room) >= sizeof(a->room) || strlen(field) >= sizeof(a->field))
        return;
    memset(a, 0, offsetof(struct pal_cluster_access, value));
    snprintf(a->room, sizeof(a->room), "%s", room);
    snprintf(a->field, sizeof(a->field), "%s", field);
    snprintf(a->value, sizeof(a->value), "%s", value);
    if (pal_cluster_thread_access_post(c->thread, a) && c->access_dropped++ == 0)
        PAL_WARN("cluster", room, NULL, "access queue full: %s not written to Redis", field);
}

void pal_cluster_access_room(struct pal_cluster *c, const char *room)
{
    struct pal_room_record rec;
    char v[PAL_CLUSTER_ACCESS_VALUE_MAX];
    if (c && pal_room_store_get(pal_server_room_store(c->srv), room, &rec) == 0 &&
        pal_cluster_room_write(&rec, v, sizeof(v)) == 0)
        post_access(c, room, "room", v);
}

void pal_cluster_access_invite(struct pal_cluster *c, const char *room, int64_t id)
{
    struct pal_room_store *rs = c ? pal_server_room_store(c->srv) : NULL;
    struct pal_invite inv;
    char v[PAL_CLUSTER_ACCESS_VALUE_MAX], field[4 + 65];
    memcpy(field, "inv:", 4);
    if (rs && pal_room_store_invite_get(rs, room, id, &inv) == 0 &&
        pal_room_store_invite_hash(rs, room, id, field + 4) == 0 &&
        pal_cluster_invite_write(&inv, v, sizeof(v)) == 0)
        post_access(c, room, field, v);
}

void pal_cluster_access_moderator(struct pal_cluster *c, const char *room, const char *sub,
                                  const char *name, bool moderator)
{
    char field[300], v[300];
    if (!c || snprintf(field, sizeof(field), "mod:%s", sub) >= (int)sizeof(field))
        return;
    snprintf(v, sizeof(v), "%c%s", moderator ? '1' : '0', moderator ? name : "");
    post_access(c, room, field, v);
}

void pal_cluster_access_ban(struct pal_cluster *c, const char *room, const char *key)
{
    if (!c)
        return;
    char v[300];
    long long id;
    char end;
    /* an invite's id is this node's: the link's hash names it everywhere */
    if (sscanf(key, "invite:%lld%c", &id, &end) == 1) {
        memcpy(v, "inv:", 4);
        if (pal_room_store_invite_hash(pal_server_room_store(c->srv), room, id, v + 4))
            return;
        key = v;
    }
    post_access(c, room, "ban", key);
}

/* hex SHA-256 of a resume token: its name in pal:room:<room>:people */
static int token_hash(const char *token, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (EVP_Digest(token, strlen(token), md, &len, EVP_sha256(), NULL) != 1 || len != 32)
        return -EIO;
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

void pal_cluster_person(struct pal_cluster *c, const struct pal_participant *p, bool present)
{
    char field[8 + 65], v[PAL_CLUSTER_ACCESS_VALUE_MAX] = "";
    memcpy(field, "person:", 7);
    if (!c || p->waiting || token_hash(p->resume_token, field + 7))
        return;
    if (present) {
        struct pal_cluster_person who = {.role = (int)p->role, .agent = p->is_agent};
        snprintf(who.id, sizeof(who.id), "%s", p->id);
        snprintf(who.name, sizeof(who.name), "%s", p->name);
        snprintf(who.sub, sizeof(who.sub), "%s", p->is_agent && p->sub ? p->sub : "");
        if (pal_cluster_person_write(&who, v, sizeof(v)))
            return;
    }
    post_access(c, p->room, field, v);
}

int pal_cluster_adopt_or_reply(struct pal_cluster *c, struct pal_session *s, json_t *id,
                               const char *room, const char *token,
                               struct pal_participant **out)
{
    char hash[65];
    if (!c || token_hash(token, hash))
        return 0;
    int i = 0;
    while (i < c->n_adopt && (strcmp(c->adopt[i].hash, hash) != 0 || strcmp(c->adopt[i].room, room) != 0))
        i++;
    if (i == c->n_adopt)
        return 0;
    struct pal_cluster_person who = c->adopt[i].who;
    c->adopt[i] = c->adopt[--c->n_adopt]; /* once */
    struct pal_rooms *rooms = pal_server_rooms(c->srv);
    struct pal_participant *p;
    if (pal_rooms_join_as(rooms, room, who.name, (enum pal_role)who.role, who.id, token, &p))
        return 0; /* the id is taken here: they join as someone new */
    p->is_agent = who.agent;
    if (who.agent && !(p->sub = strdup(who.sub))) {
        pal_rooms_remove(rooms, p);
        return 0;
    }
    if (pal_access_is_banned(c->srv, p)) {
        pal_rooms_remove(rooms, p);
        pal_session_reply_error(s, id, "banned", NULL,
                                "you were removed from this meeting and cannot come back");
        return -1;
    }
    struct pal_identity *me = pal_session_identity(s);
    memset(me, 0, sizeof(*me));
    me->known = true;
    me->agent = who.agent;
    snprintf(me->sub, sizeof(me->sub), "%s", who.sub);
    PAL_INFO("cluster", room, p->id, "came back from the room's previous home as %s",
             pal_role_name(p->role));
    *out = p;
    return 1;
}

bool pal_cluster_banned(struct pal_cluster *c, const char *room, const char *key)
{
    for (int i = 0; c && i < c->n_cbans; i++)
        if (strcmp(c->cbans[i].room, room) == 0 && strcmp(c->cbans[i].key, key) == 0)
            return true;
    return false;
}

struct resync {
    struct pal_cluster *c;
    const char *room;
};

static void resync_person(struct pal_participant *p, void *ud)
{
    struct resync *r = ud;
    if (strcmp(p->room, r->room) == 0) /* disconnected ones too: they may come back */
        pal_cluster_person(r->c, p, true);
}

static void resync_ban(const char *key, void *ud)
{
    struct resync *r = ud;
    pal_cluster_access_ban(r->c, r->room, key);
}

/* Redis lost the room's keys (a restart without persistence) and we took
 * its lease back: the state only Redis and this node had (the meeting's
 * people and bans, and the room's record) is written again, so that a
 * failover after the restart still finds it. The store's links and
 * moderators are in the other nodes' copies (pal:access). One room per
 * tick, a few tries when the queue is full (the writes are idempotent). */
static void resync_one(struct pal_cluster *c)
{
    for (int i = 0; i < c->n_leases; i++) {
        struct lease *l = &c->leases[i];
        if (l->resync <= 0)
            continue;
        struct resync r = {c, l->room};
        c->access_dropped = 0;
        pal_cluster_access_room(c, l->room);
        pal_rooms_each(pal_server_rooms(c->srv), resync_person, &r);
        pal_rooms_each_ban(pal_server_rooms(c->srv), l->room, resync_ban, &r);
        for (int j = 0; j < c->n_cbans; j++)
            if (strcmp(c->cbans[j].room, l->room) == 0)
                resync_ban(c->cbans[j].key, &r);
        l->resync = c->access_dropped ? l->resync - 1 : 0;
        if (c->access_dropped && !l->resync)
            PAL_WARN("cluster", l->room, NULL, "the meeting's state could not all be written "
                     "again to Redis (%d writes dropped)", c->access_dropped);
        return;
    }
}

static void on_wake(struct pal_server *srv, void *ud)
{
    struct pal_cluster *c = ud;
    struct pal_cluster_res r;
    for (;;) {
        drain_access(c);
        drain_chat(c);
        if (pal_cluster_thread_poll(c->thread, &r) != 1)
            break;
        /* what the thread queued before this result (a new home's imports
         * before its HERE) may have arrived after the drains above */
        drain_access(c);
        drain_chat(c);
        switch (r.kind) {
        case PAL_CLUSTER_RES_HERE:
        case PAL_CLUSTER_RES_REDIRECT:
        case PAL_CLUSTER_RES_UNAVAILABLE:
            placed(c, &r);
            break;
        case PAL_CLUSTER_RES_LOST:
            if (find_lease(c, r.room))
                stop_serving(c, r.room, "another node holds its lease");
            break;
        case PAL_CLUSTER_RES_RENEWED:
            for (int i = 0; i < c->n_leases; i++)
                if (c->leases[i].acquired_ms <= r.at_ms)
                    c->leases[i].deadline_ms =
                        r.at_ms + c->cfg->cluster_lease_seconds * 1000 - LEASE_MARGIN_MS;
            c->redis_up = true;
            break;
        case PAL_CLUSTER_RES_TICK:
            c->redis_up = r.redis_up;
            tick(c);
            resync_one(c);
            break;
        case PAL_CLUSTER_RES_RETAKEN: {
            struct lease *l = find_lease(c, r.room);
            if (l)
                l->resync = 3;
            break;
        }
        }
    }
}

int pal_cluster_chat_replicate(struct pal_cluster *c, const struct pal_chat_message *msg,
                               pal_cluster_chat_fn done, void *ud)
{
    struct pal_cluster_chat *m = &c->chat;
    if (strlen(msg->room) >= sizeof(m->room) || strlen(msg->from) >= sizeof(m->from) ||
        strlen(msg->name) >= sizeof(m->name) || strlen(msg->text) >= sizeof(m->text) ||
        strlen(msg->client_msg_id) >= sizeof(m->client_msg_id))
        return -EINVAL;
    if (grow(&c->chats, &c->cap_chats, c->n_chats, sizeof(*c->chats)))
        return -ENOMEM;
    memset(m, 0, offsetof(struct pal_cluster_chat, text));
    m->seq = ++c->next_seq;
    m->ts_ms = msg->ts_ms;
    snprintf(m->room, sizeof(m->room), "%s", msg->room);
    snprintf(m->from, sizeof(m->from), "%s", msg->from);
    snprintf(m->name, sizeof(m->name), "%s", msg->name);
    snprintf(m->client_msg_id, sizeof(m->client_msg_id), "%s", msg->client_msg_id);
    snprintf(m->text, sizeof(m->text), "%s", msg->text);
    int rc = pal_cluster_thread_chat_post(c->thread, m);
    if (rc)
        return rc;
    c->chats[c->n_chats++] = (struct chat_wait){m->seq, done, ud, msg->id};
    return 0;
}

/* ---- join ------------------------------------------------------------------------- */

bool pal_cluster_room_here_or_defer(struct pal_cluster *c, struct pal_session *s, json_t *id,
                                    json_t *req, const char *room)
{
    /* a ticket: another node placed the room here (we take the lease if it
     * is free); a forged one is refused, an expired one only ignored */
    bool here = false;
    json_t *t = json_object_get(req, "ticket");
    if (t) {
        const char *ticket = pal_string_or_reply(s, id, req, "ticket", 1, PAL_CLUSTER_TICKET_MAX, true);
        if (!ticket)
            return false;
        char troom[PAL_ROOM_MAX + 1], tnode[PAL_CLUSTER_NODE_ID_MAX + 1];
        int rc = pal_cluster_ticket_read(c->cfg->cluster_secret, ticket, strlen(ticket),
                                         pal_wall_ms(), troom, tnode);
        if (rc == -EINVAL || (rc == 0 && strcmp(troom, room) != 0)) {
            pal_session_reply_error(s, id, "bad_field", "ticket",
                                    "ticket: not a ticket of this cluster for this room");
            return false;
        }
        here = rc == 0 && strcmp(tnode, c->cfg->cluster_node_id) == 0;
    }
    struct lease *l = find_lease(c, room);
    if (l && (!c->redis_up || pal_now_ms() <= l->deadline_ms))
        return true;
    if (l)
        stop_serving(c, room, "lease not renewed in time");
    for (int i = 0; i < c->n_pending; i++) {
        if (c->pending[i].serial == pal_session_serial(s)) {
            pal_session_reply_error(s, id, "already_joined", NULL,
                                    "a join of this connection is already under way");
            return false;
        }
    }
    char *text = json_dumps(req, JSON_COMPACT);
    if (c->n_pending == MAX_PENDING || !text) {
        free(text);
        reply_unavailable(s, id, room);
        return false;
    }
    struct pending *p = &c->pending[c->n_pending];
    *p = (struct pending){.seq = ++c->next_seq, .serial = pal_session_serial(s),
                          .id = json_incref(id), .text = text, .at_ms = pal_now_ms()};
    snprintf(p->room, sizeof(p->room), "%s", room);
    struct pal_cluster_cmd cmd = {.kind = PAL_CLUSTER_CMD_PLACE, .seq = p->seq, .here = here,
                                  .draining = pal_server_draining(c->srv)};
    snprintf(cmd.room, sizeof(cmd.room), "%s", room);
    if (pal_cluster_thread_post(c->thread, &cmd)) {
        json_decref(p->id);
        free(text);
        reply_unavailable(s, id, room);
        return false;
    }
    c->n_pending++;
    return false;
}

/* ---- life ------------------------------------------------------------------------- */

int pal_cluster_create(struct pal_server *srv, struct pal_cluster **out)
{
    struct pal_cluster *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->srv = srv;
    c->cfg = pal_server_config(srv);
    int rc = pal_cluster_thread_create(c->cfg, srv, &c->thread);
    if (!rc)
        rc = pal_server_add_wake_hook(srv, on_wake, c);
    if (rc) {
        pal_cluster_destroy(c);
        return rc;
    }
    PAL_INFO("cluster", NULL, NULL, "node %s (%s), Redis %s", c->cfg->cluster_node_id,
             c->cfg->cluster_public_url, c->cfg->cluster_redis);
    *out = c;
    return 0;
}

void pal_cluster_destroy(struct pal_cluster *c)
{
    if (!c)
        return;
    pal_cluster_thread_destroy(c->thread);
    while (c->n_pending > 0)
        free_pending(c, &c->pending[0]);
    /* chats still waiting: answered now (committed here, not in the stream) */
    for (int i = 0; i < c->n_chats; i++)
        c->chats[i].done(c->chats[i].ud, -ECANCELED, NULL);
    free(c->chats);
    for (int i = 0; i < c->n_cbans; i++)
        free(c->cbans[i].key);
    free(c->cbans);
    free(c->adopt);
    free(c->leases);
    free(c);
}
