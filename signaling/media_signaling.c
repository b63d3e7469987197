/* The media messages of docs/protocol.md ("Media (WebRTC)") on the
 * signaling thread: publish, subscribe_offer/subscribe_answer,
 * ice_candidate, subscribe_restart, set_receive, media_error, active_speaker.
 *
 * set_receive "mixed": the participant's subscribe offer then holds exactly
 * two active m-lines, the room mixer's audio (its N-1 mix) and video
 * (composite), stream id PAL_MEDIA_MIXER_ID; the per-participant m-lines are
 * made inactive (and come back, as new m-lines, on "sfu"). The media worker
 * starts the room's mixer with its first such consumer and stops it with
 * the last.
 *
 * It keeps, per participant, what the media workers cannot know from
 * packets: the tracks each one publishes (from its publish offers) and the
 * m-lines of each one's subscribe offer. It turns SDP into the plain structs
 * of palabre/media.h, posts the commands to the room's media worker, and
 * sends the events the workers report (drained in a wake hook).
 *
 * SDP text is parsed and written by signaling/sdp.c (palabre/sdp.h); only
 * plain values cross into palabre/media.h.
 *
 * Thread: the signaling thread only. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "palabre/log.h"
#include "palabre/media.h"
#include "palabre/media_signaling.h"
#include "palabre/protocol.h"
#include "palabre/sdp.h"
#include "palabre/sdp_media.h"
#include "palabre/signaling.h"

#define MAX_OFFERED 256 /* m-lines in one subscribe offer (inactive ones included) */
#define SDP_MAX 65536

/* ---- state ---------------------------------------------------------------- */

struct offered {
    char mid[8];
    enum pal_media_kind kind;
    char producer[PAL_MEDIA_ID_MAX];
    char producer_mid[PAL_MEDIA_MID_MAX];
    char track_id[PAL_MEDIA_ID_MAX];
    uint32_t ssrc;
    bool active;
};

struct part {
    char room[PAL_MEDIA_ID_MAX];
    char pid[PAL_MEDIA_ID_MAX];
    /* publish PC */
    bool published;
    struct pal_media_ice_params pub_local;
    char pub_remote_ufrag[PAL_MEDIA_UFRAG_MAX];
    char pub_first_mid[PAL_MEDIA_MID_MAX];
    size_t n_tracks;
    struct pal_media_track tracks[PAL_MEDIA_MAX_TRACKS];
    /* subscribe PC */
    bool sub_open;
    struct pal_media_ice_params sub_local;
    char sub_remote_ufrag[PAL_MEDIA_UFRAG_MAX];
    struct offered *offered;
    size_t n_offered;
    /* the last offer sent, which the answer answers (offered may have moved on) */
    size_t n_sent;
    bool sent_active[MAX_OFFERED];
    int version;
    bool awaiting_answer;
    bool dirty;
    bool mixed; /* set_receive "mixed": the room's mix instead of one track each */
};

static struct {
    struct pal_server *srv;
    struct pal_media *media;
    struct part **parts;
    size_t n_parts, cap_parts;
} g;

/* ---- SDP (signaling/sdp.c) -------------------------------------------------- */

/* The server's side of every description: ICE credentials and fingerprint. */
static void sdp_local(struct pal_sdp_local *l, const struct pal_media_ice_params *ice,
                      int version)
{
    memset(l, 0, sizeof(*l));
    snprintf(l->ice_ufrag, sizeof(l->ice_ufrag), "%s", ice->ufrag);
    snprintf(l->ice_pwd, sizeof(l->ice_pwd), "%s", ice->pwd);
    char fp[PAL_DTLS_FINGERPRINT_LEN + 16];
    snprintf(fp, sizeof(fp), "sha-256 %s", pal_media_fingerprint(g.media));
    pal_sdp_fingerprint_parse(fp, &l->fingerprint);
    snprintf(l->origin_sess_id, sizeof(l->origin_sess_id), "4242");
    l->origin_sess_version = (uint64_t)version;
}

/* ICE and DTLS parameters of the peer (everything is bundled on one transport). */
static int sdp_remote(const struct pal_session_desc *d, struct pal_media_ice_params *ice,
                      char *fingerprint, size_t fplen, enum pal_sdp_setup *setup)
{
    /* The first accepted m-line carries the BUNDLE transport (a rejected one,
     * port 0, may have no transport attributes at all). */
    int idx = 0;
    while (idx < d->n_media && d->media[idx].port == 0)
        idx++;
    if (idx == d->n_media)
        idx = 0;
    struct pal_sdp_transport tr;
    pal_sdp_effective_transport(d, idx, &tr);
    snprintf(ice->ufrag, sizeof(ice->ufrag), "%s", tr.ice_ufrag);
    snprintf(ice->pwd, sizeof(ice->pwd), "%s", tr.ice_pwd);
    *setup = tr.setup;
    if (strcmp(tr.fingerprint.algorithm, "sha-256") != 0)
        return -EINVAL;
    return pal_sdp_fingerprint_format(&tr.fingerprint, fingerprint, fplen) < 0 ? -EINVAL : 0;
}

static uint32_t sdp_media_ssrc(const struct pal_sdp_media *m)
{
    for (uint8_t i = 0; i < m->n_ssrc_groups; i++)
        if (!strcmp(m->ssrc_groups[i].semantics, "FID") && m->ssrc_groups[i].n_ssrcs)
            return m->ssrc_groups[i].ssrcs[0];
    return m->n_ssrcs ? m->ssrcs[0].ssrc : 0;
}

static struct part *part_find(const char *pid)
{
    for (size_t i = 0; i < g.n_parts; i++)
        if (strcmp(g.parts[i]->pid, pid) == 0)
            return g.parts[i];
    return NULL;
}

static void part_free(struct part *p)
{
    free(p->offered);
    free(p);
}

static void new_ice(struct pal_media_ice_params *ice)
{
    pal_random_hex(ice->ufrag, 4);
    pal_random_hex(ice->pwd, 12);
}

static void post(const struct pal_media_cmd *c)
{
    int rc = pal_media_post(g.media, c);
    if (rc)
        PAL_WARN("media", c->room, c->participant, "media worker queue full: command %d lost",
                 c->type);
}

static void cmd_init(struct pal_media_cmd *c, enum pal_media_cmd_type type, const struct part *p,
                     enum pal_media_pc pc)
{
    memset(c, 0, sizeof(*c));
    c->type = type;
    c->pc = pc;
    snprintf(c->room, sizeof(c->room), "%s", p->room);
    snprintf(c->participant, sizeof(c->participant), "%s", p->pid);
}

/* ---- subscribe offers -------------------------------------------------------- */

static bool offered_has(const struct part *p, const char *producer, const char *mid)
{
    for (size_t i = 0; i < p->n_offered; i++)
        if (p->offered[i].active && !strcmp(p->offered[i].producer, producer) &&
            !strcmp(p->offered[i].producer_mid, mid))
            return true;
    return false;
}

static bool published_has(const char *room, const char *producer, const char *mid)
{
    struct part *q = part_find(producer);
    if (!q || strcmp(q->room, room) != 0)
        return false;
    for (size_t i = 0; i < q->n_tracks; i++)
        if (!strcmp(q->tracks[i].mid, mid))
            return true;
    return false;
}

static bool is_mixer(const struct offered *o)
{
    return strcmp(o->producer, PAL_MEDIA_MIXER_ID) == 0;
}

/* Whether p should still receive what o carries. */
static bool offered_wanted(const struct part *p, const struct offered *o)
{
    if (p->mixed)
        return is_mixer(o);
    return !is_mixer(o) && published_has(p->room, o->producer, o->producer_mid);
}

/* The subscribe offer for p's current m-lines, or (as_sent) the last one
 * sent, to check its answer against (heap: a description is big). */
static struct pal_session_desc *build_subscribe_offer(const struct part *p, int version,
                                                      bool as_sent, struct pal_sdp_error *err)
{
    size_t n = as_sent ? p->n_sent : p->n_offered;
    struct pal_sdp_track *tr = calloc(n ? n : 1, sizeof(*tr));
    struct pal_session_desc *d = calloc(1, sizeof(*d));
    struct pal_sdp_local *local = calloc(1, sizeof(*local));
    if (!tr || !d || !local) {
        free(tr);
        free(d);
        free(local);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const struct offered *o = &p->offered[i];
        tr[i].kind = o->kind == PAL_MEDIA_AUDIO ? PAL_SDP_KIND_AUDIO : PAL_SDP_KIND_VIDEO;
        snprintf(tr[i].mid, sizeof(tr[i].mid), "%s", o->mid);
        tr[i].active = as_sent ? p->sent_active[i] : o->active;
        tr[i].ssrc = o->ssrc;
        snprintf(tr[i].cname, sizeof(tr[i].cname), "%.63s", o->producer);
        snprintf(tr[i].stream_id, sizeof(tr[i].stream_id), "%.63s", o->producer);
        snprintf(tr[i].track_id, sizeof(tr[i].track_id), "%.63s", o->track_id);
    }
    sdp_local(local, &p->sub_local, version);
    int rc = pal_sdp_build_offer(tr, n, local, d, err);
    free(tr);
    free(local);
    if (rc) {
        free(d);
        return NULL;
    }
    return d;
}

static void send_subscribe_offer(struct part *p)
{
    struct pal_session *s = pal_server_find_participant(g.srv, p->pid);
    if (!s)
        return;
    struct pal_sdp_error err = {0};
    struct pal_session_desc *d = build_subscribe_offer(p, p->version + 1, false, &err);
    char *sdp = d ? pal_sdp_write_alloc(d, &err) : NULL;
    free(d);
    if (!sdp) {
        /* e.g. every track gone: nothing to offer until one comes */
        PAL_DEBUG("media", p->room, p->pid, "no subscribe offer: %s", err.message);
        return;
    }
    p->version++;
    p->awaiting_answer = true;
    p->dirty = false;
    p->n_sent = p->n_offered;
    for (size_t i = 0; i < p->n_offered; i++)
        p->sent_active[i] = p->offered[i].active;
    pal_session_send(s, json_pack("{s:s,s:s,s:i}", "type", "subscribe_offer", "sdp", sdp,
                                  "version", p->version));
    free(sdp);
}

/* Appends an m-line forwarding (producer, producer_mid) to p and tells the
 * media worker. Returns false when p's offer is full or memory is short. */
static bool offer_add(struct part *p, const char *producer, const char *producer_mid,
                      enum pal_media_kind kind, const char *track_id)
{
    struct pal_media_cmd c;
    if (p->n_offered == MAX_OFFERED) {
        PAL_WARN("media", p->room, p->pid, "subscribe offer full (%d m-lines)", MAX_OFFERED);
        return false;
    }
    if (!p->offered && !(p->offered = calloc(MAX_OFFERED, sizeof(*p->offered))))
        return false;
    if (!p->sub_open) {
        new_ice(&p->sub_local);
        cmd_init(&c, PAL_MEDIA_CMD_SUBSCRIBE_OPEN, p, PAL_MEDIA_PC_SUBSCRIBE);
        c.u.subscribe.local = p->sub_local;
        post(&c);
        p->sub_open = true;
    }
    struct offered *o = &p->offered[p->n_offered++];
    memset(o, 0, sizeof(*o));
    snprintf(o->mid, sizeof(o->mid), "%zu", p->n_offered - 1);
    o->kind = kind;
    snprintf(o->producer, sizeof(o->producer), "%s", producer);
    snprintf(o->producer_mid, sizeof(o->producer_mid), "%s", producer_mid);
    snprintf(o->track_id, sizeof(o->track_id), "%s", track_id);
    do
        pal_random_bytes(&o->ssrc, sizeof(o->ssrc));
    while (o->ssrc == 0);
    o->active = true;
    cmd_init(&c, PAL_MEDIA_CMD_CONSUMER_ADD, p, PAL_MEDIA_PC_SUBSCRIBE);
    snprintf(c.u.consumer.producer, sizeof(c.u.consumer.producer), "%s", producer);
    snprintf(c.u.consumer.producer_mid, sizeof(c.u.consumer.producer_mid), "%s", producer_mid);
    struct pal_media_track *ct = &c.u.consumer.track;
    snprintf(ct->mid, sizeof(ct->mid), "%s", o->mid);
    snprintf(ct->track_id, sizeof(ct->track_id), "%s", o->track_id);
    ct->kind = o->kind;
    ct->payload_type = o->kind == PAL_MEDIA_AUDIO ? 111 : 96;
    ct->clock_rate = o->kind == PAL_MEDIA_AUDIO ? 48000 : 90000;
    ct->ssrc = o->ssrc;
    ct->ext_audio_level = o->kind == PAL_MEDIA_AUDIO ? 1 : 0;
    post(&c);
    return true;
}

/* Brings p's subscribe offer in line with what the others publish, or with
 * the room's mix when p receives it. */
static void renegotiate(struct part *p)
{
    bool changed = false;
    struct pal_media_cmd c;
    for (size_t i = 0; i < p->n_offered; i++) {
        struct offered *o = &p->offered[i];
        if (o->active && !offered_wanted(p, o)) {
            o->active = false;
            changed = true;
            cmd_init(&c, PAL_MEDIA_CMD_CONSUMER_REMOVE, p, PAL_MEDIA_PC_SUBSCRIBE);
            snprintf(c.u.consumer.track.mid, sizeof(c.u.consumer.track.mid), "%s", o->mid);
            post(&c);
        }
    }
    if (p->mixed) {
        static const struct {
            const char *mid, *track_id;
            enum pal_media_kind kind;
        } mix[] = {{"audio", "mix-audio", PAL_MEDIA_AUDIO}, {"video", "mix-video", PAL_MEDIA_VIDEO}};
        for (size_t i = 0; i < PAL_ARRAY_LEN(mix); i++)
            if (!offered_has(p, PAL_MEDIA_MIXER_ID, mix[i].mid) &&
                offer_add(p, PAL_MEDIA_MIXER_ID, mix[i].mid, mix[i].kind, mix[i].track_id))
                changed = true;
    }
    for (size_t k = 0; k < g.n_parts && !p->mixed; k++) {
        struct part *q = g.parts[k];
        if (q == p || strcmp(q->room, p->room) != 0)
            continue;
        for (size_t t = 0; t < q->n_tracks; t++) {
            const struct pal_media_track *tr = &q->tracks[t];
            if (offered_has(p, q->pid, tr->mid))
                continue;
            const char *track_id = tr->track_id[0] ? tr->track_id
                                   : tr->kind == PAL_MEDIA_AUDIO ? "audio"
                                                                 : "video";
            if (offer_add(p, q->pid, tr->mid, tr->kind, track_id))
                changed = true;
        }
    }
    if (!changed && !p->dirty)
        return;
    if (p->awaiting_answer) {
        p->dirty = true; /* sent when the pending answer arrives */
        return;
    }
    send_subscribe_offer(p);
}

static void renegotiate_room(const char *room, const struct part *except)
{
    for (size_t i = 0; i < g.n_parts; i++)
        if (g.parts[i] != except && strcmp(g.parts[i]->room, room) == 0)
            renegotiate(g.parts[i]);
}

/* ---- requests ------------------------------------------------------------------ */

static struct part *part_or_reply(struct pal_session *s, json_t *id)
{
    struct part *p = part_find(pal_session_participant_id(s));
    if (!p)
        pal_session_reply_error(s, id, "not_joined", NULL, "join a room first");
    return p;
}

/* Parses the request's sdp; NULL after replying sdp_invalid. Caller frees. */
static struct pal_session_desc *sdp_or_reply(struct pal_session *s, json_t *id, json_t *req)
{
    /* Not pal_string_or_reply: SDP lines end with CR LF (control characters). */
    json_t *v = json_object_get(req, "sdp");
    const char *sdp = json_string_value(v);
    if (!v) {
        pal_session_reply_error(s, id, "missing_field", "sdp", "sdp is required");
        return NULL;
    }
    if (!sdp || json_string_length(v) == 0 || json_string_length(v) > SDP_MAX ||
        strlen(sdp) != json_string_length(v)) {
        pal_session_reply_error(s, id, "bad_field", "sdp",
                                "sdp: a string of 1 to %d bytes without NUL", SDP_MAX);
        return NULL;
    }
    struct pal_session_desc *d = calloc(1, sizeof(*d));
    if (!d) {
        pal_session_reply_error(s, id, "internal", NULL, "out of memory");
        return NULL;
    }
    struct pal_sdp_error err = {0};
    if (pal_sdp_parse(sdp, strlen(sdp), d, &err) != 0) {
        pal_session_reply_error(s, id, "sdp_invalid", "sdp", "%s", err.message);
        free(d);
        return NULL;
    }
    return d;
}

static void on_publish(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    (void)ud;
    struct part *p = part_or_reply(s, id);
    if (!p)
        return;
    struct pal_session_desc *offer = sdp_or_reply(s, id, req);
    if (!offer)
        return;
    struct pal_session_desc *answer = calloc(1, sizeof(*answer));
    struct pal_sdp_local *local = calloc(1, sizeof(*local));
    struct pal_media_cmd *c = calloc(1, sizeof(*c));
    char *text = NULL;
    struct pal_sdp_error err = {0};
    if (!answer || !local || !c) {
        pal_session_reply_error(s, id, "internal", NULL, "out of memory");
        goto out;
    }
    cmd_init(c, PAL_MEDIA_CMD_PUBLISH, p, PAL_MEDIA_PC_PUBLISH);
    enum pal_sdp_setup setup;
    if (sdp_remote(offer, &c->u.publish.remote, c->u.publish.dtls.fingerprint,
                   sizeof(c->u.publish.dtls.fingerprint), &setup) != 0) {
        pal_session_reply_error(s, id, "sdp_unsupported", "sdp",
                                "a=fingerprint:sha-256 is required");
        goto out;
    }
    /* New remote ICE credentials: an ICE restart, new local ones too. */
    if (!p->published || strcmp(p->pub_remote_ufrag, c->u.publish.remote.ufrag) != 0)
        new_ice(&p->pub_local);
    sdp_local(local, &p->pub_local, 2);
    if (pal_sdp_build_answer(offer, local, answer, &err) != 0 ||
        !(text = pal_sdp_write_alloc(answer, &err))) {
        pal_session_reply_error(s, id, "sdp_unsupported", "sdp", "%s", err.message);
        goto out;
    }
    c->u.publish.local = p->pub_local;
    c->u.publish.dtls.our_role = PAL_DTLS_SERVER; /* we answer a=setup:passive */
    for (uint8_t i = 0; i < answer->n_media && i < offer->n_media; i++) {
        const struct pal_sdp_media *am = &answer->media[i], *om = &offer->media[i];
        if (am->port == 0 || am->direction != PAL_SDP_DIR_RECVONLY || am->n_codecs == 0 ||
            c->u.publish.n_tracks == PAL_MEDIA_MAX_TRACKS)
            continue;
        struct pal_media_track *t = &c->u.publish.tracks[c->u.publish.n_tracks++];
        snprintf(t->mid, sizeof(t->mid), "%s", om->mid);
        snprintf(t->track_id, sizeof(t->track_id), "%s",
                 om->msid_track[0] ? om->msid_track
                                   : (om->n_ssrcs ? om->ssrcs[0].msid_track : ""));
        t->kind = om->kind == PAL_SDP_KIND_AUDIO ? PAL_MEDIA_AUDIO : PAL_MEDIA_VIDEO;
        t->payload_type = am->codecs[0].pt;
        t->clock_rate = am->codecs[0].clock_rate;
        t->ssrc = sdp_media_ssrc(om);
        t->ext_mid = pal_sdp_find_extmap(am, PAL_SDP_EXT_MID);
        t->ext_audio_level = pal_sdp_find_extmap(am, PAL_SDP_EXT_AUDIO_LEVEL);
        t->ext_twcc = pal_sdp_find_extmap(am, PAL_SDP_EXT_TRANSPORT_CC);
    }
    post(c);
    p->published = true;
    snprintf(p->pub_remote_ufrag, sizeof(p->pub_remote_ufrag), "%s", c->u.publish.remote.ufrag);
    snprintf(p->pub_first_mid, sizeof(p->pub_first_mid), "%s", offer->media[0].mid);
    p->n_tracks = c->u.publish.n_tracks;
    memcpy(p->tracks, c->u.publish.tracks, sizeof(p->tracks));
    pal_session_reply_ok(s, id, json_pack("{s:s}", "sdp", text));
    renegotiate_room(p->room, p);
out:
    free(text);
    free(c);
    free(local);
    free(answer);
    free(offer);
}

static void on_subscribe_answer(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    (void)ud;
    struct part *p = part_or_reply(s, id);
    json_int_t version;
    if (!p || !pal_int_or_reply(s, id, req, "version", 0, INT32_MAX, true, &version))
        return;
    if (!p->awaiting_answer || version != p->version) {
        pal_session_reply_error(s, id, "version_mismatch", "version",
                                "answer to offer %lld, the current offer is %d",
                                (long long)version, p->version);
        return;
    }
    struct pal_session_desc *answer = sdp_or_reply(s, id, req);
    if (!answer)
        return;
    struct pal_sdp_error err = {0};
    struct pal_session_desc *offer = build_subscribe_offer(p, p->version, true, &err);
    if (!offer || pal_sdp_check_answer(offer, answer, &err) != 0) {
        pal_session_reply_error(s, id, "sdp_unsupported", "sdp", "%s", err.message);
        goto out;
    }
    struct pal_media_cmd c;
    cmd_init(&c, PAL_MEDIA_CMD_SUBSCRIBE_REMOTE, p, PAL_MEDIA_PC_SUBSCRIBE);
    enum pal_sdp_setup setup;
    if (sdp_remote(answer, &c.u.subscribe.remote, c.u.subscribe.dtls.fingerprint,
                   sizeof(c.u.subscribe.dtls.fingerprint), &setup) != 0) {
        pal_session_reply_error(s, id, "sdp_unsupported", "sdp",
                                "a=fingerprint:sha-256 is required");
        goto out;
    }
    if (strcmp(p->sub_remote_ufrag, c.u.subscribe.remote.ufrag) != 0) {
        c.u.subscribe.dtls.our_role =
            setup == PAL_SDP_SETUP_PASSIVE ? PAL_DTLS_CLIENT : PAL_DTLS_SERVER;
        post(&c);
        snprintf(p->sub_remote_ufrag, sizeof(p->sub_remote_ufrag), "%s",
                 c.u.subscribe.remote.ufrag);
    }
    p->awaiting_answer = false;
    pal_session_reply_ok(s, id, NULL);
    if (p->dirty)
        renegotiate(p);
out:
    free(offer);
    free(answer);
}

static int candidate_parse(const char *line, struct pal_media_candidate *c)
{
    struct pal_sdp_candidate sc;
    if (pal_sdp_candidate_parse(line, &sc, NULL) != 0)
        return -EINVAL;
    pal_sdp_candidate_to_media(&sc, c);
    return 0;
}

static void on_ice_candidate(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    (void)ud;
    struct part *p = part_or_reply(s, id);
    if (!p)
        return;
    const char *pc = pal_string_or_reply(s, id, req, "pc", 1, 16, true);
    if (!pc)
        return;
    enum pal_media_pc which;
    if (!strcmp(pc, "publish"))
        which = PAL_MEDIA_PC_PUBLISH;
    else if (!strcmp(pc, "subscribe"))
        which = PAL_MEDIA_PC_SUBSCRIBE;
    else {
        pal_session_reply_error(s, id, "bad_field", "pc", "pc: publish or subscribe");
        return;
    }
    json_t *cand = json_object_get(req, "candidate");
    if (!cand) {
        pal_session_reply_error(s, id, "missing_field", "candidate", "candidate is required");
        return;
    }
    struct pal_media_cmd c;
    cmd_init(&c, PAL_MEDIA_CMD_REMOTE_CANDIDATE, p, which);
    if (json_is_null(cand)) {
        c.u.remote_candidate.end = true;
    } else {
        const char *line = json_is_object(cand)
                               ? json_string_value(json_object_get(cand, "candidate"))
                               : NULL;
        if (!line || strlen(line) > 512) {
            pal_session_reply_error(s, id, "bad_field", "candidate",
                                    "candidate: {candidate, sdpMid, sdpMLineIndex} or null");
            return;
        }
        if (line[0] == '\0') { /* browsers' end-of-candidates */
            c.u.remote_candidate.end = true;
        } else if (candidate_parse(line, &c.u.remote_candidate.cand) != 0) {
            pal_session_reply_error(s, id, "bad_field", "candidate",
                                    "candidate: not an RFC 8839 candidate line");
            return;
        } else if (c.u.remote_candidate.cand.tcp ||
                   strstr(c.u.remote_candidate.cand.addr, ".local")) {
            pal_session_reply_ok(s, id, NULL); /* valid, not usable here: ignored */
            return;
        }
    }
    post(&c);
    pal_session_reply_ok(s, id, NULL);
}

static void on_subscribe_restart(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    (void)ud;
    (void)req;
    struct part *p = part_or_reply(s, id);
    if (!p)
        return;
    pal_session_reply_ok(s, id, NULL);
    if (!p->sub_open || p->n_offered == 0)
        return;
    new_ice(&p->sub_local);
    struct pal_media_cmd c;
    cmd_init(&c, PAL_MEDIA_CMD_SUBSCRIBE_OPEN, p, PAL_MEDIA_PC_SUBSCRIBE);
    c.u.subscribe.local = p->sub_local;
    post(&c);
    p->awaiting_answer = false; /* a restart replaces any pending offer */
    send_subscribe_offer(p);
}

/* set_receive {mode: "sfu" | "mixed"}: switches p's subscribe PC between one
 * track per participant and the room's mix, by renegotiation (no rejoin). */
static void on_set_receive(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    (void)ud;
    struct part *p = part_or_reply(s, id);
    if (!p)
        return;
    bool mixed;
    if (!pal_receive_mode_or_reply(s, id, req, "mode", true, &mixed))
        return;
    const char *mode = mixed ? "mixed" : "sfu";
    pal_session_reply_ok(s, id, json_pack("{s:s}", "mode", mode));
    if (p->mixed == mixed)
        return;
    PAL_INFO("media", p->room, p->pid, "receives %s", mode);
    p->mixed = mixed;
    renegotiate(p);
}

/* ---- participants ------------------------------------------------------------------ */

static void on_joined(struct pal_session *s, void *ud)
{
    (void)ud;
    const char *pid = pal_session_participant_id(s), *room = pal_session_room(s);
    if (!pid || !room || part_find(pid))
        return;
    if (g.n_parts == g.cap_parts) {
        size_t cap = g.cap_parts ? 2 * g.cap_parts : 64;
        struct part **a = realloc(g.parts, cap * sizeof(*a));
        if (!a)
            return;
        g.parts = a;
        g.cap_parts = cap;
    }
    struct part *p = calloc(1, sizeof(*p));
    if (!p)
        return;
    snprintf(p->pid, sizeof(p->pid), "%s", pid);
    snprintf(p->room, sizeof(p->room), "%s", room);
    p->mixed = pal_session_join_receive_mixed(s); /* join's receive: the first offer is the mix */
    if (p->mixed)
        PAL_INFO("media", p->room, p->pid, "receives mixed (join)");
    g.parts[g.n_parts++] = p;
    struct pal_media_cmd c;
    cmd_init(&c, PAL_MEDIA_CMD_PARTICIPANT_ADD, p, PAL_MEDIA_PC_PUBLISH);
    post(&c);
    renegotiate(p);
}

static void on_left(struct pal_session *s, void *ud)
{
    (void)ud;
    const char *pid = pal_session_participant_id(s);
    if (!pid)
        return;
    for (size_t i = 0; i < g.n_parts; i++) {
        struct part *p = g.parts[i];
        if (strcmp(p->pid, pid) != 0)
            continue;
        struct pal_media_cmd c;
        cmd_init(&c, PAL_MEDIA_CMD_PARTICIPANT_REMOVE, p, PAL_MEDIA_PC_PUBLISH);
        post(&c);
        char room[PAL_MEDIA_ID_MAX];
        snprintf(room, sizeof(room), "%s", p->room);
        g.parts[i] = g.parts[--g.n_parts];
        part_free(p);
        renegotiate_room(room, NULL);
        return;
    }
}

/* ---- events from the media workers --------------------------------------------- */

static void send_candidate(struct pal_session *s, const struct part *p,
                           const struct pal_media_event *ev)
{
    /* The subscribe side: an active m-line (the BUNDLE tag; a switch to or
     * from the mix leaves the first ones inactive). */
    const char *mid = p->n_offered ? p->offered[0].mid : "0";
    for (size_t i = 0; i < p->n_offered; i++)
        if (p->offered[i].active) {
            mid = p->offered[i].mid;
            break;
        }
    if (ev->pc == PAL_MEDIA_PC_PUBLISH)
        mid = p->pub_first_mid;
    json_t *cand = json_null();
    if (ev->type == PAL_MEDIA_EV_LOCAL_CANDIDATE) {
        struct pal_sdp_candidate sc;
        pal_media_candidate_to_sdp(&ev->u.candidate, &sc);
        char line[256];
        if (pal_sdp_candidate_write(&sc, line, sizeof(line)) < 0)
            return;
        cand = json_pack("{s:s,s:s,s:i}", "candidate", line, "sdpMid", mid, "sdpMLineIndex", 0);
    }
    pal_session_send(s, json_pack("{s:s,s:s,s:o}", "type", "ice_candidate", "pc",
                                  pal_media_pc_name(ev->pc), "candidate", cand));
}

static void drain_events(struct pal_server *srv, void *ud)
{
    (void)ud;
    struct pal_media_event ev;
    while (pal_media_poll_event(g.media, &ev) == 1) {
        if (ev.type == PAL_MEDIA_EV_ACTIVE_SPEAKER) {
            pal_server_broadcast(srv, ev.room, NULL,
                                 json_pack("{s:s,s:s}", "type", "active_speaker",
                                           "participant_id", ev.participant));
            continue;
        }
        struct part *p = part_find(ev.participant);
        struct pal_session *s = pal_server_find_participant(srv, ev.participant);
        if (!p || !s || strcmp(p->room, ev.room) != 0)
            continue; /* left meanwhile */
        switch (ev.type) {
        case PAL_MEDIA_EV_LOCAL_CANDIDATE:
        case PAL_MEDIA_EV_GATHERING_DONE:
            send_candidate(s, p, &ev);
            break;
        case PAL_MEDIA_EV_CONNECTED:
            PAL_INFO("media", ev.room, ev.participant, "%s PC up, SRTP %s",
                     pal_media_pc_name(ev.pc), pal_srtp_profile_name(ev.u.connected.profile));
            break;
        case PAL_MEDIA_EV_FAILED:
            pal_session_send(
                s, json_pack("{s:s,s:s,s:s,s:s}", "type", "media_error", "pc",
                             pal_media_pc_name(ev.pc), "code",
                             ev.u.failed.code == PAL_MEDIA_FAIL_DTLS ? "dtls_failed" : "ice_failed",
                             "message", ev.u.failed.reason));
            if (ev.pc == PAL_MEDIA_PC_SUBSCRIBE)
                p->sub_remote_ufrag[0] = '\0';
            else
                p->published = false;
            break;
        default:
            break;
        }
    }
}

static void wake_signaling(void *ud)
{
    pal_server_wake(ud);
}

/* ---- life ------------------------------------------------------------------------ */

static bool listens_on_loopback(const struct pal_config *cfg)
{
    return strncmp(cfg->listen_addr, "127.", 4) == 0 || !strcmp(cfg->listen_addr, "localhost") ||
           !strcmp(cfg->listen_addr, "::1") || !strcmp(cfg->listen_addr, "[::1]");
}

int pal_media_signaling_init(struct pal_server *srv)
{
    const struct pal_config *cfg = pal_server_config(srv);
    struct pal_media_config mc = {
        .workers = cfg->media_workers,
        .port_min = cfg->port_min,
        .port_max = cfg->port_max,
        .add_loopback = listens_on_loopback(cfg),
        .mixer_width = cfg->mixer_video_width & ~1,
        .mixer_height = cfg->mixer_video_height & ~1,
        .mixer_fps = cfg->mixer_video_fps,
        .mixer_bitrate_kbps = cfg->mixer_video_bitrate_kbps,
    };
    snprintf(mc.interfaces, sizeof(mc.interfaces), "%s", cfg->interfaces);
    snprintf(mc.public_ip, sizeof(mc.public_ip), "%s", cfg->public_ip);
    snprintf(mc.listen_addr, sizeof(mc.listen_addr), "%s", cfg->listen_addr);
    g.srv = srv;
    int rc = pal_media_create(&mc, wake_signaling, srv, &g.media);
    if (rc)
        return rc;
    static const struct pal_participant_listener l = {
        .on_participant_joined = on_joined,
        .on_participant_left = on_left,
    };
    if ((rc = pal_server_add_participant_listener(srv, &l)) ||
        (rc = pal_server_add_wake_hook(srv, drain_events, NULL)) ||
        (rc = pal_server_register_handler(srv, "publish", on_publish, true, NULL)) ||
        (rc = pal_server_register_handler(srv, "subscribe_answer", on_subscribe_answer, true,
                                          NULL)) ||
        (rc = pal_server_register_handler(srv, "ice_candidate", on_ice_candidate, true, NULL)) ||
        (rc = pal_server_register_handler(srv, "subscribe_restart", on_subscribe_restart, true,
                                          NULL)) ||
        (rc = pal_server_register_handler(srv, "set_receive", on_set_receive, true, NULL))) {
        pal_media_signaling_shutdown();
        return rc;
    }
    return 0;
}

void pal_media_signaling_shutdown(void)
{
    pal_media_destroy(g.media);
    for (size_t i = 0; i < g.n_parts; i++)
        part_free(g.parts[i]);
    free(g.parts);
    memset(&g, 0, sizeof(g));
}

int pal_media_signaling_stats(struct pal_media_stats *out)
{
    if (!g.media)
        return -ENODEV;
    pal_media_get_stats(g.media, out);
    return 0;
}
