/*
 * queue.c - the durable mail queue on LMDB.
 *
 * Trust: records are read back from our own database, but a record that
 * does not decode (disk damage, a bug in an older version) must never crash
 * the daemon or make it loop: every decoder is bounded and a failure moves
 * the message aside. Envelope contents come from the daemon, which has
 * validated them.
 *
 * ON-DISK FORMAT (all integers little-endian unless marked BE; "str" is a
 * u16 length followed by that many bytes, no NUL, bounded by the matching
 * QUEUE_*_MAX - 1). Named databases in one environment:
 *
 *   meta   "format" -> u32 (QUEUE_FORMAT); "last_id" -> u64, the numeric
 *          value of the newest queue id ever issued (ids never repeat);
 *          "note:" + key -> caller's bytes (queue_note_*).
 *   env    id (12 chars) -> envelope:
 *            u8 format(1) u8 ret u8 body u8 flags (QUEUE_FLAG_*)
 *            u32 uid  i64 arrival  u64 size  u32 nrcpt  u32 npending
 *            str sender  str envid  str origin
 *          npending counts recipients not yet DELIVERED or BOUNCED; the
 *          message is removed when it reaches 0.
 *   rcpt   id + u32 BE index -> recipient:
 *            u8 format(1) u8 state u8 held_from u8 notify
 *            u32 attempts  u32 hist_seq  i64 next_attempt  i64 last_attempt
 *            str address  str orcpt  str last_reply
 *          held_from is the state to return to on release or crash recovery.
 *   body   id -> the message content, CRLF lines, exactly as it is sent.
 *   sched  u64 BE next_attempt + id + u32 BE index -> (empty)
 *          one entry per READY or DEFERRED recipient; the range scan for due
 *          work starts at the first key. An entry whose recipient no longer
 *          matches it is stale and is dropped when met.
 *   claim  id + u32 BE index -> (empty): recipients INFLIGHT, so that
 *          recovery after a crash reads only these.
 *   hist   id + u32 BE index + u32 BE seq -> event:
 *            i64 time  u8 state  str text
 *          at most QUEUE_HISTORY_KEEP per recipient (oldest dropped).
 *   aside  id + ".env" / id + ".body" -> raw bytes of a message whose
 *          records failed to decode, kept for the operator (mdb_dump).
 *
 * Queue ids: the microseconds since the epoch at insertion (made strictly
 * increasing with meta "last_id"), as 12 characters of Crockford base32,
 * most significant first, so ids sort by arrival as strings.
 */
#include "queue.h"

#include <errno.h>
#include <lmdb.h>
#include <sys/statvfs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_FORMAT 1
#define REC_FORMAT 1
#define RCPT_KEY_LEN (QUEUE_ID_LEN + 4)
#define SCHED_KEY_LEN (8 + RCPT_KEY_LEN)
#define HIST_KEY_LEN (RCPT_KEY_LEN + 4)

struct queue {
    MDB_env *env;
    MDB_dbi meta, envdb, rcpt, body, sched, claim, hist, aside;
    unsigned flags;
    uintptr_t map_lo, map_hi; /* LMDB's map of data.mdb; 0, 0: unknown */
};

struct queue_txn {
    struct queue *q;
    MDB_txn *txn;
    int write;
};

/* The one place LMDB codes become errno values. */
static int queue__err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return 0;
    case MDB_NOTFOUND:
        return -ENOENT;
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
    case MDB_DBS_FULL:
        return -ENOSPC;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
        return -EBADMSG;
    case MDB_READERS_FULL:
        return -EAGAIN;
    default:
        return rc > 0 ? -rc : -EIO;
    }
}

/* ---- encoding ---- */

struct enc {
    uint8_t buf[2048];
    size_t len;
    int err;
};

static void enc_bytes(struct enc *e, const void *p, size_t n)
{
    if (e->err || n > sizeof(e->buf) - e->len) {
        e->err = 1;
        return;
    }
    memcpy(e->buf + e->len, p, n);
    e->len += n;
}

static void enc_u8(struct enc *e, uint8_t v)
{
    enc_bytes(e, &v, 1);
}

static void enc_u32(struct enc *e, uint32_t v)
{
    uint8_t b[4] = {v, v >> 8, v >> 16, v >> 24};
    enc_bytes(e, b, 4);
}

static void enc_u64(struct enc *e, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    enc_bytes(e, b, 8);
}

static void enc_str(struct enc *e, const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    if (n >= max) {
        e->err = 1;
        return;
    }
    uint8_t b[2] = {n, n >> 8};
    enc_bytes(e, b, 2);
    enc_bytes(e, s, n);
}

struct dec {
    const uint8_t *p;
    size_t len, off;
    int err;
};

static const uint8_t *dec_bytes(struct dec *d, size_t n)
{
    if (d->err || n > d->len - d->off) {
        d->err = 1;
        return NULL;
    }
    const uint8_t *p = d->p + d->off;
    d->off += n;
    return p;
}

static uint8_t dec_u8(struct dec *d)
{
    const uint8_t *p = dec_bytes(d, 1);
    return p ? p[0] : 0;
}

static uint32_t dec_u32(struct dec *d)
{
    const uint8_t *p = dec_bytes(d, 4);
    return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
             : 0;
}

static uint64_t dec_u64(struct dec *d)
{
    const uint8_t *p = dec_bytes(d, 8);
    uint64_t v = 0;
    if (p)
        for (int i = 7; i >= 0; i--)
            v = v << 8 | p[i];
    return v;
}

/* A string must fit its field and hold no NUL (it is used as a C string). */
static void dec_str(struct dec *d, char *out, size_t max)
{
    const uint8_t *lp = dec_bytes(d, 2);
    size_t n = lp ? (size_t)(lp[0] | lp[1] << 8) : 0;
    const uint8_t *p = dec_bytes(d, n);
    if (!p || n >= max || memchr(p, 0, n)) {
        d->err = 1;
        out[0] = 0;
        return;
    }
    memcpy(out, p, n);
    out[n] = 0;
}

static void put_be32(uint8_t *b, uint32_t v)
{
    b[0] = v >> 24;
    b[1] = v >> 16;
    b[2] = v >> 8;
    b[3] = v;
}

static uint32_t get_be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void put_be64(uint8_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get_be64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

/* ---- records ---- */

struct env_rec {
    uint8_t ret, body, flags;
    uint32_t uid, nrcpt, npending;
    int64_t arrival;
    uint64_t size;
    char sender[QUEUE_ADDRESS_MAX], envid[QUEUE_ENVID_MAX], origin[QUEUE_ORIGIN_MAX];
};

struct rcpt_rec {
    struct queue_rcpt r;
    uint32_t hist_seq;
};

static void env_encode(struct enc *e, const struct env_rec *v)
{
    enc_u8(e, REC_FORMAT);
    enc_u8(e, v->ret);
    enc_u8(e, v->body);
    enc_u8(e, v->flags);
    enc_u32(e, v->uid);
    enc_u64(e, (uint64_t)v->arrival);
    enc_u64(e, v->size);
    enc_u32(e, v->nrcpt);
    enc_u32(e, v->npending);
    enc_str(e, v->sender, sizeof(v->sender));
    enc_str(e, v->envid, sizeof(v->envid));
    enc_str(e, v->origin, sizeof(v->origin));
}

static int env_decode(const MDB_val *val, struct env_rec *v)
{
    struct dec d = {val->mv_data, val->mv_size, 0, 0};
    if (dec_u8(&d) != REC_FORMAT)
        return -EBADMSG;
    v->ret = dec_u8(&d);
    v->body = dec_u8(&d);
    v->flags = dec_u8(&d);
    v->uid = dec_u32(&d);
    v->arrival = (int64_t)dec_u64(&d);
    v->size = dec_u64(&d);
    v->nrcpt = dec_u32(&d);
    v->npending = dec_u32(&d);
    dec_str(&d, v->sender, sizeof(v->sender));
    dec_str(&d, v->envid, sizeof(v->envid));
    dec_str(&d, v->origin, sizeof(v->origin));
    if (d.err || d.off != d.len || v->nrcpt == 0 || v->nrcpt > QUEUE_RCPT_MAX ||
        v->npending > v->nrcpt || v->ret > QUEUE_RET_HDRS || v->body > QUEUE_BODY_8BITMIME)
        return -EBADMSG;
    return 0;
}

static void rcpt_encode(struct enc *e, const struct rcpt_rec *v)
{
    enc_u8(e, REC_FORMAT);
    enc_u8(e, v->r.state);
    enc_u8(e, v->r.held_from);
    enc_u8(e, v->r.notify);
    enc_u32(e, v->r.attempts);
    enc_u32(e, v->hist_seq);
    enc_u64(e, (uint64_t)v->r.next_attempt);
    enc_u64(e, (uint64_t)v->r.last_attempt);
    enc_str(e, v->r.address, sizeof(v->r.address));
    enc_str(e, v->r.orcpt, sizeof(v->r.orcpt));
    enc_str(e, v->r.last_reply, sizeof(v->r.last_reply));
}

static int rcpt_decode(const MDB_val *val, struct rcpt_rec *v)
{
    struct dec d = {val->mv_data, val->mv_size, 0, 0};
    if (dec_u8(&d) != REC_FORMAT)
        return -EBADMSG;
    v->r.state = dec_u8(&d);
    v->r.held_from = dec_u8(&d);
    v->r.notify = dec_u8(&d);
    v->r.attempts = dec_u32(&d);
    v->hist_seq = dec_u32(&d);
    v->r.next_attempt = (int64_t)dec_u64(&d);
    v->r.last_attempt = (int64_t)dec_u64(&d);
    dec_str(&d, v->r.address, sizeof(v->r.address));
    dec_str(&d, v->r.orcpt, sizeof(v->r.orcpt));
    dec_str(&d, v->r.last_reply, sizeof(v->r.last_reply));
    if (d.err || d.off != d.len || v->r.state < QUEUE_READY || v->r.state > QUEUE_BOUNCED ||
        v->r.held_from > QUEUE_BOUNCED || v->r.next_attempt < 0)
        return -EBADMSG;
    return 0;
}

/* ---- keys ---- */

static void rcpt_key(uint8_t *k, const char *id, uint32_t idx)
{
    memcpy(k, id, QUEUE_ID_LEN);
    put_be32(k + QUEUE_ID_LEN, idx);
}

static void sched_key(uint8_t *k, int64_t when, const char *id, uint32_t idx)
{
    put_be64(k, (uint64_t)when);
    rcpt_key(k + 8, id, idx);
}

static int is_pending(uint8_t state)
{
    return state == QUEUE_READY || state == QUEUE_DEFERRED;
}

static int is_final(uint8_t state)
{
    return state == QUEUE_DELIVERED || state == QUEUE_BOUNCED;
}

/* ---- ids ---- */

static const char id_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static void id_encode(uint64_t v, char *out)
{
    for (int i = QUEUE_ID_LEN - 1; i >= 0; i--) {
        out[i] = id_alphabet[v & 31];
        v >>= 5;
    }
    out[QUEUE_ID_LEN] = 0;
}

int queue_id_valid(const char *text)
{
    if (!text || strlen(text) != QUEUE_ID_LEN)
        return 0;
    for (size_t i = 0; i < QUEUE_ID_LEN; i++)
        if (!strchr(id_alphabet, text[i]) || !text[i])
            return 0;
    return 1;
}

int64_t queue_now(void)
{
    return (int64_t)time(NULL);
}

const char *queue_state_name(uint8_t state)
{
    static const char *const names[] = {"?",       "ready",     "deferred", "held",
                                        "sending", "delivered", "bounced"};
    return state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}

/* ---- environment and transactions ---- */

/* Where LMDB mapped data.mdb, from /proc/self/maps (LMDB tells the address
 * only under MDB_FIXEDMAP). Without it queue_content_copy lets no page go:
 * slower to shrink, never wrong. */
static void queue__find_map(struct queue *q)
{
    struct stat st;
    mdb_filehandle_t fd;
    char line[512];
    FILE *f;

    if (mdb_env_get_fd(q->env, &fd) != 0 || fstat(fd, &st) != 0 ||
        !(f = fopen("/proc/self/maps", "re")))
        return;
    while (fgets(line, sizeof(line), f)) {
        unsigned long lo, hi, ino;
        unsigned maj, min;
        if (sscanf(line, "%lx-%lx %*s %*x %x:%x %lu", &lo, &hi, &maj, &min, &ino) == 5 &&
            ino == (unsigned long)st.st_ino && makedev(maj, min) == st.st_dev) {
            /* the map may show as several lines (readahead advice splits
             * it): their union */
            if (!q->map_lo || lo < q->map_lo)
                q->map_lo = lo;
            if (hi > q->map_hi)
                q->map_hi = hi;
        }
    }
    fclose(f);
}

int queue_open(struct queue **out, const char *dir, uint64_t map_size, unsigned flags)
{
    struct queue *q = NULL;
    MDB_txn *txn = NULL;
    int rc;
    unsigned dbflags = (flags & QUEUE_OPEN_READONLY) ? 0 : MDB_CREATE;

    *out = NULL;
    q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    q->flags = flags;
    if ((rc = mdb_env_create(&q->env)))
        goto fail;
    mdb_env_set_maxdbs(q->env, 16);
    /* Readers (mtaq) must not be tied to a thread: the daemon reads on
     * its loop thread while writes run on a worker. */
    if (map_size && (rc = mdb_env_set_mapsize(q->env, map_size)))
        goto fail;
    /* Access is by key, not sequential: readahead would only fill memory
     * with pages nobody asked for. */
    rc = mdb_env_open(q->env, dir,
                      MDB_NOTLS | MDB_NORDAHEAD | ((flags & QUEUE_OPEN_READONLY) ? MDB_RDONLY : 0),
                      0600);
    if (rc)
        goto fail;
    if ((rc = mdb_txn_begin(q->env, NULL, (flags & QUEUE_OPEN_READONLY) ? MDB_RDONLY : 0, &txn)))
        goto fail;
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {{"meta", &q->meta}, {"env", &q->envdb},   {"rcpt", &q->rcpt},
               {"body", &q->body}, {"sched", &q->sched}, {"claim", &q->claim},
               {"hist", &q->hist}, {"aside", &q->aside}};
    for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++)
        if ((rc = mdb_dbi_open(txn, dbs[i].name, dbflags, dbs[i].dbi)))
            goto fail;
    if (!(flags & QUEUE_OPEN_READONLY)) {
        MDB_val k = {6, "format"}, v;
        uint32_t fmt = QUEUE_FORMAT;
        rc = mdb_get(txn, q->meta, &k, &v);
        if (rc == MDB_NOTFOUND) {
            v.mv_size = sizeof(fmt);
            v.mv_data = &fmt;
            rc = mdb_put(txn, q->meta, &k, &v, 0);
        } else if (rc == 0 && (v.mv_size != 4 || memcmp(v.mv_data, &fmt, 4) != 0)) {
            rc = MDB_VERSION_MISMATCH;
        }
        if (rc)
            goto fail;
    }
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc)
        goto fail;
    queue__find_map(q);
    *out = q;
    return 0;
fail:
    if (txn)
        mdb_txn_abort(txn);
    if (q->env)
        mdb_env_close(q->env);
    free(q);
    return queue__err(rc);
}

void queue_close(struct queue *q)
{
    if (!q)
        return;
    mdb_env_close(q->env);
    free(q);
}

int queue_txn_begin(struct queue *q, struct queue_txn *parent, int write, struct queue_txn **out)
{
    struct queue_txn *t = calloc(1, sizeof(*t));
    int rc;

    *out = NULL;
    if (!t)
        return -ENOMEM;
    if (parent && !parent->write) {
        free(t);
        return -EINVAL;
    }
    rc = mdb_txn_begin(q->env, parent ? parent->txn : NULL, (write || parent) ? 0 : MDB_RDONLY,
                       &t->txn);
    if (rc) {
        free(t);
        return queue__err(rc);
    }
    t->q = q;
    t->write = write || parent;
    *out = t;
    return 0;
}

int queue_txn_commit(struct queue_txn *t)
{
    int rc = mdb_txn_commit(t->txn);
    free(t);
    return queue__err(rc);
}

void queue_txn_abort(struct queue_txn *t)
{
    if (!t)
        return;
    mdb_txn_abort(t->txn);
    free(t);
}

/* ---- messages ---- */

struct queue_msg *queue_msg_new(uint32_t nrcpt)
{
    struct queue_msg *m;
    if (nrcpt > QUEUE_RCPT_MAX)
        return NULL;
    m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->rcpt = calloc(nrcpt ? nrcpt : 1, sizeof(*m->rcpt));
    if (!m->rcpt) {
        free(m);
        return NULL;
    }
    m->nrcpt = nrcpt;
    return m;
}

void queue_msg_free(struct queue_msg *m)
{
    if (!m)
        return;
    free(m->rcpt);
    free(m);
}

static int put_rec(struct queue_txn *t, MDB_dbi dbi, const void *key, size_t klen,
                   const struct enc *e)
{
    MDB_val k = {klen, (void *)key}, v = {e->len, (void *)e->buf};
    if (e->err)
        return -EINVAL;
    return queue__err(mdb_put(t->txn, dbi, &k, &v, 0));
}

static int put_empty(struct queue_txn *t, MDB_dbi dbi, const void *key, size_t klen)
{
    MDB_val k = {klen, (void *)key}, v = {0, ""};
    return queue__err(mdb_put(t->txn, dbi, &k, &v, 0));
}

static int del_key(struct queue_txn *t, MDB_dbi dbi, const void *key, size_t klen)
{
    MDB_val k = {klen, (void *)key};
    int rc = mdb_del(t->txn, dbi, &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : queue__err(rc);
}

static int get_env(struct queue_txn *t, const char *id, struct env_rec *e)
{
    MDB_val k = {QUEUE_ID_LEN, (void *)id}, v;
    int rc = mdb_get(t->txn, t->q->envdb, &k, &v);
    if (rc)
        return queue__err(rc);
    return env_decode(&v, e);
}

static int put_env(struct queue_txn *t, const char *id, const struct env_rec *e)
{
    struct enc enc = {.len = 0};
    env_encode(&enc, e);
    return put_rec(t, t->q->envdb, id, QUEUE_ID_LEN, &enc);
}

static int get_rcpt(struct queue_txn *t, const char *id, uint32_t idx, struct rcpt_rec *r)
{
    uint8_t key[RCPT_KEY_LEN];
    MDB_val k = {sizeof(key), key}, v;
    int rc;
    rcpt_key(key, id, idx);
    if ((rc = mdb_get(t->txn, t->q->rcpt, &k, &v)))
        return queue__err(rc);
    return rcpt_decode(&v, r);
}

static int put_rcpt(struct queue_txn *t, const char *id, uint32_t idx, const struct rcpt_rec *r)
{
    uint8_t key[RCPT_KEY_LEN];
    struct enc enc = {.len = 0};
    rcpt_key(key, id, idx);
    rcpt_encode(&enc, r);
    return put_rec(t, t->q->rcpt, key, sizeof(key), &enc);
}

static int sched_put(struct queue_txn *t, int64_t when, const char *id, uint32_t idx)
{
    uint8_t key[SCHED_KEY_LEN];
    sched_key(key, when, id, idx);
    return put_empty(t, t->q->sched, key, sizeof(key));
}

static int sched_del(struct queue_txn *t, int64_t when, const char *id, uint32_t idx)
{
    uint8_t key[SCHED_KEY_LEN];
    sched_key(key, when, id, idx);
    return del_key(t, t->q->sched, key, sizeof(key));
}

/* Appends an event to a recipient's history, dropping the oldest past the
 * limit. Updates r->hist_seq; the caller stores r. */
static int history_add(struct queue_txn *t, const char *id, uint32_t idx, struct rcpt_rec *r,
                       int64_t when, const char *text)
{
    uint8_t key[HIST_KEY_LEN];
    struct enc enc = {.len = 0};
    char buf[QUEUE_REPLY_MAX];
    int rc;

    snprintf(buf, sizeof(buf), "%s", text);
    rcpt_key(key, id, idx);
    put_be32(key + RCPT_KEY_LEN, r->hist_seq);
    enc_u64(&enc, (uint64_t)when);
    enc_u8(&enc, r->r.state);
    enc_str(&enc, buf, sizeof(buf));
    if ((rc = put_rec(t, t->q->hist, key, sizeof(key), &enc)))
        return rc;
    if (r->hist_seq >= QUEUE_HISTORY_KEEP) {
        put_be32(key + RCPT_KEY_LEN, r->hist_seq - QUEUE_HISTORY_KEEP);
        if ((rc = del_key(t, t->q->hist, key, sizeof(key))))
            return rc;
    }
    r->hist_seq++;
    return 0;
}

static int next_id(struct queue_txn *t, char *out)
{
    MDB_val k = {7, "last_id"}, v;
    struct timespec ts;
    uint64_t last = 0, now;
    int rc = mdb_get(t->txn, t->q->meta, &k, &v);

    if (rc == 0 && v.mv_size == 8)
        memcpy(&last, v.mv_data, 8);
    else if (rc && rc != MDB_NOTFOUND)
        return queue__err(rc);
    clock_gettime(CLOCK_REALTIME, &ts);
    now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    /* A clock that steps back must not reissue an id. */
    if (now <= last)
        now = last + 1;
    v.mv_size = 8;
    v.mv_data = &now;
    if ((rc = mdb_put(t->txn, t->q->meta, &k, &v, 0)))
        return queue__err(rc);
    id_encode(now, out);
    return 0;
}

int queue_insert(struct queue_txn *t, struct queue_msg *m, const void *content, size_t len)
{
    struct env_rec e = {0};
    MDB_val k, v;
    int rc;

    if (!t->write || m->nrcpt == 0 || m->nrcpt > QUEUE_RCPT_MAX)
        return -EINVAL;
    if ((rc = next_id(t, m->id)))
        return rc;
    m->size = len;
    e.ret = m->ret;
    e.body = m->body;
    e.uid = m->uid;
    e.arrival = m->arrival;
    e.size = len;
    e.nrcpt = e.npending = m->nrcpt;
    snprintf(e.sender, sizeof(e.sender), "%s", m->sender);
    snprintf(e.envid, sizeof(e.envid), "%s", m->envid);
    snprintf(e.origin, sizeof(e.origin), "%s", m->origin);
    if ((rc = put_env(t, m->id, &e)))
        return rc;
    k.mv_size = QUEUE_ID_LEN;
    k.mv_data = m->id;
    v.mv_size = len;
    v.mv_data = (void *)content;
    if ((rc = queue__err(mdb_put(t->txn, t->q->body, &k, &v, 0))))
        return rc;
    for (uint32_t i = 0; i < m->nrcpt; i++) {
        struct rcpt_rec r = {.r = m->rcpt[i]};
        r.r.state = QUEUE_READY;
        r.r.held_from = 0;
        r.r.attempts = 0;
        r.r.next_attempt = m->arrival;
        r.r.last_attempt = 0;
        r.r.last_reply[0] = 0;
        m->rcpt[i] = r.r;
        if ((rc = history_add(t, m->id, i, &r, m->arrival, "queued")))
            return rc;
        if ((rc = put_rcpt(t, m->id, i, &r)))
            return rc;
        if ((rc = sched_put(t, m->arrival, m->id, i)))
            return rc;
    }
    return 0;
}

int queue_get(struct queue_txn *t, const char *id, struct queue_msg **out)
{
    struct env_rec e;
    struct queue_msg *m = NULL;
    int rc;

    *out = NULL;
    if (!queue_id_valid(id))
        return -ENOENT;
    if ((rc = get_env(t, id, &e)))
        return rc;
    if (!(m = queue_msg_new(e.nrcpt)))
        return -ENOMEM;
    memcpy(m->id, id, QUEUE_ID_SIZE);
    memcpy(m->sender, e.sender, sizeof(m->sender));
    memcpy(m->envid, e.envid, sizeof(m->envid));
    memcpy(m->origin, e.origin, sizeof(m->origin));
    m->arrival = e.arrival;
    m->size = e.size;
    m->uid = e.uid;
    m->ret = e.ret;
    m->body = e.body;
    m->flags = e.flags;
    for (uint32_t i = 0; i < e.nrcpt; i++) {
        struct rcpt_rec r;
        if ((rc = get_rcpt(t, id, i, &r))) {
            if (rc == -ENOENT)
                rc = -EBADMSG;
            goto fail;
        }
        m->rcpt[i] = r.r;
    }
    *out = m;
    return 0;
fail:
    queue_msg_free(m);
    return rc;
}

int queue_content(struct queue_txn *t, const char *id, const void **data, size_t *len)
{
    MDB_val k = {QUEUE_ID_LEN, (void *)id}, v;
    int rc;
    if (!queue_id_valid(id))
        return -ENOENT;
    if ((rc = mdb_get(t->txn, t->q->body, &k, &v)))
        return queue__err(rc);
    *data = v.mv_data;
    *len = v.mv_size;
    return 0;
}

int queue_content_copy(struct queue_txn *t, const char *id, char **data, size_t *len)
{
    const void *src;
    size_t n;
    int rc = queue_content(t, id, &src, &n);
    if (rc)
        return rc;
    if (!(*data = malloc(n ? n : 1)))
        return -ENOMEM;
    memcpy(*data, src, n);
    *len = n;
    /* The map is read-only and shared (no MDB_WRITEMAP): dropping these
     * pages only unmaps them from this process; they stay in the page
     * cache, and a later access brings back the same bytes. So a daemon
     * with much mail in flight holds its copies, not also the pages.
     * Only pages of the map, though: content written in this same write
     * transaction is in LMDB's dirty pages, which are heap memory, and
     * MADV_DONTNEED there would zero them (and whatever shares their
     * pages). */
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = (uintptr_t)src & ~(page - 1);
    uintptr_t end = ((uintptr_t)src + n + page - 1) & ~(page - 1);
    if (n && page && start >= t->q->map_lo && end <= t->q->map_hi)
        madvise((void *)start, end - start, MADV_DONTNEED);
    return 0;
}

/* Deletes every key of dbi that starts with prefix. */
static int del_prefix(struct queue_txn *t, MDB_dbi dbi, const void *prefix, size_t plen)
{
    MDB_cursor *c = NULL;
    MDB_val k = {plen, (void *)prefix}, v;
    int rc = mdb_cursor_open(t->txn, dbi, &c);
    if (rc)
        return queue__err(rc);
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size >= plen && memcmp(k.mv_data, prefix, plen) == 0) {
        if ((rc = mdb_cursor_del(c, 0)))
            break;
        rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND || rc == EINVAL ? 0 : queue__err(rc);
}

/* Removes everything of a message whose envelope decoded: schedule and
 * claim entries are found through the recipient records. */
static int remove_message(struct queue_txn *t, const char *id, const struct env_rec *e)
{
    int rc;
    for (uint32_t i = 0; i < e->nrcpt; i++) {
        struct rcpt_rec r;
        uint8_t key[RCPT_KEY_LEN];
        if (get_rcpt(t, id, i, &r) == 0 && is_pending(r.r.state) &&
            (rc = sched_del(t, r.r.next_attempt, id, i)))
            return rc;
        rcpt_key(key, id, i);
        if ((rc = del_key(t, t->q->claim, key, sizeof(key))))
            return rc;
    }
    if ((rc = del_prefix(t, t->q->rcpt, id, QUEUE_ID_LEN)) ||
        (rc = del_prefix(t, t->q->hist, id, QUEUE_ID_LEN)) ||
        (rc = del_key(t, t->q->body, id, QUEUE_ID_LEN)) ||
        (rc = del_key(t, t->q->envdb, id, QUEUE_ID_LEN)))
        return rc;
    return 0;
}

int queue_delete(struct queue_txn *t, const char *id)
{
    struct env_rec e;
    int rc;
    if (!queue_id_valid(id))
        return -ENOENT;
    rc = get_env(t, id, &e);
    if (rc == -EBADMSG)
        return queue_set_aside(t, id);
    if (rc)
        return rc;
    return remove_message(t, id, &e);
}

int queue_set_aside(struct queue_txn *t, const char *id)
{
    MDB_val k = {QUEUE_ID_LEN, (void *)id}, v, ak;
    char akey[QUEUE_ID_LEN + 5];
    int rc;

    memcpy(akey, id, QUEUE_ID_LEN);
    ak.mv_data = akey;
    ak.mv_size = sizeof(akey);
    memcpy(akey + QUEUE_ID_LEN, ".env", 4);
    akey[QUEUE_ID_LEN + 4] = 0;
    ak.mv_size = QUEUE_ID_LEN + 4;
    rc = mdb_get(t->txn, t->q->envdb, &k, &v);
    if (rc == 0 && (rc = mdb_put(t->txn, t->q->aside, &ak, &v, 0)))
        return queue__err(rc);
    memcpy(akey + QUEUE_ID_LEN, ".bod", 4);
    k.mv_size = QUEUE_ID_LEN;
    k.mv_data = (void *)id;
    rc = mdb_get(t->txn, t->q->body, &k, &v);
    if (rc == 0 && (rc = mdb_put(t->txn, t->q->aside, &ak, &v, 0)))
        return queue__err(rc);
    /* Schedule entries that point here are dropped as stale when met. */
    if ((rc = del_prefix(t, t->q->rcpt, id, QUEUE_ID_LEN)) ||
        (rc = del_prefix(t, t->q->claim, id, QUEUE_ID_LEN)) ||
        (rc = del_prefix(t, t->q->hist, id, QUEUE_ID_LEN)) ||
        (rc = del_key(t, t->q->body, id, QUEUE_ID_LEN)) ||
        (rc = del_key(t, t->q->envdb, id, QUEUE_ID_LEN)))
        return rc;
    return 0;
}

typedef int (*rcpt_fn)(struct queue_txn *t, const char *id, uint32_t idx, struct rcpt_rec *r,
                       int64_t now, int *dirty);

/* Applies fn to every recipient of id, storing those it marks dirty. */
static int for_each_rcpt(struct queue_txn *t, const char *id, rcpt_fn fn, int64_t now,
                         unsigned *changed)
{
    struct env_rec e;
    int rc;
    if (changed)
        *changed = 0;
    if (!queue_id_valid(id))
        return -ENOENT;
    if ((rc = get_env(t, id, &e)))
        return rc;
    for (uint32_t i = 0; i < e.nrcpt; i++) {
        struct rcpt_rec r;
        int dirty = 0;
        if ((rc = get_rcpt(t, id, i, &r)))
            return rc == -ENOENT ? -EBADMSG : rc;
        if ((rc = fn(t, id, i, &r, now, &dirty)))
            return rc;
        if (dirty) {
            if ((rc = put_rcpt(t, id, i, &r)))
                return rc;
            if (changed)
                (*changed)++;
        }
    }
    return 0;
}

static int hold_one(struct queue_txn *t, const char *id, uint32_t i, struct rcpt_rec *r,
                    int64_t now, int *dirty)
{
    int rc;
    if (is_pending(r->r.state)) {
        if ((rc = sched_del(t, r->r.next_attempt, id, i)))
            return rc;
    } else if (r->r.state == QUEUE_INFLIGHT) {
        /* The attempt goes on; its result sees HELD (record_result). */
        uint8_t key[RCPT_KEY_LEN];
        rcpt_key(key, id, i);
        if ((rc = del_key(t, t->q->claim, key, sizeof(key))))
            return rc;
        r->r.state = r->r.held_from; /* what it was before the claim */
    } else {
        return 0;
    }
    r->r.held_from = r->r.state;
    r->r.state = QUEUE_HELD;
    *dirty = 1;
    return history_add(t, id, i, r, now, "held by the operator");
}

int queue_hold(struct queue_txn *t, const char *id, unsigned *changed)
{
    return for_each_rcpt(t, id, hold_one, queue_now(), changed);
}

static int release_one(struct queue_txn *t, const char *id, uint32_t i, struct rcpt_rec *r,
                       int64_t now, int *dirty)
{
    int rc;
    if (r->r.state != QUEUE_HELD)
        return 0;
    r->r.state = r->r.held_from == QUEUE_DEFERRED ? QUEUE_DEFERRED : QUEUE_READY;
    r->r.held_from = 0;
    r->r.next_attempt = now;
    *dirty = 1;
    if ((rc = sched_put(t, now, id, i)))
        return rc;
    return history_add(t, id, i, r, now, "released by the operator");
}

int queue_release(struct queue_txn *t, const char *id, int64_t now, unsigned *changed)
{
    return for_each_rcpt(t, id, release_one, now, changed);
}

static int flush_one(struct queue_txn *t, const char *id, uint32_t i, struct rcpt_rec *r,
                     int64_t now, int *dirty)
{
    int rc;
    if (!is_pending(r->r.state) || r->r.next_attempt <= now)
        return 0;
    if ((rc = sched_del(t, r->r.next_attempt, id, i)) || (rc = sched_put(t, now, id, i)))
        return rc;
    r->r.next_attempt = now;
    *dirty = 1;
    return 0;
}

int queue_flush(struct queue_txn *t, const char *id, int64_t now, unsigned *changed)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    uint8_t start[8];
    int rc;
    unsigned n = 0;

    if (id)
        return for_each_rcpt(t, id, flush_one, now, changed);
    /* Everything scheduled later than now moves to now. Keys are collected
     * in batches so the cursor never walks over keys it just inserted. */
    for (;;) {
        uint8_t keys[256][SCHED_KEY_LEN];
        size_t nk = 0;
        put_be64(start, (uint64_t)now + 1);
        if ((rc = mdb_cursor_open(t->txn, t->q->sched, &c)))
            return queue__err(rc);
        k.mv_size = sizeof(start);
        k.mv_data = start;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        while (rc == 0 && nk < 256) {
            if (k.mv_size == SCHED_KEY_LEN)
                memcpy(keys[nk++], k.mv_data, SCHED_KEY_LEN);
            rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(c);
        if (rc && rc != MDB_NOTFOUND)
            return queue__err(rc);
        for (size_t i = 0; i < nk; i++) {
            char kid[QUEUE_ID_SIZE];
            uint32_t idx = get_be32(keys[i] + 8 + QUEUE_ID_LEN);
            struct rcpt_rec r;
            memcpy(kid, keys[i] + 8, QUEUE_ID_LEN);
            kid[QUEUE_ID_LEN] = 0;
            if ((rc = del_key(t, t->q->sched, keys[i], SCHED_KEY_LEN)))
                return rc;
            if (get_rcpt(t, kid, idx, &r) != 0 || !is_pending(r.r.state) ||
                r.r.next_attempt != (int64_t)get_be64(keys[i]))
                continue; /* stale entry, dropped */
            r.r.next_attempt = now;
            if ((rc = put_rcpt(t, kid, idx, &r)) || (rc = sched_put(t, now, kid, idx)))
                return rc;
            n++;
        }
        if (nk < 256)
            break;
    }
    if (changed)
        *changed = n;
    return 0;
}

int queue_foreach(struct queue_txn *t, int (*cb)(void *arg, const struct queue_msg *msg),
                  void (*bad)(void *arg, const char *id), void *arg)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    char aside[64][QUEUE_ID_SIZE];
    size_t nbad = 0;
    int rc, ret = 0;

    if ((rc = mdb_cursor_open(t->txn, t->q->envdb, &c)))
        return queue__err(rc);
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        struct queue_msg *m = NULL;
        char id[QUEUE_ID_SIZE];
        if (k.mv_size != QUEUE_ID_LEN)
            continue;
        memcpy(id, k.mv_data, QUEUE_ID_LEN);
        id[QUEUE_ID_LEN] = 0;
        ret = queue_get(t, id, &m);
        if (ret == -EBADMSG || ret == -ENOENT) {
            if (bad)
                bad(arg, id);
            /* Set aside after the walk, so that the cursor is not disturbed;
             * past the array's room, a later walk finds the rest. */
            if (nbad < sizeof(aside) / sizeof(aside[0]))
                memcpy(aside[nbad++], id, QUEUE_ID_SIZE);
            ret = 0;
            continue;
        }
        if (ret)
            break;
        ret = cb(arg, m);
        queue_msg_free(m);
        if (ret)
            break;
    }
    mdb_cursor_close(c);
    if (rc && rc != MDB_NOTFOUND)
        return queue__err(rc);
    for (size_t i = 0; t->write && i < nbad; i++) {
        int err = queue_set_aside(t, aside[i]);
        if (err)
            return err;
    }
    return ret;
}

int queue_history(struct queue_txn *t, const char *id, uint32_t rcpt,
                  int (*cb)(void *arg, const struct queue_event *ev), void *arg)
{
    MDB_cursor *c = NULL;
    uint8_t prefix[RCPT_KEY_LEN];
    MDB_val k = {sizeof(prefix), prefix}, v;
    int rc;

    rcpt_key(prefix, id, rcpt);
    if ((rc = mdb_cursor_open(t->txn, t->q->hist, &c)))
        return queue__err(rc);
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size == HIST_KEY_LEN && memcmp(k.mv_data, prefix, sizeof(prefix)) == 0) {
        struct queue_event ev;
        struct dec d = {v.mv_data, v.mv_size, 0, 0};
        ev.time = (int64_t)dec_u64(&d);
        ev.state = dec_u8(&d);
        dec_str(&d, ev.text, sizeof(ev.text));
        if (!d.err && d.off == d.len && (rc = cb(arg, &ev)))
            break;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc > 0 ? queue__err(rc) : rc;
}

/* ---- delivery engine interface ---- */

static const char *domain_of(const char *address)
{
    const char *at = strrchr(address, '@');
    return at ? at + 1 : address + strlen(address);
}

/* Compares through the address, not the domain pointer: qsort moves the
 * structs, and the pointer would point into another element's copy. */
static int claim_cmp(const void *a, const void *b)
{
    const struct queue_claim *x = a, *y = b;
    int c = strcasecmp(domain_of(x->address), domain_of(y->address));
    if (c)
        return c;
    if ((c = strcmp(x->id, y->id)))
        return c;
    return x->rcpt < y->rcpt ? -1 : x->rcpt > y->rcpt;
}

int queue_claim_due(struct queue_txn *t, int64_t now, struct queue_claim *out, size_t max)
{
    size_t n = 0;
    int rc;

    if (!t->write)
        return -EINVAL;
    while (n < max) {
        MDB_cursor *c = NULL;
        MDB_val k, v;
        uint8_t key[SCHED_KEY_LEN];
        char id[QUEUE_ID_SIZE];
        uint32_t idx;
        int64_t when;
        struct rcpt_rec r;

        if ((rc = mdb_cursor_open(t->txn, t->q->sched, &c)))
            return queue__err(rc);
        rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
        if (rc == 0 && k.mv_size == SCHED_KEY_LEN)
            memcpy(key, k.mv_data, SCHED_KEY_LEN);
        mdb_cursor_close(c);
        if (rc == MDB_NOTFOUND)
            break;
        if (rc)
            return queue__err(rc);
        if (k.mv_size != SCHED_KEY_LEN) {
            if ((rc = queue__err(mdb_del(t->txn, t->q->sched, &k, NULL))))
                return rc;
            continue;
        }
        when = (int64_t)get_be64(key);
        if (when > now)
            break;
        memcpy(id, key + 8, QUEUE_ID_LEN);
        id[QUEUE_ID_LEN] = 0;
        idx = get_be32(key + 8 + QUEUE_ID_LEN);
        if ((rc = del_key(t, t->q->sched, key, sizeof(key))))
            return rc;
        rc = get_rcpt(t, id, idx, &r);
        if (rc == -EBADMSG) {
            if ((rc = queue_set_aside(t, id)))
                return rc;
            continue;
        }
        if (rc == -ENOENT || (rc == 0 && (!is_pending(r.r.state) || r.r.next_attempt != when)))
            continue; /* stale */
        if (rc)
            return rc;
        r.r.held_from = r.r.state;
        r.r.state = QUEUE_INFLIGHT;
        if ((rc = put_rcpt(t, id, idx, &r)) ||
            (rc = put_empty(t, t->q->claim, key + 8, RCPT_KEY_LEN)))
            return rc;
        memcpy(out[n].id, id, QUEUE_ID_SIZE);
        out[n].rcpt = idx;
        memcpy(out[n].address, r.r.address, sizeof(out[n].address));
        n++;
    }
    if (n > 1)
        qsort(out, n, sizeof(*out), claim_cmp);
    for (size_t i = 0; i < n; i++)
        out[i].domain = domain_of(out[i].address);
    return (int)n;
}

int queue_record_result(struct queue_txn *t, const char *id, uint32_t rcpt,
                        enum queue_outcome outcome, const char *text, int64_t now,
                        int64_t next_attempt, int *removed)
{
    struct env_rec e;
    struct rcpt_rec r;
    uint8_t key[RCPT_KEY_LEN];
    int rc;

    if (removed)
        *removed = 0;
    if (!queue_id_valid(id))
        return -ENOENT;
    if ((rc = get_env(t, id, &e)) || (rc = get_rcpt(t, id, rcpt, &r)))
        return rc;
    if (is_final(r.r.state))
        return 0;
    rcpt_key(key, id, rcpt);
    if ((rc = del_key(t, t->q->claim, key, sizeof(key))))
        return rc;
    if (is_pending(r.r.state) && (rc = sched_del(t, r.r.next_attempt, id, rcpt)))
        return rc;
    r.r.attempts++;
    r.r.last_attempt = now;
    snprintf(r.r.last_reply, sizeof(r.r.last_reply), "%s", text ? text : "");
    if (outcome == QUEUE_OUTCOME_DELIVERED || outcome == QUEUE_OUTCOME_BOUNCED) {
        r.r.state = outcome == QUEUE_OUTCOME_DELIVERED ? QUEUE_DELIVERED : QUEUE_BOUNCED;
        r.r.held_from = 0;
        e.npending--;
    } else if (r.r.state == QUEUE_HELD) {
        r.r.held_from = QUEUE_DEFERRED;
        r.r.next_attempt = next_attempt;
    } else {
        r.r.state = QUEUE_DEFERRED;
        r.r.held_from = 0;
        r.r.next_attempt = next_attempt;
        if ((rc = sched_put(t, next_attempt, id, rcpt)))
            return rc;
    }
    if ((rc = history_add(t, id, rcpt, &r, now, r.r.last_reply)) ||
        (rc = put_rcpt(t, id, rcpt, &r)))
        return rc;
    if (e.npending == 0) {
        if (removed)
            *removed = 1;
        return remove_message(t, id, &e);
    }
    return put_env(t, id, &e);
}

int queue_unclaim(struct queue_txn *t, const char *id, uint32_t rcpt, int64_t next_attempt)
{
    struct rcpt_rec r;
    uint8_t key[RCPT_KEY_LEN];
    int rc;

    if (!queue_id_valid(id))
        return -ENOENT;
    if ((rc = get_rcpt(t, id, rcpt, &r)))
        return rc;
    rcpt_key(key, id, rcpt);
    if ((rc = del_key(t, t->q->claim, key, sizeof(key))))
        return rc;
    if (r.r.state != QUEUE_INFLIGHT)
        return 0; /* held meanwhile, or already decided */
    r.r.state = r.r.held_from == QUEUE_DEFERRED ? QUEUE_DEFERRED : QUEUE_READY;
    r.r.held_from = 0;
    r.r.next_attempt = next_attempt;
    if ((rc = put_rcpt(t, id, rcpt, &r)))
        return rc;
    return sched_put(t, next_attempt, id, rcpt);
}

int queue_set_flags(struct queue_txn *t, const char *id, uint8_t flags)
{
    struct env_rec e;
    int rc;
    if (!queue_id_valid(id))
        return -ENOENT;
    if ((rc = get_env(t, id, &e)))
        return rc;
    e.flags |= flags;
    return put_env(t, id, &e);
}

int queue_recover(struct queue_txn *t, int64_t now, unsigned *recovered)
{
    unsigned n = 0;
    int rc;

    for (;;) {
        MDB_cursor *c = NULL;
        MDB_val k, v;
        uint8_t key[RCPT_KEY_LEN];
        char id[QUEUE_ID_SIZE];
        uint32_t idx;
        struct rcpt_rec r;

        if ((rc = mdb_cursor_open(t->txn, t->q->claim, &c)))
            return queue__err(rc);
        rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
        if (rc == 0 && k.mv_size == RCPT_KEY_LEN)
            memcpy(key, k.mv_data, sizeof(key));
        mdb_cursor_close(c);
        if (rc == MDB_NOTFOUND)
            break;
        if (rc)
            return queue__err(rc);
        if (k.mv_size != RCPT_KEY_LEN) {
            if ((rc = queue__err(mdb_del(t->txn, t->q->claim, &k, NULL))))
                return rc;
            continue;
        }
        if ((rc = del_key(t, t->q->claim, key, sizeof(key))))
            return rc;
        memcpy(id, key, QUEUE_ID_LEN);
        id[QUEUE_ID_LEN] = 0;
        idx = get_be32(key + QUEUE_ID_LEN);
        rc = get_rcpt(t, id, idx, &r);
        if (rc == -EBADMSG) {
            if ((rc = queue_set_aside(t, id)))
                return rc;
            continue;
        }
        if (rc == -ENOENT || (rc == 0 && r.r.state != QUEUE_INFLIGHT))
            continue;
        if (rc)
            return rc;
        r.r.state = r.r.held_from == QUEUE_DEFERRED ? QUEUE_DEFERRED : QUEUE_READY;
        r.r.held_from = 0;
        r.r.next_attempt = now;
        if ((rc = put_rcpt(t, id, idx, &r)) || (rc = sched_put(t, now, id, idx)))
            return rc;
        n++;
    }
    if (recovered)
        *recovered = n;
    return 0;
}

int queue_next_due(struct queue_txn *t, int64_t *when)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    int rc = mdb_cursor_open(t->txn, t->q->sched, &c);
    if (rc)
        return queue__err(rc);
    rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    if (rc == 0 && k.mv_size == SCHED_KEY_LEN)
        *when = (int64_t)get_be64(k.mv_data);
    else if (rc == 0)
        rc = MDB_NOTFOUND;
    mdb_cursor_close(c);
    return queue__err(rc);
}

int queue_stats(struct queue_txn *t, struct queue_stats *st,
                void (*domain_cb)(void *arg, const char *domain, uint8_t state), void *arg)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    int rc;

    memset(st, 0, sizeof(*st));
    if ((rc = mdb_cursor_open(t->txn, t->q->envdb, &c)))
        return queue__err(rc);
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        struct env_rec e;
        if (env_decode(&v, &e) == 0) {
            st->messages++;
            st->bytes += e.size;
        }
    }
    mdb_cursor_close(c);
    if (rc != MDB_NOTFOUND)
        return queue__err(rc);
    if ((rc = mdb_cursor_open(t->txn, t->q->rcpt, &c)))
        return queue__err(rc);
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        struct rcpt_rec r;
        if (rcpt_decode(&v, &r) != 0)
            continue;
        st->by_state[r.r.state]++;
        if (domain_cb && !is_final(r.r.state))
            domain_cb(arg, domain_of(r.r.address), r.r.state);
    }
    mdb_cursor_close(c);
    if (rc != MDB_NOTFOUND)
        return queue__err(rc);
    if ((rc = mdb_cursor_open(t->txn, t->q->aside, &c)))
        return queue__err(rc);
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
        if (k.mv_size == QUEUE_ID_LEN + 4 &&
            memcmp((char *)k.mv_data + QUEUE_ID_LEN, ".env", 4) == 0)
            st->set_aside++;
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : queue__err(rc);
}

/* ---- notes ---- */

static int note_key(const char *key, char *buf, size_t len, MDB_val *k)
{
    int n = snprintf(buf, len, "note:%s", key);
    if (n < 0 || (size_t)n >= len || strlen(key) > 200)
        return -ENAMETOOLONG;
    k->mv_size = (size_t)n;
    k->mv_data = buf;
    return 0;
}

int queue_note_put(struct queue_txn *t, const char *key, const void *value, size_t len)
{
    char buf[256];
    MDB_val k, v = {len, (void *)value};
    int rc = note_key(key, buf, sizeof(buf), &k);
    if (rc)
        return rc;
    if (len > QUEUE_NOTE_MAX)
        return -E2BIG;
    return queue__err(mdb_put(t->txn, t->q->meta, &k, &v, 0));
}

int queue_note_get(struct queue_txn *t, const char *key, void *value, size_t *len)
{
    char buf[256];
    MDB_val k, v;
    int rc = note_key(key, buf, sizeof(buf), &k);
    if (rc)
        return rc;
    if ((rc = mdb_get(t->txn, t->q->meta, &k, &v)))
        return queue__err(rc);
    if (value)
        memcpy(value, v.mv_data, v.mv_size < *len ? v.mv_size : *len);
    *len = v.mv_size;
    return 0;
}

int queue_note_del(struct queue_txn *t, const char *key)
{
    char buf[256];
    MDB_val k;
    int rc = note_key(key, buf, sizeof(buf), &k);
    if (rc)
        return rc;
    return del_key(t, t->q->meta, k.mv_data, k.mv_size);
}

/* ---- room ---- */

int queue_room(struct queue *q, uint64_t *map_free, uint64_t *disk_free)
{
    MDB_envinfo info;
    MDB_stat st;
    const char *path = NULL;
    struct statvfs vfs;
    int rc;

    if ((rc = mdb_env_info(q->env, &info)) || (rc = mdb_env_stat(q->env, &st)) ||
        (rc = mdb_env_get_path(q->env, &path)))
        return queue__err(rc);
    uint64_t used = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
    *map_free = used < info.me_mapsize ? info.me_mapsize - used : 0;
    if (statvfs(path, &vfs) < 0)
        return -errno;
    *disk_free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    return 0;
}
