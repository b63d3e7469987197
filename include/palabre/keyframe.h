/* Keyframe request throttling and coalescing for one published video stream.
 *
 * Many subscribers (and the NACK generator) may ask for a keyframe at once:
 * requests within one interval are coalesced into a single PLI (or FIR) to
 * the publisher, at most one per min_interval_ms; a request arriving during
 * the throttle window stays pending and is sent when the window ends, unless
 * a keyframe arrives first (which satisfies it).
 *
 *   pal_keyframe_request(k, now)   -> true: send a PLI now
 *   pal_keyframe_poll(k, now)      -> true: a pending request is due now
 *   pal_keyframe_on_keyframe(k, now)  a keyframe was forwarded
 *
 * Thread: one owner thread (the room's worker). */
#ifndef PALABRE_KEYFRAME_H
#define PALABRE_KEYFRAME_H

#include "palabre/common.h"

#define PAL_KEYFRAME_MIN_INTERVAL_MS 500

struct pal_keyframe;

/* min_interval_ms: 0 means PAL_KEYFRAME_MIN_INTERVAL_MS. Returns 0 or -ENOMEM. */
int pal_keyframe_create(uint32_t min_interval_ms, struct pal_keyframe **out);
void pal_keyframe_destroy(struct pal_keyframe *k);

bool pal_keyframe_request(struct pal_keyframe *k, int64_t now_ms);
bool pal_keyframe_poll(struct pal_keyframe *k, int64_t now_ms);
void pal_keyframe_on_keyframe(struct pal_keyframe *k, int64_t now_ms);
/* True while a request is waiting (sent or throttled) and no keyframe came. */
bool pal_keyframe_pending(const struct pal_keyframe *k);
/* Next FIR command sequence number (RFC 5104 4.3.1.1: +1 per new request). */
uint8_t pal_keyframe_next_fir_seq(struct pal_keyframe *k);
/* Counters: requests received, requests sent (PLI/FIR to the publisher). */
uint64_t pal_keyframe_requests(const struct pal_keyframe *k);
uint64_t pal_keyframe_sent(const struct pal_keyframe *k);

#endif
