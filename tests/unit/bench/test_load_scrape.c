/* bench/load/scrape.c: palabre-load reads the server's bandwidth estimates
 * from its /metrics (Prometheus text): the URL next to the signaling one,
 * the unlabelled sample of that exact name, and a clear failure otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

/* the tool's sources are not in libpalabre.a: build the one under test here */
#include "../../../bench/load/scrape.c"

static const char *const PAGE =
    "# HELP palabre_media_bwe_subscribers Subscribers with a send-side estimate.\n"
    "# TYPE palabre_media_bwe_subscribers gauge\n"
    "palabre_media_bwe_subscribers_old 9\n"
    "palabre_media_bwe_subscribers{room=\"a\"} 8\n"
    "palabre_media_bwe_subscribers 3\n"
    "palabre_media_bwe_estimate_avg_bps 3341628.5 1700000000000\r\n"
    "palabre_media_bwe_estimate_min_bps   1.7e6\n"
    "palabre_broken 12abc\n"
    "palabre_last 7";

static void test_values(void **state)
{
    (void)state;
    double v = -1;
    assert_int_equal(load_prom_value(PAGE, "palabre_media_bwe_subscribers", &v), 0);
    assert_true(v == 3); /* not the longer name, not the labelled one */
    assert_int_equal(load_prom_value(PAGE, "palabre_media_bwe_estimate_avg_bps", &v), 0);
    assert_true(v == 3341628.5); /* a timestamp after the value is allowed */
    assert_int_equal(load_prom_value(PAGE, "palabre_media_bwe_estimate_min_bps", &v), 0);
    assert_true(v == 1.7e6);
    assert_int_equal(load_prom_value(PAGE, "palabre_last", &v), 0);
    assert_true(v == 7);
    v = -1;
    assert_int_equal(load_prom_value(PAGE, "palabre_broken", &v), -EINVAL);
    assert_int_equal(load_prom_value(PAGE, "palabre_media", &v), -ENOENT);
    assert_int_equal(load_prom_value(PAGE, "HELP", &v), -ENOENT); /* comments are not samples */
    assert_int_equal(load_prom_value("", "x", &v), -ENOENT);
    assert_true(v == -1); /* untouched on failure */
}

static void test_url(void **state)
{
    (void)state;
    char u[64];
    assert_int_equal(load_metrics_url("ws://127.0.0.1:18480/ws", u, sizeof(u)), 0);
    assert_string_equal(u, "http://127.0.0.1:18480/metrics");
    assert_int_equal(load_metrics_url("wss://meet.example.org/ws?x=1", u, sizeof(u)), 0);
    assert_string_equal(u, "https://meet.example.org/metrics");
    assert_int_equal(load_metrics_url("ws://[::1]:8080", u, sizeof(u)), 0);
    assert_string_equal(u, "http://[::1]:8080/metrics");
    assert_int_equal(load_metrics_url("http://127.0.0.1/", u, sizeof(u)), -EINVAL);
    assert_int_equal(load_metrics_url("ws:///ws", u, sizeof(u)), -EINVAL);
    assert_int_equal(load_metrics_url("ws://a-very-long-host-name.example.org:8080/", u, 20),
                     -ENOSPC);
}

/* Nothing listens there: an error, no body, quickly. */
static void test_no_server(void **state)
{
    (void)state;
    char *body = (char *)"untouched";
    assert_int_equal(load_scrape("http://127.0.0.1:1/metrics", 2000, &body), -EIO);
    assert_null(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_no_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
