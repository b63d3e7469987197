/* palabre/loop.h: the epoll-backed poll delivers what poll(2) would (one fd
 * watched by two sources, fds coming and going, an fd number reused), a
 * dispatched fd source costs the loop no second, empty iteration (GLib 2.74
 * signals the context's own wakeup fd on every such dispatch), and the
 * wakeup fd's counter is drained. */
#include <errno.h>
#include <glib-unix.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "palabre/loop.h"

struct pipe_source {
    int fds[2];
    int hits;
    GSource *src;
};

static gboolean on_readable(gint fd, GIOCondition cond, gpointer ud)
{
    (void)cond;
    char c;
    if (read(fd, &c, 1) == 1)
        ((struct pipe_source *)ud)->hits++;
    return G_SOURCE_CONTINUE;
}

static void pipe_source_attach(struct pipe_source *p, GMainContext *ctx)
{
    assert_int_equal(pipe(p->fds), 0);
    pal_loop_resync(); /* the contract of code that opens fds (palabre/loop.h) */
    p->hits = 0;
    p->src = g_unix_fd_source_new(p->fds[0], G_IO_IN);
    g_source_set_callback(p->src, (GSourceFunc)(void (*)(void))on_readable, p, NULL);
    g_source_attach(p->src, ctx);
}

static void pipe_source_free(struct pipe_source *p)
{
    g_source_destroy(p->src);
    g_source_unref(p->src);
    close(p->fds[0]);
    close(p->fds[1]);
}

static gboolean on_timer(gpointer ud)
{
    *(bool *)ud = true;
    return G_SOURCE_REMOVE;
}

/* Blocking iterations until a 30 ms timer fires: 1 when nothing but the
 * timer can wake the loop. */
static int iterations_until_timer(GMainContext *ctx)
{
    bool fired = false;
    GSource *t = g_timeout_source_new(30);
    g_source_set_callback(t, on_timer, &fired, NULL);
    g_source_attach(t, ctx);
    int n = 0;
    while (!fired && n < 100) {
        g_main_context_iteration(ctx, TRUE);
        n++;
    }
    g_source_unref(t);
    return n;
}

/* Data on an fd, one dispatch, then the loop waits for the next real event. */
static int after_one_dispatch(GMainContext *ctx)
{
    struct pipe_source p;
    pipe_source_attach(&p, ctx);
    assert_int_equal(write(p.fds[1], "x", 1), 1);
    g_main_context_iteration(ctx, TRUE);
    assert_int_equal(p.hits, 1);
    int n = iterations_until_timer(ctx);
    pipe_source_free(&p);
    return n;
}

static void glib_alone_wakes_itself(void **state)
{
    (void)state;
    /* the cause: without pal_loop_init, GLib's own wakeup fd ends the next
     * poll at once (if a later GLib stops doing so, this test says so) */
    GMainContext *ctx = g_main_context_new();
    assert_int_equal(after_one_dispatch(ctx), 2);
    g_main_context_unref(ctx);
}

static void dispatch_does_not_wake_the_loop_again(void **state)
{
    (void)state;
    GMainContext *ctx = g_main_context_new();
    assert_int_equal(pal_loop_init(ctx), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(after_one_dispatch(ctx), 1);
    g_main_context_unref(ctx);
}

static void drain_empties_the_wakeup_counter(void **state)
{
    (void)state;
    GMainContext *ctx = g_main_context_new();
    assert_int_equal(pal_loop_init(ctx), 0);
    assert_int_equal(after_one_dispatch(ctx), 1); /* GLib signalled its wakeup fd meanwhile */
    /* back to GLib's poll: the pending signal costs an empty iteration... */
    g_main_context_set_poll_func(ctx, NULL);
    assert_int_equal(iterations_until_timer(ctx), 2);
    /* ...unless drained */
    g_main_context_set_poll_func(ctx, NULL);
    g_main_context_wakeup(ctx);
    pal_loop_drain();
    assert_int_equal(iterations_until_timer(ctx), 1);
    g_main_context_unref(ctx);
}

/* Two sources on one fd (GLib lists it twice), for reading and writing. */
static gboolean on_writable(gint fd, GIOCondition cond, gpointer ud)
{
    (void)fd;
    (void)cond;
    (*(int *)ud)++;
    return G_SOURCE_REMOVE;
}

static void one_fd_watched_twice(void **state)
{
    (void)state;
    GMainContext *ctx = g_main_context_new();
    assert_int_equal(pal_loop_init(ctx), 0);
    int sv[2], writable = 0;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pal_loop_resync();
    struct pipe_source p = {.fds = {sv[0], sv[1]}};
    p.src = g_unix_fd_source_new(sv[0], G_IO_IN);
    g_source_set_callback(p.src, (GSourceFunc)(void (*)(void))on_readable, &p, NULL);
    g_source_attach(p.src, ctx);
    GSource *out = g_unix_fd_source_new(sv[0], G_IO_OUT);
    g_source_set_callback(out, (GSourceFunc)(void (*)(void))on_writable, &writable, NULL);
    g_source_attach(out, ctx);
    g_main_context_iteration(ctx, TRUE); /* writable at once, nothing to read */
    assert_int_equal(writable, 1);
    assert_int_equal(p.hits, 0);
    assert_int_equal(write(sv[1], "x", 1), 1);
    g_main_context_iteration(ctx, TRUE);
    assert_int_equal(p.hits, 1);
    g_source_unref(out);
    pipe_source_free(&p);
    g_main_context_unref(ctx);
}

/* An fd number closed and reused by a new source: GLib's array looks the
 * same, epoll dropped the old file. Without pal_loop_resync the new fd is
 * missed until the tick's 200 ms rebuild. */
static void a_reused_fd_number_is_seen_after_the_rebuild(void **state)
{
    (void)state;
    GMainContext *ctx = g_main_context_new();
    assert_int_equal(pal_loop_init(ctx), 0);
    struct pipe_source a, b;
    pipe_source_attach(&a, ctx);
    assert_int_equal(write(a.fds[1], "x", 1), 1);
    g_main_context_iteration(ctx, TRUE);
    assert_int_equal(a.hits, 1);
    int number = a.fds[0];
    /* a's read end closes and a new pipe's read end takes its number, with
     * no pal_loop_resync in between, on purpose */
    g_source_destroy(a.src);
    g_source_unref(a.src);
    close(a.fds[1]);
    assert_int_equal(pipe(b.fds), 0);
    assert_int_equal(dup2(b.fds[0], number), number);
    close(b.fds[0]);
    b.fds[0] = number;
    b.hits = 0;
    b.src = g_unix_fd_source_new(number, G_IO_IN);
    g_source_set_callback(b.src, (GSourceFunc)(void (*)(void))on_readable, &b, NULL);
    g_source_attach(b.src, ctx);
    assert_int_equal(write(b.fds[1], "x", 1), 1);
    iterations_until_timer(ctx);
    assert_int_equal(b.hits, 0); /* missed: the hazard pal_loop_resync prevents */
    g_usleep(210 * 1000);
    pal_loop_drain(); /* what the worker's tick calls */
    iterations_until_timer(ctx);
    assert_int_equal(b.hits, 1);
    pipe_source_free(&b);
    g_main_context_unref(ctx);
}

static void a_context_with_fds_keeps_glib_poll(void **state)
{
    (void)state;
    GMainContext *ctx = g_main_context_new();
    struct pipe_source p;
    pipe_source_attach(&p, ctx);
    assert_int_equal(pal_loop_init(ctx), -ENOENT);
    assert_int_equal(write(p.fds[1], "x", 1), 1);
    g_main_context_iteration(ctx, TRUE);
    assert_int_equal(p.hits, 1);
    pipe_source_free(&p);
    g_main_context_unref(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(glib_alone_wakes_itself),
        cmocka_unit_test(dispatch_does_not_wake_the_loop_again),
        cmocka_unit_test(drain_empties_the_wakeup_counter),
        cmocka_unit_test(one_fd_watched_twice),
        cmocka_unit_test(a_reused_fd_number_is_seen_after_the_rebuild),
        cmocka_unit_test(a_context_with_fds_keeps_glib_poll),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
