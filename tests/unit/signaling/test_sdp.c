#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/sdp.h"
#include "palabre/sdp_simulcast.h"

/* ---- helpers ------------------------------------------------------------ */

static char *read_fixture(const char *name, size_t *len)
{
    const char *root = getenv("PALABRE_ROOT");
    char path[512];
    snprintf(path, sizeof(path), "%s/tests/fixtures/sdp/%s", root ? root : ".", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Filled with garbage on purpose: parser and builders must write every field
 * they expose (session fields and media[0..n_media)), and nothing may read
 * beyond n_media. */
static struct pal_session_desc *desc_new(void)
{
    struct pal_session_desc *d = malloc(sizeof(*d));
    assert_non_null(d);
    memset(d, 0xA5, sizeof(*d));
    return d;
}

static struct pal_session_desc *parse_fixture(const char *name)
{
    size_t len;
    char *text = read_fixture(name, &len);
    struct pal_session_desc *d = desc_new();
    struct pal_sdp_error err;
    int rc = pal_sdp_parse(text, len, d, &err);
    if (rc)
        fail_msg("%s: %s", name, err.message);
    free(text);
    return d;
}

static struct pal_session_desc *parse_str(const char *text, struct pal_sdp_error *err)
{
    struct pal_session_desc *d = desc_new();
    if (pal_sdp_parse(text, strlen(text), d, err)) {
        free(d);
        return NULL;
    }
    return d;
}

/* Expects text to fail with exactly this message. */
static void expect_error(const char *text, size_t len, const char *message)
{
    struct pal_session_desc *d = desc_new();
    struct pal_sdp_error err;
    assert_int_equal(pal_sdp_parse(text, len, d, &err), -EINVAL);
    assert_string_equal(err.message, message);
    free(d);
}

static const char *const fixtures[] = {
    "chrome-offer.sdp",
    "chrome-offer-simulcast.sdp",
    "firefox99-offer.sdp",
    "firefox68-offer-audio.sdp",
    "chrome-answer-subscribe.sdp",
};

static void local_init(struct pal_sdp_local *l)
{
    memset(l, 0, sizeof(*l));
    strcpy(l->ice_ufrag, "srvU");
    strcpy(l->ice_pwd, "serverpasswordserverpw1");
    assert_int_equal(pal_sdp_fingerprint_parse(
                         "sha-256 01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:14:15:"
                         "16:17:18:19:1A:1B:1C:1D:1E:1F:20",
                         &l->fingerprint),
                     0);
    strcpy(l->origin_sess_id, "1234567890");
    l->origin_sess_version = 1;
    assert_int_equal(pal_sdp_candidate_parse("candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host",
                                             &l->candidates[0], NULL),
                     0);
    l->n_candidates = 1;
    l->end_of_candidates = true;
}

/* ---- round trips ---------------------------------------------------------- */

static void fixtures_round_trip(void **state)
{
    for (unsigned i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
        struct pal_session_desc *a = parse_fixture(fixtures[i]);
        struct pal_sdp_error err;
        char *text = pal_sdp_write_alloc(a, &err);
        if (!text)
            fail_msg("%s: write: %s", fixtures[i], err.message);
        assert_int_equal(pal_sdp_size(a), (int)strlen(text));
        struct pal_session_desc *b = desc_new();
        if (pal_sdp_parse(text, strlen(text), b, &err))
            fail_msg("%s: re-parse: %s", fixtures[i], err.message);
        if (!pal_sdp_equal(a, b))
            fail_msg("%s: parse(write(parse(x))) differs from parse(x)", fixtures[i]);
        /* Writing is deterministic: the same struct gives the same text. */
        char *again = pal_sdp_write_alloc(b, NULL);
        assert_string_equal(text, again);
        free(again);
        free(text);
        free(a);
        free(b);
    }
}

/* Attributes repeated with a shorter value (found by fuzz_sdp): the struct
 * must not keep bytes of the longer one, so re-parsing gives the same bytes. */
static void repeated_attributes_round_trip(void **state)
{
    static const char text[] =
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
        "a=mid:longer-mid\r\na=mid:m\r\n"
        "a=ice-options:trickle renomination\r\na=ice-options:x\r\n"
        "a=ssrc:1 msid:stream-long track-long\r\na=ssrc:1 msid:s\r\n"
        "a=ssrc:1 cname:a-long-cname\r\na=ssrc:1 cname:c\r\n"
        "a=fmtp:111 minptime=10;useinbandfec=1\r\na=fmtp:111 stereo=1\r\n"
        "a=recvonly\t \r\na=x-unknown:1 \r\n"; /* trailing blanks: a known attribute */
    struct pal_sdp_error err;
    struct pal_session_desc *a = parse_str(text, &err);
    assert_non_null(a);
    assert_string_equal(a->media[0].mid, "m");
    assert_false(a->media[0].transport.ice_trickle);
    assert_string_equal(a->media[0].ssrcs[0].msid_track, "");
    assert_int_equal(a->media[0].codecs[0].opus_useinbandfec, -1);
    assert_int_equal(a->media[0].codecs[0].opus_stereo, 1);
    assert_int_equal(a->media[0].direction, PAL_SDP_DIR_RECVONLY);
    assert_int_equal(a->media[0].n_other_attrs, 1);
    assert_string_equal(a->media[0].other_attrs[0], "x-unknown:1");
    char *out = pal_sdp_write_alloc(a, &err);
    struct pal_session_desc *b = parse_str(out, &err);
    assert_non_null(b);
    assert_true(pal_sdp_equal(a, b));
    free(out);
    free(a);
    free(b);
}

static void crlf_and_lf_parse_alike(void **state)
{
    size_t len;
    char *crlf = read_fixture("chrome-offer.sdp", &len);
    char *lf = malloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (crlf[i] != '\r')
            lf[n++] = crlf[i];
    lf[n] = 0;
    assert_true(n < len);
    struct pal_session_desc *a = desc_new(), *b = desc_new();
    assert_int_equal(pal_sdp_parse(crlf, len, a, NULL), 0);
    assert_int_equal(pal_sdp_parse(lf, n, b, NULL), 0);
    assert_true(pal_sdp_equal(a, b));
    /* Without the final line ending, too. */
    assert_int_equal(pal_sdp_parse(lf, n - 1, b, NULL), 0);
    assert_true(pal_sdp_equal(a, b));
    free(a);
    free(b);
    free(crlf);
    free(lf);
}

/* ---- what the parser sees in real offers ------------------------------------ */

static void chrome_offer_fields(void **state)
{
    struct pal_session_desc *d = parse_fixture("chrome-offer.sdp");
    assert_int_equal(d->n_media, 2);
    assert_true(d->has_bundle);
    assert_int_equal(d->n_bundle_mids, 2);
    assert_string_equal(d->bundle_mids[1], "1");
    assert_true(d->extmap_allow_mixed);
    assert_string_equal(d->msid_semantic, "WMS");
    assert_string_equal(d->origin_user, "-");

    const struct pal_sdp_media *a = &d->media[0], *v = &d->media[1];
    assert_int_equal(a->kind, PAL_SDP_KIND_AUDIO);
    assert_string_equal(a->mid, "0");
    assert_int_equal(a->direction, PAL_SDP_DIR_SENDONLY);
    assert_true(a->rtcp_mux);
    assert_true(a->rtcp_rsize);
    assert_int_equal(a->transport.setup, PAL_SDP_SETUP_ACTPASS);
    assert_true(a->transport.ice_trickle);
    assert_string_equal(a->transport.fingerprint.algorithm, "sha-256");
    assert_int_equal(a->transport.fingerprint.len, 32);
    const struct pal_sdp_codec *opus = pal_sdp_find_codec(a, "opus", 48000);
    assert_non_null(opus);
    assert_int_equal(opus->pt, 111);
    assert_int_equal(opus->channels, 2);
    assert_int_equal(opus->opus_useinbandfec, 1);
    assert_int_equal(opus->opus_minptime, 10);
    assert_int_equal(opus->fb, PAL_SDP_FB_TRANSPORT_CC);
    assert_int_equal(pal_sdp_find_extmap(a, PAL_SDP_EXT_AUDIO_LEVEL), 1);
    assert_int_equal(pal_sdp_find_extmap(a, PAL_SDP_EXT_TRANSPORT_CC), 3);
    assert_int_equal(pal_sdp_find_extmap(a, PAL_SDP_EXT_MID), 4);
    assert_int_equal(a->n_candidates, 2);
    assert_int_equal(a->candidates[1].transport, PAL_SDP_CAND_TCP);
    assert_int_equal(a->candidates[1].tcptype, PAL_SDP_TCPTYPE_ACTIVE);
    assert_string_equal(a->candidates[0].address, "127.0.0.1");
    assert_string_equal(a->candidates[0].extensions, "generation 0 network-id 1 network-cost 50");
    assert_int_equal(a->n_ssrcs, 1);
    assert_true(a->ssrcs[0].cname[0] != 0);
    assert_string_equal(a->msid_stream, a->ssrcs[0].msid_stream);
    assert_string_equal(a->msid_track, a->ssrcs[0].msid_track);

    assert_int_equal(v->kind, PAL_SDP_KIND_VIDEO);
    assert_true(v->n_codecs >= 20);
    const struct pal_sdp_codec *vp8 = pal_sdp_find_codec(v, "VP8", 90000);
    assert_non_null(vp8);
    assert_int_equal(vp8->pt, 96);
    assert_int_equal(vp8->rtx_pt, 97);
    assert_int_equal(vp8->fb, PAL_SDP_FB_NACK | PAL_SDP_FB_NACK_PLI | PAL_SDP_FB_CCM_FIR |
                                  PAL_SDP_FB_GOOG_REMB | PAL_SDP_FB_TRANSPORT_CC);
    const struct pal_sdp_codec *rtx = pal_sdp_find_codec(v, "rtx", 90000);
    assert_int_equal(rtx->apt, 96);
    assert_int_equal(v->n_ssrc_groups, 1);
    assert_string_equal(v->ssrc_groups[0].semantics, "FID");
    assert_int_equal(v->ssrc_groups[0].n_ssrcs, 2);
    assert_int_equal(v->n_ssrcs, 2);
    assert_int_equal(pal_sdp_find_extmap(v, PAL_SDP_EXT_ABS_SEND_TIME), 2);
    /* a=rtcp and a=rtcp-xr are kept raw */
    assert_int_equal(v->n_other_attrs, 2);
    assert_string_equal(v->other_attrs[0], "rtcp:9 IN IP4 0.0.0.0");
    free(d);
}

/* Chromium's answer to a Palabre subscribe offer (2 tracks, bench_sdp offer-text). */
static void chrome_answer_fields(void **state)
{
    struct pal_session_desc *d = parse_fixture("chrome-answer-subscribe.sdp");
    assert_int_equal(d->n_media, 2);
    for (int i = 0; i < 2; i++) {
        struct pal_sdp_transport t;
        pal_sdp_effective_transport(d, i, &t);
        assert_int_equal(t.setup, PAL_SDP_SETUP_ACTIVE);
        assert_int_equal(d->media[i].direction, PAL_SDP_DIR_RECVONLY);
        assert_int_equal(d->media[i].n_ssrcs, 0);
    }
    assert_int_equal(d->media[0].codecs[0].pt, PAL_SDP_SUB_PT_OPUS);
    assert_int_equal(d->media[1].codecs[0].pt, PAL_SDP_SUB_PT_VP8);
    assert_int_equal(pal_sdp_find_extmap(&d->media[1], PAL_SDP_EXT_MID), PAL_SDP_SUB_EXT_MID);
    free(d);
}

static void chrome_simulcast_fields(void **state)
{
    struct pal_session_desc *d = parse_fixture("chrome-offer-simulcast.sdp");
    const struct pal_sdp_media *v = &d->media[1];
    assert_int_equal(v->n_rids, 3);
    assert_string_equal(v->rids[0], "q send");
    assert_string_equal(v->simulcast, "send q;h;f");
    assert_int_equal(pal_sdp_find_extmap(v, PAL_SDP_EXT_RID), 10);
    free(d);
}

/* The answer to Chrome's simulcast offer receives its three layers:
 * a=rid:<id> recv, a=simulcast:recv q;h;f, the rid and repaired-rid
 * extensions; a malformed simulcast line is refused with a clear error. */
static void chrome_simulcast_answer(void **state)
{
    struct pal_session_desc *offer = parse_fixture("chrome-offer-simulcast.sdp");
    struct pal_session_desc *ans = desc_new();
    struct pal_sdp_local local;
    local_init(&local);
    struct pal_sdp_error err;
    assert_int_equal(pal_sdp_build_answer(offer, &local, ans, &err), 0);
    char *text = pal_sdp_write_alloc(ans, &err);
    assert_non_null(text);
    assert_non_null(strstr(text, "a=rid:q recv\r\na=rid:h recv\r\na=rid:f recv\r\n"));
    assert_non_null(strstr(text, "a=simulcast:recv q;h;f\r\n"));
    assert_non_null(strstr(text, " urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n"));
    assert_non_null(strstr(text, " urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id\r\n"));
    struct pal_session_desc *back = desc_new();
    assert_int_equal(pal_sdp_parse(text, strlen(text), back, &err), 0);
    char rids[PAL_MEDIA_MAX_LAYERS][PAL_MEDIA_RID_MAX];
    assert_int_equal(pal_sdp_simulcast_layers(&back->media[1], PAL_SDP_DIR_RECVONLY, rids,
                                              PAL_MEDIA_MAX_LAYERS, NULL),
                     3);
    assert_string_equal(rids[0], "q");
    assert_string_equal(rids[2], "f");
    /* audio has none of it */
    assert_int_equal(back->media[0].n_rids, 0);
    assert_int_equal(pal_sdp_find_extmap(&back->media[0], PAL_SDP_EXT_RID), 0);
    free(text);
    strcpy(offer->media[1].simulcast, "send q;x");
    assert_int_equal(pal_sdp_build_answer(offer, &local, ans, &err), -EINVAL);
    assert_non_null(strstr(err.message, "'x'"));
    free(back);
    free(ans);
    free(offer);
}

static void firefox_offer_fields(void **state)
{
    struct pal_session_desc *d = parse_fixture("firefox99-offer.sdp");
    assert_string_equal(d->origin_user, "mozilla...THIS_IS_SDPARTA-99.0.1");
    assert_string_equal(d->msid_semantic_ids, "*");
    /* Fingerprint at session level, credentials per m-line, setup per m-line. */
    assert_int_equal(d->transport.fingerprint.len, 32);
    assert_string_equal(d->media[1].transport.fingerprint.algorithm, "");
    struct pal_sdp_transport t;
    pal_sdp_effective_transport(d, 1, &t);
    assert_string_equal(t.fingerprint.algorithm, "sha-256");
    assert_int_equal(t.fingerprint.digest[0], 0xAA);
    assert_string_equal(t.ice_ufrag, "15845c69");
    assert_true(t.ice_trickle);
    assert_int_equal(t.setup, PAL_SDP_SETUP_ACTPASS);
    const struct pal_sdp_codec *opus = pal_sdp_find_codec(&d->media[0], "OPUS", 48000);
    assert_int_equal(opus->pt, 109);
    assert_int_equal(opus->opus_stereo, 1);
    assert_int_equal(opus->opus_useinbandfec, 1);
    assert_int_equal(opus->fb, 0);
    const struct pal_sdp_codec *vp8 = pal_sdp_find_codec(&d->media[1], "vp8", 0);
    assert_int_equal(vp8->pt, 120);
    assert_int_equal(vp8->rtx_pt, 124);
    assert_string_equal(vp8->fmtp, "max-fs=12288;max-fr=60");
    const struct pal_sdp_extmap *e = &d->media[0].extmaps[1];
    assert_true(e->has_direction);
    assert_int_equal(e->direction, PAL_SDP_DIR_RECVONLY);
    assert_int_equal(e->known, PAL_SDP_EXT_OTHER);
    assert_string_equal(d->media[1].msid_stream, "{dce4a3ba-1188-4439-bfd0-b1bc321dd7db}");
    assert_int_equal(d->media[1].direction, PAL_SDP_DIR_SENDRECV);
    free(d);

    d = parse_fixture("firefox68-offer-audio.sdp");
    const struct pal_sdp_media *a = &d->media[0];
    assert_int_equal(a->n_candidates, 20);
    assert_string_equal(a->candidates[4].address, "2406:3003:2005:244:4ac1:faa5:1124:9fe7");
    assert_int_equal(a->candidates[10].component, 2);
    assert_int_equal(a->candidates[5].tcptype, PAL_SDP_TCPTYPE_ACTIVE);
    assert_string_equal(a->conn_addr, "192.168.1.217");
    assert_int_equal(a->port, 52511);
    free(d);
}

/* ---- answers to publish offers ------------------------------------------------ */

static struct pal_session_desc *answer_for(const struct pal_session_desc *offer)
{
    struct pal_sdp_local local;
    local_init(&local);
    struct pal_session_desc *ans = desc_new();
    struct pal_sdp_error err;
    if (pal_sdp_build_answer(offer, &local, ans, &err))
        fail_msg("answer: %s", err.message);
    /* What we write, we parse back to the same struct. */
    char *text = pal_sdp_write_alloc(ans, &err);
    assert_non_null(text);
    struct pal_session_desc *back = desc_new();
    if (pal_sdp_parse(text, strlen(text), back, &err))
        fail_msg("answer re-parse: %s\n%s", err.message, text);
    assert_true(pal_sdp_equal(ans, back));
    free(back);
    free(text);
    return ans;
}

static void answer_to_chrome(void **state)
{
    struct pal_session_desc *offer = parse_fixture("chrome-offer.sdp");
    struct pal_session_desc *ans = answer_for(offer);
    assert_int_equal(ans->n_media, 2);
    assert_int_equal(ans->n_bundle_mids, 2);
    const struct pal_sdp_media *a = &ans->media[0], *v = &ans->media[1];
    assert_int_equal(a->port, 9);
    assert_int_equal(a->direction, PAL_SDP_DIR_RECVONLY);
    assert_int_equal(a->transport.setup, PAL_SDP_SETUP_PASSIVE);
    assert_string_equal(a->transport.ice_ufrag, "srvU");
    assert_int_equal(a->n_codecs, 1);
    assert_int_equal(a->codecs[0].pt, 111);
    assert_string_equal(a->codecs[0].fmtp, "minptime=10;useinbandfec=1;usedtx=1");
    assert_int_equal(a->codecs[0].fb, PAL_SDP_FB_TRANSPORT_CC);
    assert_int_equal(a->n_extmaps, 3); /* audio-level, transport-cc, mid; not abs-send-time */
    assert_int_equal(pal_sdp_find_extmap(a, PAL_SDP_EXT_ABS_SEND_TIME), 0);
    assert_int_equal(a->n_candidates, 1);
    assert_true(a->end_of_candidates);
    assert_int_equal(v->n_codecs, 1);
    assert_int_equal(v->codecs[0].pt, 96);
    assert_string_equal(v->codecs[0].name, "VP8");
    assert_int_equal(v->codecs[0].fb, PAL_SDP_FB_NACK | PAL_SDP_FB_NACK_PLI |
                                          PAL_SDP_FB_CCM_FIR | PAL_SDP_FB_TRANSPORT_CC);
    assert_int_equal(pal_sdp_find_extmap(v, PAL_SDP_EXT_AUDIO_LEVEL), 0);
    assert_int_equal(pal_sdp_find_extmap(v, PAL_SDP_EXT_MID), 4);
    assert_int_equal(v->n_candidates, 0);
    assert_false(ans->ice_lite);
    char *text = pal_sdp_write_alloc(ans, NULL);
    assert_non_null(strstr(text, "a=setup:passive\r\n"));
    assert_non_null(strstr(text, "a=group:BUNDLE 0 1\r\n"));
    assert_non_null(strstr(text, "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"));
    assert_null(strstr(text, "ice-lite"));
    free(text);

    /* What the media core gets: answer's parameters, offer's SSRCs. */
    struct pal_sdp_stream st[2];
    struct pal_sdp_error err;
    assert_int_equal(pal_sdp_negotiated(offer, ans, st, 2, &err), 2);
    assert_int_equal(st[0].kind, PAL_SDP_KIND_AUDIO);
    assert_int_equal(st[0].pt, 111);
    assert_int_equal(st[0].ssrc, offer->media[0].ssrcs[0].ssrc);
    assert_int_equal(st[0].ext_audio_level, 1);
    assert_int_equal(st[0].ext_abs_send_time, 0);
    assert_string_equal(st[0].stream_id, offer->media[0].msid_stream);
    assert_int_equal(st[1].pt, 96);
    assert_string_equal(st[1].codec, "VP8");
    assert_int_equal(st[1].ssrc, offer->media[1].ssrc_groups[0].ssrcs[0]);
    assert_int_equal(st[1].rtx_ssrc, 0); /* rtx not accepted */
    assert_int_equal(st[1].rtx_pt, -1);
    assert_int_equal(st[1].ext_mid, 4);
    assert_int_equal(st[1].ext_transport_cc, 3);
    assert_int_equal(pal_sdp_negotiated(offer, ans, st, 1, &err), -ENOSPC);
    strcpy(ans->media[1].mid, "9");
    assert_int_equal(pal_sdp_negotiated(offer, ans, st, 2, &err), -EINVAL);
    free(ans);
    free(offer);
}

static void answer_to_firefox(void **state)
{
    struct pal_session_desc *offer = parse_fixture("firefox99-offer.sdp");
    struct pal_session_desc *ans = answer_for(offer);
    assert_int_equal(ans->media[0].codecs[0].pt, 109);
    assert_int_equal(ans->media[0].direction, PAL_SDP_DIR_RECVONLY); /* offer: sendrecv */
    assert_int_equal(ans->media[1].codecs[0].pt, 120);
    assert_int_equal(ans->media[1].codecs[0].fb, PAL_SDP_FB_NACK | PAL_SDP_FB_NACK_PLI |
                                                     PAL_SDP_FB_CCM_FIR | PAL_SDP_FB_TRANSPORT_CC);
    assert_int_equal(pal_sdp_find_extmap(&ans->media[1], PAL_SDP_EXT_TRANSPORT_CC), 7);
    assert_int_equal(pal_sdp_find_extmap(&ans->media[0], PAL_SDP_EXT_MID), 3);
    free(ans);
    free(offer);
}

/* An offer with H264-only video, a data channel and a port-0 m-line. */
static const char mixed_offer[] =
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=group:BUNDLE a v d\r\n"
    "a=fingerprint:sha-256 AA:F3:72:F3:34:B3:B2:72:69:20:86:FD:8C:B8:59:B1:57:C2:E0:B3:C3:46:5D:"
    "16:9C:2C:34:50:DA:1A:CF:C6\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\na=setup:actpass\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 0 111\r\nc=IN IP4 0.0.0.0\r\na=mid:a\r\na=sendonly\r\na=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 102\r\nc=IN IP4 0.0.0.0\r\na=mid:v\r\na=sendonly\r\na=rtcp-mux\r\n"
    "a=rtpmap:102 H264/90000\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:d\r\n"
    "a=sctp-port:5000\r\n"
    "m=video 0 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:old\r\na=inactive\r\n"
    "a=rtpmap:96 VP8/90000\r\n";

static void answer_rejects_unsupported(void **state)
{
    struct pal_sdp_error err;
    struct pal_session_desc *offer = parse_str(mixed_offer, &err);
    assert_non_null(offer);
    struct pal_session_desc *ans = answer_for(offer);
    assert_int_equal(ans->n_media, 4);
    assert_int_equal(ans->media[0].port, 9);
    assert_int_equal(ans->media[0].codecs[0].pt, 111); /* PCMU (0) listed first, not taken */
    for (int i = 1; i < 4; i++) {
        assert_int_equal(ans->media[i].port, 0);
        assert_string_equal(ans->media[i].mid, offer->media[i].mid);
        assert_string_equal(ans->media[i].media_name, offer->media[i].media_name);
    }
    assert_string_equal(ans->media[2].fmt_raw, "webrtc-datachannel");
    assert_int_equal(ans->n_bundle_mids, 1);
    assert_string_equal(ans->bundle_mids[0], "a");
    char *text = pal_sdp_write_alloc(ans, NULL);
    assert_non_null(strstr(text, "m=video 0 UDP/TLS/RTP/SAVPF 102\r\n"));
    assert_non_null(strstr(text, "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\n"));
    free(text);
    free(ans);
    free(offer);
}

static void answer_errors(void **state)
{
    struct pal_sdp_local local;
    local_init(&local);
    struct pal_sdp_error err;
    struct pal_session_desc *ans = desc_new();

    /* No BUNDLE */
    struct pal_session_desc *offer = parse_fixture("chrome-offer.sdp");
    offer->has_bundle = false;
    assert_int_equal(pal_sdp_build_answer(offer, &local, ans, &err), -EINVAL);
    assert_non_null(strstr(err.message, "BUNDLE"));
    /* Offer says passive: the server would have to be the DTLS client. */
    offer->has_bundle = true;
    offer->media[0].transport.setup = PAL_SDP_SETUP_PASSIVE;
    assert_int_equal(pal_sdp_build_answer(offer, &local, ans, &err), -EINVAL);
    assert_non_null(strstr(err.message, "setup"));
    offer->media[0].transport.setup = PAL_SDP_SETUP_ACTPASS;
    /* Nothing acceptable: rtcp-mux off everywhere. */
    offer->media[0].rtcp_mux = offer->media[1].rtcp_mux = false;
    assert_int_equal(pal_sdp_build_answer(offer, &local, ans, &err), -EINVAL);
    assert_non_null(strstr(err.message, "no m-line can be accepted"));
    /* Bad local parameters */
    offer->media[0].rtcp_mux = true;
    local.fingerprint.len = 20;
    assert_int_equal(pal_sdp_build_answer(offer, &local, ans, &err), -EINVAL);
    free(offer);
    free(ans);
}

/* ---- subscribe offers ---------------------------------------------------------- */

static void subscribe_offer(void **state)
{
    struct pal_sdp_local local;
    local_init(&local);
    struct pal_sdp_track tracks[3];
    memset(tracks, 0, sizeof(tracks));
    tracks[0] = (struct pal_sdp_track){.kind = PAL_SDP_KIND_AUDIO, .mid = "0", .active = true,
                                       .ssrc = 1111, .cname = "alice", .stream_id = "p-alice",
                                       .track_id = "a-alice"};
    tracks[1] = (struct pal_sdp_track){.kind = PAL_SDP_KIND_VIDEO, .mid = "1", .active = true,
                                       .ssrc = 2222, .rtx_ssrc = 3333, .cname = "alice",
                                       .stream_id = "p-alice", .track_id = "v-alice"};
    tracks[2] = (struct pal_sdp_track){.kind = PAL_SDP_KIND_VIDEO, .mid = "2", .active = false,
                                       .pt = 120};
    struct pal_session_desc *offer = desc_new();
    struct pal_sdp_error err;
    if (pal_sdp_build_offer(tracks, 3, &local, offer, &err))
        fail_msg("offer: %s", err.message);
    char *text = pal_sdp_write_alloc(offer, &err);
    assert_non_null(text);
    struct pal_session_desc *back = desc_new();
    if (pal_sdp_parse(text, strlen(text), back, &err))
        fail_msg("offer re-parse: %s\n%s", err.message, text);
    assert_true(pal_sdp_equal(offer, back));
    assert_non_null(strstr(text, "a=group:BUNDLE 0 1 2\r\n"));
    assert_non_null(strstr(text, "a=setup:actpass\r\n"));
    assert_non_null(strstr(text, "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"));
    assert_non_null(strstr(text, "a=ssrc:1111 cname:alice\r\n"));
    assert_non_null(strstr(text, "a=ssrc:2222 msid:p-alice v-alice\r\n"));
    assert_non_null(strstr(text, "a=ssrc-group:FID 2222 3333\r\n"));
    assert_null(strstr(text, " 0 UDP/TLS")); /* the idle slot is not rejected */
    assert_int_equal(back->media[2].n_ssrcs, 0);
    assert_int_equal(back->media[2].codecs[0].pt, 120); /* a Firefox publisher's VP8 PT */
    assert_string_equal(back->media[2].msid_stream, "");
    assert_int_equal(back->media[0].n_candidates, 1);
    assert_int_equal(back->media[1].n_candidates, 0);
    assert_non_null(strstr(text, "a=msid:p-alice a-alice\r\n"));
    assert_int_equal(back->media[0].direction, PAL_SDP_DIR_SENDONLY);
    assert_int_equal(back->media[2].direction, PAL_SDP_DIR_INACTIVE);
    assert_int_equal(pal_sdp_find_extmap(&back->media[0], PAL_SDP_EXT_AUDIO_LEVEL),
                     PAL_SDP_SUB_EXT_AUDIO_LEVEL);
    assert_int_equal(back->media[1].codecs[0].rtx_pt, 97);

    /* A browser's answer: same m-lines, setup active. */
    struct pal_session_desc *ans = desc_new();
    memcpy(ans, offer, sizeof(*ans));
    for (int i = 0; i < 3; i++) {
        ans->media[i].transport.setup = PAL_SDP_SETUP_ACTIVE;
        ans->media[i].direction = i < 2 ? PAL_SDP_DIR_RECVONLY : PAL_SDP_DIR_INACTIVE;
    }
    assert_int_equal(pal_sdp_check_answer(offer, ans, &err), 0);
    struct pal_sdp_stream st[3];
    assert_int_equal(pal_sdp_negotiated(offer, ans, st, 3, &err), 2); /* slot "2" is inactive */
    assert_int_equal(st[1].ssrc, 2222);
    assert_int_equal(st[1].rtx_ssrc, 3333);
    assert_int_equal(st[1].rtx_pt, 97);
    assert_string_equal(st[1].track_id, "v-alice");
    assert_string_equal(st[1].cname, "alice");
    ans->media[1].transport.setup = PAL_SDP_SETUP_PASSIVE;
    assert_int_equal(pal_sdp_check_answer(offer, ans, &err), -EINVAL);
    assert_non_null(strstr(err.message, "setup must be active"));
    ans->media[1].transport.setup = PAL_SDP_SETUP_ACTIVE;
    ans->media[1].codecs[0].pt = 100;
    assert_int_equal(pal_sdp_check_answer(offer, ans, &err), -EINVAL);
    assert_non_null(strstr(err.message, "was not offered"));
    strcpy(ans->media[1].mid, "x");
    assert_int_equal(pal_sdp_check_answer(offer, ans, &err), -EINVAL);
    ans->n_media = 2;
    assert_int_equal(pal_sdp_check_answer(offer, ans, &err), -EINVAL);

    /* Bad tracks */
    strcpy(tracks[2].mid, "1");
    assert_int_equal(pal_sdp_build_offer(tracks, 3, &local, offer, &err), -EINVAL);
    assert_non_null(strstr(err.message, "already used"));
    strcpy(tracks[2].mid, "2");
    strcpy(tracks[0].cname, "has space");
    assert_int_equal(pal_sdp_build_offer(tracks, 3, &local, offer, &err), -EINVAL);
    assert_non_null(strstr(err.message, "ssrc"));
    strcpy(tracks[0].cname, "alice");
    tracks[0].kind = PAL_SDP_KIND_APPLICATION;
    assert_int_equal(pal_sdp_build_offer(tracks, 3, &local, offer, &err), -EINVAL);
    assert_int_equal(pal_sdp_build_offer(tracks, 0, &local, offer, &err), -EINVAL);
    free(ans);
    free(back);
    free(text);
    free(offer);
}

/* Recycling (JSEP 5.2.2): a slot whose track is gone is rejected (port 0,
 * out of BUNDLE) except the first, which keeps the transport; candidates
 * move to the first bundled m-line; the stream ids go in msid-semantic
 * (issue 10: aiortc ignores a=msid under a bare "WMS"); a meeting of 100
 * with cameras (2 x 99 + the mix) fits one offer. */
static void subscribe_offer_recycling(void **state)
{
    (void)state;
    struct pal_sdp_local local;
    local_init(&local);
    struct pal_sdp_track *tracks = calloc(PAL_SDP_MAX_MEDIA + 1, sizeof(*tracks));
    assert_non_null(tracks);
    tracks[0] = (struct pal_sdp_track){.kind = PAL_SDP_KIND_AUDIO, .mid = "0", .rejected = true};
    tracks[1] = (struct pal_sdp_track){.kind = PAL_SDP_KIND_VIDEO, .mid = "1", .rejected = true};
    tracks[2] = (struct pal_sdp_track){.kind = PAL_SDP_KIND_AUDIO, .mid = "7", .active = true,
                                       .ssrc = 1111, .cname = "p_b", .stream_id = "p_b",
                                       .track_id = "ab"};
    tracks[3] = (struct pal_sdp_track){.kind = PAL_SDP_KIND_VIDEO, .mid = "8", .active = true,
                                       .ssrc = 2222, .cname = "p_c", .stream_id = "p_c",
                                       .track_id = "vc"};
    tracks[4] = (struct pal_sdp_track){.kind = PAL_SDP_KIND_AUDIO, .mid = "9", .active = true,
                                       .ssrc = 3333, .cname = "p_c", .stream_id = "p_c",
                                       .track_id = "ac"};
    struct pal_session_desc *offer = desc_new(), *back = desc_new();
    struct pal_sdp_error err;
    /* the first m-line is rejected here only to show the rule: not bundled */
    if (pal_sdp_build_offer(tracks, 5, &local, offer, &err))
        fail_msg("offer: %s", err.message);
    char *text = pal_sdp_write_alloc(offer, &err);
    assert_non_null(text);
    if (pal_sdp_parse(text, strlen(text), back, &err))
        fail_msg("re-parse: %s", err.message);
    assert_true(pal_sdp_equal(offer, back));
    assert_non_null(strstr(text, "a=group:BUNDLE 7 8 9\r\n"));
    assert_non_null(strstr(text, "a=msid-semantic: WMS p_b p_c\r\n"));
    assert_non_null(strstr(text, "m=audio 0 UDP/TLS/RTP/SAVPF 111\r\n"));
    assert_non_null(strstr(text, "m=video 0 UDP/TLS/RTP/SAVPF 96\r\n"));
    assert_int_equal(back->media[1].direction, PAL_SDP_DIR_INACTIVE);
    assert_int_equal(back->media[0].n_candidates, 0);
    assert_int_equal(back->media[2].n_candidates, 1); /* the first bundled m-line */
    /* inactive (not rejected): port 9, still bundled */
    tracks[0].rejected = false;
    assert_int_equal(pal_sdp_build_offer(tracks, 5, &local, offer, &err), 0);
    assert_int_equal(offer->media[0].port, 9);
    assert_int_equal(offer->n_bundle_mids, 4);
    assert_int_equal(offer->media[0].n_candidates, 1);
    /* every m-line rejected: nothing would carry the transport */
    tracks[0].rejected = true;
    tracks[2].active = tracks[3].active = tracks[4].active = false;
    tracks[2].rejected = tracks[3].rejected = tracks[4].rejected = true;
    assert_int_equal(pal_sdp_build_offer(tracks, 5, &local, offer, &err), -EINVAL);
    assert_non_null(strstr(err.message, "every m-line rejected"));

    /* 100 participants with cameras: 99 x (audio, video) + the mix, and
     * room to recycle; one more than PAL_SDP_MAX_MEDIA is refused. */
    for (int i = 0; i < PAL_SDP_MAX_MEDIA + 1; i++) {
        struct pal_sdp_track *t = &tracks[i];
        memset(t, 0, sizeof(*t));
        t->kind = i % 2 ? PAL_SDP_KIND_VIDEO : PAL_SDP_KIND_AUDIO;
        snprintf(t->mid, sizeof(t->mid), "%d", i);
        t->active = i < 200;
        t->rejected = i >= 200;
        t->ssrc = 1000u + (uint32_t)i;
        snprintf(t->cname, sizeof(t->cname), "p_%012d", i / 2);
        snprintf(t->stream_id, sizeof(t->stream_id), "p_%012d", i / 2);
        snprintf(t->track_id, sizeof(t->track_id), "t%d", i);
    }
    assert_int_equal(pal_sdp_build_offer(tracks, PAL_SDP_MAX_MEDIA + 1, &local, offer, &err),
                     -EINVAL);
    if (pal_sdp_build_offer(tracks, PAL_SDP_MAX_MEDIA, &local, offer, &err))
        fail_msg("255 m-lines: %s", err.message);
    free(text);
    text = pal_sdp_write_alloc(offer, &err);
    assert_non_null(text);
    if (pal_sdp_parse(text, strlen(text), back, &err))
        fail_msg("255 m-lines re-parse: %s", err.message);
    assert_true(pal_sdp_equal(offer, back));
    assert_int_equal(back->n_media, PAL_SDP_MAX_MEDIA);
    assert_int_equal(back->n_bundle_mids, 200);
    assert_non_null(strstr(text, "a=msid-semantic: WMS p_000000000000 p_000000000001 "));
    assert_non_null(strstr(text, " p_000000000099\r\n"));
    /* stream ids that cannot all be listed: "*" (RFC 8830: every stream) */
    for (int i = 0; i < 200; i++)
        snprintf(tracks[i].stream_id, sizeof(tracks[i].stream_id), "stream-%055d", i);
    assert_int_equal(pal_sdp_build_offer(tracks, PAL_SDP_MAX_MEDIA, &local, offer, &err), 0);
    assert_string_equal(offer->msid_semantic_ids, "*");
    free(text);
    free(back);
    free(offer);
    free(tracks);
}

/* ---- errors --------------------------------------------------------------------- */

#define HEAD "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"

static void parse_errors(void **state)
{
    expect_error("", 0, "line 1: expected 'v=0'");
    expect_error("o=- 1 2 IN IP4 127.0.0.1\r\n", 26, "line 1: expected 'v=0'");
    expect_error("v=1\r\n", 5, "line 1: expected 'v=0'");
    expect_error("v=0\r\ns=-\r\n", 10, "missing o= line");
#define E(text, msg) expect_error(text, sizeof(text) - 1, msg)
    E("v=0\r\no=- x 2 IN IP4 127.0.0.1\r\n", "line 2: o=: sess-id must be a decimal number below 2^64");
    E(HEAD "m=audio\r\n", "line 5: m=: expected '<media> <port> <proto> <fmt> ...'");
    E(HEAD "m=audio 99999 RTP/AVP 0\r\n", "line 5: m=: port must be 0..65535");
    E(HEAD "m=audio 9 RTP/AVP\r\n", "line 5: m=: expected '<media> <port> <proto> <fmt> ...'");
    E(HEAD "m=audio 9 RTP/AVP 0 128\r\n", "line 5: m=: payload type must be 0..127");
    E(HEAD "m=audio 9 RTP/AVP 0 0\r\n", "line 5: m=: payload type 0 listed twice");
    E(HEAD "m=audio 9 RTP/AVP 111\r\na=rtpmap:111 opus\r\n",
      "line 6: a=rtpmap: expected '<pt> <name>/<rate>'");
    E(HEAD "m=audio 9 RTP/AVP 111\r\na=rtpmap:112 opus/48000\r\n",
      "line 6: a=rtpmap: payload type 112 is not in the m= line");
    E(HEAD "a=rtpmap:111 opus/48000\r\n", "line 5: a=rtpmap: only allowed after an m= line");
    E(HEAD "m=audio 9 RTP/AVP 111\r\na=candidate:1 1 udp 5 1.2.3.4 9 typ nope\r\n",
      "line 6: a=candidate: type must be host, srflx, prflx or relay");
    E(HEAD "m=audio 9 RTP/AVP 111\r\na=candidate:1 1 sctp 5 1.2.3.4 9 typ host\r\n",
      "line 6: a=candidate: transport must be udp or tcp");
    E(HEAD "m=audio 9 RTP/AVP 111\r\na=extmap:0 urn:x\r\n", "line 6: a=extmap: id must be 1..255");
    E(HEAD "m=audio 9 RTP/AVP 111\r\na=mid:0\r\nm=audio 9 RTP/AVP 111\r\na=mid:0\r\n",
      "m-line 1: mid '0' already used by m-line 0");
    E(HEAD "m=audio 9 RTP/AVP 111\r\na=setup:sometimes\r\n",
      "line 6: a=setup: expected actpass, active, passive or holdconn");
    E(HEAD "a=fingerprint:sha-256 ZZ:00\r\n",
      "line 5: a=fingerprint: expected '<algorithm> <hex>:<hex>:...' (up to 64 bytes)");
    E(HEAD "hello\r\n", "line 5: expected '<letter>=<value>'");
    E(HEAD "a=mid:0\x01\r\n", "line 5: control character 0x01 at column 8");
    E(HEAD "a= mid:0\r\n", "line 5: a=: expected '<name>[:<value>]' right after 'a='");
#undef E
    /* An embedded NUL */
    static const char nul[] = HEAD "a=mid:0\0x\r\n";
    expect_error(nul, sizeof(nul) - 1, "line 5: control character 0x00 at column 8");

    /* Too many codecs: 41 payload types */
    char text[1024] = HEAD "m=video 9 UDP/TLS/RTP/SAVPF";
    for (int pt = 60; pt < 60 + PAL_SDP_MAX_CODECS + 1; pt++)
        sprintf(text + strlen(text), " %d", pt);
    strcat(text, "\r\n");
    expect_error(text, strlen(text), "line 5: m=: too many payload types (max 40)");

    /* Too many m-lines */
    static char many[8192];
    strcpy(many, HEAD);
    for (int i = 0; i <= PAL_SDP_MAX_MEDIA; i++)
        strcat(many, "m=audio 9 RTP/AVP 0\r\n");
    char msg[64];
    snprintf(msg, sizeof(msg), "line %d: too many m= lines (max %d)", 5 + PAL_SDP_MAX_MEDIA,
             PAL_SDP_MAX_MEDIA);
    expect_error(many, strlen(many), msg);

    /* An overlong line */
    size_t n = strlen(HEAD) + 6 + PAL_SDP_MAX_LINE;
    char *big = malloc(n + 1);
    strcpy(big, HEAD "s=");
    memset(big + strlen(HEAD) + 2, 'x', n - strlen(HEAD) - 2);
    big[n] = 0;
    expect_error(big, n, "line 5: line longer than 4096 bytes");
    free(big);

    /* A field too long: a 40-byte mid */
    char mid[128] = HEAD "m=audio 9 RTP/AVP 0\r\na=mid:";
    memset(mid + strlen(mid), 'm', 40);
    expect_error(mid, strlen(mid), "line 6: a=mid: value longer than 31 bytes");

    /* On error the struct is zeroed, not half-filled. */
    struct pal_session_desc *d = desc_new();
    static const char half[] = HEAD "m=audio 9 RTP/AVP 0\r\na=mid:0\r\nm=bad\r\n";
    assert_int_equal(pal_sdp_parse(half, sizeof(half) - 1, d, NULL), -EINVAL);
    assert_int_equal(d->n_media, 0);
    assert_string_equal(d->origin_user, "");
    free(d);
}

static void write_errors(void **state)
{
    struct pal_session_desc *d = parse_fixture("chrome-offer.sdp");
    int need = pal_sdp_size(d);
    assert_true(need > 1000);
    char small[64];
    struct pal_sdp_error err;
    assert_int_equal(pal_sdp_write(d, small, sizeof(small), &err), -ENOSPC);
    assert_non_null(strstr(err.message, "needed"));
    char *buf = malloc((size_t)need + 1);
    assert_int_equal(pal_sdp_write(d, buf, (size_t)need + 1, &err), need);
    assert_int_equal(pal_sdp_write(d, buf, (size_t)need, &err), -ENOSPC);
    free(buf);
    strcpy(d->media[0].mid, "a b");
    assert_int_equal(pal_sdp_write(d, small, sizeof(small), &err), -EINVAL);
    assert_string_equal(err.message, "m-line 0: mid cannot be written");
    assert_null(pal_sdp_write_alloc(d, NULL));
    free(d);
}

/* ---- trickle candidates ---------------------------------------------------------- */

static void trickle_candidates(void **state)
{
    struct pal_sdp_candidate c;
    struct pal_sdp_error err;
    assert_int_equal(pal_sdp_candidate_parse("candidate:842163049 1 udp 1677729535 203.0.113.45 "
                                             "50027 typ srflx raddr 0.0.0.0 rport 0 generation 0 "
                                             "ufrag x9Qe network-cost 999",
                                             &c, &err),
                     0);
    assert_int_equal(c.type, PAL_SDP_CAND_SRFLX);
    assert_int_equal(c.priority, 1677729535u);
    assert_int_equal(c.port, 50027);
    assert_string_equal(c.raddr, "0.0.0.0");
    assert_string_equal(c.extensions, "generation 0 ufrag x9Qe network-cost 999");
    char out[256];
    int n = pal_sdp_candidate_write(&c, out, sizeof(out));
    assert_true(n > 0);
    assert_string_equal(out, "candidate:842163049 1 udp 1677729535 203.0.113.45 50027 typ srflx "
                             "raddr 0.0.0.0 rport 0 generation 0 ufrag x9Qe network-cost 999");
    assert_int_equal(pal_sdp_candidate_write(&c, out, 10), -ENOSPC);

    /* "a=" prefix, CRLF, mDNS name, tcp passive */
    assert_int_equal(pal_sdp_candidate_parse("a=candidate:2 1 TCP 1518280447 "
                                             "f47ac10b-58cc-4372-a567-0e02b2c3d479.local 9 typ host "
                                             "tcptype passive\r\n",
                                             &c, &err),
                     0);
    assert_int_equal(c.transport, PAL_SDP_CAND_TCP);
    assert_int_equal(c.tcptype, PAL_SDP_TCPTYPE_PASSIVE);
    assert_int_equal(c.type, PAL_SDP_CAND_HOST);

    static const char *const bad[] = {
        "",
        "candidate:",
        "candidate:1 1 udp",
        "candidate:1 0 udp 1 1.2.3.4 9 typ host",
        "candidate:1 1 udp 4294967296 1.2.3.4 9 typ host",
        "candidate:1 1 udp 1 1.2.3.4 65536 typ host",
        "candidate:1 1 udp 1 1.2.3.4 9 host",
        "candidate:1 1 udp 1 1.2.3.4 9 typ host rport 5",
        "candidate:1 1 udp 1 1.2.3.4 9 typ host tcptype sideways",
        "candidate:1 1 udp 1 1.2.3.4 9 typ host\x01",
        "foundation 1 udp 1 1.2.3.4 9 typ host",
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err.message[0] = 0;
        if (pal_sdp_candidate_parse(bad[i], &c, &err) != -EINVAL)
            fail_msg("accepted bad candidate '%s'", bad[i]);
        assert_true(strncmp(err.message, "candidate: ", 11) == 0);
    }
    assert_int_equal(pal_sdp_candidate_parse("candidate:1 1 udp 1 1.2.3.4 9 typ relay", &c, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fixtures_round_trip),
        cmocka_unit_test(repeated_attributes_round_trip),
        cmocka_unit_test(crlf_and_lf_parse_alike),
        cmocka_unit_test(chrome_offer_fields),
        cmocka_unit_test(chrome_answer_fields),
        cmocka_unit_test(chrome_simulcast_fields),
        cmocka_unit_test(chrome_simulcast_answer),
        cmocka_unit_test(firefox_offer_fields),
        cmocka_unit_test(answer_to_chrome),
        cmocka_unit_test(answer_to_firefox),
        cmocka_unit_test(answer_rejects_unsupported),
        cmocka_unit_test(answer_errors),
        cmocka_unit_test(subscribe_offer),
        cmocka_unit_test(subscribe_offer_recycling),
        cmocka_unit_test(parse_errors),
        cmocka_unit_test(write_errors),
        cmocka_unit_test(trickle_candidates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
