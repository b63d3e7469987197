/* HTTPS calls to the OpenID Connect provider (discovery, JWKS, token,
 * userinfo) over libcurl: certificates verified against the system store
 * or [oidc] ca_file, https only (redirects not followed), a time limit per
 * call, a size limit on what is read.
 *
 * Thread: any; blocking. Called only on the OIDC worker thread
 * (signaling/oidc.c), never on the signaling thread. */
#ifndef PALABRE_OIDC_FETCH_H
#define PALABRE_OIDC_FETCH_H

#include <stddef.h>

#define PAL_OIDC_FETCH_MAX_BYTES (256 * 1024) /* a JWKS or discovery document is < 20 KiB */

struct pal_oidc_response {
    long status;            /* HTTP status */
    char content_type[128]; /* lowercased, parameters cut ("application/jwt") */
    char *body;             /* malloc'd, NUL-terminated; may hold NULs (len counts them) */
    size_t len;
};

/* Once per process, before any thread calls pal_oidc_fetch. */
int pal_oidc_fetch_global_init(void);

/* GET url (form == NULL) or POST form (application/x-www-form-urlencoded);
 * bearer: an access token for Authorization: Bearer, or NULL. 0 and *out
 * (free with pal_oidc_response_free) whatever the status, or -EHOSTUNREACH,
 * -ETIMEDOUT, -EPROTO (TLS, certificate), -EFBIG (body too large), -EIO,
 * with a message in err. */
int pal_oidc_fetch(const char *url, const char *form, const char *bearer, const char *ca_file,
                   int timeout_seconds, struct pal_oidc_response *out, char *err, size_t errlen);
void pal_oidc_response_free(struct pal_oidc_response *r);

/* application/x-www-form-urlencoded escaping of s (RFC 3986 unreserved kept).
 * malloc'd. */
char *pal_oidc_form_escape(const char *s);

#endif
