/* A media worker's GLib loop without GLib's self-wakeups (see palabre/loop.h). */
#include "palabre/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <unistd.h>

static __thread int wakeup_fd = -1;

/* poll(2) over GLib's set, without the wakeup fd (a negative fd is skipped
 * by poll and gets revents 0, so GLib sees no wakeup). */
static gint poll_without_wakeup(GPollFD *fds, guint n, gint timeout)
{
    GPollFD *w = NULL;
    for (guint i = 0; i < n; i++)
        if (fds[i].fd == wakeup_fd) {
            w = &fds[i];
            w->fd = -1;
            break;
        }
    gint rc = g_poll(fds, n, timeout);
    if (w) {
        w->fd = wakeup_fd;
        w->revents = 0;
    }
    return rc;
}

int pal_loop_init(GMainContext *ctx)
{
    /* With nothing attached yet, the only fd the context polls is its
     * wakeup fd: one prepare/query/check pass finds it. */
    if (!g_main_context_acquire(ctx))
        return -EBUSY;
    gint prio, timeout;
    GPollFD fds[4];
    g_main_context_prepare(ctx, &prio);
    gint n = g_main_context_query(ctx, prio, &timeout, fds, 4);
    g_main_context_check(ctx, prio, fds, n < 4 ? n : 4);
    g_main_context_release(ctx);
    if (n != 1 || fds[0].fd < 0)
        return -ENOENT;
    int fl = fcntl(fds[0].fd, F_GETFL);
    if (fl < 0 || !(fl & O_NONBLOCK)) /* draining must never block */
        return -ENOENT;
    wakeup_fd = fds[0].fd;
    g_main_context_set_poll_func(ctx, poll_without_wakeup);
    return 0;
}

void pal_loop_drain(void)
{
    uint64_t v;
    if (wakeup_fd >= 0 && read(wakeup_fd, &v, sizeof(v)) < 0) {
        /* EAGAIN: nothing was signalled */
    }
}
