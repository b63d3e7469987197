/* Pending OpenID Connect sign-ins and Palabre's sessions in SQLite
 * (contract: include/palabre/oidc_store.h). */
#include "palabre/oidc_store.h"

#include <errno.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/common.h"
#include "palabre/db.h"
#include "palabre/log.h"

#define MOD "oidc"
#define BUSY_TIMEOUT_MS 2000

enum {
    ST_PENDING_PUT,
    ST_PENDING_TRIM,
    ST_PENDING_COUNT,
    ST_PENDING_GET,
    ST_PENDING_DEL,
    ST_SESSION_PUT,
    ST_SESSION_GET,
    ST_SESSION_TOUCH,
    ST_SESSION_DEL,
    ST_EXPIRE_PENDING,
    ST_EXPIRE_SESSIONS,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_PENDING_PUT] = "INSERT INTO oidc_pending(state, nonce, verifier, return_to, created_ms) "
                       "VALUES (?, ?, ?, ?, ?)",
    [ST_PENDING_TRIM] = "DELETE FROM oidc_pending WHERE created_ms < ?",
    [ST_PENDING_COUNT] = "SELECT count(*) FROM oidc_pending",
    [ST_PENDING_GET] = "SELECT nonce, verifier, return_to, created_ms FROM oidc_pending "
                       "WHERE state = ?",
    [ST_PENDING_DEL] = "DELETE FROM oidc_pending WHERE state = ?",
    [ST_SESSION_PUT] = "INSERT INTO oidc_sessions(token_hash, sub, name, email, siret, agent, "
                       "id_token, created_ms, last_seen_ms, expires_ms) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [ST_SESSION_GET] = "SELECT sub, name, email, siret, agent, id_token, created_ms, "
                       "last_seen_ms, expires_ms FROM oidc_sessions WHERE token_hash = ?",
    [ST_SESSION_TOUCH] = "UPDATE oidc_sessions SET last_seen_ms = ? WHERE token_hash = ?",
    [ST_SESSION_DEL] = "DELETE FROM oidc_sessions WHERE token_hash = ?",
    [ST_EXPIRE_PENDING] = "DELETE FROM oidc_pending WHERE created_ms < ?",
    [ST_EXPIRE_SESSIONS] = "DELETE FROM oidc_sessions WHERE expires_ms <= ? OR last_seen_ms < ?",
};

static const char *const migrations[] = {
    "CREATE TABLE oidc_pending (state TEXT PRIMARY KEY, nonce TEXT NOT NULL, "
    "verifier TEXT NOT NULL, return_to TEXT NOT NULL, created_ms INTEGER NOT NULL);"
    "CREATE INDEX oidc_pending_created ON oidc_pending(created_ms);"
    "CREATE TABLE oidc_sessions (token_hash TEXT PRIMARY KEY, sub TEXT NOT NULL, "
    "name TEXT NOT NULL, email TEXT NOT NULL, siret TEXT NOT NULL, agent INTEGER NOT NULL, "
    "id_token TEXT NOT NULL, created_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL, "
    "expires_ms INTEGER NOT NULL);",
};

struct pal_oidc_store {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
};

static void store_free(struct pal_oidc_store *st)
{
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(st->st[i]);
    sqlite3_close(st->db);
    free(st);
}

int pal_oidc_store_open(const char *data_dir, struct pal_oidc_store **out)
{
    *out = NULL;
    struct pal_oidc_store *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    int rc = pal_db_open(MOD, data_dir, BUSY_TIMEOUT_MS, "PRAGMA synchronous=NORMAL", &st->db);
    if (!rc)
        rc = pal_db_migrate(MOD, st->db, "oidc_schema_version", migrations,
                            (int)PAL_ARRAY_LEN(migrations));
    if (!rc)
        rc = pal_db_prepare(MOD, st->db, stmt_sql, st->st, ST_COUNT);
    if (rc) {
        PAL_ERROR(MOD, NULL, NULL, "no sign-in store in %s", data_dir ? data_dir : "(null)");
        store_free(st);
        return rc;
    }
    *out = st;
    return 0;
}

void pal_oidc_store_close(struct pal_oidc_store *st)
{
    if (st)
        store_free(st);
}

/* Runs a prepared statement without rows; 0 or -errno. */
static int run(struct pal_oidc_store *st, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_DONE) {
        PAL_ERROR(MOD, NULL, NULL, "%s", sqlite3_errmsg(st->db));
        return pal_db_errno(rc);
    }
    return 0;
}

/* After the one step of a lookup: resets s; 0 when a row was read,
 * -ENOENT when none, else -errno. */
static int row_done(sqlite3_stmt *s, int rc)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : pal_db_errno(rc);
}

/* Hex SHA-256 of the cookie's token. */
static void token_hash(const char *token, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_Digest(token, strlen(token), md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void copy(char *dst, size_t size, sqlite3_stmt *s, int i)
{
    snprintf(dst, size, "%s", pal_db_text(s, i));
}

int pal_oidc_store_pending_put(struct pal_oidc_store *st, const struct pal_oidc_pending *p,
                               int max)
{
    sqlite3_stmt *s = st->st[ST_PENDING_TRIM];
    sqlite3_bind_int64(s, 1, p->created_ms - PAL_OIDC_PENDING_MS);
    int rc = run(st, s);
    if (rc)
        return rc;
    s = st->st[ST_PENDING_COUNT];
    rc = sqlite3_step(s);
    int64_t held = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    if ((rc = row_done(s, rc)))
        return rc;
    if (held >= max)
        return -ENOSPC;
    s = st->st[ST_PENDING_PUT];
    sqlite3_bind_text(s, 1, p->state, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, p->nonce, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, p->verifier, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, p->return_to, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, p->created_ms);
    return run(st, s);
}

int pal_oidc_store_pending_take(struct pal_oidc_store *st, const char *state, int64_t now_ms,
                                struct pal_oidc_pending *out)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *s = st->st[ST_PENDING_GET];
    sqlite3_bind_text(s, 1, state, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        snprintf(out->state, sizeof(out->state), "%s", state);
        copy(out->nonce, sizeof(out->nonce), s, 0);
        copy(out->verifier, sizeof(out->verifier), s, 1);
        copy(out->return_to, sizeof(out->return_to), s, 2);
        out->created_ms = sqlite3_column_int64(s, 3);
    }
    if ((rc = row_done(s, rc)))
        return rc;
    s = st->st[ST_PENDING_DEL];
    sqlite3_bind_text(s, 1, state, -1, SQLITE_STATIC);
    if ((rc = run(st, s)))
        return rc;
    return now_ms - out->created_ms > PAL_OIDC_PENDING_MS ? -ETIMEDOUT : 0;
}

int pal_oidc_store_session_put(struct pal_oidc_store *st, const char *token,
                               const struct pal_oidc_session *ses)
{
    char h[65];
    token_hash(token, h);
    sqlite3_stmt *s = st->st[ST_SESSION_PUT];
    const struct pal_oidc_user *u = &ses->user;
    sqlite3_bind_text(s, 1, h, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, u->sub, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, u->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, u->email, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, u->siret, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 6, u->agent);
    sqlite3_bind_text(s, 7, ses->id_token, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 8, ses->created_ms);
    sqlite3_bind_int64(s, 9, ses->last_seen_ms);
    sqlite3_bind_int64(s, 10, ses->expires_ms);
    return run(st, s);
}

int pal_oidc_store_session_delete(struct pal_oidc_store *st, const char *token)
{
    char h[65];
    token_hash(token, h);
    sqlite3_stmt *s = st->st[ST_SESSION_DEL];
    sqlite3_bind_text(s, 1, h, -1, SQLITE_STATIC);
    return run(st, s);
}

int pal_oidc_store_session_get(struct pal_oidc_store *st, const char *token, int64_t now_ms,
                               int64_t idle_ms, struct pal_oidc_session *out)
{
    memset(out, 0, sizeof(*out));
    char h[65];
    token_hash(token, h);
    sqlite3_stmt *s = st->st[ST_SESSION_GET];
    sqlite3_bind_text(s, 1, h, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        copy(out->user.sub, sizeof(out->user.sub), s, 0);
        copy(out->user.name, sizeof(out->user.name), s, 1);
        copy(out->user.email, sizeof(out->user.email), s, 2);
        copy(out->user.siret, sizeof(out->user.siret), s, 3);
        out->user.agent = sqlite3_column_int(s, 4) != 0;
        copy(out->id_token, sizeof(out->id_token), s, 5);
        out->created_ms = sqlite3_column_int64(s, 6);
        out->last_seen_ms = sqlite3_column_int64(s, 7);
        out->expires_ms = sqlite3_column_int64(s, 8);
    }
    if ((rc = row_done(s, rc)))
        return rc;
    if (now_ms >= out->expires_ms || now_ms - out->last_seen_ms > idle_ms) {
        pal_oidc_store_session_delete(st, token);
        return -ETIMEDOUT;
    }
    if (now_ms - out->last_seen_ms < idle_ms / 8)
        return 0;
    s = st->st[ST_SESSION_TOUCH];
    sqlite3_bind_int64(s, 1, now_ms);
    sqlite3_bind_text(s, 2, h, -1, SQLITE_STATIC);
    out->last_seen_ms = now_ms;
    return run(st, s);
}

int pal_oidc_store_expire(struct pal_oidc_store *st, int64_t now_ms, int64_t idle_ms)
{
    sqlite3_stmt *s = st->st[ST_EXPIRE_PENDING];
    sqlite3_bind_int64(s, 1, now_ms - PAL_OIDC_PENDING_MS);
    int rc = run(st, s);
    int n = rc ? 0 : sqlite3_changes(st->db);
    s = st->st[ST_EXPIRE_SESSIONS];
    sqlite3_bind_int64(s, 1, now_ms);
    sqlite3_bind_int64(s, 2, now_ms - idle_ms);
    if (!rc && !(rc = run(st, s)))
        n += sqlite3_changes(st->db);
    return rc ? rc : n;
}
