/*
 * tls.c - BearSSL trust anchors and client sessions (see tls.h).
 *
 * Trust: the CA bundle is the operator's file, but it is still parsed
 * with bounds (BearSSL's PEM and X.509 decoders; a certificate over
 * TLS_CERT_MAX bytes or with a DN over TLS_DN_MAX is skipped). Everything
 * a server sends (records, certificates) is parsed by BearSSL.
 *
 * Name matching is br_x509_minimal's (BearSSL 0.6, x509_minimal.t0),
 * checked against RFC 6125 section 6.4:
 *   - the reference identifier is the MX host name we were given (never
 *     a name derived from DNS data the server controls beyond that);
 *   - DNS-IDs (subjectAltName dNSName) are compared case-insensitively
 *     for ASCII, octet for octet otherwise (6.4.1, 6.4.2);
 *   - the CN-ID is used only when the certificate has no subjectAltName
 *     extension at all (6.4.4 says: only when there is no DNS-ID; BearSSL
 *     is stricter when a SAN holds no dNSName, which is fine);
 *   - a wildcard is recognised only as a whole leftmost label "*." and
 *     stands for exactly one label: "*.example.test" matches
 *     "mx.example.test" but neither "example.test" nor
 *     "a.mx.example.test" (6.4.3); partial-label wildcards ("mx*.") never
 *     match, which 6.4.3 allows a client to refuse.
 * What BearSSL does not do: it matches "*.test" like any other wildcard
 * (no public-suffix check; RFC 6125 7.2 leaves that to CA policy).
 *
 * Opportunistic TLS needs the handshake to succeed with a chain that
 * does not verify, yet we still want to log whether it would have. So
 * the X.509 engine given to the SSL engine is our own class (struct
 * tls_x509) that forwards every call to br_x509_minimal, records its
 * verdict at end_chain and, in TLS_CHECK_RECORD mode, reports success.
 * br_x509_minimal hands out the server key only when the chain is valid
 * or merely untrusted (not for a wrong name or an expired certificate),
 * so the first certificate is also decoded by br_x509_decoder on the
 * side, and its key is used when minimal has none.
 */
#include "tls.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TLS_CERT_MAX 65536 /* one DER certificate in the bundle */
#define TLS_DN_MAX 4096    /* one encoded subject DN */

/* Pseudo error for a verdict that could not be reached: no name to match. */
#define TLS_ERR_NO_NAME 0x10000

/* ---- trust anchors ---- */

struct tls_trust {
    br_x509_trust_anchor *ta; /* each ta[i].dn.data owns DN and key bytes */
    size_t n, cap;
    size_t skipped;
};

struct bytes {
    unsigned char *p;
    size_t len, cap, max;
    int overflow;
};

static void bytes_append(void *ctx, const void *data, size_t len)
{
    struct bytes *b = ctx;
    if (b->overflow || len > b->max - b->len) {
        b->overflow = 1;
        return;
    }
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + len)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->overflow = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
}

/* Turns one DER certificate into an anchor. Returns 0, 1 when the
 * certificate is skipped (undecodable, unsupported key), -ENOMEM. */
static int trust_add(struct tls_trust *t, const unsigned char *der, size_t len)
{
    br_x509_decoder_context dc;
    struct bytes dn = {.max = TLS_DN_MAX};
    const br_x509_pkey *pk;
    br_x509_trust_anchor *ta;
    size_t keylen;
    unsigned char *mem;

    br_x509_decoder_init(&dc, bytes_append, &dn);
    br_x509_decoder_push(&dc, der, len);
    pk = br_x509_decoder_get_pkey(&dc);
    if (!pk || dn.overflow || dn.len == 0) {
        free(dn.p);
        return 1;
    }
    if (pk->key_type == BR_KEYTYPE_RSA)
        keylen = pk->key.rsa.nlen + pk->key.rsa.elen;
    else if (pk->key_type == BR_KEYTYPE_EC)
        keylen = pk->key.ec.qlen;
    else {
        free(dn.p);
        return 1;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        br_x509_trust_anchor *a = realloc(t->ta, cap * sizeof(*a));
        if (!a) {
            free(dn.p);
            return -ENOMEM;
        }
        t->ta = a;
        t->cap = cap;
    }
    /* One block per anchor: the DN, then the key. */
    if (!(mem = malloc(dn.len + keylen))) {
        free(dn.p);
        return -ENOMEM;
    }
    memcpy(mem, dn.p, dn.len);
    ta = &t->ta[t->n];
    memset(ta, 0, sizeof(*ta));
    ta->dn.data = mem;
    ta->dn.len = dn.len;
    /* Every certificate of a CA bundle is an anchor for chains that end
     * on it, whatever its basicConstraints say (like OpenSSL's store). */
    ta->flags = BR_X509_TA_CA;
    ta->pkey.key_type = pk->key_type;
    if (pk->key_type == BR_KEYTYPE_RSA) {
        unsigned char *k = mem + dn.len;
        memcpy(k, pk->key.rsa.n, pk->key.rsa.nlen);
        memcpy(k + pk->key.rsa.nlen, pk->key.rsa.e, pk->key.rsa.elen);
        ta->pkey.key.rsa.n = k;
        ta->pkey.key.rsa.nlen = pk->key.rsa.nlen;
        ta->pkey.key.rsa.e = k + pk->key.rsa.nlen;
        ta->pkey.key.rsa.elen = pk->key.rsa.elen;
    } else {
        memcpy(mem + dn.len, pk->key.ec.q, pk->key.ec.qlen);
        ta->pkey.key.ec.curve = pk->key.ec.curve;
        ta->pkey.key.ec.q = mem + dn.len;
        ta->pkey.key.ec.qlen = pk->key.ec.qlen;
    }
    t->n++;
    free(dn.p);
    return 0;
}

int tls_trust_load(const char *path, struct tls_trust **out, char *err, size_t errlen)
{
    struct tls_trust *t = NULL;
    br_pem_decoder_context pc;
    struct bytes der = {.max = TLS_CERT_MAX};
    unsigned char buf[4096];
    int in_cert = 0, eof = 0, rc = 0;
    FILE *f;

    *out = NULL;
    if (!(f = fopen(path, "r"))) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return rc;
    }
    if (!(t = calloc(1, sizeof(*t))))
        goto nomem;
    br_pem_decoder_init(&pc);
    while (!eof) {
        size_t n = fread(buf, 1, sizeof(buf), f), off = 0;
        if (n < sizeof(buf)) {
            if (ferror(f)) {
                rc = -EIO;
                snprintf(err, errlen, "%s: read error", path);
                goto fail;
            }
            /* A final newline lets the decoder see an unterminated last line. */
            buf[n++] = '\n';
            eof = 1;
        }
        while (off < n) {
            off += br_pem_decoder_push(&pc, buf + off, n - off);
            switch (br_pem_decoder_event(&pc)) {
            case BR_PEM_BEGIN_OBJ:
                in_cert = !strcmp(br_pem_decoder_name(&pc), "CERTIFICATE") ||
                          !strcmp(br_pem_decoder_name(&pc), "X509 CERTIFICATE");
                der.len = 0;
                der.overflow = 0;
                br_pem_decoder_setdest(&pc, in_cert ? bytes_append : NULL, &der);
                break;
            case BR_PEM_END_OBJ:
                if (in_cert) {
                    if (der.overflow) {
                        t->skipped++;
                    } else {
                        int r = trust_add(t, der.p, der.len);
                        if (r < 0)
                            goto nomem;
                        t->skipped += (size_t)r;
                    }
                }
                in_cert = 0;
                break;
            case BR_PEM_ERROR:
                rc = -EINVAL;
                snprintf(err, errlen, "%s: malformed PEM", path);
                goto fail;
            default:
                break;
            }
        }
    }
    if (t->n == 0) {
        rc = -EINVAL;
        snprintf(err, errlen, "%s: no usable certificate (%zu skipped)", path, t->skipped);
        goto fail;
    }
    fclose(f);
    free(der.p);
    *out = t;
    return 0;
nomem:
    rc = -ENOMEM;
    snprintf(err, errlen, "%s: out of memory", path);
fail:
    fclose(f);
    free(der.p);
    tls_trust_free(t);
    return rc;
}

void tls_trust_free(struct tls_trust *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        free(t->ta[i].dn.data);
    free(t->ta);
    free(t);
}

const br_x509_trust_anchor *tls_trust_anchors(const struct tls_trust *t, size_t *count)
{
    *count = t ? t->n : 0;
    return t ? t->ta : NULL;
}

/* ---- the recording X.509 engine ---- */

struct tls_x509 {
    const br_x509_class *vtable; /* first: BearSSL passes &vtable as the context */
    br_x509_minimal_context minimal;
    br_x509_decoder_context ee; /* the end-entity certificate, decoded on the side */
    enum tls_check check;
    int have_name;
    int ee_started;
    unsigned ncerts;
    int seen;    /* end_chain was called */
    int verdict; /* 0 verified, or why not (BR_ERR_X509_*, TLS_ERR_NO_NAME) */
};

#define X509_OF(ctx) ((struct tls_x509 *)(void *)(ctx))
#define MINIMAL(x) (&(x)->minimal.vtable)

static void ignore_dn(void *ctx, const void *data, size_t len)
{
}

static void x509_start_chain(const br_x509_class **ctx, const char *server_name)
{
    struct tls_x509 *x = X509_OF(ctx);
    x->ncerts = 0;
    x->ee_started = 0;
    x->seen = 0;
    x->verdict = BR_ERR_X509_EMPTY_CHAIN;
    x->minimal.vtable->start_chain(MINIMAL(x), server_name);
}

static void x509_start_cert(const br_x509_class **ctx, uint32_t length)
{
    struct tls_x509 *x = X509_OF(ctx);
    if (x->ncerts == 0) {
        br_x509_decoder_init(&x->ee, ignore_dn, NULL);
        x->ee_started = 1;
    }
    x->minimal.vtable->start_cert(MINIMAL(x), length);
}

static void x509_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
    struct tls_x509 *x = X509_OF(ctx);
    if (x->ncerts == 0)
        br_x509_decoder_push(&x->ee, buf, len);
    x->minimal.vtable->append(MINIMAL(x), buf, len);
}

static void x509_end_cert(const br_x509_class **ctx)
{
    struct tls_x509 *x = X509_OF(ctx);
    x->ncerts++;
    x->minimal.vtable->end_cert(MINIMAL(x));
}

static unsigned x509_end_chain(const br_x509_class **ctx)
{
    struct tls_x509 *x = X509_OF(ctx);
    unsigned err = x->minimal.vtable->end_chain(MINIMAL(x));

    x->seen = 1;
    /* Without a name minimal matched nothing: a valid chain then proves
     * only that some CA signed it for someone. */
    if (err == 0 && !x->have_name)
        x->verdict = TLS_ERR_NO_NAME;
    else
        x->verdict = (int)err;
    if (x->check == TLS_CHECK_RECORD)
        return 0;
    return x->verdict == TLS_ERR_NO_NAME ? BR_ERR_X509_BAD_SERVER_NAME : (unsigned)x->verdict;
}

static const br_x509_pkey *x509_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
    struct tls_x509 *x = X509_OF(ctx);
    const br_x509_pkey *pk = x->minimal.vtable->get_pkey(MINIMAL(x), usages);

    if (pk || x->check == TLS_CHECK_REQUIRE || !x->ee_started)
        return pk;
    /* Opportunistic, chain refused by minimal: the key as the certificate
     * states it, allowed for any use (nothing was verified anyway). */
    pk = br_x509_decoder_get_pkey(&x->ee);
    if (pk && usages)
        *usages = BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN;
    return pk;
}

static const br_x509_class tls_x509_vtable = {
    sizeof(struct tls_x509), x509_start_chain, x509_start_cert, x509_append,
    x509_end_cert,           x509_end_chain,   x509_get_pkey,
};

/* ---- sessions ---- */

struct tls_session {
    br_ssl_engine_context *eng; /* &cc.eng; a server session would point into its own */
    br_ssl_client_context cc;
    struct tls_x509 x509;
    int established;
    unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
};

/* ECDHE with AEAD first (forward secrecy, no CBC padding oracles), then
 * ECDHE with CBC, then static RSA, for old servers: with opportunistic
 * TLS any encryption beats the plaintext the alternative would be.
 * Names are the IANA registry's. */
static const struct {
    uint16_t id;
    const char *name;
} suites[] = {
    {BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"},
    {BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
    {BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"},
    {BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"},
    {BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
     "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"},
    {BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"},
    {BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"},
    {BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"},
    {BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"},
    {BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"},
    {BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"},
    {BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"},
    {BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"},
    {BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"},
    {BR_TLS_RSA_WITH_AES_128_GCM_SHA256, "TLS_RSA_WITH_AES_128_GCM_SHA256"},
    {BR_TLS_RSA_WITH_AES_256_GCM_SHA384, "TLS_RSA_WITH_AES_256_GCM_SHA384"},
    {BR_TLS_RSA_WITH_AES_128_CBC_SHA256, "TLS_RSA_WITH_AES_128_CBC_SHA256"},
    {BR_TLS_RSA_WITH_AES_256_CBC_SHA256, "TLS_RSA_WITH_AES_256_CBC_SHA256"},
    {BR_TLS_RSA_WITH_AES_128_CBC_SHA, "TLS_RSA_WITH_AES_128_CBC_SHA"},
    {BR_TLS_RSA_WITH_AES_256_CBC_SHA, "TLS_RSA_WITH_AES_256_CBC_SHA"},
};
#define NSUITES (sizeof(suites) / sizeof(suites[0]))

size_t tls_session_size(void)
{
    return sizeof(struct tls_session);
}

int tls_session_client(const struct tls_trust *trust, const char *server_name, enum tls_check check,
                       struct tls_session **out)
{
    struct tls_session *s;
    const br_x509_trust_anchor *ta;
    uint16_t ids[NSUITES];
    size_t nta;

    *out = NULL;
    if (server_name && !*server_name)
        server_name = NULL;
    if (server_name && strlen(server_name) > 255)
        return -EINVAL;
    if (!(s = calloc(1, sizeof(*s))))
        return -ENOMEM;
    ta = tls_trust_anchors(trust, &nta);
    /* init_full sets every algorithm implementation and initialises the
     * minimal X.509 engine (hashes, signature verifiers) in place. */
    br_ssl_client_init_full(&s->cc, &s->x509.minimal, ta, nta);
    s->eng = &s->cc.eng;
    s->x509.vtable = &tls_x509_vtable;
    s->x509.check = check;
    s->x509.have_name = server_name != NULL;
    s->x509.verdict = BR_ERR_X509_EMPTY_CHAIN;
    br_ssl_engine_set_x509(s->eng, &s->x509.vtable);
    for (size_t i = 0; i < NSUITES; i++)
        ids[i] = suites[i].id;
    br_ssl_engine_set_suites(s->eng, ids, NSUITES);
    br_ssl_engine_set_versions(s->eng, BR_TLS10, BR_TLS12);
    /* Renegotiation buys nothing for SMTP and adds states to get wrong. */
    br_ssl_engine_add_flags(s->eng, BR_OPT_NO_RENEGOTIATION);
    br_ssl_engine_set_buffer(s->eng, s->iobuf, sizeof(s->iobuf), 1);
    if (!br_ssl_client_reset(&s->cc, server_name, 0)) {
        free(s);
        return -EINVAL;
    }
    *out = s;
    return 0;
}

void tls_session_free(struct tls_session *s)
{
    free(s);
}

enum tls_state tls_session_state(struct tls_session *s)
{
    unsigned st = br_ssl_engine_current_state(s->eng);
    if (st & BR_SSL_CLOSED)
        return TLS_STATE_CLOSED;
    /* The engine offers application I/O only once the handshake is done;
     * it may stop offering it for a while (a record waits to be sent), so
     * remember. */
    if (st & (BR_SSL_SENDAPP | BR_SSL_RECVAPP))
        s->established = 1;
    return s->established ? TLS_STATE_OPEN : TLS_STATE_HANDSHAKE;
}

int tls_session_error(const struct tls_session *s)
{
    return br_ssl_engine_last_error(s->eng);
}

const char *tls_error_name(int err, char *buf, size_t len)
{
    static const char *const ssl[] = {
        [BR_ERR_OK] = "BR_ERR_OK",
        [BR_ERR_BAD_PARAM] = "BR_ERR_BAD_PARAM",
        [BR_ERR_BAD_STATE] = "BR_ERR_BAD_STATE",
        [BR_ERR_UNSUPPORTED_VERSION] = "BR_ERR_UNSUPPORTED_VERSION",
        [BR_ERR_BAD_VERSION] = "BR_ERR_BAD_VERSION",
        [BR_ERR_BAD_LENGTH] = "BR_ERR_BAD_LENGTH",
        [BR_ERR_TOO_LARGE] = "BR_ERR_TOO_LARGE",
        [BR_ERR_BAD_MAC] = "BR_ERR_BAD_MAC",
        [BR_ERR_NO_RANDOM] = "BR_ERR_NO_RANDOM",
        [BR_ERR_UNKNOWN_TYPE] = "BR_ERR_UNKNOWN_TYPE",
        [BR_ERR_UNEXPECTED] = "BR_ERR_UNEXPECTED",
        [BR_ERR_BAD_CCS] = "BR_ERR_BAD_CCS",
        [BR_ERR_BAD_ALERT] = "BR_ERR_BAD_ALERT",
        [BR_ERR_BAD_HANDSHAKE] = "BR_ERR_BAD_HANDSHAKE",
        [BR_ERR_OVERSIZED_ID] = "BR_ERR_OVERSIZED_ID",
        [BR_ERR_BAD_CIPHER_SUITE] = "BR_ERR_BAD_CIPHER_SUITE",
        [BR_ERR_BAD_COMPRESSION] = "BR_ERR_BAD_COMPRESSION",
        [BR_ERR_BAD_FRAGLEN] = "BR_ERR_BAD_FRAGLEN",
        [BR_ERR_BAD_SECRENEG] = "BR_ERR_BAD_SECRENEG",
        [BR_ERR_EXTRA_EXTENSION] = "BR_ERR_EXTRA_EXTENSION",
        [BR_ERR_BAD_SNI] = "BR_ERR_BAD_SNI",
        [BR_ERR_BAD_HELLO_DONE] = "BR_ERR_BAD_HELLO_DONE",
        [BR_ERR_LIMIT_EXCEEDED] = "BR_ERR_LIMIT_EXCEEDED",
        [BR_ERR_BAD_FINISHED] = "BR_ERR_BAD_FINISHED",
        [BR_ERR_RESUME_MISMATCH] = "BR_ERR_RESUME_MISMATCH",
        [BR_ERR_INVALID_ALGORITHM] = "BR_ERR_INVALID_ALGORITHM",
        [BR_ERR_BAD_SIGNATURE] = "BR_ERR_BAD_SIGNATURE",
        [BR_ERR_WRONG_KEY_USAGE] = "BR_ERR_WRONG_KEY_USAGE",
        [BR_ERR_NO_CLIENT_AUTH] = "BR_ERR_NO_CLIENT_AUTH",
        [BR_ERR_IO] = "BR_ERR_IO",
        [BR_ERR_X509_OK] = "BR_ERR_X509_OK",
        [BR_ERR_X509_INVALID_VALUE] = "BR_ERR_X509_INVALID_VALUE",
        [BR_ERR_X509_TRUNCATED] = "BR_ERR_X509_TRUNCATED",
        [BR_ERR_X509_EMPTY_CHAIN] = "BR_ERR_X509_EMPTY_CHAIN",
        [BR_ERR_X509_INNER_TRUNC] = "BR_ERR_X509_INNER_TRUNC",
        [BR_ERR_X509_BAD_TAG_CLASS] = "BR_ERR_X509_BAD_TAG_CLASS",
        [BR_ERR_X509_BAD_TAG_VALUE] = "BR_ERR_X509_BAD_TAG_VALUE",
        [BR_ERR_X509_INDEFINITE_LENGTH] = "BR_ERR_X509_INDEFINITE_LENGTH",
        [BR_ERR_X509_EXTRA_ELEMENT] = "BR_ERR_X509_EXTRA_ELEMENT",
        [BR_ERR_X509_UNEXPECTED] = "BR_ERR_X509_UNEXPECTED",
        [BR_ERR_X509_NOT_CONSTRUCTED] = "BR_ERR_X509_NOT_CONSTRUCTED",
        [BR_ERR_X509_NOT_PRIMITIVE] = "BR_ERR_X509_NOT_PRIMITIVE",
        [BR_ERR_X509_PARTIAL_BYTE] = "BR_ERR_X509_PARTIAL_BYTE",
        [BR_ERR_X509_BAD_BOOLEAN] = "BR_ERR_X509_BAD_BOOLEAN",
        [BR_ERR_X509_OVERFLOW] = "BR_ERR_X509_OVERFLOW",
        [BR_ERR_X509_BAD_DN] = "BR_ERR_X509_BAD_DN",
        [BR_ERR_X509_BAD_TIME] = "BR_ERR_X509_BAD_TIME",
        [BR_ERR_X509_UNSUPPORTED] = "BR_ERR_X509_UNSUPPORTED",
        [BR_ERR_X509_LIMIT_EXCEEDED] = "BR_ERR_X509_LIMIT_EXCEEDED",
        [BR_ERR_X509_WRONG_KEY_TYPE] = "BR_ERR_X509_WRONG_KEY_TYPE",
        [BR_ERR_X509_BAD_SIGNATURE] = "BR_ERR_X509_BAD_SIGNATURE",
        [BR_ERR_X509_TIME_UNKNOWN] = "BR_ERR_X509_TIME_UNKNOWN",
        [BR_ERR_X509_EXPIRED] = "BR_ERR_X509_EXPIRED",
        [BR_ERR_X509_DN_MISMATCH] = "BR_ERR_X509_DN_MISMATCH",
        [BR_ERR_X509_BAD_SERVER_NAME] = "BR_ERR_X509_BAD_SERVER_NAME",
        [BR_ERR_X509_CRITICAL_EXTENSION] = "BR_ERR_X509_CRITICAL_EXTENSION",
        [BR_ERR_X509_NOT_CA] = "BR_ERR_X509_NOT_CA",
        [BR_ERR_X509_FORBIDDEN_KEY_USAGE] = "BR_ERR_X509_FORBIDDEN_KEY_USAGE",
        [BR_ERR_X509_WEAK_PUBLIC_KEY] = "BR_ERR_X509_WEAK_PUBLIC_KEY",
        [BR_ERR_X509_NOT_TRUSTED] = "BR_ERR_X509_NOT_TRUSTED",
    };
    if (err == TLS_ERR_NO_NAME)
        snprintf(buf, len, "no server name to match");
    else if (err >= 0 && (size_t)err < sizeof(ssl) / sizeof(ssl[0]) && ssl[err])
        snprintf(buf, len, "%s", ssl[err]);
    else if (err >= BR_ERR_SEND_FATAL_ALERT && err < BR_ERR_SEND_FATAL_ALERT + 256)
        snprintf(buf, len, "BR_ERR_SEND_FATAL_ALERT(%d)", err - BR_ERR_SEND_FATAL_ALERT);
    else if (err >= BR_ERR_RECV_FATAL_ALERT && err < BR_ERR_RECV_FATAL_ALERT + 256)
        snprintf(buf, len, "BR_ERR_RECV_FATAL_ALERT(%d)", err - BR_ERR_RECV_FATAL_ALERT);
    else
        snprintf(buf, len, "BR_ERR_%d", err);
    return buf;
}

size_t tls_session_feed(struct tls_session *s, const void *data, size_t len)
{
    size_t room;
    unsigned char *p = br_ssl_engine_recvrec_buf(s->eng, &room);
    if (!p || room == 0)
        return 0;
    if (room > len)
        room = len;
    memcpy(p, data, room);
    br_ssl_engine_recvrec_ack(s->eng, room);
    return room;
}

size_t tls_session_read(struct tls_session *s, void *buf, size_t len)
{
    size_t avail;
    unsigned char *p = br_ssl_engine_recvapp_buf(s->eng, &avail);
    if (!p || avail == 0)
        return 0;
    if (avail > len)
        avail = len;
    memcpy(buf, p, avail);
    br_ssl_engine_recvapp_ack(s->eng, avail);
    return avail;
}

size_t tls_session_write(struct tls_session *s, const void *data, size_t len)
{
    size_t room;
    unsigned char *p = br_ssl_engine_sendapp_buf(s->eng, &room);
    if (!p || room == 0)
        return 0;
    if (room > len)
        room = len;
    memcpy(p, data, room);
    br_ssl_engine_sendapp_ack(s->eng, room);
    return room;
}

void tls_session_flush(struct tls_session *s)
{
    br_ssl_engine_flush(s->eng, 0);
}

const unsigned char *tls_session_pending(struct tls_session *s, size_t *len)
{
    unsigned char *p = br_ssl_engine_sendrec_buf(s->eng, len);
    if (!p || *len == 0) {
        *len = 0;
        return NULL;
    }
    return p;
}

void tls_session_sent(struct tls_session *s, size_t len)
{
    br_ssl_engine_sendrec_ack(s->eng, len);
}

void tls_session_close(struct tls_session *s)
{
    br_ssl_engine_close(s->eng);
}

int tls_session_info(const struct tls_session *s, struct tls_info *info)
{
    const struct tls_x509 *x = &s->x509;

    br_ssl_session_parameters params;

    memset(info, 0, sizeof(*info));
    if (x->seen) {
        /* Without anchors minimal says NOT_TRUSTED; without a name the
         * verdict is TLS_ERR_NO_NAME: 0 means both were there. */
        info->verified = x->verdict == 0;
        if (!info->verified)
            tls_error_name(x->verdict, info->verify_error, sizeof(info->verify_error));
    } else {
        snprintf(info->verify_error, sizeof(info->verify_error), "no certificate seen");
    }
    if (!s->established)
        return -EAGAIN;
    switch (br_ssl_engine_get_version(s->eng)) {
    case BR_TLS10:
        snprintf(info->version, sizeof(info->version), "TLSv1");
        break;
    case BR_TLS11:
        snprintf(info->version, sizeof(info->version), "TLSv1.1");
        break;
    case BR_TLS12:
        snprintf(info->version, sizeof(info->version), "TLSv1.2");
        break;
    default:
        snprintf(info->version, sizeof(info->version), "0x%04x", br_ssl_engine_get_version(s->eng));
    }
    br_ssl_engine_get_session_parameters(s->eng, &params);
    uint16_t id = params.cipher_suite;
    snprintf(info->cipher, sizeof(info->cipher), "0x%04X", id);
    for (size_t i = 0; i < NSUITES; i++)
        if (suites[i].id == id)
            snprintf(info->cipher, sizeof(info->cipher), "%s", suites[i].name);
    return 0;
}
