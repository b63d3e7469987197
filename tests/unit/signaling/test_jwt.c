/* jwt.c: tokens signed by pal_jwt_sign and tokens crafted here with OpenSSL
 * alone (an independent signer, so that the attacks can be built: alg none,
 * HS256 keyed with the public key, a switched alg) against a JWKS file
 * written by pal_jwt_public_jwks. Keys are generated at start (EC P-256,
 * RSA 2048) in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "palabre/config.h"
#include "palabre/jwt.h"
#include "palabre/log.h"

#define NOW 1800000000LL
#define ISS "https://portail.example.fr"
#define AUD "palabre"
#define LEEWAY 60

static char dir[64];
static char ec_pem[128], ec_pub_pem[128], rsa_pem[128], ec2_pem[128], jwks[128];
static EVP_PKEY *ec_key, *rsa_key, *ec2_key;
static char ec_kid[64], rsa_kid[64], ec2_kid[64];
static struct pal_jwt_verifier *ver; /* ES256 + RS256, JWKS = ec + rsa */

/* ---- helpers ---- */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    fclose(f);
}

static void write_pem(const char *path, EVP_PKEY *k, bool pub)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(
        pub ? PEM_write_PUBKEY(f, k) : PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
}

static char *b64url(const unsigned char *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = 0;
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

/* header.payload.signature signed with OpenSSL, not with jwt.c: ES256 (r||s),
 * RS256 (PKCS#1 v1.5), HS256 (HMAC keyed with secret), none (no signature). */
static char *craft(const char *header, const char *claims, EVP_PKEY *key, const char *secret)
{
    char *h = b64url((const unsigned char *)header, strlen(header));
    char *c = b64url((const unsigned char *)claims, strlen(claims));
    size_t in_len = strlen(h) + 1 + strlen(c);
    char *input = malloc(in_len + 1);
    sprintf(input, "%s.%s", h, c);
    unsigned char sig[1024];
    size_t sig_len = 0;
    if (secret) {
        unsigned int n = 0;
        HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)input, in_len, sig, &n);
        sig_len = n;
    } else if (key) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        unsigned char der[1024];
        size_t der_len = sizeof(der);
        assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), 1);
        assert_int_equal(EVP_DigestSign(md, der, &der_len, (unsigned char *)input, in_len), 1);
        EVP_MD_CTX_free(md);
        if (EVP_PKEY_is_a(key, "EC")) { /* DER ECDSA-Sig-Value -> JWS r || s */
            const unsigned char *p = der;
            ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
            assert_non_null(es);
            BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32);
            BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32);
            ECDSA_SIG_free(es);
            sig_len = 64;
        } else {
            memcpy(sig, der, der_len);
            sig_len = der_len;
        }
    }
    char *s = b64url(sig, sig_len);
    char *out = malloc(in_len + strlen(s) + 2);
    sprintf(out, "%s.%s", input, s);
    free(h), free(c), free(input), free(s);
    return out;
}

/* Claims with the defaults valid at NOW; extra is appended inside the object. */
static char *claims(const char *extra)
{
    static char buf[4096];
    snprintf(buf, sizeof(buf),
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"agent-42\",\"iat\":%lld,"
             "\"exp\":%lld%s%s}",
             NOW - 10, NOW + 3600, extra[0] ? "," : "", extra);
    return buf;
}

static char *es256_header(const char *kid)
{
    static char buf[256];
    snprintf(buf, sizeof(buf), "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kid);
    return buf;
}

/* Verifies with v at now; returns rc and the reason in err. */
static int check(struct pal_jwt_verifier *v, const char *token, int64_t now,
                 struct pal_jwt_identity *id, char *err)
{
    memset(id, 0, sizeof(*id));
    err[0] = 0;
    return pal_jwt_verify(v, token, now, id, err, 200);
}

static void assert_refused(const char *token, const char *reason)
{
    struct pal_jwt_identity id;
    char err[200];
    assert_int_equal(check(ver, token, NOW, &id, err), -EACCES);
    assert_string_equal(err, reason);
    assert_string_equal(id.sub, ""); /* nothing filled */
}

static void kid_of(const char *pem, char *out)
{
    char *j, err[300];
    assert_int_equal(pal_jwt_public_jwks(pem, &j, err, sizeof(err)), 0);
    const char *p = strstr(j, "\"kid\": \"");
    assert_non_null(p);
    p += 8;
    size_t n = strcspn(p, "\"");
    memcpy(out, p, n);
    out[n] = 0;
    free(j);
}

/* A JWKS file holding the public keys of the given PEM files. */
static void write_jwks(const char *path, const char **pems, int n)
{
    char text[16384] = "{\"keys\":[";
    for (int i = 0; i < n; i++) {
        char *j, err[300];
        assert_int_equal(pal_jwt_public_jwks(pems[i], &j, err, sizeof(err)), 0);
        /* {"keys": [ KEY ]} -> KEY */
        char *a = strchr(j, '['), *b = strrchr(j, ']');
        *b = 0;
        strcat(text, i ? "," : "");
        strcat(text, a + 1);
        free(j);
    }
    strcat(text, "]}");
    write_text(path, text);
}

static int setup(void **state)
{
    pal_log_set_level(PAL_LOG_ERROR);
    strcpy(dir, "/tmp/palabre-jwt-XXXXXX");
    assert_non_null(mkdtemp(dir));
    ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ec2_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    assert_true(ec_key && ec2_key && rsa_key);
    snprintf(ec_pem, sizeof(ec_pem), "%s/ec.pem", dir);
    snprintf(ec_pub_pem, sizeof(ec_pub_pem), "%s/ec.pub.pem", dir);
    snprintf(ec2_pem, sizeof(ec2_pem), "%s/ec2.pem", dir);
    snprintf(rsa_pem, sizeof(rsa_pem), "%s/rsa.pem", dir);
    snprintf(jwks, sizeof(jwks), "%s/jwks.json", dir);
    write_pem(ec_pem, ec_key, false);
    write_pem(ec_pub_pem, ec_key, true);
    write_pem(ec2_pem, ec2_key, false);
    write_pem(rsa_pem, rsa_key, false);
    kid_of(ec_pem, ec_kid);
    kid_of(ec2_pem, ec2_kid);
    kid_of(rsa_pem, rsa_kid);
    const char *pems[] = {ec_pem, rsa_pem};
    write_jwks(jwks, pems, 2);
    char err[300];
    assert_int_equal(pal_jwt_verifier_create(jwks, ISS, AUD, PAL_JWT_ES256 | PAL_JWT_RS256, LEEWAY,
                                             &ver, err, sizeof(err)),
                     0);
    return 0;
}

static int teardown(void **state)
{
    pal_jwt_verifier_destroy(ver);
    EVP_PKEY_free(ec_key);
    EVP_PKEY_free(ec2_key);
    EVP_PKEY_free(rsa_key);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- accepted ---- */

static void test_signed_es256_and_rs256_accepted(void **state)
{
    const char *keys[] = {ec_pem, rsa_pem};
    for (int i = 0; i < 2; i++) {
        char *tok, err[300];
        assert_int_equal(pal_jwt_sign(keys[i], "agent-42", "Marie Curie", "marie@example.fr", ISS,
                                      AUD, NOW, 3600, &tok, err, sizeof(err)),
                         0);
        assert_non_null(strchr(tok, '.'));
        assert_null(strchr(tok, '\n'));
        struct pal_jwt_identity id;
        assert_int_equal(check(ver, tok, NOW, &id, err), 0);
        assert_string_equal(id.sub, "agent-42");
        assert_string_equal(id.name, "Marie Curie");
        assert_string_equal(id.email, "marie@example.fr");
        assert_int_equal(id.exp, NOW + 3600);
        free(tok);
    }
}

static void test_public_pem_gives_same_jwks_as_private(void **state)
{
    char *a, *b, err[300];
    assert_int_equal(pal_jwt_public_jwks(ec_pem, &a, err, sizeof(err)), 0);
    assert_int_equal(pal_jwt_public_jwks(ec_pub_pem, &b, err, sizeof(err)), 0);
    assert_string_equal(a, b);
    assert_null(strstr(a, "\"d\"")); /* never the private part */
    assert_non_null(strstr(a, "\"alg\": \"ES256\""));
    free(a), free(b);
    /* signing needs the private key */
    char *tok;
    assert_int_equal(
        pal_jwt_sign(ec_pub_pem, "s", "n", NULL, ISS, AUD, NOW, 60, &tok, err, sizeof(err)),
        -EINVAL);
    assert_non_null(strstr(err, "not a PEM private key"));
}

static void test_display_name_sources(void **state)
{
    struct {
        const char *extra, *name;
    } cases[] = {
        {"\"given_name\":\"Jean\",\"usual_name\":\"Dupont\"", "Jean Dupont"},
        {"\"name\":\"Nom\",\"given_name\":\"Jean\",\"usual_name\":\"Dupont\"", "Nom"},
        {"\"usual_name\":\"Dupont\"", "Dupont"},
        {"\"email\":\"a@b.fr\"", "a@b.fr"},
        {"", "agent-42"},
        {"\"name\":\"A\\u0007B\\nC\\u007f\"", "A B C "}, /* no control character */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *tok = craft(es256_header(ec_kid), claims(cases[i].extra), ec_key, NULL);
        struct pal_jwt_identity id;
        char err[200];
        assert_int_equal(check(ver, tok, NOW, &id, err), 0);
        assert_string_equal(id.name, cases[i].name);
        free(tok);
    }
}

static void test_long_name_cut_at_character_boundary(void **state)
{
    char extra[2048] = "\"name\":\"";
    for (int i = 0; i < 300; i++)
        strcat(extra, "\xc3\xa9"); /* é, 2 bytes */
    strcat(extra, "\"");
    char *tok = craft(es256_header(ec_kid), claims(extra), ec_key, NULL);
    struct pal_jwt_identity id;
    char err[200];
    assert_int_equal(check(ver, tok, NOW, &id, err), 0);
    assert_int_equal(strlen(id.name), 254); /* 127 whole é, not 255 bytes with half of one */
    assert_memory_equal(id.name + 252, "\xc3\xa9", 2);
    free(tok);
}

static void test_audience_array_and_no_kid(void **state)
{
    char *tok = craft(es256_header(ec_kid),
                      "{\"iss\":\"" ISS "\",\"aud\":[\"other\",\"" AUD "\"],\"sub\":\"s\","
                      "\"exp\":1800003600}",
                      ec_key, NULL);
    struct pal_jwt_identity id;
    char err[200];
    assert_int_equal(check(ver, tok, NOW, &id, err), 0);
    free(tok);
    /* no kid: the only ES256 key of the set is used */
    tok = craft("{\"alg\":\"ES256\"}", claims(""), ec_key, NULL);
    assert_int_equal(check(ver, tok, NOW, &id, err), 0);
    free(tok);
}

static void test_leeway_respected(void **state)
{
    struct pal_jwt_identity id;
    char err[200];
    /* expired 30 s ago: within the 60 s of leeway */
    char *tok = craft(es256_header(ec_kid),
                      "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"s\",\"exp\":1799999970}",
                      ec_key, NULL);
    assert_int_equal(check(ver, tok, NOW, &id, err), 0);
    assert_int_equal(check(ver, tok, NOW + 29, &id, err), 0);
    assert_int_equal(check(ver, tok, NOW + 30, &id, err), -EACCES);
    assert_string_equal(err, "token expired");
    free(tok);
    /* valid from 30 s ahead: accepted now, refused 31 s before that */
    tok = craft(es256_header(ec_kid), claims("\"nbf\":1800000030"), ec_key, NULL);
    assert_int_equal(check(ver, tok, NOW, &id, err), 0);
    assert_int_equal(check(ver, tok, NOW - 30, &id, err), 0);
    assert_int_equal(check(ver, tok, NOW - 31, &id, err), -EACCES);
    assert_string_equal(err, "token not yet valid");
    free(tok);
}

/* ---- refused, each with its reason ---- */

static void test_expired_and_not_yet_valid(void **state)
{
    char *tok;
    char err[300];
    assert_int_equal(
        pal_jwt_sign(ec_pem, "s", "n", NULL, ISS, AUD, NOW - 7200, 3600, &tok, err, sizeof(err)),
        0);
    assert_refused(tok, "token expired");
    free(tok);
    /* signed for an hour from now + 10 min: nbf = iat in the future */
    assert_int_equal(
        pal_jwt_sign(ec_pem, "s", "n", NULL, ISS, AUD, NOW + 600, 3600, &tok, err, sizeof(err)), 0);
    assert_refused(tok, "token not yet valid");
    free(tok);
}

static void test_wrong_audience_and_issuer(void **state)
{
    char *tok, err[300];
    assert_int_equal(pal_jwt_sign(ec_pem, "s", "n", NULL, ISS, "autre-service", NOW, 3600, &tok,
                                  err, sizeof(err)),
                     0);
    assert_refused(tok, "wrong audience");
    free(tok);
    assert_int_equal(pal_jwt_sign(rsa_pem, "s", "n", NULL, "https://evil.example", AUD, NOW, 3600,
                                  &tok, err, sizeof(err)),
                     0);
    assert_refused(tok, "wrong issuer");
    free(tok);
    tok = craft(es256_header(ec_kid),
                "{\"iss\":\"" ISS "\",\"aud\":[\"x\",\"y\"],\"sub\":\"s\",\"exp\":1800003600}",
                ec_key, NULL);
    assert_refused(tok, "wrong audience");
    free(tok);
}

static void test_alg_none_refused(void **state)
{
    /* the classic: a header saying none, valid claims, an empty signature */
    char *tok = craft("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims(""), NULL, NULL);
    assert_non_null(strstr(tok, "eyJ"));
    assert_int_equal(tok[strlen(tok) - 1], '.');
    assert_refused(tok, "algorithm none refused");
    free(tok);
    tok = craft("{\"alg\":\"None\"}", claims(""), NULL, NULL);
    assert_refused(tok, "algorithm none refused");
    free(tok);
    /* with a kid of the set and a real signature appended: still none */
    char *good = craft(es256_header(ec_kid), claims(""), ec_key, NULL);
    tok = craft("{\"alg\":\"none\",\"kid\":\"x\"}", claims(""), NULL, NULL);
    char *forged = malloc(strlen(tok) + 100);
    sprintf(forged, "%s%s", tok, strrchr(good, '.') + 1);
    assert_refused(forged, "algorithm none refused");
    free(tok), free(good), free(forged);
}

static void test_hs256_keyed_with_public_key_refused(void **state)
{
    /* Algorithm confusion: a verifier that takes the header's alg would use
     * the public key (which everyone has) as an HMAC secret. */
    FILE *f = fopen(ec_pub_pem, "r");
    char pub[1024] = "";
    size_t n = fread(pub, 1, sizeof(pub) - 1, f);
    fclose(f);
    pub[n] = 0;
    char hdr[256];
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", ec_kid);
    char *tok = craft(hdr, claims(""), NULL, pub);
    assert_refused(tok, "algorithm HS256 not accepted");
    free(tok);
    /* the JWKS text itself as the secret, no kid */
    char *j, err[300];
    assert_int_equal(pal_jwt_public_jwks(rsa_pem, &j, err, sizeof(err)), 0);
    tok = craft("{\"alg\":\"HS256\"}", claims(""), NULL, j);
    assert_refused(tok, "algorithm HS256 not accepted");
    free(tok), free(j);
}

static void test_unknown_kid_refused(void **state)
{
    char *tok, err[300];
    /* a well-signed token from a key the set does not hold */
    assert_int_equal(
        pal_jwt_sign(ec2_pem, "s", "n", NULL, ISS, AUD, NOW, 3600, &tok, err, sizeof(err)), 0);
    char want[200];
    snprintf(want, sizeof(want), "unknown key id '%s'", ec2_kid);
    assert_refused(tok, want);
    free(tok);
    /* kid text is quoted back sanitised and cut */
    tok = craft("{\"alg\":\"ES256\",\"kid\":\"a'b\\nc\"}", claims(""), ec_key, NULL);
    assert_refused(tok, "unknown key id 'a?b?c'");
    free(tok);
}

static void test_bad_signature_refused(void **state)
{
    char *tok, err[300];
    const char *keys[] = {ec_pem, rsa_pem};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(
            pal_jwt_sign(keys[i], "s", "n", NULL, ISS, AUD, NOW, 3600, &tok, err, sizeof(err)), 0);
        char *sig = strrchr(tok, '.') + 1;
        sig[10] = sig[10] == 'A' ? 'B' : 'A'; /* flip bits of the signature */
        assert_refused(tok, "bad signature");
        sig[10] = sig[10] == 'A' ? 'B' : 'A';
        char *payload = strchr(tok, '.') + 1;
        payload[5] = payload[5] == 'A' ? 'B' : 'A'; /* or of the claims */
        assert_refused(tok, "bad signature");
        free(tok);
    }
    /* a token of the ES256 key's kid signed by another EC key */
    tok = craft(es256_header(ec_kid), claims(""), ec2_key, NULL);
    assert_refused(tok, "bad signature");
    free(tok);
    /* a valid ES256 signature and one byte more: cjose alone would take the
     * first 64 bytes as r || s and accept it (a malleable signature) */
    tok = craft(es256_header(ec_kid), claims(""), ec_key, NULL);
    char *longer = malloc(strlen(tok) + 2);
    sprintf(longer, "%sA", tok);
    assert_refused(longer, "bad signature");
    free(tok), free(longer);
}

static void test_alg_outside_configured_set_refused(void **state)
{
    struct pal_jwt_verifier *es_only;
    char err[300];
    assert_int_equal(
        pal_jwt_verifier_create(jwks, ISS, AUD, PAL_JWT_ES256, LEEWAY, &es_only, err, sizeof(err)),
        0);
    char *tok;
    assert_int_equal(
        pal_jwt_sign(rsa_pem, "s", "n", NULL, ISS, AUD, NOW, 3600, &tok, err, sizeof(err)), 0);
    struct pal_jwt_identity id;
    assert_int_equal(check(ver, tok, NOW, &id, err), 0); /* the full set takes it */
    assert_int_equal(check(es_only, tok, NOW, &id, err), -EACCES);
    assert_string_equal(err, "algorithm RS256 not accepted");
    free(tok);
    tok = craft("{\"alg\":\"ES512\"}", claims(""), ec_key, NULL);
    assert_refused(tok, "algorithm ES512 not accepted");
    free(tok);
    pal_jwt_verifier_destroy(es_only);
}

static void test_alg_switch_to_other_key_type_refused(void **state)
{
    /* RS256 header naming the EC key: signed with RSA, and the key pinned
     * to ES256 refuses it before any signature check */
    char hdr[256], want[256];
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"kid\":\"%s\"}", ec_kid);
    snprintf(want, sizeof(want), "algorithm RS256 does not match key '%s' (ES256)", ec_kid);
    char *tok = craft(hdr, claims(""), rsa_key, NULL);
    assert_refused(tok, want);
    free(tok);
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"%s\"}", rsa_kid);
    snprintf(want, sizeof(want), "algorithm ES256 does not match key '%s' (RS256)", rsa_kid);
    tok = craft(hdr, claims(""), ec_key, NULL);
    assert_refused(tok, want);
    free(tok);
}

static void test_missing_claims_refused(void **state)
{
    char *tok = craft(es256_header(ec_kid),
                      "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"s\"}", ec_key, NULL);
    assert_refused(tok, "token has no expiry (exp)");
    free(tok);
    tok = craft(es256_header(ec_kid),
                "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":1800003600}", ec_key, NULL);
    assert_refused(tok, "token has no subject (sub)");
    free(tok);
    tok = craft(es256_header(ec_kid),
                "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"\",\"exp\":1800003600}", ec_key,
                NULL);
    assert_refused(tok, "token has no subject (sub)");
    free(tok);
    tok = craft(es256_header(ec_kid),
                "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":1800003600,\"sub\":\""
                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                "xxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
                ec_key, NULL); /* 256 bytes */
    assert_refused(tok, "malformed token: sub is not a string of 1 to 255 bytes");
    free(tok);
    tok = craft(es256_header(ec_kid), "{\"aud\":\"" AUD "\",\"sub\":\"s\",\"exp\":1800003600}",
                ec_key, NULL);
    assert_refused(tok, "token has no issuer (iss)");
    free(tok);
    tok = craft(es256_header(ec_kid), claims("\"exp\":\"tomorrow\""), ec_key, NULL);
    assert_refused(tok, "malformed token: a claim appears twice"); /* exp twice */
    free(tok);
    tok = craft(es256_header(ec_kid),
                "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"s\","
                "\"exp\":\"tomorrow\"}",
                ec_key, NULL);
    assert_refused(tok, "malformed token: exp is not a number");
    free(tok);
}

static void test_malformed_refused(void **state)
{
    assert_refused("", "malformed token: empty");
    assert_refused("abc.def", "malformed token: not three parts");
    assert_refused("a.b.c.d", "malformed token: not three parts");
    assert_refused(".eyJ9.x", "malformed token: not three parts");
    assert_refused("eyJ$.x.y", "malformed token: not base64url");
    assert_refused("eyJ=.x.y", "malformed token: not base64url");
    assert_refused("eyJhb.x.y", "malformed token: bad base64"); /* 5 chars: no byte count */
    assert_refused("bm90IGpzb24.eyJ9.x", "malformed token: header is not a JSON object");
    assert_refused("WzFd.eyJ9.x", "malformed token: header is not a JSON object"); /* [1] */
    char *tok = craft(es256_header(ec_kid), "not json", ec_key, NULL);
    assert_refused(tok, "malformed token: claims are not a JSON object");
    free(tok);
    tok = craft(es256_header(ec_kid), "[1,2]", ec_key, NULL);
    assert_refused(tok, "malformed token: claims are not a JSON object");
    free(tok);
    tok = craft("{\"alg\":\"ES256\",\"alg\":\"ES256\"}", claims(""), ec_key, NULL);
    assert_refused(tok, "malformed token: a header parameter appears twice");
    free(tok);
    tok = craft("{\"alg\":\"ES256\",\"crit\":[\"exp\"]}", claims(""), ec_key, NULL);
    assert_refused(tok, "malformed token: critical header parameters not supported");
    free(tok);
    /* too long: refused before any decoding */
    char *big = malloc(PAL_JWT_MAX_LEN + 2);
    memset(big, 'A', PAL_JWT_MAX_LEN + 1);
    big[PAL_JWT_MAX_LEN + 1] = 0;
    big[10] = big[20] = '.';
    char want[64];
    snprintf(want, sizeof(want), "malformed token: longer than %d bytes", PAL_JWT_MAX_LEN);
    assert_refused(big, want);
    free(big);
}

/* ---- the key file ---- */

static void test_key_file_errors_and_skips(void **state)
{
    char path[128], err[300];
    struct pal_jwt_verifier *v;
    snprintf(path, sizeof(path), "%s/bad.json", dir);
    assert_int_equal(pal_jwt_verifier_create("/nonexistent/jwks.json", ISS, AUD, PAL_JWT_ES256, 60,
                                             &v, err, sizeof(err)),
                     -ENOENT);
    assert_null(v);
    write_text(path, "{\"keys\": [{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}");
    assert_int_equal(
        pal_jwt_verifier_create(path, ISS, AUD, PAL_JWT_ES256, 60, &v, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "no usable key"));
    write_text(path, "{\"kty\":\"EC\"}");
    assert_int_equal(
        pal_jwt_verifier_create(path, ISS, AUD, PAL_JWT_ES256, 60, &v, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "not a JWKS"));
    /* 65 keys: refused as a whole */
    char many[8192] = "{\"keys\":[";
    for (int i = 0; i < 65; i++)
        strcat(many, i ? ",{}" : "{}");
    strcat(many, "]}");
    write_text(path, many);
    assert_int_equal(
        pal_jwt_verifier_create(path, ISS, AUD, PAL_JWT_ES256, 60, &v, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "at most 64"));

    /* an EC JWK claiming RS256 is skipped, and then tokens for it fail */
    char *j;
    assert_int_equal(pal_jwt_public_jwks(ec_pem, &j, err, sizeof(err)), 0);
    char *alg = strstr(j, "\"ES256\"");
    memcpy(alg + 1, "RS", 2);
    write_text(path, j);
    free(j);
    assert_int_equal(pal_jwt_verifier_create(path, ISS, AUD, PAL_JWT_ES256 | PAL_JWT_RS256, 60, &v,
                                             err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "no usable key"));
}

static void test_two_keys_same_alg_need_kid_and_reload(void **state)
{
    char path[128], err[300];
    snprintf(path, sizeof(path), "%s/two.json", dir);
    const char *pems[] = {ec_pem, ec2_pem};
    write_jwks(path, pems, 2);
    struct pal_jwt_verifier *v;
    assert_int_equal(
        pal_jwt_verifier_create(path, ISS, AUD, PAL_JWT_ES256, 60, &v, err, sizeof(err)), 0);
    struct pal_jwt_identity id;
    char *no_kid = craft("{\"alg\":\"ES256\"}", claims(""), ec2_key, NULL);
    assert_int_equal(check(v, no_kid, NOW, &id, err), -EACCES);
    assert_string_equal(err, "token has no key id (kid) and 2 keys fit ES256");
    char *tok2 = craft(es256_header(ec2_kid), claims(""), ec2_key, NULL);
    assert_int_equal(check(v, tok2, NOW, &id, err), 0);

    /* rotation: ec2 leaves the file; a broken file keeps the old keys */
    write_text(path, "{not json");
    assert_int_equal(pal_jwt_verifier_reload(v, err, sizeof(err)), -EINVAL);
    assert_int_equal(check(v, tok2, NOW, &id, err), 0);
    const char *one[] = {ec_pem};
    write_jwks(path, one, 1);
    assert_int_equal(pal_jwt_verifier_reload(v, err, sizeof(err)), 0);
    assert_int_equal(check(v, tok2, NOW, &id, err), -EACCES);
    assert_non_null(strstr(err, "unknown key id"));
    assert_int_equal(check(v, no_kid, NOW, &id, err), -EACCES); /* now the only key: ec's */
    assert_string_equal(err, "bad signature");
    free(no_kid), free(tok2);
    pal_jwt_verifier_destroy(v);
}

static void test_sign_refuses_bad_keys_and_input(void **state)
{
    char path[128], err[300], *tok;
    snprintf(path, sizeof(path), "%s/p384.pem", dir);
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    write_pem(path, p384, false);
    EVP_PKEY_free(p384);
    assert_int_equal(pal_jwt_sign(path, "s", "n", NULL, ISS, AUD, NOW, 60, &tok, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "not supported"));
    write_text(path, "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n");
    assert_int_equal(pal_jwt_sign(path, "s", "n", NULL, ISS, AUD, NOW, 60, &tok, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(pal_jwt_sign(ec_pem, "", "n", NULL, ISS, AUD, NOW, 60, &tok, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(pal_jwt_sign(ec_pem, "s", "n", NULL, ISS, AUD, NOW, 0, &tok, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(
        pal_jwt_sign(ec_pem, "s", "\xff", NULL, ISS, AUD, NOW, 60, &tok, err, sizeof(err)),
        -EINVAL);
    assert_null(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signed_es256_and_rs256_accepted),
        cmocka_unit_test(test_public_pem_gives_same_jwks_as_private),
        cmocka_unit_test(test_display_name_sources),
        cmocka_unit_test(test_long_name_cut_at_character_boundary),
        cmocka_unit_test(test_audience_array_and_no_kid),
        cmocka_unit_test(test_leeway_respected),
        cmocka_unit_test(test_expired_and_not_yet_valid),
        cmocka_unit_test(test_wrong_audience_and_issuer),
        cmocka_unit_test(test_alg_none_refused),
        cmocka_unit_test(test_hs256_keyed_with_public_key_refused),
        cmocka_unit_test(test_unknown_kid_refused),
        cmocka_unit_test(test_bad_signature_refused),
        cmocka_unit_test(test_alg_outside_configured_set_refused),
        cmocka_unit_test(test_alg_switch_to_other_key_type_refused),
        cmocka_unit_test(test_missing_claims_refused),
        cmocka_unit_test(test_malformed_refused),
        cmocka_unit_test(test_key_file_errors_and_skips),
        cmocka_unit_test(test_two_keys_same_alg_need_kid_and_reload),
        cmocka_unit_test(test_sign_refuses_bad_keys_and_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
