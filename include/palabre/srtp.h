/* SRTP / SRTCP sessions (RFC 3711, RFC 7714) over libsrtp2.
 *
 * One pal_srtp holds the two directions of one DTLS-SRTP association: the
 * outbound context (our keys) and the inbound context (the peer's keys),
 * both keyed for any SSRC. Protect works in place in a caller buffer that
 * has PAL_SRTP_MAX_TRAILER spare bytes after the packet; nothing is
 * allocated per packet (state is added once per new SSRC, at most 1024 per
 * direction, then protect/unprotect of a new SSRC fail with -ENOSPC; still,
 * check the SSRC against the negotiated ones BEFORE unprotecting).
 *
 * Retransmissions: protect accepts a sequence number already sent
 * (allow_repeat_tx), so NACK answers can be re-protected.
 *
 * Debian's libsrtp2 uses NSS, which is slow and allocates per packet, so
 * outgoing RTP is protected over OpenSSL EVP by default (pal_srtp_engine;
 * docs/benchmarks.md "## Forwarding" has the figures).
 *
 * Thread: a pal_srtp belongs to one thread (its room's worker). create and
 * destroy may run on any thread. pal_srtp_init is called once by create. */
#ifndef PALABRE_SRTP_H
#define PALABRE_SRTP_H

#include "palabre/common.h"

/* Values are the DTLS-SRTP protection profile ids (RFC 5764, RFC 7714). */
enum pal_srtp_profile {
    PAL_SRTP_NONE = 0,
    PAL_SRTP_AES128_CM_SHA1_80 = 0x0001,
    PAL_SRTP_AES128_CM_SHA1_32 = 0x0002,
    PAL_SRTP_AEAD_AES_128_GCM = 0x0007,
    PAL_SRTP_AEAD_AES_256_GCM = 0x0008,
};

/* Room needed after an RTP/RTCP packet for protect (tag, SRTCP index). */
#define PAL_SRTP_MAX_TRAILER 32
#define PAL_SRTP_MAX_KEY 32
#define PAL_SRTP_MAX_SALT 14

/* Master keys of one association, already split by direction. */
struct pal_srtp_keys {
    enum pal_srtp_profile profile;
    uint8_t key_len;  /* 16 or 32 */
    uint8_t salt_len; /* 14 (CM) or 12 (GCM) */
    uint8_t local_key[PAL_SRTP_MAX_KEY];
    uint8_t local_salt[PAL_SRTP_MAX_SALT];
    uint8_t remote_key[PAL_SRTP_MAX_KEY];
    uint8_t remote_salt[PAL_SRTP_MAX_SALT];
};

struct pal_srtp;

/* Key and salt sizes of a profile; -EINVAL for an unknown profile. */
int pal_srtp_profile_sizes(enum pal_srtp_profile p, size_t *key_len, size_t *salt_len);
const char *pal_srtp_profile_name(enum pal_srtp_profile p);

/* Who protects and unprotects RTP. SRTCP always uses libsrtp. */
enum pal_srtp_engine {
    /* RTP over media/srtp_evp.c (AES-GCM on libgcrypt, AES-CM and HMAC-SHA1
     * on OpenSSL): several times cheaper than Debian's NSS-backed libsrtp2
     * and allocation-free per packet. */
    PAL_SRTP_ENGINE_DEFAULT = 0,
    PAL_SRTP_ENGINE_LIBSRTP, /* everything through libsrtp (comparison, fallback) */
};

/* Returns 0, -EINVAL (bad profile or sizes) or -ENOMEM. */
int pal_srtp_create(const struct pal_srtp_keys *keys, struct pal_srtp **out);
int pal_srtp_create_engine(const struct pal_srtp_keys *keys, enum pal_srtp_engine engine,
                           struct pal_srtp **out);
void pal_srtp_destroy(struct pal_srtp *s);
enum pal_srtp_profile pal_srtp_profile(const struct pal_srtp *s);

/* In place: buf holds len bytes of RTP and has cap >= len + trailer;
 * *out_len receives the protected length. Returns 0, -ENOSPC (no room for
 * the trailer, or a 1025th SSRC), -EINVAL (not RTP) or -EIO. */
int pal_srtp_protect(struct pal_srtp *s, uint8_t *buf, size_t len, size_t cap, size_t *out_len);
/* The same, reading the plaintext from in (not modified unless in == out)
 * and writing the protected packet to out (cap bytes): the payload copy
 * is done by the cipher, e.g. straight into a send queue slot. */
int pal_srtp_protect_into(struct pal_srtp *s, const uint8_t *in, size_t len, uint8_t *out,
                          size_t cap, size_t *out_len);
/* The same with the packet in two parts: hdr (hdr_len bytes, exactly the
 * RTP header with its CSRCs and extension block) then body (the payload and
 * any padding), e.g. a header rewritten for one subscriber and the payload
 * where it was received. out must not overlap body. */
int pal_srtp_protect_parts(struct pal_srtp *s, const uint8_t *hdr, size_t hdr_len,
                           const uint8_t *body, size_t body_len, uint8_t *out, size_t cap,
                           size_t *out_len);
/* In place; returns 0, -EINVAL (malformed), -EBADMSG (authentication
 * failed), -EALREADY (replayed or older than the 1024-packet window),
 * -ENOSPC (a 1025th SSRC) or -EIO. */
int pal_srtp_unprotect(struct pal_srtp *s, uint8_t *buf, size_t len, size_t *out_len);
int pal_srtp_protect_rtcp(struct pal_srtp *s, uint8_t *buf, size_t len, size_t cap,
                          size_t *out_len);
int pal_srtp_unprotect_rtcp(struct pal_srtp *s, uint8_t *buf, size_t len, size_t *out_len);

/* libsrtp's crypto backend as reported by its version string / linkage, e.g.
 * "libsrtp2 2.5.0 (nss)". Static string. */
const char *pal_srtp_backend(void);

#endif
