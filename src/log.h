/*
 * log.h - one line per event, to stderr (the web server's error log) or
 * syslog.  log_warn appends strerror(errno), log_warnx does not.
 */
#ifndef KEYGATE_LOG_H
#define KEYGATE_LOG_H

#include <stdarg.h>

#define KG_PRINTF(a, b) __attribute__((format(printf, a, b)))

enum log_dest { LOG_TO_STDERR, LOG_TO_SYSLOG };

void log_init(const char *ident, enum log_dest dest, int debug);
void log_set_debug(int debug);
void log_warn(const char *fmt, ...) KG_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) KG_PRINTF(1, 2);
void log_info(const char *fmt, ...) KG_PRINTF(1, 2);
void log_debug(const char *fmt, ...) KG_PRINTF(1, 2);
void fatal(const char *fmt, ...) KG_PRINTF(1, 2) __attribute__((noreturn));
void fatalx(const char *fmt, ...) KG_PRINTF(1, 2) __attribute__((noreturn));

/*
 * Copy at most max bytes of s into out as printable ASCII: anything else
 * becomes '?', so nothing a client sends can forge a log line.
 */
const char *log_sanitize(const char *s, size_t max, char *out, size_t outsz);

/*
 * A request URI for the log, as log_sanitize writes it (cut to outsz),
 * but with its query's values replaced by "*" (a component without "="
 * entirely) and an absolute URI's userinfo left out: clients put keys in
 * query strings whatever the documentation says, and no log may hold one.
 */
const char *log_uri(const char *uri, char *out, size_t outsz);

#endif
