/*
 * bounce.h - delivery status notifications (RFC 3464): the report mtad
 * sends back to a message's sender when recipients failed, are delayed,
 * or (NOTIFY=SUCCESS) were relayed.
 *
 * Trust: the original message and the remote replies are hostile text;
 * they are quoted (replies sanitised, headers bounded) and never let them
 * break out of their MIME parts.
 */
#ifndef MTA_BOUNCE_H
#define MTA_BOUNCE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "queue.h"

enum bounce_kind {
    BOUNCE_FAILED,  /* Action: failed */
    BOUNCE_DELAYED, /* Action: delayed (still being retried) */
    BOUNCE_RELAYED, /* Action: relayed (NOTIFY=SUCCESS; the remote took it) */
};

struct bounce_rcpt {
    const struct queue_rcpt *rcpt; /* address, orcpt, last_attempt */
    const char *status;            /* enhanced code "5.1.1" */
    const char *remote_mta;        /* MX host name, or NULL when none answered */
    const char *diagnostic;        /* "550 5.1.1 <x@y>: no such user", or NULL */
};

/*
 * 1 when a DSN of this kind goes to this message's sender for this
 * recipient: never for the null sender (no bounce of a bounce); NOTIFY
 * NEVER -> none; NOTIFY given -> only the kinds it names (FAILURE,
 * DELAY, SUCCESS); NOTIFY not given -> failures and delays.
 */
int bounce_wanted(enum bounce_kind kind, const struct queue_msg *msg,
                  const struct queue_rcpt *rcpt);

/*
 * Builds the report as a complete message with CRLF lines, ready to queue
 * with the null sender for msg->sender:
 *   From: Mail Delivery System <MAILER-DAEMON@hostname>, To: <sender>,
 *   Subject by kind, Date, Message-ID, Auto-Submitted: auto-replied,
 *   MIME-Version, Content-Type: multipart/report; report-type=delivery-status
 *   1. text/plain: what happened, in words, per recipient
 *   2. message/delivery-status: Reporting-MTA: dns; hostname,
 *      Original-Envelope-Id (ENVID) when set, Arrival-Date; per recipient
 *      Final-Recipient: rfc822; addr, Original-Recipient (ORCPT) when set,
 *      Action, Status, Remote-MTA: dns; host (when known),
 *      Diagnostic-Code: smtp; reply (when known), Last-Attempt-Date,
 *      and Will-Retry-Until for delays
 *   3. message/rfc822 with the original (RET=FULL, or RET not given for
 *      failures), or text/rfc822-headers with only its header section
 *      (RET=HDRS, and always for delays and relays)
 * Lines stay within 998 octets. On success *out is malloc'd (caller
 * frees) and *outlen its length. Returns 0, -EINVAL (n == 0), -ENOMEM.
 */
int bounce_build(enum bounce_kind kind, const struct queue_msg *msg, const char *content,
                 size_t len, const struct bounce_rcpt *rcpts, size_t n, const char *hostname,
                 time_t now, int64_t retry_until, char **out, size_t *outlen);

#endif
