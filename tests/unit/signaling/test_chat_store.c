/* Chat store on real SQLite files, each test in its own mkdtemp directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "palabre/chat_store.h"
#include "palabre/common.h"
#include "palabre/log.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

struct fixture {
    char dir[64];
    struct pal_chat_store *cs;
};

/* What one submit's callback saw. */
struct outcome {
    int calls;
    int err;
    bool duplicate;
    int64_t id, ts;
    char from[64], text[128];
};

static void on_stored(void *ud, int err, const struct pal_chat_message *msg, bool duplicate)
{
    struct outcome *o = ud;
    o->calls++;
    o->err = err;
    o->duplicate = duplicate;
    if (msg) {
        o->id = msg->id;
        o->ts = msg->ts_ms;
        snprintf(o->from, sizeof(o->from), "%s", msg->from);
        snprintf(o->text, sizeof(o->text), "%s", msg->text);
    } else {
        assert_int_not_equal(err, 0);
    }
}

/* History pages collected as ids. */
struct page {
    int n;
    int64_t ids[256];
    char texts[256][16];
};

static void on_row(void *ud, const struct pal_chat_message *m)
{
    struct page *p = ud;
    assert_true(p->n < 256);
    snprintf(p->texts[p->n], sizeof(p->texts[0]), "%s", m->text);
    p->ids[p->n++] = m->id;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/pal-chat-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->cs = pal_chat_store_open(f->dir);
    assert_non_null(f->cs);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    pal_chat_store_close(f->cs);
    DIR *d = opendir(f->dir);
    struct dirent *e;
    char path[384];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", f->dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void reopen(struct fixture *f)
{
    pal_chat_store_close(f->cs);
    f->cs = pal_chat_store_open(f->dir);
    assert_non_null(f->cs);
}

static void send1(struct fixture *f, const char *room, const char *from, const char *text,
                  const char *cid, struct outcome *o)
{
    assert_int_equal(pal_chat_store_submit(f->cs, room, from, "Alice", text, cid, on_stored, o), 0);
}

static struct page history(struct fixture *f, const char *room, int64_t before, int64_t after,
                           int limit, bool *has_more)
{
    struct page p = {0};
    assert_int_equal(pal_chat_store_history(f->cs, room, before, after, limit, on_row, &p, has_more),
                     0);
    return p;
}

static void ids_grow(void **state)
{
    struct fixture *f = *state;
    struct outcome o[5] = {0};
    assert_int_equal(pal_chat_store_last_id(f->cs, "demo"), 0);
    send1(f, "demo", "p_a", "un", "c1", &o[0]);
    send1(f, "demo", "p_b", "deux", "c2", &o[1]);
    send1(f, "demo", "p_a", "trois", "c3", &o[2]);
    assert_int_equal(pal_chat_store_pending(f->cs), 3);
    assert_int_equal(o[0].calls, 0); /* nothing acknowledged before the commit */
    assert_int_equal(pal_chat_store_flush(f->cs), 3);
    assert_int_equal(pal_chat_store_pending(f->cs), 0);
    send1(f, "demo", "p_b", "quatre", "c4", &o[3]);
    send1(f, "demo", "p_b", "cinq", "c5", &o[4]);
    assert_int_equal(pal_chat_store_flush(f->cs), 2);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(o[i].calls, 1);
        assert_int_equal(o[i].err, 0);
        assert_false(o[i].duplicate);
        assert_true(o[i].ts > 1700000000000LL);
        if (i)
            assert_true(o[i].id > o[i - 1].id);
    }
    assert_string_equal(o[1].from, "p_b");
    assert_string_equal(o[1].text, "deux");
    assert_int_equal(pal_chat_store_last_id(f->cs, "demo"), o[4].id);
    assert_int_equal(pal_chat_store_flush(f->cs), 0); /* nothing queued */
}

static void retry_in_same_batch_is_stored_once(void **state)
{
    struct fixture *f = *state;
    struct outcome a = {0}, b = {0}, again = {0};
    send1(f, "demo", "p_a", "bonjour", "c-1", &a);
    send1(f, "demo", "p_b", "salut", "c-2", &b);
    send1(f, "demo", "p_a", "bonjour", "c-1", &again);
    assert_int_equal(pal_chat_store_flush(f->cs), 3);
    assert_int_equal(a.err, 0);
    assert_false(a.duplicate);
    assert_int_equal(again.err, 0);
    assert_true(again.duplicate);
    assert_int_equal(again.id, a.id);
    assert_int_equal(again.ts, a.ts);
    bool more = true;
    struct page p = history(f, "demo", 0, 0, 50, &more);
    assert_int_equal(p.n, 2);
    assert_false(more);
}

static void retry_in_later_batch_and_after_restart(void **state)
{
    struct fixture *f = *state;
    struct outcome first = {0}, later = {0}, rejoined = {0}, reopened = {0};
    send1(f, "demo", "p_a", "bonjour", "7f3a", &first);
    assert_int_equal(pal_chat_store_flush(f->cs), 1);
    send1(f, "demo", "p_a", "bonjour", "7f3a", &later);
    assert_int_equal(pal_chat_store_flush(f->cs), 1);
    assert_true(later.duplicate);
    assert_int_equal(later.id, first.id);
    /* After a server restart the client rejoins with a new participant id. */
    reopen(f);
    send1(f, "demo", "p_new", "bonjour", "7f3a", &rejoined);
    send1(f, "demo", "p_new", "bonjour", "7f3a", &reopened);
    assert_int_equal(pal_chat_store_flush(f->cs), 2);
    assert_true(rejoined.duplicate);
    assert_int_equal(rejoined.id, first.id);
    assert_string_equal(rejoined.from, "p_a"); /* the first message, as stored */
    assert_true(reopened.duplicate);
    assert_int_equal(reopened.id, first.id);
    struct page p = history(f, "demo", 0, 0, 50, NULL);
    assert_int_equal(p.n, 1);
}

static void reused_id_with_other_text_is_refused(void **state)
{
    struct fixture *f = *state;
    struct outcome a = {0}, clash = {0}, other = {0};
    send1(f, "demo", "p_a", "bonjour", "c-1", &a);
    send1(f, "demo", "p_b", "autre chose", "c-1", &clash);
    send1(f, "demo", "p_b", "autre chose", "c-2", &other);
    assert_int_equal(pal_chat_store_flush(f->cs), 3);
    assert_int_equal(a.err, 0);
    assert_int_equal(clash.calls, 1);
    assert_int_equal(clash.err, -EEXIST);
    assert_int_equal(other.err, 0); /* the rest of the batch is stored */
    struct page p = history(f, "demo", 0, 0, 50, NULL);
    assert_int_equal(p.n, 2);
    assert_string_equal(p.texts[0], "bonjour");
    assert_string_equal(p.texts[1], "autre chose");
}

/* n messages sent in one batch; their ids in order. */
static void fill(struct fixture *f, const char *room, int n, int64_t *ids)
{
    struct outcome o[32] = {0};
    char text[16], cid[16];
    for (int i = 0; i < n; i++) {
        snprintf(text, sizeof(text), "m%d", i);
        snprintf(cid, sizeof(cid), "%s-%d", room, i);
        send1(f, room, "p_a", text, cid, &o[i]);
    }
    assert_int_equal(pal_chat_store_flush(f->cs), n);
    for (int i = 0; i < n; i++)
        ids[i] = o[i].id;
}

static void assert_page(struct page *p, const int64_t *ids, int from, int count)
{
    assert_int_equal(p->n, count);
    for (int i = 0; i < count; i++)
        assert_int_equal(p->ids[i], ids[from + i]);
}

static void cursors_and_has_more(void **state)
{
    struct fixture *f = *state;
    int64_t id[10];
    bool more;
    struct page p = history(f, "demo", 0, 0, 5, &more); /* empty room */
    assert_int_equal(p.n, 0);
    assert_false(more);
    fill(f, "demo", 10, id);

    p = history(f, "demo", 0, 0, 3, &more); /* newest three */
    assert_page(&p, id, 7, 3);
    assert_true(more);
    p = history(f, "demo", 0, 0, 10, &more); /* exactly all */
    assert_page(&p, id, 0, 10);
    assert_false(more);
    p = history(f, "demo", 0, 0, 50, &more);
    assert_page(&p, id, 0, 10);
    assert_false(more);

    p = history(f, "demo", id[7], 0, 3, &more); /* before: walking back */
    assert_page(&p, id, 4, 3);
    assert_true(more);
    p = history(f, "demo", id[4], 0, 3, &more);
    assert_page(&p, id, 1, 3);
    assert_true(more);
    p = history(f, "demo", id[3], 0, 3, &more); /* the page reaches the first message */
    assert_page(&p, id, 0, 3);
    assert_false(more);
    p = history(f, "demo", id[1], 0, 3, &more);
    assert_page(&p, id, 0, 1);
    assert_false(more);
    p = history(f, "demo", id[0], 0, 3, &more);
    assert_int_equal(p.n, 0);
    assert_false(more);

    p = history(f, "demo", 0, id[2], 3, &more); /* after: walking forward */
    assert_page(&p, id, 3, 3);
    assert_true(more);
    p = history(f, "demo", 0, id[6], 3, &more); /* the page reaches the last message */
    assert_page(&p, id, 7, 3);
    assert_false(more);
    p = history(f, "demo", 0, id[8], 3, &more);
    assert_page(&p, id, 9, 1);
    assert_false(more);
    p = history(f, "demo", 0, id[9], 3, &more);
    assert_int_equal(p.n, 0);
    assert_false(more);
    p = history(f, "demo", 0, id[9] + 1000, 3, &more); /* a cursor from the future */
    assert_int_equal(p.n, 0);
    assert_false(more);
}

static void limits_and_bad_arguments(void **state)
{
    struct fixture *f = *state;
    int64_t id[10];
    fill(f, "demo", 10, id);
    struct page p = {0};
    bool more = true;
    assert_int_equal(pal_chat_store_history(f->cs, "demo", 0, 0, 0, on_row, &p, &more), -EINVAL);
    assert_false(more);
    assert_int_equal(pal_chat_store_history(f->cs, "demo", 0, 0, -1, on_row, &p, &more), -EINVAL);
    assert_int_equal(pal_chat_store_history(f->cs, "demo", 0, 0, PAL_CHAT_HISTORY_MAX + 1, on_row,
                                            &p, &more),
                     -EINVAL);
    assert_int_equal(pal_chat_store_history(f->cs, "demo", id[5], id[2], 3, on_row, &p, &more),
                     -EINVAL);
    assert_int_equal(pal_chat_store_history(f->cs, "demo", -4, 0, 3, on_row, &p, &more), -EINVAL);
    assert_int_equal(pal_chat_store_history(f->cs, "demo", 0, -4, 3, on_row, &p, &more), -EINVAL);
    assert_int_equal(p.n, 0);
    p = history(f, "demo", 0, 0, 1, &more);
    assert_page(&p, id, 9, 1);
    assert_true(more);
    p = history(f, "demo", 0, 0, PAL_CHAT_HISTORY_MAX, &more);
    assert_page(&p, id, 0, 10);

    struct outcome o = {0};
    assert_int_equal(pal_chat_store_submit(f->cs, "demo", "p_a", "A", "t", "", on_stored, &o),
                     -EINVAL);
    assert_int_equal(pal_chat_store_submit(f->cs, "demo", "p_a", "A", "t", NULL, on_stored, &o),
                     -EINVAL);
    assert_int_equal(pal_chat_store_submit(f->cs, "", "p_a", "A", "t", "c", on_stored, &o),
                     -EINVAL);
    assert_int_equal(pal_chat_store_submit(f->cs, "demo", "p_a", "A", NULL, "c", on_stored, &o),
                     -EINVAL);
    assert_int_equal(pal_chat_store_pending(f->cs), 0);
    assert_int_equal(o.calls, 0);
    /* SQL text in fields is data. */
    send1(f, "demo", "p_a", "'); DROP TABLE messages; --", "x'y", &o);
    assert_int_equal(pal_chat_store_flush(f->cs), 1);
    p = history(f, "demo", 0, 0, 1, NULL);
    assert_string_equal(p.texts[0], "'); DROP TABLE ");
}

static void rooms_are_isolated(void **state)
{
    struct fixture *f = *state;
    int64_t a[4], b[3];
    fill(f, "alpha", 4, a);
    fill(f, "beta", 3, b);
    struct outcome same_cid = {0};
    send1(f, "beta", "p_a", "m0", "alpha-0", &same_cid); /* alpha's id, in beta */
    assert_int_equal(pal_chat_store_flush(f->cs), 1);
    assert_false(same_cid.duplicate);

    bool more;
    struct page p = history(f, "alpha", 0, 0, 50, &more);
    assert_page(&p, a, 0, 4);
    assert_false(more);
    p = history(f, "beta", 0, 0, 50, &more);
    assert_int_equal(p.n, 4);
    assert_int_equal(p.ids[3], same_cid.id);
    /* beta's later ids do not show up after alpha's last one */
    p = history(f, "alpha", 0, a[3], 50, &more);
    assert_int_equal(p.n, 0);
    assert_false(more);
    p = history(f, "gamma", 0, 0, 50, &more);
    assert_int_equal(p.n, 0);
    assert_int_equal(pal_chat_store_last_id(f->cs, "alpha"), a[3]);
    assert_int_equal(pal_chat_store_last_id(f->cs, "beta"), same_cid.id);
    assert_int_equal(pal_chat_store_last_id(f->cs, "gamma"), 0);
}

static size_t file_size(const char *dir, const char *name)
{
    char path[128];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

/* A real write failure: RLIMIT_FSIZE makes the kernel refuse (EFBIG) any
 * write that would grow a file past the limit, as a full disk refuses one
 * (root ignores file permissions, so chmod cannot make the store fail). */
static void write_failure_stores_nothing(void **state)
{
    struct fixture *f = *state;
    struct outcome first = {0}, o[3] = {0}, after = {0};
    send1(f, "demo", "p_a", "avant", "c0", &first);
    assert_int_equal(pal_chat_store_flush(f->cs), 1);

    size_t limit = file_size(f->dir, "palabre.db");
    limit = PAL_MAX(limit, file_size(f->dir, "palabre.db-wal"));
    limit = PAL_MAX(limit, file_size(f->dir, "palabre.db-shm"));
    static char big[3][64 * 1024];
    for (int i = 0; i < 3; i++) {
        memset(big[i], 'a' + i, sizeof(big[i]) - 1);
        char cid[16];
        snprintf(cid, sizeof(cid), "big%d", i);
        send1(f, "demo", "p_a", big[i], cid, &o[i]);
    }
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = limit;
    void (*old_sig)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = pal_chat_store_flush(f->cs);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_sig);

    assert_true(rc < 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(o[i].calls, 1);
        assert_true(o[i].err < 0);
    }
    assert_int_equal(pal_chat_store_pending(f->cs), 0);
    struct page p = history(f, "demo", 0, 0, 50, NULL);
    assert_page(&p, &first.id, 0, 1);

    /* The store keeps working once space is back, and the refused id is free. */
    send1(f, "demo", "p_a", "apres", "big0", &after);
    assert_int_equal(pal_chat_store_flush(f->cs), 1);
    assert_int_equal(after.err, 0);
    assert_false(after.duplicate);
    reopen(f);
    p = history(f, "demo", 0, 0, 50, NULL);
    assert_int_equal(p.n, 2);
    assert_string_equal(p.texts[1], "apres");
}

/* Another process holding the write lock past busy_timeout: the batch fails. */
static void locked_database_fails_the_batch(void **state)
{
    struct fixture *f = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/palabre.db", f->dir);
    sqlite3 *other;
    assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    struct outcome o[2] = {0};
    send1(f, "demo", "p_a", "un", "c1", &o[0]);
    send1(f, "demo", "p_a", "deux", "c2", &o[1]);
    assert_int_equal(pal_chat_store_flush(f->cs), -EBUSY);
    assert_int_equal(o[0].err, -EBUSY);
    assert_int_equal(o[1].err, -EBUSY);
    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    assert_int_equal(pal_chat_store_last_id(f->cs, "demo"), 0);
}

static void close_flushes_and_reopen_keeps_everything(void **state)
{
    struct fixture *f = *state;
    int64_t id[10];
    fill(f, "demo", 10, id);
    struct outcome last = {0};
    send1(f, "demo", "p_a", "dernier", "c-last", &last);
    pal_chat_store_close(f->cs); /* the queued send is committed by close */
    f->cs = NULL;
    assert_int_equal(last.calls, 1);
    assert_int_equal(last.err, 0);
    f->cs = pal_chat_store_open(f->dir);
    assert_non_null(f->cs);
    struct page p = history(f, "demo", 0, 0, 50, NULL);
    assert_int_equal(p.n, 11);
    for (int i = 0; i < 10; i++)
        assert_int_equal(p.ids[i], id[i]);
    assert_int_equal(p.ids[10], last.id);
    assert_string_equal(p.texts[10], "dernier");
    struct outcome next = {0};
    send1(f, "demo", "p_a", "encore", "c-next", &next);
    assert_int_equal(pal_chat_store_flush(f->cs), 1);
    assert_true(next.id > last.id);
}

/* A callback that sends again (as a server answering in its callback might). */
static void resubmit(void *ud, int err, const struct pal_chat_message *msg, bool duplicate)
{
    struct fixture *f = ud;
    assert_int_equal(err, 0);
    assert_int_equal(pal_chat_store_submit(f->cs, "demo", "p_a", "A", "echo", "c-echo", NULL, NULL),
                     0);
}

static void callbacks_may_submit(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(pal_chat_store_submit(f->cs, "demo", "p_a", "A", "t", "c1", resubmit, f), 0);
    assert_int_equal(pal_chat_store_flush(f->cs), 1);
    assert_int_equal(pal_chat_store_pending(f->cs), 1);
    assert_int_equal(pal_chat_store_flush(f->cs), 1);
    assert_int_equal(history(f, "demo", 0, 0, 50, NULL).n, 2);
}

static void open_refuses_bad_places(void **state)
{
    struct fixture *f = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/missing/dir", f->dir);
    assert_null(pal_chat_store_open(path));
    assert_null(pal_chat_store_open(""));
    assert_null(pal_chat_store_open(NULL));

    /* A database from a newer build is not touched. */
    pal_chat_store_close(f->cs);
    f->cs = NULL;
    snprintf(path, sizeof(path), "%s/palabre.db", f->dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE schema_version SET version = 99", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_null(pal_chat_store_open(f->dir));

    /* Nor is a file that is not a database: no start over it. */
    FILE *junk = fopen(path, "w");
    assert_non_null(junk);
    for (int i = 0; i < 512; i++)
        fputs("not a database ", junk);
    fclose(junk);
    assert_null(pal_chat_store_open(f->dir));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 512 * 15); /* left as it was */
}

/* ---- bounds: history page bytes, room quota, retention, migration ------- */

/* n messages of `len` bytes of text (one byte repeated), one batch. */
static void fill_big(struct fixture *f, const char *room, int n, size_t len, int64_t *ids)
{
    static struct outcome o[128];
    char *text = malloc(len + 1);
    assert_non_null(text);
    assert_true(n <= 128);
    memset(o, 0, sizeof(o));
    for (int i = 0; i < n; i++) {
        char cid[24];
        memset(text, 'a' + i % 26, len);
        text[len] = '\0';
        snprintf(cid, sizeof(cid), "%s-big-%d", room, i);
        send1(f, room, "p_a", text, cid, &o[i]);
    }
    free(text);
    assert_int_equal(pal_chat_store_flush(f->cs), n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(o[i].err, 0);
        ids[i] = o[i].id;
    }
}

/* Defect 4: 200 messages of 16 KB made 3.2 MB pages. A page now stops at
 * PAL_CHAT_HISTORY_MAX_BYTES, says has_more, and paging with the cursor
 * still reaches every message exactly once, in both directions. */
static void history_pages_are_bounded_in_bytes(void **state)
{
    struct fixture *f = *state;
    enum { N = 100, LEN = 16000 };
    int64_t id[N];
    fill_big(f, "demo", N, LEN, id);
    size_t size = pal_chat_message_size("p_a", "Alice", "", "demo-big-00") + LEN;
    int per_page = (int)(PAL_CHAT_HISTORY_MAX_BYTES / size);
    assert_true(per_page >= 1 && per_page < N); /* the test means something */

    bool more = false;
    struct page p = history(f, "demo", 0, 0, PAL_CHAT_HISTORY_MAX, &more);
    assert_true(p.n >= per_page - 1 && p.n <= per_page); /* sizes differ by a byte or two */
    assert_true(more);
    assert_page(&p, id, N - p.n, p.n); /* the newest ones */

    /* Backwards from the newest: every message once, pages ascending. */
    int seen = 0;
    int64_t before = 0;
    do {
        p = history(f, "demo", before, 0, PAL_CHAT_HISTORY_MAX, &more);
        assert_true(p.n >= 1 && (size_t)p.n * (size - 2) <= PAL_CHAT_HISTORY_MAX_BYTES);
        assert_page(&p, id, N - seen - p.n, p.n);
        seen += p.n;
        before = p.ids[0];
    } while (more);
    assert_int_equal(seen, N);

    /* Forwards from the start. */
    seen = 0;
    int64_t after = id[0];
    seen = 1;
    do {
        p = history(f, "demo", 0, after, PAL_CHAT_HISTORY_MAX, &more);
        assert_true(p.n >= 1 && (size_t)p.n * (size - 2) <= PAL_CHAT_HISTORY_MAX_BYTES);
        assert_page(&p, id, seen, p.n);
        seen += p.n;
        after = p.ids[p.n - 1];
    } while (more);
    assert_int_equal(seen, N);

    /* Small limits are unchanged: the count bound still comes first. */
    p = history(f, "demo", 0, 0, 3, &more);
    assert_page(&p, id, N - 3, 3);
    assert_true(more);
}

/* A message larger than a whole page still comes, alone. */
static void history_page_holds_at_least_one_message(void **state)
{
    struct fixture *f = *state;
    int64_t small[2], huge;
    fill(f, "demo", 2, small);
    fill_big(f, "demo", 1, PAL_CHAT_HISTORY_MAX_BYTES + 10, &huge);
    bool more = false;
    struct page p = history(f, "demo", 0, 0, 50, &more);
    assert_page(&p, &huge, 0, 1);
    assert_true(more);
    p = history(f, "demo", huge, 0, 50, &more);
    assert_page(&p, small, 0, 2);
    assert_false(more);
    p = history(f, "demo", 0, small[1], 50, &more);
    assert_page(&p, &huge, 0, 1);
    assert_false(more);
}

static void room_quota_refuses_and_counts(void **state)
{
    struct fixture *f = *state;
    size_t one = pal_chat_message_size("p_a", "Alice", "0123456789", "q-0");
    assert_int_equal(one, 3 + 5 + 10 + 3);
    assert_int_equal(pal_chat_store_room_bytes(f->cs, "demo"), 0);
    pal_chat_store_set_room_quota(f->cs, 3 * (int64_t)one);

    struct outcome o[5] = {0};
    send1(f, "demo", "p_a", "0123456789", "q-0", &o[0]);
    send1(f, "demo", "p_a", "0123456789", "q-1", &o[1]);
    assert_int_equal(pal_chat_store_flush(f->cs), 2);
    assert_int_equal(pal_chat_store_room_bytes(f->cs, "demo"), 2 * one);
    /* One batch: the third fits exactly, the fourth is refused, the retry
     * of a stored message is still answered. */
    send1(f, "demo", "p_a", "0123456789", "q-2", &o[2]);
    send1(f, "demo", "p_a", "0123456789", "q-3", &o[3]);
    send1(f, "demo", "p_a", "0123456789", "q-0", &o[4]);
    assert_int_equal(pal_chat_store_flush(f->cs), 3);
    assert_int_equal(o[2].err, 0);
    assert_int_equal(o[3].calls, 1);
    assert_int_equal(o[3].err, -EDQUOT);
    assert_int_equal(o[4].err, 0);
    assert_true(o[4].duplicate);
    assert_int_equal(o[4].id, o[0].id);
    assert_int_equal(pal_chat_store_room_bytes(f->cs, "demo"), 3 * one);
    struct page p = history(f, "demo", 0, 0, 50, NULL);
    assert_int_equal(p.n, 3);
    assert_int_equal(p.ids[2], o[2].id);

    /* Another room has its own quota; the count survives a restart. */
    struct outcome other = {0}, refused = {0};
    send1(f, "autre", "p_b", "0123456789", "q-0", &other);
    assert_int_equal(pal_chat_store_flush(f->cs), 1);
    assert_int_equal(other.err, 0);
    reopen(f);
    assert_int_equal(pal_chat_store_room_bytes(f->cs, "demo"), 3 * one);
    assert_int_equal(pal_chat_store_room_bytes(f->cs, "autre"), one);
    pal_chat_store_set_room_quota(f->cs, 3 * (int64_t)one);
    send1(f, "demo", "p_a", "x", "q-4", &refused);
    assert_int_equal(pal_chat_store_flush(f->cs), 1);
    assert_int_equal(refused.err, -EDQUOT);
    assert_int_equal(pal_chat_store_last_id(f->cs, "demo"), o[2].id);

    /* 0: no quota. */
    pal_chat_store_set_room_quota(f->cs, 0);
    send1(f, "demo", "p_a", "x", "q-4", &refused);
    assert_int_equal(pal_chat_store_flush(f->cs), 1);
    assert_int_equal(refused.err, 0);
}

/* Makes the messages of ids[from..to) look `days` days old. */
static void age(struct fixture *f, const int64_t *ids, int from, int to, int days)
{
    char path[128], sql[160];
    snprintf(path, sizeof(path), "%s/palabre.db", f->dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    for (int i = from; i < to; i++) {
        snprintf(sql, sizeof(sql), "UPDATE messages SET ts = ts - %lld WHERE id = %lld",
                 (long long)days * 86400000LL, (long long)ids[i]);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    sqlite3_close(db);
}

static void retention_deletes_the_oldest_in_batches(void **state)
{
    struct fixture *f = *state;
    int64_t a[10], b[4];
    fill(f, "demo", 10, a);
    fill(f, "autre", 4, b);
    int64_t demo_bytes = pal_chat_store_room_bytes(f->cs, "demo");
    age(f, a, 0, 7, 400);
    age(f, b, 0, 4, 400);
    int64_t cutoff = pal_wall_ms() - 365LL * 86400000;

    /* A send queued before the expiry is committed, not lost. */
    struct outcome queued = {0};
    send1(f, "demo", "p_a", "pendant", "c-during", &queued);
    int total = 0, n;
    while ((n = pal_chat_store_expire(f->cs, cutoff, 4)) > 0) {
        assert_true(n <= 4);
        total += n;
    }
    assert_int_equal(n, 0);
    assert_int_equal(total, 11);
    assert_int_equal(queued.err, 0);

    struct page p = history(f, "demo", 0, 0, 50, NULL);
    assert_int_equal(p.n, 4);
    for (int i = 0; i < 3; i++)
        assert_int_equal(p.ids[i], a[7 + i]);
    assert_int_equal(p.ids[3], queued.id);
    assert_int_equal(history(f, "autre", 0, 0, 50, NULL).n, 0);
    /* The usage follows the deletions (and an emptied room has none). */
    int64_t left = demo_bytes - 7 * (int64_t)pal_chat_message_size("p_a", "Alice", "m0", "demo-0") +
                   (int64_t)pal_chat_message_size("p_a", "Alice", "pendant", "c-during");
    assert_int_equal(pal_chat_store_room_bytes(f->cs, "demo"), left);
    assert_int_equal(pal_chat_store_room_bytes(f->cs, "autre"), 0);

    /* Ids keep growing after the oldest (and a whole room) were deleted. */
    int64_t c[1];
    fill(f, "autre", 1, c);
    assert_true(c[0] > queued.id);
    assert_int_equal(pal_chat_store_expire(f->cs, cutoff, 0), -EINVAL);
}

/* A database written by the previous build (schema 1) is brought up to date:
 * sizes computed, usage counted, history and quota work on the old rows. */
static void migrates_a_version_1_database(void **state)
{
    struct fixture *f = *state;
    pal_chat_store_close(f->cs);
    f->cs = NULL;
    char path[128];
    snprintf(path, sizeof(path), "%s/palabre.db", f->dir);
    unlink(path);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL;"
                     "CREATE TABLE schema_version (version INTEGER NOT NULL);"
                     "INSERT INTO schema_version VALUES (1);"
                     "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                     " room TEXT NOT NULL, sender TEXT NOT NULL, name TEXT NOT NULL,"
                     " text TEXT NOT NULL, client_msg_id TEXT NOT NULL, ts INTEGER NOT NULL,"
                     " UNIQUE (room, client_msg_id));"
                     "CREATE INDEX messages_room_id ON messages(room, id);"
                     "INSERT INTO messages(room, sender, name, text, client_msg_id, ts) VALUES"
                     " ('demo', 'p_a', 'Amélie', 'déjà', 'c1', 1764374400000),"
                     " ('demo', 'p_b', 'Bruno', 'vu', 'c2', 1764374400001),"
                     " ('autre', 'p_a', 'Amélie', 'x', 'c1', 1764374400002);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    f->cs = pal_chat_store_open(f->dir);
    assert_non_null(f->cs);
    int64_t demo = (int64_t)(pal_chat_message_size("p_a", "Amélie", "déjà", "c1") +
                             pal_chat_message_size("p_b", "Bruno", "vu", "c2"));
    assert_int_equal(pal_chat_store_room_bytes(f->cs, "demo"), demo);
    assert_int_equal(pal_chat_store_room_bytes(f->cs, "autre"),
                     pal_chat_message_size("p_a", "Amélie", "x", "c1"));
    bool more = true;
    struct page p = history(f, "demo", 0, 0, 50, &more);
    assert_int_equal(p.n, 2);
    assert_false(more);
    assert_string_equal(p.texts[0], "déjà");
    struct outcome o = {0}, again = {0};
    send1(f, "demo", "p_c", "déjà", "c1", &again); /* the name differs: a clash */
    send1(f, "demo", "p_c", "neuf", "c3", &o);
    assert_int_equal(pal_chat_store_flush(f->cs), 2);
    assert_int_equal(again.err, -EEXIST);
    assert_int_equal(o.err, 0);
    assert_int_equal(o.id, 4);
    assert_int_equal(pal_chat_store_room_bytes(f->cs, "demo"),
                     demo + (int64_t)pal_chat_message_size("p_c", "Alice", "neuf", "c3"));
    /* Retention works on migrated rows (their ts index exists). */
    assert_int_equal(pal_chat_store_expire(f->cs, 1764374400002, 10), 2);
    assert_int_equal(pal_chat_store_room_bytes(f->cs, "demo"),
                     (int64_t)pal_chat_message_size("p_c", "Alice", "neuf", "c3"));
}

int main(void)
{
    pal_log_set_level(PAL_LOG_OFF);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ids_grow, setup, teardown),
        cmocka_unit_test_setup_teardown(retry_in_same_batch_is_stored_once, setup, teardown),
        cmocka_unit_test_setup_teardown(retry_in_later_batch_and_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(reused_id_with_other_text_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(cursors_and_has_more, setup, teardown),
        cmocka_unit_test_setup_teardown(limits_and_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(rooms_are_isolated, setup, teardown),
        cmocka_unit_test_setup_teardown(write_failure_stores_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(locked_database_fails_the_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(close_flushes_and_reopen_keeps_everything, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(callbacks_may_submit, setup, teardown),
        cmocka_unit_test_setup_teardown(open_refuses_bad_places, setup, teardown),
        cmocka_unit_test_setup_teardown(history_pages_are_bounded_in_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(history_page_holds_at_least_one_message, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(room_quota_refuses_and_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(retention_deletes_the_oldest_in_batches, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(migrates_a_version_1_database, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
