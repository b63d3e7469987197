/* Fuzzes VP8 frame assembly: the input is a list of RTP-like records
 *   flags(1: bit0 marker) seq(2, BE) ts(1) len(1) payload(len)
 * fed through a video-mode jitter buffer (reordering, gaps) into the
 * depacketizer; then the whole input, packetized at a small MTU, must
 * reassemble to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/mixer/jitter.h"
#include "palabre/mixer/vp8_depacketizer.h"
#include "palabre/mixer/vp8_packetizer.h"

struct sink {
    size_t frames, last_len;
    uint8_t *last;
};

static void on_frame(void *ctx, const uint8_t *f, size_t len, uint32_t ts, bool key)
{
    struct sink *s = ctx;
    s->frames++;
    s->last_len = len;
    if (s->last && len <= 4096)
        memcpy(s->last, f, len);
}

static void on_kf(void *ctx)
{
    (void)ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sink s = {0};
    struct pal_vp8_depacketizer_listener l = {&s, on_frame, on_kf};
    struct pal_vp8_depacketizer *d = NULL;
    struct pal_jitter *jb = NULL;
    struct pal_jitter_config jc = {.clock_rate = 90000, .max_delay_ms = 30, .capacity = 64};
    if (pal_vp8_depacketizer_create(&l, &d) != 0 || pal_jitter_create(&jc, &jb) != 0)
        abort();
    size_t pos = 0;
    int64_t now = 0;
    while (pos + 5 <= size) {
        uint8_t flags = data[pos];
        uint16_t seq = (uint16_t)(data[pos + 1] << 8 | data[pos + 2]);
        uint32_t ts = data[pos + 3] * 3000u;
        size_t len = data[pos + 4];
        pos += 5;
        if (len > size - pos)
            len = size - pos;
        pal_jitter_push(jb, seq, ts, flags & 1, data + pos, len, now);
        pos += len;
        now += 10;
        struct pal_jitter_packet p;
        uint32_t lost;
        while (pal_jitter_pop_packet(jb, now, &p, &lost) == PAL_JITTER_FRAME)
            pal_vp8_depacketizer_push(d, p.payload, p.len, p.timestamp, p.marker, lost);
    }
    pal_jitter_destroy(jb);
    pal_vp8_depacketizer_destroy(d);

    /* Round trip: any bytes, as a keyframe, survive packetization. */
    if (size == 0 || size > 4096)
        return 0;
    uint8_t *frame = malloc(size);
    memcpy(frame, data, size);
    frame[0] &= 0xFE; /* P=0: a keyframe */
    struct sink r = {.last = malloc(4096)};
    l.ctx = &r;
    if (pal_vp8_depacketizer_create(&l, &d) != 0)
        abort();
    struct pal_vp8_packetizer pk;
    pal_vp8_packetizer_init(&pk, 64, data[0]);
    pal_vp8_packetizer_begin(&pk, frame, size);
    uint8_t out[64];
    size_t n;
    bool m;
    uint16_t seq = 0;
    while (pal_vp8_packetizer_next(&pk, out, sizeof(out), &n, &m) == 1) {
        if (n > 64 || pal_vp8_depacketizer_push(d, out, n, 1, m, 0) != 0)
            abort();
        seq++;
    }
    if (r.frames != 1 || r.last_len != size || memcmp(r.last, frame, size) != 0)
        abort();
    pal_vp8_depacketizer_destroy(d);
    free(r.last);
    free(frame);
    return 0;
}
