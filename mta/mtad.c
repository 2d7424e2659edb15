/*
 * mtad.c - the daemon: the only writer of the queue.
 *
 * Local programs hand messages over a UNIX socket (public/mtad.sock); the
 * daemon validates each submission, adds a Received header and commits it
 * to LMDB; the submitter gets its answer only after the commit reached the
 * disk. Submissions that arrive while a commit is running wait and share
 * the next one (group commit), so the fsync cost is per batch, not per
 * message. Commits run on a libuv worker thread so that the loop never
 * waits for the disk. Files left in maildrop/ while the daemon was down are
 * imported the same way.
 *
 * SECURITY: anyone on the host may connect to the socket and write to the
 * maildrop (through mta-postdrop), so every byte from them is hostile: the
 * envelope parser and content check (submit.c) bound and validate all of
 * it; the submitting uid is taken from the kernel (SO_PEERCRED, file
 * owner), never from the client. Queue-changing control requests (hold,
 * release, delete) are accepted only from root or the daemon's own uid.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "log.h"
#include "message.h"
#include "mta_build.h"
#include "queue.h"
#include "spool.h"
#include "submit.h"

#define MAX_CONNECTIONS 1024
#define MAILDROP_BATCH 256
#define MAILDROP_RESCAN_MS (60 * 1000)
#define MAILDROP_STALE_SECONDS (24 * 3600)

struct daemon;
struct conn;

enum job_kind {
    JOB_INSERT,
    JOB_FLUSH,
    JOB_HOLD,
    JOB_RELEASE,
    JOB_DELETE,
    JOB_MAILDROP,
    JOB_FORGET
};

/* One unit of work for the writer thread; all jobs waiting when a commit
 * starts go into that commit. */
struct job {
    struct job *next;
    enum job_kind kind;
    struct conn *conn; /* who waits for the answer, or NULL */
    struct queue_msg *msg;
    char *content;
    size_t len;
    char id[QUEUE_ID_SIZE];
    int rc;
    unsigned count;
    char err[256];
    /* JOB_MAILDROP: the files imported, unlinked after the commit; then
     * their notes are forgotten by a JOB_FORGET */
    char (*names)[64];
    size_t nnames;
    int more; /* maildrop still had files past the batch */
};

struct writer {
    uv_work_t work;
    struct job *pending, **pending_tail;
    struct job *running;
    int busy;
};

enum conn_state {
    CONN_COMMAND,
    CONN_ENVELOPE,
    CONN_CONTENT,
    CONN_WAIT,
    CONN_FINISHING,
    CONN_CLOSING
};

struct conn {
    uv_pipe_t pipe; /* first: the handle's data points back here */
    struct daemon *d;
    enum conn_state state;
    uid_t uid;
    char line[SUBMIT_LINE_MAX + 2];
    size_t line_len;
    size_t envelope_bytes;
    struct submit_env env;
    char *content;
    size_t content_have;
    struct job *job;
    struct conn *prev, *next;
};

struct daemon {
    uv_loop_t *loop;
    struct config cfg;
    struct spool_paths paths;
    struct queue *queue;
    int lock_fd;
    uv_pipe_t server;
    uv_fs_event_t maildrop_watch;
    uv_timer_t maildrop_timer;
    uv_signal_t sigterm, sigint, sighup;
    struct writer writer;
    struct conn *conns;
    unsigned nconns;
    int maildrop_queued; /* a JOB_MAILDROP waits or runs */
    int maildrop_again;  /* files appeared while it ran */
    int stopping;
    const char *config_arg;
};

/* ---- the writer: group commit on a worker thread ---- */

static void writer_kick(struct daemon *d);

static void job_free(struct job *j)
{
    if (!j)
        return;
    queue_msg_free(j->msg);
    free(j->content);
    free(j->names);
    free(j);
}

static void writer_submit(struct daemon *d, struct job *j)
{
    j->next = NULL;
    *d->writer.pending_tail = j;
    d->writer.pending_tail = &j->next;
    writer_kick(d);
}

/* Builds "Received: by HOST (mtad, from userid UID);\r\n\tDATE\r\n" + content. */
static char *with_received(const struct config *cfg, uid_t uid, const char *content, size_t len,
                           size_t *outlen)
{
    char date[64], head[512];
    int n;
    char *out;

    message_format_date(time(NULL), date, sizeof(date));
    n = snprintf(head, sizeof(head), "Received: by %s (mtad, from userid %u);\r\n\t%s\r\n",
                 cfg->hostname, (unsigned)uid, date);
    if (n < 0 || (size_t)n >= sizeof(head))
        return NULL;
    out = malloc((size_t)n + len + 1);
    if (!out)
        return NULL;
    memcpy(out, head, (size_t)n);
    if (len)
        memcpy(out + n, content, len);
    *outlen = (size_t)n + len;
    return out;
}

/* Builds the queue_msg for a validated envelope. NULL on ENOMEM. */
static struct queue_msg *msg_from_env(const struct submit_env *e, uid_t uid, const char *origin)
{
    struct queue_msg *m = queue_msg_new(e->nrcpt);
    if (!m)
        return NULL;
    snprintf(m->sender, sizeof(m->sender), "%s", e->sender);
    snprintf(m->envid, sizeof(m->envid), "%s", e->envid);
    snprintf(m->origin, sizeof(m->origin), "%s", origin);
    m->ret = e->ret;
    m->body = e->body;
    m->uid = (uint32_t)uid;
    m->arrival = queue_now();
    for (uint32_t i = 0; i < e->nrcpt; i++) {
        snprintf(m->rcpt[i].address, sizeof(m->rcpt[i].address), "%s", e->rcpt[i].address);
        snprintf(m->rcpt[i].orcpt, sizeof(m->rcpt[i].orcpt), "%s", e->rcpt[i].orcpt);
        m->rcpt[i].notify = e->rcpt[i].notify;
    }
    return m;
}

static void errtext(struct job *j, int rc)
{
    if (rc == -ENOSPC)
        snprintf(j->err, sizeof(j->err), "4.3.1 queue full (queue_map_size or disk)");
    else if (rc == -EIO)
        /* LMDB reports a short write (a full disk, mostly) as EIO. */
        snprintf(j->err, sizeof(j->err), "4.3.0 queue write error (disk full?)");
    else if (rc == -ENOENT)
        snprintf(j->err, sizeof(j->err), "no such message");
    else
        snprintf(j->err, sizeof(j->err), "queue error: %s", strerror(-rc));
}

/*
 * Reads, validates and inserts one maildrop file inside the child
 * transaction t. Returns 1 when the file is done with (imported now or
 * earlier: unlink it), 0 to leave it (incomplete), or a negative errno
 * (-EBADMSG: move it to corrupt/; else a queue error: leave it).
 */
static int maildrop_import_one(struct daemon *d, struct queue_txn *t, int dirfd, const char *name,
                               char *why, size_t whylen)
{
    struct submit_env env;
    struct stat st;
    char note[80];
    char *buf = NULL, *content = NULL;
    size_t cap, have = 0, pos = 0, len = 0;
    struct queue_msg *m = NULL;
    int fd = -1, rc;

    submit_env_init(&env);
    snprintf(note, sizeof(note), "maildrop:%s", name);
    size_t nlen = 0;
    if (queue_note_get(t, note, NULL, &nlen) == 0) {
        rc = 1; /* committed before a crash that came before the unlink */
        goto out;
    }
    fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        rc = errno == ENOENT ? 0 : -EBADMSG;
        snprintf(why, whylen, "open: %s", strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = -EBADMSG;
        snprintf(why, whylen, "not a regular file");
        goto out;
    }
    /* mta-postdrop makes the file group-readable only once it is complete. */
    if (!(st.st_mode & S_IRGRP)) {
        rc = 0;
        if (time(NULL) - st.st_mtime > MAILDROP_STALE_SECONDS) {
            rc = -EBADMSG;
            snprintf(why, whylen, "incomplete for over a day");
        }
        goto out;
    }
    cap = (size_t)d->cfg.max_message_size + SUBMIT_HEADER_MAX;
    if ((uint64_t)st.st_size > cap) {
        rc = -EBADMSG;
        snprintf(why, whylen, "file too large");
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        rc = -ENOMEM;
        goto out;
    }
    while (have < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + have, (size_t)st.st_size - have);
        if (n <= 0) {
            rc = -EBADMSG;
            snprintf(why, whylen, "short read");
            goto out;
        }
        have += (size_t)n;
    }
    /* envelope lines */
    for (;;) {
        char *nl = memchr(buf + pos, '\n', have - pos);
        if (!nl) {
            rc = -EBADMSG;
            snprintf(why, whylen, "truncated envelope");
            goto out;
        }
        rc = submit_parse_line(&env, buf + pos, (size_t)(nl - (buf + pos)), d->cfg.max_message_size,
                               why, whylen);
        pos = (size_t)(nl - buf) + 1;
        if (rc == 1)
            break;
        if (rc < 0) {
            rc = -EBADMSG;
            goto out;
        }
    }
    if (have - pos != env.size) {
        rc = -EBADMSG;
        snprintf(why, whylen, "content is %zu octets, envelope says %" PRIu64, have - pos,
                 env.size);
        goto out;
    }
    if (submit_check_content(buf + pos, env.size, why, whylen) < 0) {
        rc = -EBADMSG;
        goto out;
    }
    char origin[QUEUE_ORIGIN_MAX];
    snprintf(origin, sizeof(origin), "maildrop uid=%u", (unsigned)st.st_uid);
    m = msg_from_env(&env, st.st_uid, origin);
    content = with_received(&d->cfg, st.st_uid, buf + pos, env.size, &len);
    if (!m || !content) {
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = queue_insert(t, m, content, len)) || (rc = queue_note_put(t, note, "", 0))) {
        snprintf(why, whylen, "%s", strerror(-rc));
        goto out;
    }
    log_info("%s: from=<%s>, size=%zu, nrcpt=%u (queue active, maildrop uid=%u)", m->id, m->sender,
             len, m->nrcpt, (unsigned)st.st_uid);
    rc = 1;
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    free(content);
    queue_msg_free(m);
    submit_env_free(&env);
    return rc;
}

/* JOB_MAILDROP on the worker: import up to MAILDROP_BATCH files. */
static void maildrop_scan(struct daemon *d, struct queue_txn *parent, struct job *j)
{
    DIR *dir = opendir(d->paths.maildrop);
    struct dirent *de;

    if (!dir) {
        j->rc = -errno;
        return;
    }
    j->names = calloc(MAILDROP_BATCH, sizeof(*j->names));
    if (!j->names) {
        closedir(dir);
        j->rc = -ENOMEM;
        return;
    }
    while ((de = readdir(dir))) {
        struct queue_txn *t = NULL;
        char why[256] = "";
        int rc;

        if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(*j->names))
            continue;
        if (j->nnames == MAILDROP_BATCH) {
            j->more = 1;
            break;
        }
        if ((rc = queue_txn_begin(d->queue, parent, 1, &t))) {
            j->rc = rc;
            break;
        }
        rc = maildrop_import_one(d, t, dirfd(dir), de->d_name, why, sizeof(why));
        if (rc == 1) {
            if ((rc = queue_txn_commit(t)) == 0)
                memcpy(j->names[j->nnames++], de->d_name, strlen(de->d_name) + 1);
        } else {
            queue_txn_abort(t);
        }
        if (rc == -EBADMSG) {
            char to[SPOOL_PATH_MAX + sizeof(de->d_name) + 2];
            snprintf(to, sizeof(to), "%s/%s", d->paths.corrupt, de->d_name);
            log_warn("maildrop file %s rejected (%s): moved to %s", de->d_name, why, to);
            if (renameat(dirfd(dir), de->d_name, AT_FDCWD, to) < 0)
                unlinkat(dirfd(dir), de->d_name, 0);
        } else if (rc < 0) {
            /* A queue error (map full...): leave the file for later. */
            log_warn("maildrop file %s not imported: %s", de->d_name, strerror(-rc));
            j->rc = rc;
            break;
        }
    }
    closedir(dir);
}

static void writer_work(uv_work_t *req)
{
    struct daemon *d = req->data;
    struct queue_txn *parent = NULL;
    struct job *j;
    int rc = queue_txn_begin(d->queue, NULL, 1, &parent);

    for (j = d->writer.running; j && rc == 0; j = j->next) {
        struct queue_txn *t = NULL;
        if (j->kind == JOB_MAILDROP) {
            maildrop_scan(d, parent, j);
            continue;
        }
        /* Each job in its own nested transaction: one that fails (a message
         * too big for the map) does not take the batch down with it. */
        if ((j->rc = queue_txn_begin(d->queue, parent, 1, &t)))
            continue;
        switch (j->kind) {
        case JOB_INSERT:
            j->rc = queue_insert(t, j->msg, j->content, j->len);
            if (j->rc == 0)
                memcpy(j->id, j->msg->id, QUEUE_ID_SIZE);
            break;
        case JOB_FLUSH:
            j->rc = queue_flush(t, j->id[0] ? j->id : NULL, queue_now(), &j->count);
            break;
        case JOB_HOLD:
            j->rc = queue_hold(t, j->id, &j->count);
            break;
        case JOB_RELEASE:
            j->rc = queue_release(t, j->id, queue_now(), &j->count);
            break;
        case JOB_DELETE:
            j->rc = queue_delete(t, j->id);
            break;
        case JOB_FORGET:
            for (size_t i = 0; i < j->nnames && j->rc == 0; i++) {
                char note[80];
                snprintf(note, sizeof(note), "maildrop:%s", j->names[i]);
                j->rc = queue_note_del(t, note);
            }
            break;
        case JOB_MAILDROP:
            break;
        }
        if (j->rc == 0)
            j->rc = queue_txn_commit(t);
        else
            queue_txn_abort(t);
    }
    /* The durable point for the whole batch. */
    if (rc == 0)
        rc = queue_txn_commit(parent);
    else
        queue_txn_abort(parent);
    for (j = d->writer.running; j; j = j->next) {
        if (rc && j->rc == 0)
            j->rc = rc;
        if (j->rc)
            errtext(j, j->rc);
    }
    /* Maildrop files are removed only once their messages are on disk. */
    for (j = d->writer.running; j; j = j->next) {
        if (j->kind != JOB_MAILDROP)
            continue;
        if (rc) {
            j->nnames = 0;
            continue;
        }
        int dfd = open(d->paths.maildrop, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        for (size_t i = 0; i < j->nnames; i++)
            if (dfd < 0 || (unlinkat(dfd, j->names[i], 0) < 0 && errno != ENOENT))
                log_warn("cannot remove maildrop file %s: %s", j->names[i], strerror(errno));
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
}

static void conn_finish(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conn_close(struct conn *c);

static void writer_done(uv_work_t *req, int status)
{
    struct daemon *d = req->data;
    struct job *j = d->writer.running, *next;

    d->writer.running = NULL;
    d->writer.busy = 0;
    for (; j; j = next) {
        next = j->next;
        switch (j->kind) {
        case JOB_INSERT:
            if (j->rc == 0)
                log_info("%s: from=<%s>, size=%zu, nrcpt=%u (queue active, %s)", j->id,
                         j->msg->sender, j->len, j->msg->nrcpt, j->msg->origin);
            else
                log_warn("submission from %s not queued: %s", j->msg->origin, j->err);
            /* Every queue error is temporary for the submitter: the
             * message itself was valid. */
            if (j->conn && j->rc == 0)
                conn_finish(j->conn, "ok %s", j->id);
            else if (j->conn)
                conn_finish(j->conn, "tempfail %s", j->err);
            break;
        case JOB_MAILDROP:
            d->maildrop_queued = 0;
            if (j->nnames) {
                struct job *f = calloc(1, sizeof(*f));
                if (f) {
                    f->kind = JOB_FORGET;
                    f->names = j->names;
                    f->nnames = j->nnames;
                    j->names = NULL;
                    writer_submit(d, f);
                }
            }
            if ((j->more || d->maildrop_again) && !d->stopping && j->rc == 0) {
                d->maildrop_again = 0;
                struct job *again = calloc(1, sizeof(*again));
                if (again) {
                    again->kind = JOB_MAILDROP;
                    d->maildrop_queued = 1;
                    writer_submit(d, again);
                }
            }
            break;
        case JOB_FORGET:
            break;
        default:
            if (j->conn && j->rc == 0)
                conn_finish(j->conn, "ok %u", j->count);
            else if (j->conn)
                conn_finish(j->conn, "fail %s", j->err);
            break;
        }
        if (j->conn)
            j->conn->job = NULL;
        job_free(j);
    }
    writer_kick(d);
}

static void daemon_finish(struct daemon *d);

static void writer_kick(struct daemon *d)
{
    if (d->writer.busy)
        return;
    if (!d->writer.pending) {
        if (d->stopping)
            daemon_finish(d);
        return;
    }
    d->writer.running = d->writer.pending;
    d->writer.pending = NULL;
    d->writer.pending_tail = &d->writer.pending;
    d->writer.busy = 1;
    d->writer.work.data = d;
    if (uv_queue_work(d->loop, &d->writer.work, writer_work, writer_done) != 0) {
        /* Cannot happen with a valid loop; fail the jobs rather than hang. */
        d->writer.busy = 0;
        log_error("cannot start the queue writer");
    }
}

static void maildrop_request(struct daemon *d)
{
    struct job *j;
    if (d->stopping)
        return;
    if (d->maildrop_queued) {
        d->maildrop_again = 1;
        return;
    }
    if (!(j = calloc(1, sizeof(*j))))
        return;
    j->kind = JOB_MAILDROP;
    d->maildrop_queued = 1;
    writer_submit(d, j);
}

/* ---- connections ---- */

static void on_conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct daemon *d = c->d;
    if (c->prev)
        c->prev->next = c->next;
    else
        d->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    d->nconns--;
    submit_env_free(&c->env);
    free(c->content);
    free(c);
}

static void conn_close(struct conn *c)
{
    if (c->state == CONN_CLOSING)
        return;
    c->state = CONN_CLOSING;
    if (c->job)
        c->job->conn = NULL; /* the commit goes on; nobody to tell */
    uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

struct write_req {
    uv_write_t req;
    struct conn *conn;
    char buf[600];
};

/* The answer is out (or the handle is closing: ECANCELED comes before the
 * close callback, so c is still valid here). */
static void on_written(uv_write_t *req, int status)
{
    struct write_req *w = req->data;
    conn_close(w->conn);
    free(w);
}

/* Sends the one answer line, then closes the connection. */
static void conn_finish(struct conn *c, const char *fmt, ...)
{
    struct write_req *w;
    va_list ap;
    int n;
    if (c->state == CONN_CLOSING || c->state == CONN_FINISHING)
        return;
    uv_read_stop((uv_stream_t *)&c->pipe);
    c->state = CONN_FINISHING;
    if (!(w = malloc(sizeof(*w)))) {
        conn_close(c);
        return;
    }
    w->conn = c;
    va_start(ap, fmt);
    n = vsnprintf(w->buf, sizeof(w->buf) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof(w->buf) - 2)
        n = (int)sizeof(w->buf) - 2;
    w->buf[n++] = '\n';
    uv_buf_t b = uv_buf_init(w->buf, (unsigned)n);
    w->req.data = w;
    if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, on_written) != 0) {
        free(w);
        conn_close(c);
    }
}

static void conn_fail(struct conn *c, const char *kind, const char *text)
{
    conn_finish(c, "%s %s", kind, text);
}

static int privileged(const struct conn *c)
{
    return c->uid == 0 || c->uid == geteuid();
}

static void conn_command(struct conn *c, char *line)
{
    struct daemon *d = c->d;
    struct job *j;
    char *arg = strchr(line, ' ');
    enum job_kind kind;

    if (arg)
        *arg++ = 0;
    if (strcmp(line, "submit") == 0 && !arg) {
        c->state = CONN_ENVELOPE;
        return;
    }
    if (strcmp(line, "flush") == 0)
        kind = JOB_FLUSH;
    else if (strcmp(line, "hold") == 0)
        kind = JOB_HOLD;
    else if (strcmp(line, "release") == 0)
        kind = JOB_RELEASE;
    else if (strcmp(line, "delete") == 0)
        kind = JOB_DELETE;
    else if (strcmp(line, "ping") == 0) {
        conn_fail(c, "ok", MTA_VERSION);
        return;
    } else {
        conn_fail(c, "fail", "unknown request");
        return;
    }
    if (kind != JOB_FLUSH && !privileged(c)) {
        conn_fail(c, "fail", "permission denied: only root may change the queue");
        return;
    }
    if ((kind != JOB_FLUSH && !arg) || (arg && !queue_id_valid(arg))) {
        conn_fail(c, "fail", "invalid queue id");
        return;
    }
    if (!(j = calloc(1, sizeof(*j)))) {
        conn_fail(c, "tempfail", "out of memory");
        return;
    }
    j->kind = kind;
    if (arg)
        snprintf(j->id, sizeof(j->id), "%s", arg);
    j->conn = c;
    c->job = j;
    c->state = CONN_WAIT;
    uv_read_stop((uv_stream_t *)&c->pipe);
    if (kind == JOB_FLUSH)
        log_info("queue flush requested by uid %u%s%s", (unsigned)c->uid, arg ? " for " : "",
                 arg ? arg : "");
    writer_submit(d, j);
}

/* The submission is complete: validate the content and queue the insert. */
static void conn_submission_done(struct conn *c)
{
    struct daemon *d = c->d;
    char err[256], origin[QUEUE_ORIGIN_MAX];
    struct job *j;

    if (submit_check_content(c->content, c->env.size, err, sizeof(err)) < 0) {
        conn_fail(c, "fail", err);
        return;
    }
    if (!(j = calloc(1, sizeof(*j)))) {
        conn_fail(c, "tempfail", "out of memory");
        return;
    }
    snprintf(origin, sizeof(origin), "local uid=%u", (unsigned)c->uid);
    j->kind = JOB_INSERT;
    j->msg = msg_from_env(&c->env, c->uid, origin);
    j->content = with_received(&d->cfg, c->uid, c->content, c->env.size, &j->len);
    if (!j->msg || !j->content) {
        job_free(j);
        conn_fail(c, "tempfail", "out of memory");
        return;
    }
    free(c->content);
    c->content = NULL;
    j->conn = c;
    c->job = j;
    c->state = CONN_WAIT;
    uv_read_stop((uv_stream_t *)&c->pipe);
    writer_submit(d, j);
}

static void conn_feed(struct conn *c, const char *p, size_t n)
{
    while (n &&
           (c->state == CONN_COMMAND || c->state == CONN_ENVELOPE || c->state == CONN_CONTENT)) {
        if (c->state == CONN_CONTENT) {
            size_t want = c->env.size - c->content_have;
            size_t take = n < want ? n : want;
            memcpy(c->content + c->content_have, p, take);
            c->content_have += take;
            p += take;
            n -= take;
            if (c->content_have == c->env.size) {
                if (n) {
                    conn_fail(c, "fail", "data after the content");
                    return;
                }
                conn_submission_done(c);
            }
            continue;
        }
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (c->line_len + take > SUBMIT_LINE_MAX) {
            conn_fail(c, "fail", "line too long");
            return;
        }
        memcpy(c->line + c->line_len, p, take);
        c->line_len += take;
        c->envelope_bytes += take + 1;
        p += take + (nl ? 1 : 0);
        n -= take + (nl ? 1 : 0);
        if (!nl)
            break;
        c->line[c->line_len] = 0;
        size_t len = c->line_len;
        c->line_len = 0;
        if (c->state == CONN_COMMAND) {
            conn_command(c, c->line);
            continue;
        }
        char err[256];
        if (c->envelope_bytes > SUBMIT_HEADER_MAX) {
            conn_fail(c, "fail", "envelope too large");
            return;
        }
        int rc =
            submit_parse_line(&c->env, c->line, len, c->d->cfg.max_message_size, err, sizeof(err));
        if (rc < 0) {
            conn_fail(c, rc == -ENOMEM ? "tempfail" : "fail", err);
            return;
        }
        if (rc == 1) {
            c->content = malloc(c->env.size ? c->env.size : 1);
            if (!c->content) {
                conn_fail(c, "tempfail", "out of memory");
                return;
            }
            c->content_have = 0;
            c->state = CONN_CONTENT;
            if (c->env.size == 0) {
                if (n) {
                    conn_fail(c, "fail", "data after the content");
                    return;
                }
                conn_submission_done(c);
            }
        }
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[65536]; /* the loop is single-threaded; reads are consumed at once */
    buf->base = slab;
    buf->len = sizeof(slab);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    if (nread < 0) {
        /* The client went away before the end: nothing was stored. */
        conn_close(c);
        return;
    }
    conn_feed(c, buf->base, (size_t)nread);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct daemon *d = server->data;
    struct conn *c;
    struct ucred cred;
    socklen_t clen = sizeof(cred);
    uv_os_fd_t fd;

    if (status < 0)
        return;
    if (!(c = calloc(1, sizeof(*c))))
        return;
    c->d = d;
    submit_env_init(&c->env);
    uv_pipe_init(d->loop, &c->pipe, 0);
    c->pipe.data = c;
    c->next = d->conns;
    if (d->conns)
        d->conns->prev = c;
    d->conns = c;
    d->nconns++;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
        conn_close(c);
        return;
    }
    if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 ||
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0) {
        conn_close(c);
        return;
    }
    c->uid = cred.uid;
    if (d->nconns > MAX_CONNECTIONS || d->stopping) {
        conn_fail(c, "tempfail", "too many connections");
        return;
    }
    uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

/* ---- maildrop watching ---- */

static void on_maildrop_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    maildrop_request(h->data);
}

static void on_maildrop_timer(uv_timer_t *t)
{
    maildrop_request(t->data);
}

/* ---- start, stop, signals ---- */

static void daemon_finish(struct daemon *d)
{
    /* Everything is committed; stop the loop so main can close the queue. */
    uv_stop(d->loop);
}

static void on_handle_closed(uv_handle_t *h)
{
}

static void daemon_stop(struct daemon *d)
{
    if (d->stopping)
        return;
    d->stopping = 1;
    log_info("stopping");
    uv_close((uv_handle_t *)&d->server, on_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&d->maildrop_watch))
        uv_close((uv_handle_t *)&d->maildrop_watch, on_handle_closed);
    uv_close((uv_handle_t *)&d->maildrop_timer, on_handle_closed);
    /* Submissions still being read are dropped (their clients fall back to
     * the maildrop); those waiting for a commit get their answer. */
    for (struct conn *c = d->conns; c; c = c->next)
        if (c->state != CONN_WAIT)
            conn_close(c);
    writer_kick(d);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct daemon *d = s->data;
    if (signum == SIGHUP) {
        struct config cfg;
        char err[CONFIG_ERR_MAX];
        if (config_init(&cfg, d->config_arg, err, sizeof(err)) != 0) {
            log_error("reload failed, keeping the running configuration: %s", err);
            return;
        }
        if (strcmp(cfg.queue_dir, d->cfg.queue_dir) != 0 ||
            cfg.queue_map_size != d->cfg.queue_map_size)
            log_warn("queue_dir and queue_map_size changes take effect at restart");
        snprintf(cfg.queue_dir, sizeof(cfg.queue_dir), "%s", d->cfg.queue_dir);
        cfg.queue_map_size = d->cfg.queue_map_size;
        d->cfg = cfg;
        log_close();
        log_open(d->cfg.log, "mtad", d->cfg.hostname);
        log_info("configuration reloaded from %s", cfg.path[0] ? cfg.path : "built-in defaults");
        maildrop_request(d);
        return;
    }
    daemon_stop(d);
}

/* Creates dir with mode (and group gid unless -1) if missing; fixes mode
 * and group of an existing one that we own. */
static int ensure_dir(const char *path, mode_t mode, gid_t gid)
{
    struct stat st;
    if (mkdir(path, mode) < 0 && errno != EEXIST)
        return -errno;
    if (lstat(path, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    if (st.st_uid == geteuid()) {
        if (gid != (gid_t)-1 && st.st_gid != gid && chown(path, (uid_t)-1, gid) < 0)
            return -errno;
        if ((st.st_mode & 07777) != mode && chmod(path, mode) < 0)
            return -errno;
    }
    return 0;
}

static int daemon_setup_dirs(struct daemon *d)
{
    struct group *gr = getgrnam(d->cfg.setgid_group);
    gid_t gid = gr ? gr->gr_gid : (gid_t)-1;
    int rc;

    if (!gr)
        log_warn("group %s does not exist: only root can queue mail while mtad is down "
                 "(see README: install)",
                 d->cfg.setgid_group);
    if ((rc = ensure_dir(d->paths.dir, 0755, (gid_t)-1)) ||
        (rc = ensure_dir(d->paths.db, 0700, (gid_t)-1)) ||
        (rc = ensure_dir(d->paths.public_dir, 0755, (gid_t)-1)) ||
        (rc = ensure_dir(d->paths.maildrop, gr ? 01770 : 01700, gid)) ||
        (rc = ensure_dir(d->paths.corrupt, 0700, (gid_t)-1)))
        return rc;
    return 0;
}

static int daemon_lock(struct daemon *d)
{
    char pid[32];
    int fd = -EWOULDBLOCK;
    /* mtaq holds the lock briefly while it changes the queue by itself. */
    for (int i = 0; i < 100 && fd == -EWOULDBLOCK; i++) {
        fd = spool_lock(&d->paths, 1);
        if (fd == -EWOULDBLOCK)
            usleep(100 * 1000);
    }
    if (fd < 0)
        return fd;
    int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        close(fd);
        return -EIO;
    }
    d->lock_fd = fd;
    return 0;
}

static int daemon_listen(struct daemon *d)
{
    int rc;
    /* We hold the lock, so a socket file left here is stale. */
    unlink(d->paths.sock);
    if ((rc = uv_pipe_init(d->loop, &d->server, 0)) ||
        (rc = uv_pipe_bind(&d->server, d->paths.sock)))
        return rc;
    if (chmod(d->paths.sock, 0666) < 0)
        return -errno;
    d->server.data = d;
    return uv_listen((uv_stream_t *)&d->server, 128, on_connection);
}

static int run(struct daemon *d)
{
    struct queue_txn *t = NULL;
    unsigned recovered = 0;
    int rc;

    if ((rc = spool_paths_init(&d->paths, d->cfg.queue_dir))) {
        log_error("queue_dir %s: %s", d->cfg.queue_dir, strerror(-rc));
        return 1;
    }
    if ((rc = daemon_setup_dirs(d))) {
        log_error("cannot set up %s: %s", d->paths.dir, strerror(-rc));
        return 1;
    }
    if ((rc = daemon_lock(d))) {
        log_error("cannot lock %s: %s", d->paths.pidfile,
                  rc == -EWOULDBLOCK ? "another mtad (or mtaq) is running" : strerror(-rc));
        return 1;
    }
    if ((rc = queue_open(&d->queue, d->paths.db, d->cfg.queue_map_size, 0))) {
        log_error("cannot open the queue in %s: %s", d->paths.db, strerror(-rc));
        return 1;
    }
    if ((rc = queue_txn_begin(d->queue, NULL, 1, &t)) == 0 &&
        (rc = queue_recover(t, queue_now(), &recovered)) == 0)
        rc = queue_txn_commit(t);
    else
        queue_txn_abort(t);
    if (rc) {
        log_error("queue recovery failed: %s", strerror(-rc));
        return 1;
    }
    if (recovered)
        log_info("%u recipients were in flight at the last stop and are due again", recovered);

    d->loop = uv_default_loop();
    d->writer.pending_tail = &d->writer.pending;
    if ((rc = daemon_listen(d))) {
        log_error("cannot listen on %s: %s", d->paths.sock, uv_strerror(rc));
        return 1;
    }
    uv_fs_event_init(d->loop, &d->maildrop_watch);
    d->maildrop_watch.data = d;
    if (uv_fs_event_start(&d->maildrop_watch, on_maildrop_event, d->paths.maildrop, 0) != 0)
        log_warn("cannot watch %s; scanning it every minute", d->paths.maildrop);
    uv_timer_init(d->loop, &d->maildrop_timer);
    d->maildrop_timer.data = d;
    uv_timer_start(&d->maildrop_timer, on_maildrop_timer, MAILDROP_RESCAN_MS, MAILDROP_RESCAN_MS);
    uv_signal_init(d->loop, &d->sigterm);
    uv_signal_init(d->loop, &d->sigint);
    uv_signal_init(d->loop, &d->sighup);
    d->sigterm.data = d->sigint.data = d->sighup.data = d;
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    uv_signal_start(&d->sigint, on_signal, SIGINT);
    uv_signal_start(&d->sighup, on_signal, SIGHUP);
    signal(SIGPIPE, SIG_IGN);

    maildrop_request(d);
    log_info("daemon started -- version %s, configuration %s, queue %s", MTA_VERSION,
             d->cfg.path[0] ? d->cfg.path : "built-in defaults", d->paths.dir);
    uv_run(d->loop, UV_RUN_DEFAULT);

    /* Stopped: close what is left so the loop can be closed. */
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sighup, NULL);
    for (struct conn *c = d->conns; c; c = c->next)
        conn_close(c);
    uv_run(d->loop, UV_RUN_DEFAULT);
    uv_loop_close(d->loop);
    queue_close(d->queue);
    unlink(d->paths.sock);
    close(d->lock_fd);
    log_info("stopped");
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: mtad [-C config] [run]      run the daemon (in the foreground)\n"
                 "       mtad [-C config] check      validate the configuration\n"
                 "       mtad [-C config] config     print the effective configuration\n"
                 "       mtad -V                     print the version\n");
}

int main(int argc, char **argv)
{
    struct daemon d;
    char err[CONFIG_ERR_MAX];
    const char *cmd = "run";
    int opt;

    memset(&d, 0, sizeof(d));
    d.lock_fd = -1;
    while ((opt = getopt(argc, argv, "C:hV")) != -1) {
        switch (opt) {
        case 'C':
            d.config_arg = optarg;
            break;
        case 'V':
            printf("mtad %s\n", MTA_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 64;
        }
    }
    if (optind < argc)
        cmd = argv[optind++];
    if (optind < argc) {
        usage(stderr);
        return 64;
    }
    if (config_init(&d.cfg, d.config_arg, err, sizeof(err)) != 0) {
        fprintf(stderr, "mtad: %s\n", err);
        return strcmp(cmd, "check") == 0 ? 1 : 78;
    }
    if (strcmp(cmd, "check") == 0) {
        struct spool_paths p;
        if (spool_paths_init(&p, d.cfg.queue_dir) != 0) {
            fprintf(stderr, "mtad: %s: queue_dir: path too long for the socket\n",
                    d.cfg.path[0] ? d.cfg.path : "defaults");
            return 1;
        }
        if (!strchr(d.cfg.hostname, '.'))
            printf("mtad: warning: hostname %s is not fully qualified: set hostname to the "
                   "name this host's address resolves to\n",
                   d.cfg.hostname);
        printf("mtad: configuration %s is valid\n",
               d.cfg.path[0] ? d.cfg.path : "(built-in defaults)");
        return 0;
    }
    if (strcmp(cmd, "config") == 0) {
        config_dump(&d.cfg, stdout);
        return 0;
    }
    if (strcmp(cmd, "run") != 0) {
        usage(stderr);
        return 64;
    }
    log_open(d.cfg.log, "mtad", d.cfg.hostname);
    if (!strchr(d.cfg.hostname, '.'))
        log_warn("hostname %s is not fully qualified: set hostname in the configuration",
                 d.cfg.hostname);
    umask(022);
    return run(&d);
}
