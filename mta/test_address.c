/*
 * test_address.c - unit tests for address.c: RFC 5321 validation,
 * qualification of bare names, and RFC 5322 address-list parsing.
 */
#include "address.h"
#include "check.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

/* Writes prefix, n copies of c, then suffix into buf (size 1024). */
static const char *build(char *buf, const char *prefix, char c, size_t n, const char *suffix)
{
    size_t p = strlen(prefix), s = strlen(suffix);

    if (p + n + s >= 1024)
        abort();
    memcpy(buf, prefix, p);
    memset(buf + p, c, n);
    memcpy(buf + p + n, suffix, s + 1);
    return buf;
}

/* A valid host name of exactly n octets (labels of 50 'x'). */
static const char *domain_of(char *buf, size_t n)
{
    size_t i = 0;

    if (n == 0 || n >= 1024)
        abort();
    while (n - i > 51) {
        memset(buf + i, 'x', 50);
        buf[i + 50] = '.';
        i += 51;
    }
    memset(buf + i, 'x', n - i);
    buf[n] = '\0';
    return buf;
}

struct validate_case {
    const char *addr;
    int rc;
    const char *why; /* NULL when valid */
};

static const struct validate_case validate_cases[] = {
    {"user@example.com", 0, NULL},
    {"first.last+tag@sub.example.co.uk", 0, NULL},
    {"!#$%&'*+-/=?^_`{|}~@example.com", 0, NULL},
    {"\"a b\"@example.com", 0, NULL},
    {"\"a@b\"@example.com", 0, NULL},
    {"\"a\\\"b\"@example.com", 0, NULL},
    {"\"\"@example.com", 0, NULL},
    {"user@[192.0.2.1]", 0, NULL},
    {"user@[IPv6:2001:db8::1]", 0, NULL},
    {"user@[ipv6:::1]", 0, NULL},
    {"user@xn--bcher-kva.example", 0, NULL},
    {"j\xc3\xb6rg@example.de", 0, NULL},              /* 8-bit local part (SMTPUTF8) */
    {"\xe7\x94\xa8\xe6\x88\xb7@example.cn", 0, NULL}, /* CJK local part */
    {"user@b\xc3\xbc"
     "cher.example",
     0, NULL}, /* IDN U-label */
    {"user@localhost", 0, NULL},
    {"a-b@a-b.example", 0, NULL},
    {"", -EINVAL, "empty address"},
    {"@example.com", -EINVAL, "empty local part"},
    {"user", -EINVAL, "missing @domain"},
    {"user@", -EINVAL, "empty domain"},
    {"a b@example.com", -EINVAL, "unquoted space"},
    {" user@example.com", -EINVAL, "unquoted space"},
    {"user@exa mple.com", -EINVAL, "invalid character in domain"},
    {"user\t@example.com", -EINVAL, "control character"},
    {"user@example.com\r\n", -EINVAL, "control character"},
    {"us\x7f"
     "er@example.com",
     -EINVAL, "control character"},
    {"\"a\x01\"@example.com", -EINVAL, "control character"},
    {"j\xe9rg@example.de", -EINVAL, "invalid UTF-8"},           /* Latin-1 */
    {"\xc0\xaf@example.com", -EINVAL, "invalid UTF-8"},         /* overlong '/' */
    {"\xed\xa0\x80@example.com", -EINVAL, "invalid UTF-8"},     /* surrogate */
    {"\xf4\x90\x80\x80@example.com", -EINVAL, "invalid UTF-8"}, /* > U+10FFFF */
    {"\xe2\x82@example.com", -EINVAL, "invalid UTF-8"},         /* truncated */
    {"\"unbalanced@example.com", -EINVAL, "unbalanced quote"},
    {"\"a\\\xc3\xa9\"@example.com", -EINVAL, "invalid quoted-pair"},
    {"\"a\"b@example.com", -EINVAL, "invalid character in local part"},
    {"a\"b\"@example.com", -EINVAL, "invalid character in local part"},
    {"a(b)@example.com", -EINVAL, "invalid character in local part"},
    {"<a@example.com>", -EINVAL, "invalid character in local part"},
    {".a@example.com", -EINVAL, "misplaced dot in local part"},
    {"a.@example.com", -EINVAL, "misplaced dot in local part"},
    {"a..b@example.com", -EINVAL, "misplaced dot in local part"},
    {"a@b@example.com", -EINVAL, "invalid character in domain"},
    {"a@example..com", -EINVAL, "empty domain label"},
    {"a@example.com.", -EINVAL, "empty domain label"},
    {"a@.example.com", -EINVAL, "empty domain label"},
    {"a@-example.com", -EINVAL, "hyphen at start or end of domain label"},
    {"a@example-.com", -EINVAL, "hyphen at start or end of domain label"},
    {"a@exa_mple.com", -EINVAL, "invalid character in domain"},
    {"a@[192.0.2.1", -EINVAL, "unbalanced bracket"},
    {"a@[192.0.2.1]x", -EINVAL, "invalid address literal"},
    {"a@[192.0.2.256]", -EINVAL, "invalid address literal"},
    {"a@[2001:db8::1]", -EINVAL, "invalid address literal"},
    {"a@[IPv6:192.0.2]", -EINVAL, "invalid address literal"},
    {"a@[x-tag:content]", -EINVAL, "invalid address literal"},
    {"a@[]", -EINVAL, "invalid address literal"},
    {"a@192.0.2.1]", -EINVAL, "invalid character in domain"},
};

struct length_case {
    size_t local, domain; /* octets of each part */
    int rc;
    const char *why;
};

static const struct length_case length_cases[] = {
    {64, 10, 0, NULL},
    {65, 10, -EINVAL, "local part too long"},
    {1, 63, 0, NULL},
    {64, 189, 0, NULL},                     /* path of exactly 254 */
    {64, 190, -EINVAL, "address too long"}, /* path of 255 */
    {1, 252, 0, NULL},
    {1, 253, -EINVAL, "address too long"}, /* domain fine, path too long */
    {1, 255, -EINVAL, "address too long"},
    {1, 256, -EINVAL, "domain too long"},
    {300, 10, -EINVAL, "local part too long"},
};

static void test_validate(void)
{
    char local[1024], domain[1024], addr[2100];

    for (size_t i = 0; i < sizeof validate_cases / sizeof validate_cases[0]; i++) {
        const struct validate_case *c = &validate_cases[i];
        const char *why = "untouched";
        int rc = address_validate(c->addr, &why);

        if (rc != c->rc)
            fprintf(stderr, "validate case %zu: \"%s\"\n", i, c->addr);
        CHECK_INT(rc, c->rc);
        CHECK_STR(why, c->why ? c->why : "untouched");
        CHECK_INT(address_validate(c->addr, NULL), c->rc);
    }
    for (size_t i = 0; i < sizeof length_cases / sizeof length_cases[0]; i++) {
        const struct length_case *c = &length_cases[i];
        const char *why = "untouched";
        int rc;

        build(local, "", 'l', c->local, "");
        snprintf(addr, sizeof addr, "%s@%s", local, domain_of(domain, c->domain));
        rc = address_validate(addr, &why);
        if (rc != c->rc)
            fprintf(stderr, "length case %zu: local %zu, domain %zu\n", i, c->local, c->domain);
        CHECK_INT(rc, c->rc);
        CHECK_STR(why, c->why ? c->why : "untouched");
    }

    /* A 64-octet quoted local part counts its quotes. */
    CHECK_INT(address_validate(build(addr, "\"", 'q', 62, "\"@example.com"), NULL), 0);
    CHECK_INT(address_validate(build(addr, "\"", 'q', 63, "\"@example.com"), NULL), -EINVAL);
    /* Label limit: 63 ASCII octets; a U-label is left to IDN conversion. */
    CHECK_INT(address_validate(build(addr, "a@", 'x', 63, ".example"), NULL), 0);
    {
        const char *why = NULL;
        CHECK_INT(address_validate(build(addr, "a@", 'x', 64, ".example"), &why), -EINVAL);
        CHECK_STR(why, "domain label too long");
    }
    CHECK_INT(address_validate(NULL, NULL), -EINVAL);
}

struct local_case {
    const char *name;
    int rc;
};

static const struct local_case local_cases[] = {
    {"root", 0},
    {"john.doe", 0},
    {"MAILER-DAEMON", 0},
    {"\"a b\"", 0},
    {"j\xc3\xb6rg", 0},
    {"", -EINVAL},
    {"root@example.com", -EINVAL},
    {"\"a@b\"", -EINVAL},
    {"a b", -EINVAL},
    {".root", -EINVAL},
    {"root.", -EINVAL},
    {"ro..ot", -EINVAL},
    {"ro\not", -EINVAL},
    {"\"root", -EINVAL},
    {"\"a\"b", -EINVAL},
    {"ro:ot", -EINVAL},
    {"j\xe9rg", -EINVAL},
};

static void test_validate_local(void)
{
    char buf[1024];

    for (size_t i = 0; i < sizeof local_cases / sizeof local_cases[0]; i++) {
        int rc = address_validate_local(local_cases[i].name);

        if (rc != local_cases[i].rc)
            fprintf(stderr, "local case %zu: \"%s\"\n", i, local_cases[i].name);
        CHECK_INT(rc, local_cases[i].rc);
    }
    CHECK_INT(address_validate_local(build(buf, "", 'a', 64, "")), 0);
    CHECK_INT(address_validate_local(build(buf, "", 'a', 65, "")), -EINVAL);
    CHECK_INT(address_validate_local(NULL), -EINVAL);
}

struct qualify_case {
    const char *addr;
    const char *domain;
    size_t outlen;
    int rc;
    const char *out;
};

static const struct qualify_case qualify_cases[] = {
    {"root", "example.org", ADDRESS_MAX, 0, "root@example.org"},
    {"user@example.com", "example.org", ADDRESS_MAX, 0, "user@example.com"},
    {"user@example.com", NULL, ADDRESS_MAX, 0, "user@example.com"},
    {"\"a@b\"", "example.org", ADDRESS_MAX, 0, "\"a@b\"@example.org"},
    {"\"a b\"", "example.org", ADDRESS_MAX, 0, "\"a b\"@example.org"},
    {"j\xc3\xb6rg", "example.de", ADDRESS_MAX, 0, "j\xc3\xb6rg@example.de"},
    {"root", "example.org", 17, 0, "root@example.org"},
    {"root", "example.org", 16, -ENAMETOOLONG, ""},
    {"root", "example.org", 1, -ENAMETOOLONG, ""},
    {"user@example.com", "x", 16, -ENAMETOOLONG, ""},
    {"root", NULL, ADDRESS_MAX, -EINVAL, ""},
    {"root", "", ADDRESS_MAX, -EINVAL, ""},
    {"root", "bad domain", ADDRESS_MAX, -EINVAL, ""},
    {"a b", "example.org", ADDRESS_MAX, -EINVAL, ""},
    {"", "example.org", ADDRESS_MAX, -EINVAL, ""},
    {"user@", "example.org", ADDRESS_MAX, -EINVAL, ""},
};

static void test_qualify(void)
{
    char out[ADDRESS_MAX * 2], local[1024], domain[1024];

    for (size_t i = 0; i < sizeof qualify_cases / sizeof qualify_cases[0]; i++) {
        const struct qualify_case *c = &qualify_cases[i];
        int rc;

        memset(out, 'X', sizeof out);
        rc = address_qualify(c->addr, c->domain, out, c->outlen);
        if (rc != c->rc)
            fprintf(stderr, "qualify case %zu: \"%s\"\n", i, c->addr);
        CHECK_INT(rc, c->rc);
        CHECK_STR(out, c->out);
    }

    /* 1 + "@" + 253 = 255 octets fit ADDRESS_MAX but exceed the path limit. */
    build(local, "", 'a', 1, "");
    CHECK_INT(address_qualify(local, domain_of(domain, 252), out, sizeof out), 0);
    CHECK_INT(strlen(out), 254);
    CHECK_INT(address_qualify(local, domain_of(domain, 253), out, sizeof out), -EINVAL);
    CHECK_STR(out, "");
    CHECK_INT(address_qualify(local, domain_of(domain, 254), out, sizeof out), -ENAMETOOLONG);
    /* outlen above ADDRESS_MAX does not lift the limit. */
    CHECK_INT(address_qualify(build(local, "", 'a', 300, ""), "x", out, sizeof out), -ENAMETOOLONG);

    /* In place: out may be addr. */
    snprintf(out, sizeof out, "postmaster");
    CHECK_INT(address_qualify(out, "example.org", out, ADDRESS_MAX), 0);
    CHECK_STR(out, "postmaster@example.org");

    CHECK_INT(address_qualify(NULL, "example.org", out, sizeof out), -EINVAL);
    CHECK_INT(address_qualify("root", "example.org", NULL, 10), -EINVAL);
}

struct collect {
    char got[2048]; /* addresses joined by '|' */
    size_t len;
    int calls;
    int stop_at; /* return 42 from this call (1-based); 0 never */
};

static int collect_cb(void *arg, const char *addr)
{
    struct collect *c = arg;
    int n = snprintf(c->got + c->len, sizeof c->got - c->len, "%s%s", c->calls ? "|" : "", addr);

    if (n > 0)
        c->len += (size_t)n;
    if (c->len >= sizeof c->got)
        abort();
    c->calls++;
    return c->calls == c->stop_at ? 42 : 0;
}

struct list_case {
    const char *value;
    int rc;
    const char *want; /* addresses joined by '|' */
};

static const struct list_case list_cases[] = {
    /* mailboxes */
    {"a@example.com", 0, "a@example.com"},
    {"a@example.com, b@example.org", 0, "a@example.com|b@example.org"},
    {"a@example.com,b@example.org,c@example.net", 0, "a@example.com|b@example.org|c@example.net"},
    {"John Doe <john@example.com>", 0, "john@example.com"},
    {"<john@example.com>", 0, "john@example.com"},
    {"\"Doe, John\" <j@x>", 0, "j@x"},
    {"\"Doe, John\" <j@x>, \"Roe; Jane <x@y>\" <jane@y>", 0, "j@x|jane@y"},
    {"Doe, John <j@x>", 0, "Doe|j@x"}, /* an unquoted comma separates */
    {"John Q. Public <jqp@example.com>", 0, "jqp@example.com"},
    {"\"\" <a@b>", 0, "a@b"},
    {"J\xc3\xb6rg M\xc3\xbcller <j\xc3\xb6rg@example.de>", 0, "j\xc3\xb6rg@example.de"},
    {"\"a b\"@example.com", 0, "\"a b\"@example.com"},
    {"\"a\\\"b\"@example.com", 0, "\"a\\\"b\"@example.com"},
    {"\"a,b\"@example.com, c@d", 0, "\"a,b\"@example.com|c@d"},
    {"a@[192.0.2.1]", 0, "a@[192.0.2.1]"},
    {"a@[ 192.0.2.1 ]", 0, "a@[192.0.2.1]"},
    {"a . b @ example . com", 0, "a.b@example.com"},
    {"first.\"last\"@example.com", 0, "first.\"last\"@example.com"},
    {"root", 0, "root"},
    {"root, admin", 0, "root|admin"},
    {"Root <root>", 0, "root"},
    /* comments */
    {"j@x (Doe, <John>)", 0, "j@x"},
    {"(a (nested (comment)) here) j@x", 0, "j@x"},
    {"j(c)@(d)x(e).(f)org", 0, "j@x.org"},
    {"John (\"Johnny\" <jj@evil>) <j@x>", 0, "j@x"},
    {"j@x (a \\) escaped paren)", 0, "j@x"},
    {"j@x (a \\( escaped paren)", 0, "j@x"},
    {"<(c)j@x(c)>", 0, "j@x"},
    /* groups */
    {"undisclosed-recipients:;", 0, ""},
    {"undisclosed-recipients: ;", 0, ""},
    {"Undisclosed recipients : ; ", 0, ""},
    {"team: a@b, \"c d\"@e;", 0, "a@b|\"c d\"@e"},
    {"team: a@b, Jane <c@d>;, f@g", 0, "a@b|c@d|f@g"},
    {"\"The Team\" (comment): a@b;", 0, "a@b"},
    {"team: a@b,,c@d, ;", 0, "a@b|c@d"},
    {"x@y, empty:;, z@w", 0, "x@y|z@w"},
    /* obsolete syntax */
    {"<@r1.example,@r2.example:a@b>", 0, "a@b"},
    {"Name <@r1.example:a@b>", 0, "a@b"},
    {"<@r1.example,,@r2.example : a@b>", 0, "a@b"},
    {"a@b,,c@d", 0, "a@b|c@d"},
    {", a@b ,", 0, "a@b"},
    /* whitespace */
    {"", 0, ""},
    {" \t ", 0, ""},
    {"a@b,\r\n c@d", 0, "a@b|c@d"},
    {"John\r\n\tDoe\r\n <j@x>", 0, "j@x"},
    {"\"a\r\n b\"@c", 0, "\"a b\"@c"},
    {"j@x (folded\r\n comment)", 0, "j@x"},
    {"a@b\r\n", 0, "a@b"},
    /* errors: nothing reaches cb */
    {"\"unterminated@x", -EINVAL, ""},
    {"a@b, \"unterminated", -EINVAL, ""},
    {"a@b (unbalanced", -EINVAL, ""},
    {"a@b (nested (unbalanced)", -EINVAL, ""},
    {"a@b)", -EINVAL, ""},
    {"<a@b", -EINVAL, ""},
    {"a@b>", -EINVAL, ""},
    {"<<a@b>>", -EINVAL, ""},
    {"a@[1.2.3.4", -EINVAL, ""},
    {"a@b]", -EINVAL, ""},
    {"a@[1.[2].3.4]", -EINVAL, ""},
    {"team: a@b", -EINVAL, ""},
    {"team: a@b, c@d", -EINVAL, ""},
    {"a@b;", -EINVAL, ""},
    {"a: b: c@d;;", -EINVAL, ""},
    {": a@b;", -EINVAL, ""},
    {"John Doe", -EINVAL, ""},
    {"John Doe@x", -EINVAL, ""},
    {"a..b@x", -EINVAL, ""},
    {".a@x", -EINVAL, ""},
    {"a.@x", -EINVAL, ""},
    {"a@", -EINVAL, ""},
    {"@x", -EINVAL, ""},
    {"a@b@c", -EINVAL, ""},
    {"a@b.", -EINVAL, ""},
    {"a@\"b\"", -EINVAL, ""},
    {"a@b <c@d>", -EINVAL, ""},
    {"<>", -EINVAL, ""},
    {"<@r1.example a@b>", -EINVAL, ""},
    {"<@:a@b>", -EINVAL, ""},
    {"a@b,\r\nc@d", -EINVAL, ""}, /* CRLF without WSP is not a fold */
    {"a@b,\n c@d", -EINVAL, ""},
    {"a@b\rc", -EINVAL, ""},
    {"a\x01@b", -EINVAL, ""},
    {"\"a\x01\"@b", -EINVAL, ""},
    {"j@x (\x1b[31m)", -EINVAL, ""},
    {"a@b\x7f", -EINVAL, ""},
    {"a@b\\c", -EINVAL, ""},
    {"\"a\\", -EINVAL, ""},
    {"a@b, c@d (", -EINVAL, ""},
    {"a@b\r\n\r\n", -EINVAL, ""},
};

static void test_list(void)
{
    for (size_t i = 0; i < sizeof list_cases / sizeof list_cases[0]; i++) {
        const struct list_case *c = &list_cases[i];
        struct collect got = {.stop_at = 0};
        int rc = address_list_parse(c->value, strlen(c->value), collect_cb, &got);

        if (rc != c->rc || strcmp(got.got, c->want) != 0)
            fprintf(stderr, "list case %zu: \"%s\"\n", i, c->value);
        CHECK_INT(rc, c->rc);
        CHECK_STR(got.got, c->want);
        /* Without cb the same value is only checked. */
        CHECK_INT(address_list_parse(c->value, strlen(c->value), NULL, NULL), c->rc);
    }
}

static void test_list_bounds(void)
{
    char value[1100], local[1024], domain[1024];

    /* value need not be NUL-terminated: len rules. */
    {
        const char text[] = "a@b, c@d, e@f";
        struct collect got = {.stop_at = 0};

        CHECK_INT(address_list_parse(text, 8, collect_cb, &got), 0);
        CHECK_STR(got.got, "a@b|c@d");
    }
    /* An embedded NUL is a control character, not the end. */
    {
        const char text[] = "a@b\0, c@d";
        struct collect got = {.stop_at = 0};

        CHECK_INT(address_list_parse(text, sizeof text - 1, collect_cb, &got), -EINVAL);
        CHECK_INT(got.calls, 0);
    }
    /* cb's value stops the walk and is returned. */
    {
        const char text[] = "a@b, c@d, e@f";
        struct collect got = {.stop_at = 2};

        CHECK_INT(address_list_parse(text, strlen(text), collect_cb, &got), 42);
        CHECK_STR(got.got, "a@b|c@d");
    }
    CHECK_INT(address_list_parse(NULL, 0, collect_cb, NULL), 0);
    CHECK_INT(address_list_parse(NULL, 1, collect_cb, NULL), -EINVAL);

    /* 255 octets fit ADDRESS_MAX with the NUL; 256 do not. */
    {
        struct collect got = {.stop_at = 0};

        build(local, "", 'a', 64, "");
        snprintf(value, sizeof value, "x@y, Name <%s@%s>", local, domain_of(domain, 190));
        CHECK_INT(address_list_parse(value, strlen(value), collect_cb, &got), 0);
        CHECK_INT(got.calls, 2);
        CHECK_INT(got.len, strlen("x@y|") + 255);
    }
    {
        struct collect got = {.stop_at = 0};

        snprintf(value, sizeof value, "x@y, %s@%s", local, domain_of(domain, 191));
        CHECK_INT(address_list_parse(value, strlen(value), collect_cb, &got), -ENAMETOOLONG);
        CHECK_INT(got.calls, 0);
        snprintf(value, sizeof value, "<%s@%s>", local, domain_of(domain, 191));
        CHECK_INT(address_list_parse(value, strlen(value), collect_cb, &got), -ENAMETOOLONG);
        build(value, "", 'a', 300, "");
        CHECK_INT(address_list_parse(value, strlen(value), collect_cb, &got), -ENAMETOOLONG);
        CHECK_INT(got.calls, 0);
    }
    /* A display name or route longer than ADDRESS_MAX is not an address. */
    {
        struct collect got = {.stop_at = 0};

        build(value, "\"", 'n', 1000, "\" <a@b>");
        CHECK_INT(address_list_parse(value, strlen(value), collect_cb, &got), 0);
        CHECK_STR(got.got, "a@b");
    }
    {
        struct collect got = {.stop_at = 0};

        snprintf(value, sizeof value, "<@%s,@%s:a@b>", domain_of(domain, 250), domain);
        CHECK_INT(address_list_parse(value, strlen(value), collect_cb, &got), 0);
        CHECK_STR(got.got, "a@b");
    }
    /* Deep comment nesting costs no stack. */
    {
        struct collect got = {.stop_at = 0};
        static char deep[200001];

        memset(deep, '(', 100000);
        memset(deep + 100000, ')', 100000);
        memcpy(deep, "a@b ", 4);
        deep[200000] = '\0';
        /* "a@b " + 99996 '(' + 100000 ')' is one ')' too many. */
        CHECK_INT(address_list_parse(deep, strlen(deep), collect_cb, &got), -EINVAL);
        deep[199999] = ' ';
        deep[199998] = ' ';
        deep[199997] = ' ';
        deep[199996] = ' ';
        CHECK_INT(address_list_parse(deep, strlen(deep), collect_cb, &got), 0);
        CHECK_STR(got.got, "a@b");
    }
}

int main(void)
{
    test_validate();
    test_validate_local();
    test_qualify();
    test_list();
    test_list_bounds();
    CHECK_DONE();
}
