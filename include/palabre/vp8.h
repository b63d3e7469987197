/* VP8 RTP payload descriptor (RFC 7741 section 4.2) and the start of the VP8
 * payload header (section 4.3 / RFC 6386 9.1), for keyframe detection and
 * picture id handling. Parsed in place; stateless; any thread. */
#ifndef PALABRE_VP8_H
#define PALABRE_VP8_H

#include "palabre/common.h"
#include "palabre/wire.h"

struct pal_vp8_desc {
    bool start_of_partition; /* S */
    bool non_reference;      /* N */
    uint8_t partition_id;    /* PID */
    bool has_picture_id;
    uint8_t picture_id_bits; /* 7 or 15 */
    uint16_t picture_id;
    uint8_t picture_id_off; /* offset of the picture id in the payload */
    bool has_tl0picidx;
    uint8_t tl0picidx;
    uint8_t tl0picidx_off; /* its offset in the payload */
    bool has_tid;
    uint8_t tid;
    bool layer_sync; /* Y */
    bool has_keyidx;
    uint8_t keyidx;
    uint16_t desc_len; /* bytes of descriptor: VP8 data starts here */
    /* Only for the first packet of a frame (S=1, PID=0) with data: */
    bool is_frame_start;
    bool is_keyframe; /* P bit of the VP8 payload header is 0 */
    uint16_t width, height; /* keyframes with the 10-byte header, else 0 */
};

/*
 *        0 1 2 3 4 5 6 7
 *       +-+-+-+-+-+-+-+-+
 *       |X|R|N|S|R| PID | (REQUIRED)
 *       +-+-+-+-+-+-+-+-+
 *  X:   |I|L|T|K| RSV   | (OPTIONAL)
 *       +-+-+-+-+-+-+-+-+
 *  I:   |M| PictureID   | (OPTIONAL)
 *       +-+-+-+-+-+-+-+-+
 *       |   PictureID   | (second byte when M=1)
 *       +-+-+-+-+-+-+-+-+
 *  L:   |   TL0PICIDX   | (OPTIONAL)
 *       +-+-+-+-+-+-+-+-+
 *  T/K: |TID|Y| KEYIDX  | (OPTIONAL)
 *       +-+-+-+-+-+-+-+-+
 *
 * Returns 0 or -EINVAL ("needed N, had M") for a truncated descriptor or one
 * with no VP8 data after it. */
int pal_vp8_parse(const uint8_t *payload, size_t len, struct pal_vp8_desc *d,
                  struct pal_wire_err *err);
/* Rewrites the picture id in place (keeps its 7/15-bit width, the value is
 * masked to it). -EINVAL if d has no picture id. */
int pal_vp8_set_picture_id(uint8_t *payload, const struct pal_vp8_desc *d, uint16_t picture_id);
/* Rewrites TL0PICIDX in place. -EINVAL if d has none. */
int pal_vp8_set_tl0picidx(uint8_t *payload, const struct pal_vp8_desc *d, uint8_t tl0picidx);

#endif
