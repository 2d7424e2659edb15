/*
 * config.h - the one configuration file shared by mtad, sendmail and mtaq.
 *
 * The file holds `key = value` lines; `#` starts a comment line; blank lines
 * are ignored. Every key is one row of a single table in config.c
 * ({name, type, field, default, min, max, help}), so that parsing,
 * validation, `mtad check` and the documentation in etc/mta.conf cannot
 * drift apart (tests/test_config checks etc/mta.conf against the table).
 *
 * Errors are reported as "FILE:LINE: KEY: what is wrong".
 */
#ifndef MTA_CONFIG_H
#define MTA_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_NAME_MAX 256  /* host and domain names (RFC 1035: 253 + NUL) */
#define CONFIG_PATH_MAX 1024 /* file and directory paths */
#define CONFIG_ERR_MAX 512   /* room for one error message */

struct config {
    /* Fully qualified host name used in Message-ID, Received, EHLO. */
    char hostname[CONFIG_NAME_MAX];
    /* Domain that qualifies bare local names ("root" -> root@local_domain). */
    char local_domain[CONFIG_NAME_MAX];
    /* Directory holding the LMDB queue, the maildrop and the daemon socket. */
    char queue_dir[CONFIG_PATH_MAX];
    /* File in /etc/aliases syntax; empty string means no aliases. */
    char aliases[CONFIG_PATH_MAX];
    /* "stderr", "syslog", or an absolute file path. */
    char log[CONFIG_PATH_MAX];
    /* Group that may write the maildrop directory (through mta-postdrop). */
    char setgid_group[CONFIG_NAME_MAX];
    /* Largest message accepted, in bytes (headers and body). */
    uint64_t max_message_size;
    /* Upper bound of the LMDB map: the most the queue may hold on disk. */
    uint64_t queue_map_size;
    /* Path of the file that was loaded, or "" when built-in defaults serve. */
    char path[CONFIG_PATH_MAX];
};

/*
 * Fills cfg with the built-in defaults. hostname and local_domain are left
 * empty here; config_finish() derives them.
 */
void config_defaults(struct config *cfg);

/*
 * Parses the file at path into cfg (which must hold defaults already) and
 * then calls config_finish(). Keys that are absent keep their value.
 * Returns 0, -ENOENT when the file does not exist (err says so), -EINVAL
 * for a syntax error, an unknown key or a bad value (err holds
 * "path:line: key: what is wrong"), or another negative errno for I/O.
 */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);

/*
 * Derives what the file left empty: hostname from the system's fully
 * qualified name (gethostname + canonical name lookup), local_domain from
 * the part of hostname after its first dot (or hostname itself when it has
 * no dot). Returns 0 or -EINVAL with err set.
 */
int config_finish(struct config *cfg, char *err, size_t errlen);

/*
 * The one entry point the programs use: defaults, then the file named by
 * cli_path (from -C; may be NULL), else $MTA_CONF, else MTA_DEFAULT_CONF.
 * A missing file is an error when it was named by -C or $MTA_CONF; a
 * missing default file means built-in defaults serve. Returns 0 or a
 * negative errno with err set.
 */
int config_init(struct config *cfg, const char *cli_path, char *err, size_t errlen);

/* Writes every key as "key = value" lines, in table order. */
void config_dump(const struct config *cfg, FILE *out);

/*
 * Parses a size with an optional k/K, m/M, g/G suffix (powers of 1024) into
 * *out. Returns 0 or -EINVAL (empty, junk, overflow).
 */
int config_parse_size(const char *text, uint64_t *out);

/* Iteration over the table, for documentation checks: name and default of
 * row i, or NULL when i is past the end. */
const char *config_key_name(size_t i, const char **default_text);

#endif
