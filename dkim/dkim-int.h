/*
 * dkim-int.h - what the files of the DKIM library share and its users do
 * not see: the layout of a loaded private key (key.c fills it, sign.c
 * reads it) and the streaming canonicalizers of canon.c that sign.c feeds
 * straight into a hash. Not installed; included only by the library's
 * own files and tests.
 */
#ifndef DKIM_DKIM_INT_H
#define DKIM_DKIM_INT_H

#include <bearssl.h>
#include <sodium.h>
#include "dkim.h"

struct dkim_key {
    enum dkim_alg alg;
    unsigned bits;
    /* RSA: the private key; its buffers point into rsa_buf. */
    br_rsa_private_key rsa;
    unsigned char rsa_buf[5 * (DKIM_RSA_MAX_BITS / 16) + 16];
    /* RSA: the public exponent. BearSSL's private key lacks it, and
     * recomputing it (br_rsa_compute_pubexp) works only when both primes
     * are 3 mod 4, which most OpenSSL keys are not; publishing the key and
     * writing it out need it. */
    uint32_t rsa_e;
    /* Ed25519: libsodium's 64-byte secret key (seed then public key). */
    unsigned char ed25519_sk[crypto_sign_SECRETKEYBYTES];
    unsigned char ed25519_pk[crypto_sign_PUBLICKEYBYTES];
};

/*
 * Where a canonicalizer puts its output, a piece at a time: a SHA-256
 * context, a bounded buffer, a counter. The pieces written, in order, are
 * the canonical bytes.
 */
typedef void (*dkim__emit_fn)(void *ctx, const char *p, size_t n);

/*
 * Streams the canonical form of one header field (as dkim_canon_header
 * describes it) to emit. With final_crlf 0 the CRLF that relaxed ends
 * with is left out, as a DKIM-Signature field is hashed. Returns 0, or
 * -EINVAL (and emits nothing) when the field has no colon.
 */
int dkim__canon_header_emit(enum dkim_canon c, const char *field, size_t len, int final_crlf,
                            dkim__emit_fn emit, void *ctx);

/* Streams the canonical form of a body (as dkim_canon_body describes it). */
void dkim__canon_body_emit(enum dkim_canon c, const char *body, size_t len, dkim__emit_fn emit,
                           void *ctx);

/*
 * Splits msg at its first empty line. Returns the length of the header
 * (its fields with their CRLFs, not the empty line) and sets *body to
 * where the body starts: after the empty line, or len when there is none
 * (all header, empty body).
 */
size_t dkim__split(const char *msg, size_t len, size_t *body);

/*
 * Where the line starting at p[start] ends: the offset of its CRLF, or
 * len when it runs to the end of p without one. Only CRLF ends a line.
 */
size_t dkim__line_end(const char *p, size_t start, size_t len);

#endif
