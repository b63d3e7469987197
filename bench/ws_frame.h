/* WebSocket frame header (RFC 6455 5.2) as the bench clients read it: the
 * chat load client (bench/bench_ws.c) and palabre-load (bench/load/ws.c).
 * They speak WebSocket by hand because Debian's libwebsockets 4.1 client loop
 * is poll() over every descriptor, which costs more than the server under
 * thousands of clients (see docs/benchmarks.md, Signaling and chat). */
#ifndef PALABRE_BENCH_WS_FRAME_H
#define PALABRE_BENCH_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ws_frame {
    bool fin, masked;
    int opcode;
    uint64_t len;   /* payload length */
    size_t header;  /* header bytes, mask key included */
};

/* Reads the header at p (avail bytes). Returns false when more bytes are
 * needed to know it. */
static inline bool ws_frame_header(const uint8_t *p, size_t avail, struct ws_frame *f)
{
    if (avail < 2)
        return false;
    f->fin = p[0] & 0x80;
    f->opcode = p[0] & 0x0f;
    f->masked = p[1] & 0x80;
    f->len = p[1] & 0x7f;
    f->header = 2;
    if (f->len == 126) {
        if (avail < 4)
            return false;
        f->len = (uint64_t)p[2] << 8 | p[3];
        f->header = 4;
    } else if (f->len == 127) {
        if (avail < 10)
            return false;
        f->len = 0;
        for (int i = 0; i < 8; i++)
            f->len = f->len << 8 | p[2 + i];
        f->header = 10;
    }
    if (f->masked)
        f->header += 4;
    return true;
}

#endif
