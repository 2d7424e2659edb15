/*
 * reply.c - the parser of SMTP server replies declared in reply.h: bytes
 * in, one struct smtp_reply out per complete reply, pipelined replies told
 * apart by *consumed.
 *
 * SECURITY: trusts no input. The bytes come from the remote server, or
 * from whoever sits between it and us before TLS. The parser holds one
 * line (SMTP_REPLY_LINE_MAX) and one reply's text (SMTP_REPLY_TEXT_MAX),
 * both inside the caller's struct smtp_reply_parser; it never allocates,
 * checks every bound before it copies, and refuses what RFC 5321 4.2 does
 * not allow instead of guessing: a client that guesses where a reply ends
 * can be made to take one reply as the answer to another command.
 */
#include "reply.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* "C.SSS.DDD" (RFC 3463: one digit, then 1-3 and 1-3) and its NUL. */
_Static_assert(sizeof(((struct smtp_reply *)0)->enhanced) >= 10, "enhanced code does not fit");

static bool reply__is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* What is kept for logs and bounces must not carry terminal escapes,
 * header-breaking line ends or bytes of an unknown charset. */
static char reply__safe(char c)
{
    unsigned char u = (unsigned char)c;

    return u < 0x20 || u > 126 ? '?' : c;
}

/* Resets what one reply accumulates, keeping the sticky overflow flag. */
static void reply__reset(struct smtp_reply_parser *p)
{
    p->line_len = 0;
    p->in_reply = 0;
    p->first_code = 0;
    p->cur.code = 0;
    p->cur.enhanced[0] = '\0';
    p->cur.text[0] = '\0';
    p->cur.nlines = 0;
}

void smtp_reply_parser_init(struct smtp_reply_parser *p)
{
    memset(p, 0, sizeof *p);
}

/*
 * Returns the length of the enhanced code "C.S.D" of class cls at the
 * start of s[0..len), or 0 if there is none. The code must end at a space
 * or at the end of the text, so that "2.0.0x" is text, not a code.
 */
static size_t reply__enhanced_len(const char *s, size_t len, char cls)
{
    size_t i, n;
    int part;

    if (len < 5 || s[0] != cls || s[1] != '.')
        return 0;
    i = 2;
    for (part = 0; part < 2; part++) {
        for (n = 0; i < len && n < 4 && reply__is_digit(s[i]); i++)
            n++;
        if (n == 0 || n > 3)
            return 0;
        if (part == 0) {
            if (i >= len || s[i] != '.')
                return 0;
            i++;
        }
    }
    if (i < len && s[i] != ' ')
        return 0;
    return i;
}

/*
 * Appends one line's text to r->text, after a "\n" if newline is set,
 * neutralising it on the way. When it does not fit, the text is cut so
 * that it ends in "..." at exactly SMTP_REPLY_TEXT_MAX - 1 characters;
 * a cut text stays the same whatever comes after, so no flag is needed.
 */
static void reply__append_text(struct smtp_reply *r, const char *s, size_t len, bool newline)
{
    const size_t max = SMTP_REPLY_TEXT_MAX - 1;
    size_t have = strlen(r->text), need = len + (newline ? 1 : 0), room, i;
    bool cut = need > max - have;

    if (cut) {
        if (have > max - 3)
            have = max - 3;
        room = max - 3 - have;
    } else {
        room = need;
    }
    if (newline && room > 0) {
        r->text[have++] = '\n';
        room--;
    }
    for (i = 0; i < len && i < room; i++)
        r->text[have++] = reply__safe(s[i]);
    if (cut) {
        memcpy(r->text + have, "...", 3);
        have += 3;
    }
    r->text[have] = '\0';
}

/*
 * Parses the complete line in p->line (its LF already taken off). Sets
 * *last when it was the reply's final line.
 */
static int reply__line(struct smtp_reply_parser *p, bool *last)
{
    const char *l = p->line;
    size_t len = p->line_len, tlen, skip;
    const char *text;
    int code;

    if (len > 0 && l[len - 1] == '\r')
        len--;
    if (len < 3 || l[0] < '2' || l[0] > '5' || !reply__is_digit(l[1]) || !reply__is_digit(l[2]))
        return -EPROTO;
    if (len > 3 && l[3] != '-' && l[3] != ' ')
        return -EPROTO;
    code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
    if (p->in_reply && code != p->first_code)
        return -EPROTO;
    if (p->cur.nlines >= SMTP_REPLY_LINES_MAX)
        return -EMSGSIZE;

    text = len > 3 ? l + 4 : l + len;
    tlen = len > 3 ? len - 4 : 0;
    skip = reply__enhanced_len(text, tlen, l[0]);
    if (skip > 0) {
        if (!p->in_reply) {
            memcpy(p->cur.enhanced, text, skip);
            p->cur.enhanced[skip] = '\0';
        }
        if (skip < tlen)
            skip++; /* the space after the code */
    }
    reply__append_text(&p->cur, text + skip, tlen - skip, p->in_reply);

    if (!p->in_reply) {
        p->in_reply = 1;
        p->first_code = code;
        p->cur.code = code;
    }
    p->cur.nlines++;
    p->line_len = 0;
    *last = len == 3 || l[3] == ' ';
    return 0;
}

int smtp_reply_feed(struct smtp_reply_parser *p, const char *data, size_t len,
                    struct smtp_reply *out, size_t *consumed)
{
    size_t i = 0;
    bool last = false;
    int rc = 0;

    if (p->overflow) {
        rc = -EMSGSIZE;
        goto done;
    }
    while (i < len && !last) {
        char c = data[i++];

        if (c == '\0') {
            rc = -EPROTO;
            goto done;
        }
        /* A CR is kept in the line until the next byte shows whether it
         * ends the line; that byte may come in a later call. */
        if (p->line_len > 0 && p->line[p->line_len - 1] == '\r' && c != '\n') {
            rc = -EPROTO;
            goto done;
        }
        if (c == '\n') {
            rc = reply__line(p, &last);
            if (rc < 0)
                goto done;
            continue;
        }
        /* line[] has one byte beyond SMTP_REPLY_LINE_MAX, for the CR: a
         * CR is only ever followed by LF, so it is never stored twice. */
        if (c != '\r' && p->line_len >= SMTP_REPLY_LINE_MAX) {
            p->overflow = 1;
            rc = -EMSGSIZE;
            goto done;
        }
        p->line[p->line_len++] = c;
    }
    if (last) {
        /* Without consumed the bytes after this reply would be lost. In
         * a session that does not pipeline they are the server speaking
         * out of turn, or replies a man-in-the-middle put behind the
         * STARTTLS reply to be read after TLS starts: an error, never
         * silence. */
        if (!consumed && i < len) {
            rc = -EPROTO;
            goto done;
        }
        *out = p->cur;
        reply__reset(p);
        rc = 1;
    }
done:
    if (consumed)
        *consumed = i;
    return rc;
}

const char *smtp_reply_format(const struct smtp_reply *r, char *buf, size_t len)
{
    const char *text = r->text, *end;
    size_t n, tlen;
    int w;

    if (len == 0)
        return buf;
    end = memchr(r->text, '\0', sizeof r->text);
    tlen = end ? (size_t)(end - text) : sizeof r->text;
    if (r->enhanced[0])
        w = snprintf(buf, len, "%d %.*s", r->code, (int)sizeof r->enhanced, r->enhanced);
    else
        w = snprintf(buf, len, "%d", r->code);
    if (w < 0) {
        buf[0] = '\0';
        return buf;
    }
    n = (size_t)w;
    if (tlen > 0 && n + 1 < len)
        buf[n++] = ' ';
    for (; tlen > 0 && n + 1 < len; text++, tlen--)
        buf[n++] = *text == '\n' ? ' ' : *text;
    if (n < len)
        buf[n] = '\0';
    /* A cut must show in the log, as it does in the reply's own text. */
    if ((n >= len || tlen > 0) && len > 3)
        memcpy(buf + len - 4, "...", 4);
    return buf;
}

static char reply__lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

int smtp_reply_contains(const struct smtp_reply *r, const char *needle)
{
    size_t nlen = strlen(needle), tlen, i, j;
    const char *end = memchr(r->text, '\0', sizeof r->text);

    tlen = end ? (size_t)(end - r->text) : sizeof r->text;
    if (nlen > tlen)
        return 0;
    for (i = 0; i + nlen <= tlen; i++) {
        for (j = 0; j < nlen && reply__lower(r->text[i + j]) == reply__lower(needle[j]); j++)
            continue;
        if (j == nlen)
            return 1;
    }
    return 0;
}
