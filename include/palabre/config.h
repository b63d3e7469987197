/* Server configuration: embedded defaults, then an INI file (libinih), then
 * command-line flags. Every key is documented in docs/operations.md.
 *
 * Owner: signaling/config.c. */
#ifndef PALABRE_CONFIG_H
#define PALABRE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define PAL_MAX_ORIGINS 16
#define PAL_MAX_TRUSTED_PROXIES 16
#define PAL_MAX_TURN_URLS 8

/* Who is an agent ([access] agents). UNSET: no [access] section; allowed
 * only on a loopback listen address, where it means OPEN. */
enum pal_agents_mode { PAL_AGENTS_UNSET, PAL_AGENTS_OPEN, PAL_AGENTS_TOKEN, PAL_AGENTS_OIDC };
/* [access] algorithms: the JWT algorithms accepted (each key still signs only with its own). */
#define PAL_JWT_ES256 0x1
#define PAL_JWT_RS256 0x2

/* Who may read /metrics. */
enum pal_metrics_access { PAL_METRICS_OFF, PAL_METRICS_LOOPBACK, PAL_METRICS_ON };

struct pal_config {
    /* [server] */
    char listen_addr[64];   /* listen = 127.0.0.1:8080 ([::1]:8080; kept without brackets) */
    int listen_port;
    char data_dir[512];     /* data_dir = ./var */
    char web_root[512];     /* web_root = (signaling/web next to the binary's source tree) */
    int log_level;          /* log_level = info (enum pal_log_level) */
    char allowed_origins[PAL_MAX_ORIGINS][256]; /* allowed_origins = (same origin) */
    int n_allowed_origins;
    int metrics;            /* metrics = loopback (enum pal_metrics_access) */
    char trusted_proxies[PAL_MAX_TRUSTED_PROXIES][64]; /* trusted_proxies = (none): their
                                                        * X-Forwarded-For is believed */
    int n_trusted_proxies;
    char public_url[256];   /* public_url = (none): the site's address as users reach it,
                             * https://visio.example.fr; invite links start with it */
    char tls_cert[512];     /* tls_cert = (none): PEM certificate, chain allowed: HTTPS/WSS */
    char tls_key[512];      /* tls_key = (none): its PEM private key; both or neither */
    int drain_seconds;      /* drain_seconds = 0: how long running meetings may go on after
                             * SIGTERM or POST /admin/drain (0: stop at once) */
    /* [access] */
    int agents;             /* agents = open | token | oidc (enum pal_agents_mode; default: open on
                             * a loopback listen address, else required) */
    char jwks_file[512];    /* jwks_file: token mode's public keys (a JWKS JSON file) */
    char jwt_issuer[256];   /* issuer: the expected iss */
    char jwt_audience[256]; /* audience: the expected aud */
    int jwt_algorithms;     /* algorithms = ES256, RS256 (PAL_JWT_* bits) */
    int jwt_leeway_seconds; /* leeway_seconds = 60: clock skew allowed on exp and nbf */
    int max_rooms_per_agent; /* max_rooms_per_agent = 100 stored rooms an agent owns */
    int lobby_wait_seconds;  /* lobby_wait_seconds = 1800: then a guest nobody admitted is let go */
    /* [oidc]: agents sign in with OpenID Connect (agents = oidc; signaling/oidc.c) */
    char oidc_issuer[256];         /* issuer: the provider; discovery at
                                    * <issuer>/.well-known/openid-configuration */
    char oidc_client_id[256];      /* client_id */
    char oidc_client_secret[256];  /* client_secret (sent in the token request's body) */
    char oidc_redirect_uri[512];   /* redirect_uri: https://<site>/oidc/callback */
    char oidc_post_logout_uri[512]; /* post_logout_redirect_uri = (none): where the
                                     * provider sends the browser after sign-out */
    char oidc_scopes[256];         /* scopes = openid email profile */
    char oidc_acr_values[256];     /* acr_values = (none): e.g. eidas1 */
    char oidc_ca_file[512];        /* ca_file = (system store): CA bundle for the provider */
    char oidc_agent_siret[2048];   /* agent_siret = (none): comma-separated SIRETs */
    char oidc_agent_email_domains[2048]; /* agent_email_domains = (none): comma-separated */
    int oidc_session_lifetime_seconds;   /* session_lifetime_seconds = 43200 */
    int oidc_session_idle_seconds;       /* session_idle_seconds = 7200 */
    int oidc_timeout_seconds;            /* timeout_seconds = 10: each call to the provider */
    int oidc_logins_per_ip_per_minute;   /* logins_per_ip_per_minute = 30: /oidc/login and
                                          * /oidc/callback requests of one address, together */
    int oidc_max_pending_logins;         /* max_pending_logins = 10000: sign-ins started and
                                          * not yet back (each holds a state for 10 min) */
    bool oidc_pkce;                      /* pkce = on: PKCE S256 (off: a provider that refuses
                                          * parameters it does not list, as ProConnect's
                                          * documentation says it does) */
    /* [limits] */
    size_t max_message_bytes;      /* 65536 */
    int messages_per_second;       /* 50, per connection */
    int max_participants_per_room; /* 100 */
    int max_rooms;                 /* 1000 */
    int outbound_queue_messages;   /* 1024 per connection: above it the client is cut off */
    int resume_seconds;            /* 30 */
    size_t outbound_queue_bytes;   /* 4 MiB per connection: above it the client is cut off */
    int connections_per_ip;        /* 50 WebSockets (and resume ghosts) per client address */
    int rooms_per_ip_per_minute;   /* 20 rooms created per client address per minute */
    int join_timeout_seconds;      /* 10: a connection that has not joined is closed */
    /* [media] */
    int media_workers;             /* 0 = number of cores */
    int port_min, port_max;        /* UDP range, 0 = any */
    char interfaces[256];          /* comma-separated names, empty = all */
    char public_ip[64];            /* announced address for 1:1 NAT, empty = none */
    /* [mixer]: the composite track of receive=mixed (encoded on the room's
     * media worker: lower the size or rate on a busy host) */
    int mixer_video_width, mixer_video_height; /* 1280x720 */
    int mixer_video_fps;                       /* 15 */
    int mixer_video_bitrate_kbps;              /* 1200 */
    int mixer_max_rooms; /* 8: rooms mixed at once; past it receive "mixed" gets mixer_busy */
    /* [chat] */
    int chat_retention_days;       /* 365; 0 = keep forever */
    size_t chat_max_room_bytes;    /* 16 MiB of messages per room (pal_chat_message_size) */
    /* [metrics] */
    char metrics_token[128];       /* token = (none): else GET /metrics needs
                                    * Authorization: Bearer <token> */
    /* [turn]: coturn with use-auth-secret; each join hands out credentials
     * minted from the shared secret (signaling/turn.c) */
    char turn_urls[PAL_MAX_TURN_URLS][256]; /* urls = (none): turn:/turns: URLs, comma-separated */
    int n_turn_urls;
    char turn_secret[256];         /* secret = (none): coturn's static-auth-secret */
    int turn_ttl_seconds;          /* ttl_seconds = 43200: how long a join's credentials last */
    /* [cluster]: several nodes sharing Redis (signaling/cluster.c); no redis = one node */
    char cluster_redis[256];       /* redis = (none): host:port, [v6]:port or a Unix socket path */
    char cluster_redis_password[256]; /* redis_password = (none): AUTH */
    char cluster_node_id[33];      /* node_id: 1 to 32 of [A-Za-z0-9_-], unique in the cluster */
    char cluster_public_url[256];  /* public_url: http(s)://host:port clients reach this node at */
    char cluster_secret[256];      /* secret: signs redirect tickets; the same on every node */
    int cluster_lease_seconds;     /* lease_seconds = 8: a room's lease (renewed every 2 s) */
};

/* Fills *cfg with the embedded defaults. */
void pal_config_defaults(struct pal_config *cfg);
/* Reads an INI file over *cfg. On error returns -EINVAL and writes
 * "FILE:LINE: key 'k': reason" into err. */
int pal_config_load(struct pal_config *cfg, const char *path, char *err, size_t errlen);
/* After the file and the flags: refuses what cannot run (a non-loopback
 * listen address without [access], token mode without its keys). Resolves
 * agents UNSET to OPEN on loopback. -EINVAL with the message in err. */
int pal_config_check(struct pal_config *cfg, char *err, size_t errlen);
/* Whether the listen address is a loopback one (127.0.0.0/8, ::1, localhost). */
bool pal_config_listen_is_loopback(const struct pal_config *cfg);
/* Sets one key ("section.key" or "key") from a string, as the file would. */
int pal_config_set(struct pal_config *cfg, const char *section, const char *key, const char *value,
                   char *err, size_t errlen);

#endif
