/*
 * spool.c - queue_dir layout and the client side of the daemon socket.
 *
 * Trust: used by unprivileged programs (sendmail, mtaq); the daemon's
 * answers are bounded like any other input.
 */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* out = dir + suffix, in a SPOOL_PATH_MAX buffer. */
static int join(char *out, const char *dir, const char *suffix)
{
    size_t a = strlen(dir), b = strlen(suffix);
    if (a + b >= SPOOL_PATH_MAX)
        return -ENAMETOOLONG;
    memcpy(out, dir, a);
    memcpy(out + a, suffix, b + 1);
    return 0;
}

int spool_paths_init(struct spool_paths *p, const char *queue_dir)
{
    struct sockaddr_un sun;
    size_t n = strlen(queue_dir);

    while (n > 1 && queue_dir[n - 1] == '/')
        n--;
    if (n + 32 >= sizeof(p->dir))
        return -ENAMETOOLONG;
    memcpy(p->dir, queue_dir, n);
    p->dir[n] = 0;
    if (join(p->db, p->dir, "/db") || join(p->pidfile, p->dir, "/mtad.pid") ||
        join(p->public_dir, p->dir, "/public") || join(p->sock, p->dir, "/public/mtad.sock") ||
        join(p->maildrop, p->dir, "/maildrop") || join(p->corrupt, p->dir, "/corrupt") ||
        strlen(p->sock) >= sizeof(sun.sun_path))
        return -ENAMETOOLONG;
    return 0;
}

int spool_lock(const struct spool_paths *p, int create)
{
    /* flock works on a read-only descriptor: any user can ask whether the
     * daemon runs, only its owner can create the file. */
    int fd = open(p->pidfile, (create ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int err = errno;
        close(fd);
        return err == EWOULDBLOCK ? -EWOULDBLOCK : -err;
    }
    return fd;
}

int spool_connect(const struct spool_paths *p)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (strlen(p->sock) >= sizeof(sun.sun_path)) {
        close(fd);
        return -ENAMETOOLONG;
    }
    memcpy(sun.sun_path, p->sock, strlen(p->sock) + 1);
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

int spool_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int spool_read_reply(int fd, char *text, size_t len)
{
    char line[1024];
    size_t n = 0;

    for (;;) {
        ssize_t r = read(fd, line + n, 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            return -EPIPE;
        if (line[n] == '\n')
            break;
        if (++n >= sizeof(line) - 1)
            return -EPROTO;
    }
    line[n] = 0;
    const char *rest = strchr(line, ' ');
    snprintf(text, len, "%s", rest ? rest + 1 : "");
    if (strncmp(line, "ok", 2) == 0 && (line[2] == ' ' || line[2] == 0))
        return SPOOL_OK;
    if (strncmp(line, "tempfail", 8) == 0)
        return SPOOL_TEMPFAIL;
    if (strncmp(line, "fail", 4) == 0)
        return SPOOL_FAIL;
    return -EPROTO;
}

int spool_request(const struct spool_paths *p, const char *line, char *text, size_t len)
{
    char buf[256];
    int fd = spool_connect(p), rc;
    if (fd < 0)
        return fd;
    snprintf(buf, sizeof(buf), "%s\n", line);
    rc = spool_write_all(fd, buf, strlen(buf));
    if (rc == 0)
        rc = spool_read_reply(fd, text, len);
    close(fd);
    return rc;
}
