/*
 * fuzz_submit.c - libFuzzer target for the submission envelope that any
 * local user hands to mtad (socket or maildrop file): submit_parse_line and
 * submit_check_content.
 *
 * The input is split at LF and the lines are fed to submit_parse_line the
 * way mtad's maildrop reader does, until it returns 1 (the envelope is
 * complete) or an error; a last line without LF is a truncated envelope and
 * is not fed. After a complete envelope the rest of the input is checked as
 * content. Beyond "no crash, no leak", the target checks what submit.h
 * promises: nothing invalid is stored, and an envelope written back with
 * submit_env_write parses to the same envelope.
 */
#include <errno.h>
#include <string.h>

#include "address.h"
#include "fuzz.h"
#include "submit.h"

/* What mtad uses by default (max_message_size = 35M). */
#define FUZZ_MAX_SIZE ((uint64_t)35 << 20)

/* Checks the promises a completed envelope makes. */
static void check_envelope(const struct submit_env *e)
{
    FUZZ_ASSERT(e->have_sender && e->have_size && e->nrcpt > 0);
    FUZZ_ASSERT(e->nrcpt <= e->cap);
    FUZZ_ASSERT(e->size <= FUZZ_MAX_SIZE);
    FUZZ_ASSERT(memchr(e->sender, '\0', sizeof e->sender) != NULL);
    FUZZ_ASSERT(e->sender[0] == '\0' || address_validate(e->sender, NULL) == 0);
    for (uint32_t i = 0; i < e->nrcpt; i++) {
        const struct submit_rcpt *r = &e->rcpt[i];

        FUZZ_ASSERT(memchr(r->address, '\0', sizeof r->address) != NULL);
        FUZZ_ASSERT(memchr(r->orcpt, '\0', sizeof r->orcpt) != NULL);
        FUZZ_ASSERT(address_validate(r->address, NULL) == 0);
    }
}

/*
 * Writes e with submit_env_write and parses the text again: the two
 * envelopes must be equal, field by field, or sendmail (which writes) and
 * mtad (which parses) disagree about a maildrop file.
 */
static void check_round_trip(const struct submit_env *e)
{
    struct submit_env back;
    char *text = NULL, err[256];
    size_t len = 0, pos = 0;
    FILE *f;
    int rc = 0;

    submit_env_init(&back);
    f = open_memstream(&text, &len);
    FUZZ_ASSERT(f != NULL);
    FUZZ_ASSERT(submit_env_write(e, f) == 0);
    FUZZ_ASSERT(fclose(f) == 0);

    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);

        FUZZ_ASSERT(nl != NULL);
        rc = submit_parse_line(&back, text + pos, (size_t)(nl - (text + pos)), FUZZ_MAX_SIZE, err,
                               sizeof err);
        pos = (size_t)(nl - text) + 1;
        if (rc != 0)
            break;
    }
    if (rc != 1)
        fprintf(stderr, "round trip: rc %d: %s\n", rc, rc < 0 ? err : "no empty line");
    FUZZ_ASSERT(rc == 1);
    FUZZ_ASSERT(pos == len);
    FUZZ_ASSERT(strcmp(back.sender, e->sender) == 0);
    FUZZ_ASSERT(strcmp(back.envid, e->envid) == 0);
    FUZZ_ASSERT(back.ret == e->ret && back.body == e->body && back.size == e->size);
    FUZZ_ASSERT(back.nrcpt == e->nrcpt);
    for (uint32_t i = 0; i < e->nrcpt; i++) {
        FUZZ_ASSERT(strcmp(back.rcpt[i].address, e->rcpt[i].address) == 0);
        FUZZ_ASSERT(strcmp(back.rcpt[i].orcpt, e->rcpt[i].orcpt) == 0);
        FUZZ_ASSERT(back.rcpt[i].notify == e->rcpt[i].notify);
    }
    submit_env_free(&back);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct submit_env env;
    char err[256];
    size_t pos = 0;
    int rc = 0;

    submit_env_init(&env);
    while (pos < size) {
        const char *nl = memchr(text + pos, '\n', size - pos);

        if (!nl)
            break; /* mtad: "truncated envelope" */
        err[0] = '\0';
        rc = submit_parse_line(&env, text + pos, (size_t)(nl - (text + pos)), FUZZ_MAX_SIZE, err,
                               sizeof err);
        pos = (size_t)(nl - text) + 1;
        FUZZ_ASSERT(rc == 0 || rc == 1 || rc == -EINVAL || rc == -E2BIG || rc == -EMSGSIZE ||
                    rc == -ENOMEM);
        /* Every error explains itself. */
        FUZZ_ASSERT(rc >= 0 || err[0] != '\0');
        if (rc != 0)
            break;
    }
    if (rc == 1) {
        check_envelope(&env);
        check_round_trip(&env);
        err[0] = '\0';
        rc = submit_check_content(text + pos, size - pos, err, sizeof err);
        FUZZ_ASSERT(rc == 0 || (rc == -EINVAL && err[0] != '\0'));
    }
    submit_env_free(&env);
    return 0;
}
