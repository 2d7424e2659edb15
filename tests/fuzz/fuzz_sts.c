/*
 * fuzz_sts.c - libFuzzer target for the MTA-STS parsers (mta/sts.h). Every
 * input goes to each of them, since each reads bytes from outside:
 *   - sts_txt_parse (a TXT record from DNS): an id comes out only on
 *     success, 1-32 alphanumerics;
 *   - sts_policy_parse (a policy body from a web server): a policy that
 *     parses keeps every documented bound, survives the cache format
 *     unchanged, and matches a host built from each of its patterns;
 *   - sts_policy_decode (a cache record): what decodes encodes back to
 *     the very same bytes;
 *   - the HTTP response reader (from a web server), fed whole and in
 *     chunks of 1 to 64 bytes drawn from a generator seeded by the input:
 *     both readings must end the same way with the same body, as TCP cuts
 *     a server's bytes anywhere;
 *   - sts_mx_match with the input as the MX host name.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
/* Relative, so that registering this target takes no include directory. */
#include "../../mta/sts.h"

static int lower_ldh(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static void check_policy(const struct sts_policy *p)
{
    /* Static: the cache buffers and a policy are some 16 KB. */
    static char enc[STS_ENCODED_MAX], enc2[STS_ENCODED_MAX], host[STS_MX_LEN + 8];
    static struct sts_policy withid, back;
    int n, n2;

    FUZZ_ASSERT(p->mode == STS_MODE_NONE || p->mode == STS_MODE_TESTING ||
                p->mode == STS_MODE_ENFORCE);
    FUZZ_ASSERT(p->max_age <= STS_MAX_AGE_MAX);
    FUZZ_ASSERT(p->nmx <= STS_MX_MAX);
    FUZZ_ASSERT(p->nmx > 0 || p->mode == STS_MODE_NONE);
    FUZZ_ASSERT(p->id[0] == '\0' && p->fetched == 0);
    for (size_t i = 0; i < p->nmx; i++) {
        size_t len = strnlen(p->mx[i], STS_MX_LEN), start = 0;

        FUZZ_ASSERT(len > 0 && len < STS_MX_LEN);
        if (p->mx[i][0] == '*') {
            FUZZ_ASSERT(len > 2 && p->mx[i][1] == '.');
            start = 2;
        }
        for (size_t j = start; j < len; j++)
            FUZZ_ASSERT(lower_ldh((unsigned char)p->mx[i][j]));

        /* A host the pattern stands for must match, in any case. */
        if (start)
            snprintf(host, sizeof host, "Mx1.%s.", p->mx[i] + 2);
        else
            snprintf(host, sizeof host, "%s", p->mx[i]);
        FUZZ_ASSERT(sts_mx_match(p, host) == 1);
        for (char *c = host; *c; c++)
            if (*c >= 'a' && *c <= 'z')
                *c = (char)(*c - 'a' + 'A');
        FUZZ_ASSERT(sts_mx_match(p, host) == 1);
        /* One label more than the wildcard stands for must not. */
        if (start) {
            snprintf(host, sizeof host, "a.b.%s", p->mx[i] + 2);
            /* ...unless another pattern covers it. */
            if (p->nmx == 1)
                FUZZ_ASSERT(sts_mx_match(p, host) == 0);
        }
    }

    withid = *p;
    snprintf(withid.id, sizeof withid.id, "Fuzz1");
    withid.fetched = 1700000000;
    n = sts_policy_encode(&withid, enc, sizeof enc);
    FUZZ_ASSERT(n > 0 && (size_t)n < sizeof enc && enc[n] == '\0');
    FUZZ_ASSERT(sts_policy_decode(enc, (size_t)n, &back) == 0);
    FUZZ_ASSERT(memcmp(&withid, &back, sizeof back) == 0);
    n2 = sts_policy_encode(&back, enc2, sizeof enc2);
    FUZZ_ASSERT(n2 == n && memcmp(enc, enc2, (size_t)n) == 0);
}

static void check_txt(const uint8_t *data, size_t size)
{
    char id[STS_ID_MAX];
    int rc = sts_txt_parse((const char *)data, size, id);
    size_t len = strnlen(id, sizeof id);

    FUZZ_ASSERT(rc == 0 || rc == -EINVAL);
    FUZZ_ASSERT(len < sizeof id);
    if (rc == 0) {
        FUZZ_ASSERT(len >= 1);
        for (size_t i = 0; i < len; i++)
            FUZZ_ASSERT((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'z') ||
                        (id[i] >= 'A' && id[i] <= 'Z'));
        FUZZ_ASSERT(sts_txt_is_sts((const char *)data, size) == 1);
    } else {
        FUZZ_ASSERT(len == 0);
    }
}

static void check_decode(const uint8_t *data, size_t size)
{
    static struct sts_policy p;
    static char enc[STS_ENCODED_MAX];
    int rc = sts_policy_decode((const char *)data, size, &p), n;

    FUZZ_ASSERT(rc == 0 || rc == -EINVAL);
    if (rc != 0)
        return;
    n = sts_policy_encode(&p, enc, sizeof enc);
    FUZZ_ASSERT(n >= 0 && (size_t)n == size && memcmp(enc, data, size) == 0);
}

/* Reads data as one HTTP response; returns the final result and the body. */
static int http_read(struct sts_http *h, const uint8_t *data, size_t size, int clean, uint32_t seed,
                     int chunked, char **body, size_t *len)
{
    char err[256];
    size_t off = 0;
    int rc = 0;

    sts_http_init(h);
    while (off < size && rc == 0) {
        size_t n = size - off;

        if (chunked) {
            seed = seed * 1103515245u + 12345u;
            if (n > 1 + (seed >> 16) % 64)
                n = 1 + (seed >> 16) % 64;
        }
        rc = sts_http_feed(h, (const char *)data + off, n, err, sizeof err);
        FUZZ_ASSERT(rc == 0 || rc == 1 || rc == -EPROTO || rc == -EMSGSIZE);
        FUZZ_ASSERT(rc >= 0 || strlen(err) > 0);
        off += n;
    }
    if (rc == 0) {
        rc = sts_http_end(h, clean, err, sizeof err);
        FUZZ_ASSERT(rc == 1 || rc == -EPROTO);
    }
    *body = NULL;
    *len = 0;
    if (rc == 1) {
        FUZZ_ASSERT(sts_http_take_body(h, body, len) == 0);
        FUZZ_ASSERT(*body && *len <= STS_POLICY_MAX && (*body)[*len] == '\0');
        rc = 0;
    } else {
        FUZZ_ASSERT(sts_http_take_body(h, body, len) == -EINVAL && *body == NULL);
    }
    sts_http_free(h);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sts_policy p;
    static struct sts_http h;
    static char host[300];
    char err[256], *b1, *b2;
    size_t l1, l2;
    uint32_t seed = 2166136261u;
    int rc, rc2;

    for (size_t i = 0; i < size; i++)
        seed = (seed ^ data[i]) * 16777619u;

    rc = sts_policy_parse((const char *)data, size, &p, err, sizeof err);
    FUZZ_ASSERT(rc == 0 || rc == -EINVAL || rc == -EMSGSIZE);
    FUZZ_ASSERT(strnlen(err, sizeof err) < sizeof err);
    if (rc == 0)
        check_policy(&p);
    else
        FUZZ_ASSERT(strlen(err) > 0);

    check_txt(data, size);
    check_decode(data, size);

    rc = http_read(&h, data, size, (int)(seed & 1), seed, 0, &b1, &l1);
    rc2 = http_read(&h, data, size, (int)(seed & 1), seed, 1, &b2, &l2);
    FUZZ_ASSERT(rc == rc2);
    if (rc == 0)
        FUZZ_ASSERT(l1 == l2 && memcmp(b1, b2, l1) == 0);
    free(b1);
    free(b2);

    /* The input as an MX host name (up to its first NUL). */
    if (p.nmx == 0) {
        static const char pol[] = "version: STSv1\nmode: enforce\nmx: mail.example.com\n"
                                  "mx: *.example.net\nmax_age: 60\n";
        FUZZ_ASSERT(sts_policy_parse(pol, sizeof pol - 1, &p, NULL, 0) == 0);
    }
    memcpy(host, data, size < sizeof host - 1 ? size : sizeof host - 1);
    host[size < sizeof host - 1 ? size : sizeof host - 1] = '\0';
    rc = sts_mx_match(&p, host);
    FUZZ_ASSERT(rc == 0 || rc == 1);
    return 0;
}
