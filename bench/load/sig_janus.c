/* palabre-load speaking Janus's videoroom plugin over its WebSocket API
 * (subprotocol "janus-protocol"), Janus 1.x multistream:
 *
 *   create session -> attach (publisher handle) -> videoroom "create" of the
 *   room (427 "already exists" is fine) -> "join" as publisher (everyone,
 *   so that everyone hears of new publishers) -> "publish" with our offer
 *   (publishers) -> attach a subscriber handle -> "join" as subscriber to
 *   every known feed, later "update" with the new ones; each offer Janus
 *   makes there is answered with "start". Trickle goes with "trickle";
 *   Janus puts its own candidates in its SDP. A keepalive every 20 s.
 *
 * One renegotiation at a time on the subscriber handle: feeds announced
 * meanwhile wait in a list.
 *
 * small_tiles participants (the scenario's) ask, after each "start", for
 * substream 0 (the lowest simulcast layer) of every video m-line of their
 * subscription ("configure" with streams [{mid, substream: 0}]): Janus's
 * equivalent of Palabre's set_track_view for a small tile. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "participant.h"

#define JANUS_ROOM_BASE 4200
#define KEEPALIVE_S 20
#define MAX_FEEDS 1024

struct janus_sig {
    json_int_t session, pub_handle, sub_handle;
    json_int_t my_feed;
    json_int_t feeds[MAX_FEEDS];  /* publishers of the room, known so far */
    bool subscribed[MAX_FEEDS];
    size_t n_feeds;
    bool sub_attaching, sub_joined, sub_busy; /* a join/update awaits its offer */
    int ticks;
    unsigned long tx;
};

static json_int_t room_id(const struct load_participant *p)
{
    return JANUS_ROOM_BASE + p->room;
}

static void send_janus(struct load_participant *p, const char *verb, const char *tx, json_int_t handle,
                       json_t *body, json_t *jsep)
{
    struct janus_sig *s = p->sig;
    json_t *m = json_pack("{s:s,s:s}", "janus", verb, "transaction", tx);
    if (s->session)
        json_object_set_new(m, "session_id", json_integer(s->session));
    if (handle)
        json_object_set_new(m, "handle_id", json_integer(handle));
    if (!strcmp(verb, "attach"))
        json_object_set_new(m, "plugin", json_string("janus.plugin.videoroom"));
    if (body)
        json_object_set_new(m, "body", body);
    if (jsep)
        json_object_set_new(m, "jsep", jsep);
    participant_send_json(p, m);
}

static int start(struct load_participant *p)
{
    struct janus_sig *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    p->sig = s;
    send_janus(p, "create", "session", 0, NULL, NULL);
    return 0;
}

static void add_feeds(struct load_participant *p, json_t *publishers)
{
    struct janus_sig *s = p->sig;
    size_t i;
    json_t *pub;
    json_array_foreach(publishers, i, pub) {
        json_int_t id = json_integer_value(json_object_get(pub, "id"));
        bool known = id == 0 || id == s->my_feed;
        for (size_t k = 0; k < s->n_feeds && !known; k++)
            known = s->feeds[k] == id;
        if (!known && s->n_feeds < MAX_FEEDS)
            s->feeds[s->n_feeds++] = id;
    }
}

/* Subscribes to the feeds not subscribed yet, if no renegotiation runs. */
static void subscribe_pending(struct load_participant *p)
{
    struct janus_sig *s = p->sig;
    if (s->sub_busy)
        return;
    bool pending = false;
    for (size_t k = 0; k < s->n_feeds && !pending; k++)
        pending = !s->subscribed[k];
    if (!pending)
        return;
    if (!s->sub_handle) { /* attach first; attach-sub's success comes back here */
        if (!s->sub_attaching) {
            s->sub_attaching = true;
            send_janus(p, "attach", "attach-sub", 0, NULL, NULL);
        }
        return;
    }
    json_t *streams = json_array();
    for (size_t k = 0; k < s->n_feeds; k++)
        if (!s->subscribed[k]) {
            json_array_append_new(streams, json_pack("{s:I}", "feed", s->feeds[k]));
            s->subscribed[k] = true;
        }
    s->sub_busy = true;
    if (!s->sub_joined) {
        s->sub_joined = true;
        send_janus(p, "message", "sub-join", s->sub_handle,
                   json_pack("{s:s,s:s,s:I,s:o}", "request", "join", "ptype", "subscriber", "room",
                             room_id(p), "streams", streams),
                   NULL);
    } else {
        send_janus(p, "message", "sub-update", s->sub_handle,
                   json_pack("{s:s,s:o}", "request", "update", "subscribe", streams), NULL);
    }
}

static void on_publisher_event(struct load_participant *p, json_t *data, json_t *jsep)
{
    struct janus_sig *s = p->sig;
    const char *what = json_string_value(json_object_get(data, "videoroom"));
    if (what && !strcmp(what, "joined")) {
        s->my_feed = json_integer_value(json_object_get(data, "id"));
        participant_joined(p);
        add_feeds(p, json_object_get(data, "publishers"));
        if (p->publishes) {
            char *offer = participant_publish_offer(p);
            if (offer)
                send_janus(p, "message", "publish", s->pub_handle,
                           json_pack("{s:s}", "request", "publish"),
                           json_pack("{s:s,s:s}", "type", "offer", "sdp", offer));
            free(offer);
            /* Janus keeps trickled candidates that beat the offer. */
            participant_trickle_ready(p, PAL_MEDIA_PC_PUBLISH);
        }
        subscribe_pending(p);
        return;
    }
    if (json_object_get(data, "publishers")) {
        add_feeds(p, json_object_get(data, "publishers"));
        subscribe_pending(p);
    }
    const char *type = json_string_value(json_object_get(jsep, "type"));
    const char *sdp = json_string_value(json_object_get(jsep, "sdp"));
    if (type && sdp && !strcmp(type, "answer"))
        participant_publish_answer(p, sdp);
}

/* small_tiles: the lowest layer of every video m-line of offer. */
static void configure_small_tiles(struct load_participant *p, const char *offer)
{
    struct janus_sig *s = p->sig;
    json_t *streams = json_array();
    bool video = false;
    for (const char *l = offer; *l;) {
        size_t n = strcspn(l, "\r\n");
        if (!strncmp(l, "m=", 2))
            video = !strncmp(l, "m=video", 7);
        else if (video && n > 6 && n < 64 && !strncmp(l, "a=mid:", 6))
            json_array_append_new(streams, json_pack("{s:s%,s:i}", "mid", l + 6, n - 6,
                                                     "substream", 0));
        l += n + strspn(l + n, "\r\n");
    }
    if (json_array_size(streams))
        send_janus(p, "message", "sub-configure", s->sub_handle,
                   json_pack("{s:s,s:o}", "request", "configure", "streams", streams), NULL);
    else
        json_decref(streams);
}

static void on_subscriber_event(struct load_participant *p, json_t *data, json_t *jsep)
{
    struct janus_sig *s = p->sig;
    const char *type = json_string_value(json_object_get(jsep, "type"));
    const char *sdp = json_string_value(json_object_get(jsep, "sdp"));
    (void)data;
    if (!type || !sdp || strcmp(type, "offer") != 0)
        return;
    char *answer = participant_subscribe_offer(p, sdp);
    if (!answer)
        return;
    send_janus(p, "message", "start", s->sub_handle, json_pack("{s:s}", "request", "start"),
               json_pack("{s:s,s:s}", "type", "answer", "sdp", answer));
    free(answer);
    participant_trickle_ready(p, PAL_MEDIA_PC_SUBSCRIBE);
    const struct load_scenario *sc = p->env->scenario;
    if (sc->simulcast && load_scenario_small_tiles(sc, p->index_in_room, p->room_size))
        configure_small_tiles(p, sdp);
    s->sub_busy = false;
    subscribe_pending(p);
}

static void on_message(struct load_participant *p, json_t *msg)
{
    struct janus_sig *s = p->sig;
    const char *verb = json_string_value(json_object_get(msg, "janus"));
    const char *tx = json_string_value(json_object_get(msg, "transaction"));
    if (!verb)
        return;
    json_t *pdata = json_object_get(json_object_get(msg, "plugindata"), "data");
    json_t *jsep = json_object_get(msg, "jsep");
    json_int_t sender = json_integer_value(json_object_get(msg, "sender"));
    if (!strcmp(verb, "error")) {
        const char *r = json_string_value(json_object_get(json_object_get(msg, "error"), "reason"));
        participant_fail(p, false, r ? r : "janus error");
        return;
    }
    if (!strcmp(verb, "hangup") || !strcmp(verb, "detached")) {
        const char *r = json_string_value(json_object_get(msg, "reason"));
        if (p->env->sending)
            participant_fail(p, true, r ? r : "hangup");
        return;
    }
    if (pdata && json_object_get(pdata, "error_code")) {
        json_int_t code = json_integer_value(json_object_get(pdata, "error_code"));
        if (code == 427 && tx && !strcmp(tx, "room")) /* room exists: join it */
            goto join;
        const char *e = json_string_value(json_object_get(pdata, "error"));
        participant_fail(p, false, e ? e : "videoroom error");
        return;
    }
    if (!strcmp(verb, "success") && tx) {
        json_int_t id = json_integer_value(json_object_get(json_object_get(msg, "data"), "id"));
        if (!strcmp(tx, "session")) {
            s->session = id;
            send_janus(p, "attach", "attach-pub", 0, NULL, NULL);
        } else if (!strcmp(tx, "attach-pub")) {
            s->pub_handle = id;
            send_janus(p, "message", "room", s->pub_handle,
                       json_pack("{s:s,s:I,s:i,s:i,s:s,s:s,s:b}", "request", "create", "room",
                                 room_id(p), "publishers", 1000, "bitrate", 0, "audiocodec",
                                 "opus", "videocodec", "vp8", "notify_joining", false),
                       NULL);
        } else if (!strcmp(tx, "attach-sub")) {
            s->sub_handle = id;
            s->sub_attaching = false;
            subscribe_pending(p);
        } else if (!strcmp(tx, "room")) {
            goto join;
        }
        return;
    }
    if (!strcmp(verb, "event") && pdata) {
        if (sender == s->pub_handle)
            on_publisher_event(p, pdata, jsep);
        else if (sender == s->sub_handle)
            on_subscriber_event(p, pdata, jsep);
    }
    return;
join:
    send_janus(p, "message", "join", s->pub_handle,
               json_pack("{s:s,s:s,s:I,s:s}", "request", "join", "ptype", "publisher", "room",
                         room_id(p), "display", p->name),
               NULL);
}

static void send_candidate(struct load_participant *p, enum pal_media_pc pc, const char *line)
{
    struct janus_sig *s = p->sig;
    json_int_t handle = pc == PAL_MEDIA_PC_PUBLISH ? s->pub_handle : s->sub_handle;
    json_t *m = json_pack("{s:s,s:s,s:I,s:I}", "janus", "trickle", "transaction", "trickle",
                          "session_id", s->session, "handle_id", handle);
    json_object_set_new(m, "candidate",
                        line ? json_pack("{s:s,s:s,s:i}", "candidate", line, "sdpMid", "0",
                                         "sdpMLineIndex", 0)
                             : json_pack("{s:b}", "completed", true));
    participant_send_json(p, m);
}

static void tick(struct load_participant *p)
{
    struct janus_sig *s = p->sig;
    if (s && s->session && ++s->ticks % KEEPALIVE_S == 0)
        send_janus(p, "keepalive", "keepalive", 0, NULL, NULL);
}

const struct load_signaling load_signaling_janus = {
    .name = "janus",
    .subprotocol = "janus-protocol",
    .start = start,
    .on_message = on_message,
    .send_candidate = send_candidate,
    .tick = tick,
    .free_state = free,
};
