/* Built-in TLS ([server] tls_cert / tls_key): the certificate of the HTTPS/WSS
 * listener, checked before the listener starts and reloaded on SIGHUP.
 *
 * Thread: the signaling thread (the SSL_CTX is the listening vhost's; OpenSSL
 * copies the certificate into each new connection, so a reload changes what
 * new handshakes present and nothing of the sessions already open). */
#ifndef PALABRE_TLS_H
#define PALABRE_TLS_H

#include <stddef.h>

typedef struct ssl_ctx_st SSL_CTX;

/* Whether cert (a PEM certificate, optionally followed by its chain) and key
 * (its PEM private key) can be read, parse and match. 0, or -errno / -EINVAL
 * with "[server] tls_cert FILE: reason" in err. */
int pal_tls_check_files(const char *cert, const char *key, char *err, size_t errlen);

/* Replaces ctx's certificate, chain and key with those of the files, all at
 * once: on any failure (err says why) ctx keeps the ones it had. */
int pal_tls_reload(SSL_CTX *ctx, const char *cert, const char *key, char *err, size_t errlen);

#endif
