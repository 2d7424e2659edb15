/*
 * intake.h - what every way into the queue shares: turning a validated
 * submission envelope into a queue message, with the Received header the
 * daemon adds, and the DKIM signatures: a message is signed once, here,
 * so that retries and recipients never sign it again.
 */
#ifndef MTA_INTAKE_H
#define MTA_INTAKE_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "queue.h"
#include "signer.h"
#include "submit.h"

/* How the message came: NULL for a local program (sendmail, maildrop). */
struct intake_smtp {
    const char *helo;         /* the client's EHLO/HELO name */
    const char *peer;         /* its address, "192.0.2.1" */
    const char *protocol;     /* "ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA" (RFC 3848) */
    const char *tls;          /* "TLSv1.2 TLS_ECDHE_...", or NULL */
    const char *user;         /* authenticated user, or NULL */
    const char *from_address; /* for a missing From field: the sender, or postmaster */
};

/*
 * Builds the queue message for env (arrival now, origin text, submitting
 * uid) and the content to store: the DKIM-Signature fields signer makes
 * (none when signer is NULL or has no key for the From domain), then a
 * Received field, then content. For a local program the Received field is
 * "Received: by HOST (mtad, from userid UID);\r\n\tDATE\r\n"; for SMTP
 * (smtp not NULL) it is "Received: from HELO ([IP])\r\n\tby HOST (mtad)
 * with PROTOCOL (TLS) (authenticated as USER);\r\n\tDATE\r\n", and
 * Date, Message-ID and From are added when the content lacks them (RFC
 * 6409 8). The signatures cover exactly what is stored. note
 * (SIGNER_NOTE_MAX) gets signer_sign's text for the log. Signing RSA keys
 * costs milliseconds: mtad calls this on a worker thread. On success *msg
 * and *stored are the caller's (queue_msg_free, free). Returns 0, -EINVAL
 * or -ENOMEM.
 */
int intake_prepare(const char *hostname, const struct signer *signer, const struct submit_env *env,
                   uid_t uid, const char *origin, const struct intake_smtp *smtp,
                   const char *content, size_t len, struct queue_msg **msg, char **stored,
                   size_t *stored_len, char *note);

/* Text for a queue error, as the submitter sees it ("4.3.1 queue full..."). */
const char *intake_strerror(int rc);

#endif
