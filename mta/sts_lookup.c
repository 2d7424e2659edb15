/*
 * sts_lookup.c - finding a destination's MTA-STS policy (see
 * sts_lookup.h).
 *
 * Trust: the TXT record and the policy come from the network and are
 * parsed by sts.c with bounds; the policy is believed only when fetched
 * over HTTPS verified for mta-sts.DOMAIN. The cached copy is our own, but
 * is decoded strictly all the same.
 */
#include "sts_lookup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

struct sts_req {
    struct sts_lookup_ctx ctx;
    char domain[STS_DOMAIN_MAX];
    sts_lookup_cb cb;
    void *arg;
    int waiting; /* the note read and the TXT lookup */

    struct sts_policy *cached; /* from the note, or NULL */
    int txt_rc;                /* 0 with txt_id, -ENOENT none, -EINVAL bad, -EAGAIN DNS failed */
    char txt_id[STS_ID_MAX];

    uv_work_t work;
    struct sockaddr_storage addr;
    struct sts_policy *fetched;
    int fetch_rc;
    char why[STS_LOOKUP_NOTE_MAX];
};

/* Reads the cached policy inside a writer batch. */
struct sts_read_job {
    struct writer_job base;
    struct sts_req *r;
    char buf[STS_ENCODED_MAX];
    size_t len;
    int found;
};

struct sts_write_job {
    struct writer_job base;
    char key[8 + STS_DOMAIN_MAX];
    char buf[STS_ENCODED_MAX];
    size_t len;
};

static void sts_finish(struct sts_req *r, struct sts_policy *p, const char *note)
{
    if (p && p->mode == STS_MODE_NONE) {
        free(p); /* "none": the domain asks for nothing */
        p = NULL;
    }
    r->cb(r->arg, p, note ? note : "");
    if (r->cached != p)
        free(r->cached);
    if (r->fetched != p)
        free(r->fetched);
    free(r);
}

/* The cached policy if it may still be used, else NULL; ownership moves. */
static struct sts_policy *sts_take_cached(struct sts_req *r)
{
    struct sts_policy *p = r->cached;
    if (p && sts_policy_expired(p, time(NULL)))
        return NULL;
    return p;
}

static void write_done(struct writer_job *wj, int rc)
{
    struct sts_write_job *j = (struct sts_write_job *)wj;
    if (rc)
        log_warn("MTA-STS: cannot cache the policy (%s): %s", j->key, strerror(-rc));
    free(j);
}

static int write_work(struct writer_job *wj, struct queue_txn *t)
{
    struct sts_write_job *j = (struct sts_write_job *)wj;
    return queue_note_put(t, j->key, j->buf, j->len);
}

static void sts_cache(struct sts_req *r, const struct sts_policy *p)
{
    struct sts_write_job *j = calloc(1, sizeof(*j));
    int n;
    if (!j)
        return;
    snprintf(j->key, sizeof(j->key), "sts:%s", r->domain);
    if ((n = sts_policy_encode(p, j->buf, sizeof(j->buf))) < 0) {
        free(j);
        return;
    }
    j->len = (size_t)n;
    j->base.work = write_work;
    j->base.done = write_done;
    writer_submit(r->ctx.writer, &j->base);
}

/* Worker thread: the fetch and the parse. */
static void fetch_work(uv_work_t *w)
{
    struct sts_req *r = w->data;
    char *body = NULL, err[256] = "";
    size_t len = 0;

    r->fetch_rc = sts_fetch((const struct sockaddr *)&r->addr, r->domain, r->ctx.trust,
                            STS_LOOKUP_TIMEOUT_MS, &body, &len, err, sizeof(err));
    if (r->fetch_rc < 0) {
        snprintf(r->why, sizeof(r->why), "%s", err);
        return;
    }
    if (!(r->fetched = calloc(1, sizeof(*r->fetched)))) {
        r->fetch_rc = -ENOMEM;
        snprintf(r->why, sizeof(r->why), "out of memory");
    } else if ((r->fetch_rc = sts_policy_parse(body, len, r->fetched, err, sizeof(err))) < 0) {
        snprintf(r->why, sizeof(r->why), "policy refused: %s", err);
        free(r->fetched);
        r->fetched = NULL;
    }
    free(body);
}

static void fetch_done(uv_work_t *w, int status)
{
    struct sts_req *r = w->data;
    char note[STS_LOOKUP_NOTE_MAX];

    if (status == 0 && r->fetch_rc == 0) {
        struct sts_policy *p = r->fetched;
        snprintf(p->id, sizeof(p->id), "%s", r->txt_id);
        p->fetched = (int64_t)time(NULL);
        sts_cache(r, p);
        snprintf(note, sizeof(note), "MTA-STS policy of %s fetched: id %s, mode %s, max_age %llu",
                 r->domain, p->id, sts_mode_name(p->mode), (unsigned long long)p->max_age);
        sts_finish(r, p, note);
        return;
    }
    struct sts_policy *cached = sts_take_cached(r);
    snprintf(note, sizeof(note), "MTA-STS policy fetch for %.200s failed: %.200s; %s", r->domain,
             status ? "cancelled" : r->why,
             cached ? "the cached policy stays in force" : "no policy applies");
    sts_finish(r, cached, note);
}

static void addr_done(void *arg, enum dns_status st, const struct sockaddr_storage *addrs, size_t n)
{
    struct sts_req *r = arg;
    char note[STS_LOOKUP_NOTE_MAX];

    if (st != DNS_OK || n == 0) {
        struct sts_policy *cached = sts_take_cached(r);
        snprintf(note, sizeof(note), "MTA-STS: no address for mta-sts.%s; %s", r->domain,
                 cached ? "the cached policy stays in force" : "no policy applies");
        sts_finish(r, cached, note);
        return;
    }
    r->addr = addrs[0];
    ((struct sockaddr_in *)&r->addr)->sin_port = htons(STS_LOOKUP_PORT);
    r->work.data = r;
    if (uv_queue_work(r->ctx.loop, &r->work, fetch_work, fetch_done) != 0) {
        struct sts_policy *cached = sts_take_cached(r);
        sts_finish(r, cached, "MTA-STS: cannot start the fetch");
    }
}

/* Both the cache and the TXT record are in: decide. */
static void sts_decide(struct sts_req *r)
{
    char name[8 + STS_DOMAIN_MAX], note[STS_LOOKUP_NOTE_MAX];

    if (r->txt_rc != 0) {
        /* No record (or a broken one, or DNS failed): a cached policy
         * that has not expired still applies (RFC 8461 5.1). */
        struct sts_policy *cached = sts_take_cached(r);
        note[0] = '\0';
        if (r->txt_rc == -EINVAL)
            snprintf(note, sizeof(note), "MTA-STS: invalid or several _mta-sts records for %s",
                     r->domain);
        sts_finish(r, cached, note);
        return;
    }
    if (r->cached && strcmp(r->cached->id, r->txt_id) == 0 &&
        !sts_policy_expired(r->cached, time(NULL))) {
        sts_finish(r, r->cached, "");
        return;
    }
    if (!r->ctx.trust) {
        sts_finish(r, sts_take_cached(r),
                   "MTA-STS: no trust anchors loaded (tls_ca_file): cannot fetch a policy");
        return;
    }
    snprintf(name, sizeof(name), "mta-sts.%s", r->domain);
    if (dns_addr(r->ctx.dns, name, AF_INET, addr_done, r) != 0)
        sts_finish(r, sts_take_cached(r), "MTA-STS: bad policy host name");
}

static void txt_done(void *arg, enum dns_status st, const char *const *txt, size_t n)
{
    struct sts_req *r = arg;
    size_t lens[64];

    if (st == DNS_OK && n > 0) {
        if (n > sizeof(lens) / sizeof(lens[0]))
            n = sizeof(lens) / sizeof(lens[0]);
        for (size_t i = 0; i < n; i++)
            lens[i] = strlen(txt[i]);
        r->txt_rc = sts_txt_select(txt, lens, n, r->txt_id);
    } else {
        r->txt_rc = st == DNS_NXDOMAIN || st == DNS_NODATA || st == DNS_OK ? -ENOENT : -EAGAIN;
    }
    if (--r->waiting == 0)
        sts_decide(r);
}

static int read_work(struct writer_job *wj, struct queue_txn *t)
{
    struct sts_read_job *j = (struct sts_read_job *)wj;
    char key[8 + STS_DOMAIN_MAX];
    int rc;

    snprintf(key, sizeof(key), "sts:%s", j->r->domain);
    j->len = sizeof(j->buf);
    rc = queue_note_get(t, key, j->buf, &j->len);
    if (rc == -ENOENT)
        return 0;
    j->found = rc == 0 && j->len <= sizeof(j->buf);
    return rc;
}

static void read_done(struct writer_job *wj, int rc)
{
    struct sts_read_job *j = (struct sts_read_job *)wj;
    struct sts_req *r = j->r;

    if (rc == 0 && j->found && (r->cached = malloc(sizeof(*r->cached))) &&
        sts_policy_decode(j->buf, j->len, r->cached) != 0) {
        free(r->cached);
        r->cached = NULL;
    }
    free(j);
    if (--r->waiting == 0)
        sts_decide(r);
}

int sts_lookup_start(const struct sts_lookup_ctx *ctx, const char *domain, sts_lookup_cb cb,
                     void *arg)
{
    struct sts_req *r = NULL;
    struct sts_read_job *j = NULL;
    char name[16 + STS_DOMAIN_MAX];

    if (strlen(domain) >= STS_DOMAIN_MAX)
        return -EINVAL;
    if (!(r = calloc(1, sizeof(*r))) || !(j = calloc(1, sizeof(*j)))) {
        free(r);
        return -ENOMEM;
    }
    r->ctx = *ctx;
    snprintf(r->domain, sizeof(r->domain), "%s", domain);
    r->cb = cb;
    r->arg = arg;
    snprintf(name, sizeof(name), "_mta-sts.%s", domain);
    if (dns_txt(ctx->dns, name, txt_done, r) != 0) {
        free(j);
        free(r);
        return -EINVAL;
    }
    r->waiting = 2;
    j->r = r;
    j->base.work = read_work;
    j->base.done = read_done;
    writer_submit(ctx->writer, &j->base);
    return 0;
}
