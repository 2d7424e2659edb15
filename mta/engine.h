/*
 * engine.h - the delivery engine: takes due recipients from the queue,
 * groups them per message and destination domain, resolves the domain's
 * MX hosts, carries each group in one SMTP transaction (reusing open
 * connections), and records every result: delivered, deferred with the
 * next attempt from retry_schedule, or bounced with an RFC 3464 report to
 * the sender. Destinations that throttle us are paused.
 *
 * Memory is bounded by the work in flight (claims), never by the size of
 * the queue.
 */
#ifndef MTA_ENGINE_H
#define MTA_ENGINE_H

#include <stddef.h>
#include <uv.h>

#include "config.h"
#include "dns.h"
#include "queue.h"
#include "writer.h"

struct engine;

/*
 * Creates the engine; its jobs go through w. cfg is read live (a reload applies to new work).
 * Returns NULL on ENOMEM.
 */
struct engine *engine_new(uv_loop_t *loop, struct writer *w, const struct config *cfg,
                          struct dns *dns);

/* New mail, a flush or a release: look for due work now. */
void engine_kick(struct engine *e);

/*
 * Stops: no new work; connections are closed; recipients not finished go
 * back to the queue due now (no attempt counted). done(arg) runs once the
 * last connection closed and every result was handed to the writer.
 */
void engine_stop(struct engine *e, void (*done)(void *arg), void *arg);

/* Frees a stopped engine. */
void engine_free(struct engine *e);

/*
 * One line describing live state for `mtaq stats`: open connections, and
 * each paused destination with its remaining time and reason, entries
 * separated by "; ". Returns buf.
 */
const char *engine_status(const struct engine *e, char *buf, size_t len);

#endif
