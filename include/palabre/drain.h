/* Graceful drain: after SIGTERM or POST /admin/drain (from loopback), no new
 * room starts, running meetings go on for up to [server] drain_seconds, every
 * client is told (server_draining), /readyz answers 503, and the process
 * stops when the last room is empty or at the deadline.
 *
 * The drain's state lives in the server (server.c: pal_server_request_drain,
 * pal_server_start_drain, pal_server_draining); this module holds what
 * the handlers and http.c ask of it.
 *
 * Thread: the signaling thread, except pal_drain_loopback_peer (pure, any
 * thread). Owner: signaling/drain.c. */
#ifndef PALABRE_DRAIN_H
#define PALABRE_DRAIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct pal_session;
struct pal_server;

/* True when addr (a TCP peer as lws_get_peer_simple writes it) is a
 * loopback address: 127.0.0.0/8, ::1, or ::ffff:127.x.y.z. Anything that
 * does not parse is false. */
bool pal_drain_loopback_peer(const char *addr);

/* {"type":"server_draining","deadline_ms":<wall clock ms>,"seconds_left":N},
 * seconds_left rounded up, never negative. */
json_t *pal_drain_event(int64_t deadline_wall_ms, int64_t now_wall_ms);

/* The join validator: while draining, a join that would start a room is
 * answered `draining` (false). Joining a running meeting is not asked. */
bool pal_drain_new_room_or_reply(struct pal_session *s, json_t *id);

/* After a join or resume answered: while draining, the newcomer gets
 * server_draining too. */
void pal_drain_tell(struct pal_session *s);

#endif
