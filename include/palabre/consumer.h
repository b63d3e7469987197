/* A consumer: one published track forwarded to one subscriber's subscribe
 * PeerConnection. It rewrites what must change for that subscriber (SSRC,
 * sequence number, timestamp, payload type, extension ids), keeps what it
 * sent answerable to NACKs (rewritten again from its producer's ring, or
 * from its own ring for a mixer output), holds video back until a
 * keyframe when it starts, and writes its RTCP sender reports.
 *
 * No allocation per packet, one copy of the payload per subscriber: only
 * the header is rewritten (into a caller scratch buffer), and the sink's
 * SRTP reads the payload where it was received and writes the datagram it
 * sends (the cipher makes the copy). The ring slots are preallocated, one
 * ring per published stream (palabre/rtx_buffer.h) instead of one per
 * subscriber: 10 times less memory in a room of 10.
 *
 * Thread: the room's worker (create/destroy too). */
#ifndef PALABRE_CONSUMER_H
#define PALABRE_CONSUMER_H

#include "palabre/bwe_alloc.h"
#include "palabre/common.h"
#include "palabre/media.h"
#include "palabre/rtp.h"

struct pal_bwe;
struct pal_rtx_buffer;
struct pal_producer;

/* The send side of a PeerConnection (its transport, or a test double).
 * send_rtp: one plaintext RTP packet in two parts, its header (hdr_len
 * bytes) then its payload and padding (body, where it was received): the
 * sink protects them into the datagram it sends. send_rtcp: buf holds len
 * plaintext bytes and has cap >= len + PAL_SRTP_MAX_TRAILER: the sink
 * protects in place and sends. Both return 0 or a negative errno. */
struct pal_media_sink {
    void *ctx;
    int (*send_rtp)(void *ctx, const uint8_t *hdr, size_t hdr_len, const uint8_t *body,
                    size_t body_len);
    int (*send_rtcp)(void *ctx, uint8_t *buf, size_t len, size_t cap);
    bool ready; /* DTLS done: packets may flow */
};

/* Scratch buffers handed to forward/retransmit (a rewritten header) must
 * be at least this big. */
#define PAL_MEDIA_SCRATCH (PAL_RTP_MAX_PACKET + PAL_SRTP_MAX_TRAILER)

struct pal_consumer {
    /* borrowed */
    struct pal_producer *producer;     /* NULL while the producer is absent */
    const struct pal_media_sink *sink; /* the subscriber's subscribe PC */
    struct pal_bwe *bwe; /* its transport-wide numbering and estimate (NULL: none) */
    /* owned */
    struct pal_rtx_buffer *own_rtx; /* a mixer output's packets; NULL for a
                                       producer's track (its ring is shared) */
    /* state */
    char subscriber[PAL_MEDIA_ID_MAX];
    char producer_pid[PAL_MEDIA_ID_MAX];
    char producer_mid[PAL_MEDIA_MID_MAX];
    struct pal_media_track track; /* as offered to the subscriber */
    struct pal_rtp_ext_map ext_map;
    bool started;         /* a first packet went out: offsets are fixed */
    bool wait_keyframe;   /* video: drop until a keyframe starts */
    uint16_t seq_offset;  /* out = in + offset */
    uint32_t ts_offset;
    uint16_t first_seq;   /* our first sequence number (< 2^15) */
    uint32_t first_ts;
    uint16_t last_seq;    /* last sent (out numbering) */
    uint32_t last_ts;
    int64_t last_ts_wall_us; /* wall clock when last_ts was sent (for SR) */
    uint64_t packets, octets, retransmitted, nack_misses;
    uint32_t mixer_output; /* forwards the room's mixer output (producer_pid
                              PAL_MEDIA_MIXER_ID), 0: an ordinary track */
    /* Which of the producer's streams (palabre/simulcast.h): layer is the
     * one forwarded (-1: none yet, or stopped), target the one wanted (-1:
     * none, the subscriber hides the track). A switch happens on a keyframe
     * of the target; until then the current layer goes on. */
    int layer, target;
    struct pal_media_view view; /* as the subscriber last told (set_track_view) */
    bool has_view;
    /* Simulcast: the VP8 picture id and TL0PICIDX made continuous across
     * layers (each layer's encoder numbers its own pictures). */
    bool vp8_rewrite;
    bool have_pic, have_tl0;
    uint16_t pic_offset, last_pic;
    uint8_t tl0_offset, last_tl0;
    uint64_t layer_switches;
    /* Bandwidth (palabre/bwe_alloc.h): want is the layer the view asks,
     * alloc caps it. A switch the view did not ask is counted as
     * bandwidth's (target_bw). reported_*: what the subscriber was last told
     * (track_quality), reported_layer -2: nothing yet. */
    struct pal_bwe_alloc alloc;
    int want;
    bool target_bw;
    uint64_t layer_switches_bw;
    int reported_layer;
    bool reported_limited;
};

/* sink: borrowed, must outlive the consumer. Returns 0, -EINVAL, -ENOMEM. */
int pal_consumer_create(const char *subscriber, const char *producer_pid, const char *producer_mid,
                        const struct pal_media_track *track, const struct pal_media_sink *sink,
                        struct pal_consumer **out);
void pal_consumer_destroy(struct pal_consumer *c);

/* Links to its producer (computes the extension id map) or unlinks (NULL).
 * Linking again restarts the stream (new offsets, wait for a keyframe). */
void pal_consumer_set_producer(struct pal_consumer *c, struct pal_producer *p);
/* The source resumes after a pause (a hard mute lifted): the subscriber
 * sees no sequence gap (nothing to NACK, nothing lost), timestamps advance
 * by the wall time of the pause (its jitter buffer stays right), and video
 * waits for a keyframe (the deltas in between are gone). */
void pal_consumer_resume(struct pal_consumer *c, int64_t wall_us);

/* The stream to forward from now on (-1: none, e.g. a hidden tile). The
 * switch itself waits for a keyframe of that layer, and the subscriber sees
 * one stream: sequence numbers and (simulcast) picture ids go on from the
 * last sent, timestamps advance by the wall time since. Returns true when a
 * keyframe of layer is needed (ask the publisher). */
bool pal_consumer_set_target(struct pal_consumer *c, int layer);

/* Forwards one received packet of stream info->layer (info->keyframe: it
 * starts a VP8 keyframe; info->vp8 its descriptor when has_vp8). Returns 0
 * (sent), 1 (held back: not ready, another layer, waiting for a keyframe)
 * or a negative errno from the sink. */
struct pal_packet_info;
int pal_consumer_forward(struct pal_consumer *c, const struct pal_rtp_packet *pkt,
                         const struct pal_packet_info *info, uint8_t *scratch, size_t cap,
                         int64_t now_ms, int64_t wall_us);
/* Resends seq (out numbering) from the ring. Returns 0, -ENOENT (not kept
 * any more) or a sink error. */
int pal_consumer_retransmit(struct pal_consumer *c, uint16_t seq, uint8_t *scratch, size_t cap,
                            int64_t now_ms);
/* Writes an RTCP SR for this stream. Returns 0, -EAGAIN (nothing sent yet)
 * or -ENOSPC. */
int pal_consumer_write_sr(const struct pal_consumer *c, int64_t wall_us, uint8_t *out, size_t cap,
                          size_t *len);

#endif
