/* Measurements of palabre-load: a delay histogram, per-stream reception
 * (loss from the trailer counters, RFC 3550 interarrival jitter), and CPU
 * time / RSS of a process read from /proc.
 *
 * Thread: the loop's thread (plain data). */
#ifndef PALABRE_LOAD_METRICS_H
#define PALABRE_LOAD_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* 10 µs buckets up to 500 ms; later arrivals land in the last bucket. */
#define LOAD_HIST_BUCKET_US 10
#define LOAD_HIST_N 50000

struct load_hist {
    uint64_t n;
    double sum_us;
    uint32_t b[LOAD_HIST_N];
};

void load_hist_add(struct load_hist *h, int64_t us);
/* p in [0, 1]; milliseconds (bucket centre), 0 when empty. */
double load_hist_pct_ms(const struct load_hist *h, double p);
void load_hist_merge(struct load_hist *into, const struct load_hist *from);

/* Reception of one source (a publisher's audio or video) by one subscriber. */
struct load_rx {
    bool seen;
    uint32_t first, max;  /* trailer counters of the current layer */
    /* Simulcast: each layer has its own counters. A change of layer (what
     * the server forwards switched) closes the segment: its packets count
     * in prior_expected, and the new layer's counters start a new one. */
    uint8_t layer;
    uint32_t switches;
    uint64_t prior_expected;
    uint64_t received;
    int64_t first_us;
    int64_t last_transit_us;
    double jitter_us;     /* RFC 3550 6.4.1, on the send/receive times */
};

/* Returns the packet's one-way delay in µs. layer: the simulcast layer the
 * packet belongs to (0 for a single stream). */
int64_t load_rx_add(struct load_rx *rx, uint32_t counter, uint8_t layer, int64_t send_us,
                    int64_t now_us);
/* Packets the source sent since the first one this subscriber got, on the
 * layers it received, while it received them. */
uint64_t load_rx_expected(const struct load_rx *rx);

/* utime + stime of pid in µs, or -1. pid 0 = this process. */
int64_t load_proc_cpu_us(pid_t pid);
/* VmRSS in KiB, or -1. pid 0 = this process. */
long load_proc_rss_kib(pid_t pid);

#endif
