/* Who may do what in a room (docs/protocol.md, Roles): the checks and the
 * announcements that the access handlers (signaling/access.c: auth, rooms,
 * join's entry decision, lobby, invites) and the moderation handlers
 * (signaling/moderation.c) share.
 *
 * Thread: the signaling thread only. Owner: signaling/access.c. */
#ifndef PALABRE_ACCESS_H
#define PALABRE_ACCESS_H

#include <jansson.h>
#include <stdbool.h>

#include "palabre/signaling.h"

struct pal_participant;
struct pal_room_store;

/* Owner or moderator. */
bool pal_access_can_moderate(const struct pal_participant *p);
/* Whether actor may act on target (mute, remove, set_role...): never on
 * the owner, a moderator only on participants and guests, nobody on
 * themselves. */
bool pal_access_can_act_on(const struct pal_participant *actor,
                           const struct pal_participant *target);
/* Refuses (error forbidden, "needs a moderator") and returns false unless
 * the session's participant may moderate. */
bool pal_access_moderator_or_reply(struct pal_session *s, json_t *id);

/* Stores the action in the room's journal and sends the moderation event
 * {action, by, target, detail} to everyone in the room (not the lobby).
 * target and detail may be NULL. */
void pal_access_announce(struct pal_server *srv, const struct pal_participant *actor,
                         const char *action, const struct pal_participant *target,
                         const char *detail);

/* RoomInfo of docs/protocol.md for p (your_role is p's), or NULL on error. */
json_t *pal_access_room_info(struct pal_server *srv, const char *room,
                             const struct pal_participant *p);

/* The server's room store (opened next to the chat). */
struct pal_room_store *pal_server_room_store(struct pal_server *srv);

/* handlers: registers auth, room_create, rooms_mine, lobby_*, invite_*
 * (access.c) and mute, allow_unmute, mute_all, remove, room_update,
 * end_meeting, set_role, journal (moderation.c). */
int pal_access_register(struct pal_server *srv);
int pal_moderation_register(struct pal_server *srv);

#endif
