/*
 * engine.c - the delivery engine (see engine.h).
 *
 * Work flows in one direction:
 *   claim job (writer thread): due recipients -> INFLIGHT, with their
 *     messages' envelopes and content copied out
 *   -> deliveries (one message, up to max_recipients_per_transaction
 *      recipients of one domain), queued on their destination
 *   -> sessions (smtp/client.c) to the destination's MX hosts, at most
 *      max_connections_per_destination (lowered while throttled) and
 *      max_connections in all; an idle session takes the next delivery
 *   -> result job (writer thread): each recipient delivered, deferred or
 *      bounced; bounce and delay reports queued in the same transaction.
 *
 * Trust: remote replies reach here already parsed and sanitised by
 * smtp/reply.c; they are only copied into logs, the queue and reports.
 * Everything lives on the loop thread except the jobs' work functions,
 * which touch only their own job and the queue transaction.
 */
#include "engine.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "bounce.h"
#include "client.h"
#include "log.h"
#include "sts_lookup.h"
#include "xtext.h"

#define CLAIM_BATCH 512
#define DEST_BUCKETS 1024
#define SWEEP_MS 1000
#define THROTTLE_PAUSE_MAX 3600
#define RESOLVING_MAX 32
/* " NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=" and an ORCPT of at most 500
 * octets once encoded (RFC 3461 4.2) */
#define DSN_RCPT_LEN (48 + QUEUE_ORCPT_MAX)
#define STS_RECHECK_S 3600 /* a destination kept busy looks at its MTA-STS record again */

struct msgref {
    int refs;
    struct queue_msg *msg;
    char *content;
    size_t len;
};

struct dest;

/* One message for some recipients of one domain: one SMTP transaction. */
struct delivery {
    struct delivery *next;
    struct dest *dest;
    struct msgref *m;
    size_t n;
    uint32_t idx[1]; /* n entries; allocated with the struct */
};

struct session {
    struct session *next; /* in the destination's list */
    struct engine *e;
    struct dest *dest;
    struct smtp_client *client;
    struct delivery *cur;
    const char **rcpt; /* addresses of cur, for the transaction */
    struct smtp_txn txn;
    /* cur's DSN parameters for the wire (session_dsn) */
    char dsn_mail[sizeof(" RET=HDRS ENVID=") + QUEUE_ENVID_MAX];
    char (*dsn_buf)[DSN_RCPT_LEN];
    const char **dsn_rcpt;
    unsigned messages;
    int64_t idle_since; /* 0 when busy */
    size_t addr_i;      /* next entry of dest->addrs to try */
    const char *mx;     /* host name of the address in use */
    unsigned tries;
    int ready;
    enum smtp_tls_level tls; /* of the connection being made */
    int plain_retry;         /* MAY: the handshake failed; this host once more in plaintext */
    int plain_tried;         /* that retry was made: no other */
    struct smtp_result last_fail;
    char last_relay[320];
};

struct dest {
    struct dest *hnext;
    char domain[DNS_NAME_MAX];
    struct delivery *head, **tail;
    size_t queued;
    struct session *sessions;
    unsigned nsessions;
    unsigned limit;
    int64_t paused_until;
    int64_t remember_until; /* keep pause_s and limit until then */
    unsigned pause_s;
    char pause_reason[256];
    unsigned successes;
    int resolving;
    int dead; /* every session failed to connect: no new ones until it drains */
    struct smtp_result dead_error;
    char dead_relay[320];
    int have_route;
    /* The route, flattened to just what it holds (a dns_route is large):
     * addresses in the order to try, each with its MX host's name. */
    size_t naddrs;
    struct dest_addr {
        struct sockaddr_storage ss;
        char host[DNS_NAME_MAX];
    } * addrs;
    /* MTA-STS: 0 not looked up, 1 looking, 2 known (sts is the policy in
     * force, or NULL). */
    int sts_state;
    int64_t sts_checked;
    struct sts_policy *sts;
};

struct engine {
    uv_loop_t *loop;
    struct writer *writer;
    const struct config *cfg;
    struct dns *dns;
    struct tls_trust *trust; /* tls_ca_file, loaded at start; NULL when it could not be */
    uv_timer_t claim_timer, sweep_timer;
    int open_handles;
    int claiming;
    int kick_again;
    unsigned resolving; /* route lookups in progress: bounded, each is large */
    size_t inflight;    /* recipients claimed and not yet recorded */
    unsigned nsessions;
    struct dest *buckets[DEST_BUCKETS];
    int stopping;
    unsigned pending_jobs;
    void (*stop_done)(void *arg);
    void *stop_arg;
};

static void dest_pump(struct engine *e, struct dest *d);
static void session_next(struct session *s);
static void engine_check_stopped(struct engine *e);

/* ---- messages shared by deliveries ---- */

static void msgref_put(struct msgref *m)
{
    if (!m || --m->refs > 0)
        return;
    queue_msg_free(m->msg);
    free(m->content);
    free(m);
}

static void delivery_free(struct delivery *dl)
{
    if (!dl)
        return;
    msgref_put(dl->m);
    free(dl);
}

/* ---- destinations ---- */

static size_t dest_hash(const char *s)
{
    size_t h = 5381;
    for (; *s; s++)
        h = h * 33 + (unsigned char)(*s | 0x20);
    return h % DEST_BUCKETS;
}

static struct dest *dest_get(struct engine *e, const char *domain, int create)
{
    size_t h = dest_hash(domain);
    struct dest *d;
    for (d = e->buckets[h]; d; d = d->hnext)
        if (!strcasecmp(d->domain, domain))
            return d;
    if (!create || !(d = calloc(1, sizeof(*d))))
        return NULL;
    snprintf(d->domain, sizeof(d->domain), "%s", domain);
    d->tail = &d->head;
    /* Slow start, as Postfix does: a few connections, more as they work. */
    d->limit = e->cfg->max_connections_per_destination < 5
                   ? (unsigned)e->cfg->max_connections_per_destination
                   : 5;
    d->hnext = e->buckets[h];
    e->buckets[h] = d;
    return d;
}

/* A destination with nothing queued, no session, no lookup and no pause
 * is forgotten: memory follows the work in flight. */
static void dest_maybe_free(struct engine *e, struct dest *d)
{
    struct dest **pp;
    int64_t now = queue_now();
    /* A destination that throttled us is remembered for a while, so that
     * the next pause doubles and concurrency recovers gradually. */
    if (d->head || d->sessions || d->resolving || d->sts_state == 1 || d->paused_until > now ||
        d->remember_until > now)
        return;
    for (pp = &e->buckets[dest_hash(d->domain)]; *pp; pp = &(*pp)->hnext)
        if (*pp == d) {
            *pp = d->hnext;
            break;
        }
    free(d->addrs);
    free(d->sts);
    free(d);
}

static struct delivery *dest_pop(struct dest *d)
{
    struct delivery *dl = d->head;
    if (!dl)
        return NULL;
    d->head = dl->next;
    if (!d->head)
        d->tail = &d->head;
    d->queued--;
    dl->next = NULL;
    return dl;
}

/* ---- recording results ---- */

struct rcpt_outcome {
    uint32_t idx;
    int skipped; /* deleted by the operator meanwhile: nothing recorded */
    enum queue_outcome outcome;
    int postpone; /* give back without an attempt, due at when */
    int64_t when;
    char status[16];
    char text[SMTP_TEXT_MAX + 64];
};

struct result_job {
    struct writer_job base;
    struct engine *e;
    struct msgref *m;
    char relay[320];
    char remote_mta[DNS_NAME_MAX];
    /* "TLSv1.2 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 verified", "none" or "" (no connection) */
    char tls[160];
    size_t n;
    int64_t now;
    /* filled by the work function, logged by done */
    int removed;
    int dsn_passed; /* the next hop took the DSN parameters: no "relayed" report */
    char dsn_id[QUEUE_ID_SIZE];
    char relay_id[QUEUE_ID_SIZE];
    char warn_id[QUEUE_ID_SIZE];
    struct rcpt_outcome out[1]; /* n entries */
};

static void result_log(struct result_job *j);

static int64_t retry_delay(const struct config *cfg, uint32_t attempts)
{
    size_t n = cfg->retry_schedule_count ? cfg->retry_schedule_count : 1;
    uint64_t base =
        cfg->retry_schedule_count ? cfg->retry_schedule[attempts < n ? attempts : n - 1] : 300;
    uint32_t r = 0;
    /* +-10% jitter, so that a burst of deferrals does not come back as one */
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
        r = (uint32_t)rand();
    int64_t jitter = base >= 10 ? (int64_t)(r % (base / 5 + 1)) - (int64_t)(base / 10) : 0;
    return (int64_t)base + jitter;
}

/* Queues a report for the sender in the same transaction. */
static int queue_report(struct queue_txn *t, const struct config *cfg, enum bounce_kind kind,
                        struct msgref *m, const struct bounce_rcpt *br, size_t n, int64_t now,
                        char *id_out)
{
    struct queue_msg *dsn = NULL;
    char *content = NULL;
    size_t len = 0;
    int rc;

    rc = bounce_build(kind, m->msg, m->content, m->len, br, n, cfg->hostname, (time_t)now,
                      m->msg->arrival + (int64_t)cfg->max_queue_lifetime, &content, &len);
    if (rc)
        return rc;
    if (!(dsn = queue_msg_new(1))) {
        free(content);
        return -ENOMEM;
    }
    dsn->sender[0] = 0; /* the null sender: a report is never reported on */
    snprintf(dsn->rcpt[0].address, sizeof(dsn->rcpt[0].address), "%s", m->msg->sender);
    snprintf(dsn->origin, sizeof(dsn->origin), "report for %s", m->msg->id);
    dsn->arrival = now;
    dsn->uid = 0;
    rc = queue_insert(t, dsn, content, len);
    if (rc == 0)
        snprintf(id_out, QUEUE_ID_SIZE, "%s", dsn->id);
    queue_msg_free(dsn);
    free(content);
    return rc;
}

static int result_work(struct writer_job *wj, struct queue_txn *t)
{
    struct result_job *j = (struct result_job *)wj;
    const struct config *cfg = j->e->cfg;
    struct queue_msg *msg = j->m->msg;
    struct bounce_rcpt failed[j->n ? j->n : 1], delayed[j->n ? j->n : 1], relayed[j->n ? j->n : 1];
    struct queue_rcpt snap[j->n ? j->n : 1];
    size_t nf = 0, nd = 0, nr = 0;
    int rc;

    for (size_t i = 0; i < j->n; i++) {
        struct rcpt_outcome *o = &j->out[i];
        if (o->postpone) {
            if ((rc = queue_unclaim(t, msg->id, o->idx, o->when)) && rc != -ENOENT)
                return rc;
            continue;
        }
        if (o->outcome == QUEUE_OUTCOME_DEFERRED &&
            j->now >= msg->arrival + (int64_t)cfg->max_queue_lifetime) {
            o->outcome = QUEUE_OUTCOME_BOUNCED;
            char text[sizeof(o->text)];
            snprintf(text, sizeof(text), "message expired after %" PRIu64 "s in the queue: %.400s",
                     cfg->max_queue_lifetime, o->text);
            snprintf(o->text, sizeof(o->text), "%s", text);
            snprintf(o->status, sizeof(o->status), "4.4.7");
        }
        uint32_t attempts = msg->rcpt[o->idx].attempts;
        int64_t next = j->now + retry_delay(cfg, attempts);
        /* The queue keeps how the attempt was made, for `mtaq show`; reports
         * get the reply alone. */
        char stored[sizeof(o->text) + sizeof(j->tls) + 16];
        snprintf(stored, sizeof(stored), "%s%s%s%s", o->text, j->tls[0] ? " (TLS: " : "", j->tls,
                 j->tls[0] ? ")" : "");
        rc = queue_record_result(t, msg->id, o->idx, o->outcome, stored, j->now, next, &j->removed);
        if (rc == -ENOENT) {
            o->skipped = 1; /* deleted by the operator meanwhile */
            continue;
        }
        if (rc)
            return rc;
        snap[i] = msg->rcpt[o->idx];
        snap[i].last_attempt = j->now;
        const struct queue_rcpt *r = &snap[i];
        struct bounce_rcpt br = {r, o->status, j->remote_mta[0] ? j->remote_mta : NULL, o->text};
        if (o->outcome == QUEUE_OUTCOME_BOUNCED && bounce_wanted(BOUNCE_FAILED, msg, r))
            failed[nf++] = br;
        else if (o->outcome == QUEUE_OUTCOME_DELIVERED && !j->dsn_passed &&
                 bounce_wanted(BOUNCE_RELAYED, msg, r))
            relayed[nr++] = br;
        else if (o->outcome == QUEUE_OUTCOME_DEFERRED && cfg->delay_warning_time &&
                 !(msg->flags & QUEUE_FLAG_DELAY_WARNED) &&
                 j->now >= msg->arrival + (int64_t)cfg->delay_warning_time &&
                 bounce_wanted(BOUNCE_DELAYED, msg, r))
            delayed[nd++] = br;
    }
    if (nf && (rc = queue_report(t, cfg, BOUNCE_FAILED, j->m, failed, nf, j->now, j->dsn_id)))
        return rc;
    if (nr && (rc = queue_report(t, cfg, BOUNCE_RELAYED, j->m, relayed, nr, j->now, j->relay_id)))
        return rc;
    if (nd) {
        if ((rc = queue_report(t, cfg, BOUNCE_DELAYED, j->m, delayed, nd, j->now, j->warn_id)))
            return rc;
        if (!j->removed && (rc = queue_set_flags(t, msg->id, QUEUE_FLAG_DELAY_WARNED)) &&
            rc != -ENOENT)
            return rc;
    }
    result_log(j);
    return 0;
}

/* The delivery log, written on the writer thread just before the commit:
 * a crash right after it delivers again (logged twice), never silently. */
static void result_log(struct result_job *j)
{
    struct queue_msg *msg = j->m->msg;
    double delay = (double)(j->now - msg->arrival);
    static const char *const status[] = {"sent", "deferred", "bounced"};

    for (size_t i = 0; i < j->n; i++) {
        struct rcpt_outcome *o = &j->out[i];
        if (o->postpone || o->skipped)
            continue;
        log_info("%s: to=<%s>, relay=%s,%s%s%s delay=%.0f, dsn=%s, status=%s (%s)", msg->id,
                 msg->rcpt[o->idx].address, j->relay[0] ? j->relay : "none",
                 j->tls[0] ? " tls=" : "", j->tls, j->tls[0] ? "," : "", delay, o->status,
                 status[o->outcome], o->text);
    }
    if (j->dsn_id[0])
        log_info("%s: sender non-delivery notification: %s", msg->id, j->dsn_id);
    if (j->relay_id[0])
        log_info("%s: sender delivery status notification: %s", msg->id, j->relay_id);
    if (j->warn_id[0])
        log_info("%s: sender delay notification: %s", msg->id, j->warn_id);
    if (j->removed)
        log_info("%s: removed", msg->id);
}

static void result_done(struct writer_job *wj, int rc)
{
    struct result_job *j = (struct result_job *)wj;
    struct engine *e = j->e;

    if (rc)
        log_error("%s: the results above were not recorded (%s); the recipients stay claimed "
                  "until restart",
                  j->m->msg->id, strerror(-rc));
    e->inflight -= j->n;
    e->pending_jobs--;
    msgref_put(j->m);
    free(j);
    if (rc == 0)
        engine_kick(e);
    engine_check_stopped(e);
}

static struct result_job *result_job_new(struct engine *e, struct delivery *dl, const char *relay)
{
    struct result_job *j = calloc(1, sizeof(*j) + dl->n * sizeof(j->out[0]));
    if (!j)
        return NULL;
    j->e = e;
    j->m = dl->m;
    dl->m->refs++;
    j->n = dl->n;
    j->now = queue_now();
    snprintf(j->relay, sizeof(j->relay), "%s", relay ? relay : "");
    for (size_t i = 0; i < dl->n; i++)
        j->out[i].idx = dl->idx[i];
    j->base.work = result_work;
    j->base.done = result_done;
    return j;
}

static void result_submit(struct engine *e, struct result_job *j)
{
    e->pending_jobs++;
    writer_submit(e->writer, &j->base);
}

static void status_of(const struct smtp_result *r, char *out, size_t len)
{
    if (r->enhanced[0])
        snprintf(out, len, "%s", r->enhanced);
    else
        snprintf(out, len, "%d.0.0", r->klass ? r->klass : 4);
}

/* Every recipient of dl gets the same outcome (a route failure, a
 * connection failure, a refused size...). relay may be NULL. */
static void delivery_fail(struct engine *e, struct delivery *dl, int klass, const char *status,
                          const char *text, const char *relay, const char *remote)
{
    struct result_job *j = result_job_new(e, dl, relay);
    if (!j) {
        log_error("%s: out of memory recording a failure", dl->m->msg->id);
        e->inflight -= dl->n; /* claims stay; recovered at restart */
        delivery_free(dl);
        return;
    }
    if (remote)
        snprintf(j->remote_mta, sizeof(j->remote_mta), "%s", remote);
    for (size_t i = 0; i < dl->n; i++) {
        j->out[i].outcome = klass == 5 ? QUEUE_OUTCOME_BOUNCED : QUEUE_OUTCOME_DEFERRED;
        snprintf(j->out[i].status, sizeof(j->out[i].status), "%s", status);
        snprintf(j->out[i].text, sizeof(j->out[i].text), "%s", text);
    }
    result_submit(e, j);
    delivery_free(dl);
}

/* Gives dl's recipients back to the queue, due at when, no attempt. */
static void delivery_postpone(struct engine *e, struct delivery *dl, int64_t when)
{
    struct result_job *j = result_job_new(e, dl, NULL);
    if (!j) {
        e->inflight -= dl->n;
        delivery_free(dl);
        return;
    }
    for (size_t i = 0; i < dl->n; i++) {
        j->out[i].postpone = 1;
        j->out[i].when = when;
    }
    result_submit(e, j);
    delivery_free(dl);
}

/* ---- throttling ---- */

static void dest_throttle(struct engine *e, struct dest *d, const char *why)
{
    int64_t now = queue_now();
    d->pause_s = d->pause_s ? d->pause_s * 2 : (unsigned)e->cfg->throttle_pause;
    /* doubling up to an hour, or to throttle_pause itself when longer */
    unsigned cap = e->cfg->throttle_pause > THROTTLE_PAUSE_MAX ? (unsigned)e->cfg->throttle_pause
                                                               : THROTTLE_PAUSE_MAX;
    if (d->pause_s > cap)
        d->pause_s = cap;
    d->paused_until = now + d->pause_s;
    d->remember_until = d->paused_until + THROTTLE_PAUSE_MAX;
    d->limit = d->limit > 1 ? d->limit / 2 : 1;
    d->successes = 0;
    d->dead = 0; /* the pause decides now; after it, connections are tried afresh */
    snprintf(d->pause_reason, sizeof(d->pause_reason), "%s", why);
    log_warn("%s: destination paused for %us, concurrency %u: %s", d->domain, d->pause_s, d->limit,
             why);
    /* What waits for it goes back to the queue until the pause ends. */
    struct delivery *dl;
    while ((dl = dest_pop(d)))
        delivery_postpone(e, dl, d->paused_until);
}

static void dest_success(struct engine *e, struct dest *d)
{
    unsigned max = (unsigned)e->cfg->max_connections_per_destination;
    /* One more connection per good transaction up to the limit; after a
     * throttle, recovery is this gradual too, and the next pause starts
     * shorter after every 10 good transactions. */
    if (d->limit < max)
        d->limit++;
    if (++d->successes % 10 == 0)
        d->pause_s /= 2;
}

/* ---- sessions ---- */

static const struct sockaddr *session_addr(struct session *s, struct sockaddr_storage *buf)
{
    const struct dest *d = s->dest;
    if (s->addr_i >= d->naddrs)
        return NULL;
    *buf = d->addrs[s->addr_i].ss;
    uint16_t port = htons((uint16_t)s->e->cfg->smtp_port);
    if (buf->ss_family == AF_INET)
        ((struct sockaddr_in *)buf)->sin_port = port;
    else
        ((struct sockaddr_in6 *)buf)->sin6_port = port;
    return (const struct sockaddr *)buf;
}

static void session_cb(void *arg, struct smtp_client *c, enum smtp_event ev,
                       const struct smtp_outcome *o);
static void session_tls_note(struct session *s, struct smtp_client *c);

/* Removes s from its destination and frees it. */
static void session_unlink(struct session *s)
{
    struct session **pp;
    for (pp = &s->dest->sessions; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    s->dest->nsessions--;
    s->e->nsessions--;
    free(s->rcpt);
    free(s->dsn_buf);
    free(s->dsn_rcpt);
    free(s);
}

static void session_free(struct session *s)
{
    struct engine *e = s->e;
    struct dest *d = s->dest;
    session_unlink(s);
    if (!e->stopping)
        dest_pump(e, d);
    dest_maybe_free(e, d);
    /* A global slot freed: another destination may be waiting for it. */
    if (!e->stopping)
        engine_kick(e);
    engine_check_stopped(e);
}

/* The outbound_tls level for d: tls_policy or outbound_tls, raised to
 * verify by an MTA-STS policy in enforce mode. */
static enum smtp_tls_level dest_tls_level(struct engine *e, const struct dest *d)
{
    const char *w = config_tls_level(e->cfg, d->domain);
    enum smtp_tls_level level = !strcmp(w, "none")      ? SMTP_TLS_NONE
                                : !strcmp(w, "encrypt") ? SMTP_TLS_ENCRYPT
                                : !strcmp(w, "verify")  ? SMTP_TLS_VERIFY
                                                        : SMTP_TLS_MAY;
    if (d->sts && d->sts->mode == STS_MODE_ENFORCE)
        level = SMTP_TLS_VERIFY;
    return level;
}

/* Tries the next address; 0 when a connection attempt started. */
static int session_connect(struct session *s)
{
    struct engine *e = s->e;
    struct smtp_client_config cc = {0};
    struct sockaddr_storage ss;
    const struct sockaddr *sa;

    cc.helo_name = e->cfg->hostname;
    cc.t.connect = (unsigned)e->cfg->smtp_connect_timeout * 1000;
    cc.t.helo = (unsigned)e->cfg->smtp_helo_timeout * 1000;
    cc.t.mail = (unsigned)e->cfg->smtp_mail_timeout * 1000;
    cc.t.rcpt = (unsigned)e->cfg->smtp_rcpt_timeout * 1000;
    cc.t.data_init = (unsigned)e->cfg->smtp_data_init_timeout * 1000;
    cc.t.data_xfer = (unsigned)e->cfg->smtp_data_xfer_timeout * 1000;
    cc.t.data_done = (unsigned)e->cfg->smtp_data_done_timeout * 1000;
    cc.t.quit = (unsigned)e->cfg->smtp_quit_timeout * 1000;
    cc.trust = e->trust;
    if (s->plain_retry) {
        /* The same host again, once, without TLS (may only). */
        s->plain_retry = 0;
        s->plain_tried = 1;
        s->addr_i--;
        s->tls = SMTP_TLS_NONE;
    } else {
        s->plain_tried = 0;
        s->tls = dest_tls_level(e, s->dest);
    }
    cc.tls = s->tls;
    while (s->tries < e->cfg->smtp_max_addresses && (sa = session_addr(s, &ss))) {
        const char *name = s->dest->addrs[s->addr_i].host;
        s->mx = name;
        cc.tls_name = name;
        s->addr_i++;
        if (!s->plain_tried)
            s->tries++;
        if (smtp_client_start(e->loop, sa, name, &cc, session_cb, s, &s->client) == 0)
            return 0;
        s->plain_tried = 0;
        cc.tls = s->tls = dest_tls_level(e, s->dest);
    }
    return -1;
}

/* Could not reach any host: no new session for the destination until the
 * ones still trying are done; then what waits is deferred (dest_pump). */
static void session_give_up(struct session *s)
{
    struct dest *d = s->dest;
    d->dead = 1;
    d->dead_error = s->last_fail;
    snprintf(d->dead_relay, sizeof(d->dead_relay), "%s", s->last_relay);
}

static int needs_smtputf8(const struct queue_msg *msg, const struct delivery *dl)
{
    const char *p;
    for (p = msg->sender; *p; p++)
        if ((unsigned char)*p > 126)
            return 1;
    for (size_t i = 0; i < dl->n; i++)
        for (p = msg->rcpt[dl->idx[i]].address; *p; p++)
            if ((unsigned char)*p > 126)
                return 1;
    return 0;
}

/* Whether msg asks anything of DSN for the recipients of dl. */
static int wants_dsn(const struct queue_msg *msg, const struct delivery *dl)
{
    if (msg->ret || msg->envid[0])
        return 1;
    for (size_t i = 0; i < dl->n; i++)
        if (msg->rcpt[dl->idx[i]].notify || msg->rcpt[dl->idx[i]].orcpt[0])
            return 1;
    return 0;
}

/* The DSN parameters of dl into s->txn for a next hop that offers DSN: an
 * MTA that relays to one passes them on (RFC 3461 5.2), and success
 * reports are then the final MTA's to send. None (NULL) when the next hop
 * does not offer DSN or the message asks nothing of it, the usual case.
 * ENVID and ORCPT are held decoded and encoded as xtext again; one too
 * long once encoded is left out. */
static int session_dsn(struct session *s, const struct queue_msg *msg, const struct delivery *dl)
{
    char (*buf)[DSN_RCPT_LEN];
    const char **ptr;
    char enc[QUEUE_ORCPT_MAX], envid[QUEUE_ENVID_MAX];
    size_t n = 0;

    s->txn.dsn_mail = NULL;
    s->txn.dsn_rcpt = NULL;
    if (!(smtp_client_extensions(s->client, NULL) & SMTP_EXT_DSN) || !wants_dsn(msg, dl))
        return 0;
    if ((buf = realloc(s->dsn_buf, dl->n * sizeof(*buf))))
        s->dsn_buf = buf;
    if (!buf || !(ptr = realloc(s->dsn_rcpt, dl->n * sizeof(*ptr))))
        return -ENOMEM;
    s->dsn_rcpt = ptr;
    s->dsn_mail[0] = '\0';
    if (msg->ret)
        n += (size_t)snprintf(s->dsn_mail, sizeof(s->dsn_mail), " RET=%s",
                              msg->ret == QUEUE_RET_HDRS ? "HDRS" : "FULL");
    if (msg->envid[0] && smtp_xtext_encode(msg->envid, envid, sizeof(envid)) == 0)
        snprintf(s->dsn_mail + n, sizeof(s->dsn_mail) - n, " ENVID=%s", envid);
    for (size_t i = 0; i < dl->n; i++) {
        const struct queue_rcpt *r = &msg->rcpt[dl->idx[i]];
        char *b = buf[i];
        size_t k = 0;
        b[0] = '\0';
        if (r->notify & QUEUE_NOTIFY_NEVER)
            k += (size_t)snprintf(b, DSN_RCPT_LEN, " NOTIFY=NEVER");
        else if (r->notify)
            k += (size_t)snprintf(b, DSN_RCPT_LEN, " NOTIFY=%s%s%s",
                                  r->notify & QUEUE_NOTIFY_SUCCESS ? "SUCCESS," : "",
                                  r->notify & QUEUE_NOTIFY_FAILURE ? "FAILURE," : "",
                                  r->notify & QUEUE_NOTIFY_DELAY ? "DELAY," : "");
        if (k && b[k - 1] == ',')
            b[--k] = '\0';
        if (r->orcpt[0] && smtp_orcpt_encode(r->orcpt, enc, sizeof(enc)) == 0)
            snprintf(b + k, DSN_RCPT_LEN - k, " ORCPT=%s", enc);
        ptr[i] = b;
    }
    s->txn.dsn_mail = s->dsn_mail;
    s->txn.dsn_rcpt = s->dsn_rcpt;
    return 0;
}

/* An idle session takes the next delivery of its destination, or waits. */
static void session_next(struct session *s)
{
    struct engine *e = s->e;
    struct dest *d = s->dest;
    struct delivery *dl;

    if (e->stopping || d->paused_until > queue_now() ||
        s->messages >= e->cfg->max_messages_per_connection) {
        smtp_client_quit(s->client);
        return;
    }
    while ((dl = dest_pop(d))) {
        struct queue_msg *msg = dl->m->msg;
        const char **rcpt = realloc(s->rcpt, dl->n * sizeof(*rcpt));
        int rc;
        if (rcpt)
            s->rcpt = rcpt;
        if (!rcpt || session_dsn(s, msg, dl) != 0) {
            delivery_postpone(e, dl, queue_now() + 60);
            continue;
        }
        for (size_t i = 0; i < dl->n; i++)
            rcpt[i] = msg->rcpt[dl->idx[i]].address;
        s->txn.sender = msg->sender;
        s->txn.nrcpt = dl->n;
        s->txn.rcpt = rcpt;
        s->txn.content = dl->m->content;
        s->txn.len = dl->m->len;
        s->txn.body_8bit = msg->body == QUEUE_BODY_8BITMIME;
        s->txn.need_smtputf8 = needs_smtputf8(msg, dl);
        rc = smtp_client_send(s->client, &s->txn);
        if (rc == -EMSGSIZE) {
            delivery_fail(e, dl, 5, "5.3.4", "message size exceeds the limit of the remote server",
                          smtp_client_relay(s->client), s->mx);
            continue;
        }
        if (rc == -EPROTONOSUPPORT) {
            delivery_fail(e, dl, 5, "5.6.7",
                          "the remote server does not support SMTPUTF8, needed for this address",
                          smtp_client_relay(s->client), s->mx);
            continue;
        }
        if (rc) {
            delivery_postpone(e, dl, queue_now());
            smtp_client_abort(s->client);
            return;
        }
        s->cur = dl;
        s->idle_since = 0;
        return;
    }
    s->idle_since = queue_now();
}

static void session_txn_done(struct session *s, const struct smtp_outcome *o)
{
    struct engine *e = s->e;
    struct dest *d = s->dest;
    struct delivery *dl = s->cur;
    const char *relay = smtp_client_relay(s->client);
    struct result_job *j;
    int throttled = o->res.throttled, any_ok = 0;
    const char *why = o->res.throttled ? o->res.text : NULL;

    s->cur = NULL;
    s->messages++;
    if (!(j = result_job_new(e, dl, relay))) {
        e->inflight -= dl->n;
        delivery_free(dl);
        return;
    }
    snprintf(j->remote_mta, sizeof(j->remote_mta), "%s", s->mx ? s->mx : d->domain);
    j->dsn_passed = o->dsn_passed;
    const struct smtp_tls_info *ti = smtp_client_tls(s->client);
    if (ti && ti->active)
        snprintf(j->tls, sizeof(j->tls), "%s %s %s%s", ti->version, ti->cipher,
                 ti->verified ? "verified" : "unverified:", ti->verified ? "" : ti->verify_error);
    else
        snprintf(j->tls, sizeof(j->tls), "none");
    for (size_t i = 0; i < dl->n; i++) {
        const struct smtp_result *r = &o->rcpt[i];
        struct rcpt_outcome *out = &j->out[i];
        throttled |= r->throttled;
        if (r->throttled && !why)
            why = r->text; /* the refusal that throttled, for the log and stats */
        if (e->stopping && r->klass != 2 && r->klass != 5) {
            /* interrupted by our own stop: no attempt counted */
            out->postpone = 1;
            out->when = queue_now();
            continue;
        }
        out->outcome = r->klass == 2   ? QUEUE_OUTCOME_DELIVERED
                       : r->klass == 5 ? QUEUE_OUTCOME_BOUNCED
                                       : QUEUE_OUTCOME_DEFERRED;
        any_ok |= r->klass == 2;
        status_of(r, out->status, sizeof(out->status));
        snprintf(out->text, sizeof(out->text), "%s", r->text);
    }
    result_submit(e, j);
    delivery_free(dl);
    if (throttled)
        dest_throttle(e, d, why ? why : "rate limited");
    else if (any_ok)
        dest_success(e, d);
    if (o->session_usable)
        session_next(s);
    else
        smtp_client_abort(s->client);
}

static void session_cb(void *arg, struct smtp_client *c, enum smtp_event ev,
                       const struct smtp_outcome *o)
{
    struct session *s = arg;
    switch (ev) {
    case SMTP_EV_READY:
        s->ready = 1;
        s->dest->dead = 0;
        session_tls_note(s, c);
        session_next(s);
        break;
    case SMTP_EV_FAILED:
        s->last_fail = o->res;
        snprintf(s->last_relay, sizeof(s->last_relay), "%s", smtp_client_relay(c));
        if (s->dest->sts && s->dest->sts->mode == STS_MODE_ENFORCE &&
            (o->res.tls_failed || strncmp(o->res.enhanced, "4.7.", 4) == 0)) {
            size_t n = strlen(s->last_fail.text);
            snprintf(s->last_fail.text + n, sizeof(s->last_fail.text) - n,
                     " (the MTA-STS policy of %s requires verified TLS)", s->dest->domain);
        }
        log_info("%s: %s (%s)", s->dest->domain, smtp_client_relay(c), s->last_fail.text);
        if (o->res.tls_failed && s->tls == SMTP_TLS_MAY && !s->plain_tried) {
            log_info("%s: TLS with %s failed; trying that host once more in plaintext",
                     s->dest->domain, smtp_client_relay(c));
            s->plain_retry = 1;
        }
        if (o->res.throttled)
            dest_throttle(s->e, s->dest, o->res.text);
        break;
    case SMTP_EV_TXN_DONE:
        session_txn_done(s, o);
        break;
    case SMTP_EV_CLOSED:
        s->client = NULL;
        /* Not established yet: the next address, if any is left. */
        if (!s->ready && !s->e->stopping && s->dest->paused_until <= queue_now() &&
            session_connect(s) == 0)
            break;
        if (!s->ready)
            session_give_up(s);
        else
            s->dest->dead = 0; /* it worked once: the destination lives */
        session_free(s);
        break;
    }
}

/* Under an MTA-STS policy in testing mode, says what enforce would have
 * refused: a connection without verified TLS. */
static void session_tls_note(struct session *s, struct smtp_client *c)
{
    const struct smtp_tls_info *ti = smtp_client_tls(c);
    const struct sts_policy *p = s->dest->sts;
    if (p && p->mode == STS_MODE_TESTING && !(ti && ti->active && ti->verified))
        log_info("%s: MTA-STS policy in testing mode: %s %s; enforce would defer the mail",
                 s->dest->domain, smtp_client_relay(c),
                 !ti || !ti->active ? "has no TLS" : "has a certificate that did not verify");
}

static void session_open(struct engine *e, struct dest *d)
{
    struct session *s = calloc(1, sizeof(*s));
    if (!s)
        return;
    s->e = e;
    s->dest = d;
    s->next = d->sessions;
    d->sessions = s;
    d->nsessions++;
    e->nsessions++;
    if (session_connect(s) != 0) {
        snprintf(s->last_fail.text, sizeof(s->last_fail.text), "%s: no address to connect to",
                 d->domain);
        s->last_fail.klass = 4;
        session_give_up(s);
        /* not session_free: its dest_pump would open the next one at once */
        session_unlink(s);
        dest_pump(e, d);
    }
}

/* ---- dispatch ---- */

static void dest_route_done(void *arg, const struct dns_route *route);
static void dest_sts_start(struct engine *e, struct dest *d);

struct route_req {
    struct engine *e;
    struct dest *d;
};

struct sts_req_ref {
    struct engine *e;
    struct dest *d;
};

static void dest_sts_done(void *arg, struct sts_policy *p, const char *note)
{
    struct sts_req_ref *rq = arg;
    struct engine *e = rq->e;
    struct dest *d = rq->d;

    free(rq);
    e->pending_jobs--;
    if (note[0])
        log_info("%s: %s", d->domain, note);
    if (p && (!d->sts || d->sts->mode != p->mode || strcmp(d->sts->id, p->id) != 0))
        log_info("%s: MTA-STS policy %s in force, mode %s", d->domain, p->id,
                 sts_mode_name(p->mode));
    free(d->sts);
    d->sts = p;
    d->sts_state = 2;
    d->sts_checked = queue_now();
    d->have_route = 0; /* the MX hosts are checked against the policy afresh */
    if (!e->stopping)
        dest_pump(e, d);
    else {
        struct delivery *dl;
        while ((dl = dest_pop(d)))
            delivery_postpone(e, dl, queue_now());
    }
    dest_maybe_free(e, d);
    engine_check_stopped(e);
}

static void dest_sts_start(struct engine *e, struct dest *d)
{
    struct sts_lookup_ctx ctx = {e->loop, e->writer, e->dns, e->trust};
    struct sts_req_ref *rq = malloc(sizeof(*rq));
    if (!rq)
        return;
    rq->e = e;
    rq->d = d;
    d->sts_state = 1;
    e->pending_jobs++;
    if (sts_lookup_start(&ctx, d->domain, dest_sts_done, rq) != 0) {
        e->pending_jobs--;
        free(rq);
        d->sts_state = 2; /* not a name that can have a policy */
        d->sts_checked = queue_now();
        dest_pump(e, d);
    }
}

static void dest_pump(struct engine *e, struct dest *d)
{
    if (e->stopping)
        return;
    if (d->paused_until > queue_now()) {
        struct delivery *dl;
        d->dead = 0; /* after the pause, connections are tried afresh */
        while ((dl = dest_pop(d)))
            delivery_postpone(e, dl, d->paused_until);
        return;
    }
    if (d->dead) {
        if (d->nsessions)
            return; /* wait for the others to succeed or fail */
        char status[16];
        struct delivery *dl;
        status_of(&d->dead_error, status, sizeof(status));
        /* A refusal at the greeting is not the message's fault. */
        if (status[0] != '4')
            snprintf(status, sizeof(status), "4.4.1");
        while ((dl = dest_pop(d)))
            delivery_fail(e, dl, 4, status,
                          d->dead_error.text[0] ? d->dead_error.text : "no MX host answered",
                          d->dead_relay[0] ? d->dead_relay : NULL, NULL);
        d->dead = 0;
        return;
    }
    /* Idle sessions first: connection reuse. */
    for (struct session *s = d->sessions; s && d->head; s = s->next)
        if (s->ready && s->idle_since && s->client)
            session_next(s);
    if (!d->head)
        return;
    if (!strcmp(e->cfg->mta_sts, "on") &&
        (d->sts_state == 0 ||
         (d->sts_state == 2 && queue_now() - d->sts_checked > STS_RECHECK_S))) {
        dest_sts_start(e, d);
        return;
    }
    if (d->sts_state == 1)
        return; /* dest_sts_done pumps */
    if (!d->have_route) {
        /* Past RESOLVING_MAX lookups, the destination waits for one to end
         * (dest_route_done pumps the waiting ones). */
        if (!d->resolving && e->resolving < RESOLVING_MAX) {
            struct route_req *rq = malloc(sizeof(*rq));
            int inet = !strcmp(e->cfg->inet_protocols, "ipv4")   ? DNS_INET_IPV4
                       : !strcmp(e->cfg->inet_protocols, "ipv6") ? DNS_INET_IPV6
                                                                 : DNS_INET_ALL;
            if (!rq)
                return;
            rq->e = e;
            rq->d = d;
            d->resolving = 1;
            e->resolving++;
            if (dns_route(e->dns, d->domain, inet, dest_route_done, rq) != 0) {
                struct dns_route bad = {.status = DNS_ROUTE_NXDOMAIN};
                snprintf(bad.why, sizeof(bad.why), "%.200s: not a valid domain name", d->domain);
                dest_route_done(rq, &bad);
            }
        }
        return;
    }
    /* Sessions still connecting will each take a delivery when ready:
     * open more only for what they will not cover. */
    size_t connecting = 0;
    for (struct session *s = d->sessions; s; s = s->next)
        connecting += !s->ready;
    while (d->queued > connecting && d->nsessions < d->limit &&
           e->nsessions < e->cfg->max_connections) {
        unsigned before = d->nsessions;
        session_open(e, d);
        if (d->nsessions <= before)
            break; /* gave up at once: no address */
        connecting++;
    }
}

static void dest_route_done(void *arg, const struct dns_route *route)
{
    struct route_req *rq = arg;
    struct engine *e = rq->e;
    struct dest *d = rq->d;
    struct delivery *dl;

    free(rq);
    d->resolving = 0;
    d->have_route = 0;
    if (route->status == DNS_ROUTE_OK) {
        size_t n = 0, k = 0;
        for (size_t h = 0; h < route->nhosts; h++)
            n += route->host[h].naddr;
        struct dest_addr *a = n ? calloc(n, sizeof(*a)) : NULL;
        if (a) {
            for (size_t h = 0; h < route->nhosts; h++) {
                const char *host = route->host[h].name;
                if (d->sts && d->sts->mode != STS_MODE_NONE && !sts_mx_match(d->sts, host)) {
                    log_info("%s: MX host %s is not in the MTA-STS policy (mode %s)%s", d->domain,
                             host, sts_mode_name(d->sts->mode),
                             d->sts->mode == STS_MODE_ENFORCE ? ": skipped"
                                                              : "; enforce would skip it");
                    if (d->sts->mode == STS_MODE_ENFORCE)
                        continue;
                }
                for (size_t i = 0; i < route->host[h].naddr; i++, k++) {
                    a[k].ss = route->host[h].addr[i];
                    snprintf(a[k].host, sizeof(a[k].host), "%s", host);
                }
            }
            n = k;
            free(d->addrs);
            d->addrs = a;
            d->naddrs = n;
            d->have_route = 1;
        }
    }
    e->resolving--;
    if (route->status == DNS_ROUTE_OK && d->have_route && d->naddrs == 0) {
        /* MTA-STS enforce left no MX host: never an unlisted one. */
        while ((dl = dest_pop(d)))
            delivery_fail(e, dl, 4, "4.7.5",
                          "no MX host of this domain matches its MTA-STS policy (mode enforce)",
                          NULL, NULL);
        d->have_route = 0;
    } else if (route->status == DNS_ROUTE_OK) {
        dest_pump(e, d);
    } else if (route->status == DNS_ROUTE_CANCELLED) {
        while ((dl = dest_pop(d)))
            delivery_postpone(e, dl, queue_now()); /* shutting down: no attempt */
    } else {
        int klass = route->status == DNS_ROUTE_TEMPFAIL ? 4 : 5;
        const char *status = route->status == DNS_ROUTE_NXDOMAIN   ? "5.1.2"
                             : route->status == DNS_ROUTE_NULL_MX  ? "5.1.10"
                             : route->status == DNS_ROUTE_NO_HOSTS ? "5.4.4"
                                                                   : "4.4.3";
        while ((dl = dest_pop(d)))
            delivery_fail(e, dl, klass, status, route->why, NULL, NULL);
        d->have_route = 0;
    }
    dest_maybe_free(e, d);
    /* A lookup slot is free: destinations that waited for one go on. */
    for (size_t b = 0; b < DEST_BUCKETS && e->resolving < RESOLVING_MAX && !e->stopping; b++)
        for (struct dest *w = e->buckets[b], *next; w && e->resolving < RESOLVING_MAX; w = next) {
            next = w->hnext;
            if (w->head && !w->have_route && !w->resolving)
                dest_pump(e, w);
        }
}

/* ---- claiming ---- */

struct claim_job {
    struct writer_job base;
    struct engine *e;
    size_t max;
    int64_t now;
    size_t nclaims;
    struct queue_claim *claims;
    struct msgref **refs; /* per claim: its message (shared) */
    int64_t next_due;     /* -1 when nothing is scheduled */
    char aside[8][QUEUE_ID_SIZE];
    size_t naside;
};

static int claim_work(struct writer_job *wj, struct queue_txn *t)
{
    struct claim_job *j = (struct claim_job *)wj;
    int n = queue_claim_due(t, j->now, j->claims, j->max);
    if (n < 0)
        return n;
    j->nclaims = (size_t)n;
    /* claims are sorted by domain then id: one copy per message and run */
    for (size_t i = 0; i < j->nclaims; i++) {
        struct msgref *m = NULL;
        for (size_t k = 0; k < i && !m; k++)
            if (j->refs[k] && !strcmp(j->claims[k].id, j->claims[i].id))
                m = j->refs[k];
        if (m) {
            m->refs++;
            j->refs[i] = m;
            continue;
        }
        struct queue_msg *msg = NULL;
        int rc = queue_get(t, j->claims[i].id, &msg);
        if (rc == 0 && !(m = calloc(1, sizeof(*m))))
            rc = -ENOMEM;
        if (rc == 0 && (rc = queue_content_copy(t, j->claims[i].id, &m->content, &m->len)) == 0) {
            m->msg = msg;
            m->refs = 1;
            j->refs[i] = m;
            continue;
        }
        free(m);
        m = NULL;
        if (rc == -ENOMEM) {
            queue_msg_free(msg);
            return rc;
        }
        queue_msg_free(msg);
        if (rc == -EBADMSG || rc == -ENOENT) {
            if (j->naside < 8)
                snprintf(j->aside[j->naside++], QUEUE_ID_SIZE, "%s", j->claims[i].id);
            if ((rc = queue_set_aside(t, j->claims[i].id)))
                return rc;
            continue;
        }
        return rc;
    }
    if (queue_next_due(t, &j->next_due) != 0)
        j->next_due = -1;
    return 0;
}

static void claim_schedule(struct engine *e, int64_t when);

static void claim_done(struct writer_job *wj, int rc)
{
    struct claim_job *j = (struct claim_job *)wj;
    struct engine *e = j->e;
    size_t i = 0;

    e->claiming = 0;
    e->pending_jobs--;
    for (size_t k = 0; k < j->naside; k++)
        log_error("%s: damaged queue record set aside", j->aside[k]);
    if (rc) {
        log_error("cannot claim due mail: %s", strerror(-rc));
        for (size_t k = 0; k < j->nclaims; k++)
            msgref_put(j->refs[k]);
        j->nclaims = 0;
    }
    /* Group runs of (domain, message) into deliveries. */
    while (i < j->nclaims) {
        size_t k = i;
        size_t maxr = e->cfg->max_recipients_per_transaction;
        while (k < j->nclaims && k - i < maxr && j->refs[k] && j->refs[k] == j->refs[i] &&
               !strcasecmp(j->claims[k].domain, j->claims[i].domain))
            k++;
        if (!j->refs[i]) {
            i++;
            continue;
        }
        struct delivery *dl = calloc(1, sizeof(*dl) + (k - i) * sizeof(dl->idx[0]));
        struct dest *d = dl ? dest_get(e, j->claims[i].domain, 1) : NULL;
        if (!dl || !d) {
            free(dl);
            for (; i < k; i++)
                msgref_put(j->refs[i]); /* claims recovered at restart */
            continue;
        }
        dl->m = j->refs[i];
        dl->dest = d;
        dl->n = k - i;
        for (size_t x = i; x < k; x++) {
            dl->idx[x - i] = j->claims[x].rcpt;
            if (x > i)
                msgref_put(j->refs[x]); /* one reference per delivery */
        }
        e->inflight += dl->n;
        *d->tail = dl;
        d->tail = &dl->next;
        d->queued++;
        i = k;
    }
    /* Dispatch every destination that got work. */
    for (size_t b = 0; b < DEST_BUCKETS; b++)
        for (struct dest *d = e->buckets[b], *next; d; d = next) {
            next = d->hnext;
            if (d->head)
                dest_pump(e, d);
        }
    int more = j->nclaims == j->max;
    int64_t next = j->next_due;
    free(j->claims);
    free(j->refs);
    free(j);
    if (e->stopping) {
        engine_check_stopped(e);
        return;
    }
    if (more || e->kick_again) {
        e->kick_again = 0;
        engine_kick(e);
    } else if (next >= 0) {
        claim_schedule(e, next);
    }
}

static size_t claim_capacity(const struct engine *e)
{
    size_t cap = 20 * (size_t)e->cfg->max_connections;
    if (cap < 1000)
        cap = 1000;
    return e->inflight >= cap ? 0 : cap - e->inflight;
}

static void claim_start(struct engine *e)
{
    struct claim_job *j;
    size_t room = claim_capacity(e);

    if (e->stopping || !room)
        return;
    if (e->claiming) {
        e->kick_again = 1;
        return;
    }
    if (!(j = calloc(1, sizeof(*j))))
        return;
    j->max = room < CLAIM_BATCH ? room : CLAIM_BATCH;
    j->claims = calloc(j->max, sizeof(*j->claims));
    j->refs = calloc(j->max, sizeof(*j->refs));
    if (!j->claims || !j->refs) {
        free(j->claims);
        free(j->refs);
        free(j);
        return;
    }
    j->e = e;
    j->now = queue_now();
    j->base.work = claim_work;
    j->base.done = claim_done;
    e->claiming = 1;
    e->pending_jobs++;
    writer_submit(e->writer, &j->base);
}

static void on_claim_timer(uv_timer_t *t)
{
    claim_start(t->data);
}

/* Wakes the engine when the earliest scheduled recipient is due (at most
 * a minute away, so that clock changes cannot strand mail). */
static void claim_schedule(struct engine *e, int64_t when)
{
    int64_t now = queue_now();
    uint64_t ms = when <= now ? 0 : (uint64_t)(when - now) * 1000;
    if (ms > 60000)
        ms = 60000;
    uv_timer_start(&e->claim_timer, on_claim_timer, ms, 0);
}

void engine_kick(struct engine *e)
{
    if (!e || e->stopping)
        return;
    /* From the next loop iteration: several kicks in one turn make one claim. */
    uv_timer_start(&e->claim_timer, on_claim_timer, 0, 0);
}

/* ---- housekeeping ---- */

static void on_sweep(uv_timer_t *t)
{
    struct engine *e = t->data;
    int64_t now = queue_now();
    for (size_t b = 0; b < DEST_BUCKETS; b++)
        for (struct dest *d = e->buckets[b], *next; d; d = next) {
            next = d->hnext;
            for (struct session *s = d->sessions, *sn; s; s = sn) {
                sn = s->next;
                if (s->ready && s->idle_since && s->client &&
                    now - s->idle_since >= (int64_t)e->cfg->connection_idle_timeout)
                    smtp_client_quit(s->client);
            }
            if (d->paused_until && d->paused_until <= now) {
                d->paused_until = 0;
                log_info("%s: destination resumed, concurrency %u", d->domain, d->limit);
                engine_kick(e);
            }
            dest_maybe_free(e, d);
        }
}

struct engine *engine_new(uv_loop_t *loop, struct writer *w, const struct config *cfg,
                          struct dns *dns)
{
    struct engine *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->loop = loop;
    e->writer = w;
    e->cfg = cfg;
    e->dns = dns;
    char err[256];
    if (tls_trust_load(cfg->tls_ca_file, &e->trust, err, sizeof(err)) < 0)
        log_warn("tls_ca_file: %s: no certificate can be verified (outbound_tls verify and "
                 "MTA-STS defer)",
                 err);
    uv_timer_init(loop, &e->claim_timer);
    uv_timer_init(loop, &e->sweep_timer);
    e->claim_timer.data = e->sweep_timer.data = e;
    e->open_handles = 2;
    uv_timer_start(&e->sweep_timer, on_sweep, SWEEP_MS, SWEEP_MS);
    engine_kick(e);
    return e;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct engine *e = h->data;
    e->open_handles--;
    engine_check_stopped(e);
}

static void engine_check_stopped(struct engine *e)
{
    if (!e->stopping || e->nsessions || e->pending_jobs || e->open_handles || !e->stop_done)
        return;
    void (*done)(void *) = e->stop_done;
    e->stop_done = NULL;
    done(e->stop_arg);
}

void engine_stop(struct engine *e, void (*done)(void *arg), void *arg)
{
    if (e->stopping)
        return;
    e->stopping = 1;
    e->stop_done = done;
    e->stop_arg = arg;
    uv_close((uv_handle_t *)&e->claim_timer, on_timer_closed);
    uv_close((uv_handle_t *)&e->sweep_timer, on_timer_closed);
    for (size_t b = 0; b < DEST_BUCKETS; b++)
        for (struct dest *d = e->buckets[b]; d; d = d->hnext) {
            struct delivery *dl;
            while ((dl = dest_pop(d)))
                delivery_postpone(e, dl, queue_now());
            for (struct session *s = d->sessions; s; s = s->next)
                if (s->client)
                    smtp_client_abort(s->client);
        }
    engine_check_stopped(e);
}

void engine_free(struct engine *e)
{
    if (!e)
        return;
    for (size_t b = 0; b < DEST_BUCKETS; b++)
        for (struct dest *d = e->buckets[b], *next; d; d = next) {
            next = d->hnext;
            free(d->addrs);
            free(d->sts);
            free(d);
        }
    tls_trust_free(e->trust);
    free(e);
}

const char *engine_status(const struct engine *e, char *buf, size_t len)
{
    int64_t now = queue_now();
    size_t n = 0;
    n += (size_t)snprintf(buf + n, len - n, "connections %u, recipients in flight %zu",
                          e->nsessions, e->inflight);
    for (size_t b = 0; b < DEST_BUCKETS && n < len; b++)
        for (struct dest *d = e->buckets[b]; d && n < len; d = d->hnext)
            if (d->paused_until > now)
                n += (size_t)snprintf(buf + n, len - n,
                                      "; paused %s for %" PRId64 "s more, concurrency %u: %s",
                                      d->domain, d->paused_until - now, d->limit, d->pause_reason);
    return buf;
}
