/* Opus wrappers. See palabre/mixer/opus_codec.h. */
#include "palabre/mixer/opus_codec.h"

#include <opus/opus.h>
#include <stdlib.h>

struct pal_opus_decoder {
    OpusDecoder *dec; /* owned */
};

struct pal_opus_encoder {
    OpusEncoder *enc; /* owned */
};

int pal_opus_decoder_create(struct pal_opus_decoder **out)
{
    struct pal_opus_decoder *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    int err;
    d->dec = opus_decoder_create(PAL_OPUS_RATE, 1, &err);
    if (!d->dec) {
        free(d);
        return err == OPUS_ALLOC_FAIL ? -ENOMEM : -EIO;
    }
    *out = d;
    return 0;
}

void pal_opus_decoder_destroy(struct pal_opus_decoder *d)
{
    if (!d)
        return;
    opus_decoder_destroy(d->dec);
    free(d);
}

int pal_opus_decode(struct pal_opus_decoder *d, const uint8_t *pkt, size_t len, int16_t *pcm)
{
    if (!pkt || len == 0 || len > PAL_OPUS_MAX_PACKET)
        return -EBADMSG;
    if (opus_packet_get_nb_samples(pkt, (opus_int32)len, PAL_OPUS_RATE) != PAL_OPUS_FRAME)
        return -EBADMSG; /* the mixer clock is 20 ms: other durations are refused */
    int n = opus_decode(d->dec, pkt, (opus_int32)len, pcm, PAL_OPUS_FRAME, 0);
    return n == PAL_OPUS_FRAME ? n : -EBADMSG;
}

void pal_opus_decoder_reset(struct pal_opus_decoder *d)
{
    opus_decoder_ctl(d->dec, OPUS_RESET_STATE);
}

int pal_opus_decode_lost(struct pal_opus_decoder *d, const uint8_t *next, size_t next_len,
                         int16_t *pcm)
{
    int n;
    if (next && next_len > 0 && next_len <= PAL_OPUS_MAX_PACKET)
        n = opus_decode(d->dec, next, (opus_int32)next_len, pcm, PAL_OPUS_FRAME, 1);
    else
        n = opus_decode(d->dec, NULL, 0, pcm, PAL_OPUS_FRAME, 0);
    if (n != PAL_OPUS_FRAME && next) /* FEC refused: plain concealment */
        n = opus_decode(d->dec, NULL, 0, pcm, PAL_OPUS_FRAME, 0);
    return n == PAL_OPUS_FRAME ? n : -EBADMSG;
}

void pal_opus_encoder_config_default(struct pal_opus_encoder_config *c)
{
    c->bitrate = 32000;
    c->complexity = 5;
    c->loss_perc = 10;
    c->fec = true;
}

int pal_opus_encoder_create(const struct pal_opus_encoder_config *c,
                            struct pal_opus_encoder **out)
{
    if (!c || c->bitrate < 6000 || c->bitrate > 510000 || c->complexity < 0 ||
        c->complexity > 10 || c->loss_perc < 0 || c->loss_perc > 100)
        return -EINVAL;
    struct pal_opus_encoder *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    int err;
    e->enc = opus_encoder_create(PAL_OPUS_RATE, 1, OPUS_APPLICATION_VOIP, &err);
    if (!e->enc) {
        free(e);
        return err == OPUS_ALLOC_FAIL ? -ENOMEM : -EIO;
    }
    opus_encoder_ctl(e->enc, OPUS_SET_BITRATE(c->bitrate));
    opus_encoder_ctl(e->enc, OPUS_SET_COMPLEXITY(c->complexity));
    opus_encoder_ctl(e->enc, OPUS_SET_INBAND_FEC(c->fec ? 1 : 0));
    opus_encoder_ctl(e->enc, OPUS_SET_PACKET_LOSS_PERC(c->loss_perc));
    opus_encoder_ctl(e->enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
    *out = e;
    return 0;
}

void pal_opus_encoder_destroy(struct pal_opus_encoder *e)
{
    if (!e)
        return;
    opus_encoder_destroy(e->enc);
    free(e);
}

int pal_opus_encode(struct pal_opus_encoder *e, const int16_t *pcm, uint8_t *out, size_t cap)
{
    int n = opus_encode(e->enc, pcm, PAL_OPUS_FRAME, out, (opus_int32)PAL_MIN(cap, (size_t)PAL_OPUS_MAX_PACKET));
    return n > 0 ? n : -EIO;
}
