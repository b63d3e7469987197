/* Fuzz target: arbitrary bytes as an agent token (what any client may send
 * in auth or join) through pal_jwt_verify, against a fixed JWKS (the EC
 * P-256 test key below, loaded at init). A refusal must say why; an
 * acceptance must give a usable identity.
 *
 * Mutated tokens almost never keep a valid signature, so the claim checks
 * would stay out of reach: an input starting with '!' is instead taken as
 * the claims (any bytes), signed here with the key (ES256, its kid), then
 * verified. The clock is fixed (FUZZ_NOW) so that a saved input means the
 * same thing on every replay. */
#include <errno.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "palabre/config.h"
#include "palabre/jwt.h"
#include "palabre/log.h"

#define FUZZ_NOW 1800000000LL /* corpus tokens: issued 2026-12, valid ten years */

/* A test key (never used anywhere else). */
static const char test_key[] = "-----BEGIN PRIVATE KEY-----\n"
                               "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgwkUWQeSnlwKTuFNk\n"
                               "kDiiZhWlkgo+cceFwJUGFCFa9zyhRANCAAQgO2TR70To55pGbDOV8erJR/mmFbqA\n"
                               "KQkOCV1EbtIrAYnn5cyrQSMYdTegoa1VUpZS/G1rHxldnOrUvu/W2qb2\n"
                               "-----END PRIVATE KEY-----\n";

static struct pal_jwt_verifier *ver;
static EVP_PKEY *key;
static char header_b64[256]; /* {"alg":"ES256","kid":KID} */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f))
        abort();
}

static size_t b64url(const uint8_t *in, size_t len, char *out)
{
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    for (int i = 0; i < n; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    out[n] = 0;
    return (size_t)n;
}

static void init(void)
{
    pal_log_set_level(PAL_LOG_OFF);
    char dir[64], pem[96], jwks[96], err[600], *json;
    snprintf(dir, sizeof(dir), "/tmp/palabre-fuzz-jwt-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(pem, sizeof(pem), "%s/key.pem", dir);
    snprintf(jwks, sizeof(jwks), "%s/jwks.json", dir);
    write_file(pem, test_key);
    if (pal_jwt_public_jwks(pem, &json, err, sizeof(err)))
        abort();
    write_file(jwks, json);
    if (pal_jwt_verifier_create(jwks, "https://portail.example.fr", "palabre",
                                PAL_JWT_ES256 | PAL_JWT_RS256, 60, &ver, err, sizeof(err)))
        abort();
    const char *kid = strstr(json, "\"kid\": \"") + 8;
    char hdr[200];
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"%.*s\"}", (int)strcspn(kid, "\""),
             kid);
    b64url((const uint8_t *)hdr, strlen(hdr), header_b64);
    free(json);
    unlink(pem);
    unlink(jwks);
    rmdir(dir);
    BIO *bio = BIO_new_mem_buf(test_key, -1);
    key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!key)
        abort();
}

/* header.b64(claims).signature, ES256 with the test key; malloc'd. */
static char *sign_claims(const uint8_t *claims, size_t len)
{
    char *tok = malloc(strlen(header_b64) + 1 + 4 * (len / 3 + 2) + 1 + 90);
    size_t n = (size_t)sprintf(tok, "%s.", header_b64);
    n += b64url(claims, len, tok + n);
    unsigned char der[80], sig[64];
    size_t der_len = sizeof(der);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, der, &der_len, (unsigned char *)tok, n) != 1)
        abort();
    EVP_MD_CTX_free(md);
    const unsigned char *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (!es)
        abort();
    BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32);
    ECDSA_SIG_free(es);
    tok[n++] = '.';
    b64url(sig, sizeof(sig), tok + n);
    return tok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ver)
        init();
    char *token;
    if (size > 0 && data[0] == '!') {
        if (size > PAL_JWT_MAX_LEN / 2)
            return 0;
        token = sign_claims(data + 1, size - 1);
    } else {
        token = malloc(size + 1); /* the API takes a C string: stops at a NUL */
        memcpy(token, data, size);
        token[size] = 0;
    }
    struct pal_jwt_identity id;
    char err[200];
    err[0] = 0;
    int rc = pal_jwt_verify(ver, token, FUZZ_NOW, &id, err, sizeof(err));
    if (getenv("FUZZ_JWT_VERBOSE")) /* which path a corpus input takes */
        fprintf(stderr, "%d %s\n", rc, rc ? err : id.name);
    if (rc == 0) {
        /* accepted: a subject, a name, bounded strings */
        if (!id.sub[0] || !id.name[0] || strnlen(id.sub, sizeof(id.sub)) == sizeof(id.sub) ||
            strnlen(id.name, sizeof(id.name)) == sizeof(id.name) ||
            strnlen(id.email, sizeof(id.email)) == sizeof(id.email) || id.exp <= FUZZ_NOW - 60)
            abort();
        for (const char *c = id.name; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                abort(); /* shown to everyone: no control character */
    } else if (rc != -EACCES || !err[0]) {
        abort(); /* every refusal is -EACCES with its reason */
    }
    free(token);
    return 0;
}
