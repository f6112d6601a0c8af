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
#include "rules.h"

#define PEERS_MAX_TEXT "15" /* CONF_PEERS_MAX, for messages */
_Static_assert(CONF_PEERS_MAX == 15, "PEERS_MAX_TEXT follows CONF_PEERS_MAX");

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
	c->repl_priority = CONF_REPL_PRIORITY_DEFAULT;
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

/* The host syntax is the rules' own (host_valid): a lower-case name, or [IPv6]. */
int
conf_parse_addr(const char *s, struct repl_addr *a, const char **why)
{
	const char *colon = s[0] == '[' ? strchr(s, ']') : strrchr(s, ':');
	size_t hlen;
	uint64_t port;

	if (colon != NULL && s[0] == '[')
		colon = colon[1] == ':' ? colon + 1 : NULL;
	if (colon == NULL || !host_valid(s, (size_t)(colon - s))) {
		*why = "an address must be HOST:PORT (a lower-case host name or "
		    "address) or [IPv6]:PORT";
		return -1;
	}
	if (parse_u64(colon + 1, 1, 65535, &port, why) != 0) {
		*why = "a port must be a number from 1 to 65535";
		return -1;
	}
	/* Berkeley DB takes an IPv6 address without its brackets */
	hlen = (size_t)(colon - s);
	if (s[0] == '[') {
		s++;
		hlen -= 2;
	}
	memcpy(a->host, s, hlen);
	a->host[hlen] = '\0';
	a->port = (unsigned)port;
	return 0;
}

int
conf_same_addr(const struct repl_addr *a, const struct repl_addr *b)
{
	return a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* repl_peers: addresses apart by blanks or commas, each named once. */
static int
parse_peers(struct conf *c, const char *v, const char **why)
{
	char buf[CONF_LINE_MAX + 1], *save = NULL, *tok;
	unsigned i, n = 0;

	snprintf(buf, sizeof buf, "%s", v);
	for (tok = strtok_r(buf, " \t,", &save); tok != NULL; tok = strtok_r(NULL, " \t,", &save)) {
		if (n == CONF_PEERS_MAX) {
			*why = "repl_peers: at most " PEERS_MAX_TEXT " other sites";
			return -1;
		}
		if (conf_parse_addr(tok, &c->repl_peers[n], why) != 0)
			return -1;
		for (i = 0; i < n; i++)
			if (conf_same_addr(&c->repl_peers[i], &c->repl_peers[n])) {
				*why = "repl_peers names an address twice";
				return -1;
			}
		n++;
	}
	if (n == 0) {
		*why = "repl_peers must name at least one HOST:PORT";
		return -1;
	}
	c->nrepl_peers = n;
	return 0;
}

enum conf_key {
	K_DB, K_REALM, K_LOG, K_LOG_DENIALS, K_DEBUG, K_QUERY, K_WORKERS,
	K_LISTEN, K_SOCKET_MODE, K_WATCHDOG, K_REQUEST_DEADLINE, K_METRICS_ALLOW,
	K_REPL_SITE, K_REPL_PEERS, K_REPL_PRIORITY, K_COUNT
};

/* The replication names are SPEC's own (repl_site...), hence the underscores. */
static const char *const conf_names[K_COUNT] = {
	"db", "realm", "log", "log-denials", "debug", "query-param", "workers",
	"listen", "socket-mode", "watchdog", "request-deadline", "metrics-allow",
	"repl_site", "repl_peers", "repl_priority",
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
	case K_REPL_SITE:
		/* empty, as the shipped file shows it: not replicated */
		if (v[0] == '\0') {
			memset(&c->repl_site, 0, sizeof c->repl_site);
			return 0;
		}
		return conf_parse_addr(v, &c->repl_site, why);
	case K_REPL_PEERS:
		if (v[0] == '\0') {
			memset(c->repl_peers, 0, sizeof c->repl_peers);
			c->nrepl_peers = 0;
			return 0;
		}
		return parse_peers(c, v, why);
	case K_REPL_PRIORITY:
		if (parse_u64(v, 0, REPL_PRIORITY_MAX, &n, why) != 0) {
			*why = "repl_priority must be a number from 0 (never master) to 1000";
			return -1;
		}
		c->repl_priority = (unsigned)n;
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

/* What one line cannot tell: the replication settings together. */
static int
check_repl(const struct conf *c, const unsigned seen[K_COUNT], char *err, size_t errlen)
{
	unsigned i;

	if (c->nrepl_peers > 0 && c->repl_site.host[0] == '\0') {
		snprintf(err, errlen, "line %u: repl_peers needs repl_site (this host's address)",
		    seen[K_REPL_PEERS]);
		return -1;
	}
	/* the default shown in the shipped file is harmless alone */
	if (c->repl_priority != CONF_REPL_PRIORITY_DEFAULT && c->repl_site.host[0] == '\0') {
		snprintf(err, errlen, "line %u: repl_priority needs repl_site (this host's address)",
		    seen[K_REPL_PRIORITY]);
		return -1;
	}
	for (i = 0; i < c->nrepl_peers; i++)
		if (conf_same_addr(&c->repl_peers[i], &c->repl_site)) {
			snprintf(err, errlen, "line %u: repl_peers names this site itself (repl_site, line %u)",
			    seen[K_REPL_PEERS], seen[K_REPL_SITE]);
			return -1;
		}
	return 0;
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
	if (check_repl(&tmp, seen, err, errlen) != 0)
		return -1;
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
