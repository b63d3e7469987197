/* What idle mixers cost: R rooms, each with one participant who receives the
 * room mixed (an audio and a video mixed track, i.e. `receive: "mixed"`) and
 * nobody publishing. That is issue 10's case: 60 mixed joins in empty rooms
 * took 2 cores and 2 GB when each started a full 1280x720 composite.
 *
 *   build/bench_mixer_idle [R [S [W]]]     (defaults: 60 rooms, 10 s, 2 workers)
 *
 * The rooms (media/room.c) and their mixers run as in the server: W worker
 * loops (here: one bench thread ticking every room each 20 ms and
 * dispatching the mixers' packets) and W mixer threads
 * (mixer/mixer_thread.c) at the server's [mixer] defaults (1280x720, 15 fps,
 * 1200 kbit/s). The sinks drop the packets (SRTP and the send are the
 * forwarding benchmark's).
 *
 * Reported over a window of S seconds, after 2 s of settling: the process's
 * CPU (getrusage utime+stime, as a fraction of one core), its resident memory
 * (VmRSS, and the growth over the same process before the rooms were made),
 * the mixer threads' CPU, and the packets the idle rooms sent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "palabre/media.h"
#include "palabre/mixer.h"
#include "palabre/mixer_thread.h"
#include "palabre/room.h"
#include "media_track.h"

#define MAX_ROOMS 1000
#define MAX_WORKERS 16

static uint64_t packets_out;

static int sink_rtp(void *ctx, const uint8_t *hdr, size_t hdr_len, const uint8_t *body,
                    size_t body_len)
{
    packets_out++;
    return 0;
}

static int sink_rtcp(void *ctx, uint8_t *buf, size_t len, size_t cap)
{
    return 0;
}

static double process_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* VmRSS in KiB, from /proc/self/status. */
static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

/* Runs the rooms in real time for ms: room ticks every 20 ms, the mixers'
 * packets dispatched every 10 ms (the workers' eventfd wake-ups). */
static void run(struct pal_room **rooms, int R, struct pal_mixer_thread **mt, int W, int64_t ms)
{
    int64_t start = pal_now_ms();
    for (int64_t k = 0; k * 10 < ms; k++) {
        if (k % 2 == 0)
            for (int i = 0; i < R; i++)
                pal_room_tick(rooms[i], pal_now_ms());
        for (int w = 0; w < W; w++)
            pal_mixer_thread_dispatch(mt[w]);
        int64_t wait = start + (k + 1) * 10 - pal_now_ms();
        if (wait > 0)
            nanosleep(&(struct timespec){0, wait * 1000000}, NULL);
    }
}

int main(int argc, char **argv)
{
    int R = argc > 1 ? atoi(argv[1]) : 60, S = argc > 2 ? atoi(argv[2]) : 10;
    int W = argc > 3 ? atoi(argv[3]) : 2;
    if (R < 1 || R > MAX_ROOMS || S < 1 || W < 1 || W > MAX_WORKERS) {
        fprintf(stderr, "usage: %s [rooms [seconds [workers]]]\n", argv[0]);
        return 2;
    }
    long rss0 = rss_kib();
    struct pal_mixer_thread *mt[MAX_WORKERS];
    for (int w = 0; w < W; w++) {
        char name[24];
        snprintf(name, sizeof(name), "mixer-%d", w);
        if (pal_mixer_thread_create(name, NULL, NULL, &mt[w]))
            return 1;
    }
    struct pal_mixer_config mc; /* the server's [mixer] defaults (signaling/config.c) */
    pal_mixer_config_default(&mc);
    mc.video_width = 1280;
    mc.video_height = 720;
    mc.video_fps = 15;
    mc.video_bitrate_kbps = 1200;
    static struct pal_room *rooms[MAX_ROOMS];
    struct pal_media_sink sink = {.send_rtp = sink_rtp, .send_rtcp = sink_rtcp};
    int64_t now = pal_now_ms();
    for (int i = 0; i < R; i++) {
        char name[32];
        snprintf(name, sizeof(name), "idle-%d", i);
        struct pal_room_peer *p;
        if (pal_room_create(name, NULL, &rooms[i]) || pal_room_peer_add(rooms[i], "p_phone", &p))
            return 1;
        pal_room_set_mixer_thread(rooms[i], mt[i % W]);
        pal_room_set_mixer_config(rooms[i], &mc);
        pal_room_set_sink(p, PAL_MEDIA_PC_PUBLISH, &sink);
        pal_room_set_sink(p, PAL_MEDIA_PC_SUBSCRIBE, &sink);
        pal_room_sink_ready(rooms[i], p, PAL_MEDIA_PC_PUBLISH, now);
        pal_room_sink_ready(rooms[i], p, PAL_MEDIA_PC_SUBSCRIBE, now);
        struct pal_media_track a = bench_track("m0", PAL_MEDIA_AUDIO, 5000 + 2 * (uint32_t)i);
        struct pal_media_track v = bench_track("m1", PAL_MEDIA_VIDEO, 5001 + 2 * (uint32_t)i);
        if (pal_room_consumer_add(rooms[i], p, PAL_MEDIA_MIXER_ID, "audio", &a, now) ||
            pal_room_consumer_add(rooms[i], p, PAL_MEDIA_MIXER_ID, "video", &v, now)) {
            fprintf(stderr, "room %d: mixed consumers refused\n", i);
            return 1;
        }
    }
    /* Settle: every mixer open (on a loaded machine that can take a while),
     * then 2 s more for what the first ticks allocate. */
    struct pal_mixer_thread_stats st0[MAX_WORKERS], st1;
    int64_t settle_end = pal_now_ms() + 60000;
    for (uint64_t open = 0; open < (uint64_t)R && pal_now_ms() < settle_end;) {
        run(rooms, R, mt, W, 200);
        open = 0;
        for (int w = 0; w < W; w++) {
            pal_mixer_thread_get_stats(mt[w], &st1);
            open += st1.mixers;
        }
    }
    run(rooms, R, mt, W, 2000);
    for (int w = 0; w < W; w++)
        pal_mixer_thread_get_stats(mt[w], &st0[w]);
    uint64_t pk0 = packets_out;
    double cpu0 = process_cpu_s();
    int64_t t0 = pal_now_ms();
    run(rooms, R, mt, W, (int64_t)S * 1000);
    double wall = (pal_now_ms() - t0) / 1e3;
    double cpu = process_cpu_s() - cpu0;
    long rss = rss_kib();
    double mixer_cpu = 0;
    uint64_t mixers = 0, skipped = 0;
    for (int w = 0; w < W; w++) {
        pal_mixer_thread_get_stats(mt[w], &st1);
        mixer_cpu += (double)(st1.cpu_us - st0[w].cpu_us) / 1e6;
        mixers += st1.mixers;
        skipped += st1.ticks_skipped;
    }
    printf("%d idle mixed rooms (%llu mixers open) on %d mixer threads, %.1f s: process CPU "
           "%.1f %% of a core (mixer threads %.1f %%), RSS %.1f MiB (+%.1f MiB for the rooms), "
           "%.0f packets out per second, %llu audio ticks skipped\n",
           R, (unsigned long long)mixers, W, wall, 100 * cpu / wall, 100 * mixer_cpu / wall,
           rss / 1024.0, (rss - rss0) / 1024.0, (double)(packets_out - pk0) / wall,
           (unsigned long long)skipped);
    for (int i = 0; i < R; i++)
        pal_room_destroy(rooms[i]);
    for (int w = 0; w < W; w++)
        pal_mixer_thread_destroy(mt[w]);
    return 0;
}
