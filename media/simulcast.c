/* Simulcast layer lookup and choice. See palabre/simulcast.h. */
#include "palabre/simulcast.h"

#include <string.h>

int pal_simulcast_rid_layer(const struct pal_media_track *t, const uint8_t *rid, size_t len)
{
    if (!rid || len == 0 || len >= PAL_MEDIA_RID_MAX)
        return -1;
    for (int i = 0; i < t->n_layers && i < PAL_MEDIA_MAX_LAYERS; i++)
        if (strlen(t->rids[i]) == len && memcmp(t->rids[i], rid, len) == 0)
            return i;
    return -1;
}

/* Layer i's size, or an estimate from the nearest known one (x2 per step). */
static void layer_size(const struct pal_simulcast_layer *l, size_t n, size_t i, uint32_t *w,
                       uint32_t *h)
{
    if (l[i].width && l[i].height) {
        *w = l[i].width;
        *h = l[i].height;
        return;
    }
    for (size_t d = 1; d < n; d++) {
        if (i + d < n && l[i + d].width && l[i + d].height) {
            *w = l[i + d].width >> d;
            *h = l[i + d].height >> d;
            return;
        }
        if (i >= d && l[i - d].width && l[i - d].height) {
            *w = (uint32_t)l[i - d].width << d;
            *h = (uint32_t)l[i - d].height << d;
            return;
        }
    }
    /* The top layer taken as 1280x720. */
    size_t below_top = n - 1 - i;
    *w = 1280u >> below_top;
    *h = 720u >> below_top;
}

int pal_simulcast_choose(const struct pal_simulcast_layer *layers, size_t n,
                         const struct pal_media_view *v)
{
    if (!v->visible || n == 0)
        return -1;
    if (n > PAL_MEDIA_MAX_LAYERS)
        n = PAL_MEDIA_MAX_LAYERS;
    bool any = false;
    for (size_t i = 0; i < n; i++)
        any |= layers[i].active;
    int best = -1;
    for (size_t i = 0; i < n; i++) {
        if (any && !layers[i].active)
            continue;
        best = (int)i; /* the largest so far */
        uint32_t w, h;
        layer_size(layers, n, i, &w, &h);
        if (w >= v->width && h >= v->height)
            return (int)i;
    }
    return best;
}
