/*
 * aliases.h - /etc/aliases lookup for bare local recipient names.
 *
 * The file is trusted as much as its owner (root); it is still parsed with
 * bounds. This MTA delivers nothing locally, so only address targets are
 * used: "|command", "/file" and ":include:" targets are reported and skipped.
 */
#ifndef MTA_ALIASES_H
#define MTA_ALIASES_H

#include <stddef.h>

struct aliases; /* opaque */

/*
 * Loads the file at path (syntax of aliases(5): "name: target, target",
 * continuation lines start with whitespace, '#' comments, names matched
 * case-insensitively, an optional quoted name "a b": x). A missing file
 * gives an empty table (not an error). Returns 0 with *out owned by the
 * caller (free with aliases_free), or -EINVAL with err "path:line: what"
 * for a malformed line, or another negative errno.
 */
int aliases_load(struct aliases **out, const char *path, char *err, size_t errlen);

/* Frees the table; NULL does nothing. */
void aliases_free(struct aliases *al);

/*
 * Expands one recipient. If name contains '@' it is passed through as is.
 * Otherwise it is looked up (recursively, at most 16 levels; a name that
 * reappears in its own expansion, like "root: root, a@b", stands for itself)
 * and every resulting bare name that has no alias is qualified with
 * local_domain. Each final address is given to cb(arg, addr) once
 * (duplicates removed within this expansion). Unsupported targets (|cmd,
 * /file, :include:) are reported through warn(arg, text) if warn is not NULL
 * and skipped. al may be NULL (no aliases). Returns 0; -ENOENT when the
 * expansion produced no address at all; -ELOOP past the depth limit;
 * -EINVAL for an invalid name or target; or cb's non-zero value.
 */
int aliases_expand(const struct aliases *al, const char *name, const char *local_domain,
                   int (*cb)(void *arg, const char *addr),
                   void (*warn)(void *arg, const char *text), void *arg);

#endif
