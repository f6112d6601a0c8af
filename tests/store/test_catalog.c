/*
 * test_catalog.c - the catalog (the one writer of plans, orgs, keys and
 * the audit) against a real store:
 *  1. plans: create, update, refusals; delete refused while in use;
 *  2. organizations: create, set, credits that never leave a negative
 *     balance, and the generation every change bumps;
 *  3. keys: create (max-keys, user ids, expiry, scopes), revoke
 *     (idempotent), rotate (what is inherited, what is refused);
 *  4. every failed operation changes nothing and writes no audit record;
 *  5. the key index mirrors every committed change;
 *  6. a listing's cursor is stable while keys are made;
 *  7. imports: present, added, another org's key refused;
 *  8. the audit: newest first, by org, paged, pruned (and audited);
 *  9. a store made before the table of keys by organization gets it;
 * 10. an actor bound to an organization sees no other's keys, and grants
 *     no scope it does not hold;
 * 11. 8 processes creating keys at once against a max-keys of 5 make 5.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "catalog.h"
#include "counters.h"
#include "keyindex.h"
#include "ledger.h"
#include "store.h"
#include "tap.h"
#include "vault.h"

static char dir[256];
static struct kg kg;
static const struct cat_actor cli_actor = {"cli:test", NULL, SCOPES_ALL, NULL};

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "test_catalog: %s: %s\n", what, why);
	exit(99);
}

/* What keygate init makes: meta, counter file, an empty key index. */
static void
make_store(const struct vault_meta_rec *vm)
{
	struct meta_rec m;
	struct store *s;
	struct counters *ctr;
	char err[600];

	snprintf(dir, sizeof dir, "/tmp/kgcat.XXXXXX");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp", "failed");
	if (store_write_config(dir, 8u << 20, err, sizeof err) != 0 ||
	    (s = store_open(dir, STORE_CREATE, err, sizeof err)) == NULL)
		die("store", err);
	memset(&m, 0, sizeof m);
	m.format = STORE_FORMAT;
	m.prefix = "kg";
	m.pepper_path = "";
	if (cat_init_store(s, &cli_actor, &m, vm, err, sizeof err) != 0 ||
	    ledger_set_slots(s, 1024, err, sizeof err) != 0 ||
	    counters_create(dir, 1024, err, sizeof err) != 0 ||
	    (ctr = counters_open(dir, err, sizeof err)) == NULL ||
	    keyindex_rebuild(dir, counters_index_anchor(ctr), s, NULL, err, sizeof err) != 0)
		die("init", err);
	counters_close(ctr);
	store_close(s);
}

static void
open_kg(void)
{
	char err[600];

	if (kg_open(&kg, dir, 0, err, sizeof err) != 0)
		die("kg_open", err);
}

static struct catalog *
session(const struct cat_actor *a)
{
	struct catalog *cat = cat_open(&kg, a ? a : &cli_actor, NULL);

	if (cat == NULL)
		die("cat_open", "NULL");
	return cat;
}

static void
end(struct catalog *cat)
{
	char err[600];

	if (cat_close(cat, err, sizeof err) != 0)
		die("cat_close", err);
}

static int
count_row(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	(*(uint64_t *)ctx)++;
	return 0;
}

/* Exact (a btree's fast statistics are not). */
static uint64_t
count(enum store_tbl t)
{
	uint64_t n = 0;

	if (store_scan(kg.store, NULL, t, count_row, &n) != ST_OK)
		die("count", store_tbl_name(t));
	return n;
}

/* A key of the store's format, as someone might paste it. */
static const char *
a_key(void)
{
	static char key[APIKEY_BUF];

	if (apikey_generate("kg", MODE_LIVE, key, sizeof key) < 0)
		die("apikey_generate", "failed");
	return key;
}

/* a key with text around it, for ids and names that must not hold one */
static char wrapped[APIKEY_BUF + 16];

static uint64_t
meta_generation(void)
{
	unsigned char buf[RECORD_MAX];
	struct meta_rec m;

	if (kg_read_meta(&kg, NULL, buf, sizeof buf, &m, 0) != ST_OK)
		die("meta", "unreadable");
	return m.generation;
}

/* What a failed operation must leave as it was: every table's size and the generation. */
struct snapshot {
	uint64_t n[TBL_COUNT], gen, ctr_gen;
};

static void
snap(struct snapshot *s)
{
	int t;

	for (t = 0; t < TBL_COUNT; t++)
		s->n[t] = count((enum store_tbl)t);
	s->gen = meta_generation();
	s->ctr_gen = counters_generation(kg.counters);
}

static int
same(const struct snapshot *a)
{
	struct snapshot b;

	snap(&b);
	return memcmp(a, &b, sizeof b) == 0;
}

static const char *
msg(struct catalog *cat)
{
	return cat_error(cat)->msg;
}

/* The index is current and agrees with the store. */
static int
index_mirrors(void)
{
	char err[600];
	int rc = keyindex_verify(dir, counters_index_anchor(kg.counters), kg.store, err, sizeof err);

	if (rc != 0)
		diag("index: %s", err);
	return rc == 0;
}

static void
plan(struct catalog *cat, const char *name, uint32_t max_keys, const char *quota)
{
	struct cat_plan_spec ps;
	const char *why;

	memset(&ps, 0, sizeof ps);
	ps.name = name;
	ps.set_max_keys = 1;
	ps.max_keys = max_keys;
	if (quota != NULL) {
		ps.set_quota = 1;
		if (parse_quota(quota, &ps.quota, &why) != 0)
			die("quota", why);
	}
	if (cat_plan_set(cat, &ps, NULL) != CAT_OK)
		die("plan set", msg(cat));
}

static int
new_key(struct catalog *cat, const char *org, struct cat_new_key *nk)
{
	struct cat_key_spec ks;

	memset(&ks, 0, sizeof ks);
	ks.org = org;
	return cat_key_create(cat, &ks, nk);
}

static void
test_plans(void)
{
	struct catalog *cat = session(NULL);
	struct cat_plan_spec ps;
	struct cat_plan cp;
	struct rule r;
	struct rule_view v;
	struct snapshot s;
	const char *why;
	uint64_t g0 = meta_generation();
	int created = -1;

	memset(&ps, 0, sizeof ps);
	ps.name = "pro";
	ps.set_max_keys = 1;
	ps.max_keys = 3;
	is_int(cat_plan_set(cat, &ps, &created), CAT_OK, "plan set: a new plan");
	is_int(created, 1, "... created");
	ok(meta_generation() == g0 + 1, "... and the generation bumped");
	rule_parse(RULE_ALLOW, "GET /v1/*", &r, &why);
	record_rule_view(&r, &v);
	memset(&ps, 0, sizeof ps);
	ps.name = "pro";
	ps.set_rules = 1;
	ps.rules = &v;
	ps.nrules = 1;
	is_int(cat_plan_set(cat, &ps, &created), CAT_OK, "plan set: an update");
	is_int(created, 0, "... not created");
	ok(cat_get_plan(cat, "pro", &cp) == CAT_OK && cp.p.max_keys == 3 && cp.p.nrules == 1,
	    "... which changed the rules only");

	snap(&s);
	ps.name = "bad name";
	is_int(cat_plan_set(cat, &ps, NULL), CAT_INVALID, "plan set: a bad name is refused");
	is_str(cat_error(cat)->field, "name", "... naming the field");
	ps.name = a_key();
	ps.nrules = 0;
	is_int(cat_plan_set(cat, &ps, NULL), CAT_INVALID, "plan set: a key as the name is refused");
	ok(strstr(msg(cat), ps.name + 12) == NULL, "... without echoing it (%s)", msg(cat));
	snprintf(wrapped, sizeof wrapped, "x%sy", a_key());
	ps.name = wrapped;
	is_int(cat_plan_set(cat, &ps, NULL), CAT_INVALID, "plan set: a name with a key inside is refused");
	ok(strstr(msg(cat), wrapped + 13) == NULL, "... without echoing it (%s)", msg(cat));
	ps.name = "p2";
	ps.set_quota = 1;
	ps.quota.period = QUOTA_DAY;
	ps.quota.count = 0;
	is_int(cat_plan_set(cat, &ps, NULL), CAT_INVALID, "plan set: 0 a day is refused");
	ps.set_quota = 0;
	ps.set_max_keys = 1;
	ps.max_keys = CAT_MAX_KEYS_MAX + 1;
	is_int(cat_plan_set(cat, &ps, NULL), CAT_INVALID, "plan set: max-keys over its bound is refused");
	is_int(cat_plan_delete(cat, "nothing"), CAT_NOTFOUND, "plan delete: unknown");
	ok(same(&s), "... all of which changed nothing and audited nothing");
	end(cat);
}

static void
test_orgs(void)
{
	struct catalog *cat = session(NULL);
	struct cat_org_change ch = {NULL, NULL, CAT_KEEP};
	struct cat_org co;
	struct snapshot s;
	struct org_slot *slot;
	uint64_t granted, g0, cg0;
	int64_t balance;
	int i;

	plan(cat, "prepaid", 0, "100");
	g0 = meta_generation();
	cg0 = counters_generation(kg.counters);
	is_int(cat_org_create(cat, "acme", "pro", "Acme Inc"), CAT_OK, "org create");
	ok(meta_generation() == g0 + 1 && counters_generation(kg.counters) == cg0 + 1,
	    "... bumps both generations");
	snap(&s);
	is_int(cat_org_create(cat, "acme", "pro", NULL), CAT_CONFLICT, "org create: twice");
	is_int(cat_org_create(cat, "beta", "nothing", NULL), CAT_NOTFOUND, "org create: unknown plan");
	is_int(cat_org_create(cat, "a b", "pro", NULL), CAT_INVALID, "org create: a bad id");
	snprintf(wrapped, sizeof wrapped, "gA%samma", a_key());
	is_int(cat_org_create(cat, wrapped, "pro", NULL), CAT_INVALID,
	    "org create: an id with a key inside (found by fuzz_api)");
	ok(strstr(msg(cat), wrapped + 14) == NULL, "... without echoing it (%s)", msg(cat));
	is_int(cat_org_create(cat, "beta", "pro", "tab\there"), CAT_INVALID, "org create: a bad name");
	is_int(cat_org_set(cat, "acme", &ch), CAT_INVALID, "org set: nothing to change");
	ch.plan = "nothing";
	is_int(cat_org_set(cat, "acme", &ch), CAT_NOTFOUND, "org set: unknown plan");
	ch.plan = NULL;
	ch.suspended = 1;
	is_int(cat_org_set(cat, "nobody", &ch), CAT_NOTFOUND, "org set: unknown org");
	ok(same(&s), "... all of which changed nothing and audited nothing");
	is_int(cat_org_set(cat, "acme", &ch), CAT_OK, "org set: suspend");
	ok(cat_get_org(cat, "acme", &co) == CAT_OK && (co.o.flags & ORGF_SUSPENDED),
	    "... suspended");
	ch.suspended = 0;
	ch.plan = "prepaid";
	is_int(cat_org_set(cat, "acme", &ch), CAT_OK, "org set: resume, on a prepaid plan");

	/* credits: the plan's 100 + what was granted - what was used */
	is_int(cat_org_credit(cat, "acme", 50, &granted, &balance), CAT_OK, "org credit +50");
	ok(granted == 50 && balance == 150, "... 50 granted, a balance of 150 (%lld)", (long long)balance);
	slot = counters_org(kg.counters, "acme", 1);
	for (i = 0; i < 130; i++)
		counters_count(kg.counters, slot, OC_CREDITS, kg_now());
	snap(&s);
	is_int(cat_org_credit(cat, "acme", -30, NULL, NULL), CAT_CONFLICT,
	    "org credit -30 with 20 left: refused, a balance never goes below zero");
	ok(strstr(msg(cat), "20 credits left") != NULL, "... saying what is left (%s)", msg(cat));
	is_int(cat_org_credit(cat, "acme", -60, NULL, NULL), CAT_CONFLICT,
	    "org credit -60: more than was granted");
	is_int(cat_org_credit(cat, "acme", 0, NULL, NULL), CAT_INVALID, "org credit 0: refused");
	ok(same(&s), "... changing nothing");
	is_int(cat_org_credit(cat, "acme", -20, &granted, &balance), CAT_OK, "org credit -20: to zero");
	ok(granted == 30 && balance == 0, "... 30 granted, a balance of 0");
	ch.plan = "pro";
	ch.suspended = CAT_KEEP;
	cat_org_set(cat, "acme", &ch);
	end(cat);
	ok(index_mirrors(), "the index mirrors the orgs");
}

/* A key's record by id, for the checks below. */
static int
get(struct catalog *cat, const char *id, struct cat_key *ck)
{
	return cat_get_key(cat, id, ck);
}

static void
test_keys(void)
{
	struct catalog *cat = session(NULL);
	struct cat_new_key nk, nk2, nk3, refused;
	struct cat_key_spec ks;
	struct cat_rotate_spec rs;
	struct cat_key ck, ck2;
	struct keyindex *x;
	struct keyindex_hit hit;
	struct snapshot s;
	struct rule r;
	struct rule_view v;
	unsigned char d[DIGEST_LEN];
	const char *why;
	int64_t first_expiry;
	char expired_id[KEYID_LEN + 1];
	int already;

	/* pro allows 3 keys */
	memset(&ks, 0, sizeof ks);
	ks.org = "acme";
	ks.name = "ci";
	ks.user = "u-1";
	ks.test = 1;
	ks.set_expires = 1;
	ks.expires_at = kg_now() + 86400;
	ks.rate.count = 5;
	ks.rate.window_s = 1;
	rule_parse(RULE_ALLOW, "POST /hooks/*", &r, &why);
	record_rule_view(&r, &v);
	ks.rules = &v;
	ks.nrules = 1;
	ks.scopes = SCOPE_KEYS_READ | SCOPE_VERIFY;
	is_int(cat_key_create(cat, &ks, &nk), CAT_OK, "key create with every option");
	first_expiry = ks.expires_at;
	ok(strncmp(nk.key, "kg_test_", 8) == 0 && apikey_id_valid(nk.id), "... a test key and its id");
	ok(get(cat, nk.id, &ck) == CAT_OK && strcmp(ck.k.name, "ci") == 0 &&
	    cat_key_scopes(&ck.k) == (SCOPE_KEYS_READ | SCOPE_VERIFY) && ck.k.nrules == 1,
	    "... stored with its scopes and rules");
	snap(&s);
	ks.user = a_key();
	is_int(cat_key_create(cat, &ks, &nk2), CAT_INVALID, "a key as the user id: refused");
	ok(strstr(msg(cat), ks.user + 12) == NULL, "... without echoing it");
	snprintf(wrapped, sizeof wrapped, "user-%s", a_key());
	ks.user = wrapped;
	is_int(cat_key_create(cat, &ks, &nk2), CAT_INVALID, "a user id with a key inside: refused");
	ok(strstr(msg(cat), wrapped + 17) == NULL, "... without echoing it");
	ks.user = " padded";
	is_int(cat_key_create(cat, &ks, &nk2), CAT_INVALID, "a user id with a leading space: refused");
	is_str(cat_error(cat)->field, "user", "... naming the field");
	ks.user = NULL;
	ks.expires_at = kg_now() - 10;
	is_int(cat_key_create(cat, &ks, &nk2), CAT_INVALID, "an expiry in the past: refused");
	is_str(cat_error(cat)->field, "expires", "... naming the field");
	ks.set_expires = 0;
	ks.scopes = 0x40;
	is_int(cat_key_create(cat, &ks, &nk2), CAT_INVALID, "an unknown scope: refused");
	ks.scopes = 0;
	ks.org = "nobody";
	is_int(cat_key_create(cat, &ks, &nk2), CAT_NOTFOUND, "an unknown org");
	ok(nk2.key[0] == '\0', "... and no key handed out");
	ok(same(&s), "... none of which changed anything or audited anything");

	/* expired at the epoch, forced: expired, never "does not expire" */
	memset(&ks, 0, sizeof ks);
	ks.org = "acme";
	ks.set_expires = 1;
	ks.expires_at = 0;
	ks.force = 1;
	is_int(cat_key_create(cat, &ks, &nk2), CAT_OK, "an expiry at the epoch, forced");
	ok(get(cat, nk2.id, &ck2) == CAT_OK && ck2.k.expires_at == RECORD_EXPIRED_AT,
	    "... stored as already expired");
	strcpy(expired_id, nk2.id);
	is_int(new_key(cat, "acme", &nk3), CAT_OK, "a third key");
	snap(&s);
	/* the expired key still counts in the org record, not in the recount */
	is_int(new_key(cat, "acme", &nk3), CAT_OK, "a fourth: the expired one does not count");
	snap(&s);
	is_int(new_key(cat, "acme", &refused), CAT_LIMIT, "a fifth: max-keys reached");
	ok(strstr(msg(cat), "allows 3") != NULL, "... saying so (%s)", msg(cat));
	ok(same(&s), "... changing nothing");

	/* revoke: idempotent */
	is_int(cat_key_revoke(cat, nk3.id, &already), CAT_OK, "revoke");
	is_int(already, 0, "... it was active");
	snap(&s);
	is_int(cat_key_revoke(cat, nk3.id, &already), CAT_OK, "revoke again");
	is_int(already, 1, "... it was revoked already");
	ok(same(&s), "... which writes nothing, audits nothing");
	is_int(cat_key_revoke(cat, "key_0000000000000000", NULL), CAT_NOTFOUND, "revoke an unknown key");
	is_int(cat_key_revoke(cat, nk.key, NULL), CAT_NOTFOUND, "revoke a pasted key");
	ok(strstr(msg(cat), nk.key + 12) == NULL && strstr(msg(cat), "key id is key_") != NULL,
	    "... says what an id is, without echoing the key (%s)", msg(cat));

	/* rotate */
	memset(&rs, 0, sizeof rs);
	rs.id = nk.id;
	rs.grace = 3600;
	is_int(cat_key_rotate(cat, &rs, &nk2), CAT_OK, "rotate with a grace period");
	ok(get(cat, nk2.id, &ck2) == CAT_OK && get(cat, nk.id, &ck) == CAT_OK, "... both keys read");
	ok(strcmp(ck2.k.name, "ci") == 0 && strcmp(ck2.k.user, "u-1") == 0 &&
	    (ck2.k.flags & KEYF_TEST) && ck2.k.scopes == ck.k.scopes && ck2.k.rate.count == 5 &&
	    ck2.k.nrules == 1 && strcmp(nk2.replaces, nk.id) == 0,
	    "... the successor inherits name, user, mode, scopes, rate and rules");
	ok(strcmp(ck.k.successor, nk2.id) == 0 && ck.k.expires_at <= kg_now() + 3600,
	    "... the old key names it and expires with the grace");
	ok(ck2.k.expires_at == first_expiry && nk2.expires_at == first_expiry,
	    "... and the successor keeps the old key's own expiry (a day)");
	snap(&s);
	is_int(cat_key_rotate(cat, &rs, &refused), CAT_CONFLICT, "rotate it again: one successor at a time");
	rs.id = nk3.id; /* revoked above */
	rs.grace = 0;
	is_int(cat_key_rotate(cat, &rs, &refused), CAT_CONFLICT, "rotate a revoked key");
	rs.id = expired_id;
	ok(cat_key_rotate(cat, &rs, &refused) == CAT_CONFLICT && strstr(msg(cat), "expired") != NULL,
	    "rotate an expired key");
	rs.id = nk2.id;
	rs.grace = CAT_GRACE_MAX + 1;
	is_int(cat_key_rotate(cat, &rs, &refused), CAT_INVALID, "a grace over 30 days");
	rs.grace = 3600;
	is_int(cat_key_rotate(cat, &rs, &refused), CAT_LIMIT, "a grace at max-keys");
	ok(same(&s), "... none of which changed anything or audited anything");
	rs.grace = 0;
	is_int(cat_key_rotate(cat, &rs, &nk3), CAT_OK, "no grace at max-keys: fine");
	ok(nk3.old_revoked && get(cat, nk2.id, &ck) == CAT_OK && (ck.k.flags & KEYF_REVOKED),
	    "... the old key is revoked at once");
	end(cat);

	ok(index_mirrors(), "the index mirrors every committed key change");
	x = keyindex_open(dir, counters_index_anchor(kg.counters));
	digester_digest(kg.digester, nk3.key, strlen(nk3.key), d);
	ok(x != NULL && keyindex_lookup(x, d, &hit) == KIX_SLOW, "the rotated key is in it (slow: a user id)");
	digester_digest(kg.digester, nk2.key, strlen(nk2.key), d);
	ok(x != NULL && keyindex_lookup(x, d, &hit) == KIX_SLOW, "... and so is the one it replaced");
	keyindex_close(x);
	cat_new_key_wipe(&nk);
	cat_new_key_wipe(&nk2);
	cat_new_key_wipe(&nk3);
	cat_new_key_wipe(&refused);
}

struct seen {
	char ids[64][KEYID_LEN + 1];
	int n, dup;
};

static int
seen_row(const struct cat_key *k, void *ctx)
{
	struct seen *s = ctx;
	int i;

	if (k == NULL)
		return 0;
	for (i = 0; i < s->n; i++)
		if (strcmp(s->ids[i], k->k.id) == 0)
			s->dup++;
	if (s->n < 64)
		strcpy(s->ids[s->n++], k->k.id);
	return 0;
}

static int
has(const struct seen *s, const char *id)
{
	int i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->ids[i], id) == 0)
			return 1;
	return 0;
}

static void
test_cursor(void)
{
	struct catalog *cat = session(NULL);
	struct cat_new_key nk;
	struct seen before, paged;
	char cursor[CAT_CURSOR_MAX], next[CAT_CURSOR_MAX];
	int i, pages = 0, rc;

	plan(cat, "big", 0, NULL);
	cat_org_create(cat, "many", "big", NULL);
	for (i = 0; i < 10; i++)
		new_key(cat, "many", &nk);
	memset(&before, 0, sizeof before);
	is_int(cat_list_keys(cat, "many", CAT_LIST_ALL, NULL, 0, seen_row, &before, next), CAT_OK,
	    "list: every key of an org");
	ok(before.n == 10 && next[0] == '\0', "... 10, and no next page");
	for (i = 1; i < before.n; i++)
		if (strcmp(before.ids[i - 1], before.ids[i]) >= 0)
			break;
	is_int(i, before.n, "... in the order of their ids");
	/* page by 3, making a key between pages */
	memset(&paged, 0, sizeof paged);
	cursor[0] = '\0';
	do {
		rc = cat_list_keys(cat, "many", CAT_LIST_ALL, cursor, 3, seen_row, &paged, next);
		pages++;
		new_key(cat, "many", &nk);
		strcpy(cursor, next);
	} while (rc == CAT_OK && next[0] != '\0' && pages < 20);
	for (i = 0; i < before.n; i++)
		if (!has(&paged, before.ids[i]))
			break;
	ok(rc == CAT_OK && i == before.n && paged.dup == 0,
	    "paged by 3 while keys are made: every key that was there, once (%d pages, %d keys)",
	    pages, paged.n);
	is_int(cat_list_keys(cat, "many", CAT_LIST_ALL, "acme:key_0000000000000000", 3, seen_row,
	    &paged, next), CAT_INVALID, "a cursor of another org's listing: refused");
	is_int(cat_list_keys(cat, NULL, CAT_LIST_ALL, "garbage", 3, seen_row, &paged, next),
	    CAT_INVALID, "a cursor that is garbage: refused");
	end(cat);
	cat_new_key_wipe(&nk);
}

static void
test_import(void)
{
	struct catalog *cat = session(NULL);
	struct cat_import_item items[3];
	struct cat_import im;
	struct snapshot s;
	static const char *const raw[] = {"legacy-000001", "legacy-000002", "legacy-000003"};
	uint64_t audits;
	int i;

	cat_org_create(cat, "imp", "big", NULL);
	memset(items, 0, sizeof items);
	for (i = 0; i < 3; i++) {
		digester_digest(kg.digester, raw[i], strlen(raw[i]), items[i].digest);
		snprintf(items[i].display, sizeof items[i].display, "legacy…");
		items[i].line = (unsigned long)i + 1;
	}
	memset(&im, 0, sizeof im);
	im.org = "imp";
	im.items = items;
	im.n = 2;
	audits = count(TBL_AUDIT);
	ok(cat_key_import_check(cat, &im) == CAT_OK && cat_key_import_batch(cat, &im, 0) == CAT_OK,
	    "import 2 keys");
	ok(im.added == 2 && im.present == 0 && count(TBL_AUDIT) == audits + 1,
	    "... added, with one audit record");
	im.n = 3;
	im.added = 0;
	is_int(cat_key_import_batch(cat, &im, 0), CAT_OK, "import them again with a third");
	ok(im.added == 1 && im.present == 2, "... 1 added, 2 present");
	cat_org_create(cat, "other", "big", NULL);
	snap(&s);
	im.org = "other";
	is_int(cat_key_import_batch(cat, &im, 0), CAT_CONFLICT, "import another org's keys: refused");
	ok(strstr(msg(cat), "line 1") != NULL, "... naming the line");
	ok(same(&s), "... changing nothing");
	end(cat);
	ok(index_mirrors(), "the index mirrors the imports");
}

struct audit_seen {
	int n, damaged;
	uint64_t last_ns;
	int ordered;
	char actions[64][AUDIT_ACTION_MAX + 1];
};

static int
audit_row(const struct cat_audit *a, void *ctx)
{
	struct audit_seen *s = ctx;

	if (a == NULL) {
		s->damaged++;
		return 0;
	}
	if (s->n > 0 && a->at_ns > s->last_ns)
		s->ordered = 0;
	s->last_ns = a->at_ns;
	if (s->n < 64)
		snprintf(s->actions[s->n], sizeof s->actions[0], "%s", a->r.action);
	s->n++;
	return 0;
}

static void
test_audit(void)
{
	struct catalog *cat = session(NULL);
	struct audit_seen all, org, page;
	char next[AUDIT_CURSOR_LEN + 1], cursor[AUDIT_CURSOR_LEN + 1];
	uint64_t total = count(TBL_AUDIT), n;
	int pages = 0;

	memset(&all, 0, sizeof all);
	all.ordered = 1;
	is_int(cat_audit_list(cat, NULL, 0, NULL, 0, audit_row, &all, next), CAT_OK, "audit: list");
	ok(all.n == (int)total && all.ordered && all.damaged == 0, "... every record, newest first");
	is_str(all.actions[all.n - 1], "store.init", "... the oldest is the store's creation");
	memset(&org, 0, sizeof org);
	cat_audit_list(cat, "acme", 0, NULL, 0, audit_row, &org, NULL);
	ok(org.n > 5 && org.n < all.n, "... of one org: %d", org.n);
	/* pages of 4 */
	memset(&page, 0, sizeof page);
	page.ordered = 1;
	cursor[0] = '\0';
	do {
		if (cat_audit_list(cat, NULL, 0, cursor, 4, audit_row, &page, next) != CAT_OK)
			break;
		strcpy(cursor, next);
		pages++;
	} while (next[0] != '\0' && pages < 100);
	ok(page.n == all.n && page.ordered, "... paged by 4: the same records (%d pages)", pages);
	is_int(cat_audit_list(cat, NULL, 0, "zz", 4, audit_row, &page, next), CAT_INVALID,
	    "... a bad cursor is refused");
	memset(&page, 0, sizeof page);
	cat_audit_list(cat, NULL, kg_now() + 10, NULL, 0, audit_row, &page, NULL);
	is_int(page.n, 0, "... since the future: nothing");

	is_int(cat_audit_prune(cat, kg_now() + 100, &n), CAT_INVALID, "prune: a date in the future is refused");
	sleep(1); /* every record is then before now */
	is_int(cat_audit_prune(cat, kg_now(), &n), CAT_OK, "prune everything up to now");
	ok(n == total, "... %llu records deleted", (unsigned long long)n);
	memset(&page, 0, sizeof page);
	cat_audit_list(cat, NULL, 0, NULL, 0, audit_row, &page, NULL);
	ok(page.n == 1 && strcmp(page.actions[0], "audit.prune") == 0, "... and the prune audited itself");
	is_int(cat_audit_prune(cat, 0, &n), CAT_OK, "prune before the epoch");
	ok(n == 0 && count(TBL_AUDIT) == 1, "... deletes and audits nothing");
	end(cat);
}

/* Forgets the table of keys by organization, as a store made before it. */
static void
forget_orgkeys(void)
{
	unsigned char buf[RECORD_MAX], out[RECORD_MAX];
	struct store_txn *t;
	struct meta_rec m;
	uint64_t n;
	int len;

	if (store_txn_begin(kg.store, &t) != ST_OK ||
	    store_del_below(kg.store, t, TBL_ORGKEYS, "\xff", 1, 0, &n) != ST_OK ||
	    kg_read_meta(&kg, t, buf, sizeof buf, &m, 1) != ST_OK)
		die("forget", store_errmsg(kg.store));
	m.flags &= ~(uint32_t)METAF_ORGKEYS;
	len = record_encode_meta(&m, out, sizeof out);
	if (store_put(kg.store, t, TBL_META, "store", 5, out, (size_t)len, 0) != ST_OK ||
	    store_txn_commit(t) != ST_OK)
		die("forget", store_errmsg(kg.store));
}

static void
test_upgrade(void)
{
	struct catalog *cat;
	struct seen s;
	char err[600];
	uint64_t n, keys = count(TBL_KEYS);

	forget_orgkeys();
	cat = session(NULL);
	ok(count(TBL_ORGKEYS) == 0 && cat_verify_orgkeys(cat, &n, err, sizeof err) == 1,
	    "a store without the table of keys by organization: db check says so");
	memset(&s, 0, sizeof s);
	is_int(cat_list_keys(cat, "many", CAT_LIST_ALL, NULL, 0, seen_row, &s, NULL), CAT_OK,
	    "... the first listing builds it");
	ok(s.n > 10 && count(TBL_ORGKEYS) == keys, "... with every key (%llu)", (unsigned long long)keys);
	is_int(cat_verify_orgkeys(cat, &n, err, sizeof err), 0, "... which db check finds right");
	end(cat);
}

static void
test_bound_actor(void)
{
	static const struct cat_actor api = {"key:key_AAAAAAAAAAAAAAAA", "192.0.2.7",
	    SCOPE_KEYS_WRITE, "acme"};
	struct catalog *cat, *op = session(NULL);
	struct cat_new_key nk, other;
	struct cat_key_spec ks;
	struct cat_key ck;
	struct seen s;
	struct audit_seen as;

	/* one writing session at a time per process: keyindex.lock is a flock */
	new_key(op, "many", &other);
	end(op);
	cat = session(&api);
	is_int(cat_get_key(cat, other.id, &ck), CAT_NOTFOUND, "a bound actor: another org's key is not found");
	is_int(cat_key_revoke(cat, other.id, NULL), CAT_NOTFOUND, "... nor revoked");
	memset(&ks, 0, sizeof ks);
	ks.org = "many";
	is_int(cat_key_create(cat, &ks, &nk), CAT_NOTFOUND, "... nor given a key");
	memset(&s, 0, sizeof s);
	is_int(cat_list_keys(cat, NULL, CAT_LIST_ACTIVE, NULL, 0, seen_row, &s, NULL), CAT_OK,
	    "... listing shows its own org's keys");
	ok(s.n >= 2 && !has(&s, other.id), "... and only those");
	end(cat);
	op = session(NULL);
	cat_key_revoke(op, s.ids[0], NULL); /* make room under acme's max-keys */
	cat_key_revoke(op, s.ids[1], NULL);
	end(op);
	cat = session(&api);
	ks.org = "acme";
	ks.scopes = SCOPE_KEYS_READ;
	is_int(cat_key_create(cat, &ks, &nk), CAT_OK, "keys:write grants keys:read");
	ks.scopes = SCOPE_ADMIN;
	is_int(cat_key_create(cat, &ks, &nk), CAT_FORBIDDEN, "... never admin");
	is_str(cat_error(cat)->field, "scopes", "... naming the field");
	end(cat);
	cat = session(NULL);
	memset(&as, 0, sizeof as);
	cat_audit_list(cat, NULL, 0, NULL, 1, audit_row, &as, NULL);
	ok(as.n == 1 && strcmp(as.actions[0], "key.create") == 0, "the audit names the key's creation");
	end(cat);
	ok(cat_scopes_allow(SCOPE_ADMIN, SCOPES_ALL) && cat_scopes_allow(SCOPE_KEYS_WRITE, SCOPE_KEYS_READ) &&
	    !cat_scopes_allow(SCOPE_KEYS_READ, SCOPE_KEYS_WRITE) && !cat_scopes_allow(SCOPE_VERIFY, SCOPE_KEYS_READ),
	    "scopes: admin allows all, keys:write allows keys:read, nothing else implies");
	ok(cat_scope_bit("keys:reveal") == SCOPE_KEYS_REVEAL && cat_scope_bit("keys") == 0 &&
	    cat_scope_bit("") == 0 && strcmp(cat_scope_name(SCOPE_VERIFY), "verify") == 0,
	    "scope names");
	cat_new_key_wipe(&nk);
	cat_new_key_wipe(&other);
}

/* One process: open, create, close.  Exit 0 made, 1 limit, 2 anything else. */
static void
racer(int go)
{
	struct catalog *cat;
	struct cat_new_key nk;
	char c, err[600];
	int rc;

	if (read(go, &c, 1) != 1)
		_exit(2);
	if (kg_open(&kg, dir, 0, err, sizeof err) != 0)
		_exit(2);
	cat = cat_open(&kg, &cli_actor, NULL);
	rc = new_key(cat, "race", &nk);
	if (cat_close(cat, err, sizeof err) != 0)
		rc = CAT_STORE;
	kg_close(&kg);
	_exit(rc == CAT_OK ? 0 : rc == CAT_LIMIT ? 1 : 2);
}

static void
test_race(void)
{
	struct catalog *cat = session(NULL);
	struct cat_org co;
	struct seen s;
	int p[2], i, st, made = 0, limited = 0, other = 0;

	plan(cat, "five", 5, NULL);
	cat_org_create(cat, "race", "five", NULL);
	end(cat);
	kg_close(&kg);
	if (pipe(p) != 0)
		die("pipe", "failed");
	for (i = 0; i < 8; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			close(p[1]);
			racer(p[0]);
		}
		if (pid < 0)
			die("fork", "failed");
	}
	close(p[0]);
	if (write(p[1], "GGGGGGGG", 8) != 8)
		die("write", "failed");
	close(p[1]);
	for (i = 0; i < 8; i++) {
		if (wait(&st) < 0 || !WIFEXITED(st))
			other++;
		else if (WEXITSTATUS(st) == 0)
			made++;
		else if (WEXITSTATUS(st) == 1)
			limited++;
		else
			other++;
	}
	ok(made == 5 && limited == 3 && other == 0,
	    "8 processes at once, max-keys 5: 5 made, 3 refused (%d, %d, %d)", made, limited, other);
	open_kg();
	cat = session(NULL);
	memset(&s, 0, sizeof s);
	cat_list_keys(cat, "race", CAT_LIST_ALL, NULL, 0, seen_row, &s, NULL);
	ok(s.n == 5 && cat_get_org(cat, "race", &co) == CAT_OK && co.o.nkeys == 5,
	    "... the store holds 5 and the org counts 5");
	end(cat);
	ok(index_mirrors(), "... and the index mirrors them");
}

/* A second store, made with a vault: keys sealed, revealed, bound to their id. */
static void
vault_store(char *path, size_t cap)
{
	unsigned char secret[VAULT_KEY_LEN];
	struct vault_meta_rec vm;
	struct vault *v;
	char err[600];
	int fd;

	snprintf(path, cap, "/tmp/kgvault.XXXXXX");
	if (RAND_bytes(secret, sizeof secret) != 1 || (fd = mkstemp(path)) < 0 ||
	    write(fd, secret, sizeof secret) != (ssize_t)sizeof secret || fchmod(fd, 0640) != 0 ||
	    close(fd) != 0 || (v = vault_load(path, err, sizeof err)) == NULL)
		die("vault file", path);
	vm.path = path;
	vault_check(v, vm.check);
	vault_free(v);
	make_store(&vm);
}

static void
test_vault(void)
{
	unsigned char sealed[VAULT_SEALED_MAX];
	char vpath[300], out[APIKEY_BUF], cmd[700];
	struct cat_new_key nk1, nk2;
	struct cat_key_spec ks;
	struct catalog *cat;
	size_t len;
	int already;

	vault_store(vpath, sizeof vpath);
	open_kg();
	cat = session(NULL);
	cat_plan_set(cat, &(struct cat_plan_spec){.name = "v"}, NULL);
	cat_org_create(cat, "vo", "v", NULL);
	memset(&ks, 0, sizeof ks);
	ks.org = "vo";
	ok(cat_key_create(cat, &ks, &nk1) == CAT_OK && cat_key_create(cat, &ks, &nk2) == CAT_OK,
	    "vault: two keys made");
	ok(cat_key_reveal(cat, nk1.id, out, sizeof out) == CAT_OK && strcmp(out, nk1.key) == 0,
	    "vault: a reveal is the key that create answered");
	/* a sealed secret moved under another key's id does not open */
	ok(store_get(kg.store, NULL, TBL_SECRETS, nk1.id, strlen(nk1.id), sealed, sizeof sealed,
	    &len, 0) == ST_OK && store_put(kg.store, NULL, TBL_SECRETS, nk2.id, strlen(nk2.id),
	    sealed, len, 0) == ST_OK, "vault: key 1's sealed secret copied over key 2's");
	is_int(cat_key_reveal(cat, nk2.id, out, sizeof out), CAT_STORE,
	    "... key 2's reveal fails: a secret is bound to its key id");
	ok(out[0] == '\0' && strstr(msg(cat), "cannot be opened") != NULL,
	    "... wipes the answer and says why");
	ok(cat_key_revoke(cat, nk1.id, &already) == CAT_OK &&
	    store_exists(kg.store, NULL, TBL_SECRETS, nk1.id, strlen(nk1.id)) == ST_NOTFOUND,
	    "vault: revoking a key deletes its sealed secret");
	is_int(cat_key_reveal(cat, nk1.id, out, sizeof out), CAT_NOTFOUND,
	    "... and its reveal is a not-found");
	cat_new_key_wipe(&nk1);
	cat_new_key_wipe(&nk2);
	end(cat);
	kg_close(&kg);
	snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", dir, vpath);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
}

int
main(void)
{
	char cmd[300];

	make_store(NULL);
	open_kg();
	test_plans();
	test_orgs();
	test_keys();
	test_cursor();
	test_import();
	test_upgrade();
	test_bound_actor();
	test_race();
	test_audit();
	kg_close(&kg);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	test_vault();
	return done_testing();
}
