/* Helpers shared by the mixer tests: tone synthesis, Goertzel, RTP. */
#ifndef MIXER_TEST_UTIL_H
#define MIXER_TEST_UTIL_H

#include <math.h>
#include <string.h>

#include "palabre/rtp.h"

/* Power of frequency f in x[0..n) at rate fs (Goertzel), normalised. */
static inline double goertzel(const int16_t *x, size_t n, double f, double fs)
{
    double w = 2.0 * M_PI * f / fs, c = 2.0 * cos(w), s1 = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
        double s0 = x[i] + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    double p = s1 * s1 + s2 * s2 - c * s1 * s2;
    return p / ((double)n * n);
}

static inline double energy(const int16_t *x, size_t n)
{
    double e = 0;
    for (size_t i = 0; i < n; i++)
        e += (double)x[i] * x[i];
    return e / (double)n;
}

/* Builds an RTP packet; returns its length. */
static inline size_t make_rtp(uint8_t *out, size_t cap, uint8_t pt, uint16_t seq, uint32_t ts,
                              uint32_t ssrc, bool marker, const uint8_t *payload, size_t len)
{
    struct pal_rtp_header h = {.marker = marker, .payload_type = pt, .seq = seq,
                               .timestamp = ts, .ssrc = ssrc};
    size_t n = 0;
    if (pal_rtp_write(&h, payload, len, out, cap, &n) != 0)
        return 0;
    return n;
}

/* The same with an RFC 6464 audio level extension (id 1, level in -dBov). */
static inline size_t make_rtp_level(uint8_t *out, size_t cap, uint16_t seq, uint32_t ts,
                                    uint32_t ssrc, uint8_t level, const uint8_t *payload,
                                    size_t len)
{
    struct pal_rtp_header h = {.payload_type = 111, .seq = seq, .timestamp = ts, .ssrc = ssrc,
                               .n_ext = 1};
    h.ext[0].id = 1;
    h.ext[0].len = 1;
    h.ext[0].data[0] = level;
    size_t n = 0;
    if (pal_rtp_write(&h, payload, len, out, cap, &n) != 0)
        return 0;
    return n;
}

#endif
