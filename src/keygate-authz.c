/*
 * keygate-authz - the FastCGI authorizer: a decision per request, as
 * keygate-authz(8) describes.  Processes, connections and maintenance are
 * service.c's; this file reads the params, decides, answers and logs.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <fastcgi.h>
#include <fcgiapp.h>

#include "authz.h"
#include "decision.h"
#include "log.h"
#include "params.h"
#include "service.h"

struct authz_prog {
	struct decision_table answers; /* the constant denials, rendered at start-up */
	char out[8192];
};

/* now_ns: when the request was accepted, the one clock read of a request */
static int
handle(struct service *svc, FCGX_Request *rq, uint64_t now_ns)
{
	char uri[PARAMS_URI_MAX];
	struct authz_prog *prog = svc->ctx;
	struct authz_req q;
	struct authz_res r;
	struct params p;
	const char *answer;
	/* keys may come from the query string (query-param in the conf) */
	int n, answered, query_keys = svc->conf.query_param[0] != '\0';

	params_read(rq->envp, &p);
	params_request(&p, rq->role == FCGI_AUTHORIZER ? ROLE_AUTHORIZER : ROLE_RESPONDER,
	    query_keys, uri, &q);

	service_prepare(svc);
	if (rq->role != FCGI_AUTHORIZER && rq->role != FCGI_RESPONDER) {
		memset(&r, 0, sizeof r);
		r.verdict = V_INTERNAL;
		r.reason = "unsupported FastCGI role";
	} else {
		authz_decide(&svc->az, &q, now_ns, &r);
		/*
		 * The store broke under this request: reopen and decide again.
		 * Safe, because a decision reads the store before it consumes
		 * any counter.
		 */
		if (r.verdict == V_UNAVAILABLE && store_broken(svc->kg.store) &&
		    service_reopen(svc))
			authz_decide(&svc->az, &q, kg_now_ns(), &r);
	}
	n = decision_answer(&prog->answers, &r, svc->conf.realm, prog->out, sizeof prog->out, &answer);
	answered = decision_answered(&r, answer, n);
	if (n < 0) {
		static const char fallback[] = "Status: 500 Internal Server Error\r\n"
		    "Content-Type: application/json\r\n\r\n"
		    "{\"error\":{\"code\":\"internal_error\",\"message\":\"Internal error.\"}}\n";
		FCGX_PutStr(fallback, sizeof fallback - 1, rq->out);
	} else {
		FCGX_PutStr(answer, n, rq->out);
	}
	if (authz_is_error(&q, &r)) {
		if (svc->conf.log_denials == LOG_DENIALS_ALL ||
		    service_log_allowed(&svc->error_budget, (int64_t)(now_ns / NS_PER_S)))
			authz_log(&q, &r);
	} else if (r.verdict != V_ALLOW && svc->conf.log_denials &&
	    (svc->conf.log_denials == LOG_DENIALS_ALL ||
	    service_log_allowed(&svc->deny_budget, (int64_t)(now_ns / NS_PER_S)))) {
		authz_log(&q, &r);
	}
	params_wipe(rq->envp, &p, query_keys);
	return answered;
}

static int
worker_init(struct service *svc)
{
	struct authz_prog *p = svc->ctx;

	if (decision_table_init(&p->answers, svc->conf.realm) != 0) {
		log_warnx("realm: too long to render the denials");
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct service_ops ops = {
		.name = "keygate-authz",
		.usage = "FastCGI authorizer for keygate API keys (AUTHORIZER and RESPONDER roles).\n"
		    "Without --listen the listening socket is fd 0, as given by mod_fcgid,\n"
		    "lighttpd or spawn-fcgi, or systemd's.  See keygate-authz(8).\n",
		.worker_init = worker_init,
		.handle = handle,
	};
	static struct authz_prog prog;
	static struct service s;

	s.ops = &ops;
	s.ctx = &prog;
	return service_main(&s, argc, argv);
}
