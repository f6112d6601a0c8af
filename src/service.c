/*
 * service.c - the FastCGI programs' process model, connections and
 * maintenance (see service.h).
 *
 * Process model: started by a spawner (mod_fcgid, lighttpd bin-path,
 * spawn-fcgi) the listening socket is fd 0; systemd passes it as fd 3
 * (moved to 0); with --listen we bind it ourselves.  With --workers N (or
 * --listen) a master pre-forks N workers, restarts any that dies and
 * forwards SIGTERM.  Each worker is one request thread (one FastCGI
 * connection at a time, as libfcgi serves them), a maintenance thread
 * (every second: failchk, the ledger and history flushes, key index
 * repair) and a watchdog that ends the process if a request or a
 * maintenance pass is stuck.
 *
 * Metrics: every process (the master too) has a row of the store's
 * metrics file.  A worker counts each request's verdict and latency
 * around the program's handler, and the maintenance thread counts what
 * the store's upkeep did; the master counts restarts.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fastcgi.h>
#include <fcgiapp.h>

#include "fcgi_guard.h"
#include "log.h"
#include "mapguard.h"
#include "server.h"
#include "service.h"
#include "tally.h"
#include "upkeep.h"

static volatile sig_atomic_t stopping;
static volatile sig_atomic_t child_exited;

/* Shared between the request thread and the maintenance thread. */
/*
 * The store handle, the counter file and the metrics mapping are shared by
 * the request thread and the worker's two background threads: those use
 * them (shared), the request thread replaces them (exclusive: a reopen,
 * a counter file or metrics file mapped again, the close at the end).
 */
static pthread_rwlock_t store_lock = PTHREAD_RWLOCK_INITIALIZER;
/* atomic, kg_mono_ns(): when a request's handling or a maintenance pass began, 0 when idle */
static uint64_t request_started;
static uint64_t maintenance_started;
static uint64_t flush_started;
/* this process's duties besides deciding (upkeep.h) */
static struct upkeep upkeep;

static void
on_stop(int sig)
{
	(void)sig;
	stopping = 1;
	FCGX_ShutdownPending();
}

static void
on_child(int sig)
{
	(void)sig;
	child_exited = 1;
}

static void
install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop; /* no SA_RESTART: accept(2) must return EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* mod_fcgid sends SIGUSR1 for a graceful stop */
	sa.sa_handler = on_stop;
	sigaction(SIGUSR1, &sa, NULL);
}

/* ---- connections ---- */

/*
 * libfcgi accepts a connection and reads the request's params itself,
 * with blocking reads, and trusts what it reads: lengths that add up past
 * INT_MAX or a crafted FCGI_GET_VALUES abort the worker, and the next
 * process to open the store then runs recovery; a client that connects
 * and sends a byte now and then holds the worker for ever.  So the
 * authorizer defines accept(2), read(2) and close(2), which libfcgi's
 * calls resolve to (every other caller's too: only the connection being
 * read is treated differently):
 *
 * - accept notes the new connection and its deadline, request_deadline
 *   from now on CLOCK_MONOTONIC (the whole request, not each read), and
 *   bounds each write to it with SO_SNDTIMEO (a client that reads no
 *   answers must not block the worker in write);
 * - read on that connection waits at most until the deadline and passes
 *   what it read through the FastCGI guard (fcgi_guard.h) before libfcgi
 *   sees it: a stream the guard refuses, or a deadline passed, fails the
 *   read, and libfcgi closes the connection and accepts the next one;
 * - close forgets the connection, so that a file that gets its number
 *   next is read as usual.
 *
 * A request that arrives whole costs one recv(2), as libfcgi's read did,
 * plus the guard's few operations per record and per param.
 */
struct conn {
	int fd;               /* atomic: the connection libfcgi reads, or -1 */
	uint64_t deadline_ns; /* CLOCK_MONOTONIC: when its request must have arrived */
	int refused;
	struct fcgi_guard guard;
};

static struct conn conn = {.fd = -1};
static unsigned request_deadline_ms;
static struct log_budget refusals = {"refused connections", 0, 0, 0};

int accept(int fd, struct sockaddr *addr, socklen_t *addrlen);
ssize_t read(int fd, void *buf, size_t n);
int close(int fd);

/* A new request on the connection: the guard starts over, the deadline too. */
static void
conn_start_request(void)
{
	fcgi_guard_init(&conn.guard);
	conn.deadline_ns = kg_mono_ns() + (uint64_t)request_deadline_ms * 1000000;
}

int
accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	int c = accept4(fd, addr, addrlen, 0);

	if (c < 0)
		return c;
	server_set_send_timeout(c, request_deadline_ms);
	conn.refused = 0;
	conn_start_request();
	__atomic_store_n(&conn.fd, c, __ATOMIC_SEQ_CST);
	return c;
}

/*
 * Ends the connection's reading: libfcgi's read fails, and the closing
 * libfcgi does next (shutdown, then poll for what the peer still sends)
 * ends at once because the receiving side is shut too.
 */
static void
conn_refuse(int fd, const char *what, const char *why)
{
	conn.refused = 1;
	shutdown(fd, SHUT_RD);
	if (service_log_allowed(&refusals, (int64_t)(kg_mono_ns() / NS_PER_S)))
		log_warnx("%s a FastCGI connection: %s", what, why);
}

/* recv, waiting at most until the connection's deadline. */
static ssize_t
conn_recv(int fd, void *buf, size_t n)
{
	struct pollfd pfd = {fd, POLLIN, 0};
	char why[64];
	uint64_t now;
	ssize_t got;

	for (;;) {
		got = recv(fd, buf, n, MSG_DONTWAIT);
		if (got >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			return got;
		now = kg_mono_ns();
		if (now >= conn.deadline_ns) {
			snprintf(why, sizeof why, "its request did not arrive within %u ms",
			    request_deadline_ms);
			conn_refuse(fd, "closed", why);
			errno = ETIMEDOUT;
			return -1;
		}
		/* rounded up: poll's milliseconds must not wake us before the deadline */
		if (poll(&pfd, 1, (int)((conn.deadline_ns - now + 999999) / 1000000)) < 0 &&
		    errno != EINTR)
			return -1;
	}
}

static ssize_t
conn_read(int fd, void *buf, size_t n)
{
	char why[160];
	ssize_t got;

	if (conn.refused) {
		errno = ECONNRESET;
		return -1;
	}
	if ((got = conn_recv(fd, buf, n)) <= 0)
		return got;
	if (fcgi_guard_feed(&conn.guard, buf, (size_t)got) == FCGI_GUARD_REFUSED) {
		conn_refuse(fd, "refused", fcgi_guard_reason(&conn.guard, why, sizeof why));
		errno = EPROTO;
		return -1;
	}
	return got;
}

/* The C library's read and close, for everything but the connection. */
static void *
libc_symbol(void **cache, const char *name)
{
	void *f = __atomic_load_n(cache, __ATOMIC_RELAXED);

	if (f == NULL) {
		if ((f = dlsym(RTLD_NEXT, name)) == NULL)
			abort(); /* no C library: nothing can work */
		__atomic_store_n(cache, f, __ATOMIC_RELAXED);
	}
	return f;
}

ssize_t
read(int fd, void *buf, size_t n)
{
	static void *libc_read;
	ssize_t (*f)(int, void *, size_t);

	if (fd >= 0 && fd == __atomic_load_n(&conn.fd, __ATOMIC_SEQ_CST))
		return conn_read(fd, buf, n);
	f = (ssize_t (*)(int, void *, size_t))libc_symbol(&libc_read, "read");
	return f(fd, buf, n);
}

int
close(int fd)
{
	static void *libc_close;
	int (*f)(int);

	/* forgotten first: once closed, the number may be reused at once */
	if (fd >= 0 && fd == __atomic_load_n(&conn.fd, __ATOMIC_SEQ_CST))
		__atomic_store_n(&conn.fd, -1, __ATOMIC_SEQ_CST);
	f = (int (*)(int))libc_symbol(&libc_close, "close");
	return f(fd);
}

/* ---- metrics ---- */

/* A process that could not open the metrics file serves anyway, and tries again this much later. */
#define METRICS_RETRY_NS (60 * NS_PER_S)

static int metrics_stale;          /* atomic: the request thread must open the file again */
static uint64_t metrics_failed_at; /* kg_mono_ns() */

static void
open_metrics(struct service *svc)
{
	char err[600];

	if ((svc->metrics = metrics_open(svc->dir, svc->ops->name, err, sizeof err)) == NULL) {
		log_warnx("metrics: %s; this process counts nothing until it can", err);
		metrics_failed_at = kg_mono_ns();
	}
}

/*
 * From the maintenance thread: a file replaced or truncated (or none
 * yet) is opened again, but by the request thread, between two requests:
 * it is the one that writes the row without a lock.
 */
static void
notice_metrics(struct service *svc)
{
	if (svc->metrics != NULL ? metrics_replaced(svc->metrics, svc->dir) :
	    kg_mono_ns() - metrics_failed_at >= METRICS_RETRY_NS)
		__atomic_store_n(&metrics_stale, 1, __ATOMIC_RELAXED);
}

static void
renew_metrics(struct service *svc)
{
	upkeep_exclusive(&upkeep); /* the background threads count too */
	__atomic_store_n(&metrics_stale, 0, __ATOMIC_RELAXED);
	metrics_close(svc->metrics);
	open_metrics(svc);
	upkeep_exclusive_end(&upkeep);
}

/* ---- maintenance thread ---- */

static void
maintenance_progress(void)
{
	__atomic_store_n(&maintenance_started, kg_mono_ns(), __ATOMIC_RELAXED);
}

/*
 * The maintenance thread: every second, failchk (it releases what a dead
 * process held, which every other thread might be waiting for) and the
 * expiry of lock waits, then the checks that cost nothing: the store's
 * generation, a replaced counter or metrics file, the key index.  Nothing
 * here waits for a commit, so that the failure check keeps its cadence
 * however slow the disk is; the flushes have their own thread.
 */
#define MAINTENANCE_NS NS_PER_S

/* Sleeps until the next tick of a fixed schedule of period ns. */
static uint64_t
next_tick(uint64_t *next, uint64_t period)
{
	struct timespec at;
	uint64_t now;

	*next += period;
	kg_mono_timespec(*next, &at);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR)
		;
	/* a pass that ran past the next one's time: start again from now */
	if ((now = kg_mono_ns()) > *next + period)
		*next = now;
	return now;
}

static void
maintenance_pass(struct service *svc)
{
	if (upkeep_store(&upkeep) != 0)
		return;
	/* changes replicated from another host do not bump our generation */
	authz_refresh(&svc->az);
	/* what keygate-repd measured of this replica, for keygate metrics */
	if (store_replicated(svc->kg.store) && svc->kg.counters != NULL)
		metrics_set_replication_lag(svc->metrics,
		    __atomic_load_n(&counters_repl(svc->kg.counters)->lag_ns, __ATOMIC_RELAXED));
	authz_counters_notice(&svc->az);
	upkeep_repair_index(&upkeep);
}

static void *
maintenance(void *arg)
{
	struct service *svc = arg;
	uint64_t next = kg_mono_ns(), now;

	for (;;) {
		now = next_tick(&next, MAINTENANCE_NS);
		__atomic_store_n(&maintenance_started, now, __ATOMIC_RELAXED);
		pthread_rwlock_rdlock(&store_lock);
		if (svc->kg.store == NULL) {
			/* the worker closed the store on its way out (SIGTERM) */
			pthread_rwlock_unlock(&store_lock);
			__atomic_store_n(&maintenance_started, 0, __ATOMIC_RELAXED);
			return NULL;
		}
		maintenance_pass(svc);
		upkeep_count_store_events(&upkeep, 0);
		notice_metrics(svc);
		pthread_rwlock_unlock(&store_lock);
		__atomic_store_n(&maintenance_started, 0, __ATOMIC_RELAXED);
	}
	return NULL;
}

/*
 * The flush thread, on upkeep's schedule (UPKEEP_FLUSH_NS): the ledger
 * (one worker of the host at a time) and this worker's usage history, each
 * a synchronous commit.  A slow disk makes it late, never the failure
 * check, and it says so.
 */

static void *
flusher(void *arg)
{
	uint64_t next = kg_mono_ns(), now;
	int closed;

	(void)arg;
	for (;;) {
		now = next_tick(&next, UPKEEP_FLUSH_NS);
		__atomic_store_n(&flush_started, now, __ATOMIC_RELAXED);
		closed = upkeep_flush_turn(&upkeep);
		__atomic_store_n(&flush_started, 0, __ATOMIC_RELAXED);
		if (closed)
			return NULL; /* the worker closed the store on its way out */
	}
	return NULL;
}

/*
 * The watchdog never calls into the store, so nothing a dead process left
 * behind can block it.  A request or a maintenance pass stuck this long is
 * waiting on a lock or mutex that a dead process held: exit, so that the
 * web server's connection fails (a 5xx, never a 200) and the next process
 * to open the store runs recovery.
 */
#define FLUSH_STUCK_FACTOR 6

/* the store's region files, for the watchdog (store.h, UPKEEP_OLD_REGION_NS) */
static struct store_region region;

/*
 * Whether what began at started (0: nothing is going on) has run longer
 * than limit by now.  A start after now is no underflow into "stuck for
 * ever": the stamps are read before the clock, so none can be later, but
 * a thread preempted between the two would otherwise end the worker.
 */
static int
stuck(uint64_t now, uint64_t started, uint64_t limit)
{
	return started != 0 && now > started && now - started > limit;
}

static void *
watchdog(void *arg)
{
	struct service *svc = arg;
	uint64_t limit = (uint64_t)svc->conf.watchdog_s * NS_PER_S;

	for (;;) {
		uint64_t now, req, maint, flush;

		sleep(1);
		/*
		 * The stamps first, then the clock: a stamp another thread
		 * stores after our clock read (the maintenance and flush threads
		 * tick every second, as we do) would be later than now.
		 */
		req = __atomic_load_n(&request_started, __ATOMIC_SEQ_CST);
		maint = __atomic_load_n(&maintenance_started, __ATOMIC_SEQ_CST);
		flush = __atomic_load_n(&flush_started, __ATOMIC_SEQ_CST);
		/* monotonic: a step of the wall clock must not look like a stuck request */
		now = kg_mono_ns();
		if ((stuck(now, req, UPKEEP_OLD_REGION_NS) || stuck(now, maint, UPKEEP_OLD_REGION_NS)) &&
		    store_region_changed(&region)) {
			log_warnx("%s has waited for more than 1s inside a store that another "
			    "process recovered meanwhile; exiting", stuck(now, req, UPKEEP_OLD_REGION_NS) ?
			    "a request" : "store maintenance");
			_exit(3);
		}
		if (stuck(now, req, limit) || stuck(now, maint, limit)) {
			log_warnx("%s has been stuck for more than %us; exiting",
			    stuck(now, req, limit) ? "a request (or opening the store)" :
			    "store maintenance", svc->conf.watchdog_s);
			_exit(3);
		}
		/*
		 * A flush waits for the disk: a slow one is no dead lock (failchk
		 * and lock expiry go on meanwhile).  Only one stuck for minutes is.
		 */
		if (stuck(now, flush, FLUSH_STUCK_FACTOR * limit)) {
			log_warnx("a flush has been stuck for more than %us; exiting",
			    FLUSH_STUCK_FACTOR * svc->conf.watchdog_s);
			_exit(3);
		}
	}
	return NULL;
}

/* name: what top -H, ps -L and the benchmark's flush figures show (15 bytes at most) */
static void
start_thread(void *(*fn)(void *), struct service *svc, const char *name)
{
	sigset_t all, old;
	pthread_t t;

	/*
	 * Signals belong to the request thread, which must see EINTR; a fault's
	 * belongs to the thread that faulted (mapguard.h).
	 */
	mapguard_thread_mask(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (pthread_create(&t, NULL, fn, svc) != 0 || pthread_detach(t) != 0)
		fatal("cannot start a thread");
	pthread_setname_np(t, name);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/*
 * One line per denial or error, but at most LOG_RATE a second per worker
 * for each (unless log-denials = all): a flood of bad keys, or a store
 * failing under load, must not turn the web server's error log into the
 * bottleneck, nor fill its disk.  What was left out is counted in one line.
 */
#define LOG_RATE 50

/* now: the request's own timestamp, in seconds (no clock read per denial) */
int
service_log_allowed(struct log_budget *b, int64_t now)
{
	if (now != b->second) {
		if (b->dropped > 0)
			log_info("%u more %s were not logged in the last second", b->dropped, b->what);
		b->second = now;
		b->logged = b->dropped = 0;
	}
	if (b->logged < LOG_RATE) {
		b->logged++;
		return 1;
	}
	b->dropped++;
	return 0;
}

/*
 * Reopens a store that needs recovery.  Right away: a process that died
 * anywhere in the store makes the next opener run recovery, and every
 * worker then meets DB_RUNRECOVERY; the sooner it reopens, the fewer
 * requests get a 503.  Only a reopen that failed waits a little before
 * the next attempt.  Returns 1 when the store is usable.
 */
#define REOPEN_RETRY_NS (100 * 1000000ull)

int
service_reopen(struct service *svc)
{
	uint64_t now;
	int ok;

	if (!store_broken(svc->kg.store))
		return 1;
	now = kg_mono_ns();
	if (svc->reopen_failed_at != 0 && now - svc->reopen_failed_at < REOPEN_RETRY_NS)
		return 0;
	upkeep_exclusive(&upkeep);
	ok = store_reopen(svc->kg.store) == ST_OK;
	metrics_event(svc->metrics, ok ? ME_STORE_REOPENS : ME_STORE_REOPEN_FAILURES, 1);
	upkeep_count_store_events(&upkeep, 0);
	upkeep_exclusive_end(&upkeep);
	if (ok) {
		svc->reopen_failed_at = 0;
		authz_invalidate(&svc->az);
		log_info("store reopened");
	} else {
		svc->reopen_failed_at = now;
		/* the budget counts wall-clock seconds, as the request path does */
		if (service_log_allowed(&svc->error_budget, kg_now()))
			log_warnx("store reopen failed: %s", store_errmsg(svc->kg.store));
	}
	return ok;
}

/*
 * libfcgi closes a connection by shutting down its sending side, then
 * waiting (poll) until the web server closes its end and reading what
 * comes: three more system calls and a wait for the peer, on every
 * request, since web servers open a connection per request.  That close
 * guards against a TCP reset discarding our answer when the server sent
 * bytes we never read.  Here, when the connection is not kept, we read
 * whatever has already arrived (the server writes its whole request, empty
 * STDIN included, before it reads the answer), until the request's
 * deadline at the latest (a client that keeps sending must not keep the
 * worker reading), then detach the request, which makes libfcgi close
 * without the wait.
 * (FCGX_Request's ipcFd and keepConnection are libfcgi's own fields.)
 */
static void
close_quickly(FCGX_Request *rq)
{
	char sink[4096];

	if (rq->keepConnection || rq->ipcFd < 0)
		return;
	while (recv(rq->ipcFd, sink, sizeof sink, MSG_DONTWAIT) > 0 &&
	    kg_mono_ns() < conn.deadline_ns)
		;
	FCGX_Detach(rq);
}

static int
worker_main(struct service *svc)
{
	FCGX_Request rq;
	char err[512];
	struct authz_opts o;
	uint64_t now_ns, t0;
	int outcome;

	/* Opening can block on what a dead process left: the watchdog covers it. */
	start_thread(watchdog, svc, "kg-watchdog");
	__atomic_store_n(&request_started, kg_mono_ns(), __ATOMIC_RELAXED);
	if (kg_open(&svc->kg, svc->dir, STORE_SERVER, err, sizeof err) != 0) {
		log_warnx("%s", err);
		return 1;
	}
	store_region_share(svc->kg.store, &region);
	if (svc->metrics == NULL) /* a worker's own row (a lone process has one already) */
		open_metrics(svc);
	upkeep_count_store_events(&upkeep, 1);
	__atomic_store_n(&request_started, 0, __ATOMIC_RELAXED);
	svc->deny_budget.what = "denials";
	svc->error_budget.what = "errors";
	if ((svc->tally = tally_new()) == NULL) {
		log_warnx("out of memory");
		return 1;
	}
	upkeep.tally = svc->tally;
	memset(&o, 0, sizeof o);
	o.query_param = svc->conf.query_param[0] ? svc->conf.query_param : NULL;
	o.tally = svc->tally;
	authz_init(&svc->az, &svc->kg, &o);
	authz_refresh(&svc->az);
	if (svc->ops->worker_init != NULL && svc->ops->worker_init(svc) != 0)
		return 1;
	__atomic_store_n(&request_started, kg_mono_ns(), __ATOMIC_RELAXED);
	upkeep_first_flush(&upkeep); /* the watchdog covers it too */
	__atomic_store_n(&request_started, 0, __ATOMIC_RELAXED);
	start_thread(maintenance, svc, "kg-maintenance");
	start_thread(flusher, svc, "kg-flush");
	if (FCGX_InitRequest(&rq, svc->listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		log_warnx("FCGX_InitRequest failed");
		return 1;
	}
	log_debug("worker ready");
	while (!stopping) {
		if (FCGX_Accept_r(&rq) < 0) {
			if (stopping)
				break;
			/* EAGAIN: the receive timeout also bounds accept(2) */
			if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN &&
			    errno != EWOULDBLOCK)
				log_warn("accept");
			continue;
		}
		/*
		 * libfcgi ends the params at a failed read or the end of the
		 * stream as at their last record, with an error on the stream:
		 * a connection refused, past its deadline or closed early gets
		 * no decision on half its params, only closed.
		 */
		if (FCGX_GetError(rq.in) != 0) {
			FCGX_Finish_r(&rq);
			continue;
		}
		now_ns = kg_now_ns();
		t0 = kg_mono_ns();
		__atomic_store_n(&request_started, t0, __ATOMIC_RELAXED);
		outcome = svc->ops->handle(svc, &rq, now_ns);
		/* the watchdog's clock read, and one more: the request's latency */
		metrics_request(svc->metrics, (unsigned)outcome, kg_mono_ns() - t0);
		if (__atomic_load_n(&metrics_stale, __ATOMIC_RELAXED))
			renew_metrics(svc);
		/*
		 * The watchdog is for the store; writing the answer is bounded by
		 * the connection's send timeout (see accept above).
		 */
		__atomic_store_n(&request_started, 0, __ATOMIC_RELAXED);
		close_quickly(&rq);
		FCGX_Finish_r(&rq);
		if (rq.ipcFd >= 0)
			conn_start_request(); /* a kept connection: the next request's deadline */
	}
	FCGX_Finish_r(&rq);
	/* a graceful stop loses no usage */
	upkeep_last_flush(&upkeep);
	kg_close(&svc->kg);
	upkeep_exclusive_end(&upkeep);
	return 0;
}

/* ---- master ---- */

static pid_t
spawn_worker(struct service *svc)
{
	pid_t pid = fork();

	if (pid < 0) {
		log_warn("fork");
		return -1;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() == 1)
			_exit(0);
		signal(SIGCHLD, SIG_DFL);
		/* the master's row is the master's: the worker claims its own */
		metrics_close(svc->metrics);
		svc->metrics = NULL;
		_exit(worker_main(svc));
	}
	return pid;
}

/* The master has no maintenance thread: it looks at its file when it counts. */
static void
count_restart(struct service *svc)
{
	if (svc->metrics == NULL || metrics_replaced(svc->metrics, svc->dir)) {
		metrics_close(svc->metrics);
		open_metrics(svc);
	}
	metrics_event(svc->metrics, ME_WORKER_RESTARTS, 1);
}

static int
master_main(struct service *svc)
{
	pid_t pids[CONF_WORKERS_MAX];
	uint64_t started[CONF_WORKERS_MAX]; /* kg_mono_ns() */
	unsigned i, n = svc->conf.workers, alive = 0;
	struct sigaction sa;
	sigset_t mask, old;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_child;
	sigaction(SIGCHLD, &sa, NULL);
	for (i = 0; i < n; i++) {
		pids[i] = spawn_worker(svc);
		started[i] = kg_mono_ns();
		alive += pids[i] > 0;
	}
	log_info("started %u workers", alive);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	while (!stopping) {
		int status;
		pid_t pid;

		sigprocmask(SIG_BLOCK, &mask, &old);
		if (!child_exited && !stopping)
			sigsuspend(&old);
		child_exited = 0;
		sigprocmask(SIG_SETMASK, &old, NULL);
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			for (i = 0; i < n; i++) {
				if (pids[i] != pid)
					continue;
				pids[i] = -1;
				if (stopping)
					break;
				log_warnx("worker %ld exited (%s %d); restarting", (long)pid,
				    WIFSIGNALED(status) ? "signal" : "status",
				    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
				count_restart(svc);
				/* a worker that cannot even start: do not spin */
				if (kg_mono_ns() - started[i] < NS_PER_S)
					sleep(1);
				pids[i] = spawn_worker(svc);
				started[i] = kg_mono_ns();
			}
		}
	}
	for (i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGTERM);
	while (wait(NULL) > 0 || errno == EINTR)
		;
	log_info("stopped");
	return 0;
}

static void
usage(const struct service *s, FILE *f)
{
	fprintf(f,
	    "usage: %s [--db DIR] [--config FILE] [--listen unix:PATH|HOST:PORT]\n"
	    "       [--workers N] [--socket-mode MODE] [--debug]%s\n"
	    "       %s --help | --version\n"
	    "\n%s", s->ops->name, s->ops->options != NULL ? " [options]" : "",
	    s->ops->name, s->ops->usage);
}

/* The common options, then the program's. */
static int
parse_options(struct service *s, int argc, char **argv, const char **db,
    const char **config, const char **listen, const char **workers,
    const char **mode, int *debug)
{
	static const struct option common[] = {
		{"db", required_argument, NULL, 'd'},
		{"config", required_argument, NULL, 'c'},
		{"listen", required_argument, NULL, 'l'},
		{"workers", required_argument, NULL, 'w'},
		{"socket-mode", required_argument, NULL, 'm'},
		{"debug", no_argument, NULL, 'D'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
	};
	struct option opts[32];
	size_t n = sizeof common / sizeof common[0], k = 0;
	int c;

	memcpy(opts, common, sizeof common);
	while (s->ops->options != NULL && s->ops->options[k].name != NULL && n + 1 < 32)
		opts[n++] = s->ops->options[k++];
	memset(&opts[n], 0, sizeof opts[n]);
	opterr = 0; /* getopt would echo a mistyped option whole: it may be a key */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': *db = optarg; break;
		case 'c': *config = optarg; break;
		case 'l': *listen = optarg; break;
		case 'w': *workers = optarg; break;
		case 'm': *mode = optarg; break;
		case 'D': *debug = 1; break;
		case 'h': usage(s, stdout); exit(0);
		case 'V': printf("%s %s\n", s->ops->name, PACKAGE_VERSION); exit(0);
		default:
			if (c >= 256 && s->ops->option != NULL && s->ops->option(s, c, optarg) == 0)
				break;
			log_warnx("%s: unknown option, missing or bad value (see --help)",
			    argv[optind - 1]);
			return -1;
		}
	}
	if (optind != argc) {
		log_warnx("unexpected argument '%s' (see --help)", argv[optind]);
		return -1;
	}
	return 0;
}

int
service_main(struct service *svc, int argc, char **argv)
{
	const char *db = NULL, *config = NULL, *listen = NULL, *workers = NULL,
	    *mode = NULL, *cpath, *why;
	char err[512];
	int debug = 0, must_exist;
	unsigned recovered, rebuilt;
	uint64_t n;

	umask(007);
	log_init(svc->ops->name, LOG_TO_STDERR, 0);
	conf_defaults(&svc->conf);
	if (parse_options(svc, argc, argv, &db, &config, &listen, &workers, &mode, &debug) != 0)
		return 1;
	cpath = conf_path(config, &must_exist);
	if (conf_load(cpath, must_exist, &svc->conf, err, sizeof err) != 0)
		fatalx("%s", err);
	if (workers != NULL) {
		if (parse_u64(workers, 1, CONF_WORKERS_MAX, &n, &why) != 0)
			fatalx("--workers: %s", why);
		svc->conf.workers = (unsigned)n;
	}
	if (listen != NULL)
		snprintf(svc->conf.listen, sizeof svc->conf.listen, "%s", listen);
	if (mode != NULL) {
		char *end;
		unsigned long m = strtoul(mode, &end, 8);
		if (*mode == '\0' || *end != '\0' || m > 0777)
			fatalx("--socket-mode: must be an octal mode such as 0660");
		svc->conf.socket_mode = (unsigned)m;
	}
	if (debug)
		svc->conf.debug = 1;
	log_init(svc->ops->name, svc->conf.log, svc->conf.debug);
	svc->dir = conf_db(db, &svc->conf);

	/* Fatal only at start-up: check the store opens before serving. */
	if (kg_open(&svc->kg, svc->dir, STORE_SERVER, err, sizeof err) != 0)
		fatalx("%s", err);
	if (svc->ops->check_store != NULL && svc->ops->check_store(svc, err, sizeof err) != 0)
		fatalx("%s", err);
	recovered = store_recoveries(svc->kg.store);
	rebuilt = svc->kg.counters_rebuilt;
	kg_close(&svc->kg);
	/*
	 * A store is there: the metrics file may be made (the master's row,
	 * or the lone worker's).  Once the store is closed: workers inherit
	 * the master's heap, and this allocation left among the store's freed
	 * ones sent libfcgi's allocations down a slower path in every request
	 * (callgrind: 200 instructions a request).
	 */
	open_metrics(svc);
	upkeep.lock = &store_lock;
	upkeep_init(&upkeep);
	upkeep.dir = svc->dir;
	upkeep.kg = &svc->kg;
	upkeep.metrics = &svc->metrics;
	upkeep.progress = maintenance_progress;
	upkeep_count_totals(&upkeep, recovered, rebuilt, 1);

	/* systemd socket activation: the socket moves to fd 0, as a spawner's */
	if (server_take_activated(svc->conf.listen, err, sizeof err) < 0)
		fatalx("%s", err);
	if (svc->conf.listen[0] != '\0') {
		svc->listen_fd = server_listen(svc->conf.listen, svc->conf.socket_mode, err, sizeof err);
		if (svc->listen_fd < 0)
			fatalx("%s", err);
	} else {
		if (!server_is_listener(0))
			fatalx("fd 0 is not a listening socket: start %s from a FastCGI "
			    "spawner (mod_fcgid, lighttpd, spawn-fcgi), from systemd, or "
			    "use --listen", svc->ops->name);
		svc->listen_fd = 0;
	}
	request_deadline_ms = svc->conf.request_deadline_s * 1000;
	/*
	 * libfcgi waits this long for the first byte of a unix-socket
	 * connection (2 s unless told) before any read: within the deadline.
	 */
	snprintf(err, sizeof err, "%u", request_deadline_ms);
	setenv("LIBFCGI_IS_AF_UNIX_KEEPER_POLL_TIMEOUT", err, 1);
	if (FCGX_Init() != 0)
		fatalx("FCGX_Init failed");
	install_signals();
	if (svc->conf.listen[0] != '\0' || svc->conf.workers > 1)
		return master_main(svc);
	return worker_main(svc);
}

void
service_prepare(struct service *svc)
{
	service_reopen(svc);
	if (authz_counters_suspect(&svc->az)) {
		upkeep_exclusive(&upkeep);
		authz_counters_check(&svc->az);
		upkeep_exclusive_end(&upkeep);
	}
}
