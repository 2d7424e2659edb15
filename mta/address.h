/*
 * address.h - mailbox syntax: validation against RFC 5321 limits and
 * extraction of addr-specs from RFC 5322 address-list header fields.
 *
 * Trusts nothing: every input may come from a user or a remote client.
 */
#ifndef MTA_ADDRESS_H
#define MTA_ADDRESS_H

#include <stddef.h>

#define ADDRESS_LOCAL_MAX 64   /* RFC 5321 4.5.3.1.1 */
#define ADDRESS_DOMAIN_MAX 255 /* RFC 5321 4.5.3.1.2 */
#define ADDRESS_MAX 256        /* RFC 5321 4.5.3.1.3: path minus the brackets, + NUL */

/*
 * Checks that addr is "local@domain" within the RFC 5321 limits: local part
 * 1..64 octets (dot-atom or quoted string; 8-bit allowed for SMTPUTF8),
 * domain 1..255 octets of labels (letters, digits, hyphen, 8-bit for IDN) or
 * an address literal in brackets, whole path <= 254 octets, no control
 * characters, no unquoted space. The empty string is NOT valid here (the
 * null sender is handled by callers). Returns 0, or -EINVAL with *why (if
 * not NULL) pointing at a static explanation.
 */
int address_validate(const char *addr, const char **why);

/*
 * Checks a host name as used on the right of Message-ID and in reports:
 * 1..255 octets of letters, digits, '-', '_' and '.', no empty label.
 * Returns 1 when valid, else 0.
 */
int address_hostname_valid(const char *h);

/*
 * Checks a bare local name as used on the sendmail command line and in
 * /etc/aliases ("root", "john.doe"): 1..64 octets, valid local part, no '@'.
 * Returns 0 or -EINVAL.
 */
int address_validate_local(const char *name);

/*
 * Copies addr into out (size outlen) and, if it has no '@', appends
 * "@domain". Returns 0, -ENAMETOOLONG if it does not fit in ADDRESS_MAX or
 * outlen, or -EINVAL if the result does not pass address_validate().
 */
int address_qualify(const char *addr, const char *domain, char *out, size_t outlen);

/*
 * Parses the value of an address-list header field (To, Cc, Bcc,
 * Resent-To...): mailboxes "a@b", "Name <a@b>", "\"Quoted, name\" <a@b>",
 * comments in parentheses (nested), groups "team: a@b, c@d;", folding
 * whitespace (CRLF followed by WSP) anywhere whitespace may appear, and
 * obsolete route addresses "<@route:a@b>" (route dropped). For each
 * addr-spec found, calls cb(arg, addr) with a NUL-terminated copy whose
 * quoting is kept as written (e.g. "\"a b\"@example.com"); a bare local
 * name without '@' is passed as is. value need not be NUL-terminated.
 * Stops and returns cb's value if it is non-zero; returns -EINVAL on a
 * syntax error (unbalanced quote, bracket or comment) and -ENAMETOOLONG for
 * an address over ADDRESS_MAX, else 0. Group names and empty groups
 * ("undisclosed-recipients:;") yield no address.
 */
int address_list_parse(const char *value, size_t len, int (*cb)(void *arg, const char *addr),
                       void *arg);

#endif
