/* The video half of a room's mixer: per input a jitter buffer (reordering),
 * a VP8 depacketizer and decoder and the last good picture; one canvas
 * (default 1280x720 I420), one encode per tick shared by every output, and
 * the RFC 7741 packetizer.
 *
 * Nothing is composed before there is an input: the canvas is allocated with
 * the first input, the encoder at the first tick with inputs and outputs;
 * when the last input leaves, one blank frame is sent and both are freed
 * (outputs keep their RTP numbering; the next composite starts with a
 * keyframe). A mixer without video inputs holds no picture and its ticks
 * return at once (pal_video_mixer_busy() says when ticks are needed).
 *
 * Layouts by number of inputs: 1 full canvas; 2 side by side; 3-4 a 2x2
 * grid; 5-9 a 3x3 grid; over 9 the active speaker takes the top-left 3x3
 * cells of a 4x4 grid and the next 7 inputs the remaining cells. Pictures
 * keep their aspect ratio (black bands). A tile keeps its input's last good
 * picture; an input with no picture yet shows a dark grey placeholder. A
 * corrupt frame or a loss makes the input wait for a keyframe, asked through
 * on_keyframe_needed at most once per 500 ms (palabre/keyframe.h).
 *
 * Thread: one owner thread; listener calls happen inside push/tick calls. */
#ifndef PALABRE_MIXER_VIDEO_MIXER_H
#define PALABRE_MIXER_VIDEO_MIXER_H

#include "palabre/common.h"
#include "palabre/mixer/image.h"
#include "palabre/mixer/vp8_codec.h"

struct pal_video_mixer;

struct pal_video_mixer_config {
    uint8_t payload_type;
    struct pal_vp8_encoder_config vp8; /* canvas size, fps, bitrate, speed */
    size_t mtu;                        /* RTP payload bytes, 0: 1200 */
    uint32_t reorder_wait_ms;          /* how long a gap is waited for */
    uint32_t test_delay_ms;            /* tests only: each encode sleeps this long */
};

struct pal_video_mixer_listener {
    void *ctx;
    void (*on_output_packet)(void *ctx, uint32_t output_id, const uint8_t *rtp, size_t len);
    void (*on_keyframe_needed)(void *ctx, uint32_t input_id);
};

/* Cumulative cost split, nanoseconds of CLOCK_THREAD_CPUTIME_ID. */
struct pal_video_mixer_stats {
    uint64_t ticks, frames_decoded, decode_errors, keyframe_requests, frames_encoded,
        keyframes_encoded, packets_out, bytes_out;
    uint64_t ns_decode, ns_compose, ns_encode, ns_packetize;
    /* what the mixer holds now: 1 while a VP8 encoder exists; the canvas */
    uint64_t encoders, canvas_bytes;
};

int pal_video_mixer_create(const struct pal_video_mixer_config *c,
                           const struct pal_video_mixer_listener *l,
                           struct pal_video_mixer **out);
void pal_video_mixer_destroy(struct pal_video_mixer *vm);

int pal_video_mixer_add_input(struct pal_video_mixer *vm, uint32_t input_id,
                              uint32_t participant_id);
int pal_video_mixer_remove_input(struct pal_video_mixer *vm, uint32_t input_id);
bool pal_video_mixer_has_input(const struct pal_video_mixer *vm, uint32_t input_id);
int pal_video_mixer_add_output(struct pal_video_mixer *vm, uint32_t output_id, uint32_t ssrc);
int pal_video_mixer_remove_output(struct pal_video_mixer *vm, uint32_t output_id);
bool pal_video_mixer_has_output(const struct pal_video_mixer *vm, uint32_t output_id);
size_t pal_video_mixer_output_count(const struct pal_video_mixer *vm);

/* One VP8 RTP packet's fields for an input. Returns 0, -ENOENT or a jitter
 * error. */
int pal_video_mixer_push(struct pal_video_mixer *vm, uint32_t input_id, uint16_t seq,
                         uint32_t timestamp, bool marker, const uint8_t *payload, size_t len,
                         int64_t arrival_ms);

/* Decodes what arrived, composes, encodes one frame (when there are outputs)
 * and emits its packets. Returns packets emitted or -EIO. */
int pal_video_mixer_tick(struct pal_video_mixer *vm, int64_t now_ms);

/* Whether ticks have work: there are inputs, or a composite to end and free. */
bool pal_video_mixer_busy(const struct pal_video_mixer *vm);

/* A subscriber lost the picture (PLI/FIR): the next tick encodes a keyframe. */
void pal_video_mixer_request_keyframe(struct pal_video_mixer *vm);
/* Participant whose input gets the large tile when over 9 inputs (0: none). */
void pal_video_mixer_set_speaker(struct pal_video_mixer *vm, uint32_t participant_id);

/* The canvas after the last tick (borrowed; tests, diagnostics); its buf is
 * NULL while there are no inputs. */
const struct pal_image *pal_video_mixer_canvas(const struct pal_video_mixer *vm);
/* The tile of an input in the current layout; -ENOENT when not shown. */
int pal_video_mixer_tile(const struct pal_video_mixer *vm, uint32_t input_id, struct pal_rect *r);
void pal_video_mixer_get_stats(const struct pal_video_mixer *vm, struct pal_video_mixer_stats *st);

#endif
