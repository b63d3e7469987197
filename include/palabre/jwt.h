/* Agent tokens ([access] agents = token): a JWT signed by the collectivité's
 * portal or identity provider, verified against the public keys of a JWKS
 * file. Built on libcjose (Debian libcjose-dev): it parses JWKS and JWS and
 * verifies ES256/RS256 with OpenSSL; libjwt 1.10 (Debian 12) has neither
 * JWKS nor claim checks. The claim checks are ours (below).
 *
 * Rules, each refused with its own message:
 * - the header's alg must be one of cfg's algorithms AND the key's own
 *   algorithm (EC P-256 -> ES256, RSA -> RS256; a JWK "alg" member must
 *   agree): "none", HS256 and any switch are refused before any signature
 *   check;
 * - kid: when the token has one it must name a key of the JWKS; without
 *   one, the JWKS must hold exactly one key usable with alg;
 * - exp required, nbf and iat optional; leeway_seconds of clock skew;
 * - iss equal to issuer, aud equal to audience (or an array holding it);
 * - sub required (1..255 bytes); display name from name, else given_name +
 *   " " + usual_name (ProConnect), else email, else sub.
 *
 * Thread: any, one verifier per thread (not shared while verifying). */
#ifndef PALABRE_JWT_H
#define PALABRE_JWT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define PAL_JWT_MAX_LEN 8192 /* a token longer than this is refused unread */

struct pal_jwt_verifier;

struct pal_jwt_identity {
    char sub[256];
    char name[256];  /* display name (UTF-8, truncated at a character boundary) */
    char email[256]; /* "" when absent */
    int64_t exp;     /* seconds since the epoch */
};

/* Loads the JWKS file (keys with kty EC P-256 or RSA; others skipped with a
 * warning; none usable: error). algorithms: PAL_JWT_* bits (config.h).
 * Returns 0 or -errno with a message in err. */
int pal_jwt_verifier_create(const char *jwks_path, const char *issuer, const char *audience,
                            int algorithms, int leeway_seconds, struct pal_jwt_verifier **out,
                            char *err, size_t errlen);
void pal_jwt_verifier_destroy(struct pal_jwt_verifier *v);
/* Rereads the JWKS file (key rotation); on error keeps the old keys. */
int pal_jwt_verifier_reload(struct pal_jwt_verifier *v, char *err, size_t errlen);

/* Verifies token at now_s (seconds since the epoch). 0 and *out filled, or
 * -EACCES with a short reason for the client in err ("token expired",
 * "token not yet valid", "wrong audience", "wrong issuer", "algorithm none
 * refused", "algorithm HS256 not accepted", "unknown key id 'x'", "bad
 * signature", "malformed token: ..."). */
int pal_jwt_verify(struct pal_jwt_verifier *v, const char *token, int64_t now_s,
                   struct pal_jwt_identity *out, char *err, size_t errlen);

/* OpenID Connect (signaling/oidc.c): a verifier over a JWKS document
 * fetched from the provider (origin names it in messages; no file, so
 * pal_jwt_verifier_reload refuses), with no issuer or audience of its own:
 * the caller checks the claims. */
int pal_jwt_verifier_create_jwks(const char *jwks, size_t len, const char *origin,
                                 int algorithms, struct pal_jwt_verifier **out, char *err,
                                 size_t errlen);
/* The header rules above (alg pinned, kid, no crit, strict base64url) and
 * the signature, nothing of the claims: 0 and *claims (a JSON object, the
 * caller's reference), -EACCES with the reason, or -ENOKEY when the token
 * names a kid the JWKS does not hold (the provider may have rotated). */
int pal_jwt_verify_signature(struct pal_jwt_verifier *v, const char *token, json_t **claims,
                             char *err, size_t errlen);

/* A NumericDate claim (RFC 7519: seconds, possibly fractional), clamped to
 * what an int64_t holds with room for a leeway. 0, or -1: not a number. */
int pal_jwt_numeric_date(json_t *j, int64_t *out);

/* palabre token: signs {sub, name, iss, aud, iat, nbf=iat, exp=iat+ttl}
 * with the PEM private key at key_path (EC P-256 -> ES256, PKCS#8 or SEC1;
 * RSA -> RS256), header kid = the RFC 7638 thumbprint of the public key.
 * email may be NULL. *out: a malloc'd compact JWT. 0 or -errno + err. */
int pal_jwt_sign(const char *key_path, const char *sub, const char *name, const char *email,
                 const char *iss, const char *aud, int64_t now_s, int64_t ttl_s, char **out,
                 char *err, size_t errlen);
/* palabre jwks: the public JWKS (one key, kid as above, alg, use "sig") of
 * the PEM private or public key at key_path, as a malloc'd JSON string. */
int pal_jwt_public_jwks(const char *key_path, char **out, char *err, size_t errlen);

#endif
