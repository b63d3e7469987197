#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "palabre/vp8.h"

static void minimal_descriptor_keyframe(void **state)
{
    /* S=1 PID=0, no X; VP8 key frame header 640x360 */
    const uint8_t p[] = {0x10, 0x50, 0x2a, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01, 0xff};
    struct pal_vp8_desc d;
    assert_int_equal(pal_vp8_parse(p, sizeof(p), &d, NULL), 0);
    assert_true(d.start_of_partition);
    assert_false(d.has_picture_id);
    assert_int_equal(d.desc_len, 1);
    assert_true(d.is_frame_start);
    assert_true(d.is_keyframe);
    assert_int_equal(d.width, 640);
    assert_int_equal(d.height, 360);
}

static void interframe_and_continuation(void **state)
{
    const uint8_t inter[] = {0x10, 0x31, 0x00, 0x00};
    struct pal_vp8_desc d;
    assert_int_equal(pal_vp8_parse(inter, sizeof(inter), &d, NULL), 0);
    assert_true(d.is_frame_start);
    assert_false(d.is_keyframe);
    /* S=0: a middle packet: never a keyframe start even if the byte is even */
    const uint8_t mid[] = {0x00, 0x00, 0x00};
    assert_int_equal(pal_vp8_parse(mid, sizeof(mid), &d, NULL), 0);
    assert_false(d.is_frame_start);
    assert_false(d.is_keyframe);
    /* S=1 but partition 1: not the frame start */
    const uint8_t part1[] = {0x11, 0x00};
    assert_int_equal(pal_vp8_parse(part1, sizeof(part1), &d, NULL), 0);
    assert_false(d.is_frame_start);
}

static void full_extension_fields(void **state)
{
    /* X=1 N=1 S=1; I L T K; M=1 picture id 0x1234; TL0PICIDX 7; TID 2 Y KEYIDX 5 */
    uint8_t p[] = {0xB0, 0xF0, 0x92, 0x34, 0x07, 0xA5, 0x00, 0x00};
    struct pal_vp8_desc d;
    assert_int_equal(pal_vp8_parse(p, sizeof(p), &d, NULL), 0);
    assert_true(d.non_reference);
    assert_true(d.has_picture_id);
    assert_int_equal(d.picture_id_bits, 15);
    assert_int_equal(d.picture_id, 0x1234);
    assert_true(d.has_tl0picidx);
    assert_int_equal(d.tl0picidx, 7);
    assert_true(d.has_tid);
    assert_int_equal(d.tid, 2);
    assert_true(d.layer_sync);
    assert_true(d.has_keyidx);
    assert_int_equal(d.keyidx, 5);
    assert_int_equal(d.desc_len, 6);
    assert_true(d.is_keyframe);
    assert_int_equal(pal_vp8_set_picture_id(p, &d, 0x7ABC), 0);
    assert_int_equal(pal_vp8_parse(p, sizeof(p), &d, NULL), 0);
    assert_int_equal(d.picture_id, 0x7ABC);
    /* 7-bit picture id */
    uint8_t q[] = {0x90, 0x80, 0x05, 0x01};
    assert_int_equal(pal_vp8_parse(q, sizeof(q), &d, NULL), 0);
    assert_int_equal(d.picture_id_bits, 7);
    assert_int_equal(d.picture_id, 5);
    assert_int_equal(pal_vp8_set_picture_id(q, &d, 0x1FF), 0);
    assert_int_equal(q[2], 0x7F);
    const uint8_t none[] = {0x10, 0x00};
    assert_int_equal(pal_vp8_parse(none, sizeof(none), &d, NULL), 0);
    assert_int_equal(pal_vp8_set_picture_id((uint8_t *)q, &d, 1), -EINVAL);
}

/* The T/K byte of b (n bytes) parses as these fields. */
static void expect_tk(const uint8_t *b, size_t n, bool has_tid, int tid, bool y, bool has_keyidx,
                      int keyidx)
{
    struct pal_vp8_desc d;
    assert_int_equal(pal_vp8_parse(b, n, &d, NULL), 0);
    assert_int_equal(d.has_tid, has_tid);
    assert_int_equal(d.tid, tid);
    assert_int_equal(d.layer_sync, y);
    assert_int_equal(d.has_keyidx, has_keyidx);
    assert_int_equal(d.keyidx, keyidx);
}

/* The T/K byte alone or after the others: TID and Y only with T, KEYIDX
 * only with K (the filter of palabre/consumer.h reads TID 0 when T is
 * absent: nothing to drop). */
static void tid_and_keyidx_byte(void **state)
{
    (void)state;
    const uint8_t t_only[] = {0x90, 0x20, 0x40, 0x00}; /* TID 1, no Y */
    expect_tk(t_only, sizeof(t_only), true, 1, false, false, 0);
    const uint8_t k_only[] = {0x90, 0x10, 0xFF, 0x00}; /* TID/Y bits ignored, KEYIDX 31 */
    expect_tk(k_only, sizeof(k_only), false, 0, false, true, 31);
    const uint8_t tid3[] = {0x90, 0x20, 0xE0, 0x00}; /* TID 3 Y */
    expect_tk(tid3, sizeof(tid3), true, 3, true, false, 0);
    const uint8_t none[] = {0x90, 0xC0, 0x05, 0x09, 0x00}; /* no T/K byte */
    expect_tk(none, sizeof(none), false, 0, false, false, 0);
    /* 7-bit picture id, TL0PICIDX, then TID 1 Y: each at its place */
    const uint8_t all7[] = {0x90, 0xE0, 0x05, 0x09, 0x60, 0x00};
    expect_tk(all7, sizeof(all7), true, 1, true, false, 0);
    struct pal_vp8_desc d;
    assert_int_equal(pal_vp8_parse(all7, sizeof(all7), &d, NULL), 0);
    assert_int_equal(d.picture_id, 5);
    assert_int_equal(d.tl0picidx, 9);
    assert_int_equal(d.desc_len, 5);
}

static void set_tl0picidx_in_place(void **state)
{
    struct pal_vp8_desc d;
    /* after a 15-bit picture id: only TL0PICIDX changes */
    uint8_t p[] = {0xB0, 0xF0, 0x92, 0x34, 0x07, 0xA5, 0x00, 0x00};
    assert_int_equal(pal_vp8_parse(p, sizeof(p), &d, NULL), 0);
    assert_int_equal(pal_vp8_set_tl0picidx(p, &d, 200), 0);
    assert_int_equal(pal_vp8_parse(p, sizeof(p), &d, NULL), 0);
    assert_int_equal(d.tl0picidx, 200);
    assert_int_equal(d.picture_id, 0x1234);
    assert_int_equal(d.tid, 2);
    /* after a 7-bit picture id, and with no picture id at all (I=0, L=1) */
    uint8_t q[] = {0x90, 0xC0, 0x05, 0x09, 0x01};
    assert_int_equal(pal_vp8_parse(q, sizeof(q), &d, NULL), 0);
    assert_int_equal(pal_vp8_set_tl0picidx(q, &d, 10), 0);
    assert_int_equal(q[3], 10);
    assert_int_equal(q[2], 5);
    uint8_t r[] = {0x90, 0x40, 0x09, 0x01};
    assert_int_equal(pal_vp8_parse(r, sizeof(r), &d, NULL), 0);
    assert_int_equal(pal_vp8_set_tl0picidx(r, &d, 11), 0);
    assert_int_equal(r[2], 11);
    /* none to set */
    uint8_t none[] = {0x10, 0x00};
    assert_int_equal(pal_vp8_parse(none, sizeof(none), &d, NULL), 0);
    assert_int_equal(pal_vp8_set_tl0picidx(none, &d, 1), -EINVAL);
}

static void truncated_descriptors(void **state)
{
    struct pal_vp8_desc d;
    struct pal_wire_err err;
    assert_int_equal(pal_vp8_parse(NULL, 0, &d, &err), -EINVAL);
    const uint8_t x_only[] = {0x80};
    assert_int_equal(pal_vp8_parse(x_only, 1, &d, &err), -EINVAL);
    assert_string_equal(err.msg, "vp8: extension byte: needed 2 bytes, had 1");
    /* pion/rtp #254: 0x81 0x81 0x94: truncated 15-bit picture id */
    const uint8_t pion[] = {0x81, 0x81, 0x94};
    assert_int_equal(pal_vp8_parse(pion, sizeof(pion), &d, &err), -EINVAL);
    assert_string_equal(err.msg, "vp8: 15-bit picture id: needed 4 bytes, had 3");
    const uint8_t no_data[] = {0x90, 0x80, 0x05};
    assert_int_equal(pal_vp8_parse(no_data, sizeof(no_data), &d, &err), -EINVAL);
    assert_string_equal(err.msg, "vp8: payload: needed 4 bytes, had 3");
    const uint8_t no_tl0[] = {0x90, 0x40};
    assert_int_equal(pal_vp8_parse(no_tl0, sizeof(no_tl0), &d, &err), -EINVAL);
    const uint8_t no_tid[] = {0x90, 0x20};
    assert_int_equal(pal_vp8_parse(no_tid, sizeof(no_tid), &d, &err), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(minimal_descriptor_keyframe),
        cmocka_unit_test(interframe_and_continuation),
        cmocka_unit_test(full_extension_fields),
        cmocka_unit_test(tid_and_keyidx_byte),
        cmocka_unit_test(truncated_descriptors),
        cmocka_unit_test(set_tl0picidx_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
