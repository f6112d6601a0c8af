/*
 * keygate-repd.c - the process that owns this host's site of a
 * replicated store (keygate-repd(8), doc/DESIGN.md section 15).
 *
 * Threads: the main loop (bring the site up, then every 10 ms follow
 * replicated changes into the key index and generation, every 100 ms
 * publish this copy's state to the authorizers, every second the store's
 * upkeep); a thread that every 250 ms tells the master how far this
 * replica has come (report_thread); a thread accepting the host's
 * processes on repl.sock, one thread per request; and the replication
 * manager's own threads, which run the requests of other sites on the
 * master.
 *
 * A write, from wherever it comes, is carried out by the master's
 * keygate-repd with the catalog, the ledger or the tally themselves
 * (catfwd.h, ledger.h, tally.h); a replica forwards it over the
 * replication manager's channel and answers its process once this host
 * holds the change and has mirrored it (read your writes).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catfwd.h"
#include "conf.h"
#include "ctx.h"
#include "ledger.h"
#include "log.h"
#include "mirror.h"
#include "repl.h"
#include "repllink.h"
#include "replmsg.h"
#include "replsite.h"

#define NS_PER_MS 1000000ull
#define TICK_MS 10                 /* following replicated changes */
#define PUBLISH_MS 100             /* the state the authorizers read */
#define GOSSIP_MS 250              /* a replica's state to the master */
#define UPKEEP_MS 1000             /* failchk, lock expiry, a replaced counter file */
#define CHECKPOINT_S 60
/*
 * And sooner after a burst of writes (an import): a log file (10 MB) is
 * removed only once a checkpoint is past it, so that without this the
 * logs of a minute of imports (gigabytes) stayed on disk, and a replica
 * down meanwhile could still read them instead of needing a full copy.
 */
#define CHECKPOINT_LOG_KB (8 * 1024)
#define HISTORY_UPKEEP_S 60
#define NO_MASTER_WAIT_MS 5000     /* a write waits this long for an election */
/*
 * A forwarded write carries the time after which the master must not
 * start it (REQUEST_VALID_MS from now, on the sender's clock); its answer
 * is awaited REQUEST_MARGIN_MS longer.  A master that was stopped (or cut
 * off) and comes back never runs a write its sender gave up on.
 */
#define REQUEST_VALID_MS 10000
#define REQUEST_MARGIN_MS 5000
/*
 * A flush (ledger, usage history) is sent again by its process within a
 * second whatever becomes of it, and that process stops waiting after 5 s
 * (FORWARD_TIMEOUT_MS in ledger.c and tally.c): it is given up sooner,
 * and not waited for here, so that a master hanging or a change of master
 * keeps no thread of this site in the library for long (a replica's
 * rollback waits for every call in progress).
 */
#define FLUSH_VALID_MS 2000
#define FLUSH_MARGIN_MS 1000
#define EXIT_DEAD_ENV 3            /* the environment died: start me again (exit_dead) */
#define STOP_GRACE_S 10            /* from SIGTERM to the end, whatever the store's state */
#define DRAIN_WAIT_MS 3000         /* for the channels still being opened (take_down) */
#define QUORUM_WAIT_MS 3000       /* a new master, for its quorum to reconnect */
/*
 * A master writes only while a quorum has reported to it this recently
 * (each replica reports every GOSSIP_MS): its connections alone say
 * nothing across a silent partition (master_ready).
 */
#define QUORUM_HEARD_MS 1500
#define APPLIED_WAIT_MS 3000       /* this host to hold what the master wrote */
#define LINK_IO_MS 5000            /* a local request to arrive, its answer to leave */
#define LINK_THREADS_MAX 64
#define BEHIND_AFTER_MS 1000       /* catching up for longer than this: 503 */
#define BEHIND_LAG_NS (30ull * 1000000000ull) /* this far behind: 503 */
#define START_MASTER_WAIT_MS 5000  /* no master this long after an open: decide from the copy */
#define START_FAILURES_MAX 3       /* environments dead in a row before catching up: damaged */
#define OPEN_FAIL_MS 30000         /* the store failing to open this long: stop */
#define STUCK_CLOSE_MS 5000        /* closing the environment takes milliseconds */
#define STUCK_LIFE_MS (REQUEST_VALID_MS + REQUEST_MARGIN_MS + 5000) /* forwarded writes end */
#define STUCK_SERVE_MS 30000       /* one turn of the main loop, the copy not caught up */
#define WATCHDOG_MS 250
#define PEER_STALE_MS 3000         /* a site not heard of: its state unknown */
#define MEMBERS_STALE_MS 3000      /* a member the master hears and this site does not know */
#define MEMBERS_HEARD_MS 30000     /* ... heard of by the master that recently */
#define LOCKED_STUCK_MS 5000       /* replication locked with no progress: restart (sync_stuck) */
#define LAG_SAMPLES 64

struct peer {
	struct replsite_info info;
	uint64_t heard;        /* kg_mono_ns() */
	uint64_t reported;     /* kg_mono_ns(): its last report to this site as master, 0: none */
};

struct repd {
	struct conf conf;
	const char *dir;
	struct repl_setup setup;
	int listen_fd;
	volatile sig_atomic_t stop;

	/* the store: d->up says whether kg may be used; changed under lock held for writing */
	pthread_rwlock_t lock;
	/*
	 * The store's life: held shared by a forwarded write for as long as
	 * it waits for the master (seconds, when the master is gone), and
	 * exclusive only to close the store.  Taken before lock, which such a
	 * write holds only for moments: nothing that needs lock exclusive
	 * (the counter file mapped again) waits out a silent master.
	 */
	pthread_rwlock_t life;
	int up;                /* atomic */
	struct kg kg;
	pthread_mutex_t cat_mu;    /* one catalog operation at a time (digester, keyindex.lock) */
	pthread_mutex_t mirror_mu;
	struct mirror *mirror;
	int reset;             /* atomic: an event asks for the index to be rebuilt */
	int reopen;            /* atomic: a full copy replaced the files under our handles */
	/* the main thread, watched (watchdog_thread): since when, and for how long at most */
	uint64_t watch_since;  /* atomic, kg_mono_ns(); 0: not watched */
	uint64_t watch_limit_ms; /* atomic; 0: no limit */
	int orgkeys_checked;   /* as master */
	uint64_t catching_up_since; /* kg_mono_ns(), 0: caught up */
	/*
	 * Since the store was last (re)opened (bring_up): when, the master's
	 * last committed record in the first answer it gave after that (if
	 * have_start), and whether this copy has caught up with it (publish).
	 */
	uint64_t opened_at;
	uint64_t start_lsn;
	int have_start;
	int synced;            /* atomic (the watchdog reads it) */
	int resample;          /* atomic: a new master; start_lsn is asked again */
	int dying;             /* atomic: die_dead is under way */

	/* the group as the master tells it (or, on the master, as the others tell it) */
	pthread_mutex_t gmu;
	struct peer peers[REPL_SITES_MAX];
	size_t npeers;
	struct { uint64_t lsn, at; } samples[LAG_SAMPLES];
	unsigned nsamples, head;
	uint64_t lag_ns;
	enum replsite_state state;

	int link_threads;      /* atomic */
	/*
	 * The master as the events tell it (rep_stat keeps the last one after
	 * it is lost): MASTER_UNKNOWN until an event says, MASTER_NONE while
	 * an election runs, MASTER_SELF, or the master's eid.
	 */
	int master;            /* atomic */

	/* membership_stale: since when a member is missing, and what was done of it */
	uint64_t missing_since;
	int election_failed;   /* atomic: since missing_since */
	struct repl_addr gave_up[REPL_SITES_MAX]; /* still missing right after a reopen */
	size_t ngave_up;
	struct repl_addr reopened_for;
	int reopened;          /* reopened_for is set: look at it once the site is up again */

	/* sync_stuck: since when replication is locked, and where it stood then */
	uint64_t locked_since;
	uint64_t locked_lsn;
};

#define MASTER_UNKNOWN (-2)
#define MASTER_NONE (-1)
#define MASTER_SELF (-3)

static struct repd D;

static void publish_starting(struct repd *d);
static void die_dead(struct repd *d) __attribute__((noreturn));
static void sleep_ms(unsigned ms);
static void exit_dead(struct repd *d, const char *why) __attribute__((noreturn));

static void
on_signal(int sig)
{
	(void)sig;
	/*
	 * A store that Berkeley DB declared dead (DB_RUNRECOVERY) can leave a
	 * thread blocked for ever on one of its mutexes, and the shutdown
	 * waiting for it: SIGALRM's default action ends the process then.
	 * Whoever opens the store next recovers it.
	 */
	if (!D.stop)
		alarm(STOP_GRACE_S);
	D.stop = 1;
}

/* ---- events (on the replication manager's threads) ---- */

static void
on_event(void *ctx, enum repl_event e, int eid)
{
	struct repd *d = ctx;

	switch (e) {
	case REPL_EV_MASTER:
		__atomic_store_n(&d->master, MASTER_SELF, __ATOMIC_RELEASE);
		log_info("this site is now the master of the group");
		__atomic_store_n(&d->orgkeys_checked, 0, __ATOMIC_RELEASE);
		break;
	case REPL_EV_CLIENT:
		if (__atomic_load_n(&d->master, __ATOMIC_ACQUIRE) == MASTER_SELF)
			__atomic_store_n(&d->master, MASTER_NONE, __ATOMIC_RELEASE);
		log_info("this site is now a replica");
		break;
	case REPL_EV_NEWMASTER:
		__atomic_store_n(&d->master, eid, __ATOMIC_RELEASE);
		/* a copy not yet caught up catches up with this one (a rollback may come first) */
		__atomic_store_n(&d->resample, 1, __ATOMIC_RELEASE);
		log_info("the group has a new master (site %d)", eid);
		break;
	case REPL_EV_STARTUPDONE:
		log_info("this replica has caught up with the master");
		break;
	case REPL_EV_INIT_DONE:
		log_info("this replica received a full copy of the store from the group");
		/* handles opened before it may still read the old files: see bring_up */
		__atomic_store_n(&d->reopen, 1, __ATOMIC_RELEASE);
		break;
	case REPL_EV_DUPMASTER:
		log_warnx("two masters met: this one stepped down (its writes no quorum confirmed "
		    "are rolled back)");
		__atomic_store_n(&d->reset, 1, __ATOMIC_RELEASE);
		break;
	case REPL_EV_MASTER_FAILURE:
		__atomic_store_n(&d->master, MASTER_NONE, __ATOMIC_RELEASE);
		log_warnx("the master was lost; an election follows");
		break;
	case REPL_EV_ELECTION_FAILED:
		log_debug("an election failed (too few sites answered); it is tried again");
		__atomic_store_n(&d->election_failed, 1, __ATOMIC_RELEASE);
		break;
	case REPL_EV_PERM_FAILED:
		log_warnx("a commit was not acknowledged by a quorum of sites in time");
		break;
	case REPL_EV_JOIN_FAILURE:
		log_warnx("this site could not synchronise with the master");
		break;
	case REPL_EV_PANIC:
		/*
		 * At once, from this thread: the main loop may itself be
		 * blocked inside the dead environment (exit_dead).
		 */
		exit_dead(d, "Berkeley DB panicked");
	case REPL_EV_REMOVED:
		log_warnx("this site was removed from the group");
		break;
	case REPL_EV_CONNECTED:
		log_debug("connected to site %d", eid);
		break;
	case REPL_EV_DISCONNECTED:
		log_debug("lost the connection to site %d", eid);
		break;
	default:
		break;
	}
}

/* ---- the group's state ---- */

static uint64_t
now_ms(void)
{
	return kg_mono_ns() / NS_PER_MS;
}

static int
is_up(struct repd *d)
{
	return __atomic_load_n(&d->up, __ATOMIC_ACQUIRE);
}

/* The peer entry of addr (added if new), under gmu. */
static struct peer *
peer_of(struct repd *d, const struct repl_addr *a)
{
	size_t i;

	for (i = 0; i < d->npeers; i++)
		if (conf_same_addr(&d->peers[i].info.addr, a))
			return &d->peers[i];
	if (d->npeers == REPL_SITES_MAX)
		return NULL;
	memset(&d->peers[d->npeers], 0, sizeof d->peers[0]);
	d->peers[d->npeers].info.addr = *a;
	return &d->peers[d->npeers++];
}

/*
 * How long this replica has been behind the master's committed log, from
 * the master's samples: since the master had a commit this log lacks.
 */
static uint64_t
lag_of(struct repd *d, uint64_t lsn, uint64_t now)
{
	unsigned i, k;

	for (i = 0; i < d->nsamples; i++) {
		k = (d->head + LAG_SAMPLES - d->nsamples + i) % LAG_SAMPLES;
		if (d->samples[k].lsn >= lsn)
			return now - d->samples[k].at;
	}
	return 0;
}

static void
self_info(struct repd *d, const struct repl_info *ri, struct replsite_info *out)
{
	memset(out, 0, sizeof *out);
	out->addr = d->setup.local;
	out->role = ri->role;
	out->state = is_up(d) ? d->state : SITE_STARTING;
	out->connected = 1;
	out->lsn = ri->lsn;
	out->lag_ns = d->lag_ns;
	out->age_ms = 0;
}

/* The master's eid (ri->self_eid for this site), or -1: none known. */
static int
site_connected(const struct repl_info *ri, int eid)
{
	size_t i;

	for (i = 0; i < ri->nsites; i++)
		if (ri->sites[i].eid == eid)
			return ri->sites[i].connected;
	return 0;
}

static int
master_of(struct repd *d, const struct repl_info *ri)
{
	int m = __atomic_load_n(&d->master, __ATOMIC_ACQUIRE);

	if (ri->role == REPL_ROLE_MASTER)
		return ri->self_eid;
	if (m == MASTER_UNKNOWN)
		return ri->master_eid;
	if (m == MASTER_NONE && ri->master_eid >= 0 && site_connected(ri, ri->master_eid)) {
		/*
		 * The events said the master was lost, but the library still
		 * knows it and is connected to it: this site's own silence (a
		 * pause longer than the heartbeat monitor) raised the alarm.
		 * The master never changed, so no event says so; measured:
		 * 33-75 s, or never, before this replica wrote again.
		 */
		return ri->master_eid;
	}
	return m == MASTER_SELF ? -1 : m;
}

/* ---- publishing this copy's state ---- */

/*
 * Until the store is open (keygate-repd starting, or reopening it after a
 * rollback, a full copy or a recovery), the copy is whatever a previous
 * run left: hours old maybe, or half of a full copy that the library is
 * about to redo, and the key index derived from it likewise.  The
 * authorizers must not decide from it: keygate-repd says BEHIND in the
 * counter file before it opens anything, and again at every retry (a word
 * counts for COUNTERS_REPL_FRESH_S).  Only keygate-repd applies the
 * group's changes, so a copy is half-applied only while it runs; an
 * authorizer started while no keygate-repd runs decides from the copy it
 * has, as on a host cut off from the group.
 */
/*
 * Says state in the counter file, now: BEHIND (no lag known) or STOPPED,
 * counting a failed start if asked.  With no counter file yet, nothing:
 * the first process to attach makes it, and the next call says it.  A
 * file that cannot be opened otherwise is said in the log: the host's
 * authorizers then go by the last word they had, which lapses after
 * COUNTERS_REPL_FRESH_S.
 */
static void
publish_state(struct repd *d, uint32_t state, int failed_start)
{
	struct counters_repl *cr;
	struct counters *c;
	char err[600];

	if ((c = counters_open(d->dir, err, sizeof err)) == NULL) {
		if (errno != ENOENT)
			log_warnx("cannot tell this host's authorizers that the site is %s: %s",
			    state == COUNTERS_REPL_STOPPED ? "stopped" : "behind", err);
		return;
	}
	cr = counters_repl(c);
	if (state == COUNTERS_REPL_BEHIND)
		__atomic_store_n(&cr->lag_ns, 0, __ATOMIC_RELAXED);
	if (failed_start)
		__atomic_add_fetch(&cr->failed_starts, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&cr->at, kg_now(), __ATOMIC_RELAXED);
	__atomic_store_n(&cr->state, state, __ATOMIC_RELEASE);
	counters_close(c);
}

static void
publish_starting(struct repd *d)
{
	publish_state(d, COUNTERS_REPL_BEHIND, 0);
}

/*
 * keygate-repd stops with a copy that cannot be trusted: a damaged store,
 * or an environment that died (its service starts keygate-repd again,
 * which recovers it).  The authorizers answer 503 until a keygate-repd
 * says otherwise, however long that takes: BEHIND would lapse after
 * COUNTERS_REPL_FRESH_S and let them decide from that copy.  A start
 * whose environment died before it caught up is counted: see
 * check_failed_starts.
 */
static void
publish_stopped(struct repd *d, int failed_start)
{
	publish_state(d, COUNTERS_REPL_STOPPED, failed_start);
}

/*
 * Exits with EXIT_DEAD_ENV from whichever thread found the environment
 * dead or held (the panic event, the main loop, the watchdog): once, so
 * that a start is counted once when two of them find it together.
 */
static void
die_dead(struct repd *d)
{
	if (__atomic_exchange_n(&d->dying, 1, __ATOMIC_ACQ_REL))
		for (;;)
			pause(); /* the first one exits */
	publish_stopped(d, !__atomic_load_n(&d->synced, __ATOMIC_ACQUIRE));
	_exit(EXIT_DEAD_ENV);
}

/* Stops for good on a store that cannot be trusted: one line that says what to do. */
static void refuse(struct repd *d, const char *fmt, ...) KG_PRINTF(2, 3) __attribute__((noreturn));

static void
refuse(struct repd *d, const char *fmt, ...)
{
	char why[800], peer[REPL_HOST_MAX + 16] = "HOST:PORT";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (d->conf.nrepl_peers > 0)
		replsite_addr_str(&d->conf.repl_peers[0], peer, sizeof peer);
	publish_stopped(d, 0);
	fatalx("%s: this site's authorizers answer 503; move the directory away and run "
	    "keygate repl join %s to copy the group's store", why, peer);
}

/*
 * The main thread can be held inside the library: measured on a table cut
 * short, a replication thread looped for ever in the buffer pool, and
 * closing the environment waited for it (20 s and more, until the test
 * ended), while the BEHIND word lapsed and the authorizers decided from
 * the damaged copy.  While the main thread is watched (a turn of the main
 * loop before the copy has caught up, a reopen, an open), the watchdog
 * keeps BEHIND said; past the limit, the environment is as good as dead:
 * keygate-repd exits as on a panic (exit_dead), and a keygate-repd that
 * dies before it caught up counts towards START_FAILURES_MAX.  A copy
 * that has caught up is not watched: a main loop that stalls then leaves
 * the host deciding as a partitioned one (COUNTERS_REPL_FRESH_S).
 */
static void
watch(struct repd *d, uint64_t limit_ms)
{
	__atomic_store_n(&d->watch_limit_ms, limit_ms, __ATOMIC_RELAXED);
	__atomic_store_n(&d->watch_since, kg_mono_ns(), __ATOMIC_RELEASE);
}

static void
unwatch(struct repd *d)
{
	__atomic_store_n(&d->watch_since, 0, __ATOMIC_RELEASE);
}

static void *
watchdog_thread(void *arg)
{
	struct repd *d = arg;
	uint64_t since, limit_ms, stuck_ms;

	for (;;) {
		sleep_ms(WATCHDOG_MS);
		since = __atomic_load_n(&d->watch_since, __ATOMIC_ACQUIRE);
		limit_ms = __atomic_load_n(&d->watch_limit_ms, __ATOMIC_RELAXED);
		if (since == 0 || d->stop)
			continue;
		stuck_ms = (kg_mono_ns() - since) / NS_PER_MS;
		if (limit_ms != 0 && stuck_ms > limit_ms) {
			log_warnx("keygate-repd has been held inside Berkeley DB for %llu ms; it exits "
			    "so that its service starts it again and it recovers the store",
			    (unsigned long long)stuck_ms);
			die_dead(d);
		}
		if (stuck_ms > 1000)
			publish_starting(d);
	}
	return NULL;
}

/*
 * Whether this copy has caught up since the store was (re)opened, under
 * gmu: it holds and has mirrored into the key index (which the authorizers
 * read first) everything up to the master's last committed record in the
 * master's first answer after the open (not its end of log: a master's
 * log can end with records that go out only with its next commit, and an
 * idle master left a replica short of them for good, measured).  Nothing else can tell: the library's
 * st_startup_complete is a statistic that the regions keep across a
 * restart, and the lag is measured from the master's answers.  The master
 * is caught up by definition; a replica that finds no master for
 * START_MASTER_WAIT_MS decides from what it has, as a partitioned one does.
 */
static int
caught_up(struct repd *d, const struct repl_info *ri, uint64_t followed, uint64_t now)
{
	int synced = __atomic_load_n(&d->synced, __ATOMIC_RELAXED);

	if (synced)
		return 1;
	if (ri->role == REPL_ROLE_MASTER) {
		synced = 1;
	} else if (d->have_start && ri->lsn > d->start_lsn && followed > d->start_lsn) {
		log_info("this copy has caught up with the master (%.1f s after it was opened)",
		    (double)(now - d->opened_at) / 1e9);
		synced = 1;
	} else if (master_of(d, ri) < 0 &&
	    now - d->opened_at > START_MASTER_WAIT_MS * NS_PER_MS) {
		log_warnx("no master of the group in %d s: this copy decides from what it has, "
		    "as one cut off from the group does", START_MASTER_WAIT_MS / 1000);
		synced = 1;
	}
	/* read by the watchdog and the panic's exit (atomic) */
	__atomic_store_n(&d->synced, synced, __ATOMIC_RELEASE);
	return synced;
}

/*
 * A copy not caught up since it was opened, being initialised, catching
 * up for more than a moment, or that knows itself far behind, must not
 * decide: the authorizers answer 503 until it is ready.  A replica that
 * has no master (a partition, an election) decides from what it has.
 */
static void
publish(struct repd *d)
{
	struct counters_repl *cr;
	struct repl_info ri;
	uint64_t now = kg_mono_ns(), followed;
	int behind, applying;

	if (repl_info(d->kg.store, &ri) != 0)
		return;
	pthread_mutex_lock(&d->mirror_mu);
	followed = mirror_followed(d->mirror);
	pthread_mutex_unlock(&d->mirror_mu);
	pthread_mutex_lock(&d->gmu);
	d->lag_ns = ri.role == REPL_ROLE_CLIENT ? lag_of(d, ri.lsn, now) : 0;
	if (ri.role == REPL_ROLE_CLIENT && master_of(d, &ri) >= 0 && !ri.startup_done) {
		if (d->catching_up_since == 0)
			d->catching_up_since = now;
	} else {
		d->catching_up_since = 0;
	}
	applying = ri.role == REPL_ROLE_MASTER || master_of(d, &ri) >= 0;
	behind = !caught_up(d, &ri, followed, now) || ri.initialising ||
	    d->lag_ns > BEHIND_LAG_NS || (d->catching_up_since != 0 &&
	    now - d->catching_up_since > BEHIND_AFTER_MS * NS_PER_MS);
	if ((d->state == SITE_BEHIND) != behind)
		log_debug("state: synced %d, initialising %d, lag %llu ns, catching up since %llu, "
		    "startup %d, master %d", __atomic_load_n(&d->synced, __ATOMIC_RELAXED),
		    ri.initialising, (unsigned long long)d->lag_ns,
		    (unsigned long long)d->catching_up_since, ri.startup_done, master_of(d, &ri));
	if ((d->state == SITE_BEHIND) != behind)
		log_info(behind ? "this copy is behind the master: its authorizers answer 503 "
		    "until it has caught up" : "this copy is up to date: its authorizers decide");
	d->state = behind ? SITE_BEHIND : SITE_READY;
	pthread_mutex_unlock(&d->gmu);
	if (d->kg.counters == NULL)
		return;
	cr = counters_repl(d->kg.counters);
	__atomic_store_n(&cr->role, ri.role == REPL_ROLE_MASTER ? COUNTERS_ROLE_MASTER :
	    COUNTERS_ROLE_REPLICA, __ATOMIC_RELAXED);
	__atomic_store_n(&cr->lag_ns, d->lag_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&cr->at, kg_now(), __ATOMIC_RELAXED);
	__atomic_store_n(&cr->state, behind ? COUNTERS_REPL_BEHIND : COUNTERS_REPL_READY,
	    __ATOMIC_RELEASE);
	/* a master's changes applied: the environment does not die of them */
	if (!behind && applying && __atomic_load_n(&cr->failed_starts, __ATOMIC_RELAXED) != 0)
		__atomic_store_n(&cr->failed_starts, 0, __ATOMIC_RELAXED);
}

/* ---- requests ---- */

static void
answer_only(enum replmsg_status st, const char *msg, void **ans, size_t *alen)
{
	if (replmsg_answer_only(st, msg, ans, alen) != 0) {
		*ans = NULL;
		*alen = 0;
	}
}

/* The other sites that reported to this master within QUORUM_HEARD_MS. */
static size_t
reported_recently(struct repd *d)
{
	uint64_t now = kg_mono_ns();
	size_t i, n = 0;

	pthread_mutex_lock(&d->gmu);
	for (i = 0; i < d->npeers; i++)
		n += d->peers[i].reported != 0 &&
		    now - d->peers[i].reported < QUORUM_HEARD_MS * NS_PER_MS &&
		    !conf_same_addr(&d->peers[i].info.addr, &d->setup.local);
	pthread_mutex_unlock(&d->gmu);
	return n;
}

/*
 * Why a master cannot write now.  The text of NOT_MASTER travels in the
 * answer to another site, whose forward() tells by it that the master
 * moved rather than lost its quorum.
 */
#define NOT_MASTER_WHY "this site is no longer the master"
enum readiness { READY, NOT_MASTER, NO_QUORUM };

/*
 * A master writes only while a quorum of the group hears it: a commit
 * that no quorum acknowledges could be lost with this site, so the write
 * is refused, with nothing changed, instead.  The replication manager's
 * connections are not enough to tell: across a silent partition they
 * stay open (TCP keeps retrying for many minutes), and a master cut off
 * from the others committed each write alone, then reported it as not
 * confirmed, while its own authorizers decided with it until the heal
 * rolled it back.  The replicas' reports (every GOSSIP_MS) are the
 * evidence that they hear this master now.
 */
static enum readiness
master_ready(struct repd *d)
{
	struct repl_info ri;
	size_t i, connected = 0, quorum;

	if (repl_info(d->kg.store, &ri) != 0 || ri.role != REPL_ROLE_MASTER)
		return NOT_MASTER;
	quorum = ri.group_size / 2 + 1;
	for (i = 0; i < ri.nsites; i++)
		connected += ri.sites[i].connected;
	if (connected + 1 < quorum || reported_recently(d) + 1 < quorum)
		return NO_QUORUM;
	return READY;
}

/* A write run here, the master (under the store's lock, read). */
static void
execute(struct repd *d, int kind, struct replmsg_r *r, int local, void **ans, size_t *alen)
{
	struct replmsg_w w;
	enum readiness rd;
	uint64_t deadline = kg_mono_ns() + (uint64_t)QUORUM_WAIT_MS * 1000000u;

	/*
	 * Just after an election the other sites are still reconnecting and
	 * have not reported yet.  A local request waits for them here; one
	 * from another site is sent back to wait on its own side (forward):
	 * it runs on one of the replication manager's few message threads,
	 * which the reports that would end the wait also need.
	 */
	while (local && (rd = master_ready(d)) == NO_QUORUM && kg_mono_ns() < deadline)
		usleep(50000);
	if ((rd = master_ready(d)) != READY) {
		answer_only(!local || rd == NOT_MASTER ? RS_NOT_MASTER : RS_UNAVAILABLE,
		    rd == NOT_MASTER ? NOT_MASTER_WHY :
		    "the master reaches no quorum of the group's sites", ans, alen);
		return;
	}
	rmw_init(&w);
	replsite_execute(&d->kg, kind, r, &w, &d->cat_mu);
	if (w.failed) {
		rmw_free(&w);
		answer_only(RS_UNAVAILABLE, "out of memory", ans, alen);
		return;
	}
	*ans = w.buf;
	*alen = w.len;
}

static void
mirror_now(struct repd *d)
{
	char err[600];
	int st;

	pthread_mutex_lock(&d->mirror_mu);
	if (mirror_pass(d->mirror, &d->kg, &st, err, sizeof err) < 0)
		log_debug("following the store: %s", err);
	pthread_mutex_unlock(&d->mirror_mu);
}

/*
 * A write from a process of this host, on a replica: to the master, and
 * answered once this host holds the change and has mirrored it, so that
 * the next request here sees it.  No master (an election) is waited for
 * a little; a master that never answers, or whose connection is lost while
 * it has the request, leaves the outcome unknown: a write is not sent twice.
 */
static void
forward(struct repd *d, int kind, const void *req, size_t len, void **ans, size_t *alen)
{
	int flush = kind == RM_LEDGER || kind == RM_HISTORY;
	unsigned valid_ms = flush ? FLUSH_VALID_MS : REQUEST_VALID_MS,
	    margin_ms = flush ? FLUSH_MARGIN_MS : REQUEST_MARGIN_MS;
	uint64_t deadline = kg_mono_ns() + NO_MASTER_WAIT_MS * NS_PER_MS;
	unsigned char token[STORE_TOKEN_LEN];
	struct timespec pause = {0, 50 * 1000000L};
	char refusal[REPLMSG_LINE_MAX + 1] = "";
	enum repl_send rc;
	struct replmsg_r r;
	const char *msg;
	void *reply;
	size_t rlen;

	for (;;) {
		struct repl_info ri;
		struct replmsg_w w;

		pthread_rwlock_rdlock(&d->life);
		if (!is_up(d)) {
			pthread_rwlock_unlock(&d->life);
			answer_only(RS_UNAVAILABLE, "keygate-repd is (re)opening the store", ans, alen);
			return;
		}
		if (repl_info(d->kg.store, &ri) != 0 || (ri.role != REPL_ROLE_MASTER &&
		    master_of(d, &ri) < 0)) {
			rc = REPL_NO_MASTER; /* an election: wait for its winner */
		} else {
			rmw_init(&w);
			rmw_expiring(&w, (int64_t)(kg_now_ns() / NS_PER_MS) + valid_ms, req, len);
			rc = w.failed ? REPL_SEND_ERROR : repl_request_master(d->kg.store, w.buf,
			    w.len, valid_ms + margin_ms, &reply, &rlen);
			rmw_free(&w);
		}
		if (rc == REPL_SENT) {
			rmr_init(&r, reply, rlen);
			if (rmr_answer(&r, &msg) == RS_NOT_MASTER) {
				/* no longer the master, or not yet heard by a quorum: again */
				if (strcmp(msg, NOT_MASTER_WHY) != 0)
					snprintf(refusal, sizeof refusal, "%s", msg);
				free(reply);
				rc = REPL_NO_MASTER;
			} else {
				if (!flush && catfwd_answer_token(reply, rlen, token) == 1 &&
				    repl_wait_applied(d->kg.store, token, APPLIED_WAIT_MS) != 0)
					log_debug("a forwarded write is not here yet after %d ms",
					    APPLIED_WAIT_MS);
				if (!flush) {
					pthread_rwlock_rdlock(&d->lock);
					mirror_now(d);
					pthread_rwlock_unlock(&d->lock);
				}
				pthread_rwlock_unlock(&d->life);
				*ans = reply;
				*alen = rlen;
				return;
			}
		}
		pthread_rwlock_unlock(&d->life);
		/* a flush may go again: it holds absolute counts, a batch is written once */
		if (rc == REPL_LOST && !flush) {
			answer_only(RS_UNKNOWN, "the connection to the master was lost while it had "
			    "the request", ans, alen);
			return;
		}
		if (rc == REPL_TIMEOUT || rc == REPL_SEND_ERROR) {
			answer_only(RS_UNKNOWN, "the master did not answer", ans, alen);
			return;
		}
		if (kg_mono_ns() >= deadline || d->stop) {
			answer_only(RS_UNAVAILABLE, refusal[0] != '\0' ? refusal :
			    "no master of the group is reachable", ans, alen);
			return;
		}
		nanosleep(&pause, NULL);
	}
}

/* ---- gossip: each replica's state to the master, the group's back ---- */

static void
put_peers(struct repd *d, struct replmsg_w *w, const struct replsite_info *self)
{
	uint64_t now = kg_mono_ns();
	size_t i, n = 0;

	for (i = 0; i < d->npeers; i++)
		n += !conf_same_addr(&d->peers[i].info.addr, &self->addr);
	rmw_u32(w, (uint32_t)n + 1);
	replsite_put_status_info(w, self);
	for (i = 0; i < d->npeers; i++) {
		struct replsite_info in = d->peers[i].info;

		if (conf_same_addr(&in.addr, &self->addr))
			continue;
		in.age_ms = (now - d->peers[i].heard) / NS_PER_MS;
		replsite_put_status_info(w, &in);
	}
}

/* The master: a replica's state in, every site's out. */
static void
gossip_in(struct repd *d, struct replmsg_r *r, void **ans, size_t *alen)
{
	struct replsite_info in, self;
	struct repl_info ri;
	struct replmsg_w w;
	struct peer *p;

	replsite_get_status_info(r, &in);
	if (!rmr_done(r)) {
		answer_only(RS_REFUSED, "a malformed state", ans, alen);
		return;
	}
	if (!is_up(d) || repl_info(d->kg.store, &ri) != 0 || ri.role != REPL_ROLE_MASTER) {
		answer_only(RS_NOT_MASTER, "not the master", ans, alen);
		return;
	}
	rmw_init(&w);
	rmw_answer(&w, RS_OK, "");
	rmw_u64(&w, ri.perm_lsn);
	pthread_mutex_lock(&d->gmu);
	if ((p = peer_of(d, &in.addr)) != NULL) {
		p->info = in;
		p->heard = p->reported = kg_mono_ns();
	}
	self_info(d, &ri, &self);
	put_peers(d, &w, &self);
	pthread_mutex_unlock(&d->gmu);
	if (w.failed) {
		rmw_free(&w);
		answer_only(RS_UNAVAILABLE, "out of memory", ans, alen);
		return;
	}
	*ans = w.buf;
	*alen = w.len;
}

/* A replica: its state to the master; the master's log position and the group back. */
static void
gossip_out(struct repd *d)
{
	struct replsite_info self;
	struct repl_info ri;
	struct replmsg_w w;
	struct replmsg_r r;
	const char *msg;
	void *reply = NULL;
	size_t rlen = 0;
	struct replsite_info sites[REPLSITE_GOSSIP_MAX];
	uint64_t master_lsn, now;
	size_t i, n;
	struct peer *p;

	if (repl_info(d->kg.store, &ri) != 0 || ri.role != REPL_ROLE_CLIENT ||
	    master_of(d, &ri) < 0)
		return;
	pthread_mutex_lock(&d->gmu);
	self_info(d, &ri, &self);
	pthread_mutex_unlock(&d->gmu);
	rmw_init(&w);
	rmw_request(&w, RM_GOSSIP);
	replsite_put_status_info(&w, &self);
	if (w.failed || repl_request_master(d->kg.store, w.buf, w.len, GOSSIP_MS, &reply,
	    &rlen) != REPL_SENT) {
		rmw_free(&w);
		return;
	}
	rmw_free(&w);
	now = kg_mono_ns();
	rmr_init(&r, reply, rlen);
	/* all of it or nothing: a malformed answer changes no peer */
	if (rmr_answer(&r, &msg) == RS_OK &&
	    replsite_get_gossip(&r, &master_lsn, sites, &n) == 0) {
		pthread_mutex_lock(&d->gmu);
		if (__atomic_exchange_n(&d->resample, 0, __ATOMIC_ACQ_REL))
			d->have_start = 0;
		if (!d->have_start) {
			d->start_lsn = master_lsn;
			d->have_start = 1;
		}
		d->samples[d->head].lsn = master_lsn;
		d->samples[d->head].at = now;
		d->head = (d->head + 1) % LAG_SAMPLES;
		if (d->nsamples < LAG_SAMPLES)
			d->nsamples++;
		for (i = 0; i < n; i++) {
			if ((p = peer_of(d, &sites[i].addr)) != NULL) {
				p->info = sites[i];
				p->heard = now - sites[i].age_ms * NS_PER_MS;
			}
		}
		pthread_mutex_unlock(&d->gmu);
	}
	free(reply);
}

/*
 * A replica's reports go out from a thread of their own, not from the
 * main loop: they are the master's evidence that a quorum hears it
 * (master_ready), and the main loop can stall for seconds (a lone read
 * that meets a replication lockout sleeps 5 s inside the library,
 * whatever DB_REP_CONF_NOWAIT says; measured after every election),
 * which left a new master refusing writes for want of reports.
 */
static void *
report_thread(void *arg)
{
	struct repd *d = arg;

	for (;;) {
		sleep_ms(GOSSIP_MS);
		pthread_rwlock_rdlock(&d->life);
		if (is_up(d))
			gossip_out(d);
		pthread_rwlock_unlock(&d->life);
	}
	return NULL;
}

/* ---- status ---- */

static void
status(struct repd *d, void **ans, size_t *alen)
{
	struct replsite_status st;
	struct repl_info ri;
	struct replmsg_w w;
	uint64_t now = kg_mono_ns();
	size_t i, j;

	memset(&st, 0, sizeof st);
	memset(&ri, 0, sizeof ri);
	pthread_rwlock_rdlock(&d->lock);
	if (is_up(d)) {
		repl_info(d->kg.store, &ri);
		repl_settings(d->kg.store, &st.settings);
	}
	pthread_rwlock_unlock(&d->lock);
	pthread_mutex_lock(&d->gmu);
	self_info(d, &ri, &st.self);
	st.group_size = ri.group_size;
	st.priority = d->setup.priority;
	st.elections = ri.elections;
	if (ri.role == REPL_ROLE_MASTER) {
		st.have_master = 1;
		st.master = d->setup.local;
	}
	/* every other site the replication manager knows, with what was heard of it */
	for (i = 0; i < ri.nsites && st.nsites < REPL_SITES_MAX; i++) {
		struct replsite_info *s = &st.sites[st.nsites++];

		memset(s, 0, sizeof *s);
		s->addr = ri.sites[i].addr;
		s->connected = ri.sites[i].connected;
		s->age_ms = UINT64_MAX;
		if (ri.sites[i].eid == master_of(d, &ri)) {
			st.have_master = 1;
			st.master = s->addr;
			s->role = REPL_ROLE_MASTER;
		}
		for (j = 0; j < d->npeers; j++) {
			const struct peer *p = &d->peers[j];
			uint64_t age = (now - p->heard) / NS_PER_MS;

			if (!conf_same_addr(&p->info.addr, &s->addr) || age > PEER_STALE_MS)
				continue;
			s->role = p->info.role;
			s->state = p->info.state;
			s->lsn = p->info.lsn;
			s->lag_ns = p->info.lag_ns;
			s->age_ms = age;
		}
	}
	pthread_mutex_unlock(&d->gmu);
	rmw_init(&w);
	rmw_answer(&w, RS_OK, "");
	replsite_put_status(&w, &st);
	*ans = w.failed ? NULL : w.buf;
	*alen = w.failed ? 0 : w.len;
	if (w.failed)
		rmw_free(&w);
}

/*
 * One request: from a process of this host (local) or, on the master,
 * from another site's keygate-repd.
 */
static void
handle(struct repd *d, const void *req, size_t len, int local, void **ans, size_t *alen)
{
	struct replmsg_req q;
	struct repl_info ri;

	*ans = NULL;
	*alen = 0;
	switch (replmsg_route(req, len, local, (int64_t)(kg_now_ns() / NS_PER_MS), &q)) {
	case RR_EXPIRED:
		answer_only(RS_UNAVAILABLE, "the write reached the master after its sender "
		    "gave up; it was not made", ans, alen);
		return;
	case RR_STATUS:
		status(d, ans, alen);
		return;
	case RR_GOSSIP:
		pthread_rwlock_rdlock(&d->lock);
		gossip_in(d, &q.r, ans, alen);
		pthread_rwlock_unlock(&d->lock);
		return;
	case RR_WRITE:
		break;
	default:
		answer_only(RS_REFUSED, "an unknown request", ans, alen);
		return;
	}
	pthread_rwlock_rdlock(&d->lock);
	if (!is_up(d)) {
		pthread_rwlock_unlock(&d->lock);
		answer_only(local ? RS_UNAVAILABLE : RS_NOT_MASTER,
		    "keygate-repd is (re)opening the store", ans, alen);
		return;
	}
	if (repl_info(d->kg.store, &ri) == 0 && ri.role == REPL_ROLE_MASTER) {
		execute(d, q.kind, &q.r, local, ans, alen);
		pthread_rwlock_unlock(&d->lock);
		return;
	}
	pthread_rwlock_unlock(&d->lock);
	if (!local)
		answer_only(RS_NOT_MASTER, "not the master", ans, alen);
	else
		forward(d, q.kind, q.msg, q.len, ans, alen);
}

/* From the replication manager: another site's request. */
static void
on_request(void *ctx, const void *msg, size_t len, void **reply, size_t *rlen)
{
	handle(ctx, msg, len, 0, reply, rlen);
}

/* ---- the host's processes ---- */

static void *
link_thread(void *arg)
{
	struct repd *d = &D;
	int fd = (int)(intptr_t)arg;
	void *req = NULL, *ans = NULL;
	size_t len = 0, alen = 0;

	if (repllink_recv(fd, &req, &len, LINK_IO_MS) == 0) {
		handle(d, req, len, 1, &ans, &alen);
		if (ans != NULL)
			repllink_send(fd, ans, alen, LINK_IO_MS);
	}
	free(req);
	free(ans);
	close(fd);
	__atomic_sub_fetch(&d->link_threads, 1, __ATOMIC_ACQ_REL);
	return NULL;
}

static void *
accept_thread(void *arg)
{
	struct repd *d = arg;
	pthread_attr_t attr;
	pthread_t t;
	int fd;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		if ((fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				usleep(10000);
			continue;
		}
		if (__atomic_add_fetch(&d->link_threads, 1, __ATOMIC_ACQ_REL) > LINK_THREADS_MAX ||
		    pthread_create(&t, &attr, link_thread, (void *)(intptr_t)fd) != 0) {
			void *ans = NULL;
			size_t alen = 0;

			/* too many at once: this one is answered, not queued */
			answer_only(RS_UNAVAILABLE, "keygate-repd is busy", &ans, &alen);
			if (ans != NULL)
				repllink_send(fd, ans, alen, 100);
			free(ans);
			close(fd);
			__atomic_sub_fetch(&d->link_threads, 1, __ATOMIC_ACQ_REL);
		}
	}
	return NULL;
}

/* ---- bringing the site up and down ---- */

static void
sleep_ms(unsigned ms)
{
	struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&t, NULL);
}

static void
take_down(struct repd *d)
{
	__atomic_store_n(&d->up, 0, __ATOMIC_RELEASE);
	if (d->kg.store != NULL)
		repl_stop(d->kg.store);
	pthread_rwlock_wrlock(&d->life);
	/*
	 * No request can start another channel now.  A thread still opening
	 * one to a site cut off uses the environment until the kernel gives
	 * up on the connection (minutes): rather than close the environment
	 * under it, leave as after a panic, and be started again (exit_dead).
	 */
	if (repl_drain(DRAIN_WAIT_MS) != 0) {
		log_warnx("a connection to a site that does not answer is still being opened; "
		    "keygate-repd exits so that its service starts it again");
		_exit(d->stop ? 0 : EXIT_DEAD_ENV);
	}
	pthread_rwlock_wrlock(&d->lock);
	watch(d, STUCK_CLOSE_MS);
	kg_close(&d->kg);
	unwatch(d);
	pthread_rwlock_unlock(&d->lock);
	pthread_rwlock_unlock(&d->life);
}

/*
 * Opens the environment, starts the replication manager (again and again
 * while no master can add this site), then the tables once the site is a
 * client or the master, and the rest of the store.  0, or -1 on stop.
 */
static int
bring_up(struct repd *d)
{
	static const struct repl_ops ops = {&D, on_request, on_event};
	struct store *s = NULL;
	struct repl_info ri;
	char err[600], last[600] = "";
	uint64_t since = kg_mono_ns(), failing_since = 0;
	int rc, started = 0, hard, fresh;
	time_t opened = 0;
	char path[PATHNAME_BUF];
	struct stat st;

	log_info("opening the store: this site's authorizers answer 503 until it has caught up "
	    "with the group");
	watch(d, 0); /* an open or a recovery takes its time: no limit */
	while (!d->stop) {
		publish_starting(d);
		hard = 1;
		if (s == NULL) {
			snprintf(path, sizeof path, "%s/__db.001", d->dir);
			fresh = lstat(path, &st) != 0;
			if ((s = store_open(d->dir, STORE_REPL_OWNER, err, sizeof err)) == NULL)
				goto retry;
			/*
			 * Regions made anew, or a recovery: the replication
			 * timestamp was set.  Not on the group's first start:
			 * that site is the master, which no copy comes to.
			 */
			opened = !d->setup.create_group && (fresh || store_recoveries(s) > 0) ?
			    time(NULL) : 0;
		}
		/*
		 * Berkeley DB tells a handle that a full copy replaced its
		 * files by a timestamp that the copy sets, in whole seconds,
		 * and that differs from the one the handle was opened under:
		 * the one a recovery, or the making of the regions, set.  A
		 * copy starting in the same second as such an open left every
		 * handle reading the old, removed files, and the key index was
		 * rebuilt from them (measured: 20 s of wrong answers after a
		 * full copy, in one run of tests/repl/behind.sh in three).
		 * Replication, hence any copy, starts in a later second.
		 */
		while (!started && time(NULL) <= opened && !d->stop)
			sleep_ms(50);
		if (!started && (rc = repl_start(s, &d->setup, &ops, err, sizeof err)) != 0) {
			if (rc < 0) {
				store_close(s);
				s = NULL;
			}
			hard = rc < 0;
			goto retry;
		}
		hard = 0;
		started = 1;
		if (repl_role(s) == REPL_ROLE_NONE) {
			snprintf(err, sizeof err, "waiting for the replication manager to start");
			goto retry;
		}
		__atomic_store_n(&d->reopen, 0, __ATOMIC_RELEASE);
		if ((rc = store_open_tables(s, err, sizeof err)) != ST_OK) {
			if (strstr(err, "No such file") != NULL)
				snprintf(err, sizeof err, "receiving a full copy of the store "
				    "from the group");
			/* a table that will not open, unless a full copy is being received */
			hard = rc != ST_NOTFOUND && repl_info(s, &ri) == 0 && !ri.initialising;
			goto retry;
		}
		if (kg_attach(&d->kg, s, err, sizeof err) != 0) {
			/* a store this host cannot use (its pepper file differs): fatal */
			store_close(s);
			fatalx("%s", err);
		}
		pthread_mutex_lock(&d->mirror_mu);
		mirror_reset(d->mirror);
		pthread_mutex_unlock(&d->mirror_mu);
		pthread_mutex_lock(&d->gmu);
		d->opened_at = kg_mono_ns();
		d->have_start = 0;
		__atomic_store_n(&d->synced, 0, __ATOMIC_RELEASE);
		d->state = SITE_BEHIND;
		pthread_mutex_unlock(&d->gmu);
		__atomic_store_n(&d->orgkeys_checked, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&d->master, MASTER_UNKNOWN, __ATOMIC_RELEASE);
		__atomic_store_n(&d->up, 1, __ATOMIC_RELEASE);
		log_info("serving this host's site of the group (%s)", d->dir);
		return 0;
retry:
		/*
		 * A store that cannot be opened, or whose replication cannot
		 * start, for OPEN_FAIL_MS: damaged (logs removed in part, say)
		 * or unusable, not a moment's contention.  Retried for ever
		 * before, saying only "Invalid argument".
		 */
		if (!hard)
			failing_since = 0;
		else if (failing_since == 0)
			failing_since = kg_mono_ns();
		else if (kg_mono_ns() - failing_since > OPEN_FAIL_MS * NS_PER_MS)
			refuse(d, "the store in %s cannot be used: %s (for %d s)", d->dir, err,
			    OPEN_FAIL_MS / 1000);
		if (strcmp(err, last) != 0 || kg_mono_ns() - since > 30000 * NS_PER_MS) {
			log_warnx("%s", err);
			snprintf(last, sizeof last, "%s", err);
			since = kg_mono_ns();
		}
		sleep_ms(500);
	}
	if (s != NULL)
		store_close(s);
	return -1;
}

static int
no_key(const struct cat_key *k, void *ctx)
{
	(void)k;
	(void)ctx;
	return 1;
}

/* The first session as master builds the table of keys by organization if need be. */
static void
check_orgkeys(struct repd *d)
{
	struct cat_actor a = {"keygate-repd", NULL, SCOPES_ALL, NULL};
	struct catalog *cat;
	char err[600];
	uint64_t entries;

	if (__atomic_load_n(&d->orgkeys_checked, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&d->cat_mu);
	if ((cat = cat_open(&d->kg, &a, NULL)) != NULL) {
		if (cat_verify_orgkeys(cat, &entries, err, sizeof err) == 1)
			cat_list_keys(cat, NULL, CAT_LIST_ALL, NULL, 1, no_key, NULL, NULL);
		cat_close(cat, err, sizeof err);
	}
	pthread_mutex_unlock(&d->cat_mu);
	__atomic_store_n(&d->orgkeys_checked, 1, __ATOMIC_RELEASE);
}

/*
 * Berkeley DB 5.3 keeps the group's membership in a replicated table and
 * a copy of it in each site's memory, which a replica reloads after it
 * applies a change to the table.  The reload is skipped, and never tried
 * again, when the replica is locked out at that moment (catching up with
 * the master, repmgr_msg.c): seen as a site joined while another replica
 * had just started.  That replica then refuses the new site's
 * connections ("unknown or provisional site") and counts one site less:
 * once the master was lost no election could succeed (failover.sh:
 * "too few sites answered" until the old master came back).
 * Nothing but a new change to the table or a restart of the replication
 * manager reloads it, so a replica that does not know a site the master
 * hears from reopens the store (its replication manager starts again and
 * reads the table) once that has lasted MEMBERS_STALE_MS, or at once when
 * an election fails meanwhile; only once it has caught up, since a copy
 * under way reloads the list when it is done (DB_EVENT_REP_INIT_DONE),
 * and a reopen would start it again.  An address still missing once the
 * reopened site has caught up is not one the table holds (another
 * spelling of the host, say): it is not tried again, so this never loops.
 */
static int
knows_site(const struct repl_info *ri, const struct repl_addr *a)
{
	size_t i;

	for (i = 0; i < ri->nsites; i++)
		if (conf_same_addr(&ri->sites[i].addr, a))
			return 1;
	return 0;
}

static int
gave_up_on(const struct repd *d, const struct repl_addr *a)
{
	size_t i;

	for (i = 0; i < d->ngave_up; i++)
		if (conf_same_addr(&d->gave_up[i], a))
			return 1;
	return 0;
}

/* A member the master heard from lately that this site's replication manager does not know. */
static int
missing_member(struct repd *d, const struct repl_info *ri, struct repl_addr *out)
{
	uint64_t now = kg_mono_ns();
	size_t i;
	int found = 0;

	pthread_mutex_lock(&d->gmu);
	for (i = 0; i < d->npeers && !found; i++) {
		const struct peer *p = &d->peers[i];

		if (p->heard == 0 || now - p->heard > MEMBERS_HEARD_MS * NS_PER_MS ||
		    conf_same_addr(&p->info.addr, &d->setup.local) ||
		    knows_site(ri, &p->info.addr) || gave_up_on(d, &p->info.addr))
			continue;
		*out = p->info.addr;
		found = 1;
	}
	pthread_mutex_unlock(&d->gmu);
	return found;
}

/* 1 when the store must be reopened for the replication manager to read the membership again. */
static int
membership_stale(struct repd *d, const struct repl_info *ri)
{
	char addr[REPL_HOST_MAX + 16];
	struct repl_addr a;
	uint64_t now = kg_mono_ns();

	/* a copy still catching up or being copied reloads the list when it is done */
	if (ri->role != REPL_ROLE_CLIENT || !ri->startup_done || ri->initialising) {
		d->missing_since = 0;
		return 0;
	}
	if (d->reopened) {
		d->reopened = 0;
		if (!knows_site(ri, &d->reopened_for) && d->ngave_up < REPL_SITES_MAX) {
			d->gave_up[d->ngave_up++] = d->reopened_for;
			log_warnx("site %s is still not in this site's list of the group after a "
			    "reopen: not tried again", replsite_addr_str(&d->reopened_for, addr,
			    sizeof addr));
		}
	}
	if (!missing_member(d, ri, &a)) {
		d->missing_since = 0;
		return 0;
	}
	if (d->missing_since == 0) {
		d->missing_since = now;
		__atomic_store_n(&d->election_failed, 0, __ATOMIC_RELEASE);
		return 0;
	}
	if (now - d->missing_since < MEMBERS_STALE_MS * NS_PER_MS &&
	    !__atomic_load_n(&d->election_failed, __ATOMIC_ACQUIRE))
		return 0;
	log_warnx("the master hears from site %s, which this site's replication manager does "
	    "not know (Berkeley DB missed a change of the group's membership): reopening the "
	    "store to read it again", replsite_addr_str(&a, addr, sizeof addr));
	d->missing_since = 0;
	d->reopened_for = a;
	d->reopened = 1;
	return 1;
}

/*
 * A replica that must roll back to follow a new master, or take a full
 * copy, locks the site first: it ignores every message (votes too) and
 * fails every new read, then waits for each operation in progress on the
 * site to end, in any of its processes (a read's open cursor, a
 * transaction).  One that never ends, a process hung inside a read, holds
 * that lock for ever (tests/repl/stuck.sh: the site applied nothing, its
 * authorizers answered 503, and in a group that has just lost a site no
 * election could succeed; nothing in the library gives up).  A lock held
 * LOCKED_STUCK_MS while this log did not move is such a
 * wait: keygate-repd exits so that its service starts it again, and the
 * new process recovers the store, which ends every operation of the old
 * environment (the hung process's handle is dead).  A rollback here takes
 * milliseconds.  A full copy keeps the lock for as long as it lasts, at
 * the master's pace, and is never cut short: the site then restarted
 * with tables removed (tests/repl/behind.sh under ASan, a master slow to
 * send the first pages for 5 s: refused as damaged); the library marks
 * the copy (repl_copy_marked) from just after it has locked the site, so
 * only a copy whose lock waits on a read that never ends is restarted,
 * before it has removed anything.  5 s also leaves a site locked when the
 * master fails time to vote within the 10 s an election may take.
 * Every second, from the upkeep.
 */
static int
sync_stuck(struct repd *d, const struct repl_info *ri)
{
	uint64_t now = kg_mono_ns();
	int locked = repl_locked_out(d->kg.store) == 1 && !repl_copy_marked(d->dir);

	if (locked && d->locked_since != 0 && ri->lsn == d->locked_lsn)
		return now - d->locked_since >= LOCKED_STUCK_MS * NS_PER_MS;
	/* not locked, or just locked, or moving: the wait (re)starts here */
	d->locked_since = locked ? now : 0;
	d->locked_lsn = ri->lsn;
	return 0;
}

/* Every second: the store's upkeep; 1 when it must be reopened. */
static int
upkeep(struct repd *d, uint64_t *checkpointed, uint64_t *history_kept)
{
	struct repl_info ri;
	uint64_t now = kg_mono_ns();
	int stale;

	if (store_maintain(d->kg.store) == ST_RECOVER || store_broken(d->kg.store)) {
		log_warnx("the store needs to be reopened: %s", store_errmsg(d->kg.store));
		return 1;
	}
	/* exclusive only when there is something to replace: writers hold lock shared */
	pthread_rwlock_rdlock(&d->lock);
	stale = d->kg.counters == NULL || counters_replaced(d->kg.counters, d->dir);
	pthread_rwlock_unlock(&d->lock);
	if (stale) {
		pthread_rwlock_wrlock(&d->lock);
		if (kg_counters_check(&d->kg) > 0) {
			pthread_mutex_lock(&d->mirror_mu);
			mirror_reset(d->mirror); /* the index went with the old counter file */
			pthread_mutex_unlock(&d->mirror_mu);
		}
		pthread_rwlock_unlock(&d->lock);
	}
	if (repl_info(d->kg.store, &ri) != 0)
		return 0;
	if (membership_stale(d, &ri))
		return 1;
	if (sync_stuck(d, &ri)) {
		log_warnx("replication on this site has been locked for %d s with no progress: "
		    "Berkeley DB waits for an operation of a process of this host that does not "
		    "end (a process hung inside a read?); keygate-repd exits so that its service "
		    "starts it again and it recovers the store", LOCKED_STUCK_MS / 1000);
		die_dead(d);
	}
	if (ri.role != REPL_ROLE_MASTER)
		return 0;
	check_orgkeys(d);
	if (now - *checkpointed > CHECKPOINT_S * 1000 * NS_PER_MS) {
		store_checkpoint(d->kg.store);
		*checkpointed = now;
	} else {
		store_checkpoint_after(d->kg.store, CHECKPOINT_LOG_KB);
	}
	if (now - *history_kept > HISTORY_UPKEEP_S * 1000 * NS_PER_MS && d->kg.counters != NULL) {
		ledger_upkeep(d->kg.store, d->kg.counters, kg_now());
		*history_kept = now;
	}
	return 0;
}

/*
 * A dead environment (Berkeley DB's panic, DB_RUNRECOVERY): its threads
 * can stay blocked inside the library, a forwarded write's wait on a
 * channel among them, for as long as the master they wait for is silent,
 * and closing the environment under them is not safe.  Nor can this
 * process open it again: Berkeley DB's register of processes (DB_REGISTER)
 * refuses a second handle from the same process id, even after an exec.
 * So keygate-repd exits with EXIT_DEAD_ENV and its service starts it
 * again (Restart=on-failure); the new process recovers the store as after
 * a crash, while the authorizers of the host keep deciding.  Measured: a
 * replica that panicked while its master hung waited 3-12 s for its
 * blocked threads before this.
 */

static void
exit_dead(struct repd *d, const char *why)
{
	log_warnx("the store's environment is dead (%s); keygate-repd exits so that its "
	    "service starts it again and it recovers the store", why);
	die_dead(d);
}

static int
env_dead(struct repd *d)
{
	return d->kg.store != NULL && store_dead(d->kg.store);
}

/* The site, up, until it must be reopened or the process stops. */
static void
serve(struct repd *d)
{
	uint64_t next_publish = 0, next_upkeep = 0, checkpointed = kg_mono_ns(),
	    history_kept = 0, t;
	char err[600];
	int st, rc;

	while (!d->stop) {
		t = now_ms();
		if (__atomic_load_n(&d->synced, __ATOMIC_ACQUIRE))
			unwatch(d);
		else
			watch(d, STUCK_SERVE_MS);
		if (env_dead(d))
			return;
		if (__atomic_exchange_n(&d->reopen, 0, __ATOMIC_ACQ_REL)) {
			log_info("reopening the store after the full copy");
			return;
		}
		if (__atomic_exchange_n(&d->reset, 0, __ATOMIC_ACQ_REL)) {
			pthread_mutex_lock(&d->mirror_mu);
			mirror_reset(d->mirror);
			pthread_mutex_unlock(&d->mirror_mu);
		}
		pthread_mutex_lock(&d->mirror_mu);
		rc = mirror_pass(d->mirror, &d->kg, &st, err, sizeof err);
		pthread_mutex_unlock(&d->mirror_mu);
		if (rc < 0 && (st == ST_RECOVER || store_broken(d->kg.store))) {
			log_warnx("the store must be reopened: %s", err);
			return;
		}
		if (rc < 0)
			log_debug("following the store: %s", err);
		if (t >= next_publish) {
			publish(d);
			next_publish = t + PUBLISH_MS;
		}
		if (t >= next_upkeep) {
			if (upkeep(d, &checkpointed, &history_kept))
				return;
			next_upkeep = t + UPKEEP_MS;
		}
		sleep_ms(TICK_MS);
	}
}

/* ---- start-up ---- */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: keygate-repd [--db DIR] [--config FILE] [--debug]\n"
	    "       keygate-repd --help | --version\n"
	    "\n"
	    "Owns this host's site of a replicated keygate store (keygate-repd(8)):\n"
	    "repl_site, repl_peers and repl_priority come from keygate.conf.\n");
}

/*
 * A site's store that lost a table or all its logs (a disk, a hand) is
 * not repaired by the group: the library copies the store to a site only
 * when the site's log ends before the master's first, which this one's
 * need not.  Measured before this check: keygate-repd waited for ever
 * "for the first copy of the store" (a table gone), or retried for ever
 * an open that failed with EINVAL (the logs gone: the tables name LSNs
 * past the end of the log).  Unless a full copy was under way when the
 * site stopped: the library marks it (__db.rep.init) and starts it again.
 */
static void
check_damage(struct repd *d)
{
	char path[PATHNAME_BUF];
	struct dirent *e;
	struct stat st;
	DIR *dir;
	int t, logs = 0;

	if (repl_copy_marked(d->dir))
		return;
	for (t = 0; t < TBL_COUNT; t++) {
		snprintf(path, sizeof path, "%s/%s", d->dir, store_tbl_name((enum store_tbl)t));
		if (lstat(path, &st) != 0 && errno == ENOENT)
			refuse(d, "the store in %s is damaged: %s is missing", d->dir,
			    store_tbl_name((enum store_tbl)t));
	}
	if ((dir = opendir(d->dir)) == NULL)
		return; /* the open says why */
	while ((e = readdir(dir)) != NULL)
		logs += strncmp(e->d_name, "log.", 4) == 0;
	closedir(dir);
	if (logs == 0)
		refuse(d, "the store in %s is damaged: its log files are missing", d->dir);
}

/*
 * Environments that died before their keygate-repd caught up, in a row:
 * the library panics applying the group's changes to a damaged table
 * ("Log sequence error: page LSN 0 0" on a table cut short), and every
 * new keygate-repd recovered the store and died again, five times a
 * second, for ever (measured).
 */
static void
check_failed_starts(struct repd *d)
{
	struct counters *c;
	char err[600];
	unsigned n;

	if ((c = counters_open(d->dir, err, sizeof err)) == NULL)
		return;
	n = __atomic_load_n(&counters_repl(c)->failed_starts, __ATOMIC_RELAXED);
	counters_close(c);
	if (n >= START_FAILURES_MAX)
		refuse(d, "the store in %s is damaged: its environment died %u times in a row "
		    "(Berkeley DB panicked) before this site caught up with the group", d->dir, n);
}

/*
 * The store this keygate-repd is to serve: one made by keygate init that
 * was never replicated starts the group (a primordial start, unless a
 * peer already answers: then it would start a second group with the same
 * sites); one made by keygate repl join, or replicated before, rejoins.
 */
static void
check_store(struct repd *d)
{
	char path[PATHNAME_BUF], err[600], buf[REPL_HOST_MAX + 16];
	struct stat st;
	int peer;

	snprintf(path, sizeof path, "%s/%s", d->dir, STORE_REPL_MARKER);
	if (lstat(path, &st) == 0) {
		check_damage(d);
		return;
	}
	snprintf(path, sizeof path, "%s/meta.db", d->dir);
	if (lstat(path, &st) != 0)
		fatalx("no keygate store in %s: run keygate init on the group's first host, "
		    "keygate repl join HOST:PORT on the others", d->dir);
	if ((peer = replsite_probe(d->conf.repl_peers, d->conf.nrepl_peers, 1000)) >= 0)
		fatalx("a site of a replication group answers at %s, but the store in %s was "
		    "never part of it (made by keygate init): to join that group, move this "
		    "store away and run keygate repl join %s", replsite_addr_str(
		    &d->conf.repl_peers[peer], buf, sizeof buf), d->dir, buf);
	if (replsite_mark(d->dir, err, sizeof err) != 0)
		fatalx("%s", err);
	d->setup.create_group = 1;
	log_info("starting a replication group from the store in %s", d->dir);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"db", required_argument, NULL, 'd'},
		{"config", required_argument, NULL, 'c'},
		{"debug", no_argument, NULL, 'D'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct repd *d = &D;
	const char *db = NULL, *config = NULL, *cpath;
	struct sigaction sa;
	char err[600];
	pthread_t t;
	int c, debug = 0, must_exist;
	size_t i;

	umask(007);
	log_init("keygate-repd", LOG_TO_STDERR, 0);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 'c': config = optarg; break;
		case 'D': debug = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("keygate-repd %s\n", PACKAGE_VERSION); return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}
	conf_defaults(&d->conf);
	cpath = conf_path(config, &must_exist);
	if (conf_load(cpath, must_exist, &d->conf, err, sizeof err) != 0)
		fatalx("%s", err);
	if (debug)
		d->conf.debug = 1;
	log_init("keygate-repd", d->conf.log, d->conf.debug);
	d->dir = conf_db(db, &d->conf);
	if (!pathname_fits(d->dir))
		fatalx("the store path is longer than %d bytes", PATHNAME_MAX);
	if (d->conf.repl_site.host[0] == '\0')
		fatalx("%s sets no repl_site: this host is not part of a replication group", cpath);
	if (replsite_addr_local(&d->conf.repl_site, err, sizeof err) != 0)
		fatalx("%s", err);
	d->setup.local = d->conf.repl_site;
	for (i = 0; i < d->conf.nrepl_peers; i++)
		d->setup.peers[i] = d->conf.repl_peers[i];
	d->setup.npeers = d->conf.nrepl_peers;
	d->setup.priority = d->conf.repl_priority;

	if (replsite_lock(d->dir, err, sizeof err) < 0)
		fatalx("%s", err);
	check_store(d);
	check_failed_starts(d);
	/* before anyone can ask this site anything: it has not caught up */
	publish_starting(d);
	if ((d->listen_fd = repllink_listen(d->dir, err, sizeof err)) < 0)
		fatalx("%s", err);
	if ((d->mirror = mirror_new()) == NULL)
		fatalx("out of memory");
	pthread_rwlock_init(&d->lock, NULL);
	pthread_rwlock_init(&d->life, NULL);
	pthread_mutex_init(&d->cat_mu, NULL);
	pthread_mutex_init(&d->mirror_mu, NULL);
	pthread_mutex_init(&d->gmu, NULL);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	if (pthread_create(&t, NULL, accept_thread, d) != 0)
		fatalx("cannot start a thread");
	pthread_detach(t);
	if (pthread_create(&t, NULL, report_thread, d) != 0)
		fatalx("cannot start a thread");
	pthread_detach(t);
	if (pthread_create(&t, NULL, watchdog_thread, d) != 0)
		fatalx("cannot start a thread");
	pthread_detach(t);

	while (!d->stop) {
		if (bring_up(d) != 0)
			break;
		serve(d);
		if (env_dead(d) && !d->stop)
			exit_dead(d, store_broken(d->kg.store) ? store_errmsg(d->kg.store) :
			    "Berkeley DB panicked");
		/* before take_down, which waits for forwarded writes (seconds, with no master) */
		if (!d->stop) {
			publish_starting(d);
			watch(d, STUCK_LIFE_MS);
		}
		take_down(d);
		if (!d->stop)
			sleep_ms(200);
	}
	log_info("stopping");
	take_down(d);
	return 0;
}
