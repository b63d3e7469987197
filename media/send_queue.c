/* Batched UDP sends, one sendmmsg per socket per main context iteration.
 * See palabre/send_queue.h. */
#include "palabre/send_queue.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

struct pal_send_queue {
    /* borrowed */
    struct pal_send_batch *b;
    int fd; /* the ICE socket, -1: no destination */
    /* state */
    struct sockaddr_storage to;
    socklen_t to_len;
    uint16_t slot[PAL_SEND_QUEUE_MAX]; /* pool indices, in send order */
    uint16_t len[PAL_SEND_QUEUE_MAX];
    unsigned n;
    struct pal_send_queue *prev, *next; /* in the batch's dirty list while n > 0 */
    bool no_gso; /* the kernel refused UDP_SEGMENT on this socket's route */
    struct pal_send_queue_stats st;
};

/* The GSource that flushes when the context is driven by someone else. */
struct batch_source {
    GSource base;
    struct pal_send_batch *b;
};

struct pal_send_batch {
    /* owned */
    uint8_t *pool; /* PAL_SEND_POOL slots of PAL_SEND_SLOT bytes */
    GSource *source;
    /* state */
    uint16_t free_slots[PAL_SEND_POOL]; /* stack of free pool indices */
    unsigned n_free;
    struct pal_send_queue *dirty; /* queues holding packets */
    struct pal_send_queue_stats total; /* every queue's, closed ones included */
    /* flush scratch (one thread: one flush at a time) */
    struct mmsghdr msgs[PAL_SEND_QUEUE_MAX];
    struct iovec iov[PAL_SEND_QUEUE_MAX];
    unsigned run[PAL_SEND_QUEUE_MAX]; /* msgs[k] carries run[k] datagrams */
    union {
        char buf[CMSG_SPACE(sizeof(uint16_t))];
        struct cmsghdr align;
    } ctl[PAL_SEND_QUEUE_MAX];
};

/* Counted on the queue and on its batch (which outlives the queues). */
static void count(struct pal_send_queue *q, uint64_t packets, uint64_t dropped, uint64_t batches)
{
    q->st.packets += packets;
    q->st.dropped += dropped;
    q->st.batches += batches;
    q->b->total.packets += packets;
    q->b->total.dropped += dropped;
    q->b->total.batches += batches;
}

static uint8_t *slot_ptr(const struct pal_send_batch *b, uint16_t i)
{
    return b->pool + (size_t)i * PAL_SEND_SLOT;
}

/* ---- the batch ------------------------------------------------------------ */

static gboolean source_prepare(GSource *s, gint *timeout)
{
    *timeout = -1;
    return ((struct batch_source *)s)->b->dirty != NULL;
}

static gboolean source_check(GSource *s)
{
    return ((struct batch_source *)s)->b->dirty != NULL;
}

static gboolean source_dispatch(GSource *s, GSourceFunc cb, gpointer ud)
{
    (void)cb;
    (void)ud;
    pal_send_batch_flush(((struct batch_source *)s)->b);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs source_funcs = {
    .prepare = source_prepare,
    .check = source_check,
    .dispatch = source_dispatch,
};

int pal_send_batch_create(GMainContext *ctx, struct pal_send_batch **out)
{
    *out = NULL;
    struct pal_send_batch *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    b->pool = malloc((size_t)PAL_SEND_POOL * PAL_SEND_SLOT);
    if (!b->pool) {
        free(b);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < PAL_SEND_POOL; i++)
        b->free_slots[i] = (uint16_t)(PAL_SEND_POOL - 1 - i);
    b->n_free = PAL_SEND_POOL;
    if (ctx) {
        b->source = g_source_new(&source_funcs, sizeof(struct batch_source));
        ((struct batch_source *)b->source)->b = b;
        g_source_set_name(b->source, "palabre send batch");
        g_source_attach(b->source, ctx);
    }
    *out = b;
    return 0;
}

void pal_send_batch_destroy(struct pal_send_batch *b)
{
    if (!b)
        return;
    pal_send_batch_flush(b);
    if (b->source) {
        g_source_destroy(b->source);
        g_source_unref(b->source);
    }
    free(b->pool);
    free(b);
}

void pal_send_batch_flush(struct pal_send_batch *b)
{
    while (b->dirty)
        pal_send_queue_flush(b->dirty); /* unlinks it */
}

bool pal_send_batch_pending(const struct pal_send_batch *b)
{
    return b->dirty != NULL;
}

/* ---- a queue -------------------------------------------------------------- */

int pal_send_queue_create(struct pal_send_batch *b, struct pal_send_queue **out)
{
    *out = NULL;
    struct pal_send_queue *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    q->b = b;
    q->fd = -1;
    *out = q;
    return 0;
}

void pal_send_queue_destroy(struct pal_send_queue *q)
{
    if (!q)
        return;
    pal_send_queue_flush(q);
    free(q);
}

void pal_send_queue_set_dest(struct pal_send_queue *q, int fd, const struct sockaddr *to,
                             socklen_t to_len)
{
    pal_send_queue_flush(q); /* what was queued goes where it was meant to */
    if (fd < 0 || !to || to_len > sizeof(q->to)) {
        q->fd = -1;
        q->to_len = 0;
        return;
    }
    q->fd = fd;
    memcpy(&q->to, to, to_len);
    q->to_len = to_len;
}

bool pal_send_queue_has_dest(const struct pal_send_queue *q)
{
    return q->fd >= 0;
}

uint8_t *pal_send_queue_reserve(struct pal_send_queue *q)
{
    struct pal_send_batch *b = q->b;
    if (q->n == PAL_SEND_QUEUE_MAX)
        pal_send_queue_flush(q);
    if (b->n_free == 0)
        pal_send_batch_flush(b);
    return slot_ptr(b, b->free_slots[b->n_free - 1]);
}

void pal_send_queue_commit(struct pal_send_queue *q, size_t len)
{
    struct pal_send_batch *b = q->b;
    assert(len > 0 && len <= PAL_SEND_SLOT && q->n < PAL_SEND_QUEUE_MAX && b->n_free > 0);
    if (q->fd < 0) {
        count(q, 0, 1, 0);
        return;
    }
    q->slot[q->n] = b->free_slots[--b->n_free];
    q->len[q->n] = (uint16_t)len;
    if (q->n++ == 0) { /* becomes dirty: link at the head */
        q->prev = NULL;
        q->next = b->dirty;
        if (b->dirty)
            b->dirty->prev = q;
        b->dirty = q;
    }
}

int pal_send_queue_push(struct pal_send_queue *q, const uint8_t *buf, size_t len)
{
    if (len == 0 || len > PAL_SEND_SLOT)
        return -EMSGSIZE;
    memcpy(pal_send_queue_reserve(q), buf, len);
    pal_send_queue_commit(q, len);
    return 0;
}

/* A UDP GSO datagram holds at most 64 KiB of payload. */
#define GSO_MAX_BYTES 65000

/* Groups the queue into messages: with UDP GSO (UDP_SEGMENT, Linux 4.18),
 * a run of datagrams of one size, plus one shorter datagram ending it,
 * goes down the stack as one message the kernel (or the NIC) cuts back
 * into the same datagrams: the packets of one video frame to one
 * subscriber cross the stack once. Order is kept. Returns the message
 * count. */
static unsigned build_messages(struct pal_send_queue *q)
{
    struct pal_send_batch *b = q->b;
    unsigned nm = 0;
    for (unsigned i = 0; i < q->n; i++)
        b->iov[i] = (struct iovec){.iov_base = slot_ptr(b, q->slot[i]), .iov_len = q->len[i]};
    for (unsigned i = 0, j; i < q->n; i = j) {
        size_t seg = q->len[i], max = q->no_gso ? 1 : GSO_MAX_BYTES / seg;
        for (j = i + 1; j < q->n && j - i < max && q->len[j] == seg; j++)
            ;
        if (j < q->n && j - i < max && q->len[j] < seg)
            j++; /* a shorter last segment is allowed */
        struct msghdr *h = &b->msgs[nm].msg_hdr;
        *h = (struct msghdr){.msg_name = &q->to, .msg_namelen = q->to_len,
                             .msg_iov = &b->iov[i], .msg_iovlen = j - i};
        if (j - i > 1) {
            h->msg_control = b->ctl[nm].buf;
            h->msg_controllen = sizeof(b->ctl[nm].buf);
            struct cmsghdr *c = CMSG_FIRSTHDR(h);
            c->cmsg_level = SOL_UDP;
            c->cmsg_type = UDP_SEGMENT;
            c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
            uint16_t gso = (uint16_t)seg;
            memcpy(CMSG_DATA(c), &gso, sizeof(gso));
        }
        b->run[nm++] = j - i;
    }
    return nm;
}

/* A GSO message the kernel refuses as such (no UDP_SEGMENT, no checksum
 * offload on the route, a segment above the MTU): GSO is turned off for
 * this queue and the run goes out one datagram per message. */
static bool resend_without_gso(struct pal_send_queue *q, struct msghdr *h)
{
    if (!h->msg_control || (errno != EINVAL && errno != EIO && errno != ENOPROTOOPT &&
                            errno != EOPNOTSUPP))
        return false;
    q->no_gso = true;
    for (size_t i = 0; i < h->msg_iovlen; i++) {
        struct msghdr one = {.msg_name = h->msg_name, .msg_namelen = h->msg_namelen,
                             .msg_iov = &h->msg_iov[i], .msg_iovlen = 1};
        count(q, 0, 0, 1);
        if (sendmsg(q->fd, &one, MSG_DONTWAIT) >= 0)
            count(q, 1, 0, 0);
        else
            count(q, 0, 1, 0);
    }
    return true;
}

/* sendmmsg until the kernel took or refused every message: a refused one
 * (the call fails on its first message) is dropped and counted, the rest go
 * on, so packets are never reordered and never retried. */
static void send_all(struct pal_send_queue *q, struct mmsghdr *m, const unsigned *run, unsigned n)
{
    unsigned off = 0;
    while (off < n) {
        int r = sendmmsg(q->fd, m + off, n - off, MSG_DONTWAIT);
        count(q, 0, 0, 1);
        if (r > 0) {
            for (unsigned k = off; k < off + (unsigned)r; k++)
                count(q, run[k], 0, 0);
            off += (unsigned)r;
        } else if (r < 0 && errno == EINTR) {
            continue;
        } else {
            if (!resend_without_gso(q, &m[off].msg_hdr))
                count(q, 0, run[off], 0);
            off++;
        }
    }
}

void pal_send_queue_flush(struct pal_send_queue *q)
{
    if (q->n == 0)
        return;
    struct pal_send_batch *b = q->b;
    send_all(q, b->msgs, b->run, build_messages(q));
    for (unsigned i = 0; i < q->n; i++)
        b->free_slots[b->n_free++] = q->slot[i];
    q->n = 0;
    if (q->prev)
        q->prev->next = q->next;
    else
        b->dirty = q->next;
    if (q->next)
        q->next->prev = q->prev;
    q->prev = q->next = NULL;
}

size_t pal_send_queue_length(const struct pal_send_queue *q)
{
    return q->n;
}

void pal_send_batch_get_stats(const struct pal_send_batch *b, struct pal_send_queue_stats *out)
{
    *out = b->total;
}

void pal_send_queue_get_stats(const struct pal_send_queue *q, struct pal_send_queue_stats *out)
{
    *out = q->st;
}
