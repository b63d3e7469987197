/* Transport-wide congestion control feedback
 * (draft-holmer-rmcat-transport-wide-cc-extensions-01): the receive side
 * records the arrival time of every packet carrying the transport-wide
 * sequence number extension and builds RTPFB FMT=15 feedback packets for the
 * sender. A fixed ring of arrival times: no allocation after create.
 * pal_twcc_feedback_decode() reads such packets back (tests, stats).
 *
 * Thread: one owner thread (the transport's worker). */
#ifndef PALABRE_TWCC_H
#define PALABRE_TWCC_H

#include "palabre/common.h"
#include "palabre/rtcp.h"

struct pal_twcc;

/* Returns 0 or -ENOMEM. */
int pal_twcc_create(uint32_t sender_ssrc, uint32_t media_ssrc, struct pal_twcc **out);
void pal_twcc_destroy(struct pal_twcc *t);

/* Records one arrival (transport-wide seq from the header extension). */
void pal_twcc_on_packet(struct pal_twcc *t, uint16_t twcc_seq, int64_t arrival_us);
/* Builds one feedback packet covering packets recorded since the last build
 * (what does not fit in cap is left for the next call). Returns 0,
 * -ENODATA (nothing to report) or -ENOSPC (cap below the minimum 20 + 8). */
int pal_twcc_build(struct pal_twcc *t, uint8_t *out, size_t cap, size_t *len);

/* Decoded feedback: for each of status_count packets from base_seq, whether
 * it was received and its receive delta in microseconds (250 us units). */
struct pal_twcc_status {
    uint16_t seq;
    bool received;
    int32_t delta_us; /* relative to the previous received packet (or reference) */
};
/* p must be a PAL_RTCP_TWCC packet. Returns the number of statuses written
 * (at most cap) or -EINVAL (malformed; err filled). */
int pal_twcc_feedback_decode(const struct pal_rtcp_packet *p, struct pal_twcc_status *out,
                             size_t cap, struct pal_wire_err *err);

#endif
