/*
 * writer.c - group commit on a worker thread (see writer.h).
 *
 * Trust: jobs are the daemon's own code; what they store was validated
 * before they were submitted.
 */
#include "writer.h"

#include <errno.h>
#include <stdlib.h>

struct writer {
    uv_loop_t *loop;
    struct queue *q;
    uv_work_t work;
    struct writer_job *pending, **pending_tail;
    struct writer_job *running;
    int busy;
    void (*idle_cb)(void *arg);
    void *idle_arg;
    unsigned long batches, jobs;
};

static void writer_kick(struct writer *w);

struct writer *writer_new(uv_loop_t *loop, struct queue *q)
{
    struct writer *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->loop = loop;
    w->q = q;
    w->pending_tail = &w->pending;
    w->work.data = w;
    return w;
}

void writer_free(struct writer *w)
{
    free(w);
}

int writer_idle(const struct writer *w)
{
    return !w->busy && !w->pending;
}

void writer_on_idle(struct writer *w, void (*cb)(void *arg), void *arg)
{
    w->idle_cb = cb;
    w->idle_arg = arg;
}

void writer_counters(const struct writer *w, unsigned long *batches, unsigned long *jobs)
{
    *batches = w->batches;
    *jobs = w->jobs;
}

void writer_submit(struct writer *w, struct writer_job *j)
{
    j->next = NULL;
    j->rc = 0;
    *w->pending_tail = j;
    w->pending_tail = &j->next;
    writer_kick(w);
}

static void on_work(uv_work_t *req)
{
    struct writer *w = req->data;
    struct queue_txn *batch = NULL;
    struct writer_job *j;
    int rc = queue_txn_begin(w->q, NULL, 1, &batch);

    for (j = w->running; j && rc == 0; j = j->next) {
        struct queue_txn *t = NULL;
        if (j->own_txn) {
            j->rc = j->work(j, batch);
            continue;
        }
        if ((j->rc = queue_txn_begin(w->q, batch, 1, &t)))
            continue;
        if ((j->rc = j->work(j, t)) == 0)
            j->rc = queue_txn_commit(t);
        else
            queue_txn_abort(t);
    }
    /* The durable point of the whole batch. */
    if (rc == 0)
        rc = queue_txn_commit(batch);
    else
        queue_txn_abort(batch);
    for (j = w->running; j; j = j->next) {
        if (rc && j->rc == 0)
            j->rc = rc;
        if (j->rc == 0 && j->after_commit)
            j->after_commit(j);
    }
}

static void on_done(uv_work_t *req, int status)
{
    struct writer *w = req->data;
    struct writer_job *j = w->running, *next;

    w->running = NULL;
    w->busy = 0;
    w->batches++;
    for (; j; j = next) {
        next = j->next;
        w->jobs++;
        j->done(j, j->rc);
    }
    writer_kick(w);
}

static void writer_kick(struct writer *w)
{
    if (w->busy)
        return;
    if (!w->pending) {
        if (w->idle_cb)
            w->idle_cb(w->idle_arg);
        return;
    }
    w->running = w->pending;
    w->pending = NULL;
    w->pending_tail = &w->pending;
    w->busy = 1;
    if (uv_queue_work(w->loop, &w->work, on_work, on_done) != 0) {
        /* Only with a broken loop; fail the jobs rather than hang them. */
        struct writer_job *j = w->running, *next;
        w->running = NULL;
        w->busy = 0;
        for (; j; j = next) {
            next = j->next;
            j->done(j, -EIO);
        }
    }
}
