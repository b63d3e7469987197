/* SRTP against published reference packets: libsrtp's srtp_driver
 * srtp_validate (AES_CM_128_HMAC_SHA1_80) and srtp_validate_gcm
 * (AEAD_AES_128_GCM with the RFC 7714 example master key and salt). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "palabre/srtp.h"

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
        cmocka_unit_test(bad_keys_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
