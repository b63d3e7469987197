/* OpenID Connect relying party: what it reads from the provider, as pure
 * functions (no network, no clock, no database): the discovery document,
 * the ID token's claims (after its signature: jwt.h), the userinfo answer
 * (plain JSON, or a signed JWT as ProConnect sends it), the agent's
 * identity and whether the allow list makes them an agent, the session
 * cookie in a Cookie header.
 *
 * Thread: any. Owner: signaling/oidc_claims.c. */
#ifndef PALABRE_OIDC_CLAIMS_H
#define PALABRE_OIDC_CLAIMS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "palabre/oidc_store.h"

struct pal_jwt_verifier;

/* The endpoints of the discovery document (RFC 8414 / OIDC Discovery). */
struct pal_oidc_provider {
    char authorization_endpoint[512];
    char token_endpoint[512];
    char userinfo_endpoint[512]; /* "" when the provider has none */
    char jwks_uri[512];
    char end_session_endpoint[512]; /* "" when none: sign-out stays local */
};

/* Parses <issuer>/.well-known/openid-configuration: its issuer must equal
 * issuer exactly; authorization, token and jwks endpoints are required and
 * must be https:// URLs (as userinfo and end_session when present). 0 or
 * -EINVAL with the reason. */
int pal_oidc_discovery_parse(const char *body, size_t len, const char *issuer,
                             struct pal_oidc_provider *out, char *err, size_t errlen);

/* The ID token's claims (signature checked already) at now_s: iss equal to
 * issuer; aud client_id or an array holding it (then azp, if present,
 * client_id); exp in the future, iat present and not in the future (both
 * with leeway_s); nonce equal to nonce; sub of 1..255 bytes. 0 or -EACCES
 * with the reason ("wrong nonce", "wrong audience", "wrong issuer", "ID
 * token expired", ...). */
int pal_oidc_check_id_token(json_t *claims, const char *issuer, const char *client_id,
                            const char *nonce, int64_t now_s, int leeway_s, char *err,
                            size_t errlen);

/* The userinfo answer (content_type lowercased, without parameters):
 * application/json: a JSON object; application/jwt: a JWS verified by v
 * (the provider's JWKS; -ENOKEY passed on for a kid it lacks), whose iss
 * and aud, when present, must be issuer and client_id. Either way its sub
 * must equal sub (OIDC Core 5.3.2). 0 and *out (a new reference), or
 * -EACCES / -ENOKEY with the reason. */
int pal_oidc_userinfo_parse(const char *content_type, const char *body, size_t len,
                            struct pal_jwt_verifier *v, const char *issuer, const char *client_id,
                            const char *sub, json_t **out, char *err, size_t errlen);

/* The agent from the merged claims (userinfo over the ID token's):
 * user->sub "oidc:<email>" (email lowercased; ProConnect's sub differs per
 * service, so a returning agent is matched by email), else
 * "oidc:<issuer>#<sub>"; name from given_name + usual_name (ProConnect),
 * else given_name + family_name, else name, else email; siret when it is 14
 * digits (spaces between them dropped). agent: true when both lists are empty, else when siret is
 * in agent_siret or the email's domain in agent_email_domains (comma-separated, case-insensitive
 * for domains). 0 or -EACCES (no sub). */
int pal_oidc_user_from_claims(json_t *claims, const char *issuer, const char *agent_siret,
                              const char *agent_email_domains, struct pal_oidc_user *out, char *err,
                              size_t errlen);

/* The value of cookie name in a Cookie header: 0 and out, -ENOENT, or
 * -E2BIG when longer than outlen - 1. */
int pal_oidc_cookie_value(const char *header, const char *name, char *out, size_t outlen);

/* Whether s is a path on this site that sign-in may return to: "/" then
 * [A-Za-z0-9/_.~-] (no "//", no "..", at most 200 bytes). */
int pal_oidc_return_path_ok(const char *s);

#endif
