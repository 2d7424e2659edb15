/*
 * dkim_bench.c - DKIM signing rate for one 4 KB message: dkim_sign with
 * an RSA-2048 key, with an Ed25519 key, and both (dual signing, counted
 * as one message), beside the raw sign rates of the primitives dkim_sign
 * ends in, measured in the same run: BearSSL's default RSA PKCS#1 v1.5
 * signer over a fixed SHA-256 hash, and libsodium's crypto_sign_detached
 * over a 32-byte hash (RFC 8463 signs the SHA-256 of the input). What
 * dkim_sign costs on top of those is its canonicalization, hashing, field
 * building and base64. Each figure is taken with 1 thread and with N
 * threads, to see whether signing scales with the cores.
 *
 *   dkim_bench [-s SECONDS] [-t THREADS] [-r ROUNDS] [-v]   (defaults 3, 2, 10)
 *
 * The machine it runs on is shared: other work takes the CPU for a while
 * and gives it back. So each figure's SECONDS are split into ROUNDS
 * slices, every round measures every figure once, in turn, and a figure
 * is its best round: the one with the least stolen from it. Each thread
 * also reads its own CPU clock, which gives a second set of figures:
 * operations per CPU-second of the signing threads, which other load
 * barely moves, and the share of a core each thread got. -v prints every
 * round's figures to stderr.
 *
 * Prints two tables and a last line starting "summary:"; exits 0 whatever
 * the speed, 1 when a key cannot be made or a signing call fails, 64 on
 * bad options.
 *
 * Input trusted: everything; it signs a message it builds itself with
 * keys it generates and throws away. Not installed. It includes
 * dkim-int.h to reach the key material for the raw measurements.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dkim-int.h"

#define BENCH_MSG_SIZE 4096
#define BENCH_THREADS_MAX 64
#define BENCH_SECONDS_MAX 3600
#define BENCH_ROUNDS_MAX 1000
#define BENCH_SLICE_MIN 0.05 /* seconds: 20 RSA signatures even at 400/s */

/* What one measurement runs, once per operation, on each thread. */
enum bench_op {
    BENCH_RAW_RSA,
    BENCH_RAW_ED25519,
    BENCH_DKIM_RSA,
    BENCH_DKIM_ED25519,
    BENCH_DKIM_DUAL,
    BENCH_OP_COUNT
};

static const char *const bench_op_names[BENCH_OP_COUNT] = {
    "raw BearSSL RSA-2048 sign", "raw libsodium Ed25519 sign",   "dkim_sign rsa-sha256",
    "dkim_sign ed25519-sha256",  "dkim_sign dual (rsa+ed25519)",
};

/* Shared, read-only while threads run, except stop. */
struct bench {
    struct dkim_key *rsa, *ed25519;
    char msg[BENCH_MSG_SIZE];
    size_t msg_len;
    unsigned char hash[br_sha256_SIZE]; /* SHA-256 of msg: what the raw signers sign */
    br_rsa_pkcs1_sign rsa_sign;         /* the signer dkim_sign uses */
    /* The start gate: each thread counts itself ready after its warm-up
     * operation and waits for go, so that all start timing together. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int ready, go;
    atomic_int stop;
};

struct bench_worker {
    struct bench *b;
    enum bench_op op;
    pthread_t thread;
    unsigned long count; /* operations completed */
    double wall, cpu;    /* seconds, from the start to the end of its last operation */
    int rc;              /* 0, or the first failure (negative errno) */
};

/* What one measurement gives. */
struct bench_result {
    double wall_rate; /* operations per second, all threads together */
    double cpu_rate;  /* operations per CPU-second of one thread (the mean over threads) */
    double cpu_share; /* CPU time over wall time, per thread: 1 when nothing else ran */
};

/* Seconds on clock id; 0 if it cannot be read (then the figures from it
 * are 0, and the tables say so by printing 0). */
static double bench_clock(clockid_t id)
{
    struct timespec ts;

    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One dkim_sign call; the signature field goes to the thread's own
 * output, freed at once. */
static int bench_dkim_sign(const struct dkim_key *k, const struct bench *b)
{
    struct dkim_sign_request rq = {
        .domain = "example.com",
        .selector = k->alg == DKIM_ALG_RSA_SHA256 ? "rsa2048" : "ed25519",
        .key = k,
        .header_canon = DKIM_CANON_RELAXED,
        .body_canon = DKIM_CANON_RELAXED, /* mtad's default, relaxed/relaxed */
        .timestamp = 1748858400,
    };
    char err[128] = "", *out = NULL;
    int rc;

    rc = dkim_sign(&rq, b->msg, b->msg_len, &out, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "dkim_bench: dkim_sign: %s\n", err);
        goto fail;
    }
    if (strncmp(out, "DKIM-Signature:", 15) != 0) {
        fprintf(stderr, "dkim_bench: dkim_sign wrote no DKIM-Signature field\n");
        rc = -EINVAL;
        goto fail;
    }
fail:
    free(out);
    return rc;
}

/* One operation of kind op; 0 or a negative errno. */
static int bench_run_once(const struct bench *b, enum bench_op op)
{
    unsigned char sig[DKIM_RSA_MAX_BITS / 8];
    int rc = 0;

    switch (op) {
    case BENCH_RAW_RSA:
        if (!b->rsa_sign(BR_HASH_OID_SHA256, b->hash, sizeof b->hash, &b->rsa->rsa, sig)) {
            fprintf(stderr, "dkim_bench: BearSSL RSA sign failed\n");
            rc = -EINVAL;
        }
        break;
    case BENCH_RAW_ED25519:
        if (crypto_sign_detached(sig, NULL, b->hash, sizeof b->hash, b->ed25519->ed25519_sk) != 0) {
            fprintf(stderr, "dkim_bench: crypto_sign_detached failed\n");
            rc = -EINVAL;
        }
        break;
    case BENCH_DKIM_RSA:
        rc = bench_dkim_sign(b->rsa, b);
        break;
    case BENCH_DKIM_ED25519:
        rc = bench_dkim_sign(b->ed25519, b);
        break;
    case BENCH_DKIM_DUAL:
        /* What mtad does for a domain with two keys: two signatures over
         * the same original message. */
        rc = bench_dkim_sign(b->rsa, b);
        if (rc == 0)
            rc = bench_dkim_sign(b->ed25519, b);
        break;
    default:
        rc = -EINVAL;
        break;
    }
    return rc;
}

/*
 * A thread: one untimed operation (it must succeed, and it warms the
 * caches), the start gate, then operations until stop is set. Each
 * thread times itself, on the wall clock and on its own CPU clock, from
 * its start to the end of its last operation.
 */
static void *bench_worker_main(void *arg)
{
    struct bench_worker *w = arg;
    struct bench *b = w->b;
    double wall0, cpu0;

    w->rc = bench_run_once(b, w->op);
    pthread_mutex_lock(&b->lock);
    b->ready++;
    pthread_cond_broadcast(&b->cond);
    while (!b->go)
        pthread_cond_wait(&b->cond, &b->lock);
    pthread_mutex_unlock(&b->lock);
    if (w->rc < 0)
        return NULL;
    wall0 = bench_clock(CLOCK_MONOTONIC);
    cpu0 = bench_clock(CLOCK_THREAD_CPUTIME_ID);
    while (!atomic_load_explicit(&b->stop, memory_order_relaxed)) {
        w->rc = bench_run_once(b, w->op);
        if (w->rc < 0)
            break;
        w->count++;
    }
    w->cpu = bench_clock(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    w->wall = bench_clock(CLOCK_MONOTONIC) - wall0;
    return NULL;
}

/*
 * Runs op on threads threads for seconds into *res. Returns 0, or a
 * negative errno when a thread could not start or an operation failed.
 */
static int bench_measure(struct bench *b, enum bench_op op, int threads, double seconds,
                         struct bench_result *res)
{
    struct bench_worker workers[BENCH_THREADS_MAX];
    struct timespec pause = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    double cpu = 0, wall = 0;
    unsigned long count = 0;
    int started, rc = 0;

    memset(workers, 0, sizeof workers);
    memset(res, 0, sizeof *res);
    b->ready = 0;
    b->go = 0;
    atomic_store(&b->stop, 0);
    for (started = 0; started < threads; started++) {
        workers[started].b = b;
        workers[started].op = op;
        rc = -pthread_create(&workers[started].thread, NULL, bench_worker_main, &workers[started]);
        if (rc < 0) {
            fprintf(stderr, "dkim_bench: cannot start thread %d: %s\n", started + 1, strerror(-rc));
            /* The started threads then time nothing: stop is set before
             * they pass the gate. */
            atomic_store(&b->stop, 1);
            goto open_gate;
        }
    }
    pthread_mutex_lock(&b->lock);
    while (b->ready < started)
        pthread_cond_wait(&b->cond, &b->lock);
    pthread_mutex_unlock(&b->lock);
open_gate:
    pthread_mutex_lock(&b->lock);
    b->go = 1;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
    if (rc == 0) {
        while (nanosleep(&pause, &pause) != 0 && errno == EINTR)
            ;
        atomic_store(&b->stop, 1);
    }
    for (int i = 0; i < started; i++) {
        pthread_join(workers[i].thread, NULL);
        if (workers[i].rc < 0 && rc == 0)
            rc = workers[i].rc;
        if (workers[i].wall > 0)
            res->wall_rate += (double)workers[i].count / workers[i].wall;
        count += workers[i].count;
        cpu += workers[i].cpu;
        wall += workers[i].wall;
    }
    if (cpu > 0)
        res->cpu_rate = (double)count / cpu;
    if (wall > 0)
        res->cpu_share = cpu / wall;
    return rc;
}

/*
 * Builds a plain-text message of exactly BENCH_MSG_SIZE octets with the
 * header fields a mail client writes, CRLF line ends. Returns 0 or
 * -ENOSPC (cannot happen with these constants).
 */
static int bench_message(struct bench *b)
{
    static const char header[] =
        "From: Alice Example <alice@example.com>\r\n"
        "To: Bob Example <bob@example.net>, carol@example.org\r\n"
        "Subject: Quarterly figures for the outbound relay, as discussed on\r\n"
        " Monday\r\n"
        "Date: Mon, 02 Jun 2025 10:00:00 +0000\r\n"
        "Message-ID: <20250602100000.4711.bench@mail.example.com>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8; format=flowed\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n";
    static const char *const lines[] = {
        "Hello Bob,",
        "",
        "here are the figures we talked about.  The relay handled the",
        "morning peak without queueing, and the retry queue stayed short:",
        "most deferrals were greylisting,\tretried after five minutes.",
        "",
        "  * delivered on the first attempt: most of them",
        "  * deferred, then delivered: a few hundred",
        "  * bounced: a handful, all to mailboxes that no longer exist",
        "",
        "The full report is on the shared drive; tell me if anything looks  ",
        "off before I send it to the rest of the team on Thursday.",
        "",
    };
    size_t len = sizeof header - 1, room, i = 0;

    memcpy(b->msg, header, len);
    for (;;) {
        const char *line = lines[i++ % (sizeof lines / sizeof lines[0])];
        size_t n = strlen(line);

        room = BENCH_MSG_SIZE - len;
        if (room < 2)
            return -ENOSPC;
        if (n + 2 > room) {
            /* The last line fills the message exactly. */
            static const char filler[] = "Alice, for the relay operations team. ";

            n = room - 2;
            for (size_t k = 0; k < n; k++)
                b->msg[len + k] = filler[k % (sizeof filler - 1)];
            memcpy(b->msg + len + n, "\r\n", 2);
            len += n + 2;
            break;
        }
        memcpy(b->msg + len, line, n);
        memcpy(b->msg + len + n, "\r\n", 2);
        len += n + 2;
    }
    b->msg_len = len;
    return 0;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: dkim_bench [-s SECONDS] [-t THREADS] [-r ROUNDS] [-v]   (THREADS 1 to %d; "
            "SECONDS/ROUNDS at least %.2f)\n",
            BENCH_THREADS_MAX, BENCH_SLICE_MIN);
    return 64;
}

/* 1 - dkim/raw, as a percentage: what dkim_sign costs beyond its
 * primitive. */
static double bench_overhead(double dkim, double raw)
{
    return raw > 0 ? 100.0 * (1.0 - dkim / raw) : 0.0;
}

/* Dual signing's raw bound from the raw rates: one RSA and one Ed25519
 * signature per message, back to back. */
static double bench_dual_raw(double rsa, double ed25519)
{
    return rsa > 0 && ed25519 > 0 ? 1.0 / (1.0 / rsa + 1.0 / ed25519) : 0.0;
}

/* The raw rate op is compared with, from rates indexed by op. */
static double bench_raw_of(enum bench_op op, const double *rates)
{
    switch (op) {
    case BENCH_DKIM_RSA:
        return rates[BENCH_RAW_RSA];
    case BENCH_DKIM_ED25519:
        return rates[BENCH_RAW_ED25519];
    case BENCH_DKIM_DUAL:
        return bench_dual_raw(rates[BENCH_RAW_RSA], rates[BENCH_RAW_ED25519]);
    default:
        return 0;
    }
}

/* a / b, or 0 when b is (a clock that could not be read). */
static double bench_ratio(double a, double b)
{
    return b > 0 ? a / b : 0.0;
}

static double bench_max(double a, double b)
{
    return a > b ? a : b;
}

/* Figures of every op, for 1 thread ([0]) and for THREADS threads ([1]),
 * each the best of the rounds; share is the CPU share in the round that
 * gave the best wall figure. */
struct bench_table {
    double wall[2][BENCH_OP_COUNT], cpu[2][BENCH_OP_COUNT], share[2][BENCH_OP_COUNT];
    double wall_low[2][BENCH_OP_COUNT];
};

static void bench_print(const struct bench_table *t, int threads)
{
    char col_rate[32], col_over[32], col_share[32];

    snprintf(col_rate, sizeof col_rate, "%d thread%s/s", threads, threads > 1 ? "s" : "");
    snprintf(col_over, sizeof col_over, "overhead %dt", threads);
    snprintf(col_share, sizeof col_share, "CPU got %dt", threads);
    printf("\nwall clock (best round):\n");
    printf("%-30s %11s %12s %8s %11s %12s %10s %11s\n", "what", "1 thread/s", col_rate, "scaling",
           "overhead 1t", col_over, "CPU got 1t", col_share);
    for (int op = 0; op < BENCH_OP_COUNT; op++) {
        printf("%-30s %11.1f %12.1f %7.2fx", bench_op_names[op], t->wall[0][op], t->wall[1][op],
               bench_ratio(t->wall[1][op], t->wall[0][op]));
        if (op == BENCH_RAW_RSA || op == BENCH_RAW_ED25519)
            printf(" %11s %12s", "-", "-");
        else
            printf(" %10.1f%% %11.1f%%",
                   bench_overhead(t->wall[0][op], bench_raw_of(op, t->wall[0])),
                   bench_overhead(t->wall[1][op], bench_raw_of(op, t->wall[1])));
        printf(" %9.0f%% %10.0f%%\n", 100 * t->share[0][op], 100 * t->share[1][op]);
    }
    printf("\nper CPU-second of a signing thread (best round; load from other processes "
           "mostly cancels out):\n");
    printf("%-30s %11s %12s %8s %11s %12s\n", "what", "1 thread", "per thread", "scaling",
           "overhead 1t", col_over);
    for (int op = 0; op < BENCH_OP_COUNT; op++) {
        printf("%-30s %11.1f %12.1f %7.2fx", bench_op_names[op], t->cpu[0][op], t->cpu[1][op],
               bench_ratio(threads * t->cpu[1][op], t->cpu[0][op]));
        if (op == BENCH_RAW_RSA || op == BENCH_RAW_ED25519)
            printf(" %11s %12s\n", "-", "-");
        else
            printf(" %10.1f%% %11.1f%%\n",
                   bench_overhead(t->cpu[0][op], bench_raw_of(op, t->cpu[0])),
                   bench_overhead(t->cpu[1][op], bench_raw_of(op, t->cpu[1])));
    }
    printf("(overhead = 1 - dkim_sign/raw; dual's raw is one RSA plus one Ed25519 signature. "
           "Scaling: wall, %d thread(s) over 1; CPU, %d x per-thread over 1 thread, which is "
           "what %d idle core(s) would give. CPU got: the share of a core each thread had in "
           "the best round; below 100%% other work took the rest)\n",
           threads, threads, threads);
}

int main(int argc, char **argv)
{
    struct bench *b = NULL;
    struct bench_table *t = NULL;
    double seconds = 3, spread = 0;
    int threads = 2, rounds = 10, verbose = 0, opt, rc, status = 1, noisiest = 0;
    char *end;
    br_sha256_context sha;

    while ((opt = getopt(argc, argv, "s:t:r:v")) != -1) {
        switch (opt) {
        case 's':
            errno = 0;
            seconds = strtod(optarg, &end);
            if (errno != 0 || *end != '\0' || !(seconds >= 0.1 && seconds <= BENCH_SECONDS_MAX))
                return usage();
            break;
        case 't': {
            long n;

            errno = 0;
            n = strtol(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || n < 1 || n > BENCH_THREADS_MAX)
                return usage();
            threads = (int)n;
            break;
        }
        case 'r': {
            long n;

            errno = 0;
            n = strtol(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || n < 1 || n > BENCH_ROUNDS_MAX)
                return usage();
            rounds = (int)n;
            break;
        }
        case 'v':
            verbose = 1;
            break;
        default:
            return usage();
        }
    }
    if (optind != argc || seconds / rounds < BENCH_SLICE_MIN)
        return usage();

    if (sodium_init() < 0) {
        fprintf(stderr, "dkim_bench: sodium_init failed\n");
        goto fail;
    }
    t = calloc(1, sizeof *t);
    b = calloc(1, sizeof *b);
    if (!t || !b) {
        fprintf(stderr, "dkim_bench: out of memory\n");
        free(b);
        b = NULL;
        goto fail;
    }
    b->rsa_sign = br_rsa_pkcs1_sign_get_default();
    rc = pthread_mutex_init(&b->lock, NULL);
    if (rc == 0) {
        rc = pthread_cond_init(&b->cond, NULL);
        if (rc != 0)
            pthread_mutex_destroy(&b->lock);
    }
    if (rc != 0) {
        fprintf(stderr, "dkim_bench: %s\n", strerror(rc));
        free(b);
        b = NULL;
        goto fail;
    }
    if (bench_message(b) < 0) {
        fprintf(stderr, "dkim_bench: message does not fit\n");
        goto fail;
    }
    br_sha256_init(&sha);
    br_sha256_update(&sha, b->msg, b->msg_len);
    br_sha256_out(&sha, b->hash);
    rc = dkim_key_generate(DKIM_ALG_RSA_SHA256, 2048, &b->rsa);
    if (rc < 0) {
        fprintf(stderr, "dkim_bench: RSA-2048 key: %s\n", strerror(-rc));
        goto fail;
    }
    rc = dkim_key_generate(DKIM_ALG_ED25519_SHA256, 0, &b->ed25519);
    if (rc < 0) {
        fprintf(stderr, "dkim_bench: Ed25519 key: %s\n", strerror(-rc));
        goto fail;
    }

    printf("DKIM signing benchmark: %ld CPUs online, %zu-octet message, relaxed/relaxed, "
           "%.1f s per figure in %d rounds (best round kept), 1 and %d threads\n",
           sysconf(_SC_NPROCESSORS_ONLN), b->msg_len, seconds, rounds, threads);
    fflush(stdout);
    for (int j = 0; j < 2; j++)
        for (int op = 0; op < BENCH_OP_COUNT; op++)
            t->wall_low[j][op] = 1e300;
    /* Raw and dkim figures of one algorithm are taken one after the
     * other, round after round, so that a change in the machine's load
     * skews both alike. */
    static const enum bench_op order[BENCH_OP_COUNT] = {
        BENCH_RAW_RSA, BENCH_DKIM_RSA, BENCH_RAW_ED25519, BENCH_DKIM_ED25519, BENCH_DKIM_DUAL,
    };
    for (int round = 0; round < rounds; round++) {
        for (int i = 0; i < BENCH_OP_COUNT; i++) {
            enum bench_op op = order[i];

            for (int j = 0; j < (threads > 1 ? 2 : 1); j++) {
                struct bench_result r;

                rc = bench_measure(b, op, j == 0 ? 1 : threads, seconds / rounds, &r);
                if (rc < 0) {
                    fprintf(stderr, "dkim_bench: %s: %s\n", bench_op_names[op], strerror(-rc));
                    goto fail;
                }
                if (verbose)
                    fprintf(stderr,
                            "round %d: %-30s %2d thread%s %10.1f/s %10.1f/CPU-s, CPU got %3.0f%%\n",
                            round + 1, bench_op_names[op], j == 0 ? 1 : threads, j == 0 ? " " : "s",
                            r.wall_rate, r.cpu_rate, 100 * r.cpu_share);
                if (r.wall_rate > t->wall[j][op]) {
                    t->wall[j][op] = r.wall_rate;
                    t->share[j][op] = r.cpu_share;
                }
                t->cpu[j][op] = bench_max(t->cpu[j][op], r.cpu_rate);
                if (r.wall_rate < t->wall_low[j][op])
                    t->wall_low[j][op] = r.wall_rate;
            }
        }
    }
    for (int op = 0; op < BENCH_OP_COUNT; op++) {
        if (threads == 1) {
            t->wall[1][op] = t->wall[0][op];
            t->cpu[1][op] = t->cpu[0][op];
            t->share[1][op] = t->share[0][op];
            t->wall_low[1][op] = t->wall_low[0][op];
        }
        for (int j = 0; j < 2; j++) {
            if (t->wall[j][op] > 0 && 1 - t->wall_low[j][op] / t->wall[j][op] > spread) {
                spread = 1 - t->wall_low[j][op] / t->wall[j][op];
                noisiest = op * 2 + j;
            }
        }
    }

    bench_print(t, threads);
    printf("(noise: a figure's worst round was up to %.0f%% below its best, on the wall clock: "
           "%s, %d thread%s)\n",
           100 * spread, bench_op_names[noisiest / 2], noisiest % 2 ? threads : 1,
           noisiest % 2 && threads > 1 ? "s" : "");
    printf("summary: per CPU-second, rsa-sha256 %.0f/s vs raw %.0f/s (overhead %.1f%%, target "
           "< 10%%), ed25519-sha256 %.0f/s vs raw %.0f/s (overhead %.1f%%), dual %.0f msgs/s; "
           "wall clock with %d thread(s): rsa %.0f/s = %.2fx, ed25519 %.0f/s = %.2fx, dual "
           "%.0f/s = %.2fx of 1 thread\n",
           t->cpu[0][BENCH_DKIM_RSA], t->cpu[0][BENCH_RAW_RSA],
           bench_overhead(t->cpu[0][BENCH_DKIM_RSA], t->cpu[0][BENCH_RAW_RSA]),
           t->cpu[0][BENCH_DKIM_ED25519], t->cpu[0][BENCH_RAW_ED25519],
           bench_overhead(t->cpu[0][BENCH_DKIM_ED25519], t->cpu[0][BENCH_RAW_ED25519]),
           t->cpu[0][BENCH_DKIM_DUAL], threads, t->wall[1][BENCH_DKIM_RSA],
           bench_ratio(t->wall[1][BENCH_DKIM_RSA], t->wall[0][BENCH_DKIM_RSA]),
           t->wall[1][BENCH_DKIM_ED25519],
           bench_ratio(t->wall[1][BENCH_DKIM_ED25519], t->wall[0][BENCH_DKIM_ED25519]),
           t->wall[1][BENCH_DKIM_DUAL],
           bench_ratio(t->wall[1][BENCH_DKIM_DUAL], t->wall[0][BENCH_DKIM_DUAL]));
    status = 0;
fail:
    if (b) {
        dkim_key_free(b->rsa);
        dkim_key_free(b->ed25519);
        pthread_cond_destroy(&b->cond);
        pthread_mutex_destroy(&b->lock);
        free(b);
    }
    free(t);
    return status;
}
