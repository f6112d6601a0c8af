/*
 * gate-driver.c - gate.h driven the way a threaded web server drives it:
 * THREADS threads, each deciding REQUESTS requests with one key, at once;
 * prints how many answers had each status, and fails (exit 1) on an
 * answer that is not well formed (an allow without its identity, a denial
 * without keygate's JSON body).  For tests/store/gate.sh and for counting
 * instructions per request under callgrind.
 *
 *   gate-driver [-t THREADS] [-n REQUESTS | -d SECONDS] [-w SECONDS] [-u URI] [-H HOST] DIR KEY
 *
 * -w: the gate open and idle this long before the first request, for what
 * happens to the store meanwhile (its background threads meet it first).
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gate.h"

#define STATUSES 600

static struct gate *g;
static const char *key, *uri = "/v1/items", *host = "api.example.com";
static long requests = 1000;
static double seconds;  /* > 0: run this long instead of REQUESTS */
static double idle;     /* -w */
static unsigned long counts[STATUSES];
static int malformed;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static struct timespec start;

static double
elapsed(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9;
}

static int
well_formed(const struct gate_answer *a)
{
	size_t i;
	int org = 0;

	if (a->status == 200) {
		for (i = 0; i < a->nheaders; i++)
			org |= strcmp(a->headers[i].name, "Org-Id") == 0 && a->headers[i].value[0] != '\0';
		return org && a->key_id != NULL && a->body == NULL;
	}
	return a->nheaders > 0 && strcmp(a->headers[0].name, "Content-Type") == 0 &&
	    strcmp(a->headers[0].value, "application/json") == 0 && a->body != NULL &&
	    a->body_len > 20 && strncmp(a->body, "{\"error\":{\"code\":\"", 18) == 0 &&
	    a->body[a->body_len - 1] == '\n';
}

static void *
run(void *arg)
{
	unsigned long mine[STATUSES] = {0};
	const char *auth[1] = {NULL}, *xkey[1] = {key};
	struct gate_request q;
	struct gate_answer a;
	struct gate_thread *t = gate_thread(g);
	int bad = 0, s;
	long i;

	(void)arg;
	if (t == NULL) {
		fprintf(stderr, "gate-driver: no thread context\n");
		exit(2);
	}
	memset(&q, 0, sizeof q);
	q.authorization = auth;
	q.x_api_key = xkey;
	q.nx_api_key = 1;
	q.method = "GET";
	q.uri = uri;
	q.host = host;
	q.remote = "127.0.0.1";
	for (i = 0; seconds > 0 || i < requests; i++) {
		if (seconds > 0 && (i & 255) == 0 && elapsed() >= seconds)
			break;
		gate_decide(t, &q, &a);
		s = a.status > 0 && a.status < STATUSES ? a.status : 0;
		mine[s]++;
		bad += !well_formed(&a);
	}
	pthread_mutex_lock(&lock);
	for (s = 0; s < STATUSES; s++)
		counts[s] += mine[s];
	malformed += bad;
	pthread_mutex_unlock(&lock);
	return NULL;
}

int
main(int argc, char **argv)
{
	pthread_t th[256];
	long nthreads = 1, i;
	int c, s;

	while ((c = getopt(argc, argv, "t:n:d:w:u:H:")) != -1) {
		switch (c) {
		case 'd': seconds = strtod(optarg, NULL); break;
		case 'w': idle = strtod(optarg, NULL); break;
		case 't': nthreads = strtol(optarg, NULL, 10); break;
		case 'n': requests = strtol(optarg, NULL, 10); break;
		case 'u': uri = optarg; break;
		case 'H': host = optarg; break;
		default: goto usage;
		}
	}
	if (argc - optind != 2 || nthreads < 1 || nthreads > 256 || requests < 0 ||
	    idle < 0 || idle > 60)
		goto usage;
	key = argv[optind + 1];
	if ((g = gate_open("gate-driver", NULL, argv[optind])) == NULL)
		return 2;
	if (idle > 0)
		usleep((useconds_t)(idle * 1e6));
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (i = 0; i < nthreads; i++)
		if (pthread_create(&th[i], NULL, run, NULL) != 0)
			return 2;
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	gate_close(g);
	for (s = 0, c = 0; s < STATUSES; s++)
		if (counts[s] > 0)
			printf("%s%d=%lu", c++ ? " " : "", s, counts[s]);
	printf("\n");
	if (malformed > 0) {
		fprintf(stderr, "gate-driver: %d answers were not well formed\n", malformed);
		return 1;
	}
	return 0;
usage:
	fprintf(stderr, "usage: gate-driver [-t THREADS] [-n REQUESTS | -d SECONDS] [-w SECONDS] "
	    "[-u URI] [-H HOST] DIR KEY\n");
	return 2;
}
