/*
 * qview.h - what mtaq and mailq show of the queue: listings, one message
 * in detail, counts; as text for people or JSON for programs.
 *
 * Reads only (an LMDB read transaction), so it never blocks the daemon.
 */
#ifndef MTA_QVIEW_H
#define MTA_QVIEW_H

#include <stdio.h>

#include "config.h"
#include "queue.h"
#include "spool.h"

/* Lists pending recipients in Postfix's mailq layout. Opens the queue
 * read-only itself. Returns 0 or a negative errno (message on stderr). */
int qview_mailq(const struct config *cfg, const struct spool_paths *paths, FILE *out);

/* A message per entry with every recipient's state and last reply. */
int qview_list(struct queue_txn *t, FILE *out, int json);

/* Envelope, headers and per-recipient history of one message.
 * Returns 0 or -ENOENT. */
int qview_show(struct queue_txn *t, const char *id, FILE *out, int json);

/* Counts by recipient state and by destination domain; live (may be
 * NULL) is the daemon's status line, added to the JSON as "daemon". */
int qview_stats(struct queue_txn *t, FILE *out, int json, const char *live);

/* Writes s as a JSON string literal (quotes included). */
void qview_json_string(FILE *out, const char *s, size_t len);

#endif
