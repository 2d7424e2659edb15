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

/*
 * Builds the queue message for env (arrival now, origin text, submitting
 * uid) and the content to store: the DKIM-Signature fields signer makes
 * (none when signer is NULL or has no key for the From domain), then
 * "Received: by HOST (mtad, from userid UID);\r\n\tDATE\r\n", then
 * content. The signatures cover the Received field and content exactly
 * as stored. note (SIGNER_NOTE_MAX) gets signer_sign's text for the log.
 * Signing RSA keys costs milliseconds: mtad calls this on a worker
 * thread. On success *msg and *stored are the caller's (queue_msg_free,
 * free). Returns 0, -EINVAL or -ENOMEM.
 */
int intake_prepare(const char *hostname, const struct signer *signer, const struct submit_env *env,
                   uid_t uid, const char *origin, const char *content, size_t len,
                   struct queue_msg **msg, char **stored, size_t *stored_len, char *note);

/* Text for a queue error, as the submitter sees it ("4.3.1 queue full..."). */
const char *intake_strerror(int rc);

#endif
