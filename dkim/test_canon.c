/*
 * test_canon.c - DKIM canonicalization against golden files (argv[1] is
 * dkim/testdata; its README gives the naming), plus the body hash, the
 * error returns and the edges the files cannot show (no empty line, a
 * header that is all empty line).
 */
#include "dkim.h"
#include "check.h"

#include <bearssl.h>
#include <dirent.h>
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>

static const char *testdata;

/* Reads dir/name whole; NULL when it cannot. The caller frees. */
static char *read_file(const char *name, size_t *len)
{
    char path[4096];
    FILE *f;
    char *buf = NULL;
    long n;

    snprintf(path, sizeof path, "%s/%s", testdata, name);
    f = fopen(path, "rb");
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        if (buf) {
            buf[n] = '\0';
            *len = (size_t)n;
        }
    }
    fclose(f);
    return buf;
}

/* Prints where two byte strings first differ, bytes escaped. */
static void show_diff(const char *what, const char *got, size_t glen, const char *want, size_t wlen)
{
    size_t i = 0;

    while (i < glen && i < wlen && got[i] == want[i])
        i++;
    fprintf(stderr, "%s: got %zu bytes, want %zu; first difference at %zu:\n  got:  ", what, glen,
            wlen, i);
    for (size_t j = i; j < glen && j < i + 24; j++)
        fprintf(stderr, "\\x%02x", (unsigned char)got[j]);
    fprintf(stderr, "\n  want: ");
    for (size_t j = i; j < wlen && j < i + 24; j++)
        fprintf(stderr, "\\x%02x", (unsigned char)want[j]);
    fprintf(stderr, "\n");
}

static void check_bytes(const char *what, const char *got, size_t glen, const char *want,
                        size_t wlen)
{
    if (glen != wlen || memcmp(got, want, glen) != 0) {
        show_diff(what, got, glen, want, wlen);
        check_failures++;
    }
}

/* Canonicalizes each field of the header hdr (split here, independently
 * of sign.c) and appends the results to out. Returns the length. */
static size_t canon_header_all(enum dkim_canon c, const char *hdr, size_t len, char *out,
                               size_t cap, const char *name)
{
    size_t pos = 0, n = 0;

    while (pos < len) {
        size_t end = pos;
        ssize_t r;

        /* A field: this line and every next one starting with SP/HTAB. */
        do {
            while (end < len && !(hdr[end] == '\n' && end > pos && hdr[end - 1] == '\r'))
                end++;
            if (end < len)
                end++;
        } while (end < len && (hdr[end] == ' ' || hdr[end] == '\t'));

        r = dkim_canon_header(c, hdr + pos, end - pos, out + n, cap - n);
        if (r < 0) {
            fprintf(stderr, "%s: dkim_canon_header at %zu: %zd\n", name, pos, r);
            check_failures++;
            return n;
        }
        /* The exact size fits; one byte less does not. */
        if (r > 0) {
            char *tight = malloc((size_t)r);

            CHECK(tight != NULL);
            if (tight) {
                CHECK_INT(dkim_canon_header(c, hdr + pos, end - pos, tight, (size_t)r), r);
                CHECK(memcmp(tight, out + n, (size_t)r) == 0);
                CHECK_INT(dkim_canon_header(c, hdr + pos, end - pos, tight, (size_t)r - 1),
                          -ENOSPC);
                free(tight);
            }
        }
        n += (size_t)r;
        pos = end;
    }
    return n;
}

static void b64_sha256(const char *p, size_t n, char out[DKIM_BODY_HASH_B64])
{
    br_sha256_context sha;
    unsigned char d[br_sha256_SIZE];

    br_sha256_init(&sha);
    br_sha256_update(&sha, p, n);
    br_sha256_out(&sha, d);
    sodium_bin2base64(out, DKIM_BODY_HASH_B64, d, sizeof d, sodium_base64_VARIANT_ORIGINAL);
}

/* One .in file and its two .out files. Returns 1 when the case ran. */
static int run_case(const char *in_name)
{
    static const char *const names[] = {"simple", "relaxed"};
    size_t base_len = strlen(in_name) - 3, in_len = 0;
    int is_header = base_len > 7 && memcmp(in_name + base_len - 7, ".header", 7) == 0;
    int is_body = base_len > 5 && memcmp(in_name + base_len - 5, ".body", 5) == 0;
    char *in = read_file(in_name, &in_len);

    if (!in || (!is_header && !is_body)) {
        fprintf(stderr, "%s: unreadable, or neither .header.in nor .body.in\n", in_name);
        check_failures++;
        free(in);
        return 0;
    }
    for (int c = DKIM_CANON_SIMPLE; c <= DKIM_CANON_RELAXED; c++) {
        char out_name[512], what[600], *want;
        size_t want_len = 0;

        snprintf(out_name, sizeof out_name, "%.*s.%s.out", (int)base_len, in_name, names[c]);
        snprintf(what, sizeof what, "%s -> %s", in_name, out_name);
        want = read_file(out_name, &want_len);
        if (!want) {
            fprintf(stderr, "%s: missing\n", out_name);
            check_failures++;
            continue;
        }
        if (is_header) {
            size_t cap = in_len * 2 + 16, n;
            char *got = malloc(cap);

            CHECK(got != NULL);
            if (got) {
                n = canon_header_all((enum dkim_canon)c, in, in_len, got, cap, what);
                check_bytes(what, got, n, want, want_len);
                free(got);
            }
        } else {
            char *got = NULL, *msg = malloc(in_len + 16), bh[DKIM_BODY_HASH_B64],
                 want_bh[DKIM_BODY_HASH_B64];
            size_t n = 0;

            CHECK_INT(dkim_canon_body((enum dkim_canon)c, in, in_len, &got, &n), 0);
            if (got) {
                check_bytes(what, got, n, want, want_len);
                CHECK(got[n] == '\0');
            }
            /* The streamed hash of the same body in a whole message. */
            CHECK(msg != NULL);
            if (msg) {
                memcpy(msg, "X: y\r\n\r\n", 8);
                memcpy(msg + 8, in, in_len);
                dkim_body_hash((enum dkim_canon)c, msg, in_len + 8, bh);
                b64_sha256(want, want_len, want_bh);
                CHECK_STR(bh, want_bh);
            }
            free(msg);
            free(got);
        }
        free(want);
    }
    free(in);
    return 1;
}

static void test_golden(void)
{
    DIR *d = opendir(testdata);
    struct dirent *e;
    int cases = 0, rfc = 0;

    CHECK(d != NULL);
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);

        if (n > 3 && strcmp(e->d_name + n - 3, ".in") == 0) {
            cases += run_case(e->d_name);
            rfc += strncmp(e->d_name, "rfc6376-3.4.6.", 14) == 0;
        }
    }
    closedir(d);
    /* A directory that lost its files must not pass quietly. */
    CHECK(cases >= 17);
    CHECK_INT(rfc, 2);
}

static void test_header_errors(void)
{
    char out[64];

    CHECK_INT(dkim_canon_header(DKIM_CANON_SIMPLE, "No colon here\r\n", 15, out, sizeof out),
              -EINVAL);
    CHECK_INT(dkim_canon_header(DKIM_CANON_RELAXED, "No colon here\r\n", 15, out, sizeof out),
              -EINVAL);
    CHECK_INT(dkim_canon_header(DKIM_CANON_RELAXED, "", 0, out, sizeof out), -EINVAL);
    CHECK_INT(dkim_canon_header(DKIM_CANON_RELAXED, "A: b\r\n", 6, out, 0), -ENOSPC);
    CHECK_INT(dkim_canon_header(DKIM_CANON_RELAXED, "A: b\r\n", 6, out, 4), -ENOSPC);
    CHECK_INT(dkim_canon_header(DKIM_CANON_RELAXED, "A: b\r\n", 6, out, 5), 5);
    CHECK_MEM(out, 5, "a:b\r\n");
    /* The colon is the first one: a value may hold more. */
    CHECK_INT(dkim_canon_header(DKIM_CANON_RELAXED, "Date : 10:20 \r\n", 15, out, sizeof out), 12);
    CHECK_MEM(out, 12, "date:10:20\r\n");
    /* Relaxed ends with CRLF even when the field came without one. */
    CHECK_INT(dkim_canon_header(DKIM_CANON_RELAXED, "A:b", 3, out, sizeof out), 5);
    CHECK_MEM(out, 5, "a:b\r\n");
    CHECK_INT(dkim_canon_header(DKIM_CANON_SIMPLE, "A:b", 3, out, sizeof out), 3);
}

static void test_body_hash(void)
{
    /* RFC 8463 Appendix A.3's message (and RFC 6376's): its published
     * bh= for relaxed. */
    static const char rfc[] = "From: Joe SixPack <joe@football.example.com>\r\n"
                              "To: Suzie Q <suzie@shopping.example.net>\r\n"
                              "Subject: Is dinner ready?\r\n"
                              "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
                              "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
                              "\r\n"
                              "Hi.\r\n"
                              "\r\n"
                              "We lost the game.  Are you hungry yet?\r\n"
                              "\r\n"
                              "Joe.\r\n";
    /* SHA-256 of "\r\n" and of nothing: the empty body, simple and relaxed. */
    static const char crlf_hash[] = "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=";
    static const char empty_hash[] = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    char bh[DKIM_BODY_HASH_B64];
    char *out = NULL;
    size_t n = 99;

    dkim_body_hash(DKIM_CANON_RELAXED, rfc, sizeof rfc - 1, bh);
    CHECK_STR(bh, "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=");

    /* No empty line: all header, the body is empty. */
    dkim_body_hash(DKIM_CANON_SIMPLE, "From: a\r\nTo: b\r\n", 16, bh);
    CHECK_STR(bh, crlf_hash);
    dkim_body_hash(DKIM_CANON_RELAXED, "From: a\r\nTo: b\r\n", 16, bh);
    CHECK_STR(bh, empty_hash);
    dkim_body_hash(DKIM_CANON_RELAXED, "", 0, bh);
    CHECK_STR(bh, empty_hash);
    /* Only the first empty line ends the header. */
    dkim_body_hash(DKIM_CANON_RELAXED, "From: a\r\n\r\n\r\n\r\n", 15, bh);
    CHECK_STR(bh, empty_hash);
    /* A message whose first line is empty: no header, all body. */
    dkim_body_hash(DKIM_CANON_SIMPLE, "\r\nFrom: a\r\n", 11, bh);
    {
        char want[DKIM_BODY_HASH_B64];

        b64_sha256("From: a\r\n", 9, want);
        CHECK_STR(bh, want);
    }
    /* A lone LF does not end a header line, nor start an empty one. */
    dkim_body_hash(DKIM_CANON_SIMPLE, "A: b\n\r\nc\r\n\r\nx", 13, bh);
    {
        char want[DKIM_BODY_HASH_B64];

        b64_sha256("x\r\n", 3, want);
        CHECK_STR(bh, want);
    }

    CHECK_INT(dkim_canon_body(DKIM_CANON_RELAXED, "", 0, &out, &n), 0);
    CHECK_INT(n, 0);
    CHECK(out && out[0] == '\0');
    free(out);
    out = NULL;
    CHECK_INT(dkim_canon_body(DKIM_CANON_SIMPLE, NULL, 0, &out, &n), 0);
    CHECK_MEM(out, n, "\r\n");
    free(out);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s TESTDATA-DIR\n", argv[0]);
        return 1;
    }
    testdata = argv[1];
    test_golden();
    test_header_errors();
    test_body_hash();
    CHECK_DONE();
}
