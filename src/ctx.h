/*
 * ctx.h - an opened keygate store: the Berkeley DB environment, the shared
 * counters, the key index, the settings from its meta record and the digester (with the
 * pepper when the store has one).  Both programs open exactly one.
 */
#ifndef KEYGATE_CTX_H
#define KEYGATE_CTX_H

#include <pthread.h>
#include <stddef.h>
#include <time.h>

#include "apikey.h"
#include "counters.h"
#include "keyindex.h"
#include "record.h"
#include "store.h"

#define PEPPER_MIN 16
#define PEPPER_MAX 4096

struct vault;

struct kg {
	struct store *store;
	struct counters *counters;
	struct keyindex *index;  /* NULL: none usable (yet); lookups read the store */
	struct digester *digester;
	char prefix[APIKEY_PREFIX_MAX + 1];
	uint32_t meta_flags;
	struct vault *vault;     /* loaded by kg_vault() when first needed */
	char pepper_path[PATHNAME_MAX + 1];
	unsigned counters_rebuilt; /* counter files this handle made anew (for the metrics) */
};

int kg_open(struct kg *kg, const char *dir, unsigned store_flags, char *err,
    size_t errlen);
/*
 * The same on a store already open (keygate-repd opens its tables late):
 * kg takes s when it succeeds; on failure s stays the caller's, open.
 */
int kg_attach(struct kg *kg, struct store *s, char *err, size_t errlen);
void kg_close(struct kg *kg);
/*
 * Maps the counter file again when it was replaced, deleted or truncated
 * since it was opened (made anew from the ledger if need be), and drops
 * the key index mapped through it.  0: unchanged, 1: swapped (caches that
 * depend on the generation must be dropped), -1: no counter file could
 * be opened (kg->counters is NULL: decisions must answer 503).
 * Not while another thread uses kg's counters or index.
 */
int kg_counters_check(struct kg *kg);
/*
 * Maps the key index again (it was rebuilt, or there was none); kg->index
 * NULL when none is usable yet.  Not while another thread reads kg's index.
 */
void kg_index_reopen(struct kg *kg);

/* "standalone", "master" or "replica": this host's copy of the store (GET /v1/health). */
const char *kg_role_name(struct kg *kg);
/* Whether this host's copy is a replica initialising or far behind (keygate-repd says so). */
int kg_replica_behind(struct kg *kg);
/*
 * The store's vault (vault.h), loaded and checked against the store's
 * record of it the first time it is needed: NULL with err set when the
 * store has none (*none = 1) or its file cannot be read or is not the one
 * the store was made with.  Only what seals or reveals a key needs it: an
 * authorizer never loads it.
 */
struct vault *kg_vault(struct kg *kg, int *none, char *err, size_t errlen);
/* Whether the store was made with a vault (the secrets of its keys are kept). */
int kg_has_vault(struct kg *kg);

/* Reads the meta record (buf must outlive m). */
int kg_read_meta(struct kg *kg, struct store_txn *txn, unsigned char *buf,
    size_t cap, struct meta_rec *m, int rmw);
/*
 * Reads a pepper file: opened without following links, refused when it is
 * not a regular file, when group or others may write it, or when others
 * may read it.  One trailing newline is not part of the pepper.
 */
int kg_read_pepper(const char *path, unsigned char *buf, size_t cap,
    size_t *len, char *err, size_t errlen);
/* HMAC(pepper, fixed text): stored at init to recognise the right pepper. */
int kg_pepper_check(const unsigned char *pepper, size_t len,
    unsigned char out[DIGEST_LEN]);

/* Now, in seconds and nanoseconds since the epoch. */
int64_t kg_now(void);
uint64_t kg_now_ns(void);
/*
 * Nanoseconds on CLOCK_MONOTONIC, for durations and deadlines: a step of
 * the wall clock (NTP, an operator) does not move it.  Never 0.
 */
uint64_t kg_mono_ns(void);
/* A kg_mono_ns() instant as the timespec that clock_nanosleep and timed waits take. */
void kg_mono_timespec(uint64_t at_ns, struct timespec *ts);
/* A condition variable whose timed waits are on CLOCK_MONOTONIC: 0, or -1. */
int kg_mono_cond_init(pthread_cond_t *cv);

#endif
