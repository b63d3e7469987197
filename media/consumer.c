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

/* Runs of dropped packets kept for mapping late packets and NACKs: about 8
 * s of L1T3 at 30 frames/s held at TL0 (3 frames of 4 dropped, one run per
 * TL0 interval), well beyond the retransmission ring's time. */
#define DROP_RUNS PAL_CONSUMER_MAP_RUNS
/* A gap this small between two dropped packets of one picture (lost or
 * late packets) is taken as part of it: the receiver is not made to wait
 * for it. Between two pictures it may have been a frame that goes. */
#define DROP_GAP_MAX 32

/* n packets dropped from input sequence number first on, npic pictures:
 * each shifted our numbering (sequence, picture id) down by as many. Or,
 * n = 0, pad padding packets (pal_consumer_send_padding) sent before input
 * first: they shifted our sequence numbers up by as many. One mapping for
 * both, so a NACK finds its packet across drops and padding alike. */
struct drop_run {
    uint16_t first, n, npic, pad;
};

struct pal_consumer {
    /* borrowed */
    struct pal_producer *producer;     /* NULL while the producer is absent */
    const struct pal_media_sink *sink; /* the subscriber's subscribe PC */
    struct pal_bwe *bwe; /* its transport-wide numbering and estimate (NULL: none) */
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
    /* Temporal layers (pal_consumer_set_max_temporal): packets of a TID
     * above tid_cur are dropped; tid_cur follows tid_max (palabre/consumer.h).
     * The dropped ones since the stream (re)started are runs of input
     * sequence numbers, oldest first; seq_offset and pic_offset are the
     * offsets after the last. max_in: the newest input handled since the
     * first run (older ones are late: mapped through the runs). */
    uint8_t tid_max, tid_cur;
    uint64_t temporal_drops;
    struct drop_run runs[DROP_RUNS];
    uint8_t n_runs;
    bool runs_lost;    /* an old run fell out: what came before it is unmapped */
    bool dropping;     /* the last in-order packet was dropped */
    bool have_drop_pic;
    uint16_t max_in, last_drop_pic;
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
    c->tid_max = c->tid_cur = PAL_CONSUMER_TEMPORAL_ALL;
    *out = c;
    return 0;
}

void pal_consumer_destroy(struct pal_consumer *c)
{
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

void pal_consumer_set_max_temporal(struct pal_consumer *c, int tid)
{
    c->tid_max = (uint8_t)(tid < 0 || tid > PAL_CONSUMER_TEMPORAL_ALL ? PAL_CONSUMER_TEMPORAL_ALL
                                                                       : tid);
}

int pal_consumer_max_temporal(const struct pal_consumer *c)
{
    return c->tid_max;
}

int pal_consumer_temporal(const struct pal_consumer *c)
{
    return c->tid_cur;
}

uint64_t pal_consumer_temporal_drops(const struct pal_consumer *c)
{
    return c->temporal_drops;
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

/* Where a packet goes in our numbering: out = in + seq, picture id + pic. */
struct offsets {
    uint16_t seq, pic;
};

/* Whether an in-order packet of descriptor d passes the temporal filter;
 * at a frame start, first moves the layer in effect towards tid_max
 * (palabre/consumer.h: down at once, up at a sync frame or a keyframe). */
static bool temporal_pass(struct pal_consumer *c, const struct pal_vp8_desc *d, bool keyframe)
{
    if (!d || !d->has_tid)
        return true;
    if (d->is_frame_start) {
        if (c->tid_max < c->tid_cur) {
            c->tid_cur = c->tid_max;
            c->temporal_drops++;
        } else if (c->tid_max > c->tid_cur &&
                   (keyframe || (d->layer_sync && d->tid == c->tid_cur + 1))) {
            c->tid_cur = keyframe ? c->tid_max : d->tid;
        }
    }
    return d->tid <= c->tid_cur;
}

/* A new run from input first on (the oldest one goes when all are taken:
 * what came before it can no longer be mapped). */
static struct drop_run *new_run(struct pal_consumer *c, uint16_t first)
{
    if (c->n_runs == DROP_RUNS) {
        memmove(c->runs, c->runs + 1, sizeof(c->runs) - sizeof(c->runs[0]));
        c->n_runs--;
        c->runs_lost = true;
    }
    struct drop_run *r = &c->runs[c->n_runs++];
    *r = (struct drop_run){.first = first};
    return r;
}

/* An in-order packet (input seq in) is dropped: our numbering closes over
 * it, as over a small gap since the drop before in the same picture (the
 * rest of a dropped frame, lost or late), so the receiver sees no hole to
 * NACK. */
static void drop_packet(struct pal_consumer *c, uint16_t in, const struct pal_vp8_desc *d)
{
    struct drop_run *r = c->n_runs ? &c->runs[c->n_runs - 1] : NULL;
    bool same_pic = c->have_drop_pic && d && d->has_picture_id &&
                    d->picture_id == c->last_drop_pic;
    uint16_t add = r && c->dropping ? (uint16_t)(in - (uint16_t)(r->first + r->n) + 1) : 0;
    if (add > 1 && !same_pic)
        add = 0;
    if (!add || add > DROP_GAP_MAX + 1) {
        r = new_run(c, in);
        add = 1;
    }
    r->n = (uint16_t)(r->n + add);
    c->seq_offset = (uint16_t)(c->seq_offset - add);
    /* A picture is dropped once, whatever number of packets it has. */
    if (d && d->has_picture_id && (!c->have_drop_pic || d->picture_id != c->last_drop_pic)) {
        r->npic++;
        c->pic_offset--;
        c->last_drop_pic = d->picture_id;
        c->have_drop_pic = true;
    }
    c->max_in = in;
    c->dropping = true;
}

/* Where packet in goes (false: dropped). In order (newer than any handled),
 * the temporal filter decides and the current offsets apply; late, the
 * packet is dropped if it falls in a run, else it takes the offsets in
 * force before the runs that came after it (a late packet of a higher TID
 * outside a run has its place: the receiver waits for it). */
static bool temporal_map(struct pal_consumer *c, uint16_t in, const struct pal_vp8_desc *d,
                         bool keyframe, struct offsets *o)
{
    /* before any run, one offset: the newest input is the newest sent's */
    bool in_order = c->n_runs ? pal_seq_newer(in, c->max_in)
                              : !c->packets || pal_seq_newer(in, (uint16_t)(c->last_seq -
                                                                            c->seq_offset));
    if (in_order) {
        if (!temporal_pass(c, d, keyframe)) {
            drop_packet(c, in, d);
            return false;
        }
        if (c->n_runs)
            c->max_in = in;
        c->dropping = false;
        *o = (struct offsets){c->seq_offset, c->pic_offset};
        return true;
    }
    *o = (struct offsets){c->seq_offset, c->pic_offset};
    for (size_t k = c->n_runs; k-- > 0;) {
        const struct drop_run *r = &c->runs[k];
        if (!pal_seq_newer((uint16_t)(r->first + r->n), in))
            return true; /* after r */
        if (r->n && !pal_seq_newer(r->first, in))
            return false; /* in r */
        o->seq = (uint16_t)(o->seq + r->n - r->pad);
        o->pic = (uint16_t)(o->pic + r->npic);
    }
    return !c->runs_lost;
}

/* The input sequence number of our out, and its offsets (false: before
 * the runs kept). */
static bool temporal_unmap(const struct pal_consumer *c, uint16_t out, uint16_t *in,
                           struct offsets *o)
{
    *o = (struct offsets){c->seq_offset, c->pic_offset};
    for (size_t k = c->n_runs; k-- > 0;) {
        const struct drop_run *r = &c->runs[k];
        if (!pal_seq_newer((uint16_t)(r->first + r->n), (uint16_t)(out - o->seq)))
            break; /* after r */
        if ((uint16_t)(out - (r->first + o->seq - r->pad)) < r->pad)
            return false; /* one of r's padding packets: nothing to resend */
        o->seq = (uint16_t)(o->seq + r->n - r->pad);
        o->pic = (uint16_t)(o->pic + r->npic);
        if (k == 0 && c->runs_lost)
            return false;
    }
    *in = (uint16_t)(out - o->seq);
    return true;
}

/* The source's packet rewritten into this subscriber's numbering (out = in
 * + seq_offset), SSRC, payload type and extension ids: the same bytes each
 * time for one packet, so a retransmission equals the original. */
static int rewrite(const struct pal_consumer *c, const struct pal_rtp_packet *pkt,
                   uint16_t seq_offset, uint8_t *scratch, size_t cap, size_t *len)
{
    struct pal_rtp_rewrite rw = {
        .ssrc = c->track.ssrc,
        .seq = (uint16_t)(pkt->seq + seq_offset),
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
                size_t hdr_len, const struct pal_vp8_desc *d, uint16_t pic_offset,
                int64_t send_us)
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
    /* pic_offset: also a temporal drop's, without simulcast */
    if (!(c->vp8_rewrite || pic_offset) || !d || !(d->has_picture_id || d->has_tl0picidx) ||
        d->desc_len > 8 || pal_rtp_payload(pkt) != body)
        return c->sink->send_rtp(c->sink->ctx, scratch, hdr_len, body, body_len);
    uint8_t *desc = (uint8_t *)body, saved[8];
    memcpy(saved, desc, d->desc_len);
    if (d->has_picture_id)
        pal_vp8_set_picture_id(desc, d, (uint16_t)(d->picture_id + pic_offset));
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
        /* the drops of the stream before belong to its numbering */
        c->n_runs = 0;
        c->runs_lost = c->dropping = c->have_drop_pic = false;
    }
    /* Temporal layers: only when something is or was dropped (the runs),
     * or could be; else the offsets as they are. */
    struct offsets o = {c->seq_offset, c->pic_offset};
    if ((c->n_runs || (d && d->has_tid && (d->tid > c->tid_cur || c->tid_cur != c->tid_max))) &&
        !temporal_map(c, pkt->seq, d, info->keyframe, &o))
        return PAL_CONSUMER_HELD;
    size_t len;
    int rc = rewrite(c, pkt, o.seq, scratch, cap, &len);
    if (rc)
        return rc;
    uint16_t seq = (uint16_t)(pkt->seq + o.seq);
    if (!c->packets || pal_seq_newer(seq, c->last_seq)) {
        c->last_seq = seq;
        c->last_ts = pkt->timestamp + c->ts_offset;
        c->last_ts_wall_us = wall_us;
        if (c->vp8_rewrite && d && d->has_picture_id) {
            c->last_pic = (uint16_t)((d->picture_id + o.pic) & pic_mask(d));
            c->have_pic = true;
        }
        if (c->vp8_rewrite && d && d->has_tl0picidx) {
            c->last_tl0 = (uint8_t)(d->tl0picidx + c->tl0_offset);
            c->have_tl0 = true;
        }
    }
    c->packets++;
    c->octets += pkt->payload_len;
    /* µs: the estimator groups sends 5 ms apart and compares their spacing
     * with the arrivals' (a ms clock would blur both) */
    return send(c, pkt, scratch, len, d, o.pic, info->recv_us);
}

int pal_consumer_retransmit(struct pal_consumer *c, uint16_t seq, uint8_t *scratch, size_t cap,
                            int64_t now_ms)
{
    struct pal_rtx_buffer *ring =
        c->producer && c->layer >= 0 ? pal_producer_rtx(c->producer, (size_t)c->layer) : NULL;
    const uint8_t *kept;
    size_t kept_len, len;
    struct pal_rtp_packet pkt;
    /* Only what this consumer sent since it last (re)started: the ring also
     * holds what its source sent before, or to others before we joined. */
    bool sent = c->started && c->packets &&
                (uint16_t)(seq - c->first_seq) <= (uint16_t)(c->last_seq - c->first_seq);
    uint16_t in;
    struct offsets o;
    if (!c->sink->ready || !ring || !sent || !temporal_unmap(c, seq, &in, &o) ||
        pal_rtx_buffer_get(ring, in, now_ms, &kept, &kept_len) != 0 ||
        pal_rtp_parse(&pkt, (uint8_t *)kept, kept_len, NULL) != 0) {
        c->nack_misses++;
        return -ENOENT;
    }
    struct pal_vp8_desc d;
    bool vp8 = (c->vp8_rewrite || o.pic) && pkt.payload_len > 0 &&
               pal_vp8_parse(pal_rtp_payload(&pkt), pkt.payload_len, &d, NULL) == 0;
    if (rewrite(c, &pkt, o.seq, scratch, cap, &len) != 0) {
        c->nack_misses++;
        return -ENOENT;
    }
    c->retransmitted++;
    return send(c, &pkt, scratch, len, vp8 ? &d : NULL, o.pic, now_ms * 1000);
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
        c->track.kind != PAL_MEDIA_VIDEO || !c->packets)
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
    /* the stream goes on after the run (a receiver sees no gap): the inputs
     * from the next one on are numbered n further (a run, for NACKs) */
    if (c->started) {
        uint16_t last_in = (uint16_t)(c->last_seq - c->seq_offset);
        if (!c->n_runs)
            c->max_in = last_in; /* from now on, in order means newer than it */
        new_run(c, (uint16_t)(last_in + 1))->pad = n;
        c->dropping = false;
        c->seq_offset = (uint16_t)(c->seq_offset + n);
    } else {
        c->first_seq = (uint16_t)(first + n);
    }
    c->last_seq = (uint16_t)(first + n - 1);
    return (int)(sent > INT32_MAX ? INT32_MAX : sent);
}
