/* One track forwarded to one subscriber. See palabre/consumer.h. */
#include "palabre/consumer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/bwe.h"
#include "palabre/producer.h"
#include "palabre/rtcp.h"
#include "palabre/rtx_buffer.h"
#include "palabre/srtp.h"
#include "palabre/vp8.h"

struct pal_consumer {
    /* borrowed */
    struct pal_producer *producer;     /* NULL while the producer is absent */
    const struct pal_media_sink *sink; /* the subscriber's subscribe PC */
    struct pal_bwe *bwe; /* its transport-wide numbering and estimate (NULL: none) */
    /* owned */
    struct pal_rtx_buffer *own_rtx; /* a mixer output's packets; NULL for a
                                       producer's track (its ring is shared) */
    /* state */
    char subscriber[PAL_MEDIA_ID_MAX];
    char producer_pid[PAL_MEDIA_ID_MAX];
    char producer_mid[PAL_MEDIA_MID_MAX];
    struct pal_media_track track; /* as offered to the subscriber */
    struct pal_rtp_ext_map ext_map;
    uint8_t src_ext_twcc; /* the producer's transport-cc extension id, 0: none */
    bool started;         /* a first packet went out: offsets are fixed */
    bool wait_keyframe;   /* video: drop until a keyframe starts */
    uint16_t seq_offset;  /* out = in + offset */
    uint32_t ts_offset;
    uint16_t first_seq;   /* our first sequence number (< 2^15) */
    uint32_t first_ts;
    uint16_t last_seq;    /* last sent (out numbering) */
    uint32_t last_ts;
    int64_t last_ts_wall_us; /* wall clock when last_ts was sent (for SR) */
    uint64_t packets, octets, retransmitted, nack_misses;
    uint32_t mixer_output; /* forwards the room's mixer output (producer_pid
                              PAL_MEDIA_MIXER_ID), 0: an ordinary track */
    /* Which of the producer's streams (palabre/consumer.h,
     * pal_consumer_layer): layer is the one forwarded, target the one
     * wanted. */
    int layer, target;
    struct pal_media_view view; /* as the subscriber last told (set_track_view) */
    bool has_view;
    /* Simulcast: the VP8 picture id and TL0PICIDX made continuous across
     * layers (each layer's encoder numbers its own pictures). */
    bool vp8_rewrite;
    bool have_pic, have_tl0;
    uint16_t pic_offset, last_pic;
    uint8_t tl0_offset, last_tl0;
    uint64_t layer_switches;
    /* Bandwidth (palabre/bwe_alloc.h): want is the layer the view asks,
     * alloc caps it. A switch the view did not ask is counted as
     * bandwidth's (target_bw). reported_*: what the subscriber was last told
     * (track_quality), reported_layer -2: nothing yet. */
    struct pal_bwe_alloc alloc;
    int want;
    bool target_bw;
    uint64_t layer_switches_bw;
    int reported_layer;
    bool reported_limited;
    /* Padding (pal_consumer_send_padding) takes sequence numbers of ours:
     * the packets forwarded after it are numbered one further (seq_offset
     * grows). A NACK names our numbers: pads[] says which offset a number
     * before each padding run had, and that the run itself is not to be
     * resent. Older than the oldest run kept: not answered. */
    struct {
        uint16_t from;   /* the run's first sequence number */
        uint16_t n;      /* its packets */
        uint16_t before; /* seq_offset before it */
    } pads[PAL_CONSUMER_PAD_RUNS];
    unsigned pad_next, n_pads;
    uint64_t padding_packets, padding_bytes;
};

int pal_consumer_create(const char *subscriber, const char *producer_pid, const char *producer_mid,
                        const struct pal_media_track *track, const struct pal_media_sink *sink,
                        struct pal_consumer **out)
{
    *out = NULL;
    if (!subscriber || !producer_pid || !producer_mid || !track || !sink ||
        strlen(subscriber) >= PAL_MEDIA_ID_MAX || strlen(producer_pid) >= PAL_MEDIA_ID_MAX ||
        strlen(producer_mid) >= PAL_MEDIA_MID_MAX || track->ssrc == 0)
        return -EINVAL;
    struct pal_consumer *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    /* A producer keeps the ring its consumers resend from; the mixer's
     * outputs have no producer, so their consumer keeps its own. */
    if (strcmp(producer_pid, PAL_MEDIA_MIXER_ID) == 0) {
        int rc = pal_rtx_buffer_create_for(track->kind == PAL_MEDIA_VIDEO, &c->own_rtx);
        if (rc) {
            free(c);
            return rc;
        }
    }
    snprintf(c->subscriber, sizeof(c->subscriber), "%s", subscriber);
    snprintf(c->producer_pid, sizeof(c->producer_pid), "%s", producer_pid);
    snprintf(c->producer_mid, sizeof(c->producer_mid), "%s", producer_mid);
    c->track = *track;
    c->sink = sink;
    /* Start below 2^15: a receiver guesses the SRTP rollover counter from the
     * first sequence number (RFC 3711 3.3.1); a start near 2^16 wraps at once. */
    uint32_t r[2] = {0, 0};
    pal_random_bytes(r, sizeof(r));
    c->first_seq = (uint16_t)(r[0] & 0x7fff);
    c->first_ts = r[1];
    /* No view told (yet): as big as can be, the best layer. */
    c->view = (struct pal_media_view){.width = UINT16_MAX, .height = UINT16_MAX, .visible = true};
    pal_bwe_alloc_init(&c->alloc);
    c->want = -1;
    c->reported_layer = -2;
    *out = c;
    return 0;
}

void pal_consumer_destroy(struct pal_consumer *c)
{
    if (!c)
        return;
    pal_rtx_buffer_destroy(c->own_rtx);
    free(c);
}

const char *pal_consumer_subscriber(const struct pal_consumer *c)
{
    return c->subscriber;
}

const char *pal_consumer_producer_pid(const struct pal_consumer *c)
{
    return c->producer_pid;
}

const char *pal_consumer_producer_mid(const struct pal_consumer *c)
{
    return c->producer_mid;
}

const struct pal_media_track *pal_consumer_track(const struct pal_consumer *c)
{
    return &c->track;
}

struct pal_producer *pal_consumer_producer(const struct pal_consumer *c)
{
    return c->producer;
}

void pal_consumer_set_bwe(struct pal_consumer *c, struct pal_bwe *bwe)
{
    c->bwe = bwe;
}

uint32_t pal_consumer_mixer_output(const struct pal_consumer *c)
{
    return c->mixer_output;
}

void pal_consumer_set_mixer_output(struct pal_consumer *c, uint32_t id)
{
    c->mixer_output = id;
}

void pal_consumer_switches(const struct pal_consumer *c, uint64_t *all, uint64_t *bw)
{
    *all = c->layer_switches;
    *bw = c->layer_switches_bw;
}

void pal_consumer_set_view(struct pal_consumer *c, const struct pal_media_view *v)
{
    c->view = *v;
    c->has_view = true;
}

const struct pal_media_view *pal_consumer_view(const struct pal_consumer *c)
{
    return &c->view;
}

int pal_consumer_layer(const struct pal_consumer *c)
{
    return c->layer;
}

int pal_consumer_target(const struct pal_consumer *c)
{
    return c->target;
}

int pal_consumer_keyframe_layer(const struct pal_consumer *c)
{
    return c->layer >= 0 ? c->layer : c->target;
}

struct pal_bwe_alloc *pal_consumer_alloc(struct pal_consumer *c)
{
    return &c->alloc;
}

int pal_consumer_want(const struct pal_consumer *c)
{
    return c->want;
}

bool pal_consumer_choose(struct pal_consumer *c, int want, int target)
{
    if (target != c->target)
        c->target_bw = want == c->want; /* the view asked nothing new */
    c->want = want;
    return pal_consumer_set_target(c, target);
}

bool pal_consumer_report_quality(struct pal_consumer *c, int target, bool limited)
{
    if (target == c->reported_layer && limited == c->reported_limited)
        return false;
    bool tell = limited || c->reported_limited;
    c->reported_layer = target;
    c->reported_limited = limited;
    return tell;
}

void pal_consumer_set_producer(struct pal_consumer *c, struct pal_producer *p)
{
    c->producer = p;
    /* Keep only the extensions both sides negotiated and the subscriber
     * can use as they are: the audio level. mid and transport-cc belong to
     * the publisher's transport and would be wrong on ours. */
    const struct pal_media_track *src = p ? pal_producer_track(p) : NULL;
    memset(&c->ext_map, 0, sizeof(c->ext_map));
    if (src && src->ext_audio_level && src->ext_audio_level < 16 && c->track.ext_audio_level)
        c->ext_map.map[src->ext_audio_level] = c->track.ext_audio_level;
    /* transport-cc: the element is kept, its value is ours (send()) */
    if (src && src->ext_twcc && src->ext_twcc < 16 && c->track.ext_twcc)
        c->ext_map.map[src->ext_twcc] = c->track.ext_twcc;
    c->src_ext_twcc = src ? src->ext_twcc : 0;
    if (c->started) {
        /* Continue our numbering after a producer change. */
        c->first_seq = (uint16_t)(c->last_seq + 1);
        c->first_ts = c->last_ts + 3000;
    }
    c->started = false;
    c->wait_keyframe = c->track.kind == PAL_MEDIA_VIDEO;
    if (c->own_rtx)
        pal_rtx_buffer_clear(c->own_rtx);
    /* A simulcast producer: no layer until the room picks one; picture ids
     * go on from what was sent (another producer numbers its own). */
    c->vp8_rewrite = src && src->n_layers > 0;
    c->layer = c->vp8_rewrite ? -1 : 0;
    c->target = c->vp8_rewrite ? (int)pal_producer_stream_count(p) - 1 : 0;
    if (c->has_view && !c->view.visible && c->track.kind == PAL_MEDIA_VIDEO)
        c->target = c->layer = -1;
}

/* The next packet of layer starts our stream again where it stopped. */
static void restart_at(struct pal_consumer *c, int64_t wall_us)
{
    if (c->started) {
        uint32_t rate = c->track.clock_rate ? c->track.clock_rate : 90000;
        int64_t since_us = wall_us > c->last_ts_wall_us ? wall_us - c->last_ts_wall_us : 0;
        c->first_seq = (uint16_t)(c->last_seq + 1);
        c->first_ts = c->last_ts + (uint32_t)(since_us * (int64_t)rate / 1000000) + 1;
        c->started = false;
    }
}

bool pal_consumer_set_target(struct pal_consumer *c, int layer)
{
    if (layer == c->target)
        return layer >= 0 && c->layer != layer;
    c->target = layer;
    if (layer < 0) {
        c->layer = -1; /* stops at once: a hidden tile gets nothing */
        return false;
    }
    return c->layer != layer;
}

void pal_consumer_resume(struct pal_consumer *c, int64_t wall_us)
{
    restart_at(c, wall_us);
    c->wait_keyframe = c->track.kind == PAL_MEDIA_VIDEO;
}

/* The source's packet rewritten into this subscriber's numbering, SSRC,
 * payload type and extension ids: the same bytes each time for one packet,
 * so a retransmission equals the original. */
static int rewrite(const struct pal_consumer *c, const struct pal_rtp_packet *pkt,
                   uint8_t *scratch, size_t cap, size_t *len)
{
    struct pal_rtp_rewrite rw = {
        .ssrc = c->track.ssrc,
        .seq = (uint16_t)(pkt->seq + c->seq_offset),
        .timestamp = pkt->timestamp + c->ts_offset,
        .payload_type = c->track.payload_type,
        .ext_map = &c->ext_map,
    };
    return pal_rtp_rewrite_header(pkt, &rw, scratch, cap, len);
}

/* The rewritten header in scratch, the payload where pkt has it. Simulcast:
 * the VP8 picture id and TL0PICIDX in our numbering, patched in the received
 * payload for the time of the send (the sink's cipher makes the copy that
 * leaves) and put back: the ring and the other subscribers see the
 * publisher's bytes. SRTP encrypts the payload, so the patch cannot go with
 * the header. */
static int send(struct pal_consumer *c, const struct pal_rtp_packet *pkt, uint8_t *scratch,
                size_t hdr_len, const struct pal_vp8_desc *d, int64_t send_us)
{
    const uint8_t *body = pkt->buf + hdr_len;
    size_t body_len = pkt->len - hdr_len;
    /* Our transport-wide sequence number, where the publisher's was (the
     * rewritten header keeps the element's place): the subscriber's
     * transport-cc feedback then tells the estimator about our sends. */
    size_t tl;
    const uint8_t *tw = c->bwe && c->producer && c->track.ext_twcc
                            ? pal_rtp_ext_find(pkt, c->src_ext_twcc, &tl)
                            : NULL;
    if (tw && tl == 2 && tw > pkt->buf && (size_t)(tw - pkt->buf) + 2 <= hdr_len)
        pal_wr16(scratch + (tw - pkt->buf), pal_bwe_next_seq(c->bwe, pkt->len, send_us));
    if (!c->vp8_rewrite || !d || !(d->has_picture_id || d->has_tl0picidx) ||
        d->desc_len > 8 || pal_rtp_payload(pkt) != body)
        return c->sink->send_rtp(c->sink->ctx, scratch, hdr_len, body, body_len);
    uint8_t *desc = (uint8_t *)body, saved[8];
    memcpy(saved, desc, d->desc_len);
    if (d->has_picture_id)
        pal_vp8_set_picture_id(desc, d, (uint16_t)(d->picture_id + c->pic_offset));
    if (d->has_tl0picidx)
        pal_vp8_set_tl0picidx(desc, d, (uint8_t)(d->tl0picidx + c->tl0_offset));
    int rc = c->sink->send_rtp(c->sink->ctx, scratch, hdr_len, body, body_len);
    memcpy(desc, saved, d->desc_len);
    return rc;
}

static uint16_t pic_mask(const struct pal_vp8_desc *d)
{
    return d->picture_id_bits == 15 ? 0x7fff : 0x7f;
}

int pal_consumer_forward(struct pal_consumer *c, const struct pal_rtp_packet *pkt,
                         const struct pal_packet_info *info, uint8_t *scratch, size_t cap,
                         int64_t now_ms, int64_t wall_us)
{
    if (!c->sink->ready || c->target < 0)
        return PAL_CONSUMER_HELD;
    const struct pal_vp8_desc *d = info->has_vp8 ? &info->vp8 : NULL;
    if (info->layer != c->layer) {
        /* Switch (or start, or resume after hidden) on the target's keyframe. */
        if (info->layer != c->target)
            return PAL_CONSUMER_HELD;
        if (!info->keyframe)
            return PAL_CONSUMER_WANTS_KEYFRAME;
        if (c->layer >= 0 || c->started) {
            c->layer_switches++;
            c->layer_switches_bw += c->target_bw;
        }
        restart_at(c, wall_us);
        c->layer = info->layer;
        c->wait_keyframe = false;
    }
    if (c->wait_keyframe) {
        if (!info->keyframe)
            return info->layer == c->target ? PAL_CONSUMER_WANTS_KEYFRAME : PAL_CONSUMER_HELD;
        c->wait_keyframe = false;
    }
    if (!c->started) {
        c->seq_offset = (uint16_t)(c->first_seq - pkt->seq);
        c->ts_offset = c->first_ts - pkt->timestamp;
        c->started = true;
        if (c->vp8_rewrite && d && d->has_picture_id)
            c->pic_offset =
                (uint16_t)((c->have_pic ? c->last_pic + 1 : d->picture_id) - d->picture_id);
        if (c->vp8_rewrite && d && d->has_tl0picidx)
            c->tl0_offset = (uint8_t)((c->have_tl0 ? c->last_tl0 + 1 : d->tl0picidx) - d->tl0picidx);
    }
    size_t len;
    int rc = rewrite(c, pkt, scratch, cap, &len);
    if (rc)
        return rc;
    uint16_t seq = (uint16_t)(pkt->seq + c->seq_offset);
    if (!c->packets || pal_seq_newer(seq, c->last_seq)) {
        c->last_seq = seq;
        c->last_ts = pkt->timestamp + c->ts_offset;
        c->last_ts_wall_us = wall_us;
        if (c->vp8_rewrite && d && d->has_picture_id) {
            c->last_pic = (uint16_t)((d->picture_id + c->pic_offset) & pic_mask(d));
            c->have_pic = true;
        }
        if (c->vp8_rewrite && d && d->has_tl0picidx) {
            c->last_tl0 = (uint8_t)(d->tl0picidx + c->tl0_offset);
            c->have_tl0 = true;
        }
    }
    if (c->own_rtx)
        pal_rtx_buffer_store(c->own_rtx, pkt->seq, pkt->buf, pkt->len, now_ms);
    c->packets++;
    c->octets += pkt->payload_len;
    /* µs: the estimator groups sends 5 ms apart and compares their spacing
     * with the arrivals' (a ms clock would blur both) */
    return send(c, pkt, scratch, len, d, info->recv_us);
}

/* The seq_offset our number seq was sent with (false: a padding packet, or
 * sent before the runs kept). */
static bool offset_of(const struct pal_consumer *c, uint16_t seq, uint16_t *offset)
{
    *offset = c->seq_offset;
    for (unsigned i = 0; i < c->n_pads; i++) {
        unsigned k = (c->pad_next + PAL_CONSUMER_PAD_RUNS - 1 - i) % PAL_CONSUMER_PAD_RUNS;
        if ((uint16_t)(seq - c->pads[k].from) < c->pads[k].n)
            return false;
        if (!pal_seq_newer(c->pads[k].from, seq))
            return true; /* after this run */
        *offset = c->pads[k].before;
        if (i + 1 == PAL_CONSUMER_PAD_RUNS)
            return false; /* before the oldest run kept: its offset is forgotten */
    }
    return true;
}

int pal_consumer_retransmit(struct pal_consumer *c, uint16_t seq, uint8_t *scratch, size_t cap,
                            int64_t now_ms)
{
    struct pal_rtx_buffer *ring = c->own_rtx ? c->own_rtx
                                  : c->producer && c->layer >= 0
                                      ? pal_producer_rtx(c->producer, (size_t)c->layer)
                                      : NULL;
    const uint8_t *kept;
    size_t kept_len, len;
    struct pal_rtp_packet pkt;
    /* Only what this consumer sent since it last (re)started: the ring also
     * holds what its source sent before, or to others before we joined. */
    bool sent = c->started && c->packets &&
                (uint16_t)(seq - c->first_seq) <= (uint16_t)(c->last_seq - c->first_seq);
    uint16_t offset;
    if (!c->sink->ready || !ring || !sent || !offset_of(c, seq, &offset) ||
        pal_rtx_buffer_get(ring, (uint16_t)(seq - offset), now_ms, &kept, &kept_len) != 0 ||
        pal_rtp_parse(&pkt, (uint8_t *)kept, kept_len, NULL) != 0) {
        c->nack_misses++;
        return -ENOENT;
    }
    struct pal_vp8_desc d;
    bool vp8 = c->vp8_rewrite && pkt.payload_len > 0 &&
               pal_vp8_parse(pal_rtp_payload(&pkt), pkt.payload_len, &d, NULL) == 0;
    if (rewrite(c, &pkt, scratch, cap, &len) != 0) {
        c->nack_misses++;
        return -ENOENT;
    }
    pal_wr16(scratch + 2, seq); /* sent before a padding run: with the offset of then */
    c->retransmitted++;
    return send(c, &pkt, scratch, len, vp8 ? &d : NULL, now_ms * 1000);
}

int pal_consumer_write_sr(const struct pal_consumer *c, int64_t wall_us, uint8_t *out, size_t cap,
                          size_t *len)
{
    if (!c->packets)
        return -EAGAIN;
    uint32_t rate = c->track.clock_rate ? c->track.clock_rate : 90000;
    int64_t since_us = wall_us - c->last_ts_wall_us;
    struct pal_rtcp_sr_info sr = {
        .ssrc = c->track.ssrc,
        .ntp = pal_ntp_from_wall_us(wall_us),
        .rtp_ts = c->last_ts + (uint32_t)(since_us * (int64_t)rate / 1000000),
        .packet_count = (uint32_t)c->packets,
        .octet_count = (uint32_t)c->octets,
    };
    return pal_rtcp_write_sr(out, cap, len, &sr, NULL, 0);
}

int pal_consumer_send_padding(struct pal_consumer *c, size_t bytes, int64_t now_us)
{
    if (!c->sink->ready || !c->bwe || !c->track.ext_twcc || c->track.ext_twcc > 14 ||
        c->track.kind != PAL_MEDIA_VIDEO || !c->packets || c->mixer_output)
        return -EAGAIN;
    /* RFC 3550 5.1: the last byte counts the padding, itself included: 255 at most */
    uint8_t body[255] = {0};
    uint8_t hdr[32];
    uint16_t first = (uint16_t)(c->last_seq + 1), n = 0;
    size_t sent = 0;
    int rc = 0;
    while (sent < bytes) {
        size_t pad = bytes - sent > sizeof(body) ? sizeof(body) : bytes - sent;
        if (pad < 8)
            pad = 8; /* not a handful of bytes in a packet of its own */
        struct pal_rtp_header h = {.payload_type = c->track.payload_type,
                                   .seq = (uint16_t)(first + n),
                                   .timestamp = c->last_ts, /* no new frame */
                                   .ssrc = c->track.ssrc,
                                   .n_ext = 1};
        h.ext[0].id = c->track.ext_twcc;
        h.ext[0].len = 2;
        size_t hl = pal_rtp_size(&h, 0);
        pal_wr16(h.ext[0].data, pal_bwe_next_seq(c->bwe, hl + pad, now_us));
        pal_rtp_write(&h, NULL, 0, hdr, sizeof(hdr), &hl);
        hdr[0] |= 0x20; /* P */
        body[pad - 1] = (uint8_t)pad;
        rc = c->sink->send_rtp(c->sink->ctx, hdr, hl, body, pad);
        body[pad - 1] = 0;
        if (rc)
            break;
        sent += pad;
        n++;
    }
    if (n == 0)
        return rc ? rc : 0;
    /* the stream goes on after the run (a receiver sees no gap) */
    unsigned k = c->pad_next;
    c->pads[k].from = first;
    c->pads[k].n = n;
    c->pads[k].before = c->seq_offset;
    c->pad_next = (k + 1) % PAL_CONSUMER_PAD_RUNS;
    if (c->n_pads < PAL_CONSUMER_PAD_RUNS)
        c->n_pads++;
    c->last_seq = (uint16_t)(first + n - 1);
    if (c->started)
        c->seq_offset = (uint16_t)(c->seq_offset + n);
    else
        c->first_seq = (uint16_t)(c->last_seq + 1);
    c->padding_packets += n;
    c->padding_bytes += sent;
    return (int)(sent > INT32_MAX ? INT32_MAX : sent);
}
