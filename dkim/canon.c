/*
 * canon.c - DKIM canonicalization (RFC 6376 3.4): the "simple" and
 * "relaxed" forms of a header field and of a body, and the body hash of
 * bh=.
 *
 * Each canonicalizer is written once, as a stream of pieces handed to an
 * emit function (dkim-int.h), so that the buffer the public functions
 * return and the SHA-256 that signing computes are made of the very same
 * bytes; hashing a body allocates nothing, whatever its size.
 *
 * Input trusted: none. The bytes are the message as a local user or a
 * client submitted it; the callers normalise line endings first, but
 * any bytes here (NUL, 8-bit, lone CR or LF) give some output without a
 * read outside the buffer. Only CRLF ends a line: a lone CR or LF is an
 * ordinary byte of the line it is in, and neither is whitespace.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dkim-int.h"

/*
 * Gathers small pieces (a space, a CRLF, a lowercased name) into one
 * emit call; a long run skips the copy. Relaxed output comes in many tiny
 * pieces, and a SHA-256 update per piece would cost more than the copy.
 */
struct stage {
    dkim__emit_fn emit;
    void *ctx;
    size_t n;
    char buf[256];
};

static void stage_flush(struct stage *st)
{
    if (st->n > 0)
        st->emit(st->ctx, st->buf, st->n);
    st->n = 0;
}

static void stage_put(struct stage *st, const char *p, size_t n)
{
    if (n > sizeof st->buf - st->n) {
        stage_flush(st);
        if (n >= sizeof st->buf) {
            st->emit(st->ctx, p, n);
            return;
        }
    }
    memcpy(st->buf + st->n, p, n);
    st->n += n;
}

/* ASCII only, whatever the locale: header names are ASCII, and 8-bit
 * bytes in a broken name must pass unchanged. */
static void stage_put_lower(struct stage *st, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = p[i];

        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (st->n == sizeof st->buf)
            stage_flush(st);
        st->buf[st->n++] = c;
    }
}

static int is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

static int is_crlf(const char *p, size_t i, size_t n)
{
    return p[i] == '\r' && i + 1 < n && p[i + 1] == '\n';
}

/*
 * The relaxed treatment of part of a header field: CRLFs dropped
 * (unfolding), each run of SP/HTAB turned into one SP, whitespace at the
 * end dropped, and at the start too when trim_leading. Every CRLF goes,
 * not only those before whitespace, so that the output never holds a
 * line end the caller did not ask for.
 */
static void relaxed_part(struct stage *st, const char *p, size_t n, int trim_leading, int lower)
{
    int pending = 0, started = !trim_leading;
    size_t i = 0;

    while (i < n) {
        size_t j;

        if (is_crlf(p, i, n)) {
            i += 2;
            continue;
        }
        if (is_wsp(p[i])) {
            pending = 1;
            i++;
            continue;
        }
        for (j = i; j < n && !is_wsp(p[j]) && !is_crlf(p, j, n); j++)
            ;
        if (pending && started)
            stage_put(st, " ", 1);
        pending = 0;
        started = 1;
        if (lower)
            stage_put_lower(st, p + i, j - i);
        else
            stage_put(st, p + i, j - i);
        i = j;
    }
}

int dkim__canon_header_emit(enum dkim_canon c, const char *field, size_t len, int final_crlf,
                            dkim__emit_fn emit, void *ctx)
{
    const char *colon = len > 0 ? memchr(field, ':', len) : NULL;
    struct stage st = {.emit = emit, .ctx = ctx};
    size_t name_len;

    if (!colon)
        return -EINVAL;
    if (c != DKIM_CANON_RELAXED) {
        if (!final_crlf && len >= 2 && field[len - 2] == '\r' && field[len - 1] == '\n')
            len -= 2;
        emit(ctx, field, len);
        return 0;
    }
    name_len = (size_t)(colon - field);
    /* The name keeps a leading space (a field never starts with one; a
     * broken one stays visibly broken) but loses those before the colon. */
    relaxed_part(&st, field, name_len, 0, 1);
    stage_put(&st, ":", 1);
    relaxed_part(&st, colon + 1, len - name_len - 1, 1, 0);
    if (final_crlf)
        stage_put(&st, "\r\n", 2);
    stage_flush(&st);
    return 0;
}

size_t dkim__line_end(const char *p, size_t start, size_t len)
{
    size_t i = start;

    while (i < len) {
        const char *lf = memchr(p + i, '\n', len - i);
        size_t j;

        if (!lf)
            break;
        j = (size_t)(lf - p);
        if (j > start && p[j - 1] == '\r')
            return j - 1;
        i = j + 1;
    }
    return len;
}

/*
 * Relaxed: each line loses the whitespace at its end and has its runs of
 * whitespace turned into one SP; a line left empty is held back, and
 * written only when a non-empty line follows, so that the empty lines at
 * the end vanish (an empty body stays empty).
 */
static void body_relaxed(struct stage *st, const char *p, size_t len)
{
    size_t pos = 0, held = 0;

    while (pos < len) {
        size_t end = dkim__line_end(p, pos, len), first = pos;

        while (first < end && is_wsp(p[first]))
            first++;
        if (first == end) {
            held++;
        } else {
            for (; held > 0; held--)
                stage_put(st, "\r\n", 2);
            if (first > pos)
                stage_put(st, " ", 1);
            relaxed_part(st, p + first, end - first, 1, 0);
            stage_put(st, "\r\n", 2);
        }
        pos = end < len ? end + 2 : len;
    }
}

void dkim__canon_body_emit(enum dkim_canon c, const char *body, size_t len, dkim__emit_fn emit,
                           void *ctx)
{
    struct stage st = {.emit = emit, .ctx = ctx};

    if (c == DKIM_CANON_RELAXED) {
        body_relaxed(&st, body, len);
    } else {
        /* Simple: every CRLF in the input ends a line (two cannot
         * overlap), so dropping the CRLFs at the very end drops the empty
         * lines there and the last line's own CRLF, given back below; a
         * last line without one gets one the same way. Nothing left is
         * the empty body, which is one CRLF. */
        while (len >= 2 && body[len - 2] == '\r' && body[len - 1] == '\n')
            len -= 2;
        if (len > 0)
            emit(ctx, body, len);
        stage_put(&st, "\r\n", 2);
    }
    stage_flush(&st);
}

size_t dkim__split(const char *msg, size_t len, size_t *body)
{
    size_t pos = 0;

    while (pos < len) {
        size_t end;

        if (is_crlf(msg, pos, len)) {
            *body = pos + 2;
            return pos;
        }
        end = dkim__line_end(msg, pos, len);
        if (end == len)
            break;
        pos = end + 2;
    }
    *body = len;
    return len;
}

/* A bounded buffer as an emit target: what does not fit is counted, not
 * written, so the caller learns the size it would need. */
struct bounded {
    char *out;
    size_t cap, n;
};

static void bounded_emit(void *ctx, const char *p, size_t n)
{
    struct bounded *b = ctx;

    if (b->out && n <= b->cap && b->n <= b->cap - n)
        memcpy(b->out + b->n, p, n);
    /* Cannot wrap: everything counted is a copy of bytes in memory. */
    b->n += n;
}

ssize_t dkim_canon_header(enum dkim_canon c, const char *field, size_t len, char *out, size_t cap)
{
    struct bounded b = {.out = out, .cap = cap};
    int rc = dkim__canon_header_emit(c, field, len, 1, bounded_emit, &b);

    if (rc < 0)
        return rc;
    if (b.n > cap)
        return -ENOSPC;
    return (ssize_t)b.n;
}

int dkim_canon_body(enum dkim_canon c, const char *body, size_t len, char **out, size_t *outlen)
{
    /* Two passes, one to measure and one to fill, rather than a bound
     * worked out by hand that a later change could silently break. */
    struct bounded b = {.out = NULL};
    char *buf;

    dkim__canon_body_emit(c, body, len, bounded_emit, &b);
    buf = malloc(b.n + 1);
    if (!buf)
        return -ENOMEM;
    b.out = buf;
    b.cap = b.n;
    b.n = 0;
    dkim__canon_body_emit(c, body, len, bounded_emit, &b);
    buf[b.n] = '\0';
    *out = buf;
    *outlen = b.n;
    return 0;
}

static void sha256_emit(void *ctx, const char *p, size_t n)
{
    br_sha256_update(ctx, p, n);
}

void dkim_body_hash(enum dkim_canon c, const char *msg, size_t len, char out[DKIM_BODY_HASH_B64])
{
    br_sha256_context sha;
    unsigned char digest[br_sha256_SIZE];
    size_t body;

    dkim__split(msg, len, &body);
    br_sha256_init(&sha);
    dkim__canon_body_emit(c, msg + body, len - body, sha256_emit, &sha);
    br_sha256_out(&sha, digest);
    sodium_bin2base64(out, DKIM_BODY_HASH_B64, digest, sizeof digest,
                      sodium_base64_VARIANT_ORIGINAL);
}
