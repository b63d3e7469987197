/* Opening DIR/palabre.db and migrating a store's schema (see db.h). */
#include "palabre/db.h"

#include "palabre/common.h"
#include "palabre/log.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

int pal_db_errno(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return 0;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_CONSTRAINT:
        return -EEXIST;
    default:
        return -EIO;
    }
}

const char *pal_db_text(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return t ? t : "";
}

int pal_db_exec(const char *mod, sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        PAL_ERROR(mod, NULL, NULL, "%s: %s", sql, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        int err = pal_db_errno(rc);
        return err ? err : -EIO;
    }
    return 0;
}

int pal_db_open(const char *mod, const char *data_dir, int busy_timeout_ms, const char *pragmas,
                sqlite3 **out)
{
    *out = NULL;
    if (!data_dir || !*data_dir) {
        PAL_ERROR(mod, NULL, NULL, "no data directory");
        return -EINVAL;
    }
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/palabre.db", data_dir) >= (int)sizeof(path)) {
        PAL_ERROR(mod, NULL, NULL, "data directory path too long");
        return -ENAMETOOLONG;
    }
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(
        path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        PAL_ERROR(mod, NULL, NULL, "cannot open %s: %s", path,
                  db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return -EIO;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, busy_timeout_ms);
    /* journal_mode answers with a row: "wal" when it took effect. */
    sqlite3_stmt *st = NULL;
    bool wal = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL) == SQLITE_OK &&
               sqlite3_step(st) == SQLITE_ROW && strcmp(pal_db_text(st, 0), "wal") == 0;
    sqlite3_finalize(st);
    if (!wal) {
        PAL_ERROR(mod, NULL, NULL, "cannot use WAL on %s: %s", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return -EIO;
    }
    if (pragmas && pal_db_exec(mod, db, pragmas)) {
        sqlite3_close(db);
        return -EIO;
    }
    *out = db;
    return 0;
}

static int read_version(const char *mod, sqlite3 *db, const char *table, int *version)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT version FROM %s", table);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    *version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return 0;
    PAL_ERROR(mod, NULL, NULL, "reading %s: %s", table, sqlite3_errmsg(db));
    return pal_db_errno(rc) ? pal_db_errno(rc) : -EIO;
}

int pal_db_migrate(const char *mod, sqlite3 *db, const char *version_table,
                   const char *const *migrations, int n)
{
    char sql[160];
    int rc = pal_db_exec(mod, db, "BEGIN IMMEDIATE");
    if (rc)
        return rc;
    int version = 0;
    snprintf(sql, sizeof(sql), "CREATE TABLE IF NOT EXISTS %s (version INTEGER NOT NULL)",
             version_table);
    rc = pal_db_exec(mod, db, sql);
    if (!rc)
        rc = read_version(mod, db, version_table, &version);
    if (!rc && version > n) {
        PAL_ERROR(mod, NULL, NULL, "%s %d is newer than this build's %d", version_table, version,
                  n);
        rc = -EPROTO;
    }
    for (int v = version; !rc && v < n; v++)
        rc = pal_db_exec(mod, db, migrations[v]);
    if (!rc && version < n) {
        snprintf(sql, sizeof(sql), "DELETE FROM %s; INSERT INTO %s VALUES (%d)", version_table,
                 version_table, n);
        rc = pal_db_exec(mod, db, sql);
    }
    if (!rc)
        return pal_db_exec(mod, db, "COMMIT");
    pal_db_exec(mod, db, "ROLLBACK");
    return rc;
}

int pal_db_prepare(const char *mod, sqlite3 *db, const char *const *sql, sqlite3_stmt **st, int n)
{
    for (int i = 0; i < n; i++) {
        int rc = sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st[i], NULL);
        if (rc != SQLITE_OK) {
            PAL_ERROR(mod, NULL, NULL, "%s: %s (sqlite %d)", sql[i], sqlite3_errmsg(db), rc);
            for (int j = 0; j <= i; j++) {
                sqlite3_finalize(st[j]);
                st[j] = NULL;
            }
            return pal_db_errno(rc) ? pal_db_errno(rc) : -EIO;
        }
    }
    return 0;
}
