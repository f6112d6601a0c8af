/*
 * cmd_audit.c - keygate audit [--org ORG] [--since DATE] [--limit N] and
 * keygate audit prune --before DATE: the trail of every change, newest
 * first (what an operator asks first is what changed last; a page never
 * shifts while changes are made, see audit.h).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "cli.h"

struct listing {
	struct cli *c;
	struct json j;
	unsigned long damaged;
};

/* A value in a line of text: bare when that is unambiguous, else quoted. */
static void
print_value(const char *s)
{
	char esc[AUDIT_VALUE_MAX * 6 + 1];

	if (s[0] != '\0' && strpbrk(s, " \t\"=,[]") == NULL && strcmp(s, "null") != 0) {
		fputs(s, stdout);
		return;
	}
	json_escape(s, strlen(s), esc, sizeof esc);
	printf("\"%s\"", esc);
}

static void
print_changes(const struct audit_rec *r)
{
	size_t i, k;

	for (i = 0; i < r->nfields; i++) {
		const struct audit_field *f = &r->f[i];

		printf(" %s=", f->name);
		switch (f->type) {
		case AUDIT_STR:
			print_value(f->str);
			break;
		case AUDIT_INT:
			printf("%lld", (long long)f->num);
			break;
		case AUDIT_BOOL:
			fputs(f->num ? "true" : "false", stdout);
			break;
		case AUDIT_LIST:
			putchar('[');
			for (k = 0; k < (size_t)f->num && i + 1 < r->nfields; k++) {
				if (k > 0)
					putchar(',');
				print_value(r->f[++i].str);
			}
			putchar(']');
			break;
		default:
			fputs("null", stdout);
			break;
		}
	}
}

static void
audit_line(const char *at, const char *actor, const char *action, const char *org,
    const char *target)
{
	cli_pad(at, 27);
	putchar(' ');
	cli_pad(actor, 16);
	putchar(' ');
	cli_pad(action, 12);
	putchar(' ');
	cli_pad(org, 16);
	putchar(' ');
	cli_pad(target, 22);
}

static int
audit_row(const struct cat_audit *a, void *ctx)
{
	struct listing *l = ctx;
	const struct audit_rec *r;
	char at[AUDIT_AT_MAX];

	if (a == NULL) {
		l->damaged++;
		return 0;
	}
	r = &a->r;
	if (l->c->json) {
		audit_json(&l->j, a->at_ns, r);
		return 0;
	}
	audit_line(audit_format_at(a->at_ns, at, sizeof at), r->actor, r->action,
	    r->org[0] ? r->org : "-", r->target[0] ? r->target : "-");
	if (r->remote[0])
		printf(" from=%s", r->remote);
	print_changes(r);
	putchar('\n');
	return 0;
}

static int
audit_prune(struct cli *c, int argc, char **argv)
{
	static const struct optspec specs[] = {{"before", 1, 0}, {NULL, 0, 0}};
	struct args a;
	const char *v, *why;
	int64_t before;
	uint64_t n;
	int code;

	c->cmd = "audit prune";
	if ((code = cli_parse(c, argc, argv, specs, 0, 0, "audit prune --before DATE", &a)) != EX_OK)
		return code;
	if ((v = arg_get(&a, "before")) == NULL)
		return cli_fail(EX_USAGE, "audit prune: --before DATE is required");
	if (parse_datetime(v, &before, &why) != 0)
		return cli_fail(EX_USAGE, "audit prune: --before: %s", why);
	if ((code = cli_open(c)) != EX_OK)
		return code;
	if ((code = cli_cat_fail(c, cat_audit_prune(c->cat, before, &n))) != EX_OK)
		return code;
	cli_note("keygate: %llu audit records before %s pruned", (unsigned long long)n, v);
	return EX_OK;
}

int
cmd_audit(struct cli *c, int argc, char **argv)
{
	static const struct optspec specs[] = {
		{"org", 1, 0}, {"since", 1, 0}, {"limit", 1, 0}, {NULL, 0, 0},
	};
	struct listing l;
	struct args a;
	const char *v, *why, *org;
	int64_t since = 0;
	uint64_t limit = 0;
	int code, rc;

	if (argc > 0 && strcmp(argv[0], "prune") == 0)
		return audit_prune(c, argc - 1, argv + 1);
	c->cmd = "audit";
	if ((code = cli_parse(c, argc, argv, specs, 0, 0,
	    "audit [--org ORG] [--since DATE] [--limit N] [--json] | audit prune --before DATE",
	    &a)) != EX_OK)
		return code;
	if ((org = arg_get(&a, "org")) != NULL && !record_id_valid(org))
		return cli_fail(EX_USAGE, "audit: --org: an id is 1-64 of A-Z a-z 0-9 . _ -");
	if ((v = arg_get(&a, "since")) != NULL && parse_datetime(v, &since, &why) != 0)
		return cli_fail(EX_USAGE, "audit: --since: %s", why);
	if ((v = arg_get(&a, "limit")) != NULL && parse_u64(v, 1, UINT32_MAX, &limit, &why) != 0)
		return cli_fail(EX_USAGE, "audit: --limit: %s", why);
	if ((code = cli_open(c)) != EX_OK)
		return code;
	memset(&l, 0, sizeof l);
	l.c = c;
	if (c->json) {
		json_init(&l.j, stdout);
		json_arr_begin(&l.j);
	} else {
		audit_line("AT", "ACTOR", "ACTION", "ORG", "TARGET");
		printf(" CHANGES\n");
	}
	rc = cat_audit_list(c->cat, org, since, NULL, (size_t)limit, audit_row, &l, NULL);
	if (c->json)
		json_arr_end(&l.j);
	if (l.damaged > 0)
		cli_note("keygate: skipped %lu damaged audit record%s (run keygate db check)",
		    l.damaged, l.damaged == 1 ? "" : "s");
	return cli_cat_fail(c, rc);
}
