/*
 * test_sts.c - MTA-STS (sts.h): the TXT record and policy parsers against
 * RFC 8461's examples and each rule they enforce, MX matching (4.1), the
 * cache format's round trip and its refusal of garbage, expiry, the HTTP
 * response reader fed whole and byte by byte, and sts_fetch's failures
 * that need no server (refused, connect and handshake timeouts).
 */
#include "sts.h"
#include "../smtp/tls.h"
#include "check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- TXT record ---- */

static void test_txt_parse(void)
{
    static const struct {
        const char *txt;
        int rc;
        const char *id;
    } cases[] = {
        /* RFC 8461 3.1's example, and the whitespace the grammar allows. */
        {"v=STSv1; id=20160831085700Z;", 0, "20160831085700Z"},
        {"v=STSv1;id=abc", 0, "abc"},
        {"v=STSv1 ; id=abc ; ", 0, "abc"},
        {"v=STSv1\t;\tid=a1", 0, "a1"},
        {"v=STSv1; id=abc  ", 0, "abc"}, /* trailing whitespace tolerated */
        {"v=STSv1; ext=x; id=abc", 0, "abc"},
        {"v=STSv1; id=abc; ext.name_2-x=!\"#$%&'()*+,-./:<>?@[]^_`{|}~", 0, "abc"},
        {"v=STSv1; id=first; id=second", 0, "first"},
        {"v=STSv1; id=12345678901234567890123456789012", 0, "12345678901234567890123456789012"},
        {"v=STSv1; ID=x; id=y", 0, "y"}, /* names are case sensitive: ID is an extension */
        {"", -EINVAL, ""},
        {"v=STSv1", -EINVAL, ""},
        {"v=STSv1;", -EINVAL, ""},
        {"v=STSv1; ", -EINVAL, ""},
        {"v=STSv1; ext=x", -EINVAL, ""}, /* id is required */
        {"v=STSv2; id=1", -EINVAL, ""},
        {"v=STSv10; id=1", -EINVAL, ""},
        {"v=stsv1; id=1", -EINVAL, ""},
        {"V=STSv1; id=1", -EINVAL, ""},
        {" v=STSv1; id=1", -EINVAL, ""},
        {"v=STSv1 id=1", -EINVAL, ""},
        {"v=STSv1; id=", -EINVAL, ""},
        {"v=STSv1; id=123456789012345678901234567890123", -EINVAL, ""},
        {"v=STSv1; id=ab-cd", -EINVAL, ""},
        {"v=STSv1; id=ab cd", -EINVAL, ""},
        {"v=STSv1; id=1;;", -EINVAL, ""},
        {"v=STSv1;; id=1", -EINVAL, ""},
        {"v=STSv1; =x; id=1", -EINVAL, ""},
        {"v=STSv1; ext; id=1", -EINVAL, ""},
        {"v=STSv1; ext=; id=1", -EINVAL, ""},
        {"v=STSv1; ext=a=b; id=1", -EINVAL, ""},
        {"v=STSv1; _ext=a; id=1", -EINVAL, ""},
        {"v=STSv1; id=1; 123456789012345678901234567890123=x", -EINVAL, ""},
        {"v=STSv1; id=1; ext=caf\xc3\xa9", -EINVAL, ""},
    };
    char id[STS_ID_MAX];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = sts_txt_parse(cases[i].txt, strlen(cases[i].txt), id);

        if (rc != cases[i].rc)
            fprintf(stderr, "case %zu: \"%s\"\n", i, cases[i].txt);
        CHECK_INT(rc, cases[i].rc);
        CHECK_STR(id, cases[i].id);
    }
    /* A NUL inside the record is not part of any field. */
    CHECK_INT(sts_txt_parse("v=STSv1; id=1\0x", 15, id), -EINVAL);
    CHECK_INT(sts_txt_parse("v=STSv1; id=1\0", 14, id), -EINVAL);
}

static void test_txt_select(void)
{
    const char *spf = "v=spf1 -all", *ok = "v=STSv1; id=abc", *ok2 = "v=STSv1; id=def",
               *bad = "v=STSv1; id=", *near = "v=STSv10; id=1";
    const char *set1[] = {spf, ok}, *set2[] = {ok, ok2}, *set3[] = {spf, near}, *set4[] = {bad},
               *set5[] = {ok, bad};
    size_t len1[] = {strlen(spf), strlen(ok)}, len2[] = {strlen(ok), strlen(ok2)},
           len3[] = {strlen(spf), strlen(near)}, len4[] = {strlen(bad)},
           len5[] = {strlen(ok), strlen(bad)};
    char id[STS_ID_MAX];

    CHECK_INT(sts_txt_select(set1, len1, 2, id), 0);
    CHECK_STR(id, "abc");
    CHECK_INT(sts_txt_select(set2, len2, 2, id), -EINVAL); /* two policies: none */
    CHECK_STR(id, "");
    CHECK_INT(sts_txt_select(set3, len3, 2, id), -ENOENT); /* v=STSv10 is not v=STSv1 */
    CHECK_INT(sts_txt_select(set4, len4, 1, id), -EINVAL);
    CHECK_INT(sts_txt_select(set5, len5, 2, id), -EINVAL); /* an invalid one still counts */
    CHECK_INT(sts_txt_select(NULL, NULL, 0, id), -ENOENT);
    CHECK_INT(sts_txt_is_sts("v=STSv1", 7), 1);
    CHECK_INT(sts_txt_is_sts("v=STSv1 ;", 9), 1);
    CHECK_INT(sts_txt_is_sts("v=STSv1x", 8), 0);
    CHECK_INT(sts_txt_is_sts("v=STS", 5), 0);
}

/* ---- policy ---- */

/* RFC 8461 3.2's example, with its CRLF line ends. */
static const char rfc_policy[] = "version: STSv1\r\n"
                                 "mode: enforce\r\n"
                                 "mx: mail.example.com\r\n"
                                 "mx: *.example.net\r\n"
                                 "mx: backupmx.example.com\r\n"
                                 "max_age: 604800\r\n";

static void test_policy_valid(void)
{
    struct sts_policy p;
    char err[256];

    CHECK_INT(sts_policy_parse(rfc_policy, strlen(rfc_policy), &p, err, sizeof err), 0);
    CHECK_STR(err, "");
    CHECK_INT(p.mode, STS_MODE_ENFORCE);
    CHECK_INT(p.max_age, 604800);
    CHECK_INT(p.nmx, 3);
    CHECK_STR(p.mx[0], "mail.example.com");
    CHECK_STR(p.mx[1], "*.example.net");
    CHECK_STR(p.mx[2], "backupmx.example.com");
    CHECK_STR(p.id, "");
    CHECK_INT(p.fetched, 0);

    static const struct {
        const char *body;
        enum sts_mode mode;
        uint64_t max_age;
        size_t nmx;
        const char *mx0;
    } cases[] = {
        /* LF line ends, no final line end */
        {"version: STSv1\nmode: testing\nmx: a.example\nmax_age: 86400", STS_MODE_TESTING, 86400, 1,
         "a.example"},
        /* mode none needs no mx */
        {"version: STSv1\nmode: none\nmax_age: 0\n", STS_MODE_NONE, 0, 0, ""},
        {"version: STSv1\nmode: none\nmx: x.example\nmax_age: 1\n", STS_MODE_NONE, 1, 1,
         "x.example"},
        {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557600\n", STS_MODE_ENFORCE,
         31557600, 1, "a.example"},
        {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 0000604800\n", STS_MODE_ENFORCE,
         604800, 1, "a.example"},
        /* the first of a repeated field counts */
        {"version: STSv1\nmode: enforce\nmode: bogus\nmx: a.example\nmax_age: 5\nmax_age: x\n"
         "version: STSv2\n",
         STS_MODE_ENFORCE, 5, 1, "a.example"},
        /* unknown keys ignored, whatever their value (but no controls) */
        {"version: STSv1\nfoo: bar baz\nmode: enforce\nx_y-z.1: \xc3\xa9\nmx: a.example\n"
         "max_age: 5\nempty:\n",
         STS_MODE_ENFORCE, 5, 1, "a.example"},
        /* whitespace after the colon and at line ends; blank lines */
        {"version:STSv1  \r\n\r\nmode:\t enforce\t\n  \nmx:   A.Example.COM \nmax_age: 7\n\n\n",
         STS_MODE_ENFORCE, 7, 1, "a.example.com"},
        {"version: STSv1\nmode: enforce\nmx: *.EXAMPLE.net\nmx: xn--bcher-kva.example\n"
         "max_age: 7\n",
         STS_MODE_ENFORCE, 7, 2, "*.example.net"},
        /* a single-label name and the longest label (63) */
        {"version: STSv1\nmode: enforce\nmx: localhost\n"
         "mx: abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij123.example\n"
         "max_age: 7\n",
         STS_MODE_ENFORCE, 7, 2, "localhost"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = sts_policy_parse(cases[i].body, strlen(cases[i].body), &p, err, sizeof err);

        if (rc != 0)
            fprintf(stderr, "case %zu: %s\n", i, err);
        CHECK_INT(rc, 0);
        CHECK_INT(p.mode, cases[i].mode);
        CHECK_INT(p.max_age, cases[i].max_age);
        CHECK_INT(p.nmx, cases[i].nmx);
        CHECK_STR(p.nmx ? p.mx[0] : "", cases[i].mx0);
    }
}

static void test_policy_invalid(void)
{
    static const struct {
        const char *body;
        int rc;
        const char *err;
    } cases[] = {
        {"", -EINVAL, "no version field"},
        {"\n\n", -EINVAL, "no version field"},
        {"mode: enforce\nversion: STSv1\nmx: a.example\nmax_age: 5\n", -EINVAL,
         "line 1: the first field is not version"},
        {"version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 5\n", -EINVAL,
         "line 1: version \"STSv2\" is not STSv1"},
        {"version: stsv1\nmode: enforce\nmx: a.example\nmax_age: 5\n", -EINVAL,
         "line 1: version \"stsv1\" is not STSv1"},
        {"Version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 5\n", -EINVAL,
         "line 1: the first field is not version"},
        {"version: STSv1\nmx: a.example\nmax_age: 5\n", -EINVAL, "no mode field"},
        {"version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 5\n", -EINVAL,
         "line 2: bad mode \"Enforce\""},
        {"version: STSv1\nmode: reject\nmx: a.example\nmax_age: 5\n", -EINVAL,
         "line 2: bad mode \"reject\""},
        {"version: STSv1\nmode:\nmx: a.example\nmax_age: 5\n", -EINVAL, "line 2: bad mode \"\""},
        {"version: STSv1\nmode: enforce\nmx: a.example\n", -EINVAL, "no max_age field"},
        {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n", -EINVAL,
         "line 4: bad max_age \"31557601\" (0 to 31557600)"},
        {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 00000604800\n", -EINVAL,
         "line 4: bad max_age \"00000604800\" (0 to 31557600)"},
        {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n", -EINVAL,
         "line 4: bad max_age \"-1\" (0 to 31557600)"},
        {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1 2\n", -EINVAL,
         "line 4: bad max_age \"1 2\" (0 to 31557600)"},
        {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age:\n", -EINVAL,
         "line 4: bad max_age \"\" (0 to 31557600)"},
        {"version: STSv1\nmode: enforce\nmax_age: 5\n", -EINVAL, "no mx field in mode enforce"},
        {"version: STSv1\nmode: testing\nmax_age: 5\n", -EINVAL, "no mx field in mode testing"},
        {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 5\nbroken line\n", -EINVAL,
         "line 5: not \"key: value\": \"broken line\""},
        {"version: STSv1\nmode : enforce\nmx: a.example\nmax_age: 5\n", -EINVAL,
         "line 2: not \"key: value\": \"mode : enforce\""},
        {"version: STSv1\n mode: enforce\nmx: a.example\nmax_age: 5\n", -EINVAL,
         "line 2: not \"key: value\": \" mode: enforce\""},
        {"version: STSv1\n_x: y\nmode: enforce\nmx: a.example\nmax_age: 5\n", -EINVAL,
         "line 2: not \"key: value\": \"_x: y\""},
        {"version: STSv1\nabcdefghijabcdefghijabcdefghij123: y\n", -EINVAL,
         "line 2: not \"key: value\": \"abcdefghijabcdefghijabcdefghij123: y\""},
        {"version: STSv1\nx: a\rb\nmode: enforce\nmx: a.example\nmax_age: 5\n", -EINVAL,
         "line 2: control character in the value"},
        {"version: STSv1\nmode: enforce\r\r\nmx: a.example\nmax_age: 5\n", -EINVAL,
         "line 2: control character in the value"},
        {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 5\r", -EINVAL,
         "line 4: control character in the value"},
        {"version: STSv1\nx: a\x7f\n", -EINVAL, "line 2: control character in the value"},
        /* bad mx patterns */
        {"version: STSv1\nmode: enforce\nmx: *\nmax_age: 5\n", -EINVAL,
         "line 3: bad mx pattern \"*\""},
        {"version: STSv1\nmode: enforce\nmx: *.\nmax_age: 5\n", -EINVAL,
         "line 3: bad mx pattern \"*.\""},
        {"version: STSv1\nmode: enforce\nmx: a.*.example\nmax_age: 5\n", -EINVAL,
         "line 3: bad mx pattern \"a.*.example\""},
        {"version: STSv1\nmode: enforce\nmx: **.example\nmax_age: 5\n", -EINVAL,
         "line 3: bad mx pattern \"**.example\""},
        {"version: STSv1\nmode: enforce\nmx: *example.com\nmax_age: 5\n", -EINVAL,
         "line 3: bad mx pattern \"*example.com\""},
        {"version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 5\n", -EINVAL,
         "line 3: bad mx pattern \"*.*.example\""},
        {"version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 5\n", -EINVAL,
         "line 3: bad mx pattern \"a..example\""},
        {"version: STSv1\nmode: enforce\nmx: .example\nmax_age: 5\n", -EINVAL,
         "line 3: bad mx pattern \".example\""},
        {"version: STSv1\nmode: enforce\nmx: mail.example.\nmax_age: 5\n", -EINVAL,
         "line 3: bad mx pattern \"mail.example.\""},
        {"version: STSv1\nmode: enforce\nmx: -a.example\nmax_age: 5\n", -EINVAL,
         "line 3: bad mx pattern \"-a.example\""},
        {"version: STSv1\nmode: enforce\nmx: a-.example\nmax_age: 5\n", -EINVAL,
         "line 3: bad mx pattern \"a-.example\""},
        {"version: STSv1\nmode: enforce\nmx: a_b.example\nmax_age: 5\n", -EINVAL,
         "line 3: bad mx pattern \"a_b.example\""},
        {"version: STSv1\nmode: enforce\nmx: a b.example\nmax_age: 5\n", -EINVAL,
         "line 3: bad mx pattern \"a b.example\""},
        {"version: STSv1\nmode: enforce\nmx: b\xc3\xbc"
         "cher.example\nmax_age: 5\n",
         -EINVAL, "line 3: bad mx pattern \"b??cher.example\""},
        {"version: STSv1\nmode: enforce\nmx:\nmax_age: 5\n", -EINVAL,
         "line 3: bad mx pattern \"\""},
        {"version: STSv1\nmode: enforce\nmx: a.example, b.example\nmax_age: 5\n", -EINVAL,
         "line 3: bad mx pattern \"a.example, b.example\""},
        {"version: STSv1\nmode: enforce\n"
         "mx: abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234.example\n",
         -EINVAL, "line 3: bad mx pattern \"abcdefghijabcdefghijabcdefghijabcdefghij...\""},
    };
    struct sts_policy p;
    char err[256];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = sts_policy_parse(cases[i].body, strlen(cases[i].body), &p, err, sizeof err);

        if (rc != cases[i].rc)
            fprintf(stderr, "case %zu\n", i);
        CHECK_INT(rc, cases[i].rc);
        CHECK_STR(err, cases[i].err);
        /* No half policy is left behind. */
        CHECK_INT(p.nmx, 0);
        CHECK_INT(p.max_age, 0);
        CHECK_INT(p.mode, STS_MODE_NONE);
    }
    /* A NUL is a control character. */
    CHECK_INT(sts_policy_parse("version: STSv1\nx: a\0b\n", 22, &p, err, sizeof err), -EINVAL);
    CHECK_STR(err, "line 2: control character in the value");
    /* err may be NULL */
    CHECK_INT(sts_policy_parse("", 0, &p, NULL, 0), -EINVAL);
}

/* Builds a policy text with n mx lines and optional padding. */
static char *policy_with(size_t nmx, size_t names_len, size_t pad)
{
    size_t cap = 256 + nmx * 300 + pad, used;
    char *b = malloc(cap);

    if (!b)
        return NULL;
    used = (size_t)snprintf(b, cap, "version: STSv1\nmode: enforce\nmax_age: 60\n");
    for (size_t i = 0; i < nmx; i++) {
        /* "mx: mNNN." then labels of "a" to names_len characters in all */
        int n = snprintf(b + used, cap - used, "mx: m%03zu", i);
        size_t name = (size_t)n - 4;

        used += (size_t)n;
        while (name + 2 <= names_len) {
            size_t lab = names_len - name - 1 > 63 ? 63 : names_len - name - 1;

            b[used++] = '.';
            memset(b + used, 'a', lab);
            used += lab;
            name += lab + 1;
        }
        b[used++] = '\n';
    }
    if (pad) {
        used += (size_t)snprintf(b + used, cap - used, "pad: ");
        memset(b + used, 'x', pad);
        used += pad;
        b[used++] = '\n';
    }
    b[used] = '\0';
    return b;
}

static void test_policy_bounds(void)
{
    struct sts_policy p;
    char err[256], *b;

    b = policy_with(STS_MX_MAX, 253, 0);
    CHECK_INT(sts_policy_parse(b, strlen(b), &p, err, sizeof err), 0);
    CHECK_INT(p.nmx, STS_MX_MAX);
    CHECK_INT(strlen(p.mx[STS_MX_MAX - 1]), 253);
    free(b);

    b = policy_with(STS_MX_MAX + 1, 20, 0);
    CHECK_INT(sts_policy_parse(b, strlen(b), &p, err, sizeof err), -EMSGSIZE);
    CHECK_STR(err, "line 36: more than 32 mx patterns");
    free(b);

    b = policy_with(1, 254, 0); /* a name over 253 octets */
    CHECK_INT(sts_policy_parse(b, strlen(b), &p, err, sizeof err), -EINVAL);
    free(b);

    /* Exactly STS_POLICY_MAX is fine; one more is not. */
    b = policy_with(1, 20, 0);
    {
        size_t base = strlen(b) + 6; /* "pad: " and "\n" */
        char *big = policy_with(1, 20, STS_POLICY_MAX - base);

        CHECK_INT(strlen(big), STS_POLICY_MAX);
        CHECK_INT(sts_policy_parse(big, strlen(big), &p, err, sizeof err), 0);
        free(big);
        big = policy_with(1, 20, STS_POLICY_MAX - base + 1);
        CHECK_INT(sts_policy_parse(big, strlen(big), &p, err, sizeof err), -EMSGSIZE);
        CHECK_STR(err, "policy of 65537 bytes is over 65536");
        free(big);
    }
    free(b);
}

/* ---- MX matching ---- */

static void test_mx_match(void)
{
    static const char body[] = "version: STSv1\nmode: enforce\nmx: mail.example.com\n"
                               "mx: *.example.net\nmx: *.Mixed.Example\nmax_age: 60\n";
    static const struct {
        const char *host;
        int match;
    } cases[] = {
        {"mail.example.com", 1},
        {"MAIL.Example.COM", 1},
        {"mail.example.com.", 1},
        {"mail.example.com..", 0},
        {"x.mail.example.com", 0},
        {"ail.example.com", 0},
        {"mail.example.co", 0},
        {"example.com", 0},
        /* RFC 8461 4.1: the wildcard is one leftmost label */
        {"mx1.example.net", 1},
        {"MX1.EXAMPLE.NET.", 1},
        {"a.b.example.net", 0},
        {"example.net", 0},
        {".example.net", 0},
        {"xexample.net", 0},
        {"mx1example.net", 0},
        {"mx1.example.net.evil", 0},
        {"a.mixed.example", 1},
        {"", 0},
        {".", 0},
        {"*.example.net", 1}, /* "*" is just a label here */
    };
    struct sts_policy p;
    char err[256];

    CHECK_INT(sts_policy_parse(body, strlen(body), &p, err, sizeof err), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (sts_mx_match(&p, cases[i].host) != cases[i].match)
            fprintf(stderr, "host \"%s\"\n", cases[i].host);
        CHECK_INT(sts_mx_match(&p, cases[i].host), cases[i].match);
    }

    /* The example of 4.1 itself. */
    static const char rfc[] = "version: STSv1\nmode: enforce\nmx: *.example.com\nmax_age: 60\n";
    CHECK_INT(sts_policy_parse(rfc, strlen(rfc), &p, err, sizeof err), 0);
    CHECK_INT(sts_mx_match(&p, "mx1.example.com"), 1);
    CHECK_INT(sts_mx_match(&p, "a.b.example.com"), 0);
    CHECK_INT(sts_mx_match(&p, "example.com"), 0);

    /* mode none with no patterns matches nothing. */
    static const char none[] = "version: STSv1\nmode: none\nmax_age: 60\n";
    CHECK_INT(sts_policy_parse(none, strlen(none), &p, err, sizeof err), 0);
    CHECK_INT(sts_mx_match(&p, "mx1.example.com"), 0);
}

/* ---- cache format ---- */

static void test_encode_decode(void)
{
    struct sts_policy p, q;
    char buf[STS_ENCODED_MAX], err[256], *b;
    int n;

    CHECK_INT(sts_policy_parse(rfc_policy, strlen(rfc_policy), &p, err, sizeof err), 0);
    snprintf(p.id, sizeof p.id, "20160831085700Z");
    p.fetched = 1700000000;
    n = sts_policy_encode(&p, buf, sizeof buf);
    CHECK_STR(buf, "sts1 enforce 604800 1700000000 20160831085700Z\n"
                   "mail.example.com\n*.example.net\nbackupmx.example.com\n");
    CHECK_INT(n, strlen(buf));
    CHECK_INT(sts_policy_decode(buf, (size_t)n, &q), 0);
    CHECK(memcmp(&p, &q, sizeof p) == 0);

    /* Too small: exactly the length needs one more for the NUL. */
    CHECK_INT(sts_policy_encode(&p, buf, (size_t)n), -ENOSPC);
    CHECK_INT(sts_policy_encode(&p, buf, 10), -ENOSPC);
    CHECK_INT(sts_policy_encode(&p, buf, (size_t)n + 1), n);

    /* No id, mode none without patterns, fetched 0. */
    memset(&p, 0, sizeof p);
    p.mode = STS_MODE_NONE;
    p.max_age = 0;
    n = sts_policy_encode(&p, buf, sizeof buf);
    CHECK_STR(buf, "sts1 none 0 0 -\n");
    CHECK_INT(sts_policy_decode(buf, (size_t)n, &q), 0);
    CHECK(memcmp(&p, &q, sizeof p) == 0);

    /* The largest policy fits STS_ENCODED_MAX and comes back the same. */
    b = policy_with(STS_MX_MAX, 253, 0);
    CHECK_INT(sts_policy_parse(b, strlen(b), &p, err, sizeof err), 0);
    free(b);
    memset(p.id, 'Z', STS_ID_MAX - 1);
    p.fetched = INT64_MAX;
    n = sts_policy_encode(&p, buf, sizeof buf);
    CHECK(n > 0);
    CHECK_INT(sts_policy_decode(buf, (size_t)n, &q), 0);
    CHECK(memcmp(&p, &q, sizeof p) == 0);

    /* What encode refuses. */
    static const char one[] = "version: STSv1\nmode: testing\nmx: a.example\nmax_age: 60\n";
    CHECK_INT(sts_policy_parse(one, strlen(one), &p, err, sizeof err), 0);
    q = p;
    q.mode = (enum sts_mode)7;
    CHECK_INT(sts_policy_encode(&q, buf, sizeof buf), -EINVAL);
    q = p;
    q.max_age = STS_MAX_AGE_MAX + 1;
    CHECK_INT(sts_policy_encode(&q, buf, sizeof buf), -EINVAL);
    q = p;
    q.fetched = -1;
    CHECK_INT(sts_policy_encode(&q, buf, sizeof buf), -EINVAL);
    q = p;
    q.nmx = 0;
    CHECK_INT(sts_policy_encode(&q, buf, sizeof buf), -EINVAL);
    q = p;
    q.nmx = STS_MX_MAX + 1;
    CHECK_INT(sts_policy_encode(&q, buf, sizeof buf), -EINVAL);
    q = p;
    snprintf(q.id, sizeof q.id, "a-b");
    CHECK_INT(sts_policy_encode(&q, buf, sizeof buf), -EINVAL);
    q = p;
    memset(q.id, 'a', sizeof q.id); /* no NUL */
    CHECK_INT(sts_policy_encode(&q, buf, sizeof buf), -EINVAL);
    q = p;
    snprintf(q.mx[0], sizeof q.mx[0], "A.example");
    CHECK_INT(sts_policy_encode(&q, buf, sizeof buf), -EINVAL);
    q = p;
    snprintf(q.mx[0], sizeof q.mx[0], "a\nb");
    CHECK_INT(sts_policy_encode(&q, buf, sizeof buf), -EINVAL);
}

static void test_decode_garbage(void)
{
    static const char *const cases[] = {
        "",
        "\n",
        "sts1\n",
        "sts2 enforce 60 0 -\na.example\n",
        "STS1 enforce 60 0 -\na.example\n",
        "sts1 enforce 60 0 -",               /* no newline */
        "sts1 enforce 60 0 -\na.example",    /* pattern without newline */
        "sts1 Enforce 60 0 -\na.example\n",  /* mode */
        "sts1 strict 60 0 -\na.example\n",   /* mode */
        "sts1 enforce 060 0 -\na.example\n", /* leading zero */
        "sts1 enforce 60 00 -\na.example\n", /* leading zero */
        "sts1 enforce 31557601 0 -\na.example\n",
        "sts1 enforce -1 0 -\na.example\n",
        "sts1 enforce 60 -5 -\na.example\n",
        "sts1 enforce 60 9223372036854775808 -\na.example\n", /* over INT64_MAX */
        "sts1 enforce 60 99999999999999999999 -\na.example\n",
        "sts1 enforce 60 0 a-b\na.example\n", /* id */
        "sts1 enforce 60 0 \na.example\n",    /* empty id */
        "sts1 enforce 60 0 123456789012345678901234567890123\na.example\n",
        "sts1  enforce 60 0 -\na.example\n",  /* two spaces */
        "sts1 enforce 60 0 - \na.example\n",  /* trailing space */
        "sts1 enforce 60 0\na.example\n",     /* a field missing */
        "sts1 enforce 60 0 - x\na.example\n", /* a field too many */
        "sts1 enforce 60 0 -\r\na.example\n", /* CRLF */
        "sts1 enforce 60 0 -\n",              /* enforce without patterns */
        "sts1 enforce 60 0 -\nA.example\n",   /* not lower case */
        "sts1 enforce 60 0 -\na..example\n",
        "sts1 enforce 60 0 -\n\n", /* empty pattern */
        "sts1 enforce 60 0 -\na.example\n\n",
        "sts1 enforce 60 0 -\n*\n",
    };
    struct sts_policy p;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (sts_policy_decode(cases[i], strlen(cases[i]), &p) != -EINVAL)
            fprintf(stderr, "garbage case %zu decoded\n", i);
        CHECK_INT(sts_policy_decode(cases[i], strlen(cases[i]), &p), -EINVAL);
    }
    /* A NUL anywhere. */
    CHECK_INT(sts_policy_decode("sts1 enforce 60 0 -\na.ex\0ample\n", 31, &p), -EINVAL);
    CHECK_INT(sts_policy_decode("sts1 none 60 0 -\n\0", 18, &p), -EINVAL);
    /* Too many patterns. */
    {
        char buf[STS_ENCODED_MAX + 64];
        size_t used = (size_t)snprintf(buf, sizeof buf, "sts1 enforce 60 0 -\n");

        for (int i = 0; i <= STS_MX_MAX; i++)
            used += (size_t)snprintf(buf + used, sizeof buf - used, "m%d.example\n", i);
        CHECK_INT(sts_policy_decode(buf, used, &p), -EINVAL);
        CHECK_INT(sts_policy_decode(buf, used - strlen("m32.example\n"), &p), 0);
        CHECK_INT(p.nmx, STS_MX_MAX);
    }
}

static void test_expired(void)
{
    struct sts_policy p;

    memset(&p, 0, sizeof p);
    p.fetched = 1000;
    p.max_age = 100;
    CHECK_INT(sts_policy_expired(&p, 1099), 0);
    CHECK_INT(sts_policy_expired(&p, 1100), 1);
    CHECK_INT(sts_policy_expired(&p, 5000), 1);
    CHECK_INT(sts_policy_expired(&p, 10), 0); /* the clock went back */
    p.max_age = 0;
    CHECK_INT(sts_policy_expired(&p, 1000), 1);
    p.fetched = INT64_MAX - 5;
    p.max_age = STS_MAX_AGE_MAX;
    CHECK_INT(sts_policy_expired(&p, INT64_MAX), 0);
    p.fetched = 0;
    CHECK_INT(sts_policy_expired(&p, INT64_MAX), 1);
    CHECK_STR(sts_mode_name(STS_MODE_TESTING), "testing");
}

/* ---- HTTP responses ---- */

#define OK_HEAD "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"

/* Feeds resp whole (step 0) or in pieces of step bytes, then the end of
 * the connection (clean or not) if the response is not complete yet. */
static int http_read(const char *resp, size_t len, size_t step, int clean, char **body,
                     size_t *blen, char *err, size_t errlen)
{
    struct sts_http *h = malloc(sizeof *h);
    size_t off = 0;
    int rc = 0;

    *body = NULL;
    *blen = 0;
    err[0] = '\0';
    if (!h)
        return -ENOMEM;
    sts_http_init(h);
    while (off < len && rc == 0) {
        size_t n = step == 0 || step > len - off ? len - off : step;

        rc = sts_http_feed(h, resp + off, n, err, errlen);
        off += n;
    }
    if (rc == 0)
        rc = sts_http_end(h, clean, err, errlen);
    if (rc == 1)
        rc = sts_http_take_body(h, body, blen);
    sts_http_free(h);
    free(h);
    return rc;
}

static void test_http(void)
{
    static const struct {
        const char *resp;
        int clean;
        int rc;
        const char *body_or_err;
    } cases[] = {
        {OK_HEAD "Content-Length: 5\r\n\r\nhello", 0, 0, "hello"},
        {OK_HEAD "Content-Length: 5\r\n\r\nhello and junk after", 0, 0, "hello"},
        {OK_HEAD "Content-Length: 0\r\n\r\n", 0, 0, ""},
        {"HTTP/1.0 200 OK\nContent-type: TEXT/PLAIN; charset=utf-8\ncontent-length:  3 \n\nabc", 0,
         0, "abc"},
        {"HTTP/1.1 200\r\nContent-Type: text/plain ;charset=x\r\nContent-Length: 2\r\n\r\nhi", 0, 0,
         "hi"},
        {OK_HEAD "Content-Encoding: identity\r\nContent-Length: 2\r\n\r\nhi", 0, 0, "hi"},
        {OK_HEAD "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1;ext=\"x\"\r\n!\r\n0\r\n\r\n", 0,
         0, "hello!"},
        {OK_HEAD "Transfer-Encoding: Chunked\r\n\r\nA \r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n", 0, 0,
         "0123456789"},
        {OK_HEAD "Transfer-Encoding: chunked\n\n3\nabc\n0\n\n", 0, 0, "abc"},
        {OK_HEAD "\r\nuntil the end", 1, 0, "until the end"},
        {OK_HEAD "\r\n", 1, 0, ""},
        /* errors */
        {OK_HEAD "\r\nuntil the end", 0, -EPROTO,
         "connection closed without TLS close_notify: the body may be truncated"},
        {"HTTP/1.1 301 Moved Permanently\r\nLocation: https://x.example/\r\n\r\n", 0, -EPROTO,
         "redirect not followed: HTTP 301 to \"https://x.example/\""},
        {"HTTP/1.1 302 Found\r\n\r\n", 0, -EPROTO, "redirect not followed: HTTP 302 to \"\""},
        {"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n\r\n", 0, -EPROTO,
         "HTTP status 404 Not Found"},
        {"HTTP/1.1 500 \x1b[31mred\r\n\r\n", 0, -EPROTO,
         "control character in the response header"},
        {"HTTP/1.1 100 Continue\r\n\r\n", 0, -EPROTO, "HTTP status 100 Continue"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 0, -EPROTO,
         "no Content-Type in the response"},
        {"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nhi", 0, -EPROTO,
         "Content-Type \"text/html\" is not text/plain"},
        {"HTTP/1.1 200 OK\r\nContent-Type: text/plainx\r\nContent-Length: 2\r\n\r\nhi", 0, -EPROTO,
         "Content-Type \"text/plainx\" is not text/plain"},
        {OK_HEAD "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi", 0, -EPROTO,
         "repeated Content-Type"},
        {OK_HEAD "Content-Length: 2\r\nContent-Length: 2\r\n\r\nhi", 0, -EPROTO,
         "bad or repeated Content-Length \"2\""},
        {OK_HEAD "Content-Length: 2, 2\r\n\r\nhi", 0, -EPROTO,
         "bad or repeated Content-Length \"2, 2\""},
        {OK_HEAD "Content-Length: -1\r\n\r\nhi", 0, -EPROTO,
         "bad or repeated Content-Length \"-1\""},
        {OK_HEAD "Content-Length: 65537\r\n\r\n", 0, -EMSGSIZE,
         "Content-Length 65537 is over 65536"},
        {OK_HEAD "Content-Length: 99999999999999999999\r\n\r\n", 0, -EPROTO,
         "bad or repeated Content-Length \"99999999999999999999\""},
        {OK_HEAD "Content-Length: 10\r\n\r\nshort", 1, -EPROTO,
         "connection closed in the body after 5 bytes"},
        {OK_HEAD "Transfer-Encoding: gzip\r\n\r\n", 0, -EPROTO,
         "unsupported Transfer-Encoding \"gzip\""},
        {OK_HEAD "Transfer-Encoding: gzip, chunked\r\n\r\n", 0, -EPROTO,
         "unsupported Transfer-Encoding \"gzip, chunked\""},
        {OK_HEAD "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 0, -EPROTO,
         "both Content-Length and Transfer-Encoding in the response"},
        {OK_HEAD "Content-Encoding: gzip\r\nContent-Length: 2\r\n\r\nhi", 0, -EPROTO,
         "unsupported Content-Encoding \"gzip\""},
        {OK_HEAD "X-Long: a\r\n b\r\nContent-Length: 2\r\n\r\nhi", 0, -EPROTO,
         "folded header line (obsolete) in the response"},
        {OK_HEAD "No colon here\r\n\r\n", 0, -EPROTO, "bad header line \"No colon here\""},
        {OK_HEAD "Bad Name: x\r\n\r\n", 0, -EPROTO, "bad header line \"Bad Name: x\""},
        {OK_HEAD ": x\r\n\r\n", 0, -EPROTO, "bad header line \": x\""},
        {"HTTP/2 200 OK\r\n\r\n", 0, -EPROTO, "bad HTTP status line \"HTTP/2 200 OK\""},
        {"HTTP/1.1 20 OK\r\n\r\n", 0, -EPROTO, "bad HTTP status line \"HTTP/1.1 20 OK\""},
        {"HTTP/1.1 2000 OK\r\n\r\n", 0, -EPROTO, "bad HTTP status line \"HTTP/1.1 2000 OK\""},
        {"HTTP/1.1 600 X\r\n\r\n", 0, -EPROTO, "bad HTTP status line \"HTTP/1.1 600 X\""},
        {"ICY 200 OK\r\n\r\n", 0, -EPROTO, "bad HTTP status line \"ICY 200 OK\""},
        {"\r\n\r\n", 0, -EPROTO, "bad HTTP status line \"\""},
        {"", 1, -EPROTO, "connection closed before any response"},
        {"HTTP/1.1 200 OK\r\n", 0, -EPROTO, "connection closed in the response header"},
        {OK_HEAD "Transfer-Encoding: chunked\r\n\r\nzz\r\n", 0, -EPROTO, "bad chunk size line"},
        {OK_HEAD "Transfer-Encoding: chunked\r\n\r\n\r\n", 0, -EPROTO, "bad chunk size line"},
        {OK_HEAD "Transfer-Encoding: chunked\r\n\r\n5 x\r\n", 0, -EPROTO, "bad chunk size line"},
        {OK_HEAD "Transfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", 0, -EPROTO,
         "chunk not followed by CRLF"},
        {OK_HEAD "Transfer-Encoding: chunked\r\n\r\n10001\r\n", 0, -EMSGSIZE,
         "chunk over 65536 bytes"},
        {OK_HEAD "Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n", 0, -EMSGSIZE,
         "chunk over 65536 bytes"},
        {OK_HEAD "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", 1, -EPROTO,
         "connection closed in the body after 3 bytes"},
        {OK_HEAD "Transfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n", 1, -EPROTO,
         "connection closed in the body after 0 bytes"},
    };
    char err[256], *body;
    size_t blen;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = strlen(cases[i].resp);

        /* Whole, and one byte at a time: TCP cuts anywhere. */
        for (size_t step = 0; step <= 1; step++) {
            int rc =
                http_read(cases[i].resp, len, step, cases[i].clean, &body, &blen, err, sizeof err);

            if (rc != cases[i].rc)
                fprintf(stderr, "http case %zu step %zu: %s\n", i, step, err);
            CHECK_INT(rc, cases[i].rc);
            if (rc == 0) {
                CHECK_MEM(body, blen, cases[i].body_or_err);
                CHECK_INT(body[blen], '\0');
            } else {
                CHECK_STR(err, cases[i].body_or_err);
                CHECK(body == NULL);
            }
            free(body);
        }
    }
}

static void test_http_bounds(void)
{
    size_t cap = STS_POLICY_MAX * 8 + STS_HTTP_HEAD_MAX * 2, used;
    char *r = malloc(cap), err[256], *body;
    size_t blen;

    if (!r) {
        CHECK(r != NULL);
        return;
    }
    /* A header of exactly STS_HTTP_HEAD_MAX bytes is read; one more is not. */
    for (int extra = 0; extra <= 1; extra++) {
        used = (size_t)snprintf(r, cap, OK_HEAD "Content-Length: 1\r\nX-Pad: ");
        size_t pad = STS_HTTP_HEAD_MAX - used - 4 + (size_t)extra;

        memset(r + used, 'p', pad);
        used += pad;
        used += (size_t)snprintf(r + used, cap - used, "\r\n\r\nZ");
        CHECK_INT(http_read(r, used, 0, 0, &body, &blen, err, sizeof err), extra ? -EMSGSIZE : 0);
        CHECK_STR(extra ? err : "", extra ? "response header over 16384 bytes" : "");
        free(body);
    }

    /* A body of STS_POLICY_MAX in 1-byte chunks (6 times as many bytes on
     * the wire): read, since only the decoded body is bounded. */
    used = (size_t)snprintf(r, cap, OK_HEAD "Transfer-Encoding: chunked\r\n\r\n");
    for (size_t i = 0; i < STS_POLICY_MAX; i++) {
        memcpy(r + used, "1\r\nx\r\n", 6);
        used += 6;
    }
    memcpy(r + used, "0\r\n\r\n", 5);
    CHECK_INT(http_read(r, used + 5, 0, 0, &body, &blen, err, sizeof err), 0);
    CHECK_INT(blen, STS_POLICY_MAX);
    free(body);
    /* One byte more is too much. */
    memcpy(r + used, "1\r\nx\r\n0\r\n\r\n", 11);
    CHECK_INT(http_read(r, used + 11, 0, 0, &body, &blen, err, sizeof err), -EMSGSIZE);
    CHECK_STR(err, "body over 65536 bytes");

    /* Close-delimited: STS_POLICY_MAX is fine, one more is not. */
    used = (size_t)snprintf(r, cap, OK_HEAD "\r\n");
    memset(r + used, 'b', STS_POLICY_MAX + 1);
    CHECK_INT(http_read(r, used + STS_POLICY_MAX, 0, 1, &body, &blen, err, sizeof err), 0);
    CHECK_INT(blen, STS_POLICY_MAX);
    free(body);
    CHECK_INT(http_read(r, used + STS_POLICY_MAX + 1, 0, 1, &body, &blen, err, sizeof err),
              -EMSGSIZE);

    /* Trailers are bounded too. */
    used = (size_t)snprintf(r, cap, OK_HEAD "Transfer-Encoding: chunked\r\n\r\n0\r\n");
    for (int i = 0; i < 200; i++)
        used += (size_t)snprintf(r + used, cap - used, "X-T: %0200d\r\n", i);
    CHECK_INT(http_read(r, used, 0, 0, &body, &blen, err, sizeof err), -EMSGSIZE);
    CHECK_STR(err, "trailer over 16384 bytes");
    /* and their lines */
    used = (size_t)snprintf(r, cap, OK_HEAD "Transfer-Encoding: chunked\r\n\r\n0\r\nX: ");
    memset(r + used, 'l', 300);
    CHECK_INT(http_read(r, used + 300, 0, 0, &body, &blen, err, sizeof err), -EPROTO);
    CHECK_STR(err, "chunk line over 256 bytes");
    free(r);

    /* After an error every feed fails; take_body needs a complete response. */
    struct sts_http *h = malloc(sizeof *h);

    if (h) {
        sts_http_init(h);
        CHECK_INT(sts_http_take_body(h, &body, &blen), -EINVAL);
        CHECK_INT(sts_http_feed(h, "HTTP/1.1 404 X\r\n\r\n", 18, err, sizeof err), -EPROTO);
        CHECK_INT(sts_http_feed(h, OK_HEAD, strlen(OK_HEAD), err, sizeof err), -EPROTO);
        CHECK_INT(sts_http_end(h, 1, err, sizeof err), -EPROTO);
        sts_http_free(h);
        free(h);
    }
}

/* ---- sts_fetch without a server ---- */

/* A listening TCP socket on 127.0.0.1 that never accepts; its port in *sin. */
static int listener(struct sockaddr_in *sin, int backlog)
{
    socklen_t slen = sizeof *sin;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    memset(sin, 0, sizeof *sin);
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)sin, sizeof *sin) != 0 || listen(fd, backlog) != 0 ||
        getsockname(fd, (struct sockaddr *)sin, &slen) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_fetch_failures(void)
{
    static const char *const bundles[] = {"/etc/ssl/certs/ca-certificates.crt",
                                          "/etc/pki/tls/certs/ca-bundle.crt"};
    struct tls_trust *trust = NULL;
    struct sockaddr_in sin;
    struct sockaddr_storage unix_addr = {.ss_family = AF_UNIX};
    char err[512], *body = (char *)"x";
    size_t len = 1;
    int64_t t0;
    int fd, rc;

    for (size_t i = 0; i < sizeof bundles / sizeof bundles[0] && !trust; i++)
        if (tls_trust_load(bundles[i], &trust, err, sizeof err) != 0)
            trust = NULL;

    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons(443);
    CHECK_INT(
        sts_fetch((struct sockaddr *)&sin, "example.com", NULL, 1000, &body, &len, err, sizeof err),
        -EINVAL);
    CHECK_STR(err, "no trust anchors");
    CHECK(body == NULL && len == 0);
    CHECK_INT(sts_fetch((struct sockaddr *)&unix_addr, "example.com", trust, 1000, &body, &len, err,
                        sizeof err),
              -EAFNOSUPPORT);
    if (!trust) {
        fprintf(stderr, "test_sts: no CA bundle loaded: sts_fetch socket tests skipped\n");
        return;
    }
    CHECK_INT(sts_fetch((struct sockaddr *)&sin, "exa mple.com", trust, 1000, &body, &len, err,
                        sizeof err),
              -EINVAL);
    CHECK_STR(err, "bad policy domain \"exa mple.com\"");
    CHECK_INT(sts_fetch((struct sockaddr *)&sin, "example.com\r\nX: y", trust, 1000, &body, &len,
                        err, sizeof err),
              -EINVAL);

    /* Refused: a port that was just bound, never listened on. */
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        socklen_t slen = sizeof sin;

        sin.sin_port = 0;
        if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 &&
            getsockname(fd, (struct sockaddr *)&sin, &slen) == 0) {
            rc = sts_fetch((struct sockaddr *)&sin, "example.com", trust, 2000, &body, &len, err,
                           sizeof err);
            CHECK_INT(rc, -ECONNREFUSED);
            CHECK(strstr(err, "connect to mta-sts.example.com (127.0.0.1:") != NULL);
        }
        close(fd);
    }

    /* Handshake timeout: the server accepts (in the kernel) but never answers. */
    fd = listener(&sin, 4);
    if (fd >= 0) {
        t0 = now_ms();
        rc = sts_fetch((struct sockaddr *)&sin, "Example.COM.", trust, 300, &body, &len, err,
                       sizeof err);
        CHECK_INT(rc, -ETIMEDOUT);
        CHECK(strstr(err, "TLS handshake with mta-sts.example.com") != NULL);
        CHECK(strstr(err, "timed out after 300 ms") != NULL);
        CHECK(now_ms() - t0 >= 290 && now_ms() - t0 < 3000);
        close(fd);
    }

    /* Connect timeout: a listener whose accept queue is full drops SYNs. */
    fd = listener(&sin, 0);
    if (fd >= 0) {
        int fill[2] = {-1, -1};

        /* Linux lets backlog + 1 connections wait; fill them. */
        for (int i = 0; i < 2; i++) {
            fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            if (fill[i] >= 0)
                (void)connect(fill[i], (struct sockaddr *)&sin, sizeof sin);
        }
        usleep(50000);
        t0 = now_ms();
        rc = sts_fetch((struct sockaddr *)&sin, "example.com", trust, 300, &body, &len, err,
                       sizeof err);
        CHECK_INT(rc, -ETIMEDOUT);
        if (rc != -ETIMEDOUT)
            fprintf(stderr, "connect timeout: %s\n", err);
        CHECK(now_ms() - t0 >= 290 && now_ms() - t0 < 3000);
        for (int i = 0; i < 2; i++)
            if (fill[i] >= 0)
                close(fill[i]);
        close(fd);
    }
    tls_trust_free(trust);
}

int main(void)
{
    test_txt_parse();
    test_txt_select();
    test_policy_valid();
    test_policy_invalid();
    test_policy_bounds();
    test_mx_match();
    test_encode_decode();
    test_decode_garbage();
    test_expired();
    test_http();
    test_http_bounds();
    test_fetch_failures();
    CHECK_DONE();
}
