/* A line-oriented bridge to the media engine, for browser tests and the
 * join-to-first-frame benchmark before (and independently of) the
 * WebSocket signaling: the driver (bench/join.mjs, tests/integration/
 * media_loopback.test.mjs) parses the browser's SDP itself and sends the
 * media commands as JSON lines on stdin; events come back as JSON lines on
 * stdout. It exercises exactly the pal_media_* interface that
 * signaling/media_signaling.c uses.
 *
 *   stdin:  {"cmd":"publish","room":..,"pid":..,"local":{"ufrag","pwd"},
 *            "remote":{..},"fingerprint":..,"role":"server"|"client",
 *            "tracks":[{"mid","kind","pt","ssrc","ext_mid","ext_audio_level",
 *            "ext_twcc"}]}
 *           {"cmd":"subscribe_open","room","pid","local"}
 *           {"cmd":"subscribe_remote","room","pid","remote","fingerprint","role"}
 *           {"cmd":"consumer_add","room","pid","producer","producer_mid","track"}
 *           {"cmd":"candidate","room","pid","pc","candidate":{..}|null}
 *           {"cmd":"remove","room","pid"}   {"cmd":"stats"}
 *   stdout: {"ev":"ready","fingerprint"} {"ev":"candidate",..} {"ev":"gathering_done"}
 *           {"ev":"connected","profile"} {"ev":"failed","code","reason"}
 *           {"ev":"active_speaker"} {"ev":"stats",..}
 *
 * Usage: bench_join [workers]   (listens on 127.0.0.1 and all interfaces) */
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "palabre/log.h"
#include "palabre/media.h"

static int wake_pipe[2];

static void wake(void *ud)
{
    (void)ud;
    char c = 1;
    if (write(wake_pipe[1], &c, 1) < 0) {
        /* pipe full: a wake is already pending */
    }
}

static void cpy(char *dst, size_t n, json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    snprintf(dst, n, "%s", s ? s : "");
}

static int geti(json_t *o, const char *key)
{
    return (int)json_integer_value(json_object_get(o, key));
}

static void ice_params(struct pal_media_ice_params *p, json_t *o)
{
    cpy(p->ufrag, sizeof(p->ufrag), o, "ufrag");
    cpy(p->pwd, sizeof(p->pwd), o, "pwd");
}

static void dtls_params(struct pal_media_dtls_params *d, json_t *req)
{
    cpy(d->fingerprint, sizeof(d->fingerprint), req, "fingerprint");
    const char *role = json_string_value(json_object_get(req, "role"));
    d->our_role = role && strcmp(role, "client") == 0 ? PAL_DTLS_CLIENT : PAL_DTLS_SERVER;
}

static void track(struct pal_media_track *t, json_t *o)
{
    cpy(t->mid, sizeof(t->mid), o, "mid");
    cpy(t->track_id, sizeof(t->track_id), o, "track_id");
    const char *kind = json_string_value(json_object_get(o, "kind"));
    t->kind = kind && strcmp(kind, "video") == 0 ? PAL_MEDIA_VIDEO : PAL_MEDIA_AUDIO;
    t->payload_type = (uint8_t)geti(o, "pt");
    t->clock_rate = t->kind == PAL_MEDIA_VIDEO ? 90000 : 48000;
    t->ssrc = (uint32_t)json_integer_value(json_object_get(o, "ssrc"));
    t->ext_mid = (uint8_t)geti(o, "ext_mid");
    t->ext_audio_level = (uint8_t)geti(o, "ext_audio_level");
    t->ext_twcc = (uint8_t)geti(o, "ext_twcc");
}

static void candidate(struct pal_media_candidate *c, json_t *o)
{
    cpy(c->foundation, sizeof(c->foundation), o, "foundation");
    c->component = (uint8_t)geti(o, "component");
    const char *tr = json_string_value(json_object_get(o, "transport"));
    c->tcp = tr && strcasecmp(tr, "udp") != 0;
    c->priority = (uint32_t)json_integer_value(json_object_get(o, "priority"));
    cpy(c->addr, sizeof(c->addr), o, "addr");
    c->port = (uint16_t)geti(o, "port");
    const char *type = json_string_value(json_object_get(o, "type"));
    c->type = !type || !strcmp(type, "host") ? PAL_MEDIA_CAND_HOST
              : !strcmp(type, "srflx")       ? PAL_MEDIA_CAND_SRFLX
              : !strcmp(type, "prflx")       ? PAL_MEDIA_CAND_PRFLX
                                             : PAL_MEDIA_CAND_RELAY;
    cpy(c->raddr, sizeof(c->raddr), o, "raddr");
    c->rport = (uint16_t)geti(o, "rport");
}

static void out(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    printf("%s\n", s);
    fflush(stdout);
    free(s);
    json_decref(o);
}

static void handle(struct pal_media *m, json_t *req)
{
    struct pal_media_cmd c;
    memset(&c, 0, sizeof(c));
    const char *cmd = json_string_value(json_object_get(req, "cmd"));
    if (!cmd)
        return;
    cpy(c.room, sizeof(c.room), req, "room");
    cpy(c.participant, sizeof(c.participant), req, "pid");
    const char *pc = json_string_value(json_object_get(req, "pc"));
    c.pc = pc && strcmp(pc, "subscribe") == 0 ? PAL_MEDIA_PC_SUBSCRIBE : PAL_MEDIA_PC_PUBLISH;
    if (!strcmp(cmd, "publish")) {
        c.type = PAL_MEDIA_CMD_PUBLISH;
        ice_params(&c.u.publish.local, json_object_get(req, "local"));
        ice_params(&c.u.publish.remote, json_object_get(req, "remote"));
        dtls_params(&c.u.publish.dtls, req);
        json_t *tr = json_object_get(req, "tracks");
        for (size_t i = 0; i < json_array_size(tr) && i < PAL_MEDIA_MAX_TRACKS; i++)
            track(&c.u.publish.tracks[c.u.publish.n_tracks++], json_array_get(tr, i));
    } else if (!strcmp(cmd, "subscribe_open")) {
        c.type = PAL_MEDIA_CMD_SUBSCRIBE_OPEN;
        c.pc = PAL_MEDIA_PC_SUBSCRIBE;
        ice_params(&c.u.subscribe.local, json_object_get(req, "local"));
    } else if (!strcmp(cmd, "subscribe_remote")) {
        c.type = PAL_MEDIA_CMD_SUBSCRIBE_REMOTE;
        c.pc = PAL_MEDIA_PC_SUBSCRIBE;
        ice_params(&c.u.subscribe.remote, json_object_get(req, "remote"));
        dtls_params(&c.u.subscribe.dtls, req);
    } else if (!strcmp(cmd, "consumer_add")) {
        c.type = PAL_MEDIA_CMD_CONSUMER_ADD;
        cpy(c.u.consumer.producer, sizeof(c.u.consumer.producer), req, "producer");
        cpy(c.u.consumer.producer_mid, sizeof(c.u.consumer.producer_mid), req, "producer_mid");
        track(&c.u.consumer.track, json_object_get(req, "track"));
    } else if (!strcmp(cmd, "consumer_remove")) {
        c.type = PAL_MEDIA_CMD_CONSUMER_REMOVE;
        cpy(c.u.consumer.track.mid, sizeof(c.u.consumer.track.mid), req, "mid");
    } else if (!strcmp(cmd, "candidate")) {
        c.type = PAL_MEDIA_CMD_REMOTE_CANDIDATE;
        json_t *cand = json_object_get(req, "candidate");
        if (json_is_object(cand))
            candidate(&c.u.remote_candidate.cand, cand);
        else
            c.u.remote_candidate.end = true;
    } else if (!strcmp(cmd, "remove")) {
        c.type = PAL_MEDIA_CMD_PARTICIPANT_REMOVE;
    } else if (!strcmp(cmd, "stats")) {
        struct pal_media_stats st;
        pal_media_get_stats(m, &st);
        out(json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "ev", "stats", "rooms",
                      (json_int_t)st.rooms, "rtp_in", (json_int_t)st.rtp_in, "rtp_out",
                      (json_int_t)st.rtp_out, "nack_in", (json_int_t)st.nack_in, "retransmitted",
                      (json_int_t)st.retransmitted, "pli_out", (json_int_t)st.pli_out,
                      "dropped_in", (json_int_t)st.dropped_in));
        return;
    } else {
        return;
    }
    if (pal_media_post(m, &c))
        fprintf(stderr, "bench_join: worker queue full\n");
}

static const char *cand_type(enum pal_media_cand_type t)
{
    static const char *names[] = {"host", "srflx", "prflx", "relay"};
    return names[t];
}

static void drain(struct pal_media *m)
{
    struct pal_media_event ev;
    while (pal_media_poll_event(m, &ev) == 1) {
        json_t *o = json_pack("{s:s,s:s,s:s}", "room", ev.room, "pid", ev.participant, "pc",
                              pal_media_pc_name(ev.pc));
        switch (ev.type) {
        case PAL_MEDIA_EV_LOCAL_CANDIDATE: {
            const struct pal_media_candidate *c = &ev.u.candidate;
            json_object_set_new(o, "ev", json_string("candidate"));
            json_object_set_new(o, "candidate",
                                json_pack("{s:s,s:i,s:s,s:I,s:s,s:i,s:s,s:s,s:i}", "foundation",
                                          c->foundation, "component", c->component, "transport",
                                          "udp", "priority", (json_int_t)c->priority, "addr",
                                          c->addr, "port", c->port, "type", cand_type(c->type),
                                          "raddr", c->raddr, "rport", c->rport));
            break;
        }
        case PAL_MEDIA_EV_GATHERING_DONE:
            json_object_set_new(o, "ev", json_string("gathering_done"));
            break;
        case PAL_MEDIA_EV_CONNECTED:
            json_object_set_new(o, "ev", json_string("connected"));
            json_object_set_new(o, "profile",
                                json_string(pal_srtp_profile_name(ev.u.connected.profile)));
            break;
        case PAL_MEDIA_EV_FAILED:
            json_object_set_new(o, "ev", json_string("failed"));
            json_object_set_new(
                o, "code",
                json_string(ev.u.failed.code == PAL_MEDIA_FAIL_DTLS ? "dtls_failed" : "ice_failed"));
            json_object_set_new(o, "reason", json_string(ev.u.failed.reason));
            break;
        case PAL_MEDIA_EV_ACTIVE_SPEAKER:
            json_object_set_new(o, "ev", json_string("active_speaker"));
            break;
        default:
            json_object_set_new(o, "ev", json_string("other"));
            break;
        }
        out(o);
    }
}

int main(int argc, char **argv)
{
    struct pal_media_config cfg = {.workers = argc > 1 ? atoi(argv[1]) : 0, .add_loopback = true};
    const char *lvl = getenv("PALABRE_LOG");
    enum pal_log_level level = PAL_LOG_INFO;
    if (lvl)
        pal_log_level_parse(lvl, &level);
    pal_log_set_level(level);
    if (pipe(wake_pipe) < 0)
        return 1;
    struct pal_media *m;
    if (pal_media_create(&cfg, wake, NULL, &m) != 0) {
        fprintf(stderr, "bench_join: cannot start the media engine\n");
        return 1;
    }
    out(json_pack("{s:s,s:s}", "ev", "ready", "fingerprint", pal_media_fingerprint(m)));
    char line[65536];
    size_t used = 0;
    for (;;) {
        struct pollfd fds[2] = {{.fd = 0, .events = POLLIN}, {.fd = wake_pipe[0], .events = POLLIN}};
        if (poll(fds, 2, 200) < 0)
            continue;
        if (fds[1].revents & POLLIN) {
            char buf[256];
            if (read(wake_pipe[0], buf, sizeof(buf)) < 0) {
                /* nothing */
            }
        }
        drain(m);
        if (fds[0].revents & (POLLIN | POLLHUP)) {
            ssize_t n = read(0, line + used, sizeof(line) - used - 1);
            if (n <= 0)
                break;
            used += (size_t)n;
            line[used] = '\0';
            char *start = line, *nl;
            while ((nl = strchr(start, '\n'))) {
                *nl = '\0';
                json_t *req = json_loads(start, 0, NULL);
                if (req) {
                    handle(m, req);
                    json_decref(req);
                }
                start = nl + 1;
            }
            used = strlen(start);
            memmove(line, start, used + 1);
            if (used >= sizeof(line) - 1)
                used = 0; /* line too long: dropped */
        }
    }
    pal_media_destroy(m);
    close(wake_pipe[0]);
    close(wake_pipe[1]);
    return 0;
}
