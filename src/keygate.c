/*
 * keygate - the admin CLI: plans, organizations, keys, usage, the audit
 * trail, verification and backups of one store.  Exit status (keygate(1),
 * EXIT STATUS): 0 success, 1 usage error, 2 not found, 3 conflict, 4 store
 * error.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "log.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: keygate [--db DIR] [--config FILE] [--json] COMMAND ...\n"
	    "\n"
	    "  init [--prefix kg] [--pepper-file FILE] [--group GROUP] [--cache-size 64M]\n"
	    "  plan set NAME [--rate 100/s] [--quota 100000/month] [--max-keys 5]\n"
	    "                [--overage 20%%] [--allow RULE]... [--deny RULE]... [--clear-rules]\n"
	    "  plan list | show NAME | delete NAME\n"
	    "  org create ORG --plan NAME [--name TEXT]\n"
	    "  org set ORG [--plan NAME] [--name TEXT] [--suspend | --resume]\n"
	    "  org credit ORG +N\n"
	    "  org list | show ORG\n"
	    "  key create --org ORG [--name TEXT] [--user ID] [--test] [--expires 90d|DATE]\n"
	    "             [--rate 10/s] [--allow RULE]... [--deny RULE]... [--scope SCOPE]...\n"
	    "             [--force]\n"
	    "  key list [--org ORG] [--all] | show ID | revoke ID\n"
	    "  key rotate ID [--grace 24h|0] [--expires 90d|DATE] [--force]\n"
	    "  key import --org ORG [--sha256] [--test] [--name TEXT]   (keys on stdin)\n"
	    "  verify KEY|- [--method GET] [--path /] [--host HOST]\n"
	    "  usage [--org ORG] [--period YYYY-MM|YYYY-MM-DD]\n"
	    "  usage prune --before DATE\n"
	    "  audit [--org ORG] [--since DATE] [--limit N] | audit prune --before DATE\n"
	    "  db backup DIR | check | recover\n"
	    "  metrics\n"
	    "  repl status | join HOST:PORT [--timeout 10m]\n"
	    "\n"
	    "The store is --db, else $KEYGATE_DB, else db= in the config file\n"
	    "(--config, $KEYGATE_CONF, /etc/keygate/keygate.conf), else /var/lib/keygate.\n"
	    "See keygate(1).\n");
}

struct command {
	const char *name;
	int (*fn)(struct cli *c, int argc, char **argv);
};

static const struct command commands[] = {
	{"init", cmd_init},
	{"plan", cmd_plan},
	{"org", cmd_org},
	{"key", cmd_key},
	{"verify", cmd_verify},
	{"usage", cmd_usage},
	{"db", cmd_db},
	{"audit", cmd_audit},
	{"metrics", cmd_metrics},
	{"repl", cmd_repl},
};

int
main(int argc, char **argv)
{
	struct cli c;
	size_t i;
	int first = 1, code;

	/* Region and database files must stay group-accessible (init --group). */
	umask(007);
	/* KEYGATE_DEBUG=1 shows Berkeley DB's own messages, for diagnosis */
	log_init("keygate", LOG_TO_STDERR, getenv("KEYGATE_DEBUG") != NULL);
	memset(&c, 0, sizeof c);
	/* Global options may come before the command. */
	while (first < argc && strncmp(argv[first], "--", 2) == 0) {
		const char *o = argv[first];
		if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
			usage(stdout);
			return EX_OK;
		}
		if (strcmp(o, "--version") == 0) {
			printf("keygate %s\n", PACKAGE_VERSION);
			return EX_OK;
		}
		if (strcmp(o, "--json") == 0) {
			c.json = 1;
			first++;
		} else if ((strcmp(o, "--db") == 0 || strcmp(o, "--config") == 0) &&
		    first + 1 < argc) {
			if (o[2] == 'd')
				c.db_opt = argv[first + 1];
			else
				c.config_opt = argv[first + 1];
			first += 2;
		} else if (strncmp(o, "--db=", 5) == 0) {
			c.db_opt = o + 5;
			first++;
		} else if (strncmp(o, "--config=", 9) == 0) {
			c.config_opt = o + 9;
			first++;
		} else {
			return cli_fail(EX_USAGE, "unknown option %s (see keygate --help)", o);
		}
	}
	if (first >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	for (i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(argv[first], commands[i].name) == 0) {
			c.cmd = commands[i].name;
			code = commands[i].fn(&c, argc - first - 1, argv + first + 1);
			cli_close(&c);
			fflush(stdout);
			if (ferror(stdout))
				return cli_fail(code ? code : EX_STORE, "cannot write the output");
			return code;
		}
	}
	if (strcmp(argv[first], "help") == 0) {
		usage(stdout);
		return EX_OK;
	}
	return cli_fail(EX_USAGE, "unknown command '%s' (see keygate --help)", argv[first]);
}
