/* One synthetic participant of palabre-load: a signaling link (ws.h), a
 * publish PeerConnection (we offer, ICE controlling) and a subscribe
 * PeerConnection (the server offers, we answer, DTLS client), each a
 * pal_transport from media/ (ICE + DTLS + SRTP), and what it measures.
 *
 * The signaling dialect (Palabre's protocol, or Janus's videoroom) is a
 * table of functions (struct load_signaling) that calls back into the
 * participant_* functions below; the media side is the same for both.
 *
 * Thread: the tool's single loop thread. */
#ifndef PALABRE_LOAD_PARTICIPANT_H
#define PALABRE_LOAD_PARTICIPANT_H

#include <glib.h>
#include <jansson.h>

#include "media_source.h"
#include "metrics.h"
#include "palabre/dtls.h"
#include "palabre/media.h"
#include "palabre/transport.h"
#include "scenario.h"
#include "sub_answer.h"
#include "tcc.h"
#include "ws.h"

struct load_participant;

/* Counters shared by every participant of the run. */
struct load_totals {
    uint64_t sent[2];            /* RTP packets sent: [0] audio, [1] video */
    uint64_t send_errors;
    uint64_t received;           /* RTP packets received with a valid trailer */
    uint64_t received_other;     /* RTP without our trailer (padding, probes) */
    uint64_t received_by_layer[LOAD_MAX_LAYERS]; /* video packets received, per simulcast layer */
    uint64_t received_unsignaled; /* RTP on an SSRC no subscribe offer announced: a
                                   * browser drops it, so it counts as not delivered */
    uint64_t nack_received;      /* NACK packets the server sent to publishers */
    uint64_t nack_seqs_received; /* sequence numbers they asked for */
    uint64_t pli_received;       /* PLI/FIR the server sent to publishers */
    uint64_t twcc_received;      /* transport-cc feedback the server sent to publishers */
    uint64_t twcc_send_errors;   /* subscribers' feedback compounds the transport refused */
    uint64_t media_errors;       /* transport failures, media_error events */
    uint64_t signaling_errors;   /* error responses, lost links */
    uint64_t late_ticks;         /* frames sent more than 50 ms late: the tool is overloaded */
    struct load_hist delay;      /* whole run */
    struct load_hist delay_sec;  /* the current second (plot, progress line) */
};

/* What every participant borrows. */
struct load_env {
    GMainContext *ctx;
    struct pal_media_config media_cfg;
    struct pal_dtls_cert *cert;
    const struct load_scenario *scenario;
    const struct load_media_source *media;
    const struct load_signaling *sig;
    const char *url;
    const char *room_prefix;
    struct load_totals *totals;
    bool sending; /* publishers send while true */
    bool trace;   /* PALABRE_LOAD_TRACE=1: signaling messages on stderr */
    bool turn;    /* --turn: relay every PC through the join's TURN server */
    bool no_tcc;  /* --no-transport-cc: no transport-wide numbering, no feedback (tcc.h) */
};

struct load_signaling {
    const char *name;
    const char *subprotocol; /* WebSocket subprotocol, NULL for none */
    /* Allocate the dialect's state (p->sig) and send the first request. */
    int (*start)(struct load_participant *p);
    void (*on_message)(struct load_participant *p, json_t *msg);
    /* A local candidate (line NULL: end of candidates), once
     * participant_trickle_ready() was called for pc. */
    void (*send_candidate)(struct load_participant *p, enum pal_media_pc pc, const char *line);
    /* Once a second (keepalives). May be NULL. */
    void (*tick)(struct load_participant *p);
    void (*free_state)(void *state);
};

extern const struct load_signaling load_signaling_palabre;
extern const struct load_signaling load_signaling_janus;

#define LOAD_MAX_QUEUED_CANDIDATES 16

struct load_pc {
    struct load_participant *p; /* back pointer for callbacks */
    enum pal_media_pc which;
    struct pal_transport *t;
    struct pal_media_ice_params local;
    bool remote_set;   /* remote ICE/DTLS known: remote candidates can go in */
    bool can_trickle;  /* signaling accepts our candidates now */
    bool connected, failed;
    int64_t connected_us;
    /* local candidates waiting for can_trickle (NULL entry = end) */
    char *local_q[LOAD_MAX_QUEUED_CANDIDATES + 1];
    size_t n_local_q;
    bool local_done;
    /* remote candidates waiting for remote_set */
    struct pal_media_candidate remote_q[LOAD_MAX_QUEUED_CANDIDATES];
    size_t n_remote_q;
    bool remote_end;
};

struct load_participant {
    /* borrowed */
    struct load_env *env;
    /* owned */
    struct load_ws *ws;
    void *sig; /* the dialect's state */
    struct load_rx *rx; /* [room size * 2]: index in room << 1 | video */
    struct load_sub_remote *sub_remote; /* the last subscribe offer answered */
    struct load_tcc *tcc; /* the subscribe PC's transport-cc feedback (NULL before its offer) */
    /* state */
    int index, room, index_in_room, room_size;
    bool publishes;
    char room_name[64], name[32];
    struct load_pc pcs[2];
    struct pal_media_config media_cfg; /* env's, with the join's TURN server under --turn */
    struct load_sender senders[1 + LOAD_MAX_LAYERS]; /* audio, video (one per simulcast layer) */
    size_t n_senders;
    uint16_t twcc_seq;  /* the publish PC's transport-wide sequence number */
    int64_t next_feedback_us;
    int64_t start_us, joined_us, first_media_us;
    bool gone; /* link lost or failed: stop counting on it */
};

int participant_create(struct load_env *env, int index, struct load_participant **out);
void participant_destroy(struct load_participant *p);
/* Sends whatever frames are due (publishers). */
void participant_send_due(struct load_participant *p, int64_t now_us);
/* Sends the subscribe PC's transport-cc feedback when due
 * (LOAD_TCC_INTERVAL_US), whether or not publishers still send. */
void participant_feedback_due(struct load_participant *p, int64_t now_us);

/* For the signaling dialects. */
int participant_send_json(struct load_participant *p, json_t *msg); /* steals msg */
void participant_joined(struct load_participant *p);
/* --turn: relays p's PCs through the first turn:ADDR[:PORT][?transport=udp]
 * of the join's ice_servers. 0, -EINVAL (no credentials), -ENOENT (no such URL). */
int participant_use_turn(struct load_participant *p, json_t *ice_servers);
/* Creates the publish transport and returns our offer (caller frees). */
char *participant_publish_offer(struct load_participant *p);
int participant_publish_answer(struct load_participant *p, const char *sdp);
/* Returns our answer to a subscribe offer (caller frees), or NULL. */
char *participant_subscribe_offer(struct load_participant *p, const char *sdp);
/* A remote candidate line ("candidate:..."), or NULL / "" for the end. */
void participant_remote_candidate(struct load_participant *p, enum pal_media_pc pc,
                                  const char *line);
/* Signaling may now carry our candidates for pc (flushes the queue). */
void participant_trickle_ready(struct load_participant *p, enum pal_media_pc pc);
void participant_fail(struct load_participant *p, bool media, const char *why);

#endif
