/*
 * maildrop.c - importing maildrop files (see maildrop.h).
 *
 * SECURITY: any local user can put a file here through mta-postdrop, so
 * each file is hostile input: opened without following links, must be a
 * regular file no larger than an envelope plus max_message_size, and is
 * parsed and validated by submit.c exactly like a socket submission. A
 * file that fails goes to corrupt/ with a log line; nothing of it is
 * queued. A file is removed only after its message is committed, and the
 * commit records its name, so a crash in between cannot import it twice.
 */
#include "maildrop.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "intake.h"
#include "log.h"
#include "submit.h"

#define MAILDROP_BATCH 256
#define MAILDROP_RESCAN_MS (60 * 1000)
#define MAILDROP_STALE_SECONDS (24 * 3600)
#define NAME_MAX_KEPT 64

struct maildrop {
    uv_loop_t *loop;
    struct writer *writer;
    struct queue *queue;
    const struct config *cfg;
    struct signer *const *signer; /* the daemon's current one */
    const struct spool_paths *paths;
    void (*imported)(void *arg);
    void *arg;
    uv_fs_event_t watch;
    uv_timer_t timer;
    int open_handles;
    int queued; /* a scan waits or runs */
    int again;  /* something happened while it ran */
    int stopping;
};

struct scan_job {
    struct writer_job base;
    struct maildrop *md;
    /* What the worker needs of the configuration, taken on the loop
     * thread: a reload may replace the configuration while the job runs. */
    char hostname[CONFIG_NAME_MAX];
    uint64_t max_message_size;
    struct signer *signer;        /* a reference */
    char (*names)[NAME_MAX_KEPT]; /* imported: unlinked after the commit */
    size_t nnames;
    int more; /* files left past the batch */
};

struct forget_job {
    struct writer_job base;
    char (*names)[NAME_MAX_KEPT];
    size_t nnames;
};

/*
 * Reads, validates and inserts one maildrop file inside the child
 * transaction t. Returns 1 when the file is done with (imported now or
 * earlier: unlink it), 0 to leave it (incomplete), or a negative errno
 * (-EBADMSG: move it to corrupt/; else a queue error: leave it).
 */
static int import_one(struct maildrop *md, const struct scan_job *j, struct queue_txn *t, int dirfd,
                      const char *name, char *why, size_t whylen)
{
    struct submit_env env;
    struct stat st;
    char note[80], dkim_note[SIGNER_NOTE_MAX];
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
    /* A file still being written (mode 0) cannot be opened by mtad's
     * unprivileged user: look before opening. */
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        rc = errno == ENOENT ? 0 : -EBADMSG;
        snprintf(why, whylen, "stat: %s", strerror(errno));
        goto out;
    }
    if (S_ISREG(st.st_mode) && !(st.st_mode & S_IRGRP)) {
        rc = 0;
        if (time(NULL) - st.st_mtime > MAILDROP_STALE_SECONDS) {
            rc = -EBADMSG;
            snprintf(why, whylen, "incomplete for over a day");
        }
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
    cap = (size_t)j->max_message_size + SUBMIT_HEADER_MAX;
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
        rc = submit_parse_line(&env, buf + pos, (size_t)(nl - (buf + pos)), j->max_message_size,
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
    if ((rc = intake_prepare(j->hostname, j->signer, &env, st.st_uid, origin, NULL, buf + pos,
                             env.size, &m, &content, &len, dkim_note)))
        goto out;
    if ((rc = queue_insert(t, m, content, len)) || (rc = queue_note_put(t, note, "", 0))) {
        snprintf(why, whylen, "%s", strerror(-rc));
        goto out;
    }
    log_info("%s: from=<%s>, size=%zu, nrcpt=%u (queue active, maildrop uid=%u)%s%s", m->id,
             m->sender, len, m->nrcpt, (unsigned)st.st_uid, dkim_note[0] ? ", dkim: " : "",
             dkim_note);
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

/* Worker thread, in the batch's transaction: imports up to
 * MAILDROP_BATCH files, each in its own nested transaction. */
static int scan_work(struct writer_job *wj, struct queue_txn *parent)
{
    struct scan_job *j = (struct scan_job *)wj;
    struct maildrop *md = j->md;
    DIR *dir = opendir(md->paths->maildrop);
    struct dirent *de;
    int ret = 0;

    if (!dir)
        return -errno;
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
        if ((rc = queue_txn_begin(md->queue, parent, 1, &t))) {
            ret = rc;
            break;
        }
        rc = import_one(md, j, t, dirfd(dir), de->d_name, why, sizeof(why));
        if (rc == 1) {
            if ((rc = queue_txn_commit(t)) == 0)
                memcpy(j->names[j->nnames++], de->d_name, strlen(de->d_name) + 1);
        } else {
            queue_txn_abort(t);
        }
        if (rc == -EBADMSG) {
            char to[SPOOL_PATH_MAX + sizeof(de->d_name) + 2];
            snprintf(to, sizeof(to), "%s/%s", md->paths->corrupt, de->d_name);
            log_warn("maildrop file %s rejected (%s): moved to %s", de->d_name, why, to);
            if (renameat(dirfd(dir), de->d_name, AT_FDCWD, to) < 0)
                unlinkat(dirfd(dir), de->d_name, 0);
        } else if (rc < 0) {
            /* A queue error (map full...): leave the file for later. */
            log_warn("maildrop file %s not imported: %s", de->d_name, strerror(-rc));
            ret = rc;
            break;
        }
    }
    closedir(dir);
    return ret;
}

/* Worker thread, after the commit: the imported files can go. */
static void scan_after_commit(struct writer_job *wj)
{
    struct scan_job *j = (struct scan_job *)wj;
    int dfd = open(j->md->paths->maildrop, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (size_t i = 0; i < j->nnames; i++)
        if (dfd < 0 || (unlinkat(dfd, j->names[i], 0) < 0 && errno != ENOENT))
            log_warn("cannot remove maildrop file %s: %s", j->names[i], strerror(errno));
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

/* The notes that guarded against a second import are no longer needed. */
static int forget_work(struct writer_job *wj, struct queue_txn *t)
{
    struct forget_job *j = (struct forget_job *)wj;
    for (size_t i = 0; i < j->nnames; i++) {
        char note[80];
        int rc;
        snprintf(note, sizeof(note), "maildrop:%s", j->names[i]);
        if ((rc = queue_note_del(t, note)))
            return rc;
    }
    return 0;
}

static void forget_done(struct writer_job *wj, int rc)
{
    struct forget_job *j = (struct forget_job *)wj;
    free(j->names);
    free(j);
}

static void maildrop_free_if_done(struct maildrop *md)
{
    if (md->stopping && md->open_handles == 0 && !md->queued)
        free(md);
}

static void scan_submit(struct maildrop *md);

static void scan_done(struct writer_job *wj, int rc)
{
    struct scan_job *j = (struct scan_job *)wj;
    struct maildrop *md = j->md;

    md->queued = 0;
    if (rc)
        j->nnames = 0; /* nothing of the batch is on disk */
    if (j->nnames) {
        struct forget_job *f = calloc(1, sizeof(*f));
        if (f) {
            f->base.work = forget_work;
            f->base.done = forget_done;
            f->names = j->names;
            f->nnames = j->nnames;
            j->names = NULL;
            writer_submit(md->writer, &f->base);
        }
        if (md->imported && !md->stopping)
            md->imported(md->arg);
    }
    if ((j->more || md->again) && !md->stopping && rc == 0) {
        md->again = 0;
        scan_submit(md);
    }
    signer_unref(j->signer);
    free(j->names);
    free(j);
    maildrop_free_if_done(md);
}

static void scan_submit(struct maildrop *md)
{
    struct scan_job *j = calloc(1, sizeof(*j));
    if (!j)
        return;
    j->names = calloc(MAILDROP_BATCH, sizeof(*j->names));
    if (!j->names) {
        free(j);
        return;
    }
    j->md = md;
    snprintf(j->hostname, sizeof(j->hostname), "%s", md->cfg->hostname);
    j->max_message_size = md->cfg->max_message_size;
    j->signer = signer_ref(*md->signer);
    j->base.work = scan_work;
    j->base.after_commit = scan_after_commit;
    j->base.done = scan_done;
    j->base.own_txn = 1;
    md->queued = 1;
    writer_submit(md->writer, &j->base);
}

void maildrop_request(struct maildrop *md)
{
    if (!md || md->stopping)
        return;
    if (md->queued) {
        md->again = 1;
        return;
    }
    scan_submit(md);
}

static void on_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    maildrop_request(h->data);
}

static void on_timer(uv_timer_t *t)
{
    maildrop_request(t->data);
}

static void on_closed(uv_handle_t *h)
{
    struct maildrop *md = h->data;
    md->open_handles--;
    maildrop_free_if_done(md);
}

void maildrop_stop(struct maildrop *md)
{
    if (!md || md->stopping)
        return;
    md->stopping = 1;
    uv_close((uv_handle_t *)&md->watch, on_closed);
    uv_close((uv_handle_t *)&md->timer, on_closed);
}

struct maildrop *maildrop_start(uv_loop_t *loop, struct writer *w, struct queue *q,
                                const struct config *cfg, struct signer *const *signer,
                                const struct spool_paths *paths, void (*imported)(void *arg),
                                void *arg)
{
    struct maildrop *md = calloc(1, sizeof(*md));
    if (!md)
        return NULL;
    md->loop = loop;
    md->writer = w;
    md->queue = q;
    md->cfg = cfg;
    md->signer = signer;
    md->paths = paths;
    md->imported = imported;
    md->arg = arg;
    uv_fs_event_init(loop, &md->watch);
    uv_timer_init(loop, &md->timer);
    md->watch.data = md->timer.data = md;
    md->open_handles = 2;
    if (uv_fs_event_start(&md->watch, on_event, paths->maildrop, 0) != 0)
        log_warn("cannot watch %s; scanning it every minute", paths->maildrop);
    uv_timer_start(&md->timer, on_timer, MAILDROP_RESCAN_MS, MAILDROP_RESCAN_MS);
    scan_submit(md);
    return md;
}
