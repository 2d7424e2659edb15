/*
 * server.c - the SMTP server's sockets (see server.h): a listening TCP
 * handle on the libuv loop, and one session per client that moves bytes
 * between its socket, BearSSL (smtp/tls.c) and the protocol core
 * (server_core.c), and runs its timers.
 *
 * Trust: every byte from a client is hostile; this file only moves it,
 * with fixed buffers (SESSION_IN bytes of plaintext, SESSION_IN of
 * ciphertext) and stops reading while they are full, while a hook runs,
 * or while more than WRITE_QUEUE_MAX bytes of replies wait to be written
 * (a client that never reads cannot make us buffer without bound). All
 * parsing is the core's.
 *
 * TLS: the TLS pump is the client's (client.c), after BearSSL's ssl_io.c:
 * ciphertext read goes into the engine, plaintext comes out into the
 * core's input buffer, records the engine has ready are copied into
 * uv_write requests after every step. At STARTTLS the 220 is written in
 * plaintext and every plaintext byte not yet taken is dropped; from then
 * on every byte read goes to the engine, so nothing sent before the
 * handshake can reach the core as a command (CVE-2011-0411).
 *
 * Timers: one per session. The command timeout runs from the moment the
 * server waits for a command and is restarted only when a whole line
 * arrives, so trickling a line byte by byte does not hold a session; in
 * DATA the data timeout restarts on every read, and from 30 s into DATA
 * (or one data timeout, if shorter) the average rate must stay above
 * min_data_rate. Either ends the session with 421 4.4.2. No timer runs
 * while the owner's hook does.
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SESSION_IN 16384
#define WRITE_QUEUE_MAX (256 * 1024)
#define CLOSE_GRACE_MS 5000
#define RATE_GRACE_MS 30000

enum timer_mode {
    T_NONE,
    T_GREET,      /* greet_delay_ms before the 220 */
    T_COMMAND,    /* command_timeout_ms */
    T_DATA,       /* data_timeout_ms */
    T_AUTH_DELAY, /* a failed AUTH's delay_ms */
    T_CLOSE,      /* the grace for writes before the socket closes */
};

struct smtp_server {
    uv_loop_t *loop;
    uv_tcp_t tcp;
    int implicit_tls;
    struct smtp_server_config cfg;        /* hostname: our copy; cert: our reference */
    struct smtp_server_hooks hooks;       /* the owner's */
    struct smtp_server_hooks core_hooks;  /* what the cores call: ours, forwarding */
    struct smtp_server_session *sessions; /* a doubly linked list */
    unsigned nsessions;
    int closing, listener_open;
    void (*done)(void *arg);
    void *done_arg;
};

struct smtp_server_session {
    struct smtp_server *srv;
    struct smtp_server_session *prev, *next;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown_req;
    int handles; /* open libuv handles: freed when 0 */
    enum timer_mode timer_mode;
    struct smtp_server_client cl;
    struct smtp_server_core *core; /* NULL when connect refused */
    struct tls_server_cert *cert;  /* this session's reference */
    struct tls_session *tls;       /* from STARTTLS (or the start) on */
    int tls_active;                /* handshake done */
    int connect_called;
    int greeted;
    int reading;
    int closing, handles_closing;
    int owner_waiting; /* the auth or message hook has not answered yet */
    int processing;    /* inside process(): answers from hooks only record */
    size_t queued;     /* bytes handed to uv_write, not yet written */
    unsigned long last_lines;
    int last_in_data;
    uint64_t data_start, data_bytes;
    size_t inlen, cinlen;
    char in[SESSION_IN];  /* plaintext the core has not taken */
    char cin[SESSION_IN]; /* ciphertext the engine has not taken */
};

static void process(struct smtp_server_session *s);
static void session_close(struct smtp_server_session *s);

/* ---- output ---- */

struct write_req {
    uv_write_t req;
    struct smtp_server_session *s;
    size_t len;
    char data[];
};

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = req->data;
    struct smtp_server_session *s = w->s;
    int was_full = s->queued >= WRITE_QUEUE_MAX;

    s->queued -= w->len;
    free(w);
    if (s->closing)
        return;
    if (status < 0) {
        session_close(s);
        return;
    }
    if (was_full && s->queued < WRITE_QUEUE_MAX)
        process(s);
}

static int write_raw(struct smtp_server_session *s, const void *data, size_t len)
{
    struct write_req *w;
    uv_buf_t b;
    int rc;

    if (!len)
        return 0;
    if (!(w = malloc(sizeof(*w) + len)))
        return -ENOMEM;
    memcpy(w->data, data, len);
    w->s = s;
    w->len = len;
    w->req.data = w;
    b = uv_buf_init(w->data, (unsigned)len);
    if ((rc = uv_write(&w->req, (uv_stream_t *)&s->tcp, &b, 1, on_write)) != 0) {
        free(w);
        return rc;
    }
    s->queued += len;
    return 0;
}

/* Copies every record the engine has ready into write requests. */
static int tls_drain(struct smtp_server_session *s)
{
    const unsigned char *p;
    size_t len;
    int rc;

    while ((p = tls_session_pending(s->tls, &len)) != NULL) {
        if ((rc = write_raw(s, p, len)) != 0)
            return rc;
        tls_session_sent(s->tls, len);
    }
    return 0;
}

/* Puts all of data into the engine, moving records out as it fills. */
static int tls_put(struct smtp_server_session *s, const char *data, size_t len)
{
    while (len > 0) {
        size_t n = tls_session_write(s->tls, data, len);
        if (n == 0) {
            size_t before = s->queued;
            int rc = tls_drain(s);
            if (rc)
                return rc;
            if (s->queued == before)
                return -EPIPE; /* closed: the engine takes nothing more */
            continue;
        }
        data += n;
        len -= n;
    }
    tls_session_flush(s->tls);
    return tls_drain(s);
}

/* Sends the core's replies: in plaintext, or through TLS once it is up. */
static int flush_output(struct smtp_server_session *s)
{
    size_t len;
    const char *out = smtp_server_core_output(s->core, &len);
    int rc = 0;

    if (len && !s->closing) {
        if (!s->tls)
            rc = write_raw(s, out, len);
        else if (s->tls_active)
            rc = tls_put(s, out, len);
        /* else: mid-handshake, there is no channel for a reply */
    }
    smtp_server_core_output_clear(s->core);
    return rc;
}

/* ---- timers ---- */

static void on_timer(uv_timer_t *t);

static void arm(struct smtp_server_session *s, enum timer_mode mode, uint64_t ms)
{
    s->timer_mode = mode;
    uv_timer_start(&s->timer, on_timer, ms, 0);
}

static void disarm(struct smtp_server_session *s)
{
    s->timer_mode = T_NONE;
    uv_timer_stop(&s->timer);
}

static unsigned command_timeout(const struct smtp_server *srv)
{
    return srv->cfg.command_timeout_ms ? srv->cfg.command_timeout_ms
                                       : SMTP_SERVER_DEFAULT_COMMAND_TIMEOUT;
}

/* Picks the timer for where the session stands after a step. */
static void timers_update(struct smtp_server_session *s, size_t nread)
{
    int in_data = smtp_server_core_in_data(s->core);
    unsigned long lines = smtp_server_core_lines(s->core);
    enum smtp_server_core_status st = smtp_server_core_status(s->core);

    if (s->closing || s->timer_mode == T_AUTH_DELAY || s->timer_mode == T_GREET)
        return;
    if (st == SMTP_CORE_WAIT) {
        disarm(s);
        return;
    }
    if (in_data && !s->last_in_data) {
        s->data_start = uv_now(s->srv->loop);
        s->data_bytes = 0;
    }
    if (in_data) {
        s->data_bytes += nread;
        if (nread || !s->last_in_data || s->timer_mode != T_DATA)
            arm(s, T_DATA,
                s->srv->cfg.data_timeout_ms ? s->srv->cfg.data_timeout_ms
                                            : SMTP_SERVER_DEFAULT_DATA_TIMEOUT);
    } else if (lines != s->last_lines || s->last_in_data || s->timer_mode != T_COMMAND) {
        arm(s, T_COMMAND, command_timeout(s->srv));
    }
    s->last_in_data = in_data;
    s->last_lines = lines;
}

/* A client that trickles its message: 421 once it is below the rate.
 * The average is judged from RATE_GRACE_MS into DATA (a new connection's
 * first seconds are slow), or from one data timeout in if that is shorter:
 * a client allowed that long between reads is allowed that long to get up
 * to speed, no longer. */
static int too_slow(struct smtp_server_session *s)
{
    uint64_t elapsed = uv_now(s->srv->loop) - s->data_start;
    unsigned rate = s->srv->cfg.min_data_rate;
    unsigned grace = s->srv->cfg.data_timeout_ms ? s->srv->cfg.data_timeout_ms
                                                 : SMTP_SERVER_DEFAULT_DATA_TIMEOUT;

    if (grace > RATE_GRACE_MS)
        grace = RATE_GRACE_MS;
    return rate && s->last_in_data && elapsed > grace && s->data_bytes * 1000 / elapsed < rate;
}

static void greet(struct smtp_server_session *s)
{
    s->greeted = 1;
    smtp_server_core_greet(s->core);
    s->timer_mode = T_NONE;
    process(s);
}

static void handles_close(struct smtp_server_session *s);

static void on_timer(uv_timer_t *t)
{
    struct smtp_server_session *s = t->data;
    enum timer_mode mode = s->timer_mode;

    s->timer_mode = T_NONE;
    switch (mode) {
    case T_GREET:
        greet(s);
        break;
    case T_AUTH_DELAY:
        smtp_server_core_auth_done(s->core, 0);
        process(s);
        break;
    case T_COMMAND:
    case T_DATA:
        if (s->tls && !s->tls_active) {
            session_close(s); /* a handshake that never ends: no channel for a 421 */
            break;
        }
        smtp_server_core_timeout(s->core);
        process(s);
        break;
    case T_CLOSE:
        handles_close(s);
        break;
    case T_NONE:
        break;
    }
}

/* ---- closing ---- */

static void server_maybe_done(struct smtp_server *srv)
{
    if (!srv->closing || srv->listener_open || srv->nsessions)
        return;
    tls_server_cert_unref(srv->cfg.cert);
    free((char *)srv->cfg.hostname);
    if (srv->done)
        srv->done(srv->done_arg);
    free(srv);
}

/* Frees s once its handles are closed and no hook can still answer. */
static void session_maybe_free(struct smtp_server_session *s)
{
    struct smtp_server *srv = s->srv;

    if (s->handles || s->owner_waiting)
        return;
    if (s->connect_called && srv->hooks.closed)
        srv->hooks.closed(srv->hooks.arg, &s->cl);
    if (s->prev)
        s->prev->next = s->next;
    else
        srv->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    srv->nsessions--;
    tls_session_free(s->tls);
    smtp_server_core_free(s->core);
    tls_server_cert_unref(s->cert);
    free(s);
    server_maybe_done(srv);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct smtp_server_session *s = h->data;
    s->handles--;
    session_maybe_free(s);
}

static void handles_close(struct smtp_server_session *s)
{
    if (s->handles_closing)
        return;
    s->handles_closing = 1;
    uv_close((uv_handle_t *)&s->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&s->timer, on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    handles_close(req->data);
}

/* Ends the session: what was queued is still written (within
 * CLOSE_GRACE_MS), then the socket closes. */
static void session_close(struct smtp_server_session *s)
{
    if (s->closing)
        return;
    s->closing = 1;
    uv_read_stop((uv_stream_t *)&s->tcp);
    s->reading = 0;
    if (s->tls && s->tls_active) {
        tls_session_close(s->tls);
        tls_drain(s);
    }
    s->shutdown_req.data = s;
    if (uv_shutdown(&s->shutdown_req, (uv_stream_t *)&s->tcp, on_shutdown) != 0) {
        handles_close(s);
        return;
    }
    arm(s, T_CLOSE, CLOSE_GRACE_MS);
}

/* ---- input ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct smtp_server_session *s = h->data;
    if (s->tls) {
        buf->base = s->cin + s->cinlen;
        buf->len = sizeof(s->cin) - s->cinlen;
    } else {
        buf->base = s->in + s->inlen;
        buf->len = sizeof(s->in) - s->inlen;
    }
}

static void tls_established(struct smtp_server_session *s)
{
    struct tls_info ti;

    s->tls_active = 1;
    s->cl.tls = 1;
    tls_session_info(s->tls, &ti);
    snprintf(s->cl.tls_desc, sizeof(s->cl.tls_desc), "%s %s", ti.version, ti.cipher);
    if (s->srv->implicit_tls && !s->greeted) {
        if (s->srv->cfg.greet_delay_ms)
            arm(s, T_GREET, s->srv->cfg.greet_delay_ms);
        else
            greet(s);
    } else {
        smtp_server_core_tls_started(s->core);
    }
}

/* Moves ciphertext into the engine and plaintext out of it until neither
 * moves. Returns 1 if anything moved, 0 if not, -1 when the session ended. */
static int tls_step(struct smtp_server_session *s)
{
    int moved = 0;

    for (;;) {
        int progress = 0;
        if (tls_drain(s) != 0) {
            session_close(s);
            return -1;
        }
        if (s->inlen < sizeof(s->in)) {
            size_t got = tls_session_read(s->tls, s->in + s->inlen, sizeof(s->in) - s->inlen);
            s->inlen += got;
            progress |= got > 0;
        }
        enum tls_state st = tls_session_state(s->tls);
        if (st == TLS_STATE_CLOSED) {
            /* The peer's close_notify, or a failed handshake or record: in
             * either case there is nobody left to reply to. */
            session_close(s);
            return -1;
        }
        if (st == TLS_STATE_OPEN && !s->tls_active) {
            tls_established(s);
            progress = 1;
            if (s->closing)
                return -1;
        }
        if (s->cinlen) {
            size_t used = tls_session_feed(s->tls, s->cin, s->cinlen);
            memmove(s->cin, s->cin + used, s->cinlen - used);
            s->cinlen -= used;
            progress |= used > 0;
        }
        if (!progress)
            return moved;
        moved = 1;
    }
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void reading_update(struct smtp_server_session *s)
{
    enum smtp_server_core_status st = smtp_server_core_status(s->core);
    int want = !s->closing && s->queued < WRITE_QUEUE_MAX &&
               (st == SMTP_CORE_INPUT || st == SMTP_CORE_STARTTLS) &&
               (s->tls ? s->cinlen < sizeof(s->cin) : s->inlen < sizeof(s->in));

    if (want && !s->reading)
        s->reading = uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read) == 0;
    else if (!want && s->reading) {
        uv_read_stop((uv_stream_t *)&s->tcp);
        s->reading = 0;
    }
}

/* Runs the session until nothing moves: TLS, the core, output, status. */
static void process(struct smtp_server_session *s)
{
    if (s->processing || s->closing)
        return;
    s->processing = 1;
    for (;;) {
        int progress = 0;
        enum smtp_server_core_status st;

        if (s->tls) {
            int r = tls_step(s);
            if (r < 0)
                break;
            progress |= r;
        }
        st = smtp_server_core_status(s->core);
        if (s->srv->closing && (st == SMTP_CORE_INPUT || st == SMTP_CORE_STARTTLS)) {
            if (s->tls && !s->tls_active) {
                session_close(s);
                break;
            }
            smtp_server_core_shutdown(s->core);
        }
        if (st == SMTP_CORE_INPUT && s->inlen && s->queued < WRITE_QUEUE_MAX &&
            (!s->tls || s->tls_active)) {
            size_t n = smtp_server_core_feed(s->core, s->in, s->inlen);
            memmove(s->in, s->in + n, s->inlen - n);
            s->inlen -= n;
            progress |= n > 0;
        }
        if (flush_output(s) != 0) {
            session_close(s);
            break;
        }
        st = smtp_server_core_status(s->core);
        if (st == SMTP_CORE_CLOSE) {
            session_close(s);
            break;
        }
        if (st == SMTP_CORE_STARTTLS && !s->tls) {
            /* Whatever plaintext is left came before the handshake. */
            s->inlen = 0;
            if (tls_session_server(s->cert, &s->tls) != 0) {
                session_close(s);
                break;
            }
            progress = 1;
        }
        if (!progress)
            break;
    }
    s->processing = 0;
    if (!s->closing) {
        timers_update(s, 0);
        reading_update(s);
    }
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct smtp_server_session *s = stream->data;

    if (s->closing)
        return;
    if (nread == UV_ENOBUFS) {
        reading_update(s);
        return;
    }
    if (nread < 0) {
        /* The client went away: whatever it was sending is dropped; a
         * message without its final dot never reached the owner. */
        session_close(s);
        return;
    }
    if (s->tls)
        s->cinlen += (size_t)nread;
    else
        s->inlen += (size_t)nread;
    if (smtp_server_core_in_data(s->core)) {
        timers_update(s, (size_t)nread);
        if (too_slow(s)) {
            smtp_server_core_too_slow(s->core);
            s->inlen = 0;
        }
    }
    process(s);
}

/* ---- the owner's answers ---- */

/* The cores' hooks: the owner's, recording that an answer is owed. */

static void core_auth(void *arg, struct smtp_server_session *s, struct smtp_server_client *cl,
                      const char *authzid, const char *user, const char *password)
{
    struct smtp_server *srv = arg;
    s->owner_waiting = 1;
    srv->hooks.auth(srv->hooks.arg, s, cl, authzid, user, password);
}

static int core_mail(void *arg, struct smtp_server_client *cl, const char *sender, uint64_t size,
                     struct smtp_server_verdict *v)
{
    struct smtp_server *srv = arg;
    return srv->hooks.mail(srv->hooks.arg, cl, sender, size, v);
}

static int core_rcpt(void *arg, struct smtp_server_client *cl, const struct smtp_server_rcpt *r,
                     struct smtp_server_verdict *v)
{
    struct smtp_server *srv = arg;
    return srv->hooks.rcpt(srv->hooks.arg, cl, r, v);
}

static void core_message(void *arg, struct smtp_server_session *s, struct smtp_server_client *cl,
                         const struct smtp_server_envelope *env, const char *content, size_t len)
{
    struct smtp_server *srv = arg;
    s->owner_waiting = 1;
    srv->hooks.message(srv->hooks.arg, s, cl, env, content, len);
}

/* The owner answered a hook: 1 when the session still wants the answer
 * (else it was not waiting, or it is closing and may now be freed). */
static int owner_answered(struct smtp_server_session *s)
{
    if (!s->owner_waiting)
        return 0;
    s->owner_waiting = 0;
    if (s->closing) {
        session_maybe_free(s);
        return 0;
    }
    return 1;
}

void smtp_server_auth_done(struct smtp_server_session *s, int ok, unsigned delay_ms)
{
    if (!owner_answered(s))
        return;
    if (!ok && delay_ms) {
        /* The core stays in WAIT: nothing is read until the delay ends. */
        arm(s, T_AUTH_DELAY, delay_ms);
        return;
    }
    smtp_server_core_auth_done(s->core, ok);
    process(s);
}

void smtp_server_message_done(struct smtp_server_session *s, const struct smtp_server_verdict *v,
                              const char *id)
{
    if (!owner_answered(s))
        return;
    smtp_server_core_message_done(s->core, v, id);
    process(s);
}

/* ---- listening ---- */

static void peer_text(struct smtp_server_session *s)
{
    int len = sizeof(s->cl.peer);
    const struct sockaddr_storage *ss = &s->cl.peer;

    if (uv_tcp_getpeername(&s->tcp, (struct sockaddr *)&s->cl.peer, &len) != 0) {
        snprintf(s->cl.peer_text, sizeof(s->cl.peer_text), "unknown");
        return;
    }
    if (ss->ss_family == AF_INET6)
        uv_ip6_name((const struct sockaddr_in6 *)ss, s->cl.peer_text, sizeof(s->cl.peer_text));
    else
        uv_ip4_name((const struct sockaddr_in *)ss, s->cl.peer_text, sizeof(s->cl.peer_text));
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct smtp_server *srv = listener->data;
    struct smtp_server_session *s;
    struct smtp_server_verdict v = {0};

    if (status < 0 || srv->closing || !(s = calloc(1, sizeof(*s))))
        return;
    s->srv = srv;
    uv_tcp_init(srv->loop, &s->tcp);
    uv_timer_init(srv->loop, &s->timer);
    s->tcp.data = s->timer.data = s;
    s->handles = 2;
    s->next = srv->sessions;
    if (s->next)
        s->next->prev = s;
    srv->sessions = s;
    srv->nsessions++;
    if (uv_accept(listener, (uv_stream_t *)&s->tcp) != 0) {
        handles_close(s);
        return;
    }
    peer_text(s);
    s->cert = tls_server_cert_ref(srv->cfg.cert);
    if (smtp_server_core_new(&srv->cfg, &srv->core_hooks, &s->cl, s->cert != NULL, s, &s->core) !=
        0) {
        handles_close(s);
        return;
    }
    s->connect_called = 1;
    if (srv->hooks.connect && (srv->hooks.connect(srv->hooks.arg, &s->cl, &v) != 0 || v.code)) {
        char line[300];
        int n = snprintf(line, sizeof(line), "%03d %s\r\n",
                         v.code >= 400 && v.code <= 599 ? v.code : 421,
                         v.code ? v.text : "4.3.2 Service not available");
        /* Refused: for implicit TLS there is no channel for a reply. */
        if (!srv->implicit_tls && n > 0)
            write_raw(s, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
        session_close(s);
        return;
    }
    if (srv->implicit_tls) {
        if (!s->cert || tls_session_server(s->cert, &s->tls) != 0) {
            session_close(s);
            return;
        }
        /* The handshake must finish within the command timeout. */
        arm(s, T_COMMAND, command_timeout(srv));
    } else if (srv->cfg.greet_delay_ms) {
        arm(s, T_GREET, srv->cfg.greet_delay_ms);
    } else {
        greet(s);
        return;
    }
    process(s);
}

/* "127.0.0.1:587", "[::1]:587", "0.0.0.0:465" → sockaddr. */
static int addr_parse(const char *addr, struct sockaddr_storage *ss)
{
    char host[64];
    const char *colon, *h = addr;
    size_t hlen;
    char *end;
    unsigned long port;

    if (*addr == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        h = addr + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        if (!(colon = strrchr(addr, ':')))
            return -EINVAL;
        hlen = (size_t)(colon - addr);
    }
    if (hlen == 0 || hlen >= sizeof(host))
        return -EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    port = strtoul(colon + 1, &end, 10);
    if (!colon[1] || *end || port == 0 || port > 65535)
        return -EINVAL;
    memset(ss, 0, sizeof(*ss));
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    return -EINVAL;
}

static void on_listener_closed(uv_handle_t *h)
{
    struct smtp_server *srv = h->data;
    srv->listener_open = 0;
    server_maybe_done(srv);
}

int smtp_server_listen(uv_loop_t *loop, const char *addr, int implicit_tls,
                       const struct smtp_server_config *cfg, const struct smtp_server_hooks *hooks,
                       struct smtp_server **out, char *err, size_t errlen)
{
    struct smtp_server *srv;
    struct sockaddr_storage ss;
    int rc;

    *out = NULL;
    if (addr_parse(addr, &ss) != 0) {
        snprintf(err, errlen, "%s: not an address:port", addr);
        return -EINVAL;
    }
    if (implicit_tls && !cfg->cert) {
        snprintf(err, errlen, "%s: implicit TLS needs a certificate", addr);
        return -EINVAL;
    }
    if (!(srv = calloc(1, sizeof(*srv)))) {
        snprintf(err, errlen, "%s: out of memory", addr);
        return -ENOMEM;
    }
    srv->loop = loop;
    srv->implicit_tls = implicit_tls;
    srv->cfg = *cfg;
    srv->hooks = *hooks;
    srv->core_hooks.arg = srv;
    srv->core_hooks.auth = hooks->auth ? core_auth : NULL;
    srv->core_hooks.mail = hooks->mail ? core_mail : NULL;
    srv->core_hooks.rcpt = hooks->rcpt ? core_rcpt : NULL;
    srv->core_hooks.message = hooks->message ? core_message : NULL;
    srv->cfg.hostname = strdup(cfg->hostname ? cfg->hostname : "localhost");
    srv->cfg.cert = tls_server_cert_ref(cfg->cert);
    uv_tcp_init(loop, &srv->tcp);
    srv->tcp.data = srv;
    srv->listener_open = 1;
    if (!srv->cfg.hostname) {
        rc = UV_ENOMEM;
        goto fail;
    }
    if ((rc = uv_tcp_bind(&srv->tcp, (const struct sockaddr *)&ss, 0)) != 0 ||
        (rc = uv_listen((uv_stream_t *)&srv->tcp, 128, on_connection)) != 0)
        goto fail;
    *out = srv;
    return 0;
fail:
    snprintf(err, errlen, "%s: %s", addr, uv_strerror(rc));
    /* The handle must be closed before srv is freed: its close callback
     * frees it (server_maybe_done) when the loop next runs. */
    srv->closing = 1;
    uv_close((uv_handle_t *)&srv->tcp, on_listener_closed);
    return rc;
}

void smtp_server_set_cert(struct smtp_server *srv, struct tls_server_cert *cert)
{
    struct tls_server_cert *old = srv->cfg.cert;
    srv->cfg.cert = tls_server_cert_ref(cert);
    tls_server_cert_unref(old);
}

unsigned smtp_server_sessions(const struct smtp_server *srv)
{
    return srv->nsessions;
}

void smtp_server_close(struct smtp_server *srv, void (*done)(void *arg), void *arg)
{
    if (srv->closing)
        return;
    srv->closing = 1;
    srv->done = done;
    srv->done_arg = arg;
    uv_close((uv_handle_t *)&srv->tcp, on_listener_closed);
    for (struct smtp_server_session *s = srv->sessions; s; s = s->next) {
        if (!s->core)
            continue;
        if (s->timer_mode == T_GREET)
            disarm(s);
        process(s); /* 421 4.3.2, unless a hook runs: then after its answer */
    }
}
