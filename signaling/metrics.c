/* /metrics in the Prometheus text format. Every value is read when the page
 * is asked for: the signaling side walks its own structures (a few thousand
 * sessions at most), the modules add theirs through pal_server_add_metrics_source
 * (media signaling: counters summed over the workers),
 * the process figures come from /proc/self. See palabre/metrics.h. */
#include "palabre/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "palabre/common.h"
#include "palabre/rooms.h"
#include "palabre/server.h"
#include "palabre/session.h"

/* Samples one source may give: its totals and the per-room summaries
 * (palabre/media.h PAL_MEDIA_ROOM_BWE_MAX rooms per worker). */
#define METRICS_PER_SOURCE 4096

struct text {
    char *buf;
    size_t len, cap;
    bool oom;
};

static void put(struct text *t, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = true;
            return;
        }
        if (t->buf && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap ? t->cap * 2 : 4096) + (size_t)n;
        char *b = realloc(t->buf, cap);
        if (!b) {
            t->oom = true;
            return;
        }
        t->buf = b;
        t->cap = cap;
    }
}

static void metric(struct text *t, const char *name, const char *type, const char *help,
                   unsigned long long value)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name, value);
}

static void count_participant(struct pal_participant *p, void *ud)
{
    (void)p;
    (*(unsigned long long *)ud)++;
}

/* utime + stime (clock ticks) and RSS (pages) from /proc/self/stat. */
static void process_figures(double *cpu_seconds, unsigned long long *rss_bytes)
{
    *cpu_seconds = 0;
    *rss_bytes = 0;
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return;
    char line[1024];
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')'); /* the command name may hold spaces */
    unsigned long utime, stime;
    long rss;
    if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d "
                           "%*d %*d %*u %*u %ld",
                    &utime, &stime, &rss) == 3) {
        *cpu_seconds = (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
        *rss_bytes = (unsigned long long)rss * (unsigned long long)sysconf(_SC_PAGESIZE);
    }
}

char *pal_metrics_render(struct pal_server *srv)
{
    struct text t = {0};
    put(&t, "# HELP palabre_build_info Version of this palabre.\n"
            "# TYPE palabre_build_info gauge\npalabre_build_info{version=\"%s\"} 1\n",
        PAL_VERSION);

    unsigned long long connections = 0, participants = 0;
    for (struct pal_session *s = *pal_server_sessions(srv); s; s = pal_session_next(s))
        connections++;
    pal_rooms_each(pal_server_rooms(srv), count_participant, &participants);
    metric(&t, "palabre_connections", "gauge", "Open WebSocket connections.", connections);
    metric(&t, "palabre_rooms", "gauge", "Rooms with at least one participant.",
           (unsigned long long)pal_rooms_count(pal_server_rooms(srv)));
    metric(&t, "palabre_draining", "gauge",
           "1 while the server drains (SIGTERM or POST /admin/drain), else 0.",
           pal_server_draining(srv) ? 1 : 0);
    metric(&t, "palabre_participants", "gauge",
           "Participants in rooms, including those waiting for a resume.", participants);

    /* The modules' own figures (media signaling: the workers' counters). */
    const struct pal_metrics_source *src;
    int n_src = pal_server_metrics_sources(srv, &src);
    struct pal_metric *ms = calloc(METRICS_PER_SOURCE, sizeof(*ms));
    if (!ms)
        t.oom = true;
    for (int i = 0; ms && i < n_src; i++) {
        size_t n = PAL_MIN(src[i].fn(ms, METRICS_PER_SOURCE, src[i].ud), METRICS_PER_SOURCE);
        for (size_t k = 0; k < n; k++) {
            if (k == 0 || strcmp(ms[k].name, ms[k - 1].name) != 0)
                put(&t, "# HELP %s %s\n# TYPE %s %s\n", ms[k].name, ms[k].help, ms[k].name,
                    ms[k].type);
            if (ms[k].room)
                put(&t, "%s{room=\"%s\"} %.15g\n", ms[k].name, ms[k].room, ms[k].value);
            else
                put(&t, "%s %.15g\n", ms[k].name, ms[k].value);
        }
    }
    free(ms);

    double cpu;
    unsigned long long rss;
    process_figures(&cpu, &rss);
    put(&t, "# HELP process_cpu_seconds_total User and system CPU time of palabre.\n"
            "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.2f\n",
        cpu);
    metric(&t, "process_resident_memory_bytes", "gauge", "Resident memory of palabre.", rss);
    if (t.oom) {
        free(t.buf);
        return NULL;
    }
    return t.buf;
}
