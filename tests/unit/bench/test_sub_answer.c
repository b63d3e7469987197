/* bench/load/sub_answer.c: palabre-load's answer to a subscribe offer, with
 * no cap on m-lines. Below the server's cap it must agree with the server's
 * own answer builder (the tool used it before); above it, every m-line is
 * answered and only what the offer announces counts as delivered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the tool's sources are not in libpalabre.a: build the one under test here */
#include "../../../bench/load/sub_answer.c"

static void local_params(struct pal_sdp_local *l)
{
    memset(l, 0, sizeof(*l));
    snprintf(l->ice_ufrag, sizeof(l->ice_ufrag), "abcd");
    snprintf(l->ice_pwd, sizeof(l->ice_pwd), "0123456789abcdef012345");
    assert_int_equal(pal_sdp_fingerprint_parse("sha-256 "
                                               "01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:"
                                               "11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F:20",
                                               &l->fingerprint),
                     0);
    snprintf(l->origin_sess_id, sizeof(l->origin_sess_id), "1001");
    l->origin_sess_version = 1;
}

static size_t count(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The server's offer for n tracks (audio, video alternating), the last idle. */
static char *server_offer(size_t n, struct pal_sdp_track *tr)
{
    for (size_t i = 0; i < n; i++) {
        memset(&tr[i], 0, sizeof(tr[i]));
        tr[i].kind = i % 2 ? PAL_SDP_KIND_VIDEO : PAL_SDP_KIND_AUDIO;
        snprintf(tr[i].mid, sizeof(tr[i].mid), "%zu", i);
        tr[i].active = i + 1 < n;
        tr[i].ssrc = 1000 + (uint32_t)i;
        snprintf(tr[i].cname, sizeof(tr[i].cname), "p%zu", i / 2);
        snprintf(tr[i].stream_id, sizeof(tr[i].stream_id), "p%zu", i / 2);
        snprintf(tr[i].track_id, sizeof(tr[i].track_id), "t%zu", i);
    }
    struct pal_sdp_local srv;
    local_params(&srv);
    srv.n_candidates = 1;
    assert_int_equal(pal_sdp_candidate_parse("candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host",
                                             &srv.candidates[0], NULL),
                     0);
    struct pal_session_desc *d = calloc(1, sizeof(*d));
    assert_non_null(d);
    assert_int_equal(pal_sdp_build_offer(tr, n, &srv, d, NULL), 0);
    char *text = pal_sdp_write_alloc(d, NULL);
    assert_non_null(text);
    free(d);
    return text;
}

/* Below the cap: the same m-lines, directions, codecs and BUNDLE group as
 * pal_sdp_build_answer, and the server's parser reads it. */
static void test_agrees_with_the_servers_answer_builder(void **state)
{
    struct pal_sdp_track tr[6];
    char *offer_text = server_offer(6, tr);
    struct pal_sdp_local me;
    local_params(&me);
    char *text, err[160] = "";
    struct load_sub_remote r;
    assert_int_equal(load_sub_answer(offer_text, &me, &text, &r, err, sizeof(err)), 0);

    struct pal_session_desc *offer = calloc(1, sizeof(*offer)), *theirs = calloc(1, sizeof(*theirs)),
                            *ours = calloc(1, sizeof(*ours));
    assert_int_equal(pal_sdp_parse(offer_text, strlen(offer_text), offer, NULL), 0);
    assert_int_equal(pal_sdp_build_answer(offer, &me, theirs, NULL), 0);
    struct pal_sdp_error perr = {0};
    assert_int_equal(pal_sdp_parse(text, strlen(text), ours, &perr), 0);
    assert_int_equal(ours->n_media, theirs->n_media);
    assert_int_equal(ours->n_bundle_mids, theirs->n_bundle_mids);
    for (int i = 0; i < ours->n_media; i++) {
        assert_int_equal(ours->media[i].port != 0, theirs->media[i].port != 0);
        assert_string_equal(ours->media[i].mid, theirs->media[i].mid);
        assert_int_equal(ours->media[i].direction, theirs->media[i].direction);
        assert_int_equal(ours->media[i].codecs[0].pt, theirs->media[i].codecs[0].pt);
        assert_string_equal(ours->media[i].codecs[0].name, theirs->media[i].codecs[0].name);
    }
    struct pal_sdp_transport tr0;
    pal_sdp_effective_transport(ours, 0, &tr0);
    assert_int_equal(tr0.setup, PAL_SDP_SETUP_ACTIVE);
    assert_string_equal(tr0.ice_ufrag, "abcd");

    /* the offerer's transport, and the SSRCs of the 5 active tracks only */
    assert_string_equal(r.ice_ufrag, "abcd");
    assert_string_equal(r.fingerprint.algorithm, "sha-256");
    assert_int_equal(r.n_candidates, 1);
    assert_int_equal(r.candidates[0].port, 40000);
    assert_int_equal(r.n_media, 6);
    assert_int_equal(r.n_ssrcs, 5);
    for (uint32_t s = 1000; s < 1005; s++)
        assert_true(load_sub_remote_has_ssrc(&r, s));
    assert_false(load_sub_remote_has_ssrc(&r, 1005)); /* the idle slot */
    /* transport-cc: the offer's id, kept in the answer (the tool's feedback) */
    assert_int_equal(r.ext_twcc, PAL_SDP_SUB_EXT_TRANSPORT_CC);
    assert_int_equal(pal_sdp_find_extmap(&ours->media[0], PAL_SDP_EXT_TRANSPORT_CC),
                     PAL_SDP_SUB_EXT_TRANSPORT_CC);
    load_sub_remote_clear(&r);
    free(text);
    free(offer_text);
    free(offer);
    free(theirs);
    free(ours);
}

/* A room of 100: 198 m-lines in one offer (what Janus sends; 3 times the
 * server's PAL_SDP_MAX_MEDIA): all answered, all bundled, all SSRCs kept. */
static void test_answers_198_m_lines(void **state)
{
    GString *o = g_string_new("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\n"
                              "a=group:BUNDLE");
    for (int i = 0; i < 198; i++)
        g_string_append_printf(o, " m%d", i);
    g_string_append(o, "\r\na=ice-ufrag:ufra\r\na=ice-pwd:pwdpwdpwdpwdpwdpwdpwdpwd\r\n"
                       "a=fingerprint:sha-256 "
                       "AA:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:"
                       "11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F:20\r\n");
    for (int i = 0; i < 198; i++) {
        bool video = i % 2;
        g_string_append_printf(o,
                               "m=%s 9 UDP/TLS/RTP/SAVPF %s\r\nc=IN IP4 10.0.0.1\r\n"
                               "a=mid:m%d\r\na=sendonly\r\na=rtcp-mux\r\n"
                               "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
                               "a=rtpmap:%s\r\n%sa=ssrc:%d cname:janus\r\n",
                               video ? "video" : "audio", video ? "100 101" : "111", i,
                               video ? "100 VP8/90000\r\na=rtpmap:101 rtx/90000" : "111 opus/48000/2",
                               video ? "a=rtcp-fb:100 nack pli\r\n" : "", 5000 + i);
        if (i == 0)
            g_string_append(o, "a=candidate:1 1 udp 2015363327 10.0.0.1 20000 typ host\r\n"
                               "a=end-of-candidates\r\n");
    }
    struct pal_sdp_local me;
    local_params(&me);
    char *text, err[160] = "";
    struct load_sub_remote r;
    assert_int_equal(load_sub_answer(o->str, &me, &text, &r, err, sizeof(err)), 0);
    assert_int_equal(r.n_media, 198);
    assert_int_equal(r.n_accepted, 198);
    assert_int_equal(count(text, "\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"), 99);
    assert_int_equal(count(text, "\r\nm=video 9 UDP/TLS/RTP/SAVPF 100\r\n"), 99);
    assert_int_equal(count(text, "a=recvonly"), 198);
    assert_int_equal(count(text, "a=setup:active"), 198);
    assert_int_equal(count(text, "a=rtcp-fb:100 nack pli"), 99);
    assert_int_equal(count(text, "rtx"), 0);
    assert_non_null(strstr(text, "a=group:BUNDLE m0 m1 m2 "));
    assert_non_null(strstr(text, " m196 m197\r\n"));
    /* the session-level transport, and the first m-line's candidates */
    assert_string_equal(r.ice_ufrag, "ufra");
    assert_int_equal(r.fingerprint.digest[0], 0xAA);
    assert_int_equal(r.n_candidates, 1);
    assert_true(r.end_of_candidates);
    assert_int_equal(r.n_ssrcs, 198);
    for (size_t i = 1; i < r.n_ssrcs; i++)
        assert_true(r.ssrcs[i - 1] < r.ssrcs[i]);
    assert_true(load_sub_remote_has_ssrc(&r, 5197));
    assert_false(load_sub_remote_has_ssrc(&r, 5198));
    assert_int_equal(r.ext_twcc, 0); /* not offered: no feedback */
    load_sub_remote_clear(&r);
    free(text);
    g_string_free(o, TRUE);
}

/* Rejected or unusable m-lines are rejected in the answer, out of BUNDLE,
 * and their SSRCs do not count; an offer without credentials is refused. */
static void test_rejections(void **state)
{
    const char *offer = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\n"
                        "m=audio 0 UDP/TLS/RTP/SAVPF 111\r\na=mid:a\r\na=sendonly\r\n"
                        "a=rtpmap:111 opus/48000/2\r\na=ssrc:1 cname:x\r\n"
                        "m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:b\r\na=sendonly\r\n"
                        "a=rtpmap:102 H264/90000\r\na=ssrc:2 cname:x\r\n"
                        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:c\r\na=sendonly\r\n"
                        "a=ice-ufrag:uf\r\na=ice-pwd:pwdpwdpwdpwdpwdpwdpwdpwd\r\n"
                        "a=fingerprint:sha-256 "
                        "AA:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:"
                        "11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F:20\r\n"
                        "a=rtpmap:111 opus/48000/2\r\na=ssrc:3 cname:x\r\n";
    struct pal_sdp_local me;
    local_params(&me);
    char *text, err[160] = "";
    struct load_sub_remote r;
    assert_int_equal(load_sub_answer(offer, &me, &text, &r, err, sizeof(err)), 0);
    assert_int_equal(r.n_media, 3);
    assert_int_equal(r.n_accepted, 1);
    assert_non_null(strstr(text, "a=group:BUNDLE c\r\n"));
    assert_non_null(strstr(text, "m=audio 0 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:a\r\n"));
    assert_non_null(strstr(text, "m=video 0 UDP/TLS/RTP/SAVPF 102\r\nc=IN IP4 0.0.0.0\r\na=mid:b\r\n"));
    assert_string_equal(r.ice_ufrag, "uf"); /* from the first accepted m-line */
    assert_int_equal(r.n_ssrcs, 1);
    assert_true(load_sub_remote_has_ssrc(&r, 3));
    load_sub_remote_clear(&r);
    free(text);

    const char *no_ice = "v=0\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n"
                         "a=rtpmap:111 opus/48000/2\r\n";
    text = (char *)"untouched";
    assert_int_equal(load_sub_answer(no_ice, &me, &text, &r, err, sizeof(err)), -EINVAL);
    assert_null(text);
    assert_non_null(strstr(err, "ICE"));
    assert_int_equal(load_sub_answer("v=0\r\n", &me, &text, &r, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "no m-line"));
}

/* The transport-cc id comes from an accepted m-line's a=extmap (with or
 * without a direction), not from a rejected one's, nor from a look-alike URI. */
static void test_transport_cc_id(void **state)
{
    const char *offer = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\n"
                        "a=ice-ufrag:uf\r\na=ice-pwd:pwdpwdpwdpwdpwdpwdpwdpwd\r\n"
                        "a=fingerprint:sha-256 "
                        "AA:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:"
                        "11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F:20\r\n"
                        "m=audio 0 UDP/TLS/RTP/SAVPF 111\r\na=mid:a\r\na=sendonly\r\n"
                        "a=extmap:7 " PAL_SDP_URI_TRANSPORT_CC "\r\n"
                        "a=rtpmap:111 opus/48000/2\r\n"
                        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:b\r\na=sendonly\r\n"
                        "a=extmap:9 " PAL_SDP_URI_TRANSPORT_CC "-02\r\n"
                        "a=extmap:5/sendonly " PAL_SDP_URI_TRANSPORT_CC "\r\n"
                        "a=rtpmap:111 opus/48000/2\r\n";
    struct pal_sdp_local me;
    local_params(&me);
    char *text, err[160] = "";
    struct load_sub_remote r;
    assert_int_equal(load_sub_answer(offer, &me, &text, &r, err, sizeof(err)), 0);
    assert_int_equal(r.ext_twcc, 5);
    assert_non_null(strstr(text, "a=extmap:5/sendonly " PAL_SDP_URI_TRANSPORT_CC "\r\n"));
    load_sub_remote_clear(&r);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agrees_with_the_servers_answer_builder),
        cmocka_unit_test(test_answers_198_m_lines),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_transport_cc_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
