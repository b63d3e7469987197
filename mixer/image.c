/* I420 pictures and scaling. See palabre/mixer/image.h. */
#include "palabre/mixer/image.h"

#include <libyuv/convert.h>
#include <libyuv/planar_functions.h>
#include <libyuv/scale.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DIM 8192

int pal_image_alloc(struct pal_image *img, int width, int height)
{
    if (width <= 0 || height <= 0 || width > MAX_DIM || height > MAX_DIM)
        return -EINVAL;
    width = (width + 1) & ~1;
    height = (height + 1) & ~1;
    if (img->buf && img->width == width && img->height == height)
        return 0;
    size_t ysz = (size_t)width * height, csz = ysz / 4;
    uint8_t *buf = calloc(1, ysz + 2 * csz);
    if (!buf)
        return -ENOMEM;
    free(img->buf);
    img->buf = buf;
    img->width = width;
    img->height = height;
    img->stride_y = width;
    img->stride_uv = width / 2;
    img->y = buf;
    img->u = buf + ysz;
    img->v = buf + ysz + csz;
    return 0;
}

void pal_image_free(struct pal_image *img)
{
    free(img->buf);
    memset(img, 0, sizeof(*img));
}

static bool clip(const struct pal_image *img, struct pal_rect *r)
{
    int x0 = PAL_MAX(r->x, 0) & ~1, y0 = PAL_MAX(r->y, 0) & ~1;
    int x1 = PAL_MIN(r->x + r->w, img->width) & ~1, y1 = PAL_MIN(r->y + r->h, img->height) & ~1;
    if (x1 <= x0 || y1 <= y0)
        return false;
    *r = (struct pal_rect){x0, y0, x1 - x0, y1 - y0};
    return true;
}

void pal_image_fill_rect(struct pal_image *img, struct pal_rect r, uint8_t y, uint8_t u,
                         uint8_t v)
{
    if (!img->buf || !clip(img, &r))
        return;
    I420Rect(img->y, img->stride_y, img->u, img->stride_uv, img->v, img->stride_uv, r.x, r.y,
             r.w, r.h, y, u, v);
}

int pal_image_copy_planes(struct pal_image *img, const uint8_t *const planes[3],
                          const int strides[3], int width, int height)
{
    int rc = pal_image_alloc(img, width, height);
    if (rc != 0)
        return rc;
    /* An odd size is padded by repeating nothing: the extra row/column stays
     * whatever it was; copy the real area. */
    if (I420Copy(planes[0], strides[0], planes[1], strides[1], planes[2], strides[2], img->y,
                 img->stride_y, img->u, img->stride_uv, img->v, img->stride_uv, width,
                 height) != 0)
        return -EINVAL;
    return 0;
}

int pal_image_scale_into(struct pal_image *dst, struct pal_rect r, const struct pal_image *src)
{
    if (!dst->buf || !src->buf || !clip(dst, &r))
        return -EINVAL;
    /* Fit keeping the aspect ratio: w/h of the placed picture. */
    int w = r.w, h = (int)((int64_t)r.w * src->height / src->width);
    if (h > r.h) {
        h = r.h;
        w = (int)((int64_t)r.h * src->width / src->height);
    }
    w = PAL_MAX(w & ~1, 2);
    h = PAL_MAX(h & ~1, 2);
    int x = r.x + ((r.w - w) / 2 & ~1), y = r.y + ((r.h - h) / 2 & ~1);
    if (w < r.w || h < r.h) { /* letterbox bands */
        pal_image_fill_rect(dst, (struct pal_rect){r.x, r.y, r.w, y - r.y}, 16, 128, 128);
        pal_image_fill_rect(dst, (struct pal_rect){r.x, y + h, r.w, r.y + r.h - y - h}, 16, 128,
                            128);
        pal_image_fill_rect(dst, (struct pal_rect){r.x, y, x - r.x, h}, 16, 128, 128);
        pal_image_fill_rect(dst, (struct pal_rect){x + w, y, r.x + r.w - x - w, h}, 16, 128, 128);
    }
    uint8_t *dy = dst->y + (size_t)y * dst->stride_y + x;
    uint8_t *du = dst->u + (size_t)(y / 2) * dst->stride_uv + x / 2;
    uint8_t *dv = dst->v + (size_t)(y / 2) * dst->stride_uv + x / 2;
    return I420Scale(src->y, src->stride_y, src->u, src->stride_uv, src->v, src->stride_uv,
                     src->width, src->height, dy, dst->stride_y, du, dst->stride_uv, dv,
                     dst->stride_uv, w, h, kFilterBilinear) == 0
               ? 0
               : -EINVAL;
}

void pal_image_mean(const uint8_t *const planes[3], const int strides[3], struct pal_rect r,
                    double *y, double *u, double *v)
{
    double s[3] = {0, 0, 0};
    for (int p = 0; p < 3; p++) {
        int sh = p ? 1 : 0;
        int x0 = r.x >> sh, y0 = r.y >> sh, w = r.w >> sh, h = r.h >> sh;
        uint64_t acc = 0;
        for (int j = 0; j < h; j++)
            for (int i = 0; i < w; i++)
                acc += planes[p][(size_t)(y0 + j) * strides[p] + x0 + i];
        s[p] = (w > 0 && h > 0) ? (double)acc / ((double)w * h) : 0;
    }
    *y = s[0];
    *u = s[1];
    *v = s[2];
}
