/* A media worker's GLib loop: epoll instead of poll, without GLib's
 * self-wakeups (see palabre/loop.h). */
#include "palabre/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MAX_READY 64
#define RESYNC_US (200 * 1000) /* the safety net of pal_loop_drain */

/* GLib's G_IO_* values are poll(2)'s, and epoll's EPOLLIN/PRI/OUT/ERR/HUP
 * are the same bits. */
struct reg {
    int fd;
    uint32_t events;
};

/* One per thread: a GPollFunc has no user data. */
static __thread struct {
    int epfd;
    int wakeup_fd;
    bool stale; /* a socket may have been closed or opened: rebuild */
    int64_t synced_us;
    struct reg *regs; /* what epfd holds, sorted by fd */
    struct reg *want; /* scratch: what this poll wants */
    unsigned n_regs, cap_regs;
    struct epoll_event ready[MAX_READY];
} L = {.epfd = -1, .wakeup_fd = -1};

static bool polled(const GPollFD *p)
{
    return p->fd >= 0 && p->fd != L.wakeup_fd && p->events;
}

/* The fds to watch, sorted by fd, one entry per fd (GLib may list one fd
 * twice, for two sources) with the union of their events. GLib's array is
 * nearly sorted already (by priority, then order of attachment), so the
 * insertion sort costs about one comparison per entry. Returns their number. */
static int wanted(const GPollFD *fds, guint n, struct reg *out)
{
    int k = 0;
    for (guint i = 0; i < n; i++) {
        if (!polled(&fds[i]))
            continue;
        int j = k;
        while (j > 0 && out[j - 1].fd > fds[i].fd)
            j--;
        if (j > 0 && out[j - 1].fd == fds[i].fd) {
            out[j - 1].events |= fds[i].events;
            continue;
        }
        memmove(&out[j + 1], &out[j], (size_t)(k - j) * sizeof(*out));
        out[j] = (struct reg){fds[i].fd, fds[i].events};
        k++;
    }
    return k;
}

static int ctl(int op, const struct reg *r)
{
    struct epoll_event ev = {.events = r->events, .data.fd = r->fd};
    return epoll_ctl(L.epfd, op, r->fd, &ev);
}

/* Brings epfd to want[0..k) (both sorted by fd: one merge pass), or, when
 * stale, builds a new epoll set (an fd number closed and reused for
 * another socket looks unchanged in GLib's array, but epoll dropped it
 * with the old socket). An fd that cannot be added (already closed, while
 * its source is still attached: EBADF) stays out and never fires, where
 * poll(2) would report POLLNVAL at every call. */
static void sync_set(const struct reg *want, unsigned k)
{
    if (L.stale) {
        int fresh = epoll_create1(EPOLL_CLOEXEC);
        if (fresh >= 0) {
            close(L.epfd);
            L.epfd = fresh;
            L.n_regs = 0;
        }
        L.stale = false;
        L.synced_us = g_get_monotonic_time();
    }
    unsigned i = 0, j = 0;
    while (i < L.n_regs || j < k) {
        if (j == k || (i < L.n_regs && L.regs[i].fd < want[j].fd)) {
            ctl(EPOLL_CTL_DEL, &L.regs[i++]); /* ENOENT/EBADF: already gone */
        } else if (i == L.n_regs || want[j].fd < L.regs[i].fd) {
            if (ctl(EPOLL_CTL_ADD, &want[j]) && errno == EEXIST)
                ctl(EPOLL_CTL_MOD, &want[j]);
            j++;
        } else {
            if (want[j].events != L.regs[i].events && ctl(EPOLL_CTL_MOD, &want[j]) &&
                errno == ENOENT)
                ctl(EPOLL_CTL_ADD, &want[j]);
            i++, j++;
        }
    }
    memcpy(L.regs, want, (size_t)k * sizeof(*want));
    L.n_regs = k;
}

static gint poll_epoll(GPollFD *fds, guint n, gint timeout)
{
    if (L.epfd < 0)
        return g_poll(fds, n, timeout);
    if (n > L.cap_regs) {
        struct reg *r = realloc(L.regs, n * sizeof(*r)), *w = r ? realloc(L.want, n * sizeof(*w)) : NULL;
        if (r)
            L.regs = r;
        if (!w)
            return g_poll(fds, n, timeout); /* no memory: plain poll this time */
        L.want = w;
        L.cap_regs = n;
    }
    struct reg *want = L.want;
    unsigned k = (unsigned)wanted(fds, n, want);
    if (L.stale || k != L.n_regs || memcmp(want, L.regs, (size_t)k * sizeof(*want)))
        sync_set(want, k);
    for (guint i = 0; i < n; i++)
        fds[i].revents = 0;
    int got = epoll_wait(L.epfd, L.ready, MAX_READY, timeout);
    if (got <= 0)
        return got;
    int count = 0;
    for (int e = 0; e < got; e++)
        for (guint i = 0; i < n; i++)
            if (fds[i].fd == L.ready[e].data.fd && polled(&fds[i])) {
                fds[i].revents =
                    (gushort)(L.ready[e].events & (fds[i].events | G_IO_ERR | G_IO_HUP));
                count += fds[i].revents != 0;
            }
    return count;
}

int pal_loop_init(GMainContext *ctx)
{
    /* With no fd source attached yet, the only fd the context polls is its
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
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        return -errno;
    if (L.epfd >= 0) /* a previous context of this thread */
        close(L.epfd);
    L.epfd = epfd;
    L.n_regs = 0;
    L.stale = false;
    L.synced_us = g_get_monotonic_time();
    L.wakeup_fd = fds[0].fd;
    g_main_context_set_poll_func(ctx, poll_epoll);
    return 0;
}

void pal_loop_resync(void)
{
    L.stale = true;
}

void pal_loop_drain(void)
{
    uint64_t v;
    if (L.wakeup_fd >= 0 && read(L.wakeup_fd, &v, sizeof(v)) < 0) {
        /* EAGAIN: nothing was signalled */
    }
    if (L.epfd >= 0 && g_get_monotonic_time() - L.synced_us >= RESYNC_US)
        L.stale = true;
}

void pal_loop_fini(void)
{
    if (L.epfd >= 0)
        close(L.epfd);
    free(L.regs);
    free(L.want);
    L.epfd = L.wakeup_fd = -1;
    L.regs = L.want = NULL;
    L.n_regs = L.cap_regs = 0;
}
