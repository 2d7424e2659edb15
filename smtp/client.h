/*
 * client.h - one outbound SMTP session over a libuv TCP stream.
 *
 * The session connects, reads the greeting, says EHLO (HELO when EHLO is
 * refused), and then carries transactions one after the other: MAIL, RCPT
 * (pipelined when the server offers PIPELINING), DATA with dot-stuffing,
 * the final reply; RSET between transactions when one did not complete;
 * QUIT at the end. Each stage has its own timeout (RFC 5321 4.5.3.2).
 *
 * STARTTLS (RFC 3207), by the configured level: when the first EHLO
 * offers it, STARTTLS, a BearSSL handshake (smtp/tls.h) with SNI set to
 * the MX host name, EHLO again; from then on only the capabilities of
 * that second EHLO count, and every byte goes through TLS.
 *
 * Trust: everything the server sends is parsed by smtp/reply.c with
 * bounds; a malformed, oversized or unsolicited reply ends the session
 * with a temporary failure. Bytes the server sends after its 220 to
 * STARTTLS and before the handshake completes are thrown away unread
 * (STARTTLS response injection, CVE-2011-0411). Nothing here knows the
 * queue.
 */
#ifndef MTA_SMTP_CLIENT_H
#define MTA_SMTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "reply.h"
#include "tls.h"

#define SMTP_TEXT_MAX 512 /* reply text kept per recipient / outcome */

struct smtp_client; /* opaque */

/* Timeouts in milliseconds. */
struct smtp_timeouts {
    unsigned connect, helo, mail, rcpt, data_init, data_xfer, data_done, quit;
};

/* outbound_tls: what the session does about STARTTLS. */
enum smtp_tls_level {
    SMTP_TLS_NONE = 0, /* plaintext, STARTTLS never tried (zeroed configs) */
    SMTP_TLS_MAY,      /* opportunistic (RFC 7435): TLS when offered, any certificate */
    SMTP_TLS_ENCRYPT,  /* TLS required, any certificate */
    SMTP_TLS_VERIFY,   /* TLS required, chain valid for tls_name */
};

struct smtp_client_config {
    const char *helo_name;
    struct smtp_timeouts t;
    enum smtp_tls_level tls;
    /* Anchors for VERIFY (and for the verdict logged under MAY and
     * ENCRYPT); NULL: nothing verifies. The caller keeps them loaded
     * while the session lives. */
    const struct tls_trust *trust;
    /* The MX host name: SNI, and the name the certificate must be for.
     * Copied. NULL: no SNI, nothing verifies. */
    const char *tls_name;
};

/* One transaction: a message for some recipients of one domain. The
 * caller keeps everything valid until SMTP_EV_TXN_DONE. */
struct smtp_txn {
    const char *sender; /* "" = null sender */
    size_t nrcpt;
    const char *const *rcpt;
    const char *content; /* CRLF lines, not dot-stuffed */
    size_t len;
    int body_8bit;     /* send BODY=8BITMIME when offered */
    int need_smtputf8; /* an address is not ASCII: SMTPUTF8 required */
    /* DSN parameters (RFC 3461), sent only to a server that offers DSN,
     * ready for the wire (ENVID and ORCPT as xtext): " RET=HDRS ENVID=x"
     * for MAIL, and per recipient " NOTIFY=... ORCPT=...". NULL: none. */
    const char *dsn_mail;
    const char *const *dsn_rcpt;
};

/* Where a session stands when something ended. */
enum smtp_stage {
    SMTP_STAGE_CONNECT,
    SMTP_STAGE_GREETING,
    SMTP_STAGE_HELO,
    SMTP_STAGE_MAIL,
    SMTP_STAGE_RCPT,
    SMTP_STAGE_DATA,
    SMTP_STAGE_DOT,
    SMTP_STAGE_QUIT,
};

/* A result: class 2, 4 or 5, the reply (or a local description) and
 * where it happened. */
struct smtp_result {
    int klass; /* 2 delivered, 4 temporary, 5 permanent */
    int code;  /* SMTP code, or 0 when there was no reply */
    char enhanced[16];
    char text[SMTP_TEXT_MAX];
    enum smtp_stage stage;
    int throttled; /* a 421, a 4.7.x or a known rate-limit reply */
    /* STARTTLS was refused or the TLS handshake failed (FAILED; also on
     * READY when MAY went on in plaintext after a refusal). Under MAY the
     * caller may retry the host once with SMTP_TLS_NONE. */
    int tls_failed;
};

enum smtp_event {
    SMTP_EV_READY,    /* greeting and EHLO done: send a transaction */
    SMTP_EV_FAILED,   /* could not establish: res says why */
    SMTP_EV_TXN_DONE, /* rcpt[] results (and res for the message) are ready */
    SMTP_EV_CLOSED,   /* the session is gone: the pointer is invalid after */
};

/* Everything a callback gets. rcpt has txn->nrcpt entries for TXN_DONE. */
struct smtp_outcome {
    struct smtp_result res; /* FAILED: why; TXN_DONE: message-level */
    const struct smtp_result *rcpt;
    size_t nrcpt;
    int session_usable; /* TXN_DONE: another transaction may follow */
    int dsn_passed;     /* TXN_DONE: the server offered DSN and got the parameters */
};

typedef void (*smtp_client_cb)(void *arg, struct smtp_client *c, enum smtp_event ev,
                               const struct smtp_outcome *o);

/*
 * Starts a session to addr (port included) for the MX host named name
 * (for logs). Events go to cb. cfg is copied (tls_name too; a trailing
 * dot is dropped); cfg->trust must outlive the session. Returns 0 with
 * *out valid until SMTP_EV_CLOSED, or a negative errno (nothing started,
 * no callback): -EINVAL for a TLS level outside the enum or a tls_name
 * over 255 bytes.
 */
int smtp_client_start(uv_loop_t *loop, const struct sockaddr *addr, const char *name,
                      const struct smtp_client_config *cfg, smtp_client_cb cb, void *arg,
                      struct smtp_client **out);

/* Sends a transaction on a READY (or idle after TXN_DONE) session.
 * Returns 0 or -EBUSY/-EINVAL. */
int smtp_client_send(struct smtp_client *c, const struct smtp_txn *txn);

/* Politely ends an idle session (QUIT); SMTP_EV_CLOSED follows. */
void smtp_client_quit(struct smtp_client *c);

/* Closes at once, whatever the state; a transaction in progress ends with
 * TXN_DONE (temporary failure) first, then SMTP_EV_CLOSED. */
void smtp_client_abort(struct smtp_client *c);

/* "host[ip]:port" of the session, for logs. */
const char *smtp_client_relay(const struct smtp_client *c);

/* TLS of a session, for the delivery log and `mtaq show`. */
struct smtp_tls_info {
    int active;            /* the session runs over TLS (handshake done) */
    char version[16];      /* "TLSv1.2" */
    char cipher[64];       /* IANA name, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" */
    int verified;          /* chain valid against the anchors for tls_name */
    char verify_error[48]; /* when not verified: "BR_ERR_X509_EXPIRED", ... */
    /* Bytes the server sent after its 220 to STARTTLS, before the
     * handshake, thrown away unread (an injection attempt, or a bug). */
    unsigned long discarded;
};

/* The session's TLS (active 0 until the handshake is done; version and
 * verdict are kept when it fails). Valid until SMTP_EV_CLOSED. */
const struct smtp_tls_info *smtp_client_tls(const struct smtp_client *c);

/* Extensions the server offered after EHLO (after the EHLO that followed
 * the TLS handshake, under TLS). */
#define SMTP_EXT_PIPELINING 0x01
#define SMTP_EXT_SIZE 0x02
#define SMTP_EXT_8BITMIME 0x04
#define SMTP_EXT_SMTPUTF8 0x08
#define SMTP_EXT_STARTTLS 0x10
#define SMTP_EXT_DSN 0x20
unsigned smtp_client_extensions(const struct smtp_client *c, uint64_t *size_limit);

/* Classifies a reply as a provider throttling signal (421, 4.7.x, known
 * rate-limit texts). Exposed for tests. */
int smtp_reply_is_throttle(const struct smtp_reply *r);

#endif
