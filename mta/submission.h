/*
 * submission.h - the submission service of mtad (ports 587 and 465): who
 * may connect and send (trusted_networks, AUTH against auth_users, the
 * senders each user may use, limits per client address), and the commit
 * of each message to the queue -- Received header, missing Date and
 * Message-ID, DKIM signature, LMDB commit -- before the client hears 250.
 * The protocol itself is smtp/server.c.
 */
#ifndef MTA_SUBMISSION_H
#define MTA_SUBMISSION_H

#include <stddef.h>
#include <uv.h>

#include "config.h"
#include "queue.h"
#include "signer.h"
#include "writer.h"

struct submission_deps {
    uv_loop_t *loop;
    struct writer *writer;
    struct queue *queue;
    const struct config *cfg;     /* read live: a reload applies to new sessions */
    struct signer *const *signer; /* the daemon's current signer */
    void (*queued)(void *arg);    /* a message was committed (kick delivery) */
    void *arg;
};

struct submission;

/*
 * Loads tls_cert/tls_key and auth_users and binds submission_listen and
 * smtps_listen (call it as root). Nothing to listen on is fine (*out is
 * still set). Returns 0, or a negative errno with err.
 */
int submission_start(const struct submission_deps *deps, struct submission **out, char *err,
                     size_t errlen);

/* SIGHUP: the certificate and auth_users again. On error the running
 * ones stay and err says why. Returns 0 or a negative errno. */
int submission_reload(struct submission *s, char *err, size_t errlen);

/* Stops listening, ends the sessions; done(arg) once all is closed and
 * every message being committed was answered. NULL s: done at once. */
void submission_stop(struct submission *s, void (*done)(void *arg), void *arg);

#endif
