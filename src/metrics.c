/*
 * metrics.c - the shared metrics file.
 *
 * Layout: a 4 KiB header (the layout's numbers; on its second cache line
 * the fold word, on its third the replication lag), then two sets of
 * retired rows (one row per program in each), then ROWS process rows.
 * A row is an array of 64-bit words:
 *
 *   line 0        owner (pid | start time << 22; 0: free), program
 *   lines 1-2     one counter per event
 *   3 lines each  per verdict of decision.c: the sum of its latencies in
 *                 ns, then its METRICS_BUCKETS latency buckets
 *
 * A request adds to its verdict's sum and to one bucket: for any answer
 * within 100 us both are in the verdict's first line.  A verdict's count
 * is the sum of its buckets, so that the requests by code and the
 * histogram's count can never disagree.  The process that owns a row is
 * its only writer (relaxed loads and stores for the request counts, one
 * thread; atomic adds for events, from any thread).
 *
 * Claiming: under METRICS_LOCK, a process folds every row whose owner is
 * dead, then takes a free row by compare-and-swap on its owner word.  An
 * owner is dead when kill(pid, 0) says there is no such process, or when
 * /proc/PID/stat shows another start time (the pid was reused) or a
 * zombie.  Anything less certain (a process we may not see) counts as
 * alive: folding a live row would lose its later counts, while keeping a
 * dead one only keeps a row busy.  Pids mean the same to every process
 * of a store, as for Berkeley DB's DB_REGISTER.
 *
 * Folding, and why a reader never sees a sum go down: the retired counts
 * exist twice, and the fold word says which copy is current, which row is
 * being emptied (if any), and a generation.  Under the lock, a folder of
 * row R writes current + R into the other copy (which no reader uses),
 * then in one store of the fold word makes that copy current and excludes
 * R, then zeroes R, then in one more store stops excluding it, then frees
 * it.  A reader adds the current copy and every row but the excluded one
 * between two loads of the fold word, and starts again when it moved (a
 * seqlock whose writer is the rare folder): every sum it returns counts
 * R's counts exactly once.  A folder that dies leaves either the other
 * copy half written and unpublished (the next folder writes it again from
 * the current one), or R excluded (the next folder finishes zeroing it),
 * or R zeroed and still owned by its dead process (folded again: adding
 * zeros).  So a fold is done exactly once whatever is killed when.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mapguard.h"
#include "metrics.h"
#include "pathname.h"

#define METRICS_MAGIC "KGMETRIC"
/*
 * The layout follows decision.c's outcomes: adding one makes files of
 * this version unusable, so bump the version with this number (a process
 * never replaces a file of a newer version: old and new processes of an
 * upgrade do not take turns at making it anew).
 */
#define METRICS_VERSION 2
_Static_assert(DECISION_OUTCOMES == 20, "a new answer changes the metrics layout: bump METRICS_VERSION");

#define HEADER_SIZE 4096
#define FOLD_OFFSET 64  /* the fold word: its own cache line */
#define LAG_OFFSET 128  /* the replication lag in ns + 1; 0: not set */
/* Two programs at CONF_WORKERS_MAX (256) workers each, and as many rows of dead processes. */
#define ROWS 1024

#define OWNER_PID_BITS 22 /* PID_MAX_LIMIT on 64-bit Linux is 2^22 */
#define OWNER_PID_MASK ((UINT64_C(1) << OWNER_PID_BITS) - 1)
#define START_LIMIT (UINT64_C(1) << (64 - OWNER_PID_BITS)) /* clock ticks: 1,393 years at 100 Hz */

#define ROW_OWNER 0
#define ROW_PROGRAM 1
#define ROW_EVENTS 8
#define EVENT_WORDS 16
#define ROW_OUTCOMES (ROW_EVENTS + EVENT_WORDS)
#define OUTCOME_WORDS 24 /* the sum, the buckets, padding: three cache lines */
#define OUTCOME_SUM 0
#define OUTCOME_BUCKET0 1
#define ROW_WORDS (ROW_OUTCOMES + DECISION_OUTCOMES * OUTCOME_WORDS)
#define ROW_BYTES (ROW_WORDS * sizeof(uint64_t))

_Static_assert(METRICS_EVENTS <= EVENT_WORDS, "the events fit their two lines");
_Static_assert(OUTCOME_BUCKET0 + METRICS_BUCKETS <= OUTCOME_WORDS, "a verdict's words fit its lines");
_Static_assert(ROW_BYTES % 64 == 0 && HEADER_SIZE % 64 == 0, "rows start on a cache line");

/* The fold word: generation (32 bits), current retired copy (1), excluded row + 1 (0: none). */
#define FOLD_GEN(w) ((uint32_t)(w))
#define FOLD_SEL(w) ((unsigned)((w) >> 32) & 1u)
#define FOLD_ROW(w) ((uint64_t)(w) >> 33)

/*
 * A reader tries again when a fold moved under it; folds are rare and
 * take microseconds, but a process that starts after many died folds
 * them back to back: after the first tries it waits a little in between,
 * and gives up after about a second.
 */
#define READ_TRIES 1000
#define READ_QUICK_TRIES 10
#define READ_PAUSE_NS 1000000
/* How long a process waits for the lock before it does without metrics. */
#define LOCK_WAIT_MS 2000

struct metrics_header {
	char magic[8];
	uint32_t version;
	uint32_t rows;
	uint32_t row_bytes;
	uint32_t programs;
	uint32_t outcomes;
	uint32_t buckets;
	uint32_t events;
	uint32_t unused;
	int64_t created_at;
};
_Static_assert(sizeof(struct metrics_header) <= FOLD_OFFSET, "the header ends before the fold word");

struct metrics {
	void *map;
	size_t maplen;
	uint64_t *fold, *lag;
	uint64_t *retired; /* [2][METRICS_PROGRAMS] rows */
	uint64_t *rows;    /* [ROWS] */
	uint64_t *row;     /* this process's, NULL for a reader */
	dev_t dev;
	ino_t ino;
	struct mapguard guard;
};

static const char *const program_names[METRICS_PROGRAMS] = {
	[METRICS_AUTHZ] = "keygate-authz",
	[METRICS_API] = "keygate-api",
};

/* Upper bounds of the latency buckets (Prometheus's le), in ns; the last bucket is +Inf. */
static const uint64_t bucket_ns[METRICS_BUCKETS - 1] = {
	1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000,
	1000000, 2000000, 5000000, 10000000, 20000000, 50000000, 100000000,
	200000000, 500000000, 1000000000,
};

static const struct {
	const char *name, *help;
} event_info[METRICS_EVENTS] = {
	[ME_STORE_REOPENS] = {"keygate_store_reopens_total",
	    "Times a worker reopened the store after Berkeley DB declared it in need of recovery."},
	[ME_STORE_REOPEN_FAILURES] = {"keygate_store_reopen_failures_total",
	    "Reopenings of the store that failed (tried again; requests meanwhile are answered 503)."},
	[ME_STORE_RECOVERIES] = {"keygate_store_recoveries_total",
	    "Opens and reopens of the store that ran Berkeley DB recovery (a process had died in it)."},
	[ME_INDEX_REBUILDS] = {"keygate_key_index_rebuilds_total",
	    "Key indexes rebuilt by a worker (missing, from an earlier boot, or left half written)."},
	[ME_INDEX_REBUILD_FAILURES] = {"keygate_key_index_rebuild_failures_total",
	    "Key index rebuilds that failed (requests read the store until one succeeds)."},
	[ME_COUNTERS_REBUILDS] = {"keygate_counters_file_rebuilds_total",
	    "Counter files made anew from the ledger (missing, damaged, truncated or older than the ledger)."},
	[ME_WORKER_RESTARTS] = {"keygate_worker_restarts_total",
	    "Workers that exited and were started again by their master."},
	[ME_LEDGER_FLUSHES] = {"keygate_ledger_flushes_total",
	    "Flushes that wrote organizations' consumption to the ledger."},
	[ME_LEDGER_FLUSH_FAILURES] = {"keygate_ledger_flush_failures_total",
	    "Ledger flushes the store refused (the counts stay in the counter file for the next one)."},
	[ME_HISTORY_FLUSHES] = {"keygate_history_flushes_total",
	    "Flushes that wrote a worker's usage history to the store."},
	[ME_HISTORY_FLUSH_FAILURES] = {"keygate_history_flush_failures_total",
	    "Usage history flushes the store refused (kept for the next one)."},
	[ME_HISTORY_DROPPED] = {"keygate_history_dropped_total",
	    "Requests left out of the usage history: their second's tally had no room."},
};

const char *
metrics_program_name(enum metrics_program p)
{
	return (unsigned)p < METRICS_PROGRAMS ? program_names[p] : "?";
}

static int
program_index(const char *name)
{
	int p;

	for (p = 0; p < METRICS_PROGRAMS; p++)
		if (strcmp(name, program_names[p]) == 0)
			return p;
	return -1;
}

static uint64_t
file_size(void)
{
	return HEADER_SIZE + (uint64_t)(2 * METRICS_PROGRAMS + ROWS) * ROW_BYTES;
}

static uint64_t *
row_at(uint64_t *base, size_t i)
{
	return base + i * ROW_WORDS;
}

static uint64_t *
retired_row(struct metrics *m, unsigned copy, unsigned program)
{
	return row_at(m->retired, (size_t)copy * METRICS_PROGRAMS + program);
}

static uint64_t
load(const uint64_t *w)
{
	return __atomic_load_n(w, __ATOMIC_RELAXED);
}

static void
store(uint64_t *w, uint64_t v)
{
	__atomic_store_n(w, v, __ATOMIC_RELAXED);
}

/* ---- who owns a row ---- */

/*
 * Fields 3 (state) and 22 (start time, clock ticks since boot) of a
 * /proc/PID/stat line.  The command name (field 2) is in parentheses and
 * may hold any byte, ')' included: the fields start after the last ')'.
 */
static int
parse_stat(const char *buf, size_t len, char *state, uint64_t *start)
{
	const char *p = NULL, *end = buf + len;
	uint64_t v = 0;
	size_t i, digits = 0;
	int field;

	for (i = len; i > 0 && p == NULL; i--)
		if (buf[i - 1] == ')')
			p = buf + i;
	if (p == NULL || end - p < 3 || p[0] != ' ' || p[1] == ' ')
		return -1;
	*state = p[1];
	p += 2;
	for (field = 4; field < 22; field++) {
		if (p >= end || *p != ' ' || p + 1 >= end || p[1] == ' ')
			return -1;
		for (p++; p < end && *p != ' '; p++)
			;
	}
	if (p >= end || *p != ' ')
		return -1;
	for (p++; p < end && *p >= '0' && *p <= '9'; p++, digits++) {
		if (v > (START_LIMIT - 1 - (uint64_t)(*p - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (digits == 0 || (p < end && *p != ' ' && *p != '\n'))
		return -1;
	*start = v;
	return 0;
}

/* pid: a number, or "self". */
static int
read_stat(const char *pid, char *state, uint64_t *start)
{
	char path[64], buf[1024];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%s/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof buf);
	close(fd);
	if (n <= 0 || parse_stat(buf, (size_t)n, state, start) != 0) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* This process's owner word. */
static int
owner_self(uint64_t *owner)
{
	uint64_t start;
	pid_t pid = getpid();
	char state;

	if (read_stat("self", &state, &start) != 0)
		return -1;
	if ((uint64_t)pid > OWNER_PID_MASK) {
		errno = ERANGE;
		return -1;
	}
	*owner = start << OWNER_PID_BITS | (uint64_t)pid;
	return 0;
}

/* Certainly dead (see the top of the file); a doubt is life. */
static int
owner_dead(uint64_t owner)
{
	pid_t pid = (pid_t)(owner & OWNER_PID_MASK);
	uint64_t start;
	char spid[24], state;

	if (pid <= 0)
		return 1; /* no process writes a row with that owner */
	if (kill(pid, 0) != 0 && errno == ESRCH)
		return 1;
	snprintf(spid, sizeof spid, "%ld", (long)pid);
	if (read_stat(spid, &state, &start) != 0)
		return 0; /* gone this instant (the next claim folds it), or hidden from us */
	return start != owner >> OWNER_PID_BITS || state == 'Z' || state == 'X';
}

/* ---- folding ---- */

static uint64_t
fold_word(uint32_t gen, unsigned copy, uint64_t excluded)
{
	return (uint64_t)gen | (uint64_t)copy << 32 | excluded << 33;
}

static void
publish(struct metrics *m, uint64_t w)
{
	__atomic_store_n(m->fold, w, __ATOMIC_RELEASE);
}

/* Zeroes the excluded row of w, stops excluding it, frees it. */
static void
fold_finish(struct metrics *m, uint64_t w)
{
	uint64_t excluded = FOLD_ROW(w), *r;
	size_t k;

	if (excluded >= 1 && excluded <= ROWS) {
		r = row_at(m->rows, (size_t)(excluded - 1));
		for (k = ROW_PROGRAM; k < ROW_WORDS; k++)
			store(&r[k], 0);
		publish(m, fold_word(FOLD_GEN(w) + 1, FOLD_SEL(w), 0));
		__atomic_store_n(&r[ROW_OWNER], 0, __ATOMIC_RELEASE);
	} else {
		publish(m, fold_word(FOLD_GEN(w) + 1, FOLD_SEL(w), 0));
	}
}

/* Adds row i to the other retired copy and makes that copy current. */
static void
fold_add(struct metrics *m, size_t i)
{
	uint64_t w = __atomic_load_n(m->fold, __ATOMIC_ACQUIRE), *r = row_at(m->rows, i);
	uint64_t program = load(&r[ROW_PROGRAM]);
	unsigned cur = FOLD_SEL(w), p;
	size_t k;

	for (p = 0; p < METRICS_PROGRAMS; p++) {
		uint64_t *from = retired_row(m, cur, p), *to = retired_row(m, !cur, p);

		for (k = ROW_EVENTS; k < ROW_WORDS; k++)
			store(&to[k], load(&from[k]) + (p == program ? load(&r[k]) : 0));
	}
	publish(m, fold_word(FOLD_GEN(w) + 1, !cur, (uint64_t)i + 1));
}

static void
fold_row(struct metrics *m, size_t i)
{
	fold_add(m, i);
	fold_finish(m, __atomic_load_n(m->fold, __ATOMIC_ACQUIRE));
}

/* Under the lock: a fold that a dead folder left half done, then every dead row. */
static void
fold_dead(struct metrics *m)
{
	uint64_t w = __atomic_load_n(m->fold, __ATOMIC_ACQUIRE), owner;
	size_t i;

	if (FOLD_ROW(w) != 0)
		fold_finish(m, w);
	for (i = 0; i < ROWS; i++) {
		owner = __atomic_load_n(&row_at(m->rows, i)[ROW_OWNER], __ATOMIC_ACQUIRE);
		if (owner != 0 && owner_dead(owner))
			fold_row(m, i);
	}
}

/* Under the lock: folds the dead, then takes a free row. */
static int
claim(struct metrics *m, uint64_t owner, unsigned program)
{
	size_t i;

	fold_dead(m);
	for (i = 0; i < ROWS; i++) {
		uint64_t *r = row_at(m->rows, i), free_owner = 0;

		if (load(&r[ROW_OWNER]) != 0)
			continue;
		/* only claimers write a free row's program, and they hold the lock */
		store(&r[ROW_PROGRAM], program);
		if (__atomic_compare_exchange_n(&r[ROW_OWNER], &free_owner, owner, 0,
		    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
			m->row = r;
			return 0;
		}
	}
	return -1;
}

/* ---- the file ---- */

enum file_state { FILE_OK, FILE_MISSING, FILE_BAD, FILE_NEWER };

static void
header_init(struct metrics_header *h)
{
	memset(h, 0, sizeof *h);
	memcpy(h->magic, METRICS_MAGIC, 8);
	h->version = METRICS_VERSION;
	h->rows = ROWS;
	h->row_bytes = (uint32_t)ROW_BYTES;
	h->programs = METRICS_PROGRAMS;
	h->outcomes = DECISION_OUTCOMES;
	h->buckets = METRICS_BUCKETS;
	h->events = METRICS_EVENTS;
}

static enum file_state
header_check(const struct metrics_header *h, const struct stat *st)
{
	struct metrics_header want;

	header_init(&want);
	if (memcmp(h->magic, want.magic, sizeof want.magic) != 0)
		return FILE_BAD;
	if (h->version > METRICS_VERSION)
		return FILE_NEWER;
	if (h->version != want.version || h->rows != want.rows ||
	    h->row_bytes != want.row_bytes || h->programs != want.programs ||
	    h->outcomes != want.outcomes || h->buckets != want.buckets ||
	    h->events != want.events || (uint64_t)st->st_size != file_size())
		return FILE_BAD;
	return FILE_OK;
}

static int
path_of(const char *dir, const char *name, char *buf, size_t n)
{
	return snprintf(buf, n, "%s/%s", dir, name) < (int)n ? 0 : -1;
}

/* Maps dir's file; FILE_OK and *out, or why not (err set). */
static enum file_state
map_file(const char *dir, int writable, struct metrics **out, char *err, size_t errlen)
{
	char path[PATHNAME_BUF];
	struct metrics_header h;
	enum file_state state;
	struct metrics *m;
	struct stat st;
	int fd;

	if (path_of(dir, METRICS_FILE, path, sizeof path) != 0) {
		snprintf(err, errlen, "the store path is too long");
		return FILE_BAD;
	}
	if ((fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot open %s: %s", path, strerror(e));
		errno = e;
		return e == ENOENT ? FILE_MISSING : FILE_BAD;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
		state = FILE_BAD;
	else
		state = header_check(&h, &st);
	if (state != FILE_OK) {
		snprintf(err, errlen, "%s is not a keygate metrics file of this version%s", path,
		    state == FILE_NEWER ? " (a newer keygate made it)" : "");
		close(fd);
		errno = EINVAL;
		return state;
	}
	if ((m = calloc(1, sizeof *m)) == NULL) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return FILE_BAD;
	}
	m->maplen = (size_t)st.st_size;
	m->map = mmap(NULL, m->maplen, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
	close(fd);
	if (m->map == MAP_FAILED) {
		snprintf(err, errlen, "cannot map %s: %s", path, strerror(errno));
		free(m);
		return FILE_BAD;
	}
	if (mapguard_add(&m->guard, m->map, m->maplen) != 0) {
		snprintf(err, errlen, "cannot map %s: too many mapped files", path);
		munmap(m->map, m->maplen);
		free(m);
		return FILE_BAD;
	}
	m->fold = (uint64_t *)((char *)m->map + FOLD_OFFSET);
	m->lag = (uint64_t *)((char *)m->map + LAG_OFFSET);
	m->retired = (uint64_t *)((char *)m->map + HEADER_SIZE);
	m->rows = row_at(m->retired, 2 * METRICS_PROGRAMS);
	m->dev = st.st_dev;
	m->ino = st.st_ino;
	*out = m;
	return FILE_OK;
}

/*
 * Under the lock: a new file under a temporary name, renamed into place,
 * so that no process maps a half-made one.  Allocated, not sparse: a hole
 * of a mapped file touched on a full file system raises SIGBUS.  No fsync:
 * a file lost or torn by a crash is unusable, and made again.
 */
static int
create_file(const char *dir, char *err, size_t errlen)
{
	char tmp[PATHNAME_BUF], path[PATHNAME_BUF];
	struct metrics_header h;
	int fd, rc;

	if (path_of(dir, METRICS_FILE ".new", tmp, sizeof tmp) != 0 ||
	    path_of(dir, METRICS_FILE, path, sizeof path) != 0) {
		snprintf(err, errlen, "the store path is too long");
		return -1;
	}
	unlink(tmp); /* left by a maker that died: we hold the lock */
	if ((fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0660)) < 0) {
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		return -1;
	}
	header_init(&h);
	h.created_at = (int64_t)time(NULL);
	rc = posix_fallocate(fd, 0, (off_t)file_size());
	if (rc != 0 || pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(rc ? rc : errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "cannot rename %s: %s", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* The lock, waited for LOCK_WAIT_MS at most: metrics never hold a worker up for long. */
static int
lock_dir(const char *dir, char *err, size_t errlen)
{
	struct timespec tick = {0, 10 * 1000000};
	char path[PATHNAME_BUF];
	int fd, waited;

	if (path_of(dir, METRICS_LOCK, path, sizeof path) != 0) {
		snprintf(err, errlen, "the store path is too long");
		return -1;
	}
	if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0660)) < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	for (waited = 0; flock(fd, LOCK_EX | LOCK_NB) != 0; waited += 10) {
		if ((errno != EWOULDBLOCK && errno != EINTR) || waited >= LOCK_WAIT_MS) {
			snprintf(err, errlen, "cannot lock %s: %s", path,
			    errno == EWOULDBLOCK ? "held for too long by another process" : strerror(errno));
			close(fd);
			return -1;
		}
		nanosleep(&tick, NULL);
	}
	return fd;
}

struct metrics *
metrics_open(const char *dir, const char *program, char *err, size_t errlen)
{
	struct metrics *m = NULL;
	enum file_state state;
	uint64_t owner;
	int p, fd;

	if ((p = program_index(program)) < 0) {
		snprintf(err, errlen, "%s counts no metrics", program);
		return NULL;
	}
	if (owner_self(&owner) != 0) {
		snprintf(err, errlen, "cannot read /proc/self/stat: %s", strerror(errno));
		return NULL;
	}
	if ((fd = lock_dir(dir, err, errlen)) < 0)
		return NULL;
	state = map_file(dir, 1, &m, err, errlen);
	if ((state == FILE_MISSING || state == FILE_BAD) && create_file(dir, err, errlen) == 0)
		state = map_file(dir, 1, &m, err, errlen);
	if (state == FILE_OK && claim(m, owner, (unsigned)p) != 0) {
		snprintf(err, errlen, "%s/%s: all %d rows belong to live processes", dir,
		    METRICS_FILE, ROWS);
		metrics_close(m);
		m = NULL;
	}
	close(fd);
	return state == FILE_OK ? m : NULL;
}

struct metrics *
metrics_open_read(const char *dir, char *err, size_t errlen)
{
	struct metrics *m = NULL;

	return map_file(dir, 0, &m, err, errlen) == FILE_OK ? m : NULL;
}

void
metrics_close(struct metrics *m)
{
	if (m == NULL)
		return;
	mapguard_remove(&m->guard);
	munmap(m->map, m->maplen);
	free(m);
}

int
metrics_replaced(const struct metrics *m, const char *dir)
{
	char path[PATHNAME_BUF];
	struct stat st;

	if (mapguard_lost(&m->guard))
		return 1;
	if (path_of(dir, METRICS_FILE, path, sizeof path) != 0)
		return 0;
	if (lstat(path, &st) != 0)
		return errno == ENOENT;
	return st.st_dev != m->dev || st.st_ino != m->ino || (size_t)st.st_size != m->maplen;
}

/* ---- counting ---- */

/* An addition to a word only this thread writes: no locked instruction. */
static void
own_add(uint64_t *w, uint64_t n)
{
	store(w, load(w) + n);
}

/* The sum and bucket words a request of outcome answered in ns adds to. */
static uint64_t *
request_words(struct metrics *m, unsigned outcome, uint64_t ns, unsigned *bucket)
{
	unsigned b = 0;

	if (outcome >= DECISION_OUTCOMES)
		outcome = V_INTERNAL; /* as decision_info() maps an unknown verdict */
	while (b < METRICS_BUCKETS - 1 && ns > bucket_ns[b])
		b++;
	*bucket = OUTCOME_BUCKET0 + b;
	return m->row + ROW_OUTCOMES + (size_t)outcome * OUTCOME_WORDS;
}

void
metrics_request(struct metrics *m, unsigned outcome, uint64_t ns)
{
	uint64_t *o;
	unsigned b;

	if (m == NULL || m->row == NULL)
		return;
	o = request_words(m, outcome, ns, &b);
	own_add(&o[OUTCOME_SUM], ns);
	own_add(&o[b], 1);
}

void
metrics_request_shared(struct metrics *m, unsigned outcome, uint64_t ns)
{
	uint64_t *o;
	unsigned b;

	if (m == NULL || m->row == NULL)
		return;
	o = request_words(m, outcome, ns, &b);
	__atomic_fetch_add(&o[OUTCOME_SUM], ns, __ATOMIC_RELAXED);
	__atomic_fetch_add(&o[b], 1, __ATOMIC_RELAXED);
}

void
metrics_event(struct metrics *m, enum metrics_event e, uint64_t n)
{
	if (m == NULL || m->row == NULL || (unsigned)e >= METRICS_EVENTS || n == 0)
		return;
	__atomic_fetch_add(&m->row[ROW_EVENTS + e], n, __ATOMIC_RELAXED);
}

void
metrics_set_replication_lag(struct metrics *m, uint64_t ns)
{
	if (m == NULL || m->row == NULL)
		return;
	__atomic_store_n(m->lag, ns < UINT64_MAX ? ns + 1 : UINT64_MAX, __ATOMIC_RELAXED);
}

/* ---- reading ---- */

static void
add_row(struct metrics_snapshot *s, unsigned p, const uint64_t *r)
{
	const uint64_t *o;
	unsigned v, b, e;

	for (e = 0; e < METRICS_EVENTS; e++)
		s->event[p][e] += load(&r[ROW_EVENTS + e]);
	for (v = 0; v < DECISION_OUTCOMES; v++) {
		o = r + ROW_OUTCOMES + (size_t)v * OUTCOME_WORDS;
		s->sum_ns[p][v] += load(&o[OUTCOME_SUM]);
		for (b = 0; b < METRICS_BUCKETS; b++)
			s->bucket[p][v][b] += load(&o[OUTCOME_BUCKET0 + b]);
	}
}

/* One pass over the rows as the fold word w describes them. */
static void
sum_rows(struct metrics *m, uint64_t w, struct metrics_snapshot *s)
{
	uint64_t program, *r;
	unsigned p;
	size_t i;

	memset(s, 0, sizeof *s);
	for (p = 0; p < METRICS_PROGRAMS; p++)
		add_row(s, p, retired_row(m, FOLD_SEL(w), p));
	for (i = 0; i < ROWS; i++) {
		r = row_at(m->rows, i);
		if (i + 1 == FOLD_ROW(w) || __atomic_load_n(&r[ROW_OWNER], __ATOMIC_ACQUIRE) == 0)
			continue; /* being emptied (its counts are retired), or free (zeros) */
		if ((program = load(&r[ROW_PROGRAM])) < METRICS_PROGRAMS)
			add_row(s, (unsigned)program, r);
	}
}

int
metrics_read(struct metrics *m, struct metrics_snapshot *s)
{
	uint64_t w, lag;
	int tries;

	if (m == NULL)
		return -1;
	for (tries = 0; tries < READ_TRIES; tries++) {
		struct timespec pause = {0, READ_PAUSE_NS};

		w = __atomic_load_n(m->fold, __ATOMIC_ACQUIRE);
		sum_rows(m, w, s);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(m->fold, __ATOMIC_RELAXED) == w)
			break;
		if (tries >= READ_QUICK_TRIES)
			nanosleep(&pause, NULL);
	}
	if (tries == READ_TRIES || mapguard_lost(&m->guard))
		return -1;
	lag = __atomic_load_n(m->lag, __ATOMIC_RELAXED);
	s->has_replication_lag = lag != 0;
	s->replication_lag_ns = lag != 0 ? lag - 1 : 0;
	return 0;
}

uint64_t
metrics_requests(const struct metrics_snapshot *s, unsigned p, unsigned v)
{
	uint64_t n = 0;
	unsigned b;

	for (b = 0; b < METRICS_BUCKETS; b++)
		n += s->bucket[p][v][b];
	return n;
}

/* ---- the text exposition format ---- */

struct text {
	char *buf;
	size_t cap, len;
	int overflow;
};

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
text_printf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->cap - t->len)
		t->overflow = 1;
	else
		t->len += (size_t)n;
}

/*
 * s escaped as the format wants it: in a label value \, " and newline;
 * in a HELP text \ and newline (quote is 0).
 */
static void
text_escaped(struct text *t, const char *s, int quote)
{
	for (; *s != '\0' && !t->overflow; s++) {
		if (*s == '\\')
			text_printf(t, "\\\\");
		else if (*s == '\n')
			text_printf(t, "\\n");
		else if (*s == '"' && quote)
			text_printf(t, "\\\"");
		else
			text_printf(t, "%c", *s);
	}
}

static void
text_family(struct text *t, const char *name, const char *type, const char *help)
{
	text_printf(t, "# HELP %s ", name);
	text_escaped(t, help, 0);
	text_printf(t, "\n# TYPE %s %s\n", name, type);
}

/* {program="..." (the caller closes the brace, or adds labels first) */
static void
text_program(struct text *t, const char *name, const char *suffix, unsigned p)
{
	text_printf(t, "%s%s{program=\"", name, suffix);
	text_escaped(t, program_names[p], 1);
	text_printf(t, "\"");
}

static void
format_requests(struct text *t, const struct metrics_snapshot *s)
{
	const struct decision_info *d;
	unsigned p, v;

	text_family(t, "keygate_requests_total", "counter",
	    "Requests answered, by program, HTTP status and error code (ok: allowed).");
	for (p = 0; p < METRICS_PROGRAMS; p++)
		for (v = 0; v < DECISION_OUTCOMES; v++) {
			if (!decision_outcome_distinct((int)v))
				continue; /* counted under the verdict it is */
			d = decision_outcome_info((int)v);
			text_program(t, "keygate_requests_total", "", p);
			text_printf(t, ",status=\"%d\",code=\"", d->status);
			text_escaped(t, d->code != NULL ? d->code : "ok", 1);
			text_printf(t, "\"} %llu\n", (unsigned long long)metrics_requests(s, p, v));
		}
}

static void
format_latency(struct text *t, const struct metrics_snapshot *s)
{
	static const char name[] = "keygate_decision_duration_seconds";
	unsigned p, v, b;

	text_family(t, name, "histogram",
	    "Time from a request's params read to its answer ready to send, the decision included.");
	for (p = 0; p < METRICS_PROGRAMS; p++) {
		uint64_t cumulative = 0, sum_ns = 0;

		for (b = 0; b < METRICS_BUCKETS; b++) {
			for (v = 0; v < DECISION_OUTCOMES; v++)
				cumulative += s->bucket[p][v][b];
			text_program(t, name, "_bucket", p);
			if (b < METRICS_BUCKETS - 1)
				text_printf(t, ",le=\"%g\"} %llu\n", (double)bucket_ns[b] / 1e9,
				    (unsigned long long)cumulative);
			else
				text_printf(t, ",le=\"+Inf\"} %llu\n", (unsigned long long)cumulative);
		}
		for (v = 0; v < DECISION_OUTCOMES; v++)
			sum_ns += s->sum_ns[p][v];
		text_program(t, name, "_sum", p);
		text_printf(t, "} %llu.%09llu\n", (unsigned long long)(sum_ns / 1000000000),
		    (unsigned long long)(sum_ns % 1000000000));
		text_program(t, name, "_count", p);
		text_printf(t, "} %llu\n", (unsigned long long)cumulative);
	}
}

static void
format_events(struct text *t, const struct metrics_snapshot *s)
{
	unsigned p, e;

	for (e = 0; e < METRICS_EVENTS; e++) {
		text_family(t, event_info[e].name, "counter", event_info[e].help);
		for (p = 0; p < METRICS_PROGRAMS; p++) {
			text_program(t, event_info[e].name, "", p);
			text_printf(t, "} %llu\n", (unsigned long long)s->event[p][e]);
		}
	}
}

int
metrics_format(const struct metrics_snapshot *s, char *buf, size_t cap)
{
	struct text t = {buf, cap, 0, cap == 0};

	format_requests(&t, s);
	format_latency(&t, s);
	format_events(&t, s);
	if (s->has_replication_lag) {
		text_family(&t, "keygate_replication_lag_seconds", "gauge",
		    "How far this host's copy of the store is behind the master's.");
		text_printf(&t, "keygate_replication_lag_seconds %llu.%09llu\n",
		    (unsigned long long)(s->replication_lag_ns / 1000000000),
		    (unsigned long long)(s->replication_lag_ns % 1000000000));
	}
	return t.overflow || t.len > INT32_MAX ? -1 : (int)t.len;
}

int
metrics_render(struct metrics *m, char *buf, size_t cap)
{
	struct metrics_snapshot s;

	if (metrics_read(m, &s) != 0)
		return -1;
	return metrics_format(&s, buf, cap);
}
