/*
 * gate.c - the decision inside a web server's process (see gate.h).
 *
 * One gate per process: the store handle (struct kg), the usage tally,
 * the metrics row and three background threads (maintenance, flushes,
 * watchdog), as a FastCGI worker has (service.c; the duties themselves
 * are upkeep.c's, shared).  What differs is that many request threads
 * decide at once (Apache's event MPM), so:
 *
 * - Each thread has its own decision context (struct authz: caches and
 *   record buffers, and a digester, whose working state is its own),
 *   made on its first request and listed in the gate.
 * - The store handle, the counter file, the key index and the metrics
 *   mapping are shared, and sometimes replaced: the store reopened after
 *   a process died in it (DB_RUNRECOVERY), a counter file mapped again
 *   after it was replaced or truncated, a rebuilt key index, a replaced
 *   metrics file.  A read-write lock guards them: every request holds it
 *   shared for its decision, and whoever replaces something (a request
 *   that met the trouble, or the maintenance thread, whichever comes
 *   first) holds it exclusively, so no thread ever reads a mapping being
 *   unmapped.  Writers are preferred, so that a steady stream of requests
 *   cannot keep a repair out.  An uncontended shared lock is two atomic
 *   operations on one cache line per request: the price, measured, of
 *   replacing a handle under many threads without a grace period scheme.
 * - Caches of organizations and plans are per thread; the maintenance
 *   thread reads the store's generation once a second and drops every
 *   thread's caches when it moved (authz_invalidate is atomic).
 * - The metrics row is shared by the threads: atomic additions.
 * - The log budget (log-denials = yes: at most LOG_RATE lines a second
 *   for each of denials and errors) is the process's, a word changed by
 *   compare-and-swap.
 *
 * A store that cannot be opened (missing, unreadable, a pepper file gone)
 * leaves the gate closed: every request is answered 503 with keygate's
 * body, and the maintenance thread tries again every second.
 *
 * SIGBUS: mapping the counter file, the key index and the metrics file
 * installs mapguard's handler in the process (mapguard.h); it passes any
 * fault outside those mappings to the handler that was there before.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apikey.h"
#include "authz.h"
#include "conf.h"
#include "ctx.h"
#include "decision.h"
#include "gate.h"
#include "log.h"
#include "mapguard.h"
#include "metrics.h"
#include "tally.h"
#include "upkeep.h"

#define TICK_NS NS_PER_S
/*
 * A store that broke under a request is reopened right away, a rebuilt key
 * index or a replaced counter file mapped again; a repair that failed
 * waits this much before the next try.
 */
#define RETRY_NS (100 * 1000000ull)
/* A metrics file that could not be opened is tried again this much later. */
#define METRICS_RETRY_NS (60 * NS_PER_S)
/* Lines a second, process-wide, for each of denials and errors (log-denials = yes). */
#define LOG_RATE 50
/* A flush stuck this many watchdog periods is one: a slow disk is not a dead lock. */
#define FLUSH_STUCK_FACTOR 6

struct gate_thread {
	struct gate *gate;
	struct gate_thread *next;  /* the gate's list, under threads_lock */
	uint64_t started;          /* atomic, kg_mono_ns(): the request being decided, 0 idle */
	struct digester *digester;
	char out[8192];            /* the rendered answer, split in place */
	struct authz az;
};

/* A log budget in one word: the second (high 32 bits) and the lines logged in it. */
struct log_word {
	uint64_t w;      /* atomic */
	uint64_t dropped; /* atomic: lines left out since the last report */
};

struct gate {
	char program[64];
	char dir[PATHNAME_MAX + 1];
	struct conf conf;
	pthread_rwlock_t lock;     /* the handle: shared to use, exclusive to replace */
	int open;                  /* kg holds an open store; changed under the exclusive lock */
	struct kg kg;
	struct tally *tally;
	struct metrics *metrics;
	struct upkeep upkeep;
	struct decision_table answers;

	pthread_mutex_t threads_lock;
	struct gate_thread *threads;

	/* atomic: what a request or the maintenance thread found to repair */
	int index_wanted;
	int counters_suspect;
	int metrics_stale;
	/* under the exclusive lock */
	uint64_t retry_at_ns;      /* kg_mono_ns(): a repair that failed is not tried before */
	uint64_t reopen_failed_at, metrics_failed_at;
	uint64_t meta_gen_seen;    /* the maintenance thread's */

	/* background threads */
	pthread_mutex_t tick_lock;
	pthread_cond_t tick;       /* signalled to stop */
	int stopping;              /* under tick_lock */
	pthread_t maint_thread, flush_thread, watchdog_thread;
	int nthreads_started;
	uint64_t opening_started, maintenance_started, flush_started; /* atomic */
	struct store_region region; /* the store's (store.h), for the watchdog */

	struct log_word deny_log, error_log;
};

static __thread struct gate_thread *this_thread;

const char *const *
gate_identity(void)
{
	return decision_variables;
}

/* ---- configuration ---- */

static int
load_conf(const char *config, struct conf *c, char *err, size_t errlen)
{
	int must_exist;
	const char *path = conf_path(config, &must_exist);

	conf_defaults(c);
	return conf_load(path, must_exist, c, err, errlen);
}

int
gate_check_config(const char *config, char *err, size_t errlen)
{
	struct conf c;

	return load_conf(config, &c, err, errlen);
}

/* ---- the handle ---- */

static void
each_thread_invalidate(struct gate *g)
{
	struct gate_thread *t;

	pthread_mutex_lock(&g->threads_lock);
	for (t = g->threads; t != NULL; t = t->next)
		authz_invalidate(&t->az);
	pthread_mutex_unlock(&g->threads_lock);
}

static void
open_metrics(struct gate *g)
{
	char err[600];

	/* the same decisions as the FastCGI authorizer's: counted as its */
	g->metrics = metrics_open(g->dir, "keygate-authz", err, sizeof err);
	if (g->metrics == NULL) {
		log_warnx("metrics: %s; this process counts nothing until it can", err);
		g->metrics_failed_at = kg_mono_ns();
	}
}

/*
 * Opens the store (exclusive lock held, or before any thread runs).
 * Logged once per failure streak: a store that stays unreadable must not
 * fill the log with a line a second.
 */
static void
open_store(struct gate *g)
{
	static int failing;
	char err[600];

	__atomic_store_n(&g->opening_started, kg_mono_ns(), __ATOMIC_RELAXED);
	if (kg_open(&g->kg, g->dir, STORE_SERVER, err, sizeof err) != 0) {
		__atomic_store_n(&g->opening_started, 0, __ATOMIC_RELAXED);
		if (!failing)
			log_warnx("%s; every request is answered 503 until it opens "
			    "(tried every second)", err);
		failing = 1;
		return;
	}
	__atomic_store_n(&g->opening_started, 0, __ATOMIC_RELAXED);
	store_region_share(g->kg.store, &g->region);
	if (failing)
		log_info("store %s opened", g->dir);
	failing = 0;
	g->open = 1;
	g->meta_gen_seen = 0;
	if (g->metrics == NULL)
		open_metrics(g);
	upkeep_count_store_events(&g->upkeep, 1);
	each_thread_invalidate(g);
}

/*
 * Something to replace before a request may use the handle (shared lock
 * held)?  What failed is tried again only after a pause, so that a store
 * that stays broken does not take the exclusive lock on every request.
 * A store that is not open is the maintenance thread's to open.
 */
/* now is at or past t (kg_mono_ns() values, 0 always past) */
static inline int
reached(uint64_t now, uint64_t t)
{
	return now >= t;
}

static inline int
repair_due(struct gate *g)
{
	int broken;

	if (!g->open)
		return 0;
	if (__atomic_load_n(&g->metrics_stale, __ATOMIC_RELAXED))
		return 1;
	broken = !counters_usable(g->kg.counters) ||
	    __atomic_load_n(&g->counters_suspect, __ATOMIC_RELAXED) ||
	    store_broken(g->kg.store) || __atomic_load_n(&g->index_wanted, __ATOMIC_RELAXED);
	return broken && (g->retry_at_ns == 0 || reached(kg_mono_ns(), g->retry_at_ns));
}

static int
reopen_store(struct gate *g)
{
	int ok = store_reopen(g->kg.store) == ST_OK;

	metrics_event(g->metrics, ok ? ME_STORE_REOPENS : ME_STORE_REOPEN_FAILURES, 1);
	upkeep_count_store_events(&g->upkeep, 0);
	if (ok) {
		g->reopen_failed_at = 0;
		each_thread_invalidate(g);
		log_info("store reopened");
		return 0;
	}
	if (g->reopen_failed_at == 0)
		log_warnx("store reopen failed: %s", store_errmsg(g->kg.store));
	g->reopen_failed_at = kg_mono_ns();
	return -1;
}

/*
 * Replaces what needs it, with every request thread out of the handle.
 * Any thread may call it (not holding the lock); each repair checks again
 * under the lock, so that the threads that met the same trouble repair it
 * once.  A repair that fails (a store that cannot be reopened, a counter
 * file that cannot be mapped, no key index yet) is not tried again before
 * RETRY_NS: meanwhile requests are answered as they can be (503, or from
 * the store without the index).  from_maintenance: the caller may also
 * open a store that is not open.
 */
static void
repair(struct gate *g, int from_maintenance)
{
	uint64_t now = kg_mono_ns();
	int failed = 0;

	upkeep_exclusive(&g->upkeep);
	if (!g->open) {
		if (from_maintenance)
			open_store(g);
		goto out;
	}
	if (__atomic_load_n(&g->metrics_stale, __ATOMIC_RELAXED)) {
		__atomic_store_n(&g->metrics_stale, 0, __ATOMIC_RELAXED);
		metrics_close(g->metrics);
		g->metrics = NULL;
		open_metrics(g);
	}
	if (!reached(now, g->retry_at_ns))
		goto out;
	if (store_broken(g->kg.store) && reopen_store(g) != 0)
		failed = 1;
	if (!failed && (!counters_usable(g->kg.counters) ||
	    __atomic_load_n(&g->counters_suspect, __ATOMIC_RELAXED))) {
		__atomic_store_n(&g->counters_suspect, 0, __ATOMIC_RELAXED);
		if (kg_counters_check(&g->kg) != 0)
			each_thread_invalidate(g); /* another file's generation means nothing */
		upkeep_count_store_events(&g->upkeep, 0);
		failed |= g->kg.counters == NULL;
	}
	if (!failed && __atomic_load_n(&g->index_wanted, __ATOMIC_RELAXED)) {
		__atomic_store_n(&g->index_wanted, 0, __ATOMIC_RELAXED);
		kg_index_reopen(&g->kg);
		failed |= g->kg.index == NULL;
	}
	g->retry_at_ns = failed ? now + RETRY_NS : 0;
out:
	upkeep_exclusive_end(&g->upkeep);
}

/* ---- background threads ---- */

/* Waits until the next tick of a fixed schedule of period ns; 1 when the gate is closing. */
static int
next_tick(struct gate *g, uint64_t *next, uint64_t period)
{
	struct timespec at;
	uint64_t now;
	int stop;

	*next += period;
	kg_mono_timespec(*next, &at);
	pthread_mutex_lock(&g->tick_lock);
	while (!g->stopping && pthread_cond_timedwait(&g->tick, &g->tick_lock, &at) != ETIMEDOUT)
		;
	stop = g->stopping;
	pthread_mutex_unlock(&g->tick_lock);
	/* a pass that ran past the next one's time: start again from now */
	if ((now = kg_mono_ns()) > *next + period)
		*next = now;
	return stop;
}

static void
maintenance_progress_of(struct gate *g)
{
	__atomic_store_n(&g->maintenance_started, kg_mono_ns(), __ATOMIC_RELAXED);
}

/* upkeep's progress callback takes no argument: one gate per process */
static struct gate *the_gate;

static void
maintenance_progress(void)
{
	if (the_gate != NULL)
		maintenance_progress_of(the_gate);
}

/* The store's generation moved without the host's (changes replicated from another host). */
static void
refresh_generation(struct gate *g)
{
	unsigned char buf[RECORD_MAX];
	struct meta_rec m;

	if (kg_read_meta(&g->kg, NULL, buf, sizeof buf, &m, 0) != ST_OK)
		return;
	if (m.generation != g->meta_gen_seen) {
		g->meta_gen_seen = m.generation;
		each_thread_invalidate(g);
	}
}

static void
maintenance_pass(struct gate *g)
{
	if (!g->open || upkeep_store(&g->upkeep) != 0)
		return;
	refresh_generation(g);
	if (g->kg.counters != NULL && counters_replaced(g->kg.counters, g->dir))
		__atomic_store_n(&g->counters_suspect, 1, __ATOMIC_RELAXED);
	if (g->kg.index == NULL || keyindex_stale(g->kg.index))
		__atomic_store_n(&g->index_wanted, 1, __ATOMIC_RELAXED);
	upkeep_repair_index(&g->upkeep);
	upkeep_count_store_events(&g->upkeep, 0);
	if (g->metrics != NULL ? metrics_replaced(g->metrics, g->dir) :
	    kg_mono_ns() - g->metrics_failed_at >= METRICS_RETRY_NS)
		__atomic_store_n(&g->metrics_stale, 1, __ATOMIC_RELAXED);
}

static void *
maintenance(void *arg)
{
	struct gate *g = arg;
	uint64_t next = kg_mono_ns();
	int again;

	while (!next_tick(g, &next, TICK_NS)) {
		maintenance_progress_of(g);
		pthread_rwlock_rdlock(&g->lock);
		maintenance_pass(g);
		again = !g->open || repair_due(g);
		pthread_rwlock_unlock(&g->lock);
		if (again)
			repair(g, 1);
		__atomic_store_n(&g->maintenance_started, 0, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *
flusher(void *arg)
{
	struct gate *g = arg;
	uint64_t next = kg_mono_ns();

	while (!next_tick(g, &next, UPKEEP_FLUSH_NS)) {
		__atomic_store_n(&g->flush_started, kg_mono_ns(), __ATOMIC_RELAXED);
		upkeep_flush_turn(&g->upkeep); /* nothing when the store is not open */
		__atomic_store_n(&g->flush_started, 0, __ATOMIC_RELAXED);
	}
	return NULL;
}

/*
 * The watchdog never calls into the store, so nothing a dead process left
 * behind can block it.  A request, an opening or a maintenance pass stuck
 * longer than `watchdog` seconds waits on a mutex a dead process held
 * (Debian's Berkeley DB mutexes are not robust): the process exits, its
 * web server starts another (its connections fail: never a 200), and the
 * next process to open the store runs recovery; sooner, after
 * UPKEEP_OLD_REGION_NS, if another process recovered the store meanwhile.
 */
static int
stuck(uint64_t started, uint64_t now, uint64_t limit)
{
	return started != 0 && now > started && now - started > limit;
}

/* What has run for UPKEEP_OLD_REGION_NS in a store recovered under it, or NULL. */
static const char *
in_old_region(struct gate *g, uint64_t now)
{
	const char *what = NULL;
	struct gate_thread *t;

	if (stuck(__atomic_load_n(&g->maintenance_started, __ATOMIC_RELAXED), now,
	    UPKEEP_OLD_REGION_NS))
		what = "store maintenance";
	pthread_mutex_lock(&g->threads_lock);
	for (t = g->threads; t != NULL && what == NULL; t = t->next)
		if (stuck(__atomic_load_n(&t->started, __ATOMIC_RELAXED), now, UPKEEP_OLD_REGION_NS))
			what = "a request";
	pthread_mutex_unlock(&g->threads_lock);
	return what != NULL && store_region_changed(&g->region) ? what : NULL;
}

static void *
watchdog(void *arg)
{
	struct gate *g = arg;
	uint64_t limit = (uint64_t)g->conf.watchdog_s * NS_PER_S, next = kg_mono_ns(), now;
	const char *what;
	unsigned secs;
	struct gate_thread *t;

	while (!next_tick(g, &next, TICK_NS)) {
		now = kg_mono_ns();
		what = NULL;
		secs = g->conf.watchdog_s;
		if (stuck(__atomic_load_n(&g->opening_started, __ATOMIC_RELAXED), now, limit))
			what = "opening the store";
		else if (stuck(__atomic_load_n(&g->maintenance_started, __ATOMIC_RELAXED), now, limit))
			what = "store maintenance";
		else if (stuck(__atomic_load_n(&g->flush_started, __ATOMIC_RELAXED), now,
		    FLUSH_STUCK_FACTOR * limit)) {
			what = "a flush";
			secs *= FLUSH_STUCK_FACTOR;
		}
		pthread_mutex_lock(&g->threads_lock);
		for (t = g->threads; t != NULL && what == NULL; t = t->next)
			if (stuck(__atomic_load_n(&t->started, __ATOMIC_RELAXED), now, limit))
				what = "a request";
		pthread_mutex_unlock(&g->threads_lock);
		if (what != NULL) {
			log_warnx("%s has been stuck for more than %us; exiting", what, secs);
			_exit(3);
		}
		if ((what = in_old_region(g, now)) != NULL) {
			log_warnx("%s has waited for more than 1s inside a store that another "
			    "process recovered meanwhile; exiting", what);
			_exit(3);
		}
	}
	return NULL;
}

/* name: what top -H and ps -L show in the server's process (15 bytes at most) */
static int
start_thread(struct gate *g, pthread_t *t, void *(*fn)(void *), const char *name)
{
	sigset_t all, old;
	int rc;

	/*
	 * Signals belong to the web server's own threads; a fault's belongs to
	 * the thread that faulted (mapguard.h).
	 */
	mapguard_thread_mask(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(t, NULL, fn, g);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc == 0) {
		pthread_setname_np(*t, name);
		g->nthreads_started++;
	}
	return rc == 0 ? 0 : -1;
}

/* ---- opening and closing ---- */

static int
init_sync(struct gate *g)
{
	pthread_rwlockattr_t ra;

	if (pthread_rwlockattr_init(&ra) != 0)
		return -1;
	/* a repair must not wait for a moment without readers: it may never come */
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	if (pthread_rwlock_init(&g->lock, &ra) != 0)
		return -1;
	pthread_rwlockattr_destroy(&ra);
	if (kg_mono_cond_init(&g->tick) != 0)
		return -1;
	pthread_mutex_init(&g->tick_lock, NULL);
	pthread_mutex_init(&g->threads_lock, NULL);
	return 0;
}

struct gate *
gate_open(const char *program, const char *config, const char *dir)
{
	struct gate *g;
	char err[600];

	if ((g = calloc(1, sizeof *g)) == NULL)
		return NULL;
	snprintf(g->program, sizeof g->program, "%s", program);
	if (load_conf(config, &g->conf, err, sizeof err) != 0) {
		log_init(g->program, LOG_TO_STDERR, 0);
		log_warnx("%s", err);
		free(g);
		return NULL;
	}
	log_init(g->program, g->conf.log, g->conf.debug);
	snprintf(g->dir, sizeof g->dir, "%s", dir != NULL ? dir : conf_db(NULL, &g->conf));
	if (init_sync(g) != 0 || (g->tally = tally_new()) == NULL ||
	    decision_table_init(&g->answers, g->conf.realm) != 0) {
		log_warnx("cannot set up (out of memory, or a realm too long)");
		tally_free(g->tally);
		free(g);
		return NULL;
	}
	g->upkeep.lock = &g->lock;
	upkeep_init(&g->upkeep);
	g->upkeep.dir = g->dir;
	g->upkeep.kg = &g->kg;
	g->upkeep.tally = g->tally;
	g->upkeep.metrics = &g->metrics;
	g->upkeep.progress = maintenance_progress;
	the_gate = g;
	/* Opening may block on what a dead process left: the watchdog covers it. */
	if (start_thread(g, &g->watchdog_thread, watchdog, "kg-watchdog") != 0) {
		log_warnx("cannot start a thread");
		gate_close(g);
		return NULL;
	}
	open_store(g);
	upkeep_first_flush(&g->upkeep);
	if (start_thread(g, &g->maint_thread, maintenance, "kg-maintenance") != 0 ||
	    start_thread(g, &g->flush_thread, flusher, "kg-flush") != 0) {
		log_warnx("cannot start a thread");
		gate_close(g);
		return NULL;
	}
	return g;
}

void
gate_close(struct gate *g)
{
	struct gate_thread *t, *next;

	if (g == NULL)
		return;
	pthread_mutex_lock(&g->tick_lock);
	g->stopping = 1;
	pthread_cond_broadcast(&g->tick);
	pthread_mutex_unlock(&g->tick_lock);
	if (g->nthreads_started > 0)
		pthread_join(g->watchdog_thread, NULL);
	if (g->nthreads_started > 1)
		pthread_join(g->maint_thread, NULL);
	if (g->nthreads_started > 2)
		pthread_join(g->flush_thread, NULL);
	/* a graceful stop loses no usage */
	upkeep_last_flush(&g->upkeep);
	if (g->open) {
		kg_close(&g->kg);
		g->open = 0;
	}
	metrics_close(g->metrics);
	g->metrics = NULL;
	upkeep_exclusive_end(&g->upkeep);
	for (t = g->threads; t != NULL; t = next) {
		next = t->next;
		digester_free(t->digester);
		free(t);
	}
	tally_free(g->tally);
	if (the_gate == g)
		the_gate = NULL;
	this_thread = NULL;
	free(g);
}

struct gate_thread *
gate_thread(struct gate *g)
{
	struct gate_thread *t = this_thread;
	struct authz_opts o;

	if (t != NULL && t->gate == g)
		return t;
	if ((t = calloc(1, sizeof *t)) == NULL)
		return NULL;
	t->gate = g;
	memset(&o, 0, sizeof o);
	o.query_param = g->conf.query_param[0] ? g->conf.query_param : NULL;
	o.tally = g->tally;
	o.index_wanted = &g->index_wanted;
	/*
	 * Under the lock: the store handle's digester is what this one copies,
	 * and it is replaced with the handle (none while the gate is closed:
	 * the clone is made on the first request after it opens).
	 */
	pthread_rwlock_rdlock(&g->lock);
	authz_init(&t->az, &g->kg, &o);
	pthread_rwlock_unlock(&g->lock);
	pthread_mutex_lock(&g->threads_lock);
	t->next = g->threads;
	g->threads = t;
	pthread_mutex_unlock(&g->threads_lock);
	this_thread = t;
	return t;
}

/* ---- a request ---- */

/* Whether a line may be logged now under budget b (now: the request's second). */
static int
log_allowed(struct log_word *b, int64_t now, const char *what)
{
	uint64_t w = __atomic_load_n(&b->w, __ATOMIC_RELAXED), nw, dropped;

	for (;;) {
		if ((int64_t)(w >> 32) != (now & 0xffffffff))
			nw = ((uint64_t)now << 32) | 1;
		else if ((w & 0xffffffff) < LOG_RATE)
			nw = w + 1;
		else {
			__atomic_fetch_add(&b->dropped, 1, __ATOMIC_RELAXED);
			return 0;
		}
		if (__atomic_compare_exchange_n(&b->w, &w, nw, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			break;
	}
	if ((nw & 0xffffffff) == 1 && (dropped = __atomic_exchange_n(&b->dropped, 0,
	    __ATOMIC_RELAXED)) > 0)
		log_info("%llu more %s were not logged in the last seconds",
		    (unsigned long long)dropped, what);
	return 1;
}

static void
log_outcome(struct gate *g, const struct authz_req *q, const struct authz_res *r, int64_t now)
{
	int all = g->conf.log_denials == LOG_DENIALS_ALL;

	if (authz_is_error(q, r)) {
		if (all || log_allowed(&g->error_log, now, "errors"))
			authz_log(q, r);
	} else if (r->verdict != V_ALLOW && g->conf.log_denials &&
	    (all || log_allowed(&g->deny_log, now, "denials"))) {
		authz_log(q, r);
	}
}

/* The thread's own digester, once the gate has a store (shared lock held). */
static int
thread_ready(struct gate_thread *t)
{
	struct gate *g = t->gate;

	if (t->digester != NULL)
		return 0;
	if ((t->digester = digester_clone(g->kg.digester)) == NULL)
		return -1;
	t->az.digester = t->digester;
	return 0;
}

static void
decide(struct gate_thread *t, const struct authz_req *q, uint64_t now_ns, struct authz_res *r)
{
	struct gate *g = t->gate;

	if (repair_due(g)) {
		pthread_rwlock_unlock(&g->lock);
		repair(g, 0);
		pthread_rwlock_rdlock(&g->lock);
	}
	if (!g->open || thread_ready(t) != 0) {
		memset(r, 0, sizeof *r);
		r->verdict = V_UNAVAILABLE;
		r->reason = g->open ? "out of memory" : "the store is not open (see the log)";
		return;
	}
	authz_decide(&t->az, q, now_ns, r);
	/*
	 * The store broke under this request: reopen and decide again.  Safe,
	 * because a decision reads the store before it consumes any counter.
	 */
	if (r->verdict == V_UNAVAILABLE && store_broken(g->kg.store)) {
		pthread_rwlock_unlock(&g->lock);
		repair(g, 0);
		pthread_rwlock_rdlock(&g->lock);
		if (g->open && !store_broken(g->kg.store))
			authz_decide(&t->az, q, kg_now_ns(), r);
	}
}

/*
 * The CGI-style answer (decision.c's, the very bytes keygate-authz
 * sends) split into a: NUL-terminated in the thread's buffer.  An allow's
 * headers are Variable-*, handed on without the prefix.
 */
static int
split_answer(char *text, size_t len, struct gate_answer *a)
{
	static const char variable[] = "Variable-";
	char *p = text, *end = text + len, *eol, *colon;
	int status;

	memset(a, 0, sizeof *a);
	if (len < 12 || strncmp(p, "Status: ", 8) != 0)
		return -1;
	status = atoi(p + 8);
	if ((a->phrase = decision_phrase(status)) == NULL)
		return -1;
	a->status = status;
	for (;;) {
		if ((eol = memchr(p, '\r', (size_t)(end - p))) == NULL || eol + 1 >= end || eol[1] != '\n')
			return -1;
		*eol = '\0';
		if (p != text) { /* not the Status line */
			if (eol == p)
				break;  /* the blank line */
			if ((colon = strchr(p, ':')) == NULL || colon[1] != ' ' ||
			    a->nheaders == GATE_HEADERS_MAX)
				return -1;
			*colon = '\0';
			if (status == 200 && strncmp(p, variable, sizeof variable - 1) == 0)
				p += sizeof variable - 1;
			a->headers[a->nheaders].name = p;
			a->headers[a->nheaders].value = colon + 2;
			if (status == 200 && strcmp(p, "Key-Id") == 0)
				a->key_id = colon + 2;
			a->nheaders++;
		}
		p = eol + 2;
	}
	p = eol + 2;
	if (status != 200) {
		a->body = p;
		a->body_len = (size_t)(end - p);
	}
	return 0;
}

static const char fallback_body[] =
    "{\"error\":{\"code\":\"unavailable\",\"message\":\"The API key service is temporarily unavailable.\"}}\n";
static const char fallback_internal[] =
    "{\"error\":{\"code\":\"internal_error\",\"message\":\"Internal error.\"}}\n";

static void
fixed_answer(struct gate_answer *a, int status, const char *phrase, const char *body, size_t len)
{
	memset(a, 0, sizeof *a);
	a->status = status;
	a->phrase = phrase;
	a->headers[0].name = "Content-Type";
	a->headers[0].value = "application/json";
	a->headers[1].name = "Cache-Control";
	a->headers[1].value = "no-store";
	a->nheaders = 2;
	a->body = body;
	a->body_len = len;
}

void
gate_unavailable(struct gate_answer *a)
{
	fixed_answer(a, 503, "Service Unavailable", fallback_body, sizeof fallback_body - 1);
}

void
gate_decide(struct gate_thread *t, const struct gate_request *gq, struct gate_answer *a)
{
	struct gate *g = t->gate;
	struct authz_req q = {
		.role = ROLE_AUTHORIZER,
		.authorization = gq->authorization,
		.nauthorization = gq->nauthorization,
		.x_api_key = gq->x_api_key,
		.nx_api_key = gq->nx_api_key,
		.method = gq->method,
		.uri = gq->uri,
		.host = gq->host,
		.remote = gq->remote,
		.query = g->conf.query_param[0] ? gq->query : NULL,
		.subrequest = gq->subrequest,
	};
	struct authz_res r;
	const char *answer;
	uint64_t now_ns = kg_now_ns(), t0 = kg_mono_ns();
	int n, outcome;

	__atomic_store_n(&t->started, t0, __ATOMIC_RELAXED);
	pthread_rwlock_rdlock(&g->lock);
	decide(t, &q, now_ns, &r);
	n = decision_answer(&g->answers, &r, g->conf.realm, t->out, sizeof t->out, &answer);
	outcome = decision_answered(&r, answer, n);
	if (n >= 0 && answer != t->out) {
		if ((size_t)n <= sizeof t->out)
			memcpy(t->out, answer, (size_t)n); /* a pre-rendered denial */
		else
			n = -1;
	}
	metrics_request_shared(g->metrics, (unsigned)outcome, kg_mono_ns() - t0);
	pthread_rwlock_unlock(&g->lock);
	__atomic_store_n(&t->started, 0, __ATOMIC_RELAXED);
	if (n < 0 || split_answer(t->out, (size_t)n, a) != 0)
		fixed_answer(a, 500, "Internal Server Error", fallback_internal,
		    sizeof fallback_internal - 1);
	log_outcome(g, &q, &r, (int64_t)(now_ns / NS_PER_S));
}
