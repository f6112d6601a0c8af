/*
 * cli.c - shared plumbing of the admin CLI.
 */
#include "config.h"

#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"

/*
 * Every message goes through apikey_redact: whatever a message echoes (an
 * argument, an org id, a line of a config file), a key in keygate's format
 * never reaches the terminal beyond its display prefix.  Keys of other
 * formats are caught where an argument is looked up (cat_shown).
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
	c->specs = specs;
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

void
cli_actor(struct cat_actor *actor, char who[AUDIT_ACTOR_MAX + 1])
{
	struct passwd *pw = getpwuid(getuid());

	if (pw != NULL && pw->pw_name != NULL && strlen(pw->pw_name) <= 32)
		snprintf(who, AUDIT_ACTOR_MAX + 1, "cli:%s", pw->pw_name);
	else
		snprintf(who, AUDIT_ACTOR_MAX + 1, "cli:uid%lu", (unsigned long)getuid());
	/* the operator of the store: every scope, every organization */
	memset(actor, 0, sizeof *actor);
	actor->name = who;
	actor->scopes = SCOPES_ALL;
}

int
cli_locate(struct cli *c)
{
	char err[600];
	const char *path;
	int must_exist;

	conf_defaults(&c->conf);
	path = conf_path(c->config_opt, &must_exist);
	if (conf_load(path, must_exist, &c->conf, err, sizeof err) != 0)
		return cli_fail(EX_USAGE, "%s", err);
	c->dir = conf_db(c->db_opt, &c->conf);
	return cli_check_path("the store path", c->dir);
}

int
cli_open(struct cli *c)
{
	char err[600], who[AUDIT_ACTOR_MAX + 1];
	struct cat_actor actor;
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
	cli_actor(&actor, who);
	if ((c->cat = cat_open(&c->kg, &actor, cli_progress)) == NULL)
		return cli_fail(EX_STORE, "out of memory");
	return EX_OK;
}

void
cli_close(struct cli *c)
{
	char err[600];

	if (!c->opened)
		return;
	if (c->cat != NULL && cat_close(c->cat, err, sizeof err) != 0)
		cli_note("keygate: the key index could not be brought up to date (%s); "
		    "authorizers read the store until it is rebuilt", err);
	c->cat = NULL;
	/* Keep recovery short and logs trimmed: checkpoint after every command. */
	store_checkpoint(c->kg.store);
	kg_close(&c->kg);
	c->opened = 0;
}

static int
takes_option(const struct cli *c, const char *name, size_t len)
{
	const struct optspec *s;

	for (s = c->specs; s != NULL && s->name != NULL; s++)
		if (strlen(s->name) == len && strncmp(s->name, name, len) == 0)
			return 1;
	return 0;
}

int
cli_cat_fail(struct cli *c, int rc)
{
	const struct cat_error *e = cat_error(c->cat);
	size_t n = e->field ? strlen(e->field) : 0;
	int code;

	switch (rc) {
	case CAT_OK:
		return EX_OK;
	case CAT_INVALID:
	case CAT_FORBIDDEN:
		code = EX_USAGE;
		break;
	case CAT_CONFLICT:
	case CAT_LIMIT:
		code = EX_CONFLICT;
		break;
	case CAT_NOTFOUND:
		return cli_fail(EX_NOTFOUND, "%s", e->msg);
	default:
		return cli_fail(EX_STORE, "%s", e->msg);
	}
	/* "name must be ..." is about --name, when the command has one */
	if (n > 0 && strncmp(e->msg, e->field, n) == 0 && (e->msg[n] == ' ' || e->msg[n] == ':') &&
	    takes_option(c, e->field, n))
		return cli_fail(code, "%s: --%s%s", c->cmd, e->msg,
		    strcmp(e->field, "expires") == 0 && takes_option(c, "force", 5) ?
		    " (use --force to make an expired key)" : "");
	return cli_fail(code, "%s: %s", c->cmd, e->msg);
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

int
cli_exists(struct cli *c, enum store_tbl tbl, const char *key)
{
	return store_exists(c->kg.store, NULL, tbl, key, strlen(key)) != ST_NOTFOUND;
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
