/*
 * bounce.c - delivery status notifications: whether the sender asked for
 * one (RFC 3461 NOTIFY), and the report itself, an RFC 3464
 * message/delivery-status inside an RFC 6522 multipart/report, worded like
 * Postfix's bounce daemon.
 *
 * SECURITY: the original content and the remote replies are hostile, and
 * the envelope strings come from a queue record we would rather not trust
 * with our header fields either. Every string that lands in a text part or
 * a field (reply, remote host, addresses, ORCPT, ENVID) is first reduced to
 * printable ASCII on one logical line, bounded to CLEAN_MAX octets, then
 * folded so that no line exceeds MESSAGE_LINE_MAX. The original is copied
 * as CRLF lines of at most MESSAGE_LINE_MAX octets (already true of what
 * the message reader queues, so then the copy is exact), its header
 * section is bounded by HEADERS_MAX, and the MIME boundary is drawn again
 * until it occurs in none of the parts. hostname comes from the
 * configuration; it is checked anyway, since it ends up in fields.
 *
 * The parts are built into their own buffers first so that the boundary
 * can be checked against them before anything is assembled.
 */
#include "bounce.h"

#include "address.h"
#include "message.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define TEXT_WIDTH 72      /* where the human-readable text and long fields wrap */
#define CLEAN_MAX 1024     /* one reply, address or host after sanitising, with NUL */
#define HEADERS_MAX 102400 /* header section returned (Postfix's header_size_limit) */
#define BOUNDARY_MAX 70    /* RFC 2046 5.1.1 */
#define BOUNDARY_TRIES 8   /* a collision needs the random part guessed: never in practice */
#define HOSTNAME_MAX 255

/* A growing output buffer; the first allocation failure sticks. */
struct buf {
    char *data;
    size_t len;
    size_t cap;
    int error;
};

static void buf_free(struct buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

static int buf_reserve(struct buf *b, size_t n)
{
    size_t cap;
    char *p;

    if (b->error)
        return b->error;
    if (n < b->cap - b->len)
        return 0;
    if (n > SIZE_MAX / 2 - b->len - 1) {
        b->error = -ENOMEM;
        return b->error;
    }
    cap = b->cap ? b->cap : 1024;
    while (cap <= b->len + n)
        cap *= 2;
    p = realloc(b->data, cap);
    if (!p) {
        b->error = -ENOMEM;
        return b->error;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

static void buf_add(struct buf *b, const char *p, size_t n)
{
    if (n == 0 || buf_reserve(b, n) < 0)
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void buf_str(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    int n;

    va_start(ap, fmt);
    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap);
    if (n < 0) {
        if (!b->error)
            b->error = -EINVAL;
    } else if (buf_reserve(b, (size_t)n + 1) == 0) {
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
    va_end(ap);
}

/*
 * Copies text as CRLF lines of at most MESSAGE_LINE_MAX octets: CRLF,
 * bare CR and bare LF end a line, a longer line is broken, NUL becomes
 * '?', and a last line without ending gets one. Text that already keeps
 * these rules, as queued content does, is copied unchanged.
 */
static void buf_lines(struct buf *b, const char *p, size_t n)
{
    size_t i = 0, col = 0;

    while (i < n) {
        size_t run = 0, room = MESSAGE_LINE_MAX - col;

        while (i + run < n && run < room && p[i + run] != '\r' && p[i + run] != '\n' &&
               p[i + run] != '\0')
            run++;
        buf_add(b, p + i, run);
        i += run;
        col += run;
        if (i == n)
            break;
        if (p[i] == '\r' || p[i] == '\n') {
            i += p[i] == '\r' && i + 1 < n && p[i + 1] == '\n' ? 2 : 1;
            buf_add(b, "\r\n", 2);
            col = 0;
        } else if (col == MESSAGE_LINE_MAX) {
            buf_add(b, "\r\n", 2);
            col = 0;
        } else {
            buf_add(b, "?", 1);
            i++;
            col++;
        }
    }
    if (col > 0)
        buf_add(b, "\r\n", 2);
}

/*
 * Writes first + text as lines of about TEXT_WIDTH octets, breaking at
 * spaces; a word too long for that runs on up to MESSAGE_LINE_MAX and is
 * cut there. The space a line breaks at is replaced by indent, so with
 * indent " " a field unfolds to exactly text (except after a cut). text
 * is clean (see clean): single spaces, no controls, none at either end.
 */
static void buf_wrapped(struct buf *b, const char *first, const char *text, const char *indent)
{
    /* Callers keep first and indent far shorter than a line: hard > 0. */
    size_t col = strlen(first);

    buf_str(b, first);
    while (*text) {
        size_t rest = strlen(text), hard = MESSAGE_LINE_MAX - col, cut = 0, i;

        if (col + rest <= TEXT_WIDTH) {
            buf_str(b, text);
            break;
        }
        for (i = col < TEXT_WIDTH ? TEXT_WIDTH - col : 0; i > 0 && !cut; i--)
            if (i < rest && text[i] == ' ')
                cut = i;
        for (i = 1; i < rest && i <= hard && !cut; i++)
            if (text[i] == ' ')
                cut = i;
        if (!cut)
            cut = rest < hard ? rest : hard;
        buf_add(b, text, cut);
        text += cut;
        if (*text == ' ')
            text++;
        if (!*text)
            break;
        buf_add(b, "\r\n", 2);
        buf_str(b, indent);
        col = strlen(indent);
    }
    buf_add(b, "\r\n", 2);
}

/*
 * Reduces at most inmax octets of in to what may stand in a header field or
 * a us-ascii text: line breaks and other white space become one space,
 * other controls and 8-bit octets '?'; no space at either end. Truncated to
 * fit out (CLEAN_MAX).
 */
static void clean(char out[CLEAN_MAX], const char *in, size_t inmax)
{
    size_t i, o = 0;
    int space = 0;

    for (i = 0; i < inmax && in[i] && o < CLEAN_MAX - 1; i++) {
        unsigned char c = (unsigned char)in[i];

        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f') {
            space = o > 0;
            continue;
        }
        if (space) {
            if (o + 2 > CLEAN_MAX - 1)
                break;
            out[o++] = ' ';
            space = 0;
        }
        out[o++] = c > ' ' && c < 0x7f ? (char)c : '?';
    }
    out[o] = '\0';
}

/* RFC 3463: class "." subject "." detail, class 2, 4 or 5, 1-3 digits each. */
static int status_valid(const char *s)
{
    size_t i, digits;
    int part;

    if (!s || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
        return 0;
    s += 2;
    for (part = 0; part < 2; part++) {
        for (i = 0, digits = 0; s[i] >= '0' && s[i] <= '9'; i++)
            digits++;
        if (digits < 1 || digits > 3 || s[i] != (part == 0 ? '.' : '\0'))
            return 0;
        s += i + 1;
    }
    return 1;
}

/*
 * The random octets of boundaries and Message-IDs. Weak so that
 * test_bounce.c can replace it to force a boundary collision; nothing else
 * should. Returns 0 or a negative errno.
 */
int bounce__random(void *out, size_t len) __attribute__((weak));

int bounce__random(void *out, size_t len)
{
    ssize_t n = getrandom(out, len, 0);

    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EIO;
}

int bounce_wanted(enum bounce_kind kind, const struct queue_msg *msg, const struct queue_rcpt *rcpt)
{
    unsigned notify = rcpt->notify;

    if (msg->sender[0] == '\0' || (notify & QUEUE_NOTIFY_NEVER))
        return 0;
    if (notify == 0)
        return kind == BOUNCE_FAILED || kind == BOUNCE_DELAYED;
    switch (kind) {
    case BOUNCE_FAILED:
        return (notify & QUEUE_NOTIFY_FAILURE) != 0;
    case BOUNCE_DELAYED:
        return (notify & QUEUE_NOTIFY_DELAY) != 0;
    case BOUNCE_RELAYED:
        return (notify & QUEUE_NOTIFY_SUCCESS) != 0;
    }
    return 0;
}

/* Formats t, or leaves out[0] empty when t is unset or localtime fails. */
static void format_date(int64_t t, char *out, size_t len)
{
    out[0] = '\0';
    if (t > 0)
        message_format_date((time_t)t, out, len);
}

static const char *kind_action(enum bounce_kind kind)
{
    return kind == BOUNCE_FAILED ? "failed" : kind == BOUNCE_DELAYED ? "delayed" : "relayed";
}

/* Paragraphs of the human-readable part, one string each, wrapped when written. */
static void text_intro(struct buf *b, enum bounce_kind kind, int headers_only, const char *hostname,
                       const char *retry)
{
    static const char warning[] =
        "####################################################################\r\n"
        "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\r\n"
        "####################################################################\r\n";
    static const char help[] = "For further assistance, please send mail to postmaster.\r\n\r\n"
                               "If you do so, please include this problem report. You can\r\n"
                               "delete your own text from the attached returned message.\r\n\r\n";
    char line[CLEAN_MAX + 128];

    buf_printf(b, "This is the mail system at host %s.\r\n\r\n", hostname);
    switch (kind) {
    case BOUNCE_FAILED:
        snprintf(line, sizeof line,
                 "I'm sorry to have to inform you that your message could not be delivered "
                 "to one or more recipients. %s",
                 headers_only ? "Its headers are attached below." : "It's attached below.");
        buf_wrapped(b, "", line, "");
        buf_str(b, "\r\n");
        buf_str(b, help);
        break;
    case BOUNCE_DELAYED:
        buf_str(b, warning);
        buf_str(b, "\r\n");
        if (retry[0])
            snprintf(line, sizeof line,
                     "Your message could not be delivered yet to one or more recipients. "
                     "The mail system will keep trying until %s.",
                     retry);
        else
            snprintf(line, sizeof line,
                     "Your message could not be delivered yet to one or more recipients. "
                     "The mail system will keep trying to deliver it.");
        buf_wrapped(b, "", line, "");
        buf_str(b, "\r\n");
        buf_str(b, help);
        break;
    case BOUNCE_RELAYED:
        buf_wrapped(b, "",
                    "Your message was successfully delivered to the destination(s) listed "
                    "below. If the message was delivered to mailbox you will receive no further "
                    "notifications. Otherwise you may still receive notifications of mail "
                    "delivery errors from other systems.",
                    "");
        buf_str(b, "\r\n");
        break;
    }
    buf_str(b, "                   The mail system\r\n\r\n");
}

/* "<addr>: host mx said: 550 ...", wrapped, one per recipient. */
static void text_rcpt(struct buf *b, enum bounce_kind kind, const struct bounce_rcpt *r,
                      const char *status)
{
    char addr[CLEAN_MAX], host[CLEAN_MAX], diag[CLEAN_MAX], first[CLEAN_MAX + 8];
    char line[3 * CLEAN_MAX];

    clean(addr, r->rcpt->address, sizeof r->rcpt->address);
    clean(host, r->remote_mta ? r->remote_mta : "", CLEAN_MAX);
    clean(diag, r->diagnostic ? r->diagnostic : "", SIZE_MAX);
    if (kind == BOUNCE_RELAYED)
        snprintf(line, sizeof line, "delivered%s%s%s%s", host[0] ? " via " : "", host,
                 diag[0] ? ": " : "", diag);
    else if (host[0] && diag[0])
        snprintf(line, sizeof line, "host %s said: %s", host, diag);
    else if (diag[0])
        snprintf(line, sizeof line, "%s", diag);
    else
        snprintf(line, sizeof line, "%s%s%sstatus %s", host[0] ? "host " : "", host,
                 host[0] ? ": " : "", status);
    snprintf(first, sizeof first, "<%s>: ", addr);
    buf_wrapped(b, first, line, "    ");
}

/* One "Name: value" field of the delivery-status part, folded when long. */
static void field(struct buf *b, const char *name, const char *prefix, const char *value,
                  size_t max)
{
    char text[CLEAN_MAX], first[64];

    clean(text, value, max);
    if (!text[0])
        return;
    snprintf(first, sizeof first, "%s: %s", name, prefix);
    buf_wrapped(b, first, text, " ");
}

static void status_rcpt(struct buf *b, enum bounce_kind kind, const struct bounce_rcpt *r,
                        const char *status, const char *retry)
{
    const struct queue_rcpt *q = r->rcpt;
    char date[64];

    if (q->orcpt[0])
        field(b, "Original-Recipient",
              memchr(q->orcpt, ';', strnlen(q->orcpt, sizeof q->orcpt)) ? "" : "rfc822;", q->orcpt,
              sizeof q->orcpt);
    field(b, "Final-Recipient", "rfc822; ", q->address, sizeof q->address);
    buf_printf(b, "Action: %s\r\nStatus: %s\r\n", kind_action(kind), status);
    if (r->remote_mta)
        field(b, "Remote-MTA", "dns; ", r->remote_mta, SIZE_MAX);
    if (r->diagnostic)
        field(b, "Diagnostic-Code", "smtp; ", r->diagnostic, SIZE_MAX);
    format_date(q->last_attempt, date, sizeof date);
    if (date[0])
        buf_printf(b, "Last-Attempt-Date: %s\r\n", date);
    if (kind == BOUNCE_DELAYED && retry[0])
        buf_printf(b, "Will-Retry-Until: %s\r\n", retry);
}

/* Where the header section ends: after its last field line, before the empty line. */
static size_t headers_end(const char *content, size_t len)
{
    /* message_body_offset only reads; the cast is for struct message's type. */
    struct message view = {.data = (char *)content, .len = len, .cap = len};
    size_t end;
    int sep;

    end = message_body_offset(&view, &sep);
    if (sep) {
        end--;
        if (end > 0 && content[end - 1] == '\r')
            end--;
    }
    if (end > HEADERS_MAX) {
        const char *nl = memrchr(content, '\n', HEADERS_MAX);
        end = nl ? (size_t)(nl - content) + 1 : 0;
    }
    return end;
}

/* A boundary that is none of the parts; "time.random/hostname", cut at 70. */
static int boundary_choose(char out[BOUNDARY_MAX + 1], time_t now, const char *hostname,
                           const struct buf *parts, size_t nparts)
{
    unsigned long long rnd;
    int tries, rc;
    size_t i;

    for (tries = 0; tries < BOUNDARY_TRIES; tries++) {
        rc = bounce__random(&rnd, sizeof rnd);
        if (rc < 0)
            return rc;
        if (snprintf(out, BOUNDARY_MAX + 1, "%lld.%016llx/%s", (long long)now, rnd, hostname) < 0)
            return -EINVAL;
        for (i = 0; i < nparts; i++)
            if (parts[i].len && memmem(parts[i].data, parts[i].len, out, strlen(out)))
                break;
        if (i == nparts)
            return 0;
    }
    return -EIO;
}

static int message_id(char *out, size_t size, time_t now, const char *hostname)
{
    unsigned long long rnd;
    struct tm tm;
    int rc, n;

    if (!gmtime_r(&now, &tm))
        return -EINVAL;
    rc = bounce__random(&rnd, sizeof rnd);
    if (rc < 0)
        return rc;
    n = snprintf(out, size, "<%04d%02d%02d%02d%02d%02d.%016llx@%s>", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, rnd, hostname);
    return n < 0 || (size_t)n >= size ? -EINVAL : 0;
}

int bounce_build(enum bounce_kind kind, const struct queue_msg *msg, const char *content,
                 size_t len, const struct bounce_rcpt *rcpts, size_t n, const char *hostname,
                 time_t now, int64_t retry_until, char **out, size_t *outlen)
{
    static const char *const subjects[] = {
        [BOUNCE_FAILED] = "Undelivered Mail Returned to Sender",
        [BOUNCE_DELAYED] = "Delayed Mail (still being retried)",
        [BOUNCE_RELAYED] = "Successful Mail Delivery Report",
    };
    static const char *const defaults[] = {
        [BOUNCE_FAILED] = "5.0.0", [BOUNCE_DELAYED] = "4.0.0", [BOUNCE_RELAYED] = "2.0.0"};
    struct buf parts[3] = {{0}}, report = {0};
    struct buf *text = &parts[0], *status = &parts[1], *original = &parts[2];
    char date[64], arrival[64], retry[64], msgid[HOSTNAME_MAX + 64], boundary[BOUNDARY_MAX + 1];
    char sender[CLEAN_MAX];
    int headers_only, has_8bit, rc;
    size_t i, end;

    *out = NULL;
    *outlen = 0;
    if (n == 0 || !msg || !rcpts || (!content && len) || !hostname ||
        !address_hostname_valid(hostname) || (unsigned)kind > BOUNCE_RELAYED)
        return -EINVAL;
    clean(sender, msg->sender, sizeof msg->sender);
    if (!sender[0])
        return -EINVAL;
    for (i = 0; i < n; i++)
        if (!rcpts[i].rcpt)
            return -EINVAL;
    headers_only = kind != BOUNCE_FAILED || msg->ret == QUEUE_RET_HDRS;
    if (message_format_date(now, date, sizeof date) == 0)
        return -EINVAL;
    format_date(retry_until, retry, sizeof retry);

    text_intro(text, kind, headers_only, hostname, retry);
    for (i = 0; i < n; i++) {
        if (i > 0)
            buf_str(text, "\r\n");
        text_rcpt(text, kind, &rcpts[i],
                  status_valid(rcpts[i].status) ? rcpts[i].status : defaults[kind]);
    }

    field(status, "Original-Envelope-Id", "", msg->envid, sizeof msg->envid);
    buf_printf(status, "Reporting-MTA: dns; %s\r\n", hostname);
    format_date(msg->arrival, arrival, sizeof arrival);
    if (arrival[0])
        buf_printf(status, "Arrival-Date: %s\r\n", arrival);
    for (i = 0; i < n; i++) {
        buf_str(status, "\r\n");
        status_rcpt(status, kind, &rcpts[i],
                    status_valid(rcpts[i].status) ? rcpts[i].status : defaults[kind], retry);
    }

    end = headers_only ? headers_end(content, len) : len;
    buf_lines(original, content, end);
    has_8bit = 0;
    for (i = 0; i < original->len && !has_8bit; i++)
        has_8bit = (unsigned char)original->data[i] >= 0x80;

    for (i = 0; i < 3; i++)
        if (parts[i].error) {
            rc = parts[i].error;
            goto fail;
        }
    rc = boundary_choose(boundary, now, hostname, parts, 3);
    if (rc < 0)
        goto fail;
    rc = message_id(msgid, sizeof msgid, now, hostname);
    if (rc < 0)
        goto fail;

    buf_printf(&report,
               "Date: %s\r\n"
               "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"
               "To: <%s>\r\n"
               "Subject: %s\r\n"
               "Message-ID: %s\r\n"
               "Auto-Submitted: auto-replied\r\n"
               "MIME-Version: 1.0\r\n"
               "Content-Type: multipart/report; report-type=delivery-status;\r\n"
               "\tboundary=\"%s\"\r\n"
               "Content-Transfer-Encoding: %s\r\n"
               "\r\n"
               "This is a MIME-encapsulated message.\r\n"
               "\r\n",
               date, hostname, sender, subjects[kind], msgid, boundary, has_8bit ? "8bit" : "7bit");
    buf_printf(&report,
               "--%s\r\n"
               "Content-Description: Notification\r\n"
               "Content-Type: text/plain; charset=us-ascii\r\n"
               "\r\n",
               boundary);
    buf_add(&report, text->data, text->len);
    buf_printf(&report,
               "\r\n--%s\r\n"
               "Content-Description: Delivery report\r\n"
               "Content-Type: message/delivery-status\r\n"
               "\r\n",
               boundary);
    buf_add(&report, status->data, status->len);
    buf_printf(&report,
               "\r\n--%s\r\n"
               "Content-Description: %s%s\r\n"
               "Content-Type: %s\r\n"
               "Content-Transfer-Encoding: %s\r\n"
               "\r\n",
               boundary,
               kind == BOUNCE_FAILED    ? "Undelivered Message"
               : kind == BOUNCE_DELAYED ? "Delayed Message"
                                        : "Delivered Message",
               headers_only ? " Headers" : "",
               headers_only ? "text/rfc822-headers" : "message/rfc822", has_8bit ? "8bit" : "7bit");
    buf_add(&report, original->data, original->len);
    buf_printf(&report, "\r\n--%s--\r\n", boundary);
    rc = report.error;
    if (rc < 0)
        goto fail;
    *out = report.data;
    *outlen = report.len;
    report.data = NULL;
fail:
    buf_free(&report);
    for (i = 0; i < 3; i++)
        buf_free(&parts[i]);
    return rc;
}
