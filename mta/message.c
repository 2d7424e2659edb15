/*
 * message.c - the message being submitted: a streaming reader that turns
 * raw input into CRLF-normalised lines of at most MESSAGE_LINE_MAX octets,
 * and the header work sendmail does before queueing.
 *
 * SECURITY: the bytes fed to the reader come from a local user or a remote
 * SMTP client and are trusted for nothing. The reader never holds more than
 * one line (MESSAGE_LINE_MAX + 2 octets) beyond what it has appended, and
 * never lets the message grow past max_size. The header functions trust
 * only the invariants the reader establishes (CRLF line endings, no NUL);
 * they still bound every scan by m->len. Names and values passed to
 * message_header_append/prepend are checked so that a caller cannot smuggle
 * a line break that would start a new header field.
 *
 * The data buffer is kept NUL-terminated (when allocated) as a convenience
 * for callers and tests; len never counts that NUL.
 */
#include "message.h"
#include "address.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

/* Bits of message_reader.state; the first error (positive errno) sits above them. */
enum {
    READER_CR = 0x1,          /* last byte was a CR: a following LF belongs to it */
    READER_DOT_PENDING = 0x2, /* the line so far is one '.' that may be the end marker */
    READER_DOT_CR = 0x4,      /* end marker ended with CR; swallow an LF that follows */
    READER_FIELD_SEEN = 0x8,  /* a header field was emitted, so WSP lines continue it */
    READER_BARE_EOL = 0x10,   /* the last line ended with a bare CR or LF, not CRLF */
    READER_ERROR_SHIFT = 8,
};

enum line_kind {
    LINE_EMPTY,
    LINE_FIELD,
    LINE_CONTINUATION,
    LINE_OTHER,
};

static int is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 5322 2.2: field names are printable US-ASCII except ':'. */
static int is_field_name_char(char c)
{
    return c >= 33 && c <= 126 && c != ':';
}

/*
 * Classifies one line (without its line ending) of the header section.
 * field_seen says whether a header field came before, which is what makes
 * a line starting with whitespace a continuation rather than body text.
 */
static enum line_kind line_kind(const char *p, size_t n, int field_seen)
{
    size_t i = 0;

    if (n == 0)
        return LINE_EMPTY;
    if (is_wsp(p[0]))
        return field_seen ? LINE_CONTINUATION : LINE_OTHER;
    while (i < n && is_field_name_char(p[i]))
        i++;
    if (i > 0 && i < n && p[i] == ':')
        return LINE_FIELD;
    return LINE_OTHER;
}

/* Makes room for extra more bytes plus the terminating NUL. */
static int message_reserve(struct message *m, size_t extra)
{
    size_t need, cap;
    char *p;

    if (extra > SIZE_MAX - 1 - m->len)
        return -ENOMEM;
    need = m->len + extra + 1;
    if (need <= m->cap)
        return 0;
    cap = m->cap ? m->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    p = realloc(m->data, cap);
    if (!p)
        return -ENOMEM;
    m->data = p;
    m->cap = cap;
    return 0;
}

/* Inserts n bytes at offset at (0 <= at <= m->len). */
static int message_insert(struct message *m, size_t at, const char *p, size_t n)
{
    int rc = message_reserve(m, n);

    if (rc < 0)
        return rc;
    memmove(m->data + at + n, m->data + at, m->len - at);
    memcpy(m->data + at, p, n);
    m->len += n;
    m->data[m->len] = '\0';
    return 0;
}

static void message_cut(struct message *m, size_t from, size_t to)
{
    memmove(m->data + from, m->data + to, m->len - to);
    m->len -= to - from;
    m->data[m->len] = '\0';
}

void message_init(struct message *m)
{
    m->data = NULL;
    m->len = 0;
    m->cap = 0;
    m->folded_lines = 0;
}

void message_free(struct message *m)
{
    free(m->data);
    message_init(m);
}

/* ---- the reader ---- */

void message_reader_init(struct message_reader *r, struct message *m, size_t max_size, int flags)
{
    memset(r, 0, sizeof *r);
    r->msg = m;
    r->max_size = max_size;
    r->flags = flags;
}

static int reader_error(const struct message_reader *r)
{
    return -(r->state >> READER_ERROR_SHIFT);
}

/* Only the first error is kept: it is the one that explains the others. */
static void reader_set_error(struct message_reader *r, int err)
{
    if (reader_error(r) == 0)
        r->state |= -err << READER_ERROR_SHIFT;
}

/* Appends p[0..n) and CRLF, or discards them once an error was met. */
static void reader_emit(struct message_reader *r, const char *p, size_t n)
{
    struct message *m = r->msg;

    if (reader_error(r))
        return;
    if (m->len > r->max_size || n + 2 > r->max_size - m->len) {
        reader_set_error(r, -EMSGSIZE);
        return;
    }
    if (message_reserve(m, n + 2) < 0) {
        reader_set_error(r, -ENOMEM);
        return;
    }
    memcpy(m->data + m->len, p, n);
    memcpy(m->data + m->len + n, "\r\n", 3);
    m->len += n + 2;
}

/* Updates the header/body state for a line about to be emitted. */
static void reader_classify(struct message_reader *r, const char *p, size_t n)
{
    enum line_kind kind;

    if (r->in_body)
        return;
    kind = line_kind(p, n, r->state & READER_FIELD_SEEN);
    if (kind == LINE_FIELD)
        r->state |= READER_FIELD_SEEN;
    else if (kind != LINE_CONTINUATION)
        r->in_body = 1;
}

static void reader_line_end(struct message_reader *r)
{
    reader_classify(r, r->line, r->line_len);
    reader_emit(r, r->line, r->line_len);
    r->line_len = 0;
    r->line_continued = 0;
}

/*
 * Where to fold a header line of n octets (n == MESSAGE_LINE_MAX + 1): at a
 * whitespace that starts a word, so that the continuation is never blank,
 * else at the last whitespace; never at or before the first non-blank
 * octet, so that the first part is never blank either (a blank line in the
 * header section would end it). Returns 0 when there is no such place.
 */
static size_t header_fold_point(const char *l, size_t n)
{
    size_t first = 0, p, any = 0;

    while (first < n && is_wsp(l[first]))
        first++;
    for (p = n - 1; p > first; p--) {
        if (!is_wsp(l[p]))
            continue;
        if (p + 1 < n && !is_wsp(l[p + 1]))
            return p;
        if (!any)
            any = p;
    }
    return any;
}

/* The line holds MESSAGE_LINE_MAX octets and c would make it too long. */
static void reader_fold(struct message_reader *r, char c)
{
    char *l = r->line;
    size_t n = MESSAGE_LINE_MAX, p;

    if (!r->line_continued)
        r->msg->folded_lines++;
    reader_classify(r, l, n);
    l[n++] = c;
    r->line_continued = 1;
    if (r->in_body) {
        reader_emit(r, l, MESSAGE_LINE_MAX);
        l[0] = c;
        r->line_len = 1;
        return;
    }
    p = header_fold_point(l, n);
    if (p > 0) {
        reader_emit(r, l, p);
        memmove(l, l + p, n - p);
        r->line_len = n - p;
        return;
    }
    reader_emit(r, l, MESSAGE_LINE_MAX);
    l[0] = ' ';
    l[1] = c;
    r->line_len = 2;
}

static void reader_add(struct message_reader *r, char c)
{
    if (r->line_len == MESSAGE_LINE_MAX)
        reader_fold(r, c);
    else
        r->line[r->line_len++] = c;
}

/* A "." line that is not the end marker: content, with nothing to unstuff. */
static void reader_dot_line(struct message_reader *r)
{
    reader_add(r, '.');
    reader_line_end(r);
}

/*
 * Once the end marker is seen the return is 1 even if an error was met
 * before it, because the caller needs *consumed to find what follows; the
 * error comes out of message_reader_finish(). Until then an error is
 * returned by every call, and the bytes are still consumed and scanned for
 * the end marker.
 *
 * In SMTP (MESSAGE_DOT_UNSTUFF) only CRLF "." CRLF ends the data (RFC 5321
 * 4.1.1.4), though a bare CR or LF still ends a line of content: a server
 * that also took "LF . LF" as the end could be handed a second message
 * hidden inside the first by a client, past an upstream relay that reads
 * the same bytes as content ("SMTP smuggling"). sendmail's stdin has no
 * such peer, so there any line ending will do.
 */
int message_reader_feed(struct message_reader *r, const char *data, size_t len, size_t *consumed)
{
    int dots = r->flags & (MESSAGE_DOT_ENDS | MESSAGE_DOT_UNSTUFF);
    int smtp = r->flags & MESSAGE_DOT_UNSTUFF;
    size_t i;

    if (consumed)
        *consumed = 0;
    if (r->done)
        return 1;
    for (i = 0; i < len; i++) {
        char c = data[i];

        if (r->state & READER_DOT_CR) {
            r->state &= ~READER_DOT_CR;
            if (c == '\n' || !smtp) {
                r->done = 1;
                if (consumed)
                    *consumed = c == '\n' ? i + 1 : i;
                return 1;
            }
            reader_dot_line(r);
            r->state |= READER_BARE_EOL;
        }
        if (r->state & READER_CR) {
            r->state &= ~READER_CR;
            if (c == '\n') {
                r->state &= ~READER_BARE_EOL;
                continue;
            }
        }
        if (c == '\r' || c == '\n') {
            if (r->state & READER_DOT_PENDING) {
                r->state &= ~READER_DOT_PENDING;
                if (!smtp && c == '\n') {
                    r->done = 1;
                    if (consumed)
                        *consumed = i + 1;
                    return 1;
                }
                if (!smtp || (c == '\r' && !(r->state & READER_BARE_EOL))) {
                    /* The LF may be in the next feed; it belongs to the marker. */
                    r->state |= READER_DOT_CR;
                    continue;
                }
                reader_add(r, '.');
            }
            reader_line_end(r);
            /* Until an LF makes it CRLF, a CR is a bare one. */
            r->state |= READER_BARE_EOL;
            if (c == '\r')
                r->state |= READER_CR;
            continue;
        }
        /* The NUL still counts as content, so ".NUL" is no end marker. */
        if (c == '\0')
            reader_set_error(r, -EINVAL);
        if (r->state & READER_DOT_PENDING) {
            r->state &= ~READER_DOT_PENDING;
            /* RFC 5321 4.5.2: a leading period is deleted when more follows. */
            if (!smtp)
                reader_add(r, '.');
        } else if (dots && c == '.' && r->line_len == 0 && !r->line_continued) {
            r->state |= READER_DOT_PENDING;
            continue;
        }
        reader_add(r, c);
    }
    if (consumed)
        *consumed = len;
    return reader_error(r);
}

int message_reader_finish(struct message_reader *r)
{
    if (r->done)
        return reader_error(r);
    if (r->state & (READER_DOT_CR | READER_DOT_PENDING)) {
        /* A last "." without (CR)LF ends sendmail's input; in SMTP it is content. */
        if (r->flags & MESSAGE_DOT_UNSTUFF)
            reader_dot_line(r);
        else
            r->done = 1;
    } else if (r->line_len > 0) {
        reader_line_end(r);
    }
    r->state &= ~(READER_CR | READER_DOT_CR | READER_DOT_PENDING);
    return reader_error(r);
}

/* ---- the header section ---- */

/* One header field: [start, end) without the final CRLF, next after it. */
struct field {
    size_t start;
    size_t name_len;
    size_t end;
    size_t next;
};

/* Returns the end of the line that starts at pos (before CRLF); *next after it. */
static size_t line_end(const struct message *m, size_t pos, size_t *next)
{
    const char *nl = memchr(m->data + pos, '\n', m->len - pos);
    size_t e;

    if (!nl) {
        *next = m->len;
        return m->len;
    }
    e = (size_t)(nl - m->data);
    *next = e + 1;
    return e > pos && m->data[e - 1] == '\r' ? e - 1 : e;
}

/*
 * Reads the header field starting at *pos. Returns 1 and advances *pos past
 * the field and its continuation lines, or 0 at the end of the header
 * section (*pos is left at the line that ended it).
 */
static int field_next(const struct message *m, size_t *pos, struct field *f)
{
    size_t next, e, q;

    if (*pos >= m->len)
        return 0;
    e = line_end(m, *pos, &next);
    if (line_kind(m->data + *pos, e - *pos, 0) != LINE_FIELD)
        return 0;
    f->start = *pos;
    f->name_len = (size_t)((const char *)memchr(m->data + *pos, ':', e - *pos) - m->data) - *pos;
    for (;;) {
        f->end = e;
        f->next = next;
        q = next;
        if (q >= m->len)
            break;
        e = line_end(m, q, &next);
        if (line_kind(m->data + q, e - q, 1) != LINE_CONTINUATION)
            break;
    }
    *pos = f->next;
    return 1;
}

static int field_is(const struct message *m, const struct field *f, const char *name)
{
    return strlen(name) == f->name_len && strncasecmp(m->data + f->start, name, f->name_len) == 0;
}

/*
 * Returns the start of the line that ends the header section (the empty
 * line, the first line that is not a field, or m->len); *body is where the
 * body starts and *has_separator whether that line was empty.
 */
static size_t section_end(const struct message *m, size_t *body, int *has_separator)
{
    struct field f;
    size_t pos = 0, next;

    while (field_next(m, &pos, &f))
        ;
    *has_separator = pos < m->len && line_end(m, pos, &next) == pos;
    *body = *has_separator ? next : pos;
    return pos;
}

size_t message_body_offset(const struct message *m, int *has_separator)
{
    size_t body;
    int sep;

    section_end(m, &body, &sep);
    if (has_separator)
        *has_separator = sep;
    return body;
}

size_t message_header_count(const struct message *m, const char *name)
{
    struct field f;
    size_t pos = 0, count = 0;

    while (field_next(m, &pos, &f))
        if (field_is(m, &f, name))
            count++;
    return count;
}

int message_header_get(const struct message *m, const char *name, size_t index, const char **value,
                       size_t *len)
{
    struct field f;
    size_t pos = 0;

    while (field_next(m, &pos, &f)) {
        if (!field_is(m, &f, name) || index-- > 0)
            continue;
        *value = m->data + f.start + f.name_len + 1;
        *len = f.end - (f.start + f.name_len + 1);
        return 0;
    }
    return -ENOENT;
}

size_t message_header_remove(struct message *m, const char *name)
{
    struct field f;
    size_t pos = 0, removed = 0;

    while (field_next(m, &pos, &f)) {
        if (!field_is(m, &f, name))
            continue;
        message_cut(m, f.start, f.next);
        pos = f.start;
        removed++;
    }
    return removed;
}

/*
 * Checks that value can only continue its own field: no NUL, and CR or LF
 * only as CRLF followed by whitespace (folding).
 */
static int value_is_safe(const char *value)
{
    const char *p;

    for (p = value; *p; p++) {
        if (*p == '\n')
            return 0;
        if (*p == '\r') {
            if (p[1] != '\n' || !is_wsp(p[2]))
                return 0;
            p++;
        }
    }
    return 1;
}

/*
 * Builds "name: value CRLF" in out, folded like reader input so that no
 * line exceeds MESSAGE_LINE_MAX.
 */
static int field_format(struct message *out, const char *name, const char *value)
{
    struct message_reader r;
    size_t n = strlen(name);
    int rc;

    if (n == 0)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!is_field_name_char(name[i]))
            return -EINVAL;
    if (!value_is_safe(value))
        return -EINVAL;
    message_reader_init(&r, out, SIZE_MAX, 0);
    message_reader_feed(&r, name, n, NULL);
    message_reader_feed(&r, ": ", 2, NULL);
    message_reader_feed(&r, value, strlen(value), NULL);
    message_reader_feed(&r, "\r\n", 2, NULL);
    rc = message_reader_finish(&r);
    out->folded_lines = 0;
    return rc;
}

/*
 * Inserts the field at offset at, followed by an empty line when
 * add_separator is set.
 */
static int field_insert(struct message *m, size_t at, const char *name, const char *value,
                        int add_separator)
{
    struct message field;
    int rc;

    message_init(&field);
    rc = field_format(&field, name, value);
    if (rc < 0)
        goto fail;
    if (add_separator) {
        rc = message_insert(&field, field.len, "\r\n", 2);
        if (rc < 0)
            goto fail;
    }
    rc = message_insert(m, at, field.data, field.len);
fail:
    message_free(&field);
    return rc;
}

int message_header_append(struct message *m, const char *name, const char *value)
{
    size_t body, at;
    int sep;

    at = section_end(m, &body, &sep);
    return field_insert(m, at, name, value, !sep);
}

/*
 * When the message has no header section at all, the first line of the
 * body could start with whitespace or look like a field once a field is
 * above it; the empty line keeps it in the body, as append does.
 */
int message_header_prepend(struct message *m, const char *name, const char *value)
{
    size_t body;
    int sep;

    section_end(m, &body, &sep);
    return field_insert(m, 0, name, value, body == 0);
}

/* ---- message_add_missing ---- */

static int format_date(char *buf, size_t size, time_t now)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    long off;
    int n;

    if (!localtime_r(&now, &tm) || tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 ||
        tm.tm_mon > 11)
        return -EINVAL;
    off = tm.tm_gmtoff / 60;
    n = snprintf(buf, size, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld", days[tm.tm_wday],
                 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
    if (n < 0 || (size_t)n >= size)
        return -EINVAL;
    return 0;
}

size_t message_format_date(time_t t, char *out, size_t len)
{
    if (format_date(out, len, t) < 0) {
        if (len)
            out[0] = 0;
        return 0;
    }
    return strlen(out);
}

static int format_message_id(char *buf, size_t size, time_t now, const char *hostname)
{
    unsigned long long rnd;
    struct tm tm;
    int n;

    if (!address_hostname_valid(hostname) || !gmtime_r(&now, &tm))
        return -EINVAL;
    if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return errno ? -errno : -EIO;
    n = snprintf(buf, size, "<%04d%02d%02d%02d%02d%02d.%016llx@%s>", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, rnd, hostname);
    if (n < 0 || (size_t)n >= size)
        return -EINVAL;
    return 0;
}

/* RFC 5322 3.2.3 specials: these force a display name into a quoted-string. */
static int is_special(unsigned char c)
{
    return c != '\0' && strchr("()<>[]:;@\\,.\"", c) != NULL;
}

/* RFC 2047 5: encode when the phrase cannot be written as US-ASCII text. */
static int needs_encoding(unsigned char c)
{
    return c < 0x20 || c >= 0x7f;
}

static size_t base64_encode(char *out, const unsigned char *in, size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i, o = 0;

    for (i = 0; i + 2 < n; i += 3) {
        out[o++] = alphabet[in[i] >> 2];
        out[o++] = alphabet[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
        out[o++] = alphabet[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
        out[o++] = alphabet[in[i + 2] & 63];
    }
    if (i < n) {
        out[o++] = alphabet[in[i] >> 2];
        if (i + 1 < n) {
            out[o++] = alphabet[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
            out[o++] = alphabet[(in[i + 1] & 15) << 2];
        } else {
            out[o++] = alphabet[(in[i] & 3) << 4];
            out[o++] = '=';
        }
        out[o++] = '=';
    }
    return o;
}

/*
 * RFC 2047 encoded-words are at most 75 octets: "=?UTF-8?B?" + 60 base64
 * octets + "?=" carries 45 octets of the name. Words are cut between UTF-8
 * characters (RFC 2047 5: a multi-octet character must not be split) and
 * separated by a space, where the field may be folded.
 */
#define ENCODED_CHUNK 45

/* Writes the From value "name <addr>" or "addr" into a malloc'd *out. */
static int format_from(char **out, const char *full_name, const char *addr)
{
    const unsigned char *name = (const unsigned char *)(full_name ? full_name : "");
    size_t n = strlen((const char *)name), alen = strlen(addr), i, size, o = 0;
    int quote = 0, encode = 0, blank = 1;
    char *buf = NULL;

    *out = NULL;
    for (i = 0; i < n; i++) {
        if (needs_encoding(name[i]))
            encode = 1;
        else if (is_special(name[i]))
            quote = 1;
        if (!is_wsp((char)name[i]))
            blank = 0;
    }
    if (blank)
        n = 0;
    /* Worst cases: every octet escaped, or 4/3 growth plus 13 octets a word. */
    if (n > (SIZE_MAX - alen - 32) / 4)
        return -ENOMEM;
    size = 4 * n + alen + 32;
    buf = malloc(size);
    if (!buf)
        return -ENOMEM;
    if (n > 0 && encode) {
        i = 0;
        while (i < n) {
            size_t len = n - i < ENCODED_CHUNK ? n - i : ENCODED_CHUNK;
            while (i + len < n && len > 1 && (name[i + len] & 0xc0) == 0x80)
                len--;
            if (o)
                buf[o++] = ' ';
            memcpy(buf + o, "=?UTF-8?B?", 10);
            o += 10;
            o += base64_encode(buf + o, name + i, len);
            memcpy(buf + o, "?=", 2);
            o += 2;
            i += len;
        }
    } else if (n > 0 && quote) {
        buf[o++] = '"';
        for (i = 0; i < n; i++) {
            if (name[i] == '"' || name[i] == '\\')
                buf[o++] = '\\';
            buf[o++] = (char)name[i];
        }
        buf[o++] = '"';
    } else if (n > 0) {
        memcpy(buf, name, n);
        o = n;
    }
    if (n > 0) {
        buf[o++] = ' ';
        buf[o++] = '<';
    }
    memcpy(buf + o, addr, alen);
    o += alen;
    if (n > 0)
        buf[o++] = '>';
    buf[o] = '\0';
    *out = buf;
    return 0;
}

int message_add_missing(struct message *m, const struct message_defaults *d)
{
    char buf[ADDRESS_DOMAIN_MAX + 64];
    char *from = NULL;
    int rc = 0;

    if (!d || !d->hostname || !d->from_address || !d->from_address[0])
        return -EINVAL;
    if (message_header_count(m, "Date") == 0) {
        rc = format_date(buf, sizeof buf, d->now);
        if (rc < 0)
            goto fail;
        rc = message_header_append(m, "Date", buf);
        if (rc < 0)
            goto fail;
    }
    if (message_header_count(m, "Message-ID") == 0) {
        rc = format_message_id(buf, sizeof buf, d->now, d->hostname);
        if (rc < 0)
            goto fail;
        rc = message_header_append(m, "Message-ID", buf);
        if (rc < 0)
            goto fail;
    }
    if (message_header_count(m, "From") == 0) {
        rc = format_from(&from, d->full_name, d->from_address);
        if (rc < 0)
            goto fail;
        rc = message_header_append(m, "From", from);
    }
fail:
    free(from);
    return rc;
}

/* ---- recipients ---- */

int message_extract_recipients(const struct message *m, int (*cb)(void *arg, const char *addr),
                               void *arg)
{
    static const char *const plain[] = {"To", "Cc", "Bcc"};
    static const char *const resent[] = {"Resent-To", "Resent-Cc", "Resent-Bcc"};
    const char *const *names = plain;
    struct field f;
    size_t pos = 0, i;
    int rc;

    while (field_next(m, &pos, &f))
        if (f.name_len >= 7 && strncasecmp(m->data + f.start, "Resent-", 7) == 0)
            names = resent;
    pos = 0;
    while (field_next(m, &pos, &f)) {
        for (i = 0; i < 3; i++)
            if (field_is(m, &f, names[i]))
                break;
        if (i == 3)
            continue;
        rc = address_list_parse(m->data + f.start + f.name_len + 1,
                                f.end - (f.start + f.name_len + 1), cb, arg);
        if (rc != 0)
            return rc;
    }
    return 0;
}

void message_remove_bcc(struct message *m)
{
    message_header_remove(m, "Bcc");
    message_header_remove(m, "Resent-Bcc");
}

int message_has_8bit(const struct message *m)
{
    size_t i;

    for (i = 0; i < m->len; i++)
        if ((unsigned char)m->data[i] & 0x80)
            return 1;
    return 0;
}
