/*
 * reply.h - a strict parser of SMTP server replies (RFC 5321 4.2, with
 * RFC 2034/3463 enhanced status codes).
 *
 * Trust: the bytes come from a remote server that may be broken or
 * hostile. Every line and every reply is bounded; a malformed reply is an
 * error that ends the session, never a crash or a hang; the text kept for
 * logs and bounces has its control characters neutralised.
 */
#ifndef MTA_SMTP_REPLY_H
#define MTA_SMTP_REPLY_H

#include <stddef.h>

#define SMTP_REPLY_LINE_MAX 2048   /* one reply line, CRLF excluded (RFC: 512) */
#define SMTP_REPLY_TEXT_MAX 4096   /* the kept text of a whole reply */
#define SMTP_REPLY_LINES_MAX 100   /* lines in one multi-line reply */

struct smtp_reply {
    int code;          /* 200..599 */
    char enhanced[16]; /* "4.7.28", or "" when the reply has none */
    /* The text of every line after "CODE-"/"CODE " and after the enhanced
     * code when the line has one; lines joined by "\n"; control characters
     * (other than that "\n") and octets over 126 replaced by '?'; cut at
     * SMTP_REPLY_TEXT_MAX - 1 with "..." marking the cut. */
    char text[SMTP_REPLY_TEXT_MAX];
    int nlines;
};

struct smtp_reply_parser {
    /* private */
    char line[SMTP_REPLY_LINE_MAX + 1];
    size_t line_len;
    int overflow;
    int in_reply;
    int first_code;
    struct smtp_reply cur;
};

void smtp_reply_parser_init(struct smtp_reply_parser *p);

/*
 * Feeds bytes from the server. Returns 1 when a complete reply was parsed
 * into *out (*consumed says how many bytes were used; the rest belongs to
 * the next reply: call again with them), 0 when all bytes were used and
 * more are needed, or a negative errno for a protocol error:
 *   -EPROTO   a line that is not "DDD-text" / "DDD text" / "DDD" with a
 *             code 200..599, a continuation line whose code differs from
 *             the first, a CR not followed by LF, a NUL byte
 * Lines end at LF; a CR right before it is dropped (servers that end lines
 * with a bare LF still work). An enhanced code "C.S.D" is recognised at
 * the start of a line's text when C equals the reply's first digit (2, 4
 * or 5) and S and D are 1-3 digits; the one from the first line is kept.
 *   -EMSGSIZE a line over SMTP_REPLY_LINE_MAX or more than
 *             SMTP_REPLY_LINES_MAX lines
 * After an error the parser must be re-initialised before use.
 * consumed may be NULL only if the caller never feeds more than one reply
 * at a time.
 */
int smtp_reply_feed(struct smtp_reply_parser *p, const char *data, size_t len,
                    struct smtp_reply *out, size_t *consumed);

/*
 * Formats a reply for logs and bounces: "CODE ENH text" with lines joined
 * by a space, into buf. Returns buf.
 */
const char *smtp_reply_format(const struct smtp_reply *r, char *buf, size_t len);

/* 1 if the reply's text (case-insensitive) contains needle. */
int smtp_reply_contains(const struct smtp_reply *r, const char *needle);

#endif
