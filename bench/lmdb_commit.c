/*
 * lmdb_commit.c - the raw ceiling the enqueue benchmark is compared with:
 * one LMDB write transaction (one 4 KB value, durable commit) per message,
 * in a fresh environment in DIR.
 *
 *   lmdb_commit DIR [N] [VALUE_BYTES]   prints "lmdb_commit N msgs/s"
 */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    MDB_env *env = NULL;
    MDB_dbi dbi;
    int n = argc > 2 ? atoi(argv[2]) : 2000;
    size_t size = argc > 3 ? (size_t)atol(argv[3]) : 4096;
    char *value = malloc(size);
    int rc;

    if (argc < 2 || !value || n <= 0) {
        fprintf(stderr, "usage: lmdb_commit DIR [N] [VALUE_BYTES]\n");
        return 64;
    }
    memset(value, 'x', size);
    if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_mapsize(env, (size_t)1 << 30)) ||
        (rc = mdb_env_open(env, argv[1], 0, 0600))) {
        fprintf(stderr, "lmdb_commit: %s\n", mdb_strerror(rc));
        return 1;
    }
    double t0 = now();
    for (int i = 0; i < n; i++) {
        MDB_txn *txn;
        char key[16];
        MDB_val k = {(size_t)snprintf(key, sizeof(key), "%012d", i), key}, v = {size, value};
        if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) || (rc = mdb_dbi_open(txn, NULL, 0, &dbi)) ||
            (rc = mdb_put(txn, dbi, &k, &v, 0)) || (rc = mdb_txn_commit(txn))) {
            fprintf(stderr, "lmdb_commit: %s\n", mdb_strerror(rc));
            return 1;
        }
    }
    double t = now() - t0;
    printf("lmdb_commit %d %.0f\n", n, n / t);
    mdb_env_close(env);
    free(value);
    return 0;
}
