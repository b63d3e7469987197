/* DTLS-SRTP over OpenSSL with a memory BIO for input and a callback BIO for
 * output (one BIO_write = one datagram). See palabre/dtls.h. */
#include "palabre/dtls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SRTP_PROFILES "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80"
#define CIPHERS                                                                                    \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"   \
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305"

struct pal_dtls_cert {
    /* owned */
    EVP_PKEY *key;
    X509 *x509;
    SSL_CTX *ctx;
    /* state */
    char fingerprint[PAL_DTLS_FINGERPRINT_LEN];
};

struct pal_dtls {
    /* borrowed */
    const struct pal_dtls_cert *cert;
    /* owned */
    SSL *ssl; /* owns both BIOs */
    BIO *rbio;
    /* state */
    struct pal_dtls_listener l;
    enum pal_dtls_role role;
    enum pal_dtls_state state;
    unsigned retransmits, max_retransmits;
    bool have_remote_fp;
    bool fp_verified;
    uint8_t remote_fp[32];
    char error[256]; /* room for both fingerprints of a mismatch in full */
    struct pal_srtp_keys keys;
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int ex_index = -1;
static BIO_METHOD *out_method;

static int out_write(BIO *b, const char *data, int len)
{
    struct pal_dtls *d = BIO_get_data(b);
    if (d && d->l.on_dtls_send && len > 0)
        d->l.on_dtls_send(d->l.ctx, (const uint8_t *)data, (size_t)len);
    return len;
}

static long out_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_DGRAM_QUERY_MTU:
    case BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
        return PAL_DTLS_MTU;
    case BIO_CTRL_WPENDING:
    case BIO_CTRL_PENDING:
    case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD:
        return 0;
    default:
        return 0;
    }
}

static int out_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void init_once(void)
{
    ex_index = SSL_get_ex_new_index(0, "pal_dtls", NULL, NULL, NULL);
    out_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "pal_dtls_out");
    if (out_method) {
        BIO_meth_set_write(out_method, out_write);
        BIO_meth_set_ctrl(out_method, out_ctrl);
        BIO_meth_set_create(out_method, out_create);
    }
}

/* ---- fingerprints */

static void format_fp(const uint8_t md[32], char out[PAL_DTLS_FINGERPRINT_LEN])
{
    static const char hex[] = "0123456789ABCDEF";
    for (int i = 0; i < 32; i++) {
        out[3 * i] = hex[md[i] >> 4];
        out[3 * i + 1] = hex[md[i] & 15];
        out[3 * i + 2] = i == 31 ? '\0' : ':';
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parses "AB:CD:..." (32 bytes, case-insensitive) into md. */
static int parse_fp(const char *s, uint8_t md[32])
{
    if (strlen(s) != 95)
        return -EINVAL;
    for (int i = 0; i < 32; i++) {
        int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);
        if (hi < 0 || lo < 0 || (i < 31 && s[3 * i + 2] != ':'))
            return -EINVAL;
        md[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* ---- certificate */

static int make_cert(struct pal_dtls_cert *c)
{
    c->key = EVP_EC_gen("P-256");
    if (!c->key)
        return -EIO;
    c->x509 = X509_new();
    if (!c->x509)
        return -ENOMEM;
    X509 *x = c->x509;
    uint8_t serial[8];
    if (RAND_bytes(serial, sizeof(serial)) != 1)
        return -EIO;
    serial[0] &= 0x7F;
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    int ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    X509_NAME *name = X509_get_subject_name(x);
    ok = ok && X509_set_version(x, 2) &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"palabre", -1,
                                    -1, 0) &&
         X509_set_issuer_name(x, name) && X509_gmtime_adj(X509_getm_notBefore(x), -86400) &&
         X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400) && X509_set_pubkey(x, c->key) &&
         X509_sign(x, c->key, EVP_sha256()) > 0;
    if (!ok)
        return -EIO;
    uint8_t md[32];
    unsigned mdlen = 0;
    if (!X509_digest(x, EVP_sha256(), md, &mdlen) || mdlen != 32)
        return -EIO;
    format_fp(md, c->fingerprint);
    return 0;
}

static int verify_peer(int preverify_ok, X509_STORE_CTX *store)
{
    (void)preverify_ok; /* self-signed by design: the SDP fingerprint is the trust anchor */
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct pal_dtls *d = ssl ? SSL_get_ex_data(ssl, ex_index) : NULL;
    if (!d)
        return 0;
    if (X509_STORE_CTX_get_error_depth(store) != 0)
        return 1; /* only the leaf matters */
    X509 *peer = X509_STORE_CTX_get_current_cert(store);
    uint8_t md[32];
    unsigned mdlen = 0;
    if (!d->have_remote_fp) {
        snprintf(d->error, sizeof(d->error), "no remote DTLS fingerprint was given (SDP)");
        return 0;
    }
    if (!peer || !X509_digest(peer, EVP_sha256(), md, &mdlen) || mdlen != 32) {
        snprintf(d->error, sizeof(d->error), "peer certificate cannot be hashed");
        return 0;
    }
    if (CRYPTO_memcmp(md, d->remote_fp, 32) != 0) {
        char got[PAL_DTLS_FINGERPRINT_LEN], want[PAL_DTLS_FINGERPRINT_LEN];
        format_fp(md, got);
        format_fp(d->remote_fp, want);
        /* Both in full: the operator compares them with the browser's SDP. */
        snprintf(d->error, sizeof(d->error),
                 "DTLS fingerprint mismatch: certificate sha-256 %s, SDP sha-256 %s", got, want);
        return 0;
    }
    d->fp_verified = true;
    return 1;
}

int pal_dtls_cert_create(struct pal_dtls_cert **out)
{
    pthread_once(&once, init_once);
    if (ex_index < 0 || !out_method)
        return -ENOMEM;
    struct pal_dtls_cert *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    int rc = make_cert(c);
    if (rc == 0) {
        c->ctx = SSL_CTX_new(DTLS_method());
        if (!c->ctx) {
            rc = -ENOMEM;
        } else if (!SSL_CTX_set_min_proto_version(c->ctx, DTLS1_2_VERSION) ||
                   SSL_CTX_use_certificate(c->ctx, c->x509) != 1 ||
                   SSL_CTX_use_PrivateKey(c->ctx, c->key) != 1 ||
                   SSL_CTX_set_cipher_list(c->ctx, CIPHERS) != 1 ||
                   SSL_CTX_set_tlsext_use_srtp(c->ctx, SRTP_PROFILES) != 0) {
            rc = -EIO;
        } else {
            SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                               verify_peer);
            SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_OFF);
            SSL_CTX_set_options(c->ctx, SSL_OP_NO_TICKET | SSL_OP_NO_QUERY_MTU |
                                            SSL_OP_NO_RENEGOTIATION);
        }
    }
    if (rc) {
        ERR_clear_error();
        pal_dtls_cert_destroy(c);
        return rc;
    }
    *out = c;
    return 0;
}

void pal_dtls_cert_destroy(struct pal_dtls_cert *c)
{
    if (!c)
        return;
    SSL_CTX_free(c->ctx);
    X509_free(c->x509);
    EVP_PKEY_free(c->key);
    free(c);
}

const char *pal_dtls_cert_fingerprint(const struct pal_dtls_cert *c)
{
    return c->fingerprint;
}

/* ---- session */

int pal_dtls_set_remote_fingerprint(struct pal_dtls *d, const char *fingerprint)
{
    uint8_t md[32];
    if (!fingerprint || parse_fp(fingerprint, md))
        return -EINVAL;
    memcpy(d->remote_fp, md, 32);
    d->have_remote_fp = true;
    return 0;
}

/* Retransmission timer: 400 ms first (OpenSSL's default is 1 s), doubling,
 * capped at 6.4 s; OpenSSL gives up after 12 expiries. */
static unsigned int timer_cb(SSL *ssl, unsigned int timer_us)
{
    (void)ssl;
    if (timer_us == 0)
        return 400000;
    return timer_us >= 3200000 ? 6400000 : 2 * timer_us;
}

int pal_dtls_create(const struct pal_dtls_cert *cert, enum pal_dtls_role role,
                    const char *remote_fingerprint, const struct pal_dtls_listener *l,
                    struct pal_dtls **out)
{
    if (!cert || !l || (role != PAL_DTLS_CLIENT && role != PAL_DTLS_SERVER))
        return -EINVAL;
    struct pal_dtls *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->cert = cert;
    d->l = *l;
    d->role = role;
    d->state = PAL_DTLS_NEW;
    d->max_retransmits = PAL_DTLS_MAX_RETRANSMITS;
    if (remote_fingerprint && pal_dtls_set_remote_fingerprint(d, remote_fingerprint)) {
        free(d);
        return -EINVAL;
    }
    d->ssl = SSL_new(cert->ctx);
    d->rbio = BIO_new(BIO_s_mem());
    BIO *wbio = BIO_new(out_method);
    if (!d->ssl || !d->rbio || !wbio) {
        SSL_free(d->ssl);
        BIO_free(d->rbio);
        BIO_free(wbio);
        free(d);
        ERR_clear_error();
        return -ENOMEM;
    }
    BIO_set_mem_eof_return(d->rbio, -1);
    BIO_set_data(wbio, d);
    SSL_set_bio(d->ssl, d->rbio, wbio);
    SSL_set_ex_data(d->ssl, ex_index, d);
    SSL_set_mtu(d->ssl, PAL_DTLS_MTU);
    DTLS_set_link_mtu(d->ssl, PAL_DTLS_MTU);
    DTLS_set_timer_cb(d->ssl, timer_cb);
    if (role == PAL_DTLS_CLIENT)
        SSL_set_connect_state(d->ssl);
    else
        SSL_set_accept_state(d->ssl);
    *out = d;
    return 0;
}

void pal_dtls_destroy(struct pal_dtls *d)
{
    if (!d)
        return;
    SSL_free(d->ssl);
    OPENSSL_cleanse(&d->keys, sizeof(d->keys));
    free(d);
}

static void fail(struct pal_dtls *d, const char *fallback)
{
    if (!d->error[0]) {
        unsigned long e = ERR_peek_error();
        if (e) {
            char buf[120];
            ERR_error_string_n(e, buf, sizeof(buf));
            snprintf(d->error, sizeof(d->error), "%s: %s", fallback, buf);
        } else {
            snprintf(d->error, sizeof(d->error), "%s", fallback);
        }
    }
    ERR_clear_error();
    d->state = PAL_DTLS_FAILED;
    if (d->l.on_dtls_failed)
        d->l.on_dtls_failed(d->l.ctx, d->error);
}

static int export_keys(struct pal_dtls *d)
{
    SRTP_PROTECTION_PROFILE *p = SSL_get_selected_srtp_profile(d->ssl);
    if (!p) {
        snprintf(d->error, sizeof(d->error), "no SRTP profile was negotiated (use_srtp)");
        return -EPROTO;
    }
    struct pal_srtp_keys *k = &d->keys;
    k->profile = (enum pal_srtp_profile)p->id;
    size_t kl, sl;
    if (pal_srtp_profile_sizes(k->profile, &kl, &sl)) {
        snprintf(d->error, sizeof(d->error), "unsupported SRTP profile %s", p->name);
        return -EPROTO;
    }
    /* RFC 5764 4.2: client key | server key | client salt | server salt */
    uint8_t m[2 * (PAL_SRTP_MAX_KEY + PAL_SRTP_MAX_SALT)];
    size_t total = 2 * (kl + sl);
    static const char label[] = "EXTRACTOR-dtls_srtp";
    if (SSL_export_keying_material(d->ssl, m, total, label, sizeof(label) - 1, NULL, 0, 0) != 1) {
        snprintf(d->error, sizeof(d->error), "SRTP keying material export failed");
        return -EIO;
    }
    const uint8_t *ck = m, *sk = m + kl, *cs = m + 2 * kl, *ss = m + 2 * kl + sl;
    bool client = d->role == PAL_DTLS_CLIENT;
    k->key_len = (uint8_t)kl;
    k->salt_len = (uint8_t)sl;
    memcpy(k->local_key, client ? ck : sk, kl);
    memcpy(k->remote_key, client ? sk : ck, kl);
    memcpy(k->local_salt, client ? cs : ss, sl);
    memcpy(k->remote_salt, client ? ss : cs, sl);
    OPENSSL_cleanse(m, sizeof(m));
    return 0;
}

static int drive_handshake(struct pal_dtls *d)
{
    int r = SSL_do_handshake(d->ssl);
    if (r == 1) {
        X509 *peer = SSL_get0_peer_certificate(d->ssl);
        if (!peer || !d->fp_verified) {
            if (!d->error[0])
                snprintf(d->error, sizeof(d->error), "peer certificate was not verified");
            fail(d, "DTLS handshake");
            return -EIO;
        }
        if (export_keys(d)) {
            fail(d, "DTLS-SRTP");
            return -EIO;
        }
        d->state = PAL_DTLS_CONNECTED;
        if (d->l.on_dtls_connected)
            d->l.on_dtls_connected(d->l.ctx, &d->keys);
        return 0;
    }
    int e = SSL_get_error(d->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    fail(d, "DTLS handshake failed");
    return -EIO;
}

int pal_dtls_start(struct pal_dtls *d)
{
    if (d->state != PAL_DTLS_NEW)
        return d->state == PAL_DTLS_FAILED ? -EIO : 0;
    d->state = PAL_DTLS_CONNECTING;
    if (d->role == PAL_DTLS_SERVER)
        return 0;
    return drive_handshake(d);
}

int pal_dtls_feed(struct pal_dtls *d, const uint8_t *data, size_t len)
{
    if (d->state == PAL_DTLS_FAILED)
        return -EIO;
    if (d->state == PAL_DTLS_CLOSED || len == 0 || len > 0xFFFF)
        return 0;
    if (d->state == PAL_DTLS_NEW)
        d->state = PAL_DTLS_CONNECTING;
    /* Drop what is left of an earlier datagram: one feed, one datagram. */
    (void)BIO_reset(d->rbio);
    if (BIO_write(d->rbio, data, (int)len) != (int)len)
        return 0;
    if (d->state == PAL_DTLS_CONNECTING)
        return drive_handshake(d);
    /* Connected: process alerts; application data is not used yet. */
    uint8_t sink[2048];
    for (;;) {
        int r = SSL_read(d->ssl, sink, sizeof(sink));
        if (r > 0)
            continue;
        int e = SSL_get_error(d->ssl, r);
        if (e == SSL_ERROR_ZERO_RETURN) {
            d->state = PAL_DTLS_CLOSED;
            if (d->l.on_dtls_closed)
                d->l.on_dtls_closed(d->l.ctx);
        }
        ERR_clear_error();
        return 0;
    }
}

int64_t pal_dtls_timeout_ms(struct pal_dtls *d)
{
    if (d->state != PAL_DTLS_CONNECTING)
        return -1;
    struct timeval tv;
    if (DTLSv1_get_timeout(d->ssl, &tv) != 1)
        return -1;
    return (int64_t)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
}

int pal_dtls_handle_timeout(struct pal_dtls *d)
{
    if (d->state != PAL_DTLS_CONNECTING)
        return d->state == PAL_DTLS_FAILED ? -EIO : 0;
    struct timeval tv;
    bool expired = DTLSv1_get_timeout(d->ssl, &tv) == 1 && tv.tv_sec == 0 && tv.tv_usec == 0;
    int r = 0;
    if (expired && d->retransmits >= d->max_retransmits)
        r = -1; /* give up rather than send the flight once more */
    else if ((r = DTLSv1_handle_timeout(d->ssl)) > 0)
        d->retransmits++;
    if (r < 0) {
        snprintf(d->error, sizeof(d->error),
                 "DTLS handshake timed out (no answer after %u retransmissions)", d->retransmits);
        fail(d, "DTLS handshake timed out");
        return -EIO;
    }
    return 0;
}

void pal_dtls_set_max_retransmits(struct pal_dtls *d, unsigned n)
{
    d->max_retransmits = n;
}

void pal_dtls_close(struct pal_dtls *d)
{
    if (d->state == PAL_DTLS_CONNECTED) {
        SSL_shutdown(d->ssl);
        ERR_clear_error();
    }
    if (d->state != PAL_DTLS_FAILED)
        d->state = PAL_DTLS_CLOSED;
}

enum pal_dtls_state pal_dtls_state(const struct pal_dtls *d)
{
    return d->state;
}

const char *pal_dtls_error(const struct pal_dtls *d)
{
    return d->error;
}

int pal_dtls_srtp_keys(const struct pal_dtls *d, struct pal_srtp_keys *out)
{
    if (d->state != PAL_DTLS_CONNECTED && d->state != PAL_DTLS_CLOSED)
        return -EAGAIN;
    *out = d->keys;
    return 0;
}
