/* cluster_wire.c: redirect tickets (checked against an HMAC computed by the
 * OpenSSL command line), lease values, registry entries, the Redis address,
 * and the [cluster] keys of config.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "palabre/cluster_wire.h"
#include "palabre/config.h"

#define SECRET "cluster-secret-0123456789"
/* printf '%s' 'v1.conseil-municipal.node-2.1800000000000' \
 *   | openssl dgst -sha256 -hmac 'cluster-secret-0123456789' */
#define TICKET "v1.conseil-municipal.node-2.1800000000000." \
               "77b8660b6669c7bd49804031a72d1ab0df6bfc3205c970b8b99147e0c5817f4b"
#define NOW 1799999990000LL

static void test_ticket_vector(void **state)
{
    char out[PAL_CLUSTER_TICKET_MAX + 1];
    assert_int_equal(pal_cluster_ticket_write(SECRET, "conseil-municipal", "node-2", 1800000000000LL,
                                              out, sizeof(out)),
                     0);
    assert_string_equal(out, TICKET);
    char room[65], node[PAL_CLUSTER_NODE_ID_MAX + 1];
    assert_int_equal(pal_cluster_ticket_read(SECRET, TICKET, strlen(TICKET), NOW, room, node), 0);
    assert_string_equal(room, "conseil-municipal");
    assert_string_equal(node, "node-2");
    assert_int_equal(pal_cluster_ticket_write(SECRET, "conseil-municipal", "node-2", 1, out, 40),
                     -ENOSPC);
    assert_int_equal(pal_cluster_ticket_write(SECRET, "Bad Room", "node-2", 1, out, sizeof(out)),
                     -EINVAL);
}

static void test_ticket_refused(void **state)
{
    char room[65], node[PAL_CLUSTER_NODE_ID_MAX + 1];
    char t[sizeof(TICKET)];
    /* expired */
    assert_int_equal(pal_cluster_ticket_read(SECRET, TICKET, strlen(TICKET), 1800000000001LL, room,
                                             node),
                     -ETIMEDOUT);
    /* another secret */
    assert_int_equal(pal_cluster_ticket_read("another-secret-xyz", TICKET, strlen(TICKET), NOW, room,
                                             node),
                     -EINVAL);
    /* each field changed: the signature no longer matches */
    static const struct {
        const char *from, *to;
    } edits[] = {{"conseil", "conseik"}, {"node-2", "node-3"}, {".18000", ".28000"}, {"4b", "4c"}};
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        memcpy(t, TICKET, sizeof(t));
        char *p = strstr(t, edits[i].from);
        memcpy(p, edits[i].to, strlen(edits[i].to));
        assert_int_equal(pal_cluster_ticket_read(SECRET, t, strlen(t), NOW, room, node), -EINVAL);
    }
    /* malformed: truncated, extra dot, wrong version, empty, too long */
    assert_int_equal(pal_cluster_ticket_read(SECRET, TICKET, strlen(TICKET) - 1, NOW, room, node),
                     -EINVAL);
    assert_int_equal(pal_cluster_ticket_read(SECRET, "v1.a.b.1.", 9, NOW, room, node), -EINVAL);
    assert_int_equal(pal_cluster_ticket_read(SECRET, "v2.a.b.1.c", 10, NOW, room, node), -EINVAL);
    assert_int_equal(pal_cluster_ticket_read(SECRET, "", 0, NOW, room, node), -EINVAL);
    char big[400];
    memset(big, 'a', sizeof(big));
    memcpy(big, "v1.", 3);
    assert_int_equal(pal_cluster_ticket_read(SECRET, big, sizeof(big), NOW, room, node), -EINVAL);
}

static void test_lease_value(void **state)
{
    char node[PAL_CLUSTER_NODE_ID_MAX + 1];
    int64_t epoch = 0;
    assert_int_equal(pal_cluster_lease_read("node-1:42", 9, node, &epoch), 0);
    assert_string_equal(node, "node-1");
    assert_int_equal(epoch, 42);
    static const char *const bad[] = {"node-1", ":42", "node-1:", "node-1:-1", "node 1:4",
                                      "node-1:4x", "node-1:1234567890123456789"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(pal_cluster_lease_read(bad[i], strlen(bad[i]), node, &epoch), -EINVAL);
}

static void test_registry_round_trip(void **state)
{
    struct pal_cluster_node n = {.id = "node-a", .url = "https://visio-a.example.fr",
                                 .version = "1.2", .cores = 8, .load = 0.25, .rooms = 3,
                                 .participants = 41, .packets_per_second = 9000,
                                 .state = PAL_CLUSTER_DRAINING, .proto = PAL_CLUSTER_PROTO};
    char json[1024], err[128];
    assert_int_equal(pal_cluster_node_write(&n, json, sizeof(json)), 0);
    struct pal_cluster_node m;
    assert_int_equal(pal_cluster_node_read(json, strlen(json), &m, err, sizeof(err)), 0);
    assert_string_equal(m.id, "node-a");
    assert_string_equal(m.url, "https://visio-a.example.fr");
    assert_int_equal(m.cores, 8);
    assert_int_equal(m.rooms, 3);
    assert_int_equal(m.participants, 41);
    assert_int_equal(m.packets_per_second, 9000);
    assert_int_equal(m.state, PAL_CLUSTER_DRAINING);
    assert_true(m.load > 0.24 && m.load < 0.26);
    assert_int_equal(pal_cluster_node_write(&n, json, 20), -ENOSPC);
}

static void test_registry_refused(void **state)
{
    static const struct {
        const char *json, *field;
    } bad[] = {
        {"[]", "not a JSON object"},
        {"{\"id\":\"a b\",\"url\":\"http://x\",\"version\":\"1\",\"state\":\"serving\",\"cores\":1,"
         "\"rooms\":0,\"participants\":0,\"packets_per_second\":0,\"proto\":1,\"load\":0}", "id"},
        {"{\"id\":\"a\",\"url\":\"ftp://x\",\"version\":\"1\",\"state\":\"serving\",\"cores\":1,"
         "\"rooms\":0,\"participants\":0,\"packets_per_second\":0,\"proto\":1,\"load\":0}", "url"},
        {"{\"id\":\"a\",\"url\":\"http://x\",\"version\":\"1\",\"state\":\"asleep\",\"cores\":1,"
         "\"rooms\":0,\"participants\":0,\"packets_per_second\":0,\"proto\":1,\"load\":0}", "state"},
        {"{\"id\":\"a\",\"url\":\"http://x\",\"version\":\"1\",\"state\":\"serving\",\"cores\":0,"
         "\"rooms\":0,\"participants\":0,\"packets_per_second\":0,\"proto\":1,\"load\":0}", "cores"},
        {"{\"id\":\"a\",\"url\":\"http://x\",\"version\":\"1\",\"state\":\"serving\",\"cores\":1,"
         "\"rooms\":-1,\"participants\":0,\"packets_per_second\":0,\"proto\":1,\"load\":0}", "rooms"},
        {"{\"id\":\"a\",\"url\":\"http://x\",\"version\":\"1\",\"state\":\"serving\",\"cores\":1,"
         "\"rooms\":0,\"participants\":0,\"packets_per_second\":0,\"proto\":1,\"load\":\"x\"}", "load"},
        {"{\"id\":\"a\",\"id\":\"b\"}", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pal_cluster_node m;
        char err[128] = "";
        assert_int_equal(pal_cluster_node_read(bad[i].json, strlen(bad[i].json), &m, err, sizeof(err)),
                         -EINVAL);
        assert_non_null(strstr(err, bad[i].field));
    }
}

static void test_ws_url_and_redis_addr(void **state)
{
    char out[128], host[256];
    int port;
    assert_int_equal(pal_cluster_ws_url("https://visio.example.fr/", out, sizeof(out)), 0);
    assert_string_equal(out, "wss://visio.example.fr/ws");
    assert_int_equal(pal_cluster_ws_url("http://10.0.0.2:8080", out, sizeof(out)), 0);
    assert_string_equal(out, "ws://10.0.0.2:8080/ws");
    assert_int_equal(pal_cluster_redis_addr_parse("10.0.0.9:6379", host, sizeof(host), &port), 0);
    assert_string_equal(host, "10.0.0.9");
    assert_int_equal(port, 6379);
    assert_int_equal(pal_cluster_redis_addr_parse("[fd00::9]:6380", host, sizeof(host), &port), 0);
    assert_string_equal(host, "fd00::9");
    assert_int_equal(port, 6380);
    assert_int_equal(pal_cluster_redis_addr_parse("/run/redis/redis.sock", host, sizeof(host), &port), 0);
    assert_string_equal(host, "/run/redis/redis.sock");
    assert_int_equal(port, 0);
    static const char *const bad[] = {"redis", "redis:", ":6379", "fd00::9:6379", "h:0", "h:70000",
                                      "[fd00::9]6379"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(pal_cluster_redis_addr_parse(bad[i], host, sizeof(host), &port), -EINVAL);
}

static void test_config_keys(void **state)
{
    struct pal_config c;
    char err[400];
    pal_config_defaults(&c);
    assert_int_equal(c.cluster_lease_seconds, 8);
    assert_int_equal(pal_config_check(&c, err, sizeof(err)), 0); /* no [cluster]: one node */
    assert_int_equal(pal_config_set(&c, "cluster", "redis", "10.0.0.9:6379", err, sizeof(err)), 0);
    assert_int_equal(pal_config_check(&c, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "node_id"));
    assert_int_equal(pal_config_set(&c, "cluster", "node_id", "node-a", err, sizeof(err)), 0);
    assert_int_equal(pal_config_check(&c, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "public_url"));
    assert_int_equal(pal_config_set(&c, "cluster", "public_url", "https://a.example.fr/", err,
                                    sizeof(err)),
                     0);
    assert_string_equal(c.cluster_public_url, "https://a.example.fr");
    assert_string_equal(c.public_url, ""); /* [server] public_url untouched */
    assert_int_equal(pal_config_check(&c, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "secret"));
    assert_int_equal(pal_config_set(&c, "cluster", "secret", "short", err, sizeof(err)), 0);
    assert_int_equal(pal_config_check(&c, err, sizeof(err)), -EINVAL);
    assert_int_equal(pal_config_set(&c, "cluster", "secret", SECRET, err, sizeof(err)), 0);
    assert_int_equal(pal_config_check(&c, err, sizeof(err)), 0);
    assert_string_equal(c.turn_secret, ""); /* [turn] secret untouched */
    assert_int_equal(pal_config_set(&c, "cluster", "lease_seconds", "2", err, sizeof(err)), -EINVAL);
    assert_int_equal(pal_config_set(&c, "cluster", "redis", "nowhere", err, sizeof(err)), 0);
    assert_int_equal(pal_config_check(&c, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "[cluster] redis"));
}

/* The access fields of pal:room:<room>:access: written, read back the
 * same; a value out of the store's bounds (not written by a node) refused. */
static void test_access_values(void **state)
{
    struct pal_room_record r = {.title = "Conseil \"municipal\"", .owner_sub = "local:ab",
                                .owner_name = "Amélie", .created_ms = 1764374400000LL,
                                .settings = {.lobby = false, .locked = true, .guest_chat = true}},
                           got;
    char v[PAL_CLUSTER_ACCESS_VALUE_MAX];
    assert_int_equal(pal_cluster_room_write(&r, v, sizeof(v)), 0);
    assert_int_equal(pal_cluster_room_read(v, strlen(v), "conseil", &got), 0);
    assert_string_equal(got.name, "conseil");
    assert_string_equal(got.title, r.title);
    assert_string_equal(got.owner_sub, "local:ab");
    assert_string_equal(got.owner_name, "Amélie");
    assert_int_equal(got.created_ms, r.created_ms);
    assert_false(got.settings.lobby);
    assert_true(got.settings.locked);
    assert_true(got.settings.guest_chat);
    assert_int_equal(pal_cluster_room_write(&r, v, 20), -ENOSPC);
    assert_int_equal(pal_cluster_room_read(v, strlen(v), "Bad Room", &got), -EINVAL);

    struct pal_invite inv = {.label = "voirie", .created_by = "Alice", .created_ms = 5,
                             .expires_ms = 99, .max_uses = 3, .uses = 2, .lobby = true,
                             .revoked_ms = 7},
                      back;
    assert_int_equal(pal_cluster_invite_write(&inv, v, sizeof(v)), 0);
    assert_int_equal(pal_cluster_invite_read(v, strlen(v), "conseil", &back), 0);
    assert_string_equal(back.room, "conseil");
    assert_string_equal(back.label, "voirie");
    assert_int_equal(back.max_uses, 3);
    assert_int_equal(back.uses, 2);
    assert_int_equal(back.revoked_ms, 7);
    assert_true(back.lobby);

    static const char *const bad_rooms[] = {
        "[]",
        "{\"title\":\"\",\"owner_sub\":\"s\",\"owner_name\":\"\",\"created_ms\":0,"
        "\"lobby\":true,\"locked\":false,\"guest_chat\":true}", /* empty title */
        "{\"title\":\"t\",\"owner_sub\":\"s\",\"owner_name\":\"\",\"created_ms\":-1,"
        "\"lobby\":true,\"locked\":false,\"guest_chat\":true}",
        "{\"title\":\"t\",\"owner_sub\":\"s\",\"owner_name\":\"\",\"created_ms\":0,"
        "\"lobby\":1,\"locked\":false,\"guest_chat\":true}",
        "{\"title\":\"t\",\"title\":\"u\"}",
    };
    for (size_t i = 0; i < sizeof(bad_rooms) / sizeof(bad_rooms[0]); i++)
        assert_int_equal(pal_cluster_room_read(bad_rooms[i], strlen(bad_rooms[i]), "c", &got),
                         -EINVAL);
    static const char *const bad_invites[] = {
        "{\"label\":\"l\",\"created_by\":\"\",\"created_ms\":0,\"expires_ms\":1,"
        "\"max_uses\":-1,\"uses\":0,\"lobby\":true,\"revoked_ms\":0}",
        "{\"label\":\"l\",\"created_by\":\"\",\"created_ms\":0,\"expires_ms\":1,"
        "\"max_uses\":0,\"uses\":0,\"lobby\":true}",
        "\"l\"",
    };
    for (size_t i = 0; i < sizeof(bad_invites) / sizeof(bad_invites[0]); i++)
        assert_int_equal(pal_cluster_invite_read(bad_invites[i], strlen(bad_invites[i]), "c", &back),
                         -EINVAL);
}

/* pal:room:<room>:people values: written, read back; a bad id, an unknown
 * role, an agent without sub (or a guest with one) refused. */
static void test_person_values(void **state)
{
    struct pal_cluster_person p = {.id = "p_0123456789ab", .name = "Amélie", .sub = "local:ab",
                                   .role = PAL_ROLE_MODERATOR, .agent = true},
                              q;
    char v[PAL_CLUSTER_ACCESS_VALUE_MAX];
    assert_int_equal(pal_cluster_person_write(&p, v, sizeof(v)), 0);
    assert_int_equal(pal_cluster_person_read(v, strlen(v), &q), 0);
    assert_string_equal(q.id, p.id);
    assert_string_equal(q.name, "Amélie");
    assert_string_equal(q.sub, "local:ab");
    assert_int_equal(q.role, PAL_ROLE_MODERATOR);
    assert_true(q.agent);
    static const char *const bad[] = {
        "{\"id\":\"p_0123456789aZ\",\"name\":\"a\",\"role\":\"owner\",\"agent\":true,\"sub\":\"s\"}",
        "{\"id\":\"q_0123456789ab\",\"name\":\"a\",\"role\":\"owner\",\"agent\":true,\"sub\":\"s\"}",
        "{\"id\":\"p_0123456789ab\",\"name\":\"a\",\"role\":\"king\",\"agent\":true,\"sub\":\"s\"}",
        "{\"id\":\"p_0123456789ab\",\"name\":\"a\",\"role\":\"owner\",\"agent\":true,\"sub\":\"\"}",
        "{\"id\":\"p_0123456789ab\",\"name\":\"a\",\"role\":\"guest\",\"agent\":false,\"sub\":\"s\"}",
        "{\"id\":\"p_0123456789ab\",\"name\":\"\",\"role\":\"guest\",\"agent\":false,\"sub\":\"\"}",
        "{\"id\":\"p_0123456789abc\",\"name\":\"a\",\"role\":\"guest\",\"agent\":false,\"sub\":\"\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(pal_cluster_person_read(bad[i], strlen(bad[i]), &q), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ticket_vector),     cmocka_unit_test(test_ticket_refused),
        cmocka_unit_test(test_lease_value),       cmocka_unit_test(test_registry_round_trip),
        cmocka_unit_test(test_registry_refused),  cmocka_unit_test(test_ws_url_and_redis_addr),
        cmocka_unit_test(test_config_keys),       cmocka_unit_test(test_access_values),
        cmocka_unit_test(test_person_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
