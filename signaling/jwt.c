/* Agent tokens: JWT verification against a JWKS file, and the signing side
 * of `palabre token` / `palabre jwks` (contract: include/palabre/jwt.h).
 *
 * Why libcjose: Debian 12's libjwt 1.10 takes one key as PEM and checks
 * nothing but the signature: no JWKS, no key choice by kid, no exp/nbf/iss/
 * aud. libcjose 0.6 (Debian libcjose-dev) is jansson-based like the rest of
 * signaling, imports JWK members into OpenSSL keys and verifies a compact
 * JWS. It leaves to its caller what makes JWT verification safe, so it is
 * done here, before cjose sees the token:
 *  - the algorithm is pinned: the header's alg is read by us, refused unless
 *    it is in [access] algorithms AND the chosen key's own algorithm (EC
 *    P-256 -> ES256, RSA -> RS256). cjose_jws_verify follows the header's
 *    alg ("none" imports; HS256 would verify with an "oct" key): we never
 *    load oct keys and never pass a token whose alg we have not accepted;
 *  - keys come only from the JWKS file: header members jwk, jku, x5u, x5c
 *    are ignored (the embedded-key attacks), crit is refused;
 *  - strict base64url: cjose's decoder stops at the first '=' and ignores
 *    what follows (and asserts on some '=' positions), so only
 *    [A-Za-z0-9_-] reaches it;
 *  - an ES256 signature is exactly 64 bytes (cjose splits any length in two
 *    halves, which would make signatures malleable);
 *  - the claims (cjose has no notion of them), checked only after the
 *    signature: an unsigned claim tells nothing.
 *
 * Signing (the CLI): the PEM is read by OpenSSL (PKCS#8, SEC1, PKCS#1), its
 * components are handed to cjose as a JWK, cjose signs. */
#include "palabre/jwt.h"

#include <cjose/cjose.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "palabre/common.h"
#include "palabre/config.h"
#include "palabre/log.h"

#define JWKS_MAX_BYTES (1024 * 1024) /* a JWKS of 64 RSA-4096 keys is ~50 KiB */
#define JWKS_MAX_KEYS 64
#define PEM_MAX_BYTES (64 * 1024)
#define KID_MAX 255
#define ES256_SIG_B64_LEN 86 /* base64url of r || s, 32 bytes each */
#define RSA_MIN_BITS 2048

struct jwt_key {
    cjose_jwk_t *jwk; /* owned */
    char *kid;        /* owned; NULL when the JWK has none */
    int alg;          /* PAL_JWT_ES256 or PAL_JWT_RS256: the only one it verifies */
};

struct key_set {
    struct jwt_key *keys;
    int n;
};

struct pal_jwt_verifier {
    /* owned */
    char *jwks_path;
    struct key_set set;
    /* configuration */
    char issuer[256], audience[256];
    int algorithms, leeway;
};

#define fail pal_errf /* common.h */

static const char *alg_name(int alg)
{
    return alg == PAL_JWT_ES256 ? "ES256" : alg == PAL_JWT_RS256 ? "RS256" : "?";
}

static int alg_bit(const char *name)
{
    if (strcmp(name, "ES256") == 0)
        return PAL_JWT_ES256;
    if (strcmp(name, "RS256") == 0)
        return PAL_JWT_RS256;
    return 0;
}

/* Text from a token, quoted back to the client: printable ASCII only, cut
 * at 64 bytes, so that an error message never carries control characters
 * or a token-sized echo. */
static const char *quoted(const char *s, char *buf, size_t size)
{
    size_t max = size - 4 < 64 ? size - 4 : 64, i = 0;
    for (; s[i] && i < max; i++)
        buf[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\'') ? s[i] : '?';
    strcpy(buf + i, s[i] ? "..." : "");
    return buf;
}

/* Copies src into dst (size bytes with the NUL), cut at a UTF-8 character
 * boundary when it does not fit. */
static void copy_utf8(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size) {
        n = size - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--; /* src[n] starts the character that does not fit */
    }
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* Reads a whole file of at most max bytes (NUL-terminated). */
static int read_small_file(const char *path, size_t max, char **out, size_t *len, char *err,
                           size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(err, errlen, -errno, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        close(fd);
        return fail(err, errlen, -EFBIG, "%s: not a regular file of at most %zu bytes", path, max);
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf || got != (size_t)st.st_size) {
        free(buf);
        return fail(err, errlen, -EIO, "%s: cannot read", path);
    }
    buf[got] = 0;
    *out = buf;
    *len = got;
    return 0;
}

/* ---- the key set (JWKS file) ---- */

static void key_set_free(struct key_set *set)
{
    for (int i = 0; i < set->n; i++) {
        cjose_jwk_release(set->keys[i].jwk);
        free(set->keys[i].kid);
    }
    free(set->keys);
    set->keys = NULL;
    set->n = 0;
}

static const char *member_str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* One JWK of the file: 0 and *out, or -1 with the reason it is skipped. */
static int key_from_jwk(json_t *j, int algorithms, struct jwt_key *out, char *why, size_t whylen)
{
    if (!json_is_object(j))
        return fail(why, whylen, -1, "not a JSON object");
    const char *kty = member_str(j, "kty"), *crv = member_str(j, "crv");
    const char *use = member_str(j, "use"), *alg = member_str(j, "alg");
    json_t *kid = json_object_get(j, "kid");
    int bit;
    if (kty && strcmp(kty, "EC") == 0 && crv && strcmp(crv, "P-256") == 0)
        bit = PAL_JWT_ES256;
    else if (kty && strcmp(kty, "RSA") == 0)
        bit = PAL_JWT_RS256;
    else
        return fail(why, whylen, -1, "kty %s%s%s not supported (EC P-256 or RSA)",
                    kty ? kty : "(none)", crv ? " " : "", crv ? crv : "");
    if (json_object_get(j, "use") && (!use || strcmp(use, "sig") != 0))
        return fail(why, whylen, -1, "use is not \"sig\"");
    if (json_object_get(j, "alg") && (!alg || strcmp(alg, alg_name(bit)) != 0))
        return fail(why, whylen, -1, "alg %s does not fit a %s key (%s)",
                    alg ? alg : "(not a string)", kty, alg_name(bit));
    if (kid && (!json_is_string(kid) || json_string_length(kid) == 0 ||
                json_string_length(kid) > KID_MAX ||
                strlen(json_string_value(kid)) != json_string_length(kid)))
        return fail(why, whylen, -1, "kid is not a string of 1 to %d bytes", KID_MAX);
    if (!(algorithms & bit))
        return fail(why, whylen, -1, "%s is not in [access] algorithms", alg_name(bit));
    cjose_err cerr;
    cjose_jwk_t *jwk = cjose_jwk_import_json((cjose_header_t *)j, &cerr);
    if (!jwk)
        return fail(why, whylen, -1, "not a valid %s key (%s)", kty, cerr.message);
    if (bit == PAL_JWT_RS256 && cjose_jwk_get_keysize(jwk, &cerr) < RSA_MIN_BITS) {
        cjose_jwk_release(jwk);
        return fail(why, whylen, -1, "RSA key shorter than %d bits", RSA_MIN_BITS);
    }
    out->jwk = jwk;
    out->alg = bit;
    out->kid = kid ? strdup(json_string_value(kid)) : NULL;
    return 0;
}

/* A JWKS document (path names it in messages: a file, or a URL). */
static int key_set_parse(const char *text, size_t len, const char *path, int algorithms,
                         struct key_set *set, char *err, size_t errlen)
{
    if (len > JWKS_MAX_BYTES)
        return fail(err, errlen, -EFBIG, "%s: more than %d bytes", path, JWKS_MAX_BYTES);
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return fail(err, errlen, -EINVAL, "%s:%d: %s", path, jerr.line, jerr.text);
    json_t *keys = json_object_get(root, "keys");
    if (!json_is_array(keys)) {
        json_decref(root);
        return fail(err, errlen, -EINVAL, "%s: not a JWKS (no \"keys\" array)", path);
    }
    if (json_array_size(keys) > JWKS_MAX_KEYS) {
        json_decref(root);
        return fail(err, errlen, -EINVAL, "%s: %zu keys, at most %d", path, json_array_size(keys),
                    JWKS_MAX_KEYS);
    }
    set->keys = calloc(json_array_size(keys) + 1, sizeof(*set->keys));
    set->n = 0;
    if (!set->keys) {
        json_decref(root);
        return fail(err, errlen, -ENOMEM, "out of memory");
    }
    size_t i;
    json_t *j;
    json_array_foreach(keys, i, j)
    {
        char why[200];
        struct jwt_key k;
        if (key_from_jwk(j, algorithms, &k, why, sizeof(why))) {
            PAL_WARN("jwt", NULL, NULL, "%s: key %zu skipped: %s", path, i, why);
            continue;
        }
        bool dup = false;
        for (int m = 0; m < set->n && k.kid; m++)
            dup = dup || (set->keys[m].kid && strcmp(set->keys[m].kid, k.kid) == 0);
        if (dup) {
            PAL_WARN("jwt", NULL, NULL, "%s: key %zu skipped: kid '%s' already used", path, i,
                     k.kid);
            cjose_jwk_release(k.jwk);
            free(k.kid);
            continue;
        }
        if (json_object_get(j, "d"))
            PAL_WARN("jwt", NULL, NULL,
                     "%s: key %zu holds a private key: only its public part "
                     "is needed here",
                     path, i);
        set->keys[set->n++] = k;
    }
    json_decref(root);
    if (set->n == 0) {
        key_set_free(set);
        return fail(err, errlen, -EINVAL,
                    "%s: no usable key (EC P-256 for ES256 or RSA for RS256, in [access] "
                    "algorithms)",
                    path);
    }
    return 0;
}

static int key_set_load(const char *path, int algorithms, struct key_set *set, char *err,
                        size_t errlen)
{
    char *text;
    size_t len;
    int rc = read_small_file(path, JWKS_MAX_BYTES, &text, &len, err, errlen);
    if (rc)
        return rc;
    rc = key_set_parse(text, len, path, algorithms, set, err, errlen);
    free(text);
    return rc;
}

int pal_jwt_verifier_create_jwks(const char *jwks, size_t len, const char *origin,
                                 int algorithms, struct pal_jwt_verifier **out, char *err,
                                 size_t errlen)
{
    *out = NULL;
    struct pal_jwt_verifier *v = calloc(1, sizeof(*v));
    if (!v)
        return fail(err, errlen, -ENOMEM, "out of memory");
    v->algorithms = algorithms;
    int rc = key_set_parse(jwks, len, origin, algorithms, &v->set, err, errlen);
    if (rc) {
        free(v);
        return rc;
    }
    *out = v;
    return 0;
}

int pal_jwt_verifier_create(const char *jwks_path, const char *issuer, const char *audience,
                            int algorithms, int leeway_seconds, struct pal_jwt_verifier **out,
                            char *err, size_t errlen)
{
    *out = NULL;
    if (!jwks_path || !issuer || !audience || !issuer[0] || !audience[0] || strlen(issuer) >= 256 ||
        strlen(audience) >= 256 || leeway_seconds < 0 ||
        !(algorithms & (PAL_JWT_ES256 | PAL_JWT_RS256)))
        return fail(err, errlen, -EINVAL,
                    "token verifier: jwks_file, issuer, audience and "
                    "algorithms are needed");
    struct pal_jwt_verifier *v = calloc(1, sizeof(*v));
    if (!v || !(v->jwks_path = strdup(jwks_path))) {
        free(v);
        return fail(err, errlen, -ENOMEM, "out of memory");
    }
    snprintf(v->issuer, sizeof(v->issuer), "%s", issuer);
    snprintf(v->audience, sizeof(v->audience), "%s", audience);
    v->algorithms = algorithms;
    v->leeway = leeway_seconds;
    int rc = key_set_load(jwks_path, algorithms, &v->set, err, errlen);
    if (rc) {
        pal_jwt_verifier_destroy(v);
        return rc;
    }
    *out = v;
    return 0;
}

void pal_jwt_verifier_destroy(struct pal_jwt_verifier *v)
{
    if (!v)
        return;
    key_set_free(&v->set);
    free(v->jwks_path);
    free(v);
}

int pal_jwt_verifier_reload(struct pal_jwt_verifier *v, char *err, size_t errlen)
{
    if (!v->jwks_path)
        return fail(err, errlen, -EINVAL, "this verifier has no JWKS file");
    struct key_set fresh = {0};
    int rc = key_set_load(v->jwks_path, v->algorithms, &fresh, err, errlen);
    if (rc)
        return rc; /* the old keys stay */
    key_set_free(&v->set);
    v->set = fresh;
    return 0;
}

/* ---- verification ---- */

static bool is_b64url(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* Refusals are -EACCES with the reason the client is told. */
#define REFUSE(...) fail(err, errlen, -EACCES, __VA_ARGS__)

/* The key for alg and the header's kid (NULL: none), or NULL with err set. */
static const struct jwt_key *choose_key(const struct pal_jwt_verifier *v, int alg, json_t *kid,
                                        bool *unknown_kid, char *err, size_t errlen)
{
    char q[80];
    if (kid) {
        const char *id = json_string_value(kid);
        if (!id || strlen(id) != json_string_length(kid)) {
            REFUSE("malformed token: kid is not a string");
            return NULL;
        }
        for (int i = 0; i < v->set.n; i++) {
            const struct jwt_key *k = &v->set.keys[i];
            if (!k->kid || strcmp(k->kid, id) != 0)
                continue;
            if (k->alg != alg) {
                REFUSE("algorithm %s does not match key '%s' (%s)", alg_name(alg),
                       quoted(id, q, sizeof(q)), alg_name(k->alg));
                return NULL;
            }
            return k;
        }
        REFUSE("unknown key id '%s'", quoted(id, q, sizeof(q)));
        *unknown_kid = true;
        return NULL;
    }
    const struct jwt_key *found = NULL;
    int n = 0;
    for (int i = 0; i < v->set.n; i++)
        if (v->set.keys[i].alg == alg) {
            found = &v->set.keys[i];
            n++;
        }
    if (n == 1)
        return found;
    if (n == 0)
        REFUSE("no key for algorithm %s", alg_name(alg));
    else
        REFUSE("token has no key id (kid) and %d keys fit %s", n, alg_name(alg));
    return NULL;
}

int pal_jwt_numeric_date(json_t *j, int64_t *out)
{
    const double lim = 4e15; /* ~127 million years */
    double d;
    if (json_is_integer(j))
        d = (double)json_integer_value(j);
    else if (json_is_real(j))
        d = json_real_value(j);
    else
        return -1;
    if (!isfinite(d))
        return -1;
    *out = (int64_t)floor(d > lim ? lim : d < -lim ? -lim : d);
    return 0;
}

/* A string claim: NULL when absent; *bad when present but not a string
 * without NUL of at most max bytes. */
static const char *string_claim(json_t *claims, const char *key, size_t max, bool *bad)
{
    json_t *j = json_object_get(claims, key);
    if (!j)
        return NULL;
    const char *s = json_string_value(j);
    if (!s || strlen(s) != json_string_length(j) || json_string_length(j) > max) {
        *bad = true;
        return NULL;
    }
    return s;
}

static bool audience_matches(json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    size_t i;
    json_t *a;
    json_array_foreach(aud, i, a)
    {
        if (json_is_string(a) && strcmp(json_string_value(a), want) == 0)
            return true;
    }
    return false;
}

static int check_claims(const struct pal_jwt_verifier *v, json_t *claims, int64_t now_s,
                        struct pal_jwt_identity *out, char *err, size_t errlen)
{
    int64_t exp = 0, nbf = 0, iat = 0;
    json_t *j = json_object_get(claims, "exp");
    if (!j)
        return REFUSE("token has no expiry (exp)");
    if (pal_jwt_numeric_date(j, &exp))
        return REFUSE("malformed token: exp is not a number");
    if (now_s >= exp + v->leeway)
        return REFUSE("token expired");
    if ((j = json_object_get(claims, "nbf")) && pal_jwt_numeric_date(j, &nbf))
        return REFUSE("malformed token: nbf is not a number");
    if (j && now_s + v->leeway < nbf)
        return REFUSE("token not yet valid");
    if ((j = json_object_get(claims, "iat")) && pal_jwt_numeric_date(j, &iat))
        return REFUSE("malformed token: iat is not a number");
    if (j && now_s + v->leeway < iat)
        return REFUSE("token not yet valid (issued in the future)");

    j = json_object_get(claims, "iss");
    if (!j)
        return REFUSE("token has no issuer (iss)");
    if (!json_is_string(j) || strcmp(json_string_value(j), v->issuer) != 0)
        return REFUSE("wrong issuer");
    j = json_object_get(claims, "aud");
    if (!j)
        return REFUSE("token has no audience (aud)");
    if (!audience_matches(j, v->audience))
        return REFUSE("wrong audience");

    bool bad = false;
    const char *sub = string_claim(claims, "sub", sizeof(out->sub) - 1, &bad);
    if (bad)
        return REFUSE("malformed token: sub is not a string of 1 to %zu bytes",
                      sizeof(out->sub) - 1);
    if (!sub || !sub[0])
        return REFUSE("token has no subject (sub)");
    /* Display and contact: a bad one is dropped, not fatal (the identity is sub). */
    const char *name = string_claim(claims, "name", 4096, &bad);
    const char *given = string_claim(claims, "given_name", 4096, &bad);
    const char *usual = string_claim(claims, "usual_name", 4096, &bad);
    const char *email = string_claim(claims, "email", sizeof(out->email) - 1, &bad);

    memset(out, 0, sizeof(*out));
    snprintf(out->sub, sizeof(out->sub), "%s", sub);
    snprintf(out->email, sizeof(out->email), "%s", email ? email : "");
    out->exp = exp;
    char both[8200];
    if (name && name[0]) {
        copy_utf8(out->name, sizeof(out->name), name);
    } else if ((given && given[0]) || (usual && usual[0])) {
        snprintf(both, sizeof(both), "%s%s%s", given ? given : "",
                 given && given[0] && usual && usual[0] ? " " : "", usual ? usual : "");
        copy_utf8(out->name, sizeof(out->name), both);
    } else {
        copy_utf8(out->name, sizeof(out->name), email && email[0] ? email : sub);
    }
    /* Shown to every participant and written in logs: no control character
     * (a name typed in the client is held to the same, pal_text_check). */
    for (char *c = out->name; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = ' ';
    return 0;
}

/* The header and signature checks; *claims (the payload, a JSON object)
 * on success. -EACCES, or -ENOKEY when the token names a kid the set lacks. */
static int verify_jws(struct pal_jwt_verifier *v, const char *token, json_t **claims_out,
                      char *err, size_t errlen)
{
    size_t len = token ? strnlen(token, PAL_JWT_MAX_LEN + 1) : 0;
    if (len == 0)
        return REFUSE("malformed token: empty");
    if (len > PAL_JWT_MAX_LEN)
        return REFUSE("malformed token: longer than %d bytes", PAL_JWT_MAX_LEN);
    size_t dot[2] = {0, 0}, ndots = 0;
    for (size_t i = 0; i < len; i++) {
        if (token[i] == '.') {
            if (ndots < 2)
                dot[ndots] = i;
            ndots++;
        } else if (!is_b64url(token[i])) {
            return REFUSE("malformed token: not base64url");
        }
    }
    if (ndots != 2 || dot[0] == 0)
        return REFUSE("malformed token: not three parts");

    /* The header, read by us: alg and kid decide the key before any crypto. */
    cjose_err cerr;
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    if (!cjose_base64url_decode(token, dot[0], &raw, &raw_len, &cerr))
        return REFUSE("malformed token: bad base64");
    json_error_t jerr;
    json_t *hdr = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES, &jerr);
    cjose_get_dealloc()(raw);
    int rc = 0;
    cjose_jws_t *jws = NULL;
    json_t *claims = NULL;
    if (!json_is_object(hdr)) {
        rc = REFUSE("malformed token: %s", !hdr && strstr(jerr.text, "duplicate")
                                               ? "a header parameter appears twice"
                                               : "header is not a JSON object");
        goto out;
    }
    const char *alg = member_str(hdr, "alg");
    char q[80];
    int bit = alg ? alg_bit(alg) : 0;
    if (!alg) {
        rc = REFUSE("malformed token: no alg in header");
    } else if (strcasecmp(alg, "none") == 0) {
        rc = REFUSE("algorithm none refused");
    } else if (!(bit & v->algorithms)) {
        rc = REFUSE("algorithm %s not accepted", quoted(alg, q, sizeof(q)));
    } else if (json_object_get(hdr, "crit")) {
        rc = REFUSE("malformed token: critical header parameters not supported");
    }
    if (rc)
        goto out;
    bool unknown_kid = false;
    const struct jwt_key *key =
        choose_key(v, bit, json_object_get(hdr, "kid"), &unknown_kid, err, errlen);
    if (!key) {
        rc = unknown_kid ? -ENOKEY : -EACCES;
        goto out;
    }
    if (bit == PAL_JWT_ES256 && len - dot[1] - 1 != ES256_SIG_B64_LEN) {
        rc = REFUSE("bad signature");
        goto out;
    }

    jws = cjose_jws_import(token, len, &cerr);
    if (!jws) {
        rc = REFUSE("malformed token: bad base64");
        goto out;
    }
    /* cjose parsed the same bytes; should its reading of alg ever differ
     * from ours, neither is trusted. */
    const char *cjose_alg = cjose_header_get(cjose_jws_get_protected(jws), CJOSE_HDR_ALG, &cerr);
    if (!cjose_alg || strcmp(cjose_alg, alg) != 0) {
        rc = REFUSE("malformed token: header");
        goto out;
    }
    if (!cjose_jws_verify(jws, key->jwk, &cerr)) {
        rc = REFUSE("bad signature");
        goto out;
    }
    uint8_t *payload;
    size_t payload_len;
    if (!cjose_jws_get_plaintext(jws, &payload, &payload_len, &cerr)) {
        rc = REFUSE("malformed token: no payload");
        goto out;
    }
    /* A claim given twice would be read one way here and maybe another by
     * whoever else reads the token: refused. */
    claims = json_loadb((const char *)payload, payload_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(claims)) {
        rc = REFUSE("malformed token: %s", !claims && strstr(jerr.text, "duplicate")
                                               ? "a claim appears twice"
                                               : "claims are not a JSON object");
        goto out;
    }
    *claims_out = claims;
    claims = NULL;
out:
    json_decref(claims);
    cjose_jws_release(jws);
    json_decref(hdr);
    return rc;
}

int pal_jwt_verify(struct pal_jwt_verifier *v, const char *token, int64_t now_s,
                   struct pal_jwt_identity *out, char *err, size_t errlen)
{
    json_t *claims = NULL;
    int rc = verify_jws(v, token, &claims, err, errlen);
    if (rc == -ENOKEY)
        rc = -EACCES;
    if (rc == 0)
        rc = check_claims(v, claims, now_s, out, err, errlen);
    json_decref(claims);
    return rc;
}

int pal_jwt_verify_signature(struct pal_jwt_verifier *v, const char *token, json_t **claims,
                             char *err, size_t errlen)
{
    *claims = NULL;
    return verify_jws(v, token, claims, err, errlen);
}

/* ---- signing side: PEM keys for `palabre token` and `palabre jwks` ---- */

/* A PEM key read by OpenSSL, as JWK members (base64url), with its RFC 7638
 * thumbprint as kid; jwk (cjose) only for a private key. */
struct pem_key {
    int alg;
    json_t *pub; /* the public JWK: kty, crv/x/y or n/e, kid, alg, use */
    char kid[48];
    cjose_jwk_t *jwk;
};

static void pem_key_free(struct pem_key *k)
{
    json_decref(k->pub);
    cjose_jwk_release(k->jwk);
    memset(k, 0, sizeof(*k));
}

/* A PEM passphrase prompt would hang a script: encrypted keys are refused. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return 0;
}

/* A big-number parameter of pkey as big-endian bytes, left-padded to pad
 * bytes when pad > 0. malloc'd; NULL when absent. */
static uint8_t *bn_param(EVP_PKEY *pkey, const char *name, size_t pad, size_t *len)
{
    BIGNUM *bn = NULL;
    if (!EVP_PKEY_get_bn_param(pkey, name, &bn))
        return NULL;
    size_t n = (size_t)BN_num_bytes(bn);
    if (pad < n)
        pad = n;
    uint8_t *out = malloc(pad ? pad : 1);
    if (out && BN_bn2binpad(bn, out, (int)pad) < 0) {
        free(out);
        out = NULL;
    }
    BN_clear_free(bn);
    *len = pad;
    return out;
}

static char *b64url(const uint8_t *data, size_t len)
{
    char *s = NULL;
    size_t n;
    cjose_err cerr;
    if (!cjose_base64url_encode(data, len, &s, &n, &cerr))
        return NULL;
    return s; /* cjose_get_dealloc() frees it */
}

/* RFC 7638: SHA-256 of the required members in lexical order, no spaces. */
static int thumbprint(const struct pem_key *k, char out[48])
{
    char canon[2048];
    if (k->alg == PAL_JWT_ES256)
        snprintf(canon, sizeof(canon),
                 "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
                 member_str(k->pub, "x"), member_str(k->pub, "y"));
    else if (snprintf(canon, sizeof(canon), "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}",
                      member_str(k->pub, "e"), member_str(k->pub, "n")) >= (int)sizeof(canon))
        return -EINVAL; /* RSA above 8192 bits */
    uint8_t md[32];
    unsigned int mdlen = 0;
    if (!EVP_Digest(canon, strlen(canon), md, &mdlen, EVP_sha256(), NULL))
        return -EIO;
    char *s = b64url(md, mdlen);
    if (!s)
        return -ENOMEM;
    snprintf(out, 48, "%s", s);
    cjose_get_dealloc()(s);
    return 0;
}

/* One big-number component of a key: its OpenSSL parameter name, its JWK
 * member name, the width it is padded to (EC coordinates: 32 bytes), and
 * its bytes once read (wiped and freed by free_params). */
struct param {
    const char *ossl, *jwk;
    size_t pad;
    uint8_t *data;
    size_t len;
};

static void free_params(struct param *p, int n)
{
    for (int i = 0; i < n; i++) {
        if (p[i].data)
            OPENSSL_cleanse(p[i].data, p[i].len);
        free(p[i].data);
        p[i].data = NULL;
    }
}

/* Fills k from pkey (EC P-256 or RSA >= 2048 bits). */
static int pem_key_from_pkey(EVP_PKEY *pkey, bool priv, const char *path, struct pem_key *k,
                             char *err, size_t errlen)
{
    struct param ec[] = {{OSSL_PKEY_PARAM_EC_PUB_X, "x", 32, NULL, 0},
                         {OSSL_PKEY_PARAM_EC_PUB_Y, "y", 32, NULL, 0},
                         {OSSL_PKEY_PARAM_PRIV_KEY, "d", 32, NULL, 0}};
    struct param rsa[] = {{OSSL_PKEY_PARAM_RSA_N, "n", 0, NULL, 0},
                          {OSSL_PKEY_PARAM_RSA_E, "e", 0, NULL, 0},
                          {OSSL_PKEY_PARAM_RSA_D, "d", 0, NULL, 0},
                          {OSSL_PKEY_PARAM_RSA_FACTOR1, "p", 0, NULL, 0},
                          {OSSL_PKEY_PARAM_RSA_FACTOR2, "q", 0, NULL, 0},
                          {OSSL_PKEY_PARAM_RSA_EXPONENT1, "dp", 0, NULL, 0},
                          {OSSL_PKEY_PARAM_RSA_EXPONENT2, "dq", 0, NULL, 0},
                          {OSSL_PKEY_PARAM_RSA_COEFFICIENT1, "qi", 0, NULL, 0}};
    struct param *p;
    int n, rc = 0;
    memset(k, 0, sizeof(*k));
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64] = "";
        size_t glen;
        EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &glen);
        if (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)
            return fail(err, errlen, -EINVAL, "%s: EC curve %s not supported (P-256 for ES256)",
                        path, group[0] ? group : "(unknown)");
        k->alg = PAL_JWT_ES256;
        p = ec;
        n = priv ? 3 : 2;
    } else if (EVP_PKEY_is_a(pkey, "RSA")) {
        if (EVP_PKEY_get_bits(pkey) < RSA_MIN_BITS)
            return fail(err, errlen, -EINVAL, "%s: RSA key of %d bits, at least %d needed", path,
                        EVP_PKEY_get_bits(pkey), RSA_MIN_BITS);
        k->alg = PAL_JWT_RS256;
        p = rsa;
        n = priv ? 8 : 2;
    } else {
        return fail(err, errlen, -EINVAL, "%s: a %s key; EC P-256 (ES256) or RSA (RS256) needed",
                    path, EVP_PKEY_get0_type_name(pkey));
    }
    for (int i = 0; i < n; i++)
        if (!(p[i].data = bn_param(pkey, p[i].ossl, p[i].pad, &p[i].len))) {
            rc = fail(err, errlen, -EINVAL, "%s: the key has no %s", path, p[i].jwk);
            goto out;
        }

    k->pub = json_object();
    json_object_set_new(k->pub, "kty", json_string(k->alg == PAL_JWT_ES256 ? "EC" : "RSA"));
    if (k->alg == PAL_JWT_ES256)
        json_object_set_new(k->pub, "crv", json_string("P-256"));
    for (int i = 0; i < 2; i++) {
        char *s = b64url(p[i].data, p[i].len);
        json_object_set_new(k->pub, p[i].jwk, s ? json_string(s) : json_null());
        cjose_get_dealloc()(s);
    }
    if ((rc = thumbprint(k, k->kid))) {
        fail(err, errlen, rc, "%s: cannot compute the key's thumbprint", path);
        goto out;
    }
    json_object_set_new(k->pub, "kid", json_string(k->kid));
    json_object_set_new(k->pub, "alg", json_string(alg_name(k->alg)));
    json_object_set_new(k->pub, "use", json_string("sig"));

    if (priv) {
        cjose_err cerr;
        if (k->alg == PAL_JWT_ES256) {
            cjose_jwk_ec_keyspec spec = {.crv = CJOSE_JWK_EC_P_256,
                                         .x = p[0].data,
                                         .xlen = p[0].len,
                                         .y = p[1].data,
                                         .ylen = p[1].len,
                                         .d = p[2].data,
                                         .dlen = p[2].len};
            k->jwk = cjose_jwk_create_EC_spec(&spec, &cerr);
        } else {
            cjose_jwk_rsa_keyspec spec = {.n = p[0].data,
                                          .nlen = p[0].len,
                                          .e = p[1].data,
                                          .elen = p[1].len,
                                          .d = p[2].data,
                                          .dlen = p[2].len,
                                          .p = p[3].data,
                                          .plen = p[3].len,
                                          .q = p[4].data,
                                          .qlen = p[4].len,
                                          .dp = p[5].data,
                                          .dplen = p[5].len,
                                          .dq = p[6].data,
                                          .dqlen = p[6].len,
                                          .qi = p[7].data,
                                          .qilen = p[7].len};
            k->jwk = cjose_jwk_create_RSA_spec(&spec, &cerr);
        }
        if (!k->jwk)
            rc = fail(err, errlen, -EINVAL, "%s: cjose refused the key (%s)", path, cerr.message);
    }
out:
    free_params(p, n);
    if (rc)
        pem_key_free(k);
    return rc;
}

/* Reads the PEM at path: a private key (PKCS#8, SEC1 "EC PRIVATE KEY",
 * PKCS#1 "RSA PRIVATE KEY") or, with allow_public, a "PUBLIC KEY". */
static int pem_key_load(const char *path, bool allow_public, struct pem_key *k, char *err,
                        size_t errlen)
{
    char *text;
    size_t len;
    int rc = read_small_file(path, PEM_MAX_BYTES, &text, &len, err, errlen);
    if (rc)
        return rc;
    BIO *bio = BIO_new_mem_buf(text, (int)len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
    bool priv = pkey != NULL;
    if (!pkey && bio && allow_public) {
        BIO_free(bio);
        bio = BIO_new_mem_buf(text, (int)len);
        pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL) : NULL;
    }
    BIO_free(bio);
    OPENSSL_cleanse(text, len);
    free(text);
    ERR_clear_error();
    if (!pkey)
        return fail(err, errlen, -EINVAL, "%s: not a PEM %s (unencrypted PKCS#8, SEC1 or PKCS#1)",
                    path, allow_public ? "private or public key" : "private key");
    rc = pem_key_from_pkey(pkey, priv, path, k, err, errlen);
    EVP_PKEY_free(pkey);
    return rc;
}

int pal_jwt_sign(const char *key_path, const char *sub, const char *name, const char *email,
                 const char *iss, const char *aud, int64_t now_s, int64_t ttl_s, char **out,
                 char *err, size_t errlen)
{
    *out = NULL;
    if (!sub || !sub[0] || strlen(sub) > 255)
        return fail(err, errlen, -EINVAL, "sub: 1 to 255 bytes");
    if (!name || !name[0])
        return fail(err, errlen, -EINVAL, "name: needed");
    if (!iss || !iss[0] || !aud || !aud[0])
        return fail(err, errlen, -EINVAL, "issuer and audience: needed");
    if (ttl_s <= 0)
        return fail(err, errlen, -EINVAL, "ttl: must be positive");
    struct pem_key k;
    int rc = pem_key_load(key_path, false, &k, err, errlen);
    if (rc)
        return rc;
    json_t *claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "iss", iss, "aud", aud, "sub",
                               sub, "name", name, "iat", (json_int_t)now_s, "nbf",
                               (json_int_t)now_s, "exp", (json_int_t)(now_s + ttl_s));
    if (claims && email && email[0] && json_object_set_new(claims, "email", json_string(email)))
        json_decref(claims), claims = NULL;
    char *payload = claims ? json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(claims);
    if (!payload) {
        pem_key_free(&k);
        return fail(err, errlen, -EINVAL, "sub, name, email, iss and aud must be UTF-8 text");
    }
    cjose_err cerr;
    cjose_header_t *hdr = cjose_header_new(&cerr);
    cjose_jws_t *jws = NULL;
    const char *compact = NULL;
    if (hdr && cjose_header_set(hdr, CJOSE_HDR_ALG, alg_name(k.alg), &cerr) &&
        cjose_header_set(hdr, "typ", "JWT", &cerr) &&
        cjose_header_set(hdr, CJOSE_HDR_KID, k.kid, &cerr))
        jws = cjose_jws_sign(k.jwk, hdr, (const uint8_t *)payload, strlen(payload), &cerr);
    if (jws && cjose_jws_export(jws, &compact, &cerr) && compact)
        *out = strdup(compact);
    if (!*out)
        rc = fail(err, errlen, -EIO, "signing failed (%s)", cerr.message);
    cjose_jws_release(jws);
    cjose_header_release(hdr);
    free(payload);
    pem_key_free(&k);
    return rc;
}

int pal_jwt_public_jwks(const char *key_path, char **out, char *err, size_t errlen)
{
    *out = NULL;
    struct pem_key k;
    int rc = pem_key_load(key_path, true, &k, err, errlen);
    if (rc)
        return rc;
    json_t *jwks = json_pack("{s:[O]}", "keys", k.pub);
    *out = jwks ? json_dumps(jwks, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(jwks);
    pem_key_free(&k);
    return *out ? 0 : fail(err, errlen, -ENOMEM, "out of memory");
}
