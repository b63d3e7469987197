/* Server configuration: embedded defaults, an INI file read with libinih,
 * then flags (main.c calls pal_config_set for each). Every key is described
 * in docs/operations.md. */
#include "palabre/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "palabre/cluster_wire.h"
#include "palabre/log.h"

void pal_config_defaults(struct pal_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->listen_addr, sizeof(cfg->listen_addr), "127.0.0.1");
    cfg->listen_port = 8080;
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "./var");
    cfg->web_root[0] = '\0'; /* resolved by pal_config_resolve_web_root() */
    cfg->log_level = PAL_LOG_INFO;
    cfg->metrics = PAL_METRICS_LOOPBACK;
    cfg->drain_seconds = 0; /* SIGTERM stops at once unless the operator asks for a drain */
    cfg->n_allowed_origins = 0; /* same origin */
    cfg->max_message_bytes = 524288; /* a subscribe answer for a room of 100 with cameras: ~200 KB */
    cfg->messages_per_second = 50;
    cfg->max_participants_per_room = 100;
    cfg->max_rooms = 1000;
    cfg->outbound_queue_messages = 1024;
    cfg->resume_seconds = 30;
    cfg->outbound_queue_bytes = 4 * 1024 * 1024;
    cfg->connections_per_ip = 50;
    cfg->rooms_per_ip_per_minute = 20;
    cfg->join_timeout_seconds = 10;
    cfg->media_workers = 0;
    cfg->port_min = 0;
    cfg->port_max = 0;
    cfg->mixer_video_width = 1280;
    cfg->mixer_video_height = 720;
    cfg->mixer_video_fps = 15;
    cfg->mixer_video_bitrate_kbps = 1200;
    cfg->mixer_max_rooms = 8;
    cfg->chat_retention_days = 365;
    cfg->chat_max_room_bytes = 16 * 1024 * 1024;
    cfg->agents = PAL_AGENTS_UNSET;
    cfg->jwt_algorithms = PAL_JWT_ES256 | PAL_JWT_RS256;
    cfg->jwt_leeway_seconds = 60;
    cfg->max_rooms_per_agent = 100;
    cfg->lobby_wait_seconds = 1800;
    cfg->turn_ttl_seconds = 43200;
    cfg->cluster_lease_seconds = 8;
    snprintf(cfg->oidc_scopes, sizeof(cfg->oidc_scopes), "openid email profile");
    cfg->oidc_session_lifetime_seconds = 43200; /* ProConnect's own session: 12 h */
    cfg->oidc_session_idle_seconds = 7200;
    cfg->oidc_timeout_seconds = 10;
    cfg->oidc_logins_per_ip_per_minute = 30;
    cfg->oidc_max_pending_logins = 10000;
    cfg->oidc_pkce = true;
}

static int parse_int(const char *value, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end != '\0' || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

static int set_string(char *dst, size_t cap, const char *value, char *err, size_t errlen,
                      const char *key)
{
    if (strlen(value) >= cap) {
        snprintf(err, errlen, "key '%s': longer than %zu bytes", key, cap - 1);
        return -EINVAL;
    }
    snprintf(dst, cap, "%s", value);
    return 0;
}

/* "ADDR:PORT", "[IPV6]:PORT", ":PORT" or "PORT". The address is kept
 * without brackets (what bind and inet_pton take); an IPv6 address without
 * brackets is refused: "::1:8080" could be read two ways. */
static int set_listen(struct pal_config *cfg, const char *value, char *err, size_t errlen)
{
    const char *addr = value, *addr_end = NULL, *port = value;
    if (value[0] == '[') {
        const char *close = strchr(value, ']');
        if (!close || close[1] != ':') {
            snprintf(err, errlen, "key 'listen': expected [IPV6]:PORT, got '%s'", value);
            return -EINVAL;
        }
        addr = value + 1;
        addr_end = close;
        port = close + 2;
    } else {
        const char *colon = strrchr(value, ':');
        if (colon) {
            addr_end = colon;
            port = colon + 1;
            if (memchr(value, ':', (size_t)(colon - value))) {
                snprintf(err, errlen,
                         "key 'listen': an IPv6 address goes in brackets, [ADDR]:PORT, got '%s'",
                         value);
                return -EINVAL;
            }
        }
    }
    long p;
    if (parse_int(port, 1, 65535, &p)) {
        snprintf(err, errlen, "key 'listen': expected ADDR:PORT with a port 1-65535, got '%s'", value);
        return -EINVAL;
    }
    if (addr_end) {
        size_t n = (size_t)(addr_end - addr);
        if (n >= sizeof(cfg->listen_addr)) {
            snprintf(err, errlen, "key 'listen': address too long");
            return -EINVAL;
        }
        if (n == 0 && value[0] == '[') {
            snprintf(err, errlen, "key 'listen': empty address in '%s'", value);
            return -EINVAL;
        }
        if (n > 0) {
            memcpy(cfg->listen_addr, addr, n);
            cfg->listen_addr[n] = '\0';
        }
    }
    cfg->listen_port = (int)p;
    return 0;
}

/* A list separated by commas or spaces into items[max][item_size]. */
static int set_list(char *items, size_t item_size, int max, int *n_out, const char *key,
                    const char *value, char *err, size_t errlen)
{
    int n_items = 0;
    const char *p = value;
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        const char *e = p;
        while (*e && *e != ',' && !isspace((unsigned char)*e))
            e++;
        size_t n = (size_t)(e - p);
        if (n_items >= max) {
            snprintf(err, errlen, "key '%s': more than %d entries", key, max);
            return -EINVAL;
        }
        if (n >= item_size) {
            snprintf(err, errlen, "key '%s': entry longer than %zu bytes", key, item_size - 1);
            return -EINVAL;
        }
        memcpy(items + (size_t)n_items * item_size, p, n);
        items[(size_t)n_items * item_size + n] = '\0';
        n_items++;
        p = e;
    }
    *n_out = n_items;
    return 0;
}

static int set_origins(struct pal_config *cfg, const char *value, char *err, size_t errlen)
{
    return set_list(&cfg->allowed_origins[0][0], sizeof(cfg->allowed_origins[0]), PAL_MAX_ORIGINS,
                    &cfg->n_allowed_origins, "allowed_origins", value, err, errlen);
}

/* Addresses only (no names, no ranges): the peer address is compared as text. */
static int set_trusted_proxies(struct pal_config *cfg, const char *value, char *err, size_t errlen)
{
    int rc = set_list(&cfg->trusted_proxies[0][0], sizeof(cfg->trusted_proxies[0]),
                      PAL_MAX_TRUSTED_PROXIES, &cfg->n_trusted_proxies, "trusted_proxies", value,
                      err, errlen);
    for (int i = 0; rc == 0 && i < cfg->n_trusted_proxies; i++) {
        unsigned char addr[sizeof(struct in6_addr)];
        if (inet_pton(AF_INET, cfg->trusted_proxies[i], addr) != 1 &&
            inet_pton(AF_INET6, cfg->trusted_proxies[i], addr) != 1) {
            snprintf(err, errlen, "key 'trusted_proxies': '%s' is not an IPv4 or IPv6 address",
                     cfg->trusted_proxies[i]);
            cfg->n_trusted_proxies = 0;
            rc = -EINVAL;
        }
    }
    return rc;
}

/* turn: or turns: URLs (RFC 7065), as the browser's RTCIceServer.urls takes them. */
static int set_turn_urls(struct pal_config *cfg, const char *value, char *err, size_t errlen)
{
    int rc = set_list(&cfg->turn_urls[0][0], sizeof(cfg->turn_urls[0]), PAL_MAX_TURN_URLS,
                      &cfg->n_turn_urls, "urls", value, err, errlen);
    for (int i = 0; rc == 0 && i < cfg->n_turn_urls; i++) {
        const char *u = cfg->turn_urls[i];
        if ((strncmp(u, "turn:", 5) != 0 && strncmp(u, "turns:", 6) != 0) ||
            !u[strncmp(u, "turn:", 5) == 0 ? 5 : 6] || strpbrk(u, "\"<>")) {
            snprintf(err, errlen, "key 'urls': '%s' is not a turn: or turns: URL", u);
            cfg->n_turn_urls = 0;
            rc = -EINVAL;
        }
    }
    return rc;
}

enum key_kind { K_INT, K_SIZE, K_STR, K_SPECIAL };

struct key_def {
    const char *section, *name;
    enum key_kind kind;
    size_t offset, size;
    long min, max;
};

#define OFF(f) offsetof(struct pal_config, f)
#define SZ(f) sizeof(((struct pal_config *)0)->f)
static const struct key_def keys[] = {
    {"server", "listen", K_SPECIAL, 0, 0, 0, 0},
    {"server", "data_dir", K_STR, OFF(data_dir), SZ(data_dir), 0, 0},
    {"server", "web_root", K_STR, OFF(web_root), SZ(web_root), 0, 0},
    {"server", "log_level", K_SPECIAL, 0, 0, 0, 0},
    {"server", "allowed_origins", K_SPECIAL, 0, 0, 0, 0},
    {"server", "metrics", K_SPECIAL, 0, 0, 0, 0},
    {"server", "trusted_proxies", K_SPECIAL, 0, 0, 0, 0},
    {"server", "public_url", K_SPECIAL, 0, 0, 0, 0},
    {"server", "tls_cert", K_STR, OFF(tls_cert), SZ(tls_cert), 0, 0},
    {"server", "tls_key", K_STR, OFF(tls_key), SZ(tls_key), 0, 0},
    {"access", "agents", K_SPECIAL, 0, 0, 0, 0},
    {"access", "jwks_file", K_STR, OFF(jwks_file), SZ(jwks_file), 0, 0},
    {"access", "issuer", K_STR, OFF(jwt_issuer), SZ(jwt_issuer), 0, 0},
    {"access", "audience", K_STR, OFF(jwt_audience), SZ(jwt_audience), 0, 0},
    {"access", "algorithms", K_SPECIAL, 0, 0, 0, 0},
    {"access", "leeway_seconds", K_INT, OFF(jwt_leeway_seconds), 0, 0, 600},
    {"access", "max_rooms_per_agent", K_INT, OFF(max_rooms_per_agent), 0, 1, 100000},
    {"access", "lobby_wait_seconds", K_INT, OFF(lobby_wait_seconds), 0, 5, 86400},
    {"server", "drain_seconds", K_INT, OFF(drain_seconds), 0, 0, 86400},
    {"limits", "max_message_bytes", K_SIZE, OFF(max_message_bytes), 0, 256, 16 * 1024 * 1024},
    {"limits", "messages_per_second", K_INT, OFF(messages_per_second), 0, 1, 100000},
    {"limits", "max_participants_per_room", K_INT, OFF(max_participants_per_room), 0, 1, 100000},
    {"limits", "max_rooms", K_INT, OFF(max_rooms), 0, 1, 1000000},
    {"limits", "outbound_queue_messages", K_INT, OFF(outbound_queue_messages), 0, 1, 1000000},
    {"limits", "resume_seconds", K_INT, OFF(resume_seconds), 0, 0, 3600},
    {"limits", "outbound_queue_bytes", K_SIZE, OFF(outbound_queue_bytes), 0, 65536, 1L << 30},
    {"limits", "connections_per_ip", K_INT, OFF(connections_per_ip), 0, 1, 1000000},
    {"limits", "rooms_per_ip_per_minute", K_INT, OFF(rooms_per_ip_per_minute), 0, 1, 1000000},
    {"limits", "join_timeout_seconds", K_INT, OFF(join_timeout_seconds), 0, 1, 3600},
    {"media", "media_workers", K_INT, OFF(media_workers), 0, 0, 256},
    {"media", "port_min", K_INT, OFF(port_min), 0, 0, 65535},
    {"media", "port_max", K_INT, OFF(port_max), 0, 0, 65535},
    {"media", "interfaces", K_STR, OFF(interfaces), SZ(interfaces), 0, 0},
    {"media", "public_ip", K_STR, OFF(public_ip), SZ(public_ip), 0, 0},
    /* odd sizes are rounded down to even (the canvas is I420) */
    {"mixer", "video_width", K_INT, OFF(mixer_video_width), 0, 160, 1920},
    {"mixer", "video_height", K_INT, OFF(mixer_video_height), 0, 120, 1080},
    {"mixer", "video_fps", K_INT, OFF(mixer_video_fps), 0, 1, 30},
    {"mixer", "video_bitrate_kbps", K_INT, OFF(mixer_video_bitrate_kbps), 0, 50, 8000},
    {"mixer", "max_rooms", K_INT, OFF(mixer_max_rooms), 0, 0, 100000},
    {"chat", "retention_days", K_INT, OFF(chat_retention_days), 0, 0, 36500},
    /* at least one largest message (~16.5 KB), at most 1 TiB */
    {"chat", "max_room_bytes", K_SIZE, OFF(chat_max_room_bytes), 0, 65536, 1L << 40},
    {"metrics", "token", K_STR, OFF(metrics_token), SZ(metrics_token), 0, 0},
    {"oidc", "issuer", K_STR, OFF(oidc_issuer), SZ(oidc_issuer), 0, 0},
    {"oidc", "client_id", K_STR, OFF(oidc_client_id), SZ(oidc_client_id), 0, 0},
    {"oidc", "client_secret", K_STR, OFF(oidc_client_secret), SZ(oidc_client_secret), 0, 0},
    {"oidc", "redirect_uri", K_STR, OFF(oidc_redirect_uri), SZ(oidc_redirect_uri), 0, 0},
    {"oidc", "post_logout_redirect_uri", K_STR, OFF(oidc_post_logout_uri),
     SZ(oidc_post_logout_uri), 0, 0},
    {"oidc", "scopes", K_STR, OFF(oidc_scopes), SZ(oidc_scopes), 0, 0},
    {"oidc", "acr_values", K_STR, OFF(oidc_acr_values), SZ(oidc_acr_values), 0, 0},
    {"oidc", "ca_file", K_STR, OFF(oidc_ca_file), SZ(oidc_ca_file), 0, 0},
    {"oidc", "agent_siret", K_STR, OFF(oidc_agent_siret), SZ(oidc_agent_siret), 0, 0},
    {"oidc", "agent_email_domains", K_STR, OFF(oidc_agent_email_domains),
     SZ(oidc_agent_email_domains), 0, 0},
    {"oidc", "session_lifetime_seconds", K_INT, OFF(oidc_session_lifetime_seconds), 0, 10,
     30 * 86400},
    {"oidc", "session_idle_seconds", K_INT, OFF(oidc_session_idle_seconds), 0, 10, 30 * 86400},
    {"oidc", "timeout_seconds", K_INT, OFF(oidc_timeout_seconds), 0, 1, 120},
    {"oidc", "logins_per_ip_per_minute", K_INT, OFF(oidc_logins_per_ip_per_minute), 0, 1, 1000},
    {"oidc", "max_pending_logins", K_INT, OFF(oidc_max_pending_logins), 0, 1, 1000000},
    {"oidc", "pkce", K_SPECIAL, 0, 0, 0, 0},
    {"turn", "urls", K_SPECIAL, 0, 0, 0, 0},
    {"turn", "secret", K_STR, OFF(turn_secret), SZ(turn_secret), 0, 0},
    /* a week at most: a leaked credential is only cut by rotating the secret */
    {"turn", "ttl_seconds", K_INT, OFF(turn_ttl_seconds), 0, 1, 7 * 86400},
    {"cluster", "redis", K_STR, OFF(cluster_redis), SZ(cluster_redis), 0, 0},
    {"cluster", "redis_password", K_STR, OFF(cluster_redis_password), SZ(cluster_redis_password), 0, 0},
    {"cluster", "node_id", K_STR, OFF(cluster_node_id), SZ(cluster_node_id), 0, 0},
    {"cluster", "public_url", K_SPECIAL, 0, 0, 0, 0},
    {"cluster", "secret", K_STR, OFF(cluster_secret), SZ(cluster_secret), 0, 0},
    /* above the 2 s renewal with room for a slow round; a minute at most:
     * that long, a dead node's rooms wait */
    {"cluster", "lease_seconds", K_INT, OFF(cluster_lease_seconds), 0, 4, 60},
};

int pal_config_set(struct pal_config *cfg, const char *section, const char *key, const char *value,
                   char *err, size_t errlen)
{
    char sec_buf[32];
    if (!section || !*section) {
        const char *dot = strchr(key, '.');
        if (dot && (size_t)(dot - key) < sizeof(sec_buf)) {
            memcpy(sec_buf, key, (size_t)(dot - key));
            sec_buf[dot - key] = '\0';
            section = sec_buf;
            key = dot + 1;
        } else {
            section = NULL;
        }
    }
    const struct key_def *k = NULL;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strcmp(keys[i].name, key) == 0 && (!section || strcmp(keys[i].section, section) == 0)) {
            k = &keys[i];
            break;
        }
    }
    if (!k) {
        if (section)
            snprintf(err, errlen, "key '%s': unknown key in section [%s]", key, section);
        else
            snprintf(err, errlen, "key '%s': unknown key", key);
        return -EINVAL;
    }
    char *base = (char *)cfg;
    long v;
    switch (k->kind) {
    case K_INT:
    case K_SIZE:
        if (parse_int(value, k->min, k->max, &v)) {
            snprintf(err, errlen, "key '%s': expected an integer from %ld to %ld, got '%s'", key,
                     k->min, k->max, value);
            return -EINVAL;
        }
        if (k->kind == K_INT)
            *(int *)(base + k->offset) = (int)v;
        else
            *(size_t *)(base + k->offset) = (size_t)v;
        return 0;
    case K_STR:
        return set_string(base + k->offset, k->size, value, err, errlen, key);
    case K_SPECIAL:
        break;
    }
    if (strcmp(key, "listen") == 0)
        return set_listen(cfg, value, err, errlen);
    if (strcmp(key, "allowed_origins") == 0)
        return set_origins(cfg, value, err, errlen);
    if (strcmp(key, "trusted_proxies") == 0)
        return set_trusted_proxies(cfg, value, err, errlen);
    if (strcmp(key, "urls") == 0)
        return set_turn_urls(cfg, value, err, errlen);
    if (strcmp(key, "public_url") == 0) {
        char *dst = strcmp(k->section, "cluster") == 0 ? cfg->cluster_public_url : cfg->public_url;
        size_t n = strlen(value);
        while (n > 0 && value[n - 1] == '/')
            n--; /* links are public_url + "/r/..." */
        if ((strncmp(value, "https://", 8) != 0 && strncmp(value, "http://", 7) != 0) ||
            n >= sizeof(cfg->public_url) || strpbrk(value, " \t\"<>#?")) {
            snprintf(err, errlen, "key 'public_url': expected http(s)://host[:port][/path], got '%s'",
                     value);
            return -EINVAL;
        }
        memcpy(dst, value, n);
        dst[n] = '\0';
        return 0;
    }
    if (strcmp(key, "pkce") == 0) {
        if (strcmp(value, "on") == 0)
            cfg->oidc_pkce = true;
        else if (strcmp(value, "off") == 0)
            cfg->oidc_pkce = false;
        else {
            snprintf(err, errlen, "key 'pkce': expected on or off, got '%s'", value);
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(key, "agents") == 0) {
        if (strcmp(value, "open") == 0)
            cfg->agents = PAL_AGENTS_OPEN;
        else if (strcmp(value, "token") == 0)
            cfg->agents = PAL_AGENTS_TOKEN;
        else if (strcmp(value, "oidc") == 0)
            cfg->agents = PAL_AGENTS_OIDC;
        else {
            snprintf(err, errlen, "key 'agents': expected open, token or oidc, got '%s'", value);
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(key, "algorithms") == 0) {
        int bits = 0;
        char buf[128];
        snprintf(buf, sizeof(buf), "%s", value);
        for (char *save, *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
            if (strcmp(t, "ES256") == 0)
                bits |= PAL_JWT_ES256;
            else if (strcmp(t, "RS256") == 0)
                bits |= PAL_JWT_RS256;
            else {
                snprintf(err, errlen, "key 'algorithms': '%s' is not accepted (ES256, RS256)", t);
                return -EINVAL;
            }
        }
        if (!bits) {
            snprintf(err, errlen, "key 'algorithms': expected ES256 and/or RS256");
            return -EINVAL;
        }
        cfg->jwt_algorithms = bits;
        return 0;
    }
    if (strcmp(key, "metrics") == 0) {
        static const char *const names[] = {"off", "loopback", "on"};
        for (int i = 0; i < 3; i++)
            if (strcmp(value, names[i]) == 0) {
                cfg->metrics = i;
                return 0;
            }
        snprintf(err, errlen, "key 'metrics': expected off, loopback or on, got '%s'", value);
        return -EINVAL;
    }
    /* log_level */
    enum pal_log_level lvl;
    if (pal_log_level_parse(value, &lvl)) {
        snprintf(err, errlen, "key 'log_level': expected debug, info, warn, error or off, got '%s'",
                 value);
        return -EINVAL;
    }
    cfg->log_level = (int)lvl;
    return 0;
}

struct load_ctx {
    struct pal_config *cfg;
    char msg[400];
};

static int ini_cb(void *user, const char *section, const char *name, const char *value)
{
    struct load_ctx *lc = user;
    if (lc->msg[0])
        return 1; /* keep the first error */
    if (!section || !*section) {
        snprintf(lc->msg, sizeof(lc->msg), "key '%s': outside of a [section]", name);
        return 0;
    }
    if (pal_config_set(lc->cfg, section, name, value, lc->msg, sizeof(lc->msg)))
        return 0;
    return 1;
}

int pal_config_load(struct pal_config *cfg, const char *path, char *err, size_t errlen)
{
    struct load_ctx lc = {.cfg = cfg};
    int rc = ini_parse(path, ini_cb, &lc);
    if (rc == -1) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -EINVAL;
    }
    if (rc == -2) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    if (rc > 0) {
        if (lc.msg[0])
            snprintf(err, errlen, "%s:%d: %s", path, rc, lc.msg);
        else
            snprintf(err, errlen, "%s:%d: syntax error", path, rc);
        return -EINVAL;
    }
    if (cfg->port_min > cfg->port_max) {
        snprintf(err, errlen, "%s: key 'port_min': greater than port_max", path);
        return -EINVAL;
    }
    return 0;
}

bool pal_config_listen_is_loopback(const struct pal_config *cfg)
{
    const char *a = cfg->listen_addr;
    if (strcmp(a, "localhost") == 0)
        return true;
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, a, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, a, &v6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&v6);
    return false; /* a name or a wildcard: reachable from the network */
}

/* A node of a cluster must say who it is, where clients reach it, and sign
 * its tickets with the secret the other nodes check. */
static int cluster_check(const struct pal_config *cfg, char *err, size_t errlen)
{
    char host[256];
    int port;
    if (pal_cluster_redis_addr_parse(cfg->cluster_redis, host, sizeof(host), &port)) {
        snprintf(err, errlen, "[cluster] redis: expected host:port, [v6]:port or /path, got '%s'",
                 cfg->cluster_redis);
        return -EINVAL;
    }
    if (!pal_cluster_node_id_valid(cfg->cluster_node_id)) {
        snprintf(err, errlen, "[cluster] redis is set: [cluster] node_id needs 1 to %d of "
                 "[A-Za-z0-9_-]", PAL_CLUSTER_NODE_ID_MAX);
        return -EINVAL;
    }
    if (!cfg->cluster_public_url[0]) {
        snprintf(err, errlen, "[cluster] redis is set: [cluster] public_url (http(s)://host:port "
                 "clients reach this node at) is required");
        return -EINVAL;
    }
    if (strlen(cfg->cluster_secret) < 16) {
        snprintf(err, errlen, "[cluster] redis is set: [cluster] secret (16 characters or more, "
                 "the same on every node) is required");
        return -EINVAL;
    }
    return 0;
}

int pal_config_check(struct pal_config *cfg, char *err, size_t errlen)
{
    int rc;
    /* a certificate without its key (or the reverse) cannot serve TLS, and
     * falling back to plain HTTP would be a surprise */
    if (!cfg->tls_cert[0] != !cfg->tls_key[0]) {
        snprintf(err, errlen, "[server] %s is set but [server] %s is missing: set both or neither",
                 cfg->tls_cert[0] ? "tls_cert" : "tls_key", cfg->tls_cert[0] ? "tls_key" : "tls_cert");
        return -EINVAL;
    }
    if (cfg->agents == PAL_AGENTS_UNSET) {
        if (!pal_config_listen_is_loopback(cfg)) {
            snprintf(err, errlen,
                     "listen = %s:%d is not a loopback address and the configuration has no "
                     "[access] section: set [access] agents = token (agents present a signed "
                     "token; also set jwks_file, issuer and audience) or agents = open (anyone "
                     "who reaches the site is an agent)",
                     cfg->listen_addr, cfg->listen_port);
            return -EINVAL;
        }
        cfg->agents = PAL_AGENTS_OPEN;
    }
    if (cfg->agents == PAL_AGENTS_TOKEN) {
        const char *missing = !cfg->jwks_file[0]     ? "jwks_file"
                              : !cfg->jwt_issuer[0]   ? "issuer"
                              : !cfg->jwt_audience[0] ? "audience"
                                                      : NULL;
        if (missing) {
            snprintf(err, errlen, "[access] agents = token needs [access] %s", missing);
            return -EINVAL;
        }
    }
    if (cfg->cluster_redis[0] && (rc = cluster_check(cfg, err, errlen)))
        return rc;
    if (cfg->agents == PAL_AGENTS_OIDC) {
        const char *missing = !cfg->oidc_issuer[0]          ? "issuer"
                              : !cfg->oidc_client_id[0]     ? "client_id"
                              : !cfg->oidc_client_secret[0] ? "client_secret"
                              : !cfg->oidc_redirect_uri[0]  ? "redirect_uri"
                                                            : NULL;
        if (missing) {
            snprintf(err, errlen, "[access] agents = oidc needs [oidc] %s", missing);
            return -EINVAL;
        }
        /* the scopes go into a URL as they are (ProConnect refuses what it
         * does not know: nothing is added to them) */
        if (strncmp(cfg->oidc_issuer, "https://", 8) != 0 || !strstr(cfg->oidc_scopes, "openid") ||
            strpbrk(cfg->oidc_scopes, "&#?%\"+<>") || strpbrk(cfg->oidc_acr_values, "&#?%\"+<>")) {
            snprintf(err, errlen, "[oidc] issuer must be https://, scopes must hold openid, and "
                                  "neither scopes nor acr_values may hold & # ? %% \" + < >");
            return -EINVAL;
        }
    }
    /* one without the other would hand out credentials coturn refuses, or none */
    if ((cfg->n_turn_urls > 0) != (cfg->turn_secret[0] != '\0')) {
        snprintf(err, errlen, "[turn] %s is set but not %s: set both (or neither)",
                 cfg->n_turn_urls ? "urls" : "secret", cfg->n_turn_urls ? "secret" : "urls");
        return -EINVAL;
    }
    return 0;
}

static bool is_dir_with_index(const char *dir)
{
    char p[PATH_MAX];
    if (snprintf(p, sizeof(p), "%s/index.html", dir) >= (int)sizeof(p))
        return false;
    return access(p, R_OK) == 0;
}

void pal_config_resolve_web_root(struct pal_config *cfg)
{
    if (cfg->web_root[0])
        return;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            char cand[PATH_MAX + 32];
            snprintf(cand, sizeof(cand), "%s/../signaling/web", exe);
            char real[PATH_MAX];
            if (realpath(cand, real) && is_dir_with_index(real) &&
                strlen(real) < sizeof(cfg->web_root)) {
                memcpy(cfg->web_root, real, strlen(real) + 1);
                return;
            }
        }
    }
    char real[PATH_MAX];
    if (realpath("signaling/web", real) && strlen(real) < sizeof(cfg->web_root)) {
        memcpy(cfg->web_root, real, strlen(real) + 1);
        return;
    }
    snprintf(cfg->web_root, sizeof(cfg->web_root), "signaling/web");
}
