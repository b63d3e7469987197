/* The bridge between SDP facts (palabre/session_desc.h) and the plain values
 * the media core takes (palabre/media.h): the media core never sees SDP, and
 * signaling/media_signaling.c and the load tool (bench/load/) convert the
 * same way.
 *
 * Thread: any (pure functions). Owner: signaling/sdp_media.c. */
#ifndef PALABRE_SDP_MEDIA_H
#define PALABRE_SDP_MEDIA_H

#include "palabre/media.h"
#include "palabre/session_desc.h"

void pal_sdp_candidate_to_media(const struct pal_sdp_candidate *s, struct pal_media_candidate *c);
/* Always UDP (the media core gathers UDP only). */
void pal_media_candidate_to_sdp(const struct pal_media_candidate *c, struct pal_sdp_candidate *s);

#endif
