/*
 * mtad.c - the daemon: the only writer of the queue, and the deliverer.
 *
 * Local programs hand messages over a UNIX socket (public/mtad.sock); the
 * daemon validates each submission, adds a Received header and commits it
 * to LMDB; the submitter gets its answer only after the commit reached the
 * disk. Submissions that arrive while a commit is running wait and share
 * the next one (group commit), so the fsync cost is per batch, not per
 * message. Commits run on a libuv worker thread so that the loop never
 * waits for the disk (writer.c). Files left in maildrop/ while the daemon
 * was down are imported the same way (maildrop.c). The delivery engine
 * (engine.c) takes due mail from the same queue and delivers it to each
 * domain's MX hosts.
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
#include <pwd.h>
#include <sys/prctl.h>
#include <inttypes.h>
#include <malloc.h>
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

#include "auth.h"
#include "config.h"
#include "dkim_keygen.h"
#include "dns.h"
#include "engine.h"
#include "intake.h"
#include "log.h"
#include "maildrop.h"
#include "message.h"
#include "mta_build.h"
#include "queue.h"
#include "signer.h"
#include "spool.h"
#include "submission.h"
#include "submit.h"
#include "writer.h"

#define MAX_CONNECTIONS 1024

struct daemon;
struct conn;

enum job_kind { JOB_INSERT, JOB_FLUSH, JOB_HOLD, JOB_RELEASE, JOB_DELETE };

enum conn_state {
    CONN_COMMAND,
    CONN_ENVELOPE,
    CONN_CONTENT,
    CONN_WAIT,
    CONN_FINISHING,
    CONN_CLOSING
};

/* A queue change a local client waits for. */
struct client_job {
    struct writer_job base; /* first: the writer hands this pointer back */
    struct daemon *d;
    struct conn *conn; /* NULL once the client went away */
    enum job_kind kind;
    struct queue_msg *msg;
    char *content;
    size_t len;
    char id[QUEUE_ID_SIZE];
    unsigned count;
    /* JOB_INSERT: the submission is prepared and signed on a worker
     * thread first (uv_work_t), with what it needs of the daemon taken on
     * the loop thread, before it goes to the writer. */
    uv_work_t prepare;
    char *raw; /* the submitted content */
    char hostname[CONFIG_NAME_MAX];
    struct signer *signer; /* a reference */
    char origin[QUEUE_ORIGIN_MAX];
    int prepare_rc;
    char dkim_note[SIGNER_NOTE_MAX];
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
    struct client_job *job;
    struct conn *prev, *next;
};

struct daemon {
    uv_loop_t *loop;
    struct config cfg;
    struct spool_paths paths;
    struct queue *queue;
    struct writer *writer;
    struct maildrop *maildrop;
    struct dns *dns;
    struct engine *engine;         /* NULL with delivery = off */
    struct signer *signer;         /* DKIM keys; replaced on SIGHUP */
    struct submission *submission; /* ports 587/465; NULL when not listening */
    uid_t run_uid;                 /* the user key's, or -1: no drop */
    gid_t run_gid;
    int submission_stopped;
    unsigned preparing; /* submissions being prepared on worker threads */
    int engine_stopped;
    int lock_fd;
    uv_pipe_t server;
    uv_signal_t sigterm, sigint, sighup;
    struct conn *conns;
    unsigned nconns;
    int stopping;
    const char *config_arg;
};

static void conn_finish(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conn_close(struct conn *c);

/* ---- queue changes for clients ---- */

static int client_job_work(struct writer_job *wj, struct queue_txn *t)
{
    struct client_job *j = (struct client_job *)wj;
    int rc = 0;

    switch (j->kind) {
    case JOB_INSERT:
        if ((rc = queue_insert(t, j->msg, j->content, j->len)) == 0)
            memcpy(j->id, j->msg->id, QUEUE_ID_SIZE);
        break;
    case JOB_FLUSH:
        rc = queue_flush(t, j->id[0] ? j->id : NULL, queue_now(), &j->count);
        break;
    case JOB_HOLD:
        rc = queue_hold(t, j->id, &j->count);
        break;
    case JOB_RELEASE:
        rc = queue_release(t, j->id, queue_now(), &j->count);
        break;
    case JOB_DELETE:
        rc = queue_delete(t, j->id);
        break;
    }
    return rc;
}

static void client_job_done(struct writer_job *wj, int rc)
{
    struct client_job *j = (struct client_job *)wj;

    if (rc == 0 && j->kind != JOB_DELETE && j->kind != JOB_HOLD)
        engine_kick(j->d->engine); /* new or newly due mail */
    if (j->kind == JOB_INSERT) {
        if (rc == 0)
            log_info("%s: from=<%s>, size=%zu, nrcpt=%u (queue active, %s)%s%s", j->id,
                     j->msg->sender, j->len, j->msg->nrcpt, j->msg->origin,
                     j->dkim_note[0] ? ", dkim: " : "", j->dkim_note);
        else
            log_warn("submission from %s not queued: %s (%s)", j->msg->origin, intake_strerror(rc),
                     strerror(-rc));
        /* Every queue error is temporary for the submitter: the message
         * itself was valid. */
        if (j->conn && rc == 0)
            conn_finish(j->conn, "ok %s", j->id);
        else if (j->conn)
            conn_finish(j->conn, "tempfail %s", intake_strerror(rc));
    } else if (j->conn) {
        if (rc == 0)
            conn_finish(j->conn, "ok %u", j->count);
        else
            conn_finish(j->conn, "fail %s", intake_strerror(rc));
    }
    if (j->conn)
        j->conn->job = NULL;
    queue_msg_free(j->msg);
    free(j->content);
    free(j->raw);
    signer_unref(j->signer);
    free(j);
}

static struct client_job *client_job_new(struct daemon *d, enum job_kind kind)
{
    struct client_job *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->d = d;
    j->kind = kind;
    j->base.work = client_job_work;
    j->base.done = client_job_done;
    return j;
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
    struct client_job *j;
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
    else if (strcmp(line, "status") == 0) {
        char buf[2048];
        if (d->engine)
            engine_status(d->engine, buf, sizeof(buf));
        else
            snprintf(buf, sizeof(buf), "delivery off");
        conn_fail(c, "ok", buf);
        return;
    } else if (strcmp(line, "ping") == 0) {
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
    if (!(j = client_job_new(d, kind))) {
        conn_fail(c, "tempfail", "out of memory");
        return;
    }
    if (arg)
        snprintf(j->id, sizeof(j->id), "%s", arg);
    j->conn = c;
    c->job = j;
    c->state = CONN_WAIT;
    uv_read_stop((uv_stream_t *)&c->pipe);
    if (kind == JOB_FLUSH)
        log_info("queue flush requested by uid %u%s%s", (unsigned)c->uid, arg ? " for " : "",
                 arg ? arg : "");
    writer_submit(d->writer, &j->base);
}

/* Worker thread: the Received header and the DKIM signatures. */
static void prepare_work(uv_work_t *req)
{
    struct client_job *j = req->data;
    struct conn *c = j->conn;

    j->prepare_rc = intake_prepare(j->hostname, j->signer, &c->env, c->uid, j->origin, NULL, j->raw,
                                   c->env.size, &j->msg, &j->content, &j->len, j->dkim_note);
}

static void daemon_maybe_stop(struct daemon *d);

/* Loop thread: the prepared message goes to the writer. */
static void prepare_done(uv_work_t *req, int status)
{
    struct client_job *j = req->data;
    struct conn *c = j->conn;
    struct daemon *d = j->d;

    d->preparing--;
    free(j->raw);
    j->raw = NULL;
    if (status != 0 || j->prepare_rc != 0) {
        c->job = NULL;
        conn_fail(c, "tempfail",
                  j->prepare_rc == -ENOMEM ? "out of memory" : "cannot prepare the message");
        signer_unref(j->signer);
        queue_msg_free(j->msg);
        free(j->content);
        free(j);
        daemon_maybe_stop(d);
        return;
    }
    writer_submit(d->writer, &j->base);
}

/* The submission is complete: validate the content, then prepare it off
 * the loop (RSA signing takes milliseconds) and queue the insert. */
static void conn_submission_done(struct conn *c)
{
    struct daemon *d = c->d;
    char err[256];
    struct client_job *j;

    if (submit_check_content(c->content, c->env.size, err, sizeof(err)) < 0) {
        conn_fail(c, "fail", err);
        return;
    }
    if (!(j = client_job_new(d, JOB_INSERT))) {
        conn_fail(c, "tempfail", "out of memory");
        return;
    }
    snprintf(j->origin, sizeof(j->origin), "local uid=%u", (unsigned)c->uid);
    snprintf(j->hostname, sizeof(j->hostname), "%s", d->cfg.hostname);
    j->signer = signer_ref(d->signer);
    j->raw = c->content;
    c->content = NULL;
    j->conn = c;
    j->prepare.data = j;
    c->job = j;
    c->state = CONN_WAIT;
    uv_read_stop((uv_stream_t *)&c->pipe);
    if (uv_queue_work(d->loop, &j->prepare, prepare_work, prepare_done) != 0) {
        c->job = NULL;
        conn_fail(c, "tempfail", "cannot start a worker");
        signer_unref(j->signer);
        free(j->raw);
        free(j);
        return;
    }
    d->preparing++;
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

/* ---- start, stop, signals ---- */

/* Writer idle: when stopping, everything is committed; stop the loop so
 * that run() can close the queue. */
static void on_writer_idle(void *arg)
{
    daemon_maybe_stop(arg);
}

/* Stopping ends once the engine handed back its work, no submission is
 * being prepared and the writer committed everything. */
static void daemon_maybe_stop(struct daemon *d)
{
    if (d->stopping && d->engine_stopped && d->submission_stopped && d->preparing == 0 &&
        writer_idle(d->writer))
        uv_stop(d->loop);
}

/* The engine handed its last results to the writer: once those are
 * committed, the loop can stop. */
static void on_engine_stopped(void *arg)
{
    struct daemon *d = arg;
    d->engine_stopped = 1;
    daemon_maybe_stop(d);
}

static void on_maildrop_imported(void *arg)
{
    struct daemon *d = arg;
    engine_kick(d->engine);
}

static void on_handle_closed(uv_handle_t *h)
{
}

/* The submission service answered its last client. */
static void on_submission_stopped(void *arg)
{
    struct daemon *d = arg;
    d->submission_stopped = 1;
    daemon_maybe_stop(d);
}

/* A message came in over SMTP. */
static void on_submission_queued(void *arg)
{
    struct daemon *d = arg;
    engine_kick(d->engine);
}

static void daemon_stop(struct daemon *d)
{
    if (d->stopping)
        return;
    d->stopping = 1;
    log_info("stopping");
    uv_close((uv_handle_t *)&d->server, on_handle_closed);
    submission_stop(d->submission, on_submission_stopped, d);
    d->submission = NULL;
    maildrop_stop(d->maildrop);
    d->maildrop = NULL;
    /* Submissions still being read are dropped (their clients fall back to
     * the maildrop); those waiting for a commit get their answer. */
    for (struct conn *c = d->conns; c; c = c->next)
        if (c->state != CONN_WAIT)
            conn_close(c);
    if (d->engine)
        engine_stop(d->engine, on_engine_stopped, d);
    else
        on_engine_stopped(d);
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
        struct signer *signer = NULL;
        if (signer_load(&cfg, &signer, err, sizeof(err)) != 0) {
            log_error("reload failed, keeping the running configuration: %s", err);
            return;
        }
        signer_unref(d->signer);
        d->signer = signer;
        log_info("DKIM: %zu key(s) loaded", signer_key_count(signer));
        d->cfg = cfg;
        if (submission_reload(d->submission, err, sizeof(err)) != 0)
            log_error("submission: reload failed, keeping the running certificate and users: %s",
                      err);
        log_close();
        log_open(d->cfg.log, "mtad", d->cfg.hostname);
        log_info("configuration reloaded from %s", cfg.path[0] ? cfg.path : "built-in defaults");
        maildrop_request(d->maildrop);
        return;
    }
    daemon_stop(d);
}

/* Creates dir with mode if missing; as root, or as its owner, fixes its
 * mode and its owner and group (each unless -1). */
static int ensure_dir(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
    struct stat st;
    if (mkdir(path, mode) < 0 && errno != EEXIST)
        return -errno;
    if (lstat(path, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    if (geteuid() == 0 || st.st_uid == geteuid()) {
        if (((uid != (uid_t)-1 && st.st_uid != uid) || (gid != (gid_t)-1 && st.st_gid != gid)) &&
            chown(path, uid, gid) < 0)
            return -errno;
        if ((st.st_mode & 07777) != mode && chmod(path, mode) < 0)
            return -errno;
    }
    return 0;
}

/*
 * The user mtad runs as once started (the user key): its uid and gid in
 * d->run_uid/run_gid, or -1 when it stays as it is (not root, or user =
 * root). A user that does not exist is an error: running as root by
 * accident is not a fallback.
 */
static int daemon_resolve_user(struct daemon *d)
{
    struct passwd *pw;

    d->run_uid = (uid_t)-1;
    d->run_gid = (gid_t)-1;
    if (geteuid() != 0 || strcmp(d->cfg.user, "root") == 0)
        return 0;
    if (!(pw = getpwnam(d->cfg.user))) {
        log_error("user %s does not exist: create it (scripts/install-system.sh does) or set "
                  "user in %s",
                  d->cfg.user, d->cfg.path[0] ? d->cfg.path : MTA_DEFAULT_CONF);
        return -ENOENT;
    }
    if (pw->pw_uid == 0)
        return 0;
    d->run_uid = pw->pw_uid;
    d->run_gid = pw->pw_gid;
    return 0;
}

/* Gives the files mtad keeps open or writes again to the run user. */
static int daemon_chown_files(struct daemon *d)
{
    static const char *const db_files[] = {"data.mdb", "lock.mdb"};
    char path[SPOOL_PATH_MAX + 16];

    if (d->run_uid == (uid_t)-1)
        return 0;
    for (size_t i = 0; i < sizeof(db_files) / sizeof(db_files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", d->paths.db, db_files[i]);
        if (chown(path, d->run_uid, d->run_gid) < 0 && errno != ENOENT)
            return -errno;
    }
    if (d->cfg.log[0] == '/' && chown(d->cfg.log, d->run_uid, (gid_t)-1) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

/* Ports bound, keys read: root's rights go for good. */
static int daemon_drop_privileges(struct daemon *d)
{
    struct group *gr;
    gid_t groups[1];
    int n = 0;

    if (d->run_uid == (uid_t)-1)
        return 0;
    /* The setgid group reads the maildrop's files (mode 0440). */
    if ((gr = getgrnam(d->cfg.setgid_group)))
        groups[n++] = gr->gr_gid;
    if (setgroups((size_t)n, groups) < 0 || setgid(d->run_gid) < 0 || setuid(d->run_uid) < 0)
        return -errno;
    if (setuid(0) == 0)
        return -EPERM; /* root could be taken back: stop rather than run so */
#ifdef __SANITIZE_ADDRESS__
    /* Changing uid made the process non-dumpable; LeakSanitizer's exit
     * check needs to attach to its own threads. Sanitizer builds only. */
    prctl(PR_SET_DUMPABLE, 1);
#endif
    log_info("running as user %s (uid %u)", d->cfg.user, (unsigned)d->run_uid);
    return 0;
}

static int daemon_setup_dirs(struct daemon *d)
{
    struct group *gr = getgrnam(d->cfg.setgid_group);
    gid_t gid = gr ? gr->gr_gid : (gid_t)-1;
    uid_t u = d->run_uid;
    int rc;

    if (!gr)
        log_warn("group %s does not exist: only root can queue mail while mtad is down "
                 "(see README: install)",
                 d->cfg.setgid_group);
    if ((rc = ensure_dir(d->paths.dir, 0755, (uid_t)-1, (gid_t)-1)) ||
        (rc = ensure_dir(d->paths.db, 0700, u, d->run_gid)) ||
        (rc = ensure_dir(d->paths.public_dir, 0755, u, d->run_gid)) ||
        /* setgid: every file in it gets the directory's group, which mtad's
         * user holds, whoever wrote it (root's sendmail too). */
        (rc = ensure_dir(d->paths.maildrop, gr ? 03770 : 03700, u, gr ? gid : d->run_gid)) ||
        (rc = ensure_dir(d->paths.corrupt, 0700, u, d->run_gid)))
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
    char err[CONFIG_ERR_MAX];
    if ((rc = signer_load(&d->cfg, &d->signer, err, sizeof(err)))) {
        log_error("%s", err);
        return 1;
    }
    if (signer_key_count(d->signer))
        log_info("DKIM: %zu key(s) loaded", signer_key_count(d->signer));
    else
        log_warn("no dkim_key: mail goes out unsigned (mtad dkim-keygen makes a key)");
    if (daemon_resolve_user(d) < 0)
        return 1;
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
    if (!(d->writer = writer_new(d->loop, d->queue))) {
        log_error("out of memory");
        return 1;
    }
    writer_on_idle(d->writer, on_writer_idle, d);
    if (!strcmp(d->cfg.delivery, "on")) {
        struct dns_options dopt = {0};
        dopt.servers = d->cfg.dns_servers[0] ? d->cfg.dns_servers : NULL;
        if ((rc = dns_new(d->loop, &dopt, &d->dns)) != 0) {
            log_error("cannot start the resolver: %s", strerror(-rc));
            return 1;
        }
        if (!(d->engine = engine_new(d->loop, d->writer, &d->cfg, d->dns))) {
            log_error("out of memory");
            return 1;
        }
    } else {
        log_warn("delivery = off: mail is queued, nothing is delivered");
    }
    d->maildrop = maildrop_start(d->loop, d->writer, d->queue, &d->cfg, &d->signer, &d->paths,
                                 on_maildrop_imported, d);
    struct submission_deps sd = {
        d->loop, d->writer, d->queue, &d->cfg, &d->signer, on_submission_queued, d};
    if ((rc = submission_start(&sd, &d->submission, err, sizeof(err)))) {
        log_error("submission service: %s", err);
        return 1;
    }
    if (!d->submission)
        d->submission_stopped = 1;
    if ((rc = daemon_chown_files(d)) || (rc = daemon_drop_privileges(d))) {
        log_error("cannot become user %s: %s", d->cfg.user, strerror(-rc));
        return 1;
    }
    /* The socket last: once it answers, mtad runs as its user and serves. */
    if ((rc = daemon_listen(d))) {
        log_error("cannot listen on %s: %s", d->paths.sock, uv_strerror(rc));
        return 1;
    }
    uv_signal_init(d->loop, &d->sigterm);
    uv_signal_init(d->loop, &d->sigint);
    uv_signal_init(d->loop, &d->sighup);
    d->sigterm.data = d->sigint.data = d->sighup.data = d;
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    uv_signal_start(&d->sigint, on_signal, SIGINT);
    uv_signal_start(&d->sighup, on_signal, SIGHUP);
    signal(SIGPIPE, SIG_IGN);

    log_info("daemon started -- version %s, configuration %s, queue %s", MTA_VERSION,
             d->cfg.path[0] ? d->cfg.path : "built-in defaults", d->paths.dir);
    uv_run(d->loop, UV_RUN_DEFAULT);

    /* Stopped: close what is left so the loop can be closed. */
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sighup, NULL);
    for (struct conn *c = d->conns; c; c = c->next)
        conn_close(c);
    dns_free(d->dns);
    uv_run(d->loop, UV_RUN_DEFAULT);
    engine_free(d->engine);
    uv_loop_close(d->loop);
    writer_free(d->writer);
    signer_unref(d->signer);
    queue_close(d->queue);
    unlink(d->paths.sock);
    close(d->lock_fd);
    log_info("stopped");
    return 0;
}

/*
 * mtad passwd [--senders LIST] USER: the password is the first line of
 * stdin (a terminal echoes it: pipe it in, or type it blind), so that it
 * never shows in the process list or the shell history.
 */
static int passwd_main(const struct config *cfg, int argc, char **argv)
{
    char password[AUTH_PASSWORD_MAX + 2], err[512];
    const char *senders = NULL, *user;
    size_t len;
    int rc;

    if (argc >= 2 && strcmp(argv[0], "--senders") == 0) {
        senders = argv[1];
        argc -= 2;
        argv += 2;
    }
    if (argc != 1) {
        fprintf(stderr, "usage: mtad passwd [--senders LIST] USER   (password on stdin)\n");
        return 64;
    }
    user = argv[0];
    if (!cfg->auth_users[0]) {
        fprintf(stderr, "mtad passwd: auth_users is empty in the configuration\n");
        return 1;
    }
    if (isatty(STDIN_FILENO))
        fprintf(stderr, "password for %s: ", user);
    if (!fgets(password, sizeof(password), stdin)) {
        fprintf(stderr, "mtad passwd: no password on stdin\n");
        return 1;
    }
    len = strcspn(password, "\r\n");
    if (len > AUTH_PASSWORD_MAX - 1) {
        fprintf(stderr, "mtad passwd: password longer than %d bytes\n", AUTH_PASSWORD_MAX - 1);
        explicit_bzero(password, sizeof(password));
        return 1;
    }
    password[len] = '\0';
    /* The file's directory (sysconfdir/mta) may not exist yet. */
    char dir[CONFIG_PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", cfg->auth_users);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
            fprintf(stderr, "mtad passwd: %s: %s\n", dir, strerror(errno));
    }
    rc = auth_passwd(cfg->auth_users, user, password, senders, err, sizeof(err));
    explicit_bzero(password, sizeof(password));
    if (rc < 0) {
        fprintf(stderr, "mtad passwd: %s\n", err);
        return 1;
    }
    /* mtad reads it again on SIGHUP as its own user: root:USER 0640. */
    struct passwd *pw = strcmp(cfg->user, "root") ? getpwnam(cfg->user) : NULL;
    if (pw && geteuid() == 0 && chown(cfg->auth_users, 0, pw->pw_gid) < 0)
        fprintf(stderr, "mtad passwd: %s: %s\n", cfg->auth_users, strerror(errno));
    printf("mtad passwd: password of %s set in %s; reload mtad (SIGHUP) to use it\n", user,
           cfg->auth_users);
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: mtad [-C config] [run]      run the daemon (in the foreground)\n"
                 "       mtad [-C config] check      validate the configuration\n"
                 "       mtad [-C config] config     print the effective configuration\n"
                 "       mtad [-C config] dkim-keygen [--type rsa|ed25519] [--bits N] [--force] "
                 "DOMAIN SELECTOR\n"
                 "                                   make a DKIM key, print its DNS record\n"
                 "       mtad [-C config] passwd [--senders LIST] USER\n"
                 "                                   set USER's password (read from stdin)\n"
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
    /* "+": options after the subcommand are the subcommand's. */
    while ((opt = getopt(argc, argv, "+C:hV")) != -1) {
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
    if (optind < argc && strcmp(cmd, "dkim-keygen") != 0 && strcmp(cmd, "passwd") != 0) {
        usage(stderr);
        return 64;
    }
    if (config_init(&d.cfg, d.config_arg, err, sizeof(err)) != 0) {
        fprintf(stderr, "mtad: %s\n", err);
        return strcmp(cmd, "check") == 0 ? 1 : 78;
    }
    if (strcmp(cmd, "dkim-keygen") == 0)
        return dkim_keygen_main(&d.cfg, argc - optind + 1, argv + optind - 1, stdout);
    if (strcmp(cmd, "passwd") == 0)
        return passwd_main(&d.cfg, argc - optind, argv + optind);
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
        struct signer *signer = NULL;
        if (signer_load(&d.cfg, &signer, err, sizeof(err)) != 0) {
            fprintf(stderr, "mtad: %s\n", err);
            return 1;
        }
        if (strcmp(d.cfg.user, "root") != 0 && !getpwnam(d.cfg.user))
            printf("mtad: warning: user %s does not exist: mtad will not start (run "
                   "scripts/install-system.sh)\n",
                   d.cfg.user);
        if (signer_key_count(signer) == 0)
            printf("mtad: warning: no dkim_key: mail goes out unsigned, and Gmail, Outlook "
                   "and Yahoo refuse or junk unsigned bulk mail (mtad dkim-keygen makes a key)\n");
        for (size_t i = 0; i < d.cfg.dkim_key_count; i++)
            printf("mtad: DKIM: mail from %s is signed with selector %s (publish "
                   "%s._domainkey.%s)\n",
                   d.cfg.dkim_keys[i].domain, d.cfg.dkim_keys[i].selector,
                   d.cfg.dkim_keys[i].selector, d.cfg.dkim_keys[i].domain);
        signer_unref(signer);
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
    /* Jobs allocate on the worker threads; one arena per thread would
     * scatter small blocks over many heaps. */
    mallopt(M_ARENA_MAX, 2);
    log_open(d.cfg.log, "mtad", d.cfg.hostname);
    if (!strchr(d.cfg.hostname, '.'))
        log_warn("hostname %s is not fully qualified: set hostname in the configuration",
                 d.cfg.hostname);
    umask(022);
    return run(&d);
}
