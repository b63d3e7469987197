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

/* Who a session is (auth, or join's credentials), kept for its life. */
struct pal_identity {
    bool known; /* set by auth or by a join */
    bool agent; /* false: a guest (came with an invite) */
    char sub[256];   /* "local:<hex>" (open mode), the token's sub, "anon:<participant id>" */
    char name[256];  /* the token's name; "" in open mode (the join's name is used) */
    char email[256]; /* "" when unknown */
};
/* The session's identity (session.c; never NULL). */
struct pal_identity *pal_session_identity(struct pal_session *s);

/* The participant object of docs/protocol.md (handlers.c). */
json_t *pal_participant_json(const struct pal_participant *p);

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

/* Bans p for the rest of the meeting by every key it has (sub for agents,
 * invite id and guest_key for guests, its resume token); whether any of
 * them is banned. */
int pal_access_ban_participant(struct pal_server *srv, const struct pal_participant *p);
bool pal_access_is_banned(struct pal_server *srv, const struct pal_participant *p);
/* A resume with the token of someone removed with a ban: answers banned
 * and returns true. */
/* OpenID Connect: an agent's participant resumes only on a connection that
 * carries a live session of that agent (its rights ended with its session:
 * signed out or expired while disconnected). Always true in other modes and
 * for guests. */
bool pal_access_resume_allowed(struct pal_session *s, const struct pal_participant *p);
bool pal_access_resume_banned_or_reply(struct pal_session *s, json_t *id, const char *room,
                                       const char *token);

/* Sends msg (stolen) to the room's owner and moderators (not the lobby). */
void pal_access_send_to_moderators(struct pal_server *srv, const char *room, json_t *msg);

/* The entry decision of a join without resume (docs/protocol.md, Roles):
 * p was just added to its room (pal_rooms_join, not yet announced); this
 * reads join's credentials (invite, token, agent_key, guest_key, role),
 * sets p's identity, role and waiting, and creates the stored room when an
 * agent names an unknown one. On refusal it answers the error and returns
 * false (the caller removes p). */
bool pal_access_enter_or_reply(struct pal_session *s, json_t *id, json_t *req,
                               struct pal_participant *p);
/* The data of a join response for p in the meeting (room, participant,
 * participants, resume_token, resumed, last_message_id, receive,
 * room_info, and lobby for moderators); for a waiting p, the lobby
 * response (room, lobby: true, room_info, participant, resume_token). */
json_t *pal_access_join_data(struct pal_server *srv, const struct pal_participant *p,
                             bool resumed);
/* mod just became a moderator: one lobby_knock per participant already
 * waiting, to mod only (the others knew). */
void pal_access_show_lobby(struct pal_server *srv, struct pal_participant *mod);
/* p entered the lobby: lobby_knock to the moderators. */
void pal_access_lobby_knock(struct pal_server *srv, const struct pal_participant *p);
/* A waiting p leaves the lobby (admitted, denied, left, timeout):
 * lobby_left to the moderators. */
void pal_access_lobby_left(struct pal_server *srv, const struct pal_participant *p,
                           const char *reason);
/* Lets go whoever has waited in a lobby longer than [access]
 * lobby_wait_seconds: `denied {timeout: true}`, close 4003, lobby_left
 * (timeout) to the moderators. Signaling thread, from the periodic sweep. */
void pal_access_lobby_sweep(struct pal_server *srv, int64_t now_ms);
/* chat_send by a guest while the room's guest_chat is off: forbidden. */
bool pal_access_may_chat_or_reply(struct pal_session *s, json_t *id);

/* The server's room store (opened next to the chat). */
struct pal_room_store *pal_server_room_store(struct pal_server *srv);

/* handlers: registers auth, room_create, rooms_mine, lobby_*, invite_*
 * (access.c) and mute, allow_unmute, mute_all, remove, room_update,
 * end_meeting, set_role, journal (moderation.c). */
int pal_access_register(struct pal_server *srv);
int pal_moderation_register(struct pal_server *srv);

#endif
