/*
 * test_sign.c - DKIM signing. RFC 8463 Appendix A's two signatures
 * (ed25519-sha256 and rsa-sha256 over the same message) come out byte
 * for byte: that is the proof the canonicalization, the field picking and
 * both algorithms are right. Then dkim_sign itself: the h= it chooses
 * (repeated, absent and over-signed names), the tags and their order, the
 * folding, signatures that verify with the published public keys,
 * refused domains and selectors, and two signatures on one message that
 * do not disturb each other.
 */
#include "dkim.h"
#include "check.h"

#include <bearssl.h>
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>

/* ---- RFC 8463 Appendix A ---- */

/* A.1: the Ed25519 secret key (the seed), base64. */
static const char rfc_ed25519_seed[] = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
/* A.2: the public key of brisbane._domainkey.football.example.com. */
static const char rfc_ed25519_pub[] = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

/* A.1: the RSA secret key. */
static const char rfc_rsa_pem[] =
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIICXQIBAAKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQi\n"
    "Y/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqM\n"
    "KrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB\n"
    "AoGAH0cxOhFZDgzXWhDhnAJDw5s4roOXN4OhjiXa8W7Y3rhX3FJqmJSPuC8N9vQm\n"
    "6SVbaLAE4SG5mLMueHlh4KXffEpuLEiNp9Ss3O4YfLiQpbRqE7Tm5SxKjvvQoZZe\n"
    "zHorimOaChRL2it47iuWxzxSiRMv4c+j70GiWdxXnxe4UoECQQDzJB/0U58W7RZy\n"
    "6enGVj2kWF732CoWFZWzi1FicudrBFoy63QwcowpoCazKtvZGMNlPWnC7x/6o8Gc\n"
    "uSe0ga2xAkEA8C7PipPm1/1fTRQvj1o/dDmZp243044ZNyxjg+/OPN0oWCbXIGxy\n"
    "WvmZbXriOWoSALJTjExEgraHEgnXssuk7QJBALl5ICsYMu6hMxO73gnfNayNgPxd\n"
    "WFV6Z7ULnKyV7HSVYF0hgYOHjeYe9gaMtiJYoo0zGN+L3AAtNP9huqkWlzECQE1a\n"
    "licIeVlo1e+qJ6Mgqr0Q7Aa7falZ448ccbSFYEPD6oFxiOl9Y9se9iYHZKKfIcst\n"
    "o7DUw1/hz2Ck4N5JrgUCQQCyKveNvjzkkd8HjYs0SwM0fPjK16//5qDZ2UiDGnOe\n"
    "uEzxBDAr518Z8VFbR41in3W4Y3yCDgQlLlcETrS+zYcL\n"
    "-----END RSA PRIVATE KEY-----\n";
/* A.2: the public key of test._domainkey.football.example.com (SPKI). */
static const char rfc_rsa_pub[] =
    "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/"
    "J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/"
    "8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+"
    "2kryOTIKT+l/K4w3QIDAQAB";

/* A.3: the signed message, both fields as published. */
#define RFC_ED25519_FIELD                                                                          \
    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"                                \
    " d=football.example.com; i=@football.example.com;\r\n"                                        \
    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"                                      \
    " subject : date : message-id : from : subject : date;\r\n"                                    \
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"                                        \
    " b="
#define RFC_ED25519_B                                                                              \
    "/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11BusFa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw=="
#define RFC_ED25519_B_FOLDED                                                                       \
    "/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"                                 \
    " Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n"
#define RFC_RSA_FIELD                                                                              \
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"                                    \
    " d=football.example.com; i=@football.example.com;\r\n"                                        \
    " q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"                                \
    " date : message-id : from : subject : date;\r\n"                                              \
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"                                        \
    " b="
#define RFC_RSA_B                                                                                  \
    "F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3DhCVlUrSjV4BwcVcOF6+"                 \
    "FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2JzdA+L10TeYt9BgDfQNZtKdN1WO//"                            \
    "KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8="
#define RFC_RSA_B_FOLDED                                                                           \
    "F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n"                                 \
    " DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n"                              \
    " dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n"
#define RFC_H "from : to : subject : date : message-id : from : subject : date"
#define RFC_MESSAGE                                                                                \
    "From: Joe SixPack <joe@football.example.com>\r\n"                                             \
    "To: Suzie Q <suzie@shopping.example.net>\r\n"                                                 \
    "Subject: Is dinner ready?\r\n"                                                                \
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"                                              \
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"                             \
    "\r\n"                                                                                         \
    "Hi.\r\n"                                                                                      \
    "\r\n"                                                                                         \
    "We lost the game.  Are you hungry yet?\r\n"                                                   \
    "\r\n"                                                                                         \
    "Joe.\r\n"

static const char rfc_signed[] =
    RFC_ED25519_FIELD RFC_ED25519_B_FOLDED RFC_RSA_FIELD RFC_RSA_B_FOLDED RFC_MESSAGE;

static struct dkim_key *ed_key, *rsa_key;

/* The PKCS#8 PEM of the RFC's Ed25519 seed: RFC 8410's fixed DER prefix,
 * then the 32 octets. */
static struct dkim_key *load_rfc_ed25519(void)
{
    static const unsigned char prefix[16] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                             0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20};
    unsigned char der[48];
    size_t seedlen = 0;
    char b64[sodium_base64_ENCODED_LEN(48, sodium_base64_VARIANT_ORIGINAL)], pem[256], err[256];
    struct dkim_key *k = NULL;

    memcpy(der, prefix, sizeof prefix);
    CHECK_INT(sodium_base642bin(der + 16, 32, rfc_ed25519_seed, strlen(rfc_ed25519_seed), NULL,
                                &seedlen, NULL, sodium_base64_VARIANT_ORIGINAL),
              0);
    CHECK_INT(seedlen, 32);
    sodium_bin2base64(b64, sizeof b64, der, sizeof der, sodium_base64_VARIANT_ORIGINAL);
    /* What `openssl genpkey` writes for this seed (OpenDKIM's tests hold
     * the same text). */
    CHECK_STR(b64, "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g");
    snprintf(pem, sizeof pem, "-----BEGIN PRIVATE KEY-----\n%s\n-----END PRIVATE KEY-----\n", b64);
    CHECK_INT(dkim_key_parse(pem, strlen(pem), &k, err, sizeof err), 0);
    if (!k)
        fprintf(stderr, "Ed25519 key: %s\n", err);
    return k;
}

static int b64_decode(const char *b64, unsigned char *out, size_t cap, size_t *len)
{
    /* " \t\r\n" ignored: a b= value copied out of a folded field. */
    return sodium_base642bin(out, cap, b64, strlen(b64), " \t\r\n", len, NULL,
                             sodium_base64_VARIANT_ORIGINAL);
}

/*
 * Verifies b64, an Ed25519 signature with the RFC's public key, over the
 * header hash input: hashed (the canonical signed fields, written out by
 * the test) followed by sig_field canonicalized with c, without its CRLF.
 */
static int ed25519_verifies(const char *hashed, const char *sig_field, enum dkim_canon c,
                            const char *b64)
{
    unsigned char pub[32], sig[64], digest[32];
    size_t n = 0, flen = strlen(sig_field);
    char *canon = malloc(flen + 8);
    ssize_t clen;
    br_sha256_context sha;
    int ok = 0;

    if (!canon || b64_decode(rfc_ed25519_pub, pub, sizeof pub, &n) != 0 || n != 32 ||
        b64_decode(b64, sig, sizeof sig, &n) != 0 || n != 64)
        goto done;
    clen = dkim_canon_header(c, sig_field, flen, canon, flen + 8);
    if (clen < 0)
        goto done;
    if (c == DKIM_CANON_RELAXED)
        clen -= 2;
    br_sha256_init(&sha);
    br_sha256_update(&sha, hashed, strlen(hashed));
    br_sha256_update(&sha, canon, (size_t)clen);
    br_sha256_out(&sha, digest);
    ok = crypto_sign_verify_detached(sig, digest, sizeof digest, pub) == 0;
done:
    free(canon);
    return ok;
}

/* The same for the RFC's RSA key (PKCS#1 v1.5, SHA-256). The modulus
 * sits at a fixed place in the published 1024-bit SubjectPublicKeyInfo. */
static int rsa_verifies(const char *hashed, const char *sig_field, enum dkim_canon c,
                        const char *b64)
{
    unsigned char spki[200], sig[128], digest[32], recovered[32];
    size_t n = 0, flen = strlen(sig_field);
    char *canon = malloc(flen + 8);
    ssize_t clen;
    br_sha256_context sha;
    br_rsa_public_key pk;
    int ok = 0;

    if (!canon || b64_decode(rfc_rsa_pub, spki, sizeof spki, &n) != 0 || n != 162 ||
        memcmp(spki + 25, "\x02\x81\x81\x00", 4) != 0 || memcmp(spki + 157, "\x02\x03", 2) != 0 ||
        b64_decode(b64, sig, sizeof sig, &n) != 0 || n != 128)
        goto done;
    pk.n = spki + 29;
    pk.nlen = 128;
    pk.e = spki + 159;
    pk.elen = 3;
    clen = dkim_canon_header(c, sig_field, flen, canon, flen + 8);
    if (clen < 0)
        goto done;
    if (c == DKIM_CANON_RELAXED)
        clen -= 2;
    br_sha256_init(&sha);
    br_sha256_update(&sha, hashed, strlen(hashed));
    br_sha256_update(&sha, canon, (size_t)clen);
    br_sha256_out(&sha, digest);
    ok = br_rsa_pkcs1_vrfy_get_default()(sig, sizeof sig, BR_HASH_OID_SHA256, sizeof recovered, &pk,
                                         recovered) == 1 &&
         memcmp(recovered, digest, sizeof digest) == 0;
done:
    free(canon);
    return ok;
}

static void test_rfc8463(void)
{
    static const char ed_field[] = RFC_ED25519_FIELD, rsa_field[] = RFC_RSA_FIELD;
    static const char hashed[] = "from:Joe SixPack <joe@football.example.com>\r\n"
                                 "to:Suzie Q <suzie@shopping.example.net>\r\n"
                                 "subject:Is dinner ready?\r\n"
                                 "date:Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
                                 "message-id:<20030712040037.46341.5F8J@football.example.com>\r\n";
    char *b64 = NULL;

    /* The verifiers of this test, on the published signatures: they are
     * what the later checks of dkim_sign's output trust. */
    CHECK(ed25519_verifies(hashed, ed_field, DKIM_CANON_RELAXED, RFC_ED25519_B));
    CHECK(!ed25519_verifies(hashed, rsa_field, DKIM_CANON_RELAXED, RFC_ED25519_B));
    CHECK(rsa_verifies(hashed, rsa_field, DKIM_CANON_RELAXED, RFC_RSA_B));
    CHECK(!rsa_verifies(hashed, ed_field, DKIM_CANON_RELAXED, RFC_RSA_B));

    if (ed_key) {
        CHECK_INT(dkim_sign_field(ed_key, DKIM_CANON_RELAXED, rfc_signed, sizeof rfc_signed - 1,
                                  RFC_H, ed_field, sizeof ed_field - 1, &b64),
                  0);
        CHECK_STR(b64, RFC_ED25519_B);
        free(b64);
        b64 = NULL;
        /* The unsigned message gives the same: DKIM-Signature is not in h=. */
        CHECK_INT(dkim_sign_field(ed_key, DKIM_CANON_RELAXED, RFC_MESSAGE, sizeof RFC_MESSAGE - 1,
                                  RFC_H, ed_field, sizeof ed_field - 1, &b64),
                  0);
        CHECK_STR(b64, RFC_ED25519_B);
        free(b64);
        b64 = NULL;
    }
    if (rsa_key) {
        CHECK_INT(dkim_sign_field(rsa_key, DKIM_CANON_RELAXED, rfc_signed, sizeof rfc_signed - 1,
                                  RFC_H, rsa_field, sizeof rsa_field - 1, &b64),
                  0);
        CHECK_STR(b64, RFC_RSA_B);
        free(b64);
        b64 = NULL;
    }
}

/* ---- dkim_sign ---- */

/* The field with its folds ("\r\n" and the whitespace after) removed. */
static char *unfold(const char *f)
{
    char *u = malloc(strlen(f) + 1), *w = u;

    if (!u)
        return NULL;
    while (*f) {
        if (f[0] == '\r' && f[1] == '\n' && (f[2] == ' ' || f[2] == '\t'))
            f += 3;
        else
            *w++ = *f++;
    }
    *w = '\0';
    return u;
}

/* Copies tag's value (up to ';' or the final CRLF) out of the unfolded field u,
 * whose tag-list starts after the first ':'. */
static void tag_value(const char *u, const char *tag, char *out, size_t cap)
{
    const char *p = strchr(u, ':');
    size_t tlen = strlen(tag);

    out[0] = '\0';
    while (p) {
        size_t n;

        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        n = strcspn(p, ";\r\n");
        if (strncmp(p, tag, tlen) == 0 && p[tlen] == '=') {
            snprintf(out, cap, "%.*s", (int)(n - tlen - 1), p + tlen + 1);
            return;
        }
        p = p[n] == ';' ? p + n : NULL;
    }
}

/* Checks the shape every field dkim_sign writes must have; returns the
 * length of its text up to and including "b=", or 0. */
static size_t check_shape(const char *f)
{
    const char *line = f, *b;
    int lines = 0;

    CHECK(strncmp(f, "DKIM-Signature: v=1; a=", 23) == 0);
    CHECK(strlen(f) >= 2 && strcmp(f + strlen(f) - 2, "\r\n") == 0);
    while (*line) {
        const char *end = strstr(line, "\r\n");

        CHECK(end != NULL);
        if (!end)
            break;
        if ((size_t)(end - line) > 78) {
            fprintf(stderr, "line of %zu octets: %.*s\n", (size_t)(end - line), (int)(end - line),
                    line);
            check_failures++;
        }
        CHECK(end > line);
        if (lines++ > 0)
            CHECK(line[0] == '\t');
        /* Only ";" (between tags), ":" (in h=) or base64 (in b=) before
         * a fold, never the space it replaces. */
        if (end[2] != '\0')
            CHECK(end[-1] != ' ' && end[-1] != '\t');
        CHECK(memchr(line, '\n', (size_t)(end - line)) == NULL);
        line = end + 2;
    }
    CHECK(lines >= 2);
    /* "b=" starts after a space or a fold; "bh=" is not "b=". */
    b = strstr(f, " b=");
    if (!b)
        b = strstr(f, "\tb=");
    CHECK(b != NULL);
    return b ? (size_t)(b + 3 - f) : 0;
}

/* Signs msg with k and checks everything about the field that does not
 * depend on the message; returns it (the caller frees). */
static char *sign_checked(const struct dkim_key *k, enum dkim_canon hc, enum dkim_canon bc,
                          const char *msg, const char *want_h)
{
    struct dkim_sign_request rq = {.domain = "example.com",
                                   .selector = "sel-2024.a",
                                   .key = k,
                                   .header_canon = hc,
                                   .body_canon = bc,
                                   .timestamp = 1700000000};
    char *f = NULL, *u, *b64 = NULL, err[256] = "", v[2048], want[64];
    size_t prefix;

    CHECK_INT(dkim_sign(&rq, msg, strlen(msg), &f, err, sizeof err), 0);
    if (!f) {
        fprintf(stderr, "dkim_sign: %s\n", err);
        return NULL;
    }
    prefix = check_shape(f);
    u = unfold(f);
    CHECK(u != NULL);
    if (!u)
        return f;

    /* Tags in the documented order, nothing else. */
    {
        static const char *const order[] = {"v", "a", "c", "d", "s", "t", "h", "bh", "b"};
        const char *p = u + strlen("DKIM-Signature:");

        for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
            size_t n = strlen(order[i]);

            while (*p == ' ')
                p++;
            if (strncmp(p, order[i], n) != 0 || p[n] != '=') {
                fprintf(stderr, "tag %zu: want %s=, got \"%.20s\"\n", i, order[i], p);
                check_failures++;
                break;
            }
            p = strchr(p, ';');
            if (!p) {
                CHECK_INT(i, 8); /* only b= ends the field */
                break;
            }
            p++;
        }
    }
    tag_value(u, "v", v, sizeof v);
    CHECK_STR(v, "1");
    tag_value(u, "a", v, sizeof v);
    CHECK_STR(v, dkim_key_alg(k) == DKIM_ALG_RSA_SHA256 ? "rsa-sha256" : "ed25519-sha256");
    tag_value(u, "c", v, sizeof v);
    snprintf(want, sizeof want, "%s/%s", hc == DKIM_CANON_RELAXED ? "relaxed" : "simple",
             bc == DKIM_CANON_RELAXED ? "relaxed" : "simple");
    CHECK_STR(v, want);
    tag_value(u, "d", v, sizeof v);
    CHECK_STR(v, "example.com");
    tag_value(u, "s", v, sizeof v);
    CHECK_STR(v, "sel-2024.a");
    tag_value(u, "t", v, sizeof v);
    CHECK_STR(v, "1700000000");
    tag_value(u, "h", v, sizeof v);
    CHECK_STR(v, want_h);
    tag_value(u, "bh", v, sizeof v);
    {
        char bh[DKIM_BODY_HASH_B64];

        dkim_body_hash(bc, msg, strlen(msg), bh);
        CHECK_STR(v, bh);
    }

    /* b= is what dkim_sign_field gives for the field as written. */
    tag_value(u, "b", v, sizeof v);
    if (prefix > 0) {
        CHECK_INT(dkim_sign_field(k, hc, msg, strlen(msg), want_h, f, prefix, &b64), 0);
        CHECK_STR(v, b64);
        free(b64);
    }
    free(u);
    return f;
}

/* The field's text up to and including "b=", as dkim_sign signed it. */
static char *field_prefix(const char *f)
{
    size_t n = check_shape(f);
    char *p = malloc(n + 1);

    if (p)
        snprintf(p, n + 1, "%s", f);
    return p;
}

static void test_h_and_oversigning(void)
{
    /* Repeated To and References, a field in odd case, Cc, Reply-To and
     * In-Reply-To absent, a field not in the list. */
    static const char msg[] = "Received: from a by b; Tue, 1 Oct 2024 10:00:00 +0000\r\n"
                              "From: Alice <alice@example.com>\r\n"
                              "To: bob@example.net\r\n"
                              "SUBJECT: Hello\r\n"
                              "to: carol@example.net,\r\n"
                              "  dave@example.net\r\n"
                              "Date: Tue, 1 Oct 2024 10:00:00 +0000\r\n"
                              "Message-ID: <1@example.com>\r\n"
                              "References: <a@example.com>\r\n"
                              "References : <b@example.com>\r\n"
                              "X-Mailer: test\r\n"
                              "MIME-Version: 1.0\r\n"
                              "Content-Type: text/plain; charset=utf-8\r\n"
                              "\r\n"
                              "Body.\r\n";
    static const char want_h[] =
        "From:From:To:To:To:Cc:Subject:Subject:Date:Date:Message-ID:Reply-To:References:"
        "References:MIME-Version:Content-Type";
    char *f;

    for (int hc = 0; hc <= 1; hc++)
        for (int bc = 0; bc <= 1; bc++) {
            f = ed_key ? sign_checked(ed_key, (enum dkim_canon)hc, (enum dkim_canon)bc, msg, want_h)
                       : NULL;
            free(f);
        }
    if (rsa_key) {
        f = sign_checked(rsa_key, DKIM_CANON_RELAXED, DKIM_CANON_SIMPLE, msg, want_h);
        free(f);
    }

    /* Nothing but From: the over-signed names once each, no others. */
    if (ed_key) {
        f = sign_checked(ed_key, DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
                         "From: a@example.com\r\n\r\n", "From:From:To:Cc:Subject:Date:Reply-To");
        free(f);
        /* No header at all. */
        f = sign_checked(ed_key, DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, "\r\nbody\r\n",
                         "From:To:Cc:Subject:Date:Reply-To");
        free(f);
    }
}

static void test_folding(void)
{
    /* Forty To fields: an h= of many lines, folded only after a colon;
     * every list name present once or more. */
    char msg[8192], want_h[4096];
    size_t n = 0, hn = 0;
    static const char *const once[] = {"Message-ID: <x@example.com>",
                                       "In-Reply-To: <y@example.com>",
                                       "References: <y@example.com>",
                                       "MIME-Version: 1.0",
                                       "Content-Type: text/plain",
                                       "Content-Transfer-Encoding: 8bit",
                                       "List-Id: <list.example.com>",
                                       "List-Unsubscribe: <mailto:u@example.com>",
                                       "List-Unsubscribe-Post: List-Unsubscribe=One-Click"};
    char *f;

    n += (size_t)snprintf(msg + n, sizeof msg - n,
                          "From: a@example.com\r\nCc: c@example.com\r\nSubject: s\r\n"
                          "Date: Tue, 1 Oct 2024 10:00:00 +0000\r\nReply-To: r@example.com\r\n");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(msg + n, sizeof msg - n, "To: t%d@example.com\r\n", i);
    for (size_t i = 0; i < sizeof once / sizeof once[0]; i++)
        n += (size_t)snprintf(msg + n, sizeof msg - n, "%s\r\n", once[i]);
    n += (size_t)snprintf(msg + n, sizeof msg - n, "\r\nbody\r\n");
    CHECK(n < sizeof msg - 1);

    hn += (size_t)snprintf(want_h + hn, sizeof want_h - hn, "From:From");
    for (int i = 0; i < 41; i++)
        hn += (size_t)snprintf(want_h + hn, sizeof want_h - hn, ":To");
    hn += (size_t)snprintf(want_h + hn, sizeof want_h - hn,
                           ":Cc:Cc:Subject:Subject:Date:Date:Message-ID:Reply-To:Reply-To:"
                           "In-Reply-To:References:MIME-Version:Content-Type:"
                           "Content-Transfer-Encoding:List-Id:List-Unsubscribe:"
                           "List-Unsubscribe-Post");
    CHECK(hn < sizeof want_h - 1);

    if (ed_key) {
        f = sign_checked(ed_key, DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, msg, want_h);
        /* Folds inside h= come only after a colon. */
        if (f) {
            const char *h = strstr(f, " h="), *bh = strstr(f, "bh=");
            int folds = 0;

            for (const char *p = h; p && bh && p < bh; p++)
                if (p[0] == '\r') {
                    CHECK(p[-1] == ':' || p[-1] == ';');
                    folds++;
                }
            CHECK(folds >= 3);
        }
        free(f);
    }
    if (rsa_key) {
        f = sign_checked(rsa_key, DKIM_CANON_SIMPLE, DKIM_CANON_SIMPLE, msg, want_h);
        free(f);
    }
}

/* Signatures dkim_sign writes verify with the published keys, over the
 * fields picked bottom up, written out here by hand. */
static void test_verifies(void)
{
    static const char msg[] = "From: Alice <alice@example.com>\r\n"
                              "Subject:  first \r\n"
                              "X-Other: x\r\n"
                              "Subject: second\t\r\n"
                              " folded\r\n"
                              "\r\n"
                              "Hello.\r\n";
    static const char h[] = "From:From:To:Cc:Subject:Subject:Subject:Date:Reply-To";
    static const char relaxed[] = "from:Alice <alice@example.com>\r\n"
                                  "subject:second folded\r\n"
                                  "subject:first\r\n";
    static const char simple[] = "From: Alice <alice@example.com>\r\n"
                                 "Subject: second\t\r\n"
                                 " folded\r\n"
                                 "Subject:  first \r\n";
    char v[1024], *f, *u, *prefix;

    for (int hc = 0; hc <= 1; hc++) {
        if (ed_key) {
            f = sign_checked(ed_key, (enum dkim_canon)hc, DKIM_CANON_RELAXED, msg, h);
            if (f && (u = unfold(f)) != NULL && (prefix = field_prefix(f)) != NULL) {
                tag_value(u, "b", v, sizeof v);
                CHECK(ed25519_verifies(hc ? relaxed : simple, prefix, (enum dkim_canon)hc, v));
                /* Not with the fields in the other order. */
                CHECK(!ed25519_verifies(hc ? simple : relaxed, prefix, (enum dkim_canon)hc, v));
                free(prefix);
                free(u);
            }
            free(f);
        }
        if (rsa_key) {
            f = sign_checked(rsa_key, (enum dkim_canon)hc, DKIM_CANON_SIMPLE, msg, h);
            if (f && (u = unfold(f)) != NULL && (prefix = field_prefix(f)) != NULL) {
                tag_value(u, "b", v, sizeof v);
                CHECK(rsa_verifies(hc ? relaxed : simple, prefix, (enum dkim_canon)hc, v));
                free(prefix);
                free(u);
            }
            free(f);
        }
    }
}

static void test_sign_field_picking(void)
{
    /* RFC 6376 5.4.2 through dkim_sign_field alone: bottom up, a name
     * with nothing left hashes nothing, names match in any case and with
     * whitespace around them in h. */
    static const char msg[] = "Subject: one\r\nsubject: two\r\nFrom: f\r\n\r\n";
    static const char field[] = "DKIM-Signature: a=ed25519-sha256; b=";
    char *b64 = NULL;

    if (!ed_key)
        return;
    CHECK_INT(dkim_sign_field(ed_key, DKIM_CANON_RELAXED, msg, sizeof msg - 1,
                              " SUBJECT :\tsubject: Subject :from: X-None", field, sizeof field - 1,
                              &b64),
              0);
    CHECK(b64 && ed25519_verifies("subject:two\r\nsubject:one\r\nfrom:f\r\n", field,
                                  DKIM_CANON_RELAXED, b64));
    free(b64);
    b64 = NULL;
    CHECK_INT(dkim_sign_field(ed_key, DKIM_CANON_SIMPLE, msg, sizeof msg - 1, "subject", field,
                              sizeof field - 1, &b64),
              0);
    CHECK(b64 && ed25519_verifies("subject: two\r\n", field, DKIM_CANON_SIMPLE, b64));
    free(b64);
    b64 = NULL;

    /* Errors. */
    CHECK_INT(dkim_sign_field(ed_key, DKIM_CANON_RELAXED, msg, sizeof msg - 1, "from::to", field,
                              sizeof field - 1, &b64),
              -EINVAL);
    CHECK_INT(dkim_sign_field(ed_key, DKIM_CANON_RELAXED, msg, sizeof msg - 1, "from",
                              "no colon b=", 11, &b64),
              -EINVAL);
    {
        size_t big = 70000;
        char *huge = malloc(big);

        CHECK(huge != NULL);
        if (huge) {
            memset(huge, 'a', big);
            memcpy(huge, "DKIM-Signature:", 15);
            CHECK_INT(dkim_sign_field(ed_key, DKIM_CANON_RELAXED, msg, sizeof msg - 1, "from", huge,
                                      big, &b64),
                      -EINVAL);
            free(huge);
        }
    }
    CHECK(b64 == NULL);
}

static void test_bad_request(void)
{
    static const char msg[] = "From: a@example.com\r\n\r\nx\r\n";
    char label64[65], long_domain[260], sel64[65], err[256];
    static const char *const bad_domains[] = {
        "",         "-a.example",  "a-.example",  "a..example", "example.",
        ".example", "a_b.example", "a b.example", "ex@mple",    "caf\xc3\xa9.example"};
    static const char *const good_selectors[] = {"s", "2024", "a-b.c-d", "S1.Example"};
    struct dkim_sign_request rq = {.domain = "example.com",
                                   .selector = "s",
                                   .key = ed_key,
                                   .header_canon = DKIM_CANON_RELAXED,
                                   .body_canon = DKIM_CANON_RELAXED,
                                   .timestamp = 0};
    char *f = NULL;

    if (!ed_key)
        return;
    memset(label64, 'a', 64);
    label64[64] = '\0';
    for (size_t i = 0; i < sizeof bad_domains / sizeof bad_domains[0]; i++) {
        rq.domain = bad_domains[i];
        err[0] = '\0';
        CHECK_INT(dkim_sign(&rq, msg, sizeof msg - 1, &f, err, sizeof err), -EINVAL);
        CHECK(err[0] != '\0');
        CHECK(f == NULL);
    }
    rq.domain = label64;
    CHECK_INT(dkim_sign(&rq, msg, sizeof msg - 1, &f, err, sizeof err), -EINVAL);
    rq.domain = NULL;
    CHECK_INT(dkim_sign(&rq, msg, sizeof msg - 1, &f, err, sizeof err), -EINVAL);

    /* 253 octets is the longest name; 254 is too long. */
    memset(long_domain, 0, sizeof long_domain);
    for (size_t i = 0; i < 253; i++)
        long_domain[i] = i % 50 == 49 ? '.' : 'd';
    rq.domain = long_domain;
    CHECK_INT(dkim_sign(&rq, msg, sizeof msg - 1, &f, err, sizeof err), 0);
    free(f);
    f = NULL;
    long_domain[253] = 'd';
    CHECK_INT(dkim_sign(&rq, msg, sizeof msg - 1, &f, err, sizeof err), -EINVAL);

    rq.domain = "example.com";
    memset(sel64, 's', 64);
    sel64[64] = '\0';
    rq.selector = sel64;
    err[0] = '\0';
    CHECK_INT(dkim_sign(&rq, msg, sizeof msg - 1, &f, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "selector") != NULL);
    sel64[63] = '\0';
    CHECK_INT(dkim_sign(&rq, msg, sizeof msg - 1, &f, err, sizeof err), 0);
    free(f);
    f = NULL;
    rq.selector = "a_b";
    CHECK_INT(dkim_sign(&rq, msg, sizeof msg - 1, &f, err, sizeof err), -EINVAL);
    rq.selector = NULL;
    CHECK_INT(dkim_sign(&rq, msg, sizeof msg - 1, &f, err, sizeof err), -EINVAL);
    for (size_t i = 0; i < sizeof good_selectors / sizeof good_selectors[0]; i++) {
        rq.selector = good_selectors[i];
        CHECK_INT(dkim_sign(&rq, msg, sizeof msg - 1, &f, err, sizeof err), 0);
        free(f);
        f = NULL;
    }

    rq.selector = "s";
    rq.header_canon = (enum dkim_canon)2;
    CHECK_INT(dkim_sign(&rq, msg, sizeof msg - 1, &f, err, sizeof err), -EINVAL);
    rq.header_canon = DKIM_CANON_RELAXED;
    rq.timestamp = -1;
    CHECK_INT(dkim_sign(&rq, msg, sizeof msg - 1, &f, err, sizeof err), -EINVAL);
    rq.timestamp = 0;
    rq.key = NULL;
    CHECK_INT(dkim_sign(&rq, msg, sizeof msg - 1, &f, err, sizeof err), -EINVAL);
    CHECK(f == NULL);
    /* err may be left out. */
    rq.key = ed_key;
    rq.domain = "";
    CHECK_INT(dkim_sign(&rq, msg, sizeof msg - 1, &f, NULL, 0), -EINVAL);
}

/* Two signatures on one message, as a domain rolling from RSA to Ed25519
 * sends: each is computed on the message alone, and both still hold
 * once the two fields are put on top of it. */
static void test_dual(void)
{
    static const char msg[] = "From: Alice <alice@example.com>\r\n"
                              "To: bob@example.net\r\n"
                              "Subject: dual\r\n"
                              "\r\n"
                              "Two signatures.\r\n";
    static const char h[] = "From:From:To:To:Cc:Subject:Subject:Date:Reply-To";
    struct dkim_sign_request rq = {.domain = "example.com",
                                   .selector = "ed",
                                   .key = ed_key,
                                   .header_canon = DKIM_CANON_RELAXED,
                                   .body_canon = DKIM_CANON_RELAXED,
                                   .timestamp = 1700000000};
    char *fe = NULL, *fr = NULL, *all = NULL, err[256], *b64 = NULL, v[1024], *u;

    if (!ed_key || !rsa_key)
        return;
    CHECK_INT(dkim_sign(&rq, msg, sizeof msg - 1, &fe, err, sizeof err), 0);
    rq.selector = "rsa";
    rq.key = rsa_key;
    CHECK_INT(dkim_sign(&rq, msg, sizeof msg - 1, &fr, err, sizeof err), 0);
    if (!fe || !fr)
        goto done;
    CHECK(strstr(fe, "a=ed25519-sha256;") && strstr(fe, "s=ed;"));
    CHECK(strstr(fr, "a=rsa-sha256;") && strstr(fr, "s=rsa;"));
    all = malloc(strlen(fe) + strlen(fr) + sizeof msg);
    if (!all)
        goto done;
    strcpy(all, fr);
    strcat(all, fe);
    strcat(all, msg);
    for (int i = 0; i < 2; i++) {
        const char *f = i ? fr : fe;
        size_t prefix = check_shape(f);

        CHECK_INT(dkim_sign_field(i ? rsa_key : ed_key, DKIM_CANON_RELAXED, all, strlen(all), h, f,
                                  prefix, &b64),
                  0);
        u = unfold(f);
        if (u && b64) {
            tag_value(u, "b", v, sizeof v);
            CHECK_STR(b64, v);
        }
        free(u);
        free(b64);
        b64 = NULL;
    }
    /* The same message signed again gives the same fields: nothing
     * depends on state left by an earlier call. */
    {
        char *again = NULL;

        CHECK_INT(dkim_sign(&rq, msg, sizeof msg - 1, &again, err, sizeof err), 0);
        CHECK_STR(again, fr);
        free(again);
    }
done:
    free(all);
    free(fe);
    free(fr);
}

int main(void)
{
    char err[256] = "";

    if (sodium_init() < 0) {
        fprintf(stderr, "sodium_init failed\n");
        return 1;
    }
    ed_key = load_rfc_ed25519();
    CHECK_INT(dkim_key_parse(rfc_rsa_pem, sizeof rfc_rsa_pem - 1, &rsa_key, err, sizeof err), 0);
    if (!rsa_key)
        fprintf(stderr, "RSA key: %s\n", err);
    CHECK(ed_key != NULL && rsa_key != NULL);

    test_rfc8463();
    test_h_and_oversigning();
    test_folding();
    test_verifies();
    test_sign_field_picking();
    test_bad_request();
    test_dual();

    dkim_key_free(ed_key);
    dkim_key_free(rsa_key);
    CHECK_DONE();
}
