#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "palabre/mixer/jitter.h"

static struct pal_jitter *audio_jb(uint32_t min_ms, uint32_t max_ms)
{
    struct pal_jitter_config c = {
        .clock_rate = 48000, .frame_ms = 20, .min_delay_ms = min_ms, .max_delay_ms = max_ms,
        .capacity = 32};
    struct pal_jitter *jb = NULL;
    assert_int_equal(pal_jitter_create(&c, &jb), 0);
    return jb;
}

/* Payload = the 16-bit sequence number, so pops can be checked. */
static int push(struct pal_jitter *jb, uint16_t seq, int64_t at)
{
    uint8_t b[2] = {(uint8_t)(seq >> 8), (uint8_t)seq};
    return pal_jitter_push(jb, seq, (uint32_t)seq * 960u, false, b, 2, at);
}

static int pop_seq(struct pal_jitter *jb, int *seq)
{
    struct pal_jitter_packet p;
    int r = pal_jitter_pop_frame(jb, &p);
    *seq = p.payload ? (p.payload[0] << 8 | p.payload[1]) : -1;
    return r;
}

static void expect_frame(struct pal_jitter *jb, int seq)
{
    int s;
    assert_int_equal(pop_seq(jb, &s), PAL_JITTER_FRAME);
    assert_int_equal(s, seq);
}

static void in_order(void **state)
{
    struct pal_jitter *jb = audio_jb(20, 40);
    int s;
    assert_int_equal(pop_seq(jb, &s), PAL_JITTER_EMPTY);
    for (int i = 0; i < 3; i++)
        assert_int_equal(push(jb, (uint16_t)(100 + i), i * 20), 0);
    for (int i = 0; i < 3; i++)
        expect_frame(jb, 100 + i);
    /* Underrun: concealment for a few frames, then idle. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(pop_seq(jb, &s), PAL_JITTER_LOST);
    assert_int_equal(pop_seq(jb, &s), PAL_JITTER_EMPTY);
    assert_int_equal(pop_seq(jb, &s), PAL_JITTER_EMPTY);
    /* A new talk spurt starts from its first packet. */
    /* Losses deepen the target by one frame: 40 ms are buffered first. */
    assert_int_equal(push(jb, 200, (200 - 100) * 20), 0);
    assert_int_equal(pop_seq(jb, &s), PAL_JITTER_EMPTY);
    assert_int_equal(push(jb, 201, (201 - 100) * 20), 0);
    expect_frame(jb, 200);
    expect_frame(jb, 201);
    pal_jitter_destroy(jb);
}

static void reordered_and_duplicated(void **state)
{
    struct pal_jitter *jb = audio_jb(20, 40);
    assert_int_equal(push(jb, 11, 0), 0);
    assert_int_equal(push(jb, 10, 1), 0); /* earlier one arrives second */
    assert_int_equal(push(jb, 10, 2), -EALREADY);
    expect_frame(jb, 10);
    assert_int_equal(push(jb, 12, 20), 0);
    assert_int_equal(push(jb, 11, 21), -EALREADY);
    expect_frame(jb, 11);
    assert_int_equal(push(jb, 14, 40), 0);
    assert_int_equal(push(jb, 13, 41), 0); /* swapped while playing */
    expect_frame(jb, 12);
    expect_frame(jb, 13);
    expect_frame(jb, 14);
    struct pal_jitter_stats st;
    pal_jitter_get_stats(jb, &st);
    assert_int_equal(st.duplicates, 2);
    assert_int_equal(st.received, 5);
    pal_jitter_destroy(jb);
}

static void loss_gives_fec_packet_then_late_is_refused(void **state)
{
    struct pal_jitter *jb = audio_jb(20, 60);
    push(jb, 1, 0);
    expect_frame(jb, 1);
    push(jb, 2, 20);
    expect_frame(jb, 2);
    push(jb, 4, 80); /* 3 is lost */
    int s;
    assert_int_equal(pop_seq(jb, &s), PAL_JITTER_LOST);
    assert_int_equal(s, 4); /* the next packet, for Opus FEC */
    /* The loss raised the target to 40 ms: one stretch frame deepens it. */
    assert_int_equal(pop_seq(jb, &s), PAL_JITTER_LOST);
    assert_int_equal(s, -1);
    expect_frame(jb, 4);   /* and it is still played */
    assert_int_equal(push(jb, 3, 100), -ESTALE);
    push(jb, 5, 100);
    expect_frame(jb, 5);
    struct pal_jitter_stats st;
    pal_jitter_get_stats(jb, &st);
    assert_int_equal(st.lost, 1);
    assert_int_equal(st.late, 1);
    assert_int_equal(st.stretched, 1);
    assert_int_equal(st.target_ms, 40);
    pal_jitter_destroy(jb);
}

static void sequence_wrap(void **state)
{
    struct pal_jitter *jb = audio_jb(20, 60);
    push(jb, 65534, 0);
    push(jb, 0, 1); /* reordered across the wrap */
    push(jb, 65535, 2);
    expect_frame(jb, 65534);
    push(jb, 1, 20);
    expect_frame(jb, 65535);
    expect_frame(jb, 0);
    expect_frame(jb, 1);
    assert_int_equal(push(jb, 65535, 4), -ESTALE);
    struct pal_jitter_stats st;
    pal_jitter_get_stats(jb, &st);
    assert_int_equal(st.lost, 0);
    pal_jitter_destroy(jb);
}

static void depth_is_bounded(void **state)
{
    struct pal_jitter *jb = audio_jb(20, 40);
    for (int i = 0; i < 20; i++) /* a burst: 400 ms of audio at once */
        push(jb, (uint16_t)(500 + i), 0);
    int s;
    assert_int_equal(pop_seq(jb, &s), PAL_JITTER_FRAME);
    assert_true(s >= 517); /* old frames dropped: at most ~40 ms kept */
    struct pal_jitter_stats st;
    pal_jitter_get_stats(jb, &st);
    assert_true(st.overflow_dropped >= 17);
    pal_jitter_destroy(jb);
}

static void target_adapts_to_jitter(void **state)
{
    struct pal_jitter *jb = audio_jb(20, 60);
    struct pal_jitter_stats st;
    for (int i = 0; i < 50; i++)
        push(jb, (uint16_t)i, i * 20);
    pal_jitter_get_stats(jb, &st);
    assert_int_equal(st.target_ms, 20);
    pal_jitter_destroy(jb);
    jb = audio_jb(20, 60);
    for (int i = 0; i < 50; i++) /* arrivals alternate 0 / +30 ms late */
        push(jb, (uint16_t)i, i * 20 + (i % 2) * 30);
    pal_jitter_get_stats(jb, &st);
    assert_true(st.jitter_ms > 10.0);
    assert_int_equal(st.target_ms, 60);
    pal_jitter_destroy(jb);
}

static void restart_jump_followed(void **state)
{
    struct pal_jitter *jb = audio_jb(20, 40);
    push(jb, 100, 0);
    expect_frame(jb, 100);
    assert_int_equal(push(jb, 20000, 20), 0); /* far ahead: follow it */
    expect_frame(jb, 20000);
    /* Far behind (looks older): refused a few times, then followed. */
    int rc = 0;
    for (int i = 0; i < 8; i++)
        rc = push(jb, (uint16_t)(60000 + i), 40 + i);
    assert_int_equal(rc, 0);
    expect_frame(jb, 60007);
    pal_jitter_destroy(jb);
}

static void video_gap_waits_then_skips(void **state)
{
    struct pal_jitter_config c = {.clock_rate = 90000, .max_delay_ms = 40, .capacity = 64};
    struct pal_jitter *jb = NULL;
    assert_int_equal(pal_jitter_create(&c, &jb), 0);
    uint8_t b[1] = {0};
    struct pal_jitter_packet p;
    uint32_t lost;
    pal_jitter_push(jb, 7, 0, false, b, 1, 0);
    pal_jitter_push(jb, 9, 0, true, b, 1, 0);
    assert_int_equal(pal_jitter_pop_packet(jb, 0, &p, &lost), PAL_JITTER_FRAME);
    assert_int_equal(p.seq & 0xFFFF, 7);
    assert_int_equal(pal_jitter_pop_packet(jb, 10, &p, &lost), PAL_JITTER_EMPTY); /* waits */
    pal_jitter_push(jb, 8, 0, false, b, 1, 12);
    assert_int_equal(pal_jitter_pop_packet(jb, 12, &p, &lost), PAL_JITTER_FRAME);
    assert_int_equal(p.seq & 0xFFFF, 8);
    assert_int_equal(pal_jitter_pop_packet(jb, 12, &p, &lost), PAL_JITTER_FRAME);
    assert_int_equal(p.seq & 0xFFFF, 9);
    assert_true(p.marker);
    pal_jitter_push(jb, 12, 0, false, b, 1, 100);
    assert_int_equal(pal_jitter_pop_packet(jb, 120, &p, &lost), PAL_JITTER_EMPTY);
    assert_int_equal(pal_jitter_pop_packet(jb, 140, &p, &lost), PAL_JITTER_FRAME);
    assert_int_equal(lost, 2);
    assert_int_equal(p.seq & 0xFFFF, 12);
    pal_jitter_destroy(jb);
}

static void bad_config_and_oversize(void **state)
{
    struct pal_jitter *jb = NULL;
    struct pal_jitter_config c = {.clock_rate = 48000, .frame_ms = 20, .min_delay_ms = 20,
                                  .max_delay_ms = 40, .capacity = 30};
    assert_int_equal(pal_jitter_create(&c, &jb), -EINVAL); /* not a power of two */
    c.capacity = 32;
    c.min_delay_ms = 10;
    assert_int_equal(pal_jitter_create(&c, &jb), -EINVAL);
    jb = audio_jb(20, 40);
    static uint8_t big[PAL_JITTER_MAX_PAYLOAD + 1];
    assert_int_equal(pal_jitter_push(jb, 1, 0, false, big, sizeof(big), 0), -EMSGSIZE);
    int s;
    assert_int_equal(pop_seq(jb, &s), PAL_JITTER_EMPTY);
    pal_jitter_destroy(jb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(in_order),
        cmocka_unit_test(reordered_and_duplicated),
        cmocka_unit_test(loss_gives_fec_packet_then_late_is_refused),
        cmocka_unit_test(sequence_wrap),
        cmocka_unit_test(depth_is_bounded),
        cmocka_unit_test(target_adapts_to_jitter),
        cmocka_unit_test(restart_jump_followed),
        cmocka_unit_test(video_gap_waits_then_skips),
        cmocka_unit_test(bad_config_and_oversize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
