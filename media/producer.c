/* A published track: receive statistics, NACK and keyframe bookkeeping per
 * stream (the track, or each simulcast layer), audio level, list of
 * consumers. See palabre/producer.h. */
#include "palabre/producer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/keyframe.h"
#include "palabre/nack.h"
#include "palabre/rtx_buffer.h"
#include "palabre/simulcast.h"

#define LAYER_ACTIVE_MS 1000 /* a layer with no packet for this long is off (and may
                              change SSRC) */

static int stream_init(struct pal_producer_stream *s, bool video)
{
    pal_seq_unwrapper_init(&s->unwrap);
    if (pal_rtx_buffer_create_for(video, &s->rtx))
        return -ENOMEM;
    if (video && (pal_nack_create(NULL, &s->nack) || pal_keyframe_create(0, &s->kf)))
        return -ENOMEM;
    return 0;
}

static void stream_fini(struct pal_producer_stream *s)
{
    pal_nack_destroy(s->nack);
    pal_keyframe_destroy(s->kf);
    pal_rtx_buffer_destroy(s->rtx);
}

int pal_producer_create(const char *participant, const struct pal_media_track *t,
                        struct pal_producer **out)
{
    *out = NULL;
    if (!participant || !t || strlen(participant) >= PAL_MEDIA_ID_MAX ||
        t->n_layers > PAL_MEDIA_MAX_LAYERS || (t->n_layers && t->kind != PAL_MEDIA_VIDEO))
        return -EINVAL;
    struct pal_producer *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    snprintf(p->participant, sizeof(p->participant), "%s", participant);
    p->track = *t;
    p->n_streams = t->n_layers ? t->n_layers : 1;
    p->streams[0].ssrc = t->n_layers ? 0 : t->ssrc;
    for (size_t i = 0; i < p->n_streams; i++) {
        if (stream_init(&p->streams[i], t->kind == PAL_MEDIA_VIDEO)) {
            pal_producer_destroy(p);
            return -ENOMEM;
        }
    }
    *out = p;
    return 0;
}

void pal_producer_destroy(struct pal_producer *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_streams; i++)
        stream_fini(&p->streams[i]);
    free(p->consumers);
    free(p);
}

int pal_producer_attach(struct pal_producer *p, struct pal_consumer *c)
{
    for (size_t i = 0; i < p->n_consumers; i++)
        if (p->consumers[i] == c)
            return 0;
    if (p->n_consumers == p->cap_consumers) {
        size_t cap = p->cap_consumers ? 2 * p->cap_consumers : 8;
        struct pal_consumer **a = realloc(p->consumers, cap * sizeof(*a));
        if (!a)
            return -ENOMEM;
        p->consumers = a;
        p->cap_consumers = cap;
    }
    p->consumers[p->n_consumers++] = c;
    return 0;
}

void pal_producer_detach(struct pal_producer *p, struct pal_consumer *c)
{
    for (size_t i = 0; i < p->n_consumers; i++) {
        if (p->consumers[i] == c) {
            p->consumers[i] = p->consumers[--p->n_consumers];
            return;
        }
    }
}

int pal_producer_stream_of(struct pal_producer *p, const struct pal_rtp_packet *hdr)
{
    for (size_t i = 0; i < p->n_streams; i++)
        if (p->streams[i].ssrc && p->streams[i].ssrc == hdr->ssrc)
            return (int)i;
    if (!p->track.n_layers || !p->track.ext_rid)
        return -1;
    size_t len;
    const uint8_t *rid = pal_rtp_ext_find(hdr, p->track.ext_rid, &len);
    int layer = pal_simulcast_rid_layer(&p->track, rid, len);
    if (layer < 0)
        return -1;
    /* A new SSRC for a layer (the browser restarted its encoder): a new
     * stream, counted from scratch, in the same ring and NACK state (no
     * allocation: a publisher flipping SSRCs costs us nothing more). */
    struct pal_producer_stream *s = &p->streams[layer];
    /* Learnt before SRTP authenticates the packet: a layer that still
     * flows keeps its SSRC, so a forged header cannot take it over. */
    if (s->ssrc && s->ssrc != hdr->ssrc && pal_now_ms() - s->last_packet_ms < LAYER_ACTIVE_MS)
        return -1;
    if (s->ssrc != hdr->ssrc && s->received) {
        struct pal_producer_stream keep = *s;
        memset(s, 0, sizeof(*s));
        s->nack = keep.nack;
        s->kf = keep.kf;
        s->rtx = keep.rtx;
        pal_seq_unwrapper_init(&s->unwrap);
        pal_rtx_buffer_clear(s->rtx);
        if (s->nack)
            pal_nack_reset(s->nack);
    }
    s->ssrc = hdr->ssrc;
    return layer;
}

bool pal_producer_on_packet(struct pal_producer *p, const struct pal_rtp_packet *pkt,
                            int64_t now_ms, struct pal_packet_info *info)
{
    info->keyframe = false;
    info->has_vp8 = false;
    struct pal_producer_stream *s = &p->streams[info->layer];
    int64_t ext = pal_seq_unwrap(&s->unwrap, pkt->seq);
    if (s->received == 0) {
        s->base_ext = ext;
        s->max_ext = ext;
    } else if (ext > s->max_ext) {
        s->max_ext = ext;
    }
    s->received++;
    s->octets += pkt->payload_len;
    pal_rtx_buffer_store(s->rtx, pkt->seq, pkt->buf, pkt->len, now_ms);
    s->last_packet_ms = now_ms;
    p->last_packet_ms = now_ms;

    /* Interarrival jitter (RFC 3550 A.8) in clock units. */
    int64_t arrival = now_ms * (int64_t)(p->track.clock_rate ? p->track.clock_rate : 90000) / 1000;
    int64_t transit = arrival - (int64_t)pkt->timestamp;
    if (s->have_transit) {
        int64_t d = transit - s->last_transit;
        if (d < 0)
            d = -d;
        if (d < (1 << 24)) /* ignore timestamp jumps */
            s->jitter += ((double)d - s->jitter) / 16.0;
    }
    s->last_transit = transit;
    s->have_transit = true;

    if (p->track.kind == PAL_MEDIA_AUDIO) {
        size_t len;
        const uint8_t *lv = p->track.ext_audio_level
                                ? pal_rtp_ext_find(pkt, p->track.ext_audio_level, &len)
                                : NULL;
        if (lv && len >= 1) {
            p->level_sum += 127u - (lv[0] & 0x7f);
            p->level_count++;
        }
        return false;
    }

    bool need_kf = false;
    if (s->nack && pal_nack_on_packet(s->nack, pkt->seq, now_ms) == PAL_NACK_NEED_KEYFRAME)
        need_kf = true;
    if (pkt->payload_len > 0 &&
        pal_vp8_parse(pal_rtp_payload(pkt), pkt->payload_len, &info->vp8, NULL) == 0) {
        info->has_vp8 = true;
        if (info->vp8.is_keyframe) {
            info->keyframe = true;
            if (info->vp8.width && info->vp8.height) {
                s->width = info->vp8.width;
                s->height = info->vp8.height;
            }
            if (s->kf)
                pal_keyframe_on_keyframe(s->kf, now_ms);
        }
    }
    return need_kf;
}

#define RATE_MIN_SPAN_MS 400
#define PACKET_OVERHEAD 60 /* RTP header + extensions, SRTP tag, UDP, IPv4 */

void pal_producer_update_rates(struct pal_producer *p, int64_t now_ms)
{
    for (size_t i = 0; i < p->n_streams; i++) {
        struct pal_producer_stream *s = &p->streams[i];
        int64_t span = now_ms - s->rate_ms;
        if (s->rate_ms && span < RATE_MIN_SPAN_MS)
            continue;
        if (s->rate_ms && span < 5000) {
            uint64_t bytes = (s->octets - s->rate_octets) +
                             (s->received - s->rate_received) * PACKET_OVERHEAD;
            uint32_t bps = (uint32_t)(bytes * 8000 / (uint64_t)span);
            /* a keyframe makes one interval big: smoothed over a few seconds */
            s->bps = s->bps ? (uint32_t)((s->bps * 3ull + bps) / 4) : bps;
        }
        s->rate_ms = now_ms;
        s->rate_octets = s->octets;
        s->rate_received = s->received;
    }
}

size_t pal_producer_layers(const struct pal_producer *p, int64_t now_ms,
                           struct pal_simulcast_layer *out)
{
    for (size_t i = 0; i < p->n_streams; i++) {
        const struct pal_producer_stream *s = &p->streams[i];
        out[i].width = s->width;
        out[i].height = s->height;
        out[i].active = s->received && now_ms - s->last_packet_ms < LAYER_ACTIVE_MS;
    }
    return p->n_streams;
}

void pal_producer_on_sr(struct pal_producer *p, uint32_t ssrc, uint64_t ntp, int64_t now_ms)
{
    for (size_t i = 0; i < p->n_streams; i++) {
        if (p->streams[i].ssrc == ssrc) {
            p->streams[i].last_sr_middle = pal_ntp_middle(ntp);
            p->streams[i].last_sr_ms = now_ms;
        }
    }
}

bool pal_producer_report_block(struct pal_producer *p, size_t i, int64_t now_ms,
                               struct pal_rtcp_report_block *rb)
{
    if (i >= p->n_streams)
        return false;
    struct pal_producer_stream *s = &p->streams[i];
    if (s->received == 0 || !s->ssrc)
        return false;
    int64_t expected = s->max_ext - s->base_ext + 1;
    int64_t lost = expected - (int64_t)s->received;
    int64_t exp_int = expected - s->expected_prior;
    int64_t rec_int = (int64_t)s->received - s->received_prior;
    int64_t lost_int = exp_int - rec_int;
    s->expected_prior = expected;
    s->received_prior = (int64_t)s->received;
    memset(rb, 0, sizeof(*rb));
    rb->ssrc = s->ssrc;
    rb->fraction_lost = (exp_int > 0 && lost_int > 0) ? (uint8_t)((lost_int << 8) / exp_int) : 0;
    if (lost > 0x7fffff)
        lost = 0x7fffff;
    if (lost < -0x800000)
        lost = -0x800000;
    rb->cumulative_lost = (int32_t)lost;
    rb->highest_seq = (uint32_t)s->max_ext;
    rb->jitter = (uint32_t)lround(s->jitter);
    if (s->last_sr_ms) {
        rb->lsr = s->last_sr_middle;
        rb->dlsr = (uint32_t)((now_ms - s->last_sr_ms) * 65536 / 1000);
    }
    return true;
}

int pal_producer_take_level(struct pal_producer *p)
{
    if (p->level_count == 0)
        return -1;
    int v = (int)(p->level_sum / p->level_count);
    p->level_sum = p->level_count = 0;
    return v;
}
