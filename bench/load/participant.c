/* A synthetic WebRTC participant. See participant.h. */
#include "participant.h"

#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/rtcp.h"
#include "palabre/rtp.h"
#include "palabre/sdp.h"
#include "palabre/sdp_media.h"
#include "sub_answer.h"

/* ---- candidates ------------------------------------------------------------ */

static void add_remote(struct load_pc *pc, const struct pal_media_candidate *c)
{
    if (c->tcp || strstr(c->addr, ".local") || c->component != 1)
        return; /* only UDP, numeric, rtcp-mux */
    if (pc->remote_set)
        pal_transport_add_remote_candidate(pc->t, c);
    else if (pc->n_remote_q < LOAD_MAX_QUEUED_CANDIDATES)
        pc->remote_q[pc->n_remote_q++] = *c;
}

void participant_remote_candidate(struct load_participant *p, enum pal_media_pc which,
                                  const char *line)
{
    struct load_pc *pc = &p->pcs[which];
    if (!line || !line[0]) {
        if (pc->remote_set && pc->t)
            pal_transport_remote_gathering_done(pc->t);
        else
            pc->remote_end = true;
        return;
    }
    struct pal_sdp_candidate sc;
    struct pal_media_candidate c;
    if (pal_sdp_candidate_parse(line, &sc, NULL) != 0)
        return;
    pal_sdp_candidate_to_media(&sc, &c);
    add_remote(pc, &c);
}

static void send_local(struct load_participant *p, struct load_pc *pc, const char *line)
{
    if (p->env->sig->send_candidate && !p->gone)
        p->env->sig->send_candidate(p, pc->which, line);
}

void participant_trickle_ready(struct load_participant *p, enum pal_media_pc which)
{
    struct load_pc *pc = &p->pcs[which];
    if (pc->can_trickle)
        return;
    pc->can_trickle = true;
    for (size_t i = 0; i < pc->n_local_q; i++) {
        send_local(p, pc, pc->local_q[i]);
        free(pc->local_q[i]);
    }
    pc->n_local_q = 0;
    if (pc->local_done)
        send_local(p, pc, NULL);
}

static void on_candidate(void *ctx, const struct pal_media_candidate *c)
{
    struct load_pc *pc = ctx;
    struct pal_sdp_candidate s = {0};
    snprintf(s.foundation, sizeof(s.foundation), "%s", c->foundation);
    s.component = c->component;
    s.transport = PAL_SDP_CAND_UDP;
    s.priority = c->priority;
    snprintf(s.address, sizeof(s.address), "%s", c->addr);
    s.port = c->port;
    s.type = (enum pal_sdp_cand_type)c->type;
    if (c->type != PAL_MEDIA_CAND_HOST) {
        snprintf(s.raddr, sizeof(s.raddr), "%s", c->raddr);
        s.rport = c->rport;
    }
    char line[256];
    if (pal_sdp_candidate_write(&s, line, sizeof(line)) < 0)
        return;
    if (pc->can_trickle)
        send_local(pc->p, pc, line);
    else if (pc->n_local_q < LOAD_MAX_QUEUED_CANDIDATES)
        pc->local_q[pc->n_local_q++] = strdup(line);
}

static void on_gathering_done(void *ctx)
{
    struct load_pc *pc = ctx;
    pc->local_done = true;
    if (pc->can_trickle)
        send_local(pc->p, pc, NULL);
}

/* ---- transport events -------------------------------------------------------- */

static void on_connected(void *ctx, enum pal_srtp_profile profile)
{
    (void)profile;
    struct load_pc *pc = ctx;
    pc->connected = true;
    pc->connected_us = pal_now_us();
}

static void on_failed(void *ctx, enum pal_media_fail_code code, const char *reason)
{
    struct load_pc *pc = ctx;
    char why[256];
    snprintf(why, sizeof(why), "%s PC %s failed: %s", pal_media_pc_name(pc->which),
             code == PAL_MEDIA_FAIL_DTLS ? "DTLS" : "ICE", reason ? reason : "");
    pc->failed = true;
    participant_fail(pc->p, true, why);
}

/* Only the subscribe PC's RTP is received (its transport gets these two). */
static void *on_accept_rtp(void *ctx, const struct pal_rtp_packet *hdr)
{
    (void)hdr;
    return ctx;
}

static void on_rtp(void *ctx, void *stream, const struct pal_rtp_packet *pkt)
{
    (void)stream;
    struct load_pc *pc = ctx;
    struct load_participant *p = pc->p;
    struct load_totals *tot = p->env->totals;
    int64_t now = pal_now_us();
    const struct pal_rtp_packet *h = pkt;
    /* Every packet the transport numbered, ours or not (padding, probes):
     * the feedback describes the transport, as a browser's does. */
    if (p->tcc)
        load_tcc_on_rtp(p->tcc, pkt, now);
    uint32_t source, counter;
    uint8_t layer;
    int64_t sent_us;
    if (load_trailer_read(pal_rtp_payload(h), h->payload_len, &source, &layer, &counter,
                          &sent_us) != 0 ||
        layer >= LOAD_MAX_LAYERS) {
        tot->received_other++;
        return;
    }
    const struct load_scenario *s = p->env->scenario;
    int from = (int)(source >> 1), room, idx;
    if (from < 0 || from >= s->participants) {
        tot->received_other++;
        return;
    }
    load_scenario_place(s, from, &room, &idx);
    size_t slot = (size_t)idx * 2 + (source & 1);
    if (room != p->room || slot >= (size_t)p->room_size * 2) {
        tot->received_other++; /* another room's media: a routing bug */
        return;
    }
    /* An offer that lists SSRCs: only those reach a browser's tracks. */
    if (p->sub_remote && p->sub_remote->n_ssrcs && !load_sub_remote_has_ssrc(p->sub_remote, h->ssrc)) {
        tot->received_unsignaled++;
        return;
    }
    int64_t delay = load_rx_add(&p->rx[slot], counter, layer, sent_us, now);
    if (source & 1)
        tot->received_by_layer[layer]++;
    load_hist_add(&tot->delay, delay);
    load_hist_add(&tot->delay_sec, delay);
    tot->received++;
    if (!p->first_media_us)
        p->first_media_us = now;
}

static void on_rtcp(void *ctx, uint8_t *buf, size_t len)
{
    struct load_pc *pc = ctx;
    if (pc->which != PAL_MEDIA_PC_PUBLISH)
        return; /* receiver reports to a subscriber: nothing to count */
    struct load_totals *tot = pc->p->env->totals;
    struct pal_rtcp_iter it;
    struct pal_rtcp_packet r;
    pal_rtcp_iter_init(&it, buf, len);
    while (pal_rtcp_next(&it, &r, NULL) == 1) {
        if (r.kind == PAL_RTCP_NACK) {
            uint16_t seqs[256];
            tot->nack_received++;
            tot->nack_seqs_received += pal_rtcp_nack_seqs(&r, seqs, PAL_ARRAY_LEN(seqs));
        } else if (r.kind == PAL_RTCP_TWCC) {
            tot->twcc_received++;
        } else if (r.kind == PAL_RTCP_PLI || r.kind == PAL_RTCP_FIR) {
            tot->pli_received++;
            /* A PLI names the stream (with simulcast, one layer); a FIR, or
             * a PLI for an SSRC we do not send, restarts every video stream. */
            struct load_participant *p = pc->p;
            bool named = false;
            for (size_t i = 0; r.kind == PAL_RTCP_PLI && i < p->n_senders; i++)
                named |= p->senders[i].video && p->senders[i].ssrc == r.fb.media_ssrc;
            for (size_t i = 0; i < p->n_senders; i++)
                if (p->senders[i].video && (!named || p->senders[i].ssrc == r.fb.media_ssrc))
                    p->senders[i].keyframe_wanted = true;
        }
    }
}

static int open_pc(struct load_participant *p, enum pal_media_pc which)
{
    struct load_pc *pc = &p->pcs[which];
    if (pc->t)
        return 0;
    pc->p = p;
    pc->which = which;
    pal_random_hex(pc->local.ufrag, 4);
    pal_random_hex(pc->local.pwd, 12);
    struct pal_transport_listener l = {
        .ctx = pc,
        .log_room = p->room_name,
        .log_participant = p->name,
        .log_pc = pal_media_pc_name(which),
        .on_transport_candidate = on_candidate,
        .on_transport_gathering_done = on_gathering_done,
        .on_transport_connected = on_connected,
        .on_transport_failed = on_failed,
        .media_ctx = pc,
        .on_transport_accept_rtp = which == PAL_MEDIA_PC_SUBSCRIBE ? on_accept_rtp : NULL,
        .on_transport_rtp = on_rtp,
        .on_transport_rtcp = on_rtcp,
    };
    /* The offerer controls (RFC 8445 6.1.1): we offer on the publish PC. */
    return pal_transport_create(p->env->ctx, &p->media_cfg, p->env->cert,
                                which == PAL_MEDIA_PC_PUBLISH, &pc->local, NULL, &l, &pc->t);
}

/* ---- SDP ----------------------------------------------------------------------- */

static void sdp_local(const struct load_participant *p, const struct load_pc *pc,
                      struct pal_sdp_local *l)
{
    memset(l, 0, sizeof(*l));
    snprintf(l->ice_ufrag, sizeof(l->ice_ufrag), "%s", pc->local.ufrag);
    snprintf(l->ice_pwd, sizeof(l->ice_pwd), "%s", pc->local.pwd);
    char fp[PAL_DTLS_FINGERPRINT_LEN + 16];
    snprintf(fp, sizeof(fp), "sha-256 %s", pal_dtls_cert_fingerprint(p->env->cert));
    pal_sdp_fingerprint_parse(fp, &l->fingerprint);
    snprintf(l->origin_sess_id, sizeof(l->origin_sess_id), "%d", 1000 + p->index);
    l->origin_sess_version = 1;
}

/* Remote ICE/DTLS (the BUNDLE transport) and the candidates the peer's
 * description lists. */
static int apply_remote(struct load_participant *p, struct load_pc *pc,
                        const struct load_sub_remote *r, enum pal_dtls_role our_role)
{
    (void)p;
    struct pal_media_ice_params remote = {0};
    struct pal_media_dtls_params dtls = {.our_role = our_role};
    snprintf(remote.ufrag, sizeof(remote.ufrag), "%s", r->ice_ufrag);
    snprintf(remote.pwd, sizeof(remote.pwd), "%s", r->ice_pwd);
    if (strcmp(r->fingerprint.algorithm, "sha-256") != 0 ||
        pal_sdp_fingerprint_format(&r->fingerprint, dtls.fingerprint, sizeof(dtls.fingerprint)) < 0)
        return -EINVAL;
    int rc = pal_transport_set_remote(pc->t, &pc->local, &remote, &dtls);
    if (rc)
        return rc;
    if (!pc->remote_set) {
        pc->remote_set = true;
        for (size_t i = 0; i < pc->n_remote_q; i++)
            pal_transport_add_remote_candidate(pc->t, &pc->remote_q[i]);
        pc->n_remote_q = 0;
    }
    for (size_t i = 0; i < r->n_candidates; i++) {
        struct pal_media_candidate c;
        pal_sdp_candidate_to_media(&r->candidates[i], &c);
        add_remote(pc, &c);
    }
    if (pc->remote_end || r->end_of_candidates)
        pal_transport_remote_gathering_done(pc->t);
    return 0;
}

/* The same from a parsed description: its first accepted m-line carries
 * the BUNDLE transport. */
static int remote_from_desc(const struct pal_session_desc *d, struct load_sub_remote *r)
{
    memset(r, 0, sizeof(*r));
    int idx = 0;
    while (idx < d->n_media && d->media[idx].port == 0)
        idx++;
    if (idx == d->n_media)
        return -EINVAL;
    struct pal_sdp_transport tr;
    pal_sdp_effective_transport(d, idx, &tr);
    snprintf(r->ice_ufrag, sizeof(r->ice_ufrag), "%s", tr.ice_ufrag);
    snprintf(r->ice_pwd, sizeof(r->ice_pwd), "%s", tr.ice_pwd);
    r->fingerprint = tr.fingerprint;
    for (uint8_t i = 0; i < d->media[idx].n_candidates && r->n_candidates < LOAD_SUB_MAX_CANDIDATES;
         i++)
        r->candidates[r->n_candidates++] = d->media[idx].candidates[i];
    r->end_of_candidates = d->media[idx].end_of_candidates || d->end_of_candidates;
    return 0;
}

static struct pal_session_desc *parse_or_fail(struct load_participant *p, const char *sdp)
{
    struct pal_session_desc *d = calloc(1, sizeof(*d));
    struct pal_sdp_error err = {0};
    if (!d || pal_sdp_parse(sdp, strlen(sdp), d, &err) != 0) {
        char why[256];
        snprintf(why, sizeof(why), "the server's SDP does not parse: %s", err.message);
        participant_fail(p, true, why);
        free(d);
        return NULL;
    }
    return d;
}

/* The extmap id the offer gives sdes:rtp-stream-id: above the ones
 * pal_sdp_build_offer uses. */
#define LOAD_EXT_RID 10

/* Turns the video m-section of a single-stream offer into a simulcast one,
 * as a browser writes it for sendEncodings [f, h, q]: the rid extension,
 * a=rid:<id> send per layer, a=simulcast:send f;h;q, and no a=ssrc lines
 * (the server learns each layer's SSRC from the rid in the RTP header).
 * Returns a new string (caller frees) or NULL. */
static char *offer_simulcast(const char *sdp, const struct load_media_source *m)
{
    GString *out = g_string_sized_new(strlen(sdp) + 256);
    bool in_video = false;
    for (const char *l = sdp; *l;) {
        size_t n = strcspn(l, "\r\n");
        const char *next = l + n + strspn(l + n, "\r\n");
        bool m_line = !strncmp(l, "m=", 2);
        if (m_line && in_video) /* the end of the video section */
            in_video = false;
        if (in_video && (!strncmp(l, "a=ssrc:", 7) || !strncmp(l, "a=ssrc-group:", 13))) {
            l = next;
            continue;
        }
        g_string_append_len(out, l, (gssize)n);
        g_string_append(out, "\r\n");
        if (m_line && !strncmp(l, "m=video", 7)) {
            in_video = true;
            g_string_append_printf(out, "a=extmap:%d %s\r\n", LOAD_EXT_RID, PAL_SDP_URI_RID);
            /* Highest first, as Chrome lists [f, h, q] encodings: Janus
             * takes the a=simulcast order as high to low (Palabre orders
             * q, h, f by name whatever the order). */
            for (int k = m->n_layers - 1; k >= 0; k--)
                g_string_append_printf(out, "a=rid:%s send\r\n", load_layer_rid(m, k));
            g_string_append(out, "a=simulcast:send ");
            for (int k = m->n_layers - 1; k >= 0; k--)
                g_string_append_printf(out, "%s%s", k < m->n_layers - 1 ? ";" : "",
                                       load_layer_rid(m, k));
            g_string_append(out, "\r\n");
        }
        l = next;
    }
    return g_string_free(out, FALSE);
}

char *participant_publish_offer(struct load_participant *p)
{
    if (!p->publishes || open_pc(p, PAL_MEDIA_PC_PUBLISH) != 0)
        return NULL;
    struct pal_sdp_track tracks[2];
    memset(tracks, 0, sizeof(tracks));
    size_t n_tracks = 0;
    for (size_t i = 0; i < p->n_senders; i++) {
        const struct load_sender *s = &p->senders[i];
        if (s->layer) /* the other simulcast layers: the same track */
            continue;
        struct pal_sdp_track *t = &tracks[n_tracks++];
        t->kind = s->video ? PAL_SDP_KIND_VIDEO : PAL_SDP_KIND_AUDIO;
        t->pt = s->pt;
        snprintf(t->mid, sizeof(t->mid), "%s", s->mid);
        t->active = true;
        t->ssrc = s->ssrc;
        snprintf(t->cname, sizeof(t->cname), "%s", p->name);
        snprintf(t->stream_id, sizeof(t->stream_id), "%s", p->name);
        snprintf(t->track_id, sizeof(t->track_id), "%s-%s", s->video ? "video" : "audio", p->name);
    }
    struct pal_sdp_local local;
    sdp_local(p, &p->pcs[PAL_MEDIA_PC_PUBLISH], &local);
    struct pal_session_desc *d = calloc(1, sizeof(*d));
    struct pal_sdp_error err = {0};
    char *text = NULL;
    if (d && pal_sdp_build_offer(tracks, n_tracks, &local, d, &err) == 0)
        text = pal_sdp_write_alloc(d, &err);
    free(d);
    if (text && p->env->media->n_layers > 1) {
        char *sim = offer_simulcast(text, p->env->media);
        free(text);
        text = sim;
    }
    if (!text)
        participant_fail(p, true, err.message[0] ? err.message : "publish offer");
    return text;
}

int participant_publish_answer(struct load_participant *p, const char *sdp)
{
    struct load_pc *pc = &p->pcs[PAL_MEDIA_PC_PUBLISH];
    struct pal_session_desc *d = pc->t ? parse_or_fail(p, sdp) : NULL;
    if (!d)
        return -EINVAL;
    /* Payload types and the mid extension id as the server accepted them. */
    for (size_t i = 0; i < p->n_senders; i++) {
        int m = pal_sdp_find_mid(d, p->senders[i].mid);
        if (m < 0 || d->media[m].port == 0 || d->media[m].n_codecs == 0)
            continue;
        p->senders[i].pt = d->media[m].codecs[0].pt;
        p->senders[i].ext_mid_id = pal_sdp_find_extmap(&d->media[m], PAL_SDP_EXT_MID);
        p->senders[i].ext_rid_id = pal_sdp_find_extmap(&d->media[m], PAL_SDP_EXT_RID);
        p->senders[i].ext_twcc_id =
            p->env->no_tcc ? 0 : pal_sdp_find_extmap(&d->media[m], PAL_SDP_EXT_TRANSPORT_CC);
        p->senders[i].twcc_seq = &p->twcc_seq;
    }
    /* We offered actpass: the answerer picks; active there makes us the server. */
    struct pal_sdp_transport tr;
    pal_sdp_effective_transport(d, 0, &tr);
    struct load_sub_remote r;
    int rc = remote_from_desc(d, &r);
    if (!rc)
        rc = apply_remote(p, pc, &r,
                          tr.setup == PAL_SDP_SETUP_ACTIVE ? PAL_DTLS_SERVER : PAL_DTLS_CLIENT);
    free(d);
    if (rc)
        participant_fail(p, true, "publish answer: no usable ICE/DTLS parameters");
    return rc;
}

static void sub_remote_free(struct load_sub_remote *r)
{
    if (r)
        load_sub_remote_clear(r);
    free(r);
}

char *participant_subscribe_offer(struct load_participant *p, const char *sdp)
{
    struct load_pc *pc = &p->pcs[PAL_MEDIA_PC_SUBSCRIBE];
    if (open_pc(p, PAL_MEDIA_PC_SUBSCRIBE) != 0) {
        participant_fail(p, true, "cannot create the subscribe transport");
        return NULL;
    }
    struct pal_sdp_local local;
    sdp_local(p, pc, &local);
    /* Written from the offer's text: pal_session_desc stops at
     * PAL_SDP_MAX_MEDIA m-lines, the server's limit, which the tool must
     * not share to measure it (sub_answer.h). We answer as a browser
     * answers an SFU's actpass: active. */
    struct load_sub_remote *r = calloc(1, sizeof(*r));
    char err[160] = "out of memory", *text = NULL;
    if (r && load_sub_answer(sdp, &local, &text, r, err, sizeof(err)) == 0 &&
        apply_remote(p, pc, r, PAL_DTLS_CLIENT) != 0) {
        free(text);
        text = NULL;
        snprintf(err, sizeof(err), "subscribe offer: no usable ICE/DTLS");
    }
    if (text && !p->tcc) {
        uint32_t ssrc;
        pal_random_bytes(&ssrc, sizeof(ssrc));
        if (load_tcc_create(ssrc | 1, &p->tcc) != 0) {
            free(text);
            text = NULL;
            snprintf(err, sizeof(err), "out of memory");
        }
    }
    if (text) { /* its SSRCs are what we receive from now on */
        load_tcc_set_ext(p->tcc, r->ext_twcc);
        sub_remote_free(p->sub_remote);
        p->sub_remote = r;
    } else {
        sub_remote_free(r);
        participant_fail(p, true, err);
    }
    return text;
}

/* ---- life ------------------------------------------------------------------------ */

static void on_ws_message(void *ctx, char *text, size_t len)
{
    struct load_participant *p = ctx;
    if (p->env->trace)
        fprintf(stderr, "<< %d %.*s\n", p->index, (int)PAL_MIN(len, 8000), text);
    json_t *msg = json_loadb(text, len, 0, NULL);
    if (!msg)
        return;
    p->env->sig->on_message(p, msg);
    json_decref(msg);
}

static void on_ws_open(void *ctx)
{
    struct load_participant *p = ctx;
    if (p->env->sig->start(p) != 0)
        participant_fail(p, false, "cannot start signaling");
}

static void on_ws_closed(void *ctx, const char *why)
{
    struct load_participant *p = ctx;
    if (p->env->sending || !p->joined_us)
        participant_fail(p, false, why);
}

int participant_send_json(struct load_participant *p, json_t *msg)
{
    if (!msg)
        return -ENOMEM;
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!text)
        return -ENOMEM;
    if (p->env->trace)
        fprintf(stderr, ">> %d %.600s\n", p->index, text);
    int rc = p->ws ? load_ws_send(p->ws, text, strlen(text)) : -ENOTCONN;
    free(text);
    return rc;
}

int participant_use_turn(struct load_participant *p, json_t *ice_servers)
{
    json_t *server = json_array_get(ice_servers, 0);
    const char *user = json_string_value(json_object_get(server, "username"));
    const char *pass = json_string_value(json_object_get(server, "credential"));
    json_t *urls = json_object_get(server, "urls");
    struct pal_media_config *c = &p->media_cfg;
    if (!user || !pass || strlen(user) >= sizeof(c->turn_user) || strlen(pass) >= sizeof(c->turn_pass))
        return -EINVAL;
    for (size_t i = 0; i < json_array_size(urls); i++) {
        /* turn:ADDR[:PORT][?transport=udp], ADDR numeric (no resolver here) */
        const char *u = json_string_value(json_array_get(urls, i));
        const char *q = u ? strchr(u, '?') : NULL;
        if (!u || strncmp(u, "turn:", 5) != 0 || (q && strcmp(q, "?transport=udp") != 0))
            continue;
        char host[64];
        size_t n = strcspn(u + 5, ":?");
        if (n == 0 || n >= sizeof(host))
            continue;
        memcpy(host, u + 5, n);
        host[n] = '\0';
        struct in_addr a;
        int port = u[5 + n] == ':' ? atoi(u + 6 + n) : 3478;
        if (inet_pton(AF_INET, host, &a) != 1 || port <= 0 || port > 65535)
            continue;
        snprintf(c->turn_ip, sizeof(c->turn_ip), "%s", host);
        c->turn_port = port;
        snprintf(c->turn_user, sizeof(c->turn_user), "%s", user);
        snprintf(c->turn_pass, sizeof(c->turn_pass), "%s", pass);
        return 0;
    }
    return -ENOENT;
}

void participant_joined(struct load_participant *p)
{
    if (!p->joined_us)
        p->joined_us = pal_now_us();
}

void participant_fail(struct load_participant *p, bool media, const char *why)
{
    if (p->gone)
        return;
    p->gone = true;
    if (media)
        p->env->totals->media_errors++;
    else
        p->env->totals->signaling_errors++;
    fprintf(stderr, "palabre-load: participant %d (%s): %s\n", p->index, p->room_name, why);
}

int participant_create(struct load_env *env, int index, struct load_participant **out)
{
    *out = NULL;
    struct load_participant *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    const struct load_scenario *s = env->scenario;
    p->env = env;
    p->index = index;
    load_scenario_place(s, index, &p->room, &p->index_in_room);
    p->room_size = load_scenario_room_size(s, p->room);
    p->publishes = load_scenario_publishes(s, p->index_in_room);
    snprintf(p->room_name, sizeof(p->room_name), "%s-%d", env->room_prefix, p->room);
    snprintf(p->name, sizeof(p->name), "load-%d", index);
    p->pcs[0].p = p->pcs[1].p = p;
    p->pcs[0].which = PAL_MEDIA_PC_PUBLISH;
    p->pcs[1].which = PAL_MEDIA_PC_SUBSCRIBE;
    p->rx = calloc((size_t)p->room_size * 2, sizeof(*p->rx));
    if (!p->rx) {
        free(p);
        return -ENOMEM;
    }
    if (p->publishes) {
        /* each publisher starts at its own point of the loops */
        if (s->audio)
            load_sender_init(&p->senders[p->n_senders++], env->media, false,
                             !load_scenario_talks(s, p->index_in_room), 0, (uint32_t)index,
                             (size_t)index * 7);
        /* the layers of one camera start on the same frame: their
         * keyframes coincide, as a browser's encoder makes them */
        for (int l = 0; s->video && l < env->media->n_layers; l++)
            load_sender_init(&p->senders[p->n_senders++], env->media, true, false, l,
                             (uint32_t)index, (size_t)index * 11);
    }
    p->media_cfg = env->media_cfg;
    p->start_us = pal_now_us();
    struct load_ws_listener l = {.ctx = p, .on_ws_open = on_ws_open,
                                 .on_ws_message = on_ws_message, .on_ws_closed = on_ws_closed};
    int rc = load_ws_connect(env->ctx, env->url, env->sig->subprotocol, &l, &p->ws);
    if (rc) {
        participant_destroy(p);
        return rc;
    }
    *out = p;
    return 0;
}

void participant_destroy(struct load_participant *p)
{
    if (!p)
        return;
    load_ws_destroy(p->ws);
    if (p->sig && p->env->sig->free_state)
        p->env->sig->free_state(p->sig);
    for (int i = 0; i < 2; i++) {
        pal_transport_destroy(p->pcs[i].t);
        for (size_t k = 0; k < p->pcs[i].n_local_q; k++)
            free(p->pcs[i].local_q[k]);
    }
    sub_remote_free(p->sub_remote);
    load_tcc_destroy(p->tcc);
    free(p->rx);
    free(p);
}

static int send_rtp(void *ctx, uint8_t *pkt, size_t len, size_t cap)
{
    struct load_participant *p = ctx;
    return pal_transport_send_rtp(p->pcs[PAL_MEDIA_PC_PUBLISH].t, pkt, len, cap);
}

void participant_send_due(struct load_participant *p, int64_t now_us)
{
    struct load_pc *pc = &p->pcs[PAL_MEDIA_PC_PUBLISH];
    if (!p->env->sending || !pc->connected || pc->failed)
        return;
    struct load_totals *tot = p->env->totals;
    for (size_t i = 0; i < p->n_senders; i++) {
        struct load_sender *s = &p->senders[i];
        if (!s->next_us) /* spread publishers over the frame interval */
            s->next_us = now_us + (int64_t)((uint32_t)p->index * 7919u % (uint32_t)s->interval_us);
        while (s->next_us <= now_us) {
            if (now_us - s->next_us > 50000) {
                tot->late_ticks++;
                s->next_us = now_us;
            }
            uint32_t before = s->counter;
            int ok = load_sender_emit_frame(s, p->env->media, send_rtp, p);
            tot->sent[s->video] += s->counter - before;
            tot->send_errors += s->counter - before - (uint32_t)ok;
            s->next_us += s->interval_us;
        }
    }
}

void participant_feedback_due(struct load_participant *p, int64_t now_us)
{
    struct load_pc *pc = &p->pcs[PAL_MEDIA_PC_SUBSCRIBE];
    if (!p->tcc || p->env->no_tcc || !pc->connected || pc->failed || now_us < p->next_feedback_us)
        return;
    p->next_feedback_us = now_us + LOAD_TCC_INTERVAL_US;
    /* room for the SRTCP trailer (index and tag) past the packets */
    uint8_t buf[1200 + 64];
    size_t len;
    if (load_tcc_build(p->tcc, buf, 1200, &len) != 0)
        return;
    if (pal_transport_send_rtcp(pc->t, buf, len, sizeof(buf)) != 0)
        p->env->totals->twcc_send_errors++;
}
