/* Room store on real SQLite files, each test in its own mkdtemp directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "palabre/chat_store.h"
#include "palabre/common.h"
#include "palabre/log.h"
#include "palabre/room_store.h"

#include <sys/stat.h>
#include <errno.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOW 1764374400000LL /* 2025-11-29, ms */
#define DAY (86400 * 1000LL)

struct fixture {
    char dir[64];
    struct pal_room_store *rs;
};

static const struct pal_room_settings open_room = {
    .lobby = false, .locked = false, .guest_chat = true};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/pal-rooms-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(pal_room_store_open(f->dir, &f->rs), 0);
    assert_non_null(f->rs);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    pal_room_store_close(f->rs);
    /* The database and its WAL files are all a test leaves; rmdir fails
     * (and the test with it) if anything else was written. */
    const char *files[] = {"palabre.db", "palabre.db-wal", "palabre.db-shm"};
    for (int i = 0; i < 3; i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
        unlink(path);
    }
    assert_int_equal(rmdir(f->dir), 0);
    free(f);
    return 0;
}

static void reopen(struct fixture *f)
{
    pal_room_store_close(f->rs);
    f->rs = NULL;
    assert_int_equal(pal_room_store_open(f->dir, &f->rs), 0);
}

/* A second, plain connection to the same file: what is really stored. */
static sqlite3 *raw_db(struct fixture *f)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/palabre.db", f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static int64_t raw_int(struct fixture *f, const char *sql)
{
    sqlite3 *db = raw_db(f);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void create(struct fixture *f, const char *name, const char *owner, int64_t at)
{
    assert_int_equal(pal_room_store_create(f->rs, name, "Un titre", owner, "Nom", NULL, at, 100),
                     0);
}

static struct pal_invite invite(struct fixture *f, const char *room, int max_uses,
                                char token[PAL_INVITE_TOKEN_LEN + 1])
{
    struct pal_invite inv;
    char scratch[PAL_INVITE_TOKEN_LEN + 1];
    assert_int_equal(pal_room_store_invite_create(f->rs, room, "Partenaires", "Alice", NOW,
                                                  NOW + 7 * DAY, max_uses, true,
                                                  token ? token : scratch, &inv),
                     0);
    return inv;
}

/* Rooms listed by list_for. */
struct listing {
    int n;
    char names[16][PAL_ROOM_MAX + 1];
    bool owner[16];
};

static void on_room(void *ud, const struct pal_room_record *r, bool owner)
{
    struct listing *l = ud;
    assert_true(l->n < 16);
    snprintf(l->names[l->n], sizeof(l->names[0]), "%s", r->name);
    l->owner[l->n++] = owner;
}

/* Links listed by invite_list. */
struct links {
    int n;
    int64_t ids[1100];
};

static void on_invite(void *ud, const struct pal_invite *inv)
{
    struct links *l = ud;
    assert_true(l->n < 1100);
    l->ids[l->n++] = inv->id;
}

/* Journal entries, copied out of the callback. */
struct lines {
    int n;
    int64_t ids[64];
    char actions[64][16];
    struct pal_journal_entry last;
    char text[8][64];
};

static void on_line(void *ud, const struct pal_journal_entry *e)
{
    struct lines *l = ud;
    assert_true(l->n < 64);
    l->ids[l->n] = e->id;
    snprintf(l->actions[l->n++], sizeof(l->actions[0]), "%s", e->action);
    l->last = *e;
    const char *src[6] = {e->room,      e->actor_id,    e->actor_name,
                          e->target_id, e->target_name, e->detail};
    for (int i = 0; i < 6; i++)
        snprintf(l->text[i], sizeof(l->text[0]), "%s", src[i]);
}

static void rooms_create_get_update(void **state)
{
    struct fixture *f = *state;
    struct pal_room_settings locked = {.lobby = false, .locked = true, .guest_chat = false};
    assert_int_equal(pal_room_store_create(f->rs, "conseil-42", "Conseil municipal", "sub-alice",
                                           "Alice", &locked, NOW, 100),
                     0);
    struct pal_room_record r;
    assert_int_equal(pal_room_store_get(f->rs, "conseil-42", &r), 0);
    assert_string_equal(r.name, "conseil-42");
    assert_string_equal(r.title, "Conseil municipal");
    assert_string_equal(r.owner_sub, "sub-alice");
    assert_string_equal(r.owner_name, "Alice");
    assert_int_equal(r.created_ms, NOW);
    assert_false(r.settings.lobby);
    assert_true(r.settings.locked);
    assert_false(r.settings.guest_chat);

    /* NULL settings: the defaults (lobby, unlocked, guest chat). */
    assert_int_equal(pal_room_store_create(f->rs, "b", "B", "sub-alice", "Alice", NULL, NOW, 100),
                     0);
    assert_int_equal(pal_room_store_get(f->rs, "b", &r), 0);
    assert_true(r.settings.lobby);
    assert_false(r.settings.locked);
    assert_true(r.settings.guest_chat);

    /* The name is taken, whoever asks; the first room is unchanged. */
    assert_int_equal(
        pal_room_store_create(f->rs, "conseil-42", "Autre", "sub-bob", "Bob", NULL, NOW + 1, 100),
        -EEXIST);
    assert_int_equal(pal_room_store_get(f->rs, "conseil-42", &r), 0);
    assert_string_equal(r.owner_sub, "sub-alice");

    /* Title only, then settings only. */
    assert_int_equal(pal_room_store_update(f->rs, "conseil-42", "Séance du lundi", NULL), 0);
    assert_int_equal(pal_room_store_get(f->rs, "conseil-42", &r), 0);
    assert_string_equal(r.title, "Séance du lundi");
    assert_true(r.settings.locked);
    assert_int_equal(pal_room_store_update(f->rs, "conseil-42", NULL, &open_room), 0);
    assert_int_equal(pal_room_store_get(f->rs, "conseil-42", &r), 0);
    assert_string_equal(r.title, "Séance du lundi");
    assert_false(r.settings.locked);
    assert_true(r.settings.guest_chat);
    /* Same values again: still found. */
    assert_int_equal(pal_room_store_update(f->rs, "conseil-42", NULL, &open_room), 0);

    assert_int_equal(pal_room_store_get(f->rs, "nope", &r), -ENOENT);
    assert_int_equal(pal_room_store_update(f->rs, "nope", "T", NULL), -ENOENT);
}

static void rooms_refuse_bad_input(void **state)
{
    struct fixture *f = *state;
    char long_name[PAL_ROOM_MAX + 2], title[PAL_ROOM_TITLE_MAX * 4 + 2], sub[PAL_SUB_MAX + 2];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    const char *bad_names[] = {"", "Conseil", "a b", "a/b", "é", "a_b", long_name, NULL};
    for (int i = 0; i < (int)PAL_ARRAY_LEN(bad_names); i++)
        assert_int_equal(pal_room_store_create(f->rs, bad_names[i], "T", "s", "N", NULL, NOW, 100),
                         -EINVAL);
    long_name[PAL_ROOM_MAX] = '\0'; /* 64: fine */
    assert_int_equal(pal_room_store_create(f->rs, long_name, "T", "s", "N", NULL, NOW, 100), 0);

    memset(title, 'x', sizeof(title) - 1);
    title[sizeof(title) - 1] = '\0'; /* 481 bytes */
    assert_int_equal(pal_room_store_create(f->rs, "t", title, "s", "N", NULL, NOW, 100), -EINVAL);
    assert_int_equal(pal_room_store_create(f->rs, "t", "", "s", "N", NULL, NOW, 100), -EINVAL);
    assert_int_equal(pal_room_store_update(f->rs, long_name, title, NULL), -EINVAL);
    assert_int_equal(pal_room_store_update(f->rs, long_name, "", NULL), -EINVAL);
    memset(sub, 's', sizeof(sub) - 1);
    sub[sizeof(sub) - 1] = '\0';
    assert_int_equal(pal_room_store_create(f->rs, "t", "T", sub, "N", NULL, NOW, 100), -EINVAL);
    assert_int_equal(pal_room_store_create(f->rs, "t", "T", "", "N", NULL, NOW, 100), -EINVAL);
    title[PAL_ROOM_TITLE_MAX * 4] = '\0'; /* 480 bytes: 120 characters of 4 bytes fit */
    sub[PAL_SUB_MAX] = '\0';
    assert_int_equal(pal_room_store_create(f->rs, "t", title, sub, "N", NULL, NOW, 100), 0);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM rooms"), 2);
}

static void rooms_per_owner_quota(void **state)
{
    struct fixture *f = *state;
    const char *names[] = {"r1", "r2", "r3"};
    for (int i = 0; i < 3; i++)
        assert_int_equal(pal_room_store_create(f->rs, names[i], "T", "alice", "A", NULL, NOW, 3),
                         0);
    assert_int_equal(pal_room_store_create(f->rs, "r4", "T", "alice", "A", NULL, NOW, 3), -EDQUOT);
    struct pal_room_record r;
    assert_int_equal(pal_room_store_get(f->rs, "r4", &r), -ENOENT);
    /* Another owner has a quota of their own; <= 0 is no limit. */
    assert_int_equal(pal_room_store_create(f->rs, "r4", "T", "bob", "B", NULL, NOW, 3), 0);
    assert_int_equal(pal_room_store_create(f->rs, "r5", "T", "alice", "A", NULL, NOW, 0), 0);
}

static void list_for_owner_and_moderator(void **state)
{
    struct fixture *f = *state;
    create(f, "a-old", "alice", NOW + 1);
    create(f, "c-bob", "bob", NOW + 2);
    create(f, "b-new", "alice", NOW + 3);
    create(f, "d-bob", "bob", NOW + 4);
    assert_int_equal(pal_room_store_set_moderator(f->rs, "c-bob", "alice", "Alice", true), 0);
    /* An owner naming themselves is listed once, as owner. */
    assert_int_equal(pal_room_store_set_moderator(f->rs, "b-new", "alice", "Alice", true), 0);

    struct listing l = {0};
    assert_int_equal(pal_room_store_list_for(f->rs, "alice", 200, on_room, &l), 3);
    assert_string_equal(l.names[0], "b-new");
    assert_true(l.owner[0]);
    assert_string_equal(l.names[1], "c-bob");
    assert_false(l.owner[1]);
    assert_string_equal(l.names[2], "a-old");
    assert_true(l.owner[2]);

    struct listing two = {0};
    assert_int_equal(pal_room_store_list_for(f->rs, "alice", 2, on_room, &two), 2);
    assert_string_equal(two.names[1], "c-bob");

    struct listing bob = {0};
    assert_int_equal(pal_room_store_list_for(f->rs, "bob", 200, on_room, &bob), 2);
    assert_string_equal(bob.names[0], "d-bob");
    assert_string_equal(bob.names[1], "c-bob");
    assert_true(bob.owner[1]);
    assert_int_equal(pal_room_store_list_for(f->rs, "carol", 200, on_room, &(struct listing){0}),
                     0);
    assert_int_equal(pal_room_store_list_for(f->rs, "alice", 0, on_room, &l), -EINVAL);

    /* Unnamed: c-bob is no longer alice's. */
    assert_true(pal_room_store_is_moderator(f->rs, "c-bob", "alice"));
    assert_int_equal(pal_room_store_set_moderator(f->rs, "c-bob", "alice", NULL, false), 0);
    assert_false(pal_room_store_is_moderator(f->rs, "c-bob", "alice"));
    assert_int_equal(pal_room_store_set_moderator(f->rs, "c-bob", "alice", NULL, false), 0);
    struct listing after = {0};
    assert_int_equal(pal_room_store_list_for(f->rs, "alice", 200, on_room, &after), 2);
    assert_string_equal(after.names[1], "a-old");
}

static void named_moderators(void **state)
{
    struct fixture *f = *state;
    create(f, "salle", "alice", NOW);
    assert_false(pal_room_store_is_moderator(f->rs, "salle", "bob"));
    assert_int_equal(pal_room_store_set_moderator(f->rs, "salle", "bob", "Bob", true), 0);
    assert_true(pal_room_store_is_moderator(f->rs, "salle", "bob"));
    assert_false(pal_room_store_is_moderator(f->rs, "other", "bob"));
    assert_int_equal(pal_room_store_set_moderator(f->rs, "nope", "bob", "Bob", true), -ENOENT);
    assert_int_equal(pal_room_store_set_moderator(f->rs, "salle", "", "X", true), -EINVAL);

    /* PAL_MODERATORS_PER_ROOM named at most; naming one again renames. */
    for (int i = 1; i < PAL_MODERATORS_PER_ROOM; i++) {
        char sub[32];
        snprintf(sub, sizeof(sub), "agent-%d", i);
        assert_int_equal(pal_room_store_set_moderator(f->rs, "salle", sub, "Agent", true), 0);
    }
    assert_int_equal(pal_room_store_set_moderator(f->rs, "salle", "one-more", "X", true), -EDQUOT);
    assert_false(pal_room_store_is_moderator(f->rs, "salle", "one-more"));
    assert_int_equal(pal_room_store_set_moderator(f->rs, "salle", "bob", "Robert", true), 0);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM room_moderators WHERE name = 'Robert'"), 1);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM room_moderators"), PAL_MODERATORS_PER_ROOM);
}

static bool b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static void invite_token_format(void **state)
{
    char a[PAL_INVITE_TOKEN_LEN + 1], b[PAL_INVITE_TOKEN_LEN + 1];
    bool last_seen[4] = {false};
    for (int round = 0; round < 200; round++) {
        assert_int_equal(pal_invite_token_new(a), 0);
        assert_int_equal(strlen(a), PAL_INVITE_TOKEN_LEN);
        for (int i = 0; i < PAL_INVITE_TOKEN_LEN; i++)
            assert_true(b64url_char(a[i]));
        /* 128 bits in 22 characters: the last one carries 2 bits, so it
         * is one of A, Q, g, w (and no '=' padding). */
        const char *last = strchr("AQgw", a[PAL_INVITE_TOKEN_LEN - 1]);
        assert_non_null(last);
        last_seen[last - "AQgw"] = true;
        assert_int_equal(pal_invite_token_new(b), 0);
        assert_string_not_equal(a, b);
    }
    for (int i = 0; i < 4; i++)
        assert_true(last_seen[i]);
}

/* Every cell of every table, as text and as bytes: none holds the token. */
static void assert_token_nowhere(struct fixture *f, const char *token)
{
    sqlite3 *db = raw_db(f);
    sqlite3_stmt *tables;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table'",
                                        -1, &tables, NULL),
                     SQLITE_OK);
    int cells = 0;
    while (sqlite3_step(tables) == SQLITE_ROW) {
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\"", sqlite3_column_text(tables, 0));
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(st); c++) {
                const void *v = sqlite3_column_blob(st, c);
                int n = sqlite3_column_bytes(st, c);
                assert_null(v ? memmem(v, (size_t)n, token, strlen(token)) : NULL);
                cells++;
            }
        }
        sqlite3_finalize(st);
    }
    sqlite3_finalize(tables);
    sqlite3_close(db);
    assert_true(cells > 10);
}

static void invite_stores_only_the_hash(void **state)
{
    struct fixture *f = *state;
    create(f, "salle", "alice", NOW);
    char token[PAL_INVITE_TOKEN_LEN + 1];
    struct pal_invite inv;
    assert_int_equal(pal_room_store_invite_create(f->rs, "salle", "Bureau d'études", "Alice", NOW,
                                                  NOW + 7 * DAY, 5, false, token, &inv),
                     0);
    assert_int_equal(strlen(token), PAL_INVITE_TOKEN_LEN);
    assert_true(inv.id > 0);
    assert_string_equal(inv.room, "salle");
    assert_string_equal(inv.label, "Bureau d'études");
    assert_string_equal(inv.created_by, "Alice");
    assert_int_equal(inv.created_ms, NOW);
    assert_int_equal(inv.expires_ms, NOW + 7 * DAY);
    assert_int_equal(inv.max_uses, 5);
    assert_int_equal(inv.uses, 0);
    assert_false(inv.lobby);
    assert_int_equal(inv.revoked_ms, 0);
    assert_token_nowhere(f, token);

    /* What is stored is SHA-256(token). */
    unsigned char want[32];
    unsigned int len;
    assert_int_equal(EVP_Digest(token, strlen(token), want, &len, EVP_sha256(), NULL), 1);
    sqlite3 *db = raw_db(f);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT token_hash FROM invites", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_bytes(st, 0), 32);
    assert_memory_equal(sqlite3_column_blob(st, 0), want, 32);
    sqlite3_finalize(st);
    sqlite3_close(db);

    struct pal_invite got;
    assert_int_equal(pal_room_store_invite_get(f->rs, "salle", inv.id, &got), 0);
    assert_int_equal(got.id, inv.id);
    assert_string_equal(got.label, inv.label);
    assert_string_equal(got.created_by, "Alice");
    assert_int_equal(got.expires_ms, inv.expires_ms);
    assert_int_equal(got.max_uses, 5);
    assert_false(got.lobby);
    assert_int_equal(pal_room_store_invite_get(f->rs, "other", inv.id, &got), -ENOENT);
}

static void invite_use_outcomes(void **state)
{
    struct fixture *f = *state;
    create(f, "salle", "alice", NOW);
    create(f, "autre", "bob", NOW);
    char once[PAL_INVITE_TOKEN_LEN + 1], open_link[PAL_INVITE_TOKEN_LEN + 1],
        other[PAL_INVITE_TOKEN_LEN + 1], revoked[PAL_INVITE_TOKEN_LEN + 1],
        unknown[PAL_INVITE_TOKEN_LEN + 1];
    struct pal_invite i_once = invite(f, "salle", 1, once);
    struct pal_invite i_open = invite(f, "salle", 0, open_link);
    struct pal_invite i_other = invite(f, "autre", 0, other);
    struct pal_invite i_rev = invite(f, "salle", 0, revoked);
    assert_int_equal(pal_invite_token_new(unknown), 0);
    struct pal_invite out;

    /* Unknown, malformed, or another room's: all the same answer. */
    assert_int_equal(pal_room_store_invite_use(f->rs, "salle", unknown, NOW, &out), -ENOENT);
    assert_int_equal(pal_room_store_invite_use(f->rs, "salle", "", NOW, &out), -ENOENT);
    assert_int_equal(pal_room_store_invite_use(f->rs, "salle", "short", NOW, &out), -ENOENT);
    char bad[PAL_INVITE_TOKEN_LEN + 1];
    memcpy(bad, once, sizeof(bad));
    bad[3] = '=';
    assert_int_equal(pal_room_store_invite_use(f->rs, "salle", bad, NOW, &out), -ENOENT);
    char longer[PAL_INVITE_TOKEN_LEN + 2];
    snprintf(longer, sizeof(longer), "%sA", once);
    assert_int_equal(pal_room_store_invite_use(f->rs, "salle", longer, NOW, &out), -ENOENT);
    assert_int_equal(pal_room_store_invite_use(f->rs, "salle", other, NOW, &out), -ENOENT);
    assert_int_equal(pal_room_store_invite_get(f->rs, "autre", i_other.id, &out), 0);
    assert_int_equal(out.uses, 0); /* the wrong room's try counted nothing */

    /* A use limit of 1: the second use is refused, and counts nothing. */
    assert_int_equal(pal_room_store_invite_use(f->rs, "salle", once, NOW, &out), 0);
    assert_int_equal(out.id, i_once.id);
    assert_int_equal(out.uses, 1);
    assert_string_equal(pal_invite_state(&out, NOW), "used_up");
    assert_int_equal(pal_room_store_invite_use(f->rs, "salle", once, NOW, &out), -EUSERS);
    assert_int_equal(pal_room_store_invite_get(f->rs, "salle", i_once.id, &out), 0);
    assert_int_equal(out.uses, 1);

    /* Unlimited: uses are counted for display. */
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(pal_room_store_invite_use(f->rs, "salle", open_link, NOW, &out), 0);
        assert_int_equal(out.uses, i);
        assert_int_equal(out.id, i_open.id);
        assert_string_equal(pal_invite_state(&out, NOW), "active");
    }
    assert_int_equal(raw_int(f, "SELECT sum(uses) FROM invites"), 4);

    /* Expired at expires_ms exactly. */
    assert_int_equal(pal_room_store_invite_use(f->rs, "salle", open_link, NOW + 7 * DAY - 1, &out),
                     0);
    assert_int_equal(pal_room_store_invite_use(f->rs, "salle", open_link, NOW + 7 * DAY, &out),
                     -ETIMEDOUT);

    /* Revoked: refused even before expiry; revoking twice is fine. */
    assert_int_equal(pal_room_store_invite_revoke(f->rs, "salle", i_rev.id, NOW + 5), 0);
    assert_int_equal(pal_room_store_invite_use(f->rs, "salle", revoked, NOW + 6, &out), -ECANCELED);
    assert_int_equal(pal_room_store_invite_revoke(f->rs, "salle", i_rev.id, NOW + 9), 0);
    assert_int_equal(pal_room_store_invite_get(f->rs, "salle", i_rev.id, &out), 0);
    assert_int_equal(out.revoked_ms, NOW + 5);
    assert_string_equal(pal_invite_state(&out, NOW), "revoked");
    assert_int_equal(pal_room_store_invite_revoke(f->rs, "salle", i_other.id, NOW), -ENOENT);
    assert_int_equal(pal_room_store_invite_revoke(f->rs, "salle", 999999, NOW), -ENOENT);
    assert_int_equal(pal_room_store_invite_use(f->rs, "autre", other, NOW, &out), 0);
}

static void invite_create_bounds(void **state)
{
    struct fixture *f = *state;
    create(f, "salle", "alice", NOW);
    char token[PAL_INVITE_TOKEN_LEN + 1], label[PAL_INVITE_LABEL_MAX * 4 + 2];
    struct pal_invite inv;
    const int64_t max = PAL_INVITE_MAX_SECONDS * 1000LL;
#define CREATE(room, lab, exp, uses)                                                               \
    pal_room_store_invite_create(f->rs, room, lab, "Alice", NOW, exp, uses, true, token, &inv)
    assert_int_equal(CREATE("salle", "L", NOW + max + 1, 0), -EINVAL);
    assert_int_equal(CREATE("salle", "L", NOW, 0), -EINVAL);
    assert_int_equal(CREATE("salle", "L", NOW - 1, 0), -EINVAL);
    assert_int_equal(CREATE("salle", "L", NOW + DAY, -1), -EINVAL);
    assert_int_equal(CREATE("salle", "", NOW + DAY, 0), -EINVAL);
    memset(label, 'l', sizeof(label) - 1);
    label[sizeof(label) - 1] = '\0';
    assert_int_equal(CREATE("salle", label, NOW + DAY, 0), -EINVAL);
    assert_int_equal(CREATE("nope", "L", NOW + DAY, 0), -ENOENT);
    assert_int_equal(CREATE("Bad Name", "L", NOW + DAY, 0), -ENOENT);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM invites"), 0);
    label[PAL_INVITE_LABEL_MAX * 4] = '\0';
    assert_int_equal(CREATE("salle", label, NOW + max, 10000), 0);
    assert_int_equal(inv.expires_ms, NOW + max);
    assert_string_equal(pal_invite_state(&inv, NOW + max), "expired");
#undef CREATE
}

static void invite_live_links_quota(void **state)
{
    struct fixture *f = *state;
    create(f, "salle", "alice", NOW);
    create(f, "autre", "alice", NOW);
    struct pal_invite first = invite(f, "salle", 0, NULL);
    for (int i = 1; i < PAL_INVITES_PER_ROOM; i++)
        invite(f, "salle", 0, NULL);
    char token[PAL_INVITE_TOKEN_LEN + 1];
    struct pal_invite inv;
    assert_int_equal(pal_room_store_invite_create(f->rs, "salle", "L", "A", NOW, NOW + DAY, 0, true,
                                                  token, &inv),
                     -EDQUOT);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM invites"), PAL_INVITES_PER_ROOM);
    /* Another room has its own; a revoked link frees a place. */
    invite(f, "autre", 0, NULL);
    assert_int_equal(pal_room_store_invite_revoke(f->rs, "salle", first.id, NOW), 0);
    invite(f, "salle", 0, NULL);
    assert_int_equal(pal_room_store_invite_create(f->rs, "salle", "L", "A", NOW, NOW + DAY, 0, true,
                                                  token, &inv),
                     -EDQUOT);
    /* So do expired ones: a week later, all the 7-day links are dead. */
    assert_int_equal(pal_room_store_invite_create(f->rs, "salle", "L", "A", NOW + 7 * DAY,
                                                  NOW + 8 * DAY, 0, true, token, &inv),
                     0);
}

static void invite_list_purges_and_bounds_dead_links(void **state)
{
    struct fixture *f = *state;
    create(f, "salle", "alice", NOW);
    int64_t now = pal_wall_ms(); /* list purges by the wall clock */
    char token[PAL_INVITE_TOKEN_LEN + 1];
    struct pal_invite old, recent, live;
    /* Expired 39 days ago: purged. Expired 9 days ago: listed. */
    assert_int_equal(pal_room_store_invite_create(f->rs, "salle", "old", "A", now - 40 * DAY,
                                                  now - 39 * DAY, 0, true, token, &old),
                     0);
    assert_int_equal(pal_room_store_invite_create(f->rs, "salle", "recent", "A", now - 10 * DAY,
                                                  now - 9 * DAY, 0, true, token, &recent),
                     0);
    assert_int_equal(pal_room_store_invite_create(f->rs, "salle", "live", "A", now, now + DAY, 0,
                                                  true, token, &live),
                     0);
    struct links l = {0};
    assert_int_equal(pal_room_store_invite_list(f->rs, "salle", on_invite, &l), 2);
    assert_int_equal(l.ids[0], live.id); /* newest first */
    assert_int_equal(l.ids[1], recent.id);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM invites"), 2);
    assert_int_equal(pal_room_store_invite_list(f->rs, "nope", on_invite, &l), 0);

    /* Revoked links stay listed 30 days; past PAL_INVITES_KEPT_PER_ROOM rows
     * the oldest dead ones go, the live one stays. */
    for (int i = 0; i < PAL_INVITES_KEPT_PER_ROOM + 5; i++) {
        struct pal_invite inv;
        assert_int_equal(pal_room_store_invite_create(f->rs, "salle", "x", "A", now, now + DAY, 0,
                                                      true, token, &inv),
                         0);
        assert_int_equal(pal_room_store_invite_revoke(f->rs, "salle", inv.id, now), 0);
    }
    assert_int_equal(raw_int(f, "SELECT count(*) FROM invites"), PAL_INVITES_KEPT_PER_ROOM);
    struct links all = {0};
    assert_int_equal(pal_room_store_invite_list(f->rs, "salle", on_invite, &all),
                     PAL_INVITES_KEPT_PER_ROOM);
    bool live_kept = false;
    for (int i = 0; i < all.n; i++)
        live_kept |= all.ids[i] == live.id;
    assert_true(live_kept);
    assert_int_equal(pal_room_store_invite_get(f->rs, "salle", recent.id, &old), -ENOENT);
}

static void journal_add_list_trim(void **state)
{
    struct fixture *f = *state;
    const char *actions[] = {"admit", "mute", "remove", "lock", "end"};
    for (int i = 0; i < 5; i++) {
        struct pal_journal_entry e = {.room = "salle",
                                      .ts_ms = NOW + i,
                                      .action = actions[i],
                                      .actor_id = "p_1",
                                      .actor_name = "Alice",
                                      .target_id = "p_2",
                                      .target_name = "Bob",
                                      .detail = "raison"};
        if (i == 3)
            e.target_id = e.target_name = e.detail = NULL;
        assert_int_equal(pal_room_store_journal_add(f->rs, &e), 0);
    }
    struct pal_journal_entry other = {
        .room = "autre", .action = "lock", .actor_id = "p_9", .actor_name = "Zoé"};
    assert_int_equal(pal_room_store_journal_add(f->rs, &other), 0);

    struct lines l = {0};
    assert_int_equal(pal_room_store_journal_list(f->rs, "salle", 0, 50, on_line, &l), 5);
    for (int i = 0; i < 5; i++)
        assert_string_equal(l.actions[i], actions[4 - i]);
    assert_true(l.ids[0] > l.ids[1]);
    assert_int_equal(l.last.ts_ms, NOW);
    assert_string_equal(l.text[0], "salle");
    assert_string_equal(l.text[2], "Alice");
    assert_string_equal(l.text[4], "Bob");
    assert_string_equal(l.text[5], "raison");

    struct lines page = {0};
    assert_int_equal(pal_room_store_journal_list(f->rs, "salle", l.ids[1], 2, on_line, &page), 2);
    assert_string_equal(page.actions[0], "remove");
    assert_string_equal(page.actions[1], "mute");
    assert_string_equal(page.text[5], "raison");
    struct lines lock = {0};
    assert_int_equal(pal_room_store_journal_list(f->rs, "salle", l.ids[0], 1, on_line, &lock), 1);
    assert_string_equal(lock.actions[0], "lock");
    assert_string_equal(lock.text[3], ""); /* no target */
    assert_string_equal(lock.text[5], "");
    struct lines z = {0};
    assert_int_equal(pal_room_store_journal_list(f->rs, "autre", 0, 50, on_line, &z), 1);
    assert_true(z.last.ts_ms > 1700000000000LL); /* 0: stamped now */
    assert_int_equal(pal_room_store_journal_list(f->rs, "salle", 0, 0, on_line, &z), -EINVAL);

    char detail[1026];
    memset(detail, 'd', sizeof(detail) - 1);
    detail[sizeof(detail) - 1] = '\0';
    struct pal_journal_entry bad = {
        .room = "salle", .action = "mute", .actor_id = "p", .actor_name = "A", .detail = detail};
    assert_int_equal(pal_room_store_journal_add(f->rs, &bad), -EINVAL);
    bad.detail = NULL;
    bad.action = "";
    assert_int_equal(pal_room_store_journal_add(f->rs, &bad), -EINVAL);
    bad.action = "mute";
    bad.room = "Salle";
    assert_int_equal(pal_room_store_journal_add(f->rs, &bad), -EINVAL);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM journal"), 6);
}

static void journal_keeps_the_newest_per_room(void **state)
{
    struct fixture *f = *state;
    struct pal_journal_entry e = {
        .room = "salle", .ts_ms = NOW, .action = "mute", .actor_id = "p_1", .actor_name = "Alice"};
    for (int i = 0; i < PAL_JOURNAL_PER_ROOM + 5; i++)
        assert_int_equal(pal_room_store_journal_add(f->rs, &e), 0);
    e.room = "autre";
    for (int i = 0; i < 3; i++)
        assert_int_equal(pal_room_store_journal_add(f->rs, &e), 0);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM journal WHERE room = 'salle'"),
                     PAL_JOURNAL_PER_ROOM);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM journal WHERE room = 'autre'"), 3);
    /* The 5 oldest went: the smallest id left is the 6th. */
    assert_int_equal(raw_int(f, "SELECT min(id) FROM journal WHERE room = 'salle'"), 6);
    assert_int_equal(raw_int(f, "SELECT n FROM journal_rooms WHERE room = 'salle'"),
                     PAL_JOURNAL_PER_ROOM);
}

static void reopen_keeps_everything(void **state)
{
    struct fixture *f = *state;
    create(f, "salle", "alice", NOW);
    assert_int_equal(pal_room_store_set_moderator(f->rs, "salle", "bob", "Bob", true), 0);
    char token[PAL_INVITE_TOKEN_LEN + 1];
    struct pal_invite inv = invite(f, "salle", 2, token), out;
    assert_int_equal(pal_room_store_invite_use(f->rs, "salle", token, NOW, &out), 0);
    struct pal_journal_entry e = {
        .room = "salle", .action = "admit", .actor_id = "p_1", .actor_name = "Alice"};
    assert_int_equal(pal_room_store_journal_add(f->rs, &e), 0);
    reopen(f);

    struct pal_room_record r;
    assert_int_equal(pal_room_store_get(f->rs, "salle", &r), 0);
    assert_string_equal(r.owner_sub, "alice");
    assert_true(pal_room_store_is_moderator(f->rs, "salle", "bob"));
    assert_int_equal(pal_room_store_invite_use(f->rs, "salle", token, NOW, &out), 0);
    assert_int_equal(out.id, inv.id);
    assert_int_equal(out.uses, 2);
    assert_int_equal(pal_room_store_invite_use(f->rs, "salle", token, NOW, &out), -EUSERS);
    struct lines l = {0};
    assert_int_equal(pal_room_store_journal_list(f->rs, "salle", 0, 10, on_line, &l), 1);
    /* The names are taken: rooms, and the ids do not come back. */
    assert_int_equal(pal_room_store_create(f->rs, "salle", "T", "x", "X", NULL, NOW, 100), -EEXIST);
    struct pal_invite next = invite(f, "salle", 0, NULL);
    assert_true(next.id > inv.id);
}

struct chat_outcome {
    int calls, err;
    int64_t id;
};

static void on_chat(void *ud, int err, const struct pal_chat_message *m, bool dup)
{
    struct chat_outcome *o = ud;
    o->calls++;
    o->err = err;
    o->id = m ? m->id : 0;
}

static void on_chat_row(void *ud, const struct pal_chat_message *m)
{
    (*(int *)ud)++;
}

static void shares_the_file_with_the_chat_store(void **state)
{
    struct fixture *f = *state;
    struct pal_chat_store *cs = pal_chat_store_open(f->dir);
    assert_non_null(cs);
    create(f, "salle", "alice", NOW);
    struct chat_outcome o = {0};
    assert_int_equal(
        pal_chat_store_submit(cs, "salle", "p_1", "Alice", "bonjour", "c1", on_chat, &o), 0);
    assert_int_equal(pal_chat_store_flush(cs), 1);
    assert_int_equal(o.err, 0);
    char token[PAL_INVITE_TOKEN_LEN + 1];
    invite(f, "salle", 0, token);
    struct pal_invite out;
    assert_int_equal(pal_room_store_invite_use(f->rs, "salle", token, NOW, &out), 0);
    assert_int_equal(pal_chat_store_submit(cs, "salle", "p_2", "Bob", "salut", "c2", on_chat, &o),
                     0);
    assert_int_equal(pal_chat_store_flush(cs), 1);
    assert_int_equal(o.err, 0);
    int rows = 0;
    assert_int_equal(pal_chat_store_history(cs, "salle", 0, 0, 50, on_chat_row, &rows, NULL), 0);
    assert_int_equal(rows, 2);

    /* Each keeps its own schema version in the same file. */
    assert_int_equal(raw_int(f, "SELECT version FROM access_schema_version"), 1);
    assert_true(raw_int(f, "SELECT version FROM schema_version") >= 1);

    /* Closed and opened in the other order: both find their data. */
    pal_room_store_close(f->rs);
    f->rs = NULL;
    pal_chat_store_close(cs);
    cs = pal_chat_store_open(f->dir);
    assert_non_null(cs);
    assert_int_equal(pal_room_store_open(f->dir, &f->rs), 0);
    assert_int_equal(pal_chat_store_last_id(cs, "salle"), o.id);
    assert_int_equal(pal_room_store_invite_use(f->rs, "salle", token, NOW, &out), 0);
    assert_int_equal(out.uses, 2);
    pal_chat_store_close(cs);
}

static void open_refuses_a_newer_schema_and_bad_places(void **state)
{
    struct fixture *f = *state;
    pal_room_store_close(f->rs);
    f->rs = NULL;
    sqlite3 *db = raw_db(f);
    assert_int_equal(
        sqlite3_exec(db, "UPDATE access_schema_version SET version = 99", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    struct pal_room_store *rs = (struct pal_room_store *)1;
    assert_int_equal(pal_room_store_open(f->dir, &rs), -EPROTO);
    assert_null(rs);
    assert_int_equal(pal_room_store_open("", &rs), -EINVAL);
    assert_int_equal(pal_room_store_open("/nonexistent/palabre-test", &rs), -EIO);
    assert_null(rs);

    /* A file that is not a database is left as it is. */
    char path[128];
    snprintf(path, sizeof(path), "%s/palabre.db", f->dir);
    unlink(path);
    FILE *junk = fopen(path, "w");
    assert_non_null(junk);
    for (int i = 0; i < 512; i++)
        fputs("not a database ", junk);
    fclose(junk);
    assert_int_equal(pal_room_store_open(f->dir, &rs), -EIO);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 512 * 15);
}

/* A cluster's copies (room_store.h): a room put from another node's state
 * takes its owner and settings; a link put by its hash keeps its token
 * working here, its uses only go up, a revocation stays, and a hash that is
 * another room's link is refused. */
static void cluster_copies(void **state)
{
    struct fixture *f = *state;
    struct pal_room_record r = {.name = "conseil", .title = "Conseil", .owner_sub = "sub-a",
                                .owner_name = "Alice", .created_ms = NOW,
                                .settings = {.lobby = true, .locked = true, .guest_chat = false}};
    assert_int_equal(pal_room_store_put(f->rs, &r), 0);
    struct pal_room_record got;
    assert_int_equal(pal_room_store_get(f->rs, "conseil", &got), 0);
    assert_string_equal(got.owner_sub, "sub-a");
    assert_true(got.settings.locked);
    snprintf(r.owner_sub, sizeof(r.owner_sub), "sub-b");
    r.settings.locked = false;
    assert_int_equal(pal_room_store_put(f->rs, &r), 0); /* overwritten */
    assert_int_equal(pal_room_store_get(f->rs, "conseil", &got), 0);
    assert_string_equal(got.owner_sub, "sub-b");
    assert_false(got.settings.locked);
    snprintf(r.name, sizeof(r.name), "Bad Name");
    assert_int_equal(pal_room_store_put(f->rs, &r), -EINVAL);

    /* a link made here, its hash, and the same link put again as another
     * node saw it (used 3 times, revoked) */
    char token[PAL_INVITE_TOKEN_LEN + 1], hex[65];
    struct pal_invite inv, again;
    assert_int_equal(pal_room_store_invite_create(f->rs, "conseil", "voirie", "Alice", NOW,
                                                  NOW + DAY, 0, true, token, &inv), 0);
    assert_int_equal(pal_room_store_invite_hash(f->rs, "conseil", inv.id, hex), 0);
    assert_int_equal(strlen(hex), 64);
    int64_t id = 0;
    assert_int_equal(pal_room_store_invite_id(f->rs, "conseil", hex, &id), 0);
    assert_int_equal(id, inv.id);
    assert_int_equal(pal_room_store_invite_id(f->rs, "autre", hex, &id), -ENOENT);
    struct pal_invite seen = inv;
    seen.uses = 3;
    seen.revoked_ms = NOW + 5;
    assert_int_equal(pal_room_store_invite_put(f->rs, hex, &seen, &id), 0);
    assert_int_equal(id, inv.id);
    assert_int_equal(pal_room_store_invite_find(f->rs, "conseil", token, NOW + 10, &again),
                     -ECANCELED);
    seen.uses = 1; /* an older copy: the count and the revocation stay */
    seen.revoked_ms = 0;
    assert_int_equal(pal_room_store_invite_put(f->rs, hex, &seen, NULL), 0);
    assert_int_equal(pal_room_store_invite_get(f->rs, "conseil", inv.id, &again), 0);
    assert_int_equal(again.uses, 3);
    assert_int_equal(again.revoked_ms, NOW + 5);

    /* a link first known from another node: its token works here */
    const char *other = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    struct pal_invite far = {.room = "conseil", .label = "ailleurs", .created_by = "Bob",
                             .created_ms = NOW, .expires_ms = NOW + DAY, .lobby = false};
    assert_int_equal(pal_room_store_invite_put(f->rs, other, &far, &id), 0);
    assert_int_equal(pal_room_store_invite_get(f->rs, "conseil", id, &again), 0);
    assert_string_equal(again.label, "ailleurs");
    assert_int_equal(pal_room_store_invite_hash(f->rs, "conseil", id, hex), 0);
    assert_string_equal(hex, other);

    /* another room's hash, a bad hash, a room that is not here */
    struct pal_room_record r2 = {.name = "autre", .title = "Autre", .owner_sub = "sub-a",
                                 .created_ms = NOW};
    assert_int_equal(pal_room_store_put(f->rs, &r2), 0);
    snprintf(far.room, sizeof(far.room), "autre");
    assert_int_equal(pal_room_store_invite_put(f->rs, other, &far, &id), -EEXIST);
    assert_int_equal(pal_room_store_invite_put(f->rs, "xyz", &far, &id), -EINVAL);
    snprintf(far.room, sizeof(far.room), "absente");
    const char *third = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
    assert_int_equal(pal_room_store_invite_put(f->rs, third, &far, &id), -ENOENT);
}

int main(void)
{
    pal_log_set_level(PAL_LOG_OFF);
    /* Each test on a fresh database in its own directory. */
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(rooms_create_get_update),
        T(rooms_refuse_bad_input),
        T(rooms_per_owner_quota),
        T(list_for_owner_and_moderator),
        T(named_moderators),
        cmocka_unit_test(invite_token_format),
        T(invite_stores_only_the_hash),
        T(invite_use_outcomes),
        T(invite_create_bounds),
        T(invite_live_links_quota),
        T(invite_list_purges_and_bounds_dead_links),
        T(journal_add_list_trim),
        T(journal_keeps_the_newest_per_room),
        T(reopen_keeps_everything),
        T(shares_the_file_with_the_chat_store),
        T(open_refuses_a_newer_schema_and_bad_places),
        T(cluster_copies),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
