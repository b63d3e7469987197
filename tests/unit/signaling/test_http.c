/* http.c helpers without a socket: the client address behind trusted
 * proxies (X-Forwarded-For), the /metrics bearer token; config.c's
 * trusted_proxies and the new [limits] keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "palabre/config.h"
#include "palabre/http.h"

static struct pal_config with_proxies(const char *list)
{
    struct pal_config cfg;
    char err[256];
    pal_config_defaults(&cfg);
    if (list)
        assert_int_equal(pal_config_set(&cfg, "server", "trusted_proxies", list, err, sizeof(err)),
                         0);
    return cfg;
}

static const char *client(const struct pal_config *cfg, const char *peer, const char *xff)
{
    static char out[64];
    pal_http_forwarded_client(cfg, peer, xff, out, sizeof(out));
    return out;
}

static void test_forwarded_for_only_from_trusted_proxies(void **state)
{
    (void)state;
    struct pal_config none = with_proxies(NULL);
    assert_string_equal(client(&none, "127.0.0.1", "192.0.2.1"), "127.0.0.1");
    assert_string_equal(client(&none, "::ffff:192.0.2.8", NULL), "192.0.2.8");

    struct pal_config cfg = with_proxies("127.0.0.1, 10.0.0.1");
    assert_string_equal(client(&cfg, "127.0.0.1", "192.0.2.1"), "192.0.2.1");
    assert_string_equal(client(&cfg, "::ffff:127.0.0.1", "192.0.2.1"), "192.0.2.1");
    /* the rightmost address that is not a proxy; what the client wrote to the
     * left of it is not believed */
    assert_string_equal(client(&cfg, "127.0.0.1", "6.6.6.6, 192.0.2.1, 10.0.0.1"), "192.0.2.1");
    assert_string_equal(client(&cfg, "127.0.0.1", " 192.0.2.1 ,  10.0.0.1 "), "192.0.2.1");
    /* only proxies: the leftmost one */
    assert_string_equal(client(&cfg, "127.0.0.1", "10.0.0.1"), "10.0.0.1");
    /* a peer that is not a proxy is the client, whatever it says */
    assert_string_equal(client(&cfg, "192.0.2.50", "127.0.0.1"), "192.0.2.50");
    /* an empty header or empty entries change nothing */
    assert_string_equal(client(&cfg, "127.0.0.1", ""), "127.0.0.1");
    assert_string_equal(client(&cfg, "127.0.0.1", " , ,"), "127.0.0.1");
}

static void test_bearer_token(void **state)
{
    (void)state;
    assert_true(pal_http_bearer_ok("", NULL));
    assert_true(pal_http_bearer_ok("t0ken", "Bearer t0ken"));
    assert_true(pal_http_bearer_ok("t0ken", "bearer  t0ken "));
    assert_false(pal_http_bearer_ok("t0ken", NULL));
    assert_false(pal_http_bearer_ok("t0ken", "Bearer t0ke"));
    assert_false(pal_http_bearer_ok("t0ken", "Bearer t0ken2"));
    assert_false(pal_http_bearer_ok("t0ken", "Basic dDBrZW4="));
    assert_false(pal_http_bearer_ok("t0ken", "Bearer "));
}

static void test_config_keys(void **state)
{
    (void)state;
    struct pal_config cfg;
    char err[256];
    pal_config_defaults(&cfg);
    assert_int_equal(cfg.connections_per_ip, 50);
    assert_int_equal(cfg.rooms_per_ip_per_minute, 20);
    assert_int_equal(cfg.outbound_queue_bytes, 4 * 1024 * 1024);
    assert_int_equal(cfg.join_timeout_seconds, 10);
    assert_int_equal(cfg.n_trusted_proxies, 0);
    assert_string_equal(cfg.metrics_token, "");
    assert_int_equal(pal_config_set(&cfg, "server", "trusted_proxies", "10.0.0.1 ::1", err,
                                    sizeof(err)),
                     0);
    assert_int_equal(cfg.n_trusted_proxies, 2);
    assert_string_equal(cfg.trusted_proxies[1], "::1");
    assert_int_not_equal(pal_config_set(&cfg, "server", "trusted_proxies", "proxy.example.fr",
                                        err, sizeof(err)),
                         0);
    assert_non_null(strstr(err, "trusted_proxies"));
    assert_non_null(strstr(err, "proxy.example.fr"));
    assert_int_not_equal(pal_config_set(&cfg, "limits", "connections_per_ip", "0", err,
                                        sizeof(err)),
                         0);
    assert_int_equal(pal_config_set(&cfg, "metrics", "token", "abc", err, sizeof(err)), 0);
    assert_string_equal(cfg.metrics_token, "abc");
    assert_int_equal(pal_config_set(&cfg, NULL, "limits.outbound_queue_bytes", "65536", err,
                                    sizeof(err)),
                     0);
    assert_int_equal(cfg.outbound_queue_bytes, 65536);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forwarded_for_only_from_trusted_proxies),
        cmocka_unit_test(test_bearer_token),
        cmocka_unit_test(test_config_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
