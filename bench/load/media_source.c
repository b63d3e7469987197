/* Pre-encoded Opus / VP8 and RTP packets with a timing trailer. See media_source.h. */
#include "media_source.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/common.h"
#include "palabre/mixer/image.h"
#include "palabre/mixer/opus_codec.h"
#include "palabre/mixer/vp8_codec.h"
#include "palabre/rtp.h"
#include "palabre/wire.h"

static int keep_frame(struct load_frame *f, const uint8_t *data, size_t len, bool key)
{
    f->data = malloc(len);
    if (!f->data)
        return -ENOMEM;
    memcpy(f->data, data, len);
    f->len = len;
    f->keyframe = key;
    return 0;
}

static int encode_opus(struct load_media_source *m)
{
    struct pal_opus_encoder_config c;
    pal_opus_encoder_config_default(&c);
    c.bitrate = 32000;
    struct pal_opus_encoder *e;
    int rc = pal_opus_encoder_create(&c, &e);
    if (rc)
        return rc;
    m->n_opus = 50;
    m->opus = calloc(m->n_opus, sizeof(*m->opus));
    int16_t pcm[PAL_OPUS_FRAME];
    uint8_t pkt[PAL_OPUS_MAX_PACKET];
    uint32_t noise = 12345;
    /* a voice-like signal: a few harmonics with a slow vibrato, and noise */
    for (size_t f = 0; m->opus && f < 2 * m->n_opus && !rc; f++) {
        for (int i = 0; i < PAL_OPUS_FRAME; i++) {
            double t = (double)(f * PAL_OPUS_FRAME + (size_t)i) / PAL_OPUS_RATE;
            double f0 = 180 + 20 * sin(2 * M_PI * 3 * t);
            double v = 0.3 * sin(2 * M_PI * f0 * t) + 0.15 * sin(4 * M_PI * f0 * t) +
                       0.08 * sin(6 * M_PI * f0 * t);
            noise = noise * 1103515245u + 12345u;
            v += 0.05 * ((double)(noise >> 16 & 0x7fff) / 16384.0 - 1.0);
            pcm[i] = (int16_t)(v * 12000);
        }
        int n = pal_opus_encode(e, pcm, pkt, sizeof(pkt));
        if (n <= 0)
            rc = -EIO;
        else if (f >= m->n_opus) /* keep the second second: the encoder has settled */
            rc = keep_frame(&m->opus[f - m->n_opus], pkt, (size_t)n, false);
    }
    /* then silence: the last of a few frames, once the encoder has adapted */
    memset(pcm, 0, sizeof(pcm));
    for (int f = 0; m->opus && f < 10 && !rc; f++) {
        int n = pal_opus_encode(e, pcm, pkt, sizeof(pkt));
        if (n <= 0)
            rc = -EIO;
        else if (f == 9)
            rc = keep_frame(&m->opus_silence, pkt, (size_t)n, false);
    }
    pal_opus_encoder_destroy(e);
    return m->opus ? rc : -ENOMEM;
}

struct vp8_collect {
    struct load_media_source *m;
    int layer;
    size_t gop, frame; /* frames per GOP, frames encoded so far */
    int rc;
};

static void on_vp8_frame(void *ctx, const uint8_t *frame, size_t len, bool keyframe)
{
    struct vp8_collect *c = ctx;
    /* Two GOPs are encoded; the second is kept (rate control has settled). */
    size_t *n = &c->m->n_vp8[c->layer];
    if (c->frame >= c->gop && *n < c->gop && !c->rc)
        c->rc = keep_frame(&c->m->vp8[c->layer][(*n)++], frame, len, keyframe);
}

/* Layer l of n: full size for the last, each one below halves width and
 * height; bitrates as a browser's simulcast defaults (about 10% and 30% of
 * the full layer's). */
static int encode_vp8(struct load_media_source *m, const struct load_scenario *s, int l, int n)
{
    static const int pct[LOAD_MAX_LAYERS] = {10, 30, 100};
    int div = 1 << (n - 1 - l);
    struct pal_vp8_encoder_config c;
    pal_vp8_encoder_config_default(&c);
    c.width = (s->video_width / div) & ~1;
    c.height = (s->video_height / div) & ~1;
    c.fps = s->video_fps;
    c.bitrate_kbps = n == 1 ? s->video_kbps : PAL_MAX(s->video_kbps * pct[l] / 100, 30);
    struct pal_vp8_encoder *e;
    int rc = pal_vp8_encoder_create(&c, &e);
    if (rc)
        return rc;
    struct vp8_collect col = {.m = m, .layer = l,
                              .gop = (size_t)s->video_fps * (size_t)s->keyframe_interval_s};
    m->vp8[l] = calloc(col.gop, sizeof(*m->vp8[l]));
    struct pal_image img = {0};
    if (!m->vp8[l] || pal_image_alloc(&img, c.width, c.height)) {
        pal_vp8_encoder_destroy(e);
        pal_image_free(&img);
        return -ENOMEM;
    }
    uint32_t noise = 777;
    /* A scene that moves: a sliding gradient, a bouncing block and some
     * sensor-like noise, so delta frames cost bits as a camera's do. */
    for (col.frame = 0; col.frame < 2 * col.gop && !rc && !col.rc; col.frame++) {
        int shift = (int)col.frame * 4;
        for (int y = 0; y < img.height; y++)
            for (int x = 0; x < img.width; x++) {
                noise = noise * 1103515245u + 12345u;
                img.y[y * img.stride_y + x] =
                    (uint8_t)(((x + shift) * 255 / img.width + y / 2 + (int)(noise >> 28)) & 0xff);
            }
        memset(img.u, 110, (size_t)img.stride_uv * (size_t)img.height / 2);
        memset(img.v, 140, (size_t)img.stride_uv * (size_t)img.height / 2);
        struct pal_rect r = {(int)(col.frame * 7) % (img.width - 64), img.height / 3, 64, 64};
        pal_image_fill_rect(&img, r, 230, 60, 200);
        rc = pal_vp8_encode(e, &img, (int64_t)col.frame, col.frame % col.gop == 0, on_vp8_frame,
                            &col);
    }
    pal_image_free(&img);
    pal_vp8_encoder_destroy(e);
    if (!rc && col.rc)
        rc = col.rc;
    if (!rc && (m->n_vp8[l] == 0 || !m->vp8[l][0].keyframe))
        rc = -EIO;
    return rc;
}

int load_media_source_create(const struct load_scenario *s, struct load_media_source **out)
{
    *out = NULL;
    struct load_media_source *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->fps = s->video_fps;
    int rc = s->audio ? encode_opus(m) : 0;
    m->n_layers = s->simulcast ? LOAD_MAX_LAYERS : 1;
    for (int l = 0; !rc && s->video && l < m->n_layers; l++)
        rc = encode_vp8(m, s, l, m->n_layers);
    if (rc) {
        load_media_source_destroy(m);
        return rc;
    }
    *out = m;
    return 0;
}

void load_media_source_destroy(struct load_media_source *m)
{
    if (!m)
        return;
    for (size_t i = 0; m->opus && i < m->n_opus; i++)
        free(m->opus[i].data);
    for (int l = 0; l < LOAD_MAX_LAYERS; l++) {
        for (size_t i = 0; m->vp8[l] && i < m->n_vp8[l]; i++)
            free(m->vp8[l][i].data);
        free(m->vp8[l]);
    }
    free(m->opus_silence.data);
    free(m->opus);
    free(m);
}

const char *load_layer_rid(const struct load_media_source *m, int l)
{
    static const char *const rids[LOAD_MAX_LAYERS] = {"q", "h", "f"};
    return m->n_layers > 1 && l >= 0 && l < LOAD_MAX_LAYERS ? rids[l] : "";
}

void load_sender_init(struct load_sender *s, const struct load_media_source *m, bool video, bool dtx,
                      int layer, uint32_t source_id, size_t start_frame)
{
    memset(s, 0, sizeof(*s));
    s->video = video;
    s->dtx = dtx && !video;
    s->layer = video ? (uint8_t)layer : 0;
    snprintf(s->rid, sizeof(s->rid), "%s", video ? load_layer_rid(m, layer) : "");
    s->source_id = (source_id << 1 | (video ? 1u : 0u)) | (uint32_t)s->layer << LOAD_LAYER_SHIFT;
    do
        pal_random_bytes(&s->ssrc, sizeof(s->ssrc));
    while (s->ssrc == 0);
    pal_random_bytes(&s->seq, sizeof(s->seq));
    s->seq &= 0x7fff; /* below 2^15, as DESIGN.md asks */
    pal_random_bytes(&s->timestamp, sizeof(s->timestamp));
    s->pt = video ? LOAD_PT_VP8 : LOAD_PT_OPUS;
    snprintf(s->mid, sizeof(s->mid), "%d", video ? 1 : 0);
    size_t n = video ? m->n_vp8[s->layer] : m->n_opus;
    s->frame = n ? start_frame % n : 0;
    s->interval_us = video ? 1000000 / (m->fps > 0 ? m->fps : 30)
                     : s->dtx ? LOAD_DTX_INTERVAL_US
                              : 20000;
    uint16_t pic;
    pal_random_bytes(&pic, sizeof(pic));
    pal_vp8_packetizer_init(&s->pk, PAL_VP8_PACKETIZER_DEFAULT_MTU - LOAD_TRAILER_SIZE,
                            pic & 0x7fff);
}

static int send_one(struct load_sender *s, const uint8_t *payload, size_t len, bool marker,
                    load_send_fn send, void *ctx)
{
    uint8_t body[PAL_RTP_MAX_PACKET];
    if (len + LOAD_TRAILER_SIZE > sizeof(body))
        return -ENOSPC;
    memcpy(body, payload, len);
    uint8_t *t = body + len;
    pal_wr32(t, LOAD_TRAILER_MAGIC);
    pal_wr32(t + 4, s->source_id);
    pal_wr32(t + 8, s->counter);
    uint64_t now = (uint64_t)pal_now_us();
    pal_wr32(t + 12, (uint32_t)(now >> 32));
    pal_wr32(t + 16, (uint32_t)now);
    struct pal_rtp_header h = {
        .marker = marker,
        .payload_type = s->pt,
        .seq = s->seq,
        .timestamp = s->timestamp,
        .ssrc = s->ssrc,
    };
    if (s->ext_mid_id >= 1 && s->ext_mid_id <= 14) {
        h.ext[h.n_ext].id = s->ext_mid_id;
        h.ext[h.n_ext].len = (uint8_t)strlen(s->mid);
        memcpy(h.ext[h.n_ext].data, s->mid, h.ext[h.n_ext].len);
        h.n_ext++;
    }
    /* A browser sends the rid on every packet until the SDP has told it
     * the SSRCs are known; we always do (the server must not need more). */
    if (s->rid[0] && s->ext_rid_id >= 1 && s->ext_rid_id <= 14) {
        h.ext[h.n_ext].id = s->ext_rid_id;
        h.ext[h.n_ext].len = (uint8_t)strlen(s->rid);
        memcpy(h.ext[h.n_ext].data, s->rid, h.ext[h.n_ext].len);
        h.n_ext++;
    }
    /* As a browser: every packet numbered on its PeerConnection, so the
     * server can send transport-cc feedback and forward the number's place
     * (media/consumer.c writes its own sequence there for the subscriber). */
    if (s->twcc_seq && s->ext_twcc_id >= 1 && s->ext_twcc_id <= 14) {
        h.ext[h.n_ext].id = s->ext_twcc_id;
        h.ext[h.n_ext].len = 2;
        pal_wr16(h.ext[h.n_ext].data, (*s->twcc_seq)++);
        h.n_ext++;
    }
    uint8_t pkt[LOAD_PACKET_CAP];
    size_t n;
    int rc = pal_rtp_write(&h, body, len + LOAD_TRAILER_SIZE, pkt, sizeof(pkt), &n);
    if (rc)
        return rc;
    s->seq++;
    s->counter++;
    return send(ctx, pkt, n, sizeof(pkt));
}

int load_sender_emit_frame(struct load_sender *s, const struct load_media_source *m,
                           load_send_fn send, void *ctx)
{
    int sent = 0;
    if (!s->video) {
        if (!m->n_opus)
            return 0;
        const struct load_frame *f = s->dtx ? &m->opus_silence : &m->opus[s->frame];
        s->frame = (s->frame + 1) % m->n_opus;
        if (send_one(s, f->data, f->len, false, send, ctx) == 0)
            sent++;
        s->timestamp += s->dtx ? (uint32_t)(PAL_OPUS_RATE / 1000 * (LOAD_DTX_INTERVAL_US / 1000))
                               : PAL_OPUS_FRAME;
        return sent;
    }
    size_t n = m->n_vp8[s->layer];
    if (!n)
        return 0;
    if (s->keyframe_wanted) {
        s->frame = 0;
        s->keyframe_wanted = false;
    }
    const struct load_frame *f = &m->vp8[s->layer][s->frame];
    s->frame = (s->frame + 1) % n;
    if (pal_vp8_packetizer_begin(&s->pk, f->data, f->len) == 0) {
        uint8_t payload[PAL_RTP_MAX_PACKET];
        size_t len;
        bool marker;
        while (pal_vp8_packetizer_next(&s->pk, payload, sizeof(payload), &len, &marker) == 1)
            if (send_one(s, payload, len, marker, send, ctx) == 0)
                sent++;
    }
    s->timestamp += (uint32_t)(90000 / (m->fps > 0 ? m->fps : 30));
    return sent;
}

int load_trailer_read(const uint8_t *payload, size_t len, uint32_t *source_id, uint8_t *layer,
                      uint32_t *counter, int64_t *send_us)
{
    if (len < LOAD_TRAILER_SIZE)
        return -EINVAL;
    const uint8_t *t = payload + len - LOAD_TRAILER_SIZE;
    if (pal_rd32(t) != LOAD_TRAILER_MAGIC)
        return -EINVAL;
    uint32_t src = pal_rd32(t + 4);
    *source_id = src & LOAD_SOURCE_MASK;
    *layer = (uint8_t)(src >> LOAD_LAYER_SHIFT & 7);
    *counter = pal_rd32(t + 8);
    *send_us = (int64_t)((uint64_t)pal_rd32(t + 12) << 32 | pal_rd32(t + 16));
    return 0;
}
