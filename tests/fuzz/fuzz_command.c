/*
 * fuzz_command.c - libFuzzer target for the SMTP server's protocol core
 * (smtp/server_core.c, declared in smtp/server.h): the input is what a
 * client sent, fed in chunks of 1 to 64 bytes (sizes drawn from a
 * generator seeded by the input, as TCP cuts anywhere) into one session.
 *
 * The first input byte picks the setting: bit 0 a certificate is there
 * (STARTTLS/AUTH offered), bit 1 the session starts over TLS, bit 2
 * normalize_bare_lf, bit 3 AUTH succeeds, bit 4 the message hook refuses,
 * bit 5 chunks may span line ends (a pipelining client; else each chunk
 * ends at the latest after an LF, as from a client that waits for every
 * reply, so that the pipelining rules do not end most sessions early).
 * Hooks answer at once; STARTTLS "completes" at once (cl.tls set).
 *
 * Beyond "no crash, no leak", what server.h promises must hold: every
 * reply line is "DDD" then " " or "-", printable ASCII, CRLF-terminated,
 * code 2xx..5xx (or 334); what reaches a hook holds no control character;
 * a message handed over is at most max_message_size, has at most
 * max_recipients recipients, and holds no bare CR or LF (either it was
 * refused, or normalised).
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
/* Relative, so that registering this target takes no include directory. */
#include "../../smtp/server.h"

#define MAX_SIZE 2000
#define MAX_RCPT 4

static struct {
    int auth_ok, refuse;
    int auth_pending, message_pending;
} f;

static void no_ctl(const char *s)
{
    for (; *s; s++)
        FUZZ_ASSERT((unsigned char)*s >= 0x20 && *s != 0x7f);
}

static void hook_auth(void *arg, struct smtp_server_session *s, struct smtp_server_client *cl,
                      const char *authzid, const char *user, const char *password)
{
    no_ctl(authzid);
    no_ctl(user);
    FUZZ_ASSERT(*user);
    FUZZ_ASSERT(strlen(user) < SMTP_SERVER_USER_MAX);
    f.auth_pending = 1;
}

static int hook_mail(void *arg, struct smtp_server_client *cl, const char *sender, uint64_t size,
                     struct smtp_server_verdict *v)
{
    no_ctl(sender);
    FUZZ_ASSERT(strlen(sender) < SMTP_SERVER_ADDR_MAX);
    FUZZ_ASSERT(size <= MAX_SIZE);
    return 0;
}

static int hook_rcpt(void *arg, struct smtp_server_client *cl, const struct smtp_server_rcpt *r,
                     struct smtp_server_verdict *v)
{
    no_ctl(r->address);
    no_ctl(r->orcpt);
    FUZZ_ASSERT(*r->address);
    /* A quirk kept on purpose: one recipient address is refused by the
     * owner, which must not upset the count of accepted ones. */
    if (r->address[0] == 'x') {
        v->code = 550;
        snprintf(v->text, sizeof(v->text), "5.1.1 no\r\nsuch\x01user");
    }
    return 0;
}

static const struct smtp_server_config *cfg_now;

static void hook_message(void *arg, struct smtp_server_session *s, struct smtp_server_client *cl,
                         const struct smtp_server_envelope *env, const char *content, size_t len)
{
    no_ctl(env->sender);
    no_ctl(env->envid);
    FUZZ_ASSERT(env->nrcpt >= 1 && env->nrcpt <= MAX_RCPT);
    for (size_t i = 0; i < env->nrcpt; i++)
        no_ctl(env->rcpt[i].address);
    FUZZ_ASSERT(len <= MAX_SIZE);
    for (size_t i = 0; i < len; i++) {
        if (content[i] == '\n')
            FUZZ_ASSERT(i > 0 && content[i - 1] == '\r');
        if (content[i] == '\r')
            FUZZ_ASSERT(i + 1 < len && content[i + 1] == '\n');
    }
    f.message_pending = 1;
}

/* Every reply line well-formed. */
static void check_output(const char *out, size_t len)
{
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(out + i, '\n', len - i);
        size_t n;
        int code;
        FUZZ_ASSERT(nl != NULL);
        n = (size_t)(nl - (out + i)) + 1;
        FUZZ_ASSERT(n >= 6 && out[i + n - 2] == '\r');
        for (size_t k = 0; k < 3; k++)
            FUZZ_ASSERT(out[i + k] >= '0' && out[i + k] <= '9');
        code = (out[i] - '0') * 100 + (out[i + 1] - '0') * 10 + (out[i + 2] - '0');
        FUZZ_ASSERT((code >= 200 && code <= 599) || code == 334);
        FUZZ_ASSERT(out[i + 3] == ' ' || out[i + 3] == '-');
        for (size_t k = 0; k < n - 2; k++)
            FUZZ_ASSERT((unsigned char)out[i + k] >= 0x20 && (unsigned char)out[i + k] < 0x7f);
        i += n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct smtp_server_config cfg = {
        .hostname = "fuzz.test",
        .max_message_size = MAX_SIZE,
        .max_recipients = MAX_RCPT,
        .max_errors = 50,
    };
    struct smtp_server_hooks hooks = {
        .auth = hook_auth,
        .mail = hook_mail,
        .rcpt = hook_rcpt,
        .message = hook_message,
    };
    struct smtp_server_client cl;
    struct smtp_server_core *core = NULL;
    uint32_t seed = 2166136261u;
    size_t off = 1, len;
    const char *out;
    unsigned flags;

    if (size < 1)
        return 0;
    flags = data[0];
    for (size_t i = 0; i < size; i++)
        seed = (seed ^ data[i]) * 16777619u;
    memset(&f, 0, sizeof(f));
    memset(&cl, 0, sizeof(cl));
    f.auth_ok = (flags >> 3) & 1;
    f.refuse = (flags >> 4) & 1;
    cl.tls = (flags >> 1) & 1;
    cfg.normalize_bare_lf = (flags >> 2) & 1;
    cfg_now = &cfg;
    FUZZ_ASSERT(smtp_server_core_new(&cfg, &hooks, &cl, flags & 1, NULL, &core) == 0);
    smtp_server_core_greet(core);

    while (off < size) {
        size_t chunk, n;
        enum smtp_server_core_status st = smtp_server_core_status(core);

        out = smtp_server_core_output(core, &len);
        check_output(out, len);
        smtp_server_core_output_clear(core);
        if (st == SMTP_CORE_CLOSE)
            break;
        if (st == SMTP_CORE_WAIT) {
            FUZZ_ASSERT(f.auth_pending || f.message_pending);
            if (f.auth_pending) {
                f.auth_pending = 0;
                smtp_server_core_auth_done(core, f.auth_ok);
                if (f.auth_ok)
                    FUZZ_ASSERT(cl.user[0]);
            } else {
                struct smtp_server_verdict v = {0};
                f.message_pending = 0;
                if (f.refuse) {
                    v.code = 554;
                    snprintf(v.text, sizeof(v.text), "5.7.1 refused\n");
                }
                smtp_server_core_message_done(core, &v, "ID\r\n1");
            }
            continue;
        }
        if (st == SMTP_CORE_STARTTLS) {
            FUZZ_ASSERT(!cl.tls);
            cl.tls = 1;
            smtp_server_core_tls_started(core);
            FUZZ_ASSERT(smtp_server_core_status(core) == SMTP_CORE_INPUT);
            FUZZ_ASSERT(!cl.user[0] && !cl.helo[0]);
            continue;
        }
        seed = seed * 1103515245u + 12345u;
        chunk = 1 + (seed >> 16) % 64;
        if (chunk > size - off)
            chunk = size - off;
        if (!(flags & 0x20)) {
            const uint8_t *nl = memchr(data + off, '\n', chunk);
            if (nl)
                chunk = (size_t)(nl - (data + off)) + 1;
        }
        n = smtp_server_core_feed(core, (const char *)data + off, chunk);
        FUZZ_ASSERT(n <= chunk);
        off += n;
        if (n == 0 && smtp_server_core_status(core) == SMTP_CORE_INPUT) {
            /* Only a full output buffer stops the core while it takes input. */
            smtp_server_core_output(core, &len);
            FUZZ_ASSERT(len > 0);
        }
    }
    out = smtp_server_core_output(core, &len);
    check_output(out, len);
    smtp_server_core_timeout(core);
    out = smtp_server_core_output(core, &len);
    check_output(out, len);
    smtp_server_core_free(core);
    return 0;
}
