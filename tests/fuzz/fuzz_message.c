/* Fuzz target: arbitrary bytes as client messages through the real
 * signaling path (session reassembly, limits, dispatch, handlers, rooms, chat
 * store), on a server without network. Each input is split on '\n' into
 * text messages sent on one fresh session (so a join can precede the
 * requests that need it); then the group commit runs, the session closes and
 * its participant's resume window expires. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "palabre/common.h"
#include "palabre/log.h"
#include "palabre/server.h"
#include "palabre/session.h"

static struct pal_server *srv;
static char dir[64];

static void cleanup(void)
{
    pal_server_destroy(srv);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

static void init(void)
{
    pal_log_set_level(PAL_LOG_OFF);
    snprintf(dir, sizeof(dir), "%s/palabre-fuzz-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir))
        abort();
    struct pal_config cfg;
    pal_config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", dir);
    cfg.resume_seconds = 0;
    cfg.max_rooms = 8;
    cfg.max_participants_per_room = 4;
    cfg.max_message_bytes = 4096;
    srv = pal_server_create(&cfg);
    if (!srv)
        abort();
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!srv)
        init();
    struct pal_session *s = pal_session_create(srv, NULL, NULL);
    const uint8_t *p = data, *end = data + size;
    while (p <= end) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *e = nl ? nl : end;
        /* a line starting with 0x01 is sent as a binary frame */
        bool binary = e > p && p[0] == 0x01;
        pal_session_on_receive(s, p, (size_t)(e - p), binary, true);
        if (!nl)
            break;
        p = nl + 1;
    }
    pal_server_tick(srv, pal_now_ms());
    free(pal_session_pop_output(s)); /* exercise the output path */
    pal_session_on_closed(s);
    pal_server_tick(srv, pal_now_ms() + 1000);
    return 0;
}
