/* A media worker's GLib loop: epoll instead of poll, and without GLib's
 * self-wakeups.
 *
 * GLib hands its poll function the array of every fd of every source at
 * each iteration; poll(2) then visits each socket of the worker (two or
 * three per participant) to find the one or two that woke it. Here the
 * array feeds an epoll set instead: it is compared with the previous one
 * (it rarely changes) and epoll_wait returns only the ready fds. An fd
 * number closed and reused for a new socket between two iterations looks
 * unchanged in the array while epoll has dropped it: the code that opens
 * sockets calls pal_loop_resync (media/ice.c on agent creation, restart
 * and destruction), and the tick rebuilds the set every 200 ms anyway.
 *
 * GLib 2.74 (Debian 12) signals a context's own wakeup eventfd twice each
 * time it dispatches a source that polls fds: g_main_dispatch blocks the
 * source (its fds leave the poll set) and unblocks it, and both steps call
 * g_wakeup_signal, even on the thread that owns the context. The next poll
 * then returns at once with nothing to do. On a forwarding worker that was
 * one loop iteration in two (strace, meeting scenario: 740 polls/s, 374 of
 * them woken by that eventfd alone), each a full prepare/poll/check pass
 * over every source.
 *
 * Only the worker's own thread touches a worker's context (commands arrive
 * on the worker's eventfd, a source of its own), so the wakeup fd is left
 * out of the poll. pal_loop_drain, called from the worker's periodic tick,
 * empties its counter. A source attached from another thread anyway is
 * still seen, at the next event or tick.
 *
 * State is per thread (a GPollFunc has no user data): one context per
 * thread. */
#ifndef PALABRE_LOOP_H
#define PALABRE_LOOP_H

#include <glib.h>

/* On the thread that will run ctx, before any source with fds is attached.
 * Returns 0, or -ENOENT when ctx's wakeup fd cannot be told apart (then
 * GLib's own poll stays, and the loop works as before). */
int pal_loop_init(GMainContext *ctx);
/* Empties the wakeup fd's counter (one read), and marks the epoll set for
 * a rebuild if it is 200 ms old. Call now and then (the tick), from the
 * thread that called pal_loop_init. */
void pal_loop_drain(void);
/* Sockets were (or are about to be) opened or closed on this thread: the
 * next poll rebuilds the epoll set. No-op on a thread without pal_loop. */
void pal_loop_resync(void);
/* Frees this thread's state; its context goes back to poll(2). */
void pal_loop_fini(void);

#endif
