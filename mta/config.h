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
#include <sys/socket.h>

#define CONFIG_NAME_MAX 256      /* host and domain names (RFC 1035: 253 + NUL) */
#define CONFIG_PATH_MAX 1024     /* file and directory paths */
#define CONFIG_ERR_MAX 512       /* room for one error message */
#define CONFIG_LIST_MAX 16       /* entries in a list value (retry_schedule) */
#define CONFIG_DKIM_KEYS_MAX 32  /* dkim_key lines */
#define CONFIG_SELECTOR_MAX 64   /* DKIM selector, with its NUL */
#define CONFIG_TLS_POLICY_MAX 64 /* tls_policy lines */

/* One tls_policy line: the outbound_tls level for DOMAIN (".example.com":
 * for its subdomains). */
struct config_tls_policy {
    char domain[CONFIG_NAME_MAX];
    char level[8];
};

/* One dkim_key line: sign mail from DOMAIN with the key at PATH, published
 * under SELECTOR._domainkey.DOMAIN. */
struct config_dkim_key {
    char domain[CONFIG_NAME_MAX];
    char selector[CONFIG_SELECTOR_MAX];
    char path[CONFIG_PATH_MAX];
};

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
    /* ---- delivery (durations are in seconds) ---- */
    /* "on" or "off": off keeps mail queued, delivering nothing. */
    char delivery[8];
    /* Resolvers "ip[:port], [ipv6]:port, ..."; empty: /etc/resolv.conf. */
    char dns_servers[CONFIG_PATH_MAX];
    /* "all", "ipv4" or "ipv6": address families used to reach MX hosts. */
    char inet_protocols[8];
    /* TCP port used on MX hosts. */
    uint64_t smtp_port;
    /* RFC 5321 4.5.3.2 timeouts. */
    uint64_t smtp_connect_timeout, smtp_helo_timeout, smtp_mail_timeout, smtp_rcpt_timeout,
        smtp_data_init_timeout, smtp_data_xfer_timeout, smtp_data_done_timeout, smtp_quit_timeout;
    /* Delays between attempts; the last one repeats. */
    uint64_t retry_schedule[CONFIG_LIST_MAX];
    size_t retry_schedule_count;
    /* After this long in the queue a message bounces. */
    uint64_t max_queue_lifetime;
    /* A delay warning after this long; 0: none. */
    uint64_t delay_warning_time;
    /* Concurrent outbound connections: in all, and to one destination. */
    uint64_t max_connections, max_connections_per_destination;
    /* Recipients in one SMTP transaction; messages over one connection. */
    uint64_t max_recipients_per_transaction, max_messages_per_connection;
    /* An idle outbound connection is closed after this long. */
    uint64_t connection_idle_timeout;
    /* MX addresses tried for one connection attempt. */
    uint64_t smtp_max_addresses;
    /* First pause of a destination that throttles us; it doubles, to 1h. */
    uint64_t throttle_pause;
    /* ---- DKIM ---- */
    /* Keys, one per dkim_key line (repeatable), in file order. */
    struct config_dkim_key dkim_keys[CONFIG_DKIM_KEYS_MAX];
    size_t dkim_key_count;
    /* "relaxed/relaxed", "relaxed/simple", "simple/relaxed" or "simple/simple". */
    char dkim_canonicalization[24];
    /* Where `mtad dkim-keygen` writes keys. */
    char dkim_key_dir[CONFIG_PATH_MAX];
    /* ---- outbound TLS ---- */
    /* "none", "may", "encrypt" or "verify". */
    char outbound_tls[8];
    /* Per-destination levels, one per tls_policy line (repeatable). */
    struct config_tls_policy tls_policy[CONFIG_TLS_POLICY_MAX];
    size_t tls_policy_count;
    /* PEM bundle of the CAs trusted for "verify" and MTA-STS. */
    char tls_ca_file[CONFIG_PATH_MAX];
    /* "on" or "off": honour MTA-STS policies (RFC 8461). */
    char mta_sts[8];
    /* ---- submission service ---- */
    /* "ip:port" or "[ipv6]:port" with STARTTLS; "" for none. */
    char submission_listen[64];
    /* The same with implicit TLS (RFC 8314); "" for none. */
    char smtps_listen[64];
    /* PEM certificate chain and key; "" when there is none (no TLS, no AUTH). */
    char tls_cert[CONFIG_PATH_MAX];
    char tls_key[CONFIG_PATH_MAX];
    /* USER:HASH:SENDERS lines; "" for no users. */
    char auth_users[CONFIG_PATH_MAX];
    /* CIDR list of clients that may send without AUTH. */
    char trusted_networks[512];
    /* Recipients of one submitted message; more get 452 4.5.3. */
    uint64_t max_recipients;
    /* Connections from one client address at once. */
    uint64_t submission_client_limit;
    /* Waiting for a command, or between reads during DATA. */
    uint64_t submission_timeout;
    /* Bytes per second a client must keep up during DATA; 0: none. */
    uint64_t submission_min_data_rate;
    /* "reject" or "normalize": a bare CR or LF in a submitted message. */
    char submission_bare_lf[12];
    /* The unprivileged user mtad runs as once its ports are bound; "root":
     * no drop. */
    char user[CONFIG_NAME_MAX];
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

/*
 * Appends one dkim_key value "DOMAIN SELECTOR PATH" to cfg, checked as
 * the file's are; an empty value empties the list. Returns 0, or -EINVAL
 * with why (CONFIG_ERR_MAX) saying what is wrong.
 */
int config_add_dkim_key(struct config *cfg, const char *value, char *why, size_t whylen);

/*
 * The outbound_tls level for mail to domain: the tls_policy line for the
 * domain itself, else the one for its nearest ".parent", else
 * outbound_tls. Returns the level word.
 */
const char *config_tls_level(const struct config *cfg, const char *domain);

/*
 * 1 if the address sa is in the trusted_networks list of cfg, else 0
 * (an IPv4-mapped IPv6 address counts as IPv4).
 */
int config_trusted(const struct config *cfg, const struct sockaddr *sa);

/* Iteration over the table, for documentation checks: name and default of
 * row i, or NULL when i is past the end. */
const char *config_key_name(size_t i, const char **default_text);

#endif
