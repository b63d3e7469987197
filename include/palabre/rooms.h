/* Rooms and their participants, behind one small interface so that room
 * ownership can later move to Redis. Pure bookkeeping: no I/O, no JSON; time
 * is passed in (now_ms, monotonic) so tests drive the resume window without
 * sleeping.
 *
 * A room is created by the first join and destroyed when its last
 * participant is gone (left, or disconnected past the resume window).
 *
 * Thread: the signaling thread only (or a test). Owner: signaling/rooms.c. */
#ifndef PALABRE_ROOMS_H
#define PALABRE_ROOMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAL_ROOM_MAX 64        /* room name: 1 to 64 of [a-z0-9-] */
#define PAL_PARTICIPANT_ID_LEN 14 /* "p_" + 12 hex */
#define PAL_RESUME_TOKEN_LEN 64   /* 32 random bytes, hex */

/* Powers, highest first (docs/protocol.md, Roles): the owner of the stored
 * room; moderators the owner named; participants (agents); guests (came by
 * an invite link). */
enum pal_role { PAL_ROLE_OWNER, PAL_ROLE_MODERATOR, PAL_ROLE_PARTICIPANT, PAL_ROLE_GUEST };

struct pal_participant {
    /* borrowed */
    void *owner; /* the session (signaling): set and read by the caller */
    void *media; /* media signaling's state for this participant (its own; NULL until set) */
    /* owned */
    char id[PAL_PARTICIPANT_ID_LEN + 1];
    char room[PAL_ROOM_MAX + 1];
    char *name;
    char resume_token[PAL_RESUME_TOKEN_LEN + 1];
    /* identity (who they are, from auth or the invite; owned strings) */
    bool is_agent;       /* an agent (open mode or a verified token); false: a guest */
    char *sub;           /* the agent's stable id (token sub, or open mode's key hash); NULL for guests */
    char *email;         /* NULL when unknown */
    int64_t invite_id;   /* guests: the invite link they came with (0: none) */
    char *invite_label;  /* guests: that link's label, shown in the lobby */
    char *guest_key;     /* guests: their browser's key (for bans), NULL when none */
    /* state */
    enum pal_role role;
    bool waiting;        /* in the lobby: in no list, gets no event, no chat, no media */
    int64_t waiting_since_ms; /* when it entered the lobby ([access] lobby_wait_seconds) */
    bool mic_blocked, camera_blocked; /* hard mute by a moderator: not forwarded, cannot unmute */
    bool mic, camera, screen;
    bool receive_mixed; /* receive "mixed" in force (join's, once admitted; media keeps it) */
    bool disconnected;
    int64_t expires_ms; /* when disconnected: end of the resume window */
};

struct pal_rooms;

struct pal_rooms *pal_rooms_create(int max_rooms, int max_participants_per_room,
                                   int resume_seconds);
/* Frees every room and participant (no callbacks). */
void pal_rooms_destroy(struct pal_rooms *r);

const char *pal_role_name(enum pal_role role);
/* "participant" or "guest" (what a client may ask for: never more than it is); -EINVAL otherwise. */
int pal_role_parse(const char *name, enum pal_role *out);

/* Adds a participant to room (creating it) with role `requested` (being
 * first gives nothing: signaling/access.c decides roles). Waiting
 * participants (the lobby) count against max_participants_per_room.
 * Returns 0, -EUSERS when the room is full, -EMFILE when creating the room
 * would pass max_rooms, -ENOMEM. */
int pal_rooms_join(struct pal_rooms *r, const char *room, const char *name, enum pal_role requested,
                   struct pal_participant **out);
/* As pal_rooms_join, with the given id ("p_" + 12) and resume token (64):
 * a participant coming back on a cluster's new home (cluster.h). Also
 * -EEXIST (the id is taken here), -EINVAL. */
int pal_rooms_join_as(struct pal_rooms *r, const char *room, const char *name, enum pal_role role,
                      const char *id, const char *token, struct pal_participant **out);
/* Finds the participant of room holding token, connected or within its
 * resume window; marks it connected again. Returns 0 or -ENOENT. */
int pal_rooms_resume(struct pal_rooms *r, const char *room, const char *token, int64_t now_ms,
                     struct pal_participant **out);
/* The connection dropped: the participant waits resume_seconds from
 * last_seen_ms (the last time the client was heard from). */
void pal_rooms_disconnect(struct pal_rooms *r, struct pal_participant *p, int64_t last_seen_ms);
/* Removes and frees p; destroys its room when nobody is left. */
void pal_rooms_remove(struct pal_rooms *r, struct pal_participant *p);

/* Calls fn for each disconnected participant whose window ended at now_ms;
 * fn must remove it (pal_rooms_remove). Returns how many expired. */
typedef void (*pal_rooms_participant_fn)(struct pal_participant *p, void *ud);
int pal_rooms_expire(struct pal_rooms *r, int64_t now_ms, pal_rooms_participant_fn fn, void *ud);

/* Iteration over one room's participants in the meeting, waiting ones (the
 * lobby) skipped (fn must not add or remove participants); over one room's
 * lobby; or over every participant of every room, waiting ones included
 * (fn may remove the one it is given). */
void pal_rooms_each_in_room(struct pal_rooms *r, const char *room, pal_rooms_participant_fn fn,
                            void *ud);
void pal_rooms_each_waiting(struct pal_rooms *r, const char *room, pal_rooms_participant_fn fn,
                            void *ud);
void pal_rooms_each(struct pal_rooms *r, pal_rooms_participant_fn fn, void *ud);

/* Bans for the rest of the meeting (until the room is destroyed, when its
 * last participant, waiting ones included, is gone). key: "sub:<sub>"
 * (agents), "invite:<id>" (the link a guest came with) or "guest:<key>"
 * (a guest's browser key). At most PAL_ROOM_MAX_BANS per room (-ENOSPC).
 * 0, -ENOENT (no such room), -ENOMEM. */
#define PAL_ROOM_MAX_BANS 1000
int pal_rooms_ban(struct pal_rooms *r, const char *room, const char *key);
bool pal_rooms_is_banned(struct pal_rooms *r, const char *room, const char *key);
/* Calls fn with each ban key of room's meeting. */
void pal_rooms_each_ban(struct pal_rooms *r, const char *room,
                        void (*fn)(const char *key, void *ud), void *ud);

struct pal_participant *pal_rooms_find_participant(struct pal_rooms *r, const char *id);
int pal_rooms_count(const struct pal_rooms *r);
/* Participants in room (connected or waiting), 0 when it does not exist. */
int pal_rooms_room_size(struct pal_rooms *r, const char *room);

#endif
