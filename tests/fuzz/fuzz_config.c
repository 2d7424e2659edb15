/*
 * fuzz_config.c - libFuzzer target for the two files the programs read at
 * start-up: the configuration file (config_load) and the aliases file
 * (aliases_load, then aliases_expand). Both take a path, so the input is
 * put in a memfd and read through "/proc/self/fd/N".
 *
 * config_finish() asks the resolver for the system's host name when the
 * file sets none; that is a network lookup, not parsing, and would make
 * every run slow and dependent on this machine. So a host name is set after
 * config_defaults(), as a file could, and local_domain is left for
 * config_finish() to derive.
 *
 * Beyond "no crash, no leak", the target checks what config.h and
 * aliases.h promise: a file with an error changes nothing and says
 * "path:line: ..."; what config_dump() writes loads back to the same
 * configuration; every address aliases_expand() hands out is valid.
 */
#include <errno.h>
#include <string.h>

#include "address.h"
#include "aliases.h"
#include "config.h"
#include "fuzz.h"

#define FUZZ_HOSTNAME "fuzz.example.org"

/* Everything but path, which names the file the values came from. */
static int config_equal(const struct config *a, const struct config *b)
{
    return memcmp(a, b, offsetof(struct config, path)) == 0;
}

static void config_start(struct config *cfg)
{
    config_defaults(cfg);
    memset(cfg->hostname, 0, sizeof cfg->hostname);
    memcpy(cfg->hostname, FUZZ_HOSTNAME, sizeof FUZZ_HOSTNAME);
}

/* config_dump's output must load back to the same values. */
static void check_dump_loads(const struct config *cfg)
{
    struct config back;
    char *text = NULL, path[64], err[CONFIG_ERR_MAX];
    size_t len = 0;
    FILE *f;
    int fd, rc;

    f = open_memstream(&text, &len);
    FUZZ_ASSERT(f != NULL);
    config_dump(cfg, f);
    FUZZ_ASSERT(fclose(f) == 0);
    fd = fuzz_memfd("fuzz-config-dump", (const uint8_t *)text, len);
    FUZZ_ASSERT(fd >= 0);
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

    config_start(&back);
    err[0] = '\0';
    rc = config_load(&back, path, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "dump does not load: %d: %s\n--- dump:\n%s---\n", rc, err, text);
    FUZZ_ASSERT(rc == 0);
    FUZZ_ASSERT(config_equal(&back, cfg));
    close(fd);
    free(text);
}

static int check_alias_target(void *arg, const char *addr)
{
    size_t *count = arg;

    FUZZ_ASSERT(address_validate(addr, NULL) == 0);
    (*count)++;
    return 0;
}

static void ignore_warning(void *arg, const char *text)
{
    FUZZ_ASSERT(text != NULL && text[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"root", "postmaster", "\"root\"", "Root", "a@example.org"};
    struct config cfg, before;
    struct aliases *al = NULL;
    char path[64], err[CONFIG_ERR_MAX];
    int fd, rc;

    fd = fuzz_memfd("fuzz-config", data, size);
    FUZZ_ASSERT(fd >= 0);
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

    config_start(&cfg);
    before = cfg;
    err[0] = '\0';
    rc = config_load(&cfg, path, err, sizeof err);
    FUZZ_ASSERT(rc == 0 || rc == -EINVAL);
    if (rc == 0) {
        FUZZ_ASSERT(strcmp(cfg.path, path) == 0);
        FUZZ_ASSERT(cfg.hostname[0] != '\0' && cfg.local_domain[0] != '\0');
        check_dump_loads(&cfg);
    } else {
        /* "A file with an error changes nothing", and the error names the file. */
        FUZZ_ASSERT(memcmp(&cfg, &before, sizeof cfg) == 0);
        FUZZ_ASSERT(strncmp(err, path, strlen(path)) == 0 && err[strlen(path)] == ':');
    }

    err[0] = '\0';
    rc = aliases_load(&al, path, err, sizeof err);
    FUZZ_ASSERT(rc == 0 || rc == -EINVAL);
    FUZZ_ASSERT(rc == 0 ? al != NULL : al == NULL && err[0] != '\0');
    if (rc == 0) {
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            size_t count = 0;

            rc = aliases_expand(al, names[i], "example.org", check_alias_target, ignore_warning,
                                &count);
            FUZZ_ASSERT(rc == 0 || rc == -ENOENT || rc == -ELOOP || rc == -EINVAL);
            FUZZ_ASSERT(rc == 0 ? count > 0 : count == 0);
        }
    }
    aliases_free(al);
    close(fd);
    return 0;
}
