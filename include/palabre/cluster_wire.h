/* The texts the cluster writes to Redis or hands to clients, each with its
 * parser and writer, so that a value read back from Redis (which any node,
 * or anybody holding the Redis password, may have written) is checked like
 * network input:
 *
 *   redirect ticket   "v1.<room>.<node_id>.<expires_ms>.<hmac>"
 *                     hmac = hex(HMAC-SHA256([cluster] secret,
 *                                            "v1.<room>.<node_id>.<expires_ms>"))
 *   lease value       "<node_id>:<epoch>"        (pal:room:<room>:home)
 *   registry entry    a JSON object                (pal:node:<node_id>)
 *                     {"id","url","version","cores","load","rooms",
 *                      "participants","packets_per_second","state","proto"}
 *   redis address     "host:port", "[v6]:port" or "/path/to/redis.sock"
 *   access fields     pal:room:<room>:access, a hash (the room's access state,
 *                     written through by its home node, read by a new home):
 *                       room        {"title","owner_sub","owner_name","created_ms",
 *                                    "lobby","locked","guest_chat"}
 *                       mod:<sub>   "1<name>" named moderator, "0" unnamed
 *                       inv:<hash>  {"label","created_by","created_ms","expires_ms",
 *                                    "max_uses","uses","lobby","revoked_ms"}
 *                                   <hash>: hex SHA-256 of the link's token
 *                     pal:room:<room>:bans, a set of the meeting's ban keys
 *                     (rooms.h), an invite's as "inv:<hash>" (ids are per node)
 *                     pal:room:<room>:people, a hash of who is in the meeting:
 *                       <hash>      {"id","name","role","agent","sub"}
 *                                   <hash>: hex SHA-256 of their resume token
 *
 * Pure functions, any thread. Owner: signaling/cluster_wire.c. */
#ifndef PALABRE_CLUSTER_WIRE_H
#define PALABRE_CLUSTER_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "palabre/room_store.h"

#define PAL_CLUSTER_NODE_ID_MAX 32 /* [A-Za-z0-9_-] */
#define PAL_CLUSTER_URL_MAX 255
#define PAL_CLUSTER_TICKET_MAX 200
#define PAL_CLUSTER_PROTO 1 /* nodes of another proto get no room from this one */

/* A node id: 1 to PAL_CLUSTER_NODE_ID_MAX of [A-Za-z0-9_-]. */
bool pal_cluster_node_id_valid(const char *id);

/* Writes a ticket for room on node, valid until expires_ms (wall clock).
 * 0, or -ENOSPC when out is too small, -EINVAL on a bad room or node. */
int pal_cluster_ticket_write(const char *secret, const char *room, const char *node,
                             int64_t expires_ms, char *out, size_t cap);
/* Checks a ticket: 0 when it is well formed, signed with secret and not
 * expired at now_ms, with its room and node copied out (room: 65 bytes,
 * node: PAL_CLUSTER_NODE_ID_MAX + 1); -EINVAL when malformed or badly
 * signed; -ETIMEDOUT when expired. */
int pal_cluster_ticket_read(const char *secret, const char *ticket, size_t len, int64_t now_ms,
                            char *room, char *node);

/* "<node>:<epoch>" into node (PAL_CLUSTER_NODE_ID_MAX + 1) and *epoch.
 * 0 or -EINVAL. */
int pal_cluster_lease_read(const char *value, size_t len, char *node, int64_t *epoch);

enum pal_cluster_node_state { PAL_CLUSTER_SERVING, PAL_CLUSTER_DRAINING };

struct pal_cluster_node {
    char id[PAL_CLUSTER_NODE_ID_MAX + 1];
    char url[PAL_CLUSTER_URL_MAX + 1]; /* [cluster] public_url: http(s)://host:port */
    char version[64];
    int cores;
    double load;       /* 1-minute load average per core */
    int rooms, participants;
    int64_t packets_per_second;
    int state;         /* enum pal_cluster_node_state */
    int proto;
};
/* Registry entry <-> struct. write: a NUL-terminated JSON text into out;
 * 0 or -ENOSPC. read: 0, or -EINVAL naming the first bad field in err. */
int pal_cluster_node_write(const struct pal_cluster_node *n, char *out, size_t cap);
int pal_cluster_node_read(const char *json, size_t len, struct pal_cluster_node *out, char *err,
                          size_t errlen);

/* The WebSocket URL of a node's public_url: http → ws, https → wss, + "/ws".
 * 0 or -ENOSPC. */
int pal_cluster_ws_url(const char *public_url, char *out, size_t cap);

/* [cluster] redis: a Unix socket path (starts with '/') or host:port
 * ([v6]:port). host: 256 bytes. *port 0 for a socket path. 0 or -EINVAL. */
int pal_cluster_redis_addr_parse(const char *value, char *host, size_t hostcap, int *port);

/* Access fields (above) <-> structs. write: NUL-terminated text into out;
 * 0, -ENOSPC, -ENOMEM. read: 0 or -EINVAL (anything out of the store's
 * bounds: such a value was not written by a node). The room's name and an
 * invite's room are not in the values: the key names them (room copied). */
/* the largest value: a room record whose title, sub and name are all
 * escaped characters (a JWT's sub may hold control characters: 6 bytes
 * each), ~4.1 KB */
#define PAL_CLUSTER_ACCESS_VALUE_MAX 4200
int pal_cluster_room_write(const struct pal_room_record *r, char *out, size_t cap);
int pal_cluster_room_read(const char *text, size_t len, const char *room,
                          struct pal_room_record *out);
int pal_cluster_invite_write(const struct pal_invite *inv, char *out, size_t cap);
int pal_cluster_invite_read(const char *text, size_t len, const char *room,
                            struct pal_invite *out);

/* Someone in a meeting, as a new home lets them come back (cluster.h). */
struct pal_cluster_person {
    char id[PAL_PARTICIPANT_ID_LEN + 1];
    char name[64 * 4 + 1];
    char sub[PAL_SUB_MAX + 1]; /* "" for a guest */
    int role;                  /* enum pal_role */
    bool agent;
};
int pal_cluster_person_write(const struct pal_cluster_person *p, char *out, size_t cap);
int pal_cluster_person_read(const char *text, size_t len, struct pal_cluster_person *out);

#endif
