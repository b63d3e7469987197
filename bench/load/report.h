/* What palabre-load prints and writes at the end: the table, the JSON file
 * (--json) and the plot (--plot, SVG: server CPU and forwarding delay
 * against the number of participants, second by second over the ramp).
 *
 * Thread: the loop's thread. */
#ifndef PALABRE_LOAD_REPORT_H
#define PALABRE_LOAD_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* What palabre-load reads from the server's /metrics at the window's end. */
enum load_bwe {
    LOAD_BWE_SUBSCRIBERS, /* palabre_media_bwe_subscribers */
    LOAD_BWE_AVG_BPS,     /* palabre_media_bwe_estimate_avg_bps */
    LOAD_BWE_MIN_BPS,     /* palabre_media_bwe_estimate_min_bps */
    LOAD_BWE_PAUSED,      /* palabre_media_bwe_paused_tracks */
    LOAD_BWE_SWITCHES,    /* palabre_media_layer_switches_bandwidth_total (over the
                           * server's life: a fresh server per run gives the run's) */
    LOAD_BWE_N
};
/* Each one's metric name and its key under the JSON's transport_cc. */
struct load_bwe_field {
    const char *metric, *json_key;
};
extern const struct load_bwe_field load_bwe_fields[LOAD_BWE_N];

/* One second of the run. */
struct load_sample {
    double t_s;
    int participants;     /* started */
    int connected;        /* whose subscribe (or publish) PC is up */
    double recv_pps, sent_pps;
    double server_cpu_pct; /* of one core; < 0 unknown */
    long server_rss_kib;
    double tool_cpu_pct;
    double delay_p50_ms, delay_p99_ms; /* packets received in that second */
};

struct load_pct {
    double p50, p99, max;
};

struct load_result {
    const char *target, *scenario, *url;
    char date[32];
    int participants, rooms, publishers, joined, failed, server_pid;
    struct load_pct join_ms, first_media_ms;
    uint64_t sent_audio, sent_video, send_errors, forwarded, lost, expected, other_packets,
        unsignaled_packets;
    double loss_ratio;
    double delay_p50, delay_p90, delay_p99, delay_max, delay_mean;
    double jitter_mean_ms, jitter_max_ms;
    uint64_t nack_received, nack_seqs_received, pli_received, media_errors, signaling_errors,
        late_ticks;
    int streams_expected, streams_received;
    /* Simulcast (simulcast = 1): video packets received per layer (q, h, f),
     * and the layer switches the subscribers saw (a publisher's video
     * arriving from another layer than its previous packet): in all, the
     * most one subscriber saw, and how many saw at least one. */
    bool simulcast;
    uint64_t received_by_layer[3];
    uint64_t layer_switches;
    int layer_switches_max, subscribers_switched;
    /* Per participant: tracks (another publisher's audio or video) it
     * received media on, of those it should have (most expected by one
     * participant: tracks_expected_max). The worst, median and best
     * participant, and how many received every track they should: a server
     * that stops offering beyond some number of tracks shows here. */
    /* Transport-wide congestion control (tcc.h): feedback packets the
     * subscribers sent, the arrivals they reported, compounds their
     * transport refused; feedback the server sent the publishers. */
    uint64_t twcc_feedbacks, twcc_recorded, twcc_send_errors, twcc_received;
    /* The server's send-side bandwidth estimates for the subscribers, read
     * from its /metrics at the window's end (Palabre; bwe_known false when
     * not read), indexed by enum load_bwe. */
    bool bwe_known;
    double bwe[LOAD_BWE_N];
    int tracks_expected_max, tracks_min, tracks_median, tracks_max, participants_all_tracks;
    /* the measurement window: steady load after the ramp */
    double window_s;
    uint64_t window_forwarded;
    uint64_t window_unsignaled; /* sent by the server too, but on no announced track */
    double server_cpu_us;        /* < 0 unknown (no --server-pid) */
    double server_cpu_pct;
    double server_cpu_us_per_forwarded_packet;
    long server_rss_kib;
    /* --turn-pid: the TURN server's CPU over the same window, per packet the
     * subscribers received (each crossed it twice: publisher → server → subscriber) */
    double turn_cpu_us; /* < 0 unknown */
    double turn_cpu_pct, turn_cpu_us_per_forwarded_packet;
    double tool_cpu_pct, tool_cpu_pct_per_participant, tool_cpu_us_per_packet;
    /* The tool fell behind its own send schedule or used most of its one
     * thread: the machine, not the server, set the figures of this run. */
    bool tool_saturated;
    const struct load_sample *samples;
    size_t n_samples;
};

void load_report_table(const struct load_result *r, FILE *out);
int load_report_json(const struct load_result *r, const char *path);
int load_report_svg(const struct load_result *r, const char *path);

#endif
