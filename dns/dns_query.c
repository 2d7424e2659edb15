/*
 * dns_query.c - a small driver for dns/: runs lookups against the given
 * servers and prints the results in a stable text form, for the
 * integration test (tests/integration/dns.sh) and for people.
 *
 *   dns_query [-t MS] [-r TRIES] SERVERS route|mx|a|aaaa|txt NAME [all|ipv4|ipv6]
 *   dns_query ... SERVERS repeat N route NAME [inet]   N routes at once, then N again
 *   dns_query ... SERVERS expire MS TYPE NAME [inet]   a lookup, the same at once,
 *                                                      and again after MS ms
 *   dns_query ... SERVERS cancel NAME                  dns_free with lookups pending
 *
 * SERVERS is "ip[:port],[ipv6]:port" or "-" for resolv.conf. Results are
 * "status X" then one line per record: MX "pref host", addresses, TXT in
 * quotes (sorted, as the order of a set is not stable); a route is
 * "status X", "implicit 0|1", one line "pref host addr,addr" per host in
 * the order to try, then "why TEXT". Counters print as
 * "counters hits=H queries=Q". Exits 0 when the lookups ran, whatever they
 * found; 2 for a usage error, 1 for another error.
 *
 * Trust: the arguments are the user's; answers are printed with anything
 * unprintable escaped.
 */
#include "dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum query_kind {
    QUERY_ROUTE,
    QUERY_MX,
    QUERY_A,
    QUERY_AAAA,
    QUERY_TXT,
};

struct query {
    uv_loop_t *loop;
    struct dns *dns;
    enum query_kind kind;
    const char *name;
    int inet;
    int print;          /* print the next result */
    size_t outstanding; /* lookups started and not answered */
    uv_timer_t timer;
    unsigned long repeat_left;
    unsigned long repeat_n;
    int failed;
};

static const char *status_name(enum dns_status st)
{
    switch (st) {
    case DNS_OK:
        return "OK";
    case DNS_NXDOMAIN:
        return "NXDOMAIN";
    case DNS_NODATA:
        return "NODATA";
    case DNS_TEMPFAIL:
        return "TEMPFAIL";
    case DNS_CANCELLED:
        return "CANCELLED";
    }
    return "?";
}

static const char *route_status_name(enum dns_route_status st)
{
    switch (st) {
    case DNS_ROUTE_OK:
        return "OK";
    case DNS_ROUTE_TEMPFAIL:
        return "TEMPFAIL";
    case DNS_ROUTE_NXDOMAIN:
        return "NXDOMAIN";
    case DNS_ROUTE_NULL_MX:
        return "NULL_MX";
    case DNS_ROUTE_NO_HOSTS:
        return "NO_HOSTS";
    case DNS_ROUTE_CANCELLED:
        return "CANCELLED";
    }
    return "?";
}

static void addr_string(const struct sockaddr_storage *ss, char *buf, size_t size)
{
    const void *a = ss->ss_family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;

    if (!inet_ntop(ss->ss_family, a, buf, (socklen_t)size))
        snprintf(buf, size, "?");
}

/* Prints s with quotes, backslashes and unprintable bytes as \DDD. */
static void print_escaped(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
            printf("\\%03u", c);
        else
            putchar(c);
    }
    putchar('"');
}

static int cmp_mx(const void *a, const void *b)
{
    const struct dns_mx *x = a, *y = b;
    if (x->pref != y->pref)
        return x->pref < y->pref ? -1 : 1;
    return strcmp(x->host, y->host);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void print_counters(const struct query *q)
{
    uint64_t hits, queries;

    dns_counters(q->dns, &hits, &queries);
    printf("counters hits=%llu queries=%llu\n", (unsigned long long)hits,
           (unsigned long long)queries);
}

static void print_route(const struct dns_route *r)
{
    size_t i, j;
    char buf[INET6_ADDRSTRLEN];

    printf("status %s\nimplicit %d\n", route_status_name(r->status), r->implicit);
    for (i = 0; i < r->nhosts; i++) {
        printf("%u %s ", r->host[i].pref, r->host[i].name);
        for (j = 0; j < r->host[i].naddr; j++) {
            addr_string(&r->host[i].addr[j], buf, sizeof(buf));
            printf("%s%s", j ? "," : "", buf);
        }
        putchar('\n');
    }
    printf("why %s\n", r->why);
}

static void lookup_done(struct query *q);

static void route_cb(void *arg, const struct dns_route *r)
{
    struct query *q = arg;

    if (q->print)
        print_route(r);
    q->print = 0;
    lookup_done(q);
}

static void mx_cb(void *arg, enum dns_status st, const struct dns_mx *mx, size_t n)
{
    struct query *q = arg;
    struct dns_mx sorted[DNS_MX_MAX];
    size_t i;

    if (q->print) {
        printf("status %s\n", status_name(st));
        if (n > DNS_MX_MAX)
            n = DNS_MX_MAX;
        if (n)
            memcpy(sorted, mx, n * sizeof(*mx));
        qsort(sorted, n, sizeof(*sorted), cmp_mx);
        for (i = 0; i < n; i++)
            printf("%u %s\n", sorted[i].pref, sorted[i].host);
    }
    q->print = 0;
    lookup_done(q);
}

static void addr_cb(void *arg, enum dns_status st, const struct sockaddr_storage *addrs, size_t n)
{
    struct query *q = arg;
    char text[DNS_ADDR_MAX][INET6_ADDRSTRLEN];
    const char *sorted[DNS_ADDR_MAX];
    size_t i;

    if (q->print) {
        printf("status %s\n", status_name(st));
        if (n > DNS_ADDR_MAX)
            n = DNS_ADDR_MAX;
        for (i = 0; i < n; i++) {
            addr_string(&addrs[i], text[i], sizeof(text[i]));
            sorted[i] = text[i];
        }
        qsort(sorted, n, sizeof(*sorted), cmp_str);
        for (i = 0; i < n; i++)
            printf("%s\n", sorted[i]);
    }
    q->print = 0;
    lookup_done(q);
}

static void txt_cb(void *arg, enum dns_status st, const char *const *txt, size_t n)
{
    struct query *q = arg;
    const char **sorted = NULL;
    size_t i;

    if (q->print) {
        printf("status %s\n", status_name(st));
        sorted = n ? calloc(n, sizeof(*sorted)) : NULL;
        if (n && !sorted) {
            q->failed = 1;
            n = 0;
        }
        for (i = 0; i < n; i++)
            sorted[i] = txt[i];
        if (n)
            qsort(sorted, n, sizeof(*sorted), cmp_str);
        for (i = 0; i < n; i++) {
            print_escaped(sorted[i]);
            putchar('\n');
        }
        free(sorted);
    }
    q->print = 0;
    lookup_done(q);
}

/* Starts one lookup of q's kind and name. */
static int start(struct query *q)
{
    int rc;

    switch (q->kind) {
    case QUERY_ROUTE:
        rc = dns_route(q->dns, q->name, q->inet, route_cb, q);
        break;
    case QUERY_MX:
        rc = dns_mx(q->dns, q->name, mx_cb, q);
        break;
    case QUERY_A:
        rc = dns_addr(q->dns, q->name, AF_INET, addr_cb, q);
        break;
    case QUERY_AAAA:
        rc = dns_addr(q->dns, q->name, AF_INET6, addr_cb, q);
        break;
    case QUERY_TXT:
        rc = dns_txt(q->dns, q->name, txt_cb, q);
        break;
    default:
        rc = -EINVAL;
    }
    if (rc < 0) {
        fprintf(stderr, "dns_query: %s: %s\n", q->name, strerror(-rc));
        q->failed = 1;
        return rc;
    }
    q->outstanding++;
    return 0;
}

/* Starts n lookups at once (they share one query). */
static void start_batch(struct query *q, unsigned long n)
{
    while (n-- > 0)
        if (start(q) < 0)
            return;
}

static void lookup_done(struct query *q)
{
    q->outstanding--;
    if (q->outstanding == 0 && q->repeat_left > 0) {
        q->repeat_left--;
        start_batch(q, q->repeat_n);
    }
}

static int parse_kind(const char *s, enum query_kind *kind)
{
    static const char *const names[] = {"route", "mx", "a", "aaaa", "txt"};
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(s, names[i]) == 0) {
            *kind = (enum query_kind)i;
            return 0;
        }
    return -EINVAL;
}

static int parse_inet(const char *s, int *inet)
{
    if (!s || strcmp(s, "all") == 0)
        *inet = DNS_INET_ALL;
    else if (strcmp(s, "ipv4") == 0)
        *inet = DNS_INET_IPV4;
    else if (strcmp(s, "ipv6") == 0)
        *inet = DNS_INET_IPV6;
    else
        return -EINVAL;
    return 0;
}

static int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
    char *end;

    errno = 0;
    *out = strtoul(s, &end, 10);
    if (errno || end == s || *end || *out > max || s[0] == '-')
        return -EINVAL;
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: dns_query [-t MS] [-r TRIES] SERVERS route|mx|a|aaaa|txt NAME [all|ipv4|ipv6]\n"
            "       dns_query [-t MS] [-r TRIES] SERVERS repeat N route NAME [inet]\n"
            "       dns_query [-t MS] [-r TRIES] SERVERS expire MS TYPE NAME [inet]\n"
            "       dns_query [-t MS] [-r TRIES] SERVERS cancel NAME\n");
    exit(2);
}

/* Runs the loop until the lookups started so far are answered. */
static void run(struct query *q)
{
    while (q->outstanding > 0 && uv_run(q->loop, UV_RUN_ONCE))
        ;
}

static void timer_cb(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

/* The cancel scenario: one lookup answered from the cache, one waiting on
 * the network behind it (route), one in flight (TXT): dns_free must call
 * them all back with CANCELLED before it returns. */
static void cancel_cb_route(void *arg, const struct dns_route *r)
{
    printf("route %s\n", route_status_name(r->status));
}

static void cancel_cb_mx(void *arg, enum dns_status st, const struct dns_mx *mx, size_t n)
{
    printf("mx %s\n", status_name(st));
}

static void cancel_cb_txt(void *arg, enum dns_status st, const char *const *txt, size_t n)
{
    printf("txt %s\n", status_name(st));
}

int main(int argc, char **argv)
{
    struct dns_options opt = {0};
    struct query q = {0};
    uv_loop_t loop;
    const char *cmd;
    unsigned long n = 0, ms = 0;
    int c, rc, argi;

    while ((c = getopt(argc, argv, "t:r:")) != -1) {
        switch (c) {
        case 't':
            if (parse_ulong(optarg, 600000, &n) < 0)
                usage();
            opt.timeout_ms = (unsigned)n;
            break;
        case 'r':
            if (parse_ulong(optarg, 100, &n) < 0)
                usage();
            opt.tries = (unsigned)n;
            break;
        default:
            usage();
        }
    }
    argi = optind;
    if (argc - argi < 3)
        usage();
    opt.servers = strcmp(argv[argi], "-") == 0 ? NULL : argv[argi];
    cmd = argv[argi + 1];
    argi += 2;

    if (strcmp(cmd, "repeat") == 0 || strcmp(cmd, "expire") == 0) {
        if (argc - argi < 3 || parse_ulong(argv[argi], 1000000, &n) < 0 ||
            parse_kind(argv[argi + 1], &q.kind) < 0)
            usage();
        if (strcmp(cmd, "repeat") == 0 && (n == 0 || q.kind != QUERY_ROUTE))
            usage();
        ms = n;
        q.name = argv[argi + 2];
        argi += 3;
    } else if (strcmp(cmd, "cancel") == 0) {
        if (argc - argi != 1)
            usage();
        q.name = argv[argi++];
    } else {
        if (parse_kind(cmd, &q.kind) < 0)
            usage();
        q.name = argv[argi++];
    }
    if (argc - argi > 1 || parse_inet(argi < argc ? argv[argi] : NULL, &q.inet) < 0)
        usage();

    if (uv_loop_init(&loop) < 0) {
        fprintf(stderr, "dns_query: uv_loop_init failed\n");
        return 1;
    }
    q.loop = &loop;
    rc = dns_new(&loop, &opt, &q.dns);
    if (rc < 0) {
        fprintf(stderr, "dns_query: servers '%s': %s\n", opt.servers ? opt.servers : "-",
                strerror(-rc));
        uv_loop_close(&loop);
        return rc == -EINVAL ? 2 : 1;
    }
    uv_timer_init(&loop, &q.timer);

    if (strcmp(cmd, "repeat") == 0) {
        q.print = 1;
        q.repeat_n = n;
        q.repeat_left = 1;
        start_batch(&q, n);
        run(&q);
        printf("lookups %lu\n", 2 * n);
        print_counters(&q);
    } else if (strcmp(cmd, "expire") == 0) {
        q.print = 1;
        if (start(&q) == 0)
            run(&q);
        print_counters(&q);
        if (start(&q) == 0)
            run(&q);
        print_counters(&q);
        int fired = 0;
        q.timer.data = &fired;
        uv_timer_start(&q.timer, timer_cb, ms, 0);
        while (!fired)
            uv_run(&loop, UV_RUN_ONCE);
        if (start(&q) == 0)
            run(&q);
        print_counters(&q);
    } else if (strcmp(cmd, "cancel") == 0) {
        /* Fill the cache, then queue the three and free at once. */
        if (dns_mx(q.dns, q.name, mx_cb, &q) == 0) {
            q.outstanding++;
            run(&q);
        }
        rc = dns_mx(q.dns, q.name, cancel_cb_mx, NULL);
        if (rc == 0)
            rc = dns_route(q.dns, q.name, DNS_INET_ALL, cancel_cb_route, NULL);
        if (rc == 0)
            rc = dns_txt(q.dns, q.name, cancel_cb_txt, NULL);
        if (rc < 0) {
            fprintf(stderr, "dns_query: %s: %s\n", q.name, strerror(-rc));
            q.failed = 1;
        }
        printf("dns_free\n");
        dns_free(q.dns);
        q.dns = NULL;
        printf("dns_free returned\n");
    } else {
        q.print = 1;
        if (start(&q) == 0)
            run(&q);
    }

    dns_free(q.dns);
    uv_close((uv_handle_t *)&q.timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&loop);
    if (rc < 0) {
        fprintf(stderr, "dns_query: loop not empty after dns_free: %s\n", uv_strerror(rc));
        return 1;
    }
    fflush(stdout);
    return q.failed ? 1 : 0;
}
