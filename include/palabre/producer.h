/* A producer: one track received on a participant's publish PeerConnection.
 * It keeps the receive statistics of the stream (for RTCP RR), the NACK
 * generator and the keyframe-request throttle (video), the audio level
 * (RFC 6464) and the list of consumers it fans out to.
 *
 * Thread: the room's worker (create/destroy too). */
#ifndef PALABRE_PRODUCER_H
#define PALABRE_PRODUCER_H

#include "palabre/common.h"
#include "palabre/media.h"
#include "palabre/rtcp.h"
#include "palabre/rtp.h"

struct pal_consumer;
struct pal_nack;
struct pal_keyframe;
struct pal_rtx_buffer;

struct pal_producer {
    /* borrowed */
    struct pal_consumer **consumers; /* the array is owned, the consumers are not */
    /* owned */
    struct pal_nack *nack;   /* video only */
    struct pal_keyframe *kf; /* video only */
    struct pal_rtx_buffer *rtx; /* the packets as received (by their seq):
                                   its consumers answer NACKs from it */
    /* state */
    char participant[PAL_MEDIA_ID_MAX];
    struct pal_media_track track;
    size_t n_consumers, cap_consumers;
    struct pal_seq_unwrapper unwrap;
    int64_t base_ext, max_ext; /* extended seq of the first and highest packet */
    uint64_t received, octets;
    int64_t expected_prior, received_prior; /* at the last RR */
    double jitter;                          /* RFC 3550 A.8, in clock units */
    int64_t last_transit;
    bool have_transit;
    uint32_t last_sr_middle; /* LSR */
    int64_t last_sr_ms;      /* when it arrived */
    uint32_t level_sum, level_count; /* audio: loudness 0..127 (127 = loudest) */
    int64_t last_packet_ms;
    uint32_t mixer_input; /* the room's mixer input fed by this track, 0: none */
    bool blocked;         /* hard mute: received and counted, never forwarded nor mixed */
    uint64_t packets_received, packets_forwarded; /* palabre/media.h's track stats */
};

int pal_producer_create(const char *participant, const struct pal_media_track *t,
                        struct pal_producer **out);
/* The consumers must have been detached first (pal_consumer_set_producer NULL). */
void pal_producer_destroy(struct pal_producer *p);

int pal_producer_attach(struct pal_producer *p, struct pal_consumer *c);
void pal_producer_detach(struct pal_producer *p, struct pal_consumer *c);

/* Bookkeeping of one received packet (kept in the ring). *keyframe: it starts a VP8 keyframe.
 * Returns true if the NACK generator gave up and a keyframe should be asked. */
bool pal_producer_on_packet(struct pal_producer *p, const struct pal_rtp_packet *pkt,
                            int64_t now_ms, bool *keyframe);
void pal_producer_on_sr(struct pal_producer *p, uint64_t ntp, int64_t now_ms);
/* Fills the RR report block for this stream; false before any packet. */
bool pal_producer_report_block(struct pal_producer *p, int64_t now_ms,
                               struct pal_rtcp_report_block *rb);
/* Mean loudness since the last call (0..127, 127 = loudest), or -1 if no
 * level was received. Resets the accumulator. */
int pal_producer_take_level(struct pal_producer *p);

#endif
