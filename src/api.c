/*
 * api.c - keygate-api's requests (api.h): routing, the caller's key and
 * scope, the handlers, the answers.
 *
 * Each request:
 * route (prefix, path, method), read the body (64 KiB at most), check the
 * caller's key (authz, in its API mode: rate limits apply, no route
 * rules, no quota), check its scope, then one catalog session does the
 * work; the answer is JSON built in a per-worker buffer.  Every write
 * goes through the catalog (catalog.h), which holds the rules and writes
 * the audit record in the same transaction.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "api.h"
#include "apiobj.h"
#include "authz.h"
#include "catalog.h"
#include "decision.h"
#include "jsonparse.h"
#include "log.h"
#include "metrics.h"
#include "netmask.h"
#include "params.h"
#include "parse.h"
#include "rules.h"
#include "tally.h"

/*
 * The largest answer: a page of CAT_LIST_LIMIT_MAX key objects (about
 * 700 bytes each with rules) or 400 days of usage.
 */
#define API_OUT_MAX (2u << 20)
#define API_PATH_MAX 512   /* after the prefix; longer is no route of ours */
#define API_QUERY_MAX 16   /* query parameters a request may carry */
#define API_PAGE_DEFAULT 100
#define API_USAGE_DAYS_DEFAULT 30

struct api {
	char prefix[API_PREFIX_MAX + 1];
	size_t prefix_len;
	struct jp_arena *arena;
	char *out;
	FILE *outf;
	char head[1024];
	char deny[4096];
	char metrics[METRICS_TEXT_MAX];
};

struct qparam {
	const char *name;
	char value[256];
};

/* One request as the handlers see it. */
struct req {
	const struct api_env *env;
	struct api *prog;
	uint64_t now_ns;
	const char *method;
	char path[API_PATH_MAX + 1];
	const char *seg[8];   /* the path's segments after /v1 */
	char segbuf[API_PATH_MAX + 1];
	size_t nseg;
	struct qparam q[API_QUERY_MAX];
	size_t nq;
	const char *remote;
	const char *body;
	size_t body_len;
	const struct jp_value *doc;  /* the parsed body, or NULL */
	/* the caller */
	struct authz_res auth;
	char caller_id[KEYID_LEN + 1];
	char caller_org[ID_MAX + 1];
	uint32_t scopes;
	int admin;
	struct catalog *cat;
	struct json j;
	int answered;
	int outcome;   /* what the answer was, for the metrics (decision.h) */
	int is_metrics; /* the path is /metrics, not under /v1 */
};

/* ---- answers ---- */

static void
out_begin(struct req *r)
{
	rewind(r->prog->outf);
	json_init(&r->j, r->prog->outf);
}

static void
emit(struct req *r, const char *buf, size_t n)
{
	r->env->emit(r->env->emit_arg, buf, n);
}

/*
 * Sends status, headers (the Content-Type ctype; extra: more header lines,
 * may be NULL) and the body written.
 */
static void
send_as(struct req *r, int status, const char *ctype, const char *extra)
{
	struct api *p = r->prog;
	const char *phrase = decision_phrase(status);
	long len;
	int n;

	fflush(p->outf);
	len = ftell(p->outf);
	if (len < 0 || ferror(p->outf) || (size_t)len >= API_OUT_MAX) {
		static const char big[] = "Status: 500 Internal Server Error\r\n"
		    "Content-Type: application/json\r\nCache-Control: no-store\r\n\r\n"
		    "{\"error\":{\"code\":\"internal_error\",\"message\":\"The answer is too large.\"}}\n";
		clearerr(p->outf);
		emit(r, big, sizeof big - 1);
		r->answered = 1;
		return;
	}
	if (status == 200)
		r->outcome = V_ALLOW;
	else if (status == 201)
		r->outcome = decision_api_outcome(API_CREATED);
	n = snprintf(p->head, sizeof p->head, "Status: %d %s\r\n"
	    "Content-Type: %s\r\nCache-Control: no-store\r\n%s\r\n",
	    status, phrase ? phrase : "Unknown", ctype, extra ? extra : "");
	if (n > 0 && (size_t)n < sizeof p->head)
		emit(r, p->head, (size_t)n);
	emit(r, p->out, (size_t)len);
	r->answered = 1;
}

/* A JSON answer (the document written, then its newline). */
static void
send(struct req *r, int status, const char *extra)
{
	/* the writer ended the document with its newline (json.c) */
	send_as(r, status, "application/json", extra);
}

/* An error answer: the code's status, its code and a message (default: the code's). */
static void fail(struct req *r, enum api_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail(struct req *r, enum api_error e, const char *fmt, ...)
{
	const struct decision_info *d = decision_api_info(e);
	char msg[700];
	va_list ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
	}
	out_begin(r);
	json_obj_begin(&r->j);
	json_key(&r->j, "error");
	json_obj_begin(&r->j);
	json_kv_str(&r->j, "code", d->code, 0);
	json_kv_str(&r->j, "message", fmt ? msg : d->message, 0);
	json_obj_end(&r->j);
	json_obj_end(&r->j);
	send(r, d->status, NULL);
	r->outcome = decision_api_outcome(e);
}

/* A catalog failure as keygate-api's answer. */
static void
fail_cat(struct req *r)
{
	const struct cat_error *e = cat_error(r->cat);
	static const enum api_error map[] = {
		[CAT_OK] = API_INTERNAL, [CAT_INVALID] = API_INVALID_REQUEST,
		[CAT_NOTFOUND] = API_NOT_FOUND, [CAT_CONFLICT] = API_CONFLICT,
		[CAT_LIMIT] = API_KEY_LIMIT, [CAT_FORBIDDEN] = API_INSUFFICIENT_SCOPE,
		[CAT_BUSY] = API_UNAVAILABLE, [CAT_STORE] = API_UNAVAILABLE,
	};
	enum api_error ae = (unsigned)e->rc < sizeof map / sizeof map[0] ? map[e->rc] : API_INTERNAL;

	if (ae == API_UNAVAILABLE)
		log_warnx("%s", e->msg); /* the details stay in the log */
	if (ae == API_NOT_FOUND || ae == API_UNAVAILABLE || ae == API_INTERNAL)
		fail(r, ae, NULL);
	else
		fail(r, ae, "%s", e->msg);
}

/* The authorizer's own answer to a caller whose key did not pass. */
static void
fail_auth(struct req *r)
{
	struct api *p = r->prog;
	int n = decision_render(&r->auth, r->env->realm, p->deny, sizeof p->deny);

	if (n < 0) {
		fail(r, API_INTERNAL, NULL);
		return;
	}
	emit(r, p->deny, (size_t)n);
	r->answered = 1;
	r->outcome = (int)decision_answered(&r->auth, p->deny, n);
}

/* ---- input ---- */

static const char *
query(const struct req *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nq; i++)
		if (strcmp(r->q[i].name, name) == 0)
			return r->q[i].value;
	return NULL;
}

/* Refuses query parameters the route does not take: 0, or answered. */
static int
query_only(struct req *r, const char *const allowed[])
{
	size_t i, k;

	for (i = 0; i < r->nq; i++) {
		for (k = 0; allowed != NULL && allowed[k] != NULL; k++)
			if (strcmp(r->q[i].name, allowed[k]) == 0)
				break;
		if (allowed == NULL || allowed[k] == NULL) {
			fail(r, API_INVALID_REQUEST, "unknown query parameter '%s'", r->q[i].name);
			return -1;
		}
	}
	return 0;
}

/* The body as an object holding only these members: 0, or answered. */
static int
body_only(struct req *r, const char *const allowed[], int required)
{
	static const char *const none[] = {NULL};
	const struct jp_value *bad;
	char shown[JP_NAME_BUF];

	if (allowed == NULL)
		allowed = none; /* a route that takes no body: {} at most */
	if (r->doc == NULL) {
		if (!required)
			return 0;
		fail(r, API_INVALID_REQUEST, "a JSON object body is required");
		return -1;
	}
	if (r->doc->type != JP_OBJECT) {
		fail(r, API_INVALID_REQUEST, "the body must be a JSON object, not %s",
		    jp_type_name(r->doc->type));
		return -1;
	}
	if (jp_object_only(r->doc, allowed, &bad) != 0) {
		fail(r, API_INVALID_REQUEST, "unknown field \"%s\"", jp_name_show(bad->name, shown));
		return -1;
	}
	return 0;
}

/* A string member (NULL when absent or null): 0, or answered. */
static int
member_str(struct req *r, const char *name, const char **out)
{
	const struct jp_value *v = jp_get(r->doc, name);

	*out = NULL;
	if (v == NULL || v->type == JP_NULL)
		return 0;
	if (v->type != JP_STRING) {
		fail(r, API_INVALID_REQUEST, "%s: a string, not %s", name, jp_type_name(v->type));
		return -1;
	}
	*out = v->str;
	return 0;
}

static int
member_bool(struct req *r, const char *name, int *out, int dflt)
{
	const struct jp_value *v = jp_get(r->doc, name);

	*out = dflt;
	if (v == NULL || v->type == JP_NULL)
		return 0;
	if (v->type != JP_TRUE && v->type != JP_FALSE) {
		fail(r, API_INVALID_REQUEST, "%s: true or false, not %s", name, jp_type_name(v->type));
		return -1;
	}
	*out = v->type == JP_TRUE;
	return 0;
}

/* An array of strings (n <= max): 0, or answered. */
static int
member_strings(struct req *r, const char *name, const char **out, size_t max, size_t *n)
{
	const struct jp_value *v = jp_get(r->doc, name), *e;

	*n = 0;
	if (v == NULL || v->type == JP_NULL)
		return 0;
	if (v->type != JP_ARRAY) {
		fail(r, API_INVALID_REQUEST, "%s: an array of strings, not %s", name,
		    jp_type_name(v->type));
		return -1;
	}
	for (e = v->child; e != NULL; e = e->next) {
		if (e->type != JP_STRING) {
			fail(r, API_INVALID_REQUEST, "%s: an array of strings", name);
			return -1;
		}
		if (*n == max) {
			fail(r, API_INVALID_REQUEST, "%s: at most %zu", name, max);
			return -1;
		}
		out[(*n)++] = e->str;
	}
	return 0;
}

/* ---- routing ---- */

enum { M_GET = 1, M_POST = 2, M_PUT = 4, M_PATCH = 8, M_DELETE = 16 };

static unsigned
method_bit(const char *m)
{
	if (m == NULL)
		return 0;
	if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
		return M_GET;
	if (strcmp(m, "POST") == 0)
		return M_POST;
	if (strcmp(m, "PUT") == 0)
		return M_PUT;
	if (strcmp(m, "PATCH") == 0)
		return M_PATCH;
	if (strcmp(m, "DELETE") == 0)
		return M_DELETE;
	return 0;
}

typedef void (*handler_fn)(struct req *r);

struct route {
	const char *pattern;   /* segments after /v1; "*" is an id */
	unsigned method;
	uint32_t scope;        /* 0: any valid key; NEEDS_NONE: no key */
	handler_fn fn;
	int no_catalog;        /* reads only the decision: no catalog session */
};

#define NEEDS_NONE UINT32_MAX

static void h_self(struct req *r);
static void h_verify(struct req *r);
static void h_keys_list(struct req *r);
static void h_keys_create(struct req *r);
static void h_key_show(struct req *r);
static void h_key_revoke(struct req *r);
static void h_key_rotate(struct req *r);
static void h_key_secret(struct req *r);
static void h_usage(struct req *r);
static void h_orgs_list(struct req *r);
static void h_orgs_create(struct req *r);
static void h_org_show(struct req *r);
static void h_org_change(struct req *r);
static void h_org_credits(struct req *r);
static void h_plans_list(struct req *r);
static void h_plan_put(struct req *r);
static void h_plan_show(struct req *r);
static void h_plan_delete(struct req *r);
static void h_audit(struct req *r);
static void h_health(struct req *r);

static const struct route routes[] = {
	{"self", M_GET | M_POST, 0, h_self, 0},
	/* what services call per request: a session is a calloc and a wipe of 23 KiB */
	{"verify", M_POST, SCOPE_VERIFY, h_verify, 1},
	{"keys", M_GET, SCOPE_KEYS_READ, h_keys_list, 0},
	{"keys", M_POST, SCOPE_KEYS_WRITE, h_keys_create, 0},
	{"keys/*", M_GET, SCOPE_KEYS_READ, h_key_show, 0},
	{"keys/*", M_DELETE, SCOPE_KEYS_WRITE, h_key_revoke, 0},
	{"keys/*/rotate", M_POST, SCOPE_KEYS_WRITE, h_key_rotate, 0},
	{"keys/*/secret", M_GET, SCOPE_KEYS_REVEAL, h_key_secret, 0},
	{"usage", M_GET, SCOPE_KEYS_READ, h_usage, 0},
	{"orgs", M_GET, SCOPE_ADMIN, h_orgs_list, 0},
	{"orgs", M_POST, SCOPE_ADMIN, h_orgs_create, 0},
	{"orgs/*", M_GET, SCOPE_ADMIN, h_org_show, 0},
	{"orgs/*", M_PATCH, SCOPE_ADMIN, h_org_change, 0},
	{"orgs/*/credits", M_POST, SCOPE_ADMIN, h_org_credits, 0},
	{"plans", M_GET, SCOPE_ADMIN, h_plans_list, 0},
	{"plans/*", M_PUT, SCOPE_ADMIN, h_plan_put, 0},
	{"plans/*", M_GET, SCOPE_ADMIN, h_plan_show, 0},
	{"plans/*", M_DELETE, SCOPE_ADMIN, h_plan_delete, 0},
	{"audit", M_GET, SCOPE_ADMIN, h_audit, 0},
	{"health", M_GET, NEEDS_NONE, h_health, 0},
};

/* Whether the request's segments match a pattern. */
static int
matches(const struct req *r, const char *pattern)
{
	char buf[64], *save = NULL, *tok;
	size_t i = 0;

	snprintf(buf, sizeof buf, "%s", pattern);
	for (tok = strtok_r(buf, "/", &save); tok != NULL; tok = strtok_r(NULL, "/", &save)) {
		if (i >= r->nseg)
			return 0;
		if (strcmp(tok, "*") != 0 && strcmp(tok, r->seg[i]) != 0)
			return 0;
		i++;
	}
	return i == r->nseg;
}

/* The route for the request; NULL with *allow (405) or 0 (404). */
static const struct route *
route(const struct req *r, unsigned *allow)
{
	unsigned m = method_bit(r->method);
	size_t i;

	*allow = 0;
	for (i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		if (!matches(r, routes[i].pattern))
			continue;
		if (routes[i].method & m)
			return &routes[i];
		*allow |= routes[i].method;
	}
	return NULL;
}

static void
allow_header(unsigned allow, char *buf, size_t n)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{M_GET, "GET, HEAD"}, {M_POST, "POST"}, {M_PUT, "PUT"},
		{M_PATCH, "PATCH"}, {M_DELETE, "DELETE"},
	};
	size_t i, o;

	o = (size_t)snprintf(buf, n, "Allow: ");
	for (i = 0; i < sizeof names / sizeof names[0] && o < n; i++)
		if (allow & names[i].bit)
			o += (size_t)snprintf(buf + o, n - o, "%s%s", o > 7 ? ", " : "", names[i].name);
	if (o < n)
		snprintf(buf + o, n - o, "\r\n");
}

/* A path segment of ours: an id, a plan name, a word. */
static int
segment_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > ID_MAX)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

/* Percent-decodes a query value; -1 on a bad escape or one that does not fit. */
static int
qdecode(const char *s, size_t len, char *out, size_t cap)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;

			if (len - i < 3 || (hi = parse_hexdigit(s[i + 1])) < 0 ||
			    (lo = parse_hexdigit(s[i + 2])) < 0)
				return -1;
			c = hi << 4 | lo;
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (c == 0 || o + 1 >= cap)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/* Splits REQUEST_URI (after the prefix) into segments and query: 0, or answered. */
static int
parse_target(struct req *r, const char *uri)
{
	struct api *p = r->prog;
	const char *rest, *qs, *s;
	size_t plen;
	char *save = NULL, *tok;

	if (uri != NULL)
		uri = uri_path_start(uri);
	if (uri == NULL || strncmp(uri, p->prefix, p->prefix_len) != 0 ||
	    (uri[p->prefix_len] != '/' && uri[p->prefix_len] != '\0' && uri[p->prefix_len] != '?')) {
		fail(r, API_NOT_FOUND, NULL);
		return -1;
	}
	rest = uri + p->prefix_len;
	qs = strchr(rest, '?');
	plen = qs ? (size_t)(qs - rest) : strlen(rest);
	if (plen > API_PATH_MAX) {
		fail(r, API_NOT_FOUND, NULL);
		return -1;
	}
	memcpy(r->path, rest, plen);
	r->path[plen] = '\0';
	/* one spelling a route: no empty segment, no trailing slash */
	if (strstr(r->path, "//") != NULL || (plen > 0 && r->path[plen - 1] == '/')) {
		fail(r, API_NOT_FOUND, NULL);
		return -1;
	}
	memcpy(r->segbuf, r->path, plen + 1);
	r->is_metrics = strcmp(r->path, "/metrics") == 0;
	tok = strtok_r(r->segbuf, "/", &save);
	if (!r->is_metrics && (tok == NULL || strcmp(tok, "v1") != 0)) {
		fail(r, API_NOT_FOUND, NULL);
		return -1;
	}
	for (r->nseg = 0; !r->is_metrics && (tok = strtok_r(NULL, "/", &save)) != NULL; ) {
		if (r->nseg == sizeof r->seg / sizeof r->seg[0] || !segment_ok(tok)) {
			fail(r, API_NOT_FOUND, NULL);
			return -1;
		}
		r->seg[r->nseg++] = tok;
	}
	for (s = qs ? qs + 1 : NULL; s != NULL && *s != '\0'; ) {
		const char *end = strchr(s, '&'), *eq;
		size_t len = end ? (size_t)(end - s) : strlen(s);
		static const char *const known[] = {
			"org", "state", "limit", "cursor", "from", "to", "key", "since", NULL,
		};
		size_t k;

		eq = memchr(s, '=', len);
		if (len > 0) {
			if (r->nq == API_QUERY_MAX) {
				fail(r, API_INVALID_REQUEST, "too many query parameters");
				return -1;
			}
			for (k = 0; known[k] != NULL; k++)
				if (eq != NULL && strlen(known[k]) == (size_t)(eq - s) &&
				    strncmp(known[k], s, (size_t)(eq - s)) == 0)
					break;
			if (known[k] == NULL) {
				fail(r, API_INVALID_REQUEST, "unknown query parameter");
				return -1;
			}
			if (query(r, known[k]) != NULL) {
				fail(r, API_INVALID_REQUEST, "query parameter '%s' given twice", known[k]);
				return -1;
			}
			r->q[r->nq].name = known[k];
			if (qdecode(eq + 1, len - (size_t)(eq + 1 - s), r->q[r->nq].value,
			    sizeof r->q[r->nq].value) != 0) {
				fail(r, API_INVALID_REQUEST, "query parameter '%s': a bad escape or too long",
				    known[k]);
				return -1;
			}
			r->nq++;
		}
		s = end ? end + 1 : NULL;
	}
	return 0;
}

/* Parses the body the front-end read: 0, or answered. */
/* "application/json", in any case, alone or with parameters ("; charset=utf-8"). */
static int
json_media_type(const char *ctype)
{
	return strncasecmp(ctype, "application/json", 16) == 0 &&
	    (ctype[16] == '\0' || ctype[16] == ';' || ctype[16] == ' ' || ctype[16] == '\t');
}

static int
parse_body(struct req *r, enum api_body state, const char *ctype)
{
	struct jp_error e;

	r->doc = NULL;
	if (state == API_BODY_TOO_LARGE) {
		fail(r, API_TOO_LARGE, NULL);
		return -1;
	}
	if (state == API_BODY_SHORT) {
		fail(r, API_INVALID_REQUEST, "the body did not arrive whole, or is not as long as its Content-Length");
		return -1;
	}
	if (r->body_len == 0)
		return 0;
	if (ctype != NULL && ctype[0] != '\0' && !json_media_type(ctype)) {
		fail(r, API_INVALID_REQUEST, "Content-Type: the body must be application/json");
		return -1;
	}
	if ((r->doc = jp_parse(r->prog->arena, r->body, r->body_len, &e)) == NULL) {
		fail(r, API_INVALID_REQUEST, "the body is not valid JSON: %s", e.msg);
		return -1;
	}
	return 0;
}

/* ---- the caller ---- */

/* Checks the caller's key as the authorizer would (API mode): 0, or answered. */
static int
authenticate(struct req *r, const struct params *p)
{
	struct authz_req q;
	char uri[PARAMS_URI_MAX];

	params_request(p, ROLE_RESPONDER, 0, uri, &q);
	q.api = 1;
	authz_decide(r->env->az, &q, r->now_ns, &r->auth);
	if (r->auth.verdict == V_UNAVAILABLE && store_broken(r->env->kg->store) &&
	    r->env->reopen != NULL && r->env->reopen(r->env->reopen_arg))
		authz_decide(r->env->az, &q, kg_now_ns(), &r->auth);
	if (r->auth.verdict != V_ALLOW) {
		fail_auth(r);
		return -1;
	}
	snprintf(r->caller_id, sizeof r->caller_id, "%s", r->auth.key_id);
	snprintf(r->caller_org, sizeof r->caller_org, "%s", r->auth.org);
	/* the record the decision read: scopes come with it (never from the index) */
	r->scopes = cat_key_scopes(&r->env->az->key);
	r->admin = cat_scopes_allow(r->scopes, SCOPE_ADMIN);
	return 0;
}

static int
open_catalog(struct req *r)
{
	struct cat_actor a;
	char name[KEYID_LEN + 8];

	snprintf(name, sizeof name, "key:%s", r->caller_id);
	memset(&a, 0, sizeof a);
	a.name = name;
	a.remote = r->remote;
	a.scopes = r->scopes;
	a.org = r->admin ? NULL : r->caller_org;
	if ((r->cat = cat_open(r->env->kg, &a, NULL)) == NULL) {
		fail(r, API_UNAVAILABLE, NULL);
		return -1;
	}
	return 0;
}

/*
 * The organization a request is about: ?org= or the body's "org" for an
 * admin, else the caller's own.  Another organization named by a key that
 * is not admin is not found (it must never learn that it exists).
 */
static int
target_org(struct req *r, const char *given, const char **org)
{
	if (given == NULL || given[0] == '\0') {
		*org = r->admin ? NULL : r->caller_org;
		return 0;
	}
	if (!r->admin && strcmp(given, r->caller_org) != 0) {
		fail(r, API_NOT_FOUND, NULL);
		return -1;
	}
	*org = given;
	return 0;
}

/* ---- handlers: self and verify ---- */

static void
limits_rate(struct json *j, const struct authz_res *a)
{
	json_key(j, "rate");
	if (!a->has_rate) {
		json_null(j);
		return;
	}
	json_obj_begin(j);
	json_kv_int(j, "limit", a->rate.limit);
	json_key(j, "remaining");
	json_uint(j, a->rate.remaining);
	json_kv_int(j, "reset", a->rate.reset_s);
	json_obj_end(j);
}

/* quota (limit, used, remaining, period, resets_at) or credits, from the counters. */
static void
limits_quota(struct req *r, const char *org, const struct org_rec *o,
    const struct plan_rec *p)
{
	struct json *j = &r->j;
	enum quota_period kind = p->quota.period;
	uint32_t pid;
	uint64_t used;
	int64_t now = (int64_t)(r->now_ns / NS_PER_S);

	json_key(j, "quota");
	if (kind != QUOTA_DAY && kind != QUOTA_MONTH) {
		json_null(j);
	} else {
		char label[16];
		int64_t y, start;
		unsigned m, d;

		used = cat_org_used(r->cat, org, kind, now, &pid);
		start = policy_period_start(pid);
		civil_from_days(start / 86400, &y, &m, &d);
		if (kind == QUOTA_DAY)
			snprintf(label, sizeof label, "%04lld-%02u-%02u", (long long)y, m, d);
		else
			snprintf(label, sizeof label, "%04lld-%02u", (long long)y, m);
		json_obj_begin(j);
		json_key(j, "limit");
		json_uint(j, p->quota.count);
		json_key(j, "used");
		json_uint(j, used);
		json_key(j, "remaining");
		json_uint(j, p->quota.count > used ? p->quota.count - used : 0);
		json_kv_str(j, "period", label, 0);
		json_kv_time(j, "resets_at", policy_period_next(kind, now));
		json_obj_end(j);
	}
	json_key(j, "credits");
	if (kind != QUOTA_CREDITS) {
		json_null(j);
	} else {
		json_obj_begin(j);
		json_key(j, "granted");
		json_uint(j, o->credits + p->quota.count);
		json_key(j, "used");
		json_uint(j, cat_org_used(r->cat, org, QUOTA_CREDITS, now, NULL));
		json_kv_int(j, "balance", cat_org_balance(r->cat, org, o, p));
		json_obj_end(j);
	}
}

static void
h_self(struct req *r)
{
	struct cat_key k;
	struct cat_org o;
	struct cat_plan p;

	if (query_only(r, NULL) != 0 || body_only(r, NULL, 0) != 0)
		return;
	if (r->doc != NULL && r->doc->child != NULL) {
		fail(r, API_INVALID_REQUEST, "the body must be empty or {}");
		return;
	}
	if (cat_get_key(r->cat, r->caller_id, &k) != CAT_OK ||
	    cat_get_org(r->cat, r->caller_org, &o) != CAT_OK ||
	    cat_get_plan(r->cat, o.o.plan, &p) != CAT_OK) {
		fail_cat(r);
		return;
	}
	out_begin(r);
	json_obj_begin(&r->j);
	json_key(&r->j, "key");
	apiobj_key(&r->j, &k.k, k.last_used_at);
	json_key(&r->j, "org");
	apiobj_org(&r->j, o.id, &o.o);
	json_key(&r->j, "limits");
	json_obj_begin(&r->j);
	limits_rate(&r->j, &r->auth);
	limits_quota(r, o.id, &o.o, &p.p);
	json_obj_end(&r->j);
	json_obj_end(&r->j);
	send(r, 200, NULL);
}

/*
 * The authorizer's decision on another key, for services that are not
 * behind a web server: consume:true counts it exactly as an authorizer
 * request would.  Always 200 when the call itself is right.
 */
static void
h_verify(struct req *r)
{
	static const char *const fields[] = {"key", "method", "path", "host", "consume", NULL};
	const char *key, *method, *path, *host;
	const char *copies[1];
	struct authz_req q;
	struct authz_res res;
	const struct decision_info *d;
	int consume;

	if (query_only(r, NULL) != 0 || body_only(r, fields, 1) != 0 ||
	    member_str(r, "key", &key) != 0 || member_str(r, "method", &method) != 0 ||
	    member_str(r, "path", &path) != 0 || member_str(r, "host", &host) != 0 ||
	    member_bool(r, "consume", &consume, 0) != 0)
		return;
	if (key == NULL) {
		fail(r, API_INVALID_REQUEST, "key: required");
		return;
	}
	if (method != NULL && (method[0] == '\0' || strlen(method) > 16)) {
		fail(r, API_INVALID_REQUEST, "method: 1 to 16 characters");
		return;
	}
	if (path != NULL && path[0] != '/') {
		fail(r, API_INVALID_REQUEST, "path: must start with /");
		return;
	}
	memset(&q, 0, sizeof q);
	q.role = ROLE_AUTHORIZER;
	copies[0] = key;
	q.x_api_key = copies;
	q.nx_api_key = 1;
	q.method = method ? method : "GET";
	q.uri = path ? path : "/";
	q.host = host;
	q.remote = r->remote;
	q.subrequest = !consume; /* answered, never counted */
	authz_decide(r->env->az, &q, r->now_ns, &res);
	d = decision_info(res.verdict);
	out_begin(r);
	json_obj_begin(&r->j);
	json_key(&r->j, "valid");
	json_bool(&r->j, res.verdict == V_ALLOW);
	json_kv_int(&r->j, "status", d->status);
	json_kv_str(&r->j, "code", d->code ? d->code : "ok", 0);
	json_key(&r->j, "key");
	if (res.key_id == NULL) {
		json_null(&r->j);
	} else {
		json_obj_begin(&r->j);
		json_kv_str(&r->j, "id", res.key_id, 0);
		json_kv_str(&r->j, "display", res.display, 1);
		json_kv_str(&r->j, "mode", res.mode == MODE_TEST ? "test" : "live", 0);
		json_kv_str(&r->j, "user", res.user, 1);
		json_obj_end(&r->j);
	}
	json_key(&r->j, "org");
	if (res.org == NULL) {
		json_null(&r->j);
	} else {
		json_obj_begin(&r->j);
		json_kv_str(&r->j, "id", res.org, 0);
		json_kv_str(&r->j, "plan", res.plan, 0);
		json_obj_end(&r->j);
	}
	json_key(&r->j, "limits");
	json_obj_begin(&r->j);
	limits_rate(&r->j, &res);
	json_key(&r->j, "quota");
	if (!res.has_quota) {
		json_null(&r->j);
	} else {
		json_obj_begin(&r->j);
		json_key(&r->j, "limit");
		json_uint(&r->j, res.quota.limit);
		json_key(&r->j, "used");
		json_uint(&r->j, res.quota.used);
		json_key(&r->j, "remaining");
		json_uint(&r->j, res.quota.remaining);
		json_kv_time(&r->j, "resets_at", res.quota.reset_at);
		json_obj_end(&r->j);
	}
	json_obj_end(&r->j);
	json_obj_end(&r->j);
	send(r, 200, NULL);
}

/* ---- handlers: keys ---- */

struct key_page {
	struct req *r;
	size_t n;
};

static int
key_row(const struct cat_key *k, void *ctx)
{
	struct key_page *pg = ctx;

	if (k == NULL)
		return 0; /* a damaged record: db check reports it */
	apiobj_key(&pg->r->j, &k->k, k->last_used_at);
	pg->n++;
	return 0;
}

static int
page_limit(struct req *r, size_t *limit)
{
	const char *v = query(r, "limit"), *why;
	uint64_t n;

	*limit = API_PAGE_DEFAULT;
	if (v == NULL)
		return 0;
	if (parse_u64(v, 1, CAT_LIST_LIMIT_MAX, &n, &why) != 0) {
		fail(r, API_INVALID_REQUEST, "limit: %s (1 to %u)", why, CAT_LIST_LIMIT_MAX);
		return -1;
	}
	*limit = (size_t)n;
	return 0;
}

static void
h_keys_list(struct req *r)
{
	static const char *const params[] = {"org", "state", "limit", "cursor", NULL};
	const char *org, *state = query(r, "state");
	char next[CAT_CURSOR_MAX];
	unsigned states = CAT_LIST_ACTIVE;
	struct key_page pg = {r, 0};
	size_t limit;
	int rc;

	if (query_only(r, params) != 0 || body_only(r, NULL, 0) != 0 ||
	    page_limit(r, &limit) != 0 || target_org(r, query(r, "org"), &org) != 0)
		return;
	if (state != NULL) {
		if (strcmp(state, "active") == 0)
			states = CAT_LIST_ACTIVE;
		else if (strcmp(state, "revoked") == 0)
			states = CAT_LIST_REVOKED;
		else if (strcmp(state, "expired") == 0)
			states = CAT_LIST_EXPIRED;
		else if (strcmp(state, "all") == 0)
			states = CAT_LIST_ALL;
		else {
			fail(r, API_INVALID_REQUEST, "state: active, revoked, expired or all");
			return;
		}
	}
	out_begin(r);
	json_obj_begin(&r->j);
	json_key(&r->j, "keys");
	json_arr_begin(&r->j);
	rc = cat_list_keys(r->cat, org, states, query(r, "cursor"), limit, key_row, &pg, next);
	if (rc != CAT_OK) {
		fail_cat(r);
		return;
	}
	json_arr_end(&r->j);
	json_kv_str(&r->j, "next_cursor", next, 1);
	json_obj_end(&r->j);
	send(r, 200, NULL);
}

/* Rules from the body's allow and deny arrays, allow first: 0, or answered. */
static int
body_rules(struct req *r, struct rule *rules, struct rule_view *views, size_t *n)
{
	const char *allow[RULES_MAX], *deny[RULES_MAX];
	size_t na, nd, i;
	const char *why;

	if (member_strings(r, "allow", allow, RULES_MAX, &na) != 0 ||
	    member_strings(r, "deny", deny, RULES_MAX, &nd) != 0)
		return -1;
	if (na + nd > RULES_MAX) {
		fail(r, API_INVALID_REQUEST, "allow, deny: at most %d rules", RULES_MAX);
		return -1;
	}
	*n = 0;
	for (i = 0; i < na + nd; i++) {
		const char *spec = i < na ? allow[i] : deny[i - na];

		if (rule_parse(i < na ? RULE_ALLOW : RULE_DENY, spec, &rules[*n], &why) != 0) {
			fail(r, API_INVALID_REQUEST, "%s: rule %zu: %s", i < na ? "allow" : "deny",
			    (i < na ? i : i - na) + 1, why);
			return -1;
		}
		record_rule_view(&rules[*n], &views[*n]);
		(*n)++;
	}
	return 0;
}

/* A new key's secret and object, this once (201). */
static void
answer_new_key(struct req *r, struct cat_new_key *nk, const char *replaces)
{
	struct cat_key k;

	if (cat_get_key(r->cat, nk->id, &k) != CAT_OK) {
		cat_new_key_wipe(nk);
		fail_cat(r);
		return;
	}
	out_begin(r);
	json_obj_begin(&r->j);
	json_kv_str(&r->j, "key", nk->key, 0);
	json_key(&r->j, "object");
	apiobj_key(&r->j, &k.k, 0);
	if (replaces != NULL)
		json_kv_str(&r->j, "replaces", replaces, 0);
	json_obj_end(&r->j);
	send(r, 201, NULL);
	/* the answer buffer held the secret too */
	OPENSSL_cleanse(r->prog->out, API_OUT_MAX);
	rewind(r->prog->outf);
	cat_new_key_wipe(nk);
}

static void
h_keys_create(struct req *r)
{
	static const char *const fields[] = {
		"org", "name", "user", "mode", "expires", "rate", "allow", "deny", "scopes", NULL,
	};
	struct rule rules[RULES_MAX];
	struct rule_view views[RULES_MAX];
	const char *org_given, *mode, *expires, *rate, *scopes[16], *why;
	struct cat_key_spec spec;
	struct cat_new_key nk;
	size_t nscopes, i;

	memset(&spec, 0, sizeof spec);
	if (query_only(r, NULL) != 0 || body_only(r, fields, 1) != 0 ||
	    member_str(r, "org", &org_given) != 0 || member_str(r, "name", &spec.name) != 0 ||
	    member_str(r, "user", &spec.user) != 0 || member_str(r, "mode", &mode) != 0 ||
	    member_str(r, "expires", &expires) != 0 || member_str(r, "rate", &rate) != 0 ||
	    member_strings(r, "scopes", scopes, 16, &nscopes) != 0 ||
	    body_rules(r, rules, views, &spec.nrules) != 0)
		return;
	if (org_given == NULL && r->admin) {
		fail(r, API_INVALID_REQUEST, "org: required for an admin key");
		return;
	}
	if (target_org(r, org_given, &spec.org) != 0)
		return;
	if (mode != NULL && strcmp(mode, "live") != 0 && strcmp(mode, "test") != 0) {
		fail(r, API_INVALID_REQUEST, "mode: live or test");
		return;
	}
	spec.test = mode != NULL && strcmp(mode, "test") == 0;
	if (expires != NULL) {
		if (parse_when(expires, kg_now(), &spec.expires_at, &why) != 0) {
			fail(r, API_INVALID_REQUEST, "expires: %s", why);
			return;
		}
		spec.set_expires = 1;
	}
	if (rate != NULL && parse_rate(rate, &spec.rate, &why) != 0) {
		fail(r, API_INVALID_REQUEST, "rate: %s", why);
		return;
	}
	for (i = 0; i < nscopes; i++) {
		uint32_t bit = cat_scope_bit(scopes[i]);

		if (bit == 0) {
			fail(r, API_INVALID_REQUEST, "scopes: unknown scope (keys:read, keys:write, "
			    "keys:reveal, verify, admin)");
			return;
		}
		spec.scopes |= bit;
	}
	spec.rules = views;
	if (cat_key_create(r->cat, &spec, &nk) != CAT_OK) {
		fail_cat(r);
		return;
	}
	answer_new_key(r, &nk, NULL);
}

static void
h_key_show(struct req *r)
{
	struct cat_key k;

	if (query_only(r, NULL) != 0 || body_only(r, NULL, 0) != 0)
		return;
	if (cat_get_key(r->cat, r->seg[1], &k) != CAT_OK) {
		fail_cat(r);
		return;
	}
	out_begin(r);
	apiobj_key(&r->j, &k.k, k.last_used_at);
	send(r, 200, NULL);
}

static void
h_key_revoke(struct req *r)
{
	struct cat_key k;

	if (query_only(r, NULL) != 0 || body_only(r, NULL, 0) != 0)
		return;
	if (cat_key_revoke(r->cat, r->seg[1], NULL) != CAT_OK ||
	    cat_get_key(r->cat, r->seg[1], &k) != CAT_OK) {
		fail_cat(r);
		return;
	}
	out_begin(r);
	apiobj_key(&r->j, &k.k, k.last_used_at);
	send(r, 200, NULL);
}

static void
h_key_rotate(struct req *r)
{
	static const char *const fields[] = {"grace", "expires", NULL};
	const char *grace, *expires, *why;
	struct cat_rotate_spec spec;
	struct cat_new_key nk;

	memset(&spec, 0, sizeof spec);
	grace = expires = NULL;
	if (query_only(r, NULL) != 0 || body_only(r, fields, 0) != 0 ||
	    (r->doc != NULL && (member_str(r, "grace", &grace) != 0 ||
	    member_str(r, "expires", &expires) != 0)))
		return;
	spec.id = r->seg[1];
	spec.grace = CAT_GRACE_DEFAULT;
	if (grace != NULL && strcmp(grace, "0") != 0 &&
	    parse_duration(grace, &spec.grace, &why) != 0) {
		fail(r, API_INVALID_REQUEST, "grace: %s", why);
		return;
	}
	if (grace != NULL && strcmp(grace, "0") == 0)
		spec.grace = 0;
	if (expires != NULL) {
		if (parse_when(expires, kg_now(), &spec.expires_at, &why) != 0) {
			fail(r, API_INVALID_REQUEST, "expires: %s", why);
			return;
		}
		spec.set_expires = 1;
	}
	if (cat_key_rotate(r->cat, &spec, &nk) != CAT_OK) {
		fail_cat(r);
		return;
	}
	answer_new_key(r, &nk, nk.replaces);
}

/* The secret of a key, from a store with a vault; audited as key.reveal. */
static void
h_key_secret(struct req *r)
{
	char key[APIKEY_BUF];

	if (query_only(r, NULL) != 0 || body_only(r, NULL, 0) != 0)
		return;
	if (cat_key_reveal(r->cat, r->seg[1], key, sizeof key) != CAT_OK) {
		fail_cat(r);
		return;
	}
	out_begin(r);
	json_obj_begin(&r->j);
	json_kv_str(&r->j, "key", key, 0);
	json_obj_end(&r->j);
	OPENSSL_cleanse(key, sizeof key);
	send(r, 200, NULL);
	/* the answer buffer held the secret too */
	OPENSSL_cleanse(r->prog->out, API_OUT_MAX);
	rewind(r->prog->outf);
}

/* ---- usage ---- */

static int
query_day(struct req *r, const char *name, int64_t *day)
{
	const char *v = query(r, name), *why;
	enum quota_period kind;
	int64_t start;

	if (parse_period(v, &kind, &start, &why) != 0 || kind != QUOTA_DAY) {
		fail(r, API_INVALID_REQUEST, "%s: a date YYYY-MM-DD", name);
		return -1;
	}
	*day = start / 86400;
	return 0;
}

static void
h_usage(struct req *r)
{
	static const char *const params[] = {"org", "from", "to", "key", NULL};
	const char *org, *key = query(r, "key");
	int64_t today = (int64_t)(r->now_ns / NS_PER_S) / 86400, from, to, day;
	struct history_rec h;
	struct cat_key k;
	struct cat_org o;
	struct cat_plan p;

	if (query_only(r, params) != 0 || body_only(r, NULL, 0) != 0 ||
	    target_org(r, query(r, "org"), &org) != 0)
		return;
	if (org == NULL && key == NULL) {
		fail(r, API_INVALID_REQUEST, "org: required for an admin key");
		return;
	}
	to = today;
	if (query(r, "to") != NULL && query_day(r, "to", &to) != 0)
		return;
	from = to - (API_USAGE_DAYS_DEFAULT - 1);
	if (query(r, "from") != NULL && query_day(r, "from", &from) != 0)
		return;
	if (to > today) {
		fail(r, API_INVALID_REQUEST, "to: in the future");
		return;
	}
	if (from > to) {
		fail(r, API_INVALID_REQUEST, "from: after to");
		return;
	}
	if (to - from >= HISTORY_KEEP_DAYS) {
		fail(r, API_INVALID_REQUEST, "from, to: at most %d days", HISTORY_KEEP_DAYS);
		return;
	}
	if (key != NULL) {
		if (cat_get_key(r->cat, key, &k) != CAT_OK) {
			fail_cat(r);
			return;
		}
		if (org != NULL && strcmp(org, k.k.org) != 0) {
			fail(r, API_NOT_FOUND, NULL);
			return;
		}
		org = k.k.org;
	}
	if (cat_get_org(r->cat, org, &o) != CAT_OK || cat_get_plan(r->cat, o.o.plan, &p) != CAT_OK) {
		fail_cat(r);
		return;
	}
	out_begin(r);
	json_obj_begin(&r->j);
	json_kv_str(&r->j, "org", org, 0);
	if (key != NULL)
		json_kv_str(&r->j, "key", k.k.id, 0);
	json_key(&r->j, "days");
	json_arr_begin(&r->j);
	for (day = from; day <= to; day++) {
		if (tally_read_day(r->env->kg->store, day, key ? TALLY_KEY : TALLY_ORG,
		    key ? k.k.id : org, &h) != ST_OK) {
			fail(r, API_UNAVAILABLE, NULL);
			return;
		}
		apiobj_day(&r->j, day, &h);
	}
	json_arr_end(&r->j);
	json_key(&r->j, "limits");
	json_obj_begin(&r->j);
	limits_quota(r, org, &o.o, &p.p);
	json_obj_end(&r->j);
	json_obj_end(&r->j);
	send(r, 200, NULL);
}

/* ---- handlers: organizations ---- */

/* A damaged record is left out of a listing (keygate db check names it). */
static int
org_row(const char *id, const struct org_rec *o, void *ctx)
{
	struct req *r = ctx;

	if (o != NULL)
		apiobj_org(&r->j, id, o);
	return 0;
}

static void
h_orgs_list(struct req *r)
{
	if (query_only(r, NULL) != 0 || body_only(r, NULL, 0) != 0)
		return;
	out_begin(r);
	json_obj_begin(&r->j);
	json_key(&r->j, "orgs");
	json_arr_begin(&r->j);
	if (cat_list_orgs(r->cat, org_row, r) != CAT_OK) {
		fail_cat(r);
		return;
	}
	json_arr_end(&r->j);
	json_obj_end(&r->j);
	send(r, 200, NULL);
}

static void
answer_org(struct req *r, const char *id, int status)
{
	struct cat_org o;

	if (cat_get_org(r->cat, id, &o) != CAT_OK) {
		fail_cat(r);
		return;
	}
	out_begin(r);
	apiobj_org(&r->j, o.id, &o.o);
	send(r, status, NULL);
}

static void
h_orgs_create(struct req *r)
{
	static const char *const fields[] = {"id", "plan", "name", NULL};
	const char *id, *plan, *name;

	if (query_only(r, NULL) != 0 || body_only(r, fields, 1) != 0 ||
	    member_str(r, "id", &id) != 0 || member_str(r, "plan", &plan) != 0 ||
	    member_str(r, "name", &name) != 0)
		return;
	if (id == NULL || plan == NULL) {
		fail(r, API_INVALID_REQUEST, "%s: required", id == NULL ? "id" : "plan");
		return;
	}
	if (cat_org_create(r->cat, id, plan, name) != CAT_OK) {
		fail_cat(r);
		return;
	}
	answer_org(r, id, 201);
}

static void
h_org_show(struct req *r)
{
	if (query_only(r, NULL) != 0 || body_only(r, NULL, 0) != 0)
		return;
	answer_org(r, r->seg[1], 200);
}

static void
h_org_change(struct req *r)
{
	static const char *const fields[] = {"plan", "name", "suspended", NULL};
	struct cat_org_change ch;
	int suspended;

	memset(&ch, 0, sizeof ch);
	if (query_only(r, NULL) != 0 || body_only(r, fields, 1) != 0 ||
	    member_str(r, "plan", &ch.plan) != 0 || member_str(r, "name", &ch.name) != 0 ||
	    member_bool(r, "suspended", &suspended, CAT_KEEP) != 0)
		return;
	ch.suspended = suspended;
	if (cat_org_change_empty(&ch)) {
		fail(r, API_INVALID_REQUEST, "nothing to change (plan, name, suspended)");
		return;
	}
	if (cat_org_set(r->cat, r->seg[1], &ch) != CAT_OK) {
		fail_cat(r);
		return;
	}
	answer_org(r, r->seg[1], 200);
}

static void
h_org_credits(struct req *r)
{
	static const char *const fields[] = {"amount", NULL};
	const struct jp_value *v;
	uint64_t granted;
	int64_t amount, balance;

	if (query_only(r, NULL) != 0 || body_only(r, fields, 1) != 0)
		return;
	if ((v = jp_get(r->doc, "amount")) == NULL || jp_int64(v, &amount) != JP_CONV_OK ||
	    amount == 0) {
		fail(r, API_INVALID_REQUEST, "amount: a non-zero integer");
		return;
	}
	if (cat_org_credit(r->cat, r->seg[1], amount, &granted, &balance) != CAT_OK) {
		fail_cat(r);
		return;
	}
	out_begin(r);
	json_obj_begin(&r->j);
	json_kv_str(&r->j, "org", r->seg[1], 0);
	json_key(&r->j, "granted");
	json_uint(&r->j, granted);
	json_kv_int(&r->j, "balance", balance);
	json_obj_end(&r->j);
	send(r, 200, NULL);
}

/* ---- handlers: plans ---- */

static int
plan_row(const struct plan_rec *p, void *ctx)
{
	struct req *r = ctx;

	if (p != NULL)
		apiobj_plan(&r->j, p);
	return 0;
}

static void
h_plans_list(struct req *r)
{
	if (query_only(r, NULL) != 0 || body_only(r, NULL, 0) != 0)
		return;
	out_begin(r);
	json_obj_begin(&r->j);
	json_key(&r->j, "plans");
	json_arr_begin(&r->j);
	if (cat_list_plans(r->cat, plan_row, r) != CAT_OK) {
		fail_cat(r);
		return;
	}
	json_arr_end(&r->j);
	json_obj_end(&r->j);
	send(r, 200, NULL);
}

static void
answer_plan(struct req *r, const char *name, int status)
{
	struct cat_plan p;

	if (cat_get_plan(r->cat, name, &p) != CAT_OK) {
		fail_cat(r);
		return;
	}
	out_begin(r);
	apiobj_plan(&r->j, &p.p);
	send(r, status, NULL);
}

static void
h_plan_put(struct req *r)
{
	static const char *const fields[] = {
		"rate", "quota", "max_keys", "overage", "allow", "deny", NULL,
	};
	struct rule rules[RULES_MAX];
	struct rule_view views[RULES_MAX];
	struct cat_plan_spec spec;
	const struct jp_value *v;
	const char *rate, *quota, *why;
	uint64_t n;
	int created;

	memset(&spec, 0, sizeof spec);
	spec.name = r->seg[1];
	if (query_only(r, NULL) != 0 || body_only(r, fields, 1) != 0 ||
	    member_str(r, "rate", &rate) != 0 || member_str(r, "quota", &quota) != 0 ||
	    body_rules(r, rules, views, &spec.nrules) != 0)
		return;
	if ((v = jp_get(r->doc, "rate")) != NULL) {
		spec.set_rate = 1;
		if (rate != NULL && parse_rate(rate, &spec.rate, &why) != 0) {
			fail(r, API_INVALID_REQUEST, "rate: %s", why);
			return;
		}
	}
	if ((v = jp_get(r->doc, "quota")) != NULL) {
		spec.set_quota = 1;
		if (quota != NULL && parse_quota(quota, &spec.quota, &why) != 0) {
			fail(r, API_INVALID_REQUEST, "quota: %s", why);
			return;
		}
	}
	if ((v = jp_get(r->doc, "max_keys")) != NULL) {
		spec.set_max_keys = 1;
		if (v->type != JP_NULL && (jp_uint64(v, &n) != JP_CONV_OK || n > CAT_MAX_KEYS_MAX)) {
			fail(r, API_INVALID_REQUEST, "max_keys: an integer from 0 to %u, or null",
			    CAT_MAX_KEYS_MAX);
			return;
		}
		spec.max_keys = v->type == JP_NULL ? 0 : (uint32_t)n;
	}
	if ((v = jp_get(r->doc, "overage")) != NULL) {
		spec.set_overage = 1;
		if (jp_uint64(v, &n) != JP_CONV_OK || n > CAT_OVERAGE_MAX) {
			fail(r, API_INVALID_REQUEST, "overage: an integer percent from 0 to %u",
			    CAT_OVERAGE_MAX);
			return;
		}
		spec.overage_pct = (uint32_t)n;
	}
	if (jp_get(r->doc, "allow") != NULL || jp_get(r->doc, "deny") != NULL) {
		spec.set_rules = 1;
		spec.rules = views;
	}
	if (cat_plan_set(r->cat, &spec, &created) != CAT_OK) {
		fail_cat(r);
		return;
	}
	answer_plan(r, spec.name, created ? 201 : 200);
}

static void
h_plan_show(struct req *r)
{
	if (query_only(r, NULL) != 0 || body_only(r, NULL, 0) != 0)
		return;
	answer_plan(r, r->seg[1], 200);
}

static void
h_plan_delete(struct req *r)
{
	if (query_only(r, NULL) != 0 || body_only(r, NULL, 0) != 0)
		return;
	if (cat_plan_delete(r->cat, r->seg[1]) != CAT_OK) {
		fail_cat(r);
		return;
	}
	out_begin(r);
	json_obj_begin(&r->j);
	json_kv_str(&r->j, "deleted", r->seg[1], 0);
	json_obj_end(&r->j);
	send(r, 200, NULL);
}

/* ---- audit and health ---- */

static int
audit_row(const struct cat_audit *a, void *ctx)
{
	struct req *r = ctx;

	if (a != NULL)
		audit_json(&r->j, a->at_ns, &a->r);
	return 0;
}

static void
h_audit(struct req *r)
{
	static const char *const params[] = {"org", "since", "limit", "cursor", NULL};
	char next[AUDIT_CURSOR_LEN + 1];
	int64_t since = 0;
	size_t limit;
	const char *why;

	if (query_only(r, params) != 0 || body_only(r, NULL, 0) != 0 || page_limit(r, &limit) != 0)
		return;
	if (query(r, "since") != NULL && parse_datetime(query(r, "since"), &since, &why) != 0) {
		fail(r, API_INVALID_REQUEST, "since: %s", why);
		return;
	}
	out_begin(r);
	json_obj_begin(&r->j);
	json_key(&r->j, "records");
	json_arr_begin(&r->j);
	if (cat_audit_list(r->cat, query(r, "org"), since, query(r, "cursor"), limit,
	    audit_row, r, next) != CAT_OK) {
		fail_cat(r);
		return;
	}
	json_arr_end(&r->j);
	json_kv_str(&r->j, "next_cursor", next, 1);
	json_obj_end(&r->j);
	send(r, 200, NULL);
}

static void
h_health(struct req *r)
{
	unsigned char buf[RECORD_MAX];
	struct meta_rec m;
	int ok;

	if (query_only(r, NULL) != 0)
		return;
	ok = !store_broken(r->env->kg->store) && r->env->kg->counters != NULL &&
	    kg_read_meta(r->env->kg, NULL, buf, sizeof buf, &m, 0) == ST_OK &&
	    !kg_replica_behind(r->env->kg);
	out_begin(r);
	json_obj_begin(&r->j);
	json_kv_str(&r->j, "status", ok ? "ok" : "unavailable", 0);
	json_kv_str(&r->j, "store", ok ? "ok" : "unavailable", 0);
	json_kv_str(&r->j, "role", kg_role_name(r->env->kg), 0);
	json_obj_end(&r->j);
	send(r, ok ? 200 : 503, NULL);
}

/* ---- metrics ---- */

/* 405, with Allow: the methods the path takes. */
static void
fail_method(struct req *r, unsigned allowed)
{
	const struct decision_info *d = decision_api_info(API_METHOD);
	char allow[96];

	allow_header(allowed, allow, sizeof allow);
	out_begin(r);
	json_obj_begin(&r->j);
	json_key(&r->j, "error");
	json_obj_begin(&r->j);
	json_kv_str(&r->j, "code", d->code, 0);
	json_kv_str(&r->j, "message", d->message, 0);
	json_obj_end(&r->j);
	json_obj_end(&r->j);
	send(r, d->status, allow);
	r->outcome = decision_api_outcome(API_METHOD);
}

/*
 * GET /metrics, beside /v1 (the Prometheus text format is a contract of
 * its own, not a version of this API): what every program of the store
 * counted (metrics.h), as `keygate metrics` prints it.  For a key with
 * scope admin; from an address that metrics-allow lists (keygate.conf),
 * without a key: no key is read then, so that a scraper holds no secret.
 */
static void
h_metrics(struct req *r, const struct params *p, enum api_body body_state, const char *ctype)
{
	const struct api_env *env = r->env;
	int n;

	if (method_bit(r->method) != M_GET) {
		fail_method(r, M_GET);
		return;
	}
	if (!netmask_list_match(env->metrics_allow, env->metrics_allow_n, r->remote)) {
		if (authenticate(r, p) != 0)
			return;
		if (!cat_scopes_allow(r->scopes, SCOPE_ADMIN)) {
			fail(r, API_INSUFFICIENT_SCOPE, NULL);
			return;
		}
	}
	if (parse_body(r, body_state, ctype) != 0 || query_only(r, NULL) != 0 ||
	    body_only(r, NULL, 0) != 0)
		return;
	n = env->metrics == NULL ? -1 :
	    env->metrics(env->metrics_arg, r->prog->metrics, sizeof r->prog->metrics);
	if (n < 0) {
		log_warnx("GET /metrics: the metrics file cannot be read");
		fail(r, API_UNAVAILABLE, NULL);
		return;
	}
	out_begin(r);
	fwrite(r->prog->metrics, 1, (size_t)n, r->prog->outf);
	send_as(r, 200, METRICS_CONTENT_TYPE, NULL);
}

/* ---- one request ---- */

int
api_handle(struct api *prog, const struct api_env *env, char **envp,
    const char *body, size_t body_len, enum api_body body_state, uint64_t now_ns)
{
	struct params p;
	struct req r;
	const struct route *rt;
	unsigned allowed;
	const char *ctype = NULL;
	char **e;

	memset(&r, 0, sizeof r);
	r.outcome = V_INTERNAL;
	r.env = env;
	r.prog = prog;
	r.now_ns = now_ns;
	r.body = body;
	r.body_len = body_len;
	params_read(envp, &p);
	r.method = p.method;
	r.remote = p.remote;
	for (e = envp; e != NULL && *e != NULL; e++)
		if (strncmp(*e, "CONTENT_TYPE=", 13) == 0)
			ctype = *e + 13;
	if (parse_target(&r, p.uri) != 0)
		goto out;
	if (r.is_metrics) {
		h_metrics(&r, &p, body_state, ctype);
		goto out;
	}
	if ((rt = route(&r, &allowed)) == NULL) {
		if (allowed == 0)
			fail(&r, API_NOT_FOUND, NULL);
		else
			fail_method(&r, allowed);
		goto out;
	}
	if (rt->scope != NEEDS_NONE && authenticate(&r, &p) != 0)
		goto out;
	if (parse_body(&r, body_state, ctype) != 0)
		goto out;
	if (rt->scope != NEEDS_NONE && rt->scope != 0 && !cat_scopes_allow(r.scopes, rt->scope)) {
		fail(&r, API_INSUFFICIENT_SCOPE, NULL);
		goto out;
	}
	if (rt->scope != NEEDS_NONE && !rt->no_catalog && open_catalog(&r) != 0)
		goto out;
	rt->fn(&r);
	if (!r.answered)
		fail(&r, API_INTERNAL, NULL);
out:
	if (r.cat != NULL) {
		char err[600];

		if (cat_close(r.cat, err, sizeof err) != 0)
			log_warnx("%s", err);
	}
	params_wipe(envp, &p, 0);
	return r.outcome;
}

struct api *
api_new(const char *prefix)
{
	struct api *a;

	if (!api_prefix_valid(prefix) || (a = calloc(1, sizeof *a)) == NULL)
		return NULL;
	strcpy(a->prefix, prefix);
	a->prefix_len = strlen(prefix);
	if ((a->arena = jp_arena_new(JP_INPUT_MAX, JP_VALUES_MAX)) == NULL ||
	    (a->out = malloc(API_OUT_MAX)) == NULL ||
	    (a->outf = fmemopen(a->out, API_OUT_MAX, "w")) == NULL) {
		api_free(a);
		return NULL;
	}
	return a;
}

void
api_free(struct api *a)
{
	if (a == NULL)
		return;
	if (a->outf != NULL)
		fclose(a->outf);
	free(a->out);
	jp_arena_free(a->arena);
	free(a);
}

int
api_prefix_valid(const char *s)
{
	size_t n = strlen(s);

	/* "/keygate": a path of plain segments, no trailing slash */
	return n > 0 && n <= API_PREFIX_MAX && s[0] == '/' && s[n - 1] != '/' &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-") == n &&
	    strstr(s, "//") == NULL;
}
