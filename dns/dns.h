/*
 * dns.h - asynchronous DNS for the delivery engine: c-ares driven by a
 * libuv loop (its sockets watched with uv_poll, its timeouts on a
 * uv_timer), MX/A/AAAA/TXT lookups, a cache that honours TTLs (positive
 * and negative, RFC 2308), and the RFC 5321 5.1 rules that turn a domain
 * into an ordered list of hosts to try.
 *
 * Trust: answers come from the network; c-ares parses them, and every
 * name and record kept here is bounded. The daemon never blocks on DNS.
 */
#ifndef MTA_DNS_H
#define MTA_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#define DNS_NAME_MAX 256 /* a domain name with NUL */
#define DNS_MX_MAX 32    /* MX records kept per domain */
#define DNS_ADDR_MAX 16  /* addresses kept per host and family */

enum dns_status {
    DNS_OK = 0,
    DNS_NXDOMAIN,  /* the name does not exist */
    DNS_NODATA,    /* the name exists, no record of that type */
    DNS_TEMPFAIL,  /* SERVFAIL, timeout, refused, network error */
    DNS_CANCELLED, /* dns_free() ran while the query was pending */
};

struct dns; /* opaque */

struct dns_options {
    const char *servers; /* "ip[:port],ip[:port]" (IPv6 as [ip]:port), NULL = resolv.conf */
    unsigned timeout_ms; /* per try; 0 = 2000 */
    unsigned tries;      /* 0 = 3 */
    size_t cache_max;    /* entries; 0 = 10000 */
};

/*
 * Creates a resolver on loop. Returns 0 with *out owned by the caller, or
 * -EINVAL (bad servers string) or another negative errno.
 */
int dns_new(uv_loop_t *loop, const struct dns_options *opt, struct dns **out);

/*
 * Cancels pending queries (their callbacks run with DNS_CANCELLED before
 * this returns) and closes the handles; the memory is released once libuv
 * has closed them, so the loop must run afterwards. It may be called from
 * a callback; a lookup started by a callback while it runs is cancelled
 * too. NULL does nothing.
 */
void dns_free(struct dns *d);

struct dns_mx {
    uint16_t pref;
    char host[DNS_NAME_MAX]; /* "." for a null MX (RFC 7505) */
};

/* Callbacks are never called from inside the call that started the query
 * (a cache hit is delivered on the next loop iteration). Pointers passed to
 * a callback are valid only during it. */
typedef void (*dns_mx_cb)(void *arg, enum dns_status st, const struct dns_mx *mx, size_t n);
typedef void (*dns_addr_cb)(void *arg, enum dns_status st, const struct sockaddr_storage *addrs,
                            size_t n);
/* Each TXT record: its character-strings concatenated (RFC 7208 3.3). */
typedef void (*dns_txt_cb)(void *arg, enum dns_status st, const char *const *txt, size_t n);

/* MX records of domain, as received (unsorted). Returns 0, -EINVAL for a
 * name that is not a valid domain (or a NULL cb), or -ENOMEM; cb is called
 * exactly once when 0 was returned. */
int dns_mx(struct dns *d, const char *domain, dns_mx_cb cb, void *arg);

/* A (family AF_INET) or AAAA (AF_INET6) records of host; ports are 0.
 * Returns as dns_mx does (-EINVAL for another family). */
int dns_addr(struct dns *d, const char *host, int family, dns_addr_cb cb, void *arg);

/* TXT records of name. Returns as dns_mx does. */
int dns_txt(struct dns *d, const char *name, dns_txt_cb cb, void *arg);

/* Lookups answered from the cache / sent to the network, since dns_new. A
 * lookup that joins an identical one in flight counts as a cache hit, so
 * the two add up to the lookups started. */
void dns_counters(const struct dns *d, uint64_t *cache_hits, uint64_t *queries);

/* ---- RFC 5321 5.1: where to deliver mail for a domain ---- */

#define DNS_ROUTE_HOSTS_MAX 16

enum dns_route_status {
    DNS_ROUTE_OK = 0,
    DNS_ROUTE_TEMPFAIL,  /* try later: SERVFAIL, timeout (no fallback to A) */
    DNS_ROUTE_NXDOMAIN,  /* permanent: 5.1.2 */
    DNS_ROUTE_NULL_MX,   /* permanent: 5.1.10, the domain accepts no mail */
    DNS_ROUTE_NO_HOSTS,  /* permanent: MX hosts (or the domain) have no address: 5.4.4 */
    DNS_ROUTE_CANCELLED, /* dns_free() ran while the route was pending: neither try later
                            nor bounce, just release the work */
};

struct dns_route_host {
    char name[DNS_NAME_MAX];
    uint16_t pref;
    size_t naddr;
    struct sockaddr_storage addr[2 * DNS_ADDR_MAX]; /* in the order to try */
};

struct dns_route {
    enum dns_route_status status;
    char why[256]; /* human text for logs and bounces */
    int implicit;  /* 1 when there was no MX and the domain itself is the host */
    size_t nhosts;
    struct dns_route_host host[DNS_ROUTE_HOSTS_MAX];
};

#define DNS_INET_ALL 0
#define DNS_INET_IPV4 1
#define DNS_INET_IPV6 2

typedef void (*dns_route_cb)(void *arg, const struct dns_route *route);

/*
 * Resolves domain into hosts to try, in order: MX records sorted by
 * preference with equal preferences shuffled; no MX (NODATA) -> the domain
 * itself (implicit MX); a single MX "0 ." -> DNS_ROUTE_NULL_MX; NXDOMAIN ->
 * DNS_ROUTE_NXDOMAIN; a temporary failure of the MX lookup ->
 * DNS_ROUTE_TEMPFAIL (never a fallback to A). Each host gets its A and/or
 * AAAA addresses per inet (DNS_INET_*), IPv4 first when both (large
 * receivers check IPv6 senders more strictly); hosts whose
 * address lookups all failed temporarily make the route TEMPFAIL only when
 * no host has an address. The route is given to cb (valid during the call).
 * dns_free() while pending calls cb with DNS_ROUTE_CANCELLED.
 * Returns 0, -EINVAL for an invalid domain or inet, or -ENOMEM (cb is not
 * called then).
 */
int dns_route(struct dns *d, const char *domain, int inet, dns_route_cb cb, void *arg);

#endif
