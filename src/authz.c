/*
 * authz.c - the decision.
 */
#include "config.h"

#include <string.h>

#include <openssl/crypto.h>

#include "authz.h"
#include "creds.h"
#include "decision.h"
#include "ledger.h"
#include "log.h"
#include "rules.h"
#include "tally.h"

void
authz_init(struct authz *az, struct kg *kg, const struct authz_opts *o)
{
	memset(az, 0, sizeof *az);
	az->kg = kg;
	if (o != NULL) {
		az->opts = *o;
		az->tally = o->tally;
	}
	az->digester = az->opts.digester != NULL ? az->opts.digester : kg->digester;
}

/* Store result -> verdict for failures on the way. */
static enum verdict
store_failure(struct authz *az, int rc, struct authz_res *res)
{
	if (rc == ST_RECOVER || rc == ST_ERROR || rc == ST_DEADLOCK) {
		res->reason = store_errmsg(az->kg->store);
		return V_UNAVAILABLE;
	}
	res->reason = "record larger than expected";
	return V_INTERNAL;
}

/*
 * The plain-SHA-256 fallback of a peppered store is tried only when the
 * store holds such records (meta.plain_digests), so that ordinary stores
 * pay for one lookup per unknown key, not two.
 */
static int
plain_digests_exist(struct authz *az, int *exist)
{
	struct meta_rec m;
	int rc = kg_read_meta(az->kg, NULL, az->metabuf, sizeof az->metabuf, &m, 0);

	if (rc != ST_OK)
		return rc;
	*exist = m.plain_digests > 0;
	return ST_OK;
}

static int
get_key(struct authz *az, const unsigned char digest[DIGEST_LEN], size_t *len)
{
	return store_get(az->kg->store, NULL, TBL_KEYS, digest, DIGEST_LEN,
	    az->keybuf, sizeof az->keybuf, len, 0);
}

/* The key's record from the store, for what the index cannot answer. */
static enum verdict
find_in_store(struct authz *az, const char *key, size_t len,
    unsigned char digest[DIGEST_LEN], int *plain, struct authz_res *res)
{
	size_t rlen = 0;
	int rc, exist;

	*plain = 0;
	rc = get_key(az, digest, &rlen);
	if (rc == ST_NOTFOUND && digester_peppered(az->digester)) {
		if ((rc = plain_digests_exist(az, &exist)) != ST_OK)
			return store_failure(az, rc, res);
		rc = ST_NOTFOUND;
		if (exist) {
			if (digester_sha256(az->digester, key, len, digest) != 0) {
				res->reason = "digest failed";
				return V_INTERNAL;
			}
			rc = get_key(az, digest, &rlen);
			*plain = 1;
		}
	}
	if (rc == ST_NOTFOUND) {
		res->reason = "unknown key";
		return V_INVALID;
	}
	if (rc != ST_OK)
		return store_failure(az, rc, res);
	if (record_decode_key(az->keybuf, rlen, &az->key) != 0) {
		res->reason = "damaged key record";
		return V_INTERNAL;
	}
	return V_ALLOW;
}

/*
 * The key index, opened again when a rebuild replaced it; while there is
 * none, an open is tried at most every INDEX_RETRY_NS.
 */
#define INDEX_RETRY_NS (100 * 1000000ull)

static struct keyindex *
current_index(struct authz *az)
{
	struct kg *kg = az->kg;
	uint64_t now;

	if (kg->index != NULL && !keyindex_stale(kg->index))
		return kg->index;
	if (kg->counters == NULL)
		return NULL;
	if (az->opts.index_wanted != NULL) {
		if (!__atomic_load_n(az->opts.index_wanted, __ATOMIC_RELAXED))
			__atomic_store_n(az->opts.index_wanted, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	now = kg_mono_ns();
	if (now - az->index_tried_ns < INDEX_RETRY_NS)
		return NULL;
	az->index_tried_ns = now;
	kg_index_reopen(kg);
	return kg->index;
}

/*
 * The key in the index: a hit fills az->hit (and, for a plain digest of
 * a peppered store, replaces digest); a miss is an unknown key; anything
 * else sends the caller to the store.
 */
static enum keyindex_rc
find_in_index(struct authz *az, const char *key, size_t len,
    unsigned char digest[DIGEST_LEN], int *plain)
{
	struct keyindex *x = current_index(az);
	unsigned char sha[DIGEST_LEN];
	enum keyindex_rc rc;

	*plain = 0;
	/* A store that cannot be read answers 503, mirror or not: never a guess. */
	if (x == NULL || store_broken(az->kg->store))
		return KIX_UNUSABLE;
	rc = keyindex_lookup(x, digest, &az->hit);
	if (rc != KIX_MISS || !digester_peppered(az->digester) ||
	    !keyindex_has_plain(x))
		return rc;
	if (digester_sha256(az->digester, key, len, sha) != 0)
		return KIX_UNUSABLE;
	if ((rc = keyindex_lookup(x, sha, &az->hit)) == KIX_HIT) {
		memcpy(digest, sha, DIGEST_LEN);
		*plain = 1;
	}
	OPENSSL_cleanse(sha, sizeof sha);
	return rc;
}

/* az->key from an index hit: what a key entry holds, nothing else. */
static void
key_from_hit(struct authz *az)
{
	struct key_rec *k = &az->key;

	k->flags = az->hit.flags;
	k->id = az->hit.id;
	k->org = az->hit.org;
	k->name = k->user = k->display = k->successor = k->replaces = "";
	k->created_at = k->revoked_at = k->last_used_at = 0;
	k->expires_at = az->hit.expires_at;
	memset(&k->rate, 0, sizeof k->rate);
	k->nrules = 0;
	k->scopes = 0; /* a key with scopes is never in the index (keyindex.h) */
	az->org_from_index = 1;
}

enum verdict
authz_find_key(struct authz *az, const char *key, size_t len,
    unsigned char digest[DIGEST_LEN], struct authz_res *res)
{
	struct kg *kg = az->kg;
	enum apikey_mode mode = MODE_LIVE;
	enum apikey_form form;
	enum verdict v;
	int plain = 0;

	az->org_from_index = 0;
	apikey_display(kg->prefix, key, len, res->display, sizeof res->display);
	form = apikey_classify(kg->prefix, key, len, &mode);
	if (form == APIKEY_GARBAGE || form == APIKEY_MALFORMED) {
		res->reason = form == APIKEY_GARBAGE ? "not a key" : "malformed or bad checksum";
		return V_INVALID;
	}
	if (digester_digest(az->digester, key, len, digest) != 0) {
		res->reason = "digest failed";
		return V_INTERNAL;
	}
	switch (find_in_index(az, key, len, digest, &plain)) {
	case KIX_MISS:
		res->reason = "unknown key";
		return V_INVALID;
	case KIX_HIT:
		key_from_hit(az);
		break;
	case KIX_SLOW:
	case KIX_UNUSABLE:
		if ((v = find_in_store(az, key, len, digest, &plain, res)) != V_ALLOW)
			return v;
		break;
	}
	/* A record answers only the lookup it was stored for. */
	if (!!(az->key.flags & KEYF_PLAIN) != plain) {
		res->reason = "unknown key";
		return V_INVALID;
	}
	res->key_id = az->key.id;
	res->mode = (az->key.flags & KEYF_TEST) ? MODE_TEST : MODE_LIVE;
	if (form == APIKEY_OURS && mode != res->mode) {
		res->reason = "mode differs from the record";
		return V_INVALID;
	}
	return V_ALLOW;
}

int
authz_counters_suspect(struct authz *az)
{
	return !counters_usable(az->kg->counters) ||
	    __atomic_load_n(&az->counters_suspect, __ATOMIC_ACQUIRE);
}

void
authz_counters_check(struct authz *az)
{
	__atomic_store_n(&az->counters_suspect, 0, __ATOMIC_RELEASE);
	if (kg_counters_check(az->kg) != 0)
		authz_invalidate(az); /* the generation of another file means nothing */
}

void
authz_counters_notice(struct authz *az)
{
	if (az->kg->counters != NULL &&
	    counters_replaced(az->kg->counters, store_dir(az->kg->store)))
		__atomic_store_n(&az->counters_suspect, 1, __ATOMIC_RELEASE);
}

void
authz_invalidate(struct authz *az)
{
	__atomic_add_fetch(&az->epoch, 1, __ATOMIC_ACQ_REL);
}

void
authz_refresh(struct authz *az)
{
	unsigned char buf[RECORD_MAX];
	struct meta_rec m;

	if (kg_read_meta(az->kg, NULL, buf, sizeof buf, &m, 0) != ST_OK)
		return;
	if (m.generation != az->meta_gen_seen) {
		az->meta_gen_seen = m.generation;
		authz_invalidate(az);
	}
}

static uint32_t
name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/*
 * The record of table t named name, in *out: the cached copy in slot
 * (tag, raw) when it is current, else read from the store into spill and
 * kept in the slot when it fits (else read every time).  ST_*.
 */
static int
cached_record(struct authz *az, enum store_tbl t, const char *name,
    struct cache_tag *tag, unsigned char *raw, size_t rawcap,
    unsigned char *spill, size_t spillcap, uint64_t gen, uint32_t epoch,
    const unsigned char **out, size_t *len)
{
	int rc;

	if (tag->valid && tag->gen == gen && tag->epoch == epoch &&
	    strcmp(tag->name, name) == 0) {
		*out = raw;
		*len = tag->len;
		return ST_OK;
	}
	tag->valid = 0;
	rc = store_get(az->kg->store, NULL, t, name, strlen(name), spill,
	    spillcap, len, 0);
	if (rc != ST_OK)
		return rc;
	*out = spill;
	if (*len <= rawcap && strlen(name) < sizeof tag->name) {
		memcpy(raw, spill, *len);
		strcpy(tag->name, name);
		tag->len = *len;
		tag->gen = gen;
		tag->epoch = epoch;
		tag->valid = 1;
		*out = raw;
	}
	return ST_OK;
}

static enum verdict
load_org(struct authz *az, uint64_t gen, uint32_t epoch, struct authz_res *res)
{
	const char *id = az->key.org;
	struct org_entry *e = &az->orgs[name_hash(id) & (ORG_CACHE_SLOTS - 1)];
	const unsigned char *raw;
	size_t len = 0;
	int rc;

	if (az->org_from_index &&
	    record_decode_org(az->hit.org_rec, az->hit.org_rec_len, &az->org) == 0)
		return V_ALLOW;
	rc = cached_record(az, TBL_ORGS, id, &e->tag, e->raw, sizeof e->raw,
	    az->orgbuf, sizeof az->orgbuf, gen, epoch, &raw, &len);
	if (rc == ST_NOTFOUND) {
		res->reason = "the key's organization does not exist";
		return V_INTERNAL;
	}
	if (rc != ST_OK)
		return store_failure(az, rc, res);
	if (record_decode_org(raw, len, &az->org) != 0) {
		e->tag.valid = 0;
		res->reason = "damaged organization record";
		return V_INTERNAL;
	}
	return V_ALLOW;
}

static enum verdict
load_plan(struct authz *az, uint64_t gen, uint32_t epoch, struct authz_res *res)
{
	const char *name = az->org.plan;
	struct plan_entry *e = &az->plans[name_hash(name) & (PLAN_CACHE_SLOTS - 1)];
	const unsigned char *raw;
	size_t len = 0;
	int rc;

	rc = cached_record(az, TBL_PLANS, name, &e->tag, e->raw, sizeof e->raw,
	    az->planbuf, sizeof az->planbuf, gen, epoch, &raw, &len);
	if (rc == ST_NOTFOUND) {
		res->reason = "the organization's plan does not exist";
		return V_INTERNAL;
	}
	if (rc != ST_OK)
		return store_failure(az, rc, res);
	if (record_decode_plan(raw, len, &az->plan) != 0) {
		e->tag.valid = 0;
		res->reason = "damaged plan record";
		return V_INTERNAL;
	}
	return V_ALLOW;
}

static enum verdict
load_org_plan(struct authz *az, struct authz_res *res)
{
	uint64_t gen = counters_generation(az->kg->counters);
	uint32_t epoch = __atomic_load_n(&az->epoch, __ATOMIC_ACQUIRE);
	enum verdict v;

	if ((v = load_org(az, gen, epoch, res)) != V_ALLOW)
		return v;
	if ((v = load_plan(az, gen, epoch, res)) != V_ALLOW)
		return v;
	res->org = az->key.org;
	res->plan = az->org.plan;
	return V_ALLOW;
}

/* A rule list's answer (rules_check) as a verdict; whose: for the log. */
static enum verdict
route_verdict(enum rules_result rr, const char *whose, struct authz_res *res)
{
	switch (rr) {
	case RULES_ALLOW:
		return V_ALLOW;
	case RULES_BAD_PATH:
		res->reason = "path missing, too long to examine, or not safely normalisable";
		return V_FORBIDDEN;
	case RULES_BAD_HOST:
		res->reason = "host missing or not a valid name, and host rules apply";
		return V_FORBIDDEN;
	case RULES_DENY:
		break;
	}
	res->reason = whose;
	return V_FORBIDDEN;
}

static enum verdict
check_routes(struct authz *az, const struct authz_req *req, struct authz_res *res)
{
	enum verdict v;

	if (az->plan.nrules == 0 && az->key.nrules == 0)
		return V_ALLOW;
	request_target_init(&az->target, req->method, req->host, req->uri);
	/* The key's rules can only narrow the plan's: both must allow. */
	v = route_verdict(rules_check(az->plan.rules, az->plan.nrules, &az->target),
	    "the plan's route rules", res);
	if (v != V_ALLOW)
		return v;
	return route_verdict(rules_check(az->key.rules, az->key.nrules, &az->target),
	    "the key's route rules", res);
}

static uint64_t
quota_total(struct authz *az)
{
	uint64_t q = az->plan.quota.count;

	if (az->plan.quota.period == QUOTA_CREDITS) {
		q += az->org.credits;
		if (q > QUOTA_USED_MAX || q < az->org.credits)
			q = QUOTA_USED_MAX;
	}
	return q;
}

/* The org counter a plan's quota is enforced on. */
static enum org_counter
quota_counter(enum quota_period p)
{
	return p == QUOTA_DAY ? OC_DAY : p == QUOTA_MONTH ? OC_MONTH : OC_CREDITS;
}

static enum verdict
check_quota(struct authz *az, struct org_slot *slot, int consume,
    int64_t now_s, struct authz_res *res)
{
	counters_quota(az->kg->counters, slot, quota_counter(az->plan.quota.period), quota_total(az),
	    az->plan.overage_pct, now_s, consume, &res->quota);
	res->has_quota = 1;
	if (!res->quota.allowed) {
		res->reason = "quota used up";
		return V_QUOTA;
	}
	return V_ALLOW;
}

static enum verdict
check_rate(struct counter_slot *slot, enum rate_which w, const struct rate_spec *r,
    int consume, uint64_t now_ns, struct authz_res *res)
{
	struct rate_result rr;

	counters_rate(slot, w, r, now_ns, consume, &rr);
	/* With two limits (plan and key), report the tighter one. */
	if (!res->has_rate || !rr.allowed || rr.remaining < res->rate.remaining)
		res->rate = rr;
	res->has_rate = 1;
	if (!rr.allowed) {
		res->reason = w == RATE_KEY ? "the key's rate limit reached" : "rate limit reached";
		return V_RATE;
	}
	return V_ALLOW;
}

/*
 * Every allowed live request is counted per day and per month (usage,
 * and quotas), and in credits on a prepaid plan: each counter but the
 * one the plan enforces (already counted by its check) gets a unit here.
 */
static void
count_usage(struct authz *az, struct org_slot *o, int64_t now_s)
{
	enum quota_period p = az->plan.quota.period;
	enum org_counter enforced = p == QUOTA_NONE ? OC_COUNT : quota_counter(p);

	if (enforced != OC_DAY)
		counters_count(az->kg->counters, o, OC_DAY, now_s);
	if (enforced != OC_MONTH)
		counters_count(az->kg->counters, o, OC_MONTH, now_s);
}

#define TABLE_FULL "counter table full (keygate db check)"

/*
 * Rate limits and quota.  A request that any limit refuses consumes
 * nothing from the others: every limit is first checked without
 * consuming, in the order quota, plan rate, key rate; only then are they
 * consumed, and a limit that another process used up in between gives
 * back what was already taken.
 */
static enum verdict
check_limits(struct authz *az, const unsigned char digest[DIGEST_LEN],
    int consume, int quota, uint64_t now_ns, struct authz_res *res)
{
	struct counters *c = az->kg->counters;
	int64_t now_s = (int64_t)(now_ns / NS_PER_S);
	const struct rate_spec *plan_rate = &az->plan.rate, *key_rate = &az->key.rate;
	int live = res->mode == MODE_LIVE;
	int use_quota = quota && az->plan.quota.period != QUOTA_NONE && live;
	int rates = plan_rate->count > 0 || key_rate->count > 0;
	struct counter_slot *kslot;
	struct org_slot *oslot = NULL;
	enum verdict v;

	kslot = counters_find(c, counters_key_tag(digest), 1);
	if (rates && kslot == NULL) {
		res->reason = TABLE_FULL;
		return V_UNAVAILABLE;
	}
	if (live && quota && (oslot = counters_org(c, az->key.org, 1)) == NULL) {
		res->reason = TABLE_FULL;
		return V_UNAVAILABLE;
	}
	if (use_quota) {
		if (counters_org_damaged(oslot)) {
			res->reason = "the organization's ledger record is damaged (keygate db check)";
			return V_UNAVAILABLE;
		}
		if (store_replicated(az->kg->store) && ledger_reports_stale(c)) {
			res->reason = "this host has not reported its usage to the master lately "
			    "(the group's total is unknown)";
			return V_UNAVAILABLE;
		}
		if ((v = check_quota(az, oslot, 0, now_s, res)) != V_ALLOW)
			return v;
	}
	if (plan_rate->count > 0 &&
	    (v = check_rate(kslot, RATE_PLAN, plan_rate, 0, now_ns, res)) != V_ALLOW)
		return v;
	if (key_rate->count > 0 &&
	    (v = check_rate(kslot, RATE_KEY, key_rate, 0, now_ns, res)) != V_ALLOW)
		return v;
	if (!consume)
		return V_ALLOW;

	res->has_rate = 0;
	if (plan_rate->count > 0 &&
	    (v = check_rate(kslot, RATE_PLAN, plan_rate, 1, now_ns, res)) != V_ALLOW)
		return v;
	if (key_rate->count > 0 &&
	    (v = check_rate(kslot, RATE_KEY, key_rate, 1, now_ns, res)) != V_ALLOW)
		goto refund_plan;
	if (use_quota && (v = check_quota(az, oslot, 1, now_s, res)) != V_ALLOW)
		goto refund_key;
	if (live && quota)
		count_usage(az, oslot, now_s);
	if (kslot != NULL)
		counters_touch(kslot, now_s);
	return V_ALLOW;

refund_key:
	if (key_rate->count > 0)
		counters_rate_refund(kslot, RATE_KEY, key_rate, now_ns);
refund_plan:
	if (plan_rate->count > 0)
		counters_rate_refund(kslot, RATE_PLAN, plan_rate, now_ns);
	return v;
}

static enum verdict
decide(struct authz *az, const struct authz_req *req, uint64_t now_ns,
    struct authz_res *res)
{
	unsigned char digest[DIGEST_LEN];
	int64_t now_s = (int64_t)(now_ns / NS_PER_S);
	struct creds creds;
	enum creds_rc found;
	enum verdict v;

	found = creds_extract(req->authorization, req->nauthorization,
	    req->x_api_key, req->nx_api_key, req->query, az->opts.query_param, &creds);
	/* a rejected query-string key was decoded into creds.buf too */
	if (found != CREDS_OK)
		creds_wipe(&creds);
	switch (found) {
	case CREDS_MISSING:
		res->reason = "no key";
		return V_MISSING;
	case CREDS_INVALID:
		res->reason = "empty or unusable key value";
		return V_INVALID;
	case CREDS_CONFLICT:
		res->reason = req->nauthorization > CREDS_COPIES_MAX ||
		    req->nx_api_key > CREDS_COPIES_MAX ? "too many copies of a key header" :
		    "two different keys";
		return V_CONFLICT;
	case CREDS_OK:
		break;
	}
	if (az->kg->counters == NULL) {
		creds_wipe(&creds);
		res->reason = "no counter file (see the log)";
		return V_UNAVAILABLE;
	}
	/*
	 * Another process made a new counter file: nothing more is decided on
	 * this one, which would spend a balance the new one spends too.  The
	 * callers map the new file before deciding; this is for a map that
	 * failed, or a file made since.
	 */
	if (!counters_current(az->kg->counters)) {
		creds_wipe(&creds);
		res->reason = "the counter file was replaced; the new one is not mapped yet";
		return V_UNAVAILABLE;
	}
	/* a replica initialising or far behind decides nothing (keygate-repd(8)) */
	if (counters_repl_unavailable(az->kg->counters, now_s)) {
		creds_wipe(&creds);
		res->reason = "this replica of the store is behind the master";
		return V_UNAVAILABLE;
	}
	v = authz_find_key(az, creds.key, creds.len, digest, res);
	creds_wipe(&creds);
	if (v != V_ALLOW)
		return v;
	if (az->key.flags & KEYF_REVOKED) {
		res->reason = "revoked";
		return V_INVALID;
	}
	if (record_expired(az->key.expires_at, now_s)) {
		res->reason = "expired";
		return V_EXPIRED;
	}
	if ((v = load_org_plan(az, res)) != V_ALLOW)
		return v;
	if (az->org.flags & ORGF_SUSPENDED) {
		res->reason = "organization suspended";
		return V_FORBIDDEN;
	}
	/* keygate-api's own callers: its routes are not the customer's API */
	if (!req->api && (v = check_routes(az, req, res)) != V_ALLOW)
		return v;
	res->user = az->key.user[0] ? az->key.user : NULL;
	return check_limits(az, digest, !req->subrequest && !req->replay, !req->api,
	    now_ns, res);
}

/* The history's counters and the verdicts they count (H_QUOTA: none). */
static const struct {
	enum hist_counter h;
	enum verdict v;
} history_map[] = {
	{H_ALLOWED, V_ALLOW}, {H_INVALID, V_INVALID}, {H_EXPIRED, V_EXPIRED},
	{H_OVER_QUOTA, V_QUOTA}, {H_FORBIDDEN, V_FORBIDDEN}, {H_RATE, V_RATE},
	{H_INTERNAL, V_INTERNAL}, {H_UNAVAILABLE, V_UNAVAILABLE},
};

/* A known key is refused as invalid only when revoked or of another mode. */
static enum hist_counter
history_counter(enum verdict v)
{
	size_t i;

	for (i = 0; i < sizeof history_map / sizeof history_map[0]; i++)
		if (history_map[i].v == v)
			return history_map[i].h;
	return H_INVALID;
}

int
authz_history_verdict(enum hist_counter h, enum verdict *v)
{
	size_t i;

	for (i = 0; i < sizeof history_map / sizeof history_map[0]; i++)
		if (history_map[i].h == h) {
			*v = history_map[i].v;
			return 0;
		}
	return -1;
}

/*
 * Usage history: every counted request of a known key, for its key and
 * organization (a request without a known key belongs to no organization).
 */
static void
count_history(struct authz *az, const struct authz_res *res, int64_t now_s)
{
	if (az->tally == NULL || res->key_id == NULL || az->key.org == NULL)
		return;
	tally_count(az->tally, az->key.org, res->key_id, history_counter(res->verdict),
	    res->verdict == V_ALLOW && res->mode == MODE_LIVE, now_s);
}

void
authz_decide(struct authz *az, const struct authz_req *req, uint64_t now_ns,
    struct authz_res *res)
{
	memset(res, 0, sizeof *res);
	res->display[0] = '\0';
	res->verdict = decide(az, req, now_ns, res);
	/*
	 * The counter file shrank under this decision (truncated: its pages
	 * read as zeros since): no verdict that read it can stand.
	 */
	if (az->kg->counters != NULL && !counters_intact(az->kg->counters)) {
		res->verdict = V_UNAVAILABLE;
		res->reason = "the counter file was truncated; it is rebuilt";
	}
	/* A replay exists to repeat a denial; it can never let a request in. */
	if (req->replay && res->verdict == V_ALLOW) {
		res->verdict = V_UNAVAILABLE;
		res->reason = "replay of a request that is now allowed";
	}
	if (!req->subrequest && !req->replay && !req->api)
		count_history(az, res, (int64_t)(now_ns / NS_PER_S));
	if (res->verdict != V_ALLOW) {
		res->has_quota = res->verdict == V_QUOTA ? res->has_quota : 0;
		if (res->verdict != V_RATE)
			res->has_rate = 0;
	}
}

int
authz_is_error(const struct authz_req *q, const struct authz_res *r)
{
	return r->verdict == V_INTERNAL || (r->verdict == V_UNAVAILABLE && !q->replay);
}

void
authz_log(const struct authz_req *q, const struct authz_res *r)
{
	const struct decision_info *d = decision_info(r->verdict);
	char m[32], u[260], a[64];

	if (r->verdict == V_ALLOW)
		return;
	if (authz_is_error(q, r)) {
		log_warnx("error %d: %s (key=%s)", d->status, r->reason ? r->reason : "?",
		    r->key_id ? r->key_id : r->display);
		return;
	}
	log_info("deny %d %s key=%s%s%s reason=\"%s\" remote=%s \"%s %s\"%s%s",
	    d->status, d->code, r->key_id ? r->key_id : "",
	    r->key_id && r->display[0] ? " " : "",
	    r->display[0] ? r->display : (r->key_id ? "" : "-"),
	    r->reason ? r->reason : "",
	    log_sanitize(q->remote, 45, a, sizeof a),
	    log_sanitize(q->method, 16, m, sizeof m),
	    log_uri(q->uri, u, sizeof u),
	    q->subrequest ? " subrequest" : "", q->replay ? " replay" : "");
}
