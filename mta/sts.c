/*
 * sts.c - MTA-STS (RFC 8461) as declared in sts.h: the TXT record and
 * policy parsers, MX matching, the cache format, and the blocking HTTPS
 * fetch of a policy (a socket with poll() deadlines, BearSSL over it, and
 * a bounded HTTP/1.1 response reader).
 *
 * SECURITY: trusts no input. TXT records come from DNS, policy bodies and
 * HTTP responses from a web server anyone may run, cache records from the
 * queue's notes (written by us, but read back as if they were not). Every
 * parser checks its bound before it copies, refuses what the grammar does
 * not allow instead of guessing, and never allocates more than one
 * STS_POLICY_MAX body. The policy only becomes trusted through the TLS
 * certificate check, which is BearSSL's (x509_minimal with the operator's
 * trust anchors and the name mta-sts.DOMAIN); nothing here weakens it.
 */
#include "sts.h"
/* Relative, so that the fuzz targets need no include directory for it. */
#include "../smtp/tls.h"

#include <arpa/inet.h>
#include <bearssl.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

_Static_assert(STS_MX_LEN >= 2 + 253 + 1, "an mx pattern does not fit");
_Static_assert(STS_DOMAIN_MAX - 1 + sizeof "mta-sts." - 1 <= 253, "policy host over 253");

/* ---- small helpers ---- */

__attribute__((format(printf, 3, 4))) static void sts__err(char *err, size_t errlen,
                                                           const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool sts__digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool sts__alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool sts__alnum(unsigned char c)
{
    return sts__alpha(c) || sts__digit(c);
}

static bool sts__wsp(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* ASCII only: host names and protocol tokens, never the locale's idea. */
static char sts__lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool sts__ieq(const char *a, const char *b, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (sts__lower(a[i]) != sts__lower(b[i]))
            return false;
    return true;
}

/* Name chars of TXT extension fields and policy keys (3.1, 3.2). */
static bool sts__name_char(unsigned char c)
{
    return sts__alnum(c) || c == '_' || c == '-' || c == '.';
}

/*
 * Length of an RFC 5321 Domain at s[0..len): LDH labels of 1-63 octets
 * that start and end with a letter or digit, separated by single dots, at
 * most 253 octets in all. Returns 1 if all of s[0..len) is one, else 0.
 */
static int sts__domain_valid(const char *s, size_t len)
{
    size_t label = 0;

    if (len == 0 || len > 253)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return 0;
            label = 0;
        } else if (sts__alnum(c) || (c == '-' && label > 0)) {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return label > 0 && s[len - 1] != '-';
}

/* 1 if s[0..len) is an mx pattern: a Domain, or "*." and a Domain. */
static int sts__pattern_valid(const char *s, size_t len)
{
    if (len >= 2 && s[0] == '*' && s[1] == '.')
        return sts__domain_valid(s + 2, len - 2);
    return sts__domain_valid(s, len);
}

/*
 * Reads 1..maxdigits decimal digits, all of s[0..len), into *out.
 * canonical refuses leading zeros (the cache format writes none).
 */
static int sts__number(const char *s, size_t len, size_t maxdigits, bool canonical, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > maxdigits)
        return -EINVAL;
    if (canonical && len > 1 && s[0] == '0')
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (!sts__digit((unsigned char)s[i]))
            return -EINVAL;
        /* maxdigits <= 19 keeps this below UINT64_MAX. */
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

/* ---- the TXT record ---- */

int sts_txt_is_sts(const char *txt, size_t len)
{
    if (len < 7 || memcmp(txt, "v=STSv1", 7) != 0)
        return 0;
    return len == 7 || txt[7] == ';' || sts__wsp((unsigned char)txt[7]);
}

/* sts-ext-value: 1*(%x21-3A / %x3C / %x3E-7E), printable but not ";" or "=". */
static bool sts__txt_value_char(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e && c != ';' && c != '=';
}

int sts_txt_parse(const char *txt, size_t len, char id[STS_ID_MAX])
{
    size_t i = 7;
    bool have_id = false;

    id[0] = '\0';
    if (len < 7 || memcmp(txt, "v=STSv1", 7) != 0)
        return -EINVAL;
    for (;;) {
        size_t name, nlen, value;

        while (i < len && sts__wsp((unsigned char)txt[i]))
            i++;
        if (i == len)
            break; /* the end, or whitespace at the end */
        if (txt[i++] != ';')
            goto bad;
        while (i < len && sts__wsp((unsigned char)txt[i]))
            i++;
        if (i == len)
            break; /* a final delimiter */

        name = i;
        if (!sts__alnum((unsigned char)txt[i]))
            goto bad;
        while (i < len && i - name < 32 && sts__name_char((unsigned char)txt[i]))
            i++;
        nlen = i - name;
        if (i == len || txt[i] != '=')
            goto bad;
        value = ++i;
        if (nlen == 2 && memcmp(txt + name, "id", 2) == 0) {
            while (i < len && sts__alnum((unsigned char)txt[i]))
                i++;
            if (i == value || i - value > STS_ID_MAX - 1)
                goto bad;
            if (!have_id) {
                memcpy(id, txt + value, i - value);
                id[i - value] = '\0';
                have_id = true;
            }
        } else {
            while (i < len && sts__txt_value_char((unsigned char)txt[i]))
                i++;
            if (i == value)
                goto bad;
        }
    }
    if (!have_id)
        goto bad;
    return 0;
bad:
    id[0] = '\0';
    return -EINVAL;
}

int sts_txt_select(const char *const *txt, const size_t *len, size_t n, char id[STS_ID_MAX])
{
    size_t found = n, count = 0;

    id[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (sts_txt_is_sts(txt[i], len[i])) {
            found = i;
            count++;
        }
    }
    if (count == 0)
        return -ENOENT;
    if (count > 1)
        return -EINVAL;
    return sts_txt_parse(txt[found], len[found], id);
}

/* ---- the policy ---- */

const char *sts_mode_name(enum sts_mode mode)
{
    switch (mode) {
    case STS_MODE_NONE:
        return "none";
    case STS_MODE_TESTING:
        return "testing";
    case STS_MODE_ENFORCE:
        return "enforce";
    }
    return "?";
}

static int sts__mode_parse(const char *s, size_t len, enum sts_mode *mode)
{
    static const enum sts_mode modes[] = {STS_MODE_NONE, STS_MODE_TESTING, STS_MODE_ENFORCE};

    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        const char *name = sts_mode_name(modes[i]);

        if (strlen(name) == len && memcmp(name, s, len) == 0) {
            *mode = modes[i];
            return 0;
        }
    }
    return -EINVAL;
}

/* Shows at most 40 bytes of a bad value, control bytes as '?', for err. */
static const char *sts__show(const char *s, size_t len, char buf[48])
{
    size_t n = len > 40 ? 40 : len;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        buf[i] = c < 0x20 || c > 126 ? '?' : (char)c;
    }
    strcpy(buf + n, len > n ? "..." : "");
    return buf;
}

static bool sts__key_is(const char *key, size_t klen, const char *name)
{
    return strlen(name) == klen && memcmp(key, name, klen) == 0;
}

static int sts__policy_parse(const char *body, size_t len, struct sts_policy *out, char *err,
                             size_t errlen)
{
    bool have_version = false, have_mode = false, have_max_age = false;
    size_t pos = 0;
    unsigned line = 0;
    char show[48];

    memset(out, 0, sizeof *out);
    sts__err(err, errlen, "%s", "");
    if (len > STS_POLICY_MAX) {
        sts__err(err, errlen, "policy of %zu bytes is over %d", len, STS_POLICY_MAX);
        return -EMSGSIZE;
    }
    while (pos < len) {
        const char *l = body + pos, *nl = memchr(l, '\n', len - pos), *key, *value;
        size_t llen = nl ? (size_t)(nl - l) : len - pos, klen, vlen, i = 0;

        pos += llen + (nl ? 1 : 0);
        line++;
        /* CRLF or LF; a CR anywhere else is a control character below. */
        if (nl && llen > 0 && l[llen - 1] == '\r')
            llen--;
        while (llen > 0 && sts__wsp((unsigned char)l[llen - 1]))
            llen--;
        if (llen == 0)
            continue;

        key = l;
        if (!sts__alnum((unsigned char)l[0]))
            goto syntax;
        while (i < llen && i < 32 && sts__name_char((unsigned char)l[i]))
            i++;
        klen = i;
        if (i == llen || l[i] != ':')
            goto syntax;
        for (i++; i < llen && sts__wsp((unsigned char)l[i]); i++)
            ;
        value = l + i;
        vlen = llen - i;
        for (i = 0; i < vlen; i++) {
            unsigned char c = (unsigned char)value[i];

            if (c < 0x20 || c == 0x7f) {
                sts__err(err, errlen, "line %u: control character in the value", line);
                return -EINVAL;
            }
        }

        if (!have_version) {
            if (!sts__key_is(key, klen, "version")) {
                sts__err(err, errlen, "line %u: the first field is not version", line);
                return -EINVAL;
            }
            if (vlen != 5 || memcmp(value, "STSv1", 5) != 0) {
                sts__err(err, errlen, "line %u: version \"%s\" is not STSv1", line,
                         sts__show(value, vlen, show));
                return -EINVAL;
            }
            have_version = true;
        } else if (sts__key_is(key, klen, "mode")) {
            if (have_mode)
                continue; /* the first one counts */
            if (sts__mode_parse(value, vlen, &out->mode) != 0) {
                sts__err(err, errlen, "line %u: bad mode \"%s\"", line,
                         sts__show(value, vlen, show));
                return -EINVAL;
            }
            have_mode = true;
        } else if (sts__key_is(key, klen, "max_age")) {
            if (have_max_age)
                continue;
            if (sts__number(value, vlen, 10, false, &out->max_age) != 0 ||
                out->max_age > STS_MAX_AGE_MAX) {
                sts__err(err, errlen, "line %u: bad max_age \"%s\" (0 to %d)", line,
                         sts__show(value, vlen, show), STS_MAX_AGE_MAX);
                out->max_age = 0;
                return -EINVAL;
            }
            have_max_age = true;
        } else if (sts__key_is(key, klen, "mx")) {
            if (!sts__pattern_valid(value, vlen)) {
                sts__err(err, errlen, "line %u: bad mx pattern \"%s\"", line,
                         sts__show(value, vlen, show));
                return -EINVAL;
            }
            if (out->nmx == STS_MX_MAX) {
                sts__err(err, errlen, "line %u: more than %d mx patterns", line, STS_MX_MAX);
                return -EMSGSIZE;
            }
            for (i = 0; i < vlen; i++)
                out->mx[out->nmx][i] = sts__lower(value[i]);
            out->mx[out->nmx][vlen] = '\0';
            out->nmx++;
        }
        /* Any other key is an extension: ignored (3.2). */
        continue;
    syntax:
        sts__err(err, errlen, "line %u: not \"key: value\": \"%s\"", line,
                 sts__show(l, llen, show));
        return -EINVAL;
    }
    if (!have_version) {
        sts__err(err, errlen, "no version field");
        return -EINVAL;
    }
    if (!have_mode) {
        sts__err(err, errlen, "no mode field");
        return -EINVAL;
    }
    if (!have_max_age) {
        sts__err(err, errlen, "no max_age field");
        return -EINVAL;
    }
    if (out->nmx == 0 && out->mode != STS_MODE_NONE) {
        sts__err(err, errlen, "no mx field in mode %s", sts_mode_name(out->mode));
        return -EINVAL;
    }
    return 0;
}

int sts_policy_parse(const char *body, size_t len, struct sts_policy *out, char *err, size_t errlen)
{
    int rc = sts__policy_parse(body, len, out, err, errlen);

    /* Never leave half a policy for a caller that forgets the return. */
    if (rc < 0)
        memset(out, 0, sizeof *out);
    return rc;
}

int sts_mx_match(const struct sts_policy *p, const char *mx_host)
{
    size_t hlen = strlen(mx_host);

    if (hlen > 0 && mx_host[hlen - 1] == '.')
        hlen--;
    if (hlen == 0)
        return 0;
    for (size_t i = 0; i < p->nmx && i < STS_MX_MAX; i++) {
        const char *pat = p->mx[i];
        size_t plen = strnlen(pat, STS_MX_LEN);

        if (plen >= 2 && pat[0] == '*' && pat[1] == '.') {
            /* One label, a dot, then the suffix: the dot must be the
             * host's first, so that the wildcard covers one label only. */
            const char *dot = memchr(mx_host, '.', hlen);
            size_t slen = plen - 2;

            if (dot && dot > mx_host && (size_t)(mx_host + hlen - (dot + 1)) == slen &&
                sts__ieq(dot + 1, pat + 2, slen))
                return 1;
        } else if (plen == hlen && sts__ieq(mx_host, pat, hlen)) {
            return 1;
        }
    }
    return 0;
}

/* ---- the cache format ---- */

int sts_policy_expired(const struct sts_policy *p, int64_t now)
{
    /* max_age is bounded, but a decoded or hand-filled struct may hold
     * anything: compare without overflowing. */
    if (now < p->fetched)
        return 0;
    return (uint64_t)now - (uint64_t)p->fetched >= p->max_age;
}

static bool sts__id_valid(const char *id, size_t len)
{
    if (len > STS_ID_MAX - 1)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!sts__alnum((unsigned char)id[i]))
            return false;
    return true;
}

int sts_policy_encode(const struct sts_policy *p, char *buf, size_t cap)
{
    size_t idlen = strnlen(p->id, STS_ID_MAX), used;
    int n;

    if ((p->mode != STS_MODE_NONE && p->mode != STS_MODE_TESTING && p->mode != STS_MODE_ENFORCE) ||
        p->max_age > STS_MAX_AGE_MAX || p->fetched < 0 || p->nmx > STS_MX_MAX ||
        (p->nmx == 0 && p->mode != STS_MODE_NONE) || idlen == STS_ID_MAX ||
        !sts__id_valid(p->id, idlen))
        return -EINVAL;
    for (size_t i = 0; i < p->nmx; i++) {
        size_t plen = strnlen(p->mx[i], STS_MX_LEN);

        if (plen == STS_MX_LEN || !sts__pattern_valid(p->mx[i], plen))
            return -EINVAL;
        for (size_t j = 0; j < plen; j++)
            if (p->mx[i][j] != sts__lower(p->mx[i][j]))
                return -EINVAL;
    }
    n = snprintf(buf, cap, "sts1 %s %llu %lld %s\n", sts_mode_name(p->mode),
                 (unsigned long long)p->max_age, (long long)p->fetched, idlen ? p->id : "-");
    if (n < 0 || (size_t)n >= cap)
        return -ENOSPC;
    used = (size_t)n;
    for (size_t i = 0; i < p->nmx; i++) {
        size_t plen = strlen(p->mx[i]);

        if (cap - used < plen + 2)
            return -ENOSPC;
        memcpy(buf + used, p->mx[i], plen);
        used += plen;
        buf[used++] = '\n';
    }
    buf[used] = '\0';
    return (int)used;
}

/* Takes the next token of s[*pos..len) ending at a single space (or at
 * the newline for the last one). Returns its length, 0 if there is none. */
static size_t sts__token(const char *s, size_t len, size_t *pos, char end, const char **tok)
{
    size_t start = *pos, i = start;

    while (i < len && s[i] != ' ' && s[i] != '\n')
        i++;
    if (i == start || i == len || s[i] != end)
        return 0;
    *tok = s + start;
    *pos = i + 1;
    return i - start;
}

int sts_policy_decode(const char *buf, size_t len, struct sts_policy *out)
{
    const char *tok = NULL;
    size_t pos = 0, tlen;
    uint64_t v;

    memset(out, 0, sizeof *out);
    if (len > STS_ENCODED_MAX)
        goto bad;
    if ((tlen = sts__token(buf, len, &pos, ' ', &tok)) != 4 || memcmp(tok, "sts1", 4) != 0)
        goto bad;
    if ((tlen = sts__token(buf, len, &pos, ' ', &tok)) == 0 ||
        sts__mode_parse(tok, tlen, &out->mode) != 0)
        goto bad;
    if ((tlen = sts__token(buf, len, &pos, ' ', &tok)) == 0 ||
        sts__number(tok, tlen, 10, true, &v) != 0 || v > STS_MAX_AGE_MAX)
        goto bad;
    out->max_age = v;
    if ((tlen = sts__token(buf, len, &pos, ' ', &tok)) == 0 ||
        sts__number(tok, tlen, 19, true, &v) != 0 || v > INT64_MAX)
        goto bad;
    out->fetched = (int64_t)v;
    if ((tlen = sts__token(buf, len, &pos, '\n', &tok)) == 0)
        goto bad;
    if (!(tlen == 1 && tok[0] == '-')) {
        if (!sts__id_valid(tok, tlen))
            goto bad;
        memcpy(out->id, tok, tlen);
        out->id[tlen] = '\0';
    }
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t plen = nl ? (size_t)(nl - (buf + pos)) : 0;

        if (!nl || out->nmx == STS_MX_MAX || !sts__pattern_valid(buf + pos, plen))
            goto bad;
        for (size_t i = 0; i < plen; i++) {
            if (buf[pos + i] != sts__lower(buf[pos + i]))
                goto bad;
            out->mx[out->nmx][i] = buf[pos + i];
        }
        out->mx[out->nmx][plen] = '\0';
        out->nmx++;
        pos += plen + 1;
    }
    if (out->nmx == 0 && out->mode != STS_MODE_NONE)
        goto bad;
    return 0;
bad:
    memset(out, 0, sizeof *out);
    return -EINVAL;
}

/* ---- the HTTP response reader ---- */

enum {
    STS_HTTP_HEAD,        /* status line and header fields */
    STS_HTTP_BODY_LENGTH, /* Content-Length bytes */
    STS_HTTP_BODY_CLOSE,  /* everything until the connection ends */
    STS_HTTP_CHUNK_SIZE,  /* a chunk-size line */
    STS_HTTP_CHUNK_DATA,  /* a chunk's bytes */
    STS_HTTP_CHUNK_END,   /* the CRLF after a chunk's bytes */
    STS_HTTP_TRAILER,     /* trailer lines up to the empty one */
    STS_HTTP_DONE,
    STS_HTTP_FAILED,
};

void sts_http_init(struct sts_http *h)
{
    memset(h, 0, sizeof *h);
    h->state = STS_HTTP_HEAD;
}

void sts_http_free(struct sts_http *h)
{
    free(h->body);
    h->body = NULL;
    h->state = STS_HTTP_FAILED;
}

/* RFC 9110 tchar: what a header field name is made of. */
static bool sts__tchar(unsigned char c)
{
    return sts__alnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Trims OWS on both ends of s[0..*len). */
static const char *sts__trim(const char *s, size_t *len)
{
    while (*len > 0 && sts__wsp((unsigned char)s[0])) {
        s++;
        (*len)--;
    }
    while (*len > 0 && sts__wsp((unsigned char)s[*len - 1]))
        (*len)--;
    return s;
}

/* 1 if the media type of a Content-Type value is text/plain. */
static int sts__is_text_plain(const char *v, size_t len)
{
    size_t n = 0;

    while (n < len && v[n] != ';' && !sts__wsp((unsigned char)v[n]))
        n++;
    if (n != 10 || !sts__ieq(v, "text/plain", 10))
        return 0;
    /* After the type only OWS and parameters: "text/plain ; charset=x". */
    while (n < len && sts__wsp((unsigned char)v[n]))
        n++;
    return n == len || v[n] == ';';
}

/* Parses the complete header in h->head and chooses how the body is framed. */
static int sts__http_head(struct sts_http *h, char *err, size_t errlen)
{
    const char *p = h->head, *end = h->head + h->head_len;
    const char *ctype = NULL, *location = NULL, *reason = "";
    size_t ctype_len = 0, location_len = 0, reason_len = 0;
    bool have_length = false, chunked = false, first = true;
    uint64_t length = 0;
    char show[48];

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *colon, *value;
        size_t llen = (size_t)(nl - p), nlen, vlen;

        /* The head ends in an LF (that is how it was found). */
        if (llen > 0 && p[llen - 1] == '\r')
            llen--;
        for (size_t i = 0; i < llen; i++) {
            unsigned char c = (unsigned char)p[i];

            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                sts__err(err, errlen, "control character in the response header");
                return -EPROTO;
            }
        }
        if (first) {
            /* HTTP-version SP 3DIGIT [SP reason-phrase] */
            first = false;
            if (llen < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
                p[8] != ' ' || !sts__digit((unsigned char)p[9]) ||
                !sts__digit((unsigned char)p[10]) || !sts__digit((unsigned char)p[11]) ||
                (llen > 12 && p[12] != ' ') || p[9] < '1' || p[9] > '5') {
                sts__err(err, errlen, "bad HTTP status line \"%s\"", sts__show(p, llen, show));
                return -EPROTO;
            }
            h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
            reason = p + (llen > 12 ? 13 : llen);
            reason_len = llen > 12 ? llen - 13 : 0;
            p = nl + 1;
            continue;
        }
        if (llen == 0)
            break; /* the empty line that ends the head */
        if (sts__wsp((unsigned char)p[0])) {
            sts__err(err, errlen, "folded header line (obsolete) in the response");
            return -EPROTO;
        }
        colon = memchr(p, ':', llen);
        nlen = colon ? (size_t)(colon - p) : 0;
        for (size_t i = 0; i < nlen; i++)
            if (!sts__tchar((unsigned char)p[i]))
                nlen = 0;
        if (nlen == 0) {
            sts__err(err, errlen, "bad header line \"%s\"", sts__show(p, llen, show));
            return -EPROTO;
        }
        vlen = llen - nlen - 1;
        value = sts__trim(colon + 1, &vlen);
        if (nlen == 14 && sts__ieq(p, "content-length", 14)) {
            if (have_length || sts__number(value, vlen, 19, false, &length) != 0) {
                sts__err(err, errlen, "bad or repeated Content-Length \"%s\"",
                         sts__show(value, vlen, show));
                return -EPROTO;
            }
            have_length = true;
        } else if (nlen == 17 && sts__ieq(p, "transfer-encoding", 17)) {
            if (chunked || vlen != 7 || !sts__ieq(value, "chunked", 7)) {
                sts__err(err, errlen, "unsupported Transfer-Encoding \"%s\"",
                         sts__show(value, vlen, show));
                return -EPROTO;
            }
            chunked = true;
        } else if (nlen == 16 && sts__ieq(p, "content-encoding", 16)) {
            /* We sent no Accept-Encoding: anything but identity is wrong. */
            if (vlen != 8 || !sts__ieq(value, "identity", 8)) {
                sts__err(err, errlen, "unsupported Content-Encoding \"%s\"",
                         sts__show(value, vlen, show));
                return -EPROTO;
            }
        } else if (nlen == 12 && sts__ieq(p, "content-type", 12)) {
            if (ctype) {
                sts__err(err, errlen, "repeated Content-Type");
                return -EPROTO;
            }
            ctype = value;
            ctype_len = vlen;
        } else if (nlen == 8 && sts__ieq(p, "location", 8)) {
            location = value;
            location_len = vlen;
        }
        p = nl + 1;
    }

    if (h->status != 200) {
        if (h->status >= 300 && h->status <= 399)
            sts__err(err, errlen, "redirect not followed: HTTP %d to \"%s\"", h->status,
                     location ? sts__show(location, location_len, show) : "");
        else
            sts__err(err, errlen, "HTTP status %d %s", h->status,
                     sts__show(reason, reason_len, show));
        return -EPROTO;
    }
    if (!ctype) {
        sts__err(err, errlen, "no Content-Type in the response");
        return -EPROTO;
    }
    if (!sts__is_text_plain(ctype, ctype_len)) {
        sts__err(err, errlen, "Content-Type \"%s\" is not text/plain",
                 sts__show(ctype, ctype_len, show));
        return -EPROTO;
    }
    /* Both framings at once is how requests get smuggled: refuse. */
    if (chunked && have_length) {
        sts__err(err, errlen, "both Content-Length and Transfer-Encoding in the response");
        return -EPROTO;
    }
    if (have_length && length > STS_POLICY_MAX) {
        sts__err(err, errlen, "Content-Length %llu is over %d", (unsigned long long)length,
                 STS_POLICY_MAX);
        return -EMSGSIZE;
    }
    h->body = malloc(STS_POLICY_MAX + 1);
    if (!h->body) {
        sts__err(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (chunked) {
        h->state = STS_HTTP_CHUNK_SIZE;
    } else if (have_length) {
        h->remaining = length;
        h->state = length ? STS_HTTP_BODY_LENGTH : STS_HTTP_DONE;
    } else {
        h->state = STS_HTTP_BODY_CLOSE;
    }
    return 0;
}

/* Collects a line (chunk-size, chunk end, trailer) into h->line; returns
 * 1 when it is complete (CR before LF dropped), 0 for more, -EPROTO. */
static int sts__http_line(struct sts_http *h, char c, char *err, size_t errlen)
{
    if (c == '\n') {
        if (h->line_len > 0 && h->line[h->line_len - 1] == '\r')
            h->line_len--;
        return 1;
    }
    if (h->line_len == sizeof h->line) {
        sts__err(err, errlen, "chunk line over %d bytes", STS_HTTP_LINE_MAX);
        return -EPROTO;
    }
    h->line[h->line_len++] = c;
    return 0;
}

static int sts__hex(unsigned char c)
{
    if (sts__digit(c))
        return c - '0';
    c = (unsigned char)sts__lower((char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* chunk-size [chunk-ext]: the size, or -EPROTO / -EMSGSIZE. */
static int sts__chunk_size(struct sts_http *h, char *err, size_t errlen)
{
    uint64_t size = 0;
    size_t i = 0;
    int d;

    while (i < h->line_len && (d = sts__hex((unsigned char)h->line[i])) >= 0) {
        size = size * 16 + (uint64_t)d;
        if (size > STS_POLICY_MAX) {
            sts__err(err, errlen, "chunk over %d bytes", STS_POLICY_MAX);
            return -EMSGSIZE;
        }
        i++;
    }
    if (i == 0)
        goto bad;
    while (i < h->line_len && sts__wsp((unsigned char)h->line[i]))
        i++;
    /* Extensions are ignored, but must look like one and hold no controls. */
    if (i < h->line_len && h->line[i] != ';')
        goto bad;
    for (; i < h->line_len; i++)
        if ((unsigned char)h->line[i] < 0x20 && h->line[i] != '\t')
            goto bad;
    h->remaining = size;
    return 0;
bad:
    sts__err(err, errlen, "bad chunk size line");
    return -EPROTO;
}

int sts_http_feed(struct sts_http *h, const char *data, size_t len, char *err, size_t errlen)
{
    size_t i = 0;
    int rc;

    while (i < len) {
        switch (h->state) {
        case STS_HTTP_HEAD: {
            char c = data[i++];

            if (h->head_len == sizeof h->head) {
                sts__err(err, errlen, "response header over %d bytes", STS_HTTP_HEAD_MAX);
                rc = -EMSGSIZE;
                goto fail;
            }
            h->head[h->head_len++] = c;
            /* The head ends at an empty line: LF LF or LF CR LF. */
            if (c == '\n' && ((h->head_len >= 2 && h->head[h->head_len - 2] == '\n') ||
                              (h->head_len >= 3 && h->head[h->head_len - 2] == '\r' &&
                               h->head[h->head_len - 3] == '\n'))) {
                if ((rc = sts__http_head(h, err, errlen)) < 0)
                    goto fail;
            }
            break;
        }
        case STS_HTTP_BODY_LENGTH:
        case STS_HTTP_CHUNK_DATA: {
            size_t n = len - i;

            if (n > h->remaining)
                n = (size_t)h->remaining;
            /* remaining was checked against the room left when it was set. */
            memcpy(h->body + h->body_len, data + i, n);
            h->body_len += n;
            h->remaining -= n;
            i += n;
            if (h->remaining == 0)
                h->state = h->state == STS_HTTP_CHUNK_DATA ? STS_HTTP_CHUNK_END : STS_HTTP_DONE;
            break;
        }
        case STS_HTTP_BODY_CLOSE: {
            size_t n = len - i;

            if (n > STS_POLICY_MAX - h->body_len) {
                sts__err(err, errlen, "body over %d bytes", STS_POLICY_MAX);
                rc = -EMSGSIZE;
                goto fail;
            }
            memcpy(h->body + h->body_len, data + i, n);
            h->body_len += n;
            i += n;
            break;
        }
        case STS_HTTP_CHUNK_SIZE:
            if ((rc = sts__http_line(h, data[i++], err, errlen)) < 0)
                goto fail;
            if (rc == 1) {
                if ((rc = sts__chunk_size(h, err, errlen)) < 0)
                    goto fail;
                h->line_len = 0;
                if (h->remaining > STS_POLICY_MAX - h->body_len) {
                    sts__err(err, errlen, "body over %d bytes", STS_POLICY_MAX);
                    rc = -EMSGSIZE;
                    goto fail;
                }
                h->state = h->remaining ? STS_HTTP_CHUNK_DATA : STS_HTTP_TRAILER;
            }
            break;
        case STS_HTTP_CHUNK_END:
            if ((rc = sts__http_line(h, data[i++], err, errlen)) < 0)
                goto fail;
            if (rc == 1) {
                if (h->line_len != 0) {
                    sts__err(err, errlen, "chunk not followed by CRLF");
                    rc = -EPROTO;
                    goto fail;
                }
                h->state = STS_HTTP_CHUNK_SIZE;
            }
            break;
        case STS_HTTP_TRAILER:
            if (++h->trailer_len > STS_HTTP_HEAD_MAX) {
                sts__err(err, errlen, "trailer over %d bytes", STS_HTTP_HEAD_MAX);
                rc = -EMSGSIZE;
                goto fail;
            }
            if ((rc = sts__http_line(h, data[i++], err, errlen)) < 0)
                goto fail;
            if (rc == 1) {
                /* Trailer fields are ignored; the empty line ends the body. */
                if (h->line_len == 0)
                    h->state = STS_HTTP_DONE;
                h->line_len = 0;
            }
            break;
        case STS_HTTP_DONE:
            return 1;
        default:
            sts__err(err, errlen, "response already failed");
            return -EPROTO;
        }
    }
    return h->state == STS_HTTP_DONE ? 1 : 0;
fail:
    h->state = STS_HTTP_FAILED;
    return rc;
}

int sts_http_end(struct sts_http *h, int clean, char *err, size_t errlen)
{
    switch (h->state) {
    case STS_HTTP_DONE:
        return 1;
    case STS_HTTP_BODY_CLOSE:
        if (clean) {
            h->state = STS_HTTP_DONE;
            return 1;
        }
        sts__err(err, errlen,
                 "connection closed without TLS close_notify: the body may be truncated");
        break;
    case STS_HTTP_HEAD:
        sts__err(err, errlen, "connection closed %s",
                 h->head_len ? "in the response header" : "before any response");
        break;
    case STS_HTTP_FAILED:
        sts__err(err, errlen, "response already failed");
        break;
    default:
        sts__err(err, errlen, "connection closed in the body after %zu bytes", h->body_len);
        break;
    }
    h->state = STS_HTTP_FAILED;
    return -EPROTO;
}

int sts_http_take_body(struct sts_http *h, char **body, size_t *len)
{
    char *b;

    *body = NULL;
    *len = 0;
    if (h->state != STS_HTTP_DONE || !h->body)
        return -EINVAL;
    h->body[h->body_len] = '\0';
    /* Give back most of the STS_POLICY_MAX buffer; keep it if that fails. */
    b = realloc(h->body, h->body_len + 1);
    *body = b ? b : h->body;
    *len = h->body_len;
    h->body = NULL;
    return 0;
}

/* ---- fetching ---- */

/* BearSSL's error names (its headers have no function for them). */
static const char *sts__br_error_name(int e)
{
    static const struct {
        int code;
        const char *name;
    } names[] = {
        {BR_ERR_OK, "OK"},
        {BR_ERR_BAD_PARAM, "BAD_PARAM"},
        {BR_ERR_BAD_STATE, "BAD_STATE"},
        {BR_ERR_UNSUPPORTED_VERSION, "UNSUPPORTED_VERSION"},
        {BR_ERR_BAD_VERSION, "BAD_VERSION"},
        {BR_ERR_BAD_LENGTH, "BAD_LENGTH"},
        {BR_ERR_TOO_LARGE, "TOO_LARGE"},
        {BR_ERR_BAD_MAC, "BAD_MAC"},
        {BR_ERR_NO_RANDOM, "NO_RANDOM"},
        {BR_ERR_UNKNOWN_TYPE, "UNKNOWN_TYPE"},
        {BR_ERR_UNEXPECTED, "UNEXPECTED"},
        {BR_ERR_BAD_CCS, "BAD_CCS"},
        {BR_ERR_BAD_ALERT, "BAD_ALERT"},
        {BR_ERR_BAD_HANDSHAKE, "BAD_HANDSHAKE"},
        {BR_ERR_OVERSIZED_ID, "OVERSIZED_ID"},
        {BR_ERR_BAD_CIPHER_SUITE, "BAD_CIPHER_SUITE"},
        {BR_ERR_BAD_COMPRESSION, "BAD_COMPRESSION"},
        {BR_ERR_BAD_FRAGLEN, "BAD_FRAGLEN"},
        {BR_ERR_BAD_SECRENEG, "BAD_SECRENEG"},
        {BR_ERR_EXTRA_EXTENSION, "EXTRA_EXTENSION"},
        {BR_ERR_BAD_SNI, "BAD_SNI"},
        {BR_ERR_BAD_HELLO_DONE, "BAD_HELLO_DONE"},
        {BR_ERR_LIMIT_EXCEEDED, "LIMIT_EXCEEDED"},
        {BR_ERR_BAD_FINISHED, "BAD_FINISHED"},
        {BR_ERR_RESUME_MISMATCH, "RESUME_MISMATCH"},
        {BR_ERR_INVALID_ALGORITHM, "INVALID_ALGORITHM"},
        {BR_ERR_BAD_SIGNATURE, "BAD_SIGNATURE"},
        {BR_ERR_WRONG_KEY_USAGE, "WRONG_KEY_USAGE"},
        {BR_ERR_NO_CLIENT_AUTH, "NO_CLIENT_AUTH"},
        {BR_ERR_IO, "IO"},
        {BR_ERR_X509_INVALID_VALUE, "X509_INVALID_VALUE"},
        {BR_ERR_X509_TRUNCATED, "X509_TRUNCATED"},
        {BR_ERR_X509_EMPTY_CHAIN, "X509_EMPTY_CHAIN"},
        {BR_ERR_X509_INNER_TRUNC, "X509_INNER_TRUNC"},
        {BR_ERR_X509_BAD_TAG_CLASS, "X509_BAD_TAG_CLASS"},
        {BR_ERR_X509_BAD_TAG_VALUE, "X509_BAD_TAG_VALUE"},
        {BR_ERR_X509_INDEFINITE_LENGTH, "X509_INDEFINITE_LENGTH"},
        {BR_ERR_X509_EXTRA_ELEMENT, "X509_EXTRA_ELEMENT"},
        {BR_ERR_X509_UNEXPECTED, "X509_UNEXPECTED"},
        {BR_ERR_X509_NOT_CONSTRUCTED, "X509_NOT_CONSTRUCTED"},
        {BR_ERR_X509_NOT_PRIMITIVE, "X509_NOT_PRIMITIVE"},
        {BR_ERR_X509_PARTIAL_BYTE, "X509_PARTIAL_BYTE"},
        {BR_ERR_X509_BAD_BOOLEAN, "X509_BAD_BOOLEAN"},
        {BR_ERR_X509_OVERFLOW, "X509_OVERFLOW"},
        {BR_ERR_X509_BAD_DN, "X509_BAD_DN"},
        {BR_ERR_X509_BAD_TIME, "X509_BAD_TIME"},
        {BR_ERR_X509_UNSUPPORTED, "X509_UNSUPPORTED"},
        {BR_ERR_X509_LIMIT_EXCEEDED, "X509_LIMIT_EXCEEDED"},
        {BR_ERR_X509_WRONG_KEY_TYPE, "X509_WRONG_KEY_TYPE"},
        {BR_ERR_X509_BAD_SIGNATURE, "X509_BAD_SIGNATURE"},
        {BR_ERR_X509_TIME_UNKNOWN, "X509_TIME_UNKNOWN"},
        {BR_ERR_X509_EXPIRED, "X509_EXPIRED"},
        {BR_ERR_X509_DN_MISMATCH, "X509_DN_MISMATCH"},
        {BR_ERR_X509_BAD_SERVER_NAME, "X509_BAD_SERVER_NAME"},
        {BR_ERR_X509_CRITICAL_EXTENSION, "X509_CRITICAL_EXTENSION"},
        {BR_ERR_X509_NOT_CA, "X509_NOT_CA"},
        {BR_ERR_X509_FORBIDDEN_KEY_USAGE, "X509_FORBIDDEN_KEY_USAGE"},
        {BR_ERR_X509_WEAK_PUBLIC_KEY, "X509_WEAK_PUBLIC_KEY"},
        {BR_ERR_X509_NOT_TRUSTED, "X509_NOT_TRUSTED"},
    };

    if (e >= BR_ERR_SEND_FATAL_ALERT)
        return "SEND_FATAL_ALERT";
    if (e >= BR_ERR_RECV_FATAL_ALERT)
        return "RECV_FATAL_ALERT";
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].code == e)
            return names[i].name;
    return "unknown";
}

/* The socket and its deadline, as the BearSSL I/O callbacks see them. */
struct sts_conn {
    int fd;
    int64_t deadline; /* CLOCK_MONOTONIC milliseconds */
    int timed_out;    /* a wait reached the deadline */
    int sys_errno;    /* a read, write or poll failed with this */
    int eof;          /* the server closed the TCP connection */
};

/* All that one fetch holds (some 60 KB: kept off the worker's stack). */
struct sts_fetcher {
    br_ssl_client_context cc;
    br_x509_minimal_context xc;
    br_sslio_context ioc;
    unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
    struct sts_http http;
    struct sts_conn conn;
    char host[sizeof "mta-sts." + STS_DOMAIN_MAX];
    char peer[INET6_ADDRSTRLEN + 8];
    unsigned char rbuf[4096];
};

static int64_t sts__now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until the socket is ready for events or the deadline passes.
 * Returns 0 (ready, or an error the next call will report), -ETIMEDOUT or
 * a negative errno. */
static int sts__wait(struct sts_conn *c, short events)
{
    for (;;) {
        int64_t left = c->deadline - sts__now_ms();
        struct pollfd pfd = {.fd = c->fd, .events = events};
        int n;

        if (left <= 0)
            return -ETIMEDOUT;
        n = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -errno;
    }
}

/* br_sslio low-level read: -1 ends the TLS session; conn says why. */
static int sts__sock_read(void *ctx, unsigned char *buf, size_t len)
{
    struct sts_conn *c = ctx;

    for (;;) {
        ssize_t n = recv(c->fd, buf, len > INT_MAX ? INT_MAX : len, 0);
        int rc;

        if (n > 0)
            return (int)n;
        if (n == 0) {
            c->eof = 1;
            return -1;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            c->sys_errno = errno;
            return -1;
        }
        if ((rc = sts__wait(c, POLLIN)) < 0) {
            if (rc == -ETIMEDOUT)
                c->timed_out = 1;
            else
                c->sys_errno = -rc;
            return -1;
        }
    }
}

/* br_sslio low-level write; MSG_NOSIGNAL: a closed peer is an error, not
 * a SIGPIPE that kills the daemon. */
static int sts__sock_write(void *ctx, const unsigned char *buf, size_t len)
{
    struct sts_conn *c = ctx;

    for (;;) {
        ssize_t n = send(c->fd, buf, len > INT_MAX ? INT_MAX : len, MSG_NOSIGNAL);
        int rc;

        if (n >= 0)
            return (int)n;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            c->sys_errno = errno;
            return -1;
        }
        if ((rc = sts__wait(c, POLLOUT)) < 0) {
            if (rc == -ETIMEDOUT)
                c->timed_out = 1;
            else
                c->sys_errno = -rc;
            return -1;
        }
    }
}

/* Validates domain and writes "mta-sts." + domain, lower case, into host. */
static int sts__policy_host(const char *domain, char *host, size_t cap)
{
    size_t len = strnlen(domain, STS_DOMAIN_MAX + 1);

    if (len > 0 && domain[len - 1] == '.')
        len--;
    if (len > STS_DOMAIN_MAX - 1 || !sts__domain_valid(domain, len) ||
        len + sizeof "mta-sts." > cap)
        return -EINVAL;
    memcpy(host, "mta-sts.", 8);
    for (size_t i = 0; i < len; i++)
        host[8 + i] = sts__lower(domain[i]);
    host[8 + len] = '\0';
    return 0;
}

/* Says why the TLS session stopped, from what the callbacks and BearSSL
 * recorded. what is the step ("TLS handshake", "reading the response"). */
static int sts__tls_error(struct sts_fetcher *f, const char *what, unsigned timeout_ms, char *err,
                          size_t errlen)
{
    int e = br_ssl_engine_last_error(&f->cc.eng);
    char buf[128];

    if (f->conn.timed_out) {
        sts__err(err, errlen, "%s with %s (%s): timed out after %u ms", what, f->host, f->peer,
                 timeout_ms);
        return -ETIMEDOUT;
    }
    if (f->conn.sys_errno) {
        sts__err(err, errlen, "%s with %s (%s): %s", what, f->host, f->peer,
                 strerror_r(f->conn.sys_errno, buf, sizeof buf));
        return -f->conn.sys_errno;
    }
    if (e == BR_ERR_IO && f->conn.eof) {
        sts__err(err, errlen, "%s with %s (%s): connection closed by the server", what, f->host,
                 f->peer);
        return -EPROTO;
    }
    if (e >= BR_ERR_RECV_FATAL_ALERT)
        sts__err(err, errlen, "%s with %s (%s): BearSSL error %d (%s, alert %d)", what, f->host,
                 f->peer, e, sts__br_error_name(e), e & 0xff);
    else
        sts__err(err, errlen, "%s with %s (%s): BearSSL error %d (%s)", what, f->host, f->peer, e,
                 sts__br_error_name(e));
    return -EPROTO;
}

/* Connects f->conn.fd to addr before the deadline. */
static int sts__connect(struct sts_fetcher *f, const struct sockaddr *addr, socklen_t alen,
                        unsigned timeout_ms, char *err, size_t errlen)
{
    int rc, soerr = 0;
    socklen_t slen = sizeof soerr;
    char buf[128];

    f->conn.fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (f->conn.fd < 0) {
        rc = -errno;
        sts__err(err, errlen, "socket: %s", strerror_r(-rc, buf, sizeof buf));
        return rc;
    }
    if (connect(f->conn.fd, addr, alen) == 0)
        return 0;
    /* EINTR: the connection goes on in the background, as with EINPROGRESS. */
    if (errno != EINPROGRESS && errno != EINTR) {
        rc = -errno;
        goto fail;
    }
    if ((rc = sts__wait(&f->conn, POLLOUT)) < 0)
        goto fail;
    if (getsockopt(f->conn.fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) != 0) {
        rc = -errno;
        goto fail;
    }
    if (soerr != 0) {
        rc = -soerr;
        goto fail;
    }
    return 0;
fail:
    if (rc == -ETIMEDOUT)
        sts__err(err, errlen, "connect to %s (%s): timed out after %u ms", f->host, f->peer,
                 timeout_ms);
    else
        sts__err(err, errlen, "connect to %s (%s): %s", f->host, f->peer,
                 strerror_r(-rc, buf, sizeof buf));
    return rc;
}

int sts_fetch(const struct sockaddr *addr, const char *domain, const struct tls_trust *trust,
              unsigned timeout_ms, char **body, size_t *len, char *err, size_t errlen)
{
    struct sts_fetcher *f = NULL;
    const br_x509_trust_anchor *anchors;
    size_t nanchors = 0;
    socklen_t alen;
    char request[512];
    int rc, n;

    *body = NULL;
    *len = 0;
    sts__err(err, errlen, "%s", "");
    if (addr->sa_family == AF_INET) {
        alen = sizeof(struct sockaddr_in);
    } else if (addr->sa_family == AF_INET6) {
        alen = sizeof(struct sockaddr_in6);
    } else {
        sts__err(err, errlen, "address family %d is not IPv4 or IPv6", addr->sa_family);
        return -EAFNOSUPPORT;
    }
    anchors = trust ? tls_trust_anchors(trust, &nanchors) : NULL;
    if (!anchors || nanchors == 0) {
        sts__err(err, errlen, "no trust anchors");
        return -EINVAL;
    }
    f = calloc(1, sizeof *f);
    if (!f) {
        sts__err(err, errlen, "out of memory");
        return -ENOMEM;
    }
    f->conn.fd = -1;
    f->conn.deadline = sts__now_ms() + timeout_ms;
    sts_http_init(&f->http);
    if (sts__policy_host(domain, f->host, sizeof f->host) != 0) {
        sts__err(err, errlen, "bad policy domain \"%.64s\"", domain);
        rc = -EINVAL;
        goto fail;
    }
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;
        char ip[INET_ADDRSTRLEN];

        inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip);
        snprintf(f->peer, sizeof f->peer, "%s:%u", ip, ntohs(sin->sin_port));
    } else {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)addr;
        char ip[INET6_ADDRSTRLEN];

        inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof ip);
        snprintf(f->peer, sizeof f->peer, "[%s]:%u", ip, ntohs(sin6->sin6_port));
    }

    if ((rc = sts__connect(f, addr, alen, timeout_ms, err, errlen)) < 0)
        goto fail;

    br_ssl_client_init_full(&f->cc, &f->xc, anchors, nanchors);
    /* Only TLS 1.2 (BearSSL's newest): RFC 8996 retired 1.0 and 1.1. */
    br_ssl_engine_set_versions(&f->cc.eng, BR_TLS12, BR_TLS12);
    br_ssl_engine_set_buffer(&f->cc.eng, f->iobuf, sizeof f->iobuf, 1);
    /* The server name is both the SNI and the name the certificate must
     * carry (x509_minimal checks it; RFC 8461 3.3). */
    if (!br_ssl_client_reset(&f->cc, f->host, 0)) {
        rc = sts__tls_error(f, "TLS setup", timeout_ms, err, errlen);
        goto fail;
    }
    br_sslio_init(&f->ioc, &f->cc.eng, sts__sock_read, &f->conn, sts__sock_write, &f->conn);

    n = snprintf(request, sizeof request,
                 "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: %s\r\n"
                 "Connection: close\r\nUser-Agent: mtad\r\n\r\n",
                 f->host);
    /* The first write drives the handshake: a certificate problem shows here. */
    if (br_sslio_write_all(&f->ioc, request, (size_t)n) != 0 || br_sslio_flush(&f->ioc) != 0) {
        rc = sts__tls_error(f, "TLS handshake", timeout_ms, err, errlen);
        goto fail;
    }
    for (;;) {
        int got = br_sslio_read(&f->ioc, f->rbuf, sizeof f->rbuf);

        if (got < 0) {
            int e = br_ssl_engine_last_error(&f->cc.eng);

            /* A clean close (close_notify) leaves no error; a server that
             * just closes the TCP connection is only fine if the body's
             * end was known, which sts_http_end decides. */
            if (e == BR_ERR_OK ||
                (e == BR_ERR_IO && f->conn.eof && !f->conn.timed_out && !f->conn.sys_errno)) {
                rc = sts_http_end(&f->http, e == BR_ERR_OK, err, errlen);
                if (rc < 0)
                    goto fail;
                break;
            }
            rc = sts__tls_error(f, "reading the response", timeout_ms, err, errlen);
            goto fail;
        }
        rc = sts_http_feed(&f->http, (const char *)f->rbuf, (size_t)got, err, errlen);
        if (rc < 0)
            goto fail;
        if (rc == 1)
            break;
    }
    /* No close_notify of our own: the body is complete and the server
     * closes after it (Connection: close); waiting for it gains nothing. */
    rc = sts_http_take_body(&f->http, body, len);
fail:
    if (f->conn.fd >= 0)
        close(f->conn.fd);
    sts_http_free(&f->http);
    free(f);
    return rc;
}
