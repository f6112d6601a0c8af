/*
 * fcgi-load - a FastCGI load generator for the benchmark.
 *
 * C threads, each with its own connection, send the request a web server
 * sends (the ~28 params Apache sets, the key in HTTP_AUTHORIZATION or
 * HTTP_X_API_KEY) as fast as answers come back, either on one kept
 * connection (FCGI_KEEP_CONN) or, as Apache, lighttpd and nginx really do,
 * on a new connection per request.  Keys come from a file, one a line:
 * the mix of valid, unknown, revoked... is the file's contents; each
 * request picks a line uniformly or by a Zipf law over the line numbers.
 *
 * After a warm-up it measures for a duration or a request count and
 * reports requests/s, latency percentiles (log-linear histogram, < 0.4%
 * error), the count of every status, and optionally the CPU time the
 * server processes spent over the measured window, read from
 * /proc/PID/task/TID/schedstat (first field: ns on CPU) of the given PIDs
 * and all their descendants, divided by the requests answered.
 *
 * The protocol is tests/fcgi/fcgiclient (not libfcgi), with buffers
 * reused across requests: nothing is allocated per request.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fcgiclient.h"

#define MAX_THREADS	1024
#define MAX_PIDS	64
#define MAX_STATUS	600

/*
 * Histogram: values in ns; below 2^SUB_BITS exact, above that 2^(SUB_BITS-1)
 * linear buckets per power of two, so a bucket is at most 1/256 of its
 * value wide.  SHIFTS octaves reach 2^(SUB_BITS+SHIFTS) ns (~ 4.6 hours).
 */
#define SUB_BITS	9
#define SUB_HALF	(1u << (SUB_BITS - 1))
#define SHIFTS		35
#define NBUCKETS	((1u << SUB_BITS) + SHIFTS * SUB_HALF)

struct hist {
	uint64_t	 count[NBUCKETS];
	uint64_t	 n, sum, max;
};

static unsigned
hist_bucket(uint64_t v)
{
	unsigned msb, shift;

	if (v < (1u << SUB_BITS))
		return (unsigned)v;
	msb = 63 - (unsigned)__builtin_clzll(v);
	shift = msb - (SUB_BITS - 1);
	if (shift > SHIFTS)
		return NBUCKETS - 1;
	return (1u << SUB_BITS) + (shift - 1) * SUB_HALF +
	    (unsigned)((v >> shift) - SUB_HALF);
}

/* The middle of a bucket. */
static double
hist_value(unsigned b)
{
	unsigned shift, sub;

	if (b < (1u << SUB_BITS))
		return b;
	b -= 1u << SUB_BITS;
	shift = b / SUB_HALF + 1;
	sub = b % SUB_HALF + SUB_HALF;
	return ((double)sub + 0.5) * (double)(1ull << shift);
}

static void
hist_add(struct hist *h, uint64_t v)
{
	h->count[hist_bucket(v)]++;
	h->n++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

static void
hist_merge(struct hist *to, const struct hist *from)
{
	unsigned i;

	for (i = 0; i < NBUCKETS; i++)
		to->count[i] += from->count[i];
	to->n += from->n;
	to->sum += from->sum;
	if (from->max > to->max)
		to->max = from->max;
}

/* The value below which a fraction q of the samples lie, in ns. */
static double
hist_quantile(const struct hist *h, double q)
{
	uint64_t want, seen = 0;
	unsigned i;

	if (h->n == 0)
		return 0;
	want = (uint64_t)ceil(q * (double)h->n);
	if (want == 0)
		want = 1;
	for (i = 0; i < NBUCKETS; i++) {
		seen += h->count[i];
		if (seen >= want) {
			double v = hist_value(i);
			return v > (double)h->max ? (double)h->max : v;
		}
	}
	return (double)h->max;
}

/* ---- options and shared state ---- */

enum dist { DIST_UNIFORM, DIST_ZIPF };

static struct {
	const char	*addr;
	int		 threads;
	int		 role;
	int		 keep;
	int		 send_stdin;	/* -1: by role */
	const char	*keyfile;
	enum dist	 dist;
	double		 zipf_s;
	int		 x_api_key;
	int		 verify;	/* the key in a POST /v1/verify body */
	double		 duration;
	uint64_t	 requests;
	double		 warmup;
	int		 timeout_ms;
	uint64_t	 seed;
	int		 kv;
	int		 quiet;
	const char	*label;
	pid_t		 pids[MAX_PIDS];
	pid_t		 also[MAX_PIDS];	/* --cpu-also: reported apart */
	int		 nalso;
	int		 npids;
	char		*extra[64];
	int		 nextra;
} opt = {
	.threads = 1, .role = FCGIC_AUTHORIZER, .send_stdin = -1,
	.zipf_s = 1.0, .duration = 10, .warmup = 1, .timeout_ms = 5000,
};

/* Keys: the whole file in memory, one offset per line. */
static char *keydata;
static uint32_t *keyoff, *keylen;
static size_t nkeys;
static double *zipf_cdf;

/* The resolved address, so that a new connection costs no lookup. */
static struct sockaddr_storage peer;
static socklen_t peerlen;

/* 0 warm-up, 1 measuring, 2 stop */
static int phase;
static uint64_t tickets;	/* -n: measured requests still to start */

struct thread {
	pthread_t	 tid;
	int		 index;
	uint64_t	 rng[2];
	struct hist	 hist;
	uint64_t	 status[MAX_STATUS];
	uint64_t	 errors, connect_errors, timeouts, unparsed;
	uint64_t	 done;		/* measured requests answered */
	char		 last_error[160];
	char		 body[600];	/* --verify: {"key":"..."} */
	size_t		 body_len;
};

static struct thread *threads;

static void
die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("fcgi-load: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift128+: fast, and good enough to pick keys. */
static uint64_t
rng_next(uint64_t s[2])
{
	uint64_t a = s[0], b = s[1];

	s[0] = b;
	a ^= a << 23;
	s[1] = a ^ b ^ (a >> 17) ^ (b >> 26);
	return s[1] + b;
}

static uint64_t
splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static size_t
pick_key(struct thread *t)
{
	uint64_t r = rng_next(t->rng);

	if (opt.dist == DIST_UNIFORM)
		return (size_t)(((unsigned __int128)r * nkeys) >> 64);
	{
		double u = (double)(r >> 11) * (1.0 / 9007199254740992.0);
		size_t lo = 0, hi = nkeys - 1;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (zipf_cdf[mid] < u)
				lo = mid + 1;
			else
				hi = mid;
		}
		return lo;
	}
}

static void
load_keys(const char *path)
{
	struct stat st;
	size_t cap = 0, i, start;
	ssize_t got;
	size_t have = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0)
		die("%s: %s", path, strerror(errno));
	keydata = malloc((size_t)st.st_size + 1);
	if (keydata == NULL)
		die("out of memory");
	while (have < (size_t)st.st_size &&
	    (got = read(fd, keydata + have, (size_t)st.st_size - have)) > 0)
		have += (size_t)got;
	close(fd);
	keydata[have] = '\n';
	for (start = 0, i = 0; i <= have; i++) {
		if (keydata[i] != '\n')
			continue;
		if (i > start) {
			size_t end = i;
			if (keydata[end - 1] == '\r')
				end--;
			if (nkeys == cap) {
				cap = cap ? cap * 2 : 4096;
				keyoff = realloc(keyoff, cap * sizeof *keyoff);
				keylen = realloc(keylen, cap * sizeof *keylen);
				if (keyoff == NULL || keylen == NULL)
					die("out of memory");
			}
			keyoff[nkeys] = (uint32_t)start;
			keylen[nkeys] = (uint32_t)(end - start);
			nkeys++;
		}
		start = i + 1;
	}
	if (nkeys == 0)
		die("%s: no keys", path);
}

/* CDF of P(rank i) ~ 1/(i+1)^s over the lines of the key file. */
static void
make_zipf(void)
{
	double sum = 0, acc = 0;
	size_t i;

	if ((zipf_cdf = malloc(nkeys * sizeof *zipf_cdf)) == NULL)
		die("out of memory");
	for (i = 0; i < nkeys; i++)
		sum += pow((double)(i + 1), -opt.zipf_s);
	for (i = 0; i < nkeys; i++) {
		acc += pow((double)(i + 1), -opt.zipf_s) / sum;
		zipf_cdf[i] = acc;
	}
	zipf_cdf[nkeys - 1] = 1.0;
}

static void
resolve(const char *addr)
{
	if (strncmp(addr, "unix:", 5) == 0) {
		struct sockaddr_un *su = (struct sockaddr_un *)&peer;

		if (strlen(addr + 5) >= sizeof su->sun_path)
			die("socket path too long: %s", addr);
		su->sun_family = AF_UNIX;
		strcpy(su->sun_path, addr + 5);
		peerlen = sizeof *su;
	} else {
		struct addrinfo hints, *res;
		char host[256];
		const char *colon = strrchr(addr, ':');
		int rc;

		if (colon == NULL || (size_t)(colon - addr) >= sizeof host)
			die("address is neither unix:PATH nor HOST:PORT: %s", addr);
		memcpy(host, addr, (size_t)(colon - addr));
		host[colon - addr] = '\0';
		if (host[0] == '[') {
			memmove(host, host + 1, strlen(host));
			host[strlen(host) - 1] = '\0';
		}
		memset(&hints, 0, sizeof hints);
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICSERV;
		if ((rc = getaddrinfo(host, colon + 1, &hints, &res)) != 0)
			die("%s: %s", addr, gai_strerror(rc));
		memcpy(&peer, res->ai_addr, res->ai_addrlen);
		peerlen = res->ai_addrlen;
		freeaddrinfo(res);
	}
}

static int
open_conn(struct thread *t)
{
	int fd, one = 1;

	fd = socket(peer.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&peer, peerlen) != 0) {
		snprintf(t->last_error, sizeof t->last_error, "connect %s: %s",
		    opt.addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (peer.ss_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

/*
 * The params Apache 2.4 sends for GET /api/v1/items/4711?limit=10&page=2
 * (as mod_authnz_fcgi and mod_fcgid do; nginx and lighttpd send a similar
 * set), less the key, which each request adds last.
 */
static void
base_params(struct fcgic_params *p)
{
	static const char *const kv[][2] = {
		{"HTTP_HOST", "api.example.com"},
		{"HTTP_USER_AGENT", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"},
		{"HTTP_ACCEPT", "application/json, text/plain, */*"},
		{"HTTP_ACCEPT_LANGUAGE", "en-US,en;q=0.5"},
		{"HTTP_ACCEPT_ENCODING", "gzip, deflate, br, zstd"},
		{"HTTP_CONNECTION", "keep-alive"},
		{"HTTP_X_REQUEST_ID", "6f1c0a52-7d1e-4c4b-9a8f-2d7e3b1c5a90"},
		{"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		{"SERVER_SIGNATURE", "<address>Apache/2.4.62 (Debian) Server at api.example.com Port 80</address>\n"},
		{"SERVER_SOFTWARE", "Apache/2.4.62 (Debian)"},
		{"SERVER_NAME", "api.example.com"},
		{"SERVER_ADDR", "127.0.0.1"},
		{"SERVER_PORT", "80"},
		{"REMOTE_ADDR", "203.0.113.77"},
		{"DOCUMENT_ROOT", "/var/www/html"},
		{"REQUEST_SCHEME", "http"},
		{"CONTEXT_PREFIX", ""},
		{"CONTEXT_DOCUMENT_ROOT", "/var/www/html"},
		{"SERVER_ADMIN", "webmaster@localhost"},
		{"SCRIPT_FILENAME", "/var/www/html/api/v1/items/4711"},
		{"REMOTE_PORT", "51234"},
		{"GATEWAY_INTERFACE", "CGI/1.1"},
		{"SERVER_PROTOCOL", "HTTP/1.1"},
		{"REQUEST_METHOD", "GET"},
		{"QUERY_STRING", "limit=10&page=2"},
		{"REQUEST_URI", "/api/v1/items/4711?limit=10&page=2"},
		{"SCRIPT_NAME", "/api/v1/items/4711"},
	};
	size_t i;
	int j;

	fcgic_params_init(p);
	if (opt.role == FCGIC_AUTHORIZER &&
	    fcgic_params_add_str(p, "FCGI_ROLE", "AUTHORIZER") != 0)
		die("%s", fcgic_strerror());
	for (i = 0; i < sizeof kv / sizeof kv[0]; i++) {
		const char *name = kv[i][0];
		int overridden = 0;

		for (j = 0; j < opt.nextra; j++) {
			size_t n = strlen(name);
			if (strncmp(opt.extra[j], name, n) == 0 && opt.extra[j][n] == '=')
				overridden = 1;
		}
		if (!overridden && fcgic_params_add_str(p, name, kv[i][1]) != 0)
			die("%s", fcgic_strerror());
	}
	for (j = 0; j < opt.nextra; j++) {
		char *eq = strchr(opt.extra[j], '=');
		if (fcgic_params_add(p, opt.extra[j], (size_t)(eq - opt.extra[j]),
		    eq + 1, strlen(eq + 1)) != 0)
			die("%s", fcgic_strerror());
	}
}

/*
 * --verify: the key goes in the body of keygate-api's POST /v1/verify,
 * {"key":"..."}, with its CONTENT_LENGTH; the caller's own key and the
 * method and path come from --param.
 */
static void
set_verify_body(struct thread *t, struct fcgic_params *p, const char *key, size_t len)
{
	char cl[24];
	int n;

	if (len + 11 > sizeof t->body)
		die("a key of %zu bytes is too long for --verify", len);
	memcpy(t->body, "{\"key\":\"", 8);
	memcpy(t->body + 8, key, len);
	memcpy(t->body + 8 + len, "\"}", 2);
	t->body_len = len + 10;
	n = snprintf(cl, sizeof cl, "%zu", t->body_len);
	if (fcgic_params_add(p, "CONTENT_LENGTH", 14, cl, (size_t)n) != 0)
		die("%s", fcgic_strerror());
}

static void
set_key(struct thread *t, struct fcgic_params *p, size_t base_len, size_t base_count, size_t k)
{
	const char *key = keydata + keyoff[k];
	size_t len = keylen[k];
	char *v;

	p->enc.len = base_len;
	p->count = base_count;
	if (opt.verify) {
		set_verify_body(t, p, key, len);
		return;
	}
	if (opt.x_api_key) {
		v = fcgic_params_add_space(p, "HTTP_X_API_KEY", 14, len);
		if (v == NULL)
			die("%s", fcgic_strerror());
		memcpy(v, key, len);
	} else {
		v = fcgic_params_add_space(p, "HTTP_AUTHORIZATION", 18, len + 7);
		if (v == NULL)
			die("%s", fcgic_strerror());
		memcpy(v, "Bearer ", 7);
		memcpy(v + 7, key, len);
	}
}

static void
count_status(struct thread *t, const struct fcgic_response *r)
{
	struct fcgic_http h;

	if (r->out.len == 0 ||
	    fcgic_http_parse(r->out.data, r->out.len, &h) != 0 ||
	    h.status < 0 || h.status >= MAX_STATUS) {
		t->unparsed++;
		return;
	}
	t->status[h.status]++;
}

static void *
worker(void *arg)
{
	struct thread *t = arg;
	struct fcgic_params p;
	struct fcgic_response r;
	size_t base_len, base_count;
	int fd = -1, send_stdin;

	base_params(&p);
	base_len = p.enc.len;
	base_count = p.count;
	fcgic_response_init(&r);
	send_stdin = opt.send_stdin >= 0 ? opt.send_stdin :
	    opt.role == FCGIC_RESPONDER;

	for (;;) {
		int ph = __atomic_load_n(&phase, __ATOMIC_ACQUIRE);
		uint64_t t0, t1;
		int ok;

		if (ph == 2)
			break;
		if (ph == 1 && opt.requests > 0) {
			/* claim a measured request; none left: this thread is done */
			uint64_t left = __atomic_load_n(&tickets, __ATOMIC_RELAXED);
			do {
				if (left == 0)
					goto out;
			} while (!__atomic_compare_exchange_n(&tickets, &left, left - 1,
			    0, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
		}
		set_key(t, &p, base_len, base_count, pick_key(t));
		t0 = now_ns();
		if (fd < 0 && (fd = open_conn(t)) < 0) {
			if (ph == 1) {
				t->connect_errors++;
				t->done++;
			}
			usleep(1000);
			continue;
		}
		ok = fcgic_send(fd, 1, opt.role, opt.keep, &p, t->body, t->body_len, send_stdin) == 0 &&
		    fcgic_recv(fd, 1, &r, opt.timeout_ms) == 0;
		t1 = now_ns();
		if (!ok) {
			if (fcgic_errcode() == FCGIC_E_TIMEOUT)
				t->timeouts += ph == 1;
			snprintf(t->last_error, sizeof t->last_error, "%s", fcgic_strerror());
		}
		if (!ok || !opt.keep) {
			close(fd);
			fd = -1;
		}
		/*
		 * Measured: started in the window and, for a duration, also
		 * answered within it (-n never ends the window early).
		 */
		if (ph != 1 || (opt.requests == 0 &&
		    __atomic_load_n(&phase, __ATOMIC_ACQUIRE) != 1))
			continue;
		t->done++;
		if (!ok) {
			t->errors++;
			continue;
		}
		hist_add(&t->hist, t1 - t0);
		count_status(t, &r);
	}
out:
	if (fd >= 0)
		close(fd);
	fcgic_params_free(&p);
	fcgic_response_free(&r);
	fcgic_thread_cleanup();
	return NULL;
}

/* ---- CPU time of the server processes ---- */

static uint64_t
task_cpu_ns(pid_t pid, int *nthreads)
{
	char path[64], line[128];
	struct dirent *de;
	uint64_t sum = 0;
	DIR *d;

	snprintf(path, sizeof path, "/proc/%ld/task", (long)pid);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		FILE *f;
		char p2[96];

		if (de->d_name[0] == '.')
			continue;
		snprintf(p2, sizeof p2, "%s/%s/schedstat", path, de->d_name);
		if ((f = fopen(p2, "r")) == NULL)
			continue;
		if (fgets(line, sizeof line, f) != NULL) {
			sum += strtoull(line, NULL, 10);
			(*nthreads)++;
		}
		fclose(f);
	}
	closedir(d);
	return sum;
}

/* The PID, then its descendants (through every thread's children list). */
static void
collect(pid_t pid, pid_t *out, int *n, int cap)
{
	char path[64], p2[96];
	struct dirent *de;
	DIR *d;
	int i;

	for (i = 0; i < *n; i++)
		if (out[i] == pid)
			return;
	if (*n == cap)
		return;
	out[(*n)++] = pid;
	snprintf(path, sizeof path, "/proc/%ld/task", (long)pid);
	if ((d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		FILE *f;
		long child;

		if (de->d_name[0] == '.')
			continue;
		snprintf(p2, sizeof p2, "%s/%s/children", path, de->d_name);
		if ((f = fopen(p2, "r")) == NULL)
			continue;
		while (fscanf(f, "%ld", &child) == 1)
			collect((pid_t)child, out, n, cap);
		fclose(f);
	}
	closedir(d);
}

static uint64_t
cpu_ns_of(const pid_t *pids, int npids, int *nproc, int *nthreads)
{
	pid_t all[1024];
	uint64_t sum = 0;
	int i, n = 0;

	for (i = 0; i < npids; i++)
		collect(pids[i], all, &n, 1024);
	*nthreads = 0;
	for (i = 0; i < n; i++)
		sum += task_cpu_ns(all[i], nthreads);
	*nproc = n;
	return sum;
}

static uint64_t
server_cpu_ns(int *nproc, int *nthreads)
{
	return cpu_ns_of(opt.pids, opt.npids, nproc, nthreads);
}

static uint64_t
also_cpu_ns(void)
{
	int np, nt;

	return cpu_ns_of(opt.also, opt.nalso, &np, &nt);
}

static uint64_t
self_cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)ru.ru_utime.tv_sec * 1000000000u + (uint64_t)ru.ru_utime.tv_usec * 1000u +
	    (uint64_t)ru.ru_stime.tv_sec * 1000000000u + (uint64_t)ru.ru_stime.tv_usec * 1000u;
}

static void
sleep_s(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: fcgi-load [options] ADDRESS        (unix:PATH or HOST:PORT)\n"
	    "  -c, --connections N     concurrent connections, one thread each (1)\n"
	    "  -r, --role ROLE         authorizer or responder (authorizer)\n"
	    "  -k, --keep-conn         FCGI_KEEP_CONN on one connection per thread;\n"
	    "                          default: a new connection per request\n"
	    "  -f, --keys FILE         keys, one a line; the mix is the file's contents\n"
	    "      --dist D            uniform or zipf[:S] over the lines (uniform; S=1.0)\n"
	    "      --x-api-key         send the key as HTTP_X_API_KEY, not Bearer\n"
	    "      --verify            send the key as keygate-api's POST /v1/verify body\n"
	    "                          {\"key\":KEY} (responder role; give the caller's\n"
	    "                          key with -p HTTP_AUTHORIZATION=...)\n"
	    "  -d, --duration SEC      measured time (10)\n"
	    "  -n, --requests N        measured requests instead of a duration\n"
	    "  -w, --warmup SEC        unmeasured time first (1)\n"
	    "      --stdin | --no-stdin  send the empty FCGI_STDIN (responder: yes)\n"
	    "  -p, --param NAME=VALUE  add or replace a param\n"
	    "      --cpu-pid PID       report CPU per request of PID and its\n"
	    "                          descendants over the measured window (repeatable)\n"
	    "      --cpu-also PID      the same for PID, reported apart (also_cpu_us)\n"
	    "  -t, --timeout MS        per request (5000)\n"
	    "      --seed N            random seed (time)\n"
	    "      --label TEXT        name of the row in the output\n"
	    "      --kv                one line of key=value pairs\n"
	    "  -q, --quiet             no progress on stderr\n");
}

/* --verify: a POST of JSON to /keygate/v1/verify, unless --param says otherwise. */
static void
verify_defaults(void)
{
	static char *const defaults[] = {
		"REQUEST_METHOD=POST", "REQUEST_URI=/keygate/v1/verify",
		"CONTENT_TYPE=application/json",
	};
	size_t i;
	int j;

	opt.role = FCGIC_RESPONDER;
	for (i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
		size_t n = (size_t)(strchr(defaults[i], '=') - defaults[i]) + 1;

		for (j = 0; j < opt.nextra; j++)
			if (strncmp(opt.extra[j], defaults[i], n) == 0)
				break;
		if (j < opt.nextra)
			continue;
		if (opt.nextra == (int)(sizeof opt.extra / sizeof opt.extra[0]))
			die("--param: too many");
		opt.extra[opt.nextra++] = defaults[i];
	}
}

static double
parse_double(const char *s, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *s == '\0' || *end != '\0' || !(v >= 0))
		die("%s: not a number: %s", what, s);
	return v;
}

static uint64_t
parse_u64(const char *s, const char *what, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || *s == '-' || v < min || v > max)
		die("%s: must be a number from %llu to %llu: %s", what,
		    (unsigned long long)min, (unsigned long long)max, s);
	return v;
}

int
main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"connections", required_argument, NULL, 'c'},
		{"role", required_argument, NULL, 'r'},
		{"keep-conn", no_argument, NULL, 'k'},
		{"keys", required_argument, NULL, 'f'},
		{"dist", required_argument, NULL, 'D'},
		{"x-api-key", no_argument, NULL, 'X'},
		{"verify", no_argument, NULL, 'V'},
		{"duration", required_argument, NULL, 'd'},
		{"requests", required_argument, NULL, 'n'},
		{"warmup", required_argument, NULL, 'w'},
		{"stdin", no_argument, NULL, 'S'},
		{"no-stdin", no_argument, NULL, 's'},
		{"param", required_argument, NULL, 'p'},
		{"cpu-pid", required_argument, NULL, 'P'},
		{"cpu-also", required_argument, NULL, 'A'},
		{"timeout", required_argument, NULL, 't'},
		{"seed", required_argument, NULL, 'e'},
		{"label", required_argument, NULL, 'L'},
		{"kv", no_argument, NULL, 'K'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct hist *all;
	uint64_t status[MAX_STATUS], errors = 0, cerr = 0, tmo = 0, unparsed = 0, done = 0;
	uint64_t t_start, t_end, cpu0 = 0, cpu1 = 0, also0 = 0, also1 = 0, self0, self1, seed;
	double secs, rps;
	int c, i, nproc = 0, nthr = 0;
	sigset_t set;

	seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	while ((c = getopt_long(argc, argv, "c:r:kf:d:n:w:p:t:qh", lopts, NULL)) != -1) {
		switch (c) {
		case 'c': opt.threads = (int)parse_u64(optarg, "--connections", 1, MAX_THREADS); break;
		case 'r':
			if (strcmp(optarg, "authorizer") == 0)
				opt.role = FCGIC_AUTHORIZER;
			else if (strcmp(optarg, "responder") == 0)
				opt.role = FCGIC_RESPONDER;
			else
				die("--role: authorizer or responder");
			break;
		case 'k': opt.keep = 1; break;
		case 'f': opt.keyfile = optarg; break;
		case 'D':
			if (strcmp(optarg, "uniform") == 0)
				opt.dist = DIST_UNIFORM;
			else if (strncmp(optarg, "zipf", 4) == 0) {
				opt.dist = DIST_ZIPF;
				if (optarg[4] == ':')
					opt.zipf_s = parse_double(optarg + 5, "--dist zipf:S");
				else if (optarg[4] != '\0')
					die("--dist: uniform or zipf[:S]");
			} else
				die("--dist: uniform or zipf[:S]");
			break;
		case 'X': opt.x_api_key = 1; break;
		case 'V': opt.verify = 1; break;
		case 'd': opt.duration = parse_double(optarg, "--duration"); break;
		case 'n': opt.requests = parse_u64(optarg, "--requests", 1, UINT64_MAX / 2); break;
		case 'w': opt.warmup = parse_double(optarg, "--warmup"); break;
		case 'S': opt.send_stdin = 1; break;
		case 's': opt.send_stdin = 0; break;
		case 'p':
			if (strchr(optarg, '=') == NULL || optarg[0] == '=')
				die("--param: NAME=VALUE");
			if (opt.nextra == (int)(sizeof opt.extra / sizeof opt.extra[0]))
				die("--param: too many");
			opt.extra[opt.nextra++] = optarg;
			break;
		case 'P':
			if (opt.npids == MAX_PIDS)
				die("--cpu-pid: too many");
			opt.pids[opt.npids++] = (pid_t)parse_u64(optarg, "--cpu-pid", 1, INT_MAX);
			break;
		case 'A':
			if (opt.nalso == MAX_PIDS)
				die("--cpu-also: too many");
			opt.also[opt.nalso++] = (pid_t)parse_u64(optarg, "--cpu-also", 1, INT_MAX);
			break;
		case 't': opt.timeout_ms = (int)parse_u64(optarg, "--timeout", 1, INT_MAX); break;
		case 'e': seed = parse_u64(optarg, "--seed", 0, UINT64_MAX); break;
		case 'L': opt.label = optarg; break;
		case 'K': opt.kv = 1; break;
		case 'q': opt.quiet = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	opt.addr = argv[optind];
	if (opt.keyfile == NULL)
		die("--keys FILE is required");
	if (opt.verify)
		verify_defaults();
	resolve(opt.addr);
	load_keys(opt.keyfile);
	if (opt.dist == DIST_ZIPF)
		make_zipf();

	/* A peer that closes mid-write must be an error, not a signal. */
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if ((threads = calloc((size_t)opt.threads, sizeof *threads)) == NULL)
		die("out of memory");
	tickets = opt.requests;
	for (i = 0; i < opt.threads; i++) {
		threads[i].index = i;
		threads[i].rng[0] = splitmix(&seed);
		threads[i].rng[1] = splitmix(&seed) | 1;
		if (pthread_create(&threads[i].tid, NULL, worker, &threads[i]) != 0)
			die("pthread_create failed");
	}
	sleep_s(opt.warmup);
	if (opt.npids > 0)
		cpu0 = server_cpu_ns(&nproc, &nthr);
	also0 = also_cpu_ns();
	self0 = self_cpu_ns();
	t_start = now_ns();
	__atomic_store_n(&phase, 1, __ATOMIC_RELEASE);
	if (opt.requests == 0) {
		sleep_s(opt.duration);
		__atomic_store_n(&phase, 2, __ATOMIC_RELEASE);
		t_end = now_ns();
		if (opt.npids > 0)
			cpu1 = server_cpu_ns(&nproc, &nthr);
		also1 = also_cpu_ns();
		self1 = self_cpu_ns();
		for (i = 0; i < opt.threads; i++)
			pthread_join(threads[i].tid, NULL);
	} else {
		for (i = 0; i < opt.threads; i++)
			pthread_join(threads[i].tid, NULL);
		t_end = now_ns();
		if (opt.npids > 0)
			cpu1 = server_cpu_ns(&nproc, &nthr);
		also1 = also_cpu_ns();
		self1 = self_cpu_ns();
	}

	if ((all = calloc(1, sizeof *all)) == NULL)
		die("out of memory");
	memset(status, 0, sizeof status);
	for (i = 0; i < opt.threads; i++) {
		struct thread *t = &threads[i];
		int s;

		hist_merge(all, &t->hist);
		for (s = 0; s < MAX_STATUS; s++)
			status[s] += t->status[s];
		errors += t->errors;
		cerr += t->connect_errors;
		tmo += t->timeouts;
		unparsed += t->unparsed;
		done += t->done;
		if (t->last_error[0] != '\0' && !opt.quiet)
			fprintf(stderr, "fcgi-load: thread %d: last error: %s\n", i, t->last_error);
	}
	secs = (double)(t_end - t_start) / 1e9;
	rps = secs > 0 ? (double)all->n / secs : 0;

	if (opt.kv) {
		printf("label=%s rps=%.1f n=%llu secs=%.3f mean_us=%.2f p50_us=%.2f p90_us=%.2f "
		    "p99_us=%.2f p999_us=%.2f max_us=%.2f errors=%llu connect_errors=%llu "
		    "timeouts=%llu unparsed=%llu",
		    opt.label ? opt.label : "-", rps, (unsigned long long)all->n, secs,
		    all->n ? (double)all->sum / (double)all->n / 1e3 : 0,
		    hist_quantile(all, 0.50) / 1e3, hist_quantile(all, 0.90) / 1e3,
		    hist_quantile(all, 0.99) / 1e3, hist_quantile(all, 0.999) / 1e3,
		    (double)all->max / 1e3, (unsigned long long)errors,
		    (unsigned long long)cerr, (unsigned long long)tmo,
		    (unsigned long long)unparsed);
		if (opt.npids > 0)
			printf(" cpu_us=%.3f procs=%d threads=%d", all->n ?
			    (double)(cpu1 - cpu0) / (double)all->n / 1e3 : 0, nproc, nthr);
		if (opt.nalso > 0)
			printf(" also_cpu_us=%.3f", all->n ? (double)(also1 - also0) / (double)all->n / 1e3 : 0);
		printf(" loader_cpu_us=%.3f", all->n ? (double)(self1 - self0) / (double)all->n / 1e3 : 0);
		for (i = 0; i < MAX_STATUS; i++)
			if (status[i] > 0)
				printf(" s%d=%llu", i, (unsigned long long)status[i]);
		printf("\n");
	} else {
		printf("%s%s%s %s, %s, %d connection%s, %zu keys (%s), %.2f s\n",
		    opt.label ? opt.label : "", opt.label ? ": " : "", opt.addr,
		    opt.role == FCGIC_AUTHORIZER ? "authorizer" : "responder",
		    opt.keep ? "kept connections" : "new connection per request",
		    opt.threads, opt.threads == 1 ? "" : "s", nkeys,
		    opt.dist == DIST_UNIFORM ? "uniform" : "zipf", secs);
		printf("  requests  %llu answered, %.1f/s; errors %llu (connect %llu, timeout %llu), unparsed %llu\n",
		    (unsigned long long)all->n, rps, (unsigned long long)errors,
		    (unsigned long long)cerr, (unsigned long long)tmo,
		    (unsigned long long)unparsed);
		printf("  latency   mean %.1f us, p50 %.1f, p90 %.1f, p99 %.1f, p99.9 %.1f, max %.1f\n",
		    all->n ? (double)all->sum / (double)all->n / 1e3 : 0,
		    hist_quantile(all, 0.50) / 1e3, hist_quantile(all, 0.90) / 1e3,
		    hist_quantile(all, 0.99) / 1e3, hist_quantile(all, 0.999) / 1e3,
		    (double)all->max / 1e3);
		printf("  status   ");
		for (i = 0; i < MAX_STATUS; i++)
			if (status[i] > 0)
				printf(" %d: %llu", i, (unsigned long long)status[i]);
		printf("\n");
		if (opt.npids > 0)
			printf("  server CPU %.2f us/request (%d processes, %d threads)\n",
			    all->n ? (double)(cpu1 - cpu0) / (double)all->n / 1e3 : 0, nproc, nthr);
		printf("  loader CPU %.2f us/request\n",
		    all->n ? (double)(self1 - self0) / (double)all->n / 1e3 : 0);
	}
	(void)done;
	return errors > 0 && all->n == 0 ? 1 : 0;
}
