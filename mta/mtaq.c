/*
 * mtaq.c - inspect and control the queue.
 *
 *   mtaq [list] [--json]        mtaq show ID [--json]     mtaq stats [--json]
 *   mtaq cat ID                 (the content exactly as queued, like postcat -bh)
 *   mtaq delete ID...           mtaq hold ID...           mtaq release ID...
 *   mtaq flush [ID...]
 *
 * Reading uses an LMDB read transaction and never blocks the daemon.
 * Changes go through the daemon's socket when it runs (it is the queue's
 * writer); when it does not, mtaq takes the daemon lock and changes the
 * queue itself, so a daemon starting meanwhile waits.
 *
 * SECURITY: reading needs read access to queue_dir/db (root or the
 * daemon's user); the daemon accepts hold, release and delete only from
 * root or its own uid. IDs from the command line are validated.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "qview.h"
#include "queue.h"
#include "spool.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: mtaq [-C config] [list] [--json]\n"
                 "       mtaq [-C config] show ID [--json]\n"
                 "       mtaq [-C config] stats [--json]\n"
                 "       mtaq [-C config] cat ID\n"
                 "       mtaq [-C config] delete|hold|release ID...\n"
                 "       mtaq [-C config] flush [ID...]\n");
}

static int open_read(const struct spool_paths *p, struct queue **q, struct queue_txn **t)
{
    int rc = queue_open(q, p->db, 0, QUEUE_OPEN_READONLY);
    if (rc == 0 && (rc = queue_txn_begin(*q, NULL, 0, t)) != 0) {
        queue_close(*q);
        *q = NULL;
    }
    return rc;
}

/* Applies one change directly (daemon not running, lock held). */
static int change_direct(struct queue *q, const char *cmd, const char *id, unsigned *count)
{
    struct queue_txn *t = NULL;
    int rc = queue_txn_begin(q, NULL, 1, &t);
    if (rc)
        return rc;
    *count = 1;
    if (!strcmp(cmd, "delete"))
        rc = queue_delete(t, id);
    else if (!strcmp(cmd, "hold"))
        rc = queue_hold(t, id, count);
    else if (!strcmp(cmd, "release"))
        rc = queue_release(t, id, queue_now(), count);
    else
        rc = queue_flush(t, id, queue_now(), count);
    if (rc) {
        queue_txn_abort(t);
        return rc;
    }
    return queue_txn_commit(t);
}

static int change(const struct config *cfg, const struct spool_paths *p, const char *cmd,
                  char **ids, int nids)
{
    struct queue *q = NULL;
    int lock = spool_lock(p, 0), failed = 0;
    int all = nids == 0; /* flush without ids */

    for (int i = 0; i < nids; i++)
        if (!queue_id_valid(ids[i])) {
            fprintf(stderr, "mtaq: %s: not a queue id\n", ids[i]);
            failed = 1;
        }
    if (failed) {
        if (lock >= 0)
            close(lock);
        return 1;
    }
    if (lock == -ENOENT) {
        fprintf(stderr, "mtaq: no queue in %s (mtad has never run there)\n", p->dir);
        return 1;
    }
    if (lock >= 0) {
        int rc = queue_open(&q, p->db, cfg->queue_map_size, 0);
        if (rc) {
            fprintf(stderr, "mtaq: cannot open the queue in %s: %s\n", p->db, strerror(-rc));
            close(lock);
            return EX_TEMPFAIL;
        }
    } else if (lock != -EWOULDBLOCK) {
        fprintf(stderr, "mtaq: cannot use %s: %s\n", p->pidfile, strerror(-lock));
        return EX_NOPERM;
    }
    for (int i = 0; i < (all ? 1 : nids); i++) {
        const char *id = all ? NULL : ids[i];
        char text[512], line[64];
        unsigned count = 0;
        int rc;
        if (q) {
            rc = change_direct(q, cmd, id, &count);
            if (rc == -ENOENT) {
                fprintf(stderr, "mtaq: %s: no such message\n", id ? id : "-");
                failed = 1;
            } else if (rc) {
                fprintf(stderr, "mtaq: %s %s: %s\n", cmd, id ? id : "", strerror(-rc));
                failed = 1;
            } else if (!strcmp(cmd, "flush") && !id) {
                printf("%u recipient(s) due now\n", count);
            } else {
                printf("%s: %s\n", id, !strcmp(cmd, "delete") ? "deleted" : "ok");
            }
            continue;
        }
        snprintf(line, sizeof(line), "%s%s%s", cmd, id ? " " : "", id ? id : "");
        rc = spool_request(p, line, text, sizeof(text));
        if (rc == SPOOL_OK) {
            if (!strcmp(cmd, "flush") && !id)
                printf("%s recipient(s) due now\n", text);
            else
                printf("%s: %s\n", id, !strcmp(cmd, "delete") ? "deleted" : "ok");
        } else if (rc < 0) {
            fprintf(stderr, "mtaq: cannot reach mtad: %s\n", strerror(-rc));
            failed = 1;
        } else {
            fprintf(stderr, "mtaq: %s: %s\n", id ? id : cmd, text);
            failed = 1;
        }
    }
    queue_close(q);
    if (lock >= 0)
        close(lock);
    return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct config cfg;
    struct spool_paths paths;
    char err[CONFIG_ERR_MAX];
    const char *config_path = NULL, *cmd = "list";
    char *args[argc + 1];
    int nargs = 0, json = 0, rc;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "-C") && i + 1 < argc) {
            config_path = argv[++i];
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            usage(stderr);
            return EX_USAGE;
        } else {
            args[nargs++] = argv[i];
        }
    }
    if (nargs > 0) {
        cmd = args[0];
        memmove(args, args + 1, (size_t)(nargs - 1) * sizeof(*args));
        nargs--;
    }
    if (config_init(&cfg, config_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "mtaq: %s\n", err);
        return EX_CONFIG;
    }
    if (spool_paths_init(&paths, cfg.queue_dir) != 0) {
        fprintf(stderr, "mtaq: queue_dir %s: path too long\n", cfg.queue_dir);
        return EX_CONFIG;
    }

    if (!strcmp(cmd, "list") || !strcmp(cmd, "show") || !strcmp(cmd, "stats") ||
        !strcmp(cmd, "cat")) {
        struct queue *q = NULL;
        struct queue_txn *t = NULL;
        int want = !strcmp(cmd, "show") || !strcmp(cmd, "cat") ? 1 : 0;
        if (nargs != want) {
            usage(stderr);
            return EX_USAGE;
        }
        if (want && !queue_id_valid(args[0])) {
            fprintf(stderr, "mtaq: %s: not a queue id\n", args[0]);
            return 1;
        }
        rc = open_read(&paths, &q, &t);
        if (rc == -ENOENT && !want) {
            /* No queue yet: an empty one. */
            if (!strcmp(cmd, "list"))
                printf(json ? "[]\n" : "Mail queue is empty\n");
            else
                printf(json ? "{\"messages\":0,\"bytes\":0,\"set_aside\":0,\"recipients\":{"
                              "\"ready\":0,\"deferred\":0,\"held\":0,\"sending\":0},"
                              "\"domains\":[]}\n"
                            : "messages:   0 (0 bytes)\n");
            return 0;
        }
        if (rc) {
            fprintf(stderr, "mtaq: cannot open the queue in %s: %s\n", paths.db, strerror(-rc));
            return rc == -EACCES ? EX_NOPERM : EX_TEMPFAIL;
        }
        if (!strcmp(cmd, "list"))
            rc = qview_list(t, stdout, json);
        else if (!strcmp(cmd, "stats")) {
            /* The daemon's live state (connections, paused destinations),
             * when it runs: it is not in the queue. */
            char live[2048];
            int have = spool_request(&paths, "status", live, sizeof(live)) == SPOOL_OK;
            rc = qview_stats(t, stdout, json, have ? live : NULL);
            if (have && rc == 0 && !json) {
                printf("\ndaemon:\n");
                for (char *p = live, *semi; p; p = semi ? semi + 2 : NULL) {
                    semi = strstr(p, "; ");
                    if (semi)
                        *semi = 0;
                    printf("  %s\n", p);
                }
            }
        } else if (!strcmp(cmd, "cat")) {
            const void *data;
            size_t len;
            rc = queue_content(t, args[0], &data, &len);
            if (rc == 0 && len && fwrite(data, 1, len, stdout) != len)
                rc = -EIO;
        } else
            rc = qview_show(t, args[0], stdout, json);
        queue_txn_abort(t);
        queue_close(q);
        if (rc == -ENOENT) {
            fprintf(stderr, "mtaq: %s: no such message\n", args[0]);
            return 1;
        }
        if (rc) {
            fprintf(stderr, "mtaq: %s\n", strerror(-rc));
            return EX_TEMPFAIL;
        }
        return fflush(stdout) == 0 ? 0 : EX_IOERR;
    }
    if (!strcmp(cmd, "delete") || !strcmp(cmd, "hold") || !strcmp(cmd, "release")) {
        if (nargs == 0) {
            usage(stderr);
            return EX_USAGE;
        }
        return change(&cfg, &paths, cmd, args, nargs);
    }
    if (!strcmp(cmd, "flush"))
        return change(&cfg, &paths, cmd, args, nargs);
    fprintf(stderr, "mtaq: unknown command %s\n", cmd);
    usage(stderr);
    return EX_USAGE;
}
