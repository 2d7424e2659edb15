/*
 * test_submit.c - the local submission envelope: what sendmail writes
 * parses back the same; hostile envelopes and contents are refused.
 */
#include "submit.h"
#include "check.h"

#include <errno.h>
#include <stdlib.h>

/* Parses a whole envelope text (LF lines). Returns the last parse result. */
static int parse_all(struct submit_env *e, const char *text, char *err, size_t errlen)
{
    const char *p = text;
    int rc = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        rc = submit_parse_line(e, p, len, 1000, err, errlen);
        if (rc != 0)
            return rc;
        p += len + (nl ? 1 : 0);
    }
    return rc;
}

static void test_round_trip(void)
{
    struct submit_env e, back;
    char buf[4096] = "", err[256] = "";
    FILE *f = fmemopen(buf, sizeof(buf), "w");

    submit_env_init(&e);
    snprintf(e.sender, sizeof(e.sender), "joe@example.com");
    e.have_sender = 1;
    CHECK_INT(submit_env_add_rcpt(&e, "a@example.org", QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_DELAY,
                                  "rfc822;a@example.org"),
              0);
    CHECK_INT(submit_env_add_rcpt(&e, "b@example.net", 0, NULL), 0);
    snprintf(e.envid, sizeof(e.envid), "ENV123");
    e.ret = QUEUE_RET_HDRS;
    e.body = QUEUE_BODY_8BITMIME;
    e.size = 42;
    CHECK_INT(submit_env_write(&e, f), 0);
    fclose(f);
    CHECK_STR(buf, "sender joe@example.com\n"
                   "rcpt a@example.org success,delay rfc822;a@example.org\n"
                   "rcpt b@example.net - -\n"
                   "envid ENV123\nret hdrs\nbody 8bitmime\nsize 42\n\n");

    submit_env_init(&back);
    CHECK_INT(parse_all(&back, buf, err, sizeof(err)), 1);
    CHECK_STR(back.sender, "joe@example.com");
    CHECK_INT(back.nrcpt, 2);
    if (back.nrcpt == 2) {
        CHECK_INT(back.rcpt[0].notify, QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_DELAY);
        CHECK_STR(back.rcpt[0].orcpt, "rfc822;a@example.org");
        CHECK_STR(back.rcpt[1].orcpt, "");
    }
    CHECK_INT(back.ret, QUEUE_RET_HDRS);
    CHECK_INT(back.body, QUEUE_BODY_8BITMIME);
    CHECK_INT(back.size, 42);
    submit_env_free(&back);
    submit_env_free(&e);
}

static void test_hostile_envelopes(void)
{
    static const struct {
        const char *text;
        int rc;
        const char *err;
    } cases[] = {
        {"sender a@b.example\nrcpt c@d.example - -\nsize 5\n\n", 1, ""},
        {"sender \nrcpt c@d.example - -\nsize 0\n\n", 1, ""}, /* null sender */
        {"rcpt c@d.example - -\nsize 5\n\n", -EINVAL, "no sender"},
        {"sender a@b.example\nsize 5\n\n", -EINVAL, "no recipients"},
        {"sender a@b.example\nrcpt c@d.example - -\n\n", -EINVAL, "no size"},
        {"sender a@b.example\nrcpt c@d.example - -\nsize 1001\n", -EMSGSIZE,
         "message size 1001 exceeds max_message_size 1000"},
        {"sender a@b.example\nrcpt c@d.example - -\nsize -1\n", -EINVAL, "invalid size"},
        {"sender a@b.example\nrcpt c@d.example - -\nsize 99999999999999999999999\n", -EINVAL,
         "invalid size"},
        {"sender a@b.example\nrcpt c@d.example - -\nsize 5\nrcpt e@f.example - -\n", -EINVAL,
         "envelope line after size"},
        {"sender a@b.example\nsender a@b.example\n", -EINVAL, "two senders"},
        {"sender not an address\n", -EINVAL, "invalid sender address"},
        {"sender a@b.example\nrcpt c\x01@d.example - -\n", -EINVAL,
         "control character in envelope"},
        {"sender a@b.example\nrcpt c@d.example sometimes -\n", -EINVAL,
         "invalid NOTIFY for c@d.example"},
        {"sender a@b.example\nrcpt c@d.example\n", -EINVAL, "malformed rcpt line"},
        {"sender a@b.example\nrcpt c@d.example - - extra\n", -EINVAL, "invalid recipient address"},
        {"sender a@b.example\nrcpt \"c d\"@d.example - -\nsize 1\n\n", 1, ""},
        {"sender a@b.example\nrcpt c@d.example -  \n", -EINVAL, "malformed rcpt line"},
        {"sender a@b.example\nrcpt nobody - -\n", -EINVAL, "invalid recipient address"},
        {"sender a@b.example\nret maybe\n", -EINVAL, "invalid ret"},
        {"sender a@b.example\nbogus 1\n", -EINVAL, "unknown envelope line 'bogus'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct submit_env e;
        char err[256] = "";
        submit_env_init(&e);
        int rc = parse_all(&e, cases[i].text, err, sizeof(err));
        if (rc != cases[i].rc)
            fprintf(stderr, "case %zu\n", i);
        CHECK_INT(rc, cases[i].rc);
        CHECK_STR(err, cases[i].err);
        submit_env_free(&e);
    }
    /* an overlong line is refused before it is copied */
    struct submit_env e;
    char err[256] = "";
    char *big = malloc(SUBMIT_LINE_MAX + 10);
    memset(big, 'a', SUBMIT_LINE_MAX + 10);
    submit_env_init(&e);
    CHECK_INT(submit_parse_line(&e, big, SUBMIT_LINE_MAX + 10, 1000, err, sizeof(err)), -EINVAL);
    CHECK_STR(err, "envelope line too long");
    free(big);
    submit_env_free(&e);
}

static void test_notify(void)
{
    uint8_t n = 0;
    CHECK_INT(submit_parse_notify("never", &n), 0);
    CHECK_INT(n, QUEUE_NOTIFY_NEVER);
    CHECK_INT(submit_parse_notify("SUCCESS,Failure", &n), 0);
    CHECK_INT(n, QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE);
    CHECK_INT(submit_parse_notify("delay,", &n), -EINVAL);
    CHECK_INT(submit_parse_notify("", &n), -EINVAL);
    CHECK_INT(submit_parse_notify("never,success", &n), -EINVAL);
}

static void test_content(void)
{
    static const struct {
        const char *data;
        const char *err;
    } cases[] = {
        {"", ""},
        {"a\r\n\r\nb\r\n", ""},
        {"a\r\nb", "content does not end with CRLF"},
        {"a\nb\r\n", "bare LF in line 1"},
        {"a\r\nb\rc\r\n", "bare CR in line 2"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[128] = "";
        int rc = submit_check_content(cases[i].data, strlen(cases[i].data), err, sizeof(err));
        CHECK_INT(rc, cases[i].err[0] ? -EINVAL : 0);
        CHECK_STR(err, cases[i].err);
    }
    char err[128] = "";
    CHECK_INT(submit_check_content("a\0b\r\n", 5, err, sizeof(err)), -EINVAL);
    CHECK_STR(err, "NUL in line 1");
    /* 998 octets pass, 999 do not */
    char *line = malloc(1002);
    CHECK(line != NULL);
    if (!line)
        return;
    memset(line, 'x', 999);
    memcpy(line + 998, "\r\n", 2);
    CHECK_INT(submit_check_content(line, 1000, err, sizeof(err)), 0);
    memset(line, 'x', 999);
    memcpy(line + 999, "\r\n", 2);
    CHECK_INT(submit_check_content(line, 1001, err, sizeof(err)), -EINVAL);
    CHECK_STR(err, "line 1 longer than 998 octets");
    free(line);
}

int main(void)
{
    test_round_trip();
    test_hostile_envelopes();
    test_notify();
    test_content();
    CHECK_DONE();
}
