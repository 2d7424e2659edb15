/*
 * test_auth.c - the auth_users file: loading and its errors, password
 * checks (yescrypt and sha512-crypt), allowed senders, and mtad passwd's
 * rewrite of the file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "check.h"

static char dir[] = "/tmp/test_auth.XXXXXX";

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs(text, f);
    fclose(f);
}

static void test_load_and_check(void)
{
    char path[256], err[512] = "";
    struct auth_db *db = NULL;

    snprintf(path, sizeof path, "%s/users", dir);
    write_file(path,
               "# users\n"
               "\n"
               "alice:$y$j9T$krFvlacQVkwKRDfjNdePL.$cy9XDc.HBnZ/puyqxHVEm443i9pxWSt4x2zazkBeJo6:"
               "alice@example.com,@example.org\n"
               "bob@example.net:$6$JLdoyGYzNW8PpZNa$B.k4DD8Uc53OmTP2ArtBK7jK3lCwaYGtyZwGkqz.2Iy/"
               "BrlA.ARrxZwEgzrxSVZmIqP5/ZEIovuyVn4ZxKx/H1:\n"
               "carol:$6$JLdoyGYzNW8PpZNa$B.k4DD8Uc53OmTP2ArtBK7jK3lCwaYGtyZwGkqz.2Iy/"
               "BrlA.ARrxZwEgzrxSVZmIqP5/ZEIovuyVn4ZxKx/H1:\n");
    CHECK_INT(auth_db_load(path, "local.test", &db, err, sizeof err), 0);
    CHECK_STR(err, "");
    CHECK_INT(auth_db_count(db), 3);
    CHECK_INT(auth_db_check(db, "alice", "secret-y"), 1);
    CHECK_INT(auth_db_check(db, "alice", "secret-Y"), 0);
    CHECK_INT(auth_db_check(db, "alice", ""), 0);
    CHECK_INT(auth_db_check(db, "bob@example.net", "secret6"), 1);
    CHECK_INT(auth_db_check(db, "bob@example.net", "secret-y"), 0);
    CHECK_INT(auth_db_check(db, "nobody", "secret-y"), 0);
    CHECK_INT(auth_db_check(db, "Alice", "secret-y"), 0);
    /* senders: listed addresses, whole domains, the defaults */
    CHECK_INT(auth_db_sender_allowed(db, "alice", "alice@example.com"), 1);
    CHECK_INT(auth_db_sender_allowed(db, "alice", "alice@EXAMPLE.com"), 1);
    CHECK_INT(auth_db_sender_allowed(db, "alice", "Alice@example.com"), 0);
    CHECK_INT(auth_db_sender_allowed(db, "alice", "anyone@example.org"), 1);
    CHECK_INT(auth_db_sender_allowed(db, "alice", "anyone@sub.example.org"), 0);
    CHECK_INT(auth_db_sender_allowed(db, "alice", "bob@example.net"), 0);
    CHECK_INT(auth_db_sender_allowed(db, "alice", ""), 1);
    CHECK_INT(auth_db_sender_allowed(db, "bob@example.net", "bob@example.net"), 1);
    CHECK_INT(auth_db_sender_allowed(db, "bob@example.net", "alice@example.com"), 0);
    CHECK_INT(auth_db_sender_allowed(db, "carol", "carol@local.test"), 1);
    CHECK_INT(auth_db_sender_allowed(db, "carol", "carol@other.test"), 0);
    CHECK_INT(auth_db_sender_allowed(db, "nobody", "nobody@local.test"), 0);
    auth_db_unref(db);

    /* a missing file: nobody */
    snprintf(path, sizeof path, "%s/missing", dir);
    CHECK_INT(auth_db_load(path, "local.test", &db, err, sizeof err), 0);
    CHECK_INT(auth_db_count(db), 0);
    CHECK_INT(auth_db_check(db, "alice", "secret-y"), 0);
    auth_db_unref(db);
}

static void test_errors(void)
{
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"alice\n", "users:1: expected USER:HASH:SENDERS"},
        {"alice:$6$x$y\n", "users:1: expected USER:HASH:SENDERS"},
        {"alice:$6$x$y:a:b\n", "users:1: expected USER:HASH:SENDERS"},
        {"# c\nal ice:$6$x$y:\n", "users:2: bad user name"},
        {"alice:plain:\n", "users:1: HASH is not a crypt(3) hash"},
        {"alice:$6$x$y:a@b, c@d\n", "users:1: SENDERS holds white space or a control character"},
    };
    char path[256], err[512], want[600];
    struct auth_db *db;

    snprintf(path, sizeof path, "%s/users", dir);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i].text);
        db = NULL;
        CHECK_INT(auth_db_load(path, "l.test", &db, err, sizeof err), -EINVAL);
        CHECK(db == NULL);
        snprintf(want, sizeof want, "%s/%s", dir, bad[i].why);
        CHECK_STR(err, want);
    }
}

static void test_passwd(void)
{
    char path[256], err[512] = "", text[4096] = "";
    struct auth_db *db = NULL;
    struct stat st;
    FILE *f;

    snprintf(path, sizeof path, "%s/pw", dir);
    CHECK_INT(auth_passwd(path, "dave", "first pass", "@d.test", err, sizeof err), 0);
    CHECK_INT(stat(path, &st), 0);
    CHECK_INT(st.st_mode & 0777, 0640);
    CHECK_INT(auth_passwd(path, "erin", "erin's", NULL, err, sizeof err), 0);
    /* a new password keeps the senders column */
    CHECK_INT(auth_passwd(path, "dave", "second pass", NULL, err, sizeof err), 0);
    CHECK_INT(auth_db_load(path, "l.test", &db, err, sizeof err), 0);
    CHECK_INT(auth_db_count(db), 2);
    CHECK_INT(auth_db_check(db, "dave", "first pass"), 0);
    CHECK_INT(auth_db_check(db, "dave", "second pass"), 1);
    CHECK_INT(auth_db_check(db, "erin", "erin's"), 1);
    CHECK_INT(auth_db_sender_allowed(db, "dave", "x@d.test"), 1);
    CHECK_INT(auth_db_sender_allowed(db, "erin", "erin@l.test"), 1);
    auth_db_unref(db);
    f = fopen(path, "r");
    CHECK(f != NULL);
    if (f) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    CHECK(strncmp(text, "dave:$y$", 8) == 0);
    CHECK(strstr(text, "\nerin:$y$") != NULL);
    CHECK_INT(auth_passwd(path, "bad:name", "x", NULL, err, sizeof err), -EINVAL);
    CHECK_INT(auth_passwd(path, "ok", "", NULL, err, sizeof err), -EINVAL);
    CHECK_INT(auth_passwd(path, "ok", "x", "a@b, c@d", err, sizeof err), -EINVAL);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_load_and_check();
    test_errors();
    test_passwd();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    CHECK_DONE();
}
