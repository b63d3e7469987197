/* For the room tests (test_room.c, test_simulcast.c): how many PLIs for
 * media_ssrc a recording sink got. The n RTCP compounds sent are stored
 * stride bytes apart from bufs, lens[i] bytes each. */
#ifndef PALABRE_TEST_RTCP_COUNT_H
#define PALABRE_TEST_RTCP_COUNT_H

#include "palabre/rtcp.h"

static inline int count_plis_in(const uint8_t *bufs, size_t stride, const size_t *lens, int n,
                                uint32_t media_ssrc)
{
    int plis = 0;
    for (int i = 0; i < n; i++) {
        struct pal_rtcp_iter it;
        struct pal_rtcp_packet pk;
        pal_rtcp_iter_init(&it, bufs + (size_t)i * stride, lens[i]);
        while (pal_rtcp_next(&it, &pk, NULL) == 1)
            if (pk.kind == PAL_RTCP_PLI && pk.fb.media_ssrc == media_ssrc)
                plis++;
    }
    return plis;
}

#endif
