/*
 * cli.h - what every `keygate` subcommand shares: option parsing, the
 * opened store and its catalog session (catalog.h: every write, and the
 * reads both front-ends share), output helpers, and the exit codes of
 * keygate(1), EXIT STATUS.
 */
#ifndef KEYGATE_CLI_H
#define KEYGATE_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "conf.h"
#include "ctx.h"
#include "catalog.h"
#include "json.h"
#include "record.h"
#include "store.h"

enum exit_code {
	EX_OK = 0,
	EX_USAGE = 1,
	EX_NOTFOUND = 2,
	EX_CONFLICT = 3,
	EX_STORE = 4
};

#define ARGS_MAX 64

struct arg {
	const char *name;  /* option name without dashes, NULL for positionals */
	const char *value; /* NULL for flags */
};

struct args {
	struct arg v[ARGS_MAX];
	size_t n;
	const char *pos[ARGS_MAX];
	size_t npos;
};

/* An option a subcommand accepts; repeat: may be given more than once. */
struct optspec {
	const char *name;
	int takes_value;
	int repeat;
};

struct cli {
	const char *cmd;      /* "key create", for messages */
	const char *db_opt;
	const char *config_opt;
	int json;
	const struct optspec *specs; /* the subcommand's options, for messages */
	struct conf conf;
	const char *dir;
	struct kg kg;
	int opened;
	/*
	 * The catalog session every command reads and writes through (opened
	 * with the store): the one writer of keys, orgs, plans and the audit.
	 */
	struct catalog *cat;
};

/*
 * Prints "keygate: <message>" on stderr and returns code; cli_note prints
 * the message alone.  Any run of the message with a key's shape is cut
 * after the display prefix (apikey_redact); longer messages are cut.
 */
#define CLI_MSG_MAX 1024
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints s on stdout, left-aligned in width characters (not bytes). */
void cli_pad(const char *s, size_t width);

/*
 * Parses argv against specs (plus the global --db, --config, --json);
 * expects between minpos and maxpos positional arguments.  On error
 * prints one line and returns EX_USAGE.
 */
int cli_parse(struct cli *c, int argc, char **argv, const struct optspec *specs,
    size_t minpos, size_t maxpos, const char *synopsis, struct args *a);
const char *arg_get(const struct args *a, const char *name);
int arg_has(const struct args *a, const char *name);

/* Re-arms the CLI's watchdog: call when a long command makes progress. */
void cli_progress(void);
/* EX_OK, or EX_USAGE after one line when path is longer than PATHNAME_MAX. */
int cli_check_path(const char *what, const char *path);
/*
 * Loads the config and opens the store; on error prints and returns
 * EX_STORE (EX_USAGE for a bad config or a store path that is too long).
 */
int cli_open(struct cli *c);
/* The config and the store's directory alone, for commands that do not open it. */
int cli_locate(struct cli *c);
void cli_close(struct cli *c);
/* Who the CLI acts as: "cli:<unix user>", every scope, every organization. */
void cli_actor(struct cat_actor *actor, char who[AUDIT_ACTOR_MAX + 1]);

/*
 * Maps a catalog result to an exit code and prints its message (with the
 * command's name for refused input and conflicts; "--" before the field
 * when it is one of the command's options).  For CAT_OK, EX_OK.
 */
int cli_cat_fail(struct cli *c, int rc);
/* Maps a store result to an exit code with a message (plain reads). */
int cli_store_fail(struct cli *c, int rc, const char *what);
/* 1 if the record exists; a store error counts as "exists" (db check). */
int cli_exists(struct cli *c, enum store_tbl tbl, const char *key);

/*
 * Parses the --allow/--deny options of a, in the order given, into rules
 * and their views.  Returns EX_OK, or EX_USAGE after printing the error.
 */
int cli_parse_rules(const struct args *a, struct rule *rules,
    struct rule_view *views, size_t *n);
/* Prints rules as text lines ("  allow GET /v1/x") or a JSON array. */
void cli_print_rules(FILE *f, const struct rule_view *r, size_t n, const char *indent);
void cli_json_rules(struct json *j, const struct rule_view *r, size_t n);

/* Subcommands. */
int cmd_init(struct cli *c, int argc, char **argv);
int cmd_plan(struct cli *c, int argc, char **argv);
int cmd_org(struct cli *c, int argc, char **argv);
int cmd_key(struct cli *c, int argc, char **argv);
int cmd_key_import(struct cli *c, int argc, char **argv);
int cmd_verify(struct cli *c, int argc, char **argv);
int cmd_usage(struct cli *c, int argc, char **argv);
int cmd_db(struct cli *c, int argc, char **argv);
int cmd_audit(struct cli *c, int argc, char **argv);
int cmd_metrics(struct cli *c, int argc, char **argv);
int cmd_repl(struct cli *c, int argc, char **argv);

#endif
