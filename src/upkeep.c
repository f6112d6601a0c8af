/*
 * upkeep.c - a deciding process's duties besides deciding (see upkeep.h).
 */
#include "config.h"

#include "keyindex.h"
#include "ledger.h"
#include "log.h"
#include "repllink.h"
#include "upkeep.h"

void
upkeep_init(struct upkeep *u)
{
	pthread_mutex_init(&u->flush_mu, NULL);
}

void
upkeep_exclusive(struct upkeep *u)
{
	pthread_rwlock_wrlock(u->lock);
	u->exclusive_turns++;
}

void
upkeep_exclusive_end(struct upkeep *u)
{
	pthread_rwlock_unlock(u->lock);
}

/*
 * A key index that is missing, from an earlier boot, or left half written
 * by a writer that died sends every request to the store: rebuild it,
 * unless another process holds it (a CLI command, another process at the
 * same repair).  Progress keeps the watchdog away on a large store.  A
 * rebuild that failed is tried again a minute later.
 */
#define INDEX_REPAIR_RETRY_NS (60 * NS_PER_S)

void
upkeep_repair_index(struct upkeep *u)
{
	struct keyindex_anchor *a;
	struct keyindex *x;
	char err[600];
	uint64_t t0;
	int busy;

	if (u->kg->counters == NULL)
		return;
	a = counters_index_anchor(u->kg->counters);
	if (keyindex_usable(u->dir, a) ||
	    (u->index_failed_at != 0 && kg_mono_ns() - u->index_failed_at < INDEX_REPAIR_RETRY_NS))
		return;
	if ((x = keyindex_lock(u->dir, a, 1, &busy, err, sizeof err)) == NULL) {
		if (!busy) {
			log_warnx("key index: %s", err);
			u->index_failed_at = kg_mono_ns();
		}
		return;
	}
	if (!keyindex_needs_rebuild(x)) { /* a writer finished meanwhile */
		keyindex_end(x, u->kg->store, NULL, err, sizeof err);
		return;
	}
	t0 = kg_mono_ns();
	if (keyindex_end(x, u->kg->store, u->progress, err, sizeof err) == 0) {
		metrics_event(*u->metrics, ME_INDEX_REBUILDS, 1);
		log_info("key index rebuilt in %llu ms",
		    (unsigned long long)((kg_mono_ns() - t0) / 1000000));
	} else {
		metrics_event(*u->metrics, ME_INDEX_REBUILD_FAILURES, 1);
		log_warnx("key index rebuild failed: %s; requests read the store", err);
		u->index_failed_at = kg_mono_ns();
	}
}

int
upkeep_store(struct upkeep *u)
{
	if (!store_broken(u->kg->store) && store_maintain(u->kg->store) == ST_RECOVER)
		log_warnx("store needs recovery: %s; reopening it", store_errmsg(u->kg->store));
	return store_broken(u->kg->store) ? -1 : 0;
}

/*
 * Flush failures are logged once a minute: the first, then one a minute
 * (monotonic).  A store that refuses (disk full) keeps the counts for the
 * next flush.
 */
#define FLUSH_LOG_EVERY_NS (60 * NS_PER_S)

static int
flush_log_due(uint64_t *logged_at)
{
	uint64_t now = kg_mono_ns();

	if (*logged_at != 0 && now - *logged_at < FLUSH_LOG_EVERY_NS)
		return 0;
	*logged_at = now;
	return 1;
}

/* What organizations consumed, to the ledger (one process of the host at a time does it). */
static void
flush_ledger(struct upkeep *u)
{
	char err[600];
	int rc;

	if (u->kg->counters == NULL)
		return;
	rc = ledger_flush(u->kg->store, u->kg->counters, u->dir, kg_now(), err, sizeof err);
	metrics_event(*u->metrics, rc < 0 ? ME_LEDGER_FLUSH_FAILURES : ME_LEDGER_FLUSHES, rc != 0);
	if (rc < 0 && flush_log_due(&u->ledger_logged_at))
		log_warnx("ledger flush failed (retried every second): %s", err);
}

/*
 * This process's usage history; what the store refuses stays for the
 * next try.  Both failures and requests that found no room in the tally
 * are logged once a minute.
 */
static void
flush_history(struct upkeep *u)
{
	uint64_t dropped = 0;
	char err[600];
	int rc;

	rc = tally_flush(u->tally, u->kg->store, &dropped, err, sizeof err);
	metrics_event(*u->metrics, rc < 0 ? ME_HISTORY_FLUSH_FAILURES : ME_HISTORY_FLUSHES, rc != 0);
	metrics_event(*u->metrics, ME_HISTORY_DROPPED, dropped);
	u->history_dropped += dropped;
	if ((rc < 0 || u->history_dropped > 0) && flush_log_due(&u->history_logged_at)) {
		if (rc < 0)
			log_warnx("%s (retried every second)", err);
		if (u->history_dropped > 0)
			log_warnx("usage history: %llu requests found no room in this "
			    "second's tally and are not in the history",
			    (unsigned long long)u->history_dropped);
		u->history_dropped = 0;
	}
}

/* repllink_call's wait: without the store lock (repllink.h) */
static void
wait_release(void *arg)
{
	struct upkeep *u = arg;

	u->turns_seen = u->exclusive_turns;
	pthread_rwlock_unlock(u->lock);
}

static int
wait_reacquire(void *arg)
{
	struct upkeep *u = arg;

	pthread_rwlock_rdlock(u->lock);
	return u->exclusive_turns != u->turns_seen;
}

static void
flush(struct upkeep *u)
{
	uint64_t t0, t1, turns = u->exclusive_turns;

	if (store_broken(u->kg->store))
		return;
	t0 = kg_mono_ns();
	flush_ledger(u);
	t1 = kg_mono_ns();
	/* replaced while the ledger waited for the master: the next turn */
	if (u->exclusive_turns != turns || u->kg->store == NULL || store_broken(u->kg->store))
		return;
	if (++u->flushes % UPKEEP_HISTORY_EVERY == 0)
		flush_history(u);
	if (kg_mono_ns() - t0 > UPKEEP_SLOW_PASS_NS && flush_log_due(&u->slow_logged_at))
		log_warnx("a flush took %llu ms (ledger %llu, history %llu): "
		    "the store is slow to commit",
		    (unsigned long long)((kg_mono_ns() - t0) / 1000000),
		    (unsigned long long)((t1 - t0) / 1000000),
		    (unsigned long long)((kg_mono_ns() - t1) / 1000000));
}

int
upkeep_flush_turn(struct upkeep *u)
{
	const struct repllink_wait w = {wait_release, wait_reacquire, u};
	int closed;

	pthread_mutex_lock(&u->flush_mu);
	pthread_rwlock_rdlock(u->lock);
	if (!(closed = u->kg->store == NULL)) {
		repllink_wait_hook(&w);
		flush(u);
		repllink_wait_hook(NULL);
	}
	pthread_rwlock_unlock(u->lock);
	pthread_mutex_unlock(&u->flush_mu);
	return closed;
}

void
upkeep_first_flush(struct upkeep *u)
{
	if (u->kg->store != NULL && store_replicated(u->kg->store))
		flush_ledger(u);
}

void
upkeep_last_flush(struct upkeep *u)
{
	/* never released: the process is on its way out */
	pthread_mutex_lock(&u->flush_mu);
	upkeep_exclusive(u);
	if (u->kg->store == NULL || store_broken(u->kg->store))
		return;
	flush_history(u);
	flush_history(u);
	flush_ledger(u);
}

void
upkeep_count_totals(struct upkeep *u, unsigned recoveries, unsigned rebuilds, int opened)
{
	if (opened)
		u->counted_recoveries = u->counted_rebuilds = 0;
	metrics_event(*u->metrics, ME_STORE_RECOVERIES, recoveries - u->counted_recoveries);
	metrics_event(*u->metrics, ME_COUNTERS_REBUILDS, rebuilds - u->counted_rebuilds);
	u->counted_recoveries = recoveries;
	u->counted_rebuilds = rebuilds;
}

void
upkeep_count_store_events(struct upkeep *u, int opened)
{
	upkeep_count_totals(u, store_recoveries(u->kg->store), u->kg->counters_rebuilt, opened);
}
