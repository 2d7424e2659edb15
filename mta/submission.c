/*
 * submission.c - the submission service's policy and its commits (see
 * submission.h).
 *
 * Trust: clients are hostile until they authenticate, and even then may
 * only send as their own senders. smtp/server.c has bounded and validated
 * everything that reaches the hooks here; addresses are checked again by
 * address.c and the submission format's rules before they are stored.
 */
#include "submission.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "auth.h"
#include "intake.h"
#include "log.h"
#include "server.h"
#include "submit.h"

/* AUTH failures from one address: after AUTH_FAIL_SLOW each failure is
 * answered after a delay that doubles up to AUTH_DELAY_MAX_MS; the
 * AUTH_FAIL_MAXth gets 421 and the connection closes, and the address is
 * refused at connect until AUTH_FAIL_WINDOW has passed since its last
 * failure (fail2ban's usual defaults, without a second program). */
#define AUTH_FAIL_SLOW 2
#define AUTH_FAIL_MAX 8
#define AUTH_FAIL_WINDOW 900
#define AUTH_DELAY_MAX_MS 4000
#define PEERS_MAX 4096 /* client addresses remembered at once */
/* What MAIL wants free: room for the message and some to spare. */
#define ROOM_SPARE (8u << 20)

struct peer {
    struct peer *next;
    char addr[64];
    unsigned sessions;
    unsigned auth_failures;
    int64_t last_failure;
};

struct submission {
    struct submission_deps d;
    struct smtp_server *servers[2];
    unsigned open_servers;
    struct tls_server_cert *cert;
    struct auth_db *auth;
    struct peer *peers;
    size_t npeers;
    unsigned busy; /* auth checks and commits in progress */
    int stopping;
    void (*stop_done)(void *arg);
    void *stop_arg;
};

/* ---- per-address accounting ---- */

static struct peer *peer_get(struct submission *s, const char *addr, int create)
{
    struct peer *p;
    for (p = s->peers; p; p = p->next)
        if (strcmp(p->addr, addr) == 0)
            return p;
    if (!create || s->npeers >= PEERS_MAX || !(p = calloc(1, sizeof(*p))))
        return NULL;
    snprintf(p->addr, sizeof(p->addr), "%s", addr);
    p->next = s->peers;
    s->peers = p;
    s->npeers++;
    return p;
}

/* Forgets an address with nothing left to remember. */
static void peer_forget(struct submission *s, struct peer *gone)
{
    int64_t now = queue_now();
    if (gone->sessions || (gone->auth_failures && now - gone->last_failure < AUTH_FAIL_WINDOW))
        return;
    for (struct peer **pp = &s->peers; *pp; pp = &(*pp)->next)
        if (*pp == gone) {
            *pp = gone->next;
            s->npeers--;
            free(gone);
            return;
        }
}

static void submission_maybe_done(struct submission *s)
{
    if (!s->stopping || s->open_servers || s->busy || !s->stop_done)
        return;
    void (*done)(void *) = s->stop_done;
    void *arg = s->stop_arg;
    s->stop_done = NULL;
    while (s->peers) {
        struct peer *p = s->peers;
        s->peers = p->next;
        free(p);
    }
    tls_server_cert_unref(s->cert);
    auth_db_unref(s->auth);
    free(s);
    done(arg);
}

/* ---- hooks ---- */

static void verdict(struct smtp_server_verdict *v, int code, const char *text)
{
    v->code = code;
    snprintf(v->text, sizeof(v->text), "%s", text);
}

static int on_connect(void *arg, struct smtp_server_client *cl, struct smtp_server_verdict *v)
{
    struct submission *s = arg;
    struct peer *p = peer_get(s, cl->peer_text, 1);
    int64_t now = queue_now();

    if (!p) {
        verdict(v, 421, "4.7.0 Too many clients, try again later");
        return -1;
    }
    if (p->auth_failures >= AUTH_FAIL_MAX && now - p->last_failure < AUTH_FAIL_WINDOW) {
        log_warn("submission: refused %s: %u authentication failures", cl->peer_text,
                 p->auth_failures);
        verdict(v, 421, "4.7.0 Too many authentication failures, try again later");
        return -1;
    }
    if (p->sessions >= s->d.cfg->submission_client_limit) {
        log_warn("submission: refused %s: %u connections already", cl->peer_text, p->sessions);
        verdict(v, 421, "4.7.0 Too many connections from your address");
        return -1;
    }
    p->sessions++;
    return 0;
}

static void on_closed(void *arg, struct smtp_server_client *cl)
{
    struct submission *s = arg;
    struct peer *p = peer_get(s, cl->peer_text, 0);
    if (p) {
        if (p->sessions)
            p->sessions--;
        peer_forget(s, p);
    }
}

struct auth_job {
    uv_work_t work;
    struct submission *sub;
    struct smtp_server_session *session;
    struct auth_db *db;
    char peer[64];
    char user[SMTP_SERVER_USER_MAX];
    char password[AUTH_PASSWORD_MAX + 1];
    int ok;
};

static void auth_work(uv_work_t *w)
{
    struct auth_job *j = w->data;
    j->ok = auth_db_check(j->db, j->user, j->password);
    explicit_bzero(j->password, sizeof(j->password));
}

static void auth_done(uv_work_t *w, int status)
{
    struct auth_job *j = w->data;
    struct submission *s = j->sub;
    struct peer *p = peer_get(s, j->peer, 1);
    unsigned delay = 0;

    s->busy--;
    if (status == 0 && j->ok) {
        log_info("submission: %s authenticated as %s", j->peer, j->user);
        if (p)
            p->auth_failures = 0;
        smtp_server_auth_done(j->session, 1, 0);
    } else {
        if (p) {
            p->auth_failures++;
            p->last_failure = queue_now();
            if (p->auth_failures > AUTH_FAIL_SLOW) {
                unsigned shift = p->auth_failures - AUTH_FAIL_SLOW - 1;
                delay = shift >= 12 ? AUTH_DELAY_MAX_MS : 1000u << shift;
                if (delay > AUTH_DELAY_MAX_MS)
                    delay = AUTH_DELAY_MAX_MS;
            }
        }
        log_warn("submission: %s failed to authenticate as %s (%u failures)", j->peer, j->user,
                 p ? p->auth_failures : 0);
        if (p && p->auth_failures >= AUTH_FAIL_MAX) {
            /* 421 now; new connections get it at connect (on_connect). */
            log_warn("submission: %s locked out for %d s: %u authentication failures", j->peer,
                     AUTH_FAIL_WINDOW, p->auth_failures);
            smtp_server_auth_done(j->session, -1, 0);
        } else {
            smtp_server_auth_done(j->session, 0, delay);
        }
    }
    auth_db_unref(j->db);
    free(j);
    submission_maybe_done(s);
}

static void on_auth(void *arg, struct smtp_server_session *session, struct smtp_server_client *cl,
                    const char *authzid, const char *user, const char *password)
{
    struct submission *s = arg;
    struct auth_job *j = calloc(1, sizeof(*j));

    /* Acting as someone else (a different authzid) is not offered. */
    if (!j || (authzid[0] && strcmp(authzid, user) != 0) || strlen(password) > AUTH_PASSWORD_MAX) {
        free(j);
        smtp_server_auth_done(session, 0, 0);
        return;
    }
    j->sub = s;
    j->session = session;
    j->db = auth_db_ref(s->auth);
    snprintf(j->peer, sizeof(j->peer), "%s", cl->peer_text);
    snprintf(j->user, sizeof(j->user), "%s", user);
    snprintf(j->password, sizeof(j->password), "%s", password);
    j->work.data = j;
    if (uv_queue_work(s->d.loop, &j->work, auth_work, auth_done) != 0) {
        auth_db_unref(j->db);
        explicit_bzero(j->password, sizeof(j->password));
        free(j);
        smtp_server_auth_done(session, 0, 0);
        return;
    }
    s->busy++;
}

static int on_mail(void *arg, struct smtp_server_client *cl, const char *sender, uint64_t size,
                   struct smtp_server_verdict *v)
{
    struct submission *s = arg;
    const struct config *cfg = s->d.cfg;
    uint64_t map_free = 0, disk_free = 0;

    if (!cl->user[0] && !config_trusted(cfg, (const struct sockaddr *)&cl->peer)) {
        verdict(v, 530, "5.7.0 Authentication required");
        return -1;
    }
    if (sender[0] && (strlen(sender) >= QUEUE_ADDRESS_MAX || address_validate(sender, NULL) != 0)) {
        verdict(v, 553, "5.1.7 Bad sender address syntax");
        return -1;
    }
    if (cl->user[0] && !auth_db_sender_allowed(s->auth, cl->user, sender)) {
        log_warn("submission: %s (user %s) may not send as <%s>", cl->peer_text, cl->user, sender);
        verdict(v, 553, "5.7.1 Sender address not allowed for this user");
        return -1;
    }
    uint64_t want = (size ? size : cfg->max_message_size / 4) + ROOM_SPARE;
    if (queue_room(s->d.queue, &map_free, &disk_free) == 0 &&
        (map_free < want || disk_free < want)) {
        log_warn("submission: queue full (map %llu, disk %llu bytes free): MAIL from %s deferred",
                 (unsigned long long)map_free, (unsigned long long)disk_free, cl->peer_text);
        verdict(v, 452, "4.3.1 Insufficient system storage");
        return -1;
    }
    return 0;
}

static int on_rcpt(void *arg, struct smtp_server_client *cl, const struct smtp_server_rcpt *r,
                   struct smtp_server_verdict *v)
{
    if (strlen(r->address) >= QUEUE_ADDRESS_MAX || address_validate(r->address, NULL) != 0 ||
        !strchr(r->address, '@')) {
        verdict(v, 501, "5.1.3 Bad recipient address syntax");
        return -1;
    }
    return 0;
}

/* A message on its way to the queue: prepared on a worker thread, then
 * inserted by the writer; the client hears the result at the end. */
struct commit_job {
    struct writer_job base; /* first */
    uv_work_t work;
    struct submission *sub;
    struct smtp_server_session *session;
    struct submit_env env;
    const char *content; /* the server's, valid until message_done */
    size_t content_len;
    char hostname[CONFIG_NAME_MAX];
    struct signer *signer;
    char helo[256], peer[64], tls[128], user[SMTP_SERVER_USER_MAX], protocol[16];
    char from_address[QUEUE_ADDRESS_MAX];
    char origin[QUEUE_ORIGIN_MAX];
    int rc;
    struct queue_msg *msg;
    char *stored;
    size_t stored_len;
    char id[QUEUE_ID_SIZE];
    char dkim_note[SIGNER_NOTE_MAX];
};

static void commit_finish(struct commit_job *j, int rc)
{
    struct submission *s = j->sub;
    struct smtp_server_verdict v = {0};

    if (rc == 0) {
        log_info("%s: from=<%s>, size=%zu, nrcpt=%u (queue active, %s)%s%s", j->id, j->msg->sender,
                 j->stored_len, j->msg->nrcpt, j->origin, j->dkim_note[0] ? ", dkim: " : "",
                 j->dkim_note);
        smtp_server_message_done(j->session, &v, j->id);
        if (s->d.queued)
            s->d.queued(s->d.arg);
    } else {
        log_warn("submission from %s not queued: %s (%s)", j->origin, intake_strerror(rc),
                 strerror(-rc));
        verdict(&v, rc == -ENOSPC ? 452 : 451,
                rc == -ENOSPC ? "4.3.1 Insufficient system storage"
                              : "4.3.0 Cannot store the message now, try again later");
        smtp_server_message_done(j->session, &v, NULL);
    }
    s->busy--;
    queue_msg_free(j->msg);
    free(j->stored);
    submit_env_free(&j->env);
    signer_unref(j->signer);
    free(j);
    submission_maybe_done(s);
}

static int commit_insert(struct writer_job *wj, struct queue_txn *t)
{
    struct commit_job *j = (struct commit_job *)wj;
    int rc = queue_insert(t, j->msg, j->stored, j->stored_len);
    if (rc == 0)
        memcpy(j->id, j->msg->id, QUEUE_ID_SIZE);
    return rc;
}

static void commit_inserted(struct writer_job *wj, int rc)
{
    commit_finish((struct commit_job *)wj, rc);
}

static void commit_prepare(uv_work_t *w)
{
    struct commit_job *j = w->data;
    struct intake_smtp smtp = {
        .helo = j->helo,
        .peer = j->peer,
        .protocol = j->protocol,
        .tls = j->tls[0] ? j->tls : NULL,
        .user = j->user[0] ? j->user : NULL,
        .from_address = j->from_address,
    };
    j->rc = intake_prepare(j->hostname, j->signer, &j->env, (uid_t)-1, j->origin, &smtp, j->content,
                           j->content_len, &j->msg, &j->stored, &j->stored_len, j->dkim_note);
}

static void commit_prepared(uv_work_t *w, int status)
{
    struct commit_job *j = w->data;
    if (status != 0 || j->rc != 0) {
        commit_finish(j, status ? -ECANCELED : j->rc);
        return;
    }
    j->base.work = commit_insert;
    j->base.done = commit_inserted;
    writer_submit(j->sub->d.writer, &j->base);
}

static void on_message(void *arg, struct smtp_server_session *session,
                       struct smtp_server_client *cl, const struct smtp_server_envelope *env,
                       const char *content, size_t len)
{
    struct submission *s = arg;
    struct commit_job *j = calloc(1, sizeof(*j));
    struct smtp_server_verdict v = {0};
    int rc = -ENOMEM;

    if (!j)
        goto fail;
    submit_env_init(&j->env);
    snprintf(j->env.sender, sizeof(j->env.sender), "%s", env->sender);
    snprintf(j->env.envid, sizeof(j->env.envid), "%s", env->envid);
    j->env.ret = env->ret_hdrs ? QUEUE_RET_HDRS : QUEUE_RET_DEFAULT;
    j->env.body = env->body_8bit ? QUEUE_BODY_8BITMIME : QUEUE_BODY_7BIT;
    j->env.size = len;
    j->env.have_sender = j->env.have_size = 1;
    for (size_t i = 0; i < env->nrcpt; i++)
        if ((rc = submit_env_add_rcpt(&j->env, env->rcpt[i].address, (uint8_t)env->rcpt[i].notify,
                                      env->rcpt[i].orcpt)) < 0)
            goto fail;
    j->sub = s;
    j->session = session;
    j->content = content;
    j->content_len = len;
    snprintf(j->hostname, sizeof(j->hostname), "%s", s->d.cfg->hostname);
    j->signer = signer_ref(*s->d.signer);
    snprintf(j->helo, sizeof(j->helo), "%s", cl->helo[0] ? cl->helo : "unknown");
    snprintf(j->peer, sizeof(j->peer), "%s", cl->peer_text);
    snprintf(j->tls, sizeof(j->tls), "%s", cl->tls ? cl->tls_desc : "");
    snprintf(j->user, sizeof(j->user), "%s", cl->user);
    snprintf(j->protocol, sizeof(j->protocol), "ESMTP%s%s", cl->tls ? "S" : "",
             cl->user[0] ? "A" : "");
    if (env->sender[0])
        snprintf(j->from_address, sizeof(j->from_address), "%s", env->sender);
    else
        snprintf(j->from_address, sizeof(j->from_address), "postmaster@%.200s",
                 s->d.cfg->local_domain);
    snprintf(j->origin, sizeof(j->origin), "smtp [%.46s]%s%.40s", cl->peer_text,
             cl->user[0] ? " user=" : "", cl->user);
    j->work.data = j;
    if (uv_queue_work(s->d.loop, &j->work, commit_prepare, commit_prepared) != 0) {
        rc = -EAGAIN;
        goto fail;
    }
    s->busy++;
    return;
fail:
    if (j) {
        submit_env_free(&j->env);
        signer_unref(j->signer);
        free(j);
    }
    verdict(&v, rc == -EINVAL ? 550 : 451,
            rc == -EINVAL ? "5.1.3 Bad recipient address" : "4.3.0 Try again later");
    smtp_server_message_done(session, &v, NULL);
}

/* ---- service ---- */

static int load_cert(const struct config *cfg, struct tls_server_cert **out, char *err,
                     size_t errlen)
{
    *out = NULL;
    if (!cfg->tls_cert[0] && !cfg->tls_key[0])
        return 0;
    if (!cfg->tls_cert[0] || !cfg->tls_key[0]) {
        snprintf(err, errlen, "tls_cert and tls_key go together: set both or neither");
        return -EINVAL;
    }
    return tls_server_cert_load(cfg->tls_cert, cfg->tls_key, out, err, errlen);
}

static void server_config(const struct submission *s, struct smtp_server_config *sc)
{
    const struct config *cfg = s->d.cfg;
    memset(sc, 0, sizeof(*sc));
    sc->hostname = cfg->hostname;
    sc->max_message_size = cfg->max_message_size;
    sc->max_recipients = (unsigned)cfg->max_recipients;
    sc->normalize_bare_lf = strcmp(cfg->submission_bare_lf, "normalize") == 0;
    sc->command_timeout_ms = (unsigned)cfg->submission_timeout * 1000;
    sc->data_timeout_ms = (unsigned)cfg->submission_timeout * 1000;
    sc->min_data_rate = (unsigned)cfg->submission_min_data_rate;
    sc->max_errors = 10;
    sc->cert = s->cert;
}

int submission_start(const struct submission_deps *deps, struct submission **out, char *err,
                     size_t errlen)
{
    struct submission *s = calloc(1, sizeof(*s));
    const struct config *cfg = deps->cfg;
    const char *addrs[2] = {cfg->submission_listen, cfg->smtps_listen};
    struct smtp_server_hooks hooks = {0};
    struct smtp_server_config sc;
    int rc;

    *out = NULL;
    if (!s)
        return -ENOMEM;
    s->d = *deps;
    if ((rc = load_cert(cfg, &s->cert, err, errlen)) < 0)
        goto fail;
    if ((rc = auth_db_load(cfg->auth_users, cfg->local_domain, &s->auth, err, errlen)) < 0)
        goto fail;
    if (cfg->smtps_listen[0] && !s->cert) {
        snprintf(err, errlen, "smtps_listen %s needs tls_cert and tls_key", cfg->smtps_listen);
        rc = -EINVAL;
        goto fail;
    }
    hooks.arg = s;
    hooks.connect = on_connect;
    hooks.auth = on_auth;
    hooks.mail = on_mail;
    hooks.rcpt = on_rcpt;
    hooks.message = on_message;
    hooks.closed = on_closed;
    server_config(s, &sc);
    for (int i = 0; i < 2; i++) {
        char why[256];
        if (!addrs[i][0])
            continue;
        if ((rc = smtp_server_listen(deps->loop, addrs[i], i == 1, &sc, &hooks, &s->servers[i], why,
                                     sizeof(why))) < 0) {
            snprintf(err, errlen, "%s %s: %s", i ? "smtps_listen" : "submission_listen", addrs[i],
                     why);
            goto fail;
        }
        s->open_servers++;
        log_info("submission: listening on %s%s%s", addrs[i], i ? " (implicit TLS)" : "",
                 s->cert ? "" : " (no tls_cert: no STARTTLS, no AUTH)");
    }
    if (auth_db_count(s->auth))
        log_info("submission: %zu user(s) in %s", auth_db_count(s->auth), cfg->auth_users);
    *out = s;
    return 0;
fail:
    /* Servers already listening are closed with the daemon's loop; none
     * here can be, as the second one is the only one that can fail late. */
    for (int i = 0; i < 2; i++)
        if (s->servers[i])
            smtp_server_close(s->servers[i], NULL, NULL);
    tls_server_cert_unref(s->cert);
    auth_db_unref(s->auth);
    free(s);
    return rc;
}

int submission_reload(struct submission *s, char *err, size_t errlen)
{
    struct tls_server_cert *cert = NULL;
    struct auth_db *db = NULL;
    int rc;

    if (!s)
        return 0;
    if ((rc = load_cert(s->d.cfg, &cert, err, errlen)) < 0)
        return rc;
    if ((rc = auth_db_load(s->d.cfg->auth_users, s->d.cfg->local_domain, &db, err, errlen)) < 0) {
        tls_server_cert_unref(cert);
        return rc;
    }
    if (cert) {
        for (int i = 0; i < 2; i++)
            if (s->servers[i])
                smtp_server_set_cert(s->servers[i], cert);
        tls_server_cert_unref(s->cert);
        s->cert = cert;
    }
    auth_db_unref(s->auth);
    s->auth = db;
    log_info("submission: certificate and %zu user(s) reloaded", auth_db_count(db));
    return 0;
}

static void on_server_closed(void *arg)
{
    struct submission *s = arg;
    s->open_servers--;
    submission_maybe_done(s);
}

void submission_stop(struct submission *s, void (*done)(void *arg), void *arg)
{
    if (!s) {
        done(arg);
        return;
    }
    s->stopping = 1;
    s->stop_done = done;
    s->stop_arg = arg;
    for (int i = 0; i < 2; i++)
        if (s->servers[i])
            smtp_server_close(s->servers[i], on_server_closed, s);
    submission_maybe_done(s);
}
