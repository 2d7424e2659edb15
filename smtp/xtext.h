/*
 * xtext.h - RFC 3461 xtext, the encoding of the DSN parameters ENVID and
 * ORCPT on the wire. The queue holds them decoded: the submission service
 * and sendmail -bs decode what clients send, delivery encodes again for a
 * next hop that offers DSN.
 */
#ifndef MTA_SMTP_XTEXT_H
#define MTA_SMTP_XTEXT_H

#include <stddef.h>

/* Decodes len bytes of xtext at in into out (NUL-terminated). Returns 0,
 * or -1 for bad syntax ('=', a space, "+" without two hex digits), a
 * decoded control character other than space or a non-ASCII byte, or an
 * out too small. */
int smtp_xtext_decode(const char *in, size_t len, char *out, size_t outlen);

/* Encodes in (printable ASCII and space) as xtext into out. Returns 0, or
 * -1 when in holds another byte or out is too small. */
int smtp_xtext_encode(const char *in, char *out, size_t outlen);

/* ORCPT: "addr-type;xtext" → "addr-type;decoded", and back. addr-type is
 * letters, digits and '-'. Return 0 or -1 as above. */
int smtp_orcpt_decode(const char *in, char *out, size_t outlen);
int smtp_orcpt_encode(const char *in, char *out, size_t outlen);

#endif
