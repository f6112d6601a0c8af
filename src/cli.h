/*
 * cli.h - what every `keygate` subcommand shares: option parsing, the
 * opened store, one-transaction-per-command with deadlock retry, record
 * helpers, and the exit codes of SPEC section 1.
 */
#ifndef KEYGATE_CLI_H
#define KEYGATE_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "conf.h"
#include "ctx.h"
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
#define CLI_TOUCH_MAX 64

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
	struct conf conf;
	const char *dir;
	struct kg kg;
	int opened;
	int changed_policy; /* this transaction changed an org or a plan */
	/*
	 * The key index, held for writing from the first transaction to
	 * cli_close, which mirrors the keys and orgs the command changed (or
	 * rebuilds the index when it changed more orgs than CLI_TOUCH_MAX, or
	 * when the list of keys cannot grow).
	 */
	struct keyindex *index;
	unsigned char (*touched_keys)[DIGEST_LEN];
	size_t ntouched_keys, touched_keys_cap;
	char touched_orgs[CLI_TOUCH_MAX][ID_MAX + 1];
	size_t ntouched_orgs;
};

/*
 * Prints "keygate: <message>" on stderr and returns code; cli_note prints
 * the message alone.  Any run of the message with a key's shape is cut
 * after the display prefix (apikey_redact); longer messages are cut.
 */
#define CLI_MSG_MAX 1024
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * Whether s is a key: a valid key of this store's format, or one the store
 * holds (imported keys are any printable 8-256 bytes).  Reads the store in
 * t (may be NULL); an error counts as a key.  0 before cli_open.
 */
int cli_is_key(struct cli *c, struct store_txn *t, const char *s);
/*
 * What a message may show of an argument the user typed in place of an id
 * (a key id, an org, a plan): the argument when it is a well-formed id
 * (record_id_valid) and no key (cli_is_key), else only its display prefix,
 * in buf (DISPLAY_MAX): whatever was pasted there, nothing more of it.
 */
const char *cli_shown(struct cli *c, struct store_txn *t, const char *arg,
    char *buf, size_t n);
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
void cli_close(struct cli *c);

/*
 * Runs fn in one transaction, committed synchronously; retried when it
 * meets a deadlock.  fn returns an exit code; anything but EX_OK aborts, so
 * a failed command changes nothing.
 */
typedef int (*cli_txn_fn)(struct cli *c, struct store_txn *txn, void *ctx);
int cli_txn(struct cli *c, cli_txn_fn fn, void *ctx);
/* Rebuilds the key index from the store (db check, db recover). */
int cli_rebuild_index(struct cli *c);
/* Maps a store result to an exit code with a message (for fn bodies). */
int cli_store_fail(struct cli *c, int rc, const char *what);

/* "<kind> '<id as cli_shown allows>' not found"; returns EX_NOTFOUND. */
int cli_not_found(struct cli *c, struct store_txn *t, const char *kind, const char *id);

/* Records, read in a transaction (rmw: for update). */
int cli_get_org(struct cli *c, struct store_txn *t, const char *id,
    unsigned char *buf, struct org_rec *o, int rmw);
int cli_get_plan(struct cli *c, struct store_txn *t, const char *name,
    unsigned char *buf, struct plan_rec *p, int rmw);
int cli_put_org(struct cli *c, struct store_txn *t, const char *id,
    const struct org_rec *o);
int cli_put_plan(struct cli *c, struct store_txn *t, const struct plan_rec *p);
/* Looks a key up by public id: digest and record. */
int cli_get_key_by_id(struct cli *c, struct store_txn *t, const char *id,
    unsigned char digest[DIGEST_LEN], unsigned char *buf, struct key_rec *k,
    int rmw);
int cli_put_key(struct cli *c, struct store_txn *t,
    const unsigned char digest[DIGEST_LEN], const struct key_rec *k);
/*
 * 1 if the record exists.  A deadlock or store error counts as "exists",
 * so the caller goes on to a real read that reports it.
 */
int cli_exists(struct cli *c, struct store_txn *t, enum store_tbl tbl,
    const char *key);
/* Bumps meta.generation: every org or plan change does, in its transaction. */
int cli_bump_generation(struct cli *c, struct store_txn *t);

/*
 * Parses the --allow/--deny options of a, in the order given, into rules
 * and their views.  Returns EX_OK, or EX_USAGE after printing the error.
 */
int cli_parse_rules(const struct args *a, struct rule *rules,
    struct rule_view *views, size_t *n);
/* Prints rules as text lines ("  allow GET /v1/x") or a JSON array. */
void cli_print_rules(FILE *f, const struct rule_view *r, size_t n, const char *indent);
void cli_json_rules(struct json *j, const struct rule_view *r, size_t n);

/* The live last use of a key: the counters' value or the record's. */
int64_t cli_last_used(struct cli *c, const unsigned char digest[DIGEST_LEN],
    const struct key_rec *k);

/*
 * Units org used in the current period of a quota of kind (QUOTA_NONE:
 * by calendar month), as the counters decide it (the ledger's base and
 * this host's count).  *period_id: that period.
 */
uint64_t cli_org_used(struct cli *c, const char *org, enum quota_period kind,
    int64_t now, uint32_t *period_id);

/* Subcommands. */
int cmd_init(struct cli *c, int argc, char **argv);
int cmd_plan(struct cli *c, int argc, char **argv);
int cmd_org(struct cli *c, int argc, char **argv);
int cmd_key(struct cli *c, int argc, char **argv);
int cmd_key_import(struct cli *c, int argc, char **argv);
int cmd_verify(struct cli *c, int argc, char **argv);
int cmd_usage(struct cli *c, int argc, char **argv);
int cmd_db(struct cli *c, int argc, char **argv);
int cmd_metrics(struct cli *c, int argc, char **argv);

#endif
