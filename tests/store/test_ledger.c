/*
 * test_ledger.c - the ledger under its counter files:
 *  - a flush copies what changed, and only that; repeated, it writes the
 *    same absolute values (a flush cut short by a crash counts nothing
 *    twice);
 *  - a counter file deleted, damaged or older than the ledger is made
 *    anew, and its base holds what every earlier file flushed;
 *  - two files counting for the same organizations (a file replaced under
 *    running processes, another host) each see the other's flushes;
 *  - a ledger record that cannot be read marks its organization damaged.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "counters.h"
#include "ledger.h"
#include "store.h"
#include "tap.h"


static char err[600];
/* a rebuilt file sums the ledger for the periods of the real clock */
static int64_t T0_S;

static void
make_dir(char *dir)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, 200, "%s/kg-ledger-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		abort();
}

static void
remove_dir(const char *dir)
{
	char cmd[300];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
}

static struct counters *
open_counters(struct store *s, const char *dir, const char **rebuilt)
{
	struct ledger_open_info info;
	struct counters *c = ledger_open_counters(s, dir, &info, err, sizeof err);

	if (c == NULL)
		diag("ledger_open_counters: %s", err);
	if (rebuilt != NULL)
		*rebuilt = info.rebuilt;
	return c;
}

/* n units of credits (and of the day) for org, as requests would count them. */
static void
spend(struct counters *c, const char *org, int n)
{
	struct org_slot *o = counters_org(c, org, 1);
	struct quota_result q;
	int i;

	for (i = 0; i < n; i++) {
		counters_quota(c, o, OC_CREDITS, 1000, 0, T0_S, 1, &q);
		counters_count(c, o, OC_DAY, T0_S);
	}
}

static uint64_t
used(struct counters *c, const char *org, enum org_counter w)
{
	struct org_slot *o = counters_org(c, org, 0);

	return o ? counters_org_used(o, w, counters_period(w, T0_S)) : 0;
}

static uint64_t
ledger_records(struct store *s)
{
	uint64_t n = 0;

	store_count(s, TBL_LEDGER, &n);
	return n;
}

static void
copy_file(const char *from, const char *to)
{
	char cmd[700];

	snprintf(cmd, sizeof cmd, "cp '%s' '%s.tmp' && mv '%s.tmp' '%s'", from, to, to, to);
	if (system(cmd) != 0)
		abort();
}

static void
set_lock_page(const char *dir, int byte)
{
	char lock[300], page[4096];
	int fd;

	snprintf(lock, sizeof lock, "%s/%s", dir, COUNTERS_LOCK);
	memset(page, byte, sizeof page);
	/* written over, not truncated: a truncation would be a fault in every mapping */
	if ((fd = open(lock, O_WRONLY)) < 0 || pwrite(fd, page, sizeof page, 0) != (ssize_t)sizeof page)
		abort();
	close(fd);
}

/*
 * Which file is the host's current one (counters.h): a process on a file
 * another one replaced knows it at its next request, and a sound file
 * that counters.lock does not name is adopted, never made anew (that
 * would lose what it counted since its last flush).  *cp: the current
 * file, open; replaced by the one this leaves current.
 */
static void
test_current(struct store *s, const char *dir, struct counters **cp)
{
	char path[300], lock[300];
	const char *why;
	struct counters *old = *cp, *c, *c2;
	uint64_t credits = used(old, "acme", OC_CREDITS);

	snprintf(path, sizeof path, "%s/%s", dir, COUNTERS_FILE);
	snprintf(lock, sizeof lock, "%s/%s", dir, COUNTERS_LOCK);
	ok(counters_current(old) && !counters_replaced(old, dir), "the open file is the current one");

	/* deleted, and made anew by another process */
	unlink(path);
	ok(counters_current(old), "  deleted: still the current one until another is made");
	c = open_counters(s, dir, &why);
	ok(c != NULL && why != NULL && counters_current(c), "another process makes the new one");
	ok(!counters_current(old), "  and the old file's process sees it at once (no stat)");
	ok(counters_replaced(old, dir), "  as does its once-a-second look");
	counters_close(old);

	/* counters.lock deleted: the file at the path is adopted, not made anew */
	spend(c, "acme", 1);
	unlink(lock);
	ok(counters_replaced(c, dir), "counters.lock deleted: the file is mapped again");
	c2 = open_counters(s, dir, &why);
	ok(c2 != NULL && why == NULL, "  the file is adopted, not made anew (%s)", why ? why : "adopted");
	ok(c2 != NULL && counters_instance(c2) == counters_instance(c) && counters_current(c2),
	    "  the same file, named current again");
	is_u64(c2 ? used(c2, "acme", OC_CREDITS) : 0, credits + 1, "  the unflushed count is still there");
	counters_close(c);
	c = c2;

	/* garbage in counters.lock: the same */
	set_lock_page(dir, 0xa5);
	ok(!counters_current(c), "garbage in counters.lock: no file is current");
	c2 = open_counters(s, dir, &why);
	ok(c2 != NULL && why == NULL && counters_current(c2) && counters_current(c),
	    "  the file at the path is adopted, for every process that maps it");
	counters_close(c2);

	/* a file keygate init made (it names none) is adopted too */
	counters_close(c);
	unlink(path);
	set_lock_page(dir, 0);
	if (counters_create(dir, 1024, err, sizeof err) != 0)
		abort();
	c = open_counters(s, dir, &why);
	ok(c != NULL && why == NULL && counters_current(c), "a file from keygate init is adopted");
	counters_close(c);

	/* leave the ledger's file current for what follows */
	unlink(path);
	*cp = open_counters(s, dir, &why);
	if (*cp == NULL)
		abort();
}

int
main(void)
{
	char dir[200], path[300], saved[300];
	const char *why;
	struct store *s;
	struct counters *c, *c2;
	struct org_slot *o;
	unsigned char key[ID_MAX + 16];
	uint64_t n0;
	int i;

	T0_S = (int64_t)time(NULL);
	make_dir(dir);
	snprintf(path, sizeof path, "%s/%s", dir, COUNTERS_FILE);
	snprintf(saved, sizeof saved, "%s/saved", dir);
	if ((s = store_open(dir, STORE_CREATE, err, sizeof err)) == NULL) {
		diag("store_open: %s", err);
		return 1;
	}
	ok(ledger_set_slots(s, 1024, err, sizeof err) == 0, "the counter file's size is recorded");

	/* a store without a counter file gets one */
	c = open_counters(s, dir, &why);
	ok(c != NULL && counters_nslots(c) == 1024, "no counter file: one is made, of the recorded size");
	ok(why != NULL && strcmp(why, "it was missing") == 0, "  and says why (%s)", why ? why : "-");

	/* flush: what changed, once */
	spend(c, "acme", 7);
	spend(c, "beta", 3);
	is_int(ledger_flush(s, c, dir, T0_S, err, sizeof err), 1, "a flush writes");
	n0 = ledger_records(s);
	is_int(ledger_flush(s, c, dir, T0_S, err, sizeof err), 0, "a second flush has nothing to write");
	is_u64(ledger_records(s), n0, "  and wrote nothing");
	spend(c, "acme", 1);
	is_int(ledger_flush(s, c, dir, T0_S, err, sizeof err), 1, "a change is written");

	/* a crash between the commit and the bookkeeping: the same values again */
	o = counters_org(c, "acme", 0);
	for (i = 0; i < OC_COUNT; i++)
		counters_org_set_flushed(o, i, 0);
	counters_flush_state(c)->busy = 1; /* what the dead flusher left */
	is_int(ledger_flush(s, c, dir, T0_S, err, sizeof err), 1, "a flush repeated after a crash writes again");
	is_u64(ledger_records(s), n0, "  the same records, no new ones");

	/* a flush that died after taking the marks: the next one looks at every slot */
	spend(c, "beta", 1);
	(void)counters_org_next_dirty(c, 0); /* the dead flusher took beta's mark */
	(void)counters_org_next_dirty(c, 0);
	counters_flush_state(c)->busy = 1;
	is_int(ledger_flush(s, c, dir, T0_S, err, sizeof err), 1, "  beta's count is still found and written");

	/* the file deleted: the new one starts from what the ledger holds */
	counters_close(c);
	unlink(path);
	c = open_counters(s, dir, &why);
	ok(c != NULL, "the deleted file is made anew");
	is_u64(used(c, "acme", OC_CREDITS), 8, "acme: 8 credits used, from the ledger (not 16)");
	is_u64(used(c, "beta", OC_CREDITS), 4, "beta: 4");
	is_u64(used(c, "acme", OC_DAY), 8, "acme's day too");
	spend(c, "acme", 2);
	is_u64(used(c, "acme", OC_CREDITS), 10, "new counts add to the base");
	is_int(ledger_flush(s, c, dir, T0_S, err, sizeof err), 1, "flushed under the new file's instance");

	/* a damaged file */
	counters_close(c);
	if (truncate(path, 100) != 0)
		abort();
	c = open_counters(s, dir, &why);
	ok(c != NULL && why != NULL && strcmp(why, "it was damaged") == 0, "a truncated file is made anew (%s)",
	    why ? why : "-");
	is_u64(used(c, "acme", OC_CREDITS), 10, "  with acme's 10");

	/* truncated under a flush: it reads zeros (mapguard.h) and writes none of them */
	spend(c, "acme", 2);
	if (truncate(path, 4096) != 0)
		abort();
	is_int(ledger_flush(s, c, dir, T0_S, err, sizeof err), -1,
	    "a flush of a file truncated under it fails (%s)", err);
	counters_close(c);
	c = open_counters(s, dir, &why);
	is_u64(used(c, "acme", OC_CREDITS), 10, "  the ledger still has acme's 10 (the 2 unflushed are lost)");

	/* older than the ledger: a copy restored after more was flushed */
	copy_file(path, saved);
	spend(c, "acme", 5);
	is_int(ledger_flush(s, c, dir, T0_S, err, sizeof err), 1, "5 more flushed");
	counters_close(c);
	copy_file(saved, path);
	c = open_counters(s, dir, &why);
	ok(c != NULL && why != NULL && strcmp(why, "it was older than the ledger") == 0,
	    "an older copy is refused (%s)", why ? why : "-");
	is_u64(used(c, "acme", OC_CREDITS), 15, "  the new file has all 15");
	is_int(ledger_flush(s, c, dir, T0_S, err, sizeof err), 0, "nothing to flush");
	c2 = open_counters(s, dir, &why);
	ok(c2 != NULL && why == NULL, "the current file opens as it is");
	counters_close(c2);

	test_current(s, dir, &c);

	/* two files at once: each sees the other's flushes */
	snprintf(saved, sizeof saved, "%s/other", dir);
	if (counters_create_at(saved, 1024, 0x1234567890abcdefull, 0, err, sizeof err) != 0 ||
	    (c2 = counters_open_path(saved, err, sizeof err)) == NULL)
		abort();
	spend(c2, "acme", 4);
	spend(c2, "gamma", 2);
	is_int(ledger_flush(s, c2, dir, T0_S, err, sizeof err), 1, "the other file flushes");
	is_u64(used(c, "acme", OC_CREDITS), 15, "not yet seen here");
	is_int(ledger_flush(s, c, dir, T0_S, err, sizeof err), 0, "our flush (nothing of ours to write)");
	is_u64(used(c, "acme", OC_CREDITS), 19, "  finds it and adds it to acme's base: 19");
	is_u64(used(c, "gamma", OC_CREDITS), 2, "  and gives gamma, never used here, a slot with its 2");
	spend(c, "acme", 1);
	is_int(ledger_flush(s, c, dir, T0_S, err, sizeof err), 1, "ours flushes");
	is_int(ledger_flush(s, c2, dir, T0_S, err, sizeof err), 0, "the other's next flush");
	is_u64(used(c2, "acme", OC_CREDITS), 20, "  sees ours: 20 in all, counted once");
	counters_close(c2);

	/* a ledger record that cannot be read: its org is marked */
	{
		size_t kl = ledger_org_key("delta", 42, key);

		if (store_put(s, NULL, TBL_LEDGER, key, kl, "junk", 4, 0) != ST_OK)
			abort();
	}
	spend(c, "acme", 1); /* so that the flush finds a foreign change to sum */
	counters_close(c);
	unlink(path);
	c = open_counters(s, dir, NULL);
	ok(c != NULL, "a file is made despite a damaged record");
	o = c ? counters_org(c, "delta", 0) : NULL;
	ok(o != NULL && counters_org_damaged(o), "  and the record's org is marked damaged");
	o = c ? counters_org(c, "acme", 0) : NULL;
	ok(o != NULL && !counters_org_damaged(o), "  the others are not");

	counters_close(c);
	store_close(s);
	remove_dir(dir);
	return done_testing();
}
