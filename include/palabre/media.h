/* The interface between signaling and the media core (the SFU).
 *
 * Signaling turns SDP into the plain structs below (media never sees SDP
 * text or JSON), posts commands with pal_media_post(), and drains events with
 * pal_media_poll_event() when its wake function is called. Commands and
 * events are copied through bounded queues (palabre/queue.h): they carry
 * room names and participant ids, never pointers.
 *
 * A room is pinned to one media worker for its life (by a hash of its name):
 * every command of a room goes to that worker, in order; a slow room never
 * blocks another worker's rooms.
 *
 * Threads: pal_media_create/_destroy/_post/_poll_event on the signaling
 * thread; the wake function is called from media workers. */
#ifndef PALABRE_MEDIA_H
#define PALABRE_MEDIA_H

#include "palabre/common.h"
#include "palabre/dtls.h"
#include "palabre/srtp.h"

#define PAL_MEDIA_ID_MAX 65    /* room names and participant ids, NUL included */
#define PAL_MEDIA_MID_MAX 32
#define PAL_MEDIA_UFRAG_MAX 64 /* RFC 8839 allows 256; browsers use 4..32 */
#define PAL_MEDIA_PWD_MAX 128
#define PAL_MEDIA_MAX_TRACKS 8 /* per publish PeerConnection */
#define PAL_MEDIA_ADDR_MAX 64
/* Simulcast (palabre/simulcast.h): spatial layers of one video track, each
 * its own RTP stream named by a rid (RFC 8851), e.g. q, h, f. */
#define PAL_MEDIA_MAX_LAYERS 3
#define PAL_MEDIA_RID_MAX 17 /* 16 characters (the one-byte extension form) + NUL */

/* The producer id of the room's mixer in PAL_MEDIA_CMD_CONSUMER_ADD, with
 * producer_mid "audio" (the participant's N-1 mix) or "video" (the
 * composite). Participant ids are "p_" + hex, so it never collides. */
#define PAL_MEDIA_MIXER_ID "mixer"

enum pal_media_pc { PAL_MEDIA_PC_PUBLISH = 0, PAL_MEDIA_PC_SUBSCRIBE = 1 };
enum pal_media_kind { PAL_MEDIA_AUDIO = 0, PAL_MEDIA_VIDEO = 1 };

const char *pal_media_pc_name(enum pal_media_pc pc);

struct pal_media_ice_params {
    char ufrag[PAL_MEDIA_UFRAG_MAX];
    char pwd[PAL_MEDIA_PWD_MAX];
};

/* The other side's DTLS parameters, from its SDP. */
struct pal_media_dtls_params {
    char fingerprint[PAL_DTLS_FINGERPRINT_LEN]; /* sha-256 value "AB:CD:..." */
    enum pal_dtls_role our_role;                /* from a=setup: ours, not theirs */
};

/* One ICE candidate (RFC 8839 grammar, as fields). */
enum pal_media_cand_type {
    PAL_MEDIA_CAND_HOST,
    PAL_MEDIA_CAND_SRFLX,
    PAL_MEDIA_CAND_PRFLX,
    PAL_MEDIA_CAND_RELAY,
};
struct pal_media_candidate {
    char foundation[33];
    uint8_t component; /* 1 (rtcp-mux) */
    bool tcp;          /* only UDP is used; TCP candidates are ignored */
    uint32_t priority;
    char addr[PAL_MEDIA_ADDR_MAX]; /* numeric IPv4/IPv6 (".local" names are ignored) */
    uint16_t port;
    enum pal_media_cand_type type;
    char raddr[PAL_MEDIA_ADDR_MAX];
    uint16_t rport;
};

/* One published track (an m-line of the publish offer), or one forwarded
 * track of a subscribe offer. Extension ids are those negotiated on that
 * PeerConnection; 0 = not negotiated. */
struct pal_media_track {
    char mid[PAL_MEDIA_MID_MAX];
    char track_id[PAL_MEDIA_ID_MAX]; /* msid track id ("screen-..." for a screen share) */
    enum pal_media_kind kind;
    uint8_t payload_type; /* Opus or VP8 */
    uint32_t clock_rate;  /* 48000 / 90000 */
    uint32_t ssrc;        /* publish: from a=ssrc (0 = learn it from the mid extension) */
    uint8_t ext_mid;
    uint8_t ext_audio_level;
    uint8_t ext_twcc;
    uint8_t ext_abs_send_time;
    uint8_t ext_rid;          /* sdes:rtp-stream-id (simulcast) */
    uint8_t ext_repaired_rid; /* sdes:repaired-rtp-stream-id */
    /* Simulcast: the rids of its layers, lowest resolution first (q, h, f);
     * 0 = one stream. Each layer's SSRC is learnt from the rid extension. */
    uint8_t n_layers;
    char rids[PAL_MEDIA_MAX_LAYERS][PAL_MEDIA_RID_MAX];
};

/* How a subscriber shows one video track (set_track_view): the tile's size
 * in device pixels, and whether it is on screen. A hidden track gets no
 * packets; a simulcast track gets the smallest layer that fills the tile. */
struct pal_media_view {
    uint16_t width, height;
    bool visible;
};

enum pal_media_cmd_type {
    /* The participant enters the room's media (creates the room on first use). */
    PAL_MEDIA_CMD_PARTICIPANT_ADD,
    /* Frees every media resource of the participant (last one: the room). */
    PAL_MEDIA_CMD_PARTICIPANT_REMOVE,
    /* Publish offer accepted: creates (or, renegotiating, updates) the
     * publish transport and its producers. u.publish. */
    PAL_MEDIA_CMD_PUBLISH,
    /* A track of the publish PC is gone (m-line inactive or removed). u.track.mid */
    PAL_MEDIA_CMD_UNPUBLISH,
    /* Subscribe offer sent: creates the subscribe transport (if new) with
     * these local credentials. u.subscribe */
    PAL_MEDIA_CMD_SUBSCRIBE_OPEN,
    /* Subscribe answer received: remote ICE and DTLS. u.subscribe */
    PAL_MEDIA_CMD_SUBSCRIBE_REMOTE,
    /* Forwards producer (u.consumer.producer, producer_mid) to the
     * participant's subscribe PC as u.consumer.track. */
    PAL_MEDIA_CMD_CONSUMER_ADD,
    /* Stops forwarding u.consumer.track.mid. */
    PAL_MEDIA_CMD_CONSUMER_REMOVE,
    /* A trickled remote candidate (pc), or end of candidates (u.candidate_end). */
    PAL_MEDIA_CMD_REMOTE_CANDIDATE,
    /* A moderator's hard mute (u.block): while blocked, no producer of that
     * kind of the participant, current or future, is forwarded or mixed.
     * Kept with the participant's media (until PARTICIPANT_REMOVE). */
    PAL_MEDIA_CMD_TRACK_BLOCK,
    /* Asks the participant's per-track counters: answered by one
     * PAL_MEDIA_EV_TRACK_STATS carrying u.stats.request. */
    PAL_MEDIA_CMD_TRACK_STATS,
    /* How the participant shows (u.view.producer, producer_mid): u.view.view. */
    PAL_MEDIA_CMD_TRACK_VIEW,
};

struct pal_media_cmd {
    enum pal_media_cmd_type type;
    char room[PAL_MEDIA_ID_MAX];
    char participant[PAL_MEDIA_ID_MAX];
    enum pal_media_pc pc;
    union {
        struct {
            struct pal_media_ice_params local;  /* ours (answer) */
            struct pal_media_ice_params remote; /* theirs (offer) */
            struct pal_media_dtls_params dtls;
            uint8_t n_tracks;
            struct pal_media_track tracks[PAL_MEDIA_MAX_TRACKS];
        } publish;
        struct {
            struct pal_media_ice_params local;
            struct pal_media_ice_params remote; /* SUBSCRIBE_REMOTE only */
            struct pal_media_dtls_params dtls;  /* SUBSCRIBE_REMOTE only */
        } subscribe;
        struct pal_media_track track;
        struct {
            char producer[PAL_MEDIA_ID_MAX];
            char producer_mid[PAL_MEDIA_MID_MAX];
            struct pal_media_track track; /* as offered: our SSRC, PT, ext ids */
        } consumer;
        struct {
            struct pal_media_candidate cand;
            bool end; /* end of candidates: cand unused */
        } remote_candidate;
        struct {
            enum pal_media_kind kind;
            bool blocked;
        } block;
        struct {
            uint32_t request; /* the caller's, echoed in the event */
        } stats;
        struct {
            char producer[PAL_MEDIA_ID_MAX];
            char producer_mid[PAL_MEDIA_MID_MAX];
            struct pal_media_view view;
        } view;
    } u;
};

enum pal_media_event_type {
    PAL_MEDIA_EV_LOCAL_CANDIDATE,  /* u.candidate (pc) */
    PAL_MEDIA_EV_GATHERING_DONE,   /* end of our candidates (pc) */
    PAL_MEDIA_EV_CONNECTED,        /* ICE + DTLS done; u.connected (pc) */
    PAL_MEDIA_EV_FAILED,           /* ICE failed, consent lost or DTLS failed: u.failed (pc) */
    PAL_MEDIA_EV_ACTIVE_SPEAKER,   /* participant = the loudest speaker of room */
    PAL_MEDIA_EV_KEYFRAME_REQUEST, /* stats only: a PLI/FIR was sent to participant */
    PAL_MEDIA_EV_TRACK_STATS,      /* answer to PAL_MEDIA_CMD_TRACK_STATS: u.track_stats */
    PAL_MEDIA_EV_TRACK_QUALITY,    /* what participant gets of a video track: u.quality */
};

enum pal_media_fail_code {
    PAL_MEDIA_FAIL_ICE,  /* connectivity checks failed or consent lost */
    PAL_MEDIA_FAIL_DTLS, /* handshake failed, e.g. fingerprint mismatch */
};

/* One published track's counters since it was first published under this
 * mid (a renegotiation keeps them). packets_forwarded: packets sent to its
 * subscribers, one per subscriber (retransmissions not counted). */
struct pal_media_track_stats {
    char mid[PAL_MEDIA_MID_MAX];
    enum pal_media_kind kind;
    bool blocked; /* hard mute in force for its kind */
    uint64_t packets_received, packets_forwarded;
};

struct pal_media_event {
    enum pal_media_event_type type;
    char room[PAL_MEDIA_ID_MAX];
    char participant[PAL_MEDIA_ID_MAX];
    enum pal_media_pc pc;
    union {
        struct pal_media_candidate candidate;
        struct {
            enum pal_srtp_profile profile;
        } connected;
        struct {
            enum pal_media_fail_code code;
            char reason[160];
        } failed;
        struct {
            uint32_t request; /* as in the command */
            bool found;       /* false: no such participant in the room's media */
            uint8_t n;
            struct pal_media_track_stats tracks[PAL_MEDIA_MAX_TRACKS];
        } track_stats;
        struct {
            char producer[PAL_MEDIA_ID_MAX];
            char producer_mid[PAL_MEDIA_MID_MAX];
            int layer;    /* forwarded (or awaited) layer, -1: none */
            bool limited; /* by the subscriber's bandwidth, not its view */
        } quality;
    } u;
};

struct pal_media_config {
    int workers;        /* 0 = number of cores */
    int port_min;       /* UDP port range for ICE, 0 = any */
    int port_max;
    char interfaces[256]; /* comma-separated interface names, empty = all */
    char public_ip[64];   /* announced address for 1:1 NAT, empty = none */
    bool add_loopback;    /* also gather on 127.0.0.1 (libnice skips loopback) */
    /* [server] listen's address: when it is loopback or one specific address
     * (and interfaces is empty), media gathers on that address only; empty
     * or a wildcard (0.0.0.0, ::): every interface, as above. */
    char listen_addr[64];
    /* A TURN server (UDP) that all of the agent's traffic goes through
     * (libnice's force-relay): palabre-load --turn measures a meeting relayed
     * by coturn. The server leaves turn_ip empty: it never relays. */
    char turn_ip[64]; /* a numeric address, empty = none */
    int turn_port;
    char turn_user[160], turn_pass[64];
    /* The rooms' mixers (0: the mixer's default) */
    int mixer_width, mixer_height, mixer_fps, mixer_bitrate_kbps;
};

struct pal_media;

/* Called from a media worker after it queued events (no lock held).
 * Typically pal_server_wake(). */
typedef void (*pal_media_wake_fn)(void *ud);

/* Makes the DTLS certificate and starts the workers. Returns 0, -EINVAL,
 * -ENOMEM or -EIO. */
int pal_media_create(const struct pal_media_config *cfg, pal_media_wake_fn wake, void *wake_ud,
                     struct pal_media **out);
/* Stops the workers and frees every room. */
void pal_media_destroy(struct pal_media *m);

/* The SHA-256 fingerprint of our certificate, for a=fingerprint. */
const char *pal_media_fingerprint(const struct pal_media *m);
int pal_media_worker_count(const struct pal_media *m);
/* Which worker owns room (stable for the process life). */
int pal_media_worker_of(const struct pal_media *m, const char *room);

/* Per-room bandwidth figures (/metrics' per-room summaries): rooms where
 * at least one subscriber has a send-side estimate, at most
 * PAL_MEDIA_ROOM_BWE_MAX of them per worker (a bound on the page, whatever
 * clients do; the totals above count every room). */
#define PAL_MEDIA_ROOM_BWE_MAX 32
struct pal_media_room_bwe {
    char room[PAL_MEDIA_ID_MAX];
    uint64_t subscribers, avg_bps, min_bps; /* now: estimates */
    uint64_t paused_tracks_bw;              /* now: tracks paused for bandwidth */
    uint64_t layer_switches_bw;             /* since the room's consumers were created */
};
/* Copies up to cap rooms' figures (any thread; as of the workers' last
 * tick). Returns how many. */
size_t pal_media_get_room_bwe(struct pal_media *m, struct pal_media_room_bwe *out, size_t cap);

/* Queues cmd for its room's worker. Returns 0 or -ENOBUFS (worker queue full). */
int pal_media_post(struct pal_media *m, const struct pal_media_cmd *cmd);
/* Pops one event. Returns 1, or 0 when there is none. */
int pal_media_poll_event(struct pal_media *m, struct pal_media_event *ev);

/* Counters summed over the workers (any thread; approximate). */
struct pal_media_stats {
    uint64_t rooms;
    uint64_t transports;
    uint64_t rtp_in, rtp_out;
    uint64_t rtcp_in, rtcp_out;
    uint64_t nack_in, retransmitted;
    uint64_t pli_out;
    uint64_t layer_switches; /* simulcast layer switches made for subscribers */
    uint64_t paused_tracks;  /* now: video tracks not forwarded to a subscriber (hidden or bandwidth) */
    uint64_t layer_switches_bw; /* of layer_switches, made for bandwidth (not the view) */
    uint64_t paused_tracks_bw;  /* now: of paused_tracks, paused for bandwidth */
    uint64_t temporal_drops; /* times a subscriber's video went down a temporal layer */
    uint64_t bwe_subscribers, bwe_sum_bps, bwe_min_bps; /* now: send-side estimates */
    uint64_t bwe_probes, bwe_padding_bytes; /* probe clusters started, padding sent */
    uint64_t dropped_in; /* undecryptable, unknown SSRC, malformed */
    /* the workers' batched sends (palabre/send_queue.h) */
    uint64_t sent_packets; /* datagrams handed to the kernel */
    uint64_t send_dropped; /* datagrams the kernel refused (full socket buffer...) */
    uint64_t send_calls;   /* sendmmsg/sendmsg calls that carried them */
    uint64_t candidates_unreachable; /* remote ICE candidates ignored: no route from here */
    /* the workers' mixer threads (palabre/mixer_thread.h) */
    uint64_t mixers;              /* rooms mixing */
    uint64_t mixer_cpu_us;        /* the mixer threads' CPU time */
    uint64_t mixer_ticks_skipped; /* audio ticks lost, a mixer thread > 200 ms late */
    uint64_t mixer_dropped;       /* packets dropped between a worker and its mixer thread */
    uint64_t mixer_video_slowed;  /* composites below their configured frame rate now */
    uint64_t mixer_video_frames_dropped; /* composite frames left out (lowered rate, stalls) */
};
void pal_media_get_stats(struct pal_media *m, struct pal_media_stats *out);

#endif
