/* The cluster thread: the one thread of a node that talks to Redis
 * (hiredis, synchronous, with timeouts). It keeps the node's registry entry
 * fresh, places rooms, holds and renews their leases, and reconnects with
 * backoff, registering again and re-taking its leases after a Redis restart.
 *
 * It never touches rooms or sessions: the signaling thread sends it
 * commands, it answers with results, both plain structs copied through
 * pal_queue (ids and names, no pointers), and wakes the signaling thread
 * with pal_server_wake.
 *
 * Redis keys:
 *   pal:nodes                  set of node ids ever registered (pruned when stale)
 *   pal:node:<id>              registry entry (JSON), PX 6000, rewritten every 2 s
 *   pal:node:<id>:placed       rooms placed on it lately (the ramp-up penalty), PX 20000
 *   pal:room:<room>:home       the lease: "<node>:<epoch>", PX lease_seconds
 *   pal:room:<room>:epoch      INCR on each acquisition (the fencing number)
 *   pal:room:<room>:access     hash: the room's access state (cluster_wire.h),
 *                              written by the lease holder (fenced in Lua; a
 *                              node without a lease only adds missing fields),
 *                              read by a new home before it serves the room
 *   pal:room:<room>:bans       set: the meeting's ban keys, deleted when its
 *                              home releases the room at the meeting's end
 *   pal:room:<room>:people     hash: who is in the meeting (cluster_wire.h), so
 *                              that they come back to a new home as themselves;
 *                              deleted with the bans
 *   channel pal:access         "<room> <field>" after each write: the other
 *                              nodes refresh their SQLite copy of that field
 *   pal:room:<room>:chat       stream of the room's chat messages, capped at
 *                              ~CHAT_STREAM_MAX, written only by the lease holder
 *                              with its epoch (fenced in Lua), read by a new home
 *
 * Threads: create/destroy/post/poll on the signaling thread; the rest of
 * the work on its own thread. Owner: signaling/cluster_thread.c. */
#ifndef PALABRE_CLUSTER_THREAD_H
#define PALABRE_CLUSTER_THREAD_H

#include <stdbool.h>
#include <stdint.h>

#include "palabre/cluster_wire.h"
#include "palabre/config.h"

struct pal_server;
struct pal_cluster_thread;

enum pal_cluster_cmd_kind {
    PAL_CLUSTER_CMD_PLACE,   /* seq, room, here (a valid ticket for this node) */
    PAL_CLUSTER_CMD_RELEASE, /* room, ended: compare-and-delete of our lease (ended: the
                                meeting is over, its bans go too) */
    PAL_CLUSTER_CMD_STATS,   /* rooms, participants, draining: for the registry */
};

struct pal_cluster_cmd {
    int kind;
    uint64_t seq;
    char room[65];
    bool here;
    bool ended;
    bool draining;
    int rooms, participants;
    int64_t packets_per_second;
};

enum pal_cluster_res_kind {
    PAL_CLUSTER_RES_HERE,        /* seq, room, epoch: this node holds the lease */
    PAL_CLUSTER_RES_REDIRECT,    /* seq, room, node, url: the room goes there */
    PAL_CLUSTER_RES_UNAVAILABLE, /* seq, room: no node can take it now, or Redis is down */
    PAL_CLUSTER_RES_LOST,        /* room: the lease is someone else's now */
    PAL_CLUSTER_RES_RENEWED,     /* at_ms: every lease held at at_ms was renewed then */
    PAL_CLUSTER_RES_TICK,        /* redis_up: every ~500 ms */
    PAL_CLUSTER_RES_RETAKEN,     /* room: its lease taken back after Redis lost it (a
                                    restart): the meeting's state is to be written again */
};

struct pal_cluster_res {
    int kind;
    uint64_t seq;
    char room[65];
    int64_t epoch;
    int64_t at_ms;
    bool redis_up;
    char node[PAL_CLUSTER_NODE_ID_MAX + 1];
    char url[PAL_CLUSTER_URL_MAX + 1];
};

/* A chat message on its way to the room's stream (signaling → cluster:
 * seq set, ok unused), its answer (cluster → signaling: seq, ok: in the
 * stream; false when Redis is down or the lease is no longer this node's),
 * or a message of the stream imported by a new home (cluster → signaling:
 * seq 0), always before the HERE result that placed the room. */
struct pal_cluster_chat {
    uint64_t seq;
    bool ok;
    int64_t ts_ms;
    char room[65];
    char from[32];
    char name[64 * 4 + 1];
    char client_msg_id[65];
    char text[4000 * 4 + 1];
};

/* An access field on its way to Redis (signaling → cluster: field "room",
 * "mod:<sub>", "inv:<hash>", "ban" with the ban key as value, or
 * "person:<hash>" with the person, "" when gone), or read
 * from it (cluster → signaling): import true, a new home's copy of the
 * room's hash and bans, always before the HERE that placed the room;
 * import false, a field another node changed (told on pal:access), for a
 * room this node does not hold. */
struct pal_cluster_access {
    bool import;
    char room[65];
    char field[300];
    char value[PAL_CLUSTER_ACCESS_VALUE_MAX];
};

/* Starts the thread (it connects by itself). 0, -ENOMEM or -errno. */
int pal_cluster_thread_create(const struct pal_config *cfg, struct pal_server *srv,
                              struct pal_cluster_thread **out);
/* Stops it: releases the leases it holds and deletes the registry entry when
 * Redis answers, then joins the thread. */
void pal_cluster_thread_destroy(struct pal_cluster_thread *t);
/* 0, or -ENOBUFS when the command queue is full. */
int pal_cluster_thread_post(struct pal_cluster_thread *t, const struct pal_cluster_cmd *cmd);
/* 0, or -ENOBUFS when the chat queue is full. */
int pal_cluster_thread_chat_post(struct pal_cluster_thread *t, const struct pal_cluster_chat *m);
/* 1 and a chat answer or import, or 0. Drain it before each result. */
int pal_cluster_thread_chat_poll(struct pal_cluster_thread *t, struct pal_cluster_chat *out);
/* 0, or -ENOBUFS when the access queue is full. */
int pal_cluster_thread_access_post(struct pal_cluster_thread *t,
                                   const struct pal_cluster_access *a);
/* 1 and an access field read from Redis, or 0. Drain it before each result. */
int pal_cluster_thread_access_poll(struct pal_cluster_thread *t, struct pal_cluster_access *out);
/* 1 and a result, or 0 when none is waiting. */
int pal_cluster_thread_poll(struct pal_cluster_thread *t, struct pal_cluster_res *out);

#endif
