/* Simulcast in SDP: a=rid (RFC 8851) and a=simulcast (RFC 8853) of one
 * m-line, read into the ordered list of layers the media core uses, and
 * written into an answer that receives them.
 *
 *   a=rid:<rid-id> <send|recv> [<restrictions>]
 *   a=simulcast:<send|recv> <alt>[;<alt>...] [<recv|send> <alt>[;<alt>...]]
 *       alt = ["~"]rid-id *("," ["~"]rid-id)    ("~": paused at first)
 *
 * Stateless; any thread. */
#ifndef PALABRE_SDP_SIMULCAST_H
#define PALABRE_SDP_SIMULCAST_H

#include <stddef.h>

#include "palabre/media.h"
#include "palabre/sdp.h"

/* The layers m carries in direction dir (PAL_SDP_DIR_SENDONLY: an offer's
 * "send" streams; PAL_SDP_DIR_RECVONLY: an answer's "recv"), lowest
 * resolution first: rids named q, h, f are put in that order, other names
 * keep the a=simulcast order (the browser's sendEncodings order). Only the
 * first alternative of each stream is taken, and at most cap layers (the
 * rest is left out of the answer: RFC 8853 5.3 lets the answerer drop
 * streams). Returns the count (0: no simulcast), or -EINVAL (err says why)
 * for a malformed rid or simulcast value, or a simulcast stream without its
 * a=rid line. */
int pal_sdp_simulcast_layers(const struct pal_sdp_media *m, enum pal_sdp_direction dir,
                             char out[][PAL_MEDIA_RID_MAX], size_t cap, struct pal_sdp_error *err);

/* Writes "a=rid:<id> recv" for each layer and "a=simulcast:recv a;b;c" into
 * an answer's m-line. */
void pal_sdp_simulcast_answer(struct pal_sdp_media *am, const char rids[][PAL_MEDIA_RID_MAX],
                              size_t n);

#endif
