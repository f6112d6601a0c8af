/*
 * cmd_key.c - keygate key create|list|show|revoke|rotate|import: options
 * in, catalog calls, output out (the rules are the catalog's).
 *
 * A new key is printed once, on stdout and alone, only after its
 * transaction committed; its id goes to stderr.  The store keeps only the
 * digest.  Key buffers are wiped before they go out of scope.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"

/* The options key create parses, and what they point into. */
struct key_opts {
	struct cat_key_spec spec;
	struct rule rules[RULES_MAX];
	struct rule_view views[RULES_MAX];
};

/* --expires (and --force): an explicit expiry, relative to now */
static int
parse_expires(const struct args *a, int *set, int64_t *when, int *force, const char *cmd)
{
	const char *v, *why;

	*force = arg_has(a, "force");
	if ((v = arg_get(a, "expires")) == NULL)
		return EX_OK;
	if (parse_when(v, kg_now(), when, &why) != 0)
		return cli_fail(EX_USAGE, "%s: --expires: %s", cmd, why);
	*set = 1;
	return EX_OK;
}

/* --scope S, repeatable: the scopes' bits */
static int
parse_scopes(const struct args *a, uint32_t *scopes, const char *cmd)
{
	uint32_t bit;
	size_t i;

	*scopes = 0;
	for (i = 0; i < a->n; i++) {
		if (strcmp(a->v[i].name, "scope") != 0)
			continue;
		if ((bit = cat_scope_bit(a->v[i].value)) == 0)
			return cli_fail(EX_USAGE, "%s: --scope '%.32s': not a scope (keys:read, keys:write, "
			    "keys:reveal, verify, admin)", cmd, a->v[i].value);
		*scopes |= bit;
	}
	return EX_OK;
}

static int
parse_key_options(const struct args *a, struct key_opts *ko, const char *cmd)
{
	struct cat_key_spec *s = &ko->spec;
	const char *v, *why;
	int code;

	s->name = arg_get(a, "name");
	s->user = arg_get(a, "user");
	s->test = arg_has(a, "test");
	if ((code = parse_expires(a, &s->set_expires, &s->expires_at, &s->force, cmd)) != EX_OK)
		return code;
	if ((v = arg_get(a, "rate")) != NULL && parse_rate(v, &s->rate, &why) != 0)
		return cli_fail(EX_USAGE, "%s: --rate: %s", cmd, why);
	if ((code = cli_parse_rules(a, ko->rules, ko->views, &s->nrules)) != EX_OK)
		return code;
	s->rules = ko->views;
	return parse_scopes(a, &s->scopes, cmd);
}

static int
key_create(struct cli *c, int argc, char **argv)
{
	static const struct optspec specs[] = {
		{"org", 1, 0}, {"name", 1, 0}, {"user", 1, 0}, {"test", 0, 0},
		{"expires", 1, 0}, {"rate", 1, 0}, {"allow", 1, 1}, {"deny", 1, 1},
		{"scope", 1, 1}, {"force", 0, 0}, {NULL, 0, 0},
	};
	struct key_opts *ko;
	struct cat_new_key *nk;
	struct args a;
	int code;

	c->cmd = "key create";
	if ((code = cli_parse(c, argc, argv, specs, 0, 0,
	    "key create --org ORG [--name TEXT] [--user ID] [--test] [--expires 90d] "
	    "[--rate 10/s] [--allow RULE] [--deny RULE] [--scope SCOPE]", &a)) != EX_OK)
		return code;
	ko = calloc(1, sizeof *ko);
	nk = calloc(1, sizeof *nk);
	if (ko == NULL || nk == NULL) {
		code = cli_fail(EX_STORE, "out of memory");
		goto out;
	}
	if ((ko->spec.org = arg_get(&a, "org")) == NULL) {
		code = cli_fail(EX_USAGE, "key create: --org ORG is required");
		goto out;
	}
	if ((code = parse_key_options(&a, ko, "key create")) != EX_OK ||
	    (code = cli_open(c)) != EX_OK)
		goto out;
	if ((code = cli_cat_fail(c, cat_key_create(c->cat, &ko->spec, nk))) != EX_OK)
		goto out;
	/* Committed: the one and only time the key is shown. */
	printf("%s\n", nk->key);
	fflush(stdout);
	cli_note("%s", nk->id);
out:
	if (nk != NULL)
		cat_new_key_wipe(nk);
	free(nk);
	free(ko);
	return code;
}

/* ---- revoke ---- */

static int
key_revoke(struct cli *c, int argc, char **argv)
{
	struct args a;
	int code, already;

	c->cmd = "key revoke";
	if ((code = cli_parse(c, argc, argv, NULL, 1, 1, "key revoke ID", &a)) != EX_OK)
		return code;
	if ((code = cli_open(c)) != EX_OK)
		return code;
	if ((code = cli_cat_fail(c, cat_key_revoke(c->cat, a.pos[0], &already))) != EX_OK)
		return code;
	if (already)
		cli_note("keygate: key %s was already revoked", a.pos[0]);
	else
		cli_note("keygate: key %s revoked", a.pos[0]);
	return EX_OK;
}

/* ---- reveal ---- */

/*
 * The secret of a key from a store made with a vault: printed on stdout and
 * audited, for an operator who must hand a key over again on purpose.
 */
static int
key_reveal(struct cli *c, int argc, char **argv)
{
	char key[APIKEY_BUF];
	struct args a;
	int code;

	c->cmd = "key reveal";
	if ((code = cli_parse(c, argc, argv, NULL, 1, 1, "key reveal ID", &a)) != EX_OK)
		return code;
	if ((code = cli_open(c)) != EX_OK)
		return code;
	if ((code = cli_cat_fail(c, cat_key_reveal(c->cat, a.pos[0], key, sizeof key))) != EX_OK)
		return code;
	printf("%s\n", key);
	fflush(stdout);
	OPENSSL_cleanse(key, sizeof key);
	return EX_OK;
}

/* ---- rotate ---- */

static int
parse_grace(const char *v, int64_t *grace)
{
	const char *why;

	if (v == NULL) {
		*grace = CAT_GRACE_DEFAULT;
		return EX_OK;
	}
	if (strcmp(v, "0") == 0) {
		*grace = 0;
		return EX_OK;
	}
	if (parse_duration(v, grace, &why) != 0)
		return cli_fail(EX_USAGE, "key rotate: --grace: %s", why);
	return EX_OK;
}

static int
key_rotate(struct cli *c, int argc, char **argv)
{
	static const struct optspec specs[] = {
		{"grace", 1, 0}, {"expires", 1, 0}, {"force", 0, 0}, {NULL, 0, 0},
	};
	struct cat_rotate_spec rs;
	struct cat_new_key *nk;
	struct args a;
	char gb[32], tb[32];
	int code;

	c->cmd = "key rotate";
	if ((code = cli_parse(c, argc, argv, specs, 1, 1,
	    "key rotate ID [--grace 24h] [--expires 90d|DATE]", &a)) != EX_OK)
		return code;
	if ((nk = calloc(1, sizeof *nk)) == NULL)
		return cli_fail(EX_STORE, "out of memory");
	memset(&rs, 0, sizeof rs);
	rs.id = a.pos[0];
	if ((code = parse_grace(arg_get(&a, "grace"), &rs.grace)) != EX_OK ||
	    (code = parse_expires(&a, &rs.set_expires, &rs.expires_at, &rs.force,
	    "key rotate")) != EX_OK ||
	    (code = cli_open(c)) != EX_OK)
		goto out;
	if ((code = cli_cat_fail(c, cat_key_rotate(c->cat, &rs, nk))) != EX_OK)
		goto out;
	printf("%s\n", nk->key);
	fflush(stdout);
	if (nk->old_revoked)
		cli_note("%s (replaces %s, which is revoked)", nk->id, nk->replaces);
	else
		cli_note("%s (replaces %s, which expires in %s)%s%s", nk->id, nk->replaces,
		    format_duration(nk->old_expires_at - kg_now(), gb, sizeof gb),
		    nk->expires_at ? "; the new key expires at " : "",
		    nk->expires_at ? format_time(nk->expires_at, tb, sizeof tb) : "");
out:
	cat_new_key_wipe(nk);
	free(nk);
	return code;
}

/* ---- list / show ---- */

static const char *
key_state(const struct key_rec *k, int64_t now)
{
	if (k->flags & KEYF_REVOKED)
		return "revoked";
	if (record_expired(k->expires_at, now))
		return "expired";
	return "active";
}

static void
json_scopes(struct json *j, uint32_t scopes)
{
	size_t i;

	json_arr_begin(j);
	for (i = 0; cat_scope_at(i) != 0; i++)
		if (scopes & cat_scope_at(i))
			json_str(j, cat_scope_name(cat_scope_at(i)));
	json_arr_end(j);
}

static void
json_keyrec(struct json *j, const struct cat_key *ck)
{
	const struct key_rec *k = &ck->k;
	char r[64];

	json_obj_begin(j);
	json_kv_str(j, "id", k->id, 0);
	json_kv_str(j, "org", k->org, 0);
	json_kv_str(j, "name", k->name, 1);
	json_kv_str(j, "user", k->user, 1);
	json_kv_str(j, "mode", (k->flags & KEYF_TEST) ? "test" : "live", 0);
	json_kv_str(j, "display", k->display, 0);
	json_kv_str(j, "state", key_state(k, kg_now()), 0);
	json_key(j, "imported");
	json_bool(j, (k->flags & KEYF_IMPORTED) != 0);
	json_key(j, "scopes");
	json_scopes(j, cat_key_scopes(k));
	json_kv_time(j, "created_at", k->created_at);
	json_kv_time(j, "expires_at", k->expires_at);
	json_kv_time(j, "revoked_at", k->revoked_at);
	json_kv_time(j, "last_used_at", ck->last_used_at);
	json_kv_str(j, "rate", k->rate.count ? format_rate(&k->rate, r, sizeof r) : NULL, 0);
	json_kv_str(j, "successor", k->successor, 1);
	json_key(j, "rules");
	cli_json_rules(j, k->rules, k->nrules);
	json_obj_end(j);
}

struct key_list {
	struct cli *c;
	struct json j;
};

/* Columns padded by characters: a display prefix ends in a 3-byte ellipsis. */
static void
key_list_line(const char *id, const char *org, const char *mode, const char *state,
    const char *display, const char *last_used, const char *name)
{
	cli_pad(id, 22);
	putchar(' ');
	cli_pad(org, 16);
	putchar(' ');
	cli_pad(mode, 4);
	putchar(' ');
	cli_pad(state, 8);
	putchar(' ');
	cli_pad(display, 20);
	putchar(' ');
	cli_pad(last_used, 20);
	printf(" %s\n", name);
}

static int
key_list_row(const struct cat_key *ck, void *ctx)
{
	struct key_list *kl = ctx;
	const struct key_rec *k;
	char lu[32];

	if (ck == NULL) {
		cli_note("keygate: skipping a damaged key record (run keygate db check)");
		return 0;
	}
	k = &ck->k;
	if (kl->c->json) {
		json_keyrec(&kl->j, ck);
		return 0;
	}
	key_list_line(k->id, k->org, (k->flags & KEYF_TEST) ? "test" : "live",
	    key_state(k, kg_now()), k->display,
	    format_time(ck->last_used_at, lu, sizeof lu), k->name);
	return 0;
}

/* In the order of organizations, then of key ids. */
static int
key_list(struct cli *c, int argc, char **argv)
{
	static const struct optspec specs[] = {{"org", 1, 0}, {"all", 0, 0}, {NULL, 0, 0}};
	struct cat_org org;
	struct key_list kl;
	struct args a;
	const char *o;
	int code, rc;

	c->cmd = "key list";
	if ((code = cli_parse(c, argc, argv, specs, 0, 0, "key list [--org ORG] [--all] [--json]",
	    &a)) != EX_OK)
		return code;
	if ((code = cli_open(c)) != EX_OK)
		return code;
	memset(&kl, 0, sizeof kl);
	kl.c = c;
	if ((o = arg_get(&a, "org")) != NULL &&
	    (code = cli_cat_fail(c, cat_get_org(c->cat, o, &org))) != EX_OK)
		return code;
	if (c->json) {
		json_init(&kl.j, stdout);
		json_arr_begin(&kl.j);
	} else {
		key_list_line("ID", "ORG", "MODE", "STATE", "KEY", "LAST USED", "NAME");
	}
	rc = cat_list_keys(c->cat, o, arg_has(&a, "all") ? CAT_LIST_ALL :
	    CAT_LIST_ACTIVE | CAT_LIST_EXPIRED, NULL, 0, key_list_row, &kl, NULL);
	if (c->json)
		json_arr_end(&kl.j);
	return cli_cat_fail(c, rc);
}

static int
key_show(struct cli *c, int argc, char **argv)
{
	struct cat_key ck;
	const struct key_rec *k = &ck.k;
	struct args a;
	struct json j;
	char t1[32], r[64];
	size_t i, n = 0;
	int code;

	c->cmd = "key show";
	if ((code = cli_parse(c, argc, argv, NULL, 1, 1, "key show ID [--json]", &a)) != EX_OK)
		return code;
	if ((code = cli_open(c)) != EX_OK)
		return code;
	if ((code = cli_cat_fail(c, cat_get_key(c->cat, a.pos[0], &ck))) != EX_OK)
		return code;
	if (c->json) {
		json_init(&j, stdout);
		json_keyrec(&j, &ck);
		return EX_OK;
	}
	printf("id:         %s\n", k->id);
	printf("key:        %s\n", k->display);
	printf("org:        %s\n", k->org);
	printf("name:       %s\n", k->name);
	if (k->user[0])
		printf("user:       %s\n", k->user);
	printf("mode:       %s\n", (k->flags & KEYF_TEST) ? "test" : "live");
	printf("state:      %s\n", key_state(k, kg_now()));
	printf("created:    %s\n", format_time(k->created_at, t1, sizeof t1));
	printf("expires:    %s\n", format_time(k->expires_at, t1, sizeof t1));
	if (k->flags & KEYF_REVOKED)
		printf("revoked:    %s\n", format_time(k->revoked_at, t1, sizeof t1));
	printf("last used:  %s\n", format_time(ck.last_used_at, t1, sizeof t1));
	if (k->rate.count)
		printf("rate:       %s (the plan's limit applies too)\n", format_rate(&k->rate, r, sizeof r));
	if (k->successor[0])
		printf("successor:  %s\n", k->successor);
	if (k->flags & KEYF_IMPORTED)
		printf("imported:   yes%s\n", (k->flags & KEYF_PLAIN) ? " (plain SHA-256 digest)" : "");
	if (cat_key_scopes(k) != 0) {
		printf("scopes:     ");
		for (i = 0; cat_scope_at(i) != 0; i++)
			if (cat_key_scopes(k) & cat_scope_at(i))
				printf("%s%s", n++ ? ", " : "", cat_scope_name(cat_scope_at(i)));
		putchar('\n');
	}
	if (k->nrules) {
		printf("rules:\n");
		cli_print_rules(stdout, k->rules, k->nrules, "  ");
	}
	return EX_OK;
}

int
cmd_key(struct cli *c, int argc, char **argv)
{
	c->cmd = "key";
	if (argc < 1)
		return cli_fail(EX_USAGE, "key: expected create, list, show, revoke, rotate, reveal or import");
	if (strcmp(argv[0], "create") == 0)
		return key_create(c, argc - 1, argv + 1);
	if (strcmp(argv[0], "list") == 0)
		return key_list(c, argc - 1, argv + 1);
	if (strcmp(argv[0], "show") == 0)
		return key_show(c, argc - 1, argv + 1);
	if (strcmp(argv[0], "revoke") == 0)
		return key_revoke(c, argc - 1, argv + 1);
	if (strcmp(argv[0], "rotate") == 0)
		return key_rotate(c, argc - 1, argv + 1);
	if (strcmp(argv[0], "reveal") == 0)
		return key_reveal(c, argc - 1, argv + 1);
	if (strcmp(argv[0], "import") == 0)
		return cmd_key_import(c, argc - 1, argv + 1);
	return cli_fail(EX_USAGE, "key: unknown subcommand '%s' (create, list, show, revoke, rotate, reveal, import)",
	    argv[0]);
}
