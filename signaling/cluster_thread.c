/* The cluster thread (include/palabre/cluster_thread.h): a loop that wakes
 * every TICK_MS or when a command arrives, and does, in order: connect (with
 * backoff), commands, registry refresh, lease renewal, a tick result.
 *
 * Leases. Acquisition: INCR the room's epoch, then SET home "<node>:<epoch>"
 * NX PX lease: of two nodes racing, one gets it, the other reads the winner.
 * Renewal (RENEW_LUA): PEXPIRE only if the value is still ours; after a
 * Redis restart (key and epoch gone) the holder takes it back with the epoch
 * it had, so fencing numbers never go down; if anybody else holds it, or
 * took it with a newer epoch meanwhile, the lease is lost and the signaling
 * thread stops serving the room. Release: compare-and-delete (RELEASE_LUA),
 * never a blind DEL (livekit/livekit#4316, PR #4797).
 *
 * Redis is never on the path of a message between participants: only joins
 * of rooms this node does not hold come here. */
#include "palabre/cluster_thread.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "palabre/common.h"
#include "palabre/log.h"
#include "palabre/queue.h"
#include "palabre/server.h"

#define TICK_MS 500
#define REGISTER_MS 2000
#define NODE_TTL_MS 6000
#define RENEW_MS 2000
#define PLACED_TTL_MS 20000
#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 2000
#define IO_TIMEOUT_MS 1500
#define CONNECT_LOG_MS 30000
#define QUEUE_ITEMS 1024
#define MAX_CANDIDATES 64
#define CHAT_QUEUE_ITEMS 64  /* ~1 MiB each way: a chat message is up to 16 KB */
#define CHAT_STREAM_MAX 1000 /* messages a new home can recover (MAXLEN ~) */
#define CHAT_STREAM_TTL_MS (7LL * 24 * 3600 * 1000) /* a room unused for a week */
#define IMPORT_WAIT_MS 5000
/* ~4.5 KB an item (pages touched only when used): a meeting's state written again after a Redis restart
 * (people and bans, one room at a time) fits when under ~1000 */
#define ACCESS_IN_ITEMS 1024
#define ACCESS_OUT_ITEMS 256 /* imports wait for room (push_out) */
#define ACCESS_CHANNEL "pal:access"

static const char RENEW_LUA[] =
    "local v = redis.call('GET', KEYS[1]) "
    "if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end "
    "if v then return 0 end "
    "local e = tonumber(redis.call('GET', KEYS[2]) or '0') "
    "local mine = tonumber(ARGV[3]) "
    "if e > mine then return 0 end "
    "redis.call('SET', KEYS[2], ARGV[3]) "
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2";
/* XADD only while the lease is still ours (the fencing of chat writes: a
 * paused node that lost the room cannot write into its new life). */
static const char CHAT_LUA[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end "
    "redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'epoch', ARGV[3], 'ts', ARGV[4], "
    "'cmid', ARGV[5], 'from', ARGV[6], 'name', ARGV[7], 'text', ARGV[8]) "
    "redis.call('PEXPIRE', KEYS[2], ARGV[9]) return 1";
/* An access field: the lease holder writes it; while nobody holds the room
 * (a room_create on any node) a field is only added, never overwritten; a
 * node that lost the room writes nothing. Then the other nodes are told. */
static const char ACCESS_LUA[] =
    "local h = redis.call('GET', KEYS[1]) "
    "if h and h == ARGV[1] then redis.call('HSET', KEYS[2], ARGV[2], ARGV[3]) "
    "elseif not h then redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[3]) "
    "else return 0 end "
    "redis.call('PUBLISH', '" ACCESS_CHANNEL "', ARGV[4]) return 1";
/* The meeting's state, only by its home: a ban (SADD to the set), someone
 * in it (HSET field value) or gone (HDEL: value ""). Kept a day at most
 * after the last write when its home dies and nobody comes back. */
static const char MEETING_LUA[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end "
    "if ARGV[2] == '' then redis.call('SADD', KEYS[2], ARGV[3]) "
    "elseif ARGV[3] == '' then redis.call('HDEL', KEYS[2], ARGV[2]) "
    "else redis.call('HSET', KEYS[2], ARGV[2], ARGV[3]) end "
    "redis.call('PEXPIRE', KEYS[2], 86400000) return 1";
/* The end of a meeting: the lease, its bans and its people. */
static const char RELEASE_ENDED_LUA[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[2], KEYS[3]) "
    "return redis.call('DEL', KEYS[1]) end return 0";
static const char RELEASE_LUA[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
    "return 0";

struct held {
    char room[65];
    int64_t epoch;
    char value[PAL_CLUSTER_NODE_ID_MAX + 24];
};

struct pal_cluster_thread {
    /* borrowed */
    struct pal_server *srv;
    /* owned */
    struct pal_config cfg;
    struct pal_queue *cmds, *results;
    struct pal_queue *chat_in, *chat_out;
    struct pal_cluster_chat chat; /* one being written or read (16 KB: not on the stack) */
    struct pal_queue *access_in, *access_out;
    struct pal_cluster_access access; /* one being written or read */
    redisContext *sub;                /* SUBSCRIBEd to ACCESS_CHANNEL */
    int64_t sub_retry_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    redisContext *rc;
    struct held *held;
    int n_held, cap_held;
    /* state */
    atomic_bool stop;
    bool started;
    bool up;
    int64_t next_connect_ms, backoff_ms, fail_logged_ms;
    int64_t last_register_ms, last_renew_ms, last_tick_ms;
    struct pal_cluster_cmd stats; /* the latest STATS */
    unsigned rnd;
};

/* ---- results ----------------------------------------------------------------- */

static void post(struct pal_cluster_thread *t, const struct pal_cluster_res *r)
{
    int rc = pal_queue_push(t->results, r);
    if (rc < 0)
        PAL_WARN("cluster", r->room[0] ? r->room : NULL, NULL, "result queue full: one dropped");
    else if (rc == 1)
        pal_server_wake(t->srv);
}

static void post_kind(struct pal_cluster_thread *t, int kind, uint64_t seq, const char *room)
{
    struct pal_cluster_res r = {.kind = kind, .seq = seq, .redis_up = t->up};
    snprintf(r.room, sizeof(r.room), "%s", room ? room : "");
    post(t, &r);
}

/* ---- connection -------------------------------------------------------------- */

static void sub_close(struct pal_cluster_thread *t);

static void disconnect(struct pal_cluster_thread *t, const char *why)
{
    if (t->rc && why) {
        PAL_WARN("cluster", NULL, NULL, "Redis %s: %s (reconnecting)", t->cfg.cluster_redis, why);
        t->fail_logged_ms = pal_now_ms();
    }
    if (t->rc) {
        redisFree(t->rc);
        t->rc = NULL;
    }
    sub_close(t);
    if (t->up) {
        t->up = false;
        post_kind(t, PAL_CLUSTER_RES_TICK, 0, NULL);
    }
    t->next_connect_ms = pal_now_ms() + t->backoff_ms;
    t->backoff_ms = t->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : t->backoff_ms * 2;
}

/* A command; NULL (and the connection dropped) on an I/O error or when not
 * connected. An error reply is returned (the caller looks at its type). */
static redisReply *cmd(struct pal_cluster_thread *t, const char *fmt, ...)
{
    if (!t->rc)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(t->rc, fmt, ap);
    va_end(ap);
    if (!r)
        disconnect(t, t->rc->errstr[0] ? t->rc->errstr : "no answer");
    else if (r->type == REDIS_REPLY_ERROR)
        PAL_WARN("cluster", NULL, NULL, "Redis refused a command: %s", r->str);
    return r;
}

static void renew_all(struct pal_cluster_thread *t);
static void register_node(struct pal_cluster_thread *t);

/* A connection to Redis, authenticated: the context, or NULL (logged as
 * the caller says). */
static redisContext *open_ctx(struct pal_cluster_thread *t, const char **why)
{
    char host[256];
    int port;
    *why = "bad address";
    if (pal_cluster_redis_addr_parse(t->cfg.cluster_redis, host, sizeof(host), &port))
        return NULL; /* checked at start */
    struct timeval tv = {IO_TIMEOUT_MS / 1000, (IO_TIMEOUT_MS % 1000) * 1000};
    redisContext *c = port ? redisConnectWithTimeout(host, port, tv)
                           : redisConnectUnixWithTimeout(host, tv);
    static __thread char err[128];
    if (!c || c->err) {
        snprintf(err, sizeof(err), "%s", c ? c->errstr : "out of memory");
        *why = err;
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (t->cfg.cluster_redis_password[0]) {
        redisReply *r = redisCommand(c, "AUTH %s", t->cfg.cluster_redis_password);
        bool ok = r && r->type != REDIS_REPLY_ERROR;
        if (r)
            freeReplyObject(r);
        if (!ok) {
            *why = "AUTH refused";
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

static void sub_close(struct pal_cluster_thread *t)
{
    if (t->sub) {
        redisFree(t->sub);
        t->sub = NULL;
    }
}

/* The subscription, on a connection of its own (a subscribed connection
 * takes no other command): opened again with the main one, so that a
 * Redis restart is followed by a new SUBSCRIBE (livekit/livekit#2464). */
static void sub_open(struct pal_cluster_thread *t)
{
    sub_close(t);
    const char *why;
    t->sub = open_ctx(t, &why);
    redisReply *r = t->sub ? redisCommand(t->sub, "SUBSCRIBE %s", ACCESS_CHANNEL) : NULL;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        PAL_WARN("cluster", NULL, NULL, "cannot subscribe to %s: %s (retrying)", ACCESS_CHANNEL,
                 t->sub ? "refused" : why);
        sub_close(t);
    }
    if (r)
        freeReplyObject(r);
}

static void try_connect(struct pal_cluster_thread *t)
{
    if (t->rc || pal_now_ms() < t->next_connect_ms)
        return;
    const char *why;
    t->rc = open_ctx(t, &why);
    if (!t->rc) {
        /* one line when it goes down, then one every CONNECT_LOG_MS */
        if (t->up || pal_now_ms() - t->fail_logged_ms >= CONNECT_LOG_MS) {
            PAL_WARN("cluster", NULL, NULL, "cannot reach Redis %s: %s (retrying)",
                     t->cfg.cluster_redis, why);
            t->fail_logged_ms = pal_now_ms();
        }
        disconnect(t, NULL);
        return;
    }
    PAL_INFO("cluster", NULL, NULL, "connected to Redis %s as node %s", t->cfg.cluster_redis,
             t->cfg.cluster_node_id);
    t->backoff_ms = BACKOFF_MIN_MS;
    /* a Redis that restarted lost everything: say who we are and take our
     * leases back at once, before anybody places our rooms elsewhere. Only
     * then is Redis "up" for the signaling thread: a lease deadline passed
     * during the outage is not a lost lease until this round says so. */
    register_node(t);
    renew_all(t);
    sub_open(t);
    if (t->rc) {
        t->up = true;
        post_kind(t, PAL_CLUSTER_RES_TICK, 0, NULL);
    }
}

/* ---- registry ---------------------------------------------------------------- */

static double load_per_core(int cores)
{
    double l[1];
    return getloadavg(l, 1) == 1 && cores > 0 ? l[0] / cores : 0;
}

static void register_node(struct pal_cluster_thread *t)
{
    if (!t->rc)
        return;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    struct pal_cluster_node n = {
        .cores = cores > 0 ? (int)cores : 1,
        .rooms = t->stats.rooms,
        .participants = t->stats.participants,
        .packets_per_second = t->stats.packets_per_second,
        .state = t->stats.draining ? PAL_CLUSTER_DRAINING : PAL_CLUSTER_SERVING,
        .proto = PAL_CLUSTER_PROTO,
    };
    n.load = load_per_core(n.cores);
    snprintf(n.id, sizeof(n.id), "%s", t->cfg.cluster_node_id);
    snprintf(n.url, sizeof(n.url), "%s", t->cfg.cluster_public_url);
    snprintf(n.version, sizeof(n.version), "%s", PAL_VERSION);
    char json[1024];
    if (pal_cluster_node_write(&n, json, sizeof(json)))
        return;
    redisReply *r = cmd(t, "SET pal:node:%s %s PX %d", n.id, json, NODE_TTL_MS);
    if (r) {
        freeReplyObject(r);
        r = cmd(t, "SADD pal:nodes %s", n.id);
    }
    if (r)
        freeReplyObject(r);
    t->last_register_ms = pal_now_ms();
}

/* A live node's entry, 0; -ENOENT when its key expired (the node is gone). */
static int read_node(struct pal_cluster_thread *t, const char *id, struct pal_cluster_node *n)
{
    redisReply *r = cmd(t, "GET pal:node:%s", id);
    if (!r)
        return -EIO;
    char err[128];
    int rc = r->type == REDIS_REPLY_STRING ? pal_cluster_node_read(r->str, r->len, n, err, sizeof(err))
                                           : -ENOENT;
    if (rc == -EINVAL)
        PAL_WARN("cluster", NULL, NULL, "registry entry of %s ignored: %s", id, err);
    freeReplyObject(r);
    return rc;
}

/* ---- leases ------------------------------------------------------------------ */

static struct held *find_held(struct pal_cluster_thread *t, const char *room)
{
    for (int i = 0; i < t->n_held; i++)
        if (strcmp(t->held[i].room, room) == 0)
            return &t->held[i];
    return NULL;
}

static int add_held(struct pal_cluster_thread *t, const char *room, int64_t epoch)
{
    struct held *h = find_held(t, room);
    if (!h) {
        if (t->n_held == t->cap_held) {
            int cap = t->cap_held ? t->cap_held * 2 : 16;
            struct held *n = realloc(t->held, (size_t)cap * sizeof(*n));
            if (!n)
                return -ENOMEM;
            t->held = n;
            t->cap_held = cap;
        }
        h = &t->held[t->n_held++];
    }
    snprintf(h->room, sizeof(h->room), "%s", room);
    h->epoch = epoch;
    snprintf(h->value, sizeof(h->value), "%s:%lld", t->cfg.cluster_node_id, (long long)epoch);
    return 0;
}

static void drop_held(struct pal_cluster_thread *t, struct held *h)
{
    *h = t->held[--t->n_held];
}

static void renew_all(struct pal_cluster_thread *t)
{
    if (!t->rc)
        return;
    int64_t at = pal_now_ms();
    int lease_ms = t->cfg.cluster_lease_seconds * 1000;
    for (int i = 0; i < t->n_held;) {
        struct held *h = &t->held[i];
        char epoch[24];
        snprintf(epoch, sizeof(epoch), "%lld", (long long)h->epoch);
        redisReply *r = cmd(t, "EVAL %s 2 pal:room:%s:home pal:room:%s:epoch %s %d %s", RENEW_LUA,
                            h->room, h->room, h->value, lease_ms, epoch);
        if (!r)
            return; /* disconnected: no RENEWED for this round */
        bool lost = r->type == REDIS_REPLY_INTEGER && r->integer == 0;
        if (r->type == REDIS_REPLY_INTEGER && r->integer == 2) {
            PAL_INFO("cluster", h->room, NULL, "lease taken back (epoch %lld) after Redis lost it",
                     (long long)h->epoch);
            post_kind(t, PAL_CLUSTER_RES_RETAKEN, 0, h->room);
        }
        freeReplyObject(r);
        if (lost) {
            PAL_WARN("cluster", h->room, NULL, "lease lost (epoch %lld): another node has the room",
                     (long long)h->epoch);
            post_kind(t, PAL_CLUSTER_RES_LOST, 0, h->room);
            drop_held(t, h);
            continue;
        }
        i++;
    }
    struct pal_cluster_res res = {.kind = PAL_CLUSTER_RES_RENEWED, .at_ms = at, .redis_up = true};
    post(t, &res);
    t->last_renew_ms = at;
}

static void release(struct pal_cluster_thread *t, const char *room, bool ended)
{
    struct held *h = find_held(t, room);
    if (!h)
        return;
    redisReply *r = ended ? cmd(t, "EVAL %s 3 pal:room:%s:home pal:room:%s:bans "
                                   "pal:room:%s:people %s",
                                RELEASE_ENDED_LUA, room, room, room, h->value)
                          : cmd(t, "EVAL %s 1 pal:room:%s:home %s", RELEASE_LUA, room, h->value);
    if (r)
        freeReplyObject(r);
    drop_held(t, h);
}

/* ---- chat ---------------------------------------------------------------------- */

/* An answer or an import for the signaling thread: an import must not be
 * dropped, so this waits (bounded) for it to make room. pal_queue_push's. */
static int push_out(struct pal_cluster_thread *t, struct pal_queue *q, const void *item)
{
    int64_t until = pal_now_ms() + IMPORT_WAIT_MS;
    int rc;
    while ((rc = pal_queue_push(q, item)) < 0 && pal_now_ms() < until && !atomic_load(&t->stop)) {
        pal_server_wake(t->srv);
        usleep(2000);
    }
    return rc;
}

static void chat_answer(struct pal_cluster_thread *t, const struct pal_cluster_chat *m)
{
    int rc = push_out(t, t->chat_out, m);
    if (rc < 0)
        PAL_WARN("cluster", m->room, NULL, "chat queue full: a message %s dropped",
                 m->seq ? "answer" : "import");
    else if (rc == 1)
        pal_server_wake(t->srv);
}

static void chat_append(struct pal_cluster_thread *t, struct pal_cluster_chat *m)
{
    struct held *h = find_held(t, m->room);
    redisReply *r = NULL;
    if (h) {
        char ts[24], epoch[24];
        snprintf(ts, sizeof(ts), "%lld", (long long)m->ts_ms);
        snprintf(epoch, sizeof(epoch), "%lld", (long long)h->epoch);
        r = cmd(t, "EVAL %s 2 pal:room:%s:home pal:room:%s:chat %s %d %s %s %s %s %s %s %lld",
                CHAT_LUA, m->room, m->room, h->value, CHAT_STREAM_MAX, epoch, ts, m->client_msg_id,
                m->from, m->name, m->text, (long long)CHAT_STREAM_TTL_MS);
    }
    m->ok = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    if (r)
        freeReplyObject(r);
    chat_answer(t, m);
}

static const char *field(redisReply *fields, const char *name)
{
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (fields->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(fields->element[i]->str, name) == 0 &&
            fields->element[i + 1]->type == REDIS_REPLY_STRING)
            return fields->element[i + 1]->str;
    return NULL;
}

/* A new home: the room's recent chat from the stream, to the signaling
 * thread (which stores it; client_msg_id makes it idempotent). */
static void chat_import(struct pal_cluster_thread *t, const char *room)
{
    redisReply *r = cmd(t, "XRANGE pal:room:%s:chat - + COUNT %d", room, CHAT_STREAM_MAX + 100);
    int n = 0;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        redisReply *f = e->element[1];
        const char *cmid = field(f, "cmid"), *from = field(f, "from"), *name = field(f, "name");
        const char *text = field(f, "text"), *ts = field(f, "ts");
        struct pal_cluster_chat *m = &t->chat;
        if (!cmid || !from || !name || !text || !ts || strlen(cmid) >= sizeof(m->client_msg_id) ||
            strlen(from) >= sizeof(m->from) || strlen(name) >= sizeof(m->name) ||
            strlen(text) >= sizeof(m->text))
            continue; /* not written by a node: ignored */
        memset(m, 0, offsetof(struct pal_cluster_chat, text));
        snprintf(m->room, sizeof(m->room), "%s", room);
        snprintf(m->client_msg_id, sizeof(m->client_msg_id), "%s", cmid);
        snprintf(m->from, sizeof(m->from), "%s", from);
        snprintf(m->name, sizeof(m->name), "%s", name);
        snprintf(m->text, sizeof(m->text), "%s", text);
        m->ts_ms = atoll(ts);
        chat_answer(t, m);
        n++;
    }
    if (r)
        freeReplyObject(r);
    if (n)
        PAL_INFO("cluster", room, NULL, "%d chat message(s) recovered from the room's stream", n);
}

/* ---- access state ---------------------------------------------------------------- */

static void access_answer(struct pal_cluster_thread *t, const struct pal_cluster_access *a)
{
    int rc = push_out(t, t->access_out, a);
    if (rc < 0)
        PAL_WARN("cluster", a->room, NULL, "access queue full: field %s dropped", a->field);
    else if (rc == 1)
        pal_server_wake(t->srv);
}

static void access_write(struct pal_cluster_thread *t, const struct pal_cluster_access *a)
{
    struct held *h = find_held(t, a->room);
    const char *mine = h ? h->value : "";
    redisReply *r;
    if (strcmp(a->field, "ban") == 0) {
        if (!h)
            return;
        r = cmd(t, "EVAL %s 2 pal:room:%s:home pal:room:%s:bans %s %s %s", MEETING_LUA, a->room,
                a->room, mine, "", a->value);
    } else if (strncmp(a->field, "person:", 7) == 0) {
        if (!h)
            return; /* the room moved: its new home has its own list */
        r = cmd(t, "EVAL %s 2 pal:room:%s:home pal:room:%s:people %s %s %s", MEETING_LUA, a->room,
                a->room, mine, a->field + 7, a->value);
    } else {
        char msg[sizeof(a->room) + sizeof(a->field) + 1];
        snprintf(msg, sizeof(msg), "%s %s", a->room, a->field);
        r = cmd(t, "EVAL %s 2 pal:room:%s:home pal:room:%s:access %s %s %s %s", ACCESS_LUA,
                a->room, a->room, mine, a->field, a->value, msg);
    }
    if (!r)
        PAL_WARN("cluster", a->room, NULL, "access field %s not written: Redis unreachable",
                 a->field);
    else if (r->type == REDIS_REPLY_INTEGER && r->integer == 0)
        PAL_WARN("cluster", a->room, NULL, "access field %s not written: the room is not ours",
                 a->field);
    if (r)
        freeReplyObject(r);
}

static void access_post(struct pal_cluster_thread *t, bool import, const char *room,
                        const char *field, const char *value, size_t len)
{
    struct pal_cluster_access *a = &t->access;
    if (strlen(field) >= sizeof(a->field) || len >= sizeof(a->value))
        return; /* not written by a node */
    a->import = import;
    snprintf(a->room, sizeof(a->room), "%s", room);
    snprintf(a->field, sizeof(a->field), "%s", field);
    memcpy(a->value, value, len);
    a->value[len] = '\0';
    access_answer(t, a);
}

/* A new home: the room's access state, "room" first (the others need the
 * room to exist), then its links, moderators, and the meeting's bans. */
static void access_import(struct pal_cluster_thread *t, const char *room)
{
    redisReply *r = cmd(t, "HGETALL pal:room:%s:access", room);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
            redisReply *k = r->element[i], *v = r->element[i + 1];
            if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
                (strcmp(k->str, "room") == 0) != (pass == 0))
                continue;
            access_post(t, true, room, k->str, v->str, v->len);
        }
    }
    if (r)
        freeReplyObject(r);
    r = cmd(t, "SMEMBERS pal:room:%s:bans", room);
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            access_post(t, true, room, "ban", r->element[i]->str, r->element[i]->len);
    if (r)
        freeReplyObject(r);
    r = cmd(t, "HGETALL pal:room:%s:people", room);
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
        redisReply *k = r->element[i], *v = r->element[i + 1];
        char field[80];
        if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING && k->len == 64) {
            snprintf(field, sizeof(field), "person:%s", k->str);
            access_post(t, true, room, field, v->str, v->len);
        }
    }
    if (r)
        freeReplyObject(r);
}

/* "<room> <field>" published by a home: its new value, for our copy,
 * unless we hold the room (then we wrote it). */
static void access_changed(struct pal_cluster_thread *t, const char *msg, size_t len)
{
    const char *sp = memchr(msg, ' ', len);
    char room[65], field[300];
    size_t flen = sp ? len - (size_t)(sp - msg) - 1 : 0;
    if (!sp || sp == msg || (size_t)(sp - msg) >= sizeof(room) || flen >= sizeof(field) ||
        flen == 0 || memchr(msg, '\0', len))
        return;
    memcpy(room, msg, (size_t)(sp - msg));
    room[sp - msg] = '\0';
    memcpy(field, sp + 1, flen);
    field[flen] = '\0';
    if (find_held(t, room))
        return;
    redisReply *r = cmd(t, "HGET pal:room:%s:access %s", room, field);
    if (r && r->type == REDIS_REPLY_STRING)
        access_post(t, false, room, field, r->str, r->len);
    if (r)
        freeReplyObject(r);
}

/* Messages waiting on the subscription, without blocking. */
static void sub_poll(struct pal_cluster_thread *t)
{
    if (!t->sub && t->rc && pal_now_ms() >= t->sub_retry_ms) {
        t->sub_retry_ms = pal_now_ms() + BACKOFF_MAX_MS; /* a refusal is logged once per try */
        sub_open(t);
    }
    if (!t->sub)
        return;
    struct pollfd pfd = {.fd = t->sub->fd, .events = POLLIN};
    if (poll(&pfd, 1, 0) <= 0)
        return;
    if (redisBufferRead(t->sub) != REDIS_OK) {
        PAL_WARN("cluster", NULL, NULL, "subscription lost: %s (subscribing again)",
                 t->sub->errstr);
        sub_close(t);
        return;
    }
    void *reply;
    while (t->sub && redisGetReplyFromReader(t->sub, &reply) == REDIS_OK && reply) {
        redisReply *m = reply;
        if (m->type == REDIS_REPLY_ARRAY && m->elements == 3 &&
            m->element[0]->type == REDIS_REPLY_STRING && strcmp(m->element[0]->str, "message") == 0 &&
            m->element[2]->type == REDIS_REPLY_STRING)
            access_changed(t, m->element[2]->str, m->element[2]->len);
        freeReplyObject(m);
    }
}

/* ---- placement --------------------------------------------------------------- */

static int placed_recently(struct pal_cluster_thread *t, const char *id)
{
    redisReply *r = cmd(t, "GET pal:node:%s:placed", id);
    int n = r && r->type == REDIS_REPLY_STRING ? atoi(r->str) : 0;
    if (r)
        freeReplyObject(r);
    return n;
}

static void note_placed(struct pal_cluster_thread *t, const char *id)
{
    redisReply *r = cmd(t, "INCR pal:node:%s:placed", id);
    if (r) {
        freeReplyObject(r);
        r = cmd(t, "PEXPIRE pal:node:%s:placed %d", id, PLACED_TTL_MS);
    }
    if (r)
        freeReplyObject(r);
}

/* How busy a candidate is: rooms and participants it reports plus the rooms
 * placed on it in the last PLACED_TTL_MS (its report lags 2 s behind: without
 * this a burst of new rooms all go to the node that looked emptiest —
 * scalelite#1048, jicofo's participant-rampup-interval), per core, with the
 * load average on top. */
static double score(const struct pal_cluster_node *n, int placed)
{
    return (n->rooms + placed + n->participants / 10.0) / n->cores + n->load;
}

/* The less loaded of two random live, serving, compatible nodes (power of
 * two choices), into *out; never this node when it drains (its registry
 * entry may not say so yet). -ENOENT when there is none. */
static int choose_node(struct pal_cluster_thread *t, bool draining, struct pal_cluster_node *out)
{
    redisReply *r = cmd(t, "SMEMBERS pal:nodes");
    if (!r)
        return -EIO;
    char ids[MAX_CANDIDATES][PAL_CLUSTER_NODE_ID_MAX + 1];
    int n_ids = 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements && n_ids < MAX_CANDIDATES;
         i++) {
        redisReply *e = r->element[i];
        if (e->type == REDIS_REPLY_STRING && e->len <= PAL_CLUSTER_NODE_ID_MAX)
            snprintf(ids[n_ids++], sizeof(ids[0]), "%s", e->str);
    }
    freeReplyObject(r);
    struct pal_cluster_node *live = calloc(MAX_CANDIDATES, sizeof(*live));
    if (!live)
        return -ENOMEM;
    int n_live = 0;
    for (int i = 0; i < n_ids; i++) {
        int rc = read_node(t, ids[i], &live[n_live]);
        if (rc == -EIO) {
            free(live);
            return -EIO;
        }
        if (rc == -ENOENT) { /* gone: the set forgets it */
            redisReply *d = cmd(t, "SREM pal:nodes %s", ids[i]);
            if (d)
                freeReplyObject(d);
            continue;
        }
        bool me = strcmp(ids[i], t->cfg.cluster_node_id) == 0;
        if (rc == 0 && live[n_live].state == PAL_CLUSTER_SERVING &&
            live[n_live].proto == PAL_CLUSTER_PROTO && strcmp(live[n_live].id, ids[i]) == 0 &&
            !(me && draining))
            n_live++;
    }
    int rc = -ENOENT;
    if (n_live > 0) {
        int a = (int)(rand_r(&t->rnd) % (unsigned)n_live), b = a;
        if (n_live > 1)
            while (b == a)
                b = (int)(rand_r(&t->rnd) % (unsigned)n_live);
        double sa = score(&live[a], placed_recently(t, live[a].id));
        double sb = score(&live[b], placed_recently(t, live[b].id));
        *out = live[sb < sa ? b : a];
        rc = 0;
    }
    free(live);
    return rc;
}

static void answer_redirect(struct pal_cluster_thread *t, uint64_t seq, const char *room,
                            const struct pal_cluster_node *n)
{
    struct pal_cluster_res res = {.kind = PAL_CLUSTER_RES_REDIRECT, .seq = seq, .redis_up = true};
    snprintf(res.room, sizeof(res.room), "%s", room);
    snprintf(res.node, sizeof(res.node), "%s", n->id);
    snprintf(res.url, sizeof(res.url), "%s", n->url);
    post(t, &res);
}

static void answer_here(struct pal_cluster_thread *t, uint64_t seq, const char *room, int64_t epoch)
{
    if (add_held(t, room, epoch)) {
        post_kind(t, PAL_CLUSTER_RES_UNAVAILABLE, seq, room);
        return;
    }
    struct pal_cluster_res res = {.kind = PAL_CLUSTER_RES_HERE, .seq = seq, .epoch = epoch,
                                  .at_ms = pal_now_ms(), .redis_up = true};
    snprintf(res.room, sizeof(res.room), "%s", room);
    post(t, &res);
}

/* The room has a home: here (we hold it), a live node (redirect), or a dead
 * one whose lease has not expired yet (unavailable: the client retries). */
static void answer_home(struct pal_cluster_thread *t, uint64_t seq, const char *room,
                        const char *value, size_t len)
{
    char node[PAL_CLUSTER_NODE_ID_MAX + 1];
    int64_t epoch;
    struct pal_cluster_node n;
    if (pal_cluster_lease_read(value, len, node, &epoch)) {
        PAL_WARN("cluster", room, NULL, "lease value '%.*s' is not <node>:<epoch>",
                 (int)(len > 64 ? 64 : len), value);
        post_kind(t, PAL_CLUSTER_RES_UNAVAILABLE, seq, room);
    } else if (strcmp(node, t->cfg.cluster_node_id) == 0 && find_held(t, room)) {
        answer_here(t, seq, room, epoch);
    } else if (strcmp(node, t->cfg.cluster_node_id) == 0) {
        /* ours from before a restart of this node (same node_id): nobody
         * serves it; release it and place it again */
        redisReply *r = cmd(t, "EVAL %s 1 pal:room:%s:home %b", RELEASE_LUA, room, value, len);
        if (r)
            freeReplyObject(r);
        post_kind(t, PAL_CLUSTER_RES_UNAVAILABLE, seq, room);
    } else if (read_node(t, node, &n) == 0) {
        answer_redirect(t, seq, room, &n);
    } else {
        post_kind(t, PAL_CLUSTER_RES_UNAVAILABLE, seq, room);
    }
}

static void place(struct pal_cluster_thread *t, const struct pal_cluster_cmd *c)
{
    const char *room = c->room;
    if (!t->rc) {
        post_kind(t, PAL_CLUSTER_RES_UNAVAILABLE, c->seq, room);
        return;
    }
    redisReply *r = cmd(t, "GET pal:room:%s:home", room);
    if (!r) {
        post_kind(t, PAL_CLUSTER_RES_UNAVAILABLE, c->seq, room);
        return;
    }
    if (r->type == REDIS_REPLY_STRING) {
        answer_home(t, c->seq, room, r->str, r->len);
        freeReplyObject(r);
        return;
    }
    freeReplyObject(r);
    struct pal_cluster_node target;
    bool draining = c->draining || t->stats.draining;
    bool here = c->here && !draining;
    if (!here) {
        int rc = choose_node(t, draining, &target);
        if (rc) {
            if (rc == -ENOENT)
                PAL_WARN("cluster", room, NULL, "no live serving node to place the room on");
            post_kind(t, PAL_CLUSTER_RES_UNAVAILABLE, c->seq, room);
            return;
        }
        here = strcmp(target.id, t->cfg.cluster_node_id) == 0;
    }
    if (!here) {
        /* the target acquires the lease itself when the client shows it the
         * ticket: a lease is only ever taken by the node that will serve */
        note_placed(t, target.id);
        answer_redirect(t, c->seq, room, &target);
        return;
    }
    r = cmd(t, "INCR pal:room:%s:epoch", room);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        if (r)
            freeReplyObject(r);
        post_kind(t, PAL_CLUSTER_RES_UNAVAILABLE, c->seq, room);
        return;
    }
    int64_t epoch = r->integer;
    freeReplyObject(r);
    char value[PAL_CLUSTER_NODE_ID_MAX + 24];
    snprintf(value, sizeof(value), "%s:%lld", t->cfg.cluster_node_id, (long long)epoch);
    r = cmd(t, "SET pal:room:%s:home %s NX PX %d", room, value, t->cfg.cluster_lease_seconds * 1000);
    if (!r) {
        post_kind(t, PAL_CLUSTER_RES_UNAVAILABLE, c->seq, room);
        return;
    }
    bool won = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    if (won) {
        PAL_INFO("cluster", room, NULL, "room placed here (epoch %lld)", (long long)epoch);
        note_placed(t, t->cfg.cluster_node_id);
        access_import(t, room); /* before HERE: the join is checked against it */
        chat_import(t, room);   /* before HERE: the join then finds the history */
        answer_here(t, c->seq, room, epoch);
        return;
    }
    /* another node won the race between our GET and SET: it is the home */
    r = cmd(t, "GET pal:room:%s:home", room);
    if (r && r->type == REDIS_REPLY_STRING)
        answer_home(t, c->seq, room, r->str, r->len);
    else
        post_kind(t, PAL_CLUSTER_RES_UNAVAILABLE, c->seq, room);
    if (r)
        freeReplyObject(r);
}

/* ---- the loop ---------------------------------------------------------------- */

static void run_commands(struct pal_cluster_thread *t)
{
    struct pal_cluster_cmd c;
    while (pal_queue_pop(t->cmds, &c) == 1) {
        switch (c.kind) {
        case PAL_CLUSTER_CMD_PLACE:
            place(t, &c);
            break;
        case PAL_CLUSTER_CMD_RELEASE:
            release(t, c.room, c.ended);
            break;
        case PAL_CLUSTER_CMD_STATS: {
            bool drain_changed = c.draining != t->stats.draining;
            t->stats = c;
            if (drain_changed)
                register_node(t); /* a draining node gets no new room from now on */
            break;
        }
        }
    }
}

static void run_chat(struct pal_cluster_thread *t)
{
    while (pal_queue_pop(t->chat_in, &t->chat) == 1)
        chat_append(t, &t->chat);
    struct pal_cluster_access *a = &t->access;
    while (pal_queue_pop(t->access_in, a) == 1)
        access_write(t, a);
}

static void *loop(void *arg)
{
    struct pal_cluster_thread *t = arg;
    while (!atomic_load(&t->stop)) {
        pthread_mutex_lock(&t->mu);
        if (pal_queue_len(t->cmds) == 0 && pal_queue_len(t->chat_in) == 0 &&
            pal_queue_len(t->access_in) == 0 &&
            !atomic_load(&t->stop)) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_nsec += 100 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&t->cond, &t->mu, &ts);
        }
        pthread_mutex_unlock(&t->mu);
        try_connect(t);
        run_commands(t);
        run_chat(t);
        sub_poll(t);
        int64_t now = pal_now_ms();
        if (t->rc && now - t->last_register_ms >= REGISTER_MS)
            register_node(t);
        if (t->rc && now - t->last_renew_ms >= RENEW_MS)
            renew_all(t);
        if (now - t->last_tick_ms >= TICK_MS) {
            t->last_tick_ms = now;
            post_kind(t, PAL_CLUSTER_RES_TICK, 0, NULL);
        }
    }
    /* a clean stop: our rooms are free at once, and we leave the registry */
    while (t->n_held > 0 && t->rc)
        release(t, t->held[0].room, false);
    redisReply *r = cmd(t, "DEL pal:node:%s", t->cfg.cluster_node_id);
    if (r)
        freeReplyObject(r);
    return NULL;
}

int pal_cluster_thread_create(const struct pal_config *cfg, struct pal_server *srv,
                              struct pal_cluster_thread **out)
{
    struct pal_cluster_thread *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->cfg = *cfg;
    t->srv = srv;
    t->backoff_ms = BACKOFF_MIN_MS;
    t->last_tick_ms = pal_now_ms();
    pal_random_bytes(&t->rnd, sizeof(t->rnd));
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cond, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pal_queue_create(QUEUE_ITEMS, sizeof(struct pal_cluster_cmd), &t->cmds);
    if (!rc)
        rc = pal_queue_create(QUEUE_ITEMS, sizeof(struct pal_cluster_res), &t->results);
    if (!rc)
        rc = pal_queue_create(CHAT_QUEUE_ITEMS, sizeof(struct pal_cluster_chat), &t->chat_in);
    if (!rc)
        rc = pal_queue_create(CHAT_QUEUE_ITEMS, sizeof(struct pal_cluster_chat), &t->chat_out);
    if (!rc)
        rc = pal_queue_create(ACCESS_IN_ITEMS, sizeof(struct pal_cluster_access), &t->access_in);
    if (!rc)
        rc = pal_queue_create(ACCESS_OUT_ITEMS, sizeof(struct pal_cluster_access), &t->access_out);
    if (!rc && (rc = -pthread_create(&t->thread, NULL, loop, t)) == 0)
        t->started = true;
    if (rc) {
        pal_cluster_thread_destroy(t);
        return rc;
    }
    *out = t;
    return 0;
}

void pal_cluster_thread_destroy(struct pal_cluster_thread *t)
{
    if (!t)
        return;
    if (t->started) {
        pthread_mutex_lock(&t->mu);
        atomic_store(&t->stop, true);
        pthread_cond_signal(&t->cond);
        pthread_mutex_unlock(&t->mu);
        pthread_join(t->thread, NULL);
    }
    if (t->rc)
        redisFree(t->rc);
    sub_close(t);
    free(t->held);
    if (t->access_in)
        pal_queue_destroy(t->access_in);
    if (t->access_out)
        pal_queue_destroy(t->access_out);
    if (t->cmds)
        pal_queue_destroy(t->cmds);
    if (t->results)
        pal_queue_destroy(t->results);
    if (t->chat_in)
        pal_queue_destroy(t->chat_in);
    if (t->chat_out)
        pal_queue_destroy(t->chat_out);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static int push_and_signal(struct pal_cluster_thread *t, struct pal_queue *q, const void *item)
{
    int rc = pal_queue_push(q, item);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&t->mu);
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->mu);
    return 0;
}

int pal_cluster_thread_post(struct pal_cluster_thread *t, const struct pal_cluster_cmd *c)
{
    return push_and_signal(t, t->cmds, c);
}

int pal_cluster_thread_chat_post(struct pal_cluster_thread *t, const struct pal_cluster_chat *m)
{
    return push_and_signal(t, t->chat_in, m);
}

int pal_cluster_thread_chat_poll(struct pal_cluster_thread *t, struct pal_cluster_chat *out)
{
    return pal_queue_pop(t->chat_out, out);
}

int pal_cluster_thread_poll(struct pal_cluster_thread *t, struct pal_cluster_res *out)
{
    return pal_queue_pop(t->results, out);
}

int pal_cluster_thread_access_post(struct pal_cluster_thread *t,
                                   const struct pal_cluster_access *a)
{
    return push_and_signal(t, t->access_in, a);
}

int pal_cluster_thread_access_poll(struct pal_cluster_thread *t, struct pal_cluster_access *out)
{
    return pal_queue_pop(t->access_out, out);
}
