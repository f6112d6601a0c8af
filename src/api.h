/*
 * api.h - keygate-api's requests, apart from FastCGI: the program
 * (keygate-api.c) reads a request's params and body and hands them here;
 * the answer (a CGI-style Status line, headers and JSON body) comes back
 * through emit.  The fuzzer drives the very same code.
 *
 * Every write goes through the catalog (catalog.h), which holds the rules
 * and writes the audit record in the same transaction; callers
 * authenticate with their keys as the authorizer checks them (authz.h, in
 * its API mode: rate limits apply, no route rules, no quota).
 */
#ifndef KEYGATE_API_H
#define KEYGATE_API_H

#include <stddef.h>
#include <stdint.h>

#include "authz.h"
#include "ctx.h"
#include "netmask.h"

/* 64 KiB: a request body; anything larger is a 413, never read in part */
#define API_BODY_MAX 65536
/*
 * 1 MiB: how much of a body over API_BODY_MAX the front-end reads (and
 * drops) before it answers 413.  A web server that is still writing a body
 * when its connection closes answers the client its own 5xx instead of
 * ours; Apache, which applies no LimitRequestBody to a proxied request,
 * then loses the 413.  Past this, the answer goes out unread.
 */
#define API_DRAIN_MAX (1u << 20)
#define API_PREFIX_MAX 128 /* --prefix */

/* What the front-end could read of the body. */
enum api_body {
	API_BODY_OK,        /* body_len bytes, all of them (as CONTENT_LENGTH said, if sent) */
	API_BODY_TOO_LARGE, /* more than API_BODY_MAX bytes: not kept */
	API_BODY_SHORT      /* the stream broke, or its length is not CONTENT_LENGTH */
};

/* What a request runs with: the worker's store, decision context and output. */
struct api_env {
	struct kg *kg;
	struct authz *az;
	const char *realm;                     /* for 401s, as the authorizer's */
	int (*reopen)(void *arg);              /* a broken store: 1 when reopened */
	void *reopen_arg;
	void (*emit)(void *arg, const char *buf, size_t n);
	void *emit_arg;
	/*
	 * GET /metrics: the Prometheus text of the store's metrics into buf
	 * (its length, or -1 when they cannot be read); NULL: a 503.
	 */
	int (*metrics)(void *arg, char *buf, size_t cap);
	void *metrics_arg;
	/* who may read GET /metrics without a key (keygate.conf metrics-allow) */
	const struct netmask *metrics_allow;
	size_t metrics_allow_n;
};

struct api;

/* Per worker (or per thread): the prefix routes are under ("/keygate"). */
struct api *api_new(const char *prefix);
void api_free(struct api *a);
int api_prefix_valid(const char *prefix);

/*
 * One request: its params (NAME=value strings, NULL-terminated) and body.
 * The key material in envp is wiped.  Returns the answer's outcome
 * (decision.h), for the metrics.
 */
int api_handle(struct api *a, const struct api_env *env, char **envp,
    const char *body, size_t body_len, enum api_body body_state, uint64_t now_ns);

#endif
