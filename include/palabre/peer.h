/* A participant's media on its room's worker: its two transports (publish,
 * subscribe) wired to the room router, and the events it reports to
 * signaling (local candidates, connected, failed).
 *
 * Thread: the room's worker only. */
#ifndef PALABRE_PEER_H
#define PALABRE_PEER_H

#include <glib.h>

#include "palabre/common.h"
#include "palabre/media.h"

struct pal_room;
struct pal_peer;
struct pal_send_batch;

/* What the worker lends its peers (all borrowed, outlive the peers). */
struct pal_peer_env {
    GMainContext *ctx;
    const struct pal_media_config *cfg;
    const struct pal_dtls_cert *cert;
    struct pal_send_batch *batch; /* the worker's batched sends, may be NULL */
    void (*emit)(void *ud, const struct pal_media_event *ev);
    void *emit_ud;
};

/* Adds participant to room. Returns 0, -EINVAL, -ENOMEM. */
int pal_peer_create(const struct pal_peer_env *env, struct pal_room *room, const char *participant,
                    struct pal_peer **out);
/* Closes both transports and removes the participant from the room. */
void pal_peer_destroy(struct pal_peer *p);

/* The commands of palabre/media.h for this participant. Each returns 0 or a
 * negative errno (the error is also reported as a FAILED event when the
 * browser must hear about it). */
int pal_peer_publish(struct pal_peer *p, const struct pal_media_cmd *cmd);
int pal_peer_unpublish(struct pal_peer *p, const char *mid);
int pal_peer_subscribe_open(struct pal_peer *p, const struct pal_media_ice_params *local);
int pal_peer_subscribe_remote(struct pal_peer *p, const struct pal_media_ice_params *remote,
                              const struct pal_media_dtls_params *dtls);
int pal_peer_consumer_add(struct pal_peer *p, const char *producer, const char *producer_mid,
                          const struct pal_media_track *t);
int pal_peer_consumer_remove(struct pal_peer *p, const char *mid);
int pal_peer_remote_candidate(struct pal_peer *p, enum pal_media_pc pc,
                              const struct pal_media_candidate *c, bool end);
/* Hard mute of one kind of the participant's tracks (palabre/room.h). */
int pal_peer_block(struct pal_peer *p, enum pal_media_kind kind, bool blocked);
/* set_track_view: see pal_room_set_view. */
int pal_peer_set_view(struct pal_peer *p, const char *producer_pid, const char *producer_mid,
                      const struct pal_media_view *v);
/* Its published tracks' counters; returns how many (at most cap). */
size_t pal_peer_track_stats(const struct pal_peer *p, struct pal_media_track_stats *out,
                            size_t cap);
/* Frees transports that failed since the last call (they cannot be freed
 * inside their own callbacks). */
void pal_peer_reap(struct pal_peer *p);
/* Transports (PeerConnections) this peer holds now: 0 to 2. */
int pal_peer_transports(const struct pal_peer *p);

#endif
