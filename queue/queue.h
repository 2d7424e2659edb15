/*
 * queue.h - the durable mail queue, an LMDB environment.
 *
 * One message is stored once: its envelope (sender, DSN parameters,
 * arrival), its content, and one record per recipient carrying that
 * recipient's own state, attempt count, next attempt time and last remote
 * reply. A schedule index ordered by next attempt time makes "what is due"
 * a range scan. The on-disk formats are documented in one block at the top
 * of queue.c.
 *
 * Every change happens inside a queue transaction. LMDB serialises writers
 * and lets readers (mtaq) run beside a writer without blocking it. A write
 * transaction must stay on the thread that began it. LMDB error codes are
 * translated here and nowhere else: MDB_MAP_FULL becomes -ENOSPC,
 * MDB_NOTFOUND -ENOENT, a record that does not decode -EBADMSG.
 *
 * This library knows nothing of the event loop, SMTP or configuration.
 */
#ifndef MTA_QUEUE_H
#define MTA_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#define QUEUE_ID_LEN 12 /* characters of a queue id, without NUL */
#define QUEUE_ID_SIZE (QUEUE_ID_LEN + 1)
#define QUEUE_ADDRESS_MAX 256 /* RFC 5321 path, with NUL */
#define QUEUE_REPLY_MAX 512   /* last remote reply kept per recipient */
#define QUEUE_ENVID_MAX 101   /* RFC 3461 ENVID: 100 octets + NUL */
#define QUEUE_ORCPT_MAX 501   /* RFC 3461 ORCPT: 500 octets + NUL */
#define QUEUE_ORIGIN_MAX 128  /* who submitted: "local uid=1000 (joe)" */
#define QUEUE_RCPT_MAX 100000 /* recipients per message */
#define QUEUE_HISTORY_KEEP 32 /* events kept per recipient */

enum queue_rcpt_state {
    QUEUE_READY = 1,     /* never tried, due */
    QUEUE_DEFERRED = 2,  /* tried, failed temporarily, waits for next_attempt */
    QUEUE_HELD = 3,      /* put on hold by the operator */
    QUEUE_INFLIGHT = 4,  /* claimed by a delivery attempt */
    QUEUE_DELIVERED = 5, /* final */
    QUEUE_BOUNCED = 6,   /* final */
};

/* DSN NOTIFY (RFC 3461), a bit set; 0 means "not given" (default rules). */
#define QUEUE_NOTIFY_NEVER 0x1
#define QUEUE_NOTIFY_SUCCESS 0x2
#define QUEUE_NOTIFY_FAILURE 0x4
#define QUEUE_NOTIFY_DELAY 0x8

#define QUEUE_FLAG_DELAY_WARNED 0x1 /* a delay DSN was sent */

enum queue_ret { QUEUE_RET_DEFAULT = 0, QUEUE_RET_FULL = 1, QUEUE_RET_HDRS = 2 };
enum queue_body { QUEUE_BODY_7BIT = 0, QUEUE_BODY_8BITMIME = 1 };

struct queue_rcpt {
    char address[QUEUE_ADDRESS_MAX];
    char orcpt[QUEUE_ORCPT_MAX];
    char last_reply[QUEUE_REPLY_MAX];
    uint8_t state;     /* enum queue_rcpt_state */
    uint8_t held_from; /* state to return to on release */
    uint8_t notify;    /* QUEUE_NOTIFY_* bits */
    uint32_t attempts;
    int64_t next_attempt; /* unix seconds */
    int64_t last_attempt; /* unix seconds, 0 = never */
};

/* A message envelope with its recipients. */
struct queue_msg {
    char id[QUEUE_ID_SIZE];
    char sender[QUEUE_ADDRESS_MAX]; /* "" = null sender */
    char envid[QUEUE_ENVID_MAX];
    char origin[QUEUE_ORIGIN_MAX];
    int64_t arrival; /* unix seconds */
    uint64_t size;   /* content bytes */
    uint32_t uid;    /* submitting user, as the daemon saw it */
    uint8_t ret;     /* enum queue_ret */
    uint8_t body;    /* enum queue_body */
    uint8_t flags;   /* QUEUE_FLAG_* */
    uint32_t nrcpt;
    struct queue_rcpt *rcpt; /* nrcpt entries, owned by the message */
};

struct queue;     /* opaque: an open environment */
struct queue_txn; /* opaque: a transaction */

#define QUEUE_OPEN_READONLY 0x1

/*
 * Opens (creating when absent and not read-only) the queue in directory
 * dir with the given map size in bytes (0 = keep what the environment has,
 * or 1 GiB for a new one). On success *out is owned by the caller: close
 * with queue_close(). Returns 0 or a negative errno.
 */
int queue_open(struct queue **out, const char *dir, uint64_t map_size, unsigned flags);

/* Closes the environment; NULL does nothing. No transaction may be open. */
void queue_close(struct queue *q);

/*
 * Begins a transaction: read-only unless write is non-zero. A write
 * transaction blocks other writers until it ends. With parent non-NULL,
 * begins a nested write transaction (its changes become part of the parent
 * when committed and vanish when aborted). Returns 0 or a negative errno.
 */
int queue_txn_begin(struct queue *q, struct queue_txn *parent, int write, struct queue_txn **out);

/* Commits and frees t; for the outermost write transaction this is the
 * durable point (fsync). Returns 0 or a negative errno (t is freed anyway). */
int queue_txn_commit(struct queue_txn *t);

/* Aborts and frees t; NULL does nothing. */
void queue_txn_abort(struct queue_txn *t);

/* Allocates an empty message with room for nrcpt recipients. NULL on
 * failure or if nrcpt exceeds QUEUE_RCPT_MAX. Free with queue_msg_free(). */
struct queue_msg *queue_msg_new(uint32_t nrcpt);
void queue_msg_free(struct queue_msg *m);

/*
 * Stores a new message: envelope from m (id, size and recipient states are
 * set here: every recipient READY and due at m->arrival), content of len
 * bytes. On success m->id holds the new queue id, unique and ordered by
 * arrival. Returns 0, -ENOSPC (map full), -EINVAL (bad envelope), or another
 * negative errno. The caller keeps ownership of m and content.
 */
int queue_insert(struct queue_txn *t, struct queue_msg *m, const void *content, size_t len);

/*
 * Reads the envelope of message id into a new queue_msg (*out owned by the
 * caller). Returns 0, -ENOENT, or -EBADMSG when the record does not decode
 * (see queue_set_aside).
 */
int queue_get(struct queue_txn *t, const char *id, struct queue_msg **out);

/*
 * Points *data at the content of message id, valid until t ends; no copy.
 * Returns 0 or -ENOENT.
 */
int queue_content(struct queue_txn *t, const char *id, const void **data, size_t *len);

/*
 * Copies the content of message id into a new buffer (*data, owned by the
 * caller, free()) and lets this process's memory go of the database pages
 * it came from (they stay in the page cache), so that a daemon with much
 * mail in flight does not hold both. Returns 0, -ENOENT or -ENOMEM.
 */
int queue_content_copy(struct queue_txn *t, const char *id, char **data, size_t *len);

/* Removes message id and everything belonging to it. 0 or -ENOENT. */
int queue_delete(struct queue_txn *t, const char *id);

/* Puts every pending recipient of id on hold / releases held ones
 * (due now). *changed (may be NULL) counts recipients changed. */
int queue_hold(struct queue_txn *t, const char *id, unsigned *changed);
int queue_release(struct queue_txn *t, const char *id, int64_t now, unsigned *changed);

/* Makes the pending recipients of id (or of every message when id is
 * NULL) due at now. *changed (may be NULL) counts them. */
int queue_flush(struct queue_txn *t, const char *id, int64_t now, unsigned *changed);

/*
 * Calls cb for every message in id (= arrival) order. For a message whose
 * records do not decode, cb is not called; bad (if not NULL) is called
 * with its id instead, and in a write transaction the message is set aside
 * (queue_set_aside). Stops when cb returns non-zero and returns that value.
 * msg is only valid during the call.
 */
int queue_foreach(struct queue_txn *t, int (*cb)(void *arg, const struct queue_msg *msg),
                  void (*bad)(void *arg, const char *id), void *arg);

/* One event in a recipient's history. */
struct queue_event {
    int64_t time;
    uint8_t state; /* the state the event led to */
    char text[QUEUE_REPLY_MAX];
};

/*
 * Calls cb for the history of recipient rcpt of message id, oldest first.
 * Returns 0, or cb's non-zero value.
 */
int queue_history(struct queue_txn *t, const char *id, uint32_t rcpt,
                  int (*cb)(void *arg, const struct queue_event *ev), void *arg);

/* A recipient handed to a delivery attempt. */
struct queue_claim {
    char id[QUEUE_ID_SIZE];
    uint32_t rcpt; /* index in the message */
    char address[QUEUE_ADDRESS_MAX];
    const char *domain; /* points into address */
};

/*
 * Claims up to max recipients due at or before now, in schedule order, and
 * marks them INFLIGHT (the claim is recorded so that queue_recover() can
 * undo it after a crash). The claims are stored in out[] sorted by domain
 * (case-insensitive), then queue id, then recipient index, so that a
 * delivery engine can group them into one transaction per message and
 * domain. Returns how many were claimed (>= 0) or a negative errno.
 */
int queue_claim_due(struct queue_txn *t, int64_t now, struct queue_claim *out, size_t max);

/* The outcome of one delivery attempt for one recipient. */
enum queue_outcome { QUEUE_OUTCOME_DELIVERED, QUEUE_OUTCOME_DEFERRED, QUEUE_OUTCOME_BOUNCED };

/*
 * Records the result of an attempt on a claimed recipient: its last reply
 * (text, truncated to QUEUE_REPLY_MAX), attempt count, history, and for
 * DEFERRED the next attempt time. When every recipient of the message is
 * DELIVERED or BOUNCED the message is removed (*removed set to 1; may be
 * NULL). A recipient held while in flight records final outcomes and
 * stays held otherwise. Returns 0, -ENOENT, or a negative errno.
 */
int queue_record_result(struct queue_txn *t, const char *id, uint32_t rcpt,
                        enum queue_outcome outcome, const char *text, int64_t now,
                        int64_t next_attempt, int *removed);

/*
 * Gives a claimed recipient back without an attempt (its destination is
 * paused, the daemon is stopping): it returns to its earlier pending
 * state, due at next_attempt. Returns 0, -ENOENT, or a negative errno.
 */
int queue_unclaim(struct queue_txn *t, const char *id, uint32_t rcpt, int64_t next_attempt);

/* Sets flag bits (QUEUE_FLAG_*) on a message. 0 or -ENOENT. */
int queue_set_flags(struct queue_txn *t, const char *id, uint8_t flags);

/*
 * After a crash: every recipient still INFLIGHT returns to its earlier
 * pending state, due at now. Only the claim records are read, never the
 * whole queue. *recovered (may be NULL) counts them.
 */
int queue_recover(struct queue_txn *t, int64_t now, unsigned *recovered);

/* The earliest next_attempt among pending recipients; -ENOENT if none. */
int queue_next_due(struct queue_txn *t, int64_t *when);

struct queue_stats {
    uint64_t messages;
    uint64_t bytes;
    uint64_t by_state[7]; /* recipients, indexed by enum queue_rcpt_state */
    uint64_t set_aside;   /* records that failed to decode */
};

/*
 * Counts messages and recipients by state (a full read; for mtaq stats).
 * If domain_cb is not NULL it is called once per pending recipient
 * (READY, DEFERRED, HELD, INFLIGHT) with its domain and state, so that the
 * caller can aggregate per destination.
 */
int queue_stats(struct queue_txn *t, struct queue_stats *st,
                void (*domain_cb)(void *arg, const char *domain, uint8_t state), void *arg);

/*
 * Moves the raw records of message id that fail to decode into the
 * "aside" database, out of the schedule, and reports it once (callers log).
 * Returns 0 or a negative errno.
 */
int queue_set_aside(struct queue_txn *t, const char *id);

/*
 * Small named notes kept beside the queue (the daemon records imported
 * maildrop files here so that a crash between commit and unlink does not
 * import one twice; the delivery engine caches MTA-STS policies). key is
 * a string of at most 200 octets; values at most QUEUE_NOTE_MAX octets
 * (-E2BIG). queue_note_get returns 0 or -ENOENT; *len is the value size.
 */
#define QUEUE_NOTE_MAX 16384
int queue_note_put(struct queue_txn *t, const char *key, const void *value, size_t len);
int queue_note_get(struct queue_txn *t, const char *key, void *value, size_t *len);
int queue_note_del(struct queue_txn *t, const char *key);

/*
 * Room left: *map_free bytes before the LMDB map is full (pages freed by
 * deletions are reused first, so this is a lower bound), *disk_free bytes
 * of the file system holding the queue. Cheap; any thread. Returns 0 or a
 * negative errno.
 */
int queue_room(struct queue *q, uint64_t *map_free, uint64_t *disk_free);

/* Name of a recipient state ("ready", "deferred", ...). */
const char *queue_state_name(uint8_t state);

/* Unix seconds now. */
int64_t queue_now(void);

/* Checks that text is a well-formed queue id. Returns 1 or 0. */
int queue_id_valid(const char *text);

#endif
