/* Error reporting shared by every wire-format parser (RTP, RTCP, VP8, ...).
 *
 * Parsers take an optional `struct pal_wire_err *`; when it is not NULL and
 * the input is rejected, msg holds a sentence such as
 * "rtcp: RR report blocks: needed 52 bytes, had 40". The hot path passes NULL
 * and pays nothing for the message. Any thread. */
#ifndef PALABRE_WIRE_H
#define PALABRE_WIRE_H

#include "palabre/common.h"

struct pal_wire_err {
    char msg[128];
};

/* Fills e->msg when e is not NULL; returns code (a negative errno). */
int pal_wire_fail(struct pal_wire_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Big-endian helpers (bounds are the caller's job). */
static inline uint16_t pal_rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t pal_rd24(const uint8_t *p)
{
    return ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2];
}
static inline uint32_t pal_rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void pal_wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void pal_wr24(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 16);
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)v;
}
static inline void pal_wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#endif
