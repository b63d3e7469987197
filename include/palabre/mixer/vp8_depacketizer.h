/* VP8 frame assembly from RTP payloads (RFC 7741 section 4), for the mixer's
 * decoders. Payloads arrive in sequence order (from the jitter buffer) with
 * the count of sequence numbers lost before each; the descriptor itself is
 * parsed by pal_vp8_parse() (palabre/vp8.h, shared with the SFU).
 *
 * A frame starts with S=1, PID=0, collects the following packets with the
 * same RTP timestamp, and completes on the marker bit. On loss, on a frame
 * missing its start or its end, or on a descriptor that does not parse, the
 * frame in progress is dropped, the depacketizer waits for a keyframe (P bit
 * of the VP8 payload header is 0) and calls on_keyframe_needed.
 *
 * Thread: one owner thread (the mixer's). */
#ifndef PALABRE_MIXER_VP8_DEPACKETIZER_H
#define PALABRE_MIXER_VP8_DEPACKETIZER_H

#include "palabre/common.h"

/* Frames larger than this are dropped (a 1080p keyframe is well below). */
#define PAL_VP8_MAX_FRAME (1 << 20)

struct pal_vp8_depacketizer_listener {
    void *ctx;
    /* A complete frame; frame is valid during the call only. */
    void (*on_frame_complete)(void *ctx, const uint8_t *frame, size_t len, uint32_t timestamp,
                              bool keyframe);
    /* Decoding cannot go on without a keyframe (loss, bad packet). */
    void (*on_keyframe_needed)(void *ctx);
};

struct pal_vp8_depacketizer_stats {
    uint64_t frames, keyframes, dropped_frames, bad_packets, keyframe_requests;
};

struct pal_vp8_depacketizer;

/* Returns 0, -EINVAL or -ENOMEM. */
int pal_vp8_depacketizer_create(const struct pal_vp8_depacketizer_listener *l,
                                struct pal_vp8_depacketizer **out);
void pal_vp8_depacketizer_destroy(struct pal_vp8_depacketizer *d);

/* Feeds one RTP payload (descriptor + VP8 data). lost_before: sequence
 * numbers skipped just before this packet. Returns 0, or -EINVAL for a bad
 * descriptor / -EMSGSIZE for an oversized frame (both also drop the frame in
 * progress and ask for a keyframe). */
int pal_vp8_depacketizer_push(struct pal_vp8_depacketizer *d, const uint8_t *payload, size_t len,
                              uint32_t timestamp, bool marker, uint32_t lost_before);

/* True while frames are dropped until the next keyframe. */
bool pal_vp8_depacketizer_waiting_keyframe(const struct pal_vp8_depacketizer *d);
void pal_vp8_depacketizer_get_stats(const struct pal_vp8_depacketizer *d,
                                    struct pal_vp8_depacketizer_stats *st);

#endif
