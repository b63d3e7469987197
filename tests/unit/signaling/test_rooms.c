/* rooms.c: create on first join, limits, leave/destroy, the resume window
 * (time is passed in: no sleeping), the lobby in iterations, bans. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "palabre/rooms.h"

static void test_first_join_creates_room_role_as_asked(void **state)
{
    struct pal_rooms *r = pal_rooms_create(10, 5, 30);
    struct pal_participant *a, *b;
    assert_int_equal(pal_rooms_count(r), 0);
    assert_int_equal(pal_rooms_join(r, "demo", "Alice", PAL_ROLE_PARTICIPANT, &a), 0);
    assert_int_equal(pal_rooms_count(r), 1);
    /* being first gives nothing: roles come from the stored room (access.c) */
    assert_int_equal(a->role, PAL_ROLE_PARTICIPANT);
    assert_int_equal(strlen(a->id), 14);
    assert_memory_equal(a->id, "p_", 2);
    assert_int_equal(strlen(a->resume_token), 64);
    assert_string_equal(a->room, "demo");
    assert_string_equal(a->name, "Alice");
    assert_int_equal(pal_rooms_join(r, "demo", "Bob", PAL_ROLE_GUEST, &b), 0);
    assert_int_equal(b->role, PAL_ROLE_GUEST);
    assert_string_not_equal(a->id, b->id);
    assert_string_not_equal(a->resume_token, b->resume_token);
    assert_int_equal(pal_rooms_room_size(r, "demo"), 2);
    assert_ptr_equal(pal_rooms_find_participant(r, b->id), b);
    assert_null(pal_rooms_find_participant(r, "p_000000000000"));
    pal_rooms_destroy(r);
}

static void test_limits(void **state)
{
    struct pal_rooms *r = pal_rooms_create(2, 2, 30);
    struct pal_participant *p;
    assert_int_equal(pal_rooms_join(r, "a", "1", PAL_ROLE_PARTICIPANT, &p), 0);
    assert_int_equal(pal_rooms_join(r, "a", "2", PAL_ROLE_PARTICIPANT, &p), 0);
    assert_int_equal(pal_rooms_join(r, "a", "3", PAL_ROLE_PARTICIPANT, &p), -EUSERS);
    assert_int_equal(pal_rooms_join(r, "b", "1", PAL_ROLE_PARTICIPANT, &p), 0);
    assert_int_equal(pal_rooms_join(r, "c", "1", PAL_ROLE_PARTICIPANT, &p), -EMFILE);
    assert_int_equal(pal_rooms_count(r), 2);
    assert_int_equal(pal_rooms_room_size(r, "c"), 0);
    pal_rooms_destroy(r);
}

static void test_leave_destroys_empty_room(void **state)
{
    struct pal_rooms *r = pal_rooms_create(1, 10, 30);
    struct pal_participant *a, *b, *c;
    assert_int_equal(pal_rooms_join(r, "x", "A", PAL_ROLE_PARTICIPANT, &a), 0);
    assert_int_equal(pal_rooms_join(r, "x", "B", PAL_ROLE_PARTICIPANT, &b), 0);
    pal_rooms_remove(r, a);
    assert_int_equal(pal_rooms_count(r), 1);
    assert_int_equal(pal_rooms_room_size(r, "x"), 1);
    pal_rooms_remove(r, b);
    assert_int_equal(pal_rooms_count(r), 0);
    /* the room slot is free again; being first gives nothing */
    assert_int_equal(pal_rooms_join(r, "y", "C", PAL_ROLE_GUEST, &c), 0);
    assert_int_equal(c->role, PAL_ROLE_GUEST);
    pal_rooms_destroy(r);
}

static int expired_count;
static void on_expired(struct pal_participant *p, void *ud)
{
    expired_count++;
    pal_rooms_remove(ud, p);
}

static void test_resume_window(void **state)
{
    struct pal_rooms *r = pal_rooms_create(10, 10, 30);
    struct pal_participant *a, *b, *got;
    assert_int_equal(pal_rooms_join(r, "w", "A", PAL_ROLE_PARTICIPANT, &a), 0);
    assert_int_equal(pal_rooms_join(r, "w", "B", PAL_ROLE_PARTICIPANT, &b), 0);
    char token[PAL_RESUME_TOKEN_LEN + 1];
    strcpy(token, b->resume_token);

    /* disconnected at t=1000: waiting, still counted in the room */
    pal_rooms_disconnect(r, b, 1000);
    assert_true(b->disconnected);
    assert_int_equal(pal_rooms_room_size(r, "w"), 2);
    expired_count = 0;
    assert_int_equal(pal_rooms_expire(r, 30999, on_expired, r), 0);
    /* a resume inside the window gives back the same participant */
    assert_int_equal(pal_rooms_resume(r, "w", token, 30999, &got), 0);
    assert_ptr_equal(got, b);
    assert_false(b->disconnected);
    /* wrong room, wrong token */
    assert_int_equal(pal_rooms_resume(r, "v", token, 31000, &got), -ENOENT);
    token[0] = token[0] == 'a' ? 'b' : 'a';
    assert_int_equal(pal_rooms_resume(r, "w", token, 31000, &got), -ENOENT);
    assert_int_equal(pal_rooms_resume(r, "w", "short", 31000, &got), -ENOENT);
    token[0] = b->resume_token[0];

    /* disconnected again at t=40000: expires at 70000 */
    pal_rooms_disconnect(r, b, 40000);
    assert_int_equal(pal_rooms_resume(r, "w", token, 70000, &got), -ENOENT);
    assert_int_equal(pal_rooms_expire(r, 69999, on_expired, r), 0);
    assert_int_equal(pal_rooms_expire(r, 70000, on_expired, r), 1);
    assert_int_equal(expired_count, 1);
    assert_null(pal_rooms_find_participant(r, token)); /* gone */
    assert_int_equal(pal_rooms_room_size(r, "w"), 1);

    /* the last one waiting keeps the room; its expiry destroys it */
    pal_rooms_disconnect(r, a, 0);
    assert_int_equal(pal_rooms_count(r), 1);
    assert_int_equal(pal_rooms_expire(r, 30000, on_expired, r), 1);
    assert_int_equal(pal_rooms_count(r), 0);
    pal_rooms_destroy(r);
}

static void test_roles(void **state)
{
    enum pal_role role;
    assert_int_equal(pal_role_parse("agent", &role), 0);
    assert_int_equal(role, PAL_ROLE_PARTICIPANT);
    assert_int_equal(pal_role_parse("guest", &role), 0);
    assert_int_equal(role, PAL_ROLE_GUEST);
    assert_int_equal(pal_role_parse("host", &role), -EINVAL);
    assert_int_equal(pal_role_parse("", &role), -EINVAL);
    assert_string_equal(pal_role_name(PAL_ROLE_OWNER), "owner");
}

static void count_one(struct pal_participant *p, void *ud)
{
    (*(int *)ud)++;
}

static void test_iteration(void **state)
{
    struct pal_rooms *r = pal_rooms_create(100, 100, 30);
    struct pal_participant *p;
    char name[16];
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof(name), "n%d", i);
        assert_int_equal(pal_rooms_join(r, i % 2 ? "odd" : "even", name, PAL_ROLE_PARTICIPANT, &p), 0);
    }
    int n = 0;
    pal_rooms_each_in_room(r, "odd", count_one, &n);
    assert_int_equal(n, 25);
    n = 0;
    pal_rooms_each(r, count_one, &n);
    assert_int_equal(n, 50);
    pal_rooms_destroy(r);
}

/* Waiting participants (the lobby) are in the room, counted against its
 * size, but skipped by the room's iteration; each_waiting walks them. */
static void test_lobby_iteration(void **state)
{
    struct pal_rooms *r = pal_rooms_create(10, 3, 30);
    struct pal_participant *a, *g1, *g2, *x;
    assert_int_equal(pal_rooms_join(r, "l", "A", PAL_ROLE_PARTICIPANT, &a), 0);
    assert_int_equal(pal_rooms_join(r, "l", "G1", PAL_ROLE_GUEST, &g1), 0);
    assert_int_equal(pal_rooms_join(r, "l", "G2", PAL_ROLE_GUEST, &g2), 0);
    g1->waiting = g2->waiting = true;
    assert_int_equal(pal_rooms_join(r, "l", "G3", PAL_ROLE_GUEST, &x), -EUSERS);
    int n = 0, w = 0;
    pal_rooms_each_in_room(r, "l", count_one, &n);
    pal_rooms_each_waiting(r, "l", count_one, &w);
    assert_int_equal(n, 1);
    assert_int_equal(w, 2);
    g1->waiting = false; /* admitted */
    n = w = 0;
    pal_rooms_each_in_room(r, "l", count_one, &n);
    pal_rooms_each_waiting(r, "l", count_one, &w);
    assert_int_equal(n, 2);
    assert_int_equal(w, 1);
    /* a room with only a waiting participant still exists */
    pal_rooms_remove(r, a);
    pal_rooms_remove(r, g1);
    assert_int_equal(pal_rooms_room_size(r, "l"), 1);
    pal_rooms_destroy(r);
}

/* Bans last as long as the room (the meeting): gone with its last member. */
static void test_bans(void **state)
{
    struct pal_rooms *r = pal_rooms_create(10, 10, 30);
    struct pal_participant *a;
    assert_int_equal(pal_rooms_ban(r, "b", "sub:x"), -ENOENT);
    assert_int_equal(pal_rooms_join(r, "b", "A", PAL_ROLE_PARTICIPANT, &a), 0);
    assert_false(pal_rooms_is_banned(r, "b", "sub:x"));
    assert_int_equal(pal_rooms_ban(r, "b", "sub:x"), 0);
    assert_int_equal(pal_rooms_ban(r, "b", "sub:x"), 0); /* twice: once */
    assert_int_equal(pal_rooms_ban(r, "b", "invite:7"), 0);
    assert_true(pal_rooms_is_banned(r, "b", "sub:x"));
    assert_true(pal_rooms_is_banned(r, "b", "invite:7"));
    assert_false(pal_rooms_is_banned(r, "b", "invite:8"));
    assert_false(pal_rooms_is_banned(r, "other", "sub:x"));
    char key[32];
    int rc = 0, i;
    for (i = 0; i < PAL_ROOM_MAX_BANS + 5 && rc == 0; i++) {
        snprintf(key, sizeof(key), "guest:%d", i);
        rc = pal_rooms_ban(r, "b", key);
    }
    assert_int_equal(rc, -ENOSPC);
    assert_int_equal(i, PAL_ROOM_MAX_BANS - 2 + 1); /* 2 keys were there already */
    pal_rooms_remove(r, a); /* the meeting ends */
    assert_int_equal(pal_rooms_join(r, "b", "A", PAL_ROLE_PARTICIPANT, &a), 0);
    assert_false(pal_rooms_is_banned(r, "b", "sub:x"));
    pal_rooms_destroy(r);
}

/* join_as (a cluster's new home): the given id and token, found and resumed
 * by them; an id taken here or malformed is refused. */
static void test_join_as(void **state)
{
    struct pal_rooms *r = pal_rooms_create(10, 10, 30);
    struct pal_participant *a, *b, *got;
    const char *token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    assert_int_equal(pal_rooms_join_as(r, "w", "A", PAL_ROLE_OWNER, "p_0123456789ab", token, &a), 0);
    assert_string_equal(a->id, "p_0123456789ab");
    assert_string_equal(a->resume_token, token);
    assert_int_equal(a->role, PAL_ROLE_OWNER);
    assert_ptr_equal(pal_rooms_find_participant(r, "p_0123456789ab"), a);
    assert_int_equal(pal_rooms_room_size(r, "w"), 1);
    assert_int_equal(pal_rooms_resume(r, "w", token, 0, &got), 0);
    assert_ptr_equal(got, a);
    assert_int_equal(pal_rooms_join_as(r, "w", "B", PAL_ROLE_GUEST, "p_0123456789ab", token, &b),
                     -EEXIST);
    assert_int_equal(pal_rooms_join_as(r, "w", "B", PAL_ROLE_GUEST, "x_0123456789ab", token, &b),
                     -EINVAL);
    assert_int_equal(pal_rooms_join_as(r, "w", "B", PAL_ROLE_GUEST, "p_01", token, &b), -EINVAL);
    assert_int_equal(pal_rooms_join_as(r, "w", "B", PAL_ROLE_GUEST, "p_0123456789ac", "short", &b),
                     -EINVAL);
    assert_int_equal(pal_rooms_room_size(r, "w"), 1);
    pal_rooms_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_join_creates_room_role_as_asked),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_leave_destroys_empty_room),
        cmocka_unit_test(test_resume_window),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_iteration),
        cmocka_unit_test(test_lobby_iteration),
        cmocka_unit_test(test_bans),
        cmocka_unit_test(test_join_as),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
