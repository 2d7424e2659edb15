/*
 * dkim.h - DKIM signatures (RFC 6376) with rsa-sha256 and ed25519-sha256
 * (RFC 8463): canonicalization, signing, private keys, key generation.
 *
 * The library knows nothing of the queue, the configuration or libuv.
 * A message is one buffer in wire form: CRLF line endings, the header
 * fields, an empty line, the body; not dot-stuffed. A message with no
 * empty line is all header with an empty body.
 *
 * Thread safety: no global state. A loaded key is never modified by
 * signing, so one key may sign on many threads at once.
 */
#ifndef DKIM_DKIM_H
#define DKIM_DKIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define DKIM_DOMAIN_MAX 254     /* signing domain, with its NUL */
#define DKIM_SELECTOR_MAX 64    /* selector, with its NUL */
#define DKIM_KEY_FILE_MAX 65536 /* largest key file dkim_key_load reads */
#define DKIM_RSA_MIN_BITS 1024
#define DKIM_RSA_MAX_BITS 4096
#define DKIM_BODY_HASH_B64 45 /* base64 of a SHA-256, with its NUL */

enum dkim_canon { DKIM_CANON_SIMPLE = 0, DKIM_CANON_RELAXED = 1 };
enum dkim_alg { DKIM_ALG_RSA_SHA256 = 0, DKIM_ALG_ED25519_SHA256 = 1 };

/* ---- canonicalization (RFC 6376 3.4) ---- */

/*
 * Canonicalizes one header field: its name, colon, value and any folded
 * continuation lines, with its final CRLF (len covers all of it). Simple
 * copies it unchanged. Relaxed lowercases the name, unfolds, turns each
 * run of SP/HTAB into one SP, removes whitespace at the end of the value
 * and around the colon, and ends the result with CRLF.
 * Writes into out (capacity cap; not NUL-terminated). Returns the length
 * written, -ENOSPC when cap is too small, -EINVAL when the field has no
 * colon.
 */
ssize_t dkim_canon_header(enum dkim_canon c, const char *field, size_t len, char *out, size_t cap);

/*
 * Canonicalizes a body (the bytes after the header's empty line). Simple
 * reduces trailing empty lines to one CRLF (an empty body becomes CRLF);
 * relaxed also removes whitespace at line ends, turns runs of SP/HTAB
 * into one SP, and leaves an empty body empty. A body whose last line
 * lacks CRLF is treated as if it had one. *out is malloc'ed (NUL-
 * terminated for convenience, *outlen excludes the NUL); the caller
 * frees it. Returns 0 or -ENOMEM.
 */
int dkim_canon_body(enum dkim_canon c, const char *body, size_t len, char **out, size_t *outlen);

/*
 * The SHA-256 of the canonical body of msg (whole message: the body is
 * found after the header), base64 encoded for bh=, into out. Streams;
 * allocates nothing.
 */
void dkim_body_hash(enum dkim_canon c, const char *msg, size_t len, char out[DKIM_BODY_HASH_B64]);

/* ---- keys ---- */

struct dkim_key;

/*
 * Parses a PEM private key: "RSA PRIVATE KEY" (PKCS#1) or "PRIVATE KEY"
 * (PKCS#8 holding RSA, or Ed25519 with OID 1.3.101.112 as OpenSSL and
 * `openssl genpkey -algorithm ed25519` write it). RSA keys of fewer than
 * DKIM_RSA_MIN_BITS bits are refused. On success *out is the caller's
 * (dkim_key_free). Returns 0, -EINVAL with err set ("not a PEM private
 * key", "RSA key of 512 bits: at least 1024 are needed", ...), -ENOMEM.
 */
int dkim_key_parse(const char *pem, size_t len, struct dkim_key **out, char *err, size_t errlen);

/* Reads the file at path (at most DKIM_KEY_FILE_MAX bytes) and parses it.
 * Returns 0, or a negative errno with err set, naming the path. */
int dkim_key_load(const char *path, struct dkim_key **out, char *err, size_t errlen);

/* Wipes and frees k; NULL does nothing. */
void dkim_key_free(struct dkim_key *k);

enum dkim_alg dkim_key_alg(const struct dkim_key *k);

/* RSA modulus size in bits; 256 for Ed25519. */
unsigned dkim_key_bits(const struct dkim_key *k);

/*
 * Generates a key from the system's randomness: RSA with bits in
 * [DKIM_RSA_MIN_BITS, DKIM_RSA_MAX_BITS] (e = 65537), or Ed25519 (bits
 * ignored). Returns 0 with *out the caller's, -EINVAL for bits out of
 * range, -EIO when no randomness is available, -ENOMEM.
 */
int dkim_key_generate(enum dkim_alg alg, unsigned bits, struct dkim_key **out);

/*
 * k as a PEM "PRIVATE KEY" (PKCS#8) for both algorithms, readable by
 * dkim_key_parse, OpenSSL and OpenDKIM. *out is malloc'ed and NUL-
 * terminated; the caller wipes and frees it. Returns 0 or -ENOMEM.
 */
int dkim_key_pem(const struct dkim_key *k, char **out, size_t *len);

/*
 * The DNS TXT record value that publishes k's public key:
 * "v=DKIM1; k=rsa; p=BASE64" (p: DER SubjectPublicKeyInfo) or
 * "v=DKIM1; k=ed25519; p=BASE64" (p: the raw 32-octet key, RFC 8463).
 * *out is malloc'ed, NUL-terminated, one line; the caller frees it.
 * Returns 0 or -ENOMEM.
 */
int dkim_key_record(const struct dkim_key *k, char **out);

/* ---- signing ---- */

struct dkim_sign_request {
    const char *domain;   /* d= */
    const char *selector; /* s= */
    const struct dkim_key *key;
    enum dkim_canon header_canon, body_canon; /* c= */
    time_t timestamp;                         /* t= */
};

/*
 * Signs msg. The signed header fields are those of this list present in
 * msg: From, To, Cc, Subject, Date, Message-ID, Reply-To, In-Reply-To,
 * References, MIME-Version, Content-Type, Content-Transfer-Encoding,
 * List-Id, List-Unsubscribe, List-Unsubscribe-Post. From, To, Cc,
 * Subject, Date and Reply-To are over-signed: named in h= once more than
 * they appear (so once even when absent), so that no such field can be
 * added later without breaking the signature. Tags, in this order:
 * v=1; a=; c=; d=; s=; t=; h=; bh=; b= (never l=).
 *
 * *out is the whole header field "DKIM-Signature: v=1; ...; b=...\r\n",
 * folded so no line exceeds 78 octets, malloc'ed and NUL-terminated, to
 * be put before the message's first header field. Returns 0, -EINVAL
 * with err set (bad domain or selector, ...), -ENOMEM.
 */
int dkim_sign(const struct dkim_sign_request *rq, const char *msg, size_t len, char **out,
              char *err, size_t errlen);

/*
 * The step of dkim_sign that test vectors need: computes the signature
 * over msg's header fields named in h (the h= value as written, names
 * separated by ':' with optional whitespace, picked from the bottom of
 * the header up as RFC 6376 5.4.2 says; a name with no field left hashes
 * nothing) followed by sig_field, the DKIM-Signature field exactly as it
 * will appear up to and including its empty "b=" value (no CRLF). *b64
 * is the base64 signature, malloc'ed and NUL-terminated; the caller
 * frees it. Returns 0, -EINVAL (sig_field too long, ...), -ENOMEM.
 */
int dkim_sign_field(const struct dkim_key *k, enum dkim_canon header_canon, const char *msg,
                    size_t len, const char *h, const char *sig_field, size_t sig_len, char **b64);

#endif
