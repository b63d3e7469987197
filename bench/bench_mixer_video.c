/* Video compositor cost: `inputs` publishers at WxH 30 fps (synthetic moving
 * content, encoded beforehand: not the mixer's cost) composed onto a
 * 1280x720 canvas encoded once at 30 fps for one output. The timed part is
 * the mixer thread's: push RTP, tick (jitter, depacketize, decode, compose,
 * encode, packetize).
 *
 *   build/bench_mixer_video [inputs=9] [frames=150] [cpu_used=-8] [in_w=640] [in_h=360]
 *
 * Prints CPU per composite frame, the split, and frames/s one core sustains. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/mixer/image.h"
#include "palabre/mixer/cpu_clock.h"
#include "palabre/mixer/video_mixer.h"
#include "palabre/mixer/vp8_codec.h"
#include "palabre/mixer/vp8_packetizer.h"
#include "palabre/rtp.h"

struct pkt {
    uint16_t len;
    uint8_t b[1212];
};

struct stream {
    struct pkt *pkts;
    size_t n, cap;
    size_t *frame_start; /* index of each frame's first packet */
    struct pal_vp8_packetizer pk;
    uint16_t seq;
    uint32_t ts, ssrc;
};

static void on_input_frame(void *ctx, const uint8_t *frame, size_t len, bool key)
{
    struct stream *s = ctx;
    pal_vp8_packetizer_begin(&s->pk, frame, len);
    uint8_t payload[1200];
    size_t n;
    bool marker;
    while (pal_vp8_packetizer_next(&s->pk, payload, sizeof(payload), &n, &marker) == 1) {
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 256;
            s->pkts = realloc(s->pkts, s->cap * sizeof(*s->pkts));
        }
        struct pal_rtp_header h = {.marker = marker, .payload_type = 96, .seq = s->seq++,
                                   .timestamp = s->ts, .ssrc = s->ssrc};
        size_t l;
        pal_rtp_write(&h, payload, n, s->pkts[s->n].b, sizeof(s->pkts[s->n].b), &l);
        s->pkts[s->n++].len = (uint16_t)l;
    }
}

/* Textured background panning, a moving block, a little noise. */
static void draw(struct pal_image *img, int id, int f)
{
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++)
            img->y[y * img->stride_y + x] =
                (uint8_t)(((x + 2 * f + id * 37) ^ (y * 3)) & 0x7F) + 40 + (rand() & 1);
    for (int y = 0; y < img->height / 2; y++)
        for (int x = 0; x < img->width / 2; x++) {
            img->u[y * img->stride_uv + x] = (uint8_t)(100 + id * 10 + (x >> 4));
            img->v[y * img->stride_uv + x] = (uint8_t)(140 - id * 5 + (y >> 4));
        }
    struct pal_rect blk = {(f * 6 + id * 50) % (img->width - 80), img->height / 3, 80, 80};
    pal_image_fill_rect(img, blk, 220, 60, 200);
}

static uint64_t packets_out;
static void on_packet(void *ctx, uint32_t id, const uint8_t *rtp, size_t len)
{
    packets_out++;
}

int main(int argc, char **argv)
{
    int inputs = argc > 1 ? atoi(argv[1]) : 9;
    int frames = argc > 2 ? atoi(argv[2]) : 150;
    int cpu_used = argc > 3 ? atoi(argv[3]) : -8;
    int in_w = argc > 4 ? atoi(argv[4]) : 640, in_h = argc > 5 ? atoi(argv[5]) : 360;
    if (inputs < 1 || inputs > 16 || frames < 2)
        return 2;
    struct stream *st = calloc((size_t)inputs, sizeof(*st));
    struct pal_image img = {0};
    pal_image_alloc(&img, in_w, in_h);
    for (int i = 0; i < inputs; i++) {
        struct stream *s = &st[i];
        s->ssrc = 100u + (uint32_t)i;
        s->frame_start = calloc((size_t)frames + 1, sizeof(size_t));
        pal_vp8_packetizer_init(&s->pk, 0, 0);
        struct pal_vp8_encoder_config c;
        pal_vp8_encoder_config_default(&c);
        c.width = in_w;
        c.height = in_h;
        c.bitrate_kbps = 600;
        c.cpu_used = -6;
        struct pal_vp8_encoder *enc;
        if (pal_vp8_encoder_create(&c, &enc) != 0)
            return 1;
        for (int f = 0; f < frames; f++) {
            s->frame_start[f] = s->n;
            draw(&img, i, f);
            pal_vp8_encode(enc, &img, f, f == 0, on_input_frame, s);
            s->ts += 3000;
        }
        s->frame_start[frames] = s->n;
        pal_vp8_encoder_destroy(enc);
    }
    pal_image_free(&img);

    struct pal_video_mixer_config vc = {.payload_type = 96};
    pal_vp8_encoder_config_default(&vc.vp8);
    vc.vp8.cpu_used = cpu_used;
    struct pal_video_mixer_listener l = {NULL, on_packet, NULL};
    struct pal_video_mixer *vm;
    if (pal_video_mixer_create(&vc, &l, &vm) != 0)
        return 1;
    for (int i = 0; i < inputs; i++)
        pal_video_mixer_add_input(vm, (uint32_t)i + 1, (uint32_t)i + 1);
    pal_video_mixer_add_output(vm, 1, 42);

    uint64_t t0 = pal_mixer_cpu_ns(), push_ns = 0;
    for (int f = 0; f < frames; f++) {
        uint64_t a = pal_mixer_cpu_ns();
        for (int i = 0; i < inputs; i++)
            for (size_t k = st[i].frame_start[f]; k < st[i].frame_start[f + 1]; k++) {
                struct pal_rtp_packet p;
                pal_rtp_parse(&p, st[i].pkts[k].b, st[i].pkts[k].len, NULL);
                pal_video_mixer_push(vm, (uint32_t)i + 1, p.seq, p.timestamp, p.marker,
                                     pal_rtp_payload(&p), p.payload_len, f * 33);
            }
        push_ns += pal_mixer_cpu_ns() - a;
        pal_video_mixer_tick(vm, f * 33 + 5);
    }
    uint64_t total = pal_mixer_cpu_ns() - t0;
    struct pal_video_mixer_stats vs;
    pal_video_mixer_get_stats(vm, &vs);
    double per_ms = total / 1e6 / frames;
    printf("video mixer: %d inputs %dx%d -> 1280x720 composite, %d frames, cpu-used %d, 1500 kbit/s\n",
           inputs, in_w, in_h, frames, cpu_used);
    printf("  cpu per composite frame: %.2f ms -> %.0f frames/s on one core (%.0f%% of a core at 30 fps)\n",
           per_ms, 1000.0 / per_ms, per_ms * 30 / 10.0);
    printf("  split per frame: push %.2f ms, decode %.2f ms (%.2f per input), compose %.2f ms, "
           "encode %.2f ms, packetize %.3f ms\n",
           push_ns / 1e6 / frames, vs.ns_decode / 1e6 / frames,
           vs.ns_decode / 1e6 / frames / inputs, vs.ns_compose / 1e6 / frames,
           vs.ns_encode / 1e6 / frames, vs.ns_packetize / 1e6 / frames);
    printf("  decoded %llu input frames (%llu errors), encoded %llu (%llu key), %llu packets, "
           "%.0f kbit/s out\n",
           (unsigned long long)vs.frames_decoded, (unsigned long long)vs.decode_errors,
           (unsigned long long)vs.frames_encoded, (unsigned long long)vs.keyframes_encoded,
           (unsigned long long)packets_out, vs.bytes_out * 8.0 / (frames / 30.0) / 1000.0);
    pal_video_mixer_destroy(vm);
    for (int i = 0; i < inputs; i++) {
        free(st[i].pkts);
        free(st[i].frame_start);
    }
    free(st);
    return 0;
}
