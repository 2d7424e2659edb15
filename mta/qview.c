/*
 * qview.c - views of the queue for mtaq and mailq (see qview.h).
 *
 * Trust: addresses, replies and headers shown here came from users and
 * remote servers; control characters are neutralised before printing so
 * that a queued message cannot drive the operator's terminal, and JSON
 * strings are escaped.
 */
#include "qview.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void qview_json_string(FILE *out, const char *s, size_t len)
{
    fputc('"', out);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch == '\n')
            fputs("\\n", out);
        else if (ch == '\r')
            fputs("\\r", out);
        else if (ch == '\t')
            fputs("\\t", out);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(out, "\\u%04x", ch);
        else
            fputc(ch, out); /* UTF-8 passes through; invalid octets too */
    }
    fputc('"', out);
}

static void jstr(FILE *out, const char *s)
{
    qview_json_string(out, s, strlen(s));
}

/* Prints text with control characters replaced by '?'. */
static void safe_print(FILE *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        fputc((ch < 0x20 && ch != '\t') || ch == 0x7f ? '?' : ch, out);
    }
}

static void safe_puts(FILE *out, const char *s)
{
    safe_print(out, s, strlen(s));
}

static void fmt_time(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    strftime(buf, len, "%a %b %d %H:%M:%S", &tm);
}

static void fmt_iso(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A message whose records do not decode: say so, never stop the listing. */
static void report_damaged(void *arg, const char *id)
{
    fprintf(stderr, "%s: damaged queue record, skipped (mtaq delete %s sets it aside)\n", id, id);
}

/* ---- mailq ---- */

struct mailq_state {
    FILE *out;
    uint64_t messages, bytes;
};

static int mailq_one(void *arg, const struct queue_msg *m)
{
    struct mailq_state *st = arg;
    char when[64];
    int pending = 0, held = 0;

    for (uint32_t i = 0; i < m->nrcpt; i++) {
        pending += m->rcpt[i].state != QUEUE_DELIVERED && m->rcpt[i].state != QUEUE_BOUNCED;
        held += m->rcpt[i].state == QUEUE_HELD;
    }
    if (!pending)
        return 0;
    if (st->messages == 0)
        fprintf(st->out, "-Queue ID-    --Size-- ----Arrival Time---- -Sender/Recipient-------\n");
    st->messages++;
    st->bytes += m->size;
    fmt_time(m->arrival, when, sizeof(when));
    fprintf(st->out, "%s%c %8" PRIu64 " %s  ", m->id, held ? '!' : ' ', m->size, when);
    safe_puts(st->out, m->sender[0] ? m->sender : "MAILER-DAEMON");
    fputc('\n', st->out);
    const char *last = NULL;
    for (uint32_t i = 0; i < m->nrcpt; i++) {
        const struct queue_rcpt *r = &m->rcpt[i];
        if (r->state == QUEUE_DELIVERED || r->state == QUEUE_BOUNCED)
            continue;
        if (r->last_reply[0] && (!last || strcmp(last, r->last_reply) != 0)) {
            fprintf(st->out, "(");
            safe_puts(st->out, r->last_reply);
            fprintf(st->out, ")\n");
            last = r->last_reply;
        }
        fprintf(st->out, "                                           ");
        safe_puts(st->out, r->address);
        fputc('\n', st->out);
    }
    fputc('\n', st->out);
    return 0;
}

int qview_mailq(const struct config *cfg, const struct spool_paths *paths, FILE *out)
{
    struct queue *q = NULL;
    struct queue_txn *t = NULL;
    struct mailq_state st = {out, 0, 0};
    int rc = queue_open(&q, paths->db, 0, QUEUE_OPEN_READONLY);

    if (rc == -ENOENT) {
        fprintf(out, "Mail queue is empty\n");
        return 0;
    }
    if (rc) {
        fprintf(stderr, "mailq: cannot open the queue in %s: %s\n", paths->db, strerror(-rc));
        return rc;
    }
    if ((rc = queue_txn_begin(q, NULL, 0, &t)) == 0) {
        rc = queue_foreach(t, mailq_one, report_damaged, &st);
        queue_txn_abort(t);
    }
    queue_close(q);
    if (rc) {
        fprintf(stderr, "mailq: cannot read the queue: %s\n", strerror(-rc));
        return rc;
    }
    if (st.messages == 0)
        fprintf(out, "Mail queue is empty\n");
    else
        fprintf(out, "-- %" PRIu64 " Kbytes in %" PRIu64 " Request%s.\n", (st.bytes + 1023) / 1024,
                st.messages, st.messages == 1 ? "" : "s");
    return 0;
}

/* ---- list ---- */

/* json_rcpt and json_envelope leave their object open for more fields. */

struct list_state {
    FILE *out;
    int json;
    uint64_t n;
};

static void json_rcpt(FILE *out, const struct queue_rcpt *r)
{
    char iso[32];
    fprintf(out, "{\"address\":");
    jstr(out, r->address);
    fprintf(out, ",\"state\":\"%s\",\"attempts\":%u", queue_state_name(r->state), r->attempts);
    if (r->state == QUEUE_READY || r->state == QUEUE_DEFERRED) {
        fmt_iso(r->next_attempt, iso, sizeof(iso));
        fprintf(out, ",\"next_attempt\":\"%s\"", iso);
    }
    fprintf(out, ",\"last_reply\":");
    jstr(out, r->last_reply);
    if (r->orcpt[0]) {
        fprintf(out, ",\"orcpt\":");
        jstr(out, r->orcpt);
    }
}

static void json_envelope(FILE *out, const struct queue_msg *m)
{
    char iso[32];
    fmt_iso(m->arrival, iso, sizeof(iso));
    fprintf(out, "{\"id\":\"%s\",\"size\":%" PRIu64 ",\"arrival\":\"%s\",\"sender\":", m->id,
            m->size, iso);
    jstr(out, m->sender);
    fprintf(out, ",\"origin\":");
    jstr(out, m->origin);
    fprintf(out, ",\"uid\":%u", m->uid);
    if (m->envid[0]) {
        fprintf(out, ",\"envid\":");
        jstr(out, m->envid);
    }
    fprintf(out, ",\"ret\":\"%s\",\"body\":\"%s\"",
            m->ret == QUEUE_RET_HDRS   ? "hdrs"
            : m->ret == QUEUE_RET_FULL ? "full"
                                       : "default",
            m->body == QUEUE_BODY_8BITMIME ? "8bitmime" : "7bit");
}

static int list_one(void *arg, const struct queue_msg *m)
{
    struct list_state *st = arg;
    FILE *out = st->out;
    char when[64];

    if (st->json) {
        fprintf(out, "%s\n  ", st->n ? "," : "");
        json_envelope(out, m);
        fprintf(out, ",\"recipients\":[");
        for (uint32_t i = 0; i < m->nrcpt; i++) {
            if (i)
                fputc(',', out);
            json_rcpt(out, &m->rcpt[i]);
            fputc('}', out);
        }
        fprintf(out, "]}");
        st->n++;
        return 0;
    }
    st->n++;
    fmt_time(m->arrival, when, sizeof(when));
    fprintf(out, "%s %8" PRIu64 " %s  <", m->id, m->size, when);
    safe_puts(out, m->sender);
    fprintf(out, ">\n");
    for (uint32_t i = 0; i < m->nrcpt; i++) {
        const struct queue_rcpt *r = &m->rcpt[i];
        fprintf(out, "    <");
        safe_puts(out, r->address);
        fprintf(out, "> %s", queue_state_name(r->state));
        if (r->attempts)
            fprintf(out, ", %u attempt%s", r->attempts, r->attempts == 1 ? "" : "s");
        if (r->last_reply[0]) {
            fprintf(out, ": ");
            safe_puts(out, r->last_reply);
        }
        fputc('\n', out);
    }
    return 0;
}

int qview_list(struct queue_txn *t, FILE *out, int json)
{
    struct list_state st = {out, json, 0};
    int rc;
    if (json)
        fputc('[', out);
    rc = queue_foreach(t, list_one, report_damaged, &st);
    if (json)
        fprintf(out, "%s]\n", st.n ? "\n" : "");
    else if (st.n == 0)
        fprintf(out, "Mail queue is empty\n");
    return rc;
}

/* ---- show ---- */

struct hist_state {
    FILE *out;
    int json;
    int n;
};

static int show_event(void *arg, const struct queue_event *ev)
{
    struct hist_state *h = arg;
    char iso[32];
    fmt_iso(ev->time, iso, sizeof(iso));
    if (h->json) {
        fprintf(h->out, "%s{\"time\":\"%s\",\"state\":\"%s\",\"text\":", h->n ? "," : "", iso,
                queue_state_name(ev->state));
        jstr(h->out, ev->text);
        fputc('}', h->out);
    } else {
        fprintf(h->out, "      %s %-9s ", iso, queue_state_name(ev->state));
        safe_puts(h->out, ev->text);
        fputc('\n', h->out);
    }
    h->n++;
    return 0;
}

/* The header section of the content: up to the first empty line. */
static size_t header_length(const char *data, size_t len)
{
    if (len >= 2 && data[0] == '\r' && data[1] == '\n')
        return 0;
    for (size_t i = 0; i + 3 < len; i++)
        if (memcmp(data + i, "\r\n\r\n", 4) == 0)
            return i + 2;
    return len;
}

int qview_show(struct queue_txn *t, const char *id, FILE *out, int json)
{
    struct queue_msg *m = NULL;
    const void *data = NULL;
    size_t len = 0, hlen;
    int rc = queue_get(t, id, &m);

    if (rc)
        return rc;
    if (queue_content(t, id, &data, &len) != 0) {
        data = "";
        len = 0;
    }
    hlen = header_length(data, len);
    if (json) {
        json_envelope(out, m);
        fprintf(out, ",\"headers\":");
        qview_json_string(out, data, hlen);
        fprintf(out, ",\"recipients\":[");
        for (uint32_t i = 0; i < m->nrcpt; i++) {
            struct hist_state h = {out, 1, 0};
            fprintf(out, "%s", i ? "," : "");
            json_rcpt(out, &m->rcpt[i]);
            fprintf(out, ",\"history\":[");
            queue_history(t, id, i, show_event, &h);
            fprintf(out, "]}");
        }
        fprintf(out, "]}\n");
    } else {
        char when[64];
        fmt_time(m->arrival, when, sizeof(when));
        fprintf(out, "id:       %s\narrival:  %s\nsize:     %" PRIu64 "\nsender:   <", m->id, when,
                m->size);
        safe_puts(out, m->sender);
        fprintf(out, ">\norigin:   ");
        safe_puts(out, m->origin);
        fprintf(out, "\n");
        if (m->envid[0]) {
            fprintf(out, "envid:    ");
            safe_puts(out, m->envid);
            fputc('\n', out);
        }
        fprintf(out, "ret:      %s\nbody:     %s\n",
                m->ret == QUEUE_RET_HDRS   ? "hdrs"
                : m->ret == QUEUE_RET_FULL ? "full"
                                           : "default",
                m->body == QUEUE_BODY_8BITMIME ? "8bitmime" : "7bit");
        fprintf(out, "recipients:\n");
        for (uint32_t i = 0; i < m->nrcpt; i++) {
            const struct queue_rcpt *r = &m->rcpt[i];
            struct hist_state h = {out, 0, 0};
            fprintf(out, "  <");
            safe_puts(out, r->address);
            fprintf(out, "> %s, %u attempt%s", queue_state_name(r->state), r->attempts,
                    r->attempts == 1 ? "" : "s");
            if (r->state == QUEUE_READY || r->state == QUEUE_DEFERRED) {
                char next[64];
                fmt_time(r->next_attempt, next, sizeof(next));
                fprintf(out, ", next attempt %s", next);
            }
            fputc('\n', out);
            if (r->last_reply[0]) {
                fprintf(out, "    last reply: ");
                safe_puts(out, r->last_reply);
                fputc('\n', out);
            }
            fprintf(out, "    history:\n");
            queue_history(t, id, i, show_event, &h);
        }
        fprintf(out, "headers:\n");
        const char *p = data, *end = (const char *)data + hlen;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
            if (n && p[n - 1] == '\r')
                n--;
            fprintf(out, "  ");
            safe_print(out, p, n);
            fputc('\n', out);
            p = nl ? nl + 1 : end;
        }
    }
    queue_msg_free(m);
    return 0;
}

/* ---- stats ---- */

struct domain_count {
    char *name;
    uint64_t by_state[7];
};

struct domain_table {
    struct domain_count *slots;
    size_t cap, used;
    int failed;
};

static size_t domain_hash(const char *s)
{
    size_t h = 5381;
    for (; *s; s++)
        h = h * 33 + (unsigned char)(*s | 0x20);
    return h;
}

static void domain_add(void *arg, const char *domain, uint8_t state)
{
    struct domain_table *dt = arg;
    if (dt->failed)
        return;
    if (dt->used * 2 >= dt->cap) {
        size_t ncap = dt->cap ? dt->cap * 2 : 64;
        struct domain_count *ns = calloc(ncap, sizeof(*ns));
        if (!ns) {
            dt->failed = 1;
            return;
        }
        for (size_t i = 0; i < dt->cap; i++) {
            if (!dt->slots[i].name)
                continue;
            size_t j = domain_hash(dt->slots[i].name) & (ncap - 1);
            while (ns[j].name)
                j = (j + 1) & (ncap - 1);
            ns[j] = dt->slots[i];
        }
        free(dt->slots);
        dt->slots = ns;
        dt->cap = ncap;
    }
    size_t j = domain_hash(domain) & (dt->cap - 1);
    while (dt->slots[j].name && strcasecmp(dt->slots[j].name, domain) != 0)
        j = (j + 1) & (dt->cap - 1);
    if (!dt->slots[j].name) {
        if (!(dt->slots[j].name = strdup(domain))) {
            dt->failed = 1;
            return;
        }
        dt->used++;
    }
    if (state < 7)
        dt->slots[j].by_state[state]++;
}

static int domain_cmp(const void *a, const void *b)
{
    const struct domain_count *x = a, *y = b;
    uint64_t nx = 0, ny = 0;
    for (int i = 0; i < 7; i++) {
        nx += x->by_state[i];
        ny += y->by_state[i];
    }
    if (nx != ny)
        return nx > ny ? -1 : 1;
    return strcasecmp(x->name, y->name);
}

int qview_stats(struct queue_txn *t, FILE *out, int json, const char *live)
{
    static const uint8_t shown[] = {QUEUE_READY, QUEUE_DEFERRED, QUEUE_HELD, QUEUE_INFLIGHT};
    struct queue_stats st;
    struct domain_table dt = {0};
    size_t n = 0;
    int rc = queue_stats(t, &st, domain_add, &dt);

    if (rc == 0 && dt.failed)
        rc = -ENOMEM;
    if (rc)
        goto out;
    /* compact the table into a sorted array */
    for (size_t i = 0; i < dt.cap; i++)
        if (dt.slots[i].name)
            dt.slots[n++] = dt.slots[i];
    if (n > 1)
        qsort(dt.slots, n, sizeof(*dt.slots), domain_cmp);
    if (json) {
        fprintf(out,
                "{\"messages\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"set_aside\":%" PRIu64
                ",\"recipients\":{",
                st.messages, st.bytes, st.set_aside);
        for (size_t i = 0; i < sizeof(shown); i++)
            fprintf(out, "%s\"%s\":%" PRIu64, i ? "," : "", queue_state_name(shown[i]),
                    st.by_state[shown[i]]);
        fprintf(out, "},\"domains\":[");
        for (size_t i = 0; i < n; i++) {
            fprintf(out, "%s{\"domain\":", i ? "," : "");
            jstr(out, dt.slots[i].name);
            for (size_t s = 0; s < sizeof(shown); s++)
                fprintf(out, ",\"%s\":%" PRIu64, queue_state_name(shown[s]),
                        dt.slots[i].by_state[shown[s]]);
            fputc('}', out);
        }
        fprintf(out, "]");
        if (live) {
            fprintf(out, ",\"daemon\":");
            jstr(out, live);
        }
        fprintf(out, "}\n");
    } else {
        fprintf(out, "messages:   %" PRIu64 " (%" PRIu64 " bytes)\n", st.messages, st.bytes);
        fprintf(out, "recipients:");
        for (size_t i = 0; i < sizeof(shown); i++)
            fprintf(out, " %s %" PRIu64, queue_state_name(shown[i]), st.by_state[shown[i]]);
        fputc('\n', out);
        if (st.set_aside)
            fprintf(out, "set aside:  %" PRIu64 " damaged message(s), see the log\n", st.set_aside);
        if (n) {
            fprintf(out, "\n%-40s %8s %8s %8s %8s\n", "domain", "ready", "deferred", "held",
                    "sending");
            for (size_t i = 0; i < n; i++) {
                char name[41];
                snprintf(name, sizeof(name), "%s", dt.slots[i].name);
                for (char *p = name; *p; p++)
                    if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        *p = '?';
                fprintf(out, "%-40s %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 "\n", name,
                        dt.slots[i].by_state[QUEUE_READY], dt.slots[i].by_state[QUEUE_DEFERRED],
                        dt.slots[i].by_state[QUEUE_HELD], dt.slots[i].by_state[QUEUE_INFLIGHT]);
            }
        }
    }
out:
    for (size_t i = 0; i < (n ? n : dt.cap); i++)
        free(dt.slots[i].name);
    free(dt.slots);
    return rc;
}
