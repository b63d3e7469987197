/* OpenID Connect sign-in for agents ([access] agents = oidc, [oidc] keys):
 * Palabre as a relying party of ProConnect or the collectivité's provider.
 *
 *   GET /oidc/login[?return_to=/r/<room>]  303 to the provider (code flow,
 *        PKCE S256, state and nonce of 43 random base64url characters kept
 *        server-side for 10 minutes)
 *   GET /oidc/callback?code&state          token request, ID token and
 *        userinfo checked, a session stored (SQLite), cookie palabre_session
 *        (HttpOnly, SameSite=Lax, Secure over TLS), 303 to return_to
 *   GET /oidc/logout                       session deleted, cookie cleared,
 *        303 to the provider's end_session_endpoint with id_token_hint
 *   GET /oidc/me                           {"signed_in", "name", "email",
 *        "agent"} for the client (no secret)
 * A refusal or an unreachable provider answers an HTML page that says why
 * (403, 502), and creates no session. /oidc/login and /oidc/callback: at
 * most [oidc] logins_per_ip_per_minute per address, max_pending_logins
 * sign-ins started and not back: beyond, 429 with Retry-After.
 *
 * Calls to the provider block (libcurl, [oidc] timeout_seconds each): they
 * run on the module's own worker thread; the HTTP request waits, the
 * signaling thread does not. Jobs carry plain data; results come back
 * through the server's wake hook. The worker alone owns the discovery
 * document and the JWKS (refetched on an unknown kid, at most every 10 s).
 *
 * Thread: the signaling thread, for every function here. Owner:
 * signaling/oidc.c. */
#ifndef PALABRE_OIDC_H
#define PALABRE_OIDC_H

#include <stdbool.h>

struct lws;
struct pal_server;
struct pal_session;
struct pal_oidc;

#define PAL_OIDC_COOKIE "palabre_session"
/* WebSocket close code when the session a connection was opened with ends
 * (reason "signed out" or "session expired"); the participant has left. */
#define PAL_OIDC_CLOSE_SESSION_ENDED 4010

/* Opens the sign-in store and starts the worker. 0 or -errno (logged). */
int pal_oidc_create(struct pal_server *srv, struct pal_oidc **out);
/* Stops the worker (a call in progress ends by its timeout), closes. */
void pal_oidc_destroy(struct pal_oidc *o);

/* Whether path is one of the routes above. */
bool pal_oidc_is_route(const char *path);
/* LWS_CALLBACK_HTTP for such a path (GET or HEAD). Returns the callback's
 * return value. */
int pal_oidc_http(struct pal_oidc *o, struct lws *wsi, const char *path);
/* LWS_CALLBACK_HTTP_WRITEABLE: *mine false when wsi is not waiting on this
 * module. */
int pal_oidc_http_writeable(struct pal_oidc *o, struct lws *wsi, bool *mine);
/* LWS_CALLBACK_CLOSED_HTTP: forgets wsi (a job's answer is then dropped). */
void pal_oidc_http_closed(struct pal_oidc *o, struct lws *wsi);

/* At the WebSocket's ESTABLISHED (headers still there): the session cookie
 * of a signed-in agent makes the connection conn that agent (its identity
 * filled: known, agent unless outside the allow list, sub, name, email).
 * Nothing changes without a live session. The connection is then followed:
 * signing out (any tab) or the session's expiry (checked every 5 s) closes
 * it with PAL_OIDC_CLOSE_SESSION_ENDED after its participant left. */
void pal_oidc_identify(struct pal_oidc *o, struct lws *wsi, struct pal_session *conn);
/* At the WebSocket's CLOSED, before the session goes: forgets conn. */
void pal_oidc_connection_closed(struct pal_oidc *o, struct pal_session *conn);

#endif
