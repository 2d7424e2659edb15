/*
 * auth.c - users of the submission service (see auth.h).
 *
 * Trust: the auth_users file is root's. Names and passwords come from
 * SMTP clients over TLS: bounded by the SMTP layer, compared here only
 * through crypt_r().
 */
#include "auth.h"

#include <crypt.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define AUTH_LINE_MAX 4096
#define AUTH_USERS_MAX 10000

struct auth_user {
    char *name;
    char *hash;
    char *senders; /* comma-separated, never empty (the default filled in) */
};

struct auth_db {
    int refs;
    size_t n;
    struct auth_user *users;
};

static void auth_db_free(struct auth_db *db)
{
    for (size_t i = 0; i < db->n; i++) {
        free(db->users[i].name);
        free(db->users[i].hash);
        free(db->users[i].senders);
    }
    free(db->users);
    free(db);
}

struct auth_db *auth_db_ref(struct auth_db *db)
{
    if (db)
        db->refs++;
    return db;
}

void auth_db_unref(struct auth_db *db)
{
    if (db && --db->refs == 0)
        auth_db_free(db);
}

size_t auth_db_count(const struct auth_db *db)
{
    return db ? db->n : 0;
}

static int valid_name(const char *s)
{
    if (!*s || strlen(s) >= AUTH_USER_MAX)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || *s == 0x7f || *s == ':')
            return 0;
    return 1;
}

int auth_db_load(const char *path, const char *local_domain, struct auth_db **out, char *err,
                 size_t errlen)
{
    struct auth_db *db = calloc(1, sizeof(*db));
    char line[AUTH_LINE_MAX + 2];
    size_t lineno = 0, cap = 0;
    FILE *f = NULL;
    int rc = -ENOMEM;

    *out = NULL;
    if (!db)
        return -ENOMEM;
    db->refs = 1;
    if (!path[0] || !(f = fopen(path, "re"))) {
        if (path[0] && errno != ENOENT) {
            rc = -errno;
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            goto fail;
        }
        *out = db;
        return 0;
    }
    while (fgets(line, sizeof(line), f)) {
        size_t len = strlen(line);
        char *user, *hash, *senders, *p;
        lineno++;
        if (len > AUTH_LINE_MAX) {
            snprintf(err, errlen, "%s:%zu: line too long", path, lineno);
            rc = -EINVAL;
            goto fail;
        }
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '#')
            continue;
        user = p;
        hash = strchr(user, ':');
        senders = hash ? strchr(hash + 1, ':') : NULL;
        if (!hash || !senders || strchr(senders + 1, ':')) {
            snprintf(err, errlen, "%s:%zu: expected USER:HASH:SENDERS", path, lineno);
            rc = -EINVAL;
            goto fail;
        }
        *hash++ = '\0';
        *senders++ = '\0';
        if (!valid_name(user) || hash[0] != '$' || strlen(hash) < 4) {
            snprintf(err, errlen, "%s:%zu: %s", path, lineno,
                     !valid_name(user) ? "bad user name" : "HASH is not a crypt(3) hash");
            rc = -EINVAL;
            goto fail;
        }
        for (p = senders; *p; p++)
            if (*p == ' ' || *p == '\t' || (unsigned char)*p < 0x20) {
                snprintf(err, errlen, "%s:%zu: SENDERS holds white space or a control character",
                         path, lineno);
                rc = -EINVAL;
                goto fail;
            }
        if (db->n == AUTH_USERS_MAX) {
            snprintf(err, errlen, "%s:%zu: more than %d users", path, lineno, AUTH_USERS_MAX);
            rc = -EINVAL;
            goto fail;
        }
        if (db->n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct auth_user *u = realloc(db->users, ncap * sizeof(*u));
            if (!u)
                goto fail;
            db->users = u;
            cap = ncap;
        }
        struct auth_user *u = &db->users[db->n];
        memset(u, 0, sizeof(*u));
        u->name = strdup(user);
        u->hash = strdup(hash);
        if (senders[0])
            u->senders = strdup(senders);
        else if (strchr(user, '@'))
            u->senders = strdup(user);
        else if ((u->senders = malloc(strlen(user) + strlen(local_domain) + 2)))
            sprintf(u->senders, "%s@%s", user, local_domain);
        db->n++;
        if (!u->name || !u->hash || !u->senders)
            goto fail;
    }
    if (ferror(f)) {
        rc = -EIO;
        snprintf(err, errlen, "%s: read error", path);
        goto fail;
    }
    fclose(f);
    *out = db;
    return 0;
fail:
    if (rc == -ENOMEM)
        snprintf(err, errlen, "%s: out of memory", path);
    if (f)
        fclose(f);
    auth_db_free(db);
    return rc;
}

static const struct auth_user *auth_find(const struct auth_db *db, const char *user)
{
    for (size_t i = 0; db && i < db->n; i++)
        if (strcmp(db->users[i].name, user) == 0)
            return &db->users[i];
    return NULL;
}

int auth_db_check(const struct auth_db *db, const char *user, const char *password)
{
    /* A yescrypt hash of nothing in particular, for unknown users. */
    static const char dummy[] =
        "$y$j9T$e9Kq6NDe.crfEdNvF5NNF1$nF1jV73WxHA8aCDoq5ZpDe/gvnnHI7Vj/frVt.hATa9";
    const struct auth_user *u = auth_find(db, user);
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    int ok = 0;

    if (!cd)
        return 0;
    if (strlen(password) < AUTH_PASSWORD_MAX) {
        const char *want = u ? u->hash : dummy;
        const char *got = crypt_r(password, want, cd);
        /* crypt_r fails with "*0"-style strings, never equal to a hash. */
        ok = u && got && got[0] == '$' && strlen(got) == strlen(want) &&
             memcmp(got, want, strlen(want)) == 0;
    }
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return ok;
}

int auth_db_sender_allowed(const struct auth_db *db, const char *user, const char *sender)
{
    const struct auth_user *u = auth_find(db, user);
    const char *at = strrchr(sender, '@');
    const char *p;

    if (!sender[0])
        return 1;
    if (!u)
        return 0;
    for (p = u->senders; *p;) {
        size_t n = strcspn(p, ",");
        if (p[0] == '@') {
            if (at && strlen(at) == n && strncasecmp(at, p, n) == 0)
                return 1;
        } else if (strlen(sender) == n && at) {
            /* local part exact, domain case-insensitive */
            size_t local = (size_t)(at - sender);
            if (local < n && p[local] == '@' && strncmp(sender, p, local) == 0 &&
                strncasecmp(at, p + local, n - local) == 0)
                return 1;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

int auth_passwd(const char *path, const char *user, const char *password, const char *senders,
                char *err, size_t errlen)
{
    char tmp[4096 + 16], line[AUTH_LINE_MAX + 2], *salt = NULL, *hash = NULL;
    struct crypt_data *cd = NULL;
    FILE *in = NULL, *out = NULL;
    int rc = -ENOMEM, fd = -1, done = 0;
    size_t ulen = strlen(user);

    if (!valid_name(user)) {
        snprintf(err, errlen, "bad user name: no ':', white space or control characters");
        return -EINVAL;
    }
    if (!password[0] || strlen(password) >= AUTH_PASSWORD_MAX) {
        snprintf(err, errlen, "the password must be 1 to %d bytes", AUTH_PASSWORD_MAX - 1);
        return -EINVAL;
    }
    if (senders && strpbrk(senders, ": \t\r\n")) {
        snprintf(err, errlen, "senders: a comma-separated list without spaces or ':'");
        return -EINVAL;
    }
    if (!(cd = calloc(1, sizeof(*cd))))
        goto fail;
    if (!(salt = crypt_gensalt_ra("$y$", 0, NULL, 0)) || !(hash = crypt_r(password, salt, cd)) ||
        hash[0] != '$') {
        rc = -EIO;
        snprintf(err, errlen, "crypt(3) cannot make a yescrypt hash");
        goto fail;
    }
    if (snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
        rc = -ENAMETOOLONG;
        snprintf(err, errlen, "%s: path too long", path);
        goto fail;
    }
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640)) < 0 ||
        !(out = fdopen(fd, "w"))) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        goto fail;
    }
    fd = -1;
    if ((in = fopen(path, "re"))) {
        struct stat st;
        if (fstat(fileno(in), &st) == 0)
            fchmod(fileno(out), st.st_mode & 0777), fchown(fileno(out), st.st_uid, st.st_gid);
        while (fgets(line, sizeof(line), in)) {
            if (strncmp(line, user, ulen) == 0 && line[ulen] == ':') {
                char *old = strchr(line + ulen + 1, ':');
                const char *keep = "";
                if (old) {
                    old[strcspn(old, "\r\n")] = '\0';
                    keep = old + 1;
                }
                fprintf(out, "%s:%s:%s\n", user, hash, senders ? senders : keep);
                done = 1;
            } else {
                fputs(line, out);
            }
        }
    } else if (errno != ENOENT) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (!done)
        fprintf(out, "%s:%s:%s\n", user, hash, senders ? senders : "");
    if (fflush(out) != 0 || fsync(fileno(out)) != 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        goto fail;
    }
    fclose(out);
    out = NULL;
    if (rename(tmp, path) < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto fail;
    }
    rc = 0;
fail:
    if (in)
        fclose(in);
    if (out) {
        fclose(out);
        unlink(tmp);
    }
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    if (cd) {
        explicit_bzero(cd, sizeof(*cd));
        free(cd);
    }
    free(salt);
    return rc;
}
