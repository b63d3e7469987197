/* A participant's transports wired to the router. See palabre/peer.h. */
#include "palabre/peer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/log.h"
#include "palabre/room.h"
#include "palabre/srtp.h"
#include "palabre/transport.h"

struct pc_slot {
    struct pal_peer *peer; /* back pointer, for the callbacks */
    enum pal_media_pc pc;
    struct pal_transport *t;
    bool dead; /* failed: free it at the next reap */
};

struct pal_peer {
    /* borrowed */
    const struct pal_peer_env *env;
    struct pal_room *room;
    struct pal_room_peer *rp;
    /* owned: the transports in slots */
    struct pc_slot pcs[2];
    /* state */
    char id[PAL_MEDIA_ID_MAX];
    struct pal_media_ice_params sub_local;
    char pub_mids[PAL_MEDIA_MAX_TRACKS][PAL_MEDIA_MID_MAX];
    size_t n_pub_mids;
};

static void emit(struct pal_peer *p, enum pal_media_event_type type, enum pal_media_pc pc,
                 struct pal_media_event *ev)
{
    ev->type = type;
    ev->pc = pc;
    snprintf(ev->room, sizeof(ev->room), "%s", pal_room_name(p->room));
    snprintf(ev->participant, sizeof(ev->participant), "%s", p->id);
    p->env->emit(p->env->emit_ud, ev);
}

static void on_candidate(void *ctx, const struct pal_media_candidate *c)
{
    struct pc_slot *s = ctx;
    struct pal_media_event ev = {0};
    ev.u.candidate = *c;
    emit(s->peer, PAL_MEDIA_EV_LOCAL_CANDIDATE, s->pc, &ev);
}

static void on_gathering_done(void *ctx)
{
    struct pc_slot *s = ctx;
    struct pal_media_event ev = {0};
    emit(s->peer, PAL_MEDIA_EV_GATHERING_DONE, s->pc, &ev);
}

static void on_connected(void *ctx, enum pal_srtp_profile profile)
{
    struct pc_slot *s = ctx;
    struct pal_peer *p = s->peer;
    PAL_INFO("media", pal_room_name(p->room), p->id, "%s PC connected, SRTP profile %s",
             pal_media_pc_name(s->pc), pal_srtp_profile_name(profile));
    pal_room_sink_ready(p->room, p->rp, s->pc, pal_now_ms());
    struct pal_media_event ev = {0};
    ev.u.connected.profile = profile;
    emit(p, PAL_MEDIA_EV_CONNECTED, s->pc, &ev);
}

static void on_failed(void *ctx, enum pal_media_fail_code code, const char *reason)
{
    struct pc_slot *s = ctx;
    struct pal_peer *p = s->peer;
    PAL_WARN("media", pal_room_name(p->room), p->id, "%s PC failed (%s): %s",
             pal_media_pc_name(s->pc), code == PAL_MEDIA_FAIL_DTLS ? "dtls" : "ice", reason);
    pal_room_set_sink(p->rp, s->pc, NULL);
    s->dead = true;
    struct pal_media_event ev = {0};
    ev.u.failed.code = code;
    snprintf(ev.u.failed.reason, sizeof(ev.u.failed.reason), "%s", reason ? reason : "");
    emit(p, PAL_MEDIA_EV_FAILED, s->pc, &ev);
}

static int open_pc(struct pal_peer *p, enum pal_media_pc pc,
                   const struct pal_media_ice_params *local)
{
    struct pc_slot *s = &p->pcs[pc];
    static const struct pal_transport_listener base = {
        .on_transport_candidate = on_candidate,
        .on_transport_gathering_done = on_gathering_done,
        .on_transport_connected = on_connected,
        .on_transport_failed = on_failed,
    };
    struct pal_transport_listener l = base;
    l.ctx = s;
    /* Packets go straight to the router; only the publish PC carries RTP. */
    l.media_ctx = p->rp;
    if (pc == PAL_MEDIA_PC_PUBLISH) {
        l.on_transport_accept_rtp = pal_room_peer_accept_rtp;
        l.on_transport_rtp = pal_room_peer_on_rtp;
        l.on_transport_rtcp = pal_room_peer_on_publish_rtcp;
    } else {
        l.on_transport_rtcp = pal_room_peer_on_subscribe_rtcp;
    }
    l.log_room = pal_room_name(p->room);
    l.log_participant = p->id;
    l.log_pc = pal_media_pc_name(pc);
    s->peer = p;
    s->pc = pc;
    s->dead = false;
    /* The offerer controls (RFC 8445 6.1.1): the browser for publish, us
     * for subscribe. */
    int rc = pal_transport_create(p->env->ctx, p->env->cfg, p->env->cert,
                                  pc == PAL_MEDIA_PC_SUBSCRIBE, local, p->env->batch, &l, &s->t);
    if (rc)
        return rc;
    struct pal_media_sink sink = {
        .ctx = s->t,
        .send_rtp = pal_transport_sink_rtp,
        .send_rtcp = pal_transport_send_rtcp,
    };
    pal_room_set_sink(p->rp, pc, &sink);
    return 0;
}

static void close_pc(struct pal_peer *p, enum pal_media_pc pc)
{
    struct pc_slot *s = &p->pcs[pc];
    if (!s->t)
        return;
    pal_room_set_sink(p->rp, pc, NULL);
    pal_transport_destroy(s->t);
    s->t = NULL;
    s->dead = false;
}

int pal_peer_create(const struct pal_peer_env *env, struct pal_room *room, const char *participant,
                    struct pal_peer **out)
{
    *out = NULL;
    struct pal_peer *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->env = env;
    p->room = room;
    snprintf(p->id, sizeof(p->id), "%s", participant);
    int rc = pal_room_peer_add(room, participant, &p->rp);
    if (rc) {
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void pal_peer_destroy(struct pal_peer *p)
{
    if (!p)
        return;
    close_pc(p, PAL_MEDIA_PC_PUBLISH);
    close_pc(p, PAL_MEDIA_PC_SUBSCRIBE);
    pal_room_peer_remove(p->room, p->id);
    free(p);
}

void pal_peer_reap(struct pal_peer *p)
{
    for (int pc = 0; pc < 2; pc++)
        if (p->pcs[pc].dead)
            close_pc(p, (enum pal_media_pc)pc);
}

int pal_peer_publish(struct pal_peer *p, const struct pal_media_cmd *cmd)
{
    int64_t now = pal_now_ms();
    struct pc_slot *s = &p->pcs[PAL_MEDIA_PC_PUBLISH];
    if (s->dead)
        close_pc(p, PAL_MEDIA_PC_PUBLISH);
    int rc;
    if (!s->t) {
        rc = open_pc(p, PAL_MEDIA_PC_PUBLISH, &cmd->u.publish.local);
        if (rc)
            return rc;
    }
    rc = pal_transport_set_remote(s->t, &cmd->u.publish.local, &cmd->u.publish.remote,
                                  &cmd->u.publish.dtls);
    if (rc) {
        close_pc(p, PAL_MEDIA_PC_PUBLISH);
        return rc;
    }
    /* The offer lists every track: drop the producers it no longer has. */
    for (size_t k = 0; k < p->n_pub_mids; k++) {
        bool kept = false;
        for (uint8_t i = 0; i < cmd->u.publish.n_tracks && i < PAL_MEDIA_MAX_TRACKS; i++)
            kept = kept || strcmp(cmd->u.publish.tracks[i].mid, p->pub_mids[k]) == 0;
        if (!kept)
            pal_room_producer_remove(p->room, p->rp, p->pub_mids[k]);
    }
    p->n_pub_mids = 0;
    for (uint8_t i = 0; i < cmd->u.publish.n_tracks && i < PAL_MEDIA_MAX_TRACKS; i++) {
        rc = pal_room_producer_add(p->room, p->rp, &cmd->u.publish.tracks[i], now);
        if (rc)
            PAL_WARN("media", pal_room_name(p->room), p->id, "track %s refused: %d",
                     cmd->u.publish.tracks[i].mid, rc);
        else
            snprintf(p->pub_mids[p->n_pub_mids++], PAL_MEDIA_MID_MAX, "%s",
                     cmd->u.publish.tracks[i].mid);
    }
    return 0;
}

int pal_peer_unpublish(struct pal_peer *p, const char *mid)
{
    return pal_room_producer_remove(p->room, p->rp, mid);
}

int pal_peer_block(struct pal_peer *p, enum pal_media_kind kind, bool blocked)
{
    return pal_room_block(p->room, p->rp, kind, blocked, pal_now_ms());
}

int pal_peer_set_view(struct pal_peer *p, const char *producer_pid, const char *producer_mid,
                      const struct pal_media_view *v)
{
    return pal_room_set_view(p->room, p->rp, producer_pid, producer_mid, v, pal_now_ms());
}

size_t pal_peer_track_stats(const struct pal_peer *p, struct pal_media_track_stats *out,
                            size_t cap)
{
    return pal_room_track_stats(p->rp, out, cap);
}

int pal_peer_subscribe_open(struct pal_peer *p, const struct pal_media_ice_params *local)
{
    struct pc_slot *s = &p->pcs[PAL_MEDIA_PC_SUBSCRIBE];
    if (s->dead)
        close_pc(p, PAL_MEDIA_PC_SUBSCRIBE);
    if (s->t) {
        if (strcmp(p->sub_local.ufrag, local->ufrag) == 0)
            return 0; /* renegotiation, same ICE session */
        /* subscribe_restart: new local credentials; the remote ones come
         * with the answer (pal_peer_subscribe_remote restarts ICE). */
        p->sub_local = *local;
        return 0;
    }
    p->sub_local = *local;
    return open_pc(p, PAL_MEDIA_PC_SUBSCRIBE, local);
}

int pal_peer_subscribe_remote(struct pal_peer *p, const struct pal_media_ice_params *remote,
                              const struct pal_media_dtls_params *dtls)
{
    struct pc_slot *s = &p->pcs[PAL_MEDIA_PC_SUBSCRIBE];
    if (!s->t)
        return -ENOENT;
    return pal_transport_set_remote(s->t, &p->sub_local, remote, dtls);
}

int pal_peer_consumer_add(struct pal_peer *p, const char *producer, const char *producer_mid,
                          const struct pal_media_track *t)
{
    return pal_room_consumer_add(p->room, p->rp, producer, producer_mid, t, pal_now_ms());
}

int pal_peer_consumer_remove(struct pal_peer *p, const char *mid)
{
    return pal_room_consumer_remove(p->room, p->rp, mid);
}

int pal_peer_remote_candidate(struct pal_peer *p, enum pal_media_pc pc,
                              const struct pal_media_candidate *c, bool end)
{
    struct pc_slot *s = &p->pcs[pc];
    if (!s->t || s->dead)
        return -ENOENT;
    if (end) {
        pal_transport_remote_gathering_done(s->t);
        return 0;
    }
    return pal_transport_add_remote_candidate(s->t, c);
}

int pal_peer_transports(const struct pal_peer *p)
{
    return (p->pcs[PAL_MEDIA_PC_PUBLISH].t != NULL) + (p->pcs[PAL_MEDIA_PC_SUBSCRIBE].t != NULL);
}
