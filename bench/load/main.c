/* palabre-load: N synthetic WebRTC participants (WebSocket signaling, ICE,
 * DTLS, SRTP through media/) across R rooms, publishing real Opus / VP8 and
 * subscribing to each other, against Palabre or Janus's videoroom; it
 * measures join time, time to first media, packets, loss, one-way
 * forwarding delay, jitter, NACK/PLI, and the server's CPU and RSS.
 *
 *   palabre-load --url ws://HOST:PORT/ws --scenario NAME|FILE
 *                [--server-pid PID] [--json FILE] [--plot FILE]
 *                [--target palabre|janus] [--participants N] [--duration S]
 *                [--ramp PER_S] [--interfaces LIST] [--room-prefix P]
 *                [--turn [--turn-pid PID]] [--metrics-url URL|none]
 *                [--no-transport-cc]
 *
 * Phases: ramp (participants start at ramp_per_s), settle (3 s, for the
 * last subscribe offers), window (duration_s of steady load: the CPU and
 * per-packet figures), drain (publishers stop; 1.5 s for packets in flight).
 *
 * One thread, one GMainContext: libnice agents, DTLS timers, the WebSocket
 * links and the 2 ms send tick all run on it, so the tool's CPU is one
 * process's utime+stime (reported, per participant: it must stay well below
 * the server's). See docs/benchmarks.md. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "palabre/log.h"
#include "palabre/loop.h"
#include "participant.h"
#include "report.h"
#include "scrape.h"

#define TICK_MS 2
#define SETTLE_S 3
#define DRAIN_MS 1500

enum phase { PH_RAMP, PH_SETTLE, PH_WINDOW, PH_DRAIN, PH_DONE };

/* Above this share of its one core the tool's own scheduling shows in the
 * delays it measures. */
#define TOOL_SATURATED_PCT 85.0

static struct {
    /* options */
    const char *url, *scenario_arg, *json_path, *plot_path, *target, *room_prefix, *metrics_url;
    int server_pid, turn_pid;
    /* run */
    struct load_scenario sc;
    struct load_env env;
    struct load_totals *tot;
    struct load_participant **parts;
    int n_started;
    enum phase phase;
    int64_t t0, phase_end;
    /* window snapshots */
    int64_t w_t0, w_t1, w_srv0, w_srv1, w_tool0, w_tool1, w_turn0, w_turn1;
    uint64_t w_recv0, w_recv1, w_unsig0, w_unsig1;
    /* per-second sampling */
    struct load_sample *samples;
    size_t n_samples, cap_samples;
    int64_t s_last_us, s_last_srv, s_last_tool;
    uint64_t s_last_recv, s_last_sent;
    long rss_max;
    /* the server's /metrics at the window's end */
    bool bwe_known;
    double bwe[LOAD_BWE_N];
    volatile sig_atomic_t interrupted;
} g;

static void on_signal(int sig)
{
    (void)sig;
    g.interrupted = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: palabre-load --url ws://HOST:PORT/ws --scenario NAME|FILE [--server-pid PID]\n"
            "                    [--json FILE] [--plot FILE] [--target palabre|janus]\n"
            "                    [--participants N] [--duration S] [--ramp PER_S]\n"
            "                    [--interfaces LIST] [--room-prefix P] [--turn [--turn-pid PID]]\n"
            "                    [--metrics-url URL|none] [--no-transport-cc]\n"
            "Scenarios: bench/scenarios/{smoke,meeting,meeting_simulcast,webinar,audio,\n"
            "large}.conf (see scenario.h).\n"
            "--target janus speaks Janus's videoroom plugin over its WebSocket API\n"
            "(url ws://HOST:8188/). --interfaces: ICE interfaces of the tool (default: all,\n"
            "plus 127.0.0.1 when the url's host is a loopback address). --turn: every PC\n"
            "goes through the TURN server of the join's ice_servers (palabre [turn]; its\n"
            "turn:ADDR:PORT?transport=udp URL), as a participant behind a firewall;\n"
            "--turn-pid: that TURN server's process, whose CPU is measured with the server's.\n"
            "--metrics-url: the server's /metrics, read at the end of the window for its\n"
            "bandwidth estimates (default for palabre: http://HOST:PORT/metrics of --url;\n"
            "none for janus). --no-transport-cc: publishers do not number their packets and\n"
            "subscribers send no transport-cc feedback (the server estimates nothing).\n");
}

static int connected_count(void)
{
    int n = 0;
    for (int i = 0; i < g.n_started; i++) {
        const struct load_participant *p = g.parts[i];
        if (p && (p->pcs[PAL_MEDIA_PC_SUBSCRIBE].connected ||
                  (p->room_size == 1 && p->pcs[PAL_MEDIA_PC_PUBLISH].connected)))
            n++;
    }
    return n;
}

static void sample(int64_t now)
{
    int64_t srv = g.server_pid ? load_proc_cpu_us(g.server_pid) : -1;
    int64_t tool = load_proc_cpu_us(0);
    long rss = g.server_pid ? load_proc_rss_kib(g.server_pid) : -1;
    if (rss > g.rss_max)
        g.rss_max = rss;
    uint64_t sent = g.tot->sent[0] + g.tot->sent[1];
    double dt = (double)(now - g.s_last_us) / 1e6;
    if (g.s_last_us && dt > 0) {
        if (g.n_samples == g.cap_samples) {
            size_t cap = g.cap_samples ? 2 * g.cap_samples : 256;
            struct load_sample *n = realloc(g.samples, cap * sizeof(*n));
            if (!n)
                return;
            g.samples = n;
            g.cap_samples = cap;
        }
        struct load_sample *s = &g.samples[g.n_samples++];
        s->t_s = (double)(now - g.t0) / 1e6;
        s->participants = g.n_started;
        s->connected = connected_count();
        s->recv_pps = (double)(g.tot->received - g.s_last_recv) / dt;
        s->sent_pps = (double)(sent - g.s_last_sent) / dt;
        s->server_cpu_pct = srv >= 0 && g.s_last_srv >= 0
                                ? (double)(srv - g.s_last_srv) / 1e4 / dt
                                : -1;
        s->server_rss_kib = rss;
        s->tool_cpu_pct = (double)(tool - g.s_last_tool) / 1e4 / dt;
        s->delay_p50_ms = load_hist_pct_ms(&g.tot->delay_sec, 0.5);
        s->delay_p99_ms = load_hist_pct_ms(&g.tot->delay_sec, 0.99);
        static const char *names[] = {"ramp", "settle", "measure", "drain", "done"};
        char cpu[32] = "?";
        if (s->server_cpu_pct >= 0)
            snprintf(cpu, sizeof(cpu), "%.0f%%", s->server_cpu_pct);
        fprintf(stderr,
                "[%5.1fs %-7s] participants %d/%d connected %d | sent %.0f/s recv %.0f/s | "
                "delay p50 %.2f p99 %.2f ms | server cpu %s rss %ld MiB | tool cpu %.0f%%%s",
                s->t_s, names[g.phase], g.n_started, g.sc.participants, s->connected, s->sent_pps,
                s->recv_pps, s->delay_p50_ms, s->delay_p99_ms, cpu, rss > 0 ? rss / 1024 : 0,
                s->tool_cpu_pct, isatty(2) ? "   \r" : "\n");
    }
    memset(&g.tot->delay_sec, 0, sizeof(g.tot->delay_sec));
    g.s_last_us = now;
    g.s_last_srv = srv;
    g.s_last_tool = tool;
    g.s_last_recv = g.tot->received;
    g.s_last_sent = sent;
}

static void start_participants(int64_t now)
{
    double elapsed = (double)(now - g.t0) / 1e6;
    int want = (int)floor(elapsed * g.sc.ramp_per_s) + 1;
    if (want > g.sc.participants)
        want = g.sc.participants;
    while (g.n_started < want) {
        int i = g.n_started++;
        int rc = participant_create(&g.env, i, &g.parts[i]);
        if (rc) {
            fprintf(stderr, "palabre-load: participant %d cannot connect to %s: %s\n", i, g.url,
                    strerror(-rc));
            g.tot->signaling_errors++;
        }
    }
}

/* The server's estimates for our subscribers, while they are all still
 * connected (the gauges count the connected ones). */
static void scrape_server(void)
{
    if (!g.metrics_url)
        return;
    char *text;
    int rc = load_scrape(g.metrics_url, 3000, &text);
    if (rc) {
        fprintf(stderr, "palabre-load: %s: %s\n", g.metrics_url,
                rc == -EIO ? "no answer or not 200" : strerror(-rc));
        return;
    }
    g.bwe_known = true;
    for (int i = 0; i < LOAD_BWE_N; i++)
        g.bwe_known &= load_prom_value(text, load_bwe_fields[i].metric, &g.bwe[i]) == 0;
    if (!g.bwe_known)
        fprintf(stderr, "palabre-load: %s has no palabre_media_bwe_* gauges\n", g.metrics_url);
    free(text);
}

static void window_snapshot(bool start, int64_t now)
{
    int64_t srv = g.server_pid ? load_proc_cpu_us(g.server_pid) : -1;
    int64_t tool = load_proc_cpu_us(0);
    int64_t turn = g.turn_pid ? load_proc_cpu_us(g.turn_pid) : -1;
    *(start ? &g.w_turn0 : &g.w_turn1) = turn;
    if (start) {
        g.w_t0 = now, g.w_srv0 = srv, g.w_tool0 = tool, g.w_recv0 = g.tot->received;
        g.w_unsig0 = g.tot->received_unsignaled;
    } else {
        g.w_t1 = now, g.w_srv1 = srv, g.w_tool1 = tool, g.w_recv1 = g.tot->received;
        g.w_unsig1 = g.tot->received_unsignaled;
        scrape_server();
    }
}

static gboolean on_tick(gpointer ud)
{
    (void)ud;
    int64_t now = pal_now_us();
    pal_loop_drain();
    if (g.interrupted && g.phase < PH_DRAIN) {
        if (g.phase != PH_WINDOW)
            window_snapshot(true, now);
        window_snapshot(false, now);
        g.env.sending = false;
        g.phase = PH_DRAIN;
        g.phase_end = now + DRAIN_MS * 1000;
    }
    switch (g.phase) {
    case PH_RAMP:
        start_participants(now);
        if (g.n_started == g.sc.participants) {
            g.phase = PH_SETTLE;
            g.phase_end = now + SETTLE_S * 1000000ll;
        }
        break;
    case PH_SETTLE:
        if (now >= g.phase_end) {
            window_snapshot(true, now);
            g.phase = PH_WINDOW;
            g.phase_end = now + g.sc.duration_s * 1000000ll;
        }
        break;
    case PH_WINDOW:
        if (now >= g.phase_end) {
            window_snapshot(false, now);
            g.env.sending = false;
            g.phase = PH_DRAIN;
            g.phase_end = now + DRAIN_MS * 1000;
        }
        break;
    case PH_DRAIN:
        if (now >= g.phase_end)
            g.phase = PH_DONE;
        break;
    case PH_DONE:
        break;
    }
    for (int i = 0; i < g.n_started; i++)
        if (g.parts[i]) {
            participant_send_due(g.parts[i], now);
            participant_feedback_due(g.parts[i], now);
        }
    if (now - g.s_last_us >= 1000000) {
        sample(now);
        for (int i = 0; i < g.n_started; i++)
            if (g.parts[i] && g.env.sig->tick)
                g.env.sig->tick(g.parts[i]);
    }
    return G_SOURCE_CONTINUE;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static struct load_pct pct_of(double *v, size_t n)
{
    struct load_pct p = {-1, -1, -1};
    if (!n)
        return p;
    qsort(v, n, sizeof(*v), cmp_double);
    p.p50 = v[(n - 1) / 2];
    p.p99 = v[(size_t)ceil(0.99 * (double)n) - 1];
    p.max = v[n - 1];
    return p;
}

static void collect(struct load_result *r)
{
    const struct load_scenario *s = &g.sc;
    memset(r, 0, sizeof(*r));
    r->target = g.target;
    r->scenario = s->name;
    r->url = g.url;
    time_t t = time(NULL);
    strftime(r->date, sizeof(r->date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    r->participants = s->participants;
    r->rooms = s->rooms;
    r->server_pid = g.server_pid;
    double *join = calloc((size_t)s->participants + 1, sizeof(double));
    double *first = calloc((size_t)s->participants + 1, sizeof(double));
    double *tracks = calloc((size_t)s->participants + 1, sizeof(double));
    size_t n_join = 0, n_first = 0, n_jitter = 0;
    double jitter_sum = 0;
    for (int i = 0; i < s->participants; i++) {
        const struct load_participant *p = g.parts[i];
        if (!p) {
            r->failed++;
            if (tracks)
                tracks[i] = 0;
            continue;
        }
        int p_expected = r->streams_expected, p_received = r->streams_received;
        uint64_t p_switches = 0;
        r->publishers += p->publishes;
        r->failed += p->gone;
        if (p->joined_us) {
            r->joined++;
            if (join)
                join[n_join++] = (double)(p->joined_us - p->start_us) / 1000.0;
        }
        if (p->tcc) {
            struct load_tcc_stats ts;
            load_tcc_get_stats(p->tcc, &ts);
            r->twcc_feedbacks += ts.feedbacks;
            r->twcc_recorded += ts.recorded;
        }
        if (p->first_media_us && first)
            first[n_first++] = (double)(p->first_media_us - p->start_us) / 1000.0;
        /* every publisher of the room but itself, each of its kinds */
        for (int k = 0; k < p->room_size; k++) {
            if (k == p->index_in_room || !load_scenario_publishes(s, k))
                continue;
            for (int v = 0; v < 2; v++) {
                if (!(v ? s->video : s->audio))
                    continue;
                const struct load_rx *rx = &p->rx[k * 2 + v];
                p_switches += rx->switches;
                r->streams_expected++;
                if (!rx->seen)
                    continue;
                r->streams_received++;
                uint64_t exp = load_rx_expected(rx);
                r->expected += exp;
                r->lost += exp > rx->received ? exp - rx->received : 0;
                jitter_sum += rx->jitter_us;
                n_jitter++;
                if (rx->jitter_us / 1000 > r->jitter_max_ms)
                    r->jitter_max_ms = rx->jitter_us / 1000;
            }
        }
        r->layer_switches += p_switches;
        r->subscribers_switched += p_switches > 0;
        if ((int)p_switches > r->layer_switches_max)
            r->layer_switches_max = (int)p_switches;
        p_expected = r->streams_expected - p_expected;
        p_received = r->streams_received - p_received;
        if (tracks)
            tracks[i] = p_received;
        r->tracks_expected_max = p_expected > r->tracks_expected_max ? p_expected
                                                                      : r->tracks_expected_max;
        r->participants_all_tracks += p_received == p_expected;
    }
    if (tracks) {
        /* every participant counts: one that failed received nothing */
        struct load_pct tp = pct_of(tracks, (size_t)s->participants);
        r->tracks_min = (int)tracks[0];
        r->tracks_median = (int)tp.p50;
        r->tracks_max = (int)tp.max;
    }
    free(tracks);
    r->join_ms = pct_of(join, n_join);
    r->first_media_ms = pct_of(first, n_first);
    free(join);
    free(first);
    const struct load_totals *tot = g.tot;
    r->sent_audio = tot->sent[0];
    r->sent_video = tot->sent[1];
    r->send_errors = tot->send_errors;
    r->forwarded = tot->received;
    r->other_packets = tot->received_other;
    r->unsignaled_packets = tot->received_unsignaled;
    r->simulcast = s->simulcast;
    for (int l = 0; l < LOAD_MAX_LAYERS; l++)
        r->received_by_layer[l] = tot->received_by_layer[l];
    r->loss_ratio = r->expected ? (double)r->lost / (double)r->expected : 0;
    r->delay_p50 = load_hist_pct_ms(&tot->delay, 0.5);
    r->delay_p90 = load_hist_pct_ms(&tot->delay, 0.9);
    r->delay_p99 = load_hist_pct_ms(&tot->delay, 0.99);
    r->delay_max = load_hist_pct_ms(&tot->delay, 1.0);
    r->delay_mean = tot->delay.n ? tot->delay.sum_us / (double)tot->delay.n / 1000 : 0;
    r->jitter_mean_ms = n_jitter ? jitter_sum / (double)n_jitter / 1000 : 0;
    r->nack_received = tot->nack_received;
    r->nack_seqs_received = tot->nack_seqs_received;
    r->pli_received = tot->pli_received;
    r->twcc_send_errors = tot->twcc_send_errors;
    r->twcc_received = tot->twcc_received;
    r->bwe_known = g.bwe_known;
    memcpy(r->bwe, g.bwe, sizeof(r->bwe));
    r->media_errors = tot->media_errors;
    r->signaling_errors = tot->signaling_errors;
    r->late_ticks = tot->late_ticks;
    r->window_s = (double)(g.w_t1 - g.w_t0) / 1e6;
    r->window_forwarded = g.w_recv1 - g.w_recv0;
    r->window_unsignaled = g.w_unsig1 - g.w_unsig0;
    r->server_cpu_us = g.server_pid && g.w_srv0 >= 0 && g.w_srv1 >= 0 ? (double)(g.w_srv1 - g.w_srv0)
                                                                        : -1;
    r->server_cpu_pct = r->window_s > 0 ? r->server_cpu_us / 1e4 / r->window_s : 0;
    r->server_cpu_us_per_forwarded_packet =
        r->window_forwarded ? r->server_cpu_us / (double)r->window_forwarded : -1;
    r->server_rss_kib = g.server_pid ? g.rss_max : -1;
    r->turn_cpu_us = g.turn_pid && g.w_turn0 >= 0 && g.w_turn1 >= 0 ? (double)(g.w_turn1 - g.w_turn0) : -1;
    r->turn_cpu_pct = r->window_s > 0 ? r->turn_cpu_us / 1e4 / r->window_s : 0;
    r->turn_cpu_us_per_forwarded_packet =
        r->window_forwarded ? r->turn_cpu_us / (double)r->window_forwarded : -1;
    double tool_us = (double)(g.w_tool1 - g.w_tool0);
    r->tool_cpu_pct = r->window_s > 0 ? tool_us / 1e4 / r->window_s : 0;
    r->tool_cpu_pct_per_participant = r->tool_cpu_pct / s->participants;
    r->tool_cpu_us_per_packet = r->window_forwarded ? tool_us / (double)r->window_forwarded : 0;
    r->tool_saturated = r->late_ticks > 0 || r->tool_cpu_pct > TOOL_SATURATED_PCT;
    r->samples = g.samples;
    r->n_samples = g.n_samples;
}

static bool is_loopback_url(const char *url)
{
    return strncmp(url, "ws://127.", 9) == 0 || strncmp(url, "ws://localhost", 14) == 0;
}

int main(int argc, char **argv)
{
    enum { O_PID = 1000, O_JSON, O_PLOT, O_TARGET, O_PARTS, O_DUR, O_RAMP, O_IFACES, O_PREFIX, O_TURN, O_TURN_PID,
           O_METRICS, O_NO_TCC };
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},
        {"scenario", required_argument, NULL, 's'},
        {"server-pid", required_argument, NULL, O_PID},
        {"json", required_argument, NULL, O_JSON},
        {"plot", required_argument, NULL, O_PLOT},
        {"target", required_argument, NULL, O_TARGET},
        {"participants", required_argument, NULL, O_PARTS},
        {"duration", required_argument, NULL, O_DUR},
        {"ramp", required_argument, NULL, O_RAMP},
        {"interfaces", required_argument, NULL, O_IFACES},
        {"room-prefix", required_argument, NULL, O_PREFIX},
        {"turn", no_argument, NULL, O_TURN},
        {"turn-pid", required_argument, NULL, O_TURN_PID},
        {"metrics-url", required_argument, NULL, O_METRICS},
        {"no-transport-cc", no_argument, NULL, O_NO_TCC},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int participants = 0, duration = 0;
    double ramp = 0;
    const char *ifaces = "";
    g.target = "palabre";
    g.room_prefix = "load";
    int c;
    while ((c = getopt_long(argc, argv, "u:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'u': g.url = optarg; break;
        case 's': g.scenario_arg = optarg; break;
        case O_PID: g.server_pid = atoi(optarg); break;
        case O_JSON: g.json_path = optarg; break;
        case O_PLOT: g.plot_path = optarg; break;
        case O_TARGET: g.target = optarg; break;
        case O_PARTS: participants = atoi(optarg); break;
        case O_DUR: duration = atoi(optarg); break;
        case O_RAMP: ramp = atof(optarg); break;
        case O_IFACES: ifaces = optarg; break;
        case O_PREFIX: g.room_prefix = optarg; break;
        case O_TURN: g.env.turn = true; break;
        case O_TURN_PID: g.turn_pid = atoi(optarg); break;
        case O_METRICS: g.metrics_url = optarg; break;
        case O_NO_TCC: g.env.no_tcc = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!g.url || !g.scenario_arg || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (strcmp(g.target, "palabre") != 0 && strcmp(g.target, "janus") != 0) {
        fprintf(stderr, "palabre-load: --target palabre or janus\n");
        return 2;
    }
    /* scenarios: next to the binary's tree (build/../bench/scenarios), then ./ */
    char exe[PATH_MAX] = "", dir1[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    snprintf(dir1, sizeof(dir1), "%s/../bench/scenarios", dirname(exe));
    const char *dirs[] = {dir1, "bench/scenarios", NULL};
    char err[256];
    if (load_scenario_load(g.scenario_arg, dirs, &g.sc, err, sizeof(err)) != 0) {
        fprintf(stderr, "palabre-load: %s\n", err);
        return 2;
    }
    if (participants > 0)
        g.sc.participants = participants;
    if (duration > 0)
        g.sc.duration_s = duration;
    if (ramp > 0)
        g.sc.ramp_per_s = ramp;
    if (g.sc.rooms > g.sc.participants)
        g.sc.rooms = g.sc.participants;
    static char metrics_url[512];
    if (g.metrics_url && !strcmp(g.metrics_url, "none"))
        g.metrics_url = NULL;
    else if (!g.metrics_url && !strcmp(g.target, "palabre") &&
             load_metrics_url(g.url, metrics_url, sizeof(metrics_url)) == 0)
        g.metrics_url = metrics_url;
    if (g.turn_pid && load_proc_cpu_us(g.turn_pid) < 0) {
        fprintf(stderr, "palabre-load: no process %d\n", g.turn_pid);
        return 2;
    }
    if (g.server_pid && load_proc_cpu_us(g.server_pid) < 0) {
        fprintf(stderr, "palabre-load: no process %d\n", g.server_pid);
        return 2;
    }

    enum pal_log_level level = PAL_LOG_ERROR; /* PALABRE_LOAD_LOG=debug: media/ logs */
    if (getenv("PALABRE_LOAD_LOG"))
        pal_log_level_parse(getenv("PALABRE_LOAD_LOG"), &level);
    pal_log_set_level(level);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    g.tot = calloc(1, sizeof(*g.tot));
    g.parts = calloc((size_t)g.sc.participants, sizeof(*g.parts));
    struct load_media_source *media = NULL;
    int rc = g.tot && g.parts ? 0 : -ENOMEM;
    fprintf(stderr, "palabre-load: encoding %s%s%s frames...\n", g.sc.audio ? "Opus" : "",
            g.sc.audio && g.sc.video ? " and " : "", g.sc.video ? "VP8" : "");
    if (!rc)
        rc = load_media_source_create(&g.sc, &media);
    if (!rc)
        rc = pal_dtls_cert_create(&g.env.cert);
    if (rc) {
        fprintf(stderr, "palabre-load: setup failed: %s\n", strerror(-rc));
        return 1;
    }
    GMainContext *ctx = g_main_context_new();
    /* one thread: GLib's self-wakeups need not end its polls (palabre/loop.h) */
    pal_loop_init(ctx);
    g.env.ctx = ctx;
    g.env.media_cfg.add_loopback = is_loopback_url(g.url);
    snprintf(g.env.media_cfg.interfaces, sizeof(g.env.media_cfg.interfaces), "%s", ifaces);
    g.env.scenario = &g.sc;
    g.env.media = media;
    g.env.sig = strcmp(g.target, "janus") == 0 ? &load_signaling_janus : &load_signaling_palabre;
    g.env.url = g.url;
    g.env.room_prefix = g.room_prefix;
    g.env.totals = g.tot;
    g.env.sending = true;
    g.env.trace = getenv("PALABRE_LOAD_TRACE") != NULL;
    fprintf(stderr, "palabre-load: %s: %d participants in %d rooms, ramp %.1f/s, %d s of steady load\n",
            g.sc.name, g.sc.participants, g.sc.rooms, g.sc.ramp_per_s, g.sc.duration_s);

    g.t0 = pal_now_us();
    g.rss_max = -1;
    sample(g.t0);
    GSource *tick = g_timeout_source_new(TICK_MS);
    g_source_set_callback(tick, on_tick, NULL, NULL);
    g_source_attach(tick, ctx);
    while (g.phase != PH_DONE)
        g_main_context_iteration(ctx, TRUE);
    if (isatty(2))
        fputc('\n', stderr);

    struct load_result r;
    collect(&r);
    load_report_table(&r, stdout);
    int exit_code = 0;
    if (g.json_path && load_report_json(&r, g.json_path) != 0) {
        fprintf(stderr, "palabre-load: cannot write %s\n", g.json_path);
        exit_code = 1;
    }
    if (g.plot_path && load_report_svg(&r, g.plot_path) != 0) {
        fprintf(stderr, "palabre-load: cannot write %s\n", g.plot_path);
        exit_code = 1;
    }
    g_source_destroy(tick);
    g_source_unref(tick);
    for (int i = 0; i < g.n_started; i++)
        participant_destroy(g.parts[i]);
    /* let libnice finish closing its sockets */
    while (g_main_context_iteration(ctx, FALSE))
        ;
    g_main_context_unref(ctx);
    pal_dtls_cert_destroy(g.env.cert);
    load_media_source_destroy(media);
    free(g.parts);
    free(g.tot);
    free(g.samples);
    if (!exit_code && (r.failed || r.joined < r.participants))
        exit_code = 3;
    return exit_code;
}
