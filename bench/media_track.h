/* A track description for the room benchmarks (bench_room_mixer,
 * bench_mixer_idle): Opus 111 at 48 kHz or VP8 96 at 90 kHz, as the
 * browsers negotiate them. */
#ifndef PALABRE_BENCH_MEDIA_TRACK_H
#define PALABRE_BENCH_MEDIA_TRACK_H

#include <stdio.h>

#include "palabre/media.h"

static inline struct pal_media_track bench_track(const char *mid, enum pal_media_kind kind,
                                                 uint32_t ssrc)
{
    struct pal_media_track t = {0};
    snprintf(t.mid, sizeof(t.mid), "%s", mid);
    t.kind = kind;
    t.payload_type = kind == PAL_MEDIA_AUDIO ? 111 : 96;
    t.clock_rate = kind == PAL_MEDIA_AUDIO ? 48000 : 90000;
    t.ssrc = ssrc;
    return t;
}

#endif
