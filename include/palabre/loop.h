/* A media worker's GLib loop without GLib's self-wakeups.
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
/* Empties the wakeup fd's counter (one read). Call now and then, from the
 * thread that called pal_loop_init. */
void pal_loop_drain(void);

#endif
