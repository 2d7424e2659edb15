/*
 * log.c - one log for each program (see log.h). The state here is the
 * process's own log target, set once at start-up: global by design, as
 * DEVELOPERS.md allows inside mta/.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum log_kind { LOG_TO_STDERR, LOG_TO_SYSLOG, LOG_TO_FILE };

static enum log_kind log_kind = LOG_TO_STDERR;
static int log_fd = 2;
static char log_path[1024];
static char log_ident[64] = "mta";
static char log_host[256] = "localhost";

int log_open(const char *target, const char *ident, const char *hostname)
{
    snprintf(log_ident, sizeof(log_ident), "%s", ident);
    if (hostname && *hostname) {
        /* syslog convention: the short host name */
        snprintf(log_host, sizeof(log_host), "%.*s", (int)strcspn(hostname, "."), hostname);
    }
    if (!target || strcmp(target, "stderr") == 0) {
        log_kind = LOG_TO_STDERR;
        log_fd = 2;
        return 0;
    }
    if (strcmp(target, "syslog") == 0) {
        openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
        log_kind = LOG_TO_SYSLOG;
        return 0;
    }
    snprintf(log_path, sizeof(log_path), "%s", target);
    log_kind = LOG_TO_FILE;
    return log_reopen();
}

int log_reopen(void)
{
    int fd;
    if (log_kind != LOG_TO_FILE)
        return 0;
    fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        int err = errno;
        log_kind = LOG_TO_STDERR;
        if (log_fd > 2)
            close(log_fd);
        log_fd = 2;
        log_error("cannot open log file %s: %s", log_path, strerror(err));
        return -err;
    }
    if (log_fd > 2)
        close(log_fd);
    log_fd = fd;
    return 0;
}

void log_close(void)
{
    if (log_kind == LOG_TO_SYSLOG)
        closelog();
    if (log_fd > 2)
        close(log_fd);
    log_fd = 2;
    log_kind = LOG_TO_STDERR;
}

void log_msg(int prio, const char *fmt, ...)
{
    char line[2048];
    size_t n = 0;
    va_list ap;

    va_start(ap, fmt);
    if (log_kind == LOG_TO_SYSLOG) {
        vsyslog(prio, fmt, ap);
        va_end(ap);
        return;
    }
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    n = strftime(line, sizeof(line), "%b %e %H:%M:%S ", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, "%s %s[%ld]: %s", log_host, log_ident,
                          (long)getpid(),
                          prio <= LOG_ERR       ? "error: "
                          : prio == LOG_WARNING ? "warning: "
                                                : "");
    if (n < sizeof(line)) {
        int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
        if (m > 0)
            n += (size_t)m;
    }
    va_end(ap);
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    /* Control characters from remote text must not forge log lines. */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)line[i] < ' ' && line[i] != '\t')
            line[i] = '?';
    line[n++] = '\n';
    /* One write per line: lines from several processes do not interleave. */
    if (write(log_fd, line, n) < 0) {
        /* nowhere left to report it */
    }
}
