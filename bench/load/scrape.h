/* palabre-load reads the server's /metrics (Palabre: Prometheus text
 * format 0.0.4) at the end of the measurement window, while every
 * participant is still connected: the server's own view of the run (its
 * bandwidth estimates for the tool's subscribers, docs/operations.md
 * "Metrics").
 *
 * Thread: any (load_scrape blocks for at most its timeout). */
#ifndef PALABRE_LOAD_SCRAPE_H
#define PALABRE_LOAD_SCRAPE_H

#include <stddef.h>

#define LOAD_SCRAPE_MAX_BYTES (1u << 20)

/* http://HOST:PORT/metrics for ws://HOST:PORT/..., https for wss. Returns 0,
 * -EINVAL (not a ws: or wss: URL) or -ENOSPC. */
int load_metrics_url(const char *ws_url, char *out, size_t cap);

/* GET url with libcurl within timeout_ms. *body: the answer (malloc'd,
 * NUL-terminated; the caller frees). Returns 0, -EIO (no answer, or a
 * status other than 200), -EFBIG (over LOAD_SCRAPE_MAX_BYTES) or -ENOMEM. */
int load_scrape(const char *url, long timeout_ms, char **body);

/* The value of the sample called name, without labels, in Prometheus text
 * (comments skipped; "name value [timestamp]"). Returns 0, -ENOENT (no such
 * sample) or -EINVAL (its value is not a number). */
int load_prom_value(const char *text, const char *name, double *out);

#endif
