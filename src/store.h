/*
 * store.h - the Berkeley DB environment: a transactional, recoverable
 * environment in one directory, shared by every authorizer process and the
 * admin CLI.  This is the only module that includes <db.h>.
 *
 * Crash safety (doc/DESIGN.md, section 3): every process registers
 * (DB_REGISTER) and opens with DB_RECOVER, so a process killed at any
 * moment is noticed by the next one to open, which runs recovery;
 * long-lived processes call store_maintain() every second, which runs
 * failchk (aborting a dead process's transaction and releasing its locks)
 * and expires lock waits.
 * A call that reports ST_RECOVER means the environment must be reopened
 * (store_reopen); until then every request is denied.
 */
#ifndef KEYGATE_STORE_H
#define KEYGATE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "pathname.h"

enum store_tbl {
	TBL_META,   /* "store" -> meta record (format, prefix, pepper...) */
	TBL_KEYS,   /* digest (32 bytes) -> key record */
	TBL_KEYIDS, /* public key id -> digest */
	TBL_ORGS,   /* org id -> org record */
	TBL_PLANS,  /* plan name -> plan record */
	TBL_LEDGER, /* org id + counter file instance -> what that file counted (ledger.h) */
	TBL_HISTORY,/* 'o'|'k' + id + day -> requests allowed and denied that day (btree) */
	TBL_AUDIT,  /* time (ns) + sequence, 8 bytes big-endian each -> audit record (btree) */
	TBL_ORGKEYS,/* org id \0 key id -> key id record (the digest): keys by org (btree) */
	TBL_SECRETS,/* key id -> its secret sealed under the vault (vault.h), stores with one */
	TBL_COUNT
};

enum store_rc {
	ST_OK = 0,
	ST_NOTFOUND,
	ST_EXISTS,
	ST_SMALL,    /* the caller's buffer is too small for the record */
	ST_DEADLOCK, /* lock conflict or timeout: retry the transaction */
	ST_ERROR,    /* I/O, permissions, corruption: see store_errmsg() */
	ST_RECOVER,  /* the environment needs recovery: reopen it */
	ST_REPLICA   /* a replicated store: only keygate-repd writes (forward the write) */
};

#define STORE_CREATE 0x1 /* keygate init: create the environment and databases */
#define STORE_SERVER 0x2 /* a long-lived authorizer with a maintenance thread */
/*
 * keygate-repd: the one process that writes a replicated store.  Its
 * store_open opens the environment alone; store_open_tables follows once
 * the replication manager runs (repl.h).
 */
#define STORE_REPL_OWNER 0x4

/*
 * A replicated store (keygate-repd(8)) has this file in its directory:
 * every process then opens the environment for replication, and every
 * one but keygate-repd opens the tables read-only.
 */
#define STORE_REPL_MARKER "replicated"

/* A commit token (Berkeley DB's): which transaction a replica must hold. */
#define STORE_TOKEN_LEN 20

/* Cache size written to DB_CONFIG by init when none is given. */
#define STORE_DEFAULT_CACHE (64u << 20)

struct store;
struct store_txn;

/* Opens (or with STORE_CREATE creates) the store in dir. */
struct store *store_open(const char *dir, unsigned flags, char *err,
    size_t errlen);
void store_close(struct store *s);
int store_reopen(struct store *s);
int store_broken(const struct store *s);
/* Broken because the environment is dead (DB_RUNRECOVERY), not a handle replaced. */
int store_dead(const struct store *s);
const char *store_dir(const struct store *s);
const char *store_errmsg(const struct store *s);
/* How many opens and reopens of s ran recovery (a process had died in the environment). */
unsigned store_recoveries(const struct store *s);

/* The tables of a store opened with STORE_REPL_OWNER (ST_NOTFOUND: not there yet). */
int store_open_tables(struct store *s, char *err, size_t errlen);
/* Whether the store is replicated (STORE_REPL_MARKER). */
int store_replicated(const struct store *s);
/*
 * Whether this process may write: a store that is not replicated, or
 * keygate-repd's.  Elsewhere store_txn_begin answers ST_REPLICA, and
 * writers send their change to keygate-repd instead (catfwd.h,
 * ledger.h, tally.h).
 */
int store_writable(const struct store *s);

int store_txn_begin(struct store *s, struct store_txn **txn);
int store_txn_commit(struct store_txn *txn);
void store_txn_abort(struct store_txn *txn);
/*
 * The commit token of the last transaction this thread committed in a
 * replicated store since store_token_reset(): 1 and out filled, or 0.
 */
void store_token_reset(void);
int store_token_last(unsigned char out[STORE_TOKEN_LEN]);

/*
 * Reads a record into buf (cap bytes).  txn may be NULL: a single locked
 * read, which is all the authorizer ever does.  rmw takes a write lock in
 * a transaction, for read-modify-write.
 */
int store_get(struct store *s, struct store_txn *txn, enum store_tbl t,
    const void *key, size_t klen, void *buf, size_t cap, size_t *len, int rmw);
int store_exists(struct store *s, struct store_txn *txn, enum store_tbl t,
    const void *key, size_t klen);
/* Writes a record; with nooverwrite an existing key gives ST_EXISTS. */
int store_put(struct store *s, struct store_txn *txn, enum store_tbl t,
    const void *key, size_t klen, const void *val, size_t vlen, int nooverwrite);
int store_del(struct store *s, struct store_txn *txn, enum store_tbl t,
    const void *key, size_t klen);

/* Calls fn for every record of t; a non-zero return from fn stops the scan. */
typedef int (*store_scan_fn)(const void *key, size_t klen, const void *val,
    size_t vlen, void *ctx);
int store_scan(struct store *s, struct store_txn *txn, enum store_tbl t,
    store_scan_fn fn, void *ctx);
/*
 * The same, in key order from the first key >= from, on a sorted table
 * (TBL_HISTORY); fn stops it when it has passed the range it wants.
 */
int store_scan_from(struct store *s, struct store_txn *txn, enum store_tbl t,
    const void *from, size_t flen, store_scan_fn fn, void *ctx);
/*
 * Backwards on a sorted table: every record whose key sorts before
 * `before` (every record when before is NULL), the greatest key first.
 */
int store_scan_back(struct store *s, struct store_txn *txn, enum store_tbl t,
    const void *before, size_t blen, store_scan_fn fn, void *ctx);

/*
 * The greatest key of a sorted table (into key, cap bytes; *klen): with
 * rmw in a transaction, write-locked, so that writers appending after it
 * take turns.  ST_NOTFOUND when the table is empty.
 */
int store_last(struct store *s, struct store_txn *txn, enum store_tbl t, void *key,
    size_t cap, size_t *klen, int rmw);

/*
 * Deletes the first records of a sorted table whose keys sort before
 * limit, at most max of them (0: no maximum), in txn, or in a transaction
 * of its own when txn is NULL.
 */
int store_del_below(struct store *s, struct store_txn *txn, enum store_tbl t,
    const void *limit, size_t llen, uint64_t max, uint64_t *deleted);

/*
 * The primary region file of a store's environment, and the one its
 * handle mapped: whether the environment was replaced under the handle
 * (its region files removed, or made anew by another process's recovery).
 * A thread blocked inside the old one then waits on a mutex nobody will
 * ever release.  store_region_share makes the handle keep r up to date
 * (through reopens; ino 0 while none is mapped), so that a watchdog can
 * ask store_region_changed(r) from its own thread, never entering
 * Berkeley DB (a stat) nor touching the handle, whatever its owner is
 * doing with it.
 */
struct store_region {
	char path[PATHNAME_BUF];
	uint64_t dev, ino; /* atomic */
};
void store_region_share(struct store *s, struct store_region *r);
int store_region_changed(const struct store_region *r);
/* failchk + expired lock waits; ST_RECOVER when the env must be reopened. */
int store_maintain(struct store *s);
/* A checkpoint, so that logs can be removed and recovery stays short. */
int store_checkpoint(struct store *s);
/* A checkpoint only if at least kbytes of log were written since the last one. */
int store_checkpoint_after(struct store *s, unsigned kbytes);

/* Hot backup of databases and logs into dir, made usable by recovery. */
int store_backup(struct store *s, const char *dir, char *err, size_t errlen);
/* Verifies every database file's structure. */
int store_verify(struct store *s, char *err, size_t errlen);
/* Number of records in t (for db check). */
int store_count(struct store *s, enum store_tbl t, uint64_t *n);

const char *store_tbl_name(enum store_tbl t);

/* Writes DIR/DB_CONFIG (cache size, log size) for a new store. */
int store_write_config(const char *dir, uint64_t cache_bytes, char *err,
    size_t errlen);

#endif
