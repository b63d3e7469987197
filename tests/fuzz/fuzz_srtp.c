/* SRTP unprotect of arbitrary datagrams (what any peer on the 5-tuple can
 * send), both engines' profiles: AES-GCM (libgcrypt) and AES-CM + HMAC-SHA1
 * (OpenSSL). A forged packet must be refused with the buffer as it came and
 * must not create a stream; a packet the sender really protected must come
 * back as it was. The first input byte picks the profile. */
#include <stdlib.h>
#include <string.h>

#include "palabre/srtp.h"

static struct pal_srtp *make(enum pal_srtp_profile p, uint8_t seed)
{
    struct pal_srtp_keys k = {.profile = p};
    size_t kl, sl;
    if (pal_srtp_profile_sizes(p, &kl, &sl))
        abort();
    k.key_len = (uint8_t)kl;
    k.salt_len = (uint8_t)sl;
    /* the same keys both ways: what one side protects, it can unprotect */
    for (size_t i = 0; i < kl; i++)
        k.local_key[i] = k.remote_key[i] = (uint8_t)(seed + i);
    for (size_t i = 0; i < sl; i++)
        k.local_salt[i] = k.remote_salt[i] = (uint8_t)(seed ^ (0x5a + i));
    struct pal_srtp *s;
    if (pal_srtp_create(&k, &s))
        abort();
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1500)
        return 0;
    static const enum pal_srtp_profile profiles[] = {
        PAL_SRTP_AEAD_AES_128_GCM, PAL_SRTP_AEAD_AES_256_GCM, PAL_SRTP_AES128_CM_SHA1_80,
        PAL_SRTP_AES128_CM_SHA1_32};
    enum pal_srtp_profile p = profiles[data[0] % 4];
    data++, size--;
    struct pal_srtp *s = make(p, 7);
    uint8_t buf[1500 + PAL_SRTP_MAX_TRAILER];

    /* 1. as received: forged, almost always refused, and then unchanged */
    memcpy(buf, data, size);
    size_t n;
    int rc = pal_srtp_unprotect(s, buf, size, &n);
    if (rc != 0 && memcmp(buf, data, size) != 0)
        abort();
    if (rc == 0 && n > size)
        abort();

    /* 2. as sent: protect (refused if not RTP), then unprotect gives it back */
    memcpy(buf, data, size);
    size_t m;
    if (pal_srtp_protect(s, buf, size, sizeof(buf), &m) == 0) {
        struct pal_srtp *rx = make(p, 7);
        if (m <= size || pal_srtp_unprotect(rx, buf, m, &n) != 0 || n != size ||
            memcmp(buf, data, size) != 0)
            abort();
        pal_srtp_destroy(rx);
    }
    pal_srtp_destroy(s);
    return 0;
}
