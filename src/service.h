/*
 * service.h - what keygate's FastCGI programs (keygate-authz, keygate-api)
 * share: options and configuration, the listening socket (fd 0 from a
 * spawner, systemd's, or --listen), the process model (a master that
 * pre-forks and restarts workers), hostile connections kept away from
 * libfcgi (fcgi_guard, one deadline per request), and in each worker the
 * opened store, a decision context, the usage tally, a flush thread (the
 * ledger and the history, every second), a maintenance thread
 * (failchk, lock expiry, key index repair) and a
 * watchdog; the metrics (metrics.h) of all of it.  A program supplies its
 * options and its request handler.
 */
#ifndef KEYGATE_SERVICE_H
#define KEYGATE_SERVICE_H

#include <getopt.h>
#include <stdint.h>

#include <fcgiapp.h>

#include "authz.h"
#include "conf.h"
#include "ctx.h"
#include "metrics.h"

/* At most LOG_RATE lines a second of one kind, and a count of the rest. */
struct log_budget {
	const char *what;
	int64_t second;
	unsigned logged, dropped;
};

struct service;

struct service_ops {
	const char *name;          /* the program, for logs and messages */
	const char *usage;         /* --help: the lines after the common ones */
	/* the program's own long options (values >= 256), and their handler */
	const struct option *options;
	int (*option)(struct service *s, int opt, const char *arg);
	/*
	 * Once at start, with the store open: 0, or -1 with err set, which
	 * stops the program before it serves (a configuration that can never
	 * work must not become a worker restarted every second).
	 */
	int (*check_store)(struct service *s, char *err, size_t errlen);
	/* in each worker, once its store is open; 0, or -1 (the worker exits) */
	int (*worker_init)(struct service *s);
	/*
	 * One request; now_ns: when it was accepted (the request's one clock
	 * read).  Returns the verdict its answer carries (decision.h), which
	 * the metrics count under its status and code.
	 */
	int (*handle)(struct service *s, FCGX_Request *rq, uint64_t now_ns);
};

struct service {
	const struct service_ops *ops;
	void *ctx;                 /* the program's */
	struct conf conf;
	const char *dir;           /* the store */
	struct kg kg;
	struct authz az;           /* decisions, for authorizing and verifying keys */
	struct tally *tally;       /* this worker's usage history */
	/* this process's row of the store's metrics (NULL: none, nothing counted); metrics_render for GET /metrics */
	struct metrics *metrics;
	int listen_fd;
	uint64_t reopen_failed_at; /* kg_mono_ns() */
	struct log_budget deny_budget, error_budget;
};

/* Parses argv, loads the configuration, opens the socket and serves. */
int service_main(struct service *s, int argc, char **argv);

/*
 * At the start of each request: reopens a store that needs it, maps a
 * replaced counter file again.  service_reopen: after a decision met a
 * broken store; 1 when the store is usable again (decide again).
 */
void service_prepare(struct service *s);
int service_reopen(struct service *s);

/* One line of this kind now? (now: the request's wall-clock second) */
int service_log_allowed(struct log_budget *b, int64_t now);

#endif
