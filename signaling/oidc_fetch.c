/* HTTPS client for the OpenID Connect provider (contract:
 * include/palabre/oidc_fetch.h). libcurl (Debian libcurl4-openssl-dev):
 * one easy handle per call, which is enough for a few calls per sign-in. */
#include "palabre/oidc_fetch.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/common.h"

#define fail pal_errf /* common.h */

int pal_oidc_fetch_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

struct sink {
    char *buf;
    size_t len;
    bool too_big;
};

static size_t on_data(char *data, size_t size, size_t n, void *ud)
{
    struct sink *s = ud;
    size_t add = size * n;
    if (s->len + add > PAL_OIDC_FETCH_MAX_BYTES) {
        s->too_big = true;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    char *b = realloc(s->buf, s->len + add + 1);
    if (!b)
        return 0;
    memcpy(b + s->len, data, add);
    s->buf = b;
    s->len += add;
    b[s->len] = '\0';
    return add;
}

static int curl_errno(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
        return -EHOSTUNREACH;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        return -EPROTO;
    default:
        return -EIO;
    }
}

int pal_oidc_fetch(const char *url, const char *form, const char *bearer, const char *ca_file,
                   int timeout_seconds, struct pal_oidc_response *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    CURL *c = curl_easy_init();
    if (!c)
        return fail(err, errlen, -ENOMEM, "cannot create an HTTP client");
    struct sink sink = {0};
    struct curl_slist *headers = NULL;
    char auth[4200];
    headers = curl_slist_append(headers, "Accept: application/json, application/jwt");
    if (bearer) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
        headers = curl_slist_append(headers, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    /* https only, no redirect: every URL comes from the configuration or
     * the provider's discovery document, and none should move */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (ca_file && ca_file[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)timeout_seconds);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)timeout_seconds);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* a worker thread: no SIGALRM */
    curl_easy_setopt(c, CURLOPT_USERAGENT, "palabre");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    if (form)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
    CURLcode cc = curl_easy_perform(c);
    int rc = 0;
    if (cc != CURLE_OK) {
        rc = sink.too_big
                 ? fail(err, errlen, -EFBIG, "%s: answer larger than %d bytes", url,
                        PAL_OIDC_FETCH_MAX_BYTES)
                 : fail(err, errlen, curl_errno(cc), "%s: %s", url, curl_easy_strerror(cc));
        free(sink.buf);
    } else {
        char *ct = NULL;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        size_t i = 0;
        for (; ct && ct[i] && ct[i] != ';' && ct[i] != ' ' && i + 1 < sizeof(out->content_type);
             i++)
            out->content_type[i] = (char)tolower((unsigned char)ct[i]);
        out->content_type[i] = '\0';
        out->body = sink.buf ? sink.buf : calloc(1, 1);
        out->len = sink.len;
        if (!out->body)
            rc = fail(err, errlen, -ENOMEM, "out of memory");
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    return rc;
}

void pal_oidc_response_free(struct pal_oidc_response *r)
{
    free(r->body);
    r->body = NULL;
}

char *pal_oidc_form_escape(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1), *o = out;
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            *o++ = (char)*p;
        } else {
            snprintf(o, 4, "%%%02X", *p);
            o += 3;
        }
    }
    *o = '\0';
    return out;
}
