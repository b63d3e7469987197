#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "palabre/mixer/vp8_depacketizer.h"
#include "palabre/mixer/vp8_packetizer.h"
#include "palabre/vp8.h"

struct sink {
    int frames, keyframes, kf_needed;
    uint8_t last[8192];
    size_t last_len;
    uint32_t last_ts;
};

static void on_frame(void *ctx, const uint8_t *f, size_t len, uint32_t ts, bool key)
{
    struct sink *s = ctx;
    s->frames++;
    s->keyframes += key;
    s->last_len = len;
    s->last_ts = ts;
    memcpy(s->last, f, PAL_MIN(len, sizeof(s->last)));
}

static void on_kf(void *ctx)
{
    ((struct sink *)ctx)->kf_needed++;
}

static struct pal_vp8_depacketizer *depack(struct sink *s)
{
    memset(s, 0, sizeof(*s));
    struct pal_vp8_depacketizer_listener l = {s, on_frame, on_kf};
    struct pal_vp8_depacketizer *d = NULL;
    assert_int_equal(pal_vp8_depacketizer_create(&l, &d), 0);
    return d;
}

/* A fake VP8 frame: first byte's low bit is the P (inter) bit. */
static void make_frame(uint8_t *f, size_t len, bool key, uint8_t fill)
{
    memset(f, fill, len);
    f[0] = key ? 0x10 : 0x11;
}

struct pkts {
    uint8_t p[16][1200];
    size_t len[16];
    bool marker[16];
    int n;
};

static void packetize(struct pal_vp8_packetizer *pk, const uint8_t *f, size_t len, struct pkts *o)
{
    o->n = 0;
    assert_int_equal(pal_vp8_packetizer_begin(pk, f, len), 0);
    while (pal_vp8_packetizer_next(pk, o->p[o->n], sizeof(o->p[0]), &o->len[o->n],
                                   &o->marker[o->n]) == 1)
        o->n++;
}

static void round_trip_fragmented(void **state)
{
    struct pal_vp8_packetizer pk;
    assert_int_equal(pal_vp8_packetizer_init(&pk, 0, 0x7FFF), 0);
    static uint8_t f[3000];
    make_frame(f, sizeof(f), true, 0xAB);
    struct pkts o;
    packetize(&pk, f, sizeof(f), &o);
    assert_int_equal(o.n, 3);
    struct pal_vp8_desc d;
    for (int i = 0; i < o.n; i++) {
        assert_true(o.len[i] <= 1200);
        assert_int_equal(pal_vp8_parse(o.p[i], o.len[i], &d, NULL), 0);
        assert_int_equal(d.start_of_partition, i == 0);
        assert_int_equal(d.partition_id, 0);
        assert_int_equal(d.picture_id_bits, 15);
        assert_int_equal(d.picture_id, 0x7FFF);
        assert_int_equal(o.marker[i], i == o.n - 1);
    }
    assert_int_equal(pal_vp8_parse(o.p[0], o.len[0], &d, NULL), 0);
    assert_true(d.is_keyframe);

    struct sink s;
    struct pal_vp8_depacketizer *dp = depack(&s);
    for (int i = 0; i < o.n; i++)
        assert_int_equal(pal_vp8_depacketizer_push(dp, o.p[i], o.len[i], 9000, o.marker[i], 0), 0);
    assert_int_equal(s.frames, 1);
    assert_int_equal(s.keyframes, 1);
    assert_int_equal(s.last_len, sizeof(f));
    assert_memory_equal(s.last, f, sizeof(f));
    assert_int_equal(s.kf_needed, 0);

    /* The next frame: picture id wraps to 0, an inter frame decodes fine. */
    make_frame(f, 500, false, 0x11);
    packetize(&pk, f, 500, &o);
    assert_int_equal(o.n, 1);
    assert_int_equal(pal_vp8_parse(o.p[0], o.len[0], &d, NULL), 0);
    assert_int_equal(d.picture_id, 0);
    assert_false(d.is_keyframe);
    pal_vp8_depacketizer_push(dp, o.p[0], o.len[0], 12000, true, 0);
    assert_int_equal(s.frames, 2);
    assert_int_equal(s.last_ts, 12000);
    pal_vp8_depacketizer_destroy(dp);
}

static void descriptor_extensions(void **state)
{
    struct sink s;
    struct pal_vp8_depacketizer *dp = depack(&s);
    /* X=1 S=1; I (7-bit id 5), L (TL0PICIDX), T/K byte; then a keyframe header. */
    uint8_t p1[] = {0x90, 0xF0, 0x05, 0x33, 0x40, 0x10, 0x02, 0x00, 0xAA};
    /* continuation: 15-bit id, no S */
    uint8_t p2[] = {0x80, 0x80, 0x80, 0x05, 0xBB, 0xCC};
    /* minimal descriptor (no X) */
    uint8_t p3[] = {0x00, 0xDD};
    assert_int_equal(pal_vp8_depacketizer_push(dp, p1, sizeof(p1), 1, false, 0), 0);
    assert_int_equal(pal_vp8_depacketizer_push(dp, p2, sizeof(p2), 1, false, 0), 0);
    assert_int_equal(pal_vp8_depacketizer_push(dp, p3, sizeof(p3), 1, true, 0), 0);
    assert_int_equal(s.frames, 1);
    assert_int_equal(s.keyframes, 1);
    const uint8_t want[] = {0x10, 0x02, 0x00, 0xAA, 0xBB, 0xCC, 0xDD};
    assert_int_equal(s.last_len, sizeof(want));
    assert_memory_equal(s.last, want, sizeof(want));
    pal_vp8_depacketizer_destroy(dp);
}

static void lost_fragment_drops_until_keyframe(void **state)
{
    struct pal_vp8_packetizer pk;
    pal_vp8_packetizer_init(&pk, 500, 1);
    struct sink s;
    struct pal_vp8_depacketizer *dp = depack(&s);
    static uint8_t f[1400];
    struct pkts o;
    make_frame(f, sizeof(f), true, 1);
    packetize(&pk, f, sizeof(f), &o);
    assert_int_equal(o.n, 3);
    pal_vp8_depacketizer_push(dp, o.p[0], o.len[0], 100, false, 0);
    pal_vp8_depacketizer_push(dp, o.p[2], o.len[2], 100, true, 1); /* middle one lost */
    assert_int_equal(s.frames, 0);
    assert_true(s.kf_needed >= 1);
    assert_true(pal_vp8_depacketizer_waiting_keyframe(dp));
    int asked = s.kf_needed;
    /* A complete inter frame cannot be decoded now: dropped, keyframe asked. */
    make_frame(f, 300, false, 2);
    packetize(&pk, f, 300, &o);
    pal_vp8_depacketizer_push(dp, o.p[0], o.len[0], 200, true, 0);
    assert_int_equal(s.frames, 0);
    assert_true(s.kf_needed > asked);
    /* The keyframe brings it back. */
    make_frame(f, 300, true, 3);
    packetize(&pk, f, 300, &o);
    pal_vp8_depacketizer_push(dp, o.p[0], o.len[0], 300, true, 0);
    assert_int_equal(s.frames, 1);
    assert_false(pal_vp8_depacketizer_waiting_keyframe(dp));
    struct pal_vp8_depacketizer_stats st;
    pal_vp8_depacketizer_get_stats(dp, &st);
    assert_int_equal(st.dropped_frames, 2);
    pal_vp8_depacketizer_destroy(dp);
}

static void missing_marker_and_orphan_fragments(void **state)
{
    struct pal_vp8_packetizer pk;
    pal_vp8_packetizer_init(&pk, 400, 1);
    struct sink s;
    struct pal_vp8_depacketizer *dp = depack(&s);
    static uint8_t f[1000];
    struct pkts o;
    make_frame(f, sizeof(f), true, 1);
    packetize(&pk, f, sizeof(f), &o);
    /* Start and middle of frame A, then frame B starts: A never ends. */
    pal_vp8_depacketizer_push(dp, o.p[0], o.len[0], 10, false, 0);
    pal_vp8_depacketizer_push(dp, o.p[1], o.len[1], 10, false, 0);
    struct pkts b;
    make_frame(f, 300, true, 2);
    packetize(&pk, f, 300, &b);
    pal_vp8_depacketizer_push(dp, b.p[0], b.len[0], 20, true, 0);
    assert_int_equal(s.frames, 1);
    assert_int_equal(s.last_ts, 20);
    assert_true(s.kf_needed >= 1);
    /* A fragment with no start is ignored. */
    pal_vp8_depacketizer_push(dp, o.p[2], o.len[2], 30, true, 0);
    assert_int_equal(s.frames, 1);
    pal_vp8_depacketizer_destroy(dp);
}

static void bad_descriptors(void **state)
{
    struct sink s;
    struct pal_vp8_depacketizer *dp = depack(&s);
    const uint8_t only_desc[] = {0x10};
    const uint8_t trunc_x[] = {0x90};
    const uint8_t trunc_pid[] = {0x90, 0x80, 0x85};
    const uint8_t trunc_l[] = {0x90, 0x40};
    assert_int_equal(pal_vp8_depacketizer_push(dp, only_desc, 1, 1, true, 0), -EINVAL);
    assert_int_equal(pal_vp8_depacketizer_push(dp, trunc_x, 1, 1, true, 0), -EINVAL);
    assert_int_equal(pal_vp8_depacketizer_push(dp, trunc_pid, 3, 1, true, 0), -EINVAL);
    assert_int_equal(pal_vp8_depacketizer_push(dp, trunc_l, 2, 1, true, 0), -EINVAL);
    assert_int_equal(pal_vp8_depacketizer_push(dp, NULL, 0, 1, true, 0), -EINVAL);
    assert_int_equal(s.frames, 0);
    struct pal_vp8_depacketizer_stats st;
    pal_vp8_depacketizer_get_stats(dp, &st);
    assert_int_equal(st.bad_packets, 5);
    pal_vp8_depacketizer_destroy(dp);
}

static void oversized_frame_refused(void **state)
{
    struct sink s;
    struct pal_vp8_depacketizer *dp = depack(&s);
    static uint8_t p[1200];
    memset(p, 0, sizeof(p));
    p[0] = 0x10; /* S, PID 0 */
    int rc = 0;
    for (int i = 0; rc == 0 && i < 2000; i++) {
        rc = pal_vp8_depacketizer_push(dp, p, sizeof(p), 5, false, 0);
        p[0] = 0x00;
    }
    assert_int_equal(rc, -EMSGSIZE);
    assert_int_equal(s.frames, 0);
    pal_vp8_depacketizer_destroy(dp);
}

static void packetizer_arguments(void **state)
{
    struct pal_vp8_packetizer pk;
    assert_int_equal(pal_vp8_packetizer_init(&pk, 4, 0), -EINVAL);
    assert_int_equal(pal_vp8_packetizer_init(&pk, 0, 0), 0);
    assert_int_equal(pk.mtu, PAL_VP8_PACKETIZER_DEFAULT_MTU);
    uint8_t f[10] = {0};
    assert_int_equal(pal_vp8_packetizer_begin(&pk, f, 0), -EINVAL);
    assert_int_equal(pal_vp8_packetizer_begin(&pk, f, sizeof(f)), 0);
    uint8_t out[8];
    size_t n;
    bool m;
    assert_int_equal(pal_vp8_packetizer_next(&pk, out, sizeof(out), &n, &m), -ENOSPC);
    assert_int_equal(pal_vp8_packetizer_count(&pk, 1196 * 2 + 1), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_fragmented),
        cmocka_unit_test(descriptor_extensions),
        cmocka_unit_test(lost_fragment_drops_until_keyframe),
        cmocka_unit_test(missing_marker_and_orphan_fragments),
        cmocka_unit_test(bad_descriptors),
        cmocka_unit_test(oversized_frame_refused),
        cmocka_unit_test(packetizer_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
