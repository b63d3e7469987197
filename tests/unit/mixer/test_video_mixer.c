#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>

#include "mixer_test_util.h"
#include "palabre/mixer.h"
#include "palabre/mixer/image.h"
#include "palabre/mixer/vp8_codec.h"
#include "palabre/mixer/vp8_depacketizer.h"
#include "palabre/mixer/vp8_packetizer.h"

#define W 640
#define H 360
#define OUT_ID 100

struct colour {
    uint8_t y, u, v;
};
static const struct colour RED = {81, 90, 240}, GREEN = {145, 54, 34}, BLUE = {41, 240, 110},
                           WHITE = {235, 128, 128}, YELLOW = {210, 16, 146};

/* A publisher: solid colour pictures encoded with libvpx into RTP. */
struct publisher {
    struct pal_mixer *m;
    uint32_t input;
    struct pal_vp8_encoder *enc;
    struct pal_vp8_packetizer pk;
    struct pal_image img;
    struct colour c;
    uint16_t seq;
    uint32_t ts;
    int64_t now;
    bool corrupt; /* send garbage instead of the encoded frame */
};

static void pub_set_size(struct publisher *p, int w, int h)
{
    pal_vp8_encoder_destroy(p->enc);
    struct pal_vp8_encoder_config c;
    pal_vp8_encoder_config_default(&c);
    c.width = w;
    c.height = h;
    c.bitrate_kbps = 300;
    assert_int_equal(pal_vp8_encoder_create(&c, &p->enc), 0);
    assert_int_equal(pal_image_alloc(&p->img, w, h), 0);
}

static void pub_init(struct publisher *p, struct pal_mixer *m, uint32_t input, struct colour c,
                     int w, int h)
{
    memset(p, 0, sizeof(*p));
    p->m = m;
    p->input = input;
    p->c = c;
    p->seq = (uint16_t)(65530 + input); /* wraps during the test */
    pal_vp8_packetizer_init(&p->pk, 0, (uint16_t)input);
    pub_set_size(p, w, h);
}

static void pub_free(struct publisher *p)
{
    pal_vp8_encoder_destroy(p->enc);
    pal_image_free(&p->img);
}

static void pub_send(void *ctx, const uint8_t *frame, size_t len, bool key)
{
    struct publisher *p = ctx;
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
    while (pal_vp8_packetizer_next(&p->pk, payload, sizeof(payload), &n, &marker) == 1) {
        size_t l = make_rtp(pkt, sizeof(pkt), 96, p->seq++, p->ts, 5000 + p->input, marker,
                            payload, n);
        assert_int_equal(pal_mixer_push_rtp(p->m, p->input, pkt, l, p->now), 0);
    }
}

static void pub_frame(struct publisher *p, int64_t now, bool key)
{
    p->now = now;
    pal_image_fill_rect(&p->img, (struct pal_rect){0, 0, p->img.width, p->img.height}, p->c.y,
                        p->c.u, p->c.v);
    assert_int_equal(pal_vp8_encode(p->enc, &p->img, now / 33, key, pub_send, p), 0);
    p->ts += 3000;
}

/* The subscriber: depacketizes and decodes the composite. */
struct viewer {
    struct pal_vp8_depacketizer *dp;
    struct pal_vp8_decoder *dec;
    struct pal_image pic;
    int frames, keyframes, packets, kf_needed_inputs[16], n_kf;
    uint16_t last_seq;
    uint32_t last_ts;
};

static void on_view_frame(void *ctx, const uint8_t *f, size_t len, uint32_t ts, bool key)
{
    struct viewer *v = ctx;
    struct pal_vp8_picture pic;
    assert_int_equal(pal_vp8_decode(v->dec, f, len, &pic), 1);
    assert_int_equal(pic.width, W);
    assert_int_equal(pic.height, H);
    assert_int_equal(pal_image_copy_planes(&v->pic, pic.planes, pic.strides, W, H), 0);
    v->frames++;
    v->keyframes += key;
}

static void on_view_kf(void *ctx)
{
    fail_msg("the composite stream lost a packet");
}

static void on_packet(void *ctx, uint32_t output_id, const uint8_t *rtp, size_t len)
{
    struct viewer *v = ctx;
    assert_int_equal(output_id, OUT_ID);
    assert_true(len <= 1200 + 12);
    struct pal_rtp_packet p;
    assert_int_equal(pal_rtp_parse(&p, (uint8_t *)rtp, len, NULL), 0);
    assert_int_equal(p.payload_type, 96);
    assert_int_equal(p.ssrc, 777);
    if (v->packets) { /* one stream: continuous numbering, time never backwards */
        assert_int_equal(p.seq, (uint16_t)(v->last_seq + 1));
        assert_true((int32_t)(p.timestamp - v->last_ts) >= 0);
    }
    v->last_seq = p.seq;
    v->last_ts = p.timestamp;
    v->packets++;
    pal_vp8_depacketizer_push(v->dp, pal_rtp_payload(&p), p.payload_len, p.timestamp, p.marker,
                              0);
}

static void on_kf_needed(void *ctx, uint32_t input)
{
    struct viewer *v = ctx;
    if (v->n_kf < 16)
        v->kf_needed_inputs[v->n_kf++] = (int)input;
}

static struct pal_mixer *setup(struct viewer *v)
{
    memset(v, 0, sizeof(*v));
    struct pal_vp8_depacketizer_listener dl = {v, on_view_frame, on_view_kf};
    assert_int_equal(pal_vp8_depacketizer_create(&dl, &v->dp), 0);
    assert_int_equal(pal_vp8_decoder_create(&v->dec), 0);
    struct pal_mixer_config c;
    pal_mixer_config_default(&c);
    c.video_width = W;
    c.video_height = H;
    c.video_bitrate_kbps = 1000;
    struct pal_mixer_listener l = {v, on_packet, on_kf_needed};
    struct pal_mixer *m = NULL;
    assert_int_equal(pal_mixer_create(&c, &l, &m), 0);
    assert_int_equal(pal_mixer_add_output(m, OUT_ID, 0, PAL_MIXER_VIDEO, 777), 0);
    return m;
}

static void teardown(struct viewer *v, struct pal_mixer *m)
{
    pal_mixer_destroy(m);
    pal_vp8_depacketizer_destroy(v->dp);
    pal_vp8_decoder_destroy(v->dec);
    pal_image_free(&v->pic);
}

/* Checks the mean colour around the centre of a tile (a quarter of its size). */
static void expect_colour(const struct viewer *v, struct pal_rect tile, struct colour c)
{
    struct pal_rect r = {tile.x + tile.w * 3 / 8, tile.y + tile.h * 3 / 8, tile.w / 4, tile.h / 4};
    r.x &= ~1;
    r.y &= ~1;
    const uint8_t *planes[3] = {v->pic.y, v->pic.u, v->pic.v};
    int strides[3] = {v->pic.stride_y, v->pic.stride_uv, v->pic.stride_uv};
    double y, u, vv;
    pal_image_mean(planes, strides, r, &y, &u, &vv);
    if (fabs(y - c.y) > 12 || fabs(u - c.u) > 12 || fabs(vv - c.v) > 12)
        fail_msg("tile %d,%d %dx%d: got Y %.0f U %.0f V %.0f, want %d %d %d", tile.x, tile.y,
                 tile.w, tile.h, y, u, vv, c.y, c.u, c.v);
}

static void run(struct pal_mixer *m, struct publisher *p, int n, int ticks, int64_t *now)
{
    for (int t = 0; t < ticks; t++) {
        for (int i = 0; i < n; i++)
            pub_frame(&p[i], *now, false);
        assert_true(pal_mixer_tick_video(m, *now + 5) >= 0);
        *now += 33;
    }
}

static const struct pal_rect Q[4] = {
    {0, 0, W / 2, H / 2}, {W / 2, 0, W / 2, H / 2}, {0, H / 2, W / 2, H / 2},
    {W / 2, H / 2, W / 2, H / 2}};

static void colours_in_their_tiles(void **state)
{
    struct viewer v;
    struct pal_mixer *m = setup(&v);
    struct publisher p[4];
    const struct colour cs[4] = {RED, GREEN, BLUE, WHITE};
    int64_t now = 0;
    /* One input: the whole canvas. */
    pub_init(&p[0], m, 1, cs[0], 320, 180);
    pal_mixer_add_input(m, 1, 1, PAL_MIXER_VIDEO);
    run(m, p, 1, 5, &now);
    assert_true(v.frames >= 3);
    assert_true(v.keyframes >= 1);
    expect_colour(&v, (struct pal_rect){0, 0, W, H}, RED);
    /* Two: side by side. */
    pub_init(&p[1], m, 2, cs[1], 320, 180);
    pal_mixer_add_input(m, 2, 2, PAL_MIXER_VIDEO);
    run(m, p, 2, 6, &now);
    expect_colour(&v, (struct pal_rect){0, 0, W / 2, H}, RED);
    expect_colour(&v, (struct pal_rect){W / 2, 0, W / 2, H}, GREEN);
    /* Four: 2x2. */
    for (int i = 2; i < 4; i++) {
        pub_init(&p[i], m, (uint32_t)i + 1, cs[i], 320, 180);
        pal_mixer_add_input(m, (uint32_t)i + 1, (uint32_t)i + 1, PAL_MIXER_VIDEO);
    }
    run(m, p, 4, 6, &now);
    for (int i = 0; i < 4; i++)
        expect_colour(&v, Q[i], cs[i]);
    /* A participant leaves: three tiles remain in the 2x2 grid, the last is empty. */
    assert_int_equal(pal_mixer_remove_input(m, 2), 0);
    pub_free(&p[1]);
    p[1] = p[3];
    run(m, p, 3, 6, &now);
    expect_colour(&v, Q[0], RED);
    expect_colour(&v, Q[1], BLUE);
    expect_colour(&v, Q[2], WHITE);
    expect_colour(&v, Q[3], (struct colour){16, 128, 128});
    pub_free(&p[0]);
    pub_free(&p[1]);
    pub_free(&p[2]);
    teardown(&v, m);
}

static void resolution_change_and_corrupt_frames(void **state)
{
    struct viewer v;
    struct pal_mixer *m = setup(&v);
    struct publisher p[2];
    int64_t now = 0;
    pub_init(&p[0], m, 1, RED, 320, 180);
    pub_init(&p[1], m, 2, GREEN, 320, 180);
    pal_mixer_add_input(m, 1, 1, PAL_MIXER_VIDEO);
    pal_mixer_add_input(m, 2, 2, PAL_MIXER_VIDEO);
    run(m, p, 2, 5, &now);
    const struct pal_rect left = {0, 0, W / 2, H}, right = {W / 2, 0, W / 2, H};
    expect_colour(&v, left, RED);
    expect_colour(&v, right, GREEN);
    /* Input 1 goes to 160x120 and yellow mid-stream (a new keyframe). */
    pub_set_size(&p[0], 160, 120);
    p[0].c = YELLOW;
    run(m, p, 2, 5, &now);
    expect_colour(&v, left, YELLOW);
    expect_colour(&v, right, GREEN);
    /* Input 2 sends garbage: its tile keeps green, a keyframe is asked for it,
     * and the other tile still updates. */
    p[1].corrupt = true;
    p[0].c = BLUE;
    int frames = v.frames;
    run(m, p, 2, 5, &now);
    assert_true(v.frames > frames);
    expect_colour(&v, left, BLUE);
    expect_colour(&v, right, GREEN);
    bool asked = false;
    for (int i = 0; i < v.n_kf; i++)
        asked |= v.kf_needed_inputs[i] == 2;
    assert_true(asked);
    /* It recovers with a keyframe. */
    p[1].corrupt = false;
    p[1].c = WHITE;
    pub_frame(&p[1], now, true);
    run(m, p, 2, 4, &now);
    expect_colour(&v, right, WHITE);
    pub_free(&p[0]);
    pub_free(&p[1]);
    teardown(&v, m);
}

static void keyframe_on_request_and_speaker_tile(void **state)
{
    struct viewer v;
    struct pal_mixer *m = setup(&v);
    struct publisher p[10];
    int64_t now = 0;
    for (int i = 0; i < 10; i++) {
        pub_init(&p[i], m, (uint32_t)i + 1, i == 6 ? RED : GREEN, 160, 90);
        pal_mixer_add_input(m, (uint32_t)i + 1, (uint32_t)i + 1, PAL_MIXER_VIDEO);
    }
    pal_mixer_set_active_speaker(m, 7); /* input 7 is red */
    run(m, p, 10, 5, &now);
    /* Over 9 inputs: the speaker's tile is the large top-left one (3x3 of a 4x4 grid). */
    struct pal_rect big = {0, 0, (W * 3 / 4) & ~1, (H * 3 / 4) & ~1};
    expect_colour(&v, big, RED);
    expect_colour(&v, (struct pal_rect){(W * 3 / 4) & ~1, 0, W / 4, H / 4}, GREEN);
    /* A subscriber's PLI: the next composite frame is a keyframe. */
    int keys = v.keyframes;
    assert_int_equal(pal_mixer_request_keyframe(m, OUT_ID), 0);
    run(m, p, 10, 1, &now);
    assert_int_equal(v.keyframes, keys + 1);
    for (int i = 0; i < 10; i++)
        pub_free(&p[i]);
    teardown(&v, m);
}

static void placeholder_before_first_picture(void **state)
{
    struct viewer v;
    struct pal_mixer *m = setup(&v);
    pal_mixer_add_input(m, 1, 1, PAL_MIXER_VIDEO);
    int64_t now = 0;
    run(m, NULL, 0, 3, &now);
    expect_colour(&v, (struct pal_rect){0, 0, W, H}, (struct colour){40, 128, 128});
    /* Junk RTP to a video input: refused, nothing breaks. */
    uint8_t junk[40] = {0x80, 96, 0, 1};
    assert_int_equal(pal_mixer_push_rtp(m, 1, junk, 5, now), -EINVAL);
    assert_int_equal(pal_mixer_push_rtp(m, 1, junk, sizeof(junk), now), 0);
    run(m, NULL, 0, 2, &now);
    expect_colour(&v, (struct pal_rect){0, 0, W, H}, (struct colour){40, 128, 128});
    teardown(&v, m);
}

static void expect_held(struct pal_mixer *m, uint64_t encoders, uint64_t canvas_bytes)
{
    struct pal_mixer_stats st;
    pal_mixer_get_stats(m, &st);
    assert_int_equal(st.video_encoders, encoders);
    assert_int_equal(st.video_canvas_bytes, canvas_bytes);
}

/* Issue 10: a mixed listener alone in a room. No canvas, no encoder, no
 * frame until a video input exists; then the composite starts (a keyframe
 * first) and shows it; when it leaves, one blank frame and everything is
 * freed again; the stream continues when the next one comes. */
static void idle_until_a_video_input(void **state)
{
    struct viewer v;
    struct pal_mixer *m = setup(&v);
    int64_t now = 0;
    run(m, NULL, 0, 30, &now);
    expect_held(m, 0, 0);
    assert_false(pal_mixer_busy(m, PAL_MIXER_VIDEO));
    assert_int_equal(v.packets, 0);

    struct publisher p;
    pub_init(&p, m, 1, RED, 320, 180);
    assert_int_equal(pal_mixer_add_input(m, 1, 1, PAL_MIXER_VIDEO), 0);
    assert_true(pal_mixer_busy(m, PAL_MIXER_VIDEO));
    run(m, &p, 1, 5, &now);
    expect_held(m, 1, W * H * 3 / 2);
    assert_true(v.frames >= 4);
    assert_true(v.keyframes >= 1);
    expect_colour(&v, (struct pal_rect){0, 0, W, H}, RED);
    pub_free(&p);

    assert_int_equal(pal_mixer_remove_input(m, 1), 0);
    int frames = v.frames;
    run(m, NULL, 0, 1, &now);
    assert_int_equal(v.frames, frames + 1); /* the blank frame */
    expect_colour(&v, (struct pal_rect){0, 0, W, H}, (struct colour){16, 128, 128});
    expect_held(m, 0, 0);
    assert_false(pal_mixer_busy(m, PAL_MIXER_VIDEO));
    int packets = v.packets;
    uint32_t ts = v.last_ts;
    int64_t blank_at = now - 33;
    run(m, NULL, 0, 30, &now);
    assert_int_equal(v.packets, packets);

    pub_init(&p, m, 2, GREEN, 320, 180);
    assert_int_equal(pal_mixer_add_input(m, 2, 2, PAL_MIXER_VIDEO), 0);
    int64_t back_at = now;
    run(m, &p, 1, 5, &now);
    expect_colour(&v, (struct pal_rect){0, 0, W, H}, GREEN);
    expect_held(m, 1, W * H * 3 / 2);
    /* on_packet checked the sequence numbers; the timestamps kept time (90 kHz) */
    assert_true(v.packets > packets);
    assert_true(v.last_ts - ts >= (uint32_t)(back_at - blank_at) * 90);
    pub_free(&p);
    teardown(&v, m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(colours_in_their_tiles),
        cmocka_unit_test(resolution_change_and_corrupt_frames),
        cmocka_unit_test(keyframe_on_request_and_speaker_tile),
        cmocka_unit_test(placeholder_before_first_picture),
        cmocka_unit_test(idle_until_a_video_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
