/* Send-side bandwidth estimation for one subscriber's PeerConnection, from
 * its transport-cc feedback (palabre/twcc.h decodes it), after Google
 * Congestion Control (draft-ietf-rmcat-gcc-02):
 *
 * - delay-based: packets grouped by send time (5 ms bursts); the variation
 *   of the delay between groups, accumulated and smoothed, gives a trend
 *   (slope of a linear fit over the last 20 groups); above an adaptive
 *   threshold the link is overused (queues grow), below its opposite
 *   underused. The rate follows AIMD: x0.85 of what was received on
 *   overuse, +8 % per second otherwise (held while underused);
 * - loss-based: the loss is judged over 20 packets or more (summed over
 *   feedbacks, which hold a handful each); more than 10 % lost cuts the
 *   rate by half the loss fraction, less than 2 % lets it grow, and up to
 *   10 % it holds at least what was received. A few % of random loss
 *   (radio) thus holds the rate; it neither sinks it nor fails probes.
 * The estimate is the lower of the two, within [min_bps, max_bps].
 *
 * A fixed ring of sent packets: no allocation after create.
 *
 * The router numbers every packet it forwards to a subscriber (its
 * transport-cc extension) through pal_bwe_next_seq and feeds the
 * subscriber's feedback here; the estimate, shared among the subscriber's
 * tracks, caps their layers (palabre/bwe_alloc.h) and is reported
 * (/metrics).
 *
 * Thread: one owner thread (the room's worker). */
#ifndef PALABRE_BWE_H
#define PALABRE_BWE_H

#include "palabre/common.h"
#include "palabre/twcc.h"

struct pal_bwe;

struct pal_bwe_config {
    uint32_t start_bps, min_bps, max_bps; /* 0: 300 kbit/s, 30 kbit/s, 20 Mbit/s */
};

enum pal_bwe_usage { PAL_BWE_NORMAL = 0, PAL_BWE_OVERUSE, PAL_BWE_UNDERUSE };

/* cfg may be NULL. Returns 0 or -ENOMEM. */
int pal_bwe_create(const struct pal_bwe_config *cfg, struct pal_bwe **out);
void pal_bwe_destroy(struct pal_bwe *b);

/* A packet sent with transport-wide sequence number seq. */
void pal_bwe_on_sent(struct pal_bwe *b, uint16_t seq, size_t bytes, int64_t send_us);
/* The next transport-wide sequence number of this PeerConnection for a
 * packet of bytes sent now (recorded as pal_bwe_on_sent). */
uint16_t pal_bwe_next_seq(struct pal_bwe *b, size_t bytes, int64_t send_us);
/* Whether feedback came (the estimate says something of the link). */
bool pal_bwe_has_feedback(const struct pal_bwe *b);
/* One feedback packet's statuses (pal_twcc_feedback_decode) and its
 * reference time in microseconds (reference_time x 64 ms). */
void pal_bwe_on_feedback(struct pal_bwe *b, const struct pal_twcc_status *st, size_t n,
                         int64_t reference_us, int64_t now_us);

uint32_t pal_bwe_estimate(const struct pal_bwe *b);
/* When the estimate was last cut (overuse, or over 10 % lost), on the
 * now_us clock of pal_bwe_on_feedback; 0: never. A low estimate without a
 * cut only says little was sent (palabre/bwe_alloc.h). */
int64_t pal_bwe_last_cut_us(const struct pal_bwe *b);
/* When the link was last congested (0: never): queues grew (overuse), or
 * more than a fifth of 20 packets or more was lost. Not a few % of random
 * loss, which cuts the estimate mildly (pal_bwe_last_cut_us) but is no
 * reason to drop frames (the temporal layers, media/room.c). */
int64_t pal_bwe_last_congestion_us(const struct pal_bwe *b);
/* When the link last carried less than was sent (0: never): overuse
 * (when seen), or more than 15 % of 20 packets or more lost (when the
 * first of them was sent: a probe started since is failed only by what
 * it sent). What fails a padding probe (palabre/bwe_probe.h): a probe
 * above a policer's rate loses what it sent over, while a few % of random
 * loss, met whatever the rate, rarely crosses 15 %. */
int64_t pal_bwe_last_overflow_us(const struct pal_bwe *b);
enum pal_bwe_usage pal_bwe_usage(const struct pal_bwe *b);

#endif
