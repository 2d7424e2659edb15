/*
 * server_core.c - the SMTP server's protocol without I/O (see server.h,
 * "the protocol core"): command lines, the session state machine, the
 * ESMTP parameters, AUTH PLAIN/LOGIN, and DATA with dot-unstuffing.
 *
 * Trust: every byte fed here comes from the client and is hostile. Lines
 * are assembled into a fixed buffer (SMTP_SERVER_LINE_MAX) and an overlong
 * line is discarded up to its CRLF, never stored; message content is
 * stored up to max_message_size and only counted beyond. Only CRLF ends a
 * command line or a text line; a bare CR or LF is never a line end and so
 * never the end of DATA (SMTP smuggling, CVE-2023-51764): such a message
 * is refused at its final dot, or normalised to CRLF if configured.
 * Addresses, parameters and AUTH identities reach the hooks only after
 * syntax checks and with no control characters.
 *
 * What is enforced about pipelining (RFC 2920): bytes after a command that
 * must end a group, already in the input when that command is taken, are
 * "improper pipelining": 554 5.5.0 and the session closes. The commands:
 * for every client STARTTLS and DATA (and the final line of AUTH, and
 * talking before the greeting); for a client not authenticated also
 * EHLO, HELO, NOOP, QUIT and AUTH. Commands after the final dot may be
 * pipelined (they wait until the message hook answers).
 *
 * Reply choices: an unknown command is 500 5.5.2; a command line with a
 * bare CR or LF is 500 5.5.2 and not acted on; over 512 octets 500 5.5.6.
 * A message with a text line over 1000 octets (with CRLF) is refused at
 * the final dot with 550 5.6.0 "Line too long"; one with a bare CR or LF
 * with 550 5.6.0 (unless normalize_bare_lf). Every 5xx for a protocol
 * error (500-504, 538, 555, AUTH failures) counts toward max_errors.
 */
#include "server.h"
#include "xtext.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#define OUT_MAX 8192
#define OUT_RESERVE 1024 /* free room before taking another command: one reply fits */
#define DATA_INITIAL 65536

enum phase {
    P_GREETING, /* before the 220 */
    P_COMMAND,
    P_AUTH_PLAIN,    /* 334 sent, waiting for the PLAIN response */
    P_AUTH_USER,     /* LOGIN: waiting for the user name */
    P_AUTH_PASSWORD, /* LOGIN: waiting for the password */
    P_DATA,
};

/* Where DATA stands in its current line. */
enum dstate {
    D_BOL,   /* after CRLF (or at the start) */
    D_MID,   /* inside a line */
    D_CR,    /* a CR inside a line: CRLF if an LF follows */
    D_DOT,   /* a "." at the start of a line */
    D_DOTCR, /* ".\r" at the start of a line */
};

struct smtp_server_core {
    const struct smtp_server_config *cfg;
    const struct smtp_server_hooks *hooks;
    struct smtp_server_client *cl;
    struct smtp_server_session *session;
    int offer_tls;
    uint64_t max_size;
    unsigned max_rcpt, max_errors;

    enum phase phase;
    enum smtp_server_core_status status;
    int waiting_auth, waiting_message;

    /* The command line being assembled. */
    char line[SMTP_SERVER_LINE_MAX];
    size_t linelen;
    int line_cr, line_bare, line_long, line_ctl;
    unsigned long lines;

    char out[OUT_MAX];
    size_t outlen;

    unsigned errors;
    int helo; /* 0: none yet, 1: HELO, 2: EHLO */

    /* AUTH in progress. */
    char auth_user[SMTP_SERVER_USER_MAX];

    /* The transaction. */
    int mail;
    int rcpt_tried;
    struct smtp_server_envelope env;
    struct smtp_server_rcpt *rcpt; /* max_rcpt entries, allocated at the first RCPT */
    size_t nrcpt;

    /* DATA. */
    enum dstate dstate;
    char *data;
    size_t datalen, datacap;
    size_t textlen; /* octets of the current text line so far */
    int data_bare, data_long, data_big, data_nomem;
};

/* ---- output ---- */

static void reply(struct smtp_server_core *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void reply(struct smtp_server_core *c, const char *fmt, ...)
{
    va_list ap;
    size_t room = sizeof(c->out) - c->outlen;
    int n;

    /* Commands are taken only with OUT_RESERVE free and one command
     * queues at most one reply under that size, so this never cuts. */
    if (room < 3)
        return;
    va_start(ap, fmt);
    n = vsnprintf(c->out + c->outlen, room - 2, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > room - 3)
        n = (int)(room - 3);
    c->outlen += (size_t)n;
    memcpy(c->out + c->outlen, "\r\n", 2);
    c->outlen += 2;
}

static void close_with(struct smtp_server_core *c, const char *text)
{
    reply(c, "%s", text);
    c->status = SMTP_CORE_CLOSE;
}

/* A protocol error: the reply, and 421 once there were too many. */
static void error_reply(struct smtp_server_core *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void error_reply(struct smtp_server_core *c, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    reply(c, "%s", buf);
    if (++c->errors >= c->max_errors)
        close_with(c, "421 4.7.0 Too many errors, closing connection");
}

static void verdict_reply(struct smtp_server_core *c, const struct smtp_server_verdict *v,
                          const char *dflt)
{
    char text[sizeof(v->text)];
    size_t i;

    if (!v->code) {
        reply(c, "%s", dflt);
        return;
    }
    /* The owner's text goes on the wire: keep it one printable line. */
    for (i = 0; i + 1 < sizeof(text) && v->text[i]; i++)
        text[i] = ((unsigned char)v->text[i] < 0x20 || (unsigned char)v->text[i] > 0x7e)
                      ? ' '
                      : v->text[i];
    text[i] = '\0';
    reply(c, "%03d %s", v->code < 200 || v->code > 599 ? 451 : v->code, text);
}

/* ---- the transaction ---- */

static void txn_reset(struct smtp_server_core *c)
{
    c->mail = 0;
    c->rcpt_tried = 0;
    c->nrcpt = 0;
    memset(&c->env, 0, sizeof(c->env));
    free(c->data);
    c->data = NULL;
    c->datalen = c->datacap = 0;
}

/* Everything STARTTLS makes the client send again (RFC 3207 4.2). */
static void session_reset(struct smtp_server_core *c)
{
    txn_reset(c);
    c->helo = 0;
    c->cl->helo[0] = '\0';
    c->cl->user[0] = '\0';
}

/* ---- syntax helpers ---- */

static int is_ctl(unsigned char ch)
{
    return ch < 0x20 || ch == 0x7f;
}

/* Checks s[0..len) is well-formed UTF-8 without overlong forms or
 * surrogates. */
static int utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char b = s[i];
        size_t n;
        uint32_t cp;
        if (b < 0x80) {
            i++;
            continue;
        } else if ((b & 0xe0) == 0xc0) {
            n = 1;
            cp = b & 0x1f;
        } else if ((b & 0xf0) == 0xe0) {
            n = 2;
            cp = b & 0x0f;
        } else if ((b & 0xf8) == 0xf0) {
            n = 3;
            cp = b & 0x07;
        } else {
            return 0;
        }
        if (len - i <= n)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

/*
 * Parses "<path>" at *p (the text after "FROM:" or "TO:", spaces
 * skipped): strips a source route (RFC 5321 C), copies the mailbox into
 * addr and leaves *p after the ">". Returns 0, -1 bad syntax, -2 too long.
 */
static int path_parse(const char **p, char *addr, size_t addrlen)
{
    const char *s = *p, *start, *end;
    int quoted = 0;

    while (*s == ' ')
        s++;
    if (*s != '<')
        return -1;
    start = ++s;
    for (end = start; *end; end++) {
        if (quoted && *end == '\\' && end[1]) {
            end++;
            continue;
        }
        if (*end == '"')
            quoted = !quoted;
        else if (!quoted && *end == '>')
            break;
    }
    if (*end != '>')
        return -1;
    *p = end + 1;
    if (*start == '@') {
        /* A source route: "@a,@b:" before the mailbox. */
        const char *colon = memchr(start, ':', (size_t)(end - start));
        if (!colon)
            return -1;
        for (const char *r = start; r < colon; r++)
            if (*r == ' ' || *r == '"' || *r == '<')
                return -1;
        start = colon + 1;
    }
    if ((size_t)(end - start) >= addrlen)
        return -2;
    memcpy(addr, start, (size_t)(end - start));
    addr[end - start] = '\0';
    return 0;
}

/*
 * Checks a mailbox: local@domain (or, when allow_local, a bare local part
 * such as "postmaster"), a dot-atom or quoted local part, a domain of
 * letters, digits, hyphens and dots or an address literal, and bytes over
 * 127 only with utf8 (and then valid UTF-8). Returns 1 if good.
 */
static int mailbox_valid(const char *addr, int utf8, int allow_local)
{
    const unsigned char *a = (const unsigned char *)addr;
    size_t len = strlen(addr);
    const char *at = strrchr(addr, '@');
    size_t llen = at ? (size_t)(at - addr) : len;

    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (is_ctl(a[i]))
            return 0;
        if (a[i] > 127 && !utf8)
            return 0;
    }
    if (utf8 && !utf8_valid(a, len))
        return 0;
    if (llen == 0)
        return 0;
    if (addr[0] == '"') {
        /* A quoted string must be the whole local part. */
        size_t i = 1;
        for (; i < llen; i++) {
            if (addr[i] == '\\' && i + 1 < llen)
                i++;
            else if (addr[i] == '"')
                break;
        }
        if (i != llen - 1 || llen < 2)
            return 0;
    } else {
        for (size_t i = 0; i < llen; i++)
            if (a[i] <= ' ' || strchr("()<>[]:;@\\,\"", a[i]))
                return 0;
        if (addr[0] == '.' || addr[llen - 1] == '.' || memmem(addr, llen, "..", 2))
            return 0;
    }
    if (!at)
        return allow_local;
    const char *d = at + 1;
    size_t dlen = strlen(d);
    if (dlen == 0 || dlen > 255)
        return 0;
    if (d[0] == '[')
        return d[dlen - 1] == ']' && strcspn(d + 1, " []\\") == dlen - 2;
    for (size_t i = 0; i < dlen; i++) {
        unsigned char ch = (unsigned char)d[i];
        if (!(isalnum(ch) || ch == '-' || ch == '.' || ch > 127))
            return 0;
    }
    return d[0] != '.' && d[dlen - 1] != '.' && strstr(d, "..") == NULL;
}

/* Copies at most 64 bytes of s for echoing in a reply, non-printable
 * ones as '?'. Returns buf. */
static const char *echo(const char *s, char *buf, size_t len)
{
    size_t i = 0;
    for (; i + 1 < len && i < 64 && s[i]; i++)
        buf[i] = (unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e ? '?' : s[i];
    buf[i] = '\0';
    return buf;
}

/* Splits the next space-separated "KEY[=VALUE]" at *p. Returns 0 at the
 * end, else 1 with key/value pointers into a copy kept in buf. */
static int param_next(const char **p, char *buf, size_t buflen, char **key, char **value)
{
    const char *s = *p;
    size_t n;
    while (*s == ' ')
        s++;
    if (!*s)
        return 0;
    n = strcspn(s, " ");
    if (n >= buflen)
        n = buflen - 1; /* cannot happen: lines are shorter than buf */
    memcpy(buf, s, n);
    buf[n] = '\0';
    *p = s + n;
    *key = buf;
    *value = strchr(buf, '=');
    if (*value)
        *(*value)++ = '\0';
    return 1;
}

static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s || strlen(s) > 20)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

/* ---- commands ---- */

static int prefix(const char *s, const char *word)
{
    return strncasecmp(s, word, strlen(word)) == 0;
}

static void do_ehlo(struct smtp_server_core *c, const char *arg, int ehlo)
{
    const char *host = c->cfg->hostname ? c->cfg->hostname : "localhost";
    size_t i;

    while (*arg == ' ')
        arg++;
    if (!*arg) {
        error_reply(c, "501 5.5.4 Syntax: %s hostname", ehlo ? "EHLO" : "HELO");
        return;
    }
    for (i = 0; i + 1 < sizeof(c->cl->helo) && arg[i]; i++)
        c->cl->helo[i] =
            ((unsigned char)arg[i] > 126 || is_ctl((unsigned char)arg[i])) ? '?' : arg[i];
    c->cl->helo[i] = '\0';
    txn_reset(c);
    c->helo = ehlo ? 2 : 1;
    if (!ehlo) {
        reply(c, "250 %s", host);
        return;
    }
    reply(c, "250-%s", host);
    reply(c, "250-PIPELINING");
    reply(c, "250-SIZE %" PRIu64, c->max_size);
    reply(c, "250-8BITMIME");
    reply(c, "250-ENHANCEDSTATUSCODES");
    reply(c, "250-SMTPUTF8");
    if (c->offer_tls && !c->cl->tls)
        reply(c, "250-STARTTLS");
    if (c->offer_tls && c->cl->tls && !c->cl->user[0])
        reply(c, "250-AUTH PLAIN LOGIN");
    reply(c, "250 DSN");
}

static void do_mail(struct smtp_server_core *c, const char *arg)
{
    struct smtp_server_verdict v = {0};
    struct smtp_server_envelope env = {0};
    char pbuf[SMTP_SERVER_LINE_MAX], ebuf[65], *key, *val;
    uint64_t size = 0;
    int have_size = 0, have_body = 0, have_ret = 0, have_auth = 0, rc;
    const char *p;

    if (!c->helo) {
        error_reply(c, "503 5.5.1 Send HELO or EHLO first");
        return;
    }
    if (c->mail) {
        error_reply(c, "503 5.5.1 Nested MAIL command");
        return;
    }
    if (!prefix(arg, " FROM:")) {
        error_reply(c, "501 5.5.2 Syntax: MAIL FROM:<address>");
        return;
    }
    p = arg + 6;
    rc = path_parse(&p, env.sender, sizeof(env.sender));
    if (rc == -2) {
        error_reply(c, "501 5.1.7 Sender address too long");
        return;
    }
    if (rc < 0 || (*p && *p != ' ')) {
        error_reply(c, "501 5.5.2 Syntax: MAIL FROM:<address>");
        return;
    }
    while (param_next(&p, pbuf, sizeof(pbuf), &key, &val)) {
        if (c->helo != 2) {
            error_reply(c, "555 5.5.4 Parameters need EHLO");
            return;
        }
        if (!strcasecmp(key, "SIZE") && val) {
            if (have_size++ || parse_u64(val, &size) < 0) {
                error_reply(c, "501 5.5.4 Bad SIZE parameter");
                return;
            }
        } else if (!strcasecmp(key, "BODY") && val) {
            if (have_body++ || (strcasecmp(val, "7BIT") && strcasecmp(val, "8BITMIME"))) {
                error_reply(c, "501 5.5.4 Bad BODY parameter");
                return;
            }
            env.body_8bit = !strcasecmp(val, "8BITMIME");
        } else if (!strcasecmp(key, "SMTPUTF8") && !val) {
            if (env.smtputf8++) {
                error_reply(c, "501 5.5.4 Duplicate SMTPUTF8 parameter");
                return;
            }
        } else if (!strcasecmp(key, "RET") && val) {
            if (have_ret++ || (strcasecmp(val, "FULL") && strcasecmp(val, "HDRS"))) {
                error_reply(c, "501 5.5.4 Bad RET parameter");
                return;
            }
            env.ret_hdrs = !strcasecmp(val, "HDRS");
        } else if (!strcasecmp(key, "ENVID") && val) {
            if (env.envid[0] || !*val ||
                smtp_xtext_decode(val, strlen(val), env.envid, sizeof(env.envid)) < 0) {
                error_reply(c, "501 5.5.4 Bad ENVID parameter");
                return;
            }
        } else if (!strcasecmp(key, "AUTH") && val) {
            /* RFC 4954 5: checked, then ignored; the owner decides who may
             * send as whom from cl->user. */
            char tmp[SMTP_SERVER_ADDR_MAX];
            if (have_auth++ ||
                (strcmp(val, "<>") && smtp_xtext_decode(val, strlen(val), tmp, sizeof(tmp)) < 0)) {
                error_reply(c, "501 5.5.4 Bad AUTH parameter");
                return;
            }
        } else {
            error_reply(c, "555 5.5.4 Unsupported parameter %s", echo(key, ebuf, sizeof(ebuf)));
            return;
        }
    }
    if (env.sender[0] && !mailbox_valid(env.sender, env.smtputf8, 0)) {
        error_reply(c, "501 5.1.7 Bad sender address syntax");
        return;
    }
    if (have_size && size > c->max_size) {
        reply(c, "552 5.3.4 Message size exceeds fixed limit");
        return;
    }
    if (c->hooks->mail &&
        (c->hooks->mail(c->hooks->arg, c->cl, env.sender, size, &v) != 0 || v.code != 0)) {
        if (!v.code) {
            v.code = 451;
            snprintf(v.text, sizeof(v.text), "4.3.0 Sender refused");
        }
        verdict_reply(c, &v, "");
        return;
    }
    txn_reset(c);
    c->env = env;
    c->mail = 1;
    reply(c, "250 2.1.0 Ok");
}

static int notify_parse(const char *val, unsigned *out)
{
    char buf[64], *save = NULL, *tok;
    unsigned n = 0;
    if (strlen(val) >= sizeof(buf) || !*val)
        return -1;
    strcpy(buf, val);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        unsigned bit;
        if (!strcasecmp(tok, "NEVER"))
            bit = SMTP_NOTIFY_NEVER;
        else if (!strcasecmp(tok, "SUCCESS"))
            bit = SMTP_NOTIFY_SUCCESS;
        else if (!strcasecmp(tok, "FAILURE"))
            bit = SMTP_NOTIFY_FAILURE;
        else if (!strcasecmp(tok, "DELAY"))
            bit = SMTP_NOTIFY_DELAY;
        else
            return -1;
        if (n & bit)
            return -1;
        n |= bit;
    }
    if (!n || ((n & SMTP_NOTIFY_NEVER) && n != SMTP_NOTIFY_NEVER))
        return -1;
    *out = n;
    return 0;
}

static void do_rcpt(struct smtp_server_core *c, const char *arg)
{
    struct smtp_server_verdict v = {0};
    struct smtp_server_rcpt r = {0};
    char pbuf[SMTP_SERVER_LINE_MAX], ebuf[65], *key, *val;
    const char *p;
    int rc;

    if (!c->mail) {
        error_reply(c, "503 5.5.1 Need MAIL before RCPT");
        return;
    }
    if (!prefix(arg, " TO:")) {
        error_reply(c, "501 5.5.2 Syntax: RCPT TO:<address>");
        return;
    }
    c->rcpt_tried = 1;
    p = arg + 4;
    rc = path_parse(&p, r.address, sizeof(r.address));
    if (rc == -2) {
        error_reply(c, "501 5.1.3 Recipient address too long");
        return;
    }
    if (rc < 0 || (*p && *p != ' ')) {
        error_reply(c, "501 5.5.2 Syntax: RCPT TO:<address>");
        return;
    }
    while (param_next(&p, pbuf, sizeof(pbuf), &key, &val)) {
        if (c->helo != 2) {
            error_reply(c, "555 5.5.4 Parameters need EHLO");
            return;
        }
        if (!strcasecmp(key, "NOTIFY") && val) {
            if (r.notify || notify_parse(val, &r.notify) < 0) {
                error_reply(c, "501 5.5.4 Bad NOTIFY parameter");
                return;
            }
        } else if (!strcasecmp(key, "ORCPT") && val) {
            if (r.orcpt[0] || smtp_orcpt_decode(val, r.orcpt, sizeof(r.orcpt)) < 0) {
                error_reply(c, "501 5.5.4 Bad ORCPT parameter");
                return;
            }
        } else {
            error_reply(c, "555 5.5.4 Unsupported parameter %s", echo(key, ebuf, sizeof(ebuf)));
            return;
        }
    }
    if (!mailbox_valid(r.address, c->env.smtputf8, 1) ||
        (!strchr(r.address, '@') && strcasecmp(r.address, "postmaster") != 0)) {
        error_reply(c, "501 5.1.3 Bad recipient address syntax");
        return;
    }
    if (c->nrcpt >= c->max_rcpt) {
        reply(c, "452 4.5.3 Too many recipients");
        return;
    }
    if (!c->rcpt && !(c->rcpt = calloc(c->max_rcpt, sizeof(*c->rcpt)))) {
        reply(c, "452 4.3.1 Insufficient system resources");
        return;
    }
    if (c->hooks->rcpt && (c->hooks->rcpt(c->hooks->arg, c->cl, &r, &v) != 0 || v.code != 0)) {
        if (!v.code) {
            v.code = 550;
            snprintf(v.text, sizeof(v.text), "5.1.1 Recipient refused");
        }
        verdict_reply(c, &v, "");
        return;
    }
    c->rcpt[c->nrcpt++] = r;
    reply(c, "250 2.1.5 Ok");
}

/* Called for a command that must end a pipelining group; more = bytes
 * already waiting after it. Returns 1 (and closes) if that is improper. */
static int improper_pipelining(struct smtp_server_core *c, size_t more, int always)
{
    if (!more || (!always && c->cl->user[0]))
        return 0;
    close_with(c, "554 5.5.0 Improper command pipelining, closing connection");
    return 1;
}

/* Hands the decoded credentials to the owner. */
static void auth_start(struct smtp_server_core *c, const char *authzid, const char *user,
                       const char *password)
{
    snprintf(c->auth_user, sizeof(c->auth_user), "%s", user);
    c->phase = P_COMMAND;
    if (!c->hooks->auth) {
        reply(c, "454 4.7.0 Temporary authentication failure");
        return;
    }
    c->waiting_auth = 1;
    c->status = SMTP_CORE_WAIT;
    c->hooks->auth(c->hooks->arg, c->session, c->cl, authzid, user, password);
}

/* Decodes one base64 AUTH response into buf (NUL-terminated, may hold
 * NULs). Returns the decoded length or -1. "=" is the empty response. */
static long b64_decode(const char *in, char *buf, size_t buflen)
{
    size_t len = 0;
    const char *end = NULL;
    if (!strcmp(in, "="))
        return 0;
    if (!*in ||
        sodium_base642bin((unsigned char *)buf, buflen - 1, in, strlen(in), NULL, &len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        *end)
        return -1;
    buf[len] = '\0';
    return (long)len;
}

/* An identity the owner may log and compare: printable, bounded. */
static int identity_valid(const char *s, size_t len, size_t max)
{
    if (len >= max)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (is_ctl((unsigned char)s[i]))
            return 0;
    return 1;
}

static void auth_plain(struct smtp_server_core *c, const char *resp)
{
    char buf[SMTP_SERVER_LINE_MAX];
    long n = b64_decode(resp, buf, sizeof(buf));
    const char *authzid = buf, *user, *password, *end;

    if (n < 0) {
        c->phase = P_COMMAND;
        error_reply(c, "501 5.5.2 Invalid base64 data");
        return;
    }
    end = buf + n;
    user = memchr(authzid, '\0', (size_t)n);
    if (user)
        user++;
    password = user ? memchr(user, '\0', (size_t)(end - user)) : NULL;
    if (password)
        password++;
    if (!user || !password || memchr(password, '\0', (size_t)(end - password)) ||
        user == password - 1 || !identity_valid(authzid, strlen(authzid), SMTP_SERVER_USER_MAX) ||
        !identity_valid(user, strlen(user), SMTP_SERVER_USER_MAX)) {
        c->phase = P_COMMAND;
        error_reply(c, "501 5.5.2 Invalid AUTH PLAIN response");
        return;
    }
    auth_start(c, authzid, user, password);
    sodium_memzero(buf, sizeof(buf));
}

static void auth_login_user(struct smtp_server_core *c, const char *resp)
{
    char buf[SMTP_SERVER_LINE_MAX];
    long n = b64_decode(resp, buf, sizeof(buf));
    if (n <= 0 || memchr(buf, '\0', (size_t)n) ||
        !identity_valid(buf, (size_t)n, SMTP_SERVER_USER_MAX)) {
        c->phase = P_COMMAND;
        error_reply(c, "501 5.5.2 Invalid AUTH LOGIN user name");
        return;
    }
    memcpy(c->auth_user, buf, (size_t)n + 1);
    c->phase = P_AUTH_PASSWORD;
    reply(c, "334 UGFzc3dvcmQ6");
}

static void auth_login_password(struct smtp_server_core *c, const char *resp)
{
    char buf[SMTP_SERVER_LINE_MAX], user[SMTP_SERVER_USER_MAX];
    long n = b64_decode(resp, buf, sizeof(buf));
    if (n < 0 || memchr(buf, '\0', (size_t)n)) {
        c->phase = P_COMMAND;
        error_reply(c, "501 5.5.2 Invalid AUTH LOGIN password");
        return;
    }
    memcpy(user, c->auth_user, sizeof(user));
    auth_start(c, "", user, buf);
    sodium_memzero(buf, sizeof(buf));
}

static void do_auth(struct smtp_server_core *c, const char *arg, size_t more)
{
    char mech[32];
    const char *initial;
    size_t n;

    if (!c->cl->tls || !c->offer_tls) {
        error_reply(c, "538 5.7.11 Encryption required for requested authentication mechanism");
        return;
    }
    if (c->helo != 2) {
        error_reply(c, "503 5.5.1 Send EHLO first");
        return;
    }
    if (c->cl->user[0]) {
        error_reply(c, "503 5.5.1 Already authenticated");
        return;
    }
    if (c->mail) {
        error_reply(c, "503 5.5.1 AUTH not permitted during a mail transaction");
        return;
    }
    while (*arg == ' ')
        arg++;
    n = strcspn(arg, " ");
    if (n == 0 || n >= sizeof(mech)) {
        error_reply(c, "501 5.5.4 Syntax: AUTH mechanism");
        return;
    }
    memcpy(mech, arg, n);
    mech[n] = '\0';
    initial = arg + n;
    while (*initial == ' ')
        initial++;
    if (strcasecmp(mech, "PLAIN") && strcasecmp(mech, "LOGIN")) {
        error_reply(c, "504 5.5.4 Unrecognized authentication type");
        return;
    }
    /* The line that hands over credentials ends the group: only with the
     * initial response is this that line. */
    if (*initial && improper_pipelining(c, more, 0))
        return;
    if (!strcasecmp(mech, "PLAIN")) {
        if (*initial) {
            auth_plain(c, initial);
        } else {
            c->phase = P_AUTH_PLAIN;
            reply(c, "334 ");
        }
    } else if (*initial) {
        auth_login_user(c, initial);
    } else {
        c->phase = P_AUTH_USER;
        reply(c, "334 VXNlcm5hbWU6");
    }
}

static void do_data(struct smtp_server_core *c, const char *arg, size_t more)
{
    if (!c->mail) {
        error_reply(c, "503 5.5.1 Need MAIL command");
        return;
    }
    if (!c->nrcpt) {
        if (c->rcpt_tried)
            error_reply(c, "554 5.5.1 No valid recipients");
        else
            error_reply(c, "503 5.5.1 Need RCPT command");
        return;
    }
    if (*arg) {
        error_reply(c, "501 5.5.4 Syntax: DATA");
        return;
    }
    if (improper_pipelining(c, more, 1))
        return;
    free(c->data);
    c->data = NULL;
    c->datalen = c->datacap = 0;
    c->textlen = 0;
    c->data_bare = c->data_long = c->data_big = c->data_nomem = 0;
    c->dstate = D_BOL;
    c->phase = P_DATA;
    reply(c, "354 End data with <CR><LF>.<CR><LF>");
}

static void do_starttls(struct smtp_server_core *c, const char *arg, size_t more)
{
    if (!c->offer_tls) {
        error_reply(c, "502 5.5.1 STARTTLS not available");
        return;
    }
    if (c->cl->tls) {
        error_reply(c, "503 5.5.1 TLS already active");
        return;
    }
    if (*arg) {
        error_reply(c, "501 5.5.4 Syntax: STARTTLS");
        return;
    }
    /* Plaintext that came with STARTTLS could be an attacker's injection
     * (CVE-2011-0411): it never reaches the TLS session. */
    if (improper_pipelining(c, more, 1))
        return;
    session_reset(c);
    reply(c, "220 2.0.0 Ready to start TLS");
    c->status = SMTP_CORE_STARTTLS;
}

/* One complete command line (without CRLF, checked for controls). */
static void command(struct smtp_server_core *c, const char *line, size_t more)
{
    size_t vlen = strcspn(line, " ");
    const char *arg = line + vlen;

#define VERB(w) (vlen == strlen(w) && strncasecmp(line, w, vlen) == 0)
    if (VERB("EHLO") || VERB("HELO")) {
        if (!improper_pipelining(c, more, 0))
            do_ehlo(c, arg, VERB("EHLO"));
    } else if (VERB("MAIL")) {
        do_mail(c, arg);
    } else if (VERB("RCPT")) {
        do_rcpt(c, arg);
    } else if (VERB("DATA")) {
        do_data(c, arg, more);
    } else if (VERB("RSET")) {
        if (*arg) {
            error_reply(c, "501 5.5.4 Syntax: RSET");
        } else {
            txn_reset(c);
            reply(c, "250 2.0.0 Ok");
        }
    } else if (VERB("NOOP")) {
        if (!improper_pipelining(c, more, 0))
            reply(c, "250 2.0.0 Ok");
    } else if (VERB("QUIT")) {
        if (!improper_pipelining(c, more, 0))
            close_with(c, "221 2.0.0 Bye");
    } else if (VERB("STARTTLS")) {
        do_starttls(c, arg, more);
    } else if (VERB("AUTH")) {
        do_auth(c, arg, more);
    } else if (VERB("HELP")) {
        reply(c, "214 2.0.0 See RFC 5321");
    } else if (VERB("VRFY")) {
        reply(c, "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery");
    } else if (VERB("EXPN")) {
        reply(c, "502 5.5.1 EXPN not available");
    } else {
        error_reply(c, "500 5.5.2 Command unrecognized");
    }
#undef VERB
}

/* A complete line in a command phase. more: bytes after it in the input. */
static void line_done(struct smtp_server_core *c, size_t more)
{
    int bare = c->line_bare, toolong = c->line_long, ctl = c->line_ctl;

    c->line[c->linelen] = '\0';
    c->lines++;
    c->line_bare = c->line_long = c->line_ctl = 0;
    c->linelen = 0;
    if (bare) {
        c->phase = P_COMMAND;
        error_reply(c, "500 5.5.2 Bare CR or LF in command line");
        return;
    }
    if (toolong) {
        c->phase = P_COMMAND;
        error_reply(c, "500 5.5.6 Line too long");
        return;
    }
    if (ctl) {
        c->phase = P_COMMAND;
        error_reply(c, "501 5.5.2 Syntax error: control character in command line");
        return;
    }
    switch (c->phase) {
    case P_AUTH_PLAIN:
    case P_AUTH_USER:
    case P_AUTH_PASSWORD:
        if (!strcmp(c->line, "*")) {
            c->phase = P_COMMAND;
            error_reply(c, "501 5.7.0 Authentication cancelled");
            return;
        }
        if (improper_pipelining(c, more, 0))
            return;
        if (c->phase == P_AUTH_PLAIN)
            auth_plain(c, c->line);
        else if (c->phase == P_AUTH_USER)
            auth_login_user(c, c->line);
        else
            auth_login_password(c, c->line);
        sodium_memzero(c->line, sizeof(c->line));
        return;
    default:
        command(c, c->line, more);
    }
}

/* ---- DATA ---- */

static void data_store(struct smtp_server_core *c, const char *p, size_t n)
{
    if (c->data_big || c->data_nomem)
        return;
    if (n > c->max_size - c->datalen) {
        /* Keep reading to the final dot so that the session stays in
         * step, but store nothing more. */
        c->data_big = 1;
        free(c->data);
        c->data = NULL;
        c->datalen = c->datacap = 0;
        return;
    }
    if (c->datalen + n > c->datacap) {
        size_t cap = c->datacap ? c->datacap : DATA_INITIAL;
        char *d;
        while (cap < c->datalen + n)
            cap *= 2;
        if (cap > c->max_size)
            cap = (size_t)c->max_size;
        if (!(d = realloc(c->data, cap ? cap : 1))) {
            c->data_nomem = 1;
            free(c->data);
            c->data = NULL;
            c->datalen = c->datacap = 0;
            return;
        }
        c->data = d;
        c->datacap = cap;
    }
    memcpy(c->data + c->datalen, p, n);
    c->datalen += n;
}

/* Counts received octets of the current text line (CRLF included). */
static void text_count(struct smtp_server_core *c, size_t n)
{
    c->textlen += n;
    if (c->textlen > SMTP_SERVER_TEXT_MAX)
        c->data_long = 1;
}

/* A bare CR or LF: never a line end; refused at the dot, or stored as CRLF. */
static void data_bare(struct smtp_server_core *c)
{
    c->data_bare = 1;
    if (c->cfg->normalize_bare_lf)
        data_store(c, "\r\n", 2);
    c->textlen = 0;
}

/* The final dot: refuse, or hand the message to the owner. */
static void data_end(struct smtp_server_core *c)
{
    c->phase = P_COMMAND;
    c->lines++;
    if (c->data_nomem)
        reply(c, "452 4.3.1 Insufficient system storage");
    else if (c->data_big)
        reply(c, "552 5.3.4 Message size exceeds fixed limit");
    else if (c->data_bare && !c->cfg->normalize_bare_lf)
        reply(c, "550 5.6.0 Bare CR or LF in message");
    else if (c->data_long)
        reply(c, "550 5.6.0 Line too long");
    else if (!c->hooks->message)
        reply(c, "451 4.3.0 No message handler");
    else {
        c->env.nrcpt = c->nrcpt;
        c->env.rcpt = c->rcpt;
        c->waiting_message = 1;
        c->status = SMTP_CORE_WAIT;
        c->hooks->message(c->hooks->arg, c->session, c->cl, &c->env, c->data ? c->data : "",
                          c->datalen);
        return;
    }
    txn_reset(c);
}

/* Takes DATA bytes; returns how many, stopping after the final dot. */
static size_t data_feed(struct smtp_server_core *c, const char *p, size_t n)
{
    size_t i = 0;

    while (i < n) {
        char ch = p[i];
        switch (c->dstate) {
        case D_BOL:
            c->textlen = 0;
            if (ch == '.') {
                text_count(c, 1);
                c->dstate = D_DOT;
                i++;
                continue;
            }
            c->dstate = D_MID;
            continue;
        case D_MID: {
            /* The common case: a run of ordinary bytes, stored at once. */
            size_t run = 0;
            while (i + run < n && p[i + run] != '\r' && p[i + run] != '\n')
                run++;
            if (run) {
                text_count(c, run);
                data_store(c, p + i, run);
                i += run;
                continue;
            }
            text_count(c, 1);
            if (ch == '\r')
                c->dstate = D_CR;
            else
                data_bare(c);
            i++;
            continue;
        }
        case D_CR:
            if (ch == '\n') {
                text_count(c, 1);
                data_store(c, "\r\n", 2);
                c->dstate = D_BOL;
                i++;
            } else {
                /* The CR was bare; ch is looked at again inside the line. */
                data_bare(c);
                c->dstate = D_MID;
            }
            continue;
        case D_DOT:
            if (ch == '\r') {
                text_count(c, 1);
                c->dstate = D_DOTCR;
                i++;
            } else {
                /* A stuffed dot (RFC 5321 4.5.2): dropped; ch is content,
                 * even a bare LF, which then is no line end. */
                c->dstate = D_MID;
            }
            continue;
        case D_DOTCR:
            if (ch == '\n') {
                data_end(c);
                return i + 1;
            }
            /* ".\r" then something else: a stuffed dot and a bare CR. */
            data_bare(c);
            c->dstate = D_MID;
            continue;
        }
    }
    return n;
}

/* ---- the byte stream ---- */

size_t smtp_server_core_feed(struct smtp_server_core *c, const char *data, size_t len)
{
    size_t i = 0;

    while (i < len && c->status == SMTP_CORE_INPUT) {
        if (c->phase == P_GREETING) {
            close_with(c, "554 5.5.0 Talking before the greeting is not allowed");
            return 0;
        }
        if (sizeof(c->out) - c->outlen < OUT_RESERVE)
            break;
        if (c->phase == P_DATA) {
            i += data_feed(c, data + i, len - i);
            continue;
        }
        unsigned char ch = (unsigned char)data[i++];
        if (c->line_cr) {
            c->line_cr = 0;
            if (ch == '\n') {
                line_done(c, len - i);
                continue;
            }
            c->line_bare = 1; /* a CR not before LF; ch is looked at below */
        }
        if (ch == '\r') {
            c->line_cr = 1;
        } else if (ch == '\n') {
            c->line_bare = 1;
        } else if (c->linelen + 2 >= sizeof(c->line)) {
            /* Discarded up to the CRLF, never stored. */
            c->line_long = 1;
        } else {
            if (is_ctl(ch))
                c->line_ctl = 1;
            c->line[c->linelen++] = (char)ch;
        }
    }
    return i;
}

/* ---- the API ---- */

int smtp_server_core_new(const struct smtp_server_config *cfg,
                         const struct smtp_server_hooks *hooks, struct smtp_server_client *cl,
                         int offer_tls, struct smtp_server_session *session,
                         struct smtp_server_core **out)
{
    struct smtp_server_core *c = calloc(1, sizeof(*c));

    *out = NULL;
    if (!c)
        return -ENOMEM;
    c->cfg = cfg;
    c->hooks = hooks;
    c->cl = cl;
    c->session = session;
    c->offer_tls = offer_tls;
    c->max_size = cfg->max_message_size ? cfg->max_message_size : SMTP_SERVER_DEFAULT_MAX_SIZE;
    /* The buffer is a size_t; and a little room for normalised CRs. */
    if (c->max_size > SIZE_MAX / 4)
        c->max_size = SIZE_MAX / 4;
    c->max_rcpt = cfg->max_recipients ? cfg->max_recipients : SMTP_SERVER_DEFAULT_MAX_RCPT;
    c->max_errors = cfg->max_errors ? cfg->max_errors : SMTP_SERVER_DEFAULT_MAX_ERRORS;
    c->phase = P_GREETING;
    c->status = SMTP_CORE_INPUT;
    *out = c;
    return 0;
}

void smtp_server_core_free(struct smtp_server_core *c)
{
    if (!c)
        return;
    free(c->data);
    free(c->rcpt);
    sodium_memzero(c->line, sizeof(c->line));
    free(c);
}

void smtp_server_core_greet(struct smtp_server_core *c)
{
    if (c->phase != P_GREETING || c->status != SMTP_CORE_INPUT)
        return;
    c->phase = P_COMMAND;
    reply(c, "220 %s ESMTP", c->cfg->hostname ? c->cfg->hostname : "localhost");
}

enum smtp_server_core_status smtp_server_core_status(const struct smtp_server_core *c)
{
    return c->status;
}

const char *smtp_server_core_output(const struct smtp_server_core *c, size_t *len)
{
    *len = c->outlen;
    return c->out;
}

void smtp_server_core_output_clear(struct smtp_server_core *c)
{
    c->outlen = 0;
}

void smtp_server_core_tls_started(struct smtp_server_core *c)
{
    if (c->status != SMTP_CORE_STARTTLS)
        return;
    session_reset(c);
    c->line_cr = c->line_bare = c->line_long = c->line_ctl = 0;
    c->linelen = 0;
    c->phase = P_COMMAND;
    c->status = SMTP_CORE_INPUT;
}

void smtp_server_core_auth_done(struct smtp_server_core *c, int ok)
{
    if (!c->waiting_auth)
        return;
    c->waiting_auth = 0;
    c->status = SMTP_CORE_INPUT;
    if (ok < 0) {
        close_with(c, "421 4.7.0 Too many authentication failures, closing connection");
    } else if (ok) {
        snprintf(c->cl->user, sizeof(c->cl->user), "%s", c->auth_user);
        reply(c, "235 2.7.0 Authentication successful");
    } else {
        error_reply(c, "535 5.7.8 Authentication credentials invalid");
    }
    sodium_memzero(c->auth_user, sizeof(c->auth_user));
}

void smtp_server_core_message_done(struct smtp_server_core *c, const struct smtp_server_verdict *v,
                                   const char *id)
{
    if (!c->waiting_message)
        return;
    c->waiting_message = 0;
    c->status = SMTP_CORE_INPUT;
    if (!v || !v->code) {
        char safe[201];
        size_t i = 0;
        /* The owner's id goes on the wire: printable, one line. */
        for (; id && i + 1 < sizeof(safe) && id[i]; i++)
            safe[i] = (unsigned char)id[i] < 0x20 || (unsigned char)id[i] > 0x7e ? '?' : id[i];
        safe[i] = '\0';
        if (i)
            reply(c, "250 2.0.0 Ok: queued as %s", safe);
        else
            reply(c, "250 2.0.0 Ok");
    } else {
        verdict_reply(c, v, "");
    }
    txn_reset(c);
}

static void end_with(struct smtp_server_core *c, const char *text)
{
    if (c->status == SMTP_CORE_WAIT || c->status == SMTP_CORE_CLOSE)
        return;
    /* During DATA the client is not reading replies, but it is what RFC
     * 5321 4.2 asks for all the same. */
    close_with(c, text);
}

void smtp_server_core_timeout(struct smtp_server_core *c)
{
    end_with(c, "421 4.4.2 Timeout exceeded, closing connection");
}

void smtp_server_core_too_slow(struct smtp_server_core *c)
{
    end_with(c, "421 4.4.2 Minimum data rate not met, closing connection");
}

void smtp_server_core_shutdown(struct smtp_server_core *c)
{
    end_with(c, "421 4.3.2 Service shutting down, closing connection");
}

int smtp_server_core_in_data(const struct smtp_server_core *c)
{
    return c->phase == P_DATA;
}

unsigned long smtp_server_core_lines(const struct smtp_server_core *c)
{
    return c->lines;
}
