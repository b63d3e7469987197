/* Graceful drain: what the join handler and HTTP ask while the server
 * drains (the state itself is the server's, server.c). */
#include "palabre/drain.h"

#include <arpa/inet.h>
#include <string.h>

#include "palabre/common.h"
#include "palabre/server.h"
#include "palabre/signaling.h"

bool pal_drain_loopback_peer(const char *addr)
{
    unsigned char a[16];
    if (!addr)
        return false;
    if (inet_pton(AF_INET, addr, a) == 1)
        return a[0] == 127;
    if (inet_pton(AF_INET6, addr, a) != 1)
        return false;
    static const unsigned char v6_loopback[16] = {[15] = 1};
    static const unsigned char v4_mapped[12] = {[10] = 0xff, [11] = 0xff};
    if (memcmp(a, v6_loopback, 16) == 0)
        return true;
    return memcmp(a, v4_mapped, 12) == 0 && a[12] == 127;
}

json_t *pal_drain_event(int64_t deadline_wall_ms, int64_t now_wall_ms)
{
    int64_t left_ms = deadline_wall_ms - now_wall_ms;
    json_int_t seconds_left = left_ms > 0 ? (json_int_t)((left_ms + 999) / 1000) : 0;
    return json_pack("{s:s, s:I, s:I}", "type", "server_draining", "deadline_ms",
                     (json_int_t)deadline_wall_ms, "seconds_left", seconds_left);
}

bool pal_drain_new_room_or_reply(struct pal_session *s, json_t *id)
{
    struct pal_server *srv = pal_session_server(s);
    if (!pal_server_draining(srv))
        return true;
    pal_session_reply_error(s, id, "draining", "room",
                            "the server is about to restart for maintenance: meetings already "
                            "running go on, but no new meeting can start here now; try again "
                            "in a few minutes");
    return false;
}

void pal_drain_tell(struct pal_session *s)
{
    struct pal_server *srv = pal_session_server(s);
    if (pal_server_draining(srv))
        pal_session_send(s, pal_drain_event(pal_server_drain_deadline_ms(srv), pal_wall_ms()));
}
