/* Static files of the browser client, /healthz, /readyz, /metrics, POST /admin/drain, and the Origin check of the
 * WebSocket upgrade.
 *
 * Thread: the signaling thread only. Owner: signaling/http.c. */
#ifndef PALABRE_HTTP_H
#define PALABRE_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "palabre/config.h"

struct lws;
struct lws_token_limits;

/* What a GET path maps to. */
enum pal_http_route {
    PAL_HTTP_FILE,
    PAL_HTTP_HEALTHZ,
    PAL_HTTP_READYZ,      /* 200 "ready", 503 "draining" */
    PAL_HTTP_ADMIN_DRAIN, /* POST, from a loopback peer only */
    PAL_HTTP_METRICS,
    PAL_HTTP_NOT_FOUND
};

/* Maps a URL path to a file under web_root (out, outlen): "/" and "/r/<room>"
 * are index.html, other paths are files under web_root; ".." segments,
 * backslashes and hidden files are refused (PAL_HTTP_NOT_FOUND). */
enum pal_http_route pal_http_route(const char *web_root, const char *path, char *out, size_t outlen);
/* MIME type by extension, NULL when the type is not served. */
const char *pal_http_mime(const char *path);
/* allowed_origins empty: the Origin's host[:port] must equal host (the Host
 * header). Otherwise origin must be one of them (exact, e.g.
 * "https://meet.example.fr"). */
bool pal_http_origin_allowed(const struct pal_config *cfg, const char *origin, const char *host);

/* The client's address for per-address limits: the TCP peer, or, when the
 * peer is one of [server] trusted_proxies and X-Forwarded-For is present,
 * the rightmost address of X-Forwarded-For that is not a trusted proxy
 * (what the proxy itself saw). An IPv4-mapped IPv6 address is written as
 * IPv4. Pure: peer and xff (may be NULL) are given. */
void pal_http_forwarded_client(const struct pal_config *cfg, const char *peer, const char *xff,
                               char *out, size_t outlen);
/* The same for a connection whose headers are still there (lws). */
void pal_http_client_address(struct lws *wsi, const struct pal_config *cfg, char *out,
                             size_t outlen);

/* Per-header limits for libwebsockets (lws_context_creation_info's
 * token_limits): every header is cut at `served` + 1 bytes and parsing goes
 * on, so that a request with one header over `served` reaches the 431 check
 * instead of overflowing lws's header buffer, which drops it without a status. */
const struct lws_token_limits *pal_http_token_limits(size_t served);

/* [metrics] token: true when token is empty, or authorization is
 * "Bearer <token>" (compared in constant time). */
bool pal_http_bearer_ok(const char *token, const char *authorization);

/* GET and HEAD only: nothing on the server changes through HTTP. A refused
 * request with a body is answered once the body is read (and dropped):
 * answering before it would close on unread input. */
bool pal_http_method_allowed(struct lws *wsi);
bool pal_http_has_body(struct lws *wsi);
/* 405 with Allow: GET, HEAD (the text left in *body for pal_http_write_body). */
int pal_http_method_not_allowed(struct lws *wsi, char **body);

struct pal_server;
/* POST /admin/drain: starts a drain (202; 200 when one is on) when the TCP
 * peer itself is loopback (X-Forwarded-For is not looked at: a proxy on the
 * same host would be loopback too, so it must not forward /admin/); 403
 * from another peer, 405 for another method. */
int pal_http_admin_drain(struct lws *wsi, struct pal_server *srv, char **body);

/* lws glue: LWS_CALLBACK_HTTP. Small generated answers (/healthz,
 * /metrics) are left in *body (malloc'd) for pal_http_write_body. Returns
 * the callback's return value. */
struct pal_server;
int pal_http_serve(struct lws *wsi, struct pal_server *srv, const char *path, char **body);
/* LWS_CALLBACK_HTTP_WRITEABLE: writes and frees *body. */
int pal_http_write_body(struct lws *wsi, char **body);
/* Adds the security headers (CSP, nosniff, referrer policy; HSTS over TLS). */
int pal_http_add_security_headers(struct lws *wsi, unsigned char **p, unsigned char *end);

#endif
