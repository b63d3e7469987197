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

/* Who may read /metrics. */
enum pal_metrics_access { PAL_METRICS_OFF, PAL_METRICS_LOOPBACK, PAL_METRICS_ON };

struct pal_config {
    /* [server] */
    char listen_addr[64];   /* listen = 127.0.0.1:8080 */
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
};

/* Fills *cfg with the embedded defaults. */
void pal_config_defaults(struct pal_config *cfg);
/* Reads an INI file over *cfg. On error returns -EINVAL and writes
 * "FILE:LINE: key 'k': reason" into err. */
int pal_config_load(struct pal_config *cfg, const char *path, char *err, size_t errlen);
/* Sets one key ("section.key" or "key") from a string, as the file would. */
int pal_config_set(struct pal_config *cfg, const char *section, const char *key, const char *value,
                   char *err, size_t errlen);

#endif
