/*
 * route.c - RFC 5321 5.1: from a recipient domain to the hosts to try and
 * their addresses, in order, over the lookups of dns.c.
 *
 * The MX answer decides the shape: NXDOMAIN and a null MX (RFC 7505) are
 * permanent, a temporary failure stays temporary (never a fallback to the
 * A record, which could deliver to the wrong host), NODATA makes the domain
 * its own host (the implicit MX). The MX hosts are sorted by preference
 * and shuffled within one preference, as 5.1 asks, so that equal hosts
 * share the load; then each host's A and/or AAAA lookups run in parallel.
 *
 * Trust: the MX host names come from the network; dns_addr() rejects the
 * ones that are not host names, and such a host counts as having no
 * address. Everything kept is bounded by the sizes in dns.h.
 */
#include "dns.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One address lookup: which host, which family. */
struct route__lookup {
    struct route__job *job;
    size_t host;
    int family;
};

struct route__host {
    enum dns_status st4, st6; /* DNS_CANCELLED + 1 while not asked */
    size_t n6;
    struct sockaddr_storage v6[DNS_ADDR_MAX];
};

struct route__job {
    struct dns *d;
    dns_route_cb cb;
    void *arg;
    int inet;
    size_t pending; /* address lookups not yet answered */
    char domain[DNS_NAME_MAX];
    struct route__lookup lookup[DNS_ROUTE_HOSTS_MAX][2];
    struct route__host state[DNS_ROUTE_HOSTS_MAX];
    struct dns_route route; /* host[i].addr holds the IPv4 addresses until the end */
};

#define ROUTE__NOT_ASKED ((enum dns_status)(DNS_CANCELLED + 1))

/* Hands the route to the caller and frees the job. */
static void route__finish(struct route__job *job, enum dns_route_status status, const char *fmt,
                          ...) __attribute__((format(printf, 3, 4)));

static void route__finish(struct route__job *job, enum dns_route_status status, const char *fmt,
                          ...)
{
    va_list ap;

    job->route.status = status;
    va_start(ap, fmt);
    vsnprintf(job->route.why, sizeof(job->route.why), fmt, ap);
    va_end(ap);
    if (status != DNS_ROUTE_OK)
        job->route.nhosts = 0;
    job->cb(job->arg, &job->route);
    free(job);
}

/* Appends ", name" (or "name" first) to a bounded list for the why text. */
static void route__list_add(char *buf, size_t size, const char *name)
{
    size_t len = strlen(buf);

    if (len + 1 >= size)
        return;
    snprintf(buf + len, size - len, "%s%s", len ? ", " : "", name);
}

/* All address lookups are in: keep the hosts that have an address, IPv4
 * first, and decide the status. */
static void route__hosts_done(struct route__job *job)
{
    struct dns_route *r = &job->route;
    char none[160] = "", failed[160] = "";
    size_t i, kept = 0;
    int cancelled = 0;

    for (i = 0; i < r->nhosts; i++) {
        struct route__host *s = &job->state[i];
        struct dns_route_host *h = &r->host[i];
        int temp = s->st4 == DNS_TEMPFAIL || s->st6 == DNS_TEMPFAIL;

        if (s->st4 == DNS_CANCELLED || s->st6 == DNS_CANCELLED)
            cancelled = 1;
        memcpy(h->addr + h->naddr, s->v6, s->n6 * sizeof(s->v6[0]));
        h->naddr += s->n6;
        if (h->naddr == 0) {
            route__list_add(temp ? failed : none, temp ? sizeof(failed) : sizeof(none), h->name);
            continue;
        }
        if (kept != i)
            r->host[kept] = *h;
        kept++;
    }
    r->nhosts = kept;

    if (cancelled)
        route__finish(job, DNS_ROUTE_CANCELLED, "%s: cancelled: the resolver was shut down",
                      job->domain);
    else if (kept > 0 && r->implicit)
        route__finish(job, DNS_ROUTE_OK, "%s: no MX record, the domain itself is the host",
                      job->domain);
    else if (kept > 0)
        route__finish(job, DNS_ROUTE_OK, "%s: %zu MX host%s%s%s%s%s", job->domain, kept,
                      kept == 1 ? "" : "s", *failed ? "; lookup failed: " : "", failed,
                      *none ? "; no address: " : "", none);
    else if (*failed)
        route__finish(job, DNS_ROUTE_TEMPFAIL, "%s: address lookup failed temporarily for %s",
                      job->domain, failed);
    else if (r->implicit)
        route__finish(job, DNS_ROUTE_NO_HOSTS, "%s: no MX record and no address for the domain",
                      job->domain);
    else
        route__finish(job, DNS_ROUTE_NO_HOSTS, "%s: no MX host has an address: %s", job->domain,
                      none);
}

static void route__addr_cb(void *arg, enum dns_status st, const struct sockaddr_storage *addrs,
                           size_t n)
{
    struct route__lookup *l = arg;
    struct route__job *job = l->job;
    struct route__host *s = &job->state[l->host];
    struct dns_route_host *h = &job->route.host[l->host];

    if (!addrs || n > DNS_ADDR_MAX)
        n = addrs ? DNS_ADDR_MAX : 0;
    if (l->family == AF_INET) {
        s->st4 = st;
        if (n)
            memcpy(h->addr, addrs, n * sizeof(addrs[0]));
        h->naddr = n;
    } else {
        s->st6 = st;
        if (n)
            memcpy(s->v6, addrs, n * sizeof(addrs[0]));
        s->n6 = n;
    }
    if (--job->pending == 0)
        route__hosts_done(job);
}

/* Starts the address lookups of every host in job->route. */
static void route__resolve_hosts(struct route__job *job)
{
    static const int families[2] = {AF_INET, AF_INET6};
    size_t i, f;

    /* A rejected name is answered right here; this guard keeps the job
     * alive until every lookup has been started. */
    job->pending = 1;
    for (i = 0; i < job->route.nhosts; i++) {
        job->state[i].st4 = job->state[i].st6 = ROUTE__NOT_ASKED;
        for (f = 0; f < 2; f++) {
            struct route__lookup *l = &job->lookup[i][f];
            int rc;

            if (job->inet != DNS_INET_ALL && job->inet != (int)f + 1)
                continue;
            l->job = job;
            l->host = i;
            l->family = families[f];
            job->pending++;
            rc = dns_addr(job->d, job->route.host[i].name, families[f], route__addr_cb, l);
            if (rc < 0)
                /* -EINVAL: not a host name, so it has no address; -ENOMEM
                 * is ours and passes. */
                route__addr_cb(l, rc == -EINVAL ? DNS_NXDOMAIN : DNS_TEMPFAIL, NULL, 0);
        }
    }
    if (--job->pending == 0)
        route__hosts_done(job);
}

static int route__pref_cmp(const void *a, const void *b)
{
    const struct dns_mx *x = a, *y = b;
    return (int)x->pref - (int)y->pref;
}

static void route__mx_cb(void *arg, enum dns_status st, const struct dns_mx *mx, size_t n)
{
    struct route__job *job = arg;
    struct dns_route *r = &job->route;
    struct dns_mx sorted[DNS_MX_MAX];
    size_t i, j, k, m = 0;

    switch (st) {
    case DNS_OK:
        break;
    case DNS_NODATA:
        r->implicit = 1;
        r->nhosts = 1;
        r->host[0].pref = 0;
        memcpy(r->host[0].name, job->domain, sizeof(job->domain));
        route__resolve_hosts(job);
        return;
    case DNS_NXDOMAIN:
        route__finish(job, DNS_ROUTE_NXDOMAIN, "%s: the domain does not exist (NXDOMAIN)",
                      job->domain);
        return;
    case DNS_TEMPFAIL:
        route__finish(job, DNS_ROUTE_TEMPFAIL,
                      "%s: MX lookup failed temporarily (server failure or timeout)", job->domain);
        return;
    case DNS_CANCELLED:
        route__finish(job, DNS_ROUTE_CANCELLED, "%s: cancelled: the resolver was shut down",
                      job->domain);
        return;
    }

    /* "." cannot be delivered to; alone it is the null MX, beside real
     * hosts (a misconfiguration) it is skipped. */
    for (i = 0; i < n && m < DNS_MX_MAX; i++)
        if (strcmp(mx[i].host, ".") != 0)
            sorted[m++] = mx[i];
    if (m == 0) {
        route__finish(job, DNS_ROUTE_NULL_MX, "%s: null MX (RFC 7505): the domain accepts no mail",
                      job->domain);
        return;
    }
    qsort(sorted, m, sizeof(sorted[0]), route__pref_cmp);
    for (i = 0; i < m; i = j) {
        for (j = i + 1; j < m && sorted[j].pref == sorted[i].pref; j++)
            ;
        for (k = j - 1; k > i; k--) {
            size_t pick = i + arc4random_uniform((uint32_t)(k - i + 1));
            struct dns_mx tmp = sorted[k];
            sorted[k] = sorted[pick];
            sorted[pick] = tmp;
        }
    }
    /* A host named twice is tried once, at its best preference. */
    for (i = 0; i < m && r->nhosts < DNS_ROUTE_HOSTS_MAX; i++) {
        for (k = 0; k < r->nhosts; k++)
            if (strcasecmp(r->host[k].name, sorted[i].host) == 0)
                break;
        if (k < r->nhosts)
            continue;
        r->host[r->nhosts].pref = sorted[i].pref;
        memcpy(r->host[r->nhosts].name, sorted[i].host, sizeof(sorted[i].host));
        r->nhosts++;
    }
    route__resolve_hosts(job);
}

int dns_route(struct dns *d, const char *domain, int inet, dns_route_cb cb, void *arg)
{
    struct route__job *job = NULL;
    size_t len, i;
    int rc;

    if (!d || !domain || !cb ||
        (inet != DNS_INET_ALL && inet != DNS_INET_IPV4 && inet != DNS_INET_IPV6))
        return -EINVAL;
    len = strnlen(domain, DNS_NAME_MAX);
    if (len == DNS_NAME_MAX)
        return -EINVAL;
    job = calloc(1, sizeof(*job));
    if (!job)
        return -ENOMEM;
    job->d = d;
    job->cb = cb;
    job->arg = arg;
    job->inet = inet;
    if (len > 1 && domain[len - 1] == '.')
        len--;
    for (i = 0; i < len; i++) {
        char c = domain[i];
        job->domain[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    job->domain[len] = '\0';
    /* dns_mx() checks the name; its answer never comes before it returns. */
    rc = dns_mx(d, job->domain, route__mx_cb, job);
    if (rc < 0)
        goto fail;
    return 0;

fail:
    free(job);
    return rc;
}
