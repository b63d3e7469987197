/* One PeerConnection's transport: ICE (palabre/ice.h), then DTLS-SRTP
 * (palabre/dtls.h, palabre/srtp.h) over it. Datagrams are told apart by
 * their first byte (RFC 7983, palabre/demux.h): DTLS records go to the
 * handshake, SRTP/SRTCP are checked (SSRC known, before libsrtp sees it),
 * decrypted in place and handed up, RTP parsed once; outgoing RTP is
 * protected from its two parts (header, payload) into the datagram, RTCP in
 * place, and sent.
 *
 * The certificate fingerprint of the peer is checked against the SDP: a
 * mismatch fails the transport with PAL_MEDIA_FAIL_DTLS.
 *
 * Thread: the owning media worker only. Callbacks never run inside
 * pal_transport_destroy; do not destroy a transport from its own callback
 * (defer it). */
#ifndef PALABRE_TRANSPORT_H
#define PALABRE_TRANSPORT_H

#include <glib.h>

#include "palabre/common.h"
#include "palabre/dtls.h"
#include "palabre/media.h"
#include "palabre/rtp.h"

struct pal_transport;
struct pal_send_batch;

struct pal_transport_listener {
    void *ctx;
    /* For log lines: whose transport this is (borrowed, outlive the transport). */
    const char *log_room, *log_participant, *log_pc;
    void (*on_transport_candidate)(void *ctx, const struct pal_media_candidate *c);
    void (*on_transport_gathering_done)(void *ctx);
    void (*on_transport_connected)(void *ctx, enum pal_srtp_profile profile);
    void (*on_transport_failed)(void *ctx, enum pal_media_fail_code code, const char *reason);
    /* The packet callbacks below get media_ctx (the room peer, palabre/room.h):
     * from the socket to the router, nothing else passes them on. */
    void *media_ctx;
    /* Before decryption, from the header parsed once: the stream this SSRC
     * feeds, or NULL (dropped, never decrypted). No callback: RTP is not
     * expected on this PC (subscribe) and is dropped. */
    void *(*on_transport_accept_rtp)(void *media_ctx, const struct pal_rtp_packet *hdr);
    /* The packet of that stream, decrypted in place, the same parse completed
     * (palabre/rtp.h pal_rtp_parse_body). */
    void (*on_transport_rtp)(void *media_ctx, void *stream, const struct pal_rtp_packet *pkt);
    /* A decrypted RTCP compound; buf may be modified. */
    void (*on_transport_rtcp)(void *media_ctx, uint8_t *buf, size_t len);
};

struct pal_transport_stats {
    uint64_t rtp_in, rtcp_in, rtp_out, rtcp_out;
    uint64_t srtp_errors, unknown_ssrc, not_ready;
    /* rtp_out/rtcp_out count packets handed to the send path; these count
     * the send syscalls made (one sendmmsg per batch) and the datagrams the
     * kernel refused (EAGAIN, ENOBUFS...: dropped, never retried). */
    uint64_t send_calls, send_dropped;
};

/* cert: shared, read-only. controlling: the ICE role (the offerer).
 * batch: the worker's send batch, or NULL for one sendto per packet (see
 * pal_ice_create). l is copied. Returns 0, -EINVAL, -ENOMEM, -EIO. */
int pal_transport_create(GMainContext *ctx, const struct pal_media_config *cfg,
                         const struct pal_dtls_cert *cert, bool controlling,
                         const struct pal_media_ice_params *local, struct pal_send_batch *batch,
                         const struct pal_transport_listener *l, struct pal_transport **out);
void pal_transport_destroy(struct pal_transport *t);

/* The peer's ICE and DTLS parameters (from its offer or answer). The first
 * call creates the DTLS endpoint; later calls with new ICE credentials
 * restart ICE (local: our new credentials, may be NULL to keep them). */
int pal_transport_set_remote(struct pal_transport *t, const struct pal_media_ice_params *local,
                             const struct pal_media_ice_params *remote,
                             const struct pal_media_dtls_params *dtls);
int pal_transport_add_remote_candidate(struct pal_transport *t,
                                       const struct pal_media_candidate *c);
void pal_transport_remote_gathering_done(struct pal_transport *t);

/* Sink functions (struct pal_media_sink): protect (the header and payload
 * parts into the datagram; RTCP in place) and send. */
int pal_transport_sink_rtp(void *transport, const uint8_t *hdr, size_t hdr_len,
                           const uint8_t *body, size_t body_len);
int pal_transport_send_rtcp(void *transport, uint8_t *buf, size_t len, size_t cap);
/* A whole plaintext RTP packet (a client's sender, bench/load), protected
 * and sent as pal_transport_sink_rtp does (buf is not modified; cap is
 * unused). Returns 0, -EINVAL (not RTP) or as pal_transport_sink_rtp. */
int pal_transport_send_rtp(void *transport, uint8_t *buf, size_t len, size_t cap);

void pal_transport_get_stats(const struct pal_transport *t, struct pal_transport_stats *out);

#endif
