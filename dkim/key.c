/*
 * key.c - DKIM private keys: reading PEM files (PKCS#1 and PKCS#8 RSA,
 * PKCS#8 Ed25519 as RFC 8410 and OpenSSL write it), generating keys,
 * writing them back as PKCS#8 PEM, and the DNS TXT record that publishes
 * the public half.
 *
 * SECURITY: a key file is written by the administrator, but its bytes are
 * still parsed as untrusted: every DER length is checked against what is
 * left before it is followed, the decoded key must fit fixed buffers, and
 * an RSA key must prove that its parts agree before it is accepted.
 * BearSSL decodes PEM and RSA keys; the few DER structures BearSSL does not
 * know (Ed25519 PKCS#8, the RSA public key fields, SubjectPublicKeyInfo)
 * are read and written here. Key material is wiped from every buffer it
 * went through before that buffer is freed or goes out of scope.
 */
#include "dkim-int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(sizeof(((struct dkim_key *)0)->rsa_buf) >= BR_RSA_KBUF_PRIV_SIZE(DKIM_RSA_MAX_BITS),
               "rsa_buf must hold a largest private key");

#define KEY_RSA_PUBEXP 65537 /* for generated keys, as everyone uses */
#define KEY_N_MAX (DKIM_RSA_MAX_BITS / 8)
/* The DER of the largest key we accept (a 4096-bit RSA PKCS#8 key is
 * about 2400 octets) with room for attributes. */
#define KEY_DER_MAX 8192
#define KEY_SPKI_MAX (KEY_N_MAX + 64)

#define DER_INTEGER 0x02
#define DER_BIT_STRING 0x03
#define DER_OCTET_STRING 0x04
#define DER_NULL 0x05
#define DER_OID 0x06
#define DER_SEQUENCE 0x30
#define DER_CONTEXT_0 0xa0 /* [0] IMPLICIT, constructed: PKCS#8 attributes */
#define DER_CONTEXT_1 0x81 /* [1] IMPLICIT BIT STRING: PKCS#8 v2 public key */

/* OID contents (without tag and length). */
static const unsigned char oid_rsa_encryption[] = {0x2a, 0x86, 0x48, 0x86, 0xf7,
                                                   0x0d, 0x01, 0x01, 0x01};
static const unsigned char oid_ed25519[] = {0x2b, 0x65, 0x70};
static const unsigned char oid_ec_public_key[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};

/* The PKCS#8 encoding of an Ed25519 key up to its 32-octet seed (RFC 8410
 * section 7): what OpenSSL writes, and what dkim_key_pem writes. */
static const unsigned char ed25519_pkcs8_prefix[16] = {
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20};
#define ED25519_SEED_LEN 32
#define ED25519_PKCS8_LEN (sizeof(ed25519_pkcs8_prefix) + ED25519_SEED_LEN)

/* The AlgorithmIdentifier of an RSA public key: rsaEncryption, NULL. */
static const unsigned char rsa_algorithm_id[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                                 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00};

__attribute__((format(printf, 4, 5))) static int key_error(char *err, size_t errlen, int rc,
                                                           const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* ---- a bounded DER reader ---- */

/* A window on DER bytes: what is left to read. */
struct der {
    const unsigned char *p;
    size_t len;
};

/*
 * Takes the element with the given tag from the front of *in: *content is
 * its value, and *in moves past it. Only definite lengths in their shortest
 * form are accepted (DER), of at most 3 length octets. Returns 0, or
 * -EINVAL when the tag differs or the length runs past the end.
 */
static int der_get(struct der *in, unsigned char tag, struct der *content)
{
    size_t len, hdr = 2;

    if (in->len < 2 || in->p[0] != tag)
        return -EINVAL;
    len = in->p[1];
    if (len & 0x80) {
        size_t n = len & 0x7f;
        if (n == 0 || n > 3 || in->len < 2 + n || in->p[2] == 0)
            return -EINVAL;
        len = 0;
        for (size_t i = 0; i < n; i++)
            len = len << 8 | in->p[2 + i];
        if (len < 0x80)
            return -EINVAL;
        hdr += n;
    }
    if (len > in->len - hdr)
        return -EINVAL;
    content->p = in->p + hdr;
    content->len = len;
    in->p += hdr + len;
    in->len -= hdr + len;
    return 0;
}

/* The tag of the next element, or -1 at the end. */
static int der_peek(const struct der *in)
{
    return in->len ? in->p[0] : -1;
}

/*
 * Takes a non-negative INTEGER: *value is its magnitude without leading
 * zero octets (at least one octet: zero is a single 0x00). Returns 0 or
 * -EINVAL (not an INTEGER, empty, negative).
 */
static int der_get_uint(struct der *in, struct der *value)
{
    if (der_get(in, DER_INTEGER, value) != 0 || value->len == 0 || (value->p[0] & 0x80))
        return -EINVAL;
    while (value->len > 1 && value->p[0] == 0) {
        value->p++;
        value->len--;
    }
    return 0;
}

/* Takes a small non-negative INTEGER (a version). Returns 0 or -EINVAL. */
static int der_get_small(struct der *in, unsigned *out)
{
    struct der v;
    if (der_get_uint(in, &v) != 0 || v.len > 2)
        return -EINVAL;
    *out = 0;
    for (size_t i = 0; i < v.len; i++)
        *out = *out << 8 | v.p[i];
    return 0;
}

static int der_equal(const struct der *d, const unsigned char *want, size_t len)
{
    return d->len == len && memcmp(d->p, want, len) == 0;
}

/* The bit length of a big-endian magnitude without leading zero octets. */
static unsigned bit_length(const unsigned char *v, size_t len)
{
    unsigned bits;
    if (len == 0 || (len == 1 && v[0] == 0))
        return 0;
    bits = (unsigned)(len - 1) * 8;
    for (unsigned char top = v[0]; top; top >>= 1)
        bits++;
    return bits;
}

/* Writes an OID's dotted form ("1.3.101.113") for error messages. */
static void oid_text(const struct der *oid, char *out, size_t cap)
{
    size_t used = 0;
    unsigned long arc = 0;
    int first = 1;

    out[0] = '\0';
    for (size_t i = 0; i < oid->len && used + 24 < cap; i++) {
        if (arc > 0xffffffUL) {
            snprintf(out + used, cap - used, "...");
            return;
        }
        arc = arc << 7 | (oid->p[i] & 0x7f);
        if (oid->p[i] & 0x80)
            continue;
        if (first) {
            unsigned long top = arc < 80 ? arc / 40 : 2;
            used += (size_t)snprintf(out + used, cap - used, "%lu.%lu", top, arc - top * 40);
            first = 0;
        } else {
            used += (size_t)snprintf(out + used, cap - used, ".%lu", arc);
        }
        arc = 0;
    }
}

/* ---- a small DER writer, for SubjectPublicKeyInfo ---- */

/* The size of a tag and length for contents of len octets (len < 65536). */
static size_t der_header_size(size_t len)
{
    return len < 0x80 ? 2 : len < 0x100 ? 3 : 4;
}

static unsigned char *der_put_header(unsigned char *p, unsigned char tag, size_t len)
{
    *p++ = tag;
    if (len >= 0x100) {
        *p++ = 0x82;
        *p++ = (unsigned char)(len >> 8);
    } else if (len >= 0x80) {
        *p++ = 0x81;
    }
    *p++ = (unsigned char)len;
    return p;
}

/* The contents size of the INTEGER for a magnitude without leading zeros:
 * one 0x00 goes in front when the top bit is set, to keep it positive. */
static size_t der_uint_size(const unsigned char *v, size_t len)
{
    return len + ((v[0] & 0x80) ? 1 : 0);
}

static unsigned char *der_put_uint(unsigned char *p, const unsigned char *v, size_t len)
{
    p = der_put_header(p, DER_INTEGER, der_uint_size(v, len));
    if (v[0] & 0x80)
        *p++ = 0;
    memcpy(p, v, len);
    return p + len;
}

/* ---- RSA helpers ---- */

static uint32_t key_rsa_pubexp(const struct dkim_key *k)
{
    return k->rsa_e;
}

static void key_rsa_set_pubexp(struct dkim_key *k, uint32_t e)
{
    k->rsa_e = e;
}

/* The public exponent as its shortest big-endian octets, into out[4].
 * Returns their count. */
static size_t key_rsa_pubexp_bytes(const struct dkim_key *k, unsigned char out[4])
{
    const unsigned char e[4] = {(unsigned char)(k->rsa_e >> 24), (unsigned char)(k->rsa_e >> 16),
                                (unsigned char)(k->rsa_e >> 8), (unsigned char)k->rsa_e};
    size_t skip = 0;
    while (skip < 3 && e[skip] == 0)
        skip++;
    memcpy(out, e + skip, 4 - skip);
    return 4 - skip;
}

/* The modulus, recomputed from the primes, into n[KEY_N_MAX]. Returns its
 * length in octets (no leading zeros), or 0 if BearSSL cannot. */
static size_t key_rsa_modulus(const struct dkim_key *k, unsigned char n[KEY_N_MAX])
{
    br_rsa_compute_modulus compute = br_rsa_compute_modulus_get_default();
    size_t len = compute(NULL, &k->rsa);
    /* BearSSL 0.6's i31 code (the default) returns 0 for a modulus of 4096
     * bits with two 2048-bit primes: its buffer is one word short. The i15
     * code has no such limit. */
    if (len == 0) {
        compute = br_rsa_i15_compute_modulus;
        len = compute(NULL, &k->rsa);
    }
    if (len == 0 || len > KEY_N_MAX || compute(n, &k->rsa) != len)
        return 0;
    return len;
}

/*
 * Copies the private key that br_skey_decoder found (its buffers live in
 * the decoder) into k, with its public exponent e. Returns 0 or -EINVAL
 * when the elements do not fit.
 */
static int key_rsa_store(struct dkim_key *k, const br_rsa_private_key *sk, uint32_t e)
{
    unsigned char *dst = k->rsa_buf;
    size_t total = sk->plen + sk->qlen + sk->dplen + sk->dqlen + sk->iqlen;

    if (total > sizeof k->rsa_buf)
        return -EINVAL;
    k->rsa.n_bitlen = sk->n_bitlen;
#define KEY_COPY(field)                                                                            \
    do {                                                                                           \
        memcpy(dst, sk->field, sk->field##len);                                                    \
        k->rsa.field = dst;                                                                        \
        k->rsa.field##len = sk->field##len;                                                        \
        dst += sk->field##len;                                                                     \
    } while (0)
    KEY_COPY(p);
    KEY_COPY(q);
    KEY_COPY(dp);
    KEY_COPY(dq);
    KEY_COPY(iq);
#undef KEY_COPY
    key_rsa_set_pubexp(k, e);
    k->alg = DKIM_ALG_RSA_SHA256;
    k->bits = sk->n_bitlen;
    return 0;
}

/*
 * Checks that k's parts agree: its modulus is the n of the file, and a
 * value raised to the private exponent then to the public one comes back
 * (so a record made from e will verify what d signs).
 */
static int key_rsa_check(const struct dkim_key *k, const struct der *n, char *err, size_t errlen)
{
    unsigned char computed[KEY_N_MAX], x[KEY_N_MAX], back[KEY_N_MAX], e[4];
    size_t len = key_rsa_modulus(k, computed);
    br_rsa_public_key pk;
    int rc = 0;

    if (len != n->len || memcmp(computed, n->p, len) != 0) {
        rc = key_error(err, errlen, -EINVAL,
                       "RSA key is inconsistent: its modulus is not the product of its primes");
        goto done;
    }
    /* Any value below n will do; this one has a zero top octet. */
    memset(x, 0x5a, len);
    x[0] = 0;
    memcpy(back, x, len);
    pk.n = computed;
    pk.nlen = len;
    pk.elen = key_rsa_pubexp_bytes(k, e);
    pk.e = e;
    if (!br_rsa_private_get_default()(x, &k->rsa) || !br_rsa_public_get_default()(x, len, &pk) ||
        memcmp(x, back, len) != 0) {
        rc = key_error(err, errlen, -EINVAL,
                       "RSA key is inconsistent: its public exponent does not match its "
                       "private exponents");
        goto done;
    }
done:
    sodium_memzero(x, sizeof(x));
    return rc;
}

/*
 * Reads an RSA key. der/len is the whole DER that BearSSL decodes
 * (PKCS#1 or PKCS#8); rsa is the RSAPrivateKey inside it, from which n and
 * e are read here because BearSSL does not return them.
 */
static int key_parse_rsa(struct dkim_key *k, const unsigned char *der, size_t len, struct der rsa,
                         char *err, size_t errlen)
{
    br_skey_decoder_context dec;
    const br_rsa_private_key *sk;
    struct der seq, n, e;
    unsigned version, bits;
    uint32_t e_value = 0;
    int rc;

    if (der_get(&rsa, DER_SEQUENCE, &seq) != 0 || rsa.len != 0 ||
        der_get_small(&seq, &version) != 0 || der_get_uint(&seq, &n) != 0 ||
        der_get_uint(&seq, &e) != 0)
        return key_error(err, errlen, -EINVAL, "malformed RSA private key");
    if (version != 0)
        return key_error(err, errlen, -EINVAL, "multi-prime RSA keys are not supported");
    bits = bit_length(n.p, n.len);
    if (bits < DKIM_RSA_MIN_BITS)
        return key_error(err, errlen, -EINVAL, "RSA key of %u bits: at least %d are needed", bits,
                         DKIM_RSA_MIN_BITS);
    if (bits > DKIM_RSA_MAX_BITS)
        return key_error(err, errlen, -EINVAL, "RSA key of %u bits: at most %d are supported", bits,
                         DKIM_RSA_MAX_BITS);
    if (e.len > 4)
        return key_error(err, errlen, -EINVAL,
                         "RSA public exponent longer than 32 bits is not supported");
    for (size_t i = 0; i < e.len; i++)
        e_value = e_value << 8 | e.p[i];
    if (e_value < 3 || !(e_value & 1))
        return key_error(err, errlen, -EINVAL, "invalid RSA public exponent %lu",
                         (unsigned long)e_value);

    br_skey_decoder_init(&dec);
    br_skey_decoder_push(&dec, der, len);
    sk = br_skey_decoder_get_rsa(&dec);
    if (!sk) {
        rc = key_error(err, errlen, -EINVAL, "malformed RSA private key (BearSSL error %d)",
                       br_skey_decoder_last_error(&dec));
        goto done;
    }
    if (sk->n_bitlen != bits || key_rsa_store(k, sk, e_value) != 0) {
        rc = key_error(err, errlen, -EINVAL, "malformed RSA private key");
        goto done;
    }
    rc = key_rsa_check(k, &n, err, errlen);
done:
    sodium_memzero(&dec, sizeof(dec));
    return rc;
}

/* Reads an Ed25519 key from the CurvePrivateKey octets of a PKCS#8 key and
 * what follows them (attributes, public key). */
static int key_parse_ed25519(struct dkim_key *k, struct der priv, struct der rest, unsigned version,
                             char *err, size_t errlen)
{
    struct der seed, attrs, pub;

    if (der_get(&priv, DER_OCTET_STRING, &seed) != 0 || priv.len != 0)
        return key_error(err, errlen, -EINVAL, "malformed Ed25519 private key");
    if (seed.len != ED25519_SEED_LEN)
        return key_error(err, errlen, -EINVAL, "Ed25519 private key of %zu octets instead of %d",
                         seed.len, ED25519_SEED_LEN);
    if (der_peek(&rest) == DER_CONTEXT_0 && der_get(&rest, DER_CONTEXT_0, &attrs) != 0)
        return key_error(err, errlen, -EINVAL, "malformed PKCS#8 attributes");
    pub.len = 0;
    if (der_peek(&rest) == DER_CONTEXT_1 &&
        (version != 1 || der_get(&rest, DER_CONTEXT_1, &pub) != 0 || pub.len != 33 ||
         pub.p[0] != 0))
        return key_error(err, errlen, -EINVAL, "malformed Ed25519 public key in PKCS#8 key");
    if (rest.len != 0)
        return key_error(err, errlen, -EINVAL, "malformed PKCS#8 key: data after the key");

    if (sodium_init() < 0)
        return key_error(err, errlen, -EIO, "libsodium cannot be initialized");
    crypto_sign_seed_keypair(k->ed25519_pk, k->ed25519_sk, seed.p);
    if (pub.len && sodium_memcmp(pub.p + 1, k->ed25519_pk, sizeof(k->ed25519_pk)) != 0)
        return key_error(err, errlen, -EINVAL,
                         "Ed25519 key is inconsistent: its public key does not match its "
                         "private key");
    k->alg = DKIM_ALG_ED25519_SHA256;
    k->bits = 256;
    return 0;
}

/* Reads a PKCS#8 PrivateKeyInfo / OneAsymmetricKey (RFC 5958). */
static int key_parse_pkcs8(struct dkim_key *k, const unsigned char *der, size_t len, char *err,
                           size_t errlen)
{
    struct der in = {der, len}, seq, alg, oid, params, priv;
    unsigned version;
    char name[64];

    if (der_get(&in, DER_SEQUENCE, &seq) != 0 || in.len != 0 ||
        der_get_small(&seq, &version) != 0 || der_get(&seq, DER_SEQUENCE, &alg) != 0 ||
        der_get(&alg, DER_OID, &oid) != 0 || der_get(&seq, DER_OCTET_STRING, &priv) != 0)
        return key_error(err, errlen, -EINVAL, "malformed PKCS#8 private key");
    if (version > 1)
        return key_error(err, errlen, -EINVAL, "PKCS#8 private key of unknown version %u", version);
    if (der_equal(&oid, oid_rsa_encryption, sizeof(oid_rsa_encryption))) {
        /* The parameters are NULL, or absent from some writers. */
        if (alg.len != 0 && (der_get(&alg, DER_NULL, &params) != 0 || params.len || alg.len))
            return key_error(err, errlen, -EINVAL, "malformed RSA algorithm parameters");
        return key_parse_rsa(k, der, len, priv, err, errlen);
    }
    if (der_equal(&oid, oid_ed25519, sizeof(oid_ed25519))) {
        if (alg.len != 0) /* RFC 8410 section 3: parameters MUST be absent */
            return key_error(err, errlen, -EINVAL, "malformed Ed25519 algorithm parameters");
        return key_parse_ed25519(k, priv, seq, version, err, errlen);
    }
    if (der_equal(&oid, oid_ec_public_key, sizeof(oid_ec_public_key)))
        return key_error(err, errlen, -EINVAL,
                         "EC keys are not supported: DKIM signs with RSA or Ed25519");
    oid_text(&oid, name, sizeof(name));
    return key_error(err, errlen, -EINVAL,
                     "key algorithm %s is not supported: DKIM signs with RSA or Ed25519", name);
}

/* ---- PEM ---- */

/* Where br_pem_decoder puts the DER of the key object. */
struct key_pem_sink {
    unsigned char der[KEY_DER_MAX];
    size_t len;
    int overflow;
};

static void key_pem_append(void *ctx, const void *src, size_t len)
{
    struct key_pem_sink *sink = ctx;
    if (len > sizeof(sink->der) - sink->len) {
        sink->overflow = 1;
        return;
    }
    memcpy(sink->der + sink->len, src, len);
    sink->len += len;
}

enum key_format { KEY_NONE, KEY_PKCS1, KEY_PKCS8 };

/*
 * Finds the one private key object in the PEM text and collects its DER.
 * Objects with other labels (a certificate next to the key) are skipped,
 * but named in the error when no key is found.
 */
static int key_pem_extract(const char *pem, size_t len, struct key_pem_sink *sink,
                           enum key_format *format, char *err, size_t errlen)
{
    br_pem_decoder_context pc;
    enum key_format current = KEY_NONE;
    char other[64] = "";
    int in_object = 0, rc = 0;
    size_t off = 0;
    /* A final newline is pushed after the text: the decoder only sees
     * the END line once it is terminated. */
    int pushed_newline = 0;

    *format = KEY_NONE;
    sink->len = 0;
    sink->overflow = 0;
    br_pem_decoder_init(&pc);
    while (off < len || !pushed_newline) {
        int event;
        if (off < len && pem[off] == '\r') {
            /* BearSSL's decoder takes a CR before the LF as part of the
             * line (the label would end in "-----"); CRs carry nothing in
             * PEM, so they are skipped. */
            off++;
            continue;
        } else if (off < len) {
            const char *cr = memchr(pem + off, '\r', len - off);
            size_t chunk = cr ? (size_t)(cr - (pem + off)) : len - off;
            off += br_pem_decoder_push(&pc, pem + off, chunk);
        } else if (br_pem_decoder_push(&pc, "\n", 1) == 1) {
            pushed_newline = 1;
        }
        event = br_pem_decoder_event(&pc);
        if (event == BR_PEM_BEGIN_OBJ) {
            const char *name = br_pem_decoder_name(&pc);
            in_object = 1;
            current = KEY_NONE;
            if (strcmp(name, "RSA PRIVATE KEY") == 0)
                current = KEY_PKCS1;
            else if (strcmp(name, "PRIVATE KEY") == 0)
                current = KEY_PKCS8;
            else if (strcmp(name, "EC PRIVATE KEY") == 0)
                rc = key_error(err, errlen, -EINVAL,
                               "EC keys are not supported: DKIM signs with RSA or Ed25519");
            else if (strcmp(name, "ENCRYPTED PRIVATE KEY") == 0)
                rc = key_error(err, errlen, -EINVAL,
                               "encrypted private keys are not supported: the key must be "
                               "stored unencrypted, readable only by the MTA");
            else if (!other[0])
                snprintf(other, sizeof(other), "%.60s", name);
            if (rc != 0)
                goto done;
            if (current != KEY_NONE && *format != KEY_NONE) {
                rc = key_error(err, errlen, -EINVAL, "more than one private key in the file");
                goto done;
            }
            br_pem_decoder_setdest(&pc, current != KEY_NONE ? key_pem_append : NULL, sink);
        } else if (event == BR_PEM_END_OBJ) {
            in_object = 0;
            if (current != KEY_NONE)
                *format = current;
        } else if (event == BR_PEM_ERROR) {
            rc = key_error(err, errlen, -EINVAL, "malformed PEM: bad base64 or line in an object");
            goto done;
        }
    }
    if (in_object) {
        rc = key_error(err, errlen, -EINVAL, "truncated PEM: an object has no END line");
        goto done;
    }
    if (*format == KEY_NONE) {
        if (other[0])
            rc = key_error(err, errlen, -EINVAL, "PEM object \"%s\" is not a private key", other);
        else
            rc = key_error(err, errlen, -EINVAL, "not a PEM private key");
        goto done;
    }
    if (sink->overflow)
        rc = key_error(err, errlen, -EINVAL, "private key larger than %d octets", KEY_DER_MAX);
done:
    sodium_memzero(&pc, sizeof(pc));
    return rc;
}

int dkim_key_parse(const char *pem, size_t len, struct dkim_key **out, char *err, size_t errlen)
{
    struct key_pem_sink *sink = NULL;
    struct dkim_key *k = NULL;
    enum key_format format;
    int rc;

    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    sink = malloc(sizeof(*sink));
    k = calloc(1, sizeof(*k));
    if (!sink || !k) {
        rc = key_error(err, errlen, -ENOMEM, "out of memory");
        goto fail;
    }
    rc = key_pem_extract(pem, len, sink, &format, err, errlen);
    if (rc != 0)
        goto fail;
    if (format == KEY_PKCS1) {
        struct der all = {sink->der, sink->len};
        rc = key_parse_rsa(k, sink->der, sink->len, all, err, errlen);
    } else {
        rc = key_parse_pkcs8(k, sink->der, sink->len, err, errlen);
    }
    if (rc != 0)
        goto fail;
    sodium_memzero(sink, sizeof(*sink));
    free(sink);
    *out = k;
    return 0;
fail:
    if (sink)
        sodium_memzero(sink, sizeof(*sink));
    free(sink);
    dkim_key_free(k);
    return rc;
}

int dkim_key_load(const char *path, struct dkim_key **out, char *err, size_t errlen)
{
    char *buf = NULL, msg[256], ebuf[128];
    size_t len = 0;
    struct stat st;
    int fd, rc;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        rc = -errno;
        return key_error(err, errlen, rc, "%s: %s", path, strerror_r(-rc, ebuf, sizeof(ebuf)));
    }
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        key_error(err, errlen, rc, "%s: %s", path, strerror_r(-rc, ebuf, sizeof(ebuf)));
        goto fail;
    }
    /* A FIFO or device could block or never end. */
    if (!S_ISREG(st.st_mode)) {
        rc = key_error(err, errlen, -EINVAL, "%s: not a regular file", path);
        goto fail;
    }
    if (st.st_size > DKIM_KEY_FILE_MAX) {
        rc = key_error(err, errlen, -EFBIG, "%s: larger than %d octets: not a key file", path,
                       DKIM_KEY_FILE_MAX);
        goto fail;
    }
    buf = malloc(DKIM_KEY_FILE_MAX + 1);
    if (!buf) {
        rc = key_error(err, errlen, -ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    /* Reads until the end, up to one octet past the limit, since the file
     * may have grown since fstat. */
    while (len <= DKIM_KEY_FILE_MAX) {
        ssize_t n = read(fd, buf + len, DKIM_KEY_FILE_MAX + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            key_error(err, errlen, rc, "%s: %s", path, strerror_r(-rc, ebuf, sizeof(ebuf)));
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > DKIM_KEY_FILE_MAX) {
        rc = key_error(err, errlen, -EFBIG, "%s: larger than %d octets: not a key file", path,
                       DKIM_KEY_FILE_MAX);
        goto fail;
    }
    rc = dkim_key_parse(buf, len, out, msg, sizeof(msg));
    if (rc != 0)
        key_error(err, errlen, rc, "%s: %s", path, msg);
fail:
    if (buf) {
        sodium_memzero(buf, len);
        free(buf);
    }
    close(fd);
    return rc;
}

void dkim_key_free(struct dkim_key *k)
{
    if (!k)
        return;
    sodium_memzero(k, sizeof(*k));
    free(k);
}

enum dkim_alg dkim_key_alg(const struct dkim_key *k)
{
    return k->alg;
}

unsigned dkim_key_bits(const struct dkim_key *k)
{
    return k->bits;
}

int dkim_key_generate(enum dkim_alg alg, unsigned bits, struct dkim_key **out)
{
    struct dkim_key *k = NULL;
    br_hmac_drbg_context rng;
    br_prng_seeder seeder;
    int rc = 0;

    *out = NULL;
    if (alg == DKIM_ALG_RSA_SHA256) {
        if (bits < DKIM_RSA_MIN_BITS || bits > DKIM_RSA_MAX_BITS)
            return -EINVAL;
    } else if (alg != DKIM_ALG_ED25519_SHA256) {
        return -EINVAL;
    }
    k = calloc(1, sizeof(*k));
    if (!k)
        return -ENOMEM;
    if (alg == DKIM_ALG_ED25519_SHA256) {
        if (sodium_init() < 0) {
            rc = -EIO;
            goto fail;
        }
        crypto_sign_keypair(k->ed25519_pk, k->ed25519_sk);
        k->alg = alg;
        k->bits = 256;
        *out = k;
        return 0;
    }

    br_hmac_drbg_init(&rng, &br_sha256_vtable, NULL, 0);
    seeder = br_prng_seeder_system(NULL);
    if (!seeder || !seeder(&rng.vtable)) {
        rc = -EIO;
        goto done;
    }
    if (!br_rsa_keygen_get_default()(&rng.vtable, &k->rsa, k->rsa_buf, NULL, NULL, bits,
                                     KEY_RSA_PUBEXP)) {
        rc = -EINVAL;
        goto done;
    }
    key_rsa_set_pubexp(k, KEY_RSA_PUBEXP);
    k->alg = alg;
    k->bits = k->rsa.n_bitlen;
done:
    sodium_memzero(&rng, sizeof(rng));
    if (rc == 0) {
        *out = k;
        return 0;
    }
fail:
    dkim_key_free(k);
    return rc;
}

/* Encodes k's PKCS#8 DER into a malloc'ed buffer. Returns 0, -ENOMEM, or
 * -EINVAL when BearSSL cannot recompute the RSA private exponent. */
static int key_pkcs8_der(const struct dkim_key *k, unsigned char **out, size_t *outlen)
{
    unsigned char n[KEY_N_MAX], d[KEY_N_MAX], e[4];
    br_rsa_compute_privexp privexp = br_rsa_compute_privexp_get_default();
    br_rsa_public_key pk;
    unsigned char *der = NULL;
    size_t len, dlen;
    int rc = 0;

    *out = NULL;
    if (k->alg == DKIM_ALG_ED25519_SHA256) {
        der = malloc(ED25519_PKCS8_LEN);
        if (!der)
            return -ENOMEM;
        memcpy(der, ed25519_pkcs8_prefix, sizeof(ed25519_pkcs8_prefix));
        /* libsodium's secret key is the seed followed by the public key. */
        memcpy(der + sizeof(ed25519_pkcs8_prefix), k->ed25519_sk, ED25519_SEED_LEN);
        *out = der;
        *outlen = ED25519_PKCS8_LEN;
        return 0;
    }

    pk.n = n;
    pk.nlen = key_rsa_modulus(k, n);
    pk.e = e;
    pk.elen = key_rsa_pubexp_bytes(k, e);
    dlen = privexp(NULL, &k->rsa, key_rsa_pubexp(k));
    if (pk.nlen == 0 || dlen == 0 || dlen > sizeof(d) ||
        privexp(d, &k->rsa, key_rsa_pubexp(k)) != dlen) {
        rc = -EINVAL;
        goto done;
    }
    len = br_encode_rsa_pkcs8_der(NULL, &k->rsa, &pk, d, dlen);
    der = malloc(len);
    if (!der) {
        rc = -ENOMEM;
        goto done;
    }
    if (br_encode_rsa_pkcs8_der(der, &k->rsa, &pk, d, dlen) != len) {
        sodium_memzero(der, len);
        free(der);
        rc = -EINVAL;
        goto done;
    }
    *out = der;
    *outlen = len;
done:
    sodium_memzero(d, sizeof(d));
    return rc;
}

int dkim_key_pem(const struct dkim_key *k, char **out, size_t *len)
{
    unsigned char *der = NULL;
    size_t derlen = 0, pemlen;
    char *pem;
    int rc;

    *out = NULL;
    rc = key_pkcs8_der(k, &der, &derlen);
    if (rc != 0)
        return rc;
    /* 64-character lines, as OpenSSL writes them. */
    pemlen = br_pem_encode(NULL, der, derlen, "PRIVATE KEY", BR_PEM_LINE64);
    pem = malloc(pemlen + 1);
    if (!pem) {
        rc = -ENOMEM;
        goto done;
    }
    br_pem_encode(pem, der, derlen, "PRIVATE KEY", BR_PEM_LINE64);
    *out = pem;
    if (len)
        *len = pemlen;
done:
    sodium_memzero(der, derlen);
    free(der);
    return rc;
}

/*
 * Writes the DER SubjectPublicKeyInfo of an RSA key into out[KEY_SPKI_MAX]:
 * SEQUENCE { AlgorithmIdentifier { rsaEncryption, NULL },
 *            BIT STRING { RSAPublicKey SEQUENCE { INTEGER n, INTEGER e } } }
 * Returns its length, or 0 when the modulus cannot be recomputed.
 */
static size_t key_rsa_spki(const struct dkim_key *k, unsigned char out[KEY_SPKI_MAX])
{
    unsigned char n[KEY_N_MAX], e[4], *p = out;
    size_t nlen = key_rsa_modulus(k, n), elen = key_rsa_pubexp_bytes(k, e);
    size_t n_int, e_int, rsa_pub, bits, spki, total;

    if (nlen == 0)
        return 0;
    n_int = der_uint_size(n, nlen);
    e_int = der_uint_size(e, elen);
    rsa_pub = der_header_size(n_int) + n_int + der_header_size(e_int) + e_int;
    bits = 1 + der_header_size(rsa_pub) + rsa_pub; /* 1: the count of unused bits */
    spki = sizeof(rsa_algorithm_id) + der_header_size(bits) + bits;
    total = der_header_size(spki) + spki;
    if (total > KEY_SPKI_MAX)
        return 0;
    p = der_put_header(p, DER_SEQUENCE, spki);
    memcpy(p, rsa_algorithm_id, sizeof(rsa_algorithm_id));
    p += sizeof(rsa_algorithm_id);
    p = der_put_header(p, DER_BIT_STRING, bits);
    *p++ = 0;
    p = der_put_header(p, DER_SEQUENCE, rsa_pub);
    p = der_put_uint(p, n, nlen);
    p = der_put_uint(p, e, elen);
    return (size_t)(p - out);
}

int dkim_key_record(const struct dkim_key *k, char **out)
{
    unsigned char spki[KEY_SPKI_MAX];
    const unsigned char *bin;
    const char *prefix;
    size_t binlen, prefixlen, b64len;
    char *record;

    *out = NULL;
    if (k->alg == DKIM_ALG_ED25519_SHA256) {
        prefix = "v=DKIM1; k=ed25519; p=";
        bin = k->ed25519_pk;
        binlen = sizeof(k->ed25519_pk);
    } else {
        prefix = "v=DKIM1; k=rsa; p=";
        binlen = key_rsa_spki(k, spki);
        if (binlen == 0)
            return -EINVAL;
        bin = spki;
    }
    prefixlen = strlen(prefix);
    b64len = sodium_base64_encoded_len(binlen, sodium_base64_VARIANT_ORIGINAL); /* with NUL */
    record = malloc(prefixlen + b64len);
    if (!record)
        return -ENOMEM;
    memcpy(record, prefix, prefixlen);
    sodium_bin2base64(record + prefixlen, b64len, bin, binlen, sodium_base64_VARIANT_ORIGINAL);
    *out = record;
    return 0;
}
