/* The room's mixer through the router, without network: publishers' Opus
 * tones and solid-colour VP8 enter with pal_room_on_rtp, mixed listeners'
 * subscribe sinks receive what the SFU would protect and send, and decode it.
 * The mixer runs on a real mixer thread; this thread plays the media worker
 * and dispatches what the mixer thread sends back. The correctness tests
 * move the mixer thread's clock themselves (pal_mixer_thread_advance: each
 * 20 ms step waits for the thread's round), so that a loaded machine cannot
 * change what they hear and see; the last test runs on the real clock.
 *
 * Shown here: each mixed listener hears the others' tones (440/660/880 Hz)
 * and not its own, a listener who publishes nothing hears all three; the
 * composite shows each publisher's colour in its tile; a subscriber's PLI
 * brings a keyframe, its NACK the lost packet again (from the ring of the
 * output's producer); publishers' audio levels reach the mixer whatever
 * extension id each browser chose; the mix is numbered for transport-cc;
 * a simulcast publisher is mixed from one layer; a corrupt publisher frame brings a PLI
 * to that publisher and the composite keeps flowing; a resolution change and a
 * publisher leaving do not stop it; a hard-muted publisher is neither heard
 * nor seen until the mute is lifted; the mixer starts with the first mixed
 * consumer and stops with the last (LeakSanitizer checks the freeing in the
 * ASan build); the mixer keeps its clock while the worker does nothing, and
 * the worker forwards another room's packets while a large composite is
 * being encoded (inside a mixer tick, on the other thread). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../mixer/mixer_test_util.h"
#include "palabre/mixer.h"
#include "palabre/mixer_thread.h"
#include "palabre/mixer/image.h"
#include "palabre/mixer/opus_codec.h"
#include "palabre/mixer/vp8_codec.h"
#include "palabre/mixer/vp8_depacketizer.h"
#include "palabre/mixer/vp8_packetizer.h"
#include "palabre/room.h"
#include "palabre/rtcp.h"

#define W 320
#define H 180
#define N_PUB 3
#define N_PEER 4 /* the three publishers and dave, who publishes nothing */
#define PCM_MAX (100 * PAL_OPUS_FRAME)

struct colour {
    uint8_t y, u, v;
};
static const struct colour RED = {81, 90, 240}, GREEN = {145, 54, 34}, BLUE = {41, 240, 110};
static const double FREQ[N_PUB] = {440, 660, 880};
static const struct colour COLOUR[N_PUB] = {RED, GREEN, BLUE};

/* One participant: what it publishes and what its two sinks receive. */
struct part {
    struct pal_room_peer *peer;
    const char *id;
    /* publishing */
    struct pal_opus_encoder *aenc;
    struct pal_vp8_encoder *venc;
    struct pal_vp8_packetizer pk;
    struct pal_image img;
    double phase;
    uint16_t aseq, vseq;
    uint32_t ats, vts;
    bool corrupt;
    int plis, plis_seen; /* PLIs received on the publish PC, and answered */
    /* receiving the mix */
    uint32_t mix_assrc, mix_vssrc;
    struct pal_opus_decoder *adec;
    int16_t pcm[PCM_MAX]; /* a ring of the last two seconds */
    size_t n_pcm;
    bool have_aseq;
    uint16_t last_aseq;
    int audio_packets;
    struct pal_vp8_depacketizer *dp;
    struct pal_vp8_decoder *vdec;
    struct pal_image pic;
    int frames, keyframes, video_packets;
    /* the last composite packet as received, and retransmissions of it */
    uint8_t last_video[PAL_RTP_MAX_PACKET];
    size_t last_video_len;
    uint16_t last_vseq;
    bool want_rtx;
    int rtx_same, rtx_other;
    /* transport-cc: the extension id its mix tracks negotiated (0: none),
     * and the transport-wide numbers seen on them */
    uint8_t twcc_ext;
    int tw_numbered, tw_gaps;
    bool have_tw;
    uint16_t last_tw;
};

struct fixture {
    struct pal_room *room;
    struct pal_mixer_thread *mt;
    struct part p[N_PEER];
    int64_t now; /* the room's and the mixer thread's clock */
    int64_t steps;
    bool realtime; /* the mixer thread on pal_now_ms(), steps paced by the wall clock */
    bool noise;   /* publishers send noise, not their colour */
    uint32_t rnd; /* the noise's generator */
};

static int want_w = W, want_h = H; /* the composite's size */

static int sub_rtp(void *ctx, const uint8_t *hdr, size_t hdr_len, const uint8_t *body,
                   size_t body_len)
{
    struct part *p = ctx;
    uint8_t buf[PAL_RTP_MAX_PACKET];
    size_t len = hdr_len + body_len;
    assert_true(len <= sizeof(buf));
    memcpy(buf, hdr, hdr_len);
    memcpy(buf + hdr_len, body, body_len);
    struct pal_rtp_packet pkt;
    assert_int_equal(pal_rtp_parse(&pkt, buf, len, NULL), 0);
    if (p->want_rtx && pkt.ssrc == p->mix_vssrc && pkt.seq == p->last_vseq) {
        /* a retransmission: the packet sent before, byte for byte */
        if (len == p->last_video_len && memcmp(buf, p->last_video, len) == 0)
            p->rtx_same++;
        else
            p->rtx_other++;
        return 0;
    }
    size_t el;
    const uint8_t *tw = p->twcc_ext ? pal_rtp_ext_find(&pkt, p->twcc_ext, &el) : NULL;
    if (tw && el == 2) { /* one sequence across both tracks */
        if (p->have_tw && (uint16_t)(p->last_tw + 1) != pal_rd16(tw))
            p->tw_gaps++;
        p->have_tw = true;
        p->last_tw = pal_rd16(tw);
        p->tw_numbered++;
    }
    if (pkt.ssrc == p->mix_assrc) {
        assert_int_equal(pkt.payload_type, 111);
        if (p->have_aseq)
            assert_int_equal((uint16_t)(p->last_aseq + 1), pkt.seq); /* no gap, no wrap bug */
        p->have_aseq = true;
        p->last_aseq = pkt.seq;
        p->audio_packets++;
        int16_t out[PAL_OPUS_FRAME];
        assert_int_equal(pal_opus_decode(p->adec, pal_rtp_payload(&pkt), pkt.payload_len, out),
                         PAL_OPUS_FRAME);
        if (p->n_pcm + PAL_OPUS_FRAME > PCM_MAX) { /* keep the newest */
            memmove(p->pcm, p->pcm + PAL_OPUS_FRAME,
                    (PCM_MAX - PAL_OPUS_FRAME) * sizeof(int16_t));
            p->n_pcm -= PAL_OPUS_FRAME;
        }
        memcpy(p->pcm + p->n_pcm, out, sizeof(out));
        p->n_pcm += PAL_OPUS_FRAME;
    } else if (pkt.ssrc == p->mix_vssrc) {
        assert_int_equal(pkt.payload_type, 96);
        p->video_packets++;
        memcpy(p->last_video, buf, len);
        p->last_video_len = len;
        p->last_vseq = pkt.seq;
        pal_vp8_depacketizer_push(p->dp, pal_rtp_payload(&pkt), pkt.payload_len, pkt.timestamp,
                                  pkt.marker, 0);
    } else {
        fail_msg("%s received ssrc %u, which it does not subscribe to", p->id, pkt.ssrc);
    }
    return 0;
}

static int pub_rtcp(void *ctx, uint8_t *buf, size_t len, size_t cap)
{
    struct part *p = ctx;
    struct pal_rtcp_iter it;
    struct pal_rtcp_packet pk;
    pal_rtcp_iter_init(&it, buf, len);
    while (pal_rtcp_next(&it, &pk, NULL) == 1)
        if (pk.kind == PAL_RTCP_PLI)
            p->plis++;
    return 0;
}

static int no_rtp(void *ctx, const uint8_t *hdr, size_t hdr_len, const uint8_t *body,
                  size_t body_len)
{
    fail_msg("RTP on a publish PC");
    return 0;
}

static int any_rtcp(void *ctx, uint8_t *buf, size_t len, size_t cap)
{
    return 0;
}

static void on_frame(void *ctx, const uint8_t *f, size_t len, uint32_t ts, bool key)
{
    struct part *p = ctx;
    struct pal_vp8_picture pic;
    assert_int_equal(pal_vp8_decode(p->vdec, f, len, &pic), 1);
    assert_int_equal(pic.width, want_w);
    assert_int_equal(pic.height, want_h);
    assert_int_equal(pal_image_copy_planes(&p->pic, pic.planes, pic.strides, want_w, want_h), 0);
    p->frames++;
    p->keyframes += key;
}

static void on_lost(void *ctx)
{
    struct part *p = ctx;
    fail_msg("%s: the composite lost a packet", p->id);
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

static void publisher_size(struct part *p, int w, int h)
{
    pal_vp8_encoder_destroy(p->venc);
    struct pal_vp8_encoder_config c;
    pal_vp8_encoder_config_default(&c);
    c.width = w;
    c.height = h;
    c.bitrate_kbps = 300;
    assert_int_equal(pal_vp8_encoder_create(&c, &p->venc), 0);
    assert_int_equal(pal_image_alloc(&p->img, w, h), 0);
}

static void publish(struct fixture *f, int i)
{
    struct part *p = &f->p[i];
    struct pal_opus_encoder_config c;
    pal_opus_encoder_config_default(&c);
    c.bitrate = 48000;
    assert_int_equal(pal_opus_encoder_create(&c, &p->aenc), 0);
    publisher_size(p, 160, 120);
    pal_vp8_packetizer_init(&p->pk, 0, (uint16_t)(i * 100));
    p->aseq = (uint16_t)(65500 + i); /* wraps during the test */
    p->vseq = (uint16_t)(65530 - i);
    struct pal_media_track a = track("0", PAL_MEDIA_AUDIO, 1000 + (uint32_t)i);
    struct pal_media_track v = track("1", PAL_MEDIA_VIDEO, 2000 + (uint32_t)i);
    assert_int_equal(pal_room_producer_add(f->room, p->peer, &a, f->now), 0);
    assert_int_equal(pal_room_producer_add(f->room, p->peer, &v, f->now), 0);
}

static void subscribe_mix(struct fixture *f, int i)
{
    struct part *p = &f->p[i];
    p->mix_assrc = 3000 + (uint32_t)i;
    p->mix_vssrc = 4000 + (uint32_t)i;
    struct pal_media_track a = track("m0", PAL_MEDIA_AUDIO, p->mix_assrc);
    struct pal_media_track v = track("m1", PAL_MEDIA_VIDEO, p->mix_vssrc);
    a.ext_twcc = v.ext_twcc = p->twcc_ext;
    assert_int_equal(
        pal_room_consumer_add(f->room, p->peer, PAL_MEDIA_MIXER_ID, "audio", &a, f->now), 0);
    assert_int_equal(
        pal_room_consumer_add(f->room, p->peer, PAL_MEDIA_MIXER_ID, "video", &v, f->now), 0);
}

static int setup_clock(void **state, bool realtime)
{
    static struct fixture fx;
    struct fixture *f = &fx;
    memset(f, 0, sizeof(*f));
    want_w = W;
    want_h = H;
    f->realtime = realtime;
    f->now = realtime ? pal_now_ms() : 1000;
    assert_int_equal(pal_room_create("mix", NULL, &f->room), 0);
    assert_int_equal(pal_mixer_thread_create("test-mixer", NULL, NULL, &f->mt), 0);
    if (!realtime) {
        assert_int_equal(pal_mixer_thread_use_manual_clock(f->mt), 0);
        assert_int_equal(pal_mixer_thread_advance(f->mt, f->now), 0);
    }
    pal_room_set_mixer_thread(f->room, f->mt);
    struct pal_mixer_config mc;
    pal_mixer_config_default(&mc);
    mc.video_width = W;
    mc.video_height = H;
    mc.video_fps = 15;
    mc.video_bitrate_kbps = 500;
    pal_room_set_mixer_config(f->room, &mc);
    static const char *ids[N_PEER] = {"p_alice", "p_bob", "p_carol", "p_dave"};
    for (int i = 0; i < N_PEER; i++) {
        struct part *p = &f->p[i];
        p->id = ids[i];
        assert_int_equal(pal_room_peer_add(f->room, ids[i], &p->peer), 0);
        struct pal_media_sink pub = {.ctx = p, .send_rtp = no_rtp, .send_rtcp = pub_rtcp};
        struct pal_media_sink sub = {.ctx = p, .send_rtp = sub_rtp, .send_rtcp = any_rtcp};
        pal_room_set_sink(p->peer, PAL_MEDIA_PC_PUBLISH, &pub);
        pal_room_set_sink(p->peer, PAL_MEDIA_PC_SUBSCRIBE, &sub);
        pal_room_sink_ready(f->room, p->peer, PAL_MEDIA_PC_PUBLISH, f->now);
        pal_room_sink_ready(f->room, p->peer, PAL_MEDIA_PC_SUBSCRIBE, f->now);
        assert_int_equal(pal_opus_decoder_create(&p->adec), 0);
        struct pal_vp8_depacketizer_listener dl = {p, on_frame, on_lost};
        assert_int_equal(pal_vp8_depacketizer_create(&dl, &p->dp), 0);
        assert_int_equal(pal_vp8_decoder_create(&p->vdec), 0);
    }
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_clock(state, false);
}

static int setup_realtime(void **state)
{
    return setup_clock(state, true);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    pal_room_destroy(f->room);
    pal_mixer_thread_destroy(f->mt);
    for (int i = 0; i < N_PEER; i++) {
        struct part *p = &f->p[i];
        pal_opus_encoder_destroy(p->aenc);
        pal_vp8_encoder_destroy(p->venc);
        pal_image_free(&p->img);
        pal_opus_decoder_destroy(p->adec);
        pal_vp8_depacketizer_destroy(p->dp);
        pal_vp8_decoder_destroy(p->vdec);
        pal_image_free(&p->pic);
    }
    return 0;
}

static struct fixture *sending_fixture; /* the encoder callback has no other context */

static void send_video(void *ctx, const uint8_t *frame, size_t len, bool key)
{
    struct part *p = ctx;
    struct fixture *f = sending_fixture;
    uint8_t garbage[600];
    if (p->corrupt) {
        for (size_t i = 0; i < sizeof(garbage); i++)
            garbage[i] = (uint8_t)(i * 131 + 7);
        garbage[0] = 0x11; /* an inter frame header, then noise */
        frame = garbage;
        len = sizeof(garbage);
    }
    pal_vp8_packetizer_begin(&p->pk, frame, len);
    uint8_t payload[1500], pkt[1500];
    size_t n;
    bool marker;
    uint32_t ssrc = 2000 + (uint32_t)(p - f->p);
    while (pal_vp8_packetizer_next(&p->pk, payload, sizeof(payload), &n, &marker) == 1) {
        size_t l = make_rtp(pkt, sizeof(pkt), 96, p->vseq++, p->vts, ssrc, marker, payload, n);
        pal_room_on_rtp(f->room, p->peer, pkt, l, f->now);
    }
}

static void sleep_until_ms(int64_t t)
{
    int64_t d = t - pal_now_ms();
    if (d > 0)
        nanosleep(&(struct timespec){d / 1000, (d % 1000) * 1000000}, NULL);
}

/* A frame's picture: the publisher's colour, or noise (a composite that is
 * slow to encode). */
static void paint(struct fixture *f, struct part *p, int i)
{
    pal_image_fill_rect(&p->img, (struct pal_rect){0, 0, p->img.width, p->img.height},
                        COLOUR[i].y, COLOUR[i].u, COLOUR[i].v);
    if (!f->noise)
        return;
    for (int y = 0; y < p->img.height; y++)
        for (int x = 0; x < p->img.width; x++) {
            f->rnd = f->rnd * 1103515245u + 12345u;
            p->img.y[y * p->img.stride_y + x] = (uint8_t)(f->rnd >> 16);
        }
}

/* 20 ms of publisher i's tone, Opus-encoded into payload; returns its size. */
static size_t encode_tone(struct part *p, int i, uint8_t payload[PAL_OPUS_MAX_PACKET])
{
    int16_t pcm[PAL_OPUS_FRAME];
    for (int k = 0; k < PAL_OPUS_FRAME; k++) {
        pcm[k] = (int16_t)lrint(6000 * sin(p->phase));
        p->phase += 2 * M_PI * FREQ[i] / PAL_OPUS_RATE;
    }
    int n = pal_opus_encode(p->aenc, pcm, payload, PAL_OPUS_MAX_PACKET);
    assert_true(n > 0);
    return (size_t)n;
}

/* 20 ms of the room: every publisher sends 20 ms of its tone, and a frame
 * each third step; the room ticks and forwards what the mixer thread sent
 * back. */
static void step(struct fixture *f, int n_pub)
{
    sending_fixture = f;
    if (f->realtime)
        f->now = pal_now_ms();
    for (int i = 0; i < n_pub; i++) {
        struct part *p = &f->p[i];
        if (!p->aenc)
            continue;
        uint8_t payload[PAL_OPUS_MAX_PACKET], pkt[1500];
        size_t n = encode_tone(p, i, payload);
        size_t len = make_rtp(pkt, sizeof(pkt), 111, p->aseq++, p->ats, 1000 + (uint32_t)i,
                              false, payload, n);
        p->ats += PAL_OPUS_FRAME;
        pal_room_on_rtp(f->room, p->peer, pkt, len, f->now);
        if (f->steps % 3 == 0) {
            paint(f, p, i);
            bool key = p->plis != p->plis_seen; /* a PLI: as a browser, a keyframe */
            p->plis_seen = p->plis;
            assert_int_equal(pal_vp8_encode(p->venc, &p->img, f->steps / 3, key, send_video, p),
                             0);
            p->vts += 5400;
        }
    }
    f->steps++;
    f->now = f->realtime ? pal_now_ms() : f->now + 20;
    pal_room_tick(f->room, f->now);
    if (!f->realtime)
        assert_int_equal(pal_mixer_thread_advance(f->mt, f->now), 0);
    pal_mixer_thread_dispatch(f->mt);
}

/* ms of the room (in real time on the real clock). */
static void run(struct fixture *f, int ms, int n_pub)
{
    int64_t start = pal_now_ms();
    for (int t = 0; t < ms; t += 20) {
        step(f, n_pub);
        if (f->realtime)
            sleep_until_ms(start + t + 20);
    }
}

/* Real clock: waits (dispatching nothing) until the mixer thread's counters
 * satisfy done(), up to 20 s; returns the last snapshot. */
static struct pal_mixer_thread_stats wait_mixer(struct fixture *f,
                                                bool (*done)(const struct pal_mixer_thread_stats *,
                                                             const struct pal_mixer_thread_stats *),
                                                const struct pal_mixer_thread_stats *from)
{
    struct pal_mixer_thread_stats st;
    int64_t start = pal_now_ms();
    do {
        sleep_until_ms(pal_now_ms() + 10);
        pal_mixer_thread_get_stats(f->mt, &st);
    } while (!done(&st, from) && pal_now_ms() - start < 20000);
    return st;
}

/* Power of f over the last half second the participant heard. */
static double tone(const struct part *p, double freq)
{
    size_t half = 25 * PAL_OPUS_FRAME;
    assert_true(p->n_pcm >= half);
    return goertzel(p->pcm + p->n_pcm - half, half, freq, PAL_OPUS_RATE);
}

/* Mean colour around the centre of a quadrant of the last composite:
 * whether it is c (and what it is, in y, u, v). */
static bool colour_is(const struct part *p, int q, struct colour c, double *y, double *u,
                      double *v)
{
    struct pal_rect tile = {(q % 2) * W / 2, (q / 2) * H / 2, W / 2, H / 2};
    struct pal_rect r = {(tile.x + tile.w * 3 / 8) & ~1, (tile.y + tile.h * 3 / 8) & ~1,
                         tile.w / 4, tile.h / 4};
    const uint8_t *planes[3] = {p->pic.y, p->pic.u, p->pic.v};
    int strides[3] = {p->pic.stride_y, p->pic.stride_uv, p->pic.stride_uv};
    pal_image_mean(planes, strides, r, y, u, v);
    return fabs(*y - c.y) <= 14 && fabs(*u - c.u) <= 14 && fabs(*v - c.v) <= 14;
}

static void expect_colour(const struct part *p, int q, struct colour c)
{
    double y, u, v;
    if (!colour_is(p, q, c, &y, &u, &v))
        fail_msg("%s, quadrant %d: got Y %.0f U %.0f V %.0f, want %d %d %d", p->id, q, y, u, v,
                 c.y, c.u, c.v);
}

/* How many quadrants of the last composite show c. */
static int quadrants_of(const struct part *p, struct colour c)
{
    int n = 0;
    double y, u, v;
    for (int q = 0; q < 4; q++)
        n += colour_is(p, q, c, &y, &u, &v);
    return n;
}

static void mix_through_the_room(void **state)
{
    struct fixture *f = *state;
    publish(f, 0);
    publish(f, 1);
    assert_false(pal_room_mixer_running(f->room));
    for (int i = 0; i < N_PEER; i++)
        subscribe_mix(f, i);
    assert_true(pal_room_mixer_running(f->room));
    publish(f, 2); /* publishes after the mixer started: mixed too */
    run(f, 2000, N_PUB);

    /* Audio: N-1 for the publishers, all three for dave. */
    for (int o = 0; o < N_PUB; o++) {
        struct part *p = &f->p[o];
        assert_true(p->audio_packets >= 2000 / 20 - 10);
        double own = tone(p, FREQ[o]);
        for (int i = 0; i < N_PUB; i++) {
            if (i == o)
                continue;
            double other = tone(p, FREQ[i]);
            if (!(other > 1e5 && other > 100.0 * own))
                fail_msg("%s: %.0f Hz at %g, its own %.0f Hz at %g", p->id, FREQ[i], other,
                         FREQ[o], own);
        }
    }
    for (int i = 0; i < N_PUB; i++)
        assert_true(tone(&f->p[3], FREQ[i]) > 1e5);

    /* Video: everyone decodes the same composite; publishers in join order. */
    for (int o = 0; o < N_PEER; o++) {
        assert_true(f->p[o].frames >= 20);
        assert_true(f->p[o].keyframes >= 1);
        for (int i = 0; i < N_PUB; i++)
            expect_colour(&f->p[o], i, COLOUR[i]);
        expect_colour(&f->p[o], 3, (struct colour){16, 128, 128}); /* the empty cell */
    }
}

/* Everyone publishes, everyone receives the mix, for 1.5 s. */
static void everyone_mixed(struct fixture *f)
{
    for (int i = 0; i < N_PUB; i++)
        publish(f, i);
    for (int i = 0; i < N_PEER; i++)
        subscribe_mix(f, i);
    run(f, 1500, N_PUB);
}

static void keyframes_both_ways(void **state)
{
    struct fixture *f = *state;
    everyone_mixed(f);
    /* A subscriber's PLI on the composite: a keyframe follows. */
    int before = f->p[3].keyframes;
    uint8_t pli[64];
    size_t len;
    assert_int_equal(pal_rtcp_write_pli(pli, sizeof(pli), &len, 99, f->p[3].mix_vssrc), 0);
    pal_room_on_rtcp(f->room, f->p[3].peer, PAL_MEDIA_PC_SUBSCRIBE, pli, len, f->now);
    run(f, 200, N_PUB);
    assert_true(f->p[3].keyframes > before);

    /* A publisher's corrupt frame: the mixer cannot decode it, alice gets a
     * PLI, and the composite keeps coming meanwhile. */
    int plis = f->p[0].plis, frames = f->p[3].frames;
    f->p[0].corrupt = true;
    run(f, 60, N_PUB);
    f->p[0].corrupt = false;
    run(f, 1000, N_PUB);
    assert_true(f->p[0].plis > plis);
    assert_true(f->p[3].frames >= frames + 12);

    /* bob changes resolution mid-stream (a new encoder: a keyframe) */
    publisher_size(&f->p[1], 320, 240);
    run(f, 1000, N_PUB);
    for (int i = 0; i < N_PUB; i++)
        expect_colour(&f->p[3], i, COLOUR[i]);

    /* carol leaves: the others go on, side by side */
    frames = f->p[3].frames;
    assert_int_equal(pal_room_peer_remove(f->room, "p_carol"), 0);
    f->p[2].peer = NULL;
    pal_opus_encoder_destroy(f->p[2].aenc);
    f->p[2].aenc = NULL;
    run(f, 1000, 2);
    assert_true(f->p[3].frames >= frames + 12);
    assert_true(tone(&f->p[3], FREQ[0]) > 1e5);
    assert_true(tone(&f->p[3], FREQ[2]) < 0.01 * tone(&f->p[3], FREQ[0]));
}

/* A mixed subscriber lost a composite packet (NACK): it comes again, the
 * same bytes, from the ring of the mixer output's producer; a packet it was
 * never sent is not. */
static void composite_nack_answered(void **state)
{
    struct fixture *f = *state;
    everyone_mixed(f);
    struct part *dave = &f->p[3];
    assert_true(dave->video_packets > 0);
    dave->want_rtx = true;
    uint16_t seqs[2] = {dave->last_vseq, (uint16_t)(dave->last_vseq + 1000)};
    uint8_t nack[64];
    size_t len;
    assert_int_equal(pal_rtcp_write_nack(nack, sizeof(nack), &len, 99, dave->mix_vssrc, seqs, 2),
                     0);
    pal_room_on_rtcp(f->room, dave->peer, PAL_MEDIA_PC_SUBSCRIBE, nack, len, f->now);
    assert_int_equal(dave->rtx_same, 1);
    assert_int_equal(dave->rtx_other, 0);
    struct pal_room_stats st;
    pal_room_get_stats(f->room, &st);
    assert_int_equal(st.retransmitted, 1);
}

/* Alice's and bob's browsers numbered the audio level extension apart (3
 * and 5): the mixer still reads both levels (each input's consumer maps its
 * publisher's id to the one the mixer reads), so bob, who says he is
 * silent, is not decoded, and alice, loud, is heard. */
static void levels_read_whatever_their_extension_id(void **state)
{
    struct fixture *f = *state;
    static const uint8_t ext_id[2] = {3, 5}, level[2] = {20, 127}; /* -dBov: loud, silence */
    for (int i = 0; i < 2; i++) {
        struct part *p = &f->p[i];
        struct pal_opus_encoder_config c;
        pal_opus_encoder_config_default(&c);
        assert_int_equal(pal_opus_encoder_create(&c, &p->aenc), 0);
        struct pal_media_track a = track("0", PAL_MEDIA_AUDIO, 1000 + (uint32_t)i);
        a.ext_audio_level = ext_id[i];
        assert_int_equal(pal_room_producer_add(f->room, p->peer, &a, f->now), 0);
    }
    subscribe_mix(f, 3);
    for (int t = 0; t < 75; t++) {
        for (int i = 0; i < 2; i++) {
            struct part *p = &f->p[i];
            uint8_t payload[PAL_OPUS_MAX_PACKET], pkt[1500];
            size_t n = encode_tone(p, i, payload);
            struct pal_rtp_header h = {.payload_type = 111, .seq = p->aseq++, .timestamp = p->ats,
                                       .ssrc = 1000 + (uint32_t)i, .n_ext = 1};
            h.ext[0].id = ext_id[i];
            h.ext[0].len = 1;
            h.ext[0].data[0] = level[i];
            size_t len;
            assert_int_equal(pal_rtp_write(&h, payload, n, pkt, sizeof(pkt), &len), 0);
            p->ats += PAL_OPUS_FRAME;
            pal_room_on_rtp(f->room, p->peer, pkt, len, f->now);
        }
        f->now += 20;
        pal_room_tick(f->room, f->now);
        assert_int_equal(pal_mixer_thread_advance(f->mt, f->now), 0);
        pal_mixer_thread_dispatch(f->mt);
    }
    struct pal_mixer_thread_stats st;
    pal_mixer_thread_get_stats(f->mt, &st);
    assert_true(st.mix.audio_skipped_quiet >= 25); /* bob's, after the first second */
    assert_true(tone(&f->p[3], FREQ[0]) > 1e5);
}

/* One simulcast layer of a publisher: its own encoder, SSRC and numbering,
 * the rid extension on each packet. */
struct layer_pub {
    struct fixture *f;
    struct pal_room_peer *peer;
    struct pal_vp8_encoder *enc;
    struct pal_vp8_packetizer pk;
    struct pal_image img;
    const char *rid;
    uint32_t ssrc, ts;
    uint16_t seq;
};

#define RID_EXT 4

static void send_layer(void *ctx, const uint8_t *frame, size_t len, bool key)
{
    struct layer_pub *l = ctx;
    pal_vp8_packetizer_begin(&l->pk, frame, len);
    uint8_t payload[1500], pkt[1500];
    size_t n;
    bool marker;
    while (pal_vp8_packetizer_next(&l->pk, payload, sizeof(payload), &n, &marker) == 1) {
        struct pal_rtp_header h = {.marker = marker, .payload_type = 96, .seq = l->seq++,
                                   .timestamp = l->ts, .ssrc = l->ssrc, .n_ext = 1};
        h.ext[0].id = RID_EXT;
        h.ext[0].len = (uint8_t)strlen(l->rid);
        memcpy(h.ext[0].data, l->rid, strlen(l->rid));
        size_t plen;
        assert_int_equal(pal_rtp_write(&h, payload, n, pkt, sizeof(pkt), &plen), 0);
        /* the transport's path: the layer's SSRC learnt from its rid */
        struct pal_rtp_packet hdr;
        assert_int_equal(pal_rtp_parse(&hdr, pkt, plen, NULL), 0);
        assert_non_null(pal_room_peer_accept_rtp(l->peer, &hdr));
        pal_room_on_rtp(l->f->room, l->peer, pkt, plen, l->f->now);
    }
}

/* Erin publishes her camera in two simulcast layers, q red and h green:
 * the mixer's input consumes one, the smallest that fills a tile of the
 * composite (q), so the composite shows red and never green. */
/* The mix is numbered for transport-cc like any forwarded track (the
 * subscriber's estimate must see what the mix sends: a mixed subscriber on
 * a short link gets its composite paused, e2e/simulcast_bwe): every packet
 * of both mix tracks carries the subscriber's transport-wide number, one
 * sequence without a gap. Without a slot in the mixer's packets, none did. */
static void mix_numbered_for_transport_cc(void **state)
{
    struct fixture *f = *state;
    publish(f, 0);
    publish(f, 1);
    f->p[3].twcc_ext = 5; /* dave's subscribe PC negotiated it as 5 */
    subscribe_mix(f, 3);
    run(f, 1000, 2);
    struct part *d = &f->p[3];
    assert_true(d->audio_packets >= 1000 / 20 - 10);
    assert_true(d->video_packets >= 10);
    assert_int_equal(d->tw_numbered, d->audio_packets + d->video_packets);
    assert_int_equal(d->tw_gaps, 0);
}

static void simulcast_publisher_mixed_from_one_layer(void **state)
{
    struct fixture *f = *state;
    struct part *erin = &f->p[0];
    struct pal_media_track v = track("1", PAL_MEDIA_VIDEO, 0);
    v.n_layers = 2;
    v.ext_rid = RID_EXT;
    snprintf(v.rids[0], sizeof(v.rids[0]), "q");
    snprintf(v.rids[1], sizeof(v.rids[1]), "h");
    assert_int_equal(pal_room_producer_add(f->room, erin->peer, &v, f->now), 0);
    subscribe_mix(f, 3);
    struct layer_pub layers[2] = {
        {.f = f, .peer = erin->peer, .rid = "q", .ssrc = 7000, .seq = 65500},
        {.f = f, .peer = erin->peer, .rid = "h", .ssrc = 7001, .seq = 100},
    };
    static const int size[2][2] = {{160, 120}, {320, 240}};
    for (int i = 0; i < 2; i++) {
        struct pal_vp8_encoder_config c;
        pal_vp8_encoder_config_default(&c);
        c.width = size[i][0];
        c.height = size[i][1];
        c.bitrate_kbps = 300;
        assert_int_equal(pal_vp8_encoder_create(&c, &layers[i].enc), 0);
        assert_int_equal(pal_image_alloc(&layers[i].img, size[i][0], size[i][1]), 0);
        struct colour col = i == 0 ? RED : GREEN;
        pal_image_fill_rect(&layers[i].img, (struct pal_rect){0, 0, size[i][0], size[i][1]},
                            col.y, col.u, col.v);
        pal_vp8_packetizer_init(&layers[i].pk, 0, (uint16_t)(i * 1000));
    }
    int plis_seen = 0;
    for (int t = 0; t < 100; t++) {
        if (t % 3 == 0)
            for (int i = 0; i < 2; i++) {
                bool key = erin->plis != plis_seen; /* a PLI: a keyframe of each layer */
                assert_int_equal(pal_vp8_encode(layers[i].enc, &layers[i].img, t / 3, key,
                                                send_layer, &layers[i]),
                                 0);
                layers[i].ts += 5400;
            }
        plis_seen = erin->plis;
        f->now += 20;
        pal_room_tick(f->room, f->now);
        assert_int_equal(pal_mixer_thread_advance(f->mt, f->now), 0);
        pal_mixer_thread_dispatch(f->mt);
    }
    struct part *dave = &f->p[3];
    assert_true(dave->frames >= 20);
    assert_true(quadrants_of(dave, RED) >= 1);
    assert_int_equal(quadrants_of(dave, GREEN), 0);
    for (int i = 0; i < 2; i++) {
        pal_vp8_encoder_destroy(layers[i].enc);
        pal_image_free(&layers[i].img);
    }
}

static void mixer_lives_with_its_consumers(void **state)
{
    struct fixture *f = *state;
    publish(f, 0);
    subscribe_mix(f, 0);
    subscribe_mix(f, 3);
    run(f, 200, 1);
    assert_true(pal_room_mixer_running(f->room));
    /* a bad mixer mid is refused and changes nothing */
    struct pal_media_track t = track("x", PAL_MEDIA_AUDIO, 77);
    assert_int_equal(pal_room_consumer_add(f->room, f->p[1].peer, PAL_MEDIA_MIXER_ID, "nope", &t,
                                           f->now),
                     -EINVAL);
    assert_int_equal(pal_room_consumer_count(f->p[1].peer), 0);
    /* alice back to one track per participant: the mixer stays for dave */
    assert_int_equal(pal_room_consumer_remove(f->room, f->p[0].peer, "m0"), 0);
    assert_int_equal(pal_room_consumer_remove(f->room, f->p[0].peer, "m1"), 0);
    assert_true(pal_room_mixer_running(f->room));
    int packets = f->p[3].audio_packets, alice = f->p[0].audio_packets;
    run(f, 200, 1);
    assert_true(f->p[3].audio_packets > packets);
    assert_int_equal(f->p[0].audio_packets, alice);
    /* dave leaves: nobody asks for the mix any more, it stops */
    assert_int_equal(pal_room_peer_remove(f->room, "p_dave"), 0);
    assert_false(pal_room_mixer_running(f->room));
    run(f, 100, 1);
    /* and starts again for a new mixed listener */
    subscribe_mix(f, 1);
    assert_true(pal_room_mixer_running(f->room));
    run(f, 200, 1);
    assert_true(f->p[1].audio_packets > 0);
}

/* A second room of the same worker (this thread), forwarding only: erin's
 * audio to frank, whose sink counts. */
struct sfu_room {
    struct pal_room *room;
    struct pal_room_peer *erin, *frank;
    int got;
    uint16_t seq;
};

static int count_rtp(void *ctx, const uint8_t *hdr, size_t hdr_len, const uint8_t *body,
                     size_t body_len)
{
    struct sfu_room *s = ctx;
    s->got++;
    return 0;
}

static void sfu_room_open(struct sfu_room *s, int64_t now)
{
    memset(s, 0, sizeof(*s));
    assert_int_equal(pal_room_create("sfu", NULL, &s->room), 0);
    assert_int_equal(pal_room_peer_add(s->room, "p_erin", &s->erin), 0);
    assert_int_equal(pal_room_peer_add(s->room, "p_frank", &s->frank), 0);
    struct pal_media_sink pub = {.ctx = s, .send_rtp = no_rtp, .send_rtcp = any_rtcp};
    struct pal_media_sink sub = {.ctx = s, .send_rtp = count_rtp, .send_rtcp = any_rtcp};
    pal_room_set_sink(s->erin, PAL_MEDIA_PC_PUBLISH, &pub);
    pal_room_set_sink(s->frank, PAL_MEDIA_PC_SUBSCRIBE, &sub);
    pal_room_sink_ready(s->room, s->erin, PAL_MEDIA_PC_PUBLISH, now);
    pal_room_sink_ready(s->room, s->frank, PAL_MEDIA_PC_SUBSCRIBE, now);
    struct pal_media_track a = track("0", PAL_MEDIA_AUDIO, 5000);
    struct pal_media_track fa = track("a0", PAL_MEDIA_AUDIO, 6000);
    assert_int_equal(pal_room_producer_add(s->room, s->erin, &a, now), 0);
    assert_int_equal(pal_room_consumer_add(s->room, s->frank, "p_erin", "0", &fa, now), 0);
}

static void sfu_room_forward(struct sfu_room *s)
{
    static const uint8_t payload[80] = {0x78};
    uint8_t pkt[200];
    size_t len = make_rtp(pkt, sizeof(pkt), 111, s->seq, (uint32_t)s->seq * 960u, 5000, false,
                          payload, sizeof(payload));
    s->seq++;
    pal_room_on_rtp(s->room, s->erin, pkt, len, pal_now_ms());
}

static bool mixing(const struct pal_mixer_thread_stats *st, const struct pal_mixer_thread_stats *from)
{
    return st->mixers == 1 && st->video_ticks > 0 && st->out_packets > 0;
}

static bool ticked_on(const struct pal_mixer_thread_stats *st,
                      const struct pal_mixer_thread_stats *from)
{
    return st->audio_ticks >= from->audio_ticks + 10 && st->video_ticks >= from->video_ticks + 5 &&
           st->out_packets > from->out_packets;
}

/* The thread separation, observed: the mixer runs on a thread of its own and
 * keeps its clock while the worker is idle; and while that thread is inside
 * a tick of a large composite (1280x720 of noise, keyframes asked for), the
 * worker forwards another room's packets, each one before the tick ends.
 * With the mixer on the worker, no packet could be forwarded during a tick. */
static void worker_not_held_by_the_composite(void **state)
{
    struct fixture *f = *state;
    struct pal_mixer_config mc;
    pal_mixer_config_default(&mc);
    mc.video_width = want_w = 1280;
    mc.video_height = want_h = 720;
    mc.video_fps = 30;
    mc.video_bitrate_kbps = 4000;
    mc.video_cpu_used = 0; /* libvpx's slowest realtime speed */
    pal_room_set_mixer_config(f->room, &mc);
    f->noise = true;
    f->rnd = 1;
    for (int i = 0; i < N_PUB; i++)
        publish(f, i);
    subscribe_mix(f, 3);
    run(f, 400, N_PUB);

    struct pal_mixer_thread_stats a, b;
    a = wait_mixer(f, mixing, NULL);
    assert_true(a.tid != 0);
    assert_int_not_equal(a.tid, (int)gettid());
    assert_int_equal(a.mixers, 1);
    assert_true(a.rtp_in > 0);

    /* The worker does nothing: the mixer ticks on, and its packets wait in
     * the queue until the worker dispatches them. */
    int audio = f->p[3].audio_packets;
    b = wait_mixer(f, ticked_on, &a);
    assert_true(b.audio_ticks >= a.audio_ticks + 10);
    assert_true(b.video_ticks >= a.video_ticks + 5);
    assert_true(b.out_packets > a.out_packets);
    assert_int_equal(f->p[3].audio_packets, audio);
    pal_mixer_thread_dispatch(f->mt);
    assert_true(f->p[3].audio_packets >= audio + 10);

    /* Forwarding in another room during the composite's ticks. */
    struct sfu_room s;
    sfu_room_open(&s, pal_now_ms());
    int sent = 0, inside = 0;
    int64_t start = pal_now_ms(), next_step = start;
    while (inside < 20 && pal_now_ms() - start < 20000) {
        if (pal_now_ms() >= next_step) {
            step(f, N_PUB);
            pal_room_tick(s.room, f->now);
            uint8_t pli[64];
            size_t len;
            assert_int_equal(pal_rtcp_write_pli(pli, sizeof(pli), &len, 99, f->p[3].mix_vssrc),
                             0);
            pal_room_on_rtcp(f->room, f->p[3].peer, PAL_MEDIA_PC_SUBSCRIBE, pli, len, f->now);
            next_step += 20;
        }
        pal_mixer_thread_get_stats(f->mt, &a);
        sfu_room_forward(&s);
        sent++;
        pal_mixer_thread_get_stats(f->mt, &b);
        if (a.ticking && b.ticking && a.audio_ticks == b.audio_ticks &&
            a.video_ticks == b.video_ticks && s.got == sent)
            inside++; /* forwarded from start to end within one mixer tick */
        nanosleep(&(struct timespec){0, 200000}, NULL);
    }
    pal_mixer_thread_get_stats(f->mt, &b);
    print_message("# %d packets forwarded, %d of them inside a mixer tick; longest video tick "
                  "%.1f ms, audio tick %.2f ms\n",
                  sent, inside, b.max_video_tick_us / 1000.0, b.max_audio_tick_us / 1000.0);
    assert_int_equal(s.got, sent);
    assert_true(inside >= 20);
    assert_true(f->p[3].keyframes >= 1);
    assert_int_equal(b.out_dropped, 0);
    pal_room_destroy(s.room);
}

/* A moderator's hard mute of bob (microphone and camera): the mixer gets
 * nothing of his, so nobody hears his tone nor sees his colour, while the
 * others go on; lifted, he is heard and seen again. */
static void blocked_publisher_not_mixed(void **state)
{
    struct fixture *f = *state;
    everyone_mixed(f);
    struct part *dave = &f->p[3];
    assert_true(tone(dave, FREQ[1]) > 1e5);
    assert_int_equal(quadrants_of(dave, GREEN), 1);

    assert_int_equal(pal_room_block(f->room, f->p[1].peer, PAL_MEDIA_AUDIO, true, f->now), 0);
    assert_int_equal(pal_room_block(f->room, f->p[1].peer, PAL_MEDIA_VIDEO, true, f->now), 0);
    int frames = dave->frames;
    run(f, 1500, N_PUB);
    assert_true(dave->frames >= frames + 12); /* the composite goes on */
    double alice = tone(dave, FREQ[0]);
    assert_true(alice > 1e5);
    assert_true(tone(dave, FREQ[2]) > 1e5);
    if (!(tone(dave, FREQ[1]) < 0.01 * alice))
        fail_msg("bob blocked, still heard: %g against alice's %g", tone(dave, FREQ[1]), alice);
    assert_true(tone(&f->p[0], FREQ[1]) < 0.01 * tone(&f->p[0], FREQ[2]));
    assert_int_equal(quadrants_of(dave, GREEN), 0);
    assert_true(quadrants_of(dave, RED) >= 1); /* two tiles now: each may span two quadrants */
    assert_true(quadrants_of(dave, BLUE) >= 1);

    assert_int_equal(pal_room_block(f->room, f->p[1].peer, PAL_MEDIA_AUDIO, false, f->now), 0);
    assert_int_equal(pal_room_block(f->room, f->p[1].peer, PAL_MEDIA_VIDEO, false, f->now), 0);
    run(f, 1500, N_PUB);
    assert_true(tone(dave, FREQ[1]) > 1e5);
    assert_int_equal(quadrants_of(dave, GREEN), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(mix_through_the_room, setup, teardown),
        cmocka_unit_test_setup_teardown(keyframes_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(composite_nack_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(levels_read_whatever_their_extension_id, setup, teardown),
        cmocka_unit_test_setup_teardown(mix_numbered_for_transport_cc, setup, teardown),
        cmocka_unit_test_setup_teardown(simulcast_publisher_mixed_from_one_layer, setup, teardown),
        cmocka_unit_test_setup_teardown(mixer_lives_with_its_consumers, setup, teardown),
        cmocka_unit_test_setup_teardown(blocked_publisher_not_mixed, setup, teardown),
        cmocka_unit_test_setup_teardown(worker_not_held_by_the_composite, setup_realtime,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
