/*
 * catfwd.c - catalog writes carried out by the master's keygate-repd
 * (catfwd.h).
 *
 * A request: the actor (name, remote, scopes, organization), the
 * operation, its input.  An answer: the commit token, the catalog's
 * result (rc, field, message) and, for CAT_OK, the operation's output.
 * Rules travel as their parts and are parsed again on the master, with
 * rule_parse, exactly as the CLI parses them: the master trusts nothing
 * of a request that the catalog would not check for a local caller.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "catfwd.h"
#include "log.h"
#include "repl.h"
#include "repllink.h"

#define NAME_MAX_LEN 256 /* names and user ids: the catalog checks them again */

/* ---- the token every answer carries ---- */

void
catfwd_put_token(struct replmsg_w *w)
{
	unsigned char token[STORE_TOKEN_LEN];

	if (store_token_last(token)) {
		rmw_u8(w, 1);
		rmw_bytes(w, token, sizeof token);
	} else {
		rmw_u8(w, 0);
	}
}

int
catfwd_get_token(struct replmsg_r *r, unsigned char token[STORE_TOKEN_LEN])
{
	unsigned has = rmr_u8(r);
	const void *p;

	if (has == 0)
		return 0;
	if (has != 1 || (p = rmr_bytes(r, STORE_TOKEN_LEN)) == NULL)
		return -1;
	memcpy(token, p, STORE_TOKEN_LEN);
	return 1;
}

int
catfwd_answer_token(const void *answer, size_t len, unsigned char token[STORE_TOKEN_LEN])
{
	struct replmsg_r r;
	const char *msg;

	rmr_init(&r, answer, len);
	if (rmr_answer(&r, &msg) != RS_OK)
		return 0;
	return catfwd_get_token(&r, token);
}

/* ---- rules ---- */

static void
put_rules(struct replmsg_w *w, const struct rule_view *v, size_t n)
{
	size_t i;

	rmw_u32(w, (uint32_t)n);
	for (i = 0; i < n; i++) {
		rmw_u8(w, v[i].action);
		rmw_str(w, v[i].methods);
		rmw_str(w, v[i].host);
		rmw_str(w, v[i].path);
	}
}

/* Rules read and parsed again into rules[] (RULES_MAX) and their views. */
static int
get_rules(struct replmsg_r *r, struct rule *rules, struct rule_view *views, size_t *n,
    const char **why)
{
	char spec[RULE_METHODS_MAX + RULE_HOST_MAX + RULE_PATH_MAX + 2];
	uint32_t i, count = rmr_u32(r);

	*n = 0;
	if (count > RULES_MAX) {
		*why = "too many rules";
		return -1;
	}
	for (i = 0; i < count; i++) {
		unsigned action = rmr_u8(r);
		const char *m = rmr_str(r, RULE_METHODS_MAX), *h = rmr_str(r, RULE_HOST_MAX),
		    *p = rmr_str(r, RULE_PATH_MAX);

		if (r->failed || (action != RULE_ALLOW && action != RULE_DENY)) {
			*why = "a malformed rule";
			return -1;
		}
		snprintf(spec, sizeof spec, "%s %s%s", m, h, p);
		if (rule_parse((enum rule_action)action, spec, &rules[i], why) != 0)
			return -1;
		record_rule_view(&rules[i], &views[i]);
	}
	*n = count;
	return 0;
}

/* ---- the client half ---- */

struct fwd {
	void *answer;
	size_t len;
	struct replmsg_r r;
	enum cat_rc rc;
	const char *field, *msg;
};

static void
begin(struct replmsg_w *w, const struct catalog *cat, enum catfwd_op op)
{
	struct cat_actor a;

	cat_actor_of(cat, &a);
	rmw_init(w);
	rmw_request(w, RM_CATALOG);
	rmw_str(w, a.name);
	rmw_opt_str(w, a.remote);
	rmw_u32(w, a.scopes);
	rmw_opt_str(w, a.org);
	rmw_u8(w, op);
}

static void
fwd_end(struct fwd *f)
{
	if (f->answer != NULL)
		OPENSSL_cleanse(f->answer, f->len); /* a new key's secret */
	free(f->answer);
	f->answer = NULL;
}

/*
 * Sends the request of w and reads the answer's result.  CAT_OK: f->rc,
 * f->field and f->msg hold the master's result and f->r is at the
 * operation's output; else the session's error says why nothing (or
 * perhaps something) was done.
 */
static int
call(struct catalog *cat, struct replmsg_w *w, struct fwd *f)
{
	unsigned char token[STORE_TOKEN_LEN];
	char err[300], line[REPLMSG_LINE_MAX + 1];
	enum replmsg_status status;
	const char *msg;
	int sent;
	unsigned rc;

	memset(f, 0, sizeof *f);
	if (w->failed) {
		rmw_free(w);
		return cat_forwarded_result(cat, CAT_INVALID, NULL,
		    "the request is too large to send to the master");
	}
	if (repllink_call(cat_store_dir(cat), w->buf, w->len, CATFWD_TIMEOUT_MS, &f->answer,
	    &f->len, &sent, err, sizeof err) != 0) {
		OPENSSL_cleanse(w->buf, w->len);
		rmw_free(w);
		return cat_forwarded_result(cat, CAT_STORE, NULL, sent ?
		    "%s: the change may or may not have been made (keygate audit shows it)" :
		    "%s; nothing was changed", err);
	}
	OPENSSL_cleanse(w->buf, w->len);
	rmw_free(w);
	rmr_init(&f->r, f->answer, f->len);
	status = rmr_answer(&f->r, &msg);
	snprintf(line, sizeof line, "%s", msg);
	if (status != RS_OK)
		fwd_end(f);
	switch (status) {
	case RS_OK:
		break;
	case RS_UNAVAILABLE:
		return cat_forwarded_result(cat, CAT_STORE, NULL, "%s; nothing was changed", line);
	case RS_UNKNOWN:
		return cat_forwarded_result(cat, CAT_STORE, NULL,
		    "%s: the change may or may not have been made (keygate audit shows it)", line);
	default:
		return cat_forwarded_result(cat, CAT_STORE, NULL, "keygate-repd refused the request: %s", line);
	}
	rc = catfwd_get_token(&f->r, token) < 0 ? 255 : rmr_u8(&f->r);
	f->field = rmr_opt_str(&f->r, CAT_FIELD_MAX);
	f->msg = rmr_str(&f->r, CAT_MSG_MAX);
	if (f->r.failed || rc > CAT_STORE) {
		fwd_end(f);
		return cat_forwarded_result(cat, CAT_STORE, NULL, "a malformed answer from keygate-repd");
	}
	f->rc = (enum cat_rc)rc;
	return CAT_OK;
}

/* The master's result, once its output (if any) was read. */
static int
result(struct catalog *cat, struct fwd *f)
{
	int rc;

	if (f->rc == CAT_OK && !rmr_done(&f->r))
		rc = cat_forwarded_result(cat, CAT_STORE, NULL, "a malformed answer from keygate-repd");
	else
		rc = cat_forwarded_result(cat, f->rc, f->field, "%s", f->msg);
	fwd_end(f);
	return rc;
}

int
catfwd_plan_set(struct catalog *cat, const struct cat_plan_spec *s, int *created)
{
	struct replmsg_w w;
	struct fwd f;
	int rc;

	begin(&w, cat, CATFWD_PLAN_SET);
	rmw_str(&w, s->name ? s->name : "");
	rmw_u8(&w, (s->set_rate ? 1 : 0) | (s->set_quota ? 2 : 0) | (s->set_max_keys ? 4 : 0) |
	    (s->set_overage ? 8 : 0) | (s->set_rules ? 16 : 0));
	rmw_u32(&w, s->rate.count);
	rmw_u32(&w, s->rate.window_s);
	rmw_u64(&w, s->quota.count);
	rmw_u8(&w, s->quota.period);
	rmw_u32(&w, s->max_keys);
	rmw_u32(&w, s->overage_pct);
	put_rules(&w, s->rules, s->set_rules ? s->nrules : 0);
	if ((rc = call(cat, &w, &f)) != CAT_OK)
		return rc;
	if (f.rc == CAT_OK) {
		int c = rmr_flag(&f.r);

		if (created != NULL)
			*created = c;
	}
	return result(cat, &f);
}

/* Operations that name one thing and give nothing back. */
static int
simple(struct catalog *cat, enum catfwd_op op, const char *id)
{
	struct replmsg_w w;
	struct fwd f;
	int rc;

	begin(&w, cat, op);
	rmw_str(&w, id ? id : "");
	if ((rc = call(cat, &w, &f)) != CAT_OK)
		return rc;
	return result(cat, &f);
}

int
catfwd_plan_delete(struct catalog *cat, const char *name)
{
	return simple(cat, CATFWD_PLAN_DELETE, name);
}

int
catfwd_org_create(struct catalog *cat, const char *id, const char *plan, const char *name)
{
	struct replmsg_w w;
	struct fwd f;
	int rc;

	begin(&w, cat, CATFWD_ORG_CREATE);
	rmw_str(&w, id ? id : "");
	rmw_str(&w, plan ? plan : "");
	rmw_opt_str(&w, name);
	if ((rc = call(cat, &w, &f)) != CAT_OK)
		return rc;
	return result(cat, &f);
}

int
catfwd_org_set(struct catalog *cat, const char *id, const struct cat_org_change *ch)
{
	struct replmsg_w w;
	struct fwd f;
	int rc;

	begin(&w, cat, CATFWD_ORG_SET);
	rmw_str(&w, id ? id : "");
	rmw_opt_str(&w, ch->plan);
	rmw_opt_str(&w, ch->name);
	rmw_i64(&w, ch->suspended);
	if ((rc = call(cat, &w, &f)) != CAT_OK)
		return rc;
	return result(cat, &f);
}

int
catfwd_org_credit(struct catalog *cat, const char *id, int64_t amount, uint64_t *granted,
    int64_t *balance)
{
	struct replmsg_w w;
	struct fwd f;
	uint64_t g;
	int64_t b;
	int rc;

	begin(&w, cat, CATFWD_ORG_CREDIT);
	rmw_str(&w, id ? id : "");
	rmw_i64(&w, amount);
	if ((rc = call(cat, &w, &f)) != CAT_OK)
		return rc;
	if (f.rc == CAT_OK) {
		g = rmr_u64(&f.r);
		b = rmr_i64(&f.r);
		if (granted != NULL)
			*granted = g;
		if (balance != NULL)
			*balance = b;
	}
	return result(cat, &f);
}

static void
get_new_key(struct replmsg_r *r, struct cat_new_key *out)
{
	snprintf(out->key, sizeof out->key, "%s", rmr_str(r, APIKEY_BUF - 1));
	snprintf(out->id, sizeof out->id, "%s", rmr_str(r, KEYID_LEN));
	out->expires_at = rmr_i64(r);
	snprintf(out->replaces, sizeof out->replaces, "%s", rmr_str(r, KEYID_LEN));
	out->old_expires_at = rmr_i64(r);
	out->old_revoked = rmr_flag(r);
}

static void
put_new_key(struct replmsg_w *w, const struct cat_new_key *k)
{
	rmw_str(w, k->key);
	rmw_str(w, k->id);
	rmw_i64(w, k->expires_at);
	rmw_str(w, k->replaces);
	rmw_i64(w, k->old_expires_at);
	rmw_u8(w, k->old_revoked != 0);
}

int
catfwd_key_create(struct catalog *cat, const struct cat_key_spec *s, struct cat_new_key *out)
{
	struct replmsg_w w;
	struct fwd f;
	int rc;

	memset(out, 0, sizeof *out);
	begin(&w, cat, CATFWD_KEY_CREATE);
	rmw_str(&w, s->org ? s->org : "");
	rmw_opt_str(&w, s->name);
	rmw_opt_str(&w, s->user);
	rmw_u8(&w, s->test != 0);
	rmw_u8(&w, s->set_expires != 0);
	rmw_i64(&w, s->expires_at);
	rmw_u8(&w, s->force != 0);
	rmw_u32(&w, s->rate.count);
	rmw_u32(&w, s->rate.window_s);
	put_rules(&w, s->rules, s->nrules);
	rmw_u32(&w, s->scopes);
	if ((rc = call(cat, &w, &f)) != CAT_OK)
		return rc;
	if (f.rc == CAT_OK)
		get_new_key(&f.r, out);
	if ((rc = result(cat, &f)) != CAT_OK)
		cat_new_key_wipe(out);
	return rc;
}

int
catfwd_key_revoke(struct catalog *cat, const char *id, int *already)
{
	struct replmsg_w w;
	struct fwd f;
	int a, rc;

	begin(&w, cat, CATFWD_KEY_REVOKE);
	rmw_str(&w, id ? id : "");
	if ((rc = call(cat, &w, &f)) != CAT_OK)
		return rc;
	if (f.rc == CAT_OK) {
		a = rmr_flag(&f.r);
		if (already != NULL)
			*already = a;
	}
	return result(cat, &f);
}

int
catfwd_key_rotate(struct catalog *cat, const struct cat_rotate_spec *s, struct cat_new_key *out)
{
	struct replmsg_w w;
	struct fwd f;
	int rc;

	memset(out, 0, sizeof *out);
	begin(&w, cat, CATFWD_KEY_ROTATE);
	rmw_str(&w, s->id ? s->id : "");
	rmw_i64(&w, s->grace);
	rmw_u8(&w, s->set_expires != 0);
	rmw_i64(&w, s->expires_at);
	rmw_u8(&w, s->force != 0);
	if ((rc = call(cat, &w, &f)) != CAT_OK)
		return rc;
	if (f.rc == CAT_OK)
		get_new_key(&f.r, out);
	if ((rc = result(cat, &f)) != CAT_OK)
		cat_new_key_wipe(out);
	return rc;
}

int
catfwd_key_import_batch(struct catalog *cat, struct cat_import *im, size_t from)
{
	struct replmsg_w w;
	struct fwd f;
	size_t i, end;
	uint64_t added, present;
	int rc;

	if (from >= im->n)
		return CAT_OK;
	end = im->n - from > CAT_IMPORT_BATCH ? from + CAT_IMPORT_BATCH : im->n;
	begin(&w, cat, CATFWD_KEY_IMPORT);
	rmw_str(&w, im->org ? im->org : "");
	rmw_opt_str(&w, im->name);
	rmw_u8(&w, im->sha256 != 0);
	rmw_u32(&w, (uint32_t)(end - from));
	for (i = from; i < end; i++) {
		const struct cat_import_item *it = &im->items[i];

		rmw_bytes(&w, it->digest, DIGEST_LEN);
		rmw_str(&w, it->display);
		rmw_u64(&w, it->line);
		rmw_u8(&w, it->test != 0);
		rmw_u8(&w, it->dup != 0);
	}
	if ((rc = call(cat, &w, &f)) != CAT_OK)
		return rc;
	if (f.rc == CAT_OK) {
		added = rmr_u64(&f.r);
		present = rmr_u64(&f.r);
		if (!f.r.failed) {
			im->added += added;
			im->present += present;
		}
	}
	return result(cat, &f);
}

static int
prune(struct catalog *cat, enum catfwd_op op, int64_t before, uint64_t *deleted)
{
	struct replmsg_w w;
	struct fwd f;
	uint64_t n;
	int rc;

	begin(&w, cat, op);
	rmw_i64(&w, before);
	if ((rc = call(cat, &w, &f)) != CAT_OK)
		return rc;
	if (f.rc == CAT_OK) {
		n = rmr_u64(&f.r);
		if (deleted != NULL)
			*deleted = n;
	}
	return result(cat, &f);
}

int
catfwd_usage_prune(struct catalog *cat, int64_t before_day, uint64_t *deleted)
{
	return prune(cat, CATFWD_USAGE_PRUNE, before_day, deleted);
}

int
catfwd_audit_prune(struct catalog *cat, int64_t before, uint64_t *deleted)
{
	return prune(cat, CATFWD_AUDIT_PRUNE, before, deleted);
}

/* ---- the master's half ---- */

/* What one operation needs beyond the reader: rules and import items. */
struct exec {
	struct catalog *cat;
	struct replmsg_r *r;
	struct replmsg_w out;  /* the operation's output, after the result */
	struct rule rules[RULES_MAX];
	struct rule_view views[RULES_MAX];
	size_t nrules;
	struct cat_import_item *items;
	struct cat_new_key nk;
	const char *why;       /* a request the format refuses */
};

static int
exec_plan_set(struct exec *x)
{
	struct cat_plan_spec s;
	unsigned set;
	int created = 0, rc;

	memset(&s, 0, sizeof s);
	s.name = rmr_str(x->r, ID_MAX);
	set = rmr_u8(x->r);
	s.set_rate = (set & 1) != 0;
	s.set_quota = (set & 2) != 0;
	s.set_max_keys = (set & 4) != 0;
	s.set_overage = (set & 8) != 0;
	s.set_rules = (set & 16) != 0;
	s.rate.count = rmr_u32(x->r);
	s.rate.window_s = rmr_u32(x->r);
	s.quota.count = rmr_u64(x->r);
	s.quota.period = (enum quota_period)rmr_u8(x->r);
	s.max_keys = rmr_u32(x->r);
	s.overage_pct = rmr_u32(x->r);
	if (get_rules(x->r, x->rules, x->views, &x->nrules, &x->why) != 0)
		return -1;
	s.rules = x->views;
	s.nrules = x->nrules;
	if (!rmr_done(x->r) || set > 31)
		return -1;
	rc = cat_plan_set(x->cat, &s, &created);
	rmw_u8(&x->out, created != 0);
	return rc;
}

static int
exec_org_create(struct exec *x)
{
	const char *id = rmr_str(x->r, ID_MAX), *plan = rmr_str(x->r, ID_MAX),
	    *name = rmr_opt_str(x->r, NAME_MAX_LEN);

	if (!rmr_done(x->r))
		return -1;
	return cat_org_create(x->cat, id, plan, name);
}

static int
exec_org_set(struct exec *x)
{
	struct cat_org_change ch;
	const char *id = rmr_str(x->r, ID_MAX);
	int64_t susp;

	ch.plan = rmr_opt_str(x->r, ID_MAX);
	ch.name = rmr_opt_str(x->r, NAME_MAX_LEN);
	susp = rmr_i64(x->r);
	if (!rmr_done(x->r) || (susp != CAT_KEEP && susp != 0 && susp != 1))
		return -1;
	ch.suspended = (int)susp;
	return cat_org_set(x->cat, id, &ch);
}

static int
exec_org_credit(struct exec *x)
{
	const char *id = rmr_str(x->r, ID_MAX);
	int64_t amount = rmr_i64(x->r), balance = 0;
	uint64_t granted = 0;
	int rc;

	if (!rmr_done(x->r))
		return -1;
	rc = cat_org_credit(x->cat, id, amount, &granted, &balance);
	rmw_u64(&x->out, granted);
	rmw_i64(&x->out, balance);
	return rc;
}

static int
exec_key_create(struct exec *x)
{
	struct cat_key_spec s;

	memset(&s, 0, sizeof s);
	s.org = rmr_str(x->r, ID_MAX);
	s.name = rmr_opt_str(x->r, NAME_MAX_LEN);
	s.user = rmr_opt_str(x->r, NAME_MAX_LEN);
	s.test = rmr_flag(x->r);
	s.set_expires = rmr_flag(x->r);
	s.expires_at = rmr_i64(x->r);
	s.force = rmr_flag(x->r);
	s.rate.count = rmr_u32(x->r);
	s.rate.window_s = rmr_u32(x->r);
	if (get_rules(x->r, x->rules, x->views, &x->nrules, &x->why) != 0)
		return -1;
	s.rules = x->views;
	s.nrules = x->nrules;
	s.scopes = rmr_u32(x->r);
	if (!rmr_done(x->r))
		return -1;
	return cat_key_create(x->cat, &s, &x->nk);
}

static int
exec_key_revoke(struct exec *x)
{
	const char *id = rmr_str(x->r, 300); /* a pasted key is refused by the catalog, redacted */
	int already = 0, rc;

	if (!rmr_done(x->r))
		return -1;
	rc = cat_key_revoke(x->cat, id, &already);
	rmw_u8(&x->out, already != 0);
	return rc;
}

static int
exec_key_rotate(struct exec *x)
{
	struct cat_rotate_spec s;

	memset(&s, 0, sizeof s);
	s.id = rmr_str(x->r, 300);
	s.grace = rmr_i64(x->r);
	s.set_expires = rmr_flag(x->r);
	s.expires_at = rmr_i64(x->r);
	s.force = rmr_flag(x->r);
	if (!rmr_done(x->r))
		return -1;
	return cat_key_rotate(x->cat, &s, &x->nk);
}

static int
exec_key_import(struct exec *x)
{
	struct cat_import im;
	uint32_t i, n;
	int rc;

	memset(&im, 0, sizeof im);
	im.org = rmr_str(x->r, ID_MAX);
	im.name = rmr_opt_str(x->r, NAME_MAX_LEN);
	im.sha256 = rmr_flag(x->r);
	/* an item: its digest, display prefix, line, test and dup flags */
	n = rmr_count(x->r, DIGEST_LEN + REPLMSG_STR_MIN + 8 + 2);
	if (x->r->failed || n == 0 || n > CAT_IMPORT_BATCH ||
	    (x->items = calloc(n, sizeof *x->items)) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		const void *d = rmr_bytes(x->r, DIGEST_LEN);
		const char *disp = rmr_str(x->r, DISPLAY_MAX - 1);

		if (d == NULL)
			return -1;
		memcpy(x->items[i].digest, d, DIGEST_LEN);
		snprintf(x->items[i].display, sizeof x->items[i].display, "%s", disp);
		x->items[i].line = (unsigned long)rmr_u64(x->r);
		x->items[i].test = rmr_flag(x->r);
		x->items[i].dup = rmr_flag(x->r);
	}
	if (!rmr_done(x->r))
		return -1;
	im.items = x->items;
	im.n = n;
	rc = cat_key_import_batch(x->cat, &im, 0);
	rmw_u64(&x->out, im.added);
	rmw_u64(&x->out, im.present);
	return rc;
}

static int
exec_prune(struct exec *x, int audit)
{
	int64_t before = rmr_i64(x->r);
	uint64_t deleted = 0;
	int rc;

	if (!rmr_done(x->r))
		return -1;
	rc = audit ? cat_audit_prune(x->cat, before, &deleted) :
	    cat_usage_prune(x->cat, before, &deleted);
	rmw_u64(&x->out, deleted);
	return rc;
}

/* The operation: its catalog result, or -1 for a request the format refuses. */
static int
exec_op(struct exec *x, unsigned op)
{
	switch (op) {
	case CATFWD_PLAN_SET:
		return exec_plan_set(x);
	case CATFWD_PLAN_DELETE: {
		const char *name = rmr_str(x->r, ID_MAX);

		return rmr_done(x->r) ? cat_plan_delete(x->cat, name) : -1;
	}
	case CATFWD_ORG_CREATE:
		return exec_org_create(x);
	case CATFWD_ORG_SET:
		return exec_org_set(x);
	case CATFWD_ORG_CREDIT:
		return exec_org_credit(x);
	case CATFWD_KEY_CREATE:
	case CATFWD_KEY_ROTATE: {
		int rc = op == CATFWD_KEY_CREATE ? exec_key_create(x) : exec_key_rotate(x);

		if (rc == CAT_OK)
			put_new_key(&x->out, &x->nk);
		return rc;
	}
	case CATFWD_KEY_REVOKE:
		return exec_key_revoke(x);
	case CATFWD_KEY_IMPORT:
		return exec_key_import(x);
	case CATFWD_USAGE_PRUNE:
		return exec_prune(x, 0);
	case CATFWD_AUDIT_PRUNE:
		return exec_prune(x, 1);
	default:
		return -1;
	}
}

void
catfwd_exec(struct kg *kg, struct replmsg_r *r, struct replmsg_w *w)
{
	struct cat_actor a;
	struct exec *x;
	const struct cat_error *e;
	char err[600];
	unsigned op;
	int rc;

	memset(&a, 0, sizeof a);
	a.name = rmr_str(r, AUDIT_ACTOR_MAX);
	a.remote = rmr_opt_str(r, AUDIT_REMOTE_MAX);
	a.scopes = rmr_u32(r);
	a.org = rmr_opt_str(r, ID_MAX);
	op = rmr_u8(r);
	if (r->failed || (x = calloc(1, sizeof *x)) == NULL) {
		rmw_answer(w, RS_REFUSED, r->failed ? "a malformed catalog request" : "out of memory");
		return;
	}
	if ((x->cat = cat_open(kg, &a, NULL)) == NULL) {
		rmw_answer(w, RS_REFUSED, "a catalog request with an invalid actor");
		free(x);
		return;
	}
	x->r = r;
	rmw_init(&x->out);
	store_token_reset();
	repl_perm_reset();
	rc = exec_op(x, op);
	e = cat_error(x->cat);
	if (rc < 0) {
		rmw_answer(w, RS_REFUSED, x->why ? x->why : "a malformed catalog request");
	} else if (rc == CAT_OK && repl_perm_failed()) {
		/* committed here, but on too few sites to survive this master's loss */
		rmw_answer(w, RS_OK, "");
		catfwd_put_token(w);
		rmw_u8(w, CAT_STORE);
		rmw_opt_str(w, NULL);
		rmw_str(w, "the change was made on the master but no quorum of sites has "
		    "confirmed it yet: it is lost if the master fails first (keygate audit shows "
		    "whether it stayed)");
	} else {
		rmw_answer(w, RS_OK, "");
		catfwd_put_token(w);
		rmw_u8(w, (unsigned)rc);
		rmw_opt_str(w, rc == CAT_OK ? NULL : e->field);
		rmw_str(w, rc == CAT_OK ? "" : e->msg);
		if (rc == CAT_OK)
			rmw_bytes(w, x->out.buf, x->out.len);
	}
	if (cat_close(x->cat, err, sizeof err) != 0)
		log_warnx("the key index could not be brought up to date (%s); "
		    "authorizers read the store until it is rebuilt", err);
	if (x->out.buf != NULL)
		OPENSSL_cleanse(x->out.buf, x->out.len);
	rmw_free(&x->out);
	cat_new_key_wipe(&x->nk);
	free(x->items);
	OPENSSL_cleanse(x, sizeof *x);
	free(x);
}
