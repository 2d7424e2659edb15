/*
 * sts.h - MTA-STS (RFC 8461): the _mta-sts TXT record, the policy file,
 * matching MX host names against a policy, the policy's cache format, and
 * fetching the policy over HTTPS.
 *
 * This part knows nothing of libuv, the queue or the configuration. The
 * parsers allocate nothing; sts_fetch blocks (it is meant to run on a
 * worker thread) and allocates only what it returns and frees.
 *
 * Thread safety: no global state. sts_fetch only reads the trust anchors,
 * so one struct tls_trust may serve many fetches on many threads at once.
 */
#ifndef MTA_STS_H
#define MTA_STS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define STS_ID_MAX 33            /* a policy id: 1-32 alphanumerics, with its NUL */
#define STS_MX_MAX 32            /* mx patterns kept from one policy */
#define STS_MX_LEN 256           /* one pattern: "*." and a domain of <= 253, with its NUL */
#define STS_POLICY_MAX 65536     /* largest policy body (RFC 8461 3.3 suggests 64 KiB) */
#define STS_MAX_AGE_MAX 31557600 /* largest max_age (RFC 8461 3.2: about a year) */
#define STS_HTTP_HEAD_MAX 16384  /* largest HTTP response header that sts_fetch reads */
#define STS_HTTP_LINE_MAX 256    /* largest chunk-size or trailer line */
#define STS_DOMAIN_MAX 246       /* a policy domain, with its NUL: "mta-sts." + 245 <= 253 */

/* The longest sts_policy_encode output, with its NUL: the first line and
 * every pattern on its own line. */
#define STS_ENCODED_MAX (128 + STS_MX_MAX * STS_MX_LEN)

/* ---- the TXT record (RFC 8461 3.1) ---- */

/*
 * Parses one _mta-sts TXT record (its character-strings already joined)
 * and copies its id into id. The record is
 *     "v=STSv1" 1*(*WSP ";" *WSP field) [*WSP ";" *WSP]
 * where v=STSv1 comes first, a field is id=1*32(ALPHA/DIGIT) or an
 * extension name=value (RFC 8461 3.1 syntax; ignored), and names are case
 * sensitive. id is required; when it appears twice the first counts.
 * Whitespace at the very end is tolerated. Returns 0, or -EINVAL when the
 * record is not a valid MTA-STS record (id is then "").
 */
int sts_txt_parse(const char *txt, size_t len, char id[STS_ID_MAX]);

/*
 * 1 if the record starts with "v=STSv1" followed by ';', a space, a tab or
 * its end: the test RFC 8461 3.1 applies to every TXT record at _mta-sts
 * before counting them. Other records (SPF and the like) are discarded.
 */
int sts_txt_is_sts(const char *txt, size_t len);

/*
 * Applies RFC 8461 3.1 to all n TXT records found at _mta-sts.DOMAIN:
 * records that do not start with v=STSv1 are discarded, and the domain
 * has a policy only when exactly one record is left and it is valid.
 * Returns 0 with that record's id, -ENOENT when no record is an MTA-STS
 * record, -EINVAL when several are or the only one is invalid. Either
 * error means: the domain has no MTA-STS policy (a cached one still
 * applies, 5.1).
 */
int sts_txt_select(const char *const *txt, const size_t *len, size_t n, char id[STS_ID_MAX]);

/* ---- the policy (RFC 8461 3.2) ---- */

enum sts_mode { STS_MODE_NONE = 0, STS_MODE_TESTING = 1, STS_MODE_ENFORCE = 2 };

struct sts_policy {
    enum sts_mode mode;
    uint64_t max_age;                /* seconds, 0..STS_MAX_AGE_MAX */
    size_t nmx;                      /* patterns in mx */
    char mx[STS_MX_MAX][STS_MX_LEN]; /* lower case: "mail.example.com" or "*.example.net" */
    char id[STS_ID_MAX];             /* the TXT record's id it was fetched for, or "" */
    int64_t fetched;                 /* unix time of the fetch, 0 if unknown */
};

/*
 * Parses a policy body as served at /.well-known/mta-sts.txt. Strict:
 *   - at most STS_POLICY_MAX bytes (-EMSGSIZE);
 *   - lines "key:" *WSP value *WSP ending in CRLF or LF (the last line
 *     may lack it); keys are 1-32 of ALPHA/DIGIT/"_"/"-"/"." starting
 *     with ALPHA/DIGIT, case sensitive, with nothing between key and ':';
 *     values hold no control characters; lines that are empty or only
 *     whitespace are skipped (policies in the wild end with blank lines;
 *     they carry no field, so skipping them cannot change a meaning);
 *   - the first field is "version: STSv1";
 *   - "mode:" testing, enforce or none, required;
 *   - "max_age:" 1-10 digits, at most STS_MAX_AGE_MAX, required;
 *   - "mx:" a domain name (RFC 5321 Domain: LDH labels of 1-63, at most
 *     253 octets, no final dot) or "*." and one; at least one unless the
 *     mode is none; more than STS_MX_MAX is -EMSGSIZE;
 *   - other keys are ignored; a repeated key other than mx keeps its
 *     first value (both as RFC 8461 3.2 says).
 * On success fills *out (patterns lower-cased; id "" and fetched 0: the
 * caller sets them) and returns 0. Otherwise returns -EINVAL or -EMSGSIZE,
 * *out is all zero, and err (if not NULL) says which line and what
 * ("line 3: bad mode \"strict\"").
 */
int sts_policy_parse(const char *body, size_t len, struct sts_policy *out, char *err,
                     size_t errlen);

/*
 * 1 if the MX host name mx_host matches one of p's patterns, else 0.
 * ASCII case-insensitive; one final dot on mx_host is ignored. A pattern
 * "*.example.com" matches a host of exactly one more label on the left
 * ("mx1.example.com"), not "example.com" nor "a.b.example.com" (4.1).
 */
int sts_mx_match(const struct sts_policy *p, const char *mx_host);

/* "none", "testing" or "enforce". */
const char *sts_mode_name(enum sts_mode mode);

/* ---- the cache format ---- */

/*
 * Writes p in the cache format into buf (capacity cap) and returns the
 * number of bytes written, not counting a NUL that is also written. The
 * format, stored in the queue's notes (QUEUE_NOTE_MAX octets, more than
 * STS_ENCODED_MAX), is text:
 *     "sts1 MODE MAX_AGE FETCHED ID\n" then one "PATTERN\n" per mx
 * with MODE none/testing/enforce, MAX_AGE and FETCHED decimal without
 * leading zeros (FETCHED >= 0), ID the policy id or "-" when it is empty,
 * fields separated by one space. Returns -ENOSPC when cap is too small
 * (STS_ENCODED_MAX always suffices) and -EINVAL when p is not a policy
 * sts_policy_parse could have produced (with id and fetched set).
 */
int sts_policy_encode(const struct sts_policy *p, char *buf, size_t cap);

/*
 * Reads what sts_policy_encode wrote (len bytes, at most STS_ENCODED_MAX;
 * no NUL needed) into *out. The format is checked exactly as written:
 * anything else (another version, extra spaces, leading zeros, a bad
 * pattern, a missing final newline) is refused, so that encoding what was
 * decoded gives the same bytes. Returns 0 or -EINVAL.
 */
int sts_policy_decode(const char *buf, size_t len, struct sts_policy *out);

/*
 * 1 if p is past its max_age at unix time now (now >= fetched + max_age),
 * else 0. A max_age of 0 is expired at once; a clock that went back to
 * before fetched is not expired.
 */
int sts_policy_expired(const struct sts_policy *p, int64_t now);

/* ---- fetching (RFC 8461 3.3) ---- */

struct tls_trust; /* smtp/tls.h */

/*
 * Fetches https://mta-sts.DOMAIN/.well-known/mta-sts.txt from the server
 * at addr (AF_INET or AF_INET6, with its port: 443 in production; the
 * caller resolved mta-sts.DOMAIN). BLOCKING: run it on a worker thread.
 * timeout_ms bounds the whole fetch: connect, TLS handshake and response.
 *
 * TLS 1.2 (BearSSL) with SNI mta-sts.DOMAIN; the certificate must chain to
 * one of trust's anchors, be valid now and name mta-sts.DOMAIN (a
 * wildcard in the leftmost label counts). The request is one HTTP/1.1
 * GET with "Connection: close". The response must be status 200 (a 3xx
 * is not followed), with a header of at most STS_HTTP_HEAD_MAX bytes,
 * Content-Type text/plain (parameters allowed), no content coding, and a
 * body of at most STS_POLICY_MAX bytes framed by Content-Length, chunked
 * transfer coding, or the end of the connection; the last only counts
 * when the server ended TLS with close_notify (else the body could have
 * been cut by anyone on the path).
 *
 * domain is the policy domain ("example.com", a final dot ignored): LDH
 * labels, at most STS_DOMAIN_MAX - 1 octets.
 *
 * On success returns 0, *body is the malloc'ed body (NUL-terminated; the
 * caller frees it) and *len its length without the NUL; the body is not
 * parsed (sts_policy_parse). On failure *body is NULL, err says what
 * happened and the return is:
 *   -EINVAL        bad domain, no trust anchors
 *   -EAFNOSUPPORT  addr is neither IPv4 nor IPv6
 *   -ETIMEDOUT     the deadline passed
 *   -ECONNREFUSED and other socket errors, as the system said
 *   -EPROTO        TLS failure (err names BearSSL's error), HTTP status
 *                  other than 200 ("redirect not followed" for 3xx), bad
 *                  Content-Type, malformed or truncated response
 *   -EMSGSIZE      header or body over its bound
 *   -ENOMEM
 */
int sts_fetch(const struct sockaddr *addr, const char *domain, const struct tls_trust *trust,
              unsigned timeout_ms, char **body, size_t *len, char *err, size_t errlen);

/* ---- the HTTP response reader sts_fetch uses (public for tests and fuzzing) ---- */

struct sts_http {
    /* private */
    int state;
    int status;
    uint64_t remaining; /* bytes left of the Content-Length body or of a chunk */
    char head[STS_HTTP_HEAD_MAX];
    size_t head_len;
    char line[STS_HTTP_LINE_MAX];
    size_t line_len;
    size_t trailer_len;
    char *body; /* STS_POLICY_MAX + 1 bytes once the header is read */
    size_t body_len;
};

/* Prepares h to read one response. */
void sts_http_init(struct sts_http *h);

/*
 * Feeds len bytes received from the server. Returns 0 when more are
 * needed, 1 when the response is complete (bytes after it are ignored),
 * or a negative errno with err set: -EPROTO for a status other than 200,
 * a Content-Type other than text/plain, a content or transfer coding
 * other than chunked, a malformed status line, header or chunk; -EMSGSIZE
 * for a header or body over its bound; -ENOMEM. After an error, every
 * call returns -EPROTO.
 */
int sts_http_feed(struct sts_http *h, const char *data, size_t len, char *err, size_t errlen);

/*
 * The connection ended; clean is 1 when TLS ended with close_notify.
 * Returns 1 when the response is complete (a body framed by the end of
 * the connection needs clean), else -EPROTO with err set.
 */
int sts_http_end(struct sts_http *h, int clean, char *err, size_t errlen);

/*
 * Hands the body of a complete response to the caller: *body is
 * malloc'ed and NUL-terminated (the caller frees it), *len excludes the
 * NUL. Returns 0, or -EINVAL when the response is not complete.
 */
int sts_http_take_body(struct sts_http *h, char **body, size_t *len);

/* Frees what h holds; h may then be initialised again. */
void sts_http_free(struct sts_http *h);

#endif
