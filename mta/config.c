/*
 * config.c - reads the one configuration file shared by mtad, sendmail and
 * mtaq, driven by a single table of keys.
 *
 * Every key is one row of config_keys[]: its name, its type, the field of
 * struct config it fills, its default (as text, parsed exactly like a value
 * from the file), its range and a line of help. Defaults, parsing,
 * validation, config_dump() and the check of etc/mta.conf in test_config all
 * walk that table, so adding a key means adding a field, a row, and a block
 * in etc/mta.conf (which the test demands).
 *
 * SECURITY: the file is trusted as much as whoever wrote it: root for the
 * default file, the invoking user for -C or $MTA_CONF in programs that run
 * with that user's rights. It is still read with fixed bounds and every
 * value is checked, so a bad file gives an error message naming the line,
 * never a crash or a silently truncated value. $MTA_CONF is read with
 * secure_getenv(), so a set-id program never takes its configuration from
 * its caller's environment; such a program must not pass a caller's -C to
 * config_init() either.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include("mta_build.h")
#include "mta_build.h"
#endif
#endif
#ifndef MTA_DEFAULT_CONF
#define MTA_DEFAULT_CONF "/etc/mta.conf"
#endif
#ifndef MTA_AUTH_USERS
#define MTA_AUTH_USERS "/etc/mta/auth_users"
#endif
#ifndef MTA_DKIM_KEY_DIR
#define MTA_DKIM_KEY_DIR "/etc/mta/dkim"
#endif

#define CONFIG_LINE_MAX 4096 /* bytes in one line, not counting its line ending */
#define CONFIG_KEY_SHOWN 64  /* bytes of a key quoted in an error message */
#define CONFIG_WHY_MAX 256   /* room for "what is wrong" with one value */
#define CONFIG_GROUP_MAX 32  /* longest group name (useradd's limit) */

#define KIB ((uint64_t)1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define TIB (GIB * 1024)

enum config_type {
    CONFIG_TYPE_HOST_NAME,     /* DNS host name; empty: derived by config_finish() */
    CONFIG_TYPE_PATH,          /* absolute path */
    CONFIG_TYPE_PATH_OR_EMPTY, /* absolute path, or empty to disable */
    CONFIG_TYPE_LOG,           /* "stderr", "syslog" or an absolute path */
    CONFIG_TYPE_GROUP,         /* group name */
    CONFIG_TYPE_SIZE,          /* byte count with optional k/M/G suffix, in [min, max] */
    CONFIG_TYPE_ENUM,          /* one of the row's choices, stored as the word */
    CONFIG_TYPE_RESOLVERS,     /* "ip[:port],[ipv6][:port]"; empty: /etc/resolv.conf */
    CONFIG_TYPE_UINT,          /* decimal number in [min, max] */
    CONFIG_TYPE_DURATION,      /* seconds, with optional s/m/h/d/w suffix, in [min, max] */
    CONFIG_TYPE_DURATION_LIST, /* comma-separated durations, each in [min, max] */
    CONFIG_TYPE_DKIM_KEY,      /* repeatable "DOMAIN SELECTOR PATH"; empty clears the list */
    CONFIG_TYPE_TLS_POLICY,    /* repeatable "DOMAIN LEVEL"; empty clears the list */
    CONFIG_TYPE_LISTEN,        /* "ip:port" or "[ipv6]:port"; empty: off */
    CONFIG_TYPE_NETWORKS,      /* comma-separated "ip[/prefix]" */
    CONFIG_TYPE_USER,          /* user name */
};

struct config_key {
    const char *name;
    enum config_type type;
    size_t offset;              /* of the field in struct config */
    size_t size;                /* of the field: bounds every copy into it */
    size_t count_offset;        /* CONFIG_TYPE_DURATION_LIST: of the field counting entries */
    const char *const *choices; /* CONFIG_TYPE_ENUM: the accepted words, NULL at the end */
    const char *default_text;
    uint64_t min, max; /* SIZE, UINT, DURATION; DURATION_LIST: of each entry */
    const char *help;
};

/*
 * The field macros give offset, size, count_offset and choices. The
 * _Generic selection in CONFIG_OFFSET makes a row whose field has the wrong
 * C type fail to compile, instead of writing a number into a string or the
 * other way.
 */
#define CONFIG_OFFSET(f, type) _Generic(((struct config *)0)->f, type : offsetof(struct config, f))
#define STRING_FIELD(f) CONFIG_OFFSET(f, char *), sizeof(((struct config *)0)->f), 0, NULL
#define ENUM_FIELD(f, words) CONFIG_OFFSET(f, char *), sizeof(((struct config *)0)->f), 0, words
#define UINT64_FIELD(f) CONFIG_OFFSET(f, uint64_t), sizeof(uint64_t), 0, NULL
#define LIST_FIELD(f, count)                                                                       \
    CONFIG_OFFSET(f, uint64_t *), sizeof(((struct config *)0)->f), CONFIG_OFFSET(count, size_t),   \
        NULL

#define DKIM_KEYS_FIELD                                                                            \
    CONFIG_OFFSET(dkim_keys, struct config_dkim_key *), sizeof(((struct config *)0)->dkim_keys),   \
        CONFIG_OFFSET(dkim_key_count, size_t), NULL

#define TLS_POLICY_FIELD                                                                           \
    CONFIG_OFFSET(tls_policy, struct config_tls_policy *),                                         \
        sizeof(((struct config *)0)->tls_policy), CONFIG_OFFSET(tls_policy_count, size_t), NULL

#define MINUTE ((uint64_t)60)
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)
#define WEEK (7 * DAY)

/* c-ares takes any number; more than a few only slows down a failing lookup. */
#define CONFIG_RESOLVERS_MAX 8

static const char *const config_on_off[] = {"on", "off", NULL};
static const char *const config_inet_protocols[] = {"all", "ipv4", "ipv6", NULL};
static const char *const config_bare_lf[] = {"reject", "normalize", NULL};
static const char *const config_tls_levels[] = {"none", "may", "encrypt", "verify", NULL};
static const char *const config_canonicalizations[] = {"relaxed/relaxed", "relaxed/simple",
                                                       "simple/relaxed", "simple/simple", NULL};

static const struct config_key config_keys[] = {
    {"hostname", CONFIG_TYPE_HOST_NAME, STRING_FIELD(hostname), "", 0, 0,
     "fully qualified name of this host (EHLO, Received, Message-ID); empty: the system's name"},
    {"local_domain", CONFIG_TYPE_HOST_NAME, STRING_FIELD(local_domain), "", 0, 0,
     "domain that completes bare local names; empty: hostname after its first dot"},
    {"queue_dir", CONFIG_TYPE_PATH, STRING_FIELD(queue_dir), "/var/spool/mta", 0, 0,
     "directory of the queue database, the maildrop and the daemon socket"},
    {"max_message_size", CONFIG_TYPE_SIZE, UINT64_FIELD(max_message_size), "35M", KIB, 2 * GIB,
     "largest message accepted, headers and body"},
    {"aliases", CONFIG_TYPE_PATH_OR_EMPTY, STRING_FIELD(aliases), "/etc/aliases", 0, 0,
     "aliases(5) file for bare local names; empty: no aliases"},
    {"log", CONFIG_TYPE_LOG, STRING_FIELD(log), "stderr", 0, 0,
     "where to log: stderr, syslog or an absolute file path"},
    {"setgid_group", CONFIG_TYPE_GROUP, STRING_FIELD(setgid_group), "mtadrop", 0, 0,
     "group of the maildrop directory, held only by mta-postdrop"},
    {"queue_map_size", CONFIG_TYPE_SIZE, UINT64_FIELD(queue_map_size), "4G", MIB, TIB,
     "most the queue database may hold on disk; past it, submissions are deferred"},

    /* Delivery. Defaults are written as config_dump() writes them. */
    {"delivery", CONFIG_TYPE_ENUM, ENUM_FIELD(delivery, config_on_off), "on", 0, 0,
     "on: deliver queued mail; off: keep it queued and deliver nothing"},
    {"dns_servers", CONFIG_TYPE_RESOLVERS, STRING_FIELD(dns_servers), "", 0, 0,
     "resolvers to ask (ip, ip:port, [ipv6], [ipv6]:port, comma-separated); empty: "
     "/etc/resolv.conf"},
    {"inet_protocols", CONFIG_TYPE_ENUM, ENUM_FIELD(inet_protocols, config_inet_protocols), "all",
     0, 0, "address families used to reach MX hosts: all, ipv4 or ipv6"},
    {"smtp_port", CONFIG_TYPE_UINT, UINT64_FIELD(smtp_port), "25", 1, 65535,
     "TCP port of the MX hosts"},
    {"smtp_connect_timeout", CONFIG_TYPE_DURATION, UINT64_FIELD(smtp_connect_timeout), "30s", 1,
     HOUR, "time allowed to open the TCP connection"},
    {"smtp_helo_timeout", CONFIG_TYPE_DURATION, UINT64_FIELD(smtp_helo_timeout), "5m", 1, HOUR,
     "wait for the greeting and for the reply to EHLO or HELO"},
    {"smtp_mail_timeout", CONFIG_TYPE_DURATION, UINT64_FIELD(smtp_mail_timeout), "5m", 1, HOUR,
     "wait for the reply to MAIL FROM"},
    {"smtp_rcpt_timeout", CONFIG_TYPE_DURATION, UINT64_FIELD(smtp_rcpt_timeout), "5m", 1, HOUR,
     "wait for the reply to RCPT TO"},
    {"smtp_data_init_timeout", CONFIG_TYPE_DURATION, UINT64_FIELD(smtp_data_init_timeout), "2m", 1,
     HOUR, "wait for the 354 reply to DATA"},
    {"smtp_data_xfer_timeout", CONFIG_TYPE_DURATION, UINT64_FIELD(smtp_data_xfer_timeout), "3m", 1,
     HOUR, "longest stall while sending the message content"},
    {"smtp_data_done_timeout", CONFIG_TYPE_DURATION, UINT64_FIELD(smtp_data_done_timeout), "10m", 1,
     HOUR, "wait for the reply to the final dot"},
    {"smtp_quit_timeout", CONFIG_TYPE_DURATION, UINT64_FIELD(smtp_quit_timeout), "5m", 1, HOUR,
     "wait for the reply to QUIT"},
    {"retry_schedule", CONFIG_TYPE_DURATION_LIST, LIST_FIELD(retry_schedule, retry_schedule_count),
     "5m,10m,20m,40m,1h,2h,4h", 1, WEEK, "delays between delivery attempts; the last one repeats"},
    {"max_queue_lifetime", CONFIG_TYPE_DURATION, UINT64_FIELD(max_queue_lifetime), "5d", MINUTE,
     100 * DAY, "after this long in the queue, a message still undelivered bounces"},
    {"delay_warning_time", CONFIG_TYPE_DURATION, UINT64_FIELD(delay_warning_time), "4h", 0,
     100 * DAY, "tell the sender once a message has waited this long; 0: never"},
    {"max_connections", CONFIG_TYPE_UINT, UINT64_FIELD(max_connections), "100", 1, 100000,
     "outbound SMTP connections open at once, in all"},
    {"max_connections_per_destination", CONFIG_TYPE_UINT,
     UINT64_FIELD(max_connections_per_destination), "20", 1, 10000,
     "outbound SMTP connections open at once to one destination domain"},
    {"max_recipients_per_transaction", CONFIG_TYPE_UINT,
     UINT64_FIELD(max_recipients_per_transaction), "100", 1, 1000,
     "recipients given in one SMTP transaction"},
    {"max_messages_per_connection", CONFIG_TYPE_UINT, UINT64_FIELD(max_messages_per_connection),
     "100", 1, 100000, "messages sent over one connection before it is closed"},
    {"connection_idle_timeout", CONFIG_TYPE_DURATION, UINT64_FIELD(connection_idle_timeout), "5s",
     1, HOUR, "an outbound connection idle this long is closed"},
    {"smtp_max_addresses", CONFIG_TYPE_UINT, UINT64_FIELD(smtp_max_addresses), "5", 1, 50,
     "MX host addresses tried in one delivery attempt"},
    {"throttle_pause", CONFIG_TYPE_DURATION, UINT64_FIELD(throttle_pause), "1m", 1, DAY,
     "first pause of a destination that asks us to slow down"},

    /* DKIM. */
    {"dkim_key", CONFIG_TYPE_DKIM_KEY, DKIM_KEYS_FIELD, "", 0, 0,
     "DOMAIN SELECTOR PATH: sign mail whose From is in DOMAIN with the PEM key at PATH "
     "(repeatable)"},
    {"dkim_canonicalization", CONFIG_TYPE_ENUM,
     ENUM_FIELD(dkim_canonicalization, config_canonicalizations), "relaxed/relaxed", 0, 0,
     "DKIM canonicalization of header/body: relaxed or simple each"},
    {"dkim_key_dir", CONFIG_TYPE_PATH, STRING_FIELD(dkim_key_dir), MTA_DKIM_KEY_DIR, 0, 0,
     "directory where mtad dkim-keygen writes private keys"},

    /* Outbound TLS. */
    {"outbound_tls", CONFIG_TYPE_ENUM, ENUM_FIELD(outbound_tls, config_tls_levels), "may", 0, 0,
     "STARTTLS to MX hosts: none, may (opportunistic), encrypt or verify"},
    {"tls_policy", CONFIG_TYPE_TLS_POLICY, TLS_POLICY_FIELD, "", 0, 0,
     "DOMAIN LEVEL: outbound_tls level for one destination (repeatable)"},
    {"tls_ca_file", CONFIG_TYPE_PATH, STRING_FIELD(tls_ca_file),
     "/etc/ssl/certs/ca-certificates.crt", 0, 0,
     "PEM bundle of trusted CAs for verify and MTA-STS"},
    {"mta_sts", CONFIG_TYPE_ENUM, ENUM_FIELD(mta_sts, config_on_off), "on", 0, 0,
     "on: honour the MTA-STS policies of destinations (RFC 8461)"},

    /* The submission service. */
    {"submission_listen", CONFIG_TYPE_LISTEN, STRING_FIELD(submission_listen), "127.0.0.1:587", 0,
     0, "address of the submission service (STARTTLS); empty: none"},
    {"smtps_listen", CONFIG_TYPE_LISTEN, STRING_FIELD(smtps_listen), "", 0, 0,
     "address of the submission service with implicit TLS (port 465); empty: none"},
    {"tls_cert", CONFIG_TYPE_PATH_OR_EMPTY, STRING_FIELD(tls_cert), "", 0, 0,
     "PEM certificate chain of the service (fullchain.pem); empty: no TLS, no AUTH"},
    {"tls_key", CONFIG_TYPE_PATH_OR_EMPTY, STRING_FIELD(tls_key), "", 0, 0,
     "PEM private key of tls_cert (privkey.pem)"},
    {"auth_users", CONFIG_TYPE_PATH_OR_EMPTY, STRING_FIELD(auth_users), MTA_AUTH_USERS, 0, 0,
     "USER:HASH:SENDERS lines for AUTH (mtad passwd); empty: nobody"},
    {"trusted_networks", CONFIG_TYPE_NETWORKS, STRING_FIELD(trusted_networks), "127.0.0.0/8, ::1",
     0, 0, "clients that may send without AUTH (ip[/prefix], comma-separated)"},
    {"max_recipients", CONFIG_TYPE_UINT, UINT64_FIELD(max_recipients), "1000", 1, 100000,
     "recipients of one submitted message; the extra ones get 452 4.5.3"},
    {"submission_client_limit", CONFIG_TYPE_UINT, UINT64_FIELD(submission_client_limit), "20", 1,
     10000, "connections from one client address at once"},
    {"submission_timeout", CONFIG_TYPE_DURATION, UINT64_FIELD(submission_timeout), "5m", 1, HOUR,
     "wait for a client's command, or for more data during DATA"},
    {"submission_min_data_rate", CONFIG_TYPE_UINT, UINT64_FIELD(submission_min_data_rate), "500", 0,
     1000000000, "bytes per second a client must keep up during DATA; 0: no minimum"},
    {"submission_bare_lf", CONFIG_TYPE_ENUM, ENUM_FIELD(submission_bare_lf, config_bare_lf),
     "reject", 0, 0, "a bare CR or LF in a submitted message: reject it, or normalize to CRLF"},
    {"user", CONFIG_TYPE_USER, STRING_FIELD(user), "mta", 0, 0,
     "unprivileged user mtad runs as once its ports are bound; it owns the queue"},
};

#define CONFIG_KEY_COUNT (sizeof config_keys / sizeof config_keys[0])

__attribute__((format(printf, 3, 4))) static void config__error(char *err, size_t errlen,
                                                                const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool config__is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static bool config__is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Trims s in place; returns the first byte that is not white space. */
static char *config__trim(char *s)
{
    size_t len;

    while (config__is_space(*s))
        s++;
    len = strlen(s);
    while (len > 0 && config__is_space(s[len - 1]))
        s[--len] = '\0';
    return s;
}

/* RFC 1123 host name: labels of letters, digits and '-' not at either end. */
static bool config__is_host_name(const char *s)
{
    size_t label = 0, total = strlen(s);

    if (total == 0 || total > 253)
        return false;
    for (size_t i = 0; i < total; i++) {
        if (s[i] == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!config__is_alnum(s[i]) && s[i] != '-')
            return false;
        if (label == 0 && s[i] == '-')
            return false;
        if (++label > 63)
            return false;
    }
    return label > 0 && s[total - 1] != '-';
}

/* The portable subset useradd(8) accepts: [a-z_][a-z0-9_-]*. */
static bool config__is_group_name(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > CONFIG_GROUP_MAX)
        return false;
    if (!(s[0] >= 'a' && s[0] <= 'z') && s[0] != '_')
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (!(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '_' && c != '-')
            return false;
    }
    return true;
}

/*
 * Reads the decimal digits at the start of the len bytes at s into *out and
 * their count into *used. Returns 0, -EINVAL when s does not start with a
 * digit, or -ERANGE when the number is past UINT64_MAX (*used still counts
 * every digit, so that the caller can check what follows).
 */
static int config__parse_digits(const char *s, size_t len, size_t *used, uint64_t *out)
{
    uint64_t n = 0;
    size_t i = 0;
    bool overflow = false;

    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        unsigned digit = (unsigned)(s[i] - '0');
        if (n > (UINT64_MAX - digit) / 10)
            overflow = true;
        else
            n = n * 10 + digit;
    }
    if (i == 0)
        return -EINVAL;
    *used = i;
    *out = n;
    return overflow ? -ERANGE : 0;
}

int config_parse_size(const char *text, uint64_t *out)
{
    uint64_t n = 0, unit = 1;
    const char *p = text;
    size_t used = 0;

    if (config__parse_digits(text, strlen(text), &used, &n) != 0)
        return -EINVAL;
    p += used;
    switch (*p) {
    case '\0':
        break;
    case 'k':
    case 'K':
        unit = KIB;
        p++;
        break;
    case 'm':
    case 'M':
        unit = MIB;
        p++;
        break;
    case 'g':
    case 'G':
        unit = GIB;
        p++;
        break;
    default:
        return -EINVAL;
    }
    if (*p != '\0' || n > UINT64_MAX / unit)
        return -EINVAL;
    *out = n * unit;
    return 0;
}

/* Writes n in the largest unit that divides it exactly: 36700160 -> "35M". */
static void config__format_size(uint64_t n, char *buf, size_t len)
{
    static const struct {
        uint64_t unit;
        char suffix;
    } units[] = {{GIB, 'G'}, {MIB, 'M'}, {KIB, 'k'}};

    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (n != 0 && n % units[i].unit == 0) {
            snprintf(buf, len, "%" PRIu64 "%c", n / units[i].unit, units[i].suffix);
            return;
        }
    }
    snprintf(buf, len, "%" PRIu64, n);
}

static const struct {
    uint64_t seconds;
    char suffix;
} config_duration_units[] = {{WEEK, 'w'}, {DAY, 'd'}, {HOUR, 'h'}, {MINUTE, 'm'}, {1, 's'}};

#define CONFIG_DURATION_UNIT_COUNT (sizeof config_duration_units / sizeof config_duration_units[0])

/*
 * Parses the len bytes at s as a duration: digits, then at most one of the
 * suffixes s, m, h, d, w (none means seconds). Only lower case, so that
 * "5M" is not taken for minutes by someone who meant a size. Returns 0
 * with *out in seconds, -EINVAL when the text is not a duration, or
 * -ERANGE when it is one but does not fit in 64 bits.
 */
static int config__parse_duration(const char *s, size_t len, uint64_t *out)
{
    uint64_t n = 0, unit = 1;
    size_t used = 0;
    int rc = config__parse_digits(s, len, &used, &n);

    if (rc == -EINVAL)
        return -EINVAL;
    if (used < len) {
        size_t u = 0;
        while (u < CONFIG_DURATION_UNIT_COUNT && config_duration_units[u].suffix != s[used])
            u++;
        if (u == CONFIG_DURATION_UNIT_COUNT || used + 1 != len)
            return -EINVAL;
        unit = config_duration_units[u].seconds;
    }
    if (rc == -ERANGE || n > UINT64_MAX / unit)
        return -ERANGE;
    *out = n * unit;
    return 0;
}

/* Writes seconds in the largest unit that divides them exactly: 300 -> "5m", 0 -> "0". */
static void config__format_duration(uint64_t seconds, char *buf, size_t len)
{
    if (seconds == 0) {
        snprintf(buf, len, "0");
        return;
    }
    for (size_t i = 0; i < CONFIG_DURATION_UNIT_COUNT; i++) {
        if (seconds % config_duration_units[i].seconds == 0) {
            snprintf(buf, len, "%" PRIu64 "%c", seconds / config_duration_units[i].seconds,
                     config_duration_units[i].suffix);
            return;
        }
    }
}

/* Writes a list of durations as "5m,10m,1h", cut short if buf is too small. */
static void config__format_duration_list(const uint64_t *list, size_t count, char *buf, size_t len)
{
    char one[32];
    size_t used = 0;
    int n;

    buf[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        config__format_duration(list[i], one, sizeof one);
        n = snprintf(buf + used, len - used, "%s%s", i > 0 ? "," : "", one);
        if (n < 0 || (size_t)n >= len - used)
            return;
        used += (size_t)n;
    }
}

/* A plain decimal number: 0, -EINVAL when it is not one, -ERANGE past 64 bits. */
static int config__parse_uint(const char *text, uint64_t *out)
{
    size_t used = 0, len = strlen(text);
    int rc = config__parse_digits(text, len, &used, out);

    if (rc == -EINVAL || used != len)
        return -EINVAL;
    return rc;
}

static int config__copy_string(const struct config_key *key, struct config *cfg, const char *value,
                               char *why, size_t whylen)
{
    char *field = (char *)cfg + key->offset;
    size_t len = strlen(value);

    if (len >= key->size) {
        config__error(why, whylen, "longer than %zu bytes", key->size - 1);
        return -EINVAL;
    }
    /* Zero the tail too, so that equal settings give equal structs. */
    memset(field, 0, key->size);
    memcpy(field, value, len);
    return 0;
}

/*
 * Copies len bytes of text taken from the file into shown (CONFIG_KEY_SHOWN
 * + 4 bytes) for an error message: cut to CONFIG_KEY_SHOWN bytes with
 * "..." after, control bytes replaced by '?', so that the message stays
 * on one readable line.
 */
static void config__shown(char *shown, const char *text, size_t len)
{
    size_t n = len < CONFIG_KEY_SHOWN ? len : CONFIG_KEY_SHOWN;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        shown[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    shown[n] = '\0';
    if (len > n)
        strcat(shown, "...");
}

/* Narrows the len bytes at *s to what lies between the blanks at either end. */
static void config__trim_span(const char **s, size_t *len)
{
    while (*len > 0 && config__is_space(**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && config__is_space((*s)[*len - 1]))
        (*len)--;
}

static int config__set_enum(const struct config_key *key, struct config *cfg, const char *value,
                            char *why, size_t whylen)
{
    size_t n = 0, used;

    for (; key->choices[n]; n++) {
        if (strcmp(value, key->choices[n]) == 0)
            return config__copy_string(key, cfg, value, why, whylen);
    }
    /* "expected on or off", "expected all, ipv4 or ipv6" */
    used = (size_t)snprintf(why, whylen, "expected");
    for (size_t i = 0; i < n && used < whylen; i++) {
        const char *sep = i == 0 ? " " : i + 1 < n ? ", " : " or ";
        used += (size_t)snprintf(why + used, whylen - used, "%s%s", sep, key->choices[i]);
    }
    return -EINVAL;
}

#define CONFIG_RESOLVER_FORMS "ip, ip:port, [ipv6] or [ipv6]:port"

/*
 * Checks one dns_servers entry (len bytes at s, blanks trimmed) and writes
 * it to out as c-ares reads it: the address as inet_ntop() writes it, IPv6
 * in brackets, and always a port ("192.0.2.1:53", "[2001:db8::1]:53").
 */
static int config__parse_resolver(const char *s, size_t len, char *out, size_t outlen, char *why,
                                  size_t whylen)
{
    char shown[CONFIG_KEY_SHOWN + 4], text[INET6_ADDRSTRLEN];
    unsigned char addr[sizeof(struct in6_addr)];
    const char *host = s, *rest;
    size_t hostlen, colons = 0, used = 0;
    uint64_t port = 53;
    int family = AF_INET, rc;

    config__shown(shown, s, len);
    if (len == 0) {
        config__error(why, whylen, "empty entry in the list");
        return -EINVAL;
    }
    if (s[0] == '[') {
        rest = memchr(s, ']', len);
        if (!rest)
            goto bad;
        family = AF_INET6;
        host = s + 1;
        hostlen = (size_t)(rest - host);
        rest++;
    } else {
        for (size_t i = 0; i < len; i++)
            colons += s[i] == ':';
        if (colons > 1) {
            config__error(why, whylen,
                          "\"%s\": write an IPv6 address in brackets, as in [::1] or [::1]:53",
                          shown);
            return -EINVAL;
        }
        rest = memchr(s, ':', len);
        hostlen = rest ? (size_t)(rest - s) : len;
        if (!rest)
            rest = s + len;
    }
    /* rest runs to the end of the entry: nothing, or ":port". */
    if (hostlen >= sizeof text)
        goto bad;
    memcpy(text, host, hostlen);
    text[hostlen] = '\0';
    if (inet_pton(family, text, addr) != 1)
        goto bad;
    if (rest < s + len) {
        if (rest[0] != ':')
            goto bad;
        rest++;
        rc = config__parse_digits(rest, (size_t)(s + len - rest), &used, &port);
        if (rc == -EINVAL || rest + used != s + len)
            goto bad;
        if (rc == -ERANGE || port < 1 || port > 65535) {
            config__error(why, whylen, "\"%s\": the port must be between 1 and 65535", shown);
            return -EINVAL;
        }
    }
    if (!inet_ntop(family, addr, text, sizeof text))
        goto bad;
    if (family == AF_INET6)
        rc = snprintf(out, outlen, "[%s]:%" PRIu64, text, port);
    else
        rc = snprintf(out, outlen, "%s:%" PRIu64, text, port);
    if (rc < 0 || (size_t)rc >= outlen)
        goto bad;
    return 0;

bad:
    config__error(why, whylen, "\"%s\": expected %s", shown, CONFIG_RESOLVER_FORMS);
    return -EINVAL;
}

static int config__set_resolvers(const struct config_key *key, struct config *cfg,
                                 const char *value, char *why, size_t whylen)
{
    /* Room for CONFIG_RESOLVERS_MAX entries as long as "[IPv6]:65535,". */
    char list[CONFIG_RESOLVERS_MAX * (INET6_ADDRSTRLEN + 8)];
    const char *p = value, *comma;
    size_t used = 0, count = 0, len;

    list[0] = '\0';
    while (value[0] != '\0') {
        comma = strchr(p, ',');
        len = comma ? (size_t)(comma - p) : strlen(p);
        config__trim_span(&p, &len);
        if (++count > CONFIG_RESOLVERS_MAX) {
            config__error(why, whylen, "more than %d servers", CONFIG_RESOLVERS_MAX);
            return -EINVAL;
        }
        if (count > 1)
            list[used++] = ',';
        if (config__parse_resolver(p, len, list + used, sizeof list - used, why, whylen) != 0)
            return -EINVAL;
        used += strlen(list + used);
        if (!comma)
            break;
        p = comma + 1;
    }
    return config__copy_string(key, cfg, list, why, whylen);
}

#define CONFIG_DURATION_ERR "expected a duration like 30s, 5m, 4h or 5d"

static void config__range_error(const struct config_key *key, char *why, size_t whylen)
{
    char min[32], max[32];

    if (key->type == CONFIG_TYPE_SIZE) {
        config__format_size(key->min, min, sizeof min);
        config__format_size(key->max, max, sizeof max);
    } else if (key->type == CONFIG_TYPE_UINT) {
        snprintf(min, sizeof min, "%" PRIu64, key->min);
        snprintf(max, sizeof max, "%" PRIu64, key->max);
    } else {
        config__format_duration(key->min, min, sizeof min);
        config__format_duration(key->max, max, sizeof max);
    }
    config__error(why, whylen, "must be between %s and %s", min, max);
}

static int config__set_duration_list(const struct config_key *key, struct config *cfg,
                                     const char *value, char *why, size_t whylen)
{
    uint64_t list[CONFIG_LIST_MAX];
    size_t capacity = key->size / sizeof list[0], count = 0, len;
    const char *p = value, *comma;
    char shown[CONFIG_KEY_SHOWN + 4], range[CONFIG_WHY_MAX];
    int rc;

    if (capacity > CONFIG_LIST_MAX) /* the field outgrew CONFIG_LIST_MAX: a bug here */
        capacity = CONFIG_LIST_MAX;
    if (value[0] == '\0') {
        config__error(why, whylen, "expected a comma-separated list of durations like 5m,1h");
        return -EINVAL;
    }
    for (;;) {
        comma = strchr(p, ',');
        len = comma ? (size_t)(comma - p) : strlen(p);
        config__trim_span(&p, &len);
        config__shown(shown, p, len);
        if (len == 0) {
            config__error(why, whylen, "empty entry in the list");
            return -EINVAL;
        }
        if (count == capacity) {
            config__error(why, whylen, "more than %zu entries", capacity);
            return -EINVAL;
        }
        rc = config__parse_duration(p, len, &list[count]);
        if (rc == -EINVAL) {
            config__error(why, whylen, "\"%s\": " CONFIG_DURATION_ERR, shown);
            return -EINVAL;
        }
        if (rc == -ERANGE || list[count] < key->min || list[count] > key->max) {
            config__range_error(key, range, sizeof range);
            config__error(why, whylen, "\"%s\": %s", shown, range);
            return -EINVAL;
        }
        count++;
        if (!comma)
            break;
        p = comma + 1;
    }
    /* Zero the unused entries too, so that equal settings give equal structs. */
    memset((char *)cfg + key->offset, 0, key->size);
    memcpy((char *)cfg + key->offset, list, count * sizeof list[0]);
    memcpy((char *)cfg + key->count_offset, &count, sizeof count);
    return 0;
}

/*
 * Stores a number that parsed (rc 0) or was too large for 64 bits (rc
 * -ERANGE) if it lies in key's range.
 */
static int config__set_number(const struct config_key *key, struct config *cfg, uint64_t number,
                              int rc, char *why, size_t whylen)
{
    if (rc != 0 || number < key->min || number > key->max) {
        config__range_error(key, why, whylen);
        return -EINVAL;
    }
    memcpy((char *)cfg + key->offset, &number, sizeof number);
    return 0;
}

/* A DKIM selector: labels of letters, digits, '-' and '_', dots between. */
static bool config__is_selector(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len >= CONFIG_SELECTOR_MAX || s[0] == '.' || s[len - 1] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!config__is_alnum(s[i]) && s[i] != '-' && s[i] != '_' &&
            !(s[i] == '.' && s[i + 1] != '.'))
            return false;
    }
    return true;
}

int config_add_dkim_key(struct config *cfg, const char *value, char *why, size_t whylen)
{
    char domain[CONFIG_NAME_MAX], selector[CONFIG_SELECTOR_MAX], path[CONFIG_PATH_MAX];
    const char *p = value;
    char *words[3] = {domain, selector, path};
    size_t caps[3] = {sizeof domain, sizeof selector, sizeof path};
    struct config_dkim_key *k;

    if (value[0] == '\0') {
        memset(cfg->dkim_keys, 0, sizeof cfg->dkim_keys);
        cfg->dkim_key_count = 0;
        return 0;
    }
    for (size_t i = 0; i < 3; i++) {
        size_t n;
        while (config__is_space(*p))
            p++;
        n = 0;
        while (p[n] && !config__is_space(p[n]))
            n++;
        if (n == 0) {
            config__error(why, whylen, "expected DOMAIN SELECTOR PATH");
            return -EINVAL;
        }
        if (n >= caps[i]) {
            config__error(why, whylen, "%s longer than %zu bytes",
                          i == 0   ? "domain"
                          : i == 1 ? "selector"
                                   : "path",
                          caps[i] - 1);
            return -EINVAL;
        }
        memcpy(words[i], p, n);
        words[i][n] = '\0';
        p += n;
    }
    while (config__is_space(*p))
        p++;
    if (*p) {
        config__error(why, whylen, "expected DOMAIN SELECTOR PATH, found more after the path");
        return -EINVAL;
    }
    if (!config__is_host_name(domain)) {
        config__error(why, whylen, "domain: expected a domain name such as example.com");
        return -EINVAL;
    }
    if (!config__is_selector(selector)) {
        config__error(why, whylen,
                      "selector: expected letters, digits, '-' and '_', dot-separated, at most "
                      "%d bytes",
                      CONFIG_SELECTOR_MAX - 1);
        return -EINVAL;
    }
    if (path[0] != '/') {
        config__error(why, whylen, "path: expected an absolute path (starting with '/')");
        return -EINVAL;
    }
    for (size_t i = 0; i < cfg->dkim_key_count; i++) {
        if (strcasecmp(cfg->dkim_keys[i].domain, domain) == 0 &&
            strcmp(cfg->dkim_keys[i].selector, selector) == 0) {
            config__error(why, whylen, "selector %s of %s is already set", selector, domain);
            return -EINVAL;
        }
    }
    if (cfg->dkim_key_count == CONFIG_DKIM_KEYS_MAX) {
        config__error(why, whylen, "more than %d keys", CONFIG_DKIM_KEYS_MAX);
        return -EINVAL;
    }
    k = &cfg->dkim_keys[cfg->dkim_key_count++];
    memset(k, 0, sizeof *k);
    memcpy(k->domain, domain, strlen(domain));
    memcpy(k->selector, selector, strlen(selector));
    memcpy(k->path, path, strlen(path));
    return 0;
}

/* Appends one "DOMAIN LEVEL" line to tls_policy; empty clears the list. */
static int config__add_tls_policy(struct config *cfg, const char *value, char *why, size_t whylen)
{
    char domain[CONFIG_NAME_MAX], level[16];
    const char *p = value;
    size_t n;
    struct config_tls_policy *e;

    if (value[0] == '\0') {
        memset(cfg->tls_policy, 0, sizeof cfg->tls_policy);
        cfg->tls_policy_count = 0;
        return 0;
    }
    n = strcspn(p, " \t");
    if (n == 0 || n >= sizeof domain) {
        config__error(why, whylen, "expected DOMAIN LEVEL");
        return -EINVAL;
    }
    memcpy(domain, p, n);
    domain[n] = '\0';
    p += n;
    while (config__is_space(*p))
        p++;
    /* value comes trimmed: what is left is the level, one word */
    if (*p == '\0' || strlen(p) >= sizeof level || strcspn(p, " \t") != strlen(p)) {
        config__error(why, whylen, "expected DOMAIN LEVEL");
        return -EINVAL;
    }
    snprintf(level, sizeof level, "%s", p);
    if (!config__is_host_name(domain[0] == '.' ? domain + 1 : domain)) {
        config__error(why, whylen,
                      "domain: expected a domain name such as example.com, or .example.com for "
                      "its subdomains");
        return -EINVAL;
    }
    size_t k = 0;
    while (config_tls_levels[k] && strcmp(config_tls_levels[k], level) != 0)
        k++;
    if (!config_tls_levels[k]) {
        config__error(why, whylen, "level: expected none, may, encrypt or verify");
        return -EINVAL;
    }
    for (size_t i = 0; i < cfg->tls_policy_count; i++) {
        if (strcasecmp(cfg->tls_policy[i].domain, domain) == 0) {
            config__error(why, whylen, "%s already has a policy", domain);
            return -EINVAL;
        }
    }
    if (cfg->tls_policy_count == CONFIG_TLS_POLICY_MAX) {
        config__error(why, whylen, "more than %d policies", CONFIG_TLS_POLICY_MAX);
        return -EINVAL;
    }
    e = &cfg->tls_policy[cfg->tls_policy_count++];
    memset(e, 0, sizeof *e);
    memcpy(e->domain, domain, strlen(domain));
    memcpy(e->level, level, strlen(level));
    return 0;
}

const char *config_tls_level(const struct config *cfg, const char *domain)
{
    for (const char *d = domain; d; d = strchr(d + 1, '.')) {
        for (size_t i = 0; i < cfg->tls_policy_count; i++) {
            const char *p = cfg->tls_policy[i].domain;
            /* "example.com" is for the domain itself; ".example.com" for
             * what lies below it, found as the suffix ".example.com". */
            if (d == domain ? strcasecmp(p, d) == 0 : (p[0] == '.' && strcasecmp(p, d) == 0))
                return cfg->tls_policy[i].level;
        }
    }
    return cfg->outbound_tls;
}

/* One "ip[/prefix]" of a network list into family, 16 bytes and prefix. */
static int config__parse_network(const char *s, size_t len, int *family, unsigned char addr[16],
                                 unsigned *prefix)
{
    char buf[INET6_ADDRSTRLEN + 8], *slash;
    unsigned max;

    if (len == 0 || len >= sizeof buf)
        return -EINVAL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if ((slash = strchr(buf, '/')))
        *slash = '\0';
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, buf, addr) == 1)
        *family = AF_INET, max = 32;
    else if (inet_pton(AF_INET6, buf, addr) == 1)
        *family = AF_INET6, max = 128;
    else
        return -EINVAL;
    *prefix = max;
    if (slash) {
        uint64_t n;
        if (config__parse_uint(slash + 1, &n) != 0 || n > max)
            return -EINVAL;
        *prefix = (unsigned)n;
    }
    return 0;
}

static int config__set_networks(const struct config_key *key, struct config *cfg, const char *value,
                                char *why, size_t whylen)
{
    const char *p = value;

    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *item = p;
        unsigned char addr[16];
        unsigned prefix;
        int family;

        config__trim_span(&item, &len);
        if (config__parse_network(item, len, &family, addr, &prefix) != 0) {
            char shown[CONFIG_KEY_SHOWN + 4];
            config__shown(shown, item, len);
            config__error(why, whylen,
                          "\"%s\": expected an IPv4 or IPv6 address with an optional /prefix",
                          shown);
            return -EINVAL;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    return config__copy_string(key, cfg, value, why, whylen);
}

int config_trusted(const struct config *cfg, const struct sockaddr *sa)
{
    unsigned char want[16] = {0};
    int want_family;
    const char *p = cfg->trusted_networks;

    if (sa->sa_family == AF_INET) {
        want_family = AF_INET;
        memcpy(want, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const unsigned char *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, mapped, 12) == 0) {
            want_family = AF_INET;
            memcpy(want, a + 12, 4);
        } else {
            want_family = AF_INET6;
            memcpy(want, a, 16);
        }
    } else {
        return 0;
    }
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *item = p;
        unsigned char addr[16];
        unsigned prefix;
        int family;

        config__trim_span(&item, &len);
        if (config__parse_network(item, len, &family, addr, &prefix) == 0 &&
            family == want_family) {
            unsigned full = prefix / 8, rest = prefix % 8;
            if (memcmp(addr, want, full) == 0 &&
                (rest == 0 || ((addr[full] ^ want[full]) & (0xff << (8 - rest)) & 0xff) == 0))
                return 1;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

/* "ip:port" or "[ipv6]:port", the port required; empty turns it off. */
static int config__set_listen(const struct config_key *key, struct config *cfg, const char *value,
                              char *why, size_t whylen)
{
    char host[INET6_ADDRSTRLEN + 2], tmp[16];
    const char *port;
    size_t hlen;
    uint64_t n;

    if (value[0] == '\0')
        return config__copy_string(key, cfg, value, why, whylen);
    if (value[0] == '[') {
        const char *end = strchr(value, ']');
        if (!end || end[1] != ':')
            goto bad;
        hlen = (size_t)(end - value - 1);
        if (hlen >= sizeof host)
            goto bad;
        memcpy(host, value + 1, hlen);
        host[hlen] = '\0';
        port = end + 2;
        if (inet_pton(AF_INET6, host, tmp) != 1)
            goto bad;
    } else {
        const char *colon = strchr(value, ':');
        if (!colon || strchr(colon + 1, ':'))
            goto bad;
        hlen = (size_t)(colon - value);
        if (hlen >= sizeof host)
            goto bad;
        memcpy(host, value, hlen);
        host[hlen] = '\0';
        port = colon + 1;
        if (inet_pton(AF_INET, host, tmp) != 1)
            goto bad;
    }
    if (config__parse_uint(port, &n) != 0 || n < 1 || n > 65535)
        goto bad;
    return config__copy_string(key, cfg, value, why, whylen);
bad:
    config__error(why, whylen, "expected ip:port or [ipv6]:port, or nothing to turn it off");
    return -EINVAL;
}

/* Checks value against key's type and stores it; -EINVAL with why set if bad. */
static int config__set(const struct config_key *key, struct config *cfg, const char *value,
                       char *why, size_t whylen)
{
    uint64_t number = 0;
    int rc = 0;

    switch (key->type) {
    case CONFIG_TYPE_HOST_NAME:
        if (value[0] != '\0' && !config__is_host_name(value)) {
            config__error(why, whylen,
                          "expected a host name such as mail.example.com: labels of letters, "
                          "digits and '-' (not at either end), 1 to 63 bytes each, at most 253 "
                          "in all");
            return -EINVAL;
        }
        return config__copy_string(key, cfg, value, why, whylen);
    case CONFIG_TYPE_PATH:
        if (value[0] != '/') {
            config__error(why, whylen, "expected an absolute path (starting with '/')");
            return -EINVAL;
        }
        return config__copy_string(key, cfg, value, why, whylen);
    case CONFIG_TYPE_PATH_OR_EMPTY:
        if (value[0] != '\0' && value[0] != '/') {
            config__error(why, whylen,
                          "expected an absolute path (starting with '/'), or nothing to disable");
            return -EINVAL;
        }
        return config__copy_string(key, cfg, value, why, whylen);
    case CONFIG_TYPE_LOG:
        if (strcmp(value, "stderr") != 0 && strcmp(value, "syslog") != 0 && value[0] != '/') {
            config__error(why, whylen, "expected stderr, syslog or an absolute file path");
            return -EINVAL;
        }
        return config__copy_string(key, cfg, value, why, whylen);
    case CONFIG_TYPE_GROUP:
    case CONFIG_TYPE_USER: /* user names follow the same rule */
        if (!config__is_group_name(value)) {
            config__error(why, whylen,
                          "expected a %s name: a lower-case letter or '_', then lower-case "
                          "letters, digits, '_' or '-', at most %d in all",
                          key->type == CONFIG_TYPE_USER ? "user" : "group", CONFIG_GROUP_MAX);
            return -EINVAL;
        }
        return config__copy_string(key, cfg, value, why, whylen);
    case CONFIG_TYPE_SIZE:
        if (config_parse_size(value, &number) != 0) {
            config__error(why, whylen,
                          "expected a size: a number with an optional k, M or G suffix "
                          "(powers of 1024)");
            return -EINVAL;
        }
        return config__set_number(key, cfg, number, 0, why, whylen);
    case CONFIG_TYPE_ENUM:
        return config__set_enum(key, cfg, value, why, whylen);
    case CONFIG_TYPE_RESOLVERS:
        return config__set_resolvers(key, cfg, value, why, whylen);
    case CONFIG_TYPE_UINT:
        rc = config__parse_uint(value, &number);
        if (rc == -EINVAL) {
            config__error(why, whylen, "expected a number (decimal digits only)");
            return -EINVAL;
        }
        return config__set_number(key, cfg, number, rc, why, whylen);
    case CONFIG_TYPE_DURATION:
        rc = config__parse_duration(value, strlen(value), &number);
        if (rc == -EINVAL) {
            config__error(why, whylen, CONFIG_DURATION_ERR);
            return -EINVAL;
        }
        return config__set_number(key, cfg, number, rc, why, whylen);
    case CONFIG_TYPE_DURATION_LIST:
        return config__set_duration_list(key, cfg, value, why, whylen);
    case CONFIG_TYPE_DKIM_KEY:
        return config_add_dkim_key(cfg, value, why, whylen);
    case CONFIG_TYPE_TLS_POLICY:
        return config__add_tls_policy(cfg, value, why, whylen);
    case CONFIG_TYPE_LISTEN:
        return config__set_listen(key, cfg, value, why, whylen);
    case CONFIG_TYPE_NETWORKS:
        return config__set_networks(key, cfg, value, why, whylen);
    }
    config__error(why, whylen, "internal error: key of unknown type");
    return -EINVAL;
}

static const struct config_key *config__find(const char *name)
{
    for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
        if (strcmp(config_keys[i].name, name) == 0)
            return &config_keys[i];
    }
    return NULL;
}

/*
 * Reports "path:line: key: what" (or "path:line: what" when keylen is 0).
 * The key comes from the file, so it is shown through config__shown().
 */
static void config__line_error(char *err, size_t errlen, const char *path, size_t lineno,
                               const char *key, size_t keylen, const char *what)
{
    char shown[CONFIG_KEY_SHOWN + 4];

    if (keylen == 0) {
        config__error(err, errlen, "%s:%zu: %s", path, lineno, what);
        return;
    }
    config__shown(shown, key, keylen);
    config__error(err, errlen, "%s:%zu: %s: %s", path, lineno, shown, what);
}

/* For lines that cannot be split at '=': the first word names the line. */
static size_t config__first_word(const char **s)
{
    const char *p = *s;
    size_t len = 0;

    while (config__is_space(*p))
        p++;
    if (*p == '#')
        return 0;
    while (p[len] != '\0' && p[len] != '=' && !config__is_space(p[len]))
        len++;
    *s = p;
    return len;
}

/*
 * Reads one line of f into buf (size CONFIG_LINE_MAX + 2), without its
 * "\n" or "\r\n". *len is the line's full length, which is more than
 * CONFIG_LINE_MAX when the line was too long (buf then holds its start).
 * Returns 1, 0 at the end of the file, or a negative errno.
 */
static int config__read_line(FILE *f, char *buf, size_t *len, bool *has_nul)
{
    size_t n = 0;
    int c;

    *has_nul = false;
    while ((c = getc(f)) != EOF && c != '\n') {
        /* One byte past the limit, so that a '\r' there can still be an ending. */
        if (n <= CONFIG_LINE_MAX)
            buf[n] = (char)c;
        if (c == '\0')
            *has_nul = true;
        n++;
    }
    if (c == EOF && ferror(f))
        return errno ? -errno : -EIO;
    if (c == EOF && n == 0)
        return 0;
    if (n > 0 && n <= CONFIG_LINE_MAX + 1 && buf[n - 1] == '\r')
        n--;
    buf[n <= CONFIG_LINE_MAX ? n : CONFIG_LINE_MAX + 1] = '\0';
    *len = n;
    return 1;
}

static int config__parse_line(struct config *cfg, char *line, size_t len, bool has_nul,
                              const char *path, size_t lineno, char *err, size_t errlen)
{
    const char *word = line;
    size_t wordlen;
    const struct config_key *key;
    char *text, *eq, *name, *value;
    char why[CONFIG_WHY_MAX];

    if (len > CONFIG_LINE_MAX || has_nul) {
        if (len > CONFIG_LINE_MAX)
            snprintf(why, sizeof why, "line longer than %d bytes", CONFIG_LINE_MAX);
        else
            snprintf(why, sizeof why, "line contains a NUL byte");
        wordlen = config__first_word(&word);
        config__line_error(err, errlen, path, lineno, word, wordlen, why);
        return -EINVAL;
    }
    text = config__trim(line);
    if (text[0] == '\0' || text[0] == '#')
        return 0;
    eq = strchr(text, '=');
    if (!eq) {
        word = text;
        wordlen = config__first_word(&word);
        config__line_error(err, errlen, path, lineno, word, wordlen, "expected \"key = value\"");
        return -EINVAL;
    }
    *eq = '\0';
    name = config__trim(text);
    value = config__trim(eq + 1);
    if (name[0] == '\0') {
        config__line_error(err, errlen, path, lineno, NULL, 0, "missing key before '='");
        return -EINVAL;
    }
    key = config__find(name);
    if (!key) {
        config__line_error(err, errlen, path, lineno, name, strlen(name), "unknown key");
        return -EINVAL;
    }
    if (config__set(key, cfg, value, why, sizeof why) != 0) {
        config__line_error(err, errlen, path, lineno, name, strlen(name), why);
        return -EINVAL;
    }
    return 0;
}

void config_defaults(struct config *cfg)
{
    char why[CONFIG_WHY_MAX];

    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
        const struct config_key *key = &config_keys[i];
        if (config__set(key, cfg, key->default_text, why, sizeof why) != 0) {
            /* A broken table is a bug in this file, caught by the first test run. */
            fprintf(stderr, "config: default of %s: %s\n", key->name, why);
            abort();
        }
    }
}

/* gethostname(), made fully qualified through the resolver when it can be. */
static int config__system_host_name(char *out, size_t outlen)
{
    char name[CONFIG_NAME_MAX];
    struct addrinfo hints, *res = NULL;
    const char *best = name;
    int rc = 0;

    if (gethostname(name, sizeof name) != 0)
        return -errno;
    name[sizeof name - 1] = '\0';

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM; /* one answer per address, not three */
    hints.ai_flags = AI_CANONNAME;
    if (getaddrinfo(name, NULL, &hints, &res) == 0 && res && res->ai_canonname &&
        strchr(res->ai_canonname, '.') && config__is_host_name(res->ai_canonname))
        best = res->ai_canonname;

    if (strlen(best) >= outlen) {
        rc = -ENAMETOOLONG;
        goto done;
    }
    memset(out, 0, outlen);
    memcpy(out, best, strlen(best));

done:
    if (res)
        freeaddrinfo(res);
    return rc;
}

int config_finish(struct config *cfg, char *err, size_t errlen)
{
    const char *where = cfg->path[0] ? cfg->path : "";
    const char *sep = cfg->path[0] ? ": " : "";
    const char *dot;
    int rc;

    if (cfg->hostname[0] == '\0') {
        rc = config__system_host_name(cfg->hostname, sizeof cfg->hostname);
        if (rc < 0) {
            config__error(err, errlen, "%s%shostname: cannot get the system's host name: %s", where,
                          sep, strerror(-rc));
            memset(cfg->hostname, 0, sizeof cfg->hostname);
            return -EINVAL;
        }
        if (!config__is_host_name(cfg->hostname)) {
            config__error(err, errlen,
                          "%s%shostname: the system's host name \"%s\" is not a valid DNS host "
                          "name; set hostname in the configuration file",
                          where, sep, cfg->hostname);
            memset(cfg->hostname, 0, sizeof cfg->hostname);
            return -EINVAL;
        }
    }
    if (cfg->local_domain[0] == '\0') {
        /* Both fields have the same size and hostname is valid, so this fits. */
        dot = strchr(cfg->hostname, '.');
        memset(cfg->local_domain, 0, sizeof cfg->local_domain);
        strcpy(cfg->local_domain, dot ? dot + 1 : cfg->hostname);
    }
    return 0;
}

int config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
    struct config work;
    FILE *f = NULL;
    char line[CONFIG_LINE_MAX + 2];
    size_t len = 0, lineno = 0;
    bool has_nul;
    int rc;

    if (strlen(path) >= sizeof cfg->path) {
        config__error(err, errlen, "%s: file name too long", path);
        return -ENAMETOOLONG;
    }
    f = fopen(path, "re");
    if (!f) {
        rc = -errno;
        config__error(err, errlen, "%s: %s", path, strerror(-rc));
        goto fail;
    }
    /* Work on a copy, so that a file with an error changes nothing. */
    work = *cfg;
    for (;;) {
        rc = config__read_line(f, line, &len, &has_nul);
        if (rc < 0) {
            config__error(err, errlen, "%s: %s", path, strerror(-rc));
            goto fail;
        }
        if (rc == 0)
            break;
        lineno++;
        rc = config__parse_line(&work, line, len, has_nul, path, lineno, err, errlen);
        if (rc < 0)
            goto fail;
    }
    fclose(f);
    f = NULL;

    memset(work.path, 0, sizeof work.path);
    memcpy(work.path, path, strlen(path));
    rc = config_finish(&work, err, errlen);
    if (rc < 0)
        goto fail;
    *cfg = work;
    return 0;

fail:
    if (f)
        fclose(f);
    return rc;
}

int config_init(struct config *cfg, const char *cli_path, char *err, size_t errlen)
{
    const char *path = cli_path;
    bool named = true;
    int rc;

    if (!path) {
        path = secure_getenv("MTA_CONF");
        /* MTA_CONF= (set but empty) means unset, as for most variables. */
        if (path && path[0] == '\0')
            path = NULL;
    }
    if (!path) {
        path = MTA_DEFAULT_CONF;
        named = false;
    }
    config_defaults(cfg);
    rc = config_load(cfg, path, err, errlen);
    if (rc == -ENOENT && !named) {
        if (err && errlen)
            err[0] = '\0';
        return config_finish(cfg, err, errlen);
    }
    return rc;
}

void config_dump(const struct config *cfg, FILE *out)
{
    /* Room for a list of CONFIG_LIST_MAX 64-bit numbers with a suffix and a comma each. */
    char text[CONFIG_LIST_MAX * 24];
    uint64_t number, list[CONFIG_LIST_MAX];
    size_t count;

    for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
        const struct config_key *key = &config_keys[i];
        const char *field = (const char *)cfg + key->offset, *value = text;

        switch (key->type) {
        case CONFIG_TYPE_SIZE:
            memcpy(&number, field, sizeof number);
            config__format_size(number, text, sizeof text);
            break;
        case CONFIG_TYPE_UINT:
            memcpy(&number, field, sizeof number);
            snprintf(text, sizeof text, "%" PRIu64, number);
            break;
        case CONFIG_TYPE_DURATION:
            memcpy(&number, field, sizeof number);
            config__format_duration(number, text, sizeof text);
            break;
        case CONFIG_TYPE_DURATION_LIST:
            memcpy(&count, (const char *)cfg + key->count_offset, sizeof count);
            if (count > CONFIG_LIST_MAX || count * sizeof list[0] > key->size)
                count = 0; /* not from config_load(): write an invalid value, not garbage */
            memcpy(list, field, count * sizeof list[0]);
            config__format_duration_list(list, count, text, sizeof text);
            break;
        case CONFIG_TYPE_DKIM_KEY:
            /* One line per key, as they were given; none: the empty default. */
            if (cfg->dkim_key_count == 0)
                text[0] = '\0';
            for (size_t k = 0; k < cfg->dkim_key_count && k < CONFIG_DKIM_KEYS_MAX; k++)
                fprintf(out, "%s = %s %s %s\n", key->name, cfg->dkim_keys[k].domain,
                        cfg->dkim_keys[k].selector, cfg->dkim_keys[k].path);
            if (cfg->dkim_key_count)
                continue;
            break;
        case CONFIG_TYPE_TLS_POLICY:
            if (cfg->tls_policy_count == 0)
                text[0] = '\0';
            for (size_t k = 0; k < cfg->tls_policy_count && k < CONFIG_TLS_POLICY_MAX; k++)
                fprintf(out, "%s = %s %s\n", key->name, cfg->tls_policy[k].domain,
                        cfg->tls_policy[k].level);
            if (cfg->tls_policy_count)
                continue;
            break;
        case CONFIG_TYPE_HOST_NAME:
        case CONFIG_TYPE_PATH:
        case CONFIG_TYPE_PATH_OR_EMPTY:
        case CONFIG_TYPE_LOG:
        case CONFIG_TYPE_GROUP:
        case CONFIG_TYPE_ENUM:
        case CONFIG_TYPE_RESOLVERS:
        case CONFIG_TYPE_LISTEN:
        case CONFIG_TYPE_NETWORKS:
        case CONFIG_TYPE_USER:
            value = field;
            break;
        }
        /* No trailing blank after '=' for an empty value. */
        fprintf(out, "%s =%s%s\n", key->name, value[0] ? " " : "", value);
    }
}

const char *config_key_name(size_t i, const char **default_text)
{
    if (i >= CONFIG_KEY_COUNT) {
        if (default_text)
            *default_text = NULL;
        return NULL;
    }
    if (default_text)
        *default_text = config_keys[i].default_text;
    return config_keys[i].name;
}
