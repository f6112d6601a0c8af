/*
 * metrics.h - what the FastCGI programs count, for Prometheus: requests by
 * program, status and code, the latency of their answers as a histogram,
 * and the events of the store's upkeep (reopenings, recoveries, rebuilds,
 * flushes, worker restarts).
 *
 * The counts live in a file of the store directory (METRICS_FILE), mapped
 * MAP_SHARED.  Each process claims a row of it when it starts and is the
 * only one to write there: a request costs two additions in one cache line
 * of memory no other process writes, no lock and no system call.  Readers
 * (`keygate metrics`, the API's GET /metrics) add the rows up.  A row whose
 * process died keeps its counts until the next process to start folds them
 * into the retired rows, so no sum ever goes down (see metrics.c).
 *
 * The file is derived state: made when missing or unusable, and a process
 * that finds it replaced or truncated maps the new one (its counts start
 * again from zero, which Prometheus reads as a counter reset).
 */
#ifndef KEYGATE_METRICS_H
#define KEYGATE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "decision.h"

#define METRICS_FILE "metrics"
#define METRICS_LOCK "metrics.lock" /* held while the file is made, a row claimed or folded */

/* The programs that count, each its own `program` label (their names). */
enum metrics_program { METRICS_AUTHZ, METRICS_API, METRICS_PROGRAMS };

/* Events, each a counter per program (names and meaning: metrics.c, keygate-authz(8)). */
enum metrics_event {
	ME_STORE_REOPENS,
	ME_STORE_REOPEN_FAILURES,
	ME_STORE_RECOVERIES,
	ME_INDEX_REBUILDS,
	ME_INDEX_REBUILD_FAILURES,
	ME_COUNTERS_REBUILDS,
	ME_WORKER_RESTARTS,
	ME_LEDGER_FLUSHES,
	ME_LEDGER_FLUSH_FAILURES,
	ME_HISTORY_FLUSHES,
	ME_HISTORY_FLUSH_FAILURES,
	ME_HISTORY_DROPPED,
	METRICS_EVENTS
};

/* Latency buckets: 1, 2, 5 us ... 500 ms, 1 s (19 bounds), then +Inf. */
#define METRICS_BUCKETS 20

/* The longest text metrics_render writes (unit-tested with every count at its maximum). */
#define METRICS_TEXT_MAX 32768
/* What that text is, for HTTP (the exposition format's version) */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4"

struct metrics;

/*
 * Opens dir's metrics file for counting as program (a name of
 * metrics_program_name(), e.g. "keygate-authz") and claims this process's
 * row; makes the file when it is missing or unusable.  NULL with err set
 * when it cannot: counting calls take NULL and count nothing (metrics
 * never stand between a request and its answer).
 */
struct metrics *metrics_open(const char *dir, const char *program, char *err,
    size_t errlen);
/*
 * Opens dir's metrics file for reading only (`keygate metrics`): NULL with
 * err set, and errno ENOENT when there is no file (nothing counted yet).
 */
struct metrics *metrics_open_read(const char *dir, char *err, size_t errlen);
/* Unmaps; the row stays with its counts, folded once its process is gone. */
void metrics_close(struct metrics *m);
/*
 * Whether m no longer counts into dir's file: the file was replaced,
 * removed or truncated (the SIGBUS that caused is caught, mapguard.h).
 * The owner then closes m and opens the file again.
 */
int metrics_replaced(const struct metrics *m, const char *dir);

/*
 * One request answered with verdict outcome (decision.h; the status and
 * code come from decision_info()) in ns nanoseconds.  From one thread of
 * the process only (the row's request counts have a single writer).
 */
void metrics_request(struct metrics *m, unsigned outcome, uint64_t ns);
/* The same from any thread (atomic adds): a web server module's many threads share a row. */
void metrics_request_shared(struct metrics *m, unsigned outcome, uint64_t ns);
/* n more of event e; from any thread. */
void metrics_event(struct metrics *m, enum metrics_event e, uint64_t n);
/*
 * The replication lag of this host's copy of the store, in nanoseconds
 * (keygate-repd's): shown only once set.
 */
void metrics_set_replication_lag(struct metrics *m, uint64_t ns);

/* The sums over every row: what a reader shows. */
struct metrics_snapshot {
	/* per latency bucket, not cumulative; a verdict's requests are its buckets' sum */
	uint64_t bucket[METRICS_PROGRAMS][DECISION_OUTCOMES][METRICS_BUCKETS];
	uint64_t sum_ns[METRICS_PROGRAMS][DECISION_OUTCOMES];
	uint64_t event[METRICS_PROGRAMS][METRICS_EVENTS];
	int has_replication_lag;
	uint64_t replication_lag_ns;
};

/* Adds every row up, consistently with folds in progress; 0, or -1 (the file faulted). */
int metrics_read(struct metrics *m, struct metrics_snapshot *s);
/* Requests of program p answered with verdict v. */
uint64_t metrics_requests(const struct metrics_snapshot *s, unsigned p, unsigned v);

/*
 * The Prometheus text exposition (version 0.0.4) of s, or of m's file:
 * its length, or -1 when it does not fit cap (never a truncated text) or
 * m's file could not be read.  For `keygate metrics` and GET /metrics.
 */
int metrics_format(const struct metrics_snapshot *s, char *buf, size_t cap);
int metrics_render(struct metrics *m, char *buf, size_t cap);

/* "keygate-authz", "keygate-api": the program label of p. */
const char *metrics_program_name(enum metrics_program p);

#endif
