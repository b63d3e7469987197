/* A small WebSocket client (RFC 6455) on a GMainContext: the signaling link
 * of one synthetic participant of palabre-load.
 *
 * Everything is non-blocking: the connection and the opening handshake
 * complete on the loop (on_ws_open), then frames are read from a glib fd
 * source. The short text frames we send are written directly (a full socket
 * buffer waits up to a second).
 *
 * Why not libwebsockets: the tool runs hundreds of participants on the same
 * loop as their libnice agents (glib), and Debian's lws 4.1 has no glib
 * event loop; bench/bench_ws.c explains the cost of its poll() loop.
 *
 * Thread: the loop's thread only. Callbacks never run inside
 * load_ws_destroy; destroying from a callback is not allowed. */
#ifndef PALABRE_LOAD_WS_H
#define PALABRE_LOAD_WS_H

#include <glib.h>
#include <stddef.h>

struct load_ws;

struct load_ws_listener {
    void *ctx;
    /* The upgrade succeeded: messages may be sent. */
    void (*on_ws_open)(void *ctx);
    /* One complete text message (NUL-terminated; valid during the call). */
    void (*on_ws_message)(void *ctx, char *text, size_t len);
    /* The connection is gone (close frame, error, EOF). Called once. */
    void (*on_ws_closed)(void *ctx, const char *why);
};

/* Starts connecting to url (ws://host:port/path); subprotocol may be NULL.
 * Returns 0 (then on_ws_open or on_ws_closed follows), -EINVAL (bad url),
 * -ECONNREFUSED or -ENOMEM. */
int load_ws_connect(GMainContext *ctx, const char *url, const char *subprotocol,
                    const struct load_ws_listener *l, struct load_ws **out);
/* Sends one text frame (after on_ws_open). Returns 0 or -EIO (the link is
 * then closed). */
int load_ws_send(struct load_ws *ws, const char *text, size_t len);
void load_ws_destroy(struct load_ws *ws);

#endif
