/*
 * intake.h - what every way into the queue shares: turning a validated
 * submission envelope into a queue message, with the Received header the
 * daemon adds. (Signing will happen here too, once, at entry.)
 */
#ifndef MTA_INTAKE_H
#define MTA_INTAKE_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "queue.h"
#include "submit.h"

/*
 * Builds the queue message for env (arrival now, origin text, submitting
 * uid) and the content to store: "Received: by HOST (mtad, from userid
 * UID);\r\n\tDATE\r\n" followed by content. On success *msg and *stored
 * are the caller's (queue_msg_free, free). Returns 0 or -ENOMEM.
 */
int intake_prepare(const struct config *cfg, const struct submit_env *env, uid_t uid,
                   const char *origin, const char *content, size_t len, struct queue_msg **msg,
                   char **stored, size_t *stored_len);

/* Text for a queue error, as the submitter sees it ("4.3.1 queue full..."). */
const char *intake_strerror(int rc);

#endif
