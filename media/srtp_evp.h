/* SRTP for RTP (protect and unprotect) over OpenSSL EVP (AES-CM, HMAC-SHA1)
 * and libgcrypt (AES-GCM, see srtp_evp.c for why): RFC 3711 AES-CM +
 * HMAC-SHA1 and RFC 7714 AES-GCM, keys derived once, cipher/MAC contexts
 * kept per stream, no allocation per packet (only on a new SSRC).
 *
 * Why by hand: Debian's libsrtp2 is built on NSS, whose AES-CM path
 * recreates a PK11 context and allocates on every packet (~8 µs per
 * 1,200-byte CM packet, ~2.5 µs GCM, 5 to 28 mallocs per packet measured in
 * bench_forward); no Debian package offers libsrtp over OpenSSL. RTP is the
 * per-packet cost of forwarding (protect per subscriber, unprotect per
 * published packet), so it goes through here; SRTCP stays in libsrtp. Checked byte for byte against
 * libsrtp's reference packets and against libsrtp unprotect across ROC wrap
 * (tests/unit/media/test_srtp.c). Internal to media/srtp.c. */
#ifndef PALABRE_MEDIA_SRTP_EVP_H
#define PALABRE_MEDIA_SRTP_EVP_H

#include "palabre/srtp.h"

struct pal_srtp_evp;

/* inbound: the context unprotects (replay window of 1024 packets per SSRC),
 * else it protects. */
int pal_srtp_evp_create(enum pal_srtp_profile p, const uint8_t *key, size_t key_len,
                        const uint8_t *salt, size_t salt_len, bool inbound,
                        struct pal_srtp_evp **out);
void pal_srtp_evp_destroy(struct pal_srtp_evp *e);
/* With session keys directly (no key derivation): for the RFC 7714
 * section 16 test vectors. ssalt: 12 (GCM) or 14 bytes; sauth: 20 bytes
 * (CM) or NULL (GCM). */
int pal_srtp_evp_create_session(enum pal_srtp_profile p, const uint8_t *skey, size_t key_len,
                                const uint8_t *ssalt, const uint8_t *sauth, bool inbound,
                                struct pal_srtp_evp **out);
/* Same contract as pal_srtp_protect. */
int pal_srtp_evp_protect(struct pal_srtp_evp *e, uint8_t *buf, size_t len, size_t cap,
                         size_t *out_len);
/* Same contract as pal_srtp_protect_into. */
int pal_srtp_evp_protect_into(struct pal_srtp_evp *e, const uint8_t *in, size_t len, uint8_t *out,
                              size_t cap, size_t *out_len);
/* Same contract as pal_srtp_protect_parts. */
int pal_srtp_evp_protect_parts(struct pal_srtp_evp *e, const uint8_t *hdr, size_t hdr_len,
                               const uint8_t *body, size_t body_len, uint8_t *out, size_t cap,
                               size_t *out_len);
/* Same contract as pal_srtp_unprotect. */
int pal_srtp_evp_unprotect(struct pal_srtp_evp *e, uint8_t *buf, size_t len, size_t *out_len);

#endif
