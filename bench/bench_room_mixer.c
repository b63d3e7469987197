/* What a mixed room costs its media worker, and what its mixer thread
 * costs: the router (media/room.c) with the mixer on a mixer thread
 * (mixer/mixer_thread.c), fed as the transports would feed it, in real time
 * (the mixer thread keeps its own clock).
 *
 *   build/bench_room_mixer P L S [sfu]
 *
 * P publishers send Opus (a 20 ms tone, 48 kbit/s) and VP8 640x360 at ~33 fps
 * (a moving block on a gradient, 600 kbit/s; one second of it is encoded
 * before the run and replayed, a keyframe each second); L listeners (the P
 * publishers among them) receive the room mixed: each an N-1 audio mix and
 * the composite, at the server's defaults (palabre.ini [mixer]: 640x360,
 * 15 fps, 600 kbit/s). With "sfu" the same listeners receive one track per
 * publisher instead (the comparison). S seconds of wall time.
 *
 * Reported: the worker's thread CPU inside pal_room_on_rtp, pal_room_tick and
 * pal_mixer_thread_dispatch (what the worker pays); its longest 10 ms step
 * (wall time: how long the worker is held, i.e. what the forwarding of its
 * other rooms waits for); the mixer thread's CPU and its longest composite
 * tick. The sinks drop the packets: SRTP and the send are the forwarding
 * benchmark's (bench/forward.sh), ~3 us per packet sent. Run it unpinned:
 * the worker and the mixer thread are meant to use two cores. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "palabre/mixer.h"
#include "palabre/mixer/image.h"
#include "palabre/mixer/opus_codec.h"
#include "palabre/mixer/vp8_codec.h"
#include "palabre/mixer/vp8_packetizer.h"
#include "palabre/mixer_thread.h"
#include "palabre/room.h"
#include "media_track.h"
#include "palabre/rtp.h"

#define MAX_PEERS 64
#define CYCLE_AUDIO 50 /* 1 s of 20 ms frames, replayed */
#define CYCLE_VIDEO 33 /* 1 s of 30 ms frames, replayed; the first a keyframe */

/* One encoded packet payload (RTP header written at send time). */
struct chunk {
    uint16_t len;
    bool marker;
    uint8_t b[1200];
};

struct pub {
    struct pal_room_peer *peer;
    struct pal_vp8_packetizer pk;
    struct chunk audio[CYCLE_AUDIO];
    struct chunk *video; /* every frame's packets, in order */
    size_t n_video, cap_video;
    size_t frame_start[CYCLE_VIDEO + 1];
    uint16_t aseq, vseq;
    uint32_t ats, vts, assrc, vssrc;
};

static struct pal_room *room;
static uint64_t cpu_ns, packets_out;

static uint64_t thread_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

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

static void on_frame(void *ctx, const uint8_t *frame, size_t len, bool key)
{
    struct pub *p = ctx;
    pal_vp8_packetizer_begin(&p->pk, frame, len);
    struct chunk c;
    size_t n;
    while (pal_vp8_packetizer_next(&p->pk, c.b, sizeof(c.b), &n, &c.marker) == 1) {
        if (p->n_video == p->cap_video) {
            p->cap_video = p->cap_video ? 2 * p->cap_video : 256;
            p->video = realloc(p->video, p->cap_video * sizeof(*p->video));
            if (!p->video)
                abort();
        }
        c.len = (uint16_t)n;
        p->video[p->n_video++] = c;
    }
}

/* One second of the publisher's audio and video, encoded once. */
static int pre_encode(struct pub *p, int i)
{
    struct pal_opus_encoder *aenc;
    struct pal_vp8_encoder *venc;
    struct pal_image img = {0};
    struct pal_opus_encoder_config oc;
    pal_opus_encoder_config_default(&oc);
    oc.bitrate = 48000;
    struct pal_vp8_encoder_config vc;
    pal_vp8_encoder_config_default(&vc);
    vc.width = 640;
    vc.height = 360;
    vc.bitrate_kbps = 600;
    if (pal_opus_encoder_create(&oc, &aenc) || pal_vp8_encoder_create(&vc, &venc) ||
        pal_image_alloc(&img, 640, 360))
        return -1;
    double phase = 0, freq = 300 + 110 * i;
    for (int f = 0; f < CYCLE_AUDIO; f++) {
        int16_t pcm[PAL_OPUS_FRAME];
        for (int k = 0; k < PAL_OPUS_FRAME; k++) {
            pcm[k] = (int16_t)lrint(6000 * sin(phase));
            phase += 2 * M_PI * freq / PAL_OPUS_RATE;
        }
        int n = pal_opus_encode(aenc, pcm, p->audio[f].b, sizeof(p->audio[f].b));
        if (n <= 0)
            return -1;
        p->audio[f].len = (uint16_t)n;
    }
    pal_vp8_packetizer_init(&p->pk, 0, (uint16_t)i);
    for (int f = 0; f < CYCLE_VIDEO; f++) {
        int x = (f * 17) % 560 & ~1;
        pal_image_fill_rect(&img, (struct pal_rect){0, 0, 640, 360}, (uint8_t)(40 + 30 * i), 128,
                            128);
        pal_image_fill_rect(&img, (struct pal_rect){x, 100, 80, 80}, 220, 60, 200);
        p->frame_start[f] = p->n_video;
        if (pal_vp8_encode(venc, &img, f, f == 0, on_frame, p))
            return -1;
    }
    p->frame_start[CYCLE_VIDEO] = p->n_video;
    pal_opus_encoder_destroy(aenc);
    pal_vp8_encoder_destroy(venc);
    pal_image_free(&img);
    return 0;
}

static void feed(struct pub *p, const struct chunk *c, uint8_t pt, uint16_t seq, uint32_t ts,
                 uint32_t ssrc)
{
    uint8_t pkt[1500];
    size_t l;
    struct pal_rtp_header h = {.marker = c->marker, .payload_type = pt, .seq = seq,
                               .timestamp = ts, .ssrc = ssrc};
    if (pal_rtp_write(&h, c->b, c->len, pkt, sizeof(pkt), &l) == 0)
        pal_room_on_rtp(room, p->peer, pkt, l, pal_now_ms());
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int P = argc > 1 ? atoi(argv[1]) : 3, L = argc > 2 ? atoi(argv[2]) : 10;
    int S = argc > 3 ? atoi(argv[3]) : 10;
    bool sfu = argc > 4 && strcmp(argv[4], "sfu") == 0;
    if (P < 1 || L < P || L > MAX_PEERS || S < 1) {
        fprintf(stderr, "usage: %s publishers listeners seconds [sfu]\n", argv[0]);
        return 2;
    }
    struct pal_mixer_thread *mt;
    if (pal_room_create("bench", NULL, &room) ||
        pal_mixer_thread_create("bench-mixer", NULL, NULL, &mt))
        return 1;
    pal_room_set_mixer_thread(room, mt);
    struct pal_mixer_config mc; /* the server's defaults (signaling/config.c) */
    pal_mixer_config_default(&mc);
    mc.video_width = 640;
    mc.video_height = 360;
    mc.video_fps = 15;
    mc.video_bitrate_kbps = 600;
    pal_room_set_mixer_config(room, &mc);
    static struct pub pubs[MAX_PEERS];
    for (int i = 0; i < P; i++)
        if (pre_encode(&pubs[i], i))
            return 1;
    int64_t now_ms = pal_now_ms();
    struct pal_media_sink sink = {.send_rtp = sink_rtp, .send_rtcp = sink_rtcp};
    struct pal_room_peer *peers[MAX_PEERS];
    for (int i = 0; i < L; i++) {
        char id[32];
        snprintf(id, sizeof(id), "p_%012d", i);
        if (pal_room_peer_add(room, id, &peers[i]))
            return 1;
        pal_room_set_sink(peers[i], PAL_MEDIA_PC_PUBLISH, &sink);
        pal_room_set_sink(peers[i], PAL_MEDIA_PC_SUBSCRIBE, &sink);
        pal_room_sink_ready(room, peers[i], PAL_MEDIA_PC_PUBLISH, now_ms);
        pal_room_sink_ready(room, peers[i], PAL_MEDIA_PC_SUBSCRIBE, now_ms);
    }
    for (int i = 0; i < P; i++) {
        struct pub *p = &pubs[i];
        p->peer = peers[i];
        p->assrc = 1000 + (uint32_t)i;
        p->vssrc = 2000 + (uint32_t)i;
        struct pal_media_track a = bench_track("0", PAL_MEDIA_AUDIO, p->assrc);
        struct pal_media_track v = bench_track("1", PAL_MEDIA_VIDEO, p->vssrc);
        pal_room_producer_add(room, p->peer, &a, now_ms);
        pal_room_producer_add(room, p->peer, &v, now_ms);
    }
    uint32_t ssrc = 5000;
    for (int i = 0; i < L; i++) {
        if (!sfu) {
            struct pal_media_track a = bench_track("m0", PAL_MEDIA_AUDIO, ssrc++);
            struct pal_media_track v = bench_track("m1", PAL_MEDIA_VIDEO, ssrc++);
            if (pal_room_consumer_add(room, peers[i], PAL_MEDIA_MIXER_ID, "audio", &a, now_ms) ||
                pal_room_consumer_add(room, peers[i], PAL_MEDIA_MIXER_ID, "video", &v, now_ms))
                return 1;
            continue;
        }
        for (int k = 0; k < P; k++) {
            if (k == i)
                continue;
            char mid[16];
            snprintf(mid, sizeof(mid), "a%d", k);
            struct pal_media_track a = bench_track(mid, PAL_MEDIA_AUDIO, ssrc++);
            pal_room_consumer_add(room, peers[i], pal_room_peer_id(peers[k]), "0", &a, now_ms);
            snprintf(mid, sizeof(mid), "v%d", k);
            struct pal_media_track v = bench_track(mid, PAL_MEDIA_VIDEO, ssrc++);
            pal_room_consumer_add(room, peers[i], pal_room_peer_id(peers[k]), "1", &v, now_ms);
        }
    }
    /* 10 ms steps on the wall clock: audio every 20 ms, video every 30 ms
     * (~33 fps), the room tick every 20 ms (the worker's), the mixer's
     * packets forwarded at each step (the worker's eventfd wake-up). */
    int steps = S * 100;
    uint64_t *step_us = calloc((size_t)steps, sizeof(*step_us));
    struct pal_mixer_thread_stats st0, st;
    pal_mixer_thread_get_stats(mt, &st0);
    int64_t start = pal_now_ms();
    for (int k = 0; k < steps; k++) {
        int64_t t0_us = pal_now_us();
        uint64_t c0 = thread_ns();
        for (int i = 0; i < P; i++) {
            struct pub *p = &pubs[i];
            if (k % 2 == 0) {
                feed(p, &p->audio[p->aseq % CYCLE_AUDIO], 111, p->aseq, p->ats, p->assrc);
                p->aseq++;
                p->ats += PAL_OPUS_FRAME;
            }
            if (k % 3 == 0) {
                int f = (k / 3) % CYCLE_VIDEO;
                for (size_t c = p->frame_start[f]; c < p->frame_start[f + 1]; c++)
                    feed(p, &p->video[c], 96, p->vseq++, p->vts, p->vssrc);
                p->vts += 2700;
            }
        }
        if (k % 2 == 0)
            pal_room_tick(room, pal_now_ms());
        pal_mixer_thread_dispatch(mt);
        cpu_ns += thread_ns() - c0;
        step_us[k] = (uint64_t)(pal_now_us() - t0_us);
        int64_t wait = start + (k + 1) * 10 - pal_now_ms();
        if (wait > 0)
            nanosleep(&(struct timespec){0, wait * 1000000}, NULL);
    }
    pal_mixer_thread_get_stats(mt, &st);
    qsort(step_us, (size_t)steps, sizeof(*step_us), cmp_u64);
    double worker = (double)cpu_ns / 1e6 / S;
    double mixer = (double)(st.cpu_us - st0.cpu_us) / 1e3 / S;
    printf("%d publishers, %d listeners %s, %d s: worker %.1f ms CPU per s (%.1f %% of a core), "
           "step p50 %.2f ms, p99 %.2f ms, max %.2f ms; mixer thread %.1f ms CPU per s "
           "(%.1f %%), longest tick %.1f ms video, %.2f ms audio; %.0f packets out per second; "
           "%llu audio ticks skipped, %llu packets dropped\n",
           P, L, sfu ? "one track per publisher (sfu)" : "mixed", S, worker, worker / 10,
           step_us[steps / 2] / 1e3, step_us[steps * 99 / 100] / 1e3, step_us[steps - 1] / 1e3,
           mixer, mixer / 10, st.max_video_tick_us / 1e3, st.max_audio_tick_us / 1e3,
           (double)packets_out / S, (unsigned long long)st.ticks_skipped,
           (unsigned long long)(st.out_dropped + st.rtp_dropped));
    free(step_us);
    pal_room_destroy(room);
    pal_mixer_thread_destroy(mt);
    for (int i = 0; i < P; i++)
        free(pubs[i].video);
    return 0;
}
