/*
 * dkim_keygen.c - `mtad dkim-keygen` (see dkim_keygen.h).
 *
 * Trust: run by root from a shell; arguments are checked as the
 * configuration file's dkim_key lines are. The private key never leaves
 * the file it is written to (mode 0600, created before it holds a byte).
 */
#include "dkim_keygen.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dkim.h"
#include "mta_build.h"

#define TXT_STRING_MAX 255 /* RFC 1035 3.3: one character-string */

/* mkdir -p with mode for the directories it makes. */
static int make_dirs(const char *path, mode_t mode)
{
    char buf[CONFIG_PATH_MAX];
    struct stat st;

    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -ENAMETOOLONG;
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, c ? 0755 : mode) < 0 && errno != EEXIST)
            return -errno;
        *p = c;
        if (!c)
            break;
    }
    if (stat(path, &st) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* Writes all of len bytes, then fsync. */
static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n;
        len -= (size_t)n;
    }
    return fsync(fd) < 0 ? -errno : 0;
}

/*
 * Puts pem in path, mode 0600: with O_EXCL, or with --force through a
 * temporary file renamed over the old key, so that a crash never leaves
 * a half-written key where the daemon looks.
 */
static int write_key(const char *path, const char *pem, size_t len, int force)
{
    char tmp[CONFIG_PATH_MAX + 16];
    const char *target = path;
    int fd, rc;

    if (force) {
        if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp)
            return -ENAMETOOLONG;
        target = tmp;
    }
    fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    rc = write_all(fd, pem, len);
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && force && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0)
        unlink(target);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: mtad dkim-keygen [--type rsa|ed25519] [--bits N] [--force] DOMAIN "
               "SELECTOR\n");
}

int dkim_keygen_main(const struct config *cfg, int argc, char **argv, FILE *out)
{
    static const struct option opts[] = {
        {"type", required_argument, NULL, 't'},
        {"bits", required_argument, NULL, 'b'},
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    enum dkim_alg alg = DKIM_ALG_RSA_SHA256;
    unsigned long bits = 2048;
    int force = 0, opt, rc, status = 1;
    struct config *check = NULL;
    struct dkim_key *key = NULL;
    char *pem = NULL, *record = NULL, *end;
    char path[CONFIG_PATH_MAX], line[CONFIG_PATH_MAX + 2 * CONFIG_NAME_MAX], why[CONFIG_ERR_MAX];
    const char *domain, *selector;
    size_t pem_len = 0;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "t:b:fh", opts, NULL)) != -1) {
        switch (opt) {
        case 't':
            if (strcmp(optarg, "rsa") == 0)
                alg = DKIM_ALG_RSA_SHA256;
            else if (strcmp(optarg, "ed25519") == 0)
                alg = DKIM_ALG_ED25519_SHA256;
            else {
                fprintf(stderr, "mtad dkim-keygen: --type: expected rsa or ed25519\n");
                return 64;
            }
            break;
        case 'b':
            errno = 0;
            bits = strtoul(optarg, &end, 10);
            if (errno || *end || bits < DKIM_RSA_MIN_BITS || bits > DKIM_RSA_MAX_BITS) {
                fprintf(stderr, "mtad dkim-keygen: --bits: expected %d to %d\n", DKIM_RSA_MIN_BITS,
                        DKIM_RSA_MAX_BITS);
                return 64;
            }
            break;
        case 'f':
            force = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 64;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return 64;
    }
    domain = argv[optind];
    selector = argv[optind + 1];
    if (snprintf(path, sizeof path, "%s/%s.%s.key", cfg->dkim_key_dir, domain, selector) >=
        (int)sizeof path) {
        fprintf(stderr, "mtad dkim-keygen: key path too long\n");
        return 1;
    }
    /* The same checks as a dkim_key line in the configuration file. */
    snprintf(line, sizeof line, "%s %s %s", domain, selector, path);
    if (!(check = calloc(1, sizeof *check)))
        goto fail;
    if (config_add_dkim_key(check, line, why, sizeof why) < 0) {
        fprintf(stderr, "mtad dkim-keygen: %s\n", why);
        status = 64;
        goto fail;
    }
    if (!force && access(path, F_OK) == 0) {
        fprintf(stderr,
                "mtad dkim-keygen: %s exists; not overwritten (use --force to replace it, or "
                "choose a new selector to rotate keys)\n",
                path);
        goto fail;
    }
    if ((rc = make_dirs(cfg->dkim_key_dir, 0700)) < 0) {
        fprintf(stderr, "mtad dkim-keygen: %s: %s\n", cfg->dkim_key_dir, strerror(-rc));
        goto fail;
    }
    if ((rc = dkim_key_generate(alg, (unsigned)bits, &key)) < 0 ||
        (rc = dkim_key_pem(key, &pem, &pem_len)) < 0 || (rc = dkim_key_record(key, &record)) < 0) {
        fprintf(stderr, "mtad dkim-keygen: cannot make the key: %s\n", strerror(-rc));
        goto fail;
    }
    if ((rc = write_key(path, pem, pem_len, force)) < 0) {
        fprintf(stderr, "mtad dkim-keygen: %s: %s\n", path, strerror(-rc));
        goto fail;
    }
    /* mtad reloads keys on SIGHUP as its own user: the key and its
     * directory are that user's (still 0600 and 0700). */
    struct passwd *pw = strcmp(cfg->user, "root") ? getpwnam(cfg->user) : NULL;
    if (pw && geteuid() == 0 &&
        (chown(cfg->dkim_key_dir, pw->pw_uid, pw->pw_gid) < 0 ||
         chown(path, pw->pw_uid, pw->pw_gid) < 0))
        fprintf(stderr, "mtad dkim-keygen: warning: cannot give %s to user %s: %s\n", path,
                cfg->user, strerror(errno));
    fprintf(out, "# %s key (%u bits) written to %s\n",
            alg == DKIM_ALG_RSA_SHA256 ? "RSA" : "Ed25519", dkim_key_bits(key), path);
    fprintf(out, "# 1. Publish this TXT record in the DNS zone of %s:\n", domain);
    fprintf(out, "%s._domainkey.%s. IN TXT", selector, domain);
    for (size_t at = 0, n = strlen(record); at < n; at += TXT_STRING_MAX)
        fprintf(out, " \"%.*s\"", TXT_STRING_MAX, record + at);
    fprintf(out, "\n# 2. Add this line to %s, then reload mtad (SIGHUP):\n",
            cfg->path[0] ? cfg->path : MTA_DEFAULT_CONF);
    fprintf(out, "dkim_key = %s %s %s\n", domain, selector, path);
    status = 0;
fail:
    if (pem) {
        explicit_bzero(pem, pem_len);
        free(pem);
    }
    free(record);
    dkim_key_free(key);
    free(check);
    return status;
}
