/* libnice glue. See palabre/ice.h. */
#include "palabre/ice.h"

#include <agent.h>
#include <arpa/inet.h>
#include <errno.h>
#include <gio/gio.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/log.h"
#include "palabre/loop.h"
#include "palabre/send_queue.h"

struct pal_ice {
    /* borrowed */
    GMainContext *ctx;
    /* owned */
    NiceAgent *agent;
    GSocket *direct; /* the selected pair's UDP socket (not relayed), or NULL */
    struct pal_send_queue *queue; /* batched sends on direct, NULL: one sendto each */
    /* state */
    struct sockaddr_storage peer; /* the selected remote candidate */
    socklen_t peer_len;
    struct pal_ice_listener l;
    struct pal_media_config cfg;
    guint stream;
    bool connected;
    bool failed;
    struct pal_media_ice_params remote;
    unsigned local_kinds; /* PAL_ICE_LOCAL_* of the gathered host candidates */
    uint64_t send_dropped, send_calls; /* unbatched sends (the queue counts its own) */
    uint64_t remote_ignored;
};

/* ---- which addresses ------------------------------------------------------------ */

bool pal_ice_bind_address(const struct pal_media_config *cfg, char out[static 64])
{
    const char *a = cfg->listen_addr;
    if (cfg->interfaces[0] || !a[0])
        return false;
    if (!strcmp(a, "localhost")) {
        snprintf(out, 64, "127.0.0.1");
        return true;
    }
    char lit[64];
    size_t n = strlen(a);
    if (a[0] == '[' && n > 2 && a[n - 1] == ']') { /* "[::1]" */
        memcpy(lit, a + 1, n - 2);
        lit[n - 2] = '\0';
    } else {
        snprintf(lit, sizeof(lit), "%s", a);
    }
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, lit, &v4) == 1) {
        if (v4.s_addr == htonl(INADDR_ANY))
            return false;
    } else if (inet_pton(AF_INET6, lit, &v6) == 1) {
        if (IN6_IS_ADDR_UNSPECIFIED(&v6))
            return false;
    } else {
        return false; /* a host name: the operator said where signaling is, not media */
    }
    snprintf(out, 64, "%s", lit);
    return true;
}

enum kind { K_UNUSABLE, K_V4, K_V4_LOOPBACK, K_V6, K_V6_LOOPBACK };

static enum kind address_kind(const struct sockaddr *a)
{
    if (a->sa_family == AF_INET) {
        uint32_t v = ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr);
        uint8_t top = (uint8_t)(v >> 24);
        if (top == 0 || top >= 224 || (v >> 16) == 0xa9fe) /* 0/8, multicast, 240/4, 169.254/16 */
            return K_UNUSABLE;
        return top == 127 ? K_V4_LOOPBACK : K_V4;
    }
    if (a->sa_family == AF_INET6) {
        const struct in6_addr *v = &((const struct sockaddr_in6 *)a)->sin6_addr;
        if (IN6_IS_ADDR_UNSPECIFIED(v) || IN6_IS_ADDR_MULTICAST(v) || IN6_IS_ADDR_LINKLOCAL(v) ||
            IN6_IS_ADDR_V4MAPPED(v) || IN6_IS_ADDR_V4COMPAT(v))
            return K_UNUSABLE;
        return IN6_IS_ADDR_LOOPBACK(v) ? K_V6_LOOPBACK : K_V6;
    }
    return K_UNUSABLE;
}

static const unsigned kind_bit[] = {
    [K_UNUSABLE] = 0,
    [K_V4] = PAL_ICE_LOCAL_V4,
    [K_V4_LOOPBACK] = PAL_ICE_LOCAL_V4_LOOPBACK,
    [K_V6] = PAL_ICE_LOCAL_V6,
    [K_V6_LOOPBACK] = PAL_ICE_LOCAL_V6_LOOPBACK,
};

bool pal_ice_remote_reachable(const struct sockaddr *a, unsigned local)
{
    in_port_t port = a->sa_family == AF_INET    ? ((const struct sockaddr_in *)a)->sin_port
                     : a->sa_family == AF_INET6 ? ((const struct sockaddr_in6 *)a)->sin6_port
                                                : 0;
    return port != 0 && (kind_bit[address_kind(a)] & local) != 0;
}

static unsigned local_kinds(NiceAgent *agent, guint stream)
{
    unsigned kinds = 0;
    GSList *cands = nice_agent_get_local_candidates(agent, stream, 1);
    for (GSList *i = cands; i; i = i->next) {
        const NiceCandidate *nc = i->data;
        struct sockaddr_storage ss = {0};
        nice_address_copy_to_sockaddr(&nc->base_addr, (struct sockaddr *)&ss);
        kinds |= kind_bit[address_kind((const struct sockaddr *)&ss)];
    }
    g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
    return kinds;
}

static bool same_family(const char *a, const char *b)
{
    return (strchr(a, ':') != NULL) == (strchr(b, ':') != NULL);
}

static void to_candidate(const struct pal_ice *ice, const NiceCandidate *nc,
                         struct pal_media_candidate *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->foundation, sizeof(c->foundation), "%s", nc->foundation);
    c->component = (uint8_t)nc->component_id;
    c->tcp = nc->transport != NICE_CANDIDATE_TRANSPORT_UDP;
    c->priority = nc->priority;
    char a[NICE_ADDRESS_STRING_LEN];
    nice_address_to_string(&nc->addr, a);
    snprintf(c->addr, sizeof(c->addr), "%s", a);
    c->port = (uint16_t)nice_address_get_port(&nc->addr);
    switch (nc->type) {
    case NICE_CANDIDATE_TYPE_HOST: c->type = PAL_MEDIA_CAND_HOST; break;
    case NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE: c->type = PAL_MEDIA_CAND_SRFLX; break;
    case NICE_CANDIDATE_TYPE_PEER_REFLEXIVE: c->type = PAL_MEDIA_CAND_PRFLX; break;
    default: c->type = PAL_MEDIA_CAND_RELAY; break;
    }
    if (c->type != PAL_MEDIA_CAND_HOST) {
        nice_address_to_string(&nc->base_addr, a);
        snprintf(c->raddr, sizeof(c->raddr), "%s", a);
        c->rport = (uint16_t)nice_address_get_port(&nc->base_addr);
    }
    /* 1:1 NAT: announce the public address instead of the private one, on
     * host candidates of its family only: a dual-stack host behind IPv4 NAT
     * (a cloud VM) keeps announcing its routed IPv6 address as it is. */
    if (ice->cfg.public_ip[0] && c->type == PAL_MEDIA_CAND_HOST &&
        strcmp(c->addr, "127.0.0.1") != 0 && strcmp(c->addr, "::1") != 0 &&
        same_family(c->addr, ice->cfg.public_ip))
        snprintf(c->addr, sizeof(c->addr), "%s", ice->cfg.public_ip);
}

static void on_new_candidate(NiceAgent *agent, NiceCandidate *nc, gpointer ud)
{
    (void)agent;
    struct pal_ice *ice = ud;
    if (nc->transport != NICE_CANDIDATE_TRANSPORT_UDP || !ice->l.on_ice_candidate)
        return;
    struct pal_media_candidate c;
    to_candidate(ice, nc, &c);
    ice->l.on_ice_candidate(ice->l.ctx, &c);
}

static void on_gathering_done(NiceAgent *agent, guint stream, gpointer ud)
{
    (void)agent;
    (void)stream;
    struct pal_ice *ice = ud;
    if (ice->l.on_ice_gathering_done)
        ice->l.on_ice_gathering_done(ice->l.ctx);
}

static void on_state(NiceAgent *agent, guint stream, guint comp, guint state, gpointer ud)
{
    (void)agent;
    (void)stream;
    (void)comp;
    struct pal_ice *ice = ud;
    PAL_DEBUG("ice", NULL, NULL, "component state %s", nice_component_state_to_string(state));
    if ((state == NICE_COMPONENT_STATE_CONNECTED || state == NICE_COMPONENT_STATE_READY) &&
        !ice->connected) {
        ice->connected = true;
        ice->failed = false;
        if (ice->l.on_ice_connected)
            ice->l.on_ice_connected(ice->l.ctx);
    } else if (state == NICE_COMPONENT_STATE_FAILED && !ice->failed) {
        const char *why = ice->connected ? "consent lost" : "connectivity checks failed";
        ice->failed = true;
        ice->connected = false;
        if (ice->l.on_ice_failed)
            ice->l.on_ice_failed(ice->l.ctx, why);
    }
}

/* Media bypasses nice_agent_send (its lock and indirection cost ~0.55 us per
 * packet, measured with callgrind) with a plain sendto, or the send
 * queue's sendmmsg, on the selected pair's socket. Relayed pairs keep going
 * through libnice (TURN framing). */
static void drop_direct(struct pal_ice *ice)
{
    if (ice->queue) /* flushed to the old pair first */
        pal_send_queue_set_dest(ice->queue, -1, NULL, 0);
    if (ice->direct) {
        g_object_unref(ice->direct);
        ice->direct = NULL;
    }
}

static void on_selected_pair(NiceAgent *agent, guint stream, guint comp, NiceCandidate *local,
                             NiceCandidate *remote, gpointer ud)
{
    struct pal_ice *ice = ud;
    drop_direct(ice);
    if (local->type == NICE_CANDIDATE_TYPE_RELAYED || local->transport != NICE_CANDIDATE_TRANSPORT_UDP)
        return;
    memset(&ice->peer, 0, sizeof(ice->peer));
    nice_address_copy_to_sockaddr(&remote->addr, (struct sockaddr *)&ice->peer);
    ice->peer_len = ice->peer.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                    : sizeof(struct sockaddr_in);
    ice->direct = nice_agent_get_selected_socket(agent, stream, comp);
    if (ice->direct && ice->queue)
        pal_send_queue_set_dest(ice->queue, g_socket_get_fd(ice->direct),
                                (const struct sockaddr *)&ice->peer, ice->peer_len);
}

static void on_recv(NiceAgent *agent, guint stream, guint comp, guint len, gchar *buf,
                    gpointer ud)
{
    (void)agent;
    (void)stream;
    (void)comp;
    struct pal_ice *ice = ud;
    if (ice->l.on_ice_recv)
        ice->l.on_ice_recv(ice->l.ctx, (uint8_t *)buf, len);
}

/* Interfaces no browser reaches (container bridges and veths, VM networks):
 * skipped when no list is given, as libnice's own discovery does in Debian's
 * build (its ignored-network-interface-prefix). Named in a list, they count. */
static bool host_internal(const char *ifname)
{
    static const char *const prefixes[] = {"docker", "veth", "virbr", "vnet"};
    for (size_t i = 0; i < PAL_ARRAY_LEN(prefixes); i++)
        if (!strncmp(ifname, prefixes[i], strlen(prefixes[i])))
            return true;
    return false;
}

/* Adds the usable addresses, both families, of interface `name`, or of every
 * interface but loopback and host_internal() ones when name is NULL; returns
 * how many. */
static int add_addresses_of(NiceAgent *agent, const struct ifaddrs *ifs, const char *name)
{
    int added = 0;
    for (const struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) || (name && strcmp(i->ifa_name, name)) ||
            (!name && host_internal(i->ifa_name)))
            continue;
        enum kind k = address_kind(i->ifa_addr);
        if (k == K_UNUSABLE || (!name && (k == K_V4_LOOPBACK || k == K_V6_LOOPBACK)))
            continue;
        NiceAddress addr;
        nice_address_set_from_sockaddr(&addr, i->ifa_addr);
        nice_address_set_port(&addr, 0);
        added += nice_agent_add_local_address(agent, &addr) ? 1 : 0;
    }
    return added;
}

/* The host's addresses, or those of the interfaces in `names` (comma-
 * separated). Listed here rather than by libnice's own discovery, which also
 * gathers link-local IPv6 addresses (useless in SDP, which cannot scope them),
 * and whose lookup by interface name returns one IPv4 address. */
static void add_host_addresses(NiceAgent *agent, const char *names)
{
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs) != 0) {
        PAL_WARN("ice", NULL, NULL, "cannot list the host's addresses: %s", strerror(errno));
        return;
    }
    if (!names[0]) {
        add_addresses_of(agent, ifs, NULL);
    } else {
        char list[sizeof(((struct pal_media_config *)0)->interfaces)];
        snprintf(list, sizeof(list), "%s", names);
        char *save = NULL;
        for (char *name = strtok_r(list, ", ", &save); name; name = strtok_r(NULL, ", ", &save))
            if (!add_addresses_of(agent, ifs, name))
                PAL_WARN("ice", NULL, NULL, "interface %s has no usable address", name);
    }
    freeifaddrs(ifs);
}

static void add_local_addresses(struct pal_ice *ice)
{
    NiceAddress addr;
    char only[64];
    if (pal_ice_bind_address(&ice->cfg, only)) {
        if (nice_address_set_from_string(&addr, only))
            nice_agent_add_local_address(ice->agent, &addr);
        /* signaling on [::1]: IPv6 candidates, and IPv4 loopback too, for
         * browsers that gather only 127.0.0.1 (Chromium without an IPv6
         * default route) */
        if (ice->cfg.add_loopback && !strcmp(only, "::1") &&
            nice_address_set_from_string(&addr, "127.0.0.1"))
            nice_agent_add_local_address(ice->agent, &addr);
        return;
    }
    /* once one address is added, libnice discovers no other */
    add_host_addresses(ice->agent, ice->cfg.interfaces);
    /* libnice skips loopback */
    if (ice->cfg.add_loopback && nice_address_set_from_string(&addr, "127.0.0.1"))
        nice_agent_add_local_address(ice->agent, &addr);
}

/* Liveness of a connected pair: libnice sends a keepalive connectivity check
 * every 4-6 s, never retransmitted, and fails the component when none was
 * answered for a while. With RFC 7675 consent freshness that while should be
 * 30 s, but libnice 0.1.21 (Debian 12) uses 10 s: one lost check or answer can
 * fail a healthy link (on a 5 % loss link, about once a minute), fixed upstream in
 * 0.1.22 ("agent: set consent timeout to value specified in RFC 7675"). With that
 * libnice, consent freshness stays off and the keepalive checks alone bound the
 * silence at libnice's 50 s (docs/operations.md, "Failures and clean-up"). */
#ifdef PAL_NICE_CONSENT_30S
#define ICE_AGENT_OPTIONS                                                                      \
    (NICE_AGENT_OPTION_ICE_TRICKLE | NICE_AGENT_OPTION_CONSENT_FRESHNESS |                     \
     NICE_AGENT_OPTION_REGULAR_NOMINATION)
#else
#define ICE_AGENT_OPTIONS (NICE_AGENT_OPTION_ICE_TRICKLE | NICE_AGENT_OPTION_REGULAR_NOMINATION)
#endif

/* Every worker's ICE agents add to it: /metrics reads it from the signaling thread. */
static _Atomic uint64_t remote_ignored_total;

int pal_ice_create(GMainContext *ctx, const struct pal_media_config *cfg, bool controlling,
                   const struct pal_media_ice_params *local, struct pal_send_batch *batch,
                   const struct pal_ice_listener *l, struct pal_ice **out)
{
    *out = NULL;
    if (!local || !local->ufrag[0] || !local->pwd[0])
        return -EINVAL;
    pal_loop_resync(); /* gathering opens sockets (palabre/loop.h) */
    struct pal_ice *ice = calloc(1, sizeof(*ice));
    if (!ice)
        return -ENOMEM;
    ice->ctx = ctx;
    ice->l = *l;
    ice->cfg = *cfg;
    if (batch && pal_send_queue_create(batch, &ice->queue)) {
        free(ice);
        return -ENOMEM;
    }
    ice->agent = nice_agent_new_full(ctx, NICE_COMPATIBILITY_RFC5245, ICE_AGENT_OPTIONS);
    if (!ice->agent) {
        pal_send_queue_destroy(ice->queue);
        free(ice);
        return -EIO;
    }
    /* No ICE-TCP: only UDP candidates are announced (on_new_candidate), and
     * libnice's idle TCP sockets would double the descriptors the worker
     * polls for every packet. */
    g_object_set(ice->agent, "controlling-mode", controlling, "upnp", FALSE, "ice-tcp", FALSE,
                 "keepalive-conncheck", TRUE, NULL);
    add_local_addresses(ice);
    g_signal_connect(ice->agent, "new-candidate-full", G_CALLBACK(on_new_candidate), ice);
    g_signal_connect(ice->agent, "candidate-gathering-done", G_CALLBACK(on_gathering_done), ice);
    g_signal_connect(ice->agent, "component-state-changed", G_CALLBACK(on_state), ice);
    g_signal_connect(ice->agent, "new-selected-pair-full", G_CALLBACK(on_selected_pair), ice);
    ice->stream = nice_agent_add_stream(ice->agent, 1);
    if (!ice->stream) {
        pal_ice_destroy(ice);
        return -EIO;
    }
    if (cfg->turn_ip[0]) {
        g_object_set(ice->agent, "force-relay", TRUE, NULL);
        if (!nice_agent_set_relay_info(ice->agent, ice->stream, 1, cfg->turn_ip,
                                       (guint)cfg->turn_port, cfg->turn_user, cfg->turn_pass,
                                       NICE_RELAY_TYPE_TURN_UDP)) {
            pal_ice_destroy(ice);
            return -EINVAL;
        }
    }
    if (cfg->port_min > 0 && cfg->port_max >= cfg->port_min)
        nice_agent_set_port_range(ice->agent, ice->stream, 1, (guint)cfg->port_min,
                                  (guint)cfg->port_max);
    nice_agent_set_local_credentials(ice->agent, ice->stream, local->ufrag, local->pwd);
    nice_agent_attach_recv(ice->agent, ice->stream, 1, ctx, on_recv, ice);
    if (!nice_agent_gather_candidates(ice->agent, ice->stream)) {
        pal_ice_destroy(ice);
        return -EIO;
    }
    /* Host candidates exist once gathering started (their signals come later).
     * A forced relay hides them, and reaches IPv4 peers (the TURN server's family). */
    ice->local_kinds = cfg->turn_ip[0] ? PAL_ICE_LOCAL_V4 : local_kinds(ice->agent, ice->stream);
    *out = ice;
    return 0;
}

void pal_ice_destroy(struct pal_ice *ice)
{
    if (!ice)
        return;
    pal_loop_resync(); /* its sockets close */
    drop_direct(ice); /* sends what is queued while the socket is still open */
    pal_send_queue_destroy(ice->queue);
    if (ice->agent) {
        g_signal_handlers_disconnect_by_data(ice->agent, ice);
        if (ice->stream) {
            nice_agent_attach_recv(ice->agent, ice->stream, 1, ice->ctx, NULL, NULL);
            nice_agent_remove_stream(ice->agent, ice->stream);
        }
        g_object_unref(ice->agent);
    }
    free(ice);
}

int pal_ice_set_remote(struct pal_ice *ice, const struct pal_media_ice_params *remote)
{
    if (!remote->ufrag[0] || !remote->pwd[0])
        return -EINVAL;
    ice->remote = *remote;
    return nice_agent_set_remote_credentials(ice->agent, ice->stream, remote->ufrag, remote->pwd)
               ? 0
               : -EINVAL;
}

bool pal_ice_remote_is(const struct pal_ice *ice, const struct pal_media_ice_params *remote)
{
    return strcmp(ice->remote.ufrag, remote->ufrag) == 0 &&
           strcmp(ice->remote.pwd, remote->pwd) == 0;
}

int pal_ice_add_remote_candidate(struct pal_ice *ice, const struct pal_media_candidate *c)
{
    if (c->tcp)
        return -EPROTONOSUPPORT;
    NiceAddress addr;
    if (!nice_address_set_from_string(&addr, c->addr))
        return strstr(c->addr, ".local") ? -EPROTONOSUPPORT : -EINVAL;
    nice_address_set_port(&addr, c->port);
    struct sockaddr_storage ss = {0};
    nice_address_copy_to_sockaddr(&addr, (struct sockaddr *)&ss);
    if (!pal_ice_remote_reachable((const struct sockaddr *)&ss, ice->local_kinds)) {
        ice->remote_ignored++;
        atomic_fetch_add_explicit(&remote_ignored_total, 1, memory_order_relaxed);
        PAL_DEBUG("ice", NULL, NULL, "remote candidate %s port %u ignored: not reachable from here",
                  c->addr, c->port);
        return -ENETUNREACH;
    }
    NiceCandidateType t = c->type == PAL_MEDIA_CAND_HOST    ? NICE_CANDIDATE_TYPE_HOST
                          : c->type == PAL_MEDIA_CAND_SRFLX ? NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE
                          : c->type == PAL_MEDIA_CAND_PRFLX ? NICE_CANDIDATE_TYPE_PEER_REFLEXIVE
                                                            : NICE_CANDIDATE_TYPE_RELAYED;
    NiceCandidate *nc = nice_candidate_new(t);
    nc->transport = NICE_CANDIDATE_TRANSPORT_UDP;
    nc->addr = addr;
    nc->priority = c->priority;
    nc->stream_id = ice->stream;
    nc->component_id = 1;
    snprintf(nc->foundation, sizeof(nc->foundation), "%s", c->foundation);
    if (c->raddr[0] && nice_address_set_from_string(&nc->base_addr, c->raddr))
        nice_address_set_port(&nc->base_addr, c->rport);
    GSList *list = g_slist_append(NULL, nc);
    int n = nice_agent_set_remote_candidates(ice->agent, ice->stream, 1, list);
    g_slist_free(list);
    nice_candidate_free(nc);
    return n >= 0 ? 0 : -EINVAL;
}

uint64_t pal_ice_remote_ignored(const struct pal_ice *ice)
{
    return ice->remote_ignored;
}

uint64_t pal_ice_remote_ignored_total(void)
{
    return atomic_load_explicit(&remote_ignored_total, memory_order_relaxed);
}

void pal_ice_remote_gathering_done(struct pal_ice *ice)
{
    nice_agent_peer_candidate_gathering_done(ice->agent, ice->stream);
}

int pal_ice_restart(struct pal_ice *ice, const struct pal_media_ice_params *local,
                    const struct pal_media_ice_params *remote)
{
    pal_loop_resync();
    if (!nice_agent_restart_stream(ice->agent, ice->stream))
        return -EIO;
    drop_direct(ice);
    ice->connected = false;
    ice->failed = false;
    nice_agent_set_local_credentials(ice->agent, ice->stream, local->ufrag, local->pwd);
    if (remote && remote->ufrag[0])
        pal_ice_set_remote(ice, remote);
    GSList *cands = nice_agent_get_local_candidates(ice->agent, ice->stream, 1);
    for (GSList *i = cands; i; i = i->next)
        on_new_candidate(ice->agent, i->data, ice);
    g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
    on_gathering_done(ice->agent, ice->stream, ice);
    return 0;
}

uint8_t *pal_ice_send_slot(struct pal_ice *ice)
{
    if (!ice->queue || !ice->direct || !ice->connected)
        return NULL;
    return pal_send_queue_reserve(ice->queue);
}

void pal_ice_send_commit(struct pal_ice *ice, size_t len)
{
    pal_send_queue_commit(ice->queue, len);
}

int pal_ice_send(struct pal_ice *ice, const uint8_t *buf, size_t len)
{
    if (ice->direct && ice->connected) {
        if (ice->queue && len <= PAL_SEND_SLOT)
            return pal_send_queue_push(ice->queue, buf, len);
        if (ice->queue) /* too big to queue: what is queued leaves first */
            pal_send_queue_flush(ice->queue);
        ice->send_calls++;
        ssize_t w = sendto(g_socket_get_fd(ice->direct), buf, len, MSG_DONTWAIT,
                           (const struct sockaddr *)&ice->peer, ice->peer_len);
        if (w == (ssize_t)len)
            return 0;
        ice->send_dropped++;
        return -EIO;
    }
    if (ice->queue) /* a pair just lost: what is queued leaves first */
        pal_send_queue_flush(ice->queue);
    int n = nice_agent_send(ice->agent, ice->stream, 1, (guint)len, (const gchar *)buf);
    if (n < 0)
        return ice->connected ? -EIO : -ENOTCONN;
    return 0;
}

void pal_ice_get_send_stats(const struct pal_ice *ice, uint64_t *calls, uint64_t *dropped)
{
    struct pal_send_queue_stats q = {0};
    if (ice->queue)
        pal_send_queue_get_stats(ice->queue, &q);
    *calls = ice->send_calls + q.batches;
    *dropped = ice->send_dropped + q.dropped;
}
