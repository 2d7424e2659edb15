/*
 * test_bounce.c - unit tests for bounce.c: the NOTIFY table of
 * bounce_wanted, and for each kind of report its header fields, the three
 * MIME parts in order, the delivery-status fields line by line, what part
 * of the original is returned, CRLF lines within 998 octets, hostile
 * replies, a forced boundary collision, and a parse by Python's email
 * package (skipped, alone, when /usr/bin/python3 is missing).
 *
 * Times are fixed and TZ is UTC so that every date is known in advance.
 * bounce__random is replaced (bounce.c defines it weak) so that the
 * boundary can be made to collide with the content.
 */
#include "bounce.h"
#include "check.h"
#include "message.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOW ((time_t)1700000000) /* Tue, 14 Nov 2023 22:13:20 +0000 */
#define HOST "mail.example.com"
#define PYTHON "/usr/bin/python3"

/* ---- the random source ---- */

enum fake_mode { FAKE_REAL, FAKE_SEQUENCE, FAKE_CONSTANT };
static enum fake_mode fake_mode;
static unsigned fake_calls;

/* Call k of a sequence fills with octet k, so two runs draw the same values. */
int bounce__random(void *out, size_t len);
int bounce__random(void *out, size_t len)
{
    fake_calls++;
    if (fake_mode == FAKE_REAL)
        return getrandom(out, len, 0) == (ssize_t)len ? 0 : -EIO;
    memset(out, fake_mode == FAKE_SEQUENCE ? (int)fake_calls : 0x5a, len);
    return 0;
}

/* ---- bounce_wanted ---- */

static void test_wanted(void)
{
    static const struct {
        const char *sender;
        uint8_t notify;
        int failed, delayed, relayed;
    } cases[] = {
        {"", 0, 0, 0, 0},
        {"", QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY | QUEUE_NOTIFY_SUCCESS, 0, 0, 0},
        {"joe@example.com", 0, 1, 1, 0},
        {"joe@example.com", QUEUE_NOTIFY_NEVER, 0, 0, 0},
        {"joe@example.com", QUEUE_NOTIFY_FAILURE, 1, 0, 0},
        {"joe@example.com", QUEUE_NOTIFY_DELAY, 0, 1, 0},
        {"joe@example.com", QUEUE_NOTIFY_SUCCESS, 0, 0, 1},
        {"joe@example.com", QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY, 1, 1, 0},
        {"joe@example.com", QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE, 1, 0, 1},
        {"joe@example.com", QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY | QUEUE_NOTIFY_SUCCESS, 1, 1,
         1},
        /* NEVER with others is a syntax error RFC 3461 forbids; NEVER wins. */
        {"joe@example.com", QUEUE_NOTIFY_NEVER | QUEUE_NOTIFY_FAILURE, 0, 0, 0},
    };
    struct queue_msg msg;
    struct queue_rcpt rcpt;
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(&msg, 0, sizeof msg);
        memset(&rcpt, 0, sizeof rcpt);
        snprintf(msg.sender, sizeof msg.sender, "%s", cases[i].sender);
        rcpt.notify = cases[i].notify;
        if (bounce_wanted(BOUNCE_FAILED, &msg, &rcpt) != cases[i].failed ||
            bounce_wanted(BOUNCE_DELAYED, &msg, &rcpt) != cases[i].delayed ||
            bounce_wanted(BOUNCE_RELAYED, &msg, &rcpt) != cases[i].relayed)
            fprintf(stderr, "case %zu: sender \"%s\" notify 0x%x\n", i, cases[i].sender,
                    cases[i].notify);
        CHECK_INT(bounce_wanted(BOUNCE_FAILED, &msg, &rcpt), cases[i].failed);
        CHECK_INT(bounce_wanted(BOUNCE_DELAYED, &msg, &rcpt), cases[i].delayed);
        CHECK_INT(bounce_wanted(BOUNCE_RELAYED, &msg, &rcpt), cases[i].relayed);
    }
}

/* ---- reading a report back ---- */

static const char original_headers[] = "From: Joe <joe@example.com>\r\n"
                                       "To: a@example.org, b@example.net, c@example.com\r\n"
                                       "Subject: hello\r\n"
                                       "Message-ID: <1@example.com>\r\n";
static const char original_body[] = "Body line one\r\nSECRET-BODY\r\n";

struct part {
    const char *head; /* the part's header lines, each with CRLF */
    size_t head_len;
    const char *body; /* without the CRLF that belongs to the next delimiter */
    size_t body_len;
};

/* A report made NUL-terminated, for strstr. */
struct report {
    char *text;
    size_t len;
    char boundary[80];
    struct part parts[3];
    int nparts; /* -1 when the multipart structure is broken */
};

static void report_free(struct report *r)
{
    free(r->text);
    memset(r, 0, sizeof *r);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;

    for (hay = strstr(hay, needle); hay; hay = strstr(hay + 1, needle))
        n++;
    return n;
}

/*
 * Finds the boundary and splits the body into its parts, checking the
 * framing on the way: the boundary occurs once in the header field and
 * once per delimiter, nowhere else, and the close delimiter ends the text.
 */
static void report_split(struct report *r)
{
    const char *p = strstr(r->text, "\tboundary=\""), *q, *end;
    char delim[96], close[96];

    r->nparts = -1;
    if (!p || !(q = strchr(p + 11, '"')) || (size_t)(q - p - 11) >= sizeof r->boundary)
        return;
    memcpy(r->boundary, p + 11, (size_t)(q - p - 11));
    r->boundary[q - p - 11] = '\0';
    CHECK(strlen(r->boundary) <= 70);
    CHECK_INT(count(r->text, r->boundary), 5);
    snprintf(delim, sizeof delim, "\r\n--%s\r\n", r->boundary);
    snprintf(close, sizeof close, "\r\n--%s--\r\n", r->boundary);
    CHECK(r->len > strlen(close) && strcmp(r->text + r->len - strlen(close), close) == 0);

    p = strstr(r->text, delim);
    r->nparts = 0;
    while (p && r->nparts < 3) {
        struct part *pt = &r->parts[r->nparts++];

        pt->head = p + strlen(delim);
        end = strstr(pt->head, delim);
        if (!end)
            end = strstr(pt->head, close);
        if (!end) {
            r->nparts = -1;
            return;
        }
        q = strstr(pt->head, "\r\n\r\n");
        if (!q || q > end) {
            r->nparts = -1;
            return;
        }
        pt->head_len = (size_t)(q + 2 - pt->head);
        pt->body = q + 4;
        pt->body_len = (size_t)(end - pt->body);
        p = strstr(end, delim) == end ? end : NULL;
    }
}

/*
 * Every line ends with CRLF (no bare CR or LF), none is longer than 998
 * octets, there is no NUL, and (unless eight_bit) no octet above 127.
 */
static void check_lines(const char *t, size_t len, int eight_bit)
{
    size_t i, col = 0, longest = 0, bad = 0;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)t[i];

        if (c == '\r') {
            if (i + 1 >= len || t[i + 1] != '\n')
                bad++;
            longest = col > longest ? col : longest;
            col = 0;
            i++;
            continue;
        }
        if (c == '\n' || c == '\0' || (c >= 0x80 && !eight_bit))
            bad++;
        col++;
    }
    CHECK_INT(bad, 0);
    CHECK_INT(col, 0);
    CHECK(longest <= MESSAGE_LINE_MAX);
}

/* 1 when the exact line (without CRLF) is in head..head+len. */
static int has_line(const char *head, size_t len, const char *line)
{
    size_t n = strlen(line);
    const char *p = head, *end = head + len;

    while (p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));

        if (!eol)
            eol = end;
        if ((size_t)(eol - p) == n && memcmp(p, line, n) == 0)
            return 1;
        p = eol + 2;
    }
    return 0;
}

#define CHECK_LINE(head, len, line)                                                                \
    do {                                                                                           \
        if (!has_line((head), (len), (line))) {                                                    \
            fprintf(stderr, "%s:%d: missing line \"%s\"\n", __FILE__, __LINE__, (line));           \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

/* The text with its wrapping undone: CRLF and the indent after it become one space. */
static char *unwrap(const char *t, size_t len)
{
    char *out = malloc(len + 1);
    size_t i, o = 0;

    if (!out)
        abort();
    for (i = 0; i < len; i++) {
        if (t[i] == '\r' && i + 1 < len && t[i + 1] == '\n') {
            out[o++] = ' ';
            for (i += 2; i < len && t[i] == ' ';)
                i++;
            i--;
            continue;
        }
        out[o++] = t[i];
    }
    out[o] = '\0';
    return out;
}

#define CHECK_CONTAINS(text, needle)                                                               \
    do {                                                                                           \
        const char *check_t_ = (text), *check_n_ = (needle);                                       \
        if (!check_t_ || !strstr(check_t_, check_n_)) {                                            \
            fprintf(stderr, "%s:%d: \"%s\" not found in:\n%s\n", __FILE__, __LINE__, check_n_,     \
                    check_t_ ? check_t_ : "(null)");                                               \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

/* ---- building reports ---- */

struct fixture {
    struct queue_msg msg;
    struct queue_rcpt rcpt[3];
    struct bounce_rcpt br[3];
    char content[4096];
    size_t content_len;
    const char *big; /* used instead of content when set */
};

static void fixture_init(struct fixture *f, int ret)
{
    memset(f, 0, sizeof *f);
    snprintf(f->msg.sender, sizeof f->msg.sender, "joe@example.com");
    snprintf(f->msg.envid, sizeof f->msg.envid, "ENV-42");
    f->msg.arrival = NOW - 10000;
    f->msg.ret = (uint8_t)ret;
    f->msg.nrcpt = 3;
    f->msg.rcpt = f->rcpt;
    snprintf(f->rcpt[0].address, sizeof f->rcpt[0].address, "a@example.org");
    snprintf(f->rcpt[0].orcpt, sizeof f->rcpt[0].orcpt, "rfc822;A@Example.org");
    f->rcpt[0].last_attempt = NOW - 1000;
    snprintf(f->rcpt[1].address, sizeof f->rcpt[1].address, "b@example.net");
    snprintf(f->rcpt[1].orcpt, sizeof f->rcpt[1].orcpt, "B@example.net");
    f->rcpt[1].last_attempt = NOW - 5000;
    snprintf(f->rcpt[2].address, sizeof f->rcpt[2].address, "c@example.com");
    f->br[0].rcpt = &f->rcpt[0];
    f->br[0].remote_mta = "mx.example.org";
    f->br[1].rcpt = &f->rcpt[1];
    f->br[1].status = "bogus"; /* not an enhanced code: the default replaces it */
    f->br[2].rcpt = &f->rcpt[2];
    f->content_len = (size_t)snprintf(f->content, sizeof f->content, "%s\r\n%s", original_headers,
                                      original_body);
}

static int build(struct report *r, enum bounce_kind kind, const struct fixture *f, size_t n,
                 const char *hostname)
{
    char *out = (char *)"untouched";
    size_t len = 12345;
    int rc;

    memset(r, 0, sizeof *r);
    rc = bounce_build(kind, &f->msg, f->big ? f->big : f->content, f->content_len, f->br, n,
                      hostname, NOW, (int64_t)NOW + 4 * 86400, &out, &len);
    if (rc < 0) {
        CHECK(out == NULL);
        CHECK_INT(len, 0);
        return rc;
    }
    CHECK(memchr(out, '\0', len) == NULL);
    r->text = malloc(len + 1);
    if (!r->text)
        abort();
    memcpy(r->text, out, len);
    r->text[len] = '\0';
    r->len = len;
    free(out);
    report_split(r);
    return 0;
}

/* ---- one report per kind ---- */

struct kind_case {
    const char *name;
    enum bounce_kind kind;
    int ret;
    const char *subject;
    const char *action;
    const char *status; /* given for the first recipient */
    const char *reply;  /* the first recipient's diagnostic */
    const char *folded; /* how Diagnostic-Code carries it, when folded */
    const char *fallback;
    const char *returned;    /* Content-Type of part 3 */
    const char *description; /* Content-Description of part 3 */
    const char *intro;       /* a sentence of the human-readable part */
    const char *first_rcpt;  /* the first recipient's line there, unwrapped */
    const char *other_rcpt;  /* the second recipient's */
};

static const struct kind_case kind_cases[] = {
    {
        .name = "failed",
        .kind = BOUNCE_FAILED,
        .ret = QUEUE_RET_DEFAULT,
        .subject = "Undelivered Mail Returned to Sender",
        .action = "failed",
        .status = "5.1.1",
        .reply = "550 5.1.1 <a@example.org>: Recipient address rejected: User unknown in virtual "
                 "mailbox table",
        .folded = "550 5.1.1 <a@example.org>: Recipient address\r\n rejected: User unknown in "
                  "virtual mailbox table",
        .fallback = "5.0.0",
        .returned = "message/rfc822",
        .description = "Undelivered Message",
        .intro = "I'm sorry to have to inform you that your message could not be delivered to one "
                 "or more recipients. It's attached below.",
        .first_rcpt = "<a@example.org>: host mx.example.org said: 550 5.1.1 <a@example.org>: "
                      "Recipient address rejected: User unknown in virtual mailbox table",
        .other_rcpt = "<b@example.net>: status 5.0.0",
    },
    {
        .name = "failed-hdrs",
        .kind = BOUNCE_FAILED,
        .ret = QUEUE_RET_HDRS,
        .subject = "Undelivered Mail Returned to Sender",
        .action = "failed",
        .status = "5.1.1",
        .reply = "550 5.1.1 no such user",
        .fallback = "5.0.0",
        .returned = "text/rfc822-headers",
        .description = "Undelivered Message Headers",
        .intro = "could not be delivered to one or more recipients. Its headers are attached "
                 "below.",
        .first_rcpt = "<a@example.org>: host mx.example.org said: 550 5.1.1 no such user",
        .other_rcpt = "<b@example.net>: status 5.0.0",
    },
    {
        .name = "delayed",
        .kind = BOUNCE_DELAYED,
        .ret = QUEUE_RET_FULL, /* delays return headers only, whatever RET says */
        .subject = "Delayed Mail (still being retried)",
        .action = "delayed",
        .status = "4.4.1",
        .reply = "421 4.4.1 Service not available, try again later",
        .fallback = "4.0.0",
        .returned = "text/rfc822-headers",
        .description = "Delayed Message Headers",
        .intro = "The mail system will keep trying until Sat, 18 Nov 2023 22:13:20 +0000.",
        .first_rcpt = "<a@example.org>: host mx.example.org said: 421 4.4.1 Service not "
                      "available, try again later",
        .other_rcpt = "<b@example.net>: status 4.0.0",
    },
    {
        .name = "relayed",
        .kind = BOUNCE_RELAYED,
        .ret = QUEUE_RET_DEFAULT,
        .subject = "Successful Mail Delivery Report",
        .action = "relayed",
        .status = "2.0.0",
        .reply = "250 2.0.0 Ok: queued as 4SV1xX0abc",
        .fallback = "2.0.0",
        .returned = "text/rfc822-headers",
        .description = "Delivered Message Headers",
        .intro = "Your message was successfully delivered to the destination(s) listed below.",
        .first_rcpt =
            "<a@example.org>: delivered via mx.example.org: 250 2.0.0 Ok: queued as 4SV1xX0abc",
        .other_rcpt = "<b@example.net>: delivered",
    },
};

/* The delivery-status part exactly, for the fixture's three recipients. */
static void expected_status(char *out, size_t size, const struct kind_case *c)
{
    char retry[64] = "";

    if (c->kind == BOUNCE_DELAYED)
        snprintf(retry, sizeof retry, "Will-Retry-Until: Sat, 18 Nov 2023 22:13:20 +0000\r\n");
    snprintf(out, size,
             "Original-Envelope-Id: ENV-42\r\n"
             "Reporting-MTA: dns; " HOST "\r\n"
             "Arrival-Date: Tue, 14 Nov 2023 19:26:40 +0000\r\n"
             "\r\n"
             "Original-Recipient: rfc822;A@Example.org\r\n"
             "Final-Recipient: rfc822; a@example.org\r\n"
             "Action: %s\r\n"
             "Status: %s\r\n"
             "Remote-MTA: dns; mx.example.org\r\n"
             "Diagnostic-Code: smtp; %s\r\n"
             "Last-Attempt-Date: Tue, 14 Nov 2023 21:56:40 +0000\r\n"
             "%s"
             "\r\n"
             "Original-Recipient: rfc822;B@example.net\r\n"
             "Final-Recipient: rfc822; b@example.net\r\n"
             "Action: %s\r\n"
             "Status: %s\r\n"
             "Last-Attempt-Date: Tue, 14 Nov 2023 20:50:00 +0000\r\n"
             "%s"
             "\r\n"
             "Final-Recipient: rfc822; c@example.com\r\n"
             "Action: %s\r\n"
             "Status: %s\r\n"
             "%s",
             c->action, c->status, c->folded ? c->folded : c->reply, retry, c->action, c->fallback,
             retry, c->action, c->fallback, retry);
}

/* Writes the report to dir/name.eml for the Python check. */
static void save(const char *dir, const char *name, const struct report *r)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s.eml", dir, name);
    f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK_INT(fwrite(r->text, 1, r->len, f), r->len);
    CHECK_INT(fclose(f), 0);
}

static void test_kind(const struct kind_case *c, const char *dir)
{
    struct fixture f;
    struct report r;
    char line[512], want[4096], *text;
    int full = strcmp(c->returned, "message/rfc822") == 0;

    fprintf(stderr, "kind %s\n", c->name);
    fixture_init(&f, c->ret);
    f.br[0].status = c->status;
    f.br[0].diagnostic = c->reply;
    if (build(&r, c->kind, &f, 3, HOST) < 0) {
        CHECK(0);
        return;
    }
    check_lines(r.text, r.len, 0);

    CHECK_LINE(r.text, r.len, "Date: Tue, 14 Nov 2023 22:13:20 +0000");
    CHECK_LINE(r.text, r.len, "From: Mail Delivery System <MAILER-DAEMON@" HOST ">");
    CHECK_LINE(r.text, r.len, "To: <joe@example.com>");
    snprintf(line, sizeof line, "Subject: %s", c->subject);
    CHECK_LINE(r.text, r.len, line);
    CHECK_LINE(r.text, r.len, "Auto-Submitted: auto-replied");
    CHECK_LINE(r.text, r.len, "MIME-Version: 1.0");
    CHECK_LINE(r.text, r.len, "Content-Type: multipart/report; report-type=delivery-status;");
    CHECK_LINE(r.text, r.len, "Content-Transfer-Encoding: 7bit");
    CHECK(strstr(r.text, "\r\nMessage-ID: <20231114221320.") != NULL);
    CHECK(strstr(r.text, "@" HOST ">\r\nAuto-Submitted") != NULL);

    CHECK_INT(r.nparts, 3);
    if (r.nparts != 3)
        goto done;
    CHECK_LINE(r.parts[0].head, r.parts[0].head_len, "Content-Type: text/plain; charset=us-ascii");
    CHECK_LINE(r.parts[1].head, r.parts[1].head_len, "Content-Type: message/delivery-status");
    snprintf(line, sizeof line, "Content-Type: %s", c->returned);
    CHECK_LINE(r.parts[2].head, r.parts[2].head_len, line);
    snprintf(line, sizeof line, "Content-Description: %s", c->description);
    CHECK_LINE(r.parts[2].head, r.parts[2].head_len, line);

    text = unwrap(r.parts[0].body, r.parts[0].body_len);
    CHECK_CONTAINS(text, "This is the mail system at host " HOST ".");
    CHECK_CONTAINS(text, c->intro);
    CHECK_CONTAINS(text, c->first_rcpt);
    CHECK_CONTAINS(text, c->other_rcpt);
    free(text);

    expected_status(want, sizeof want, c);
    CHECK_MEM(r.parts[1].body, r.parts[1].body_len, want);

    if (full) {
        CHECK_MEM(r.parts[2].body, r.parts[2].body_len, f.content);
    } else {
        CHECK_MEM(r.parts[2].body, r.parts[2].body_len, original_headers);
        CHECK(strstr(r.text, "SECRET-BODY") == NULL);
    }
    save(dir, c->name, &r);
done:
    report_free(&r);
}

/* ---- hostile input ---- */

/* Replies with line breaks, controls, NUL and 8-bit octets stay inside their field. */
static void test_hostile_reply(void)
{
    static const char reply[] = "550 bad\r\nX-Injected: yes\n\x01\x7f\xff\xc3\xa9 end \0Hidden: 1";
    struct fixture f;
    struct report r;
    char *text;

    fixture_init(&f, QUEUE_RET_DEFAULT);
    f.br[0].diagnostic = reply;
    f.br[0].remote_mta = "mx.example.org\r\nBcc: eve@example.net";
    snprintf(f.rcpt[2].orcpt, sizeof f.rcpt[2].orcpt, "rfc822;c@example.com\r\n\r\n--x");
    if (build(&r, BOUNCE_FAILED, &f, 3, HOST) < 0) {
        CHECK(0);
        return;
    }
    check_lines(r.text, r.len, 0);
    CHECK(strstr(r.text, "\r\nX-Injected") == NULL);
    CHECK(strstr(r.text, "\r\nBcc") == NULL);
    CHECK(strstr(r.text, "Hidden") == NULL);
    CHECK_INT(r.nparts, 3);
    if (r.nparts == 3) {
        CHECK_LINE(r.parts[1].body, r.parts[1].body_len,
                   "Diagnostic-Code: smtp; 550 bad X-Injected: yes ????? end");
        CHECK_LINE(r.parts[1].body, r.parts[1].body_len,
                   "Remote-MTA: dns; mx.example.org Bcc: eve@example.net");
        CHECK_LINE(r.parts[1].body, r.parts[1].body_len,
                   "Original-Recipient: rfc822;c@example.com --x");
        text = unwrap(r.parts[0].body, r.parts[0].body_len);
        CHECK_CONTAINS(text, "<a@example.org>: host mx.example.org Bcc: eve@example.net said: 550 "
                             "bad X-Injected: yes ????? end");
        free(text);
    }
    report_free(&r);
}

/*
 * A reply far longer than a line: folded at spaces, a word too long for a
 * line cut at exactly 998 octets, and unfolding gives the reply back.
 */
static void test_long_reply(void)
{
    char reply[1200], *text, *p, *q;
    struct fixture f;
    struct report r;
    size_t i;

    memcpy(reply, "550 ", 4);
    memset(reply + 4, 'x', 1000);
    reply[1004] = '\0';
    fixture_init(&f, QUEUE_RET_DEFAULT);
    f.br[0].diagnostic = reply;
    if (build(&r, BOUNCE_FAILED, &f, 3, HOST) < 0) {
        CHECK(0);
        return;
    }
    check_lines(r.text, r.len, 0);
    CHECK_INT(r.nparts, 3);
    if (r.nparts == 3) {
        /* "Diagnostic-Code: smtp; 550", " " + 997 x (998 octets), " xxx". */
        CHECK_LINE(r.parts[1].body, r.parts[1].body_len, "Diagnostic-Code: smtp; 550");
        p = strstr(r.parts[1].body, "smtp; 550\r\n ");
        CHECK(p != NULL);
        if (p) {
            p += strlen("smtp; 550\r\n");
            q = strstr(p, "\r\n");
            CHECK_INT(q - p, MESSAGE_LINE_MAX);
            CHECK(strncmp(q, "\r\n xxx\r\n", 8) == 0);
        }
        text = unwrap(r.parts[0].body, r.parts[0].body_len);
        p = strstr(text, "said: 550 x");
        CHECK(p != NULL);
        for (i = 0; p && i < 1000; i++)
            if (p[10 + i] != 'x' && p[10 + i] != ' ')
                break;
        CHECK_INT(i, 1000);
        free(text);
    }
    report_free(&r);
}

/*
 * The first boundary drawn is put into the content as delimiter lines:
 * the report must draw another, and the content still comes back whole.
 */
static void test_boundary_collision(const char *dir, char first[80])
{
    struct fixture f;
    struct report r;
    char constant[80];
    unsigned calls_clean;
    int n, saved = 0;

    fake_mode = FAKE_SEQUENCE;
    fake_calls = 0;
    fixture_init(&f, QUEUE_RET_DEFAULT);
    f.br[0].diagnostic = "550 5.7.1 rejected";
    if (build(&r, BOUNCE_FAILED, &f, 1, HOST) < 0) {
        CHECK(0);
        goto done;
    }
    calls_clean = fake_calls;
    snprintf(first, 80, "%s", r.boundary);
    report_free(&r);
    CHECK(first[0] != '\0');

    n = snprintf(f.content, sizeof f.content,
                 "%s\r\nbefore\r\n--%s\r\nContent-Type: text/plain\r\n\r\nfake part\r\n--%s--\r\n"
                 "after\r\n",
                 original_headers, first, first);
    f.content_len = (size_t)n;
    fake_calls = 0;
    if (build(&r, BOUNCE_FAILED, &f, 1, HOST) < 0) {
        CHECK(0);
        goto done;
    }
    CHECK_INT(fake_calls, calls_clean + 1);
    CHECK(strcmp(r.boundary, first) != 0);
    check_lines(r.text, r.len, 0);
    CHECK_INT(r.nparts, 3);
    if (r.nparts == 3)
        CHECK_MEM(r.parts[2].body, r.parts[2].body_len, f.content);
    save(dir, "collision", &r);
    report_free(&r);
    saved = 1;

    /* A random source that always says the same thing: every try collides. */
    fake_mode = FAKE_CONSTANT;
    if (build(&r, BOUNCE_FAILED, &f, 1, HOST) < 0) {
        CHECK(0);
        goto done;
    }
    snprintf(constant, sizeof constant, "%s", r.boundary);
    report_free(&r);
    n = snprintf(f.content, sizeof f.content, "%s\r\n--%s\r\n", original_headers, constant);
    f.content_len = (size_t)n;
    CHECK_INT(build(&r, BOUNCE_FAILED, &f, 1, HOST), -EIO);
done:
    report_free(&r);
    fake_mode = FAKE_REAL;
    if (!saved)
        first[0] = '\0';
}

/* Content that breaks the queue's invariants is still framed as CRLF lines. */
static void test_broken_content(void)
{
    struct fixture f;
    struct report r;
    size_t n;

    fixture_init(&f, QUEUE_RET_DEFAULT);
    n = (size_t)snprintf(f.content, sizeof f.content, "Subject: x\r\n\r\nbare\nlf\rcr");
    f.content[n++] = '\0';
    memset(f.content + n, 'y', 1500);
    n += 1500;
    f.content[n++] = '\xe9';
    f.content_len = n;
    if (build(&r, BOUNCE_FAILED, &f, 1, HOST) < 0) {
        CHECK(0);
        return;
    }
    check_lines(r.text, r.len, 1);
    CHECK_LINE(r.text, r.len, "Content-Transfer-Encoding: 8bit");
    CHECK_INT(r.nparts, 3);
    if (r.nparts == 3)
        CHECK(r.parts[2].body_len > 0 &&
              strncmp(r.parts[2].body, "Subject: x\r\n\r\nbare\r\nlf\r\ncr?yyy", 30) == 0);
    report_free(&r);
}

/* A header section over 100 KiB comes back cut after a whole line. */
static void test_huge_headers(void)
{
    static const char field[] = "Received: from relay.example.net by mx.example.org; x\r\n";
    size_t nfields = 3000, fl = sizeof field - 1, i;
    struct fixture f;
    struct report r;
    char *big = malloc(nfields * fl + 16);

    if (!big)
        abort();
    for (i = 0; i < nfields; i++)
        memcpy(big + i * fl, field, fl);
    memcpy(big + nfields * fl, "\r\nbody\r\n", 8);
    fixture_init(&f, QUEUE_RET_HDRS);
    f.big = big;
    f.content_len = nfields * fl + 8;
    if (build(&r, BOUNCE_FAILED, &f, 1, HOST) < 0) {
        CHECK(0);
        goto done;
    }
    check_lines(r.text, r.len, 0);
    CHECK_INT(r.nparts, 3);
    if (r.nparts == 3) {
        CHECK_INT(r.parts[2].body_len, 102400 / fl * fl);
        CHECK(memcmp(r.parts[2].body, big, r.parts[2].body_len) == 0);
    }
done:
    report_free(&r);
    free(big);
}

static void test_invalid(void)
{
    struct fixture f;
    struct report r;

    fixture_init(&f, QUEUE_RET_DEFAULT);
    CHECK_INT(build(&r, BOUNCE_FAILED, &f, 0, HOST), -EINVAL);
    CHECK_INT(build(&r, BOUNCE_FAILED, &f, 1, "bad host\r\nX: y"), -EINVAL);
    CHECK_INT(build(&r, BOUNCE_FAILED, &f, 1, ""), -EINVAL);
    f.msg.sender[0] = '\0';
    CHECK_INT(build(&r, BOUNCE_FAILED, &f, 1, HOST), -EINVAL);
}

/* ---- the same reports read by Python's email package ---- */

static const char python_check[] =
    "import sys, email, email.policy\n"
    "for arg in sys.argv[1:]:\n"
    "    path, returned, action, nrcpt, inside = arg.split(\",\")\n"
    "    with open(path, \"rb\") as f:\n"
    "        m = email.message_from_bytes(f.read(), policy=email.policy.default)\n"
    "    assert m.get_content_type() == \"multipart/report\", (path, m.get_content_type())\n"
    "    assert m.get_param(\"report-type\") == \"delivery-status\", path\n"
    "    parts = list(m.iter_parts())\n"
    "    assert [p.get_content_type() for p in parts] == [\"text/plain\", "
    "\"message/delivery-status\", returned], (path, parts)\n"
    "    blocks = parts[1].get_payload()\n"
    "    assert len(blocks) == 1 + int(nrcpt), (path, len(blocks))\n"
    "    assert blocks[0][\"Reporting-MTA\"] == \"dns; " HOST "\", path\n"
    "    for b in blocks[1:]:\n"
    "        assert b[\"Action\"] == action, (path, b[\"Action\"])\n"
    "        assert b[\"Final-Recipient\"].startswith(\"rfc822; \"), path\n"
    "        assert len(b[\"Status\"].split(\".\")) == 3, path\n"
    "    assert blocks[1][\"Diagnostic-Code\"].startswith(\"smtp; \"), path\n"
    "    if returned == \"message/rfc822\":\n"
    "        inner = parts[2].get_payload()[0]\n"
    "        assert inner[\"Subject\"] == \"hello\", path\n"
    "        assert inside in inner.get_content(), (path, inside)\n"
    "    else:\n"
    "        assert \"Subject: hello\" in parts[2].get_content(), path\n"
    "    for p in m.walk():\n"
    "        assert not p.defects, (path, p.defects)\n";

static void test_python(const char *dir, const char *collision_boundary)
{
    char cmd[8192];
    size_t i, o;
    int rc;

    if (access(PYTHON, X_OK) != 0) {
        fprintf(stderr, "skipped the Python check: %s is missing\n", PYTHON);
        return;
    }
    o = (size_t)snprintf(cmd, sizeof cmd, "%s -c '%s'", PYTHON, python_check);
    for (i = 0; i < sizeof kind_cases / sizeof kind_cases[0]; i++)
        o += (size_t)snprintf(cmd + o, sizeof cmd - o, " %s/%s.eml,%s,%s,3,Body", dir,
                              kind_cases[i].name, kind_cases[i].returned, kind_cases[i].action);
    if (collision_boundary[0])
        o += (size_t)snprintf(cmd + o, sizeof cmd - o,
                              " %s/collision.eml,message/rfc822,failed,1,--%s", dir,
                              collision_boundary);
    CHECK(o < sizeof cmd);
    rc = system(cmd);
    CHECK(rc != -1 && WIFEXITED(rc));
    CHECK_INT(WEXITSTATUS(rc), 0);
}

int main(void)
{
    char dir[] = "/tmp/test_bounce.XXXXXX", path[256], boundary[80];
    size_t i;

    setenv("TZ", "UTC", 1);
    tzset();
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_wanted();
    for (i = 0; i < sizeof kind_cases / sizeof kind_cases[0]; i++)
        test_kind(&kind_cases[i], dir);
    test_hostile_reply();
    test_long_reply();
    test_boundary_collision(dir, boundary);
    test_broken_content();
    test_huge_headers();
    test_invalid();
    test_python(dir, boundary);

    for (i = 0; i < sizeof kind_cases / sizeof kind_cases[0]; i++) {
        snprintf(path, sizeof path, "%s/%s.eml", dir, kind_cases[i].name);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/collision.eml", dir);
    unlink(path);
    rmdir(dir);
    CHECK_DONE();
}
