#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "palabre/rtx_buffer.h"

static void fill(uint8_t *b, uint16_t seq, size_t len)
{
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)(seq + i);
}

static void store_and_get_across_wrap(void **state)
{
    struct pal_rtx_buffer *b;
    assert_int_equal(pal_rtx_buffer_create(64, 1500, 2000, &b), 0);
    uint8_t pkt[1500];
    /* 65500 .. 65535, 0 .. 27: 64 packets across the wrap */
    for (uint32_t i = 0; i < 64; i++) {
        uint16_t seq = (uint16_t)(65500 + i);
        fill(pkt, seq, 100 + i);
        assert_int_equal(pal_rtx_buffer_store(b, seq, pkt, 100 + i, 1000), 0);
    }
    for (uint32_t i = 0; i < 64; i++) {
        uint16_t seq = (uint16_t)(65500 + i);
        const uint8_t *got;
        size_t len;
        assert_int_equal(pal_rtx_buffer_get(b, seq, 1500, &got, &len), 0);
        assert_int_equal(len, 100 + i);
        fill(pkt, seq, len);
        assert_memory_equal(got, pkt, len);
    }
    /* One more packet overwrites the oldest slot (65500 and 28 share it). */
    fill(pkt, 28, 10);
    assert_int_equal(pal_rtx_buffer_store(b, 28, pkt, 10, 1000), 0);
    const uint8_t *got;
    size_t len;
    assert_int_equal(pal_rtx_buffer_get(b, 65500, 1500, &got, &len), -ENOENT);
    assert_int_equal(pal_rtx_buffer_get(b, 28, 1500, &got, &len), 0);
    /* Never stored */
    assert_int_equal(pal_rtx_buffer_get(b, 30000, 1500, &got, &len), -ENOENT);
    pal_rtx_buffer_destroy(b);
}

static void time_bounded(void **state)
{
    struct pal_rtx_buffer *b;
    assert_int_equal(pal_rtx_buffer_create(16, 200, 1000, &b), 0);
    uint8_t pkt[200] = {1, 2, 3};
    assert_int_equal(pal_rtx_buffer_store(b, 5, pkt, 3, 10000), 0);
    const uint8_t *got;
    size_t len;
    assert_int_equal(pal_rtx_buffer_get(b, 5, 11000, &got, &len), 0);
    assert_int_equal(pal_rtx_buffer_get(b, 5, 11001, &got, &len), -ENOENT);
    /* Same slot after a full wrap of 65536 sequence numbers: the seq matches
     * but the time bound rejects a stale packet. */
    assert_int_equal(pal_rtx_buffer_store(b, 21, pkt, 3, 10000), 0);
    assert_int_equal(pal_rtx_buffer_get(b, 5, 10001, &got, &len), -ENOENT);
    pal_rtx_buffer_clear(b);
    assert_int_equal(pal_rtx_buffer_get(b, 21, 10001, &got, &len), -ENOENT);
    pal_rtx_buffer_destroy(b);
}

static void bad_arguments(void **state)
{
    struct pal_rtx_buffer *b;
    assert_int_equal(pal_rtx_buffer_create(100, 1500, 2000, &b), -EINVAL); /* not a power of 2 */
    assert_int_equal(pal_rtx_buffer_create(0, 1500, 2000, &b), -EINVAL);
    assert_int_equal(pal_rtx_buffer_create(8, 0, 2000, &b), -EINVAL);
    assert_int_equal(pal_rtx_buffer_create(8, 100, 2000, &b), 0);
    uint8_t big[101] = {0};
    assert_int_equal(pal_rtx_buffer_store(b, 1, big, sizeof(big), 0), -EMSGSIZE);
    pal_rtx_buffer_destroy(b);
}

/* Stores n packets of a stream at pps packets/s from seq first, time t0;
 * returns the time of the last. */
static int64_t stream(struct pal_rtx_buffer *b, uint16_t first, unsigned n, unsigned pps, int64_t t0)
{
    uint8_t pkt[300];
    int64_t t = t0;
    for (unsigned i = 0; i < n; i++) {
        uint16_t seq = (uint16_t)(first + i);
        t = t0 + (int64_t)i * 1000 / pps;
        fill(pkt, seq, sizeof(pkt));
        assert_int_equal(pal_rtx_buffer_store(b, seq, pkt, sizeof(pkt), t), 0);
    }
    return t;
}

/* Every packet of the last max_age is still there (seq wrap included). */
static void expect_window(struct pal_rtx_buffer *b, uint16_t last, unsigned n, int64_t now)
{
    uint8_t pkt[300];
    for (unsigned i = 0; i < n; i++) {
        uint16_t seq = (uint16_t)(last - i);
        const uint8_t *got;
        size_t len;
        if (pal_rtx_buffer_get(b, seq, now, &got, &len) != 0)
            fail_msg("seq %u (%u before the last) is gone", seq, i);
        fill(pkt, seq, sizeof(pkt));
        assert_int_equal(len, sizeof(pkt));
        assert_memory_equal(got, pkt, len);
    }
}

/* The media streams' rings: memory follows the packet rate. A slow stream
 * (a 180p layer, 30 packets/s) keeps its 64 slots and every packet of the
 * last 2 s; a fast one (400 packets/s) grows to 512 without losing a packet
 * of its window on the way, and no further (512 slots hold 1.28 s of it:
 * the cap, as the fixed rings had); audio grows to 128 at most. */
static void growing_follows_the_rate(void **state)
{
    struct pal_rtx_buffer *slow, *fast, *audio;
    assert_int_equal(pal_rtx_buffer_create_for(true, &slow), 0);
    assert_int_equal(pal_rtx_buffer_create_for(true, &fast), 0);
    assert_int_equal(pal_rtx_buffer_create_for(false, &audio), 0);
    assert_int_equal(pal_rtx_buffer_slots(slow), 64);

    int64_t t = stream(slow, 65000, 3000, 30, 0); /* 100 s, across the wrap */
    assert_int_equal(pal_rtx_buffer_slots(slow), 64);
    expect_window(slow, (uint16_t)(65000 + 2999), 60, t); /* the last 2 s */

    t = stream(fast, 65400, 200, 400, 0);
    assert_int_equal(pal_rtx_buffer_slots(fast), 256); /* 200 packets in 0.5 s */
    expect_window(fast, (uint16_t)(65400 + 199), 200, t);
    t = stream(fast, (uint16_t)(65400 + 200), 4000, 400, t + 3);
    assert_int_equal(pal_rtx_buffer_slots(fast), 512);
    expect_window(fast, (uint16_t)(65400 + 4199), 512, t);

    t = stream(audio, 100, 1000, 100, 0); /* 10 ms frames */
    assert_int_equal(pal_rtx_buffer_slots(audio), 128);
    expect_window(audio, 1099, 100, t); /* the last 1 s */

    /* a fixed ring never grows */
    struct pal_rtx_buffer *fixed;
    assert_int_equal(pal_rtx_buffer_create(16, 300, 2000, &fixed), 0);
    stream(fixed, 0, 100, 400, 0);
    assert_int_equal(pal_rtx_buffer_slots(fixed), 16);
    pal_rtx_buffer_destroy(fixed);
    assert_int_equal(pal_rtx_buffer_create_growing(64, 32, 300, 2000, &fixed), -EINVAL);
    assert_int_equal(pal_rtx_buffer_create_growing(64, 96, 300, 2000, &fixed), -EINVAL);
    pal_rtx_buffer_destroy(slow);
    pal_rtx_buffer_destroy(fast);
    pal_rtx_buffer_destroy(audio);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(store_and_get_across_wrap),
        cmocka_unit_test(time_bounded),
        cmocka_unit_test(bad_arguments),
        cmocka_unit_test(growing_follows_the_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
