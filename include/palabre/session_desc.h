/* session_desc: an SDP session description as plain C structs.
 *
 * The media core never sees SDP text. signaling/sdp.c parses browser SDP into
 * a struct pal_session_desc and writes the server's answers and offers from
 * one (see palabre/sdp.h for the functions). Everything here is plain data:
 * fixed-size arrays, NUL-terminated strings, no pointer into any text, so a
 * description can be copied with memcpy and handed to another thread inside a
 * command struct.
 *
 * Size: a pal_session_desc is large (about 7 MiB with the bounds below);
 * allocate it on the heap (calloc), never on a thread's stack, and do not keep
 * one per peer: keep what pal_sdp_negotiated() (sdp.h) extracts, or the
 * written text, and free the struct.
 *
 * Conventions
 * - Strings are NUL-terminated; "" means absent.
 * - Counts (n_*) say how many leading array entries are valid. Parser and
 *   builders zero every field they write, padding included, but do not touch
 *   media[] entries beyond n_media (zeroing them would dominate the cost);
 *   compare descriptions with pal_sdp_equal (sdp.h), not memcmp.
 * - Values a parser finds too long for a field, or more items than an array
 *   holds, make the parse fail with a clear error; nothing is truncated.
 * - Attributes that Palabre does not interpret are accepted; the first
 *   PAL_SDP_MAX_OTHER_ATTRS media-level ones that fit PAL_SDP_EXT_LEN are kept
 *   raw in other_attrs, the rest (and session-level ones) are dropped.
 * - Transport attributes (ICE credentials, fingerprint, setup, ice-options)
 *   may sit at session level (Firefox) or media level (Chrome): the parser
 *   keeps each where it was written; pal_sdp_effective_transport() in sdp.h
 *   resolves one m-line's values (media level first, then session level).
 *
 * Palabre's choices (used by the answer/offer builders in sdp.h)
 * - Full ICE (libnice), never ice-lite; trickle ICE.
 * - The server is always the DTLS server: it answers a=setup:passive and
 *   offers a=setup:actpass (browsers answer active).
 * - BUNDLE on one transport and rtcp-mux are required.
 */
#ifndef PALABRE_SESSION_DESC_H
#define PALABRE_SESSION_DESC_H

#include <stdbool.h>
#include <stdint.h>

/* ---- bounds ------------------------------------------------------------ */
/* m-lines per description. A subscribe PC holds one per track forwarded
 * (a meeting of 100 with cameras: 99 x 2 + the mixer's 2 = 200) plus the
 * rejected ones awaiting recycling; 255 keeps the counts in a uint8_t.
 * Chromium 156 takes an offer of 251 m-lines and recycled ones
 * (tests/integration/recycle_chrome.test.mjs). */
#define PAL_SDP_MAX_MEDIA 255
#define PAL_SDP_MAX_CODECS 40       /* payload types per m-line (Chrome 156 video: 23) */
#define PAL_SDP_MAX_EXTMAPS 16      /* a=extmap per m-line */
#define PAL_SDP_MAX_CANDIDATES 32   /* a=candidate per m-line (Firefox 68, 5 interfaces: 20) */
#define PAL_SDP_MAX_SSRCS 8         /* distinct SSRCs per m-line */
#define PAL_SDP_MAX_SSRC_GROUPS 4   /* a=ssrc-group per m-line */
#define PAL_SDP_MAX_GROUP_SSRCS 4   /* SSRCs in one ssrc-group (SIM: 3) */
#define PAL_SDP_MAX_RIDS 8          /* a=rid per m-line */
#define PAL_SDP_MAX_FB_OTHER 4      /* unknown a=rtcp-fb values per codec */
#define PAL_SDP_MAX_OTHER_ATTRS 8   /* uninterpreted attributes kept per m-line */
#define PAL_SDP_MAX_FINGERPRINT 64  /* digest bytes (sha-512) */

#define PAL_SDP_MID_LEN 32          /* mid (the RTP mid extension carries <= 16) */
#define PAL_SDP_UFRAG_LEN 64        /* RFC 8839: 4..256 chars; browsers use <= 32 */
#define PAL_SDP_PWD_LEN 128         /* RFC 8839: 22..256 chars */
#define PAL_SDP_TOKEN_LEN 64        /* ids: msid parts, cname, foundation, ... */
#define PAL_SDP_ADDR_LEN 64         /* IPv4, IPv6 or an mDNS name (uuid.local) */
#define PAL_SDP_NAME_LEN 32         /* codec name, proto, media name, ssrc-group semantics */
#define PAL_SDP_FMTP_LEN 160        /* raw fmtp parameters */
#define PAL_SDP_URI_LEN 128         /* extmap URI */
#define PAL_SDP_LINE_LEN 256        /* raw simulcast values */
#define PAL_SDP_MSID_SEMANTIC_LEN 2048 /* raw msid-semantic ids (100 stream ids of 14 bytes) */
#define PAL_SDP_EXT_LEN 96          /* raw candidate extensions, rid values, other attrs */
#define PAL_SDP_MAX_LINE 4096       /* longest accepted input line */

/* ---- enums ------------------------------------------------------------- */
enum pal_sdp_kind {
    PAL_SDP_KIND_AUDIO = 0,
    PAL_SDP_KIND_VIDEO,
    PAL_SDP_KIND_APPLICATION,
    PAL_SDP_KIND_UNKNOWN, /* kept (media_name holds the text) so it can be rejected */
};

/* a=sendrecv etc. An m-line without one is sendrecv (RFC 4566). */
enum pal_sdp_direction {
    PAL_SDP_DIR_SENDRECV = 0,
    PAL_SDP_DIR_SENDONLY,
    PAL_SDP_DIR_RECVONLY,
    PAL_SDP_DIR_INACTIVE,
};

/* a=setup (RFC 4145 / 5763). */
enum pal_sdp_setup {
    PAL_SDP_SETUP_NONE = 0, /* not written */
    PAL_SDP_SETUP_ACTPASS,
    PAL_SDP_SETUP_ACTIVE,
    PAL_SDP_SETUP_PASSIVE,
    PAL_SDP_SETUP_HOLDCONN,
};

/* a=rtcp-fb values Palabre understands, as bits in pal_sdp_codec.fb. */
enum pal_sdp_fb {
    PAL_SDP_FB_NACK = 1u << 0,         /* nack */
    PAL_SDP_FB_NACK_PLI = 1u << 1,     /* nack pli */
    PAL_SDP_FB_CCM_FIR = 1u << 2,      /* ccm fir */
    PAL_SDP_FB_GOOG_REMB = 1u << 3,    /* goog-remb */
    PAL_SDP_FB_TRANSPORT_CC = 1u << 4, /* transport-cc */
};

/* Header extensions Palabre knows by URI (pal_sdp_extmap.known). */
enum pal_sdp_ext {
    PAL_SDP_EXT_OTHER = 0,
    PAL_SDP_EXT_MID,           /* urn:ietf:params:rtp-hdrext:sdes:mid */
    PAL_SDP_EXT_AUDIO_LEVEL,   /* urn:ietf:params:rtp-hdrext:ssrc-audio-level */
    PAL_SDP_EXT_TRANSPORT_CC,  /* http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01 */
    PAL_SDP_EXT_ABS_SEND_TIME, /* http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time */
    PAL_SDP_EXT_RID,           /* urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id */
    PAL_SDP_EXT_REPAIRED_RID,  /* urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id */
};
#define PAL_SDP_URI_MID "urn:ietf:params:rtp-hdrext:sdes:mid"
#define PAL_SDP_URI_AUDIO_LEVEL "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
#define PAL_SDP_URI_TRANSPORT_CC \
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
#define PAL_SDP_URI_ABS_SEND_TIME "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
#define PAL_SDP_URI_RID "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
#define PAL_SDP_URI_REPAIRED_RID "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"

enum pal_sdp_cand_type {
    PAL_SDP_CAND_HOST = 0,
    PAL_SDP_CAND_SRFLX,
    PAL_SDP_CAND_PRFLX,
    PAL_SDP_CAND_RELAY,
};
enum pal_sdp_cand_transport { PAL_SDP_CAND_UDP = 0, PAL_SDP_CAND_TCP };
enum pal_sdp_tcptype {
    PAL_SDP_TCPTYPE_NONE = 0,
    PAL_SDP_TCPTYPE_ACTIVE,
    PAL_SDP_TCPTYPE_PASSIVE,
    PAL_SDP_TCPTYPE_SO,
};

/* ---- building blocks ---------------------------------------------------- */

/* a=fingerprint:<algorithm> <hex bytes separated by ':'> */
struct pal_sdp_fingerprint {
    char algorithm[16]; /* lowercase: "sha-256"; "" = absent */
    uint8_t len;        /* bytes in digest */
    uint8_t digest[PAL_SDP_MAX_FINGERPRINT];
};

/* What carries a transport: found at session or media level. */
struct pal_sdp_transport {
    char ice_ufrag[PAL_SDP_UFRAG_LEN];
    char ice_pwd[PAL_SDP_PWD_LEN];
    bool ice_trickle;                          /* a=ice-options contains "trickle" */
    char ice_options[PAL_SDP_TOKEN_LEN];       /* raw a=ice-options value, "" if absent */
    struct pal_sdp_fingerprint fingerprint;
    enum pal_sdp_setup setup;
};

/* a=candidate:<foundation> <component> <transport> <priority> <address> <port>
 *             typ <type> [raddr <addr>] [rport <port>] [tcptype <t>] [<ext> ...] */
struct pal_sdp_candidate {
    char foundation[33];                 /* 1..32 ice-chars */
    uint16_t component;                  /* 1 = RTP (2 = RTCP, unused with rtcp-mux) */
    enum pal_sdp_cand_transport transport;
    uint32_t priority;
    char address[PAL_SDP_ADDR_LEN];
    uint16_t port;
    enum pal_sdp_cand_type type;
    char raddr[PAL_SDP_ADDR_LEN];        /* "" if absent */
    uint16_t rport;                      /* valid when raddr[0] */
    enum pal_sdp_tcptype tcptype;
    char extensions[PAL_SDP_EXT_LEN];    /* raw tail: "generation 0 network-id 1", "" */
};

/* One payload type of an m-line: a=rtpmap, a=fmtp, a=rtcp-fb. */
struct pal_sdp_codec {
    uint8_t pt;                         /* 0..127 */
    char name[PAL_SDP_NAME_LEN];        /* as written ("opus", "VP8", "rtx"); "" = no rtpmap */
    uint32_t clock_rate;                /* 0 when no rtpmap */
    uint8_t channels;                   /* 0 when not written (means 1) */
    char fmtp[PAL_SDP_FMTP_LEN];        /* raw a=fmtp parameters, "" if absent */
    /* Parsed from fmtp (informative: fmtp is what is written). */
    int16_t apt;                        /* rtx: associated payload type, -1 if none */
    int8_t opus_useinbandfec;           /* -1 absent, else 0/1 */
    int8_t opus_stereo;                 /* -1 absent, else 0/1 */
    uint16_t opus_minptime;             /* 0 absent */
    /* Computed after parsing: the rtx payload type whose apt is this pt, -1. */
    int16_t rtx_pt;
    uint32_t fb;                                         /* enum pal_sdp_fb bits */
    uint8_t n_fb_other;
    char fb_other[PAL_SDP_MAX_FB_OTHER][24]; /* unknown rtcp-fb, raw */
};

/* a=extmap:<id>[/<direction>] <uri> [<attributes>] */
struct pal_sdp_extmap {
    uint8_t id;                         /* 1..255 (1..14 one-byte form) */
    bool has_direction;
    enum pal_sdp_direction direction;   /* valid when has_direction */
    enum pal_sdp_ext known;             /* from uri */
    char uri[PAL_SDP_URI_LEN];
    char attributes[PAL_SDP_TOKEN_LEN]; /* raw tail, "" if absent */
};

/* Attributes of one SSRC: a=ssrc:<ssrc> cname:<c> / msid:<stream> <track>. */
struct pal_sdp_ssrc {
    uint32_t ssrc;
    char cname[PAL_SDP_TOKEN_LEN];
    char msid_stream[PAL_SDP_TOKEN_LEN]; /* "" if no a=ssrc msid */
    char msid_track[PAL_SDP_TOKEN_LEN];
};

/* a=ssrc-group:<semantics> <ssrc> ... ("FID" = primary + rtx, "SIM" = layers) */
struct pal_sdp_ssrc_group {
    char semantics[PAL_SDP_NAME_LEN];
    uint8_t n_ssrcs;
    uint32_t ssrcs[PAL_SDP_MAX_GROUP_SSRCS];
};

/* One m-line and its attributes. */
struct pal_sdp_media {
    enum pal_sdp_kind kind;
    char media_name[PAL_SDP_NAME_LEN];  /* as written: "audio", "video", "application", ... */
    uint16_t port;                      /* 0 = rejected (unless bundle_only) */
    char proto[PAL_SDP_NAME_LEN];       /* "UDP/TLS/RTP/SAVPF", "UDP/DTLS/SCTP", ... */
    char fmt_raw[PAL_SDP_TOKEN_LEN];    /* fmt list when not RTP ("webrtc-datachannel") */
    char conn_addr[PAL_SDP_ADDR_LEN];   /* c=IN IP4|IP6 <addr>; "" if absent */
    bool conn_ip6;

    char mid[PAL_SDP_MID_LEN];          /* "" if absent */
    enum pal_sdp_direction direction;
    bool rtcp_mux;
    bool rtcp_rsize;
    bool bundle_only;
    bool extmap_allow_mixed;
    struct pal_sdp_transport transport; /* media-level values only */

    uint8_t n_codecs;                   /* in m-line order (preference order) */
    struct pal_sdp_codec codecs[PAL_SDP_MAX_CODECS];
    uint8_t n_extmaps;
    struct pal_sdp_extmap extmaps[PAL_SDP_MAX_EXTMAPS];

    char msid_stream[PAL_SDP_TOKEN_LEN]; /* a=msid:<stream> <track>; "-" = no stream */
    char msid_track[PAL_SDP_TOKEN_LEN];  /* "" if absent (the first a=msid is kept) */
    uint8_t n_ssrcs;
    struct pal_sdp_ssrc ssrcs[PAL_SDP_MAX_SSRCS];
    uint8_t n_ssrc_groups;
    struct pal_sdp_ssrc_group ssrc_groups[PAL_SDP_MAX_SSRC_GROUPS];

    uint8_t n_candidates;
    struct pal_sdp_candidate candidates[PAL_SDP_MAX_CANDIDATES];
    bool end_of_candidates;

    /* Simulcast, kept raw for later: values after "a=rid:" and "a=simulcast:". */
    uint8_t n_rids;
    char rids[PAL_SDP_MAX_RIDS][PAL_SDP_EXT_LEN];
    char simulcast[PAL_SDP_LINE_LEN];

    uint16_t sctp_port;                 /* a=sctp-port, 0 if absent */
    uint32_t max_message_size;          /* a=max-message-size, 0 if absent */

    uint8_t n_other_attrs;              /* uninterpreted "a=" lines, text after "a=" */
    char other_attrs[PAL_SDP_MAX_OTHER_ATTRS][PAL_SDP_EXT_LEN];
};

/* A whole description (offer or answer). */
struct pal_session_desc {
    /* o=<username> <sess-id> <sess-version> IN IP4 <address> */
    char origin_user[PAL_SDP_TOKEN_LEN];
    char origin_sess_id[24];             /* decimal digits, kept as text */
    uint64_t origin_sess_version;
    char origin_addr[PAL_SDP_ADDR_LEN];
    char session_name[PAL_SDP_TOKEN_LEN]; /* s= ("-") */

    bool ice_lite;
    bool extmap_allow_mixed;
    struct pal_sdp_transport transport;  /* session-level values only */
    bool end_of_candidates;

    /* a=group:BUNDLE <mid> ...; only the first BUNDLE group is kept. */
    bool has_bundle;
    uint8_t n_bundle_mids;
    char bundle_mids[PAL_SDP_MAX_MEDIA][PAL_SDP_MID_LEN];

    /* a=msid-semantic: WMS [ids]: "WMS" and the raw rest. */
    char msid_semantic[16];
    char msid_semantic_ids[PAL_SDP_MSID_SEMANTIC_LEN];

    uint8_t n_media;
    struct pal_sdp_media media[PAL_SDP_MAX_MEDIA];
};

#endif
