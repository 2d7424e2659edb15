/*
 * fuzz_reply.c - libFuzzer target for the SMTP reply parser (smtp/reply.h):
 * the input is what a remote server sent, read as a stream of pipelined
 * replies until the first error or the end.
 *
 * The same bytes are read twice in lockstep, once handing the parser all
 * that is left at each call and once in chunks of 1 to 64 bytes (sizes
 * drawn from a generator seeded by the input), and both readings must see
 * the same replies end at the same offsets with the same return: TCP cuts
 * a server's bytes anywhere. A third reading without consumed must agree
 * with the first reply of the others. Beyond "no crash, no leak", every
 * reply must keep what reply.h promises: a code 200..599, 1 to
 * SMTP_REPLY_LINES_MAX lines, an enhanced code of the reply's class, text
 * within SMTP_REPLY_TEXT_MAX holding only printable ASCII and the "\n"
 * between lines; smtp_reply_format stays inside its buffer.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
/* Relative, so that registering this target takes no include directory. */
#include "../../smtp/reply.h"

struct stream {
    struct smtp_reply_parser p;
    const char *data;
    size_t size, off;
    int chunked;
    uint32_t seed;
};

/* Gives the next event: 1 and a reply, a negative errno, or 0 at the end
 * of the input; *pos is the offset the event left the input at. */
static int stream_next(struct stream *s, struct smtp_reply *r, size_t *pos)
{
    while (s->off < s->size) {
        size_t left = s->size - s->off, chunk = left, consumed = (size_t)-1;
        int rc;

        if (s->chunked) {
            s->seed = s->seed * 1103515245u + 12345u;
            chunk = 1 + (s->seed >> 16) % 64;
            if (chunk > left)
                chunk = left;
        }
        rc = smtp_reply_feed(&s->p, s->data + s->off, chunk, r, &consumed);
        FUZZ_ASSERT(rc == 0 || rc == 1 || rc == -EPROTO || rc == -EMSGSIZE);
        FUZZ_ASSERT(consumed <= chunk);
        FUZZ_ASSERT(rc != 0 || consumed == chunk);
        /* The shortest reply is "DDD\n": a reply always moves forward. */
        FUZZ_ASSERT(rc != 1 || s->off + consumed >= 4);
        s->off += consumed;
        if (rc != 0) {
            *pos = s->off;
            return rc;
        }
    }
    *pos = s->size;
    return 0;
}

static void check_reply(const struct smtp_reply *r)
{
    size_t len = strnlen(r->text, sizeof r->text), elen, i;
    int newlines = 0;
    char buf[SMTP_REPLY_TEXT_MAX + 64], small[12];

    FUZZ_ASSERT(r->code >= 200 && r->code <= 599);
    FUZZ_ASSERT(r->nlines >= 1 && r->nlines <= SMTP_REPLY_LINES_MAX);
    FUZZ_ASSERT(len < sizeof r->text);
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)r->text[i];

        FUZZ_ASSERT(c == '\n' || (c >= 0x20 && c <= 126));
        newlines += c == '\n';
    }
    /* Only a cut text can hold fewer line breaks than lines - 1. */
    if (len < sizeof r->text - 1)
        FUZZ_ASSERT(newlines == r->nlines - 1);
    else
        FUZZ_ASSERT(newlines <= r->nlines - 1);

    elen = strnlen(r->enhanced, sizeof r->enhanced);
    FUZZ_ASSERT(elen < sizeof r->enhanced);
    if (elen > 0) {
        FUZZ_ASSERT(elen >= 5 && r->enhanced[0] - '0' == r->code / 100);
        FUZZ_ASSERT(r->enhanced[1] == '.');
    }

    memset(buf, 'Z', sizeof buf);
    FUZZ_ASSERT(smtp_reply_format(r, buf, sizeof buf - 1) == buf);
    FUZZ_ASSERT(buf[sizeof buf - 1] == 'Z' && strlen(buf) < sizeof buf - 1);
    FUZZ_ASSERT(strchr(buf, '\n') == NULL);
    memset(small, 'Z', sizeof small);
    smtp_reply_format(r, small, sizeof small - 1);
    FUZZ_ASSERT(small[sizeof small - 1] == 'Z' && strlen(small) < sizeof small - 1);

    FUZZ_ASSERT(smtp_reply_contains(r, "") == 1);
    if (len >= 3) {
        char needle[4] = {r->text[len - 3], r->text[len - 2], r->text[len - 1], '\0'};

        FUZZ_ASSERT(smtp_reply_contains(r, needle) == 1);
    }
}

static int same_reply(const struct smtp_reply *a, const struct smtp_reply *b)
{
    return a->code == b->code && a->nlines == b->nlines && strcmp(a->enhanced, b->enhanced) == 0 &&
           strcmp(a->text, b->text) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Static: two parsers and three replies are some 20 KB. */
    static struct stream whole, chunked;
    static struct smtp_reply r1, r2, first;
    struct smtp_reply_parser *p = &whole.p;
    int rc1, rc2, rc, nreplies = 0;
    size_t pos1, pos2, first_pos = 0;
    uint32_t seed = 2166136261u;

    for (size_t i = 0; i < size; i++)
        seed = (seed ^ data[i]) * 16777619u;
    memset(&whole, 0, sizeof whole);
    memset(&chunked, 0, sizeof chunked);
    whole.data = chunked.data = (const char *)data;
    whole.size = chunked.size = size;
    chunked.chunked = 1;
    chunked.seed = seed;
    smtp_reply_parser_init(&whole.p);
    smtp_reply_parser_init(&chunked.p);

    do {
        rc1 = stream_next(&whole, &r1, &pos1);
        rc2 = stream_next(&chunked, &r2, &pos2);
        FUZZ_ASSERT(rc1 == rc2 && pos1 == pos2);
        if (rc1 == 1) {
            check_reply(&r1);
            FUZZ_ASSERT(same_reply(&r1, &r2));
            if (nreplies++ == 0) {
                first = r1;
                first_pos = pos1;
            }
        }
    } while (rc1 == 1);

    /* One reply at a time, as a caller without consumed reads: a reply
     * followed by more bytes is a protocol error, not lost bytes. */
    smtp_reply_parser_init(p);
    rc = smtp_reply_feed(p, (const char *)data, size, &r1, NULL);
    if (nreplies == 0) {
        FUZZ_ASSERT(rc == rc1);
    } else if (first_pos < size) {
        FUZZ_ASSERT(rc == -EPROTO);
    } else {
        FUZZ_ASSERT(rc == 1 && same_reply(&r1, &first));
    }
    return 0;
}
