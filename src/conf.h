/*
 * conf.h - keygate.conf: "name = value" lines, '#' comments.  Parsed into
 * a struct; an unknown name, a bad value or a repeated name is an error
 * with its line number, and a broken file never replaces a working setup.
 */
#ifndef KEYGATE_CONF_H
#define KEYGATE_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "netmask.h"
#include "pathname.h"

#define CONF_DEFAULT_PATH "/etc/keygate/keygate.conf"
#define CONF_DEFAULT_DB   "/var/lib/keygate"
#define CONF_LINE_MAX     4096
#define CONF_FILE_MAX     (1 << 20)
/*
 * Workers of one authorizer: each is a process in the store's Berkeley DB
 * environment, which has room for 1024 (set_thread_count in store.c)
 * shared with every other authorizer and command on the host.
 */
#define CONF_WORKERS_MAX  256

enum { LOG_DENIALS_NO = 0, LOG_DENIALS_YES = 1, LOG_DENIALS_ALL = 2 };

struct conf {
	char db[PATHNAME_MAX + 1];
	char realm[128];
	enum log_dest log;
	int log_denials;        /* LOG_DENIALS_*: yes is at most 50 a second */
	int debug;
	char query_param[64];   /* "" = keys in query strings are not read */
	unsigned workers;
	char listen[1024];      /* "" = the socket on fd 0 */
	unsigned socket_mode;
	unsigned watchdog_s;    /* a request stuck this long ends the process */
	unsigned request_deadline_s; /* a request must arrive whole within this */
	/* keygate-api's GET /metrics without a key, from these networks only */
	struct netmask metrics_allow[NETMASK_LIST_MAX];
	size_t metrics_allow_n;
};

void conf_defaults(struct conf *c);
/* Parses a whole file's text; on error, err holds "line N: reason". */
int conf_parse(const char *text, size_t len, struct conf *c, char *err,
    size_t errlen);
/*
 * Loads path; a missing file is an error only if must_exist (a path the
 * user named), since /etc/keygate/keygate.conf is optional.
 */
int conf_load(const char *path, int must_exist, struct conf *c, char *err,
    size_t errlen);
/*
 * The config path and store dir, by precedence: --config, $KEYGATE_CONF,
 * /etc/keygate/keygate.conf; --db, $KEYGATE_DB, db = in the config,
 * /var/lib/keygate (keygate(1), ENVIRONMENT).
 */
const char *conf_path(const char *opt, int *must_exist);
const char *conf_db(const char *opt, const struct conf *c);

/* The settings' names, in order: for tests that check the shipped file shows each. */
size_t conf_setting_count(void);
const char *conf_setting_name(size_t i);

#endif
