/* rooms.c: create on first join, limits, leave/destroy, the resume window
 * (time is passed in: no sleeping). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "palabre/rooms.h"

static void test_first_join_creates_room_and_is_host(void **state)
{
    struct pal_rooms *r = pal_rooms_create(10, 5, 30);
    struct pal_participant *a, *b;
    assert_int_equal(pal_rooms_count(r), 0);
    assert_int_equal(pal_rooms_join(r, "demo", "Alice", PAL_ROLE_PARTICIPANT, &a), 0);
    assert_int_equal(pal_rooms_count(r), 1);
    assert_int_equal(a->role, PAL_ROLE_OWNER);
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
    /* the room slot is free again; the new first participant is host */
    assert_int_equal(pal_rooms_join(r, "y", "C", PAL_ROLE_GUEST, &c), 0);
    assert_int_equal(c->role, PAL_ROLE_OWNER);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_join_creates_room_and_is_host),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_leave_destroys_empty_room),
        cmocka_unit_test(test_resume_window),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_iteration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
