/*
 * store.c - the Berkeley DB 5.3 transactional environment.
 *
 * Choices, each measured (the figures are in doc/DESIGN.md, section 3):
 * - a transactional environment, not CDB: only it can abort a dead
 *   writer's transaction (failchk) instead of forcing everyone out;
 * - DB_TXN_WRITE_NOSYNC as the environment default: a commit reaches the
 *   OS before the call returns, so a process crash loses nothing (NOSYNC
 *   loses commits on a mere crash); on a single host the admin CLI commits
 *   with DB_TXN_SYNC (a replicated store: see commit_durability);
 * - DB_REGISTER|DB_RECOVER at every open, without DB_FAILCHK: a process
 *   killed at any moment, even holding a mutex, never wedges the next
 *   open (see open_all); long-lived processes run failchk every second;
 * - set_thread_count and set_isalive, which failchk needs;
 * - hash databases: every request is one exact-match lookup;
 * - DB_LOCK_MINWRITE deadlock victims: the authorizers' lone reads (no
 *   write locks) lose and are retried, so admin writers always progress.
 *   With the default (random) policy, 4 writers and 4 readers livelocked
 *   at the first hash split: every writer aborted 50 times in a row.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "storeint.h"

static const char *const tbl_files[TBL_COUNT] = {
	"meta.db", "keys.db", "keyids.db", "orgs.db", "plans.db", "ledger.db",
	"history.db", "audit.db", "orgkeys.db", "secrets.db",
};

/*
 * History is read by ranges of days, the audit by time, an organization's
 * keys in the order of their ids: sorted.  Everything else is looked up.
 */
static const DBTYPE tbl_types[TBL_COUNT] = {
	DB_HASH, DB_HASH, DB_HASH, DB_HASH, DB_HASH, DB_HASH, DB_BTREE, DB_BTREE,
	DB_BTREE, DB_HASH,
};

/*
 * Tables that stores made by an earlier keygate lack: created on open, so
 * that an upgrade needs no command (the first process to open creates them,
 * in a transaction, and the others find them).
 */
static int
tbl_added_later(int t)
{
	return t == TBL_LEDGER || t == TBL_HISTORY || t == TBL_AUDIT || t == TBL_ORGKEYS ||
	    t == TBL_SECRETS;
}

/* A lone read that loses a deadlock is tried again this many times. */
#define READ_RETRIES 5
/*
 * The log buffer: a replica reads each transaction back from it to apply
 * it, and a history batch is hundreds of KB (DESIGN.md, section 15).  At
 * most a quarter of a log file (set_lg_max).
 */
#define LOG_BUFFER_BYTES (2u << 20)
#define LOG_FILE_BYTES (10u << 20)
_Static_assert(LOG_BUFFER_BYTES * 4 <= LOG_FILE_BYTES, "Berkeley DB: a log buffer of at most a quarter of a log file");
/* Less room than one log buffer's write is a full file system. */
#define STORE_FS_FULL_BYTES LOG_BUFFER_BYTES

struct store_txn {
	struct store *s;
	DB_TXN *txn;
	DB_TXN_TOKEN token; /* filled at commit (replicated stores) */
	int has_token;
};

_Static_assert(STORE_TOKEN_LEN == DB_TXN_TOKEN_SIZE, "a commit token's size");

const char *
store_tbl_name(enum store_tbl t)
{
	return t < TBL_COUNT ? tbl_files[t] : "?";
}

const char *
store_dir(const struct store *s)
{
	return s->dir;
}

const char *
store_errmsg(const struct store *s)
{
	return s->errmsg[0] ? s->errmsg : "store error";
}

int
store_dead(const struct store *s)
{
	return s->broken && s->dead;
}

int
store_broken(const struct store *s)
{
	return s->broken;
}

unsigned
store_recoveries(const struct store *s)
{
	return s->recoveries;
}

/* Zombies count as alive: kill(2) succeeds on them until they are reaped. */
static int
isalive(DB_ENV *env, pid_t pid, db_threadid_t tid, u_int32_t flags)
{
	(void)env;
	(void)tid;
	(void)flags;
	return kill(pid, 0) == 0 || errno == EPERM;
}

/*
 * A replica that needs a full copy of the store (it was down while the
 * master removed the logs it lacks, or its files are damaged) gets every
 * database of the master's environment.  Berkeley DB 5.3 finds them by
 * opening, as a database, every file of the environment's home directory
 * (and of its data directories, but of the home always) that is not its
 * own (log.*, __db.*, DB_CONFIG); the replica does the same with its own
 * files before it removes its databases.  The store's other files, the
 * derived ones (counter file, key index, metrics), the lock files and
 * the marker, are no databases: each is skipped, and is never sent, after
 * an error (a hundred for a large mapped file: its first page looks
 * encrypted) that filled keygate-repd's log and replaced the store's last
 * error message from a thread of the replication manager.  Only a home
 * directory without them would spare the library the look, and moving
 * them is a change of the store's layout, under which processes of an
 * earlier keygate still running would follow a key index nobody updates.
 * So these errors, about files that are not tables, are dropped here.
 * A store is never encrypted: the encryption errors can only come from
 * such a file.
 */
static int
not_a_table_error(const char *msg)
{
	static const char *const suffixes[] = {
		": unexpected file type or format", ": metadata page checksum error",
	};
	const char *end, *base;
	size_t i, n = strlen(msg), k;
	int t;

	if (strstr(msg, "Encrypted checksum: no encryption key specified") != NULL ||
	    strstr(msg, "Encrypted database: no encryption flag specified") != NULL)
		return 1;
	for (i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
		k = strlen(suffixes[i]);
		if (n <= k || strcmp(msg + n - k, suffixes[i]) != 0)
			continue;
		end = msg + n - k;
		for (base = end; base > msg && base[-1] != '/'; base--)
			;
		if (base == msg)
			return 0; /* no path: not the listing of a directory */
		for (t = 0; t < TBL_COUNT; t++)
			if (strlen(tbl_files[t]) == (size_t)(end - base) &&
			    memcmp(tbl_files[t], base, (size_t)(end - base)) == 0)
				return 0; /* a table of the store: a real error */
		return 1;
	}
	return 0;
}

static void
errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	struct store *s = env->app_private;

	(void)pfx;
	if (not_a_table_error(msg))
		return;
	if (s != NULL)
		snprintf(s->errmsg, sizeof s->errmsg, "%s", msg);
	log_debug("db: %s", msg);
}

/* Informational messages (failchk freeing a dead process's locks...). */
static void
msgcall(const DB_ENV *env, const char *msg)
{
	(void)env;
	log_debug("db: %s", msg);
}

/*
 * The environment is dead for this process (it panicked, or its regions
 * were replaced): stop claiming it, so that an opener who finds it damaged
 * may rebuild it (see attach_lock) even before we reopen.
 */
static void
mark_broken(struct store *s)
{
	s->broken = 1;
	if (s->lockfd >= 0)
		flock(s->lockfd, LOCK_UN);
}

/*
 * Whether the store's file system has no room left.  Berkeley DB reports
 * a full disk as EIO when the write that failed was its cache's: a dirty
 * page it could not evict because the log before it could not be
 * written (__memp_alloc).  A CLI import bigger than the cache on a full
 * disk said "Input/output error" where the cause was plain.
 */
static int
store_fs_full(const struct store *s)
{
	struct statvfs v;

	return statvfs(s->dir, &v) == 0 && (uint64_t)v.f_bavail * v.f_frsize < STORE_FS_FULL_BYTES;
}

int
store_classify(struct store *s, int ret, const char *what)
{
	switch (ret) {
	case 0:
		return ST_OK;
	case DB_NOTFOUND:
	case DB_KEYEMPTY:
		return ST_NOTFOUND;
	case DB_KEYEXIST:
		return ST_EXISTS;
	case DB_BUFFER_SMALL:
		return ST_SMALL;
	case DB_LOCK_DEADLOCK:
	case DB_LOCK_NOTGRANTED:
		return ST_DEADLOCK;
	case DB_REP_LOCKOUT:
		/* a replica synchronising with a (new) master: a moment, not a fault */
		snprintf(s->errmsg, sizeof s->errmsg, "%s: the replica is synchronising with the master", what);
		return ST_DEADLOCK;
	case DB_RUNRECOVERY:
		s->dead = 1;
		/* FALLTHROUGH */
	case DB_REP_HANDLE_DEAD:
		/*
		 * DB_REP_HANDLE_DEAD: replication rolled back or replaced what
		 * our handles had open (a new master had not seen our last
		 * transactions, or the site was initialised anew): every
		 * handle must be reopened, exactly as after a recovery.
		 */
		mark_broken(s);
		snprintf(s->errmsg, sizeof s->errmsg, "%s: %s", what, db_strerror(ret));
		return ST_RECOVER;
	default:
		snprintf(s->errmsg, sizeof s->errmsg, "%s: %s%s", what, db_strerror(ret),
		    ret == EIO && store_fs_full(s) ? " (no space left on the store's file system)" : "");
		return ST_ERROR;
	}
}

int
store_write_config(const char *dir, uint64_t cache_bytes, char *err,
    size_t errlen)
{
	char path[PATHNAME_BUF];
	FILE *f;
	int fd;

	if (cache_bytes == 0)
		cache_bytes = STORE_DEFAULT_CACHE;
	snprintf(path, sizeof path, "%s/DB_CONFIG", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0640);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	fprintf(f,
	    "# Berkeley DB settings for this keygate store, read when the\n"
	    "# environment's regions are created.  After editing, stop the\n"
	    "# authorizers and run `keygate db recover` to apply them.\n"
	    "# The cache should hold the whole data set (about 250 MB per\n"
	    "# million keys) for every lookup to stay in memory.\n"
	    "set_cachesize %llu %llu 1\n",
	    (unsigned long long)(cache_bytes >> 30),
	    (unsigned long long)(cache_bytes & ((1u << 30) - 1)));
	if (fclose(f) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Every handle on the environment is configured the same way: whichever
 * process creates the regions fixes their sizes and the deadlock policy,
 * and a later joiner with other settings would fail.
 */
static int
env_configure(DB_ENV *env)
{
	int ret;

	/* Berkeley DB's messages go to our log, never to stdout */
	env->set_errcall(env, errcall);
	env->set_msgcall(env, msgcall);
	/* Defaults that DB_CONFIG may override; sized for hundreds of processes. */
	if ((ret = env->set_thread_count(env, 1024)) != 0 ||
	    (ret = env->set_isalive(env, isalive)) != 0 ||
	    (ret = env->set_lk_detect(env, DB_LOCK_MINWRITE)) != 0 ||
	    (ret = env->set_lk_max_lockers(env, 20000)) != 0 ||
	    (ret = env->set_lk_max_locks(env, 50000)) != 0 ||
	    (ret = env->set_lk_max_objects(env, 50000)) != 0 ||
	    (ret = env->set_tx_max(env, 500)) != 0 ||
	    (ret = env->set_cachesize(env, 0, STORE_DEFAULT_CACHE, 1)) != 0 ||
	    (ret = env->set_lg_max(env, LOG_FILE_BYTES)) != 0 ||
	    (ret = env->set_lg_bsize(env, LOG_BUFFER_BYTES)) != 0 ||
	    (ret = env->set_timeout(env, 3000000, DB_SET_LOCK_TIMEOUT)) != 0 ||
	    (ret = env->set_flags(env, DB_TXN_WRITE_NOSYNC, 1)) != 0 ||
	    (ret = env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1)) != 0)
		return ret;
	return 0;
}

static int
env_setup(struct store *s, char *err, size_t errlen)
{
	DB_ENV *env;
	int ret;

	if ((ret = db_env_create(&env, 0)) != 0) {
		snprintf(err, errlen, "db_env_create: %s", db_strerror(ret));
		return -1;
	}
	env->app_private = s;
	if ((ret = env_configure(env)) != 0) {
		snprintf(err, errlen, "environment setup: %s", db_strerror(ret));
		env->close(env, 0);
		return -1;
	}
	s->env = env;
	return 0;
}

static void
remember_region(struct store *s)
{
	struct stat st;

	if (stat(s->region->path, &st) == 0) {
		__atomic_store_n(&s->region->dev, (uint64_t)st.st_dev, __ATOMIC_RELEASE);
		__atomic_store_n(&s->region->ino, (uint64_t)st.st_ino, __ATOMIC_RELEASE);
	}
}

static void
forget_region(struct store *s)
{
	__atomic_store_n(&s->region->ino, 0, __ATOMIC_RELEASE);
}

/*
 * If someone removed the region files (rm __db.*, a careless
 * db5.3_recover), or another process recovered the environment (which
 * makes them anew), the next process creates new ones and writes there,
 * while we would go on reading our old mapping: revocations would never
 * reach us.  Seeing the file gone or replaced, we reopen.
 */
int
store_region_changed(const struct store_region *r)
{
	uint64_t ino = __atomic_load_n(&r->ino, __ATOMIC_ACQUIRE);
	uint64_t dev = __atomic_load_n(&r->dev, __ATOMIC_ACQUIRE);
	struct stat st;

	if (ino == 0)
		return 0; /* none mapped, or being reopened */
	if (stat(r->path, &st) != 0)
		return errno == ENOENT;
	return (uint64_t)st.st_ino != ino || (uint64_t)st.st_dev != dev;
}

void
store_region_share(struct store *s, struct store_region *r)
{
	memcpy(r->path, s->region->path, sizeof r->path);
	__atomic_store_n(&r->dev, __atomic_load_n(&s->region->dev, __ATOMIC_ACQUIRE),
	    __ATOMIC_RELEASE);
	__atomic_store_n(&r->ino, __atomic_load_n(&s->region->ino, __ATOMIC_ACQUIRE),
	    __ATOMIC_RELEASE);
	s->region = r;
}

/*
 * Berkeley DB creates its region files sparse.  A process that touches a
 * hole on a full file system dies of SIGBUS (measured on a full tmpfs),
 * possibly holding a mutex.  Allocating the blocks up front turns a full
 * disk into a clean error at open.  fallocate does not touch the pages,
 * so it costs no memory.
 */
static int
allocate_regions(struct store *s, char *err, size_t errlen)
{
	char path[PATHNAME_BUF];
	struct stat st;
	int i, fd, rc;

	for (i = 1; i < 100; i++) {
		snprintf(path, sizeof path, "%s/__db.%03d", s->dir, i);
		if ((fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) < 0)
			break;
		rc = fstat(fd, &st) == 0 ? posix_fallocate(fd, 0, st.st_size) : errno;
		close(fd);
		if (rc != 0 && rc != EOPNOTSUPP) {
			snprintf(err, errlen, "cannot allocate the store's region %s: %s",
			    path, strerror(rc));
			return -1;
		}
	}
	return 0;
}

static void
close_tables(struct store *s)
{
	int i;

	for (i = 0; i < TBL_COUNT; i++) {
		if (s->db[i] != NULL) {
			s->db[i]->close(s->db[i], 0);
			s->db[i] = NULL;
		}
	}
	s->tables_open = 0;
}

static void
close_handles(struct store *s)
{
	forget_region(s);
	close_tables(s);
	if (s->env != NULL) {
		/* stops the replication manager's threads, whose callbacks use s->repl */
		s->env->close(s->env, 0);
		s->env = NULL;
	}
	free(s->repl);
	s->repl = NULL;
}

/*
 * How a dead process is cleaned up.  An opener with DB_REGISTER|DB_RECOVER
 * that finds a dead process in the registry runs full recovery: the
 * regions are rebuilt, every live process meets DB_RUNRECOVERY once and
 * reopens.  DB_FAILCHK would run failchk instead, sparing the live
 * processes, but to do so the opener attaches to the old regions and
 * blocks for ever on any mutex the dead process held.  Measured: a CLI
 * killed by SIGBUS inside the buffer pool wedged every later open; and a
 * failchk run in a time-limited child (tried, then dropped) can clear the
 * dead process from the registry while leaving the mutex held, so that
 * later openers attach and block.  Full recovery never takes those
 * mutexes.  A dead process's locks are released sooner than that by the
 * failchk that long-lived processes run every second (store_maintain).
 */
/*
 * The attach lock.  Every process holds a shared flock on DIR/keygate.lock
 * while it is attached to the environment.  Berkeley DB's own registry
 * cannot cover one case: a process killed while it runs recovery, that is
 * while it rebuilds the regions, leaves a half-made environment and an
 * empty registry (measured under repeated SIGKILLs: __db.001 alone, every
 * later open failing with EINVAL, for ever).  An opener that meets a
 * damaged environment takes the lock exclusively, which succeeds only when
 * nobody is attached, removes the region files and runs recovery
 * unconditionally.  flock locks die with their process: no stale lock.
 */
#define LOCK_FILE "keygate.lock"

static int
attach_lock(struct store *s, int op)
{
	char path[PATHNAME_BUF];

	if (s->lockfd < 0) {
		snprintf(path, sizeof path, "%s/%s", s->dir, LOCK_FILE);
		s->lockfd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0660);
		if (s->lockfd < 0)
			s->lockfd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (s->lockfd < 0)
			return -1;
	}
	while (flock(s->lockfd, op) != 0) {
		if (errno != EINTR)
			return -1;
	}
	return 0;
}

#define EXCLUSIVE_WAIT_MS 3000

static int
exclusive_soon(struct store *s)
{
	struct timespec tick = {0, 100000000};
	int waited;

	flock(s->lockfd, LOCK_UN);
	for (waited = 0; waited < EXCLUSIVE_WAIT_MS; waited += 100) {
		if (attach_lock(s, LOCK_EX | LOCK_NB) == 0)
			return 0;
		nanosleep(&tick, NULL);
	}
	return -1;
}

/* Errors that say nothing about the environment's state. */
static int
env_error_is_external(int ret)
{
	return ret == EACCES || ret == EPERM || ret == ENOSPC || ret == EROFS ||
	    ret == EDQUOT || ret == ENOMEM || ret == EMFILE || ret == ENFILE;
}

/* Removes the region files and runs recovery: only under the exclusive lock. */
static int
rebuild_environment(struct store *s, char *err, size_t errlen)
{
	char path[PATHNAME_BUF];
	DB_ENV *env;
	int i, ret;

	log_warnx("the environment of %s is damaged (a process died while making it) or was "
	    "made %s replication; rebuilding it from the logs", s->dir,
	    s->replicated ? "without" : "with");
	for (i = 1; i < 100; i++) {
		snprintf(path, sizeof path, "%s/__db.%03d", s->dir, i);
		if (unlink(path) != 0 && errno != ENOENT)
			break;
	}
	snprintf(path, sizeof path, "%s/__db.register", s->dir);
	unlink(path);
	if ((ret = db_env_create(&env, 0)) != 0 || (ret = env_configure(env)) != 0 ||
	    (ret = env->open(env, s->dir, DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK |
	    DB_INIT_LOG | DB_INIT_MPOOL | DB_RECOVER |
	    (s->replicated ? DB_INIT_REP | DB_THREAD : 0), 0660)) != 0) {
		snprintf(err, errlen, "cannot rebuild the environment of %s: %s", s->dir,
		    db_strerror(ret));
		if (env != NULL)
			env->close(env, 0);
		return -1;
	}
	env->close(env, 0);
	return 0;
}

static int
open_env(struct store *s, u_int32_t envflags, int *dberr)
{
	char err[512];

	*dberr = 0;
	if (env_setup(s, err, sizeof err) != 0) {
		*dberr = EINVAL;
		return -1;
	}
	if ((*dberr = s->env->open(s->env, s->dir, envflags, 0660)) != 0) {
		close_handles(s);
		return -1;
	}
	/*
	 * A read that meets a replica's lockout sleeps 5 s unless NOWAIT is
	 * on, and the setting lives in the regions: whoever makes them anew
	 * (an authorizer recovering the store while keygate-repd restarts)
	 * sets it at once, not only keygate-repd (repl.c, which reads every
	 * setting back).  Measured: a request of 5.0 s after such a rebuild.
	 */
	if (envflags & DB_INIT_REP)
		s->env->rep_set_config(s->env, DB_REP_CONF_NOWAIT, 1);
	return 0;
}

/* Whether dir holds a replicated store (keygate-repd(8)): every opener must say so. */
static int
marked_replicated(const char *dir)
{
	char path[PATHNAME_BUF];
	struct stat st;

	snprintf(path, sizeof path, "%s/%s", dir, STORE_REPL_MARKER);
	return lstat(path, &st) == 0;
}

/*
 * The flags every table is opened with.  In a replicated store only
 * keygate-repd writes: every other process opens the tables read-only,
 * which is also what keeps Berkeley DB from logging the opening itself on
 * the master (a process that logs there is made part of the replication
 * group, with connections of its own to every site).
 */
static u_int32_t
table_flags(const struct store *s, int t)
{
	u_int32_t f = 0;

	if (s->flags & STORE_SERVER || s->replicated)
		f |= DB_THREAD;
	if (s->replicated && !(s->flags & STORE_REPL_OWNER))
		return f | DB_RDONLY;
	f |= DB_AUTO_COMMIT; /* a handle opened outside a transaction never joins one */
	if (s->replicated)
		return f; /* the group's tables, made by its first site */
	if ((s->flags & STORE_CREATE) || tbl_added_later(t))
		f |= DB_CREATE;
	return f;
}

static int
open_tables(struct store *s, char *err, size_t errlen)
{
	int i, ret;

	for (i = 0; i < TBL_COUNT; i++) {
		DB *db;

		if ((ret = db_create(&db, s->env, 0)) != 0) {
			snprintf(err, errlen, "db_create: %s", db_strerror(ret));
			return ret;
		}
		s->db[i] = db;
		if ((ret = db->open(db, NULL, tbl_files[i], NULL, tbl_types[i],
		    table_flags(s, i), 0660)) != 0) {
			snprintf(err, errlen, "cannot open %s/%s: %s", s->dir,
			    tbl_files[i], ret == DB_REP_LOCKOUT ?
			    "the replica is synchronising with the master" : db_strerror(ret));
			return ret;
		}
	}
	s->tables_open = 1;
	return 0;
}

static int
open_all(struct store *s, char *err, size_t errlen)
{
	/* no DB_FAILCHK: see above */
	u_int32_t envflags = DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK |
	    DB_INIT_LOG | DB_INIT_MPOOL | DB_REGISTER | DB_RECOVER, opened;
	int ret, rebuilt = 0;

	/*
	 * A replicated environment is made with DB_INIT_REP by whoever opens
	 * it first (after a recovery that may be an authorizer), and every
	 * handle on it needs DB_THREAD (the replication manager's threads).
	 */
	s->replicated = marked_replicated(s->dir);
	if (s->replicated)
		envflags |= DB_INIT_REP | DB_THREAD;
	if (s->flags & STORE_SERVER)
		envflags |= DB_THREAD;
	if (attach_lock(s, LOCK_SH) != 0) {
		snprintf(err, errlen, "cannot lock %s/%s: %s", s->dir, LOCK_FILE, strerror(errno));
		return -1;
	}
	if (open_env(s, envflags, &ret) != 0 && !env_error_is_external(ret)) {
		/*
		 * Nobody else attached?  Then we may rebuild it.  Processes
		 * still attached to a dead environment let go within a second
		 * of noticing (mark_broken), so wait a little for them.
		 */
		if (exclusive_soon(s) == 0) {
			if (rebuild_environment(s, err, errlen) != 0) {
				flock(s->lockfd, LOCK_UN);
				return -1;
			}
			rebuilt = 1;
			attach_lock(s, LOCK_SH);
			open_env(s, envflags, &ret);
		} else {
			attach_lock(s, LOCK_SH);
		}
	}
	if (ret != 0) {
		snprintf(err, errlen, "cannot open the store environment in %s: %s",
		    s->dir, ret == DB_RUNRECOVERY ? "it needs recovery and recovery failed"
		    : db_strerror(ret));
		flock(s->lockfd, LOCK_UN);
		return -1;
	}
	/*
	 * With DB_REGISTER, Berkeley DB drops DB_RECOVER from the open flags
	 * when it finds no dead process to recover from (measured on 5.3).
	 */
	if (rebuilt || (s->env->get_open_flags(s->env, &opened) == 0 && (opened & DB_RECOVER)))
		s->recoveries++;
	if (allocate_regions(s, err, errlen) != 0) {
		close_handles(s);
		flock(s->lockfd, LOCK_UN);
		return -1;
	}
	remember_region(s);
	s->broken = s->dead = 0;
	/*
	 * keygate-repd opens the tables of a replicated store once its
	 * replication manager runs (store_open_tables): a site opening them
	 * before it is a client would log the opening as if it were a master.
	 */
	if (s->replicated && (s->flags & STORE_REPL_OWNER))
		return 0;
	if (open_tables(s, err, errlen) != 0) {
		close_handles(s);
		flock(s->lockfd, LOCK_UN);
		return -1;
	}
	return 0;
}

int
store_open_tables(struct store *s, char *err, size_t errlen)
{
	int ret;

	if (s->tables_open)
		return ST_OK;
	if ((ret = open_tables(s, err, errlen)) != 0) {
		close_tables(s);
		return ret == DB_REP_LOCKOUT || ret == ENOENT ? ST_NOTFOUND : ST_ERROR;
	}
	return ST_OK;
}

struct store *
store_open(const char *dir, unsigned flags, char *err, size_t errlen)
{
	struct store *s;
	char path[PATHNAME_BUF];
	struct stat st;

	if (!pathname_fits(dir)) {
		snprintf(err, errlen, "the store path is %zu bytes long; keygate accepts at most %d",
		    strlen(dir), PATHNAME_MAX);
		return NULL;
	}
	/*
	 * The environment is always opened with DB_CREATE (recovery removes
	 * the region files), so check first that a store is really there.
	 */
	snprintf(path, sizeof path, "%s/%s", dir, tbl_files[TBL_META]);
	if (!(flags & (STORE_CREATE | STORE_REPL_OWNER)) && stat(path, &st) != 0) {
		if (errno == ENOENT && stat(dir, &st) == 0)
			snprintf(err, errlen, "no keygate store in %s (run keygate init)", dir);
		else if (errno == ENOENT)
			snprintf(err, errlen, "no keygate store in %s (no such directory; run keygate init)", dir);
		else
			snprintf(err, errlen, "cannot open the store %s: %s", dir,
			    strerror(errno));
		return NULL;
	}
	if ((s = calloc(1, sizeof *s)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(s->dir, sizeof s->dir, "%s", dir);
	s->region = &s->own_region;
	snprintf(s->region->path, sizeof s->region->path, "%s/__db.001", dir);
	s->flags = flags;
	s->lockfd = -1;
	if (open_all(s, err, errlen) != 0) {
		free(s);
		return NULL;
	}
	/* Creation is a one-time thing; a reopen must never create files. */
	s->flags &= ~STORE_CREATE;
	return s;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	close_handles(s);
	if (s->lockfd >= 0)
		close(s->lockfd);
	free(s);
}

/*
 * After a panic, Berkeley DB's close returns DB_RUNRECOVERY before freeing
 * the old handle (valgrind shows it): each reopen leaves ~48 KB behind.
 * Recoveries are rare, and reopening in place is what keeps a lone,
 * unsupervised authorizer (spawn-fcgi) serving.
 */
int
store_reopen(struct store *s)
{
	char err[512];

	close_handles(s);
	flock(s->lockfd, LOCK_UN);
	if (open_all(s, err, sizeof err) != 0) {
		snprintf(s->errmsg, sizeof s->errmsg, "%s", err);
		s->broken = 1;
		return ST_ERROR;
	}
	return ST_OK;
}

/*
 * The commit token of the last transaction this thread committed as a
 * replication master, for the replica that asked for the change to wait
 * until it holds it (store_wait_applied).
 */
static _Thread_local DB_TXN_TOKEN last_token;
static _Thread_local int have_token;

int
store_writable(const struct store *s)
{
	return !s->replicated || (s->flags & STORE_REPL_OWNER);
}

int
store_replicated(const struct store *s)
{
	return s->replicated;
}

/*
 * How a commit is made durable.  On a single host an admin commit is
 * synchronous: when the CLI returns, it is on disk.  In a replicated
 * store a commit is durable by the quorum instead: a replica flushes its
 * log at every commit it applies, before it acknowledges, and keygate-repd
 * answers only once a quorum has acknowledged.  A synchronous commit there
 * would also cost every replica a log flush per record, not per commit:
 * Berkeley DB marks the master's whole bulk buffer "flush" when it holds a
 * synchronous commit, and a replica applies each record of it with a
 * flush (measured: 1,500 to 4,000 fdatasync calls a second on each
 * replica under one authorizer's usage flushes, which made those flushes
 * take 2 to 4 s and the host's quotas answer 503).
 */
static uint32_t
commit_durability(const struct store *s)
{
	return s->replicated ? DB_TXN_WRITE_NOSYNC : DB_TXN_SYNC;
}

int
store_txn_begin(struct store *s, struct store_txn **out)
{
	struct store_txn *t;
	int ret;

	if (s->broken)
		return ST_RECOVER;
	/* in a replicated store only keygate-repd writes, and only as master */
	if (!store_writable(s)) {
		snprintf(s->errmsg, sizeof s->errmsg,
		    "this replicated store is written through keygate-repd only");
		return ST_REPLICA;
	}
	if ((t = calloc(1, sizeof *t)) == NULL)
		return ST_ERROR;
	t->s = s;
	ret = s->env->txn_begin(s->env, NULL, &t->txn, commit_durability(s));
	if (ret != 0) {
		free(t);
		return store_classify(s, ret, "txn_begin");
	}
	if (s->replicated && t->txn->set_commit_token(t->txn, &t->token) == 0)
		t->has_token = 1;
	*out = t;
	return ST_OK;
}

int
store_txn_commit(struct store_txn *t)
{
	struct store *s = t->s;
	int ret = t->txn->commit(t->txn, 0);

	if (ret == 0 && t->has_token) {
		last_token = t->token;
		have_token = 1;
	}
	free(t);
	return store_classify(s, ret, "commit");
}

void
store_txn_abort(struct store_txn *t)
{
	if (t == NULL)
		return;
	t->txn->abort(t->txn);
	free(t);
}

void
store_token_reset(void)
{
	have_token = 0;
}

int
store_token_last(unsigned char out[STORE_TOKEN_LEN])
{
	if (!have_token)
		return 0;
	memcpy(out, last_token.buf, STORE_TOKEN_LEN);
	return 1;
}

static DB_TXN *
raw(struct store_txn *t)
{
	return t ? t->txn : NULL;
}

/*
 * A replica that synchronises with a new master locks reads out for a
 * moment (about 130 ms measured; DB_REP_CONF_NOWAIT turns the library's
 * fixed 5 s sleep into DB_REP_LOCKOUT).  A lone read waits it out, up to
 * LOCKOUT_WAIT_MS, rather than turning an election into 503s.
 */
#define LOCKOUT_WAIT_MS 400
#define LOCKOUT_TICK_MS 10

static int
lockout_wait(int *waited_ms)
{
	struct timespec tick = {0, LOCKOUT_TICK_MS * 1000000L};

	if (*waited_ms >= LOCKOUT_WAIT_MS)
		return 0;
	nanosleep(&tick, NULL);
	*waited_ms += LOCKOUT_TICK_MS;
	return 1;
}

/*
 * A read outside a transaction, in a replicated store.  DB->get (and
 * DB->exists, which calls it) with no transaction meets a replication
 * lockout (this site changing role, or synchronising with a new master)
 * by sleeping 5 s inside Berkeley DB 5.3 before it fails (__db_rep_enter
 * yields unless given a transaction), whatever DB_REP_CONF_NOWAIT says;
 * opening a cursor passes the other gate (__op_rep_enter), which honours
 * NOWAIT and fails at once with DB_REP_LOCKOUT, which store_get waits
 * out in short steps.  DB->get opens a cursor inside: the work is the
 * same.  Measured before: requests of 5-6 s through a failover.
 */
static int
lone_get(DB *db, DBT *k, DBT *v)
{
	DBC *c;
	int ret, t_ret;

	if ((ret = db->cursor(db, NULL, &c, 0)) != 0)
		return ret;
	ret = c->get(c, k, v, DB_SET);
	if ((t_ret = c->close(c)) != 0 && ret == 0)
		ret = t_ret;
	return ret;
}

static int
db_get(struct store *s, struct store_txn *txn, enum store_tbl t, DBT *k, DBT *v, int rmw)
{
	if (txn == NULL && s->replicated)
		return lone_get(s->db[t], k, v);
	return s->db[t]->get(s->db[t], raw(txn), k, v, rmw && txn ? DB_RMW : 0);
}

/*
 * One read, retried as a lone read must be.  The deadlock detector
 * (DB_LOCK_MINWRITE) picks the locker with the fewest write locks: a lone
 * read outside a transaction.  It holds nothing afterwards, so it is
 * simply asked again; a replication lockout is waited out (lockout_wait).
 */
static int
read_record(struct store *s, struct store_txn *txn, enum store_tbl t, DBT *k, DBT *v, int rmw)
{
	int ret = 0, attempt, waited_ms = 0;

	for (attempt = 0; attempt < READ_RETRIES; attempt++) {
		ret = db_get(s, txn, t, k, v, rmw);
		if (ret == DB_REP_LOCKOUT && txn == NULL && lockout_wait(&waited_ms)) {
			attempt--; /* a lockout is no deadlock: it spends no retry */
			continue;
		}
		if (txn != NULL || (ret != DB_LOCK_DEADLOCK && ret != DB_LOCK_NOTGRANTED))
			break;
	}
	return ret;
}

int
store_get(struct store *s, struct store_txn *txn, enum store_tbl t,
    const void *key, size_t klen, void *buf, size_t cap, size_t *len, int rmw)
{
	DBT k, v;
	int ret;

	if (s->broken)
		return ST_RECOVER;
	if (!s->tables_open)
		return ST_ERROR;
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.data = (void *)key;
	k.size = (u_int32_t)klen;
	v.data = buf;
	v.ulen = (u_int32_t)cap;
	v.flags = DB_DBT_USERMEM;
	ret = read_record(s, txn, t, &k, &v, rmw);
	if (ret == 0 && len != NULL)
		*len = v.size;
	return store_classify(s, ret, tbl_files[t]);
}

/* Whether key is there: a read of none of its bytes (what DB->exists does). */
int
store_exists(struct store *s, struct store_txn *txn, enum store_tbl t,
    const void *key, size_t klen)
{
	DBT k, v;

	if (s->broken)
		return ST_RECOVER;
	if (!s->tables_open)
		return ST_ERROR;
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.data = (void *)key;
	k.size = (u_int32_t)klen;
	v.flags = DB_DBT_USERMEM | DB_DBT_PARTIAL;
	return store_classify(s, read_record(s, txn, t, &k, &v, 0), tbl_files[t]);
}

int
store_put(struct store *s, struct store_txn *txn, enum store_tbl t,
    const void *key, size_t klen, const void *val, size_t vlen, int nooverwrite)
{
	DBT k, v;
	int ret;

	if (s->broken)
		return ST_RECOVER;
	if (!s->tables_open)
		return ST_ERROR;
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.data = (void *)key;
	k.size = (u_int32_t)klen;
	v.data = (void *)val;
	v.size = (u_int32_t)vlen;
	ret = s->db[t]->put(s->db[t], raw(txn), &k, &v, nooverwrite ? DB_NOOVERWRITE : 0);
	return store_classify(s, ret, tbl_files[t]);
}

int
store_del(struct store *s, struct store_txn *txn, enum store_tbl t,
    const void *key, size_t klen)
{
	DBT k;
	int ret;

	if (s->broken)
		return ST_RECOVER;
	if (!s->tables_open)
		return ST_ERROR;
	memset(&k, 0, sizeof k);
	k.data = (void *)key;
	k.size = (u_int32_t)klen;
	ret = s->db[t]->del(s->db[t], raw(txn), &k, 0);
	return store_classify(s, ret, tbl_files[t]);
}

int
store_scan(struct store *s, struct store_txn *txn, enum store_tbl t,
    store_scan_fn fn, void *ctx)
{
	DBC *c = NULL;
	DBT k, v;
	int ret, rc = ST_OK;

	if (s->broken)
		return ST_RECOVER;
	if (!s->tables_open)
		return ST_ERROR;
	if ((ret = s->db[t]->cursor(s->db[t], raw(txn), &c, 0)) != 0)
		return store_classify(s, ret, tbl_files[t]);
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.flags = DB_DBT_REALLOC;
	v.flags = DB_DBT_REALLOC;
	while ((ret = c->get(c, &k, &v, DB_NEXT)) == 0) {
		if (fn(k.data, k.size, v.data, v.size, ctx) != 0)
			break;
	}
	if (ret != 0 && ret != DB_NOTFOUND)
		rc = store_classify(s, ret, tbl_files[t]);
	c->close(c);
	free(k.data);
	free(v.data);
	return rc;
}

int
store_scan_from(struct store *s, struct store_txn *txn, enum store_tbl t,
    const void *from, size_t flen, store_scan_fn fn, void *ctx)
{
	DBC *c = NULL;
	DBT k, v;
	int ret, rc = ST_OK;
	u_int32_t op = DB_SET_RANGE;

	if (s->broken)
		return ST_RECOVER;
	if (!s->tables_open || tbl_types[t] != DB_BTREE)
		return ST_ERROR;
	if ((ret = s->db[t]->cursor(s->db[t], raw(txn), &c, 0)) != 0)
		return store_classify(s, ret, tbl_files[t]);
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	/* DB_SET_RANGE writes the key it found into k: our own copy of from */
	if ((k.data = malloc(flen ? flen : 1)) == NULL) {
		c->close(c);
		return ST_ERROR;
	}
	memcpy(k.data, from, flen);
	k.size = (u_int32_t)flen;
	k.ulen = (u_int32_t)(flen ? flen : 1);
	k.flags = DB_DBT_REALLOC;
	v.flags = DB_DBT_REALLOC;
	while ((ret = c->get(c, &k, &v, op)) == 0) {
		op = DB_NEXT;
		if (fn(k.data, k.size, v.data, v.size, ctx) != 0)
			break;
	}
	if (ret != 0 && ret != DB_NOTFOUND)
		rc = store_classify(s, ret, tbl_files[t]);
	c->close(c);
	free(k.data);
	free(v.data);
	return rc;
}

int
store_scan_back(struct store *s, struct store_txn *txn, enum store_tbl t,
    const void *before, size_t blen, store_scan_fn fn, void *ctx)
{
	DBC *c = NULL;
	DBT k, v;
	int ret, rc = ST_OK;

	if (s->broken)
		return ST_RECOVER;
	if (!s->tables_open || tbl_types[t] != DB_BTREE)
		return ST_ERROR;
	if ((ret = s->db[t]->cursor(s->db[t], raw(txn), &c, 0)) != 0)
		return store_classify(s, ret, tbl_files[t]);
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.flags = DB_DBT_REALLOC;
	v.flags = DB_DBT_REALLOC;
	if (before != NULL) {
		/* the first key >= before, then the one before it; none: the last */
		if ((k.data = malloc(blen ? blen : 1)) == NULL) {
			c->close(c);
			return ST_ERROR;
		}
		memcpy(k.data, before, blen);
		k.size = (u_int32_t)blen;
		ret = c->get(c, &k, &v, DB_SET_RANGE);
		if (ret == 0)
			ret = c->get(c, &k, &v, DB_PREV);
		else if (ret == DB_NOTFOUND)
			ret = c->get(c, &k, &v, DB_LAST);
	} else {
		ret = c->get(c, &k, &v, DB_LAST);
	}
	while (ret == 0) {
		if (fn(k.data, k.size, v.data, v.size, ctx) != 0)
			break;
		ret = c->get(c, &k, &v, DB_PREV);
	}
	if (ret != 0 && ret != DB_NOTFOUND)
		rc = store_classify(s, ret, tbl_files[t]);
	c->close(c);
	free(k.data);
	free(v.data);
	return rc;
}

/* Byte order, a prefix first: Berkeley DB's default order for btree keys. */
static int
key_before(const DBT *k, const void *limit, size_t llen)
{
	size_t n = k->size < llen ? k->size : llen;
	int c = memcmp(k->data, limit, n);

	return c < 0 || (c == 0 && k->size < llen);
}

int
store_del_below(struct store *s, struct store_txn *outer, enum store_tbl t,
    const void *limit, size_t llen, uint64_t max, uint64_t *deleted)
{
	struct store_txn *txn = outer;
	DBC *c = NULL;
	DBT k, v;
	int ret, rc;

	*deleted = 0;
	if (tbl_types[t] != DB_BTREE)
		return ST_ERROR;
	if (outer == NULL && (rc = store_txn_begin(s, &txn)) != ST_OK)
		return rc;
	if ((ret = s->db[t]->cursor(s->db[t], txn->txn, &c, 0)) != 0) {
		if (outer == NULL)
			store_txn_abort(txn);
		return store_classify(s, ret, tbl_files[t]);
	}
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.flags = DB_DBT_REALLOC;
	v.flags = DB_DBT_REALLOC | DB_DBT_PARTIAL; /* keys are all we look at */
	while ((max == 0 || *deleted < max) && (ret = c->get(c, &k, &v, DB_NEXT | DB_RMW)) == 0 &&
	    key_before(&k, limit, llen)) {
		if ((ret = c->del(c, 0)) != 0)
			break;
		(*deleted)++;
	}
	free(k.data);
	free(v.data);
	c->close(c);
	if (ret != 0 && ret != DB_NOTFOUND) {
		if (outer == NULL)
			store_txn_abort(txn);
		*deleted = 0;
		return store_classify(s, ret, tbl_files[t]);
	}
	if (outer != NULL)
		return ST_OK;
	if ((rc = store_txn_commit(txn)) != ST_OK)
		*deleted = 0;
	return rc;
}

int
store_last(struct store *s, struct store_txn *txn, enum store_tbl t, void *key,
    size_t cap, size_t *klen, int rmw)
{
	DBC *c = NULL;
	DBT k, v;
	int ret;

	if (s->broken)
		return ST_RECOVER;
	if (!s->tables_open || tbl_types[t] != DB_BTREE)
		return ST_ERROR;
	if ((ret = s->db[t]->cursor(s->db[t], raw(txn), &c, 0)) != 0)
		return store_classify(s, ret, tbl_files[t]);
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.data = key;
	k.ulen = (u_int32_t)cap;
	k.flags = DB_DBT_USERMEM;
	v.flags = DB_DBT_USERMEM | DB_DBT_PARTIAL; /* the key is all we want */
	ret = c->get(c, &k, &v, DB_LAST | (rmw && txn ? DB_RMW : 0));
	c->close(c);
	if (ret == 0)
		*klen = k.size;
	return store_classify(s, ret, tbl_files[t]);
}

int
store_count(struct store *s, enum store_tbl t, uint64_t *n)
{
	void *st = NULL;
	int ret;

	if (!s->tables_open)
		return ST_ERROR;

	/*
	 * A full count: DB_FAST_STAT answers the count last saved in the
	 * table's metadata, which a btree or hash table does not keep up to
	 * date (measured: 0 after five audit records were written).
	 */
	if ((ret = s->db[t]->stat(s->db[t], NULL, &st, 0)) != 0)
		return store_classify(s, ret, tbl_files[t]);
	*n = tbl_types[t] == DB_BTREE ? ((DB_BTREE_STAT *)st)->bt_ndata :
	    ((DB_HASH_STAT *)st)->hash_ndata;
	free(st);
	return ST_OK;
}

/*
 * Who runs failchk.  On a replicated store, keygate-repd only: Berkeley DB
 * 5.3's failchk, finding keygate-repd dead, "closes" the files it had
 * opened to apply the master's log (DB_FNAME_RECOVER) through the
 * caller's own table of handles, indexed by the dead process's file ids
 * (__dbreg_failchk -> __dbreg_close_id_int -> __dbreg_close_file): an
 * authorizer that ran it died of SIGSEGV, once for every kill of its
 * keygate-repd (tests/repl/repdkill.sh), or could close a handle of its
 * own.  keygate-repd never meets its own dead predecessor's files: its
 * open after a death runs recovery, which makes the regions anew.  The
 * price: while keygate-repd is down, a dead worker's locks wait for its
 * return (or expire, below), and its open recovers them.
 */
static int
failchk_is_mine(const struct store *s)
{
	return !s->replicated || (s->flags & STORE_REPL_OWNER);
}

int
store_maintain(struct store *s)
{
	int ret;

	if (s->broken)
		return ST_RECOVER;
	if (store_region_changed(s->region)) {
		mark_broken(s);
		s->dead = 1;
		snprintf(s->errmsg, sizeof s->errmsg,
		    "the store's region files were removed or replaced");
		return ST_RECOVER;
	}
	if (failchk_is_mine(s) && (ret = s->env->failchk(s->env, 0)) != 0)
		return store_classify(s, ret, "failchk");
	if ((ret = s->env->lock_detect(s->env, 0, DB_LOCK_EXPIRE, NULL)) != 0)
		return store_classify(s, ret, "lock_detect");
	return ST_OK;
}

static int
checkpoint(struct store *s, unsigned kbytes)
{
	int ret;

	if (s->broken)
		return ST_RECOVER;
	/* a checkpoint logs: in a replicated store keygate-repd makes them */
	if (!store_writable(s))
		return ST_OK;
	ret = s->env->txn_checkpoint(s->env, kbytes, 0, 0);
	return store_classify(s, ret, "checkpoint");
}

int
store_checkpoint(struct store *s)
{
	return checkpoint(s, 0);
}

int
store_checkpoint_after(struct store *s, unsigned kbytes)
{
	/* 0 would checkpoint whatever was written: the caller means "some" */
	return checkpoint(s, kbytes > 0 ? kbytes : 1);
}

int
store_backup(struct store *s, const char *dir, char *err, size_t errlen)
{
	DB_ENV *benv = NULL;
	int ret;

	ret = s->env->backup(s->env, dir, DB_CREATE | DB_EXCL | DB_BACKUP_CLEAN);
	if (ret != 0) {
		snprintf(err, errlen, "backup to %s failed: %s", dir,
		    ret == EEXIST ? "the directory must be new or empty" : db_strerror(ret));
		return -1;
	}
	/* Run recovery in the copy, so that it opens as a store by itself. */
	if ((ret = db_env_create(&benv, 0)) != 0 ||
	    (ret = benv->open(benv, dir, DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK |
	    DB_INIT_LOG | DB_INIT_MPOOL | DB_RECOVER | DB_PRIVATE, 0660)) != 0) {
		snprintf(err, errlen, "recovery of the backup in %s failed: %s", dir,
		    db_strerror(ret));
		if (benv != NULL)
			benv->close(benv, 0);
		return -1;
	}
	benv->close(benv, 0);
	return 0;
}

/*
 * DB->verify reads files that may be damaged; Berkeley DB's verifier leaks
 * on them (seen under LeakSanitizer) and can crash on bad pages.  So it runs
 * in a child, which reports the first failing file through a pipe.
 */
static void
verify_child(const struct store *s, int fd)
{
	char path[PATHNAME_BUF], msg[512];
	int i, ret;

	for (i = 0; i < TBL_COUNT; i++) {
		DB *db;

		if ((ret = db_create(&db, NULL, 0)) != 0) {
			snprintf(msg, sizeof msg, "db_create: %s", db_strerror(ret));
			goto fail;
		}
		snprintf(path, sizeof path, "%s/%s", s->dir, tbl_files[i]);
		/* DB->verify frees the handle whatever it returns. */
		if ((ret = db->verify(db, path, NULL, NULL, DB_NOORDERCHK)) != 0) {
			snprintf(msg, sizeof msg, "%s fails verification: %s", tbl_files[i],
			    db_strerror(ret));
			goto fail;
		}
	}
	_exit(0);
fail:
	if (write(fd, msg, strlen(msg)) < 0)
		_exit(2);
	_exit(1);
}

int
store_verify(struct store *s, char *err, size_t errlen)
{
	int p[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe(p) != 0 || (pid = fork()) < 0) {
		snprintf(err, errlen, "cannot start the verifier: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		verify_child(s, p[1]);
	}
	close(p[1]);
	n = read(p[0], err, errlen - 1);
	close(p[0]);
	err[n > 0 ? n : 0] = '\0';
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (err[0] == '\0')
		snprintf(err, errlen, "the verifier died (%s %d) on a damaged file",
		    WIFSIGNALED(status) ? "signal" : "status",
		    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	return -1;
}
