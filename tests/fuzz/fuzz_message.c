/* Fuzz target: arbitrary bytes as client messages through the real
 * signaling path (session reassembly, limits, dispatch, handlers, rooms,
 * access, moderation, chat and room stores), on servers without network.
 *
 * Each input is split on '\n' into text messages sent on fresh sessions (so
 * a join can precede the requests that need it); then the group commit
 * runs, the sessions close and their participants' resume windows expire.
 * - a line starting with 0x01 is sent as a binary frame;
 * - a line starting with 0x02 goes to a second session (B), the others to
 *   A: a moderator and a guest, an owner and a waiting participant;
 * - a first line "#token" runs the input on a server in token mode
 *   ([access] agents = token, the JWKS below) that also has the media
 *   signaling (one media worker: publish, track_stats, the hard mute's
 *   listener), else on an open-mode one without media;
 * - in a line, @INVITE@ and @DIRECT@ become the tokens of two invite links
 *   of the stored room "fz" (lobby, and straight in), @P1@ and @P2@ the
 *   participant ids of A and B: random values that no input could guess.
 * The open server's room "fz" is owned by agent_key FUZZ_AGENT_KEY; the
 * token server's by the sub of the token in tests/fuzz/corpus/message/
 * token_* (ES256, exp 2100, signed by the key whose public half is below). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "palabre/access.h"
#include "palabre/common.h"
#include "palabre/log.h"
#include "palabre/media_signaling.h"
#include "palabre/room_store.h"
#include "palabre/server.h"
#include "palabre/session.h"

#define FUZZ_AGENT_KEY "fuzzfuzzfuzzfuzzfuzzfuzz"
/* "local:" + the first 32 hex digits of SHA-256(FUZZ_AGENT_KEY) */
#define FUZZ_AGENT_SUB "local:b2d0e3de3a94280e1543b4201dd67c8c"

static const char jwks[] =
    "{\"keys\":[{\"kty\":\"EC\",\"x\":\"WtZ04hRYIUaloaUiryQdg2UqabwkB7uX597aSkWbeb4\","
    "\"y\":\"3dunTheOMGdh6Hdd4nRvGglf86vVK-52-oKj3HkbFjQ\",\"crv\":\"P-256\",\"kid\":\"fuzz\","
    "\"alg\":\"ES256\",\"use\":\"sig\"}]}";

struct fuzz_server {
    struct pal_server *srv;
    char invite[PAL_INVITE_TOKEN_LEN + 1], direct[PAL_INVITE_TOKEN_LEN + 1];
};

static struct fuzz_server open_srv, token_srv;
static char dir[64];

static void cleanup(void)
{
    pal_server_destroy(open_srv.srv);
    pal_server_destroy(token_srv.srv);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

/* A server with its own data dir, the stored room "fz" owned by owner_sub,
 * and two invite links to it. */
static void make_server(struct fuzz_server *fs, const char *sub_dir, bool token,
                        const char *owner_sub)
{
    struct pal_config cfg;
    pal_config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s/%s", dir, sub_dir);
    cfg.resume_seconds = 0;
    cfg.max_rooms = 8;
    cfg.max_participants_per_room = 4;
    cfg.max_message_bytes = 4096;
    cfg.max_rooms_per_agent = 4;
    cfg.agents = PAL_AGENTS_OPEN;
    if (token) {
        cfg.agents = PAL_AGENTS_TOKEN;
        snprintf(cfg.jwks_file, sizeof(cfg.jwks_file), "%s/jwks.json", dir);
        snprintf(cfg.jwt_issuer, sizeof(cfg.jwt_issuer), "fuzz-iss");
        snprintf(cfg.jwt_audience, sizeof(cfg.jwt_audience), "fuzz-aud");
    }
    cfg.media_workers = 1;
    fs->srv = pal_server_create(&cfg);
    if (!fs->srv)
        abort();
    struct pal_media_signaling *ms;
    if (token && (pal_media_signaling_create(fs->srv, &ms) ||
                  pal_server_adopt(fs->srv, ms, pal_media_signaling_destroy_cb)))
        abort();
    struct pal_room_store *rs = pal_server_room_store(fs->srv);
    struct pal_room_settings st = {.lobby = true, .guest_chat = true};
    struct pal_invite inv;
    int64_t now = pal_wall_ms();
    if (pal_room_store_create(rs, "fz", "Fuzz", owner_sub, "Owner", &st, now, 100) ||
        pal_room_store_invite_create(rs, "fz", "lobby", "Owner", now, now + 86400000LL, 0, true,
                                     fs->invite, &inv) ||
        pal_room_store_invite_create(rs, "fz", "direct", "Owner", now, now + 86400000LL, 0,
                                     false, fs->direct, &inv))
        abort();
}

static void init(void)
{
    pal_log_set_level(PAL_LOG_OFF);
    snprintf(dir, sizeof(dir), "%s/palabre-fuzz-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir))
        abort();
    char path[128];
    snprintf(path, sizeof(path), "%s/jwks.json", dir);
    FILE *f = fopen(path, "w");
    if (!f || fputs(jwks, f) < 0 || fclose(f))
        abort();
    make_server(&open_srv, "open", false, FUZZ_AGENT_SUB);
    make_server(&token_srv, "token", true, "agent-fuzz");
    atexit(cleanup);
}

/* line with the placeholders replaced, in out (at most cap bytes); its length. */
static size_t expand(const struct fuzz_server *fs, struct pal_session *a, struct pal_session *b,
                     const uint8_t *p, size_t n, char *out, size_t cap)
{
    const char *p1 = pal_session_participant_id(a), *p2 = pal_session_participant_id(b);
    const struct {
        const char *key, *val;
    } subst[] = {
        {"@INVITE@", fs->invite},
        {"@DIRECT@", fs->direct},
        {"@P1@", p1 ? p1 : ""},
        {"@P2@", p2 ? p2 : ""},
    };
    size_t o = 0;
    for (size_t i = 0; i < n && o < cap;) {
        size_t k = 0;
        for (; k < sizeof(subst) / sizeof(subst[0]); k++) {
            size_t kl = strlen(subst[k].key);
            if (n - i >= kl && memcmp(p + i, subst[k].key, kl) == 0) {
                size_t vl = strlen(subst[k].val);
                if (o + vl > cap)
                    vl = cap - o;
                memcpy(out + o, subst[k].val, vl);
                o += vl;
                i += kl;
                break;
            }
        }
        if (k == sizeof(subst) / sizeof(subst[0]))
            out[o++] = (char)p[i++];
    }
    return o;
}

static void drain(struct pal_session *s)
{
    char *out;
    while ((out = pal_session_pop_output(s))) /* exercise the output path */
        free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!open_srv.srv)
        init();
    const struct fuzz_server *fs = &open_srv;
    const uint8_t *p = data, *end = data + size;
    if (size >= 7 && memcmp(data, "#token\n", 7) == 0) {
        fs = &token_srv;
        p += 7;
    }
    struct pal_session *a = pal_session_create(fs->srv, NULL, NULL);
    struct pal_session *b = pal_session_create(fs->srv, NULL, NULL);
    static char line[8192];
    while (p <= end) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *e = nl ? nl : end;
        struct pal_session *s = a;
        if (e > p && p[0] == 0x02) {
            s = b;
            p++;
        }
        /* a line starting with 0x01 is sent as a binary frame */
        bool binary = e > p && p[0] == 0x01;
        size_t n = expand(fs, a, b, p, (size_t)(e - p), line, sizeof(line));
        pal_session_on_receive(s, line, n, binary, true);
        if (!nl)
            break;
        p = nl + 1;
    }
    pal_server_tick(fs->srv, pal_now_ms());
    drain(a);
    drain(b);
    pal_session_on_closed(a);
    pal_session_on_closed(b);
    pal_server_tick(fs->srv, pal_now_ms() + 1000);
    return 0;
}
