/* The server's /metrics. See scrape.h. */
#include "scrape.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int load_metrics_url(const char *ws_url, char *out, size_t cap)
{
    const char *scheme;
    size_t skip;
    if (!strncmp(ws_url, "ws://", 5))
        scheme = "http", skip = 5;
    else if (!strncmp(ws_url, "wss://", 6))
        scheme = "https", skip = 6;
    else
        return -EINVAL;
    const char *host = ws_url + skip;
    size_t n = strcspn(host, "/?#");
    if (n == 0)
        return -EINVAL;
    int w = snprintf(out, cap, "%s://%.*s/metrics", scheme, (int)n, host);
    return w < 0 || (size_t)w >= cap ? -ENOSPC : 0;
}

struct buf {
    char *p;
    size_t len;
    bool too_big;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *ud)
{
    struct buf *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > LOAD_SCRAPE_MAX_BYTES) {
        b->too_big = true;
        return 0; /* aborts the transfer */
    }
    char *p = realloc(b->p, b->len + n + 1);
    if (!p)
        return 0;
    memcpy(p + b->len, data, n);
    b->p = p;
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

int load_scrape(const char *url, long timeout_ms, char **body)
{
    *body = NULL;
    CURL *c = curl_easy_init();
    if (!c)
        return -ENOMEM;
    struct buf b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* the server under test, never a proxy */
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK || status != 200 || !b.p) {
        free(b.p);
        return b.too_big ? -EFBIG : -EIO;
    }
    *body = b.p;
    return 0;
}

int load_prom_value(const char *text, const char *name, double *out)
{
    size_t n = strlen(name);
    for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        if (strncmp(l, name, n) != 0 || (l[n] != ' ' && l[n] != '\t'))
            continue;
        const char *v = l + n + strspn(l + n, " \t");
        char *end;
        double d = strtod(v, &end);
        if (end == v || (*end && !strchr(" \t\r\n", *end)))
            return -EINVAL;
        *out = d;
        return 0;
    }
    return -ENOENT;
}
