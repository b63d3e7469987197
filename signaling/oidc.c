/* OpenID Connect sign-in: the HTTP routes, the sessions, and the worker
 * thread that talks to the provider (contract: include/palabre/oidc.h).
 *
 * One request, three steps: the signaling thread reads the request and the
 * database (pending sign-in, session) and queues a job of plain data; the
 * worker makes the blocking calls (discovery, token, JWKS, userinfo) and
 * the checks, and queues the result; back on the signaling thread (wake
 * hook) the session is stored and the waiting HTTP connection answered.
 * A connection that closed meanwhile is forgotten: its result is dropped
 * and no session is made for nobody. */
#include "palabre/oidc.h"

#include <cjose/cjose.h>
#include <errno.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/access.h"
#include "palabre/common.h"
#include "palabre/config.h"
#include "palabre/http.h"
#include "palabre/ip_limits.h"
#include "palabre/jwt.h"
#include "palabre/log.h"
#include "palabre/oidc_claims.h"
#include "palabre/oidc_fetch.h"
#include "palabre/oidc_store.h"
#include "palabre/server.h"
#include "palabre/session.h"

#define MOD "oidc"
#define MAX_WAITING 128          /* HTTP requests waiting on the worker */
#define MAX_JOBS 64              /* jobs queued: beyond, 503 */
#define DISCOVERY_TTL_MS 3600000 /* the endpoints are read again after an hour */
#define JWKS_REFETCH_MS 10000    /* an unknown kid refetches the JWKS at most this often */
#define LEEWAY_S 60              /* clock skew on exp and iat */
#define CODE_MAX 2048
#define CHECK_US (5 * LWS_US_PER_SEC) /* open connections' sessions checked this often */
#define FULL_RETRY_S 60               /* Retry-After when the pending sign-ins are full */

enum job_kind { JOB_LOGIN, JOB_CALLBACK, JOB_LOGOUT };

struct job {
    struct job *next;
    enum job_kind kind;
    uint64_t id;
    /* in */
    struct pal_oidc_pending pending;
    char code[CODE_MAX];
    char id_token[8192]; /* logout: the hint */
    /* out */
    int rc; /* 0, or -EHOSTUNREACH & co (provider down: 502), -EACCES (403) */
    char err[300];
    char location[6144];             /* login, logout: where the browser goes */
    struct pal_oidc_session session; /* callback */
};

struct reply {
    int status;
    const char *type;
    char *body, *location, *cookie; /* owned */
    int retry_after;                /* seconds, 429 only */
};

/* A WebSocket opened with a live session: closed when that session ends. */
struct tracked {
    struct pal_session *s; /* borrowed: forgotten at its CLOSED */
    char token[PAL_OIDC_RANDOM_LEN + 1];
};

struct waiting {
    struct lws *wsi; /* borrowed: forgotten at CLOSED_HTTP */
    uint64_t job;    /* 0: the reply is ready */
    struct reply reply;
    bool headers_sent;
};

struct pal_oidc {
    /* borrowed */
    struct pal_server *srv;
    const struct pal_config *cfg;
    /* owned, signaling thread */
    struct pal_oidc_store *store;
    struct waiting waiting[MAX_WAITING];
    struct pal_ip_limits *rate; /* /oidc/login + /oidc/callback per address and minute */
    int64_t rate_swept_ms;
    struct tracked *conns;
    int n_conns, cap_conns;
    struct lws_context *ctx; /* for the check timer, from the first tracked connection */
    lws_sorted_usec_list_t sul_check;
    uint64_t next_job;
    /* shared with the worker, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct job *todo, *done;
    int n_todo;
    bool stop;
    pthread_t thread;
    bool started;
    /* worker thread only */
    struct pal_oidc_provider prov;
    int64_t prov_ms; /* 0: none */
    struct pal_jwt_verifier *keys;
    int64_t jwks_ms;
};

/* ---- small helpers ------------------------------------------------------- */

/* 32 random bytes as 43 base64url characters. */
static int random_b64url(char out[PAL_OIDC_RANDOM_LEN + 1])
{
    uint8_t raw[32];
    char *s = NULL;
    size_t n = 0;
    cjose_err cerr;
    if (RAND_bytes(raw, sizeof(raw)) != 1 ||
        !cjose_base64url_encode(raw, sizeof(raw), &s, &n, &cerr) || n != PAL_OIDC_RANDOM_LEN) {
        cjose_get_dealloc()(s);
        return -EIO;
    }
    memcpy(out, s, n + 1);
    cjose_get_dealloc()(s);
    return 0;
}

/* PKCE S256: base64url(SHA-256(verifier)). */
static int pkce_challenge(const char *verifier, char out[PAL_OIDC_RANDOM_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    char *s = NULL;
    size_t n = 0;
    cjose_err cerr;
    if (!EVP_Digest(verifier, strlen(verifier), md, &mdlen, EVP_sha256(), NULL) ||
        !cjose_base64url_encode(md, mdlen, &s, &n, &cerr) || n != PAL_OIDC_RANDOM_LEN) {
        cjose_get_dealloc()(s);
        return -EIO;
    }
    memcpy(out, s, n + 1);
    cjose_get_dealloc()(s);
    return 0;
}

/* Appends "&name=<escaped value>" (or "?" first) to url. -E2BIG when full. */
static int add_param(char *url, size_t size, const char *name, const char *value)
{
    char *v = pal_oidc_form_escape(value);
    if (!v)
        return -ENOMEM;
    size_t n = strlen(url);
    int w = snprintf(url + n, size - n, "%c%s=%s", strchr(url, '?') ? '&' : '?', name, v);
    free(v);
    return w < 0 || (size_t)w >= size - n ? -E2BIG : 0;
}

static char *html_escape(const char *s)
{
    size_t n = 0;
    for (const char *c = s; *c; c++)
        n += *c == '&' ? 5 : (*c == '<' || *c == '>') ? 4 : *c == '"' ? 6 : 1;
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (const char *c = s; *c; c++) {
        const char *r = *c == '&'   ? "&amp;"
                        : *c == '<' ? "&lt;"
                        : *c == '>' ? "&gt;"
                        : *c == '"' ? "&quot;"
                                    : NULL;
        if (r) {
            strcpy(o, r);
            o += strlen(r);
        } else {
            *o++ = *c;
        }
    }
    *o = '\0';
    return out;
}

/* ---- the worker ---------------------------------------------------------- */

static int fetch(struct pal_oidc *o, const char *url, const char *form, const char *bearer,
                 struct pal_oidc_response *r, char *err, size_t errlen)
{
    return pal_oidc_fetch(url, form, bearer, o->cfg->oidc_ca_file, o->cfg->oidc_timeout_seconds, r,
                          err, errlen);
}

static int discover(struct pal_oidc *o, char *err, size_t errlen)
{
    int64_t now = pal_wall_ms();
    if (o->prov_ms && now - o->prov_ms < DISCOVERY_TTL_MS)
        return 0;
    /* OIDC Discovery 4: the issuer, its trailing "/" removed, then the path */
    char url[600];
    size_t n = strlen(o->cfg->oidc_issuer);
    if (n && o->cfg->oidc_issuer[n - 1] == '/')
        n--;
    snprintf(url, sizeof(url), "%.*s/.well-known/openid-configuration", (int)n,
             o->cfg->oidc_issuer);
    struct pal_oidc_response r;
    int rc = fetch(o, url, NULL, NULL, &r, err, errlen);
    if (rc)
        return rc;
    struct pal_oidc_provider p;
    if (r.status != 200) {
        snprintf(err, errlen, "%.200s: HTTP %ld", url, r.status);
        rc = -EHOSTUNREACH;
    } else
        rc = pal_oidc_discovery_parse(r.body, r.len, o->cfg->oidc_issuer, &p, err, errlen);
    pal_oidc_response_free(&r);
    if (rc)
        return rc == -EINVAL ? -EPROTO : rc;
    o->prov = p;
    o->prov_ms = now;
    return 0;
}

/* Fetches the JWKS: when none is held, or (force) when a token names an
 * unknown kid and the last fetch is JWKS_REFETCH_MS old. */
static int load_keys(struct pal_oidc *o, bool force, char *err, size_t errlen)
{
    int64_t now = pal_wall_ms();
    if (o->keys && (!force || now - o->jwks_ms < JWKS_REFETCH_MS))
        return o->keys ? 0 : -ENOKEY;
    struct pal_oidc_response r;
    int rc = fetch(o, o->prov.jwks_uri, NULL, NULL, &r, err, errlen);
    if (rc)
        return rc;
    o->jwks_ms = now;
    struct pal_jwt_verifier *v = NULL;
    if (r.status != 200) {
        snprintf(err, errlen, "%.150s: HTTP %ld", o->prov.jwks_uri, r.status);
        rc = -EHOSTUNREACH;
    } else
        rc = pal_jwt_verifier_create_jwks(r.body, r.len, o->prov.jwks_uri,
                                          PAL_JWT_ES256 | PAL_JWT_RS256, &v, err, errlen);
    pal_oidc_response_free(&r);
    if (rc)
        return rc == -EHOSTUNREACH ? rc : -EPROTO;
    pal_jwt_verifier_destroy(o->keys);
    o->keys = v;
    PAL_INFO(MOD, NULL, NULL, "provider keys fetched from %s", o->prov.jwks_uri);
    return 0;
}

/* A JWS from the provider, verified with its keys; one refetch on an
 * unknown kid (the provider rotated). */
static int verify_jws(struct pal_oidc *o, const char *token, json_t **claims, char *err,
                      size_t errlen)
{
    int rc = load_keys(o, false, err, errlen);
    if (rc)
        return rc;
    rc = pal_jwt_verify_signature(o->keys, token, claims, err, errlen);
    if (rc == -ENOKEY && load_keys(o, true, err, errlen) == 0)
        rc = pal_jwt_verify_signature(o->keys, token, claims, err, errlen);
    return rc == -ENOKEY ? -EACCES : rc;
}

static void run_login(struct pal_oidc *o, struct job *j)
{
    const struct pal_config *c = o->cfg;
    char challenge[PAL_OIDC_RANDOM_LEN + 1];
    if ((j->rc = discover(o, j->err, sizeof(j->err))))
        return;
    if (c->oidc_pkce && (j->rc = pkce_challenge(j->pending.verifier, challenge)))
        return;
    /* the parameters ProConnect lists (anything else is refused there), PKCE's
     * two unless [oidc] pkce = off, acr_values only when configured */
    char *u = j->location;
    size_t n = sizeof(j->location);
    snprintf(u, n, "%s", o->prov.authorization_endpoint);
    int rc = add_param(u, n, "response_type", "code") ||
             add_param(u, n, "client_id", c->oidc_client_id) ||
             add_param(u, n, "redirect_uri", c->oidc_redirect_uri) ||
             add_param(u, n, "scope", c->oidc_scopes) ||
             add_param(u, n, "state", j->pending.state) ||
             add_param(u, n, "nonce", j->pending.nonce) ||
             (c->oidc_pkce && (add_param(u, n, "code_challenge", challenge) ||
                               add_param(u, n, "code_challenge_method", "S256"))) ||
             (c->oidc_acr_values[0] && add_param(u, n, "acr_values", c->oidc_acr_values));
    if (rc)
        j->rc = -E2BIG;
}

/* The token request: 0 and the ID token and access token (malloc'd). */
static int token_request(struct pal_oidc *o, struct job *j, char **id_token, char **access)
{
    const struct pal_config *c = o->cfg;
    const char *names[] = {"grant_type", "code",          "redirect_uri",
                           "client_id",  "client_secret", "code_verifier"};
    const char *values[] = {"authorization_code",  j->code,
                            c->oidc_redirect_uri,  c->oidc_client_id,
                            c->oidc_client_secret, j->pending.verifier};
    char form[6000] = "";
    /* the verifier comes last: left out with [oidc] pkce = off */
    size_t n_params = PAL_ARRAY_LEN(names) - (c->oidc_pkce ? 0 : 1);
    for (size_t i = 0; i < n_params; i++) {
        char *v = pal_oidc_form_escape(values[i]);
        size_t n = strlen(form);
        if (v)
            snprintf(form + n, sizeof(form) - n, "%s%s=%s", i ? "&" : "", names[i], v);
        free(v);
    }
    struct pal_oidc_response r;
    int rc = fetch(o, o->prov.token_endpoint, form, NULL, &r, j->err, sizeof(j->err));
    if (rc)
        return rc;
    json_error_t jerr;
    json_t *t = json_loadb(r.body, r.len, 0, &jerr);
    const char *idt = json_string_value(json_object_get(t, "id_token"));
    const char *at = json_string_value(json_object_get(t, "access_token"));
    if (r.status != 200 || !idt) {
        const char *e = json_string_value(json_object_get(t, "error"));
        char q[64] = "";
        for (size_t i = 0; e && e[i] && i + 1 < sizeof(q); i++)
            q[i] = (e[i] >= 0x20 && e[i] < 0x7f) ? e[i] : '?';
        snprintf(j->err, sizeof(j->err), "the provider refused the code (HTTP %ld%s%s)", r.status,
                 q[0] ? ", " : "", q);
        rc = r.status >= 500 ? -EHOSTUNREACH : -EACCES;
    } else {
        *id_token = strdup(idt);
        *access = at ? strdup(at) : NULL;
        rc = *id_token ? 0 : -ENOMEM;
    }
    json_decref(t);
    pal_oidc_response_free(&r);
    return rc;
}

static void run_callback(struct pal_oidc *o, struct job *j)
{
    const struct pal_config *c = o->cfg;
    char *idt = NULL, *access = NULL;
    json_t *claims = NULL, *info = NULL;
    char why[200] = "";
    if ((j->rc = discover(o, j->err, sizeof(j->err))) ||
        (j->rc = token_request(o, j, &idt, &access)))
        goto out;
    if (strlen(idt) >= sizeof(j->session.id_token)) {
        snprintf(j->err, sizeof(j->err), "ID token too long");
        j->rc = -EACCES;
        goto out;
    }
    if ((j->rc = verify_jws(o, idt, &claims, why, sizeof(why))) ||
        (j->rc =
             pal_oidc_check_id_token(claims, c->oidc_issuer, c->oidc_client_id, j->pending.nonce,
                                     pal_wall_ms() / 1000, LEEWAY_S, why, sizeof(why)))) {
        snprintf(j->err, sizeof(j->err), "ID token refused: %s", why);
        goto out;
    }
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    if (o->prov.userinfo_endpoint[0] && access) {
        struct pal_oidc_response r;
        if ((j->rc = fetch(o, o->prov.userinfo_endpoint, NULL, access, &r, j->err, sizeof(j->err))))
            goto out;
        if (r.status != 200) {
            snprintf(j->err, sizeof(j->err), "userinfo: HTTP %ld", r.status);
            j->rc = -EACCES;
        } else {
            j->rc = pal_oidc_userinfo_parse(r.content_type, r.body, r.len, o->keys, c->oidc_issuer,
                                            c->oidc_client_id, sub, &info, why, sizeof(why));
            if (j->rc == -ENOKEY && load_keys(o, true, why, sizeof(why)) == 0)
                j->rc =
                    pal_oidc_userinfo_parse(r.content_type, r.body, r.len, o->keys, c->oidc_issuer,
                                            c->oidc_client_id, sub, &info, why, sizeof(why));
            if (j->rc) {
                j->rc = -EACCES;
                snprintf(j->err, sizeof(j->err), "%s", why);
            }
        }
        pal_oidc_response_free(&r);
        if (j->rc)
            goto out;
        json_object_update(claims, info); /* userinfo's claims over the ID token's */
    }
    if ((j->rc = pal_oidc_user_from_claims(claims, c->oidc_issuer, c->oidc_agent_siret,
                                           c->oidc_agent_email_domains, &j->session.user, j->err,
                                           sizeof(j->err))))
        goto out;
    snprintf(j->session.id_token, sizeof(j->session.id_token), "%s", idt);
out:
    json_decref(claims);
    json_decref(info);
    free(idt);
    free(access);
}

static void run_logout(struct pal_oidc *o, struct job *j)
{
    char state[PAL_OIDC_RANDOM_LEN + 1];
    j->location[0] = '\0';
    if ((j->rc = discover(o, j->err, sizeof(j->err))) || !o->prov.end_session_endpoint[0] ||
        !j->id_token[0] || (j->rc = random_b64url(state)))
        return;
    char *u = j->location;
    size_t n = sizeof(j->location);
    snprintf(u, n, "%s", o->prov.end_session_endpoint);
    if (add_param(u, n, "id_token_hint", j->id_token) || add_param(u, n, "state", state) ||
        (o->cfg->oidc_post_logout_uri[0] &&
         add_param(u, n, "post_logout_redirect_uri", o->cfg->oidc_post_logout_uri)))
        j->location[0] = '\0';
}

static void *worker_main(void *arg)
{
    struct pal_oidc *o = arg;
    pthread_mutex_lock(&o->mu);
    for (;;) {
        while (!o->todo && !o->stop)
            pthread_cond_wait(&o->cond, &o->mu);
        if (o->stop)
            break;
        struct job *j = o->todo;
        o->todo = j->next;
        o->n_todo--;
        pthread_mutex_unlock(&o->mu);
        if (j->kind == JOB_LOGIN)
            run_login(o, j);
        else if (j->kind == JOB_CALLBACK)
            run_callback(o, j);
        else
            run_logout(o, j);
        pthread_mutex_lock(&o->mu);
        j->next = o->done;
        o->done = j;
        pthread_mutex_unlock(&o->mu);
        pal_server_wake(o->srv);
        pthread_mutex_lock(&o->mu);
    }
    pthread_mutex_unlock(&o->mu);
    return NULL;
}

/* ---- answers ------------------------------------------------------------- */

static void reply_free(struct reply *r)
{
    free(r->body);
    free(r->location);
    free(r->cookie);
    memset(r, 0, sizeof(*r));
}

static struct waiting *find(struct pal_oidc *o, struct lws *wsi)
{
    for (int i = 0; i < MAX_WAITING; i++)
        if (o->waiting[i].wsi == wsi)
            return &o->waiting[i];
    return NULL;
}

/* The page shown when sign-in fails: French first, English, what happened,
 * and the ways on. */
static char *error_page(int rc, const char *detail)
{
    bool down = rc == -EHOSTUNREACH || rc == -ETIMEDOUT || rc == -EPROTO;
    bool busy = rc == -EAGAIN; /* 429: this address, or everyone, started too many */
    const char *fr = down   ? "Le service d'identité ne répond pas. Réessayez dans quelques "
                              "minutes ; les réunions en cours ne sont pas affectées."
                     : busy ? "Trop de tentatives de connexion : réessayez dans une minute."
                            : "La connexion a été refusée et aucune session n'a été ouverte.";
    const char *en = down   ? "The identity provider is unreachable. Try again in a few minutes; "
                              "meetings in progress are not affected."
                     : busy ? "Too many sign-in attempts: try again in a minute."
                            : "Sign-in was refused and no session was opened.";
    char *d = html_escape(detail ? detail : "");
    char *page = NULL;
    if (d &&
        asprintf(&page,
                 "<!doctype html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">"
                 "<meta name=\"viewport\" content=\"width=device-width\">"
                 "<title>Connexion impossible – Palabre</title></head><body><main>"
                 "<h1>Connexion impossible</h1><p id=\"oidc-error\" data-reason=\"%s\">%s</p>"
                 "<p lang=\"en\">%s</p><p>Détail / detail : <code id=\"oidc-detail\">%s</code></p>"
                 "<p><a href=\"/oidc/login\">Réessayer</a> · <a href=\"/\">Accueil</a></p>"
                 "</main></body></html>\n",
                 down ? "provider_unreachable" : busy ? "too_many" : "refused", fr, en, d) < 0)
        page = NULL;
    free(d);
    return page;
}

static char *cookie_for(struct pal_oidc *o, struct lws *wsi, const char *token, int max_age)
{
    bool secure = lws_is_ssl(wsi) || strncmp(o->cfg->oidc_redirect_uri, "https://", 8) == 0;
    char *c = NULL;
    if (asprintf(&c, PAL_OIDC_COOKIE "=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Lax%s", token,
                 max_age, secure ? "; Secure" : "") < 0)
        return NULL;
    return c;
}

/* Makes w's reply ready and asks for WRITEABLE. */
static void answer(struct waiting *w, int status, const char *type, char *body, char *location,
                   char *cookie)
{
    reply_free(&w->reply);
    w->reply = (struct reply){status, type, body ? body : strdup(""), location, cookie, 0};
    w->job = 0;
    lws_set_timeout(w->wsi, NO_PENDING_TIMEOUT, 0);
    lws_callback_on_writable(w->wsi);
}

static void redirect(struct waiting *w, const char *to, char *cookie)
{
    answer(w, 303, "text/plain; charset=utf-8", strdup("see other\n"), strdup(to), cookie);
}

static void fail_page(struct waiting *w, int rc, const char *detail)
{
    bool down = rc == -EHOSTUNREACH || rc == -ETIMEDOUT || rc == -EPROTO;
    int status = down ? 502 : rc == -EINVAL ? 400 : 403;
    PAL_WARN(MOD, NULL, NULL, "%d: %s", status, detail);
    answer(w, status, "text/html; charset=utf-8", error_page(rc, detail), NULL, NULL);
}

static int add_retry_after(struct lws *wsi, int seconds, unsigned char **p, unsigned char *end)
{
    char v[16];
    snprintf(v, sizeof(v), "%d", seconds);
    return lws_add_http_header_by_name(wsi, (const unsigned char *)"retry-after:",
                                       (const unsigned char *)v, (int)strlen(v), p, end);
}

/* 429 with Retry-After, a page that says why. */
static void too_many(struct waiting *w, int retry_after_s, const char *why)
{
    char ip[PAL_IP_MAX + 1] = "";
    lws_get_peer_simple(w->wsi, ip, sizeof(ip));
    PAL_WARN(MOD, NULL, NULL, "429 for %s: %s", ip, why);
    char *page = error_page(-EAGAIN, why);
    answer(w, 429, "text/html; charset=utf-8", page, NULL, NULL);
    w->reply.retry_after = retry_after_s > 0 ? retry_after_s : 1;
}

int pal_oidc_http_writeable(struct pal_oidc *o, struct lws *wsi, bool *mine)
{
    struct waiting *w = find(o, wsi);
    *mine = w != NULL;
    if (!w || w->job)
        return 0;
    struct reply *r = &w->reply;
    size_t len = r->body ? strlen(r->body) : 0;
    if (!w->headers_sent) {
        unsigned char buf[LWS_PRE + 8192], *start = &buf[LWS_PRE], *p = start,
                                           *end = &buf[sizeof(buf) - 1];
        if (lws_add_http_common_headers(wsi, (unsigned)r->status, r->type, len, &p, end) ||
            pal_http_add_security_headers(wsi, &p, end) ||
            (r->location && lws_add_http_header_by_name(wsi, (const unsigned char *)"location:",
                                                        (const unsigned char *)r->location,
                                                        (int)strlen(r->location), &p, end)) ||
            (r->cookie && lws_add_http_header_by_name(wsi, (const unsigned char *)"set-cookie:",
                                                      (const unsigned char *)r->cookie,
                                                      (int)strlen(r->cookie), &p, end)) ||
            (r->retry_after > 0 && add_retry_after(wsi, r->retry_after, &p, end)) ||
            lws_finalize_write_http_header(wsi, start, &p, end))
            return -1;
        w->headers_sent = true;
        lws_callback_on_writable(wsi);
        return 0;
    }
    unsigned char *buf = malloc(LWS_PRE + len + 1);
    bool ok = buf != NULL;
    if (ok) {
        memcpy(buf + LWS_PRE, r->body, len);
        ok = lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_HTTP_FINAL) == (int)len;
        free(buf);
    }
    reply_free(r);
    w->wsi = NULL;
    w->headers_sent = false;
    if (!ok)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

void pal_oidc_http_closed(struct pal_oidc *o, struct lws *wsi)
{
    struct waiting *w = find(o, wsi);
    if (w) {
        reply_free(&w->reply);
        memset(w, 0, sizeof(*w));
    }
}

/* ---- the routes ---------------------------------------------------------- */

bool pal_oidc_is_route(const char *path)
{
    return strcmp(path, "/oidc/login") == 0 || strcmp(path, "/oidc/callback") == 0 ||
           strcmp(path, "/oidc/logout") == 0 || strcmp(path, "/oidc/me") == 0;
}

/* Queues j for the worker, w waiting on it. false: queue full (j freed). */
static bool submit(struct pal_oidc *o, struct waiting *w, struct job *j)
{
    pthread_mutex_lock(&o->mu);
    bool full = o->n_todo >= MAX_JOBS;
    if (!full) {
        j->id = ++o->next_job;
        w->job = j->id;
        struct job **tail = &o->todo;
        while (*tail)
            tail = &(*tail)->next;
        *tail = j;
        o->n_todo++;
        pthread_cond_signal(&o->cond);
    }
    pthread_mutex_unlock(&o->mu);
    if (full) {
        free(j);
        return false;
    }
    /* the worker answers within its calls' timeouts (discovery, token,
     * keys twice, userinfo); lws must not close the request before */
    lws_set_timeout(w->wsi, PENDING_TIMEOUT_HTTP_CONTENT, 6 * o->cfg->oidc_timeout_seconds + 5);
    return true;
}

/* The session cookie's token, or "" when none. */
static void cookie_token(struct lws *wsi, char out[PAL_OIDC_RANDOM_LEN + 1])
{
    char header[4096] = "";
    out[0] = '\0';
    if (lws_hdr_copy(wsi, header, sizeof(header), WSI_TOKEN_HTTP_COOKIE) <= 0 ||
        pal_oidc_cookie_value(header, PAL_OIDC_COOKIE, out, PAL_OIDC_RANDOM_LEN + 1) ||
        strlen(out) != PAL_OIDC_RANDOM_LEN)
        out[0] = '\0';
}

static int session_of(struct pal_oidc *o, struct lws *wsi, char token[PAL_OIDC_RANDOM_LEN + 1],
                      struct pal_oidc_session *s)
{
    cookie_token(wsi, token);
    if (!token[0])
        return -ENOENT;
    return pal_oidc_store_session_get(o->store, token, pal_wall_ms(),
                                      (int64_t)o->cfg->oidc_session_idle_seconds * 1000, s);
}

static void route_me(struct pal_oidc *o, struct waiting *w)
{
    char token[PAL_OIDC_RANDOM_LEN + 1];
    struct pal_oidc_session *s = malloc(sizeof(*s));
    json_t *me;
    if (s && session_of(o, w->wsi, token, s) == 0)
        me = json_pack("{s:s, s:b, s:s, s:s?, s:b}", "mode", "oidc", "signed_in", 1, "name",
                       s->user.name, "email", s->user.email[0] ? s->user.email : NULL, "agent",
                       s->user.agent);
    else
        me = json_pack("{s:s, s:b}", "mode", "oidc", "signed_in", 0);
    free(s);
    char *text = me ? json_dumps(me, JSON_COMPACT) : NULL;
    json_decref(me);
    answer(w, text ? 200 : 500, "application/json", text, NULL, NULL);
}

/* The callback's query fields: base64url-ish, bounded. */
static bool arg(struct lws *wsi, const char *name, char *out, size_t size)
{
    /* lws copies the whole "name=value" fragment into the buffer */
    char buf[CODE_MAX + 64];
    out[0] = '\0';
    const char *v = lws_get_urlarg_by_name(wsi, name, buf, (int)sizeof(buf));
    if (!v || strlen(v) >= size)
        return false;
    memmove(out, v, strlen(v) + 1);
    for (const char *c = out; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
            return false;
    return out[0] != '\0';
}

/* Each /oidc/login and /oidc/callback makes the server work (a pending
 * sign-in, calls to the provider): [oidc] logins_per_ip_per_minute per
 * client address. false: answered 429. */
static bool rate_ok_or_429(struct pal_oidc *o, struct waiting *w)
{
    char ip[PAL_IP_MAX + 1];
    int64_t now = pal_now_ms(), retry_ms = 0;
    pal_http_client_address(w->wsi, o->cfg, ip, sizeof(ip));
    if (now - o->rate_swept_ms > 10000) {
        pal_ip_limits_sweep(o->rate, now);
        o->rate_swept_ms = now;
    }
    int rc = pal_ip_limits_create_room(o->rate, ip, now, &retry_ms);
    if (rc == -EAGAIN) {
        too_many(w, (int)((retry_ms + 999) / 1000), "too many sign-in requests from this address");
        return false;
    }
    return true; /* -ENOMEM: not counted, served */
}

static void route_login(struct pal_oidc *o, struct waiting *w)
{
    if (!rate_ok_or_429(o, w))
        return;
    struct job *j = calloc(1, sizeof(*j));
    char to[256] = "/";
    if (!j) {
        fail_page(w, -EIO, "out of memory");
        return;
    }
    if (!arg(w->wsi, "return_to=", to, sizeof(to)) || !pal_oidc_return_path_ok(to))
        snprintf(to, sizeof(to), "/");
    j->kind = JOB_LOGIN;
    j->pending.created_ms = pal_wall_ms();
    snprintf(j->pending.return_to, sizeof(j->pending.return_to), "%s", to);
    int rc = random_b64url(j->pending.state) || random_b64url(j->pending.nonce) ||
                     random_b64url(j->pending.verifier)
                 ? -EIO
                 : pal_oidc_store_pending_put(o->store, &j->pending,
                                              o->cfg->oidc_max_pending_logins);
    if (rc) {
        free(j);
        if (rc == -ENOSPC)
            too_many(w, FULL_RETRY_S, "too many sign-ins in progress");
        else
            fail_page(w, -EIO, "cannot start a sign-in (storage)");
        return;
    }
    if (!submit(o, w, j))
        fail_page(w, -EHOSTUNREACH, "too many sign-ins in progress");
}

static void route_callback(struct pal_oidc *o, struct waiting *w)
{
    char state[PAL_OIDC_RANDOM_LEN + 2], error[128];
    if (!rate_ok_or_429(o, w))
        return;
    struct job *j = calloc(1, sizeof(*j));
    if (!j) {
        fail_page(w, -EIO, "out of memory");
        return;
    }
    j->kind = JOB_CALLBACK;
    if (arg(w->wsi, "error=", error, sizeof(error))) {
        PAL_INFO(MOD, NULL, NULL, "sign-in refused by the provider: %s", error);
        char d[200];
        snprintf(d, sizeof(d), "the provider answered: %s", error);
        fail_page(w, -EACCES, d);
        free(j);
        return;
    }
    if (!arg(w->wsi, "state=", state, sizeof(state)) || strlen(state) != PAL_OIDC_RANDOM_LEN ||
        !arg(w->wsi, "code=", j->code, sizeof(j->code))) {
        fail_page(w, -EINVAL, "the answer from the provider lacks its state or code");
        free(j);
        return;
    }
    int rc = pal_oidc_store_pending_take(o->store, state, pal_wall_ms(), &j->pending);
    if (rc) {
        PAL_INFO(MOD, NULL, NULL, "callback refused: %s state",
                 rc == -ETIMEDOUT ? "expired" : "unknown or used");
        fail_page(w, -EACCES,
                  rc == -ETIMEDOUT ? "this sign-in took too long (state expired)"
                                   : "unknown or already used state");
        free(j);
        return;
    }
    if (!submit(o, w, j))
        fail_page(w, -EHOSTUNREACH, "too many sign-ins in progress");
}

static void end_connections_of(struct pal_oidc *o, const char *token);

static void route_logout(struct pal_oidc *o, struct waiting *w)
{
    char token[PAL_OIDC_RANDOM_LEN + 1];
    struct job *j = calloc(1, sizeof(*j));
    if (!j) {
        fail_page(w, -EIO, "out of memory");
        return;
    }
    j->kind = JOB_LOGOUT;
    if (session_of(o, w->wsi, token, &j->session) == 0) {
        pal_oidc_store_session_delete(o->store, token);
        end_connections_of(o, token);
        snprintf(j->id_token, sizeof(j->id_token), "%s", j->session.id_token);
        PAL_INFO(MOD, NULL, NULL, "signed out: %s", j->session.user.sub);
    }
    if (!j->id_token[0]) { /* nobody to sign out at the provider */
        free(j);
        redirect(w, "/", cookie_for(o, w->wsi, "", 0));
        return;
    }
    if (!submit(o, w, j))
        redirect(w, "/", cookie_for(o, w->wsi, "", 0));
}

int pal_oidc_http(struct pal_oidc *o, struct lws *wsi, const char *path)
{
    struct waiting *w = find(o, NULL);
    if (!w) {
        PAL_WARN(MOD, NULL, NULL, "503 %s: %d requests already waiting", path, MAX_WAITING);
        return lws_return_http_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, NULL) ? -1
               : lws_http_transaction_completed(wsi)                              ? -1
                                                                                  : 0;
    }
    memset(w, 0, sizeof(*w));
    w->wsi = wsi;
    if (strcmp(path, "/oidc/me") == 0)
        route_me(o, w);
    else if (strcmp(path, "/oidc/login") == 0)
        route_login(o, w);
    else if (strcmp(path, "/oidc/callback") == 0)
        route_callback(o, w);
    else
        route_logout(o, w);
    return 0;
}

/* A finished job, on the signaling thread: its answer, and for a good
 * callback the session. */
static void finish(struct pal_oidc *o, struct job *j)
{
    struct waiting *w = NULL;
    for (int i = 0; i < MAX_WAITING && !w; i++)
        if (o->waiting[i].wsi && o->waiting[i].job == j->id)
            w = &o->waiting[i];
    if (!w) {
        PAL_INFO(MOD, NULL, NULL, "a browser left before its sign-in ended: dropped");
        return; /* no session for nobody */
    }
    if (j->kind == JOB_LOGOUT) {
        if (j->rc)
            PAL_WARN(MOD, NULL, NULL, "signed out here only: %s", j->err);
        redirect(w, j->rc || !j->location[0] ? "/" : j->location, cookie_for(o, w->wsi, "", 0));
        return;
    }
    if (j->rc) {
        fail_page(w, j->rc, j->err[0] ? j->err : strerror(-j->rc));
        return;
    }
    if (j->kind == JOB_LOGIN) {
        redirect(w, j->location, NULL);
        return;
    }
    char token[PAL_OIDC_RANDOM_LEN + 1];
    int64_t now = pal_wall_ms();
    j->session.created_ms = j->session.last_seen_ms = now;
    j->session.expires_ms = now + (int64_t)o->cfg->oidc_session_lifetime_seconds * 1000;
    pal_oidc_store_expire(o->store, now, (int64_t)o->cfg->oidc_session_idle_seconds * 1000);
    if (random_b64url(token) || pal_oidc_store_session_put(o->store, token, &j->session)) {
        fail_page(w, -EIO, "cannot store the session");
        return;
    }
    PAL_INFO(MOD, NULL, NULL, "signed in: %s (%s, siret %s)", j->session.user.sub,
             j->session.user.agent ? "agent" : "guest: not in the allow list",
             j->session.user.siret[0] ? j->session.user.siret : "none");
    redirect(w, j->pending.return_to,
             cookie_for(o, w->wsi, token, o->cfg->oidc_session_lifetime_seconds));
}

static void on_wake(struct pal_server *srv, void *ud)
{
    (void)srv;
    struct pal_oidc *o = ud;
    pthread_mutex_lock(&o->mu);
    struct job *done = o->done;
    o->done = NULL;
    pthread_mutex_unlock(&o->mu);
    while (done) {
        struct job *j = done;
        done = j->next;
        finish(o, j);
        free(j);
    }
}

/* ---- open connections of a session --------------------------------------- */

/* The session of c ended (signed out, expired): its rights end now, not at
 * its next connection. The participant leaves the room (a resume would give
 * the agent's role back), the identity is forgotten, and the connection is
 * closed PAL_OIDC_CLOSE_SESSION_ENDED; the client reconnects, is refused
 * (auth_required) and signs in again, back to the same room. */
static void end_connection(struct pal_oidc *o, int i, const char *why)
{
    struct pal_session *s = o->conns[i].s;
    o->conns[i] = o->conns[--o->n_conns];
    PAL_INFO(MOD, pal_session_room(s), pal_session_participant_id(s), "%s: connection closed",
             why);
    pal_session_close(s, PAL_OIDC_CLOSE_SESSION_ENDED, why); /* first: no join timer */
    pal_server_participant_gone(o->srv, s, strcmp(why, "signed out") == 0 ? "signed_out"
                                                                         : "session_expired");
    memset(pal_session_identity(s), 0, sizeof(struct pal_identity));
}

/* Every CHECK_US while connections are tracked: their sessions still live?
 * (An open connection is use: it keeps its session from the idle timeout,
 * not from its lifetime.) */
static void check_cb(lws_sorted_usec_list_t *sul)
{
    struct pal_oidc *o = lws_container_of(sul, struct pal_oidc, sul_check);
    struct pal_oidc_session *ses = malloc(sizeof(*ses));
    int64_t now = pal_wall_ms(), idle = (int64_t)o->cfg->oidc_session_idle_seconds * 1000;
    for (int i = 0; ses && i < o->n_conns;) {
        int rc = pal_oidc_store_session_get(o->store, o->conns[i].token, now, idle, ses);
        if (rc == -ENOENT || rc == -ETIMEDOUT)
            end_connection(o, i, rc == -ENOENT ? "signed out" : "session expired");
        else
            i++; /* a storage error is not the agent's: kept */
    }
    free(ses);
    if (o->n_conns)
        lws_sul_schedule(o->ctx, 0, &o->sul_check, check_cb, CHECK_US);
}

/* Logout: every connection opened with token, this tab's and the others. */
static void end_connections_of(struct pal_oidc *o, const char *token)
{
    for (int i = 0; i < o->n_conns;)
        if (strcmp(o->conns[i].token, token) == 0)
            end_connection(o, i, "signed out");
        else
            i++;
}

void pal_oidc_identify(struct pal_oidc *o, struct lws *wsi, struct pal_session *conn)
{
    char token[PAL_OIDC_RANDOM_LEN + 1];
    struct pal_oidc_session *s = malloc(sizeof(*s));
    if (s && session_of(o, wsi, token, s) == 0) {
        if (o->n_conns == o->cap_conns) {
            int cap = o->cap_conns ? 2 * o->cap_conns : 16;
            struct tracked *c = realloc(o->conns, (size_t)cap * sizeof(*c));
            if (!c) { /* not tracked, not an agent: refused like a signed-out one */
                free(s);
                return;
            }
            o->conns = c;
            o->cap_conns = cap;
        }
        o->conns[o->n_conns].s = conn;
        snprintf(o->conns[o->n_conns].token, sizeof(token), "%s", token);
        if (o->n_conns++ == 0) {
            o->ctx = lws_get_context(wsi);
            lws_sul_schedule(o->ctx, 0, &o->sul_check, check_cb, CHECK_US);
        }
        struct pal_identity *id = pal_session_identity(conn);
        memset(id, 0, sizeof(*id));
        id->known = true;
        id->agent = s->user.agent;
        snprintf(id->sub, sizeof(id->sub), "%s", s->user.sub);
        snprintf(id->name, sizeof(id->name), "%s", s->user.name);
        snprintf(id->email, sizeof(id->email), "%s", s->user.email);
    }
    free(s);
}

void pal_oidc_connection_closed(struct pal_oidc *o, struct pal_session *conn)
{
    for (int i = 0; i < o->n_conns; i++)
        if (o->conns[i].s == conn) {
            o->conns[i] = o->conns[--o->n_conns];
            return;
        }
}

/* ---- life ---------------------------------------------------------------- */

int pal_oidc_create(struct pal_server *srv, struct pal_oidc **out)
{
    *out = NULL;
    struct pal_oidc *o = calloc(1, sizeof(*o));
    if (!o)
        return -ENOMEM;
    o->srv = srv;
    o->cfg = pal_server_config(srv);
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->cond, NULL);
    int rc = pal_oidc_fetch_global_init();
    if (!rc)
        rc = pal_oidc_store_open(o->cfg->data_dir, &o->store);
    if (!rc && !(o->rate = pal_ip_limits_create(0, o->cfg->oidc_logins_per_ip_per_minute)))
        rc = -ENOMEM;
    if (!rc)
        rc = pal_server_add_wake_hook(srv, on_wake, o);
    if (!rc && pthread_create(&o->thread, NULL, worker_main, o))
        rc = -EAGAIN;
    if (rc) {
        PAL_ERROR(MOD, NULL, NULL, "cannot start OpenID Connect sign-in: %s", strerror(-rc));
        pal_oidc_destroy(o);
        return rc;
    }
    o->started = true;
    PAL_INFO(MOD, NULL, NULL, "agents sign in with OpenID Connect at %s", o->cfg->oidc_issuer);
    *out = o;
    return 0;
}

void pal_oidc_destroy(struct pal_oidc *o)
{
    if (!o)
        return;
    if (o->started) {
        pthread_mutex_lock(&o->mu);
        o->stop = true;
        pthread_cond_signal(&o->cond);
        pthread_mutex_unlock(&o->mu);
        pthread_join(o->thread, NULL);
    }
    for (struct job *lists[] = {o->todo, o->done}, **l = lists; l < lists + 2; l++)
        while (*l) {
            struct job *j = *l;
            *l = j->next;
            free(j);
        }
    for (int i = 0; i < MAX_WAITING; i++)
        reply_free(&o->waiting[i].reply);
    pal_jwt_verifier_destroy(o->keys);
    pal_oidc_store_close(o->store);
    pal_ip_limits_destroy(o->rate);
    free(o->conns); /* the context, and its check timer, are gone already */
    pthread_cond_destroy(&o->cond);
    pthread_mutex_destroy(&o->mu);
    free(o);
}
