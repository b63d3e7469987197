/* The router of one room. See palabre/room.h.
 *
 * Fan-out: publisher packet (parsed once by its transport) -> producer
 * bookkeeping -> each consumer rewrites the header into the room's scratch
 * buffer -> its sink protects header and received payload into the datagram
 * (the cipher makes the one copy of the payload) and sends. Nothing is
 * allocated per packet.
 *
 * The mixer runs on the worker's mixer thread (palabre/mixer_thread.h): the
 * publishers' decrypted packets are copied to it before they are forwarded,
 * and its output packets come back (inside pal_mixer_thread_dispatch, on
 * this worker) to the consumers that forward them, as if a producer had
 * sent them. The room knows its mixer by id only. */
#include "palabre/room.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/keyframe.h"
#include "palabre/log.h"
#include "palabre/mixer.h"
#include "palabre/mixer_thread.h"
#include "palabre/nack.h"
#include "palabre/producer.h"
#include "palabre/rtcp.h"
#include "palabre/srtp.h"
#include "palabre/twcc.h"
#include "palabre/vp8.h"

#define NACK_INTERVAL_MS 20
#define REPORT_INTERVAL_MS 1000
#define TWCC_INTERVAL_MS 100
#define SPEAKER_INTERVAL_MS 500
#define SPEAKER_MIN_LOUDNESS 40 /* 127 - dBov: quieter than -87 dBov is silence */
#define SPEAKER_HYSTERESIS 6
#define RTCP_BUF (PAL_RTP_MAX_PACKET + PAL_SRTP_MAX_TRAILER)

struct pal_room_peer {
    /* borrowed */
    struct pal_room *room; /* its room: the transports call the peer directly */
    /* owned */
    struct pal_producer *producers[PAL_MEDIA_MAX_TRACKS];
    struct pal_consumer **consumers;
    struct pal_twcc *twcc;
    /* state */
    char id[PAL_MEDIA_ID_MAX];
    struct pal_media_sink sinks[2];
    size_t n_producers;
    size_t n_consumers, cap_consumers;
    uint8_t twcc_ext;
    uint32_t rtcp_ssrc; /* sender SSRC of the RTCP we send to this peer */
    uint32_t num;       /* the mixer's participant id (N-1), never 0 */
};

struct pal_room {
    /* borrowed */
    struct pal_mixer_thread *mix_thread; /* where the mixer runs; NULL: no mixing */
    /* owned */
    struct pal_room_peer **peers;
    uint32_t mixer;                      /* its id on mix_thread while a consumer forwards it */
    struct pal_consumer **mix_consumers; /* the array; consumers are their peers' */
    /* state */
    char name[PAL_MEDIA_ID_MAX];
    struct pal_room_listener l;
    size_t n_peers, cap_peers;
    int64_t last_nack_ms, last_report_ms, last_twcc_ms, last_speaker_ms;
    char speaker[PAL_MEDIA_ID_MAX];
    int speaker_level;
    struct pal_room_stats st;
    uint8_t scratch[PAL_MEDIA_SCRATCH];
    uint8_t rtcp[RTCP_BUF];
    /* mixer */
    struct pal_mixer_config mix_cfg;
    size_t n_mix_consumers, cap_mix_consumers;
    uint32_t next_peer_num, next_mix_id;
    int mix_level_ext; /* -1: no audio input yet; 0: publishers disagree, ignored */
    uint8_t mix_in[PAL_MEDIA_SCRATCH]; /* a mixer packet, parsed in place */
};

int pal_room_create(const char *name, const struct pal_room_listener *l, struct pal_room **out)
{
    *out = NULL;
    if (!name || !*name || strlen(name) >= PAL_MEDIA_ID_MAX)
        return -EINVAL;
    struct pal_room *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    snprintf(r->name, sizeof(r->name), "%s", name);
    if (l)
        r->l = *l;
    pal_mixer_config_default(&r->mix_cfg);
    r->mix_level_ext = -1;
    *out = r;
    return 0;
}

void pal_room_set_mixer_config(struct pal_room *r, const struct pal_mixer_config *c)
{
    r->mix_cfg = *c;
}

void pal_room_set_mixer_thread(struct pal_room *r, struct pal_mixer_thread *t)
{
    r->mix_thread = t;
}

bool pal_room_mixer_running(const struct pal_room *r)
{
    return r->mixer != 0;
}

static void peer_free(struct pal_room_peer *p)
{
    for (size_t i = 0; i < p->n_consumers; i++)
        pal_consumer_destroy(p->consumers[i]);
    free(p->consumers);
    for (size_t i = 0; i < p->n_producers; i++)
        pal_producer_destroy(p->producers[i]);
    pal_twcc_destroy(p->twcc);
    free(p);
}

void pal_room_destroy(struct pal_room *r)
{
    if (!r)
        return;
    if (r->mixer)
        pal_mixer_thread_close(r->mix_thread, r->mixer);
    free(r->mix_consumers);
    for (size_t i = 0; i < r->n_peers; i++)
        peer_free(r->peers[i]);
    free(r->peers);
    free(r);
}

const char *pal_room_name(const struct pal_room *r)
{
    return r->name;
}

size_t pal_room_peer_count(const struct pal_room *r)
{
    return r->n_peers;
}

void pal_room_get_stats(const struct pal_room *r, struct pal_room_stats *out)
{
    *out = r->st;
}

struct pal_room_peer *pal_room_peer_find(struct pal_room *r, const char *participant)
{
    for (size_t i = 0; i < r->n_peers; i++)
        if (strcmp(r->peers[i]->id, participant) == 0)
            return r->peers[i];
    return NULL;
}

const char *pal_room_peer_id(const struct pal_room_peer *p)
{
    return p->id;
}

int pal_room_peer_add(struct pal_room *r, const char *participant, struct pal_room_peer **out)
{
    if (out)
        *out = NULL;
    if (!participant || !*participant || strlen(participant) >= PAL_MEDIA_ID_MAX)
        return -EINVAL;
    struct pal_room_peer *p = pal_room_peer_find(r, participant);
    if (!p) {
        if (r->n_peers == r->cap_peers) {
            size_t cap = r->cap_peers ? 2 * r->cap_peers : 8;
            struct pal_room_peer **a = realloc(r->peers, cap * sizeof(*a));
            if (!a)
                return -ENOMEM;
            r->peers = a;
            r->cap_peers = cap;
        }
        p = calloc(1, sizeof(*p));
        if (!p)
            return -ENOMEM;
        snprintf(p->id, sizeof(p->id), "%s", participant);
        p->room = r;
        if (++r->next_peer_num == 0)
            ++r->next_peer_num;
        p->num = r->next_peer_num;
        pal_random_bytes(&p->rtcp_ssrc, sizeof(p->rtcp_ssrc));
        p->rtcp_ssrc |= 1;
        r->peers[r->n_peers++] = p;
    }
    if (out)
        *out = p;
    return 0;
}

/* The mixer's side of producers and consumers (defined with the mixer below). */
static void mix_input_add(struct pal_room *r, struct pal_room_peer *p, struct pal_producer *prod);
static void mix_input_remove(struct pal_room *r, struct pal_producer *prod);
static int mix_output_add(struct pal_room *r, struct pal_room_peer *p, struct pal_consumer *c);
static void mix_output_remove(struct pal_room *r, struct pal_consumer *c);
static void mix_keyframe(struct pal_room *r, struct pal_consumer *c);

/* Consumers of every peer that forward (pid, mid): link or unlink them. */
static void relink_consumers(struct pal_room *r, const char *pid, const char *mid,
                             struct pal_producer *prod, int64_t now_ms);

static void producer_unlink_all(struct pal_producer *prod)
{
    while (prod->n_consumers > 0) {
        struct pal_consumer *c = prod->consumers[prod->n_consumers - 1];
        pal_consumer_set_producer(c, NULL);
        prod->n_consumers--;
    }
}

int pal_room_peer_remove(struct pal_room *r, const char *participant)
{
    for (size_t i = 0; i < r->n_peers; i++) {
        struct pal_room_peer *p = r->peers[i];
        if (strcmp(p->id, participant) != 0)
            continue;
        for (size_t k = 0; k < p->n_producers; k++) {
            producer_unlink_all(p->producers[k]);
            mix_input_remove(r, p->producers[k]);
        }
        for (size_t k = 0; k < p->n_consumers; k++) {
            struct pal_consumer *c = p->consumers[k];
            if (c->producer)
                pal_producer_detach(c->producer, c);
            mix_output_remove(r, c);
        }
        r->peers[i] = r->peers[--r->n_peers];
        if (strcmp(r->speaker, participant) == 0)
            r->speaker[0] = '\0';
        peer_free(p);
        return 0;
    }
    return -ENOENT;
}

void pal_room_set_sink(struct pal_room_peer *p, enum pal_media_pc pc,
                       const struct pal_media_sink *sink)
{
    if (sink) {
        p->sinks[pc] = *sink;
        p->sinks[pc].ready = false;
    } else {
        memset(&p->sinks[pc], 0, sizeof(p->sinks[pc]));
    }
}

static struct pal_room_peer *owner_of(struct pal_room *r, const struct pal_producer *prod)
{
    return pal_room_peer_find(r, prod->participant);
}

static void send_rtcp_to(struct pal_room *r, struct pal_room_peer *p, enum pal_media_pc pc,
                         size_t len)
{
    struct pal_media_sink *s = &p->sinks[pc];
    if (!s->ready || !s->send_rtcp)
        return;
    if (s->send_rtcp(s->ctx, r->rtcp, len, sizeof(r->rtcp)) == 0)
        r->st.rtcp_out++;
}

static void send_pli(struct pal_room *r, struct pal_producer *prod)
{
    struct pal_room_peer *pub = owner_of(r, prod);
    size_t len;
    if (!pub || !prod->track.ssrc ||
        pal_rtcp_write_pli(r->rtcp, sizeof(r->rtcp), &len, pub->rtcp_ssrc, prod->track.ssrc))
        return;
    send_rtcp_to(r, pub, PAL_MEDIA_PC_PUBLISH, len);
    r->st.pli_out++;
    if (r->l.on_room_keyframe_request)
        r->l.on_room_keyframe_request(r->l.ctx, r->name, pub->id);
}

static void request_keyframe(struct pal_room *r, struct pal_producer *prod, int64_t now_ms)
{
    if (prod && prod->kf && pal_keyframe_request(prod->kf, now_ms))
        send_pli(r, prod);
}

void pal_room_sink_ready(struct pal_room *r, struct pal_room_peer *p, enum pal_media_pc pc,
                         int64_t now_ms)
{
    p->sinks[pc].ready = true;
    if (pc != PAL_MEDIA_PC_SUBSCRIBE)
        return;
    for (size_t i = 0; i < p->n_consumers; i++) {
        request_keyframe(r, p->consumers[i]->producer, now_ms);
        mix_keyframe(r, p->consumers[i]);
    }
}

static struct pal_producer *producer_by_mid(struct pal_room_peer *p, const char *mid, size_t *idx)
{
    for (size_t i = 0; i < p->n_producers; i++) {
        if (strcmp(p->producers[i]->track.mid, mid) == 0) {
            if (idx)
                *idx = i;
            return p->producers[i];
        }
    }
    return NULL;
}

static void relink_consumers(struct pal_room *r, const char *pid, const char *mid,
                             struct pal_producer *prod, int64_t now_ms)
{
    for (size_t i = 0; i < r->n_peers; i++) {
        struct pal_room_peer *p = r->peers[i];
        for (size_t k = 0; k < p->n_consumers; k++) {
            struct pal_consumer *c = p->consumers[k];
            if (strcmp(c->producer_pid, pid) != 0 || strcmp(c->producer_mid, mid) != 0)
                continue;
            if (c->producer)
                pal_producer_detach(c->producer, c);
            pal_consumer_set_producer(c, prod);
            if (prod && pal_producer_attach(prod, c) == 0 && p->sinks[PAL_MEDIA_PC_SUBSCRIBE].ready)
                request_keyframe(r, prod, now_ms);
        }
    }
}

static void twcc_setup(struct pal_room_peer *p, const struct pal_media_track *t)
{
    if (!t->ext_twcc || p->twcc)
        return;
    if (pal_twcc_create(p->rtcp_ssrc, t->ssrc, &p->twcc) == 0)
        p->twcc_ext = t->ext_twcc;
}

int pal_room_producer_add(struct pal_room *r, struct pal_room_peer *p,
                          const struct pal_media_track *t, int64_t now_ms)
{
    if (!t || !t->mid[0])
        return -EINVAL;
    size_t idx;
    struct pal_producer *old = producer_by_mid(p, t->mid, &idx);
    if (!old && p->n_producers == PAL_MEDIA_MAX_TRACKS)
        return -ENOSPC;
    struct pal_producer *prod;
    int rc = pal_producer_create(p->id, t, &prod);
    if (rc)
        return rc;
    if (old) {
        producer_unlink_all(old);
        mix_input_remove(r, old);
        pal_producer_destroy(old);
        p->producers[idx] = prod;
    } else {
        p->producers[p->n_producers++] = prod;
    }
    mix_input_add(r, p, prod);
    twcc_setup(p, t);
    relink_consumers(r, p->id, t->mid, prod, now_ms);
    return 0;
}

int pal_room_producer_remove(struct pal_room *r, struct pal_room_peer *p, const char *mid)
{
    size_t idx;
    struct pal_producer *prod = producer_by_mid(p, mid, &idx);
    if (!prod)
        return -ENOENT;
    producer_unlink_all(prod);
    mix_input_remove(r, prod);
    pal_producer_destroy(prod);
    p->producers[idx] = p->producers[--p->n_producers];
    return 0;
}

size_t pal_room_producer_count(const struct pal_room_peer *p)
{
    return p->n_producers;
}

static struct pal_consumer *consumer_by_mid(struct pal_room_peer *p, const char *mid, size_t *idx)
{
    for (size_t i = 0; i < p->n_consumers; i++) {
        if (strcmp(p->consumers[i]->track.mid, mid) == 0) {
            if (idx)
                *idx = i;
            return p->consumers[i];
        }
    }
    return NULL;
}

static void consumer_drop(struct pal_room *r, struct pal_room_peer *p, size_t idx)
{
    struct pal_consumer *c = p->consumers[idx];
    if (c->producer)
        pal_producer_detach(c->producer, c);
    mix_output_remove(r, c);
    pal_consumer_destroy(c);
    p->consumers[idx] = p->consumers[--p->n_consumers];
}

int pal_room_consumer_add(struct pal_room *r, struct pal_room_peer *p, const char *producer_pid,
                          const char *producer_mid, const struct pal_media_track *t,
                          int64_t now_ms)
{
    if (!t || !t->mid[0])
        return -EINVAL;
    struct pal_consumer *c;
    int rc = pal_consumer_create(p->id, producer_pid, producer_mid, t,
                                 &p->sinks[PAL_MEDIA_PC_SUBSCRIBE], &c);
    if (rc)
        return rc;
    size_t idx;
    if (consumer_by_mid(p, t->mid, &idx))
        consumer_drop(r, p, idx);
    if (p->n_consumers == p->cap_consumers) {
        size_t cap = p->cap_consumers ? 2 * p->cap_consumers : 8;
        struct pal_consumer **a = realloc(p->consumers, cap * sizeof(*a));
        if (!a) {
            pal_consumer_destroy(c);
            return -ENOMEM;
        }
        p->consumers = a;
        p->cap_consumers = cap;
    }
    p->consumers[p->n_consumers++] = c;
    if (strcmp(producer_pid, PAL_MEDIA_MIXER_ID) == 0) {
        rc = mix_output_add(r, p, c);
        if (rc)
            consumer_drop(r, p, p->n_consumers - 1);
        return rc;
    }
    struct pal_room_peer *pub = pal_room_peer_find(r, producer_pid);
    struct pal_producer *prod = pub ? producer_by_mid(pub, producer_mid, NULL) : NULL;
    pal_consumer_set_producer(c, prod);
    if (prod) {
        if (pal_producer_attach(prod, c)) {
            consumer_drop(r, p, p->n_consumers - 1);
            return -ENOMEM;
        }
        if (p->sinks[PAL_MEDIA_PC_SUBSCRIBE].ready)
            request_keyframe(r, prod, now_ms);
    }
    return 0;
}

int pal_room_consumer_remove(struct pal_room *r, struct pal_room_peer *p, const char *mid)
{
    size_t idx;
    if (!consumer_by_mid(p, mid, &idx))
        return -ENOENT;
    consumer_drop(r, p, idx);
    return 0;
}

size_t pal_room_consumer_count(const struct pal_room_peer *p)
{
    return p->n_consumers;
}

static struct pal_producer *producer_by_ssrc(struct pal_room_peer *p, uint32_t ssrc)
{
    for (size_t i = 0; i < p->n_producers; i++)
        if (p->producers[i]->track.ssrc == ssrc)
            return p->producers[i];
    return NULL;
}

void *pal_room_peer_accept_rtp(void *peer, const struct pal_rtp_packet *hdr)
{
    struct pal_room_peer *p = peer;
    struct pal_producer *prod = producer_by_ssrc(p, hdr->ssrc);
    if (prod)
        return prod;
    /* A track announced without a=ssrc: learn its SSRC from the mid
     * extension, once (header extensions are not encrypted). */
    for (size_t i = 0; i < p->n_producers; i++) {
        struct pal_producer *prod = p->producers[i];
        if (prod->track.ssrc || !prod->track.ext_mid)
            continue;
        size_t len;
        const uint8_t *mid = pal_rtp_ext_find(hdr, prod->track.ext_mid, &len);
        if (mid && len == strlen(prod->track.mid) && memcmp(mid, prod->track.mid, len) == 0) {
            prod->track.ssrc = hdr->ssrc;
            return prod;
        }
    }
    p->room->st.dropped_in++;
    return NULL;
}


/* One packet of producer prod, parsed once by the transport. */
static void on_rtp(struct pal_room *r, struct pal_room_peer *p, struct pal_producer *prod,
                   const struct pal_rtp_packet *pkt, int64_t now_ms)
{
    if (pkt->payload_type != prod->track.payload_type) {
        r->st.dropped_in++;
        return;
    }
    r->st.rtp_in++;
    if (p->twcc && p->twcc_ext) {
        size_t el;
        const uint8_t *tw = pal_rtp_ext_find(pkt, p->twcc_ext, &el);
        if (tw && el >= 2)
            pal_twcc_on_packet(p->twcc, pal_rd16(tw), now_ms * 1000);
    }
    bool keyframe;
    if (pal_producer_on_packet(prod, pkt, now_ms, &keyframe))
        request_keyframe(r, prod, now_ms);
    if (r->mixer && prod->mixer_input)
        pal_mixer_thread_push_rtp(r->mix_thread, r->mixer, prod->mixer_input, pkt->buf, pkt->len,
                                  now_ms);
    if (prod->n_consumers == 0)
        return;
    int64_t wall_us = pal_wall_ms() * 1000;
    for (size_t i = 0; i < prod->n_consumers; i++) {
        struct pal_consumer *c = prod->consumers[i];
        bool waited = c->wait_keyframe;
        int rc = pal_consumer_forward(c, pkt, keyframe, r->scratch, sizeof(r->scratch), now_ms,
                                      wall_us);
        if (rc == 0)
            r->st.rtp_out++;
        else if (rc == 1 && waited && c->sink->ready)
            request_keyframe(r, prod, now_ms); /* still waiting: keep asking (throttled) */
    }
}

void pal_room_peer_on_rtp(void *peer, void *producer, const struct pal_rtp_packet *pkt)
{
    struct pal_room_peer *p = peer;
    on_rtp(p->room, p, producer, pkt, pal_now_ms());
}

void pal_room_on_rtp(struct pal_room *r, struct pal_room_peer *p, uint8_t *buf, size_t len,
                     int64_t now_ms)
{
    struct pal_rtp_packet pkt;
    struct pal_producer *prod;
    if (pal_rtp_parse(&pkt, buf, len, NULL) != 0 || !(prod = producer_by_ssrc(p, pkt.ssrc))) {
        r->st.dropped_in++;
        return;
    }
    on_rtp(r, p, prod, &pkt, now_ms);
}

static struct pal_consumer *consumer_by_ssrc(struct pal_room_peer *p, uint32_t ssrc)
{
    for (size_t i = 0; i < p->n_consumers; i++)
        if (p->consumers[i]->track.ssrc == ssrc)
            return p->consumers[i];
    return NULL;
}

static void on_subscriber_feedback(struct pal_room *r, struct pal_room_peer *p,
                                   const struct pal_rtcp_packet *pk, int64_t now_ms)
{
    struct pal_consumer *c = consumer_by_ssrc(p, pk->fb.media_ssrc);
    switch (pk->kind) {
    case PAL_RTCP_NACK: {
        if (!c)
            return;
        uint16_t seqs[128];
        size_t n = pal_rtcp_nack_seqs(pk, seqs, PAL_ARRAY_LEN(seqs));
        r->st.nack_in += n;
        for (size_t i = 0; i < n; i++)
            if (pal_consumer_retransmit(c, seqs[i], r->scratch, sizeof(r->scratch), now_ms) == 0)
                r->st.retransmitted++;
        break;
    }
    case PAL_RTCP_PLI:
        r->st.pli_in++;
        if (c) {
            request_keyframe(r, c->producer, now_ms);
            mix_keyframe(r, c);
        }
        break;
    case PAL_RTCP_FIR:
        r->st.pli_in++;
        for (size_t i = 0; i < pal_rtcp_fir_count(pk); i++) {
            uint32_t ssrc;
            uint8_t seq;
            pal_rtcp_fir_entry(pk, i, &ssrc, &seq);
            struct pal_consumer *fc = consumer_by_ssrc(p, ssrc);
            if (fc) {
                request_keyframe(r, fc->producer, now_ms);
                mix_keyframe(r, fc);
            }
        }
        break;
    default:
        break;
    }
}

void pal_room_on_rtcp(struct pal_room *r, struct pal_room_peer *p, enum pal_media_pc pc,
                      const uint8_t *buf, size_t len, int64_t now_ms)
{
    struct pal_rtcp_iter it;
    struct pal_rtcp_packet pk;
    pal_rtcp_iter_init(&it, buf, len);
    r->st.rtcp_in++;
    int rc;
    while ((rc = pal_rtcp_next(&it, &pk, NULL)) == 1) {
        if (pc == PAL_MEDIA_PC_PUBLISH) {
            if (pk.kind == PAL_RTCP_SR) {
                struct pal_producer *prod = producer_by_ssrc(p, pk.sr.ssrc);
                if (prod)
                    pal_producer_on_sr(prod, pk.sr.ntp, now_ms);
            }
        } else {
            on_subscriber_feedback(r, p, &pk, now_ms);
        }
    }
}

void pal_room_peer_on_publish_rtcp(void *peer, uint8_t *buf, size_t len)
{
    struct pal_room_peer *p = peer;
    pal_room_on_rtcp(p->room, p, PAL_MEDIA_PC_PUBLISH, buf, len, pal_now_ms());
}

void pal_room_peer_on_subscribe_rtcp(void *peer, uint8_t *buf, size_t len)
{
    struct pal_room_peer *p = peer;
    pal_room_on_rtcp(p->room, p, PAL_MEDIA_PC_SUBSCRIBE, buf, len, pal_now_ms());
}

/* ---- the room's mixer --------------------------------------------------------- */

static struct pal_consumer *mix_consumer_by_output(struct pal_room *r, uint32_t output_id)
{
    for (size_t i = 0; i < r->n_mix_consumers; i++)
        if (r->mix_consumers[i]->mixer_output == output_id)
            return r->mix_consumers[i];
    return NULL;
}

/* A mixer output packet: forwarded by its consumer as a producer's would be
 * (rewrite into our numbering, ring for NACK, SRTP by the sink). */
static void mix_on_packet(void *ctx, uint32_t output_id, const uint8_t *rtp, size_t len)
{
    struct pal_room *r = ctx;
    struct pal_consumer *c = mix_consumer_by_output(r, output_id);
    struct pal_rtp_packet pkt;
    if (!c || len > sizeof(r->mix_in))
        return;
    memcpy(r->mix_in, rtp, len);
    if (pal_rtp_parse(&pkt, r->mix_in, len, NULL) != 0)
        return;
    bool keyframe = false;
    struct pal_vp8_desc d;
    if (c->track.kind == PAL_MEDIA_VIDEO &&
        pal_vp8_parse(pal_rtp_payload(&pkt), pkt.payload_len, &d, NULL) == 0)
        keyframe = d.is_frame_start && d.is_keyframe;
    bool waited = c->wait_keyframe;
    int rc = pal_consumer_forward(c, &pkt, keyframe, r->scratch, sizeof(r->scratch), pal_now_ms(),
                                  pal_wall_ms() * 1000);
    if (rc == 0)
        r->st.rtp_out++;
    else if (rc == 1 && waited && c->sink->ready)
        pal_mixer_thread_request_keyframe(r->mix_thread, r->mixer, output_id);
}

static struct pal_producer *producer_by_mixer_input(struct pal_room *r, uint32_t input_id,
                                                    struct pal_room_peer **owner)
{
    for (size_t i = 0; i < r->n_peers; i++)
        for (size_t k = 0; k < r->peers[i]->n_producers; k++)
            if (r->peers[i]->producers[k]->mixer_input == input_id) {
                *owner = r->peers[i];
                return r->peers[i]->producers[k];
            }
    return NULL;
}

/* A publisher's video did not decode (loss, corruption): ask it for a
 * keyframe through the same throttle as the subscribers' requests. */
static void mix_on_keyframe_needed(void *ctx, uint32_t input_id)
{
    struct pal_room *r = ctx;
    struct pal_room_peer *owner;
    struct pal_producer *prod = producer_by_mixer_input(r, input_id, &owner);
    if (prod)
        request_keyframe(r, prod, pal_now_ms());
}

/* Input and output ids: never 0 (the "none" value). */
static uint32_t mix_new_id(struct pal_room *r)
{
    if (++r->next_mix_id == 0)
        ++r->next_mix_id;
    return r->next_mix_id;
}

static void mix_input_add(struct pal_room *r, struct pal_room_peer *p, struct pal_producer *prod)
{
    if (!r->mixer || prod->mixer_input)
        return;
    uint32_t id = mix_new_id(r);
    enum pal_mixer_kind kind = prod->track.kind == PAL_MEDIA_AUDIO ? PAL_MIXER_AUDIO
                                                                    : PAL_MIXER_VIDEO;
    if (pal_mixer_thread_add_input(r->mix_thread, r->mixer, id, p->num, kind) != 0) {
        PAL_WARN("mixer", r->name, p->id, "track %s not mixed", prod->track.mid);
        return;
    }
    prod->mixer_input = id;
    if (kind != PAL_MIXER_AUDIO)
        return;
    /* One extension id for every input: kept while the publishers agree
     * (browsers do); otherwise levels are ignored and every input decoded. */
    int ext = prod->track.ext_audio_level;
    if (r->mix_level_ext == -1)
        r->mix_level_ext = ext;
    else if (r->mix_level_ext != ext)
        r->mix_level_ext = 0;
    pal_mixer_thread_set_audio_level_ext(r->mix_thread, r->mixer, (unsigned)r->mix_level_ext);
}

static void mix_input_remove(struct pal_room *r, struct pal_producer *prod)
{
    if (r->mixer && prod->mixer_input)
        pal_mixer_thread_remove_input(r->mix_thread, r->mixer, prod->mixer_input);
    prod->mixer_input = 0;
}

static void mix_stop(struct pal_room *r)
{
    if (!r->mixer)
        return;
    pal_mixer_thread_close(r->mix_thread, r->mixer); /* the thread logs its counters */
    r->mixer = 0;
    for (size_t i = 0; i < r->n_peers; i++)
        for (size_t k = 0; k < r->peers[i]->n_producers; k++)
            r->peers[i]->producers[k]->mixer_input = 0;
    r->mix_level_ext = -1;
}

static int mix_start(struct pal_room *r)
{
    if (!r->mix_thread)
        return -ENOTSUP;
    struct pal_mixer_listener l = {
        .ctx = r, .on_output_packet = mix_on_packet, .on_keyframe_needed = mix_on_keyframe_needed};
    int rc = pal_mixer_thread_open(r->mix_thread, r->name, &r->mix_cfg, &l, &r->mixer);
    if (rc) {
        PAL_WARN("mixer", r->name, NULL, "mixer not started: %s", strerror(-rc));
        r->mixer = 0;
        return rc;
    }
    r->mix_level_ext = -1;
    for (size_t i = 0; i < r->n_peers; i++)
        for (size_t k = 0; k < r->peers[i]->n_producers; k++)
            mix_input_add(r, r->peers[i], r->peers[i]->producers[k]);
    return 0;
}

static int mix_output_add(struct pal_room *r, struct pal_room_peer *p, struct pal_consumer *c)
{
    bool video = c->track.kind == PAL_MEDIA_VIDEO;
    if (strcmp(c->producer_mid, video ? "video" : "audio") != 0)
        return -EINVAL;
    if (r->n_mix_consumers == r->cap_mix_consumers) {
        size_t cap = r->cap_mix_consumers ? 2 * r->cap_mix_consumers : 8;
        struct pal_consumer **a = realloc(r->mix_consumers, cap * sizeof(*a));
        if (!a)
            return -ENOMEM;
        r->mix_consumers = a;
        r->cap_mix_consumers = cap;
    }
    int rc = r->mixer ? 0 : mix_start(r);
    if (rc)
        return rc;
    uint32_t id = mix_new_id(r);
    rc = pal_mixer_thread_add_output(r->mix_thread, r->mixer, id, p->num,
                                     video ? PAL_MIXER_VIDEO : PAL_MIXER_AUDIO, c->track.ssrc);
    if (rc) {
        if (r->n_mix_consumers == 0)
            mix_stop(r);
        return rc;
    }
    c->mixer_output = id;
    r->mix_consumers[r->n_mix_consumers++] = c;
    mix_keyframe(r, c);
    return 0;
}

static void mix_output_remove(struct pal_room *r, struct pal_consumer *c)
{
    if (!c->mixer_output)
        return;
    for (size_t i = 0; i < r->n_mix_consumers; i++)
        if (r->mix_consumers[i] == c) {
            r->mix_consumers[i] = r->mix_consumers[--r->n_mix_consumers];
            break;
        }
    if (r->mixer) {
        if (r->n_mix_consumers == 0)
            mix_stop(r); /* the outputs go with the mixer */
        else
            pal_mixer_thread_remove_output(r->mix_thread, r->mixer, c->mixer_output);
    }
    c->mixer_output = 0;
}

/* A subscriber of the composite lost the picture (PLI/FIR) or starts. */
static void mix_keyframe(struct pal_room *r, struct pal_consumer *c)
{
    if (r->mixer && c->mixer_output && c->track.kind == PAL_MEDIA_VIDEO)
        pal_mixer_thread_request_keyframe(r->mix_thread, r->mixer, c->mixer_output);
}

static void tick_nack_pli(struct pal_room *r, struct pal_room_peer *p, int64_t now_ms)
{
    for (size_t i = 0; i < p->n_producers; i++) {
        struct pal_producer *prod = p->producers[i];
        if (prod->kf && pal_keyframe_poll(prod->kf, now_ms))
            send_pli(r, prod);
        if (!prod->nack || !prod->track.ssrc)
            continue;
        uint16_t seqs[64];
        size_t n = pal_nack_collect(prod->nack, now_ms, seqs, PAL_ARRAY_LEN(seqs));
        size_t len;
        if (n && pal_rtcp_write_nack(r->rtcp, sizeof(r->rtcp) - PAL_SRTP_MAX_TRAILER, &len,
                                     p->rtcp_ssrc, prod->track.ssrc, seqs, n) == 0) {
            send_rtcp_to(r, p, PAL_MEDIA_PC_PUBLISH, len);
            r->st.nack_out += n;
        }
    }
}

static void tick_reports(struct pal_room *r, struct pal_room_peer *p, int64_t now_ms)
{
    /* RR to the publisher: one block per producer. */
    struct pal_rtcp_report_block rb[PAL_MEDIA_MAX_TRACKS];
    size_t n = 0, len;
    for (size_t i = 0; i < p->n_producers; i++)
        if (pal_producer_report_block(p->producers[i], now_ms, &rb[n]))
            n++;
    if (n && pal_rtcp_write_rr(r->rtcp, sizeof(r->rtcp) - PAL_SRTP_MAX_TRAILER, &len,
                               p->rtcp_ssrc, rb, n) == 0)
        send_rtcp_to(r, p, PAL_MEDIA_PC_PUBLISH, len);
    /* SR to the subscriber: one compound of SRs, as many as fit. */
    int64_t wall_us = pal_wall_ms() * 1000;
    size_t off = 0;
    for (size_t i = 0; i < p->n_consumers; i++) {
        size_t l;
        if (off + pal_rtcp_sr_size(0) > 1200)
            break;
        if (pal_consumer_write_sr(p->consumers[i], wall_us, r->rtcp + off, 1200 - off, &l) == 0)
            off += l;
    }
    if (off)
        send_rtcp_to(r, p, PAL_MEDIA_PC_SUBSCRIBE, off);
}

static void tick_twcc(struct pal_room *r, struct pal_room_peer *p)
{
    size_t len;
    if (p->twcc && pal_twcc_build(p->twcc, r->rtcp, 1200, &len) == 0)
        send_rtcp_to(r, p, PAL_MEDIA_PC_PUBLISH, len);
}

static void tick_speaker(struct pal_room *r)
{
    const char *best = NULL;
    int best_level = -1, current_level = -1;
    for (size_t i = 0; i < r->n_peers; i++) {
        struct pal_room_peer *p = r->peers[i];
        for (size_t k = 0; k < p->n_producers; k++) {
            if (p->producers[k]->track.kind != PAL_MEDIA_AUDIO)
                continue;
            int lv = pal_producer_take_level(p->producers[k]);
            if (strcmp(p->id, r->speaker) == 0 && lv > current_level)
                current_level = lv;
            if (lv > best_level) {
                best_level = lv;
                best = p->id;
            }
        }
    }
    if (!best || best_level < SPEAKER_MIN_LOUDNESS || strcmp(best, r->speaker) == 0)
        return;
    if (current_level >= SPEAKER_MIN_LOUDNESS && best_level < current_level + SPEAKER_HYSTERESIS)
        return;
    snprintf(r->speaker, sizeof(r->speaker), "%s", best);
    r->speaker_level = best_level;
    if (r->l.on_room_active_speaker)
        r->l.on_room_active_speaker(r->l.ctx, r->name, r->speaker);
}

void pal_room_tick(struct pal_room *r, int64_t now_ms)
{
    bool nack = now_ms - r->last_nack_ms >= NACK_INTERVAL_MS;
    bool report = now_ms - r->last_report_ms >= REPORT_INTERVAL_MS;
    bool twcc = now_ms - r->last_twcc_ms >= TWCC_INTERVAL_MS;
    if (nack)
        r->last_nack_ms = now_ms;
    if (report)
        r->last_report_ms = now_ms;
    if (twcc)
        r->last_twcc_ms = now_ms;
    for (size_t i = 0; i < r->n_peers; i++) {
        struct pal_room_peer *p = r->peers[i];
        if (nack)
            tick_nack_pli(r, p, now_ms);
        if (report)
            tick_reports(r, p, now_ms);
        if (twcc)
            tick_twcc(r, p);
    }
    if (now_ms - r->last_speaker_ms >= SPEAKER_INTERVAL_MS) {
        r->last_speaker_ms = now_ms;
        tick_speaker(r);
    }
}
