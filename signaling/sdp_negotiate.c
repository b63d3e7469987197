/* The server's side of offer/answer (JSEP, RFC 9429) over parsed
 * descriptions: the answer to a browser's publish offer, the offer for a
 * subscribe PeerConnection, and the check of the browser's answer to it.
 * Declared in palabre/sdp.h; the choices are documented there. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "palabre/common.h"
#include "palabre/sdp.h"
#include "palabre/sdp_simulcast.h"

int pal_sdp_fail(struct pal_sdp_error *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->line = 0;
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}
#define fail pal_sdp_fail

static bool is_decimal(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* The session lines common to every description the server writes. */
static int session_init(struct pal_session_desc *d, const struct pal_sdp_local *local,
                        struct pal_sdp_error *err)
{
    memset(d, 0, offsetof(struct pal_session_desc, media)); /* m-lines: as they are built */
    if (!local->ice_ufrag[0] || !local->ice_pwd[0])
        return fail(err, "local ICE credentials missing");
    if (strcmp(local->fingerprint.algorithm, "sha-256") || local->fingerprint.len != 32)
        return fail(err, "local fingerprint must be sha-256 (32 bytes)");
    if (!is_decimal(local->origin_sess_id) || strlen(local->origin_sess_id) >= sizeof(d->origin_sess_id))
        return fail(err, "local origin_sess_id must be a decimal number");
    strcpy(d->origin_user, "-");
    strcpy(d->origin_sess_id, local->origin_sess_id);
    d->origin_sess_version = local->origin_sess_version;
    strcpy(d->origin_addr, "127.0.0.1");
    strcpy(d->session_name, "-");
    strcpy(d->msid_semantic, "WMS");
    d->has_bundle = true;
    return 0;
}

static void transport_init(struct pal_sdp_transport *t, const struct pal_sdp_local *local,
                           enum pal_sdp_setup setup)
{
    memset(t, 0, sizeof(*t));
    strcpy(t->ice_ufrag, local->ice_ufrag);
    strcpy(t->ice_pwd, local->ice_pwd);
    strcpy(t->ice_options, "trickle");
    t->ice_trickle = true;
    t->fingerprint = local->fingerprint;
    t->setup = setup;
}

/* Candidates go with the first bundled m-line only (JSEP 5.2.1). */
static void add_candidates(struct pal_sdp_media *m, const struct pal_sdp_local *local)
{
    m->n_candidates = PAL_MIN(local->n_candidates, PAL_SDP_MAX_CANDIDATES);
    memcpy(m->candidates, local->candidates, m->n_candidates * sizeof(m->candidates[0]));
    m->end_of_candidates = local->end_of_candidates;
}

static void codec_set(struct pal_sdp_codec *c, uint8_t pt, const char *name, uint32_t rate,
                      uint8_t channels, const char *fmtp, uint32_t fb)
{
    memset(c, 0, sizeof(*c));
    c->pt = pt;
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->clock_rate = rate;
    c->channels = channels;
    snprintf(c->fmtp, sizeof(c->fmtp), "%s", fmtp);
    c->fb = fb;
    c->apt = -1;
    c->rtx_pt = -1;
    c->opus_useinbandfec = c->opus_stereo = -1;
    if (!strcmp(fmtp, PAL_SDP_OPUS_FMTP)) {
        c->opus_useinbandfec = 1;
        c->opus_minptime = 10;
    }
}

static void extmap_add(struct pal_sdp_media *m, uint8_t id, enum pal_sdp_ext known, const char *uri)
{
    struct pal_sdp_extmap *e = &m->extmaps[m->n_extmaps++];
    memset(e, 0, sizeof(*e));
    e->id = id;
    e->known = known;
    snprintf(e->uri, sizeof(e->uri), "%s", uri);
}

static bool in_bundle(const struct pal_session_desc *d, const char *mid)
{
    for (unsigned i = 0; i < d->n_bundle_mids; i++)
        if (!strcmp(d->bundle_mids[i], mid))
            return true;
    return false;
}

/* A rejected m-line as JSEP wants it in an answer: same kind, proto and mid,
 * port 0, one format, inactive. */
static void media_reject(struct pal_sdp_media *am, const struct pal_sdp_media *om)
{
    memset(am, 0, sizeof(*am));
    am->kind = om->kind;
    strcpy(am->media_name, om->media_name);
    strcpy(am->proto, om->proto);
    strcpy(am->fmt_raw, om->fmt_raw);
    strcpy(am->mid, om->mid);
    strcpy(am->conn_addr, "0.0.0.0");
    am->direction = PAL_SDP_DIR_INACTIVE;
    if (om->n_codecs) {
        am->n_codecs = 1;
        codec_set(&am->codecs[0], om->codecs[0].pt, "", 0, 0, "", 0);
    }
}

/* Why the offered m-line cannot be received, or NULL; *codec is what is used. */
static const char *media_refusal(const struct pal_session_desc *offer, const struct pal_sdp_media *om,
                                 const struct pal_sdp_codec **codec)
{
    *codec = NULL;
    if (om->port == 0 && !om->bundle_only)
        return "rejected by the offer (port 0)";
    if (!om->mid[0] || !in_bundle(offer, om->mid))
        return "not in the BUNDLE group";
    if (!strstr(om->proto, "RTP/SAVPF"))
        return "not RTP/SAVPF";
    if (!om->rtcp_mux)
        return "no rtcp-mux";
    if (om->kind == PAL_SDP_KIND_AUDIO) {
        for (unsigned i = 0; i < om->n_codecs && !*codec; i++) {
            const struct pal_sdp_codec *c = &om->codecs[i];
            if (!strcasecmp(c->name, "opus") && c->clock_rate == 48000 && c->channels == 2)
                *codec = c;
        }
    } else if (om->kind == PAL_SDP_KIND_VIDEO) {
        *codec = pal_sdp_find_codec(om, "VP8", 90000);
    } else {
        return "not audio or video";
    }
    return *codec ? NULL : "no supported codec (opus/48000/2, VP8/90000)";
}

int pal_sdp_build_answer(const struct pal_session_desc *offer, const struct pal_sdp_local *local,
                         struct pal_session_desc *answer, struct pal_sdp_error *err)
{
    int rc = session_init(answer, local, err);
    if (rc)
        return rc;
    if (!offer->has_bundle) {
        answer->n_media = 0;
        return fail(err, "offer has no BUNDLE group (Palabre needs bundlePolicy max-bundle)");
    }
    answer->n_media = offer->n_media;
    bool first = true;
    for (unsigned i = 0; i < offer->n_media; i++) {
        const struct pal_sdp_media *om = &offer->media[i];
        struct pal_sdp_media *am = &answer->media[i];
        const struct pal_sdp_codec *oc;
        if (media_refusal(offer, om, &oc)) {
            media_reject(am, om);
            continue;
        }
        struct pal_sdp_transport t;
        pal_sdp_effective_transport(offer, (int)i, &t);
        if (!t.ice_ufrag[0] || !t.ice_pwd[0])
            rc = fail(err, "m-line %u (mid %s): no ICE credentials", i, om->mid);
        else if (strcmp(t.fingerprint.algorithm, "sha-256"))
            rc = fail(err, "m-line %u (mid %s): no sha-256 fingerprint", i, om->mid);
        else if (t.setup != PAL_SDP_SETUP_ACTPASS && t.setup != PAL_SDP_SETUP_ACTIVE)
            rc = fail(err, "m-line %u (mid %s): setup must be actpass or active (Palabre is the DTLS server)",
                      i, om->mid);
        if (rc) {
            answer->n_media = 0;
            return rc;
        }
        memset(am, 0, sizeof(*am));
        am->kind = om->kind;
        strcpy(am->media_name, om->media_name);
        strcpy(am->proto, om->proto);
        strcpy(am->mid, om->mid);
        am->port = 9;
        strcpy(am->conn_addr, "0.0.0.0");
        am->direction = om->direction == PAL_SDP_DIR_SENDONLY || om->direction == PAL_SDP_DIR_SENDRECV
                            ? PAL_SDP_DIR_RECVONLY
                            : PAL_SDP_DIR_INACTIVE;
        am->rtcp_mux = true;
        am->rtcp_rsize = om->rtcp_rsize;
        transport_init(&am->transport, local, PAL_SDP_SETUP_PASSIVE);
        bool audio = om->kind == PAL_SDP_KIND_AUDIO;
        uint32_t fb = audio ? PAL_SDP_FB_TRANSPORT_CC
                            : PAL_SDP_FB_NACK | PAL_SDP_FB_NACK_PLI | PAL_SDP_FB_CCM_FIR |
                                  PAL_SDP_FB_TRANSPORT_CC;
        am->n_codecs = 1;
        codec_set(&am->codecs[0], oc->pt, oc->name, oc->clock_rate, oc->channels,
                  audio ? PAL_SDP_OPUS_FMTP : "", oc->fb & fb);
        /* Simulcast: receive every layer offered (up to PAL_MEDIA_MAX_LAYERS);
         * the rid extensions tell the layers apart. */
        char rids[PAL_MEDIA_MAX_LAYERS][PAL_MEDIA_RID_MAX];
        int n_layers = audio ? 0
                             : pal_sdp_simulcast_layers(om, PAL_SDP_DIR_SENDONLY, rids,
                                                        PAL_MEDIA_MAX_LAYERS, err);
        if (n_layers < 0) {
            answer->n_media = 0;
            return n_layers;
        }
        pal_sdp_simulcast_answer(am, rids, (size_t)n_layers);
        for (unsigned k = 0; k < om->n_extmaps; k++) {
            const struct pal_sdp_extmap *e = &om->extmaps[k];
            if (e->known == PAL_SDP_EXT_MID || e->known == PAL_SDP_EXT_TRANSPORT_CC ||
                (audio && e->known == PAL_SDP_EXT_AUDIO_LEVEL) ||
                (n_layers > 0 &&
                 (e->known == PAL_SDP_EXT_RID || e->known == PAL_SDP_EXT_REPAIRED_RID)))
                extmap_add(am, e->id, e->known, e->uri);
        }
        if (first)
            add_candidates(am, local);
        first = false;
    }
    if (first) {
        answer->n_media = 0;
        return fail(err, "no m-line can be accepted: Palabre receives opus/48000/2 audio and "
                         "VP8/90000 video, bundled, with rtcp-mux");
    }
    /* BUNDLE: the accepted mids in the offer's group order. */
    for (unsigned i = 0; i < offer->n_bundle_mids; i++) {
        int mi = pal_sdp_find_mid(answer, offer->bundle_mids[i]);
        if (mi >= 0 && answer->media[mi].port != 0)
            strcpy(answer->bundle_mids[answer->n_bundle_mids++], offer->bundle_mids[i]);
    }
    return 0;
}

/* Appends a stream id to a=msid-semantic: WMS once; "*" (every stream)
 * when the list would not fit. */
static void wms_add(struct pal_session_desc *d, const char *id)
{
    char *ids = d->msid_semantic_ids;
    if (!strcmp(ids, "*"))
        return;
    size_t n = strlen(id), len = strlen(ids);
    for (const char *p = ids; (p = strstr(p, id)) != NULL; p += n)
        if ((p == ids || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return;
    if (len + (len ? 1 : 0) + n >= sizeof(d->msid_semantic_ids)) {
        strcpy(ids, "*");
        return;
    }
    snprintf(ids + len, sizeof(d->msid_semantic_ids) - len, "%s%s", len ? " " : "", id);
}

int pal_sdp_build_offer(const struct pal_sdp_track *tracks, size_t n,
                        const struct pal_sdp_local *local, struct pal_session_desc *offer,
                        struct pal_sdp_error *err)
{
    if (n == 0 || n > PAL_SDP_MAX_MEDIA)
        return fail(err, "offer needs 1..%d tracks, had %zu", PAL_SDP_MAX_MEDIA, n);
    int rc = session_init(offer, local, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n && !rc; i++) {
        const struct pal_sdp_track *tr = &tracks[i];
        struct pal_sdp_media *m = &offer->media[i];
        memset(m, 0, sizeof(*m));
        bool audio = tr->kind == PAL_SDP_KIND_AUDIO;
        if (!audio && tr->kind != PAL_SDP_KIND_VIDEO) {
            rc = fail(err, "track %zu: kind must be audio or video", i);
            break;
        }
        if (!tr->mid[0] || strnlen(tr->mid, sizeof(tr->mid)) == sizeof(tr->mid)) {
            rc = fail(err, "track %zu: mid empty or longer than %d bytes", i, PAL_SDP_MID_LEN - 1);
            break;
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(tracks[j].mid, tr->mid))
                rc = fail(err, "track %zu: mid '%s' already used by track %zu", i, tr->mid, j);
        if (rc)
            break;
        m->kind = tr->kind;
        strcpy(m->media_name, audio ? "audio" : "video");
        strcpy(m->proto, "UDP/TLS/RTP/SAVPF");
        strcpy(m->mid, tr->mid);
        strcpy(m->conn_addr, "0.0.0.0");
        m->rtcp_mux = true;
        m->rtcp_rsize = true;
        if (tr->pt > 127) {
            rc = fail(err, "track %zu: payload type %u above 127", i, tr->pt);
            break;
        }
        uint8_t pt = tr->pt ? tr->pt : audio ? PAL_SDP_SUB_PT_OPUS : PAL_SDP_SUB_PT_VP8;
        m->n_codecs = 1;
        if (audio)
            codec_set(&m->codecs[0], pt, "opus", 48000, 2, PAL_SDP_OPUS_FMTP,
                      PAL_SDP_FB_TRANSPORT_CC);
        else
            codec_set(&m->codecs[0], pt, "VP8", 90000, 0, "",
                      PAL_SDP_FB_NACK | PAL_SDP_FB_NACK_PLI | PAL_SDP_FB_CCM_FIR |
                          PAL_SDP_FB_TRANSPORT_CC);
        bool rejected = !tr->active && tr->rejected;
        m->port = rejected ? 0 : 9;
        m->direction = tr->active ? PAL_SDP_DIR_SENDONLY : PAL_SDP_DIR_INACTIVE;
        transport_init(&m->transport, local, PAL_SDP_SETUP_ACTPASS);
        if (!rejected) { /* RFC 8843 7.3.3: a rejected m-line leaves the group */
            if (offer->n_bundle_mids == 0)
                add_candidates(m, local);
            strcpy(offer->bundle_mids[offer->n_bundle_mids++], tr->mid);
        }
        if (audio)
            extmap_add(m, PAL_SDP_SUB_EXT_AUDIO_LEVEL, PAL_SDP_EXT_AUDIO_LEVEL,
                       PAL_SDP_URI_AUDIO_LEVEL);
        extmap_add(m, PAL_SDP_SUB_EXT_TRANSPORT_CC, PAL_SDP_EXT_TRANSPORT_CC,
                   PAL_SDP_URI_TRANSPORT_CC);
        extmap_add(m, PAL_SDP_SUB_EXT_MID, PAL_SDP_EXT_MID, PAL_SDP_URI_MID);
        if (!tr->active)
            continue;
        if (!audio && tr->rtx_ssrc) {
            uint8_t rtx = pt < 127 ? pt + 1 : pt - 1;
            char apt[16];
            snprintf(apt, sizeof(apt), "apt=%u", pt);
            codec_set(&m->codecs[1], rtx, "rtx", 90000, 0, apt, 0);
            m->codecs[1].apt = pt;
            m->codecs[0].rtx_pt = rtx;
            m->n_codecs = 2;
            m->n_ssrc_groups = 1;
            strcpy(m->ssrc_groups[0].semantics, "FID");
            m->ssrc_groups[0].n_ssrcs = 2;
            m->ssrc_groups[0].ssrcs[0] = tr->ssrc;
            m->ssrc_groups[0].ssrcs[1] = tr->rtx_ssrc;
        }
        const char *stream = tr->stream_id[0] ? tr->stream_id : "-";
        if (tr->stream_id[0])
            wms_add(offer, tr->stream_id);
        snprintf(m->msid_stream, sizeof(m->msid_stream), "%s", stream);
        snprintf(m->msid_track, sizeof(m->msid_track), "%s", tr->track_id);
        uint32_t ssrcs[2] = {tr->ssrc, tr->rtx_ssrc};
        for (unsigned k = 0; k < (!audio && tr->rtx_ssrc ? 2u : 1u); k++) {
            struct pal_sdp_ssrc *s = &m->ssrcs[m->n_ssrcs++];
            s->ssrc = ssrcs[k];
            snprintf(s->cname, sizeof(s->cname), "%s", tr->cname);
            snprintf(s->msid_stream, sizeof(s->msid_stream), "%s", stream);
            snprintf(s->msid_track, sizeof(s->msid_track), "%s", tr->track_id);
        }
    }
    offer->n_media = (uint8_t)n;
    if (!rc && offer->n_bundle_mids == 0)
        rc = fail(err, "every m-line rejected: nothing carries the transport");
    /* Names given by the caller (cname, msid) must be writable tokens. */
    if (!rc && pal_sdp_size(offer) < 0) {
        struct pal_sdp_error werr;
        pal_sdp_write(offer, NULL, 0, &werr);
        rc = fail(err, "%s (cname, stream and track ids must be non-empty tokens without spaces)",
                  werr.message);
    }
    if (rc)
        offer->n_media = 0;
    return rc;
}

int pal_sdp_check_answer(const struct pal_session_desc *offer,
                         const struct pal_session_desc *answer, struct pal_sdp_error *err)
{
    if (answer->n_media != offer->n_media)
        return fail(err, "answer has %u m-lines, the offer %u", answer->n_media, offer->n_media);
    for (unsigned i = 0; i < offer->n_media; i++) {
        const struct pal_sdp_media *om = &offer->media[i], *am = &answer->media[i];
        if (strcmp(om->mid, am->mid))
            return fail(err, "m-line %u: answer mid '%s', offer mid '%s'", i, am->mid, om->mid);
        if (am->port == 0 && !am->bundle_only)
            continue;
        if (!am->n_codecs || !am->codecs[0].name[0])
            return fail(err, "m-line %u (mid %s): answer has no codec", i, am->mid);
        bool offered = false;
        for (unsigned k = 0; k < om->n_codecs; k++)
            if (om->codecs[k].pt == am->codecs[0].pt &&
                !strcasecmp(om->codecs[k].name, am->codecs[0].name))
                offered = true;
        if (!offered)
            return fail(err, "m-line %u (mid %s): answer codec %u %s was not offered", i, am->mid,
                        am->codecs[0].pt, am->codecs[0].name);
        struct pal_sdp_transport t;
        pal_sdp_effective_transport(answer, (int)i, &t);
        if (!t.ice_ufrag[0] || !t.ice_pwd[0])
            return fail(err, "m-line %u (mid %s): no ICE credentials", i, am->mid);
        if (strcmp(t.fingerprint.algorithm, "sha-256"))
            return fail(err, "m-line %u (mid %s): no sha-256 fingerprint", i, am->mid);
        if (t.setup != PAL_SDP_SETUP_ACTIVE)
            return fail(err, "m-line %u (mid %s): answer setup must be active (Palabre is the DTLS server)",
                        i, am->mid);
    }
    return 0;
}

int pal_sdp_negotiated(const struct pal_session_desc *offer, const struct pal_session_desc *answer,
                       struct pal_sdp_stream *out, size_t cap, struct pal_sdp_error *err)
{
    if (answer->n_media != offer->n_media)
        return fail(err, "answer has %u m-lines, the offer %u", answer->n_media, offer->n_media);
    size_t n = 0;
    for (unsigned i = 0; i < offer->n_media; i++) {
        const struct pal_sdp_media *om = &offer->media[i], *am = &answer->media[i];
        if (strcmp(om->mid, am->mid))
            return fail(err, "m-line %u: answer mid '%s', offer mid '%s'", i, am->mid, om->mid);
        if ((am->port == 0 && !am->bundle_only) || am->direction == PAL_SDP_DIR_INACTIVE ||
            !am->n_codecs || !am->codecs[0].name[0] ||
            (am->kind != PAL_SDP_KIND_AUDIO && am->kind != PAL_SDP_KIND_VIDEO))
            continue;
        if (n == cap) {
            fail(err, "more than %zu accepted m-lines", cap);
            return -ENOSPC;
        }
        struct pal_sdp_stream *s = &out[n++];
        memset(s, 0, sizeof(*s));
        const struct pal_sdp_codec *c = &am->codecs[0];
        s->media_index = (int)i;
        s->kind = am->kind;
        strcpy(s->mid, am->mid);
        s->direction = am->direction;
        s->pt = c->pt;
        s->rtx_pt = c->rtx_pt;
        strcpy(s->codec, c->name);
        s->clock_rate = c->clock_rate;
        s->fb = c->fb;
        s->ext_mid = pal_sdp_find_extmap(am, PAL_SDP_EXT_MID);
        s->ext_audio_level = pal_sdp_find_extmap(am, PAL_SDP_EXT_AUDIO_LEVEL);
        s->ext_transport_cc = pal_sdp_find_extmap(am, PAL_SDP_EXT_TRANSPORT_CC);
        s->ext_abs_send_time = pal_sdp_find_extmap(am, PAL_SDP_EXT_ABS_SEND_TIME);
        s->n_rids = om->n_rids;
        const struct pal_sdp_ssrc *primary = om->n_ssrcs ? &om->ssrcs[0] : NULL;
        for (unsigned g = 0; g < om->n_ssrc_groups; g++) {
            const struct pal_sdp_ssrc_group *grp = &om->ssrc_groups[g];
            if (!strcmp(grp->semantics, "FID") && grp->n_ssrcs == 2 && !s->rtx_ssrc) {
                s->rtx_ssrc = grp->ssrcs[1];
                for (unsigned k = 0; k < om->n_ssrcs; k++)
                    if (om->ssrcs[k].ssrc == grp->ssrcs[0])
                        primary = &om->ssrcs[k];
            }
        }
        if (primary) {
            s->ssrc = primary->ssrc;
            strcpy(s->cname, primary->cname);
            strcpy(s->stream_id, primary->msid_stream);
            strcpy(s->track_id, primary->msid_track);
        }
        if (s->rtx_pt < 0) /* rtx not negotiated: the offerer will not send it */
            s->rtx_ssrc = 0;
        if (om->msid_stream[0]) {
            strcpy(s->stream_id, om->msid_stream);
            strcpy(s->track_id, om->msid_track);
        }
    }
    return (int)n;
}
