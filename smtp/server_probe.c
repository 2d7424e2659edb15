/*
 * server_probe.c - a test driver for smtp/server.c: listens on one
 * address with permissive hooks and prints every hook call as one line
 * on stdout, so that protocol tests can drive it with swaks or smtplib
 * before the real owner (mtad) exists. Not installed.
 *
 * Usage: server_probe [options] ADDR        (ADDR: 127.0.9.1:2587, [::1]:2465)
 *   --implicit            TLS from the first byte (RFC 8314)
 *   --cert CHAIN KEY      the server certificate (STARTTLS, AUTH)
 *   --normalize           cfg.normalize_bare_lf = 1
 *   --max-size N  --max-rcpt N  --max-errors N  --greet-delay MS
 *   --timeout MS  --data-timeout MS  --min-rate BYTES_PER_S
 *   --require-auth        MAIL without AUTH: 530 5.7.0
 *   --save DIR            each message to DIR/N.eml
 *
 * The hooks: every client may connect; AUTH succeeds for user "test"
 * with password "secret" (answered from a timer, as a worker thread
 * would; a failure after 100 ms); every sender and recipient is accepted
 * except recipients starting "reject"; every message is "queued" from a
 * timer with id "Q<n>". Lines printed:
 *   connect PEER | auth USER ok|fail | mail <SENDER> SIZE | rcpt <ADDR> NOTIFY ORCPT
 *   message <SENDER> RCPTS LEN BODY8BIT SMTPUTF8 RET ENVID TLS USER | closed PEER
 * SIGINT or SIGTERM closes the server (smtp_server_close) and exits 0.
 *
 * Trust: the command line is the tester's; clients are handled by server.c.
 */
#include "server.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

static struct {
    uv_loop_t *loop;
    struct smtp_server *srv;
    int require_auth;
    const char *save_dir;
    unsigned nmsg;
    uv_signal_t sigint, sigterm;
} g;

struct answer {
    uv_timer_t timer;
    struct smtp_server_session *s;
    int is_auth, ok;
    char id[32];
};

static void answer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_answer(uv_timer_t *t)
{
    struct answer *a = t->data;
    if (a->is_auth) {
        smtp_server_auth_done(a->s, a->ok, a->ok ? 0 : 100);
    } else {
        struct smtp_server_verdict v = {0};
        smtp_server_message_done(a->s, &v, a->id);
    }
    uv_close((uv_handle_t *)&a->timer, answer_closed);
}

static void answer_later(struct smtp_server_session *s, int is_auth, int ok, const char *id)
{
    struct answer *a = calloc(1, sizeof(*a));
    if (!a)
        abort();
    a->s = s;
    a->is_auth = is_auth;
    a->ok = ok;
    snprintf(a->id, sizeof(a->id), "%s", id ? id : "");
    uv_timer_init(g.loop, &a->timer);
    a->timer.data = a;
    uv_timer_start(&a->timer, on_answer, 1, 0);
}

static int hook_connect(void *arg, struct smtp_server_client *cl, struct smtp_server_verdict *v)
{
    printf("connect %s\n", cl->peer_text);
    return 0;
}

static void hook_auth(void *arg, struct smtp_server_session *s, struct smtp_server_client *cl,
                      const char *authzid, const char *user, const char *password)
{
    int ok = !strcmp(user, "test") && !strcmp(password, "secret") &&
             (!*authzid || !strcmp(authzid, user));
    printf("auth %s %s\n", user, ok ? "ok" : "fail");
    answer_later(s, 1, ok, NULL);
}

static int hook_mail(void *arg, struct smtp_server_client *cl, const char *sender, uint64_t size,
                     struct smtp_server_verdict *v)
{
    printf("mail <%s> %" PRIu64 "\n", sender, size);
    if (g.require_auth && !cl->user[0]) {
        v->code = 530;
        snprintf(v->text, sizeof(v->text), "5.7.0 Authentication required");
        return -1;
    }
    return 0;
}

static int hook_rcpt(void *arg, struct smtp_server_client *cl, const struct smtp_server_rcpt *r,
                     struct smtp_server_verdict *v)
{
    printf("rcpt <%s> %u %s\n", r->address, r->notify, r->orcpt[0] ? r->orcpt : "-");
    if (!strncmp(r->address, "reject", 6)) {
        v->code = 550;
        snprintf(v->text, sizeof(v->text), "5.1.1 No such user");
        return -1;
    }
    return 0;
}

static void hook_message(void *arg, struct smtp_server_session *s, struct smtp_server_client *cl,
                         const struct smtp_server_envelope *env, const char *content, size_t len)
{
    char id[32];
    g.nmsg++;
    snprintf(id, sizeof(id), "Q%u", g.nmsg);
    printf("message <%s> %zu %zu %d %d %d %s %s %s\n", env->sender, env->nrcpt, len, env->body_8bit,
           env->smtputf8, env->ret_hdrs, env->envid[0] ? env->envid : "-",
           cl->tls ? "tls" : "plain", cl->user[0] ? cl->user : "-");
    if (g.save_dir) {
        char path[4096];
        FILE *f;
        snprintf(path, sizeof(path), "%s/%u.eml", g.save_dir, g.nmsg);
        if ((f = fopen(path, "wb")) != NULL) {
            fwrite(content, 1, len, f);
            fclose(f);
        }
    }
    answer_later(s, 0, 1, id);
}

static void hook_closed(void *arg, struct smtp_server_client *cl)
{
    printf("closed %s\n", cl->peer_text);
}

static void on_server_closed(void *arg)
{
    g.srv = NULL;
    uv_close((uv_handle_t *)&g.sigint, NULL);
    uv_close((uv_handle_t *)&g.sigterm, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    if (g.srv)
        smtp_server_close(g.srv, on_server_closed, NULL);
}

static unsigned num(const char *s)
{
    return (unsigned)strtoul(s, NULL, 10);
}

int main(int argc, char **argv)
{
    struct smtp_server_config cfg = {
        .hostname = "probe.test",
        .max_message_size = 10 * 1024 * 1024,
        .max_recipients = 100,
        .max_errors = 10,
    };
    struct smtp_server_hooks hooks = {
        .connect = hook_connect,
        .auth = hook_auth,
        .mail = hook_mail,
        .rcpt = hook_rcpt,
        .message = hook_message,
        .closed = hook_closed,
    };
    const char *addr = NULL;
    int implicit = 0, rc;
    char err[512];

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (sodium_init() < 0)
        return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = argc - i - 1;
        if (!strcmp(a, "--implicit")) {
            implicit = 1;
        } else if (!strcmp(a, "--normalize")) {
            cfg.normalize_bare_lf = 1;
        } else if (!strcmp(a, "--require-auth")) {
            g.require_auth = 1;
        } else if (!strcmp(a, "--cert") && more >= 2) {
            if (tls_server_cert_load(argv[i + 1], argv[i + 2], &cfg.cert, err, sizeof(err)) != 0) {
                fprintf(stderr, "server_probe: %s\n", err);
                return 1;
            }
            i += 2;
        } else if (!strcmp(a, "--save") && more >= 1) {
            g.save_dir = argv[++i];
        } else if (!strcmp(a, "--max-size") && more >= 1) {
            cfg.max_message_size = strtoull(argv[++i], NULL, 10);
        } else if (!strcmp(a, "--max-rcpt") && more >= 1) {
            cfg.max_recipients = num(argv[++i]);
        } else if (!strcmp(a, "--max-errors") && more >= 1) {
            cfg.max_errors = num(argv[++i]);
        } else if (!strcmp(a, "--greet-delay") && more >= 1) {
            cfg.greet_delay_ms = num(argv[++i]);
        } else if (!strcmp(a, "--timeout") && more >= 1) {
            cfg.command_timeout_ms = num(argv[++i]);
        } else if (!strcmp(a, "--data-timeout") && more >= 1) {
            cfg.data_timeout_ms = num(argv[++i]);
        } else if (!strcmp(a, "--min-rate") && more >= 1) {
            cfg.min_data_rate = num(argv[++i]);
        } else if (a[0] != '-' && !addr) {
            addr = a;
        } else {
            fprintf(stderr, "usage: server_probe [--implicit] [--cert CHAIN KEY] [--normalize] "
                            "[--require-auth] [--save DIR] [--max-size N] [--max-rcpt N] "
                            "[--max-errors N] [--greet-delay MS] [--timeout MS] "
                            "[--data-timeout MS] [--min-rate N] ADDR\n");
            return 2;
        }
    }
    if (!addr) {
        fprintf(stderr, "server_probe: no address\n");
        return 2;
    }
    g.loop = uv_default_loop();
    signal(SIGPIPE, SIG_IGN);
    rc = smtp_server_listen(g.loop, addr, implicit, &cfg, &hooks, &g.srv, err, sizeof(err));
    tls_server_cert_unref(cfg.cert); /* the server holds its own */
    if (rc != 0) {
        fprintf(stderr, "server_probe: %s\n", err);
        uv_run(g.loop, UV_RUN_NOWAIT);
        return 1;
    }
    uv_signal_init(g.loop, &g.sigint);
    uv_signal_init(g.loop, &g.sigterm);
    uv_signal_start(&g.sigint, on_signal, SIGINT);
    uv_signal_start(&g.sigterm, on_signal, SIGTERM);
    printf("listening %s\n", addr);
    uv_run(g.loop, UV_RUN_DEFAULT);
    uv_loop_close(g.loop);
    return 0;
}
