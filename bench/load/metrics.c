/* Histograms, reception statistics and /proc readings. See metrics.h. */
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void load_hist_add(struct load_hist *h, int64_t us)
{
    if (us < 0)
        us = 0;
    int64_t i = us / LOAD_HIST_BUCKET_US;
    h->b[i < LOAD_HIST_N ? i : LOAD_HIST_N - 1]++;
    h->n++;
    h->sum_us += (double)us;
}

double load_hist_pct_ms(const struct load_hist *h, double p)
{
    if (!h->n)
        return 0;
    uint64_t want = (uint64_t)(p * (double)h->n), acc = 0;
    if (want >= h->n)
        want = h->n - 1;
    for (int i = 0; i < LOAD_HIST_N; i++) {
        acc += h->b[i];
        if (acc > want)
            return ((double)i + 0.5) * LOAD_HIST_BUCKET_US / 1000.0;
    }
    return (double)LOAD_HIST_N * LOAD_HIST_BUCKET_US / 1000.0;
}

void load_hist_merge(struct load_hist *into, const struct load_hist *from)
{
    for (int i = 0; i < LOAD_HIST_N; i++)
        into->b[i] += from->b[i];
    into->n += from->n;
    into->sum_us += from->sum_us;
}

int64_t load_rx_add(struct load_rx *rx, uint32_t counter, uint8_t layer, int64_t send_us,
                    int64_t now_us)
{
    int64_t transit = now_us - send_us;
    if (rx->seen && layer != rx->layer) {
        rx->prior_expected += (uint64_t)(uint32_t)(rx->max - rx->first) + 1;
        rx->first = rx->max = counter;
        rx->layer = layer;
        rx->switches++;
    }
    if (!rx->seen) {
        rx->layer = layer;
        rx->seen = true;
        rx->first = rx->max = counter;
        rx->first_us = now_us;
        rx->last_transit_us = transit;
    } else {
        if ((int32_t)(counter - rx->max) > 0)
            rx->max = counter;
        if ((int32_t)(counter - rx->first) < 0)
            rx->first = counter; /* reordered before the first one seen */
        int64_t d = transit - rx->last_transit_us;
        rx->jitter_us += ((double)(d < 0 ? -d : d) - rx->jitter_us) / 16.0;
        rx->last_transit_us = transit;
    }
    rx->received++;
    return transit;
}

uint64_t load_rx_expected(const struct load_rx *rx)
{
    return rx->seen ? rx->prior_expected + (uint64_t)(uint32_t)(rx->max - rx->first) + 1 : 0;
}

static FILE *open_proc(pid_t pid, const char *what)
{
    char path[64];
    if (pid)
        snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
    else
        snprintf(path, sizeof(path), "/proc/self/%s", what);
    return fopen(path, "r");
}

int64_t load_proc_cpu_us(pid_t pid)
{
    FILE *f = open_proc(pid, "stat");
    if (!f)
        return -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* the command name may hold spaces: fields start after the last ')' */
    char *p = strrchr(buf, ')');
    unsigned long long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    return (int64_t)((ut + st) * 1000000ull / (unsigned long long)(hz > 0 ? hz : 100));
}

long load_proc_rss_kib(pid_t pid)
{
    FILE *f = open_proc(pid, "status");
    if (!f)
        return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            break;
    fclose(f);
    return kib;
}
