#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>

#include "mixer_test_util.h"
#include "palabre/mixer.h"
#include "palabre/mixer/audio_mixer.h"
#include "palabre/mixer/opus_codec.h"

#define TICKS 50 /* one second */
#define MAX_OUT 8

/* A publisher: a tone encoded with libopus into RTP. */
struct publisher {
    struct pal_opus_encoder *enc;
    double freq, amp, phase;
    uint16_t seq;
    uint32_t ts, ssrc;
};

static void publisher_init(struct publisher *p, double freq, double amp, uint32_t ssrc)
{
    memset(p, 0, sizeof(*p));
    struct pal_opus_encoder_config c;
    pal_opus_encoder_config_default(&c);
    c.bitrate = 48000;
    assert_int_equal(pal_opus_encoder_create(&c, &p->enc), 0);
    p->freq = freq;
    p->amp = amp;
    p->seq = 65500; /* wraps during the test */
    p->ssrc = ssrc;
}

/* Next 20 ms as an Opus payload; returns its length. */
static int publisher_frame(struct publisher *p, uint8_t *out, size_t cap)
{
    int16_t pcm[PAL_OPUS_FRAME];
    for (int i = 0; i < PAL_OPUS_FRAME; i++) {
        pcm[i] = (int16_t)lrint(p->amp * sin(p->phase));
        p->phase += 2 * M_PI * p->freq / PAL_OPUS_RATE;
    }
    int n = pal_opus_encode(p->enc, pcm, out, cap);
    assert_true(n > 0);
    return n;
}

/* Decodes what each output receives and checks its RTP headers. */
struct receiver {
    uint32_t id;
    struct pal_opus_decoder *dec;
    int16_t pcm[TICKS * PAL_OPUS_FRAME];
    size_t n;
    int packets;
    bool have_prev;
    uint16_t prev_seq;
    uint32_t prev_ts, ssrc;
};

struct room {
    struct receiver rx[MAX_OUT];
    int n_rx;
};

static void on_packet(void *ctx, uint32_t output_id, const uint8_t *rtp, size_t len)
{
    struct room *r = ctx;
    struct receiver *rx = NULL;
    for (int i = 0; i < r->n_rx; i++)
        if (r->rx[i].id == output_id)
            rx = &r->rx[i];
    assert_non_null(rx);
    struct pal_rtp_packet p;
    assert_int_equal(pal_rtp_parse(&p, (uint8_t *)rtp, len, NULL), 0);
    assert_int_equal(p.payload_type, 111);
    assert_int_equal(p.ssrc, rx->ssrc);
    if (rx->have_prev) {
        assert_int_equal((uint16_t)(rx->prev_seq + 1), p.seq);
        assert_int_equal(rx->prev_ts + PAL_OPUS_FRAME, p.timestamp);
    } else {
        assert_true(p.seq < 0x8000);
    }
    rx->have_prev = true;
    rx->prev_seq = p.seq;
    rx->prev_ts = p.timestamp;
    rx->packets++;
    if (rx->n + PAL_OPUS_FRAME <= PAL_ARRAY_LEN(rx->pcm)) {
        assert_int_equal(pal_opus_decode(rx->dec, pal_rtp_payload(&p), p.payload_len,
                                         rx->pcm + rx->n),
                         PAL_OPUS_FRAME);
        rx->n += PAL_OPUS_FRAME;
    }
}

static void room_add_rx(struct room *r, uint32_t id, uint32_t ssrc)
{
    struct receiver *rx = &r->rx[r->n_rx++];
    memset(rx, 0, sizeof(*rx));
    rx->id = id;
    rx->ssrc = ssrc;
    assert_int_equal(pal_opus_decoder_create(&rx->dec), 0);
}

static void room_free(struct room *r)
{
    for (int i = 0; i < r->n_rx; i++)
        pal_opus_decoder_destroy(r->rx[i].dec);
}

/* Power of f over the last half second (after the codecs settled). */
static double tone(const struct receiver *rx, double f)
{
    size_t half = 25 * PAL_OPUS_FRAME;
    assert_true(rx->n >= 2 * half);
    return goertzel(rx->pcm + rx->n - half, half, f, PAL_OPUS_RATE);
}

static void run(struct pal_mixer *m, struct publisher *pubs, const uint32_t *inputs, int n_pubs)
{
    for (int t = 0; t < TICKS; t++) {
        for (int i = 0; i < n_pubs; i++) {
            uint8_t payload[PAL_OPUS_MAX_PACKET], pkt[1500];
            int n = publisher_frame(&pubs[i], payload, sizeof(payload));
            size_t len = make_rtp(pkt, sizeof(pkt), 111, pubs[i].seq++, pubs[i].ts,
                                  pubs[i].ssrc, false, payload, (size_t)n);
            pubs[i].ts += PAL_OPUS_FRAME;
            assert_int_equal(pal_mixer_push_rtp(m, inputs[i], pkt, len, t * 20), 0);
        }
        pal_mixer_tick_audio(m, t * 20 + 5);
    }
}

static struct pal_mixer *new_mixer(struct room *r)
{
    struct pal_mixer_config c;
    pal_mixer_config_default(&c);
    struct pal_mixer_listener l = {.ctx = r, .on_output_packet = on_packet};
    struct pal_mixer *m = NULL;
    assert_int_equal(pal_mixer_create(&c, &l, &m), 0);
    return m;
}

static void each_hears_the_others_not_itself(void **state)
{
    struct room r = {0};
    struct pal_mixer *m = new_mixer(&r);
    const double f[3] = {440, 660, 880};
    struct publisher pubs[3];
    const uint32_t inputs[3] = {11, 12, 13};
    for (int i = 0; i < 3; i++) {
        publisher_init(&pubs[i], f[i], 6000, 1000 + i);
        assert_int_equal(pal_mixer_add_input(m, inputs[i], 1 + i, PAL_MIXER_AUDIO), 0);
        assert_int_equal(pal_mixer_add_output(m, 21 + i, 1 + i, PAL_MIXER_AUDIO, 2000 + i), 0);
        room_add_rx(&r, 21 + i, 2000 + i);
    }
    /* A listener who publishes nothing, and one who publishes silence. */
    assert_int_equal(pal_mixer_add_output(m, 24, 0, PAL_MIXER_AUDIO, 2003), 0);
    room_add_rx(&r, 24, 2003);
    assert_int_equal(pal_mixer_add_output(m, 25, 9, PAL_MIXER_AUDIO, 2004), 0);
    room_add_rx(&r, 25, 2004);
    assert_int_equal(pal_mixer_add_output(m, 24, 0, PAL_MIXER_AUDIO, 1), -EEXIST);
    assert_int_equal(pal_mixer_add_input(m, 11, 1, PAL_MIXER_AUDIO), -EEXIST);
    run(m, pubs, inputs, 3);

    for (int o = 0; o < 3; o++) {
        double own = tone(&r.rx[o], f[o]);
        for (int i = 0; i < 3; i++) {
            if (i == o)
                continue;
            double other = tone(&r.rx[o], f[i]);
            /* the others' tones are there, at least 20 dB above its own */
            assert_true(other > 1e5);
            assert_true(other > 100.0 * own);
        }
    }
    for (int o = 3; o < 5; o++)
        for (int i = 0; i < 3; i++)
            assert_true(tone(&r.rx[o], f[i]) > 1e5);
    for (int o = 0; o < 5; o++)
        assert_true(r.rx[o].packets >= TICKS - 3);

    for (int i = 0; i < 3; i++)
        pal_opus_encoder_destroy(pubs[i].enc);
    pal_mixer_destroy(m);
    room_free(&r);
}

static void loud_inputs_never_wrap(void **state)
{
    struct room r = {0};
    struct pal_mixer *m = new_mixer(&r);
    struct publisher pubs[3];
    const uint32_t inputs[3] = {11, 12, 13};
    for (int i = 0; i < 3; i++) { /* three in-phase near-full-scale 440 Hz tones */
        publisher_init(&pubs[i], 440, 28000, 1000 + i);
        pal_mixer_add_input(m, inputs[i], 1 + i, PAL_MIXER_AUDIO);
    }
    pal_mixer_add_output(m, 24, 0, PAL_MIXER_AUDIO, 2003);
    room_add_rx(&r, 24, 2003);
    run(m, pubs, inputs, 3);
    const struct receiver *rx = &r.rx[0];
    size_t half = 25 * PAL_OPUS_FRAME;
    const int16_t *x = rx->pcm + rx->n - half;
    /* Wrapped int16 sums would spread energy far from 440 Hz: the tone must
     * hold nearly all of it, and be loud (limited, not muted). */
    double e = energy(x, half), t = 2.0 * goertzel(x, half, 440, PAL_OPUS_RATE);
    assert_true(e > 1e8);
    assert_true(t / e > 0.9);
    /* Sign flips: between two zero crossings of a 440 Hz tone (~54 samples)
     * the signal keeps its sign; a wrap would flip it mid-lobe. */
    int crossings = 0;
    for (size_t i = 1; i < half; i++)
        crossings += (x[i - 1] < 0) != (x[i] < 0);
    assert_true(crossings <= (int)(half * 2 * 440 / PAL_OPUS_RATE) + 4);

    for (int i = 0; i < 3; i++)
        pal_opus_encoder_destroy(pubs[i].enc);
    pal_mixer_destroy(m);
    room_free(&r);
}

/* Direct audio mixer API: shared encode count, FEC on loss, bad packets. */
static void count_packet(void *ctx, uint32_t id, const uint8_t *rtp, size_t len)
{
    (*(int *)ctx)++;
}

static void shared_encode_and_fec(void **state)
{
    int packets = 0;
    struct pal_audio_mixer_config c = {.payload_type = 111, .jitter_min_ms = 20,
                                       .jitter_max_ms = 40};
    pal_opus_encoder_config_default(&c.opus);
    struct pal_audio_mixer_listener l = {&packets, count_packet};
    struct pal_audio_mixer *am = NULL;
    assert_int_equal(pal_audio_mixer_create(&c, &l, &am), 0);
    struct publisher pubs[2];
    publisher_init(&pubs[0], 440, 8000, 1);
    publisher_init(&pubs[1], 660, 8000, 2);
    pubs[0].seq = pubs[1].seq = 10;
    pal_audio_mixer_add_input(am, 1, 1);
    pal_audio_mixer_add_input(am, 2, 2);
    pal_audio_mixer_add_output(am, 1, 1, 111);
    pal_audio_mixer_add_output(am, 2, 2, 222);
    for (uint32_t o = 3; o < 100; o++) /* 97 listeners */
        pal_audio_mixer_add_output(am, o, 0, o);
    for (int t = 0; t < TICKS; t++) {
        for (int i = 0; i < 2; i++) {
            uint8_t payload[PAL_OPUS_MAX_PACKET];
            int n = publisher_frame(&pubs[i], payload, sizeof(payload));
            uint16_t seq = pubs[i].seq++;
            if (i == 0 && t % 10 == 5)
                continue; /* lost: FEC from the next packet */
            assert_int_equal(pal_audio_mixer_push(am, (uint32_t)i + 1, seq, 0, payload,
                                                  (size_t)n, t * 20),
                             0);
        }
        assert_int_equal(pal_audio_mixer_tick(am, t * 20 + 5), 99);
    }
    struct pal_audio_mixer_stats st;
    pal_audio_mixer_get_stats(am, &st);
    /* Per tick: two N-1 encodes and one shared encode, for 99 outputs. */
    assert_true(st.encodes <= 3 * TICKS);
    assert_true(st.encodes >= 3 * (TICKS - 5));
    assert_int_equal(packets, 99 * TICKS);
    assert_true(st.fec_used >= 3);
    /* Bad input: unknown input, corrupt payload. */
    uint8_t junk[3] = {0xFF, 0xFF, 0xFF};
    assert_int_equal(pal_audio_mixer_push(am, 77, 1, 0, junk, 3, 0), -ENOENT);
    assert_int_equal(pal_audio_mixer_push(am, 1, pubs[0].seq++, 0, junk, 3, 1000), 0);
    assert_int_equal(pal_audio_mixer_tick(am, 1005), 99);
    assert_int_equal(pal_audio_mixer_remove_output(am, 50), 0);
    assert_int_equal(pal_audio_mixer_remove_output(am, 50), -ENOENT);
    assert_int_equal(pal_audio_mixer_remove_input(am, 2), 0);
    assert_int_equal(pal_audio_mixer_tick(am, 1025), 98);
    for (int i = 0; i < 2; i++)
        pal_opus_encoder_destroy(pubs[i].enc);
    pal_audio_mixer_destroy(am);
}

static void quiet_inputs_with_audio_level_are_not_decoded(void **state)
{
    struct room r = {0};
    struct pal_mixer *m = new_mixer(&r);
    assert_int_equal(pal_mixer_set_audio_level_ext(m, 1), 0);
    assert_int_equal(pal_mixer_set_audio_level_ext(m, 256), -EINVAL);
    struct publisher pubs[2];
    publisher_init(&pubs[0], 440, 6000, 1);
    publisher_init(&pubs[1], 880, 20, 2); /* an open microphone in a quiet room */
    pal_mixer_add_input(m, 1, 1, PAL_MIXER_AUDIO);
    pal_mixer_add_input(m, 2, 2, PAL_MIXER_AUDIO);
    pal_mixer_add_output(m, 24, 0, PAL_MIXER_AUDIO, 2003);
    room_add_rx(&r, 24, 2003);
    for (int t = 0; t < 2 * TICKS; t++) {
        if (t == TICKS) { /* the quiet one starts to speak */
            pubs[1].amp = 6000;
            r.rx[0].n = 0;
        }
        for (int i = 0; i < 2; i++) {
            uint8_t payload[PAL_OPUS_MAX_PACKET], pkt[1500];
            int n = publisher_frame(&pubs[i], payload, sizeof(payload));
            uint8_t level = pubs[i].amp > 1000 ? 10 : 100;
            size_t len = make_rtp_level(pkt, sizeof(pkt), pubs[i].seq++, pubs[i].ts,
                                        pubs[i].ssrc, level, payload, (size_t)n);
            pubs[i].ts += PAL_OPUS_FRAME;
            assert_int_equal(pal_mixer_push_rtp(m, (uint32_t)i + 1, pkt, len, t * 20), 0);
        }
        pal_mixer_tick_audio(m, t * 20 + 5);
        if (t == TICKS - 1) {
            struct pal_mixer_stats st;
            pal_mixer_get_stats(m, &st);
            assert_true(st.audio_skipped_quiet >= TICKS - 2); /* input 2 never decoded */
            assert_true(st.audio_decoded <= TICKS + 2);
        }
    }
    /* Once it speaks, it is decoded again and heard. */
    assert_true(tone(&r.rx[0], 880) > 1e5);
    assert_true(tone(&r.rx[0], 440) > 1e5);
    for (int i = 0; i < 2; i++)
        pal_opus_encoder_destroy(pubs[i].enc);
    pal_mixer_destroy(m);
    room_free(&r);
}

static void bad_rtp_and_lifecycle(void **state)
{
    struct room r = {0};
    struct pal_mixer *m = new_mixer(&r);
    uint8_t junk[4] = {0x80, 0, 0, 0};
    assert_int_equal(pal_mixer_push_rtp(m, 5, junk, sizeof(junk), 0), -ENOENT);
    assert_int_equal(pal_mixer_add_input(m, 5, 1, PAL_MIXER_AUDIO), 0);
    assert_int_equal(pal_mixer_push_rtp(m, 5, junk, sizeof(junk), 0), -EINVAL);
    assert_int_equal(pal_mixer_push_rtp(m, 5, NULL, 0, 0), -EINVAL);
    assert_int_equal(pal_mixer_output_count(m), 0);
    assert_int_equal(pal_mixer_add_output(m, 6, 1, PAL_MIXER_AUDIO, 1), 0);
    assert_int_equal(pal_mixer_add_output(m, 7, 1, PAL_MIXER_VIDEO, 2), 0);
    assert_int_equal(pal_mixer_output_count(m), 2);
    assert_int_equal(pal_mixer_request_keyframe(m, 6), -ENOENT);
    assert_int_equal(pal_mixer_request_keyframe(m, 7), 0);
    assert_int_equal(pal_mixer_remove_output(m, 6), 0);
    assert_int_equal(pal_mixer_remove_output(m, 7), 0);
    assert_int_equal(pal_mixer_remove_output(m, 7), -ENOENT);
    assert_int_equal(pal_mixer_remove_input(m, 5), 0);
    assert_int_equal(pal_mixer_remove_input(m, 5), -ENOENT);
    assert_int_equal(pal_mixer_output_count(m), 0);
    pal_mixer_destroy(m);
    struct pal_mixer_config c;
    pal_mixer_config_default(&c);
    c.jitter_max_ms = 10;
    struct pal_mixer_listener l = {.on_output_packet = on_packet};
    assert_int_equal(pal_mixer_create(&c, &l, &m), -EINVAL);
    pal_mixer_config_default(&c);
    c.video_width = 1281;
    assert_int_equal(pal_mixer_create(&c, &l, &m), -EINVAL);
}

struct last_packet {
    int packets;
    uint16_t seq;
    uint32_t ts;
};

static void record_packet(void *ctx, uint32_t id, const uint8_t *rtp, size_t len)
{
    struct last_packet *lp = ctx;
    struct pal_rtp_packet p;
    assert_int_equal(pal_rtp_parse(&p, (uint8_t *)rtp, len, NULL), 0);
    lp->packets++;
    lp->seq = p.seq;
    lp->ts = p.timestamp;
}

/* A mixed listener in a room where nobody publishes audio: no encoder, no
 * packet; once someone publishes, packets come with the sequence numbers
 * continuing and the timestamps having kept time across the idle spell
 * (ticked or left out). */
static void no_audio_input_no_encoder(void **state)
{
    struct pal_mixer_config c;
    pal_mixer_config_default(&c);
    struct last_packet lp = {0};
    struct pal_mixer_listener l = {.ctx = &lp, .on_output_packet = record_packet};
    struct pal_mixer *m;
    assert_int_equal(pal_mixer_create(&c, &l, &m), 0);
    assert_int_equal(pal_mixer_add_output(m, 1, 0, PAL_MIXER_AUDIO, 42), 0);
    struct pal_mixer_stats st;
    for (int i = 0; i < TICKS; i++)
        assert_int_equal(pal_mixer_tick_audio(m, i * 20), 0);
    pal_mixer_get_stats(m, &st);
    assert_int_equal(st.audio_encoders, 0);
    assert_int_equal(st.audio_encodes, 0);
    assert_int_equal(lp.packets, 0);
    assert_false(pal_mixer_busy(m, PAL_MIXER_AUDIO));

    /* A publisher (silent so far): the mix is encoded for the listener. */
    assert_int_equal(pal_mixer_add_input(m, 10, 5, PAL_MIXER_AUDIO), 0);
    assert_true(pal_mixer_busy(m, PAL_MIXER_AUDIO));
    for (int i = 0; i < 3; i++)
        assert_int_equal(pal_mixer_tick_audio(m, 1000 + i * 20), 1);
    pal_mixer_get_stats(m, &st);
    assert_int_equal(st.audio_encoders, 1);
    assert_int_equal(lp.packets, 3);
    uint16_t seq = lp.seq;
    uint32_t ts = lp.ts;

    /* It leaves: the encoder goes, 10 ticks and 40 left-out ticks later
     * another arrives. */
    assert_int_equal(pal_mixer_remove_input(m, 10), 0);
    assert_false(pal_mixer_busy(m, PAL_MIXER_AUDIO));
    pal_mixer_get_stats(m, &st);
    assert_int_equal(st.audio_encoders, 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(pal_mixer_tick_audio(m, 1060 + i * 20), 0);
    pal_mixer_skip_audio(m, 40);
    assert_int_equal(lp.packets, 3);
    assert_int_equal(pal_mixer_add_input(m, 11, 6, PAL_MIXER_AUDIO), 0);
    assert_int_equal(pal_mixer_tick_audio(m, 2060), 1);
    assert_int_equal(lp.packets, 4);
    assert_int_equal(lp.seq, (uint16_t)(seq + 1));
    assert_int_equal(lp.ts, ts + (1 + 10 + 40) * PAL_OPUS_FRAME);
    pal_mixer_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_hears_the_others_not_itself),
        cmocka_unit_test(loud_inputs_never_wrap),
        cmocka_unit_test(shared_encode_and_fec),
        cmocka_unit_test(quiet_inputs_with_audio_level_are_not_decoded),
        cmocka_unit_test(bad_rtp_and_lifecycle),
        cmocka_unit_test(no_audio_input_no_encoder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
