/* turn.c: the RTCIceServer list a join hands out, checked against HMAC-SHA1
 * values computed outside palabre, and the [turn] keys of config.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "palabre/config.h"
#include "palabre/turn.h"

/* Produced with the OpenSSL command line, not with palabre's code:
 *   printf '%s' '1700043200:p-0123456789abcdef' \
 *     | openssl dgst -sha1 -hmac 'north-wind-7' -binary | openssl base64 -A
 *   printf '%s' '1700000005:Xy' \
 *     | openssl dgst -sha1 -hmac 'rotate-2026' -binary | openssl base64 -A */
#define VECTOR1 "iJcZcqkCVjYy89nksnk8ICiqOR8="
#define VECTOR2 "vbguBiNGsxQA7g/iBtOUbasqv4s="

static void configure(struct pal_config *c, const char *urls, const char *secret)
{
    char err[256];
    pal_config_defaults(c);
    assert_int_equal(pal_config_set(c, "turn", "urls", urls, err, sizeof(err)), 0);
    assert_int_equal(pal_config_set(c, "turn", "secret", secret, err, sizeof(err)), 0);
}

static void test_credential_vectors(void **state)
{
    char out[29];
    assert_int_equal(pal_turn_credential("north-wind-7", "1700043200:p-0123456789abcdef", out,
                                         sizeof(out)),
                     0);
    assert_string_equal(out, VECTOR1);
    assert_int_equal(pal_turn_credential("rotate-2026", "1700000005:Xy", out, sizeof(out)), 0);
    assert_string_equal(out, VECTOR2);
    assert_int_equal(pal_turn_credential("rotate-2026", "1700000005:Xy", out, 28), -ENOSPC);
}

static void test_ice_servers_shape(void **state)
{
    struct pal_config c;
    configure(&c, "turn:turn.example.fr:3478?transport=udp, turn:turn.example.fr:3478?transport=tcp,"
                  "turns:turn.example.fr:443?transport=tcp",
              "north-wind-7");
    assert_int_equal(c.turn_ttl_seconds, 43200); /* default: 12 h */
    json_t *list = pal_turn_ice_servers(&c, "p-0123456789abcdef", 1700000000);
    assert_non_null(list);
    assert_true(json_is_array(list));
    assert_int_equal(json_array_size(list), 1);
    json_t *s = json_array_get(list, 0);
    assert_int_equal(json_object_size(s), 3);
    /* expiry = now + ttl_seconds */
    assert_string_equal(json_string_value(json_object_get(s, "username")),
                        "1700043200:p-0123456789abcdef");
    assert_string_equal(json_string_value(json_object_get(s, "credential")), VECTOR1);
    json_t *urls = json_object_get(s, "urls");
    assert_int_equal(json_array_size(urls), 3);
    assert_string_equal(json_string_value(json_array_get(urls, 0)),
                        "turn:turn.example.fr:3478?transport=udp");
    assert_string_equal(json_string_value(json_array_get(urls, 1)),
                        "turn:turn.example.fr:3478?transport=tcp");
    assert_string_equal(json_string_value(json_array_get(urls, 2)),
                        "turns:turn.example.fr:443?transport=tcp");
    json_decref(list);
}

static void test_ttl_sets_expiry(void **state)
{
    struct pal_config c;
    char err[256];
    configure(&c, "turn:10.0.0.1", "rotate-2026");
    assert_int_equal(pal_config_set(&c, "turn", "ttl_seconds", "5", err, sizeof(err)), 0);
    json_t *list = pal_turn_ice_servers(&c, "Xy", 1700000000);
    json_t *s = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(s, "username")), "1700000005:Xy");
    assert_string_equal(json_string_value(json_object_get(s, "credential")), VECTOR2);
    json_decref(list);
}

static void test_not_configured(void **state)
{
    struct pal_config c;
    pal_config_defaults(&c);
    assert_null(pal_turn_ice_servers(&c, "Xy", 1700000000));
    json_t *empty = pal_turn_ice_servers_or_empty(&c, "Xy", 1700000000);
    assert_true(json_is_array(empty));
    assert_int_equal(json_array_size(empty), 0);
    json_decref(empty);
    char err[256];
    assert_int_equal(pal_config_check(&c, err, sizeof(err)), 0);
}

static void test_config_errors(void **state)
{
    struct pal_config c;
    char err[256];
    pal_config_defaults(&c);
    assert_int_equal(pal_config_set(&c, "turn", "urls", "stun:turn.example.fr", err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "'stun:turn.example.fr' is not a turn: or turns: URL"));
    assert_int_equal(c.n_turn_urls, 0);
    assert_int_equal(pal_config_set(&c, "turn", "urls", "turn:", err, sizeof(err)), -EINVAL);
    assert_int_equal(pal_config_set(&c, "turn", "urls", "turn:a,turn:b,turn:c,turn:d,turn:e,"
                                                        "turn:f,turn:g,turn:h,turn:i",
                                    err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "more than 8 entries"));
    assert_int_equal(pal_config_set(&c, "turn", "ttl_seconds", "0", err, sizeof(err)), -EINVAL);
    /* eight is the bound, not one less */
    assert_int_equal(pal_config_set(&c, "turn", "urls", "turn:a,turn:b,turn:c,turn:d,turn:e,"
                                                        "turn:f,turn:g,turn:h",
                                    err, sizeof(err)),
                     0);
    assert_int_equal(c.n_turn_urls, 8);
    /* urls without a secret would hand out credentials coturn refuses */
    assert_int_equal(pal_config_check(&c, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "[turn] urls is set but not secret"));
    assert_int_equal(pal_config_set(&c, "turn", "secret", "s", err, sizeof(err)), 0);
    assert_int_equal(pal_config_check(&c, err, sizeof(err)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_credential_vectors), cmocka_unit_test(test_ice_servers_shape),
        cmocka_unit_test(test_ttl_sets_expiry),    cmocka_unit_test(test_not_configured),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
