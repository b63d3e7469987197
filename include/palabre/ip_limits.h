/* Per client address bounds: how many WebSockets (and resume ghosts) one
 * address holds, how many rooms it creates per minute. Plain bookkeeping
 * keyed by the address text (see pal_http_client_address for which address);
 * time is passed in (now_ms, monotonic) so tests need no sleep.
 *
 * An entry lives while its address holds a connection or created a room in
 * the last minute; pal_ip_limits_sweep frees the others.
 *
 * Thread: the signaling thread only (or a test). Owner: signaling/ip_limits.c. */
#ifndef PALABRE_IP_LIMITS_H
#define PALABRE_IP_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

#define PAL_IP_MAX 63 /* longest address text kept (IPv6 with a zone fits) */

struct pal_ip_limits;

/* Returns NULL when out of memory. */
struct pal_ip_limits *pal_ip_limits_create(int connections_per_ip, int rooms_per_minute);
void pal_ip_limits_destroy(struct pal_ip_limits *l);

/* Would one more connection from ip fit? (no change) */
bool pal_ip_limits_can_connect(struct pal_ip_limits *l, const char *ip);
/* Counts one connection (or ghost) of ip, over the bound too: the caller
 * checked pal_ip_limits_can_connect. Returns 0 or -ENOMEM. */
int pal_ip_limits_connect(struct pal_ip_limits *l, const char *ip);
/* The connection (or its ghost) is gone. */
void pal_ip_limits_disconnect(struct pal_ip_limits *l, const char *ip);
/* Connections (and ghosts) counted for ip. */
int pal_ip_limits_connections(struct pal_ip_limits *l, const char *ip);

/* ip creates a room at now_ms: 0 (counted), or -EAGAIN when it created
 * rooms_per_minute rooms in the last 60 s; *retry_after_ms then says when
 * the oldest of them leaves the window. -ENOMEM. */
int pal_ip_limits_create_room(struct pal_ip_limits *l, const char *ip, int64_t now_ms,
                              int64_t *retry_after_ms);

/* Frees entries without connection and without a room created since
 * now_ms - 60 s. */
void pal_ip_limits_sweep(struct pal_ip_limits *l, int64_t now_ms);
/* Entries held (tests). */
int pal_ip_limits_entries(const struct pal_ip_limits *l);

#endif
