/* The router of one room: its participants (peers), each with a publish and
 * a subscribe PeerConnection (seen here only as sinks), their producers and
 * consumers. Fans out every received packet of a producer to its consumers,
 * answers NACKs from the consumers' rings, asks publishers for keyframes
 * (throttled and coalesced) when a subscriber starts or asks, sends RTCP
 * SR/RR, NACK and transport-cc feedback to publishers, and reports the
 * active speaker from the RFC 6464 audio levels.
 *
 * The room never sees a socket, a key or SDP: the transports hand it
 * decrypted packets and it hands them plaintext packets to protect and send
 * (struct pal_media_sink), so it runs in unit tests with in-memory sinks.
 *
 * Thread: a room is pinned to one media worker; every function runs there. */
#ifndef PALABRE_ROOM_H
#define PALABRE_ROOM_H

#include "palabre/common.h"
#include "palabre/consumer.h"
#include "palabre/media.h"
#include "palabre/rtp.h"

struct pal_room;
struct pal_room_peer;

struct pal_room_listener {
    void *ctx;
    /* The loudest participant changed (after hysteresis). */
    void (*on_room_active_speaker)(void *ctx, const char *room, const char *participant);
    /* A PLI/FIR was sent to the publisher (stats; may be NULL). */
    void (*on_room_keyframe_request)(void *ctx, const char *room, const char *participant);
    /* What subscriber gets of producer's video track mid changed while its
     * bandwidth holds it back (limited), or it no longer does (limited
     * false): layer -1 is paused (may be NULL). */
    void (*on_room_track_quality)(void *ctx, const char *room, const char *subscriber,
                                  const char *producer, const char *mid, int layer, bool limited);
};

struct pal_room_stats {
    uint64_t rtp_in, rtp_out, dropped_in;
    uint64_t rtcp_in, rtcp_out;
    uint64_t nack_in, retransmitted, nack_out;
    uint64_t pli_in, pli_out;
    /* now, over the consumers: simulcast layer switches since they were
     * created, video tracks forwarded to nobody because hidden */
    uint64_t layer_switches, paused_tracks;
    /* of which made for bandwidth (palabre/bwe_alloc.h); video tracks paused
     * because the subscriber's estimate is below their lowest layer */
    uint64_t layer_switches_bw, paused_tracks_bw;
    /* since the consumers were created: times one went down to a lower VP8
     * temporal layer (its subscriber congested, palabre/consumer.h) */
    uint64_t temporal_drops;
    /* now: subscribers with a bandwidth estimate (transport-cc feedback
     * came), their sum and the lowest, in bit/s (palabre/bwe.h) */
    uint64_t bwe_subscribers, bwe_sum_bps, bwe_min_bps;
    /* probe clusters started, padding bytes sent (palabre/bwe_probe.h) */
    uint64_t bwe_probes, bwe_padding_bytes;
};

/* l is copied. Returns 0, -EINVAL or -ENOMEM. */
int pal_room_create(const char *name, const struct pal_room_listener *l, struct pal_room **out);
/* Frees every peer, producer and consumer. */
void pal_room_destroy(struct pal_room *r);
const char *pal_room_name(const struct pal_room *r);
size_t pal_room_peer_count(const struct pal_room *r);
void pal_room_get_stats(const struct pal_room *r, struct pal_room_stats *out);

/* The room's mixer: a consumer whose producer is PAL_MEDIA_MIXER_ID ("audio"
 * or "video") forwards the mixer's output for that subscriber instead of a
 * published track: the mix of everyone but the subscriber (N-1), or the
 * composite of every published video. The mixer (palabre/mixer.h) is opened
 * on the room's mixer thread (palabre/mixer_thread.h) with the first such
 * consumer, fed a copy of every producer's packets (by a consumer of each
 * track: video from a keyframe on, one layer of a simulcast track), runs on
 * that thread's clock, and is closed with the last such consumer. Its
 * packets come back when the owner calls pal_mixer_thread_dispatch() and go
 * through a producer of their own to the consumer, as a publisher's do
 * (ring for NACK, rewrite, SR, SRTP by the sink, a share of the
 * subscriber's bandwidth estimate); a PLI/FIR on it asks the mixer for a
 * keyframe; a publisher's undecodable video gets a PLI. The room's clock
 * (now_ms) must be pal_now_ms(): the mixer thread's. */

/* The mixer thread (borrowed; it must outlive the room). Without one, a
 * mixer consumer is refused with -ENOTSUP. */
struct pal_mixer_thread;
void pal_room_set_mixer_thread(struct pal_room *r, struct pal_mixer_thread *t);
/* The mixer settings used from the next mixer start on (copied). */
struct pal_mixer_config;
void pal_room_set_mixer_config(struct pal_room *r, const struct pal_mixer_config *c);
/* Whether the mixer runs (tests, stats). */
bool pal_room_mixer_running(const struct pal_room *r);

/* Returns 0 (also if present), -EINVAL or -ENOMEM. */
int pal_room_peer_add(struct pal_room *r, const char *participant, struct pal_room_peer **out);
struct pal_room_peer *pal_room_peer_find(struct pal_room *r, const char *participant);
const char *pal_room_peer_id(const struct pal_room_peer *p);
/* Frees the peer's producers (their consumers in other peers stay, idle,
 * until removed), its consumers and the peer. -ENOENT if unknown. */
int pal_room_peer_remove(struct pal_room *r, const char *participant);

/* The sink of one of the peer's PeerConnections (copied into the peer;
 * NULL detaches it). Packets flow once pal_room_sink_ready() is called. */
void pal_room_set_sink(struct pal_room_peer *p, enum pal_media_pc pc,
                       const struct pal_media_sink *sink);
/* DTLS is done on that PC. For the subscribe PC: asks a keyframe of every
 * video track the peer consumes. */
void pal_room_sink_ready(struct pal_room *r, struct pal_room_peer *p, enum pal_media_pc pc,
                         int64_t now_ms);

/* Adds (or replaces, same mid) a published track. Consumers waiting for
 * (participant, mid) are linked to it. Returns 0, -EINVAL, -ENOMEM. */
int pal_room_producer_add(struct pal_room *r, struct pal_room_peer *p,
                          const struct pal_media_track *t, int64_t now_ms);
int pal_room_producer_remove(struct pal_room *r, struct pal_room_peer *p, const char *mid);
size_t pal_room_producer_count(const struct pal_room_peer *p);

/* A moderator's hard mute of one kind of p's tracks: while blocked, every
 * producer of that kind p has or adds later is still received (counted,
 * reported to the publisher, kept in its ring) but neither forwarded,
 * retransmitted, mixed, asked for keyframes nor taken as active speaker.
 * Lifted, its consumers resume without a sequence gap and video ones wait
 * for the keyframe asked at once. Returns 0 or -EINVAL (kind). */
int pal_room_block(struct pal_room *r, struct pal_room_peer *p, enum pal_media_kind kind,
                   bool blocked, int64_t now_ms);
bool pal_room_blocked(const struct pal_room_peer *p, enum pal_media_kind kind);
/* p's published tracks and their counters (palabre/media.h); at most cap.
 * Returns how many were written. */
size_t pal_room_track_stats(const struct pal_room_peer *p, struct pal_media_track_stats *out,
                            size_t cap);

/* Forwards (producer_pid, producer_mid) to subscriber p as track t (our
 * SSRC, PT and extension ids in p's subscribe PC). The producer may come
 * later. Replaces a consumer with the same mid. Returns 0, -EINVAL, -ENOMEM,
 * -ENOTSUP (a mixer consumer without a mixer thread). */
int pal_room_consumer_add(struct pal_room *r, struct pal_room_peer *p, const char *producer_pid,
                          const char *producer_mid, const struct pal_media_track *t,
                          int64_t now_ms);
int pal_room_consumer_remove(struct pal_room *r, struct pal_room_peer *p, const char *mid);
/* How p shows (producer_pid, producer_mid) (set_track_view): a hidden video
 * track is not forwarded; a simulcast one gets the smallest layer that fills
 * the view (palabre/simulcast.h), switched on that layer's keyframe (asked
 * at once). Kept across a producer change. Returns 0, or -ENOENT when p does
 * not consume that track. */
int pal_room_set_view(struct pal_room *r, struct pal_room_peer *p, const char *producer_pid,
                      const char *producer_mid, const struct pal_media_view *v, int64_t now_ms);
size_t pal_room_consumer_count(const struct pal_room_peer *p);

/* The transport's packet callbacks (struct pal_transport_listener, its
 * media_ctx: the room peer; palabre/transport.h parses each packet once),
 * on the clock pal_now_ms():
 * - accept_rtp, before SRTP decryption: the producer (opaque) the SSRC
 *   feeds, or NULL: drop it before libsrtp sees it. (Learns the SSRC of a
 *   track announced without a=ssrc from its mid extension.)
 * - on_rtp: a decrypted packet of that producer (as pal_room_on_rtp);
 * - on_publish_rtcp / on_subscribe_rtcp: as pal_room_on_rtcp. */
void *pal_room_peer_accept_rtp(void *peer, const struct pal_rtp_packet *hdr);
void pal_room_peer_on_rtp(void *peer, void *producer, const struct pal_rtp_packet *pkt);
void pal_room_peer_on_publish_rtcp(void *peer, uint8_t *buf, size_t len);
void pal_room_peer_on_subscribe_rtcp(void *peer, uint8_t *buf, size_t len);

/* A decrypted RTP packet from p's publish PC (buf is modified). */
void pal_room_on_rtp(struct pal_room *r, struct pal_room_peer *p, uint8_t *buf, size_t len,
                     int64_t now_ms);
/* A decrypted RTCP compound from one of p's PCs. */
void pal_room_on_rtcp(struct pal_room *r, struct pal_room_peer *p, enum pal_media_pc pc,
                      const uint8_t *buf, size_t len, int64_t now_ms);
/* Timers: NACK and PLI to publishers, SR/RR, transport-cc, active speaker
 * (the mixer ticks on its own thread). Call every ~20 ms or more often. */
void pal_room_tick(struct pal_room *r, int64_t now_ms);

#endif
