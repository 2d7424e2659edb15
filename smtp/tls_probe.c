/*
 * tls_probe.c - the test driver of tests/integration/tls_client.sh: one
 * outbound SMTP session (smtp/client.c on a libuv loop) at a given TLS
 * level, optionally carrying one message.
 *
 *   tls_probe IP PORT NAME LEVEL CAFILE [FROM TO MESSAGEFILE]
 *
 * NAME is the MX host name (SNI, the name the certificate must be for);
 * LEVEL none|may|encrypt|verify; CAFILE a PEM bundle, or "-" for none.
 * Prints
 *   tls=yes|no version=... cipher=... verified=yes|no verify_error=...
 *   ext=PIPELINING,SIZE,... tls_failed=0|1 discarded=N
 *   result=KLASS CODE ENHANCED TEXT
 * and exits 0 when the message was accepted (without one: when the
 * session got READY), 1 otherwise, 2 on a usage or setup error.
 *
 * Trust: a test tool; its arguments come from the test script.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "tls.h"

struct probe {
    struct smtp_txn txn;
    const char *rcpt[1];
    int has_msg;
    int ok;
    int tls_failed;
    struct smtp_result res;
};

static void print_result(const struct smtp_result *r)
{
    printf("result=%d %d %s %s\n", r->klass, r->code, r->enhanced[0] ? r->enhanced : "-", r->text);
}

static void probe_cb(void *arg, struct smtp_client *c, enum smtp_event ev,
                     const struct smtp_outcome *o)
{
    struct probe *p = arg;
    uint64_t size = 0;
    unsigned ext;

    switch (ev) {
    case SMTP_EV_READY:
        p->tls_failed = o->res.tls_failed;
        if (!p->has_msg) {
            p->ok = 1;
            p->res = o->res;
            snprintf(p->res.text, sizeof(p->res.text), "ready");
            smtp_client_quit(c);
            return;
        }
        if (smtp_client_send(c, &p->txn) != 0) {
            p->res.klass = 4;
            snprintf(p->res.text, sizeof(p->res.text), "smtp_client_send refused");
            smtp_client_quit(c);
        }
        return;
    case SMTP_EV_FAILED:
        p->res = o->res;
        p->tls_failed = o->res.tls_failed;
        return;
    case SMTP_EV_TXN_DONE:
        p->res = o->nrcpt ? o->rcpt[0] : o->res;
        p->ok = p->res.klass == 2;
        smtp_client_quit(c);
        return;
    case SMTP_EV_CLOSED: {
        const struct smtp_tls_info *t = smtp_client_tls(c);
        printf("tls=%s version=%s cipher=%s verified=%s verify_error=%s\n",
               t->active ? "yes" : "no", t->version[0] ? t->version : "-",
               t->cipher[0] ? t->cipher : "-", t->verified ? "yes" : "no",
               t->verify_error[0] ? t->verify_error : "-");
        ext = smtp_client_extensions(c, &size);
        printf("ext=%s%s%s%s%s%s tls_failed=%d discarded=%lu\n",
               ext & SMTP_EXT_PIPELINING ? "PIPELINING," : "", ext & SMTP_EXT_SIZE ? "SIZE," : "",
               ext & SMTP_EXT_8BITMIME ? "8BITMIME," : "",
               ext & SMTP_EXT_SMTPUTF8 ? "SMTPUTF8," : "",
               ext & SMTP_EXT_STARTTLS ? "STARTTLS," : "", ext & SMTP_EXT_DSN ? "DSN," : "",
               p->tls_failed, t->discarded);
        return;
    }
    }
}

/* Reads path whole, bare LF turned into CRLF. Returns NULL on error. */
static char *read_message(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *in = NULL, *out = NULL;
    size_t n = 0, cap = 0, o = 0;

    if (!f)
        return NULL;
    for (;;) {
        if (n == cap) {
            char *p = realloc(in, cap = cap ? 2 * cap : 65536);
            if (!p)
                goto fail;
            in = p;
        }
        size_t got = fread(in + n, 1, cap - n, f);
        if (got == 0)
            break;
        n += got;
    }
    if (ferror(f) || !(out = malloc(2 * n + 1)))
        goto fail;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
            out[o++] = '\r';
        out[o++] = in[i];
    }
    fclose(f);
    free(in);
    *len = o;
    return out;
fail:
    fclose(f);
    free(in);
    free(out);
    return NULL;
}

int main(int argc, char **argv)
{
    static const char *const levels[] = {"none", "may", "encrypt", "verify"};
    struct smtp_client_config cfg = {0};
    struct sockaddr_storage ss = {0};
    struct tls_trust *trust = NULL;
    struct smtp_client *c;
    struct probe p = {0};
    char err[256], *msg = NULL;
    uv_loop_t loop;
    int port, rc, level = -1;

    if (argc != 6 && argc != 9) {
        fprintf(stderr, "usage: tls_probe IP PORT NAME none|may|encrypt|verify CAFILE|- "
                        "[FROM TO MESSAGEFILE]\n");
        return 2;
    }
    port = atoi(argv[2]);
    if (inet_pton(AF_INET, argv[1], &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        ss.ss_family = AF_INET;
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, argv[1], &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
        ss.ss_family = AF_INET6;
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
    } else {
        fprintf(stderr, "tls_probe: bad address %s\n", argv[1]);
        return 2;
    }
    for (int i = 0; i < 4; i++)
        if (!strcmp(argv[4], levels[i]))
            level = i;
    if (level < 0) {
        fprintf(stderr, "tls_probe: bad level %s\n", argv[4]);
        return 2;
    }
    if (strcmp(argv[5], "-") != 0 && (rc = tls_trust_load(argv[5], &trust, err, sizeof(err)))) {
        fprintf(stderr, "tls_probe: %s\n", err);
        return 2;
    }
    if (argc == 9) {
        if (!(msg = read_message(argv[8], &p.txn.len))) {
            fprintf(stderr, "tls_probe: %s: %s\n", argv[8], strerror(errno));
            tls_trust_free(trust);
            return 2;
        }
        p.has_msg = 1;
        p.rcpt[0] = argv[7];
        p.txn.sender = argv[6];
        p.txn.nrcpt = 1;
        p.txn.rcpt = p.rcpt;
        p.txn.content = msg;
        p.txn.body_8bit = 1;
    }
    cfg.helo_name = "probe.mta.test";
    cfg.t = (struct smtp_timeouts){10000, 10000, 10000, 10000, 10000, 30000, 30000, 5000};
    cfg.tls = (enum smtp_tls_level)level;
    cfg.trust = trust;
    cfg.tls_name = argv[3];
    uv_loop_init(&loop);
    if ((rc = smtp_client_start(&loop, (struct sockaddr *)&ss, argv[3], &cfg, probe_cb, &p, &c))) {
        fprintf(stderr, "tls_probe: smtp_client_start: %s\n", strerror(-rc));
        uv_loop_close(&loop);
        tls_trust_free(trust);
        free(msg);
        return 2;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    print_result(&p.res);
    uv_loop_close(&loop);
    tls_trust_free(trust);
    free(msg);
    return p.ok ? 0 : 1;
}
