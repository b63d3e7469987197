/* SRTP against published reference packets: libsrtp's srtp_driver
 * srtp_validate (AES_CM_128_HMAC_SHA1_80) and srtp_validate_gcm
 * (AEAD_AES_128_GCM with the RFC 7714 example master key and salt), both
 * through key derivation; RFC 7714 section 16.1.1 with session keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "palabre/srtp.h"
#include "palabre/wire.h"
/* internal: the EVP engine with session keys, for RFC 7714's vectors */
#include "../../../media/srtp_evp.h"

static const uint8_t cm_key[30] = {0xe1, 0xf9, 0x7a, 0x0d, 0x3e, 0x01, 0x8b, 0xe0, 0xd6, 0x4f,
                                   0xa3, 0x2c, 0x06, 0xde, 0x41, 0x39, 0x0e, 0xc6, 0x75, 0xad,
                                   0x49, 0x8a, 0xfe, 0xeb, 0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6};
static const uint8_t gcm_key[28] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
                                    0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0xa0, 0xa1, 0xa2, 0xa3,
                                    0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab};
static const uint8_t rtp_plain[28] = {0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe,
                                      0xba, 0xbe, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
                                      0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab};
static const uint8_t rtcp_plain[24] = {0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe,
                                       0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
                                       0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab};
static const uint8_t cm_srtp[38] = {0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe,
                                    0xba, 0xbe, 0x4e, 0x55, 0xdc, 0x4c, 0xe7, 0x99, 0x78, 0xd8,
                                    0x8c, 0xa4, 0xd2, 0x15, 0x94, 0x9d, 0x24, 0x02, 0xb7, 0x8d,
                                    0x6a, 0xcc, 0x99, 0xea, 0x17, 0x9b, 0x8d, 0xbb};
static const uint8_t cm_srtcp[38] = {0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0x71, 0x28,
                                     0x03, 0x5b, 0xe4, 0x87, 0xb9, 0xbd, 0xbe, 0xf8, 0x90, 0x41,
                                     0xf9, 0x77, 0xa5, 0xa8, 0x80, 0x00, 0x00, 0x01, 0x99, 0x3e,
                                     0x08, 0xcd, 0x54, 0xd6, 0xc1, 0x23, 0x07, 0x98};
static const uint8_t gcm_srtp[44] = {0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca,
                                     0xfe, 0xba, 0xbe, 0xc5, 0x00, 0x2e, 0xde, 0x04, 0xcf,
                                     0xdd, 0x2e, 0xb9, 0x11, 0x59, 0xe0, 0x88, 0x0a, 0xa0,
                                     0x6e, 0xd2, 0x97, 0x68, 0x26, 0xf7, 0x96, 0xb2, 0x01,
                                     0xdf, 0x31, 0x31, 0xa1, 0x27, 0xe8, 0xa3, 0x92};
static const uint8_t gcm_srtcp[44] = {0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0xc9,
                                      0x8b, 0x8b, 0x5d, 0xf0, 0x39, 0x2a, 0x55, 0x85, 0x2b,
                                      0x6c, 0x21, 0xac, 0x8e, 0x70, 0x25, 0xc5, 0x2c, 0x6f,
                                      0xbe, 0xa2, 0xb3, 0xb4, 0x46, 0xea, 0x31, 0x12, 0x3b,
                                      0xa8, 0x8c, 0xe6, 0x1e, 0x80, 0x00, 0x00, 0x01};

static struct pal_srtp *make(enum pal_srtp_profile p, const uint8_t *master)
{
    struct pal_srtp_keys k;
    memset(&k, 0, sizeof(k));
    size_t kl, sl;
    assert_int_equal(pal_srtp_profile_sizes(p, &kl, &sl), 0);
    k.profile = p;
    k.key_len = (uint8_t)kl;
    k.salt_len = (uint8_t)sl;
    memcpy(k.local_key, master, kl);
    memcpy(k.local_salt, master + kl, sl);
    memcpy(k.remote_key, master, kl);
    memcpy(k.remote_salt, master + kl, sl);
    struct pal_srtp *s = NULL;
    assert_int_equal(pal_srtp_create(&k, &s), 0);
    assert_int_equal(pal_srtp_profile(s), p);
    return s;
}

static void check_vectors(enum pal_srtp_profile p, const uint8_t *master, const uint8_t *srtp,
                          size_t srtp_len, const uint8_t *srtcp, size_t srtcp_len)
{
    struct pal_srtp *s = make(p, master);
    uint8_t buf[128];
    size_t n;
    memcpy(buf, rtp_plain, sizeof(rtp_plain));
    assert_int_equal(pal_srtp_protect(s, buf, sizeof(rtp_plain), sizeof(buf), &n), 0);
    assert_int_equal(n, srtp_len);
    assert_memory_equal(buf, srtp, srtp_len);
    memcpy(buf, rtcp_plain, sizeof(rtcp_plain));
    assert_int_equal(pal_srtp_protect_rtcp(s, buf, sizeof(rtcp_plain), sizeof(buf), &n), 0);
    assert_int_equal(n, srtcp_len);
    assert_memory_equal(buf, srtcp, srtcp_len);

    /* The inbound side (same keys here) recovers the plaintext. */
    memcpy(buf, srtp, srtp_len);
    assert_int_equal(pal_srtp_unprotect(s, buf, srtp_len, &n), 0);
    assert_int_equal(n, sizeof(rtp_plain));
    assert_memory_equal(buf, rtp_plain, n);
    /* A replay of the same packet is refused. */
    memcpy(buf, srtp, srtp_len);
    assert_int_equal(pal_srtp_unprotect(s, buf, srtp_len, &n), -EALREADY);
    memcpy(buf, srtcp, srtcp_len);
    assert_int_equal(pal_srtp_unprotect_rtcp(s, buf, srtcp_len, &n), 0);
    assert_int_equal(n, sizeof(rtcp_plain));
    assert_memory_equal(buf, rtcp_plain, n);
    pal_srtp_destroy(s);
}

static void cm_sha1_80_reference_packets(void **state)
{
    check_vectors(PAL_SRTP_AES128_CM_SHA1_80, cm_key, cm_srtp, sizeof(cm_srtp), cm_srtcp,
                  sizeof(cm_srtcp));
}

static void gcm_128_reference_packets(void **state)
{
    check_vectors(PAL_SRTP_AEAD_AES_128_GCM, gcm_key, gcm_srtp, sizeof(gcm_srtp), gcm_srtcp,
                  sizeof(gcm_srtcp));
}

static void tampered_packet_fails_authentication(void **state)
{
    struct pal_srtp *s = make(PAL_SRTP_AEAD_AES_128_GCM, gcm_key);
    uint8_t buf[64];
    size_t n;
    memcpy(buf, gcm_srtp, sizeof(gcm_srtp));
    buf[20] ^= 1;
    assert_int_equal(pal_srtp_unprotect(s, buf, sizeof(gcm_srtp), &n), -EBADMSG);
    pal_srtp_destroy(s);
    s = make(PAL_SRTP_AES128_CM_SHA1_80, cm_key);
    memcpy(buf, cm_srtp, sizeof(cm_srtp));
    buf[37] ^= 0x80;
    assert_int_equal(pal_srtp_unprotect(s, buf, sizeof(cm_srtp), &n), -EBADMSG);
    pal_srtp_destroy(s);
}

static void protect_needs_room_and_allows_retransmission(void **state)
{
    struct pal_srtp *s = make(PAL_SRTP_AEAD_AES_128_GCM, gcm_key);
    uint8_t buf[64], first[64];
    size_t n, n2;
    memcpy(buf, rtp_plain, sizeof(rtp_plain));
    assert_int_equal(pal_srtp_protect(s, buf, sizeof(rtp_plain), sizeof(rtp_plain) + 4, &n),
                     -ENOSPC);
    assert_int_equal(pal_srtp_protect(s, buf, 8, sizeof(buf), &n), -EINVAL);
    assert_int_equal(pal_srtp_protect(s, buf, sizeof(rtp_plain), sizeof(buf), &n), 0);
    memcpy(first, buf, n);
    /* Same sequence number again (a NACK answer): allowed, same bytes. */
    memcpy(buf, rtp_plain, sizeof(rtp_plain));
    assert_int_equal(pal_srtp_protect(s, buf, sizeof(rtp_plain), sizeof(buf), &n2), 0);
    assert_int_equal(n, n2);
    assert_memory_equal(buf, first, n);
    pal_srtp_destroy(s);
}

/* The OpenSSL EVP protect path and libsrtp give the same bytes for every
 * profile, across a sequence wrap (ROC 0 -> 1), with interleaved SSRCs and a
 * retransmission, in place and (every other packet) out of place into
 * another buffer; libsrtp unprotects all of them. */
static void evp_engine_matches_libsrtp_across_wrap(void **state)
{
    const enum pal_srtp_profile profiles[] = {PAL_SRTP_AES128_CM_SHA1_80,
                                              PAL_SRTP_AES128_CM_SHA1_32,
                                              PAL_SRTP_AEAD_AES_128_GCM,
                                              PAL_SRTP_AEAD_AES_256_GCM};
    for (size_t pi = 0; pi < 4; pi++) {
        struct pal_srtp_keys k;
        memset(&k, 0, sizeof(k));
        size_t kl, sl;
        assert_int_equal(pal_srtp_profile_sizes(profiles[pi], &kl, &sl), 0);
        k.profile = profiles[pi];
        k.key_len = (uint8_t)kl;
        k.salt_len = (uint8_t)sl;
        for (size_t i = 0; i < kl; i++)
            k.local_key[i] = k.remote_key[i] = (uint8_t)(i * 7 + pi);
        for (size_t i = 0; i < sl; i++)
            k.local_salt[i] = k.remote_salt[i] = (uint8_t)(0xa0 + i);
        struct pal_srtp *evp, *lib, *rx, *rx_evp;
        assert_int_equal(pal_srtp_create_engine(&k, PAL_SRTP_ENGINE_DEFAULT, &evp), 0);
        assert_int_equal(pal_srtp_create_engine(&k, PAL_SRTP_ENGINE_LIBSRTP, &lib), 0);
        assert_int_equal(pal_srtp_create_engine(&k, PAL_SRTP_ENGINE_LIBSRTP, &rx), 0);
        assert_int_equal(pal_srtp_create_engine(&k, PAL_SRTP_ENGINE_DEFAULT, &rx_evp), 0);
        for (uint32_t i = 0; i < 300; i++) {
            uint32_t ssrc = 0x1000 + (i % 3); /* 3 streams, 100 packets each */
            uint16_t seq = (uint16_t)(65480 + i / 3);
            if (i == 150) /* a retransmission of an earlier packet */
                seq = (uint16_t)(65480 + 10), ssrc = 0x1000;
            uint8_t a[256], b[256];
            /* header with one CSRC and an extension block, then payload */
            const uint8_t hdr[] = {0x91, 96, (uint8_t)(seq >> 8), (uint8_t)seq, 0, 0, 1, 0,
                                   (uint8_t)(ssrc >> 24), (uint8_t)(ssrc >> 16),
                                   (uint8_t)(ssrc >> 8), (uint8_t)ssrc, 0, 0, 0, 7,
                                   0xBE, 0xDE, 0, 1, 0x10, 0x42, 0, 0};
            memcpy(a, hdr, sizeof(hdr));
            for (size_t j = sizeof(hdr); j < 200; j++)
                a[j] = (uint8_t)(i + j);
            memcpy(b, a, 200);
            size_t na, nb, nr;
            if (i % 4 == 2) { /* in two parts (a header rewritten for a subscriber,
                               * the payload where it was received): same bytes */
                uint8_t h[sizeof(hdr)], body[256];
                size_t blen = 200 - sizeof(hdr);
                memcpy(h, a, sizeof(hdr));
                memcpy(body, a + sizeof(hdr), blen);
                memset(a, 0, sizeof(a));
                memset(b, 0, sizeof(b));
                /* the header part must be exactly the RTP header */
                assert_int_equal(pal_srtp_protect_parts(evp, h, sizeof(h) - 4, body, blen, a,
                                                        sizeof(a), &na),
                                 -EINVAL);
                assert_int_equal(pal_srtp_protect_parts(evp, h, sizeof(h), body, blen, a, 200 + 4,
                                                        &na),
                                 -ENOSPC);
                assert_int_equal(pal_srtp_protect_parts(evp, h, sizeof(h), body, blen, a,
                                                        sizeof(a), &na),
                                 0);
                assert_int_equal(pal_srtp_protect_parts(lib, h, sizeof(h), body, blen, b,
                                                        sizeof(b), &nb),
                                 0);
                assert_int_equal(body[0], (uint8_t)(i + sizeof(hdr))); /* read, not written */
            } else if (i % 2) { /* out of place (into a send slot): same bytes, source kept */
                uint8_t src[256];
                memcpy(src, a, 200);
                memset(a, 0, sizeof(a));
                assert_int_equal(pal_srtp_protect_into(evp, src, 200, a, sizeof(a), &na), 0);
                assert_memory_equal(src, b, 200);
                assert_int_equal(pal_srtp_protect_into(lib, src, 200, b, sizeof(b), &nb), 0);
                assert_int_equal(pal_srtp_protect_into(lib, src, 200, b, 200 + 4, &nr), -ENOSPC);
            } else {
                assert_int_equal(pal_srtp_protect(evp, a, 200, sizeof(a), &na), 0);
                assert_int_equal(pal_srtp_protect(lib, b, 200, sizeof(b), &nb), 0);
            }
            assert_int_equal(na, nb);
            assert_memory_equal(a, b, na);
            /* EVP unprotect of libsrtp's output (b), libsrtp unprotect of EVP's (a) */
            if (i != 150) {
                assert_int_equal(pal_srtp_unprotect(rx_evp, b, nb, &nr), 0);
                assert_int_equal(nr, 200);
                assert_int_equal(b[sizeof(hdr)], (uint8_t)(i + sizeof(hdr)));
                assert_int_equal(pal_srtp_unprotect(rx, a, na, &nr), 0);
                assert_int_equal(nr, 200);
            } else {
                assert_int_equal(pal_srtp_unprotect(rx_evp, b, nb, &nr), -EALREADY);
            }
        }
        pal_srtp_destroy(evp);
        pal_srtp_destroy(lib);
        pal_srtp_destroy(rx);
        pal_srtp_destroy(rx_evp);
    }
}

/* Inbound replay window: reordering inside it is fine, old or repeated
 * packets are refused, a forged first packet does not create state. */
static void evp_unprotect_window(void **state)
{
    struct pal_srtp *tx = make(PAL_SRTP_AEAD_AES_128_GCM, gcm_key);
    struct pal_srtp *rx = make(PAL_SRTP_AEAD_AES_128_GCM, gcm_key);
    static uint8_t pkts[3000][64];
    size_t lens[3000], n;
    for (int i = 0; i < 3000; i++) {
        uint16_t seq = (uint16_t)(64000 + i); /* wraps at i = 1536 */
        uint8_t *b = pkts[i];
        memcpy(b, rtp_plain, sizeof(rtp_plain));
        b[2] = (uint8_t)(seq >> 8);
        b[3] = (uint8_t)seq;
        assert_int_equal(pal_srtp_protect(tx, b, sizeof(rtp_plain), 64, &lens[i]), 0);
    }
    uint8_t forged[64];
    memcpy(forged, pkts[5], lens[5]);
    forged[30] ^= 1;
    assert_int_equal(pal_srtp_unprotect(rx, forged, lens[5], &n), -EBADMSG);
    uint8_t c[64];
    /* in order except pairs swapped; every 100th replayed */
    for (int i = 0; i < 3000; i += 2) {
        for (int j = 1; j >= 0; j--) {
            memcpy(c, pkts[i + j], lens[i + j]);
            assert_int_equal(pal_srtp_unprotect(rx, c, lens[i + j], &n), 0);
            assert_int_equal(n, sizeof(rtp_plain));
            assert_memory_equal(c + 12, rtp_plain + 12, sizeof(rtp_plain) - 12);
        }
        if (i % 100 == 0) {
            memcpy(c, pkts[i], lens[i]);
            assert_int_equal(pal_srtp_unprotect(rx, c, lens[i], &n), -EALREADY);
        }
    }
    /* Older than the window (1024 packets) */
    memcpy(c, pkts[1000], lens[1000]);
    assert_int_equal(pal_srtp_unprotect(rx, c, lens[1000], &n), -EALREADY);
    assert_int_equal(pal_srtp_unprotect(rx, c, 10, &n), -EINVAL);
    pal_srtp_destroy(tx);
    pal_srtp_destroy(rx);
}

/* A sender that started near 65535 and whose first packets were lost: the
 * first packet that arrives has ROC 1; the receiver still opens it and the
 * ones after it (reliability T13). Both profiles. */
static void first_packet_after_sender_wrap(void **state)
{
    const enum pal_srtp_profile profiles[] = {PAL_SRTP_AEAD_AES_128_GCM,
                                              PAL_SRTP_AES128_CM_SHA1_80};
    for (int pi = 0; pi < 2; pi++) {
        struct pal_srtp *tx = make(profiles[pi], pi ? cm_key : gcm_key);
        struct pal_srtp *rx = make(profiles[pi], pi ? cm_key : gcm_key);
        for (uint32_t s = 65530; s < 65536 + 20; s++) {
            uint8_t b[64];
            size_t n, back;
            memcpy(b, rtp_plain, sizeof(rtp_plain));
            b[2] = (uint8_t)(s >> 8);
            b[3] = (uint8_t)s;
            assert_int_equal(pal_srtp_protect(tx, b, sizeof(rtp_plain), sizeof(b), &n), 0);
            if (s < 65536 + 3)
                continue; /* lost */
            assert_int_equal(pal_srtp_unprotect(rx, b, n, &back), 0);
            assert_int_equal(back, sizeof(rtp_plain));
            assert_memory_equal(b + 12, rtp_plain + 12, sizeof(rtp_plain) - 12);
        }
        pal_srtp_destroy(tx);
        pal_srtp_destroy(rx);
    }
}

/* At most 1024 SSRCs per direction: the next new one is refused, known
 * ones keep working. */
static void ssrc_table_is_bounded(void **state)
{
    struct pal_srtp *tx = make(PAL_SRTP_AEAD_AES_128_GCM, gcm_key);
    uint8_t b[64];
    size_t n;
    for (uint32_t i = 0; i <= 1024; i++) {
        memcpy(b, rtp_plain, sizeof(rtp_plain));
        pal_wr32(b + 8, 0x10000 + i);
        assert_int_equal(pal_srtp_protect(tx, b, sizeof(rtp_plain), sizeof(b), &n),
                         i < 1024 ? 0 : -ENOSPC);
    }
    memcpy(b, rtp_plain, sizeof(rtp_plain));
    pal_wr32(b + 8, 0x10000 + 7);
    assert_int_equal(pal_srtp_protect(tx, b, sizeof(rtp_plain), sizeof(b), &n), 0);
    pal_srtp_destroy(tx);
}

static uint8_t hexval(char c)
{
    return (uint8_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
}

/* "8040 f17b ..." -> bytes; returns the count. */
static size_t from_hex(const char *s, uint8_t *out)
{
    size_t n = 0;
    for (; *s; s++) {
        if (*s == ' ')
            continue;
        out[n++] = (uint8_t)(hexval(s[0]) << 4 | hexval(s[1]));
        s++;
    }
    return n;
}

/* RFC 7714 section 16.1.1 (AEAD_AES_128_GCM, session key and salt given
 * directly, SSRC 0x5501a0b2, SEQ 0xf17b, ROC 0): encryption, then
 * decryption, and a flipped bit fails. */
static void rfc7714_section16_gcm_vector(void **state)
{
    uint8_t key[16], salt[12], plain[64], cipher[80], buf[128];
    from_hex("000102030405060708090a0b0c0d0e0f", key);
    from_hex("517569642070726f2071756f", salt);
    size_t pl = from_hex("8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973 20646976"
                         " 69736120 696e2070 61727465 73207472 6573",
                         plain);
    size_t cl = from_hex("8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5"
                         " 0d294e6f 42a5f47a 51c7d19b 36de3adf 8833899d 7f27beb1 6a9152cf 765ee439"
                         " 0cce",
                         cipher);
    assert_int_equal(pl, 50);
    assert_int_equal(cl, 66);
    struct pal_srtp_evp *tx, *rx;
    assert_int_equal(pal_srtp_evp_create_session(PAL_SRTP_AEAD_AES_128_GCM, key, 16, salt, NULL,
                                                 false, &tx),
                     0);
    assert_int_equal(pal_srtp_evp_create_session(PAL_SRTP_AEAD_AES_128_GCM, key, 16, salt, NULL,
                                                 true, &rx),
                     0);
    size_t n;
    memcpy(buf, plain, pl);
    assert_int_equal(pal_srtp_evp_protect(tx, buf, pl, sizeof(buf), &n), 0);
    assert_int_equal(n, cl);
    assert_memory_equal(buf, cipher, cl);
    assert_int_equal(pal_srtp_evp_unprotect(rx, buf, n, &n), 0);
    assert_int_equal(n, pl);
    assert_memory_equal(buf, plain, pl);
    memcpy(buf, cipher, cl);
    buf[cl - 1] ^= 1;
    struct pal_srtp_evp *rx2;
    assert_int_equal(pal_srtp_evp_create_session(PAL_SRTP_AEAD_AES_128_GCM, key, 16, salt, NULL,
                                                 true, &rx2),
                     0);
    assert_int_equal(pal_srtp_evp_unprotect(rx2, buf, cl, &n), -EBADMSG);
    pal_srtp_evp_destroy(tx);
    pal_srtp_evp_destroy(rx);
    pal_srtp_evp_destroy(rx2);
}

static void bad_keys_are_refused(void **state)
{
    struct pal_srtp_keys k;
    memset(&k, 0, sizeof(k));
    struct pal_srtp *s = NULL;
    k.profile = PAL_SRTP_AEAD_AES_128_GCM;
    k.key_len = 16;
    k.salt_len = 14; /* GCM wants 12 */
    assert_int_equal(pal_srtp_create(&k, &s), -EINVAL);
    k.profile = (enum pal_srtp_profile)99;
    assert_int_equal(pal_srtp_create(&k, &s), -EINVAL);
    assert_null(s);
    assert_string_equal(pal_srtp_profile_name(PAL_SRTP_AEAD_AES_128_GCM), "SRTP_AEAD_AES_128_GCM");
    assert_non_null(strstr(pal_srtp_backend(), "libsrtp"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cm_sha1_80_reference_packets),
        cmocka_unit_test(gcm_128_reference_packets),
        cmocka_unit_test(tampered_packet_fails_authentication),
        cmocka_unit_test(protect_needs_room_and_allows_retransmission),
        cmocka_unit_test(evp_engine_matches_libsrtp_across_wrap),
        cmocka_unit_test(evp_unprotect_window),
        cmocka_unit_test(rfc7714_section16_gcm_vector),
        cmocka_unit_test(first_packet_after_sender_wrap),
        cmocka_unit_test(ssrc_table_is_bounded),
        cmocka_unit_test(bad_keys_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
