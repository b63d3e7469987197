/* DTLS 1.2 for DTLS-SRTP (RFC 5763, RFC 5764) over OpenSSL with memory BIOs.
 *
 * The transport (libnice) owns the socket: feed every datagram demuxed as
 * DTLS into pal_dtls_feed(); outgoing records leave through the
 * on_dtls_send callback. Retransmission timers are driven by the caller's
 * loop: after any call, ask pal_dtls_timeout_ms() and call
 * pal_dtls_handle_timeout() when it expires.
 *
 * The peer's certificate is checked against the SHA-256 fingerprint from the
 * SDP (a=fingerprint:sha-256 AB:CD:...). A mismatch, a missing fingerprint or
 * a missing certificate fails the handshake: on_dtls_failed is called with a
 * clear reason and the object goes to PAL_DTLS_FAILED (tear the session down).
 * On success on_dtls_connected gives the SRTP keys (RFC 5764 section 4.2,
 * label "EXTRACTOR-dtls_srtp") already split into local/remote for our role,
 * and the negotiated profile. Offered profiles, in order:
 * SRTP_AEAD_AES_128_GCM, then SRTP_AES128_CM_SHA1_80.
 *
 * Threads: pal_dtls_cert is made once at start and then read-only (share it
 * across workers). A pal_dtls belongs to one thread (its room's worker);
 * callbacks run on that thread, inside feed/start/handle_timeout. */
#ifndef PALABRE_DTLS_H
#define PALABRE_DTLS_H

#include "palabre/common.h"
#include "palabre/srtp.h"

/* "AB:CD:..." : 32 bytes as 95 characters + NUL */
#define PAL_DTLS_FINGERPRINT_LEN 96
/* DTLS records we emit fit in this (path MTU budget below 1280). */
#define PAL_DTLS_MTU 1200

struct pal_dtls_cert;
struct pal_dtls;

enum pal_dtls_role {
    PAL_DTLS_CLIENT, /* a=setup:active */
    PAL_DTLS_SERVER, /* a=setup:passive */
};

enum pal_dtls_state {
    PAL_DTLS_NEW,
    PAL_DTLS_CONNECTING,
    PAL_DTLS_CONNECTED,
    PAL_DTLS_FAILED,
    PAL_DTLS_CLOSED,
};

struct pal_dtls_listener {
    void *ctx;
    /* One datagram to send to the peer (valid only during the call). */
    void (*on_dtls_send)(void *ctx, const uint8_t *data, size_t len);
    /* Handshake done and fingerprint verified; keys valid during the call. */
    void (*on_dtls_connected)(void *ctx, const struct pal_srtp_keys *keys);
    /* Handshake failed (reason: static or valid during the call). */
    void (*on_dtls_failed)(void *ctx, const char *reason);
    /* Peer sent close_notify. May be NULL. */
    void (*on_dtls_closed)(void *ctx);
};

/* Makes an ECDSA P-256 key and a self-signed certificate (SHA-256 signature,
 * 30 days validity). Returns 0, -ENOMEM or -EIO. */
int pal_dtls_cert_create(struct pal_dtls_cert **out);
void pal_dtls_cert_destroy(struct pal_dtls_cert *c);
/* "AB:CD:..." uppercase SHA-256 of the DER certificate (for a=fingerprint). */
const char *pal_dtls_cert_fingerprint(const struct pal_dtls_cert *c);

/* remote_fingerprint: "sha-256" value from the SDP ("AB:CD:..", case
 * insensitive); may be NULL now and set later with
 * pal_dtls_set_remote_fingerprint(), but must be set before the peer's
 * certificate arrives or the handshake fails. l is copied.
 * Returns 0, -EINVAL, -ENOMEM. */
int pal_dtls_create(const struct pal_dtls_cert *cert, enum pal_dtls_role role,
                    const char *remote_fingerprint, const struct pal_dtls_listener *l,
                    struct pal_dtls **out);
void pal_dtls_destroy(struct pal_dtls *d);
int pal_dtls_set_remote_fingerprint(struct pal_dtls *d, const char *fingerprint);

/* Client: sends the ClientHello. Server: waits for one. Returns 0 or -EIO. */
int pal_dtls_start(struct pal_dtls *d);
/* One received DTLS datagram. Returns 0 (also when the datagram was
 * dropped as garbage), or -EIO once the handshake has failed. Application
 * data after the handshake is ignored (no data channels yet). */
int pal_dtls_feed(struct pal_dtls *d, const uint8_t *data, size_t len);
/* Milliseconds until pal_dtls_handle_timeout() must be called; -1 if no
 * timer is running. */
int64_t pal_dtls_timeout_ms(struct pal_dtls *d);
/* Retransmits the last flight if its timer expired. Returns 0 or -EIO
 * (too many retransmissions: failed). */
int pal_dtls_handle_timeout(struct pal_dtls *d);
/* Sends close_notify. */
void pal_dtls_close(struct pal_dtls *d);

enum pal_dtls_state pal_dtls_state(const struct pal_dtls *d);
/* Why the handshake failed ("" otherwise). */
const char *pal_dtls_error(const struct pal_dtls *d);
/* Keys after PAL_DTLS_CONNECTED; -EAGAIN before. */
int pal_dtls_srtp_keys(const struct pal_dtls *d, struct pal_srtp_keys *out);

#endif
