/* Where media listens and where it sends connectivity checks
 * (palabre/ice.h): a loopback or specific listen address is the only one
 * the agent gathers on (a wildcard, a host name or an interfaces list keep
 * every interface); remote candidates our addresses cannot reach (another
 * scope, another family, port 0, unspecified, multicast, broadcast,
 * link-local) are ignored and counted, not fatal. The gathering tests use
 * the machine's own interfaces: they show something only where it has one
 * besides lo (the second is skipped otherwise). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "palabre/ice.h"

static void test_bind_address_table(void **state)
{
    (void)state;
    static const struct {
        const char *listen, *interfaces;
        bool only;
        const char *addr;
    } rows[] = {
        {"127.0.0.1", "", true, "127.0.0.1"},
        {"127.0.0.2", "", true, "127.0.0.2"},
        {"localhost", "", true, "127.0.0.1"},
        {"::1", "", true, "::1"},
        {"[::1]", "", true, "::1"},
        {"192.0.2.7", "", true, "192.0.2.7"},
        {"[2001:db8::5]", "", true, "2001:db8::5"},
        {"0.0.0.0", "", false, NULL},
        {"::", "", false, NULL},
        {"[::]", "", false, NULL},
        {"", "", false, NULL},
        {"meet.example.fr", "", false, NULL},
        {"127.0.0.1", "eth0", false, NULL}, /* an explicit [media] interfaces list wins */
        {"[", "", false, NULL},
        {"[]", "", false, NULL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct pal_media_config cfg = {0};
        snprintf(cfg.listen_addr, sizeof(cfg.listen_addr), "%s", rows[i].listen);
        snprintf(cfg.interfaces, sizeof(cfg.interfaces), "%s", rows[i].interfaces);
        char out[64] = "";
        bool only = pal_ice_bind_address(&cfg, out);
        if (only != rows[i].only)
            fail_msg("listen '%s' interfaces '%s': got %d", rows[i].listen, rows[i].interfaces,
                     only);
        if (only)
            assert_string_equal(out, rows[i].addr);
    }
}

static bool reachable(const char *addr, unsigned port, unsigned local)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
    } else {
        assert_int_equal(inet_pton(AF_INET6, addr, &v6->sin6_addr), 1);
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
    }
    return pal_ice_remote_reachable((const struct sockaddr *)&ss, local);
}

static void test_remote_reachable_table(void **state)
{
    (void)state;
    enum {
        LO4 = PAL_ICE_LOCAL_V4_LOOPBACK,
        LO6 = PAL_ICE_LOCAL_V6_LOOPBACK,
        V4 = PAL_ICE_LOCAL_V4,
        V6 = PAL_ICE_LOCAL_V6,
    };
    static const struct {
        const char *addr;
        unsigned port, local;
        bool ok;
    } rows[] = {
        /* a server on loopback reaches loopback only */
        {"127.0.0.1", 5000, LO4, true},
        {"127.1.2.3", 5000, LO4, true},
        {"192.168.1.20", 5000, LO4, false},
        {"198.51.100.9", 5000, LO4, false},
        {"::1", 5000, LO4, false}, /* no IPv6 local address */
        {"::1", 5000, LO4 | LO6, true},
        {"2001:db8::1", 5000, LO4 | LO6, false},
        /* a server on a private or public address */
        {"192.168.1.20", 5000, V4, true},
        {"10.0.0.1", 5000, V4, true},
        {"198.51.100.9", 5000, V4, true},
        {"127.0.0.1", 5000, V4, false},
        {"169.254.10.1", 5000, V4, false},
        {"224.0.0.251", 5000, V4, false},
        {"239.255.255.250", 5000, V4, false},
        {"255.255.255.255", 5000, V4, false},
        {"240.0.0.1", 5000, V4, false},
        {"0.0.0.0", 5000, V4, false},
        {"0.1.2.3", 5000, V4, false},
        {"192.168.1.20", 0, V4, false},
        {"2001:db8::1", 5000, V4, false}, /* IPv6 without an IPv6 local address */
        {"2001:db8::1", 5000, V4 | V6, true},
        {"fd00::7", 5000, V6, true},
        {"::1", 5000, V4 | V6, false},
        {"fe80::1", 5000, V4 | V6, false},
        {"ff02::1", 5000, V4 | V6, false},
        {"::", 5000, V4 | V6, false},
        {"::ffff:192.168.1.20", 5000, V4 | V6, false},
        {"2001:db8::1", 0, V4 | V6, false},
        /* both kinds of local address (a wildcard listen plus loopback) */
        {"127.0.0.1", 5000, V4 | LO4, true},
        {"192.168.1.20", 5000, V4 | LO4, true},
        {"169.254.10.1", 5000, V4 | LO4, false},
        /* nothing gathered: nothing is reachable */
        {"127.0.0.1", 5000, 0, false},
        {"192.168.1.20", 5000, 0, false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (reachable(rows[i].addr, rows[i].port, rows[i].local) != rows[i].ok)
            fail_msg("%s port %u, local kinds %#x: expected %s", rows[i].addr, rows[i].port,
                     rows[i].local, rows[i].ok ? "reachable" : "ignored");
}

struct gathered {
    char addrs[16][64];
    int n;
    bool done;
};

static void on_candidate(void *ctx, const struct pal_media_candidate *c)
{
    struct gathered *g = ctx;
    if (g->n < 16)
        snprintf(g->addrs[g->n++], sizeof(g->addrs[0]), "%s", c->addr);
}

static void on_done(void *ctx)
{
    ((struct gathered *)ctx)->done = true;
}

static struct pal_ice *gather(GMainContext *ctx, const struct pal_media_config *cfg,
                              struct gathered *g)
{
    memset(g, 0, sizeof(*g));
    struct pal_media_ice_params local = {.ufrag = "abcd", .pwd = "0123456789012345678901"};
    struct pal_ice_listener l = {
        .ctx = g, .on_ice_candidate = on_candidate, .on_ice_gathering_done = on_done};
    struct pal_ice *ice;
    assert_int_equal(pal_ice_create(ctx, cfg, false, &local, NULL, &l, &ice), 0);
    for (int i = 0; i < 5000 && !g->done; i++) /* host candidates only: quick */
        g_main_context_iteration(ctx, FALSE), g_usleep(1000);
    assert_true(g->done);
    return ice;
}

/* The first non-loopback IPv4 address that is up, or false. */
static bool other_ipv4(char out[64])
{
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs))
        return false;
    bool found = false;
    for (struct ifaddrs *i = ifs; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK) ||
            !(i->ifa_flags & IFF_UP))
            continue;
        inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, out, 64);
        found = true;
    }
    freeifaddrs(ifs);
    return found;
}

static void test_loopback_listen_gathers_on_loopback_only(void **state)
{
    (void)state;
    GMainContext *ctx = g_main_context_new();
    struct pal_media_config cfg = {.add_loopback = true, .listen_addr = "127.0.0.1"};
    struct gathered g;
    struct pal_ice *ice = gather(ctx, &cfg, &g);
    assert_true(g.n >= 1);
    for (int i = 0; i < g.n; i++)
        if (strcmp(g.addrs[i], "127.0.0.1") != 0)
            fail_msg("candidate on %s, listen is 127.0.0.1", g.addrs[i]);
    /* A remote candidate off loopback is ignored and counted; loopback is taken. */
    struct pal_media_candidate far = {
        .foundation = "1", .component = 1, .priority = 1, .addr = "192.0.2.9", .port = 9};
    assert_int_equal(pal_ice_add_remote_candidate(ice, &far), -ENETUNREACH);
    snprintf(far.addr, sizeof(far.addr), "224.0.0.1");
    assert_int_equal(pal_ice_add_remote_candidate(ice, &far), -ENETUNREACH);
    assert_int_equal(pal_ice_remote_ignored(ice), 2);
    struct pal_media_candidate near = far;
    snprintf(near.addr, sizeof(near.addr), "127.0.0.1");
    near.port = 0;
    assert_int_equal(pal_ice_add_remote_candidate(ice, &near), -ENETUNREACH);
    near.port = 9;
    assert_int_equal(pal_ice_add_remote_candidate(ice, &near), 0);
    assert_int_equal(pal_ice_remote_ignored(ice), 3);
    pal_ice_destroy(ice);
    while (g_main_context_iteration(ctx, FALSE))
        ;
    g_main_context_unref(ctx);
}

/* Fails unless the candidates are on 127.0.0.1 and ::1, both, and nowhere else. */
static void assert_both_loopbacks(const struct gathered *g, const char *why)
{
    bool v6 = false, v4 = false;
    for (int i = 0; i < g->n; i++) {
        if (!strcmp(g->addrs[i], "::1"))
            v6 = true;
        else if (!strcmp(g->addrs[i], "127.0.0.1"))
            v4 = true;
        else
            fail_msg("candidate on %s, %s", g->addrs[i], why);
    }
    assert_true(v6);
    assert_true(v4);
}

/* Listening on [::1]: IPv6 loopback candidates, and IPv4 loopback for the
 * browsers that gather only that; a remote on either is taken. */
static void test_ipv6_loopback_listen_gathers_both_loopbacks(void **state)
{
    (void)state;
    GMainContext *ctx = g_main_context_new();
    struct pal_media_config cfg = {.add_loopback = true, .listen_addr = "::1"};
    struct gathered g;
    struct pal_ice *ice = gather(ctx, &cfg, &g);
    assert_both_loopbacks(&g, "listen is [::1]");
    struct pal_media_candidate c = {
        .foundation = "1", .component = 1, .priority = 1, .addr = "::1", .port = 9};
    assert_int_equal(pal_ice_add_remote_candidate(ice, &c), 0);
    snprintf(c.addr, sizeof(c.addr), "127.0.0.1");
    assert_int_equal(pal_ice_add_remote_candidate(ice, &c), 0);
    snprintf(c.addr, sizeof(c.addr), "2001:db8::1");
    assert_int_equal(pal_ice_add_remote_candidate(ice, &c), -ENETUNREACH);
    pal_ice_destroy(ice);
    while (g_main_context_iteration(ctx, FALSE))
        ;
    g_main_context_unref(ctx);
}

/* Whether lo has ::1 here (IPv6 may be disabled on the host). */
static bool lo_has_ipv6(void)
{
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs))
        return false;
    bool found = false;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next)
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET6 && !strcmp(i->ifa_name, "lo"))
            found = true;
    freeifaddrs(ifs);
    return found;
}

/* [media] interfaces: every usable address of the listed interfaces, both
 * families (libnice's lookup by name gave one IPv4 address, so a dual-stack
 * eth0 had no IPv6 media). */
static void test_interfaces_gather_both_families(void **state)
{
    (void)state;
    if (!lo_has_ipv6())
        skip();
    GMainContext *ctx = g_main_context_new();
    struct pal_media_config cfg = {.interfaces = "lo"};
    struct gathered g;
    struct pal_ice *ice = gather(ctx, &cfg, &g);
    assert_both_loopbacks(&g, "interfaces is lo");
    pal_ice_destroy(ice);
    while (g_main_context_iteration(ctx, FALSE))
        ;
    g_main_context_unref(ctx);
}

static void test_specific_listen_gathers_there_only(void **state)
{
    (void)state;
    char addr[64];
    if (!other_ipv4(addr))
        skip(); /* only lo here */
    GMainContext *ctx = g_main_context_new();
    struct pal_media_config cfg = {0};
    snprintf(cfg.listen_addr, sizeof(cfg.listen_addr), "%s", addr);
    struct gathered g;
    struct pal_ice *ice = gather(ctx, &cfg, &g);
    assert_true(g.n >= 1);
    for (int i = 0; i < g.n; i++)
        if (strcmp(g.addrs[i], addr) != 0)
            fail_msg("candidate on %s, listen is %s", g.addrs[i], addr);
    /* From a non-loopback address, loopback and link-local are out of reach. */
    struct pal_media_candidate c = {
        .foundation = "1", .component = 1, .priority = 1, .addr = "127.0.0.1", .port = 9};
    assert_int_equal(pal_ice_add_remote_candidate(ice, &c), -ENETUNREACH);
    snprintf(c.addr, sizeof(c.addr), "169.254.3.4");
    assert_int_equal(pal_ice_add_remote_candidate(ice, &c), -ENETUNREACH);
    snprintf(c.addr, sizeof(c.addr), "2001:db8::1"); /* no IPv6 local address */
    assert_int_equal(pal_ice_add_remote_candidate(ice, &c), -ENETUNREACH);
    snprintf(c.addr, sizeof(c.addr), "198.51.100.9");
    assert_int_equal(pal_ice_add_remote_candidate(ice, &c), 0);
    assert_int_equal(pal_ice_remote_ignored(ice), 3);
    pal_ice_destroy(ice);
    while (g_main_context_iteration(ctx, FALSE))
        ;
    g_main_context_unref(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bind_address_table),
        cmocka_unit_test(test_remote_reachable_table),
        cmocka_unit_test(test_loopback_listen_gathers_on_loopback_only),
        cmocka_unit_test(test_specific_listen_gathers_there_only),
        cmocka_unit_test(test_ipv6_loopback_listen_gathers_both_loopbacks),
        cmocka_unit_test(test_interfaces_gather_both_families),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
