/* The media messages of docs/protocol.md ("Media (WebRTC)") on the
 * signaling thread: publish, subscribe_offer/subscribe_answer,
 * ice_candidate, subscribe_restart, media_error, active_speaker.
 *
 * It keeps, per participant, what the media workers cannot know from
 * packets: the tracks each one publishes (from its publish offers) and the
 * m-lines of each one's subscribe offer. It turns SDP into the plain structs
 * of palabre/media.h, posts the commands to the room's media worker, and
 * sends the events the workers report (drained in a wake hook).
 *
 * SDP: until signaling/sdp.c (session_desc.h) lands, the few SDP facts
 * media needs are read and written here (media_sdp_*), limited to what
 * browsers send for Unified Plan + BUNDLE + rtcp-mux; see the REQUEST commit.
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
#include "palabre/signaling.h"

#define MAX_OFFERED 256 /* m-lines in one subscribe offer (inactive ones included) */
#define SDP_MAX 65536

static const char *const URI_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
static const char *const URI_TWCC =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
static const char *const URI_MID = "urn:ietf:params:rtp-hdrext:sdes:mid";

/* ---- SDP facts (see the header comment) --------------------------------- */

struct sdp_mline {
    enum pal_media_kind kind;
    bool known_kind; /* audio or video */
    char mid[PAL_MEDIA_MID_MAX];
    char direction[10];
    int opus_pt, vp8_pt;
    uint8_t ext_audio_level, ext_twcc, ext_mid;
    uint32_t ssrc;
    char track_id[PAL_MEDIA_ID_MAX];
};

struct sdp_facts {
    struct pal_media_ice_params ice;
    char fingerprint[PAL_DTLS_FINGERPRINT_LEN];
    bool fingerprint_other; /* a fingerprint with another hash only */
    char setup[10];
    bool bundle, rtcp_mux_all;
    size_t n_m;
    struct sdp_mline m[PAL_MEDIA_MAX_TRACKS];
};

static void copy_token(char *dst, size_t n, const char *src)
{
    size_t i = 0;
    while (src[i] && !isspace((unsigned char)src[i]) && i + 1 < n) {
        dst[i] = src[i];
        i++;
    }
    dst[i] = '\0';
}

/* Returns 0, or -EINVAL with msg filled (sdp_invalid), or -ENOTSUP
 * (sdp_unsupported). */
static int media_sdp_parse(const char *sdp, struct sdp_facts *f, char *msg, size_t msglen)
{
    memset(f, 0, sizeof(*f));
    f->rtcp_mux_all = true;
    if (strncmp(sdp, "v=0", 3) != 0) {
        snprintf(msg, msglen, "line 1: expected v=0");
        return -EINVAL;
    }
    struct sdp_mline *m = NULL;
    bool mux = false;
    int lineno = 0;
    const char *p = sdp;
    while (*p) {
        lineno++;
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len && p[len - 1] == '\r')
            len--;
        char line[1024];
        if (len >= sizeof(line)) {
            snprintf(msg, msglen, "line %d: longer than %zu characters", lineno,
                     sizeof(line) - 1);
            return -EINVAL;
        }
        memcpy(line, p, len);
        line[len] = '\0';
        p = end ? end + 1 : p + len;
        if (len == 0)
            continue;
        if (len < 2 || line[1] != '=') {
            snprintf(msg, msglen, "line %d: not <type>=<value>", lineno);
            return -EINVAL;
        }
        const char *v = line + 2;
        if (line[0] == 'm') {
            if (m && !mux)
                f->rtcp_mux_all = false;
            if (f->n_m == PAL_MEDIA_MAX_TRACKS) {
                snprintf(msg, msglen, "line %d: more than %d m-lines", lineno,
                         PAL_MEDIA_MAX_TRACKS);
                return -ENOTSUP;
            }
            m = &f->m[f->n_m++];
            mux = false;
            m->opus_pt = m->vp8_pt = -1;
            snprintf(m->direction, sizeof(m->direction), "sendrecv");
            if (strncmp(v, "audio ", 6) == 0) {
                m->kind = PAL_MEDIA_AUDIO;
                m->known_kind = true;
            } else if (strncmp(v, "video ", 6) == 0) {
                m->kind = PAL_MEDIA_VIDEO;
                m->known_kind = true;
            }
            continue;
        }
        if (line[0] != 'a')
            continue;
        if (strncmp(v, "ice-ufrag:", 10) == 0)
            copy_token(f->ice.ufrag, sizeof(f->ice.ufrag), v + 10);
        else if (strncmp(v, "ice-pwd:", 8) == 0)
            copy_token(f->ice.pwd, sizeof(f->ice.pwd), v + 8);
        else if (strncasecmp(v, "fingerprint:sha-256 ", 20) == 0)
            copy_token(f->fingerprint, sizeof(f->fingerprint), v + 20);
        else if (strncmp(v, "fingerprint:", 12) == 0)
            f->fingerprint_other = true;
        else if (strncmp(v, "setup:", 6) == 0)
            copy_token(f->setup, sizeof(f->setup), v + 6);
        else if (strncmp(v, "group:BUNDLE", 12) == 0)
            f->bundle = true;
        else if (!m)
            continue;
        else if (strcmp(v, "rtcp-mux") == 0)
            mux = true;
        else if (strncmp(v, "mid:", 4) == 0)
            copy_token(m->mid, sizeof(m->mid), v + 4);
        else if (!strcmp(v, "sendrecv") || !strcmp(v, "sendonly") || !strcmp(v, "recvonly") ||
                 !strcmp(v, "inactive"))
            copy_token(m->direction, sizeof(m->direction), v);
        else if (strncmp(v, "rtpmap:", 7) == 0) {
            int pt = atoi(v + 7);
            const char *codec = strchr(v, ' ');
            if (!codec || pt < 0 || pt > 127)
                continue;
            if (strncasecmp(codec + 1, "opus/48000", 10) == 0 && m->opus_pt < 0)
                m->opus_pt = pt;
            else if (strncasecmp(codec + 1, "VP8/90000", 9) == 0 && m->vp8_pt < 0)
                m->vp8_pt = pt;
        } else if (strncmp(v, "extmap:", 7) == 0) {
            int id = atoi(v + 7);
            const char *uri = strchr(v, ' ');
            if (!uri || id < 1 || id > 14)
                continue;
            uri++;
            if (strncmp(uri, URI_AUDIO_LEVEL, strlen(URI_AUDIO_LEVEL)) == 0)
                m->ext_audio_level = (uint8_t)id;
            else if (strncmp(uri, URI_TWCC, strlen(URI_TWCC)) == 0)
                m->ext_twcc = (uint8_t)id;
            else if (strncmp(uri, URI_MID, strlen(URI_MID)) == 0)
                m->ext_mid = (uint8_t)id;
        } else if (strncmp(v, "ssrc-group:FID ", 15) == 0) {
            m->ssrc = (uint32_t)strtoul(v + 15, NULL, 10);
        } else if (strncmp(v, "ssrc:", 5) == 0 && !m->ssrc) {
            m->ssrc = (uint32_t)strtoul(v + 5, NULL, 10);
        } else if (strncmp(v, "msid:", 5) == 0) {
            const char *sp = strchr(v + 5, ' ');
            if (sp)
                copy_token(m->track_id, sizeof(m->track_id), sp + 1);
        }
    }
    if (m && !mux)
        f->rtcp_mux_all = false;
    if (f->n_m == 0) {
        snprintf(msg, msglen, "no m-line");
        return -EINVAL;
    }
    if (!f->ice.ufrag[0] || !f->ice.pwd[0]) {
        snprintf(msg, msglen, "missing a=ice-ufrag or a=ice-pwd");
        return -EINVAL;
    }
    if (!f->fingerprint[0]) {
        snprintf(msg, msglen, "%s", f->fingerprint_other ? "only non-SHA-256 fingerprints"
                                                         : "missing a=fingerprint:sha-256");
        return -ENOTSUP;
    }
    if (!f->bundle || !f->rtcp_mux_all) {
        snprintf(msg, msglen, "BUNDLE and rtcp-mux are required");
        return -ENOTSUP;
    }
    for (size_t i = 0; i < f->n_m; i++) {
        if (!f->m[i].mid[0]) {
            snprintf(msg, msglen, "m-line %zu: missing a=mid", i);
            return -EINVAL;
        }
    }
    return 0;
}

static bool mline_usable(const struct sdp_mline *m)
{
    return m->known_kind && (m->kind == PAL_MEDIA_AUDIO ? m->opus_pt >= 0 : m->vp8_pt >= 0);
}

struct sdp_buf {
    char *s;
    size_t len, cap;
    bool overflow;
};

static void __attribute__((format(printf, 2, 3))) put(struct sdp_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= b->cap - b->len) {
        b->overflow = true;
        return;
    }
    b->len += (size_t)n;
}

static void put_media(struct sdp_buf *b, enum pal_media_kind kind, int pt, const char *mid,
                      const struct pal_media_ice_params *ice, const char *fingerprint,
                      const char *setup, const char *direction, uint8_t ext_level,
                      uint8_t ext_twcc, uint8_t ext_mid)
{
    put(b, "m=%s 9 UDP/TLS/RTP/SAVPF %d\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n",
        kind == PAL_MEDIA_AUDIO ? "audio" : "video", pt);
    put(b, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\na=ice-options:trickle\r\n", ice->ufrag, ice->pwd);
    put(b, "a=fingerprint:sha-256 %s\r\na=setup:%s\r\na=mid:%s\r\n", fingerprint, setup, mid);
    if (ext_level)
        put(b, "a=extmap:%u %s\r\n", ext_level, URI_AUDIO_LEVEL);
    if (ext_twcc)
        put(b, "a=extmap:%u %s\r\n", ext_twcc, URI_TWCC);
    if (ext_mid)
        put(b, "a=extmap:%u %s\r\n", ext_mid, URI_MID);
    put(b, "a=%s\r\na=rtcp-mux\r\n", direction);
    if (kind == PAL_MEDIA_AUDIO) {
        put(b, "a=rtpmap:%d opus/48000/2\r\na=fmtp:%d minptime=10;useinbandfec=1\r\n", pt, pt);
    } else {
        put(b, "a=rtpmap:%d VP8/90000\r\n", pt);
        put(b, "a=rtcp-fb:%d nack\r\na=rtcp-fb:%d nack pli\r\na=rtcp-fb:%d ccm fir\r\n", pt, pt,
            pt);
    }
    if (ext_twcc)
        put(b, "a=rtcp-fb:%d transport-cc\r\n", pt);
}

static void put_session(struct sdp_buf *b, int version)
{
    put(b, "v=0\r\no=palabre 1 %d IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n", version);
}

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
    int version;
    bool awaiting_answer;
    bool dirty;
};

static struct {
    struct pal_server *srv;
    struct pal_media *media;
    struct part **parts;
    size_t n_parts, cap_parts;
} g;

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

static void send_subscribe_offer(struct part *p)
{
    struct pal_session *s = pal_server_find_participant(g.srv, p->pid);
    if (!s)
        return;
    char *sdp = malloc(SDP_MAX);
    if (!sdp)
        return;
    struct sdp_buf b = {.s = sdp, .cap = SDP_MAX};
    p->version++;
    put_session(&b, p->version);
    put(&b, "a=group:BUNDLE");
    for (size_t i = 0; i < p->n_offered; i++)
        put(&b, " %s", p->offered[i].mid);
    put(&b, "\r\na=msid-semantic: WMS\r\n");
    const char *fp = pal_media_fingerprint(g.media);
    for (size_t i = 0; i < p->n_offered; i++) {
        struct offered *o = &p->offered[i];
        int pt = o->kind == PAL_MEDIA_AUDIO ? 111 : 96;
        put_media(&b, o->kind, pt, o->mid, &p->sub_local, fp, "actpass",
                  o->active ? "sendonly" : "inactive", o->kind == PAL_MEDIA_AUDIO ? 1 : 0, 0, 0);
        if (o->active) {
            put(&b, "a=msid:%s %s\r\n", o->producer, o->track_id);
            put(&b, "a=ssrc:%u cname:%s\r\na=ssrc:%u msid:%s %s\r\n", o->ssrc, o->producer,
                o->ssrc, o->producer, o->track_id);
        }
    }
    if (b.overflow) {
        PAL_ERROR("media", p->room, p->pid, "subscribe offer larger than %d bytes", SDP_MAX);
        free(sdp);
        return;
    }
    p->awaiting_answer = true;
    p->dirty = false;
    pal_session_send(s, json_pack("{s:s,s:s,s:i}", "type", "subscribe_offer", "sdp", sdp,
                                  "version", p->version));
    free(sdp);
}

/* Brings p's subscribe offer in line with what the others publish. */
static void renegotiate(struct part *p)
{
    bool changed = false;
    struct pal_media_cmd c;
    for (size_t i = 0; i < p->n_offered; i++) {
        struct offered *o = &p->offered[i];
        if (o->active && !published_has(p->room, o->producer, o->producer_mid)) {
            o->active = false;
            changed = true;
            cmd_init(&c, PAL_MEDIA_CMD_CONSUMER_REMOVE, p, PAL_MEDIA_PC_SUBSCRIBE);
            snprintf(c.u.consumer.track.mid, sizeof(c.u.consumer.track.mid), "%s", o->mid);
            post(&c);
        }
    }
    for (size_t k = 0; k < g.n_parts; k++) {
        struct part *q = g.parts[k];
        if (q == p || strcmp(q->room, p->room) != 0)
            continue;
        for (size_t t = 0; t < q->n_tracks; t++) {
            const struct pal_media_track *tr = &q->tracks[t];
            if (offered_has(p, q->pid, tr->mid))
                continue;
            if (p->n_offered == MAX_OFFERED) {
                PAL_WARN("media", p->room, p->pid, "subscribe offer full (%d m-lines)",
                         MAX_OFFERED);
                continue;
            }
            if (!p->sub_open) {
                new_ice(&p->sub_local);
                cmd_init(&c, PAL_MEDIA_CMD_SUBSCRIBE_OPEN, p, PAL_MEDIA_PC_SUBSCRIBE);
                c.u.subscribe.local = p->sub_local;
                post(&c);
                p->sub_open = true;
            }
            if (!p->offered && !(p->offered = calloc(MAX_OFFERED, sizeof(*p->offered))))
                return;
            struct offered *o = &p->offered[p->n_offered++];
            memset(o, 0, sizeof(*o));
            snprintf(o->mid, sizeof(o->mid), "%zu", p->n_offered - 1);
            o->kind = tr->kind;
            snprintf(o->producer, sizeof(o->producer), "%s", q->pid);
            snprintf(o->producer_mid, sizeof(o->producer_mid), "%s", tr->mid);
            snprintf(o->track_id, sizeof(o->track_id), "%s",
                     tr->track_id[0] ? tr->track_id : (tr->kind == PAL_MEDIA_AUDIO ? "audio" : "video"));
            do
                pal_random_bytes(&o->ssrc, sizeof(o->ssrc));
            while (o->ssrc == 0);
            o->active = true;
            changed = true;
            cmd_init(&c, PAL_MEDIA_CMD_CONSUMER_ADD, p, PAL_MEDIA_PC_SUBSCRIBE);
            snprintf(c.u.consumer.producer, sizeof(c.u.consumer.producer), "%s", q->pid);
            snprintf(c.u.consumer.producer_mid, sizeof(c.u.consumer.producer_mid), "%s", tr->mid);
            struct pal_media_track *ct = &c.u.consumer.track;
            snprintf(ct->mid, sizeof(ct->mid), "%s", o->mid);
            snprintf(ct->track_id, sizeof(ct->track_id), "%s", o->track_id);
            ct->kind = o->kind;
            ct->payload_type = o->kind == PAL_MEDIA_AUDIO ? 111 : 96;
            ct->clock_rate = o->kind == PAL_MEDIA_AUDIO ? 48000 : 90000;
            ct->ssrc = o->ssrc;
            ct->ext_audio_level = o->kind == PAL_MEDIA_AUDIO ? 1 : 0;
            post(&c);
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

static const char *sdp_or_reply(struct pal_session *s, json_t *id, json_t *req,
                                struct sdp_facts *f)
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
    char msg[160];
    int rc = media_sdp_parse(sdp, f, msg, sizeof(msg));
    if (rc) {
        pal_session_reply_error(s, id, rc == -ENOTSUP ? "sdp_unsupported" : "sdp_invalid", "sdp",
                                "%s", msg);
        return NULL;
    }
    return sdp;
}

static void on_publish(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    (void)ud;
    struct part *p = part_or_reply(s, id);
    struct sdp_facts f;
    if (!p || !sdp_or_reply(s, id, req, &f))
        return;
    if (f.setup[0] && strcmp(f.setup, "actpass") != 0 && strcmp(f.setup, "active") != 0) {
        pal_session_reply_error(s, id, "sdp_unsupported", "sdp",
                                "a=setup:%s: an offer must be actpass or active", f.setup);
        return;
    }
    struct pal_media_cmd c;
    cmd_init(&c, PAL_MEDIA_CMD_PUBLISH, p, PAL_MEDIA_PC_PUBLISH);
    /* New remote ICE credentials: an ICE restart, new local ones too. */
    if (!p->published || strcmp(p->pub_remote_ufrag, f.ice.ufrag) != 0)
        new_ice(&p->pub_local);
    c.u.publish.local = p->pub_local;
    c.u.publish.remote = f.ice;
    snprintf(c.u.publish.dtls.fingerprint, sizeof(c.u.publish.dtls.fingerprint), "%s",
             f.fingerprint);
    c.u.publish.dtls.our_role = PAL_DTLS_SERVER; /* we answer a=setup:passive */

    char *answer = malloc(SDP_MAX);
    if (!answer) {
        pal_session_reply_error(s, id, "internal", NULL, "out of memory");
        return;
    }
    struct sdp_buf b = {.s = answer, .cap = SDP_MAX};
    put_session(&b, 2);
    put(&b, "a=group:BUNDLE");
    for (size_t i = 0; i < f.n_m; i++)
        put(&b, " %s", f.m[i].mid);
    put(&b, "\r\na=msid-semantic: WMS\r\n");
    bool any = false;
    for (size_t i = 0; i < f.n_m; i++) {
        const struct sdp_mline *m = &f.m[i];
        bool sending = !strcmp(m->direction, "sendonly") || !strcmp(m->direction, "sendrecv");
        bool usable = mline_usable(m);
        int pt = !m->known_kind ? 0 : m->kind == PAL_MEDIA_AUDIO ? m->opus_pt : m->vp8_pt;
        if (!usable) {
            /* Rejected m-line (RFC 3264 6): port 0, kept in order. */
            put(&b, "m=%s 0 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=mid:%s\r\na=inactive\r\n",
                m->known_kind ? (m->kind == PAL_MEDIA_AUDIO ? "audio" : "video") : "application",
                m->mid);
            continue;
        }
        put_media(&b, m->kind, pt, m->mid, &p->pub_local, pal_media_fingerprint(g.media),
                  "passive", sending ? "recvonly" : "inactive",
                  m->kind == PAL_MEDIA_AUDIO ? m->ext_audio_level : 0, m->ext_twcc, m->ext_mid);
        if (!sending)
            continue;
        any = true;
        struct pal_media_track *t = &c.u.publish.tracks[c.u.publish.n_tracks++];
        snprintf(t->mid, sizeof(t->mid), "%s", m->mid);
        snprintf(t->track_id, sizeof(t->track_id), "%s", m->track_id);
        t->kind = m->kind;
        t->payload_type = (uint8_t)pt;
        t->clock_rate = m->kind == PAL_MEDIA_AUDIO ? 48000 : 90000;
        t->ssrc = m->ssrc;
        t->ext_mid = m->ext_mid;
        t->ext_audio_level = m->ext_audio_level;
        t->ext_twcc = m->ext_twcc;
    }
    if (!any && f.n_m > 0 && c.u.publish.n_tracks == 0) {
        bool all_unusable = true;
        for (size_t i = 0; i < f.n_m; i++)
            all_unusable = all_unusable && !mline_usable(&f.m[i]);
        if (all_unusable) {
            free(answer);
            pal_session_reply_error(s, id, "sdp_unsupported", "sdp", "no Opus or VP8 m-line");
            return;
        }
    }
    if (b.overflow) {
        free(answer);
        pal_session_reply_error(s, id, "sdp_unsupported", "sdp", "answer too large");
        return;
    }
    post(&c);
    p->published = true;
    snprintf(p->pub_remote_ufrag, sizeof(p->pub_remote_ufrag), "%s", f.ice.ufrag);
    snprintf(p->pub_first_mid, sizeof(p->pub_first_mid), "%s", f.m[0].mid);
    p->n_tracks = c.u.publish.n_tracks;
    memcpy(p->tracks, c.u.publish.tracks, sizeof(p->tracks));
    pal_session_reply_ok(s, id, json_pack("{s:s}", "sdp", answer));
    free(answer);
    renegotiate_room(p->room, p);
}

static void on_subscribe_answer(struct pal_session *s, json_t *id, json_t *req, void *ud)
{
    (void)ud;
    struct part *p = part_or_reply(s, id);
    json_int_t version;
    if (!p || !pal_int_or_reply(s, id, req, "version", 0, INT32_MAX, true, &version))
        return;
    struct sdp_facts f;
    if (!sdp_or_reply(s, id, req, &f))
        return;
    if (!p->awaiting_answer || version != p->version) {
        pal_session_reply_error(s, id, "version_mismatch", "version",
                                "answer to offer %lld, the current offer is %d",
                                (long long)version, p->version);
        return;
    }
    if (strcmp(p->sub_remote_ufrag, f.ice.ufrag) != 0) {
        struct pal_media_cmd c;
        cmd_init(&c, PAL_MEDIA_CMD_SUBSCRIBE_REMOTE, p, PAL_MEDIA_PC_SUBSCRIBE);
        c.u.subscribe.remote = f.ice;
        snprintf(c.u.subscribe.dtls.fingerprint, sizeof(c.u.subscribe.dtls.fingerprint), "%s",
                 f.fingerprint);
        /* We offered actpass: the browser picks; active (the usual) makes us the server. */
        c.u.subscribe.dtls.our_role = strcmp(f.setup, "passive") == 0 ? PAL_DTLS_CLIENT
                                                                       : PAL_DTLS_SERVER;
        post(&c);
        snprintf(p->sub_remote_ufrag, sizeof(p->sub_remote_ufrag), "%s", f.ice.ufrag);
    }
    p->awaiting_answer = false;
    pal_session_reply_ok(s, id, NULL);
    if (p->dirty)
        renegotiate(p);
}

/* "candidate:<foundation> <component> <transport> <priority> <addr> <port> typ <type>
 *  [raddr <a> rport <p>] ..." (RFC 8839 5.1). Returns 0 or -EINVAL. */
static int candidate_parse(const char *line, struct pal_media_candidate *c)
{
    memset(c, 0, sizeof(*c));
    if (strncmp(line, "a=", 2) == 0)
        line += 2;
    if (strncmp(line, "candidate:", 10) != 0)
        return -EINVAL;
    char transport[16], type[16], addr[PAL_MEDIA_ADDR_MAX];
    unsigned comp, port;
    unsigned long prio;
    int n = 0;
    if (sscanf(line + 10, "%32s %u %15s %lu %63s %u typ %15s%n", c->foundation, &comp, transport,
               &prio, addr, &port, type, &n) != 7 ||
        port > 65535 || comp < 1 || comp > 2)
        return -EINVAL;
    c->component = (uint8_t)comp;
    c->tcp = strcasecmp(transport, "udp") != 0;
    c->priority = (uint32_t)prio;
    snprintf(c->addr, sizeof(c->addr), "%s", addr);
    c->port = (uint16_t)port;
    c->type = !strcmp(type, "host")    ? PAL_MEDIA_CAND_HOST
              : !strcmp(type, "srflx") ? PAL_MEDIA_CAND_SRFLX
              : !strcmp(type, "prflx") ? PAL_MEDIA_CAND_PRFLX
              : !strcmp(type, "relay") ? PAL_MEDIA_CAND_RELAY
                                       : (enum pal_media_cand_type)-1;
    if ((int)c->type < 0)
        return -EINVAL;
    const char *ra = strstr(line + 10 + n, " raddr ");
    const char *rp = strstr(line + 10 + n, " rport ");
    if (ra)
        copy_token(c->raddr, sizeof(c->raddr), ra + 7);
    if (rp)
        c->rport = (uint16_t)atoi(rp + 7);
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

static const char *cand_type_name(enum pal_media_cand_type t)
{
    switch (t) {
    case PAL_MEDIA_CAND_HOST: return "host";
    case PAL_MEDIA_CAND_SRFLX: return "srflx";
    case PAL_MEDIA_CAND_PRFLX: return "prflx";
    default: return "relay";
    }
}

static void send_candidate(struct pal_session *s, const struct part *p,
                           const struct pal_media_event *ev)
{
    const char *mid = ev->pc == PAL_MEDIA_PC_PUBLISH ? p->pub_first_mid
                      : p->n_offered                 ? p->offered[0].mid
                                                     : "0";
    json_t *cand = json_null();
    if (ev->type == PAL_MEDIA_EV_LOCAL_CANDIDATE) {
        const struct pal_media_candidate *c = &ev->u.candidate;
        char line[256];
        int n = snprintf(line, sizeof(line), "candidate:%s %u udp %u %s %u typ %s", c->foundation,
                         c->component, c->priority, c->addr, c->port, cand_type_name(c->type));
        if (c->type != PAL_MEDIA_CAND_HOST && c->raddr[0] && n > 0 && (size_t)n < sizeof(line))
            snprintf(line + n, sizeof(line) - (size_t)n, " raddr %s rport %u", c->raddr,
                     c->rport);
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
    };
    snprintf(mc.interfaces, sizeof(mc.interfaces), "%s", cfg->interfaces);
    snprintf(mc.public_ip, sizeof(mc.public_ip), "%s", cfg->public_ip);
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
                                          NULL))) {
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
