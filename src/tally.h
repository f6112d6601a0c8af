/*
 * tally.h - usage history: per organization and per key, per UTC day,
 * the requests allowed and the requests denied by each code.
 *
 * Each process counts its own requests in memory (no shared state, no
 * store access on the request path) and writes what it counted to
 * TBL_HISTORY once a second, adding to the day's records.  Its counts
 * belong to it alone, so each is written exactly once: a process that
 * dies loses at most the second it had not written yet, and nothing is
 * ever added twice.  In a replicated store the master adds them: each
 * batch carries the process's random id and a sequence, which the
 * master records in the same transaction, so a batch sent again after a
 * lost answer is not added twice.
 *
 * Two buffers: requests count into the active one while the flush writes
 * the other.  Any number of threads may count at once (atomic adds; the
 * in-process server modules run many), one thread flushes.  A buffer
 * grows with the distinct ids a second brings, up to 122,880 entries
 * (tally.c); past that a request is left out and counted as dropped.
 * Forwarded, a buffer goes as batches of at most 8192 records.
 *
 * Records (TBL_HISTORY, sorted): day (4 bytes, big-endian, days since
 * 1970-01-01), 'o' or 'k', the org or key id -> struct history_rec.
 * Day first, so that pruning old days is a walk from the start.
 *
 * The same table holds the master's marks of forwarded batches: day
 * 0xffffffff (no day of the calendar: after every real one, out of reach
 * of pruning and of every reader of days), 'h', the process id (8 bytes,
 * big-endian) -> struct ledger_seq_rec, the last batch applied.  A mark
 * is written in its batch's transaction, in the table the batch writes
 * anyway, so that applying a batch locks nothing of any other table: the
 * master holds a transaction's locks until a quorum has acknowledged it,
 * and marks kept in TBL_LEDGER (as before 0.1.0 was released), whose
 * pages every ledger flush writes, made each flush of every host wait
 * for the batches in flight.
 */
#ifndef KEYGATE_TALLY_H
#define KEYGATE_TALLY_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"
#include "replmsg.h"
#include "store.h"

/* Kept at least this long (what keygate usage --daily promises), then pruned. */
#define HISTORY_KEEP_DAYS 400
#define HISTORY_KEY_MAX (4 + 1 + ID_MAX)

enum tally_kind { TALLY_ORG = 'o', TALLY_KEY = 'k', TALLY_MARK = 'h' };

#define TALLY_MARK_LEN 13 /* day 0xffffffff, 'h', process id */
/* A batch mark's key, or its first 5 bytes when proc is NULL (the marks' prefix). */
size_t tally_mark_key(const uint64_t *proc, unsigned char key[TALLY_MARK_LEN]);
/* Whether a history key is a batch mark (db check counts them apart). */
int tally_is_mark(const unsigned char *key, size_t len);

struct tally;

struct tally *tally_new(void);
void tally_free(struct tally *t);

/*
 * Counts one request of org (and key, when not NULL) on the UTC day of
 * now_s under counter which; quota_unit: it also counted against the
 * organization's quota (H_QUOTA).
 */
void tally_count(struct tally *t, const char *org, const char *key_id,
    enum hist_counter which, int quota_unit, int64_t now_s);

/*
 * Writes what the inactive buffer holds, after making it so (on a
 * replica: sends it to the master).  The number of records written or
 * sent (0: nothing to write), or -1 with err set: what could not be
 * written is kept for the next flush.
 * Requests that found no room since the last flush: *dropped (may be NULL).
 */
int tally_flush(struct tally *t, struct store *s, uint64_t *dropped,
    char *err, size_t errlen);

/*
 * In a replicated store tally_flush sends the batch to the master through
 * the host's keygate-repd, whose master adds it with this, once per
 * (process, batch): the request in r (read past its kind), the answer
 * into w.
 */
void tally_apply(struct store *s, struct replmsg_r *r, struct replmsg_w *w);

/* The history key of (day, kind, id) in key (HISTORY_KEY_MAX bytes): its length. */
size_t tally_key(int64_t day, enum tally_kind kind, const char *id, unsigned char *key);
/*
 * The history of one day of an org or key, as readers see it: ST_OK with
 * zeros for a day nothing was counted, ST_ERROR for a damaged record (db
 * check names it), or the store's failure.
 */
int tally_read_day(struct store *s, int64_t day, enum tally_kind kind, const char *id,
    struct history_rec *h);
/* The parts of a history key; -1 when it is not one. */
int tally_parse_key(const unsigned char *key, size_t len, int64_t *day,
    enum tally_kind *kind, char id[ID_MAX + 1]);

/*
 * Deletes every history record of a day before `before` (days since the
 * epoch), at most max of them (0: all), in txn (NULL: a transaction of
 * its own).  ST_*; *deleted counts them.
 */
int tally_prune(struct store *s, struct store_txn *txn, int64_t before, uint64_t max,
    uint64_t *deleted);

/*
 * Deletes the batch marks last written before `before` (seconds since the
 * epoch), at most max of them (0: all): the marks of processes long gone.
 */
void tally_prune_marks(struct store *s, int64_t before, size_t max);

#endif
