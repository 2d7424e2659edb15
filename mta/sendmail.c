/*
 * sendmail.c - the /usr/sbin/sendmail drop-in (also mailq).
 *
 * Reads a message on standard input, prepares it (line endings, missing
 * Date/Message-ID/From, -t recipients, aliases) and hands it to mtad over
 * its socket; when the daemon is not running, to the setgid helper
 * mta-postdrop, which writes it into the maildrop directory. The exit
 * status is 0 only once the message is on disk.
 *
 * SECURITY: runs with the caller's privileges only (neither setuid nor
 * setgid). Addresses come from the caller and are validated; they are
 * never passed to a shell (the helper is exec'd with a fixed argument
 * vector). The daemon validates everything again.
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "aliases.h"
#include "config.h"
#include "message.h"
#include "mta_build.h"
#include "qview.h"
#include "queue.h"
#include "spool.h"
#include "submit.h"
#include "xtext.h"

struct opts {
    const char *config;
    const char *sender; /* -f / -r, NULL when not given */
    const char *full_name;
    const char *notify;
    const char *ret;
    const char *envid;
    const char *body;
    int ignore_dots;
    int extract;
    int verbose;
    char mode; /* 'm' send, 'p' list, 's' smtp, 'q' flush */
};

struct ctx {
    struct opts o;
    struct config cfg;
    struct spool_paths paths;
    struct aliases *aliases;
    char login[64];
    char gecos[256];
    int exit_code; /* set by a callback that fails */
    const char *prog;
};

static void warnx(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warnx(struct ctx *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", c->prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void usage(struct ctx *c)
{
    fprintf(stderr,
            "usage: %s [-i] [-t] [-f sender] [-F name] [-N dsn] [-R ret] [-V envid]\n"
            "       [-B type] [-C config] [-v] [recipient ...]\n"
            "       %s -bp | -bs | -q\n",
            c->prog, c->prog);
}

/* ---- recipients ---- */

struct rcpt_add {
    struct ctx *c;
    struct submit_env *env;
    uint8_t notify;
    int code;          /* exit code for a bad address */
    const char *orcpt; /* DSN ORCPT for what this expands to, or NULL */
};

static void alias_warning(void *arg, const char *text)
{
    struct rcpt_add *a = arg;
    warnx(a->c, "aliases: %s", text);
}

static int add_final(void *arg, const char *addr)
{
    struct rcpt_add *a = arg;
    int rc;
    /* A recipient named twice gets the message once. */
    for (uint32_t i = 0; i < a->env->nrcpt; i++)
        if (strcasecmp(a->env->rcpt[i].address, addr) == 0)
            return 0;
    rc = submit_env_add_rcpt(a->env, addr, a->notify, a->orcpt);
    if (rc == -EINVAL) {
        warnx(a->c, "invalid recipient address: %s", addr);
        return a->code;
    }
    if (rc == -E2BIG) {
        warnx(a->c, "too many recipients");
        return EX_DATAERR;
    }
    return rc ? EX_TEMPFAIL : 0;
}

/* One address from an argument or a header: aliases for bare names, then
 * validation. Returns 0 or an exit code. */
static int add_one(void *arg, const char *addr)
{
    struct rcpt_add *a = arg;
    const char *why = NULL;
    int rc;

    if (!strchr(addr, '@')) {
        rc = aliases_expand(a->c->aliases, addr, a->c->cfg.local_domain, add_final, alias_warning,
                            a);
        if (rc == -ENOENT) {
            warnx(a->c, "%s: alias expands to no deliverable address", addr);
            return EX_NOUSER;
        }
        if (rc == -ELOOP) {
            warnx(a->c, "%s: alias loop", addr);
            return EX_NOUSER;
        }
        if (rc < 0) {
            warnx(a->c, "invalid recipient: %s", addr);
            return a->code;
        }
        return rc;
    }
    if (address_validate(addr, &why) != 0) {
        warnx(a->c, "invalid recipient address %s: %s", addr, why ? why : "bad syntax");
        return a->code;
    }
    return add_final(arg, addr);
}

/* A command-line argument may hold a list ("a@x, b@y", "Name <a@x>"). */
static int add_argument(struct rcpt_add *a, const char *arg)
{
    int rc;
    for (const char *p = arg; *p; p++)
        if ((unsigned char)*p < ' ' || *p == 127) {
            warnx(a->c, "control character in recipient argument");
            return EX_USAGE;
        }
    rc = address_list_parse(arg, strlen(arg), add_one, a);
    if (rc < 0) {
        warnx(a->c, "invalid recipient: %s", arg);
        return EX_USAGE;
    }
    return rc;
}

/* ---- sender ---- */

static int make_sender(struct ctx *c, struct submit_env *env)
{
    const char *why = NULL;
    char buf[ADDRESS_MAX + 2];

    env->have_sender = 1;
    if (!c->o.sender) {
        if (address_qualify(c->login, c->cfg.local_domain, env->sender, sizeof(env->sender))) {
            warnx(c, "cannot make a sender address from login name %s", c->login);
            return EX_DATAERR;
        }
        return 0;
    }
    /* -f "<>" or -f "" is the null sender; "<a@b>" loses its brackets. */
    snprintf(buf, sizeof(buf), "%s", c->o.sender);
    char *s = buf;
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
        s[n - 1] = 0;
        s++;
    }
    if (!*s) {
        env->sender[0] = 0;
        return 0;
    }
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < ' ' || *p == 127) {
            warnx(c, "control character in sender address");
            return EX_USAGE;
        }
    if (address_qualify(s, c->cfg.local_domain, env->sender, sizeof(env->sender)) != 0 ||
        address_validate(env->sender, &why) != 0) {
        warnx(c, "invalid sender address %s%s%s", s, why ? ": " : "", why ? why : "");
        return EX_USAGE;
    }
    return 0;
}

/* ---- handing over ---- */

static int write_submission(FILE *f, const struct submit_env *env, const struct message *m)
{
    if (submit_env_write(env, f) < 0 || (m->len && fwrite(m->data, 1, m->len, f) != m->len) ||
        fflush(f) != 0)
        return -EIO;
    return 0;
}

/* Through mta-postdrop into the maildrop. Returns an exit code. */
static int to_maildrop(struct ctx *c, const struct submit_env *env, const struct message *m)
{
    const char *helper = getenv("MTA_POSTDROP");
    int fds[2], status = 0;
    pid_t pid;
    FILE *f;

    if (!helper || !*helper)
        helper = MTA_POSTDROP_PATH;
    if (pipe(fds) < 0)
        return EX_OSERR;
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return EX_OSERR;
    }
    if (pid == 0) {
        dup2(fds[0], 0);
        close(fds[0]);
        close(fds[1]);
        execl(helper, "mta-postdrop", c->paths.maildrop, (char *)NULL);
        fprintf(stderr, "%s: cannot run %s: %s\n", c->prog, helper, strerror(errno));
        _exit(EX_CANTCREAT);
    }
    close(fds[0]);
    f = fdopen(fds[1], "w");
    int wrc = f ? write_submission(f, env, m) : -EIO;
    if (f)
        fclose(f);
    else
        close(fds[1]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status)) {
        warnx(c, "mta-postdrop died");
        return EX_TEMPFAIL;
    }
    if (WEXITSTATUS(status) != 0)
        return WEXITSTATUS(status);
    if (wrc < 0) {
        warnx(c, "cannot write to mta-postdrop");
        return EX_IOERR;
    }
    if (c->o.verbose)
        fprintf(stderr, "%s: mtad is not running; message stored in %s for later\n", c->prog,
                c->paths.maildrop);
    return 0;
}

/*
 * Hands the message over. With the daemon down (no socket, refused, or it
 * died before answering) the maildrop takes it: a daemon that was killed
 * mid-commit may then queue it twice, which is better than losing it.
 * Returns an exit code; *id (may be NULL) gets the queue id.
 */
static int submit(struct ctx *c, const struct submit_env *env, const struct message *m, char *id,
                  size_t idlen)
{
    char text[512];
    int fd = spool_connect(&c->paths), rc;
    FILE *f;

    if (id)
        id[0] = 0;
    if (fd < 0)
        return to_maildrop(c, env, m);
    if (!(f = fdopen(fd, "w"))) {
        close(fd);
        return to_maildrop(c, env, m);
    }
    /* The daemon may answer early (a refused envelope): a write to a closed
     * socket then must not kill us. */
    signal(SIGPIPE, SIG_IGN);
    setvbuf(f, NULL, _IOFBF, 65536);
    if (fputs("submit\n", f) < 0 || write_submission(f, env, m) < 0) {
        /* fall through to read a possible refusal */
    }
    rc = spool_read_reply(fd, text, sizeof(text));
    fclose(f);
    switch (rc) {
    case SPOOL_OK:
        if (id)
            snprintf(id, idlen, "%s", text);
        if (c->o.verbose)
            fprintf(stderr, "%s: queued as %s\n", c->prog, text);
        return 0;
    case SPOOL_TEMPFAIL:
        warnx(c, "message not queued: %s", text);
        return EX_TEMPFAIL;
    case SPOOL_FAIL:
        warnx(c, "message refused: %s", text);
        return EX_DATAERR;
    default:
        return to_maildrop(c, env, m);
    }
}

/* Header work common to -bm and -bs. Returns an exit code. */
static int prepare(struct ctx *c, struct message *m, struct submit_env *env)
{
    char from[ADDRESS_MAX + 2];
    struct message_defaults def = {0};
    const char *name = c->o.full_name;

    if (address_qualify(c->login, c->cfg.local_domain, from, sizeof(from)) != 0)
        snprintf(from, sizeof(from), "%s", env->sender);
    if (!name && c->gecos[0])
        name = c->gecos;
    def.hostname = c->cfg.hostname;
    def.from_address = from;
    def.full_name = name;
    def.now = time(NULL);
    if (message_add_missing(m, &def) < 0) {
        warnx(c, "out of memory");
        return EX_TEMPFAIL;
    }
    if (message_has_8bit(m) && env->body == QUEUE_BODY_7BIT)
        env->body = QUEUE_BODY_8BITMIME;
    if (m->len > c->cfg.max_message_size) {
        warnx(c, "message size %zu exceeds max_message_size %llu", m->len,
              (unsigned long long)c->cfg.max_message_size);
        return EX_DATAERR;
    }
    env->size = m->len;
    env->have_size = 1;
    return 0;
}

static int reader_error(struct ctx *c, int rc)
{
    if (rc == -EMSGSIZE) {
        warnx(c, "message exceeds max_message_size (%llu octets)",
              (unsigned long long)c->cfg.max_message_size);
        return EX_DATAERR;
    }
    if (rc == -EINVAL) {
        warnx(c, "message contains a NUL character");
        return EX_DATAERR;
    }
    warnx(c, "out of memory");
    return EX_TEMPFAIL;
}

/* ---- -bm: the ordinary case ---- */

static int send_mode(struct ctx *c, char **rcpts, int nrcpts)
{
    struct submit_env env;
    struct message m;
    struct message_reader r;
    struct rcpt_add add;
    char buf[65536];
    int rc = 0;
    size_t n;

    submit_env_init(&env);
    message_init(&m);
    add.c = c;
    add.env = &env;
    add.notify = 0;
    add.code = EX_USAGE;
    add.orcpt = NULL;
    if (c->o.notify && submit_parse_notify(c->o.notify, &add.notify) != 0) {
        warnx(c, "invalid -N value %s (never, or success,failure,delay)", c->o.notify);
        rc = EX_USAGE;
        goto out;
    }
    if ((rc = make_sender(c, &env)))
        goto out;
    if (c->o.ret)
        env.ret = !strcasecmp(c->o.ret, "hdrs") ? QUEUE_RET_HDRS : QUEUE_RET_FULL;
    if (c->o.body && !strcasecmp(c->o.body, "8BITMIME"))
        env.body = QUEUE_BODY_8BITMIME;
    if (c->o.envid) {
        int ok = strlen(c->o.envid) < sizeof(env.envid) && *c->o.envid;
        for (const char *p = c->o.envid; *p && ok; p++)
            ok = (unsigned char)*p > ' ' && (unsigned char)*p < 127;
        if (!ok) {
            warnx(c, "invalid -V envid (printable ASCII, at most 100 octets)");
            rc = EX_USAGE;
            goto out;
        }
        /* The envelope holds it as given (decoded): delivery encodes it
         * as xtext for a next hop that takes DSN. */
        snprintf(env.envid, sizeof(env.envid), "%s", c->o.envid);
    }
    for (int i = 0; i < nrcpts; i++)
        if ((rc = add_argument(&add, rcpts[i])))
            goto out;
    if (!c->o.extract && env.nrcpt == 0) {
        warnx(c, "no recipients given (and no -t)");
        rc = EX_USAGE;
        goto out;
    }

    message_reader_init(&r, &m, (size_t)c->cfg.max_message_size,
                        c->o.ignore_dots ? 0 : MESSAGE_DOT_ENDS);
    while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
        int frc = message_reader_feed(&r, buf, n, NULL);
        if (frc == 1)
            break; /* a lone "." ended the message; the rest is not ours */
        if (frc < 0 && frc != -EMSGSIZE) {
            rc = reader_error(c, frc);
            goto out;
        }
    }
    if (ferror(stdin)) {
        warnx(c, "error reading the message: %s", strerror(errno));
        rc = EX_IOERR;
        goto out;
    }
    if ((rc = message_reader_finish(&r)) < 0) {
        rc = reader_error(c, rc);
        goto out;
    }
    if (m.folded_lines)
        warnx(c, "%zu line(s) longer than %d octets were folded", m.folded_lines, MESSAGE_LINE_MAX);

    if (c->o.extract) {
        add.code = EX_DATAERR;
        rc = message_extract_recipients(&m, add_one, &add);
        if (rc < 0) {
            warnx(c, "malformed recipient header");
            rc = EX_DATAERR;
            goto out;
        }
        if (rc)
            goto out;
        message_remove_bcc(&m);
        if (env.nrcpt == 0) {
            warnx(c, "no recipient addresses found in the message header");
            rc = EX_DATAERR;
            goto out;
        }
    }
    if ((rc = prepare(c, &m, &env)))
        goto out;
    rc = submit(c, &env, &m, NULL, 0);
out:
    message_free(&m);
    submit_env_free(&env);
    return rc;
}

/* ---- -bs: an SMTP session on stdin/stdout ---- */

/* Reads one line (without CRLF/LF) of at most max-1 octets. Returns the
 * length, -1 at EOF, -2 for an overlong line (the rest is discarded). */
static int read_line(char *buf, size_t max)
{
    size_t n = 0;
    int ch, over = 0;
    while ((ch = getchar()) != EOF && ch != '\n') {
        if (n < max - 1)
            buf[n++] = (char)ch;
        else
            over = 1;
    }
    if (ch == EOF && n == 0)
        return -1;
    if (n && buf[n - 1] == '\r')
        n--;
    buf[n] = 0;
    return over ? -2 : (int)n;
}

/* Reads up to and including the next LF, at most max octets (NUL bytes
 * included, so that the reader can refuse them). Returns the count, 0 at
 * EOF. */
static size_t read_chunk(char *buf, size_t max)
{
    size_t n = 0;
    int ch;
    while (n < max && (ch = getchar()) != EOF) {
        buf[n++] = (char)ch;
        if (ch == '\n')
            break;
    }
    return n;
}

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void reply(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputs("\r\n", stdout);
    fflush(stdout);
}

/* Extracts the address inside "<...>" after a verb like "FROM:". Returns a
 * pointer to the rest (parameters) or NULL for bad syntax. */
static char *path_arg(char *p, char *out, size_t outlen)
{
    while (*p == ' ')
        p++;
    if (*p != '<')
        return NULL;
    char *end = strchr(p, '>');
    if (!end || (size_t)(end - p - 1) >= outlen)
        return NULL;
    memcpy(out, p + 1, (size_t)(end - p - 1));
    out[end - p - 1] = 0;
    return end + 1;
}

static int smtp_mode(struct ctx *c)
{
    char line[1024];
    struct submit_env env;
    int have_mail = 0, len;

    submit_env_init(&env);
    reply("220 %s ESMTP mta (sendmail -bs)", c->cfg.hostname);
    while ((len = read_line(line, sizeof(line))) != -1) {
        if (len == -2) {
            reply("500 5.5.2 Line too long");
            continue;
        }
        char *arg = line + strcspn(line, " ");
        if (*arg)
            *arg++ = 0;
        if (!strcasecmp(line, "EHLO")) {
            submit_env_free(&env);
            have_mail = 0;
            reply("250-%s\r\n250-8BITMIME\r\n250-SIZE %llu\r\n250-DSN\r\n250-SMTPUTF8\r\n"
                  "250 ENHANCEDSTATUSCODES",
                  c->cfg.hostname, (unsigned long long)c->cfg.max_message_size);
        } else if (!strcasecmp(line, "HELO")) {
            submit_env_free(&env);
            have_mail = 0;
            reply("250 %s", c->cfg.hostname);
        } else if (!strcasecmp(line, "NOOP")) {
            reply("250 2.0.0 Ok");
        } else if (!strcasecmp(line, "RSET")) {
            submit_env_free(&env);
            have_mail = 0;
            reply("250 2.0.0 Ok");
        } else if (!strcasecmp(line, "QUIT")) {
            reply("221 2.0.0 Bye");
            break;
        } else if (!strcasecmp(line, "VRFY")) {
            reply("252 2.0.0 Cannot verify, but will accept the message");
        } else if (!strcasecmp(line, "HELP")) {
            reply("214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY");
        } else if (!strcasecmp(line, "MAIL")) {
            char addr[ADDRESS_MAX];
            char *params;
            if (have_mail) {
                reply("503 5.5.1 Error: nested MAIL command");
                continue;
            }
            if (strncasecmp(arg, "FROM:", 5) || !(params = path_arg(arg + 5, addr, sizeof(addr)))) {
                reply("501 5.5.4 Syntax: MAIL FROM:<address>");
                continue;
            }
            submit_env_free(&env);
            int bad = 0;
            for (char *tok = strtok(params, " "); tok && !bad; tok = strtok(NULL, " ")) {
                if (!strncasecmp(tok, "BODY=", 5)) {
                    if (!strcasecmp(tok + 5, "8BITMIME"))
                        env.body = QUEUE_BODY_8BITMIME;
                    else if (!strcasecmp(tok + 5, "7BIT"))
                        env.body = QUEUE_BODY_7BIT;
                    else {
                        reply("501 5.5.4 Bad BODY parameter (7BIT or 8BITMIME)");
                        bad = 1;
                    }
                } else if (!strncasecmp(tok, "RET=", 4)) {
                    if (!strcasecmp(tok + 4, "HDRS"))
                        env.ret = QUEUE_RET_HDRS;
                    else if (!strcasecmp(tok + 4, "FULL"))
                        env.ret = QUEUE_RET_FULL;
                    else {
                        reply("501 5.5.4 Bad RET parameter (FULL or HDRS)");
                        bad = 1;
                    }
                } else if (!strncasecmp(tok, "ENVID=", 6)) {
                    if (!tok[6] || smtp_xtext_decode(tok + 6, strlen(tok + 6), env.envid,
                                                     sizeof(env.envid)) != 0) {
                        reply("501 5.5.4 Bad ENVID parameter (xtext, at most 100 octets)");
                        bad = 1;
                    }
                } else if (!strncasecmp(tok, "SIZE=", 5)) {
                    if (strtoull(tok + 5, NULL, 10) > c->cfg.max_message_size) {
                        reply("552 5.3.4 Message size exceeds fixed limit");
                        bad = 1;
                    }
                } else if (strcasecmp(tok, "SMTPUTF8") != 0) {
                    reply("555 5.5.4 Unsupported option: %.64s", tok);
                    bad = 1;
                }
            }
            if (bad)
                continue;
            const char *why = NULL;
            if (*addr && !strchr(addr, '@')) {
                char q[ADDRESS_MAX];
                if (address_qualify(addr, c->cfg.local_domain, q, sizeof(q)) == 0)
                    snprintf(addr, sizeof(addr), "%s", q);
            }
            if (*addr && address_validate(addr, &why) != 0) {
                reply("553 5.1.7 Bad sender address syntax");
                continue;
            }
            snprintf(env.sender, sizeof(env.sender), "%s", addr);
            env.have_sender = 1;
            have_mail = 1;
            reply("250 2.1.0 Ok");
        } else if (!strcasecmp(line, "RCPT")) {
            char addr[ADDRESS_MAX];
            char *params;
            uint8_t notify = 0;
            if (!have_mail) {
                reply("503 5.5.1 Error: need MAIL command");
                continue;
            }
            if (strncasecmp(arg, "TO:", 3) || !(params = path_arg(arg + 3, addr, sizeof(addr))) ||
                !*addr) {
                reply("501 5.5.4 Syntax: RCPT TO:<address>");
                continue;
            }
            int bad = 0;
            const char *orcpt = NULL;
            char orcpt_buf[QUEUE_ORCPT_MAX];
            for (char *tok = strtok(params, " "); tok && !bad; tok = strtok(NULL, " ")) {
                if (!strncasecmp(tok, "NOTIFY=", 7)) {
                    if (submit_parse_notify(tok + 7, &notify) != 0)
                        bad = 1;
                } else if (!strncasecmp(tok, "ORCPT=", 6)) {
                    /* RFC 3461: addr-type ";" xtext, kept decoded */
                    if (smtp_orcpt_decode(tok + 6, orcpt_buf, sizeof(orcpt_buf)) != 0)
                        bad = 1;
                    orcpt = orcpt_buf;
                } else {
                    bad = 1;
                }
            }
            if (bad) {
                reply("555 5.5.4 Unsupported or invalid RCPT parameter");
                continue;
            }
            struct rcpt_add add = {c, &env, notify, EX_USAGE, orcpt};
            uint32_t before = env.nrcpt;
            int rc = add_one(&add, addr);
            if (rc) {
                reply(rc == EX_NOUSER ? "550 5.1.1 <%s>: Recipient address rejected"
                                      : "501 5.1.3 <%s>: Bad recipient address syntax",
                      addr);
                env.nrcpt = before;
                continue;
            }
            reply("250 2.1.5 Ok");
        } else if (!strcasecmp(line, "DATA")) {
            struct message m;
            struct message_reader r;
            char buf[4096];
            int frc = 0, done = 0;
            if (!have_mail || env.nrcpt == 0) {
                reply("503 5.5.1 Error: need RCPT command");
                continue;
            }
            reply("354 End data with <CR><LF>.<CR><LF>");
            message_init(&m);
            message_reader_init(&r, &m, (size_t)c->cfg.max_message_size, MESSAGE_DOT_UNSTUFF);
            size_t got;
            while (!done && (got = read_chunk(buf, sizeof(buf))) > 0) {
                int x = message_reader_feed(&r, buf, got, NULL);
                if (x == 1)
                    done = 1;
                else if (x < 0 && !frc)
                    frc = x;
            }
            if (!done) {
                message_free(&m);
                submit_env_free(&env);
                return EX_IOERR; /* EOF inside DATA: nothing is queued */
            }
            if (!frc)
                frc = message_reader_finish(&r);
            if (frc == -EMSGSIZE)
                reply("552 5.3.4 Message size exceeds fixed limit");
            else if (frc < 0)
                reply("554 5.6.0 Message content rejected (NUL character)");
            else if (prepare(c, &m, &env) != 0)
                reply("554 5.3.4 Message too big");
            else {
                char id[512];
                int rc = submit(c, &env, &m, id, sizeof(id));
                if (rc == 0)
                    reply("250 2.0.0 Ok: queued%s%s", id[0] ? " as " : "", id);
                else if (rc == EX_TEMPFAIL)
                    reply("451 4.3.0 Error: queue file write error");
                else
                    reply("554 5.3.0 Error: message not accepted");
            }
            message_free(&m);
            submit_env_free(&env);
            have_mail = 0;
        } else {
            reply("502 5.5.2 Error: command not recognized");
        }
    }
    submit_env_free(&env);
    return 0;
}

/* ---- options ---- */

/* sendmail's -o options: the ones programs actually pass. */
static int option_o(struct ctx *c, const char *v)
{
    if (!strcmp(v, "i")) {
        c->o.ignore_dots = 1;
        return 0;
    }
    /* -oem/-oep/-oeq/-oew (error mode), -od[bqi] (delivery mode), -om, -o7,
     * -o8: accepted and ignored, as Postfix does: the daemon delivers in
     * the background and errors come back as bounces. */
    if ((v[0] == 'e' && strchr("mpqwe", v[1]) && !v[2]) ||
        (v[0] == 'd' && strchr("bqi", v[1]) && !v[2]) || !strcmp(v, "m") || !strcmp(v, "7") ||
        !strcmp(v, "8"))
        return 0;
    warnx(c, "unsupported option -o%s", v);
    return EX_USAGE;
}

int main(int argc, char **argv)
{
    struct ctx c;
    char err[CONFIG_ERR_MAX];
    const char *base = strrchr(argv[0], '/');
    int opt, rc;

    memset(&c, 0, sizeof(c));
    c.prog = "sendmail";
    c.o.mode = 'm';
    base = base ? base + 1 : argv[0];
    if (!strcmp(base, "mailq")) {
        c.prog = "mailq";
        c.o.mode = 'p';
    }
    /* '+': stop at the first recipient, as sendmail does. */
    while ((opt = getopt(argc, argv, "+B:b:C:F:f:h:iL:N:no:q::R:r:tV:vX:")) != -1) {
        switch (opt) {
        case 'B':
            if (strcasecmp(optarg, "7BIT") && strcasecmp(optarg, "8BITMIME")) {
                warnx(&c, "-B takes 7BIT or 8BITMIME");
                return EX_USAGE;
            }
            c.o.body = optarg;
            break;
        case 'b':
            if (strcmp(optarg, "m") && strcmp(optarg, "p") && strcmp(optarg, "s")) {
                warnx(&c, "unsupported mode -b%s (supported: -bm, -bp, -bs)", optarg);
                return EX_USAGE;
            }
            c.o.mode = optarg[0];
            break;
        case 'C':
            c.o.config = optarg;
            break;
        case 'F':
            c.o.full_name = optarg;
            break;
        case 'f':
        case 'r':
            c.o.sender = optarg;
            break;
        case 'h': /* hop count: ignored, like Postfix */
        case 'n': /* no aliasing: ignored */
        case 'L':
            break;
        case 'i':
            c.o.ignore_dots = 1;
            break;
        case 'N':
            c.o.notify = optarg;
            break;
        case 'o':
            if ((rc = option_o(&c, optarg)))
                return rc;
            break;
        case 'q':
            c.o.mode = 'q';
            break;
        case 'R':
            if (strcasecmp(optarg, "full") && strcasecmp(optarg, "hdrs")) {
                warnx(&c, "-R takes full or hdrs");
                return EX_USAGE;
            }
            c.o.ret = optarg;
            break;
        case 't':
            c.o.extract = 1;
            break;
        case 'V':
            c.o.envid = optarg;
            break;
        case 'v':
            c.o.verbose = 1;
            break;
        case 'X':
            /* Sendmail would write a traffic log to any file named here. */
            warnx(&c, "-X is not supported: it would write a log file");
            return EX_USAGE;
        default:
            usage(&c);
            return EX_USAGE;
        }
    }
    if (config_init(&c.cfg, c.o.config, err, sizeof(err)) != 0) {
        warnx(&c, "%s", err);
        return EX_CONFIG;
    }
    if (spool_paths_init(&c.paths, c.cfg.queue_dir) != 0) {
        warnx(&c, "queue_dir %s: path too long", c.cfg.queue_dir);
        return EX_CONFIG;
    }
    if (c.o.mode == 'p')
        return qview_mailq(&c.cfg, &c.paths, stdout) == 0 ? 0 : EX_UNAVAILABLE;
    if (c.o.mode == 'q') {
        char text[256];
        rc = spool_request(&c.paths, "flush", text, sizeof(text));
        if (rc == SPOOL_OK) {
            if (c.o.verbose)
                fprintf(stderr, "%s: %s recipient(s) made due now\n", c.prog, text);
            return 0;
        }
        warnx(&c, "cannot flush the queue: %s", rc < 0 ? "mtad is not running" : text);
        return EX_UNAVAILABLE;
    }

    struct passwd *pw = getpwuid(getuid());
    if (pw && address_validate_local(pw->pw_name) == 0) {
        snprintf(c.login, sizeof(c.login), "%s", pw->pw_name);
        if (pw->pw_gecos)
            snprintf(c.gecos, sizeof(c.gecos), "%.*s", (int)strcspn(pw->pw_gecos, ","),
                     pw->pw_gecos);
    } else {
        snprintf(c.login, sizeof(c.login), "uid%u", (unsigned)getuid());
    }
    if (c.cfg.aliases[0] && aliases_load(&c.aliases, c.cfg.aliases, err, sizeof(err)) < 0) {
        warnx(&c, "%s", err);
        return EX_CONFIG;
    }
    if (c.o.mode == 's') {
        rc = smtp_mode(&c);
    } else {
        rc = send_mode(&c, argv + optind, argc - optind);
    }
    aliases_free(c.aliases);
    return rc;
}
