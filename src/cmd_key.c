/*
 * cmd_key.c - keygate key create|list|show|revoke|rotate|import.
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
#include "counters.h"

/* What key create and rotate need to make one key. */
struct newkey {
	/* in */
	const char *org;
	const char *name;
	const char *user;
	int test;
	int64_t expires_at;  /* as stored: 0 never, else from record_expiry() */
	int expires_given;   /* rotation: --expires replaces the inherited expiry */
	struct rate_spec rate;
	struct rule rules[RULES_MAX];
	struct rule_view views[RULES_MAX];
	size_t nrules;
	/* rotation */
	const char *old_id;
	int64_t grace;       /* 0: the old key is revoked at once */
	/* out */
	char key[APIKEY_BUF];
	char id[KEYID_LEN + 1];
	unsigned char digest[DIGEST_LEN];
	char old_id_stored[KEYID_LEN + 1]; /* rotation: the replaced key's id... */
	int64_t old_until;                 /* ...and when it stops working */
};

/* SPEC: a rotation's grace period is at most 30 days */
#define ROTATE_GRACE_MAX ((int64_t)30 * 86400)
#define ROTATE_GRACE_DEFAULT ((int64_t)24 * 3600)

struct count_active {
	const char *org;
	int64_t now;
	uint32_t n;
};

static int
count_active_row(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct count_active *ca = ctx;
	struct key_rec r;

	(void)k;
	(void)kl;
	if (record_decode_key(v, vl, &r) == 0 && strcmp(r.org, ca->org) == 0 &&
	    !(r.flags & KEYF_REVOKED) && !record_expired(r.expires_at, ca->now))
		ca->n++;
	return 0;
}

/*
 * The org record counts keys not revoked; expired ones still count there,
 * so at the limit we recount by scanning, which is rare and exact.
 */
static int
check_max_keys(struct cli *c, struct store_txn *t, const char *org,
    struct org_rec *o, const struct plan_rec *p, uint32_t adding, const char *why)
{
	struct count_active ca = {org, kg_now(), 0};
	int rc;

	if (p->max_keys == 0 || o->nkeys + adding <= p->max_keys)
		return EX_OK;
	rc = store_scan(c->kg.store, t, TBL_KEYS, count_active_row, &ca);
	if (rc != ST_OK)
		return rc == ST_DEADLOCK ? -ST_DEADLOCK : cli_store_fail(c, rc, "keys");
	if (ca.n + adding <= p->max_keys)
		return EX_OK;
	return cli_fail(EX_CONFLICT, "organization '%s' has %u active keys; its plan '%s' allows %u%s",
	    org, ca.n, p->name, p->max_keys, why);
}

/* Writes a new key record and its id record in t. */
static int
insert_key(struct cli *c, struct store_txn *t, struct newkey *nk)
{
	struct keyid_rec kid;
	unsigned char buf[64];
	struct key_rec k;
	int n, rc, tries, code;

	for (tries = 0; tries < 4; tries++) {
		if (apikey_generate(c->kg.prefix, nk->test ? MODE_TEST : MODE_LIVE,
		    nk->key, sizeof nk->key) < 0 || apikey_new_id(nk->id) != 0)
			return cli_fail(EX_STORE, "OpenSSL's random generator failed");
		if (digester_digest(c->kg.digester, nk->key, strlen(nk->key), nk->digest) != 0)
			return cli_fail(EX_STORE, "OpenSSL failed to hash the key");
		/* 190 random bits make a collision a broken RNG, but never overwrite */
		if (store_exists(c->kg.store, t, TBL_KEYS, nk->digest, DIGEST_LEN) == ST_NOTFOUND &&
		    !cli_exists(c, t, TBL_KEYIDS, nk->id))
			break;
	}
	if (tries == 4)
		return cli_fail(EX_STORE, "could not draw a unique key; is the random generator broken?");
	memset(&k, 0, sizeof k);
	k.flags = nk->test ? KEYF_TEST : 0;
	k.id = nk->id;
	k.org = nk->org;
	k.name = nk->name ? nk->name : "";
	k.user = nk->user ? nk->user : "";
	k.successor = "";
	{
		char disp[DISPLAY_MAX];
		apikey_display(c->kg.prefix, nk->key, strlen(nk->key), disp, sizeof disp);
		k.display = disp;
		k.created_at = kg_now();
		k.expires_at = nk->expires_at;
		k.rate = nk->rate;
		memcpy(k.rules, nk->views, nk->nrules * sizeof nk->views[0]);
		k.nrules = nk->nrules;
		if ((code = cli_put_key(c, t, nk->digest, &k)) != EX_OK)
			return code;
	}
	memcpy(kid.digest, nk->digest, DIGEST_LEN);
	n = record_encode_keyid(&kid, buf, sizeof buf);
	rc = store_put(c->kg.store, t, TBL_KEYIDS, nk->id, strlen(nk->id), buf, (size_t)n, 1);
	if (rc != ST_OK)
		return rc == ST_DEADLOCK ? -ST_DEADLOCK : cli_store_fail(c, rc, "key id");
	return EX_OK;
}

static int
key_create_txn(struct cli *c, struct store_txn *t, void *ctx)
{
	struct newkey *nk = ctx;
	unsigned char obuf[RECORD_MAX], pbuf[RECORD_MAX];
	struct org_rec o;
	struct plan_rec p;
	int code;

	if ((code = cli_get_org(c, t, nk->org, obuf, &o, 1)) != EX_OK)
		return code;
	if ((code = cli_get_plan(c, t, o.plan, pbuf, &p, 0)) != EX_OK)
		return code;
	if ((code = check_max_keys(c, t, nk->org, &o, &p, 1, "")) != EX_OK)
		return code;
	if ((code = insert_key(c, t, nk)) != EX_OK)
		return code;
	o.nkeys++;
	return cli_put_org(c, t, nk->org, &o);
}

/* --expires (and --force): an explicit expiry, stored as record_expiry() says */
static int
parse_expires(const struct args *a, struct newkey *nk, const char *cmd)
{
	const char *v, *why;
	int64_t when, now = kg_now();

	if ((v = arg_get(a, "expires")) == NULL)
		return EX_OK;
	if (parse_when(v, now, &when, &why) != 0)
		return cli_fail(EX_USAGE, "%s: --expires: %s", cmd, why);
	if (when <= now && !arg_has(a, "force"))
		return cli_fail(EX_USAGE, "%s: --expires is in the past (use --force to make an expired key)", cmd);
	nk->expires_at = record_expiry(when);
	nk->expires_given = 1;
	return EX_OK;
}

static int
parse_key_options(const struct args *a, struct newkey *nk, const char *cmd)
{
	const char *v, *why;
	int code;

	nk->name = arg_get(a, "name");
	nk->user = arg_get(a, "user");
	nk->test = arg_has(a, "test");
	if (!record_text_valid(nk->name))
		return cli_fail(EX_USAGE, "%s: --name must be at most 128 characters without control characters", cmd);
	if (nk->user != NULL && (nk->user[0] == '\0' || !record_header_safe(nk->user) ||
	    nk->user[0] == ' ' || nk->user[strlen(nk->user) - 1] == ' '))
		return cli_fail(EX_USAGE, "%s: --user must be 1-128 printable ASCII characters (it is sent as a header)", cmd);
	if ((code = parse_expires(a, nk, cmd)) != EX_OK)
		return code;
	if ((v = arg_get(a, "rate")) != NULL && parse_rate(v, &nk->rate, &why) != 0)
		return cli_fail(EX_USAGE, "%s: --rate: %s", cmd, why);
	if ((code = cli_parse_rules(a, nk->rules, nk->views, &nk->nrules)) != EX_OK)
		return code;
	return EX_OK;
}

static int
key_create(struct cli *c, int argc, char **argv)
{
	static const struct optspec specs[] = {
		{"org", 1, 0}, {"name", 1, 0}, {"user", 1, 0}, {"test", 0, 0},
		{"expires", 1, 0}, {"rate", 1, 0}, {"allow", 1, 1}, {"deny", 1, 1},
		{"force", 0, 0}, {NULL, 0, 0},
	};
	struct newkey *nk;
	struct args a;
	int code;

	c->cmd = "key create";
	if ((code = cli_parse(c, argc, argv, specs, 0, 0,
	    "key create --org ORG [--name TEXT] [--user ID] [--test] [--expires 90d] "
	    "[--rate 10/s] [--allow RULE] [--deny RULE]", &a)) != EX_OK)
		return code;
	if ((nk = calloc(1, sizeof *nk)) == NULL)
		return cli_fail(EX_STORE, "out of memory");
	if ((nk->org = arg_get(&a, "org")) == NULL) {
		code = cli_fail(EX_USAGE, "key create: --org ORG is required");
		goto out;
	}
	if ((code = parse_key_options(&a, nk, "key create")) != EX_OK)
		goto out;
	if ((code = cli_open(c)) != EX_OK)
		goto out;
	/* a user id is sent to the backend with every request */
	if (nk->user != NULL && cli_is_key(c, NULL, nk->user)) {
		code = cli_fail(EX_USAGE, "key create: --user is an API key, not a user id");
		goto out;
	}
	if ((code = cli_txn(c, key_create_txn, nk)) != EX_OK)
		goto out;
	/* Committed: the one and only time the key is shown. */
	printf("%s\n", nk->key);
	fflush(stdout);
	cli_note("%s", nk->id);
out:
	OPENSSL_cleanse(nk, sizeof *nk);
	free(nk);
	return code;
}

/* ---- revoke ---- */

static int
key_revoke_txn(struct cli *c, struct store_txn *t, void *ctx)
{
	const char **idp = ctx;
	unsigned char kbuf[RECORD_MAX], obuf[RECORD_MAX], digest[DIGEST_LEN];
	struct key_rec k;
	struct org_rec o;
	int code;

	if ((code = cli_get_key_by_id(c, t, *idp, digest, kbuf, &k, 1)) != EX_OK)
		return code;
	if (k.flags & KEYF_REVOKED) {
		*idp = NULL; /* tell the caller: nothing to do */
		return EX_OK;
	}
	k.flags |= KEYF_REVOKED;
	k.revoked_at = kg_now();
	if ((code = cli_put_key(c, t, digest, &k)) != EX_OK)
		return code;
	if ((code = cli_get_org(c, t, k.org, obuf, &o, 1)) != EX_OK)
		return code;
	if (o.nkeys > 0)
		o.nkeys--;
	return cli_put_org(c, t, k.org, &o);
}

static int
key_revoke(struct cli *c, int argc, char **argv)
{
	const char *id;
	struct args a;
	int code;

	c->cmd = "key revoke";
	if ((code = cli_parse(c, argc, argv, NULL, 1, 1, "key revoke ID", &a)) != EX_OK)
		return code;
	if ((code = cli_open(c)) != EX_OK)
		return code;
	id = a.pos[0];
	if ((code = cli_txn(c, key_revoke_txn, &id)) != EX_OK)
		return code;
	if (id == NULL)
		cli_note("keygate: key %s was already revoked", a.pos[0]);
	else
		cli_note("keygate: key %s revoked", a.pos[0]);
	return EX_OK;
}

/* ---- rotate ---- */

/*
 * The successor inherits everything the old key was, its expiry included:
 * a rotation never extends a key's life (--expires sets one explicitly).
 * An expired or revoked key has nothing left to hand over, and a key has
 * one successor at most.  With a grace period both keys work until it
 * ends, so the org needs room for one more active key under its plan's
 * max-keys; with none the old key is revoked in the same transaction and
 * the count does not change.
 */
static int
key_rotate_txn(struct cli *c, struct store_txn *t, void *ctx)
{
	struct newkey *nk = ctx;
	unsigned char kbuf[RECORD_MAX], obuf[RECORD_MAX], pbuf[RECORD_MAX], digest[DIGEST_LEN];
	struct key_rec k;
	struct org_rec o;
	struct plan_rec p;
	int64_t now = kg_now();
	char tb[32];
	size_t i;
	int code;

	if ((code = cli_get_key_by_id(c, t, nk->old_id, digest, kbuf, &k, 1)) != EX_OK)
		return code;
	if (k.flags & KEYF_REVOKED)
		return cli_fail(EX_CONFLICT, "key rotate: key %s is revoked; a revoked key cannot be rotated", k.id);
	if (record_expired(k.expires_at, now))
		return cli_fail(EX_CONFLICT, "key rotate: key %s expired at %s; an expired key cannot be rotated",
		    k.id, format_time(k.expires_at, tb, sizeof tb));
	if (k.successor[0] != '\0')
		return cli_fail(EX_CONFLICT, "key rotate: key %s was already rotated to %s (one successor at a time)",
		    k.id, k.successor);
	if ((code = cli_get_org(c, t, k.org, obuf, &o, 1)) != EX_OK)
		return code;
	if ((code = cli_get_plan(c, t, o.plan, pbuf, &p, 0)) != EX_OK)
		return code;
	if (nk->grace > 0 && (code = check_max_keys(c, t, k.org, &o, &p, 1,
	    " (during the grace period both keys count; --grace 0 revokes the old key at once)")) != EX_OK)
		return code;
	nk->org = k.org;
	nk->name = k.name;
	nk->user = k.user[0] ? k.user : NULL;
	nk->test = (k.flags & KEYF_TEST) != 0;
	if (!nk->expires_given)
		nk->expires_at = k.expires_at;
	nk->rate = k.rate;
	nk->nrules = k.nrules;
	for (i = 0; i < k.nrules; i++)
		nk->views[i] = k.rules[i];
	if ((code = insert_key(c, t, nk)) != EX_OK)
		return code;
	if (nk->grace == 0) {
		k.flags |= KEYF_REVOKED;
		k.revoked_at = now;
	} else {
		if (k.expires_at == 0 || k.expires_at > now + nk->grace)
			k.expires_at = now + nk->grace;
		o.nkeys++;
	}
	k.successor = nk->id;
	snprintf(nk->old_id_stored, sizeof nk->old_id_stored, "%s", k.id);
	nk->old_until = k.expires_at - now;
	if ((code = cli_put_key(c, t, digest, &k)) != EX_OK)
		return code;
	return cli_put_org(c, t, k.org, &o);
}

static int
parse_grace(const char *v, int64_t *grace)
{
	const char *why;

	if (v == NULL) {
		*grace = ROTATE_GRACE_DEFAULT;
		return EX_OK;
	}
	if (strcmp(v, "0") == 0) {
		*grace = 0;
		return EX_OK;
	}
	if (parse_duration(v, grace, &why) != 0)
		return cli_fail(EX_USAGE, "key rotate: --grace: %s", why);
	if (*grace > ROTATE_GRACE_MAX)
		return cli_fail(EX_USAGE, "key rotate: --grace: at most 30d");
	return EX_OK;
}

static int
key_rotate(struct cli *c, int argc, char **argv)
{
	static const struct optspec specs[] = {
		{"grace", 1, 0}, {"expires", 1, 0}, {"force", 0, 0}, {NULL, 0, 0},
	};
	struct newkey *nk;
	struct args a;
	char gb[32], tb[32];
	int code;

	c->cmd = "key rotate";
	if ((code = cli_parse(c, argc, argv, specs, 1, 1,
	    "key rotate ID [--grace 24h] [--expires 90d|DATE]", &a)) != EX_OK)
		return code;
	if ((nk = calloc(1, sizeof *nk)) == NULL)
		return cli_fail(EX_STORE, "out of memory");
	nk->old_id = a.pos[0];
	if ((code = parse_grace(arg_get(&a, "grace"), &nk->grace)) != EX_OK ||
	    (code = parse_expires(&a, nk, "key rotate")) != EX_OK)
		goto out;
	if ((code = cli_open(c)) != EX_OK)
		goto out;
	if ((code = cli_txn(c, key_rotate_txn, nk)) != EX_OK)
		goto out;
	printf("%s\n", nk->key);
	fflush(stdout);
	if (nk->grace == 0)
		cli_note("%s (replaces %s, which is revoked)", nk->id, nk->old_id_stored);
	else
		cli_note("%s (replaces %s, which expires in %s)%s%s", nk->id, nk->old_id_stored,
		    format_duration(nk->old_until, gb, sizeof gb),
		    nk->expires_at ? "; the new key expires at " : "",
		    nk->expires_at ? format_time(nk->expires_at, tb, sizeof tb) : "");
out:
	OPENSSL_cleanse(nk, sizeof *nk);
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
json_keyrec(struct cli *c, struct json *j, const unsigned char *digest,
    const struct key_rec *k)
{
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
	json_kv_time(j, "created_at", k->created_at);
	json_kv_time(j, "expires_at", k->expires_at);
	json_kv_time(j, "revoked_at", k->revoked_at);
	json_kv_time(j, "last_used_at", cli_last_used(c, digest, k));
	json_kv_str(j, "rate", k->rate.count ? format_rate(&k->rate, r, sizeof r) : NULL, 0);
	json_kv_str(j, "successor", k->successor, 1);
	json_key(j, "rules");
	cli_json_rules(j, k->rules, k->nrules);
	json_obj_end(j);
}

struct key_list {
	struct cli *c;
	const char *org;
	int all;
	struct json j;
	unsigned long n;
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
key_list_row(const void *kp, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct key_list *kl_ = ctx;
	struct key_rec k;
	char lu[32];

	if (kl != DIGEST_LEN || record_decode_key(v, vl, &k) != 0) {
		cli_note("keygate: skipping a damaged key record (run keygate db check)");
		return 0;
	}
	if (kl_->org != NULL && strcmp(k.org, kl_->org) != 0)
		return 0;
	if (!kl_->all && (k.flags & KEYF_REVOKED))
		return 0;
	kl_->n++;
	if (kl_->c->json) {
		json_keyrec(kl_->c, &kl_->j, kp, &k);
		return 0;
	}
	key_list_line(k.id, k.org, (k.flags & KEYF_TEST) ? "test" : "live",
	    key_state(&k, kg_now()), k.display,
	    format_time(cli_last_used(kl_->c, kp, &k), lu, sizeof lu), k.name);
	return 0;
}

static int
key_list(struct cli *c, int argc, char **argv)
{
	static const struct optspec specs[] = {{"org", 1, 0}, {"all", 0, 0}, {NULL, 0, 0}};
	struct key_list kl;
	struct args a;
	int code, rc;

	c->cmd = "key list";
	if ((code = cli_parse(c, argc, argv, specs, 0, 0, "key list [--org ORG] [--all] [--json]",
	    &a)) != EX_OK)
		return code;
	if ((code = cli_open(c)) != EX_OK)
		return code;
	memset(&kl, 0, sizeof kl);
	kl.c = c;
	kl.org = arg_get(&a, "org");
	kl.all = arg_has(&a, "all");
	if (kl.org != NULL && !cli_exists(c, NULL, TBL_ORGS, kl.org))
		return cli_not_found(c, NULL, "organization", kl.org);
	if (c->json) {
		json_init(&kl.j, stdout);
		json_arr_begin(&kl.j);
	} else {
		key_list_line("ID", "ORG", "MODE", "STATE", "KEY", "LAST USED", "NAME");
	}
	rc = store_scan(c->kg.store, NULL, TBL_KEYS, key_list_row, &kl);
	if (c->json)
		json_arr_end(&kl.j);
	return rc == ST_OK ? EX_OK : cli_store_fail(c, rc, "keys");
}

static int
key_show(struct cli *c, int argc, char **argv)
{
	unsigned char kbuf[RECORD_MAX], digest[DIGEST_LEN];
	struct key_rec k;
	struct args a;
	struct json j;
	char t1[32], r[64];
	int code;

	c->cmd = "key show";
	if ((code = cli_parse(c, argc, argv, NULL, 1, 1, "key show ID [--json]", &a)) != EX_OK)
		return code;
	if ((code = cli_open(c)) != EX_OK)
		return code;
	if ((code = cli_get_key_by_id(c, NULL, a.pos[0], digest, kbuf, &k, 0)) != EX_OK)
		return code < 0 ? EX_STORE : code;
	if (c->json) {
		json_init(&j, stdout);
		json_keyrec(c, &j, digest, &k);
		return EX_OK;
	}
	printf("id:         %s\n", k.id);
	printf("key:        %s\n", k.display);
	printf("org:        %s\n", k.org);
	printf("name:       %s\n", k.name);
	if (k.user[0])
		printf("user:       %s\n", k.user);
	printf("mode:       %s\n", (k.flags & KEYF_TEST) ? "test" : "live");
	printf("state:      %s\n", key_state(&k, kg_now()));
	printf("created:    %s\n", format_time(k.created_at, t1, sizeof t1));
	printf("expires:    %s\n", format_time(k.expires_at, t1, sizeof t1));
	if (k.flags & KEYF_REVOKED)
		printf("revoked:    %s\n", format_time(k.revoked_at, t1, sizeof t1));
	printf("last used:  %s\n", format_time(cli_last_used(c, digest, &k), t1, sizeof t1));
	if (k.rate.count)
		printf("rate:       %s (the plan's limit applies too)\n", format_rate(&k.rate, r, sizeof r));
	if (k.successor[0])
		printf("successor:  %s\n", k.successor);
	if (k.flags & KEYF_IMPORTED)
		printf("imported:   yes%s\n", (k.flags & KEYF_PLAIN) ? " (plain SHA-256 digest)" : "");
	if (k.nrules) {
		printf("rules:\n");
		cli_print_rules(stdout, k.rules, k.nrules, "  ");
	}
	return EX_OK;
}

int
cmd_key(struct cli *c, int argc, char **argv)
{
	c->cmd = "key";
	if (argc < 1)
		return cli_fail(EX_USAGE, "key: expected create, list, show, revoke, rotate or import");
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
	if (strcmp(argv[0], "import") == 0)
		return cmd_key_import(c, argc - 1, argv + 1);
	return cli_fail(EX_USAGE, "key: unknown subcommand '%s' (create, list, show, revoke, rotate, import)",
	    argv[0]);
}
