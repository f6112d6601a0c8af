/*
 * catalog.c - the one writer of plans, organizations, keys, the audit
 * trail and the meta record (see catalog.h).
 *
 * Layout: errors and messages; reading records; the session's key index
 * (lock, touch, mirror); writing records; the transaction runner; the
 * organization-keys table; then one section per business operation, each
 * a validation outside the transaction and a body inside it.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "catalog.h"
#include "catfwd.h"
#include "vault.h"
#include "counters.h"
#include "keyindex.h"
#include "policy.h"
#include "tally.h"

/* A transaction body met a deadlock: the runner aborts and tries again. */
#define CAT_RETRY (-1)
/* Organizations mirrored one by one at the end of a session; more: a rebuild. */
#define TOUCH_MAX 64
#define TXN_RETRIES 8
/* Records deleted per transaction by a prune: never a long hold on the store. */
#define PRUNE_BATCH 10000
/* Entries of the organization-keys table read per look (no cursor stays open). */
#define LIST_CHUNK 256
/* Keys the one-time build of the organization-keys table writes per transaction. */
#define ORGKEYS_BUILD_BATCH 1000
/* The longest orgkeys key: org, NUL, key id, and a NUL to start after it. */
#define ORGKEY_MAX (ID_MAX + 1 + KEYID_LEN + 1)

struct catalog {
	struct kg *kg;
	char actor[AUDIT_ACTOR_MAX + 1];
	char remote[AUDIT_REMOTE_MAX + 1];
	uint32_t scopes;
	char org[ID_MAX + 1]; /* "": every organization */
	void (*progress)(void);
	struct cat_error err;
	struct store_txn *txn; /* the transaction a body runs in, else NULL */
	int changed_policy;    /* this transaction changed an org or a plan */
	int orgkeys_ready;
	/*
	 * The key index, held for writing from the first transaction to
	 * cat_close, which mirrors the keys and orgs the session wrote (or
	 * rebuilds the index when it wrote more orgs than TOUCH_MAX, or when
	 * the list of keys cannot grow).
	 */
	struct keyindex *index;
	unsigned char (*touched_keys)[DIGEST_LEN];
	size_t ntouched_keys, touched_keys_cap;
	char touched_orgs[TOUCH_MAX][ID_MAX + 1];
	size_t ntouched_orgs;
	struct audit_entry audit; /* the record the current body will write */
	char fwd_field[CAT_FIELD_MAX + 1]; /* the field of a result from the master (catfwd.c) */
};

static void
progress(struct catalog *cat)
{
	if (cat->progress != NULL)
		cat->progress();
}

/* ---- errors ---- */

/*
 * Every message goes through apikey_redact: whatever it echoes (an id
 * that was a pasted key, a line of input), a key in keygate's format is
 * never shown beyond its display prefix.  Keys of other formats are
 * caught where an argument is named (cat_shown).
 */
static int fail(struct catalog *cat, enum cat_rc rc, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
fail(struct catalog *cat, enum cat_rc rc, const char *field, const char *fmt, ...)
{
	char msg[CAT_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	apikey_redact(msg, cat->err.msg, sizeof cat->err.msg);
	cat->err.rc = rc;
	cat->err.field = field;
	return rc;
}

const struct cat_error *
cat_error(const struct catalog *cat)
{
	return &cat->err;
}

/* ---- writes that run on the master (catfwd.c) ---- */

/*
 * In a replicated store every process but keygate-repd reads only: its
 * writes are carried out by the master's keygate-repd, with this very
 * code, and their result comes back here.
 */
static int
forwarded(const struct catalog *cat)
{
	return !store_writable(cat->kg->store);
}

int
cat_forwarded_result(struct catalog *cat, enum cat_rc rc, const char *field,
    const char *fmt, ...)
{
	char msg[CAT_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (field != NULL && strlen(field) <= CAT_FIELD_MAX) {
		strcpy(cat->fwd_field, field);
		field = cat->fwd_field;
	} else {
		field = NULL;
	}
	if (rc == CAT_OK) {
		cat->err.rc = CAT_OK;
		cat->err.field = NULL;
		cat->err.msg[0] = '\0';
		return CAT_OK;
	}
	return fail(cat, rc, field, "%s", msg);
}

void
cat_actor_of(const struct catalog *cat, struct cat_actor *out)
{
	memset(out, 0, sizeof *out);
	out->name = cat->actor;
	out->remote = cat->remote[0] ? cat->remote : NULL;
	out->scopes = cat->scopes;
	out->org = cat->org[0] ? cat->org : NULL;
}

const char *
cat_store_dir(const struct catalog *cat)
{
	return store_dir(cat->kg->store);
}

/* A store result as ours: in a transaction a deadlock asks for a retry. */
static int
store_fail(struct catalog *cat, int rc, const char *what)
{
	switch (rc) {
	case ST_DEADLOCK:
		if (cat->txn != NULL)
			return CAT_RETRY;
		return fail(cat, CAT_BUSY, NULL, "the store stayed busy (lock conflicts) reading %s", what);
	case ST_NOTFOUND:
		return fail(cat, CAT_NOTFOUND, NULL, "%s not found", what);
	case ST_EXISTS:
		return fail(cat, CAT_CONFLICT, NULL, "%s already exists", what);
	case ST_SMALL:
		return fail(cat, CAT_STORE, NULL, "%s: record larger than expected", what);
	default:
		return fail(cat, CAT_STORE, NULL, "store error on %s: %s", what,
		    store_errmsg(cat->kg->store));
	}
}

int
cat_is_key(struct catalog *cat, const char *s)
{
	unsigned char d[DIGEST_LEN];
	enum apikey_mode mode;
	struct store *st = cat->kg->store;
	size_t len = strlen(s);
	int held;

	if (len < APIKEY_IMPORT_MIN || len > APIKEY_MAX || !apikey_printable(s, len))
		return 0;
	if (apikey_classify(cat->kg->prefix, s, len, &mode) == APIKEY_OURS)
		return 1;
	/* an error (even a lock conflict) counts as held: better hidden than shown */
	held = digester_digest(cat->kg->digester, s, len, d) != 0 ||
	    store_exists(st, cat->txn, TBL_KEYS, d, DIGEST_LEN) != ST_NOTFOUND;
	/* a peppered store may hold plain digests (--sha256 imports) */
	if (!held && digester_peppered(cat->kg->digester))
		held = digester_sha256(cat->kg->digester, s, len, d) != 0 ||
		    store_exists(st, cat->txn, TBL_KEYS, d, DIGEST_LEN) != ST_NOTFOUND;
	OPENSSL_cleanse(d, sizeof d);
	return held;
}

/*
 * Whether a text holds an API key: one of this store's format anywhere
 * in it (apikey_redact would cut it), or the whole text a key the store
 * holds (imported keys have any format).  Names and ids are shown in
 * every listing, log line and audit record, and org and user ids are sent
 * to the backend with every request: a key pasted into one would be too.
 */
static int
holds_key(struct catalog *cat, const char *s)
{
	char red[TEXT_MAX * 4];

	if (s == NULL || s[0] == '\0')
		return 0;
	if (cat_is_key(cat, s))
		return 1;
	apikey_redact(s, red, sizeof red);
	return strcmp(red, s) != 0;
}

const char *
cat_shown(struct catalog *cat, const char *arg, char *buf, size_t n)
{
	if (record_id_valid(arg) && !holds_key(cat, arg))
		return arg;
	apikey_display(cat->kg->prefix, arg, strlen(arg), buf, n);
	return buf;
}

/* "organization 'acme'": what messages call the record id names */
static const char *
named(struct catalog *cat, const char *kind, const char *id, char *buf, size_t n)
{
	char sb[DISPLAY_MAX];

	snprintf(buf, n, "%s '%s'", kind, cat_shown(cat, id, sb, sizeof sb));
	return buf;
}

static int
not_found(struct catalog *cat, const char *kind, const char *id)
{
	char what[ID_MAX + 32];

	return fail(cat, CAT_NOTFOUND, NULL, "%s not found%s", named(cat, kind, id, what, sizeof what),
	    record_id_valid(id) ? "" : " (an id is 1-64 of A-Z a-z 0-9 . _ -)");
}

/* A failed read of the record id names: deadlock, not found, store error. */
static int
get_fail(struct catalog *cat, int rc, const char *kind, const char *id)
{
	char what[ID_MAX + 32];

	if (rc == ST_NOTFOUND)
		return not_found(cat, kind, id);
	return store_fail(cat, rc, named(cat, kind, id, what, sizeof what));
}

/* ---- scopes ---- */

static const struct {
	const char *name;
	uint32_t bit;
} scope_names[] = {
	{"keys:read", SCOPE_KEYS_READ},
	{"keys:write", SCOPE_KEYS_WRITE},
	{"keys:reveal", SCOPE_KEYS_REVEAL},
	{"verify", SCOPE_VERIFY},
	{"admin", SCOPE_ADMIN},
};
#define NSCOPES (sizeof scope_names / sizeof scope_names[0])

uint32_t
cat_scope_bit(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < NSCOPES; i++)
		if (strcmp(scope_names[i].name, name) == 0)
			return scope_names[i].bit;
	return 0;
}

const char *
cat_scope_name(uint32_t bit)
{
	size_t i;

	for (i = 0; i < NSCOPES; i++)
		if (scope_names[i].bit == bit)
			return scope_names[i].name;
	return NULL;
}

uint32_t
cat_scope_at(size_t i)
{
	return i < NSCOPES ? scope_names[i].bit : 0;
}

int
cat_scopes_allow(uint32_t held, uint32_t need)
{
	if (held & SCOPE_ADMIN)
		return 1;
	if (held & SCOPE_KEYS_WRITE)
		held |= SCOPE_KEYS_READ;
	return (need & ~held) == 0;
}

uint32_t
cat_key_scopes(const struct key_rec *k)
{
	return k->scopes;
}

/* ---- reading records (in the body's transaction, if any) ---- */

static int
read_org(struct catalog *cat, const char *id, unsigned char *buf, struct org_rec *o,
    int rmw)
{
	char what[ID_MAX + 32];
	size_t len;
	int rc;

	rc = store_get(cat->kg->store, cat->txn, TBL_ORGS, id, strlen(id), buf, RECORD_MAX,
	    &len, rmw);
	if (rc != ST_OK)
		return get_fail(cat, rc, "organization", id);
	if (record_decode_org(buf, len, o) != 0)
		return fail(cat, CAT_STORE, NULL, "%s: damaged record",
		    named(cat, "organization", id, what, sizeof what));
	return CAT_OK;
}

static int
read_plan(struct catalog *cat, const char *name, unsigned char *buf, struct plan_rec *p,
    int rmw)
{
	char what[ID_MAX + 32];
	size_t len;
	int rc;

	rc = store_get(cat->kg->store, cat->txn, TBL_PLANS, name, strlen(name), buf,
	    RECORD_MAX, &len, rmw);
	if (rc != ST_OK)
		return get_fail(cat, rc, "plan", name);
	if (record_decode_plan(buf, len, p) != 0)
		return fail(cat, CAT_STORE, NULL, "%s: damaged record",
		    named(cat, "plan", name, what, sizeof what));
	return CAT_OK;
}

/* Whether the session's actor sees org's keys. */
static int
sees_org(const struct catalog *cat, const char *org)
{
	return cat->org[0] == '\0' || strcmp(cat->org, org) == 0;
}

static int
key_not_found(struct catalog *cat, const char *id)
{
	char disp[DISPLAY_MAX];

	/*
	 * What is no key id may be a key of any format, pasted by mistake:
	 * only its display prefix, and what an id looks like.
	 */
	if (!apikey_id_valid(id)) {
		apikey_display(cat->kg->prefix, id, strlen(id), disp, sizeof disp);
		return fail(cat, CAT_NOTFOUND, NULL, "key '%s' not found: a key id is key_ and 16 "
		    "letters or digits (as key create printed it), never the key itself", disp);
	}
	return fail(cat, CAT_NOTFOUND, NULL, "key '%s' not found", id);
}

/* A key by public id: its digest and record. */
static int
read_key(struct catalog *cat, const char *id, unsigned char digest[DIGEST_LEN],
    unsigned char *buf, struct key_rec *k, int rmw)
{
	unsigned char ibuf[64];
	struct keyid_rec kid;
	char what[ID_MAX + 32];
	size_t len;
	int rc;

	rc = store_get(cat->kg->store, cat->txn, TBL_KEYIDS, id, strlen(id), ibuf, sizeof ibuf,
	    &len, rmw);
	if (rc == ST_NOTFOUND)
		return key_not_found(cat, id);
	if (rc != ST_OK)
		return get_fail(cat, rc, "key", id);
	/* found: id is a key id, which messages may show */
	snprintf(what, sizeof what, "key '%s'", id);
	if (record_decode_keyid(ibuf, len, &kid) != 0)
		return fail(cat, CAT_STORE, NULL, "%s: damaged id record", what);
	memcpy(digest, kid.digest, DIGEST_LEN);
	rc = store_get(cat->kg->store, cat->txn, TBL_KEYS, digest, DIGEST_LEN, buf, RECORD_MAX,
	    &len, rmw);
	if (rc == ST_NOTFOUND)
		return fail(cat, CAT_STORE, NULL,
		    "%s: its id record points to no key (run keygate db check)", what);
	if (rc != ST_OK)
		return store_fail(cat, rc, what);
	if (record_decode_key(buf, len, k) != 0)
		return fail(cat, CAT_STORE, NULL, "%s: damaged record", what);
	/* a key never sees another organization's keys: not even that they exist */
	if (!sees_org(cat, k->org))
		return key_not_found(cat, id);
	return CAT_OK;
}

/*
 * In a replicated store the counter file knows this host's requests only:
 * the last use on any host is in the usage history every host sends the
 * master (today's record of the key, else yesterday's).
 */
static int64_t
history_last_used(struct catalog *cat, const char *id)
{
	unsigned char key[HISTORY_KEY_MAX], buf[256];
	struct history_rec h;
	int64_t day = kg_now() / 86400, d;
	size_t klen, len;

	for (d = day; d >= day - 1; d--) {
		klen = tally_key(d, TALLY_KEY, id, key);
		if (store_get(cat->kg->store, NULL, TBL_HISTORY, key, klen, buf, sizeof buf, &len,
		    0) == ST_OK && record_decode_history(buf, len, &h) == 0 && h.last_used > 0)
			return h.last_used;
	}
	return 0;
}

static int64_t
key_last_used(struct catalog *cat, const unsigned char digest[DIGEST_LEN],
    const struct key_rec *k)
{
	struct counter_slot *s = counters_find(cat->kg->counters, counters_key_tag(digest), 0);
	int64_t t = s ? counters_last_used(s) : 0, h;

	if (store_replicated(cat->kg->store) && (h = history_last_used(cat, k->id)) > t)
		t = h;
	return t > k->last_used_at ? t : k->last_used_at;
}

/* ---- the key index of the session ---- */

/*
 * Takes the key index for writing, before the first transaction: from
 * then on authorizers trust it no more than the store until cat_close.
 * Without it, nothing is written: a change the index does not mirror
 * could let a revoked key in.
 */
static int
index_lock(struct catalog *cat)
{
	char err[600];

	if (cat->index != NULL)
		return CAT_OK;
	cat->index = keyindex_lock(store_dir(cat->kg->store),
	    counters_index_anchor(cat->kg->counters), 0, NULL, err, sizeof err);
	if (cat->index == NULL)
		return fail(cat, CAT_STORE, NULL, "%s; nothing was changed", err);
	return CAT_OK;
}

/*
 * The index's sequence turns odd before a key or org change can commit,
 * and what changed is noted for index_finish.
 */
static int
index_touch(struct catalog *cat, const unsigned char *digest, const char *org)
{
	size_t i;

	if (cat->index == NULL)
		return fail(cat, CAT_STORE, NULL, "internal error: a write outside a transaction");
	keyindex_begin(cat->index);
	for (i = 0; org != NULL && i < cat->ntouched_orgs; i++)
		if (strcmp(cat->touched_orgs[i], org) == 0)
			return CAT_OK;
	if (digest != NULL && keyindex_needs_rebuild(cat->index))
		return CAT_OK; /* the rebuild will see it */
	if (digest != NULL && cat->ntouched_keys == cat->touched_keys_cap) {
		size_t cap = cat->touched_keys_cap ? cat->touched_keys_cap * 2 : 64;
		void *p = realloc(cat->touched_keys, cap * DIGEST_LEN);

		if (p == NULL) {
			keyindex_want_rebuild(cat->index);
			return CAT_OK;
		}
		cat->touched_keys = p;
		cat->touched_keys_cap = cap;
	}
	if (digest != NULL)
		memcpy(cat->touched_keys[cat->ntouched_keys++], digest, DIGEST_LEN);
	else if (org != NULL && cat->ntouched_orgs < TOUCH_MAX && strlen(org) <= ID_MAX)
		strcpy(cat->touched_orgs[cat->ntouched_orgs++], org);
	else
		keyindex_want_rebuild(cat->index);
	return CAT_OK;
}

/* Mirrors every key and org the session wrote, as committed, into the index. */
static int
index_finish(struct catalog *cat, char *err, size_t errlen)
{
	struct store *st = cat->kg->store;
	unsigned char buf[RECORD_MAX];
	struct key_rec k;
	size_t i, len;
	int rc;

	for (i = 0; i < cat->ntouched_orgs; i++) {
		const char *id = cat->touched_orgs[i];

		rc = store_get(st, NULL, TBL_ORGS, id, strlen(id), buf, sizeof buf, &len, 0);
		if (rc == ST_OK)
			keyindex_put_org(cat->index, id, buf, len);
		else if (rc == ST_NOTFOUND)
			keyindex_del_org(cat->index, id);
		else
			keyindex_want_rebuild(cat->index);
	}
	/* after the orgs: a key entry names its org's slot */
	for (i = 0; i < cat->ntouched_keys; i++) {
		const unsigned char *d = cat->touched_keys[i];

		rc = store_get(st, NULL, TBL_KEYS, d, DIGEST_LEN, buf, sizeof buf, &len, 0);
		if (rc == ST_OK)
			keyindex_put_key(cat->index, d,
			    record_decode_key(buf, len, &k) == 0 ? &k : NULL);
		else if (rc == ST_NOTFOUND)
			keyindex_del_key(cat->index, d);
		else
			keyindex_want_rebuild(cat->index);
	}
	rc = keyindex_end(cat->index, st, cat->progress, err, errlen);
	cat->index = NULL;
	return rc;
}

int
cat_rebuild_index(struct catalog *cat)
{
	char err[600];

	if (cat->index != NULL) { /* the lock is ours already: cat_close rebuilds */
		keyindex_want_rebuild(cat->index);
		return CAT_OK;
	}
	if (keyindex_rebuild(store_dir(cat->kg->store), counters_index_anchor(cat->kg->counters),
	    cat->kg->store, cat->progress, err, sizeof err) != 0)
		return fail(cat, CAT_STORE, NULL, "cannot rebuild the key index: %s", err);
	return CAT_OK;
}

/* ---- sessions ---- */

struct catalog *
cat_open(struct kg *kg, const struct cat_actor *actor, void (*progress_fn)(void))
{
	struct catalog *cat;

	if (actor == NULL || actor->name == NULL || actor->name[0] == '\0' ||
	    strlen(actor->name) > AUDIT_ACTOR_MAX ||
	    (actor->remote != NULL && strlen(actor->remote) > AUDIT_REMOTE_MAX) ||
	    (actor->org != NULL && !record_id_valid(actor->org)))
		return NULL;
	if ((cat = calloc(1, sizeof *cat)) == NULL)
		return NULL;
	cat->kg = kg;
	strcpy(cat->actor, actor->name);
	if (actor->remote != NULL)
		strcpy(cat->remote, actor->remote);
	if (actor->org != NULL)
		strcpy(cat->org, actor->org);
	cat->scopes = actor->scopes;
	cat->progress = progress_fn;
	return cat;
}

int
cat_close(struct catalog *cat, char *err, size_t errlen)
{
	int rc = 0;

	if (cat == NULL)
		return 0;
	if (cat->index != NULL)
		rc = index_finish(cat, err, errlen);
	free(cat->touched_keys);
	OPENSSL_cleanse(cat, sizeof *cat);
	free(cat);
	return rc == 0 ? 0 : -1;
}

/* ---- writing records (only in a body) ---- */

static int
put_org(struct catalog *cat, const char *id, const struct org_rec *o)
{
	unsigned char buf[RECORD_MAX];
	int n = record_encode_org(o, buf, sizeof buf), rc;

	if (n < 0)
		return fail(cat, CAT_INVALID, "name", "organization record too large");
	if ((rc = index_touch(cat, NULL, id)) != CAT_OK)
		return rc;
	rc = store_put(cat->kg->store, cat->txn, TBL_ORGS, id, strlen(id), buf, (size_t)n, 0);
	return rc == ST_OK ? CAT_OK : store_fail(cat, rc, "organization");
}

static int
put_plan(struct catalog *cat, const struct plan_rec *p)
{
	unsigned char buf[RECORD_MAX];
	int n = record_encode_plan(p, buf, sizeof buf), rc;

	if (n < 0)
		return fail(cat, CAT_INVALID, "rules", "plan record too large (too many or too long rules)");
	rc = store_put(cat->kg->store, cat->txn, TBL_PLANS, p->name, strlen(p->name), buf,
	    (size_t)n, 0);
	return rc == ST_OK ? CAT_OK : store_fail(cat, rc, "plan");
}

static int
put_key(struct catalog *cat, const unsigned char digest[DIGEST_LEN], const struct key_rec *k)
{
	unsigned char buf[RECORD_MAX];
	int n = record_encode_key(k, buf, sizeof buf), rc;

	if (n < 0)
		return fail(cat, CAT_INVALID, "rules", "key record too large (too many or too long rules)");
	if ((rc = index_touch(cat, digest, NULL)) != CAT_OK)
		return rc;
	rc = store_put(cat->kg->store, cat->txn, TBL_KEYS, digest, DIGEST_LEN, buf, (size_t)n, 0);
	return rc == ST_OK ? CAT_OK : store_fail(cat, rc, "key");
}

/* The meta record, read for update, changed by fn, written back. */
static int
update_meta(struct catalog *cat, void (*fn)(struct meta_rec *m, void *ctx), void *ctx)
{
	unsigned char buf[RECORD_MAX], out[RECORD_MAX];
	struct meta_rec m;
	int rc, n;

	if ((rc = kg_read_meta(cat->kg, cat->txn, buf, sizeof buf, &m, 1)) != ST_OK)
		return store_fail(cat, rc, "meta record");
	fn(&m, ctx);
	if ((n = record_encode_meta(&m, out, sizeof out)) < 0)
		return fail(cat, CAT_STORE, NULL, "meta record too large");
	rc = store_put(cat->kg->store, cat->txn, TBL_META, "store", 5, out, (size_t)n, 0);
	return rc == ST_OK ? CAT_OK : store_fail(cat, rc, "meta record");
}

static void
next_generation(struct meta_rec *m, void *ctx)
{
	(void)ctx;
	m->generation++;
}

/* Every org or plan change bumps meta.generation, in its transaction. */
static int
bump_generation(struct catalog *cat)
{
	cat->changed_policy = 1;
	return update_meta(cat, next_generation, NULL);
}

/* Writes the audit record the body built: the last write of every change. */
static int
audit_commit(struct catalog *cat)
{
	int rc = audit_put(cat->kg->store, cat->txn, &cat->audit, cat->actor,
	    cat->remote[0] ? cat->remote : NULL, kg_now_ns());

	if (rc == ST_ERROR && (cat->audit.overflow || cat->audit.items != 0))
		return fail(cat, CAT_STORE, NULL,
		    "the change cannot be audited (too large a record); nothing was changed");
	return rc == ST_OK ? CAT_OK : store_fail(cat, rc, "audit record");
}

static void
audit_rules(struct catalog *cat, const char *name, const struct rule_view *r, size_t n)
{
	char buf[RULE_METHODS_MAX + RULE_HOST_MAX + RULE_PATH_MAX + 16];
	size_t i;

	audit_list(&cat->audit, name, n);
	for (i = 0; i < n; i++) {
		rule_format(r[i].action, r[i].methods, r[i].host, r[i].path, buf, sizeof buf);
		audit_item(&cat->audit, buf);
	}
}

static void
audit_scopes(struct catalog *cat, uint32_t scopes)
{
	size_t i, n = 0;

	for (i = 0; cat_scope_at(i) != 0; i++)
		n += (scopes & cat_scope_at(i)) != 0;
	audit_list(&cat->audit, "scopes", n);
	for (i = 0; cat_scope_at(i) != 0; i++)
		if (scopes & cat_scope_at(i))
			audit_item(&cat->audit, cat_scope_name(cat_scope_at(i)));
}

static void
audit_rate(struct catalog *cat, const char *name, const struct rate_spec *r)
{
	char buf[64];

	audit_str(&cat->audit, name, r->count ? format_rate(r, buf, sizeof buf) : NULL);
}

/* ---- the transaction runner ---- */

/* A growing, jittered pause, so that retrying writers do not collide again. */
static void
backoff(int attempt)
{
	usleep((useconds_t)(1000 * (1 << attempt) + (getpid() * 7919 + attempt * 104729) % 1000));
}

/*
 * A counter file made moments ago (the old one was deleted or damaged):
 * authorizers still mapping the old one read the generation there, which
 * nobody bumps any more, until their maintenance thread notices the new
 * file (within a second).  A change committed before then could be missed
 * by their caches for that second, so wait it out: this happens only
 * right after such a fault.
 */
#define COUNTERS_SETTLE_S 2

static void
settle_counters(struct catalog *cat)
{
	int64_t ready = counters_created_at(cat->kg->counters) + COUNTERS_SETTLE_S;

	if (!(counters_flags(cat->kg->counters) & COUNTERS_REBUILT))
		return;
	while (kg_now() < ready) {
		progress(cat);
		usleep(100 * 1000);
	}
}

typedef int (*body_fn)(struct catalog *cat, void *ctx);

/*
 * Runs body in one transaction, committed synchronously; again after a
 * deadlock.  Anything but CAT_OK from the body aborts: a failed operation
 * changes nothing, its audit record included.
 */
static int
run(struct catalog *cat, body_fn body, void *ctx)
{
	struct store_txn *t;
	int attempt, rc, code;

	settle_counters(cat);
	if ((code = index_lock(cat)) != CAT_OK)
		return code;
	for (attempt = 0; attempt < TXN_RETRIES; attempt++) {
		cat->changed_policy = 0;
		progress(cat);
		if ((rc = store_txn_begin(cat->kg->store, &t)) != ST_OK)
			return store_fail(cat, rc, "begin");
		cat->txn = t;
		code = body(cat, ctx);
		cat->txn = NULL;
		if (code == CAT_RETRY) {
			store_txn_abort(t);
			backoff(attempt);
			continue;
		}
		if (code != CAT_OK) {
			store_txn_abort(t);
			return code;
		}
		rc = store_txn_commit(t);
		if (rc == ST_DEADLOCK) {
			backoff(attempt);
			continue;
		}
		if (rc != ST_OK)
			return store_fail(cat, rc, "commit");
		/* committed: now authorizers on this host must drop their caches */
		if (cat->changed_policy)
			counters_bump_generation(cat->kg->counters);
		return CAT_OK;
	}
	return fail(cat, CAT_BUSY, NULL, "the store stayed busy (lock conflicts); nothing was changed");
}

/* ---- the organization-keys table ---- */

/* org \0 key id: keys sort by organization, then id.  Returns the length. */
static size_t
orgkey(const char *org, const char *id, unsigned char *out)
{
	size_t o = strlen(org), n = strlen(id);

	memcpy(out, org, o);
	out[o] = '\0';
	memcpy(out + o + 1, id, n);
	return o + 1 + n;
}

/*
 * org \0: where org's keys begin.  Returns the length, or 0 for what is no
 * org id (it would not fit the buffer, and no key is filed under it).
 */
static size_t
org_prefix(const char *org, unsigned char out[ID_MAX + 1])
{
	size_t n = strlen(org);

	if (n == 0 || n > ID_MAX)
		return 0;
	memcpy(out, org, n);
	out[n] = '\0';
	return n + 1;
}

static int
orgkey_parse(const void *key, size_t len, char org[ID_MAX + 1], char id[KEYID_LEN + 1])
{
	const char *k = key, *z = memchr(key, '\0', len);
	size_t o;

	if (z == NULL || (o = (size_t)(z - k)) == 0 || o > ID_MAX || len - o - 1 != KEYID_LEN)
		return -1;
	memcpy(org, k, o);
	org[o] = '\0';
	memcpy(id, z + 1, KEYID_LEN);
	id[KEYID_LEN] = '\0';
	return 0;
}

static int
put_orgkey(struct catalog *cat, struct store_txn *t, const char *org, const char *id,
    const unsigned char digest[DIGEST_LEN])
{
	unsigned char key[ORGKEY_MAX], val[64];
	struct keyid_rec kid;
	int n;

	memcpy(kid.digest, digest, DIGEST_LEN);
	n = record_encode_keyid(&kid, val, sizeof val);
	return store_put(cat->kg->store, t, TBL_ORGKEYS, key, orgkey(org, id, key), val,
	    (size_t)n, 0);
}

struct build {
	struct catalog *cat;
	struct store_txn *t;
	size_t n;
	int rc;
};

static int
build_row(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct build *b = ctx;
	struct key_rec r;

	if (kl != DIGEST_LEN || record_decode_key(v, vl, &r) != 0)
		return 0; /* db check names it */
	if (b->t == NULL && (b->rc = store_txn_begin(b->cat->kg->store, &b->t)) != ST_OK)
		return 1;
	if ((b->rc = put_orgkey(b->cat, b->t, r.org, r.id, k)) != ST_OK)
		return 1;
	if (++b->n % ORGKEYS_BUILD_BATCH == 0) {
		b->rc = store_txn_commit(b->t);
		b->t = NULL;
		progress(b->cat);
		return b->rc != ST_OK;
	}
	return 0;
}

static void
mark_orgkeys(struct meta_rec *m, void *ctx)
{
	(void)ctx;
	m->flags |= METAF_ORGKEYS;
}

static int
set_orgkeys_flag(struct catalog *cat, void *ctx)
{
	(void)ctx;
	return update_meta(cat, mark_orgkeys, NULL);
}

/*
 * Stores made before the organization-keys table have it empty: it is
 * filled once, by the first session that needs it, under keyindex.lock
 * (which every writer of keys holds, so no key is made meanwhile), in
 * transactions of a bounded size, and marked complete in the meta record.
 * Every key written since goes into it in its own transaction.
 */
static int
need_orgkeys(struct catalog *cat)
{
	unsigned char buf[RECORD_MAX];
	struct meta_rec m;
	struct build b;
	int rc;

	if (cat->orgkeys_ready)
		return CAT_OK;
	if ((rc = kg_read_meta(cat->kg, NULL, buf, sizeof buf, &m, 0)) != ST_OK)
		return store_fail(cat, rc, "meta record");
	if (!(m.flags & METAF_ORGKEYS) && !store_writable(cat->kg->store))
		return fail(cat, CAT_STORE, NULL, "the table of keys by organization is still "
		    "being built on the master (keygate-repd builds it when it becomes master)");
	if (!(m.flags & METAF_ORGKEYS)) {
		if ((rc = index_lock(cat)) != CAT_OK)
			return rc;
		/* another process may have built it while we waited for the lock */
		if ((rc = kg_read_meta(cat->kg, NULL, buf, sizeof buf, &m, 0)) != ST_OK)
			return store_fail(cat, rc, "meta record");
	}
	if (!(m.flags & METAF_ORGKEYS)) {
		memset(&b, 0, sizeof b);
		b.cat = cat;
		rc = store_scan(cat->kg->store, NULL, TBL_KEYS, build_row, &b);
		if (rc == ST_OK)
			rc = b.rc;
		if (b.t != NULL) {
			if (rc == ST_OK)
				rc = store_txn_commit(b.t);
			else
				store_txn_abort(b.t);
		}
		if (rc != ST_OK)
			return store_fail(cat, rc == ST_DEADLOCK ? ST_ERROR : rc,
			    "the table of keys by organization");
		if ((rc = run(cat, set_orgkeys_flag, NULL)) != CAT_OK)
			return rc;
	}
	cat->orgkeys_ready = 1;
	return CAT_OK;
}

/* ---- keys: shared by create, rotate and import ---- */

/* A public id that no key has: 190 random bits make a collision a broken RNG. */
static int
draw_id(struct catalog *cat, char id[KEYID_LEN + 1])
{
	int tries, rc;

	for (tries = 0; tries < 4; tries++) {
		if (apikey_new_id(id) != 0)
			return fail(cat, CAT_STORE, NULL, "OpenSSL's random generator failed");
		rc = store_exists(cat->kg->store, cat->txn, TBL_KEYIDS, id, strlen(id));
		if (rc == ST_NOTFOUND)
			return CAT_OK;
		if (rc != ST_OK)
			return store_fail(cat, rc, "key id");
	}
	return fail(cat, CAT_STORE, NULL, "could not draw a unique key id; is the random generator broken?");
}

static int
draw_key(struct catalog *cat, int test, char key[APIKEY_BUF], unsigned char digest[DIGEST_LEN])
{
	int tries, rc;

	for (tries = 0; tries < 4; tries++) {
		if (apikey_generate(cat->kg->prefix, test ? MODE_TEST : MODE_LIVE, key, APIKEY_BUF) < 0)
			return fail(cat, CAT_STORE, NULL, "OpenSSL's random generator failed");
		if (digester_digest(cat->kg->digester, key, strlen(key), digest) != 0)
			return fail(cat, CAT_STORE, NULL, "OpenSSL failed to hash the key");
		/* never overwrite, however unlikely */
		rc = store_exists(cat->kg->store, cat->txn, TBL_KEYS, digest, DIGEST_LEN);
		if (rc == ST_NOTFOUND)
			return CAT_OK;
		if (rc != ST_OK)
			return store_fail(cat, rc, "key");
	}
	return fail(cat, CAT_STORE, NULL, "could not draw a unique key; is the random generator broken?");
}

/* A new key's three records: the key, its id, its place among its org's keys. */
static int
write_new_key(struct catalog *cat, const unsigned char digest[DIGEST_LEN],
    const struct key_rec *k)
{
	unsigned char buf[64];
	struct keyid_rec kid;
	int n, rc;

	if ((rc = put_key(cat, digest, k)) != CAT_OK)
		return rc;
	memcpy(kid.digest, digest, DIGEST_LEN);
	n = record_encode_keyid(&kid, buf, sizeof buf);
	rc = store_put(cat->kg->store, cat->txn, TBL_KEYIDS, k->id, strlen(k->id), buf, (size_t)n, 1);
	if (rc == ST_OK)
		rc = put_orgkey(cat, cat->txn, k->org, k->id, digest);
	return rc == ST_OK ? CAT_OK : store_fail(cat, rc, "key id");
}

struct count_active {
	struct catalog *cat;
	const char *org;
	int64_t now;
	uint32_t n;
	int rc;
};

static int
count_active_row(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct count_active *ca = ctx;
	unsigned char buf[RECORD_MAX];
	char org[ID_MAX + 1], id[KEYID_LEN + 1];
	struct keyid_rec kid;
	struct key_rec r;
	size_t len;

	if (orgkey_parse(k, kl, org, id) != 0 || strcmp(org, ca->org) != 0)
		return 1; /* past the org's keys */
	if (record_decode_keyid(v, vl, &kid) != 0)
		return 0;
	ca->rc = store_get(ca->cat->kg->store, ca->cat->txn, TBL_KEYS, kid.digest, DIGEST_LEN,
	    buf, sizeof buf, &len, 0);
	if (ca->rc == ST_NOTFOUND) {
		ca->rc = ST_OK;
		return 0;
	}
	if (ca->rc != ST_OK)
		return 1;
	if (record_decode_key(buf, len, &r) == 0 && !(r.flags & KEYF_REVOKED) &&
	    !record_expired(r.expires_at, ca->now))
		ca->n++;
	return 0;
}

/*
 * The org record counts keys not revoked; expired ones still count there,
 * so at the limit its keys are counted again, which is rare and exact.
 */
static int
check_max_keys(struct catalog *cat, const char *org, const struct org_rec *o,
    const struct plan_rec *p, uint32_t adding, const char *why)
{
	struct count_active ca = {cat, org, kg_now(), 0, ST_OK};
	unsigned char from[ORGKEY_MAX];
	size_t n;
	int rc;

	if (p->max_keys == 0 || (uint64_t)o->nkeys + adding <= p->max_keys)
		return CAT_OK;
	if ((n = org_prefix(org, from)) == 0)
		return not_found(cat, "organization", org);
	rc = store_scan_from(cat->kg->store, cat->txn, TBL_ORGKEYS, from, n,
	    count_active_row, &ca);
	if (rc == ST_OK)
		rc = ca.rc;
	if (rc != ST_OK)
		return store_fail(cat, rc, "keys");
	if ((uint64_t)ca.n + adding <= p->max_keys)
		return CAT_OK;
	return fail(cat, CAT_LIMIT, NULL, "organization '%s' has %u active keys; its plan '%s' allows %u%s",
	    org, ca.n, p->name, p->max_keys, why);
}

static int
rate_ok(const struct rate_spec *r)
{
	return r->count == 0 || (r->count <= RATE_COUNT_MAX &&
	    (r->window_s == 1 || r->window_s == 60 || r->window_s == 3600));
}

static int
check_name(struct catalog *cat, const char *name)
{
	if (!record_text_valid(name))
		return fail(cat, CAT_INVALID, "name",
		    "name must be at most 128 characters without control characters");
	if (holds_key(cat, name))
		return fail(cat, CAT_INVALID, "name",
		    "name holds an API key; a name is shown in every listing");
	return CAT_OK;
}

/* An explicit expiry as stored; one in the past only when forced. */
static int
check_expiry(struct catalog *cat, int set, int64_t when, int force, int64_t *stored)
{
	if (!set)
		return CAT_OK;
	if (when <= kg_now() && !force)
		return fail(cat, CAT_INVALID, "expires", "expires is in the past");
	*stored = record_expiry(when);
	return CAT_OK;
}

/* Scopes a key may get: known ones, and only those the actor holds. */
static int
check_scopes(struct catalog *cat, uint32_t scopes)
{
	size_t i;

	if (scopes & ~(uint32_t)SCOPES_ALL)
		return fail(cat, CAT_INVALID, "scopes", "scopes: an unknown scope");
	for (i = 0; cat_scope_at(i) != 0; i++)
		if ((scopes & cat_scope_at(i)) && !cat_scopes_allow(cat->scopes, cat_scope_at(i)))
			return fail(cat, CAT_FORBIDDEN, "scopes",
			    "scopes: %s cannot be granted by a key that does not hold it",
			    cat_scope_name(cat_scope_at(i)));
	return CAT_OK;
}

/* Rules are listed, audited and shown with their key or plan: none may hold a key. */
static int
check_rules(struct catalog *cat, const struct rule_view *r, size_t n)
{
	size_t i;

	if (n > RULES_MAX)
		return fail(cat, CAT_INVALID, "rules", "at most %d rules", RULES_MAX);
	for (i = 0; i < n; i++)
		if (holds_key(cat, r[i].host) || holds_key(cat, r[i].path))
			return fail(cat, CAT_INVALID, "rules", "rule %zu holds an API key; rules are "
			    "shown in every listing and audit record", i + 1);
	return CAT_OK;
}

static int
check_key_spec(struct catalog *cat, const struct cat_key_spec *s, int64_t *expires_at)
{
	const char *u = s->user;
	int rc;

	if (s->org == NULL || s->org[0] == '\0')
		return fail(cat, CAT_INVALID, "org", "org is required");
	if ((rc = check_name(cat, s->name)) != CAT_OK)
		return rc;
	if (u != NULL && (u[0] == '\0' || !record_header_safe(u) || u[0] == ' ' ||
	    u[strlen(u) - 1] == ' '))
		return fail(cat, CAT_INVALID, "user",
		    "user must be 1-128 printable ASCII characters (it is sent as a header)");
	*expires_at = 0;
	if ((rc = check_expiry(cat, s->set_expires, s->expires_at, s->force, expires_at)) != CAT_OK)
		return rc;
	if (!rate_ok(&s->rate))
		return fail(cat, CAT_INVALID, "rate", "rate: not a rate limit keygate takes");
	if ((rc = check_rules(cat, s->rules, s->nrules)) != CAT_OK)
		return rc;
	if ((rc = check_scopes(cat, s->scopes)) != CAT_OK)
		return rc;
	/* a user id is sent to the backend with every request */
	if (u != NULL && holds_key(cat, u))
		return fail(cat, CAT_INVALID, "user", "user holds an API key; a user id is sent "
		    "with every request");
	if (!sees_org(cat, s->org))
		return not_found(cat, "organization", s->org);
	return CAT_OK;
}

/*
 * A store made with a vault keeps every new key's secret sealed beside its
 * digest (vault.h).  The vault is loaded before the transaction, so that a
 * vault file that cannot be read refuses the key before anything is
 * written: a key made then could never be revealed.
 */
static int
prepare_vault(struct catalog *cat)
{
	char err[600];
	int none;

	if (!kg_has_vault(cat->kg) || kg_vault(cat->kg, &none, err, sizeof err) != NULL)
		return CAT_OK;
	return fail(cat, CAT_STORE, NULL, "%s; nothing was made", err);
}

static int
seal_secret(struct catalog *cat, const char *id, const char *key)
{
	unsigned char sealed[VAULT_SEALED_MAX];
	int n, rc;

	if (cat->kg->vault == NULL)
		return CAT_OK;
	n = vault_seal(cat->kg->vault, id, key, strlen(key), sealed, sizeof sealed);
	if (n < 0)
		return fail(cat, CAT_STORE, NULL, "cannot seal the new key's secret");
	rc = store_put(cat->kg->store, cat->txn, TBL_SECRETS, id, strlen(id), sealed, (size_t)n, 1);
	return rc == ST_OK ? CAT_OK : store_fail(cat, rc, "sealed secret");
}

/* ---- key create ---- */

struct create_op {
	const struct cat_key_spec *spec;
	struct cat_new_key *out;
	int64_t expires_at;
};

static void
audit_new_key(struct catalog *cat, const struct key_rec *k)
{
	audit_str(&cat->audit, "name", k->name);
	audit_str(&cat->audit, "user", k->user[0] ? k->user : NULL);
	audit_str(&cat->audit, "mode", (k->flags & KEYF_TEST) ? "test" : "live");
	audit_time(&cat->audit, "expires_at", k->expires_at);
	audit_rate(cat, "rate", &k->rate);
	audit_rules(cat, "rules", k->rules, k->nrules);
	audit_scopes(cat, k->scopes);
}

static int
key_create_body(struct catalog *cat, void *ctx)
{
	struct create_op *op = ctx;
	const struct cat_key_spec *s = op->spec;
	unsigned char obuf[RECORD_MAX], pbuf[RECORD_MAX], digest[DIGEST_LEN];
	char disp[DISPLAY_MAX];
	struct org_rec o;
	struct plan_rec p;
	struct key_rec k;
	int rc;

	if ((rc = read_org(cat, s->org, obuf, &o, 1)) != CAT_OK ||
	    (rc = read_plan(cat, o.plan, pbuf, &p, 0)) != CAT_OK ||
	    (rc = check_max_keys(cat, s->org, &o, &p, 1, "")) != CAT_OK ||
	    (rc = draw_key(cat, s->test, op->out->key, digest)) != CAT_OK ||
	    (rc = draw_id(cat, op->out->id)) != CAT_OK)
		return rc;
	memset(&k, 0, sizeof k);
	k.flags = s->test ? KEYF_TEST : 0;
	k.id = op->out->id;
	k.org = s->org;
	k.name = s->name ? s->name : "";
	k.user = s->user ? s->user : "";
	k.successor = k.replaces = "";
	apikey_display(cat->kg->prefix, op->out->key, strlen(op->out->key), disp, sizeof disp);
	k.display = disp;
	k.created_at = kg_now();
	k.expires_at = op->expires_at;
	k.rate = s->rate;
	if (s->nrules > 0)
		memcpy(k.rules, s->rules, s->nrules * sizeof s->rules[0]);
	k.nrules = s->nrules;
	k.scopes = s->scopes;
	if ((rc = write_new_key(cat, digest, &k)) != CAT_OK ||
	    (rc = seal_secret(cat, k.id, op->out->key)) != CAT_OK)
		return rc;
	o.nkeys++;
	if ((rc = put_org(cat, s->org, &o)) != CAT_OK)
		return rc;
	op->out->expires_at = k.expires_at;
	audit_begin(&cat->audit, "key.create", s->org, k.id);
	audit_new_key(cat, &k);
	return audit_commit(cat);
}

void
cat_new_key_wipe(struct cat_new_key *nk)
{
	OPENSSL_cleanse(nk, sizeof *nk);
}

int
cat_key_create(struct catalog *cat, const struct cat_key_spec *spec, struct cat_new_key *out)
{
	struct create_op op = {spec, out, 0};
	int rc;

	if (forwarded(cat))
		return catfwd_key_create(cat, spec, out);
	memset(out, 0, sizeof *out);
	if ((rc = check_key_spec(cat, spec, &op.expires_at)) != CAT_OK ||
	    (rc = need_orgkeys(cat)) != CAT_OK || (rc = prepare_vault(cat)) != CAT_OK)
		return rc;
	rc = run(cat, key_create_body, &op);
	if (rc != CAT_OK)
		cat_new_key_wipe(out);
	return rc;
}

/* ---- key revoke ---- */

struct revoke_op {
	const char *id;
	int already;
};

static int
key_revoke_body(struct catalog *cat, void *ctx)
{
	struct revoke_op *op = ctx;
	unsigned char kbuf[RECORD_MAX], obuf[RECORD_MAX], digest[DIGEST_LEN];
	struct key_rec k;
	struct org_rec o;
	int rc;

	op->already = 0;
	if ((rc = read_key(cat, op->id, digest, kbuf, &k, 1)) != CAT_OK)
		return rc;
	if (k.flags & KEYF_REVOKED) {
		op->already = 1; /* nothing changes, nothing is audited */
		return CAT_OK;
	}
	k.flags |= KEYF_REVOKED;
	k.revoked_at = kg_now();
	/* a revoked key's secret is of use to nobody: it is not kept */
	rc = store_del(cat->kg->store, cat->txn, TBL_SECRETS, k.id, strlen(k.id));
	if (rc != ST_OK && rc != ST_NOTFOUND)
		return store_fail(cat, rc, "sealed secret");
	if ((rc = put_key(cat, digest, &k)) != CAT_OK ||
	    (rc = read_org(cat, k.org, obuf, &o, 1)) != CAT_OK)
		return rc;
	if (o.nkeys > 0)
		o.nkeys--;
	if ((rc = put_org(cat, k.org, &o)) != CAT_OK)
		return rc;
	audit_begin(&cat->audit, "key.revoke", k.org, k.id);
	audit_time(&cat->audit, "revoked_at", k.revoked_at);
	return audit_commit(cat);
}

int
cat_key_revoke(struct catalog *cat, const char *id, int *already)
{
	struct revoke_op op = {id, 0};
	int rc;

	if (forwarded(cat))
		return catfwd_key_revoke(cat, id, already);
	rc = run(cat, key_revoke_body, &op);
	if (rc == CAT_OK && already != NULL)
		*already = op.already;
	return rc;
}

/* ---- key rotate ---- */

struct rotate_op {
	const struct cat_rotate_spec *spec;
	struct cat_new_key *out;
	int64_t expires_at; /* an explicit one, as stored */
};

/*
 * The successor inherits everything the old key was, its expiry included:
 * a rotation never extends a key's life (an explicit expiry replaces it).
 * An expired or revoked key has nothing left to hand over, and a key has
 * one successor at most.  With a grace period both keys work until it
 * ends, so the org needs room for one more active key under its plan's
 * max-keys; with none the old key is revoked in the same transaction and
 * the count does not change.  The successor's scopes are granted anew:
 * only by an actor that holds them.
 */
static int
key_rotate_body(struct catalog *cat, void *ctx)
{
	struct rotate_op *op = ctx;
	const struct cat_rotate_spec *s = op->spec;
	unsigned char kbuf[RECORD_MAX], obuf[RECORD_MAX], pbuf[RECORD_MAX];
	unsigned char digest[DIGEST_LEN], ndigest[DIGEST_LEN];
	char disp[DISPLAY_MAX], tb[32];
	struct key_rec k, nk;
	struct org_rec o;
	struct plan_rec p;
	int64_t now = kg_now();
	int rc;

	if ((rc = read_key(cat, s->id, digest, kbuf, &k, 1)) != CAT_OK)
		return rc;
	if (k.flags & KEYF_REVOKED)
		return fail(cat, CAT_CONFLICT, NULL, "key %s is revoked; a revoked key cannot be rotated", k.id);
	if (record_expired(k.expires_at, now))
		return fail(cat, CAT_CONFLICT, NULL, "key %s expired at %s; an expired key cannot be rotated",
		    k.id, format_time(k.expires_at, tb, sizeof tb));
	if (k.successor[0] != '\0')
		return fail(cat, CAT_CONFLICT, NULL, "key %s was already rotated to %s (one successor at a time)",
		    k.id, k.successor);
	if ((rc = check_scopes(cat, k.scopes)) != CAT_OK ||
	    (rc = read_org(cat, k.org, obuf, &o, 1)) != CAT_OK ||
	    (rc = read_plan(cat, o.plan, pbuf, &p, 0)) != CAT_OK)
		return rc;
	if (s->grace > 0 && (rc = check_max_keys(cat, k.org, &o, &p, 1,
	    " (during the grace period both keys count; --grace 0 revokes the old key at once)")) != CAT_OK)
		return rc;
	if ((rc = draw_key(cat, (k.flags & KEYF_TEST) != 0, op->out->key, ndigest)) != CAT_OK ||
	    (rc = draw_id(cat, op->out->id)) != CAT_OK)
		return rc;
	nk = k;
	nk.flags = k.flags & KEYF_TEST;
	nk.id = op->out->id;
	nk.successor = "";
	nk.replaces = k.id;
	apikey_display(cat->kg->prefix, op->out->key, strlen(op->out->key), disp, sizeof disp);
	nk.display = disp;
	nk.created_at = now;
	nk.revoked_at = nk.last_used_at = 0;
	if (s->set_expires)
		nk.expires_at = op->expires_at;
	if ((rc = write_new_key(cat, ndigest, &nk)) != CAT_OK ||
	    (rc = seal_secret(cat, nk.id, op->out->key)) != CAT_OK)
		return rc;
	if (s->grace == 0) {
		k.flags |= KEYF_REVOKED;
		k.revoked_at = now;
	} else {
		if (k.expires_at == 0 || k.expires_at > now + s->grace)
			k.expires_at = now + s->grace;
		o.nkeys++;
	}
	k.successor = nk.id;
	snprintf(op->out->replaces, sizeof op->out->replaces, "%s", k.id);
	op->out->expires_at = nk.expires_at;
	op->out->old_expires_at = k.expires_at;
	op->out->old_revoked = s->grace == 0;
	if ((rc = put_key(cat, digest, &k)) != CAT_OK ||
	    (rc = put_org(cat, k.org, &o)) != CAT_OK)
		return rc;
	audit_begin(&cat->audit, "key.rotate", k.org, k.id);
	audit_str(&cat->audit, "successor", nk.id);
	audit_int(&cat->audit, "grace", s->grace);
	if (s->grace == 0)
		audit_time(&cat->audit, "revoked_at", k.revoked_at);
	else
		audit_time(&cat->audit, "old_expires_at", k.expires_at);
	audit_time(&cat->audit, "expires_at", nk.expires_at);
	return audit_commit(cat);
}

int
cat_key_rotate(struct catalog *cat, const struct cat_rotate_spec *spec, struct cat_new_key *out)
{
	struct rotate_op op = {spec, out, 0};
	int rc;

	if (forwarded(cat))
		return catfwd_key_rotate(cat, spec, out);
	memset(out, 0, sizeof *out);
	if (spec->grace < 0 || spec->grace > CAT_GRACE_MAX)
		return fail(cat, CAT_INVALID, "grace", "grace: at most 30d");
	if ((rc = check_expiry(cat, spec->set_expires, spec->expires_at, spec->force,
	    &op.expires_at)) != CAT_OK || (rc = need_orgkeys(cat)) != CAT_OK ||
	    (rc = prepare_vault(cat)) != CAT_OK)
		return rc;
	rc = run(cat, key_rotate_body, &op);
	if (rc != CAT_OK)
		cat_new_key_wipe(out);
	return rc;
}

/* ---- key reveal ---- */

struct reveal_op {
	const char *id;
	char *out;
	size_t cap;
};

static int
key_reveal_body(struct catalog *cat, void *ctx)
{
	struct reveal_op *op = ctx;
	unsigned char kbuf[RECORD_MAX], digest[DIGEST_LEN], sealed[VAULT_SEALED_MAX + 1];
	struct key_rec k;
	size_t len;
	int rc, n;

	if ((rc = read_key(cat, op->id, digest, kbuf, &k, 0)) != CAT_OK)
		return rc;
	if (k.flags & KEYF_REVOKED)
		return fail(cat, CAT_NOTFOUND, NULL, "key %s is revoked: its secret is not kept", k.id);
	rc = store_get(cat->kg->store, cat->txn, TBL_SECRETS, k.id, strlen(k.id), sealed,
	    sizeof sealed, &len, 0);
	if (rc == ST_NOTFOUND)
		return fail(cat, CAT_NOTFOUND, NULL, "the secret of key %s is not kept "
		    "(imported, or made before the store had a vault)", k.id);
	if (rc != ST_OK)
		return store_fail(cat, rc, "sealed secret");
	if ((n = vault_open(cat->kg->vault, k.id, sealed, len, op->out, op->cap)) < 0)
		return fail(cat, CAT_STORE, NULL, "the sealed secret of key %s cannot be opened "
		    "(damaged, or sealed under another vault)", k.id);
	audit_begin(&cat->audit, "key.reveal", k.org, k.id);
	return audit_commit(cat);
}

int
cat_key_reveal(struct catalog *cat, const char *id, char *out, size_t cap)
{
	struct reveal_op op = {id, out, cap};
	char err[600];
	int none, rc;

	if (kg_vault(cat->kg, &none, err, sizeof err) == NULL)
		return fail(cat, none ? CAT_NOTFOUND : CAT_STORE, NULL, "%s", err);
	if ((rc = run(cat, key_reveal_body, &op)) != CAT_OK)
		OPENSSL_cleanse(out, cap);
	return rc;
}

/* ---- key reads ---- */

int
cat_get_key(struct catalog *cat, const char *id, struct cat_key *out)
{
	unsigned char digest[DIGEST_LEN];
	int rc = read_key(cat, id, digest, out->buf, &out->k, 0);

	if (rc == CAT_OK)
		out->last_used_at = key_last_used(cat, digest, &out->k);
	return rc;
}

static unsigned
key_state(const struct key_rec *k, int64_t now)
{
	if (k->flags & KEYF_REVOKED)
		return CAT_LIST_REVOKED;
	if (record_expired(k->expires_at, now))
		return CAT_LIST_EXPIRED;
	return CAT_LIST_ACTIVE;
}

/* One look at the organization-keys table: up to LIST_CHUNK entries. */
struct chunk {
	const char *org;  /* NULL: every org */
	size_t n;
	struct chunk_entry {
		char org[ID_MAX + 1];
		char id[KEYID_LEN + 1];
		unsigned char digest[DIGEST_LEN];
	} e[LIST_CHUNK];
};

static int
chunk_row(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct chunk *c = ctx;
	struct chunk_entry *e = &c->e[c->n];
	struct keyid_rec kid;

	if (orgkey_parse(k, kl, e->org, e->id) != 0 || record_decode_keyid(v, vl, &kid) != 0)
		return 0; /* db check names it */
	if (c->org != NULL && strcmp(c->org, e->org) != 0)
		return 1;
	memcpy(e->digest, kid.digest, DIGEST_LEN);
	return ++c->n == LIST_CHUNK;
}

/* "org:key_...", or -1 when it is not a cursor of a listing of org. */
static int
cursor_parse(const char *cursor, const char *org, char corg[ID_MAX + 1],
    char cid[KEYID_LEN + 1])
{
	const char *colon = strchr(cursor, ':');
	size_t o;

	if (colon == NULL || (o = (size_t)(colon - cursor)) == 0 || o > ID_MAX ||
	    !apikey_id_valid(colon + 1))
		return -1;
	memcpy(corg, cursor, o);
	corg[o] = '\0';
	strcpy(cid, colon + 1);
	if (!record_id_valid(corg) || (org != NULL && strcmp(org, corg) != 0))
		return -1;
	return 0;
}

/* Where a listing starts: after the cursor (a NUL sorts after its key), else at org's first. */
static size_t
list_from(const char *org, const char *corg, const char *cid, unsigned char *from)
{
	size_t n;

	if (corg != NULL) {
		n = orgkey(corg, cid, from);
		from[n++] = '\0';
		return n;
	}
	if (org != NULL)
		return org_prefix(org, from); /* cat_list_keys checked the id */
	from[0] = '\0';
	return 1;
}

struct listing {
	unsigned states;
	size_t limit, shown;
	cat_key_fn fn;
	void *ctx;
	char *next;
	int more, stop;
	int64_t now;
	struct cat_key key;
};

/* One entry of a chunk: read its key, filter it, show it. */
static int
list_entry(struct catalog *cat, struct listing *l, const struct chunk_entry *e)
{
	size_t len;
	int rc;

	rc = store_get(cat->kg->store, NULL, TBL_KEYS, e->digest, DIGEST_LEN, l->key.buf,
	    sizeof l->key.buf, &len, 0);
	if (rc == ST_NOTFOUND)
		return CAT_OK; /* db check names it */
	if (rc != ST_OK)
		return store_fail(cat, rc, "keys");
	if (record_decode_key(l->key.buf, len, &l->key.k) != 0) {
		l->stop = l->fn(NULL, l->ctx) != 0;
		return CAT_OK;
	}
	if (!(key_state(&l->key.k, l->now) & l->states))
		return CAT_OK;
	if (l->limit != 0 && l->shown == l->limit) {
		l->more = l->stop = 1; /* one more exists: the page has a next */
		return CAT_OK;
	}
	l->key.last_used_at = key_last_used(cat, e->digest, &l->key.k);
	l->shown++;
	l->stop = l->fn(&l->key, l->ctx) != 0;
	if (l->next != NULL)
		snprintf(l->next, CAT_CURSOR_MAX, "%s:%s", e->org, e->id);
	return CAT_OK;
}

/* ---- listing plans and organizations ---- */

struct record_list {
	const struct catalog *cat;
	cat_plan_fn plan_fn;
	cat_org_fn org_fn;
	void *ctx;
};

static int
plan_list_row(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct record_list *l = ctx;
	struct plan_rec p;

	(void)k;
	(void)kl;
	return l->plan_fn(record_decode_plan(v, vl, &p) == 0 ? &p : NULL, l->ctx);
}

static int
org_list_row(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct record_list *l = ctx;
	char id[ID_MAX + 1];
	struct org_rec o;

	if (kl == 0 || kl > ID_MAX || record_decode_org(v, vl, &o) != 0)
		return l->org_fn(NULL, NULL, l->ctx);
	memcpy(id, k, kl);
	id[kl] = '\0';
	if (!sees_org(l->cat, id))
		return 0;
	return l->org_fn(id, &o, l->ctx);
}

int
cat_list_plans(struct catalog *cat, cat_plan_fn fn, void *ctx)
{
	struct record_list l = {cat, fn, NULL, ctx};
	int rc = store_scan(cat->kg->store, NULL, TBL_PLANS, plan_list_row, &l);

	return rc == ST_OK ? CAT_OK : store_fail(cat, rc, "plans");
}

int
cat_list_orgs(struct catalog *cat, cat_org_fn fn, void *ctx)
{
	/* an actor bound to an organization sees that one only */
	struct record_list l = {cat, NULL, fn, ctx};
	int rc = store_scan(cat->kg->store, NULL, TBL_ORGS, org_list_row, &l);

	return rc == ST_OK ? CAT_OK : store_fail(cat, rc, "organizations");
}

int
cat_list_keys(struct catalog *cat, const char *org, unsigned states, const char *cursor,
    size_t limit, cat_key_fn fn, void *ctx, char *next)
{
	unsigned char from[ORGKEY_MAX];
	char corg[ID_MAX + 1] = "", cid[KEYID_LEN + 1] = "";
	int has_cursor = cursor != NULL && cursor[0] != '\0';
	struct listing *l = NULL;
	struct chunk *c = NULL;
	size_t flen, i;
	int rc;

	if (next != NULL)
		next[0] = '\0';
	if (org == NULL && cat->org[0] != '\0')
		org = cat->org;
	/* an org filter from a query string: checked before it reaches a key buffer */
	if (org != NULL && (!record_id_valid(org) || !sees_org(cat, org)))
		return not_found(cat, "organization", org);
	if (has_cursor && cursor_parse(cursor, org, corg, cid) != 0)
		return fail(cat, CAT_INVALID, "cursor", "cursor: not one this listing gave");
	if ((rc = need_orgkeys(cat)) != CAT_OK)
		return rc;
	if ((c = malloc(sizeof *c)) == NULL || (l = calloc(1, sizeof *l)) == NULL) {
		rc = fail(cat, CAT_STORE, NULL, "out of memory");
		goto out;
	}
	l->states = states;
	l->limit = limit;
	l->fn = fn;
	l->ctx = ctx;
	l->next = next;
	l->now = kg_now();
	flen = list_from(org, has_cursor ? corg : NULL, cid, from);
	/*
	 * A chunk at a time, with no cursor open while key records are read:
	 * a writer holding a key's page and waiting for the index's page
	 * could otherwise wait on us while we wait on it.
	 */
	for (;;) {
		c->org = org;
		c->n = 0;
		progress(cat);
		rc = store_scan_from(cat->kg->store, NULL, TBL_ORGKEYS, from, flen, chunk_row, c);
		if (rc != ST_OK) {
			rc = store_fail(cat, rc, "keys");
			goto out;
		}
		for (i = 0; i < c->n && !l->stop; i++)
			if ((rc = list_entry(cat, l, &c->e[i])) != CAT_OK)
				goto out;
		if (l->stop || c->n < LIST_CHUNK)
			break;
		flen = list_from(org, c->e[c->n - 1].org, c->e[c->n - 1].id, from);
	}
	if (next != NULL && !l->more)
		next[0] = '\0';
	rc = CAT_OK;
out:
	free(c);
	free(l);
	return rc;
}

/* ---- plans ---- */

struct plan_op {
	const struct cat_plan_spec *spec;
	int created;
};

static int
plan_set_body(struct catalog *cat, void *ctx)
{
	struct plan_op *op = ctx;
	const struct cat_plan_spec *s = op->spec;
	unsigned char buf[RECORD_MAX];
	struct plan_rec p;
	char b[64];
	int rc;

	rc = store_exists(cat->kg->store, cat->txn, TBL_PLANS, s->name, strlen(s->name));
	if (rc != ST_OK && rc != ST_NOTFOUND)
		return store_fail(cat, rc, "plan");
	op->created = rc == ST_NOTFOUND;
	if (op->created) {
		memset(&p, 0, sizeof p);
		p.name = s->name;
		p.created_at = kg_now();
	} else if ((rc = read_plan(cat, s->name, buf, &p, 1)) != CAT_OK) {
		return rc;
	}
	audit_begin(&cat->audit, "plan.set", NULL, s->name);
	audit_bool(&cat->audit, "created", op->created);
	if (s->set_rate) {
		p.rate = s->rate;
		audit_rate(cat, "rate", &p.rate);
	}
	if (s->set_quota) {
		p.quota = s->quota;
		audit_str(&cat->audit, "quota", p.quota.period ? format_quota(&p.quota, b, sizeof b) : NULL);
	}
	if (s->set_max_keys) {
		p.max_keys = s->max_keys;
		audit_int(&cat->audit, "max_keys", p.max_keys);
	}
	if (s->set_overage) {
		p.overage_pct = s->overage_pct;
		audit_int(&cat->audit, "overage_percent", p.overage_pct);
	}
	if (s->set_rules) {
		if (s->nrules > 0)
			memcpy(p.rules, s->rules, s->nrules * sizeof s->rules[0]);
		p.nrules = s->nrules;
		audit_rules(cat, "rules", p.rules, p.nrules);
	}
	p.updated_at = kg_now();
	if ((rc = put_plan(cat, &p)) != CAT_OK || (rc = bump_generation(cat)) != CAT_OK)
		return rc;
	return audit_commit(cat);
}

int
cat_plan_set(struct catalog *cat, const struct cat_plan_spec *s, int *created)
{
	struct plan_op op = {s, 0};
	char sb[DISPLAY_MAX];
	int rc;

	if (forwarded(cat))
		return catfwd_plan_set(cat, s, created);
	if (!record_id_valid(s->name))
		return fail(cat, CAT_INVALID, "name", "plan names are 1-64 of A-Z a-z 0-9 . _ -");
	if (holds_key(cat, s->name))
		return fail(cat, CAT_INVALID, "name", "'%s' holds an API key; a plan name is shown "
		    "in every listing", cat_shown(cat, s->name, sb, sizeof sb));
	if (s->set_rate && !rate_ok(&s->rate))
		return fail(cat, CAT_INVALID, "rate", "rate: not a rate limit keygate takes");
	if (s->set_rules && (rc = check_rules(cat, s->rules, s->nrules)) != CAT_OK)
		return rc;
	/* parse_quota's forms: none; N per day or month (N > 0); N prepaid (N >= 0) */
	if (s->set_quota && (s->quota.period > QUOTA_CREDITS || s->quota.count > QUOTA_COUNT_MAX ||
	    (s->quota.period == QUOTA_NONE && s->quota.count != 0) ||
	    ((s->quota.period == QUOTA_DAY || s->quota.period == QUOTA_MONTH) &&
	    s->quota.count == 0)))
		return fail(cat, CAT_INVALID, "quota", "quota: not a quota keygate takes");
	if (s->set_max_keys && s->max_keys > CAT_MAX_KEYS_MAX)
		return fail(cat, CAT_INVALID, "max_keys", "max_keys: at most %u", CAT_MAX_KEYS_MAX);
	if (s->set_overage && s->overage_pct > CAT_OVERAGE_MAX)
		return fail(cat, CAT_INVALID, "overage", "overage: at most %u%%", CAT_OVERAGE_MAX);
	/* a plan name is logged and sent to the backend with every request */
	if (cat_is_key(cat, s->name))
		return fail(cat, CAT_INVALID, "name", "'%s' is an API key, not a plan name",
		    cat_shown(cat, s->name, sb, sizeof sb));
	if ((rc = run(cat, plan_set_body, &op)) == CAT_OK && created != NULL)
		*created = op.created;
	return rc;
}

struct plan_users {
	const char *plan;
	const char *user;
	char first[ID_MAX + 1];
};

static int
find_plan_user(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct plan_users *pu = ctx;
	struct org_rec o;

	if (record_decode_org(v, vl, &o) == 0 && strcmp(o.plan, pu->plan) == 0) {
		snprintf(pu->first, sizeof pu->first, "%.*s", (int)kl, (const char *)k);
		pu->user = pu->first;
		return 1;
	}
	return 0;
}

static int
plan_delete_body(struct catalog *cat, void *ctx)
{
	const char *name = ctx;
	unsigned char buf[RECORD_MAX];
	struct plan_users pu = {name, NULL, ""};
	struct plan_rec p;
	int rc;

	if ((rc = read_plan(cat, name, buf, &p, 1)) != CAT_OK)
		return rc;
	rc = store_scan(cat->kg->store, cat->txn, TBL_ORGS, find_plan_user, &pu);
	if (rc != ST_OK)
		return store_fail(cat, rc, "organizations");
	if (pu.user != NULL)
		return fail(cat, CAT_CONFLICT, NULL, "plan '%s' is used by organization '%s'", name, pu.user);
	rc = store_del(cat->kg->store, cat->txn, TBL_PLANS, name, strlen(name));
	if (rc != ST_OK)
		return store_fail(cat, rc, "plan");
	if ((rc = bump_generation(cat)) != CAT_OK)
		return rc;
	audit_begin(&cat->audit, "plan.delete", NULL, name);
	return audit_commit(cat);
}

int
cat_plan_delete(struct catalog *cat, const char *name)
{
	if (forwarded(cat))
		return catfwd_plan_delete(cat, name);
	return run(cat, plan_delete_body, (void *)name);
}

int
cat_get_plan(struct catalog *cat, const char *name, struct cat_plan *out)
{
	return read_plan(cat, name, out->buf, &out->p, 0);
}

/* ---- organizations ---- */

struct org_op {
	const char *id;
	const char *plan;
	const char *name;
	const struct cat_org_change *ch;
	int64_t amount;
	uint64_t granted;
	int64_t balance;
};

static int
org_create_body(struct catalog *cat, void *ctx)
{
	struct org_op *op = ctx;
	unsigned char pbuf[RECORD_MAX];
	struct plan_rec p;
	struct org_rec o;
	int rc;

	rc = store_exists(cat->kg->store, cat->txn, TBL_ORGS, op->id, strlen(op->id));
	if (rc == ST_OK)
		return fail(cat, CAT_CONFLICT, NULL, "organization '%s' already exists", op->id);
	if (rc != ST_NOTFOUND)
		return store_fail(cat, rc, "organization");
	if ((rc = read_plan(cat, op->plan, pbuf, &p, 0)) != CAT_OK)
		return rc;
	memset(&o, 0, sizeof o);
	o.name = op->name ? op->name : "";
	o.plan = p.name;
	o.created_at = kg_now();
	if ((rc = put_org(cat, op->id, &o)) != CAT_OK || (rc = bump_generation(cat)) != CAT_OK)
		return rc;
	audit_begin(&cat->audit, "org.create", op->id, op->id);
	audit_str(&cat->audit, "plan", o.plan);
	audit_str(&cat->audit, "name", o.name);
	return audit_commit(cat);
}

int
cat_org_create(struct catalog *cat, const char *id, const char *plan, const char *name)
{
	struct org_op op;
	char sb[DISPLAY_MAX];
	int rc;

	if (forwarded(cat))
		return catfwd_org_create(cat, id, plan, name);
	if (!record_id_valid(id))
		return fail(cat, CAT_INVALID, "id", "organization ids are 1-64 of A-Z a-z 0-9 . _ -");
	if (plan == NULL || plan[0] == '\0')
		return fail(cat, CAT_INVALID, "plan", "plan is required");
	if ((rc = check_name(cat, name)) != CAT_OK)
		return rc;
	/* an org id is logged and sent to the backend with every request */
	if (holds_key(cat, id))
		return fail(cat, CAT_INVALID, "id", "'%s' holds an API key; an organization id "
		    "is logged and sent with every request", cat_shown(cat, id, sb, sizeof sb));
	memset(&op, 0, sizeof op);
	op.id = id;
	op.plan = plan;
	op.name = name;
	return run(cat, org_create_body, &op);
}

int
cat_org_change_empty(const struct cat_org_change *ch)
{
	return ch->plan == NULL && ch->name == NULL && ch->suspended == CAT_KEEP;
}

static int
org_set_body(struct catalog *cat, void *ctx)
{
	struct org_op *op = ctx;
	const struct cat_org_change *ch = op->ch;
	unsigned char buf[RECORD_MAX], pbuf[RECORD_MAX];
	struct plan_rec p;
	struct org_rec o;
	int rc;

	if ((rc = read_org(cat, op->id, buf, &o, 1)) != CAT_OK)
		return rc;
	audit_begin(&cat->audit, "org.set", op->id, op->id);
	if (ch->plan != NULL) {
		if ((rc = read_plan(cat, ch->plan, pbuf, &p, 0)) != CAT_OK)
			return rc;
		o.plan = p.name;
		audit_str(&cat->audit, "plan", o.plan);
	}
	if (ch->name != NULL) {
		o.name = ch->name;
		audit_str(&cat->audit, "name", o.name);
	}
	if (ch->suspended != CAT_KEEP) {
		if (ch->suspended)
			o.flags |= ORGF_SUSPENDED;
		else
			o.flags &= ~(uint32_t)ORGF_SUSPENDED;
		audit_bool(&cat->audit, "suspended", ch->suspended);
	}
	if ((rc = put_org(cat, op->id, &o)) != CAT_OK || (rc = bump_generation(cat)) != CAT_OK)
		return rc;
	return audit_commit(cat);
}

int
cat_org_set(struct catalog *cat, const char *id, const struct cat_org_change *ch)
{
	struct org_op op;
	int rc;

	if (forwarded(cat))
		return catfwd_org_set(cat, id, ch);
	if (cat_org_change_empty(ch))
		return fail(cat, CAT_INVALID, NULL, "nothing to change");
	if (ch->suspended != CAT_KEEP && ch->suspended != 0 && ch->suspended != 1)
		return fail(cat, CAT_INVALID, "suspended", "suspended must be true or false");
	if ((rc = check_name(cat, ch->name)) != CAT_OK)
		return rc;
	memset(&op, 0, sizeof op);
	op.id = id;
	op.ch = ch;
	return run(cat, org_set_body, &op);
}

uint64_t
cat_org_used(struct catalog *cat, const char *org, enum quota_period kind, int64_t now,
    uint32_t *period_id)
{
	enum org_counter w = kind == QUOTA_DAY ? OC_DAY :
	    kind == QUOTA_CREDITS ? OC_CREDITS : OC_MONTH;
	struct org_slot *s = counters_org(cat->kg->counters, org, 0);
	uint32_t pid = counters_period(w, now);

	if (period_id != NULL)
		*period_id = pid;
	return s != NULL ? counters_org_used(s, w, pid) : 0;
}

/* plan's prepaid count + granted - used: what is left to spend */
static int64_t
balance_of(struct catalog *cat, const char *id, uint64_t granted, const struct plan_rec *p)
{
	uint64_t prepaid = p != NULL && p->quota.period == QUOTA_CREDITS ? p->quota.count : 0;

	/* each term is below 2^41: no overflow */
	return (int64_t)(prepaid + granted) -
	    (int64_t)cat_org_used(cat, id, QUOTA_CREDITS, kg_now(), NULL);
}

int64_t
cat_org_balance(struct catalog *cat, const char *id, const struct org_rec *o,
    const struct plan_rec *p)
{
	return balance_of(cat, id, o->credits, p);
}

static int
org_credit_body(struct catalog *cat, void *ctx)
{
	struct org_op *op = ctx;
	unsigned char buf[RECORD_MAX], pbuf[RECORD_MAX];
	struct org_rec o;
	struct plan_rec p;
	int64_t balance;
	int rc;

	if ((rc = read_org(cat, op->id, buf, &o, 1)) != CAT_OK ||
	    (rc = read_plan(cat, o.plan, pbuf, &p, 0)) != CAT_OK)
		return rc;
	if (op->amount < 0 && (uint64_t)-op->amount > o.credits)
		return fail(cat, CAT_CONFLICT, NULL, "only %llu credits were granted; cannot remove %lld",
		    (unsigned long long)o.credits, (long long)-op->amount);
	if (op->amount > 0 && o.credits + (uint64_t)op->amount > QUOTA_USED_MAX)
		return fail(cat, CAT_CONFLICT, NULL, "the total would exceed %llu",
		    (unsigned long long)QUOTA_USED_MAX);
	balance = balance_of(cat, op->id, o.credits, &p);
	/* a take-back never leaves a negative balance; a grant is always welcome */
	if (op->amount < 0 && balance + op->amount < 0)
		return fail(cat, CAT_CONFLICT, NULL, "organization '%s' has %lld credits left; "
		    "cannot remove %lld (a balance never goes below zero)", op->id,
		    (long long)(balance > 0 ? balance : 0), (long long)-op->amount);
	o.credits = (uint64_t)((int64_t)o.credits + op->amount);
	op->granted = o.credits;
	op->balance = balance + op->amount;
	if ((rc = put_org(cat, op->id, &o)) != CAT_OK || (rc = bump_generation(cat)) != CAT_OK)
		return rc;
	audit_begin(&cat->audit, "org.credit", op->id, op->id);
	audit_int(&cat->audit, "amount", op->amount);
	audit_int(&cat->audit, "granted", (int64_t)op->granted);
	audit_int(&cat->audit, "balance", op->balance);
	return audit_commit(cat);
}

int
cat_org_credit(struct catalog *cat, const char *id, int64_t amount, uint64_t *granted,
    int64_t *balance)
{
	struct org_op op;
	int rc;

	if (forwarded(cat))
		return catfwd_org_credit(cat, id, amount, granted, balance);
	if (amount == 0 || amount > (int64_t)QUOTA_USED_MAX || amount < -(int64_t)QUOTA_USED_MAX)
		return fail(cat, CAT_INVALID, "amount", "amount must be 1 to %llu, added or taken back",
		    (unsigned long long)QUOTA_USED_MAX);
	memset(&op, 0, sizeof op);
	op.id = id;
	op.amount = amount;
	if ((rc = run(cat, org_credit_body, &op)) != CAT_OK)
		return rc;
	if (granted != NULL)
		*granted = op.granted;
	if (balance != NULL)
		*balance = op.balance;
	return CAT_OK;
}

int
cat_get_org(struct catalog *cat, const char *id, struct cat_org *out)
{
	int rc = read_org(cat, id, out->buf, &out->o, 0);

	if (rc == CAT_OK)
		snprintf(out->id, sizeof out->id, "%s", id);
	return rc;
}

/* ---- imports ---- */

int
cat_key_import_check(struct catalog *cat, struct cat_import *im)
{
	unsigned char obuf[RECORD_MAX], pbuf[RECORD_MAX];
	struct org_rec o;
	struct plan_rec p;
	size_t i, fresh = 0;
	int rc;

	if ((rc = check_name(cat, im->name)) != CAT_OK)
		return rc;
	if (!sees_org(cat, im->org))
		return not_found(cat, "organization", im->org);
	if ((rc = read_org(cat, im->org, obuf, &o, 0)) != CAT_OK ||
	    (rc = read_plan(cat, o.plan, pbuf, &p, 0)) != CAT_OK ||
	    (rc = need_orgkeys(cat)) != CAT_OK)
		return rc;
	if (p.max_keys == 0)
		return CAT_OK;
	for (i = 0; i < im->n; i++) {
		if (im->items[i].dup)
			continue;
		rc = store_exists(cat->kg->store, NULL, TBL_KEYS, im->items[i].digest, DIGEST_LEN);
		if (rc == ST_NOTFOUND)
			fresh++;
		else if (rc != ST_OK)
			return store_fail(cat, rc, "keys");
	}
	if (o.nkeys + fresh > p.max_keys)
		return fail(cat, CAT_LIMIT, NULL, "%zu new keys would give organization '%s' %zu keys; "
		    "its plan '%s' allows %u", fresh, im->org, o.nkeys + fresh, p.name, p.max_keys);
	return CAT_OK;
}

struct import_op {
	struct cat_import *im;
	size_t from, end;
	uint8_t *fresh;
	size_t added, present;
};

static void
add_plain(struct meta_rec *m, void *ctx)
{
	m->plain_digests += *(size_t *)ctx;
}

/*
 * An import of at most this many new keys names them in its audit record
 * ("keys"), so that every site's keygate-repd mirrors them into its key
 * index one by one (mirror.c); a larger one makes it rebuild the index,
 * which costs a read of every key (150-250 ms a site at 100,000 keys).
 */
#define IMPORT_AUDIT_KEYS 16

/*
 * Every key of the batch is looked at first (held by the org already, by
 * another org, or new), then the new ones must fit under max-keys, then
 * they are written, each with an id whose draw is checked.
 */
static int
import_body(struct catalog *cat, void *ctx)
{
	struct import_op *op = ctx;
	struct cat_import *im = op->im;
	unsigned char obuf[RECORD_MAX], pbuf[RECORD_MAX], kbuf[RECORD_MAX];
	char id[KEYID_LEN + 1], named[IMPORT_AUDIT_KEYS][KEYID_LEN + 1];
	struct org_rec o;
	struct plan_rec p;
	struct key_rec k;
	size_t i, len, nfresh = 0;
	int plain = im->sha256 && digester_peppered(cat->kg->digester), rc;

	op->added = op->present = 0;
	if ((rc = read_org(cat, im->org, obuf, &o, 1)) != CAT_OK ||
	    (rc = read_plan(cat, o.plan, pbuf, &p, 0)) != CAT_OK)
		return rc;
	for (i = op->from; i < op->end; i++) {
		struct cat_import_item *it = &im->items[i];

		op->fresh[i - op->from] = 0;
		if (it->dup)
			continue;
		rc = store_get(cat->kg->store, cat->txn, TBL_KEYS, it->digest, DIGEST_LEN, kbuf,
		    sizeof kbuf, &len, 1);
		if (rc == ST_NOTFOUND) {
			op->fresh[i - op->from] = 1;
			nfresh++;
			continue;
		}
		if (rc != ST_OK)
			return store_fail(cat, rc, "keys");
		if (record_decode_key(kbuf, len, &k) == 0 && strcmp(k.org, im->org) == 0) {
			op->present++;
			continue;
		}
		return fail(cat, CAT_CONFLICT, NULL,
		    "line %lu: this key already belongs to another organization", it->line);
	}
	if ((rc = check_max_keys(cat, im->org, &o, &p, (uint32_t)nfresh, "")) != CAT_OK)
		return rc;
	for (i = op->from; i < op->end; i++) {
		struct cat_import_item *it = &im->items[i];

		if (!op->fresh[i - op->from])
			continue;
		if ((rc = draw_id(cat, id)) != CAT_OK)
			return rc;
		memset(&k, 0, sizeof k);
		k.flags = KEYF_IMPORTED | (it->test ? KEYF_TEST : 0) | (plain ? KEYF_PLAIN : 0);
		k.id = id;
		k.org = im->org;
		k.name = im->name ? im->name : "";
		k.user = "";
		k.display = it->display;
		k.successor = k.replaces = "";
		k.created_at = kg_now();
		if ((rc = write_new_key(cat, it->digest, &k)) != CAT_OK)
			return rc;
		if (op->added < IMPORT_AUDIT_KEYS)
			strcpy(named[op->added], id);
		op->added++;
	}
	o.nkeys += (uint32_t)op->added;
	if ((rc = put_org(cat, im->org, &o)) != CAT_OK)
		return rc;
	/* A peppered store looks plain digests up only while it holds some. */
	if (plain && op->added > 0 && (rc = update_meta(cat, add_plain, &op->added)) != CAT_OK)
		return rc;
	if (op->added == 0)
		return CAT_OK; /* nothing changed: nothing to audit */
	audit_begin(&cat->audit, "key.import", im->org, NULL);
	audit_int(&cat->audit, "added", (int64_t)op->added);
	audit_int(&cat->audit, "present", (int64_t)op->present);
	audit_bool(&cat->audit, "sha256", im->sha256);
	audit_str(&cat->audit, "name", im->name ? im->name : "");
	if (op->added <= IMPORT_AUDIT_KEYS) {
		audit_list(&cat->audit, "keys", op->added);
		for (i = 0; i < op->added; i++)
			audit_item(&cat->audit, named[i]);
	}
	return audit_commit(cat);
}

int
cat_key_import_batch(struct catalog *cat, struct cat_import *im, size_t from)
{
	struct import_op op;
	int rc;

	if (forwarded(cat))
		return catfwd_key_import_batch(cat, im, from);
	if (from >= im->n)
		return CAT_OK;
	if (!sees_org(cat, im->org))
		return not_found(cat, "organization", im->org);
	if ((rc = need_orgkeys(cat)) != CAT_OK)
		return rc;
	memset(&op, 0, sizeof op);
	op.im = im;
	op.from = from;
	op.end = im->n - from > CAT_IMPORT_BATCH ? from + CAT_IMPORT_BATCH : im->n;
	if ((op.fresh = calloc(op.end - from, 1)) == NULL)
		return fail(cat, CAT_STORE, NULL, "out of memory");
	rc = run(cat, import_body, &op);
	free(op.fresh);
	/* counted only once the batch commits: run() may have run the body again */
	if (rc == CAT_OK) {
		im->added += op.added;
		im->present += op.present;
	}
	return rc;
}

/* ---- pruning ---- */

struct prune_op {
	int64_t before;  /* a day (usage) or seconds (audit) */
	uint64_t n;
};

static int
usage_prune_body(struct catalog *cat, void *ctx)
{
	struct prune_op *op = ctx;
	char date[32];
	int rc;

	rc = tally_prune(cat->kg->store, cat->txn, op->before, PRUNE_BATCH, &op->n);
	if (rc != ST_OK)
		return store_fail(cat, rc, "history");
	if (op->n == 0)
		return CAT_OK;
	format_time(op->before * 86400, date, sizeof date);
	date[10] = '\0';
	audit_begin(&cat->audit, "usage.prune", NULL, NULL);
	audit_str(&cat->audit, "before", date);
	audit_int(&cat->audit, "deleted", (int64_t)op->n);
	return audit_commit(cat);
}

int
cat_usage_prune(struct catalog *cat, int64_t before_day, uint64_t *deleted)
{
	struct prune_op op = {before_day, 0};
	char date[32];
	int rc;

	if (forwarded(cat))
		return catfwd_usage_prune(cat, before_day, deleted);
	*deleted = 0;
	/* a day too far to be a time (keygate-repd takes any from a message) is no date */
	if (before_day > INT64_MAX / 86400)
		return fail(cat, CAT_INVALID, "before", "before is not a day keygate takes");
	if (before_day > kg_now() / 86400 + 1) {
		format_time(before_day * 86400, date, sizeof date);
		date[10] = '\0';
		return fail(cat, CAT_INVALID, "before", "before %s is in the future", date);
	}
	do {
		if ((rc = run(cat, usage_prune_body, &op)) != CAT_OK)
			return rc;
		*deleted += op.n;
	} while (op.n == PRUNE_BATCH);
	return CAT_OK;
}

static int
audit_prune_body(struct catalog *cat, void *ctx)
{
	struct prune_op *op = ctx;
	unsigned char limit[8];
	char when[32];
	int i, rc;

	for (i = 0; i < 8; i++)
		limit[i] = (unsigned char)((uint64_t)op->before * 1000000000u >> (56 - 8 * i));
	rc = store_del_below(cat->kg->store, cat->txn, TBL_AUDIT, limit, sizeof limit,
	    PRUNE_BATCH, &op->n);
	if (rc != ST_OK)
		return store_fail(cat, rc, "audit records");
	if (op->n == 0)
		return CAT_OK;
	/* newer than `before` (never in the future): the next batch keeps it */
	audit_begin(&cat->audit, "audit.prune", NULL, NULL);
	audit_str(&cat->audit, "before", format_time(op->before, when, sizeof when));
	audit_int(&cat->audit, "deleted", (int64_t)op->n);
	return audit_commit(cat);
}

int
cat_audit_prune(struct catalog *cat, int64_t before, uint64_t *deleted)
{
	struct prune_op op = {before, 0};
	char when[32];
	int rc;

	if (forwarded(cat))
		return catfwd_audit_prune(cat, before, deleted);
	*deleted = 0;
	if (before > kg_now())
		return fail(cat, CAT_INVALID, "before", "before %s is in the future",
		    format_time(before, when, sizeof when));
	if (before < 0)
		op.before = 0;
	do {
		if ((rc = run(cat, audit_prune_body, &op)) != CAT_OK)
			return rc;
		*deleted += op.n;
	} while (op.n == PRUNE_BATCH);
	return CAT_OK;
}

/* ---- reading the audit trail ---- */

struct audit_walk {
	const char *org;
	uint64_t since_ns;
	size_t limit, shown;
	cat_audit_fn fn;
	void *ctx;
	struct cat_audit *a;
	char *next;
	int more;
};

static int
audit_row(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct audit_walk *w = ctx;
	struct cat_audit *a = w->a;
	uint64_t seq;

	if (audit_parse_key(k, kl, &a->at_ns, &seq) != 0)
		return w->fn(NULL, w->ctx) != 0;
	if (a->at_ns < w->since_ns)
		return 1;
	if (vl > sizeof a->buf)
		return w->fn(NULL, w->ctx) != 0;
	memcpy(a->buf, v, vl);
	if (record_decode_audit(a->buf, vl, &a->r) != 0)
		return w->fn(NULL, w->ctx) != 0;
	if (w->org != NULL && strcmp(a->r.org, w->org) != 0)
		return 0;
	if (w->limit != 0 && w->shown == w->limit) {
		w->more = 1;
		return 1;
	}
	audit_cursor(k, a->cursor);
	w->shown++;
	if (w->next != NULL)
		memcpy(w->next, a->cursor, AUDIT_CURSOR_LEN + 1);
	return w->fn(a, w->ctx) != 0;
}

int
cat_audit_list(struct catalog *cat, const char *org, int64_t since, const char *cursor,
    size_t limit, cat_audit_fn fn, void *ctx, char *next)
{
	unsigned char before[AUDIT_KEY_LEN];
	struct audit_walk w;
	int rc, from_cursor = cursor != NULL && cursor[0] != '\0';

	if (next != NULL)
		next[0] = '\0';
	if (from_cursor && audit_cursor_parse(cursor, before) != 0)
		return fail(cat, CAT_INVALID, "cursor", "cursor: not one this listing gave");
	memset(&w, 0, sizeof w);
	w.org = org;
	w.since_ns = since > 0 ? (uint64_t)since * 1000000000u : 0;
	w.limit = limit;
	w.fn = fn;
	w.ctx = ctx;
	w.next = next;
	if ((w.a = malloc(sizeof *w.a)) == NULL)
		return fail(cat, CAT_STORE, NULL, "out of memory");
	rc = store_scan_back(cat->kg->store, NULL, TBL_AUDIT, from_cursor ? before : NULL,
	    from_cursor ? sizeof before : 0, audit_row, &w);
	free(w.a);
	if (rc != ST_OK)
		return store_fail(cat, rc, "audit records");
	if (next != NULL && !w.more)
		next[0] = '\0';
	return CAT_OK;
}

/* ---- checks ---- */

struct verify {
	struct catalog *cat;
	uint64_t n;
	char *err;
	size_t errlen;
	int bad;
};

static int
verify_entry(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct verify *vf = ctx;
	unsigned char buf[RECORD_MAX];
	char org[ID_MAX + 1], id[KEYID_LEN + 1];
	struct keyid_rec kid;
	struct key_rec r;
	size_t len;

	vf->n++;
	if (orgkey_parse(k, kl, org, id) != 0 || record_decode_keyid(v, vl, &kid) != 0) {
		snprintf(vf->err, vf->errlen, "a damaged entry");
	} else if (store_get(vf->cat->kg->store, NULL, TBL_KEYS, kid.digest, DIGEST_LEN, buf,
	    sizeof buf, &len, 0) != ST_OK || record_decode_key(buf, len, &r) != 0) {
		snprintf(vf->err, vf->errlen, "key %s of '%s' points to no key", id, org);
	} else if (strcmp(r.org, org) != 0 || strcmp(r.id, id) != 0) {
		snprintf(vf->err, vf->errlen, "key %s of '%s' points to key %s of '%s'", id, org,
		    r.id, r.org);
	} else {
		return 0;
	}
	vf->bad = 1;
	return 1;
}

static int
verify_key(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct verify *vf = ctx;
	unsigned char key[ORGKEY_MAX];
	struct key_rec r;

	(void)k;
	if (kl != DIGEST_LEN || record_decode_key(v, vl, &r) != 0 ||
	    strlen(r.org) > ID_MAX || strlen(r.id) != KEYID_LEN)
		return 0; /* damaged: db check names it */
	if (store_exists(vf->cat->kg->store, NULL, TBL_ORGKEYS, key, orgkey(r.org, r.id, key)) ==
	    ST_OK)
		return 0;
	snprintf(vf->err, vf->errlen, "key %s of '%s' is missing", r.id, r.org);
	vf->bad = 1;
	return 1;
}

int
cat_verify_orgkeys(struct catalog *cat, uint64_t *entries, char *err, size_t errlen)
{
	unsigned char buf[RECORD_MAX];
	struct meta_rec m;
	struct verify vf;
	int rc;

	*entries = 0;
	if (kg_read_meta(cat->kg, NULL, buf, sizeof buf, &m, 0) != ST_OK) {
		snprintf(err, errlen, "the meta record cannot be read");
		return -1;
	}
	if (!(m.flags & METAF_ORGKEYS))
		return 1;
	memset(&vf, 0, sizeof vf);
	vf.cat = cat;
	vf.err = err;
	vf.errlen = errlen;
	rc = store_scan(cat->kg->store, NULL, TBL_ORGKEYS, verify_entry, &vf);
	if (rc == ST_OK && !vf.bad)
		rc = store_scan(cat->kg->store, NULL, TBL_KEYS, verify_key, &vf);
	if (rc != ST_OK && !vf.bad)
		snprintf(err, errlen, "cannot be read: %s", store_errmsg(cat->kg->store));
	*entries = vf.n;
	return rc == ST_OK && !vf.bad ? 0 : -1;
}

/* ---- a new store ---- */

int
cat_init_store(struct store *s, const struct cat_actor *actor, const struct meta_rec *m,
    const struct vault_meta_rec *vault, char *err, size_t errlen)
{
	unsigned char buf[RECORD_MAX], vbuf[RECORD_MAX];
	int vn = 0;
	struct audit_entry *e;
	struct store_txn *t;
	struct meta_rec mm = *m;
	int n, rc;

	/* a new store has no keys: its table of keys by organization is complete */
	mm.flags |= METAF_ORGKEYS;
	if ((n = record_encode_meta(&mm, buf, sizeof buf)) < 0) {
		snprintf(err, errlen, "pepper file path too long");
		return -1;
	}
	if ((e = malloc(sizeof *e)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	audit_begin(e, "store.init", NULL, NULL);
	audit_str(e, "prefix", m->prefix);
	audit_bool(e, "peppered", (m->flags & METAF_PEPPER) != 0);
	audit_bool(e, "vault", vault != NULL);
	if (vault != NULL && (vn = record_encode_vault_meta(vault, vbuf, sizeof vbuf)) < 0) {
		free(e);
		snprintf(err, errlen, "vault file path too long");
		return -1;
	}
	if ((rc = store_txn_begin(s, &t)) == ST_OK) {
		rc = store_put(s, t, TBL_META, "store", 5, buf, (size_t)n, 1);
		if (rc == ST_OK && vault != NULL)
			rc = store_put(s, t, TBL_META, "vault", 5, vbuf, (size_t)vn, 1);
		if (rc == ST_OK)
			rc = audit_put(s, t, e, actor->name, actor->remote, kg_now_ns());
		if (rc == ST_OK)
			rc = store_txn_commit(t);
		else
			store_txn_abort(t);
	}
	free(e);
	if (rc != ST_OK) {
		snprintf(err, errlen, "cannot write the store: %s", store_errmsg(s));
		return -1;
	}
	return 0;
}
