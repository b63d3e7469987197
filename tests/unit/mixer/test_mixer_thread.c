/* The mixer thread's scheduling (mixer/mixer_thread.c), in real time:
 * audio never waits for the composite (issue 10, item 3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <time.h>

#include "mixer_test_util.h"
#include "palabre/mixer.h"
#include "palabre/mixer/image.h"
#include "palabre/mixer/opus_codec.h"
#include "palabre/mixer/vp8_codec.h"
#include "palabre/mixer/vp8_packetizer.h"
#include "palabre/mixer_thread.h"

#define AUDIO_IN 1
#define VIDEO_IN 2
#define AUDIO_OUT 10
#define VIDEO_OUT 11
#define MAX_FRAMES 1000
#define SILENT 1e5 /* mean square below which a 20 ms frame is silence (-40 dBFS) */

struct listener {
    struct pal_opus_decoder *dec;
    int audio, video;
    double energy[MAX_FRAMES];
    int n;
    bool have_prev, seq_gap;
    int ts_jumps;
    uint16_t prev_seq;
    uint32_t prev_ts;
};

static void on_packet(void *ctx, uint32_t output_id, const uint8_t *rtp, size_t len)
{
    struct listener *l = ctx;
    struct pal_rtp_packet p;
    assert_int_equal(pal_rtp_parse(&p, (uint8_t *)rtp, len, NULL), 0);
    if (output_id == VIDEO_OUT) {
        l->video++;
        return;
    }
    assert_int_equal(output_id, AUDIO_OUT);
    /* numbered in sequence; timed in sequence unless ticks were lost */
    if (l->have_prev && p.seq != (uint16_t)(l->prev_seq + 1))
        l->seq_gap = true;
    if (l->have_prev && p.timestamp != l->prev_ts + PAL_OPUS_FRAME)
        l->ts_jumps++;
    l->have_prev = true;
    l->prev_seq = p.seq;
    l->prev_ts = p.timestamp;
    l->audio++;
    int16_t pcm[PAL_OPUS_FRAME];
    assert_int_equal(pal_opus_decode(l->dec, pal_rtp_payload(&p), p.payload_len, pcm),
                     PAL_OPUS_FRAME);
    if (l->n < MAX_FRAMES)
        l->energy[l->n++] = energy(pcm, PAL_OPUS_FRAME);
}

struct video_pub {
    struct pal_mixer_thread *t;
    uint32_t mixer;
    struct pal_vp8_packetizer pk;
    uint16_t seq;
    uint32_t ts;
};

static void send_video(void *ctx, const uint8_t *frame, size_t len, bool key)
{
    struct video_pub *v = ctx;
    pal_vp8_packetizer_begin(&v->pk, frame, len);
    uint8_t payload[1300], pkt[1400];
    size_t n;
    bool marker;
    while (pal_vp8_packetizer_next(&v->pk, payload, sizeof(payload), &n, &marker) == 1) {
        size_t l = make_rtp(pkt, sizeof(pkt), 96, v->seq++, v->ts, 2222, marker, payload, n);
        pal_mixer_thread_push_rtp(v->t, v->mixer, VIDEO_IN, pkt, l, pal_now_ms());
    }
}

/* A room with a tone and a camera, mixed for a listener, the composite made
 * slower than its frame rate on purpose (250 ms a frame for 15 fps). Every
 * audio frame the listener gets, from the first with the tone on, carries
 * the tone; audio ticks run while the composite is inside a frame; no audio
 * tick is lost to the composite; the composite lowers its frame rate and
 * keeps going. On one loop for both (before), each composite held the audio
 * 250 ms, over the 200 ms after which ticks are lost: 165 of 200 were.
 *
 * A host so busy that it leaves the audio loop itself without a core for
 * 200 ms loses ticks whatever the design (the media workers stall alike):
 * the test tolerates that (a stall or two), not a loss per composite frame. */
static void audio_continuous_while_the_composite_is_slow(void **state)
{
    struct listener l = {0};
    assert_int_equal(pal_opus_decoder_create(&l.dec), 0);
    struct pal_mixer_thread *t;
    assert_int_equal(pal_mixer_thread_create("test-mixer", NULL, NULL, &t), 0);
    struct pal_mixer_config c;
    pal_mixer_config_default(&c);
    c.video_width = 320;
    c.video_height = 180;
    c.video_fps = 15;
    c.video_bitrate_kbps = 300;
    /* a deep jitter buffer: this test's own thread may be late on a busy machine */
    c.jitter_min_ms = 100;
    c.jitter_max_ms = 200;
    c.test_composite_delay_ms = 250;
    struct pal_mixer_listener ml = {.ctx = &l, .on_output_packet = on_packet};
    uint32_t id;
    assert_int_equal(pal_mixer_thread_open(t, "slow", &c, &ml, &id), 0);
    assert_int_equal(pal_mixer_thread_add_input(t, id, AUDIO_IN, 1, PAL_MIXER_AUDIO), 0);
    assert_int_equal(pal_mixer_thread_add_input(t, id, VIDEO_IN, 1, PAL_MIXER_VIDEO), 0);
    assert_int_equal(pal_mixer_thread_add_output(t, id, AUDIO_OUT, 0, PAL_MIXER_AUDIO, 77), 0);
    assert_int_equal(pal_mixer_thread_add_output(t, id, VIDEO_OUT, 0, PAL_MIXER_VIDEO, 78), 0);

    struct pal_opus_encoder_config oc;
    pal_opus_encoder_config_default(&oc);
    struct pal_opus_encoder *aenc;
    assert_int_equal(pal_opus_encoder_create(&oc, &aenc), 0);
    struct pal_vp8_encoder_config vc;
    pal_vp8_encoder_config_default(&vc);
    vc.width = 160;
    vc.height = 120;
    vc.bitrate_kbps = 200;
    struct pal_vp8_encoder *venc;
    assert_int_equal(pal_vp8_encoder_create(&vc, &venc), 0);
    struct pal_image img = {0};
    assert_int_equal(pal_image_alloc(&img, 160, 120), 0);
    struct video_pub vp = {.t = t, .mixer = id};
    pal_vp8_packetizer_init(&vp.pk, 0, 1);

    struct pal_mixer_thread_stats prev = {0}, cur;
    int inside = 0; /* samples where audio ticked during one composite tick */
    double phase = 0;
    uint16_t aseq = 100;
    uint32_t ats = 0;
    int64_t start = pal_now_ms();
    for (int k = 0; k < 200; k++) { /* 4 s of 20 ms */
        int16_t pcm[PAL_OPUS_FRAME];
        for (int i = 0; i < PAL_OPUS_FRAME; i++) {
            pcm[i] = (int16_t)lrint(8000 * sin(phase));
            phase += 2 * M_PI * 440 / PAL_OPUS_RATE;
        }
        uint8_t op[PAL_OPUS_MAX_PACKET], pkt[1500];
        int n = pal_opus_encode(aenc, pcm, op, sizeof(op));
        assert_true(n > 0);
        size_t len = make_rtp(pkt, sizeof(pkt), 111, aseq++, ats, 1111, false, op, (size_t)n);
        ats += PAL_OPUS_FRAME;
        assert_int_equal(pal_mixer_thread_push_rtp(t, id, AUDIO_IN, pkt, len, pal_now_ms()), 0);
        if (k % 3 == 0) {
            pal_image_fill_rect(&img, (struct pal_rect){0, 0, 160, 120}, (uint8_t)(60 + k % 100),
                                90, 200);
            assert_int_equal(pal_vp8_encode(venc, &img, k / 3, k == 0, send_video, &vp), 0);
            vp.ts += 5400;
        }
        pal_mixer_thread_dispatch(t);
        pal_mixer_thread_get_stats(t, &cur);
        if (prev.video_ticking && cur.video_ticking && cur.video_ticks == prev.video_ticks &&
            cur.audio_ticks > prev.audio_ticks)
            inside++;
        prev = cur;
        int64_t wait = start + (k + 1) * 20 - pal_now_ms();
        if (wait > 0)
            nanosleep(&(struct timespec){0, wait * 1000000}, NULL);
    }
    pal_mixer_thread_dispatch(t);
    struct pal_mixer_thread_stats st;
    pal_mixer_thread_get_stats(t, &st);

    int first = -1, silent = 0;
    for (int i = 0; i < l.n; i++) {
        if (first < 0 && l.energy[i] > SILENT)
            first = i;
        else if (first >= 0 && l.energy[i] <= SILENT)
            silent++;
    }
    uint64_t frames = st.mix.video_frames_encoded;
    print_message("# %d audio frames (tone from #%d, %d silent after), %d video packets; "
                  "%llu audio ticks skipped, %d audio ticks seen inside a composite tick; "
                  "composite: %llu frames, %u slowed, %llu left out\n",
                  l.n, first, silent, l.video, (unsigned long long)st.ticks_skipped, inside,
                  (unsigned long long)frames, st.video_slowed,
                  (unsigned long long)st.video_frames_dropped);
    assert_true(inside >= 5);
    assert_false(l.seq_gap);
    /* each composite frame held on the audio's loop would cost 12 ticks */
    assert_true(st.ticks_skipped * 20 * 4 < frames * c.test_composite_delay_ms);
    if (st.ticks_skipped == 0)
        assert_int_equal(l.ts_jumps, 0);
    assert_true(first >= 0);
    assert_true(l.n - first >= 50); /* at least a second of tone was heard */
    assert_int_equal(silent, 0);
    /* the composite went on, at a lower frame rate */
    assert_true(st.mix.video_frames_encoded > 0);
    assert_true(l.video > 0);
    assert_int_equal(st.video_slowed, 1);
    assert_true(st.video_frames_dropped > 0);

    pal_mixer_thread_close(t, id);
    pal_mixer_thread_destroy(t);
    pal_opus_encoder_destroy(aenc);
    pal_vp8_encoder_destroy(venc);
    pal_image_free(&img);
    pal_opus_decoder_destroy(l.dec);
}

/* A room with a camera and no microphone, mixed for a listener: the audio
 * half is idle (no encoder, no packet) and not ticked, yet the camera's
 * packets reach the composite, decoded. */
static void video_only_room_while_the_audio_is_idle(void **state)
{
    struct listener l = {0};
    assert_int_equal(pal_opus_decoder_create(&l.dec), 0);
    struct pal_mixer_thread *t;
    assert_int_equal(pal_mixer_thread_create("test-mixer", NULL, NULL, &t), 0);
    struct pal_mixer_config c;
    pal_mixer_config_default(&c);
    c.video_width = 320;
    c.video_height = 180;
    c.video_fps = 15;
    c.video_bitrate_kbps = 300;
    struct pal_mixer_listener ml = {.ctx = &l, .on_output_packet = on_packet};
    uint32_t id;
    assert_int_equal(pal_mixer_thread_open(t, "video-only", &c, &ml, &id), 0);
    assert_int_equal(pal_mixer_thread_add_input(t, id, VIDEO_IN, 1, PAL_MIXER_VIDEO), 0);
    assert_int_equal(pal_mixer_thread_add_output(t, id, AUDIO_OUT, 0, PAL_MIXER_AUDIO, 77), 0);
    assert_int_equal(pal_mixer_thread_add_output(t, id, VIDEO_OUT, 0, PAL_MIXER_VIDEO, 78), 0);
    struct pal_vp8_encoder_config vc;
    pal_vp8_encoder_config_default(&vc);
    vc.width = 160;
    vc.height = 120;
    vc.bitrate_kbps = 200;
    struct pal_vp8_encoder *venc;
    assert_int_equal(pal_vp8_encoder_create(&vc, &venc), 0);
    struct pal_image img = {0};
    assert_int_equal(pal_image_alloc(&img, 160, 120), 0);
    struct video_pub vp = {.t = t, .mixer = id};
    pal_vp8_packetizer_init(&vp.pk, 0, 1);
    int64_t start = pal_now_ms();
    for (int k = 0; k < 30; k++) { /* 2 s at 15 fps */
        pal_image_fill_rect(&img, (struct pal_rect){0, 0, 160, 120}, (uint8_t)(60 + k), 90, 200);
        assert_int_equal(pal_vp8_encode(venc, &img, k, k == 0, send_video, &vp), 0);
        vp.ts += 6000;
        pal_mixer_thread_dispatch(t);
        int64_t wait = start + (k + 1) * 66 - pal_now_ms();
        if (wait > 0)
            nanosleep(&(struct timespec){0, wait * 1000000}, NULL);
    }
    struct pal_mixer_thread_stats st;
    pal_mixer_thread_get_stats(t, &st);
    pal_mixer_thread_dispatch(t);
    print_message("# %llu frames decoded, %llu encoded, %d video packets, %d audio; %u audio idle\n",
                  (unsigned long long)st.mix.video_frames_decoded,
                  (unsigned long long)st.mix.video_frames_encoded, l.video, l.audio,
                  st.audio_idle);
    assert_true(st.mix.video_frames_decoded >= 10);
    assert_true(l.video > 0);
    assert_int_equal(l.audio, 0);
    assert_int_equal(st.audio_ticks, 0);
    assert_int_equal(st.mix.audio_encoders, 0);
    assert_int_equal(st.audio_idle, 1);
    assert_int_equal(st.mix.video_encoders, 1);
    pal_mixer_thread_close(t, id);
    pal_mixer_thread_destroy(t);
    pal_vp8_encoder_destroy(venc);
    pal_image_free(&img);
    pal_opus_decoder_destroy(l.dec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(audio_continuous_while_the_composite_is_slow),
        cmocka_unit_test(video_only_room_while_the_audio_is_idle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
