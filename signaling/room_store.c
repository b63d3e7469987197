/* Stored rooms, named moderators, invite links and the moderation journal:
 * SQLite, in the chat's file (DIR/palabre.db) on a connection of our own.
 *
 * Schema (version 1, in access_schema_version; the chat store keeps its
 * own schema_version in the same file, so either can migrate alone):
 *
 *   rooms(name PK, title, owner_sub, owner_name, created_ms, lobby, locked,
 *         guest_chat)
 *     index rooms_owner(owner_sub, created_ms)   quota count and "my rooms"
 *   room_moderators(room → rooms, sub, name, PK(room, sub))
 *     index room_moderators_sub(sub)             "my rooms" of a moderator
 *   invites(id AUTOINCREMENT, room → rooms, token_hash UNIQUE, label,
 *           created_by, created_ms, expires_ms, max_uses, uses, lobby,
 *           revoked_ms)
 *     index invites_room(room, id)               lists, quotas, purge
 *   journal(id AUTOINCREMENT, room, ts_ms, action, actor_id, actor_name,
 *           target_id, target_name, detail)
 *     index journal_room(room, id)               pages and trimming
 *   journal_rooms(room PK, n)                    rows per room, kept by
 *     triggers in the same transaction: trimming is a primary-key read, not
 *     a count over 10,000 rows
 *
 * AUTOINCREMENT: an invite id is a ban key ("invite:<id>") and a journal id
 * is a client's cursor; neither may come back after the newest row is
 * deleted. The journal has no foreign key: it must never refuse a line.
 *
 * synchronous=NORMAL (not the chat's FULL): in WAL a power cut may lose the
 * last commits but never corrupts; what could be lost here (a use count, a
 * journal line, a setting) is not an acknowledged message.
 *
 * Thread: the signaling thread only (see room_store.h). */
#include "palabre/room_store.h"

#include "palabre/common.h"
#include "palabre/db.h"
#include "palabre/log.h"

#include <ctype.h>
#include <libwebsockets.h>
#include <stdarg.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define MOD "room_store"
/* The chat store's connection writes the same file: wait for its
 * transactions (group commits, at most a few ms) rather than fail. */
#define BUSY_TIMEOUT_MS 5000
#define DAY_MS (86400 * 1000LL)
/* Dead links (expired or revoked) stay listed this long, then go. */
#define INVITE_KEEP_DEAD_MS (30 * DAY_MS)
/* Dead links purged per create or list: bounded work per request. */
#define INVITE_PURGE_BATCH 64
#define JOURNAL_TEXT_MAX 1024 /* bytes of a journal entry's detail */
#define NAME_BYTES_MAX 255    /* display names and ids (owner_name[256], created_by[256]) */

enum stmt {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_ROOM_INSERT,
    ST_ROOM_GET,
    ST_ROOM_EXISTS,
    ST_ROOM_UPDATE,
    ST_OWNER_COUNT,
    ST_LIST_FOR,
    ST_MOD_SET,
    ST_MOD_DELETE,
    ST_MOD_IS,
    ST_MOD_COUNT,
    ST_INV_INSERT,
    ST_INV_BY_HASH,
    ST_INV_GET,
    ST_INV_USE,
    ST_INV_LIVE,
    ST_INV_ROWS,
    ST_INV_PURGE,
    ST_INV_DROP_DEAD,
    ST_INV_LIST,
    ST_INV_REVOKE,
    ST_J_INSERT,
    ST_J_COUNT,
    ST_J_TRIM,
    ST_J_LIST,
    ST_ROOM_PUT,
    ST_INV_PUT,
    ST_INV_HASH,
    ST_COUNT
};

#define ROOM_COLS "name, title, owner_sub, owner_name, created_ms, lobby, locked, guest_chat"
#define INVITE_COLS                                                                                \
    "id, room, label, created_by, created_ms, expires_ms, max_uses, uses, lobby, revoked_ms"
/* A link is dead once revoked or expired (?2 is now). */
#define INVITE_DEAD "(revoked_ms > 0 OR expires_ms <= ?2)"

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_ROOM_INSERT] = "INSERT INTO rooms(" ROOM_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_ROOM_GET] = "SELECT " ROOM_COLS " FROM rooms WHERE name = ?1",
    [ST_ROOM_EXISTS] = "SELECT 1 FROM rooms WHERE name = ?1",
    /* NULL keeps a value: the title, or the settings as a whole. */
    [ST_ROOM_UPDATE] = "UPDATE rooms SET title = coalesce(?2, title), lobby = coalesce(?3, lobby),"
                       " locked = coalesce(?4, locked), guest_chat = coalesce(?5, guest_chat)"
                       " WHERE name = ?1",
    [ST_OWNER_COUNT] = "SELECT count(*) FROM rooms WHERE owner_sub = ?1",
    /* Owned rooms, then rooms ?1 is a named moderator of (an owner naming
     * themselves moderator is listed once, as owner). */
    [ST_LIST_FOR] = "SELECT " ROOM_COLS ", 1 AS owner, rowid FROM rooms WHERE owner_sub = ?1"
                    " UNION ALL"
                    " SELECT r.name, r.title, r.owner_sub, r.owner_name, r.created_ms, r.lobby,"
                    "  r.locked, r.guest_chat, 0, r.rowid FROM room_moderators AS m"
                    " JOIN rooms AS r ON r.name = m.room WHERE m.sub = ?1 AND r.owner_sub != ?1"
                    " ORDER BY created_ms DESC, rowid DESC LIMIT ?2",
    [ST_MOD_SET] = "INSERT INTO room_moderators(room, sub, name) VALUES (?1, ?2, ?3)"
                   " ON CONFLICT(room, sub) DO UPDATE SET name = excluded.name",
    [ST_MOD_DELETE] = "DELETE FROM room_moderators WHERE room = ?1 AND sub = ?2",
    [ST_MOD_IS] = "SELECT 1 FROM room_moderators WHERE room = ?1 AND sub = ?2",
    [ST_MOD_COUNT] = "SELECT count(*) FROM room_moderators WHERE room = ?1",
    [ST_INV_INSERT] = "INSERT INTO invites(room, token_hash, label, created_by, created_ms,"
                      " expires_ms, max_uses, uses, lobby, revoked_ms)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, 0)",
    [ST_INV_BY_HASH] = "SELECT " INVITE_COLS " FROM invites WHERE token_hash = ?1",
    [ST_INV_GET] = "SELECT " INVITE_COLS " FROM invites WHERE room = ?1 AND id = ?2",
    /* One statement for the check and the count: two joins racing for the
     * last use of a limited link (this connection and the CLI's, say)
     * cannot both get it. */
    [ST_INV_USE] = "UPDATE invites SET uses = uses + 1"
                   " WHERE id = ?1 AND (max_uses = 0 OR uses < max_uses)",
    [ST_INV_LIVE] = "SELECT count(*) FROM invites WHERE room = ?1 AND NOT " INVITE_DEAD,
    [ST_INV_ROWS] = "SELECT count(*) FROM invites WHERE room = ?1",
    /* ?2 here is the cutoff: dead since before it. */
    [ST_INV_PURGE] = "DELETE FROM invites WHERE id IN (SELECT id FROM invites WHERE room = ?1"
                     " AND ((revoked_ms > 0 AND revoked_ms <= ?2) OR expires_ms <= ?2)"
                     " ORDER BY id LIMIT ?3)",
    [ST_INV_DROP_DEAD] = "DELETE FROM invites WHERE id IN (SELECT id FROM invites"
                         " WHERE room = ?1 AND " INVITE_DEAD " ORDER BY id LIMIT ?3)",
    [ST_INV_LIST] = "SELECT " INVITE_COLS " FROM invites WHERE room = ?1 ORDER BY id DESC",
    [ST_INV_REVOKE] = "UPDATE invites SET revoked_ms = ?3"
                      " WHERE room = ?1 AND id = ?2 AND revoked_ms = 0",
    [ST_J_INSERT] = "INSERT INTO journal(room, ts_ms, action, actor_id, actor_name, target_id,"
                    " target_name, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_J_COUNT] = "SELECT n FROM journal_rooms WHERE room = ?1",
    [ST_J_TRIM] = "DELETE FROM journal WHERE id IN (SELECT id FROM journal WHERE room = ?1"
                  " ORDER BY id LIMIT ?2)",
    [ST_J_LIST] = "SELECT id, ts_ms, action, actor_id, actor_name, target_id, target_name, detail"
                  " FROM journal WHERE room = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
    /* A cluster's copy (room_store.h, "a cluster's copies"): the home
     * node's state wins; uses and a revocation never go back. */
    [ST_ROOM_PUT] = "INSERT INTO rooms(" ROOM_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                    " ON CONFLICT(name) DO UPDATE SET title = excluded.title,"
                    " owner_sub = excluded.owner_sub, owner_name = excluded.owner_name,"
                    " lobby = excluded.lobby, locked = excluded.locked,"
                    " guest_chat = excluded.guest_chat",
    [ST_INV_PUT] = "INSERT INTO invites(room, token_hash, label, created_by, created_ms,"
                   " expires_ms, max_uses, uses, lobby, revoked_ms)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                   " ON CONFLICT(token_hash) DO UPDATE SET label = excluded.label,"
                   " expires_ms = excluded.expires_ms, max_uses = excluded.max_uses,"
                   " uses = max(uses, excluded.uses), lobby = excluded.lobby,"
                   " revoked_ms = CASE WHEN revoked_ms > 0 THEN revoked_ms"
                   " ELSE excluded.revoked_ms END WHERE room = excluded.room",
    [ST_INV_HASH] = "SELECT token_hash FROM invites WHERE room = ?1 AND id = ?2",
};

/* Each entry brings the schema from version i to i + 1, in one transaction. */
static const char *const migrations[] = {
    "CREATE TABLE rooms ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  title TEXT NOT NULL,"
    "  owner_sub TEXT NOT NULL,"
    "  owner_name TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  lobby INTEGER NOT NULL,"
    "  locked INTEGER NOT NULL,"
    "  guest_chat INTEGER NOT NULL);"
    "CREATE INDEX rooms_owner ON rooms(owner_sub, created_ms);"
    "CREATE TABLE room_moderators ("
    "  room TEXT NOT NULL REFERENCES rooms(name) ON DELETE CASCADE,"
    "  sub TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  PRIMARY KEY (room, sub)) WITHOUT ROWID;"
    "CREATE INDEX room_moderators_sub ON room_moderators(sub);"
    "CREATE TABLE invites ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  room TEXT NOT NULL REFERENCES rooms(name) ON DELETE CASCADE,"
    "  token_hash BLOB NOT NULL UNIQUE,"
    "  label TEXT NOT NULL,"
    "  created_by TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL,"
    "  max_uses INTEGER NOT NULL,"
    "  uses INTEGER NOT NULL,"
    "  lobby INTEGER NOT NULL,"
    "  revoked_ms INTEGER NOT NULL);"
    "CREATE INDEX invites_room ON invites(room, id);"
    "CREATE TABLE journal ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  room TEXT NOT NULL,"
    "  ts_ms INTEGER NOT NULL,"
    "  action TEXT NOT NULL,"
    "  actor_id TEXT NOT NULL,"
    "  actor_name TEXT NOT NULL,"
    "  target_id TEXT NOT NULL,"
    "  target_name TEXT NOT NULL,"
    "  detail TEXT NOT NULL);"
    "CREATE INDEX journal_room ON journal(room, id);"
    "CREATE TABLE journal_rooms ("
    "  room TEXT PRIMARY KEY NOT NULL,"
    "  n INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TRIGGER journal_count_insert AFTER INSERT ON journal BEGIN"
    "  INSERT INTO journal_rooms(room, n) VALUES (NEW.room, 1)"
    "  ON CONFLICT(room) DO UPDATE SET n = n + 1;"
    "END;"
    "CREATE TRIGGER journal_count_delete AFTER DELETE ON journal BEGIN"
    "  UPDATE journal_rooms SET n = n - 1 WHERE room = OLD.room;"
    "END;",
};

struct pal_room_store {
    /* owned */
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
};

/* ---- SQLite plumbing ---- */

static int db_error(struct pal_room_store *rs, int rc, const char *what)
{
    PAL_ERROR(MOD, NULL, NULL, "%s: %s (sqlite %d)", what, sqlite3_errmsg(rs->db), rc);
    /* The header promises -EIO for storage trouble; only a constraint is
     * told apart (a name or a hash already taken). */
    return pal_db_errno(rc) == -EEXIST ? -EEXIST : -EIO;
}

/* Binds arguments to statement s from parameter 1 on: "t" text (NULL binds
 * NULL), "i" int64, "b" an int (a bool), "_" skips a parameter (no
 * argument). Keeps each call site one line. */
static sqlite3_stmt *with(struct pal_room_store *rs, enum stmt s, const char *types, ...)
{
    sqlite3_stmt *st = rs->st[s];
    va_list ap;
    va_start(ap, types);
    for (int i = 0; types[i]; i++) {
        if (types[i] == 't') {
            const char *v = va_arg(ap, const char *);
            if (v)
                sqlite3_bind_text(st, i + 1, v, -1, SQLITE_STATIC);
            else
                sqlite3_bind_null(st, i + 1);
        } else if (types[i] == 'i') {
            sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
        } else if (types[i] == 'b') {
            sqlite3_bind_int(st, i + 1, va_arg(ap, int));
        }
    }
    va_end(ap);
    return st;
}

static void done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Steps a statement that returns no row, then resets it: 0 or -errno. */
static int run(struct pal_room_store *rs, enum stmt s)
{
    int rc;
    while ((rc = sqlite3_step(rs->st[s])) == SQLITE_ROW)
        ;
    done(rs->st[s]);
    return rc == SQLITE_DONE ? 0 : db_error(rs, rc, stmt_sql[s]);
}

/* Steps a statement that returns one integer (or no row: 0), then resets it. */
static int run_int(struct pal_room_store *rs, enum stmt s, int64_t *out)
{
    sqlite3_stmt *st = rs->st[s];
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    done(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(rs, rc, stmt_sql[s]);
}

/* Steps a statement that returns at most one row, read into out by read:
 * 0, -ENOENT (no row), -EIO. */
static int run_one(struct pal_room_store *rs, enum stmt s, void (*read)(sqlite3_stmt *, void *),
                   void *out)
{
    sqlite3_stmt *st = rs->st[s];
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        read(st, out);
    done(st);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? -ENOENT : db_error(rs, rc, stmt_sql[s]);
}

/* Ends the transaction that rc ran in: COMMIT when rc is 0, else ROLLBACK
 * (a failed COMMIT may have rolled back already). Returns rc or COMMIT's. */
static int finish(struct pal_room_store *rs, int rc)
{
    if (!rc)
        rc = run(rs, ST_COMMIT);
    if (rc && !sqlite3_get_autocommit(rs->db))
        run(rs, ST_ROLLBACK);
    return rc;
}

static void store_free(struct pal_room_store *rs)
{
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(rs->st[i]);
    sqlite3_close(rs->db);
    free(rs);
}

int pal_room_store_open(const char *data_dir, struct pal_room_store **out)
{
    *out = NULL;
    struct pal_room_store *rs = calloc(1, sizeof(*rs));
    if (!rs)
        return -ENOMEM;
    int rc = pal_db_open(MOD, data_dir, BUSY_TIMEOUT_MS,
                         "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON", &rs->db);
    if (!rc)
        rc = pal_db_migrate(MOD, rs->db, "access_schema_version", migrations,
                            (int)PAL_ARRAY_LEN(migrations));
    if (!rc)
        rc = pal_db_prepare(MOD, rs->db, stmt_sql, rs->st, ST_COUNT);
    if (rc) {
        PAL_ERROR(MOD, NULL, NULL, "no room store in %s", data_dir ? data_dir : "(null)");
        store_free(rs);
        return rc == -EPROTO || rc == -EINVAL || rc == -ENAMETOOLONG ? rc : -EIO;
    }
    PAL_INFO(MOD, NULL, NULL, "room store %s/palabre.db open (access schema %d)", data_dir,
             (int)PAL_ARRAY_LEN(migrations));
    *out = rs;
    return 0;
}

void pal_room_store_close(struct pal_room_store *rs)
{
    if (rs)
        store_free(rs);
}

/* ---- checks ---- */

static bool room_name_ok(const char *name)
{
    size_t len = name ? strnlen(name, PAL_ROOM_MAX + 1) : 0;
    if (len < 1 || len > PAL_ROOM_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

/* Byte bounds only: the handlers check UTF-8 and characters (pal_text_check);
 * max_chars characters of UTF-8 take at most 4 * max_chars bytes. */
static bool text_ok(const char *s, size_t min_bytes, size_t max_bytes)
{
    size_t len = s ? strnlen(s, max_bytes + 1) : 0;
    return s && len >= min_bytes && len <= max_bytes;
}

static void copy_col(char *dst, size_t size, sqlite3_stmt *st, int i)
{
    snprintf(dst, size, "%s", pal_db_text(st, i));
}

/* ---- rooms ---- */

static void read_room(sqlite3_stmt *st, void *out)
{
    struct pal_room_record *r = out;
    copy_col(r->name, sizeof(r->name), st, 0);
    copy_col(r->title, sizeof(r->title), st, 1);
    copy_col(r->owner_sub, sizeof(r->owner_sub), st, 2);
    copy_col(r->owner_name, sizeof(r->owner_name), st, 3);
    r->created_ms = sqlite3_column_int64(st, 4);
    r->settings.lobby = sqlite3_column_int(st, 5);
    r->settings.locked = sqlite3_column_int(st, 6);
    r->settings.guest_chat = sqlite3_column_int(st, 7);
}

static int room_exists(struct pal_room_store *rs, const char *name, bool *out)
{
    int64_t found;
    with(rs, ST_ROOM_EXISTS, "t", name);
    int rc = run_int(rs, ST_ROOM_EXISTS, &found);
    *out = found != 0;
    return rc;
}

/* Opens a write transaction about room, which must exist: 0, -ENOENT or
 * -errno. Either way the caller ends with finish(rs, rc). */
static int begin_in_room(struct pal_room_store *rs, const char *room)
{
    int rc = run(rs, ST_BEGIN);
    bool exists = false;
    if (!rc)
        rc = room_exists(rs, room, &exists);
    return rc ? rc : exists ? 0 : -ENOENT;
}

int pal_room_store_create(struct pal_room_store *rs, const char *name, const char *title,
                          const char *owner_sub, const char *owner_name,
                          const struct pal_room_settings *settings, int64_t now_ms,
                          int max_per_owner)
{
    if (!room_name_ok(name) || !text_ok(title, 1, PAL_ROOM_TITLE_MAX * 4) ||
        !text_ok(owner_sub, 1, PAL_SUB_MAX) || !text_ok(owner_name, 0, NAME_BYTES_MAX))
        return -EINVAL;
    struct pal_room_settings def = {.lobby = true, .locked = false, .guest_chat = true};
    const struct pal_room_settings *set = settings ? settings : &def;
    int rc = run(rs, ST_BEGIN);
    if (rc)
        return rc;
    bool taken = false;
    rc = room_exists(rs, name, &taken);
    if (!rc && taken)
        rc = -EEXIST;
    if (!rc && max_per_owner > 0) {
        int64_t owned;
        with(rs, ST_OWNER_COUNT, "t", owner_sub);
        rc = run_int(rs, ST_OWNER_COUNT, &owned);
        if (!rc && owned >= max_per_owner) {
            PAL_WARN(MOD, name, NULL, "%s owns %lld rooms already (max %d)", owner_sub,
                     (long long)owned, max_per_owner);
            rc = -EDQUOT;
        }
    }
    if (!rc) {
        with(rs, ST_ROOM_INSERT, "ttttibbb", name, title, owner_sub, owner_name, now_ms,
             (int)set->lobby, (int)set->locked, (int)set->guest_chat);
        rc = run(rs, ST_ROOM_INSERT);
    }
    return finish(rs, rc);
}

int pal_room_store_get(struct pal_room_store *rs, const char *name, struct pal_room_record *out)
{
    if (!room_name_ok(name))
        return -ENOENT; /* no such room can be stored */
    with(rs, ST_ROOM_GET, "t", name);
    return run_one(rs, ST_ROOM_GET, read_room, out);
}

int pal_room_store_update(struct pal_room_store *rs, const char *name, const char *title,
                          const struct pal_room_settings *settings)
{
    if (!room_name_ok(name))
        return -ENOENT;
    if (title && !text_ok(title, 1, PAL_ROOM_TITLE_MAX * 4))
        return -EINVAL;
    with(rs, ST_ROOM_UPDATE, "tt", name, title);
    if (settings)
        with(rs, ST_ROOM_UPDATE, "__bbb", (int)settings->lobby, (int)settings->locked,
             (int)settings->guest_chat);
    int rc = run(rs, ST_ROOM_UPDATE);
    if (rc)
        return rc;
    return sqlite3_changes(rs->db) ? 0 : -ENOENT;
}

int pal_room_store_list_for(struct pal_room_store *rs, const char *sub, int limit,
                            pal_room_record_fn fn, void *ud)
{
    if (!sub || limit < 1)
        return -EINVAL;
    sqlite3_stmt *st = with(rs, ST_LIST_FOR, "ti", sub, (int64_t)limit);
    int rc, n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct pal_room_record r;
        read_room(st, &r);
        n++;
        if (fn)
            fn(ud, &r, sqlite3_column_int(st, 8) != 0);
    }
    done(st);
    return rc == SQLITE_DONE ? n : db_error(rs, rc, stmt_sql[ST_LIST_FOR]);
}

/* ---- named moderators ---- */

int pal_room_store_set_moderator(struct pal_room_store *rs, const char *room, const char *sub,
                                 const char *name, bool moderator)
{
    if (!room_name_ok(room) || !text_ok(sub, 1, PAL_SUB_MAX) ||
        (moderator && !text_ok(name, 0, NAME_BYTES_MAX)))
        return -EINVAL;
    if (!moderator) {
        with(rs, ST_MOD_DELETE, "tt", room, sub);
        return run(rs, ST_MOD_DELETE);
    }
    int rc = begin_in_room(rs, room);
    int64_t already = 0, count = 0;
    if (!rc) {
        with(rs, ST_MOD_IS, "tt", room, sub);
        rc = run_int(rs, ST_MOD_IS, &already);
    }
    if (!rc && !already) {
        with(rs, ST_MOD_COUNT, "t", room);
        rc = run_int(rs, ST_MOD_COUNT, &count);
        if (!rc && count >= PAL_MODERATORS_PER_ROOM)
            rc = -EDQUOT;
    }
    if (!rc) {
        with(rs, ST_MOD_SET, "ttt", room, sub, name);
        rc = run(rs, ST_MOD_SET);
    }
    return finish(rs, rc);
}

bool pal_room_store_is_moderator(struct pal_room_store *rs, const char *room, const char *sub)
{
    if (!room || !sub)
        return false;
    int64_t found = 0;
    with(rs, ST_MOD_IS, "tt", room, sub);
    return run_int(rs, ST_MOD_IS, &found) == 0 && found != 0;
}

/* ---- invite links ---- */

int pal_invite_token_new(char out[PAL_INVITE_TOKEN_LEN + 1])
{
    unsigned char raw[16];
    ssize_t got;
    do
        got = getrandom(raw, sizeof(raw), 0);
    while (got < 0 && errno == EINTR);
    if (got != (ssize_t)sizeof(raw))
        return got < 0 ? -errno : -EIO;
    /* libwebsockets' base64url pads with '='; the token has no padding. */
    char b64[PAL_INVITE_TOKEN_LEN + 4];
    int n = lws_b64_encode_string_url((const char *)raw, sizeof(raw), b64, sizeof(b64));
    if (n < PAL_INVITE_TOKEN_LEN)
        return -EIO;
    memcpy(out, b64, PAL_INVITE_TOKEN_LEN);
    out[PAL_INVITE_TOKEN_LEN] = '\0';
    return 0;
}

static bool token_ok(const char *t)
{
    if (!t || strnlen(t, PAL_INVITE_TOKEN_LEN + 1) != PAL_INVITE_TOKEN_LEN)
        return false;
    for (int i = 0; i < PAL_INVITE_TOKEN_LEN; i++) {
        char c = t[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

static int token_hash(const char *token, unsigned char hash[32])
{
    unsigned int len = 0;
    if (EVP_Digest(token, strlen(token), hash, &len, EVP_sha256(), NULL) != 1 || len != 32)
        return -EIO;
    return 0;
}

static void read_invite(sqlite3_stmt *st, void *out)
{
    struct pal_invite *inv = out;
    inv->id = sqlite3_column_int64(st, 0);
    copy_col(inv->room, sizeof(inv->room), st, 1);
    copy_col(inv->label, sizeof(inv->label), st, 2);
    copy_col(inv->created_by, sizeof(inv->created_by), st, 3);
    inv->created_ms = sqlite3_column_int64(st, 4);
    inv->expires_ms = sqlite3_column_int64(st, 5);
    inv->max_uses = sqlite3_column_int(st, 6);
    inv->uses = sqlite3_column_int(st, 7);
    inv->lobby = sqlite3_column_int(st, 8);
    inv->revoked_ms = sqlite3_column_int64(st, 9);
}

const char *pal_invite_state(const struct pal_invite *inv, int64_t now_ms)
{
    if (inv->revoked_ms > 0)
        return "revoked";
    if (inv->expires_ms <= now_ms)
        return "expired";
    if (inv->max_uses > 0 && inv->uses >= inv->max_uses)
        return "used_up";
    return "active";
}

/* Deletes at most INVITE_PURGE_BATCH of room's links dead for more than
 * INVITE_KEEP_DEAD_MS. */
static int purge_dead(struct pal_room_store *rs, const char *room, int64_t now_ms)
{
    with(rs, ST_INV_PURGE, "tii", room, now_ms - INVITE_KEEP_DEAD_MS, (int64_t)INVITE_PURGE_BATCH);
    return run(rs, ST_INV_PURGE);
}

/* Inside create's transaction: the live-link quota, and room for one more
 * row (the oldest dead links go first; live ones never, and there are
 * fewer live links than PAL_INVITES_KEPT_PER_ROOM). */
static int make_room_for_invite(struct pal_room_store *rs, const char *room, int64_t now_ms)
{
    int rc = purge_dead(rs, room, now_ms);
    int64_t live = 0, rows = 0;
    if (!rc) {
        with(rs, ST_INV_LIVE, "ti", room, now_ms);
        rc = run_int(rs, ST_INV_LIVE, &live);
    }
    if (!rc && live >= PAL_INVITES_PER_ROOM) {
        PAL_WARN(MOD, room, NULL, "%lld live invite links already (max %d)", (long long)live,
                 PAL_INVITES_PER_ROOM);
        return -EDQUOT;
    }
    if (!rc) {
        with(rs, ST_INV_ROWS, "t", room);
        rc = run_int(rs, ST_INV_ROWS, &rows);
    }
    if (!rc && rows >= PAL_INVITES_KEPT_PER_ROOM) {
        with(rs, ST_INV_DROP_DEAD, "tii", room, now_ms, rows - PAL_INVITES_KEPT_PER_ROOM + 1);
        rc = run(rs, ST_INV_DROP_DEAD);
    }
    return rc;
}

int pal_room_store_invite_create(struct pal_room_store *rs, const char *room, const char *label,
                                 const char *created_by, int64_t now_ms, int64_t expires_ms,
                                 int max_uses, bool lobby, char token_out[PAL_INVITE_TOKEN_LEN + 1],
                                 struct pal_invite *out)
{
    if (!room_name_ok(room))
        return -ENOENT;
    if (!text_ok(label, 1, PAL_INVITE_LABEL_MAX * 4) || !text_ok(created_by, 0, NAME_BYTES_MAX) ||
        expires_ms <= now_ms || expires_ms - now_ms > PAL_INVITE_MAX_SECONDS * 1000LL ||
        max_uses < 0)
        return -EINVAL;
    int rc = begin_in_room(rs, room);
    if (!rc)
        rc = make_room_for_invite(rs, room, now_ms);
    /* 128 random bits do not collide; the loop only keeps a broken random
     * source from ending in a generic error. */
    for (int attempt = 0; !rc && attempt < 3; attempt++) {
        unsigned char hash[32];
        rc = pal_invite_token_new(token_out);
        if (!rc)
            rc = token_hash(token_out, hash);
        if (rc)
            break;
        sqlite3_stmt *st = with(rs, ST_INV_INSERT, "t", room);
        sqlite3_bind_blob(st, 2, hash, sizeof(hash), SQLITE_TRANSIENT);
        with(rs, ST_INV_INSERT, "__ttiiib", label, created_by, now_ms, expires_ms,
             (int64_t)max_uses, (int)lobby);
        rc = run(rs, ST_INV_INSERT);
        if (rc != -EEXIST)
            break;
        rc = attempt < 2 ? 0 : -EIO;
    }
    int64_t id = sqlite3_last_insert_rowid(rs->db);
    rc = finish(rs, rc);
    if (rc) {
        memset(token_out, 0, PAL_INVITE_TOKEN_LEN + 1);
        return rc;
    }
    *out = (struct pal_invite){.id = id,
                               .created_ms = now_ms,
                               .expires_ms = expires_ms,
                               .max_uses = max_uses,
                               .lobby = lobby};
    snprintf(out->room, sizeof(out->room), "%s", room);
    snprintf(out->label, sizeof(out->label), "%s", label);
    snprintf(out->created_by, sizeof(out->created_by), "%s", created_by);
    return 0;
}

int pal_room_store_invite_find(struct pal_room_store *rs, const char *room, const char *token,
                               int64_t now_ms, struct pal_invite *out)
{
    /* A malformed token cannot match a stored hash: no query. */
    if (!room || !token_ok(token))
        return -ENOENT;
    unsigned char hash[32];
    int rc = token_hash(token, hash);
    if (rc)
        return rc;
    /* Looked up by its hash (a unique index): the cost does not depend on
     * how close a guess is to a real token. */
    sqlite3_bind_blob(rs->st[ST_INV_BY_HASH], 1, hash, sizeof(hash), SQLITE_STATIC);
    struct pal_invite inv;
    rc = run_one(rs, ST_INV_BY_HASH, read_invite, &inv);
    if (rc)
        return rc;
    /* Another room's link answers as an unknown one: it does not tell the
     * holder that the token exists. */
    if (strcmp(inv.room, room) != 0)
        return -ENOENT;
    if (inv.revoked_ms > 0)
        return -ECANCELED;
    if (inv.expires_ms <= now_ms)
        return -ETIMEDOUT;
    *out = inv;
    return 0;
}

int pal_room_store_invite_consume(struct pal_room_store *rs, struct pal_invite *inv)
{
    /* No use left is told by the UPDATE alone (no row changed), not by the
     * row read before: another connection (the CLI's) may have taken the
     * last use since. */
    with(rs, ST_INV_USE, "i", inv->id);
    int rc = run(rs, ST_INV_USE);
    if (rc)
        return rc;
    if (sqlite3_changes(rs->db) == 0)
        return -EUSERS;
    inv->uses++;
    return 0;
}

int pal_room_store_invite_use(struct pal_room_store *rs, const char *room, const char *token,
                              int64_t now_ms, struct pal_invite *out)
{
    struct pal_invite inv;
    int rc = pal_room_store_invite_find(rs, room, token, now_ms, &inv);
    if (rc == 0)
        rc = pal_room_store_invite_consume(rs, &inv);
    if (rc == 0)
        *out = inv;
    return rc;
}

int pal_room_store_invite_get(struct pal_room_store *rs, const char *room, int64_t id,
                              struct pal_invite *out)
{
    if (!room_name_ok(room))
        return -ENOENT;
    with(rs, ST_INV_GET, "ti", room, id);
    return run_one(rs, ST_INV_GET, read_invite, out);
}

int pal_room_store_invite_list(struct pal_room_store *rs, const char *room, pal_invite_fn fn,
                               void *ud)
{
    if (!room_name_ok(room))
        return 0;
    int rc = purge_dead(rs, room, pal_wall_ms());
    if (rc)
        return rc;
    sqlite3_stmt *st = with(rs, ST_INV_LIST, "t", room);
    int n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct pal_invite inv;
        read_invite(st, &inv);
        n++;
        if (fn)
            fn(ud, &inv);
    }
    done(st);
    return rc == SQLITE_DONE ? n : db_error(rs, rc, stmt_sql[ST_INV_LIST]);
}

int pal_room_store_invite_revoke(struct pal_room_store *rs, const char *room, int64_t id,
                                 int64_t now_ms)
{
    if (!room_name_ok(room))
        return -ENOENT;
    with(rs, ST_INV_REVOKE, "tii", room, id, now_ms > 0 ? now_ms : 1);
    int rc = run(rs, ST_INV_REVOKE);
    if (rc || sqlite3_changes(rs->db) > 0)
        return rc;
    struct pal_invite inv;
    return pal_room_store_invite_get(rs, room, id, &inv); /* already revoked: 0 */
}

/* ---- journal ---- */

int pal_room_store_journal_add(struct pal_room_store *rs, const struct pal_journal_entry *e)
{
    const char *target_id = e->target_id ? e->target_id : "";
    const char *target_name = e->target_name ? e->target_name : "";
    const char *detail = e->detail ? e->detail : "";
    if (!room_name_ok(e->room) || !text_ok(e->action, 1, 64) ||
        !text_ok(e->actor_id, 0, PAL_SUB_MAX) || !text_ok(e->actor_name, 0, NAME_BYTES_MAX) ||
        !text_ok(target_id, 0, PAL_SUB_MAX) || !text_ok(target_name, 0, NAME_BYTES_MAX) ||
        !text_ok(detail, 0, JOURNAL_TEXT_MAX))
        return -EINVAL;
    int rc = run(rs, ST_BEGIN);
    if (rc)
        return rc;
    with(rs, ST_J_INSERT, "titttttt", e->room, e->ts_ms > 0 ? e->ts_ms : pal_wall_ms(), e->action,
         e->actor_id, e->actor_name, target_id, target_name, detail);
    rc = run(rs, ST_J_INSERT);
    int64_t n = 0;
    if (!rc) {
        with(rs, ST_J_COUNT, "t", e->room);
        rc = run_int(rs, ST_J_COUNT, &n);
    }
    if (!rc && n > PAL_JOURNAL_PER_ROOM) {
        with(rs, ST_J_TRIM, "ti", e->room, n - PAL_JOURNAL_PER_ROOM);
        rc = run(rs, ST_J_TRIM);
    }
    return finish(rs, rc);
}

int pal_room_store_journal_list(struct pal_room_store *rs, const char *room, int64_t before_id,
                                int limit, pal_journal_fn fn, void *ud)
{
    if (!room || before_id < 0 || limit < 1)
        return -EINVAL;
    sqlite3_stmt *st = with(rs, ST_J_LIST, "tii", room, before_id > 0 ? before_id : INT64_MAX,
                            (int64_t)PAL_MIN(limit, PAL_JOURNAL_PER_ROOM));
    int rc, n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct pal_journal_entry e = {
            .id = sqlite3_column_int64(st, 0),
            .ts_ms = sqlite3_column_int64(st, 1),
            .room = room,
            .action = pal_db_text(st, 2),
            .actor_id = pal_db_text(st, 3),
            .actor_name = pal_db_text(st, 4),
            .target_id = pal_db_text(st, 5),
            .target_name = pal_db_text(st, 6),
            .detail = pal_db_text(st, 7),
        };
        n++;
        if (fn)
            fn(ud, &e);
    }
    done(st);
    return rc == SQLITE_DONE ? n : db_error(rs, rc, stmt_sql[ST_J_LIST]);
}

/* ---- a cluster's copies ---- */

int pal_room_store_put(struct pal_room_store *rs, const struct pal_room_record *r)
{
    if (!room_name_ok(r->name) || !text_ok(r->title, 1, PAL_ROOM_TITLE_MAX * 4) ||
        !text_ok(r->owner_sub, 1, PAL_SUB_MAX) || !text_ok(r->owner_name, 0, NAME_BYTES_MAX))
        return -EINVAL;
    with(rs, ST_ROOM_PUT, "ttttibbb", r->name, r->title, r->owner_sub, r->owner_name,
         r->created_ms, (int)r->settings.lobby, (int)r->settings.locked,
         (int)r->settings.guest_chat);
    return run(rs, ST_ROOM_PUT);
}

static int hash_parse(const char *hex, unsigned char hash[32])
{
    if (!hex || strlen(hex) != 64)
        return -EINVAL;
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1 || !isxdigit((unsigned char)hex[2 * i]) ||
            !isxdigit((unsigned char)hex[2 * i + 1]))
            return -EINVAL;
        hash[i] = (unsigned char)v;
    }
    return 0;
}

int pal_room_store_invite_put(struct pal_room_store *rs, const char *hash_hex,
                              const struct pal_invite *inv, int64_t *id_out)
{
    unsigned char hash[32];
    if (hash_parse(hash_hex, hash) || !room_name_ok(inv->room) ||
        !text_ok(inv->label, 1, PAL_INVITE_LABEL_MAX * 4) ||
        !text_ok(inv->created_by, 0, NAME_BYTES_MAX) || inv->max_uses < 0 || inv->uses < 0)
        return -EINVAL;
    bool exists = false;
    int rc = room_exists(rs, inv->room, &exists);
    if (rc || !exists)
        return rc ? rc : -ENOENT;
    sqlite3_stmt *st = with(rs, ST_INV_PUT, "t", inv->room);
    sqlite3_bind_blob(st, 2, hash, sizeof(hash), SQLITE_TRANSIENT);
    with(rs, ST_INV_PUT, "__ttiiiibi", inv->label, inv->created_by, inv->created_ms,
         inv->expires_ms, (int64_t)inv->max_uses, (int64_t)inv->uses, (int)inv->lobby,
         inv->revoked_ms);
    rc = run(rs, ST_INV_PUT);
    if (rc)
        return rc;
    sqlite3_bind_blob(rs->st[ST_INV_BY_HASH], 1, hash, sizeof(hash), SQLITE_TRANSIENT);
    struct pal_invite got;
    rc = run_one(rs, ST_INV_BY_HASH, read_invite, &got);
    if (!rc && strcmp(got.room, inv->room) != 0)
        rc = -EEXIST; /* another room's link: never moved */
    if (!rc && id_out)
        *id_out = got.id;
    return rc;
}

int pal_room_store_invite_id(struct pal_room_store *rs, const char *room, const char *hash_hex,
                             int64_t *id)
{
    unsigned char hash[32];
    if (hash_parse(hash_hex, hash))
        return -ENOENT;
    sqlite3_bind_blob(rs->st[ST_INV_BY_HASH], 1, hash, sizeof(hash), SQLITE_TRANSIENT);
    struct pal_invite inv;
    int rc = run_one(rs, ST_INV_BY_HASH, read_invite, &inv);
    if (!rc && strcmp(inv.room, room) != 0)
        rc = -ENOENT;
    if (!rc)
        *id = inv.id;
    return rc;
}

int pal_room_store_invite_hash(struct pal_room_store *rs, const char *room, int64_t id,
                               char hex[65])
{
    if (!room_name_ok(room))
        return -ENOENT;
    sqlite3_stmt *st = with(rs, ST_INV_HASH, "ti", room, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32) {
        const unsigned char *h = sqlite3_column_blob(st, 0);
        for (int i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", h[i]);
    }
    bool found = rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32;
    done(st);
    if (found)
        return 0;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? -ENOENT : db_error(rs, rc, stmt_sql[ST_INV_HASH]);
}
