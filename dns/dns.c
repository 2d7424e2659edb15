/*
 * dns.c - MX/A/AAAA/TXT lookups with c-ares on a libuv loop, and the cache
 * in front of them.
 *
 * c-ares owns the sockets and the retry logic; it tells us through
 * ARES_OPT_SOCK_STATE_CB which sockets to watch (one uv_poll_t each) and
 * through ares_timeout() when it next needs to run (one uv_timer_t).
 *
 * Every lookup is an entry in one hash table keyed by (type, lower-cased
 * name). While the network query is in flight the entry collects waiters,
 * so a thousand messages to one domain cost one query; once answered it
 * stays as a cache entry until its TTL runs out: the smallest TTL of the
 * answer records, or for NXDOMAIN/NODATA the SOA's per RFC 2308 (capped at
 * an hour, 60 s without SOA). Temporary failures are not kept. Completed
 * entries sit on an LRU list bounded by cache_max.
 *
 * Callbacks run only from the uv_idle handler (or from dns_free, with
 * DNS_CANCELLED), never from the call that started a lookup and never from
 * inside c-ares, so a callback may start lookups or free the resolver.
 *
 * Trust: answers come from the network. c-ares parses them; the TTL walker
 * below reads the raw message itself and checks every length against the
 * message before it reads. Names, record counts and TXT sizes kept here are
 * bounded.
 */
#include "dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define DNS_DEFAULT_TIMEOUT_MS 2000
#define DNS_DEFAULT_TRIES 3
#define DNS_DEFAULT_CACHE_MAX 10000
#define DNS_BUCKETS_MAX 65536
#define DNS_NEGATIVE_TTL_DEFAULT 60 /* seconds, when NXDOMAIN/NODATA has no SOA */
#define DNS_NEGATIVE_TTL_MAX 3600   /* RFC 2308 5: one to three hours; we take one */
#define DNS_POSITIVE_TTL_MAX 86400
#define DNS_TXT_MAX 64 /* TXT records kept per name */
#define DNS_SWEEP_INTERVAL_MS 1000

enum dns__type {
    DNS__MX,
    DNS__A,
    DNS__AAAA,
    DNS__TXT,
};

struct dns__waiter {
    struct dns__waiter *next;
    struct dns__entry *entry; /* NULL: queued while the resolver was closing */
    enum dns__type type;
    union {
        dns_mx_cb mx;
        dns_addr_cb addr;
        dns_txt_cb txt;
    } cb;
    void *arg;
};

struct dns__entry {
    struct dns *d;
    struct dns__entry *hash_next;
    struct dns__entry *lru_prev, *lru_next; /* completed entries only, newest first */
    unsigned refs;                          /* the table's, plus one per queued waiter */
    int in_table, in_lru, pending;
    enum dns__type type;
    struct dns__waiter *waiters, **waiters_tail; /* while pending */
    enum dns_status st;
    uint64_t expires; /* uv_now() milliseconds */
    size_t n;
    union {
        struct dns_mx *mx;
        struct sockaddr_storage *addr;
        char **txt; /* n pointers, then the strings, in one allocation */
    } r;
    char name[DNS_NAME_MAX];
};

struct dns__sock {
    uv_poll_t poll;
    struct dns *d;
    struct dns__sock *next;
    ares_socket_t fd;
};

struct dns {
    uv_loop_t *loop;
    ares_channel channel;
    int library_initialized;
    uv_timer_t timer;
    uv_idle_t idle;
    unsigned handles_open; /* memory is freed when dns_free ran and this is 0 */
    int closing;
    struct dns__sock *socks;
    struct dns__entry **buckets;
    size_t nbuckets; /* a power of two */
    struct dns__entry *lru_head, *lru_tail;
    size_t ncached, cache_max;
    uint64_t last_sweep;
    struct dns__waiter *ready_head, *ready_tail;
    size_t nready;
    uint64_t cache_hits, queries;
};

static void dns__arm_timer(struct dns *d);
static void dns__timer_cb(uv_timer_t *timer);

/* The one place c-ares codes become errno values. */
static int dns__ares_err(int rc)
{
    switch (rc) {
    case ARES_SUCCESS:
        return 0;
    case ARES_ENOMEM:
        return -ENOMEM;
    case ARES_EBADSTR:
    case ARES_EBADNAME:
    case ARES_EBADFLAGS:
        return -EINVAL;
    case ARES_EFILE:
        return -ENOENT;
    default:
        return -EIO;
    }
}

/*
 * Copies name lower-cased, without one trailing dot, into out. A name is
 * letters, digits, '-' and '_' (for _dmarc and DKIM selectors) in labels of
 * 1 to 63 characters, 253 at most in all. Returns 0 or -EINVAL.
 */
static int dns__normalize(const char *name, char out[DNS_NAME_MAX])
{
    size_t len, label = 0, i;

    if (!name)
        return -EINVAL;
    len = strnlen(name, DNS_NAME_MAX);
    if (len == DNS_NAME_MAX)
        return -EINVAL;
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > 253)
        return -EINVAL;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '.') {
            if (label == 0)
                return -EINVAL;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
            label++;
        } else if (c >= 'A' && c <= 'Z') {
            c = (unsigned char)(c - 'A' + 'a');
            label++;
        } else {
            return -EINVAL;
        }
        if (label > 63)
            return -EINVAL;
        out[i] = (char)c;
    }
    out[len] = '\0';
    return 0;
}

/* Checks one "port" of a server: 1 to 65535, digits only. */
static int dns__check_port(const char *s, size_t len)
{
    unsigned long port = 0;
    size_t i;

    if (len == 0 || len > 5)
        return -EINVAL;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        port = port * 10 + (unsigned long)(s[i] - '0');
    }
    return port >= 1 && port <= 65535 ? 0 : -EINVAL;
}

/*
 * Checks "ip[:port],[ipv6]:port,ipv6" before c-ares sees it: c-ares reads
 * ports with atoi and would take "99999" or "53x" without a word.
 */
static int dns__check_servers(const char *servers)
{
    const char *item = servers;
    char addr[INET6_ADDRSTRLEN];
    unsigned char bin[sizeof(struct in6_addr)];

    for (;;) {
        size_t len = strcspn(item, ","), alen;
        const char *port = NULL, *colon;

        if (item[0] == '[') {
            const char *close = memchr(item, ']', len);
            if (!close)
                return -EINVAL;
            alen = (size_t)(close - item - 1);
            if (alen >= sizeof(addr))
                return -EINVAL;
            memcpy(addr, item + 1, alen);
            addr[alen] = '\0';
            if (inet_pton(AF_INET6, addr, bin) != 1)
                return -EINVAL;
            if (close + 1 < item + len) {
                if (close[1] != ':')
                    return -EINVAL;
                port = close + 2;
            }
        } else {
            colon = memchr(item, ':', len);
            if (colon && memchr(colon + 1, ':', (size_t)(item + len - colon - 1)))
                colon = NULL; /* a bare IPv6 address */
            alen = colon ? (size_t)(colon - item) : len;
            if (alen >= sizeof(addr))
                return -EINVAL;
            memcpy(addr, item, alen);
            addr[alen] = '\0';
            if (inet_pton(colon ? AF_INET : (strchr(addr, ':') ? AF_INET6 : AF_INET), addr, bin) !=
                1)
                return -EINVAL;
            if (colon)
                port = colon + 1;
        }
        if (port && dns__check_port(port, (size_t)(item + len - port)) < 0)
            return -EINVAL;
        if (item[len] == '\0')
            return 0;
        item += len + 1;
    }
}

/* ---- the TTL walker: reads what c-ares does not give us ---- */

static uint32_t dns__get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static unsigned dns__get16(const unsigned char *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* Moves *pos past the name there. Returns 0 or -1 for a malformed name. */
static int dns__skip_name(const unsigned char *abuf, int alen, int *pos)
{
    char *name = NULL;
    long enclen = 0;

    if (*pos >= alen)
        return -1;
    if (ares_expand_name(abuf + *pos, abuf, alen, &name, &enclen) != ARES_SUCCESS)
        return -1;
    ares_free_string(name);
    if (enclen <= 0 || enclen > alen - *pos)
        return -1;
    *pos += (int)enclen;
    return 0;
}

/* A TTL with the top bit set is read as 0 (RFC 2181 8). */
static uint32_t dns__ttl(uint32_t ttl)
{
    return ttl & 0x80000000u ? 0 : ttl;
}

/*
 * Walks the message for its TTLs: *answer_ttl is the smallest TTL in the
 * answer section (UINT32_MAX when there is none), *negative_ttl the
 * RFC 2308 5 TTL of the authority SOA, min(SOA TTL, SOA MINIMUM)
 * (UINT32_MAX without SOA). Returns 0 or -1 for a malformed message.
 */
static int dns__walk_ttls(const unsigned char *abuf, int alen, uint32_t *answer_ttl,
                          uint32_t *negative_ttl)
{
    unsigned qdcount, ancount, nscount, i;
    int pos = HFIXEDSZ;

    *answer_ttl = UINT32_MAX;
    *negative_ttl = UINT32_MAX;
    if (!abuf || alen < HFIXEDSZ)
        return -1;
    qdcount = dns__get16(abuf + 4);
    ancount = dns__get16(abuf + 6);
    nscount = dns__get16(abuf + 8);
    for (i = 0; i < qdcount; i++) {
        if (dns__skip_name(abuf, alen, &pos) < 0 || alen - pos < QFIXEDSZ)
            return -1;
        pos += QFIXEDSZ;
    }
    for (i = 0; i < ancount + nscount; i++) {
        unsigned type, rdlen;
        uint32_t ttl;
        int rdata;

        if (dns__skip_name(abuf, alen, &pos) < 0 || alen - pos < RRFIXEDSZ)
            return -1;
        type = dns__get16(abuf + pos);
        ttl = dns__ttl(dns__get32(abuf + pos + 4));
        rdlen = dns__get16(abuf + pos + 8);
        pos += RRFIXEDSZ;
        if ((unsigned)(alen - pos) < rdlen)
            return -1;
        rdata = pos;
        if (i < ancount) {
            if (ttl < *answer_ttl)
                *answer_ttl = ttl;
        } else if (type == ns_t_soa) {
            int p = rdata;
            uint32_t minimum;

            /* MNAME, RNAME, then SERIAL REFRESH RETRY EXPIRE MINIMUM. */
            if (dns__skip_name(abuf, alen, &p) < 0 || dns__skip_name(abuf, alen, &p) < 0)
                return -1;
            if (p + 20 > rdata + (int)rdlen)
                return -1;
            minimum = dns__ttl(dns__get32(abuf + p + 16));
            if (minimum < ttl)
                ttl = minimum;
            if (ttl < *negative_ttl)
                *negative_ttl = ttl;
        }
        pos = rdata + (int)rdlen;
    }
    return 0;
}

/* ---- results: from c-ares's structures into one entry's arrays ---- */

static int dns__mx_cmp(const void *a, const void *b)
{
    const struct dns_mx *x = a, *y = b;
    return (int)x->pref - (int)y->pref;
}

static enum dns_status dns__parse_mx(struct dns__entry *e, const unsigned char *abuf, int alen)
{
    struct ares_mx_reply *list = NULL, *m;
    size_t n = 0, total = 0, cap;
    int rc;

    rc = ares_parse_mx_reply(abuf, alen, &list);
    if (rc == ARES_ENODATA)
        return DNS_NODATA;
    if (rc != ARES_SUCCESS)
        return DNS_TEMPFAIL;
    for (m = list; m; m = m->next)
        total++;
    /* Keep them all while sorting away the excess, then cut to DNS_MX_MAX. */
    cap = total;
    e->r.mx = calloc(cap ? cap : 1, sizeof(*e->r.mx));
    if (!e->r.mx) {
        ares_free_data(list);
        return DNS_TEMPFAIL;
    }
    for (m = list; m; m = m->next) {
        size_t len = strlen(m->host);

        if (len >= DNS_NAME_MAX)
            continue;
        e->r.mx[n].pref = m->priority;
        /* c-ares spells the root name as "". */
        memcpy(e->r.mx[n].host, len ? m->host : ".", len ? len + 1 : 2);
        n++;
    }
    ares_free_data(list);
    if (n > DNS_MX_MAX) {
        qsort(e->r.mx, n, sizeof(*e->r.mx), dns__mx_cmp);
        n = DNS_MX_MAX;
    }
    e->n = n;
    return n ? DNS_OK : DNS_NODATA;
}

static enum dns_status dns__parse_addr(struct dns__entry *e, const unsigned char *abuf, int alen,
                                       uint32_t *ttl)
{
    struct ares_addrttl ttl4[DNS_ADDR_MAX];
    struct ares_addr6ttl ttl6[DNS_ADDR_MAX];
    int n = DNS_ADDR_MAX, rc, i;

    if (e->type == DNS__A)
        rc = ares_parse_a_reply(abuf, alen, NULL, ttl4, &n);
    else
        rc = ares_parse_aaaa_reply(abuf, alen, NULL, ttl6, &n);
    if (rc == ARES_ENODATA || (rc == ARES_SUCCESS && n <= 0))
        return DNS_NODATA;
    if (rc != ARES_SUCCESS || n > DNS_ADDR_MAX)
        return DNS_TEMPFAIL;
    e->r.addr = calloc((size_t)n, sizeof(*e->r.addr));
    if (!e->r.addr)
        return DNS_TEMPFAIL;
    for (i = 0; i < n; i++) {
        int t;

        if (e->type == DNS__A) {
            struct sockaddr_in *sin = (struct sockaddr_in *)&e->r.addr[i];
            sin->sin_family = AF_INET;
            sin->sin_addr = ttl4[i].ipaddr;
            t = ttl4[i].ttl;
        } else {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&e->r.addr[i];
            sin6->sin6_family = AF_INET6;
            memcpy(&sin6->sin6_addr, &ttl6[i].ip6addr, sizeof(sin6->sin6_addr));
            t = ttl6[i].ttl;
        }
        /* c-ares folds the CNAME chain's TTLs into these. */
        if (t < 0)
            t = 0;
        if ((uint32_t)t < *ttl)
            *ttl = (uint32_t)t;
    }
    e->n = (size_t)n;
    return DNS_OK;
}

static enum dns_status dns__parse_txt(struct dns__entry *e, const unsigned char *abuf, int alen)
{
    struct ares_txt_ext *list = NULL, *t;
    size_t n = 0, bytes = 0, i;
    char *p;
    int rc;

    rc = ares_parse_txt_reply_ext(abuf, alen, &list);
    if (rc == ARES_ENODATA)
        return DNS_NODATA;
    if (rc != ARES_SUCCESS)
        return DNS_TEMPFAIL;
    /* Sizes are bounded by the message (at most 64 KiB), so they cannot
     * overflow; count first, then copy into one block. */
    for (t = list; t; t = t->next) {
        if (t->record_start || n == 0) {
            if (n == DNS_TXT_MAX)
                break;
            n++;
            bytes++; /* NUL */
        }
        bytes += t->length;
    }
    if (n == 0) {
        ares_free_data(list);
        return DNS_NODATA;
    }
    e->r.txt = malloc(n * sizeof(char *) + bytes);
    if (!e->r.txt) {
        ares_free_data(list);
        return DNS_TEMPFAIL;
    }
    p = (char *)(e->r.txt + n);
    i = 0;
    for (t = list; t; t = t->next) {
        if (t->record_start || i == 0) {
            if (i == n)
                break;
            if (i > 0)
                *p++ = '\0';
            e->r.txt[i++] = p;
        }
        memcpy(p, t->txt, t->length);
        p += t->length;
    }
    *p = '\0';
    ares_free_data(list);
    e->n = n;
    return DNS_OK;
}

/* ---- the table and the LRU list ---- */

static size_t dns__hash(enum dns__type type, const char *name)
{
    uint64_t h = 1469598103934665603u ^ (uint64_t)type;

    for (; *name; name++) {
        h ^= (unsigned char)*name;
        h *= 1099511628211u;
    }
    return (size_t)h;
}

static struct dns__entry *dns__find(struct dns *d, enum dns__type type, const char *name)
{
    struct dns__entry *e = d->buckets[dns__hash(type, name) & (d->nbuckets - 1)];

    for (; e; e = e->hash_next)
        if (e->type == type && strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

static void dns__entry_unref(struct dns__entry *e)
{
    if (--e->refs > 0)
        return;
    switch (e->type) {
    case DNS__MX:
        free(e->r.mx);
        break;
    case DNS__A:
    case DNS__AAAA:
        free(e->r.addr);
        break;
    case DNS__TXT:
        free(e->r.txt);
        break;
    }
    free(e);
}

static void dns__lru_remove(struct dns *d, struct dns__entry *e)
{
    if (!e->in_lru)
        return;
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        d->lru_head = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        d->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
    e->in_lru = 0;
    d->ncached--;
}

static void dns__lru_push(struct dns *d, struct dns__entry *e)
{
    e->lru_prev = NULL;
    e->lru_next = d->lru_head;
    if (d->lru_head)
        d->lru_head->lru_prev = e;
    else
        d->lru_tail = e;
    d->lru_head = e;
    e->in_lru = 1;
    d->ncached++;
}

/* Takes e out of the table (and the LRU list), dropping the table's ref. */
static void dns__unlink(struct dns *d, struct dns__entry *e)
{
    struct dns__entry **pp = &d->buckets[dns__hash(e->type, e->name) & (d->nbuckets - 1)];

    if (!e->in_table)
        return;
    dns__lru_remove(d, e);
    while (*pp != e)
        pp = &(*pp)->hash_next;
    *pp = e->hash_next;
    e->hash_next = NULL;
    e->in_table = 0;
    dns__entry_unref(e);
}

/* Makes room for one more cached entry: expired ones first (a full sweep
 * at most once a second, so a cache full of live entries costs O(1) per
 * insertion), else the least recently used. */
static void dns__make_room(struct dns *d)
{
    uint64_t now = uv_now(d->loop);

    if (d->ncached < d->cache_max)
        return;
    if (now - d->last_sweep >= DNS_SWEEP_INTERVAL_MS) {
        struct dns__entry *e = d->lru_head, *next;

        d->last_sweep = now;
        for (; e; e = next) {
            next = e->lru_next;
            if (e->expires <= now)
                dns__unlink(d, e);
        }
    }
    while (d->ncached >= d->cache_max && d->lru_tail)
        dns__unlink(d, d->lru_tail);
}

/* ---- delivery ---- */

static void dns__ready_push(struct dns *d, struct dns__waiter *w)
{
    w->next = NULL;
    if (d->ready_tail)
        d->ready_tail->next = w;
    else
        d->ready_head = w;
    d->ready_tail = w;
    d->nready++;
}

static struct dns__waiter *dns__ready_pop(struct dns *d)
{
    struct dns__waiter *w = d->ready_head;

    if (!w)
        return NULL;
    d->ready_head = w->next;
    if (!d->ready_head)
        d->ready_tail = NULL;
    d->nready--;
    return w;
}

/* Runs w's callback with its entry's result (or DNS_CANCELLED) and frees w. */
static void dns__deliver(struct dns__waiter *w, int cancel)
{
    struct dns__entry *e = w->entry;
    enum dns_status st = cancel || !e ? DNS_CANCELLED : e->st;
    int ok = st == DNS_OK;
    size_t n = ok ? e->n : 0;
    enum dns__type type = w->type;
    void *arg = w->arg;

    switch (type) {
    case DNS__MX: {
        dns_mx_cb cb = w->cb.mx;
        free(w);
        cb(arg, st, ok ? e->r.mx : NULL, n);
        break;
    }
    case DNS__A:
    case DNS__AAAA: {
        dns_addr_cb cb = w->cb.addr;
        free(w);
        cb(arg, st, ok ? e->r.addr : NULL, n);
        break;
    }
    case DNS__TXT: {
        dns_txt_cb cb = w->cb.txt;
        free(w);
        cb(arg, st, ok ? (const char *const *)e->r.txt : NULL, n);
        break;
    }
    }
    if (e)
        dns__entry_unref(e);
}

static void dns__idle_cb(uv_idle_t *idle)
{
    struct dns *d = idle->data;
    /* Only what was queued before this turn: callbacks that start lookups
     * answered from the cache must not keep the loop here forever. */
    size_t n = d->nready;

    while (n-- > 0 && !d->closing) {
        struct dns__waiter *w = dns__ready_pop(d);
        if (!w)
            break;
        dns__deliver(w, 0);
    }
    if (!d->closing && !d->ready_head)
        uv_idle_stop(&d->idle);
}

static void dns__ready_kick(struct dns *d)
{
    if (!d->closing)
        uv_idle_start(&d->idle, dns__idle_cb);
}

/* ---- c-ares ---- */

static void dns__query_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct dns__entry *e = arg;
    struct dns *d = e->d;
    struct dns__waiter *w, *next;
    uint32_t answer_ttl = UINT32_MAX, negative_ttl = UINT32_MAX, ttl = 0;
    int malformed = 0;

    /* c-ares hands over the message for NXDOMAIN and NODATA as well: their
     * SOA gives the negative TTL. */
    if (abuf && dns__walk_ttls(abuf, alen, &answer_ttl, &negative_ttl) < 0)
        malformed = 1;
    switch (status) {
    case ARES_SUCCESS:
        if (malformed)
            e->st = DNS_TEMPFAIL;
        else if (e->type == DNS__MX)
            e->st = dns__parse_mx(e, abuf, alen);
        else if (e->type == DNS__TXT)
            e->st = dns__parse_txt(e, abuf, alen);
        else
            e->st = dns__parse_addr(e, abuf, alen, &answer_ttl);
        break;
    case ARES_ENODATA:
        e->st = DNS_NODATA;
        break;
    case ARES_ENOTFOUND:
        e->st = DNS_NXDOMAIN;
        break;
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
        e->st = DNS_CANCELLED;
        break;
    default:
        e->st = DNS_TEMPFAIL;
        break;
    }
    if (e->st == DNS_OK) {
        ttl = answer_ttl == UINT32_MAX ? 0 : answer_ttl;
        if (ttl > DNS_POSITIVE_TTL_MAX)
            ttl = DNS_POSITIVE_TTL_MAX;
    } else if (e->st == DNS_NXDOMAIN || e->st == DNS_NODATA) {
        ttl = negative_ttl == UINT32_MAX ? DNS_NEGATIVE_TTL_DEFAULT : negative_ttl;
        if (ttl > DNS_NEGATIVE_TTL_MAX)
            ttl = DNS_NEGATIVE_TTL_MAX;
    }

    e->pending = 0;
    if ((e->st == DNS_OK || e->st == DNS_NXDOMAIN || e->st == DNS_NODATA) && ttl > 0 &&
        !d->closing) {
        e->expires = uv_now(d->loop) + (uint64_t)ttl * 1000;
        dns__make_room(d);
        dns__lru_push(d, e);
    }
    /* The waiters hold the entry until they have been called back. */
    for (w = e->waiters; w; w = next) {
        next = w->next;
        w->entry = e;
        e->refs++;
        dns__ready_push(d, w);
    }
    e->waiters = NULL;
    e->waiters_tail = &e->waiters;
    if (!e->in_lru)
        dns__unlink(d, e);
    dns__ready_kick(d);
}

static void dns__arm_timer(struct dns *d)
{
    struct timeval tv, *t;
    uint64_t ms;

    if (d->closing)
        return;
    t = ares_timeout(d->channel, NULL, &tv);
    if (!t) {
        uv_timer_stop(&d->timer);
        return;
    }
    ms = (uint64_t)t->tv_sec * 1000 + ((uint64_t)t->tv_usec + 999) / 1000;
    uv_timer_start(&d->timer, dns__timer_cb, ms, 0);
}

static void dns__timer_cb(uv_timer_t *timer)
{
    struct dns *d = timer->data;

    ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    dns__arm_timer(d);
}

static void dns__poll_cb(uv_poll_t *poll, int status, int events)
{
    struct dns__sock *s = poll->data;
    struct dns *d = s->d;
    ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;

    /* On an error let c-ares read the socket: it sees the error and moves
     * on to the next server. */
    if (status < 0 || (events & UV_READABLE))
        rfd = s->fd;
    if (events & UV_WRITABLE)
        wfd = s->fd;
    /* s may be closed inside; do not touch it after this. */
    ares_process_fd(d->channel, rfd, wfd);
    dns__arm_timer(d);
}

static void dns__handle_closed(struct dns *d)
{
    if (--d->handles_open > 0 || !d->closing)
        return;
    free(d->buckets);
    if (d->library_initialized)
        ares_library_cleanup();
    free(d);
}

static void dns__sock_close_cb(uv_handle_t *h)
{
    struct dns__sock *s = h->data;
    struct dns *d = s->d;

    free(s);
    dns__handle_closed(d);
}

static void dns__sock_close(struct dns *d, struct dns__sock *s)
{
    struct dns__sock **pp = &d->socks;

    while (*pp != s)
        pp = &(*pp)->next;
    *pp = s->next;
    uv_close((uv_handle_t *)&s->poll, dns__sock_close_cb);
}

static void dns__sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
    struct dns *d = data;
    struct dns__sock *s;
    int events = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);

    for (s = d->socks; s; s = s->next)
        if (s->fd == fd)
            break;
    if (!events) {
        if (s)
            dns__sock_close(d, s);
        return;
    }
    if (!s) {
        s = calloc(1, sizeof(*s));
        /* Without a watcher the query times out and c-ares retries: the
         * failure shows as DNS_TEMPFAIL, which is what it is. */
        if (!s)
            return;
        if (uv_poll_init_socket(d->loop, &s->poll, fd) < 0) {
            free(s);
            return;
        }
        s->poll.data = s;
        s->d = d;
        s->fd = fd;
        s->next = d->socks;
        d->socks = s;
        d->handles_open++;
    }
    if (uv_poll_start(&s->poll, events, dns__poll_cb) < 0)
        dns__sock_close(d, s);
}

/* ---- public ---- */

static void dns__handle_close_cb(uv_handle_t *h)
{
    dns__handle_closed(h->data);
}

int dns_new(uv_loop_t *loop, const struct dns_options *opt, struct dns **out)
{
    static const struct dns_options defaults;
    struct ares_options ao;
    struct dns *d = NULL;
    int mask, rc;

    *out = NULL;
    if (!opt)
        opt = &defaults;
    if (opt->servers && dns__check_servers(opt->servers) < 0)
        return -EINVAL;
    d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->loop = loop;
    d->cache_max = opt->cache_max ? opt->cache_max : DNS_DEFAULT_CACHE_MAX;
    d->nbuckets = 16;
    while (d->nbuckets < d->cache_max && d->nbuckets < DNS_BUCKETS_MAX)
        d->nbuckets *= 2;
    d->buckets = calloc(d->nbuckets, sizeof(*d->buckets));
    if (!d->buckets) {
        rc = -ENOMEM;
        goto fail;
    }
    rc = dns__ares_err(ares_library_init(ARES_LIB_INIT_ALL));
    if (rc < 0)
        goto fail;
    d->library_initialized = 1;

    memset(&ao, 0, sizeof(ao));
    mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB;
    ao.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
    ao.timeout = (int)(opt->timeout_ms ? opt->timeout_ms : DNS_DEFAULT_TIMEOUT_MS);
    ao.tries = (int)(opt->tries ? opt->tries : DNS_DEFAULT_TRIES);
    ao.sock_state_cb = dns__sock_state_cb;
    ao.sock_state_cb_data = d;
    rc = dns__ares_err(ares_init_options(&d->channel, &ao, mask));
    if (rc < 0) {
        d->channel = NULL;
        goto fail;
    }
    if (opt->servers) {
        rc = dns__ares_err(ares_set_servers_ports_csv(d->channel, opt->servers));
        if (rc < 0)
            goto fail;
    }

    /* Nothing fails after this point, so the error path has no handles to
     * close. */
    uv_timer_init(loop, &d->timer);
    d->timer.data = d;
    uv_idle_init(loop, &d->idle);
    d->idle.data = d;
    d->handles_open = 2;
    *out = d;
    return 0;

fail:
    if (d->channel)
        ares_destroy(d->channel);
    if (d->library_initialized)
        ares_library_cleanup();
    free(d->buckets);
    free(d);
    return rc;
}

void dns_free(struct dns *d)
{
    struct dns__waiter *w;
    size_t i;

    if (!d || d->closing)
        return;
    d->closing = 1;
    /* Pending entries hand their waiters to the ready queue... */
    ares_cancel(d->channel);
    /* ...and every queued callback runs now. One may start a lookup; with
     * closing set that lookup is queued here too, so this drains it. */
    while ((w = dns__ready_pop(d)))
        dns__deliver(w, 1);
    /* Closes c-ares's sockets, which stops and closes their watchers. */
    ares_destroy(d->channel);
    d->channel = NULL;
    while (d->socks)
        dns__sock_close(d, d->socks);
    for (i = 0; i < d->nbuckets; i++)
        while (d->buckets[i])
            dns__unlink(d, d->buckets[i]);
    uv_close((uv_handle_t *)&d->timer, dns__handle_close_cb);
    uv_close((uv_handle_t *)&d->idle, dns__handle_close_cb);
}

static const int dns__qtype[] = {
    [DNS__MX] = ns_t_mx,
    [DNS__A] = ns_t_a,
    [DNS__AAAA] = ns_t_aaaa,
    [DNS__TXT] = ns_t_txt,
};

/* A waiter for type with arg; its callback is set by the caller. */
static struct dns__waiter *dns__waiter_new(enum dns__type type, void *arg)
{
    struct dns__waiter *w = calloc(1, sizeof(*w));

    if (w) {
        w->type = type;
        w->arg = arg;
    }
    return w;
}

/* Starts or joins the lookup for w (owned from here on) of name. */
static int dns__lookup(struct dns *d, struct dns__waiter *w, const char *name)
{
    char key[DNS_NAME_MAX];
    struct dns__entry *e;
    size_t b;

    if (dns__normalize(name, key) < 0) {
        free(w);
        return -EINVAL;
    }
    if (d->closing) {
        dns__ready_push(d, w);
        return 0;
    }

    e = dns__find(d, w->type, key);
    if (e && e->pending) {
        d->cache_hits++;
        *e->waiters_tail = w;
        e->waiters_tail = &w->next;
        return 0;
    }
    if (e && uv_now(d->loop) < e->expires) {
        d->cache_hits++;
        dns__lru_remove(d, e);
        dns__lru_push(d, e);
        w->entry = e;
        e->refs++;
        dns__ready_push(d, w);
        dns__ready_kick(d);
        return 0;
    }
    if (e)
        dns__unlink(d, e);

    e = calloc(1, sizeof(*e));
    if (!e) {
        free(w);
        return -ENOMEM;
    }
    e->d = d;
    e->type = w->type;
    memcpy(e->name, key, sizeof(key));
    e->refs = 1;
    e->in_table = 1;
    e->pending = 1;
    e->waiters = w;
    e->waiters_tail = &w->next;
    b = dns__hash(e->type, key) & (d->nbuckets - 1);
    e->hash_next = d->buckets[b];
    d->buckets[b] = e;
    d->queries++;
    /* c-ares may answer (with an error) before returning; dns__query_cb
     * only queues the waiters, so no callback runs in here. */
    ares_query(d->channel, key, ns_c_in, dns__qtype[e->type], dns__query_cb, e);
    dns__arm_timer(d);
    return 0;
}

int dns_mx(struct dns *d, const char *domain, dns_mx_cb cb, void *arg)
{
    struct dns__waiter *w;

    if (!d || !cb)
        return -EINVAL;
    w = dns__waiter_new(DNS__MX, arg);
    if (!w)
        return -ENOMEM;
    w->cb.mx = cb;
    return dns__lookup(d, w, domain);
}

int dns_addr(struct dns *d, const char *host, int family, dns_addr_cb cb, void *arg)
{
    struct dns__waiter *w;

    if (!d || !cb || (family != AF_INET && family != AF_INET6))
        return -EINVAL;
    w = dns__waiter_new(family == AF_INET ? DNS__A : DNS__AAAA, arg);
    if (!w)
        return -ENOMEM;
    w->cb.addr = cb;
    return dns__lookup(d, w, host);
}

int dns_txt(struct dns *d, const char *name, dns_txt_cb cb, void *arg)
{
    struct dns__waiter *w;

    if (!d || !cb)
        return -EINVAL;
    w = dns__waiter_new(DNS__TXT, arg);
    if (!w)
        return -ENOMEM;
    w->cb.txt = cb;
    return dns__lookup(d, w, name);
}

void dns_counters(const struct dns *d, uint64_t *cache_hits, uint64_t *queries)
{
    if (cache_hits)
        *cache_hits = d->cache_hits;
    if (queries)
        *queries = d->queries;
}
