/* Simulcast parsers: an m-line's a=rid / a=simulcast values read into
 * layers (and answered), and the rid header extension matched to a layer.
 * Input: NUL-separated fields, the first the a=simulcast value, the next
 * ones a=rid values; the last field is also tried as a rid extension. */
#include <stdlib.h>
#include <string.h>

#include "palabre/sdp_simulcast.h"
#include "palabre/simulcast.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct pal_sdp_media m, am;
    memset(&m, 0, sizeof(m));
    size_t pos = 0, field = 0, last = 0;
    while (pos <= size && field <= PAL_SDP_MAX_RIDS) {
        size_t end = pos;
        while (end < size && data[end])
            end++;
        char *dst = field == 0 ? m.simulcast : m.rids[field - 1];
        size_t cap = field == 0 ? sizeof(m.simulcast) : sizeof(m.rids[0]);
        size_t n = end - pos < cap - 1 ? end - pos : cap - 1;
        memcpy(dst, data + pos, n);
        dst[n] = '\0';
        if (field > 0)
            m.n_rids = (uint8_t)field;
        last = pos;
        field++;
        pos = end + 1;
    }
    char rids[PAL_MEDIA_MAX_LAYERS][PAL_MEDIA_RID_MAX];
    struct pal_sdp_error err;
    for (int dir = 0; dir < 2; dir++) {
        int n = pal_sdp_simulcast_layers(&m, dir ? PAL_SDP_DIR_RECVONLY : PAL_SDP_DIR_SENDONLY,
                                         rids, PAL_MEDIA_MAX_LAYERS, &err);
        if (n > PAL_MEDIA_MAX_LAYERS)
            abort();
        if (n <= 0)
            continue;
        /* What we answer reads back as the same layers. */
        memset(&am, 0, sizeof(am));
        pal_sdp_simulcast_answer(&am, rids, (size_t)n);
        char back[PAL_MEDIA_MAX_LAYERS][PAL_MEDIA_RID_MAX];
        if (pal_sdp_simulcast_layers(&am, PAL_SDP_DIR_RECVONLY, back, PAL_MEDIA_MAX_LAYERS,
                                     NULL) != n)
            abort();
        struct pal_media_track t = {.kind = PAL_MEDIA_VIDEO, .n_layers = (uint8_t)n};
        memcpy(t.rids, rids, sizeof(rids));
        for (int i = 0; i < n; i++)
            if (strcmp(back[i], rids[i]) ||
                pal_simulcast_rid_layer(&t, (const uint8_t *)rids[i], strlen(rids[i])) != i)
                abort();
        size_t ll = size > last ? size - last : 0;
        int l = pal_simulcast_rid_layer(&t, data + last, ll);
        if (l < -1 || l >= n)
            abort();
    }
    return 0;
}
