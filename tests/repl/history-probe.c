/*
 * history-probe.c - usage history of more distinct keys in one flush than
 * a process's first tally table holds, for tests/repl.
 *
 *   history-probe count DIR ORG N
 *     Opens the store in DIR as an authorizer of the site does, counts
 *     one allowed request of ORG for each of N key ids (hp-000000, ...),
 *     today (UTC), and flushes them as an authorizer's upkeep does: on a
 *     replica, forwarded to the master through the site's keygate-repd
 *     in as many batches as it takes.  Prints "records R dropped D" (the
 *     records written or sent, the requests that found no room).
 *
 *   history-probe read DIR ORG N
 *     Prints "org A keys K": today's allowed requests of ORG in the
 *     history, and how many of the N key ids have exactly one.
 *
 * Exit 0 when the flush (or the reads) succeeded.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"
#include "tally.h"

static void
key_id(long i, char id[32])
{
	snprintf(id, 32, "hp-%06ld", i);
}

static int
count(struct store *s, const char *org, long n)
{
	struct tally *t = tally_new();
	int64_t now = (int64_t)time(NULL);
	uint64_t dropped = 0;
	char id[32], err[600];
	long i;
	int r;

	if (t == NULL) {
		fprintf(stderr, "history-probe: out of memory\n");
		return 1;
	}
	for (i = 0; i < n; i++) {
		key_id(i, id);
		tally_count(t, org, id, H_ALLOWED, 0, now);
	}
	r = tally_flush(t, s, &dropped, err, sizeof err);
	tally_free(t);
	if (r < 0) {
		fprintf(stderr, "history-probe: %s\n", err);
		return 1;
	}
	printf("records %d dropped %llu\n", r, (unsigned long long)dropped);
	return 0;
}

static int
read_back(struct store *s, const char *org, long n)
{
	int64_t day = (int64_t)time(NULL) / 86400;
	struct history_rec h;
	long i, keys = 0;
	char id[32];

	if (tally_read_day(s, day, TALLY_ORG, org, &h) != ST_OK) {
		fprintf(stderr, "history-probe: %s\n", store_errmsg(s));
		return 1;
	}
	printf("org %llu", (unsigned long long)h.n[H_ALLOWED]);
	for (i = 0; i < n; i++) {
		key_id(i, id);
		if (tally_read_day(s, day, TALLY_KEY, id, &h) != ST_OK) {
			fprintf(stderr, "history-probe: %s\n", store_errmsg(s));
			return 1;
		}
		keys += h.n[H_ALLOWED] == 1;
	}
	printf(" keys %ld\n", keys);
	return 0;
}

int
main(int argc, char **argv)
{
	struct store *s;
	char err[512];
	long n;
	int rc;

	if (argc != 5 || (strcmp(argv[1], "count") != 0 && strcmp(argv[1], "read") != 0) ||
	    (n = atol(argv[4])) <= 0) {
		fprintf(stderr, "usage: history-probe count|read DIR ORG N\n");
		return 2;
	}
	if ((s = store_open(argv[2], 0, err, sizeof err)) == NULL) {
		fprintf(stderr, "history-probe: %s\n", err);
		return 2;
	}
	rc = strcmp(argv[1], "count") == 0 ? count(s, argv[3], n) : read_back(s, argv[3], n);
	store_close(s);
	return rc;
}
