/*
 * maildrop.h - importing the files mta-postdrop leaves in
 * queue_dir/maildrop while mtad is not running (and any that arrive while
 * it runs): at start, on inotify events and every minute.
 */
#ifndef MTA_MAILDROP_H
#define MTA_MAILDROP_H

#include <uv.h>

#include "config.h"
#include "signer.h"
#include "spool.h"
#include "writer.h"

struct maildrop;

/*
 * Starts watching paths->maildrop and scans it once now; files are
 * imported through w into q, signed by *signer (the daemon's slot, read
 * when each batch starts, so that a reload applies; the batch holds a
 * reference). cfg is read likewise. imported(arg) runs on the loop after
 * a batch that queued at least one message. Returns NULL on ENOMEM.
 */
struct maildrop *maildrop_start(uv_loop_t *loop, struct writer *w, struct queue *q,
                                const struct config *cfg, struct signer *const *signer,
                                const struct spool_paths *paths, void (*imported)(void *arg),
                                void *arg);

/* Asks for a scan soon (coalesced with one already pending). */
void maildrop_request(struct maildrop *md);

/* Stops watching; the memory goes once the handles closed and no scan
 * runs. NULL does nothing. */
void maildrop_stop(struct maildrop *md);

#endif
