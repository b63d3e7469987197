/* palabre-load's subscriber side of transport-wide congestion control
 * (draft-holmer-rmcat-transport-wide-cc-extensions-01): what a browser's
 * subscribe PeerConnection does so that the server's send-side bandwidth
 * estimator (media/bwe.c) runs under load. Every received RTP packet that
 * carries the transport-wide sequence number extension (the id the
 * subscribe offer gives transport-cc) has its arrival time recorded; every
 * LOAD_TCC_INTERVAL_US the recorded arrivals go back to the server as
 * RTCP RTPFB FMT=15 feedback, built by the server's own builder
 * (palabre/twcc.h, media/twcc.c: a fixed ring of 4096 arrivals, so the
 * state is bounded whatever the server sends).
 *
 * Thread: the tool's single loop thread. */
#ifndef PALABRE_LOAD_TCC_H
#define PALABRE_LOAD_TCC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "palabre/rtp.h"

/* Chrome's interval once video flows (RemoteEstimatorProxy: 50 ms at and
 * above ~110 kbit/s, 5 % of the bandwidth for feedback). */
#define LOAD_TCC_INTERVAL_US 50000
/* Feedback packets one build writes at most (a burst that outgrew one
 * packet: the rest goes in the next interval's). */
#define LOAD_TCC_MAX_PACKETS 4

struct load_tcc;

/* sender_ssrc: the SSRC our RTCP is sent from. Returns 0 or -ENOMEM. */
int load_tcc_create(uint32_t sender_ssrc, struct load_tcc **out);
void load_tcc_destroy(struct load_tcc *t);

/* The transport-cc header extension id the subscribe offer (and so our
 * answer) uses; 0: not negotiated, nothing is recorded. */
void load_tcc_set_ext(struct load_tcc *t, uint8_t ext_id);

/* One received RTP packet (any SSRC: the sequence is transport-wide), at
 * arrival_us (CLOCK_MONOTONIC µs). Returns true when it carried a
 * transport-wide sequence number (recorded). */
bool load_tcc_on_rtp(struct load_tcc *t, const struct pal_rtp_packet *pkt, int64_t arrival_us);

/* Writes into out (cap bytes; the caller keeps room for the SRTCP trailer
 * past cap) a compound of up to LOAD_TCC_MAX_PACKETS feedback packets
 * covering the arrivals recorded since the last call. Returns 0 (*len > 0),
 * -ENODATA (nothing new) or -ENOSPC (cap too small for one packet). */
int load_tcc_build(struct load_tcc *t, uint8_t *out, size_t cap, size_t *len);

/* What was done so far. */
struct load_tcc_stats {
    uint64_t recorded;  /* packets whose arrival was recorded */
    uint64_t feedbacks; /* feedback packets built */
};
void load_tcc_get_stats(const struct load_tcc *t, struct load_tcc_stats *out);

#endif
