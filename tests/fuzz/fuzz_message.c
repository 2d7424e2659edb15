/*
 * fuzz_message.c - libFuzzer target for the message reader (raw bytes from
 * a local user on sendmail's stdin, or from an SMTP client in DATA) and the
 * header work done on what it produced.
 *
 * The first input byte is the set-up, the rest is the message:
 *   bits 0-1  reader flags: MESSAGE_DOT_ENDS, MESSAGE_DOT_UNSTUFF
 *   bit  2    a small max_size, so that -EMSGSIZE paths are reached
 *   bits 3-7  where the rest is split in two feeds: n/31 of its length,
 *             (a CR at the end of one feed and LF at the start of the next,
 *             or a "." marker cut in two, must read as if unsplit)
 * Then the header functions run over the result: body offset, To fields,
 * recipient extraction, message_add_missing and Bcc removal. Beyond "no
 * crash, no leak", the target checks the invariants message.h promises:
 * the content is CRLF lines of at most MESSAGE_LINE_MAX octets without NUL,
 * within max_size, and the header functions stay inside it.
 */
#include <errno.h>
#include <string.h>

#include "address.h"
#include "fuzz.h"
#include "message.h"

#define FUZZ_MAX_SIZE_LARGE ((size_t)1 << 20)
#define FUZZ_MAX_SIZE_SMALL ((size_t)2048)

/* CRLF line endings only, no NUL, no line over MESSAGE_LINE_MAX, ends with CRLF. */
static void check_content(const struct message *m)
{
    size_t line_start = 0;

    FUZZ_ASSERT(m->len <= m->cap);
    if (m->len == 0)
        return;
    FUZZ_ASSERT(m->data != NULL);
    FUZZ_ASSERT(m->data[m->len] == '\0'); /* message.c keeps it terminated */
    FUZZ_ASSERT(m->len >= 2 && m->data[m->len - 2] == '\r' && m->data[m->len - 1] == '\n');
    for (size_t i = 0; i < m->len; i++) {
        char c = m->data[i];

        FUZZ_ASSERT(c != '\0');
        if (c == '\r') {
            FUZZ_ASSERT(i + 1 < m->len && m->data[i + 1] == '\n');
            FUZZ_ASSERT(i - line_start <= MESSAGE_LINE_MAX);
            i++;
            line_start = i + 1;
        } else {
            FUZZ_ASSERT(c != '\n');
        }
    }
}

static int count_recipient(void *arg, const char *addr)
{
    size_t *count = arg;

    FUZZ_ASSERT(strlen(addr) < ADDRESS_MAX);
    (*count)++;
    return 0;
}

static void check_headers(struct message *m)
{
    const char *value = NULL;
    size_t body, len = 0, count, found = 0;
    int sep = -1, rc;

    body = message_body_offset(m, &sep);
    FUZZ_ASSERT(body <= m->len);
    FUZZ_ASSERT(sep == 0 || sep == 1);
    FUZZ_ASSERT(message_body_offset(m, NULL) == body);

    count = message_header_count(m, "To");
    for (size_t i = 0; i < count; i++) {
        FUZZ_ASSERT(message_header_get(m, "To", i, &value, &len) == 0);
        FUZZ_ASSERT(value >= m->data && len <= m->len && value + len <= m->data + body);
    }
    FUZZ_ASSERT(message_header_get(m, "To", count, &value, &len) == -ENOENT);

    rc = message_extract_recipients(m, count_recipient, &found);
    FUZZ_ASSERT(rc == 0 || rc == -EINVAL || rc == -ENAMETOOLONG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct message_defaults defaults = {
        .hostname = "fuzz.example.org",
        .from_address = "fuzz@example.org",
        .full_name = "Fuzz \"The\" Tester",
        .now = 1700000000,
    };
    struct message m;
    struct message_reader r;
    const char *rest;
    size_t len, split, max_size, consumed = 0;
    int flags, rc;

    if (size < 1)
        return 0;
    flags = data[0] & (MESSAGE_DOT_ENDS | MESSAGE_DOT_UNSTUFF);
    max_size = data[0] & 0x4 ? FUZZ_MAX_SIZE_SMALL : FUZZ_MAX_SIZE_LARGE;
    rest = (const char *)data + 1;
    len = size - 1;
    split = len * (size_t)(data[0] >> 3) / 31;

    message_init(&m);
    message_reader_init(&r, &m, max_size, flags);
    rc = message_reader_feed(&r, rest, split, &consumed);
    FUZZ_ASSERT(rc == 0 || rc == 1 || rc == -EMSGSIZE || rc == -EINVAL);
    FUZZ_ASSERT(rc == 1 ? consumed <= split : consumed == split);
    if (rc != 1) {
        rc = message_reader_feed(&r, rest + split, len - split, &consumed);
        FUZZ_ASSERT(rc == 0 || rc == 1 || rc == -EMSGSIZE || rc == -EINVAL);
        FUZZ_ASSERT(rc == 1 ? consumed <= len - split : consumed == len - split);
    }
    /* Without a dot flag there is no end marker. */
    FUZZ_ASSERT(rc != 1 || flags != 0);
    rc = message_reader_finish(&r);
    FUZZ_ASSERT(rc == 0 || rc == -EMSGSIZE || rc == -EINVAL);
    FUZZ_ASSERT(m.len <= max_size);
    check_content(&m);

    check_headers(&m);
    rc = message_add_missing(&m, &defaults);
    FUZZ_ASSERT(rc == 0);
    FUZZ_ASSERT(message_header_count(&m, "Date") > 0);
    FUZZ_ASSERT(message_header_count(&m, "Message-ID") > 0);
    FUZZ_ASSERT(message_header_count(&m, "From") > 0);
    check_content(&m);
    check_headers(&m);
    message_remove_bcc(&m);
    FUZZ_ASSERT(message_header_count(&m, "Bcc") == 0);
    FUZZ_ASSERT(message_header_count(&m, "Resent-Bcc") == 0);
    check_content(&m);
    check_headers(&m);

    message_free(&m);
    return 0;
}
