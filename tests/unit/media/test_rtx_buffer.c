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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(store_and_get_across_wrap),
        cmocka_unit_test(time_bounded),
        cmocka_unit_test(bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
