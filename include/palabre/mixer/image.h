/* I420 pictures for the video mixer: the canvas, each input's last good
 * picture, and the scale-and-place step of composition.
 *
 * Scaling uses libyuv (Debian libyuv-dev): SIMD bilinear/box filters, the
 * library Chromium and WebRTC use; only the layout arithmetic is ours.
 * pal_image is a plain value (not shared between threads). */
#ifndef PALABRE_MIXER_IMAGE_H
#define PALABRE_MIXER_IMAGE_H

#include "palabre/common.h"

struct pal_image {
    /* owned */
    uint8_t *buf;
    /* state */
    int width, height; /* even */
    uint8_t *y, *u, *v;
    int stride_y, stride_uv;
};

struct pal_rect {
    int x, y, w, h;
};

/* A zeroed pal_image is empty. (Re)allocates for width x height (rounded up
 * to even). Returns 0, -EINVAL or -ENOMEM (the image is then unchanged). */
int pal_image_alloc(struct pal_image *img, int width, int height);
void pal_image_free(struct pal_image *img);

/* Fills the rectangle (clipped to the image) with one colour. */
void pal_image_fill_rect(struct pal_image *img, struct pal_rect r, uint8_t y, uint8_t u,
                         uint8_t v);

/* Copies three planes of an I420 picture into img (reallocated to the size).
 * Returns 0, -EINVAL or -ENOMEM. */
int pal_image_copy_planes(struct pal_image *img, const uint8_t *const planes[3],
                          const int strides[3], int width, int height);

/* Scales src to fit r in dst, keeping its aspect ratio and centring it; the
 * bands left over are filled black. Returns 0 or -EINVAL. */
int pal_image_scale_into(struct pal_image *dst, struct pal_rect r, const struct pal_image *src);

/* Mean Y, U and V over a rectangle (tests, diagnostics). */
void pal_image_mean(const uint8_t *const planes[3], const int strides[3], struct pal_rect r,
                    double *y, double *u, double *v);

#endif
