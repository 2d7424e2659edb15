/*
 * submit.h - the envelope format that local programs hand to mtad, both
 * over the daemon's socket and in maildrop files.
 *
 * A submission is text lines ending in LF, then the content:
 *
 *   sender ADDRESS            (empty after the space = null sender "<>")
 *   rcpt ADDRESS NOTIFY ORCPT (NOTIFY: "-" or never|success,failure,delay;
 *                              ORCPT: "-" or the RFC 3461 value; repeatable;
 *                              the last two never hold a space, the address
 *                              may: "a b"@example.com)
 *   envid VALUE               (optional)
 *   ret full|hdrs             (optional)
 *   body 7bit|8bitmime        (optional)
 *   size N                    (content octets; the last line)
 *   (empty line)
 *   N octets of content: CRLF lines, each at most 998 octets, no NUL.
 *
 * On the socket the submission is preceded by a line "submit". Control
 * requests are single lines: "flush [ID]", "hold ID", "release ID",
 * "delete ID". The daemon answers one line: "ok [TEXT]", "tempfail TEXT"
 * or "fail TEXT".
 *
 * The daemon treats all of this as hostile input: submit_parse_line and
 * submit_check_content bound and validate every field.
 */
#ifndef MTA_SUBMIT_H
#define MTA_SUBMIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "queue.h"

#define SUBMIT_LINE_MAX 1024         /* one envelope line, without LF */
#define SUBMIT_HEADER_MAX (8u << 20) /* all envelope lines together */

struct submit_rcpt {
    char address[QUEUE_ADDRESS_MAX];
    char orcpt[QUEUE_ORCPT_MAX];
    uint8_t notify; /* QUEUE_NOTIFY_* */
};

struct submit_env {
    char sender[QUEUE_ADDRESS_MAX];
    char envid[QUEUE_ENVID_MAX];
    uint8_t ret;  /* enum queue_ret */
    uint8_t body; /* enum queue_body */
    int have_sender, have_size;
    uint64_t size;
    uint32_t nrcpt, cap;
    struct submit_rcpt *rcpt; /* owned; free with submit_env_free */
};

void submit_env_init(struct submit_env *e);
void submit_env_free(struct submit_env *e);

/* Appends a recipient (copied). Returns 0, -ENOMEM, -E2BIG past
 * QUEUE_RCPT_MAX, or -EINVAL for an invalid address or ORCPT. */
int submit_env_add_rcpt(struct submit_env *e, const char *address, uint8_t notify,
                        const char *orcpt);

/* Parses a DSN NOTIFY list ("never" or a comma list of success, failure,
 * delay; case-insensitive) into *out. Returns 0 or -EINVAL. */
int submit_parse_notify(const char *text, uint8_t *out);

/* Writes the envelope lines and the empty line (not the content) to out.
 * Returns 0 or -EIO. */
int submit_env_write(const struct submit_env *e, FILE *out);

/*
 * Parses one envelope line (len octets, without the LF). Returns 0 when it
 * was consumed, 1 when it was the empty line that ends the envelope (and
 * the envelope is complete: a sender, at least one recipient and a size,
 * the size at most max_size), or -EINVAL/-E2BIG/-EMSGSIZE/-ENOMEM with err
 * saying what is wrong.
 */
int submit_parse_line(struct submit_env *e, const char *line, size_t len, uint64_t max_size,
                      char *err, size_t errlen);

/*
 * Checks content: CRLF line endings only, no line over 998 octets, no NUL,
 * ending with CRLF (or empty). Returns 0 or -EINVAL with err set.
 */
int submit_check_content(const char *data, size_t len, char *err, size_t errlen);

#endif
