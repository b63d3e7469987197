/* VP8 for the video mixer: a decoder per input and the composite's encoder,
 * thin wrappers over libvpx with WebRTC-like realtime settings (CBR, no lag,
 * error resilient, cpu-used -8 by default, one thread).
 *
 * Thread: each handle belongs to one thread at a time. */
#ifndef PALABRE_MIXER_VP8_CODEC_H
#define PALABRE_MIXER_VP8_CODEC_H

#include "palabre/common.h"
#include "palabre/mixer/image.h"

struct pal_vp8_decoder;
struct pal_vp8_encoder;

/* A decoded picture, borrowed from the decoder until its next call. */
struct pal_vp8_picture {
    const uint8_t *planes[3];
    int strides[3];
    int width, height;
};

/* Returns 0, -ENOMEM or -EIO. */
int pal_vp8_decoder_create(struct pal_vp8_decoder **out);
void pal_vp8_decoder_destroy(struct pal_vp8_decoder *d);
/* Decodes one frame. Returns 1 with *pic filled, 0 when no picture came
 * out, or -EBADMSG for a corrupt frame (the caller then needs a keyframe). */
int pal_vp8_decode(struct pal_vp8_decoder *d, const uint8_t *frame, size_t len,
                   struct pal_vp8_picture *pic);

struct pal_vp8_encoder_config {
    int width, height;  /* even */
    int fps;            /* 1..60 */
    int bitrate_kbps;
    int cpu_used;       /* libvpx realtime speed: -16 (fastest) .. 16 */
    int threads;        /* 1 by default */
};
void pal_vp8_encoder_config_default(struct pal_vp8_encoder_config *c);

/* Returns 0, -EINVAL, -ENOMEM or -EIO. */
int pal_vp8_encoder_create(const struct pal_vp8_encoder_config *c, struct pal_vp8_encoder **out);
void pal_vp8_encoder_destroy(struct pal_vp8_encoder *e);

typedef void (*pal_vp8_frame_cb)(void *ctx, const uint8_t *frame, size_t len, bool keyframe);
/* Encodes img (its size must be the configured one) as frame number pts;
 * each output frame goes to cb (none when the rate control drops it).
 * Returns 0, -EINVAL or -EIO. */
int pal_vp8_encode(struct pal_vp8_encoder *e, const struct pal_image *img, int64_t pts,
                   bool force_keyframe, pal_vp8_frame_cb cb, void *ctx);

#endif
