/*
 * fcgi-client.c - send FastCGI requests from shell tests, the way web
 * servers do (authorizer without STDIN, keep-conn, odd params), and
 * print the answer or one part of it.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fcgiclient.h"
#include "parse.h"

enum {
	EXIT_USAGE = 1,
	EXIT_PROTOCOL = 2,	/* no END_REQUEST: error, close or timeout */
	EXIT_CONNECT = 3
};

enum print_mode {
	PRINT_RAW, PRINT_STATUS, PRINT_HEADER, PRINT_BODY, PRINT_END
};

struct options {
	int		 role;
	int		 keep_conn;
	long long	 repeat;
	uint16_t	 request_id;
	int		 send_stdin;
	char		*stdin_data;
	size_t		 stdin_len;
	int		 timeout_ms;
	enum print_mode	 mode;
	const char	*header;
	int		 verbose;
	const char	*address;
	struct fcgic_buf raw;		/* --raw: these bytes instead of a request */
	int		 raw_set;
	int		 drip_ms;	/* --drip: one byte every drip_ms */
};

static void
usage(FILE *f)
{
	fputs("usage: fcgi-client [options] ADDRESS [NAME=VALUE ...]\n"
	    "  ADDRESS is unix:PATH, HOST:PORT or [IPV6]:PORT\n"
	    "  --role authorizer|responder|filter|N  (default authorizer)\n"
	    "  --keep-conn           set FCGI_KEEP_CONN\n"
	    "  --repeat N            send N times, on one connection with"
	    " --keep-conn\n"
	    "  --request-id N        FastCGI request id (default 1)\n"
	    "  --stdin STRING        send STRING as FCGI_STDIN (escapes"
	    " apply)\n"
	    "  --no-stdin            send no STDIN records at all\n"
	    "                        (default: none for authorizer, an empty"
	    " one for responder)\n"
	    "  --timeout MS          per response, 0 waits for ever"
	    " (default 5000)\n"
	    "  --param-file FILE     more NAME=VALUE lines; blank and #"
	    " lines skipped\n"
	    "  --big NAME=SIZE       NAME is SIZE bytes of 'A' (suffix K, M,"
	    " G)\n"
	    "  --raw FILE            send FILE's bytes as they are instead of a"
	    " request\n"
	    "                        (a hostile client), then read the answer\n"
	    "  --drip MS             send one byte every MS milliseconds (a"
	    " client that trickles)\n"
	    "  --status              print only the HTTP status\n"
	    "  --header NAME         print only that header's value\n"
	    "  --body                print only the body\n"
	    "  --end                 print only appStatus and protocolStatus\n"
	    "  -v, --verbose         describe each END_REQUEST on stderr\n"
	    "NAME=VALUE may hold \\r \\n \\t \\\\ \\0 \\xHH.\n"
	    "Exit: 0 all answered, 1 usage, 2 protocol error or timeout,"
	    " 3 cannot connect.\n", f);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
die_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("fcgi-client: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	exit(EXIT_USAGE);
}

static void __attribute__((noreturn, format(printf, 2, 3)))
die(int status, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("fcgi-client: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

/* Whole decimal numbers in [min, max] with an optional binary suffix. */
static long long
parse_number(const char *s, long long min, long long max, int suffixes,
    const char *what)
{
	long long v, mult = 1;
	char *end;

	errno = 0;
	if (*s < '0' || *s > '9')
		die_usage("%s: not a number: %s", what, s);
	v = strtoll(s, &end, 10);
	if (suffixes && *end != '\0' && end[1] == '\0') {
		if (*end == 'K' || *end == 'k')
			mult = 1024;
		else if (*end == 'M' || *end == 'm')
			mult = 1024 * 1024;
		else if (*end == 'G' || *end == 'g')
			mult = 1024 * 1024 * 1024;
		if (mult != 1)
			end++;
	}
	if (errno != 0 || *end != '\0')
		die_usage("%s: not a number: %s", what, s);
	if (v > max / mult || v * mult < min)
		die_usage("%s: %s is out of range [%lld, %lld]", what, s, min,
		    max);
	return v * mult;
}

/*
 * Decode \r \n \t \\ \0 \xHH so a test can send bytes a shell argument
 * cannot hold.  The result is never longer than the input.
 */
static char *
unescape(const char *s, size_t len, size_t *outlen, const char *where)
{
	char *out, *d;
	size_t i;
	int hi, lo;

	if ((out = malloc(len + 1)) == NULL)
		die(EXIT_PROTOCOL, "out of memory");
	for (i = 0, d = out; i < len; i++) {
		if (s[i] != '\\') {
			*d++ = s[i];
			continue;
		}
		if (++i == len)
			die_usage("%s: trailing backslash", where);
		switch (s[i]) {
		case 'r':
			*d++ = '\r';
			break;
		case 'n':
			*d++ = '\n';
			break;
		case 't':
			*d++ = '\t';
			break;
		case '\\':
			*d++ = '\\';
			break;
		case '0':
			*d++ = '\0';
			break;
		case 'x':
			if (i + 2 >= len ||
			    (hi = parse_hexdigit(s[i + 1])) == -1 ||
			    (lo = parse_hexdigit(s[i + 2])) == -1)
				die_usage("%s: \\x needs two hex digits",
				    where);
			*d++ = (char)(hi << 4 | lo);
			i += 2;
			break;
		default:
			die_usage("%s: unknown escape \\%c", where, s[i]);
		}
	}
	*d = '\0';
	*outlen = d - out;
	return out;
}

static void
add_pair(struct fcgic_params *p, const char *s, size_t len, const char *where)
{
	const char *eq = memchr(s, '=', len);
	char *name, *value;
	size_t nlen, vlen;

	if (eq == NULL || eq == s)
		die_usage("%s: expected NAME=VALUE", where);
	name = unescape(s, eq - s, &nlen, where);
	value = unescape(eq + 1, len - (eq + 1 - s), &vlen, where);
	if (fcgic_params_add(p, name, nlen, value, vlen) == -1)
		die_usage("%s: %s", where, fcgic_strerror());
	free(name);
	free(value);
}

static void
add_param_file(struct fcgic_params *p, const char *path)
{
	char where[PATH_MAX + 32], *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t len;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		die_usage("%s: %s", path, strerror(errno));
	while ((len = getline(&line, &cap, f)) != -1) {
		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			len--;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (len == 0 || line[0] == '#')
			continue;
		snprintf(where, sizeof where, "%s:%zu", path, lineno);
		add_pair(p, line, len, where);
	}
	if (ferror(f))
		die_usage("%s: %s", path, strerror(errno));
	free(line);
	fclose(f);
}

static void
add_big(struct fcgic_params *p, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char *name;
	size_t nlen;
	long long size;
	void *v;

	if (eq == NULL || eq == arg)
		die_usage("--big: expected NAME=SIZE");
	size = parse_number(eq + 1, 0, FCGIC_MAX_LENGTH, 1, "--big");
	name = unescape(arg, eq - arg, &nlen, "--big");
	if ((v = fcgic_params_add_space(p, name, nlen, (size_t)size)) == NULL)
		die(EXIT_PROTOCOL, "--big: %s", fcgic_strerror());
	memset(v, 'A', (size_t)size);
	free(name);
}

/* The whole file, sent later as it is. */
static void
read_raw(struct options *o, const char *path)
{
	unsigned char chunk[8192];
	size_t n;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL)
		die_usage("--raw %s: %s", path, strerror(errno));
	o->raw.len = 0;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (fcgic_buf_append(&o->raw, chunk, n) == -1)
			die(EXIT_PROTOCOL, "--raw: %s", fcgic_strerror());
	if (ferror(f))
		die_usage("--raw %s: %s", path, strerror(errno));
	fclose(f);
	o->raw_set = 1;
}

static int
parse_role(const char *s)
{
	if (strcmp(s, "authorizer") == 0)
		return FCGIC_AUTHORIZER;
	if (strcmp(s, "responder") == 0)
		return FCGIC_RESPONDER;
	if (strcmp(s, "filter") == 0)
		return FCGIC_FILTER;
	return (int)parse_number(s, 0, 0xffff, 0, "--role");
}

static void
set_mode(struct options *o, enum print_mode mode)
{
	if (o->mode != PRINT_RAW && o->mode != mode)
		die_usage("--status, --header, --body and --end exclude each"
		    " other");
	o->mode = mode;
}

static void
parse_options(int argc, char **argv, struct options *o, struct fcgic_params *p)
{
	enum { O_ROLE = 256, O_KEEP, O_REPEAT, O_ID, O_STDIN, O_NOSTDIN,
	    O_TIMEOUT, O_PFILE, O_BIG, O_STATUS, O_HEADER, O_BODY, O_END,
	    O_RAW, O_DRIP, O_HELP };
	static const struct option longopts[] = {
		{ "role", required_argument, NULL, O_ROLE },
		{ "keep-conn", no_argument, NULL, O_KEEP },
		{ "repeat", required_argument, NULL, O_REPEAT },
		{ "request-id", required_argument, NULL, O_ID },
		{ "stdin", required_argument, NULL, O_STDIN },
		{ "no-stdin", no_argument, NULL, O_NOSTDIN },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "param-file", required_argument, NULL, O_PFILE },
		{ "big", required_argument, NULL, O_BIG },
		{ "raw", required_argument, NULL, O_RAW },
		{ "drip", required_argument, NULL, O_DRIP },
		{ "status", no_argument, NULL, O_STATUS },
		{ "header", required_argument, NULL, O_HEADER },
		{ "body", no_argument, NULL, O_BODY },
		{ "end", no_argument, NULL, O_END },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 }
	};
	int c, nostdin = 0;

	while ((c = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		switch (c) {
		case O_ROLE:
			o->role = parse_role(optarg);
			break;
		case O_KEEP:
			o->keep_conn = 1;
			break;
		case O_REPEAT:
			o->repeat = parse_number(optarg, 1, LLONG_MAX, 0,
			    "--repeat");
			break;
		case O_ID:
			o->request_id = (uint16_t)parse_number(optarg, 0,
			    0xffff, 0, "--request-id");
			break;
		case O_STDIN:
			free(o->stdin_data);
			o->stdin_data = unescape(optarg, strlen(optarg),
			    &o->stdin_len, "--stdin");
			break;
		case O_NOSTDIN:
			nostdin = 1;
			break;
		case O_TIMEOUT:
			o->timeout_ms = (int)parse_number(optarg, 0, INT_MAX,
			    0, "--timeout");
			break;
		case O_PFILE:
			add_param_file(p, optarg);
			break;
		case O_BIG:
			add_big(p, optarg);
			break;
		case O_RAW:
			read_raw(o, optarg);
			break;
		case O_DRIP:
			o->drip_ms = (int)parse_number(optarg, 1, 60000, 0,
			    "--drip");
			break;
		case O_STATUS:
			set_mode(o, PRINT_STATUS);
			break;
		case O_HEADER:
			set_mode(o, PRINT_HEADER);
			o->header = optarg;
			break;
		case O_BODY:
			set_mode(o, PRINT_BODY);
			break;
		case O_END:
			set_mode(o, PRINT_END);
			break;
		case 'v':
			o->verbose = 1;
			break;
		case O_HELP:
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(EXIT_USAGE);
		}
	}
	if (nostdin && o->stdin_data != NULL)
		die_usage("--stdin and --no-stdin exclude each other");
	if (nostdin)
		o->send_stdin = 0;
	else if (o->stdin_data != NULL)
		o->send_stdin = 1;
	else
		o->send_stdin = o->role == FCGIC_RESPONDER;
	if (optind >= argc)
		die_usage("no ADDRESS");
	o->address = argv[optind++];
	for (; optind < argc; optind++)
		add_pair(p, argv[optind], strlen(argv[optind]), argv[optind]);
}

/* Print one response the way the options ask; -1 if it cannot be read. */
static int
print_response(const struct options *o, const struct fcgic_response *r)
{
	struct fcgic_http h;
	const char *v;
	size_t vlen;

	if (o->mode == PRINT_RAW) {
		if (r->out.len > 0)
			fwrite(r->out.data, 1, r->out.len, stdout);
		fflush(stdout);
		if (r->err.len > 0)
			fwrite(r->err.data, 1, r->err.len, stderr);
		return 0;
	}
	if (o->mode == PRINT_END) {
		printf("%u %u\n", r->app_status, r->protocol_status);
		return 0;
	}
	if (fcgic_http_parse(r->out.data, r->out.len, &h) == -1)
		return -1;
	if (o->mode == PRINT_STATUS)
		printf("%d\n", h.status);
	else if (o->mode == PRINT_BODY)
		fwrite(h.body, 1, h.body_len, stdout);
	else {
		/* fwrite, not printf: a header may hold a NUL. */
		if ((v = fcgic_http_header(&h, o->header, &vlen)) != NULL)
			fwrite(v, 1, vlen, stdout);
		putchar('\n');
	}
	return 0;
}

/* n bytes, one every drip_ms milliseconds. */
static int
drip(int fd, const unsigned char *d, size_t n, int ms)
{
	struct timespec pause = {ms / 1000, (long)(ms % 1000) * 1000000};
	size_t i;

	for (i = 0; i < n; i++) {
		if (i > 0)
			nanosleep(&pause, NULL);
		if (fcgic_write_all(fd, d + i, 1) == -1)
			return -1;
	}
	return 0;
}

/* The request the options describe, or the --raw bytes, whole or dripped. */
static int
send_request(const struct options *o, int fd, const struct fcgic_params *p)
{
	struct fcgic_buf b = {0};
	int rc;

	if (o->raw_set)
		return o->drip_ms ? drip(fd, o->raw.data, o->raw.len, o->drip_ms) :
		    fcgic_write_all(fd, o->raw.data, o->raw.len);
	if (!o->drip_ms)
		return fcgic_send(fd, o->request_id, o->role, o->keep_conn, p,
		    o->stdin_data, o->stdin_len, o->send_stdin);
	rc = fcgic_build(&b, o->request_id, o->role, o->keep_conn, p,
	    o->stdin_data, o->stdin_len, o->send_stdin);
	if (rc == 0)
		rc = drip(fd, b.data, b.len, o->drip_ms);
	fcgic_buf_free(&b);
	return rc;
}

/* Send one request and wait for its END_REQUEST; exits on failure. */
static void
exchange(const struct options *o, int fd, const struct fcgic_params *p,
    struct fcgic_response *r, long long n)
{
	char senderr[256] = "";

	/*
	 * A server may answer and hang up before reading all we send (an
	 * authorizer needs no STDIN), so a failed send still reads.
	 */
	if (send_request(o, fd, p) == -1) {
		if (fcgic_errcode() != FCGIC_E_CLOSED)
			die(EXIT_PROTOCOL, "request %lld: %s", n,
			    fcgic_strerror());
		snprintf(senderr, sizeof senderr, "%s", fcgic_strerror());
	}
	if (fcgic_recv(fd, o->request_id, r,
	    o->timeout_ms == 0 ? -1 : o->timeout_ms) == -1)
		die(EXIT_PROTOCOL, "request %lld: %s%s%s", n, fcgic_strerror(),
		    *senderr ? "; " : "", senderr);
	if (o->verbose)
		fprintf(stderr, "fcgi-client: request %lld: appStatus %u"
		    " protocolStatus %u stdout %zu stderr %zu%s\n", n,
		    r->app_status, r->protocol_status, r->out.len, r->err.len,
		    *senderr ? " (send cut short)" : "");
	if (print_response(o, r) == -1)
		die(EXIT_PROTOCOL, "request %lld: %s", n, fcgic_strerror());
}

int
main(int argc, char **argv)
{
	struct options o;
	struct fcgic_params p;
	struct fcgic_response r;
	long long i;
	int fd = -1;

	memset(&o, 0, sizeof o);
	o.role = FCGIC_AUTHORIZER;
	o.repeat = 1;
	o.request_id = 1;
	o.timeout_ms = 5000;
	fcgic_params_init(&p);
	fcgic_response_init(&r);
	parse_options(argc, argv, &o, &p);

	for (i = 1; i <= o.repeat; i++) {
		if (fd == -1) {
			if ((fd = fcgic_connect(o.address)) == -1)
				die(fcgic_errcode() == FCGIC_E_USAGE ?
				    EXIT_USAGE : EXIT_CONNECT, "%s",
				    fcgic_strerror());
			if (o.timeout_ms > 0 &&
			    fcgic_set_send_timeout(fd, o.timeout_ms) == -1)
				die(EXIT_CONNECT, "%s", fcgic_strerror());
		}
		exchange(&o, fd, &p, &r, i);
		if (!o.keep_conn) {
			close(fd);
			fd = -1;
		}
	}
	if (fd != -1)
		close(fd);
	fcgic_response_free(&r);
	fcgic_params_free(&p);
	fcgic_thread_cleanup();
	fcgic_buf_free(&o.raw);
	free(o.stdin_data);
	if (fflush(stdout) == EOF || ferror(stdout))
		die(EXIT_PROTOCOL, "stdout: %s", strerror(errno));
	return 0;
}
