/*
 * tls.c - BearSSL trust anchors, server certificates, and client and
 * server sessions (see tls.h).
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
 *
 * Server side: the chain and key files are the operator's, parsed with
 * bounds by br_pem_decoder, br_x509_decoder and br_skey_decoder. The key
 * must be the leaf's (recomputed public key compared with the leaf's), so
 * that a renewal that replaced one file but not the other fails at load,
 * not at every handshake. The server enforces its own suite order
 * (ECDHE with AEAD first) rather than the client's.
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

/* ---- server certificate ---- */

static void ignore_dn(void *ctx, const void *data, size_t len)
{
}

#define TLS_CHAIN_MAX 10       /* certificates in a server chain */
#define TLS_KEY_FILE_MAX 65536 /* DER of one private key */

struct tls_server_cert {
    unsigned refs;
    br_x509_certificate *chain; /* chain[i].data malloc'd DER, leaf first */
    size_t chain_len;
    int key_type;        /* BR_KEYTYPE_RSA or BR_KEYTYPE_EC */
    int issuer_key_type; /* the leaf's signer, for ECDH suites */
    /* The decoder keeps the key's bytes inside itself; keeping it here
     * keeps the br_rsa_private_key / br_ec_private_key it returns valid. */
    br_skey_decoder_context skey;
};

/* Reads a whole PEM file and calls obj(ctx, name, der, len) for every
 * object. Returns 0, a negative errno, or the first nonzero of obj. */
static int pem_each(const char *path, size_t max,
                    int (*obj)(void *ctx, const char *name, const unsigned char *der, size_t len),
                    void *ctx, char *err, size_t errlen)
{
    br_pem_decoder_context pc;
    struct bytes der = {.max = max};
    unsigned char buf[4096];
    char name[128] = "";
    int eof = 0, rc = 0, inside = 0;
    FILE *f;

    if (!(f = fopen(path, "r"))) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return rc;
    }
    br_pem_decoder_init(&pc);
    while (!eof && rc == 0) {
        size_t n = fread(buf, 1, sizeof(buf) - 1, f), off = 0;
        if (n < sizeof(buf) - 1) {
            if (ferror(f)) {
                rc = -EIO;
                snprintf(err, errlen, "%s: read error", path);
                break;
            }
            buf[n++] = '\n';
            eof = 1;
        }
        while (off < n && rc == 0) {
            off += br_pem_decoder_push(&pc, buf + off, n - off);
            switch (br_pem_decoder_event(&pc)) {
            case BR_PEM_BEGIN_OBJ:
                snprintf(name, sizeof(name), "%s", br_pem_decoder_name(&pc));
                der.len = 0;
                der.overflow = 0;
                inside = 1;
                br_pem_decoder_setdest(&pc, bytes_append, &der);
                break;
            case BR_PEM_END_OBJ:
                inside = 0;
                if (der.overflow) {
                    rc = -EINVAL;
                    snprintf(err, errlen, "%s: %s object too large", path, name);
                } else {
                    rc = obj(ctx, name, der.p, der.len);
                }
                break;
            case BR_PEM_ERROR:
                rc = -EINVAL;
                snprintf(err, errlen, "%s: malformed PEM", path);
                break;
            default:
                break;
            }
        }
    }
    if (rc == 0 && inside) {
        rc = -EINVAL;
        snprintf(err, errlen, "%s: truncated PEM object", path);
    }
    fclose(f);
    /* A private key passed through der: do not leave it in freed memory. */
    if (der.p)
        explicit_bzero(der.p, der.cap);
    free(der.p);
    return rc;
}

static int chain_obj(void *ctx, const char *name, const unsigned char *der, size_t len)
{
    struct tls_server_cert *c = ctx;
    unsigned char *copy;

    if (strcmp(name, "CERTIFICATE") != 0 && strcmp(name, "X509 CERTIFICATE") != 0)
        return 0;
    if (c->chain_len == TLS_CHAIN_MAX)
        return -E2BIG;
    if (!(copy = malloc(len ? len : 1)))
        return -ENOMEM;
    memcpy(copy, der, len);
    c->chain[c->chain_len].data = copy;
    c->chain[c->chain_len].data_len = len;
    c->chain_len++;
    return 0;
}

struct key_load {
    struct tls_server_cert *c;
    int found;
};

static int key_obj(void *ctx, const char *name, const unsigned char *der, size_t len)
{
    struct key_load *k = ctx;

    if (strcmp(name, "RSA PRIVATE KEY") != 0 && strcmp(name, "EC PRIVATE KEY") != 0 &&
        strcmp(name, "PRIVATE KEY") != 0)
        return 0; /* "EC PARAMETERS" and the like */
    if (k->found)
        return -EEXIST;
    br_skey_decoder_init(&k->c->skey);
    br_skey_decoder_push(&k->c->skey, der, len);
    if (br_skey_decoder_last_error(&k->c->skey) != 0 || br_skey_decoder_key_type(&k->c->skey) == 0)
        return -EINVAL;
    k->found = 1;
    return 0;
}

/* Leading zero bytes do not change a big-endian integer. */
static int same_integer(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
    while (alen && *a == 0)
        a++, alen--;
    while (blen && *b == 0)
        b++, blen--;
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* Does the private key belong to the leaf's public key pk? */
static int key_matches(struct tls_server_cert *c, const br_x509_pkey *pk)
{
    if (c->key_type == BR_KEYTYPE_RSA) {
        const br_rsa_private_key *sk = br_skey_decoder_get_rsa(&c->skey);
        br_rsa_compute_modulus modulus = br_rsa_compute_modulus_get_default();
        br_rsa_compute_pubexp pubexp = br_rsa_compute_pubexp_get_default();
        unsigned char n[512];
        uint32_t e = pubexp(sk);
        unsigned char ebuf[4] = {(unsigned char)(e >> 24), (unsigned char)(e >> 16),
                                 (unsigned char)(e >> 8), (unsigned char)e};
        size_t nlen;

        if (pk->key_type != BR_KEYTYPE_RSA || modulus(NULL, sk) > sizeof(n))
            return 0;
        nlen = modulus(n, sk);
        if (!nlen || !same_integer(n, nlen, pk->key.rsa.n, pk->key.rsa.nlen))
            return 0;
        /* The modulus decides (its primes are the key). BearSSL 0.6 cannot
         * recompute every exponent (it returns 0 then); when it can, it
         * must be the certificate's too. */
        return e == 0 || same_integer(ebuf, 4, pk->key.rsa.e, pk->key.rsa.elen);
    } else {
        const br_ec_private_key *sk = br_skey_decoder_get_ec(&c->skey);
        unsigned char q[BR_EC_KBUF_PUB_MAX_SIZE];
        br_ec_public_key pub;

        if (pk->key_type != BR_KEYTYPE_EC || pk->key.ec.curve != sk->curve)
            return 0;
        if (!br_ec_compute_pub(br_ec_get_default(), &pub, q, sk))
            return 0;
        return pub.qlen == pk->key.ec.qlen && memcmp(pub.q, pk->key.ec.q, pub.qlen) == 0;
    }
}

int tls_server_cert_load(const char *chain_path, const char *key_path, struct tls_server_cert **out,
                         char *err, size_t errlen)
{
    struct tls_server_cert *c = NULL;
    struct key_load k = {0};
    br_x509_decoder_context dc;
    const br_x509_pkey *pk;
    int rc;

    *out = NULL;
    if (!(c = calloc(1, sizeof(*c))) || !(c->chain = calloc(TLS_CHAIN_MAX, sizeof(*c->chain)))) {
        rc = -ENOMEM;
        snprintf(err, errlen, "%s: out of memory", chain_path);
        goto fail;
    }
    c->refs = 1;
    err[0] = '\0';
    rc = pem_each(chain_path, TLS_CERT_MAX, chain_obj, c, err, errlen);
    if (rc < 0) {
        if (!err[0])
            snprintf(err, errlen, "%s: %s", chain_path,
                     rc == -E2BIG ? "more than 10 certificates" : strerror(-rc));
        goto fail;
    }
    if (c->chain_len == 0) {
        rc = -EINVAL;
        snprintf(err, errlen, "%s: no certificate", chain_path);
        goto fail;
    }
    k.c = c;
    rc = pem_each(key_path, TLS_KEY_FILE_MAX, key_obj, &k, err, errlen);
    if (rc < 0) {
        if (!err[0])
            snprintf(err, errlen, "%s: %s", key_path,
                     rc == -EEXIST ? "more than one private key" : "unreadable private key");
        goto fail;
    }
    if (!k.found) {
        rc = -EINVAL;
        snprintf(err, errlen, "%s: no private key", key_path);
        goto fail;
    }
    c->key_type = br_skey_decoder_key_type(&c->skey);
    br_x509_decoder_init(&dc, ignore_dn, NULL);
    br_x509_decoder_push(&dc, c->chain[0].data, c->chain[0].data_len);
    pk = br_x509_decoder_get_pkey(&dc);
    if (!pk) {
        rc = -EINVAL;
        snprintf(err, errlen, "%s: the first certificate cannot be decoded", chain_path);
        goto fail;
    }
    c->issuer_key_type = br_x509_decoder_get_signer_key_type(&dc);
    if (!key_matches(c, pk)) {
        rc = -EINVAL;
        snprintf(err, errlen, "%s: the key does not match the certificate in %s", key_path,
                 chain_path);
        goto fail;
    }
    *out = c;
    return 0;
fail:
    tls_server_cert_unref(c);
    return rc;
}

struct tls_server_cert *tls_server_cert_ref(struct tls_server_cert *c)
{
    if (c)
        c->refs++;
    return c;
}

void tls_server_cert_unref(struct tls_server_cert *c)
{
    if (!c || --c->refs > 0)
        return;
    if (c->chain)
        for (size_t i = 0; i < c->chain_len; i++)
            free(c->chain[i].data);
    free(c->chain);
    /* The decoder holds the private key. */
    explicit_bzero(&c->skey, sizeof(c->skey));
    free(c);
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
    br_ssl_engine_context *eng; /* &u.cc.eng or &u.sc.eng */
    union {
        br_ssl_client_context cc;
        br_ssl_server_context sc;
    } u;
    struct tls_server_cert *cert; /* server sessions: one reference */
    struct tls_x509 x509;         /* client sessions only */
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
    br_ssl_client_init_full(&s->u.cc, &s->x509.minimal, ta, nta);
    s->eng = &s->u.cc.eng;
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
    if (!br_ssl_client_reset(&s->u.cc, server_name, 0)) {
        free(s);
        return -EINVAL;
    }
    *out = s;
    return 0;
}

int tls_session_server(struct tls_server_cert *cert, struct tls_session **out)
{
    struct tls_session *s;
    uint16_t ids[NSUITES];

    *out = NULL;
    if (!cert)
        return -EINVAL;
    if (!(s = calloc(1, sizeof(*s))))
        return -ENOMEM;
    if (cert->key_type == BR_KEYTYPE_RSA)
        br_ssl_server_init_full_rsa(&s->u.sc, cert->chain, cert->chain_len,
                                    br_skey_decoder_get_rsa(&cert->skey));
    else
        br_ssl_server_init_full_ec(&s->u.sc, cert->chain, cert->chain_len, cert->issuer_key_type,
                                   br_skey_decoder_get_ec(&cert->skey));
    s->eng = &s->u.sc.eng;
    /* init_full_* already dropped the suites the key cannot serve; ours
     * replace them, and the engine again skips those the key cannot do. */
    for (size_t i = 0; i < NSUITES; i++)
        ids[i] = suites[i].id;
    br_ssl_engine_set_suites(s->eng, ids, NSUITES);
    br_ssl_engine_set_versions(s->eng, BR_TLS10, BR_TLS12);
    br_ssl_engine_add_flags(s->eng, BR_OPT_NO_RENEGOTIATION | BR_OPT_ENFORCE_SERVER_PREFERENCES);
    br_ssl_engine_set_buffer(s->eng, s->iobuf, sizeof(s->iobuf), 1);
    if (!br_ssl_server_reset(&s->u.sc)) {
        free(s);
        return -EINVAL;
    }
    s->cert = tls_server_cert_ref(cert);
    *out = s;
    return 0;
}

void tls_session_free(struct tls_session *s)
{
    if (!s)
        return;
    tls_server_cert_unref(s->cert);
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
    if (s->cert) {
        /* A server session: no peer chain to judge. */
    } else if (x->seen) {
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
