/*
 * catalog.h - the one writer of the store's business records: plans,
 * organizations, keys and their ids, the audit trail, and the meta
 * record's generation.  The CLI and keygate-api call it and map its
 * results to exit codes or HTTP statuses; neither writes those records
 * itself, so that neither can skip a rule or an invariant:
 *
 * - each business operation is one transaction, retried on a deadlock,
 *   holding its rules (max-keys, rotation, credits that never go below
 *   zero...), and writing one audit record in that very transaction: a
 *   failed operation changes nothing and audits nothing;
 * - the key index stays a mirror of the store: a session takes
 *   keyindex.lock before its first transaction and makes the index's
 *   sequence odd before its first commit; cat_close mirrors every key and
 *   organization the session wrote, as committed (or rebuilds the index
 *   when it wrote too many organizations).  A long import is one session
 *   of many transactions; an API request one short session;
 * - a committed change to an organization or a plan bumps meta.generation
 *   in its transaction and, once committed, the counter file's generation,
 *   so that every authorizer's cache sees it on its next request; after a
 *   counter file was made anew, writes wait until every process maps it.
 *
 * Results are enum cat_rc; cat_error() tells what went wrong in one line
 * that never shows more of a key than its display prefix and, for
 * invalid input, names the field (as keygate-api's JSON calls it; the
 * CLI's options have the same names).
 */
#ifndef KEYGATE_CATALOG_H
#define KEYGATE_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "ctx.h"
#include "record.h"
#include "rules.h"

enum cat_rc {
	CAT_OK = 0,
	CAT_INVALID,   /* input refused; the error names the field */
	CAT_NOTFOUND,
	CAT_CONFLICT,  /* exists already, still in use, or a rule of the operation refuses */
	CAT_LIMIT,     /* the plan's maximum of active keys */
	CAT_FORBIDDEN, /* the actor would grant a scope it does not hold */
	CAT_BUSY,      /* lock conflicts outlasted every retry: nothing was changed */
	CAT_STORE      /* the store failed, or holds a damaged record */
};

#define CAT_MSG_MAX 600

struct cat_error {
	enum cat_rc rc;
	const char *field; /* the input field refused (CAT_INVALID, CAT_FORBIDDEN), or NULL */
	char msg[CAT_MSG_MAX];
};

/* Who acts: recorded in every audit record the session writes. */
struct cat_actor {
	const char *name;   /* "cli:<unix user>" or "key:<key id>" */
	const char *remote; /* the caller's address; NULL for the CLI */
	uint32_t scopes;    /* scopes it may grant (SCOPE_*): SCOPES_ALL for the CLI */
	const char *org;    /* NULL: every organization; else the only one whose keys it sees */
};

struct catalog;

/*
 * A session on an opened store (kg must outlive it).  The actor is copied.
 * A process holds one session that writes at a time: keyindex.lock is a
 * flock, which a second session of the same process would wait for.
 * progress (may be NULL) is called whenever a long operation moves on (the
 * CLI re-arms its watchdog there).  NULL when out of memory.
 */
struct catalog *cat_open(struct kg *kg, const struct cat_actor *actor,
    void (*progress)(void));
/*
 * Ends the session: mirrors what it changed into the key index, releases
 * keyindex.lock and frees cat.  0, or -1 with err set when the index could
 * not be brought up to date (the changes are committed; authorizers read
 * the store until the index is rebuilt).
 */
int cat_close(struct catalog *cat, char *err, size_t errlen);
/* The last failure's result, field and message. */
const struct cat_error *cat_error(const struct catalog *cat);

/*
 * For catfwd.c, which runs the writes of a replicated store on its
 * master: the result the master gave (its field copied), the session's
 * actor (pointers into cat), and the store's directory.
 */
#define CAT_FIELD_MAX 31
int cat_forwarded_result(struct catalog *cat, enum cat_rc rc, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void cat_actor_of(const struct catalog *cat, struct cat_actor *out);
const char *cat_store_dir(const struct catalog *cat);

/*
 * Whether s is a key: a valid key of this store's format, or one the store
 * holds (imported keys are any printable 8-256 bytes).  A store error
 * counts as a key: better hidden than shown.
 */
int cat_is_key(struct catalog *cat, const char *s);
/*
 * What a message may show of an argument given in place of an id: the
 * argument when it is a well-formed id (record_id_valid) and no key, else
 * only its display prefix, in buf (DISPLAY_MAX).
 */
const char *cat_shown(struct catalog *cat, const char *arg, char *buf, size_t n);

/* ---- scopes ---- */

/* The bit of a scope's name ("keys:read"), or 0 when there is none. */
uint32_t cat_scope_bit(const char *name);
/* The name of one bit, or NULL. */
const char *cat_scope_name(uint32_t bit);
/* Every bit of SCOPES_ALL, in order, for listings: i from 0 while non-zero. */
uint32_t cat_scope_at(size_t i);
/*
 * Whether scopes held allow what need asks: admin allows everything,
 * keys:write allows keys:read too.
 */
int cat_scopes_allow(uint32_t held, uint32_t need);
/* A key's scopes (SCOPE_*), for keygate-api's checks. */
uint32_t cat_key_scopes(const struct key_rec *k);

/* ---- plans ---- */

#define CAT_MAX_KEYS_MAX 1000000000u /* a plan's max-keys: 0 (no limit) to this */
#define CAT_OVERAGE_MAX  1000u       /* percent */

/* What plan set changes: only the fields marked set (rules already parsed). */
struct cat_plan_spec {
	const char *name;
	int set_rate, set_quota, set_max_keys, set_overage, set_rules;
	struct rate_spec rate;
	struct quota_spec quota;
	uint32_t max_keys;     /* 0: no limit */
	uint32_t overage_pct;
	const struct rule_view *rules; /* set_rules: these replace the plan's (none: cleared) */
	size_t nrules;
};
/* Creates or updates; *created (may be NULL) says which. */
int cat_plan_set(struct catalog *cat, const struct cat_plan_spec *spec, int *created);
/* Refused (CAT_CONFLICT) while an organization is on it. */
int cat_plan_delete(struct catalog *cat, const char *name);

struct cat_plan {
	struct plan_rec p;
	unsigned char buf[RECORD_MAX];
};
int cat_get_plan(struct catalog *cat, const char *name, struct cat_plan *out);
/*
 * Every plan in name order; p is NULL for a record that cannot be decoded
 * (the caller says so, db check names it).  A non-zero return stops it.
 */
typedef int (*cat_plan_fn)(const struct plan_rec *p, void *ctx);
int cat_list_plans(struct catalog *cat, cat_plan_fn fn, void *ctx);

/* ---- organizations ---- */

int cat_org_create(struct catalog *cat, const char *id, const char *plan,
    const char *name);

#define CAT_KEEP (-1)
struct cat_org_change {
	const char *plan;  /* NULL: unchanged */
	const char *name;  /* NULL: unchanged */
	int suspended;     /* 1 suspend, 0 resume, CAT_KEEP */
};
int cat_org_change_empty(const struct cat_org_change *ch);
int cat_org_set(struct catalog *cat, const char *id, const struct cat_org_change *ch);

/*
 * Grants (amount > 0) or takes back (amount < 0) prepaid credits.  The
 * balance (the plan's prepaid count + every credit granted - the credits
 * used, as the counters know them) never goes below zero by a take-back:
 * refused with CAT_CONFLICT; nor can more be taken back than was granted.
 * *granted and *balance (may be NULL): after the change.
 */
int cat_org_credit(struct catalog *cat, const char *id, int64_t amount,
    uint64_t *granted, int64_t *balance);

struct cat_org {
	char id[ID_MAX + 1];
	struct org_rec o;
	unsigned char buf[RECORD_MAX];
};
int cat_get_org(struct catalog *cat, const char *id, struct cat_org *out);
/* Every organization in id order; o is NULL for a damaged record, as above. */
typedef int (*cat_org_fn)(const char *id, const struct org_rec *o, void *ctx);
int cat_list_orgs(struct catalog *cat, cat_org_fn fn, void *ctx);
/*
 * Units org used in the current period of a quota of kind (QUOTA_NONE: by
 * calendar month), as the counters decide it (the ledger's base and this
 * host's count).  *period_id (may be NULL): that period.
 */
uint64_t cat_org_used(struct catalog *cat, const char *org, enum quota_period kind,
    int64_t now, uint32_t *period_id);
/* The prepaid balance of an organization on plan p (see cat_org_credit). */
int64_t cat_org_balance(struct catalog *cat, const char *id, const struct org_rec *o,
    const struct plan_rec *p);

/* ---- keys ---- */

/* A rotation's grace period: at most 30 days (keygate(1), key rotate) */
#define CAT_GRACE_MAX     ((int64_t)30 * 86400)
#define CAT_GRACE_DEFAULT ((int64_t)24 * 3600)

struct cat_key_spec {
	const char *org;
	const char *name;   /* NULL: none */
	const char *user;   /* NULL: none */
	int test;
	int set_expires;    /* expires_at is explicit (else the key never expires) */
	int64_t expires_at; /* any instant; one in the past only with force */
	int force;
	struct rate_spec rate; /* count 0: the plan's */
	const struct rule_view *rules;
	size_t nrules;
	uint32_t scopes;
};

/* A new key: the secret, shown once.  Wipe it (cat_new_key_wipe) after use. */
struct cat_new_key {
	char key[APIKEY_BUF];
	char id[KEYID_LEN + 1];
	int64_t expires_at;      /* as stored: 0 never */
	/* rotation */
	char replaces[KEYID_LEN + 1];
	int64_t old_expires_at;  /* when the replaced key stops working */
	int old_revoked;         /* it was revoked at once (no grace) */
};
void cat_new_key_wipe(struct cat_new_key *nk);

/* CAT_LIMIT at the plan's max-keys. */
int cat_key_create(struct catalog *cat, const struct cat_key_spec *spec,
    struct cat_new_key *out);
/* Idempotent: *already (may be NULL) says it was revoked before. */
int cat_key_revoke(struct catalog *cat, const char *id, int *already);

struct cat_rotate_spec {
	const char *id;
	int64_t grace;      /* 0: the old key is revoked at once; at most CAT_GRACE_MAX */
	int set_expires;    /* else the successor keeps the old key's expiry */
	int64_t expires_at;
	int force;
};
/*
 * The successor inherits the old key's name, user, mode, scopes, rate
 * limit, rules and expiry (a rotation never extends a key's life).  An
 * expired or revoked key, or one already rotated, is refused
 * (CAT_CONFLICT); a grace period needs room under max-keys for both keys
 * (CAT_LIMIT).
 */
int cat_key_rotate(struct catalog *cat, const struct cat_rotate_spec *spec,
    struct cat_new_key *out);

/*
 * The secret of a key, from a store made with a vault (vault.h), into out
 * (cap >= APIKEY_BUF), NUL-terminated; audited as key.reveal.  CAT_NOTFOUND
 * when the store has no vault, the key is revoked, or its secret was never
 * kept (imported keys, keys made before); the caller wipes out.
 */
int cat_key_reveal(struct catalog *cat, const char *id, char *out, size_t cap);

struct cat_key {
	struct key_rec k;
	int64_t last_used_at; /* the live value: the counters' or the record's */
	unsigned char buf[RECORD_MAX];
};
/* By public id.  An actor bound to an organization finds no other's keys. */
int cat_get_key(struct catalog *cat, const char *id, struct cat_key *out);

/* Which keys a listing shows. */
#define CAT_LIST_ACTIVE  0x1
#define CAT_LIST_EXPIRED 0x2
#define CAT_LIST_REVOKED 0x4
#define CAT_LIST_ALL     0x7
/* "org:key_...": where a listing goes on */
#define CAT_CURSOR_MAX (ID_MAX + 1 + KEYID_LEN + 1)
#define CAT_LIST_LIMIT_MAX 1000 /* what keygate-api allows a page */

/*
 * k is NULL for a record that cannot be decoded (the caller says so); a
 * non-zero return stops the listing.
 */
typedef int (*cat_key_fn)(const struct cat_key *k, void *ctx);
/*
 * Keys of org (NULL: of every organization) in the order of (org, id),
 * those whose state is in `states`, after cursor (NULL or "": from the
 * first), at most limit of them (0: all).  next (CAT_CURSOR_MAX, may be
 * NULL) gets the cursor of the next page, "" when there is none.  The
 * order never changes as keys are made: a page never repeats or skips a
 * key that existed when the listing began.
 */
int cat_list_keys(struct catalog *cat, const char *org, unsigned states,
    const char *cursor, size_t limit, cat_key_fn fn, void *ctx, char *next);

/* ---- imports ---- */

#define CAT_IMPORT_BATCH 10000 /* keys per transaction */

struct cat_import_item {
	unsigned char digest[DIGEST_LEN];
	char display[DISPLAY_MAX];
	unsigned long line;
	uint8_t test;
	uint8_t dup;   /* a later copy of another item: skipped */
};

struct cat_import {
	const char *org;
	const char *name;   /* NULL: none */
	int sha256;         /* the digests are plain SHA-256 (--sha256) */
	struct cat_import_item *items;
	size_t n;
	/* results, added as batches commit */
	size_t added, present;
};

/*
 * Whether the organization exists and its plan leaves room for every new
 * key of the import (before the first batch, so that a refused import
 * changes nothing).
 */
int cat_key_import_check(struct catalog *cat, struct cat_import *im);
/*
 * Items [from, from + CAT_IMPORT_BATCH) in one transaction: keys already
 * in the organization are skipped (an interrupted import is finished by
 * running it again); one another organization holds is CAT_CONFLICT.
 */
int cat_key_import_batch(struct catalog *cat, struct cat_import *im, size_t from);

/* ---- usage and audit ---- */

/* Prunes usage history of the days before before_day, in bounded batches. */
int cat_usage_prune(struct catalog *cat, int64_t before_day, uint64_t *deleted);
/* Prunes audit records older than before (seconds; not in the future). */
int cat_audit_prune(struct catalog *cat, int64_t before, uint64_t *deleted);

struct cat_audit {
	uint64_t at_ns;
	struct audit_rec r;
	char cursor[AUDIT_CURSOR_LEN + 1];
	unsigned char buf[AUDIT_RECORD_MAX];
};
/* a is NULL for a record that cannot be decoded; non-zero stops. */
typedef int (*cat_audit_fn)(const struct cat_audit *a, void *ctx);
/*
 * Audit records, newest first: of org (NULL: all), at since (seconds) or
 * later, before cursor (NULL or "": from the newest), at most limit (0:
 * all).  next (AUDIT_CURSOR_LEN + 1, may be NULL): the next page's
 * cursor, "" when there is none.
 */
int cat_audit_list(struct catalog *cat, const char *org, int64_t since,
    const char *cursor, size_t limit, cat_audit_fn fn, void *ctx, char *next);

/* ---- the store itself ---- */

/*
 * Writes the meta record of a new store (keygate init) with its audit
 * record, in one transaction.  0, or -1 with err set.
 */
int cat_init_store(struct store *s, const struct cat_actor *actor,
    const struct meta_rec *m, const struct vault_meta_rec *vault, char *err, size_t errlen);
/* Rebuilds the key index from the store (db check, db recover). */
int cat_rebuild_index(struct catalog *cat);
/*
 * db check: whether the table of keys by organization lists every key and
 * nothing else.  0 (*entries: how many), 1 when it is still to be built
 * (stores made before it, until a session needs it), or -1 with the first
 * difference in err.
 */
int cat_verify_orgkeys(struct catalog *cat, uint64_t *entries, char *err, size_t errlen);

#endif
