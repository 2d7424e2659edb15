/*
 * test_config.c - unit tests of config.c: the file syntax, every kind of bad
 * line with its exact message, each type of value (sizes, numbers,
 * durations and lists of them, words, resolver addresses), the choice of
 * file in config_init(), config_dump() round trips, and etc/mta.conf (given
 * as argv[1]) against the key table.
 *
 * Files are written into a fresh mkdtemp() directory, removed at the end.
 */
#include "config.h"
#include "check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#define KIB ((uint64_t)1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)

#define MINUTE ((uint64_t)60)
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)
#define WEEK (7 * DAY)

static char test_dir[256];
static char test_files[16][64]; /* names written into test_dir, for cleanup */
static size_t test_file_count;

static void test_path(char *out, size_t len, const char *name)
{
    int n = snprintf(out, len, "%s/%s", test_dir, name);

    CHECK(n > 0 && (size_t)n < len);
}

/* Writes len bytes of data to test_dir/name; path receives its full name. */
static void write_bytes(const char *name, const char *data, size_t len, char *path, size_t pathlen)
{
    FILE *f;
    bool known = false;

    test_path(path, pathlen, name);
    f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK_INT(fwrite(data, 1, len, f), len);
    CHECK_INT(fclose(f), 0);
    for (size_t i = 0; i < test_file_count; i++)
        known = known || strcmp(test_files[i], name) == 0;
    if (!known && test_file_count < sizeof test_files / sizeof test_files[0])
        snprintf(test_files[test_file_count++], sizeof test_files[0], "%s", name);
}

static void write_text(const char *name, const char *text, char *path, size_t pathlen)
{
    write_bytes(name, text, strlen(text), path, pathlen);
}

/* Loads bytes written to t.conf over fresh defaults; path gets the file name. */
static int load_bytes(const char *data, size_t len, struct config *cfg, char *err, char *path,
                      size_t pathlen)
{
    write_bytes("t.conf", data, len, path, pathlen);
    config_defaults(cfg);
    err[0] = '\0';
    return config_load(cfg, path, err, CONFIG_ERR_MAX);
}

static int load_text(const char *text, struct config *cfg, char *err, char *path, size_t pathlen)
{
    return load_bytes(text, strlen(text), cfg, err, path, pathlen);
}

/*
 * Field by field for readable failures, then the whole struct, so that a
 * field added later is compared too (config.c zeroes the tail of strings).
 */
static void check_config_equal(const struct config *a, const struct config *b)
{
    struct config ca = *a, cb = *b;

    CHECK_STR(a->hostname, b->hostname);
    CHECK_STR(a->local_domain, b->local_domain);
    CHECK_STR(a->queue_dir, b->queue_dir);
    CHECK_INT(a->max_message_size, b->max_message_size);
    CHECK_STR(a->aliases, b->aliases);
    CHECK_STR(a->log, b->log);
    CHECK_STR(a->setgid_group, b->setgid_group);
    CHECK_INT(a->queue_map_size, b->queue_map_size);
    CHECK_STR(a->delivery, b->delivery);
    CHECK_STR(a->dns_servers, b->dns_servers);
    CHECK_STR(a->inet_protocols, b->inet_protocols);
    CHECK_INT(a->smtp_port, b->smtp_port);
    CHECK_INT(a->smtp_connect_timeout, b->smtp_connect_timeout);
    CHECK_INT(a->smtp_helo_timeout, b->smtp_helo_timeout);
    CHECK_INT(a->smtp_mail_timeout, b->smtp_mail_timeout);
    CHECK_INT(a->smtp_rcpt_timeout, b->smtp_rcpt_timeout);
    CHECK_INT(a->smtp_data_init_timeout, b->smtp_data_init_timeout);
    CHECK_INT(a->smtp_data_xfer_timeout, b->smtp_data_xfer_timeout);
    CHECK_INT(a->smtp_data_done_timeout, b->smtp_data_done_timeout);
    CHECK_INT(a->smtp_quit_timeout, b->smtp_quit_timeout);
    CHECK_INT(a->retry_schedule_count, b->retry_schedule_count);
    for (size_t i = 0; i < CONFIG_LIST_MAX; i++)
        CHECK_INT(a->retry_schedule[i], b->retry_schedule[i]);
    CHECK_INT(a->max_queue_lifetime, b->max_queue_lifetime);
    CHECK_INT(a->delay_warning_time, b->delay_warning_time);
    CHECK_INT(a->max_connections, b->max_connections);
    CHECK_INT(a->max_connections_per_destination, b->max_connections_per_destination);
    CHECK_INT(a->max_recipients_per_transaction, b->max_recipients_per_transaction);
    CHECK_INT(a->max_messages_per_connection, b->max_messages_per_connection);
    CHECK_INT(a->connection_idle_timeout, b->connection_idle_timeout);
    CHECK_INT(a->smtp_max_addresses, b->smtp_max_addresses);
    CHECK_INT(a->throttle_pause, b->throttle_pause);
    memset(ca.path, 0, sizeof ca.path);
    memset(cb.path, 0, sizeof cb.path);
    CHECK(memcmp(&ca, &cb, sizeof ca) == 0);
}

static void test_parse_size(void)
{
    static const struct {
        const char *text;
        int rc;
        uint64_t value;
    } cases[] = {
        {"0", 0, 0},
        {"1", 0, 1},
        {"007", 0, 7},
        {"1k", 0, KIB},
        {"1K", 0, KIB},
        {"35M", 0, 35 * MIB},
        {"35m", 0, 35 * MIB},
        {"2G", 0, 2 * GIB},
        {"2g", 0, 2 * GIB},
        {"1024G", 0, 1024 * GIB},
        {"18446744073709551615", 0, UINT64_MAX},
        {"18446744073709551616", -EINVAL, 0},
        {"99999999999999999999999", -EINVAL, 0},
        {"17179869183G", 0, 17179869183 * GIB},
        {"17179869184G", -EINVAL, 0}, /* 2^64 */
        {"18014398509481984k", -EINVAL, 0},
        {"", -EINVAL, 0},
        {"k", -EINVAL, 0},
        {"1kb", -EINVAL, 0},
        {"1kk", -EINVAL, 0},
        {"1T", -EINVAL, 0},
        {"1.5M", -EINVAL, 0},
        {"-1", -EINVAL, 0},
        {"+1", -EINVAL, 0},
        {" 1", -EINVAL, 0},
        {"1 ", -EINVAL, 0},
        {"1 k", -EINVAL, 0},
        {"0x10", -EINVAL, 0},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t value = 12345;
        int rc = config_parse_size(cases[i].text, &value);
        if (rc != cases[i].rc)
            fprintf(stderr, "size \"%s\":\n", cases[i].text);
        CHECK_INT(rc, cases[i].rc);
        if (cases[i].rc == 0)
            CHECK(value == cases[i].value);
        else
            CHECK(value == 12345); /* untouched on error */
    }
}

static void test_defaults(void)
{
    struct config cfg;

    config_defaults(&cfg);
    CHECK_STR(cfg.hostname, "");
    CHECK_STR(cfg.local_domain, "");
    CHECK_STR(cfg.queue_dir, "/var/spool/mta");
    CHECK(cfg.max_message_size == 36700160);
    CHECK_STR(cfg.aliases, "/etc/aliases");
    CHECK_STR(cfg.log, "stderr");
    CHECK_STR(cfg.setgid_group, "mtadrop");
    CHECK(cfg.queue_map_size == 4 * GIB);
    CHECK_STR(cfg.delivery, "on");
    CHECK_STR(cfg.dns_servers, "");
    CHECK_STR(cfg.inet_protocols, "all");
    CHECK_INT(cfg.smtp_port, 25);
    CHECK_INT(cfg.smtp_connect_timeout, 30);
    CHECK_INT(cfg.smtp_helo_timeout, 300);
    CHECK_INT(cfg.smtp_mail_timeout, 300);
    CHECK_INT(cfg.smtp_rcpt_timeout, 300);
    CHECK_INT(cfg.smtp_data_init_timeout, 120);
    CHECK_INT(cfg.smtp_data_xfer_timeout, 180);
    CHECK_INT(cfg.smtp_data_done_timeout, 600);
    CHECK_INT(cfg.smtp_quit_timeout, 300);
    CHECK_INT(cfg.retry_schedule_count, 7);
    CHECK_INT(cfg.retry_schedule[0], 5 * MINUTE);
    CHECK_INT(cfg.retry_schedule[1], 10 * MINUTE);
    CHECK_INT(cfg.retry_schedule[2], 20 * MINUTE);
    CHECK_INT(cfg.retry_schedule[3], 40 * MINUTE);
    CHECK_INT(cfg.retry_schedule[4], HOUR);
    CHECK_INT(cfg.retry_schedule[5], 2 * HOUR);
    CHECK_INT(cfg.retry_schedule[6], 4 * HOUR);
    CHECK_INT(cfg.retry_schedule[7], 0);
    CHECK_INT(cfg.max_queue_lifetime, 5 * DAY);
    CHECK_INT(cfg.delay_warning_time, 4 * HOUR);
    CHECK_INT(cfg.max_connections, 100);
    CHECK_INT(cfg.max_connections_per_destination, 20);
    CHECK_INT(cfg.max_recipients_per_transaction, 100);
    CHECK_INT(cfg.max_messages_per_connection, 100);
    CHECK_INT(cfg.connection_idle_timeout, 5);
    CHECK_INT(cfg.smtp_max_addresses, 5);
    CHECK_INT(cfg.throttle_pause, 60);
    CHECK_STR(cfg.path, "");
}

/* The table: unique names, NULL past the end, every default a valid value. */
static void test_key_table(void)
{
    char text[4096] = "", path[512], err[CONFIG_ERR_MAX];
    struct config loaded, expected;
    const char *name, *def, *other;
    size_t n = 0, used = 0;

    while ((name = config_key_name(n, &def)) != NULL) {
        CHECK(def != NULL);
        for (size_t j = 0; j < n; j++) {
            other = config_key_name(j, NULL);
            if (strcmp(name, other) == 0)
                fprintf(stderr, "key %s is in the table twice\n", name);
            CHECK(strcmp(name, other) != 0);
        }
        used += (size_t)snprintf(text + used, sizeof text - used, "%s = %s\n", name, def);
        CHECK(used < sizeof text);
        n++;
    }
    CHECK_INT(n, 49);
    def = "x";
    CHECK(config_key_name(n, &def) == NULL);
    CHECK(def == NULL);

    /* Written out, the defaults load back as the defaults. */
    CHECK_INT(load_text(text, &loaded, err, path, sizeof path), 0);
    CHECK_STR(err, "");
    config_defaults(&expected);
    CHECK_INT(config_finish(&expected, err, sizeof err), 0);
    check_config_equal(&loaded, &expected);
}

static const char good_text[] = "# a test configuration\n"
                                "   # an indented comment = not a setting\n"
                                "\n"
                                "  \t \n"
                                "hostname = Mail-1.Example.COM\n"
                                "local_domain=example.org\n"
                                "\tqueue_dir\t=\t/srv/mta queue#1\t \n"
                                "max_message_size = 10M\n"
                                "aliases =\n"
                                "log = /var/log/mta=main.log\n"
                                "setgid_group = mail_drop-1\n"
                                "queue_map_size = 1024G\n"
                                "max_message_size = 20m\n"
                                "#max_message_size = 30M\n";

static void check_good(const struct config *cfg)
{
    CHECK_STR(cfg->hostname, "Mail-1.Example.COM");
    CHECK_STR(cfg->local_domain, "example.org");
    CHECK_STR(cfg->queue_dir, "/srv/mta queue#1"); /* '#' inside a value is kept */
    CHECK(cfg->max_message_size == 20 * MIB);      /* the last of two wins */
    CHECK_STR(cfg->aliases, "");
    CHECK_STR(cfg->log, "/var/log/mta=main.log"); /* split at the first '=' */
    CHECK_STR(cfg->setgid_group, "mail_drop-1");
    CHECK(cfg->queue_map_size == 1024 * GIB);
}

static void test_good_file(void)
{
    char path[512], err[CONFIG_ERR_MAX], crlf[2 * sizeof good_text];
    struct config cfg;
    size_t n = 0;

    CHECK_INT(load_text(good_text, &cfg, err, path, sizeof path), 0);
    CHECK_STR(err, "");
    check_good(&cfg);
    CHECK_STR(cfg.path, path);

    for (const char *p = good_text; *p; p++) {
        if (*p == '\n')
            crlf[n++] = '\r';
        crlf[n++] = *p;
    }
    crlf[n] = '\0';
    CHECK_INT(load_text(crlf, &cfg, err, path, sizeof path), 0);
    CHECK_STR(err, "");
    check_good(&cfg);

    /* No newline at the end; CRLF on the last line only; keys left out keep defaults. */
    CHECK_INT(load_text("hostname = a.b\r\nlog = syslog", &cfg, err, path, sizeof path), 0);
    CHECK_STR(err, "");
    CHECK_STR(cfg.hostname, "a.b");
    CHECK_STR(cfg.local_domain, "b");
    CHECK_STR(cfg.log, "syslog");
    CHECK_STR(cfg.queue_dir, "/var/spool/mta");
    CHECK(cfg.max_message_size == 35 * MIB);

    /* Size limits are inclusive. */
    CHECK_INT(load_text("hostname = a.b\nmax_message_size = 1k\nqueue_map_size = 1M\n", &cfg, err,
                        path, sizeof path),
              0);
    CHECK(cfg.max_message_size == KIB);
    CHECK(cfg.queue_map_size == MIB);
    CHECK_INT(load_text("hostname = a.b\nmax_message_size = 2048M\nqueue_map_size = 1048576M\n",
                        &cfg, err, path, sizeof path),
              0);
    CHECK(cfg.max_message_size == 2 * GIB);
    CHECK(cfg.queue_map_size == 1024 * GIB);

    /* An empty file. */
    CHECK_INT(load_text("", &cfg, err, path, sizeof path), 0);
    CHECK_STR(cfg.queue_dir, "/var/spool/mta");
}

/* Loads "hostname = a.b" (so that no resolver is asked) and one more line. */
static int load_line(const char *line, struct config *cfg, char *err)
{
    char text[4200], path[512];

    snprintf(text, sizeof text, "hostname = a.b\n%s\n", line);
    return load_text(text, cfg, err, path, sizeof path);
}

static uint64_t field_u64(const struct config *cfg, size_t offset)
{
    uint64_t value;

    memcpy(&value, (const char *)cfg + offset, sizeof value);
    return value;
}

#define FIELD(f) offsetof(struct config, f)

/* Good values of numbers and durations: suffixes, limits (inclusive). */
static void test_numbers(void)
{
    static const struct {
        const char *line;
        size_t field;
        uint64_t value;
    } cases[] = {
        {"smtp_port = 1", FIELD(smtp_port), 1},
        {"smtp_port = 587", FIELD(smtp_port), 587},
        {"smtp_port = 00025", FIELD(smtp_port), 25},
        {"smtp_port = 65535", FIELD(smtp_port), 65535},
        {"max_connections = 1", FIELD(max_connections), 1},
        {"max_connections = 100000", FIELD(max_connections), 100000},
        {"max_connections_per_destination = 10000", FIELD(max_connections_per_destination), 10000},
        {"max_recipients_per_transaction = 1000", FIELD(max_recipients_per_transaction), 1000},
        {"max_messages_per_connection = 100000", FIELD(max_messages_per_connection), 100000},
        {"smtp_max_addresses = 1", FIELD(smtp_max_addresses), 1},
        {"smtp_max_addresses = 50", FIELD(smtp_max_addresses), 50},
        /* A plain number is seconds; every suffix. */
        {"smtp_connect_timeout = 1", FIELD(smtp_connect_timeout), 1},
        {"smtp_connect_timeout = 1s", FIELD(smtp_connect_timeout), 1},
        {"smtp_connect_timeout = 90", FIELD(smtp_connect_timeout), 90},
        {"smtp_connect_timeout = 007s", FIELD(smtp_connect_timeout), 7},
        {"smtp_helo_timeout = 2m", FIELD(smtp_helo_timeout), 2 * MINUTE},
        {"smtp_mail_timeout = 1h", FIELD(smtp_mail_timeout), HOUR},
        {"smtp_rcpt_timeout = 3600", FIELD(smtp_rcpt_timeout), HOUR},
        {"smtp_data_init_timeout = 60m", FIELD(smtp_data_init_timeout), HOUR},
        {"smtp_data_xfer_timeout = 3599s", FIELD(smtp_data_xfer_timeout), 3599},
        {"smtp_data_done_timeout = 1h", FIELD(smtp_data_done_timeout), HOUR},
        {"smtp_quit_timeout = 10s", FIELD(smtp_quit_timeout), 10},
        {"max_queue_lifetime = 1m", FIELD(max_queue_lifetime), MINUTE},
        {"max_queue_lifetime = 60", FIELD(max_queue_lifetime), MINUTE},
        {"max_queue_lifetime = 1d", FIELD(max_queue_lifetime), DAY},
        {"max_queue_lifetime = 2w", FIELD(max_queue_lifetime), 2 * WEEK},
        {"max_queue_lifetime = 100d", FIELD(max_queue_lifetime), 100 * DAY},
        {"max_queue_lifetime = 2400h", FIELD(max_queue_lifetime), 100 * DAY},
        {"delay_warning_time = 0", FIELD(delay_warning_time), 0},
        {"delay_warning_time = 0s", FIELD(delay_warning_time), 0},
        {"delay_warning_time = 0w", FIELD(delay_warning_time), 0},
        {"delay_warning_time = 100d", FIELD(delay_warning_time), 100 * DAY},
        {"connection_idle_timeout = 1", FIELD(connection_idle_timeout), 1},
        {"connection_idle_timeout = 1h", FIELD(connection_idle_timeout), HOUR},
        {"throttle_pause = 1s", FIELD(throttle_pause), 1},
        {"throttle_pause = 1d", FIELD(throttle_pause), DAY},
        {"throttle_pause = 24h", FIELD(throttle_pause), DAY},
    };
    char err[CONFIG_ERR_MAX];
    struct config cfg;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = load_line(cases[i].line, &cfg, err);
        if (rc != 0)
            fprintf(stderr, "\"%s\": %s\n", cases[i].line, err);
        CHECK_INT(rc, 0);
        CHECK_INT(field_u64(&cfg, cases[i].field), cases[i].value);
    }
}

/* Good values of words and resolver lists, and what is stored. */
static void test_strings(void)
{
    static const struct {
        const char *line;
        size_t field;
        const char *value;
    } cases[] = {
        {"delivery = on", FIELD(delivery), "on"},
        {"delivery = off", FIELD(delivery), "off"},
        {"inet_protocols = all", FIELD(inet_protocols), "all"},
        {"inet_protocols = ipv4", FIELD(inet_protocols), "ipv4"},
        {"inet_protocols = ipv6", FIELD(inet_protocols), "ipv6"},
        {"dns_servers =", FIELD(dns_servers), ""},
        {"dns_servers = 192.0.2.1", FIELD(dns_servers), "192.0.2.1:53"},
        {"dns_servers = 192.0.2.1:5353", FIELD(dns_servers), "192.0.2.1:5353"},
        {"dns_servers = 192.0.2.1:00053", FIELD(dns_servers), "192.0.2.1:53"},
        {"dns_servers = 192.0.2.1:1", FIELD(dns_servers), "192.0.2.1:1"},
        {"dns_servers = 192.0.2.1:65535", FIELD(dns_servers), "192.0.2.1:65535"},
        {"dns_servers = [::1]", FIELD(dns_servers), "[::1]:53"},
        {"dns_servers = [::1]:5353", FIELD(dns_servers), "[::1]:5353"},
        {"dns_servers = [2001:DB8:0:0:0:0:0:1]", FIELD(dns_servers), "[2001:db8::1]:53"},
        {"dns_servers = [::ffff:192.0.2.1]:53", FIELD(dns_servers), "[::ffff:192.0.2.1]:53"},
        {"dns_servers = 192.0.2.1 , [2001:db8::53]:5353,\t198.51.100.7", FIELD(dns_servers),
         "192.0.2.1:53,[2001:db8::53]:5353,198.51.100.7:53"},
        {"dns_servers = 192.0.2.1,192.0.2.2,192.0.2.3,192.0.2.4,192.0.2.5,192.0.2.6,"
         "192.0.2.7,192.0.2.8",
         FIELD(dns_servers),
         "192.0.2.1:53,192.0.2.2:53,192.0.2.3:53,192.0.2.4:53,192.0.2.5:53,192.0.2.6:53,"
         "192.0.2.7:53,192.0.2.8:53"},
        /* Eight of the longest entries fit the field. */
        {"dns_servers = [1111:2222:3333:4444:5555:6666:7777:8888]:65535,"
         "[1111:2222:3333:4444:5555:6666:7777:8888]:65535,"
         "[1111:2222:3333:4444:5555:6666:7777:8888]:65535,"
         "[1111:2222:3333:4444:5555:6666:7777:8888]:65535,"
         "[1111:2222:3333:4444:5555:6666:7777:8888]:65535,"
         "[1111:2222:3333:4444:5555:6666:7777:8888]:65535,"
         "[1111:2222:3333:4444:5555:6666:7777:8888]:65535,"
         "[::ffff:255.255.255.255]:65535",
         FIELD(dns_servers),
         "[1111:2222:3333:4444:5555:6666:7777:8888]:65535,"
         "[1111:2222:3333:4444:5555:6666:7777:8888]:65535,"
         "[1111:2222:3333:4444:5555:6666:7777:8888]:65535,"
         "[1111:2222:3333:4444:5555:6666:7777:8888]:65535,"
         "[1111:2222:3333:4444:5555:6666:7777:8888]:65535,"
         "[1111:2222:3333:4444:5555:6666:7777:8888]:65535,"
         "[1111:2222:3333:4444:5555:6666:7777:8888]:65535,"
         "[::ffff:255.255.255.255]:65535"},
    };
    char err[CONFIG_ERR_MAX];
    struct config cfg;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = load_line(cases[i].line, &cfg, err);
        if (rc != 0)
            fprintf(stderr, "\"%s\": %s\n", cases[i].line, err);
        CHECK_INT(rc, 0);
        CHECK_STR((const char *)&cfg + cases[i].field, cases[i].value);
    }
}

static void test_duration_lists(void)
{
    static const struct {
        const char *line;
        size_t count;
        uint64_t values[CONFIG_LIST_MAX];
    } cases[] = {
        {"retry_schedule = 5m", 1, {5 * MINUTE}},
        {"retry_schedule = 1", 1, {1}},
        {"retry_schedule = 1s,7d", 2, {1, WEEK}},
        {"retry_schedule = 1w , 30\t,\t2h ,90m", 4, {WEEK, 30, 2 * HOUR, 90 * MINUTE}},
        {"retry_schedule = 4h,2h,1h", 3, {4 * HOUR, 2 * HOUR, HOUR}}, /* not sorted: as given */
        {"retry_schedule = 5m,10m,20m,40m,1h,2h,4h",
         7,
         {5 * MINUTE, 10 * MINUTE, 20 * MINUTE, 40 * MINUTE, HOUR, 2 * HOUR, 4 * HOUR}},
        {"retry_schedule = 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16",
         16,
         {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}},
    };
    char err[CONFIG_ERR_MAX];
    struct config cfg;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = load_line(cases[i].line, &cfg, err);
        if (rc != 0)
            fprintf(stderr, "\"%s\": %s\n", cases[i].line, err);
        CHECK_INT(rc, 0);
        CHECK_INT(cfg.retry_schedule_count, cases[i].count);
        /* Entries past the count are zero, so that equal settings give equal structs. */
        for (size_t j = 0; j < CONFIG_LIST_MAX; j++)
            CHECK_INT(cfg.retry_schedule[j], cases[i].values[j]);
    }

    /* A shorter list replaces a longer one completely. */
    CHECK_INT(load_line("retry_schedule = 1,2,3,4,5,6,7,8,9,10\nretry_schedule = 1h", &cfg, err),
              0);
    CHECK_INT(cfg.retry_schedule_count, 1);
    CHECK_INT(cfg.retry_schedule[0], HOUR);
    CHECK_INT(cfg.retry_schedule[1], 0);
    CHECK_INT(cfg.retry_schedule[9], 0);
}

/* Bad lines: rc -EINVAL, this exact message after "path:", cfg untouched. */
static void check_bad_bytes(const char *data, size_t len, const char *expected)
{
    char path[512], err[CONFIG_ERR_MAX], want[CONFIG_ERR_MAX + 600];
    struct config cfg, defaults;

    CHECK_INT(load_bytes(data, len, &cfg, err, path, sizeof path), -EINVAL);
    snprintf(want, sizeof want, "%s:%s", path, expected);
    CHECK_STR(err, want);
    config_defaults(&defaults);
    CHECK(memcmp(&cfg, &defaults, sizeof cfg) == 0);
}

static void check_bad(const char *text, const char *expected)
{
    check_bad_bytes(text, strlen(text), expected);
}

#define HOST_ERR                                                                                   \
    "expected a host name such as mail.example.com: labels of letters, digits and '-' (not at "    \
    "either end), 1 to 63 bytes each, at most 253 in all"
#define SIZE_ERR "expected a size: a number with an optional k, M or G suffix (powers of 1024)"
#define PATH_ERR "expected an absolute path (starting with '/')"
#define LOG_ERR "expected stderr, syslog or an absolute file path"
#define GROUP_ERR                                                                                  \
    "expected a group name: a lower-case letter or '_', then lower-case letters, digits, '_' or "  \
    "'-', at most 32 in all"
#define DURATION_ERR "expected a duration like 30s, 5m, 4h or 5d"
#define NUMBER_ERR "expected a number (decimal digits only)"
#define RESOLVER_ERR "expected ip, ip:port, [ipv6] or [ipv6]:port"
#define BRACKETS_ERR "write an IPv6 address in brackets, as in [::1] or [::1]:53"
#define PORT_ERR "the port must be between 1 and 65535"

static void test_bad_lines(void)
{
    static const struct {
        const char *text;
        const char *error; /* after "path:" */
    } cases[] = {
        {"foo = 1\n", "1: foo: unknown key"},
        {"Hostname = a.b\n", "1: Hostname: unknown key"},
        {"host name = a.b\n", "1: host name: unknown key"},
        {"fo\001o = 1\n", "1: fo?o: unknown key"},
        {"hostname = a.b\r\n\r\n# c\r\nfoo = 1\r\n", "4: foo: unknown key"},
        {"hostname = a.b\nfoo\n", "2: foo: expected \"key = value\""},
        {"hostname mail.example.com\n", "1: hostname: expected \"key = value\""},
        {"[main]\n", "1: [main]: expected \"key = value\""},
        {" = x\n", "1: missing key before '='"},
        {"max_message_size = 10x\n", "1: max_message_size: " SIZE_ERR},
        {"max_message_size =\n", "1: max_message_size: " SIZE_ERR},
        {"max_message_size = 1.5M\n", "1: max_message_size: " SIZE_ERR},
        {"max_message_size = 35M # comment\n", "1: max_message_size: " SIZE_ERR},
        {"max_message_size = 1023\n", "1: max_message_size: must be between 1k and 2G"},
        {"max_message_size = 2049M", "1: max_message_size: must be between 1k and 2G"},
        {"queue_map_size = 1023k\n", "1: queue_map_size: must be between 1M and 1024G"},
        {"queue_map_size = 1025G\n", "1: queue_map_size: must be between 1M and 1024G"},
        {"queue_map_size = 18446744073709551616\n", "1: queue_map_size: " SIZE_ERR},
        {"queue_map_size = 17179869184G\n", "1: queue_map_size: " SIZE_ERR},
        {"queue_map_size = 1T\n", "1: queue_map_size: " SIZE_ERR},
        {"queue_dir = var/spool/mta\n", "1: queue_dir: " PATH_ERR},
        {"queue_dir =\n", "1: queue_dir: " PATH_ERR},
        {"aliases = etc/aliases\n",
         "1: aliases: expected an absolute path (starting with '/'), or nothing to disable"},
        {"hostname = -mail.example.com\n", "1: hostname: " HOST_ERR},
        {"hostname = mail-.example.com\n", "1: hostname: " HOST_ERR},
        {"hostname = mail..example.com\n", "1: hostname: " HOST_ERR},
        {"hostname = .example.com\n", "1: hostname: " HOST_ERR},
        {"hostname = example.com.\n", "1: hostname: " HOST_ERR},
        {"hostname = mail_1.example.com\n", "1: hostname: " HOST_ERR},
        {"hostname = mail.example.com # the MX\n", "1: hostname: " HOST_ERR},
        {"hostname = m\xc3\xa4il.example.com\n", "1: hostname: " HOST_ERR},
        {"local_domain = exa mple.com\n", "1: local_domain: " HOST_ERR},
        {"log = mta.log\n", "1: log: " LOG_ERR},
        {"log = Syslog\n", "1: log: " LOG_ERR},
        {"log =\n", "1: log: " LOG_ERR},
        {"setgid_group = Mtadrop\n", "1: setgid_group: " GROUP_ERR},
        {"setgid_group = 1drop\n", "1: setgid_group: " GROUP_ERR},
        {"setgid_group = -drop\n", "1: setgid_group: " GROUP_ERR},
        {"setgid_group = mta drop\n", "1: setgid_group: " GROUP_ERR},
        {"setgid_group =\n", "1: setgid_group: " GROUP_ERR},
        {"setgid_group = abcdefghijabcdefghijabcdefghijabc\n", "1: setgid_group: " GROUP_ERR},
        /* Words. */
        {"delivery = yes\n", "1: delivery: expected on or off"},
        {"delivery = On\n", "1: delivery: expected on or off"},
        {"delivery = on off\n", "1: delivery: expected on or off"},
        {"delivery =\n", "1: delivery: expected on or off"},
        {"inet_protocols = ipv5\n", "1: inet_protocols: expected all, ipv4 or ipv6"},
        {"inet_protocols = IPv4\n", "1: inet_protocols: expected all, ipv4 or ipv6"},
        {"inet_protocols = ipv4,ipv6\n", "1: inet_protocols: expected all, ipv4 or ipv6"},
        {"inet_protocols =\n", "1: inet_protocols: expected all, ipv4 or ipv6"},
        /* Numbers. */
        {"smtp_port =\n", "1: smtp_port: " NUMBER_ERR},
        {"smtp_port = 25x\n", "1: smtp_port: " NUMBER_ERR},
        {"smtp_port = smtp\n", "1: smtp_port: " NUMBER_ERR},
        {"smtp_port = +25\n", "1: smtp_port: " NUMBER_ERR},
        {"smtp_port = -1\n", "1: smtp_port: " NUMBER_ERR},
        {"smtp_port = 2 5\n", "1: smtp_port: " NUMBER_ERR},
        {"smtp_port = 0x19\n", "1: smtp_port: " NUMBER_ERR},
        {"smtp_port = 1e3\n", "1: smtp_port: " NUMBER_ERR},
        {"smtp_port = 25s\n", "1: smtp_port: " NUMBER_ERR},
        {"smtp_port = 0\n", "1: smtp_port: must be between 1 and 65535"},
        {"smtp_port = 65536\n", "1: smtp_port: must be between 1 and 65535"},
        {"smtp_port = 18446744073709551615\n", "1: smtp_port: must be between 1 and 65535"},
        {"smtp_port = 18446744073709551616\n", "1: smtp_port: must be between 1 and 65535"},
        {"smtp_port = 99999999999999999999999\n", "1: smtp_port: must be between 1 and 65535"},
        {"max_connections = 0\n", "1: max_connections: must be between 1 and 100000"},
        {"max_connections = 100001\n", "1: max_connections: must be between 1 and 100000"},
        {"max_connections_per_destination = 10001\n",
         "1: max_connections_per_destination: must be between 1 and 10000"},
        {"max_recipients_per_transaction = 0\n",
         "1: max_recipients_per_transaction: must be between 1 and 1000"},
        {"max_recipients_per_transaction = 1001\n",
         "1: max_recipients_per_transaction: must be between 1 and 1000"},
        {"max_messages_per_connection = 100001\n",
         "1: max_messages_per_connection: must be between 1 and 100000"},
        {"smtp_max_addresses = 0\n", "1: smtp_max_addresses: must be between 1 and 50"},
        {"smtp_max_addresses = 51\n", "1: smtp_max_addresses: must be between 1 and 50"},
        /* Durations. */
        {"smtp_connect_timeout =\n", "1: smtp_connect_timeout: " DURATION_ERR},
        {"smtp_connect_timeout = 30x\n", "1: smtp_connect_timeout: " DURATION_ERR},
        {"smtp_connect_timeout = 30S\n", "1: smtp_connect_timeout: " DURATION_ERR},
        {"smtp_connect_timeout = 5M\n", "1: smtp_connect_timeout: " DURATION_ERR},
        {"smtp_connect_timeout = 30ms\n", "1: smtp_connect_timeout: " DURATION_ERR},
        {"smtp_connect_timeout = 30ss\n", "1: smtp_connect_timeout: " DURATION_ERR},
        {"smtp_connect_timeout = 1m30s\n", "1: smtp_connect_timeout: " DURATION_ERR},
        {"smtp_connect_timeout = 1.5m\n", "1: smtp_connect_timeout: " DURATION_ERR},
        {"smtp_connect_timeout = 30 s\n", "1: smtp_connect_timeout: " DURATION_ERR},
        {"smtp_connect_timeout = s\n", "1: smtp_connect_timeout: " DURATION_ERR},
        {"smtp_connect_timeout = -1\n", "1: smtp_connect_timeout: " DURATION_ERR},
        {"smtp_connect_timeout = +30s\n", "1: smtp_connect_timeout: " DURATION_ERR},
        {"smtp_connect_timeout = 0x10\n", "1: smtp_connect_timeout: " DURATION_ERR},
        {"smtp_connect_timeout = 30s # half a minute\n", "1: smtp_connect_timeout: " DURATION_ERR},
        {"smtp_connect_timeout = 0\n", "1: smtp_connect_timeout: must be between 1s and 1h"},
        {"smtp_connect_timeout = 0s\n", "1: smtp_connect_timeout: must be between 1s and 1h"},
        {"smtp_connect_timeout = 3601\n", "1: smtp_connect_timeout: must be between 1s and 1h"},
        {"smtp_helo_timeout = 61m\n", "1: smtp_helo_timeout: must be between 1s and 1h"},
        {"smtp_mail_timeout = 2h\n", "1: smtp_mail_timeout: must be between 1s and 1h"},
        {"smtp_rcpt_timeout = 1d\n", "1: smtp_rcpt_timeout: must be between 1s and 1h"},
        {"smtp_data_init_timeout = 1w\n", "1: smtp_data_init_timeout: must be between 1s and 1h"},
        {"smtp_data_xfer_timeout = 0\n", "1: smtp_data_xfer_timeout: must be between 1s and 1h"},
        {"smtp_data_done_timeout = 3601s\n",
         "1: smtp_data_done_timeout: must be between 1s and 1h"},
        {"smtp_quit_timeout = 0m\n", "1: smtp_quit_timeout: must be between 1s and 1h"},
        /* Too large for 64 bits: before the suffix, or once multiplied by it. */
        {"smtp_quit_timeout = 18446744073709551616\n",
         "1: smtp_quit_timeout: must be between 1s and 1h"},
        {"smtp_quit_timeout = 99999999999999999999999s\n",
         "1: smtp_quit_timeout: must be between 1s and 1h"},
        {"max_queue_lifetime = 30500568904944w\n",
         "1: max_queue_lifetime: must be between 1m and 100d"},
        {"max_queue_lifetime = 99999999999999999999999x\n", "1: max_queue_lifetime: " DURATION_ERR},
        {"max_queue_lifetime = 59s\n", "1: max_queue_lifetime: must be between 1m and 100d"},
        {"max_queue_lifetime = 0\n", "1: max_queue_lifetime: must be between 1m and 100d"},
        {"max_queue_lifetime = 101d\n", "1: max_queue_lifetime: must be between 1m and 100d"},
        {"max_queue_lifetime = 8640001\n", "1: max_queue_lifetime: must be between 1m and 100d"},
        {"delay_warning_time = 2401h\n", "1: delay_warning_time: must be between 0 and 100d"},
        {"delay_warning_time = off\n", "1: delay_warning_time: " DURATION_ERR},
        {"connection_idle_timeout = 0\n", "1: connection_idle_timeout: must be between 1s and 1h"},
        {"connection_idle_timeout = 2h\n", "1: connection_idle_timeout: must be between 1s and 1h"},
        {"throttle_pause = 0s\n", "1: throttle_pause: must be between 1s and 1d"},
        {"throttle_pause = 25h\n", "1: throttle_pause: must be between 1s and 1d"},
        /* Lists of durations: the bad entry is quoted. */
        {"retry_schedule =\n",
         "1: retry_schedule: expected a comma-separated list of durations like 5m,1h"},
        {"retry_schedule = 5m,,10m\n", "1: retry_schedule: empty entry in the list"},
        {"retry_schedule = 5m,\n", "1: retry_schedule: empty entry in the list"},
        {"retry_schedule = ,5m\n", "1: retry_schedule: empty entry in the list"},
        {"retry_schedule = 5m, ,10m\n", "1: retry_schedule: empty entry in the list"},
        {"retry_schedule = 5m,10x\n", "1: retry_schedule: \"10x\": " DURATION_ERR},
        {"retry_schedule = 5m 10m\n", "1: retry_schedule: \"5m 10m\": " DURATION_ERR},
        {"retry_schedule = 5m;10m\n", "1: retry_schedule: \"5m;10m\": " DURATION_ERR},
        {"retry_schedule = 5m, 1H\n", "1: retry_schedule: \"1H\": " DURATION_ERR},
        {"retry_schedule = 0\n", "1: retry_schedule: \"0\": must be between 1s and 1w"},
        {"retry_schedule = 5m, 8d\n", "1: retry_schedule: \"8d\": must be between 1s and 1w"},
        {"retry_schedule = 604801\n", "1: retry_schedule: \"604801\": must be between 1s and 1w"},
        {"retry_schedule = 5m,18446744073709551616\n",
         "1: retry_schedule: \"18446744073709551616\": must be between 1s and 1w"},
        {"retry_schedule = 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17\n",
         "1: retry_schedule: more than 16 entries"},
        /* Resolver addresses. */
        {"dns_servers = 192.0.2\n", "1: dns_servers: \"192.0.2\": " RESOLVER_ERR},
        {"dns_servers = 192.0.2.256\n", "1: dns_servers: \"192.0.2.256\": " RESOLVER_ERR},
        {"dns_servers = 192.0.2.1.5\n", "1: dns_servers: \"192.0.2.1.5\": " RESOLVER_ERR},
        {"dns_servers = ns1.example.com\n", "1: dns_servers: \"ns1.example.com\": " RESOLVER_ERR},
        {"dns_servers = localhost:53\n", "1: dns_servers: \"localhost:53\": " RESOLVER_ERR},
        {"dns_servers = 192.0.2.1 192.0.2.2\n",
         "1: dns_servers: \"192.0.2.1 192.0.2.2\": " RESOLVER_ERR},
        {"dns_servers = 192.0.2.1;192.0.2.2\n",
         "1: dns_servers: \"192.0.2.1;192.0.2.2\": " RESOLVER_ERR},
        {"dns_servers = 192.0.2.1:\n", "1: dns_servers: \"192.0.2.1:\": " RESOLVER_ERR},
        {"dns_servers = 192.0.2.1:53x\n", "1: dns_servers: \"192.0.2.1:53x\": " RESOLVER_ERR},
        {"dns_servers = 192.0.2.1:-53\n", "1: dns_servers: \"192.0.2.1:-53\": " RESOLVER_ERR},
        {"dns_servers = 192.0.2.1 :53\n", "1: dns_servers: \"192.0.2.1 :53\": " RESOLVER_ERR},
        {"dns_servers = :53\n", "1: dns_servers: \":53\": " RESOLVER_ERR},
        {"dns_servers = 192.0.2.1:0\n", "1: dns_servers: \"192.0.2.1:0\": " PORT_ERR},
        {"dns_servers = 192.0.2.1:65536\n", "1: dns_servers: \"192.0.2.1:65536\": " PORT_ERR},
        {"dns_servers = 192.0.2.1:99999999999999999999999\n",
         "1: dns_servers: \"192.0.2.1:99999999999999999999999\": " PORT_ERR},
        {"dns_servers = ::1\n", "1: dns_servers: \"::1\": " BRACKETS_ERR},
        {"dns_servers = 2001:db8::1:53\n", "1: dns_servers: \"2001:db8::1:53\": " BRACKETS_ERR},
        {"dns_servers = [::1\n", "1: dns_servers: \"[::1\": " RESOLVER_ERR},
        {"dns_servers = [::1]53\n", "1: dns_servers: \"[::1]53\": " RESOLVER_ERR},
        {"dns_servers = [::1]:\n", "1: dns_servers: \"[::1]:\": " RESOLVER_ERR},
        {"dns_servers = [::1]:0\n", "1: dns_servers: \"[::1]:0\": " PORT_ERR},
        {"dns_servers = [::1]:65536\n", "1: dns_servers: \"[::1]:65536\": " PORT_ERR},
        {"dns_servers = [::g]\n", "1: dns_servers: \"[::g]\": " RESOLVER_ERR},
        {"dns_servers = []\n", "1: dns_servers: \"[]\": " RESOLVER_ERR},
        {"dns_servers = [ ::1 ]\n", "1: dns_servers: \"[ ::1 ]\": " RESOLVER_ERR},
        {"dns_servers = [192.0.2.1]\n", "1: dns_servers: \"[192.0.2.1]\": " RESOLVER_ERR},
        {"dns_servers = [fe80::1%eth0]:53\n",
         "1: dns_servers: \"[fe80::1%eth0]:53\": " RESOLVER_ERR},
        {"dns_servers = [1111:2222:3333:4444:5555:6666:7777:8888:9999]\n",
         "1: dns_servers: \"[1111:2222:3333:4444:5555:6666:7777:8888:9999]\": " RESOLVER_ERR},
        {"dns_servers = 192.0.2.1,,192.0.2.2\n", "1: dns_servers: empty entry in the list"},
        {"dns_servers = 192.0.2.1,\n", "1: dns_servers: empty entry in the list"},
        {"dns_servers = ,192.0.2.1\n", "1: dns_servers: empty entry in the list"},
        {"dns_servers = 192.0.2.1,192.0.2.2,192.0.2.3,192.0.2.4,192.0.2.5,192.0.2.6,192.0.2.7,"
         "192.0.2.8,192.0.2.9\n",
         "1: dns_servers: more than 8 servers"},
        {"dns_servers = 192.0.2.1\001\n", "1: dns_servers: \"192.0.2.1?\": " RESOLVER_ERR},
        /* A long entry is cut to 64 bytes in the message. */
        {"dns_servers = 192.0.2.1:53,"
         "0123456789012345678901234567890123456789012345678901234567890123456789\n",
         "1: dns_servers: "
         "\"0123456789012345678901234567890123456789012345678901234567890123...\": " RESOLVER_ERR},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_bad(cases[i].text, cases[i].error);

    check_bad_bytes("hostname = a\0b.c\n", 17, "1: hostname: line contains a NUL byte");
}

/* Values at and past their length limits, and lines at and past 4096 bytes. */
static void test_lengths(void)
{
    char path[512], err[CONFIG_ERR_MAX], want[CONFIG_ERR_MAX];
    char *text = malloc(8192);
    struct config cfg;
    char label[64];
    size_t n;

    CHECK(text != NULL);
    if (!text)
        return;

    /* A 63-byte label and a 253-byte name are fine; one byte more is not. */
    memset(label, 'a', 63);
    label[63] = '\0';
    snprintf(text, 8192, "hostname = %s.b\n", label);
    CHECK_INT(load_text(text, &cfg, err, path, sizeof path), 0);
    snprintf(text, 8192, "hostname = %sa.b\n", label);
    check_bad(text, "1: hostname: " HOST_ERR);
    snprintf(text, 8192, "hostname = %s.%s.%s.%s\n", label, label, label, label + 2);
    CHECK_INT(strlen(text), strlen("hostname = \n") + 253);
    CHECK_INT(load_text(text, &cfg, err, path, sizeof path), 0);
    CHECK_STR(cfg.local_domain, strchr(cfg.hostname, '.') + 1);
    snprintf(text, 8192, "hostname = %s.%s.%s.%s\n", label, label, label, label + 1);
    check_bad(text, "1: hostname: " HOST_ERR);

    /* A group name of 32 bytes is fine. */
    CHECK_INT(load_text("hostname = a.b\nsetgid_group = _bcdefghijabcdefghijabcdefghij12\n", &cfg,
                        err, path, sizeof path),
              0);

    /* A path of CONFIG_PATH_MAX - 1 bytes fits; one more does not. */
    n = (size_t)snprintf(text, 8192, "hostname = a.b\nqueue_dir = /");
    memset(text + n, 'q', CONFIG_PATH_MAX - 2);
    strcpy(text + n + CONFIG_PATH_MAX - 2, "\n");
    CHECK_INT(load_text(text, &cfg, err, path, sizeof path), 0);
    CHECK_INT(strlen(cfg.queue_dir), CONFIG_PATH_MAX - 1);
    memset(text + n, 'q', CONFIG_PATH_MAX - 1);
    strcpy(text + n + CONFIG_PATH_MAX - 1, "\n");
    check_bad(text, "2: queue_dir: longer than 1023 bytes");

    /* Lines of 4096 bytes, with "\n" or "\r\n", are fine; 4097 is too long. */
    text[0] = '#';
    memset(text + 1, 'x', 4095);
    strcpy(text + 4096, "\nhostname = a.b\n");
    CHECK_INT(load_text(text, &cfg, err, path, sizeof path), 0);
    CHECK_STR(err, "");
    strcpy(text + 4096, "\r\nhostname = a.b\n");
    CHECK_INT(load_text(text, &cfg, err, path, sizeof path), 0);
    CHECK_STR(err, "");
    strcpy(text + 4096, "x\nhostname = a.b\n");
    check_bad(text, "1: line longer than 4096 bytes");
    strcpy(text + 4096, "x\r\nhostname = a.b\n");
    check_bad(text, "1: line longer than 4096 bytes");

    n = (size_t)snprintf(text, 8192, "hostname = a.b\nqueue_dir = /");
    memset(text + n, 'q', 6000);
    strcpy(text + n + 6000, "\nlog = syslog\n");
    check_bad(text, "2: queue_dir: line longer than 4096 bytes");
    text[n + 6000] = '\0'; /* the same, at the end of a file without a newline */
    check_bad(text, "2: queue_dir: line longer than 4096 bytes");

    /* A key is quoted in a message up to 64 bytes. */
    memset(text, 'k', 100);
    strcpy(text + 100, " = 1\n");
    strcpy(want, "1: ");
    memset(want + 3, 'k', 64);
    strcpy(want + 3 + 64, "...: unknown key");
    check_bad(text, want);
    free(text);
}

static void test_finish(void)
{
    char err[CONFIG_ERR_MAX], path[512], text[512];
    struct config cfg, again;
    const char *dot;

    config_defaults(&cfg);
    snprintf(cfg.hostname, sizeof cfg.hostname, "mail.example.com");
    CHECK_INT(config_finish(&cfg, err, sizeof err), 0);
    CHECK_STR(cfg.hostname, "mail.example.com");
    CHECK_STR(cfg.local_domain, "example.com");

    config_defaults(&cfg);
    snprintf(cfg.hostname, sizeof cfg.hostname, "localhost");
    CHECK_INT(config_finish(&cfg, err, sizeof err), 0);
    CHECK_STR(cfg.local_domain, "localhost");

    config_defaults(&cfg);
    snprintf(cfg.hostname, sizeof cfg.hostname, "mail.example.com");
    snprintf(cfg.local_domain, sizeof cfg.local_domain, "example.net");
    CHECK_INT(config_finish(&cfg, err, sizeof err), 0);
    CHECK_STR(cfg.local_domain, "example.net");

    /* The system's name: valid, and local_domain derived from it. */
    config_defaults(&cfg);
    err[0] = '\0';
    CHECK_INT(config_finish(&cfg, err, sizeof err), 0);
    CHECK_STR(err, "");
    CHECK(cfg.hostname[0] != '\0');
    dot = strchr(cfg.hostname, '.');
    CHECK_STR(cfg.local_domain, dot ? dot + 1 : cfg.hostname);
    snprintf(text, sizeof text, "hostname = %s\n", cfg.hostname);
    CHECK_INT(load_text(text, &again, err, path, sizeof path), 0);
    CHECK_STR(err, "");

    /* An explicitly empty hostname also means the system's name. */
    CHECK_INT(load_text("hostname =\nlocal_domain =\n", &again, err, path, sizeof path), 0);
    CHECK_STR(again.hostname, cfg.hostname);
    CHECK_STR(again.local_domain, cfg.local_domain);
}

static void test_init(void)
{
    char a[512], b[512], missing[512], err[CONFIG_ERR_MAX], want[CONFIG_ERR_MAX + 600];
    struct config cfg, defaults;
    int rc;

    write_text("a.conf", "hostname = a.example\n", a, sizeof a);
    write_text("b.conf", "hostname = b.example\n", b, sizeof b);
    test_path(missing, sizeof missing, "missing.conf");

    CHECK_INT(setenv("MTA_CONF", a, 1), 0);
    CHECK_INT(config_init(&cfg, NULL, err, sizeof err), 0);
    CHECK_STR(cfg.path, a);
    CHECK_STR(cfg.hostname, "a.example");
    CHECK_STR(cfg.local_domain, "example");

    /* -C wins over $MTA_CONF. */
    CHECK_INT(config_init(&cfg, b, err, sizeof err), 0);
    CHECK_STR(cfg.path, b);
    CHECK_STR(cfg.hostname, "b.example");

    /* A missing file is an error when it was named. */
    CHECK_INT(config_init(&cfg, missing, err, sizeof err), -ENOENT);
    snprintf(want, sizeof want, "%s: No such file or directory", missing);
    CHECK_STR(err, want);
    CHECK_INT(setenv("MTA_CONF", missing, 1), 0);
    err[0] = '\0';
    CHECK_INT(config_init(&cfg, NULL, err, sizeof err), -ENOENT);
    CHECK_STR(err, want);

    /* A directory is not a configuration file. */
    CHECK_INT(config_init(&cfg, test_dir, err, sizeof err), -EISDIR);
    snprintf(want, sizeof want, "%s: Is a directory", test_dir);
    CHECK_STR(err, want);

    /* Neither: the default file, or built-in defaults when it is missing. */
    CHECK_INT(unsetenv("MTA_CONF"), 0);
    rc = config_init(&cfg, NULL, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "default file: %s\n", err);
    CHECK_INT(rc, 0);
    if (rc == 0 && cfg.path[0] == '\0') {
        config_defaults(&defaults);
        CHECK_INT(config_finish(&defaults, err, sizeof err), 0);
        check_config_equal(&cfg, &defaults);
    } else if (rc == 0) {
        fprintf(stderr, "note: %s exists here; built-in defaults not checked\n", cfg.path);
    }

    /* MTA_CONF= (empty) is the same as unset. */
    CHECK_INT(setenv("MTA_CONF", "", 1), 0);
    CHECK_INT(config_init(&defaults, NULL, err, sizeof err), rc);
    CHECK_STR(defaults.path, cfg.path);
    CHECK_INT(unsetenv("MTA_CONF"), 0);
}

/* Writes cfg with config_dump() into a string the caller frees. */
static char *dump_text(const struct config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);

    CHECK(mem != NULL);
    if (!mem)
        return NULL;
    config_dump(cfg, mem);
    CHECK_INT(fclose(mem), 0);
    return buf;
}

/* config_dump() output loads back into the same struct. */
static void check_round_trip(const char *dump, const struct config *cfg)
{
    char dump_path[512], err[CONFIG_ERR_MAX];
    struct config loaded;

    write_text("dump.conf", dump, dump_path, sizeof dump_path);
    config_defaults(&loaded);
    err[0] = '\0';
    CHECK_INT(config_load(&loaded, dump_path, err, sizeof err), 0);
    CHECK_STR(err, "");
    check_config_equal(&loaded, cfg);
    CHECK_STR(loaded.path, dump_path);
}

/* dkim_key: repeatable, each line checked, duplicates refused. */
static void test_dkim_keys(void)
{
    static const struct {
        const char *line, *why;
    } bad[] = {
        {"dkim_key = example.org\n", "dkim_key: expected DOMAIN SELECTOR PATH"},
        {"dkim_key = example.org s1\n", "dkim_key: expected DOMAIN SELECTOR PATH"},
        {"dkim_key = example.org s1 /k extra\n",
         "dkim_key: expected DOMAIN SELECTOR PATH, found more after the path"},
        {"dkim_key = -bad.org s1 /k\n",
         "dkim_key: domain: expected a domain name such as example.com"},
        {"dkim_key = example.org s/1 /k\n",
         "dkim_key: selector: expected letters, digits, '-' and '_', dot-separated, at most 63 "
         "bytes"},
        {"dkim_key = example.org s..1 /k\n",
         "dkim_key: selector: expected letters, digits, '-' and '_', dot-separated, at most 63 "
         "bytes"},
        {"dkim_key = example.org s1 relative.key\n",
         "dkim_key: path: expected an absolute path (starting with '/')"},
        {"dkim_key = example.org s1 /a\ndkim_key = EXAMPLE.org s1 /b\n",
         "dkim_key: selector s1 of EXAMPLE.org is already set"},
    };
    char path[512], err[CONFIG_ERR_MAX], want[CONFIG_ERR_MAX + 600];
    struct config cfg;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(load_text(bad[i].line, &cfg, err, path, sizeof path), -EINVAL);
        snprintf(want, sizeof want, "%s:%d: %s", path, strchr(bad[i].line, '\n')[1] ? 2 : 1,
                 bad[i].why);
        CHECK_STR(err, want);
    }
    CHECK_INT(load_text("dkim_key = example.org s1 /a\ndkim_key = example.org s2 /b\n"
                        "dkim_key = sub.example.org s1 /c\n",
                        &cfg, err, path, sizeof path),
              0);
    CHECK_INT(cfg.dkim_key_count, 3);
    CHECK_STR(cfg.dkim_keys[1].selector, "s2");
    CHECK_STR(cfg.dkim_keys[2].domain, "sub.example.org");
    CHECK_STR(cfg.dkim_keys[2].path, "/c");
}

/* Listen addresses and trusted networks: checked, and matched. */
static void test_submission_keys(void)
{
    static const struct {
        const char *line, *why;
    } bad[] = {
        {"submission_listen = 127.0.0.1\n",
         "submission_listen: expected ip:port or [ipv6]:port, or nothing to turn it off"},
        {"submission_listen = ::1:587\n",
         "submission_listen: expected ip:port or [ipv6]:port, or nothing to turn it off"},
        {"smtps_listen = 127.0.0.1:0\n",
         "smtps_listen: expected ip:port or [ipv6]:port, or nothing to turn it off"},
        {"smtps_listen = mail.example.com:465\n",
         "smtps_listen: expected ip:port or [ipv6]:port, or nothing to turn it off"},
        {"trusted_networks = 10.0.0.0/33\n",
         "trusted_networks: \"10.0.0.0/33\": expected an IPv4 or IPv6 address with an optional "
         "/prefix"},
        {"trusted_networks = 127.0.0.1, localhost\n",
         "trusted_networks: \"localhost\": expected an IPv4 or IPv6 address with an optional "
         "/prefix"},
    };
    char path[512], err[CONFIG_ERR_MAX], want[CONFIG_ERR_MAX + 600];
    struct config cfg;
    struct sockaddr_in in4 = {.sin_family = AF_INET};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(load_text(bad[i].line, &cfg, err, path, sizeof path), -EINVAL);
        snprintf(want, sizeof want, "%s:1: %s", path, bad[i].why);
        CHECK_STR(err, want);
    }
    CHECK_INT(load_text("trusted_networks = 127.0.0.0/8, 192.0.2.128/25, 2001:db8::/32, 10.1.2.3\n",
                        &cfg, err, path, sizeof path),
              0);
    static const struct {
        const char *addr;
        int trusted;
    } cases[] = {
        {"127.0.0.1", 1},       {"127.255.0.9", 1}, {"128.0.0.1", 0}, {"192.0.2.128", 1},
        {"192.0.2.255", 1},     {"192.0.2.127", 0}, {"10.1.2.3", 1},  {"10.1.2.4", 0},
        {"2001:db8::1", 1},     {"2001:db9::1", 0}, {"::1", 0},       {"::ffff:127.0.0.2", 1},
        {"::ffff:10.1.2.4", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got;
        if (strchr(cases[i].addr, ':')) {
            inet_pton(AF_INET6, cases[i].addr, &in6.sin6_addr);
            got = config_trusted(&cfg, (struct sockaddr *)&in6);
        } else {
            inet_pton(AF_INET, cases[i].addr, &in4.sin_addr);
            got = config_trusted(&cfg, (struct sockaddr *)&in4);
        }
        if (got != cases[i].trusted)
            fprintf(stderr, "trusted %s: got %d\n", cases[i].addr, got);
        CHECK_INT(got, cases[i].trusted);
    }
    config_defaults(&cfg);
    inet_pton(AF_INET6, "::1", &in6.sin6_addr);
    CHECK_INT(config_trusted(&cfg, (struct sockaddr *)&in6), 1);
    inet_pton(AF_INET, "127.0.0.2", &in4.sin_addr);
    CHECK_INT(config_trusted(&cfg, (struct sockaddr *)&in4), 1);
    inet_pton(AF_INET, "192.0.2.1", &in4.sin_addr);
    CHECK_INT(config_trusted(&cfg, (struct sockaddr *)&in4), 0);
}

/* tls_policy: repeatable, checked, and looked up domain, then .parents. */
static void test_tls_policy(void)
{
    static const struct {
        const char *line, *why;
    } bad[] = {
        {"tls_policy = example.org\n", "tls_policy: expected DOMAIN LEVEL"},
        {"tls_policy = example.org verify extra\n", "tls_policy: expected DOMAIN LEVEL"},
        {"tls_policy = example.org secure\n",
         "tls_policy: level: expected none, may, encrypt or verify"},
        {"tls_policy = ..example.org may\n",
         "tls_policy: domain: expected a domain name such as example.com, or .example.com for "
         "its subdomains"},
        {"tls_policy = example.org may\ntls_policy = EXAMPLE.ORG none\n",
         "tls_policy: EXAMPLE.ORG already has a policy"},
    };
    char path[512], err[CONFIG_ERR_MAX], want[CONFIG_ERR_MAX + 600];
    struct config cfg;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(load_text(bad[i].line, &cfg, err, path, sizeof path), -EINVAL);
        snprintf(want, sizeof want, "%s:%d: %s", path, strchr(bad[i].line, '\n')[1] ? 2 : 1,
                 bad[i].why);
        CHECK_STR(err, want);
    }
    CHECK_INT(load_text("outbound_tls = encrypt\ntls_policy = example.org verify\n"
                        "tls_policy = .example.org none\ntls_policy = .org may\n",
                        &cfg, err, path, sizeof path),
              0);
    CHECK_STR(config_tls_level(&cfg, "example.org"), "verify");
    CHECK_STR(config_tls_level(&cfg, "EXAMPLE.org"), "verify");
    CHECK_STR(config_tls_level(&cfg, "mx.example.org"), "none");
    CHECK_STR(config_tls_level(&cfg, "a.b.example.org"), "none");
    CHECK_STR(config_tls_level(&cfg, "other.org"), "may");
    CHECK_STR(config_tls_level(&cfg, "org"), "encrypt");
    CHECK_STR(config_tls_level(&cfg, "example.com"), "encrypt");
}

static void test_dump(void)
{
    static const char want[] = "hostname = mail.example.com\n"
                               "local_domain = example.org\n"
                               "queue_dir = /srv/mta queue#1\n"
                               "max_message_size = 1536k\n"
                               "aliases =\n"
                               "log = syslog\n"
                               "setgid_group = mail_drop\n"
                               "queue_map_size = 1024G\n"
                               "delivery = off\n"
                               "dns_servers = 192.0.2.1:53,[2001:db8::1]:5353\n"
                               "inet_protocols = ipv6\n"
                               "smtp_port = 587\n"
                               "smtp_connect_timeout = 90s\n"
                               "smtp_helo_timeout = 5m\n"
                               "smtp_mail_timeout = 1h\n"
                               "smtp_rcpt_timeout = 2m\n"
                               "smtp_data_init_timeout = 61s\n"
                               "smtp_data_xfer_timeout = 1h\n"
                               "smtp_data_done_timeout = 1h\n"
                               "smtp_quit_timeout = 1s\n"
                               "retry_schedule = 1m,10m,1h,1d,1w,90m,3599s\n"
                               "max_queue_lifetime = 2w\n"
                               "delay_warning_time = 0\n"
                               "max_connections = 500\n"
                               "max_connections_per_destination = 1\n"
                               "max_recipients_per_transaction = 1000\n"
                               "max_messages_per_connection = 7\n"
                               "connection_idle_timeout = 3599s\n"
                               "smtp_max_addresses = 50\n"
                               "throttle_pause = 1d\n"
                               "dkim_key = example.org rsa1 /etc/k/rsa1.key\n"
                               "dkim_key = example.org ed1 /etc/k/ed1.key\n"
                               "dkim_canonicalization = simple/relaxed\n"
                               "dkim_key_dir = /srv/dkim\n"
                               "outbound_tls = verify\n"
                               "tls_policy = example.org encrypt\n"
                               "tls_policy = .example.net none\n"
                               "tls_ca_file = /srv/ca.pem\n"
                               "mta_sts = off\n"
                               "submission_listen = [::1]:2587\n"
                               "smtps_listen = 0.0.0.0:465\n"
                               "tls_cert = /etc/le/fullchain.pem\n"
                               "tls_key = /etc/le/privkey.pem\n"
                               "auth_users =\n"
                               "trusted_networks = 10.0.0.0/8, 2001:db8::/32\n"
                               "max_recipients = 50\n"
                               "submission_client_limit = 3\n"
                               "submission_timeout = 1m\n"
                               "submission_min_data_rate = 0\n"
                               "submission_bare_lf = normalize\n"
                               "user = mail_er\n";
    char path[512], err[CONFIG_ERR_MAX];
    struct config cfg;
    char *buf;

    CHECK_INT(load_text("hostname = mail.example.com\n"
                        "local_domain = example.org\n"
                        "queue_dir = /srv/mta queue#1\n"
                        "max_message_size = 1572864\n"
                        "aliases =\n"
                        "log = syslog\n"
                        "setgid_group = mail_drop\n"
                        "queue_map_size = 1048576M\n"
                        "delivery = off\n"
                        "dns_servers = 192.0.2.1 , [2001:DB8:0::1]:5353\n"
                        "inet_protocols = ipv6\n"
                        "smtp_port = 0587\n"
                        "smtp_connect_timeout = 90\n"
                        "smtp_helo_timeout = 300\n"
                        "smtp_mail_timeout = 3600\n"
                        "smtp_rcpt_timeout = 120s\n"
                        "smtp_data_init_timeout = 61\n"
                        "smtp_data_xfer_timeout = 60m\n"
                        "smtp_data_done_timeout = 1h\n"
                        "smtp_quit_timeout = 1\n"
                        "retry_schedule = 60, 600s,3600 , 24h, 7d, 5400,3599\n"
                        "max_queue_lifetime = 14d\n"
                        "delay_warning_time = 0s\n"
                        "max_connections = 500\n"
                        "max_connections_per_destination = 1\n"
                        "max_recipients_per_transaction = 1000\n"
                        "max_messages_per_connection = 7\n"
                        "connection_idle_timeout = 3599\n"
                        "smtp_max_addresses = 50\n"
                        "throttle_pause = 86400\n"
                        "dkim_key = other.example k /etc/k/other.key\n"
                        "dkim_key =\n"
                        "dkim_key =   example.org\trsa1 /etc/k/rsa1.key  \n"
                        "dkim_key = example.org ed1 /etc/k/ed1.key\n"
                        "dkim_canonicalization = simple/relaxed\n"
                        "dkim_key_dir = /srv/dkim\n"
                        "outbound_tls = verify\n"
                        "tls_policy = other.example may\n"
                        "tls_policy =\n"
                        "tls_policy = example.org   encrypt\n"
                        "tls_policy = .example.net none\n"
                        "tls_ca_file = /srv/ca.pem\n"
                        "mta_sts = off\n"
                        "submission_listen = [::1]:2587\n"
                        "smtps_listen = 0.0.0.0:465\n"
                        "tls_cert = /etc/le/fullchain.pem\n"
                        "tls_key = /etc/le/privkey.pem\n"
                        "auth_users =\n"
                        "trusted_networks = 10.0.0.0/8, 2001:db8::/32\n"
                        "max_recipients = 50\n"
                        "submission_client_limit = 3\n"
                        "submission_timeout = 60\n"
                        "submission_min_data_rate = 0\n"
                        "submission_bare_lf = normalize\n"
                        "user = mail_er\n",
                        &cfg, err, path, sizeof path),
              0);
    CHECK_STR(err, "");
    buf = dump_text(&cfg);
    if (!buf)
        return;
    CHECK_STR(buf, want);

    /* dump -> load gives the same struct, for this and for other values. */
    check_round_trip(buf, &cfg);
    free(buf);

    config_defaults(&cfg);
    cfg.max_message_size = 1025;
    cfg.queue_map_size = 3 * GIB + 5 * MIB;
    cfg.delay_warning_time = 90 * MINUTE;
    cfg.max_queue_lifetime = 100 * DAY;
    cfg.smtp_connect_timeout = 59 * MINUTE + 1;
    /* The longest list, of the longest entries. */
    for (size_t i = 0; i < CONFIG_LIST_MAX; i++)
        cfg.retry_schedule[i] = WEEK - i;
    cfg.retry_schedule_count = CONFIG_LIST_MAX;
    CHECK_INT(config_finish(&cfg, err, sizeof err), 0);
    buf = dump_text(&cfg);
    if (!buf)
        return;
    CHECK(strstr(buf, "\nmax_message_size = 1025\n") != NULL);
    CHECK(strstr(buf, "\nqueue_map_size = 3077M\n") != NULL);
    CHECK(strstr(buf, "\naliases = /etc/aliases\n") != NULL);
    CHECK(strstr(buf, "\ndns_servers =\n") != NULL);
    CHECK(strstr(buf, "\ndelay_warning_time = 90m\n") != NULL);
    CHECK(strstr(buf, "\nmax_queue_lifetime = 100d\n") != NULL);
    CHECK(strstr(buf, "\nsmtp_connect_timeout = 3541s\n") != NULL);
    CHECK(strstr(buf,
                 "\nretry_schedule = 1w,604799s,604798s,604797s,604796s,604795s,604794s,"
                 "604793s,604792s,604791s,604790s,604789s,604788s,604787s,604786s,604785s\n") !=
          NULL);
    check_round_trip(buf, &cfg);
    free(buf);
}

/*
 * The table writes each default as config_dump() writes it back, so that
 * etc/mta.conf, `mtad check` and the table show the same text.
 */
static void test_dump_defaults(void)
{
    char want[4096] = "";
    const char *name, *def;
    struct config cfg;
    size_t used = 0;
    char *buf;

    for (size_t i = 0; (name = config_key_name(i, &def)) != NULL; i++) {
        used += (size_t)snprintf(want + used, sizeof want - used, "%s =%s%s\n", name,
                                 def[0] ? " " : "", def);
        CHECK(used < sizeof want);
    }
    config_defaults(&cfg);
    buf = dump_text(&cfg);
    if (!buf)
        return;
    CHECK_STR(buf, want);
    free(buf);
}

static void trim_end(char *s)
{
    size_t len = strlen(s);

    while (len > 0 &&
           (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t'))
        s[--len] = '\0';
}

/*
 * etc/mta.conf documents every key: a comment block, then "#key = default"
 * with the table's default, once. Every "#word =" line must be a known key,
 * so a key removed from the table cannot stay documented.
 */
static void test_example_conf(const char *conf)
{
    char line[8192], previous[8192] = "", want[512], err[CONFIG_ERR_MAX];
    size_t seen[64] = {0}, count = 0, lineno = 0;
    struct config loaded, expected;
    const char *name, *def;
    FILE *f;

    while (config_key_name(count, NULL))
        count++;
    CHECK(count <= sizeof seen / sizeof seen[0]);

    f = fopen(conf, "r");
    if (!f)
        fprintf(stderr, "%s: cannot open\n", conf);
    CHECK(f != NULL);
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        size_t keylen, i;

        lineno++;
        trim_end(line);
        if (line[0] == '#' && line[1] >= 'a' && line[1] <= 'z') {
            keylen = strcspn(line + 1, " =");
            for (i = 0; i < count; i++) {
                name = config_key_name(i, &def);
                if (strlen(name) == keylen && memcmp(name, line + 1, keylen) == 0)
                    break;
            }
            if (i == count) {
                fprintf(stderr, "%s:%zu: \"%s\" is not a key of the table\n", conf, lineno, line);
                CHECK(i < count);
            } else {
                name = config_key_name(i, &def);
                snprintf(want, sizeof want, "#%s = %s", name, def);
                trim_end(want);
                CHECK_STR(line, want);
                if (strncmp(previous, "# ", 2) != 0)
                    fprintf(stderr, "%s:%zu: %s has no comment block above it\n", conf, lineno,
                            name);
                CHECK(strncmp(previous, "# ", 2) == 0);
                if (i < sizeof seen / sizeof seen[0])
                    seen[i]++;
            }
        }
        snprintf(previous, sizeof previous, "%s", line);
    }
    CHECK_INT(fclose(f), 0);
    for (size_t i = 0; i < count && i < sizeof seen / sizeof seen[0]; i++) {
        if (seen[i] != 1)
            fprintf(stderr, "%s: key %s documented %zu times, want once\n", conf,
                    config_key_name(i, NULL), seen[i]);
        CHECK_INT(seen[i], 1);
    }

    /* Loaded as it is, it gives the built-in defaults. */
    config_defaults(&loaded);
    err[0] = '\0';
    CHECK_INT(config_load(&loaded, conf, err, sizeof err), 0);
    CHECK_STR(err, "");
    CHECK_STR(loaded.path, conf);
    config_defaults(&expected);
    CHECK_INT(config_finish(&expected, err, sizeof err), 0);
    check_config_equal(&loaded, &expected);
}

static void cleanup(void)
{
    char path[512];

    for (size_t i = 0; i < test_file_count; i++) {
        test_path(path, sizeof path, test_files[i]);
        CHECK_INT(unlink(path), 0);
    }
    CHECK_INT(rmdir(test_dir), 0);
}

int main(int argc, char **argv)
{
    const char *tmp = getenv("TMPDIR");

    if (argc < 2) {
        fprintf(stderr, "usage: %s path/to/etc/mta.conf\n", argv[0]);
        return 1;
    }
    snprintf(test_dir, sizeof test_dir, "%s/test_config.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(test_dir)) {
        perror("mkdtemp");
        return 1;
    }
    CHECK_INT(unsetenv("MTA_CONF"), 0);

    test_parse_size();
    test_defaults();
    test_key_table();
    test_good_file();
    test_numbers();
    test_strings();
    test_duration_lists();
    test_bad_lines();
    test_lengths();
    test_finish();
    test_init();
    test_dkim_keys();
    test_tls_policy();
    test_submission_keys();
    test_dump();
    test_dump_defaults();
    test_example_conf(argv[1]);

    cleanup();
    CHECK_DONE();
}
