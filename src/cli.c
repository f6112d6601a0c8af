/*
 * cli.c - shared plumbing of the admin CLI.
 */
#include "config.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "counters.h"
#include "log.h"

/*
 * Every message goes through apikey_redact: whatever a message echoes (an
 * argument, an org id, a line of a config file), a key in keygate's format
 * never reaches the terminal beyond its display prefix.  Keys of other
 * formats are caught where an argument is looked up (cli_shown).
 */
static void
emit(const char *lead, const char *fmt, va_list ap)
{
	char msg[CLI_MSG_MAX], shown[CLI_MSG_MAX];

	vsnprintf(msg, sizeof msg, fmt, ap);
	fprintf(stderr, "%s%s\n", lead, apikey_redact(msg, shown, sizeof shown));
}

int
cli_fail(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("keygate: ", fmt, ap);
	va_end(ap);
	return code;
}

void
cli_note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("", fmt, ap);
	va_end(ap);
}

int
cli_is_key(struct cli *c, struct store_txn *t, const char *s)
{
	unsigned char d[DIGEST_LEN];
	enum apikey_mode mode;
	size_t len = strlen(s);
	int held;

	if (!c->opened || len < APIKEY_IMPORT_MIN || len > APIKEY_MAX ||
	    !apikey_printable(s, len))
		return 0;
	if (apikey_classify(c->kg.prefix, s, len, &mode) == APIKEY_OURS)
		return 1;
	/* an error (even a lock conflict) counts as held: better hidden than shown */
	held = digester_digest(c->kg.digester, s, len, d) != 0 ||
	    store_exists(c->kg.store, t, TBL_KEYS, d, DIGEST_LEN) != ST_NOTFOUND;
	/* a peppered store may hold plain digests (--sha256 imports) */
	if (!held && digester_peppered(c->kg.digester))
		held = digester_sha256(c->kg.digester, s, len, d) != 0 ||
		    store_exists(c->kg.store, t, TBL_KEYS, d, DIGEST_LEN) != ST_NOTFOUND;
	OPENSSL_cleanse(d, sizeof d);
	return held;
}

const char *
cli_shown(struct cli *c, struct store_txn *t, const char *arg, char *buf, size_t n)
{
	if (record_id_valid(arg) && !cli_is_key(c, t, arg))
		return arg;
	apikey_display(c->kg.prefix, arg, strlen(arg), buf, n);
	return buf;
}

void
cli_pad(const char *s, size_t width)
{
	size_t chars = 0, i;

	/* a character is a byte that does not continue a UTF-8 sequence */
	for (i = 0; s[i] != '\0'; i++)
		chars += ((unsigned char)s[i] & 0xc0) != 0x80;
	fputs(s, stdout);
	for (; chars < width; chars++)
		putchar(' ');
}

static const struct optspec global_specs[] = {
	{"db", 1, 0}, {"config", 1, 0}, {"json", 0, 0}, {NULL, 0, 0},
};

static const struct optspec *
find_spec(const struct optspec *specs, const char *name, size_t len)
{
	const struct optspec *s;

	for (s = specs; s != NULL && s->name != NULL; s++)
		if (strlen(s->name) == len && strncmp(s->name, name, len) == 0)
			return s;
	return NULL;
}

int
cli_parse(struct cli *c, int argc, char **argv, const struct optspec *specs,
    size_t minpos, size_t maxpos, const char *synopsis, struct args *a)
{
	int i;

	memset(a, 0, sizeof *a);
	for (i = 0; i < argc; i++) {
		const char *arg = argv[i], *name, *eq, *value = NULL;
		const struct optspec *s;
		size_t len, j;

		if (strcmp(arg, "--") == 0) {
			for (i++; i < argc; i++) {
				if (a->npos == ARGS_MAX)
					return cli_fail(EX_USAGE, "too many arguments");
				a->pos[a->npos++] = argv[i];
			}
			break;
		}
		if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
			if (a->npos == ARGS_MAX)
				return cli_fail(EX_USAGE, "too many arguments");
			a->pos[a->npos++] = arg;
			continue;
		}
		name = arg + 2;
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		if ((s = find_spec(specs, name, len)) == NULL &&
		    (s = find_spec(global_specs, name, len)) == NULL)
			return cli_fail(EX_USAGE, "%s: unknown option --%.*s (usage: keygate %s)",
			    c->cmd, (int)len, name, synopsis);
		if (s->takes_value) {
			if (eq != NULL)
				value = eq + 1;
			else if (i + 1 < argc)
				value = argv[++i];
			else
				return cli_fail(EX_USAGE, "%s: --%s needs a value", c->cmd, s->name);
		} else if (eq != NULL) {
			return cli_fail(EX_USAGE, "%s: --%s takes no value", c->cmd, s->name);
		}
		if (!s->repeat) {
			for (j = 0; j < a->n; j++)
				if (strcmp(a->v[j].name, s->name) == 0)
					return cli_fail(EX_USAGE, "%s: --%s given twice", c->cmd, s->name);
		}
		if (a->n == ARGS_MAX)
			return cli_fail(EX_USAGE, "too many options");
		a->v[a->n].name = s->name;
		a->v[a->n].value = value;
		a->n++;
		if (strcmp(s->name, "db") == 0)
			c->db_opt = value;
		else if (strcmp(s->name, "config") == 0)
			c->config_opt = value;
		else if (strcmp(s->name, "json") == 0)
			c->json = 1;
	}
	if (a->npos < minpos || a->npos > maxpos) {
		if (a->npos > maxpos)
			return cli_fail(EX_USAGE, "%s: unexpected argument '%s' (usage: keygate %s)",
			    c->cmd, a->pos[maxpos], synopsis);
		return cli_fail(EX_USAGE, "%s: missing argument (usage: keygate %s)",
		    c->cmd, synopsis);
	}
	return EX_OK;
}

const char *
arg_get(const struct args *a, const char *name)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i].name, name) == 0)
			return a->v[i].value;
	return NULL;
}

int
arg_has(const struct args *a, const char *name)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i].name, name) == 0)
			return 1;
	return 0;
}

/*
 * The CLI's watchdog.  A command blocked on a mutex that a dead process
 * left held would wait for ever; after CLI_STUCK_SECONDS without progress
 * it ends instead, which makes it a dead process too: the next command to
 * open the store sees that in the registry and runs recovery.
 */
#define CLI_STUCK_SECONDS 60

static void
on_stuck(int sig)
{
	static const char msg[] = "keygate: the store did not answer for 60 s "
	    "(a process may have died holding it); the command did not complete, "
	    "run it again\n";

	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0)
		_exit(EX_STORE);
	_exit(EX_STORE);
}

void
cli_progress(void)
{
	static int armed;

	if (!armed) {
		struct sigaction sa;

		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_stuck;
		sigaction(SIGALRM, &sa, NULL);
		armed = 1;
	}
	alarm(CLI_STUCK_SECONDS);
}

int
cli_check_path(const char *what, const char *path)
{
	if (pathname_fits(path))
		return EX_OK;
	return cli_fail(EX_USAGE, "%s is %zu bytes long; keygate accepts at most %d",
	    what, strlen(path), PATHNAME_MAX);
}

int
cli_open(struct cli *c)
{
	char err[600];
	const char *path;
	int must_exist, code;

	conf_defaults(&c->conf);
	path = conf_path(c->config_opt, &must_exist);
	if (conf_load(path, must_exist, &c->conf, err, sizeof err) != 0)
		return cli_fail(EX_USAGE, "%s", err);
	c->dir = conf_db(c->db_opt, &c->conf);
	if ((code = cli_check_path("the store path", c->dir)) != EX_OK)
		return code;
	cli_progress();
	if (kg_open(&c->kg, c->dir, 0, err, sizeof err) != 0)
		return cli_fail(EX_STORE, "%s", err);
	c->opened = 1;
	return EX_OK;
}

/*
 * Takes the key index for writing, before the first transaction: from
 * then on authorizers trust it no more than the store until cli_close.
 * Without it, nothing is written: a change the index does not mirror
 * could let a revoked key in.
 */
static int
index_lock(struct cli *c)
{
	char err[600];

	if (c->index != NULL)
		return EX_OK;
	c->index = keyindex_lock(c->dir, counters_index_anchor(c->kg.counters), 0,
	    NULL, err, sizeof err);
	if (c->index == NULL)
		return cli_fail(EX_STORE, "%s; nothing was changed", err);
	return EX_OK;
}

static void
index_forget(struct cli *c)
{
	free(c->touched_keys);
	c->touched_keys = NULL;
	c->ntouched_keys = c->touched_keys_cap = c->ntouched_orgs = 0;
	c->index = NULL;
}

/* Mirrors every key and org the command wrote, as committed, into the index. */
static void
index_finish(struct cli *c)
{
	unsigned char buf[RECORD_MAX];
	struct key_rec k;
	char err[600];
	size_t i, len;
	int rc;

	for (i = 0; i < c->ntouched_orgs; i++) {
		const char *id = c->touched_orgs[i];

		rc = store_get(c->kg.store, NULL, TBL_ORGS, id, strlen(id), buf,
		    sizeof buf, &len, 0);
		if (rc == ST_OK)
			keyindex_put_org(c->index, id, buf, len);
		else if (rc == ST_NOTFOUND)
			keyindex_del_org(c->index, id);
		else
			keyindex_want_rebuild(c->index);
	}
	/* after the orgs: a key entry names its org's slot */
	for (i = 0; i < c->ntouched_keys; i++) {
		const unsigned char *d = c->touched_keys[i];

		rc = store_get(c->kg.store, NULL, TBL_KEYS, d, DIGEST_LEN, buf,
		    sizeof buf, &len, 0);
		if (rc == ST_OK)
			keyindex_put_key(c->index, d,
			    record_decode_key(buf, len, &k) == 0 ? &k : NULL);
		else if (rc == ST_NOTFOUND)
			keyindex_del_key(c->index, d);
		else
			keyindex_want_rebuild(c->index);
	}
	if (keyindex_end(c->index, c->kg.store, cli_progress, err, sizeof err) != 0)
		cli_note("keygate: the key index could not be brought up to date (%s); "
		    "authorizers read the store until it is rebuilt", err);
	index_forget(c);
}

int
cli_rebuild_index(struct cli *c)
{
	char err[600];

	if (c->index != NULL) { /* the lock is ours already: cli_close rebuilds */
		keyindex_want_rebuild(c->index);
		return EX_OK;
	}
	if (keyindex_rebuild(c->dir, counters_index_anchor(c->kg.counters),
	    c->kg.store, cli_progress, err, sizeof err) != 0)
		return cli_fail(EX_STORE, "cannot rebuild the key index: %s", err);
	return EX_OK;
}

void
cli_close(struct cli *c)
{
	if (!c->opened)
		return;
	if (c->index != NULL)
		index_finish(c);
	/* Keep recovery short and logs trimmed: checkpoint after every command. */
	store_checkpoint(c->kg.store);
	kg_close(&c->kg);
	c->opened = 0;
}

int
cli_store_fail(struct cli *c, int rc, const char *what)
{
	switch (rc) {
	case ST_NOTFOUND:
		return cli_fail(EX_NOTFOUND, "%s not found", what);
	case ST_EXISTS:
		return cli_fail(EX_CONFLICT, "%s already exists", what);
	case ST_SMALL:
		return cli_fail(EX_STORE, "%s: record larger than expected", what);
	default:
		return cli_fail(EX_STORE, "store error on %s: %s", what,
		    store_errmsg(c->kg.store));
	}
}

#define TXN_RETRIES 8

/* A growing, jittered pause, so that retrying writers do not collide again. */
static void
backoff(int attempt)
{
	usleep((useconds_t)(1000 * (1 << attempt) + (getpid() * 7919 + attempt * 104729) % 1000));
}

/*
 * A counter file made moments ago (the old one was deleted or damaged):
 * authorizers still mapping the old one read the generation there, which
 * nobody bumps any more, until their maintenance thread notices the new
 * file (within a second).  A change committed before then could be missed
 * by their caches for that second, so wait it out: this happens only
 * right after such a fault.
 */
#define COUNTERS_SETTLE_S 2

static void
settle_counters(struct cli *c)
{
	int64_t ready = counters_created_at(c->kg.counters) + COUNTERS_SETTLE_S;

	if (!(counters_flags(c->kg.counters) & COUNTERS_REBUILT))
		return;
	while (kg_now() < ready) {
		cli_progress();
		usleep(100 * 1000);
	}
}

int
cli_txn(struct cli *c, cli_txn_fn fn, void *ctx)
{
	struct store_txn *t;
	int attempt, rc, code;

	settle_counters(c);
	if ((code = index_lock(c)) != EX_OK)
		return code;
	for (attempt = 0; attempt < TXN_RETRIES; attempt++) {
		c->changed_policy = 0;
		cli_progress();
		if ((rc = store_txn_begin(c->kg.store, &t)) != ST_OK)
			return cli_store_fail(c, rc, "begin");
		code = fn(c, t, ctx);
		if (code == -ST_DEADLOCK) {
			store_txn_abort(t);
			backoff(attempt);
			continue;
		}
		if (code != EX_OK) {
			store_txn_abort(t);
			return code;
		}
		rc = store_txn_commit(t);
		if (rc == ST_DEADLOCK) {
			backoff(attempt);
			continue;
		}
		if (rc != ST_OK)
			return cli_store_fail(c, rc, "commit");
		/* committed: now authorizers on this host must drop their caches */
		if (c->changed_policy)
			counters_bump_generation(c->kg.counters);
		return EX_OK;
	}
	return cli_fail(EX_STORE, "the store stayed busy (lock conflicts); nothing was changed");
}

/* In a transaction body: a deadlock asks cli_txn for a retry. */
static int
txn_rc(struct cli *c, int rc, const char *what)
{
	if (rc == ST_DEADLOCK)
		return -ST_DEADLOCK;
	return cli_store_fail(c, rc, what);
}

/* "organization 'acme'": what messages call the record id names */
static const char *
named(struct cli *c, struct store_txn *t, const char *kind, const char *id,
    char *buf, size_t n)
{
	char sb[DISPLAY_MAX];

	snprintf(buf, n, "%s '%s'", kind, cli_shown(c, t, id, sb, sizeof sb));
	return buf;
}

int
cli_not_found(struct cli *c, struct store_txn *t, const char *kind, const char *id)
{
	char what[ID_MAX + 32];

	return cli_fail(EX_NOTFOUND, "%s not found%s", named(c, t, kind, id, what, sizeof what),
	    record_id_valid(id) ? "" : " (an id is 1-64 of A-Z a-z 0-9 . _ -)");
}

/* A failed read of the record id names: deadlock, not found, store error. */
static int
get_fail(struct cli *c, struct store_txn *t, int rc, const char *kind, const char *id)
{
	char what[ID_MAX + 32];

	if (rc == ST_DEADLOCK)
		return -ST_DEADLOCK;
	if (rc == ST_NOTFOUND)
		return cli_not_found(c, t, kind, id);
	return cli_store_fail(c, rc, named(c, t, kind, id, what, sizeof what));
}

int
cli_get_org(struct cli *c, struct store_txn *t, const char *id,
    unsigned char *buf, struct org_rec *o, int rmw)
{
	char what[ID_MAX + 32];
	size_t len;
	int rc;

	rc = store_get(c->kg.store, t, TBL_ORGS, id, strlen(id), buf, RECORD_MAX, &len, rmw);
	if (rc != ST_OK)
		return get_fail(c, t, rc, "organization", id);
	if (record_decode_org(buf, len, o) != 0)
		return cli_fail(EX_STORE, "%s: damaged record",
		    named(c, t, "organization", id, what, sizeof what));
	return EX_OK;
}

int
cli_get_plan(struct cli *c, struct store_txn *t, const char *name,
    unsigned char *buf, struct plan_rec *p, int rmw)
{
	char what[ID_MAX + 32];
	size_t len;
	int rc;

	rc = store_get(c->kg.store, t, TBL_PLANS, name, strlen(name), buf, RECORD_MAX, &len, rmw);
	if (rc != ST_OK)
		return get_fail(c, t, rc, "plan", name);
	if (record_decode_plan(buf, len, p) != 0)
		return cli_fail(EX_STORE, "%s: damaged record", named(c, t, "plan", name, what, sizeof what));
	return EX_OK;
}

/*
 * The index's sequence turns odd before a key or org change can commit,
 * and what changed is noted for index_finish.
 */
static int
index_touch(struct cli *c, const unsigned char *digest, const char *org)
{
	size_t i;

	if (c->index == NULL)
		return cli_fail(EX_STORE, "internal error: a write outside cli_txn");
	keyindex_begin(c->index);
	for (i = 0; org != NULL && i < c->ntouched_orgs; i++)
		if (strcmp(c->touched_orgs[i], org) == 0)
			return EX_OK;
	if (digest != NULL && keyindex_needs_rebuild(c->index))
		return EX_OK; /* the rebuild will see it */
	if (digest != NULL && c->ntouched_keys == c->touched_keys_cap) {
		size_t cap = c->touched_keys_cap ? c->touched_keys_cap * 2 : 64;
		void *p = realloc(c->touched_keys, cap * DIGEST_LEN);

		if (p == NULL) {
			keyindex_want_rebuild(c->index);
			return EX_OK;
		}
		c->touched_keys = p;
		c->touched_keys_cap = cap;
	}
	if (digest != NULL)
		memcpy(c->touched_keys[c->ntouched_keys++], digest, DIGEST_LEN);
	else if (org != NULL && c->ntouched_orgs < CLI_TOUCH_MAX && strlen(org) <= ID_MAX)
		strcpy(c->touched_orgs[c->ntouched_orgs++], org);
	else
		keyindex_want_rebuild(c->index);
	return EX_OK;
}

int
cli_put_org(struct cli *c, struct store_txn *t, const char *id,
    const struct org_rec *o)
{
	unsigned char buf[RECORD_MAX];
	int n = record_encode_org(o, buf, sizeof buf), rc;

	if (n < 0)
		return cli_fail(EX_USAGE, "organization record too large");
	if ((rc = index_touch(c, NULL, id)) != EX_OK)
		return rc;
	rc = store_put(c->kg.store, t, TBL_ORGS, id, strlen(id), buf, (size_t)n, 0);
	return rc == ST_OK ? EX_OK : txn_rc(c, rc, "organization");
}

int
cli_put_plan(struct cli *c, struct store_txn *t, const struct plan_rec *p)
{
	unsigned char buf[RECORD_MAX];
	int n = record_encode_plan(p, buf, sizeof buf), rc;

	if (n < 0)
		return cli_fail(EX_USAGE, "plan record too large (too many or too long rules)");
	rc = store_put(c->kg.store, t, TBL_PLANS, p->name, strlen(p->name), buf, (size_t)n, 0);
	return rc == ST_OK ? EX_OK : txn_rc(c, rc, "plan");
}

int
cli_get_key_by_id(struct cli *c, struct store_txn *t, const char *id,
    unsigned char digest[DIGEST_LEN], unsigned char *buf, struct key_rec *k,
    int rmw)
{
	unsigned char ibuf[64];
	struct keyid_rec kid;
	char what[ID_MAX + 32], disp[DISPLAY_MAX];
	size_t len;
	int rc;

	rc = store_get(c->kg.store, t, TBL_KEYIDS, id, strlen(id), ibuf, sizeof ibuf, &len, rmw);
	/*
	 * What is no key id may be a key of any format, pasted by mistake:
	 * only its display prefix, and what an id looks like.
	 */
	if (rc == ST_NOTFOUND && !apikey_id_valid(id)) {
		apikey_display(c->kg.prefix, id, strlen(id), disp, sizeof disp);
		return cli_fail(EX_NOTFOUND, "key '%s' not found: a key id is key_ and 16 letters or "
		    "digits (as key create printed it), never the key itself", disp);
	}
	if (rc != ST_OK)
		return get_fail(c, t, rc, "key", id);
	/* found: id is a key id, which messages may show */
	snprintf(what, sizeof what, "key '%s'", id);
	if (record_decode_keyid(ibuf, len, &kid) != 0)
		return cli_fail(EX_STORE, "%s: damaged id record", what);
	memcpy(digest, kid.digest, DIGEST_LEN);
	rc = store_get(c->kg.store, t, TBL_KEYS, digest, DIGEST_LEN, buf, RECORD_MAX, &len, rmw);
	if (rc == ST_NOTFOUND)
		return cli_fail(EX_STORE, "%s: its id record points to no key (run keygate db check)", what);
	if (rc != ST_OK)
		return txn_rc(c, rc, what);
	if (record_decode_key(buf, len, k) != 0)
		return cli_fail(EX_STORE, "%s: damaged record", what);
	return EX_OK;
}

int
cli_put_key(struct cli *c, struct store_txn *t,
    const unsigned char digest[DIGEST_LEN], const struct key_rec *k)
{
	unsigned char buf[RECORD_MAX];
	int n = record_encode_key(k, buf, sizeof buf), rc;

	if (n < 0)
		return cli_fail(EX_USAGE, "key record too large (too many or too long rules)");
	if ((rc = index_touch(c, digest, NULL)) != EX_OK)
		return rc;
	rc = store_put(c->kg.store, t, TBL_KEYS, digest, DIGEST_LEN, buf, (size_t)n, 0);
	return rc == ST_OK ? EX_OK : txn_rc(c, rc, "key");
}

int
cli_exists(struct cli *c, struct store_txn *t, enum store_tbl tbl,
    const char *key)
{
	return store_exists(c->kg.store, t, tbl, key, strlen(key)) != ST_NOTFOUND;
}

int
cli_bump_generation(struct cli *c, struct store_txn *t)
{
	unsigned char buf[RECORD_MAX], out[RECORD_MAX];
	struct meta_rec m;
	int rc, n;

	if ((rc = kg_read_meta(&c->kg, t, buf, sizeof buf, &m, 1)) != ST_OK)
		return txn_rc(c, rc, "meta record");
	m.generation++;
	c->changed_policy = 1;
	if ((n = record_encode_meta(&m, out, sizeof out)) < 0)
		return cli_fail(EX_STORE, "meta record too large");
	rc = store_put(c->kg.store, t, TBL_META, "store", 5, out, (size_t)n, 0);
	return rc == ST_OK ? EX_OK : txn_rc(c, rc, "meta record");
}

int
cli_parse_rules(const struct args *a, struct rule *rules,
    struct rule_view *views, size_t *n)
{
	size_t i;

	*n = 0;
	for (i = 0; i < a->n; i++) {
		enum rule_action act;
		const char *err;

		if (strcmp(a->v[i].name, "allow") == 0)
			act = RULE_ALLOW;
		else if (strcmp(a->v[i].name, "deny") == 0)
			act = RULE_DENY;
		else
			continue;
		if (*n == RULES_MAX)
			return cli_fail(EX_USAGE, "at most %d rules", RULES_MAX);
		if (rule_parse(act, a->v[i].value, &rules[*n], &err) != 0)
			return cli_fail(EX_USAGE, "rule '%s': %s", a->v[i].value, err);
		record_rule_view(&rules[*n], &views[*n]);
		(*n)++;
	}
	return EX_OK;
}

void
cli_print_rules(FILE *f, const struct rule_view *r, size_t n, const char *indent)
{
	char buf[1024];
	size_t i;

	for (i = 0; i < n; i++) {
		rule_format(r[i].action, r[i].methods, r[i].host, r[i].path, buf, sizeof buf);
		fprintf(f, "%s%s\n", indent, buf);
	}
}

void
cli_json_rules(struct json *j, const struct rule_view *r, size_t n)
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

int64_t
cli_last_used(struct cli *c, const unsigned char digest[DIGEST_LEN],
    const struct key_rec *k)
{
	struct counter_slot *s = counters_find(c->kg.counters, counters_key_tag(digest), 0);
	int64_t t = s ? counters_last_used(s) : 0;

	return t > k->last_used_at ? t : k->last_used_at;
}

uint64_t
cli_org_used(struct cli *c, const char *org, enum quota_period kind, int64_t now,
    uint32_t *period_id)
{
	enum org_counter w = kind == QUOTA_DAY ? OC_DAY :
	    kind == QUOTA_CREDITS ? OC_CREDITS : OC_MONTH;
	struct org_slot *s = counters_org(c->kg.counters, org, 0);
	uint32_t pid = counters_period(w, now);

	if (period_id != NULL)
		*period_id = pid;
	return s != NULL ? counters_org_used(s, w, pid) : 0;
}
