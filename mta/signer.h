/*
 * signer.h - DKIM signing of mail as it enters the queue: the key table
 * of the configuration (dkim_key lines), loaded once, and the choice of
 * signing domain from the message's From: header.
 *
 * A signer is immutable once loaded, so worker threads may sign with it
 * at once. mtad keeps one and replaces it on SIGHUP; a job that signs
 * holds a reference (signer_ref/signer_unref, on the loop thread only) so
 * that a reload never frees keys under a running signature.
 */
#ifndef MTA_SIGNER_H
#define MTA_SIGNER_H

#include <stddef.h>

#include "config.h"

#define SIGNER_NOTE_MAX 512 /* the text signer_sign gives for the log */

struct signer;

/*
 * Loads every key of cfg->dkim_keys. A configuration without keys gives a
 * signer that signs nothing. On success *out holds one reference.
 * Returns 0, or a negative errno with err naming the key that failed
 * ("dkim_key example.com sel1 /etc/...: RSA key of 512 bits: ...").
 */
int signer_load(const struct config *cfg, struct signer **out, char *err, size_t errlen);

/* Reference counting; both on the same thread (mtad's loop). unref of
 * the last reference frees the keys (wiped); NULL does nothing. */
struct signer *signer_ref(struct signer *s);
void signer_unref(struct signer *s);

/* Keys loaded. */
size_t signer_key_count(const struct signer *s);

/*
 * Signs msg (wire form: CRLF lines, header, empty line, body; not dot-
 * stuffed) with every key of its signing domain: the domain of the one
 * address of the From: field, or failing a key for it, of its nearest
 * parent domain that has keys (d= then aligns with From under DMARC's
 * default relaxed alignment). Not signed, with the reason in note: no
 * From field, more than one, a From with no or several addresses, no key
 * for the domain. On success with signatures, *sigs (malloc'ed, the
 * caller frees) holds the DKIM-Signature fields to put before the
 * message, *sigs_len their length; otherwise *sigs is NULL. note always
 * gets a short text for the log ("d=example.com s=rsa1,ed1" or
 * "unsigned: no From header"), or "" when the signer has no keys at all.
 * Thread-safe. Returns 0 (signed or not), or -ENOMEM.
 */
int signer_sign(const struct signer *s, const char *msg, size_t len, char **sigs, size_t *sigs_len,
                char *note, size_t notelen);

#endif
