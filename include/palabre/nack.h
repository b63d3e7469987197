/* Receive-side NACK generator (RFC 4585 generic NACK) for one incoming
 * stream: tracks missing sequence numbers (wrap-safe) and says which to
 * request now, retrying each at most max_retries times, spaced by the RTT,
 * and forgetting it after max_age_ms. When too many are missing it advises a
 * keyframe request instead. A fixed table: no allocation after create.
 *
 * Typical loop: pal_nack_on_packet() for every received packet, then every
 * ~20 ms pal_nack_collect() into an array and, if it returned n > 0,
 * pal_rtcp_write_nack(..., seqs, n) to the publisher.
 *
 * Thread: one owner thread (the room's worker). */
#ifndef PALABRE_NACK_H
#define PALABRE_NACK_H

#include "palabre/common.h"

struct pal_nack_config {
    unsigned max_missing;    /* tracked at once (default 256) */
    unsigned max_retries;    /* per sequence number (default 10) */
    uint32_t max_age_ms;     /* give up after (default 1000) */
    uint32_t min_interval_ms; /* between two requests of one seq if RTT unknown (default 20) */
};

struct pal_nack;

enum pal_nack_event {
    PAL_NACK_IN_ORDER = 0,  /* new packet, nothing was missing */
    PAL_NACK_GAP,           /* new packet after a gap: seqs added */
    PAL_NACK_RECOVERED,     /* a missing packet arrived (retransmission or late) */
    PAL_NACK_DUPLICATE,     /* old or already seen */
    PAL_NACK_NEED_KEYFRAME, /* gap too large or table full: reset, ask a keyframe */
};

/* cfg may be NULL (defaults). Returns 0, -EINVAL, -ENOMEM. */
int pal_nack_create(const struct pal_nack_config *cfg, struct pal_nack **out);
void pal_nack_destroy(struct pal_nack *n);

enum pal_nack_event pal_nack_on_packet(struct pal_nack *n, uint16_t seq, int64_t now_ms);
/* Round-trip time to the sender, used to space retries. */
void pal_nack_set_rtt(struct pal_nack *n, uint32_t rtt_ms);
/* Writes the sequence numbers to request now (at most cap), counts a try for
 * each, drops the ones out of tries or too old. Returns how many. */
size_t pal_nack_collect(struct pal_nack *n, int64_t now_ms, uint16_t *out, size_t cap);
/* Currently missing (for stats). */
size_t pal_nack_missing(const struct pal_nack *n);
void pal_nack_reset(struct pal_nack *n);

#endif
