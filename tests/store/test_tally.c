/*
 * test_tally.c - the master's side of forwarded usage history
 * (tally_apply):
 *  - a batch is added once: the same batch again adds nothing, the next
 *    one adds;
 *  - its mark lives in the history table, and nothing of the ledger is
 *    read or written: while another transaction holds every ledger page
 *    (a ledger flush waiting for its acknowledgements), a batch still
 *    goes through at once;
 *  - db check's view: marks are not day records, and malformed batches
 *    are refused whole;
 *  - marks of processes gone for long are pruned, the others kept;
 *  - a process's own side (tally_flush): more distinct ids between two
 *    flushes than its first table holds are all written, and past its
 *    last table what is dropped is counted.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "replmsg.h"
#include "store.h"
#include "tally.h"
#include "tap.h"

static char err[600];
static int64_t DAY;

static void
make_dir(char *dir, size_t cap)
{
	snprintf(dir, cap, "/tmp/kg-tally-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
}

/* A batch of process proc, number seq: n requests allowed for org "acme". */
static void
batch(struct replmsg_w *w, uint64_t proc, uint64_t seq, uint64_t n)
{
	int k;

	rmw_init(w);
	rmw_request(w, RM_HISTORY);
	rmw_u64(w, proc);
	rmw_u64(w, seq);
	rmw_u32(w, 1);
	rmw_u32(w, (uint32_t)DAY);
	rmw_u8(w, TALLY_ORG);
	rmw_str(w, "acme");
	for (k = 0; k < H_COUNT; k++)
		rmw_u64(w, k == H_ALLOWED ? n : 0);
	rmw_i64(w, DAY * 86400 + 5);
}

/* Applies a batch as keygate-repd does on the master: its answer's status. */
static int
apply(struct store *s, const struct replmsg_w *req)
{
	struct replmsg_w ans;
	struct replmsg_r r, a;
	const char *msg;
	int status;

	rmr_init(&r, req->buf, req->len);
	if (rmr_request(&r) != RM_HISTORY)
		return -1;
	rmw_init(&ans);
	tally_apply(s, &r, &ans);
	rmr_init(&a, ans.buf, ans.len);
	status = (int)rmr_answer(&a, &msg);
	rmw_free(&ans);
	return status;
}

static uint64_t
allowed(struct store *s)
{
	struct history_rec h;

	if (tally_read_day(s, DAY, TALLY_ORG, "acme", &h) != ST_OK)
		return UINT64_MAX;
	return h.n[H_ALLOWED];
}

static int
count_row(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	(void)k, (void)kl, (void)v, (void)vl;
	++*(uint64_t *)ctx;
	return 0;
}

static uint64_t
records(struct store *s, enum store_tbl t)
{
	uint64_t n = 0;

	return store_scan(s, NULL, t, count_row, &n) == ST_OK ? n : UINT64_MAX;
}

static int
count_marks(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	(void)v, (void)vl;
	*(uint64_t *)ctx += tally_is_mark(k, kl);
	return 0;
}

static uint64_t
marks(struct store *s)
{
	uint64_t n = 0;

	return store_scan(s, NULL, TBL_HISTORY, count_marks, &n) == ST_OK ? n : UINT64_MAX;
}

struct applier {
	struct store *s;
	struct replmsg_w req;
	int status;
	int done;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static void *
apply_thread(void *arg)
{
	struct applier *a = arg;
	int status = apply(a->s, &a->req);

	pthread_mutex_lock(&a->mu);
	a->status = status;
	a->done = 1;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/*
 * A batch applied while txn holds locks on every ledger page: whether it
 * finished within 2 s (its status in *status), before txn lets go.
 */
static int
applies_beside(struct store *s, struct store_txn *txn, uint64_t proc, uint64_t seq,
    int *status)
{
	struct applier a = {.s = s, .status = -1};
	struct timespec until;
	pthread_t th;
	int done;

	pthread_mutex_init(&a.mu, NULL);
	pthread_cond_init(&a.cv, NULL);
	batch(&a.req, proc, seq, 1);
	if (pthread_create(&th, NULL, apply_thread, &a) != 0)
		abort();
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2;
	pthread_mutex_lock(&a.mu);
	while (!a.done && pthread_cond_timedwait(&a.cv, &a.mu, &until) == 0)
		;
	done = a.done;
	pthread_mutex_unlock(&a.mu);
	store_txn_abort(txn); /* lets a waiting batch go on */
	pthread_join(th, NULL);
	*status = a.status;
	rmw_free(&a.req);
	return done;
}

/* n allowed requests of org, one for each of n key ids: one flush's worth */
static void
count_ids(struct tally *t, const char *org, int n)
{
	int64_t now = (int64_t)time(NULL);
	char id[32];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(id, sizeof id, "%s-%06d", org, i);
		tally_count(t, org, id, H_ALLOWED, 0, now);
	}
}

/* How many of org's n key ids have exactly one allowed request today. */
static int
ids_counted(struct store *s, const char *org, int n)
{
	struct history_rec h;
	char id[32];
	int i, k = 0;

	for (i = 0; i < n; i++) {
		snprintf(id, sizeof id, "%s-%06d", org, i);
		k += tally_read_day(s, DAY, TALLY_KEY, id, &h) == ST_OK && h.n[H_ALLOWED] == 1;
	}
	return k;
}

/*
 * More distinct ids between two flushes than the first table holds
 * (8192): every one is written; past the last table, what finds no room
 * is counted as dropped, never lost silently.
 */
static void
test_many_ids(void)
{
	char dir[64], cmd[128];
	struct history_rec h;
	struct store *s;
	struct tally *t;
	uint64_t dropped = 1;
	int r;

	make_dir(dir, sizeof dir);
	if ((s = store_open(dir, STORE_CREATE, err, sizeof err)) == NULL ||
	    (t = tally_new()) == NULL)
		abort();
	count_ids(t, "wide", 50000);
	r = tally_flush(t, s, &dropped, err, sizeof err);
	is_int(r, 50001, "50000 keys and their org between two flushes: all written");
	is_u64(dropped, 0, "  none dropped");
	ok(tally_read_day(s, DAY, TALLY_ORG, "wide", &h) == ST_OK && h.n[H_ALLOWED] == 50000,
	    "  the org's record counts 50000");
	is_int(ids_counted(s, "wide", 50000), 50000, "  each key's record counts 1");
	is_int(tally_flush(t, s, &dropped, err, sizeof err), 0, "the other buffer: nothing");
	count_ids(t, "again", 30000);
	is_int(tally_flush(t, s, &dropped, err, sizeof err), 30001, "the first buffer once more: all");
	is_u64(dropped, 0, "  none dropped");

	count_ids(t, "over", 150000);
	r = tally_flush(t, s, &dropped, err, sizeof err);
	ok(dropped > 0 && (uint64_t)r - 1 + dropped == 150000,
	    "150000 keys, more than every table holds: %d records written, %llu requests dropped, "
	    "each request one or the other", r, (unsigned long long)dropped);
	ok(tally_read_day(s, DAY, TALLY_ORG, "over", &h) == ST_OK && h.n[H_ALLOWED] == 150000,
	    "  the org's record still counts all 150000");
	tally_free(t);
	store_close(s);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("cannot remove %s", dir);
}

int
main(void)
{
	char dir[64], cmd[128];
	struct replmsg_w w;
	struct store_txn *txn;
	struct store *s;
	uint64_t ledger_n, n;
	int status;

	DAY = (int64_t)time(NULL) / 86400;
	make_dir(dir, sizeof dir);
	if ((s = store_open(dir, STORE_CREATE, err, sizeof err)) == NULL) {
		diag("store_open: %s", err);
		return 1;
	}
	/* the ledger as a running store has it: bookkeeping and org records */
	if (store_txn_begin(s, &txn) != ST_OK ||
	    store_put(s, txn, TBL_LEDGER, "\0seq", 4, "x", 1, 0) != ST_OK ||
	    store_put(s, txn, TBL_LEDGER, "acme\0\0\0\0\0\0\0\0\1", 13, "x", 1, 0) != ST_OK ||
	    store_txn_commit(txn) != ST_OK) {
		diag("cannot write the ledger: %s", store_errmsg(s));
		return 1;
	}
	ledger_n = records(s, TBL_LEDGER);

	/* once */
	batch(&w, 7, 1, 3);
	is_int(apply(s, &w), RS_OK, "a batch is applied");
	is_u64(allowed(s), 3, "  and counted");
	is_int(apply(s, &w), RS_OK, "the same batch again is answered");
	is_u64(allowed(s), 3, "  and not counted twice");
	rmw_free(&w);
	batch(&w, 7, 2, 4);
	is_int(apply(s, &w), RS_OK, "the next batch of that process");
	is_u64(allowed(s), 7, "  is counted");
	rmw_free(&w);
	batch(&w, 7, 1, 100);
	is_int(apply(s, &w), RS_OK, "an older batch, late");
	is_u64(allowed(s), 7, "  is not counted");
	rmw_free(&w);
	batch(&w, 8, 1, 10);
	is_int(apply(s, &w), RS_OK, "another process's first batch");
	is_u64(allowed(s), 17, "  is counted: marks are per process");
	rmw_free(&w);

	/* where the marks live */
	is_u64(marks(s), 2, "one mark a process, in the history table");
	is_u64(records(s, TBL_LEDGER), ledger_n, "the ledger has no record more");
	is_u64(records(s, TBL_HISTORY), 3, "the history: one day record and the two marks");

	/* a ledger flush in flight holds ledger pages; batches go on */
	if (store_txn_begin(s, &txn) != ST_OK ||
	    store_scan(s, txn, TBL_LEDGER, count_row, &n) != ST_OK ||
	    store_put(s, txn, TBL_LEDGER, "\0seq", 4, "y", 1, 0) != ST_OK) {
		diag("cannot lock the ledger: %s", store_errmsg(s));
		return 1;
	}
	ok(applies_beside(s, txn, 9, 1, &status), "a batch is applied while a ledger write is open");
	is_int(status, RS_OK, "  and answered ok");
	is_u64(allowed(s), 18, "  and counted");

	/* malformed: refused whole, nothing counted */
	batch(&w, 10, 1, 5);
	w.len -= 3;
	is_int(apply(s, &w), RS_REFUSED, "a cut batch is refused");
	is_u64(allowed(s), 18, "  and nothing of it is counted");
	rmw_free(&w);
	is_u64(marks(s), 3, "  nor marked");

	/* marks of processes gone for long go, the others stay */
	tally_prune_marks(s, (int64_t)time(NULL) - 3600, 0);
	is_u64(marks(s), 3, "marks written within the hour are kept");
	tally_prune_marks(s, (int64_t)time(NULL) + 3600, 1);
	is_u64(marks(s), 2, "pruning deletes at most max marks");
	tally_prune_marks(s, (int64_t)time(NULL) + 3600, 0);
	is_u64(marks(s), 0, "  and then the rest");
	is_u64(allowed(s), 18, "  and no day record");

	store_close(s);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("cannot remove %s", dir);
	test_many_ids();
	return done_testing();
}
