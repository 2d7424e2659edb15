/*
 * submit.c - writing and parsing the local submission envelope (see
 * submit.h for the format).
 *
 * Trust: the parser runs in mtad on bytes from any local user (socket) or
 * from files any local user could have written (maildrop). Every line and
 * field is bounded; addresses are validated; nothing is stored that failed.
 */
#include "submit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"

void submit_env_init(struct submit_env *e)
{
    memset(e, 0, sizeof(*e));
}

void submit_env_free(struct submit_env *e)
{
    free(e->rcpt);
    memset(e, 0, sizeof(*e));
}

/* ORCPT and ENVID, decoded from xtext (RFC 3461): printable ASCII and
 * space (smtp/xtext.c encodes them again for the next hop). */
static int printable_token(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < ' ' || (unsigned char)*s >= 127)
            return 0;
    return 1;
}

int submit_env_add_rcpt(struct submit_env *e, const char *address, uint8_t notify,
                        const char *orcpt)
{
    if (e->nrcpt >= QUEUE_RCPT_MAX)
        return -E2BIG;
    if (address_validate(address, NULL) != 0 || strlen(address) >= QUEUE_ADDRESS_MAX)
        return -EINVAL;
    if (orcpt && (strlen(orcpt) >= QUEUE_ORCPT_MAX || !printable_token(orcpt)))
        return -EINVAL;
    if (e->nrcpt == e->cap) {
        uint32_t cap = e->cap ? e->cap * 2 : 8;
        struct submit_rcpt *r = realloc(e->rcpt, (size_t)cap * sizeof(*r));
        if (!r)
            return -ENOMEM;
        e->rcpt = r;
        e->cap = cap;
    }
    struct submit_rcpt *r = &e->rcpt[e->nrcpt++];
    memset(r, 0, sizeof(*r));
    snprintf(r->address, sizeof(r->address), "%s", address);
    snprintf(r->orcpt, sizeof(r->orcpt), "%s", orcpt ? orcpt : "");
    r->notify = notify;
    return 0;
}

int submit_parse_notify(const char *text, uint8_t *out)
{
    uint8_t v = 0;
    const char *p = text;

    if (strcasecmp(text, "never") == 0) {
        *out = QUEUE_NOTIFY_NEVER;
        return 0;
    }
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n == 7 && strncasecmp(p, "success", 7) == 0)
            v |= QUEUE_NOTIFY_SUCCESS;
        else if (n == 7 && strncasecmp(p, "failure", 7) == 0)
            v |= QUEUE_NOTIFY_FAILURE;
        else if (n == 5 && strncasecmp(p, "delay", 5) == 0)
            v |= QUEUE_NOTIFY_DELAY;
        else
            return -EINVAL;
        p += n;
        if (*p == ',' && *++p == 0)
            return -EINVAL;
    }
    if (!v)
        return -EINVAL;
    *out = v;
    return 0;
}

static void notify_text(uint8_t n, char *out, size_t len)
{
    out[0] = 0;
    if (!n) {
        snprintf(out, len, "-");
        return;
    }
    if (n & QUEUE_NOTIFY_NEVER) {
        snprintf(out, len, "never");
        return;
    }
    if (n & QUEUE_NOTIFY_SUCCESS)
        strncat(out, "success,", len - strlen(out) - 1);
    if (n & QUEUE_NOTIFY_FAILURE)
        strncat(out, "failure,", len - strlen(out) - 1);
    if (n & QUEUE_NOTIFY_DELAY)
        strncat(out, "delay,", len - strlen(out) - 1);
    out[strlen(out) - 1] = 0;
}

int submit_env_write(const struct submit_env *e, FILE *out)
{
    fprintf(out, "sender %s\n", e->sender);
    for (uint32_t i = 0; i < e->nrcpt; i++) {
        char n[32];
        notify_text(e->rcpt[i].notify, n, sizeof(n));
        fprintf(out, "rcpt %s %s %s\n", e->rcpt[i].address, n,
                e->rcpt[i].orcpt[0] ? e->rcpt[i].orcpt : "-");
    }
    if (e->envid[0])
        fprintf(out, "envid %s\n", e->envid);
    if (e->ret)
        fprintf(out, "ret %s\n", e->ret == QUEUE_RET_FULL ? "full" : "hdrs");
    if (e->body)
        fprintf(out, "body 8bitmime\n");
    fprintf(out, "size %" PRIu64 "\n\n", e->size);
    return ferror(out) ? -EIO : 0;
}

/* Splits off the next space-separated word of *p into out (bounded). */
static int next_word(const char **p, char *out, size_t outlen)
{
    const char *s = *p;
    size_t n = strcspn(s, " ");
    if (n >= outlen)
        return -1;
    memcpy(out, s, n);
    out[n] = 0;
    s += n;
    if (*s == ' ')
        s++;
    *p = s;
    return (int)n;
}

#define FAIL(code, ...)                                                                            \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        return code;                                                                               \
    } while (0)

int submit_parse_line(struct submit_env *e, const char *line, size_t len, uint64_t max_size,
                      char *err, size_t errlen)
{
    char buf[SUBMIT_LINE_MAX + 1], word[16];
    const char *p = buf;

    if (len > SUBMIT_LINE_MAX)
        FAIL(-EINVAL, "envelope line too long");
    if (memchr(line, 0, len))
        FAIL(-EINVAL, "NUL in envelope");
    memcpy(buf, line, len);
    buf[len] = 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)buf[i] < ' ' || buf[i] == 127)
            FAIL(-EINVAL, "control character in envelope");
    if (len == 0) {
        if (!e->have_sender)
            FAIL(-EINVAL, "no sender");
        if (e->nrcpt == 0)
            FAIL(-EINVAL, "no recipients");
        if (!e->have_size)
            FAIL(-EINVAL, "no size");
        return 1;
    }
    if (e->have_size)
        FAIL(-EINVAL, "envelope line after size");
    if (next_word(&p, word, sizeof(word)) <= 0)
        FAIL(-EINVAL, "malformed envelope line");
    if (strcmp(word, "sender") == 0) {
        if (e->have_sender)
            FAIL(-EINVAL, "two senders");
        if (*p && (strlen(p) >= sizeof(e->sender) || address_validate(p, NULL) != 0))
            FAIL(-EINVAL, "invalid sender address");
        snprintf(e->sender, sizeof(e->sender), "%s", p);
        e->have_sender = 1;
    } else if (strcmp(word, "rcpt") == 0) {
        char addr[QUEUE_ADDRESS_MAX], notify[40], orcpt[QUEUE_ORCPT_MAX];
        uint8_t nbits = 0;
        int rc;
        /* NOTIFY and ORCPT never hold a space; the address may (a quoted
         * local part), so the two are taken from the end of the line. */
        const char *sp2 = strrchr(p, ' '), *sp1 = NULL;
        if (sp2)
            for (const char *q = sp2 - 1; q >= p && !sp1; q--)
                if (*q == ' ')
                    sp1 = q;
        if (!sp1 || sp1 == p || (size_t)(sp1 - p) >= sizeof(addr) ||
            (size_t)(sp2 - sp1 - 1) >= sizeof(notify) || strlen(sp2 + 1) >= sizeof(orcpt) ||
            sp2 == sp1 + 1 || !sp2[1])
            FAIL(-EINVAL, "malformed rcpt line");
        memcpy(addr, p, (size_t)(sp1 - p));
        addr[sp1 - p] = 0;
        memcpy(notify, sp1 + 1, (size_t)(sp2 - sp1 - 1));
        notify[sp2 - sp1 - 1] = 0;
        snprintf(orcpt, sizeof(orcpt), "%s", sp2 + 1);
        if (strcmp(notify, "-") != 0 && submit_parse_notify(notify, &nbits) != 0)
            FAIL(-EINVAL, "invalid NOTIFY for %s", addr);
        rc = submit_env_add_rcpt(e, addr, nbits, strcmp(orcpt, "-") ? orcpt : NULL);
        if (rc == -E2BIG)
            FAIL(rc, "too many recipients (at most %u)", QUEUE_RCPT_MAX);
        if (rc == -ENOMEM)
            FAIL(rc, "out of memory");
        if (rc)
            FAIL(rc, "invalid recipient address");
    } else if (strcmp(word, "envid") == 0) {
        if (!*p || strlen(p) >= sizeof(e->envid) || !printable_token(p))
            FAIL(-EINVAL, "invalid envid");
        snprintf(e->envid, sizeof(e->envid), "%s", p);
    } else if (strcmp(word, "ret") == 0) {
        if (strcasecmp(p, "full") == 0)
            e->ret = QUEUE_RET_FULL;
        else if (strcasecmp(p, "hdrs") == 0)
            e->ret = QUEUE_RET_HDRS;
        else
            FAIL(-EINVAL, "invalid ret");
    } else if (strcmp(word, "body") == 0) {
        if (strcasecmp(p, "7bit") == 0)
            e->body = QUEUE_BODY_7BIT;
        else if (strcasecmp(p, "8bitmime") == 0)
            e->body = QUEUE_BODY_8BITMIME;
        else
            FAIL(-EINVAL, "invalid body");
    } else if (strcmp(word, "size") == 0) {
        char *end = NULL;
        unsigned long long v;
        if (*p < '0' || *p > '9')
            FAIL(-EINVAL, "invalid size");
        errno = 0;
        v = strtoull(p, &end, 10);
        if (errno || *end)
            FAIL(-EINVAL, "invalid size");
        if (v > max_size)
            FAIL(-EMSGSIZE, "message size %llu exceeds max_message_size %" PRIu64, v, max_size);
        e->size = v;
        e->have_size = 1;
    } else {
        FAIL(-EINVAL, "unknown envelope line '%s'", word);
    }
    return 0;
}

int submit_check_content(const char *data, size_t len, char *err, size_t errlen)
{
    size_t line_start = 0, lineno = 1;

    if (len && (len < 2 || data[len - 2] != '\r' || data[len - 1] != '\n'))
        FAIL(-EINVAL, "content does not end with CRLF");
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (c == 0)
            FAIL(-EINVAL, "NUL in line %zu", lineno);
        if (c == '\r') {
            if (i + 1 >= len || data[i + 1] != '\n')
                FAIL(-EINVAL, "bare CR in line %zu", lineno);
            if (i - line_start > 998)
                FAIL(-EINVAL, "line %zu longer than 998 octets", lineno);
            i++;
            line_start = i + 1;
            lineno++;
        } else if (c == '\n') {
            FAIL(-EINVAL, "bare LF in line %zu", lineno);
        }
    }
    return 0;
}
