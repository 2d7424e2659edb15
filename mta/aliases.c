/*
 * aliases.c - loads an aliases(5) file and expands bare local names.
 *
 * SECURITY: the file is root's and trusted not to be hostile, but it is
 * still read with a size limit and every name and target is checked with
 * address.h before it is stored. Names given to aliases_expand() come from
 * users and remote clients and are trusted for nothing. Expansion touches
 * each alias at most once, so a table cannot make it run away.
 */
#include "aliases.h"
#include "address.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ALIASES__FILE_MAX (4u << 20) /* far beyond any real aliases file */
#define ALIASES__DEPTH_MAX 16
#define ALIASES__WARN_MAX 512

enum aliases__kind {
    ALIASES__ADDRESS, /* local@domain */
    ALIASES__LOCAL,   /* bare name, looked up again */
    ALIASES__FINAL,   /* "\name": bare name, never looked up */
    ALIASES__COMMAND, /* "|command" */
    ALIASES__FILE,    /* "/file" */
    ALIASES__INCLUDE, /* ":include:/file" */
};

struct aliases__target {
    const char *text; /* points into aliases.text */
    enum aliases__kind kind;
};

struct aliases__entry {
    const char *name; /* unquoted; points into aliases.text */
    size_t line;
    size_t first; /* index of the first target */
    size_t count;
};

struct aliases {
    char *text; /* the file, cut in place into names and targets */
    struct aliases__entry *entry;
    size_t count;
    size_t entry_cap;
    struct aliases__target *target;
    size_t ntarget;
    size_t target_cap;
};

__attribute__((format(printf, 3, 4))) static void aliases__error(char *err, size_t errlen,
                                                                 const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int aliases__fold(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Alias names compare case-insensitively in ASCII only, whatever the locale. */
static int aliases__casecmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        int x = aliases__fold((unsigned char)*a), y = aliases__fold((unsigned char)*b);

        if (x != y || x == '\0')
            return x - y;
    }
}

static int aliases__entry_cmp(const void *a, const void *b)
{
    const struct aliases__entry *x = a, *y = b;

    return aliases__casecmp(x->name, y->name);
}

static int aliases__key_cmp(const void *key, const void *elem)
{
    const struct aliases__entry *e = elem;

    return aliases__casecmp(key, e->name);
}

/*
 * Copies a local part without its quotes and backslashes, so that "root"
 * and "\"root\"" find the same alias (RFC 5321 4.1.2 makes them equal).
 * dst may be src; it must hold strlen(src) + 1 octets.
 */
static void aliases__unquote(char *dst, const char *src)
{
    if (*src != '"') {
        memmove(dst, src, strlen(src) + 1);
        return;
    }
    for (src++; *src != '\0' && *src != '"'; src++) {
        if (*src == '\\' && src[1] != '\0')
            src++;
        *dst++ = *src;
    }
    *dst = '\0';
}

static bool aliases__has_prefix(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++)
        if (aliases__fold((unsigned char)*s) != aliases__fold((unsigned char)*prefix))
            return false;
    return true;
}

static int aliases__add_entry(struct aliases *al, const char *name, size_t line)
{
    if (al->count == al->entry_cap) {
        size_t cap = al->entry_cap ? al->entry_cap * 2 : 64;
        struct aliases__entry *grown = realloc(al->entry, cap * sizeof *grown);

        if (!grown)
            return -ENOMEM;
        al->entry = grown;
        al->entry_cap = cap;
    }
    al->entry[al->count++] =
        (struct aliases__entry){.name = name, .line = line, .first = al->ntarget, .count = 0};
    return 0;
}

/* Classifies text (one target, trimmed, NUL-terminated) and stores it. */
static int aliases__add_target(struct aliases *al, char *text, const char *path, size_t line,
                               char *err, size_t errlen)
{
    const char *body = text[0] == '"' ? text + 1 : text;
    const char *why = NULL;
    enum aliases__kind kind;

    if (body[0] == '|') {
        kind = ALIASES__COMMAND;
    } else if (body[0] == '/') {
        kind = ALIASES__FILE;
    } else if (aliases__has_prefix(body, ":include:")) {
        kind = ALIASES__INCLUDE;
    } else if (text[0] == '\\') {
        text++;
        kind = ALIASES__FINAL;
        if (address_validate_local(text) != 0) {
            aliases__error(err, errlen, "%s:%zu: invalid target \"\\%s\"", path, line, text);
            return -EINVAL;
        }
    } else if (address_validate(text, &why) == 0) {
        kind = ALIASES__ADDRESS;
    } else if (address_validate_local(text) == 0) {
        kind = ALIASES__LOCAL;
    } else {
        aliases__error(err, errlen, "%s:%zu: invalid target \"%s\": %s", path, line, text, why);
        return -EINVAL;
    }
    if (al->ntarget == al->target_cap) {
        size_t cap = al->target_cap ? al->target_cap * 2 : 128;
        struct aliases__target *grown = realloc(al->target, cap * sizeof *grown);

        if (!grown)
            return -ENOMEM;
        al->target = grown;
        al->target_cap = cap;
    }
    al->target[al->ntarget++] = (struct aliases__target){.text = text, .kind = kind};
    al->entry[al->count - 1].count++;
    return 0;
}

/*
 * Splits s at commas outside double quotes into targets of the last entry.
 * A line ends a target too: continuation lines need no trailing comma.
 */
static int aliases__parse_targets(struct aliases *al, char *s, const char *path, size_t line,
                                  char *err, size_t errlen)
{
    for (;;) {
        char *start, *stop;
        bool quoted = false, more;
        int rc;

        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '\0')
            return 0;
        if (*s == ',') {
            s++;
            continue;
        }
        for (start = s; *s != '\0'; s++) {
            if (quoted && *s == '\\' && s[1] != '\0')
                s++;
            else if (*s == '"')
                quoted = !quoted;
            else if (*s == ',' && !quoted)
                break;
        }
        if (quoted) {
            aliases__error(err, errlen, "%s:%zu: unbalanced quote", path, line);
            return -EINVAL;
        }
        more = *s == ',';
        for (stop = s; stop > start && (stop[-1] == ' ' || stop[-1] == '\t'); stop--)
            ;
        *stop = '\0';
        if ((rc = aliases__add_target(al, start, path, line, err, errlen)))
            return rc;
        if (!more)
            return 0;
        s++;
    }
}

static int aliases__close_entry(const struct aliases *al, const char *path, char *err,
                                size_t errlen)
{
    const struct aliases__entry *e;

    if (al->count == 0)
        return 0;
    e = &al->entry[al->count - 1];
    if (e->count > 0)
        return 0;
    aliases__error(err, errlen, "%s:%zu: alias \"%s\" has no target", path, e->line, e->name);
    return -EINVAL;
}

/* One physical line, NUL-terminated, without its line ending. */
static int aliases__parse_line(struct aliases *al, char *line, size_t lineno, const char *path,
                               char *err, size_t errlen)
{
    char *s = line, *name_end, *colon;
    int rc;

    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\0' || *s == '#')
        return 0;
    if (s != line) {
        if (al->count == 0) {
            aliases__error(err, errlen, "%s:%zu: continuation line without an alias", path, lineno);
            return -EINVAL;
        }
        return aliases__parse_targets(al, s, path, lineno, err, errlen);
    }
    if ((rc = aliases__close_entry(al, path, err, errlen)))
        return rc;

    if (line[0] == '"') {
        size_t i;

        for (i = 1; line[i] != '\0' && line[i] != '"'; i++)
            if (line[i] == '\\' && line[i + 1] != '\0')
                i++;
        if (line[i] == '\0') {
            aliases__error(err, errlen, "%s:%zu: unbalanced quote", path, lineno);
            return -EINVAL;
        }
        name_end = line + i + 1;
        for (colon = name_end; *colon == ' ' || *colon == '\t'; colon++)
            ;
        if (*colon != ':')
            colon = NULL;
    } else {
        colon = strchr(line, ':');
        name_end = colon;
        while (name_end && name_end > line && (name_end[-1] == ' ' || name_end[-1] == '\t'))
            name_end--;
    }
    if (!colon) {
        aliases__error(err, errlen, "%s:%zu: missing ':' after alias name", path, lineno);
        return -EINVAL;
    }
    *name_end = '\0';
    if (line[0] == '\0') {
        aliases__error(err, errlen, "%s:%zu: missing alias name", path, lineno);
        return -EINVAL;
    }
    if (address_validate_local(line) != 0) {
        aliases__error(err, errlen, "%s:%zu: invalid alias name \"%s\"", path, lineno, line);
        return -EINVAL;
    }
    aliases__unquote(line, line);
    if ((rc = aliases__add_entry(al, line, lineno)))
        return rc;
    return aliases__parse_targets(al, colon + 1, path, lineno, err, errlen);
}

static int aliases__parse(struct aliases *al, size_t size, const char *path, char *err,
                          size_t errlen)
{
    char *line = al->text, *end = al->text + size;
    const char *nul = memchr(al->text, '\0', size);
    size_t lineno = 0;
    int rc;

    if (nul) {
        lineno = 1;
        for (const char *p = al->text; p < nul; p++)
            lineno += *p == '\n';
        aliases__error(err, errlen, "%s:%zu: NUL byte", path, lineno);
        return -EINVAL;
    }
    while (line < end) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        char *next = nl ? nl + 1 : end;
        size_t n;

        if (nl)
            *nl = '\0'; /* else text[size] is the NUL */
        n = strlen(line);
        if (n > 0 && line[n - 1] == '\r')
            line[n - 1] = '\0';
        if ((rc = aliases__parse_line(al, line, ++lineno, path, err, errlen)))
            return rc;
        line = next;
    }
    if ((rc = aliases__close_entry(al, path, err, errlen)))
        return rc;

    /* Sorted for bsearch; neighbours then reveal names defined twice. */
    if (al->count > 1)
        qsort(al->entry, al->count, sizeof al->entry[0], aliases__entry_cmp);
    for (size_t i = 1; i < al->count; i++) {
        const struct aliases__entry *a = &al->entry[i - 1], *b = &al->entry[i];

        if (aliases__casecmp(a->name, b->name) == 0) {
            const struct aliases__entry *later = a->line > b->line ? a : b;
            const struct aliases__entry *first = later == a ? b : a;

            aliases__error(err, errlen, "%s:%zu: duplicate alias \"%s\" (first on line %zu)", path,
                           later->line, later->name, first->line);
            return -EINVAL;
        }
    }
    return 0;
}

int aliases_load(struct aliases **out, const char *path, char *err, size_t errlen)
{
    struct aliases *al = NULL;
    struct stat st;
    size_t size = 0;
    int fd = -1, rc;

    if (err && errlen > 0)
        err[0] = '\0';
    if (!out || !path)
        return -EINVAL;
    *out = NULL;
    al = calloc(1, sizeof *al);
    if (!al)
        return -ENOMEM;

    /* O_NONBLOCK so that a FIFO put in the file's place cannot hang us. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        rc = -errno;
        if (rc == -ENOENT) {
            *out = al;
            return 0;
        }
        aliases__error(err, errlen, "%s: %s", path, strerror(-rc));
        goto fail;
    }
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        aliases__error(err, errlen, "%s: %s", path, strerror(-rc));
        goto fail;
    }
    rc = -EINVAL;
    if (!S_ISREG(st.st_mode)) {
        aliases__error(err, errlen, "%s: not a regular file", path);
        goto fail;
    }
    rc = -EFBIG;
    if (st.st_size > (off_t)ALIASES__FILE_MAX) {
        aliases__error(err, errlen, "%s: larger than %u bytes", path, ALIASES__FILE_MAX);
        goto fail;
    }
    rc = -ENOMEM;
    al->text = malloc((size_t)st.st_size + 1);
    if (!al->text)
        goto fail;
    /* Reads what fstat promised at most: a file that grows meanwhile is cut. */
    while (size < (size_t)st.st_size) {
        ssize_t n = read(fd, al->text + size, (size_t)st.st_size - size);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            aliases__error(err, errlen, "%s: %s", path, strerror(-rc));
            goto fail;
        }
        if (n == 0)
            break;
        size += (size_t)n;
    }
    al->text[size] = '\0';
    close(fd);
    fd = -1;

    if ((rc = aliases__parse(al, size, path, err, errlen)))
        goto fail;
    *out = al;
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    aliases_free(al);
    return rc;
}

void aliases_free(struct aliases *al)
{
    if (!al)
        return;
    free(al->text);
    free(al->entry);
    free(al->target);
    free(al);
}

enum aliases__state {
    ALIASES__UNSEEN = 0,
    ALIASES__ON_PATH, /* being expanded: meeting it again means itself */
    ALIASES__DONE,    /* expanded already: meeting it again adds nothing */
};

struct aliases__expansion {
    const struct aliases *al;
    const char *domain;
    unsigned char *state; /* enum aliases__state, one per entry */
    size_t depth;
    char **found; /* final addresses, in order, without duplicates */
    size_t nfound;
    size_t found_cap;
    void (*warn)(void *arg, const char *text);
    void *arg;
};

/* Local parts compare exactly, domains without regard to ASCII case. */
static bool aliases__same_address(const char *a, const char *b)
{
    const char *at_a = strrchr(a, '@'), *at_b = strrchr(b, '@');

    if (!at_a || !at_b || at_a - a != at_b - b || memcmp(a, b, (size_t)(at_a - a)) != 0)
        return false;
    return aliases__casecmp(at_a, at_b) == 0;
}

static int aliases__found(struct aliases__expansion *x, const char *addr)
{
    char *copy;

    for (size_t i = 0; i < x->nfound; i++)
        if (aliases__same_address(x->found[i], addr))
            return 0;
    if (x->nfound == x->found_cap) {
        size_t cap = x->found_cap ? x->found_cap * 2 : 16;
        char **grown = realloc(x->found, cap * sizeof *grown);

        if (!grown)
            return -ENOMEM;
        x->found = grown;
        x->found_cap = cap;
    }
    copy = strdup(addr);
    if (!copy)
        return -ENOMEM;
    x->found[x->nfound++] = copy;
    return 0;
}

static int aliases__found_local(struct aliases__expansion *x, const char *name)
{
    char addr[ADDRESS_MAX];

    if (!x->domain || address_qualify(name, x->domain, addr, sizeof addr) != 0)
        return -EINVAL;
    return aliases__found(x, addr);
}

static void aliases__warn(const struct aliases__expansion *x, const struct aliases__entry *e,
                          const struct aliases__target *t)
{
    char text[ALIASES__WARN_MAX];
    const char *what = t->kind == ALIASES__COMMAND ? "command"
                       : t->kind == ALIASES__FILE  ? "file"
                                                   : ":include:";

    if (!x->warn)
        return;
    snprintf(text, sizeof text, "alias %s: %s target skipped (no local delivery): %s", e->name,
             what, t->text);
    x->warn(x->arg, text);
}

static int aliases__expand_name(struct aliases__expansion *x, const char *name);

static int aliases__expand_entry(struct aliases__expansion *x, size_t index)
{
    const struct aliases__entry *e = &x->al->entry[index];
    int rc = 0;

    if (x->depth == ALIASES__DEPTH_MAX)
        return -ELOOP;
    x->state[index] = ALIASES__ON_PATH;
    x->depth++;
    for (size_t i = 0; i < e->count && rc == 0; i++) {
        const struct aliases__target *t = &x->al->target[e->first + i];

        switch (t->kind) {
        case ALIASES__ADDRESS:
            rc = aliases__found(x, t->text);
            break;
        case ALIASES__LOCAL:
            rc = aliases__expand_name(x, t->text);
            break;
        case ALIASES__FINAL:
            rc = aliases__found_local(x, t->text);
            break;
        case ALIASES__COMMAND:
        case ALIASES__FILE:
        case ALIASES__INCLUDE:
            aliases__warn(x, e, t);
            break;
        }
    }
    x->depth--;
    x->state[index] = ALIASES__DONE;
    return rc;
}

/* name is a valid bare local name. */
static int aliases__expand_name(struct aliases__expansion *x, const char *name)
{
    char key[ADDRESS_MAX];
    const struct aliases__entry *e = NULL;
    size_t index;

    if (strlen(name) >= sizeof key)
        return -EINVAL;
    aliases__unquote(key, name);
    if (x->al && x->al->count > 0)
        e = bsearch(key, x->al->entry, x->al->count, sizeof *e, aliases__key_cmp);
    if (!e)
        return aliases__found_local(x, name);
    index = (size_t)(e - x->al->entry);
    switch (x->state[index]) {
    case ALIASES__ON_PATH:
        return aliases__found_local(x, name);
    case ALIASES__DONE:
        return 0;
    default:
        return aliases__expand_entry(x, index);
    }
}

int aliases_expand(const struct aliases *al, const char *name, const char *local_domain,
                   int (*cb)(void *arg, const char *addr),
                   void (*warn)(void *arg, const char *text), void *arg)
{
    struct aliases__expansion x = {.al = al, .domain = local_domain, .warn = warn, .arg = arg};
    int rc = -EINVAL;

    if (!name || !cb)
        return -EINVAL;
    if (address_validate(name, NULL) == 0)
        return cb(arg, name);
    if (address_validate_local(name) != 0)
        return -EINVAL;
    if (al && al->count > 0) {
        x.state = calloc(al->count, 1);
        rc = -ENOMEM;
        if (!x.state)
            goto fail;
    }
    /* Collected first, handed out after: an error leaves cb uncalled. */
    if ((rc = aliases__expand_name(&x, name)))
        goto fail;
    rc = -ENOENT;
    if (x.nfound == 0)
        goto fail;
    rc = 0;
    for (size_t i = 0; i < x.nfound && rc == 0; i++)
        rc = cb(arg, x.found[i]);
fail:
    for (size_t i = 0; i < x.nfound; i++)
        free(x.found[i]);
    free(x.found);
    free(x.state);
    return rc;
}
