/*
 * client.c - one outbound SMTP session (see client.h).
 *
 * The shape follows OpenSMTPD's mta_session.c: an explicit state, one
 * function that enters a state by sending its command(s), one that takes
 * a reply and picks the next state, one I/O dispatch. Freeing waits for
 * libuv's close callbacks.
 *
 * Trust: replies come from a remote server and go through the bounded,
 * strict parser in reply.c. A reply that arrives when none is expected
 * (data before the greeting counts too), a malformed one, or silence past
 * the stage's timeout ends the session with a temporary failure.
 *
 * TLS: after the 220 to STARTTLS the reply parser is reset and whatever
 * else the server sent in that read is dropped; from then on every byte
 * read goes to BearSSL (smtp/tls.c), so nothing sent before the handshake
 * completes can reach the parser as a reply (CVE-2011-0411). Writes are
 * encrypted at once into the engine and its records copied into uv_write
 * requests; message content is encrypted as earlier records drain, so a
 * large message holds at most about TLS_QUEUE_MAX bytes of ciphertext.
 */
#include "client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum state {
    S_CONNECT,
    S_GREETING,
    S_EHLO,
    S_HELO,
    S_STARTTLS,  /* STARTTLS sent, waiting for its 220 */
    S_HANDSHAKE, /* TLS handshake in progress */
    S_READY,     /* idle, between transactions */
    S_RSET,
    S_TXN, /* MAIL/RCPT/DATA replies outstanding */
    S_DOT, /* content sent (or being sent), waiting for the final reply */
    S_QUIT,
    S_CLOSED,
};

enum cmd { CMD_MAIL, CMD_RCPT, CMD_DATA };

struct smtp_client {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t connect_req;
    int open_handles;
    uv_loop_t *loop;
    struct smtp_client_config cfg;
    char helo[256];
    smtp_client_cb cb;
    void *arg;
    char relay[320];
    enum state state;
    struct smtp_reply_parser parser;
    unsigned ext;
    uint64_t size_limit;
    int need_rset;
    int closing;
    int failed_reported; /* FAILED or TXN_DONE for the end already given */

    /* the transaction in progress */
    const struct smtp_txn *txn;
    struct smtp_result *rcpt_res;
    struct smtp_result msg;
    size_t sent_rcpt;  /* RCPT commands written */
    size_t next_reply; /* 0 = MAIL, 1..n = RCPT, n+1 = DATA */
    int mail_ok;
    size_t accepted;
    int data_sent;     /* DATA command written */
    int data_reply;    /* DATA's reply seen */
    int empty_data;    /* "." sent after a 354 nobody could use */
    int pending_txn;   /* smtp_client_send waits for RSET */
    unsigned awaiting; /* replies due for what was sent (and the greeting) */
    const struct smtp_txn *queued_txn;

    /* TLS */
    char tls_name[256];
    struct tls_session *tls; /* from the 220 to STARTTLS on; freed in on_closed */
    int tls_active;          /* handshake done: all I/O goes through tls */
    int tls_refused;         /* MAY went on in plaintext after a refused STARTTLS */
    struct smtp_tls_info tls_info;
    size_t tls_queued; /* ciphertext handed to uv_write and not yet written */
    /* message content through TLS, encrypted as the queue drains */
    int content_active;
    int content_bol; /* the next byte starts a line (dot-stuffing) */
    int content_done;
    size_t content_off;
};

/* Ciphertext queued per session before content encryption waits. */
#define TLS_QUEUE_MAX (64 * 1024)

static void client_fail(struct smtp_client *c, int klass, int code, const char *enh,
                        enum smtp_stage stage, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void client_fail_tls(struct smtp_client *c, const char *enh, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void on_timeout(uv_timer_t *t);
static void client_close(struct smtp_client *c);
static void txn_finish(struct smtp_client *c, int usable);

/* ---- results ---- */

static void set_result(struct smtp_result *r, const struct smtp_reply *rep, enum smtp_stage stage)
{
    r->klass = rep->code / 100;
    r->code = rep->code;
    snprintf(r->enhanced, sizeof(r->enhanced), "%s", rep->enhanced);
    smtp_reply_format(rep, r->text, sizeof(r->text));
    r->stage = stage;
    r->throttled = smtp_reply_is_throttle(rep);
}

int smtp_reply_is_throttle(const struct smtp_reply *r)
{
    static const char *const texts[] = {
        "try again later", "rate limit",           "too many", "TSS04", "4.7.650",
        "4.7.28",          "temporarily deferred", "throttl"};
    if (r->code == 421)
        return 1;
    if (r->code / 100 != 4)
        return 0;
    if (strncmp(r->enhanced, "4.7.", 4) == 0)
        return 1;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        if (smtp_reply_contains(r, texts[i]))
            return 1;
    return 0;
}

static const char *stage_name(enum smtp_stage s)
{
    static const char *const names[] = {"connect", "greeting", "EHLO/HELO",   "MAIL FROM",
                                        "RCPT TO", "DATA",     "end of data", "QUIT"};
    return names[s];
}

/* ---- I/O ---- */

struct write_req {
    uv_write_t req;
    struct smtp_client *c;
    uv_buf_t *bufs; /* for content writes: owned array */
    char line[1200]; /* RFC 3461: RCPT grows by 500 octets for ORCPT */
};

static void arm(struct smtp_client *c, unsigned ms)
{
    uv_timer_start(&c->timer, on_timeout, ms ? ms : 300000, 0);
}

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = req->data;
    struct smtp_client *c = w->c;
    free(w->bufs);
    free(w);
    if (status < 0 && status != UV_ECANCELED && !c->closing)
        client_fail(c, 4, 0, "4.4.2", c->state == S_DOT ? SMTP_STAGE_DOT : SMTP_STAGE_MAIL,
                    "lost connection with %s while sending: %s", c->relay, uv_strerror(status));
    else if (status == 0 && c->state == S_DOT && !c->closing)
        arm(c, c->cfg.t.data_done); /* all content written: wait for the reply */
}

/* ---- TLS output ---- */

struct tls_write {
    uv_write_t req;
    struct smtp_client *c;
    size_t len;
    unsigned char data[];
};

static int tls_content_pump(struct smtp_client *c);

static void on_tls_write(uv_write_t *req, int status)
{
    struct tls_write *w = req->data;
    struct smtp_client *c = w->c;

    c->tls_queued -= w->len;
    free(w);
    if (c->closing || status == UV_ECANCELED)
        return;
    if (status < 0) {
        client_fail(c, 4, 0, "4.4.2", c->state == S_DOT ? SMTP_STAGE_DOT : SMTP_STAGE_MAIL,
                    "lost connection with %s while sending: %s", c->relay, uv_strerror(status));
        return;
    }
    if (c->state != S_DOT)
        return;
    if (c->content_active && !c->content_done) {
        arm(c, c->cfg.t.data_xfer); /* progress: a new block may take as long */
        if (tls_content_pump(c) != 0)
            client_fail(c, 4, 0, "4.3.0", SMTP_STAGE_DATA, "cannot write to %s", c->relay);
    } else if (c->tls_queued == 0) {
        arm(c, c->cfg.t.data_done); /* all content written: wait for the reply */
    }
}

/* Copies every record the engine has ready into write requests. */
static int tls_drain(struct smtp_client *c)
{
    const unsigned char *p;
    size_t len;

    while ((p = tls_session_pending(c->tls, &len)) != NULL) {
        struct tls_write *w = malloc(sizeof(*w) + len);
        int rc;
        if (!w)
            return -ENOMEM;
        memcpy(w->data, p, len);
        tls_session_sent(c->tls, len);
        w->c = c;
        w->len = len;
        w->req.data = w;
        uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
        if ((rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_tls_write)) != 0) {
            free(w);
            return rc;
        }
        c->tls_queued += len;
    }
    return 0;
}

/* Puts all of data into the engine, moving records out as it fills. */
static int tls_put(struct smtp_client *c, const char *data, size_t len)
{
    while (len > 0) {
        size_t n = tls_session_write(c->tls, data, len);
        if (n == 0) {
            /* The engine takes more only once its pending record is out;
             * if draining moved nothing, it is closed. */
            size_t before = c->tls_queued;
            int rc = tls_drain(c);
            if (rc)
                return rc;
            if (c->tls_queued == before)
                return -EPIPE;
            continue;
        }
        data += n;
        len -= n;
    }
    return 0;
}

/* Encrypts content (dot-stuffed, then ".\r\n") until TLS_QUEUE_MAX bytes
 * wait to be written; on_tls_write calls again as they drain. */
static int tls_content_pump(struct smtp_client *c)
{
    const char *p = c->txn->content;
    size_t len = c->txn->len;
    int rc;

    while (!c->content_done && c->tls_queued < TLS_QUEUE_MAX) {
        if (c->content_off < len) {
            const char *s = p + c->content_off, *nl;
            size_t n = len - c->content_off;
            if (n > 16384)
                n = 16384;
            if (c->content_bol && *s == '.' && (rc = tls_put(c, ".", 1)) != 0)
                return rc;
            if ((nl = memchr(s, '\n', n)) != NULL)
                n = (size_t)(nl - s) + 1;
            if ((rc = tls_put(c, s, n)) != 0)
                return rc;
            c->content_bol = s[n - 1] == '\n';
            c->content_off += n;
        } else {
            if ((rc = tls_put(c, ".\r\n", 3)) != 0)
                return rc;
            c->content_done = 1;
        }
    }
    tls_session_flush(c->tls);
    return tls_drain(c);
}

/* Writes one command line (CRLF added). */
static int send_line(struct smtp_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int send_line(struct smtp_client *c, const char *fmt, ...)
{
    struct write_req *w = calloc(1, sizeof(*w));
    va_list ap;
    int n;
    if (!w)
        return -ENOMEM;
    va_start(ap, fmt);
    n = vsnprintf(w->line, sizeof(w->line) - 2, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(w->line) - 2) {
        free(w);
        return -EINVAL;
    }
    memcpy(w->line + n, "\r\n", 2);
    if (c->tls_active) {
        int trc = tls_put(c, w->line, (size_t)n + 2);
        free(w);
        if (trc == 0) {
            tls_session_flush(c->tls);
            trc = tls_drain(c);
        }
        if (trc == 0)
            c->awaiting++;
        return trc;
    }
    uv_buf_t b = uv_buf_init(w->line, (unsigned)n + 2);
    w->c = c;
    w->req.data = w;
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc)
        free(w);
    else
        c->awaiting++;
    return rc;
}

/* Writes the content with dot-stuffing, without copying it: the buffers
 * point into the caller's content, with a "." inserted before each line
 * that starts with one; then ".\r\n". */
static int send_content(struct smtp_client *c)
{
    static char dot[] = ".", end[] = ".\r\n";
    const char *p = c->txn->content, *e = p + c->txn->len;
    size_t dots = 0, nb = 0, start = 0;
    struct write_req *w;
    uv_buf_t *bufs;

    if (c->tls_active) {
        int rc;
        c->content_active = 1;
        c->content_bol = 1;
        c->content_done = 0;
        c->content_off = 0;
        arm(c, c->cfg.t.data_xfer);
        if ((rc = tls_content_pump(c)) == 0)
            c->awaiting++; /* the reply to the final dot */
        return rc;
    }

    for (const char *q = p; q < e; q++)
        if (*q == '.' && (q == p || q[-1] == '\n'))
            dots++;
    if (!(w = calloc(1, sizeof(*w))) || !(bufs = calloc(2 * dots + 2, sizeof(*bufs)))) {
        free(w);
        return -ENOMEM;
    }
    for (size_t i = 0; i < c->txn->len; i++) {
        if (p[i] == '.' && (i == 0 || p[i - 1] == '\n')) {
            if (i > start)
                bufs[nb++] = uv_buf_init((char *)p + start, (unsigned)(i - start));
            bufs[nb++] = uv_buf_init(dot, 1);
            start = i;
        }
    }
    if (c->txn->len > start)
        bufs[nb++] = uv_buf_init((char *)p + start, (unsigned)(c->txn->len - start));
    bufs[nb++] = uv_buf_init(end, 3);
    w->c = c;
    w->bufs = bufs;
    w->req.data = w;
    arm(c, c->cfg.t.data_xfer);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs, (unsigned)nb, on_write);
    if (rc) {
        free(bufs);
        free(w);
    } else {
        c->awaiting++; /* the reply to the final dot */
    }
    return rc;
}

/* ---- the transaction ---- */

static int send_mail(struct smtp_client *c)
{
    char params[128] = "";
    size_t n = 0;
    if (c->ext & SMTP_EXT_SIZE)
        n += (size_t)snprintf(params + n, sizeof(params) - n, " SIZE=%zu", c->txn->len);
    if (c->txn->body_8bit && (c->ext & SMTP_EXT_8BITMIME))
        n += (size_t)snprintf(params + n, sizeof(params) - n, " BODY=8BITMIME");
    if (c->txn->need_smtputf8)
        snprintf(params + n, sizeof(params) - n, " SMTPUTF8");
    return send_line(c, "MAIL FROM:<%s>%s%s", c->txn->sender, params,
                     (c->ext & SMTP_EXT_DSN) && c->txn->dsn_mail ? c->txn->dsn_mail : "");
}

static int send_rcpt(struct smtp_client *c, size_t i)
{
    const char *dsn = (c->ext & SMTP_EXT_DSN) && c->txn->dsn_rcpt ? c->txn->dsn_rcpt[i] : NULL;
    return send_line(c, "RCPT TO:<%s>%s", c->txn->rcpt[i], dsn ? dsn : "");
}

/* Writes what may be written now: with PIPELINING everything up to DATA at
 * once (RFC 2920: DATA ends the group), otherwise the next command once
 * the previous reply is in. */
static int txn_pump(struct smtp_client *c)
{
    int rc = 0;
    int pipelining = c->ext & SMTP_EXT_PIPELINING;

    if (c->next_reply == 0 && c->sent_rcpt == 0 && !c->data_sent) {
        if ((rc = send_mail(c)))
            return rc;
        arm(c, c->cfg.t.mail);
        if (!pipelining)
            return 0;
    }
    while (c->sent_rcpt < c->txn->nrcpt && (pipelining || c->next_reply == c->sent_rcpt + 1)) {
        if ((rc = send_rcpt(c, c->sent_rcpt)))
            return rc;
        c->sent_rcpt++;
        arm(c, c->cfg.t.rcpt);
        if (!pipelining)
            return 0;
    }
    if (!c->data_sent && c->sent_rcpt == c->txn->nrcpt &&
        (pipelining || c->next_reply == c->txn->nrcpt + 1)) {
        if (!pipelining && c->accepted == 0) {
            txn_finish(c, 1);
            return 0;
        }
        if ((rc = send_line(c, "DATA")))
            return rc;
        c->data_sent = 1;
        arm(c, c->cfg.t.data_init);
    }
    return 0;
}

static void txn_start(struct smtp_client *c)
{
    c->state = S_TXN;
    c->sent_rcpt = c->next_reply = c->accepted = 0;
    c->mail_ok = c->data_sent = c->data_reply = c->empty_data = 0;
    c->content_active = c->content_done = 0;
    memset(&c->msg, 0, sizeof(c->msg));
    if (txn_pump(c) != 0)
        client_fail(c, 4, 0, "4.3.0", SMTP_STAGE_MAIL, "cannot write to %s", c->relay);
}

/* Ends the transaction: every recipient gets its own result, or the
 * message's when it never got that far; the caller hears TXN_DONE. */
static void txn_finish(struct smtp_client *c, int usable)
{
    struct smtp_outcome o = {0};
    const struct smtp_txn *t = c->txn;

    for (size_t i = 0; i < t->nrcpt; i++) {
        struct smtp_result *r = &c->rcpt_res[i];
        if (r->klass == 2 || r->klass == 0) {
            /* accepted at RCPT (or never asked): the message's fate */
            int stage = r->stage;
            *r = c->msg;
            if (r->klass == 0) {
                r->klass = 4;
                snprintf(r->text, sizeof(r->text), "transaction with %s did not complete",
                         c->relay);
                r->stage = stage;
            }
        }
    }
    struct smtp_result *results = c->rcpt_res;
    if (!c->msg.klass)
        c->msg.klass = 4;
    c->need_rset = !(c->msg.klass == 2 && c->msg.stage == SMTP_STAGE_DOT);
    o.res = c->msg;
    o.rcpt = results;
    o.nrcpt = t->nrcpt;
    o.session_usable = usable && !c->closing;
    o.dsn_passed = (c->ext & SMTP_EXT_DSN) && (t->dsn_mail || t->dsn_rcpt);
    /* The callback may start the next transaction at once. */
    c->txn = NULL;
    c->rcpt_res = NULL;
    c->state = c->closing ? S_CLOSED : S_READY;
    uv_timer_stop(&c->timer);
    c->cb(c->arg, c, SMTP_EV_TXN_DONE, &o);
    free(results);
}

/* A reply during the transaction: MAIL's, then each RCPT's, then DATA's. */
static void txn_reply(struct smtp_client *c, const struct smtp_reply *r)
{
    size_t n = c->txn->nrcpt;

    if (c->next_reply == 0) {
        set_result(&c->msg, r, SMTP_STAGE_MAIL);
        c->mail_ok = r->code / 100 == 2;
        for (size_t i = 0; !c->mail_ok && i < n; i++)
            c->rcpt_res[i] = c->msg; /* every recipient shares MAIL's refusal */
        c->next_reply++;
        if (!c->mail_ok && !(c->ext & SMTP_EXT_PIPELINING)) {
            txn_finish(c, r->code != 421);
            return;
        }
    } else if (c->next_reply <= n) {
        struct smtp_result *res = &c->rcpt_res[c->next_reply - 1];
        if (c->mail_ok) {
            set_result(res, r, SMTP_STAGE_RCPT);
            if (r->code / 100 == 2) {
                c->accepted++;
                res->klass = 0; /* decided by the end of data */
            }
        }
        c->next_reply++;
    } else {
        /* DATA's reply */
        c->data_reply = 1;
        if (r->code == 354 && c->mail_ok && c->accepted > 0) {
            c->state = S_DOT;
            if (send_content(c) != 0)
                client_fail(c, 4, 0, "4.3.0", SMTP_STAGE_DATA, "cannot write to %s", c->relay);
            return;
        }
        if (r->code == 354) {
            /* A pipelining server said go ahead with nobody to deliver to:
             * end the data at once; its reply decides nothing. */
            c->state = S_DOT;
            c->empty_data = 1;
            send_line(c, ".");
            arm(c, c->cfg.t.data_done);
            return;
        }
        if (r->code / 100 == 2 || r->code / 100 == 3) {
            /* Anything but 354 that is not a refusal: no content was sent,
             * so nothing can have been delivered. */
            client_fail(c, 4, r->code, "4.5.0", SMTP_STAGE_DATA,
                        "%s answered DATA with %d instead of 354", c->relay, r->code);
            return;
        }
        if (c->mail_ok)
            set_result(&c->msg, r, SMTP_STAGE_DATA);
        txn_finish(c, r->code != 421);
        return;
    }
    if (txn_pump(c) != 0)
        client_fail(c, 4, 0, "4.3.0", SMTP_STAGE_RCPT, "cannot write to %s", c->relay);
}

/* ---- session ---- */

static void parse_ehlo(struct smtp_client *c, const struct smtp_reply *r)
{
    const char *p = r->text;
    int first = 1;
    c->ext = 0;
    c->size_limit = 0;
    while (*p) {
        size_t n = strcspn(p, "\n");
        char kw[64];
        if (!first && n < sizeof(kw)) {
            memcpy(kw, p, n);
            kw[n] = 0;
            char *arg = strchr(kw, ' ');
            if (arg)
                *arg++ = 0;
            if (!strcasecmp(kw, "PIPELINING"))
                c->ext |= SMTP_EXT_PIPELINING;
            else if (!strcasecmp(kw, "SIZE")) {
                c->ext |= SMTP_EXT_SIZE;
                c->size_limit = arg ? strtoull(arg, NULL, 10) : 0;
            } else if (!strcasecmp(kw, "8BITMIME"))
                c->ext |= SMTP_EXT_8BITMIME;
            else if (!strcasecmp(kw, "SMTPUTF8"))
                c->ext |= SMTP_EXT_SMTPUTF8;
            else if (!strcasecmp(kw, "STARTTLS"))
                c->ext |= SMTP_EXT_STARTTLS;
            else if (!strcasecmp(kw, "DSN"))
                c->ext |= SMTP_EXT_DSN;
        }
        first = 0;
        p += n;
        if (*p == '\n')
            p++;
    }
}

static void session_ready(struct smtp_client *c)
{
    c->state = S_READY;
    uv_timer_stop(&c->timer);
    struct smtp_outcome o = {0};
    o.res.klass = 2;
    o.res.tls_failed = c->tls_refused;
    c->cb(c->arg, c, SMTP_EV_READY, &o);
}

/* TLS was required and cannot be had: FAILED, then QUIT (in plaintext:
 * TLS never started), so that no MAIL can follow. */
static void tls_required_fail(struct smtp_client *c, int tls_failed, const char *enh,
                              const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void tls_required_fail(struct smtp_client *c, int tls_failed, const char *enh,
                              const char *fmt, ...)
{
    struct smtp_outcome o = {0};
    va_list ap;

    o.res.klass = 4;
    o.res.stage = SMTP_STAGE_HELO;
    o.res.tls_failed = tls_failed;
    snprintf(o.res.enhanced, sizeof(o.res.enhanced), "%s", enh);
    va_start(ap, fmt);
    vsnprintf(o.res.text, sizeof(o.res.text), fmt, ap);
    va_end(ap);
    if (send_line(c, "QUIT") == 0) {
        c->state = S_QUIT;
        arm(c, c->cfg.t.quit);
    } else {
        client_close(c);
    }
    c->failed_reported = 1;
    c->cb(c->arg, c, SMTP_EV_FAILED, &o);
}

/* EHLO (or HELO) succeeded: STARTTLS, or on to READY, by the level. */
static void after_hello(struct smtp_client *c)
{
    if (c->tls_active || c->cfg.tls == SMTP_TLS_NONE) {
        session_ready(c);
        return;
    }
    if (c->ext & SMTP_EXT_STARTTLS) {
        c->state = S_STARTTLS;
        if (send_line(c, "STARTTLS") != 0) {
            client_fail(c, 4, 0, "4.4.2", SMTP_STAGE_HELO, "cannot write to %s", c->relay);
            return;
        }
        arm(c, c->cfg.t.helo);
        return;
    }
    if (c->cfg.tls == SMTP_TLS_MAY) {
        session_ready(c);
        return;
    }
    tls_required_fail(c, 0, "4.7.4", "TLS is required, but was not offered by %s", c->relay);
}

/* The 220 to STARTTLS: from here on every byte read goes to the engine. */
static void starttls_begin(struct smtp_client *c)
{
    enum tls_check check = c->cfg.tls == SMTP_TLS_VERIFY ? TLS_CHECK_REQUIRE : TLS_CHECK_RECORD;
    int rc = tls_session_client(c->cfg.trust, c->cfg.tls_name, check, &c->tls);

    if (rc != 0) {
        client_fail(c, 4, 0, "4.3.0", SMTP_STAGE_HELO, "cannot start TLS with %s: %s", c->relay,
                    strerror(-rc));
        return;
    }
    c->state = S_HANDSHAKE;
    smtp_reply_parser_init(&c->parser);
    arm(c, c->cfg.t.helo);
    if (tls_drain(c) != 0) /* the ClientHello */
        client_fail_tls(c, "4.7.5", "cannot write to %s", c->relay);
}

/* Copies the session's TLS parameters and verdict into tls_info. */
static void tls_info_update(struct smtp_client *c)
{
    struct tls_info ti;
    tls_session_info(c->tls, &ti);
    snprintf(c->tls_info.version, sizeof(c->tls_info.version), "%s", ti.version);
    snprintf(c->tls_info.cipher, sizeof(c->tls_info.cipher), "%s", ti.cipher);
    c->tls_info.verified = ti.verified;
    snprintf(c->tls_info.verify_error, sizeof(c->tls_info.verify_error), "%s", ti.verify_error);
}

/* Handshake done: forget everything learnt in plaintext, EHLO again. */
static void tls_established(struct smtp_client *c)
{
    tls_info_update(c);
    c->tls_active = 1;
    c->tls_info.active = 1;
    if (c->cfg.tls == SMTP_TLS_VERIFY && !c->tls_info.verified) {
        /* The engine refuses such a chain itself; this is a second lock. */
        client_fail_tls(c, "4.7.5", "TLS with %s: server certificate not verified: %s", c->relay,
                        c->tls_info.verify_error);
        return;
    }
    smtp_reply_parser_init(&c->parser);
    c->ext = 0;
    c->size_limit = 0;
    c->state = S_EHLO;
    if (send_line(c, "EHLO %s", c->helo) != 0) {
        client_fail(c, 4, 0, "4.4.2", SMTP_STAGE_HELO, "cannot write to %s", c->relay);
        return;
    }
    arm(c, c->cfg.t.helo);
}

/* The engine closed: a failed handshake, an alert, or close_notify. */
static void tls_ended(struct smtp_client *c)
{
    int err = tls_session_error(c->tls);
    char name[64];

    tls_error_name(err, name, sizeof(name));
    if (!c->tls_active) {
        tls_info_update(c);
        if (err >= BR_ERR_X509_OK && err <= BR_ERR_X509_NOT_TRUSTED)
            client_fail_tls(c, "4.7.5",
                            "TLS handshake with %s failed: server certificate not verified: %s",
                            c->relay, name);
        else
            client_fail_tls(c, "4.7.5", "TLS handshake with %s failed: %s", c->relay, name);
        return;
    }
    client_fail(c, 4, 0, "4.4.2", c->state == S_DOT ? SMTP_STAGE_DOT : SMTP_STAGE_MAIL,
                "lost connection with %s: TLS %s", c->relay,
                err ? name : "closed by the server (close_notify)");
}

static void on_reply(struct smtp_client *c, const struct smtp_reply *r)
{
    struct smtp_outcome o = {0};

    switch (c->state) {
    case S_GREETING:
        if (r->code != 220) {
            set_result(&o.res, r, SMTP_STAGE_GREETING);
            c->failed_reported = 1;
            c->cb(c->arg, c, SMTP_EV_FAILED, &o);
            client_close(c);
            return;
        }
        c->state = S_EHLO;
        send_line(c, "EHLO %s", c->helo);
        arm(c, c->cfg.t.helo);
        return;
    case S_EHLO:
        if (r->code == 250) {
            parse_ehlo(c, r);
            after_hello(c);
        } else if (r->code / 100 == 5 && !c->tls_active) {
            c->state = S_HELO;
            send_line(c, "HELO %s", c->helo);
            arm(c, c->cfg.t.helo);
        } else {
            goto refused;
        }
        return;
    case S_HELO:
        if (r->code != 250)
            goto refused;
        c->ext = 0;
        after_hello(c);
        return;
    case S_STARTTLS:
        if (r->code == 220) {
            starttls_begin(c);
            return;
        }
        if (r->code == 421) {
            set_result(&o.res, r, SMTP_STAGE_HELO);
            o.res.tls_failed = 1;
            c->failed_reported = 1;
            c->cb(c->arg, c, SMTP_EV_FAILED, &o);
            client_close(c);
            return;
        }
        if (c->cfg.tls == SMTP_TLS_MAY) {
            /* Nothing changed on the server's side: go on in plaintext
             * with what the first EHLO offered. */
            c->tls_refused = 1;
            session_ready(c);
            return;
        }
        {
            char reply[SMTP_TEXT_MAX];
            smtp_reply_format(r, reply, sizeof(reply));
            tls_required_fail(c, 1, "4.7.4", "TLS is required, but %s refused STARTTLS: %.400s",
                              c->relay, reply);
        }
        return;
    case S_RSET:
        if (r->code != 250) {
            client_fail(c, 4, r->code, "4.4.2", SMTP_STAGE_MAIL, "RSET refused by %s", c->relay);
            return;
        }
        c->need_rset = 0;
        c->txn = c->queued_txn;
        c->queued_txn = NULL;
        txn_start(c);
        return;
    case S_TXN:
        txn_reply(c, r);
        return;
    case S_DOT:
        if (c->empty_data) {
            txn_finish(c, r->code != 421);
            return;
        }
        set_result(&c->msg, r, SMTP_STAGE_DOT);
        txn_finish(c, r->code != 421);
        return;
    case S_QUIT:
        if (c->tls_active) {
            /* close_notify, best effort: the connection closes right after */
            tls_session_close(c->tls);
            tls_drain(c);
        }
        client_close(c);
        return;
    default:
        client_fail(c, 4, r->code, "4.5.0", SMTP_STAGE_CONNECT, "unexpected reply from %s",
                    c->relay);
        return;
    }
refused:
    set_result(&o.res, r, SMTP_STAGE_HELO);
    o.res.tls_failed = c->tls_active; /* EHLO refused over TLS: plaintext may do */
    c->failed_reported = 1;
    c->cb(c->arg, c, SMTP_EV_FAILED, &o);
    client_close(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[65536]; /* one loop thread; each read is parsed at once */
    buf->base = slab;
    buf->len = sizeof(slab);
}

/* Parses replies out of plaintext bytes. budget: replies this read may
 * still carry (see on_read). */
static void replies_input(struct smtp_client *c, const char *p, size_t n, unsigned *budget)
{
    while (n && !c->closing) {
        struct smtp_reply r;
        size_t used = 0;
        int rc = smtp_reply_feed(&c->parser, p, n, &r, &used);
        if (rc < 0) {
            client_fail(c, 4, 0, "4.5.0", SMTP_STAGE_CONNECT, "%s from %s",
                        rc == -EMSGSIZE ? "oversized reply" : "malformed reply", c->relay);
            return;
        }
        p += used;
        n -= used;
        if (rc == 0)
            break;
        /* A reply nobody asked for (while idle, or one more than the
         * commands sent) is a broken or hostile server: taking it would put
         * every later reply out of step with its command. */
        if (*budget == 0 || c->awaiting == 0 || c->state == S_READY || c->state == S_CONNECT) {
            client_fail(c, 4, r.code, "4.5.0",
                        c->state == S_DOT ? SMTP_STAGE_DOT : SMTP_STAGE_CONNECT,
                        "unexpected reply from %s", c->relay);
            return;
        }
        c->awaiting--;
        (*budget)--;
        on_reply(c, &r);
        if (c->state == S_HANDSHAKE) {
            /* The rest of this read came with the 220 to STARTTLS, before
             * the handshake: never parsed, whatever it says. */
            c->tls_info.discarded += n;
            return;
        }
    }
}

/* Ciphertext read under TLS: through the engine, plaintext to the
 * replies. Loops until every byte was taken and every output drained. */
static void tls_input(struct smtp_client *c, const char *p, size_t n, unsigned *budget)
{
    char plain[4096];

    for (;;) {
        size_t got;
        if (tls_drain(c) != 0) {
            client_fail(c, 4, 0, "4.4.2", SMTP_STAGE_MAIL, "cannot write to %s", c->relay);
            return;
        }
        while (!c->closing && (got = tls_session_read(c->tls, plain, sizeof(plain))) > 0)
            replies_input(c, plain, got, budget);
        if (c->closing)
            return;
        enum tls_state st = tls_session_state(c->tls);
        if (st == TLS_STATE_CLOSED) {
            tls_ended(c);
            return;
        }
        if (st == TLS_STATE_OPEN && !c->tls_active) {
            tls_established(c);
            if (c->closing)
                return;
        }
        if (n == 0)
            return;
        size_t used = tls_session_feed(c->tls, p, n);
        if (used == 0) {
            /* Every output was just drained: an engine that still takes
             * nothing would take nothing ever. */
            client_fail(c, 4, 0, "4.4.2", SMTP_STAGE_MAIL, "TLS with %s stalled", c->relay);
            return;
        }
        p += used;
        n -= used;
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct smtp_client *c = s->data;
    /* Replies in this buffer can only answer commands sent before it was
     * read: the server cannot have seen what we send while parsing it. */
    unsigned budget = c->awaiting;

    if (c->closing)
        return;
    if (nread < 0) {
        if (c->state == S_STARTTLS || c->state == S_HANDSHAKE)
            client_fail_tls(c, "4.7.5", "TLS handshake with %s failed: connection %s", c->relay,
                            nread == UV_EOF ? "closed" : "read error");
        else
            client_fail(c, 4, 0, "4.4.2", c->state == S_DOT ? SMTP_STAGE_DOT : SMTP_STAGE_MAIL,
                        "lost connection with %s%s", c->relay,
                        nread == UV_EOF ? "" : " (read error)");
        return;
    }
    if (nread == 0)
        return;
    if (c->tls)
        tls_input(c, buf->base, (size_t)nread, &budget);
    else
        replies_input(c, buf->base, (size_t)nread, &budget);
}

static void on_timeout(uv_timer_t *t)
{
    struct smtp_client *c = t->data;
    static const enum smtp_stage by_state[] = {
        [S_CONNECT] = SMTP_STAGE_CONNECT, [S_GREETING] = SMTP_STAGE_GREETING,
        [S_EHLO] = SMTP_STAGE_HELO,       [S_HELO] = SMTP_STAGE_HELO,
        [S_STARTTLS] = SMTP_STAGE_HELO,   [S_HANDSHAKE] = SMTP_STAGE_HELO,
        [S_READY] = SMTP_STAGE_MAIL,      [S_RSET] = SMTP_STAGE_MAIL,
        [S_TXN] = SMTP_STAGE_RCPT,        [S_DOT] = SMTP_STAGE_DOT,
        [S_QUIT] = SMTP_STAGE_QUIT,       [S_CLOSED] = SMTP_STAGE_QUIT,
    };
    if (c->state == S_QUIT) {
        client_close(c);
        return;
    }
    if (c->state == S_STARTTLS || c->state == S_HANDSHAKE) {
        client_fail_tls(c, "4.7.5", "timeout with %s %s", c->relay,
                        c->state == S_STARTTLS ? "while waiting for the STARTTLS reply"
                                               : "during the TLS handshake");
        return;
    }
    client_fail(c, 4, 0, "4.4.2", by_state[c->state],
                "timeout with %s while waiting for the %s reply", c->relay,
                stage_name(by_state[c->state]));
}

static void on_connect(uv_connect_t *req, int status)
{
    struct smtp_client *c = req->data;
    if (c->closing)
        return;
    if (status < 0) {
        client_fail(c, 4, 0, "4.4.1", SMTP_STAGE_CONNECT, "connect to %s: %s", c->relay,
                    uv_strerror(status));
        return;
    }
    c->state = S_GREETING;
    c->awaiting = 1; /* the greeting */
    arm(c, c->cfg.t.helo);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        client_fail(c, 4, 0, "4.4.1", SMTP_STAGE_CONNECT, "cannot read from %s", c->relay);
}

static void on_closed(uv_handle_t *h)
{
    struct smtp_client *c = h->data;
    if (--c->open_handles > 0)
        return;
    if (c->cb)
        c->cb(c->arg, c, SMTP_EV_CLOSED, NULL);
    free(c->rcpt_res);
    tls_session_free(c->tls);
    free(c);
}

static void client_close(struct smtp_client *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->state = S_CLOSED;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_closed);
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

/* Something went wrong: a transaction in progress ends with this as its
 * (temporary) result; a session not yet established reports FAILED. */
static void client_vfail(struct smtp_client *c, int klass, int code, const char *enh,
                         enum smtp_stage stage, int tls_failed, const char *fmt, va_list ap)
    __attribute__((format(printf, 7, 0)));

static void client_vfail(struct smtp_client *c, int klass, int code, const char *enh,
                         enum smtp_stage stage, int tls_failed, const char *fmt, va_list ap)
{
    struct smtp_result res = {0};

    if (c->closing)
        return;
    res.klass = klass;
    res.code = code;
    res.stage = stage;
    res.tls_failed = tls_failed;
    snprintf(res.enhanced, sizeof(res.enhanced), "%s", enh);
    vsnprintf(res.text, sizeof(res.text), fmt, ap);
    if (c->txn) {
        /* results already decided (RCPT refusals) stay; the rest is this */
        if (c->msg.klass != 5 || c->mail_ok)
            c->msg = res;
        client_close(c);
        txn_finish(c, 0);
        return;
    }
    if (!c->failed_reported && c->state != S_READY && c->state != S_QUIT) {
        struct smtp_outcome o = {0};
        o.res = res;
        c->failed_reported = 1;
        client_close(c);
        c->cb(c->arg, c, SMTP_EV_FAILED, &o);
        return;
    }
    client_close(c);
}

static void client_fail(struct smtp_client *c, int klass, int code, const char *enh,
                        enum smtp_stage stage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    client_vfail(c, klass, code, enh, stage, 0, fmt, ap);
    va_end(ap);
}

/* STARTTLS or the handshake failed: temporary, tls_failed set. */
static void client_fail_tls(struct smtp_client *c, const char *enh, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    client_vfail(c, 4, 0, enh, SMTP_STAGE_HELO, 1, fmt, ap);
    va_end(ap);
}

/* ---- public ---- */

int smtp_client_start(uv_loop_t *loop, const struct sockaddr *addr, const char *name,
                      const struct smtp_client_config *cfg, smtp_client_cb cb, void *arg,
                      struct smtp_client **out)
{
    struct smtp_client *c = calloc(1, sizeof(*c));
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0, rc;

    *out = NULL;
    if ((unsigned)cfg->tls > SMTP_TLS_VERIFY ||
        (cfg->tls_name && strlen(cfg->tls_name) >= sizeof(c->tls_name))) {
        free(c);
        return -EINVAL;
    }
    if (!c)
        return -ENOMEM;
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;
        inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
        port = ntohs(sin->sin_port);
    } else if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)addr;
        inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
        port = ntohs(sin6->sin6_port);
    }
    snprintf(c->relay, sizeof(c->relay), "%.255s[%s]:%d", name, ip, port);
    snprintf(c->helo, sizeof(c->helo), "%s", cfg->helo_name);
    c->cfg = *cfg;
    c->cfg.helo_name = c->helo;
    if (cfg->tls_name && *cfg->tls_name) {
        size_t n = strlen(cfg->tls_name);
        /* "mx.example.com." names the same host; SNI and certificates
         * carry it without the root's dot (RFC 6066 3). */
        snprintf(c->tls_name, sizeof(c->tls_name), "%.*s",
                 (int)(n > 1 && cfg->tls_name[n - 1] == '.' ? n - 1 : n), cfg->tls_name);
        c->cfg.tls_name = c->tls_name;
    } else {
        c->cfg.tls_name = NULL;
    }
    c->loop = loop;
    c->cb = cb;
    c->arg = arg;
    c->state = S_CONNECT;
    smtp_reply_parser_init(&c->parser);
    if ((rc = uv_tcp_init(loop, &c->tcp))) {
        free(c);
        return rc;
    }
    uv_timer_init(loop, &c->timer);
    c->open_handles = 2;
    c->tcp.data = c->timer.data = c->connect_req.data = c;
    uv_tcp_nodelay(&c->tcp, 1);
    arm(c, c->cfg.t.connect);
    if ((rc = uv_tcp_connect(&c->connect_req, &c->tcp, addr, on_connect))) {
        /* No callback will come: close quietly and report the error. */
        c->failed_reported = 1;
        client_close(c);
        c->cb = NULL;
        return rc;
    }
    *out = c;
    return 0;
}

int smtp_client_send(struct smtp_client *c, const struct smtp_txn *txn)
{
    if (c->state != S_READY || c->txn || c->closing)
        return -EBUSY;
    if (txn->nrcpt == 0)
        return -EINVAL;
    if ((c->ext & SMTP_EXT_SIZE) && c->size_limit && txn->len > c->size_limit)
        return -EMSGSIZE;
    if (txn->need_smtputf8 && !(c->ext & SMTP_EXT_SMTPUTF8))
        return -EPROTONOSUPPORT;
    c->rcpt_res = calloc(txn->nrcpt, sizeof(*c->rcpt_res));
    if (!c->rcpt_res)
        return -ENOMEM;
    if (c->need_rset) {
        c->queued_txn = txn;
        c->txn = txn;
        c->state = S_RSET;
        if (send_line(c, "RSET") != 0) {
            client_fail(c, 4, 0, "4.3.0", SMTP_STAGE_MAIL, "cannot write to %s", c->relay);
            return 0;
        }
        arm(c, c->cfg.t.mail);
        return 0;
    }
    c->txn = txn;
    txn_start(c);
    return 0;
}

void smtp_client_quit(struct smtp_client *c)
{
    if (c->closing)
        return;
    if (c->state != S_READY || send_line(c, "QUIT") != 0) {
        client_close(c);
        return;
    }
    c->state = S_QUIT;
    arm(c, c->cfg.t.quit);
}

void smtp_client_abort(struct smtp_client *c)
{
    if (c->closing)
        return;
    if (c->txn) {
        client_fail(c, 4, 0, "4.3.0", SMTP_STAGE_MAIL, "delivery to %s interrupted", c->relay);
        return;
    }
    c->failed_reported = 1;
    client_close(c);
}

const char *smtp_client_relay(const struct smtp_client *c)
{
    return c->relay;
}

unsigned smtp_client_extensions(const struct smtp_client *c, uint64_t *size_limit)
{
    if (size_limit)
        *size_limit = c->size_limit;
    return c->ext;
}

const struct smtp_tls_info *smtp_client_tls(const struct smtp_client *c)
{
    return &c->tls_info;
}
