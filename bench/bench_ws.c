/* bench_ws: chat load on the signaling server: thousands of WebSocket clients
 * in one thread.
 *
 *   bench_ws --port P [--clients N] [--rooms R] [--pid SERVER_PID]
 *            [--rate MSGS_PER_S | --window W] [--seconds S] [--size BYTES]
 *
 * Every client connects to ws://127.0.0.1:P/ws and joins room "b<k>" (k = i % R).
 * Then, after one second of warm-up at the same load, for --seconds:
 *   --rate R    open loop: R chat_send per second in total, spread round-robin
 *               over the clients; each message is stamped when it is scheduled,
 *               so client-side queueing counts in its latency.
 *   --window W  saturation: each client keeps W sends unacknowledged.
 *   neither     idle: only the server's RSS is measured (--pid), before the
 *               first connection and once every client has joined.
 * A delivery is a chat_message event received by another member of the room;
 * its latency is receive time minus the stamp carried in the text (both are
 * this process's CLOCK_MONOTONIC). With --pid, the server's CPU time over the
 * window is read from /proc.
 *
 * Why not the libwebsockets client: this load tool shares the 2 cores with the
 * server, so it must cost much less than the server per message. Debian's lws
 * 4.1 runs its default loop on poll(), which scans every descriptor on every
 * wakeup: with 500 clients the lws client already used a whole core for 69k
 * deliveries/s (perf: sock_poll/tcp_poll on top). Its libev plugin uses epoll
 * but then lws_service() owns the loop and never returns to this program.
 * So the client side of RFC 6455 we need (upgrade request, masked text frames
 * out, unmasked text/ping/close frames in) is written here over epoll: about
 * 150 lines. The server under test is unchanged.
 *
 * Output: "key=value" lines (bench/chat.sh makes the table). Exit code 0 when
 * every client joined and no request failed. */
#include "palabre/common.h"
#include "ws_frame.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define TXQ 64                 /* scheduled sends per client (power of two) */
#define HIST_US 10             /* histogram bucket width */
#define HIST_N 200000          /* up to 2 s; above goes to the last bucket */
#define CONNECTS_PER_TICK 50   /* connection attempts per 5 ms */

enum cstate { C_IDLE, C_CONNECTING, C_UPGRADING, C_JOINING, C_JOINED, C_DEAD };

struct buf {
    char *p;
    size_t len, cap;
};

struct client {
    int fd, idx;
    enum cstate state;
    char room[16];
    bool want_out;
    /* scheduled sends, stamps in µs */
    int64_t txq[TXQ];
    unsigned tx_head, tx_tail;
    int unacked;
    uint64_t seq;
    struct buf in, out, msg; /* bytes read, bytes not yet written, message being assembled */
};

static struct {
    /* options */
    int port, n_clients, n_rooms, rate, window, seconds, size, pid;
    /* state */
    int ep;
    struct client *clients;
    int next_connect, n_joined, n_dead, rr;
    bool running, measuring, done;
    int64_t t_start, t_end, next_connect_us;
    uint64_t scheduled, sent, acked, delivered, errors, local_drops, mask_state;
    uint32_t *hist;
    char run_id[9];
} B = {.port = 8080, .n_clients = 100, .n_rooms = 10, .seconds = 5, .size = 64};

static long rss_kib(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

/* CPU time (user + system) of a process, in µs, from /proc/PID/stat. */
static int64_t cpu_us(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    unsigned long long ut = 0, st = 0;
    /* fields 14 and 15, after "pid (comm) state" */
    int ok = f && fscanf(f, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                         &st) == 2;
    if (f)
        fclose(f);
    return ok ? (int64_t)(ut + st) * 1000000 / sysconf(_SC_CLK_TCK) : -1;
}

static void buf_append(struct buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void buf_consume(struct buf *b, size_t n)
{
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}

static void kill_client(struct client *c, const char *why)
{
    if (c->state == C_DEAD)
        return;
    if (!B.done && B.n_dead < 5)
        fprintf(stderr, "client %d: %s\n", c->idx, why);
    if (c->state == C_JOINED)
        B.n_joined--;
    B.n_dead++;
    c->state = C_DEAD;
    close(c->fd);
    c->fd = -1;
}

static void watch(struct client *c, bool out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    c->want_out = out;
    epoll_ctl(B.ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what is pending; keeps the rest for EPOLLOUT. */
static void flush_out(struct client *c)
{
    while (c->out.len) {
        ssize_t n = write(c->fd, c->out.p, c->out.len);
        if (n < 0) {
            if (errno == EAGAIN)
                break;
            kill_client(c, "write failed");
            return;
        }
        buf_consume(&c->out, (size_t)n);
    }
    if ((c->out.len > 0) != c->want_out)
        watch(c, c->out.len > 0);
}

/* RFC 6455 5.2: a client frame is masked.
 *  0                   1                   2                   3
 * +-+-+-+-+-------+-+-------------+-------------------------------+
 * |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
 * |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
 * +-+-+-+-+-------+-+-------------+-------------------------------+
 * |  Masking-key (32 bits)        |          Payload Data ...     |
 * +-------------------------------+-------------------------------+ */
static void send_frame(struct client *c, int opcode, const char *payload, size_t n)
{
    unsigned char hdr[14];
    size_t h = 0;
    hdr[h++] = (unsigned char)(0x80 | opcode);
    if (n < 126) {
        hdr[h++] = (unsigned char)(0x80 | n);
    } else if (n < 65536) {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = (unsigned char)(n >> 8);
        hdr[h++] = (unsigned char)n;
    } else {
        hdr[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            hdr[h++] = (unsigned char)((uint64_t)n >> (8 * i));
    }
    /* A load tool's mask only has to vary (xorshift), not to be secret. */
    B.mask_state ^= B.mask_state << 13;
    B.mask_state ^= B.mask_state >> 7;
    B.mask_state ^= B.mask_state << 17;
    unsigned char *mask = hdr + h;
    memcpy(mask, &B.mask_state, 4);
    h += 4;
    buf_append(&c->out, hdr, h);
    unsigned char *dst = (unsigned char *)c->out.p + c->out.len;
    buf_append(&c->out, payload, n);
    for (size_t i = 0; i < n; i++)
        dst[i] ^= mask[i & 3];
    flush_out(c);
}

static void send_text(struct client *c, const char *json)
{
    send_frame(c, 1, json, strlen(json));
}

/* {"type":"chat_send","id":"s<seq>","text":"B<stamp> xxx","client_msg_id":"<run>-<i>-<seq>"} */
static void send_chat(struct client *c, int64_t stamp)
{
    char text[4096];
    int n = snprintf(text, sizeof(text), "B%lld ", (long long)stamp);
    for (int pad = PAL_MIN(B.size, (int)sizeof(text) - 1); n < pad; n++)
        text[n] = 'x';
    text[n] = '\0';
    char json[4200];
    snprintf(json, sizeof(json),
             "{\"type\":\"chat_send\",\"id\":\"s%llu\",\"text\":\"%s\","
             "\"client_msg_id\":\"%s-%d-%llu\"}",
             (unsigned long long)c->seq, text, B.run_id, c->idx, (unsigned long long)c->seq);
    c->seq++;
    c->unacked++;
    send_text(c, json);
    if (B.measuring)
        B.sent++;
}

static void schedule(struct client *c, int64_t stamp)
{
    if (c->state != C_JOINED || c->tx_head - c->tx_tail == TXQ) {
        B.local_drops++;
        return;
    }
    c->txq[c->tx_head++ % TXQ] = stamp;
    B.scheduled++;
}

/* Sends what is scheduled while the socket takes it. */
static void pump(struct client *c)
{
    while (c->state == C_JOINED && c->tx_tail != c->tx_head && !c->out.len)
        send_chat(c, c->txq[c->tx_tail++ % TXQ]);
}

static void record_latency(int64_t us)
{
    int64_t b = us / HIST_US;
    B.hist[b < 0 ? 0 : b >= HIST_N ? HIST_N - 1 : b]++;
}

/* The stamp in a chat_message event: the digits after "B in its text. */
static bool event_stamp(const char *msg, int64_t *stamp)
{
    const char *t = strstr(msg, "\"text\"");
    if (!t || !(t = strstr(t + 6, "\"B")))
        return false;
    *stamp = strtoll(t + 2, NULL, 10);
    return true;
}

static void on_message(struct client *c, const char *msg, size_t len)
{
    int64_t stamp;
    if (strstr(msg, "\"chat_message\"") && event_stamp(msg, &stamp)) {
        if (B.measuring) {
            B.delivered++;
            record_latency(pal_now_us() - stamp);
        }
        return;
    }
    json_t *j = json_loadb(msg, len, 0, NULL);
    const char *type = json_string_value(json_object_get(j, "type"));
    if (type && strcmp(type, "response") == 0) {
        if (!json_is_true(json_object_get(j, "ok"))) {
            if (B.errors++ < 5)
                fprintf(stderr, "client %d: error response: %.*s\n", c->idx, (int)len, msg);
        } else if (c->state == C_JOINING) {
            c->state = C_JOINED;
            B.n_joined++;
        } else {
            c->unacked--;
            if (B.measuring)
                B.acked++;
            if (B.window && B.running && c->unacked < B.window)
                schedule(c, pal_now_us());
        }
    }
    json_decref(j);
}

/* Server frames are not masked; text may come in fragments; pings get pongs. */
static void parse_frames(struct client *c)
{
    size_t off = 0;
    unsigned char *p = (unsigned char *)c->in.p;
    while (c->state != C_DEAD && c->in.len - off >= 2) {
        unsigned char *f = p + off;
        size_t avail = c->in.len - off;
        struct ws_frame fr;
        if (!ws_frame_header(f, avail, &fr))
            break;
        uint64_t n = fr.len;
        size_t h = fr.header;
        if (fr.masked || n > (1u << 24)) {
            kill_client(c, "bad frame from server");
            return;
        }
        if (avail - h < n)
            break;
        int opcode = fr.opcode;
        const char *payload = (const char *)f + h;
        if (opcode == 0 || opcode == 1) {
            buf_append(&c->msg, payload, n);
            if (fr.fin) {
                c->msg.p[c->msg.len] = '\0';
                on_message(c, c->msg.p, c->msg.len);
                c->msg.len = 0;
            }
        } else if (opcode == 9) {
            send_frame(c, 10, payload, n);
        } else if (opcode == 8) {
            kill_client(c, "closed by the server");
            return;
        }
        off += h + n;
    }
    buf_consume(&c->in, off);
}

static void on_upgrade_reply(struct client *c)
{
    char *end = memmem(c->in.p, c->in.len, "\r\n\r\n", 4);
    if (!end)
        return;
    if (c->in.len < 12 || memcmp(c->in.p, "HTTP/1.1 101", 12) != 0) {
        c->in.p[PAL_MIN(c->in.len, 40)] = '\0';
        kill_client(c, c->in.p);
        return;
    }
    buf_consume(&c->in, (size_t)(end + 4 - c->in.p));
    c->state = C_JOINING;
    char json[128];
    snprintf(json, sizeof(json), "{\"type\":\"join\",\"id\":\"j\",\"room\":\"%s\",\"name\":\"bench %d\"}",
             c->room, c->idx);
    c->seq = 1;
    send_text(c, json);
}

static void on_readable(struct client *c)
{
    char tmp[65536];
    for (;;) {
        ssize_t n = read(c->fd, tmp, sizeof(tmp));
        if (n == 0 || (n < 0 && errno != EAGAIN)) {
            kill_client(c, n == 0 ? "connection closed" : "read failed");
            return;
        }
        if (n < 0)
            break;
        buf_append(&c->in, tmp, (size_t)n);
        if ((size_t)n < sizeof(tmp))
            break;
    }
    if (c->state == C_UPGRADING)
        on_upgrade_reply(c);
    if (c->state >= C_JOINING && c->state != C_DEAD)
        parse_frames(c);
}

static void on_writable(struct client *c)
{
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            kill_client(c, strerror(err));
            return;
        }
        c->state = C_UPGRADING;
        char req[256];
        int n = snprintf(req, sizeof(req),
                         "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         "Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:%d\r\n\r\n",
                         B.port, B.port);
        buf_append(&c->out, req, (size_t)n);
    }
    flush_out(c);
}

static void connect_some(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)B.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int k = 0; k < CONNECTS_PER_TICK && B.next_connect < B.n_clients; k++) {
        struct client *c = &B.clients[B.next_connect++];
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->state = C_CONNECTING;
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
            kill_client(c, strerror(errno));
            continue;
        }
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
        c->want_out = true;
        epoll_ctl(B.ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    B.next_connect_us = pal_now_us() + 5000;
}

/* Open loop: schedules what is due since the start, round-robin over clients. */
static void rate_tick(int64_t now)
{
    uint64_t due = (uint64_t)((double)B.rate * (double)(now - B.t_start) / 1e6);
    while (B.scheduled + B.local_drops < due)
        schedule(&B.clients[B.rr++ % B.n_clients], now);
}

/* One turn of the loop: events, then timers and sends. */
static void turn(int64_t deadline)
{
    struct epoll_event evs[256];
    int64_t now = pal_now_us();
    int timeout = (int)PAL_MAX(0, PAL_MIN(deadline - now, 100000) / 1000);
    if (B.next_connect < B.n_clients || (B.running && B.rate))
        timeout = PAL_MIN(timeout, 1);
    int n = epoll_wait(B.ep, evs, (int)PAL_ARRAY_LEN(evs), timeout);
    for (int i = 0; i < n; i++) {
        struct client *c = evs[i].data.ptr;
        if (c->state != C_DEAD && (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            on_writable(c);
        if (c->state != C_DEAD && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
            on_readable(c);
    }
    now = pal_now_us();
    if (B.next_connect < B.n_clients && now >= B.next_connect_us)
        connect_some();
    if (B.running && now >= B.t_end)
        B.running = false;
    if (B.running && B.rate)
        rate_tick(now);
    for (int i = 0; i < B.next_connect; i++)
        if (B.clients[i].tx_tail != B.clients[i].tx_head)
            pump(&B.clients[i]);
}

static void service_until(int64_t deadline, bool (*until)(void))
{
    while (!B.done && pal_now_us() < deadline && !(until && until()))
        turn(deadline);
}

static bool all_joined(void)
{
    return B.next_connect == B.n_clients && B.n_joined + B.n_dead == B.n_clients;
}

static int64_t percentile(double p)
{
    uint64_t total = 0, seen = 0;
    for (int i = 0; i < HIST_N; i++)
        total += B.hist[i];
    if (!total)
        return -1;
    uint64_t want = (uint64_t)(p * (double)total);
    for (int i = 0; i < HIST_N; i++)
        if ((seen += B.hist[i]) > want || seen == total)
            return (int64_t)(i + 1) * HIST_US;
    return -1;
}

static void on_signal(int sig)
{
    B.done = true;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_ws --port P [--clients N] [--rooms R] [--pid SERVER_PID]\n"
                    "                [--rate MSGS_PER_S | --window W] [--seconds S] [--size B]\n");
    exit(2);
}

static void measure_load(void)
{
    B.running = true;
    B.t_start = pal_now_us();
    B.t_end = B.t_start + (1 + (int64_t)B.seconds) * 1000000;
    if (B.window)
        for (int i = 0; i < B.n_clients; i++)
            for (int w = 0; w < B.window; w++)
                schedule(&B.clients[i], B.t_start);
    service_until(B.t_start + 1000000, NULL); /* warm-up */
    B.measuring = true;
    int64_t m0 = pal_now_us(), srv0 = B.pid ? cpu_us(B.pid) : 0, me0 = cpu_us(getpid());
    service_until(B.t_end, NULL);
    int64_t m1 = pal_now_us(), srv1 = B.pid ? cpu_us(B.pid) : 0, me1 = cpu_us(getpid());
    B.running = false;
    uint64_t delivered = B.delivered;
    double secs = (double)(m1 - m0) / 1e6;
    /* Drain: what was sent in the window may still be on its way. */
    service_until(pal_now_us() + 2000000, NULL);
    B.measuring = false;
    printf("mode=%s rate=%d window=%d seconds=%.2f size=%d\n", B.rate ? "rate" : "window", B.rate,
           B.window, secs, B.size);
    printf("sent=%llu acked=%llu delivered=%llu drained=%llu local_drops=%llu errors=%llu\n",
           (unsigned long long)B.sent, (unsigned long long)B.acked,
           (unsigned long long)delivered, (unsigned long long)(B.delivered - delivered),
           (unsigned long long)B.local_drops, (unsigned long long)B.errors);
    printf("sent_per_s=%.0f delivered_per_s=%.0f\n", (double)B.sent / secs,
           (double)delivered / secs);
    if (B.pid)
        printf("server_cpu_pct=%.0f server_cpu_us_per_delivery=%.2f\n",
               100.0 * (double)(srv1 - srv0) / (double)(m1 - m0),
               (double)(srv1 - srv0) / (double)PAL_MAX(delivered, 1));
    printf("client_cpu_pct=%.0f\n", 100.0 * (double)(me1 - me0) / (double)(m1 - m0));
    printf("latency_us p50=%lld p90=%lld p99=%lld p999=%lld\n", (long long)percentile(0.50),
           (long long)percentile(0.90), (long long)percentile(0.99), (long long)percentile(0.999));
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        int *dst = NULL;
        const char *a = argv[i];
        if (!strcmp(a, "--port")) dst = &B.port;
        else if (!strcmp(a, "--clients")) dst = &B.n_clients;
        else if (!strcmp(a, "--rooms")) dst = &B.n_rooms;
        else if (!strcmp(a, "--rate")) dst = &B.rate;
        else if (!strcmp(a, "--window")) dst = &B.window;
        else if (!strcmp(a, "--seconds")) dst = &B.seconds;
        else if (!strcmp(a, "--size")) dst = &B.size;
        else if (!strcmp(a, "--pid")) dst = &B.pid;
        if (!dst || i + 1 >= argc)
            usage();
        *dst = atoi(argv[++i]);
    }
    if (B.n_clients < 1 || B.n_rooms < 1 || B.seconds < 1 || B.size < 24 || B.size > 4000 ||
        B.window > TXQ || (B.rate && B.window))
        usage();
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    pal_random_hex(B.run_id, 4);
    pal_random_bytes(&B.mask_state, sizeof(B.mask_state));
    B.mask_state |= 1;
    B.hist = calloc(HIST_N, sizeof(*B.hist));
    B.clients = calloc((size_t)B.n_clients, sizeof(*B.clients));
    B.ep = epoll_create1(EPOLL_CLOEXEC);
    if (!B.hist || !B.clients || B.ep < 0)
        return 1;
    for (int i = 0; i < B.n_clients; i++) {
        B.clients[i].idx = i;
        B.clients[i].fd = -1;
        snprintf(B.clients[i].room, sizeof(B.clients[i].room), "b%d", i % B.n_rooms);
    }

    long rss0 = B.pid ? rss_kib(B.pid) : -1;
    int64_t t0 = pal_now_us();
    service_until(t0 + 60 * 1000000LL, all_joined);
    printf("clients=%d rooms=%d joined=%d failed=%d join_seconds=%.2f\n", B.n_clients, B.n_rooms,
           B.n_joined, B.n_dead, (double)(pal_now_us() - t0) / 1e6);
    bool ok = B.n_joined == B.n_clients;
    if (B.pid) {
        service_until(pal_now_us() + 1000000, NULL); /* let the server settle */
        long rss1 = rss_kib(B.pid);
        printf("server_rss_before_kib=%ld server_rss_after_kib=%ld rss_per_conn_bytes=%.0f\n",
               rss0, rss1, (double)(rss1 - rss0) * 1024.0 / (double)PAL_MAX(B.n_joined, 1));
    }
    if (ok && (B.rate || B.window))
        measure_load();
    ok = ok && B.errors == 0 && B.n_dead == 0;
    B.done = true;
    for (int i = 0; i < B.n_clients; i++) {
        struct client *c = &B.clients[i];
        if (c->fd >= 0)
            close(c->fd);
        free(c->in.p);
        free(c->out.p);
        free(c->msg.p);
    }
    close(B.ep);
    free(B.clients);
    free(B.hist);
    return ok ? 0 : 1;
}
