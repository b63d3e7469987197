/* Retransmission ring of one media stream: a producer's (shared by its
 * consumers) or a mixer output's (its one consumer's), palabre/consumer.h.
 *
 * Power-of-two slots indexed by sequence number (seq & mask), each slot a
 * preallocated buffer: storing copies the packet, nothing is allocated per
 * packet. A stream's ring starts small and doubles (up to its maximum) when
 * a store would overwrite a packet younger than max_age_ms: its memory
 * follows the stream's packet rate (a 180p simulcast layer at 30 packets/s
 * keeps 64 slots, a 720p one grows to 512), a handful of allocations in a
 * stream's life. Lookups are wrap-safe (the slot remembers its full seq) and
 * time-bounded: a packet older than max_age_ms is not returned (video:
 * 2000 ms, audio: 1000 ms). Packets are stored in plaintext as received, by
 * their source sequence number; a consumer answering a NACK rewrites the
 * kept packet into its own numbering again and protects it (pal_srtp
 * allows repeated sequence numbers).
 *
 * Thread: one owner thread (the room's worker). */
#ifndef PALABRE_RTX_BUFFER_H
#define PALABRE_RTX_BUFFER_H

#include "palabre/common.h"

#define PAL_RTX_VIDEO_MAX_AGE_MS 2000
#define PAL_RTX_AUDIO_MAX_AGE_MS 1000

struct pal_rtx_buffer;

/* slots: power of two (e.g. 512 for video, 128 for audio), fixed;
 * slot_size: largest packet kept (e.g. PAL_RTP_MAX_PACKET + PAL_SRTP_MAX_TRAILER).
 * Returns 0, -EINVAL or -ENOMEM. */
int pal_rtx_buffer_create(unsigned slots, size_t slot_size, uint32_t max_age_ms,
                          struct pal_rtx_buffer **out);
/* The same, starting at slots and growing up to max_slots (powers of two,
 * max_slots >= slots, at most 32768). */
int pal_rtx_buffer_create_growing(unsigned slots, unsigned max_slots, size_t slot_size,
                                  uint32_t max_age_ms, struct pal_rtx_buffer **out);
/* The ring of one media stream: packets kept 2 s for video (64 slots growing
 * to 512), 1 s for audio (64 growing to 128), each slot the largest RTP
 * packet. */
int pal_rtx_buffer_create_for(bool video, struct pal_rtx_buffer **out);
/* How many slots it has now. */
unsigned pal_rtx_buffer_slots(const struct pal_rtx_buffer *b);
void pal_rtx_buffer_destroy(struct pal_rtx_buffer *b);

/* Copies pkt into the slot of seq (replacing what was there). A packet
 * longer than slot_size is refused with -EMSGSIZE. */
int pal_rtx_buffer_store(struct pal_rtx_buffer *b, uint16_t seq, const uint8_t *pkt, size_t len,
                         int64_t now_ms);
/* The stored packet for seq, borrowed until the next store. Returns 0 or
 * -ENOENT (never stored, overwritten by a later seq, or older than max age). */
int pal_rtx_buffer_get(struct pal_rtx_buffer *b, uint16_t seq, int64_t now_ms,
                       const uint8_t **pkt, size_t *len);
/* Forgets everything (e.g. SSRC change). */
void pal_rtx_buffer_clear(struct pal_rtx_buffer *b);

#endif
