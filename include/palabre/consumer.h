/* A consumer: one producer's track (palabre/producer.h: a publisher's, or a
 * mixer output) forwarded to one subscriber's subscribe PeerConnection, or
 * to the room's mixer (an input: its sink pushes to the mixer thread). It
 * rewrites what must change for that subscriber (SSRC, sequence number,
 * timestamp, payload type, extension ids), keeps what it sent answerable to
 * NACKs (rewritten again from its producer's ring), holds video back until
 * a keyframe when it starts, and writes its RTCP sender reports.
 *
 * No allocation per packet, one copy of the payload per subscriber: only
 * the header is rewritten (into a caller scratch buffer), and the sink's
 * SRTP reads the payload where it was received and writes the datagram it
 * sends (its cipher makes that copy). The other copy is per received
 * packet, not per subscriber: the producer's ring (palabre/rtx_buffer.h),
 * one per published stream instead of one per subscriber (10 times less
 * memory in a room of 10), its slots preallocated.
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
 * protects in place and sends. Both return 0 or a negative errno; send_rtp
 * may also return PAL_CONSUMER_LOCAL: the packet went to a consumer inside
 * the process (the room's mixer), not on the network (not counted as sent). */
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

/* Opaque: only media/consumer.c reads or edits a consumer's state. */
struct pal_consumer;

/* pal_consumer_forward's results besides a sink error: sent; held back
 * (not ready, another layer, hidden, a temporal layer dropped); held back
 * until a keyframe of the
 * packet's layer (ask the publisher for one). */
#define PAL_CONSUMER_SENT 0
#define PAL_CONSUMER_HELD 1
#define PAL_CONSUMER_WANTS_KEYFRAME 2
#define PAL_CONSUMER_LOCAL 3 /* a sink's answer: handed over inside the process */

/* sink: borrowed, must outlive the consumer. Returns 0, -EINVAL, -ENOMEM. */
int pal_consumer_create(const char *subscriber, const char *producer_pid, const char *producer_mid,
                        const struct pal_media_track *track, const struct pal_media_sink *sink,
                        struct pal_consumer **out);
void pal_consumer_destroy(struct pal_consumer *c);

const char *pal_consumer_subscriber(const struct pal_consumer *c);
/* The participant and mid of the track it forwards (PAL_MEDIA_MIXER_ID and
 * "audio"/"video" for the room's mix). */
const char *pal_consumer_producer_pid(const struct pal_consumer *c);
const char *pal_consumer_producer_mid(const struct pal_consumer *c);
/* The track as offered to the subscriber (its mid, kind, SSRC). */
const struct pal_media_track *pal_consumer_track(const struct pal_consumer *c);
/* Its producer, NULL while the producer is absent. */
struct pal_producer *pal_consumer_producer(const struct pal_consumer *c);
/* The subscriber's transport-wide numbering and estimate (NULL: none),
 * borrowed: it must outlive the consumer. */
void pal_consumer_set_bwe(struct pal_consumer *c, struct pal_bwe *bwe);
/* Layer switches so far, all of them and those bandwidth made. */
void pal_consumer_switches(const struct pal_consumer *c, uint64_t *all, uint64_t *bw);

/* Links to its producer (computes the extension id map) or unlinks (NULL).
 * Linking again restarts the stream (new offsets, wait for a keyframe). */
void pal_consumer_set_producer(struct pal_consumer *c, struct pal_producer *p);
/* The source resumes after a pause (a hard mute lifted): the subscriber
 * sees no sequence gap (nothing to NACK, nothing lost), timestamps advance
 * by the wall time of the pause (its jitter buffer stays right), and video
 * waits for a keyframe (the deltas in between are gone). */
void pal_consumer_resume(struct pal_consumer *c, int64_t wall_us);

/* How the subscriber shows the track (set_track_view); before it tells, as
 * big as can be (the best layer). */
void pal_consumer_set_view(struct pal_consumer *c, const struct pal_media_view *v);
const struct pal_media_view *pal_consumer_view(const struct pal_consumer *c);

/* Which of the producer's streams (palabre/simulcast.h): the one
 * forwarded (-1: none yet, or stopped) and the one wanted (-1: none, the
 * subscriber hides the track). A switch happens on a keyframe of the
 * target; until then the current layer goes on. */
int pal_consumer_layer(const struct pal_consumer *c);
int pal_consumer_target(const struct pal_consumer *c);
/* The stream to ask a keyframe of: the one it forwards, else the one it
 * waits for (-1: none). */
int pal_consumer_keyframe_layer(const struct pal_consumer *c);

/* Bandwidth (palabre/bwe_alloc.h): the allocator the room steps, owned by
 * the consumer. */
struct pal_bwe_alloc *pal_consumer_alloc(struct pal_consumer *c);
/* The layer the view asked at the last pal_consumer_choose (-1: none). */
int pal_consumer_want(const struct pal_consumer *c);
/* The room's choice: want is the layer the view asks, target that capped
 * by bandwidth; a switch the view did not ask is counted as bandwidth's.
 * Returns pal_consumer_set_target's answer (a keyframe to ask). */
bool pal_consumer_choose(struct pal_consumer *c, int want, int target);
/* Whether the subscriber must be told (track_quality) that bandwidth holds
 * the track back at target (limited), changes its layer meanwhile, or lets
 * it go; what the view does, the subscriber asked. Remembers what it was
 * last told. */
bool pal_consumer_report_quality(struct pal_consumer *c, int target, bool limited);

/* The stream to forward from now on (-1: none, e.g. a hidden tile). The
 * switch itself waits for a keyframe of that layer, and the subscriber sees
 * one stream: sequence numbers and (simulcast) picture ids go on from the
 * last sent, timestamps advance by the wall time since. Returns true when a
 * keyframe of layer is needed (ask the publisher). */
bool pal_consumer_set_target(struct pal_consumer *c, int layer);

/* Temporal layers (VP8 TID, RFC 7741 4.2): the highest TID forwarded, 0..2,
 * or PAL_CONSUMER_TEMPORAL_ALL (the default: nothing is dropped). Packets of
 * a higher TID are dropped without leaving a trace the subscriber sees:
 * sequence numbers and picture ids skip them (a NACK still finds the packet
 * it names), TL0PICIDX needs nothing (TL0 frames always go). Down takes
 * effect at the next frame start (a frame is never cut in half); up one
 * layer at a time, at a layer-sync frame (Y) of the next layer, which uses
 * only TL0 as reference, or at once on a keyframe: a frame of the layer
 * that is not a sync frame may reference frames of it that were dropped. */
#define PAL_CONSUMER_TEMPORAL_ALL 3
void pal_consumer_set_max_temporal(struct pal_consumer *c, int tid);
/* The highest TID asked (pal_consumer_set_max_temporal), and the one in
 * effect (it follows at a frame start or a sync frame). */
int pal_consumer_max_temporal(const struct pal_consumer *c);
int pal_consumer_temporal(const struct pal_consumer *c);
/* Times the temporal layer in effect went down (a higher TID dropped). */
uint64_t pal_consumer_temporal_drops(const struct pal_consumer *c);

/* Forwards one received packet of stream info->layer (info->keyframe: it
 * starts a VP8 keyframe; info->vp8 its descriptor when has_vp8). Returns
 * PAL_CONSUMER_SENT, PAL_CONSUMER_HELD (not ready, another layer, hidden,
 * a temporal layer above the one in effect), PAL_CONSUMER_WANTS_KEYFRAME
 * (held until a keyframe of info->layer), or what the sink answered:
 * PAL_CONSUMER_LOCAL or a negative errno. */
struct pal_packet_info;
int pal_consumer_forward(struct pal_consumer *c, const struct pal_rtp_packet *pkt,
                         const struct pal_packet_info *info, uint8_t *scratch, size_t cap,
                         int64_t now_ms, int64_t wall_us);
/* Resends seq (out numbering) from the ring. Returns 0, -ENOENT (not kept
 * any more) or a sink error. */
int pal_consumer_retransmit(struct pal_consumer *c, uint16_t seq, uint8_t *scratch, size_t cap,
                            int64_t now_ms);

/* Runs of dropped packets (temporal layers) and of padding a NACK may still
 * reach across (pal_consumer_retransmit); older ones are forgotten. */
#define PAL_CONSUMER_MAP_RUNS 64

/* Sends about bytes of padding-only packets (RFC 3550 5.1: the padding bit,
 * no payload, at most 255 bytes each) on the track's SSRC and payload type
 * with the last sent timestamp, numbered after the last packet sent (the
 * packets forwarded next follow them: the subscriber sees no gap), each
 * with our transport-wide sequence number (palabre/bwe.h, sent at now_us)
 * and protected by the sink as every packet: a probe of the link
 * (palabre/bwe_probe.h). A NACK for one of them is not answered. Returns
 * the bytes of padding sent, -EAGAIN when this consumer cannot carry
 * padding (not ready, audio, no transport-cc, nothing sent
 * yet) or a sink error. */
int pal_consumer_send_padding(struct pal_consumer *c, size_t bytes, int64_t now_us);

/* Writes an RTCP SR for this stream. Returns 0, -EAGAIN (nothing sent yet)
 * or -ENOSPC. */
int pal_consumer_write_sr(const struct pal_consumer *c, int64_t wall_us, uint8_t *out, size_t cap,
                          size_t *len);

#endif
