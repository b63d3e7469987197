/* Bounded multi-producer single-consumer queue of fixed-size plain items.
 *
 * Threads talk only through these queues: items are copied in and
 * copied out, so they must be plain structs carrying ids, never pointers into
 * another thread's objects. The ring is allocated once at create; push and
 * pop never allocate. A full queue refuses the item (-ENOBUFS) instead of
 * blocking the producer: a media worker must never stall on signaling.
 *
 * Wake-up is the caller's business (an eventfd for a media worker,
 * pal_server_wake for the signaling thread): push returns whether the queue
 * was empty before, so a producer wakes the consumer only once per batch.
 *
 * Threads: push from any thread; pop from the one consumer thread;
 * create/destroy when no other thread uses the queue. */
#ifndef PALABRE_QUEUE_H
#define PALABRE_QUEUE_H

#include "palabre/common.h"

struct pal_queue;

/* capacity: number of items (rounded up to a power of two); item_size: bytes
 * per item. Returns 0, -EINVAL or -ENOMEM. */
int pal_queue_create(size_t capacity, size_t item_size, struct pal_queue **out);
void pal_queue_destroy(struct pal_queue *q);

/* Copies item_size bytes from item. Returns 1 if the queue was empty before
 * (wake the consumer), 0 otherwise, or -ENOBUFS when full (nothing queued). */
int pal_queue_push(struct pal_queue *q, const void *item);
/* Copies the oldest item into out. Returns 1, or 0 when empty. */
int pal_queue_pop(struct pal_queue *q, void *out);
size_t pal_queue_len(struct pal_queue *q);
size_t pal_queue_capacity(const struct pal_queue *q);
/* Items refused because the queue was full, since create. */
uint64_t pal_queue_dropped(struct pal_queue *q);

#endif
