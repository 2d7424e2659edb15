/*
 * dkim_tool.c - drives the DKIM library from the command line, for the
 * DKIM integration test and the benchmark:
 *
 *   dkim_tool sign [-c HEADER/BODY] [-t UNIXTIME] -k DOMAIN:SELECTOR:KEYFILE [-k ...]
 *       reads a message on stdin (at most 64 MiB), turns lone LF line ends
 *       into CRLF, signs it once per -k (every signature over the same
 *       original message), and writes the DKIM-Signature fields, in -k
 *       order, then the CRLF message to stdout.
 *   dkim_tool record KEYFILE
 *       prints the DNS TXT record value that publishes KEYFILE's key.
 *   dkim_tool genkey rsa BITS OUTFILE | dkim_tool genkey ed25519 OUTFILE
 *       writes a new PEM private key to OUTFILE (created, mode 0600).
 *
 * Errors go to stderr and exit 1.
 *
 * SECURITY: a test tool run by whoever may read the key files it names;
 * it is not installed. The message on stdin is untrusted and bounded; key
 * files are read by dkim_key_load, which bounds and checks them. A new key
 * file is created with O_EXCL and mode 0600 before a byte of it is
 * written, so the key is never readable by others nor written through a
 * planted symlink.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dkim.h"

#define TOOL_MESSAGE_MAX (64u << 20)
#define TOOL_KEYS_MAX 16

__attribute__((format(printf, 1, 2))) static int tool_error(const char *fmt, ...)
{
    va_list ap;
    fputs("dkim_tool: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

static int usage(void)
{
    fputs("usage: dkim_tool sign [-c HEADER/BODY] [-t UNIXTIME] -k DOMAIN:SELECTOR:KEYFILE "
          "[-k ...] <message\n"
          "       dkim_tool record KEYFILE\n"
          "       dkim_tool genkey rsa BITS OUTFILE\n"
          "       dkim_tool genkey ed25519 OUTFILE\n",
          stderr);
    return 1;
}

/* Parses "simple" or "relaxed" from s up to len. Returns 0 or -EINVAL. */
static int parse_canon_word(const char *s, size_t len, enum dkim_canon *out)
{
    if (len == 6 && strncmp(s, "simple", 6) == 0)
        *out = DKIM_CANON_SIMPLE;
    else if (len == 7 && strncmp(s, "relaxed", 7) == 0)
        *out = DKIM_CANON_RELAXED;
    else
        return -EINVAL;
    return 0;
}

/* Parses -c HEADER/BODY. Returns 0 or -EINVAL. */
static int parse_canon(const char *s, enum dkim_canon *header, enum dkim_canon *body)
{
    const char *slash = strchr(s, '/');
    if (!slash || parse_canon_word(s, (size_t)(slash - s), header) != 0 ||
        parse_canon_word(slash + 1, strlen(slash + 1), body) != 0)
        return -EINVAL;
    return 0;
}

/* One -k DOMAIN:SELECTOR:KEYFILE, loaded. */
struct tool_signer {
    char domain[DKIM_DOMAIN_MAX];
    char selector[DKIM_SELECTOR_MAX];
    struct dkim_key *key;
};

/* Splits DOMAIN:SELECTOR:KEYFILE (the key file may itself hold colons)
 * and loads the key. Returns 0 or 1 after printing why. */
static int signer_load(struct tool_signer *s, const char *arg)
{
    const char *c1 = strchr(arg, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    size_t dlen, slen;
    char err[512];

    if (!c2 || c2[1] == '\0')
        return tool_error("-k %s: expected DOMAIN:SELECTOR:KEYFILE", arg);
    dlen = (size_t)(c1 - arg);
    slen = (size_t)(c2 - c1 - 1);
    if (dlen == 0 || dlen >= sizeof(s->domain))
        return tool_error("-k %s: the domain must have 1 to %d characters", arg,
                          DKIM_DOMAIN_MAX - 1);
    if (slen == 0 || slen >= sizeof(s->selector))
        return tool_error("-k %s: the selector must have 1 to %d characters", arg,
                          DKIM_SELECTOR_MAX - 1);
    memcpy(s->domain, arg, dlen);
    s->domain[dlen] = '\0';
    memcpy(s->selector, c1 + 1, slen);
    s->selector[slen] = '\0';
    if (dkim_key_load(c2 + 1, &s->key, err, sizeof(err)) != 0)
        return tool_error("%s", err);
    return 0;
}

/* Reads all of stdin, at most TOOL_MESSAGE_MAX octets, into *out
 * (malloc'ed). Returns 0 or 1 after printing why. */
static int read_stdin(char **out, size_t *outlen)
{
    size_t len = 0, cap = 0;
    char *buf = NULL;

    for (;;) {
        ssize_t n;
        if (len == cap) {
            /* One octet past the limit tells a message of exactly the
             * limit from a longer one. */
            size_t ncap = cap ? cap * 2 : 65536;
            char *nbuf;
            if (cap == TOOL_MESSAGE_MAX + 1) {
                free(buf);
                return tool_error("message larger than %u octets", TOOL_MESSAGE_MAX);
            }
            if (ncap > TOOL_MESSAGE_MAX + 1)
                ncap = TOOL_MESSAGE_MAX + 1;
            nbuf = realloc(buf, ncap);
            if (!nbuf) {
                free(buf);
                return tool_error("out of memory");
            }
            buf = nbuf;
            cap = ncap;
        }
        n = read(STDIN_FILENO, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            return tool_error("reading stdin: %s", strerror(e));
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

/* Copies in to a new buffer with every LF not preceded by CR made CRLF.
 * Returns 0 or 1 after printing why. */
static int to_crlf(const char *in, size_t len, char **out, size_t *outlen)
{
    size_t lone = 0, o = 0;
    char *buf;

    for (size_t i = 0; i < len; i++)
        if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
            lone++;
    buf = malloc(len + lone + 1);
    if (!buf)
        return tool_error("out of memory");
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
            buf[o++] = '\r';
        buf[o++] = in[i];
    }
    buf[o] = '\0';
    *out = buf;
    *outlen = o;
    return 0;
}

static int cmd_sign(int argc, char **argv)
{
    struct tool_signer signers[TOOL_KEYS_MAX];
    enum dkim_canon header_canon = DKIM_CANON_RELAXED, body_canon = DKIM_CANON_RELAXED;
    time_t timestamp = time(NULL);
    char *raw = NULL, *msg = NULL, *sigs[TOOL_KEYS_MAX] = {NULL};
    size_t nsigners = 0, rawlen = 0, len = 0;
    int opt, status = 1;

    memset(signers, 0, sizeof(signers));
    optind = 1;
    while ((opt = getopt(argc, argv, "c:t:k:")) != -1) {
        switch (opt) {
        case 'c':
            if (parse_canon(optarg, &header_canon, &body_canon) != 0) {
                tool_error("-c %s: expected simple|relaxed/simple|relaxed", optarg);
                goto done;
            }
            break;
        case 't': {
            char *end;
            long long t;
            errno = 0;
            t = strtoll(optarg, &end, 10);
            if (errno || end == optarg || *end || t < 0) {
                tool_error("-t %s: expected seconds since 1970", optarg);
                goto done;
            }
            timestamp = (time_t)t;
            break;
        }
        case 'k':
            if (nsigners == TOOL_KEYS_MAX) {
                tool_error("at most %d -k options", TOOL_KEYS_MAX);
                goto done;
            }
            if (signer_load(&signers[nsigners], optarg) != 0)
                goto done;
            nsigners++;
            break;
        default:
            usage();
            goto done;
        }
    }
    if (optind != argc || nsigners == 0) {
        usage();
        goto done;
    }

    if (read_stdin(&raw, &rawlen) != 0 || to_crlf(raw, rawlen, &msg, &len) != 0)
        goto done;
    for (size_t i = 0; i < nsigners; i++) {
        struct dkim_sign_request rq = {
            .domain = signers[i].domain,
            .selector = signers[i].selector,
            .key = signers[i].key,
            .header_canon = header_canon,
            .body_canon = body_canon,
            .timestamp = timestamp,
        };
        char err[256] = "";
        int rc = dkim_sign(&rq, msg, len, &sigs[i], err, sizeof(err));
        if (rc != 0) {
            tool_error("signing for %s (%s): %s", signers[i].domain, signers[i].selector,
                       err[0] ? err : strerror(-rc));
            goto done;
        }
    }
    /* A failed write sets the stream's error flag, checked once at the end. */
    for (size_t i = 0; i < nsigners; i++)
        fwrite(sigs[i], 1, strlen(sigs[i]), stdout);
    fwrite(msg, 1, len, stdout);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        tool_error("writing stdout: %s", strerror(errno));
        goto done;
    }
    status = 0;
done:
    for (size_t i = 0; i < TOOL_KEYS_MAX; i++) {
        dkim_key_free(signers[i].key);
        free(sigs[i]);
    }
    free(raw);
    free(msg);
    return status;
}

static int cmd_record(int argc, char **argv)
{
    struct dkim_key *key = NULL;
    char err[512], *record = NULL;
    int rc;

    if (argc != 2)
        return usage();
    if (dkim_key_load(argv[1], &key, err, sizeof(err)) != 0)
        return tool_error("%s", err);
    rc = dkim_key_record(key, &record);
    dkim_key_free(key);
    if (rc != 0)
        return tool_error("%s: %s", argv[1], strerror(-rc));
    printf("%s\n", record);
    free(record);
    return fflush(stdout) == 0 ? 0 : tool_error("writing stdout: %s", strerror(errno));
}

/* Creates path (O_EXCL, mode 0600) holding len octets of data. Returns 0
 * or 1 after printing why; a half-written file is removed. */
static int write_new_file(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600), e = 0;
    size_t off = 0;

    if (fd < 0)
        return tool_error("%s: %s", path, strerror(errno));
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            e = n < 0 ? errno : EIO;
            break;
        }
        off += (size_t)n;
    }
    if (!e && fsync(fd) != 0)
        e = errno;
    if (close(fd) != 0 && !e)
        e = errno;
    if (e) {
        unlink(path);
        return tool_error("%s: %s", path, strerror(e));
    }
    return 0;
}

static int cmd_genkey(int argc, char **argv)
{
    enum dkim_alg alg;
    unsigned long bits = 0;
    const char *path;
    struct dkim_key *key = NULL;
    char *pem = NULL;
    size_t pemlen = 0;
    int rc, status;

    if (argc == 4 && strcmp(argv[1], "rsa") == 0) {
        char *end;
        errno = 0;
        bits = strtoul(argv[2], &end, 10);
        if (errno || end == argv[2] || *end || bits < DKIM_RSA_MIN_BITS || bits > DKIM_RSA_MAX_BITS)
            return tool_error("%s: RSA keys have %d to %d bits", argv[2], DKIM_RSA_MIN_BITS,
                              DKIM_RSA_MAX_BITS);
        alg = DKIM_ALG_RSA_SHA256;
        path = argv[3];
    } else if (argc == 3 && strcmp(argv[1], "ed25519") == 0) {
        alg = DKIM_ALG_ED25519_SHA256;
        path = argv[2];
    } else {
        return usage();
    }
    rc = dkim_key_generate(alg, (unsigned)bits, &key);
    if (rc != 0)
        return tool_error("generating the key: %s", strerror(-rc));
    rc = dkim_key_pem(key, &pem, &pemlen);
    dkim_key_free(key);
    if (rc != 0)
        return tool_error("encoding the key: %s", strerror(-rc));
    status = write_new_file(path, pem, pemlen);
    sodium_memzero(pem, pemlen);
    free(pem);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "sign") == 0)
        return cmd_sign(argc - 1, argv + 1);
    if (strcmp(argv[1], "record") == 0)
        return cmd_record(argc - 1, argv + 1);
    if (strcmp(argv[1], "genkey") == 0)
        return cmd_genkey(argc - 1, argv + 1);
    return usage();
}
