/* Rooms and participants: plain bookkeeping (see include/palabre/rooms.h).
 *
 * Rooms sit in a hash table by name, participants in a hash table by id, and
 * each room keeps a small growable array of its participants. */
#include "palabre/rooms.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/common.h"

#define NBUCKETS 1024

struct room {
    struct room *next; /* hash chain */
    char name[PAL_ROOM_MAX + 1];
    struct pal_participant **members; /* waiting ones (the lobby) included */
    int n, cap;
    char **bans; /* "sub:...", "invite:...", "guest:..." for this meeting */
    int n_bans, cap_bans;
};

struct pnode {
    struct pnode *next;
    struct pal_participant p;
};

struct pal_rooms {
    int max_rooms, max_per_room, resume_seconds;
    int n_rooms, n_waiting;
    struct room *rooms[NBUCKETS];
    struct pnode *parts[NBUCKETS];
};

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % NBUCKETS;
}

struct pal_rooms *pal_rooms_create(int max_rooms, int max_participants_per_room,
                                   int resume_seconds)
{
    struct pal_rooms *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->max_rooms = max_rooms;
    r->max_per_room = max_participants_per_room;
    r->resume_seconds = resume_seconds;
    return r;
}

static struct room *room_find(struct pal_rooms *r, const char *name)
{
    for (struct room *rm = r->rooms[hash(name)]; rm; rm = rm->next)
        if (strcmp(rm->name, name) == 0)
            return rm;
    return NULL;
}

/* A participant's owned strings and its node. */
static void pnode_free(struct pnode *n)
{
    free(n->p.name);
    free(n->p.sub);
    free(n->p.email);
    free(n->p.invite_label);
    free(n->p.guest_key);
    free(n);
}

static void room_bans_free(struct room *rm)
{
    for (int i = 0; i < rm->n_bans; i++)
        free(rm->bans[i]);
    free(rm->bans);
}

static void room_free(struct pal_rooms *r, struct room *rm)
{
    struct room **pp = &r->rooms[hash(rm->name)];
    while (*pp != rm)
        pp = &(*pp)->next;
    *pp = rm->next;
    room_bans_free(rm);
    free(rm->members);
    free(rm);
    r->n_rooms--;
}

void pal_rooms_destroy(struct pal_rooms *r)
{
    if (!r)
        return;
    for (int i = 0; i < NBUCKETS; i++) {
        for (struct pnode *n = r->parts[i], *next; n; n = next) {
            next = n->next;
            pnode_free(n);
        }
        for (struct room *rm = r->rooms[i], *next; rm; rm = next) {
            next = rm->next;
            room_bans_free(rm);
            free(rm->members);
            free(rm);
        }
    }
    free(r);
}

const char *pal_role_name(enum pal_role role)
{
    switch (role) {
    case PAL_ROLE_OWNER:
        return "owner";
    case PAL_ROLE_MODERATOR:
        return "moderator";
    case PAL_ROLE_PARTICIPANT:
        return "participant";
    case PAL_ROLE_GUEST:
        return "guest";
    }
    return "guest";
}

int pal_role_parse(const char *name, enum pal_role *out)
{
    if (strcmp(name, "participant") == 0 || strcmp(name, "agent") == 0) /* agent: before 0.2 */
        *out = PAL_ROLE_PARTICIPANT;
    else if (strcmp(name, "guest") == 0)
        *out = PAL_ROLE_GUEST;
    else
        return -EINVAL;
    return 0;
}

struct pal_participant *pal_rooms_find_participant(struct pal_rooms *r, const char *id)
{
    for (struct pnode *n = r->parts[hash(id)]; n; n = n->next)
        if (strcmp(n->p.id, id) == 0)
            return &n->p;
    return NULL;
}

/* id and token NULL: new random ones. */
static int join_with(struct pal_rooms *r, const char *room, const char *name,
                     enum pal_role requested, const char *id, const char *token,
                     struct pal_participant **out)
{
    if (strlen(room) > PAL_ROOM_MAX)
        return -EINVAL;
    if (id && (strlen(id) != PAL_PARTICIPANT_ID_LEN || strncmp(id, "p_", 2) != 0 || !token ||
               strlen(token) != PAL_RESUME_TOKEN_LEN))
        return -EINVAL;
    if (id && pal_rooms_find_participant(r, id))
        return -EEXIST;
    struct room *rm = room_find(r, room);
    bool created = false;
    if (!rm) {
        if (r->n_rooms >= r->max_rooms)
            return -EMFILE;
        rm = calloc(1, sizeof(*rm));
        if (!rm)
            return -ENOMEM;
        snprintf(rm->name, sizeof(rm->name), "%s", room);
        unsigned h = hash(room);
        rm->next = r->rooms[h];
        r->rooms[h] = rm;
        r->n_rooms++;
        created = true;
    } else if (rm->n >= r->max_per_room) {
        return -EUSERS;
    }
    if (rm->n == rm->cap) {
        int cap = rm->cap ? rm->cap * 2 : 4;
        struct pal_participant **m = realloc(rm->members, (size_t)cap * sizeof(*m));
        if (!m)
            goto fail;
        rm->members = m;
        rm->cap = cap;
    }
    struct pnode *node = calloc(1, sizeof(*node));
    if (!node)
        goto fail;
    struct pal_participant *p = &node->p;
    p->name = strdup(name);
    if (!p->name) {
        free(node);
        goto fail;
    }
    if (id) {
        memcpy(p->id, id, PAL_PARTICIPANT_ID_LEN + 1);
        memcpy(p->resume_token, token, PAL_RESUME_TOKEN_LEN + 1);
    }
    while (!id) {
        memcpy(p->id, "p_", 2);
        if (pal_random_hex(p->id + 2, 6) || pal_random_hex(p->resume_token, 32)) {
            free(p->name);
            free(node);
            goto fail;
        }
        if (!pal_rooms_find_participant(r, p->id))
            break;
    }
    snprintf(p->room, sizeof(p->room), "%s", room);
    p->role = requested; /* being first gives nothing: the caller decides (access.c) */
    unsigned h = hash(p->id);
    node->next = r->parts[h];
    r->parts[h] = node;
    rm->members[rm->n++] = p;
    *out = p;
    return 0;
fail:
    if (created)
        room_free(r, rm);
    return -ENOMEM;
}

int pal_rooms_join(struct pal_rooms *r, const char *room, const char *name, enum pal_role requested,
                   struct pal_participant **out)
{
    return join_with(r, room, name, requested, NULL, NULL, out);
}

int pal_rooms_join_as(struct pal_rooms *r, const char *room, const char *name, enum pal_role role,
                      const char *id, const char *token, struct pal_participant **out)
{
    return join_with(r, room, name, role, id, token, out);
}

int pal_rooms_resume(struct pal_rooms *r, const char *room, const char *token, int64_t now_ms,
                     struct pal_participant **out)
{
    struct room *rm = room_find(r, room);
    if (!rm || strlen(token) != PAL_RESUME_TOKEN_LEN)
        return -ENOENT;
    for (int i = 0; i < rm->n; i++) {
        struct pal_participant *p = rm->members[i];
        /* constant-time compare: the token is a secret */
        unsigned char diff = 0;
        for (int k = 0; k < PAL_RESUME_TOKEN_LEN; k++)
            diff |= (unsigned char)(p->resume_token[k] ^ token[k]);
        if (diff)
            continue;
        if (p->disconnected && now_ms >= p->expires_ms)
            return -ENOENT;
        if (p->disconnected)
            r->n_waiting--;
        p->disconnected = false;
        p->expires_ms = 0;
        *out = p;
        return 0;
    }
    return -ENOENT;
}

void pal_rooms_disconnect(struct pal_rooms *r, struct pal_participant *p, int64_t last_seen_ms)
{
    if (!p->disconnected)
        r->n_waiting++;
    p->disconnected = true;
    p->expires_ms = last_seen_ms + (int64_t)r->resume_seconds * 1000;
}

void pal_rooms_remove(struct pal_rooms *r, struct pal_participant *p)
{
    struct room *rm = room_find(r, p->room);
    if (rm) {
        for (int i = 0; i < rm->n; i++) {
            if (rm->members[i] == p) {
                memmove(&rm->members[i], &rm->members[i + 1],
                        (size_t)(rm->n - i - 1) * sizeof(rm->members[0]));
                rm->n--;
                break;
            }
        }
        if (rm->n == 0)
            room_free(r, rm);
    }
    if (p->disconnected)
        r->n_waiting--;
    struct pnode **pp = &r->parts[hash(p->id)];
    while (*pp && &(*pp)->p != p)
        pp = &(*pp)->next;
    if (*pp) {
        struct pnode *node = *pp;
        *pp = node->next;
        pnode_free(node);
    }
}

struct expire_ctx {
    int64_t now;
    pal_rooms_participant_fn fn;
    void *ud;
    int n;
};

static void expire_one(struct pal_participant *p, void *ud)
{
    struct expire_ctx *ec = ud;
    if (p->disconnected && ec->now >= p->expires_ms) {
        ec->n++;
        ec->fn(p, ec->ud);
    }
}

int pal_rooms_expire(struct pal_rooms *r, int64_t now_ms, pal_rooms_participant_fn fn, void *ud)
{
    if (r->n_waiting == 0)
        return 0;
    struct expire_ctx ec = {now_ms, fn, ud, 0};
    pal_rooms_each(r, expire_one, &ec);
    return ec.n;
}

void pal_rooms_each_in_room(struct pal_rooms *r, const char *room, pal_rooms_participant_fn fn,
                            void *ud)
{
    struct room *rm = room_find(r, room);
    if (!rm)
        return;
    for (int i = 0; i < rm->n; i++)
        if (!rm->members[i]->waiting)
            fn(rm->members[i], ud);
}

void pal_rooms_each_waiting(struct pal_rooms *r, const char *room, pal_rooms_participant_fn fn,
                            void *ud)
{
    struct room *rm = room_find(r, room);
    if (!rm)
        return;
    for (int i = 0; i < rm->n; i++)
        if (rm->members[i]->waiting)
            fn(rm->members[i], ud);
}

int pal_rooms_ban(struct pal_rooms *r, const char *room, const char *key)
{
    struct room *rm = room_find(r, room);
    if (!rm)
        return -ENOENT;
    if (pal_rooms_is_banned(r, room, key))
        return 0;
    if (rm->n_bans >= PAL_ROOM_MAX_BANS)
        return -ENOSPC;
    if (rm->n_bans == rm->cap_bans) {
        int cap = rm->cap_bans ? rm->cap_bans * 2 : 8;
        char **b = realloc(rm->bans, (size_t)cap * sizeof(*b));
        if (!b)
            return -ENOMEM;
        rm->bans = b;
        rm->cap_bans = cap;
    }
    char *k = strdup(key);
    if (!k)
        return -ENOMEM;
    rm->bans[rm->n_bans++] = k;
    return 0;
}

void pal_rooms_each_ban(struct pal_rooms *r, const char *room,
                        void (*fn)(const char *key, void *ud), void *ud)
{
    struct room *rm = room_find(r, room);
    for (int i = 0; rm && i < rm->n_bans; i++)
        fn(rm->bans[i], ud);
}

bool pal_rooms_is_banned(struct pal_rooms *r, const char *room, const char *key)
{
    struct room *rm = room_find(r, room);
    if (!rm)
        return false;
    for (int i = 0; i < rm->n_bans; i++)
        if (strcmp(rm->bans[i], key) == 0)
            return true;
    return false;
}

void pal_rooms_each(struct pal_rooms *r, pal_rooms_participant_fn fn, void *ud)
{
    for (int i = 0; i < NBUCKETS; i++) {
        for (struct pnode *n = r->parts[i], *next; n; n = next) {
            next = n->next;
            fn(&n->p, ud);
        }
    }
}

int pal_rooms_count(const struct pal_rooms *r)
{
    return r->n_rooms;
}

int pal_rooms_room_size(struct pal_rooms *r, const char *room)
{
    struct room *rm = room_find(r, room);
    return rm ? rm->n : 0;
}
