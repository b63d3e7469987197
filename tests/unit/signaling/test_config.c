/* config.c: defaults, file over defaults, flags over the file, errors that
 * name the key and the line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "palabre/config.h"
#include "palabre/log.h"

static char path[64];

static void write_file(const char *text)
{
    strcpy(path, "/tmp/palabre-cfg-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void test_defaults(void **state)
{
    struct pal_config c;
    pal_config_defaults(&c);
    assert_string_equal(c.listen_addr, "127.0.0.1");
    assert_int_equal(c.listen_port, 8080);
    assert_string_equal(c.data_dir, "./var");
    assert_int_equal(c.log_level, PAL_LOG_INFO);
    assert_int_equal(c.n_allowed_origins, 0);
    assert_int_equal(c.max_message_bytes, 524288);
    assert_int_equal(c.messages_per_second, 50);
    assert_int_equal(c.max_participants_per_room, 100);
    assert_int_equal(c.max_rooms, 1000);
    assert_int_equal(c.outbound_queue_messages, 1024);
    assert_int_equal(c.resume_seconds, 30);
    assert_int_equal(c.media_workers, 0);
    assert_int_equal(c.mixer_video_width, 1280);
    assert_int_equal(c.mixer_video_height, 720);
    assert_int_equal(c.mixer_video_fps, 15);
    assert_int_equal(c.mixer_video_bitrate_kbps, 1200);
}

static void test_file_then_flags(void **state)
{
    struct pal_config c;
    char err[256];
    pal_config_defaults(&c);
    write_file("; comment\n[server]\nlisten = 0.0.0.0:9000\ndata_dir = /srv/palabre\n"
               "log_level = debug\nallowed_origins = https://a.example.fr, https://b.example.fr\n"
               "[limits]\nmax_rooms = 3\nresume_seconds = 2\nmax_message_bytes = 4096\n"
               "[media]\nport_min = 40000\nport_max = 40100\ninterfaces = eth0\n"
               "public_ip = 192.0.2.1\nmedia_workers = 2\n"
               "[mixer]\nvideo_width = 960\nvideo_height = 540\nvideo_fps = 30\n");
    assert_int_equal(pal_config_load(&c, path, err, sizeof(err)), 0);
    unlink(path);
    assert_string_equal(c.listen_addr, "0.0.0.0");
    assert_int_equal(c.listen_port, 9000);
    assert_string_equal(c.data_dir, "/srv/palabre");
    assert_int_equal(c.log_level, PAL_LOG_DEBUG);
    assert_int_equal(c.n_allowed_origins, 2);
    assert_string_equal(c.allowed_origins[1], "https://b.example.fr");
    assert_int_equal(c.max_rooms, 3);
    assert_int_equal(c.resume_seconds, 2);
    assert_int_equal(c.max_message_bytes, 4096);
    assert_int_equal(c.port_min, 40000);
    assert_string_equal(c.interfaces, "eth0");
    assert_string_equal(c.public_ip, "192.0.2.1");
    assert_int_equal(c.media_workers, 2);
    assert_int_equal(c.mixer_video_width, 960);
    assert_int_equal(c.mixer_video_height, 540);
    assert_int_equal(c.mixer_video_fps, 30);
    assert_int_equal(c.mixer_video_bitrate_kbps, 1200); /* untouched default */
    assert_int_equal(pal_config_set(&c, "mixer", "video_fps", "31", err, sizeof(err)), -EINVAL);
    assert_int_equal(c.mixer_video_fps, 30);
    assert_int_equal(c.max_participants_per_room, 100); /* untouched default */
    /* flags, as main.c sets them, override the file */
    assert_int_equal(pal_config_set(&c, NULL, "server.listen", "127.0.0.1:7000", err, sizeof(err)), 0);
    assert_int_equal(pal_config_set(&c, NULL, "server.data_dir", "/tmp/x", err, sizeof(err)), 0);
    assert_int_equal(pal_config_set(&c, "limits", "max_rooms", "9", err, sizeof(err)), 0);
    assert_int_equal(pal_config_set(&c, NULL, "resume_seconds", "5", err, sizeof(err)), 0);
    assert_string_equal(c.listen_addr, "127.0.0.1");
    assert_int_equal(c.listen_port, 7000);
    assert_string_equal(c.data_dir, "/tmp/x");
    assert_int_equal(c.max_rooms, 9);
    assert_int_equal(c.resume_seconds, 5);
}

static void expect_load_error(const char *text, const char *needle)
{
    struct pal_config c;
    char err[512], want[600];
    pal_config_defaults(&c);
    write_file(text);
    assert_int_equal(pal_config_load(&c, path, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want), "%s:%s", path, needle);
    unlink(path);
    if (!strstr(err, want))
        fail_msg("'%s' does not contain '%s'", err, want);
}

static void test_errors_name_key_and_line(void **state)
{
    expect_load_error("[server]\nlisten = 127.0.0.1:1\n\n[limits]\nmax_roomz = 3\n",
                      "5: key 'max_roomz': unknown key in section [limits]");
    expect_load_error("[limits]\nmax_rooms = lots\n", "2: key 'max_rooms': expected an integer");
    expect_load_error("[limits]\nmax_rooms = 0\n", "2: key 'max_rooms': expected an integer from 1");
    expect_load_error("[server]\nlog_level = loud\n", "2: key 'log_level'");
    expect_load_error("[server]\nlisten = 127.0.0.1:99999\n", "2: key 'listen'");
    expect_load_error("[nope]\nlisten = 1\n", "2: key 'listen': unknown key in section [nope]");
    expect_load_error("[server]\n\n\nthis line is broken\n", "4: ");
    expect_load_error("[media]\nmax_rooms = 3\n", "2: key 'max_rooms'");
}

static void test_missing_file(void **state)
{
    struct pal_config c;
    char err[256];
    pal_config_defaults(&c);
    assert_int_equal(pal_config_load(&c, "/nonexistent/palabre.ini", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "/nonexistent/palabre.ini"));
}

static void test_bad_set_leaves_config_unchanged(void **state)
{
    struct pal_config c, before;
    char err[256];
    pal_config_defaults(&c);
    before = c;
    assert_int_equal(pal_config_set(&c, NULL, "server.listen", "host:port", err, sizeof(err)), -EINVAL);
    assert_int_equal(pal_config_set(&c, NULL, "limits.max_rooms", "-1", err, sizeof(err)), -EINVAL);
    assert_int_equal(pal_config_set(&c, NULL, "bogus", "1", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "key 'bogus'"));
    assert_memory_equal(&c, &before, sizeof(c));
}

/* IPv6 listen addresses in brackets, kept without them (what bind takes);
 * one without brackets is ambiguous and refused. */
static void test_listen_ipv6(void **state)
{
    static const struct {
        const char *value, *addr;
        int port;
    } ok[] = {{"[::1]:8443", "::1", 8443},
              {"[::]:80", "::", 80},
              {"[2001:db8::7]:9000", "2001:db8::7", 9000},
              {"192.0.2.1:443", "192.0.2.1", 443}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct pal_config c;
        char err[256] = "";
        pal_config_defaults(&c);
        if (pal_config_set(&c, NULL, "server.listen", ok[i].value, err, sizeof(err)))
            fail_msg("%s: %s", ok[i].value, err);
        assert_string_equal(c.listen_addr, ok[i].addr);
        assert_int_equal(c.listen_port, ok[i].port);
    }
    struct pal_config c;
    pal_config_defaults(&c);
    assert_true(pal_config_set(&c, NULL, "server.listen", "[::1]:8080", (char[8]){0}, 8) == 0);
    assert_true(pal_config_listen_is_loopback(&c));
    static const char *bad[] = {"::1:8080", "[::1]8080", "[::1", "[]:80", "[::1]:0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        pal_config_defaults(&c);
        assert_int_equal(pal_config_set(&c, NULL, "server.listen", bad[i], err, sizeof(err)),
                         -EINVAL);
        assert_non_null(strstr(err, "key 'listen'"));
        assert_string_equal(c.listen_addr, "127.0.0.1");
    }
}

/* tls_cert and tls_key go together: one alone names the other. */
static void test_tls_both_or_neither(void **state)
{
    struct pal_config c;
    char err[256];
    pal_config_defaults(&c);
    assert_int_equal(pal_config_set(&c, NULL, "server.tls_cert", "/etc/c.pem", err, sizeof(err)), 0);
    assert_int_equal(pal_config_check(&c, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "[server] tls_key is missing"));
    pal_config_defaults(&c);
    assert_int_equal(pal_config_set(&c, NULL, "server.tls_key", "/etc/k.pem", err, sizeof(err)), 0);
    assert_int_equal(pal_config_check(&c, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "[server] tls_cert is missing"));
    assert_int_equal(pal_config_set(&c, NULL, "server.tls_cert", "/etc/c.pem", err, sizeof(err)), 0);
    assert_int_equal(pal_config_check(&c, err, sizeof(err)), 0);
    assert_string_equal(c.tls_cert, "/etc/c.pem");
    assert_string_equal(c.tls_key, "/etc/k.pem");
}

/* [access] agents = oidc: each required [oidc] key named when missing; the
 * issuer https only; scopes with openid and nothing that would break the
 * authorization URL; defaults of the session keys. */
static void test_oidc_keys(void **state)
{
    (void)state;
    struct pal_config c;
    char err[256];
    pal_config_defaults(&c);
    assert_string_equal(c.oidc_scopes, "openid email profile");
    assert_int_equal(c.oidc_session_lifetime_seconds, 43200);
    assert_int_equal(c.oidc_session_idle_seconds, 7200);
    assert_int_equal(pal_config_set(&c, "access", "agents", "oidc", err, sizeof(err)), 0);
    assert_int_equal(c.agents, PAL_AGENTS_OIDC);
    const char *keys[][2] = {{"issuer", "https://idp.example.fr"},
                             {"client_id", "palabre"},
                             {"client_secret", "s"},
                             {"redirect_uri", "https://visio.example.fr/oidc/callback"}};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(pal_config_check(&c, err, sizeof(err)), -EINVAL);
        char want[64];
        snprintf(want, sizeof(want), "needs [oidc] %s", keys[i][0]);
        assert_non_null(strstr(err, want));
        assert_int_equal(pal_config_set(&c, "oidc", keys[i][0], keys[i][1], err, sizeof(err)), 0);
    }
    assert_int_equal(pal_config_check(&c, err, sizeof(err)), 0);
    assert_int_equal(pal_config_set(&c, "oidc", "scopes", "openid email&prompt=none", err, sizeof(err)), 0);
    assert_int_equal(pal_config_check(&c, err, sizeof(err)), -EINVAL);
    assert_int_equal(pal_config_set(&c, "oidc", "scopes", "email", err, sizeof(err)), 0);
    assert_int_equal(pal_config_check(&c, err, sizeof(err)), -EINVAL);
    assert_int_equal(pal_config_set(&c, "oidc", "scopes", "openid siret", err, sizeof(err)), 0);
    assert_int_equal(pal_config_set(&c, "oidc", "issuer", "http://idp.example.fr", err, sizeof(err)), 0);
    assert_int_equal(pal_config_check(&c, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "issuer must be https://"));
    assert_int_equal(pal_config_set(&c, "oidc", "session_idle_seconds", "9", err, sizeof(err)), -EINVAL);
    assert_int_equal(pal_config_set(&c, "access", "agents", "saml", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "expected open, token or oidc"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_file_then_flags),
        cmocka_unit_test(test_errors_name_key_and_line),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_bad_set_leaves_config_unchanged),
        cmocka_unit_test(test_listen_ipv6),
        cmocka_unit_test(test_tls_both_or_neither),
        cmocka_unit_test(test_oidc_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
