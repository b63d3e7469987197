/* VP8 wrappers over libvpx. See palabre/mixer/vp8_codec.h. */
#include "palabre/mixer/vp8_codec.h"

#include <stdlib.h>
#include <string.h>
#include <vpx/vp8cx.h>
#include <vpx/vp8dx.h>
#include <vpx/vpx_decoder.h>
#include <vpx/vpx_encoder.h>

struct pal_vp8_decoder {
    vpx_codec_ctx_t ctx; /* owned */
};

struct pal_vp8_encoder {
    /* owned */
    vpx_codec_ctx_t ctx;
    /* state */
    struct pal_vp8_encoder_config cfg;
};

int pal_vp8_decoder_create(struct pal_vp8_decoder **out)
{
    struct pal_vp8_decoder *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    vpx_codec_dec_cfg_t cfg = {.threads = 1};
    if (vpx_codec_dec_init(&d->ctx, vpx_codec_vp8_dx(), &cfg, 0) != VPX_CODEC_OK) {
        free(d);
        return -EIO;
    }
    *out = d;
    return 0;
}

void pal_vp8_decoder_destroy(struct pal_vp8_decoder *d)
{
    if (!d)
        return;
    vpx_codec_destroy(&d->ctx);
    free(d);
}

int pal_vp8_decode(struct pal_vp8_decoder *d, const uint8_t *frame, size_t len,
                   struct pal_vp8_picture *pic)
{
    if (!frame || len == 0 || len > UINT32_MAX)
        return -EBADMSG;
    if (vpx_codec_decode(&d->ctx, frame, (unsigned)len, NULL, 0) != VPX_CODEC_OK)
        return -EBADMSG;
    int corrupted = 0;
    if (vpx_codec_control(&d->ctx, VP8D_GET_FRAME_CORRUPTED, &corrupted) == VPX_CODEC_OK &&
        corrupted)
        return -EBADMSG;
    vpx_codec_iter_t it = NULL;
    vpx_image_t *img = vpx_codec_get_frame(&d->ctx, &it);
    if (!img)
        return 0;
    if (img->fmt != VPX_IMG_FMT_I420 || img->d_w == 0 || img->d_h == 0)
        return -EBADMSG;
    for (int i = 0; i < 3; i++) {
        pic->planes[i] = img->planes[i];
        pic->strides[i] = img->stride[i];
    }
    pic->width = (int)img->d_w;
    pic->height = (int)img->d_h;
    return 1;
}

void pal_vp8_encoder_config_default(struct pal_vp8_encoder_config *c)
{
    c->width = 1280;
    c->height = 720;
    c->fps = 30;
    c->bitrate_kbps = 1500;
    c->cpu_used = -8;
    c->threads = 1;
}

int pal_vp8_encoder_create(const struct pal_vp8_encoder_config *c, struct pal_vp8_encoder **out)
{
    if (!c || c->width <= 0 || c->height <= 0 || (c->width & 1) || (c->height & 1) ||
        c->width > 4096 || c->height > 4096 || c->fps < 1 || c->fps > 60 ||
        c->bitrate_kbps < 30 || c->cpu_used < -16 || c->cpu_used > 16 || c->threads < 1 ||
        c->threads > 8)
        return -EINVAL;
    struct pal_vp8_encoder *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    vpx_codec_enc_cfg_t cfg;
    if (vpx_codec_enc_config_default(vpx_codec_vp8_cx(), &cfg, 0) != VPX_CODEC_OK) {
        free(e);
        return -EIO;
    }
    cfg.g_w = (unsigned)c->width;
    cfg.g_h = (unsigned)c->height;
    cfg.g_timebase.num = 1;
    cfg.g_timebase.den = c->fps;
    cfg.g_threads = (unsigned)c->threads;
    cfg.g_lag_in_frames = 0;
    cfg.g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
    cfg.g_pass = VPX_RC_ONE_PASS;
    cfg.rc_end_usage = VPX_CBR;
    cfg.rc_target_bitrate = (unsigned)c->bitrate_kbps;
    cfg.rc_min_quantizer = 2;
    cfg.rc_max_quantizer = 56;
    cfg.rc_dropframe_thresh = 30;
    cfg.rc_buf_initial_sz = 500;
    cfg.rc_buf_optimal_sz = 600;
    cfg.rc_buf_sz = 1000;
    cfg.rc_undershoot_pct = 100;
    cfg.rc_overshoot_pct = 15;
    cfg.kf_mode = VPX_KF_AUTO;
    cfg.kf_max_dist = 3000; /* keyframes on demand (PLI), not periodic */
    if (vpx_codec_enc_init(&e->ctx, vpx_codec_vp8_cx(), &cfg, 0) != VPX_CODEC_OK) {
        free(e);
        return -EIO;
    }
    vpx_codec_control(&e->ctx, VP8E_SET_CPUUSED, c->cpu_used);
    vpx_codec_control(&e->ctx, VP8E_SET_STATIC_THRESHOLD, 1);
    vpx_codec_control(&e->ctx, VP8E_SET_NOISE_SENSITIVITY, 0);
    vpx_codec_control(&e->ctx, VP8E_SET_TOKEN_PARTITIONS, VP8_ONE_TOKENPARTITION);
    vpx_codec_control(&e->ctx, VP8E_SET_MAX_INTRA_BITRATE_PCT, 300);
    e->cfg = *c;
    *out = e;
    return 0;
}

void pal_vp8_encoder_destroy(struct pal_vp8_encoder *e)
{
    if (!e)
        return;
    vpx_codec_destroy(&e->ctx);
    free(e);
}

int pal_vp8_encode(struct pal_vp8_encoder *e, const struct pal_image *img, int64_t pts,
                   bool force_keyframe, pal_vp8_frame_cb cb, void *ctx)
{
    if (!img->buf || img->width != e->cfg.width || img->height != e->cfg.height)
        return -EINVAL;
    vpx_image_t vi;
    memset(&vi, 0, sizeof(vi));
    /* Wrap the canvas without copying it. */
    vpx_img_wrap(&vi, VPX_IMG_FMT_I420, (unsigned)img->width, (unsigned)img->height, 1, img->y);
    vi.planes[VPX_PLANE_Y] = img->y;
    vi.planes[VPX_PLANE_U] = img->u;
    vi.planes[VPX_PLANE_V] = img->v;
    vi.stride[VPX_PLANE_Y] = img->stride_y;
    vi.stride[VPX_PLANE_U] = img->stride_uv;
    vi.stride[VPX_PLANE_V] = img->stride_uv;
    vpx_enc_frame_flags_t fl = force_keyframe ? VPX_EFLAG_FORCE_KF : 0;
    if (vpx_codec_encode(&e->ctx, &vi, pts, 1, fl, VPX_DL_REALTIME) != VPX_CODEC_OK)
        return -EIO;
    vpx_codec_iter_t it = NULL;
    const vpx_codec_cx_pkt_t *pkt;
    while ((pkt = vpx_codec_get_cx_data(&e->ctx, &it)) != NULL) {
        if (pkt->kind == VPX_CODEC_CX_FRAME_PKT && cb)
            cb(ctx, pkt->data.frame.buf, pkt->data.frame.sz,
               (pkt->data.frame.flags & VPX_FRAME_IS_KEY) != 0);
    }
    return 0;
}
