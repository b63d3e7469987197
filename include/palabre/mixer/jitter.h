/* Jitter buffer for one mixer input: puts RTP packets back in sequence order,
 * drops duplicates and late packets, survives 16-bit sequence wrap, and hands
 * them out on the mixer's clock.
 *
 * Two ways to read it:
 * - audio (frame_ms > 0): pal_jitter_pop_frame() once per tick gives the next
 *   20 ms frame, or says it is lost (the caller runs Opus PLC, or FEC from the
 *   next packet, which pal_jitter_pop_frame() points to when it is buffered),
 *   or says the input is idle (nothing to play).
 * - video (frame_ms == 0): pal_jitter_pop_packet() gives packets in order; a
 *   gap is waited for up to max_delay_ms, then skipped and reported as lost.
 *
 * Depth (audio): playout starts once `target` frames are buffered. The target
 * adapts between min_delay_ms and max_delay_ms: frame_ms + 2 x the RFC 3550
 * interarrival jitter, rounded to whole frames, plus one frame for 5 s
 * after a loss (so that the next packet, carrying FEC, is there in time).
 * When the target grows during playout, one concealed frame per added frame
 * is played without consuming a packet (a stretch, reported as LOST with no
 * next packet), which deepens the buffer. A buffer deeper than
 * max_delay_ms drops its oldest frames; after 5 consecutive underruns the
 * input goes idle and rebuffers to the current target.
 *
 * Fixed memory: `capacity` slots (power of two) of PAL_JITTER_MAX_PAYLOAD
 * bytes, allocated at creation; no allocation per packet.
 * Thread: one owner thread (the mixer's). */
#ifndef PALABRE_MIXER_JITTER_H
#define PALABRE_MIXER_JITTER_H

#include "palabre/common.h"

#define PAL_JITTER_MAX_PAYLOAD 1500

struct pal_jitter;

struct pal_jitter_config {
    uint32_t clock_rate;  /* RTP clock: 48000 (Opus), 90000 (VP8) */
    uint32_t frame_ms;    /* audio frame duration; 0 for video (packet mode) */
    uint32_t min_delay_ms; /* audio: lowest target depth (>= frame_ms) */
    uint32_t max_delay_ms; /* audio: deepest buffer; video: longest wait for a gap */
    uint32_t capacity;    /* slots, power of two, 2..4096 */
};

/* A packet handed out; payload points into the buffer and stays valid until
 * the next push or pop. */
struct pal_jitter_packet {
    const uint8_t *payload;
    size_t len;
    uint64_t seq; /* extended (unwrapped) sequence number */
    uint32_t timestamp;
    bool marker;
};

enum pal_jitter_result {
    PAL_JITTER_FRAME = 1, /* out holds the next packet */
    PAL_JITTER_LOST,      /* audio: this frame is missing; out->payload is the next
                             packet (for FEC) or NULL */
    PAL_JITTER_EMPTY,     /* nothing to play now (buffering, idle, or waiting) */
};

struct pal_jitter_stats {
    uint64_t received, duplicates, late, lost, overflow_dropped, underruns, stretched;
    uint32_t target_ms;   /* current audio target depth */
    double jitter_ms;     /* RFC 3550 interarrival jitter estimate */
};

/* Returns 0, -EINVAL (bad config) or -ENOMEM. */
int pal_jitter_create(const struct pal_jitter_config *cfg, struct pal_jitter **out);
void pal_jitter_destroy(struct pal_jitter *jb);

/* Stores a copy of one packet's payload. Returns 0, -EALREADY (duplicate),
 * -ESTALE (its playout time has passed), -EMSGSIZE (payload too large). A
 * packet far ahead (more than capacity) restarts the buffer from it. */
int pal_jitter_push(struct pal_jitter *jb, uint16_t seq, uint32_t timestamp, bool marker,
                    const uint8_t *payload, size_t len, int64_t arrival_ms);

/* Audio mode: one call per frame_ms tick. Returns a pal_jitter_result. */
int pal_jitter_pop_frame(struct pal_jitter *jb, struct pal_jitter_packet *out);

/* Video mode: next in-order packet. *lost receives how many sequence numbers
 * were skipped before it (0 normally). Returns PAL_JITTER_FRAME or
 * PAL_JITTER_EMPTY. */
int pal_jitter_pop_packet(struct pal_jitter *jb, int64_t now_ms, struct pal_jitter_packet *out,
                          uint32_t *lost);

void pal_jitter_get_stats(const struct pal_jitter *jb, struct pal_jitter_stats *st);

#endif
