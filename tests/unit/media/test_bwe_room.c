/* The bandwidth estimate choosing a subscriber's simulcast layer, through
 * the room (palabre/room.h): the publisher sends q, h and f (of growing
 * sizes), the subscriber's transport-cc feedback says what arrived. Half of
 * the packets lost: the layer goes down to one the estimate covers and the
 * subscriber is told (on_room_track_quality, limited); everything arriving
 * again: the full layer comes back (probing) and the limit is lifted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/consumer.h"
#include "palabre/room.h"
#include "palabre/rtp.h"
#include "palabre/twcc.h"

#define EXT_TWCC_PUB 3
#define EXT_TWCC_SUB 5
#define EXT_RID 10
#define SUB_SSRC 0x5555

static const uint32_t SSRC[2][3] = {{0xA0, 0xB0, 0xC0}, {0xD0, 0xE0, 0xF0}};
#define SUB_SSRC_SCREEN 0x6666
static const char *const RID[3] = {"q", "h", "f"};
static const size_t PAYLOAD[3] = {100, 400, 1100}; /* one packet per frame, 50 frames/s */

struct world {
    struct pal_room *room;
    struct pal_room_peer *alice, *bob, *carol;
    struct pal_twcc *rx;  /* bob's browser: its transport-cc feedback */
    bool screen;          /* carol shares her screen too */
    uint16_t seq[2][3], pic[2][3];
    uint32_t ts[2][3];
    uint16_t pub_tw;
    int64_t now_ms;
    int loss_every; /* bob's link drops one packet in loss_every (0: none) */
    uint32_t cap_bps; /* bob's link drops what exceeds this rate (0: no limit) */
    double tokens;    /* bytes it may pass now (100 ms of burst at most) */
    int64_t tokens_ms;
    unsigned sent_to_bob, by_layer[3];
    int last_layer; /* of the last packet bob got of alice's camera (by size) */
    int last_screen_layer; /* of carol's screen */
    int64_t last_cam_ms, last_screen_ms; /* when bob last got each */
    int64_t cam_rx_ms, cam_gap_ms; /* the camera through bob's link: last, longest gap */
    unsigned padding; /* padding-only packets bob got */
    /* on_room_track_quality */
    int told, told_layer;
    bool told_limited;
};

static int sink_rtp(void *ctx, const uint8_t *hdr, size_t hdr_len, const uint8_t *body,
                    size_t body_len)
{
    struct world *w = ctx;
    uint8_t buf[1600];
    assert_true(hdr_len + body_len <= sizeof(buf));
    memcpy(buf, hdr, hdr_len);
    memcpy(buf + hdr_len, body, body_len);
    struct pal_rtp_packet p;
    assert_int_equal(pal_rtp_parse(&p, buf, hdr_len + body_len, NULL), 0);
    size_t el;
    const uint8_t *tw = pal_rtp_ext_find(&p, EXT_TWCC_SUB, &el);
    assert_non_null(tw);
    w->sent_to_bob++;
    for (int l = 0; l < 3; l++) {
        if (p.payload_len != PAYLOAD[l])
            continue;
        if (p.ssrc == SUB_SSRC_SCREEN)
            w->last_screen_layer = l, w->last_screen_ms = w->now_ms;
        else
            w->last_layer = l, w->by_layer[l]++, w->last_cam_ms = w->now_ms;
    }
    bool lost = w->loss_every && w->sent_to_bob % (unsigned)w->loss_every == 0;
    if (w->cap_bps) {
        w->tokens += (double)(w->now_ms - w->tokens_ms) * w->cap_bps / 8000;
        w->tokens_ms = w->now_ms;
        if (w->tokens > w->cap_bps / 80.0)
            w->tokens = w->cap_bps / 80.0;
        lost = lost || w->tokens < (double)(hdr_len + body_len);
        if (!lost)
            w->tokens -= (double)(hdr_len + body_len);
    }
    if (!lost && p.padding && p.payload_len == 0)
        w->padding++;
    if (!lost && p.ssrc == SUB_SSRC && p.payload_len > 0) {
        if (w->cam_rx_ms && w->now_ms - w->cam_rx_ms > w->cam_gap_ms)
            w->cam_gap_ms = w->now_ms - w->cam_rx_ms;
        w->cam_rx_ms = w->now_ms;
    }
    if (!lost)
        pal_twcc_on_packet(w->rx, pal_rd16(tw), w->now_ms * 1000 + 20000);
    return 0;
}

static int sink_rtcp(void *ctx, uint8_t *buf, size_t len, size_t cap)
{
    (void)ctx, (void)buf, (void)len, (void)cap;
    return 0;
}

static void on_quality(void *ctx, const char *room, const char *subscriber, const char *producer,
                       const char *mid, int layer, bool limited)
{
    struct world *w = ctx;
    assert_string_equal(room, "bw");
    assert_string_equal(subscriber, "bob");
    assert_string_equal(mid, "1");
    if (strcmp(producer, "alice"))
        return; /* carol's screen */
    w->told++;
    w->told_layer = layer;
    w->told_limited = limited;
}

static void feed(struct world *w, int pr, int l, bool keyframe)
{
    struct pal_rtp_header h = {.payload_type = 96, .seq = w->seq[pr][l], .timestamp = w->ts[pr][l],
                               .ssrc = SSRC[pr][l], .marker = true, .n_ext = 2};
    h.ext[0].id = EXT_RID;
    h.ext[0].len = 1;
    h.ext[0].data[0] = (uint8_t)RID[l][0];
    h.ext[1].id = EXT_TWCC_PUB;
    h.ext[1].len = 2;
    pal_wr16(h.ext[1].data, w->pub_tw++);
    uint8_t p[1100] = {0};
    p[0] = 0x90, p[1] = 0x80; /* X, S=1; I */
    p[2] = (uint8_t)(0x80 | (w->pic[pr][l] >> 8)), p[3] = (uint8_t)w->pic[pr][l];
    p[4] = keyframe ? 0x00 : 0x01;
    p[7] = 0x9d, p[8] = 0x01, p[9] = 0x2a;
    uint16_t wd = (uint16_t)(320 << l), ht = (uint16_t)(180 << l);
    p[10] = (uint8_t)wd, p[11] = (uint8_t)(wd >> 8), p[12] = (uint8_t)ht, p[13] = (uint8_t)(ht >> 8);
    uint8_t buf[1300];
    size_t len;
    assert_int_equal(pal_rtp_write(&h, p, PAYLOAD[l], buf, sizeof(buf), &len), 0);
    struct pal_rtp_packet hdr;
    assert_int_equal(pal_rtp_parse(&hdr, buf, len, NULL), 0);
    struct pal_room_peer *from = pr ? w->carol : w->alice;
    assert_non_null(pal_room_peer_accept_rtp(from, &hdr));
    pal_room_on_rtp(w->room, from, buf, len, w->now_ms);
    w->seq[pr][l]++;
    w->ts[pr][l] += 1800;
    w->pic[pr][l] = (uint16_t)((w->pic[pr][l] + 1) & 0x7fff);
}

/* ms of media at 50 frames/s (a keyframe of every layer each second), bob's
 * feedback every 100 ms, the room's tick every 20 ms. */
static void run(struct world *w, int64_t ms)
{
    for (int64_t end = w->now_ms + ms; w->now_ms < end; w->now_ms += 20) {
        for (int pr = 0; pr < (w->screen ? 2 : 1); pr++)
            for (int l = 0; l < 3; l++)
                feed(w, pr, l, w->now_ms % 1000 == 0);
        pal_room_tick(w->room, w->now_ms);
        if (w->now_ms % 100 == 0) {
            uint8_t fb[1500];
            size_t fl;
            if (pal_twcc_build(w->rx, fb, sizeof(fb), &fl) == 0)
                pal_room_on_rtcp(w->room, w->bob, PAL_MEDIA_PC_SUBSCRIBE, fb, fl, w->now_ms);
        }
    }
}

static void publish(struct world *w, struct pal_room_peer *p, const char *track_id)
{
    struct pal_media_track v = {.kind = PAL_MEDIA_VIDEO, .payload_type = 96, .clock_rate = 90000,
                                .ext_rid = EXT_RID, .ext_twcc = EXT_TWCC_PUB, .n_layers = 3};
    strcpy(v.mid, "1");
    strcpy(v.track_id, track_id);
    for (int i = 0; i < 3; i++)
        strcpy(v.rids[i], RID[i]);
    assert_int_equal(pal_room_producer_add(w->room, p, &v, 0), 0);
}

static struct world *world_create(bool screen)
{
    struct world *w = calloc(1, sizeof(*w));
    struct pal_room_listener l = {.ctx = w, .on_room_track_quality = on_quality};
    assert_int_equal(pal_room_create("bw", &l, &w->room), 0);
    pal_room_peer_add(w->room, "alice", &w->alice);
    pal_room_peer_add(w->room, "bob", &w->bob);
    pal_room_peer_add(w->room, "carol", &w->carol);
    struct pal_media_sink sink = {.ctx = w, .send_rtp = sink_rtp, .send_rtcp = sink_rtcp};
    pal_room_set_sink(w->alice, PAL_MEDIA_PC_PUBLISH, &sink);
    pal_room_set_sink(w->carol, PAL_MEDIA_PC_PUBLISH, &sink);
    pal_room_set_sink(w->bob, PAL_MEDIA_PC_SUBSCRIBE, &sink);
    pal_room_sink_ready(w->room, w->alice, PAL_MEDIA_PC_PUBLISH, 0);
    pal_room_sink_ready(w->room, w->carol, PAL_MEDIA_PC_PUBLISH, 0);
    publish(w, w->alice, "camera-a");
    struct pal_media_track s = {.kind = PAL_MEDIA_VIDEO, .payload_type = 100, .clock_rate = 90000,
                                .ssrc = SUB_SSRC, .ext_twcc = EXT_TWCC_SUB};
    strcpy(s.mid, "v0");
    assert_int_equal(pal_room_consumer_add(w->room, w->bob, "alice", "1", &s, 0), 0);
    if (screen) {
        w->screen = true;
        publish(w, w->carol, "screen-c");
        s.ssrc = SUB_SSRC_SCREEN;
        strcpy(s.mid, "v1");
        assert_int_equal(pal_room_consumer_add(w->room, w->bob, "carol", "1", &s, 0), 0);
    }
    pal_room_sink_ready(w->room, w->bob, PAL_MEDIA_PC_SUBSCRIBE, 0);
    assert_int_equal(pal_twcc_create(1, SUB_SSRC, &w->rx), 0);
    w->now_ms = 1000;
    return w;
}

static void world_destroy(struct world *w)
{
    pal_twcc_destroy(w->rx);
    pal_room_destroy(w->room);
    free(w);
}

static void test_loss_lowers_then_recovery_restores(void **state)
{
    (void)state;
    struct world *w = world_create(false);

    /* a clean link: the full layer, nothing told (the view decides) */
    run(w, 6000);
    assert_int_equal(w->last_layer, 2);
    assert_int_equal(w->told, 0);
    struct pal_room_stats st;
    pal_room_get_stats(w->room, &st);
    assert_int_equal(st.bwe_subscribers, 1);

    /* half of what bob gets is lost: down to a layer the estimate covers,
     * told as limited by bandwidth */
    w->loss_every = 2;
    run(w, 6000);
    assert_true(w->told >= 1);
    assert_true(w->told_limited);
    assert_true(w->told_layer < 2);
    assert_true(w->last_layer < 2 || w->told_layer < 0);
    pal_room_get_stats(w->room, &st);
    assert_true(st.layer_switches_bw >= 1);

    /* the link heals: probes find it, the full layer is back, the limit
     * lifted and told */
    w->loss_every = 0;
    run(w, 30000);
    assert_int_equal(w->last_layer, 2);
    assert_false(w->told_limited);
    assert_int_equal(w->told_layer, 2);
    pal_room_get_stats(w->room, &st);
    assert_true(st.bwe_probes >= 1);
    assert_true(st.bwe_padding_bytes > 0);
    assert_true(w->padding > 0);
    world_destroy(w);
}

/* A link limited to 150 kbit/s (only q fits): down within 5 s, and from
 * then on the camera never stops more than a second and no higher layer is
 * tried on that link (padding probes it, and finds too little); the limit
 * lifted: the full layer within 15 s. */
static void test_short_link_no_freeze_then_recovery(void **state)
{
    (void)state;
    struct world *w = world_create(false);
    run(w, 6000);
    assert_int_equal(w->last_layer, 2);
    w->cap_bps = 150000;
    w->tokens_ms = w->now_ms;
    int64_t limited = w->now_ms;
    while (w->last_layer == 2 && w->now_ms - limited < 10000)
        run(w, 100);
    printf("# 150 kbit/s: down in %lld ms\n", (long long)(w->now_ms - limited));
    assert_true(w->now_ms - limited <= 5000);
    run(w, 1000); /* the switch itself (a keyframe of the lower layer) */
    w->cam_gap_ms = 0;
    int settled = w->last_layer;
    unsigned above = 0;
    for (int l = settled + 1; l < 3; l++)
        above += w->by_layer[l];
    run(w, 30000);
    for (int l = settled + 1; l < 3; l++)
        above -= w->by_layer[l];
    struct pal_room_stats st;
    pal_room_get_stats(w->room, &st);
    printf("# 150 kbit/s for 30 s: longest gap %lld ms, %llu probes, layer %d\n",
           (long long)w->cam_gap_ms, (unsigned long long)st.bwe_probes, w->last_layer);
    assert_true(w->cam_gap_ms <= 1000);
    assert_int_equal(above, 0); /* no layer above tried */
    assert_int_equal(w->last_layer, settled);
    assert_true(w->last_layer < 2);
    w->cap_bps = 0;
    int64_t lifted = w->now_ms;
    while (w->last_layer != 2 && w->now_ms - lifted < 20000)
        run(w, 100);
    printf("# lifted: full layer in %lld ms\n", (long long)(w->now_ms - lifted));
    assert_true(w->now_ms - lifted <= 15000);
    world_destroy(w);
}

/* A link of 500 kbit/s for two videos whose top layers need 460 kbit/s
 * each: the screen share keeps a better layer than the camera (the room's
 * priorities). */
static void test_screen_share_first(void **state)
{
    (void)state;
    struct world *w = world_create(true);
    run(w, 6000);
    assert_int_equal(w->last_layer, 2);
    assert_int_equal(w->last_screen_layer, 2);
    w->cap_bps = 500000;
    w->tokens_ms = w->now_ms;
    run(w, 20000);
    /* the screen still flows, the camera is paused or on a lower layer */
    assert_true(w->now_ms - w->last_screen_ms <= 100);
    bool cam_paused = w->now_ms - w->last_cam_ms > 1000;
    assert_true(cam_paused || w->last_layer < w->last_screen_layer);
    assert_true(w->last_screen_layer > 0 || cam_paused);
    world_destroy(w);
}

/* A link of 170 kbit/s for a screen share and a camera: both lowest layers
 * fit (about 50 kbit/s each), so both keep a picture, though the screen's
 * weight alone would leave the camera less than its lowest layer. */
static void test_lowest_layers_first(void **state)
{
    (void)state;
    struct world *w = world_create(true);
    run(w, 6000);
    w->cap_bps = 170000;
    w->tokens_ms = w->now_ms;
    run(w, 10000);
    w->cam_gap_ms = 0;
    run(w, 20000);
    printf("# 170 kbit/s: camera layer %d (longest gap %lld ms), screen layer %d\n", w->last_layer,
           (long long)w->cam_gap_ms, w->last_screen_layer);
    assert_true(w->now_ms - w->last_cam_ms <= 100);
    assert_true(w->cam_gap_ms <= 1000);
    assert_true(w->now_ms - w->last_screen_ms <= 100);
    world_destroy(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_lowers_then_recovery_restores),
        cmocka_unit_test(test_screen_share_first),
        cmocka_unit_test(test_short_link_no_freeze_then_recovery),
        cmocka_unit_test(test_lowest_layers_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
