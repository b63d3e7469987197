/* Simulcast in the media core: which layer an RTP packet belongs to (its
 * rid header extension, RFC 8852), and which layer a subscriber gets from
 * how it shows the track (palabre/media.h struct pal_media_view).
 *
 *  0                   1                   2
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  ID   |  len  | RtpStreamId ("q", "h", "f") ...
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Stateless; any thread. */
#ifndef PALABRE_SIMULCAST_H
#define PALABRE_SIMULCAST_H

#include "palabre/common.h"
#include "palabre/media.h"

/* The layer index of t whose rid equals the extension value (len bytes,
 * not NUL-terminated), or -1. Unknown rids are not an error: the packet is
 * simply not one of t's layers. */
int pal_simulcast_rid_layer(const struct pal_media_track *t, const uint8_t *rid, size_t len);

/* What the router knows of one layer: its size (from its last keyframe, 0
 * until one came) and whether packets arrive (the browser stops sending a
 * layer when its own uplink is short). */
struct pal_simulcast_layer {
    uint16_t width, height;
    bool active;
};

/* The layer to forward for view v among n layers (lowest first), or -1 for
 * none (hidden). The smallest active layer that fills the view (width and
 * height both reached), else the largest active one; an unknown size is
 * taken as the known layer above or below scaled by 2 per step (the q/h/f
 * ladder), or the 320x180 / 640x360 / 1280x720 ladder. With no active
 * layer, the choice is made as if all were active (the one to wait for). */
int pal_simulcast_choose(const struct pal_simulcast_layer *layers, size_t n,
                         const struct pal_media_view *v);

#endif
