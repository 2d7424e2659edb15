/*
 * server.h - the SMTP server: listening sockets on the libuv loop and one
 * session per client (RFC 5321; submission, RFC 6409; STARTTLS, RFC 3207;
 * implicit TLS, RFC 8314; AUTH, RFC 4954; PIPELINING, RFC 2920).
 *
 * This part speaks the protocol and owns the bytes: bounded command lines,
 * the state machine, DATA with strict CRLF line endings and dot-unstuffing,
 * TLS through smtp/tls.h. Every decision about WHO may do WHAT (is this
 * address allowed to connect, is this password right, may this client
 * send as this sender, is the message stored) is asked of the owner
 * through the hooks below; nothing here knows the queue or the users.
 *
 * Trust: everything a client sends is hostile until parsed here with
 * bounds; what reaches a hook is validated (addresses and parameters hold
 * no control characters, lengths are bounded).
 */
#ifndef MTA_SMTP_SERVER_H
#define MTA_SMTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "tls.h"

#define SMTP_SERVER_LINE_MAX 512  /* a command line with its CRLF (RFC 5321 4.5.3.1.4) */
#define SMTP_SERVER_TEXT_MAX 1000 /* a text line of DATA with its CRLF (4.5.3.1.6) */
#define SMTP_SERVER_ADDR_MAX 256  /* a path without brackets, with NUL */
#define SMTP_SERVER_ENVID_MAX 101 /* RFC 3461 ENVID (xtext decoded), with NUL */
#define SMTP_SERVER_ORCPT_MAX 501 /* RFC 3461 ORCPT "type;addr" (decoded), with NUL */
#define SMTP_SERVER_USER_MAX 256  /* an AUTH identity, with NUL */

/* ---- server certificate ----
 *
 * struct tls_server_cert and tls_server_cert_load/ref/unref are declared
 * in tls.h (included above), beside tls_session_server which uses them.
 */

/* ---- the owner's hooks ---- */

struct smtp_server_session; /* opaque: one client */

/* What a hook answers: an SMTP reply code and text (with its enhanced
 * code, e.g. "5.7.1 Sender not allowed"). code 0 means "accept" with the
 * default 2xx reply. */
struct smtp_server_verdict {
    int code;
    char text[256];
};

/* One recipient as received. */
struct smtp_server_rcpt {
    char address[SMTP_SERVER_ADDR_MAX];
    unsigned notify;                   /* SMTP_NOTIFY_* bits; 0 when not given */
    char orcpt[SMTP_SERVER_ORCPT_MAX]; /* "rfc822;a@b" decoded, or "" */
};
#define SMTP_NOTIFY_NEVER 0x1
#define SMTP_NOTIFY_SUCCESS 0x2
#define SMTP_NOTIFY_FAILURE 0x4
#define SMTP_NOTIFY_DELAY 0x8

/* A complete transaction, handed to the message hook. */
struct smtp_server_envelope {
    char sender[SMTP_SERVER_ADDR_MAX]; /* "" for the null sender */
    int body_8bit;                     /* BODY=8BITMIME */
    int smtputf8;                      /* SMTPUTF8 */
    int ret_hdrs;                      /* RET=HDRS (0: FULL or not given) */
    char envid[SMTP_SERVER_ENVID_MAX]; /* decoded, or "" */
    size_t nrcpt;
    const struct smtp_server_rcpt *rcpt;
};

/* Facts about a session, for the hooks and logs. */
struct smtp_server_client {
    struct sockaddr_storage peer;
    char peer_text[64];              /* "192.0.2.1" */
    char helo[256];                  /* as given, control characters replaced */
    int tls;                         /* the session runs over TLS now */
    char tls_desc[128];              /* "TLSv1.2 TLS_ECDHE_..." when tls */
    char user[SMTP_SERVER_USER_MAX]; /* authenticated identity, or "" */
    void *owner_data;                /* free for the owner (set in connect) */
};

struct smtp_server_hooks {
    void *arg;
    /*
     * A client connected. Return 0 to greet it, or fill v (4xx/5xx) to
     * refuse: the reply is sent and the connection closed (per-address
     * limits, for example).
     */
    int (*connect)(void *arg, struct smtp_server_client *cl, struct smtp_server_verdict *v);
    /*
     * AUTH PLAIN or LOGIN, only ever over TLS. Asynchronous (password
     * hashing is slow: run it on a worker thread): the owner later calls
     * smtp_server_auth_done(s, ok, delay_ms). authzid may be "".
     */
    void (*auth)(void *arg, struct smtp_server_session *s, struct smtp_server_client *cl,
                 const char *authzid, const char *user, const char *password);
    /* MAIL FROM, after the protocol checks. Fill v to refuse (530 5.7.0
     * authentication required, 553 5.7.1 sender not allowed, 452 4.3.1
     * queue full, ...); return 0 to accept. size is the SIZE= value or 0. */
    int (*mail)(void *arg, struct smtp_server_client *cl, const char *sender, uint64_t size,
                struct smtp_server_verdict *v);
    /* RCPT TO, after the protocol checks (syntax, max_recipients). */
    int (*rcpt)(void *arg, struct smtp_server_client *cl, const struct smtp_server_rcpt *r,
                struct smtp_server_verdict *v);
    /*
     * The final dot: the whole message (CRLF lines, dot-unstuffed,
     * size-checked, line endings checked) and its envelope, valid until
     * smtp_server_message_done(s, &verdict) is called (asynchronously:
     * the owner commits to the queue first). The reply the client gets is
     * the verdict (code 0: "250 2.0.0 Ok: queued as ID" with the id given).
     */
    void (*message)(void *arg, struct smtp_server_session *s, struct smtp_server_client *cl,
                    const struct smtp_server_envelope *env, const char *content, size_t len);
    /* The session ended (client quit, timeout, error); cl is freed after. */
    void (*closed)(void *arg, struct smtp_server_client *cl);
};

/* AUTH result: ok 1 → 235; 0 → 535 5.7.8 after delay_ms (0: at once);
 * -1 → 421 4.7.0 and the session closes (too many failures). */
void smtp_server_auth_done(struct smtp_server_session *s, int ok, unsigned delay_ms);

/*
 * The message hook's answer. v->code 0 → "250 2.0.0 Ok: queued as " + id
 * (id may be NULL then "250 2.0.0 Ok"); otherwise v's code and text.
 */
void smtp_server_message_done(struct smtp_server_session *s, const struct smtp_server_verdict *v,
                              const char *id);

/* ---- listening ---- */

struct smtp_server_config {
    const char *hostname;      /* greeting, EHLO reply */
    uint64_t max_message_size; /* SIZE, and the limit: 552 after reading to the end */
    unsigned max_recipients;   /* more: 452 4.5.3 for each extra */
    int normalize_bare_lf;     /* 0: a bare CR or LF in DATA refuses the message (550 5.6.0 / 554);
                                  1: it is normalised to CRLF. Never a message boundary. */
    unsigned command_timeout_ms; /* waiting for a command (RFC 5321: 5 min) */
    unsigned data_timeout_ms;    /* between DATA reads (3 min) */
    unsigned min_data_rate;      /* bytes/s averaged over DATA after its first 30 s
                                  * (or data_timeout_ms if shorter); 0: none */
    unsigned max_errors;         /* protocol errors before 421 and disconnect (e.g. 10) */
    struct tls_server_cert
        *cert;               /* NULL: no STARTTLS, and no AUTH (the server takes a reference) */
    unsigned greet_delay_ms; /* wait this long before the 220; a client that talks
                                first is refused (554 5.5.0). 0: greet at once */
};
/* A zero in these fields of smtp_server_config means the default below. */
#define SMTP_SERVER_DEFAULT_MAX_SIZE (10u * 1024 * 1024)
#define SMTP_SERVER_DEFAULT_MAX_RCPT 100
#define SMTP_SERVER_DEFAULT_MAX_ERRORS 10
#define SMTP_SERVER_DEFAULT_COMMAND_TIMEOUT 300000
#define SMTP_SERVER_DEFAULT_DATA_TIMEOUT 180000

struct smtp_server; /* one listening socket and its sessions */

/*
 * Listens on addr ("127.0.0.1:587", "[::1]:587", "0.0.0.0:465"). implicit_tls
 * 1: TLS from the first byte (port 465, RFC 8314), else plaintext with
 * STARTTLS offered when cfg->cert is set. cfg and hooks are copied (the
 * server takes its own reference to cfg->cert). Binding happens here:
 * call it while still privileged. Returns 0 with *out, or a negative
 * errno with err.
 */
int smtp_server_listen(uv_loop_t *loop, const char *addr, int implicit_tls,
                       const struct smtp_server_config *cfg, const struct smtp_server_hooks *hooks,
                       struct smtp_server **out, char *err, size_t errlen);

/* New sessions use cert from now on (SIGHUP after a renewal); running
 * sessions keep the one they started with. The server takes a reference. */
void smtp_server_set_cert(struct smtp_server *srv, struct tls_server_cert *cert);

/* Sessions open now. */
unsigned smtp_server_sessions(const struct smtp_server *srv);

/* Stops listening and closes every session; a session waiting for
 * message_done or auth_done closes once that comes (the owner must still
 * answer). done(arg) runs when everything is closed; then the server is
 * freed. */
void smtp_server_close(struct smtp_server *srv, void (*done)(void *arg), void *arg);

/* ---- the protocol core ----
 *
 * The session's protocol without any I/O, for smtp_server's sessions and
 * for unit tests and fuzzing: bytes in (plaintext, after TLS), replies
 * out, hooks called as a session would call them. One core per client.
 * The transport loop:
 *
 *   smtp_server_core_greet() once (after the TLS handshake with implicit TLS);
 *   n = smtp_server_core_feed(bytes): keep the bytes it did not take;
 *   send smtp_server_core_output(), then smtp_server_core_output_clear();
 *   then act on smtp_server_core_status():
 *     INPUT: feed what is left and whatever comes next;
 *     WAIT: a hook runs; feed nothing until its _done (then feed the rest);
 *     STARTTLS: the 220 is in the output: drop every unconsumed
 *       plaintext byte, start the TLS handshake, and call
 *       smtp_server_core_tls_started() once it is done (cl->tls set);
 *     CLOSE: send the output, then close the connection.
 */

struct smtp_server_core;

enum smtp_server_core_status {
    SMTP_CORE_INPUT,
    SMTP_CORE_WAIT,
    SMTP_CORE_STARTTLS,
    SMTP_CORE_CLOSE,
};

/*
 * A core for one client. cfg, hooks and cl must outlive it (cl is where
 * the core records helo and user; the caller fills peer and tls).
 * offer_tls: a certificate is there, so STARTTLS may be offered (before
 * TLS) and AUTH (over TLS). session is what the auth and message hooks
 * get as their smtp_server_session (NULL in tests). Returns 0 or -ENOMEM;
 * *out is the caller's (smtp_server_core_free).
 */
int smtp_server_core_new(const struct smtp_server_config *cfg,
                         const struct smtp_server_hooks *hooks, struct smtp_server_client *cl,
                         int offer_tls, struct smtp_server_session *session,
                         struct smtp_server_core **out);

/* Frees c (and any message being received); NULL does nothing. */
void smtp_server_core_free(struct smtp_server_core *c);

/* Queues the 220 greeting. Bytes fed before it are an early talker. */
void smtp_server_core_greet(struct smtp_server_core *c);

/*
 * Takes client bytes. Returns how many were taken: fewer than len when
 * the status is no longer INPUT, or when the output is full (send it,
 * clear it, feed again).
 */
size_t smtp_server_core_feed(struct smtp_server_core *c, const char *data, size_t len);

enum smtp_server_core_status smtp_server_core_status(const struct smtp_server_core *c);

/* The replies queued so far (CRLF lines) and their length; valid until
 * the next call on c. */
const char *smtp_server_core_output(const struct smtp_server_core *c, size_t *len);
void smtp_server_core_output_clear(struct smtp_server_core *c);

/* The STARTTLS handshake is done: the session starts over (EHLO again). */
void smtp_server_core_tls_started(struct smtp_server_core *c);

/* The answers of the asynchronous hooks (the session calls these; any
 * delay of a failed AUTH is the caller's; ok as in smtp_server_auth_done).
 * Ignored when nothing waits. */
void smtp_server_core_auth_done(struct smtp_server_core *c, int ok);
void smtp_server_core_message_done(struct smtp_server_core *c, const struct smtp_server_verdict *v,
                                   const char *id);

/* Queues a 421 (4.4.2 timeout or data rate too low, or 4.3.2 shutting
 * down) and moves to CLOSE, unless a hook is running (WAIT) or already
 * CLOSE. */
void smtp_server_core_timeout(struct smtp_server_core *c);
void smtp_server_core_too_slow(struct smtp_server_core *c);
void smtp_server_core_shutdown(struct smtp_server_core *c);

/* 1 while message content is being received (for the data timeout and
 * minimum rate), else 0. */
int smtp_server_core_in_data(const struct smtp_server_core *c);

/* How many lines (commands, AUTH responses) were complete so far: the
 * session restarts its command timer when this moves, not on every
 * byte, so that trickling a line byte by byte does not hold the slot. */
unsigned long smtp_server_core_lines(const struct smtp_server_core *c);

#endif
