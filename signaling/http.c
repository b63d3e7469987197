/* Static file serving for the browser client (signaling/web), /healthz, and
 * the Origin check. Files are sent by lws_serve_http_file. */
#include "palabre/http.h"

#include <libwebsockets.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "palabre/common.h"
#include "palabre/drain.h"
#include "palabre/log.h"
#include "palabre/metrics.h"
#include "palabre/server.h"
#include "palabre/signaling.h"

static const char CSP[] = "default-src 'self'; connect-src 'self' ws: wss:; "
                          "media-src 'self' blob: mediastream:; img-src 'self' data: blob:";
/* a year: browsers then refuse plain HTTP to the site and any certificate
 * error, for as long as the site keeps answering over HTTPS */
static const char HSTS[] = "max-age=31536000";

const char *pal_http_mime(const char *path)
{
    static const struct {
        const char *ext, *mime;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".json", "application/json"},
        {".woff2", "font/woff2"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
        {".webmanifest", "application/manifest+json"},
    };
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash))
        return NULL;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcasecmp(dot, types[i].ext) == 0)
            return types[i].mime;
    return NULL;
}

enum pal_http_route pal_http_route(const char *web_root, const char *path, char *out, size_t outlen)
{
    if (strcmp(path, "/healthz") == 0)
        return PAL_HTTP_HEALTHZ;
    if (strcmp(path, "/readyz") == 0)
        return PAL_HTTP_READYZ;
    if (strcmp(path, "/admin/drain") == 0)
        return PAL_HTTP_ADMIN_DRAIN;
    if (strcmp(path, "/metrics") == 0)
        return PAL_HTTP_METRICS;
    if (path[0] != '/')
        return PAL_HTTP_NOT_FOUND;
    const char *rel = path + 1;
    if (strcmp(path, "/") == 0 || strncmp(path, "/r/", 3) == 0)
        rel = "index.html";
    if (!*rel || strchr(rel, '\\') || strstr(rel, "//"))
        return PAL_HTTP_NOT_FOUND;
    /* refuse any segment that starts with '.' (covers "..", ".git", ".env") */
    for (const char *seg = rel; seg; seg = strchr(seg, '/')) {
        if (*seg == '/')
            seg++;
        if (*seg == '.' || *seg == '\0')
            return PAL_HTTP_NOT_FOUND;
    }
    if (snprintf(out, outlen, "%s/%s", web_root, rel) >= (int)outlen)
        return PAL_HTTP_NOT_FOUND;
    struct stat st;
    if (stat(out, &st) || !S_ISREG(st.st_mode) || !pal_http_mime(out))
        return PAL_HTTP_NOT_FOUND;
    /* symlinks pointing outside web_root are refused too */
    char real_root[PATH_MAX], real_file[PATH_MAX];
    if (!realpath(web_root, real_root) || !realpath(out, real_file))
        return PAL_HTTP_NOT_FOUND;
    size_t n = strlen(real_root);
    if (strncmp(real_file, real_root, n) != 0 || real_file[n] != '/')
        return PAL_HTTP_NOT_FOUND;
    return PAL_HTTP_FILE;
}

/* "scheme://host[:port]" → "host[:port]" */
static const char *origin_hostport(const char *origin)
{
    const char *p = strstr(origin, "://");
    return p ? p + 3 : NULL;
}

bool pal_http_origin_allowed(const struct pal_config *cfg, const char *origin, const char *host)
{
    if (cfg->n_allowed_origins == 0) {
        const char *hp = origin_hostport(origin);
        if (!hp || !host || !*host)
            return false;
        size_t n = strlen(hp);
        if (n && hp[n - 1] == '/')
            n--;
        return strlen(host) == n && strncasecmp(hp, host, n) == 0;
    }
    for (int i = 0; i < cfg->n_allowed_origins; i++) {
        if (strcmp(cfg->allowed_origins[i], "*") == 0 ||
            strcasecmp(cfg->allowed_origins[i], origin) == 0)
            return true;
    }
    return false;
}

static void unmap_v4(const char *in, size_t n, char *out, size_t outlen)
{
    if (n > 7 && strncasecmp(in, "::ffff:", 7) == 0 && memchr(in + 7, '.', n - 7)) {
        in += 7;
        n -= 7;
    }
    snprintf(out, outlen, "%.*s", (int)n, in);
}

static bool trusted_proxy(const struct pal_config *cfg, const char *addr)
{
    for (int i = 0; i < cfg->n_trusted_proxies; i++)
        if (strcasecmp(cfg->trusted_proxies[i], addr) == 0)
            return true;
    return false;
}

void pal_http_forwarded_client(const struct pal_config *cfg, const char *peer, const char *xff,
                               char *out, size_t outlen)
{
    unmap_v4(peer, strlen(peer), out, outlen);
    if (!xff || !trusted_proxy(cfg, out))
        return;
    /* from the right: each hop appends the address it saw; the first one
     * that is not ours is the client (anything left of it is the client's word) */
    const char *end = xff + strlen(xff);
    while (end > xff) {
        const char *start = end;
        while (start > xff && start[-1] != ',')
            start--;
        const char *a = start, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        char addr[64];
        if (b > a && (size_t)(b - a) < sizeof(addr)) {
            unmap_v4(a, (size_t)(b - a), addr, sizeof(addr));
            snprintf(out, outlen, "%s", addr);
            if (!trusted_proxy(cfg, addr))
                return;
        }
        end = start > xff ? start - 1 : xff;
    }
}

void pal_http_client_address(struct lws *wsi, const struct pal_config *cfg, char *out,
                             size_t outlen)
{
    char peer[64] = "", xff[512];
    lws_get_peer_simple(wsi, peer, sizeof(peer));
    int n = cfg->n_trusted_proxies
                ? lws_hdr_copy(wsi, xff, sizeof(xff), WSI_TOKEN_X_FORWARDED_FOR)
                : -1;
    pal_http_forwarded_client(cfg, peer, n > 0 ? xff : NULL, out, outlen);
}

const struct lws_token_limits *pal_http_token_limits(size_t served)
{
    static struct lws_token_limits limits;
    unsigned short cut = served + 1 < 65535 ? (unsigned short)(served + 1) : 65535;
    for (size_t i = 0; i < PAL_ARRAY_LEN(limits.token_limit); i++)
        limits.token_limit[i] = cut;
    return &limits;
}

int pal_http_add_security_headers(struct lws *wsi, unsigned char **p, unsigned char *end)
{
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)"content-security-policy:",
                                    (const unsigned char *)CSP, (int)strlen(CSP), p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"x-content-type-options:",
                                    (const unsigned char *)"nosniff", 7, p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"referrer-policy:",
                                    (const unsigned char *)"no-referrer", 11, p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-cache", 8, p, end))
        return -1;
    /* over built-in TLS only: a plain HTTP listener (tests, behind a proxy
     * that sets its own) must not tell browsers to insist on HTTPS */
    if (lws_is_ssl(wsi) &&
        lws_add_http_header_by_name(wsi, (const unsigned char *)"strict-transport-security:",
                                    (const unsigned char *)HSTS, (int)strlen(HSTS), p, end))
        return -1;
    return 0;
}

static int transaction_done(struct lws *wsi)
{
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* [server] metrics: off, loopback only (the default) or anyone. Loopback
 * is the client address: a request through a trusted proxy counts as
 * coming from the address the proxy forwards. */
static bool metrics_allowed(struct lws *wsi, const struct pal_config *cfg)
{
    if (cfg->metrics == PAL_METRICS_ON)
        return true;
    if (cfg->metrics == PAL_METRICS_OFF)
        return false;
    char peer[64];
    pal_http_client_address(wsi, cfg, peer, sizeof(peer));
    return strcmp(peer, "127.0.0.1") == 0 || strcmp(peer, "::1") == 0;
}

bool pal_http_bearer_ok(const char *token, const char *authorization)
{
    if (!token[0])
        return true;
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return false;
    const char *given = authorization + 7;
    while (*given == ' ')
        given++;
    size_t n = strlen(token), m = strlen(given);
    while (m && given[m - 1] == ' ')
        m--;
    /* constant time over the token: it is a secret */
    unsigned char diff = n != m;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(token[i] ^ (i < m ? given[i] : 0));
    return diff == 0;
}

static bool metrics_token_ok(struct lws *wsi, const struct pal_config *cfg)
{
    if (!cfg->metrics_token[0])
        return true;
    char auth[256];
    int n = lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION);
    return n > 0 && pal_http_bearer_ok(cfg->metrics_token, auth);
}

bool pal_http_method_allowed(struct lws *wsi)
{
    return lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0 ||
           lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0;
}

/* A small generated answer: headers now, the body (taken) in WRITEABLE. */
static int answer(struct lws *wsi, unsigned status, const char *type, char *text, char **body,
                  const char *hname, const char *hvalue)
{
    unsigned char buf[LWS_PRE + 1024], *start = &buf[LWS_PRE], *p = start,
                                        *end = &buf[sizeof(buf) - 1];
    free(*body);
    *body = text;
    if (!text)
        return -1;
    if (lws_add_http_common_headers(wsi, status, type, strlen(text), &p, end) ||
        pal_http_add_security_headers(wsi, &p, end) ||
        (hname && lws_add_http_header_by_name(wsi, (const unsigned char *)hname,
                                              (const unsigned char *)hvalue, (int)strlen(hvalue),
                                              &p, end)) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    lws_callback_on_writable(wsi);
    return 0;
}

bool pal_http_has_body(struct lws *wsi)
{
    char cl[24] = "";
    lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH);
    return atoll(cl) > 0 || lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
}

int pal_http_method_not_allowed(struct lws *wsi, char **body)
{
    PAL_DEBUG("http", NULL, NULL, "405");
    return answer(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, "text/plain",
                  strdup("method not allowed\n"), body, "allow:", "GET, HEAD");
}

int pal_http_admin_drain(struct lws *wsi, struct pal_server *srv, char **body)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) <= 0) {
        PAL_DEBUG("http", NULL, NULL, "405 /admin/drain");
        return answer(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, "text/plain",
                      strdup("method not allowed: POST /admin/drain\n"), body, "allow:", "POST");
    }
    char peer[64] = "";
    lws_get_peer_simple(wsi, peer, sizeof(peer));
    if (!pal_drain_loopback_peer(peer)) {
        PAL_WARN("http", NULL, NULL, "403 POST /admin/drain from %s: loopback only", peer);
        return answer(wsi, HTTP_STATUS_FORBIDDEN, "text/plain",
                      strdup("POST /admin/drain is accepted from loopback only\n"), body, NULL,
                      NULL);
    }
    bool started = pal_server_start_drain(srv) == 0;
    PAL_INFO("http", NULL, NULL, "POST /admin/drain from %s: %s", peer,
             started ? "drain started" : "already draining");
    json_t *ev = pal_drain_event(pal_server_drain_deadline_ms(srv), pal_wall_ms());
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    return answer(wsi, started ? 202 : HTTP_STATUS_OK, "application/json", text, body, NULL, NULL);
}

int pal_http_serve(struct lws *wsi, struct pal_server *srv, const char *path, char **body)
{
    const struct pal_config *cfg = pal_server_config(srv);
    char file[PATH_MAX];
    if (pal_server_check_headers(wsi))
        return transaction_done(wsi);
    enum pal_http_route route = pal_http_route(cfg->web_root, path, file, sizeof(file));
    if (route == PAL_HTTP_ADMIN_DRAIN)
        return pal_http_admin_drain(wsi, srv, body);
    if (!pal_http_method_allowed(wsi))
        return pal_http_method_not_allowed(wsi, body);
    unsigned char buf[LWS_PRE + 1024], *start = &buf[LWS_PRE], *p = start,
                                        *end = &buf[sizeof(buf) - 1];
    if (route == PAL_HTTP_METRICS && !metrics_allowed(wsi, cfg))
        route = PAL_HTTP_NOT_FOUND;
    if (route == PAL_HTTP_METRICS && !metrics_token_ok(wsi, cfg)) {
        PAL_WARN("http", NULL, NULL, "401 /metrics: no or wrong bearer token");
        return answer(wsi, HTTP_STATUS_UNAUTHORIZED, "text/plain", strdup("bearer token required\n"),
                      body, "www-authenticate:", "Bearer realm=\"palabre metrics\"");
    }
    /* /healthz is liveness: a draining server is alive (200, "draining"),
     * restarting it would cut the meetings the drain lets finish. /readyz is
     * for load balancers: 503 while draining, so that nobody new is sent. */
    if (route == PAL_HTTP_HEALTHZ)
        return answer(wsi, HTTP_STATUS_OK, "text/plain",
                      strdup(pal_server_draining(srv) ? "draining" : "ok"), body, NULL, NULL);
    if (route == PAL_HTTP_READYZ)
        return answer(wsi, pal_server_draining(srv) ? HTTP_STATUS_SERVICE_UNAVAILABLE : HTTP_STATUS_OK,
                      "text/plain", strdup(pal_server_draining(srv) ? "draining" : "ready"), body,
                      NULL, NULL);
    /* asked by every page (signaling/web/signin.js): with [access] agents =
     * oidc, signaling/oidc.c answers; otherwise sign-in is off, said plainly
     * (a 404 would be an error in the browser's console) */
    if (strcmp(path, "/oidc/me") == 0)
        return answer(wsi, HTTP_STATUS_OK, "application/json", strdup("{\"mode\":\"off\"}"), body,
                      NULL, NULL);
    if (route == PAL_HTTP_METRICS)
        return answer(wsi, HTTP_STATUS_OK, "text/plain; version=0.0.4; charset=utf-8",
                      pal_metrics_render(srv), body, NULL, NULL);
    if (route == PAL_HTTP_NOT_FOUND) {
        PAL_DEBUG("http", NULL, NULL, "404 %s", path);
        if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL))
            return -1;
        return transaction_done(wsi);
    }
    if (pal_http_add_security_headers(wsi, &p, end))
        return -1;
    int n = lws_serve_http_file(wsi, file, pal_http_mime(file), (const char *)start,
                                (int)(p - start));
    if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
        return -1;
    return 0;
}

int pal_http_write_body(struct lws *wsi, char **body)
{
    /* Take it first: completing the transaction may close the connection,
     * whose callback frees what is still pending. */
    char *text = *body;
    *body = NULL;
    size_t n = strlen(text);
    unsigned char *buf = malloc(LWS_PRE + n);
    bool written = false;
    if (buf) {
        memcpy(buf + LWS_PRE, text, n);
        written = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_HTTP_FINAL) == (int)n;
        free(buf);
    }
    free(text);
    return written ? transaction_done(wsi) : -1;
}
