/* What OpenID Connect sign-in keeps in SQLite (DIR/palabre.db, its own
 * schema version "oidc_schema_version"):
 *  - pending sign-ins: state -> nonce, PKCE verifier, where to go back,
 *    created_ms; taken (read and deleted) once by the callback, so that a
 *    state is used at most once; older than PAL_OIDC_PENDING_MS: expired;
 *  - sessions: only the SHA-256 of the cookie's random token is stored
 *    (a copy of the database does not sign anyone in), with the agent's
 *    identity, the ID token (for the provider's id_token_hint at sign-out),
 *    created, last seen (idle timeout) and expiry.
 *
 * Thread: the signaling thread (owner of the connection). */
#ifndef PALABRE_OIDC_STORE_H
#define PALABRE_OIDC_STORE_H

#include <stdbool.h>
#include <stdint.h>

#define PAL_OIDC_PENDING_MS (10 * 60 * 1000) /* a sign-in at the provider: 10 min */
#define PAL_OIDC_RANDOM_LEN 43               /* base64url of 32 random bytes */

struct pal_oidc_store;

struct pal_oidc_pending {
    char state[PAL_OIDC_RANDOM_LEN + 1];
    char nonce[PAL_OIDC_RANDOM_LEN + 1];
    char verifier[PAL_OIDC_RANDOM_LEN + 1]; /* PKCE code_verifier */
    char return_to[256];                    /* a path on this site ("/r/<room>") */
    int64_t created_ms;
};

struct pal_oidc_user {
    char sub[256]; /* Palabre's key for the agent: "oidc:<email>" (lowercased), else
                    * "oidc:<iss-sub>": ProConnect's sub differs per service */
    char name[256];
    char email[256];
    char siret[32];
    bool agent; /* false: a signed-in professional outside the allow list (a guest) */
};

struct pal_oidc_session {
    struct pal_oidc_user user;
    char id_token[8192];
    int64_t created_ms, last_seen_ms, expires_ms;
};

int pal_oidc_store_open(const char *data_dir, struct pal_oidc_store **out);
void pal_oidc_store_close(struct pal_oidc_store *st);

/* Saves p after deleting the expired ones; -ENOSPC when max are held
 * already (nothing is dropped: an attacker starting sign-ins must not push
 * out those of real users, who then get a clear 429). */
int pal_oidc_store_pending_put(struct pal_oidc_store *st, const struct pal_oidc_pending *p,
                               int max);
/* Takes the pending sign-in of state: 0 and *out (deleted), -ENOENT (unknown
 * or already used), -ETIMEDOUT (expired at now_ms; deleted too). */
int pal_oidc_store_pending_take(struct pal_oidc_store *st, const char *state, int64_t now_ms,
                                struct pal_oidc_pending *out);

/* New session for token (the cookie's value; only its hash is kept). */
int pal_oidc_store_session_put(struct pal_oidc_store *st, const char *token,
                               const struct pal_oidc_session *s);
/* The live session of token at now_ms, its last_seen set to now_ms (written
 * only when idle_ms / 8 old: an open connection checks its session every
 * few seconds, the database is not rewritten each time): 0 and
 * *out; -ENOENT (unknown, or signed out), -ETIMEDOUT (past its lifetime or
 * idle timeout idle_ms: deleted). */
int pal_oidc_store_session_get(struct pal_oidc_store *st, const char *token, int64_t now_ms,
                               int64_t idle_ms, struct pal_oidc_session *out);
int pal_oidc_store_session_delete(struct pal_oidc_store *st, const char *token);
/* Deletes expired sessions and pending sign-ins; how many. */
int pal_oidc_store_expire(struct pal_oidc_store *st, int64_t now_ms, int64_t idle_ms);

#endif
