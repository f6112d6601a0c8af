/*
 * test_conf.c - keygate.conf parsing: settings, comments, CRLF, errors
 * with their line numbers, and a failed parse that changes nothing.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "tap.h"

static struct conf C;
static char err[512];

static int
parse(const char *text)
{
	err[0] = '\0';
	return conf_parse(text, strlen(text), &C, err, sizeof err);
}

/* The error starts with "line N: " */
static int
err_line(unsigned line)
{
	char want[32];

	snprintf(want, sizeof want, "line %u: ", line);
	return strncmp(err, want, strlen(want)) == 0;
}

static void
test_defaults(void)
{
	conf_defaults(&C);
	ok(C.db[0] == '\0' && strcmp(C.realm, "keygate") == 0 && C.log == LOG_TO_STDERR &&
	    C.log_denials == 1 && C.debug == 0 && C.query_param[0] == '\0' &&
	    C.workers == 1 && C.listen[0] == '\0' && C.socket_mode == 0660 &&
	    C.watchdog_s == 10 && C.request_deadline_s == 3 && C.metrics_allow_n == 0, "defaults");
}

static void
test_valid(void)
{
	conf_defaults(&C);
	is_int(parse(
	    "# keygate.conf\n"
	    "\n"
	    "db = /var/lib/keygate\n"
	    "realm = My API v2\n"
	    "   # an indented comment\n"
	    "log = syslog\n"
	    "log-denials = no\n"
	    "debug = yes\n"
	    "query-param = api_key\n"
	    "workers = 4\n"
	    "listen = unix:/run/keygate.sock\n"
	    "socket-mode = 0600\n"
	    "watchdog = 30s\n"
	    "request-deadline = 5s\n"
	    "metrics-allow = 127.0.0.1 ::1 10.0.0.0/8\n"), 0, "a file with every setting parses");
	ok(strcmp(C.db, "/var/lib/keygate") == 0, "db");
	ok(strcmp(C.realm, "My API v2") == 0, "realm keeps inner spaces");
	ok(C.log == LOG_TO_SYSLOG, "log");
	ok(C.log_denials == 0, "log-denials");
	ok(C.debug == 1, "debug");
	ok(strcmp(C.query_param, "api_key") == 0, "query-param");
	ok(C.workers == 4, "workers");
	ok(strcmp(C.listen, "unix:/run/keygate.sock") == 0, "listen");
	is_int(C.socket_mode, 0600, "socket-mode is octal");
	is_int(C.watchdog_s, 30, "watchdog");
	is_int(C.request_deadline_s, 5, "request-deadline");
	ok(C.metrics_allow_n == 3 && C.metrics_allow[2].family == 4 && C.metrics_allow[2].bits == 8,
	    "metrics-allow: three networks");
	conf_defaults(&C);
	is_int(parse("metrics-allow =\n"), 0, "an empty metrics-allow: nobody without a key");
	ok(C.metrics_allow_n == 0, "  no networks");
	is_int(parse("metrics-allow = \t192.168.0.0/16\t\t fd00::/8  \n"), 0, "metrics-allow: tabs and spaces");
	ok(C.metrics_allow_n == 2, "  two networks");

	conf_defaults(&C);
	is_int(parse("workers = 3\r\n# comment\r\n\r\nrealm = crlf\r\nlisten = 127.0.0.1:9000\r\n"), 0,
	    "CRLF line endings parse");
	ok(C.workers == 3 && strcmp(C.realm, "crlf") == 0 && strcmp(C.listen, "127.0.0.1:9000") == 0,
	    "CRLF: no CR left in values");
	conf_defaults(&C);
	is_int(parse("\t workers\t=\t5 \t\n  realm=x  "), 0, "tabs, spaces, no = spacing, no final newline");
	ok(C.workers == 5 && strcmp(C.realm, "x") == 0, "  values trimmed");
	conf_defaults(&C);
	is_int(parse("listen = a=b\n"), 0, "a value may hold =");
	is_str(C.listen, "a=b", "  split at the first =");
	conf_defaults(&C);
	is_int(parse(""), 0, "an empty file is fine");
	is_str(C.realm, "keygate", "  and keeps the defaults");
	is_int(parse("\n\n# only comments\n   \n\t\n"), 0, "blank and comment lines only");
	is_int(parse("query-param =\n"), 0, "an empty query-param turns it off");
	is_str(C.query_param, "", "  query_param empty");
	conf_defaults(&C);
	is_int(parse("log-denials = off\ndebug = 0\n"), 0, "booleans off/0");
	ok(C.log_denials == 0 && C.debug == 0, "  both off");
	conf_defaults(&C);
	is_int(parse("log-denials = true\ndebug = on\n"), 0, "booleans true/on");
	ok(C.log_denials == 1 && C.debug == 1, "  both on");
	conf_defaults(&C);
	is_int(parse("socket-mode = 660\nwatchdog = 1h\nworkers = 256\nrequest-deadline = 1m\n"), 0,
	    "limits: 660, 1h, 256 workers, a 1m deadline");
	ok(C.socket_mode == 0660 && C.watchdog_s == 3600 && C.workers == CONF_WORKERS_MAX &&
	    C.request_deadline_s == 60, "  values");
	conf_defaults(&C);
	is_int(parse("watchdog = 1s\nsocket-mode = 0\nworkers = 1\nrequest-deadline = 1s\n"), 0,
	    "limits: 1s, mode 0, 1 worker, a 1s deadline");
	ok(C.watchdog_s == 1 && C.socket_mode == 0 && C.workers == 1 && C.request_deadline_s == 1,
	    "  values");
}

static void
test_errors(void)
{
	static const struct { const char *text; unsigned line; const char *what; } cases[] = {
		{"workers = 2\n\nfoo = bar\n", 3, "unknown setting"},
		{"Workers = 2\n", 1, "setting names are case-sensitive"},
		{"= 2\n", 1, "an empty name"},
		{"workers = 2\nrealm\n", 2, "missing ="},
		{"# c\nworkers 2\n", 2, "missing = (space instead)"},
		{"workers = 2\nrealm = a\n\n\nworkers = 3\n", 5, "duplicate setting"},
		{"db = var/lib/keygate\n", 1, "relative db"},
		{"db =\n", 1, "empty db"},
		{"realm = a\"b\n", 1, "realm with a quote"},
		{"realm = a\\b\n", 1, "realm with a backslash"},
		{"realm =\n", 1, "empty realm"},
		{"realm = caf\xc3\xa9\n", 1, "non-ASCII realm"},
		{"log = file\n", 1, "bad log"},
		{"log = Syslog\n", 1, "log is case-sensitive"},
		{"log-denials = maybe\n", 1, "bad log-denials"},
		{"debug = 2\n", 1, "bad debug"},
		{"debug =\n", 1, "empty debug"},
		{"query-param = api key\n", 1, "query-param with a space"},
		{"query-param = a&b\n", 1, "query-param with &"},
		{"query-param = a=b\n", 1, "query-param with ="},
		{"workers = 0\n", 1, "workers 0"},
		{"workers = 257\n", 1, "workers 257"},
		{"workers = four\n", 1, "workers four"},
		{"workers = -1\n", 1, "workers -1"},
		{"workers = 4 # comment\n", 1, "no comments after values"},
		{"socket-mode = 0999\n", 1, "socket-mode 0999"},
		{"socket-mode = 01000\n", 1, "socket-mode 01000"},
		{"socket-mode = -1\n", 1, "socket-mode -1"},
		{"socket-mode = rw\n", 1, "socket-mode rw"},
		{"socket-mode =\n", 1, "empty socket-mode"},
		{"watchdog = 0s\n", 1, "watchdog 0s"},
		{"request-deadline = 0s\n", 1, "request-deadline 0s"},
		{"request-deadline = 61s\n", 1, "request-deadline 61s"},
		{"request-deadline = soon\n", 1, "request-deadline soon"},
		{"watchdog = 2h\n", 1, "watchdog 2h"},
		{"watchdog = 10\n", 1, "watchdog without a unit"},
		{"\n\n\n\n\n\n\n\n\nworkers = x\n", 10, "line 10"},
		{"metrics-allow = localhost\n", 1, "metrics-allow: a host name"},
		{"metrics-allow = 127.0.0.1, ::1\n", 1, "metrics-allow: a comma"},
		{"metrics-allow = 10.1.2.3/8\n", 1, "metrics-allow: host bits set"},
		{"metrics-allow = 10.0.0.0/33\n", 1, "metrics-allow: /33"},
		{"metrics-allow = ::1/129\n", 1, "metrics-allow: /129"},
		{"metrics-allow = 10.0.0.0/\n", 1, "metrics-allow: an empty prefix"},
		{"metrics-allow = 127.0.0.1 *\n", 1, "metrics-allow: a wildcard"},
		{"metrics-allow = fe80::1%eth0\n", 1, "metrics-allow: a zone"},
		{"metrics-allow = 127.0.0.1\nmetrics-allow = ::1\n", 2, "metrics-allow twice"},
		{"a\r\nb = c\r\n", 1, "missing = with CRLF"},
		{"workers = 2\r\nworkers = 2\r\n", 2, "duplicate with CRLF"},
	};
	struct conf before;
	char *big;
	size_t i, n;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		conf_defaults(&C);
		C.workers = 77;
		before = C;
		is_int(parse(cases[i].text), -1, "error: %s", cases[i].what);
		ok(err_line(cases[i].line), "  reported on line %u ('%s')", cases[i].line, err);
		ok(memcmp(&before, &C, sizeof C) == 0, "  leaves the struct unchanged");
	}
	conf_defaults(&C);
	is_int(parse("workers = 2\n\nworkers = 3\n"), -1, "duplicate");
	ok(strstr(err, "line 1") != NULL, "  names the first line too ('%s')", err);

	/* values too long for their field */
	big = malloc(8000);
	if (big == NULL)
		abort();
	snprintf(big, 8000, "db = /");
	n = strlen(big);
	memset(big + n, 'd', sizeof C.db);
	strcpy(big + n + sizeof C.db, "\n");
	conf_defaults(&C);
	before = C;
	is_int(parse(big), -1, "a db path longer than its field");
	ok(err_line(1) && memcmp(&before, &C, sizeof C) == 0, "  line 1, nothing changed");
	snprintf(big, 8000, "realm = ");
	n = strlen(big);
	memset(big + n, 'r', sizeof C.realm);
	strcpy(big + n + sizeof C.realm, "\n");
	is_int(parse(big), -1, "a realm longer than its field");
	snprintf(big, 8000, "# x\nlisten = ");
	n = strlen(big);
	memset(big + n, 'l', sizeof C.listen);
	strcpy(big + n + sizeof C.listen, "\n");
	is_int(parse(big), -1, "a listen longer than its field");
	ok(err_line(2), "  line 2 ('%s')", err);

	/* line length */
	memset(big, '#', 8000);
	big[CONF_LINE_MAX] = '\n';
	big[CONF_LINE_MAX + 1] = '\0';
	is_int(parse(big), 0, "a %d-byte comment line is fine", CONF_LINE_MAX);
	strcpy(big, "workers = 2\n");
	n = strlen(big);
	memset(big + n, '#', 5000);
	strcpy(big + n + 5000, "\nrealm = x\n");
	conf_defaults(&C);
	before = C;
	is_int(parse(big), -1, "a 5000-byte line is refused");
	ok(err_line(2), "  on line 2 ('%s')", err);
	ok(memcmp(&before, &C, sizeof C) == 0, "  leaving the struct unchanged");
	memset(big, 'x', CONF_LINE_MAX + 1);
	big[CONF_LINE_MAX + 1] = '\0';
	is_int(parse(big), -1, "a %d-byte last line without a newline is refused", CONF_LINE_MAX + 1);
	free(big);

	/* NUL bytes */
	{
		static const char text[] = "workers = 2\n# c\nrealm = a\0b\n";
		conf_defaults(&C);
		before = C;
		is_int(conf_parse(text, sizeof text - 1, &C, err, sizeof err), -1, "a NUL byte is refused");
		ok(memcmp(&before, &C, sizeof C) == 0, "  leaving the struct unchanged");
		ok(err_line(3), "  reported on line 3 as conf.h promises ('%s')", err);
	}

	/* a small error buffer is not overrun */
	{
		char small[8];
		memset(small, 'Z', sizeof small);
		conf_defaults(&C);
		is_int(conf_parse("foo = bar\n", 10, &C, small, 5), -1, "error into a 5-byte buffer");
		ok(small[4] == '\0' && small[5] == 'Z', "  cut and terminated inside it");
	}
	/* metrics-allow: the message names the bad network; past the limit, refused */
	conf_defaults(&C);
	is_int(parse("metrics-allow = 127.0.0.1 10.1.2.3/8\n"), -1, "metrics-allow with host bits");
	ok(strstr(err, "10.1.2.3/8") != NULL && strstr(err, "metrics-allow") != NULL,
	    "  the message names it ('%s')", err);
	{
		char text[2048] = "metrics-allow =";
		size_t k;

		for (k = 0; k <= NETMASK_LIST_MAX; k++)
			snprintf(text + strlen(text), sizeof text - strlen(text), " 10.0.%zu.0/24", k);
		strcat(text, "\n");
		conf_defaults(&C);
		before = C;
		is_int(parse(text), -1, "metrics-allow with %d networks: refused", NETMASK_LIST_MAX + 1);
		ok(memcmp(&before, &C, sizeof C) == 0, "  leaving the struct unchanged ('%s')", err);
	}
	conf_defaults(&C);
	is_int(parse("metrics-allow = 127.0.0.1 \x1b]0;x\n"), -1, "metrics-allow with an escape byte");
	ok(strchr(err, '\x1b') == NULL, "  is not echoed raw ('%s')", err);
	/* an unknown name is sanitised in the message */
	conf_defaults(&C);
	is_int(parse("fo\x1bo = 1\n"), -1, "unknown name with an escape byte");
	ok(strchr(err, '\x1b') == NULL, "  is not echoed raw ('%s')", err);
}

static void
test_load(void)
{
	const char *tmp = getenv("TMPDIR");
	char dir[200], path[300];
	FILE *f;
	int must;

	snprintf(dir, sizeof dir, "%s/kg-conf-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof path, "%s/keygate.conf", dir);
	f = fopen(path, "w");
	fputs("workers = 6\nrealm = loaded\n", f);
	fclose(f);
	conf_defaults(&C);
	is_int(conf_load(path, 1, &C, err, sizeof err), 0, "conf_load reads a file");
	ok(C.workers == 6 && strcmp(C.realm, "loaded") == 0, "  with its values");
	f = fopen(path, "w");
	fputs("workers = 6\nbogus = 1\n", f);
	fclose(f);
	is_int(conf_load(path, 1, &C, err, sizeof err), -1, "conf_load of a bad file");
	ok(strstr(err, path) != NULL && strstr(err, "line 2") != NULL,
	    "  names the file and the line ('%s')", err);
	unlink(path);
	conf_defaults(&C);
	is_int(conf_load(path, 0, &C, err, sizeof err), 0, "a missing optional file is fine");
	is_int(conf_load(path, 1, &C, err, sizeof err), -1, "a missing named file is an error");
	is_int(conf_load(dir, 1, &C, err, sizeof err), -1, "a directory is an error");
	rmdir(dir);

	unsetenv("KEYGATE_CONF");
	is_str(conf_path(NULL, &must), CONF_DEFAULT_PATH, "conf_path default");
	is_int(must, 0, "  which may be missing");
	setenv("KEYGATE_CONF", "/env/keygate.conf", 1);
	is_str(conf_path(NULL, &must), "/env/keygate.conf", "conf_path from $KEYGATE_CONF");
	is_int(must, 1, "  which must exist");
	is_str(conf_path("/opt/k.conf", &must), "/opt/k.conf", "conf_path option wins");
	is_int(must, 1, "  which must exist");
	setenv("KEYGATE_CONF", "", 1);
	is_str(conf_path(NULL, &must), CONF_DEFAULT_PATH, "an empty $KEYGATE_CONF is ignored");
	unsetenv("KEYGATE_CONF");

	conf_defaults(&C);
	unsetenv("KEYGATE_DB");
	is_str(conf_db(NULL, &C), CONF_DEFAULT_DB, "conf_db default");
	strcpy(C.db, "/conf/db");
	is_str(conf_db(NULL, &C), "/conf/db", "conf_db from the file");
	setenv("KEYGATE_DB", "/env/db", 1);
	is_str(conf_db(NULL, &C), "/env/db", "conf_db: $KEYGATE_DB beats the file");
	is_str(conf_db("/opt/db", &C), "/opt/db", "conf_db: --db beats everything");
	unsetenv("KEYGATE_DB");
}

/*
 * contrib/keygate.conf, installed as /etc/keygate/keygate.conf: it parses
 * as shipped (all commented), and with every "#name = value" line
 * uncommented it still parses and changes nothing, so the defaults it
 * shows are the real ones.
 */
static void
test_shipped_file(void)
{
	const char *top = getenv("top_srcdir");
	char path[4096], text[16384], shown[4096] = " ", *out = text;
	struct conf def;
	FILE *f;
	size_t n = 0, lines = 0, k;
	char line[512];

	snprintf(path, sizeof path, "%s/contrib/keygate.conf", top ? top : ".");
	if ((f = fopen(path, "r")) == NULL) {
		ok(0, "cannot read %s", path);
		return;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		const char *l = line;
		size_t len;

		if (l[0] == '#' && l[1] >= 'a' && l[1] <= 'z' && strstr(l, " =") != NULL) {
			l++;
			lines++;
			/* " name " for each setting shown */
			snprintf(shown + strlen(shown), sizeof shown - strlen(shown), "%.*s ",
			    (int)strcspn(l, " ="), l);
		}
		len = strlen(l);
		if (n + len >= sizeof text)
			break;
		memcpy(out + n, l, len);
		n += len;
	}
	fclose(f);
	conf_defaults(&C);
	err[0] = '\0';
	ok(conf_load(path, 1, &C, err, sizeof err) == 0, "%s parses as shipped (%s)", path, err);
	is_int((long long)lines, (long long)conf_setting_count(), "  it shows one line per setting");
	for (k = 0; k < conf_setting_count(); k++) {
		char want[64];

		snprintf(want, sizeof want, " %s ", conf_setting_name(k));
		ok(strstr(shown, want) != NULL, "  shows #%s =", conf_setting_name(k));
	}
	conf_defaults(&def);
	conf_defaults(&C);
	err[0] = '\0';
	ok(conf_parse(text, n, &C, err, sizeof err) == 0, "  and with every setting uncommented (%s)", err);
	is_str(conf_db(NULL, &C), conf_db(NULL, &def), "  db shown is the default");
	/*
	 * Every other field, byte for byte: conf_parse starts from a copy of
	 * C, so fields it did not set keep their bytes.  db is compared above
	 * (the default is the path conf_db gives when none is set).
	 */
	memset(C.db, 0, sizeof C.db);
	ok(memcmp(&C, &def, sizeof C) == 0, "  every other value shown is the default");
}

int
main(void)
{
	test_defaults();
	test_valid();
	test_errors();
	test_load();
	test_shipped_file();
	return done_testing();
}
