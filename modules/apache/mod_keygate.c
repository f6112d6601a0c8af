/*
 * mod_keygate - keygate's decision inside Apache httpd 2.4 (mod_keygate(8)).
 *
 *   KeygateStore /var/lib/keygate        (server config; default: keygate.conf's db)
 *   KeygateConfig /etc/keygate/keygate.conf
 *   <Location /api/>
 *       AuthType keygate
 *       Require valid-key
 *   </Location>
 *
 * An authentication module for credentials that are no Basic or Digest:
 * a check_authn hook that answers only for "AuthType keygate", and an
 * authorization provider for "Require valid-key" (granted to a request
 * that keygate let in).  The decision is gate.c's, the same code, store,
 * key index and counters as keygate-authz's.
 *
 * - The store is opened in each child (child_init, after Apache dropped
 *   its privileges) and closed when the child exits; never in the parent.
 * - Allowed: the backend sees what it sees behind mod_authnz_fcgi: the
 *   environment Org-Id, Plan, Key-Id... (CGI: Org_Id...), REMOTE_USER
 *   the key id, and the request headers X-Keygate-Org-Id... for proxied
 *   backends, whatever the client sent under those names (and X-Org-Id)
 *   removed first.
 * - Denied: keygate's status, headers and JSON body, written here and the
 *   request ended (DONE), so that Apache sends no error document of its
 *   own; a subrequest only gets the status.
 * - Subrequests, and a request that an internal redirect made from one
 *   keygate already counted, are answered but never counted.
 */
#include <string.h>
#include <strings.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_auth.h"
#include "ap_provider.h"
#include "apr_strings.h"

#include "gate.h"

#define AUTH_TYPE "keygate"
/* in r->notes of a request keygate let in and counted */
#define NOTE_DECIDED "keygate-decided"
/* header values kept per name; more copies are counted (and refused) */
#define COPIES 8

module AP_MODULE_DECLARE_DATA keygate_module;

/* Server-wide (GLOBAL_ONLY): one store per Apache. */
static const char *store_dir;
static const char *config_path;
/* This child's, from child_init. */
static struct gate *gate;

static const char *
set_store(cmd_parms *cmd, void *cfg, const char *arg)
{
	const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

	(void)cfg;
	if (err != NULL)
		return err;
	store_dir = arg;
	return NULL;
}

static const char *
set_config(cmd_parms *cmd, void *cfg, const char *arg)
{
	const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

	(void)cfg;
	if (err != NULL)
		return err;
	config_path = arg;
	return NULL;
}

static const command_rec keygate_cmds[] = {
	AP_INIT_TAKE1("KeygateStore", set_store, NULL, RSRC_CONF,
	    "the keygate store directory (default: keygate.conf's db, else /var/lib/keygate)"),
	AP_INIT_TAKE1("KeygateConfig", set_config, NULL, RSRC_CONF,
	    "keygate.conf (default: /etc/keygate/keygate.conf when it exists)"),
	{NULL}
};

/* A configuration keygate cannot read stops Apache at start-up, not at the first request. */
/* A reload that drops a directive goes back to the default. */
static int
reset_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
	(void)pconf;
	(void)plog;
	(void)ptemp;
	store_dir = NULL;
	config_path = NULL;
	return OK;
}

static int
check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
	char err[600];

	(void)pconf;
	(void)plog;
	(void)ptemp;
	if (gate_check_config(config_path, err, sizeof err) != 0) {
		ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "mod_keygate: %s", err);
		return HTTP_INTERNAL_SERVER_ERROR;
	}
	return OK;
}

static apr_status_t
close_gate(void *data)
{
	(void)data;
	gate_close(gate);
	gate = NULL;
	return APR_SUCCESS;
}

static void
child_init(apr_pool_t *pchild, server_rec *s)
{
	gate = gate_open("mod_keygate", config_path, store_dir);
	if (gate == NULL)
		ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
		    "mod_keygate: cannot start (see the lines before); every request is answered 503");
	/* after the worker threads are gone: the last counts are flushed */
	apr_pool_cleanup_register(pchild, NULL, close_gate, apr_pool_cleanup_null);
}

/* Every copy of a header (Apache joins repeated ones with ", "; a module may add more). */
struct copies {
	const char *v[COPIES];
	size_t n;
};

static int
add_copy(void *arg, const char *key, const char *value)
{
	struct copies *c = arg;

	(void)key;
	if (c->n < COPIES)
		c->v[c->n] = value;
	c->n++;
	return 1;
}

/* Whether a request before r in its internal redirects was let in and counted. */
static int
counted_before(const request_rec *r)
{
	const request_rec *p;

	for (p = r->prev; p != NULL; p = p->prev)
		if (apr_table_get(p->notes, NOTE_DECIDED) != NULL)
			return 1;
	return 0;
}

/* The identity for the backend, client-sent copies of its names removed first. */
static void
pass_identity(request_rec *r, const struct gate_answer *a)
{
	const char *const *id;
	size_t i;

	for (id = gate_identity(); *id != NULL; id++)
		apr_table_unset(r->headers_in, apr_pstrcat(r->pool, "X-Keygate-", *id, NULL));
	apr_table_unset(r->headers_in, "X-Org-Id");
	for (i = 0; i < a->nheaders; i++) {
		apr_table_set(r->subprocess_env, a->headers[i].name, a->headers[i].value);
		apr_table_setn(r->headers_in,
		    apr_pstrcat(r->pool, "X-Keygate-", a->headers[i].name, NULL),
		    apr_pstrdup(r->pool, a->headers[i].value));
	}
	r->user = apr_pstrdup(r->pool, a->key_id);
	r->ap_auth_type = (char *)AUTH_TYPE;
	apr_table_setn(r->notes, NOTE_DECIDED, "1");
}

/* keygate's denial, as it is: status, headers, JSON body. */
static int
send_denial(request_rec *r, const struct gate_answer *a)
{
	size_t i;

	/* a subrequest's answer goes to its main request, not to the client */
	if (r->main != NULL)
		return a->status;
	r->status = a->status;
	for (i = 0; i < a->nheaders; i++) {
		if (strcasecmp(a->headers[i].name, "Content-Type") == 0)
			ap_set_content_type(r, apr_pstrdup(r->pool, a->headers[i].value));
		else
			apr_table_set(r->err_headers_out, a->headers[i].name, a->headers[i].value);
	}
	ap_set_content_length(r, (apr_off_t)a->body_len);
	if (!r->header_only)
		ap_rwrite(a->body, (int)a->body_len, r);
	return DONE;
}

static int
authenticate(request_rec *r)
{
	const char *type = ap_auth_type(r);
	struct copies auth = {{0}, 0}, xkey = {{0}, 0};
	struct gate_request q;
	struct gate_answer a;
	struct gate_thread *t;

	if (type == NULL || strcasecmp(type, AUTH_TYPE) != 0)
		return DECLINED;
	apr_table_do(add_copy, &auth, r->headers_in, "Authorization", NULL);
	apr_table_do(add_copy, &xkey, r->headers_in, "X-Api-Key", NULL);
	memset(&q, 0, sizeof q);
	q.authorization = auth.v;
	q.nauthorization = auth.n;
	q.x_api_key = xkey.v;
	q.nx_api_key = xkey.n;
	q.method = r->method;
	q.uri = r->unparsed_uri;
	q.host = r->hostname;
	q.remote = r->useragent_ip;
	q.query = r->args;
	q.subrequest = r->main != NULL || counted_before(r);
	if (gate == NULL || (t = gate_thread(gate)) == NULL)
		gate_unavailable(&a);
	else
		gate_decide(t, &q, &a);
	if (a.status != HTTP_OK)
		return send_denial(r, &a);
	pass_identity(r, &a);
	return OK;
}

/* Require valid-key: a request keygate let in (not any other module's user). */
static authz_status
valid_key_check(request_rec *r, const char *line, const void *parsed)
{
	(void)line;
	(void)parsed;
	if (r->user == NULL)
		return AUTHZ_DENIED_NO_USER;
	if (r->ap_auth_type != NULL && strcasecmp(r->ap_auth_type, AUTH_TYPE) == 0 &&
	    apr_table_get(r->notes, NOTE_DECIDED) != NULL)
		return AUTHZ_GRANTED;
	return AUTHZ_DENIED;
}

static const authz_provider valid_key_provider = {
	&valid_key_check,
	NULL,
};

static void
register_hooks(apr_pool_t *p)
{
	ap_hook_pre_config(reset_config, NULL, NULL, APR_HOOK_MIDDLE);
	ap_hook_post_config(check_config, NULL, NULL, APR_HOOK_MIDDLE);
	ap_hook_child_init(child_init, NULL, NULL, APR_HOOK_MIDDLE);
	ap_hook_check_authn(authenticate, NULL, NULL, APR_HOOK_MIDDLE, AP_AUTH_INTERNAL_PER_CONF);
	ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "valid-key", AUTHZ_PROVIDER_VERSION,
	    &valid_key_provider, AP_AUTH_INTERNAL_PER_CONF);
}

AP_DECLARE_MODULE(keygate) = {
	STANDARD20_MODULE_STUFF,
	NULL,              /* per-directory config */
	NULL,              /* merge per-directory */
	NULL,              /* per-server config */
	NULL,              /* merge per-server */
	keygate_cmds,
	register_hooks,
	0                  /* flags */
};
