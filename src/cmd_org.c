/*
 * cmd_org.c - keygate org create|set|credit|list|show: options in,
 * catalog calls, output out.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "policy.h"

static int
org_create(struct cli *c, int argc, char **argv)
{
	static const struct optspec specs[] = {
		{"plan", 1, 0}, {"name", 1, 0}, {NULL, 0, 0},
	};
	struct args a;
	int code;

	c->cmd = "org create";
	if ((code = cli_parse(c, argc, argv, specs, 1, 1,
	    "org create ORG --plan NAME [--name TEXT]", &a)) != EX_OK)
		return code;
	if (arg_get(&a, "plan") == NULL)
		return cli_fail(EX_USAGE, "org create: --plan NAME is required");
	if ((code = cli_open(c)) != EX_OK)
		return code;
	if ((code = cli_cat_fail(c, cat_org_create(c->cat, a.pos[0], arg_get(&a, "plan"),
	    arg_get(&a, "name")))) != EX_OK)
		return code;
	cli_note("keygate: organization %s created on plan %s", a.pos[0], arg_get(&a, "plan"));
	return EX_OK;
}

static int
org_set(struct cli *c, int argc, char **argv)
{
	static const struct optspec specs[] = {
		{"plan", 1, 0}, {"name", 1, 0}, {"suspend", 0, 0}, {"resume", 0, 0},
		{NULL, 0, 0},
	};
	struct cat_org_change ch;
	struct args a;
	int code;

	c->cmd = "org set";
	if ((code = cli_parse(c, argc, argv, specs, 1, 1,
	    "org set ORG [--plan NAME] [--name TEXT] [--suspend | --resume]", &a)) != EX_OK)
		return code;
	if (arg_has(&a, "suspend") && arg_has(&a, "resume"))
		return cli_fail(EX_USAGE, "org set: --suspend and --resume exclude each other");
	ch.plan = arg_get(&a, "plan");
	ch.name = arg_get(&a, "name");
	ch.suspended = arg_has(&a, "suspend") ? 1 : arg_has(&a, "resume") ? 0 : CAT_KEEP;
	if (cat_org_change_empty(&ch))
		return cli_fail(EX_USAGE, "org set: nothing to change (--plan, --name, --suspend, --resume)");
	if ((code = cli_open(c)) != EX_OK)
		return code;
	if ((code = cli_cat_fail(c, cat_org_set(c->cat, a.pos[0], &ch))) != EX_OK)
		return code;
	cli_note("keygate: organization %s updated%s", a.pos[0],
	    arg_has(&a, "suspend") ? " (suspended)" : arg_has(&a, "resume") ? " (resumed)" : "");
	return EX_OK;
}

static int
org_credit(struct cli *c, int argc, char **argv)
{
	struct args a;
	const char *v, *why;
	uint64_t n, granted;
	int code, neg = 0;

	c->cmd = "org credit";
	if ((code = cli_parse(c, argc, argv, NULL, 2, 2, "org credit ORG +N", &a)) != EX_OK)
		return code;
	v = a.pos[1];
	if (*v == '+')
		v++;
	else if (*v == '-')
		v++, neg = 1;
	if (parse_u64(v, 1, QUOTA_USED_MAX, &n, &why) != 0)
		return cli_fail(EX_USAGE, "org credit: '%s': %s (use +N to add, -N to take back)",
		    a.pos[1], why);
	if ((code = cli_open(c)) != EX_OK)
		return code;
	if ((code = cli_cat_fail(c, cat_org_credit(c->cat, a.pos[0],
	    neg ? -(int64_t)n : (int64_t)n, &granted, NULL))) != EX_OK)
		return code;
	cli_note("keygate: organization %s now has %llu credits granted in total", a.pos[0],
	    (unsigned long long)granted);
	return EX_OK;
}

/* Units used in the current period, with its quota. */
struct usage_now {
	uint64_t used, quota;
	uint32_t period;
	int has_quota;
};

static void
org_usage(struct cli *c, const char *id, const struct org_rec *o,
    const struct plan_rec *p, struct usage_now *u)
{
	enum quota_period kind = p ? p->quota.period : QUOTA_NONE;

	memset(u, 0, sizeof u[0]);
	u->has_quota = kind != QUOTA_NONE;
	u->quota = p ? p->quota.count : 0;
	if (p && kind == QUOTA_CREDITS)
		u->quota += o->credits;
	/* without a quota, usage is counted by month */
	u->used = cat_org_used(c->cat, id, kind, kg_now(), &u->period);
}

static void
json_org(struct cli *c, struct json *j, const char *id, const struct org_rec *o,
    const struct plan_rec *p)
{
	struct usage_now u;

	org_usage(c, id, o, p, &u);
	json_obj_begin(j);
	json_kv_str(j, "id", id, 0);
	json_kv_str(j, "name", o->name, 1);
	json_kv_str(j, "plan", o->plan, 0);
	json_key(j, "suspended");
	json_bool(j, (o->flags & ORGF_SUSPENDED) != 0);
	json_kv_int(j, "keys", o->nkeys);
	json_key(j, "credits");
	json_uint(j, o->credits);
	json_key(j, "balance");
	if (p != NULL && p->quota.period == QUOTA_CREDITS)
		json_int(j, cat_org_balance(c->cat, id, o, p));
	else
		json_null(j);
	json_kv_time(j, "created_at", o->created_at);
	json_key(j, "used");
	json_uint(j, u.used);
	json_key(j, "quota");
	if (u.has_quota)
		json_uint(j, u.quota);
	else
		json_null(j);
	json_obj_end(j);
}

struct org_list {
	struct cli *c;
	struct json j;
};

static int
org_list_row(const char *id, const struct org_rec *o, void *ctx)
{
	struct org_list *ol = ctx;
	struct cat_plan cp;

	if (o == NULL) {
		cli_note("keygate: skipping a damaged organization record (run keygate db check)");
		return 0;
	}
	if (ol->c->json) {
		json_org(ol->c, &ol->j, id, o,
		    cat_get_plan(ol->c->cat, o->plan, &cp) == CAT_OK ? &cp.p : NULL);
		return 0;
	}
	printf("%-24s %-16s %-9s %6u  %s\n", id, o->plan,
	    (o->flags & ORGF_SUSPENDED) ? "suspended" : "active", o->nkeys, o->name);
	return 0;
}

static int
org_list(struct cli *c, int argc, char **argv)
{
	struct org_list ol;
	struct args a;
	int code, rc;

	c->cmd = "org list";
	if ((code = cli_parse(c, argc, argv, NULL, 0, 0, "org list [--json]", &a)) != EX_OK)
		return code;
	if ((code = cli_open(c)) != EX_OK)
		return code;
	memset(&ol, 0, sizeof ol);
	ol.c = c;
	if (c->json) {
		json_init(&ol.j, stdout);
		json_arr_begin(&ol.j);
	} else {
		printf("%-24s %-16s %-9s %6s  %s\n", "ORG", "PLAN", "STATE", "KEYS", "NAME");
	}
	rc = cat_list_orgs(c->cat, org_list_row, &ol);
	if (c->json)
		json_arr_end(&ol.j);
	return cli_cat_fail(c, rc);
}

static int
org_show(struct cli *c, int argc, char **argv)
{
	struct cat_org co;
	struct cat_plan cp;
	const struct org_rec *o = &co.o;
	const struct plan_rec *p;
	struct usage_now u;
	struct args a;
	struct json j;
	char tb[32];
	int code;

	c->cmd = "org show";
	if ((code = cli_parse(c, argc, argv, NULL, 1, 1, "org show ORG [--json]", &a)) != EX_OK)
		return code;
	if ((code = cli_open(c)) != EX_OK)
		return code;
	if ((code = cli_cat_fail(c, cat_get_org(c->cat, a.pos[0], &co))) != EX_OK)
		return code;
	p = cat_get_plan(c->cat, o->plan, &cp) == CAT_OK ? &cp.p : NULL;
	if (c->json) {
		json_init(&j, stdout);
		json_org(c, &j, a.pos[0], o, p);
		return EX_OK;
	}
	org_usage(c, a.pos[0], o, p, &u);
	printf("id:        %s\n", a.pos[0]);
	printf("name:      %s\n", o->name);
	printf("plan:      %s\n", o->plan);
	printf("state:     %s\n", (o->flags & ORGF_SUSPENDED) ? "suspended" : "active");
	printf("keys:      %u\n", o->nkeys);
	printf("credits:   %llu\n", (unsigned long long)o->credits);
	if (p != NULL && p->quota.period == QUOTA_CREDITS)
		printf("balance:   %lld\n", (long long)cat_org_balance(c->cat, a.pos[0], o, p));
	printf("created:   %s\n", format_time(o->created_at, tb, sizeof tb));
	if (u.has_quota)
		printf("usage:     %llu of %llu\n", (unsigned long long)u.used,
		    (unsigned long long)u.quota);
	else
		printf("usage:     %llu this month (no quota)\n", (unsigned long long)u.used);
	return EX_OK;
}

int
cmd_org(struct cli *c, int argc, char **argv)
{
	c->cmd = "org";
	if (argc < 1)
		return cli_fail(EX_USAGE, "org: expected create, set, credit, list or show");
	if (strcmp(argv[0], "create") == 0)
		return org_create(c, argc - 1, argv + 1);
	if (strcmp(argv[0], "set") == 0)
		return org_set(c, argc - 1, argv + 1);
	if (strcmp(argv[0], "credit") == 0)
		return org_credit(c, argc - 1, argv + 1);
	if (strcmp(argv[0], "list") == 0)
		return org_list(c, argc - 1, argv + 1);
	if (strcmp(argv[0], "show") == 0)
		return org_show(c, argc - 1, argv + 1);
	return cli_fail(EX_USAGE, "org: unknown subcommand '%s' (create, set, credit, list, show)",
	    argv[0]);
}
