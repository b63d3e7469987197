/* /metrics in the Prometheus text format. Every value is read when the page
 * is asked for: the signaling side walks its own structures (a few thousand
 * sessions at most), the media side gives counters summed over the workers,
 * the process figures come from /proc/self. See palabre/metrics.h. */
#include "palabre/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "palabre/media.h"
#include "palabre/media_signaling.h"
#include "palabre/rooms.h"
#include "palabre/server.h"
#include "palabre/session.h"

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
    metric(&t, "palabre_participants", "gauge",
           "Participants in rooms, including those waiting for a resume.", participants);

    struct pal_media_stats m;
    if (pal_media_signaling_stats(&m) == 0) {
        metric(&t, "palabre_media_rooms", "gauge", "Rooms open on the media workers.", m.rooms);
        metric(&t, "palabre_media_transports", "gauge", "PeerConnection transports.",
               m.transports);
        metric(&t, "palabre_media_rtp_in_packets_total", "counter",
               "RTP packets received from publishers.", m.rtp_in);
        metric(&t, "palabre_media_rtp_out_packets_total", "counter",
               "RTP packets sent to subscribers (forwarded).", m.rtp_out);
        metric(&t, "palabre_media_rtcp_in_packets_total", "counter", "RTCP packets received.",
               m.rtcp_in);
        metric(&t, "palabre_media_rtcp_out_packets_total", "counter", "RTCP packets sent.",
               m.rtcp_out);
        metric(&t, "palabre_media_nack_in_total", "counter", "NACKs received from subscribers.",
               m.nack_in);
        metric(&t, "palabre_media_retransmitted_packets_total", "counter",
               "Packets resent from the retransmission rings.", m.retransmitted);
        metric(&t, "palabre_media_pli_out_total", "counter",
               "Keyframe requests (PLI) sent to publishers.", m.pli_out);
        metric(&t, "palabre_media_dropped_in_packets_total", "counter",
               "Incoming packets dropped: undecryptable, unknown SSRC or malformed.",
               m.dropped_in);
        metric(&t, "palabre_media_sent_packets_total", "counter",
               "Datagrams the media workers handed to the kernel (batched sends).",
               m.sent_packets);
        metric(&t, "palabre_media_send_dropped_packets_total", "counter",
               "Datagrams the kernel refused (full socket buffer): dropped, not retried.",
               m.send_dropped);
        metric(&t, "palabre_media_send_calls_total", "counter",
               "Send system calls (sendmmsg) that carried them: packets per call = batching.",
               m.send_calls);
        metric(&t, "palabre_mixer_rooms", "gauge", "Rooms mixing, on the mixer threads.",
               m.mixers);
        put(&t,
            "# HELP palabre_mixer_cpu_seconds_total CPU time of the mixer threads.\n"
            "# TYPE palabre_mixer_cpu_seconds_total counter\n"
            "palabre_mixer_cpu_seconds_total %.3f\n",
            (double)m.mixer_cpu_us / 1e6);
        metric(&t, "palabre_mixer_ticks_skipped_total", "counter",
               "Audio mix ticks lost: a mixer thread more than 200 ms late.",
               m.mixer_ticks_skipped);
        metric(&t, "palabre_mixer_dropped_packets_total", "counter",
               "Packets dropped between a media worker and its mixer thread (queue full).",
               m.mixer_dropped);
        metric(&t, "palabre_mixer_composite_slowed_rooms", "gauge",
               "Rooms whose composite runs below its configured frame rate (it could not keep "
               "up; the audio mix is not affected).",
               m.mixer_video_slowed);
        metric(&t, "palabre_mixer_composite_frames_dropped_total", "counter",
               "Composite frames left out because the composite could not keep up.",
               m.mixer_video_frames_dropped);
    }

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
