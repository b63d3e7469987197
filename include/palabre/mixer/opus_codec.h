/* Opus for the audio mixer: 48 kHz mono, 20 ms frames (960 samples).
 * Mono is enough for a mixed conference track (voices, one shared room) and
 * halves decode, mix and encode work; browsers play a mono Opus stream on
 * both ears. Thin wrappers over libopus that fix those choices.
 *
 * Thread: each handle belongs to one thread at a time (libopus states). */
#ifndef PALABRE_MIXER_OPUS_CODEC_H
#define PALABRE_MIXER_OPUS_CODEC_H

#include "palabre/common.h"

#define PAL_OPUS_RATE 48000
#define PAL_OPUS_FRAME 960 /* samples per 20 ms frame at 48 kHz */
#define PAL_OPUS_MAX_PACKET 1275

struct pal_opus_decoder;
struct pal_opus_encoder;

/* Returns 0, -ENOMEM or -EIO. */
int pal_opus_decoder_create(struct pal_opus_decoder **out);
void pal_opus_decoder_destroy(struct pal_opus_decoder *d);
/* Decodes one packet into pcm (PAL_OPUS_FRAME samples; a shorter or longer
 * packet is rejected). Returns samples (960) or -EBADMSG. */
int pal_opus_decode(struct pal_opus_decoder *d, const uint8_t *pkt, size_t len, int16_t *pcm);
/* Forgets the stream (a decoder resuming after skipped packets starts clean). */
void pal_opus_decoder_reset(struct pal_opus_decoder *d);
/* Conceals one lost frame: with the next packet, its in-band FEC
 * (decode_fec=1); without, packet loss concealment. Returns 960 or -EBADMSG. */
int pal_opus_decode_lost(struct pal_opus_decoder *d, const uint8_t *next, size_t next_len,
                         int16_t *pcm);

struct pal_opus_encoder_config {
    int bitrate;       /* bit/s, e.g. 32000 */
    int complexity;    /* 0..10 */
    int loss_perc;     /* expected packet loss, drives in-band FEC */
    bool fec;          /* in-band FEC (LBRR) */
};
void pal_opus_encoder_config_default(struct pal_opus_encoder_config *c);
/* Returns 0, -EINVAL, -ENOMEM or -EIO. */
int pal_opus_encoder_create(const struct pal_opus_encoder_config *c,
                            struct pal_opus_encoder **out);
void pal_opus_encoder_destroy(struct pal_opus_encoder *e);
/* Encodes one 960-sample frame. Returns bytes written or -EIO. */
int pal_opus_encode(struct pal_opus_encoder *e, const int16_t *pcm, uint8_t *out, size_t cap);

#endif
