/* A published track: receive statistics, NACK and keyframe bookkeeping per
 * stream (the track, or each simulcast layer), audio level, list of
 * consumers. See palabre/producer.h. */
#include "palabre/producer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/consumer.h"
#include "palabre/keyframe.h"
#include "palabre/nack.h"
#include "palabre/rtx_buffer.h"
#include "palabre/simulcast.h"

/* One RTP stream of the track: the track itself, or one simulcast layer
 * (its own SSRC, sequence numbers, losses and keyframes). */
struct stream {
    /* owned */
    struct pal_nack *nack;      /* video only */
    struct pal_keyframe *kf;    /* video only */
    struct pal_rtx_buffer *rtx; /* the packets as received (by their seq):
                                   its consumers answer NACKs from it */
    /* state */
    uint32_t ssrc; /* 0 until known */
    struct pal_seq_unwrapper unwrap;
    int64_t base_ext, max_ext; /* extended seq of the first and highest packet */
    uint64_t received, octets;
    int64_t expected_prior, received_prior; /* at the last RR */
    double jitter;                          /* RFC 3550 A.8, in clock units */
    int64_t last_transit;
    bool have_transit;
    uint32_t last_sr_middle; /* LSR */
    int64_t last_sr_ms;      /* when it arrived */
    int64_t last_packet_ms;
    uint16_t width, height; /* video: from its last keyframe */
    /* its rate as a subscriber receives it (pal_producer_update_rates) */
    uint64_t rate_received, rate_octets; /* at the last update */
    int64_t rate_ms;
    uint32_t bps; /* smoothed, with per-packet overhead; 0: not measured yet */
};

struct pal_producer {
    /* borrowed */
    struct pal_consumer **consumers; /* the array is owned, the consumers are not */
    /* owned: streams[i] */
    /* state */
    char participant[PAL_MEDIA_ID_MAX];
    struct pal_media_track track;
    size_t n_consumers, cap_consumers;
    size_t n_streams; /* 1, or track.n_layers */
    struct stream streams[PAL_MEDIA_MAX_LAYERS];
    uint32_t level_sum, level_count; /* audio: loudness 0..127 (127 = loudest) */
    int64_t last_packet_ms;
    bool blocked;         /* hard mute: received and counted, never forwarded nor mixed */
    uint64_t packets_received, packets_forwarded; /* palabre/media.h's track stats */
};

#define LAYER_ACTIVE_MS 1000 /* a layer with no packet for this long is off (and may
                              change SSRC) */

static int stream_init(struct stream *s, bool video)
{
    pal_seq_unwrapper_init(&s->unwrap);
    if (pal_rtx_buffer_create_for(video, &s->rtx))
        return -ENOMEM;
    if (video && (pal_nack_create(NULL, &s->nack) || pal_keyframe_create(0, &s->kf)))
        return -ENOMEM;
    return 0;
}

static void stream_fini(struct stream *s)
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

void pal_producer_unlink_all(struct pal_producer *p)
{
    while (p->n_consumers > 0)
        pal_consumer_set_producer(p->consumers[--p->n_consumers], NULL);
}

size_t pal_producer_consumer_count(const struct pal_producer *p)
{
    return p->n_consumers;
}

void pal_producer_inherit(struct pal_producer *p, const struct pal_producer *old)
{
    p->packets_received = old->packets_received;
    p->packets_forwarded = old->packets_forwarded;
    for (size_t i = 0; i < p->n_streams && i < old->n_streams; i++)
        if (!p->streams[i].ssrc &&
            (!p->track.n_layers || !strcmp(p->track.rids[i], old->track.rids[i])))
            p->streams[i].ssrc = old->streams[i].ssrc;
    if (!p->track.ssrc && !p->track.n_layers && !old->track.n_layers)
        p->track.ssrc = old->track.ssrc;
}

const char *pal_producer_participant(const struct pal_producer *p)
{
    return p->participant;
}

const struct pal_media_track *pal_producer_track(const struct pal_producer *p)
{
    return &p->track;
}

size_t pal_producer_stream_count(const struct pal_producer *p)
{
    return p->n_streams;
}

uint32_t pal_producer_stream_ssrc(const struct pal_producer *p, size_t i)
{
    return i < p->n_streams ? p->streams[i].ssrc : 0;
}

uint32_t pal_producer_stream_bps(const struct pal_producer *p, size_t i)
{
    return i < p->n_streams ? p->streams[i].bps : 0;
}

struct pal_rtx_buffer *pal_producer_rtx(const struct pal_producer *p, size_t i)
{
    return i < p->n_streams ? p->streams[i].rtx : NULL;
}

bool pal_producer_has_ssrc(const struct pal_producer *p, uint32_t ssrc)
{
    for (size_t i = 0; i < p->n_streams; i++)
        if (p->streams[i].ssrc == ssrc)
            return true;
    return false;
}

bool pal_producer_learn_ssrc(struct pal_producer *p, const struct pal_rtp_packet *hdr)
{
    if (p->track.ssrc || p->track.n_layers || !p->track.ext_mid)
        return false;
    size_t len;
    const uint8_t *mid = pal_rtp_ext_find(hdr, p->track.ext_mid, &len);
    if (!mid || len != strlen(p->track.mid) || memcmp(mid, p->track.mid, len) != 0)
        return false;
    p->track.ssrc = hdr->ssrc;
    p->streams[0].ssrc = hdr->ssrc;
    return true;
}

bool pal_producer_blocked(const struct pal_producer *p)
{
    return p->blocked;
}

void pal_producer_set_blocked(struct pal_producer *p, bool blocked, int64_t wall_us)
{
    if (p->blocked && !blocked)
        for (size_t i = 0; i < p->n_consumers; i++)
            pal_consumer_resume(p->consumers[i], wall_us);
    p->blocked = blocked;
}

void pal_producer_counters(const struct pal_producer *p, uint64_t *received, uint64_t *forwarded)
{
    *received = p->packets_received;
    *forwarded = p->packets_forwarded;
}

bool pal_producer_keyframe_request(struct pal_producer *p, int layer, int64_t now_ms)
{
    if (p->blocked || layer < 0 || (size_t)layer >= p->n_streams)
        return false;
    struct pal_keyframe *kf = p->streams[layer].kf;
    return kf && pal_keyframe_request(kf, now_ms);
}

bool pal_producer_keyframe_poll(struct pal_producer *p, size_t layer, int64_t now_ms)
{
    struct pal_keyframe *kf = layer < p->n_streams ? p->streams[layer].kf : NULL;
    return kf && !p->blocked && pal_keyframe_poll(kf, now_ms);
}

size_t pal_producer_collect_nacks(struct pal_producer *p, size_t layer, int64_t now_ms,
                                  uint16_t *seqs, size_t cap)
{
    struct stream *s = layer < p->n_streams ? &p->streams[layer] : NULL;
    if (!s || !s->nack || !s->ssrc)
        return 0;
    return pal_nack_collect(s->nack, now_ms, seqs, cap);
}

size_t pal_producer_forward(struct pal_producer *p, const struct pal_rtp_packet *pkt,
                            const struct pal_packet_info *info, uint8_t *scratch, size_t cap,
                            int64_t now_ms, bool *want_keyframe)
{
    *want_keyframe = false;
    if (p->blocked || p->n_consumers == 0)
        return 0;
    int64_t wall_us = pal_wall_ms() * 1000;
    size_t sent = 0;
    for (size_t i = 0; i < p->n_consumers; i++) {
        int rc = pal_consumer_forward(p->consumers[i], pkt, info, scratch, cap, now_ms, wall_us);
        if (rc == PAL_CONSUMER_SENT)
            sent++;
        else if (rc == PAL_CONSUMER_WANTS_KEYFRAME)
            *want_keyframe = true; /* still waiting: the room keeps asking (throttled) */
    }
    p->packets_forwarded += sent;
    return sent;
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
    struct stream *s = &p->streams[layer];
    /* Learnt before SRTP authenticates the packet: a layer that still
     * flows keeps its SSRC, so a forged header cannot take it over. */
    if (s->ssrc && s->ssrc != hdr->ssrc && pal_now_ms() - s->last_packet_ms < LAYER_ACTIVE_MS)
        return -1;
    if (s->ssrc != hdr->ssrc && s->received) {
        struct stream keep = *s;
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

int pal_producer_on_packet(struct pal_producer *p, const struct pal_rtp_packet *pkt,
                           int64_t now_ms, struct pal_packet_info *info)
{
    if (pkt->payload_type != p->track.payload_type)
        return -EPROTO;
    info->layer = pal_producer_stream_of(p, pkt);
    if (info->layer < 0)
        return -ENOENT;
    info->keyframe = false;
    info->has_vp8 = false;
    struct stream *s = &p->streams[info->layer];
    p->packets_received++;
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
        return 0;
    }

    int rc = 0;
    if (s->nack && pal_nack_on_packet(s->nack, pkt->seq, now_ms) == PAL_NACK_NEED_KEYFRAME)
        rc = PAL_PRODUCER_NEED_KEYFRAME;
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
    return rc;
}

#define RATE_MIN_SPAN_MS 400
#define PACKET_OVERHEAD 60 /* RTP header + extensions, SRTP tag, UDP, IPv4 */

void pal_producer_update_rates(struct pal_producer *p, int64_t now_ms)
{
    for (size_t i = 0; i < p->n_streams; i++) {
        struct stream *s = &p->streams[i];
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
        const struct stream *s = &p->streams[i];
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
    struct stream *s = &p->streams[i];
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
