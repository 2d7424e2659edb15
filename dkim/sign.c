/*
 * sign.c - DKIM signing (RFC 6376 5, RFC 8463): picks the header fields
 * to sign, hashes them and the DKIM-Signature field being built, signs
 * with rsa-sha256 or ed25519-sha256, and writes the folded field.
 *
 * Input trusted: the request (domain and selector come from the
 * configuration, and are checked anyway since they end up in a header
 * field) and the key. The message is not: any bytes give a signature or
 * an error, never a read outside the buffer; only CRLF ends a line.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkim-int.h"

/*
 * The longest DKIM-Signature text dkim_sign_field takes. dkim_sign's own
 * is under 2 KB even with a 4096-bit key and many repeated fields; one
 * this long is a caller's mistake, not a field.
 */
#define SIG_FIELD_MAX 65536

#define LINE_MAX_OCTETS 78 /* RFC 5322 2.1.1: SHOULD NOT exceed, CRLF excluded */

/* One header field of the message: where it is, how long its name is
 * (without whitespace before the colon; SIZE_MAX when it has no colon and
 * so matches no name), and whether h= has already taken it. */
struct field {
    size_t off, len, name_len;
    int used;
};

struct signed_name {
    const char *name;
    int oversign;
};

/* dkim.h's list, in the order h= names them. */
static const struct signed_name signed_names[] = {
    {"From", 1},
    {"To", 1},
    {"Cc", 1},
    {"Subject", 1},
    {"Date", 1},
    {"Message-ID", 0},
    {"Reply-To", 1},
    {"In-Reply-To", 0},
    {"References", 0},
    {"MIME-Version", 0},
    {"Content-Type", 0},
    {"Content-Transfer-Encoding", 0},
    {"List-Id", 0},
    {"List-Unsubscribe", 0},
    {"List-Unsubscribe-Post", 0},
};

static int is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* ASCII, whatever the locale: header names are ASCII. */
static int same_name(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];

        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y - 'A' + 'a');
        if (x != y)
            return 0;
    }
    return 1;
}

static size_t next_line(const char *p, size_t start, size_t len)
{
    size_t end = dkim__line_end(p, start, len);

    return end < len ? end + 2 : len;
}

/*
 * Finds the next field of the header hdr[0..hlen) from the line start
 * *pos: a line not starting with SP/HTAB and the lines continuing it.
 * Lines starting with whitespace that continue no field (at the top of
 * the header) are skipped. Returns 0 at the end of the header.
 */
static int next_field(const char *hdr, size_t hlen, size_t *pos, struct field *f)
{
    size_t p = *pos;
    const char *colon;

    while (p < hlen && is_wsp(hdr[p]))
        p = next_line(hdr, p, hlen);
    if (p >= hlen) {
        *pos = hlen;
        return 0;
    }
    f->off = p;
    p = next_line(hdr, p, hlen);
    while (p < hlen && is_wsp(hdr[p]))
        p = next_line(hdr, p, hlen);
    f->len = p - f->off;
    f->used = 0;
    colon = memchr(hdr + f->off, ':', f->len);
    if (colon) {
        f->name_len = (size_t)(colon - (hdr + f->off));
        while (f->name_len > 0 && is_wsp(hdr[f->off + f->name_len - 1]))
            f->name_len--;
    } else {
        f->name_len = SIZE_MAX;
    }
    *pos = p;
    return 1;
}

/*
 * Lists the header fields of msg, top to bottom. *fields is malloc'ed
 * (NULL when there are none); the caller frees it. Returns 0 or -ENOMEM.
 */
static int index_fields(const char *msg, size_t len, struct field **fields, size_t *n)
{
    size_t body, hlen = dkim__split(msg, len, &body), pos = 0, count = 0, i = 0;
    struct field f, *all;

    while (next_field(msg, hlen, &pos, &f))
        count++;
    *fields = NULL;
    *n = 0;
    if (count == 0)
        return 0;
    all = calloc(count, sizeof *all);
    if (!all)
        return -ENOMEM;
    pos = 0;
    while (i < count && next_field(msg, hlen, &pos, &all[i]))
        i++;
    *fields = all;
    *n = i;
    return 0;
}

static int field_is(const char *msg, const struct field *f, const char *name, size_t name_len)
{
    return f->name_len == name_len && same_name(msg + f->off, name, name_len);
}

static void sha256_emit(void *ctx, const char *p, size_t n)
{
    br_sha256_update(ctx, p, n);
}

/* Signs the 32-byte hash with k; *b64 is malloc'ed. */
static int sign_hash(const struct dkim_key *k, const unsigned char hash[br_sha256_SIZE], char **b64)
{
    unsigned char sig[DKIM_RSA_MAX_BITS / 8];
    size_t siglen, enclen;
    char *out;

    if (k->alg == DKIM_ALG_RSA_SHA256) {
        siglen = (k->rsa.n_bitlen + 7) / 8;
        if (siglen == 0 || siglen > sizeof sig)
            return -EINVAL;
        if (!br_rsa_pkcs1_sign_get_default()(BR_HASH_OID_SHA256, hash, br_sha256_SIZE, &k->rsa,
                                             sig))
            return -EINVAL;
    } else if (k->alg == DKIM_ALG_ED25519_SHA256) {
        /* RFC 8463 3: PureEdDSA over the SHA-256 of the hash input, not
         * over the input itself. sodium_init is idempotent and picks the
         * implementations libsodium uses. */
        if (sodium_init() < 0)
            return -EIO;
        siglen = crypto_sign_BYTES;
        crypto_sign_detached(sig, NULL, hash, br_sha256_SIZE, k->ed25519_sk);
    } else {
        return -EINVAL;
    }
    enclen = sodium_base64_ENCODED_LEN(siglen, sodium_base64_VARIANT_ORIGINAL);
    out = malloc(enclen);
    if (!out)
        return -ENOMEM;
    sodium_bin2base64(out, enclen, sig, siglen, sodium_base64_VARIANT_ORIGINAL);
    *b64 = out;
    return 0;
}

int dkim_sign_field(const struct dkim_key *k, enum dkim_canon header_canon, const char *msg,
                    size_t len, const char *h, const char *sig_field, size_t sig_len, char **b64)
{
    struct field *fields = NULL;
    size_t nfields = 0;
    br_sha256_context sha;
    unsigned char hash[br_sha256_SIZE];
    const char *p;
    int rc;

    if (!k || (!msg && len > 0) || !h || !sig_field || !b64 || sig_len > SIG_FIELD_MAX ||
        (header_canon != DKIM_CANON_SIMPLE && header_canon != DKIM_CANON_RELAXED))
        return -EINVAL;
    rc = index_fields(msg, len, &fields, &nfields);
    if (rc < 0)
        goto fail;
    br_sha256_init(&sha);

    /* RFC 6376 5.4.2: each name takes the lowest field of that name not
     * taken yet; a name with none left hashes nothing. */
    p = h;
    for (;;) {
        const char *name, *end = strchr(p, ':');
        size_t name_len;

        if (!end)
            end = p + strlen(p);
        name = p;
        while (name < end && (is_wsp(*name) || *name == '\r' || *name == '\n'))
            name++;
        name_len = (size_t)(end - name);
        while (name_len > 0 && (is_wsp(name[name_len - 1]) || name[name_len - 1] == '\r' ||
                                name[name_len - 1] == '\n'))
            name_len--;
        if (name_len == 0) {
            rc = -EINVAL;
            goto fail;
        }
        for (size_t i = nfields; i-- > 0;) {
            if (!fields[i].used && field_is(msg, &fields[i], name, name_len)) {
                fields[i].used = 1;
                dkim__canon_header_emit(header_canon, msg + fields[i].off, fields[i].len, 1,
                                        sha256_emit, &sha);
                break;
            }
        }
        if (*end == '\0')
            break;
        p = end + 1;
    }

    /* RFC 6376 3.7: the signature's own field last, without its CRLF. */
    rc = dkim__canon_header_emit(header_canon, sig_field, sig_len, 0, sha256_emit, &sha);
    if (rc < 0)
        goto fail;
    br_sha256_out(&sha, hash);
    rc = sign_hash(k, hash, b64);
fail:
    free(fields);
    return rc;
}

/* ---- dkim_sign: building the field ---- */

/*
 * A growing NUL-terminated string that tracks the length of its current
 * line, for folding. A failed allocation is remembered and reported once
 * at the end, which keeps the building code straight.
 */
struct text {
    char *p;
    size_t len, cap, col;
    int oom;
};

static void text_put(struct text *t, const char *s, size_t n)
{
    if (t->oom)
        return;
    if (n >= t->cap - t->len || !t->p) {
        size_t cap = t->cap ? t->cap : 512;
        char *np;

        while (n >= cap - t->len)
            cap *= 2;
        np = realloc(t->p, cap);
        if (!np) {
            t->oom = 1;
            return;
        }
        t->p = np;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
    t->col += n;
}

static void text_fold(struct text *t)
{
    text_put(t, "\r\n\t", 3);
    t->col = 1;
}

/*
 * Puts word after sep (" " between tags, "" inside h=) on the current
 * line when the line stays within LINE_MAX_OCTETS, else on a new one. A
 * word longer than a whole line (a domain of over 74 octets, where FWS is
 * not allowed) still goes whole onto a line of its own.
 */
static void text_word(struct text *t, const char *sep, const char *word, size_t n)
{
    size_t seplen = strlen(sep);

    if (t->col + seplen + n <= LINE_MAX_OCTETS) {
        text_put(t, sep, seplen);
    } else {
        text_fold(t);
    }
    text_put(t, word, n);
}

/* Puts base64 b, folding inside it where a line is full: FWS may stand
 * anywhere in the base64 of bh= and b= (RFC 6376 3.5). */
static void text_base64(struct text *t, const char *b, size_t n)
{
    while (n > 0) {
        size_t room, take;

        if (t->col >= LINE_MAX_OCTETS)
            text_fold(t);
        room = LINE_MAX_OCTETS - t->col;
        take = n < room ? n : room;
        text_put(t, b, take);
        b += take;
        n -= take;
    }
}

static void text_tag(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_tag(struct text *t, const char *fmt, ...)
{
    char word[DKIM_DOMAIN_MAX + 16];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(word, sizeof word, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof word) {
        t->oom = 1; /* cannot happen: the values are bounded before */
        return;
    }
    text_word(t, " ", word, (size_t)n);
}

/*
 * A DNS name of LDH labels (RFC 5321 sub-domain: letters, digits and
 * hyphens, not starting or ending with a hyphen, 1 to 63 octets) joined
 * by dots, shorter than max with its NUL.
 */
static int valid_name(const char *s, size_t max)
{
    size_t len, label = 0;

    if (!s)
        return 0;
    len = strnlen(s, max);
    if (len == 0 || len >= max)
        return 0;
    for (size_t i = 0; i <= len; i++) {
        char c = s[i];

        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63 || s[i - 1] == '-')
                return 0;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   (c == '-' && label > 0)) {
            label++;
        } else {
            return 0;
        }
    }
    return 1;
}

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen > 0)
        snprintf(err, errlen, "%s", msg);
}

static const char *canon_name(enum dkim_canon c)
{
    return c == DKIM_CANON_RELAXED ? "relaxed" : "simple";
}

int dkim_sign(const struct dkim_sign_request *rq, const char *msg, size_t len, char **out,
              char *err, size_t errlen)
{
    struct text t = {0}, hl = {0};
    struct field *fields = NULL;
    size_t nfields = 0, names = 0;
    char bh[DKIM_BODY_HASH_B64], *b64 = NULL;
    const char *alg;
    int rc = -EINVAL;

    if (!rq || !rq->key || !out || (!msg && len > 0)) {
        set_err(err, errlen, "no request, key, message or output");
        goto fail;
    }
    if (!valid_name(rq->domain, DKIM_DOMAIN_MAX)) {
        set_err(err, errlen, "bad signing domain: letters, digits, hyphens and dots expected");
        goto fail;
    }
    if (!valid_name(rq->selector, DKIM_SELECTOR_MAX)) {
        set_err(err, errlen, "bad selector: letters, digits, hyphens and dots expected");
        goto fail;
    }
    if ((rq->header_canon != DKIM_CANON_SIMPLE && rq->header_canon != DKIM_CANON_RELAXED) ||
        (rq->body_canon != DKIM_CANON_SIMPLE && rq->body_canon != DKIM_CANON_RELAXED)) {
        set_err(err, errlen, "unknown canonicalization");
        goto fail;
    }
    if (rq->timestamp < 0) {
        set_err(err, errlen, "negative timestamp");
        goto fail;
    }
    switch (rq->key->alg) {
    case DKIM_ALG_RSA_SHA256:
        alg = "rsa-sha256";
        break;
    case DKIM_ALG_ED25519_SHA256:
        alg = "ed25519-sha256";
        break;
    default:
        set_err(err, errlen, "unknown key algorithm");
        goto fail;
    }

    rc = index_fields(msg, len, &fields, &nfields);
    if (rc < 0)
        goto fail;

    /* h=: each listed name once per field present; an over-signed one
     * once more, so that adding a field of that name breaks the
     * signature (RFC 6376 8.15). */
    for (size_t i = 0; i < sizeof signed_names / sizeof signed_names[0]; i++) {
        const char *name = signed_names[i].name;
        size_t name_len = strlen(name), count = 0;

        for (size_t j = 0; j < nfields; j++)
            count += field_is(msg, &fields[j], name, name_len);
        count += (size_t)signed_names[i].oversign;
        for (; count > 0; count--) {
            if (names++ > 0)
                text_put(&hl, ":", 1);
            text_put(&hl, name, name_len);
        }
    }

    dkim_body_hash(rq->body_canon, msg, len, bh);

    text_put(&t, "DKIM-Signature:", 15);
    text_tag(&t, "v=1;");
    text_tag(&t, "a=%s;", alg);
    text_tag(&t, "c=%s/%s;", canon_name(rq->header_canon), canon_name(rq->body_canon));
    text_tag(&t, "d=%s;", rq->domain);
    text_tag(&t, "s=%s;", rq->selector);
    text_tag(&t, "t=%" PRIdMAX ";", (intmax_t)rq->timestamp);

    /* h=: folded only after a colon, where FWS is allowed; each word
     * carries the ':' or ';' after it so that it never starts a line. */
    {
        const char *p = hl.p ? hl.p : "";
        int first = 1;

        while (*p) {
            const char *colon = strchr(p, ':');
            size_t n = colon ? (size_t)(colon - p) + 1 : strlen(p);
            char word[64];

            if (first) {
                snprintf(word, sizeof word, "h=%.*s%s", (int)n, p, colon ? "" : ";");
                text_word(&t, " ", word, strlen(word));
            } else {
                snprintf(word, sizeof word, "%.*s%s", (int)n, p, colon ? "" : ";");
                text_word(&t, "", word, strlen(word));
            }
            first = 0;
            p += n;
        }
    }

    /* bh= is 48 octets with its tag and ';': it always fits a fresh
     * line, so it is never folded inside. */
    text_tag(&t, "bh=%s;", bh);
    text_word(&t, " ", "b=", 2);
    if (t.oom || hl.oom) {
        rc = -ENOMEM;
        goto fail;
    }

    /* The signature covers the field as it will appear, folds and all,
     * up to the empty b=. */
    rc = dkim_sign_field(rq->key, rq->header_canon, msg, len, hl.p ? hl.p : "", t.p, t.len, &b64);
    if (rc < 0) {
        if (rc != -ENOMEM)
            set_err(err, errlen, "the key cannot sign");
        goto fail;
    }
    text_base64(&t, b64, strlen(b64));
    text_put(&t, "\r\n", 2);
    if (t.oom) {
        rc = -ENOMEM;
        goto fail;
    }
    *out = t.p;
    t.p = NULL;
    rc = 0;
fail:
    if (rc == -ENOMEM)
        set_err(err, errlen, "out of memory");
    free(b64);
    free(fields);
    free(hl.p);
    free(t.p);
    return rc;
}
