/* The data directory's SQLite file, DIR/palabre.db, as the stores open it.
 *
 * Each store (chat_store.c, room_store.c) has a connection of its own to the
 * same file, in WAL mode, and keeps its schema version in a table of its
 * own, so that each migrates alone: a migrations array whose entry i brings
 * the schema from version i to i + 1.
 *
 * mod names the store in log lines. Thread: the thread that owns the
 * connection (the signaling thread). */
#ifndef PALABRE_DB_H
#define PALABRE_DB_H

#include <sqlite3.h>

/* Opens (creates) DATA_DIR/palabre.db: extended result codes, the busy
 * timeout, WAL (refused if it does not take: a file that is not a database
 * is left as it is), then pragmas (e.g. "PRAGMA synchronous=FULL"). 0 and
 * *out, or -EINVAL (no directory), -ENAMETOOLONG, -EIO, with a log line. */
int pal_db_open(const char *mod, const char *data_dir, int busy_timeout_ms, const char *pragmas,
                sqlite3 **out);

/* Brings the schema up to date in one transaction: creates version_table
 * (one row) if needed and runs the migrations it has not seen. -EPROTO when
 * the file's version is newer than n (a newer build wrote it: not touched),
 * another -errno on failure (everything rolled back). */
int pal_db_migrate(const char *mod, sqlite3 *db, const char *version_table,
                   const char *const *migrations, int n);

/* Prepares n statements for the life of the connection. 0 or -errno; on
 * failure the ones prepared are finalized and set to NULL. */
int pal_db_prepare(const char *mod, sqlite3 *db, const char *const *sql, sqlite3_stmt **st, int n);

/* Runs SQL without rows to read. 0 or -errno, with a log line. */
int pal_db_exec(const char *mod, sqlite3 *db, const char *sql);

/* A SQLite result code as 0 or -errno (-EEXIST for a constraint, -EBUSY,
 * -ENOSPC, -EACCES, -ENOMEM, else -EIO). */
int pal_db_errno(int rc);

/* The text of column i, "" for NULL. */
const char *pal_db_text(sqlite3_stmt *st, int i);

#endif
