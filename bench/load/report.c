/* Table, JSON and SVG of a palabre-load run. See report.h. */
#include "report.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const struct load_bwe_field load_bwe_fields[LOAD_BWE_N] = {
    [LOAD_BWE_SUBSCRIBERS] = {"palabre_media_bwe_subscribers", "server_bwe_subscribers"},
    [LOAD_BWE_AVG_BPS] = {"palabre_media_bwe_estimate_avg_bps", "server_estimate_avg_bps"},
    [LOAD_BWE_MIN_BPS] = {"palabre_media_bwe_estimate_min_bps", "server_estimate_min_bps"},
    [LOAD_BWE_PAUSED] = {"palabre_media_bwe_paused_tracks", "server_bwe_paused_tracks"},
    [LOAD_BWE_SWITCHES] = {"palabre_media_layer_switches_bandwidth_total",
                           "server_layer_switches_bandwidth"},
};

static json_t *num_or_null(double v)
{
    return v < 0 || isnan(v) ? json_null() : json_real(round(v * 1000) / 1000);
}

static json_t *pct_json(const struct load_pct *p)
{
    return json_pack("{s:o,s:o,s:o}", "p50", num_or_null(p->p50), "p99", num_or_null(p->p99),
                     "max", num_or_null(p->max));
}

void load_report_table(const struct load_result *r, FILE *out)
{
    fprintf(out, "\npalabre-load: scenario %s against %s (%s), %s\n", r->scenario, r->target, r->url,
            r->date);
    fprintf(out, "| measure | value |\n|---|---:|\n");
    fprintf(out, "| participants (joined / failed) | %d (%d / %d), %d rooms, %d publishers |\n",
            r->participants, r->joined, r->failed, r->rooms, r->publishers);
    fprintf(out, "| join time p50 / p99 / max | %.1f / %.1f / %.1f ms |\n", r->join_ms.p50,
            r->join_ms.p99, r->join_ms.max);
    fprintf(out, "| time to first media p50 / p99 / max | %.0f / %.0f / %.0f ms |\n",
            r->first_media_ms.p50, r->first_media_ms.p99, r->first_media_ms.max);
    fprintf(out, "| packets sent (audio / video) | %llu / %llu |\n",
            (unsigned long long)r->sent_audio, (unsigned long long)r->sent_video);
    fprintf(out, "| packets received (forwarded) | %llu |\n", (unsigned long long)r->forwarded);
    if (r->unsignaled_packets)
        fprintf(out, "| packets on SSRCs no subscribe offer announced (not counted) | %llu |\n",
                (unsigned long long)r->unsignaled_packets);
    fprintf(out, "| lost / loss ratio | %llu / %.5f |\n", (unsigned long long)r->lost,
            r->loss_ratio);
    fprintf(out, "| streams received / expected | %d / %d |\n", r->streams_received,
            r->streams_expected);
    fprintf(out, "| tracks received per participant min / median / max (expected %d) | "
                 "%d / %d / %d; %d of %d participants got all |\n",
            r->tracks_expected_max, r->tracks_min, r->tracks_median, r->tracks_max,
            r->participants_all_tracks, r->participants);
    if (r->simulcast) {
        fprintf(out, "| video packets received per layer q / h / f | %llu / %llu / %llu |\n",
                (unsigned long long)r->received_by_layer[0],
                (unsigned long long)r->received_by_layer[1],
                (unsigned long long)r->received_by_layer[2]);
        fprintf(out, "| layer switches seen (total / most by one subscriber / subscribers) | "
                     "%llu / %d / %d |\n",
                (unsigned long long)r->layer_switches, r->layer_switches_max,
                r->subscribers_switched);
    }
    fprintf(out, "| transport-cc feedback sent by subscribers (packets / arrivals reported / "
                 "send errors) | %llu / %llu / %llu |\n",
            (unsigned long long)r->twcc_feedbacks, (unsigned long long)r->twcc_recorded,
            (unsigned long long)r->twcc_send_errors);
    if (r->bwe_known) {
        fprintf(out, "| server's bandwidth estimates (subscribers / mean / lowest) | "
                     "%.0f / %.0f / %.0f kbit/s |\n",
                r->bwe[LOAD_BWE_SUBSCRIBERS], r->bwe[LOAD_BWE_AVG_BPS] / 1000,
                r->bwe[LOAD_BWE_MIN_BPS] / 1000);
        fprintf(out, "| server's layer switches for bandwidth / tracks paused for it | %.0f / %.0f |\n",
                r->bwe[LOAD_BWE_SWITCHES], r->bwe[LOAD_BWE_PAUSED]);
    }
    fprintf(out, "| forwarding delay p50 / p90 / p99 / max | %.2f / %.2f / %.2f / %.2f ms |\n",
            r->delay_p50, r->delay_p90, r->delay_p99, r->delay_max);
    fprintf(out, "| jitter mean / max | %.3f / %.3f ms |\n", r->jitter_mean_ms, r->jitter_max_ms);
    fprintf(out, "| NACK (packets / seqs) / PLI received by publishers | %llu / %llu / %llu |\n",
            (unsigned long long)r->nack_received, (unsigned long long)r->nack_seqs_received,
            (unsigned long long)r->pli_received);
    fprintf(out, "| window (steady load) | %.1f s, %llu forwarded packets |\n", r->window_s,
            (unsigned long long)r->window_forwarded);
    if (r->server_cpu_us >= 0) {
        fprintf(out, "| server CPU | %.1f %% of a core |\n", r->server_cpu_pct);
        fprintf(out, "| server CPU per forwarded packet | %.2f µs |\n",
                r->server_cpu_us_per_forwarded_packet);
        fprintf(out, "| server RSS | %ld KiB |\n", r->server_rss_kib);
    } else {
        fprintf(out, "| server CPU | unknown (no --server-pid) |\n");
    }
    if (r->turn_cpu_us >= 0) {
        fprintf(out, "| TURN server CPU | %.1f %% of a core |\n", r->turn_cpu_pct);
        fprintf(out, "| TURN server CPU per forwarded packet | %.2f µs |\n",
                r->turn_cpu_us_per_forwarded_packet);
    }
    fprintf(out, "| load tool CPU | %.1f %% of a core, %.2f %% per participant, %.2f µs per packet |\n",
            r->tool_cpu_pct, r->tool_cpu_pct_per_participant, r->tool_cpu_us_per_packet);
    fprintf(out, "| errors (media / signaling / send / late frames) | %llu / %llu / %llu / %llu |\n",
            (unsigned long long)r->media_errors, (unsigned long long)r->signaling_errors,
            (unsigned long long)r->send_errors, (unsigned long long)r->late_ticks);
    if (r->tool_saturated)
        fprintf(out, "| **load tool saturated** | it fell behind its send schedule (%llu late "
                     "frames) or used %.0f %% of its one thread: the machine limited this run, "
                     "not the server; lost consent and delays here are the tool's |\n",
                (unsigned long long)r->late_ticks, r->tool_cpu_pct);
}

int load_report_json(const struct load_result *r, const char *path)
{
    json_t *timeline = json_array();
    for (size_t i = 0; i < r->n_samples; i++) {
        const struct load_sample *s = &r->samples[i];
        json_array_append_new(
            timeline,
            json_pack("{s:o,s:i,s:i,s:o,s:o,s:o,s:o,s:o,s:o,s:I}", "t_s", num_or_null(s->t_s),
                      "participants", s->participants, "connected", s->connected, "recv_pps",
                      num_or_null(s->recv_pps), "sent_pps", num_or_null(s->sent_pps),
                      "server_cpu_percent", num_or_null(s->server_cpu_pct), "tool_cpu_percent",
                      num_or_null(s->tool_cpu_pct), "delay_p50_ms", num_or_null(s->delay_p50_ms),
                      "delay_p99_ms", num_or_null(s->delay_p99_ms), "server_rss_kib",
                      (json_int_t)s->server_rss_kib));
    }
    bool all = r->streams_received == r->streams_expected;
    json_t *j = json_object();
    json_object_set_new(j, "target", json_string(r->target));
    json_object_set_new(j, "scenario", json_string(r->scenario));
    json_object_set_new(j, "url", json_string(r->url));
    json_object_set_new(j, "date", json_string(r->date));
    json_object_set_new(j, "participants", json_integer(r->participants));
    json_object_set_new(j, "rooms", json_integer(r->rooms));
    json_object_set_new(j, "publishers", json_integer(r->publishers));
    json_object_set_new(j, "joined", json_integer(r->joined));
    json_object_set_new(j, "failed", json_integer(r->failed));
    json_object_set_new(j, "join_ms", pct_json(&r->join_ms));
    json_object_set_new(j, "first_media_ms", pct_json(&r->first_media_ms));
    json_object_set_new(j, "packets_sent",
                        json_pack("{s:I,s:I,s:I}", "audio", (json_int_t)r->sent_audio, "video",
                                  (json_int_t)r->sent_video, "errors", (json_int_t)r->send_errors));
    json_object_set_new(j, "forwarded_packets", json_integer((json_int_t)r->forwarded));
    json_object_set_new(j, "expected_packets", json_integer((json_int_t)r->expected));
    json_object_set_new(j, "lost_packets", json_integer((json_int_t)r->lost));
    json_object_set_new(j, "loss_ratio", json_real(r->loss_ratio));
    json_object_set_new(j, "other_packets", json_integer((json_int_t)r->other_packets));
    json_object_set_new(j, "unsignaled_packets", json_integer((json_int_t)r->unsignaled_packets));
    if (r->simulcast)
        json_object_set_new(
            j, "simulcast",
            json_pack("{s:[I,I,I],s:I,s:i,s:i}", "video_packets_by_layer",
                      (json_int_t)r->received_by_layer[0], (json_int_t)r->received_by_layer[1],
                      (json_int_t)r->received_by_layer[2], "layer_switches",
                      (json_int_t)r->layer_switches, "layer_switches_max_per_subscriber",
                      r->layer_switches_max, "subscribers_switched", r->subscribers_switched));
    json_t *tcc = json_pack("{s:I,s:I,s:I,s:I}", "feedback_packets", (json_int_t)r->twcc_feedbacks,
                            "arrivals_reported", (json_int_t)r->twcc_recorded, "send_errors",
                            (json_int_t)r->twcc_send_errors, "publisher_feedback_received",
                            (json_int_t)r->twcc_received);
    for (int i = 0; i < LOAD_BWE_N; i++)
        json_object_set_new(tcc, load_bwe_fields[i].json_key,
                            r->bwe_known ? num_or_null(r->bwe[i]) : json_null());
    json_object_set_new(j, "transport_cc", tcc);
    json_object_set_new(j, "streams_expected", json_integer(r->streams_expected));
    json_object_set_new(j, "streams_received", json_integer(r->streams_received));
    json_object_set_new(j, "every_subscriber_received_every_publisher", json_boolean(all));
    json_object_set_new(j, "tracks_per_participant",
                        json_pack("{s:i,s:i,s:i,s:i,s:i}", "expected", r->tracks_expected_max,
                                  "min", r->tracks_min, "median", r->tracks_median, "max",
                                  r->tracks_max, "participants_with_all", r->participants_all_tracks));
    json_object_set_new(j, "delay_ms",
                        json_pack("{s:o,s:o,s:o,s:o,s:o}", "p50", num_or_null(r->delay_p50), "p90",
                                  num_or_null(r->delay_p90), "p99", num_or_null(r->delay_p99),
                                  "max", num_or_null(r->delay_max), "mean",
                                  num_or_null(r->delay_mean)));
    json_object_set_new(j, "jitter_ms",
                        json_pack("{s:o,s:o}", "mean", num_or_null(r->jitter_mean_ms), "max",
                                  num_or_null(r->jitter_max_ms)));
    json_object_set_new(j, "nack_received", json_integer((json_int_t)r->nack_received));
    json_object_set_new(j, "nack_seqs_received", json_integer((json_int_t)r->nack_seqs_received));
    json_object_set_new(j, "pli_received", json_integer((json_int_t)r->pli_received));
    json_object_set_new(j, "media_errors", json_integer((json_int_t)r->media_errors));
    json_object_set_new(j, "signaling_errors", json_integer((json_int_t)r->signaling_errors));
    json_object_set_new(j, "late_frames", json_integer((json_int_t)r->late_ticks));
    json_object_set_new(j, "window_s", num_or_null(r->window_s));
    json_object_set_new(j, "window_forwarded_packets", json_integer((json_int_t)r->window_forwarded));
    json_object_set_new(j, "window_unsignaled_packets", json_integer((json_int_t)r->window_unsignaled));
    json_object_set_new(j, "server_pid", r->server_pid ? json_integer(r->server_pid) : json_null());
    json_object_set_new(j, "server_cpu_us", num_or_null(r->server_cpu_us));
    json_object_set_new(j, "server_cpu_percent",
                        r->server_cpu_us < 0 ? json_null() : num_or_null(r->server_cpu_pct));
    json_object_set_new(j, "server_cpu_us_per_forwarded_packet",
                        r->server_cpu_us < 0 ? json_null()
                                             : num_or_null(r->server_cpu_us_per_forwarded_packet));
    json_object_set_new(j, "turn_cpu_percent",
                        r->turn_cpu_us < 0 ? json_null() : num_or_null(r->turn_cpu_pct));
    json_object_set_new(j, "turn_cpu_us_per_forwarded_packet",
                        r->turn_cpu_us < 0 ? json_null()
                                           : num_or_null(r->turn_cpu_us_per_forwarded_packet));
    json_object_set_new(j, "server_rss_kib",
                        r->server_rss_kib < 0 ? json_null() : json_integer(r->server_rss_kib));
    json_object_set_new(j, "tool_cpu_percent", num_or_null(r->tool_cpu_pct));
    json_object_set_new(j, "tool_cpu_percent_per_participant",
                        num_or_null(r->tool_cpu_pct_per_participant));
    json_object_set_new(j, "tool_cpu_us_per_packet", num_or_null(r->tool_cpu_us_per_packet));
    json_object_set_new(j, "tool_saturated", json_boolean(r->tool_saturated));
    json_object_set_new(j, "timeline", timeline);
    int rc = json_dump_file(j, path, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) ? -EIO : 0;
    json_decref(j);
    return rc;
}

/* ---- SVG ------------------------------------------------------------------------ */

#define W 760
#define H 300
#define ML 60
#define MR 20
#define MT 30
#define MB 40

static double nice_max(double v)
{
    if (v <= 0)
        return 1;
    double p = pow(10, floor(log10(v)));
    for (double m = 1; m <= 10; m *= 2)
        if (v <= m * p)
            return m * p;
    return 10 * p;
}

static void chart(FILE *f, const struct load_result *r, int y0, const char *title,
                  const char *unit, const double *a, const double *b, const char *la,
                  const char *lb, double xmax)
{
    double ymax = 0;
    for (size_t i = 0; i < r->n_samples; i++) {
        if (a[i] > ymax)
            ymax = a[i];
        if (b && b[i] > ymax)
            ymax = b[i];
    }
    ymax = nice_max(ymax);
    int pw = W - ML - MR, ph = H - MT - MB;
    fprintf(f, "<g transform='translate(0,%d)'>\n", y0);
    fprintf(f, "<text x='%d' y='18' font-size='14' font-weight='bold'>%s</text>\n", ML, title);
    fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#999'/>\n", ML, MT,
            pw, ph);
    for (int k = 0; k <= 4; k++) {
        int y = MT + ph - k * ph / 4;
        fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#eee'/>"
                   "<text x='%d' y='%d' font-size='11' text-anchor='end'>%g</text>\n",
                ML, y, ML + pw, y, ML - 4, y + 4, ymax * k / 4);
        int x = ML + k * pw / 4;
        fprintf(f, "<text x='%d' y='%d' font-size='11' text-anchor='middle'>%g</text>\n", x,
                MT + ph + 14, round(xmax * k / 4));
    }
    fprintf(f, "<text x='%d' y='%d' font-size='12' text-anchor='middle'>participants</text>\n",
            ML + pw / 2, MT + ph + 32);
    fprintf(f, "<text x='14' y='%d' font-size='12' transform='rotate(-90 14 %d)' "
               "text-anchor='middle'>%s</text>\n", MT + ph / 2, MT + ph / 2, unit);
    const double *series[2] = {a, b};
    const char *colors[2] = {"#c0392b", "#2c3e50"}, *labels[2] = {la, lb};
    for (int s = 0; s < 2; s++) {
        if (!series[s])
            continue;
        fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='1.5' points='", colors[s]);
        for (size_t i = 0; i < r->n_samples; i++) {
            double x = ML + pw * r->samples[i].participants / xmax;
            double y = MT + ph - ph * (series[s][i] < 0 ? 0 : series[s][i]) / ymax;
            fprintf(f, "%.1f,%.1f ", x, y);
        }
        fprintf(f, "'/>\n<text x='%d' y='%d' font-size='12' fill='%s'>%s</text>\n",
                ML + pw - 160, MT + 16 + 16 * s, colors[s], labels[s]);
    }
    fprintf(f, "</g>\n");
}

int load_report_svg(const struct load_result *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    size_t n = r->n_samples ? r->n_samples : 1;
    double *cpu = calloc(n, sizeof(double)), *tool = calloc(n, sizeof(double)),
           *p50 = calloc(n, sizeof(double)), *p99 = calloc(n, sizeof(double));
    double xmax = 1;
    for (size_t i = 0; cpu && tool && p50 && p99 && i < r->n_samples; i++) {
        cpu[i] = r->samples[i].server_cpu_pct;
        tool[i] = r->samples[i].tool_cpu_pct;
        p50[i] = r->samples[i].delay_p50_ms;
        p99[i] = r->samples[i].delay_p99_ms;
        if (r->samples[i].participants > xmax)
            xmax = r->samples[i].participants;
    }
    int rc = 0;
    if (cpu && tool && p50 && p99) {
        fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
                   "font-family='sans-serif'>\n<rect width='100%%' height='100%%' fill='white'/>\n"
                   "<text x='%d' y='20' font-size='15'>palabre-load %s against %s, %s</text>\n",
                W, 2 * H + 30, ML, r->scenario, r->target, r->date);
        chart(f, r, 30, "CPU (one second samples)", "% of one core", cpu, tool, "server",
              "load tool", xmax);
        chart(f, r, 30 + H, "Forwarding delay (packets received in each second)", "ms", p50, p99,
              "p50", "p99", xmax);
        fprintf(f, "</svg>\n");
    } else {
        rc = -ENOMEM;
    }
    free(cpu);
    free(tool);
    free(p50);
    free(p99);
    if (fclose(f) != 0 && !rc)
        rc = -EIO;
    return rc;
}
