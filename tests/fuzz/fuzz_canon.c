/*
 * fuzz_canon.c - libFuzzer target for DKIM canonicalization
 * (dkim/dkim.h): the input is read as one header field and as a body,
 * each canonicalized both ways, as a hostile submitted message would be.
 *
 * Beyond "no crash, no leak, no read or write outside a buffer" (every
 * output buffer is allocated to the exact capacity given, so ASan sees
 * an overrun), the outputs must keep what RFC 6376 3.4 promises:
 * - simple header: the field unchanged;
 * - relaxed header: ends with CRLF; no HTAB, no two SPs, no SP before
 *   the final CRLF or around the first colon, no capital in the name;
 *   and, when the input holds no lone CR or LF, a single CRLF, and a
 *   second pass changes nothing;
 * - simple body: the input up to its last non-empty line, plus CRLF;
 * - relaxed body: empty, or lines ending in CRLF with no HTAB, no two
 *   SPs, no SP before a CRLF, no empty line at the end; a second pass,
 *   or a pass over the simple form, changes nothing;
 * - dkim_body_hash of a message with that body is the SHA-256 of the
 *   canonical body dkim_canon_body gives; so is dkim_body_hash of the
 *   input read as a whole message, with the body found here after the
 *   first empty line.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
/* Relative, so that registering this target takes no include directory. */
#include "../../dkim/dkim.h"

#include <bearssl.h>
#include <sodium.h>

static int has_lone_cr_lf(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
            i++;
        else if (p[i] == '\r' || p[i] == '\n')
            return 1;
    }
    return 0;
}

static int contains(const char *p, size_t n, const char *needle)
{
    size_t k = strlen(needle);

    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(p + i, needle, k) == 0)
            return 1;
    return 0;
}

static void check_header(const char *in, size_t len)
{
    size_t cap = 2 * len + 8;
    char *out = malloc(cap), *again = malloc(cap + 8);
    const char *colon = len ? memchr(in, ':', len) : NULL;
    ssize_t r;

    FUZZ_ASSERT(out && again);

    r = dkim_canon_header(DKIM_CANON_SIMPLE, in, len, out, cap);
    if (!colon) {
        FUZZ_ASSERT(r == -EINVAL);
        FUZZ_ASSERT(dkim_canon_header(DKIM_CANON_RELAXED, in, len, out, cap) == -EINVAL);
        goto done;
    }
    FUZZ_ASSERT(r == (ssize_t)len && memcmp(out, in, len) == 0);

    r = dkim_canon_header(DKIM_CANON_RELAXED, in, len, out, cap);
    FUZZ_ASSERT(r >= 3 && (size_t)r <= len + 2);
    {
        size_t n = (size_t)r;
        const char *c = memchr(out, ':', n);

        FUZZ_ASSERT(out[n - 2] == '\r' && out[n - 1] == '\n');
        FUZZ_ASSERT(out[n - 3] != ' ');
        FUZZ_ASSERT(!memchr(out, '\t', n));
        FUZZ_ASSERT(!contains(out, n, "  "));
        FUZZ_ASSERT(c != NULL);
        FUZZ_ASSERT(c[1] != ' ' && (c == out || c[-1] != ' '));
        for (const char *p = out; p < c; p++)
            FUZZ_ASSERT(*p < 'A' || *p > 'Z');
        if (!has_lone_cr_lf(in, len)) {
            FUZZ_ASSERT(!contains(out, n - 2, "\r\n"));
            FUZZ_ASSERT(dkim_canon_header(DKIM_CANON_RELAXED, out, n, again, cap + 8) == r);
            FUZZ_ASSERT(memcmp(again, out, n) == 0);
        }

        /* Exactly the size fits; one byte less is refused, in a buffer
         * of that size (ASan checks nothing is written past it). */
        {
            char *tight = malloc(n);

            FUZZ_ASSERT(tight);
            FUZZ_ASSERT(dkim_canon_header(DKIM_CANON_RELAXED, in, len, tight, n) == r);
            FUZZ_ASSERT(memcmp(tight, out, n) == 0);
            FUZZ_ASSERT(dkim_canon_header(DKIM_CANON_RELAXED, in, len, tight, n - 1) == -ENOSPC);
            free(tight);
        }
    }
done:
    free(out);
    free(again);
}

static void sha256_b64(const char *p, size_t n, char out[DKIM_BODY_HASH_B64])
{
    br_sha256_context sha;
    unsigned char d[br_sha256_SIZE];

    br_sha256_init(&sha);
    br_sha256_update(&sha, p, n);
    br_sha256_out(&sha, d);
    sodium_bin2base64(out, DKIM_BODY_HASH_B64, d, sizeof d, sodium_base64_VARIANT_ORIGINAL);
}

/* Canonicalizes and checks the body hash agrees; returns the output. */
static char *canon_body(enum dkim_canon c, const char *in, size_t len, size_t *n)
{
    char *out = NULL, *msg = malloc(len + 2), bh[DKIM_BODY_HASH_B64], want[DKIM_BODY_HASH_B64];

    FUZZ_ASSERT(msg);
    FUZZ_ASSERT(dkim_canon_body(c, in, len, &out, n) == 0);
    FUZZ_ASSERT(out[*n] == '\0');
    /* A message whose first line is empty: all of it after that is body. */
    memcpy(msg, "\r\n", 2);
    if (len)
        memcpy(msg + 2, in, len);
    dkim_body_hash(c, msg, len + 2, bh);
    sha256_b64(out, *n, want);
    FUZZ_ASSERT(strcmp(bh, want) == 0);
    free(msg);
    return out;
}

static void check_body(const char *in, size_t len)
{
    size_t sn, rn, n2;
    char *s = canon_body(DKIM_CANON_SIMPLE, in, len, &sn);
    char *r = canon_body(DKIM_CANON_RELAXED, in, len, &rn);
    char *again;

    FUZZ_ASSERT(sn >= 2 && s[sn - 2] == '\r' && s[sn - 1] == '\n');
    FUZZ_ASSERT(sn - 2 <= len && memcmp(s, in, sn - 2) == 0);
    FUZZ_ASSERT(sn == 2 || sn < 4 || memcmp(s + sn - 4, "\r\n\r\n", 4) != 0);

    if (rn > 0) {
        FUZZ_ASSERT(rn >= 3 && r[rn - 2] == '\r' && r[rn - 1] == '\n');
        FUZZ_ASSERT(rn < 4 || memcmp(r + rn - 4, "\r\n\r\n", 4) != 0);
    }
    FUZZ_ASSERT(!memchr(r, '\t', rn));
    FUZZ_ASSERT(!contains(r, rn, "  "));
    FUZZ_ASSERT(!contains(r, rn, " \r\n"));

    again = canon_body(DKIM_CANON_RELAXED, r, rn, &n2);
    FUZZ_ASSERT(n2 == rn && memcmp(again, r, rn) == 0);
    free(again);
    again = canon_body(DKIM_CANON_RELAXED, s, sn, &n2);
    FUZZ_ASSERT(n2 == rn && memcmp(again, r, rn) == 0);
    free(again);
    again = canon_body(DKIM_CANON_SIMPLE, s, sn, &n2);
    FUZZ_ASSERT(n2 == sn && memcmp(again, s, sn) == 0);
    free(again);

    free(s);
    free(r);
}

/* Where the body of msg starts, found independently of canon.c: after
 * the first line that is empty (CRLF at a line start), else at the end. */
static size_t body_offset(const char *msg, size_t len)
{
    size_t pos = 0;

    while (pos + 2 <= len) {
        size_t i;

        if (msg[pos] == '\r' && msg[pos + 1] == '\n')
            return pos + 2;
        for (i = pos; i + 1 < len && !(msg[i] == '\r' && msg[i + 1] == '\n'); i++)
            ;
        if (i + 1 >= len)
            break;
        pos = i + 2;
    }
    return len;
}

static void check_message(const char *msg, size_t len)
{
    size_t off = body_offset(msg, len);

    for (int c = DKIM_CANON_SIMPLE; c <= DKIM_CANON_RELAXED; c++) {
        char bh[DKIM_BODY_HASH_B64], want[DKIM_BODY_HASH_B64], *out = NULL;
        size_t n = 0;

        dkim_body_hash((enum dkim_canon)c, msg, len, bh);
        FUZZ_ASSERT(dkim_canon_body((enum dkim_canon)c, msg + off, len - off, &out, &n) == 0);
        sha256_b64(out, n, want);
        FUZZ_ASSERT(strcmp(bh, want) == 0);
        free(out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly size bytes: a read past the input is caught even
     * where libFuzzer's own buffer would have room. */
    char *in = malloc(size ? size : 1);

    FUZZ_ASSERT(in);
    if (size)
        memcpy(in, data, size);
    check_header(in, size);
    check_body(in, size);
    check_message(in, size);
    free(in);
    return 0;
}
