/* Built-in TLS: checking and reloading the listener's certificate. The
 * files are first loaded into a scratch SSL_CTX, so a bad renewal (a
 * truncated file, a key of another certificate) is found before the live
 * context is touched; then the certificate, its chain and its key go into the
 * live context in one SSL_CTX_use_cert_and_key call. */
#include "palabre/tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

/* The most recent OpenSSL error, as text ("" when none). */
static const char *ssl_reason(char *buf, size_t n)
{
    unsigned long e, last = 0;
    while ((e = ERR_get_error()) != 0)
        last = e;
    if (!last)
        return "";
    ERR_error_string_n(last, buf, n);
    return buf;
}

static int readable(const char *key, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "[server] %s %s: cannot read: %s", key, path, strerror(e));
        return -e;
    }
    fclose(f);
    return 0;
}

/* Loads the pair into a new SSL_CTX (*out), the caller frees it. */
static int load_scratch(const char *cert, const char *key, SSL_CTX **out, char *err, size_t errlen)
{
    char why[256];
    *out = NULL;
    int rc = readable("tls_cert", cert, err, errlen);
    if (!rc)
        rc = readable("tls_key", key, err, errlen);
    if (rc)
        return rc;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(err, errlen, "TLS: cannot create an SSL_CTX: %s", ssl_reason(why, sizeof(why)));
        return -ENOMEM;
    }
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        snprintf(err, errlen, "[server] tls_cert %s: not a PEM certificate (chain): %s", cert,
                 ssl_reason(why, sizeof(why)));
        rc = -EINVAL;
    } else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        snprintf(err, errlen, "[server] tls_key %s: not a PEM private key: %s", key,
                 ssl_reason(why, sizeof(why)));
        rc = -EINVAL;
    } else if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "[server] tls_key %s is not the key of the certificate in %s: %s",
                 key, cert, ssl_reason(why, sizeof(why)));
        rc = -EINVAL;
    }
    if (rc) {
        SSL_CTX_free(ctx);
        return rc;
    }
    *out = ctx;
    return 0;
}

int pal_tls_check_files(const char *cert, const char *key, char *err, size_t errlen)
{
    SSL_CTX *ctx;
    int rc = load_scratch(cert, key, &ctx, err, errlen);
    SSL_CTX_free(ctx);
    return rc;
}

int pal_tls_reload(SSL_CTX *live, const char *cert, const char *key, char *err, size_t errlen)
{
    char why[256];
    SSL_CTX *ctx;
    int rc = load_scratch(cert, key, &ctx, err, errlen);
    if (rc)
        return rc;
    STACK_OF(X509) *chain = NULL;
    SSL_CTX_get0_chain_certs(ctx, &chain);
    ERR_clear_error();
    /* override = 1: replaces the pair; the call checks that key and
     * certificate match before it changes anything */
    if (SSL_CTX_use_cert_and_key(live, SSL_CTX_get0_certificate(ctx), SSL_CTX_get0_privatekey(ctx),
                                 chain, 1) != 1) {
        snprintf(err, errlen, "[server] tls_cert %s: cannot be installed: %s", cert,
                 ssl_reason(why, sizeof(why)));
        rc = -EINVAL;
    }
    SSL_CTX_free(ctx);
    return rc;
}
