/* ICE for one PeerConnection: a libnice agent (full ICE, RFC 8445; trickle,
 * RFC 8838; consent freshness, RFC 7675) with one stream of one component
 * (BUNDLE + rtcp-mux), created on its media worker's GMainContext so every
 * callback runs on that worker.
 *
 * Local candidates go out through on_ice_candidate (trickled to the browser
 * by signaling); remote ones come in with pal_ice_add_remote_candidate().
 * Gathering uses the configured interfaces (all if none), the UDP port range,
 * and 127.0.0.1 when asked (libnice skips loopback); without an interface
 * list, a loopback or specific listen address is the only one
 * (pal_ice_bind_address). With an announced public address (1:1 NAT), host
 * candidates are announced with it. Remote candidates our addresses cannot
 * reach are ignored (pal_ice_remote_reachable): a client cannot make the
 * server send connectivity checks anywhere it likes.
 *
 * A peer that vanishes stops answering consent checks: libnice then fails
 * the component (about 30 s) and on_ice_failed is called.
 *
 * Thread: the owning worker only (create and destroy too). Callbacks never
 * run inside pal_ice_destroy. */
#ifndef PALABRE_ICE_H
#define PALABRE_ICE_H

#include <glib.h>
#include <sys/socket.h>

#include "palabre/common.h"
#include "palabre/media.h"

struct pal_ice;
struct pal_send_batch;

struct pal_ice_listener {
    void *ctx;
    void (*on_ice_candidate)(void *ctx, const struct pal_media_candidate *c);
    void (*on_ice_gathering_done)(void *ctx);
    /* A pair is selected: data may flow (called once per (re)connection). */
    void (*on_ice_connected)(void *ctx);
    void (*on_ice_failed)(void *ctx, const char *reason);
    /* One datagram (not STUN); buf may be modified in place. */
    void (*on_ice_recv)(void *ctx, uint8_t *buf, size_t len);
};

/* controlling: RFC 8445 roles, the offerer controls (subscribe PC).
 * batch: the worker's send batch (palabre/send_queue.h): once a direct
 * (non-relayed) pair is selected, datagrams are queued and leave with one
 * sendmmsg when the worker flushes it; NULL: one sendto per datagram. l is
 * copied. Starts gathering. Returns 0, -EINVAL, -ENOMEM or -EIO. */
int pal_ice_create(GMainContext *ctx, const struct pal_media_config *cfg, bool controlling,
                   const struct pal_media_ice_params *local, struct pal_send_batch *batch,
                   const struct pal_ice_listener *l, struct pal_ice **out);
void pal_ice_destroy(struct pal_ice *ice);

/* Remote ufrag/pwd. Returns 0, -EINVAL. */
int pal_ice_set_remote(struct pal_ice *ice, const struct pal_media_ice_params *remote);
bool pal_ice_remote_is(const struct pal_ice *ice, const struct pal_media_ice_params *remote);
/* Returns 0, -EINVAL (bad address), -EPROTONOSUPPORT (TCP, .local names:
 * ignored) or -ENETUNREACH (not reachable from our addresses: ignored and
 * counted, see pal_ice_remote_ignored). None of them is fatal. */
int pal_ice_add_remote_candidate(struct pal_ice *ice, const struct pal_media_candidate *c);
/* Remote candidates ignored as unreachable since creation. */
uint64_t pal_ice_remote_ignored(const struct pal_ice *ice);
/* The same, summed over every agent the process has had. Any thread. */
uint64_t pal_ice_remote_ignored_total(void);
void pal_ice_remote_gathering_done(struct pal_ice *ice);
/* ICE restart with new credentials on both sides; local candidates are
 * announced again. Returns 0 or -EIO. */
int pal_ice_restart(struct pal_ice *ice, const struct pal_media_ice_params *local,
                    const struct pal_media_ice_params *remote);

/* Sends one datagram on the selected pair (queued when batched, in order
 * with the slots below). Returns 0, -ENOTCONN or -EIO. */
int pal_ice_send(struct pal_ice *ice, const uint8_t *buf, size_t len);
/* Zero-copy batched send: a PAL_SEND_SLOT-byte buffer to write the datagram
 * into, then pal_ice_send_commit(). NULL when not batching (no batch, no
 * direct pair yet, relayed): use pal_ice_send. */
uint8_t *pal_ice_send_slot(struct pal_ice *ice);
void pal_ice_send_commit(struct pal_ice *ice, size_t len);
/* Send syscalls made and datagrams the kernel refused (dropped). */
void pal_ice_get_send_stats(const struct pal_ice *ice, uint64_t *calls, uint64_t *dropped);

/* The one address media binds to, from cfg->listen_addr: a loopback address
 * ("localhost" is 127.0.0.1) or a specific IP literal ("[::1]" too) is
 * written to out and true returned; a wildcard, an empty or a host name
 * listen address, or an interfaces list, return false (every interface). */
bool pal_ice_bind_address(const struct pal_media_config *cfg, char out[static 64]);

/* The kinds of local address an agent gathered on (a bit set). */
enum {
    PAL_ICE_LOCAL_V4 = 1,          /* IPv4, not loopback */
    PAL_ICE_LOCAL_V4_LOOPBACK = 2, /* 127/8 */
    PAL_ICE_LOCAL_V6 = 4,          /* IPv6, not loopback */
    PAL_ICE_LOCAL_V6_LOOPBACK = 8, /* ::1 */
};
/* Whether connectivity checks may go to the remote candidate a (address and
 * port): never to port 0, an unspecified, multicast, broadcast/reserved
 * (240/4), link-local or IPv4-mapped address; to a loopback address only
 * from a loopback one of its family, to any other only from a non-loopback
 * one of its family. local: PAL_ICE_LOCAL_* bits. */
bool pal_ice_remote_reachable(const struct sockaddr *a, unsigned local);

#endif
