/* TURN credentials for the browser (draft-uberti-behave-turn-rest-00, as
 * coturn's use-auth-secret checks them): for each participant, at join,
 *
 *   username   = "<expiry, Unix seconds>:<participant id>"
 *   credential = base64(HMAC-SHA1([turn] secret, username))
 *
 * coturn recomputes the credential from the same shared secret and refuses it
 * once the expiry has passed; palabre never talks to coturn.
 *
 * Owner: signaling/turn.c. Pure functions: any thread. */
#ifndef PALABRE_TURN_H
#define PALABRE_TURN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h> /* now_s: time(NULL), wall clock like coturn's */

struct pal_config;

/* The RTCIceServer list for one participant, valid until now_s +
 * [turn] ttl_seconds: [{"urls": [...], "username": ..., "credential": ...}].
 * NULL when [turn] is not configured (or on allocation failure). */
json_t *pal_turn_ice_servers(const struct pal_config *cfg, const char *participant_id,
                             int64_t now_s);

/* The same, or an empty list when [turn] is not configured: what a join's
 * data carries as ice_servers. */
json_t *pal_turn_ice_servers_or_empty(const struct pal_config *cfg, const char *participant_id,
                                      int64_t now_s);

/* base64(HMAC-SHA1(secret, username)) into out (NUL-terminated, 28 chars).
 * 0, or -ENOSPC when out is shorter than 29 bytes, -EIO when OpenSSL fails. */
int pal_turn_credential(const char *secret, const char *username, char *out, size_t outlen);

#endif
