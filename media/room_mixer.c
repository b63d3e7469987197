/* The room's mixer: the adapter between the router (media/room.c) and the
 * mixer thread (palabre/mixer_thread.h). See palabre/room.h.
 *
 * To the router the mixer is one more participant. Its inputs are
 * consumers of the publishers' producers, whose sink pushes to the mixer
 * thread instead of a transport: the router's fan-out copies each packet
 * there, rewritten like a subscriber's (one numbering per input across
 * simulcast layer and SSRC changes, the audio level under one extension id
 * whatever each browser chose), the video held until a keyframe. Its
 * outputs (a participant's N-1 mix, the composite) are producers, one per
 * mixed subscriber's track: their packets come back inside
 * pal_mixer_thread_dispatch (on this worker) and go through the router as
 * a publisher's do (ring for NACKs, keyframe detection, the subscriber's
 * consumer, rates for its bandwidth share). The room knows its mixer by
 * id only. */
#include "room_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/log.h"
#include "palabre/mixer.h"
#include "palabre/mixer_thread.h"
#include "palabre/producer.h"
#include "palabre/simulcast.h"

/* The audio level's extension id on the inputs: each input consumer maps
 * its publisher's id to it. */
#define MIX_LEVEL_EXT 1
/* The transport-cc slot's extension id on the outputs (see mix_on_packet). */
#define MIX_TWCC_EXT 2

struct room_mix_input {
    /* borrowed */
    struct pal_room *room;
    struct pal_producer *prod; /* the track it mixes */
    /* owned */
    struct pal_consumer *c;
    /* state */
    struct pal_media_sink sink; /* c's: to the mixer thread */
    uint32_t id;
};

struct room_mix_output {
    struct pal_producer *prod; /* owned; its one consumer is the subscriber's */
    uint32_t id;
};

void room_mix_init(struct pal_room *r)
{
    pal_mixer_config_default(&r->mix.cfg);
}

static void input_free(struct room_mix_input *in)
{
    struct pal_producer *prod = pal_consumer_producer(in->c);
    if (prod)
        pal_producer_detach(prod, in->c);
    pal_consumer_destroy(in->c);
    free(in);
}

/* Outputs and inputs go (their mixer is closed or stopping). */
static void mix_free_all(struct room_mix *m)
{
    for (size_t i = 0; i < m->n_inputs; i++)
        input_free(m->inputs[i]);
    m->n_inputs = 0;
    for (size_t i = 0; i < m->n_outputs; i++) {
        pal_producer_unlink_all(m->outputs[i].prod);
        pal_producer_destroy(m->outputs[i].prod);
    }
    m->n_outputs = 0;
}

void room_mix_fini(struct pal_room *r)
{
    if (r->mix.id)
        pal_mixer_thread_close(r->mix.thread, r->mix.id);
    mix_free_all(&r->mix);
    free(r->mix.inputs);
    free(r->mix.outputs);
}

void pal_room_set_mixer_config(struct pal_room *r, const struct pal_mixer_config *c)
{
    r->mix.cfg = *c;
}

void pal_room_set_mixer_thread(struct pal_room *r, struct pal_mixer_thread *t)
{
    r->mix.thread = t;
}

bool pal_room_mixer_running(const struct pal_room *r)
{
    return r->mix.id != 0;
}

static struct room_mix_output *output_by_id(struct room_mix *m, uint32_t id)
{
    for (size_t i = 0; i < m->n_outputs; i++)
        if (m->outputs[i].id == id)
            return &m->outputs[i];
    return NULL;
}

static struct room_mix_output *output_of(struct room_mix *m, const struct pal_producer *prod)
{
    for (size_t i = 0; i < m->n_outputs; i++)
        if (m->outputs[i].prod == prod)
            return &m->outputs[i];
    return NULL;
}

/* A mixer output packet: through the router as a publisher's would go.
 * The mixer writes no header extension, but the subscriber's consumer
 * numbers a packet for transport-cc in the producer's own transport-cc
 * extension (as a browser's packets carry): without one, what the mix
 * sends would never be numbered, never acknowledged, and the subscriber's
 * estimate would not see its link fill. So each packet gets an empty slot
 * (RFC 8285 one-byte form, id MIX_TWCC_EXT) here, where transport is the
 * router's business, not the mixer's. */
static void mix_on_packet(void *ctx, uint32_t output_id, const uint8_t *rtp, size_t len)
{
    struct pal_room *r = ctx;
    struct room_mix_output *o = output_by_id(&r->mix, output_id);
    struct pal_rtp_packet in, pkt;
    uint8_t copy[PAL_RTP_MAX_PACKET];
    if (!o || len > sizeof(copy))
        return;
    memcpy(copy, rtp, len);
    if (pal_rtp_parse(&in, copy, len, NULL) != 0 || in.extension || in.csrc_count ||
        in.padding_len)
        return; /* not what the mixer writes */
    struct pal_rtp_header h = {.marker = in.marker,
                               .payload_type = in.payload_type,
                               .seq = in.seq,
                               .timestamp = in.timestamp,
                               .ssrc = in.ssrc,
                               .n_ext = 1};
    h.ext[0].id = MIX_TWCC_EXT;
    h.ext[0].len = 2;
    size_t n;
    if (pal_rtp_write(&h, copy + in.header_len, in.payload_len, r->mix.in, sizeof(r->mix.in),
                      &n) == 0 &&
        pal_rtp_parse(&pkt, r->mix.in, n, NULL) == 0) {
        int64_t now_us = pal_now_us();
        room_produce(r, o->prod, &pkt, now_us / 1000, now_us);
    }
}

static struct room_mix_input *input_by_id(struct room_mix *m, uint32_t id)
{
    for (size_t i = 0; i < m->n_inputs; i++)
        if (m->inputs[i]->id == id)
            return m->inputs[i];
    return NULL;
}

/* A publisher's video did not decode (loss, corruption): ask it for a
 * keyframe through the same throttle as the subscribers' requests. */
static void mix_on_keyframe_needed(void *ctx, uint32_t input_id)
{
    struct pal_room *r = ctx;
    struct room_mix_input *in = input_by_id(&r->mix, input_id);
    if (in)
        room_request_keyframe(r, pal_consumer_producer(in->c), pal_consumer_keyframe_layer(in->c),
                              pal_now_ms());
}

/* The input consumer's sink: the packet, as rewritten for the mixer, to its
 * queue (one copy; a full queue drops it, the thread counts). */
static int input_send_rtp(void *ctx, const uint8_t *hdr, size_t hdr_len, const uint8_t *body,
                          size_t body_len)
{
    struct room_mix_input *in = ctx;
    struct pal_room *r = in->room;
    pal_mixer_thread_push_rtp_parts(r->mix.thread, r->mix.id, in->id, hdr, hdr_len, body, body_len,
                                    r->now_ms);
    return PAL_CONSUMER_LOCAL;
}

static int input_send_rtcp(void *ctx, uint8_t *buf, size_t len, size_t cap)
{
    return 0; /* never called: the room sends RTCP only to its peers' consumers */
}

/* Input and output ids: never 0 (the "none" value). */
static uint32_t mix_new_id(struct room_mix *m)
{
    if (++m->next_id == 0)
        ++m->next_id;
    return m->next_id;
}

static int grow(void **a, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? 2 * *cap : 8;
    void *b = realloc(*a, c * size);
    if (!b)
        return -ENOMEM;
    *a = b;
    *cap = c;
    return 0;
}

/* The stream of prod the mixer decodes: simulcast, the smallest layer that
 * fills a tile of the composite (a 2x2 grid), kept for the input's life
 * (its decoder needs one stream). */
static int input_layer(const struct pal_room *r, const struct pal_producer *prod)
{
    struct pal_simulcast_layer layers[PAL_MEDIA_MAX_LAYERS];
    struct pal_media_view tile = {.width = (uint16_t)(r->mix.cfg.video_width / 2),
                                  .height = (uint16_t)(r->mix.cfg.video_height / 2),
                                  .visible = true};
    size_t n = pal_producer_layers(prod, pal_now_ms(), layers);
    return n > 1 ? pal_simulcast_choose(layers, n, &tile) : 0;
}

static int input_create(struct pal_room *r, struct pal_room_peer *p, struct pal_producer *prod,
                        struct room_mix_input **out)
{
    const struct pal_media_track *t = pal_producer_track(prod);
    struct room_mix_input *in = calloc(1, sizeof(*in));
    if (!in)
        return -ENOMEM;
    in->room = r;
    in->prod = prod;
    in->id = mix_new_id(&r->mix);
    in->sink = (struct pal_media_sink){
        .ctx = in, .send_rtp = input_send_rtp, .send_rtcp = input_send_rtcp, .ready = true};
    struct pal_media_track ct = {.kind = t->kind,
                                 .payload_type = t->payload_type,
                                 .clock_rate = t->clock_rate,
                                 .ssrc = in->id,
                                 .ext_audio_level = t->kind == PAL_MEDIA_AUDIO ? MIX_LEVEL_EXT : 0};
    snprintf(ct.mid, sizeof(ct.mid), "%s", t->mid);
    int rc = pal_consumer_create(PAL_MEDIA_MIXER_ID, p->id, t->mid, &ct, &in->sink, &in->c);
    if (rc) {
        free(in);
        return rc;
    }
    pal_consumer_set_producer(in->c, prod);
    if (t->kind == PAL_MEDIA_VIDEO)
        pal_consumer_set_target(in->c, input_layer(r, prod));
    *out = in;
    return 0;
}

void room_mix_input_add(struct pal_room *r, struct pal_room_peer *p, struct pal_producer *prod)
{
    struct room_mix *m = &r->mix;
    if (!m->id || pal_producer_blocked(prod))
        return;
    for (size_t i = 0; i < m->n_inputs; i++)
        if (m->inputs[i]->prod == prod)
            return;
    const struct pal_media_track *t = pal_producer_track(prod);
    struct room_mix_input *in;
    if (grow((void **)&m->inputs, m->n_inputs, &m->cap_inputs, sizeof(*m->inputs)) ||
        input_create(r, p, prod, &in)) {
        PAL_WARN("mixer", r->name, p->id, "track %s not mixed: out of memory", t->mid);
        return;
    }
    enum pal_mixer_kind kind = t->kind == PAL_MEDIA_AUDIO ? PAL_MIXER_AUDIO : PAL_MIXER_VIDEO;
    if (pal_mixer_thread_add_input(m->thread, m->id, in->id, p->num, kind) != 0 ||
        pal_producer_attach(prod, in->c) != 0) {
        PAL_WARN("mixer", r->name, p->id, "track %s not mixed", t->mid);
        pal_mixer_thread_remove_input(m->thread, m->id, in->id);
        input_free(in);
        return;
    }
    m->inputs[m->n_inputs++] = in;
    /* video: its consumer waits for a keyframe, and asks (the router's
     * want_keyframe) with the first packets */
}

void room_mix_input_remove(struct pal_room *r, struct pal_producer *prod)
{
    struct room_mix *m = &r->mix;
    for (size_t i = 0; i < m->n_inputs; i++) {
        struct room_mix_input *in = m->inputs[i];
        if (in->prod != prod)
            continue;
        if (m->id)
            pal_mixer_thread_remove_input(m->thread, m->id, in->id);
        input_free(in);
        m->inputs[i] = m->inputs[--m->n_inputs];
        return;
    }
}

static void mix_stop(struct pal_room *r)
{
    if (!r->mix.id)
        return;
    pal_mixer_thread_close(r->mix.thread, r->mix.id); /* the thread logs its counters */
    r->mix.id = 0;
    mix_free_all(&r->mix);
}

static int mix_start(struct pal_room *r)
{
    struct room_mix *m = &r->mix;
    if (!m->thread)
        return -ENOTSUP;
    struct pal_mixer_listener l = {
        .ctx = r, .on_output_packet = mix_on_packet, .on_keyframe_needed = mix_on_keyframe_needed};
    int rc = pal_mixer_thread_open(m->thread, r->name, &m->cfg, &l, &m->id);
    if (rc) {
        PAL_WARN("mixer", r->name, NULL, "mixer not started: %s", strerror(-rc));
        m->id = 0;
        return rc;
    }
    pal_mixer_thread_set_audio_level_ext(m->thread, m->id, MIX_LEVEL_EXT);
    for (size_t i = 0; i < r->n_peers; i++)
        for (size_t k = 0; k < r->peers[i]->n_producers; k++)
            room_mix_input_add(r, r->peers[i], r->peers[i]->producers[k]);
    return 0;
}

/* The output's producer: what the mixer sends (its payload type, the
 * subscriber's SSRC), with the transport-cc slot mix_on_packet adds. */
static int output_producer(const struct pal_room *r, const struct pal_consumer *c, bool video,
                           struct pal_producer **out)
{
    struct pal_media_track t = {
        .kind = video ? PAL_MEDIA_VIDEO : PAL_MEDIA_AUDIO,
        .payload_type = video ? r->mix.cfg.video_payload_type : r->mix.cfg.audio_payload_type,
        .clock_rate = video ? 90000 : 48000,
        .ssrc = pal_consumer_track(c)->ssrc,
        .ext_twcc = MIX_TWCC_EXT,
    };
    snprintf(t.mid, sizeof(t.mid), "%s", pal_consumer_producer_mid(c));
    return pal_producer_create(PAL_MEDIA_MIXER_ID, &t, out);
}

int room_mix_output_add(struct pal_room *r, struct pal_room_peer *p, const struct pal_consumer *c,
                        struct pal_producer **prod)
{
    struct room_mix *m = &r->mix;
    bool video = pal_consumer_track(c)->kind == PAL_MEDIA_VIDEO;
    *prod = NULL;
    if (strcmp(pal_consumer_producer_mid(c), video ? "video" : "audio") != 0)
        return -EINVAL;
    if (grow((void **)&m->outputs, m->n_outputs, &m->cap_outputs, sizeof(*m->outputs)))
        return -ENOMEM;
    struct room_mix_output o = {.id = mix_new_id(m)};
    int rc = output_producer(r, c, video, &o.prod);
    if (rc)
        return rc;
    rc = m->id ? 0 : mix_start(r);
    if (rc == 0)
        rc = pal_mixer_thread_add_output(m->thread, m->id, o.id, p->num,
                                         video ? PAL_MIXER_VIDEO : PAL_MIXER_AUDIO,
                                         pal_consumer_track(c)->ssrc);
    if (rc) {
        pal_producer_destroy(o.prod);
        if (m->n_outputs == 0)
            mix_stop(r);
        return rc;
    }
    m->outputs[m->n_outputs++] = o;
    *prod = o.prod;
    return 0;
}

void room_mix_output_release(struct pal_room *r, struct pal_producer *prod)
{
    struct room_mix *m = &r->mix;
    struct room_mix_output *o = prod ? output_of(m, prod) : NULL;
    if (!o || pal_producer_consumer_count(prod) > 0)
        return;
    uint32_t id = o->id;
    *o = m->outputs[--m->n_outputs];
    pal_producer_destroy(prod);
    if (m->n_outputs == 0)
        mix_stop(r); /* the inputs go with the mixer */
    else
        pal_mixer_thread_remove_output(m->thread, m->id, id);
}

bool room_mix_keyframe(struct pal_room *r, struct pal_producer *prod)
{
    struct room_mix_output *o = output_of(&r->mix, prod);
    if (o && r->mix.id && pal_producer_track(prod)->kind == PAL_MEDIA_VIDEO)
        pal_mixer_thread_request_keyframe(r->mix.thread, r->mix.id, o->id);
    return o != NULL;
}

void room_mix_update_rates(struct pal_room *r, int64_t now_ms)
{
    for (size_t i = 0; i < r->mix.n_outputs; i++)
        pal_producer_update_rates(r->mix.outputs[i].prod, now_ms);
}
