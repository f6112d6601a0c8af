/*
 * cmd_usage.c - keygate usage: what organizations used in a period (the
 * counters for the current one, the history for earlier ones), the daily
 * history of an organization or a key, and pruning it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "cli.h"
#include "decision.h"
#include "tally.h"

/* ---- reading the history ---- */

static uint64_t
denied_total(const struct history_rec *h)
{
	uint64_t n = 0;
	int i;

	for (i = 0; i < H_COUNT; i++)
		if (i != H_ALLOWED && i != H_QUOTA)
			n += h->n[i];
	return n;
}

static void
day_label(int64_t day, char *buf, size_t n)
{
	int64_t y;
	unsigned m, d;

	civil_from_days(day, &y, &m, &d);
	snprintf(buf, n, "%04lld-%02u-%02u", (long long)y, m, d);
}

/* ---- the period view ---- */

struct usage {
	struct cli *c;
	const char *org;
	int have_period;
	enum quota_period pkind;
	int64_t pstart;
	struct json j;
	int rows;
	int failed;
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

/* Quota units org used in an earlier period, from the history's days. */
static int
past_used(struct cli *c, const char *org, enum quota_period kind, int64_t start,
    uint64_t *used)
{
	int64_t d = start / 86400, end = policy_period_next(kind, start) / 86400;
	struct history_rec h;
	int rc;

	for (*used = 0; d < end; d++) {
		if ((rc = tally_read_day(c->kg.store, d, TALLY_ORG, org, &h)) != ST_OK)
			return rc;
		*used += h.n[H_QUOTA];
	}
	return ST_OK;
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
	int64_t now = kg_now();
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
	/* A period of another kind than the plan's counts is not this plan's usage. */
	if (u->have_period && kind != QUOTA_CREDITS && kind != u->pkind)
		known = 0;
	if (known && u->have_period && kind != QUOTA_CREDITS &&
	    policy_period_id(kind, u->pstart) != policy_period_id(kind, now)) {
		pid = policy_period_id(kind, u->pstart);
		if (past_used(u->c, id, kind, u->pstart, &used) != ST_OK) {
			u->failed = 1;
			return 1;
		}
	} else {
		used = cat_org_used(u->c->cat, id, kind, now, &pid);
	}
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

static int
usage_period(struct cli *c, const struct args *a)
{
	struct cat_org org;
	struct usage u;
	const char *why;
	int rc;

	memset(&u, 0, sizeof u);
	u.c = c;
	u.org = arg_get(a, "org");
	if (arg_get(a, "period") != NULL) {
		if (parse_period(arg_get(a, "period"), &u.pkind, &u.pstart, &why) != 0)
			return cli_fail(EX_USAGE, "usage: --period: %s", why);
		if (u.pstart > kg_now())
			return cli_fail(EX_USAGE, "usage: --period: %s is in the future",
			    arg_get(a, "period"));
		u.have_period = 1;
	}
	if ((rc = cli_open(c)) != EX_OK)
		return rc;
	if (u.org != NULL && (rc = cli_cat_fail(c, cat_get_org(c->cat, u.org, &org))) != EX_OK)
		return rc;
	if (c->json) {
		json_init(&u.j, stdout);
		json_arr_begin(&u.j);
	} else {
		printf("%-24s %-16s %-10s %12s %12s\n", "ORG", "PLAN", "PERIOD", "USED", "QUOTA");
	}
	rc = store_scan(c->kg.store, NULL, TBL_ORGS, usage_row, &u);
	if (c->json)
		json_arr_end(&u.j);
	if (u.failed)
		return cli_fail(EX_STORE, "usage: the history cannot be read (keygate db check)");
	return rc == ST_OK ? EX_OK : cli_store_fail(c, rc, "organizations");
}

/* ---- the daily view ---- */

#define DAILY_DEFAULT_DAYS 30

struct daily {
	struct cli *c;
	struct json j;
	int64_t from, to; /* days since the epoch, inclusive */
};

static void
print_denied_json(struct json *j, const struct history_rec *h)
{
	enum verdict v;
	int i;

	json_key(j, "denied");
	json_obj_begin(j);
	for (i = 0; i < H_COUNT; i++)
		if (h->n[i] != 0 && i != H_ALLOWED && authz_history_verdict(i, &v) == 0) {
			json_key(j, decision_info(v)->code);
			json_uint(j, h->n[i]);
		}
	json_obj_end(j);
}

static void
print_denied_text(const struct history_rec *h)
{
	enum verdict v;
	int i;

	for (i = 0; i < H_COUNT; i++)
		if (h->n[i] != 0 && i != H_ALLOWED && authz_history_verdict(i, &v) == 0)
			printf(" %s=%llu", decision_info(v)->code, (unsigned long long)h->n[i]);
}

static void
print_day(struct daily *d, int64_t day, const char *org, const char *key,
    const struct history_rec *h)
{
	char date[16];

	day_label(day, date, sizeof date);
	if (d->c->json) {
		json_obj_begin(&d->j);
		json_kv_str(&d->j, "date", date, 0);
		json_key(&d->j, "allowed");
		json_uint(&d->j, h->n[H_ALLOWED]);
		print_denied_json(&d->j, h);
		json_key(&d->j, "quota_used");
		json_uint(&d->j, h->n[H_QUOTA]);
		json_kv_time(&d->j, "last_used_at", h->last_used);
		json_obj_end(&d->j);
		return;
	}
	printf("%-10s  %-24s %-20s %12llu %12llu %10llu ", date, org, key ? key : "-",
	    (unsigned long long)h->n[H_ALLOWED], (unsigned long long)h->n[H_QUOTA],
	    (unsigned long long)denied_total(h));
	print_denied_text(h);
	putchar('\n');
}

static void
daily_header(struct daily *d)
{
	if (!d->c->json)
		printf("%-10s  %-24s %-20s %12s %12s %10s  %s\n", "DATE", "ORG", "KEY",
		    "ALLOWED", "QUOTA_USED", "DENIED", "BY CODE");
}

/* One row per day of [from, to] for one org or key, zeros included. */
static int
daily_one(struct daily *d, enum tally_kind kind, const char *id, const char *org)
{
	struct history_rec h;
	int64_t day;
	int rc;

	if (d->c->json) {
		json_init(&d->j, stdout);
		json_obj_begin(&d->j);
		json_kv_str(&d->j, "org", org, 0);
		if (kind == TALLY_KEY)
			json_kv_str(&d->j, "key", id, 0);
		json_key(&d->j, "days");
		json_arr_begin(&d->j);
	}
	daily_header(d);
	for (day = d->from; day <= d->to; day++) {
		cli_progress();
		if ((rc = tally_read_day(d->c->kg.store, day, kind, id, &h)) != ST_OK) {
			if (d->c->json)
				fputs("\n", stdout);
			return rc == ST_ERROR ? cli_fail(EX_STORE,
			    "usage: a damaged history record (keygate db check)") :
			    cli_store_fail(d->c, rc, "history");
		}
		print_day(d, day, org, kind == TALLY_KEY ? id : NULL, &h);
	}
	if (d->c->json) {
		json_arr_end(&d->j);
		json_obj_end(&d->j);
		fputs("\n", stdout);
	}
	return EX_OK;
}

/* Every org with history in [from, to]: the days that have some. */
struct daily_all {
	struct daily *d;
	int64_t day;
	int damaged;
};

static int
daily_all_row(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct daily_all *a = ctx;
	char id[ID_MAX + 1];
	struct history_rec h;
	enum tally_kind kind;
	int64_t day;

	if (tally_parse_key(k, kl, &day, &kind, id) != 0)
		return 0;
	if (day != a->day || kind != TALLY_ORG)
		return 1; /* past this day's orgs */
	if (record_decode_history(v, vl, &h) != 0) {
		a->damaged = 1;
		return 1;
	}
	if (a->d->c->json) {
		json_obj_begin(&a->d->j);
		json_kv_str(&a->d->j, "org", id, 0);
		json_key(&a->d->j, "days");
		json_arr_begin(&a->d->j);
		print_day(a->d, day, id, NULL, &h);
		json_arr_end(&a->d->j);
		json_obj_end(&a->d->j);
	} else {
		print_day(a->d, day, id, NULL, &h);
	}
	return 0;
}

static int
daily_all(struct daily *d)
{
	unsigned char from[HISTORY_KEY_MAX];
	struct daily_all a;
	int rc = ST_OK;

	memset(&a, 0, sizeof a);
	a.d = d;
	if (d->c->json) {
		json_init(&d->j, stdout);
		json_arr_begin(&d->j);
	}
	daily_header(d);
	for (a.day = d->from; a.day <= d->to && rc == ST_OK && !a.damaged; a.day++) {
		cli_progress();
		rc = store_scan_from(d->c->kg.store, NULL, TBL_HISTORY, from,
		    tally_key(a.day, TALLY_ORG, "", from), daily_all_row, &a);
	}
	if (d->c->json) {
		json_arr_end(&d->j);
		fputs("\n", stdout);
	}
	if (a.damaged)
		return cli_fail(EX_STORE, "usage: a damaged history record (keygate db check)");
	return rc == ST_OK ? EX_OK : cli_store_fail(d->c, rc, "history");
}

static int
parse_day(const char *opt, const char *s, int64_t *day)
{
	enum quota_period kind;
	const char *why;
	int64_t start;

	if (parse_period(s, &kind, &start, &why) != 0 || kind != QUOTA_DAY)
		return cli_fail(EX_USAGE, "usage: --%s: a date YYYY-MM-DD, not '%.32s'", opt, s);
	*day = start / 86400;
	return EX_OK;
}

static int
daily_range(const struct args *a, struct daily *d)
{
	const char *from = arg_get(a, "from"), *to = arg_get(a, "to");
	int64_t today = kg_now() / 86400;
	int code;

	d->to = today;
	if (to != NULL && (code = parse_day("to", to, &d->to)) != EX_OK)
		return code;
	d->from = d->to - (DAILY_DEFAULT_DAYS - 1);
	if (from != NULL && (code = parse_day("from", from, &d->from)) != EX_OK)
		return code;
	if (d->to > today)
		return cli_fail(EX_USAGE, "usage: --to %s is in the future", to);
	if (d->from > d->to)
		return cli_fail(EX_USAGE, "usage: --from %s is after --to", from);
	if (d->to - d->from >= HISTORY_KEEP_DAYS)
		return cli_fail(EX_USAGE, "usage: at most %d days at a time (history is kept %d days)",
		    HISTORY_KEEP_DAYS, HISTORY_KEEP_DAYS);
	return EX_OK;
}

static int
usage_daily(struct cli *c, const struct args *a)
{
	const char *org = arg_get(a, "org"), *key = arg_get(a, "key");
	struct cat_key ck;
	struct cat_org co;
	struct daily d;
	int code;

	memset(&d, 0, sizeof d);
	d.c = c;
	if (arg_has(a, "period"))
		return cli_fail(EX_USAGE, "usage: --daily takes --from and --to, not --period");
	if ((code = daily_range(a, &d)) != EX_OK)
		return code;
	if ((code = cli_open(c)) != EX_OK)
		return code;
	if (key != NULL) {
		if ((code = cli_cat_fail(c, cat_get_key(c->cat, key, &ck))) != EX_OK)
			return code;
		if (org != NULL && strcmp(org, ck.k.org) != 0)
			return cli_fail(EX_NOTFOUND, "key %s is not a key of organization '%.64s'",
			    ck.k.id, org);
		return daily_one(&d, TALLY_KEY, ck.k.id, ck.k.org);
	}
	if (org != NULL) {
		if ((code = cli_cat_fail(c, cat_get_org(c->cat, org, &co))) != EX_OK)
			return code;
		return daily_one(&d, TALLY_ORG, org, org);
	}
	return daily_all(&d);
}

/* ---- prune ---- */

static int
usage_prune(struct cli *c, int argc, char **argv)
{
	static const struct optspec specs[] = {{"before", 1, 0}, {NULL, 0, 0}};
	struct args a;
	int64_t before;
	uint64_t total = 0;
	int code;

	c->cmd = "usage prune";
	if ((code = cli_parse(c, argc, argv, specs, 0, 0, "usage prune --before YYYY-MM-DD",
	    &a)) != EX_OK)
		return code;
	if (arg_get(&a, "before") == NULL)
		return cli_fail(EX_USAGE, "usage prune: --before YYYY-MM-DD is required");
	if ((code = parse_day("before", arg_get(&a, "before"), &before)) != EX_OK)
		return code;
	if ((code = cli_open(c)) != EX_OK)
		return code;
	/* in transactions of a bounded size: a large prune never holds the store long */
	if ((code = cli_cat_fail(c, cat_usage_prune(c->cat, before, &total))) != EX_OK)
		return code;
	cli_note("keygate: %llu day records before %s pruned", (unsigned long long)total,
	    arg_get(&a, "before"));
	return EX_OK;
}

int
cmd_usage(struct cli *c, int argc, char **argv)
{
	static const struct optspec specs[] = {
		{"org", 1, 0}, {"period", 1, 0}, {"daily", 0, 0}, {"key", 1, 0},
		{"from", 1, 0}, {"to", 1, 0}, {NULL, 0, 0},
	};
	struct args a;
	int code;

	if (argc > 0 && strcmp(argv[0], "prune") == 0)
		return usage_prune(c, argc - 1, argv + 1);
	c->cmd = "usage";
	if ((code = cli_parse(c, argc, argv, specs, 0, 0,
	    "usage [--org ORG] [--period YYYY-MM|YYYY-MM-DD] [--json] | "
	    "usage --daily [--org ORG] [--key ID] [--from DATE] [--to DATE] [--json] | "
	    "usage prune --before DATE", &a)) != EX_OK)
		return code;
	if (arg_has(&a, "daily"))
		return usage_daily(c, &a);
	if (arg_has(&a, "key") || arg_has(&a, "from") || arg_has(&a, "to"))
		return cli_fail(EX_USAGE, "usage: --key, --from and --to go with --daily");
	return usage_period(c, &a);
}
