/* One track forwarded to one subscriber. See palabre/consumer.h. */
#include "palabre/consumer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/producer.h"
#include "palabre/rtcp.h"
#include "palabre/rtx_buffer.h"
#include "palabre/srtp.h"

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

void pal_consumer_set_producer(struct pal_consumer *c, struct pal_producer *p)
{
    c->producer = p;
    /* Keep only the extensions both sides negotiated and the subscriber
     * can use as they are: the audio level. mid and transport-cc belong to
     * the publisher's transport and would be wrong on ours. */
    memset(&c->ext_map, 0, sizeof(c->ext_map));
    if (p && p->track.ext_audio_level && p->track.ext_audio_level < 16 &&
        c->track.ext_audio_level)
        c->ext_map.map[p->track.ext_audio_level] = c->track.ext_audio_level;
    if (c->started) {
        /* Continue our numbering after a producer change. */
        c->first_seq = (uint16_t)(c->last_seq + 1);
        c->first_ts = c->last_ts + 3000;
    }
    c->started = false;
    c->wait_keyframe = c->track.kind == PAL_MEDIA_VIDEO;
    if (c->own_rtx)
        pal_rtx_buffer_clear(c->own_rtx);
}

void pal_consumer_resume(struct pal_consumer *c, int64_t wall_us)
{
    if (c->started) {
        uint32_t rate = c->track.clock_rate ? c->track.clock_rate : 90000;
        int64_t since_us = wall_us > c->last_ts_wall_us ? wall_us - c->last_ts_wall_us : 0;
        c->first_seq = (uint16_t)(c->last_seq + 1);
        c->first_ts = c->last_ts + (uint32_t)(since_us * (int64_t)rate / 1000000) + 1;
        c->started = false;
    }
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

/* The rewritten header in scratch, the payload where pkt has it. */
static int send(struct pal_consumer *c, const struct pal_rtp_packet *pkt, const uint8_t *scratch,
                size_t hdr_len)
{
    return c->sink->send_rtp(c->sink->ctx, scratch, hdr_len, pkt->buf + hdr_len,
                             pkt->len - hdr_len);
}

int pal_consumer_forward(struct pal_consumer *c, const struct pal_rtp_packet *pkt, bool keyframe,
                         uint8_t *scratch, size_t cap, int64_t now_ms, int64_t wall_us)
{
    if (!c->sink->ready)
        return 1;
    if (c->wait_keyframe) {
        if (!keyframe)
            return 1;
        c->wait_keyframe = false;
    }
    if (!c->started) {
        c->seq_offset = (uint16_t)(c->first_seq - pkt->seq);
        c->ts_offset = c->first_ts - pkt->timestamp;
        c->started = true;
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
    }
    if (c->own_rtx)
        pal_rtx_buffer_store(c->own_rtx, pkt->seq, pkt->buf, pkt->len, now_ms);
    c->packets++;
    c->octets += pkt->payload_len;
    return send(c, pkt, scratch, len);
}

int pal_consumer_retransmit(struct pal_consumer *c, uint16_t seq, uint8_t *scratch, size_t cap,
                            int64_t now_ms)
{
    struct pal_rtx_buffer *ring = c->own_rtx ? c->own_rtx : c->producer ? c->producer->rtx : NULL;
    const uint8_t *kept;
    size_t kept_len, len;
    struct pal_rtp_packet pkt;
    /* Only what this consumer sent since it last (re)started: the ring also
     * holds what its source sent before, or to others before we joined. */
    bool sent = c->started && c->packets &&
                (uint16_t)(seq - c->first_seq) <= (uint16_t)(c->last_seq - c->first_seq);
    if (!c->sink->ready || !ring || !sent ||
        pal_rtx_buffer_get(ring, (uint16_t)(seq - c->seq_offset), now_ms, &kept, &kept_len) != 0 ||
        pal_rtp_parse(&pkt, (uint8_t *)kept, kept_len, NULL) != 0 ||
        rewrite(c, &pkt, scratch, cap, &len) != 0) {
        c->nack_misses++;
        return -ENOENT;
    }
    c->retransmitted++;
    return send(c, &pkt, scratch, len);
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
