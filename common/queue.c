/* Bounded MPSC queue: a power-of-two ring of fixed-size slots under one
 * mutex. Commands and events are a few per join, not per packet, so a mutex
 * (uncontended: ~20 ns) is simpler and as fast as a lock-free ring here.
 * See palabre/queue.h. */
#include "palabre/queue.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct pal_queue {
    /* owned */
    uint8_t *slots;
    /* state */
    pthread_mutex_t lock;
    size_t item_size;
    size_t mask;
    uint64_t head; /* next pop */
    uint64_t tail; /* next push */
    uint64_t dropped;
};

int pal_queue_create(size_t capacity, size_t item_size, struct pal_queue **out)
{
    *out = NULL;
    if (capacity == 0 || item_size == 0 || capacity > (1u << 24))
        return -EINVAL;
    size_t cap = 1;
    while (cap < capacity)
        cap <<= 1;
    struct pal_queue *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    q->slots = calloc(cap, item_size);
    if (!q->slots) {
        free(q);
        return -ENOMEM;
    }
    pthread_mutex_init(&q->lock, NULL);
    q->item_size = item_size;
    q->mask = cap - 1;
    *out = q;
    return 0;
}

void pal_queue_destroy(struct pal_queue *q)
{
    if (!q)
        return;
    pthread_mutex_destroy(&q->lock);
    free(q->slots);
    free(q);
}

int pal_queue_push(struct pal_queue *q, const void *item)
{
    pthread_mutex_lock(&q->lock);
    if (q->tail - q->head > q->mask) {
        q->dropped++;
        pthread_mutex_unlock(&q->lock);
        return -ENOBUFS;
    }
    bool was_empty = q->tail == q->head;
    memcpy(q->slots + (q->tail & q->mask) * q->item_size, item, q->item_size);
    q->tail++;
    pthread_mutex_unlock(&q->lock);
    return was_empty ? 1 : 0;
}

int pal_queue_pop(struct pal_queue *q, void *out)
{
    pthread_mutex_lock(&q->lock);
    if (q->tail == q->head) {
        pthread_mutex_unlock(&q->lock);
        return 0;
    }
    memcpy(out, q->slots + (q->head & q->mask) * q->item_size, q->item_size);
    q->head++;
    pthread_mutex_unlock(&q->lock);
    return 1;
}

size_t pal_queue_len(struct pal_queue *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = (size_t)(q->tail - q->head);
    pthread_mutex_unlock(&q->lock);
    return n;
}

size_t pal_queue_capacity(const struct pal_queue *q)
{
    return q->mask + 1;
}

uint64_t pal_queue_dropped(struct pal_queue *q)
{
    pthread_mutex_lock(&q->lock);
    uint64_t d = q->dropped;
    pthread_mutex_unlock(&q->lock);
    return d;
}
