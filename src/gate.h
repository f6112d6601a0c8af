/*
 * gate.h - keygate's decision inside a web server's own processes: the
 * library that mod_keygate (Apache httpd) and ngx_http_keygate_module
 * (nginx) call, with no FastCGI in between.
 *
 *   gate_open      once per process (an Apache child, an nginx worker):
 *                  the store, the usage tally, the metrics row, and the
 *                  background threads every deciding process runs
 *                  (upkeep.h: failchk, index repair, ledger and history
 *                  flushes) plus a watchdog
 *   gate_thread    this thread's decision context, made on its first use
 *   gate_decide    one request: the same decision, answer and log line as
 *                  keygate-authz's, as a status, headers and a body
 *   gate_close     flushes what was counted and closes the store
 *
 * Safe from any number of threads of one process at once, and from any
 * number of processes on one store (with keygate-authz too: the limits
 * are the same counters).  No allocation per request.  Fails closed: a
 * store that cannot be opened or read answers 503 with keygate's body
 * until it can (retried every second), never lets a request through.
 *
 * Nothing here knows Apache, nginx or FastCGI; this header includes no
 * other of keygate's, so a module sees only these names.
 */
#ifndef KEYGATE_GATE_H
#define KEYGATE_GATE_H

#include <stddef.h>

struct gate;
struct gate_thread;

/* What the web server knows of a request (pointers the caller keeps alive). */
struct gate_request {
	/* every Authorization and X-Api-Key header, each copy apart or joined with ", " */
	const char *const *authorization;
	size_t nauthorization;
	const char *const *x_api_key;
	size_t nx_api_key;
	const char *method;
	/* the request target as sent, with its query; NULL: too long to examine (route rules refuse) */
	const char *uri;
	const char *host;    /* the host the server routed the request on; NULL: none */
	const char *remote;  /* the client's address, for the log */
	const char *query;   /* the query string, for query-param; NULL: none */
	int subrequest;      /* answered like its request, never counted */
};

struct gate_header {
	const char *name, *value;
};

#define GATE_HEADERS_MAX 12

/*
 * An answer.  Allowed: status 200 and the identity, named as keygate-authz
 * names its Variable-* headers ("Org-Id": "acme", "Plan": ...); key_id is
 * the key's public id (the server's user).  Denied: keygate's status, its
 * headers (Content-Type first) and its JSON body, to send as they are.
 * The strings live in the thread's context until its next gate_decide.
 */
struct gate_answer {
	int status;
	const char *phrase;      /* "Unauthorized" */
	struct gate_header headers[GATE_HEADERS_MAX];
	size_t nheaders;
	const char *body;        /* NULL on 200 */
	size_t body_len;
	const char *key_id;      /* NULL unless allowed */
};

/*
 * The names the backend gets the identity under (those of an allowed
 * answer's headers), NULL-terminated: a module removes whatever a client
 * sent under them.
 */
const char *const *gate_identity(void);

/*
 * Reads keygate.conf (config: its path, NULL: $KEYGATE_CONF, else
 * /etc/keygate/keygate.conf if it exists): for a module's configuration
 * check at start-up.  0, or -1 with err set.
 */
int gate_check_config(const char *config, char *err, size_t errlen);

/*
 * Opens the gate of this process: program names it in the log; dir is
 * the store (NULL: $KEYGATE_DB, the config's db, /var/lib/keygate).  A
 * store that cannot be opened is logged and tried again every second;
 * meanwhile every request is answered 503.  NULL only when memory or
 * threads ran out, or the configuration cannot be read: the caller
 * answers 503 itself (gate_unavailable).
 */
struct gate *gate_open(const char *program, const char *config, const char *dir);
/* Flushes, closes the store, ends the threads.  After every request thread is done. */
void gate_close(struct gate *g);

/* This thread's context for g, made on its first call; NULL: out of memory. */
struct gate_thread *gate_thread(struct gate *g);

/* Decides one request.  Never fails: every error is an answer (5xx). */
void gate_decide(struct gate_thread *t, const struct gate_request *q, struct gate_answer *a);

/* The 503 answer for a process without a gate (static strings). */
void gate_unavailable(struct gate_answer *a);

#endif
