/*
 * writer.h - the queue's single writer: jobs run on a libuv worker thread
 * inside one LMDB write transaction per batch (group commit), and each
 * job hears its result on the loop thread once the batch is on disk.
 *
 * Everything that changes the queue in mtad goes through here, so that
 * the loop thread never waits for the disk and every commit is shared by
 * all the jobs that arrived while the previous one ran.
 */
#ifndef MTA_WRITER_H
#define MTA_WRITER_H

#include <uv.h>

#include "queue.h"

struct writer_job {
    struct writer_job *next; /* private */
    /*
     * Worker thread, inside the batch. t is a nested transaction of its
     * own (a job that fails leaves no trace and does not fail the batch)
     * unless own_txn is set, when t is the batch's transaction itself
     * and the job makes its own nested ones. Returns 0 or a negative errno.
     */
    int (*work)(struct writer_job *j, struct queue_txn *t);
    /* Worker thread, after the batch committed; may be NULL. */
    void (*after_commit)(struct writer_job *j);
    /* Loop thread: rc is work's result, or the commit's error. The job
     * belongs to done (free it there). */
    void (*done)(struct writer_job *j, int rc);
    int own_txn;
    int rc; /* private */
};

struct writer;

/* Creates a writer for q on loop. Returns NULL on ENOMEM. */
struct writer *writer_new(uv_loop_t *loop, struct queue *q);

/* Frees the writer; it must be idle (writer_idle). */
void writer_free(struct writer *w);

/* Queues a job; it runs in the next batch. */
void writer_submit(struct writer *w, struct writer_job *j);

/* 1 when no job waits or runs. */
int writer_idle(const struct writer *w);

/* cb(arg) is called (on the loop) each time the writer becomes idle. */
void writer_on_idle(struct writer *w, void (*cb)(void *arg), void *arg);

/* Batches committed and jobs run since start (for logs and benchmarks). */
void writer_counters(const struct writer *w, unsigned long *batches, unsigned long *jobs);

#endif
