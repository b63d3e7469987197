/* The room's mixer: the adapter between the router (media/room.c) and the
 * mixer thread (palabre/mixer_thread.h). See palabre/room.h.
 *
 * The mixer runs on the worker's mixer thread: the publishers' decrypted
 * packets are copied to it before they are forwarded, and its output
 * packets come back (inside pal_mixer_thread_dispatch, on this worker) to
 * the consumers that forward them, as if a producer had sent them. The room
 * knows its mixer by id only. */
#include "room_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/log.h"
#include "palabre/mixer.h"
#include "palabre/mixer_thread.h"
#include "palabre/producer.h"
#include "palabre/simulcast.h"
#include "palabre/vp8.h"

void room_mix_init(struct pal_room *r)
{
    pal_mixer_config_default(&r->mix_cfg);
    r->mix_level_ext = -1;
}

void room_mix_fini(struct pal_room *r)
{
    if (r->mixer)
        pal_mixer_thread_close(r->mix_thread, r->mixer);
    free(r->mix_consumers);
}

void room_mix_push(struct pal_room *r, uint32_t input_id, const struct pal_rtp_packet *pkt,
                   int64_t now_ms)
{
    pal_mixer_thread_push_rtp(r->mix_thread, r->mixer, input_id, pkt->buf, pkt->len, now_ms);
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

static struct pal_consumer *mix_consumer_by_output(struct pal_room *r, uint32_t output_id)
{
    for (size_t i = 0; i < r->n_mix_consumers; i++)
        if (pal_consumer_mixer_output(r->mix_consumers[i]) == output_id)
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
    struct pal_packet_info info = {.layer = 0};
    if (pal_consumer_track(c)->kind == PAL_MEDIA_VIDEO &&
        pal_vp8_parse(pal_rtp_payload(&pkt), pkt.payload_len, &info.vp8, NULL) == 0) {
        info.has_vp8 = true;
        info.keyframe = info.vp8.is_frame_start && info.vp8.is_keyframe;
    }
    int rc = pal_consumer_forward(c, &pkt, &info, r->scratch, sizeof(r->scratch), pal_now_ms(),
                                  pal_wall_ms() * 1000);
    if (rc == PAL_CONSUMER_SENT)
        r->st.rtp_out++;
    else if (rc == PAL_CONSUMER_WANTS_KEYFRAME)
        pal_mixer_thread_request_keyframe(r->mix_thread, r->mixer, output_id);
}

static struct pal_producer *producer_by_mixer_input(struct pal_room *r, uint32_t input_id,
                                                    struct pal_room_peer **owner)
{
    for (size_t i = 0; i < r->n_peers; i++)
        for (size_t k = 0; k < r->peers[i]->n_producers; k++)
            if (pal_producer_mixer_input(r->peers[i]->producers[k], NULL) == input_id) {
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
    int layer;
    if (prod && pal_producer_mixer_input(prod, &layer))
        room_request_keyframe(r, prod, layer, pal_now_ms());
}

/* Input and output ids: never 0 (the "none" value). */
static uint32_t mix_new_id(struct pal_room *r)
{
    if (++r->next_mix_id == 0)
        ++r->next_mix_id;
    return r->next_mix_id;
}

void room_mix_input_add(struct pal_room *r, struct pal_room_peer *p, struct pal_producer *prod)
{
    if (!r->mixer || pal_producer_mixer_input(prod, NULL) || pal_producer_blocked(prod))
        return;
    const struct pal_media_track *t = pal_producer_track(prod);
    uint32_t id = mix_new_id(r);
    enum pal_mixer_kind kind = t->kind == PAL_MEDIA_AUDIO ? PAL_MIXER_AUDIO : PAL_MIXER_VIDEO;
    if (pal_mixer_thread_add_input(r->mix_thread, r->mixer, id, p->num, kind) != 0) {
        PAL_WARN("mixer", r->name, p->id, "track %s not mixed", t->mid);
        return;
    }
    pal_producer_set_mixer_input(prod, id, 0);
    if (kind != PAL_MIXER_AUDIO) {
        /* Simulcast: the smallest layer that fills a tile of the composite
         * (a 2x2 grid), kept for the input's life: its decoder needs one
         * stream. */
        struct pal_simulcast_layer layers[PAL_MEDIA_MAX_LAYERS];
        struct pal_media_view tile = {.width = (uint16_t)(r->mix_cfg.video_width / 2),
                                      .height = (uint16_t)(r->mix_cfg.video_height / 2),
                                      .visible = true};
        size_t n = pal_producer_layers(prod, pal_now_ms(), layers);
        pal_producer_set_mixer_input(prod, id, n > 1 ? pal_simulcast_choose(layers, n, &tile) : 0);
        return; /* its decoder asks for a keyframe (on_keyframe_needed) */
    }
    /* One extension id for every input: kept while the publishers agree
     * (browsers do); otherwise levels are ignored and every input decoded. */
    int ext = t->ext_audio_level;
    if (r->mix_level_ext == -1)
        r->mix_level_ext = ext;
    else if (r->mix_level_ext != ext)
        r->mix_level_ext = 0;
    pal_mixer_thread_set_audio_level_ext(r->mix_thread, r->mixer, (unsigned)r->mix_level_ext);
}

void room_mix_input_remove(struct pal_room *r, struct pal_producer *prod)
{
    uint32_t id = pal_producer_mixer_input(prod, NULL);
    if (r->mixer && id)
        pal_mixer_thread_remove_input(r->mix_thread, r->mixer, id);
    pal_producer_set_mixer_input(prod, 0, 0);
}

static void mix_stop(struct pal_room *r)
{
    if (!r->mixer)
        return;
    pal_mixer_thread_close(r->mix_thread, r->mixer); /* the thread logs its counters */
    r->mixer = 0;
    for (size_t i = 0; i < r->n_peers; i++)
        for (size_t k = 0; k < r->peers[i]->n_producers; k++)
            pal_producer_set_mixer_input(r->peers[i]->producers[k], 0, 0);
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
            room_mix_input_add(r, r->peers[i], r->peers[i]->producers[k]);
    return 0;
}

int room_mix_output_add(struct pal_room *r, struct pal_room_peer *p, struct pal_consumer *c)
{
    bool video = pal_consumer_track(c)->kind == PAL_MEDIA_VIDEO;
    if (strcmp(pal_consumer_producer_mid(c), video ? "video" : "audio") != 0)
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
                                     video ? PAL_MIXER_VIDEO : PAL_MIXER_AUDIO,
                                     pal_consumer_track(c)->ssrc);
    if (rc) {
        if (r->n_mix_consumers == 0)
            mix_stop(r);
        return rc;
    }
    pal_consumer_set_mixer_output(c, id);
    r->mix_consumers[r->n_mix_consumers++] = c;
    room_mix_keyframe(r, c);
    return 0;
}

void room_mix_output_remove(struct pal_room *r, struct pal_consumer *c)
{
    uint32_t id = pal_consumer_mixer_output(c);
    if (!id)
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
            pal_mixer_thread_remove_output(r->mix_thread, r->mixer, id);
    }
    pal_consumer_set_mixer_output(c, 0);
}

/* A subscriber of the composite lost the picture (PLI/FIR) or starts. */
void room_mix_keyframe(struct pal_room *r, struct pal_consumer *c)
{
    if (r->mixer && pal_consumer_mixer_output(c) && pal_consumer_track(c)->kind == PAL_MEDIA_VIDEO)
        pal_mixer_thread_request_keyframe(r->mix_thread, r->mixer, pal_consumer_mixer_output(c));
}
