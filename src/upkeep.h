/*
 * upkeep.h - what every long-lived process that decides over a store does
 * besides deciding, whatever serves its requests (the FastCGI programs'
 * workers, service.c; a web server's process with the in-process module,
 * gate.c): failchk and lock expiry, key index repair, the ledger and
 * usage history flushes, and counting all of it in the metrics.
 *
 * One upkeep per process.  The caller runs these from its background
 * threads, holding its store handle shared (nothing here replaces the
 * handle); maintenance and flushes from different threads, so that a slow
 * commit never delays the failure check every other thread may wait for.
 */
#ifndef KEYGATE_UPKEEP_H
#define KEYGATE_UPKEEP_H

#include <pthread.h>
#include <stdint.h>

#include "ctx.h"
#include "metrics.h"
#include "tally.h"

struct upkeep {
	const char *dir;
	struct kg *kg;
	struct tally *tally;
	struct metrics **metrics;  /* the process's row (the owner replaces it) */
	void (*progress)(void);    /* during a long index rebuild: the watchdog's clock */
	/*
	 * The owner's store lock: held shared by its background threads,
	 * exclusive (upkeep_exclusive) where it replaces or closes what the
	 * lock guards.  A flush waiting for keygate-repd lets go of it
	 * (repllink.h), so a reopen never waits out the master's silence.
	 */
	pthread_rwlock_t *lock;
	/* upkeep's own */
	pthread_mutex_t flush_mu;  /* one flush at a time; taken before lock */
	uint64_t exclusive_turns;  /* under lock: how often it was held exclusive */
	uint64_t turns_seen;       /* the flush's, when it let go of lock */
	uint64_t index_failed_at;  /* kg_mono_ns(), 0: never */
	uint64_t ledger_logged_at, history_logged_at, slow_logged_at;
	uint64_t history_dropped;
	unsigned counted_recoveries, counted_rebuilds;
	unsigned flushes;          /* upkeep_flush() calls, for the history's turn */
};

/* A pass of a maintenance thread taking longer than this is logged. */
#define UPKEEP_SLOW_PASS_NS (2 * NS_PER_S)

/*
 * The watchdogs (service.c, gate.c) end the process sooner than their
 * `watchdog` period when a request or a maintenance pass has run this
 * long while another process recovered the store (its region files are
 * new: store_region_changed): it is inside the old environment, where
 * nothing it waits for will ever be released.  Seen through failovers:
 * keygate-repd died and recovered the store on its restart while a
 * worker's failchk and its request waited on the old regions' mutexes;
 * the worker answered nothing for 10 s.  A second is far longer than any
 * store call, and a reopen of our own forgets the old region first.
 * Flushes are left to their own limit: a forwarded flush waits for the
 * master outside the store.
 */
#define UPKEEP_OLD_REGION_NS NS_PER_S

/*
 * failchk and the expiry of lock waits.  0: the store is usable; -1: it
 * must be reopened (logged), and nothing else of the pass may run.
 */
int upkeep_store(struct upkeep *u);
/* Rebuilds a key index that is missing, from another boot or half written. */
void upkeep_repair_index(struct upkeep *u);
/*
 * How often an owner's flush thread calls upkeep_flush(): the ledger each
 * time, this process's history every UPKEEP_HISTORY_EVERY calls (once a
 * second).  Credits are money: what a crash of every process can hand out
 * again is what was counted since the last ledger flush, so that flush
 * runs twice as often as "at least once a second" asks (it writes only the
 * organizations counted in, a few records; the history, one record per
 * key and day, is the larger write).
 */
#define UPKEEP_FLUSH_NS (NS_PER_S / 2)
#define UPKEEP_HISTORY_EVERY 2

/* Before any other call: u->lock set, the rest zero. */
void upkeep_init(struct upkeep *u);
/*
 * The flush thread's turn: the ledger (one process per host at a time)
 * and, every other turn, the history, under u->lock held shared.  1 when
 * there is no store open (nothing was done), else 0.
 */
int upkeep_flush_turn(struct upkeep *u);
/*
 * Before a process that decides starts serving: in a replicated store, one
 * ledger flush right away.  A host none of whose processes flushed for
 * LEDGER_REPORT_STALE_NS (it was stopped, or its counter file is new)
 * would otherwise answer 503 for every organization with a quota until
 * the flush thread's first turn: it has nothing unreported, the group
 * just does not know that yet.  When the flush fails (no master), it
 * stays so, which is right.
 */
void upkeep_first_flush(struct upkeep *u);
/*
 * u->lock exclusive, for whatever replaces or closes what it guards
 * (a reopen, new counter or metrics files, the way out).
 */
void upkeep_exclusive(struct upkeep *u);
void upkeep_exclusive_end(struct upkeep *u);
/*
 * On the way out, in place of upkeep_exclusive: waits for a flush in
 * flight, takes the lock exclusive, and writes both tally buffers, then
 * the ledger: nothing is lost.  No flush turn runs after it; the caller
 * closes the store, then calls upkeep_exclusive_end().
 */
void upkeep_last_flush(struct upkeep *u);
/*
 * What the store handle did since last counted (recoveries, counter files
 * made anew), from its totals; opened: a new handle, whose totals start
 * from zero.  upkeep_count_totals: the same from totals the caller read.
 */
void upkeep_count_store_events(struct upkeep *u, int opened);
void upkeep_count_totals(struct upkeep *u, unsigned recoveries, unsigned rebuilds,
    int opened);

#endif
