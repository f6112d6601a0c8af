/*
 * log.c - logging with errno discipline.  Every message is formatted into
 * one buffer and written with a single write(2), so lines from several
 * processes sharing the web server's error log never interleave.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "apikey.h"
#include "log.h"

static const char *log_ident = "keygate";
static enum log_dest log_dest = LOG_TO_STDERR;
static int log_debug_on;

void
log_init(const char *ident, enum log_dest dest, int debug)
{
	log_ident = ident;
	log_dest = dest;
	log_debug_on = debug;
	if (dest == LOG_TO_SYSLOG)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_set_debug(int debug)
{
	log_debug_on = debug;
}

/*
 * Every line goes through apikey_redact: a request path, a config line or
 * an argument that holds a key in keygate's format is logged with its
 * display prefix only.
 */
static void
log_emit(int prio, const char *fmt, va_list ap, int with_errno, int saved_errno)
{
	char line[1024], shown[sizeof line];
	size_t n = 0;
	int r;

	if (log_dest == LOG_TO_STDERR && log_debug_on) {
		struct timespec ts;

		/* debugging: each line with its time, to set beside other logs */
		clock_gettime(CLOCK_REALTIME, &ts);
		r = snprintf(line, sizeof line, "%s[%ld] %lld.%03ld: ", log_ident, (long)getpid(),
		    (long long)ts.tv_sec, ts.tv_nsec / 1000000);
		if (r > 0)
			n = (size_t)r < sizeof line ? (size_t)r : sizeof line - 1;
	} else if (log_dest == LOG_TO_STDERR) {
		r = snprintf(line, sizeof line, "%s[%ld]: ", log_ident, (long)getpid());
		if (r > 0)
			n = (size_t)r < sizeof line ? (size_t)r : sizeof line - 1;
	}
	r = vsnprintf(line + n, sizeof line - n, fmt, ap);
	if (r > 0)
		n += (size_t)r < sizeof line - n ? (size_t)r : sizeof line - n - 1;
	if (with_errno && n < sizeof line - 1) {
		r = snprintf(line + n, sizeof line - n, ": %s", strerror(saved_errno));
		if (r > 0)
			n += (size_t)r < sizeof line - n ? (size_t)r : sizeof line - n - 1;
	}
	line[n] = '\0';
	/* one byte short: room for the newline */
	apikey_redact(line, shown, sizeof shown - 1);
	if (log_dest == LOG_TO_SYSLOG) {
		syslog(prio, "%s", shown);
		return;
	}
	n = strlen(shown);
	shown[n++] = '\n';
	/* One write per line: a short write to a log is not worth a retry loop. */
	if (write(STDERR_FILENO, shown, n) < 0)
		return;
}

#define LOG_BODY(prio, with_errno)                                  \
	do {                                                        \
		int saved_errno = errno;                            \
		va_list ap;                                         \
		va_start(ap, fmt);                                  \
		log_emit(prio, fmt, ap, with_errno, saved_errno);   \
		va_end(ap);                                         \
		errno = saved_errno;                                \
	} while (0)

void
log_warn(const char *fmt, ...)
{
	LOG_BODY(LOG_WARNING, 1);
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_WARNING, 0);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_INFO, 0);
}

void
log_debug(const char *fmt, ...)
{
	if (!log_debug_on)
		return;
	LOG_BODY(LOG_DEBUG, 0);
}

void
fatal(const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, 1);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, 0);
	exit(1);
}

const char *
log_sanitize(const char *s, size_t max, char *out, size_t outsz)
{
	size_t i;

	if (outsz == 0)
		return "";
	if (s == NULL) {
		out[0] = '-';
		out[outsz > 1] = '\0';
		return out;
	}
	for (i = 0; s[i] != '\0' && i < max && i + 1 < outsz; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
	}
	out[i] = '\0';
	return out;
}

/* One byte of a logged value: printable ASCII but '"', else '?'. */
static char
log_char(char c)
{
	unsigned char u = (unsigned char)c;

	return u >= 0x20 && u < 0x7f && u != '"' ? c : '?';
}

/* Appends n bytes of s to out (o bytes used of outsz), as log_char writes them. */
static size_t
log_append(char *out, size_t o, size_t outsz, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && o + 1 < outsz; i++)
		out[o++] = log_char(s[i]);
	return o;
}

const char *
log_uri(const char *uri, char *out, size_t outsz)
{
	const char *p = uri, *auth, *at;
	size_t o = 0, n;

	if (outsz == 0)
		return "";
	if (uri == NULL)
		return log_sanitize(NULL, 0, out, outsz);
	/* "http://user:secret@host/...": the authority without its userinfo */
	if ((auth = strstr(p, "://")) != NULL && auth < p + strcspn(p, "/?#")) {
		auth += 3;
		o = log_append(out, o, outsz, p, (size_t)(auth - p));
		n = strcspn(auth, "/?#");
		at = memchr(auth, '@', n);
		p = at != NULL ? at + 1 : auth;
	}
	n = strcspn(p, "?");
	o = log_append(out, o, outsz, p, n);
	p += n;
	/* the query, a component at a time: its name, never its value */
	while (*p != '\0') {
		o = log_append(out, o, outsz, p, 1); /* '?' or '&' */
		p++;
		n = strcspn(p, "&");
		if ((at = memchr(p, '=', n)) != NULL)
			o = log_append(out, o, outsz, p, (size_t)(at - p) + 1);
		/* a component with no "=" may be a bare key: all of it hidden */
		if (n > 0)
			o = log_append(out, o, outsz, "*", 1);
		p += n;
	}
	out[o] = '\0';
	return out;
}
