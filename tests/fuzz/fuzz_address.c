/*
 * fuzz_address.c - libFuzzer target for mailbox syntax: address_list_parse
 * over the raw input (the value of a To/Cc/Bcc field from a user's message,
 * not NUL-terminated), and address_validate, address_validate_local and
 * address_qualify on a NUL-terminated copy (an address from a user, an
 * SMTP client or an envelope).
 *
 * Beyond "no crash, no leak", the target checks what address.h promises:
 * every address handed to the callback is a terminated string shorter than
 * ADDRESS_MAX, a list parse either fails before the callback runs or goes
 * through (the first pass checks it all), and a qualified address is valid.
 */
#include <errno.h>
#include <string.h>

#include "address.h"
#include "fuzz.h"

struct collected {
    size_t count;
    int stop_after; /* return non-zero from the callback after this many */
};

static int collect(void *arg, const char *addr)
{
    struct collected *c = arg;

    FUZZ_ASSERT(strlen(addr) < ADDRESS_MAX);
    c->count++;
    if (c->stop_after > 0 && c->count == (size_t)c->stop_after)
        return 42;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct collected all = {0, 0}, first = {0, 1};
    const char *why = NULL;
    char out[ADDRESS_MAX], small[16];
    char *copy;
    int rc, rc_nocb;

    rc_nocb = address_list_parse((const char *)data, size, NULL, NULL);
    FUZZ_ASSERT(rc_nocb == 0 || rc_nocb == -EINVAL || rc_nocb == -ENAMETOOLONG);
    rc = address_list_parse((const char *)data, size, collect, &all);
    /* The callback changes nothing about the syntax. */
    FUZZ_ASSERT(rc == rc_nocb);
    /* A list that fails is refused before any address is handed out. */
    FUZZ_ASSERT(rc == 0 || all.count == 0);
    rc = address_list_parse((const char *)data, size, collect, &first);
    FUZZ_ASSERT(rc == (all.count > 0 ? 42 : rc_nocb));

    copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';

    rc = address_validate(copy, &why);
    FUZZ_ASSERT(rc == 0 || (rc == -EINVAL && why != NULL));
    if (rc == 0)
        FUZZ_ASSERT(strlen(copy) < ADDRESS_MAX);
    rc = address_validate_local(copy);
    FUZZ_ASSERT(rc == 0 || rc == -EINVAL);
    if (rc == 0)
        FUZZ_ASSERT(strchr(copy, '@') == NULL && strlen(copy) <= ADDRESS_LOCAL_MAX);

    rc = address_qualify(copy, "example.org", out, sizeof out);
    FUZZ_ASSERT(rc == 0 || rc == -EINVAL || rc == -ENAMETOOLONG);
    if (rc == 0)
        FUZZ_ASSERT(address_validate(out, NULL) == 0);
    else
        FUZZ_ASSERT(out[0] == '\0');
    rc = address_qualify(copy, "example.org", small, sizeof small);
    FUZZ_ASSERT(rc == 0 ? strlen(small) < sizeof small : small[0] == '\0');

    free(copy);
    return 0;
}
