/* Per client address bounds (see include/palabre/ip_limits.h).
 *
 * A hash table by address; each entry keeps its connection count and a ring
 * of its last rooms_per_minute room creation times: the oldest one says
 * whether another creation fits in the minute. */
#include "palabre/ip_limits.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 256
#define WINDOW_MS 60000

struct entry {
    struct entry *next;
    char ip[PAL_IP_MAX + 1];
    int connections;
    int n_rooms, ring_head; /* ring of room creation times, oldest at ring_head */
    int64_t rooms[];
};

struct pal_ip_limits {
    int max_connections, rooms_per_minute;
    int n_entries;
    struct entry *buckets[NBUCKETS];
};

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % NBUCKETS;
}

struct pal_ip_limits *pal_ip_limits_create(int connections_per_ip, int rooms_per_minute)
{
    struct pal_ip_limits *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->max_connections = connections_per_ip;
    l->rooms_per_minute = rooms_per_minute > 0 ? rooms_per_minute : 1;
    return l;
}

void pal_ip_limits_destroy(struct pal_ip_limits *l)
{
    if (!l)
        return;
    for (int i = 0; i < NBUCKETS; i++)
        for (struct entry *e = l->buckets[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    free(l);
}

static struct entry *find(struct pal_ip_limits *l, const char *ip, bool create)
{
    unsigned h = hash(ip);
    for (struct entry *e = l->buckets[h]; e; e = e->next)
        if (strcmp(e->ip, ip) == 0)
            return e;
    if (!create)
        return NULL;
    struct entry *e = calloc(1, sizeof(*e) + (size_t)l->rooms_per_minute * sizeof(int64_t));
    if (!e)
        return NULL;
    snprintf(e->ip, sizeof(e->ip), "%s", ip);
    e->next = l->buckets[h];
    l->buckets[h] = e;
    l->n_entries++;
    return e;
}

bool pal_ip_limits_can_connect(struct pal_ip_limits *l, const char *ip)
{
    struct entry *e = find(l, ip, false);
    return !e || e->connections < l->max_connections;
}

int pal_ip_limits_connect(struct pal_ip_limits *l, const char *ip)
{
    struct entry *e = find(l, ip, true);
    if (!e)
        return -ENOMEM;
    e->connections++;
    return 0;
}

void pal_ip_limits_disconnect(struct pal_ip_limits *l, const char *ip)
{
    struct entry *e = find(l, ip, false);
    if (e && e->connections > 0)
        e->connections--;
}

int pal_ip_limits_connections(struct pal_ip_limits *l, const char *ip)
{
    struct entry *e = find(l, ip, false);
    return e ? e->connections : 0;
}

int pal_ip_limits_create_room(struct pal_ip_limits *l, const char *ip, int64_t now_ms,
                              int64_t *retry_after_ms)
{
    struct entry *e = find(l, ip, true);
    if (!e)
        return -ENOMEM;
    int cap = l->rooms_per_minute;
    if (e->n_rooms == cap) {
        int64_t oldest = e->rooms[e->ring_head];
        if (now_ms - oldest < WINDOW_MS) {
            *retry_after_ms = oldest + WINDOW_MS - now_ms;
            return -EAGAIN;
        }
        e->ring_head = (e->ring_head + 1) % cap; /* the oldest leaves the window */
        e->n_rooms--;
    }
    e->rooms[(e->ring_head + e->n_rooms) % cap] = now_ms;
    e->n_rooms++;
    return 0;
}

void pal_ip_limits_sweep(struct pal_ip_limits *l, int64_t now_ms)
{
    for (int i = 0; i < NBUCKETS; i++) {
        struct entry **pp = &l->buckets[i];
        while (*pp) {
            struct entry *e = *pp;
            int64_t newest =
                e->n_rooms ? e->rooms[(e->ring_head + e->n_rooms - 1) % l->rooms_per_minute]
                           : INT64_MIN;
            if (e->connections == 0 && (e->n_rooms == 0 || now_ms - newest >= WINDOW_MS)) {
                *pp = e->next;
                free(e);
                l->n_entries--;
            } else {
                pp = &e->next;
            }
        }
    }
}

int pal_ip_limits_entries(const struct pal_ip_limits *l)
{
    return l->n_entries;
}
