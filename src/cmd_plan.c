/*
 * cmd_plan.c - keygate plan set|list|show|delete: options in, catalog
 * calls, output out.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

static int
plan_set(struct cli *c, int argc, char **argv)
{
	static const struct optspec specs[] = {
		{"rate", 1, 0}, {"quota", 1, 0}, {"max-keys", 1, 0}, {"overage", 1, 0},
		{"allow", 1, 1}, {"deny", 1, 1}, {"clear-rules", 0, 0}, {NULL, 0, 0},
	};
	struct rule rules[RULES_MAX];
	struct rule_view views[RULES_MAX];
	struct cat_plan_spec ps;
	struct args a;
	const char *v, *why;
	uint64_t n;
	int code, created;

	c->cmd = "plan set";
	memset(&ps, 0, sizeof ps);
	if ((code = cli_parse(c, argc, argv, specs, 1, 1,
	    "plan set NAME [--rate 100/s] [--quota 100000/month] [--max-keys 5] "
	    "[--overage 20%] [--allow RULE] [--deny RULE]", &a)) != EX_OK)
		return code;
	ps.name = a.pos[0];
	/* Everything is parsed before the store is touched. */
	if ((v = arg_get(&a, "rate")) && parse_rate(v, &ps.rate, &why) != 0)
		return cli_fail(EX_USAGE, "plan set: --rate: %s", why);
	if ((v = arg_get(&a, "quota")) && parse_quota(v, &ps.quota, &why) != 0)
		return cli_fail(EX_USAGE, "plan set: --quota: %s", why);
	if ((v = arg_get(&a, "max-keys"))) {
		if (parse_u64(v, 0, CAT_MAX_KEYS_MAX, &n, &why) != 0)
			return cli_fail(EX_USAGE, "plan set: --max-keys: %s", why);
		ps.max_keys = (uint32_t)n;
	}
	if ((v = arg_get(&a, "overage")) && parse_percent(v, &ps.overage_pct, &why) != 0)
		return cli_fail(EX_USAGE, "plan set: --overage: %s", why);
	ps.set_rate = arg_has(&a, "rate");
	ps.set_quota = arg_has(&a, "quota");
	ps.set_max_keys = arg_has(&a, "max-keys");
	ps.set_overage = arg_has(&a, "overage");
	if ((code = cli_parse_rules(&a, rules, views, &ps.nrules)) != EX_OK)
		return code;
	if (arg_has(&a, "clear-rules") && ps.nrules > 0)
		return cli_fail(EX_USAGE, "plan set: --clear-rules cannot be combined with --allow or --deny");
	ps.rules = views;
	ps.set_rules = ps.nrules > 0 || arg_has(&a, "clear-rules");
	if ((code = cli_open(c)) != EX_OK)
		return code;
	if ((code = cli_cat_fail(c, cat_plan_set(c->cat, &ps, &created))) != EX_OK)
		return code;
	cli_note("keygate: plan %s %s", ps.name, created ? "created" : "updated");
	return EX_OK;
}

static void
print_plan_text(const struct plan_rec *p)
{
	char r[64], q[64], t[32];

	printf("name:      %s\n", p->name);
	printf("rate:      %s\n", format_rate(&p->rate, r, sizeof r));
	printf("quota:     %s%s\n", format_quota(&p->quota, q, sizeof q),
	    p->quota.period == QUOTA_CREDITS ? " (prepaid credits)" : "");
	if (p->overage_pct)
		printf("overage:   %u%%\n", p->overage_pct);
	if (p->max_keys)
		printf("max keys:  %u\n", p->max_keys);
	else
		printf("max keys:  unlimited\n");
	printf("created:   %s\n", format_time(p->created_at, t, sizeof t));
	printf("rules:%s\n", p->nrules ? "" : "     none (everything allowed)");
	cli_print_rules(stdout, p->rules, p->nrules, "  ");
}

static void
json_plan(struct json *j, const struct plan_rec *p)
{
	char r[64], q[64];

	json_obj_begin(j);
	json_kv_str(j, "name", p->name, 0);
	json_kv_str(j, "rate", p->rate.count ? format_rate(&p->rate, r, sizeof r) : NULL, 0);
	json_kv_str(j, "quota", p->quota.period ? format_quota(&p->quota, q, sizeof q) : NULL, 0);
	json_kv_int(j, "overage_percent", p->overage_pct);
	json_key(j, "max_keys");
	if (p->max_keys)
		json_uint(j, p->max_keys);
	else
		json_null(j);
	json_kv_time(j, "created_at", p->created_at);
	json_kv_time(j, "updated_at", p->updated_at);
	json_key(j, "rules");
	cli_json_rules(j, p->rules, p->nrules);
	json_obj_end(j);
}

struct plan_list {
	struct json j;
	int json;
	int count;
};

static int
plan_list_row(const struct plan_rec *p, void *ctx)
{
	struct plan_list *pl = ctx;
	char r[64], q[64], mk[16];

	if (p == NULL) {
		cli_note("keygate: skipping a damaged plan record (run keygate db check)");
		return 0;
	}
	pl->count++;
	if (pl->json) {
		json_plan(&pl->j, p);
		return 0;
	}
	snprintf(mk, sizeof mk, "%u", p->max_keys);
	printf("%-20s %-12s %-18s %-9s %u\n", p->name, format_rate(&p->rate, r, sizeof r),
	    format_quota(&p->quota, q, sizeof q), p->max_keys ? mk : "unlimited",
	    (unsigned)p->nrules);
	return 0;
}

static int
plan_list(struct cli *c, int argc, char **argv)
{
	struct plan_list pl;
	struct args a;
	int code, rc;

	c->cmd = "plan list";
	if ((code = cli_parse(c, argc, argv, NULL, 0, 0, "plan list [--json]", &a)) != EX_OK)
		return code;
	if ((code = cli_open(c)) != EX_OK)
		return code;
	memset(&pl, 0, sizeof pl);
	pl.json = c->json;
	if (pl.json) {
		json_init(&pl.j, stdout);
		json_arr_begin(&pl.j);
	} else {
		printf("%-20s %-12s %-18s %-9s %s\n", "NAME", "RATE", "QUOTA", "MAXKEYS", "RULES");
	}
	rc = cat_list_plans(c->cat, plan_list_row, &pl);
	if (pl.json)
		json_arr_end(&pl.j);
	return cli_cat_fail(c, rc);
}

static int
plan_show(struct cli *c, int argc, char **argv)
{
	struct cat_plan cp;
	struct args a;
	struct json j;
	int code;

	c->cmd = "plan show";
	if ((code = cli_parse(c, argc, argv, NULL, 1, 1, "plan show NAME [--json]", &a)) != EX_OK)
		return code;
	if ((code = cli_open(c)) != EX_OK)
		return code;
	if ((code = cli_cat_fail(c, cat_get_plan(c->cat, a.pos[0], &cp))) != EX_OK)
		return code;
	if (c->json) {
		json_init(&j, stdout);
		json_plan(&j, &cp.p);
	} else {
		print_plan_text(&cp.p);
	}
	return EX_OK;
}

static int
plan_delete(struct cli *c, int argc, char **argv)
{
	struct args a;
	int code;

	c->cmd = "plan delete";
	if ((code = cli_parse(c, argc, argv, NULL, 1, 1, "plan delete NAME", &a)) != EX_OK)
		return code;
	if ((code = cli_open(c)) != EX_OK)
		return code;
	if ((code = cli_cat_fail(c, cat_plan_delete(c->cat, a.pos[0]))) != EX_OK)
		return code;
	cli_note("keygate: plan %s deleted", a.pos[0]);
	return EX_OK;
}

int
cmd_plan(struct cli *c, int argc, char **argv)
{
	c->cmd = "plan";
	if (argc < 1)
		return cli_fail(EX_USAGE, "plan: expected set, list, show or delete");
	if (strcmp(argv[0], "set") == 0)
		return plan_set(c, argc - 1, argv + 1);
	if (strcmp(argv[0], "list") == 0)
		return plan_list(c, argc - 1, argv + 1);
	if (strcmp(argv[0], "show") == 0)
		return plan_show(c, argc - 1, argv + 1);
	if (strcmp(argv[0], "delete") == 0)
		return plan_delete(c, argc - 1, argv + 1);
	return cli_fail(EX_USAGE, "plan: unknown subcommand '%s' (set, list, show, delete)", argv[0]);
}
