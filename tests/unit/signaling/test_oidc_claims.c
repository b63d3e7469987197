/* oidc_claims.c: what the relying party reads from the provider. The
 * ProConnect path first: its userinfo is a signed JWT (application/jwt),
 * here shaped as its documentation shows the identity (given_name,
 * usual_name, email, uid, siret, and the optional organizational_unit and
 * belonging_population), signed with an ES256 key made at start with cjose
 * (an independent signer), verified against that key's JWKS. Then plain
 * JSON userinfo, the ID token's claims, the discovery document, the
 * cookie and the return path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cjose/cjose.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/config.h"
#include "palabre/jwt.h"
#include "palabre/log.h"
#include "palabre/oidc_claims.h"

#define ISS "https://auth.agentconnect.gouv.fr/api/v2"
#define CLIENT "palabre-mairie"
#define NOW 1800000000LL
#define SUB "b6048e95bb134ec5b1d1e1fa69f287172e91722b9c1d0f6de6e0c5c9c8e5e3a1"

static cjose_jwk_t *key, *other;
static struct pal_jwt_verifier *ver;

/* A compact JWS of claims (JSON text) signed by k with header kid. */
static char *sign(cjose_jwk_t *k, const char *kid, const char *alg, const char *claims)
{
    cjose_err err;
    cjose_header_t *hdr = cjose_header_new(&err);
    cjose_header_set(hdr, CJOSE_HDR_ALG, alg, &err);
    if (kid)
        cjose_header_set(hdr, CJOSE_HDR_KID, kid, &err);
    cjose_jws_t *jws = cjose_jws_sign(k, hdr, (const uint8_t *)claims, strlen(claims), &err);
    assert_non_null(jws);
    const char *compact = NULL;
    assert_true(cjose_jws_export(jws, &compact, &err));
    char *out = strdup(compact);
    cjose_jws_release(jws);
    cjose_header_release(hdr);
    return out;
}

/* The userinfo of the documentation's shape, with changes (a JSON object
 * merged over it). */
static char *userinfo_claims(const char *over)
{
    json_t *c =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "sub", SUB,
                  "given_name", "Jeanne", "usual_name", "Lefèvre", "email",
                  "Jeanne.Lefevre@Mairie-Exemple.fr", "uid", "1234", "siret", "21750001600019",
                  "organizational_unit", "Direction du numérique", "belonging_population", "agent",
                  "iss", ISS, "aud", CLIENT, "iat", (json_int_t)NOW, "exp", (json_int_t)NOW + 60);
    if (over) {
        json_t *o = json_loads(over, 0, NULL);
        assert_non_null(o);
        json_object_update(c, o);
        json_decref(o);
    }
    char *s = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    return s;
}

/* Parses a signed userinfo; returns the rc, *user filled on success. */
static int proconnect_userinfo(const char *token, const char *siret_list, const char *domains,
                               struct pal_oidc_user *user, char *err, size_t errlen)
{
    json_t *claims = NULL;
    int rc = pal_oidc_userinfo_parse("application/jwt", token, strlen(token), ver, ISS, CLIENT, SUB,
                                     &claims, err, errlen);
    if (rc == 0) {
        rc = pal_oidc_user_from_claims(claims, ISS, siret_list, domains, user, err, errlen);
        json_decref(claims);
    }
    return rc;
}

static int setup(void **state)
{
    (void)state;
    cjose_err err;
    key = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err);
    other = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err);
    assert_non_null(key);
    assert_non_null(other);
    char *pub = cjose_jwk_to_json(key, false, &err);
    char jwks[2048];
    /* the kid is added as the provider's JWKS carries it */
    snprintf(jwks, sizeof(jwks),
             "{\"keys\":[%.*s,\"kid\":\"pc-2026\",\"use\":\"sig\",\"alg\":\"ES256\"}]}",
             (int)strlen(pub) - 1, pub);
    free(pub);
    char why[256];
    assert_int_equal(pal_jwt_verifier_create_jwks(jwks, strlen(jwks), "test JWKS",
                                                  PAL_JWT_ES256 | PAL_JWT_RS256, &ver, why,
                                                  sizeof(why)),
                     0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pal_jwt_verifier_destroy(ver);
    cjose_jwk_release(key);
    cjose_jwk_release(other);
    return 0;
}

static void test_proconnect_userinfo_jwt(void **state)
{
    (void)state;
    char *c = userinfo_claims(NULL);
    char *tok = sign(key, "pc-2026", "ES256", c);
    struct pal_oidc_user u;
    char err[200] = "";
    assert_int_equal(proconnect_userinfo(tok, "", "", &u, err, sizeof(err)), 0);
    /* matched by email (ProConnect's sub differs per service), lowercased */
    assert_string_equal(u.sub, "oidc:jeanne.lefevre@mairie-exemple.fr");
    assert_string_equal(u.email, "jeanne.lefevre@mairie-exemple.fr");
    assert_string_equal(u.name, "Jeanne Lefèvre");
    assert_string_equal(u.siret, "21750001600019");
    assert_true(u.agent); /* no allow list: every signed-in professional */
    /* a trailing newline after the JWS (some servers add one) */
    char *nl = malloc(strlen(tok) + 2);
    sprintf(nl, "%s\n", tok);
    assert_int_equal(proconnect_userinfo(nl, "", "", &u, err, sizeof(err)), 0);
    free(nl);
    free(tok);
    free(c);
}

static void test_proconnect_allow_list(void **state)
{
    (void)state;
    char *c = userinfo_claims(NULL);
    char *tok = sign(key, "pc-2026", "ES256", c);
    struct pal_oidc_user u;
    char err[200];
    /* by SIRET */
    assert_int_equal(
        proconnect_userinfo(tok, "11002001300097, 21750001600019", "", &u, err, sizeof(err)), 0);
    assert_true(u.agent);
    /* by email domain, case-insensitive */
    assert_int_equal(
        proconnect_userinfo(tok, "11002001300097", "MAIRIE-exemple.fr", &u, err, sizeof(err)), 0);
    assert_true(u.agent);
    /* neither: a signed-in professional of a company, a guest */
    assert_int_equal(proconnect_userinfo(tok, "11002001300097", "exemple.fr,mairie-exemple.fr.evil",
                                         &u, err, sizeof(err)),
                     0);
    assert_false(u.agent);
    assert_string_equal(u.name, "Jeanne Lefèvre");
    free(tok);
    free(c);
    /* a SIRET printed with spaces, as the documentation shows it */
    c = userinfo_claims("{\"siret\": \"110 020 013 00097\"}");
    tok = sign(key, "pc-2026", "ES256", c);
    assert_int_equal(proconnect_userinfo(tok, "11002001300097", "", &u, err, sizeof(err)), 0);
    assert_string_equal(u.siret, "11002001300097");
    assert_true(u.agent);
    free(tok);
    free(c);
}

static void test_proconnect_userinfo_refusals(void **state)
{
    (void)state;
    struct pal_oidc_user u;
    char err[200];
    char *c = userinfo_claims(NULL);
    /* another key, unknown to the JWKS: -ENOKEY (the caller refetches) */
    char *tok = sign(other, "pc-2027", "ES256", c);
    assert_int_equal(proconnect_userinfo(tok, "", "", &u, err, sizeof(err)), -ENOKEY);
    assert_non_null(strstr(err, "unknown key id"));
    free(tok);
    /* the right kid, the wrong key: a bad signature */
    tok = sign(other, "pc-2026", "ES256", c);
    assert_int_equal(proconnect_userinfo(tok, "", "", &u, err, sizeof(err)), -EACCES);
    assert_non_null(strstr(err, "bad signature"));
    free(tok);
    /* alg none */
    char none[1024];
    char *b64 = NULL;
    size_t n;
    cjose_err cerr;
    cjose_base64url_encode((const uint8_t *)c, strlen(c), &b64, &n, &cerr);
    snprintf(none, sizeof(none), "eyJhbGciOiJub25lIn0.%s.", b64);
    free(b64);
    assert_int_equal(proconnect_userinfo(none, "", "", &u, err, sizeof(err)), -EACCES);
    assert_non_null(strstr(err, "algorithm none refused"));
    free(c);
    /* about someone else; for another client; from another issuer */
    const char *bad[][2] = {
        {"{\"sub\": \"someone-else\"}", "another subject"},
        {"{\"aud\": \"another-service\"}", "wrong issuer or audience"},
        {"{\"iss\": \"https://evil.example\"}", "wrong issuer or audience"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        c = userinfo_claims(bad[i][0]);
        tok = sign(key, "pc-2026", "ES256", c);
        assert_int_equal(proconnect_userinfo(tok, "", "", &u, err, sizeof(err)), -EACCES);
        assert_non_null(strstr(err, bad[i][1]));
        free(tok);
        free(c);
    }
    /* not what was announced */
    json_t *out = NULL;
    assert_int_equal(pal_oidc_userinfo_parse("text/html", "<html>", 6, ver, ISS, CLIENT, SUB, &out,
                                             err, sizeof(err)),
                     -EACCES);
    assert_null(out);
}

static void test_plain_json_userinfo(void **state)
{
    (void)state;
    const char *body = "{\"sub\":\"" SUB "\",\"given_name\":\"Rose\",\"family_name\":\"Tyler\","
                       "\"email\":\"rose@badwolf.org\"}";
    json_t *claims = NULL;
    char err[200];
    assert_int_equal(pal_oidc_userinfo_parse("application/json", body, strlen(body), NULL, ISS,
                                             CLIENT, SUB, &claims, err, sizeof(err)),
                     0);
    struct pal_oidc_user u;
    assert_int_equal(pal_oidc_user_from_claims(claims, ISS, "", "", &u, err, sizeof(err)), 0);
    assert_string_equal(u.name, "Rose Tyler");
    assert_string_equal(u.siret, "");
    json_decref(claims);
    /* no email: the provider's sub, qualified by the issuer */
    json_t *c = json_pack("{s:s, s:s}", "sub", "u-1", "name", "Clara\nOswald");
    assert_int_equal(pal_oidc_user_from_claims(c, ISS, "", "", &u, err, sizeof(err)), 0);
    assert_string_equal(u.sub, "oidc:" ISS "#u-1");
    assert_string_equal(u.name, "Clara Oswald"); /* control characters out */
    json_decref(c);
    assert_int_equal(pal_oidc_userinfo_parse("application/json", "[1]", 3, NULL, ISS, CLIENT, SUB,
                                             &claims, err, sizeof(err)),
                     -EACCES);
}

static json_t *id_claims(const char *over)
{
    json_t *c =
        json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "iss", ISS, "aud", CLIENT, "sub", SUB, "nonce",
                  "n-0123456789", "iat", (json_int_t)NOW, "exp", (json_int_t)NOW + 60);
    if (over) {
        json_t *o = json_loads(over, 0, NULL);
        assert_non_null(o);
        json_object_update(c, o);
        json_decref(o);
    }
    return c;
}

static void test_id_token_claims(void **state)
{
    (void)state;
    char err[200];
    struct {
        const char *over, *why; /* why NULL: accepted */
    } cases[] = {
        {NULL, NULL},
        {"{\"aud\": [\"" CLIENT "\"]}", NULL},
        {"{\"aud\": [\"" CLIENT "\", \"x\"], \"azp\": \"" CLIENT "\"}", NULL},
        {"{\"aud\": [\"" CLIENT "\", \"x\"], \"azp\": \"x\"}", "wrong audience"},
        {"{\"aud\": \"x\"}", "wrong audience"},
        {"{\"iss\": \"" ISS "/\"}", "wrong issuer"},
        {"{\"nonce\": \"n-0123456789x\"}", "wrong nonce"},
        {"{\"exp\": 1799999940}", "ID token expired"}, /* NOW - 60: at the leeway's end */
        {"{\"exp\": 1799999941}", NULL},
        {"{\"iat\": 1800000061}", "issued in the future"},
        {"{\"exp\": \"tomorrow\"}", "no expiry"},
        {"{\"sub\": \"\"}", "no subject"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *c = id_claims(cases[i].over);
        int rc = pal_oidc_check_id_token(c, ISS, CLIENT, "n-0123456789", NOW, 60, err, sizeof(err));
        if (!cases[i].why) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, -EACCES);
            if (!strstr(err, cases[i].why))
                fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].why);
        }
        json_decref(c);
    }
    json_t *c = id_claims(NULL);
    json_object_del(c, "iat");
    assert_int_equal(
        pal_oidc_check_id_token(c, ISS, CLIENT, "n-0123456789", NOW, 60, err, sizeof(err)),
        -EACCES);
    json_decref(c);
}

static void test_discovery(void **state)
{
    (void)state;
    struct pal_oidc_provider p;
    char err[200];
    const char *good = "{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"" ISS "/authorize\","
                       "\"token_endpoint\":\"" ISS "/token\",\"jwks_uri\":\"" ISS "/jwks\","
                       "\"userinfo_endpoint\":\"" ISS "/userinfo\",\"end_session_endpoint\":\"" ISS
                       "/session/end\"}";
    assert_int_equal(pal_oidc_discovery_parse(good, strlen(good), ISS, &p, err, sizeof(err)), 0);
    assert_string_equal(p.end_session_endpoint, ISS "/session/end");
    assert_int_equal(pal_oidc_discovery_parse(good, strlen(good), ISS "/", &p, err, sizeof(err)),
                     -EINVAL);
    const char *http = "{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"http://x/a\","
                       "\"token_endpoint\":\"" ISS "/token\",\"jwks_uri\":\"" ISS "/jwks\"}";
    assert_int_equal(pal_oidc_discovery_parse(http, strlen(http), ISS, &p, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "authorization_endpoint"));
    const char *nojwks = "{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"" ISS "/a\","
                         "\"token_endpoint\":\"" ISS "/token\"}";
    assert_int_equal(pal_oidc_discovery_parse(nojwks, strlen(nojwks), ISS, &p, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "jwks_uri is missing"));
}

static void test_cookie_and_return_path(void **state)
{
    (void)state;
    char v[44];
    assert_int_equal(
        pal_oidc_cookie_value("a=1; palabre_session=abc; b=2", "palabre_session", v, sizeof(v)), 0);
    assert_string_equal(v, "abc");
    assert_int_equal(pal_oidc_cookie_value("xpalabre_session=abc", "palabre_session", v, sizeof(v)),
                     -ENOENT);
    char big[100];
    memset(big, 'a', sizeof(big));
    memcpy(big, "s=", 2);
    big[99] = 0;
    assert_int_equal(pal_oidc_cookie_value(big, "s", v, sizeof(v)), -E2BIG);
    assert_true(pal_oidc_return_path_ok("/r/conseil-municipal"));
    assert_true(pal_oidc_return_path_ok("/"));
    assert_false(pal_oidc_return_path_ok("//evil.example/"));
    assert_false(pal_oidc_return_path_ok("https://evil.example/"));
    assert_false(pal_oidc_return_path_ok("/r/../admin"));
    assert_false(pal_oidc_return_path_ok("/r/x?y=1"));
    assert_false(pal_oidc_return_path_ok(""));
}

int main(void)
{
    pal_log_set_level(PAL_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proconnect_userinfo_jwt),
        cmocka_unit_test(test_proconnect_allow_list),
        cmocka_unit_test(test_proconnect_userinfo_refusals),
        cmocka_unit_test(test_plain_json_userinfo),
        cmocka_unit_test(test_id_token_claims),
        cmocka_unit_test(test_discovery),
        cmocka_unit_test(test_cookie_and_return_path),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
