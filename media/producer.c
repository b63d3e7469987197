/* A published track: receive statistics, NACK and keyframe bookkeeping,
 * audio level, list of consumers. See palabre/producer.h. */
#include "palabre/producer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/keyframe.h"
#include "palabre/nack.h"
#include "palabre/rtx_buffer.h"
#include "palabre/vp8.h"

int pal_producer_create(const char *participant, const struct pal_media_track *t,
                        struct pal_producer **out)
{
    *out = NULL;
    if (!participant || !t || strlen(participant) >= PAL_MEDIA_ID_MAX)
        return -EINVAL;
    struct pal_producer *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    snprintf(p->participant, sizeof(p->participant), "%s", participant);
    p->track = *t;
    pal_seq_unwrapper_init(&p->unwrap);
    if (pal_rtx_buffer_create_for(t->kind == PAL_MEDIA_VIDEO, &p->rtx)) {
        free(p);
        return -ENOMEM;
    }
    if (t->kind == PAL_MEDIA_VIDEO) {
        if (pal_nack_create(NULL, &p->nack) || pal_keyframe_create(0, &p->kf)) {
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
    pal_nack_destroy(p->nack);
    pal_keyframe_destroy(p->kf);
    pal_rtx_buffer_destroy(p->rtx);
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

bool pal_producer_on_packet(struct pal_producer *p, const struct pal_rtp_packet *pkt,
                            int64_t now_ms, bool *keyframe)
{
    *keyframe = false;
    int64_t ext = pal_seq_unwrap(&p->unwrap, pkt->seq);
    if (p->received == 0) {
        p->base_ext = ext;
        p->max_ext = ext;
    } else if (ext > p->max_ext) {
        p->max_ext = ext;
    }
    p->received++;
    p->octets += pkt->payload_len;
    pal_rtx_buffer_store(p->rtx, pkt->seq, pkt->buf, pkt->len, now_ms);
    p->last_packet_ms = now_ms;

    /* Interarrival jitter (RFC 3550 A.8) in clock units. */
    int64_t arrival = now_ms * (int64_t)(p->track.clock_rate ? p->track.clock_rate : 90000) / 1000;
    int64_t transit = arrival - (int64_t)pkt->timestamp;
    if (p->have_transit) {
        int64_t d = transit - p->last_transit;
        if (d < 0)
            d = -d;
        if (d < (1 << 24)) /* ignore timestamp jumps */
            p->jitter += ((double)d - p->jitter) / 16.0;
    }
    p->last_transit = transit;
    p->have_transit = true;

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
    if (p->nack && pal_nack_on_packet(p->nack, pkt->seq, now_ms) == PAL_NACK_NEED_KEYFRAME)
        need_kf = true;
    struct pal_vp8_desc d;
    if (pkt->payload_len > 0 &&
        pal_vp8_parse(pal_rtp_payload(pkt), pkt->payload_len, &d, NULL) == 0 && d.is_keyframe) {
        *keyframe = true;
        if (p->kf)
            pal_keyframe_on_keyframe(p->kf, now_ms);
    }
    return need_kf;
}

void pal_producer_on_sr(struct pal_producer *p, uint64_t ntp, int64_t now_ms)
{
    p->last_sr_middle = pal_ntp_middle(ntp);
    p->last_sr_ms = now_ms;
}

bool pal_producer_report_block(struct pal_producer *p, int64_t now_ms,
                               struct pal_rtcp_report_block *rb)
{
    if (p->received == 0)
        return false;
    int64_t expected = p->max_ext - p->base_ext + 1;
    int64_t lost = expected - (int64_t)p->received;
    int64_t exp_int = expected - p->expected_prior;
    int64_t rec_int = (int64_t)p->received - p->received_prior;
    int64_t lost_int = exp_int - rec_int;
    p->expected_prior = expected;
    p->received_prior = (int64_t)p->received;
    memset(rb, 0, sizeof(*rb));
    rb->ssrc = p->track.ssrc;
    rb->fraction_lost = (exp_int > 0 && lost_int > 0) ? (uint8_t)((lost_int << 8) / exp_int) : 0;
    if (lost > 0x7fffff)
        lost = 0x7fffff;
    if (lost < -0x800000)
        lost = -0x800000;
    rb->cumulative_lost = (int32_t)lost;
    rb->highest_seq = (uint32_t)p->max_ext;
    rb->jitter = (uint32_t)lround(p->jitter);
    if (p->last_sr_ms) {
        rb->lsr = p->last_sr_middle;
        rb->dlsr = (uint32_t)((now_ms - p->last_sr_ms) * 65536 / 1000);
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
