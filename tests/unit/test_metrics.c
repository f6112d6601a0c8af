/*
 * test_metrics.c - the shared metrics file: rows claimed, rows of dead
 * processes (or of reused pids) folded exactly once, folds cut short at
 * every step, sums that never go down while folds run, a truncated or
 * damaged file, and the Prometheus text.  metrics.c is included, so that
 * its static steps can be driven one at a time.
 */
#include "../../src/metrics.c"

#include <pthread.h>
#include <sys/wait.h>

#include "tap.h"

static char err[600];

static void
make_dir(char *dir)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, 200, "%s/kg-metrics-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		abort();
}

static void
remove_dir(const char *dir)
{
	char path[300];

	snprintf(path, sizeof path, "%s/%s", dir, METRICS_FILE);
	unlink(path);
	snprintf(path, sizeof path, "%s/%s", dir, METRICS_LOCK);
	unlink(path);
	rmdir(dir);
}

static void
file_path(const char *dir, char *path)
{
	snprintf(path, 300, "%s/%s", dir, METRICS_FILE);
}

static size_t
row_index(struct metrics *m)
{
	return (size_t)(m->row - m->rows) / ROW_WORDS;
}

/* Everything counted, all programs, verdicts and events together. */
static uint64_t
total(struct metrics *m)
{
	struct metrics_snapshot s;
	uint64_t n = 0;
	unsigned p, v, e;

	if (metrics_read(m, &s) != 0)
		return UINT64_MAX;
	for (p = 0; p < METRICS_PROGRAMS; p++) {
		for (v = 0; v < DECISION_OUTCOMES; v++)
			n += metrics_requests(&s, p, v);
		for (e = 0; e < METRICS_EVENTS; e++)
			n += s.event[p][e];
	}
	return n;
}

static void
test_parse_stat(void)
{
	static const char good[] = "1234 (keygate-authz) S 1 1234 1234 0 -1 4194560 "
	    "100 0 0 0 1 2 0 0 20 0 3 0 987654 12345678 900 18446744073709551615\n";
	static const char odd_name[] = "77 (a) b ) (c) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 "
	    "15 16 17 18 42 1 2";
	char state, big[200], buf[400];
	uint64_t start = 0;

	is_int(parse_stat(good, strlen(good), &state, &start), 0, "a /proc/PID/stat line parses");
	is_int(state, 'S', "  its state");
	is_u64(start, 987654, "  its start time (field 22)");
	is_int(parse_stat(odd_name, strlen(odd_name), &state, &start), 0,
	    "a command name with spaces and parentheses");
	ok(state == 'R' && start == 42, "  fields are counted after the last ')'");
	is_int(parse_stat(good, 40, &state, &start), -1, "a line cut before field 22 is refused");
	is_int(parse_stat("", 0, &state, &start), -1, "an empty line is refused");
	is_int(parse_stat("garbage", 7, &state, &start), -1, "garbage is refused");
	is_int(parse_stat("1 (x)", 5, &state, &start), -1, "no fields after the name");
	is_int(parse_stat("1 (x) S", 7, &state, &start), -1, "a state and nothing more");
	snprintf(buf, sizeof buf, "1 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 x9");
	is_int(parse_stat(buf, strlen(buf), &state, &start), -1, "a start time that is no number");
	snprintf(buf, sizeof buf, "1 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17  18 9");
	is_int(parse_stat(buf, strlen(buf), &state, &start), -1, "an empty field");
	snprintf(buf, sizeof buf, "1 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 "
	    "4398046511104");
	is_int(parse_stat(buf, strlen(buf), &state, &start), -1,
	    "a start time of 2^42 ticks does not fit an owner word");
	snprintf(buf, sizeof buf, "1 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 "
	    "4398046511103");
	is_int(parse_stat(buf, strlen(buf), &state, &start), 0, "2^42 - 1 does");
	memset(big, '9', sizeof big);
	snprintf(buf, sizeof buf, "1 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 %.*s",
	    (int)sizeof big, big);
	is_int(parse_stat(buf, strlen(buf), &state, &start), -1, "a 200-digit start time");
	memset(buf, ')', sizeof buf);
	is_int(parse_stat(buf, sizeof buf, &state, &start), -1, "nothing but parentheses");
}

static void
test_identity(void)
{
	uint64_t me, start = 0;
	char state = 0, spid[24];
	pid_t child;
	int status, i;

	ok(owner_self(&me) == 0 && (me & OWNER_PID_MASK) == (uint64_t)getpid(),
	    "this process's owner word holds its pid");
	is_int(owner_dead(me), 0, "a live owner is alive");
	is_int(owner_dead(((me & ~OWNER_PID_MASK) + (UINT64_C(1) << OWNER_PID_BITS)) |
	    (uint64_t)getpid()), 1, "a live pid with another start time is dead (the pid was reused)");
	is_int(owner_dead(me & ~OWNER_PID_MASK), 1, "pid 0 is no owner");
	if ((child = fork()) == 0)
		_exit(0);
	snprintf(spid, sizeof spid, "%ld", (long)child);
	for (i = 0; i < 2000; i++) {
		if (read_stat(spid, &state, &start) == 0 && state == 'Z')
			break;
		usleep(1000);
	}
	is_int(state, 'Z', "a child that exited is a zombie until reaped");
	is_int(owner_dead(start << OWNER_PID_BITS | (uint64_t)child), 1, "a zombie is dead");
	waitpid(child, &status, 0);
	is_int(owner_dead(start << OWNER_PID_BITS | (uint64_t)child), 1, "a reaped process is dead");
}

static void
test_file(void)
{
	char dir[200], path[300];
	struct metrics *a, *b, *r;
	struct metrics_snapshot s;
	struct stat st;

	make_dir(dir);
	ok(metrics_open(dir, "keygate-unknown", err, sizeof err) == NULL,
	    "a program without metrics is refused");
	errno = 0;
	ok(metrics_open_read(dir, err, sizeof err) == NULL && errno == ENOENT,
	    "reading a missing file says so (ENOENT)");
	a = metrics_open(dir, "keygate-authz", err, sizeof err);
	ok(a != NULL, "a missing file is made (%s)", a ? "" : err);
	file_path(dir, path);
	ok(stat(path, &st) == 0 && (uint64_t)st.st_size == file_size() &&
	    st.st_blocks * 512 >= st.st_size, "  at its full size, allocated");
	ok((st.st_mode & 0007) == 0, "  not world-accessible");
	b = metrics_open(dir, "keygate-api", err, sizeof err);
	ok(b != NULL && b->row != a->row, "a second handle claims another row");
	metrics_request(a, V_ALLOW, 1000);
	metrics_request(a, V_ALLOW, 1001);
	metrics_request(a, V_INVALID, 3 * NS_PER_S);
	metrics_request(a, 999, 5);
	metrics_request(b, V_RATE, 0);
	metrics_event(a, ME_LEDGER_FLUSHES, 3);
	metrics_event(b, ME_LEDGER_FLUSHES, 4);
	metrics_event(a, ME_WORKER_RESTARTS, 0);
	metrics_event(a, (enum metrics_event)METRICS_EVENTS, 1);
	metrics_request(NULL, V_ALLOW, 1);
	metrics_event(NULL, ME_LEDGER_FLUSHES, 1);
	r = metrics_open_read(dir, err, sizeof err);
	ok(r != NULL && metrics_read(r, &s) == 0, "a reader reads the sums");
	is_u64(metrics_requests(&s, METRICS_AUTHZ, V_ALLOW), 2, "  2 allowed by keygate-authz");
	is_u64(s.bucket[METRICS_AUTHZ][V_ALLOW][0], 1, "  1 us goes to the le=1e-06 bucket");
	is_u64(s.bucket[METRICS_AUTHZ][V_ALLOW][1], 1, "  1 us + 1 ns to the next");
	is_u64(s.bucket[METRICS_AUTHZ][V_INVALID][METRICS_BUCKETS - 1], 1, "  3 s to +Inf");
	is_u64(metrics_requests(&s, METRICS_AUTHZ, V_INTERNAL), 1, "  an unknown verdict counts as a 500");
	is_u64(s.sum_ns[METRICS_AUTHZ][V_ALLOW], 2001, "  latencies are summed");
	is_u64(metrics_requests(&s, METRICS_API, V_RATE), 1, "  1 rate-limited by keygate-api");
	is_u64(s.event[METRICS_AUTHZ][ME_LEDGER_FLUSHES], 3, "  events per program");
	is_u64(s.event[METRICS_API][ME_LEDGER_FLUSHES], 4, "  events per program (2)");
	is_u64(s.event[METRICS_AUTHZ][ME_WORKER_RESTARTS], 0, "  nothing else");
	is_int(s.has_replication_lag, 0, "  no replication lag until it is set");
	metrics_set_replication_lag(a, 1500000000);
	ok(metrics_read(r, &s) == 0 && s.has_replication_lag && s.replication_lag_ns == 1500000000,
	    "the replication lag once set");
	is_int(metrics_replaced(a, dir), 0, "the file is the one mapped");
	metrics_close(r);
	metrics_close(b);
	metrics_close(a);
	remove_dir(dir);
}

/* A process of its own counts n allowed requests and an event, then exits; its row index. */
static size_t
child_counts(const char *dir, unsigned n)
{
	int fd[2], status;
	size_t row = SIZE_MAX;
	pid_t pid;

	if (pipe(fd) != 0)
		abort();
	if ((pid = fork()) == 0) {
		struct metrics *m = metrics_open(dir, "keygate-authz", err, sizeof err);
		unsigned i;

		if (m == NULL)
			_exit(1);
		for (i = 0; i < n; i++)
			metrics_request(m, V_ALLOW, 10000);
		metrics_event(m, ME_HISTORY_FLUSHES, 1);
		row = row_index(m);
		if (write(fd[1], &row, sizeof row) != (ssize_t)sizeof row)
			_exit(1);
		_exit(0);
	}
	close(fd[1]);
	if (read(fd[0], &row, sizeof row) != (ssize_t)sizeof row)
		row = SIZE_MAX;
	close(fd[0]);
	waitpid(pid, &status, 0);
	return row;
}

static void
test_fold(void)
{
	char dir[200];
	struct metrics *a, *b, *c, *r;
	struct metrics_snapshot s;
	uint64_t *dead;
	size_t row;

	make_dir(dir);
	a = metrics_open(dir, "keygate-authz", err, sizeof err);
	metrics_request(a, V_QUOTA, 1);
	row = child_counts(dir, 7);
	ok(row != SIZE_MAX && row != row_index(a), "a child claims a row, counts and exits");
	r = metrics_open_read(dir, err, sizeof err);
	is_u64(total(r), 1 + 7 + 1, "its counts are there once it is gone");
	ok(load(&row_at(a->rows, row)[ROW_OWNER]) != 0, "  in its row, not folded by a reader");
	b = metrics_open(dir, "keygate-authz", err, sizeof err);
	is_u64(row_index(b), row, "the next process folds the dead row and claims it");
	is_u64(total(r), 1 + 7 + 1, "  the sums did not move");
	ok(metrics_read(r, &s) == 0 && metrics_requests(&s, METRICS_AUTHZ, V_ALLOW) == 7 &&
	    s.event[METRICS_AUTHZ][ME_HISTORY_FLUSHES] == 1, "  the dead row's counts are retired");
	is_u64(metrics_requests(&s, METRICS_AUTHZ, V_QUOTA), 1, "  the live row's stay");
	c = metrics_open(dir, "keygate-authz", err, sizeof err);
	is_u64(total(r), 1 + 7 + 1, "a later claim folds nothing again");
	metrics_close(c);

	/* a row whose pid was reused: this process's pid, another start time */
	dead = row_at(a->rows, ROWS - 1);
	store(&dead[ROW_PROGRAM], METRICS_API);
	store(&dead[ROW_EVENTS + ME_STORE_REOPENS], 5);
	store(&dead[ROW_OWNER], (load(&a->row[ROW_OWNER]) & ~OWNER_PID_MASK) +
	    (UINT64_C(1) << OWNER_PID_BITS) + (uint64_t)getpid());
	is_u64(total(r), 1 + 7 + 1 + 5, "a row of a reused pid counts until it is folded");
	c = metrics_open(dir, "keygate-authz", err, sizeof err);
	ok(load(&dead[ROW_OWNER]) == 0 && load(&dead[ROW_EVENTS + ME_STORE_REOPENS]) == 0,
	    "  the next claim folds it (a pid alive, but not since the row was claimed)");
	ok(metrics_read(r, &s) == 0 && s.event[METRICS_API][ME_STORE_REOPENS] == 5,
	    "  into its own program's retired counts");
	metrics_close(c);
	metrics_close(b);
	metrics_close(a);
	metrics_close(r);
	remove_dir(dir);
}

/* Plants a dead row i of program p holding n allowed requests. */
static void
plant_dead(struct metrics *m, size_t i, unsigned p, uint64_t n)
{
	uint64_t *d = row_at(m->rows, i);

	store(&d[ROW_PROGRAM], p);
	store(&d[ROW_OUTCOMES + V_ALLOW * OUTCOME_WORDS + OUTCOME_BUCKET0], n);
	/* pid 0: no process has it */
	__atomic_store_n(&d[ROW_OWNER], UINT64_C(1) << OWNER_PID_BITS, __ATOMIC_RELEASE);
}

/* A folder killed at each step of a fold, and the next folder after it. */
static void
test_fold_interrupted(void)
{
	char dir[200];
	struct metrics *a, *b;
	uint64_t w, *spare;
	size_t k;

	make_dir(dir);
	a = metrics_open(dir, "keygate-authz", err, sizeof err);
	plant_dead(a, 10, METRICS_AUTHZ, 4);
	is_u64(total(a), 4, "a dead row with 4 requests");

	/* killed while writing the other copy: nothing published */
	w = load(a->fold);
	spare = retired_row(a, !FOLD_SEL(w), METRICS_AUTHZ);
	for (k = ROW_EVENTS; k < ROW_WORDS; k++)
		store(&spare[k], 12345);
	is_u64(total(a), 4, "a half-written copy nobody published is not read");
	b = metrics_open(dir, "keygate-authz", err, sizeof err);
	is_u64(total(a), 4, "  the next folder writes it again from the current one");
	metrics_close(b);

	/* killed after publishing: the row excluded, not zeroed */
	plant_dead(a, 11, METRICS_AUTHZ, 6);
	fold_add(a, 11);
	is_u64(FOLD_ROW(load(a->fold)), 12, "a fold published with its row excluded");
	is_u64(total(a), 10, "  the row's counts are read once, from the retired copy");
	store(&row_at(a->rows, 11)[ROW_OUTCOMES + V_ALLOW * OUTCOME_WORDS + OUTCOME_BUCKET0], 0);
	is_u64(total(a), 10, "  a row half zeroed changes nothing");
	b = metrics_open(dir, "keygate-authz", err, sizeof err);
	ok(FOLD_ROW(load(a->fold)) == 0 && load(&row_at(a->rows, 11)[ROW_OWNER]) == 0,
	    "  the next folder finishes it and frees the row");
	is_u64(total(a), 10, "  nothing counted twice, nothing lost");
	metrics_close(b);

	/* killed after zeroing, before freeing: folded again, adding zeros */
	plant_dead(a, 12, METRICS_AUTHZ, 3);
	fold_add(a, 12);
	for (k = ROW_PROGRAM; k < ROW_WORDS; k++)
		store(&row_at(a->rows, 12)[k], 0);
	publish(a, fold_word(FOLD_GEN(load(a->fold)) + 1, FOLD_SEL(load(a->fold)), 0));
	is_u64(total(a), 13, "a row zeroed and still owned by the dead");
	b = metrics_open(dir, "keygate-authz", err, sizeof err);
	is_u64(total(a), 13, "  is folded again to no effect");
	metrics_close(b);

	/* a fold word that names a row past the end (a damaged file) */
	publish(a, fold_word(7, 0, ROWS + 5));
	b = metrics_open(dir, "keygate-authz", err, sizeof err);
	ok(b != NULL && FOLD_ROW(load(a->fold)) == 0, "an excluded row past the end is dropped");
	metrics_close(b);
	metrics_close(a);
	remove_dir(dir);
}

/*
 * Sums read while rows are folded under the reader.  Each must be exact
 * for some moment of its read: at least what was visible when it began,
 * at most what was planted when it ended (so none ever goes down).  The
 * folder folds in bursts, then pauses: reads that meet a burst must try
 * again, and do find a pause.
 */
struct race {
	struct metrics *m;
	int stop;
	uint64_t planted, visible; /* atomic: counts planted (or about to be), and in place */
	uint64_t reads, wrong, decreases, failures; /* reads: atomic */
};

static void *
reader(void *arg)
{
	struct race *rc = arg;
	uint64_t last = 0, t, lo, hi;

	while (!__atomic_load_n(&rc->stop, __ATOMIC_ACQUIRE)) {
		lo = __atomic_load_n(&rc->visible, __ATOMIC_ACQUIRE);
		t = total(rc->m);
		hi = __atomic_load_n(&rc->planted, __ATOMIC_ACQUIRE);
		if (t == UINT64_MAX) {
			rc->failures++;
			continue;
		}
		rc->wrong += t < lo || t > hi;
		rc->decreases += t < last;
		last = t;
		__atomic_add_fetch(&rc->reads, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
test_fold_race(void)
{
	char dir[200];
	struct metrics *a;
	struct race rc;
	uint64_t start = now_us();
	pthread_t t;
	unsigned i;

	make_dir(dir);
	a = metrics_open(dir, "keygate-authz", err, sizeof err);
	memset(&rc, 0, sizeof rc);
	rc.m = a;
	pthread_create(&t, NULL, reader, &rc);
	for (i = 0; (i < 20000 || __atomic_load_n(&rc.reads, __ATOMIC_RELAXED) < 1000) &&
	    now_us() - start < 10000000; i++) {
		size_t row = 1 + i % 8;
		uint64_t n = 1 + i % 5, sum = __atomic_load_n(&rc.planted, __ATOMIC_RELAXED) + n;

		__atomic_store_n(&rc.planted, sum, __ATOMIC_RELEASE);
		plant_dead(a, row, i % METRICS_PROGRAMS, n);
		__atomic_store_n(&rc.visible, sum, __ATOMIC_RELEASE);
		fold_row(a, row);
		if (i % 200 == 199)
			usleep(3000);
	}
	__atomic_store_n(&rc.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	ok(rc.reads >= 1000, "the reader read while %u rows were folded (%llu reads)", i,
	    (unsigned long long)rc.reads);
	is_u64(rc.wrong, 0, "  every sum counted each fold exactly once");
	is_u64(rc.decreases, 0, "  no sum ever went down");
	is_u64(rc.failures, 0, "  every read found a moment without a fold");
	is_u64(total(a), rc.planted, "  and the end is exact");
	metrics_close(a);
	remove_dir(dir);
}

static void
test_full(void)
{
	char dir[200];
	struct metrics *a;
	uint64_t me;
	size_t i;

	make_dir(dir);
	a = metrics_open(dir, "keygate-authz", err, sizeof err);
	me = load(&a->row[ROW_OWNER]);
	for (i = 0; i < ROWS; i++)
		store(&row_at(a->rows, i)[ROW_OWNER], me);
	ok(metrics_open(dir, "keygate-authz", err, sizeof err) == NULL &&
	    strstr(err, "live processes") != NULL, "no row free: no metrics (%s)", err);
	for (i = 0; i < ROWS; i++)
		store(&row_at(a->rows, i)[ROW_OWNER], 0);
	metrics_close(a);
	remove_dir(dir);
}

static void
test_damaged(void)
{
	char dir[200], path[300];
	struct metrics_header h;
	struct metrics *a, *r;
	struct metrics_snapshot s;
	struct stat st, st2;
	int fd;

	make_dir(dir);
	file_path(dir, path);

	/* truncated under a counting process and a reader */
	a = metrics_open(dir, "keygate-authz", err, sizeof err);
	metrics_request(a, V_ALLOW, 1);
	r = metrics_open_read(dir, err, sizeof err);
	is_int(truncate(path, 0), 0, "the file is truncated under a writer and a reader");
	metrics_request(a, V_ALLOW, 1);
	metrics_event(a, ME_LEDGER_FLUSHES, 1);
	ok(1, "  counting into it does not kill the process");
	is_int(metrics_read(r, &s), -1, "  a reader's sums are not trusted");
	is_int(metrics_render(r, (char[64]){0}, 64), -1, "  nor rendered");
	is_int(metrics_replaced(a, dir), 1, "  the writer sees it must open the file again");
	metrics_close(r);
	metrics_close(a);
	a = metrics_open(dir, "keygate-authz", err, sizeof err);
	ok(a != NULL && stat(path, &st) == 0 && (uint64_t)st.st_size == file_size(),
	    "  which is made anew");
	is_u64(total(a), 0, "  counting from zero");
	metrics_close(a);

	/* not a metrics file */
	fd = open(path, O_WRONLY);
	is_int(pwrite(fd, "NOTMETRI", 8, 0), 8, "a file with another magic");
	close(fd);
	ok(metrics_open_read(dir, err, sizeof err) == NULL && errno == EINVAL,
	    "  is refused by a reader (%s)", err);
	stat(path, &st);
	a = metrics_open(dir, "keygate-authz", err, sizeof err);
	ok(a != NULL && stat(path, &st2) == 0 && st2.st_ino != st.st_ino, "  and replaced by a writer");
	metrics_close(a);

	/* a newer keygate's file */
	fd = open(path, O_RDWR);
	h.version = 0;
	if (pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h) {
		h.version = METRICS_VERSION + 1;
		is_int(pwrite(fd, &h, sizeof h, 0), sizeof h, "a file of a newer version");
	}
	close(fd);
	stat(path, &st);
	ok(metrics_open(dir, "keygate-authz", err, sizeof err) == NULL && strstr(err, "newer") != NULL,
	    "a newer version's file is not used (%s)", err);
	ok(stat(path, &st2) == 0 && st2.st_ino == st.st_ino, "  nor replaced");
	unlink(path);

	/* the wrong size */
	a = metrics_open(dir, "keygate-authz", err, sizeof err);
	metrics_close(a);
	is_int(truncate(path, (off_t)file_size() - 64), 0, "a file 64 bytes short");
	ok(metrics_open_read(dir, err, sizeof err) == NULL, "  is refused by a reader");
	a = metrics_open(dir, "keygate-authz", err, sizeof err);
	ok(a != NULL && stat(path, &st) == 0 && (uint64_t)st.st_size == file_size(),
	    "  and made anew by a writer");
	metrics_close(a);
	remove_dir(dir);
}

static void
test_text(void)
{
	static char buf[METRICS_TEXT_MAX];
	struct metrics_snapshot s;
	char line[256], small[128];
	struct text t = {small, sizeof small, 0, 0};
	unsigned e;
	int n;

	for (e = 0; e < METRICS_EVENTS; e++)
		ok(event_info[e].name != NULL && event_info[e].help != NULL &&
		    strncmp(event_info[e].name, "keygate_", 8) == 0 &&
		    strlen(event_info[e].name) > 6 &&
		    strcmp(event_info[e].name + strlen(event_info[e].name) - 6, "_total") == 0,
		    "event %u has a keygate_..._total name and a help text", e);

	memset(&s, 0, sizeof s);
	n = metrics_format(&s, buf, sizeof buf);
	ok(n > 0 && buf[n - 1] == '\n', "nothing counted renders, ending with a newline");
	ok(strstr(buf, "keygate_requests_total{program=\"keygate-authz\",status=\"200\",code=\"ok\"} 0\n") != NULL,
	    "  an allowed request's labels");
	ok(strstr(buf, "keygate_requests_total{program=\"keygate-api\",status=\"429\",code=\"rate_limited\"} 0\n") != NULL,
	    "  a denial's labels: decision.c's status and code");
	ok(strstr(buf, "# TYPE keygate_decision_duration_seconds histogram\n") != NULL &&
	    strstr(buf, "keygate_decision_duration_seconds_bucket{program=\"keygate-authz\",le=\"1e-06\"} 0\n") != NULL &&
	    strstr(buf, "keygate_decision_duration_seconds_bucket{program=\"keygate-authz\",le=\"1\"} 0\n") != NULL &&
	    strstr(buf, "keygate_decision_duration_seconds_bucket{program=\"keygate-authz\",le=\"+Inf\"} 0\n") != NULL,
	    "  the histogram's buckets, 1 us to 1 s and +Inf");
	ok(strstr(buf, "replication") == NULL, "  no replication lag when none is set");
	is_int(metrics_format(&s, buf, (size_t)n), -1, "a buffer one byte short is refused, not cut");
	is_int(metrics_format(&s, buf, 0), -1, "  and an empty one");

	s.bucket[METRICS_AUTHZ][V_ALLOW][0] = 3;
	s.bucket[METRICS_AUTHZ][V_ALLOW][4] = 2;
	s.bucket[METRICS_AUTHZ][V_INVALID][4] = 5;
	s.sum_ns[METRICS_AUTHZ][V_ALLOW] = 1500000001;
	s.has_replication_lag = 1;
	s.replication_lag_ns = 250000000;
	n = metrics_format(&s, buf, sizeof buf);
	ok(strstr(buf, "status=\"200\",code=\"ok\"} 5\n") != NULL &&
	    strstr(buf, "status=\"401\",code=\"invalid_api_key\"} 5\n") != NULL,
	    "requests by code are their buckets' sums");
	ok(strstr(buf, "le=\"1e-06\"} 3\n") != NULL && strstr(buf, "le=\"1e-05\"} 3\n") != NULL &&
	    strstr(buf, "le=\"2e-05\"} 10\n") != NULL && strstr(buf, "authz\",le=\"+Inf\"} 10\n") != NULL,
	    "buckets are cumulative, over every verdict");
	ok(strstr(buf, "keygate_decision_duration_seconds_count{program=\"keygate-authz\"} 10\n") != NULL &&
	    strstr(buf, "keygate_decision_duration_seconds_sum{program=\"keygate-authz\"} 1.500000001\n") != NULL,
	    "  the count and the sum in seconds");
	ok(strstr(buf, "# TYPE keygate_replication_lag_seconds gauge\nkeygate_replication_lag_seconds 0.250000000\n") != NULL,
	    "the replication lag once set");

	memset(&s, 0xff, sizeof s);
	n = metrics_format(&s, buf, sizeof buf);
	ok(n > 0, "every count at its maximum fits METRICS_TEXT_MAX (%d bytes)", n);

	text_escaped(&t, "a\\b\"c\nd", 1);
	snprintf(line, sizeof line, "%.*s", (int)t.len, small);
	is_str(line, "a\\\\b\\\"c\\nd", "a label value escapes \\, \" and newline");
	t.len = 0;
	text_escaped(&t, "a\\b\"c\nd", 0);
	snprintf(line, sizeof line, "%.*s", (int)t.len, small);
	is_str(line, "a\\\\b\"c\\nd", "a help text escapes \\ and newline");
	is_str(metrics_program_name(METRICS_API), "keygate-api", "program names");
	is_str(metrics_program_name((enum metrics_program)7), "?", "  an unknown one");
}

int
main(void)
{
	umask(007);
	test_parse_stat();
	test_identity();
	test_file();
	test_fold();
	test_fold_interrupted();
	test_fold_race();
	test_full();
	test_damaged();
	test_text();
	return done_testing();
}
