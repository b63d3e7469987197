/* Durable chat store: SQLite (WAL, synchronous=FULL), group commit.
 *
 * Schema (version 2):
 *
 *   schema_version(version)            one row; migrations[] brings it up to date
 *   messages(id INTEGER PRIMARY KEY AUTOINCREMENT, room, sender, name, text,
 *            client_msg_id, ts, bytes, UNIQUE(room, client_msg_id))
 *   index messages_room_bytes(room, id, bytes)   history pages and last id; it
 *            covers a page's running byte count, so bounding a page by bytes
 *            reads no message text
 *   index messages_ts(ts)              retention deletes the oldest first
 *   room_usage(room, bytes, messages)  kept by triggers on messages, in the
 *            same transaction as the insert or delete: the quota check is one
 *            primary-key lookup
 *
 * bytes is a message's size (pal_chat_message_size): what the quota counts
 * and what a history page is bounded by.
 *
 * AUTOINCREMENT keeps ids strictly growing even after the newest row of a room
 * would be deleted (rowid reuse would break clients' cursors).
 *
 * Idempotency is keyed on (room, client_msg_id), not on the sender: the sender
 * is a participant id that lives in the server's memory, so after a server
 * restart the same client comes back with a new participant id and retries its
 * unacknowledged sends. A retry is recognised when name and text are equal to
 * the stored row; the same client_msg_id with other content is refused with
 * -EEXIST (clients must make the id unique: 128 random bits).
 *
 * Thread: the signaling thread only (see chat_store.h). */
#include "palabre/chat_store.h"

#include "palabre/common.h"
#include "palabre/db.h"
#include "palabre/log.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define MOD "chat"
#define BUSY_TIMEOUT_MS 2000

/* One queued send. The five strings live in one allocation, owned here. */
struct pending {
    /* owned */
    char *strings;
    const char *room, *from, *name, *text, *client_msg_id;
    pal_chat_stored_fn done;
    void *ud;
    /* state, filled by flush */
    int err;
    bool duplicate;
    struct pal_chat_message stored;
    char *stored_strings; /* for a duplicate: the first message's strings */
};

enum stmt {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_FIND,
    ST_INSERT,
    ST_PAGE_OLDER,
    ST_PAGE_NEWER,
    ST_EXISTS_OLDER,
    ST_EXISTS_NEWER,
    ST_LAST_ID,
    ST_USAGE,
    ST_EXPIRE,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_FIND] = "SELECT id, ts, sender, name, text FROM messages"
                " WHERE room = ?1 AND client_msg_id = ?2",
    [ST_INSERT] = "INSERT INTO messages(room, sender, name, text, client_msg_id, ts, bytes)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    /* The newest ?3 messages below ?2 whose sizes, summed from the cursor
     * outwards, stay within ?4 bytes (the first one always comes), in
     * ascending order. The running sum is taken over (id, bytes) of at most
     * ?3 rows of the covering index; text is read only for the rows kept. */
    [ST_PAGE_OLDER] = "SELECT m.id, m.ts, m.sender, m.name, m.text, m.client_msg_id FROM"
                      " (SELECT id, bytes, sum(bytes) OVER (ORDER BY id DESC ROWS UNBOUNDED"
                      "  PRECEDING) AS run FROM (SELECT id, bytes FROM messages"
                      "  WHERE room = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3)) AS page"
                      " JOIN messages AS m ON m.id = page.id"
                      " WHERE page.run <= ?4 OR page.run = page.bytes ORDER BY m.id ASC",
    [ST_PAGE_NEWER] = "SELECT m.id, m.ts, m.sender, m.name, m.text, m.client_msg_id FROM"
                      " (SELECT id, bytes, sum(bytes) OVER (ORDER BY id ASC ROWS UNBOUNDED"
                      "  PRECEDING) AS run FROM (SELECT id, bytes FROM messages"
                      "  WHERE room = ?1 AND id > ?2 ORDER BY id ASC LIMIT ?3)) AS page"
                      " JOIN messages AS m ON m.id = page.id"
                      " WHERE page.run <= ?4 OR page.run = page.bytes ORDER BY m.id ASC",
    [ST_EXISTS_OLDER] = "SELECT EXISTS (SELECT 1 FROM messages WHERE room = ?1 AND id < ?2)",
    [ST_EXISTS_NEWER] = "SELECT EXISTS (SELECT 1 FROM messages WHERE room = ?1 AND id > ?2)",
    [ST_LAST_ID] = "SELECT max(id) FROM messages WHERE room = ?1",
    [ST_USAGE] = "SELECT bytes FROM room_usage WHERE room = ?1",
    /* The oldest ?2 messages stamped before ?1 (the triggers keep room_usage). */
    [ST_EXPIRE] = "DELETE FROM messages WHERE id IN"
                  " (SELECT id FROM messages WHERE ts < ?1 ORDER BY ts LIMIT ?2)",
};

/* Each entry brings the schema from version i to i + 1, inside one transaction. */
static const char *const migrations[] = {
    "CREATE TABLE messages ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  room TEXT NOT NULL,"
    "  sender TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  text TEXT NOT NULL,"
    "  client_msg_id TEXT NOT NULL,"
    "  ts INTEGER NOT NULL,"
    "  UNIQUE (room, client_msg_id));"
    "CREATE INDEX messages_room_id ON messages(room, id);",

    /* 2: sizes, the per-room usage the quota reads, and the ts index of
     * retention. Rows of version 1 get their size computed once here. */
    "ALTER TABLE messages ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;"
    "UPDATE messages SET bytes = length(CAST(text AS BLOB)) + length(CAST(name AS BLOB))"
    "  + length(CAST(sender AS BLOB)) + length(CAST(client_msg_id AS BLOB));"
    "DROP INDEX messages_room_id;"
    "CREATE INDEX messages_room_bytes ON messages(room, id, bytes);"
    "CREATE INDEX messages_ts ON messages(ts);"
    "CREATE TABLE room_usage ("
    "  room TEXT PRIMARY KEY,"
    "  bytes INTEGER NOT NULL,"
    "  messages INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO room_usage SELECT room, sum(bytes), count(*) FROM messages GROUP BY room;"
    "CREATE TRIGGER messages_usage_insert AFTER INSERT ON messages BEGIN"
    "  INSERT INTO room_usage(room, bytes, messages) VALUES (NEW.room, NEW.bytes, 1)"
    "  ON CONFLICT(room) DO UPDATE SET bytes = bytes + excluded.bytes,"
    "  messages = messages + 1;"
    "END;"
    "CREATE TRIGGER messages_usage_delete AFTER DELETE ON messages BEGIN"
    "  UPDATE room_usage SET bytes = bytes - OLD.bytes, messages = messages - 1"
    "  WHERE room = OLD.room;"
    "  DELETE FROM room_usage WHERE room = OLD.room AND messages <= 0;"
    "END;",
};

struct pal_chat_store {
    /* owned */
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    struct pending *pending;
    /* state */
    int n_pending, cap_pending;
    int64_t max_room_bytes; /* 0: no quota */
};

static int fail(struct pal_chat_store *cs, int rc, const char *what)
{
    PAL_ERROR(MOD, NULL, NULL, "%s: %s (sqlite %d)", what, sqlite3_errmsg(cs->db), rc);
    return pal_db_errno(rc);
}

/* Runs a statement that returns no row (or whose rows are ignored), then resets it. */
static int run(struct pal_chat_store *cs, enum stmt s)
{
    int rc;
    while ((rc = sqlite3_step(cs->st[s])) == SQLITE_ROW)
        ;
    sqlite3_reset(cs->st[s]);
    return rc == SQLITE_DONE ? 0 : fail(cs, rc, stmt_sql[s]);
}

static void store_free(struct pal_chat_store *cs)
{
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(cs->st[i]);
    sqlite3_close(cs->db);
    free(cs->pending);
    free(cs);
}

struct pal_chat_store *pal_chat_store_open(const char *data_dir)
{
    struct pal_chat_store *cs = calloc(1, sizeof(*cs));
    if (!cs)
        return NULL;
    int rc = pal_db_open(MOD, data_dir, BUSY_TIMEOUT_MS,
                         "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON", &cs->db);
    if (!rc)
        rc = pal_db_migrate(MOD, cs->db, "schema_version", migrations,
                            (int)PAL_ARRAY_LEN(migrations));
    if (!rc)
        rc = pal_db_prepare(MOD, cs->db, stmt_sql, cs->st, ST_COUNT);
    if (rc) {
        PAL_ERROR(MOD, NULL, NULL, "no chat store in %s", data_dir ? data_dir : "(null)");
        store_free(cs);
        return NULL;
    }
    PAL_INFO(MOD, NULL, NULL, "chat store %s/palabre.db open (schema %d)", data_dir,
             (int)PAL_ARRAY_LEN(migrations));
    return cs;
}

void pal_chat_store_close(struct pal_chat_store *cs)
{
    if (!cs)
        return;
    pal_chat_store_flush(cs);
    store_free(cs);
}

int pal_chat_store_pending(const struct pal_chat_store *cs)
{
    return cs->n_pending;
}

int pal_chat_store_submit(struct pal_chat_store *cs, const char *room, const char *from,
                          const char *name, const char *text, const char *client_msg_id,
                          pal_chat_stored_fn done, void *ud)
{
    if (!cs || !room || !*room || !from || !name || !text || !client_msg_id || !*client_msg_id)
        return -EINVAL;
    if (cs->n_pending == cs->cap_pending) {
        int cap = cs->cap_pending ? 2 * cs->cap_pending : 16;
        struct pending *p = realloc(cs->pending, (size_t)cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        cs->pending = p;
        cs->cap_pending = cap;
    }
    const char *src[5] = {room, from, name, text, client_msg_id};
    size_t len[5], total = 0;
    for (int i = 0; i < 5; i++)
        total += (len[i] = strlen(src[i])) + 1;
    char *s = malloc(total);
    if (!s)
        return -ENOMEM;
    struct pending *p = &cs->pending[cs->n_pending++];
    *p = (struct pending){.strings = s, .done = done, .ud = ud};
    const char **dst[5] = {&p->room, &p->from, &p->name, &p->text, &p->client_msg_id};
    for (int i = 0; i < 5; i++) {
        memcpy(s, src[i], len[i] + 1);
        *dst[i] = s;
        s += len[i] + 1;
    }
    return 0;
}

/* Copies the first message of a retried send out of ST_FIND's row, so that it
 * outlives the statement. */
static int keep_found(struct pending *p, sqlite3_stmt *st)
{
    const char *sender = pal_db_text(st, 2), *name = pal_db_text(st, 3), *text = pal_db_text(st, 4);
    size_t ls = strlen(sender), ln = strlen(name), lt = strlen(text);
    char *s = malloc(ls + ln + lt + 3);
    if (!s)
        return -ENOMEM;
    p->stored_strings = s;
    p->stored.from = memcpy(s, sender, ls + 1);
    p->stored.name = memcpy(s + ls + 1, name, ln + 1);
    p->stored.text = memcpy(s + ls + ln + 2, text, lt + 1);
    p->stored.id = sqlite3_column_int64(st, 0);
    p->stored.ts_ms = sqlite3_column_int64(st, 1);
    return 0;
}

size_t pal_chat_message_size(const char *from, const char *name, const char *text,
                             const char *client_msg_id)
{
    return strlen(from) + strlen(name) + strlen(text) + strlen(client_msg_id);
}

static int room_bytes(struct pal_chat_store *cs, const char *room, int64_t *out)
{
    sqlite3_stmt *st = cs->st[ST_USAGE];
    sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(cs, rc, stmt_sql[ST_USAGE]);
}

/* Stores one send inside the open transaction. A per-send refusal (-EEXIST,
 * -EDQUOT) goes into p->err; a return below 0 aborts the whole batch. */
static int store_one(struct pal_chat_store *cs, struct pending *p, int64_t ts)
{
    sqlite3_stmt *st = cs->st[ST_FIND];
    sqlite3_bind_text(st, 1, p->room, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, p->client_msg_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        /* Already stored, in an earlier batch or earlier in this one. */
        if (strcmp(pal_db_text(st, 3), p->name) == 0 && strcmp(pal_db_text(st, 4), p->text) == 0) {
            p->duplicate = true;
            rc = keep_found(p, st);
        } else {
            PAL_WARN(MOD, p->room, p->from, "client_msg_id %s reused for another message",
                     p->client_msg_id);
            p->err = -EEXIST;
            rc = 0;
        }
        sqlite3_reset(st);
        return rc;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return fail(cs, rc, "looking up a chat message");

    /* The quota is checked after the retry lookup: a retry of a stored
     * message is answered even when the room is now full. Earlier sends of
     * this batch are already counted (the trigger ran for them). */
    int64_t size = (int64_t)pal_chat_message_size(p->from, p->name, p->text, p->client_msg_id);
    if (cs->max_room_bytes > 0) {
        int64_t used;
        rc = room_bytes(cs, p->room, &used);
        if (rc)
            return rc;
        if (used + size > cs->max_room_bytes) {
            PAL_WARN(MOD, p->room, p->from, "room chat quota reached (%lld + %lld > %lld bytes)",
                     (long long)used, (long long)size, (long long)cs->max_room_bytes);
            p->err = -EDQUOT;
            return 0;
        }
    }

    st = cs->st[ST_INSERT];
    sqlite3_bind_text(st, 1, p->room, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, p->from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, p->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, p->text, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, p->client_msg_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, ts);
    sqlite3_bind_int64(st, 7, size);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return fail(cs, rc, "storing a chat message");
    p->stored.id = sqlite3_last_insert_rowid(cs->db);
    p->stored.ts_ms = ts;
    p->stored.from = p->from;
    p->stored.name = p->name;
    p->stored.text = p->text;
    return 0;
}

int pal_chat_store_flush(struct pal_chat_store *cs)
{
    if (cs->n_pending == 0)
        return 0;
    /* Detach the batch: callbacks may submit again. */
    struct pending *batch = cs->pending;
    int n = cs->n_pending;
    cs->pending = NULL;
    cs->n_pending = cs->cap_pending = 0;

    int64_t ts = pal_wall_ms();
    int rc = run(cs, ST_BEGIN);
    for (int i = 0; !rc && i < n; i++)
        rc = store_one(cs, &batch[i], ts);
    if (!rc)
        rc = run(cs, ST_COMMIT);
    if (rc) {
        /* A failed COMMIT may already have rolled back on its own. */
        if (!sqlite3_get_autocommit(cs->db))
            run(cs, ST_ROLLBACK);
        PAL_ERROR(MOD, NULL, NULL, "chat batch of %d not stored: %s", n, strerror(-rc));
    }
    for (int i = 0; i < n; i++) {
        struct pending *p = &batch[i];
        int err = rc ? rc : p->err;
        p->stored.room = p->room;
        p->stored.client_msg_id = p->client_msg_id;
        if (p->done)
            p->done(p->ud, err, err ? NULL : &p->stored, !err && p->duplicate);
        free(p->stored_strings);
        free(p->strings);
    }
    free(batch);
    return rc ? rc : n;
}

static void emit_rows(sqlite3_stmt *st, const char *room, pal_chat_row_fn fn, void *ud,
                      int64_t *lo, int64_t *hi, int *rc_out)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct pal_chat_message m = {
            .id = sqlite3_column_int64(st, 0),
            .ts_ms = sqlite3_column_int64(st, 1),
            .room = room,
            .from = pal_db_text(st, 2),
            .name = pal_db_text(st, 3),
            .text = pal_db_text(st, 4),
            .client_msg_id = pal_db_text(st, 5),
        };
        if (*lo == 0)
            *lo = m.id;
        *hi = m.id;
        if (fn)
            fn(ud, &m);
    }
    *rc_out = rc;
    sqlite3_reset(st);
}

static int exists(struct pal_chat_store *cs, enum stmt s, const char *room, int64_t id,
                  bool *out)
{
    sqlite3_stmt *st = cs->st[s];
    sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, id);
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW && sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : fail(cs, rc, stmt_sql[s]);
}

int pal_chat_store_history(struct pal_chat_store *cs, const char *room, int64_t before_id,
                           int64_t after_id, int limit, pal_chat_row_fn fn, void *ud,
                           bool *has_more)
{
    bool more = false;
    if (has_more)
        *has_more = false;
    if (!cs || !room || before_id < 0 || after_id < 0 || (before_id > 0 && after_id > 0) ||
        limit < 1 || limit > PAL_CHAT_HISTORY_MAX)
        return -EINVAL;
    bool newer = after_id > 0;
    sqlite3_stmt *st = cs->st[newer ? ST_PAGE_NEWER : ST_PAGE_OLDER];
    sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, newer ? after_id : before_id > 0 ? before_id : INT64_MAX);
    sqlite3_bind_int(st, 3, limit);
    sqlite3_bind_int64(st, 4, PAL_CHAT_HISTORY_MAX_BYTES);
    int64_t lo = 0, hi = 0;
    int rc;
    emit_rows(st, room, fn, ud, &lo, &hi, &rc);
    if (rc != SQLITE_DONE)
        return fail(cs, rc, "reading chat history");
    if (lo == 0)
        return 0; /* nothing beyond the cursor, so nothing further either */
    int err = newer ? exists(cs, ST_EXISTS_NEWER, room, hi, &more)
                    : exists(cs, ST_EXISTS_OLDER, room, lo, &more);
    if (has_more)
        *has_more = more;
    return err;
}

int64_t pal_chat_store_last_id(struct pal_chat_store *cs, const char *room)
{
    if (!cs || !room)
        return 0;
    sqlite3_stmt *st = cs->st[ST_LAST_ID];
    sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
    int64_t id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return id;
}

void pal_chat_store_set_room_quota(struct pal_chat_store *cs, int64_t max_room_bytes)
{
    cs->max_room_bytes = max_room_bytes > 0 ? max_room_bytes : 0;
}

int64_t pal_chat_store_room_bytes(struct pal_chat_store *cs, const char *room)
{
    int64_t used = 0;
    if (!cs || !room || room_bytes(cs, room, &used))
        return -1;
    return used;
}

int pal_chat_store_expire(struct pal_chat_store *cs, int64_t before_ts_ms, int max_rows)
{
    if (!cs || max_rows < 1)
        return -EINVAL;
    /* Queued sends are committed first: a batch is one transaction of its
     * own, never mixed with a deletion. */
    if (cs->n_pending > 0)
        pal_chat_store_flush(cs);
    int rc = run(cs, ST_BEGIN);
    if (rc)
        return rc;
    sqlite3_stmt *st = cs->st[ST_EXPIRE];
    sqlite3_bind_int64(st, 1, before_ts_ms);
    sqlite3_bind_int(st, 2, max_rows);
    rc = run(cs, ST_EXPIRE);
    int n = rc ? 0 : sqlite3_changes(cs->db);
    if (!rc)
        rc = run(cs, ST_COMMIT);
    if (rc) {
        if (!sqlite3_get_autocommit(cs->db))
            run(cs, ST_ROLLBACK);
        return rc;
    }
    if (n > 0)
        PAL_INFO(MOD, NULL, NULL, "retention: deleted %d messages older than %lld", n,
                 (long long)before_ts_ms);
    return n;
}
