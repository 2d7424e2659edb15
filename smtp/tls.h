/*
 * tls.h - BearSSL for SMTP: trust anchors loaded from a CA bundle (client),
 * a certificate chain and key (server), and a TLS session driven without
 * blocking over bytes the caller moves (the client and server sessions
 * move them over their libuv streams).
 *
 * Trust: the CA bundle, chain and key are the operator's files;
 * certificates and records from the network are parsed by BearSSL, which
 * bounds everything.
 */
#ifndef MTA_SMTP_TLS_H
#define MTA_SMTP_TLS_H

#include <stddef.h>

#include <bearssl.h>

/* ---- trust anchors ---- */

struct tls_trust; /* read-only once loaded: share it between sessions and threads */

/*
 * Loads every certificate of the PEM file at path (a bundle such as
 * /etc/ssl/certs/ca-certificates.crt) as a BearSSL trust anchor (RSA and
 * EC keys; other certificates are skipped and counted). On success *out
 * is the caller's (tls_trust_free). Returns 0, -ENOENT/-EACCES/... when
 * the file cannot be read, -EINVAL when it holds no usable certificate,
 * -ENOMEM; err says which.
 */
int tls_trust_load(const char *path, struct tls_trust **out, char *err, size_t errlen);

/* Frees t; NULL does nothing. */
void tls_trust_free(struct tls_trust *t);

/* The anchors, for code that runs its own BearSSL context (MTA-STS fetch). */
const br_x509_trust_anchor *tls_trust_anchors(const struct tls_trust *t, size_t *count);

/* ---- server certificate ---- */

/* A certificate chain and its key, read-only once loaded, reference
 * counted (loop thread only): each session holds one, so that a reload
 * (smtp_server_set_cert) never frees a chain a handshake still uses. */
struct tls_server_cert;

/*
 * Loads a PEM certificate chain (leaf first, as Let's Encrypt's
 * fullchain.pem) and its PEM private key (RSA or EC; PKCS#1, SEC1 or
 * PKCS#8, as privkey.pem). Checks that the key matches the leaf. *out
 * holds one reference. Returns 0 or a negative errno (-ENOENT, -EACCES,
 * ... when a file cannot be read; -EINVAL for no certificate, no or an
 * unusable key, or a key that is not the leaf's; -ENOMEM) with err
 * naming the file and what is wrong.
 */
int tls_server_cert_load(const char *chain_path, const char *key_path, struct tls_server_cert **out,
                         char *err, size_t errlen);

/* Takes one more reference to c and returns c. */
struct tls_server_cert *tls_server_cert_ref(struct tls_server_cert *c);

/* Drops one reference; the last one frees. NULL does nothing. */
void tls_server_cert_unref(struct tls_server_cert *c);

/* ---- sessions ----
 *
 * A session is BearSSL's engine with its buffers and certificate check,
 * in one allocation (tls_session_size() bytes). It never touches a
 * socket: the caller moves bytes, as in BearSSL's own ssl_io.c loop:
 *
 *   received ciphertext -> tls_session_feed()
 *   tls_session_read()  -> plaintext for the application
 *   application data    -> tls_session_write(), then tls_session_flush()
 *   tls_session_pending() / tls_session_sent() -> ciphertext to send
 *
 * After every feed, write or flush, take the pending ciphertext out and
 * the plaintext out, then look at tls_session_state(): the engine makes
 * progress only when its output is drained. Client and server sessions
 * share every function below but the constructor.
 */

struct tls_session;

/* What the client does with the server's certificate chain. */
enum tls_check {
    /* Opportunistic (RFC 7435): the handshake goes on whatever the chain
     * (self-signed, expired, another name); the verdict is recorded. */
    TLS_CHECK_RECORD,
    /* The handshake fails unless the chain validates against the trust
     * anchors and the end-entity certificate is for the server name. */
    TLS_CHECK_REQUIRE,
};

enum tls_state {
    TLS_STATE_HANDSHAKE, /* not yet usable for application data */
    TLS_STATE_OPEN,      /* handshake done: application data flows */
    TLS_STATE_CLOSED,    /* closed: tls_session_error() says why (0: orderly) */
};

/* What a session negotiated, for logs. */
struct tls_info {
    char version[16];      /* "TLSv1.2", "TLSv1.1", "TLSv1" */
    char cipher[64];       /* IANA name: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" */
    int verified;          /* chain valid against the anchors, name matched */
    char verify_error[48]; /* when not verified: "BR_ERR_X509_EXPIRED", ... */
};

/*
 * A client session for server_name: sent as SNI and matched against the
 * end-entity certificate (exact, case-insensitive, or a "*." wildcard
 * standing for exactly one leftmost label, see tls.c). server_name NULL
 * or "": no SNI and nothing verifies. trust may be NULL: nothing
 * verifies. Both must stay valid while the session lives. The first
 * ciphertext (the ClientHello) is pending at once. *out is the caller's
 * (tls_session_free). Returns 0, -ENOMEM, or -EINVAL (a name over 255
 * bytes).
 */
int tls_session_client(const struct tls_trust *trust, const char *server_name, enum tls_check check,
                       struct tls_session **out);

/*
 * A server session presenting cert (which it takes a reference to, and
 * drops in tls_session_free): TLS 1.0 to 1.2, our cipher suite order
 * enforced (ECDHE with AEAD first), no renegotiation, no client
 * certificate asked. Nothing is pending until the ClientHello is fed.
 * *out is the caller's (tls_session_free). Returns 0, -ENOMEM, or
 * -EINVAL.
 */
int tls_session_server(struct tls_server_cert *cert, struct tls_session **out);

/* Frees s and everything it holds; NULL does nothing. */
void tls_session_free(struct tls_session *s);

/* Bytes one session takes (one allocation: engine, buffers, X.509). */
size_t tls_session_size(void);

/* Where the session stands (see enum tls_state). */
enum tls_state tls_session_state(struct tls_session *s);

/* BearSSL's error code once closed (0 for an orderly close_notify): a
 * BR_ERR_* value; BR_ERR_X509_* ones say why the chain was refused. */
int tls_session_error(const struct tls_session *s);

/* "BR_ERR_X509_EXPIRED", "BR_ERR_RECV_FATAL_ALERT(40)", ... for err;
 * into buf (at least 48 bytes), which it returns. */
const char *tls_error_name(int err, char *buf, size_t len);

/*
 * Takes up to len bytes of ciphertext received from the peer. Returns
 * how many were taken; 0 when the engine takes none now (plaintext or
 * ciphertext waits to be taken out, or the session is closed).
 */
size_t tls_session_feed(struct tls_session *s, const void *data, size_t len);

/* Copies up to len bytes of decrypted application data into buf;
 * returns how many (0: none available). */
size_t tls_session_read(struct tls_session *s, void *buf, size_t len);

/*
 * Takes up to len bytes of application data to encrypt. Returns how many
 * were taken; 0 when the engine cannot take any now (pending ciphertext
 * must be taken out first, or the handshake is not done, or closed).
 * Data is sealed into a record when the record is full or at
 * tls_session_flush().
 */
size_t tls_session_write(struct tls_session *s, const void *data, size_t len);

/* Seals what was written into a record, so that it becomes pending. */
void tls_session_flush(struct tls_session *s);

/* The ciphertext waiting to be sent: a pointer into the session, valid
 * until the next call on it, and its length in *len; NULL when none. */
const unsigned char *tls_session_pending(struct tls_session *s, size_t *len);

/* Says that len bytes of the pending ciphertext were taken (copied). */
void tls_session_sent(struct tls_session *s, size_t len);

/* Starts an orderly close: a close_notify alert becomes pending. */
void tls_session_close(struct tls_session *s);

/*
 * Fills *info: version and cipher once the handshake is done ("" before),
 * and (client sessions) the certificate verdict once the server's chain
 * was seen; a server session reports verified 0 and verify_error "".
 * Returns 0, or -EAGAIN when the handshake is not done.
 */
int tls_session_info(const struct tls_session *s, struct tls_info *info);

#endif
