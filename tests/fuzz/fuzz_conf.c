/*
 * fuzz_conf.c - conf_parse on arbitrary file contents.
 *
 * Input: the file's bytes (not NUL-terminated: conf_parse takes a length,
 * so AddressSanitizer catches a read past it).
 *
 * Invariants: a refused file leaves the struct exactly as it was (the
 * reload of a broken file never replaces a working setup), whether that
 * was the defaults or another valid configuration; the error message is
 * one printable line starting with "line N:" or naming the NUL byte, and
 * fits its buffer; an accepted file gives values in their ranges (the
 * realm goes into a WWW-Authenticate header: no quote, no backslash, no
 * control byte); parsing is deterministic.
 */
#include "config.h"

#include <string.h>

#include "conf.h"
#include "fuzz.h"

static const char other_conf[] =
    "# a working configuration that a broken reload must not disturb\n"
    "db = /srv/keygate\n"
    "realm = api.example.com\n"
    "log = syslog\n"
    "log-denials = no\n"
    "debug = yes\n"
    "query-param = api_key\n"
    "workers = 8\n"
    "listen = unix:/run/keygate.sock\n"
    "socket-mode = 0600\n"
    "watchdog = 30s\n"
    "request-deadline = 5s\n";

static void
check_err(const char *err, size_t errlen)
{
	size_t n = strnlen(err, errlen), i;

	FUZZ_CHECK(n < errlen, "error message not terminated");
	for (i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)err[i] >= 0x20 && (unsigned char)err[i] < 0x7f,
		    "byte 0x%02x in the error message", (unsigned char)err[i]);
	if (errlen > 8)
		FUZZ_CHECK(strncmp(err, "line ", errlen > 5 ? 5 : errlen) == 0 ||
		    strncmp(err, "the file", 8) == 0, "error \"%s\"", err);
}

static void
check_string(const char *s, size_t cap, const char *what)
{
	FUZZ_CHECK(strnlen(s, cap) < cap, "%s not terminated", what);
}

static void
check_valid(const struct conf *c)
{
	size_t i;

	check_string(c->db, sizeof c->db, "db");
	check_string(c->realm, sizeof c->realm, "realm");
	check_string(c->query_param, sizeof c->query_param, "query-param");
	check_string(c->listen, sizeof c->listen, "listen");
	FUZZ_CHECK(c->db[0] == '\0' || c->db[0] == '/', "db \"%s\"", c->db);
	FUZZ_CHECK(c->realm[0] != '\0', "empty realm");
	for (i = 0; c->realm[i]; i++)
		FUZZ_CHECK((unsigned char)c->realm[i] >= 0x20 &&
		    (unsigned char)c->realm[i] < 0x7f && c->realm[i] != '"' &&
		    c->realm[i] != '\\', "realm byte 0x%02x", (unsigned char)c->realm[i]);
	for (i = 0; c->query_param[i]; i++)
		FUZZ_CHECK(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789_-", c->query_param[i]) != NULL, "query-param \"%s\"",
		    c->query_param);
	FUZZ_CHECK(c->log == LOG_TO_STDERR || c->log == LOG_TO_SYSLOG, "log %d", c->log);
	FUZZ_CHECK(c->log_denials == LOG_DENIALS_NO || c->log_denials == LOG_DENIALS_YES ||
	    c->log_denials == LOG_DENIALS_ALL, "log-denials %d", c->log_denials);
	FUZZ_CHECK(c->debug == 0 || c->debug == 1, "debug");
	FUZZ_CHECK(c->workers >= 1 && c->workers <= CONF_WORKERS_MAX, "workers %u", c->workers);
	FUZZ_CHECK(c->socket_mode <= 0777, "socket-mode %o", c->socket_mode);
	FUZZ_CHECK(c->watchdog_s >= 1 && c->watchdog_s <= 3600, "watchdog %u",
	    c->watchdog_s);
	FUZZ_CHECK(c->request_deadline_s >= 1 && c->request_deadline_s <= 60,
	    "request-deadline %u", c->request_deadline_s);
}

/* Parses text over *c; checks the all-or-nothing contract. */
static int
parse_over(struct conf *c, const char *text, size_t len, size_t errlen)
{
	struct conf before;
	char *err = malloc(errlen);
	int rc;

	if (err == NULL)
		abort();
	memset(err, 'E', errlen);
	memcpy(&before, c, sizeof before);
	rc = conf_parse(text, len, c, err, errlen);
	FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
	if (rc != 0) {
		FUZZ_CHECK(memcmp(&before, c, sizeof before) == 0,
		    "a refused file changed the configuration");
		check_err(err, errlen);
	} else {
		check_valid(c);
	}
	free(err);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf a, b, other;
	char *text;
	int rc, rc2;

	text = (char *)fuzz_dup(data, size);

	conf_defaults(&a);
	rc = parse_over(&a, text, size, 400);

	/* same text, same answer */
	conf_defaults(&b);
	rc2 = parse_over(&b, text, size, 400);
	FUZZ_CHECK(rc == rc2 && memcmp(&a, &b, sizeof a) == 0, "not deterministic");

	/* over a non-default configuration, with a short error buffer */
	conf_defaults(&other);
	FUZZ_CHECK(conf_parse(other_conf, strlen(other_conf), &other, (char[64]){0},
	    64) == 0, "the reference configuration does not parse");
	rc2 = parse_over(&other, text, size, 1 + (size % 40));
	FUZZ_CHECK(rc2 == rc, "the answer depends on the previous configuration");
	free(text);
	return 0;
}
