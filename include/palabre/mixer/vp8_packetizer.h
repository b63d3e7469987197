/* VP8 RTP packetization (RFC 7741) of the mixer's encoded frames: each frame
 * is split into payloads of at most mtu bytes (descriptor included), the
 * first with S=1, PID=0, all with a 15-bit picture id that increases by one
 * per frame; the last payload of a frame carries the RTP marker bit.
 *
 * Thread: one owner thread (the mixer's). */
#ifndef PALABRE_MIXER_VP8_PACKETIZER_H
#define PALABRE_MIXER_VP8_PACKETIZER_H

#include "palabre/common.h"

#define PAL_VP8_PACKETIZER_DEFAULT_MTU 1200
/* Bytes of descriptor written before each fragment: X, I, 15-bit picture id. */
#define PAL_VP8_DESCRIPTOR_SIZE 4

struct pal_vp8_packetizer {
    /* state */
    size_t mtu;          /* payload bytes per packet, descriptor included */
    uint16_t picture_id; /* of the next frame, 15 bits */
    const uint8_t *frame; /* borrowed: the frame being split */
    size_t frame_len, offset;
};

/*
 *        0 1 2 3 4 5 6 7
 *       +-+-+-+-+-+-+-+-+
 *       |X|R|N|S|R| PID |   X=1, N=0, S=1 on the first fragment, PID=0
 *       +-+-+-+-+-+-+-+-+
 *       |I|L|T|K| RSV   |   I=1
 *       +-+-+-+-+-+-+-+-+
 *       |M| PictureID   |   M=1: 15-bit picture id
 *       +-+-+-+-+-+-+-+-+
 *       |   PictureID   |
 *       +-+-+-+-+-+-+-+-+
 *
 * mtu: 0 means PAL_VP8_PACKETIZER_DEFAULT_MTU; must exceed the descriptor.
 * Returns 0 or -EINVAL. */
int pal_vp8_packetizer_init(struct pal_vp8_packetizer *p, size_t mtu, uint16_t first_picture_id);

/* Starts splitting frame (borrowed until the last pal_vp8_packetizer_next).
 * Returns 0 or -EINVAL (empty frame). */
int pal_vp8_packetizer_begin(struct pal_vp8_packetizer *p, const uint8_t *frame, size_t len);

/* Writes the next payload into out (cap >= mtu is always enough).
 * Returns 1 with *out_len and *marker set, 0 when the frame is done, or
 * -ENOSPC. */
int pal_vp8_packetizer_next(struct pal_vp8_packetizer *p, uint8_t *out, size_t cap,
                            size_t *out_len, bool *marker);

/* Number of payloads a frame of len bytes becomes. */
size_t pal_vp8_packetizer_count(const struct pal_vp8_packetizer *p, size_t len);

#endif
