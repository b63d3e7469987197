/* The router of one room. See palabre/room.h.
 *
 * Fan-out: publisher packet (parsed once by its transport) -> producer
 * bookkeeping (a copy into its retransmission ring) -> pal_producer_forward:
 * each of its consumers rewrites the header into the room's scratch buffer
 * -> its sink protects header and received payload into the datagram (the
 * cipher makes the subscriber's copy of the payload) and sends. Nothing is
 * allocated per packet.
 *
 * The room's mixer (media/room_mixer.c) is one more participant to it: its
 * inputs are consumers of the publishers' producers, its outputs producers
 * the mixed subscribers consume. */
#include "palabre/room.h"
#include "room_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/bwe.h"
#include "palabre/bwe_alloc.h"
#include "palabre/log.h"
#include "palabre/producer.h"
#include "palabre/rtcp.h"
#include "palabre/simulcast.h"
#include "palabre/srtp.h"
#include "palabre/twcc.h"

#define NACK_INTERVAL_MS 20
#define REPORT_INTERVAL_MS 1000
#define TWCC_INTERVAL_MS 100
#define SPEAKER_INTERVAL_MS 500
#define SPEAKER_MIN_LOUDNESS 40 /* 127 - dBov: quieter than -87 dBov is silence */
#define SPEAKER_HYSTERESIS 6
#define LAYERS_INTERVAL_MS 500 /* simulcast layers started or stopped: choose again */

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
    room_mix_init(r);
    *out = r;
    return 0;
}

static void peer_free(struct pal_room_peer *p)
{
    for (size_t i = 0; i < p->n_consumers; i++)
        pal_consumer_destroy(p->consumers[i]);
    free(p->consumers);
    for (size_t i = 0; i < p->n_producers; i++)
        pal_producer_destroy(p->producers[i]);
    pal_twcc_destroy(p->twcc);
    pal_bwe_destroy(p->bwe);
    free(p);
}

void pal_room_destroy(struct pal_room *r)
{
    if (!r)
        return;
    room_mix_fini(r);
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
    /* Summed here, not counted per packet. */
    for (size_t i = 0; i < r->n_peers; i++) {
        const struct pal_bwe *b = r->peers[i]->bwe;
        if (b && pal_bwe_has_feedback(b)) {
            uint32_t e = pal_bwe_estimate(b);
            out->bwe_subscribers++;
            out->bwe_sum_bps += e;
            if (!out->bwe_min_bps || e < out->bwe_min_bps)
                out->bwe_min_bps = e;
        }
    }
    for (size_t i = 0; i < r->n_peers; i++)
        for (size_t k = 0; k < r->peers[i]->n_consumers; k++) {
            const struct pal_consumer *c = r->peers[i]->consumers[k];
            uint64_t all, bw;
            pal_consumer_switches(c, &all, &bw);
            out->layer_switches += all;
            out->layer_switches_bw += bw;
            out->temporal_drops += pal_consumer_temporal_drops(c);
            if (pal_consumer_track(c)->kind == PAL_MEDIA_VIDEO && pal_consumer_producer(c) &&
                pal_consumer_target(c) < 0) {
                out->paused_tracks++;
                out->paused_tracks_bw += pal_consumer_want(c) >= 0;
            }
        }
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
        pal_bwe_probe_init(&p->probe);
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

/* Consumers of every peer that forward (pid, mid): link or unlink them. */
static void relink_consumers(struct pal_room *r, const char *pid, const char *mid,
                             struct pal_producer *prod, int64_t now_ms);

/* c leaves its producer's list, its counters the room's (they never go
 * back). */
static void consumer_unlink(struct pal_room *r, struct pal_consumer *c)
{
    uint64_t all, bw;
    pal_consumer_switches(c, &all, &bw);
    r->st.layer_switches += all;
    r->st.layer_switches_bw += bw;
    r->st.temporal_drops += pal_consumer_temporal_drops(c);
    struct pal_producer *prod = pal_consumer_producer(c);
    if (prod)
        pal_producer_detach(prod, c);
    room_mix_output_release(r, prod);
}

int pal_room_peer_remove(struct pal_room *r, const char *participant)
{
    for (size_t i = 0; i < r->n_peers; i++) {
        struct pal_room_peer *p = r->peers[i];
        if (strcmp(p->id, participant) != 0)
            continue;
        for (size_t k = 0; k < p->n_producers; k++) {
            pal_producer_unlink_all(p->producers[k]);
            room_mix_input_remove(r, p->producers[k]);
        }
        for (size_t k = 0; k < p->n_consumers; k++)
            consumer_unlink(r, p->consumers[k]);
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
    return pal_room_peer_find(r, pal_producer_participant(prod));
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

static void send_pli(struct pal_room *r, struct pal_producer *prod, size_t layer)
{
    struct pal_room_peer *pub = owner_of(r, prod);
    uint32_t ssrc = pal_producer_stream_ssrc(prod, layer);
    size_t len;
    if (!pub || !ssrc || pal_rtcp_write_pli(r->rtcp, sizeof(r->rtcp), &len, pub->rtcp_ssrc, ssrc))
        return;
    send_rtcp_to(r, pub, PAL_MEDIA_PC_PUBLISH, len);
    r->st.pli_out++;
    if (r->l.on_room_keyframe_request)
        r->l.on_room_keyframe_request(r->l.ctx, r->name, pub->id);
}

void room_request_keyframe(struct pal_room *r, struct pal_producer *prod, int layer,
                           int64_t now_ms)
{
    if (!prod || room_mix_keyframe(r, prod)) /* a mixer output: its encoder makes one */
        return;
    if (pal_producer_keyframe_request(prod, layer, now_ms))
        send_pli(r, prod, (size_t)layer);
}

/* The layer the view asks for c (-1: hidden): from how the subscriber
 * shows the track and, for a simulcast producer, which layers arrive. */
static int view_want(const struct pal_consumer *c, int64_t now_ms)
{
    const struct pal_producer *prod = pal_consumer_producer(c);
    if (!pal_producer_track(prod)->n_layers)
        return pal_consumer_view(c)->visible ? 0 : -1;
    struct pal_simulcast_layer layers[PAL_MEDIA_MAX_LAYERS];
    size_t n = pal_producer_layers(prod, now_ms, layers);
    return pal_simulcast_choose(layers, n, pal_consumer_view(c));
}

/* The layers of c's producer that arrive (all of them when none does, as
 * pal_simulcast_choose), lowest first, into idx: the bandwidth budget
 * counts only those (the browser stops the top layers of a small camera).
 * Returns their number. */
static size_t active_layers(const struct pal_consumer *c, int64_t now_ms, int *idx)
{
    struct pal_simulcast_layer layers[PAL_MEDIA_MAX_LAYERS];
    size_t n = pal_producer_layers(pal_consumer_producer(c), now_ms, layers), k = 0;
    for (size_t i = 0; i < n; i++)
        if (layers[i].active)
            idx[k++] = (int)i;
    if (k == 0)
        for (size_t i = 0; i < n; i++)
            idx[k++] = (int)i;
    return k;
}

/* Whether packets of c's producer arrive (a camera turned off sends none:
 * it takes no share of the estimate). */
static bool producer_flowing(const struct pal_consumer *c, int64_t now_ms)
{
    struct pal_simulcast_layer layers[PAL_MEDIA_MAX_LAYERS];
    size_t n = pal_producer_layers(pal_consumer_producer(c), now_ms, layers);
    for (size_t i = 0; i < n; i++)
        if (layers[i].active)
            return true;
    return false;
}

/* The position of layer among the active ones idx (-1: none). */
static int active_pos(const int *idx, size_t n, int layer)
{
    int pos = -1;
    for (size_t i = 0; i < n && layer >= 0 && idx[i] <= layer; i++)
        pos = (int)i;
    return layer < 0 ? -1 : pos < 0 ? 0 : pos;
}

/* The stream c forwards: what the view asks, capped by the subscriber's
 * bandwidth (tick_budget). A new one gets its keyframe asked; the
 * subscriber is told when bandwidth holds the track back, changes its
 * layer meanwhile, or lets it go. */
static void consumer_choose(struct pal_room *r, struct pal_room_peer *sub,
                            struct pal_consumer *c, int64_t now_ms)
{
    struct pal_producer *prod = pal_consumer_producer(c);
    if (!prod || pal_consumer_track(c)->kind != PAL_MEDIA_VIDEO)
        return;
    int want = view_want(c, now_ms), idx[PAL_MEDIA_MAX_LAYERS];
    size_t n = active_layers(c, now_ms, idx);
    int pos = active_pos(idx, n, want);
    int allowed = pal_bwe_alloc_layer(pal_consumer_alloc(c), pos);
    int target = allowed >= 0 ? idx[allowed] : -1;
    if (pal_consumer_choose(c, want, target) && sub->sinks[PAL_MEDIA_PC_SUBSCRIBE].ready)
        room_request_keyframe(r, prod, target, now_ms);
    bool limited = pal_bwe_alloc_limited(pal_consumer_alloc(c), pos);
    /* told only what bandwidth does (held back, or no longer): what the view
     * does, the subscriber asked (no event per track and subscriber on join) */
    if (pal_consumer_report_quality(c, target, limited) && r->l.on_room_track_quality)
        r->l.on_room_track_quality(r->l.ctx, r->name, sub->id, pal_consumer_producer_pid(c),
                                   pal_consumer_producer_mid(c), target, limited);
}

/* VP8 temporal layers for subscriber p's congestion: its video drops to
 * TL0 at once when its estimate was cut in the last TEMPORAL_CUT_MS and no
 * longer covers TEMPORAL_COVER_PCT of what p is sent (a lower frame rate
 * needs no keyframe, a layer switch does: this acts first, the
 * allocator's switch follows), and gets every layer back after
 * TEMPORAL_CLEAR_MS without a cut. In between, as it is. The cover test
 * keeps one cut of a link that carries it all (the estimator's first
 * answer to a delay blip: 85 % of what arrived) from dropping frames:
 * at TL0 less arrives, and the next cut would start from that. */
#define TEMPORAL_CUT_MS 1500
#define TEMPORAL_CLEAR_MS 2000
#define TEMPORAL_COVER_PCT 75
static void temporal_for_congestion(struct pal_room_peer *p, int64_t now_ms)
{
    if (!p->bwe || !pal_bwe_has_feedback(p->bwe))
        return;
    int64_t cut = pal_bwe_last_congestion_us(p->bwe) / 1000; /* not random loss */
    int tid;
    if (cut && now_ms - cut < TEMPORAL_CUT_MS) {
        uint64_t sent = 0; /* the publishers' rates of what p is forwarded */
        for (size_t k = 0; k < p->n_consumers; k++) {
            struct pal_consumer *c = p->consumers[k];
            struct pal_producer *prod = pal_consumer_producer(c);
            if (prod && !pal_producer_blocked(prod) && pal_consumer_layer(c) >= 0)
                sent += pal_producer_stream_bps(prod, (size_t)pal_consumer_layer(c));
        }
        if ((uint64_t)pal_bwe_estimate(p->bwe) * 100 >= sent * TEMPORAL_COVER_PCT)
            return;
        tid = 0;
    } else if (!cut || now_ms - cut >= TEMPORAL_CLEAR_MS) {
        tid = PAL_CONSUMER_TEMPORAL_ALL;
    } else {
        return;
    }
    for (size_t k = 0; k < p->n_consumers; k++)
        if (pal_consumer_track(p->consumers[k])->kind == PAL_MEDIA_VIDEO)
            pal_consumer_set_max_temporal(p->consumers[k], tid);
}

void pal_room_sink_ready(struct pal_room *r, struct pal_room_peer *p, enum pal_media_pc pc,
                         int64_t now_ms)
{
    p->sinks[pc].ready = true;
    if (pc != PAL_MEDIA_PC_SUBSCRIBE)
        return;
    for (size_t i = 0; i < p->n_consumers; i++)
        room_request_keyframe(r, pal_consumer_producer(p->consumers[i]),
                              pal_consumer_keyframe_layer(p->consumers[i]), now_ms);
}

static struct pal_producer *producer_by_mid(struct pal_room_peer *p, const char *mid, size_t *idx)
{
    for (size_t i = 0; i < p->n_producers; i++) {
        if (strcmp(pal_producer_track(p->producers[i])->mid, mid) == 0) {
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
            if (strcmp(pal_consumer_producer_pid(c), pid) != 0 ||
                strcmp(pal_consumer_producer_mid(c), mid) != 0)
                continue;
            if (pal_consumer_producer(c))
                pal_producer_detach(pal_consumer_producer(c), c);
            pal_consumer_set_producer(c, prod);
            consumer_choose(r, p, c, now_ms);
            if (prod && pal_producer_attach(prod, c) == 0 && p->sinks[PAL_MEDIA_PC_SUBSCRIBE].ready)
                room_request_keyframe(r, prod, pal_consumer_keyframe_layer(c), now_ms);
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
    pal_producer_set_blocked(prod, t->kind <= PAL_MEDIA_VIDEO && p->blocked[t->kind], 0);
    if (old) {
        pal_producer_inherit(prod, old); /* a renegotiation */
        pal_producer_unlink_all(old);
        room_mix_input_remove(r, old);
        pal_producer_destroy(old);
        p->producers[idx] = prod;
    } else {
        p->producers[p->n_producers++] = prod;
    }
    if (t->n_layers)
        PAL_INFO("media", r->name, p->id, "track %s: simulcast, %u layers", t->mid, t->n_layers);
    room_mix_input_add(r, p, prod);
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
    pal_producer_unlink_all(prod);
    room_mix_input_remove(r, prod);
    pal_producer_destroy(prod);
    p->producers[idx] = p->producers[--p->n_producers];
    return 0;
}

size_t pal_room_producer_count(const struct pal_room_peer *p)
{
    return p->n_producers;
}

static void producer_unblock(struct pal_room *r, struct pal_room_peer *p,
                             struct pal_producer *prod, int64_t now_ms)
{
    pal_producer_set_blocked(prod, false, pal_wall_ms() * 1000); /* resumes its consumers */
    room_mix_input_add(r, p, prod);
    /* video: the subscribers' picture back */
    if (pal_producer_consumer_count(prod))
        for (size_t i = 0; i < pal_producer_stream_count(prod); i++)
            room_request_keyframe(r, prod, (int)i, now_ms);
}

int pal_room_block(struct pal_room *r, struct pal_room_peer *p, enum pal_media_kind kind,
                   bool blocked, int64_t now_ms)
{
    if (kind != PAL_MEDIA_AUDIO && kind != PAL_MEDIA_VIDEO)
        return -EINVAL;
    p->blocked[kind] = blocked;
    for (size_t i = 0; i < p->n_producers; i++) {
        struct pal_producer *prod = p->producers[i];
        if (pal_producer_track(prod)->kind != kind || pal_producer_blocked(prod) == blocked)
            continue;
        if (blocked) {
            pal_producer_set_blocked(prod, true, 0);
            room_mix_input_remove(r, prod); /* the mix and the composite drop it */
        } else {
            producer_unblock(r, p, prod, now_ms);
        }
    }
    return 0;
}

bool pal_room_blocked(const struct pal_room_peer *p, enum pal_media_kind kind)
{
    return (kind == PAL_MEDIA_AUDIO || kind == PAL_MEDIA_VIDEO) && p->blocked[kind];
}

size_t pal_room_track_stats(const struct pal_room_peer *p, struct pal_media_track_stats *out,
                            size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n_producers && n < cap; i++, n++) {
        const struct pal_producer *prod = p->producers[i];
        memset(&out[n], 0, sizeof(out[n]));
        snprintf(out[n].mid, sizeof(out[n].mid), "%s", pal_producer_track(prod)->mid);
        out[n].kind = pal_producer_track(prod)->kind;
        out[n].blocked = pal_producer_blocked(prod);
        pal_producer_counters(prod, &out[n].packets_received, &out[n].packets_forwarded);
    }
    return n;
}

static struct pal_consumer *consumer_by_mid(struct pal_room_peer *p, const char *mid, size_t *idx)
{
    for (size_t i = 0; i < p->n_consumers; i++) {
        if (strcmp(pal_consumer_track(p->consumers[i])->mid, mid) == 0) {
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
    consumer_unlink(r, c);
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
    if (t->ext_twcc && !p->bwe)
        pal_bwe_create(NULL, &p->bwe); /* without it (no memory), no numbering */
    pal_consumer_set_bwe(c, t->ext_twcc ? p->bwe : NULL);
    struct pal_producer *prod = NULL;
    if (strcmp(producer_pid, PAL_MEDIA_MIXER_ID) == 0) {
        rc = room_mix_output_add(r, p, c, &prod); /* a producer of its own, fed by the mixer */
        if (rc) {
            consumer_drop(r, p, p->n_consumers - 1);
            return rc;
        }
    } else {
        struct pal_room_peer *pub = pal_room_peer_find(r, producer_pid);
        prod = pub ? producer_by_mid(pub, producer_mid, NULL) : NULL;
    }
    pal_consumer_set_producer(c, prod);
    consumer_choose(r, p, c, now_ms);
    if (prod) {
        if (pal_producer_attach(prod, c)) {
            consumer_drop(r, p, p->n_consumers - 1);
            return -ENOMEM;
        }
        if (p->sinks[PAL_MEDIA_PC_SUBSCRIBE].ready)
            room_request_keyframe(r, prod, pal_consumer_keyframe_layer(c), now_ms);
    }
    return 0;
}

int pal_room_set_view(struct pal_room *r, struct pal_room_peer *p, const char *producer_pid,
                      const char *producer_mid, const struct pal_media_view *v, int64_t now_ms)
{
    int found = -ENOENT;
    for (size_t i = 0; i < p->n_consumers; i++) {
        struct pal_consumer *c = p->consumers[i];
        if (strcmp(pal_consumer_producer_pid(c), producer_pid) ||
            strcmp(pal_consumer_producer_mid(c), producer_mid))
            continue;
        pal_consumer_set_view(c, v);
        consumer_choose(r, p, c, now_ms);
        found = 0;
    }
    return found;
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
        if (pal_producer_has_ssrc(p->producers[i], ssrc))
            return p->producers[i];
    return NULL;
}

void *pal_room_peer_accept_rtp(void *peer, const struct pal_rtp_packet *hdr)
{
    struct pal_room_peer *p = peer;
    struct pal_producer *prod = producer_by_ssrc(p, hdr->ssrc);
    if (prod)
        return prod;
    /* A simulcast layer: learnt from its rid extension. */
    for (size_t i = 0; i < p->n_producers; i++) {
        struct pal_producer *sp = p->producers[i];
        const struct pal_media_track *t = pal_producer_track(sp);
        int l = t->n_layers ? pal_producer_stream_of(sp, hdr) : -1;
        if (l >= 0) {
            PAL_INFO("media", p->room->name, p->id, "track %s: layer %s is SSRC %u", t->mid,
                     t->rids[l], hdr->ssrc);
            return sp;
        }
    }
    /* A track announced without a=ssrc: learn its SSRC from the mid
     * extension, once (header extensions are not encrypted). */
    for (size_t i = 0; i < p->n_producers; i++)
        if (pal_producer_learn_ssrc(p->producers[i], hdr))
            return p->producers[i];
    p->room->st.dropped_in++;
    return NULL;
}


int room_produce(struct pal_room *r, struct pal_producer *prod, const struct pal_rtp_packet *pkt,
                 int64_t now_ms, int64_t now_us)
{
    struct pal_packet_info info;
    info.recv_us = now_us;
    int rc = pal_producer_on_packet(prod, pkt, now_ms, &info);
    if (rc < 0)
        return rc;
    if (rc == PAL_PRODUCER_NEED_KEYFRAME)
        room_request_keyframe(r, prod, info.layer, now_ms);
    /* hard mute (blocked): bookkeeping only (RR, NACK), nothing goes out */
    bool want_kf;
    r->now_ms = now_ms;
    r->st.rtp_out +=
        pal_producer_forward(prod, pkt, &info, r->scratch, sizeof(r->scratch), now_ms, &want_kf);
    if (want_kf) /* a subscriber still waits for its keyframe: keep asking (throttled) */
        room_request_keyframe(r, prod, info.layer, now_ms);
    return 0;
}

/* One packet of producer prod, parsed once by the transport. */
static void on_rtp(struct pal_room *r, struct pal_room_peer *p, struct pal_producer *prod,
                   const struct pal_rtp_packet *pkt, int64_t now_ms, int64_t now_us)
{
    if (room_produce(r, prod, pkt, now_ms, now_us) != 0) {
        r->st.dropped_in++;
        return;
    }
    r->st.rtp_in++;
    if (p->twcc && p->twcc_ext) {
        size_t el;
        const uint8_t *tw = pal_rtp_ext_find(pkt, p->twcc_ext, &el);
        if (tw && el >= 2)
            pal_twcc_on_packet(p->twcc, pal_rd16(tw), now_us);
    }
}

void pal_room_peer_on_rtp(void *peer, void *producer, const struct pal_rtp_packet *pkt)
{
    struct pal_room_peer *p = peer;
    int64_t now_us = pal_now_us();
    on_rtp(p->room, p, producer, pkt, now_us / 1000, now_us);
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
    on_rtp(r, p, prod, &pkt, now_ms, now_ms * 1000);
}

static struct pal_consumer *consumer_by_ssrc(struct pal_room_peer *p, uint32_t ssrc)
{
    for (size_t i = 0; i < p->n_consumers; i++)
        if (pal_consumer_track(p->consumers[i])->ssrc == ssrc)
            return p->consumers[i];
    return NULL;
}

static void on_subscriber_feedback(struct pal_room *r, struct pal_room_peer *p,
                                   const struct pal_rtcp_packet *pk, int64_t now_ms)
{
    struct pal_consumer *c = consumer_by_ssrc(p, pk->fb.media_ssrc);
    switch (pk->kind) {
    case PAL_RTCP_NACK: {
        if (!c || (pal_consumer_producer(c) && pal_producer_blocked(pal_consumer_producer(c))))
            return;
        uint16_t seqs[128];
        size_t n = pal_rtcp_nack_seqs(pk, seqs, PAL_ARRAY_LEN(seqs));
        r->st.nack_in += n;
        for (size_t i = 0; i < n; i++)
            if (pal_consumer_retransmit(c, seqs[i], r->scratch, sizeof(r->scratch), now_ms) == 0)
                r->st.retransmitted++;
        break;
    }
    case PAL_RTCP_TWCC: {
        int n = p->bwe ? pal_twcc_feedback_decode(pk, r->tw_status, PAL_ARRAY_LEN(r->tw_status),
                                                  NULL)
                       : -1;
        if (n > 0) {
            pal_bwe_on_feedback(p->bwe, r->tw_status, (size_t)n,
                                (int64_t)pk->fb.u.twcc.reference_time * 64000, now_ms * 1000);
            temporal_for_congestion(p, now_ms); /* at once, not at the next layers tick */
        }
        break;
    }
    case PAL_RTCP_PLI:
        r->st.pli_in++;
        if (c)
            room_request_keyframe(r, pal_consumer_producer(c), pal_consumer_keyframe_layer(c),
                                  now_ms);
        break;
    case PAL_RTCP_FIR:
        r->st.pli_in++;
        for (size_t i = 0; i < pal_rtcp_fir_count(pk); i++) {
            uint32_t ssrc;
            uint8_t seq;
            pal_rtcp_fir_entry(pk, i, &ssrc, &seq);
            struct pal_consumer *fc = consumer_by_ssrc(p, ssrc);
            if (fc)
                room_request_keyframe(r, pal_consumer_producer(fc), pal_consumer_keyframe_layer(fc),
                                      now_ms);
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
                    pal_producer_on_sr(prod, pk.sr.ssrc, pk.sr.ntp, now_ms);
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

static void tick_nack_pli(struct pal_room *r, struct pal_room_peer *p, int64_t now_ms)
{
    for (size_t i = 0; i < p->n_producers; i++) {
        struct pal_producer *prod = p->producers[i];
        for (size_t k = 0; k < pal_producer_stream_count(prod); k++) {
            if (pal_producer_keyframe_poll(prod, k, now_ms))
                send_pli(r, prod, k);
            uint16_t seqs[64];
            size_t n = pal_producer_collect_nacks(prod, k, now_ms, seqs, PAL_ARRAY_LEN(seqs));
            size_t len;
            if (n && pal_rtcp_write_nack(r->rtcp, sizeof(r->rtcp) - PAL_SRTP_MAX_TRAILER, &len,
                                         p->rtcp_ssrc, pal_producer_stream_ssrc(prod, k), seqs,
                                         n) == 0) {
                send_rtcp_to(r, p, PAL_MEDIA_PC_PUBLISH, len);
                r->st.nack_out += n;
            }
        }
    }
}

static void tick_reports(struct pal_room *r, struct pal_room_peer *p, int64_t now_ms)
{
    /* RR to the publisher: one block per producer. */
    struct pal_rtcp_report_block rb[PAL_MEDIA_MAX_TRACKS * PAL_MEDIA_MAX_LAYERS];
    size_t n = 0, len;
    for (size_t i = 0; i < p->n_producers; i++)
        for (size_t k = 0; k < pal_producer_stream_count(p->producers[i]) && n < PAL_ARRAY_LEN(rb);
             k++)
            if (pal_producer_report_block(p->producers[i], k, now_ms, &rb[n]))
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
            if (pal_producer_track(p->producers[k])->kind != PAL_MEDIA_AUDIO)
                continue;
            int lv = pal_producer_take_level(p->producers[k]);
            if (pal_producer_blocked(p->producers[k]))
                continue; /* a hard-muted microphone is nobody's active speaker */
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

#define AUDIO_RESERVE_BPS 50000 /* an audio track whose rate is not measured yet */
#define MIN_NEED_BPS 30000

/* What layer l of n needs when its rate is not measured yet: the q/h/f
 * ladder of a 720p camera, top aligned (one layer: the top's). */
static uint32_t nominal_need(size_t l, size_t n)
{
    static const uint32_t ladder[] = {150000, 500000, 1500000};
    size_t i = l + PAL_ARRAY_LEN(ladder) - n;
    return i < PAL_ARRAY_LEN(ladder) ? ladder[i] : ladder[PAL_ARRAY_LEN(ladder) - 1];
}

/* A video track's weight in its subscriber's share of the estimate: the
 * room's priorities (a screen share, then the active speaker's camera). */
static unsigned share_weight(const struct pal_room *r, const struct pal_consumer *c)
{
    if (!strncmp(pal_producer_track(pal_consumer_producer(c))->track_id, "screen-", 7))
        return 4;
    return strcmp(pal_consumer_producer_pid(c), r->speaker) == 0 ? 2 : 1;
}

/* What each active layer of c's producer needs (measured, else nominal),
 * lowest first, into need (idx: their stream indexes). Returns their number. */
static size_t layer_needs(const struct pal_consumer *c, int64_t now_ms, uint32_t *need, int *idx)
{
    const struct pal_producer *prod = pal_consumer_producer(c);
    size_t n = active_layers(c, now_ms, idx);
    for (size_t l = 0; l < n; l++) {
        uint32_t bps = pal_producer_stream_bps(prod, (size_t)idx[l]);
        need[l] = bps ? bps : nominal_need((size_t)idx[l], pal_producer_stream_count(prod));
        if (need[l] < MIN_NEED_BPS)
            need[l] = MIN_NEED_BPS;
    }
    return n;
}

/* A video track the subscriber shows, whose publisher sends. */
static bool budgeted(const struct pal_consumer *c, int64_t now_ms)
{
    const struct pal_producer *prod = pal_consumer_producer(c);
    return prod && !pal_producer_blocked(prod) && pal_consumer_track(c)->kind == PAL_MEDIA_VIDEO &&
           producer_flowing(c, now_ms) && view_want(c, now_ms) >= 0;
}

/* Shares the subscriber's estimate: audio first (what it measures), then
 * the lowest layer of each video track it shows, by the room's priorities
 * (share_weight: a screen share, the active speaker, the others) as long as
 * they fit (everyone keeps a picture before anyone gets a better one), then
 * the rest between those tracks by weight; each track's cap follows its
 * share (palabre/bwe_alloc.h). When tracks are held back, a probe cluster
 * (palabre/bwe_probe.h) looks for the room the next layer of one of them
 * would need. Before any feedback, nothing limits. */
static void tick_budget(struct pal_room *r, struct pal_room_peer *p, int64_t now_ms)
{
    if (!p->bwe || !pal_bwe_has_feedback(p->bwe))
        return;
    uint64_t audio = 0, media = 0;
    for (size_t k = 0; k < p->n_consumers; k++) {
        struct pal_consumer *c = p->consumers[k];
        const struct pal_producer *prod = pal_consumer_producer(c);
        if (!prod || pal_producer_blocked(prod))
            continue;
        uint32_t bps = pal_producer_stream_bps(prod, 0);
        if (pal_consumer_track(c)->kind == PAL_MEDIA_AUDIO)
            audio += bps ? bps : AUDIO_RESERVE_BPS;
        else if (pal_consumer_layer(c) >= 0)
            media += pal_producer_stream_bps(prod, (size_t)pal_consumer_layer(c));
    }
    p->media_bps = (uint32_t)(audio + media > UINT32_MAX ? UINT32_MAX : audio + media);
    uint64_t est = pal_bwe_estimate(p->bwe);
    uint64_t avail = est > audio ? est - audio : 0;
    int64_t cut = pal_bwe_last_cut_us(p->bwe) / 1000;
    uint32_t need[PAL_MEDIA_MAX_LAYERS];
    int idx[PAL_MEDIA_MAX_LAYERS];
    /* the lowest layers, by priority: floor_bps kept in each allocator */
    uint64_t floors = 0, weights = 0;
    static const unsigned levels[] = {4, 2, 1};
    for (size_t k = 0; k < p->n_consumers; k++)
        pal_consumer_alloc(p->consumers[k])->floor_bps = 0;
    for (size_t lv = 0; lv < PAL_ARRAY_LEN(levels); lv++)
        for (size_t k = 0; k < p->n_consumers; k++) {
            struct pal_consumer *c = p->consumers[k];
            if (!budgeted(c, now_ms) || share_weight(r, c) != levels[lv])
                continue;
            size_t n = layer_needs(c, now_ms, need, idx);
            if (n == 0 || floors + need[0] > avail)
                continue;
            pal_consumer_alloc(c)->floor_bps = need[0];
            floors += need[0];
            weights += levels[lv];
        }
    uint64_t rest = avail - floors;
    uint64_t kept = 0, probe_for = 0; /* video kept as it is; the estimate a step up needs */
    for (size_t k = 0; k < p->n_consumers; k++) {
        struct pal_consumer *c = p->consumers[k];
        const struct pal_producer *prod = pal_consumer_producer(c);
        if (!prod || pal_producer_blocked(prod) || pal_consumer_track(c)->kind != PAL_MEDIA_VIDEO ||
            !producer_flowing(c, now_ms))
            continue;
        size_t n = layer_needs(c, now_ms, need, idx);
        unsigned w = share_weight(r, c);
        struct pal_bwe_alloc *a = pal_consumer_alloc(c);
        uint32_t share = a->floor_bps ? (uint32_t)(a->floor_bps + rest * w / weights) : 0;
        int pos = active_pos(idx, n, view_want(c, now_ms));
        pal_bwe_alloc_step(a, need, n, pos, share, cut, now_ms);
        int cur = pal_bwe_alloc_layer(a, pos);
        kept += cur >= 0 ? need[cur < (int)n ? cur : (int)n - 1] : 0;
        uint64_t next = pal_bwe_alloc_next_need(a, need, n, pos);
        /* the estimate that would give it next: its floor's part grown, or a
         * floor of its own */
        uint64_t needed = !next        ? 0
                          : a->floor_bps ? floors + (next - a->floor_bps) * weights / w
                                         : floors + next;
        if (needed > probe_for)
            probe_for = needed;
    }
    if (!probe_for)
        return;
    uint64_t want = audio + (probe_for > kept ? probe_for : kept);
    if (pal_bwe_probe_start(&p->probe, (uint32_t)(want > UINT32_MAX ? UINT32_MAX : want),
                            (uint32_t)est, (uint32_t)(audio + kept), true, now_ms * 1000))
        r->st.bwe_probes++;
}

/* A probe cluster runs: this tick's padding, on the first of the
 * subscriber's video tracks that can carry it. */
static void tick_probe(struct pal_room *r, struct pal_room_peer *p, int64_t now_ms)
{
    size_t bytes = pal_bwe_probe_tick(&p->probe, p->media_bps, pal_bwe_last_overflow_us(p->bwe),
                                      now_ms * 1000);
    for (size_t k = 0; bytes && k < p->n_consumers; k++) {
        int rc = pal_consumer_send_padding(p->consumers[k], bytes, now_ms * 1000);
        if (rc > 0) {
            pal_bwe_probe_sent(&p->probe, (size_t)rc);
            r->st.bwe_padding_bytes += (uint64_t)rc;
            break;
        }
    }
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
        if (pal_bwe_probe_running(&p->probe))
            tick_probe(r, p, now_ms);
    }
    if (now_ms - r->last_layers_ms >= LAYERS_INTERVAL_MS) {
        r->last_layers_ms = now_ms;
        for (size_t i = 0; i < r->n_peers; i++)
            for (size_t k = 0; k < r->peers[i]->n_producers; k++)
                pal_producer_update_rates(r->peers[i]->producers[k], now_ms);
        room_mix_update_rates(r, now_ms);
        for (size_t i = 0; i < r->n_peers; i++) {
            temporal_for_congestion(r->peers[i], now_ms);
            tick_budget(r, r->peers[i], now_ms);
            for (size_t k = 0; k < r->peers[i]->n_consumers; k++) {
                struct pal_consumer *c = r->peers[i]->consumers[k];
                if (pal_consumer_producer(c) && pal_consumer_track(c)->kind == PAL_MEDIA_VIDEO)
                    consumer_choose(r, r->peers[i], c, now_ms);
            }
        }
    }
    if (now_ms - r->last_speaker_ms >= SPEAKER_INTERVAL_MS) {
        r->last_speaker_ms = now_ms;
        tick_speaker(r);
    }
}
