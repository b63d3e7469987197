/* The batched send path (palabre/send_queue.h) over real UDP sockets on
 * 127.0.0.1: nothing leaves before a flush, then everything in order with
 * one sendmmsg; a full queue or an empty pool flushes by itself; the GSource
 * flushes at the end of a context iteration; refused datagrams are counted
 * as drops; a new destination gets only what was queued after it; runs of
 * equal sizes leave as UDP GSO messages (and one by one where the kernel
 * refuses GSO) yet arrive as the same datagrams; and an ICE agent without a
 * selected pair falls back to libnice (no slot). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "palabre/ice.h"
#include "palabre/send_queue.h"
#include "palabre/wire.h"

struct peer {
    int fd; /* bound on 127.0.0.1, non-blocking reads */
    struct sockaddr_in addr;
};

static void peer_open(struct peer *p)
{
    p->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    assert_true(p->fd >= 0);
    int big = 4 << 20;
    setsockopt(p->fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    memset(&p->addr, 0, sizeof(p->addr));
    p->addr.sin_family = AF_INET;
    p->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof(p->addr);
    assert_int_equal(bind(p->fd, (struct sockaddr *)&p->addr, sizeof(p->addr)), 0);
    assert_int_equal(getsockname(p->fd, (struct sockaddr *)&p->addr, &l), 0);
}

/* Datagrams waiting on p; each must be 100 bytes holding its number. */
static int peer_drain(struct peer *p, uint32_t *next)
{
    uint8_t buf[2048];
    int n = 0;
    ssize_t r;
    while ((r = recv(p->fd, buf, sizeof(buf), 0)) > 0) {
        assert_int_equal(r, 100);
        assert_int_equal(pal_rd32(buf), *next); /* in order, none missing */
        (*next)++;
        n++;
    }
    return n;
}

static void push_numbered(struct pal_send_queue *q, uint32_t i)
{
    uint8_t *slot = pal_send_queue_reserve(q);
    memset(slot, 0xab, 100);
    pal_wr32(slot, i);
    pal_send_queue_commit(q, 100);
}

static void set_dest(struct pal_send_queue *q, int fd, const struct peer *to)
{
    pal_send_queue_set_dest(q, fd, (const struct sockaddr *)&to->addr, sizeof(to->addr));
}

/* One queue on its own batch, sending from tx to a receiver rx. */
struct rig {
    struct peer rx;
    int tx;
    struct pal_send_batch *b;
    struct pal_send_queue *q;
};

static void rig_open(struct rig *r, GMainContext *ctx)
{
    peer_open(&r->rx);
    r->tx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    assert_int_equal(pal_send_batch_create(ctx, &r->b), 0);
    assert_int_equal(pal_send_queue_create(r->b, &r->q), 0);
    set_dest(r->q, r->tx, &r->rx);
}

static void rig_close(struct rig *r)
{
    pal_send_queue_destroy(r->q);
    pal_send_batch_destroy(r->b);
    close(r->tx);
    close(r->rx.fd);
}

static void test_order_and_one_sendmmsg(void **state)
{
    (void)state;
    struct rig r;
    rig_open(&r, NULL);
    for (uint32_t i = 0; i < 20; i++)
        push_numbered(r.q, i);
    uint32_t next = 0;
    assert_int_equal(peer_drain(&r.rx, &next), 0); /* nothing before the flush */
    assert_true(pal_send_batch_pending(r.b));
    pal_send_batch_flush(r.b);
    assert_false(pal_send_batch_pending(r.b));
    assert_int_equal(peer_drain(&r.rx, &next), 20);
    struct pal_send_queue_stats st;
    pal_send_queue_get_stats(r.q, &st);
    assert_int_equal(st.packets, 20);
    assert_int_equal(st.batches, 1);
    assert_int_equal(st.dropped, 0);
    struct pal_send_queue_stats total;
    pal_send_batch_get_stats(r.b, &total);
    assert_memory_equal(&total, &st, sizeof(st));
    rig_close(&r);
}

static void test_full_queue_flushes_itself(void **state)
{
    (void)state;
    struct rig r;
    rig_open(&r, NULL);
    uint32_t next = 0;
    for (uint32_t i = 0; i < PAL_SEND_QUEUE_MAX; i++)
        push_numbered(r.q, i);
    assert_int_equal(peer_drain(&r.rx, &next), 0);
    push_numbered(r.q, PAL_SEND_QUEUE_MAX); /* no room: the first 64 leave */
    assert_int_equal(peer_drain(&r.rx, &next), PAL_SEND_QUEUE_MAX);
    assert_int_equal(pal_send_queue_length(r.q), 1);
    pal_send_queue_flush(r.q);
    assert_int_equal(peer_drain(&r.rx, &next), 1);
    rig_close(&r);
}

/* Sizes as a frame's packets and RTCP mix: GSO runs (equal sizes, a
 * shorter one closing a run), single datagrams between them. no_check:
 * SO_NO_CHECK makes the kernel refuse UDP_SEGMENT (EINVAL), as a route
 * without checksum offload would: the queue falls back to one datagram per
 * message. Either way the receiver gets the same datagrams in order. */
static void check_gso(bool no_check)
{
    static const uint16_t sizes[] = {1200, 1200, 1200, 900, 1200, 1200, 80, 80, 1300,
                                     1216, 1216, 1216, 1216, 1216, 1216, 1216, 1216, 60};
    enum { N = sizeof(sizes) / sizeof(sizes[0]) };
    struct rig r;
    rig_open(&r, NULL);
    int one = 1;
    if (no_check)
        assert_int_equal(setsockopt(r.tx, SOL_SOCKET, SO_NO_CHECK, &one, sizeof(one)), 0);
    for (int round = 0; round < 2; round++) {
        for (uint32_t i = 0; i < N; i++) {
            uint8_t *slot = pal_send_queue_reserve(r.q);
            memset(slot, (int)i, sizes[i]);
            pal_wr32(slot, i);
            pal_send_queue_commit(r.q, sizes[i]);
        }
        pal_send_batch_flush(r.b);
        uint8_t buf[2048];
        for (uint32_t i = 0; i < N; i++) {
            ssize_t got = recv(r.rx.fd, buf, sizeof(buf), 0);
            assert_int_equal(got, sizes[i]);
            assert_int_equal(pal_rd32(buf), i);
            assert_int_equal(buf[got - 1], (uint8_t)i);
        }
        assert_true(recv(r.rx.fd, buf, sizeof(buf), 0) < 0); /* nothing more */
    }
    struct pal_send_queue_stats st;
    pal_send_queue_get_stats(r.q, &st);
    assert_int_equal(st.packets, 2 * N);
    assert_int_equal(st.dropped, 0);
    if (!no_check) /* one sendmmsg per flush */
        assert_int_equal(st.batches, 2);
    else /* the first flush falls back run by run, the second never tries GSO */
        assert_true(st.batches > 2);
    rig_close(&r);
}

static void test_gso_runs_arrive_as_datagrams(void **state)
{
    (void)state;
    check_gso(false);
}

static void test_gso_refused_falls_back(void **state)
{
    (void)state;
    check_gso(true);
}

/* 9 queues x 60 packets need more slots than the pool has: the reserve
 * that finds it empty flushes every queue, and each receiver still gets
 * its packets in order. */
static void test_empty_pool_flushes_all(void **state)
{
    (void)state;
    enum { NQ = 9, PER = 60 };
    assert_true(NQ * PER > PAL_SEND_POOL && PER < PAL_SEND_QUEUE_MAX);
    struct peer rx[NQ];
    struct pal_send_queue *q[NQ];
    uint32_t next[NQ] = {0}, sent[NQ] = {0};
    int tx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct pal_send_batch *b;
    assert_int_equal(pal_send_batch_create(NULL, &b), 0);
    for (int k = 0; k < NQ; k++) {
        peer_open(&rx[k]);
        assert_int_equal(pal_send_queue_create(b, &q[k]), 0);
        set_dest(q[k], tx, &rx[k]);
    }
    int received = 0;
    for (int i = 0; i < PER; i++)
        for (int k = 0; k < NQ; k++) {
            push_numbered(q[k], sent[k]++);
            for (int j = 0; j < NQ; j++)
                received += peer_drain(&rx[j], &next[j]);
        }
    assert_true(received >= PAL_SEND_POOL && received < NQ * PER); /* one early flush */
    pal_send_batch_flush(b);
    for (int k = 0; k < NQ; k++) {
        peer_drain(&rx[k], &next[k]);
        assert_int_equal(next[k], PER);
        pal_send_queue_destroy(q[k]);
        close(rx[k].fd);
    }
    pal_send_batch_destroy(b);
    close(tx);
}

static void test_iteration_end_flushes(void **state)
{
    (void)state;
    GMainContext *ctx = g_main_context_new();
    struct rig r;
    rig_open(&r, ctx);
    for (uint32_t i = 0; i < 5; i++)
        push_numbered(r.q, i);
    uint32_t next = 0;
    assert_int_equal(peer_drain(&r.rx, &next), 0);
    /* a context driven by someone else (g_main_loop_run, a test) */
    assert_true(g_main_context_iteration(ctx, FALSE));
    assert_int_equal(peer_drain(&r.rx, &next), 5);
    assert_false(g_main_context_pending(ctx)); /* idle: the source sleeps */
    rig_close(&r);
    g_main_context_unref(ctx);
}

/* 255.255.255.255 without SO_BROADCAST: the kernel refuses each datagram
 * (EACCES) before anything leaves, as it would with EAGAIN or ENOBUFS. */
static void test_refused_datagrams_are_dropped(void **state)
{
    (void)state;
    int tx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in bc = {.sin_family = AF_INET, .sin_port = htons(9),
                             .sin_addr.s_addr = htonl(INADDR_BROADCAST)};
    struct pal_send_batch *b;
    struct pal_send_queue *q;
    assert_int_equal(pal_send_batch_create(NULL, &b), 0);
    assert_int_equal(pal_send_queue_create(b, &q), 0);
    for (uint32_t i = 0; i < 3; i++) /* no destination yet: dropped */
        push_numbered(q, i);
    assert_int_equal(pal_send_queue_length(q), 0);
    pal_send_queue_set_dest(q, tx, (const struct sockaddr *)&bc, sizeof(bc));
    for (uint32_t i = 0; i < 4; i++)
        push_numbered(q, i);
    pal_send_batch_flush(b);
    struct pal_send_queue_stats st;
    pal_send_queue_get_stats(q, &st);
    assert_int_equal(st.dropped, 3 + 4);
    assert_int_equal(st.packets, 0);
    assert_int_equal(pal_send_queue_length(q), 0);
    pal_send_queue_destroy(q);
    /* the batch keeps the count of its closed queues (/metrics reads it) */
    struct pal_send_queue_stats total;
    pal_send_batch_get_stats(b, &total);
    assert_int_equal(total.dropped, 3 + 4);
    assert_int_equal(total.packets, 0);
    assert_int_equal(total.batches, st.batches);
    pal_send_batch_destroy(b);
    close(tx);
}

static void test_new_destination_after_queued_ones(void **state)
{
    (void)state;
    struct peer a, c;
    peer_open(&a);
    peer_open(&c);
    int tx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct pal_send_batch *b;
    struct pal_send_queue *q;
    assert_int_equal(pal_send_batch_create(NULL, &b), 0);
    assert_int_equal(pal_send_queue_create(b, &q), 0);
    set_dest(q, tx, &a);
    for (uint32_t i = 0; i < 3; i++)
        push_numbered(q, i);
    set_dest(q, tx, &c); /* e.g. ICE selected another pair */
    for (uint32_t i = 0; i < 2; i++)
        push_numbered(q, i);
    uint32_t na = 0, nc = 0;
    assert_int_equal(peer_drain(&a, &na), 3);
    assert_int_equal(peer_drain(&c, &nc), 0);
    pal_send_batch_flush(b);
    assert_int_equal(peer_drain(&a, &na), 0);
    assert_int_equal(peer_drain(&c, &nc), 2);
    uint8_t big[PAL_SEND_SLOT + 1] = {0};
    assert_int_equal(pal_send_queue_push(q, big, sizeof(big)), -EMSGSIZE);
    pal_send_queue_destroy(q);
    pal_send_batch_destroy(b);
    close(tx);
    close(a.fd);
    close(c.fd);
}

/* Before ICE has selected a pair (or on a relayed one) there is no slot:
 * the transport protects in place and pal_ice_send goes through libnice,
 * which refuses while nothing is connected. */
static void test_ice_without_pair_falls_back(void **state)
{
    (void)state;
    GMainContext *ctx = g_main_context_new();
    g_main_context_push_thread_default(ctx);
    struct pal_send_batch *b;
    assert_int_equal(pal_send_batch_create(ctx, &b), 0);
    struct pal_media_config cfg = {.add_loopback = true, .interfaces = "lo"};
    struct pal_media_ice_params local = {.ufrag = "abcd", .pwd = "0123456789012345678901"};
    struct pal_ice_listener l = {0};
    struct pal_ice *ice;
    assert_int_equal(pal_ice_create(ctx, &cfg, true, &local, b, &l, &ice), 0);
    assert_null(pal_ice_send_slot(ice));
    uint8_t pkt[100] = {0x80};
    assert_int_equal(pal_ice_send(ice, pkt, sizeof(pkt)), -ENOTCONN);
    assert_false(pal_send_batch_pending(b));
    uint64_t calls, dropped;
    pal_ice_get_send_stats(ice, &calls, &dropped);
    assert_int_equal(calls, 0);
    pal_ice_destroy(ice);
    while (g_main_context_iteration(ctx, FALSE))
        ;
    pal_send_batch_destroy(b);
    g_main_context_pop_thread_default(ctx);
    g_main_context_unref(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_one_sendmmsg),
        cmocka_unit_test(test_full_queue_flushes_itself),
        cmocka_unit_test(test_empty_pool_flushes_all),
        cmocka_unit_test(test_iteration_end_flushes),
        cmocka_unit_test(test_refused_datagrams_are_dropped),
        cmocka_unit_test(test_new_destination_after_queued_ones),
        cmocka_unit_test(test_gso_runs_arrive_as_datagrams),
        cmocka_unit_test(test_gso_refused_falls_back),
        cmocka_unit_test(test_ice_without_pair_falls_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
