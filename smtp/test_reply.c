/*
 * test_reply.c - unit tests for the SMTP reply parser (reply.h).
 *
 * The table cases run three ways: the input in one call, split in two at
 * every offset, and one byte per call; each way must give the same return,
 * reply and consumed count, because a server's bytes arrive cut wherever
 * TCP cuts them. Limits, pipelining and the helpers have their own tests.
 */
#include "reply.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "check.h"

struct reply_case {
    const char *in;
    size_t len;
    int rc;
    int code;
    const char *enhanced;
    const char *text;
    int nlines;
    size_t consumed; /* up to the end of the first reply, or the bad byte */
};

/* A string literal and its length, which counts any NUL inside. */
#define IN(s) s, sizeof(s) - 1

static const struct reply_case cases[] = {
    /* Single line, multi-line, bare LF. */
    {IN("220 mx.example.org ESMTP\r\n"), 1, 220, "", "mx.example.org ESMTP", 1, 26},
    {IN("250-a\r\n250-b\r\n250 c\r\n"), 1, 250, "", "a\nb\nc", 3, 21},
    {IN("250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n"), 1, 250,
     "", "mx.example.org\nPIPELINING\nSIZE 10240000\n8BITMIME", 4, 69},
    {IN("250 ok\n"), 1, 250, "", "ok", 1, 7},
    {IN("250-a\n250 b\r\n"), 1, 250, "", "a\nb", 2, 13},
    {IN("354 Start mail input; end with <CRLF>.<CRLF>\r\n"), 1, 354, "",
     "Start mail input; end with <CRLF>.<CRLF>", 1, 46},
    {IN("354 \r\n"), 1, 354, "", "", 1, 6},
    {IN("250\r\n"), 1, 250, "", "", 1, 5},
    {IN("250-\r\n250 \r\n"), 1, 250, "", "\n", 2, 12},
    {IN("599 last code\r\n"), 1, 599, "", "last code", 1, 15},
    {IN("200 first code\r\n"), 1, 200, "", "first code", 1, 16},

    /* Enhanced status codes. */
    {IN("550 5.7.28 text\r\n"), 1, 550, "5.7.28", "text", 1, 17},
    {IN("421-4.7.0 x\r\n421 4.7.0 y\r\n"), 1, 421, "4.7.0", "x\ny", 2, 26},
    {IN("550 4.1.1 user unknown\r\n"), 1, 550, "", "4.1.1 user unknown", 1, 24},
    {IN("250 2.0.0\r\n"), 1, 250, "2.0.0", "", 1, 11},
    {IN("250 2.0.0 \r\n"), 1, 250, "2.0.0", "", 1, 12},
    {IN("552 5.999.999  two spaces\r\n"), 1, 552, "5.999.999", " two spaces", 1, 27},
    {IN("250 2.0.0x ok\r\n"), 1, 250, "", "2.0.0x ok", 1, 15},
    {IN("250 2.1000.0 ok\r\n"), 1, 250, "", "2.1000.0 ok", 1, 17},
    {IN("250 2.0. ok\r\n"), 1, 250, "", "2.0. ok", 1, 13},
    {IN("250 2..0 ok\r\n"), 1, 250, "", "2..0 ok", 1, 13},
    {IN("250 2.0\r\n"), 1, 250, "", "2.0", 1, 9},
    {IN("250  2.0.0 ok\r\n"), 1, 250, "", " 2.0.0 ok", 1, 15},
    /* Each line's code is taken off its text; the first line's is kept. */
    {IN("550-5.1.1 a\r\n550 5.1.2 b\r\n"), 1, 550, "5.1.1", "a\nb", 2, 26},
    {IN("550-a\r\n550 5.7.1 b\r\n"), 1, 550, "", "a\nb", 2, 20},

    /* Neutralised text: TAB, ESC, DEL and the two octets of UTF-8 "é". */
    {IN("250 a\tb\x1b[31m\x7f\xc3\xa9\r\n"), 1, 250, "", "a?b?[31m???", 1, 17},

    /* Incomplete: every byte used, more needed. */
    {IN(""), 0, 0, NULL, NULL, 0, 0},
    {IN("250-a\r\n250 b"), 0, 0, NULL, NULL, 0, 12},
    {IN("250 b\r"), 0, 0, NULL, NULL, 0, 6},

    /* Pipelined: the first reply ends at consumed. */
    {IN("250 a\r\n251 b\r\n"), 1, 250, "", "a", 1, 7},
    {IN("250-a\r\n250 b\r\n354 go\r\n"), 1, 250, "", "a\nb", 2, 14},

    /* Multi-line replies whose codes differ. */
    {IN("250-a\r\n251 b\r\n"), -EPROTO, 0, NULL, NULL, 0, 14},
    {IN("250-a\r\n550 b\r\n"), -EPROTO, 0, NULL, NULL, 0, 14},
    {IN("250-a\r\n550-b\r\n250 c\r\n"), -EPROTO, 0, NULL, NULL, 0, 14},

    /* Malformed lines. */
    {IN("25 ok\r\n"), -EPROTO, 0, NULL, NULL, 0, 7},
    {IN("2500 ok\r\n"), -EPROTO, 0, NULL, NULL, 0, 9},
    {IN("abc\r\n"), -EPROTO, 0, NULL, NULL, 0, 5},
    {IN("250x\r\n"), -EPROTO, 0, NULL, NULL, 0, 6},
    {IN("199 x\r\n"), -EPROTO, 0, NULL, NULL, 0, 7},
    {IN("600 x\r\n"), -EPROTO, 0, NULL, NULL, 0, 7},
    {IN("099 x\r\n"), -EPROTO, 0, NULL, NULL, 0, 7},
    {IN("2a0 x\r\n"), -EPROTO, 0, NULL, NULL, 0, 7},
    {IN(" 250 x\r\n"), -EPROTO, 0, NULL, NULL, 0, 8},
    {IN("25\r\n"), -EPROTO, 0, NULL, NULL, 0, 4},
    {IN("\r\n"), -EPROTO, 0, NULL, NULL, 0, 2},
    {IN("\n"), -EPROTO, 0, NULL, NULL, 0, 1},
    {IN("250-a\r\n\r\n"), -EPROTO, 0, NULL, NULL, 0, 9},
    {IN("250\t x\r\n"), -EPROTO, 0, NULL, NULL, 0, 8},

    /* NUL and bare CR, refused at the byte itself. */
    {IN("250 o\0k\r\n"), -EPROTO, 0, NULL, NULL, 0, 6},
    {IN("\0"), -EPROTO, 0, NULL, NULL, 0, 1},
    {IN("250 a\rb\r\n"), -EPROTO, 0, NULL, NULL, 0, 7},
    {IN("250 a\r\r\n"), -EPROTO, 0, NULL, NULL, 0, 7},
    {IN("250-a\r\n250 b\r \n"), -EPROTO, 0, NULL, NULL, 0, 14},
};

/*
 * Feeds in[0..len) as a caller would, one chunk per call: the chunks end
 * at the offsets in cuts[] (ascending) and at len. Returns the first
 * non-zero return, or 0 if all was used; *pos is where that return left
 * the input (a + consumed).
 */
static int feed_chunks(const char *in, size_t len, const size_t *cuts, size_t ncuts,
                       struct smtp_reply *out, size_t *pos)
{
    struct smtp_reply_parser p;
    size_t start = 0, k;
    int rc = 0;

    smtp_reply_parser_init(&p);
    for (k = 0; k <= ncuts; k++) {
        size_t end = k < ncuts ? cuts[k] : len, consumed = (size_t)-1;

        rc = smtp_reply_feed(&p, in + start, end - start, out, &consumed);
        if (consumed > end - start) {
            fprintf(stderr, "consumed %zu of a %zu-byte chunk\n", consumed, end - start);
            *pos = (size_t)-1;
            return -1000;
        }
        if (rc != 0) {
            *pos = start + consumed;
            return rc;
        }
        if (consumed != end - start) {
            fprintf(stderr, "returned 0 with %zu of %zu bytes used\n", consumed, end - start);
            *pos = (size_t)-1;
            return -1000;
        }
        start = end;
    }
    *pos = len;
    return 0;
}

static void check_case(const struct reply_case *c, const char *how, size_t at, int rc,
                       const struct smtp_reply *r, size_t pos)
{
    int before = check_failures;

    CHECK_INT(rc, c->rc);
    CHECK_INT(pos, c->consumed);
    if (c->rc == 1) {
        CHECK_INT(r->code, c->code);
        CHECK_STR(r->enhanced, c->enhanced);
        CHECK_STR(r->text, c->text);
        CHECK_INT(r->nlines, c->nlines);
    }
    if (check_failures != before)
        fprintf(stderr, "  in case \"%.*s\" fed %s %zu\n", (int)c->len, c->in, how, at);
}

static void test_table(void)
{
    size_t i, k;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct reply_case *c = &cases[i];
        struct smtp_reply r;
        size_t pos, *cuts;
        int rc;

        memset(&r, 0x55, sizeof r);
        rc = feed_chunks(c->in, c->len, NULL, 0, &r, &pos);
        check_case(c, "whole, len", c->len, rc, &r, pos);

        for (k = 0; k <= c->len; k++) {
            memset(&r, 0x55, sizeof r);
            rc = feed_chunks(c->in, c->len, &k, 1, &r, &pos);
            check_case(c, "split at", k, rc, &r, pos);
        }

        cuts = malloc((c->len + 1) * sizeof *cuts);
        CHECK(cuts != NULL);
        if (!cuts)
            continue;
        for (k = 0; k < c->len; k++)
            cuts[k] = k + 1;
        memset(&r, 0x55, sizeof r);
        rc = feed_chunks(c->in, c->len, cuts, c->len, &r, &pos);
        check_case(c, "byte by byte, len", c->len, rc, &r, pos);
        free(cuts);
    }
}

/* Every reply of a pipelined buffer, in order, from one parser. */
static void test_pipelined(void)
{
    static const char in[] = "550 5.7.1 no\r\n250-a\r\n250 b\r\n354 go\r\n";
    struct smtp_reply_parser p;
    struct smtp_reply r;
    size_t off = 0, consumed;

    smtp_reply_parser_init(&p);
    CHECK_INT(smtp_reply_feed(&p, in + off, sizeof in - 1 - off, &r, &consumed), 1);
    CHECK_INT(consumed, 14);
    CHECK_INT(r.code, 550);
    CHECK_STR(r.enhanced, "5.7.1");
    CHECK_STR(r.text, "no");
    off += consumed;

    /* Nothing of the first reply may leak into the second. */
    CHECK_INT(smtp_reply_feed(&p, in + off, sizeof in - 1 - off, &r, &consumed), 1);
    CHECK_INT(consumed, 14);
    CHECK_INT(r.code, 250);
    CHECK_STR(r.enhanced, "");
    CHECK_STR(r.text, "a\nb");
    CHECK_INT(r.nlines, 2);
    off += consumed;

    CHECK_INT(smtp_reply_feed(&p, in + off, sizeof in - 1 - off, &r, &consumed), 1);
    CHECK_INT(consumed, 8);
    CHECK_INT(r.code, 354);
    CHECK_STR(r.text, "go");
    CHECK_INT(r.nlines, 1);
    off += consumed;
    CHECK_INT(off, sizeof in - 1);

    CHECK_INT(smtp_reply_feed(&p, "", 0, &r, &consumed), 0);
    CHECK_INT(consumed, 0);
}

/* Without consumed, bytes after a reply are an error, not lost. */
static void test_consumed_null(void)
{
    struct smtp_reply_parser p;
    struct smtp_reply r;

    smtp_reply_parser_init(&p);
    CHECK_INT(smtp_reply_feed(&p, IN("250-a\r\n"), &r, NULL), 0);
    CHECK_INT(smtp_reply_feed(&p, IN("250 b\r\n"), &r, NULL), 1);
    CHECK_STR(r.text, "a\nb");

    smtp_reply_parser_init(&p);
    CHECK_INT(smtp_reply_feed(&p, IN("220 ready\r\n250 injected\r\n"), &r, NULL), -EPROTO);
}

/* Fills buf with a line "250 xxx...x" of content bytes, ending with eol. */
static size_t make_line(char *buf, size_t content, const char *eol)
{
    memcpy(buf, "250 ", 4);
    memset(buf + 4, 'x', content - 4);
    memcpy(buf + content, eol, strlen(eol));
    return content + strlen(eol);
}

static void test_line_limit(void)
{
    const size_t big = 1024 * 1024;
    struct smtp_reply_parser p;
    struct smtp_reply r;
    size_t consumed, n;
    char *buf = malloc(big);

    CHECK(buf != NULL);
    if (!buf)
        return;

    /* The longest line there may be, with CRLF and with a bare LF. */
    n = make_line(buf, SMTP_REPLY_LINE_MAX, "\r\n");
    smtp_reply_parser_init(&p);
    CHECK_INT(smtp_reply_feed(&p, buf, n, &r, &consumed), 1);
    CHECK_INT(consumed, SMTP_REPLY_LINE_MAX + 2);
    CHECK_INT(strlen(r.text), SMTP_REPLY_LINE_MAX - 4);
    n = make_line(buf, SMTP_REPLY_LINE_MAX, "\n");
    smtp_reply_parser_init(&p);
    CHECK_INT(smtp_reply_feed(&p, buf, n, &r, &consumed), 1);
    CHECK_INT(consumed, SMTP_REPLY_LINE_MAX + 1);

    /* One byte more is refused at that byte, CR or not. */
    n = make_line(buf, SMTP_REPLY_LINE_MAX + 1, "\r\n");
    smtp_reply_parser_init(&p);
    CHECK_INT(smtp_reply_feed(&p, buf, n, &r, &consumed), -EMSGSIZE);
    CHECK_INT(consumed, SMTP_REPLY_LINE_MAX + 1);

    /* A 1 MB line: refused after SMTP_REPLY_LINE_MAX + 1 bytes, whatever
     * the chunks, and the parser stays refused (nothing read past it). */
    make_line(buf, big - 2, "\r\n");
    smtp_reply_parser_init(&p);
    CHECK_INT(smtp_reply_feed(&p, buf, big, &r, &consumed), -EMSGSIZE);
    CHECK_INT(consumed, SMTP_REPLY_LINE_MAX + 1);
    CHECK_INT(smtp_reply_feed(&p, IN("250 ok\r\n"), &r, &consumed), -EMSGSIZE);
    CHECK_INT(consumed, 0);
    smtp_reply_parser_init(&p);
    for (n = 0; n < big; n += 1000) {
        int rc = smtp_reply_feed(&p, buf + n, big - n < 1000 ? big - n : 1000, &r, &consumed);

        if (rc != 0) {
            CHECK_INT(rc, -EMSGSIZE);
            CHECK_INT(n + consumed, SMTP_REPLY_LINE_MAX + 1);
            break;
        }
    }
    CHECK_INT(n, 2000);

    /* Init makes the parser usable again. */
    smtp_reply_parser_init(&p);
    CHECK_INT(smtp_reply_feed(&p, IN("250 ok\r\n"), &r, &consumed), 1);

    /* The whole of the parser's memory is its struct: one line, one
     * reply, a few counters. */
    CHECK(sizeof p < SMTP_REPLY_LINE_MAX + 2 * SMTP_REPLY_TEXT_MAX);
    free(buf);
}

/* n lines "250-l" and a last "250 l" fed one line per call; returns the
 * last return. */
static int feed_lines(int n, struct smtp_reply *r)
{
    struct smtp_reply_parser p;
    size_t consumed;
    int i, rc = 0;

    smtp_reply_parser_init(&p);
    for (i = 0; i < n && rc == 0; i++)
        rc = smtp_reply_feed(&p, i == n - 1 ? "250 l\r\n" : "250-l\r\n", 7, r, &consumed);
    return rc;
}

static void test_lines_limit(void)
{
    struct smtp_reply r;

    CHECK_INT(feed_lines(SMTP_REPLY_LINES_MAX, &r), 1);
    CHECK_INT(r.nlines, SMTP_REPLY_LINES_MAX);
    CHECK_INT(strlen(r.text), 2 * SMTP_REPLY_LINES_MAX - 1);
    CHECK_INT(feed_lines(SMTP_REPLY_LINES_MAX + 1, &r), -EMSGSIZE);
    CHECK_INT(feed_lines(1000, &r), -EMSGSIZE);
}

/* Feeds "250-" + a[0] ... "250 " + a[n-1] (each a run of len[i] 'y'). */
static int feed_text(const size_t *len, int n, struct smtp_reply *r)
{
    struct smtp_reply_parser p;
    char line[SMTP_REPLY_LINE_MAX + 2];
    size_t consumed;
    int i, rc = 0;

    smtp_reply_parser_init(&p);
    for (i = 0; i < n && rc == 0; i++) {
        memcpy(line, i == n - 1 ? "250 " : "250-", 4);
        memset(line + 4, 'y', len[i]);
        line[4 + len[i]] = '\n';
        rc = smtp_reply_feed(&p, line, len[i] + 5, r, &consumed);
    }
    return rc;
}

/* The expected text: runs of 'y' joined by "\n", cut like reply.h says. */
static void expect_text(char *buf, const size_t *len, int n)
{
    const size_t max = SMTP_REPLY_TEXT_MAX - 1;
    size_t at = 0, j;
    int i;
    bool cut = false;

    for (i = 0; i < n && !cut; i++) {
        if (i > 0) {
            if (at == max)
                cut = true;
            else
                buf[at++] = '\n';
        }
        for (j = 0; j < len[i] && !cut; j++) {
            if (at == max)
                cut = true;
            else
                buf[at++] = 'y';
        }
    }
    if (cut)
        memcpy(buf + max - 3, "...", 3);
    buf[at] = '\0';
}

static void test_truncation(void)
{
    static const struct {
        size_t len[4];
        int n;
        size_t want_len;
        bool cut;
    } t[] = {
        {{2044, 2044, 5}, 3, 4095, false}, /* exactly SMTP_REPLY_TEXT_MAX - 1 */
        {{2044, 2044, 6}, 3, 4095, true},
        {{2044, 2044, 5, 0}, 4, 4095, true}, /* only the "\n" overflows */
        {{2044, 2044, 2044, 2044}, 4, 4095, true},
        {{2044, 2044, 2}, 3, 4092, false},
        {{2044, 2044, 3}, 3, 4093, false},
    };
    static char want[SMTP_REPLY_TEXT_MAX];
    struct smtp_reply r;
    size_t i, l;

    for (i = 0; i < sizeof t / sizeof t[0]; i++) {
        CHECK_INT(feed_text(t[i].len, t[i].n, &r), 1);
        expect_text(want, t[i].len, t[i].n);
        l = strlen(r.text);
        CHECK_INT(l, t[i].want_len);
        CHECK_INT(l >= 3 && memcmp(r.text + l - 3, "...", 3) == 0, t[i].cut);
        CHECK_STR(r.text, want);
    }
    /* Spelled out once: 2044 + 1 + 2044 = 4089 bytes, then room for the
     * "\n" and 2 of the third line's bytes before "..." ends the text. */
    CHECK_INT(feed_text(t[1].len, t[1].n, &r), 1);
    CHECK_STR(r.text + 4089, "\nyy...");
}

static void test_format(void)
{
    static const struct {
        const char *in;
        size_t buflen;
        const char *want;
    } t[] = {
        {"550-5.7.1 a\r\n550 5.7.1 b\r\n", 64, "550 5.7.1 a b"},
        {"250 ok\r\n", 64, "250 ok"},
        {"250\r\n", 64, "250"},
        {"250 2.0.0\r\n", 64, "250 2.0.0"},
        {"421-x\r\n421-\r\n421 y\r\n", 64, "421 x  y"},
        {"550 5.7.1 blocked\r\n", 18, "550 5.7.1 blocked"}, /* fits exactly */
        {"550 5.7.1 blocked\r\n", 17, "550 5.7.1 blo..."},
        {"550 5.7.1 blocked\r\n", 11, "550 5.7..."}, /* no room for the text */
        {"550 5.7.1 blocked\r\n", 8, "550 ..."},
        {"550 5.7.1 blocked\r\n", 4, "..."},
        {"550 5.7.1 blocked\r\n", 3, "55"},
        {"550 5.7.1 blocked\r\n", 1, ""},
    };
    struct smtp_reply_parser p;
    struct smtp_reply r;
    char buf[65];
    size_t i;

    for (i = 0; i < sizeof t / sizeof t[0]; i++) {
        smtp_reply_parser_init(&p);
        CHECK_INT(smtp_reply_feed(&p, t[i].in, strlen(t[i].in), &r, NULL), 1);
        memset(buf, 'Z', sizeof buf);
        CHECK(smtp_reply_format(&r, buf, t[i].buflen) == buf);
        CHECK_STR(buf, t[i].want);
        /* Nothing written past the length given. */
        CHECK_INT(buf[t[i].buflen], 'Z');
    }
    buf[0] = 'Z';
    CHECK(smtp_reply_format(&r, buf, 0) == buf);
    CHECK_INT(buf[0], 'Z');
}

static void test_contains(void)
{
    static const struct {
        const char *needle;
        int want;
    } t[] = {
        {"rejected", 1},
        {"SPAM", 1},
        {"Message rejected", 1},
        {"spamhaus", 0},
        {"", 1},
        {"550", 0},
        {"5.7.1", 0},
        {"spam see", 0},
        {"spam\nsee", 1},
        {"SEE HTTPS", 1},
        {"https://x.example/", 1},
        {"https://x.example/ ", 0},
    };
    static const char in[] =
        "550-5.7.1 Message REJECTED as Spam\r\n550 5.7.1 see https://x.example/\r\n";
    struct smtp_reply_parser p;
    struct smtp_reply r;
    size_t i;

    smtp_reply_parser_init(&p);
    CHECK_INT(smtp_reply_feed(&p, in, sizeof in - 1, &r, NULL), 1);
    CHECK_STR(r.text, "Message REJECTED as Spam\nsee https://x.example/");
    for (i = 0; i < sizeof t / sizeof t[0]; i++) {
        int got = smtp_reply_contains(&r, t[i].needle);

        if (got != t[i].want)
            fprintf(stderr, "  needle \"%s\"\n", t[i].needle);
        CHECK_INT(got, t[i].want);
    }
}

int main(void)
{
    test_table();
    test_pipelined();
    test_consumed_null();
    test_line_limit();
    test_lines_limit();
    test_truncation();
    test_format();
    test_contains();
    CHECK_DONE();
}
