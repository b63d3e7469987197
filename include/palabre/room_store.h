/* Stored rooms, their invite links, named moderators and journal: tables in
 * the data directory's SQLite database (DIR/palabre.db, the chat's file, on
 * a connection of their own; WAL). Schema in signaling/room_store.c, its
 * version in its own table (access_schema_version).
 *
 * A room is the service's meeting place: its name is the URL slug, it has a
 * title, an owner (the agent who created it) and settings; its chat (chat
 * store) stays between meetings. Live meetings (who is in, the lobby, bans)
 * are in memory (palabre/rooms.h), not here.
 *
 * Invite tokens are 128 random bits, base64url (22 characters); only their
 * SHA-256 is stored. A link carries its token in the URL fragment
 * (/r/ROOM#invite=TOKEN) so that no proxy log or Referer sees it.
 *
 * Durability: synchronous=NORMAL in WAL (a power cut may lose the last
 * committed changes, never corrupts): the only hot write is an invite's use
 * count. Uses are counted for every link, unlimited ones included (the
 * moderators' list shows them): a use with its write (one UPDATE, committed
 * without fsync) took 30 to 45 us on the 2-core test VM, a lookup alone
 * 6.5 us, within the 100 us a join may spend here.
 *
 * Bounds (a client may make the server store these): rooms per owner
 * (max_per_owner), PAL_INVITES_PER_ROOM live links per room and
 * PAL_INVITES_KEPT_PER_ROOM links in all (the oldest dead ones go first),
 * PAL_MODERATORS_PER_ROOM named moderators, journal rows per room
 * (PAL_JOURNAL_PER_ROOM, the oldest go first), text lengths below: the
 * store checks bytes (at most 4 per character of the limit; -EINVAL), the
 * handlers check UTF-8 and characters (pal_text_check). Room names: 1 to 64
 * of [a-z0-9-], else -EINVAL from create, set_moderator and journal_add;
 * the others answer as for a room that does not exist.
 *
 * Listing functions call fn during the query: fn may call other functions
 * of the store, not the listing function that called it. Strings handed to
 * fn are valid during the call only.
 *
 * Thread: the signaling thread only (one connection, not shared). */
#ifndef PALABRE_ROOM_STORE_H
#define PALABRE_ROOM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "palabre/rooms.h"

#define PAL_ROOM_TITLE_MAX 120   /* characters */
#define PAL_INVITE_LABEL_MAX 120 /* characters */
#define PAL_INVITE_TOKEN_LEN 22  /* base64url of 16 random bytes */
#define PAL_INVITE_DEFAULT_SECONDS (7 * 86400)
#define PAL_INVITE_MAX_SECONDS (90 * 86400)
#define PAL_INVITES_PER_ROOM 200       /* links not yet expired nor revoked */
#define PAL_INVITES_KEPT_PER_ROOM 1000 /* live and dead (listed 30 days) links */
#define PAL_MODERATORS_PER_ROOM 100
#define PAL_JOURNAL_PER_ROOM 10000
#define PAL_SUB_MAX 255

struct pal_room_store;

struct pal_room_settings {
    bool lobby;      /* guests wait in the lobby (default true) */
    bool locked;     /* everyone but moderators waits in the lobby (default false) */
    bool guest_chat; /* guests may send chat messages (default true) */
};

struct pal_room_record {
    char name[PAL_ROOM_MAX + 1];
    char title[PAL_ROOM_TITLE_MAX * 4 + 1];
    char owner_sub[PAL_SUB_MAX + 1];
    char owner_name[256];
    int64_t created_ms; /* wall clock, ms since the epoch */
    struct pal_room_settings settings;
};

struct pal_invite {
    int64_t id;
    char room[PAL_ROOM_MAX + 1];
    char label[PAL_INVITE_LABEL_MAX * 4 + 1];
    char created_by[256];           /* display name of the moderator who made it */
    int64_t created_ms, expires_ms; /* wall clock, ms */
    int max_uses;                   /* 0: unlimited */
    int uses;
    bool lobby;         /* holders wait in the lobby (default) */
    int64_t revoked_ms; /* 0: not revoked */
};

/* Opens (creates) the tables in DIR/palabre.db. 0, or -errno with a log line. */
int pal_room_store_open(const char *data_dir, struct pal_room_store **out);
void pal_room_store_close(struct pal_room_store *rs);

/* ---- rooms ---- */
/* Creates a room owned by owner_sub (settings NULL: the defaults). -EEXIST
 * (the name is taken), -EDQUOT (the owner already owns max_per_owner rooms;
 * max_per_owner <= 0: no limit), -EINVAL, -EIO. */
int pal_room_store_create(struct pal_room_store *rs, const char *name, const char *title,
                          const char *owner_sub, const char *owner_name,
                          const struct pal_room_settings *settings, int64_t now_ms,
                          int max_per_owner);
/* 0 and *out, -ENOENT, -EIO. */
int pal_room_store_get(struct pal_room_store *rs, const char *name, struct pal_room_record *out);
/* Title (NULL: unchanged) and settings (NULL: unchanged). 0, -ENOENT,
 * -EINVAL, -EIO. */
int pal_room_store_update(struct pal_room_store *rs, const char *name, const char *title,
                          const struct pal_room_settings *settings);
/* "My rooms": rooms sub owns or is a named moderator of, newest first, at
 * most limit. fn gets each; returns the count or -EIO. */
typedef void (*pal_room_record_fn)(void *ud, const struct pal_room_record *room, bool owner);
int pal_room_store_list_for(struct pal_room_store *rs, const char *sub, int limit,
                            pal_room_record_fn fn, void *ud);

/* ---- named moderators (agents, by sub; they keep the role across meetings) ---- */
/* Names (moderator true; again: updates the name) or unnames sub. 0,
 * -ENOENT (no such room), -EDQUOT (PAL_MODERATORS_PER_ROOM), -EINVAL, -EIO.
 * Unnaming someone who is not named is 0. */
int pal_room_store_set_moderator(struct pal_room_store *rs, const char *room, const char *sub,
                                 const char *name, bool moderator);
bool pal_room_store_is_moderator(struct pal_room_store *rs, const char *room, const char *sub);

/* ---- invite links ---- */
/* A new token: 16 bytes from getrandom, base64url without padding. */
int pal_invite_token_new(char out[PAL_INVITE_TOKEN_LEN + 1]);
/* Creates a link for room (which must exist: -ENOENT). expires_ms must be
 * after now_ms and at most PAL_INVITE_MAX_SECONDS later (-EINVAL);
 * max_uses >= 0; -EDQUOT past PAL_INVITES_PER_ROOM live links. The token is
 * written to token_out (only its hash is stored) and the link to *out. */
int pal_room_store_invite_create(struct pal_room_store *rs, const char *room, const char *label,
                                 const char *created_by, int64_t now_ms, int64_t expires_ms,
                                 int max_uses, bool lobby, char token_out[PAL_INVITE_TOKEN_LEN + 1],
                                 struct pal_invite *out);
/* A guest presents token for room: counts one use (every link; for a link
 * with a limit, the check and the count are one atomic UPDATE). 0 and *out
 * (uses includes this one); -ENOENT (unknown, malformed, or another room's:
 * the answer does not tell that it exists), -ECANCELED (revoked),
 * -ETIMEDOUT (expired), -EUSERS (no use left), -EIO. */
/* The two halves of a use, for a caller that checks something in between
 * (a ban on the link) before counting: find answers as use does but counts
 * nothing (-EUSERS is consume's); consume counts one use of a found link. */
int pal_room_store_invite_find(struct pal_room_store *rs, const char *room, const char *token,
                               int64_t now_ms, struct pal_invite *out);
int pal_room_store_invite_consume(struct pal_room_store *rs, struct pal_invite *inv);
int pal_room_store_invite_use(struct pal_room_store *rs, const char *room, const char *token,
                              int64_t now_ms, struct pal_invite *out);
/* One link of room by id: 0 and *out, -ENOENT, -EIO. */
int pal_room_store_invite_get(struct pal_room_store *rs, const char *room, int64_t id,
                              struct pal_invite *out);
/* The Invite object's state: "revoked", "expired", "used_up" or "active"
 * (in that order of precedence). */
const char *pal_invite_state(const struct pal_invite *inv, int64_t now_ms);
/* A room's links, newest first (expired and revoked ones included for 30
 * days, then deleted). Returns the count or -EIO. */
typedef void (*pal_invite_fn)(void *ud, const struct pal_invite *inv);
int pal_room_store_invite_list(struct pal_room_store *rs, const char *room, pal_invite_fn fn,
                               void *ud);
/* 0, -ENOENT (no such link in room), -EIO. Revoking twice is 0. */
int pal_room_store_invite_revoke(struct pal_room_store *rs, const char *room, int64_t id,
                                 int64_t now_ms);

/* ---- a cluster's copies (cluster.h: the room's home node writes its
 * access state through to Redis; a new home, or a node told of a change,
 * copies it here) ---- */
/* Creates or overwrites the room r->name (owner and settings included).
 * 0, -EINVAL, -EIO. */
int pal_room_store_put(struct pal_room_store *rs, const struct pal_room_record *r);
/* Creates or updates the link of inv->room whose token hashes to hash_hex
 * (64 hex digits): uses only go up, a revocation stays. *id_out: its id
 * here. 0, -EINVAL, -ENOENT (no such room here), -EEXIST (the hash is
 * another room's link), -EIO. */
int pal_room_store_invite_put(struct pal_room_store *rs, const char *hash_hex,
                              const struct pal_invite *inv, int64_t *id_out);
/* The id here of room's link whose token hashes to hash_hex: 0, -ENOENT. */
int pal_room_store_invite_id(struct pal_room_store *rs, const char *room, const char *hash_hex,
                             int64_t *id);
/* The hex SHA-256 of link id's token: 0, -ENOENT, -EIO. */
int pal_room_store_invite_hash(struct pal_room_store *rs, const char *room, int64_t id,
                               char hex[65]);

/* ---- journal: who did what, per room ---- */
struct pal_journal_entry {
    int64_t id, ts_ms;
    const char *room, *action; /* action: "admit", "deny", "mute", "remove", ... */
    const char *actor_id, *actor_name;
    const char *target_id, *target_name; /* "" when none */
    const char *detail;                  /* "" when none */
};
/* Stores e (id ignored; ts_ms 0: now; NULL target_id, target_name, detail:
 * ""); past PAL_JOURNAL_PER_ROOM rows the room's oldest go. 0, -EINVAL
 * (action 1..64 bytes, ids and names up to 255, detail up to 1024), -EIO. */
int pal_room_store_journal_add(struct pal_room_store *rs, const struct pal_journal_entry *e);
/* Newest first, ids below before_id (0: from the newest), at most limit
 * (>= 1). Returns the count, -EINVAL or -EIO. */
typedef void (*pal_journal_fn)(void *ud, const struct pal_journal_entry *e);
int pal_room_store_journal_list(struct pal_room_store *rs, const char *room, int64_t before_id,
                                int limit, pal_journal_fn fn, void *ud);

#endif
