/*
 * decision.c - verdict -> status, headers, body.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "decision.h"
#include "record.h"

static const struct decision_info infos[] = {
	[V_ALLOW] = {200, "OK", NULL, NULL},
	[V_CONFLICT] = {400, "Bad Request", "conflicting_api_keys",
	    "The request carries two different API keys."},
	[V_MISSING] = {401, "Unauthorized", "missing_api_key",
	    "An API key is required: send it as 'Authorization: Bearer <key>' or 'X-Api-Key: <key>'."},
	[V_INVALID] = {401, "Unauthorized", "invalid_api_key",
	    "Invalid or revoked API key."},
	[V_EXPIRED] = {401, "Unauthorized", "expired_api_key",
	    "This API key has expired."},
	[V_QUOTA] = {402, "Payment Required", "quota_exceeded",
	    "The organization's quota for this period is used up."},
	[V_FORBIDDEN] = {403, "Forbidden", "forbidden",
	    "This API key is not allowed to make this request."},
	[V_RATE] = {429, "Too Many Requests", "rate_limited",
	    "Rate limit exceeded; retry after the time in Retry-After."},
	[V_INTERNAL] = {500, "Internal Server Error", "internal_error",
	    "Internal error."},
	[V_UNAVAILABLE] = {503, "Service Unavailable", "unavailable",
	    "The API key service is temporarily unavailable."},
};

/* Kept in step with decision_render (tests/unit checks every allow it renders). */
const char *const decision_variables[] = {
	"Org-Id", "Plan", "Key-Id", "Key-Mode", "User-Id",
	"RateLimit-Remaining", "Quota-Remaining", "Quota-Exceeded", NULL
};

/* An allow's first line: how decision_answered() tells it from the 500 it may become. */
static const char allow_status[] = "Status: 200 OK\r\n";

/* the table of pre-rendered answers has a slot per verdict of infos[] */
_Static_assert(sizeof infos / sizeof infos[0] == DECISION_VERDICTS,
    "DECISION_VERDICTS must count every verdict");

static const struct decision_info api_infos[] = {
	[API_CREATED] = {201, "Created", NULL, NULL},
	[API_INVALID_REQUEST] = {400, "Bad Request", "invalid_request", "The request is not valid."},
	[API_INSUFFICIENT_SCOPE] = {403, "Forbidden", "insufficient_scope",
	    "This API key does not have the scope this request needs."},
	[API_KEY_LIMIT] = {403, "Forbidden", "key_limit_reached",
	    "The organization's plan allows no more active keys."},
	[API_NOT_FOUND] = {404, "Not Found", "not_found", "Not found."},
	[API_METHOD] = {405, "Method Not Allowed", "method_not_allowed",
	    "This method is not allowed here; see Allow."},
	[API_CONFLICT] = {409, "Conflict", "conflict", "The request conflicts with the store's state."},
	[API_TOO_LARGE] = {413, "Content Too Large", "too_large",
	    "The request body is larger than 64 KiB."},
	[API_INTERNAL] = {500, "Internal Server Error", "internal_error", "Internal error."},
	[API_UNAVAILABLE] = {503, "Service Unavailable", "unavailable",
	    "The API key service is temporarily unavailable."},
};

const struct decision_info *
decision_api_info(enum api_error e)
{
	if ((unsigned)e >= sizeof api_infos / sizeof api_infos[0])
		e = API_INTERNAL;
	return &api_infos[e];
}

int
decision_api_outcome(enum api_error e)
{
	if (e == API_INTERNAL || (unsigned)e >= API_ERRORS)
		return V_INTERNAL;
	if (e == API_UNAVAILABLE)
		return V_UNAVAILABLE;
	return DECISION_VERDICTS + (int)e;
}

int
decision_outcome_distinct(int outcome)
{
	return outcome < DECISION_VERDICTS ||
	    decision_api_outcome((enum api_error)(outcome - DECISION_VERDICTS)) == outcome;
}

const struct decision_info *
decision_outcome_info(int outcome)
{
	if (outcome >= 0 && outcome < DECISION_VERDICTS)
		return decision_info((enum verdict)outcome);
	if (outcome >= DECISION_VERDICTS && outcome < DECISION_OUTCOMES)
		return decision_api_info((enum api_error)(outcome - DECISION_VERDICTS));
	return decision_info(V_INTERNAL);
}

const char *
decision_phrase(int status)
{
	size_t i;

	for (i = 0; i < sizeof infos / sizeof infos[0]; i++)
		if (infos[i].status == status)
			return infos[i].phrase;
	for (i = 0; i < sizeof api_infos / sizeof api_infos[0]; i++)
		if (api_infos[i].status == status)
			return api_infos[i].phrase;
	return NULL;
}

const struct decision_info *
decision_info(enum verdict v)
{
	if ((unsigned)v >= sizeof infos / sizeof infos[0])
		v = V_INTERNAL;
	return &infos[v];
}

struct out {
	char *buf;
	size_t cap, len;
	int overflow;
};

static void
outf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
outf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len)
		o->overflow = 1;
	else
		o->len += (size_t)n;
}

/*
 * Appends a string; the allow path builds its answer without printf.  The
 * answer stays NUL-terminated, as outf's vsnprintf leaves it: callers may
 * treat it as a string, not only as (buf, length).
 */
static void
out_str(struct out *o, const char *s)
{
	size_t n = strlen(s);

	if (o->overflow || n >= o->cap - o->len) {
		o->overflow = 1;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void
out_header(struct out *o, const char *name, const char *value)
{
	out_str(o, name);
	out_str(o, value);
	out_str(o, "\r\n");
}

static void
out_number(struct out *o, const char *name, uint64_t v)
{
	char digits[24];
	size_t i = sizeof digits - 1;

	digits[i] = '\0';
	do {
		digits[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	out_header(o, name, digits + i);
}

int
decision_body(enum verdict v, char *buf, size_t cap)
{
	const struct decision_info *d = decision_info(v);
	int n;

	if (d->code == NULL)
		return -1;
	n = snprintf(buf, cap, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}",
	    d->code, d->message);
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

static int
render_deny(enum verdict v, const struct authz_res *res, const char *realm,
    struct out *o)
{
	const struct decision_info *d = decision_info(v);
	char body[512];

	if (decision_body(v, body, sizeof body) < 0)
		return -1;
	outf(o, "Status: %d %s\r\nContent-Type: application/json\r\n"
	    "Cache-Control: no-store\r\n", d->status, d->phrase);
	if (d->status == 401)
		outf(o, "WWW-Authenticate: Bearer realm=\"%s\"\r\n", realm);
	if (v == V_RATE && res != NULL && res->has_rate) {
		outf(o, "Retry-After: %u\r\nRateLimit-Limit: %u\r\n"
		    "RateLimit-Remaining: 0\r\nRateLimit-Reset: %u\r\n",
		    res->rate.retry_after_s, res->rate.limit, res->rate.reset_s);
	}
	outf(o, "\r\n%s\n", body);
	return o->overflow ? -1 : (int)o->len;
}

int
decision_render(const struct authz_res *res, const char *realm, char *buf,
    size_t cap)
{
	struct out o = {buf, cap, 0, 0};

	if (res->verdict != V_ALLOW)
		return render_deny(res->verdict, res, realm, &o);
	if (!record_header_safe(res->org) || !record_header_safe(res->plan) ||
	    !record_header_safe(res->key_id) || !record_header_safe(res->user) ||
	    res->org == NULL || res->plan == NULL || res->key_id == NULL) {
		o.len = 0;
		return render_deny(V_INTERNAL, NULL, realm, &o);
	}
	out_str(&o, allow_status);
	out_header(&o, "Variable-Org-Id: ", res->org);
	out_header(&o, "Variable-Plan: ", res->plan);
	out_header(&o, "Variable-Key-Id: ", res->key_id);
	out_header(&o, "Variable-Key-Mode: ", res->mode == MODE_TEST ? "test" : "live");
	if (res->user != NULL)
		out_header(&o, "Variable-User-Id: ", res->user);
	if (res->has_rate)
		out_number(&o, "Variable-RateLimit-Remaining: ", res->rate.remaining);
	if (res->has_quota) {
		out_number(&o, "Variable-Quota-Remaining: ", res->quota.remaining);
		if (res->quota.over)
			out_str(&o, "Variable-Quota-Exceeded: 1\r\n");
	}
	out_str(&o, "\r\n");
	if (o.overflow) {
		o.len = 0;
		o.overflow = 0;
		return render_deny(V_INTERNAL, NULL, realm, &o);
	}
	return (int)o.len;
}

int
decision_table_init(struct decision_table *t, const char *realm)
{
	struct authz_res res;
	size_t used = 0;
	int v, n;

	memset(t, 0, sizeof *t);
	memset(&res, 0, sizeof res);
	for (v = V_ALLOW + 1; v < DECISION_VERDICTS; v++) {
		res.verdict = (enum verdict)v;
		n = decision_render(&res, realm, t->bytes + used, sizeof t->bytes - used);
		if (n <= 0)
			return -1;
		t->deny[v].off = (unsigned)used;
		t->deny[v].len = (unsigned)n;
		used += (size_t)n;
	}
	return 0;
}

int
decision_answer(const struct decision_table *t, const struct authz_res *res,
    const char *realm, char *buf, size_t cap, const char **out)
{
	unsigned v = (unsigned)res->verdict;

	/* an unknown verdict renders as a 500, as decision_info() maps it */
	if (v >= DECISION_VERDICTS)
		v = V_INTERNAL;
	if (v != V_ALLOW && !(v == V_RATE && res->has_rate) && t->deny[v].len > 0) {
		*out = t->bytes + t->deny[v].off;
		return (int)t->deny[v].len;
	}
	*out = buf;
	return decision_render(res, realm, buf, cap);
}

enum verdict
decision_answered(const struct authz_res *res, const char *answer, int len)
{
	unsigned v = (unsigned)res->verdict;

	if (len < 0 || v >= DECISION_VERDICTS)
		return V_INTERNAL;
	if (v == V_ALLOW && ((size_t)len < sizeof allow_status - 1 ||
	    memcmp(answer, allow_status, sizeof allow_status - 1) != 0))
		return V_INTERNAL;
	return res->verdict;
}
