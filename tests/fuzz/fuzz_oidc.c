/* Fuzz target: what the OpenID Connect relying party reads from the
 * provider and the browser (signaling/oidc_claims.c). The first byte picks
 * the parser, the rest is its input:
 *   'd' discovery document (issuer ISS)      'u' userinfo as JSON, then the
 *   'j' userinfo as application/jwt (no keys:    agent's identity from it
 *       must be refused)                     'i' ID token claims (JSON)
 *   'c' Cookie header                        'r' return path
 * Invariants: a refusal is a negative errno with a reason; what is accepted
 * gives bounded strings without control characters. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/log.h"
#include "palabre/oidc_claims.h"

#define ISS "https://idp.example.fr"
#define CLIENT "palabre"
#define FUZZ_NOW 1800000000LL

static void check_text(const char *s, size_t size)
{
    if (strnlen(s, size) == size)
        abort();
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pal_log_set_level(PAL_LOG_OFF);
    if (size < 1 || size > 65536)
        return 0;
    char *in = malloc(size); /* NUL-terminated copy of data[1..] */
    memcpy(in, data + 1, size - 1);
    in[size - 1] = 0;
    size_t len = size - 1;
    char err[300] = "";
    int rc = 0;
    json_t *claims = NULL;
    switch (data[0]) {
    case 'd': {
        struct pal_oidc_provider p;
        rc = pal_oidc_discovery_parse(in, len, ISS, &p, err, sizeof(err));
        if (rc == 0 &&
            (strncmp(p.authorization_endpoint, "https://", 8) ||
             strncmp(p.token_endpoint, "https://", 8) || strncmp(p.jwks_uri, "https://", 8)))
            abort();
        break;
    }
    case 'u':
    case 'j':
        rc = pal_oidc_userinfo_parse(data[0] == 'u' ? "application/json" : "application/jwt", in,
                                     len, NULL, ISS, CLIENT, "s-1", &claims, err, sizeof(err));
        if (data[0] == 'j' && rc == 0)
            abort(); /* no keys: nothing signed can pass */
        if (rc == 0) {
            struct pal_oidc_user u;
            rc = pal_oidc_user_from_claims(claims, ISS, "21750001600019", "mairie.fr", &u, err,
                                           sizeof(err));
            if (rc == 0) {
                check_text(u.sub, sizeof(u.sub));
                check_text(u.name, sizeof(u.name));
                check_text(u.email, sizeof(u.email));
                if (u.siret[0] && strlen(u.siret) != 14)
                    abort();
            }
        }
        break;
    case 'i':
        claims = json_loadb(in, len, 0, NULL);
        if (!json_is_object(claims))
            break;
        rc = pal_oidc_check_id_token(claims, ISS, CLIENT, "n-1", FUZZ_NOW, 60, err, sizeof(err));
        break;
    case 'c': {
        char v[44];
        rc = pal_oidc_cookie_value(in, "palabre_session", v, sizeof(v));
        if (rc == 0 && strnlen(v, sizeof(v)) == sizeof(v))
            abort();
        if (rc && rc != -ENOENT && rc != -E2BIG)
            abort();
        rc = 0;
        break;
    }
    case 'r':
        if (pal_oidc_return_path_ok(in) && (in[0] != '/' || strstr(in, "//") || strchr(in, '?')))
            abort();
        break;
    default:
        break;
    }
    if (rc && (rc >= 0 || !err[0]))
        abort(); /* a refusal says why */
    json_decref(claims);
    free(in);
    return 0;
}
