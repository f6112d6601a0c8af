/*
 * conf.c - configuration file parsing.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "parse.h"
#include "record.h"

void
conf_defaults(struct conf *c)
{
	memset(c, 0, sizeof *c);
	snprintf(c->realm, sizeof c->realm, "keygate");
	c->log = LOG_TO_STDERR;
	c->log_denials = LOG_DENIALS_YES;
	c->workers = 1;
	c->socket_mode = 0660;
	c->watchdog_s = 10;
	/* the front-ends in contrib/ give up on the authorizer after 5 s */
	c->request_deadline_s = 3;
}

static int
parse_bool(const char *v, int *out)
{
	if (strcmp(v, "yes") == 0 || strcmp(v, "on") == 0 || strcmp(v, "true") == 0 ||
	    strcmp(v, "1") == 0)
		*out = 1;
	else if (strcmp(v, "no") == 0 || strcmp(v, "off") == 0 ||
	    strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

static int
copy_value(char *dst, size_t cap, const char *v, const char **why)
{
	if (strlen(v) >= cap) {
		*why = "value too long";
		return -1;
	}
	strcpy(dst, v);
	return 0;
}

enum conf_key {
	K_DB, K_REALM, K_LOG, K_LOG_DENIALS, K_DEBUG, K_QUERY, K_WORKERS,
	K_LISTEN, K_SOCKET_MODE, K_WATCHDOG, K_REQUEST_DEADLINE, K_METRICS_ALLOW,
	K_COUNT
};

static const char *const conf_names[K_COUNT] = {
	"db", "realm", "log", "log-denials", "debug", "query-param", "workers",
	"listen", "socket-mode", "watchdog", "request-deadline", "metrics-allow",
};

size_t
conf_setting_count(void)
{
	return K_COUNT;
}

const char *
conf_setting_name(size_t i)
{
	return i < K_COUNT ? conf_names[i] : NULL;
}

/* buf: room for a reason that names part of the value (metrics-allow) */
static int
set_value(struct conf *c, enum conf_key k, const char *v, const char **why,
    char *buf, size_t buflen)
{
	uint64_t n;
	int64_t secs;
	size_t i;

	switch (k) {
	case K_DB:
		if (v[0] != '/') {
			*why = "db must be an absolute path";
			return -1;
		}
		if (!pathname_fits(v)) {
			*why = "db: the path is longer than " PATHNAME_MAX_TEXT " bytes";
			return -1;
		}
		return copy_value(c->db, sizeof c->db, v, why);
	case K_REALM:
		for (i = 0; v[i]; i++) {
			if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e ||
			    v[i] == '"' || v[i] == '\\') {
				*why = "realm must be printable ASCII without quotes or backslashes";
				return -1;
			}
		}
		if (v[0] == '\0') {
			*why = "realm must not be empty";
			return -1;
		}
		return copy_value(c->realm, sizeof c->realm, v, why);
	case K_LOG:
		if (strcmp(v, "stderr") == 0)
			c->log = LOG_TO_STDERR;
		else if (strcmp(v, "syslog") == 0)
			c->log = LOG_TO_SYSLOG;
		else {
			*why = "log must be stderr or syslog";
			return -1;
		}
		return 0;
	case K_LOG_DENIALS:
		if (strcmp(v, "all") == 0)
			c->log_denials = LOG_DENIALS_ALL;
		else if (parse_bool(v, &c->log_denials) != 0) {
			*why = "log-denials must be yes, all or no";
			return -1;
		}
		return 0;
	case K_DEBUG:
		if (parse_bool(v, &c->debug) != 0) {
			*why = "debug must be yes or no";
			return -1;
		}
		return 0;
	case K_QUERY:
		for (i = 0; v[i]; i++) {
			char ch = v[i];
			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-')) {
				*why = "query-param must be a parameter name such as api_key";
				return -1;
			}
		}
		return copy_value(c->query_param, sizeof c->query_param, v, why);
	case K_WORKERS:
		if (parse_u64(v, 1, CONF_WORKERS_MAX, &n, why) != 0)
			return -1;
		c->workers = (unsigned)n;
		return 0;
	case K_LISTEN:
		return copy_value(c->listen, sizeof c->listen, v, why);
	case K_SOCKET_MODE: {
		char *end;
		unsigned long m;

		errno = 0;
		m = strtoul(v, &end, 8);
		if (v[0] < '0' || v[0] > '7' || *end != '\0' || errno != 0 || m > 0777) {
			*why = "socket-mode must be an octal mode such as 0660";
			return -1;
		}
		c->socket_mode = (unsigned)m;
		return 0;
	}
	case K_WATCHDOG:
		if (parse_duration(v, &secs, why) != 0)
			return -1;
		if (secs < 1 || secs > 3600) {
			*why = "watchdog must be between 1s and 1h";
			return -1;
		}
		c->watchdog_s = (unsigned)secs;
		return 0;
	case K_REQUEST_DEADLINE:
		if (parse_duration(v, &secs, why) != 0)
			return -1;
		if (secs < 1 || secs > 60) {
			*why = "request-deadline must be between 1s and 60s";
			return -1;
		}
		c->request_deadline_s = (unsigned)secs;
		return 0;
	case K_METRICS_ALLOW: {
		char detail[128];

		if (netmask_list_parse(v, c->metrics_allow, NETMASK_LIST_MAX, &c->metrics_allow_n,
		    detail, sizeof detail) != 0) {
			snprintf(buf, buflen, "metrics-allow: %s", detail);
			*why = buf;
			return -1;
		}
		return 0;
	}
	default:
		*why = "unknown setting";
		return -1;
	}
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

int
conf_parse(const char *text, size_t len, struct conf *c, char *err,
    size_t errlen)
{
	unsigned seen[K_COUNT] = {0};
	struct conf tmp = *c;
	size_t pos = 0;
	unsigned lineno = 0;
	const char *nul;

	if ((nul = memchr(text, '\0', len)) != NULL) {
		const char *q;
		unsigned line = 1;
		for (q = text; q < nul; q++)
			line += *q == '\n';
		snprintf(err, errlen, "line %u: the file contains a NUL byte", line);
		return -1;
	}
	while (pos < len) {
		char line[CONF_LINE_MAX + 1];
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *s, *eq, *name, *value, whybuf[160];
		const char *why = NULL;
		int k;

		lineno++;
		if (n > CONF_LINE_MAX) {
			snprintf(err, errlen, "line %u: line too long", lineno);
			return -1;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + (nl != NULL);
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		if ((eq = strchr(s, '=')) == NULL) {
			snprintf(err, errlen, "line %u: expected name = value", lineno);
			return -1;
		}
		*eq = '\0';
		name = trim(s);
		value = trim(eq + 1);
		for (k = 0; k < K_COUNT; k++)
			if (strcmp(name, conf_names[k]) == 0)
				break;
		if (k == K_COUNT) {
			char safe[64];
			snprintf(err, errlen, "line %u: unknown setting '%s'", lineno,
			    log_sanitize(name, 40, safe, sizeof safe));
			return -1;
		}
		if (seen[k]) {
			snprintf(err, errlen, "line %u: %s is already set on line %u",
			    lineno, name, seen[k]);
			return -1;
		}
		seen[k] = lineno;
		if (set_value(&tmp, (enum conf_key)k, value, &why, whybuf, sizeof whybuf) != 0) {
			snprintf(err, errlen, "line %u: %s", lineno, why);
			return -1;
		}
	}
	*c = tmp;
	return 0;
}

int
conf_load(const char *path, int must_exist, struct conf *c, char *err,
    size_t errlen)
{
	struct stat st;
	char *buf;
	ssize_t r;
	size_t got = 0;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT && !must_exist)
			return 0;
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > CONF_FILE_MAX) {
		snprintf(err, errlen, "%s: not a regular file of at most 1 MiB", path);
		close(fd);
		return -1;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	while (got < (size_t)st.st_size &&
	    (r = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)r;
	close(fd);
	{
		char inner[400];
		rc = conf_parse(buf, got, c, inner, sizeof inner);
		if (rc != 0)
			snprintf(err, errlen, "%s: %s", path, inner);
	}
	free(buf);
	return rc;
}

const char *
conf_path(const char *opt, int *must_exist)
{
	const char *env;

	*must_exist = 1;
	if (opt != NULL)
		return opt;
	if ((env = getenv("KEYGATE_CONF")) != NULL && *env != '\0')
		return env;
	*must_exist = 0;
	return CONF_DEFAULT_PATH;
}

const char *
conf_db(const char *opt, const struct conf *c)
{
	const char *env;

	if (opt != NULL)
		return opt;
	if ((env = getenv("KEYGATE_DB")) != NULL && *env != '\0')
		return env;
	if (c->db[0] != '\0')
		return c->db;
	return CONF_DEFAULT_DB;
}
