/*
 * auth.h - the users of the submission service: the auth_users file, one
 * "USER:HASH:SENDERS" line each, passwords checked with crypt(3) from
 * libcrypt (yescrypt made by `mtad passwd`; sha512-crypt accepted), and
 * the envelope senders each user may use.
 *
 * An auth_db is immutable once loaded; checks may run on worker threads
 * at once. mtad replaces it on SIGHUP; jobs hold a reference
 * (auth_db_ref/unref on the loop thread).
 */
#ifndef MTA_AUTH_H
#define MTA_AUTH_H

#include <stddef.h>

#define AUTH_USER_MAX 256     /* a user name, with its NUL */
#define AUTH_PASSWORD_MAX 256 /* longest password accepted */

struct auth_db;

/*
 * Loads path. A missing file is an empty database (nobody may AUTH).
 * Lines: "USER:HASH:SENDERS"; '#' comments and blank lines are skipped.
 * USER holds no ':' or control characters; HASH is a crypt(3) hash;
 * SENDERS is a comma-separated list of addresses and "@domain" entries,
 * or empty: the user's name when it is an address, else
 * USER@local_domain. *out holds one reference. Returns 0, or -EINVAL
 * with err "path:line: what is wrong", or another negative errno.
 */
int auth_db_load(const char *path, const char *local_domain, struct auth_db **out, char *err,
                 size_t errlen);

struct auth_db *auth_db_ref(struct auth_db *db);
void auth_db_unref(struct auth_db *db); /* NULL does nothing */

/* Users loaded. */
size_t auth_db_count(const struct auth_db *db);

/*
 * 1 when user exists and password matches its hash, else 0. An unknown
 * user costs a hash of the same kind, so that timing does not tell which
 * users exist. Slow (yescrypt): call it on a worker thread. Thread-safe.
 */
int auth_db_check(const struct auth_db *db, const char *user, const char *password);

/* 1 when user may use sender as the envelope sender ("" the null
 * sender: always allowed), else 0. Case-insensitive domains. */
int auth_db_sender_allowed(const struct auth_db *db, const char *user, const char *sender);

/*
 * `mtad passwd`: sets user's password in the file at path (created mode
 * 0640 when missing), hashed with yescrypt and a fresh salt; other lines
 * are kept as they are. senders, if not NULL, replaces the user's
 * SENDERS column (a new user gets "" otherwise). The file is replaced
 * atomically (rename). Returns 0 or a negative errno with err.
 */
int auth_passwd(const char *path, const char *user, const char *password, const char *senders,
                char *err, size_t errlen);

#endif
