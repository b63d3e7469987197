/* drain.c without a socket: which TCP peers may POST /admin/drain (the
 * integration suite can only make loopback and, where it may add one, a
 * second address on lo; this covers the forms lws writes), the
 * server_draining event, and the [server] drain_seconds key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "palabre/config.h"
#include "palabre/drain.h"

static void test_loopback_peers(void **state)
{
    static const char *const yes[] = {"127.0.0.1", "127.1.2.3", "127.255.255.254", "::1",
                                      "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "::FFFF:127.9.9.9"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        assert_true(pal_drain_loopback_peer(yes[i]));
    static const char *const no[] = {
        "10.0.0.1", "192.168.1.10", "128.0.0.1", "126.255.255.255", "0.0.0.0", "::",
        "::2", "fe80::1", "::ffff:10.0.0.1", "::127.0.0.1", /* IPv4-compatible: not loopback */
        "", "localhost", "127.0.0.1 ", " 127.0.0.1", "127.0.0.1:8080", "127.0.0.1, 10.0.0.1",
        "[::1]"};
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        assert_false(pal_drain_loopback_peer(no[i]));
    assert_false(pal_drain_loopback_peer(NULL));
}

static void test_event(void **state)
{
    json_t *ev = pal_drain_event(1764374400000 + 600000, 1764374400000);
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "server_draining");
    assert_int_equal(json_integer_value(json_object_get(ev, "deadline_ms")),
                     1764374400000 + 600000);
    assert_int_equal(json_integer_value(json_object_get(ev, "seconds_left")), 600);
    json_decref(ev);
    /* rounded up: 1 ms left is still a second to go */
    ev = pal_drain_event(1001, 0);
    assert_int_equal(json_integer_value(json_object_get(ev, "seconds_left")), 2);
    json_decref(ev);
    ev = pal_drain_event(1000, 5000); /* past: never negative */
    assert_int_equal(json_integer_value(json_object_get(ev, "seconds_left")), 0);
    json_decref(ev);
}

static void test_config_key(void **state)
{
    struct pal_config cfg;
    char err[256];
    pal_config_defaults(&cfg);
    assert_int_equal(cfg.drain_seconds, 0);
    assert_int_equal(pal_config_set(&cfg, "server", "drain_seconds", "600", err, sizeof(err)), 0);
    assert_int_equal(cfg.drain_seconds, 600);
    assert_int_not_equal(pal_config_set(&cfg, "server", "drain_seconds", "-1", err, sizeof(err)),
                         0);
    assert_int_not_equal(
        pal_config_set(&cfg, "server", "drain_seconds", "86401", err, sizeof(err)), 0);
    assert_int_not_equal(pal_config_set(&cfg, "server", "drain_seconds", "ten", err, sizeof(err)),
                         0);
    assert_int_equal(cfg.drain_seconds, 600);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loopback_peers),
        cmocka_unit_test(test_event),
        cmocka_unit_test(test_config_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
