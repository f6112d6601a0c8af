/*
 * test_store.c - the store under several processes and crashes:
 *  1. 4 writers and 4 readers at once: every committed write is there,
 *     no reader ever fails;
 *  2. a writer SIGKILLed while its transaction holds write locks: a new
 *     process opens the store by itself (running recovery, and saying
 *     so: store_recoveries), the dead transaction is gone,
 *     and a long-lived reader that was blocked behind it gets going again
 *     once its maintenance (failchk) runs;
 *  3. 30 writers SIGKILLed at random points of a commit loop: every open
 *     afterwards succeeds without manual steps and no acknowledged commit
 *     is lost (DB_TXN_WRITE_NOSYNC survives a process crash).
 * Every wait is bounded by alarm(): a hang fails the test instead of CI.
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

#include "store.h"

static int failures, tests;

static void
ok(int cond, const char *what)
{
	tests++;
	printf("%s %d - %s\n", cond ? "ok" : "not ok", tests, what);
	if (!cond)
		failures++;
	fflush(stdout);
}

static struct store *
open_store(const char *dir, unsigned flags)
{
	char err[512];
	struct store *s = store_open(dir, flags, err, sizeof err);

	if (s == NULL)
		fprintf(stderr, "# open %s: %s\n", dir, err);
	return s;
}

/* One write transaction with retries on deadlock. */
static int
put_committed(struct store *s, const char *key, const char *val)
{
	int attempt;

	for (attempt = 0; attempt < 50; attempt++) {
		struct store_txn *t;
		int rc;

		if ((rc = store_txn_begin(s, &t)) != ST_OK)
			return rc;
		rc = store_put(s, t, TBL_ORGS, key, strlen(key), val, strlen(val) + 1, 0);
		if (rc == ST_DEADLOCK) {
			store_txn_abort(t);
			continue;
		}
		if (rc != ST_OK) {
			store_txn_abort(t);
			return rc;
		}
		rc = store_txn_commit(t);
		if (rc != ST_DEADLOCK)
			return rc;
	}
	return ST_DEADLOCK;
}

static int
get_value(struct store *s, const char *key, char *buf, size_t cap)
{
	size_t len;
	int rc, attempt;

	for (attempt = 0; attempt < 50; attempt++) {
		rc = store_get(s, NULL, TBL_ORGS, key, strlen(key), buf, cap, &len, 0);
		if (rc != ST_DEADLOCK)
			return rc;
	}
	return rc;
}

/* ---- 1: concurrent writers and readers ---- */

#define WRITERS 4
#define PER_WRITER 300

static int
writer(const char *dir, int id)
{
	struct store *s = open_store(dir, 0);
	char k[32], v[32];
	int i;

	if (s == NULL)
		return 2;
	for (i = 0; i < PER_WRITER; i++) {
		snprintf(k, sizeof k, "w%d-%d", id, i);
		snprintf(v, sizeof v, "%d", i);
		if (put_committed(s, k, v) != ST_OK) {
			fprintf(stderr, "# writer %d failed at %d: rc %d %s\n", id, i, put_committed(s, k, v), store_errmsg(s));
			return 1;
		}
	}
	store_close(s);
	return 0;
}

static int
reader(const char *dir, int id)
{
	struct store *s = open_store(dir, STORE_SERVER);
	char k[32], v[32];
	int i, rc;

	if (s == NULL)
		return 2;
	for (i = 0; i < 3000; i++) {
		snprintf(k, sizeof k, "w%d-%d", (id + i) % WRITERS, i % PER_WRITER);
		rc = get_value(s, k, v, sizeof v);
		if (rc != ST_OK && rc != ST_NOTFOUND) {
			fprintf(stderr, "# reader %d: %s\n", id, store_errmsg(s));
			return 1;
		}
	}
	store_close(s);
	return 0;
}

static void
test_concurrent(const char *dir)
{
	pid_t pids[2 * WRITERS];
	struct store *s;
	char k[32], v[32];
	int i, status, bad = 0, missing = 0;

	alarm(120);
	for (i = 0; i < 2 * WRITERS; i++) {
		if ((pids[i] = fork()) == 0)
			_exit(i < WRITERS ? writer(dir, i) : reader(dir, i - WRITERS));
	}
	for (i = 0; i < 2 * WRITERS; i++) {
		waitpid(pids[i], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			bad++;
	}
	ok(bad == 0, "4 writers and 4 readers at once all succeed");
	s = open_store(dir, 0);
	ok(s != NULL, "the store opens afterwards");
	if (s == NULL)
		return;
	for (i = 0; i < WRITERS * PER_WRITER; i++) {
		snprintf(k, sizeof k, "w%d-%d", i / PER_WRITER, i % PER_WRITER);
		if (get_value(s, k, v, sizeof v) != ST_OK || atoi(v) != i % PER_WRITER)
			missing++;
	}
	ok(missing == 0, "every committed write is there");
	store_close(s);
	alarm(0);
}

/* ---- 2: a writer killed holding locks ---- */

static volatile int maint_stop;

static void *
maint_thread(void *arg)
{
	struct store *s = arg;

	while (!maint_stop) {
		store_maintain(s);
		usleep(100000);
	}
	return NULL;
}

static void
test_killed_writer(const char *dir)
{
	int to_parent[2], rpipe[2];
	pid_t w, r;
	char c = 0, v[32];
	struct store *s;
	int status, rc;

	alarm(60);
	if (pipe(to_parent) != 0 || pipe(rpipe) != 0)
		abort();
	/* The committed value the dead writer is about to overwrite. */
	s = open_store(dir, 0);
	ok(s != NULL && put_committed(s, "locked", "before") == ST_OK, "a committed value");
	ok(s != NULL && store_recoveries(s) == 0, "an open after clean closes runs no recovery");
	if (s)
		store_close(s);

	if ((w = fork()) == 0) {
		struct store_txn *t;

		s = open_store(dir, 0);
		if (s == NULL || store_txn_begin(s, &t) != ST_OK ||
		    store_put(s, t, TBL_ORGS, "locked", 6, "uncommitted", 12, 0) != ST_OK ||
		    store_put(s, t, TBL_ORGS, "ghost", 5, "uncommitted", 12, 0) != ST_OK)
			_exit(1);
		if (write(to_parent[1], "x", 1) != 1)
			_exit(1);
		pause(); /* holding the write locks until killed */
		_exit(0);
	}
	ok(read(to_parent[0], &c, 1) == 1, "the writer holds its transaction open");

	/* A long-lived reader, opened while the writer lives, reads "locked". */
	if ((r = fork()) == 0) {
		pthread_t t;
		char buf[32];

		s = open_store(dir, STORE_SERVER);
		if (s == NULL)
			_exit(2);
		pthread_create(&t, NULL, maint_thread, s);
		if (write(rpipe[1], "r", 1) != 1)
			_exit(2);
		/* blocks behind the writer's lock until failchk aborts it */
		rc = get_value(s, "locked", buf, sizeof buf);
		_exit(rc == ST_OK && strcmp(buf, "before") == 0 ? 0 : 3);
	}
	ok(read(rpipe[0], &c, 1) == 1, "a long-lived reader started");
	usleep(300000);
	kill(w, SIGKILL);
	waitpid(w, &status, 0);
	ok(WIFSIGNALED(status), "the writer was killed in its transaction");
	/* the reader's own failchk (every 100 ms here) frees it */
	waitpid(r, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the blocked long-lived reader went on after its failchk");

	s = open_store(dir, 0);
	ok(s != NULL, "a new process opens the store with no manual step");
	ok(s != NULL && store_recoveries(s) == 1, "  and says it ran recovery (for the metrics)");
	if (s != NULL) {
		rc = get_value(s, "locked", v, sizeof v);
		ok(rc == ST_OK && strcmp(v, "before") == 0, "the dead transaction was rolled back");
		ok(get_value(s, "ghost", v, sizeof v) == ST_NOTFOUND,
		    "nothing of the dead transaction remains");
		ok(put_committed(s, "locked", "after") == ST_OK, "its locks are free again");
		store_close(s);
	}
	alarm(0);
}

/* ---- 3: random kills in a commit loop ---- */

static void
test_random_kills(const char *dir, int rounds)
{
	int round, lost = 0, opened = 0;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();

	for (round = 0; round < rounds; round++) {
		int p[2];
		pid_t w;
		long acked = -1, n;
		char k[16], v[32];
		struct store *s;
		FILE *f;

		alarm(30);
		if (pipe(p) != 0)
			abort();
		snprintf(k, sizeof k, "seq%d", round);
		if ((w = fork()) == 0) {
			long i;

			close(p[0]);
			s = open_store(dir, 0);
			if (s == NULL)
				_exit(2);
			for (i = 0;; i++) {
				snprintf(v, sizeof v, "%ld", i);
				if (put_committed(s, k, v) != ST_OK)
					_exit(1);
				/* acknowledged only after the commit returned */
				if (write(p[1], &i, sizeof i) != sizeof i)
					_exit(1);
			}
		}
		close(p[1]);
		usleep(5000 + rand_r(&seed) % 40000);
		kill(w, SIGKILL);
		waitpid(w, NULL, 0);
		f = fdopen(p[0], "r");
		while (fread(&n, sizeof n, 1, f) == 1)
			acked = n;
		fclose(f);
		s = open_store(dir, 0);
		if (s == NULL)
			continue;
		opened++;
		if (acked >= 0 && (get_value(s, k, v, sizeof v) != ST_OK || atol(v) < acked)) {
			fprintf(stderr, "# round %d: acknowledged %ld, found %s\n", round, acked, v);
			lost++;
		}
		store_close(s);
	}
	alarm(0);
	ok(opened == rounds, "every open after a SIGKILL succeeds by itself");
	ok(lost == 0, "no acknowledged commit is lost");
}

static void
on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "not ok - timed out: the store hung\n";
	if (write(1, msg, sizeof msg - 1) < 0)
		_exit(1);
	kill(0, SIGKILL);
	_exit(1);
}

int
main(void)
{
	char dir[] = "/tmp/kgstoreXXXXXX";
	char cmd[600];
	struct store *s;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGALRM, on_alarm);
	setpgid(0, 0);
	if (mkdtemp(dir) == NULL)
		return 99;
	s = open_store(dir, STORE_CREATE);
	ok(s != NULL, "a new store is created");
	if (s == NULL)
		return 1;
	{
		/* store_count is the number of records there are, not a saved guess */
		uint64_t before = 99, after = 99;
		int i, rc = store_count(s, TBL_ORGS, &before);
		char k[16];

		for (i = 0; rc == ST_OK && i < 5; i++) {
			snprintf(k, sizeof k, "count-%d", i);
			rc = put_committed(s, k, "v");
		}
		if (rc == ST_OK)
			rc = store_count(s, TBL_ORGS, &after);
		ok(rc == ST_OK && after == before + 5, "store_count counts five records just written");
	}
	store_close(s);
	test_concurrent(dir);
	test_killed_writer(dir);
	test_random_kills(dir, 30);
	printf("1..%d\n", tests);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", dir);
	return failures ? 1 : 0;
}
