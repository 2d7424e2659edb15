/*
 * spool.h - the layout of queue_dir and how local programs reach mtad.
 *
 *   queue_dir/            0755  the daemon's user
 *     db/                 0700  the LMDB queue (data.mdb, lock.mdb)
 *     mtad.pid                  pid of the running daemon, flock()ed by it
 *     public/             0755  mtad.sock, mode 0666: any local user submits
 *     maildrop/           1770  group setgid_group: files from mta-postdrop
 *                               while the daemon is down
 *     corrupt/            0700  maildrop files that failed validation
 */
#ifndef MTA_SPOOL_H
#define MTA_SPOOL_H

#include <stddef.h>

#define SPOOL_PATH_MAX 1200

struct spool_paths {
    char dir[SPOOL_PATH_MAX];
    char db[SPOOL_PATH_MAX];
    char pidfile[SPOOL_PATH_MAX];
    char public_dir[SPOOL_PATH_MAX];
    char sock[SPOOL_PATH_MAX];
    char maildrop[SPOOL_PATH_MAX];
    char corrupt[SPOOL_PATH_MAX];
};

/* Fills p from queue_dir. Returns 0 or -ENAMETOOLONG (a socket path must
 * fit sockaddr_un). */
int spool_paths_init(struct spool_paths *p, const char *queue_dir);

/*
 * Tries to take the daemon lock (flock on the pid file). Returns an open fd
 * holding the lock, -EWOULDBLOCK when a daemon (or another mtaq) holds it,
 * or another negative errno. With create = 0 a missing pid file is -ENOENT.
 */
int spool_lock(const struct spool_paths *p, int create);

/* Connects to the daemon's socket. Returns an fd or a negative errno
 * (-ECONNREFUSED or -ENOENT when no daemon listens). */
int spool_connect(const struct spool_paths *p);

/* Writes all of buf. Returns 0 or a negative errno. */
int spool_write_all(int fd, const void *buf, size_t len);

enum spool_reply { SPOOL_OK = 0, SPOOL_TEMPFAIL = 1, SPOOL_FAIL = 2 };

/*
 * Reads the daemon's one-line answer into text (without the keyword).
 * Returns SPOOL_OK, SPOOL_TEMPFAIL or SPOOL_FAIL, or a negative errno when
 * the connection broke before a full answer (-EPIPE for EOF).
 */
int spool_read_reply(int fd, char *text, size_t len);

/* Sends one control line ("flush", "hold ID"...) and reads the answer. */
int spool_request(const struct spool_paths *p, const char *line, char *text, size_t len);

#endif
