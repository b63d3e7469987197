/* What the relying party reads from the provider (contract:
 * include/palabre/oidc_claims.h). Everything here is network input: each
 * check refuses with a reason, nothing asserts. */
#include "palabre/oidc_claims.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "palabre/common.h"
#include "palabre/jwt.h"

#define fail pal_errf /* common.h */
#define REFUSE(...) fail(err, errlen, -EACCES, __VA_ARGS__)

/* A string member without NUL of at most max bytes, else NULL. */
static const char *str(json_t *obj, const char *key, size_t max)
{
    json_t *j = json_object_get(obj, key);
    const char *s = json_string_value(j);
    if (!s || strlen(s) != json_string_length(j) || json_string_length(j) > max)
        return NULL;
    return s;
}

/* An https:// URL that fits size and holds nothing a header or a query
 * could be split with. */
static bool url_ok(const char *s, size_t size)
{
    if (!s || strncmp(s, "https://", 8) != 0 || strlen(s) >= size || strlen(s) < 9)
        return false;
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f || *c == '"' || *c == '<' || *c == '>' ||
            *c == '\\')
            return false;
    return true;
}

int pal_oidc_discovery_parse(const char *body, size_t len, const char *issuer,
                             struct pal_oidc_provider *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    json_error_t jerr;
    json_t *d = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    int rc = 0;
    if (!json_is_object(d)) {
        rc = fail(err, errlen, -EINVAL, "discovery document is not a JSON object");
        goto out;
    }
    const char *iss = str(d, "issuer", 255);
    if (!iss || strcmp(iss, issuer) != 0) {
        rc = fail(err, errlen, -EINVAL, "discovery document's issuer is not %s", issuer);
        goto out;
    }
    struct {
        const char *key;
        char *dst;
        size_t size;
        bool required;
    } eps[] = {
        {"authorization_endpoint", out->authorization_endpoint, sizeof(out->authorization_endpoint),
         true},
        {"token_endpoint", out->token_endpoint, sizeof(out->token_endpoint), true},
        {"jwks_uri", out->jwks_uri, sizeof(out->jwks_uri), true},
        {"userinfo_endpoint", out->userinfo_endpoint, sizeof(out->userinfo_endpoint), false},
        {"end_session_endpoint", out->end_session_endpoint, sizeof(out->end_session_endpoint),
         false},
    };
    for (size_t i = 0; i < sizeof(eps) / sizeof(eps[0]); i++) {
        json_t *j = json_object_get(d, eps[i].key);
        if (!j && !eps[i].required)
            continue;
        const char *u = str(d, eps[i].key, eps[i].size - 1);
        if (!url_ok(u, eps[i].size)) {
            rc = fail(err, errlen, -EINVAL, "discovery document: %s is %s", eps[i].key,
                      j ? "not an https:// URL" : "missing");
            goto out;
        }
        snprintf(eps[i].dst, eps[i].size, "%s", u);
    }
out:
    json_decref(d);
    return rc;
}

static bool audience_ok(json_t *aud, json_t *azp, const char *client_id)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), client_id) == 0;
    if (!json_is_array(aud))
        return false;
    bool found = false;
    size_t i;
    json_t *a;
    json_array_foreach(aud, i, a) found =
        found || (json_is_string(a) && strcmp(json_string_value(a), client_id) == 0);
    /* several audiences: the party it was issued to must be us */
    if (found && json_array_size(aud) > 1 && azp)
        return json_is_string(azp) && strcmp(json_string_value(azp), client_id) == 0;
    return found;
}

int pal_oidc_check_id_token(json_t *claims, const char *issuer, const char *client_id,
                            const char *nonce, int64_t now_s, int leeway_s, char *err,
                            size_t errlen)
{
    const char *iss = str(claims, "iss", 255);
    if (!iss || strcmp(iss, issuer) != 0)
        return REFUSE("wrong issuer");
    if (!audience_ok(json_object_get(claims, "aud"), json_object_get(claims, "azp"), client_id))
        return REFUSE("wrong audience");
    int64_t exp, iat;
    if (pal_jwt_numeric_date(json_object_get(claims, "exp"), &exp))
        return REFUSE("ID token has no expiry (exp)");
    if (now_s >= exp + leeway_s)
        return REFUSE("ID token expired");
    if (pal_jwt_numeric_date(json_object_get(claims, "iat"), &iat))
        return REFUSE("ID token has no issue time (iat)");
    if (iat > now_s + leeway_s)
        return REFUSE("ID token issued in the future (iat)");
    const char *n = str(claims, "nonce", 255);
    if (!n || strcmp(n, nonce) != 0)
        return REFUSE("wrong nonce");
    const char *sub = str(claims, "sub", 255);
    if (!sub || !sub[0])
        return REFUSE("ID token has no subject (sub)");
    return 0;
}

int pal_oidc_userinfo_parse(const char *content_type, const char *body, size_t len,
                            struct pal_jwt_verifier *v, const char *issuer, const char *client_id,
                            const char *sub, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    json_t *claims = NULL;
    if (strcmp(content_type, "application/jwt") == 0) {
        if (!v)
            return REFUSE("signed userinfo but no provider keys");
        /* the JWS text alone: a trailing newline is not part of it */
        char tok[PAL_JWT_MAX_LEN + 1];
        while (len && (body[len - 1] == '\n' || body[len - 1] == '\r' || body[len - 1] == ' '))
            len--;
        if (len > PAL_JWT_MAX_LEN || memchr(body, 0, len))
            return REFUSE("userinfo JWT longer than %d bytes", PAL_JWT_MAX_LEN);
        memcpy(tok, body, len);
        tok[len] = '\0';
        char why[200] = "";
        int rc = pal_jwt_verify_signature(v, tok, &claims, why, sizeof(why));
        if (rc)
            return fail(err, errlen, rc, "userinfo: %s", why);
        const char *iss = str(claims, "iss", 255);
        json_t *aud = json_object_get(claims, "aud");
        if ((json_object_get(claims, "iss") && (!iss || strcmp(iss, issuer) != 0)) ||
            (aud && !audience_ok(aud, NULL, client_id))) {
            json_decref(claims);
            return REFUSE("userinfo: wrong issuer or audience");
        }
    } else if (strcmp(content_type, "application/json") == 0) {
        json_error_t jerr;
        claims = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(claims)) {
            json_decref(claims);
            return REFUSE("userinfo is not a JSON object");
        }
    } else {
        return REFUSE("userinfo: unexpected content type '%.40s'", content_type);
    }
    const char *s = str(claims, "sub", 255);
    if (!s || strcmp(s, sub) != 0) {
        json_decref(claims);
        return REFUSE("userinfo is about another subject");
    }
    *out = claims;
    return 0;
}

/* Copies a display string: control characters become spaces, cut at a
 * UTF-8 boundary. */
static void copy_text(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size) {
        n = size - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    for (size_t i = 0; i < n; i++)
        dst[i] = ((unsigned char)src[i] < 0x20 || src[i] == 0x7f) ? ' ' : src[i];
    dst[n] = '\0';
}

/* Whether item is one of the comma-separated list (spaces around items
 * ignored; case-insensitive when nocase). */
static bool in_list(const char *list, const char *item, bool nocase)
{
    size_t n = strlen(item);
    const char *p = list;
    while (n && *p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && t[-1] == ' ')
            t--;
        if ((size_t)(t - p) == n && (nocase ? strncasecmp(p, item, n) : strncmp(p, item, n)) == 0)
            return true;
        p = e;
    }
    return false;
}

int pal_oidc_user_from_claims(json_t *claims, const char *issuer, const char *agent_siret,
                              const char *agent_email_domains, struct pal_oidc_user *out, char *err,
                              size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *sub = str(claims, "sub", 255);
    if (!sub || !sub[0])
        return REFUSE("no subject (sub)");
    const char *email = str(claims, "email", 200);
    const char *given = str(claims, "given_name", 200), *usual = str(claims, "usual_name", 200);
    const char *family = str(claims, "family_name", 200), *name = str(claims, "name", 200);
    const char *siret = str(claims, "siret", 20);
    /* an address, or none: no space or control character (it becomes the
     * agent's key and is shown) */
    for (const char *c = email; c && *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            email = NULL;
    if (email && !strchr(email, '@'))
        email = NULL;
    if (email) {
        size_t i = 0;
        for (; email[i] && i + 1 < sizeof(out->email); i++)
            out->email[i] = (char)tolower((unsigned char)email[i]);
        out->email[i] = '\0';
        memcpy(out->sub, "oidc:", 5);
        memcpy(out->sub + 5, out->email, i + 1); /* email: at most 200 bytes */
    } else {
        char both[600];
        snprintf(both, sizeof(both), "oidc:%s#%s", issuer, sub);
        copy_text(out->sub, sizeof(out->sub), both);
    }
    const char *last = usual && usual[0] ? usual : family;
    char full[420];
    if (given && given[0] && last && last[0])
        snprintf(full, sizeof(full), "%s %s", given, last);
    else if (name && name[0])
        snprintf(full, sizeof(full), "%s", name);
    else if ((given && given[0]) || (last && last[0]))
        snprintf(full, sizeof(full), "%s", given && given[0] ? given : last);
    else
        snprintf(full, sizeof(full), "%s", out->email[0] ? out->email : sub);
    copy_text(out->name, sizeof(out->name), full);
    /* 14 digits; spaces between the groups (as documents print it) dropped */
    size_t nd = 0;
    for (const char *c = siret; c && *c && nd < 15; c++)
        if (*c >= '0' && *c <= '9')
            out->siret[nd++] = *c;
        else if (*c != ' ')
            nd = 15;
    out->siret[nd == 14 ? 14 : 0] = '\0';
    bool lists = (agent_siret && agent_siret[0]) || (agent_email_domains && agent_email_domains[0]);
    const char *at = out->email[0] ? strrchr(out->email, '@') : NULL;
    out->agent = !lists ||
                 (out->siret[0] && agent_siret && in_list(agent_siret, out->siret, false)) ||
                 (at && agent_email_domains && in_list(agent_email_domains, at + 1, true));
    return 0;
}

int pal_oidc_cookie_value(const char *header, const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);
    const char *p = header;
    while (p && *p) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *e = strchr(p, ';');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len > n && strncmp(p, name, n) == 0 && p[n] == '=') {
            size_t v = len - n - 1;
            if (v + 1 > outlen)
                return -E2BIG;
            memcpy(out, p + n + 1, v);
            out[v] = '\0';
            return 0;
        }
        p = e;
    }
    return -ENOENT;
}

int pal_oidc_return_path_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 200 || s[0] != '/' || strstr(s, "//") || strstr(s, ".."))
        return 0;
    for (const char *c = s; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("/_.~-", *c))
            return 0;
    return 1;
}
