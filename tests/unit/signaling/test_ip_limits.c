/* ip_limits.c: connections per address, rooms per address per minute, the
 * sweep (time is passed in: no sleeping). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdint.h>

#include "palabre/ip_limits.h"

static void test_connections_bounded_per_address(void **state)
{
    (void)state;
    struct pal_ip_limits *l = pal_ip_limits_create(3, 20);
    for (int i = 0; i < 3; i++) {
        assert_true(pal_ip_limits_can_connect(l, "192.0.2.1"));
        assert_int_equal(pal_ip_limits_connect(l, "192.0.2.1"), 0);
    }
    assert_false(pal_ip_limits_can_connect(l, "192.0.2.1"));
    assert_true(pal_ip_limits_can_connect(l, "192.0.2.2")); /* another address is not affected */
    assert_int_equal(pal_ip_limits_connections(l, "192.0.2.1"), 3);
    pal_ip_limits_disconnect(l, "192.0.2.1");
    assert_true(pal_ip_limits_can_connect(l, "192.0.2.1"));
    pal_ip_limits_disconnect(l, "192.0.2.9"); /* unknown: nothing happens */
    assert_int_equal(pal_ip_limits_entries(l), 1);
    pal_ip_limits_destroy(l);
}

static void test_rooms_per_minute_window(void **state)
{
    (void)state;
    struct pal_ip_limits *l = pal_ip_limits_create(50, 3);
    int64_t retry = -1;
    assert_int_equal(pal_ip_limits_create_room(l, "::1", 1000, &retry), 0);
    assert_int_equal(pal_ip_limits_create_room(l, "::1", 2000, &retry), 0);
    assert_int_equal(pal_ip_limits_create_room(l, "::1", 3000, &retry), 0);
    assert_int_equal(pal_ip_limits_create_room(l, "::1", 4000, &retry), -EAGAIN);
    assert_int_equal(retry, 57000); /* the first leaves the window at 61000 */
    assert_int_equal(pal_ip_limits_create_room(l, "127.0.0.1", 4000, &retry), 0);
    assert_int_equal(pal_ip_limits_create_room(l, "::1", 60999, &retry), -EAGAIN);
    assert_int_equal(retry, 1);
    assert_int_equal(pal_ip_limits_create_room(l, "::1", 61000, &retry), 0);
    assert_int_equal(pal_ip_limits_create_room(l, "::1", 61500, &retry), -EAGAIN);
    assert_int_equal(retry, 500); /* now the second (2000) is the oldest */
    pal_ip_limits_destroy(l);
}

static void test_sweep_keeps_what_still_counts(void **state)
{
    (void)state;
    struct pal_ip_limits *l = pal_ip_limits_create(2, 2);
    int64_t retry;
    assert_int_equal(pal_ip_limits_connect(l, "a"), 0);
    assert_int_equal(pal_ip_limits_create_room(l, "b", 0, &retry), 0);
    assert_int_equal(pal_ip_limits_connect(l, "c"), 0);
    pal_ip_limits_disconnect(l, "c");
    pal_ip_limits_sweep(l, 1000);
    assert_int_equal(pal_ip_limits_entries(l), 2); /* a connected, b created a room */
    pal_ip_limits_sweep(l, 60000);
    assert_int_equal(pal_ip_limits_entries(l), 1);
    assert_int_equal(pal_ip_limits_connections(l, "a"), 1);
    pal_ip_limits_disconnect(l, "a");
    pal_ip_limits_sweep(l, 60001);
    assert_int_equal(pal_ip_limits_entries(l), 0);
    pal_ip_limits_destroy(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connections_bounded_per_address),
        cmocka_unit_test(test_rooms_per_minute_window),
        cmocka_unit_test(test_sweep_keeps_what_still_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
