/*
 * apiobj.c - keygate's objects as JSON.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "apiobj.h"
#include "authz.h"
#include "decision.h"
#include "parse.h"
#include "rules.h"

const char *
apiobj_key_state(const struct key_rec *k, int64_t now)
{
	if (k->flags & KEYF_REVOKED)
		return "revoked";
	if (record_expired(k->expires_at, now))
		return "expired";
	return "active";
}

void
apiobj_rate(struct json *j, const struct rate_spec *r)
{
	char buf[48];

	if (r->count == 0)
		json_null(j);
	else
		json_str(j, format_rate(r, buf, sizeof buf));
}

static void
rules(struct json *j, const struct rule_view *r, size_t n)
{
	char buf[1024];
	size_t i;

	json_arr_begin(j);
	for (i = 0; i < n; i++) {
		rule_format(r[i].action, r[i].methods, r[i].host, r[i].path, buf, sizeof buf);
		json_str(j, buf);
	}
	json_arr_end(j);
}

static void
scopes(struct json *j, uint32_t held)
{
	uint32_t bit;
	size_t i;

	json_arr_begin(j);
	for (i = 0; (bit = cat_scope_at(i)) != 0; i++)
		if (held & bit)
			json_str(j, cat_scope_name(bit));
	json_arr_end(j);
}

void
apiobj_key_fields(struct json *j, const struct key_rec *k, int64_t last_used_at)
{
	json_kv_str(j, "id", k->id, 0);
	json_kv_str(j, "name", k->name, 1);
	json_kv_str(j, "org", k->org, 0);
	json_kv_str(j, "user", k->user, 1);
	json_kv_str(j, "mode", (k->flags & KEYF_TEST) ? "test" : "live", 0);
	json_kv_str(j, "display", k->display, 1);
	json_key(j, "scopes");
	scopes(j, cat_key_scopes(k));
	json_kv_str(j, "state", apiobj_key_state(k, kg_now()), 0);
	json_kv_time(j, "created_at", k->created_at);
	json_kv_time(j, "expires_at", k->expires_at);
	json_kv_time(j, "revoked_at", (k->flags & KEYF_REVOKED) ? k->revoked_at : 0);
	json_kv_time(j, "last_used_at", last_used_at);
	json_key(j, "rate");
	apiobj_rate(j, &k->rate);
	json_key(j, "rules");
	rules(j, k->rules, k->nrules);
	json_kv_str(j, "replaces", k->replaces, 1);
	json_kv_str(j, "replaced_by", k->successor, 1);
}

void
apiobj_key(struct json *j, const struct key_rec *k, int64_t last_used_at)
{
	json_obj_begin(j);
	apiobj_key_fields(j, k, last_used_at);
	json_obj_end(j);
}

void
apiobj_org(struct json *j, const char *id, const struct org_rec *o)
{
	json_obj_begin(j);
	json_kv_str(j, "id", id, 0);
	json_kv_str(j, "name", o->name, 1);
	json_kv_str(j, "plan", o->plan, 0);
	json_kv_str(j, "state", (o->flags & ORGF_SUSPENDED) ? "suspended" : "active", 0);
	json_kv_time(j, "created_at", o->created_at);
	json_obj_end(j);
}

void
apiobj_plan(struct json *j, const struct plan_rec *p)
{
	char buf[64];

	json_obj_begin(j);
	json_kv_str(j, "name", p->name, 0);
	json_key(j, "rate");
	apiobj_rate(j, &p->rate);
	json_key(j, "quota");
	if (p->quota.period == QUOTA_NONE)
		json_null(j);
	else
		json_str(j, format_quota(&p->quota, buf, sizeof buf));
	json_key(j, "max_keys");
	if (p->max_keys == 0)
		json_null(j);
	else
		json_uint(j, p->max_keys);
	json_kv_int(j, "overage", p->overage_pct);
	json_key(j, "rules");
	rules(j, p->rules, p->nrules);
	json_kv_time(j, "created_at", p->created_at);
	json_kv_time(j, "updated_at", p->updated_at);
	json_obj_end(j);
}

void
apiobj_day(struct json *j, int64_t day, const struct history_rec *h)
{
	char date[16];
	enum verdict v;
	int64_t y;
	unsigned m, d;
	int i;

	civil_from_days(day, &y, &m, &d);
	snprintf(date, sizeof date, "%04lld-%02u-%02u", (long long)y, m, d);
	json_obj_begin(j);
	json_kv_str(j, "date", date, 0);
	json_key(j, "allowed");
	json_uint(j, h->n[H_ALLOWED]);
	json_key(j, "denied");
	json_obj_begin(j);
	for (i = 0; i < H_COUNT; i++)
		if (h->n[i] != 0 && i != H_ALLOWED && authz_history_verdict(i, &v) == 0) {
			json_key(j, decision_info(v)->code);
			json_uint(j, h->n[i]);
		}
	json_obj_end(j);
	json_key(j, "quota_used");
	json_uint(j, h->n[H_QUOTA]);
	json_kv_time(j, "last_used_at", h->last_used);
	json_obj_end(j);
}
