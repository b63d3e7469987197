/* Inside the room (media/room.c, the router) and its mixer adapter
 * (media/room_mixer.c): the room's state and what each calls of the other.
 * Not a public header: everything else goes through palabre/room.h.
 *
 * Thread: the room's worker. */
#ifndef PALABRE_MEDIA_ROOM_PRIV_H
#define PALABRE_MEDIA_ROOM_PRIV_H

#include "palabre/bwe_probe.h"
#include "palabre/consumer.h"
#include "palabre/mixer.h"
#include "palabre/room.h"
#include "palabre/srtp.h"
#include "palabre/twcc.h"

#define RTCP_BUF (PAL_RTP_MAX_PACKET + PAL_SRTP_MAX_TRAILER)

struct pal_bwe;
struct pal_producer;
struct pal_twcc;

struct pal_room_peer {
    /* borrowed */
    struct pal_room *room; /* its room: the transports call the peer directly */
    /* owned */
    struct pal_producer *producers[PAL_MEDIA_MAX_TRACKS];
    struct pal_consumer **consumers;
    struct pal_twcc *twcc;
    struct pal_bwe *bwe; /* the subscribe PC's send side: numbering, estimate */
    struct pal_bwe_probe probe; /* padding clusters on the subscribe PC (tick_budget) */
    uint32_t media_bps;         /* what the subscribe PC sends, from its producers' rates */
    /* state */
    char id[PAL_MEDIA_ID_MAX];
    struct pal_media_sink sinks[2];
    size_t n_producers;
    size_t n_consumers, cap_consumers;
    uint8_t twcc_ext;
    uint32_t rtcp_ssrc; /* sender SSRC of the RTCP we send to this peer */
    uint32_t num;       /* the mixer's participant id (N-1), never 0 */
    bool blocked[2];    /* hard mute, by enum pal_media_kind: its producers inherit it */
};

struct pal_room {
    /* borrowed */
    struct pal_mixer_thread *mix_thread; /* where the mixer runs; NULL: no mixing */
    /* owned */
    struct pal_room_peer **peers;
    uint32_t mixer;                      /* its id on mix_thread while a consumer forwards it */
    struct pal_consumer **mix_consumers; /* the array; consumers are their peers' */
    /* state */
    char name[PAL_MEDIA_ID_MAX];
    struct pal_room_listener l;
    size_t n_peers, cap_peers;
    int64_t last_nack_ms, last_report_ms, last_twcc_ms, last_speaker_ms, last_layers_ms;
    char speaker[PAL_MEDIA_ID_MAX];
    int speaker_level;
    struct pal_room_stats st;
    uint8_t scratch[PAL_MEDIA_SCRATCH];
    uint8_t rtcp[RTCP_BUF];
    /* mixer */
    struct pal_mixer_config mix_cfg;
    size_t n_mix_consumers, cap_mix_consumers;
    uint32_t next_peer_num, next_mix_id;
    int mix_level_ext;                 /* -1: no audio input yet; 0: publishers disagree, ignored */
    uint8_t mix_in[PAL_MEDIA_SCRATCH]; /* a mixer packet, parsed in place */
    struct pal_twcc_status tw_status[1024]; /* a subscriber's decoded feedback */
};

/* room.c: a keyframe request to prod's publisher for stream layer
 * (throttled, coalesced; layer < 0: none). */
void room_request_keyframe(struct pal_room *r, struct pal_producer *prod, int layer,
                           int64_t now_ms);

/* room_mixer.c: the mixer's side of the room's life, producers and consumers. */
void room_mix_init(struct pal_room *r);
void room_mix_fini(struct pal_room *r);
/* A producer's packet to its mixer input (r->mixer set, input_id from
 * pal_producer_mixer_input). */
void room_mix_push(struct pal_room *r, uint32_t input_id, const struct pal_rtp_packet *pkt,
                   int64_t now_ms);
void room_mix_input_add(struct pal_room *r, struct pal_room_peer *p, struct pal_producer *prod);
void room_mix_input_remove(struct pal_room *r, struct pal_producer *prod);
/* A consumer of PAL_MEDIA_MIXER_ID: starts the mixer with the first one. */
int room_mix_output_add(struct pal_room *r, struct pal_room_peer *p, struct pal_consumer *c);
void room_mix_output_remove(struct pal_room *r, struct pal_consumer *c);
/* A subscriber of the composite lost the picture (PLI/FIR) or starts. */
void room_mix_keyframe(struct pal_room *r, struct pal_consumer *c);

#endif
