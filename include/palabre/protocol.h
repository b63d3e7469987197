/* Protocol helpers (docs/protocol.md): response envelopes, text rules, and
 * the validators beyond those declared in signaling.h.
 *
 * Thread: the signaling thread only. Owner: signaling/protocol.c. */
#ifndef PALABRE_PROTOCOL_H
#define PALABRE_PROTOCOL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "palabre/signaling.h"

#define PAL_CHAT_TEXT_MAX 4000
#define PAL_ID_MAX 64 /* request id strings, client_msg_id */

/* Checks that s[0..len) is valid UTF-8 (no overlong forms, surrogates, NUL)
 * and has no control character (C0, DEL, C1) except, when allow_nl_tab,
 * '\n' and '\t'. On success returns 0 and the number of code points in
 * *chars; otherwise -EINVAL and a static reason in *why. */
int pal_text_check(const char *s, size_t len, bool allow_nl_tab, size_t *chars, const char **why);

/* Chat text: valid UTF-8, 1..PAL_CHAT_TEXT_MAX code points, no control
 * character but \n and \t. Sends bad_field/missing_field itself. */
const char *pal_text_or_reply(struct pal_session *s, json_t *id, json_t *req, const char *field,
                              size_t max_chars);
/* Room name: 1..64 of [a-z0-9-]. */
const char *pal_room_or_reply(struct pal_session *s, json_t *id, json_t *req, const char *field);

/* A receive mode (set_receive's mode, join's receive): "sfu" (one track per
 * participant) or "mixed" (the room's mix); *mixed says which. Absent: with
 * required, missing_field; without, false and no reply. */
bool pal_receive_mode_or_reply(struct pal_session *s, json_t *id, json_t *req, const char *field,
                               bool required, bool *mixed);

/* Reads the request envelope: *id_out is the request id (borrowed) or NULL.
 * Returns 0, or sends the error (id null) and returns -EINVAL. */
int pal_request_id_or_reply(struct pal_session *s, json_t *req, json_t **id_out);

/* {"type":"response","id":id,"ok":true,"data":data} (data stolen) */
json_t *pal_response_ok(json_t *id, json_t *data);
json_t *pal_response_error(json_t *id, const char *code, const char *field, const char *message);

#endif
