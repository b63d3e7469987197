/* protocol.c validators and handlers.c dispatch, driven through a server
 * without network (sessions whose output stays queued). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "palabre/common.h"
#include "palabre/log.h"
#include "palabre/protocol.h"
#include "palabre/server.h"
#include "palabre/session.h"

static struct pal_server *srv;
static char dir[64];

static int setup(void **state)
{
    pal_log_set_level(PAL_LOG_OFF);
    strcpy(dir, "/tmp/palabre-proto-XXXXXX");
    assert_non_null(mkdtemp(dir));
    struct pal_config cfg;
    pal_config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", dir);
    cfg.max_participants_per_room = 3;
    srv = pal_server_create(&cfg);
    return srv ? 0 : -1;
}

static int teardown(void **state)
{
    pal_server_destroy(srv);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The next queued message of s, parsed (caller decrefs), or NULL. */
static json_t *next_out(struct pal_session *s)
{
    char *text = pal_session_pop_output(s);
    if (!text)
        return NULL;
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(j);
    return j;
}

static void expect_error(struct pal_session *s, const char *code, const char *field)
{
    json_t *r = next_out(s);
    if (!r)
        fail_msg("no output, expected error %s", code);
    json_t *err = json_object_get(r, "error");
    assert_true(json_is_false(json_object_get(r, "ok")));
    assert_string_equal(json_string_value(json_object_get(err, "code")), code);
    if (field)
        assert_string_equal(json_string_value(json_object_get(err, "field")), field);
    assert_non_null(json_string_value(json_object_get(err, "message")));
    json_decref(r);
}

static json_t *expect_ok(struct pal_session *s)
{
    json_t *r = next_out(s);
    if (!r)
        fail_msg("no output, expected a response");
    if (!json_is_true(json_object_get(r, "ok"))) {
        char *t = json_dumps(r, 0);
        fail_msg("not ok: %s", t);
    }
    json_t *data = json_incref(json_object_get(r, "data"));
    json_decref(r);
    return data;
}

static void send_text(struct pal_session *s, const char *text)
{
    pal_session_on_receive(s, text, strlen(text), false, true);
}

static void test_text_check(void **state)
{
    size_t n;
    const char *why;
    assert_int_equal(pal_text_check("abc", 3, false, &n, &why), 0);
    assert_int_equal(n, 3);
    assert_int_equal(pal_text_check("é€😀", 9, false, &n, &why), 0);
    assert_int_equal(n, 3);
    assert_int_equal(pal_text_check("", 0, false, &n, &why), 0);
    assert_int_equal(n, 0);
    static const char *const bad[] = {
        "\xc0\x80",         /* overlong NUL */
        "\xe0\x80\xaf",     /* overlong '/' */
        "\xed\xa0\x80",     /* surrogate */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\xe2\x82",         /* truncated */
        "\x80",             /* lone continuation */
        "\xff",
        "a\x01",            /* C0 control */
        "a\x7f",            /* DEL */
        "\xc2\x85",         /* C1 control (NEL) */
        "a\rb",
    };
    for (size_t i = 0; i < PAL_ARRAY_LEN(bad); i++)
        assert_int_equal(pal_text_check(bad[i], strlen(bad[i]), true, &n, &why), -EINVAL);
    assert_int_equal(pal_text_check("a\0b", 3, true, &n, &why), -EINVAL);
    /* \n and \t: only when allowed */
    assert_int_equal(pal_text_check("a\nb\tc", 5, true, &n, &why), 0);
    assert_int_equal(n, 5);
    assert_int_equal(pal_text_check("a\nb", 3, false, &n, &why), -EINVAL);
    assert_int_equal(pal_text_check("a\tb", 3, false, &n, &why), -EINVAL);
}

static void test_validators(void **state)
{
    struct pal_session *s = pal_session_create(srv, NULL, NULL);
    json_t *id = json_integer(9);
    json_t *req = json_pack("{s:s, s:i, s:b, s:s, s:s, s:s}", "name", "Zoé", "n", 5, "flag", 1,
                            "room", "salle-2", "ctl", "a\nb", "up", "Salle");
    bool b;
    json_int_t i;
    /* strings */
    assert_string_equal(pal_string_or_reply(s, id, req, "name", 1, 3, true), "Zoé");
    assert_null(pal_session_pop_output(s));
    assert_null(pal_string_or_reply(s, id, req, "name", 1, 2, true));
    expect_error(s, "bad_field", "name");
    assert_null(pal_string_or_reply(s, id, req, "absent", 1, 2, true));
    expect_error(s, "missing_field", "absent");
    assert_null(pal_string_or_reply(s, id, req, "absent", 1, 2, false));
    assert_null(pal_session_pop_output(s)); /* optional: no reply */
    assert_null(pal_string_or_reply(s, id, req, "n", 1, 2, true));
    expect_error(s, "bad_field", "n");
    assert_null(pal_string_or_reply(s, id, req, "ctl", 1, 10, true));
    expect_error(s, "bad_field", "ctl");
    /* chat text allows \n */
    assert_string_equal(pal_text_or_reply(s, id, req, "ctl", 4000), "a\nb");
    assert_null(pal_text_or_reply(s, id, req, "name", 2));
    expect_error(s, "bad_field", "name");
    /* rooms */
    assert_string_equal(pal_room_or_reply(s, id, req, "room"), "salle-2");
    assert_null(pal_room_or_reply(s, id, req, "up"));
    expect_error(s, "bad_field", "up");
    assert_null(pal_room_or_reply(s, id, req, "nope"));
    expect_error(s, "missing_field", "nope");
    /* booleans */
    assert_true(pal_bool_or_reply(s, id, req, "flag", true, &b));
    assert_true(b);
    assert_false(pal_bool_or_reply(s, id, req, "n", true, &b));
    expect_error(s, "bad_field", "n");
    assert_false(pal_bool_or_reply(s, id, req, "absent", true, &b));
    expect_error(s, "missing_field", "absent");
    assert_false(pal_bool_or_reply(s, id, req, "absent", false, &b));
    assert_null(pal_session_pop_output(s));
    /* integers */
    assert_true(pal_int_or_reply(s, id, req, "n", 1, 5, true, &i));
    assert_int_equal(i, 5);
    assert_false(pal_int_or_reply(s, id, req, "n", 6, 9, true, &i));
    expect_error(s, "bad_field", "n");
    assert_false(pal_int_or_reply(s, id, req, "flag", 0, 9, true, &i));
    expect_error(s, "bad_field", "flag");
    assert_false(pal_int_or_reply(s, id, req, "absent", 0, 9, true, &i));
    expect_error(s, "missing_field", "absent");
    json_decref(req);
    json_decref(id);
    pal_session_on_closed(s);
}

static void test_envelope_errors(void **state)
{
    struct pal_session *s = pal_session_create(srv, NULL, NULL);
    send_text(s, "{not json");
    expect_error(s, "bad_json", NULL);
    send_text(s, "42");
    expect_error(s, "bad_json", NULL);
    send_text(s, "{\"type\":\"ping\"}");
    expect_error(s, "missing_field", "id");
    send_text(s, "{\"type\":\"ping\",\"id\":1.5}");
    expect_error(s, "bad_field", "id");
    char longid[200];
    snprintf(longid, sizeof(longid), "{\"type\":\"ping\",\"id\":\"%065d\"}", 0);
    send_text(s, longid);
    expect_error(s, "bad_field", "id");
    send_text(s, "{\"id\":1}");
    expect_error(s, "missing_field", "type");
    send_text(s, "{\"id\":1,\"type\":false}");
    expect_error(s, "bad_field", "type");
    send_text(s, "{\"id\":1,\"type\":\"dance\"}");
    expect_error(s, "unknown_type", "type");
    send_text(s, "{\"id\":1,\"type\":\"leave\"}");
    expect_error(s, "not_joined", NULL);
    send_text(s, "{\"id\":\"x\",\"type\":\"ping\"}");
    json_t *d = expect_ok(s);
    assert_true(json_is_integer(json_object_get(d, "time")));
    json_decref(d);
    pal_session_on_receive(s, "{}", 2, true, true);
    expect_error(s, "binary_frame", NULL);
    pal_session_on_closed(s);
}

static int joined_calls, left_calls;
static void on_joined(struct pal_session *s, void *ud)
{
    joined_calls++;
}
static void on_left(struct pal_session *s, void *ud)
{
    assert_non_null(pal_session_participant_id(s));
    left_calls++;
}

static void custom(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    pal_session_reply_ok(s, id, json_pack("{s:s}", "echo", (const char *)ud));
}

static void test_join_chat_leave(void **state)
{
    static const struct pal_participant_listener l = {.on_participant_joined = on_joined, .on_participant_left = on_left};
    assert_int_equal(pal_server_add_participant_listener(srv, &l), 0);
    assert_int_equal(pal_server_register_handler(srv, "echo", custom, true, "hi"), 0);
    assert_int_equal(pal_server_register_handler(srv, "echo", custom, true, "hi"), -EEXIST);

    struct pal_session *a = pal_session_create(srv, NULL, NULL);
    struct pal_session *b = pal_session_create(srv, NULL, NULL);
    send_text(a, "{\"id\":1,\"type\":\"echo\"}");
    expect_error(a, "not_joined", NULL);
    send_text(a, "{\"id\":1,\"type\":\"join\",\"room\":\"r1\",\"name\":\"Alice\"}");
    json_t *d = expect_ok(a);
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "participant"), "role")),
                        "owner");
    json_decref(d);
    assert_string_equal(pal_session_room(a), "r1");
    assert_string_equal(pal_session_name(a), "Alice");
    assert_ptr_equal(pal_server_find_participant(srv, pal_session_participant_id(a)), a);
    send_text(a, "{\"id\":2,\"type\":\"join\",\"room\":\"r1\",\"name\":\"Alice\"}");
    expect_error(a, "already_joined", NULL);
    send_text(a, "{\"id\":3,\"type\":\"echo\"}");
    d = expect_ok(a);
    assert_string_equal(json_string_value(json_object_get(d, "echo")), "hi");
    json_decref(d);

    send_text(b, "{\"id\":1,\"type\":\"join\",\"room\":\"r1\",\"name\":\"Bob\",\"role\":\"guest\"}");
    json_decref(expect_ok(b));
    json_t *ev = next_out(a);
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "participant_joined");
    json_decref(ev);
    assert_int_equal(joined_calls, 2);

    /* chat: the response waits for the commit */
    send_text(b, "{\"id\":2,\"type\":\"chat_send\",\"text\":\"Salut\",\"client_msg_id\":\"c1\"}");
    assert_null(pal_session_pop_output(b));
    pal_server_tick(srv, pal_now_ms());
    d = expect_ok(b);
    json_t *m = json_object_get(d, "message");
    assert_string_equal(json_string_value(json_object_get(m, "text")), "Salut");
    json_int_t mid = json_integer_value(json_object_get(m, "id"));
    json_decref(d);
    ev = next_out(a);
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "chat_message");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(ev, "message"), "id")), mid);
    json_decref(ev);

    send_text(b, "{\"id\":3,\"type\":\"set_state\",\"mic\":true,\"screen\":true}");
    d = expect_ok(b);
    assert_true(json_is_true(json_object_get(json_object_get(d, "participant"), "screen")));
    json_decref(d);
    ev = next_out(a);
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "participant_updated");
    json_decref(ev);

    send_text(b, "{\"id\":4,\"type\":\"leave\"}");
    json_decref(expect_ok(b));
    ev = next_out(a);
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "participant_left");
    assert_string_equal(json_string_value(json_object_get(ev, "reason")), "left");
    json_decref(ev);
    assert_int_equal(left_calls, 1);
    assert_null(pal_session_room(b));

    /* a disconnect keeps a waiting participant; the expiry says timeout */
    pal_session_on_closed(a);
    pal_server_tick(srv, pal_now_ms() + 29000);
    assert_int_equal(left_calls, 1);
    pal_server_tick(srv, pal_now_ms() + 31000);
    assert_int_equal(left_calls, 2);
    pal_session_on_closed(b);
}

/* Drops every queued message of s. */
static void drain(struct pal_session *s)
{
    json_t *r;
    while ((r = next_out(s)))
        json_decref(r);
}

/* n new sessions, each sending join_request. */
static void create_and_join(struct pal_session **s, int n, const char *join_request)
{
    for (int i = 0; i < n; i++) {
        s[i] = pal_session_create(srv, NULL, NULL);
        send_text(s[i], join_request);
    }
}

static void test_room_full(void **state)
{
    struct pal_session *s[4];
    create_and_join(s, 4, "{\"id\":1,\"type\":\"join\",\"room\":\"full\",\"name\":\"X\"}");
    for (int i = 0; i < 3; i++)
        drain(s[i]);
    expect_error(s[3], "room_full", "room");
    for (int i = 0; i < 4; i++)
        pal_session_on_closed(s[i]);
}

static const char *error_code(json_t *r)
{
    return json_string_value(json_object_get(json_object_get(r, "error"), "code"));
}

/* Past messages_per_second a request is answered rate_limited, with its own
 * id and retry_after_ms in the error object, and not run; the connection
 * stays open. */
static void test_rate_limited_answers_and_keeps_the_connection(void **state)
{
    struct pal_session *s = pal_session_create(srv, NULL, NULL);
    int rate = pal_server_config(srv)->messages_per_second;
    char req[64];
    for (int i = 1; i <= 2 * rate; i++) {
        snprintf(req, sizeof(req), "{\"id\":%d,\"type\":\"ping\"}", i);
        send_text(s, req);
    }
    assert_int_equal(pal_session_close_code(s), 0);
    int ok = 0, limited = 0;
    json_t *r;
    while ((r = next_out(s))) {
        if (json_is_true(json_object_get(r, "ok"))) {
            ok++;
        } else {
            assert_string_equal(error_code(r), "rate_limited");
            /* the answer reaches the pending request */
            assert_int_equal(json_integer_value(json_object_get(r, "id")), rate + limited + 1);
            json_int_t retry =
                json_integer_value(json_object_get(json_object_get(r, "error"), "retry_after_ms"));
            assert_true(retry >= 1 && retry <= 1000 / rate + 1);
            limited++;
        }
        json_decref(r);
    }
    assert_true(ok >= rate && ok < rate + 5); /* the burst, and what refilled meanwhile */
    assert_int_equal(ok + limited, 2 * rate);
    /* a string id comes back too; unreadable JSON gets id null */
    send_text(s, "{\"id\":\"req-x\",\"type\":\"ping\"}");
    send_text(s, "{\"id\":");
    r = next_out(s);
    if (error_code(r) && strcmp(error_code(r), "rate_limited") == 0) /* (or a token came back) */
        assert_string_equal(json_string_value(json_object_get(r, "id")), "req-x");
    json_decref(r);
    r = next_out(s);
    assert_true(json_is_null(json_object_get(r, "id")));
    json_decref(r);
    assert_int_equal(pal_session_close_code(s), 0);
    pal_session_on_closed(s);
}

/* A client that waits for each answer is never closed, however fast it
 * asks; one that keeps sending while its requests are unanswered, more than
 * 4 times the rate for 10 s, is closed 1008 "rate limit". */
static void test_only_pipelined_abuse_closes(void **state)
{
    struct pal_session *s = pal_session_create(srv, NULL, NULL);
    int rate = pal_server_config(srv)->messages_per_second;
    int limited = 0;
    for (int i = 0; i < 50 * rate; i++) {
        send_text(s, "{\"id\":1,\"type\":\"ping\"}");
        json_t *r = next_out(s); /* read before the next request */
        assert_non_null(r);
        if (!json_is_true(json_object_get(r, "ok")))
            limited++;
        json_decref(r);
    }
    assert_true(limited > 40 * rate);
    assert_int_equal(pal_session_close_code(s), 0);
    pal_session_on_closed(s);

    s = pal_session_create(srv, NULL, NULL);
    send_text(s, "{\"id\":1,\"type\":\"ping\"}"); /* one answer always unread */
    int sent = 1;
    for (; sent < 50 * rate && pal_session_close_code(s) == 0; sent++) {
        send_text(s, "{\"id\":1,\"type\":\"ping\"}");
        json_decref(next_out(s));
    }
    assert_int_equal(pal_session_close_code(s), 1008);
    assert_int_equal(sent, 4 * rate * 10 + 2); /* the first one was not pipelined */
    json_t *last = next_out(s), *r;
    while ((r = next_out(s))) {
        json_decref(last);
        last = r;
    }
    assert_string_equal(error_code(last), "rate_limited");
    json_decref(last);
    pal_session_on_closed(s);
}

static void test_size_limit(void **state)
{
    struct pal_session *s;
    s = pal_session_create(srv, NULL, NULL);
    size_t big = pal_server_config(srv)->max_message_bytes / 2 + 1;
    char *buf = malloc(big);
    memset(buf, ' ', big);
    pal_session_on_receive(s, buf, big, false, false);
    assert_int_equal(pal_session_close_code(s), 0);
    pal_session_on_receive(s, buf, big, false, true);
    assert_int_equal(pal_session_close_code(s), 1009);
    expect_error(s, "too_large", NULL);
    free(buf);
    pal_session_on_closed(s);
}

/* A room's chat_message is one frame shared by the members' queues: each
 * member reads the same text, and a member that leaves with it still queued
 * releases only its own reference (ASan checks the rest). A client_msg_id
 * reused for another text is bad_field on client_msg_id. */
static void test_fanout_and_client_msg_id_reuse(void **state)
{
    struct pal_session *s[3];
    create_and_join(s, 3, "{\"id\":1,\"type\":\"join\",\"room\":\"fan\",\"name\":\"X\"}");
    for (int i = 0; i < 3; i++)
        drain(s[i]);
    send_text(s[0], "{\"id\":2,\"type\":\"chat_send\",\"text\":\"un\",\"client_msg_id\":\"k\"}");
    pal_server_tick(srv, pal_now_ms());
    json_decref(expect_ok(s[0]));
    char *t1 = pal_session_pop_output(s[1]);
    assert_non_null(t1);
    assert_non_null(strstr(t1, "\"chat_message\""));
    pal_session_on_closed(s[2]); /* leaves with the same event unread */
    free(t1);

    send_text(s[0], "{\"id\":3,\"type\":\"chat_send\",\"text\":\"deux\",\"client_msg_id\":\"k\"}");
    pal_server_tick(srv, pal_now_ms());
    expect_error(s[0], "bad_field", "client_msg_id");
    assert_null(pal_session_pop_output(s[0]));
    /* nothing was stored or broadcast for the refused send */
    drain(s[1]);
    send_text(s[1], "{\"id\":4,\"type\":\"chat_history\"}");
    json_t *d = expect_ok(s[1]);
    json_t *msgs = json_object_get(d, "messages");
    assert_int_equal(json_array_size(msgs), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "text")), "un");
    json_decref(d);
    pal_session_on_closed(s[0]);
    pal_session_on_closed(s[1]);
}

/* A client that does not read: past outbound_queue_messages, or past
 * outbound_queue_bytes whatever the count, its queue is dropped, it is
 * closed 1008, and nothing more is queued for it. */
static void test_outbound_queue_is_bounded(void **state)
{
    struct pal_session *s = pal_session_create(srv, NULL, NULL);
    int limit = pal_server_config(srv)->outbound_queue_messages;
    for (int i = 0; i < limit; i++)
        assert_int_equal(pal_session_send(s, json_pack("{s:i}", "n", i)), 0);
    assert_int_equal(pal_session_close_code(s), 0);
    assert_int_equal(pal_session_send(s, json_pack("{s:i}", "n", limit)), -ENOBUFS);
    assert_int_equal(pal_session_close_code(s), 1008);
    assert_null(pal_session_pop_output(s)); /* dropped at once */
    assert_int_equal(pal_session_send(s, json_pack("{s:i}", "n", 0)), 0);
    assert_null(pal_session_pop_output(s));
    pal_session_on_closed(s);

    s = pal_session_create(srv, NULL, NULL);
    size_t bytes = pal_server_config(srv)->outbound_queue_bytes, chunk = 64 * 1024, queued = 0;
    char *text = malloc(chunk);
    memset(text, 'x', chunk);
    while (queued + chunk <= bytes) {
        assert_int_equal(pal_session_send_text(s, text, chunk), 0);
        queued += chunk;
    }
    assert_true(queued / chunk < (size_t)limit); /* the byte bound acts first */
    assert_int_equal(pal_session_close_code(s), 0);
    assert_int_equal(pal_session_send_text(s, text, chunk), -ENOBUFS);
    assert_int_equal(pal_session_close_code(s), 1008);
    assert_null(pal_session_pop_output(s));
    free(text);
    pal_session_on_closed(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_check),
        cmocka_unit_test(test_validators),
        cmocka_unit_test(test_envelope_errors),
        cmocka_unit_test(test_join_chat_leave),
        cmocka_unit_test(test_room_full),
        cmocka_unit_test(test_rate_limited_answers_and_keeps_the_connection),
        cmocka_unit_test(test_only_pipelined_abuse_closes),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_outbound_queue_is_bounded),
        cmocka_unit_test(test_fanout_and_client_msg_id_reuse),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
