/*
 * log.h - the programs' log: stderr, syslog, or a file, chosen by the
 * `log` key. Lines look like syslog's ("Nov 24 23:57:47 host mtad[42]: ...")
 * so that the tools operators already use on Postfix logs work here too.
 */
#ifndef MTA_LOG_H
#define MTA_LOG_H

#include <syslog.h>

/*
 * Opens the log: target is "stderr", "syslog" or an absolute path
 * (appended to, created 0640). ident names the program. Returns 0 or a
 * negative errno (the log then stays on stderr).
 */
int log_open(const char *target, const char *ident, const char *hostname);

/* Reopens a log file (after rotation, on SIGHUP). */
int log_reopen(void);

void log_close(void);

/* Writes one line at priority prio (LOG_ERR, LOG_WARNING, LOG_INFO...). */
void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)

#endif
