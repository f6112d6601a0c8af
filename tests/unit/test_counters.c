/*
 * test_counters.c - the shared counter file: slots claimed and found
 * across mappings and processes, a full table, exact limits under
 * concurrent processes, last-use writes throttled to one per 30 s, and
 * when keygate-repd's word on a replica makes decisions answer 503.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "counters.h"
#include "tap.h"

#define T0_S  INT64_C(1795564800) /* 2026-11-25T00:00:00Z */
#define T0_NS ((uint64_t)T0_S * NS_PER_S)
#define NCHILD 4

static char err[512];

static void
make_dir(char *dir)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, 200, "%s/kg-counters-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		abort();
}

static void
remove_dir(const char *dir)
{
	char path[300];

	snprintf(path, sizeof path, "%s/%s", dir, COUNTERS_FILE);
	unlink(path);
	rmdir(dir);
}

static void
test_file(void)
{
	char dir[200], path[300];
	struct counters *c;
	struct stat st;
	int fd;

	make_dir(dir);
	is_int(counters_create(dir, 0, err, sizeof err), -1, "0 slots are refused");
	is_int(counters_create(dir, 63, err, sizeof err), -1, "63 slots (not a power of two) are refused");
	is_int(counters_create(dir, 32, err, sizeof err), -1, "32 slots (under the minimum) are refused");
	is_int(counters_create(dir, 64, err, sizeof err), 0, "a 64-slot file is created");
	is_int(counters_create(dir, 64, err, sizeof err), -1, "it is not created twice");
	snprintf(path, sizeof path, "%s/%s", dir, COUNTERS_FILE);
	ok(stat(path, &st) == 0 && (st.st_mode & 0007) == 0, "the file is not world-accessible");
	c = counters_open(dir, err, sizeof err);
	ok(c != NULL, "it opens");
	is_int(counters_nslots(c), 64, "with 64 slots");
	is_int(counters_used(c), 0, "none used");
	counters_close(c);

	/* a file of the wrong size or magic is refused */
	if (stat(path, &st) != 0)
		abort();
	fd = open(path, O_WRONLY);
	if (fd < 0 || ftruncate(fd, st.st_size + 1) != 0)
		abort();
	close(fd);
	ok(counters_open(dir, err, sizeof err) == NULL, "a file of the wrong size is refused");
	fd = open(path, O_WRONLY);
	if (fd < 0 || ftruncate(fd, st.st_size) != 0 || pwrite(fd, "XXXXXXXX", 8, 0) != 8)
		abort();
	close(fd);
	ok(counters_open(dir, err, sizeof err) == NULL, "a file with the wrong magic is refused");
	remove_dir(dir);
	ok(counters_open(dir, err, sizeof err) == NULL && err[0] != '\0', "a missing file is an error");
}

static void
test_slots(void)
{
	char dir[200], name[32];
	struct counters *c1, *c2;
	struct counter_slot *s1[64], *s2;
	unsigned char d1[DIGEST_LEN] = {0}, d2[DIGEST_LEN] = {0};
	uint64_t tags[64];
	int i, j, distinct = 1, same = 1, found = 1;

	make_dir(dir);
	if (counters_create(dir, 64, err, sizeof err) != 0)
		abort();
	c1 = counters_open(dir, err, sizeof err);
	c2 = counters_open(dir, err, sizeof err);
	ok(c1 != NULL && c2 != NULL, "two mappings of one file");

	d2[0] = 0x80; /* tags keep the first 62 bits of the digest */
	ok(counters_key_tag(d1) != counters_key_tag(d2), "key tags differ by digest");
	ok(counters_key_tag(d1) != 0 && counters_org_tag("") != 0, "tags are never 0 (a free slot)");
	ok(counters_key_tag(d1) >> 62 == 1 && counters_org_tag("acme") >> 62 == 2,
	    "key and org tags live in different spaces");
	ok(counters_org_tag("acme") == counters_org_tag("acme") &&
	    counters_org_tag("acme") != counters_org_tag("acmf"), "org tags are stable and distinct");

	ok(counters_find(c1, counters_org_tag("nobody"), 0) == NULL, "find without create: not found");
	is_int(counters_used(c1), 0, "  and nothing claimed");
	for (i = 0; i < 64; i++) {
		snprintf(name, sizeof name, "org-%d", i);
		tags[i] = counters_org_tag(name);
		s1[i] = counters_find(c1, tags[i], 1);
		if (s1[i] == NULL)
			found = 0;
		for (j = 0; j < i; j++)
			if (s1[j] == s1[i] || tags[j] == tags[i])
				distinct = 0;
	}
	ok(found, "64 distinct tags claim slots in a 64-slot table");
	ok(distinct, "  each its own slot");
	is_int(counters_used(c2), 64, "the other mapping sees 64 used");
	ok(counters_find(c1, counters_org_tag("org-64"), 1) == NULL, "a 65th tag: table full, NULL");
	ok(counters_find(c2, counters_org_tag("org-65"), 0) == NULL, "find without create in a full table: NULL");
	ok(counters_find(c1, tags[5], 1) == s1[5], "claiming a tag again returns its slot");
	is_int(counters_used(c1), 64, "  without a second slot");

	/* the same slot through the other mapping: a write through one is read through the other */
	for (i = 0; i < 64; i++) {
		s2 = counters_find(c2, tags[i], 0);
		if (s2 == NULL) {
			same = 0;
			continue;
		}
		counters_touch(s1[i], 1000000 + i);
		if (counters_last_used(s2) != 1000000 + i)
			same = 0;
	}
	ok(same, "find returns the same slot from either mapping");
	counters_close(c2);
	counters_close(c1);
	c1 = counters_open(dir, err, sizeof err);
	s2 = counters_find(c1, tags[9], 0);
	ok(s2 != NULL && counters_last_used(s2) == 1000009, "slots persist across close and open");
	counters_close(c1);
	remove_dir(dir);
}

static void
test_touch_and_periods(void)
{
	char dir[200];
	struct counters *c;
	struct counter_slot *k;
	struct org_slot *o;
	struct quota_result q;
	struct rate_result r;
	struct rate_spec rs = {10, 60};
	uint32_t day0 = policy_period_id(QUOTA_DAY, T0_S);
	int i, n;

	make_dir(dir);
	if (counters_create(dir, 64, err, sizeof err) != 0 ||
	    (c = counters_open(dir, err, sizeof err)) == NULL)
		abort();
	k = counters_find(c, counters_org_tag("touch"), 1);
	is_int(counters_last_used(k), 0, "a new slot was never used");
	counters_touch(k, 1000);
	is_int(counters_last_used(k), 1000, "the first touch writes");
	counters_touch(k, 1010);
	counters_touch(k, 1029);
	is_int(counters_last_used(k), 1000, "touches within 30 s do not write");
	counters_touch(k, 1030);
	is_int(counters_last_used(k), 1030, "a touch 30 s later writes");
	counters_touch(k, 500);
	is_int(counters_last_used(k), 1030, "a touch from the past does not go back");

	o = counters_org(c, "periods", 1);
	ok(o != NULL, "an org slot");
	for (i = 0; i < 5; i++)
		counters_quota(c, o, OC_DAY, 100, 0, T0_S + 100, 1, &q);
	is_int(counters_org_used(o, OC_DAY, day0), 5, "5 units today");
	counters_quota(c, o, OC_DAY, 100, 0, T0_S + 86400 + 5, 1, &q);
	ok(q.allowed && q.used == 1, "a new day starts from 1");
	is_int(counters_org_used(o, OC_DAY, day0 + 1), 1, "1 unit the next day");
	counters_quota(c, o, OC_DAY, 100, 0, T0_S + 86400 + 6, 0, &q);
	is_int(counters_org_used(o, OC_DAY, day0 + 1), 1, "a peek does not count");

	/* the clock steps back 10 h after a full burst */
	k = counters_find(c, counters_org_tag("clock"), 1);
	for (n = 0, i = 0; i < 20; i++) {
		counters_rate(k, RATE_PLAN, &rs, T0_NS, 1, &r);
		n += r.allowed;
	}
	is_int(n, 10, "10/min: a burst of 10");
	{
		uint64_t back = T0_NS - 36000 * NS_PER_S;
		counters_rate(k, RATE_PLAN, &rs, back, 1, &r);
		ok(!r.allowed, "clock 10 h back: denied");
		for (n = 0, i = 0; i < 20; i++) {
			counters_rate(k, RATE_PLAN, &rs, back + 120 * NS_PER_S, 1, &r);
			n += r.allowed;
		}
		is_int(n, 10, "  and a whole burst again two windows later, as policy.h promises "
		    "(\"waits one window at most\")");
	}
	counters_close(c);
	remove_dir(dir);
}

/*
 * NCHILD processes, each with its own mapping, released at once; each
 * tries 1000 times and writes its admitted count to the pipe.
 */
static long
race(const char *dir, int quota)
{
	int res[2], go[2], i, status, failed = 0;
	long total = 0, got;
	pid_t pids[NCHILD];

	if (pipe(res) != 0 || pipe(go) != 0)
		abort();
	for (i = 0; i < NCHILD; i++) {
		if ((pids[i] = fork()) < 0)
			abort();
		if (pids[i] == 0) {
			struct counters *c;
			struct counter_slot *s;
			struct org_slot *o;
			struct rate_spec rs = {100, 3600};
			struct rate_result rr;
			struct quota_result qr;
			long n = 0;
			char b;
			int k;

			alarm(20);
			close(res[0]);
			close(go[1]);
			c = counters_open(dir, err, sizeof err);
			if (c == NULL)
				_exit(2);
			if (read(go[0], &b, 1) != 0)
				_exit(3);
			s = counters_find(c, counters_org_tag("shared"), 1);
			o = counters_org(c, "shared", 1);
			if (s == NULL || o == NULL)
				_exit(4);
			for (k = 0; k < 1000; k++) {
				if (quota) {
					counters_quota(c, o, OC_DAY, 50, 0, T0_S, 1, &qr);
					n += qr.allowed;
				} else {
					counters_rate(s, RATE_PLAN, &rs, T0_NS, 1, &rr);
					n += rr.allowed;
				}
			}
			if (write(res[1], &n, sizeof n) != (ssize_t)sizeof n)
				_exit(5);
			_exit(0);
		}
	}
	close(res[1]);
	close(go[0]);
	close(go[1]); /* releases every child at once */
	for (i = 0; i < NCHILD; i++) {
		if (read(res[0], &got, sizeof got) != (ssize_t)sizeof got) {
			failed++;
			continue;
		}
		total += got;
	}
	close(res[0]);
	for (i = 0; i < NCHILD; i++) {
		if (waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			failed++;
	}
	if (failed) {
		diag("%d children failed", failed);
		return -1;
	}
	return total;
}

static void
test_processes(void)
{
	char dir[200];
	struct counters *c;
	struct org_slot *o;
	long total;

	make_dir(dir);
	if (counters_create(dir, 64, err, sizeof err) != 0)
		abort();
	total = race(dir, 0);
	is_int(total, 100, "4 processes x 1000 tries of 100/h on one slot admit exactly 100");
	c = counters_open(dir, err, sizeof err);
	is_int(counters_used(c), 1, "  all four found the same slot");
	counters_close(c);
	remove_dir(dir);

	make_dir(dir);
	if (counters_create(dir, 64, err, sizeof err) != 0)
		abort();
	total = race(dir, 1);
	is_int(total, 50, "4 processes x 1000 tries of a quota of 50 admit exactly 50");
	c = counters_open(dir, err, sizeof err);
	o = counters_org(c, "shared", 0);
	ok(o != NULL, "  the slot is there");
	is_int(o ? counters_org_used(o, OC_DAY, policy_period_id(QUOTA_DAY, T0_S)) : 0, 50,
	    "  and counts 50 used");
	counters_close(c);
	remove_dir(dir);
}

/* Org slots: the id is recorded, counts are kept per counter, base counts. */
static void
test_orgs(void)
{
	char dir[200], id[ID_MAX + 1];
	char long_id[ID_MAX + 2];
	struct counters *c;
	struct org_slot *o, *o2, *found = NULL;
	struct quota_result q;
	uint32_t i, day = policy_period_id(QUOTA_DAY, T0_S);
	uint32_t cred = policy_period_id(QUOTA_CREDITS, T0_S);
	int n, seen = 0;

	make_dir(dir);
	if (counters_create(dir, 64, err, sizeof err) != 0 ||
	    (c = counters_open(dir, err, sizeof err)) == NULL)
		abort();
	ok(counters_org(c, "acme", 0) == NULL, "no slot before the first use");
	o = counters_org(c, "acme", 1);
	ok(o != NULL && counters_org(c, "acme", 0) == o, "claimed once, found again");
	ok(counters_org(c, "", 1) == NULL, "an empty id has no slot");
	memset(long_id, 'a', sizeof long_id - 1);
	long_id[sizeof long_id - 1] = '\0';
	ok(counters_org(c, long_id, 1) == NULL, "an id longer than ID_MAX has no slot");
	for (i = 0; i < counters_norg_slots(c); i++)
		if (counters_org_at(c, i, id, &o2) == 0) {
			seen++;
			if (strcmp(id, "acme") == 0)
				found = o2;
		}
	ok(seen == 1 && found == o, "the slot table lists acme, by its id");

	/* credits never reset with the period, days and months are apart */
	for (n = 0, i = 0; i < 8; i++) {
		counters_quota(c, o, OC_CREDITS, 5, 0, T0_S + (int64_t)i * 86400 * 40, 1, &q);
		n += q.allowed;
	}
	is_int(n, 5, "5 credits over 320 days admit 5: credits have no period");
	is_int(counters_org_used(o, OC_CREDITS, cred), 5, "  5 credits used");
	is_int(counters_org_used(o, OC_DAY, day), 0, "  the day counter did not move");
	counters_count(c, o, OC_DAY, T0_S);
	counters_count(c, o, OC_MONTH, T0_S);
	is_int(counters_org_used(o, OC_DAY, day), 1, "counters_count counts a unit");

	/* a base (counted by other files) takes its share of the quota */
	counters_org_set_base(o, OC_DAY, (uint64_t)day << QUOTA_USED_BITS | 7);
	is_int(counters_org_used(o, OC_DAY, day), 8, "used = base 7 + this file's 1");
	for (n = 0, i = 0; i < 5; i++) {
		counters_quota(c, o, OC_DAY, 10, 0, T0_S, 1, &q);
		n += q.allowed;
	}
	is_int(n, 2, "a quota of 10 with 8 used admits 2");
	is_int(counters_org_used(o, OC_DAY, day), 10, "  and stops at 10");
	counters_quota(c, o, OC_DAY, 10, 0, T0_S + 86400, 1, &q);
	ok(q.allowed && q.used == 1, "yesterday's base does not count today");
	counters_org_set_damaged(o, 1);
	ok(counters_org_damaged(o), "a slot can be marked damaged");
	ok(counters_org(c, "acme", 0) == o, "  and is still found");
	counters_org_set_damaged(o, 0);
	ok(!counters_org_damaged(o), "  and cleared");
	counters_close(c);
	remove_dir(dir);
}

/* Two limits on one key: a refund gives back exactly the token taken. */
static void
test_refund(void)
{
	char dir[200];
	struct counters *c;
	struct counter_slot *k;
	struct rate_result r;
	struct rate_spec plan = {10, 60}, key = {1, 1};
	int i, n;

	make_dir(dir);
	if (counters_create(dir, 64, err, sizeof err) != 0 ||
	    (c = counters_open(dir, err, sizeof err)) == NULL)
		abort();
	k = counters_find(c, counters_org_tag("refund"), 1);
	for (i = 0; i < 10; i++) {
		counters_rate(k, RATE_PLAN, &plan, T0_NS, 1, &r);
		counters_rate_refund(k, RATE_PLAN, &plan, T0_NS);
	}
	counters_rate(k, RATE_PLAN, &plan, T0_NS, 0, &r);
	ok(r.allowed && r.remaining == 9, "10 tokens taken and given back: the plan is whole (%llu)",
	    (unsigned long long)r.remaining);
	counters_rate(k, RATE_KEY, &key, T0_NS, 1, &r);
	counters_rate(k, RATE_KEY, &key, T0_NS, 1, &r);
	ok(!r.allowed, "the key's own limit is apart from the plan's");
	counters_rate(k, RATE_PLAN, &plan, T0_NS, 0, &r);
	ok(r.allowed && r.remaining == 9, "  and took nothing from it");
	counters_rate_refund(k, RATE_PLAN, &plan, T0_NS);
	for (n = 0, i = 0; i < 20; i++) {
		counters_rate(k, RATE_PLAN, &plan, T0_NS, 1, &r);
		n += r.allowed;
	}
	is_int(n, 10, "a refund on an idle limit gives nothing extra");
	counters_close(c);
	remove_dir(dir);
}

/* A file truncated under its mapping: no SIGBUS death, and it says so. */
static void
test_truncated(void)
{
	char dir[200], path[300];
	struct counters *c;
	struct org_slot *o;
	struct quota_result q;
	int status;
	pid_t pid;

	make_dir(dir);
	if (counters_create(dir, 1024, err, sizeof err) != 0 ||
	    (c = counters_open(dir, err, sizeof err)) == NULL)
		abort();
	snprintf(path, sizeof path, "%s/%s", dir, COUNTERS_FILE);
	ok(counters_intact(c) && !counters_replaced(c, dir), "a fresh mapping is intact");
	if ((pid = fork()) == 0) {
		if (truncate(path, 0) != 0)
			_exit(2);
		o = counters_org(c, "after", 1); /* faults: the table is past the end */
		if (o != NULL)
			counters_quota(c, o, OC_DAY, 10, 0, T0_S, 1, &q);
		_exit(counters_intact(c) ? 3 : 0);
	}
	ok(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "touching a truncated file: no SIGBUS, and counters_intact() says 0 (status %d)", status);
	ok(counters_replaced(c, dir), "the parent sees the file truncated: as good as replaced");
	counters_close(c);
	unlink(path);
	if (counters_create(dir, 64, err, sizeof err) != 0 ||
	    (c = counters_open(dir, err, sizeof err)) == NULL)
		abort();
	unlink(path);
	ok(counters_replaced(c, dir), "a deleted file is replaced");
	if (counters_create(dir, 64, err, sizeof err) != 0)
		abort();
	ok(counters_replaced(c, dir), "  and so is a file made anew at its name");
	counters_close(c);
	remove_dir(dir);
}

/* What keygate-repd says of a replica's copy, as every decision reads it. */
static void
test_repl_state(void)
{
	char dir[200];
	struct counters *c;
	struct counters_repl *r;

	make_dir(dir);
	if (counters_create(dir, 64, err, sizeof err) != 0 ||
	    (c = counters_open(dir, err, sizeof err)) == NULL)
		abort();
	r = counters_repl(c);
	ok(!counters_repl_unavailable(c, T0_S), "nothing said: decide (a standalone store)");
	r->state = COUNTERS_REPL_READY;
	r->at = T0_S;
	ok(!counters_repl_unavailable(c, T0_S), "ready: decide");
	r->state = COUNTERS_REPL_BEHIND;
	ok(counters_repl_unavailable(c, T0_S + COUNTERS_REPL_FRESH_S - 1),
	    "behind, said lately: 503");
	ok(!counters_repl_unavailable(c, T0_S + COUNTERS_REPL_FRESH_S),
	    "behind, said by a keygate-repd that stopped saying it: decide, as a partitioned host");
	r->state = COUNTERS_REPL_STOPPED;
	ok(counters_repl_unavailable(c, T0_S + 86400),
	    "stopped (the copy is damaged or its environment died): 503 until keygate-repd runs again");
	counters_close(c);
	remove_dir(dir);
}

int
main(void)
{
	test_repl_state();
	test_file();
	test_slots();
	test_touch_and_periods();
	test_processes();
	test_orgs();
	test_refund();
	test_truncated();
	return done_testing();
}
