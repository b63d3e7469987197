/* Moderation (docs/protocol.md, Roles and moderation): the requests mute,
 * allow_unmute, mute_all, remove, room_update, end_meeting, set_role and
 * journal (registered by pal_moderation_register, declared in access.h),
 * and the rule they leave behind for set_state.
 *
 * Thread: the signaling thread only. Owner: signaling/moderation.c. */
#ifndef PALABRE_MODERATION_H
#define PALABRE_MODERATION_H

#include <jansson.h>
#include <stdbool.h>

#include "palabre/signaling.h"

/* set_state's hard-mute rule, before it changes anything: a participant
 * whose microphone a moderator blocked cannot turn it on (mic: true), nor
 * the camera or a screen share (both video) when the camera is blocked.
 * Refuses with muted_by_moderator (field: the refused one) and returns
 * false; true when req asks nothing blocked. */
bool pal_moderation_state_allowed_or_reply(struct pal_session *s, json_t *id, json_t *req);

#endif
