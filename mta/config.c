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

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
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
};

struct config_key {
    const char *name;
    enum config_type type;
    size_t offset; /* of the field in struct config */
    size_t size;   /* of the field: bounds every copy into it */
    const char *default_text;
    uint64_t min, max; /* CONFIG_TYPE_SIZE only */
    const char *help;
};

/*
 * The _Generic selections make a row whose field has the wrong C type fail
 * to compile, instead of writing a size into a string or the other way.
 */
#define STRING_FIELD(f)                                                                            \
    _Generic(((struct config *)0)->f, char *: offsetof(struct config, f)),                         \
        sizeof(((struct config *)0)->f)
#define SIZE_FIELD(f)                                                                              \
    _Generic(((struct config *)0)->f, uint64_t : offsetof(struct config, f)), sizeof(uint64_t)

static const struct config_key config_keys[] = {
    {"hostname", CONFIG_TYPE_HOST_NAME, STRING_FIELD(hostname), "", 0, 0,
     "fully qualified name of this host (EHLO, Received, Message-ID); empty: the system's name"},
    {"local_domain", CONFIG_TYPE_HOST_NAME, STRING_FIELD(local_domain), "", 0, 0,
     "domain that completes bare local names; empty: hostname after its first dot"},
    {"queue_dir", CONFIG_TYPE_PATH, STRING_FIELD(queue_dir), "/var/spool/mta", 0, 0,
     "directory of the queue database, the maildrop and the daemon socket"},
    {"max_message_size", CONFIG_TYPE_SIZE, SIZE_FIELD(max_message_size), "35M", KIB, 2 * GIB,
     "largest message accepted, headers and body"},
    {"aliases", CONFIG_TYPE_PATH_OR_EMPTY, STRING_FIELD(aliases), "/etc/aliases", 0, 0,
     "aliases(5) file for bare local names; empty: no aliases"},
    {"log", CONFIG_TYPE_LOG, STRING_FIELD(log), "stderr", 0, 0,
     "where to log: stderr, syslog or an absolute file path"},
    {"setgid_group", CONFIG_TYPE_GROUP, STRING_FIELD(setgid_group), "mtadrop", 0, 0,
     "group of the maildrop directory, held only by mta-postdrop"},
    {"queue_map_size", CONFIG_TYPE_SIZE, SIZE_FIELD(queue_map_size), "4G", MIB, TIB,
     "most the queue database may hold on disk; past it, submissions are deferred"},
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

int config_parse_size(const char *text, uint64_t *out)
{
    uint64_t n = 0, unit = 1;
    const char *p = text;

    if (!(*p >= '0' && *p <= '9'))
        return -EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (n > (UINT64_MAX - digit) / 10)
            return -EINVAL;
        n = n * 10 + digit;
    }
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

/* Checks value against key's type and stores it; -EINVAL with why set if bad. */
static int config__set(const struct config_key *key, struct config *cfg, const char *value,
                       char *why, size_t whylen)
{
    uint64_t size;
    char min[32], max[32];

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
        if (!config__is_group_name(value)) {
            config__error(why, whylen,
                          "expected a group name: a lower-case letter or '_', then lower-case "
                          "letters, digits, '_' or '-', at most %d in all",
                          CONFIG_GROUP_MAX);
            return -EINVAL;
        }
        return config__copy_string(key, cfg, value, why, whylen);
    case CONFIG_TYPE_SIZE:
        if (config_parse_size(value, &size) != 0) {
            config__error(why, whylen,
                          "expected a size: a number with an optional k, M or G suffix "
                          "(powers of 1024)");
            return -EINVAL;
        }
        if (size < key->min || size > key->max) {
            config__format_size(key->min, min, sizeof min);
            config__format_size(key->max, max, sizeof max);
            config__error(why, whylen, "must be between %s and %s", min, max);
            return -EINVAL;
        }
        memcpy((char *)cfg + key->offset, &size, sizeof size);
        return 0;
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
 * The key comes from the file, so it is cut short and its control bytes
 * replaced, to keep the message on one readable line.
 */
static void config__line_error(char *err, size_t errlen, const char *path, size_t lineno,
                               const char *key, size_t keylen, const char *what)
{
    char shown[CONFIG_KEY_SHOWN + 4];
    size_t n = keylen < CONFIG_KEY_SHOWN ? keylen : CONFIG_KEY_SHOWN;

    if (keylen == 0) {
        config__error(err, errlen, "%s:%zu: %s", path, lineno, what);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)key[i];
        shown[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    shown[n] = '\0';
    if (keylen > n)
        strcat(shown, "...");
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
    char size[32];
    uint64_t bytes;

    for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
        const struct config_key *key = &config_keys[i];
        const char *value = (const char *)cfg + key->offset;

        if (key->type == CONFIG_TYPE_SIZE) {
            memcpy(&bytes, value, sizeof bytes);
            config__format_size(bytes, size, sizeof size);
            value = size;
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
