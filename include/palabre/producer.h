/* A producer: one track received on a participant's publish PeerConnection.
 * It keeps the receive statistics of the stream (for RTCP RR), the NACK
 * generator and the keyframe-request throttle (video), the audio level
 * (RFC 6464) and the list of consumers it fans out to.
 *
 * Thread: the room's worker (create/destroy too). */
#ifndef PALABRE_PRODUCER_H
#define PALABRE_PRODUCER_H

#include "palabre/common.h"
#include "palabre/media.h"
#include "palabre/rtcp.h"
#include "palabre/rtp.h"
#include "palabre/vp8.h"

struct pal_consumer;
struct pal_nack;
struct pal_keyframe;
struct pal_rtx_buffer;

/* One RTP stream of the track: the track itself, or one simulcast layer
 * (its own SSRC, sequence numbers, losses and keyframes). */
struct pal_producer_stream {
    /* owned */
    struct pal_nack *nack;   /* video only */
    struct pal_keyframe *kf; /* video only */
    struct pal_rtx_buffer *rtx; /* the packets as received (by their seq):
                                   its consumers answer NACKs from it */
    /* state */
    uint32_t ssrc; /* 0 until known */
    struct pal_seq_unwrapper unwrap;
    int64_t base_ext, max_ext; /* extended seq of the first and highest packet */
    uint64_t received, octets;
    int64_t expected_prior, received_prior; /* at the last RR */
    double jitter;                          /* RFC 3550 A.8, in clock units */
    int64_t last_transit;
    bool have_transit;
    uint32_t last_sr_middle; /* LSR */
    int64_t last_sr_ms;      /* when it arrived */
    int64_t last_packet_ms;
    uint16_t width, height; /* video: from its last keyframe */
    /* its rate as a subscriber receives it (pal_producer_update_rates) */
    uint64_t rate_received, rate_octets; /* at the last update */
    int64_t rate_ms;
    uint32_t bps; /* smoothed, with per-packet overhead; 0: not measured yet */
};

/* What the producer learnt of one packet, for its consumers. */
struct pal_packet_info {
    int layer;     /* the stream: 0, or the simulcast layer */
    bool keyframe; /* it starts a VP8 keyframe */
    bool has_vp8;  /* vp8 holds its parsed payload descriptor */
    struct pal_vp8_desc vp8;
};

struct pal_producer {
    /* borrowed */
    struct pal_consumer **consumers; /* the array is owned, the consumers are not */
    /* owned: streams[i] */
    /* state */
    char participant[PAL_MEDIA_ID_MAX];
    struct pal_media_track track;
    size_t n_consumers, cap_consumers;
    size_t n_streams; /* 1, or track.n_layers */
    struct pal_producer_stream streams[PAL_MEDIA_MAX_LAYERS];
    uint32_t level_sum, level_count; /* audio: loudness 0..127 (127 = loudest) */
    int64_t last_packet_ms;
    uint32_t mixer_input; /* the room's mixer input fed by this track, 0: none */
    int mixer_layer;      /* the layer the mixer decodes (simulcast: fixed at input add) */
    bool blocked;         /* hard mute: received and counted, never forwarded nor mixed */
    uint64_t packets_received, packets_forwarded; /* palabre/media.h's track stats */
};

int pal_producer_create(const char *participant, const struct pal_media_track *t,
                        struct pal_producer **out);
/* The consumers must have been detached first (pal_consumer_set_producer NULL). */
void pal_producer_destroy(struct pal_producer *p);

int pal_producer_attach(struct pal_producer *p, struct pal_consumer *c);
void pal_producer_detach(struct pal_producer *p, struct pal_consumer *c);

/* The stream an SSRC belongs to, or -1. A simulcast layer whose SSRC is not
 * known yet is learnt from the packet's rid extension (hdr: parsed header,
 * before decryption: extensions are not encrypted); a known layer takes a
 * new SSRC only after a second without packets (the browser restarted that
 * encoder), on pal_now_ms()'s clock. */
int pal_producer_stream_of(struct pal_producer *p, const struct pal_rtp_packet *hdr);

/* Bookkeeping of one received packet of stream info->layer (kept in its
 * ring); fills the rest of info. Returns true if the NACK generator gave
 * up and a keyframe of that stream should be asked. */
bool pal_producer_on_packet(struct pal_producer *p, const struct pal_rtp_packet *pkt,
                            int64_t now_ms, struct pal_packet_info *info);
/* Measures each stream's rate since the last call (at least every 500 ms
 * apart to count): payload plus RTP/SRTP/UDP/IP overhead per packet,
 * smoothed. Called from the room's tick, not per packet. */
void pal_producer_update_rates(struct pal_producer *p, int64_t now_ms);
/* Layers (or the one stream) as pal_simulcast_choose wants them: active
 * means a packet within the last second. Returns n_streams. */
struct pal_simulcast_layer;
size_t pal_producer_layers(const struct pal_producer *p, int64_t now_ms,
                           struct pal_simulcast_layer *out);
void pal_producer_on_sr(struct pal_producer *p, uint32_t ssrc, uint64_t ntp, int64_t now_ms);
/* Fills the RR report block of stream i; false before any packet. */
bool pal_producer_report_block(struct pal_producer *p, size_t i, int64_t now_ms,
                               struct pal_rtcp_report_block *rb);
/* Mean loudness since the last call (0..127, 127 = loudest), or -1 if no
 * level was received. Resets the accumulator. */
int pal_producer_take_level(struct pal_producer *p);

#endif
