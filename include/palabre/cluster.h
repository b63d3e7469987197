/* A node of a cluster ([cluster] redis set): which rooms this node serves.
 *
 * A room lives on one home node, the holder of its lease in Redis (see
 * cluster_thread.h). A join for a room this node does not hold waits for
 * the cluster thread's answer: placed here (the join goes on), or homed
 * elsewhere (error redirect {url, ticket}: the client reconnects there), or
 * nobody can take it right now (error room_unavailable {retry_after_ms}).
 * A node that loses a lease (it was paused or cut off past the lease, and
 * another node took the room) stops serving the room at once: its
 * participants are removed and their connections closed 4009 "room moved",
 * and they join again (and are redirected to the new home).
 *
 * Without [cluster] there is no pal_cluster and nothing changes.
 *
 * Threads: everything on the signaling thread. Owner: signaling/cluster.c. */
#ifndef PALABRE_CLUSTER_H
#define PALABRE_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct pal_server;
struct pal_session;
struct pal_cluster;

#define PAL_CLUSTER_CLOSE_MOVED 4009

/* Starts the cluster thread and registers a wake hook on srv. 0 or -errno. */
int pal_cluster_create(struct pal_server *srv, struct pal_cluster **out);
void pal_cluster_destroy(struct pal_cluster *c);

/* join: true when this node serves room now (the join goes on). false when
 * the request was taken: answered (redirect, bad ticket) or waiting for the
 * cluster thread, after which the join is run again. */
bool pal_cluster_room_here_or_defer(struct pal_cluster *c, struct pal_session *s, json_t *id,
                                    json_t *req, const char *room);

/* Chat on a cluster: after the local commit, the message is appended to the
 * room's Redis stream (fenced by this node's lease) so that a new home can
 * serve it after a failover; done(ud, status, msg) runs once Redis
 * answered, msg a copy valid during the call. status: 0 in the stream;
 * -EAGAIN not in it, Redis unreachable (the local commit stands: a meeting
 * goes on while Redis restarts); -ESTALE the lease is no longer this node's
 * (the room moved: the sender should send it again, to the new home).
 * At destroy, done runs with msg NULL. Returns 0, or -errno when it could
 * not be queued (done never runs: answer at once). */
struct pal_chat_message;
typedef void (*pal_cluster_chat_fn)(void *ud, int status, const struct pal_chat_message *msg);
int pal_cluster_chat_replicate(struct pal_cluster *c, const struct pal_chat_message *msg,
                               pal_cluster_chat_fn done, void *ud);

/* A room's access state on a cluster: its home node writes each change
 * through to Redis (pal:room:<room>:access, cluster_thread.h), from where a
 * new home copies it into its own store before it serves the room (a
 * failover, a room opened again elsewhere) and the other nodes refresh
 * their copies. Called after the local change was stored; c NULL (no
 * cluster): nothing. Asynchronous: the answer to the client does not wait
 * for Redis. */
void pal_cluster_access_room(struct pal_cluster *c, const char *room); /* owner, settings */
void pal_cluster_access_invite(struct pal_cluster *c, const char *room, int64_t id);
void pal_cluster_access_moderator(struct pal_cluster *c, const char *room, const char *sub,
                                  const char *name, bool moderator);
/* A ban key of the meeting (rooms.h): kept until the meeting ends. */
void pal_cluster_access_ban(struct pal_cluster *c, const char *room, const char *key);
/* Someone in the meeting (present; not the lobby) or gone, for a new home
 * after a failover: it lets them come back with the resume token the old
 * home gave them as themselves (same participant id, role and identity;
 * new PeerConnections). */
struct pal_participant;
void pal_cluster_person(struct pal_cluster *c, const struct pal_participant *p, bool present);
/* join with a resume token unknown here: when this node took the room over
 * and token is one the old home gave, the participant is made again here
 * (*out; resumed false: no state but who they are) and 1 is returned; 0
 * when not (the caller answers resume_failed); -1 when answered (banned). */
int pal_cluster_adopt_or_reply(struct pal_cluster *c, struct pal_session *s, json_t *id,
                               const char *room, const char *token,
                               struct pal_participant **out);
/* Whether key was banned from room's meeting on the node it came from. */
bool pal_cluster_banned(struct pal_cluster *c, const char *room, const char *key);

#endif
