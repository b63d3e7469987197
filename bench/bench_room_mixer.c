/* What a mixed room costs its media worker: the router with the mixer
 * integrated (media/room.c), fed as the transports would feed it.
 *
 *   build/bench_room_mixer P L S [sfu]
 *
 * P publishers send Opus (a 20 ms tone, 48 kbit/s) and VP8 640x360 at 30 fps
 * (a moving block on a gradient, 600 kbit/s); L listeners (the P publishers
 * among them) receive the room mixed: each an N-1 audio mix and the
 * composite, at the server's defaults (palabre.ini [mixer]: 640x360, 15 fps,
 * 600 kbit/s). With "sfu" the same listeners receive one track per publisher
 * instead (the comparison). S seconds of room time, run as fast as possible.
 *
 * Timed: thread CPU time inside pal_room_on_rtp and pal_room_tick only (the
 * publishers' encoders are outside). The sinks drop the packets: SRTP and
 * the send are the forwarding benchmark's (bench/forward.sh), ~3 us per
 * packet sent. */
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
#include "palabre/room.h"
#include "palabre/rtp.h"

#define MAX_PEERS 64

struct pub {
    struct pal_room_peer *peer;
    struct pal_opus_encoder *aenc;
    struct pal_vp8_encoder *venc;
    struct pal_vp8_packetizer pk;
    struct pal_image img;
    double phase, freq;
    uint16_t aseq, vseq;
    uint32_t ats, vts, assrc, vssrc;
};

static struct pal_room *room;
static int64_t now_ms;
static uint64_t cpu_ns, packets_out;

static uint64_t thread_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int sink_rtp(void *ctx, uint8_t *buf, size_t len, size_t cap)
{
    packets_out++;
    return 0;
}

static int sink_rtcp(void *ctx, uint8_t *buf, size_t len, size_t cap)
{
    return 0;
}

static void feed(struct pub *p, uint8_t *pkt, size_t len)
{
    uint64_t t0 = thread_ns();
    pal_room_on_rtp(room, p->peer, pkt, len, now_ms);
    cpu_ns += thread_ns() - t0;
}

static void send_video(void *ctx, const uint8_t *frame, size_t len, bool key)
{
    struct pub *p = ctx;
    pal_vp8_packetizer_begin(&p->pk, frame, len);
    uint8_t payload[1500], pkt[1500];
    size_t n, l;
    bool marker;
    while (pal_vp8_packetizer_next(&p->pk, payload, sizeof(payload), &n, &marker) == 1) {
        struct pal_rtp_header h = {.marker = marker, .payload_type = 96, .seq = p->vseq++,
                                   .timestamp = p->vts, .ssrc = p->vssrc};
        if (pal_rtp_write(&h, payload, n, pkt, sizeof(pkt), &l) == 0)
            feed(p, pkt, l);
    }
}

static struct pal_media_track track(const char *mid, enum pal_media_kind kind, uint32_t ssrc)
{
    struct pal_media_track t = {0};
    snprintf(t.mid, sizeof(t.mid), "%s", mid);
    t.kind = kind;
    t.payload_type = kind == PAL_MEDIA_AUDIO ? 111 : 96;
    t.clock_rate = kind == PAL_MEDIA_AUDIO ? 48000 : 90000;
    t.ssrc = ssrc;
    return t;
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
    if (pal_room_create("bench", NULL, &room))
        return 1;
    struct pal_mixer_config mc; /* the server's defaults (signaling/config.c) */
    pal_mixer_config_default(&mc);
    mc.video_width = 640;
    mc.video_height = 360;
    mc.video_fps = 15;
    mc.video_bitrate_kbps = 600;
    pal_room_set_mixer_config(room, &mc);
    static struct pub pubs[MAX_PEERS];
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
        p->freq = 300 + 110 * i;
        p->assrc = 1000 + (uint32_t)i;
        p->vssrc = 2000 + (uint32_t)i;
        struct pal_opus_encoder_config oc;
        pal_opus_encoder_config_default(&oc);
        oc.bitrate = 48000;
        struct pal_vp8_encoder_config vc;
        pal_vp8_encoder_config_default(&vc);
        vc.width = 640;
        vc.height = 360;
        vc.bitrate_kbps = 600;
        if (pal_opus_encoder_create(&oc, &p->aenc) || pal_vp8_encoder_create(&vc, &p->venc) ||
            pal_image_alloc(&p->img, 640, 360))
            return 1;
        pal_vp8_packetizer_init(&p->pk, 0, (uint16_t)i);
        struct pal_media_track a = track("0", PAL_MEDIA_AUDIO, p->assrc);
        struct pal_media_track v = track("1", PAL_MEDIA_VIDEO, p->vssrc);
        pal_room_producer_add(room, p->peer, &a, now_ms);
        pal_room_producer_add(room, p->peer, &v, now_ms);
    }
    uint32_t ssrc = 5000;
    for (int i = 0; i < L; i++) {
        if (!sfu) {
            struct pal_media_track a = track("m0", PAL_MEDIA_AUDIO, ssrc++);
            struct pal_media_track v = track("m1", PAL_MEDIA_VIDEO, ssrc++);
            pal_room_consumer_add(room, peers[i], PAL_MEDIA_MIXER_ID, "audio", &a, now_ms);
            pal_room_consumer_add(room, peers[i], PAL_MEDIA_MIXER_ID, "video", &v, now_ms);
            continue;
        }
        for (int k = 0; k < P; k++) {
            if (k == i)
                continue;
            char mid[16];
            snprintf(mid, sizeof(mid), "a%d", k);
            struct pal_media_track a = track(mid, PAL_MEDIA_AUDIO, ssrc++);
            pal_room_consumer_add(room, peers[i], pal_room_peer_id(peers[k]), "0", &a, now_ms);
            snprintf(mid, sizeof(mid), "v%d", k);
            struct pal_media_track v = track(mid, PAL_MEDIA_VIDEO, ssrc++);
            pal_room_consumer_add(room, peers[i], pal_room_peer_id(peers[k]), "1", &v, now_ms);
        }
    }
    /* 10 ms steps: audio every 20 ms, video every 30 ms (~33 fps), the room
     * tick every 20 ms (the worker's). */
    for (now_ms = 10; now_ms <= (int64_t)S * 1000; now_ms += 10) {
        for (int i = 0; i < P; i++) {
            struct pub *p = &pubs[i];
            if (now_ms % 20 == 0) {
                int16_t pcm[PAL_OPUS_FRAME];
                for (int k = 0; k < PAL_OPUS_FRAME; k++) {
                    pcm[k] = (int16_t)lrint(6000 * sin(p->phase));
                    p->phase += 2 * M_PI * p->freq / PAL_OPUS_RATE;
                }
                uint8_t payload[PAL_OPUS_MAX_PACKET], pkt[1500];
                int n = pal_opus_encode(p->aenc, pcm, payload, sizeof(payload));
                struct pal_rtp_header h = {.payload_type = 111, .seq = p->aseq++,
                                           .timestamp = p->ats, .ssrc = p->assrc};
                size_t l;
                p->ats += PAL_OPUS_FRAME;
                if (n > 0 && pal_rtp_write(&h, payload, (size_t)n, pkt, sizeof(pkt), &l) == 0)
                    feed(p, pkt, l);
            }
            if (now_ms % 30 == 0) {
                int x = (int)(now_ms / 10 % 560) & ~1;
                pal_image_fill_rect(&p->img, (struct pal_rect){0, 0, 640, 360},
                                    (uint8_t)(40 + 30 * i), 128, 128);
                pal_image_fill_rect(&p->img, (struct pal_rect){x, 100, 80, 80}, 220, 60, 200);
                pal_vp8_encode(p->venc, &p->img, now_ms / 30, false, send_video, p);
                p->vts += 2700;
            }
        }
        if (now_ms % 20 == 0) {
            uint64_t t0 = thread_ns();
            pal_room_tick(room, now_ms);
            cpu_ns += thread_ns() - t0;
        }
    }
    double us_per_s = (double)cpu_ns / 1000.0 / S;
    printf("%d publishers, %d listeners %s, %d s: %.0f us CPU per second of room time "
           "(%.1f %% of one core), %.0f packets out per second\n",
           P, L, sfu ? "one track per publisher (sfu)" : "mixed", S, us_per_s, us_per_s / 1e4,
           (double)packets_out / S);
    pal_room_destroy(room);
    for (int i = 0; i < P; i++) {
        pal_opus_encoder_destroy(pubs[i].aenc);
        pal_vp8_encoder_destroy(pubs[i].venc);
        pal_image_free(&pubs[i].img);
    }
    return 0;
}
