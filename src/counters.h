/*
 * counters.h - the hot counters every authorizer process on a host shares:
 * rate-limit state and last use per key, quota and credit consumption per
 * organization.  They live in a file in the store directory, mapped
 * MAP_SHARED, and change only by atomic compare-and-swap: ~10 ns against
 * ~80 us for a contended Berkeley DB transaction, no lock that a killed
 * process could leave held.
 *
 * The file is derived state.  Rate-limit state may be lost with it; what
 * organizations consumed may not: ledger.c flushes it to Berkeley DB every
 * second and builds a new file from there whenever this one is missing,
 * damaged or older than the ledger.  Each file has a random instance id
 * under which the ledger keeps what it counted, so that a new file starts
 * from zero on top of what every earlier file (or host) flushed (the
 * organization slot's "base"), and nothing is counted twice.
 */
#ifndef KEYGATE_COUNTERS_H
#define KEYGATE_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#include "apikey.h"
#include "pathname.h"
#include "policy.h"
#include "record.h"

#define COUNTERS_FILE "counters"
#define COUNTERS_LOCK "counters.lock"         /* serialises rebuilds; names the current file */
#define COUNTERS_DEFAULT_SLOTS (1u << 20)     /* 32 MiB: half a million live keys */
#define COUNTERS_MIN_SLOTS 64
#define COUNTERS_MAX_SLOTS (1u << 28)
/* one organization slot per this many key slots, but at least ORG_SLOTS_MIN */
#define COUNTERS_KEYS_PER_ORG 8
#define COUNTERS_ORG_SLOTS_MIN 64

struct counters;
struct counter_slot;
struct org_slot;

/* A file made to replace another (deleted, damaged, older than the ledger). */
#define COUNTERS_REBUILT 0x1

/*
 * Creates the file at path (a temporary name: ledger.c renames it into
 * place once seeded) with nslots key slots, 0660, fully allocated.
 */
int counters_create_at(const char *path, uint32_t nslots, uint64_t instance,
    uint32_t flags, char *err, size_t errlen);
/* The same at dir/counters, with a random instance id (init, tests). */
int counters_create(const char *dir, uint32_t nslots, char *err, size_t errlen);
/* Opens dir/counters, or a file at path with counters_open_path. */
struct counters *counters_open(const char *dir, char *err, size_t errlen);
struct counters *counters_open_path(const char *path, char *err, size_t errlen);
void counters_close(struct counters *c);
uint32_t counters_nslots(const struct counters *c);
uint32_t counters_norg_slots(const struct counters *c);
uint64_t counters_instance(const struct counters *c);
int64_t counters_created_at(const struct counters *c);
uint32_t counters_flags(const struct counters *c);
/*
 * Whether the mapping still works: 0 after the file was truncated under
 * us (the SIGBUS that caused is caught, see mapguard.h); every counter
 * read in the meantime may have been zeros, so a decision that used them
 * must not stand.
 */
int counters_intact(const struct counters *c);
/*
 * Whether dir/counters is still the file this mapping came from, and the
 * host's current one (counters_current); a stat of each file, so once a
 * second, not per request.
 */
int counters_replaced(const struct counters *c, const char *dir);

/*
 * Which file is the host's current one.  Whoever makes a new file does so
 * under counters.lock's flock, and before renaming it into place writes
 * its instance into counters.lock's first page, which every process maps
 * (counters_watch).  A request compares that word with its own file's
 * instance (one load, counters_current) and goes no further on a file
 * another process has replaced: without it, a worker still on a deleted
 * file and one already on its replacement each spent the same prepaid
 * credits, for up to the second it took the first to notice.
 *
 * counters_watch maps dir/counters.lock (made, one page, if missing);
 * until it is called a file counts as current.  counters_make_current
 * names c the current file: the caller holds counters.lock's flock.
 */
int counters_watch(struct counters *c, const char *dir, char *err, size_t errlen);
int counters_current(const struct counters *c);
void counters_make_current(struct counters *c);
/*
 * Whether a process may go on deciding on c: mapped (c not NULL), intact
 * and the host's current file.  Otherwise it maps the file again first
 * (kg_counters_check).  Loads only: checked before every request.
 */
int counters_usable(const struct counters *c);

/*
 * The generation of organizations and plans on this host: the CLI bumps it
 * after committing any change to one, so that authorizers can cache them
 * and still see a change on the very next request.
 */
uint64_t counters_generation(const struct counters *c);
void counters_bump_generation(struct counters *c);
uint32_t counters_used(const struct counters *c);

/*
 * The key index's anchor (keyindex.h): its sequence number, odd while a
 * writer is at work, and the id of the index file that is current.  It
 * lives here, next to the generation, because a request reads both.
 */
struct keyindex_anchor {
	uint64_t seq;
	uint64_t id;
};
struct keyindex_anchor *counters_index_anchor(struct counters *c);

/* The ledger's bookkeeping of this file's flushes (ledger.c only). */
struct counters_flush_state {
	uint64_t seq;       /* the ledger's flush sequence after our last flush */
	uint64_t pending;   /* the sequence a flush in progress will commit */
	int64_t pruned_day; /* the day history was last pruned to its 400 days */
	uint64_t busy;      /* a flush took dirty marks and has not finished */
	uint64_t reported;  /* kg_mono_ns() of the last flush that was complete (ledger_reports_stale) */
	uint64_t unseen_at; /* kg_mono_ns() of a forwarded flush not yet in this copy, or 0 */
	unsigned char unseen_token[24]; /* its commit on the master (STORE_TOKEN_LEN bytes) */
};
struct counters_flush_state *counters_flush_state(struct counters *c);

/*
 * What the host's keygate-repd says of its copy of a replicated store
 * (keygate-repd(8)), where every decision reads it: a copy that is being
 * initialised from the master, or that knows itself far behind, answers
 * 503 rather than decide from half-applied or stale state.  A word that
 * keygate-repd stopped refreshing (it died) counts for nothing after
 * COUNTERS_REPL_FRESH_S: the host then decides as a partitioned one does.
 * Except STOPPED, which keygate-repd leaves when it stops because the
 * copy cannot be trusted (damaged, or its environment died): that holds
 * until a keygate-repd runs again and says otherwise.
 */
struct counters_repl {
	uint32_t state;   /* COUNTERS_REPL_* */
	uint32_t role;    /* COUNTERS_ROLE_* */
	uint64_t lag_ns;  /* how far this copy is behind the master */
	int64_t at;       /* when keygate-repd last wrote it (s) */
	uint32_t failed_starts; /* keygate-repds in a row whose environment died before they caught up */
	uint32_t spare;
};
#define COUNTERS_REPL_NONE 0   /* nothing said (standalone, or no keygate-repd yet) */
#define COUNTERS_REPL_READY 1
#define COUNTERS_REPL_BEHIND 2
#define COUNTERS_REPL_STOPPED 3
#define COUNTERS_ROLE_MASTER 1
#define COUNTERS_ROLE_REPLICA 2
#define COUNTERS_REPL_FRESH_S 10
struct counters_repl *counters_repl(struct counters *c);
/* Whether decisions must answer 503 now: behind and said lately, or stopped. */
int counters_repl_unavailable(struct counters *c, int64_t now_s);

uint64_t counters_key_tag(const unsigned char digest[DIGEST_LEN]);
uint64_t counters_org_tag(const char *org);

/* ---- keys: rate limits and last use ---- */

/* The slot of tag; with create, claims a free one.  NULL: not found / full. */
struct counter_slot *counters_find(struct counters *c, uint64_t tag, int create);

/* Which of a key's two limits: its plan's, or the key's own narrower one. */
enum rate_which { RATE_PLAN, RATE_KEY };

void counters_rate(struct counter_slot *s, enum rate_which w,
    const struct rate_spec *r, uint64_t now_ns, int consume,
    struct rate_result *res);
/* Gives back one token counters_rate took (a later limit refused). */
void counters_rate_refund(struct counter_slot *s, enum rate_which w,
    const struct rate_spec *r, uint64_t now_ns);
/* Records a use; writes only when the stored time is 30 s old or more. */
void counters_touch(struct counter_slot *s, int64_t now_s);
int64_t counters_last_used(struct counter_slot *s);

/* ---- organizations: quotas and credits ---- */

/*
 * What an organization consumes, counted three ways at once: per UTC day,
 * per calendar month, and in prepaid credits (a count that never resets:
 * a plan change can neither give credits back nor reset a period).
 */
enum org_counter { OC_DAY, OC_MONTH, OC_CREDITS, OC_COUNT };

/* The slot of org id; with create, claims one (and records the id). */
struct org_slot *counters_org(struct counters *c, const char *id, int create);
/*
 * One quota step on counter which: the verdict on base + this file's
 * count against quota (plus overage_pct); with consume and allowed, counts
 * one unit here.
 */
void counters_quota(struct counters *c, struct org_slot *s, enum org_counter which,
    uint64_t quota, uint32_t overage_pct, int64_t now_s, int consume,
    struct quota_result *res);
/* Counts one unit without a limit (the counters a plan does not enforce). */
void counters_count(struct counters *c, struct org_slot *s, enum org_counter which,
    int64_t now_s);
/*
 * For the ledger's flush: the first org slot at or after from that was
 * counted in since it was last returned (its mark is cleared), or -1.
 */
int64_t counters_org_next_dirty(struct counters *c, uint32_t from);
/* Marks slot s as counted in (a flush that failed gives its marks back). */
void counters_org_mark_dirty(struct counters *c, struct org_slot *s);
/* Units used in the period with this id: base + this file's count. */
uint64_t counters_org_used(struct org_slot *s, enum org_counter which,
    uint32_t period_id);

/* For ledger.c: the words it flushes and the base it maintains. */
uint64_t counters_org_word(struct org_slot *s, enum org_counter which);
uint64_t counters_org_base(struct org_slot *s, enum org_counter which);
void counters_org_set_base(struct org_slot *s, enum org_counter which, uint64_t word);
uint64_t counters_org_flushed(struct org_slot *s, enum org_counter which);
void counters_org_set_flushed(struct org_slot *s, enum org_counter which, uint64_t word);
/*
 * Whether the ledger holds a record of the org that could not be read: its
 * consumption is unknown, so its quota cannot be decided (a 503).
 */
void counters_org_set_damaged(struct org_slot *s, int damaged);
int counters_org_damaged(struct org_slot *s);
/*
 * The org of slot i (0 <= i < counters_norg_slots()): its id into id and
 * its slot into *s, or -1 for a free slot (or one still being claimed).
 */
int counters_org_at(struct counters *c, uint32_t i, char id[ID_MAX + 1],
    struct org_slot **s);

/* The period id of counter which at now. */
uint32_t counters_period(enum org_counter which, int64_t now_s);

#endif
