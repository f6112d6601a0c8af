/*
 * repl-probe.c - what every site of a replication group decides, and
 * when, for tests/repl.
 *
 *   repl-probe flip --expect STATUS [--timeout MS] [--stdin TEXT]
 *       --site ADDR... [NAME=VALUE...] -- COMMAND ARGS...
 *     One thread per site asks, over a kept connection, the request of
 *     the NAME=VALUE params again and again; COMMAND runs (a change on
 *     the master); each site's first answer with STATUS is timed.  Prints
 *     "ADDR MS_FROM_START MS_FROM_ACK" per site (the command's start, its
 *     exit), or "ADDR timeout".  Exit 0 when every site flipped.
 *
 *   repl-probe load --seconds S [--pause-us US] --site ADDR...
 *       --case STATUS NAME=VALUE... [--case ...]
 *     One loader per site cycles through the cases for S seconds (resting
 *     US microseconds after each request: a steady load, not a flood) and
 *     counts, per site, the answers as expected, 503, other, and failed
 *     connections, and the longest a request took (answered or not):
 *     "ADDR ok N unavailable N wrong N failed N max_ms MS".  Exit 0 when
 *     no answer was wrong.  SIGTERM ends it early, with the same report.
 *
 *   repl-probe count --until STATUS [--seconds S] [--pause-us US]
 *       --site ADDR... NAME=VALUE...
 *     One loader per site asks the same request, resting US microseconds
 *     after each, until every site has answered STATUS once (or S
 *     seconds, default 60, have passed: exit 1), and counts each site's
 *     answers: "ADDR allowed N until N other N failed N ran_ms MS
 *     first_until_ms MS late N", where allowed are the 200s, until the
 *     answers with STATUS, and late the 200s that came after the site's
 *     first STATUS (a quota, once refused, stays refused).
 *
 *   repl-probe watch [--seconds S] [--pause-us US] --site ADDR
 *       --case STATUS NAME=VALUE... [--case ...]
 *     One site, from before it answers at all: cycles through the cases
 *     (resting US microseconds after each request) until S seconds have
 *     passed (default 60) or SIGTERM, printing "MS CASE STATUS" whenever a
 *     case's answer changes (CASE counts from 1, STATUS -1: no answer),
 *     then "ok N unavailable N wrong N failed N first_unavailable_ms MS
 *     last_unavailable_ms MS settled_ms MS", where settled is when the
 *     last answer other than the expected one came (-1: never, for the
 *     unavailable times: none).  Exit 0 when no answer was wrong, that is
 *     neither the expected status nor 503.
 *
 * ADDR is unix:PATH or HOST:PORT.  Times are CLOCK_MONOTONIC.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fcgiclient.h"

#define MAXSITES 8
/* longer than any wait a request may have (tests/repl/failover.sh STALL_LIMIT_MS) */
#define REQUEST_TIMEOUT_MS 6000
#define MAXCASES 8
#define MAXPARAMS 16

struct kase {
	int status;
	struct fcgic_params params;
};

struct site {
	const char *addr;
	pthread_t t;
	int fd;
	/* flip */
	uint64_t flipped;   /* mono ns of the first expected answer after start */
	/* load */
	unsigned long ok, unavailable, wrong, failed, last_wrong_status;
	uint64_t max_ns;
	/* count */
	unsigned long allowed, until, other, late;
	uint64_t first_until, ran;  /* ns from the start */
};

static struct site sites[MAXSITES];
static int nsites;
static struct kase cases[MAXCASES];
static int ncases;
static int expect_status;
static unsigned long pause_us;
static volatile int stop;
static uint64_t t_start;

static uint64_t
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
die(const char *fmt, const char *a)
{
	fprintf(stderr, "repl-probe: ");
	fprintf(stderr, fmt, a);
	fputc('\n', stderr);
	exit(2);
}

/* One request on the site's kept connection: its status, or -1. */
static int
ask(struct site *s, const struct fcgic_params *p)
{
	struct fcgic_response r;
	struct fcgic_http h;
	int status = -1;

	if (s->fd < 0 && (s->fd = fcgic_connect(s->addr)) < 0)
		return -1;
	fcgic_response_init(&r);
	if (fcgic_send(s->fd, 1, FCGIC_AUTHORIZER, 1, p, NULL, 0, 0) == 0 &&
	    fcgic_recv(s->fd, 1, &r, REQUEST_TIMEOUT_MS) == 0 &&
	    fcgic_http_parse(r.out.data, r.out.len, &h) == 0)
		status = h.status;
	fcgic_response_free(&r);
	if (status < 0) {
		close(s->fd);
		s->fd = -1;
	}
	return status;
}

static void *
flip_thread(void *arg)
{
	struct site *s = arg;
	struct timespec pause = {0, 200000};

	while (!stop) {
		int st = ask(s, &cases[0].params);
		uint64_t now = mono();

		if (t_start != 0 && now > t_start && st == expect_status && s->flipped == 0)
			s->flipped = now;
		if (s->flipped != 0)
			break;
		/* asking without a rest would only time this machine's scheduler */
		nanosleep(&pause, NULL);
	}
	fcgic_thread_cleanup();
	return NULL;
}

static void *
load_thread(void *arg)
{
	struct site *s = arg;
	unsigned i = 0;
	struct timespec pause = {0, 1000000};

	while (!stop) {
		const struct kase *k = &cases[i++ % (unsigned)ncases];
		uint64_t t0 = mono();
		int st = ask(s, &k->params);

		if (mono() - t0 > s->max_ns)
			s->max_ns = mono() - t0;
		if (pause_us > 0)
			usleep((useconds_t)pause_us);
		if (st < 0) {
			struct timespec wall;

			clock_gettime(CLOCK_REALTIME, &wall);
			fprintf(stderr, "repl-probe: %s: a request failed after %.1f ms (at %lld.%03ld)\n",
			    s->addr, (double)(mono() - t0) / 1e6, (long long)wall.tv_sec,
			    wall.tv_nsec / 1000000);
			s->failed++;
			nanosleep(&pause, NULL);
		} else if (st == k->status) {
			s->ok++;
		} else if (st == 503) {
			s->unavailable++;
		} else {
			struct timespec wall;

			/* the first few, with their time, for the test's report */
			clock_gettime(CLOCK_REALTIME, &wall);
			if (s->wrong < 5)
				fprintf(stderr, "repl-probe: %s: case %zu answered %d, expected %d "
				    "(at %lld.%03ld)\n", s->addr, (size_t)(k - cases), st, k->status,
				    (long long)wall.tv_sec, wall.tv_nsec / 1000000);
			s->wrong++;
			s->last_wrong_status = (unsigned long)st;
		}
	}
	fcgic_thread_cleanup();
	return NULL;
}

static int
every_site_until(void)
{
	int i;

	for (i = 0; i < nsites; i++)
		if (__atomic_load_n(&sites[i].first_until, __ATOMIC_ACQUIRE) == 0)
			return 0;
	return 1;
}

static void *
count_thread(void *arg)
{
	struct site *s = arg;
	struct timespec pause = {0, 1000000};

	while (!stop && !every_site_until()) {
		int st = ask(s, &cases[0].params);

		if (st < 0) {
			s->failed++;
			nanosleep(&pause, NULL);
		} else if (st == 200) {
			s->allowed++;
			s->late += s->first_until != 0;
		} else if (st == expect_status) {
			s->until++;
			if (s->first_until == 0)
				__atomic_store_n(&s->first_until, mono() - t_start, __ATOMIC_RELEASE);
		} else {
			s->other++;
		}
		if (pause_us > 0)
			usleep((useconds_t)pause_us);
	}
	s->ran = mono() - t_start;
	fcgic_thread_cleanup();
	return NULL;
}

static void
add_param(struct kase *k, const char *nv)
{
	const char *eq = strchr(nv, '=');

	if (eq == NULL)
		die("expected NAME=VALUE: %s", nv);
	if (fcgic_params_add(&k->params, nv, (size_t)(eq - nv), eq + 1, strlen(eq + 1)) != 0)
		die("%s", fcgic_strerror());
}

/* --seconds, --pause-us, up to max_sites --site, then --case STATUS NAME=VALUE... */
static void
parse_cases(int argc, char **argv, double *seconds, int max_sites)
{
	int i;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			*seconds = atof(argv[++i]);
		else if (strcmp(argv[i], "--pause-us") == 0 && i + 1 < argc)
			pause_us = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--site") == 0 && i + 1 < argc && nsites < max_sites)
			sites[nsites++].addr = argv[++i];
		else if (strcmp(argv[i], "--case") == 0 && i + 1 < argc && ncases < MAXCASES) {
			fcgic_params_init(&cases[ncases].params);
			cases[ncases++].status = atoi(argv[++i]);
		} else if (ncases > 0)
			add_param(&cases[ncases - 1], argv[i]);
		else
			die("a param before --case: %s", argv[i]);
	}
}

static int
run_command(char **argv, const char *input, uint64_t *acked)
{
	int in[2], status;
	pid_t pid;

	if (pipe(in) != 0 || (pid = fork()) < 0)
		die("cannot run %s", argv[0]);
	if (pid == 0) {
		dup2(in[0], 0);
		close(in[0]);
		close(in[1]);
		if (freopen("/dev/null", "w", stdout) == NULL)
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	if (input != NULL && write(in[1], input, strlen(input)) < 0)
		perror("repl-probe: stdin");
	close(in[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	*acked = mono();
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int
flip(int argc, char **argv)
{
	const char *input = NULL;
	uint64_t timeout_ms = 5000, acked, deadline;
	char **cmd = NULL;
	int i, rc, all = 1;

	ncases = 1;
	fcgic_params_init(&cases[0].params);
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc)
			expect_status = atoi(argv[++i]);
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
			timeout_ms = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--stdin") == 0 && i + 1 < argc)
			input = argv[++i];
		else if (strcmp(argv[i], "--site") == 0 && i + 1 < argc && nsites < MAXSITES)
			sites[nsites++].addr = argv[++i];
		else if (strcmp(argv[i], "--") == 0) {
			cmd = argv + i + 1;
			break;
		} else
			add_param(&cases[0], argv[i]);
	}
	if (cmd == NULL || cmd[0] == NULL || nsites == 0 || expect_status == 0)
		die("usage: flip --expect STATUS --site ADDR... NAME=VALUE... -- COMMAND%s", "");
	for (i = 0; i < nsites; i++) {
		sites[i].fd = -1;
		pthread_create(&sites[i].t, NULL, flip_thread, &sites[i]);
	}
	usleep(50000); /* the loaders are asking by now */
	t_start = mono();
	rc = run_command(cmd, input, &acked);
	if (rc != 0) {
		fprintf(stderr, "repl-probe: the command exited with %d\n", rc);
		stop = 1;
	}
	deadline = t_start + timeout_ms * 1000000ull;
	while (!stop && mono() < deadline) {
		int done = 1;

		for (i = 0; i < nsites; i++)
			done &= sites[i].flipped != 0;
		if (done)
			break;
		usleep(1000);
	}
	stop = 1;
	for (i = 0; i < nsites; i++) {
		pthread_join(sites[i].t, NULL);
		if (sites[i].flipped == 0) {
			printf("%s timeout\n", sites[i].addr);
			all = 0;
		} else {
			printf("%s %.3f %.3f\n", sites[i].addr, (double)(sites[i].flipped - t_start) / 1e6,
			    ((double)sites[i].flipped - (double)acked) / 1e6);
		}
	}
	return all && rc == 0 ? 0 : 1;
}

static int
load(int argc, char **argv)
{
	double seconds = 1;
	int i, bad = 0;

	parse_cases(argc, argv, &seconds, MAXSITES);
	if (nsites == 0 || ncases == 0)
		die("usage: load --seconds S --site ADDR... --case STATUS NAME=VALUE...%s", "");
	for (i = 0; i < nsites; i++) {
		sites[i].fd = -1;
		pthread_create(&sites[i].t, NULL, load_thread, &sites[i]);
	}
	{
		uint64_t end = mono() + (uint64_t)(seconds * 1e9);

		while (!stop && mono() < end)
			usleep(10000);
	}
	stop = 1;
	for (i = 0; i < nsites; i++) {
		pthread_join(sites[i].t, NULL);
		printf("%s ok %lu unavailable %lu wrong %lu failed %lu max_ms %.1f", sites[i].addr,
		    sites[i].ok, sites[i].unavailable, sites[i].wrong, sites[i].failed,
		    (double)sites[i].max_ns / 1e6);
		if (sites[i].wrong)
			printf(" (last wrong status %lu)", sites[i].last_wrong_status);
		putchar('\n');
		bad |= sites[i].wrong != 0;
	}
	return bad;
}

static int
count(int argc, char **argv)
{
	double seconds = 60;
	int i;

	ncases = 1;
	fcgic_params_init(&cases[0].params);
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--until") == 0 && i + 1 < argc)
			expect_status = atoi(argv[++i]);
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (strcmp(argv[i], "--pause-us") == 0 && i + 1 < argc)
			pause_us = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--site") == 0 && i + 1 < argc && nsites < MAXSITES)
			sites[nsites++].addr = argv[++i];
		else
			add_param(&cases[0], argv[i]);
	}
	if (nsites == 0 || expect_status == 0 || expect_status == 200)
		die("usage: count --until STATUS --site ADDR... NAME=VALUE...%s", "");
	t_start = mono();
	for (i = 0; i < nsites; i++) {
		sites[i].fd = -1;
		pthread_create(&sites[i].t, NULL, count_thread, &sites[i]);
	}
	{
		uint64_t end = t_start + (uint64_t)(seconds * 1e9);

		while (!stop && !every_site_until() && mono() < end)
			usleep(10000);
	}
	stop = 1;
	for (i = 0; i < nsites; i++) {
		struct site *s = &sites[i];

		pthread_join(s->t, NULL);
		printf("%s allowed %lu until %lu other %lu failed %lu ran_ms %.1f first_until_ms %.1f "
		    "late %lu\n", s->addr, s->allowed, s->until, s->other, s->failed,
		    (double)s->ran / 1e6, (double)s->first_until / 1e6, s->late);
	}
	return every_site_until() ? 0 : 1;
}

static double
ms_since_start(uint64_t t)
{
	return t == 0 ? -1.0 : (double)(t - t_start) / 1e6;
}

static int
watch(int argc, char **argv)
{
	double seconds = 60;
	int last[MAXCASES], i;
	unsigned long n = 0, ok = 0, unavailable = 0, wrong = 0, failed = 0;
	uint64_t first_503 = 0, last_503 = 0, unsettled = 0, end;
	struct timespec pause = {0, 1000000};
	struct site *s = &sites[0];

	parse_cases(argc, argv, &seconds, 1);
	if (nsites != 1 || ncases == 0)
		die("usage: watch --site ADDR --case STATUS NAME=VALUE...%s", "");
	for (i = 0; i < ncases; i++)
		last[i] = 0; /* no status is 0: the first answer is printed */
	s->fd = -1;
	t_start = mono();
	end = t_start + (uint64_t)(seconds * 1e9);
	while (!stop && mono() < end) {
		const struct kase *k = &cases[n % (unsigned)ncases];
		int c = (int)(n++ % (unsigned)ncases), st = ask(s, &k->params);
		uint64_t now = mono();

		if (st != last[c]) {
			printf("%.1f %d %d\n", ms_since_start(now), c + 1, st);
			fflush(stdout);
			last[c] = st;
		}
		if (st != k->status)
			unsettled = now;
		if (st < 0) {
			failed++;
			nanosleep(&pause, NULL);
		} else if (st == k->status) {
			ok++;
		} else if (st == 503) {
			unavailable++;
			if (first_503 == 0)
				first_503 = now;
			last_503 = now;
		} else {
			wrong++;
		}
		if (pause_us > 0)
			usleep((useconds_t)pause_us);
	}
	printf("ok %lu unavailable %lu wrong %lu failed %lu first_unavailable_ms %.1f "
	    "last_unavailable_ms %.1f settled_ms %.1f\n", ok, unavailable, wrong, failed,
	    ms_since_start(first_503), ms_since_start(last_503), ms_since_start(unsettled));
	fcgic_thread_cleanup();
	return wrong != 0;
}

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	if (argc >= 2 && strcmp(argv[1], "flip") == 0)
		return flip(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "load") == 0)
		return load(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "count") == 0)
		return count(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "watch") == 0)
		return watch(argc - 2, argv + 2);
	fprintf(stderr, "usage: repl-probe flip|load|count|watch ... (see repl-probe.c)\n");
	return 2;
}
