/*
 * test_aliases.c - unit tests for aliases.c: aliases(5) parsing, errors
 * with file and line, and expansion (case, self-reference, loops, depth,
 * duplicates, unsupported targets). Files live in a mkdtemp() directory
 * that is removed at the end.
 */
#include "aliases.h"
#include "check.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#define DOMAIN "example.org"

/* Writes len octets of content to dir/name; path receives the file name. */
static void write_file(const char *dir, const char *name, const char *content, size_t len,
                       char *path, size_t pathlen)
{
    FILE *f;

    snprintf(path, pathlen, "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (!f || fwrite(content, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(99);
    }
}

static void remove_dir(const char *dir)
{
    char path[512];
    DIR *d = opendir(dir);
    struct dirent *de;

    if (!d)
        return;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

struct result {
    char got[2048];    /* addresses joined by '|' */
    char warned[4096]; /* warnings joined by '\n' */
    int calls;
    int stop_at; /* return 42 from this call (1-based); 0 never */
};

static void append(char *buf, size_t size, const char *sep, const char *text)
{
    size_t len = strlen(buf);

    snprintf(buf + len, size - len, "%s%s", len ? sep : "", text);
}

static int result_cb(void *arg, const char *addr)
{
    struct result *r = arg;

    append(r->got, sizeof r->got, "|", addr);
    r->calls++;
    return r->calls == r->stop_at ? 42 : 0;
}

static void result_warn(void *arg, const char *text)
{
    struct result *r = arg;

    append(r->warned, sizeof r->warned, "\n", text);
}

static const char main_file[] =
    "# aliases for test_aliases\n"
    "root: root, admin@example.com\n"
    "PostMaster: root\n"
    "abuse:\tpostmaster\n"
    "staff: alice, bob@example.com,\n"
    "\tcarol,\n"
    "# a comment between continuation lines\n"
    "\n"
    "  # an indented comment\n"
    "\tdave@Example.COM\n"
    "list: staff, bob@EXAMPLE.com, alice, list\n"
    "\"team lead\": lead@example.com\n"
    "pipe: |/usr/bin/procmail, \"|/usr/bin/vacation -a x, y\", /var/mail/archive,\n"
    " :include:/etc/mail/list, kept@example.com, \"/var/mail/with space\"\n"
    "onlypipe: \"|/bin/true\"\n"
    "loop-a: loop-b\n"
    "loop-b: loop-c\n"
    "loop-c: loop-a, c@example.com\n"
    "noalias: \\noalias, n@example.com\n"
    "j\xc3\xb6rg: joerg@example.de\n"
    "crlf: x@example.com,\r\n"
    " y@example.com\r\n"
    "commas: , , z@example.com,\n"
    "quoted-target: \"a b\", \"c@d\"@example.com\n"
    "tabs\t:\tt@example.com\n"
    "last-line-without-newline: eof@example.com";

#define PIPE_WARNINGS                                                                              \
    "alias pipe: command target skipped (no local delivery): |/usr/bin/procmail\n"                 \
    "alias pipe: command target skipped (no local delivery): \"|/usr/bin/vacation -a x, y\"\n"     \
    "alias pipe: file target skipped (no local delivery): /var/mail/archive\n"                     \
    "alias pipe: :include: target skipped (no local delivery): :include:/etc/mail/list\n"          \
    "alias pipe: file target skipped (no local delivery): \"/var/mail/with space\""

struct expand_case {
    const char *name;
    int rc;
    const char *want;   /* addresses joined by '|' */
    const char *warned; /* warnings joined by '\n' */
};

static const struct expand_case expand_cases[] = {
    {"root", 0, "root@example.org|admin@example.com", ""},
    {"ROOT", 0, "root@example.org|admin@example.com", ""},
    {"\"root\"", 0, "root@example.org|admin@example.com", ""},
    {"postmaster", 0, "root@example.org|admin@example.com", ""},
    {"abuse", 0, "root@example.org|admin@example.com", ""},
    {"staff", 0, "alice@example.org|bob@example.com|carol@example.org|dave@Example.COM", ""},
    {"list", 0,
     "alice@example.org|bob@example.com|carol@example.org|dave@Example.COM|list@example.org", ""},
    {"\"team lead\"", 0, "lead@example.com", ""},
    {"\"Team Lead\"", 0, "lead@example.com", ""},
    {"pipe", 0, "kept@example.com", PIPE_WARNINGS},
    {"onlypipe", -ENOENT, "",
     "alias onlypipe: command target skipped (no local delivery): \"|/bin/true\""},
    {"loop-a", 0, "loop-a@example.org|c@example.com", ""},
    {"loop-b", 0, "loop-b@example.org|c@example.com", ""},
    {"loop-c", 0, "loop-c@example.org|c@example.com", ""},
    {"noalias", 0, "noalias@example.org|n@example.com", ""},
    {"j\xc3\xb6rg", 0, "joerg@example.de", ""},
    {"J\xc3\xb6RG", 0, "joerg@example.de", ""},
    {"crlf", 0, "x@example.com|y@example.com", ""},
    {"commas", 0, "z@example.com", ""},
    {"quoted-target", 0, "\"a b\"@example.org|\"c@d\"@example.com", ""},
    {"tabs", 0, "t@example.com", ""},
    {"last-line-without-newline", 0, "eof@example.com", ""},
    {"nobody", 0, "nobody@example.org", ""},
    {"Nobody", 0, "Nobody@example.org", ""},
    {"|/bin/sh", 0, "|/bin/sh@example.org", ""}, /* a name, never a command */
    {"someone@else.example", 0, "someone@else.example", ""},
    {"root@example.org", 0, "root@example.org", ""}, /* has '@': not looked up */
    {"a b", -EINVAL, "", ""},
    {"", -EINVAL, "", ""},
    {"ro\x01ot", -EINVAL, "", ""},
    {"root@", -EINVAL, "", ""},
    {"\"root", -EINVAL, "", ""},
    {"j\xe9rg", -EINVAL, "", ""},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", -EINVAL, "", ""},
};

static void test_expand(const char *dir)
{
    char path[512], err[512];
    struct aliases *al = NULL;

    write_file(dir, "aliases", main_file, sizeof main_file - 1, path, sizeof path);
    CHECK_INT(aliases_load(&al, path, err, sizeof err), 0);
    CHECK_STR(err, "");
    CHECK(al != NULL);
    for (size_t i = 0; i < sizeof expand_cases / sizeof expand_cases[0]; i++) {
        const struct expand_case *c = &expand_cases[i];
        struct result r = {.stop_at = 0};
        int rc = aliases_expand(al, c->name, DOMAIN, result_cb, result_warn, &r);

        if (rc != c->rc || strcmp(r.got, c->want) != 0 || strcmp(r.warned, c->warned) != 0)
            fprintf(stderr, "expand case %zu: \"%s\"\n", i, c->name);
        CHECK_INT(rc, c->rc);
        CHECK_STR(r.got, c->want);
        CHECK_STR(r.warned, c->warned);
    }

    /* Without warn, unsupported targets are skipped silently. */
    {
        struct result r = {.stop_at = 0};

        CHECK_INT(aliases_expand(al, "pipe", DOMAIN, result_cb, NULL, &r), 0);
        CHECK_STR(r.got, "kept@example.com");
    }
    /* cb's value stops the expansion and is returned. */
    {
        struct result r = {.stop_at = 2};

        CHECK_INT(aliases_expand(al, "staff", DOMAIN, result_cb, NULL, &r), 42);
        CHECK_STR(r.got, "alice@example.org|bob@example.com");
        r.calls = 0;
        r.got[0] = '\0';
        r.stop_at = 1;
        CHECK_INT(aliases_expand(al, "x@example.com", DOMAIN, result_cb, NULL, &r), 42);
    }
    /* Qualification needs a usable domain. */
    {
        struct result r = {.stop_at = 0};

        CHECK_INT(aliases_expand(al, "nobody", NULL, result_cb, NULL, &r), -EINVAL);
        CHECK_INT(aliases_expand(al, "nobody", "bad domain", result_cb, NULL, &r), -EINVAL);
        CHECK_INT(aliases_expand(al, "staff", NULL, result_cb, NULL, &r), -EINVAL);
        CHECK_INT(r.calls, 0); /* nothing is handed out before the whole expansion worked */
        CHECK_INT(aliases_expand(al, "x@example.com", NULL, result_cb, NULL, &r), 0);
        CHECK_STR(r.got, "x@example.com");
    }
    CHECK_INT(aliases_expand(al, NULL, DOMAIN, result_cb, NULL, NULL), -EINVAL);
    CHECK_INT(aliases_expand(al, "root", DOMAIN, NULL, NULL, NULL), -EINVAL);
    aliases_free(al);

    /* No table at all: every bare name is qualified. */
    {
        struct result r = {.stop_at = 0};

        CHECK_INT(aliases_expand(NULL, "root", DOMAIN, result_cb, NULL, &r), 0);
        CHECK_STR(r.got, "root@example.org");
    }
    aliases_free(NULL);
}

static void test_missing_and_empty(const char *dir)
{
    char path[512], err[512];
    struct aliases *al = NULL;
    struct result r = {.stop_at = 0};

    snprintf(path, sizeof path, "%s/does-not-exist", dir);
    CHECK_INT(aliases_load(&al, path, err, sizeof err), 0);
    CHECK(al != NULL);
    CHECK_STR(err, "");
    CHECK_INT(aliases_expand(al, "root", DOMAIN, result_cb, NULL, &r), 0);
    CHECK_STR(r.got, "root@example.org");
    aliases_free(al);
    al = NULL;

    write_file(dir, "empty", "# only a comment\n\n", 18, path, sizeof path);
    CHECK_INT(aliases_load(&al, path, err, sizeof err), 0);
    CHECK(al != NULL);
    aliases_free(al);
    al = NULL;

    /* A directory is no aliases file. */
    CHECK_INT(aliases_load(&al, dir, err, sizeof err), -EINVAL);
    CHECK(al == NULL);
    {
        char want[600];

        snprintf(want, sizeof want, "%s: not a regular file", dir);
        CHECK_STR(err, want);
    }

    /* Over the size limit (a sparse file, so the test stays cheap). */
    {
        char want[600];
        int fd;

        snprintf(path, sizeof path, "%s/huge", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        CHECK(fd >= 0);
        CHECK_INT(ftruncate(fd, (4 << 20) + 1), 0);
        close(fd);
        CHECK_INT(aliases_load(&al, path, err, sizeof err), -EFBIG);
        CHECK(al == NULL);
        snprintf(want, sizeof want, "%s: larger than 4194304 bytes", path);
        CHECK_STR(err, want);
    }

    /* err may be NULL or too short: still no overflow. */
    write_file(dir, "short-err", "broken line\n", 12, path, sizeof path);
    CHECK_INT(aliases_load(&al, path, NULL, 0), -EINVAL);
    CHECK_INT(aliases_load(&al, path, err, 5), -EINVAL);
    CHECK_INT(strlen(err), 4);
    CHECK_INT(aliases_load(NULL, path, err, sizeof err), -EINVAL);
}

struct load_case {
    const char *content;
    size_t len;      /* 0: strlen(content) */
    const char *err; /* after "path" */
};

static const struct load_case load_cases[] = {
    {"root admin@example.com\n", 0, ":1: missing ':' after alias name"},
    {"\tcontinued@example.com\nroot: a@example.com\n", 0, ":1: continuation line without an alias"},
    {"# c\n\n  # indented comment\n continued@example.com\n", 0,
     ":4: continuation line without an alias"},
    {"# c\nroot: a@example.com\nother: b@example.com\nROOT: c@example.com\n", 0,
     ":4: duplicate alias \"ROOT\" (first on line 2)"},
    {"\"root\": a@example.com\nroot: b@example.com\n", 0,
     ":2: duplicate alias \"root\" (first on line 1)"},
    {"a: b@example..com\n", 0, ":1: invalid target \"b@example..com\": empty domain label"},
    {"a: b@example.com,\n  Name <c@example.com>\n", 0,
     ":2: invalid target \"Name <c@example.com>\": unquoted space"},
    {"a: b@exa\x01mple.com\n", 0, ":1: invalid target \"b@exa\x01mple.com\": control character"},
    {"a: j\xe9rg@example.com\n", 0, ":1: invalid target \"j\xe9rg@example.com\": invalid UTF-8"},
    {"a: \\bad name\n", 0, ":1: invalid target \"\\bad name\""},
    {"a: \"unterminated, b@example.com\n", 0, ":1: unbalanced quote"},
    {"\"a b: c@example.com\n", 0, ":1: unbalanced quote"},
    {"\"a b\" x: c@example.com\n", 0, ":1: missing ':' after alias name"},
    {"bad name: x@example.com\n", 0, ":1: invalid alias name \"bad name\""},
    {"x@example.com: y@example.com\n", 0, ":1: invalid alias name \"x@example.com\""},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: x@example.com\n", 0,
     ":1: invalid alias name "
     "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""},
    {": x@example.com\n", 0, ":1: missing alias name"},
    {"a:\n# nothing\nb: c@example.com\n", 0, ":1: alias \"a\" has no target"},
    {"a: , ,\n", 0, ":1: alias \"a\" has no target"},
    {"a: b@example.com\nlast:", 0, ":2: alias \"last\" has no target"},
    {"a: b@example.com\nc: d@e\0f\n", 25, ":2: NUL byte"},
};

static void test_load_errors(const char *dir)
{
    char path[512], err[512], want[1024];

    for (size_t i = 0; i < sizeof load_cases / sizeof load_cases[0]; i++) {
        const struct load_case *c = &load_cases[i];
        struct aliases *al = (struct aliases *)&al; /* must be reset to NULL */
        int rc;

        write_file(dir, "bad", c->content, c->len ? c->len : strlen(c->content), path, sizeof path);
        rc = aliases_load(&al, path, err, sizeof err);
        snprintf(want, sizeof want, "%s%s", path, c->err);
        if (rc != -EINVAL || strcmp(err, want) != 0)
            fprintf(stderr, "load case %zu\n", i);
        CHECK_INT(rc, -EINVAL);
        CHECK(al == NULL);
        CHECK_STR(err, want);
    }
}

/* d1: d2 ... dN: end@example.com, and d0: d1 on top. */
static void test_depth(const char *dir)
{
    char content[2048], path[512], err[512];
    size_t len = 0;
    struct aliases *al = NULL;

    for (int i = 1; i < 16; i++)
        len += (size_t)snprintf(content + len, sizeof content - len, "d%d: d%d\n", i, i + 1);
    len += (size_t)snprintf(content + len, sizeof content - len, "d16: end@example.com\n");
    len += (size_t)snprintf(content + len, sizeof content - len, "d0: d1\n");
    write_file(dir, "depth", content, len, path, sizeof path);
    CHECK_INT(aliases_load(&al, path, err, sizeof err), 0);
    {
        struct result r = {.stop_at = 0};

        CHECK_INT(aliases_expand(al, "d1", DOMAIN, result_cb, NULL, &r), 0); /* 16 levels */
        CHECK_STR(r.got, "end@example.com");
    }
    {
        struct result r = {.stop_at = 0};

        CHECK_INT(aliases_expand(al, "d0", DOMAIN, result_cb, NULL, &r), -ELOOP); /* 17 */
        CHECK_INT(r.calls, 0);
    }
    aliases_free(al);
    al = NULL;

    /*
     * Every level names the next four times: 4^15 walks if an alias were
     * expanded more than once. This test only ends if it is not.
     */
    len = 0;
    for (int i = 1; i < 16; i++)
        len += (size_t)snprintf(content + len, sizeof content - len,
                                "w%d: w%d, W%d, w%d, \"w%d\"\n", i, i + 1, i + 1, i + 1, i + 1);
    len += (size_t)snprintf(content + len, sizeof content - len, "w16: w1, end@example.com\n");
    write_file(dir, "wide", content, len, path, sizeof path);
    CHECK_INT(aliases_load(&al, path, err, sizeof err), 0);
    {
        struct result r = {.stop_at = 0};

        CHECK_INT(aliases_expand(al, "w1", DOMAIN, result_cb, NULL, &r), 0);
        CHECK_STR(r.got, "w1@example.org|end@example.com");
    }
    aliases_free(al);
}

int main(void)
{
    char dir[] = "/tmp/test_aliases.XXXXXX";

    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 99;
    }
    test_expand(dir);
    test_missing_and_empty(dir);
    test_load_errors(dir);
    test_depth(dir);
    remove_dir(dir);
    CHECK_DONE();
}
