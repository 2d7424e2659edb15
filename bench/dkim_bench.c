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
 *   dkim_bench [-s SECONDS] [-t THREADS]   (defaults 3 and 2)
 *
 * Prints a table and a last line starting "summary:"; exits 0 whatever
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
    double seconds;      /* from the start to the end of its last operation */
    int rc;              /* 0, or the first failure (negative errno) */
};

static double bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
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
    char err[128], *out = NULL;
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
 * thread times itself, so a rate is exactly what that thread completed
 * in the time it took, the last operation included.
 */
static void *bench_worker_main(void *arg)
{
    struct bench_worker *w = arg;
    struct bench *b = w->b;
    double t0;

    w->rc = bench_run_once(b, w->op);
    pthread_mutex_lock(&b->lock);
    b->ready++;
    pthread_cond_broadcast(&b->cond);
    while (!b->go)
        pthread_cond_wait(&b->cond, &b->lock);
    pthread_mutex_unlock(&b->lock);
    if (w->rc < 0)
        return NULL;
    t0 = bench_now();
    while (!atomic_load_explicit(&b->stop, memory_order_relaxed)) {
        w->rc = bench_run_once(b, w->op);
        if (w->rc < 0)
            break;
        w->count++;
    }
    w->seconds = bench_now() - t0;
    return NULL;
}

/*
 * Runs op on threads threads for seconds; *rate is the sum of the
 * threads' rates (operations per second). Returns 0, or a negative errno
 * when a thread could not start or an operation failed.
 */
static int bench_measure(struct bench *b, enum bench_op op, int threads, double seconds,
                         double *rate)
{
    struct bench_worker workers[BENCH_THREADS_MAX];
    struct timespec pause = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    int started, rc = 0;

    memset(workers, 0, sizeof workers);
    *rate = 0;
    b->ready = 0;
    b->go = 0;
    atomic_store(&b->stop, 0);
    for (started = 0; started < threads; started++) {
        workers[started].b = b;
        workers[started].op = op;
        rc = -pthread_create(&workers[started].thread, NULL, bench_worker_main, &workers[started]);
        if (rc < 0) {
            fprintf(stderr, "dkim_bench: cannot start thread %d: %s\n", started + 1, strerror(-rc));
            /* The started threads do not time anything: stop is set
             * before they pass the gate. */
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
        if (workers[i].seconds > 0)
            *rate += (double)workers[i].count / workers[i].seconds;
    }
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
    fprintf(stderr, "usage: dkim_bench [-s SECONDS] [-t THREADS]   (THREADS 1 to %d)\n",
            BENCH_THREADS_MAX);
    return 64;
}

/* 1 - dkim/raw, as a percentage: what dkim_sign costs beyond its
 * primitive. */
static double bench_overhead(double dkim, double raw)
{
    return raw > 0 ? 100.0 * (1.0 - dkim / raw) : 0.0;
}

int main(int argc, char **argv)
{
    struct bench *b = NULL;
    double seconds = 3, rate[BENCH_OP_COUNT][2], raw_dual[2];
    int threads = 2, opt, rc, status = 1;
    char *end, col_rate[32], col_overhead[32];
    br_sha256_context sha;

    while ((opt = getopt(argc, argv, "s:t:")) != -1) {
        switch (opt) {
        case 's':
            errno = 0;
            seconds = strtod(optarg, &end);
            if (errno != 0 || *end != '\0' || !(seconds >= 0.1 && seconds <= BENCH_SECONDS_MAX))
                return usage();
            break;
        case 't': {
            long t;

            errno = 0;
            t = strtol(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || t < 1 || t > BENCH_THREADS_MAX)
                return usage();
            threads = (int)t;
            break;
        }
        default:
            return usage();
        }
    }
    if (optind != argc)
        return usage();

    if (sodium_init() < 0) {
        fprintf(stderr, "dkim_bench: sodium_init failed\n");
        goto fail;
    }
    b = calloc(1, sizeof *b);
    if (!b) {
        fprintf(stderr, "dkim_bench: out of memory\n");
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
           "%.1f s per figure, 1 and %d threads\n",
           sysconf(_SC_NPROCESSORS_ONLN), b->msg_len, seconds, threads);
    fflush(stdout);
    /* Raw and dkim figures of one algorithm are taken one after the
     * other, so that a change in the machine's load skews both alike. */
    static const enum bench_op order[BENCH_OP_COUNT] = {
        BENCH_RAW_RSA, BENCH_DKIM_RSA, BENCH_RAW_ED25519, BENCH_DKIM_ED25519, BENCH_DKIM_DUAL,
    };
    for (int i = 0; i < BENCH_OP_COUNT; i++) {
        enum bench_op op = order[i];

        rc = bench_measure(b, op, 1, seconds, &rate[op][0]);
        if (rc == 0 && threads > 1)
            rc = bench_measure(b, op, threads, seconds, &rate[op][1]);
        else
            rate[op][1] = rate[op][0];
        if (rc < 0) {
            fprintf(stderr, "dkim_bench: %s: %s\n", bench_op_names[op], strerror(-rc));
            goto fail;
        }
    }
    /* Dual signing's raw bound: one RSA and one Ed25519 signature per
     * message, back to back. */
    for (int j = 0; j < 2; j++)
        raw_dual[j] = 1.0 / (1.0 / rate[BENCH_RAW_RSA][j] + 1.0 / rate[BENCH_RAW_ED25519][j]);

    snprintf(col_rate, sizeof col_rate, "%d threads/s", threads);
    snprintf(col_overhead, sizeof col_overhead, "overhead %dt", threads);
    printf("\n%-30s %11s %12s %8s %11s %12s\n", "what", "1 thread/s", col_rate, "scaling",
           "overhead 1t", col_overhead);
    for (int op = 0; op < BENCH_OP_COUNT; op++) {
        printf("%-30s %11.1f %12.1f %7.2fx", bench_op_names[op], rate[op][0], rate[op][1],
               rate[op][1] / rate[op][0]);
        if (op == BENCH_RAW_RSA || op == BENCH_RAW_ED25519) {
            printf(" %11s %12s\n", "-", "-");
        } else {
            const double *raw = op == BENCH_DKIM_RSA       ? rate[BENCH_RAW_RSA]
                                : op == BENCH_DKIM_ED25519 ? rate[BENCH_RAW_ED25519]
                                                           : raw_dual;

            printf(" %10.1f%% %11.1f%%\n", bench_overhead(rate[op][0], raw[0]),
                   bench_overhead(rate[op][1], raw[1]));
        }
    }
    printf("(overhead = 1 - dkim_sign/raw; dual's raw is one RSA plus one Ed25519 signature: "
           "%.1f/s, %.1f/s)\n",
           raw_dual[0], raw_dual[1]);
    printf("summary: rsa-sha256 %.0f/s (raw %.0f/s, overhead %.1f%%, target < 10%%), "
           "ed25519-sha256 %.0f/s (raw %.0f/s, overhead %.1f%%), dual %.0f msgs/s; "
           "%d threads: rsa %.2fx, ed25519 %.2fx, dual %.2fx of 1 thread\n",
           rate[BENCH_DKIM_RSA][0], rate[BENCH_RAW_RSA][0],
           bench_overhead(rate[BENCH_DKIM_RSA][0], rate[BENCH_RAW_RSA][0]),
           rate[BENCH_DKIM_ED25519][0], rate[BENCH_RAW_ED25519][0],
           bench_overhead(rate[BENCH_DKIM_ED25519][0], rate[BENCH_RAW_ED25519][0]),
           rate[BENCH_DKIM_DUAL][0], threads, rate[BENCH_DKIM_RSA][1] / rate[BENCH_DKIM_RSA][0],
           rate[BENCH_DKIM_ED25519][1] / rate[BENCH_DKIM_ED25519][0],
           rate[BENCH_DKIM_DUAL][1] / rate[BENCH_DKIM_DUAL][0]);
    status = 0;
fail:
    if (b) {
        dkim_key_free(b->rsa);
        dkim_key_free(b->ed25519);
        pthread_cond_destroy(&b->cond);
        pthread_mutex_destroy(&b->lock);
        free(b);
    }
    return status;
}
