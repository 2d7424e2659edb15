/*
 * test_message.c - unit tests for message.c: the streaming reader (golden
 * files in the directory given as argv[1], NAME.in -> NAME.out, each fed
 * whole, byte by byte and split at every offset), a table of reader edge
 * cases, a randomised folding property check, and tables for the header
 * functions.
 *
 * Golden file names choose the reader flags: "ends-*" MESSAGE_DOT_ENDS,
 * "smtp-*" MESSAGE_DOT_UNSTUFF, anything else none.
 */
#include "message.h"
#include "check.h"

#include <dirent.h>
#include <errno.h>
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define NO_LIMIT SIZE_MAX

/* What feeding one input produced. */
struct run {
    struct message msg;
    int first_error; /* first negative value feed returned, or 0 */
    int ended;       /* feed returned 1 */
    size_t used;     /* bytes consumed up to the end marker (len if none) */
    int finish;      /* what message_reader_finish returned */
    int done;        /* r.done after finish: the end marker was seen */
};

/*
 * Feeds in[0..len) in pieces: [0, split) and [split, len), each cut into
 * pieces of step bytes (0: one piece).
 */
static void run_reader(struct run *out, const char *in, size_t len, int flags, size_t max,
                       size_t split, size_t step)
{
    struct message_reader r;
    size_t pos = 0;

    memset(out, 0, sizeof *out);
    message_init(&out->msg);
    message_reader_init(&r, &out->msg, max, flags);
    while (pos < len) {
        size_t limit = pos < split ? split : len, end, used = 99999;
        int rc;

        end = step && limit - pos > step ? pos + step : limit;
        rc = message_reader_feed(&r, in + pos, end - pos, &used);
        if (rc == 1) {
            out->ended = 1;
            CHECK(used <= end - pos);
            pos += used;
            break;
        }
        CHECK_INT(used, end - pos);
        if (rc < 0 && !out->first_error)
            out->first_error = rc;
        pos = end;
    }
    out->used = pos;
    CHECK_INT(out->ended, r.done);
    out->finish = message_reader_finish(&r);
    out->done = r.done;
}

static int read_file(const char *path, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long size;

    if (!f)
        return -errno;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto fail;
    buf = malloc((size_t)size + 1);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size)
        goto fail;
    buf[size] = '\0';
    fclose(f);
    *data = buf;
    *len = (size_t)size;
    return 0;
fail:
    free(buf);
    fclose(f);
    return -EIO;
}

/* Every line ends with CRLF, holds no CR, LF or NUL and is at most 998 octets. */
static void check_shape(const struct message *m, const char *what)
{
    size_t i, line = 0;
    int before = check_failures;

    for (i = 0; i < m->len; i++) {
        char c = m->data[i];
        if (c == '\r') {
            CHECK(i + 1 < m->len && m->data[i + 1] == '\n');
            CHECK(line <= MESSAGE_LINE_MAX);
            line = 0;
            i++;
        } else {
            CHECK(c != '\n' && c != '\0');
            line++;
        }
    }
    CHECK_INT(line, 0);
    if (check_failures != before)
        fprintf(stderr, "  in %s\n", what);
}

static void check_same_run(const struct run *a, const struct run *b, const char *what)
{
    int before = check_failures;

    CHECK_INT(a->msg.len, b->msg.len);
    CHECK(a->msg.len == b->msg.len &&
          (a->msg.len == 0 || memcmp(a->msg.data, b->msg.data, a->msg.len) == 0));
    CHECK_INT(a->msg.folded_lines, b->msg.folded_lines);
    CHECK_INT(a->ended, b->ended);
    CHECK_INT(a->used, b->used);
    CHECK_INT(a->finish, b->finish);
    CHECK_INT(a->done, b->done);
    if (check_failures != before)
        fprintf(stderr, "  in %s\n", what);
}

static void golden_case(const char *dir, const char *name)
{
    char path[4096], what[4200];
    char *in = NULL, *want = NULL;
    size_t in_len, want_len, split;
    int flags = 0, before = check_failures;
    struct run whole, other;

    if (strncmp(name, "ends-", 5) == 0)
        flags = MESSAGE_DOT_ENDS;
    else if (strncmp(name, "smtp-", 5) == 0)
        flags = MESSAGE_DOT_UNSTUFF;
    snprintf(path, sizeof path, "%s/%s.in", dir, name);
    CHECK_INT(read_file(path, &in, &in_len), 0);
    snprintf(path, sizeof path, "%s/%s.out", dir, name);
    CHECK_INT(read_file(path, &want, &want_len), 0);
    if (!in || !want)
        goto out;

    run_reader(&whole, in, in_len, flags, NO_LIMIT, 0, 0);
    CHECK_INT(whole.finish, 0);
    CHECK_INT(whole.first_error, 0);
    CHECK_INT(whole.msg.len, want_len);
    CHECK(whole.msg.len == want_len &&
          (want_len == 0 || memcmp(whole.msg.data, want, want_len) == 0));
    if (check_failures != before) {
        fprintf(stderr, "  in golden case %s; got:\n%.*s\n", name, (int)whole.msg.len,
                whole.msg.data ? whole.msg.data : "");
    }
    snprintf(what, sizeof what, "golden case %s", name);
    check_shape(&whole.msg, what);

    snprintf(what, sizeof what, "golden case %s fed byte by byte", name);
    run_reader(&other, in, in_len, flags, NO_LIMIT, 0, 1);
    check_same_run(&whole, &other, what);
    message_free(&other.msg);
    for (split = 1; split < in_len; split++) {
        snprintf(what, sizeof what, "golden case %s split at %zu", name, split);
        run_reader(&other, in, in_len, flags, NO_LIMIT, split, 0);
        check_same_run(&whole, &other, what);
        message_free(&other.msg);
    }
    message_free(&whole.msg);
out:
    free(in);
    free(want);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_golden(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char *names[256];
    size_t n = 0, i;

    CHECK(d != NULL);
    if (!d) {
        fprintf(stderr, "  cannot open %s\n", dir);
        return;
    }
    while ((e = readdir(d)) != NULL && n < 256) {
        size_t len = strlen(e->d_name);
        if (len > 3 && strcmp(e->d_name + len - 3, ".in") == 0)
            names[n++] = strndup(e->d_name, len - 3);
    }
    closedir(d);
    CHECK(n >= 10); /* a wrong directory must not pass as "no cases" */
    qsort(names, n, sizeof names[0], compare_names);
    for (i = 0; i < n; i++) {
        golden_case(dir, names[i]);
        free(names[i]);
    }
}

/* ---- reader edge cases ---- */

struct reader_case {
    const char *desc;
    int flags;
    size_t max;
    const char *in;
    size_t in_len;    /* 0: strlen(in) */
    const char *want; /* message content, or NULL after an error */
    const char *tail; /* what must be left after the end marker */
    int finish;
    int done; /* the end marker was seen */
};

#define ENDS MESSAGE_DOT_ENDS
#define SMTP MESSAGE_DOT_UNSTUFF

static const struct reader_case reader_cases[] = {
    {"empty input", 0, NO_LIMIT, "", 0, "", "", 0, 0},
    {"no final newline", 0, NO_LIMIT, "a", 0, "a\r\n", "", 0, 0},
    {"bare LF", 0, NO_LIMIT, "a\nb\n", 0, "a\r\nb\r\n", "", 0, 0},
    {"bare CR", 0, NO_LIMIT, "a\rb\r", 0, "a\r\nb\r\n", "", 0, 0},
    {"CRLF", 0, NO_LIMIT, "a\r\nb\r\n", 0, "a\r\nb\r\n", "", 0, 0},
    {"LF CR is two", 0, NO_LIMIT, "a\n\rb", 0, "a\r\n\r\nb\r\n", "", 0, 0},
    {"CR CR LF", 0, NO_LIMIT, "a\r\r\nb", 0, "a\r\n\r\nb\r\n", "", 0, 0},
    {"only newlines", 0, NO_LIMIT, "\n\r\n\r", 0, "\r\n\r\n\r\n", "", 0, 0},
    {"8-bit kept", 0, NO_LIMIT, "caf\xc3\xa9\n", 0, "caf\xc3\xa9\r\n", "", 0, 0},
    {"dot without flags", 0, NO_LIMIT, ".\n..\n", 0, ".\r\n..\r\n", "", 0, 0},
    {"ends: dot LF", ENDS, NO_LIMIT, "a\n.\nb\n", 0, "a\r\n", "b\n", 0, 1},
    {"ends: dot CRLF", ENDS, NO_LIMIT, "a\r\n.\r\nb", 0, "a\r\n", "b", 0, 1},
    {"ends: dot CR", ENDS, NO_LIMIT, "a\r.\rb", 0, "a\r\n", "b", 0, 1},
    {"ends: dot CR at end", ENDS, NO_LIMIT, "a\n.\r", 0, "a\r\n", "", 0, 1},
    {"ends: dot at EOF", ENDS, NO_LIMIT, "a\n.", 0, "a\r\n", "", 0, 1},
    {"ends: dot first", ENDS, NO_LIMIT, ".\nb", 0, "", "b", 0, 1},
    {"ends: no unstuffing", ENDS, NO_LIMIT, "..\n.a\n", 0, "..\r\n.a\r\n", "", 0, 0},
    {"ends: not alone", ENDS, NO_LIMIT, " .\na.\n. \n", 0, " .\r\na.\r\n. \r\n", "", 0, 0},
    {"ends: no marker", ENDS, NO_LIMIT, "a\nb", 0, "a\r\nb\r\n", "", 0, 0},
    {"smtp: unstuff", SMTP, NO_LIMIT, "..\r\n...\r\n..x\r\n.\r\n", 0, ".\r\n..\r\n.x\r\n", "", 0,
     1},
    {"smtp: single leading dot", SMTP, NO_LIMIT, ".x\r\n.\r\n", 0, "x\r\n", "", 0, 1},
    {"smtp: next command", SMTP, NO_LIMIT, "a\r\n.\r\nQUIT\r\n", 0, "a\r\n", "QUIT\r\n", 0, 1},
    {"smtp: empty message", SMTP, NO_LIMIT, ".\r\nRSET\r\n", 0, "", "RSET\r\n", 0, 1},
    {"smtp: empty line after", SMTP, NO_LIMIT, ".\r\n\r\n", 0, "", "\r\n", 0, 1},
    {"smtp: dot in a line", SMTP, NO_LIMIT, "a.b\r\n.\r\n", 0, "a.b\r\n", "", 0, 1},
    {"smtp: LF dot LF is content", SMTP, NO_LIMIT, "a\n.\nb\r\n.\r\nQUIT", 0, "a\r\n.\r\nb\r\n",
     "QUIT", 0, 1},
    {"smtp: LF dot CRLF is content", SMTP, NO_LIMIT, "a\n.\r\nb\r\n.\r\n", 0, "a\r\n.\r\nb\r\n", "",
     0, 1},
    {"smtp: CRLF dot LF is content", SMTP, NO_LIMIT, "a\r\n.\nb\r\n.\r\n", 0, "a\r\n.\r\nb\r\n", "",
     0, 1},
    {"smtp: CR dot CRLF is content", SMTP, NO_LIMIT, "a\r.\r\nb\r\n.\r\n", 0, "a\r\n.\r\nb\r\n", "",
     0, 1},
    {"smtp: CRLF dot CR is content", SMTP, NO_LIMIT, "a\r\n.\rb\r\n.\r\n", 0, "a\r\n.\r\nb\r\n", "",
     0, 1},
    {"smtp: CRLF dot CR CR", SMTP, NO_LIMIT, "a\r\n.\r\r\n.\r\n", 0, "a\r\n.\r\n\r\n", "", 0, 1},
    {"smtp: unstuff after bare LF", SMTP, NO_LIMIT, "a\n..b\r\n.\r\n", 0, "a\r\n.b\r\n", "", 0, 1},
    {"smtp: EOF after dot CR", SMTP, NO_LIMIT, "a\r\n.\r", 0, "a\r\n.\r\n", "", 0, 0},
    {"smtp: EOF after dot", SMTP, NO_LIMIT, "a\r\n.", 0, "a\r\n.\r\n", "", 0, 0},
    {"ends: LF dot CRLF", ENDS, NO_LIMIT, "a\n.\r\nb", 0, "a\r\n", "b", 0, 1},
    {"NUL after dot", SMTP, NO_LIMIT, ".\0\r\nX\r\n.\r\nQUIT\r\n", 16, NULL, "QUIT\r\n", -EINVAL,
     1},
    {"NUL before dot", ENDS, NO_LIMIT, "\0.\n.\nrest", 9, NULL, "rest", -EINVAL, 1},
    {"NUL", 0, NO_LIMIT, "a\0b\n", 4, NULL, "", -EINVAL, 0},
    {"NUL then marker", ENDS, NO_LIMIT, "a\0b\n.\nrest", 10, NULL, "rest", -EINVAL, 1},
    {"NUL in smtp", SMTP, NO_LIMIT, "\0\r\n.\r\nQUIT\r\n", 12, NULL, "QUIT\r\n", -EINVAL, 1},
    {"exactly max", 0, 10, "12345678\n", 0, "12345678\r\n", "", 0, 0},
    {"one over max", 0, 9, "12345678\n", 0, NULL, "", -EMSGSIZE, 0},
    {"max 0 empty", 0, 0, "", 0, "", "", 0, 0},
    {"max 0", 0, 0, "a", 0, NULL, "", -EMSGSIZE, 0},
    {"over max, smtp", SMTP, 10, "0123456789\r\nabc\r\n..\r\n.\r\nQUIT\r\n", 0, NULL, "QUIT\r\n",
     -EMSGSIZE, 1},
    {"over max, ends", ENDS, 4, "abcdef\n.\nafter", 0, NULL, "after", -EMSGSIZE, 1},
    {"first error kept", ENDS, 4, "abcdef\n\0\n.\n", 11, NULL, "", -EMSGSIZE, 1},
};

static void test_reader_table(void)
{
    size_t i, split;

    for (i = 0; i < sizeof reader_cases / sizeof reader_cases[0]; i++) {
        const struct reader_case *c = &reader_cases[i];
        size_t len = c->in_len ? c->in_len : strlen(c->in);
        int before = check_failures;
        struct run whole, other;
        char what[256];

        run_reader(&whole, c->in, len, c->flags, c->max, 0, 0);
        CHECK_INT(whole.finish, c->finish);
        CHECK_INT(whole.done, c->done);
        if (c->want)
            CHECK_MEM(whole.msg.data ? whole.msg.data : "", whole.msg.len, c->want);
        CHECK_MEM(c->in + whole.used, len - whole.used, c->tail);
        if (check_failures != before)
            fprintf(stderr, "  in reader case \"%s\"\n", c->desc);
        snprintf(what, sizeof what, "reader case \"%s\" byte by byte", c->desc);
        run_reader(&other, c->in, len, c->flags, c->max, 0, 1);
        check_same_run(&whole, &other, what);
        /* Fed byte by byte, the error shows before the marker unless finish found it. */
        CHECK(other.first_error == 0 || other.first_error == c->finish);
        message_free(&other.msg);
        for (split = 1; split < len; split++) {
            snprintf(what, sizeof what, "reader case \"%s\" split at %zu", c->desc, split);
            run_reader(&other, c->in, len, c->flags, c->max, split, 0);
            check_same_run(&whole, &other, what);
            message_free(&other.msg);
        }
        message_free(&whole.msg);
    }
}

/* The return values call by call, which the table cannot show. */
static void test_reader_returns(void)
{
    struct message m;
    struct message_reader r;
    size_t used;

    message_init(&m);
    message_reader_init(&r, &m, 8, SMTP);
    CHECK_INT(message_reader_feed(&r, "abc\r\n", 5, &used), 0);
    CHECK_INT(used, 5);
    CHECK_INT(message_reader_feed(&r, "defgh\r\n", 7, &used), -EMSGSIZE);
    CHECK_INT(used, 7);
    /* Sticky until the marker, which still ends the data. */
    CHECK_INT(message_reader_feed(&r, "more\r\n", 6, &used), -EMSGSIZE);
    CHECK_INT(message_reader_feed(&r, ".\r\nQUIT", 7, &used), 1);
    CHECK_INT(used, 3);
    CHECK(r.done);
    CHECK_INT(message_reader_feed(&r, "QUIT", 4, &used), 1);
    CHECK_INT(used, 0);
    CHECK_INT(message_reader_finish(&r), -EMSGSIZE);
    CHECK_MEM(m.data, m.len, "abc\r\n");
    message_free(&m);

    /* The LF of ".\r\n" arriving in the next feed belongs to the marker. */
    message_init(&m);
    message_reader_init(&r, &m, NO_LIMIT, SMTP);
    CHECK_INT(message_reader_feed(&r, "x\r\n.\r", 5, &used), 0);
    CHECK_INT(used, 5);
    CHECK(!r.done);
    CHECK_INT(message_reader_feed(&r, "\nNOOP\r\n", 7, &used), 1);
    CHECK_INT(used, 1);
    CHECK_INT(message_reader_finish(&r), 0);
    CHECK_MEM(m.data, m.len, "x\r\n");
    message_free(&m);

    /* A NUL without end marker flags is reported at once (sendmail -i). */
    message_init(&m);
    message_reader_init(&r, &m, NO_LIMIT, 0);
    CHECK_INT(message_reader_feed(&r, "a\0", 2, NULL), -EINVAL);
    CHECK_INT(message_reader_finish(&r), -EINVAL);
    message_free(&m);

    /* consumed may be NULL; reader appends to what the message holds. */
    message_init(&m);
    message_reader_init(&r, &m, NO_LIMIT, ENDS);
    CHECK_INT(message_reader_feed(&r, "a\n.\n", 4, NULL), 1);
    CHECK_INT(message_reader_finish(&r), 0);
    message_reader_init(&r, &m, NO_LIMIT, 0);
    CHECK_INT(message_reader_feed(&r, "b", 1, NULL), 0);
    CHECK_INT(message_reader_finish(&r), 0);
    CHECK_STR(m.data, "a\r\nb\r\n");
    message_free(&m);
    message_free(&m);
    CHECK(m.data == NULL && m.len == 0 && m.cap == 0);
}

/* ---- folding property: random input, checked against a plain model ---- */

struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *g)
{
    g->s ^= g->s << 13;
    g->s ^= g->s >> 7;
    g->s ^= g->s << 17;
    return g->s;
}

static size_t rng_below(struct rng *g, size_t n)
{
    return (size_t)(rng_next(g) % n);
}

/* Appends one line of about len octets drawn from chars, then a random line ending. */
static size_t gen_line(struct rng *g, char *buf, size_t pos, size_t cap, const char *prefix,
                       size_t len, const char *chars)
{
    static const char *const endings[] = {"\r\n", "\n", "\r"};
    size_t n = strlen(chars), i;
    const char *end = endings[rng_below(g, 3)];

    if (pos + strlen(prefix) + len + 2 >= cap)
        return pos;
    memcpy(buf + pos, prefix, strlen(prefix));
    pos += strlen(prefix);
    for (i = 0; i < len; i++)
        buf[pos++] = chars[rng_below(g, n)];
    memcpy(buf + pos, end, strlen(end));
    return pos + strlen(end);
}

static size_t gen_length(struct rng *g)
{
    switch (rng_below(g, 4)) {
    case 0:
        return rng_below(g, 40);
    case 1:
        return 990 + rng_below(g, 20);
    default:
        return rng_below(g, 3500);
    }
}

static size_t gen_message(struct rng *g, char *buf, size_t cap)
{
    /* Body text has no ':' so that it never looks like a header field. */
    static const char *const texts[] = {"abcdefgh ", "ab\t ", "xyz", "  \t", "a.b c-d"};
    size_t pos = 0, i, n;

    n = rng_below(g, 5);
    for (i = 0; i < n; i++) {
        const char *t = texts[rng_below(g, 5)];
        if (i > 0 && rng_below(g, 3) == 0)
            pos = gen_line(g, buf, pos, cap, " ", gen_length(g), t);
        else
            pos = gen_line(g, buf, pos, cap, rng_below(g, 2) ? "Subject: " : "X-y:", gen_length(g),
                           rng_below(g, 2) ? t : "a:b ");
    }
    if (rng_below(g, 3))
        pos = gen_line(g, buf, pos, cap, "", 0, "a");
    n = rng_below(g, 5);
    for (i = 0; i < n; i++)
        pos = gen_line(g, buf, pos, cap, "", gen_length(g), texts[rng_below(g, 5)]);
    if (pos > 0 && rng_below(g, 4) == 0)
        pos--; /* no final line ending, or a CRLF cut to its CR */
    return pos;
}

/* Model: every CR, LF or CRLF becomes CRLF, and a last line gets one. */
static void model_normalise(struct message *m, const char *in, size_t len)
{
    size_t i, o = 0;

    m->data = malloc(2 * len + 3);
    for (i = 0; i < len; i++) {
        if (in[i] == '\r' || in[i] == '\n') {
            if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n')
                i++;
            m->data[o++] = '\r';
            m->data[o++] = '\n';
        } else {
            m->data[o++] = in[i];
        }
    }
    if (o > 0 && m->data[o - 1] != '\n') {
        m->data[o++] = '\r';
        m->data[o++] = '\n';
    }
    m->data[o] = '\0';
    m->len = o;
    m->cap = 2 * len + 3;
}

static size_t model_long_lines(const struct message *m)
{
    size_t i, line = 0, count = 0;

    for (i = 0; i < m->len; i++) {
        if (m->data[i] == '\r') {
            count += line > MESSAGE_LINE_MAX;
            line = 0;
            i++;
        } else {
            line++;
        }
    }
    return count;
}

static size_t common_prefix(const struct message *a, size_t i, const struct message *b, size_t j)
{
    size_t n = 0;

    while (i + n < a->len && j + n < b->len && a->data[i + n] == b->data[j + n])
        n++;
    return n;
}

/*
 * Walks the model and the output together: the output may only add CRLF
 * (a fold) optionally followed by one space (a header line split where it
 * had no whitespace). The header/body boundary must map onto itself.
 */
static void check_unfolds_to(const struct message *out, const struct message *model,
                             const char *what)
{
    size_t i = 0, j = 0, folds = 0, model_body, out_body, mapped_body = SIZE_MAX;
    int model_sep, out_sep, before = check_failures;

    model_body = message_body_offset(model, &model_sep);
    out_body = message_body_offset(out, &out_sep);
    while (i < model->len && j < out->len) {
        if (i == model_body && mapped_body == SIZE_MAX)
            mapped_body = j;
        if (model->data[i] == out->data[j]) {
            i++, j++;
            continue;
        }
        if (j + 2 > out->len || memcmp(out->data + j, "\r\n", 2) != 0)
            break;
        j += 2;
        folds++;
        /* An inserted space or a space of the input? Whichever matches longer. */
        if (j < out->len && out->data[j] == ' ' &&
            common_prefix(model, i, out, j + 1) > common_prefix(model, i, out, j))
            j++;
    }
    if (i == model_body && mapped_body == SIZE_MAX)
        mapped_body = j;
    CHECK_INT(i, model->len);
    CHECK_INT(j, out->len);
    CHECK_INT(out->folded_lines, model_long_lines(model));
    CHECK(folds >= out->folded_lines);
    CHECK_INT(mapped_body, out_body);
    CHECK_INT(model_sep, out_sep);
    if (check_failures != before) {
        fprintf(stderr, "  in %s (stopped at model offset %zu, output offset %zu)\n", what, i, j);
        fprintf(stderr, "  model: \"%.*s\"\n  output: \"%.*s\"\n",
                (int)(model->len - i < 40 ? model->len - i : 40), model->data + i,
                (int)(out->len - j < 40 ? out->len - j : 40), out->data + j);
    }
}

static void test_fold_property(void)
{
    static char in[24000];
    struct rng g = {0x9e3779b97f4a7c15ull};
    int round;

    for (round = 0; round < 400; round++) {
        size_t len = gen_message(&g, in, sizeof in);
        struct message model;
        struct run whole, other;
        char what[64];

        snprintf(what, sizeof what, "random message %d", round);
        run_reader(&whole, in, len, 0, NO_LIMIT, 0, 0);
        CHECK_INT(whole.finish, 0);
        check_shape(&whole.msg, what);
        message_init(&model);
        model_normalise(&model, in, len);
        check_unfolds_to(&whole.msg, &model, what);
        message_free(&model);

        run_reader(&other, in, len, 0, NO_LIMIT, len ? rng_below(&g, len) : 0,
                   1 + rng_below(&g, 1200));
        check_same_run(&whole, &other, what);
        message_free(&other.msg);
        message_free(&whole.msg);
    }
}

/* ---- header section ---- */

static void set_message(struct message *m, const char *text)
{
    m->len = strlen(text);
    m->cap = m->len + 1;
    m->data = malloc(m->cap);
    memcpy(m->data, text, m->cap);
    m->folded_lines = 0;
}

#define SAMPLE                                                                                     \
    "From: a@example.com\r\n"                                                                      \
    "To: x@example.com,\r\n"                                                                       \
    "\t z@example.com\r\n"                                                                         \
    "SUBJECT: hi\r\n"                                                                              \
    "subject:second\r\n"                                                                           \
    "X-Odd_Name.1!#$%&'*+/=?^`{|}~: odd\r\n"                                                       \
    "Empty:\r\n"                                                                                   \
    "\r\n"                                                                                         \
    "To: body@example.com\r\n"

struct offset_case {
    const char *text;
    size_t offset;
    int has_separator;
};

static const struct offset_case offset_cases[] = {
    {"", 0, 0},
    {SAMPLE, sizeof SAMPLE - sizeof "To: body@example.com\r\n", 1},
    {"Hello world\r\n", 0, 0},
    {"From user@example.com Mon Jan  1 00:00:00 2024\r\nSubject: x\r\n\r\nb\r\n", 0, 0},
    {"To: a@b\r\nSubject: s\r\n", 21, 0},
    {"To: a@b\r\nhello\r\n", 9, 0},
    {"To: a@b\r\n folded\r\nhello: x\r\n", 28, 0},
    {"To: a@b\r\nNot a field\r\nX: y\r\n\r\n", 9, 0},
    {"Subject : x\r\n\r\n", 0, 0},
    {":x\r\n", 0, 0},
    {"\r\nbody\r\n", 2, 1},
    {" x: y\r\n\r\n", 0, 0},
    {"A: 1\r\n\r\n\r\n", 8, 1},
};

struct get_case {
    const char *name;
    size_t index;
    const char *value; /* NULL: -ENOENT */
};

static const struct get_case get_cases[] = {
    {"From", 0, " a@example.com"},
    {"to", 0, " x@example.com,\r\n\t z@example.com"},
    {"TO", 1, NULL},
    {"Subject", 0, " hi"},
    {"Subject", 1, "second"},
    {"Subject", 2, NULL},
    {"x-odd_name.1!#$%&'*+/=?^`{|}~", 0, " odd"},
    {"Empty", 0, ""},
    {"Cc", 0, NULL},
    {"", 0, NULL},
    {"From:", 0, NULL},
};

struct count_case {
    const char *text;
    const char *name;
    size_t count;
};

static const struct count_case count_cases[] = {
    {SAMPLE, "subject", 2},
    {SAMPLE, "To", 1},
    {SAMPLE, "Empty", 1},
    {SAMPLE, "Bcc", 0},
    {"Hello\r\nTo: a@b\r\n", "To", 0},
    {"To: a@b\r\nTo: c@d", "To", 2},
    {"", "To", 0},
};

static void test_header_read(void)
{
    struct message m;
    size_t i;

    for (i = 0; i < sizeof offset_cases / sizeof offset_cases[0]; i++) {
        const struct offset_case *c = &offset_cases[i];
        int sep = -1, before = check_failures;

        set_message(&m, c->text);
        CHECK_INT(message_body_offset(&m, &sep), c->offset);
        CHECK_INT(sep, c->has_separator);
        CHECK_INT(message_body_offset(&m, NULL), c->offset);
        if (check_failures != before)
            fprintf(stderr, "  in offset case %zu\n", i);
        message_free(&m);
    }
    message_init(&m);
    CHECK_INT(message_body_offset(&m, NULL), 0);

    set_message(&m, SAMPLE);
    for (i = 0; i < sizeof get_cases / sizeof get_cases[0]; i++) {
        const struct get_case *c = &get_cases[i];
        const char *value = NULL;
        size_t len = 0;
        int rc = message_header_get(&m, c->name, c->index, &value, &len), before = check_failures;

        CHECK_INT(rc, c->value ? 0 : -ENOENT);
        if (c->value && rc == 0)
            CHECK_MEM(value, len, c->value);
        if (check_failures != before)
            fprintf(stderr, "  in get case \"%s\" %zu\n", c->name, c->index);
    }
    message_free(&m);

    for (i = 0; i < sizeof count_cases / sizeof count_cases[0]; i++) {
        const struct count_case *c = &count_cases[i];

        set_message(&m, c->text);
        CHECK_INT(message_header_count(&m, c->name), c->count);
        message_free(&m);
    }
}

enum edit_op { OP_REMOVE, OP_APPEND, OP_PREPEND, OP_REMOVE_BCC };

struct edit_case {
    enum edit_op op;
    const char *text;
    const char *name;
    const char *value;
    int rc; /* remove: fields removed; append/prepend: return value */
    const char *want;
};

static const struct edit_case edit_cases[] = {
    {OP_REMOVE, SAMPLE, "to", NULL, 1,
     "From: a@example.com\r\nSUBJECT: hi\r\nsubject:second\r\n"
     "X-Odd_Name.1!#$%&'*+/=?^`{|}~: odd\r\nEmpty:\r\n\r\nTo: body@example.com\r\n"},
    {OP_REMOVE, SAMPLE, "Subject", NULL, 2,
     "From: a@example.com\r\nTo: x@example.com,\r\n\t z@example.com\r\n"
     "X-Odd_Name.1!#$%&'*+/=?^`{|}~: odd\r\nEmpty:\r\n\r\nTo: body@example.com\r\n"},
    {OP_REMOVE, SAMPLE, "Cc", NULL, 0, SAMPLE},
    {OP_REMOVE, "A: 1\r\nA: 2\r\n", "a", NULL, 2, ""},
    {OP_REMOVE, "A: 1\r\n\r\nbody\r\n", "A", NULL, 1, "\r\nbody\r\n"},
    {OP_REMOVE, "A: 1\r\n more\r\nB: 2\r\nA: 3", "A", NULL, 2, "B: 2\r\n"},
    {OP_REMOVE, "text\r\nA: 1\r\n", "A", NULL, 0, "text\r\nA: 1\r\n"},
    {OP_REMOVE, "", "A", NULL, 0, ""},
    {OP_REMOVE_BCC, "To: a\r\nBcc: b,\r\n c\r\nresent-bcc: d\r\nSubject: s\r\n\r\nBcc: body\r\n",
     NULL, NULL, 0, "To: a\r\nSubject: s\r\n\r\nBcc: body\r\n"},
    {OP_APPEND, "A: 1\r\n\r\nbody\r\n", "B", "2", 0, "A: 1\r\nB: 2\r\n\r\nbody\r\n"},
    {OP_APPEND, "A: 1\r\n", "B", "2", 0, "A: 1\r\nB: 2\r\n\r\n"},
    {OP_APPEND, "", "B", "2", 0, "B: 2\r\n\r\n"},
    {OP_APPEND, "hello\r\n", "B", "2", 0, "B: 2\r\n\r\nhello\r\n"},
    {OP_APPEND, "From u Mon Jan  1 00:00:00 2024\r\nx\r\n", "B", "2", 0,
     "B: 2\r\n\r\nFrom u Mon Jan  1 00:00:00 2024\r\nx\r\n"},
    {OP_APPEND, "A: 1\r\nhello\r\n", "B", "2", 0, "A: 1\r\nB: 2\r\n\r\nhello\r\n"},
    {OP_APPEND, "\r\nbody\r\n", "B", "2", 0, "B: 2\r\n\r\nbody\r\n"},
    {OP_APPEND, "A: 1\r\n\r\n", "B", "x\r\n y", 0, "A: 1\r\nB: x\r\n y\r\n\r\n"},
    {OP_APPEND, "A: 1\r\n\r\n", "B", "", 0, "A: 1\r\nB: \r\n\r\n"},
    {OP_APPEND, "A: 1\r\n\r\n", "", "x", -EINVAL, "A: 1\r\n\r\n"},
    {OP_APPEND, "A: 1\r\n\r\n", "Bad Name", "x", -EINVAL, "A: 1\r\n\r\n"},
    {OP_APPEND, "A: 1\r\n\r\n", "a:b", "x", -EINVAL, "A: 1\r\n\r\n"},
    {OP_APPEND, "A: 1\r\n\r\n", "B", "x\nBcc: y", -EINVAL, "A: 1\r\n\r\n"},
    {OP_APPEND, "A: 1\r\n\r\n", "B", "x\r\nBcc: y", -EINVAL, "A: 1\r\n\r\n"},
    {OP_APPEND, "A: 1\r\n\r\n", "B", "x\r", -EINVAL, "A: 1\r\n\r\n"},
    {OP_APPEND, "A: 1\r\n\r\n", "B", "x\r\n", -EINVAL, "A: 1\r\n\r\n"},
    {OP_PREPEND, "A: 1\r\n\r\nb\r\n", "R", "x", 0, "R: x\r\nA: 1\r\n\r\nb\r\n"},
    {OP_PREPEND, "A: 1\r\nhello\r\n", "R", "x", 0, "R: x\r\nA: 1\r\nhello\r\n"},
    {OP_PREPEND, "A: 1\r\n", "R", "x", 0, "R: x\r\nA: 1\r\n"},
    {OP_PREPEND, "hello\r\n", "R", "x", 0, "R: x\r\n\r\nhello\r\n"},
    {OP_PREPEND, " indented\r\n", "R", "x", 0, "R: x\r\n\r\n indented\r\n"},
    {OP_PREPEND, "", "R", "x", 0, "R: x\r\n\r\n"},
    {OP_PREPEND, "\r\nbody", "R", "x", 0, "R: x\r\n\r\nbody"},
    {OP_PREPEND, "A: 1\r\n", "R", "x\ny", -EINVAL, "A: 1\r\n"},
};

static void test_header_edit(void)
{
    struct message m;
    size_t i;

    for (i = 0; i < sizeof edit_cases / sizeof edit_cases[0]; i++) {
        const struct edit_case *c = &edit_cases[i];
        int rc = 0, before = check_failures;

        set_message(&m, c->text);
        switch (c->op) {
        case OP_REMOVE:
            rc = (int)message_header_remove(&m, c->name);
            break;
        case OP_REMOVE_BCC:
            message_remove_bcc(&m);
            break;
        case OP_APPEND:
            rc = message_header_append(&m, c->name, c->value);
            break;
        case OP_PREPEND:
            rc = message_header_prepend(&m, c->name, c->value);
            break;
        }
        CHECK_INT(rc, c->rc);
        CHECK_MEM(m.data, m.len, c->want);
        CHECK_INT(m.data[m.len], '\0');
        if (check_failures != before)
            fprintf(stderr, "  in edit case %zu\n", i);
        message_free(&m);
    }

    /* An appended value longer than a line is folded at its whitespace. */
    {
        char value[3000], *p;
        const char *got;
        size_t len, n = 0;

        for (i = 0; n + 12 < sizeof value - 1; i++)
            n += (size_t)snprintf(value + n, sizeof value - n, "%sword%zu", i ? " " : "", i);
        set_message(&m, "A: 1\r\n\r\nbody\r\n");
        CHECK_INT(message_header_append(&m, "X-Long", value), 0);
        check_shape(&m, "long appended field");
        CHECK_INT(message_header_get(&m, "X-Long", 0, &got, &len), 0);
        p = strndup(got, len);
        for (i = 0, n = 0; p[i]; i++) /* unfold: drop each CRLF */
            if (p[i] != '\r' && p[i] != '\n')
                p[n++] = p[i];
        p[n] = '\0';
        CHECK(p[0] == ' ');
        CHECK_STR(p + 1, value);
        CHECK(strstr(m.data, "\r\n\r\nbody\r\n") != NULL);
        free(p);
        message_free(&m);
    }
}

/* ---- message_add_missing ---- */

static char *header_copy(const struct message *m, const char *name)
{
    const char *value;
    size_t len;

    if (message_header_get(m, name, 0, &value, &len) != 0)
        return NULL;
    return strndup(value, len);
}

struct date_case {
    const char *tz;
    time_t now;
    const char *want;
};

static const struct date_case date_cases[] = {
    {"UTC0", 1700000000, " Tue, 14 Nov 2023 22:13:20 +0000"},
    {"IST-5:30", 1700000000, " Wed, 15 Nov 2023 03:43:20 +0530"},
    {"NST3:30", 1700000000, " Tue, 14 Nov 2023 18:43:20 -0330"},
    {"XYZ-14", 1700000000, " Wed, 15 Nov 2023 12:13:20 +1400"},
    {"UTC0", 1700000000 - 2 * 86400, " Sun, 12 Nov 2023 22:13:20 +0000"},
    {"UTC0", 1700000000 - 86400, " Mon, 13 Nov 2023 22:13:20 +0000"},
    {"UTC0", 1700000000 + 2 * 86400, " Thu, 16 Nov 2023 22:13:20 +0000"},
    {"UTC0", 1700000000 + 3 * 86400, " Fri, 17 Nov 2023 22:13:20 +0000"},
    {"UTC0", 0, " Thu, 1 Jan 1970 00:00:00 +0000"},
    {"UTC0", 951782400, " Tue, 29 Feb 2000 00:00:00 +0000"},
    {"UTC0", 1719792000 + 5 * 86400 + 3600, " Sat, 6 Jul 2024 01:00:00 +0000"},
    {"UTC0", 1735689599, " Tue, 31 Dec 2024 23:59:59 +0000"},
};

struct from_case {
    const char *full_name;
    const char *want;
};

static const struct from_case from_cases[] = {
    {NULL, " joe@example.com"},
    {"", " joe@example.com"},
    {"  ", " joe@example.com"},
    {"John Doe", " John Doe <joe@example.com>"},
    {"Doe, John", " \"Doe, John\" <joe@example.com>"},
    {"J. \"Jay\" Doe", " \"J. \\\"Jay\\\" Doe\" <joe@example.com>"},
    {"back\\slash", " \"back\\\\slash\" <joe@example.com>"},
    {"O'Brien-Smith", " O'Brien-Smith <joe@example.com>"},
    {"J\xc3\xbcrgen M\xc3\xbcller", " =?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <joe@example.com>"},
    {"M\xc3\xbcller, J\xc3\xbcrgen", " =?UTF-8?B?TcO8bGxlciwgSsO8cmdlbg==?= <joe@example.com>"},
    {"Tab\there", " =?UTF-8?B?VGFiCWhlcmU=?= <joe@example.com>"},
    {"Evil\r\nBcc: victim@example.com",
     " =?UTF-8?B?RXZpbA0KQmNjOiB2aWN0aW1AZXhhbXBsZS5jb20=?= <joe@example.com>"},
    /* 23 two-octet characters and "x": a cut at 45 octets would split the 23rd. */
    {"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
     "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
     "\xc3\xa9x",
     " =?UTF-8?B?w6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6k=?="
     " =?UTF-8?B?w6l4?= <joe@example.com>"},
};

static void test_add_missing(void)
{
    struct message_defaults d = {"mx.example.org", "joe@example.com", NULL, 1700000000};
    struct message m, m2;
    const char *locales[] = {"de_DE.UTF-8", "fr_FR.UTF-8", "ja_JP.UTF-8", "ru_RU.UTF-8"};
    char *v, *v2;
    size_t i;
    int localised = 0;

    /* The names must stay English whatever the locale says. */
    for (i = 0; i < sizeof locales / sizeof locales[0] && !localised; i++)
        localised = setlocale(LC_ALL, locales[i]) != NULL;
    if (!localised)
        fprintf(stderr, "note: no non-English locale installed; Date checked in C locale\n");

    for (i = 0; i < sizeof date_cases / sizeof date_cases[0]; i++) {
        setenv("TZ", date_cases[i].tz, 1);
        tzset();
        d.now = date_cases[i].now;
        set_message(&m, "Subject: s\r\n\r\nbody\r\n");
        CHECK_INT(message_add_missing(&m, &d), 0);
        v = header_copy(&m, "Date");
        CHECK_STR(v, date_cases[i].want);
        free(v);
        message_free(&m);
    }
    setenv("TZ", "UTC0", 1);
    tzset();
    setlocale(LC_ALL, "C");
    d.now = 1700000000;

    /* Everything lands in the header section, the body untouched. */
    set_message(&m, "Subject: s\r\n\r\nbody\r\n");
    CHECK_INT(message_add_missing(&m, &d), 0);
    CHECK_INT(message_header_count(&m, "Date"), 1);
    CHECK_INT(message_header_count(&m, "Message-ID"), 1);
    CHECK_INT(message_header_count(&m, "From"), 1);
    CHECK(m.len > 10 && strncmp(m.data, "Subject: s\r\n", 12) == 0);
    CHECK(strcmp(m.data + m.len - 10, "\r\n\r\nbody\r\n") == 0);
    check_shape(&m, "add_missing");

    /* Message-ID: "<timestamp.random@hostname>", different on each call. */
    set_message(&m2, "Subject: s\r\n\r\nbody\r\n");
    CHECK_INT(message_add_missing(&m2, &d), 0);
    v = header_copy(&m, "Message-ID");
    v2 = header_copy(&m2, "Message-ID");
    CHECK(v && v2);
    if (v && v2) {
        size_t n = strlen(v);
        CHECK(strcmp(v, v2) != 0);
        CHECK(strncmp(v, " <20231114221320.", 17) == 0);
        CHECK_INT(strspn(v + 17, "0123456789abcdef"), 16);
        CHECK(n > 16 && strcmp(v + n - 16, "@mx.example.org>") == 0);
        CHECK_INT(n, 17 + 16 + 16);
    }
    free(v);
    free(v2);
    message_free(&m);
    message_free(&m2);

    for (i = 0; i < sizeof from_cases / sizeof from_cases[0]; i++) {
        d.full_name = from_cases[i].full_name;
        set_message(&m, "Subject: s\r\n\r\n");
        CHECK_INT(message_add_missing(&m, &d), 0);
        v = header_copy(&m, "From");
        CHECK_STR(v, from_cases[i].want);
        check_shape(&m, "From with display name");
        free(v);
        message_free(&m);
    }

    /* A name too long for one line is folded between encoded-words. */
    {
        char name[1500];
        for (i = 0; i + 2 < sizeof name; i += 2)
            memcpy(name + i, "\xc3\xb8", 2);
        name[i] = '\0';
        d.full_name = name;
        set_message(&m, "");
        CHECK_INT(message_add_missing(&m, &d), 0);
        check_shape(&m, "long encoded From");
        CHECK_INT(m.folded_lines, 0);
        v = header_copy(&m, "From");
        CHECK(v && strstr(v, "?=\r\n =?UTF-8?B?") != NULL);
        CHECK(v && strstr(v, "?= <joe@example.com>") != NULL);
        free(v);
        message_free(&m);
        d.full_name = NULL;
    }

    /* Present fields, whatever their case, are left alone. */
    {
        const char *text = "date: Mon, 1 Jan 2024 00:00:00 +0000\r\nmessage-id: <a@b>\r\n"
                           "FROM: c@d\r\n\r\nbody\r\n";
        set_message(&m, text);
        CHECK_INT(message_add_missing(&m, &d), 0);
        CHECK_STR(m.data, text);
        message_free(&m);
    }

    /* No header section: the mbox "From " line stays in the body. */
    set_message(&m, "From user Mon Jan  1 00:00:00 2024\r\nhello\r\n");
    CHECK_INT(message_add_missing(&m, &d), 0);
    CHECK_INT(message_header_count(&m, "From"), 1);
    CHECK(strstr(m.data, "\r\n\r\nFrom user Mon Jan  1 00:00:00 2024\r\nhello\r\n") != NULL);
    CHECK_INT(message_body_offset(&m, NULL),
              m.len - strlen("From user Mon Jan  1 00:00:00 2024\r\nhello\r\n"));
    message_free(&m);

    /* Defaults that cannot make a valid field. */
    set_message(&m, "Subject: s\r\n\r\n");
    d.hostname = "bad host>";
    CHECK_INT(message_add_missing(&m, &d), -EINVAL);
    d.hostname = "mx.example.org";
    d.from_address = "";
    CHECK_INT(message_add_missing(&m, &d), -EINVAL);
    d.from_address = "joe@example.com\r\nBcc: x@y";
    CHECK_INT(message_add_missing(&m, &d), -EINVAL);
    CHECK_INT(message_header_count(&m, "From"), 0);
    CHECK_INT(message_add_missing(&m, NULL), -EINVAL);
    message_free(&m);
}

/* ---- recipients ---- */

struct collect {
    char list[1024];
    int stop_after; /* return 7 after this many addresses, 0: never */
    int seen;
};

static int collect(void *arg, const char *addr)
{
    struct collect *c = arg;
    size_t n = strlen(c->list);

    snprintf(c->list + n, sizeof c->list - n, "%s%s", n ? "," : "", addr);
    c->seen++;
    return c->stop_after && c->seen >= c->stop_after ? 7 : 0;
}

struct recipient_case {
    const char *text;
    int stop_after;
    int rc;
    const char *want;
};

static const struct recipient_case recipient_cases[] = {
    {"To: a@x, B <b@x>\r\nCc: c@x\r\nBcc: d@x\r\nSubject: s\r\n\r\nTo: body@x\r\n", 0, 0,
     "a@x,b@x,c@x,d@x"},
    {"to: a@x\r\nCC: b@x\r\nbCC: c@x\r\n", 0, 0, "a@x,b@x,c@x"},
    {"Subject: s\r\nTo: a@x,\r\n b@x\r\nCc: \"Doe, John\" <j@x>\r\n\r\n", 0, 0, "a@x,b@x,j@x"},
    {"Cc: c@x\r\nTo: a@x\r\nTo: b@x\r\n\r\n", 0, 0, "c@x,a@x,b@x"},
    {"To: a@x\r\nResent-To: r@x\r\nResent-Cc: s@x\r\nResent-Bcc: t@x\r\nCc: c@x\r\n\r\n", 0, 0,
     "r@x,s@x,t@x"},
    {"To: a@x\r\nRESENT-DATE: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n", 0, 0, ""},
    {"Subject: none\r\n\r\n", 0, 0, ""},
    {"plain text\r\nTo: a@x\r\n", 0, 0, ""},
    {"", 0, 0, ""},
    {"To: a@x, b@x\r\nCc: c@x\r\n", 1, 7, "a@x"},
    {"To: a@x\r\nCc: <c@x\r\n", 0, -EINVAL, "a@x"},
};

static void test_recipients(void)
{
    struct message m;
    size_t i;

    for (i = 0; i < sizeof recipient_cases / sizeof recipient_cases[0]; i++) {
        const struct recipient_case *c = &recipient_cases[i];
        struct collect got = {"", c->stop_after, 0};
        int before = check_failures;

        set_message(&m, c->text);
        CHECK_INT(message_extract_recipients(&m, collect, &got), c->rc);
        CHECK_STR(got.list, c->want);
        if (check_failures != before)
            fprintf(stderr, "  in recipient case %zu\n", i);
        message_free(&m);
    }
}

static void test_8bit(void)
{
    struct message m;

    message_init(&m);
    CHECK_INT(message_has_8bit(&m), 0);
    set_message(&m, "Subject: plain\r\n\r\nascii ~\x7f\r\n");
    CHECK_INT(message_has_8bit(&m), 0);
    message_free(&m);
    set_message(&m, "Subject: plain\r\n\r\ncaf\xc3\xa9\r\n");
    CHECK_INT(message_has_8bit(&m), 1);
    message_free(&m);
    set_message(&m, "X: \x80\r\n");
    CHECK_INT(message_has_8bit(&m), 1);
    message_free(&m);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s TESTDATA-DIR (holding NAME.in and NAME.out)\n", argv[0]);
        return 1;
    }
    test_golden(argv[1]);
    test_reader_table();
    test_reader_returns();
    test_fold_property();
    test_header_read();
    test_header_edit();
    test_add_missing();
    test_recipients();
    test_8bit();
    CHECK_DONE();
}
