/*
 * keygate-api - the JSON API over the store (keygate-api(8)): self-service
 * keys, verification, usage, organizations, plans, credits and audit,
 * authenticated by the callers' own keys with the authorizer's rules.
 *
 * A FastCGI responder on service.c, like keygate-authz: this file reads a
 * request's body and hands it, with the params, to api.c.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fastcgi.h>
#include <fcgiapp.h>
#include <openssl/crypto.h>

#include "api.h"
#include "log.h"
#include "parse.h"
#include "service.h"

struct api_prog {
	char prefix[API_PREFIX_MAX + 1];
	struct api *api;
	char body[API_BODY_MAX];
};

static void
emit(void *arg, const char *buf, size_t n)
{
	FCGX_PutStr(buf, (int)n, ((FCGX_Request *)arg)->out);
}

static int
reopen(void *arg)
{
	return service_reopen(arg);
}

/*
 * GET /metrics: the store's metrics file through this process's own row's
 * mapping (the request thread is the one that replaces it), or, when this
 * process could not open the file for counting, opened for reading.
 */
static int
metrics_text(void *arg, char *buf, size_t cap)
{
	struct service *svc = arg;
	struct metrics *m;
	char err[600];
	int n;

	if (svc->metrics != NULL)
		return metrics_render(svc->metrics, buf, cap);
	if ((m = metrics_open_read(svc->dir, err, sizeof err)) == NULL) {
		log_warnx("metrics: %s", err);
		return -1;
	}
	n = metrics_render(m, buf, cap);
	metrics_close(m);
	return n;
}

/*
 * STDIN to its end (the empty STDIN record), before anything is answered:
 * the first API_BODY_MAX bytes kept, the rest of a body up to API_DRAIN_MAX
 * read and dropped.  A web server may still be writing when the answer is
 * ready (Apache's mod_proxy_fcgi sends a GET's empty STDIN record in a
 * write of its own, after the params), and one whose write fails because
 * the connection was closed answers the client 503, whatever keygate-api
 * said (measured).  CONTENT_LENGTH may be absent: Apache streams a chunked
 * body of 16 KiB or more without one (measured), and the stream's end is
 * then the body's end.  *kept: the bytes in p->body, to be wiped.
 */
static enum api_body
read_body(struct api_prog *p, FCGX_Request *rq, size_t *len, size_t *kept)
{
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", rq->envp), *why;
	uint64_t declared = 0, total = 0;
	char sink[4096];
	int has_length = cl != NULL && cl[0] != '\0', bad_length = 0, got;

	*len = *kept = 0;
	if (has_length && parse_u64(cl, 0, UINT64_MAX, &declared, &why) != 0)
		bad_length = 1; /* a length nobody can send: a 400, once the stream is read */
	while (total <= API_DRAIN_MAX) {
		if (total < API_BODY_MAX)
			got = FCGX_GetStr(p->body + total, (int)(API_BODY_MAX - total), rq->in);
		else
			got = FCGX_GetStr(sink, (int)sizeof sink, rq->in);
		if (got <= 0)
			break;
		total += (uint64_t)got;
		*kept = total < API_BODY_MAX ? (size_t)total : API_BODY_MAX;
	}
	OPENSSL_cleanse(sink, sizeof sink);
	if ((has_length && !bad_length && declared > API_BODY_MAX) || total > API_BODY_MAX)
		return API_BODY_TOO_LARGE;
	if (FCGX_GetError(rq->in) != 0 || bad_length || (has_length && declared != total))
		return API_BODY_SHORT;
	*len = (size_t)total;
	return API_BODY_OK;
}

static int
handle(struct service *svc, FCGX_Request *rq, uint64_t now_ns)
{
	struct api_prog *p = svc->ctx;
	struct api_env env;
	enum api_body state;
	size_t len, kept;
	int outcome;

	service_prepare(svc);
	memset(&env, 0, sizeof env);
	env.kg = &svc->kg;
	env.az = &svc->az;
	env.realm = svc->conf.realm;
	env.reopen = reopen;
	env.reopen_arg = svc;
	env.emit = emit;
	env.emit_arg = rq;
	env.metrics = metrics_text;
	env.metrics_arg = svc;
	env.metrics_allow = svc->conf.metrics_allow;
	env.metrics_allow_n = svc->conf.metrics_allow_n;
	if (rq->role != FCGI_RESPONDER) {
		static const char no[] = "Status: 500 Internal Server Error\r\n"
		    "Content-Type: application/json\r\n\r\n{\"error\":{\"code\":\"internal_error\","
		    "\"message\":\"keygate-api is a FastCGI responder.\"}}\n";
		FCGX_PutStr(no, sizeof no - 1, rq->out);
		return V_INTERNAL;
	}
	state = read_body(p, rq, &len, &kept);
	outcome = api_handle(p->api, &env, rq->envp, p->body, len, state, now_ns);
	OPENSSL_cleanse(p->body, kept); /* a body may hold a key (verify) */
	return outcome;
}

/*
 * A store made with a vault seals every new key's secret: a vault file
 * this user cannot read, or not the store's, stops keygate-api when it
 * starts rather than failing each key creation later.
 */
static int
check_vault(struct kg *kg, char *err, size_t errlen)
{
	int none;

	return kg_has_vault(kg) && kg_vault(kg, &none, err, errlen) == NULL ? -1 : 0;
}

static int
check_store(struct service *svc, char *err, size_t errlen)
{
	return check_vault(&svc->kg, err, errlen);
}

static int
worker_init(struct service *svc)
{
	struct api_prog *p = svc->ctx;
	char err[600];

	if ((p->api = api_new(p->prefix)) == NULL) {
		log_warnx("out of memory");
		return -1;
	}
	if (check_vault(&svc->kg, err, sizeof err) != 0) {
		log_warnx("%s", err);
		return -1;
	}
	return 0;
}

#define OPT_PREFIX 256

static int
option(struct service *svc, int opt, const char *arg)
{
	struct api_prog *p = svc->ctx;

	if (opt != OPT_PREFIX)
		return -1;
	if (!api_prefix_valid(arg)) {
		log_warnx("--prefix: a path such as /keygate, without a trailing slash");
		return -1;
	}
	strcpy(p->prefix, arg);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{"prefix", required_argument, NULL, OPT_PREFIX},
		{NULL, 0, NULL, 0},
	};
	static const struct service_ops ops = {
		.name = "keygate-api",
		.usage = "[--prefix /keygate]\n\n"
		    "The JSON API over the keygate store, a FastCGI responder: self-service\n"
		    "keys, verification, usage, organizations, plans and audit.  See\n"
		    "keygate-api(8).\n",
		.options = options,
		.option = option,
		.check_store = check_store,
		.worker_init = worker_init,
		.handle = handle,
	};
	static struct api_prog prog;
	static struct service s;

	strcpy(prog.prefix, "/keygate");
	s.ops = &ops;
	s.ctx = &prog;
	return service_main(&s, argc, argv);
}
