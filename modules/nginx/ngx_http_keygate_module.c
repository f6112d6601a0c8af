/*
 * ngx_http_keygate_module - keygate's decision inside nginx, a dynamic
 * module for Debian's nginx (mod_keygate(8)).
 *
 *   load_module modules/ngx_http_keygate_module.so;
 *   http {
 *       keygate_store /var/lib/keygate;    (default: keygate.conf's db)
 *       keygate_config /etc/keygate/keygate.conf;
 *       location /api/ {
 *           keygate on;
 *           proxy_set_header X-Keygate-Org-Id $keygate_org_id;  ...
 *       }
 *   }
 *
 * An access-phase handler: the request's Authorization and X-Api-Key
 * headers (each copy apart, as nginx keeps them), method, target, the
 * host nginx routed on ($host) and the client's address go to gate.c,
 * the same decision as keygate-authz's over the same store and counters.
 * Allowed: the identity is in $keygate_org_id, $keygate_plan,
 * $keygate_key_id, $keygate_key_mode, $keygate_user_id,
 * $keygate_ratelimit_remaining, $keygate_quota_remaining and
 * $keygate_quota_exceeded (empty when keygate set none).  Denied: keygate's
 * status, headers and JSON body, sent here: no error_page replay.
 *
 * Each worker opens the store in init_process (after nginx dropped its
 * privileges) and closes it in exit_process.  nginx workers are single
 * threaded: the request's strings are copied into this worker's buffers,
 * not allocated.  A request that an internal redirect made from one that
 * keygate already counted (error_page, try_files...) is answered but not
 * counted again: a pool cleanup marks the request, and it survives the
 * redirect.
 */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "gate.h"

#define KEYGATE_VARS 8   /* the names of gate_identity() */
#define COPIES 8         /* header copies kept; more are counted (and refused) */

typedef struct {
	char *store;          /* NULL: keygate.conf's db */
	char *config;         /* NULL: the default keygate.conf */
	ngx_flag_t used;      /* some location has keygate on */
} ngx_http_keygate_main_conf_t;

typedef struct {
	ngx_flag_t enable;
} ngx_http_keygate_loc_conf_t;

typedef struct {
	ngx_str_t value[KEYGATE_VARS];
} ngx_http_keygate_ctx_t;

static ngx_int_t ngx_http_keygate_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_keygate_init(ngx_conf_t *cf);
static void *ngx_http_keygate_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_keygate_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_keygate_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child);
static char *ngx_http_keygate_set_path(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_keygate_init_process(ngx_cycle_t *cycle);
static void ngx_http_keygate_exit_process(ngx_cycle_t *cycle);

static ngx_command_t ngx_http_keygate_commands[] = {
	{ ngx_string("keygate"),
	  NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_FLAG,
	  ngx_conf_set_flag_slot,
	  NGX_HTTP_LOC_CONF_OFFSET,
	  offsetof(ngx_http_keygate_loc_conf_t, enable),
	  NULL },
	{ ngx_string("keygate_store"),
	  NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
	  ngx_http_keygate_set_path,
	  NGX_HTTP_MAIN_CONF_OFFSET,
	  offsetof(ngx_http_keygate_main_conf_t, store),
	  NULL },
	{ ngx_string("keygate_config"),
	  NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
	  ngx_http_keygate_set_path,
	  NGX_HTTP_MAIN_CONF_OFFSET,
	  offsetof(ngx_http_keygate_main_conf_t, config),
	  NULL },
	ngx_null_command
};

static ngx_http_module_t ngx_http_keygate_module_ctx = {
	ngx_http_keygate_add_variables,     /* preconfiguration */
	ngx_http_keygate_init,              /* postconfiguration */
	ngx_http_keygate_create_main_conf,
	NULL,                               /* init main configuration */
	NULL,                               /* create server configuration */
	NULL,                               /* merge server configuration */
	ngx_http_keygate_create_loc_conf,
	ngx_http_keygate_merge_loc_conf
};

ngx_module_t ngx_http_keygate_module = {
	NGX_MODULE_V1,
	&ngx_http_keygate_module_ctx,
	ngx_http_keygate_commands,
	NGX_HTTP_MODULE,
	NULL,                               /* init master */
	NULL,                               /* init module */
	ngx_http_keygate_init_process,
	NULL,                               /* init thread */
	NULL,                               /* exit thread */
	ngx_http_keygate_exit_process,
	NULL,                               /* exit master */
	NGX_MODULE_V1_PADDING
};

/* This worker's gate. */
static struct gate *gate;

/*
 * This worker's copies of a request's strings (nginx's are not
 * NUL-terminated).  A value longer than its buffer is not cut: it is left
 * out (NULL), which keygate refuses wherever it matters (SPEC: limits
 * refuse, never truncate).
 */
static struct {
	char method[64];
	char uri[8192 + 1];
	char host[1024];
	char remote[NGX_SOCKADDR_STRLEN + 1];
	char query[8192 + 1];
} buf;

static const char *
copy_str(char *dst, size_t cap, const ngx_str_t *s)
{
	if (s->data == NULL || s->len >= cap)
		return NULL;
	ngx_memcpy(dst, s->data, s->len);
	dst[s->len] = '\0';
	return dst;
}

/* ---- configuration ---- */

static char *
ngx_http_keygate_set_path(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
	char **field = (char **)((u_char *)conf + cmd->offset);
	ngx_str_t *value = cf->args->elts;

	if (*field != NULL)
		return "is duplicate";
	if ((*field = ngx_pcalloc(cf->pool, value[1].len + 1)) == NULL)
		return NGX_CONF_ERROR;
	ngx_memcpy(*field, value[1].data, value[1].len);
	return NGX_CONF_OK;
}

static void *
ngx_http_keygate_create_main_conf(ngx_conf_t *cf)
{
	return ngx_pcalloc(cf->pool, sizeof(ngx_http_keygate_main_conf_t));
}

static void *
ngx_http_keygate_create_loc_conf(ngx_conf_t *cf)
{
	ngx_http_keygate_loc_conf_t *conf = ngx_pcalloc(cf->pool, sizeof(*conf));

	if (conf == NULL)
		return NULL;
	conf->enable = NGX_CONF_UNSET;
	return conf;
}

static char *
ngx_http_keygate_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
	ngx_http_keygate_loc_conf_t *prev = parent, *conf = child;
	ngx_http_keygate_main_conf_t *kmcf;

	ngx_conf_merge_value(conf->enable, prev->enable, 0);
	if (conf->enable) {
		kmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_keygate_module);
		kmcf->used = 1;
	}
	return NGX_CONF_OK;
}

/* ---- variables ---- */

static ngx_int_t
ngx_http_keygate_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data)
{
	ngx_http_keygate_ctx_t *ctx = ngx_http_get_module_ctx(r, ngx_http_keygate_module);

	if (ctx == NULL || data >= KEYGATE_VARS || ctx->value[data].len == 0) {
		v->not_found = 1;
		return NGX_OK;
	}
	v->data = ctx->value[data].data;
	v->len = ctx->value[data].len;
	v->valid = 1;
	v->no_cacheable = 0;
	v->not_found = 0;
	return NGX_OK;
}

/* $keygate_org_id ... from the identity's names ("Org-Id"). */
static ngx_int_t
ngx_http_keygate_add_variables(ngx_conf_t *cf)
{
	const char *const *id = gate_identity();
	ngx_http_variable_t *var;
	ngx_str_t name;
	size_t i, k, n;

	for (i = 0; id[i] != NULL; i++) {
		if (i >= KEYGATE_VARS)
			return NGX_ERROR;
		n = ngx_strlen(id[i]);
		name.len = sizeof("keygate_") - 1 + n;
		if ((name.data = ngx_pnalloc(cf->pool, name.len)) == NULL)
			return NGX_ERROR;
		ngx_memcpy(name.data, "keygate_", sizeof("keygate_") - 1);
		for (k = 0; k < n; k++)
			name.data[sizeof("keygate_") - 1 + k] =
			    id[i][k] == '-' ? '_' : ngx_tolower(id[i][k]);
		var = ngx_http_add_variable(cf, &name, NGX_HTTP_VAR_NOCACHEABLE);
		if (var == NULL)
			return NGX_ERROR;
		var->get_handler = ngx_http_keygate_variable;
		var->data = i;
	}
	return NGX_OK;
}

/* ---- processes ---- */

static ngx_int_t
ngx_http_keygate_init_process(ngx_cycle_t *cycle)
{
	ngx_http_keygate_main_conf_t *kmcf;

	if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE)
		return NGX_OK; /* cache manager and loader: they serve no request */
	kmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_keygate_module);
	if (kmcf == NULL || !kmcf->used)
		return NGX_OK;
	gate = gate_open("ngx_http_keygate_module", kmcf->config, kmcf->store);
	if (gate == NULL)
		ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
		    "keygate: cannot start (see the lines before); every request is answered 503");
	return NGX_OK;
}

static void
ngx_http_keygate_exit_process(ngx_cycle_t *cycle)
{
	(void)cycle;
	gate_close(gate);
	gate = NULL;
}

/* ---- requests ---- */

/* Marks a request keygate let in and counted: survives internal redirects (the pool does). */
static void
ngx_http_keygate_counted(void *data)
{
	(void)data;
}

static int
counted_before(ngx_http_request_t *r)
{
	ngx_pool_cleanup_t *c;

	for (c = r->pool->cleanup; c != NULL; c = c->next)
		if (c->handler == ngx_http_keygate_counted)
			return 1;
	return 0;
}

static ngx_int_t
mark_counted(ngx_http_request_t *r)
{
	ngx_pool_cleanup_t *c = ngx_pool_cleanup_add(r->pool, 0);

	if (c == NULL)
		return NGX_ERROR;
	c->handler = ngx_http_keygate_counted;
	return NGX_OK;
}

/* Every copy of the two key headers, as nginx received them. */
static void
key_headers(ngx_http_request_t *r, const char **auth, size_t *nauth, const char **xkey,
    size_t *nxkey)
{
	ngx_list_part_t *part = &r->headers_in.headers.part;
	ngx_table_elt_t *h = part->elts;
	ngx_uint_t i;

	*nauth = *nxkey = 0;
	for (i = 0; /* void */; i++) {
		if (i >= part->nelts) {
			if (part->next == NULL)
				break;
			part = part->next;
			h = part->elts;
			i = 0;
		}
		if (h[i].key.len == sizeof("authorization") - 1 &&
		    ngx_strncasecmp(h[i].key.data, (u_char *)"authorization", h[i].key.len) == 0) {
			if (*nauth < COPIES)
				auth[*nauth] = (const char *)h[i].value.data;
			(*nauth)++;
		} else if (h[i].key.len == sizeof("x-api-key") - 1 &&
		    ngx_strncasecmp(h[i].key.data, (u_char *)"x-api-key", h[i].key.len) == 0) {
			if (*nxkey < COPIES)
				xkey[*nxkey] = (const char *)h[i].value.data;
			(*nxkey)++;
		}
	}
}

/* The host nginx routed on, as $host: the request line's or Host's, else the server's name. */
static const ngx_str_t *
routed_host(ngx_http_request_t *r)
{
	ngx_http_core_srv_conf_t *cscf;

	if (r->headers_in.server.len > 0)
		return &r->headers_in.server;
	cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);
	return &cscf->server_name;
}

static ngx_int_t
keep_identity(ngx_http_request_t *r, const struct gate_answer *a)
{
	const char *const *id = gate_identity();
	ngx_http_keygate_ctx_t *ctx;
	size_t i, k, n;

	if ((ctx = ngx_pcalloc(r->pool, sizeof(*ctx))) == NULL)
		return NGX_ERROR;
	for (i = 0; i < a->nheaders; i++) {
		for (k = 0; id[k] != NULL && k < KEYGATE_VARS; k++)
			if (ngx_strcmp(id[k], a->headers[i].name) == 0)
				break;
		if (id[k] == NULL || k >= KEYGATE_VARS)
			continue;
		n = ngx_strlen(a->headers[i].value);
		if ((ctx->value[k].data = ngx_pnalloc(r->pool, n)) == NULL)
			return NGX_ERROR;
		ngx_memcpy(ctx->value[k].data, a->headers[i].value, n);
		ctx->value[k].len = n;
	}
	ngx_http_set_ctx(r, ctx, ngx_http_keygate_module);
	return NGX_OK;
}

static ngx_int_t
add_header(ngx_http_request_t *r, const char *name, const char *value)
{
	ngx_table_elt_t *h = ngx_list_push(&r->headers_out.headers);
	size_t nl = ngx_strlen(name), vl = ngx_strlen(value);

	if (h == NULL)
		return NGX_ERROR;
	h->hash = 1;
	h->key.len = nl;
	h->value.len = vl;
	if ((h->key.data = ngx_pnalloc(r->pool, nl)) == NULL ||
	    (h->value.data = ngx_pnalloc(r->pool, vl)) == NULL)
		return NGX_ERROR;
	ngx_memcpy(h->key.data, name, nl);
	ngx_memcpy(h->value.data, value, vl);
	return NGX_OK;
}

/* keygate's denial as it is: status, headers and JSON body; the request ends here. */
static ngx_int_t
send_denial(ngx_http_request_t *r, const struct gate_answer *a)
{
	ngx_buf_t *b;
	ngx_chain_t out;
	ngx_int_t rc;
	size_t i;

	if ((rc = ngx_http_discard_request_body(r)) != NGX_OK)
		return rc;
	r->headers_out.status = a->status;
	r->headers_out.content_length_n = (off_t)a->body_len;
	for (i = 0; i < a->nheaders; i++) {
		if (ngx_strcasecmp((u_char *)a->headers[i].name, (u_char *)"Content-Type") == 0) {
			r->headers_out.content_type.len = ngx_strlen(a->headers[i].value);
			r->headers_out.content_type.data = (u_char *)a->headers[i].value;
			r->headers_out.content_type_len = r->headers_out.content_type.len;
			/* copied: the gate's strings live until this worker's next decision */
			if ((r->headers_out.content_type.data = ngx_pnalloc(r->pool,
			    r->headers_out.content_type.len)) == NULL)
				return NGX_ERROR;
			ngx_memcpy(r->headers_out.content_type.data, a->headers[i].value,
			    r->headers_out.content_type.len);
		} else if (add_header(r, a->headers[i].name, a->headers[i].value) != NGX_OK) {
			return NGX_ERROR;
		}
	}
	if ((b = ngx_calloc_buf(r->pool)) == NULL || (b->start = ngx_pnalloc(r->pool,
	    a->body_len)) == NULL)
		return NGX_ERROR;
	ngx_memcpy(b->start, a->body, a->body_len);
	b->pos = b->start;
	b->last = b->end = b->start + a->body_len;
	b->memory = 1;
	b->last_buf = (r == r->main) ? 1 : 0;
	b->last_in_chain = 1;
	out.buf = b;
	out.next = NULL;
	rc = ngx_http_send_header(r);
	if (rc == NGX_ERROR || rc > NGX_OK || r->header_only)
		return rc;
	return ngx_http_output_filter(r, &out);
}

static ngx_int_t
ngx_http_keygate_handler(ngx_http_request_t *r)
{
	ngx_http_keygate_loc_conf_t *klcf = ngx_http_get_module_loc_conf(r, ngx_http_keygate_module);
	const char *auth[COPIES], *xkey[COPIES];
	struct gate_request q;
	struct gate_answer a;
	struct gate_thread *t;
	ngx_int_t rc;

	if (!klcf->enable)
		return NGX_DECLINED;
	ngx_memzero(&q, sizeof q);
	key_headers(r, auth, &q.nauthorization, xkey, &q.nx_api_key);
	q.authorization = auth;
	q.x_api_key = xkey;
	q.method = copy_str(buf.method, sizeof buf.method, &r->method_name);
	q.uri = copy_str(buf.uri, sizeof buf.uri, &r->unparsed_uri);
	q.host = copy_str(buf.host, sizeof buf.host, routed_host(r));
	q.remote = copy_str(buf.remote, sizeof buf.remote, &r->connection->addr_text);
	q.query = copy_str(buf.query, sizeof buf.query, &r->args);
	q.subrequest = r != r->main || counted_before(r);
	if (gate == NULL || (t = gate_thread(gate)) == NULL)
		gate_unavailable(&a);
	else
		gate_decide(t, &q, &a);
	if (a.status == NGX_HTTP_OK) {
		if (keep_identity(r, &a) != NGX_OK || (!q.subrequest && mark_counted(r) != NGX_OK))
			return NGX_HTTP_INTERNAL_SERVER_ERROR;
		return NGX_OK;
	}
	rc = send_denial(r, &a);
	ngx_http_finalize_request(r, rc);
	return NGX_DONE;
}

static ngx_int_t
ngx_http_keygate_init(ngx_conf_t *cf)
{
	ngx_http_keygate_main_conf_t *kmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_keygate_module);
	ngx_http_core_main_conf_t *cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
	ngx_http_handler_pt *h;
	char err[600];

	/* a configuration keygate cannot read stops nginx at start-up (nginx -t too) */
	if (gate_check_config(kmcf->config, err, sizeof err) != 0) {
		ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "keygate: %s", err);
		return NGX_ERROR;
	}
	if ((h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers)) == NULL)
		return NGX_ERROR;
	*h = ngx_http_keygate_handler;
	return NGX_OK;
}
