/*
 * postdrop.c - mta-postdrop, the setgid helper that lets sendmail queue a
 * message while mtad is not running.
 *
 *   mta-postdrop MAILDROP_DIR  < submission
 *
 * Installed setgid to the group that may write the maildrop directory
 * (setgid_group, default mtadrop). It opens the directory and creates a
 * new file in it with the group's privilege, then gives the privilege up
 * for good BEFORE it reads a single byte of input, and copies standard
 * input into the file. The file is created with mode 0 and made
 * group-readable (0440) only once complete and on disk: that is how mtad
 * tells a finished file from one still being written.
 *
 * SECURITY: trusts nothing from the caller: no environment, no
 * configuration file. The directory named on the command line must, when
 * the helper runs setgid, be a real directory of the privileged group
 * with the sticky bit, so the group privilege can only ever be used to
 * create one new file in such a directory. The content is not parsed
 * here; mtad validates it like any other hostile input.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

/* Larger than any configurable max_message_size plus envelope; mtad
 * enforces the real limit. */
#define POSTDROP_MAX ((off_t)2 << 30 | (off_t)16 << 20)

int main(int argc, char **argv)
{
    char name[40], buf[65536];
    unsigned char rnd[12];
    int dirfd = -1, fd = -1, code = EX_CANTCREAT;
    off_t total = 0;
    gid_t rgid = getgid(), egid = getegid();
    struct stat st;

    if (argc != 2 || argv[1][0] != '/') {
        fprintf(stderr, "usage: mta-postdrop /absolute/maildrop/dir < submission\n");
        return EX_USAGE;
    }
    dirfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dirfd < 0 || fstat(dirfd, &st) < 0) {
        fprintf(stderr, "mta-postdrop: %s: %s\n", argv[1], strerror(errno));
        goto fail;
    }
    if (rgid != egid && (st.st_gid != egid || !(st.st_mode & S_ISVTX) || (st.st_mode & S_IWOTH))) {
        fprintf(stderr, "mta-postdrop: %s is not a maildrop directory of this group\n", argv[1]);
        goto fail;
    }
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        fprintf(stderr, "mta-postdrop: no randomness: %s\n", strerror(errno));
        goto fail;
    }
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(name + 2 * i, 3, "%02x", rnd[i]);
    fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "mta-postdrop: cannot create a file in %s: %s\n", argv[1], strerror(errno));
        goto fail;
    }
    /* From here on, no group privilege. */
    if (setresgid(rgid, rgid, rgid) < 0 || getegid() != rgid) {
        fprintf(stderr, "mta-postdrop: cannot drop the group privilege\n");
        code = EX_OSERR;
        goto fail;
    }
    code = EX_IOERR;
    for (;;) {
        ssize_t n = read(0, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "mta-postdrop: reading input: %s\n", strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        if ((total += n) > POSTDROP_MAX) {
            fprintf(stderr, "mta-postdrop: input too large\n");
            code = EX_DATAERR;
            goto fail;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                code = errno == ENOSPC || errno == EDQUOT ? EX_TEMPFAIL : EX_IOERR;
                fprintf(stderr, "mta-postdrop: writing %s: %s\n", name, strerror(errno));
                goto fail;
            }
            off += w;
        }
    }
    /* Data on disk first, then the "complete" mark, then the directory. */
    if (fsync(fd) < 0 || fchmod(fd, 0440) < 0 || fsync(fd) < 0 || fsync(dirfd) < 0) {
        code = errno == ENOSPC || errno == EDQUOT ? EX_TEMPFAIL : EX_IOERR;
        fprintf(stderr, "mta-postdrop: syncing %s: %s\n", name, strerror(errno));
        goto fail;
    }
    close(fd);
    close(dirfd);
    return 0;
fail:
    /* An incomplete file (mode 0) that we may no longer unlink is removed
     * by mtad after a day. */
    if (fd >= 0) {
        if (unlinkat(dirfd, name, 0) < 0) {
            /* left for mtad */
        }
        close(fd);
    }
    if (dirfd >= 0)
        close(dirfd);
    return code;
}
