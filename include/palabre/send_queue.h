/* Batched UDP sends: packets bound for one socket are queued during a main
 * context iteration and leave with one sendmmsg(2) per socket when the
 * iteration ends (a video frame is several packets arriving together from
 * the publisher: each subscriber then costs one syscall per frame, not one
 * per packet).
 *
 * Two objects:
 * - a batch (one per media worker) owns a pool of packet slots and the list
 *   of queues holding packets ("dirty"). pal_send_batch_flush() sends them
 *   all; the worker calls it after every g_main_context_iteration(). When
 *   created with a GMainContext it also attaches a GSource that is ready
 *   while anything is queued, so a context driven by g_main_loop_run() (tests,
 *   tools) flushes on its next iteration.
 * - a queue (one per socket, i.e. per ICE transport) holds the slots
 *   bound for its destination, in order.
 *
 * Within that sendmmsg, consecutive datagrams of one size (a frame's
 * packets: the packetizer splits a frame about equally) travel as one UDP
 * GSO message (UDP_SEGMENT): the stack is crossed once per run and the
 * kernel or the NIC cuts it back into the same datagrams. A route that
 * refuses GSO turns it off for that queue (one datagram per message).
 *
 * Zero copy: pal_send_queue_reserve() hands out the slot itself, the caller
 * writes (SRTP protects) the packet straight into it and commits its length.
 * Bounded, no allocation per packet: a queue holding PAL_SEND_QUEUE_MAX
 * packets, or a reserve when the pool is empty, flushes first (order kept).
 * A packet the kernel refuses (EAGAIN, ENOBUFS, ...) is dropped and counted,
 * as a failed sendto would be; nothing is retried or reordered.
 *
 * Why by hand: nice_agent_send() sends one datagram per call under the
 * agent lock (~0.55 us per packet, measured with callgrind). GLib's
 * g_socket_send_messages() does call sendmmsg, but converts a
 * GSocketAddress per message and reports failures through a GError; the
 * part that matters here (slots, per-socket order, flush at the end of the
 * iteration) is ours anyway, and the syscall around it is a dozen lines.
 *
 * Thread: the owning worker only. Queues must be destroyed before their
 * batch. */
#ifndef PALABRE_SEND_QUEUE_H
#define PALABRE_SEND_QUEUE_H

#include <glib.h>
#include <sys/socket.h>

#include "palabre/common.h"

/* Largest datagram a slot holds (RTP + SRTP trailer, DTLS record). */
#define PAL_SEND_SLOT 1536
/* Packets one queue holds before it flushes by itself. */
#define PAL_SEND_QUEUE_MAX 64
/* Slots in one batch's pool, shared by its queues. */
#define PAL_SEND_POOL 512

struct pal_send_batch;
struct pal_send_queue;

struct pal_send_queue_stats {
    uint64_t packets; /* handed to the kernel */
    uint64_t dropped; /* refused by the kernel (or no destination) */
    uint64_t batches; /* send syscalls (sendmmsg, or sendmsg after GSO was refused) */
};

/* ctx: may be NULL (no GSource; the owner flushes). Returns 0 or -ENOMEM. */
int pal_send_batch_create(GMainContext *ctx, struct pal_send_batch **out);
void pal_send_batch_destroy(struct pal_send_batch *b);
/* Sends everything queued, one sendmmsg per dirty queue. */
void pal_send_batch_flush(struct pal_send_batch *b);
bool pal_send_batch_pending(const struct pal_send_batch *b);
/* Everything its queues sent, dropped and called, since the batch began. */
void pal_send_batch_get_stats(const struct pal_send_batch *b, struct pal_send_queue_stats *out);

/* b: borrowed, outlives the queue. Returns 0 or -ENOMEM. */
int pal_send_queue_create(struct pal_send_batch *b, struct pal_send_queue **out);
/* Sends what is still queued, then frees. */
void pal_send_queue_destroy(struct pal_send_queue *q);
/* Where the packets go (fd borrowed, non-blocking). Packets queued for the
 * previous destination are sent first. fd < 0: none (queued ones are sent,
 * later commits are dropped). */
void pal_send_queue_set_dest(struct pal_send_queue *q, int fd, const struct sockaddr *to,
                             socklen_t to_len);
bool pal_send_queue_has_dest(const struct pal_send_queue *q);
/* The next slot (PAL_SEND_SLOT bytes) to write a datagram into; it is only
 * queued by pal_send_queue_commit(). May flush to make room. Never NULL. */
uint8_t *pal_send_queue_reserve(struct pal_send_queue *q);
/* Queues the reserved slot holding len bytes (1..PAL_SEND_SLOT). */
void pal_send_queue_commit(struct pal_send_queue *q, size_t len);
/* Copies and queues one datagram. Returns 0 or -EMSGSIZE. */
int pal_send_queue_push(struct pal_send_queue *q, const uint8_t *buf, size_t len);
/* Sends this queue's packets now (one sendmmsg, more if the kernel takes
 * fewer). */
void pal_send_queue_flush(struct pal_send_queue *q);
size_t pal_send_queue_length(const struct pal_send_queue *q);
void pal_send_queue_get_stats(const struct pal_send_queue *q, struct pal_send_queue_stats *out);

#endif
