/* A producer: one track received on a participant's publish PeerConnection.
 * It keeps the receive statistics of the stream (for RTCP RR), the NACK
 * generator and the keyframe-request throttle (video), the audio level
 * (RFC 6464) and the list of consumers it fans out to (pal_producer_forward;
 * the room attaches and detaches them, never edits the list).
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
struct pal_rtx_buffer;
struct pal_simulcast_layer;

/* Opaque: only media/producer.c reads or edits a producer's state (its
 * consumer list above all); the room and the consumers use the calls
 * below. */
struct pal_producer;

/* What the producer learnt of one packet, for its consumers. */
struct pal_packet_info {
    int layer;     /* the stream: 0, or the simulcast layer */
    bool keyframe; /* it starts a VP8 keyframe */
    bool has_vp8;  /* vp8 holds its parsed payload descriptor */
    struct pal_vp8_desc vp8;
    int64_t recv_us; /* the worker's monotonic clock at its arrival, microseconds: the
                        send time the estimator gets for each forward (palabre/bwe.h) */
};

int pal_producer_create(const char *participant, const struct pal_media_track *t,
                        struct pal_producer **out);
/* Its consumers must have been unlinked first (pal_producer_unlink_all):
 * they would keep a dangling producer. */
void pal_producer_destroy(struct pal_producer *p);

/* Adds c (linked to p by pal_consumer_set_producer) to the consumers it
 * forwards to; once only. Returns 0 or -ENOMEM. */
int pal_producer_attach(struct pal_producer *p, struct pal_consumer *c);
/* Removes c from the list (nothing if it is not there). */
void pal_producer_detach(struct pal_producer *p, struct pal_consumer *c);
/* Unlinks every consumer (pal_consumer_set_producer NULL) and empties the
 * list: before destroying p, or when its track goes away. */
void pal_producer_unlink_all(struct pal_producer *p);
size_t pal_producer_consumer_count(const struct pal_producer *p);
/* A renegotiation replaces old by p: the track's counters go on, and the
 * SSRCs old learnt stay (the browser no longer sends the mid and rid
 * extensions once we have reported its streams). */
void pal_producer_inherit(struct pal_producer *p, const struct pal_producer *old);

const char *pal_producer_participant(const struct pal_producer *p);
/* The track as published (its SSRC once learnt). */
const struct pal_media_track *pal_producer_track(const struct pal_producer *p);
/* 1, or the number of simulcast layers. */
size_t pal_producer_stream_count(const struct pal_producer *p);
/* Stream i's SSRC (0: not known yet, or no such stream). */
uint32_t pal_producer_stream_ssrc(const struct pal_producer *p, size_t i);
/* Stream i's measured rate in bit/s (pal_producer_update_rates; 0: not
 * measured yet, or no such stream). */
uint32_t pal_producer_stream_bps(const struct pal_producer *p, size_t i);
/* Stream i's ring of received packets (its consumers answer NACKs from
 * it), or NULL if there is no such stream. */
struct pal_rtx_buffer *pal_producer_rtx(const struct pal_producer *p, size_t i);
/* Whether one of its streams has that SSRC. */
bool pal_producer_has_ssrc(const struct pal_producer *p, uint32_t ssrc);
/* A track announced without a=ssrc (and not simulcast): takes hdr's SSRC if
 * hdr's mid extension names it. Returns whether it did. */
bool pal_producer_learn_ssrc(struct pal_producer *p, const struct pal_rtp_packet *hdr);

/* Hard mute: received and counted (RR, NACK), never forwarded nor mixed.
 * Lifting it resumes its consumers (pal_consumer_resume at wall_us). */
bool pal_producer_blocked(const struct pal_producer *p);
void pal_producer_set_blocked(struct pal_producer *p, bool blocked, int64_t wall_us);
/* The room's mixer input fed by this track (0: none) and the stream it
 * decodes (simulcast: fixed when the input is added). */
uint32_t pal_producer_mixer_input(const struct pal_producer *p, int *layer);
void pal_producer_set_mixer_input(struct pal_producer *p, uint32_t id, int layer);
/* palabre/media.h's track stats: packets received, and sent to subscribers. */
void pal_producer_counters(const struct pal_producer *p, uint64_t *received, uint64_t *forwarded);

/* Whether a keyframe request (PLI) for stream layer should go to the
 * publisher now: video, not blocked, and past the throttle (the request
 * is counted; palabre/keyframe.h). */
bool pal_producer_keyframe_request(struct pal_producer *p, int layer, int64_t now_ms);
/* Whether a keyframe asked earlier is overdue and must be asked again now
 * (the room's tick; false while blocked). */
bool pal_producer_keyframe_poll(struct pal_producer *p, size_t layer, int64_t now_ms);
/* The sequence numbers of stream layer to NACK now, into seqs (at most
 * cap); 0 for audio or a stream whose SSRC is not known. */
size_t pal_producer_collect_nacks(struct pal_producer *p, size_t layer, int64_t now_ms,
                                  uint16_t *seqs, size_t cap);

/* Forwards one received packet (after pal_producer_on_packet) to each of
 * its consumers, the rewritten header going through scratch (at least
 * PAL_MEDIA_SCRATCH bytes, palabre/consumer.h). Returns how many were sent;
 * *want_keyframe tells whether a consumer waits for a keyframe of
 * info->layer (ask the publisher: throttled). Nothing while blocked. No
 * allocation. */
size_t pal_producer_forward(struct pal_producer *p, const struct pal_rtp_packet *pkt,
                            const struct pal_packet_info *info, uint8_t *scratch, size_t cap,
                            int64_t now_ms, bool *want_keyframe);

/* The stream an SSRC belongs to, or -1. A simulcast layer whose SSRC is not
 * known yet is learnt from the packet's rid extension (hdr: parsed header,
 * before decryption: extensions are not encrypted); a known layer takes a
 * new SSRC only after a second without packets (the browser restarted that
 * encoder), on pal_now_ms()'s clock. */
int pal_producer_stream_of(struct pal_producer *p, const struct pal_rtp_packet *hdr);

/* Bookkeeping of one received packet of stream info->layer (counted, kept
 * in its ring); fills the rest of info. Returns true if the NACK generator gave
 * up and a keyframe of that stream should be asked. */
bool pal_producer_on_packet(struct pal_producer *p, const struct pal_rtp_packet *pkt,
                            int64_t now_ms, struct pal_packet_info *info);
/* Measures each stream's rate since the last call (at least every 500 ms
 * apart to count): payload plus RTP/SRTP/UDP/IP overhead per packet,
 * smoothed. Called from the room's tick, not per packet. */
void pal_producer_update_rates(struct pal_producer *p, int64_t now_ms);
/* Layers (or the one stream) as pal_simulcast_choose wants them: active
 * means a packet within the last second. Returns n_streams. */
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
