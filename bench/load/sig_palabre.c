/* palabre-load speaking Palabre's signaling protocol (docs/protocol.md):
 * join, publish, subscribe_offer / subscribe_answer, ice_candidate, and
 * set_track_view for the participants the scenario's small_tiles names. */
#include <stdlib.h>
#include <string.h>

#include "participant.h"

/* Responses to set_track_view carry ID_VIEW + the peer's index. */
enum { ID_JOIN = 1, ID_PUBLISH = 2, ID_FIRST_OTHER = 10, ID_VIEW = 1 << 24 };

/* The small tile a small_tiles participant shows every other camera in:
 * the q layer of a 640x360 camera fills it. */
#define SMALL_TILE_W 160
#define SMALL_TILE_H 90

/* Another participant of the room, for set_track_view. */
struct peer {
    char id[72];
    bool pending, viewed; /* request sent / the server accepted the view */
};

struct pal_sig {
    int next_id;
    bool small_tiles;
    char self_id[72];
    GArray *peers; /* struct peer */
};

static void add_peer(struct pal_sig *s, json_t *participant)
{
    const char *id = json_string_value(json_object_get(participant, "id"));
    if (!s->small_tiles || !id || strlen(id) >= sizeof(((struct peer *)0)->id) ||
        !strcmp(id, s->self_id))
        return;
    for (guint i = 0; i < s->peers->len; i++)
        if (!strcmp(g_array_index(s->peers, struct peer, i).id, id))
            return;
    struct peer pr = {0};
    snprintf(pr.id, sizeof(pr.id), "%s", id);
    g_array_append_val(s->peers, pr);
}

/* Asks for the small tile of every peer whose view the server has not
 * accepted yet (one that publishes no camera yet answers unknown_track:
 * asked again on the next tick). */
static void send_views(struct load_participant *p)
{
    struct pal_sig *s = p->sig;
    for (guint i = 0; s && s->small_tiles && i < s->peers->len; i++) {
        struct peer *pr = &g_array_index(s->peers, struct peer, i);
        if (pr->pending || pr->viewed)
            continue;
        pr->pending = true;
        participant_send_json(p, json_pack("{s:s,s:i,s:s,s:s,s:i,s:i,s:b}", "type",
                                           "set_track_view", "id", ID_VIEW + (int)i,
                                           "participant_id", pr->id, "source", "camera", "width",
                                           SMALL_TILE_W, "height", SMALL_TILE_H, "visible", 1));
    }
}

static void free_state(void *state)
{
    struct pal_sig *s = state;
    if (s)
        g_array_free(s->peers, TRUE);
    free(s);
}

static int next_id(struct load_participant *p)
{
    struct pal_sig *s = p->sig;
    return s->next_id++;
}

static int start(struct load_participant *p)
{
    struct pal_sig *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->next_id = ID_FIRST_OTHER;
    s->small_tiles = p->env->scenario->video &&
                     load_scenario_small_tiles(p->env->scenario, p->index_in_room, p->room_size);
    s->peers = g_array_new(FALSE, TRUE, sizeof(struct peer));
    p->sig = s;
    return participant_send_json(p, json_pack("{s:s,s:i,s:s,s:s,s:b,s:b}", "type", "join", "id",
                                              ID_JOIN, "room", p->room_name, "name", p->name,
                                              "mic", p->publishes, "camera", p->publishes));
}

static void on_response(struct load_participant *p, json_t *msg)
{
    json_int_t id = json_integer_value(json_object_get(msg, "id"));
    bool ok = json_is_true(json_object_get(msg, "ok"));
    json_t *data = json_object_get(msg, "data");
    struct pal_sig *s = p->sig;
    if (id >= ID_VIEW && id < ID_VIEW + (json_int_t)s->peers->len) {
        struct peer *pr = &g_array_index(s->peers, struct peer, (guint)(id - ID_VIEW));
        pr->pending = false;
        pr->viewed = ok;
        return; /* refused (no camera yet, busy): asked again on the next tick */
    }
    if (!ok) {
        const char *code = json_string_value(json_object_get(json_object_get(msg, "error"), "code"));
        char why[128];
        snprintf(why, sizeof(why), "request %lld refused: %s", (long long)id, code ? code : "?");
        participant_fail(p, false, why);
        return;
    }
    if (id == ID_JOIN) {
        if (p->env->turn && participant_use_turn(p, json_object_get(data, "ice_servers"))) {
            participant_fail(p, false, "--turn: the join has no turn:ADDR:PORT?transport=udp URL "
                                       "with a numeric address and credentials");
            return;
        }
        participant_joined(p);
        json_t *me = json_object_get(data, "participant");
        const char *self = json_string_value(json_object_get(me, "id"));
        snprintf(s->self_id, sizeof(s->self_id), "%s", self ? self : "");
        json_t *others = json_object_get(data, "participants"), *o;
        size_t k;
        json_array_foreach(others, k, o)
            add_peer(s, o);
        if (!p->publishes)
            return;
        char *offer = participant_publish_offer(p);
        if (offer)
            participant_send_json(p, json_pack("{s:s,s:i,s:s}", "type", "publish", "id",
                                               ID_PUBLISH, "sdp", offer));
        free(offer);
    } else if (id == ID_PUBLISH) {
        const char *sdp = json_string_value(json_object_get(data, "sdp"));
        /* The server has posted the publish command: candidates may follow. */
        if (sdp && participant_publish_answer(p, sdp) == 0)
            participant_trickle_ready(p, PAL_MEDIA_PC_PUBLISH);
    }
}

static void on_message(struct load_participant *p, json_t *msg)
{
    const char *type = json_string_value(json_object_get(msg, "type"));
    if (!type)
        return;
    if (!strcmp(type, "response")) {
        on_response(p, msg);
    } else if (!strcmp(type, "subscribe_offer")) {
        const char *sdp = json_string_value(json_object_get(msg, "sdp"));
        json_int_t version = json_integer_value(json_object_get(msg, "version"));
        char *answer = sdp ? participant_subscribe_offer(p, sdp) : NULL;
        if (!answer)
            return;
        participant_send_json(p, json_pack("{s:s,s:i,s:s,s:I}", "type", "subscribe_answer", "id",
                                           next_id(p), "sdp", answer, "version", version));
        free(answer);
        participant_trickle_ready(p, PAL_MEDIA_PC_SUBSCRIBE);
    } else if (!strcmp(type, "participant_joined")) {
        add_peer(p->sig, json_object_get(msg, "participant"));
    } else if (!strcmp(type, "ice_candidate")) {
        const char *pc = json_string_value(json_object_get(msg, "pc"));
        json_t *cand = json_object_get(msg, "candidate");
        if (!pc)
            return;
        participant_remote_candidate(
            p, strcmp(pc, "subscribe") == 0 ? PAL_MEDIA_PC_SUBSCRIBE : PAL_MEDIA_PC_PUBLISH,
            json_is_object(cand) ? json_string_value(json_object_get(cand, "candidate")) : NULL);
    } else if (!strcmp(type, "media_error")) {
        const char *m = json_string_value(json_object_get(msg, "message"));
        participant_fail(p, true, m ? m : "media_error");
    }
}

static void send_candidate(struct load_participant *p, enum pal_media_pc pc, const char *line)
{
    json_t *cand = line ? json_pack("{s:s,s:s,s:i}", "candidate", line, "sdpMid", "0",
                                    "sdpMLineIndex", 0)
                        : json_null();
    participant_send_json(p, json_pack("{s:s,s:i,s:s,s:o}", "type", "ice_candidate", "id",
                                       next_id(p), "pc", pal_media_pc_name(pc), "candidate", cand));
}

const struct load_signaling load_signaling_palabre = {
    .name = "palabre",
    .subprotocol = NULL,
    .start = start,
    .on_message = on_message,
    .send_candidate = send_candidate,
    .tick = send_views,
    .free_state = free_state,
};
