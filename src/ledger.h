/*
 * ledger.h - what organizations consumed, made durable.
 *
 * Requests count quota units and credits in the shared counter file
 * (counters.h), at memory speed and exactly across processes.  The
 * ledger is the durable copy, in Berkeley DB (TBL_LEDGER):
 *
 *   org id \0 instance  ->  the day, month and credit words that the
 *                           counter file with that instance id counted
 *   \0seq               ->  the flush sequence, bumped by every flush
 *   \0i instance        ->  the sequence of that file's last flush
 *   \0slots             ->  the size of the counter file (keygate init)
 *
 * Once a second one process per host (whoever holds counters.flush) copies
 * every changed count of its file into the ledger, in one transaction.  A
 * record only ever holds absolute values of one file, written by that
 * file's flushes, so a flush repeated after a crash writes the same
 * values again: nothing is ever counted twice.
 *
 * Each counter file starts from zero under a new instance id.  What an
 * organization has used is therefore what every other file flushed (the
 * slot's base, summed from the ledger when the file is made, and again
 * whenever a flush finds that another file flushed since) plus what this
 * file counted.  A lost file costs at most what it counted since its last
 * flush: about a second of consumption.
 *
 * A counter file is rebuilt (missing, damaged, truncated, or older than
 * the ledger, as after a restore from backup) under counters.lock: built
 * under a temporary name, its bases summed from the ledger, then renamed
 * into place, so that no process ever maps a half-made file.
 */
#ifndef KEYGATE_LEDGER_H
#define KEYGATE_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "counters.h"
#include "replmsg.h"
#include "store.h"

#define LEDGER_FLUSH_LOCK "counters.flush"

/* Why ledger_open_counters made a new file (for the log), or NULL. */
struct ledger_open_info {
	const char *rebuilt;
};

/*
 * The store's counter file: opened, or made anew from the ledger when it
 * is missing, not a counter file of this version, or older than the
 * ledger.  NULL with err set when neither works (the store then answers
 * 503: no decision can count).
 */
struct counters *ledger_open_counters(struct store *s, const char *dir,
    struct ledger_open_info *info, char *err, size_t errlen);

/* Records the counter file's size for later rebuilds (keygate init). */
int ledger_set_slots(struct store *s, uint32_t nslots, char *err, size_t errlen);

/*
 * Copies what changed in c into the ledger, unless another process of the
 * host is at it (then 0 at once).  1 when something was written, 0 when
 * nothing was to be, -1 with err set when the store refused (nothing is
 * lost: the counts stay in c and the next flush writes them).
 */
int ledger_flush(struct store *s, struct counters *c, const char *dir,
    int64_t now, char *err, size_t errlen);

/*
 * A replicated store's quotas and credits are the group's total, which a
 * host knows only while its flushes reach the master and bring the other
 * hosts' counts back (every UPKEEP_FLUSH_NS).  A host whose last complete
 * flush is older than LEDGER_REPORT_STALE_NS (the master gone, keygate-repd
 * reopening the store) would admit without bound: it answers 503 for
 * organizations with a quota until a flush completes again, so the
 * overshoot stays within what the hosts admit in that time.
 * It must outlast a healthy master's slowest answer, or a busy group
 * refuses for nothing: a flush waits up to 3 s for it (FLUSH_VALID_MS and
 * FLUSH_MARGIN_MS in keygate-repd.c: a commit waits up to 2 s for its
 * quorum, and a flush behind another's locks longer), and the next goes
 * 0.5 s later.  At 3 s, a replica under a saturating load answered 503 in
 * 3 runs of 11 (61,000-268,000 requests of 20 s), each after one such slow
 * answer; at 5 s, in none of 6.
 */
#define LEDGER_REPORT_STALE_NS (5 * NS_PER_S)
int ledger_reports_stale(struct counters *c);

/*
 * In a replicated store ledger_flush sends the flush to the master through
 * the host's keygate-repd, whose master writes it with this: the request
 * in r (read past its kind), its answer into w (the commit token, then
 * the sequence).  Absolute counts: a flush sent twice writes the same.
 */
void ledger_apply_flush(struct store *s, struct replmsg_r *r, struct replmsg_w *w);

/*
 * keygate-repd on the master: the history's 400 days (one batch a
 * call), and the batch marks of processes gone for a week.
 */
void ledger_upkeep(struct store *s, struct counters *c, int64_t now);

/*
 * A sequence record (struct ledger_seq_rec) under key in table tbl: the
 * ledger's bookkeeping, and the history's batch marks (tally.h).  A
 * missing one reads as 0; a damaged one is ST_ERROR.
 */
int ledger_seq_get(struct store *s, struct store_txn *t, enum store_tbl tbl, const void *key,
    size_t klen, uint64_t *seq, int rmw);
int ledger_seq_put(struct store *s, struct store_txn *t, enum store_tbl tbl, const void *key,
    size_t klen, uint64_t seq, int64_t now);

/* The key under which file instance stores org's counts (cap >= ID_MAX + 9). */
size_t ledger_org_key(const char *org, uint64_t instance, unsigned char *key);

#endif
