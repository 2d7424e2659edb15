/*
 * message.h - a message being submitted: line-ending normalisation of the
 * raw input, and the header work sendmail does before queueing (missing
 * Date/Message-ID/From, -t recipient extraction, Bcc removal).
 *
 * Input is untrusted bytes from a user or an SMTP client. Every operation
 * is bounded by the max_size given to the reader; the content is always
 * CRLF-normalised, ends with CRLF, holds no NUL and no line over
 * MESSAGE_LINE_MAX octets (excluding CRLF).
 */
#ifndef MTA_MESSAGE_H
#define MTA_MESSAGE_H

#include <stddef.h>
#include <time.h>

#define MESSAGE_LINE_MAX 998 /* RFC 5322 2.1.1, octets before CRLF */

/* The message content. Owned by whoever called message_init(). */
struct message {
    char *data;          /* malloc'd; CRLF line endings */
    size_t len;          /* bytes used */
    size_t cap;          /* bytes allocated */
    size_t folded_lines; /* lines longer than MESSAGE_LINE_MAX that were folded */
};

void message_init(struct message *m);
/* Frees m->data and resets m; safe on an initialised empty message. */
void message_free(struct message *m);

/* Reader flags */
#define MESSAGE_DOT_ENDS 0x1    /* a line holding only "." ends the input (sendmail without -i) */
#define MESSAGE_DOT_UNSTUFF 0x2 /* SMTP DATA: "." ends, and a leading ".." loses one dot */

/*
 * A streaming reader that appends normalised lines to a message. Bare LF,
 * bare CR and CRLF each end a line and become CRLF (a CR at the end of one
 * feed followed by LF at the start of the next is one CRLF). Lines longer
 * than MESSAGE_LINE_MAX are folded, never cut: in the header section at the
 * last whitespace before the limit (the continuation starts with that
 * whitespace; a header line with no whitespace is split and continued with
 * a single space), in the body by inserting CRLF at the limit. NUL bytes are
 * an error. With MESSAGE_DOT_ENDS a "." line ends the input whatever its
 * line endings; with MESSAGE_DOT_UNSTUFF only CRLF "." CRLF does (a "." line
 * next to a bare CR or LF is content), so that no second message can be
 * smuggled inside the first past a relay that reads line endings otherwise.
 */
struct message_reader {
    struct message *msg;
    size_t max_size;
    int flags;
    int state;                       /* private */
    int in_body;                     /* private: past the empty line ending the headers */
    int done;                        /* set once the end marker was seen */
    char line[MESSAGE_LINE_MAX + 2]; /* private: the current line being assembled */
    size_t line_len;                 /* private */
    int line_continued;              /* private: current line continues a folded one */
};

void message_reader_init(struct message_reader *r, struct message *m, size_t max_size, int flags);

/*
 * Feeds len bytes. Returns 1 when the end marker was seen (*consumed says
 * how many bytes were used, the rest belongs to whatever follows), 0 when
 * all bytes were used and more are wanted, -EMSGSIZE when the message
 * would exceed max_size (the reader keeps consuming and discarding until the
 * end marker so that an SMTP session stays in step, and returns -EMSGSIZE
 * again from message_reader_finish), -EINVAL for a NUL byte, -ENOMEM.
 * An error is returned by every call until the end marker; the call that
 * sees the marker returns 1 even after an error, and finish reports it.
 * consumed may be NULL.
 */
int message_reader_feed(struct message_reader *r, const char *data, size_t len, size_t *consumed);

/*
 * At end of input: completes a last line without line ending (adds CRLF).
 * Returns 0, or the first error the reader met (-EMSGSIZE, -EINVAL).
 */
int message_reader_finish(struct message_reader *r);

/*
 * Offset where the body starts and whether the header section ended with an
 * empty line. The header section is the run of header fields (name of
 * printable ASCII 33..126 except ':', then ':') and their continuation
 * lines from the start; it ends at the first empty line (*has_separator =
 * 1, the offset is after that line) or at the first line that is not a
 * header field (*has_separator = 0, the offset is the start of that line).
 * has_separator may be NULL.
 */
size_t message_body_offset(const struct message *m, int *has_separator);

/*
 * Counts the header fields named name (case-insensitive) in the header
 * section.
 */
size_t message_header_count(const struct message *m, const char *name);

/*
 * Finds the index-th (0-based) header field named name (case-insensitive).
 * On success *value points into m->data at the first byte after the colon
 * and *len covers the value up to, not including, the CRLF that ends the
 * field (continuation lines included, with their CRLFs). Returns 0 or
 * -ENOENT.
 */
int message_header_get(const struct message *m, const char *name, size_t index, const char **value,
                       size_t *len);

/* Removes every header field named name. Returns how many were removed. */
size_t message_header_remove(struct message *m, const char *name);

/*
 * Appends "name: value CRLF" at the end of the header section (before the
 * empty line); when the message had no header section or no separator, an
 * empty line is inserted so the body stays the body. Lines over
 * MESSAGE_LINE_MAX are folded as the reader does. Returns 0, -EINVAL when
 * name is not a field name or value holds CR or LF other than folding
 * (CRLF followed by whitespace), or -ENOMEM.
 */
int message_header_append(struct message *m, const char *name, const char *value);

/*
 * Inserts "name: value CRLF" as the very first line (followed by an empty
 * line when the message had no header section, as for append). Returns 0,
 * -EINVAL (as for append) or -ENOMEM.
 */
int message_header_prepend(struct message *m, const char *name, const char *value);

/* What message_add_missing() uses. */
struct message_defaults {
    const char *hostname;     /* right-hand side of Message-ID */
    const char *from_address; /* e.g. "joe@example.com" */
    const char *full_name;    /* display name for From, or NULL */
    time_t now;
};

/*
 * Adds Date (RFC 5322 format in the local time zone, English names whatever
 * the locale), Message-ID ("<timestamp.random@hostname>") and From
 * ("Full Name <addr>", the name quoted when it holds specials and
 * RFC 2047-encoded when it holds 8-bit octets or control characters) when
 * they are missing. Returns 0, -EINVAL when d cannot make valid fields (no
 * or empty from_address, hostname not a dot-atom, a from_address with a
 * line break, a time localtime() cannot represent), an error of
 * getrandom(), or -ENOMEM.
 */
int message_add_missing(struct message *m, const struct message_defaults *d);

/*
 * sendmail -t: if the header section has any Resent-* field, the recipients
 * are those of Resent-To, Resent-Cc and Resent-Bcc; otherwise those of To,
 * Cc and Bcc (RFC 5322 3.6.6). Calls cb(arg, addr) for each addr-spec (see
 * address_list_parse). Returns 0, -EINVAL for a malformed field
 * (-ENAMETOOLONG for an address over ADDRESS_MAX), or cb's non-zero value.
 */
int message_extract_recipients(const struct message *m, int (*cb)(void *arg, const char *addr),
                               void *arg);

/* Removes Bcc and Resent-Bcc fields. */
void message_remove_bcc(struct message *m);

/*
 * Formats t as an RFC 5322 date-time in the local time zone with English
 * names ("Tue, 24 Nov 2026 23:52:05 +0000") into out. Returns the length,
 * or 0 if it does not fit.
 */
size_t message_format_date(time_t t, char *out, size_t len);

/* 1 when any octet has the high bit set, else 0. */
int message_has_8bit(const struct message *m);

#endif
