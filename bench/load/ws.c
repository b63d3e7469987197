/* WebSocket client for palabre-load. See ws.h. */
#include "ws.h"

#include "../ws_frame.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>

#include "palabre/common.h"
#include "palabre/loop.h"

#define WS_MAX_MESSAGE (4u << 20) /* a subscribe offer of a 50-person room is ~40 kB */

struct load_ws {
    /* owned */
    GSource *src;
    uint8_t *in;  /* bytes read, not yet framed */
    uint8_t *msg; /* fragments of the message being assembled */
    /* state */
    int fd;
    size_t in_len, in_cap, msg_len, msg_cap;
    bool closed, open;
    GMainContext *ctx;
    char *request; /* the upgrade request, sent once connected */
    struct load_ws_listener l;
};

static int parse_url(const char *url, char *host, size_t hcap, char *port, size_t pcap,
                     char *path, size_t pathcap)
{
    if (strncmp(url, "ws://", 5) != 0)
        return -EINVAL;
    const char *h = url + 5, *slash = strchr(h, '/'), *colon = strchr(h, ':');
    if (!slash)
        slash = h + strlen(h);
    if (!colon || colon > slash)
        return -EINVAL;
    if ((size_t)(colon - h) >= hcap || (size_t)(slash - colon - 1) >= pcap || colon == h)
        return -EINVAL;
    snprintf(host, hcap, "%.*s", (int)(colon - h), h);
    snprintf(port, pcap, "%.*s", (int)(slash - colon - 1), colon + 1);
    snprintf(path, pathcap, "%s", *slash ? slash : "/");
    return 0;
}

static bool grow(uint8_t **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    uint8_t *n = realloc(*p, c);
    if (!n)
        return false;
    *p = n;
    *cap = c;
    return true;
}

static void close_link(struct load_ws *ws, const char *why)
{
    if (ws->closed)
        return;
    ws->closed = true;
    if (ws->src) {
        g_source_destroy(ws->src);
        g_source_unref(ws->src);
        ws->src = NULL;
    }
    if (ws->l.on_ws_closed)
        ws->l.on_ws_closed(ws->l.ctx, why);
}

static int write_all(struct load_ws *ws, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(ws->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct pollfd pfd = {.fd = ws->fd, .events = POLLOUT};
            if (poll(&pfd, 1, 1000) > 0)
                continue;
        }
        return -EIO;
    }
    return 0;
}

static int send_frame(struct load_ws *ws, int opcode, const uint8_t *payload, size_t n)
{
    if (ws->closed)
        return -EIO;
    uint8_t stack[4096], *frame = stack;
    size_t need = n + 14;
    if (need > sizeof(stack) && !(frame = malloc(need)))
        return -ENOMEM;
    size_t h = 0;
    frame[h++] = (uint8_t)(0x80 | opcode);
    if (n < 126) {
        frame[h++] = (uint8_t)(0x80 | n);
    } else if (n < 65536) {
        frame[h++] = 0x80 | 126;
        frame[h++] = (uint8_t)(n >> 8);
        frame[h++] = (uint8_t)n;
    } else {
        frame[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            frame[h++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    uint8_t mask[4];
    pal_random_bytes(mask, sizeof(mask));
    memcpy(frame + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < n; i++)
        frame[h + i] = payload[i] ^ mask[i & 3];
    int rc = write_all(ws, frame, h + n);
    if (frame != stack)
        free(frame);
    if (rc)
        close_link(ws, "write failed");
    return rc;
}

int load_ws_send(struct load_ws *ws, const char *text, size_t len)
{
    return send_frame(ws, 1, (const uint8_t *)text, len);
}

/* Frames every complete frame in ws->in. Returns false once closed. */
static bool parse_frames(struct load_ws *ws)
{
    size_t off = 0;
    while (!ws->closed) {
        uint8_t *p = ws->in + off;
        size_t avail = ws->in_len - off;
        struct ws_frame fr;
        if (!ws_frame_header(p, avail, &fr))
            break;
        /* servers do not mask, but tolerate it */
        bool fin = fr.fin, masked = fr.masked;
        int opcode = fr.opcode;
        uint64_t n = fr.len;
        size_t h = fr.header;
        if (n > WS_MAX_MESSAGE) {
            close_link(ws, "frame too large");
            return false;
        }
        if (avail < h + n)
            break;
        uint8_t *data = p + h;
        if (masked)
            for (uint64_t i = 0; i < n; i++)
                data[i] ^= p[h - 4 + (i & 3)];
        off += h + (size_t)n;
        switch (opcode) {
        case 0: /* continuation */
        case 1: /* text */
        case 2: /* binary: kept as text; the protocols we speak never send it */
            if (opcode != 0)
                ws->msg_len = 0;
            if (ws->msg_len + n + 1 > WS_MAX_MESSAGE ||
                !grow(&ws->msg, &ws->msg_cap, ws->msg_len + n + 1)) {
                close_link(ws, "message too large");
                return false;
            }
            memcpy(ws->msg + ws->msg_len, data, (size_t)n);
            ws->msg_len += (size_t)n;
            if (fin) {
                ws->msg[ws->msg_len] = '\0';
                size_t len = ws->msg_len;
                ws->msg_len = 0;
                if (ws->l.on_ws_message)
                    ws->l.on_ws_message(ws->l.ctx, (char *)ws->msg, len);
            }
            break;
        case 8:
            send_frame(ws, 8, data, n >= 2 ? 2 : 0);
            close_link(ws, "close frame");
            return false;
        case 9:
            send_frame(ws, 10, data, (size_t)n);
            break;
        default:
            break;
        }
    }
    if (ws->closed)
        return false;
    memmove(ws->in, ws->in + off, ws->in_len - off);
    ws->in_len -= off;
    return true;
}

static gboolean on_readable(gint fd, GIOCondition cond, gpointer ud)
{
    (void)cond;
    struct load_ws *ws = ud;
    for (;;) {
        if (!grow(&ws->in, &ws->in_cap, ws->in_len + 65536)) {
            close_link(ws, "out of memory");
            return G_SOURCE_REMOVE;
        }
        ssize_t r = recv(fd, ws->in + ws->in_len, ws->in_cap - ws->in_len, MSG_DONTWAIT);
        if (r > 0) {
            ws->in_len += (size_t)r;
            if (!parse_frames(ws))
                return G_SOURCE_REMOVE; /* close_link removed the source */
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return G_SOURCE_CONTINUE;
        close_link(ws, r == 0 ? "connection closed by the server" : "read error");
        return G_SOURCE_REMOVE;
    }
}

static void watch(struct load_ws *ws, GIOCondition cond, GSourceFunc fn)
{
    if (ws->src) {
        g_source_destroy(ws->src);
        g_source_unref(ws->src);
    }
    ws->src = g_unix_fd_source_new(ws->fd, cond | G_IO_HUP | G_IO_ERR);
    g_source_set_callback(ws->src, fn, ws, NULL);
    g_source_attach(ws->src, ws->ctx);
}

/* The reply to the upgrade request; then frames. */
static gboolean on_upgrade_reply(gint fd, GIOCondition cond, gpointer ud)
{
    (void)cond;
    struct load_ws *ws = ud;
    if (!grow(&ws->in, &ws->in_cap, ws->in_len + 4097)) {
        close_link(ws, "out of memory");
        return G_SOURCE_REMOVE;
    }
    ssize_t r = recv(fd, ws->in + ws->in_len, 4096, MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
    if (r <= 0) {
        close_link(ws, "connection closed during the upgrade");
        return G_SOURCE_REMOVE;
    }
    ws->in_len += (size_t)r;
    ws->in[ws->in_len] = '\0';
    char *end = strstr((char *)ws->in, "\r\n\r\n");
    if (!end) {
        if (ws->in_len > 16384)
            close_link(ws, "upgrade reply too long");
        return ws->closed ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
    }
    if (strncmp((char *)ws->in, "HTTP/1.1 101", 12) != 0) {
        close_link(ws, "upgrade refused");
        return G_SOURCE_REMOVE;
    }
    size_t used = (size_t)(end + 4 - (char *)ws->in);
    memmove(ws->in, ws->in + used, ws->in_len - used);
    ws->in_len -= used;
    ws->open = true;
    watch(ws, G_IO_IN, (GSourceFunc)(void (*)(void))on_readable);
    if (ws->l.on_ws_open)
        ws->l.on_ws_open(ws->l.ctx);
    if (!ws->closed && ws->in_len)
        parse_frames(ws);
    return G_SOURCE_REMOVE; /* watch() replaced this source */
}

/* The TCP connection is up (or failed): send the upgrade request. */
static gboolean on_connected(gint fd, GIOCondition cond, gpointer ud)
{
    (void)cond;
    struct load_ws *ws = ud;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        close_link(ws, "connection refused");
        return G_SOURCE_REMOVE;
    }
    int rc = write_all(ws, (const uint8_t *)ws->request, strlen(ws->request));
    g_free(ws->request);
    ws->request = NULL;
    if (rc) {
        close_link(ws, "cannot send the upgrade request");
        return G_SOURCE_REMOVE;
    }
    watch(ws, G_IO_IN, (GSourceFunc)(void (*)(void))on_upgrade_reply);
    return G_SOURCE_REMOVE;
}

int load_ws_connect(GMainContext *ctx, const char *url, const char *subprotocol,
                    const struct load_ws_listener *l, struct load_ws **out)
{
    *out = NULL;
    char host[256], port[16], path[512];
    if (parse_url(url, host, sizeof(host), port, sizeof(port), path, sizeof(path)))
        return -EINVAL;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(host, port, &hints, &ai) != 0)
        return -EINVAL;
    struct load_ws *ws = calloc(1, sizeof(*ws));
    if (!ws) {
        freeaddrinfo(ai);
        return -ENOMEM;
    }
    ws->l = *l;
    ws->ctx = ctx;
    /* Non-blocking from the start: hundreds of participants connect while
     * the others' media flows on the same loop. */
    ws->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    pal_loop_resync(); /* a new fd for the loop's epoll set (palabre/loop.h) */
    int rc = ws->fd < 0 ? -ECONNREFUSED : 0;
    if (!rc && connect(ws->fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS)
        rc = -ECONNREFUSED;
    freeaddrinfo(ai);
    if (!rc) {
        int one = 1;
        setsockopt(ws->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        uint8_t key_raw[16];
        pal_random_bytes(key_raw, sizeof(key_raw));
        gchar *key = g_base64_encode(key_raw, sizeof(key_raw));
        ws->request = g_strdup_printf(
            "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
            "Sec-WebSocket-Version: 13\r\n%s%s%s\r\n",
            path, host, port, key, subprotocol ? "Sec-WebSocket-Protocol: " : "",
            subprotocol ? subprotocol : "", subprotocol ? "\r\n" : "");
        g_free(key);
    }
    if (rc) {
        if (ws->fd >= 0)
            close(ws->fd);
        free(ws);
        return rc;
    }
    watch(ws, G_IO_OUT, (GSourceFunc)(void (*)(void))on_connected);
    *out = ws;
    return 0;
}

void load_ws_destroy(struct load_ws *ws)
{
    if (!ws)
        return;
    if (!ws->closed && ws->open)
        send_frame(ws, 8, (const uint8_t *)"\x03\xe8", 2);
    ws->closed = true;
    if (ws->src) {
        g_source_destroy(ws->src);
        g_source_unref(ws->src);
    }
    close(ws->fd);
    g_free(ws->request);
    free(ws->in);
    free(ws->msg);
    free(ws);
}
