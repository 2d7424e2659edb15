/*
 * test_queue.c - unit tests of the LMDB queue: insert and read back, id
 * order, hold/release/flush, claims grouped by domain, results, crash
 * recovery, map full, and records that do not decode.
 */
#include "queue.h"
#include "check.h"

#include <errno.h>
#include <ftw.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static struct queue *open_fresh(uint64_t map_size)
{
    struct queue *q = NULL;
    if (dir[0])
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    snprintf(dir, sizeof(dir), "/tmp/test_queue.XXXXXX");
    if (!mkdtemp(dir))
        abort();
    CHECK_INT(queue_open(&q, dir, map_size, 0), 0);
    return q;
}

/* Inserts a message with the given recipients and returns its id in id. */
static int insert(struct queue *q, const char *sender, const char **rcpts, uint32_t n,
                  const char *content, int64_t arrival, char *id)
{
    struct queue_txn *t = NULL;
    struct queue_msg *m = queue_msg_new(n);
    int rc;
    snprintf(m->sender, sizeof(m->sender), "%s", sender);
    snprintf(m->origin, sizeof(m->origin), "test");
    m->arrival = arrival;
    for (uint32_t i = 0; i < n; i++)
        snprintf(m->rcpt[i].address, sizeof(m->rcpt[i].address), "%s", rcpts[i]);
    rc = queue_txn_begin(q, NULL, 1, &t);
    if (rc == 0) {
        rc = queue_insert(t, m, content, strlen(content));
        if (rc == 0)
            rc = queue_txn_commit(t);
        else
            queue_txn_abort(t);
    }
    if (rc == 0)
        memcpy(id, m->id, QUEUE_ID_SIZE);
    queue_msg_free(m);
    return rc;
}

static int count_cb(void *arg, const struct queue_msg *m)
{
    (*(int *)arg)++;
    return 0;
}

static int count_messages(struct queue *q)
{
    struct queue_txn *t = NULL;
    int n = 0;
    CHECK_INT(queue_txn_begin(q, NULL, 0, &t), 0);
    CHECK_INT(queue_foreach(t, count_cb, NULL, &n), 0);
    queue_txn_abort(t);
    return n;
}

static void test_insert_get(void)
{
    struct queue *q = open_fresh(0);
    const char *rc2[] = {"a@one.example", "b@two.example"};
    char id1[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE];
    struct queue_txn *t = NULL;
    struct queue_msg *m = NULL;
    const void *data;
    size_t len;

    CHECK_INT(insert(q, "s@example.com", rc2, 2, "Subject: x\r\n\r\nhi\r\n", 1000, id1), 0);
    CHECK_INT(insert(q, "", rc2, 1, "body\r\n", 1001, id2), 0);
    CHECK(queue_id_valid(id1));
    CHECK(strcmp(id1, id2) < 0); /* ids sort by arrival */

    CHECK_INT(queue_txn_begin(q, NULL, 0, &t), 0);
    CHECK_INT(queue_get(t, id1, &m), 0);
    if (m) {
        CHECK_STR(m->sender, "s@example.com");
        CHECK_INT(m->nrcpt, 2);
        CHECK_STR(m->rcpt[1].address, "b@two.example");
        CHECK_INT(m->rcpt[0].state, QUEUE_READY);
        CHECK_INT(m->arrival, 1000);
        CHECK_INT(m->size, 18);
    }
    queue_msg_free(m);
    CHECK_INT(queue_content(t, id1, &data, &len), 0);
    CHECK_MEM(data, len, "Subject: x\r\n\r\nhi\r\n");
    CHECK_INT(queue_get(t, "000000000000", &m), -ENOENT);
    CHECK_INT(queue_get(t, "not-an-id", &m), -ENOENT);
    queue_txn_abort(t);
    CHECK_INT(count_messages(q), 2);

    /* Deleting removes the message and its schedule entries. */
    CHECK_INT(queue_txn_begin(q, NULL, 1, &t), 0);
    CHECK_INT(queue_delete(t, id1), 0);
    CHECK_INT(queue_delete(t, id1), -ENOENT);
    CHECK_INT(queue_txn_commit(t), 0);
    CHECK_INT(count_messages(q), 1);
    int64_t when = 0;
    CHECK_INT(queue_txn_begin(q, NULL, 0, &t), 0);
    CHECK_INT(queue_next_due(t, &when), 0);
    CHECK_INT(when, 1001);
    queue_txn_abort(t);
    queue_close(q);
}

static void test_claims(void)
{
    struct queue *q = open_fresh(0);
    const char *r1[] = {"x@b.example", "y@a.example", "z@B.example"};
    const char *r2[] = {"w@a.example"};
    char id1[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE];
    struct queue_claim cl[8];
    struct queue_txn *t = NULL;
    struct queue_msg *m = NULL;
    int n, removed = -1;
    unsigned changed = 0;

    CHECK_INT(insert(q, "s@example.com", r1, 3, "m1\r\n", 100, id1), 0);
    CHECK_INT(insert(q, "s@example.com", r2, 1, "m2\r\n", 200, id2), 0);

    CHECK_INT(queue_txn_begin(q, NULL, 1, &t), 0);
    /* Only what is due by 150: the three recipients of the first message,
     * grouped by domain (case-insensitive). */
    n = queue_claim_due(t, 150, cl, 8);
    CHECK_INT(n, 3);
    if (n == 3) {
        CHECK_STR(cl[0].address, "y@a.example");
        CHECK_STR(cl[1].domain, "b.example");
        CHECK_STR(cl[2].domain, "B.example");
        CHECK_INT(cl[1].rcpt, 0);
        CHECK_INT(cl[2].rcpt, 2);
    }
    CHECK_INT(queue_claim_due(t, 150, cl, 8), 0); /* nothing claimed twice */
    CHECK_INT(queue_record_result(t, id1, 0, QUEUE_OUTCOME_DELIVERED, "250 ok", 150, 0, &removed),
              0);
    CHECK_INT(removed, 0);
    CHECK_INT(
        queue_record_result(t, id1, 1, QUEUE_OUTCOME_DEFERRED, "450 busy", 150, 450, &removed), 0);
    CHECK_INT(queue_txn_commit(t), 0);

    /* A crash now: recipient 2 is still in flight and comes back due. */
    CHECK_INT(queue_txn_begin(q, NULL, 1, &t), 0);
    CHECK_INT(queue_recover(t, 160, &changed), 0);
    CHECK_INT(changed, 1);
    CHECK_INT(queue_get(t, id1, &m), 0);
    if (m) {
        CHECK_INT(m->rcpt[0].state, QUEUE_DELIVERED);
        CHECK_INT(m->rcpt[1].state, QUEUE_DEFERRED);
        CHECK_INT(m->rcpt[1].attempts, 1);
        CHECK_INT(m->rcpt[1].next_attempt, 450);
        CHECK_STR(m->rcpt[1].last_reply, "450 busy");
        CHECK_INT(m->rcpt[2].state, QUEUE_READY);
        CHECK_INT(m->rcpt[2].next_attempt, 160);
    }
    queue_msg_free(m);
    m = NULL;
    n = queue_claim_due(t, 300, cl, 8);
    CHECK_INT(n, 2); /* recovered z@, and id2 due at 200 */
    /* giving back a claim costs no attempt */
    CHECK_INT(queue_unclaim(t, id2, 0, 250), 0);
    CHECK_INT(queue_get(t, id2, &m), 0);
    if (m) {
        CHECK_INT(m->rcpt[0].state, QUEUE_READY);
        CHECK_INT(m->rcpt[0].attempts, 0);
        CHECK_INT(m->rcpt[0].next_attempt, 250);
    }
    queue_msg_free(m);
    m = NULL;
    CHECK_INT(queue_set_flags(t, id2, QUEUE_FLAG_DELAY_WARNED), 0);
    CHECK_INT(queue_get(t, id2, &m), 0);
    if (m)
        CHECK_INT(m->flags, QUEUE_FLAG_DELAY_WARNED);
    queue_msg_free(m);
    m = NULL;
    CHECK_INT(queue_record_result(t, id1, 2, QUEUE_OUTCOME_BOUNCED, "550 no", 300, 0, &removed), 0);
    CHECK_INT(removed, 0);
    n = queue_claim_due(t, 500, cl, 8);
    CHECK_INT(n, 2); /* y@a.example after its retry time, and id2 given back at 250 */
    CHECK_INT(queue_record_result(t, id1, 1, QUEUE_OUTCOME_DELIVERED, "250 ok", 500, 0, &removed),
              0);
    CHECK_INT(removed, 1); /* every recipient final: gone */
    CHECK_INT(queue_get(t, id1, &m), -ENOENT);
    CHECK_INT(queue_txn_commit(t), 0);
    CHECK_INT(count_messages(q), 1);
    queue_close(q);
}

static void test_hold_release_flush(void)
{
    struct queue *q = open_fresh(0);
    const char *r[] = {"a@x.example", "b@x.example"};
    char id[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE];
    struct queue_txn *t = NULL;
    struct queue_claim cl[4];
    struct queue_msg *m = NULL;
    unsigned changed = 0;

    CHECK_INT(insert(q, "s@example.com", r, 2, "m\r\n", 100, id), 0);
    CHECK_INT(insert(q, "s@example.com", r, 1, "m\r\n", 5000, id2), 0);
    CHECK_INT(queue_txn_begin(q, NULL, 1, &t), 0);
    CHECK_INT(queue_hold(t, id, &changed), 0);
    CHECK_INT(changed, 2);
    CHECK_INT(queue_claim_due(t, 1000, cl, 4), 0); /* held: not due */
    CHECK_INT(queue_release(t, id, 1000, &changed), 0);
    CHECK_INT(changed, 2);
    CHECK_INT(queue_get(t, id, &m), 0);
    if (m)
        CHECK_INT(m->rcpt[0].state, QUEUE_READY);
    queue_msg_free(m);
    CHECK_INT(queue_claim_due(t, 1000, cl, 4), 2);
    /* flush of everything brings id2 (due at 5000) forward */
    CHECK_INT(queue_flush(t, NULL, 1000, &changed), 0);
    CHECK_INT(changed, 1);
    CHECK_INT(queue_claim_due(t, 1000, cl, 4), 1);
    CHECK_INT(queue_hold(t, "ZZZZZZZZZZZZ", &changed), -ENOENT);
    CHECK_INT(queue_txn_commit(t), 0);
    queue_close(q);
}

static void test_history(void)
{
    struct queue *q = open_fresh(0);
    const char *r[] = {"a@x.example"};
    char id[QUEUE_ID_SIZE];
    struct queue_txn *t = NULL;
    struct queue_claim cl[1];
    int events = 0;

    CHECK_INT(insert(q, "s@example.com", r, 1, "m\r\n", 100, id), 0);
    CHECK_INT(queue_txn_begin(q, NULL, 1, &t), 0);
    for (int i = 0; i < QUEUE_HISTORY_KEEP + 5; i++) {
        CHECK_INT(queue_claim_due(t, 100 + i, cl, 1), 1);
        CHECK_INT(queue_record_result(t, id, 0, QUEUE_OUTCOME_DEFERRED, "451 later", 100 + i,
                                      101 + i, NULL),
                  0);
    }
    CHECK_INT(
        queue_history(t, id, 0, (int (*)(void *, const struct queue_event *))count_cb, &events), 0);
    CHECK_INT(events, QUEUE_HISTORY_KEEP);
    queue_txn_abort(t);
    queue_close(q);
}

static void test_map_full(void)
{
    /* A tiny map: inserts fail with -ENOSPC and what was stored stays. */
    struct queue *q = open_fresh(256 * 1024);
    const char *r[] = {"a@x.example"};
    char id[QUEUE_ID_SIZE];
    char *big = malloc(64 * 1024 + 1);
    int stored = 0, rc = 0;

    memset(big, 'x', 64 * 1024);
    big[64 * 1024] = 0;
    for (int i = 0; i < 50 && rc == 0; i++) {
        rc = insert(q, "s@example.com", r, 1, big, 100, id);
        if (rc == 0)
            stored++;
    }
    CHECK_INT(rc, -ENOSPC);
    CHECK(stored > 0);
    CHECK_INT(count_messages(q), stored);

    /* A nested transaction that fails leaves its parent usable. */
    struct queue_txn *t = NULL, *child = NULL;
    struct queue_msg *m = queue_msg_new(1);
    snprintf(m->rcpt[0].address, sizeof(m->rcpt[0].address), "a@x.example");
    CHECK_INT(queue_txn_begin(q, NULL, 1, &t), 0);
    CHECK_INT(queue_txn_begin(q, t, 1, &child), 0);
    CHECK_INT(queue_insert(child, m, big, 64 * 1024), -ENOSPC);
    queue_txn_abort(child);
    CHECK_INT(queue_txn_begin(q, t, 1, &child), 0);
    CHECK_INT(queue_delete(child, id), 0);
    CHECK_INT(queue_txn_commit(child), 0);
    CHECK_INT(queue_txn_commit(t), 0);
    CHECK_INT(count_messages(q), stored - 1);
    queue_msg_free(m);
    free(big);
    queue_close(q);

    /* Reopening works and keeps everything. */
    CHECK_INT(queue_open(&q, dir, 256 * 1024, 0), 0);
    CHECK_INT(count_messages(q), stored - 1);
    queue_close(q);
}

struct bad_seen {
    int n;
    char id[QUEUE_ID_SIZE];
};

static int ignore_cb(void *arg, const struct queue_msg *m)
{
    return 0;
}

static void bad_cb(void *arg, const char *id)
{
    struct bad_seen *b = arg;
    b->n++;
    snprintf(b->id, sizeof(b->id), "%s", id);
}

static void test_corrupt_record(void)
{
    struct queue *q = open_fresh(0);
    const char *r[] = {"a@x.example"};
    char id[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE];
    struct queue_txn *t = NULL;
    struct queue_claim cl[4];
    struct queue_stats st;
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;

    CHECK_INT(insert(q, "s@example.com", r, 1, "m\r\n", 100, id), 0);
    CHECK_INT(insert(q, "s@example.com", r, 1, "m\r\n", 100, id2), 0);
    queue_close(q);

    /* Damage the first envelope behind the library's back. */
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 16);
    CHECK_INT(mdb_env_open(env, dir, 0, 0600), 0);
    CHECK_INT(mdb_txn_begin(env, NULL, 0, &txn), 0);
    CHECK_INT(mdb_dbi_open(txn, "env", 0, &dbi), 0);
    MDB_val k = {QUEUE_ID_LEN, id}, v = {5, "\x07junk"};
    CHECK_INT(mdb_put(txn, dbi, &k, &v, 0), 0);
    CHECK_INT(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    CHECK_INT(queue_open(&q, dir, 0, 0), 0);
    CHECK_INT(count_messages(q), 1); /* read-only walk skips it */
    {
        struct bad_seen seen = {0, ""};
        CHECK_INT(queue_txn_begin(q, NULL, 0, &t), 0);
        CHECK_INT(queue_foreach(t, ignore_cb, bad_cb, &seen), 0);
        queue_txn_abort(t);
        CHECK_INT(seen.n, 1);
        CHECK_STR(seen.id, id);
    }
    CHECK_INT(queue_txn_begin(q, NULL, 1, &t), 0);
    struct queue_msg *m = NULL;
    CHECK_INT(queue_get(t, id, &m), -EBADMSG);
    /* claiming meets the damaged message's recipient: not a crash, just the
     * good message */
    int n = queue_claim_due(t, 200, cl, 4);
    CHECK_INT(n, 2);
    CHECK_INT(queue_delete(t, id), 0); /* a damaged message is set aside */
    CHECK_INT(queue_stats(t, &st, NULL, NULL), 0);
    CHECK_INT(st.messages, 1);
    CHECK_INT(st.set_aside, 1);
    CHECK_INT(queue_txn_commit(t), 0);
    queue_close(q);
}

static void test_readonly(void)
{
    struct queue *q = open_fresh(0), *ro = NULL;
    const char *r[] = {"a@x.example"};
    char id[QUEUE_ID_SIZE];
    struct queue_txn *t = NULL;
    CHECK_INT(insert(q, "s@example.com", r, 1, "m\r\n", 100, id), 0);
    CHECK_INT(queue_open(&ro, dir, 0, QUEUE_OPEN_READONLY), 0);
    CHECK_INT(count_messages(ro), 1);
    /* a reader does not block the writer */
    CHECK_INT(queue_txn_begin(ro, NULL, 0, &t), 0);
    CHECK_INT(insert(q, "s@example.com", r, 1, "m\r\n", 100, id), 0);
    queue_txn_abort(t);
    CHECK_INT(count_messages(ro), 2);
    queue_close(ro);
    queue_close(q);
}

/* Content copied out in the write transaction that inserted it lives in
 * LMDB's dirty pages, which are heap memory, not the map: letting the map's
 * pages go must not touch them (the writer batches an insert and the claim
 * of the same message in one transaction). */
static void test_copy_in_write_txn(void)
{
    struct queue *q = open_fresh(0);
    struct queue_txn *t = NULL;
    struct queue_msg *m = queue_msg_new(1);
    const size_t big = 300 * 1024; /* overflow pages malloc mmaps on its own */
    char *content = malloc(big), *copy = NULL;
    const void *data;
    size_t len = 0;

    for (size_t i = 0; i < big; i++)
        content[i] = (char)('a' + i % 26);
    snprintf(m->sender, sizeof(m->sender), "s@example.com");
    snprintf(m->origin, sizeof(m->origin), "test");
    snprintf(m->rcpt[0].address, sizeof(m->rcpt[0].address), "r@example.org");
    CHECK_INT(queue_txn_begin(q, NULL, 1, &t), 0);
    CHECK_INT(queue_insert(t, m, content, big), 0);
    CHECK_INT(queue_content_copy(t, m->id, &copy, &len), 0);
    CHECK_INT(len == big && memcmp(copy, content, big) == 0, 1);
    CHECK_INT(queue_content(t, m->id, &data, &len), 0);
    CHECK_INT(len == big && memcmp(data, content, big) == 0, 1); /* still there */
    CHECK_INT(queue_txn_commit(t), 0);
    free(copy);
    copy = NULL;
    CHECK_INT(queue_txn_begin(q, NULL, 0, &t), 0);
    CHECK_INT(queue_content_copy(t, m->id, &copy, &len), 0);
    CHECK_INT(len == big && memcmp(copy, content, big) == 0, 1); /* and committed */
    queue_txn_abort(t);
    free(copy);
    free(content);
    queue_msg_free(m);
    queue_close(q);
}

/* Resident kB of this process's mappings of data.mdb (from smaps). */
static long map_rss_kb(void)
{
    char path[96], line[256];
    struct stat st;
    long rss = 0;
    int in_map = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    if (stat(path, &st) != 0 || !(f = fopen("/proc/self/smaps", "r")))
        return -1;
    while (fgets(line, sizeof(line), f)) {
        unsigned long ino;
        long kb;
        if (strchr(line, '-') && sscanf(line, "%*x-%*x %*s %*x %*x:%*x %lu", &ino) == 1)
            in_map = ino == (unsigned long)st.st_ino;
        else if (in_map && sscanf(line, "Rss: %ld kB", &kb) == 1)
            rss += kb;
    }
    fclose(f);
    return rss;
}

/* Content copied out of committed mail: the map's pages it came from are
 * let go, so the daemon holds its copy, not also the pages. */
static void test_copy_lets_pages_go(void)
{
    struct queue *q = open_fresh(64u << 20);
    struct queue_txn *t = NULL;
    struct queue_msg *m = queue_msg_new(1);
    const size_t big = 1024 * 1024;
    char *content = malloc(big), *copy = NULL;
    const void *data;
    size_t len = 0;
    long before, after;

    memset(content, 'z', big);
    snprintf(m->sender, sizeof(m->sender), "s@example.com");
    snprintf(m->origin, sizeof(m->origin), "test");
    snprintf(m->rcpt[0].address, sizeof(m->rcpt[0].address), "r@example.org");
    CHECK_INT(queue_txn_begin(q, NULL, 1, &t), 0);
    CHECK_INT(queue_insert(t, m, content, big), 0);
    CHECK_INT(queue_txn_commit(t), 0);
    CHECK_INT(queue_txn_begin(q, NULL, 0, &t), 0);
    CHECK_INT(queue_content(t, m->id, &data, &len), 0);
    CHECK_INT(len == big && memcmp(data, content, big) == 0, 1); /* every page touched */
    before = map_rss_kb();
    CHECK_INT(queue_content_copy(t, m->id, &copy, &len), 0);
    after = map_rss_kb();
    CHECK_INT(before >= 1024, 1);
    CHECK_INT(before - after >= 1000, 1);
    CHECK_INT(len == big && memcmp(copy, content, big) == 0, 1);
    queue_txn_abort(t);
    free(copy);
    free(content);
    queue_msg_free(m);
    queue_close(q);
}

int main(void)
{
    test_insert_get();
    test_claims();
    test_hold_release_flush();
    test_history();
    test_map_full();
    test_corrupt_record();
    test_readonly();
    test_copy_in_write_txn();
    test_copy_lets_pages_go();
    if (dir[0])
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    CHECK_DONE();
}
