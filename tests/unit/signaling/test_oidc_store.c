/* oidc_store.c: the bound on pending sign-ins (refuse past it, never push
 * out one held), their single use and expiry, and the sessions' lifetime,
 * idle timeout and last-seen writes. Time is passed in: no sleep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "palabre/oidc_store.h"

#define T0 1800000000000LL
#define IDLE 10000LL

static char dir[64];

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/palabre-oidc-store-XXXXXX");
    assert_non_null(mkdtemp(dir));
    struct pal_oidc_store *st = NULL;
    assert_int_equal(pal_oidc_store_open(dir, &st), 0);
    *state = st;
    return 0;
}

static int teardown(void **state)
{
    pal_oidc_store_close(*state);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct pal_oidc_pending pending(int i, int64_t at)
{
    struct pal_oidc_pending p = {.created_ms = at};
    snprintf(p.state, sizeof(p.state), "state-%036d", i);
    snprintf(p.nonce, sizeof(p.nonce), "nonce-%d", i);
    snprintf(p.verifier, sizeof(p.verifier), "verifier-%d", i);
    snprintf(p.return_to, sizeof(p.return_to), "/r/salle-%d", i);
    return p;
}

static void pending_bound_refuses_and_keeps_the_held(void **state)
{
    struct pal_oidc_store *st = *state;
    for (int i = 0; i < 3; i++) {
        struct pal_oidc_pending p = pending(i, T0 + i);
        assert_int_equal(pal_oidc_store_pending_put(st, &p, 3), 0);
    }
    struct pal_oidc_pending extra = pending(9, T0 + 10);
    assert_int_equal(pal_oidc_store_pending_put(st, &extra, 3), -ENOSPC);
    /* the oldest is still there (not pushed out), usable once */
    struct pal_oidc_pending out, first = pending(0, T0);
    assert_int_equal(pal_oidc_store_pending_take(st, first.state, T0 + 20, &out), 0);
    assert_string_equal(out.nonce, "nonce-0");
    assert_string_equal(out.return_to, "/r/salle-0");
    assert_int_equal(pal_oidc_store_pending_take(st, first.state, T0 + 20, &out), -ENOENT);
    /* room again for one */
    assert_int_equal(pal_oidc_store_pending_put(st, &extra, 3), 0);
    assert_int_equal(pal_oidc_store_pending_put(st, &extra, 3), -ENOSPC);
}

static void expired_pending_make_room(void **state)
{
    struct pal_oidc_store *st = *state;
    for (int i = 0; i < 2; i++) {
        struct pal_oidc_pending p = pending(i, T0);
        assert_int_equal(pal_oidc_store_pending_put(st, &p, 2), 0);
    }
    struct pal_oidc_pending later = pending(5, T0 + PAL_OIDC_PENDING_MS + 1);
    assert_int_equal(pal_oidc_store_pending_put(st, &later, 2), 0);
    struct pal_oidc_pending out, old = pending(0, T0);
    assert_int_equal(pal_oidc_store_pending_take(st, old.state, later.created_ms, &out), -ENOENT);
    /* one taken too late: refused, and gone */
    assert_int_equal(pal_oidc_store_pending_take(st, later.state,
                                                 later.created_ms + PAL_OIDC_PENDING_MS + 1, &out),
                     -ETIMEDOUT);
}

static void session_idle_and_lifetime(void **state)
{
    struct pal_oidc_store *st = *state;
    struct pal_oidc_session s = {.created_ms = T0, .last_seen_ms = T0, .expires_ms = T0 + 60000};
    snprintf(s.user.sub, sizeof(s.user.sub), "oidc:clara@mairie.example.fr");
    s.user.agent = true;
    const char *tok = "tok-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert_int_equal(pal_oidc_store_session_put(st, tok, &s), 0);
    struct pal_oidc_session out;
    /* used within the idle timeout again and again: alive past IDLE in total */
    for (int64_t t = T0 + 4000; t <= T0 + 40000; t += 4000)
        assert_int_equal(pal_oidc_store_session_get(st, tok, t, IDLE, &out), 0);
    assert_string_equal(out.user.sub, "oidc:clara@mairie.example.fr");
    assert_true(out.user.agent);
    /* a read within IDLE / 8 of the last write does not move last_seen on
     * disk, but one later does */
    assert_int_equal(pal_oidc_store_session_get(st, tok, T0 + 40500, IDLE, &out), 0);
    assert_int_equal(out.last_seen_ms, T0 + 40000);
    /* the lifetime ends it, however recently used */
    assert_int_equal(pal_oidc_store_session_get(st, tok, T0 + 60000, IDLE, &out), -ETIMEDOUT);
    assert_int_equal(pal_oidc_store_session_get(st, tok, T0 + 60001, IDLE, &out), -ENOENT);

    /* unused for longer than IDLE: ended */
    const char *tok2 = "tok-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
    assert_int_equal(pal_oidc_store_session_put(st, tok2, &s), 0);
    assert_int_equal(pal_oidc_store_session_get(st, tok2, T0 + IDLE + 1, IDLE, &out), -ETIMEDOUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(pending_bound_refuses_and_keeps_the_held, setup, teardown),
        cmocka_unit_test_setup_teardown(expired_pending_make_room, setup, teardown),
        cmocka_unit_test_setup_teardown(session_idle_and_lifetime, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
