/* /metrics: the server's gauges and counters in the Prometheus text format
 * (version 0.0.4), for ops' scraper. Who may read it: [server] metrics.
 *
 * Thread: the signaling thread. Owner: signaling/metrics.c. */
#ifndef PALABRE_METRICS_H
#define PALABRE_METRICS_H

struct pal_server;

/* Returns a malloc'd text (caller frees), or NULL when out of memory. */
char *pal_metrics_render(struct pal_server *srv);

#endif
