/*
 * cmd_verify.c - keygate verify (the authorizer's decision for a key,
 * consuming nothing) and keygate usage (what the counters hold).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "authz.h"
#include "cli.h"
#include "decision.h"

static void
print_decision(const struct authz_res *r)
{
	const struct decision_info *d = decision_info(r->verdict);
	struct json j;

	json_init(&j, stdout);
	json_obj_begin(&j);
	json_kv_int(&j, "status", d->status);
	json_key(&j, "allowed");
	json_bool(&j, r->verdict == V_ALLOW);
	if (r->verdict != V_ALLOW) {
		json_key(&j, "error");
		json_obj_begin(&j);
		json_kv_str(&j, "code", d->code, 0);
		json_kv_str(&j, "message", d->message, 0);
		json_obj_end(&j);
		json_kv_str(&j, "reason", r->reason, 0);
	}
	json_kv_str(&j, "key_id", r->key_id, 0);
	json_kv_str(&j, "key", r->display[0] ? r->display : NULL, 0);
	if (r->key_id != NULL)
		json_kv_str(&j, "key_mode", r->mode == MODE_TEST ? "test" : "live", 0);
	json_kv_str(&j, "org_id", r->org, 0);
	json_kv_str(&j, "plan", r->plan, 0);
	if (r->user != NULL)
		json_kv_str(&j, "user_id", r->user, 0);
	if (r->has_rate) {
		json_key(&j, "rate_limit");
		json_obj_begin(&j);
		json_kv_int(&j, "limit", r->rate.limit);
		json_key(&j, "remaining");
		json_uint(&j, r->rate.remaining);
		json_kv_int(&j, "reset", r->rate.reset_s);
		if (r->verdict == V_RATE)
			json_kv_int(&j, "retry_after", r->rate.retry_after_s);
		json_obj_end(&j);
	}
	if (r->has_quota) {
		json_key(&j, "quota");
		json_obj_begin(&j);
		json_key(&j, "limit");
		json_uint(&j, r->quota.limit);
		json_key(&j, "used");
		json_uint(&j, r->quota.used);
		json_key(&j, "remaining");
		json_uint(&j, r->quota.remaining);
		json_key(&j, "over_quota");
		json_bool(&j, r->quota.over);
		json_obj_end(&j);
	}
	json_obj_end(&j);
}

int
cmd_verify(struct cli *c, int argc, char **argv)
{
	static const struct optspec specs[] = {
		{"method", 1, 0}, {"path", 1, 0}, {"host", 1, 0}, {NULL, 0, 0},
	};
	char key[APIKEY_MAX + 4];
	struct authz_req q;
	struct authz_res r;
	struct authz *az;
	struct args a;
	int code;

	c->cmd = "verify";
	if ((code = cli_parse(c, argc, argv, specs, 1, 1,
	    "verify KEY|- [--method GET] [--path /v1/x] [--host HOST]", &a)) != EX_OK)
		return code;
	/* "-" reads the key from stdin, so it stays out of ps and shell history */
	if (strcmp(a.pos[0], "-") == 0) {
		size_t n;
		if (fgets(key, sizeof key, stdin) == NULL)
			return cli_fail(EX_USAGE, "verify: no key on stdin");
		n = strcspn(key, "\r\n");
		key[n] = '\0';
	} else {
		snprintf(key, sizeof key, "%s", a.pos[0]);
	}
	if ((code = cli_open(c)) != EX_OK)
		goto out;
	if ((az = malloc(sizeof *az)) == NULL) {
		code = cli_fail(EX_STORE, "out of memory");
		goto out;
	}
	authz_init(az, &c->kg, NULL);
	memset(&q, 0, sizeof q);
	q.role = ROLE_AUTHORIZER;
	q.x_api_key = key;
	q.method = arg_get(&a, "method") ? arg_get(&a, "method") : "GET";
	q.uri = arg_get(&a, "path") ? arg_get(&a, "path") : "/";
	q.host = arg_get(&a, "host");
	/* answered like an Apache subrequest: nothing is consumed or counted */
	q.subrequest = 1;
	authz_decide(az, &q, kg_now_ns(), &r);
	print_decision(&r);
	code = r.verdict == V_ALLOW ? EX_OK :
	    r.verdict == V_UNAVAILABLE ? EX_STORE : EX_NOTFOUND;
	OPENSSL_cleanse(az, sizeof *az);
	free(az);
out:
	OPENSSL_cleanse(key, sizeof key);
	return code;
}

/* ---- usage ---- */

struct usage {
	struct cli *c;
	const char *org;
	int have_period;
	enum quota_period pkind;
	int64_t pstart;
	struct json j;
	int rows;
};

static void
period_label(uint32_t id, char *buf, size_t n)
{
	int64_t y;
	unsigned m, d;

	if ((id >> 22) == 3) {
		snprintf(buf, n, "credits");
		return;
	}
	civil_from_days(policy_period_start(id) / 86400, &y, &m, &d);
	if ((id >> 22) == 1)
		snprintf(buf, n, "%04lld-%02u-%02u", (long long)y, m, d);
	else
		snprintf(buf, n, "%04lld-%02u", (long long)y, m);
}

static int
usage_row(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct usage *u = ctx;
	unsigned char pbuf[RECORD_MAX];
	char id[ID_MAX + 1], label[32];
	struct org_rec o;
	struct plan_rec p;
	enum quota_period kind = QUOTA_MONTH;
	uint64_t quota = 0, used = 0;
	uint32_t pid;
	size_t plen;
	int has_quota = 0, known = 1;

	if (kl > ID_MAX || record_decode_org(v, vl, &o) != 0)
		return 0;
	memcpy(id, k, kl);
	id[kl] = '\0';
	if (u->org != NULL && strcmp(u->org, id) != 0)
		return 0;
	if (store_get(u->c->kg.store, NULL, TBL_PLANS, o.plan, strlen(o.plan), pbuf,
	    sizeof pbuf, &plen, 0) == ST_OK && record_decode_plan(pbuf, plen, &p) == 0 &&
	    p.quota.period != QUOTA_NONE) {
		kind = p.quota.period;
		quota = p.quota.count + (kind == QUOTA_CREDITS ? o.credits : 0);
		has_quota = 1;
	}
	/* Counters keep the current period of each kind. */
	if (u->have_period && kind != QUOTA_CREDITS && (kind != u->pkind ||
	    policy_period_id(kind, u->pstart) != policy_period_id(kind, kg_now())))
		known = 0;
	used = cli_org_used(u->c, id, kind, kg_now(), &pid);
	period_label(pid, label, sizeof label);
	u->rows++;
	if (u->c->json) {
		json_obj_begin(&u->j);
		json_kv_str(&u->j, "org", id, 0);
		json_kv_str(&u->j, "plan", o.plan, 0);
		json_kv_str(&u->j, "period", known ? label : NULL, 0);
		json_key(&u->j, "used");
		if (known)
			json_uint(&u->j, used);
		else
			json_null(&u->j);
		json_key(&u->j, "quota");
		if (has_quota)
			json_uint(&u->j, quota);
		else
			json_null(&u->j);
		json_obj_end(&u->j);
	} else if (!known) {
		printf("%-24s %-16s %-10s %12s %12s  (the plan counts by %s)\n", id, o.plan, "-",
		    "-", "-", kind == QUOTA_DAY ? "day" : "month");
	} else {
		char qb[32];
		snprintf(qb, sizeof qb, "%llu", (unsigned long long)quota);
		printf("%-24s %-16s %-10s %12llu %12s\n", id, o.plan, label,
		    (unsigned long long)used, has_quota ? qb : "-");
	}
	return 0;
}

int
cmd_usage(struct cli *c, int argc, char **argv)
{
	static const struct optspec specs[] = {{"org", 1, 0}, {"period", 1, 0}, {NULL, 0, 0}};
	struct usage u;
	struct args a;
	const char *why;
	int code, rc;

	c->cmd = "usage";
	if ((code = cli_parse(c, argc, argv, specs, 0, 0,
	    "usage [--org ORG] [--period YYYY-MM|YYYY-MM-DD] [--json]", &a)) != EX_OK)
		return code;
	memset(&u, 0, sizeof u);
	u.c = c;
	u.org = arg_get(&a, "org");
	if (arg_get(&a, "period") != NULL) {
		if (parse_period(arg_get(&a, "period"), &u.pkind, &u.pstart, &why) != 0)
			return cli_fail(EX_USAGE, "usage: --period: %s", why);
		u.have_period = 1;
	}
	if ((code = cli_open(c)) != EX_OK)
		return code;
	if (u.org != NULL && !cli_exists(c, NULL, TBL_ORGS, u.org))
		return cli_fail(EX_NOTFOUND, "organization '%s' not found", u.org);
	if (c->json) {
		json_init(&u.j, stdout);
		json_arr_begin(&u.j);
	} else {
		printf("%-24s %-16s %-10s %12s %12s\n", "ORG", "PLAN", "PERIOD", "USED", "QUOTA");
	}
	rc = store_scan(c->kg.store, NULL, TBL_ORGS, usage_row, &u);
	if (c->json)
		json_arr_end(&u.j);
	return rc == ST_OK ? EX_OK : cli_store_fail(c, rc, "organizations");
}
