/*
 * address.c - mailbox syntax: RFC 5321 validation of one address and
 * RFC 5322 parsing of address-list header field values.
 *
 * SECURITY: trusts no input. Addresses and header values may come from a
 * remote client or a local user. Every copy is checked against ADDRESS_MAX
 * before it is made, comments nest without recursion, and nothing is
 * allocated: the list parser's state lives on the caller's stack.
 */
#include "address.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* RFC 5321 4.5.3.1.3: a path is 256 octets at most, "<" and ">" included. */
#define ADDRESS__PATH_MAX (ADDRESS_MAX - 2)
#define ADDRESS__LABEL_MAX 63 /* RFC 1035 2.3.4 */

static bool address__is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

static bool address__is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 5322 atext, widened by RFC 6532 to every non-ASCII octet. */
static bool address__is_atext(unsigned char c)
{
    return c >= 0x80 || address__is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* What may follow a backslash in RFC 5322 (VCHAR / WSP, and UTF-8). */
static bool address__is_quotable(unsigned char c)
{
    return c == ' ' || c == '\t' || (c > 0x20 && c != 0x7f);
}

static bool address__ascii_prefix(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++) {
        unsigned char a = (unsigned char)*s, b = (unsigned char)*prefix;
        if (a >= 'A' && a <= 'Z')
            a += 'a' - 'A';
        if (b >= 'A' && b <= 'Z')
            b += 'a' - 'A';
        if (a != b)
            return false;
    }
    return true;
}

/*
 * RFC 6531 allows UTF-8 and nothing else above 0x7f; overlong forms and
 * surrogates are refused so that two spellings of one name cannot exist.
 */
static bool address__utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned char c = s[i], lo = 0x80, hi = 0xbf;
        size_t more;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            more = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            more = 2;
            if (c == 0xe0)
                lo = 0xa0;
            if (c == 0xed)
                hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3;
            if (c == 0xf0)
                lo = 0x90;
            if (c == 0xf4)
                hi = 0x8f;
        } else {
            return false;
        }
        if (n - i - 1 < more || s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= more; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xbf)
                return false;
        i += more + 1;
    }
    return true;
}

/*
 * Measures the local part at the start of s: a dot-atom or an RFC 5321
 * quoted string. Returns its length, or 0 with *why set. s holds no control
 * character (checked by the caller).
 */
static size_t address__local_len(const char *s, const char **why)
{
    const unsigned char *p = (const unsigned char *)s;
    bool after_atext = false;
    size_t i;

    if (p[0] == '"') {
        for (i = 1; p[i] != '"'; i++) {
            if (p[i] == '\0') {
                *why = "unbalanced quote";
                return 0;
            }
            if (p[i] == '\\') {
                i++;
                /* RFC 5321 quoted-pairSMTP: only printable ASCII after '\'. */
                if (p[i] < 0x20 || p[i] > 0x7e) {
                    *why = "invalid quoted-pair";
                    return 0;
                }
            }
        }
        return i + 1;
    }
    for (i = 0; p[i] != '\0'; i++) {
        if (p[i] == '.') {
            if (!after_atext) {
                *why = "misplaced dot in local part";
                return 0;
            }
            after_atext = false;
        } else if (address__is_atext(p[i])) {
            after_atext = true;
        } else {
            break;
        }
    }
    if (i == 0) {
        if (p[0] == '\0' || p[0] == '@')
            *why = "empty local part";
        else if (p[0] == ' ')
            *why = "unquoted space";
        else
            *why = "invalid character in local part";
        return 0;
    }
    if (!after_atext) {
        *why = "misplaced dot in local part";
        return 0;
    }
    return i;
}

/* "[192.0.2.1]" or "[IPv6:2001:db8::1]"; d is n octets with d[0] == '['. */
static const char *address__literal_check(const char *d, size_t n)
{
    char text[ADDRESS_DOMAIN_MAX + 1];
    unsigned char binary[16];
    const char *close = strchr(d, ']');
    const char *body = d + 1;
    size_t len = n - 2;
    int family = AF_INET;

    if (!close)
        return "unbalanced bracket";
    if ((size_t)(close - d) != n - 1)
        return "invalid address literal";
    if (address__ascii_prefix(body, "IPv6:")) {
        family = AF_INET6;
        body += 5;
        len -= 5;
    }
    /*
     * General address literals ("[tag:content]") are refused: no tag other
     * than IPv6 is registered, and we could not route to one anyway.
     */
    memcpy(text, body, len);
    text[len] = '\0';
    if (inet_pton(family, text, binary) != 1)
        return "invalid address literal";
    return NULL;
}

static const char *address__domain_check(const char *d)
{
    size_t n = strlen(d), label = 0;
    bool ascii = true;

    if (n == 0)
        return "empty domain";
    if (n > ADDRESS_DOMAIN_MAX)
        return "domain too long";
    if (d[0] == '[')
        return address__literal_check(d, n);
    for (size_t i = 0;; i++) {
        unsigned char c = (unsigned char)d[i];

        if (c == '.' || c == '\0') {
            if (label == 0)
                return "empty domain label";
            /*
             * An IDN label's limit applies to its A-label, which we cannot
             * compute here; its UTF-8 form may legitimately be longer.
             */
            if (ascii && label > ADDRESS__LABEL_MAX)
                return "domain label too long";
            if (d[i - label] == '-' || d[i - 1] == '-')
                return "hyphen at start or end of domain label";
            if (c == '\0')
                return NULL;
            label = 0;
            ascii = true;
            continue;
        }
        if (c >= 0x80)
            ascii = false;
        else if (!address__is_alnum(c) && c != '-')
            return "invalid character in domain";
        label++;
    }
}

/* Returns NULL if addr is valid, else why it is not. */
static const char *address__check(const char *addr)
{
    const char *why = NULL;
    size_t n, local;

    if (!addr || addr[0] == '\0')
        return "empty address";
    n = strlen(addr);
    for (size_t i = 0; i < n; i++)
        if (address__is_ctl((unsigned char)addr[i]))
            return "control character";
    if (!address__utf8_valid((const unsigned char *)addr, n))
        return "invalid UTF-8";
    local = address__local_len(addr, &why);
    if (local == 0)
        return why;
    if (local > ADDRESS_LOCAL_MAX)
        return "local part too long";
    if (addr[local] == '\0')
        return "missing @domain";
    if (addr[local] == ' ')
        return "unquoted space";
    if (addr[local] != '@')
        return "invalid character in local part";
    why = address__domain_check(addr + local + 1);
    if (why)
        return why;
    if (n > ADDRESS__PATH_MAX)
        return "address too long";
    return NULL;
}

int address_validate(const char *addr, const char **why)
{
    const char *reason = address__check(addr);

    if (!reason)
        return 0;
    if (why)
        *why = reason;
    return -EINVAL;
}

int address_validate_local(const char *name)
{
    const char *why = NULL;
    size_t n, local;

    if (!name || name[0] == '\0' || strchr(name, '@'))
        return -EINVAL;
    n = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (address__is_ctl((unsigned char)name[i]))
            return -EINVAL;
    if (!address__utf8_valid((const unsigned char *)name, n))
        return -EINVAL;
    local = address__local_len(name, &why);
    if (local == 0 || local != n || local > ADDRESS_LOCAL_MAX)
        return -EINVAL;
    return 0;
}

/* The first '@' outside a quoted string, or NULL. */
static const char *address__find_at(const char *s)
{
    bool quoted = false;

    for (; *s; s++) {
        if (quoted && *s == '\\' && s[1] != '\0')
            s++;
        else if (*s == '"')
            quoted = !quoted;
        else if (*s == '@' && !quoted)
            return s;
    }
    return NULL;
}

int address_qualify(const char *addr, const char *domain, char *out, size_t outlen)
{
    size_t cap = outlen < ADDRESS_MAX ? outlen : ADDRESS_MAX;
    size_t alen, dlen = 0;
    bool append;
    int rc = -EINVAL;

    if (!out)
        return -EINVAL;
    if (outlen == 0)
        return -ENAMETOOLONG;
    if (!addr)
        goto fail;
    append = address__find_at(addr) == NULL;
    if (append && !domain)
        goto fail;
    alen = strlen(addr);
    if (append)
        dlen = strlen(domain);
    /* Written so that no sum can wrap: alen + 1 + dlen + 1 <= cap. */
    rc = -ENAMETOOLONG;
    if (alen >= cap || dlen >= cap || alen + (append ? dlen + 1 : 0) >= cap)
        goto fail;
    memmove(out, addr, alen);
    if (append) {
        out[alen++] = '@';
        memcpy(out + alen, domain, dlen);
        alen += dlen;
    }
    out[alen] = '\0';
    rc = -EINVAL;
    if (address_validate(out, NULL) != 0)
        goto fail;
    return 0;
fail:
    out[0] = '\0';
    return rc;
}

/*
 * The address-list parser: a lexer that skips CFWS and hands out atoms,
 * quoted strings, domain literals and specials, under a recursive-descent
 * parser with one token of lookahead. Tokens point into the caller's value.
 */
enum address__token_type {
    ADDRESS__TOKEN_END,
    ADDRESS__TOKEN_ATOM,
    ADDRESS__TOKEN_QUOTED,
    ADDRESS__TOKEN_LITERAL,
    ADDRESS__TOKEN_SPECIAL,
};

struct address__token {
    enum address__token_type type;
    const unsigned char *text;
    size_t len;
};

struct address__parser {
    const unsigned char *p;
    const unsigned char *end;
    struct address__token tok;
    int (*cb)(void *arg, const char *addr);
    void *arg;
    size_t len; /* octets used in addr */
    char addr[ADDRESS_MAX];
};

/* Length of the CRLF at p when WSP follows it (a fold), else 0. */
static size_t address__fold_len(const unsigned char *p, const unsigned char *end)
{
    if (end - p >= 3 && p[0] == '\r' && p[1] == '\n' && (p[2] == ' ' || p[2] == '\t'))
        return 2;
    return 0;
}

static int address__skip_cfws(struct address__parser *ps)
{
    size_t depth = 0, fold;

    while (ps->p < ps->end) {
        unsigned char c = *ps->p;

        if (c == ' ' || c == '\t') {
            ps->p++;
        } else if ((fold = address__fold_len(ps->p, ps->end)) != 0) {
            ps->p += fold;
        } else if (depth == 0 && ps->end - ps->p == 2 && c == '\r' && ps->p[1] == '\n') {
            /* Callers may hand over the field with its terminating CRLF. */
            ps->p = ps->end;
        } else if (c == '(') {
            depth++;
            ps->p++;
        } else if (depth == 0) {
            break;
        } else if (c == ')') {
            depth--;
            ps->p++;
        } else if (c == '\\') {
            if (ps->end - ps->p < 2 || !address__is_quotable(ps->p[1]))
                return -EINVAL;
            ps->p += 2;
        } else if (address__is_ctl(c)) {
            return -EINVAL;
        } else {
            ps->p++;
        }
    }
    return depth == 0 ? 0 : -EINVAL;
}

/* Scans a quoted string or a domain literal up to its closing character. */
static int address__scan_delimited(struct address__parser *ps, unsigned char close)
{
    size_t fold;

    for (ps->p++;; ps->p++) {
        if (ps->p == ps->end)
            return -EINVAL;
        if (*ps->p == close)
            break;
        if (*ps->p == '\\') {
            if (ps->end - ps->p < 2 || !address__is_quotable(ps->p[1]))
                return -EINVAL;
            ps->p++;
        } else if ((fold = address__fold_len(ps->p, ps->end)) != 0) {
            ps->p += fold;
        } else if (*ps->p == '\t') {
            continue;
        } else if (address__is_ctl(*ps->p) || (close == ']' && *ps->p == '[')) {
            return -EINVAL;
        }
    }
    ps->p++;
    return 0;
}

static int address__next(struct address__parser *ps)
{
    struct address__token *tok = &ps->tok;
    int rc = address__skip_cfws(ps);

    if (rc)
        return rc;
    tok->text = ps->p;
    if (ps->p == ps->end) {
        tok->type = ADDRESS__TOKEN_END;
        tok->len = 0;
        return 0;
    }
    if (address__is_atext(*ps->p)) {
        tok->type = ADDRESS__TOKEN_ATOM;
        while (ps->p < ps->end && address__is_atext(*ps->p))
            ps->p++;
    } else if (*ps->p == '"') {
        tok->type = ADDRESS__TOKEN_QUOTED;
        rc = address__scan_delimited(ps, '"');
    } else if (*ps->p == '[') {
        tok->type = ADDRESS__TOKEN_LITERAL;
        rc = address__scan_delimited(ps, ']');
    } else if (*ps->p != '\0' && strchr("<>:;@,.", *ps->p)) {
        tok->type = ADDRESS__TOKEN_SPECIAL;
        ps->p++;
    } else {
        /* ')', ']', '\\' out of place, or a control character. */
        return -EINVAL;
    }
    tok->len = (size_t)(ps->p - tok->text);
    return rc;
}

static bool address__is_special(const struct address__parser *ps, char c)
{
    return ps->tok.type == ADDRESS__TOKEN_SPECIAL && ps->tok.text[0] == (unsigned char)c;
}

static bool address__is_word(const struct address__parser *ps)
{
    return ps->tok.type == ADDRESS__TOKEN_ATOM || ps->tok.type == ADDRESS__TOKEN_QUOTED;
}

/*
 * Appends the current token to addr. Folds lose their CRLF (RFC 5322
 * 3.2.2: it is not part of the value); literals lose all whitespace.
 */
static int address__append(struct address__parser *ps)
{
    const struct address__token *tok = &ps->tok;

    for (size_t i = 0; i < tok->len; i++) {
        unsigned char c = tok->text[i];

        if (c == '\r' || c == '\n')
            continue;
        if (tok->type == ADDRESS__TOKEN_LITERAL && (c == ' ' || c == '\t'))
            continue;
        if (ps->len + 1 >= sizeof ps->addr)
            return -ENAMETOOLONG;
        ps->addr[ps->len++] = (char)c;
    }
    ps->addr[ps->len] = '\0';
    return 0;
}

static void address__reset(struct address__parser *ps)
{
    ps->len = 0;
    ps->addr[0] = '\0';
}

static int address__emit(struct address__parser *ps)
{
    return ps->cb ? ps->cb(ps->arg, ps->addr) : 0;
}

/* local-part = word *("." word); CFWS between them (obs-local-part). */
static int address__parse_local(struct address__parser *ps)
{
    int rc;

    for (;;) {
        if (!address__is_word(ps))
            return -EINVAL;
        if ((rc = address__append(ps)) || (rc = address__next(ps)))
            return rc;
        if (!address__is_special(ps, '.'))
            return 0;
        if ((rc = address__append(ps)) || (rc = address__next(ps)))
            return rc;
    }
}

/* domain = domain-literal / atom *("." atom); keep=false for routes. */
static int address__parse_domain(struct address__parser *ps, bool keep)
{
    int rc;

    if (ps->tok.type == ADDRESS__TOKEN_LITERAL) {
        if (keep && (rc = address__append(ps)))
            return rc;
        return address__next(ps);
    }
    for (;;) {
        if (ps->tok.type != ADDRESS__TOKEN_ATOM)
            return -EINVAL;
        if ((keep && (rc = address__append(ps))) || (rc = address__next(ps)))
            return rc;
        if (!address__is_special(ps, '.'))
            return 0;
        if ((keep && (rc = address__append(ps))) || (rc = address__next(ps)))
            return rc;
    }
}

/* angle-addr = "<" [obs-route] addr-spec ">"; the current token is "<". */
static int address__parse_angle(struct address__parser *ps)
{
    int rc = address__next(ps);

    if (rc)
        return rc;
    if (address__is_special(ps, '@')) {
        /* obs-route: "@a,@b:" before the address; dropped. */
        while (address__is_special(ps, '@')) {
            if ((rc = address__next(ps)) || (rc = address__parse_domain(ps, false)))
                return rc;
            while (address__is_special(ps, ','))
                if ((rc = address__next(ps)))
                    return rc;
        }
        if (!address__is_special(ps, ':'))
            return -EINVAL;
        if ((rc = address__next(ps)))
            return rc;
    }
    address__reset(ps);
    if ((rc = address__parse_local(ps)))
        return rc;
    if (address__is_special(ps, '@')) {
        if ((rc = address__append(ps)) || (rc = address__next(ps)) ||
            (rc = address__parse_domain(ps, true)))
            return rc;
    }
    if (!address__is_special(ps, '>'))
        return -EINVAL;
    if ((rc = address__emit(ps)))
        return rc;
    return address__next(ps);
}

static int address__parse_group(struct address__parser *ps);

/*
 * address = name-addr / addr-spec / group (group only when !in_group).
 * Leaves the token that follows the address for the caller to judge.
 */
static int address__parse_address(struct address__parser *ps, bool in_group)
{
    bool local_ok = true, last_was_word = false, overflow = false;
    size_t count = 0;
    int rc;

    /*
     * Words and dots are collected before we know what they are: a display
     * name or group name (dropped, may be any length) or a local part.
     */
    address__reset(ps);
    while (address__is_word(ps) || address__is_special(ps, '.')) {
        bool word = address__is_word(ps);

        if (word == last_was_word)
            local_ok = false;
        last_was_word = word;
        if (!overflow && address__append(ps) != 0)
            overflow = true;
        count++;
        if ((rc = address__next(ps)))
            return rc;
    }
    if (count > 0 && !last_was_word)
        local_ok = false;

    if (address__is_special(ps, '<'))
        return address__parse_angle(ps);
    if (address__is_special(ps, ':')) {
        if (in_group || count == 0)
            return -EINVAL;
        if ((rc = address__next(ps)))
            return rc;
        return address__parse_group(ps);
    }
    if (count == 0) {
        /* An empty list element (obs-addr-list) or an empty group. */
        if (ps->tok.type == ADDRESS__TOKEN_END || address__is_special(ps, ',') ||
            address__is_special(ps, ';'))
            return 0;
        return -EINVAL;
    }
    if (!local_ok)
        return -EINVAL;
    if (overflow)
        return -ENAMETOOLONG;
    if (address__is_special(ps, '@')) {
        if ((rc = address__append(ps)) || (rc = address__next(ps)) ||
            (rc = address__parse_domain(ps, true)))
            return rc;
    }
    return address__emit(ps);
}

/* group = display-name ":" [mailbox-list] ";"; the ":" is consumed. */
static int address__parse_group(struct address__parser *ps)
{
    int rc;

    for (;;) {
        if (address__is_special(ps, ';'))
            return address__next(ps);
        if (ps->tok.type == ADDRESS__TOKEN_END)
            return -EINVAL;
        if (address__is_special(ps, ',')) {
            if ((rc = address__next(ps)))
                return rc;
            continue;
        }
        if ((rc = address__parse_address(ps, true)))
            return rc;
        if (!address__is_special(ps, ',') && !address__is_special(ps, ';'))
            return -EINVAL;
    }
}

static int address__parse_list(struct address__parser *ps)
{
    int rc = address__next(ps);

    if (rc)
        return rc;
    for (;;) {
        if (ps->tok.type == ADDRESS__TOKEN_END)
            return 0;
        if (address__is_special(ps, ',')) {
            if ((rc = address__next(ps)))
                return rc;
            continue;
        }
        if ((rc = address__parse_address(ps, false)))
            return rc;
        if (ps->tok.type != ADDRESS__TOKEN_END && !address__is_special(ps, ','))
            return -EINVAL;
    }
}

int address_list_parse(const char *value, size_t len, int (*cb)(void *arg, const char *addr),
                       void *arg)
{
    struct address__parser ps;
    int rc;

    if (len == 0)
        return 0;
    if (!value)
        return -EINVAL;
    /*
     * A first pass without cb checks the whole value, so that cb never sees
     * the first half of a list whose second half is malformed.
     */
    memset(&ps, 0, sizeof ps);
    ps.p = (const unsigned char *)value;
    ps.end = ps.p + len;
    if ((rc = address__parse_list(&ps)) || !cb)
        return rc;
    memset(&ps, 0, sizeof ps);
    ps.p = (const unsigned char *)value;
    ps.end = ps.p + len;
    ps.cb = cb;
    ps.arg = arg;
    return address__parse_list(&ps);
}

int address_hostname_valid(const char *h)
{
    size_t n = strnlen(h, ADDRESS_DOMAIN_MAX + 1);

    if (n == 0 || n > ADDRESS_DOMAIN_MAX || h[0] == '.' || h[n - 1] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (c == '.' && h[i + 1] == '.')
            return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_'))
            return 0;
    }
    return 1;
}
