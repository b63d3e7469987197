/* SDP text <-> struct pal_session_desc (palabre/session_desc.h), and the
 * server's negotiation: the answer to a browser's publish offer and the offer
 * for a subscribe PeerConnection.
 *
 * Pure functions over caller-owned memory: no global state, no allocation
 * except pal_sdp_write_alloc. Any thread may call them (in practice: the
 * signaling thread).
 *
 * Owner: signaling/sdp.c. */
#ifndef PALABRE_SDP_H
#define PALABRE_SDP_H

#include <stddef.h>
#include <stdint.h>

#include "palabre/session_desc.h"

/* Why a parse or a build failed. message is complete and meant for logs and
 * for the client's error reply: "line 12: a=rtpmap: expected '<pt> <name>/<rate>'".
 * line is 1-based, 0 when the error is not about one line. */
struct pal_sdp_error {
    int line;
    char message[192];
};

/* Fills err (when not NULL; line 0) with the formatted message and returns
 * -EINVAL: the error of the builders and checks below. */
int pal_sdp_fail(struct pal_sdp_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- text <-> struct ---------------------------------------------------- */

/* Parses len bytes of SDP (CRLF or LF line endings; need not be
 * NUL-terminated) into *out: the session fields and media[0..n_media) are
 * fully written (zero where absent); entries beyond n_media are left as they
 * were. Returns 0, or -EINVAL with err filled (err may be NULL); on error the
 * session fields are zeroed and n_media is 0. */
int pal_sdp_parse(const char *text, size_t len, struct pal_session_desc *out,
                  struct pal_sdp_error *err);

/* Writes d as SDP text with CRLF line endings, deterministically (same struct,
 * same bytes), NUL-terminated. Returns the length written (without the NUL),
 * or -ENOSPC when cap is too small (the needed size is pal_sdp_size(d) + 1),
 * or -EINVAL when d holds something that cannot be written (err says what). */
int pal_sdp_write(const struct pal_session_desc *d, char *buf, size_t cap,
                  struct pal_sdp_error *err);
/* Length of the text pal_sdp_write would produce (without the NUL), or a
 * negative code as pal_sdp_write. */
int pal_sdp_size(const struct pal_session_desc *d);
/* The text in a malloc'd NUL-terminated string (caller frees), or NULL. */
char *pal_sdp_write_alloc(const struct pal_session_desc *d, struct pal_sdp_error *err);

/* ---- trickle candidates ------------------------------------------------- */

/* Parses one candidate as carried by ice_candidate messages:
 * "candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host generation 0"
 * ("a=" prefix and trailing CR/LF accepted). Returns 0 or -EINVAL.
 * A browser signals the end of gathering with an empty candidate string:
 * test for "" before calling (it is -EINVAL here). Addresses ending in
 * ".local" are mDNS names that libnice cannot resolve. */
int pal_sdp_candidate_parse(const char *text, struct pal_sdp_candidate *out,
                            struct pal_sdp_error *err);
/* Writes "candidate:..." (no "a=", no line ending), NUL-terminated. Returns
 * the length, or -ENOSPC. */
int pal_sdp_candidate_write(const struct pal_sdp_candidate *c, char *buf, size_t cap);

/* ---- helpers over parsed descriptions ------------------------------------ */

/* The transport values that apply to m-line media_index: each field from the
 * media level if present there, else from the session level. */
void pal_sdp_effective_transport(const struct pal_session_desc *d, int media_index,
                                 struct pal_sdp_transport *out);
/* Same session fields and same m-lines (bytewise, media[0..n_media) only).
 * Descriptions from pal_sdp_parse and the builders compare reliably; for
 * structs filled by hand, zero them first. */
bool pal_sdp_equal(const struct pal_session_desc *a, const struct pal_session_desc *b);
/* Index of the m-line with this mid, or -1. */
int pal_sdp_find_mid(const struct pal_session_desc *d, const char *mid);
/* First codec with this name (case-insensitive) and clock rate (0 = any), or NULL. */
const struct pal_sdp_codec *pal_sdp_find_codec(const struct pal_sdp_media *m, const char *name,
                                               uint32_t clock_rate);
/* Header extension id for a known URI, or 0 when not negotiated. */
uint8_t pal_sdp_find_extmap(const struct pal_sdp_media *m, enum pal_sdp_ext known);
/* "AA:BB:..." uppercase (the form browsers write); returns length or -ENOSPC. */
int pal_sdp_fingerprint_format(const struct pal_sdp_fingerprint *fp, char *buf, size_t cap);
/* Parses "sha-256 AA:BB:..." (the a=fingerprint value). 0 or -EINVAL. */
int pal_sdp_fingerprint_parse(const char *text, struct pal_sdp_fingerprint *out);

/* ---- negotiation --------------------------------------------------------- */

/* What the server puts in every description it writes: its ICE credentials
 * (from nice_agent_get_local_credentials), its DTLS certificate fingerprint,
 * and optionally candidates already gathered (otherwise they trickle). */
struct pal_sdp_local {
    char ice_ufrag[PAL_SDP_UFRAG_LEN];
    char ice_pwd[PAL_SDP_PWD_LEN];
    struct pal_sdp_fingerprint fingerprint;
    char origin_sess_id[24];        /* o= sess-id: decimal; stable for a PC's life */
    uint64_t origin_sess_version;   /* o= version: increment at each new offer */
    uint8_t n_candidates;
    struct pal_sdp_candidate candidates[PAL_SDP_MAX_CANDIDATES];
    bool end_of_candidates;         /* gathering complete: write a=end-of-candidates */
};

/* What the server receives and sends (answer to a publish offer). usedtx=1:
 * a publisher's browser sends one packet every 400 ms instead of 50 a second
 * while its microphone is silent or muted (a muted Chromium track still sends
 * 50 silent packets a second, ~32 kbit/s on the wire, to every subscriber:
 * on a 300 kbit/s link two muted participants took a fifth of it). */
#define PAL_SDP_OPUS_FMTP "minptime=10;useinbandfec=1;usedtx=1"

/* Builds the server's answer to a browser's publish offer.
 * Accepted m-lines: audio with opus/48000/2 (answered with the offer's payload
 * type and fmtp "minptime=10;useinbandfec=1", rtcp-fb transport-cc if
 * offered), video with VP8/90000 (first VP8 of the offer; rtcp-fb nack,
 * nack pli, ccm fir, transport-cc when offered), in the BUNDLE group, with
 * rtcp-mux. Header extensions kept: mid, ssrc-audio-level (audio),
 * transport-cc, with the offer's ids. Direction: recvonly when the offer
 * sends (sendonly/sendrecv), else inactive. Setup passive, full ICE, trickle.
 * Every other m-line (other codecs only, application, unknown kind, port 0,
 * outside BUNDLE, no rtcp-mux) is rejected as JSEP requires: same mid and
 * kind, port 0, not in the BUNDLE group.
 * Returns 0, or -EINVAL (err says why) when the offer has no BUNDLE group, no
 * ICE credentials, no sha-256 fingerprint, a setup other than actpass/active,
 * or no m-line can be accepted, or local lacks ICE credentials, a sha-256
 * fingerprint or a decimal origin_sess_id. *answer is written as by
 * pal_sdp_parse (n_media = 0 on error). */
int pal_sdp_build_answer(const struct pal_session_desc *offer, const struct pal_sdp_local *local,
                         struct pal_session_desc *answer, struct pal_sdp_error *err);

/* Payload types and header extension ids the server uses in subscribe offers
 * (Chrome's defaults, so that forwarding from a Chrome publisher rewrites
 * nothing). */
#define PAL_SDP_SUB_PT_OPUS 111
#define PAL_SDP_SUB_PT_VP8 96
#define PAL_SDP_SUB_EXT_AUDIO_LEVEL 1
#define PAL_SDP_SUB_EXT_TRANSPORT_CC 3
#define PAL_SDP_SUB_EXT_MID 4

/* One m-line of a subscribe offer: a forwarded track, or a slot whose track
 * is gone (active false). */
struct pal_sdp_track {
    enum pal_sdp_kind kind;                 /* AUDIO or VIDEO */
    uint8_t pt;                             /* payload type; 0 = PAL_SDP_SUB_PT_OPUS / _VP8 */
    char mid[PAL_SDP_MID_LEN];              /* stable while the slot lives; a recycled
                                               slot takes a new one (JSEP 5.2.2) */
    bool active;                            /* false: the track is gone */
    bool rejected;                          /* with !active: port 0, out of BUNDLE
                                               (recyclable once answered); else inactive */
    uint32_t ssrc;                          /* what the server sends with */
    uint32_t rtx_ssrc;                      /* video: non-zero offers rtx (PT pt+1, or pt-1
                                               for 127) and a=ssrc-group:FID; 0: no rtx */
    char cname[PAL_SDP_TOKEN_LEN];
    char stream_id[PAL_SDP_TOKEN_LEN];      /* msid stream (the publisher's participant) */
    char track_id[PAL_SDP_TOKEN_LEN];       /* msid track */
};

/* Builds the offer for a subscribe PeerConnection: one sendonly m-line per
 * track (in the given order, which must keep earlier m-lines in place across
 * renegotiations), with ssrc, cname, msid; opus / VP8 with the track's pt
 * (default 111 / 96, Chrome's); setup actpass; trickle; the stream ids of the
 * active tracks in a=msid-semantic: WMS (some stacks, aiortc, ignore a=msid
 * without them; "*" when they do not fit).
 * Slots whose track is gone (active false):
 * - rejected: port 0, inactive, no ssrc/msid, out of the BUNDLE group; once
 *   the browser has answered that, the caller may put a new track of the
 *   same kind in that m-line under a new mid (JSEP 5.2.2 recycling);
 * - otherwise: inactive, port 9, kept in the BUNDLE group. The caller keeps
 *   the first m-line so (never rejected): it carries the BUNDLE transport,
 *   which the browser would drop if every m-line were rejected.
 * Candidates go with the first m-line of the BUNDLE group.
 * Returns 0, or -EINVAL for n == 0, n > PAL_SDP_MAX_MEDIA, a kind other than
 * audio/video, a pt above 127, an empty, overlong or duplicate mid, every
 * m-line rejected, names that are not
 * tokens (cname, stream and track ids), or local parameters without ICE
 * credentials, a sha-256 fingerprint or a decimal origin_sess_id. */
int pal_sdp_build_offer(const struct pal_sdp_track *tracks, size_t n,
                        const struct pal_sdp_local *local, struct pal_session_desc *offer,
                        struct pal_sdp_error *err);

/* Checks a browser's answer to a server offer: same number of m-lines with
 * the same mids in the same order, each accepted m-line (port != 0) with the
 * payload type the offer gave, setup active (the server is the DTLS server),
 * ICE credentials and a sha-256 fingerprint. Returns 0 or -EINVAL. */
int pal_sdp_check_answer(const struct pal_session_desc *offer,
                         const struct pal_session_desc *answer, struct pal_sdp_error *err);

/* What the media core needs about one accepted m-line once offer and answer
 * are both known. In Palabre only the offerer sends (the browser on a publish
 * PC, the server on a subscribe PC), so the SSRCs, cname and msid come from
 * the offer, and the payload type, rtcp-fb and header extension ids from the
 * answer (the negotiated subset). */
struct pal_sdp_stream {
    int media_index;
    enum pal_sdp_kind kind;                 /* AUDIO or VIDEO */
    char mid[PAL_SDP_MID_LEN];
    enum pal_sdp_direction direction;       /* the answer's */
    uint8_t pt;                             /* negotiated payload type */
    int16_t rtx_pt;                         /* negotiated rtx payload type, -1 if none */
    char codec[PAL_SDP_NAME_LEN];           /* "opus", "VP8" */
    uint32_t clock_rate;
    uint32_t fb;                            /* enum pal_sdp_fb bits */
    uint8_t ext_mid, ext_audio_level, ext_transport_cc, ext_abs_send_time; /* 0 = none */
    uint32_t ssrc;                          /* offerer's primary SSRC, 0 if not signalled */
    uint32_t rtx_ssrc;                      /* from a=ssrc-group:FID, 0 if none */
    char cname[PAL_SDP_TOKEN_LEN];
    char stream_id[PAL_SDP_TOKEN_LEN];      /* msid: a=msid, else a=ssrc msid */
    char track_id[PAL_SDP_TOKEN_LEN];
    uint8_t n_rids;                         /* simulcast layers offered (a=rid), 0 = none */
};

/* Fills out[] with one entry per m-line accepted in answer (port != 0, a
 * codec, direction not inactive: media flows), in m-line order. Returns the count, or -EINVAL (err says why) when
 * answer does not match offer (m-line count or mids), or -ENOSPC when cap is
 * too small. */
int pal_sdp_negotiated(const struct pal_session_desc *offer, const struct pal_session_desc *answer,
                       struct pal_sdp_stream *out, size_t cap, struct pal_sdp_error *err);

#endif
