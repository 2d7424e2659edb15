/*
 * sts_lookup.h - a destination's MTA-STS policy (RFC 8461), for the
 * delivery engine: the cached policy (a queue note "sts:DOMAIN", read and
 * written through the writer), the _mta-sts TXT record (c-ares), and,
 * when the record's id differs from the cached policy's or that expired,
 * the HTTPS fetch (sts_fetch on a libuv worker thread), whose result is
 * cached in turn.
 *
 * RFC 8461 5.1: a cached policy that has not expired stays in force when
 * the TXT record disappears or a refresh fails.
 */
#ifndef MTA_STS_LOOKUP_H
#define MTA_STS_LOOKUP_H

#include <stdint.h>
#include <uv.h>

#include "dns.h"
#include "sts.h"
#include "tls.h"
#include "writer.h"

#define STS_LOOKUP_PORT 443         /* RFC 8461 3.3: HTTPS */
#define STS_LOOKUP_TIMEOUT_MS 20000 /* the whole fetch */
#define STS_LOOKUP_NOTE_MAX 512     /* the text given with the result */

struct sts_lookup_ctx {
    uv_loop_t *loop;
    struct writer *writer;
    struct dns *dns;
    const struct tls_trust *trust; /* NULL: no fetch can verify, so none is made */
};

/*
 * policy: malloc'ed, the callee's (free it), or NULL when the domain has
 * no policy in force. note: what happened, for the log ("" when nothing
 * worth saying: the cached policy was current), valid during the call.
 */
typedef void (*sts_lookup_cb)(void *arg, struct sts_policy *policy, const char *note);

/*
 * Finds the policy of domain. ctx is copied; its objects must outlive
 * the lookup. cb runs exactly once, on the loop thread, never from
 * inside this call. Returns 0, or -ENOMEM/-EINVAL (no callback then).
 */
int sts_lookup_start(const struct sts_lookup_ctx *ctx, const char *domain, sts_lookup_cb cb,
                     void *arg);

#endif
