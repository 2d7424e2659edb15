/*
 * signer.c - DKIM signing at entry to the queue (see signer.h).
 *
 * Trust: keys come from files named in the configuration (root's).
 * Messages come from local users and SMTP clients: the From field is
 * parsed by address.c with bounds; dkim/ bounds everything else.
 */
#include "signer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "address.h"
#include "dkim.h"
#include "message.h"

struct signer_key {
    const struct config_dkim_key *entry; /* points into the signer's own copy */
    struct dkim_key *key;
};

struct signer {
    int refs;
    enum dkim_canon header_canon, body_canon;
    size_t nkeys;
    struct config_dkim_key entries[CONFIG_DKIM_KEYS_MAX];
    struct signer_key keys[CONFIG_DKIM_KEYS_MAX];
};

int signer_load(const struct config *cfg, struct signer **out, char *err, size_t errlen)
{
    struct signer *s = calloc(1, sizeof *s);
    char why[256];
    int rc;

    *out = NULL;
    if (!s)
        return -ENOMEM;
    s->refs = 1;
    s->header_canon = strncmp(cfg->dkim_canonicalization, "simple/", 7) == 0 ? DKIM_CANON_SIMPLE
                                                                             : DKIM_CANON_RELAXED;
    s->body_canon =
        strstr(cfg->dkim_canonicalization, "/simple") ? DKIM_CANON_SIMPLE : DKIM_CANON_RELAXED;
    for (size_t i = 0; i < cfg->dkim_key_count && i < CONFIG_DKIM_KEYS_MAX; i++) {
        const struct config_dkim_key *e = &cfg->dkim_keys[i];
        s->entries[i] = *e;
        s->keys[i].entry = &s->entries[i];
        if ((rc = dkim_key_load(e->path, &s->keys[i].key, why, sizeof why)) < 0) {
            snprintf(err, errlen, "dkim_key %s %s %s: %s", e->domain, e->selector, e->path, why);
            goto fail;
        }
        s->nkeys = i + 1;
    }
    *out = s;
    return 0;
fail:
    signer_unref(s);
    return rc;
}

struct signer *signer_ref(struct signer *s)
{
    if (s)
        s->refs++;
    return s;
}

void signer_unref(struct signer *s)
{
    if (!s || --s->refs > 0)
        return;
    for (size_t i = 0; i < s->nkeys; i++)
        dkim_key_free(s->keys[i].key);
    free(s);
}

size_t signer_key_count(const struct signer *s)
{
    return s ? s->nkeys : 0;
}

struct from_address {
    size_t count;
    char domain[ADDRESS_MAX + 1];
};

static int from_address_cb(void *arg, const char *addr)
{
    struct from_address *f = arg;
    const char *at = strrchr(addr, '@');

    if (++f->count == 1)
        snprintf(f->domain, sizeof f->domain, "%s", at ? at + 1 : "");
    return 0;
}

/* The keys signing for domain: its own, else its nearest parent's. */
static const char *signer_pick_domain(const struct signer *s, const char *domain)
{
    for (const char *d = domain; d; d = strchr(d, '.') ? strchr(d, '.') + 1 : NULL) {
        for (size_t i = 0; i < s->nkeys; i++) {
            if (strcasecmp(s->keys[i].entry->domain, d) == 0)
                return s->keys[i].entry->domain;
        }
    }
    return NULL;
}

int signer_sign(const struct signer *s, const char *msg, size_t len, char **sigs, size_t *sigs_len,
                char *note, size_t notelen)
{
    struct message m = {.data = (char *)msg, .len = len, .cap = len};
    struct from_address from = {0};
    const char *value, *domain;
    char *all = NULL, err[256], selectors[256] = "";
    size_t vlen, nfrom, all_len = 0, used = 0;
    int rc;

    *sigs = NULL;
    *sigs_len = 0;
    snprintf(note, notelen, "%s", "");
    if (!s || s->nkeys == 0)
        return 0;
    nfrom = message_header_count(&m, "From");
    if (nfrom != 1) {
        snprintf(note, notelen, "unsigned: %s",
                 nfrom ? "more than one From header" : "no From header");
        return 0;
    }
    message_header_get(&m, "From", 0, &value, &vlen);
    if (address_list_parse(value, vlen, from_address_cb, &from) != 0 || from.count != 1 ||
        !from.domain[0]) {
        snprintf(note, notelen, "unsigned: %s",
                 from.count > 1 ? "From holds more than one address"
                                : "no address with a domain in From");
        return 0;
    }
    if (!(domain = signer_pick_domain(s, from.domain))) {
        snprintf(note, notelen, "unsigned: no dkim_key for %.*s", (int)(notelen / 2), from.domain);
        return 0;
    }
    for (size_t i = 0; i < s->nkeys; i++) {
        const struct signer_key *k = &s->keys[i];
        struct dkim_sign_request rq = {
            .domain = k->entry->domain,
            .selector = k->entry->selector,
            .key = k->key,
            .header_canon = s->header_canon,
            .body_canon = s->body_canon,
            .timestamp = time(NULL),
        };
        char *one = NULL, *grown;
        size_t n;

        if (strcasecmp(k->entry->domain, domain) != 0)
            continue;
        rc = dkim_sign(&rq, msg, len, &one, err, sizeof err);
        if (rc == -ENOMEM)
            goto fail;
        if (rc < 0) {
            /* Keys and names were checked at load: say so and go on unsigned. */
            snprintf(note, notelen, "unsigned: %s", err);
            free(all);
            return 0;
        }
        n = strlen(one);
        if (!(grown = realloc(all, all_len + n + 1))) {
            free(one);
            rc = -ENOMEM;
            goto fail;
        }
        all = grown;
        memcpy(all + all_len, one, n + 1);
        all_len += n;
        free(one);
        used += (size_t)snprintf(selectors + used,
                                 used < sizeof selectors ? sizeof selectors - used : 0, "%s%s",
                                 used ? "," : "", k->entry->selector);
        if (used >= sizeof selectors)
            used = sizeof selectors - 1;
    }
    snprintf(note, notelen, "d=%s s=%s", domain, selectors);
    *sigs = all;
    *sigs_len = all_len;
    return 0;
fail:
    free(all);
    return rc;
}
