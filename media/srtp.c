/* SRTP sessions over libsrtp2 (see palabre/srtp.h). */
#include "palabre/srtp.h"

#include "srtp_evp.h"

#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <srtp2/srtp.h>

struct pal_srtp {
    /* owned */
    srtp_t out; /* our keys, any outbound SSRC */
    srtp_t in;  /* peer's keys, any inbound SSRC */
    struct pal_srtp_evp *evp_out; /* RTP protect, NULL with PAL_SRTP_ENGINE_LIBSRTP */
    struct pal_srtp_evp *evp_in;  /* RTP unprotect, idem */
    /* state */
    enum pal_srtp_profile profile;
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_status;

static void srtp_init_once(void)
{
    init_status = srtp_init() == srtp_err_status_ok ? 0 : -EIO;
}

int pal_srtp_profile_sizes(enum pal_srtp_profile p, size_t *key_len, size_t *salt_len)
{
    switch (p) {
    case PAL_SRTP_AES128_CM_SHA1_80:
    case PAL_SRTP_AES128_CM_SHA1_32:
        *key_len = 16;
        *salt_len = 14;
        return 0;
    case PAL_SRTP_AEAD_AES_128_GCM:
        *key_len = 16;
        *salt_len = 12;
        return 0;
    case PAL_SRTP_AEAD_AES_256_GCM:
        *key_len = 32;
        *salt_len = 12;
        return 0;
    default:
        return -EINVAL;
    }
}

const char *pal_srtp_profile_name(enum pal_srtp_profile p)
{
    switch (p) {
    case PAL_SRTP_AES128_CM_SHA1_80:
        return "SRTP_AES128_CM_SHA1_80";
    case PAL_SRTP_AES128_CM_SHA1_32:
        return "SRTP_AES128_CM_SHA1_32";
    case PAL_SRTP_AEAD_AES_128_GCM:
        return "SRTP_AEAD_AES_128_GCM";
    case PAL_SRTP_AEAD_AES_256_GCM:
        return "SRTP_AEAD_AES_256_GCM";
    default:
        return "none";
    }
}

static void set_policies(srtp_policy_t *pol, enum pal_srtp_profile p)
{
    switch (p) {
    case PAL_SRTP_AES128_CM_SHA1_80:
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol->rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol->rtcp);
        break;
    case PAL_SRTP_AES128_CM_SHA1_32:
        /* RFC 5764: SRTCP keeps the 80-bit tag. */
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&pol->rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol->rtcp);
        break;
    case PAL_SRTP_AEAD_AES_128_GCM:
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol->rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol->rtcp);
        break;
    case PAL_SRTP_AEAD_AES_256_GCM:
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&pol->rtp);
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&pol->rtcp);
        break;
    default:
        break;
    }
}

static int make_session(srtp_t *out, enum pal_srtp_profile p, const uint8_t *key, size_t key_len,
                        const uint8_t *salt, size_t salt_len, srtp_ssrc_type_t dir)
{
    uint8_t master[PAL_SRTP_MAX_KEY + PAL_SRTP_MAX_SALT];
    memcpy(master, key, key_len);
    memcpy(master + key_len, salt, salt_len);
    srtp_policy_t pol;
    memset(&pol, 0, sizeof(pol));
    set_policies(&pol, p);
    pol.ssrc.type = dir;
    pol.key = master;
    pol.window_size = 1024;
    pol.allow_repeat_tx = 1; /* NACK answers re-protect a sent seq */
    pol.next = NULL;
    srtp_err_status_t st = srtp_create(out, &pol);
    memset(master, 0, sizeof(master));
    if (st == srtp_err_status_alloc_fail)
        return -ENOMEM;
    return st == srtp_err_status_ok ? 0 : -EINVAL;
}

int pal_srtp_create(const struct pal_srtp_keys *keys, struct pal_srtp **out)
{
    return pal_srtp_create_engine(keys, PAL_SRTP_ENGINE_DEFAULT, out);
}

int pal_srtp_create_engine(const struct pal_srtp_keys *keys, enum pal_srtp_engine engine,
                           struct pal_srtp **out)
{
    size_t kl, sl;
    if (pal_srtp_profile_sizes(keys->profile, &kl, &sl) || keys->key_len != kl ||
        keys->salt_len != sl)
        return -EINVAL;
    pthread_once(&init_once, srtp_init_once);
    if (init_status)
        return init_status;
    struct pal_srtp *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->profile = keys->profile;
    int rc = make_session(&s->out, keys->profile, keys->local_key, kl, keys->local_salt, sl,
                          ssrc_any_outbound);
    if (rc == 0)
        rc = make_session(&s->in, keys->profile, keys->remote_key, kl, keys->remote_salt, sl,
                          ssrc_any_inbound);
    if (rc == 0 && engine == PAL_SRTP_ENGINE_DEFAULT)
        rc = pal_srtp_evp_create(keys->profile, keys->local_key, kl, keys->local_salt, sl, false,
                                 &s->evp_out);
    if (rc == 0 && engine == PAL_SRTP_ENGINE_DEFAULT)
        rc = pal_srtp_evp_create(keys->profile, keys->remote_key, kl, keys->remote_salt, sl, true,
                                 &s->evp_in);
    if (rc) {
        pal_srtp_destroy(s);
        return rc;
    }
    *out = s;
    return 0;
}

void pal_srtp_destroy(struct pal_srtp *s)
{
    if (!s)
        return;
    if (s->out)
        srtp_dealloc(s->out);
    if (s->in)
        srtp_dealloc(s->in);
    pal_srtp_evp_destroy(s->evp_out);
    pal_srtp_evp_destroy(s->evp_in);
    free(s);
}

enum pal_srtp_profile pal_srtp_profile(const struct pal_srtp *s)
{
    return s->profile;
}

static int map_status(srtp_err_status_t st)
{
    switch (st) {
    case srtp_err_status_ok:
        return 0;
    case srtp_err_status_auth_fail:
        return -EBADMSG;
    case srtp_err_status_replay_fail:
    case srtp_err_status_replay_old:
        return -EALREADY;
    case srtp_err_status_bad_param:
    case srtp_err_status_parse_err:
        return -EINVAL;
    case srtp_err_status_alloc_fail:
        return -ENOMEM;
    default:
        return -EIO;
    }
}

int pal_srtp_protect(struct pal_srtp *s, uint8_t *buf, size_t len, size_t cap, size_t *out_len)
{
    if (len < 12)
        return -EINVAL;
    if (cap < len + PAL_SRTP_MAX_TRAILER)
        return -ENOSPC;
    if (s->evp_out)
        return pal_srtp_evp_protect(s->evp_out, buf, len, cap, out_len);
    int n = (int)len;
    int rc = map_status(srtp_protect(s->out, buf, &n));
    if (rc == 0)
        *out_len = (size_t)n;
    return rc;
}

int pal_srtp_protect_into(struct pal_srtp *s, const uint8_t *in, size_t len, uint8_t *out,
                          size_t cap, size_t *out_len)
{
    if (len < 12)
        return -EINVAL;
    if (cap < len + PAL_SRTP_MAX_TRAILER)
        return -ENOSPC;
    if (s->evp_out)
        return pal_srtp_evp_protect_into(s->evp_out, in, len, out, cap, out_len);
    if (out != in) /* libsrtp works in place only */
        memmove(out, in, len);
    return pal_srtp_protect(s, out, len, cap, out_len);
}

int pal_srtp_protect_parts(struct pal_srtp *s, const uint8_t *hdr, size_t hdr_len,
                           const uint8_t *body, size_t body_len, uint8_t *out, size_t cap,
                           size_t *out_len)
{
    size_t len = hdr_len + body_len;
    if (hdr_len < 12)
        return -EINVAL;
    if (cap < len + PAL_SRTP_MAX_TRAILER)
        return -ENOSPC;
    if (s->evp_out)
        return pal_srtp_evp_protect_parts(s->evp_out, hdr, hdr_len, body, body_len, out, cap,
                                          out_len);
    if (out != hdr) /* libsrtp works in place only: gather first */
        memmove(out, hdr, hdr_len);
    memcpy(out + hdr_len, body, body_len);
    return pal_srtp_protect(s, out, len, cap, out_len);
}

int pal_srtp_unprotect(struct pal_srtp *s, uint8_t *buf, size_t len, size_t *out_len)
{
    if (len < 12 || len > 0xFFFF)
        return -EINVAL;
    if (s->evp_in)
        return pal_srtp_evp_unprotect(s->evp_in, buf, len, out_len);
    int n = (int)len;
    int rc = map_status(srtp_unprotect(s->in, buf, &n));
    if (rc == 0)
        *out_len = (size_t)n;
    return rc;
}

int pal_srtp_protect_rtcp(struct pal_srtp *s, uint8_t *buf, size_t len, size_t cap,
                          size_t *out_len)
{
    if (len < 8)
        return -EINVAL;
    if (cap < len + PAL_SRTP_MAX_TRAILER)
        return -ENOSPC;
    int n = (int)len;
    int rc = map_status(srtp_protect_rtcp(s->out, buf, &n));
    if (rc == 0)
        *out_len = (size_t)n;
    return rc;
}

int pal_srtp_unprotect_rtcp(struct pal_srtp *s, uint8_t *buf, size_t len, size_t *out_len)
{
    if (len < 8 || len > 0xFFFF)
        return -EINVAL;
    int n = (int)len;
    int rc = map_status(srtp_unprotect_rtcp(s->in, buf, &n));
    if (rc == 0)
        *out_len = (size_t)n;
    return rc;
}

static int find_nss(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    if (info->dlpi_name && strstr(info->dlpi_name, "libnss3"))
        *(int *)data = 1;
    return 0;
}

static char backend_text[64];
static pthread_once_t backend_once = PTHREAD_ONCE_INIT;

static void backend_probe(void)
{
    /* libsrtp2 does not report its crypto backend; Debian's links NSS, a
     * build with --enable-openssl does not pull libnss3 in. */
    int nss = 0;
    dl_iterate_phdr(find_nss, &nss);
    snprintf(backend_text, sizeof(backend_text), "%s (%s)", srtp_get_version_string(),
             nss ? "nss" : "openssl or builtin");
}

const char *pal_srtp_backend(void)
{
    pthread_once(&backend_once, backend_probe);
    return backend_text;
}
