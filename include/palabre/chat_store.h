/* Durable chat: SQLite in WAL mode with synchronous=FULL.
 *
 * A message is acknowledged only after its transaction is committed. Sends
 * are queued with pal_chat_store_submit() and committed together by
 * pal_chat_store_flush() (group commit: one fsync for every send that arrived
 * in one turn of the signaling loop); each submit's callback runs after the
 * commit with the stored message, or with an error.
 *
 * A send carries a client message id, unique per room: clients make it from
 * 128 random bits. A retry of (room, client_msg_id) with the same name and
 * text is stored once and answered with the first message (duplicate=true),
 * even when it comes from another participant id: after a server restart a
 * client rejoins with a new participant id and resends what was not
 * acknowledged. The same (room, client_msg_id) with another name or text is
 * refused with -EEXIST.
 *
 * Thread: the signaling thread only. */
#ifndef PALABRE_CHAT_STORE_H
#define PALABRE_CHAT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pal_chat_store;

struct pal_chat_message {
    int64_t id;        /* server id, grows strictly */
    int64_t ts_ms;     /* wall clock at commit, ms since the epoch */
    const char *room;
    const char *from;  /* participant id */
    const char *name;  /* display name at send time */
    const char *text;
    const char *client_msg_id;
};

/* Opens (and creates) DIR/palabre.db. Returns NULL on error, with a log line. */
struct pal_chat_store *pal_chat_store_open(const char *data_dir);
/* Flushes pending sends, then closes. */
void pal_chat_store_close(struct pal_chat_store *cs);

/* The size of a message, as the room quota and the history page bound count
 * it: the bytes of its sender id, name, text and client message id. */
size_t pal_chat_message_size(const char *from, const char *name, const char *text,
                             const char *client_msg_id);

/* Per-room quota, in message sizes summed over the room's stored messages
 * (0, the default: none). A send that would pass it fails with -EDQUOT and
 * stores nothing; a retry of an already stored message is still answered. */
void pal_chat_store_set_room_quota(struct pal_chat_store *cs, int64_t max_room_bytes);
/* The sum of the sizes of a room's stored messages (0 for none), or -1 on error. */
int64_t pal_chat_store_room_bytes(struct pal_chat_store *cs, const char *room);

/* Retention: deletes, in one transaction, at most max_rows of the oldest
 * messages (of any room) stamped before before_ts_ms. Returns how many were
 * deleted (max_rows: call again, later, for the rest) or a negative error.
 * Queued sends are flushed first. */
int pal_chat_store_expire(struct pal_chat_store *cs, int64_t before_ts_ms, int max_rows);

/* Called after the commit. err is 0; -EEXIST when the client_msg_id is
 * already used in the room by a different message; -EDQUOT when the room's
 * quota would be passed (nothing stored); or another negative code
 * on storage failure (the whole batch then failed: nothing was stored). msg
 * is NULL when err != 0. duplicate: this was a retry of an already stored
 * message, and msg is that first message (its from may differ). The strings
 * in msg are valid during the call only. */
typedef void (*pal_chat_stored_fn)(void *ud, int err, const struct pal_chat_message *msg,
                                   bool duplicate);

/* Queues a send; strings are copied. Validation of text is the caller's. */
int pal_chat_store_submit(struct pal_chat_store *cs, const char *room, const char *from,
                          const char *name, const char *text, const char *client_msg_id,
                          pal_chat_stored_fn done, void *ud);
/* Commits every queued send in one transaction and runs their callbacks.
 * Returns the number of sends committed, or a negative error. */
int pal_chat_store_flush(struct pal_chat_store *cs);
/* Number of sends waiting for flush. */
int pal_chat_store_pending(const struct pal_chat_store *cs);

#define PAL_CHAT_HISTORY_MAX 200
/* A history page holds at most this many bytes of messages (their sizes,
 * pal_chat_message_size), and always at least one message: it stops early,
 * and *has_more says more follow. */
#define PAL_CHAT_HISTORY_MAX_BYTES (256 * 1024)

/* History of a room in ascending id order. limit: 1 to PAL_CHAT_HISTORY_MAX,
 * else -EINVAL; the page also stops at PAL_CHAT_HISTORY_MAX_BYTES. At most
 * one of before_id/after_id may be > 0 (0 means unset;
 * both set or a negative one: -EINVAL). Without a cursor: the newest `limit` messages.
 * before_id: the `limit` messages just before it; after_id: the `limit` just
 * after it. *has_more tells whether more exist beyond the page in the
 * direction of travel. fn is called once per message, in order. */
typedef void (*pal_chat_row_fn)(void *ud, const struct pal_chat_message *msg);
int pal_chat_store_history(struct pal_chat_store *cs, const char *room, int64_t before_id,
                           int64_t after_id, int limit, pal_chat_row_fn fn, void *ud,
                           bool *has_more);
/* The last message id of a room, or 0. */
int64_t pal_chat_store_last_id(struct pal_chat_store *cs, const char *room);

#endif
