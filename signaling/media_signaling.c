/* The media messages of docs/protocol.md ("Media (WebRTC)") on the
 * signaling thread: publish, subscribe_offer/subscribe_answer,
 * ice_candidate, subscribe_restart, set_receive, media_error, active_speaker,
 * track_quality.
 *
 * set_receive "mixed": the participant's subscribe offer then holds exactly
 * two active m-lines, the room mixer's audio (its N-1 mix) and video
 * (composite), stream id PAL_MEDIA_MIXER_ID; the per-participant m-lines
 * are rejected (and come back, in recycled m-lines, on "sfu"). The media
 * worker starts the room's mixer with its first such consumer and stops it
 * with the last. At most [mixer] max_rooms rooms are mixed at once: past
 * it, receive "mixed" is refused with mixer_busy.
 *
 * Subscribe offers stay bounded: an m-line whose track is gone is rejected
 * and, once the browser has answered that, recycled for the next track of
 * its kind under a new mid (see struct offered); a publisher is offered at
 * most PAL_MEDIA_MAX_TRACKS tracks. What cannot be offered is logged at
 * warning and retried when the browser answers.
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
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "palabre/access.h"
#include "palabre/log.h"
#include "palabre/media.h"
#include "palabre/media_signaling.h"
#include "palabre/protocol.h"
#include "palabre/rooms.h"
#include "palabre/sdp.h"
#include "palabre/sdp_simulcast.h"
#include "palabre/sdp_media.h"
#include "palabre/server.h"
#include "palabre/session.h"

/* A subscribe offer holds at most this many m-lines, inactive and rejected
 * ones included: the active ones (at most 2 per other participant) and the
 * rejected ones not yet recycled. */
#define MAX_OFFERED PAL_SDP_MAX_MEDIA
/* Largest SDP taken from a client: a browser's subscribe answer for a
 * meeting of 100 with cameras is well above 64 kB (the connection's
 * [limits] max_message_bytes caps it first). */
#define SDP_MAX (1024 * 1024)

/* ---- state ---------------------------------------------------------------- */

/* An m-line of a subscribe offer. Its track gone, it goes inactive (the
 * first m-line, which carries the BUNDLE transport) or is rejected (port 0);
 * a rejected one the browser has answered takes the next track of its kind
 * under a new mid (JSEP 5.2.2), so churn does not grow the offer. */
enum slot { SLOT_ACTIVE, SLOT_INACTIVE, SLOT_REJECTED };

struct offered {
    char mid[12];
    enum pal_media_kind kind;
    enum slot slot;
    bool recyclable; /* rejected, and the browser answered so */
    char producer[PAL_MEDIA_ID_MAX];
    char producer_mid[PAL_MEDIA_MID_MAX];
    char track_id[PAL_MEDIA_ID_MAX];
    uint32_t ssrc;
    /* as in the last offer sent, which the answer answers */
    char sent_mid[12];
    enum slot sent_slot;
};

/* One participant's media state, hung off its struct pal_participant. */
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
    struct offered *offered; /* MAX_OFFERED, allocated with the first m-line */
    size_t n_offered;
    size_t n_sent;     /* m-lines in the last offer sent */
    uint32_t next_mid; /* mids are never reused on this PC */
    int version;
    bool awaiting_answer;
    bool dirty;
    bool starved; /* a track could not be offered (offer full): retried after answers */
    bool starved_logged; /* warned once per episode */
    bool mixed;   /* receive "mixed": the room's mix instead of one track each */
};

/* A track_stats request waiting for its media worker's answer. */
struct stats_wait {
    uint32_t request;
    char requester[PAL_MEDIA_ID_MAX]; /* who asked: answered on its session then */
    char target[PAL_MEDIA_ID_MAX];
    json_t *id; /* the request's id (a reference) */
    int64_t since_ms;
};
/* Bounds on what track_stats makes the server hold: per participant
 * asking, and in all. */
#define STATS_WAIT_PER_PARTICIPANT 4
#define STATS_WAIT_MAX 1024
/* An answer lost on the way (the event queue was full) is answered with an
 * error after this long, at the next request or event. */
#define STATS_WAIT_MS 10000

/* A room that holds one of the mixer's [mixer] max_rooms places. */
struct mixed_room {
    char room[PAL_MEDIA_ID_MAX];
    int n_mixed; /* its participants receiving the mix */
};

struct pal_media_signaling {
    /* borrowed */
    struct pal_server *srv;
    /* owned */
    struct pal_media *media;
    struct mixed_room *mixed_rooms; /* [mixer] max_rooms entries */
    /* Descriptions are ~7 MB (session_desc.h): one for what a client sends,
     * one for what the server writes, kept across requests (a fresh one
     * each time doubled the cost of a subscribe answer in a meeting of 100:
     * page faults). Only the pages of the m-lines used are touched. */
    struct pal_session_desc *desc_in, *desc_out;
    struct stats_wait *stats_waits; /* STATS_WAIT_MAX, allocated with the first */
    /* /metrics' per-room figures, read when the page is asked for: the
     * first rooms of the first workers, a bound on the page's size */
    struct pal_media_room_bwe room_bwe[128];
    /* state */
    int n_mixed_rooms;
    uint64_t candidates_ignored; /* TCP and mDNS candidates, never sent to a worker */
    size_t n_stats_waits;
    uint32_t next_stats_request;
};

/* ---- SDP (signaling/sdp.c) -------------------------------------------------- */

/* The server's side of every description: ICE credentials and fingerprint. */
static void sdp_local(struct pal_media_signaling *ms, struct pal_sdp_local *l,
                      const struct pal_media_ice_params *ice, int version)
{
    memset(l, 0, sizeof(*l));
    snprintf(l->ice_ufrag, sizeof(l->ice_ufrag), "%s", ice->ufrag);
    snprintf(l->ice_pwd, sizeof(l->ice_pwd), "%s", ice->pwd);
    char fp[PAL_DTLS_FINGERPRINT_LEN + 16];
    snprintf(fp, sizeof(fp), "sha-256 %s", pal_media_fingerprint(ms->media));
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

/* ---- participants' state -------------------------------------------------------- */

static struct part *part_of(struct pal_participant *p)
{
    return p ? p->media : NULL;
}

static struct part *part_find(struct pal_media_signaling *ms, const char *pid)
{
    return part_of(pal_rooms_find_participant(pal_server_rooms(ms->srv), pid));
}

static void part_free(struct part *p)
{
    if (!p)
        return;
    free(p->offered);
    free(p);
}

static void new_ice(struct pal_media_ice_params *ice)
{
    pal_random_hex(ice->ufrag, 4);
    pal_random_hex(ice->pwd, 12);
}

static void post(struct pal_media_signaling *ms, const struct pal_media_cmd *c)
{
    int rc = pal_media_post(ms->media, c);
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

/* ---- the mixer's places ([mixer] max_rooms) ---------------------------------------- */

static struct mixed_room *mixed_room_find(struct pal_media_signaling *ms, const char *room)
{
    for (int i = 0; i < ms->n_mixed_rooms; i++)
        if (!strcmp(ms->mixed_rooms[i].room, room))
            return &ms->mixed_rooms[i];
    return NULL;
}

/* Whether a participant of room may receive the mix: the room is mixed
 * already, or a place is free. */
static bool mix_admissible(struct pal_media_signaling *ms, const char *room)
{
    return mixed_room_find(ms, room) ||
           ms->n_mixed_rooms < pal_server_config(ms->srv)->mixer_max_rooms;
}

static void mix_busy_message(struct pal_media_signaling *ms, char *why, size_t len)
{
    snprintf(why, len, "the mixer is busy: this server mixes at most %d room(s) at once ([mixer] max_rooms)",
             pal_server_config(ms->srv)->mixer_max_rooms);
}

/* p starts receiving the mix: its room takes (or shares) a place. */
static int mix_acquire(struct pal_media_signaling *ms, struct part *p)
{
    struct mixed_room *r = mixed_room_find(ms, p->room);
    if (!r) {
        if (!mix_admissible(ms, p->room))
            return -EBUSY;
        r = &ms->mixed_rooms[ms->n_mixed_rooms++];
        snprintf(r->room, sizeof(r->room), "%s", p->room);
        r->n_mixed = 0;
        PAL_INFO("media", p->room, p->pid, "room mixed (%d of %d mixer places)",
                 ms->n_mixed_rooms, pal_server_config(ms->srv)->mixer_max_rooms);
    }
    r->n_mixed++;
    return 0;
}

/* p stops receiving the mix (switched to sfu, or gone): the room's place is
 * freed with its last mixed participant. */
static void mix_release(struct pal_media_signaling *ms, struct part *p)
{
    struct mixed_room *r = mixed_room_find(ms, p->room);
    if (!r || --r->n_mixed > 0)
        return;
    *r = ms->mixed_rooms[--ms->n_mixed_rooms];
    PAL_INFO("media", p->room, p->pid, "room no longer mixed");
}

static bool on_mix_admit(struct pal_session *s, char *why, size_t len, void *ud)
{
    struct pal_media_signaling *ms = ud;
    if (mix_admissible(ms, pal_session_room(s)))
        return true;
    mix_busy_message(ms, why, len);
    PAL_WARN("media", pal_session_room(s), pal_session_participant_id(s),
             "receive mixed refused at join: %s", why);
    return false;
}

/* ---- subscribe offers -------------------------------------------------------- */

static bool offered_has(const struct part *p, const char *producer, const char *mid)
{
    for (size_t i = 0; i < p->n_offered; i++)
        if (p->offered[i].slot == SLOT_ACTIVE && !strcmp(p->offered[i].producer, producer) &&
            !strcmp(p->offered[i].producer_mid, mid))
            return true;
    return false;
}

static bool published_has(struct pal_media_signaling *ms, const char *room, const char *producer,
                          const char *mid)
{
    struct part *q = part_find(ms, producer);
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
static bool offered_wanted(struct pal_media_signaling *ms, const struct part *p,
                           const struct offered *o)
{
    if (p->mixed)
        return is_mixer(o);
    return !is_mixer(o) && published_has(ms, p->room, o->producer, o->producer_mid);
}

/* The subscribe offer for p's current m-lines, or (as_sent) the last one
 * sent, to check its answer against (heap: a description is big). */
static struct pal_session_desc *build_subscribe_offer(struct pal_media_signaling *ms,
                                                      const struct part *p, int version,
                                                      bool as_sent, struct pal_sdp_error *err)
{
    size_t n = as_sent ? p->n_sent : p->n_offered;
    struct pal_sdp_track *tr = calloc(n ? n : 1, sizeof(*tr));
    struct pal_sdp_local *local = calloc(1, sizeof(*local));
    struct pal_session_desc *d = ms->desc_out;
    if (!tr || !local) {
        free(tr);
        free(local);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const struct offered *o = &p->offered[i];
        enum slot slot = as_sent ? o->sent_slot : o->slot;
        tr[i].kind = o->kind == PAL_MEDIA_AUDIO ? PAL_SDP_KIND_AUDIO : PAL_SDP_KIND_VIDEO;
        snprintf(tr[i].mid, sizeof(tr[i].mid), "%s", as_sent ? o->sent_mid : o->mid);
        tr[i].active = slot == SLOT_ACTIVE;
        tr[i].rejected = slot == SLOT_REJECTED;
        tr[i].ssrc = o->ssrc;
        snprintf(tr[i].cname, sizeof(tr[i].cname), "%.63s", o->producer);
        snprintf(tr[i].stream_id, sizeof(tr[i].stream_id), "%.63s", o->producer);
        snprintf(tr[i].track_id, sizeof(tr[i].track_id), "%.63s", o->track_id);
    }
    sdp_local(ms, local, &p->sub_local, version);
    int rc = pal_sdp_build_offer(tr, n, local, d, err);
    free(tr);
    free(local);
    return rc ? NULL : d;
}

static void send_subscribe_offer(struct pal_media_signaling *ms, struct part *p)
{
    struct pal_session *s = pal_server_find_participant(ms->srv, p->pid);
    if (!s)
        return;
    struct pal_sdp_error err = {0};
    struct pal_session_desc *d = build_subscribe_offer(ms, p, p->version + 1, false, &err);
    char *sdp = d ? pal_sdp_write_alloc(d, &err) : NULL;
    if (!sdp) {
        PAL_WARN("media", p->room, p->pid, "subscribe offer not sent (%zu m-lines): %s",
                 p->n_offered, d ? err.message : "out of memory");
        return;
    }
    p->version++;
    p->awaiting_answer = true;
    p->dirty = false;
    p->n_sent = p->n_offered;
    for (size_t i = 0; i < p->n_offered; i++) {
        memcpy(p->offered[i].sent_mid, p->offered[i].mid, sizeof(p->offered[i].sent_mid));
        p->offered[i].sent_slot = p->offered[i].slot;
    }
    pal_session_send(s, json_pack("{s:s,s:s,s:i}", "type", "subscribe_offer", "sdp", sdp,
                                  "version", p->version));
    free(sdp);
}

/* The m-line for a new track of this kind: a rejected one the browser has
 * answered (recycled, JSEP 5.2.2), else a new one at the end; NULL when
 * the offer is full (or memory short). */
static struct offered *slot_take(struct part *p, enum pal_media_kind kind)
{
    if (!p->offered && !(p->offered = calloc(MAX_OFFERED, sizeof(*p->offered))))
        return NULL;
    for (size_t i = 0; i < p->n_offered; i++) {
        struct offered *o = &p->offered[i];
        if (o->slot == SLOT_REJECTED && o->recyclable && o->kind == kind)
            return o;
    }
    if (p->n_offered == MAX_OFFERED)
        return NULL;
    struct offered *o = &p->offered[p->n_offered++];
    memset(o, 0, sizeof(*o));
    o->sent_slot = SLOT_REJECTED; /* not in any offer sent yet */
    return o;
}

/* Puts an m-line forwarding (producer, producer_mid) in p's offer and tells
 * the media worker. Returns false when p's offer is full (logged once until
 * it has room again) or memory is short. */
static bool offer_add(struct pal_media_signaling *ms, struct part *p, const char *producer,
                      const char *producer_mid, enum pal_media_kind kind, const char *track_id)
{
    struct pal_media_cmd c;
    struct offered *o = slot_take(p, kind);
    if (!o) {
        if (!p->starved_logged)
            PAL_WARN("media", p->room, p->pid,
                     "%s's %s track not offered: the subscribe offer is full (%d m-lines, "
                     "none recyclable yet); retried when the browser answers",
                     producer, kind == PAL_MEDIA_AUDIO ? "audio" : "video", MAX_OFFERED);
        p->starved = p->starved_logged = true;
        return false;
    }
    if (!p->sub_open) {
        new_ice(&p->sub_local);
        cmd_init(&c, PAL_MEDIA_CMD_SUBSCRIBE_OPEN, p, PAL_MEDIA_PC_SUBSCRIBE);
        c.u.subscribe.local = p->sub_local;
        post(ms, &c);
        p->sub_open = true;
    }
    snprintf(o->mid, sizeof(o->mid), "%" PRIu32, p->next_mid++);
    o->kind = kind;
    o->slot = SLOT_ACTIVE;
    o->recyclable = false;
    snprintf(o->producer, sizeof(o->producer), "%s", producer);
    snprintf(o->producer_mid, sizeof(o->producer_mid), "%s", producer_mid);
    snprintf(o->track_id, sizeof(o->track_id), "%s", track_id);
    do
        pal_random_bytes(&o->ssrc, sizeof(o->ssrc));
    while (o->ssrc == 0);
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
    ct->ext_twcc = PAL_SDP_SUB_EXT_TRANSPORT_CC; /* offered on every m-line */
    post(ms, &c);
    return true;
}

struct add_ctx {
    struct pal_media_signaling *ms;
    struct part *p;
    bool changed;
};

/* Offers p what q publishes and p does not receive yet. */
static void add_from(struct pal_participant *pq, void *ud)
{
    struct add_ctx *a = ud;
    struct part *q = part_of(pq), *p = a->p;
    if (!q || q == p)
        return;
    for (size_t t = 0; t < q->n_tracks; t++) {
        const struct pal_media_track *tr = &q->tracks[t];
        if (offered_has(p, q->pid, tr->mid))
            continue;
        const char *track_id = tr->track_id[0] ? tr->track_id
                               : tr->kind == PAL_MEDIA_AUDIO ? "audio"
                                                             : "video";
        if (offer_add(a->ms, p, q->pid, tr->mid, tr->kind, track_id))
            a->changed = true;
    }
}

/* Brings p's subscribe offer in line with what the others publish, or with
 * the room's mix when p receives it. */
static void renegotiate(struct pal_media_signaling *ms, struct part *p)
{
    struct add_ctx a = {ms, p, false};
    struct pal_media_cmd c;
    for (size_t i = 0; i < p->n_offered; i++) {
        struct offered *o = &p->offered[i];
        if (o->slot == SLOT_ACTIVE && !offered_wanted(ms, p, o)) {
            /* The first m-line carries the BUNDLE transport: never rejected. */
            o->slot = i == 0 ? SLOT_INACTIVE : SLOT_REJECTED;
            o->recyclable = false;
            a.changed = true;
            cmd_init(&c, PAL_MEDIA_CMD_CONSUMER_REMOVE, p, PAL_MEDIA_PC_SUBSCRIBE);
            snprintf(c.u.consumer.track.mid, sizeof(c.u.consumer.track.mid), "%s", o->mid);
            post(ms, &c);
        }
    }
    p->starved = false; /* set again below if a track still finds no m-line */
    if (p->mixed) {
        static const struct {
            const char *mid, *track_id;
            enum pal_media_kind kind;
        } mix[] = {{"audio", "mix-audio", PAL_MEDIA_AUDIO}, {"video", "mix-video", PAL_MEDIA_VIDEO}};
        for (size_t i = 0; i < PAL_ARRAY_LEN(mix); i++)
            if (!offered_has(p, PAL_MEDIA_MIXER_ID, mix[i].mid) &&
                offer_add(ms, p, PAL_MEDIA_MIXER_ID, mix[i].mid, mix[i].kind, mix[i].track_id))
                a.changed = true;
    } else {
        pal_rooms_each_in_room(pal_server_rooms(ms->srv), p->room, add_from, &a);
    }
    if (!p->starved)
        p->starved_logged = false;
    if (!a.changed && !p->dirty)
        return;
    if (p->awaiting_answer) {
        p->dirty = true; /* sent when the pending answer arrives */
        return;
    }
    send_subscribe_offer(ms, p);
}

struct room_ctx {
    struct pal_media_signaling *ms;
    const struct part *except;
};

static void renegotiate_one(struct pal_participant *pq, void *ud)
{
    struct room_ctx *r = ud;
    struct part *q = part_of(pq);
    if (q && q != r->except)
        renegotiate(r->ms, q);
}

static void renegotiate_room(struct pal_media_signaling *ms, const char *room,
                             const struct part *except)
{
    struct room_ctx r = {ms, except};
    pal_rooms_each_in_room(pal_server_rooms(ms->srv), room, renegotiate_one, &r);
}

/* ---- hard mute (moderation.c sets mic_blocked / camera_blocked) ------------------- */

/* Posts the participant's hard mute, both kinds, as it stands: idempotent.
 * The media worker keeps it with the participant's media (every producer of
 * that kind, current and later, inherits it), and commands of a room run in
 * order, so a publish posted after it is blocked from its first packet. */
static void post_blocks(struct pal_media_signaling *ms, const struct part *p,
                        const struct pal_participant *pp)
{
    struct pal_media_cmd c;
    for (int k = PAL_MEDIA_AUDIO; k <= PAL_MEDIA_VIDEO; k++) {
        cmd_init(&c, PAL_MEDIA_CMD_TRACK_BLOCK, p, PAL_MEDIA_PC_PUBLISH);
        c.u.block.kind = (enum pal_media_kind)k;
        c.u.block.blocked = k == PAL_MEDIA_AUDIO ? pp->mic_blocked : pp->camera_blocked;
        post(ms, &c);
    }
}

static void on_blocked(struct pal_session *s, void *ud)
{
    struct pal_media_signaling *ms = ud;
    struct pal_participant *pp = pal_session_participant(s);
    struct part *p = part_of(pp);
    if (p)
        post_blocks(ms, p, pp);
}

/* ---- requests ------------------------------------------------------------------ */

static struct part *part_or_reply(struct pal_session *s, json_t *id)
{
    struct part *p = part_of(pal_session_participant(s));
    if (!p)
        pal_session_reply_error(s, id, "not_joined", NULL, "join a room first");
    return p;
}

/* Parses the request's sdp into ms->desc_in; NULL after replying sdp_invalid. */
static struct pal_session_desc *sdp_or_reply(struct pal_media_signaling *ms, struct pal_session *s,
                                             json_t *id, json_t *req)
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
    struct pal_session_desc *d = ms->desc_in;
    struct pal_sdp_error err = {0};
    if (pal_sdp_parse(sdp, strlen(sdp), d, &err) != 0) {
        pal_session_reply_error(s, id, "sdp_invalid", "sdp", "%s", err.message);
        return NULL;
    }
    return d;
}

static void on_publish(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    struct pal_media_signaling *ms = ud;
    struct part *p = part_or_reply(s, id);
    if (!p)
        return;
    struct pal_session_desc *offer = sdp_or_reply(ms, s, id, req);
    if (!offer)
        return;
    struct pal_session_desc *answer = ms->desc_out;
    struct pal_sdp_local *local = calloc(1, sizeof(*local));
    struct pal_media_cmd *c = calloc(1, sizeof(*c));
    char *text = NULL;
    struct pal_sdp_error err = {0};
    if (!local || !c) {
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
    sdp_local(ms, local, &p->pub_local, 2);
    if (pal_sdp_build_answer(offer, local, answer, &err) != 0 ||
        !(text = pal_sdp_write_alloc(answer, &err))) {
        pal_session_reply_error(s, id, "sdp_unsupported", "sdp", "%s", err.message);
        goto out;
    }
    c->u.publish.local = p->pub_local;
    c->u.publish.dtls.our_role = PAL_DTLS_SERVER; /* we answer a=setup:passive */
    for (unsigned i = 0; i < answer->n_media && i < offer->n_media; i++) {
        const struct pal_sdp_media *am = &answer->media[i], *om = &offer->media[i];
        if (am->port == 0 || am->direction != PAL_SDP_DIR_RECVONLY || am->n_codecs == 0)
            continue;
        if (c->u.publish.n_tracks == PAL_MEDIA_MAX_TRACKS) {
            /* What one publisher makes every subscriber's offer hold is bounded. */
            pal_session_reply_error(s, id, "sdp_unsupported", "sdp",
                                    "at most %d tracks per publish offer", PAL_MEDIA_MAX_TRACKS);
            goto out;
        }
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
        t->ext_rid = pal_sdp_find_extmap(am, PAL_SDP_EXT_RID);
        t->ext_repaired_rid = pal_sdp_find_extmap(am, PAL_SDP_EXT_REPAIRED_RID);
        int nl = pal_sdp_simulcast_layers(am, PAL_SDP_DIR_RECVONLY, t->rids, PAL_MEDIA_MAX_LAYERS,
                                          NULL);
        if (nl > 0 && t->ext_rid) {
            t->n_layers = (uint8_t)nl;
            t->ssrc = 0; /* one per layer, learnt from the rid extension */
        }
    }
    struct pal_participant *pp = pal_session_participant(s);
    if (pp->mic_blocked || pp->camera_blocked)
        post_blocks(ms, p, pp); /* kept by the worker already: only if that command was lost */
    post(ms, c);
    p->published = true;
    snprintf(p->pub_remote_ufrag, sizeof(p->pub_remote_ufrag), "%s", c->u.publish.remote.ufrag);
    snprintf(p->pub_first_mid, sizeof(p->pub_first_mid), "%s", offer->media[0].mid);
    p->n_tracks = c->u.publish.n_tracks;
    memcpy(p->tracks, c->u.publish.tracks, sizeof(p->tracks));
    pal_session_reply_ok(s, id, json_pack("{s:s}", "sdp", text));
    renegotiate_room(ms, p->room, p);
out:
    free(text);
    free(c);
    free(local);
}

static void on_subscribe_answer(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    struct pal_media_signaling *ms = ud;
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
    struct pal_session_desc *answer = sdp_or_reply(ms, s, id, req);
    if (!answer)
        return;
    struct pal_sdp_error err = {0};
    struct pal_session_desc *offer = build_subscribe_offer(ms, p, p->version, true, &err);
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
        post(ms, &c);
        snprintf(p->sub_remote_ufrag, sizeof(p->sub_remote_ufrag), "%s",
                 c.u.subscribe.remote.ufrag);
    }
    p->awaiting_answer = false;
    /* m-lines this answer saw rejected may now carry new tracks (new mids) */
    for (size_t i = 0; i < p->n_sent; i++) {
        struct offered *o = &p->offered[i];
        if (o->slot == SLOT_REJECTED && o->sent_slot == SLOT_REJECTED &&
            !strcmp(o->mid, o->sent_mid))
            o->recyclable = true;
    }
    pal_session_reply_ok(s, id, NULL);
    if (p->dirty || p->starved)
        renegotiate(ms, p);
out:;
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
    struct pal_media_signaling *ms = ud;
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
            ms->candidates_ignored++;
            pal_session_reply_ok(s, id, NULL); /* valid, not usable here: ignored */
            return;
        }
    }
    post(ms, &c);
    pal_session_reply_ok(s, id, NULL);
}

static void on_subscribe_restart(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    struct pal_media_signaling *ms = ud;
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
    post(ms, &c);
    p->awaiting_answer = false; /* a restart replaces any pending offer */
    send_subscribe_offer(ms, p);
}

/* set_receive {mode: "sfu" | "mixed"}: switches p's subscribe PC between one
 * track per participant and the room's mix, by renegotiation (no rejoin).
 * Past [mixer] max_rooms mixed rooms, "mixed" is refused (mixer_busy). */
static void on_set_receive(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    struct pal_media_signaling *ms = ud;
    struct part *p = part_or_reply(s, id);
    if (!p)
        return;
    bool mixed;
    if (!pal_receive_mode_or_reply(s, id, req, "mode", true, &mixed))
        return;
    if (mixed && !p->mixed && mix_acquire(ms, p) != 0) {
        char why[160];
        mix_busy_message(ms, why, sizeof(why));
        PAL_WARN("media", p->room, p->pid, "receive mixed refused: %s", why);
        pal_session_reply_error(s, id, "mixer_busy", "mode", "%s", why);
        return;
    }
    const char *mode = mixed ? "mixed" : "sfu";
    pal_session_reply_ok(s, id, json_pack("{s:s}", "mode", mode));
    if (p->mixed == mixed)
        return;
    PAL_INFO("media", p->room, p->pid, "receives %s", mode);
    if (!mixed)
        mix_release(ms, p);
    p->mixed = mixed;
    pal_session_participant(s)->receive_mixed = mixed; /* the mode a resume keeps */
    renegotiate(ms, p);
}

/* ---- track_stats: a published track's server counters ------------------------------- */

static const char *kind_name(enum pal_media_kind k)
{
    return k == PAL_MEDIA_AUDIO ? "audio" : "video";
}

static void stats_wait_drop(struct pal_media_signaling *ms, size_t i)
{
    json_decref(ms->stats_waits[i].id);
    ms->stats_waits[i] = ms->stats_waits[--ms->n_stats_waits];
}

/* Answers lost on the way (event queue full): an error, not a silence. */
static void stats_waits_expire(struct pal_media_signaling *ms, int64_t now_ms)
{
    for (size_t i = 0; i < ms->n_stats_waits;) {
        struct stats_wait *w = &ms->stats_waits[i];
        if (now_ms - w->since_ms < STATS_WAIT_MS) {
            i++;
            continue;
        }
        struct pal_session *s = pal_server_find_participant(ms->srv, w->requester);
        if (s)
            pal_session_reply_error(s, w->id, "internal", NULL,
                                    "the media worker did not answer; ask again");
        stats_wait_drop(ms, i);
    }
}

static void stats_answer(struct pal_media_signaling *ms, const struct pal_media_event *ev)
{
    size_t i = 0;
    while (i < ms->n_stats_waits && ms->stats_waits[i].request != ev->u.track_stats.request)
        i++;
    if (i == ms->n_stats_waits)
        return; /* the asker left meanwhile */
    struct stats_wait *w = &ms->stats_waits[i];
    struct pal_session *s = pal_server_find_participant(ms->srv, w->requester);
    json_t *tracks = json_array();
    for (uint8_t k = 0; k < ev->u.track_stats.n && k < PAL_MEDIA_MAX_TRACKS; k++) {
        const struct pal_media_track_stats *t = &ev->u.track_stats.tracks[k];
        json_array_append_new(
            tracks, json_pack("{s:s,s:s,s:I,s:I,s:b}", "mid", t->mid, "kind", kind_name(t->kind),
                              "packets_received", (json_int_t)t->packets_received,
                              "packets_forwarded", (json_int_t)t->packets_forwarded,
                              "blocked", t->blocked));
    }
    if (s)
        pal_session_reply_ok(s, w->id,
                             json_pack("{s:s,s:o}", "participant_id", w->target, "tracks", tracks));
    else
        json_decref(tracks);
    stats_wait_drop(ms, i);
}

/* A track source: "camera" (the video track not named screen-...) or
 * "screen". Sends bad_field/missing_field itself. */
static bool source_or_reply(struct pal_session *s, json_t *id, json_t *req, bool *screen)
{
    const char *v = pal_string_or_reply(s, id, req, "source", 1, 16, true);
    if (!v)
        return false;
    if (strcmp(v, "camera") && strcmp(v, "screen")) {
        pal_session_reply_error(s, id, "bad_field", "source", "source: \"camera\" or \"screen\"");
        return false;
    }
    *screen = !strcmp(v, "screen");
    return true;
}

#define VIEW_MAX_PIXELS 16384 /* a tile's side in device pixels (8K is 7680) */

/* set_track_view {participant_id, source, width, height, visible}: how this
 * participant shows another's video track. A hidden one is not forwarded;
 * a simulcast one gets the smallest layer that fills width x height. */
static void on_set_track_view(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    struct pal_media_signaling *ms = ud;
    struct part *me = part_or_reply(s, id);
    json_int_t w, h;
    bool screen, visible;
    const char *pid;
    if (!me ||
        !(pid = pal_string_or_reply(s, id, req, "participant_id", 1, PAL_MEDIA_ID_MAX - 1, true)) ||
        !source_or_reply(s, id, req, &screen) ||
        !pal_int_or_reply(s, id, req, "width", 0, VIEW_MAX_PIXELS, true, &w) ||
        !pal_int_or_reply(s, id, req, "height", 0, VIEW_MAX_PIXELS, true, &h) ||
        !pal_bool_or_reply(s, id, req, "visible", true, &visible))
        return;
    struct pal_participant *target = pal_rooms_find_participant(pal_server_rooms(ms->srv), pid);
    struct part *tp = part_of(target);
    if (!target || target->waiting || strcmp(target->room, me->room) != 0 || target == pal_session_participant(s)) {
        pal_session_reply_error(s, id, "unknown_participant", "participant_id",
                                "no other participant '%s' in this room", pid);
        return;
    }
    const struct pal_media_track *t = NULL;
    for (size_t i = 0; tp && i < tp->n_tracks && !t; i++)
        if (tp->tracks[i].kind == PAL_MEDIA_VIDEO &&
            !strncmp(tp->tracks[i].track_id, "screen-", 7) == screen)
            t = &tp->tracks[i];
    if (!t) {
        pal_session_reply_error(s, id, "unknown_track", "source",
                                "participant '%s' publishes no %s video", pid,
                                screen ? "screen" : "camera");
        return;
    }
    struct pal_media_cmd c;
    cmd_init(&c, PAL_MEDIA_CMD_TRACK_VIEW, me, PAL_MEDIA_PC_SUBSCRIBE);
    snprintf(c.u.view.producer, sizeof(c.u.view.producer), "%s", tp->pid);
    snprintf(c.u.view.producer_mid, sizeof(c.u.view.producer_mid), "%s", t->mid);
    c.u.view.view.width = (uint16_t)w;
    c.u.view.view.height = (uint16_t)h;
    c.u.view.view.visible = visible;
    if (pal_media_post(ms->media, &c) != 0) {
        pal_session_reply_rate_limited(s, id, 200, "the media worker is busy");
        return;
    }
    pal_session_reply_ok(s, id, json_pack("{s:s,s:s,s:i}", "participant_id", pid, "source",
                                          screen ? "screen" : "camera", "layers",
                                          (int)t->n_layers));
}

/* track_stats {participant_id}: the server's counters of each track that
 * participant publishes. Anyone about themselves, a moderator about anyone
 * in the room. Answered when the room's media worker has read them. */
static void on_track_stats(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    struct pal_media_signaling *ms = ud;
    struct pal_participant *me = pal_session_participant(s);
    const char *target_id = pal_string_or_reply(s, id, req, "participant_id", 1,
                                                PAL_MEDIA_ID_MAX - 1, false);
    if (!target_id && json_object_get(req, "participant_id"))
        return;
    if (!target_id)
        target_id = me->id;
    struct pal_participant *target =
        pal_rooms_find_participant(pal_server_rooms(ms->srv), target_id);
    if (!target || target->waiting || strcmp(target->room, me->room) != 0) {
        pal_session_reply_error(s, id, "unknown_participant", "participant_id",
                                "no participant '%s' in this room", target_id);
        return;
    }
    if (target != me && !pal_access_can_moderate(me)) {
        pal_session_reply_error(s, id, "forbidden", "participant_id",
                                "only a moderator (or the owner) may see another participant's "
                                "track counters");
        return;
    }
    int64_t now = pal_now_ms();
    stats_waits_expire(ms, now);
    size_t mine = 0;
    for (size_t i = 0; i < ms->n_stats_waits; i++)
        mine += strcmp(ms->stats_waits[i].requester, me->id) == 0;
    if (mine >= STATS_WAIT_PER_PARTICIPANT || ms->n_stats_waits >= STATS_WAIT_MAX) {
        pal_session_reply_rate_limited(s, id, 200, "%d track_stats requests already wait",
                                       STATS_WAIT_PER_PARTICIPANT);
        return;
    }
    if (!ms->stats_waits &&
        !(ms->stats_waits = calloc(STATS_WAIT_MAX, sizeof(*ms->stats_waits)))) {
        pal_session_reply_error(s, id, "internal", NULL, "out of memory");
        return;
    }
    struct part *p = part_of(target);
    if (!p) { /* no media state (yet): nothing published */
        pal_session_reply_ok(s, id, json_pack("{s:s,s:[]}", "participant_id", target->id,
                                              "tracks"));
        return;
    }
    struct pal_media_cmd c;
    cmd_init(&c, PAL_MEDIA_CMD_TRACK_STATS, p, PAL_MEDIA_PC_PUBLISH);
    c.u.stats.request = ++ms->next_stats_request;
    if (pal_media_post(ms->media, &c) != 0) {
        pal_session_reply_rate_limited(s, id, 200, "the media worker is busy");
        return;
    }
    struct stats_wait *w = &ms->stats_waits[ms->n_stats_waits++];
    w->request = c.u.stats.request;
    snprintf(w->requester, sizeof(w->requester), "%s", me->id);
    snprintf(w->target, sizeof(w->target), "%s", target->id);
    w->id = json_incref(id);
    w->since_ms = now;
}

/* ---- participants ------------------------------------------------------------------ */

static void on_joined(struct pal_session *s, void *ud)
{
    struct pal_media_signaling *ms = ud;
    struct pal_participant *pp = pal_session_participant(s);
    if (!pp || pp->media)
        return;
    struct part *p = calloc(1, sizeof(*p));
    if (!p) {
        PAL_WARN("media", pp->room, pp->id, "out of memory: no media for this participant");
        return;
    }
    snprintf(p->pid, sizeof(p->pid), "%s", pp->id);
    snprintf(p->room, sizeof(p->room), "%s", pp->room);
    /* join's receive, admitted by the join handler (on_mix_admit) just before */
    if (pp->receive_mixed && mix_acquire(ms, p) == 0) {
        p->mixed = true;
        PAL_INFO("media", p->room, p->pid, "receives mixed (join)");
    }
    pp->receive_mixed = p->mixed;
    pp->media = p;
    struct pal_media_cmd c;
    cmd_init(&c, PAL_MEDIA_CMD_PARTICIPANT_ADD, p, PAL_MEDIA_PC_PUBLISH);
    post(ms, &c);
    if (pp->mic_blocked || pp->camera_blocked)
        post_blocks(ms, p, pp);
    renegotiate(ms, p);
}

static void on_left(struct pal_session *s, void *ud)
{
    struct pal_media_signaling *ms = ud;
    struct pal_participant *pp = pal_session_participant(s);
    struct part *p = part_of(pp);
    if (!p)
        return;
    struct pal_media_cmd c;
    cmd_init(&c, PAL_MEDIA_CMD_PARTICIPANT_REMOVE, p, PAL_MEDIA_PC_PUBLISH);
    post(ms, &c);
    if (p->mixed)
        mix_release(ms, p);
    for (size_t i = 0; i < ms->n_stats_waits;) /* nobody to answer any more */
        if (strcmp(ms->stats_waits[i].requester, p->pid) == 0)
            stats_wait_drop(ms, i);
        else
            i++;
    pp->media = NULL; /* still in the room during the call: the others see it gone */
    renegotiate_room(ms, p->room, NULL);
    part_free(p);
}

/* ---- events from the media workers --------------------------------------------- */

static void send_candidate(struct pal_session *s, const struct part *p,
                           const struct pal_media_event *ev)
{
    /* The subscribe side: the first m-line, the BUNDLE tag (never rejected). */
    const char *mid = p->n_offered ? p->offered[0].mid : "0";
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

/* track_quality {participant_id, source, layer, paused, reason}: what the
 * subscriber gets of a video track now, and whether its bandwidth (not
 * its view) decided; a track gone meanwhile is not told. The room's mix
 * (receive=mixed) is told as participant "mixer", source camera: its
 * composite is one stream (layer null), paused or not. */
static void send_track_quality(struct pal_media_signaling *ms, struct pal_session *s,
                               const struct pal_media_event *ev)
{
    int l = ev->u.quality.layer;
    const char *source = "camera";
    json_t *layer = json_null();
    if (strcmp(ev->u.quality.producer, PAL_MEDIA_MIXER_ID) != 0) {
        struct part *tp = part_find(ms, ev->u.quality.producer);
        const struct pal_media_track *t = NULL;
        for (size_t i = 0; tp && i < tp->n_tracks && !t; i++)
            if (!strcmp(tp->tracks[i].mid, ev->u.quality.producer_mid))
                t = &tp->tracks[i];
        if (!t || t->kind != PAL_MEDIA_VIDEO)
            return;
        if (l >= 0 && l < (int)t->n_layers)
            layer = json_string(t->rids[l]);
        if (!strncmp(t->track_id, "screen-", 7))
            source = "screen";
    }
    pal_session_send(s, json_pack("{s:s,s:s,s:s,s:o,s:b,s:s}", "type", "track_quality",
                                  "participant_id", ev->u.quality.producer, "source", source,
                                  "layer", layer, "paused", l < 0, "reason",
                                  ev->u.quality.limited ? "bandwidth" : "view"));
}

static void drain_events(struct pal_server *srv, void *ud)
{
    struct pal_media_signaling *ms = ud;
    struct pal_media_event ev;
    while (pal_media_poll_event(ms->media, &ev) == 1) {
        if (ev.type == PAL_MEDIA_EV_TRACK_STATS) {
            stats_answer(ms, &ev);
            continue;
        }
        if (ev.type == PAL_MEDIA_EV_ACTIVE_SPEAKER) {
            pal_server_broadcast(srv, ev.room, NULL,
                                 json_pack("{s:s,s:s}", "type", "active_speaker",
                                           "participant_id", ev.participant));
            continue;
        }
        struct part *p = part_find(ms, ev.participant);
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
        case PAL_MEDIA_EV_TRACK_QUALITY:
            send_track_quality(ms, s, &ev);
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


/* /metrics: the per-room bandwidth summaries, a family after the other (the
 * label is the room name, [a-z0-9-] as protocol.c checks: nothing to escape). */
static size_t room_metrics(struct pal_media_signaling *ms, struct pal_metric *out, size_t cap)
{
    static const struct {
        const char *name, *type, *help;
    } fam[] = {
        {"palabre_media_room_bwe_subscribers", "gauge",
         "Per room: subscribers with a send-side bandwidth estimate."},
        {"palabre_media_room_bwe_estimate_avg_bps", "gauge",
         "Per room: mean send-side bandwidth estimate of its subscribers, bit/s."},
        {"palabre_media_room_bwe_estimate_min_bps", "gauge",
         "Per room: lowest send-side bandwidth estimate of its subscribers, bit/s."},
        {"palabre_media_room_bwe_paused_tracks", "gauge",
         "Per room: video tracks paused for a subscriber's bandwidth."},
        {"palabre_media_room_layer_switches_bandwidth_total", "counter",
         "Per room: simulcast layer switches made for a subscriber's bandwidth estimate."},
    };
    size_t rooms = pal_media_get_room_bwe(ms->media, ms->room_bwe, PAL_ARRAY_LEN(ms->room_bwe));
    size_t n = 0;
    for (size_t f = 0; f < PAL_ARRAY_LEN(fam); f++)
        for (size_t i = 0; i < rooms && n < cap; i++) {
            const struct pal_media_room_bwe *b = &ms->room_bwe[i];
            uint64_t v[] = {b->subscribers, b->avg_bps, b->min_bps, b->paused_tracks_bw,
                            b->layer_switches_bw};
            out[n++] = (struct pal_metric){fam[f].name, fam[f].type, fam[f].help, (double)v[f],
                                           b->room};
        }
    return n;
}

/* /metrics: the workers' counters, summed. */
static size_t media_metrics(struct pal_metric *out, size_t cap, void *ud)
{
    struct pal_media_signaling *ms = ud;
    struct pal_media_stats m;
    pal_media_get_stats(ms->media, &m);
    const struct {
        const char *name, *type, *help;
        double value;
    } all[] = {
        {"palabre_media_rooms", "gauge", "Rooms open on the media workers.", (double)m.rooms},
        {"palabre_media_transports", "gauge", "PeerConnection transports.", (double)m.transports},
        {"palabre_media_rtp_in_packets_total", "counter", "RTP packets received from publishers.",
         (double)m.rtp_in},
        {"palabre_media_rtp_out_packets_total", "counter",
         "RTP packets sent to subscribers (forwarded).", (double)m.rtp_out},
        {"palabre_media_rtcp_in_packets_total", "counter", "RTCP packets received.",
         (double)m.rtcp_in},
        {"palabre_media_rtcp_out_packets_total", "counter", "RTCP packets sent.",
         (double)m.rtcp_out},
        {"palabre_media_nack_in_total", "counter", "NACKs received from subscribers.",
         (double)m.nack_in},
        {"palabre_media_retransmitted_packets_total", "counter",
         "Packets resent from the retransmission rings.", (double)m.retransmitted},
        {"palabre_media_pli_out_total", "counter", "Keyframe requests (PLI) sent to publishers.",
         (double)m.pli_out},
        {"palabre_media_layer_switches_total", "counter",
         "Simulcast layer switches made for subscribers (tile size, layers started or stopped).",
         (double)m.layer_switches},
        {"palabre_media_paused_tracks", "gauge",
         "Video tracks not forwarded to a subscriber: it hides them, or its bandwidth is short.",
         (double)m.paused_tracks},
        {"palabre_media_layer_switches_bandwidth_total", "counter",
         "Of the simulcast layer switches, those made for a subscriber's bandwidth estimate "
         "(the others follow its view).",
         (double)m.layer_switches_bw},
        {"palabre_media_layer_switches_view_total", "counter",
         "Of the simulcast layer switches, those made for a subscriber's view (set_track_view, "
         "layers starting or stopping).",
         (double)(m.layer_switches - m.layer_switches_bw)},
        {"palabre_media_bwe_paused_tracks", "gauge",
         "Video tracks a subscriber shows but does not get: its bandwidth estimate is below "
         "their lowest layer's rate (audio goes on).",
         (double)m.paused_tracks_bw},
        {"palabre_media_temporal_drops_total", "counter",
         "Times a subscriber's video track went down to a lower VP8 temporal layer (its "
         "bandwidth estimate was cut: frame rate first, before any layer switch).",
         (double)m.temporal_drops},
        {"palabre_media_bwe_subscribers", "gauge",
         "Subscribers with a send-side bandwidth estimate (their transport-cc feedback came).",
         (double)m.bwe_subscribers},
        {"palabre_media_bwe_estimate_avg_bps", "gauge",
         "Mean send-side bandwidth estimate of those subscribers, bit/s (0: none).",
         m.bwe_subscribers ? (double)m.bwe_sum_bps / (double)m.bwe_subscribers : 0.0},
        {"palabre_media_bwe_estimate_min_bps", "gauge",
         "Lowest send-side bandwidth estimate of a subscriber, bit/s (0: none).",
         (double)m.bwe_min_bps},
        {"palabre_media_bwe_probes_total", "counter",
         "Probe clusters started: padding sent to a subscriber to find out whether its link "
         "has room for the layers its bandwidth holds back.",
         (double)m.bwe_probes},
        {"palabre_media_bwe_padding_bytes_total", "counter",
         "Padding bytes sent to subscribers by those probes.", (double)m.bwe_padding_bytes},
        {"palabre_media_dropped_in_packets_total", "counter",
         "Incoming packets dropped: undecryptable, unknown SSRC or malformed.",
         (double)m.dropped_in},
        {"palabre_media_sent_packets_total", "counter",
         "Datagrams the media workers handed to the kernel (batched sends).",
         (double)m.sent_packets},
        {"palabre_media_send_dropped_packets_total", "counter",
         "Datagrams the kernel refused (full socket buffer): dropped, not retried.",
         (double)m.send_dropped},
        {"palabre_media_send_calls_total", "counter",
         "Send system calls (sendmmsg) that carried them: packets per call = batching.",
         (double)m.send_calls},
        {"palabre_media_remote_candidates_ignored_total", "counter",
         "Remote ICE candidates accepted but not used: TCP, mDNS (.local) names, or an address "
         "no local one can reach (never sent a check).",
         (double)(m.candidates_unreachable + ms->candidates_ignored)},
        {"palabre_mixer_rooms", "gauge", "Rooms mixing, on the mixer threads.", (double)m.mixers},
        {"palabre_mixer_cpu_seconds_total", "counter", "CPU time of the mixer threads.",
         (double)m.mixer_cpu_us / 1e6},
        {"palabre_mixer_ticks_skipped_total", "counter",
         "Audio mix ticks lost: a mixer thread more than 200 ms late.",
         (double)m.mixer_ticks_skipped},
        {"palabre_mixer_dropped_packets_total", "counter",
         "Packets dropped between a media worker and its mixer thread (queue full).",
         (double)m.mixer_dropped},
        {"palabre_mixer_composite_slowed_rooms", "gauge",
         "Rooms whose composite runs below its configured frame rate (it could not keep up; "
         "the audio mix is not affected).",
         (double)m.mixer_video_slowed},
        {"palabre_mixer_composite_frames_dropped_total", "counter",
         "Composite frames left out because the composite could not keep up.",
         (double)m.mixer_video_frames_dropped},
        {"palabre_mixer_rooms_admitted", "gauge",
         "Rooms holding one of the mixer's places ([mixer] max_rooms).",
         (double)ms->n_mixed_rooms},
    };
    size_t n = PAL_MIN(cap, PAL_ARRAY_LEN(all));
    for (size_t i = 0; i < n; i++)
        out[i] = (struct pal_metric){all[i].name, all[i].type, all[i].help, all[i].value, NULL};
    return n + room_metrics(ms, out + n, cap - n);
}

static void free_bufs(struct pal_media_signaling *ms)
{
    while (ms->n_stats_waits)
        stats_wait_drop(ms, 0);
    free(ms->stats_waits);
    free(ms->mixed_rooms);
    free(ms->desc_in);
    free(ms->desc_out);
    free(ms);
}

int pal_media_signaling_create(struct pal_server *srv, struct pal_media_signaling **out)
{
    *out = NULL;
    const struct pal_config *cfg = pal_server_config(srv);
    struct pal_media_config mc = {
        .workers = cfg->media_workers,
        .port_min = cfg->port_min,
        .port_max = cfg->port_max,
        .add_loopback = pal_config_listen_is_loopback(cfg),
        .mixer_width = cfg->mixer_video_width & ~1,
        .mixer_height = cfg->mixer_video_height & ~1,
        .mixer_fps = cfg->mixer_video_fps,
        .mixer_bitrate_kbps = cfg->mixer_video_bitrate_kbps,
    };
    snprintf(mc.interfaces, sizeof(mc.interfaces), "%s", cfg->interfaces);
    snprintf(mc.public_ip, sizeof(mc.public_ip), "%s", cfg->public_ip);
    snprintf(mc.listen_addr, sizeof(mc.listen_addr), "%s", cfg->listen_addr);
    struct pal_media_signaling *ms = calloc(1, sizeof(*ms));
    if (!ms)
        return -ENOMEM;
    ms->srv = srv;
    ms->mixed_rooms = calloc(cfg->mixer_max_rooms > 0 ? (size_t)cfg->mixer_max_rooms : 1,
                             sizeof(*ms->mixed_rooms));
    ms->desc_in = calloc(1, sizeof(*ms->desc_in));
    ms->desc_out = calloc(1, sizeof(*ms->desc_out));
    int rc = ms->mixed_rooms && ms->desc_in && ms->desc_out
                 ? pal_media_create(&mc, wake_signaling, srv, &ms->media)
                 : -ENOMEM;
    if (rc) {
        free_bufs(ms);
        return rc;
    }
    const struct pal_participant_listener l = {
        .on_participant_joined = on_joined,
        .on_participant_left = on_left,
        .on_participant_blocked = on_blocked,
        .ud = ms,
    };
    if ((rc = pal_server_add_participant_listener(srv, &l)) ||
        (rc = pal_server_add_wake_hook(srv, drain_events, ms)) ||
        (rc = pal_server_add_metrics_source(srv, media_metrics, ms)) ||
        (rc = pal_server_register_handler(srv, "publish", on_publish, true, ms)) ||
        (rc = pal_server_register_handler(srv, "subscribe_answer", on_subscribe_answer, true,
                                          ms)) ||
        (rc = pal_server_register_handler(srv, "ice_candidate", on_ice_candidate, true, ms)) ||
        (rc = pal_server_register_handler(srv, "subscribe_restart", on_subscribe_restart, true,
                                          ms)) ||
        (rc = pal_server_register_handler(srv, "set_receive", on_set_receive, true, ms)) ||
        (rc = pal_server_register_handler(srv, "track_stats", on_track_stats, true, ms)) ||
        (rc = pal_server_register_handler(srv, "set_track_view", on_set_track_view, true, ms))) {
        /* Registrations cannot be undone: the caller destroys the server
         * without running it (nothing calls them before the loop). */
        pal_media_destroy(ms->media);
        free_bufs(ms);
        return rc;
    }
    pal_server_set_mix_admission(srv, on_mix_admit, ms);
    *out = ms;
    return 0;
}

static void free_part(struct pal_participant *pp, void *ud)
{
    (void)ud;
    part_free(pp->media);
    pp->media = NULL;
}

void pal_media_signaling_destroy(struct pal_media_signaling *ms)
{
    if (!ms)
        return;
    pal_media_destroy(ms->media);
    /* participants still there (normally none: they left before) */
    pal_rooms_each(pal_server_rooms(ms->srv), free_part, NULL);
    free_bufs(ms);
}

void pal_media_signaling_destroy_cb(void *ms)
{
    pal_media_signaling_destroy(ms);
}
