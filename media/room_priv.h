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

struct room_mix_input;
struct room_mix_output;

/* The room's mixer, media/room_mixer.c's alone: its inputs are consumers of
 * the publishers' producers whose sink pushes to the mixer thread, its
 * outputs producers that the mixed subscribers' consumers forward. */
struct room_mix {
    /* borrowed */
    struct pal_mixer_thread *thread; /* where the mixer runs; NULL: no mixing */
    /* owned */
    struct room_mix_input **inputs;
    struct room_mix_output *outputs;
    /* state */
    uint32_t id; /* on thread while an output is consumed, 0: stopped */
    struct pal_mixer_config cfg;
    size_t n_inputs, cap_inputs, n_outputs, cap_outputs;
    uint32_t next_id;
    uint8_t in[PAL_MEDIA_SCRATCH]; /* an output packet, parsed in place */
};

struct pal_room {
    /* owned */
    struct pal_room_peer **peers;
    struct room_mix mix;
    /* state */
    char name[PAL_MEDIA_ID_MAX];
    struct pal_room_listener l;
    size_t n_peers, cap_peers;
    int64_t last_nack_ms, last_report_ms, last_twcc_ms, last_speaker_ms, last_layers_ms;
    char speaker[PAL_MEDIA_ID_MAX];
    int speaker_level;
    struct pal_room_stats st;
    int64_t now_ms; /* the packet being routed arrived then (room_produce) */
    uint8_t scratch[PAL_MEDIA_SCRATCH];
    uint8_t rtcp[RTCP_BUF];
    uint32_t next_peer_num;
    struct pal_twcc_status tw_status[1024]; /* a subscriber's decoded feedback */
};

/* room.c: a keyframe request to prod's source for stream layer: its
 * publisher (throttled, coalesced), or the mixer; layer < 0: none. */
void room_request_keyframe(struct pal_room *r, struct pal_producer *prod, int layer,
                           int64_t now_ms);
/* room.c: one packet of prod (a publisher's, or a mixer output) through the
 * router: its bookkeeping, then its consumers. Returns 0, or -EPROTO /
 * -ENOENT: not prod's (pal_producer_on_packet), dropped. */
int room_produce(struct pal_room *r, struct pal_producer *prod, const struct pal_rtp_packet *pkt,
                 int64_t now_ms, int64_t now_us);

/* room_mixer.c: the mixer's side of the room's life. */
void room_mix_init(struct pal_room *r);
void room_mix_fini(struct pal_room *r);
/* The mixer's input consuming prod (p's), while the mixer runs and prod is
 * not blocked; and its removal (before prod goes). */
void room_mix_input_add(struct pal_room *r, struct pal_room_peer *p, struct pal_producer *prod);
void room_mix_input_remove(struct pal_room *r, struct pal_producer *prod);
/* The mixer output a consumer of (PAL_MEDIA_MIXER_ID, "audio" or "video")
 * for p will forward, into *prod (the mixer starts with the first). Returns 0,
 * -EINVAL (another mid), -ENOTSUP (no mixer thread), -ENOMEM, or the mixer
 * thread's error. */
int room_mix_output_add(struct pal_room *r, struct pal_room_peer *p, const struct pal_consumer *c,
                        struct pal_producer **prod);
/* prod lost a consumer: a mixer output nobody consumes any more goes (and
 * the mixer with the last). Anything else: nothing. */
void room_mix_output_release(struct pal_room *r, struct pal_producer *prod);
/* Whether prod is a mixer output; a video one is then asked a keyframe. */
bool room_mix_keyframe(struct pal_room *r, struct pal_producer *prod);
/* The outputs' rates (palabre/producer.h pal_producer_update_rates). */
void room_mix_update_rates(struct pal_room *r, int64_t now_ms);

#endif
