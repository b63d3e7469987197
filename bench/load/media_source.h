/* What synthetic publishers send: real Opus and VP8 frames encoded once at
 * start with libopus / libvpx (mixer/opus_codec.c, mixer/vp8_codec.c), so
 * packet sizes, frame sizes and keyframes look like a camera's and a
 * microphone's, then replayed in a loop by every publisher (each from its own
 * offset), and a trailer appended to every RTP payload:
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                     magic "PLDT" (0x504C4454)                 |
 *   +---------------------------------------------------------------+
 *   |           source: participant index << 1 | video              |
 *   +---------------------------------------------------------------+
 *   |         counter: packets this source sent before this one     |
 *   +---------------------------------------------------------------+
 *   |                send time, CLOCK_MONOTONIC µs (64 bits)        |
 *   +---------------------------------------------------------------+
 *
 * An SFU forwards payloads unchanged, so the receiver (the same process, the
 * same clock) gets the one-way forwarding delay, and the counter gives loss
 * without depending on the sequence numbers the server rewrites.
 *
 * A silent publisher (scenario audio_speakers) sends what Opus DTX sends in
 * silence: one small frame (digital silence, encoded) every 400 ms, its RTP
 * timestamp advancing by 400 ms.
 *
 * Simulcast (scenario simulcast = 1): three GOPs, one per layer (rid q, h,
 * f: 1/4, 1/2 and full width and height), encoded from the same scene; a
 * publisher sends each from its own sender (its SSRC, sequence numbers and
 * VP8 picture ids, the rid in the sdes:rtp-stream-id extension), and the
 * trailer's source field carries the layer in bits 28-30.
 *
 * The video GOP is one keyframe followed by fps * keyframe_interval - 1
 * delta frames; a keyframe request (PLI) makes a sender jump to the next
 * GOP start.
 *
 * Thread: created before the loop starts, then read-only. */
#ifndef PALABRE_LOAD_MEDIA_SOURCE_H
#define PALABRE_LOAD_MEDIA_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "palabre/mixer/vp8_packetizer.h"
#include "scenario.h"

#define LOAD_TRAILER_SIZE 20
#define LOAD_TRAILER_MAGIC 0x504C4454u
#define LOAD_PT_OPUS 111
#define LOAD_PT_VP8 96
/* Room for the RTP header, payload, trailer and the SRTP tag. */
#define LOAD_PACKET_CAP 1600
/* Opus DTX: during silence, one frame every 400 ms (RFC 7587 section 3.1.3). */
#define LOAD_DTX_INTERVAL_US 400000
#define LOAD_MAX_LAYERS 3
#define LOAD_LAYER_SHIFT 28
#define LOAD_SOURCE_MASK 0x0fffffffu

struct load_frame {
    uint8_t *data;
    size_t len;
    bool keyframe;
};

struct load_media_source {
    /* owned */
    struct load_frame *opus; /* 1 s: 50 frames of 20 ms */
    struct load_frame opus_silence; /* a 20 ms frame of digital silence */
    struct load_frame *vp8[LOAD_MAX_LAYERS]; /* one GOP per layer, lowest first */
    /* state */
    size_t n_opus, n_vp8[LOAD_MAX_LAYERS];
    int n_layers; /* 1, or LOAD_MAX_LAYERS with simulcast */
    int fps;
};

/* Encodes the frames the scenario asks for. Returns 0, -ENOMEM or -EIO. */
int load_media_source_create(const struct load_scenario *s, struct load_media_source **out);
void load_media_source_destroy(struct load_media_source *m);

/* One outgoing track of a publisher. */
struct load_sender {
    uint32_t ssrc, source_id, counter;
    uint16_t seq;
    uint32_t timestamp;
    uint8_t pt, ext_mid_id, ext_rid_id;
    /* transport-cc: the extension id the publish answer gives it (0: none)
     * and the PeerConnection's transport-wide sequence number, shared by
     * its senders (borrowed: the participant's) */
    uint8_t ext_twcc_id;
    uint16_t *twcc_seq;
    char mid[8];
    char rid[4];            /* simulcast: q, h or f; "" for a single stream */
    uint8_t layer;          /* index in the source's vp8[] */
    bool video;
    bool dtx;               /* audio, silent: LOAD_DTX_INTERVAL_US between frames */
    size_t frame;           /* next frame index in the source loop */
    int64_t next_us;        /* when the next frame is due */
    int64_t interval_us;
    bool keyframe_wanted;
    struct pal_vp8_packetizer pk;
};

/* dtx: a silent audio sender (ignored for video). layer: the video layer
 * it sends (0 for audio and single-stream video). */
void load_sender_init(struct load_sender *s, const struct load_media_source *m, bool video, bool dtx,
                      int layer, uint32_t source_id, size_t start_frame);
/* The rid of layer l of m ("" without simulcast). */
const char *load_layer_rid(const struct load_media_source *m, int l);

/* Emits the frame due now: calls send for each RTP packet (built in a
 * buffer of LOAD_PACKET_CAP bytes that send may protect in place). Returns
 * packets sent. */
typedef int (*load_send_fn)(void *ctx, uint8_t *pkt, size_t len, size_t cap);
int load_sender_emit_frame(struct load_sender *s, const struct load_media_source *m,
                           load_send_fn send, void *ctx);

/* Reads the trailer of a received payload (source_id without the layer
 * bits, layer apart). Returns 0, or -EINVAL when the payload carries none. */
int load_trailer_read(const uint8_t *payload, size_t len, uint32_t *source_id, uint8_t *layer,
                      uint32_t *counter, int64_t *send_us);

#endif
