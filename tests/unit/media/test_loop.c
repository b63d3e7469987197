/* palabre/loop.h: a dispatched fd source costs the worker's loop no second,
 * empty iteration (GLib 2.74 signals the context's own wakeup fd on every
 * such dispatch), and the wakeup fd's counter is drained. */
#include <errno.h>
#include <glib-unix.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
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
        cmocka_unit_test(a_context_with_fds_keeps_glib_poll),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
