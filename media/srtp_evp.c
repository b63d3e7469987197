/* SRTP for RTP over OpenSSL and libgcrypt (see srtp_evp.h for why it exists). */
/* HMAC-SHA1 runs on the low-level SHA1 API (deprecated in OpenSSL 3 but
 * kept): the precomputed inner/outer states are plain structs copied per
 * packet, where EVP_MAC_init allocates twice per packet.
 * AES-GCM runs on libgcrypt: OpenSSL 3.0's provider layer turns the
 * per-packet IV length query and the tag get/set into OSSL_PARAM lookups
 * (strcmp over each parameter name), 0.4 us per packet whatever its size.
 * One protect, measured on this machine (AES-NI, PCLMUL): 100 bytes 0.60 us
 * with OpenSSL, 0.18 with Nettle, 0.25 with libgcrypt; 1,200 bytes 0.96,
 * 0.93 and 0.66 (Nettle's GHASH takes one block at a time; libgcrypt's
 * takes eight). Video packets dominate, so libgcrypt. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "srtp_evp.h"

#include "palabre/wire.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <gcrypt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Rollover counter state of one outgoing SSRC (RFC 3711 3.3.1). */
#define WINDOW 1024 /* replay window (inbound), in packets */

struct roc_entry {
    uint32_t ssrc;
    uint32_t roc;
    uint16_t s_l; /* highest sequence number sent / received */
    bool used;
    /* inbound: WINDOW bits, bit k = index (highest - k) arrived; allocated
     * with the stream's first authentic packet (apart from the table, an
     * outbound entry is 24 bytes, not 152: a subscriber's table stays in cache) */
    uint64_t *seen;
};

struct pal_srtp_evp {
    /* owned */
    EVP_CIPHER_CTX *cipher; /* AES-CTR (CM only), keyed once */
    gcry_cipher_hd_t aead;  /* AES-GCM (GCM only), keyed once */
    /* HMAC-SHA1 (CM only): SHA1 states after absorbing key^ipad / key^opad */
    SHA_CTX hmac_inner, hmac_outer;
    struct roc_entry *rocs;
    /* state */
    enum pal_srtp_profile profile;
    bool gcm;
    bool inbound;
    size_t tag_len;
    uint8_t salt[14]; /* session salt: 14 bytes (CM) or 12 (GCM) */
    unsigned roc_mask; /* table size - 1 (power of two) */
    unsigned roc_count;
};

/* RFC 3711 4.3.1 key derivation with the AES-CM PRF, key_derivation_rate 0:
 * x = (label || 0^48) XOR master_salt, keystream of AES-CTR(master key, x || 0^16). */
static int kdf(const EVP_CIPHER *ctr, const uint8_t *mkey, const uint8_t salt[14], uint8_t label,
               uint8_t *out, size_t n)
{
    uint8_t iv[16] = {0};
    memcpy(iv, salt, 14);
    iv[7] ^= label;
    uint8_t zero[64] = {0};
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int outl = 0, ok = c && n <= sizeof(zero) && EVP_EncryptInit_ex(c, ctr, NULL, mkey, iv) &&
                       EVP_EncryptUpdate(c, out, &outl, zero, (int)n) && (size_t)outl == n;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -EIO;
}

/* Checks sizes and allocates an unkeyed context for profile p. */
static int alloc_for(enum pal_srtp_profile p, size_t key_len, bool inbound,
                     struct pal_srtp_evp **out, const EVP_CIPHER **ctr)
{
    bool gcm = p == PAL_SRTP_AEAD_AES_128_GCM || p == PAL_SRTP_AEAD_AES_256_GCM;
    if (p == PAL_SRTP_AES128_CM_SHA1_80 || p == PAL_SRTP_AES128_CM_SHA1_32) {
        if (key_len != 16)
            return -EINVAL;
        *ctr = EVP_aes_128_ctr();
    } else if (gcm) {
        if (key_len != (p == PAL_SRTP_AEAD_AES_128_GCM ? 16u : 32u))
            return -EINVAL;
        *ctr = key_len == 16 ? EVP_aes_128_ctr() : EVP_aes_256_ctr(); /* the KDF's */
    } else {
        return -EINVAL;
    }
    struct pal_srtp_evp *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->profile = p;
    e->gcm = gcm;
    e->inbound = inbound;
    e->tag_len = gcm ? 16 : (p == PAL_SRTP_AES128_CM_SHA1_80 ? 10 : 4);
    e->roc_mask = 15;
    e->rocs = calloc(e->roc_mask + 1, sizeof(*e->rocs));
    if (!gcm)
        e->cipher = EVP_CIPHER_CTX_new();
    if (!e->rocs || (!gcm && !e->cipher)) {
        pal_srtp_evp_destroy(e);
        return -ENOMEM;
    }
    *out = e;
    return 0;
}

/* libgcrypt must be initialised once per process before use (we are its
 * only user here; no secure memory: the keys live in ordinary memory like
 * OpenSSL's). */
static void gcrypt_init(void)
{
    gcry_check_version(NULL);
    gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
    gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
}

/* Keys the cipher context with the session key and, for CM, precomputes
 * the HMAC-SHA1 inner and outer states from the 20-byte session auth key. */
static int session_init(struct pal_srtp_evp *e, const uint8_t *skey, const uint8_t *sauth)
{
    if (e->gcm) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, gcrypt_init);
        int algo = e->profile == PAL_SRTP_AEAD_AES_256_GCM ? GCRY_CIPHER_AES256 : GCRY_CIPHER_AES128;
        size_t klen = algo == GCRY_CIPHER_AES256 ? 32 : 16;
        if (gcry_cipher_open(&e->aead, algo, GCRY_CIPHER_MODE_GCM, 0) ||
            gcry_cipher_setkey(e->aead, skey, klen))
            return -EIO;
        return 0;
    }
    /* CTR decrypts with the encrypt operation */
    if (!EVP_CipherInit_ex(e->cipher, EVP_aes_128_ctr(), NULL, skey, NULL, 1))
        return -EIO;
    /* RFC 2104 with a 20-byte key: pad to the 64-byte block */
    uint8_t ipad[64], opad[64];
    memset(ipad, 0x36, sizeof(ipad));
    memset(opad, 0x5c, sizeof(opad));
    for (size_t i = 0; i < 20; i++) {
        ipad[i] ^= sauth[i];
        opad[i] ^= sauth[i];
    }
    int ok = SHA1_Init(&e->hmac_inner) && SHA1_Update(&e->hmac_inner, ipad, 64) &&
             SHA1_Init(&e->hmac_outer) && SHA1_Update(&e->hmac_outer, opad, 64);
    OPENSSL_cleanse(ipad, sizeof(ipad));
    OPENSSL_cleanse(opad, sizeof(opad));
    return ok ? 0 : -EIO;
}

int pal_srtp_evp_create(enum pal_srtp_profile p, const uint8_t *key, size_t key_len,
                        const uint8_t *salt, size_t salt_len, bool inbound,
                        struct pal_srtp_evp **out)
{
    const EVP_CIPHER *ctr;
    struct pal_srtp_evp *e;
    bool gcm = p == PAL_SRTP_AEAD_AES_128_GCM || p == PAL_SRTP_AEAD_AES_256_GCM;
    if (salt_len != (gcm ? 12u : 14u))
        return -EINVAL;
    int rc = alloc_for(p, key_len, inbound, &e, &ctr);
    if (rc)
        return rc;
    /* libsrtp pads a 12-byte GCM master salt with zeros to 14 for the KDF. */
    uint8_t msalt[14] = {0};
    memcpy(msalt, salt, salt_len);
    uint8_t skey[32], sauth[20];
    rc = kdf(ctr, key, msalt, 0x00, skey, key_len);
    if (rc == 0)
        rc = kdf(ctr, key, msalt, 0x02, e->salt, salt_len);
    if (rc == 0 && !gcm)
        rc = kdf(ctr, key, msalt, 0x01, sauth, sizeof(sauth));
    if (rc == 0)
        rc = session_init(e, skey, sauth);
    OPENSSL_cleanse(skey, sizeof(skey));
    OPENSSL_cleanse(sauth, sizeof(sauth));
    if (rc) {
        pal_srtp_evp_destroy(e);
        return rc;
    }
    *out = e;
    return 0;
}

int pal_srtp_evp_create_session(enum pal_srtp_profile p, const uint8_t *skey, size_t key_len,
                                const uint8_t *ssalt, const uint8_t *sauth, bool inbound,
                                struct pal_srtp_evp **out)
{
    const EVP_CIPHER *ctr;
    struct pal_srtp_evp *e;
    int rc = alloc_for(p, key_len, inbound, &e, &ctr);
    if (rc)
        return rc;
    memcpy(e->salt, ssalt, e->gcm ? 12 : 14);
    rc = session_init(e, skey, sauth);
    if (rc) {
        pal_srtp_evp_destroy(e);
        return rc;
    }
    *out = e;
    return 0;
}

void pal_srtp_evp_destroy(struct pal_srtp_evp *e)
{
    if (!e)
        return;
    EVP_CIPHER_CTX_free(e->cipher);
    gcry_cipher_close(e->aead); /* wipes the key schedule */
    OPENSSL_cleanse(&e->hmac_inner, sizeof(e->hmac_inner));
    OPENSSL_cleanse(&e->hmac_outer, sizeof(e->hmac_outer));
    for (unsigned i = 0; e->rocs && i <= e->roc_mask; i++)
        free(e->rocs[i].seen);
    free(e->rocs);
    free(e);
}

static struct roc_entry *roc_slot(struct pal_srtp_evp *e, uint32_t ssrc)
{
    unsigned h = (ssrc * 2654435761u) & e->roc_mask;
    while (e->rocs[h].used && e->rocs[h].ssrc != ssrc)
        h = (h + 1) & e->roc_mask;
    return &e->rocs[h];
}

/* Finds or adds the SSRC (the table doubles at half load: allocation only
 * when a new SSRC appears, at most MAX_SSRCS of them: an authenticated peer
 * sending ever new SSRCs cannot grow it without bound; a forged packet does
 * not keep its entry). Returns 0, -ENOSPC or -ENOMEM. */
#define MAX_SSRCS 1024

static int roc_get(struct pal_srtp_evp *e, uint32_t ssrc, bool *fresh, struct roc_entry **out)
{
    struct roc_entry *r = roc_slot(e, ssrc);
    *fresh = !r->used;
    *out = r;
    if (r->used)
        return 0;
    if (e->roc_count >= MAX_SSRCS)
        return -ENOSPC;
    if (2 * (e->roc_count + 1) > e->roc_mask + 1) {
        unsigned old_n = e->roc_mask + 1;
        struct roc_entry *old = e->rocs;
        struct roc_entry *nt = calloc(2 * old_n, sizeof(*nt));
        if (!nt)
            return -ENOMEM;
        e->rocs = nt;
        e->roc_mask = 2 * old_n - 1;
        for (unsigned i = 0; i < old_n; i++)
            if (old[i].used)
                *roc_slot(e, old[i].ssrc) = old[i];
        free(old);
        r = roc_slot(e, ssrc);
    }
    r->used = true;
    r->ssrc = ssrc;
    e->roc_count++;
    *out = r;
    return 0;
}

/* RFC 3711 3.3.1 / Appendix A: the ROC a packet with seq most likely has. */
static uint32_t roc_guess(const struct roc_entry *r, uint16_t seq)
{
    uint32_t v = r->roc;
    if (r->s_l < 32768) {
        if (seq - r->s_l > 32768 && r->roc > 0)
            v = r->roc - 1;
    } else if (r->s_l - 32768 > seq) {
        v = r->roc + 1;
    }
    return v;
}

/* Sender side: the ROC of seq, and the state update. */
static uint32_t roc_for(struct roc_entry *r, uint16_t seq, bool fresh)
{
    if (fresh) {
        r->roc = 0;
        r->s_l = seq;
        return 0;
    }
    uint32_t v = roc_guess(r, seq);
    uint64_t idx = (uint64_t)v << 16 | seq, cur = (uint64_t)r->roc << 16 | r->s_l;
    if (idx > cur) {
        r->roc = v;
        r->s_l = seq;
    }
    return v;
}

/* Length of the RTP header (CSRCs and extension included), or 0 if bad. */
static size_t header_len(const uint8_t *buf, size_t len)
{
    if (len < 12 || (buf[0] >> 6) != 2 || len > 0xFFFF)
        return 0;
    size_t hdr = 12 + 4u * (buf[0] & 0x0F);
    if (hdr > len)
        return 0;
    if (buf[0] & 0x10) {
        if (hdr + 4 > len)
            return 0;
        hdr += 4 + 4u * pal_rd16(buf + hdr + 2);
        if (hdr > len)
            return 0;
    }
    return hdr;
}

/* The per-packet IV: the session salt XOR (SSRC || ROC || SEQ) placed at
 * RFC 7714 8.1 (GCM, 12 bytes: 00 00 || SSRC || ROC || SEQ) or
 * RFC 3711 4.1.1 (CM, 16 bytes: (SSRC * 2^64) XOR (index * 2^16)). */
static void make_iv(const struct pal_srtp_evp *e, uint32_t ssrc, uint32_t roc, uint16_t seq,
                    uint8_t iv[16])
{
    uint8_t *x = iv + (e->gcm ? 2 : 4);
    memcpy(iv, e->salt, e->gcm ? 12 : 14);
    iv[14] = iv[15] = 0;
    x[0] ^= (uint8_t)(ssrc >> 24), x[1] ^= (uint8_t)(ssrc >> 16);
    x[2] ^= (uint8_t)(ssrc >> 8), x[3] ^= (uint8_t)ssrc;
    x[4] ^= (uint8_t)(roc >> 24), x[5] ^= (uint8_t)(roc >> 16);
    x[6] ^= (uint8_t)(roc >> 8), x[7] ^= (uint8_t)roc;
    x[8] ^= (uint8_t)(seq >> 8), x[9] ^= (uint8_t)seq;
}

/* CM: sets the IV and applies the AES-CTR keystream to the payload, from
 * in to out (the same buffer or not; CTR is the same both ways). */
static int crypt_payload(struct pal_srtp_evp *e, const uint8_t *in, uint8_t *out, int plen,
                         uint32_t ssrc, uint32_t roc, uint16_t seq)
{
    uint8_t iv[16];
    int outl;
    make_iv(e, ssrc, roc, seq, iv);
    return EVP_CipherInit_ex(e->cipher, NULL, NULL, NULL, iv, -1) &&
                   (plen == 0 || EVP_CipherUpdate(e->cipher, out, &outl, in, plen))
               ? 0
               : -EIO;
}

/* GCM (RFC 7714): sets the IV and feeds the RTP header as AAD. */
static int gcm_begin(struct pal_srtp_evp *e, const uint8_t *in, size_t hdr, uint32_t ssrc,
                     uint32_t roc, uint16_t seq)
{
    uint8_t iv[16];
    make_iv(e, ssrc, roc, seq, iv);
    return gcry_cipher_setiv(e->aead, iv, 12) || gcry_cipher_authenticate(e->aead, in, hdr) ? -EIO
                                                                                          : 0;
}

/* RFC 3711 4.2: HMAC-SHA1(auth key, authenticated portion || ROC) */
static int cm_tag(struct pal_srtp_evp *e, const uint8_t *buf, size_t len, uint32_t roc,
                  uint8_t tag[20])
{
    uint8_t roc_be[4], inner[SHA_DIGEST_LENGTH];
    pal_wr32(roc_be, roc);
    SHA_CTX c = e->hmac_inner;
    int ok = SHA1_Update(&c, buf, len) && SHA1_Update(&c, roc_be, 4) && SHA1_Final(inner, &c);
    c = e->hmac_outer;
    ok = ok && SHA1_Update(&c, inner, sizeof(inner)) && SHA1_Final(tag, &c);
    OPENSSL_cleanse(&c, sizeof(c));
    return ok ? 0 : -EIO;
}

int pal_srtp_evp_protect(struct pal_srtp_evp *e, uint8_t *buf, size_t len, size_t cap,
                         size_t *out_len)
{
    return pal_srtp_evp_protect_into(e, buf, len, buf, cap, out_len);
}

int pal_srtp_evp_protect_into(struct pal_srtp_evp *e, const uint8_t *in, size_t len, uint8_t *buf,
                              size_t cap, size_t *out_len)
{
    size_t hdr = header_len(in, len);
    if (!hdr)
        return -EINVAL;
    return pal_srtp_evp_protect_parts(e, in, hdr, in + hdr, len - hdr, buf, cap, out_len);
}

int pal_srtp_evp_protect_parts(struct pal_srtp_evp *e, const uint8_t *in, size_t hdr,
                               const uint8_t *body, size_t body_len, uint8_t *buf, size_t cap,
                               size_t *out_len)
{
    size_t len = hdr + body_len;
    if (header_len(in, hdr) != hdr || e->inbound || len > 0xFFFF)
        return -EINVAL;
    if (cap < len + PAL_SRTP_MAX_TRAILER)
        return -ENOSPC;
    uint16_t seq = pal_rd16(in + 2);
    uint32_t ssrc = pal_rd32(in + 8);
    bool fresh;
    struct roc_entry *r;
    int err = roc_get(e, ssrc, &fresh, &r);
    if (err)
        return err;
    uint32_t roc = roc_for(r, seq, fresh);
    int plen = (int)body_len;
    if (buf != in)
        memcpy(buf, in, hdr); /* the header travels in clear; the payload is copied by the cipher */
    if (e->gcm) {
        if (gcm_begin(e, in, hdr, ssrc, roc, seq) ||
            gcry_cipher_encrypt(e->aead, buf + hdr, (size_t)plen, body, (size_t)plen) ||
            gcry_cipher_gettag(e->aead, buf + len, 16))
            return -EIO;
        *out_len = len + 16;
        return 0;
    }
    uint8_t tag[20];
    if (crypt_payload(e, body, buf + hdr, plen, ssrc, roc, seq) || cm_tag(e, buf, len, roc, tag))
        return -EIO;
    memcpy(buf + len, tag, e->tag_len);
    *out_len = len + e->tag_len;
    return 0;
}

/* Replay window: delta = index - highest index. */
static bool window_seen(const struct roc_entry *r, int64_t delta)
{
    if (delta > 0)
        return false;
    if (-delta >= WINDOW)
        return true; /* too old to tell: treated as a replay */
    uint64_t k = (uint64_t)-delta;
    return (r->seen[k / 64] >> (k % 64)) & 1;
}

static void window_mark(struct roc_entry *r, int64_t delta)
{
    if (delta > 0) { /* shift the window by delta */
        if (delta >= WINDOW) {
            memset(r->seen, 0, WINDOW / 8);
        } else {
            unsigned words = (unsigned)delta / 64, bits = (unsigned)delta % 64;
            for (int i = WINDOW / 64 - 1; i >= 0; i--) {
                uint64_t v = 0;
                int src = i - (int)words;
                if (src >= 0) {
                    v = r->seen[src] << bits;
                    if (bits && src > 0)
                        v |= r->seen[src - 1] >> (64 - bits);
                }
                r->seen[i] = v;
            }
        }
        delta = 0;
    }
    uint64_t k = (uint64_t)-delta;
    r->seen[k / 64] |= 1ull << (k % 64);
}

/* Authenticates then decrypts in place with the given ROC: 0, -EBADMSG or
 * -EIO. On -EBADMSG the buffer is as it came (GCM decrypts before it can
 * check the tag, so the keystream is applied once more to restore it). */
static int open_packet(struct pal_srtp_evp *e, uint8_t *buf, size_t hdr, size_t body,
                       uint32_t ssrc, uint32_t roc, uint16_t seq)
{
    int plen = (int)(body - hdr);
    if (e->gcm) {
        if (gcm_begin(e, buf, hdr, ssrc, roc, seq) ||
            gcry_cipher_decrypt(e->aead, buf + hdr, (size_t)plen, NULL, 0))
            return -EIO;
        gcry_error_t err = gcry_cipher_checktag(e->aead, buf + body, 16);
        if (!err)
            return 0;
        /* encrypting again restores the payload */
        if (gcm_begin(e, buf, hdr, ssrc, roc, seq) ||
            gcry_cipher_encrypt(e->aead, buf + hdr, (size_t)plen, NULL, 0))
            return -EIO;
        return gcry_err_code(err) == GPG_ERR_CHECKSUM ? -EBADMSG : -EIO;
    }
    uint8_t tag[20];
    if (cm_tag(e, buf, body, roc, tag))
        return -EIO;
    if (CRYPTO_memcmp(tag, buf + body, e->tag_len) != 0)
        return -EBADMSG;
    return crypt_payload(e, buf + hdr, buf + hdr, plen, ssrc, roc, seq);
}

int pal_srtp_evp_unprotect(struct pal_srtp_evp *e, uint8_t *buf, size_t len, size_t *out_len)
{
    size_t hdr = header_len(buf, len);
    if (!hdr || !e->inbound || len < hdr + e->tag_len)
        return -EINVAL;
    uint16_t seq = pal_rd16(buf + 2);
    uint32_t ssrc = pal_rd32(buf + 8);
    bool fresh;
    struct roc_entry *r;
    int err = roc_get(e, ssrc, &fresh, &r);
    if (err)
        return err;
    if (fresh) {
        r->roc = 0;
        r->s_l = seq;
    }
    uint32_t roc = roc_guess(r, seq);
    int64_t delta = (int64_t)((uint64_t)roc << 16 | seq) - (int64_t)((uint64_t)r->roc << 16 | r->s_l);
    if (!fresh && window_seen(r, delta))
        return -EALREADY;
    size_t body = len - e->tag_len;
    int rc = open_packet(e, buf, hdr, body, ssrc, roc, seq);
    if (rc == -EBADMSG && fresh) {
        /* The sender may have wrapped before its first packet reached us
         * (sequence numbers started near 65535 and the first ones were
         * lost): try ROC 1 for the first packet of a stream. */
        roc = 1;
        rc = open_packet(e, buf, hdr, body, ssrc, roc, seq);
    }
    if (rc) {
        if (fresh) { /* a forged packet must not create the stream's state */
            r->used = false;
            e->roc_count--;
        }
        return rc;
    }
    if (fresh) {
        r->seen = calloc(WINDOW / 64, sizeof(*r->seen));
        if (!r->seen) {
            r->used = false;
            e->roc_count--;
            return -ENOMEM;
        }
        r->roc = roc;
        r->s_l = seq;
        delta = 0;
    }
    window_mark(r, delta);
    if (delta > 0) {
        r->roc = roc;
        r->s_l = seq;
    }
    *out_len = body;
    return 0;
}
