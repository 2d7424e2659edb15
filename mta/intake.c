/*
 * intake.c - from a validated submission to a queue message (see intake.h).
 *
 * Trust: env and content were validated by submit.c before they got here.
 */
#include "intake.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "message.h"

int intake_prepare(const char *hostname, const struct signer *signer, const struct submit_env *env,
                   uid_t uid, const char *origin, const struct intake_smtp *smtp,
                   const char *content, size_t len, struct queue_msg **msg, char **stored,
                   size_t *stored_len, char *note)
{
    struct queue_msg *m = NULL;
    struct message added = {0};
    char date[64], head[1536], *out = NULL, *sigs = NULL, *signed_out;
    size_t sigs_len = 0;
    int n, rc = -ENOMEM;

    *msg = NULL;
    *stored = NULL;
    note[0] = '\0';
    message_format_date(time(NULL), date, sizeof(date));
    if (smtp)
        n = snprintf(
            head, sizeof(head),
            "Received: from %.255s ([%s])\r\n\tby %s (mtad) with %s%s%s%s%s%s%s;\r\n\t%s\r\n",
            smtp->helo, smtp->peer, hostname, smtp->protocol, smtp->tls ? " (" : "",
            smtp->tls ? smtp->tls : "", smtp->tls ? ")" : "",
            smtp->user ? " (authenticated as " : "", smtp->user ? smtp->user : "",
            smtp->user ? ")" : "", date);
    else
        n = snprintf(head, sizeof(head), "Received: by %s (mtad, from userid %u);\r\n\t%s\r\n",
                     hostname, (unsigned)uid, date);
    if (n < 0 || (size_t)n >= sizeof(head))
        return -EINVAL;
    if (smtp) {
        /* RFC 6409 8: the submission service completes what is missing. */
        struct message_defaults d = {hostname, smtp->from_address, NULL, time(NULL)};
        if (!(added.data = malloc(len + 1)))
            return -ENOMEM;
        memcpy(added.data, content, len);
        added.len = len;
        added.cap = len + 1;
        if ((rc = message_add_missing(&added, &d)) < 0) {
            free(added.data);
            return rc;
        }
        content = added.data;
        len = added.len;
        rc = -ENOMEM;
    }
    if (!(m = queue_msg_new(env->nrcpt)) || !(out = malloc((size_t)n + len + 1)))
        goto fail;
    memcpy(out, head, (size_t)n);
    if (len)
        memcpy(out + n, content, len);
    if ((rc = signer_sign(signer, out, (size_t)n + len, &sigs, &sigs_len, note, SIGNER_NOTE_MAX)) <
        0)
        goto fail;
    if (sigs) {
        rc = -ENOMEM;
        if (!(signed_out = malloc(sigs_len + (size_t)n + len + 1)))
            goto fail;
        memcpy(signed_out, sigs, sigs_len);
        memcpy(signed_out + sigs_len, out, (size_t)n + len);
        free(out);
        out = signed_out;
        n += (int)sigs_len;
        free(sigs);
        sigs = NULL;
    }
    snprintf(m->sender, sizeof(m->sender), "%s", env->sender);
    snprintf(m->envid, sizeof(m->envid), "%s", env->envid);
    snprintf(m->origin, sizeof(m->origin), "%s", origin);
    m->ret = env->ret;
    m->body = env->body;
    m->uid = (uint32_t)uid;
    m->arrival = queue_now();
    for (uint32_t i = 0; i < env->nrcpt; i++) {
        snprintf(m->rcpt[i].address, sizeof(m->rcpt[i].address), "%s", env->rcpt[i].address);
        snprintf(m->rcpt[i].orcpt, sizeof(m->rcpt[i].orcpt), "%s", env->rcpt[i].orcpt);
        m->rcpt[i].notify = env->rcpt[i].notify;
    }
    *msg = m;
    *stored = out;
    *stored_len = (size_t)n + len;
    free(added.data);
    return 0;
fail:
    queue_msg_free(m);
    free(out);
    free(sigs);
    free(added.data);
    return rc;
}

const char *intake_strerror(int rc)
{
    switch (rc) {
    case -ENOSPC:
        return "4.3.1 queue full (queue_map_size or disk)";
    case -EIO:
        /* LMDB reports a short write (a full disk, mostly) as EIO. */
        return "4.3.0 queue write error (disk full?)";
    case -ENOENT:
        return "no such message";
    case -ENOMEM:
        return "4.3.0 out of memory";
    default:
        return "4.3.0 queue error";
    }
}
