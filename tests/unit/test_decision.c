/*
 * test_decision.c - the authorizer's answers as the web server reads
 * them: Status line first, headers, the JSON body of a denial, the
 * Variable-* headers of an allow, and no way to inject a header.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "decision.h"
#include "tap.h"

#define KEYID "key_0123456789ABCDEF"

/* A minimal strict JSON parser, enough to say "this is valid JSON". */
static const char *jp;

static void
ws(void)
{
	while (*jp == ' ' || *jp == '\t' || *jp == '\n' || *jp == '\r')
		jp++;
}

static int value(void);

static int
string(void)
{
	if (*jp++ != '"')
		return 0;
	while (*jp != '"') {
		unsigned char c = (unsigned char)*jp;
		if (c == '\0' || c < 0x20)
			return 0;
		if (c == '\\') {
			jp++;
			if (*jp == 'u') {
				int k;
				for (k = 1; k <= 4; k++)
					if (!jp[k] || !strchr("0123456789abcdefABCDEF", jp[k]))
						return 0;
				jp += 5;
				continue;
			}
			if (!*jp || !strchr("\"\\/bfnrt", *jp))
				return 0;
		}
		jp++;
	}
	jp++;
	return 1;
}

static int
number(void)
{
	const char *s = jp;

	if (*jp == '-')
		jp++;
	if (*jp == '0')
		jp++;
	else if (*jp >= '1' && *jp <= '9')
		while (*jp >= '0' && *jp <= '9')
			jp++;
	else
		return 0;
	if (*jp == '.') {
		jp++;
		if (!(*jp >= '0' && *jp <= '9'))
			return 0;
		while (*jp >= '0' && *jp <= '9')
			jp++;
	}
	return jp > s;
}

static int
value(void)
{
	ws();
	if (*jp == '{') {
		jp++;
		ws();
		if (*jp == '}') {
			jp++;
			return 1;
		}
		for (;;) {
			ws();
			if (!string())
				return 0;
			ws();
			if (*jp++ != ':' || !value())
				return 0;
			ws();
			if (*jp == ',') {
				jp++;
				continue;
			}
			return *jp++ == '}';
		}
	}
	if (*jp == '[') {
		jp++;
		ws();
		if (*jp == ']') {
			jp++;
			return 1;
		}
		for (;;) {
			if (!value())
				return 0;
			ws();
			if (*jp == ',') {
				jp++;
				continue;
			}
			return *jp++ == ']';
		}
	}
	if (*jp == '"')
		return string();
	if (strncmp(jp, "true", 4) == 0 || strncmp(jp, "null", 4) == 0) {
		jp += 4;
		return 1;
	}
	if (strncmp(jp, "false", 5) == 0) {
		jp += 5;
		return 1;
	}
	return number();
}

static int
valid_json(const char *s)
{
	jp = s;
	if (!value())
		return 0;
	ws();
	return *jp == '\0';
}

/* A rendered answer, split up. */
struct answer {
	char status[128];   /* the first line without CRLF */
	char headers[2048]; /* "Name: value\n" per header */
	char body[1024];
	int bare_lf;        /* an LF without CR in the head */
};

static int
split(const char *text, struct answer *a)
{
	const char *end = strstr(text, "\r\n\r\n"), *p, *nl;
	size_t n;

	memset(a, 0, sizeof *a);
	if (end == NULL)
		return -1;
	for (p = text; p < end; p++)
		if (*p == '\n' && (p == text || p[-1] != '\r'))
			a->bare_lf = 1;
	nl = strstr(text, "\r\n");
	n = (size_t)(nl - text);
	if (n >= sizeof a->status)
		return -1;
	memcpy(a->status, text, n);
	for (p = nl + 2; p < end + 2; p = nl + 2) {
		nl = strstr(p, "\r\n");
		n = strlen(a->headers);
		if (n + (size_t)(nl - p) + 2 >= sizeof a->headers)
			return -1;
		memcpy(a->headers + n, p, (size_t)(nl - p));
		strcat(a->headers, "\n");
	}
	if (strlen(end + 4) >= sizeof a->body)
		return -1;
	strcpy(a->body, end + 4);
	return 0;
}

/* The value of header name in a, or NULL; also counts occurrences. */
static const char *
header(const struct answer *a, const char *name, int *count)
{
	static char val[512];
	const char *p = a->headers, *found = NULL;
	size_t n = strlen(name);
	int c = 0;

	while (*p) {
		const char *nl = strchr(p, '\n');
		if (strncmp(p, name, n) == 0 && p[n] == ':' && p[n + 1] == ' ') {
			size_t l = (size_t)(nl - (p + n + 2));
			if (l < sizeof val) {
				memcpy(val, p + n + 2, l);
				val[l] = '\0';
				found = val;
			}
			c++;
		}
		p = nl + 1;
	}
	if (count)
		*count = c;
	return found;
}

static void
test_denials(void)
{
	static const struct {
		enum verdict v;
		int status;
		const char *phrase, *code;
	} cases[] = {
		{V_CONFLICT, 400, "Bad Request", "conflicting_api_keys"},
		{V_MISSING, 401, "Unauthorized", "missing_api_key"},
		{V_INVALID, 401, "Unauthorized", "invalid_api_key"},
		{V_EXPIRED, 401, "Unauthorized", "expired_api_key"},
		{V_QUOTA, 402, "Payment Required", "quota_exceeded"},
		{V_FORBIDDEN, 403, "Forbidden", "forbidden"},
		{V_RATE, 429, "Too Many Requests", "rate_limited"},
		{V_INTERNAL, 500, "Internal Server Error", "internal_error"},
		{V_UNAVAILABLE, 503, "Service Unavailable", "unavailable"},
	};
	char out[4096], want[512], body[512];
	struct answer a;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct authz_res res;
		const struct decision_info *d = decision_info(cases[i].v);
		const char *h;
		int n, cnt, cap, bad_cap = 0;

		memset(&res, 0, sizeof res);
		res.verdict = cases[i].v;
		if (cases[i].v == V_RATE) {
			res.has_rate = 1;
			res.rate.allowed = 0;
			res.rate.limit = 100;
			res.rate.remaining = 0;
			res.rate.reset_s = 42;
			res.rate.retry_after_s = 7;
		}
		n = decision_render(&res, "api", out, sizeof out);
		ok(n > 0 && (size_t)n == strlen(out), "%s: renders (%d bytes)", cases[i].code, n);
		if (split(out, &a) != 0) {
			ok(0, "%s: has a head and a body", cases[i].code);
			continue;
		}
		snprintf(want, sizeof want, "Status: %d %s", cases[i].status, cases[i].phrase);
		is_str(a.status, want, "%s: the first line", cases[i].code);
		ok(!a.bare_lf, "%s: every head line ends in CRLF", cases[i].code);
		is_str(header(&a, "Content-Type", &cnt), "application/json", "%s: Content-Type", cases[i].code);
		is_int(cnt, 1, "%s: one Content-Type", cases[i].code);
		ok(d->message != NULL && strlen(d->message) > 5, "%s: has a message", cases[i].code);
		snprintf(want, sizeof want, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n",
		    cases[i].code, d->message ? d->message : "");
		is_str(a.body, want, "%s: the exact body", cases[i].code);
		ok(valid_json(a.body), "%s: the body is valid JSON", cases[i].code);
		ok(strchr(a.body, '\n') == a.body + strlen(a.body) - 1, "%s: the body is one line",
		    cases[i].code);
		is_int(decision_body(cases[i].v, body, sizeof body), (int)strlen(want) - 1,
		    "%s: decision_body length", cases[i].code);
		ok(strncmp(body, want, strlen(want) - 1) == 0 && body[strlen(want) - 1] == '\0',
		    "%s: decision_body is the body without the newline", cases[i].code);
		h = header(&a, "WWW-Authenticate", &cnt);
		if (cases[i].status == 401)
			is_str(h, "Bearer realm=\"api\"", "%s: WWW-Authenticate", cases[i].code);
		else
			is_int(cnt, 0, "%s: no WWW-Authenticate", cases[i].code);
		if (cases[i].v == V_RATE) {
			is_str(header(&a, "Retry-After", NULL), "7", "429: Retry-After");
			is_str(header(&a, "RateLimit-Limit", NULL), "100", "429: RateLimit-Limit");
			is_str(header(&a, "RateLimit-Remaining", NULL), "0", "429: RateLimit-Remaining");
			is_str(header(&a, "RateLimit-Reset", NULL), "42", "429: RateLimit-Reset");
		} else {
			ok(header(&a, "Retry-After", &cnt) == NULL, "%s: no Retry-After", cases[i].code);
		}
		ok(header(&a, "Variable-Org-Id", &cnt) == NULL, "%s: no Variable-* header", cases[i].code);
		for (cap = 0; cap < n + 1; cap++) {
			char small[4096];
			int r = decision_render(&res, "api", small, (size_t)cap);
			if (r != -1 && cap <= n)
				bad_cap++;
		}
		is_int(bad_cap, 0, "%s: every buffer shorter than %d + NUL returns -1", cases[i].code, n);
		is_int(decision_render(&res, "api", out, (size_t)n + 1), n, "%s: length + 1 fits",
		    cases[i].code);
	}
	ok(decision_info((enum verdict)99)->status == 500, "an unknown verdict maps to 500");
	is_int(decision_body(V_ALLOW, body, sizeof body), -1, "an allow has no body");
	is_int(decision_body(V_INVALID, body, 10), -1, "decision_body into a small buffer");
	/* keygate-authz(8) and the README quote this one exactly */
	is_str(decision_info(V_INVALID)->message, "Invalid or revoked API key.", "the invalid_api_key message");
}

static void
base_allow(struct authz_res *res)
{
	memset(res, 0, sizeof *res);
	res->verdict = V_ALLOW;
	res->org = "acme";
	res->plan = "pro";
	res->key_id = KEYID;
	res->mode = MODE_LIVE;
}

static void
test_allow(void)
{
	struct authz_res res;
	struct answer a;
	char out[2048];
	int n, cap, bad = 0, tiny = 0;

	base_allow(&res);
	n = decision_render(&res, "api", out, sizeof out);
	is_str(out, "Status: 200 OK\r\n"
	    "Variable-Org-Id: acme\r\n"
	    "Variable-Plan: pro\r\n"
	    "Variable-Key-Id: " KEYID "\r\n"
	    "Variable-Key-Mode: live\r\n"
	    "\r\n", "a plain allow, exactly");
	is_int(n, (int)strlen(out), "its length");

	base_allow(&res);
	res.mode = MODE_TEST;
	res.user = "user-42";
	res.has_rate = 1;
	res.rate.allowed = 1;
	res.rate.limit = 100;
	res.rate.remaining = 99;
	res.has_quota = 1;
	res.quota.allowed = 1;
	res.quota.remaining = 5000;
	n = decision_render(&res, "api", out, sizeof out);
	is_str(out, "Status: 200 OK\r\n"
	    "Variable-Org-Id: acme\r\n"
	    "Variable-Plan: pro\r\n"
	    "Variable-Key-Id: " KEYID "\r\n"
	    "Variable-Key-Mode: test\r\n"
	    "Variable-User-Id: user-42\r\n"
	    "Variable-RateLimit-Remaining: 99\r\n"
	    "Variable-Quota-Remaining: 5000\r\n"
	    "\r\n", "an allow with user, rate and quota, exactly");
	ok(split(out, &a) == 0 && a.body[0] == '\0', "an allow has no body");
	ok(header(&a, "Content-Type", NULL) == NULL, "an allow has no Content-Type");
	ok(header(&a, "WWW-Authenticate", NULL) == NULL, "an allow has no WWW-Authenticate");

	base_allow(&res);
	res.has_rate = 1;
	res.rate.remaining = 0;
	n = decision_render(&res, "api", out, sizeof out);
	ok(split(out, &a) == 0 && header(&a, "Variable-RateLimit-Remaining", NULL) != NULL &&
	    header(&a, "Variable-Quota-Remaining", NULL) == NULL &&
	    header(&a, "Variable-User-Id", NULL) == NULL,
	    "rate only: RateLimit-Remaining, no Quota-Remaining, no User-Id");
	is_str(header(&a, "Variable-RateLimit-Remaining", NULL), "0", "  remaining 0 is still sent");
	base_allow(&res);
	res.has_quota = 1;
	res.quota.remaining = 0;
	res.quota.over = 1;
	n = decision_render(&res, "api", out, sizeof out);
	ok(split(out, &a) == 0 && header(&a, "Variable-Quota-Remaining", NULL) != NULL &&
	    header(&a, "Variable-RateLimit-Remaining", NULL) == NULL,
	    "quota only: Quota-Remaining, no RateLimit-Remaining");
	base_allow(&res);
	res.user = "";
	decision_render(&res, "api", out, sizeof out);
	ok(split(out, &a) == 0, "an empty user id renders");

	/* buffers too small: -1, or (once it fits) the whole 500 answer */
	base_allow(&res);
	res.user = "user-with-a-rather-long-identifier-0123456789-0123456789-0123456789";
	res.has_rate = res.has_quota = 1;
	n = decision_render(&res, "api", out, sizeof out);
	for (cap = 0; cap < n + 1; cap++) {
		char small[2048];
		int r;
		memset(small, 0, sizeof small);
		r = decision_render(&res, "api", small, (size_t)cap);
		if (r == -1) {
			tiny++;
			continue;
		}
		/* never a cut-off allow */
		if (r >= cap || strncmp(small, "Status: 500 ", 12) != 0 ||
		    strstr(small, "Variable-") != NULL || small[r - 1] != '\n')
			bad++;
	}
	ok(tiny > 0, "a too-small buffer returns -1 (%d of %d sizes)", tiny, n + 1);
	is_int(decision_render(&res, "api", out, 10), -1, "a 10-byte buffer returns -1");
	is_int(decision_render(&res, "api", out, 0), -1, "a 0-byte buffer returns -1");
	is_int(bad, 0, "no buffer size yields a truncated allow");
	is_int(decision_render(&res, "api", out, (size_t)n + 1), n, "length + 1 fits the allow");
}

static void
test_injection(void)
{
	static const char *evil[] = {
		"acme\r\nX-Evil: 1", "acme\nX-Evil: 1", "acme\rX-Evil: 1", "acme\r", "\n",
		"acme\tx", "acme\x7f", "caf\xc3\xa9",
	};
	struct authz_res res;
	struct answer a;
	char out[2048];
	size_t i;
	int field;

	for (field = 0; field < 4; field++) {
		for (i = 0; i < sizeof evil / sizeof evil[0]; i++) {
			static const char *names[] = {"org", "plan", "user", "key_id"};
			int n;
			base_allow(&res);
			if (field == 0)
				res.org = evil[i];
			else if (field == 1)
				res.plan = evil[i];
			else if (field == 2)
				res.user = evil[i];
			else
				res.key_id = evil[i];
			n = decision_render(&res, "api", out, sizeof out);
			ok(n > 0 && strncmp(out, "Status: 500 Internal Server Error\r\n", 35) == 0 &&
			    strstr(out, "X-Evil") == NULL && strstr(out, "Variable-") == NULL &&
			    split(out, &a) == 0 && !a.bare_lf &&
			    strcmp(a.body, "{\"error\":{\"code\":\"internal_error\",\"message\":\"Internal error.\"}}\n") == 0,
			    "%s with byte 0x%02x turns the answer into a 500", names[field],
			    (unsigned char)strpbrk(evil[i], "\r\n\t\x7f\xc3")[0]);
		}
	}
	base_allow(&res);
	res.org = NULL;
	ok(decision_render(&res, "api", out, sizeof out) > 0 && strncmp(out, "Status: 500 ", 12) == 0,
	    "a missing org is a 500");
	base_allow(&res);
	res.plan = NULL;
	ok(decision_render(&res, "api", out, sizeof out) > 0 && strncmp(out, "Status: 500 ", 12) == 0,
	    "a missing plan is a 500");
	base_allow(&res);
	res.key_id = NULL;
	ok(decision_render(&res, "api", out, sizeof out) > 0 && strncmp(out, "Status: 500 ", 12) == 0,
	    "a missing key id is a 500");
}

/*
 * The pre-rendered denials are byte for byte what decision_render writes,
 * for every verdict, several realms, and the 429 that carries numbers.
 */
static void
test_table(void)
{
	static const char *realms[] = {
		"keygate", "api", "My API v2 (prod)",
		/* 127 bytes: the longest a conf file allows */
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
	};
	static struct decision_table t;
	static char huge[2049];
	struct authz_res res;
	char want[4096], buf[4096];
	const char *got;
	size_t i;
	int v, n, m, bad, constant;

	for (i = 0; i < sizeof realms / sizeof realms[0]; i++) {
		is_int(decision_table_init(&t, realms[i]), 0, "table for realm of %zu bytes",
		    strlen(realms[i]));
		bad = constant = 0;
		for (v = V_ALLOW; v <= V_UNAVAILABLE + 1; v++) {
			int rate;
			for (rate = 0; rate < 2; rate++) {
				memset(&res, 0, sizeof res);
				res.verdict = (enum verdict)v;
				if (v == V_ALLOW) {
					res.org = "acme";
					res.plan = "pro";
					res.key_id = KEYID;
				}
				res.has_rate = rate;
				res.rate.limit = 100;
				res.rate.reset_s = 42;
				res.rate.retry_after_s = 7;
				n = decision_render(&res, realms[i], want, sizeof want);
				got = NULL;
				m = decision_answer(&t, &res, realms[i], buf, sizeof buf, &got);
				if (m != n || n <= 0 || got == NULL || memcmp(got, want, (size_t)n) != 0)
					bad++;
				if (got != NULL && got != buf)
					constant++;
			}
		}
		is_int(bad, 0, "realm %zu: every answer from the table equals decision_render", i);
		/* 9 denials without rate numbers, 8 with (all but the 429), and the unknown verdict twice */
		is_int(constant, 19, "realm %zu: only the allow and the 429 with numbers are rendered per request", i);
	}
	memset(&res, 0, sizeof res);
	res.verdict = V_RATE;
	res.has_rate = 1;
	res.rate.retry_after_s = 7;
	is_int(decision_answer(&t, &res, "api", buf, 10, &got), -1,
	    "a 429 with numbers into a 10-byte buffer returns -1");
	res.verdict = V_INVALID;
	ok(decision_answer(&t, &res, "api", buf, 10, &got) > 10,
	    "a constant denial needs no buffer");
	is_int(decision_table_init(&t, ""), 0, "an empty realm renders");
	memset(huge, 'r', sizeof huge - 1);
	huge[sizeof huge - 1] = '\0';
	is_int(decision_table_init(&t, huge), -1, "a 2 KiB realm does not fit the table: -1");
}

/* What the metrics count: the verdict the web server received. */
static void
test_answered(void)
{
	static struct decision_table t;
	struct authz_res res;
	char buf[1024], org[1100];
	const char *got;
	int n, v, bad = 0;

	decision_table_init(&t, "api");
	base_allow(&res);
	n = decision_answer(&t, &res, "api", buf, sizeof buf, &got);
	is_int(decision_answered(&res, got, n), V_ALLOW, "an allow answered is an allow");
	res.user = "bad\r\nX-Injected: 1";
	n = decision_answer(&t, &res, "api", buf, sizeof buf, &got);
	is_int(decision_answered(&res, got, n), V_INTERNAL,
	    "an allow that became a 500 (a value unsafe in a header) is a 500");
	base_allow(&res);
	memset(org, 'o', sizeof org - 1);
	org[sizeof org - 1] = '\0';
	res.org = org;
	n = decision_answer(&t, &res, "api", buf, sizeof buf, &got);
	ok(n > 0 && strncmp(got, "Status: 500 ", 12) == 0, "an allow too long for the buffer is rendered a 500");
	is_int(decision_answered(&res, got, n), V_INTERNAL, "  and counted as one");
	is_int(decision_answered(&res, got, -1), V_INTERNAL, "an answer that could not be rendered is a 500");
	for (v = V_ALLOW + 1; v < DECISION_VERDICTS; v++) {
		memset(&res, 0, sizeof res);
		res.verdict = (enum verdict)v;
		n = decision_answer(&t, &res, "api", buf, sizeof buf, &got);
		bad += decision_answered(&res, got, n) != (enum verdict)v;
	}
	is_int(bad, 0, "every denial is counted as itself");
	res.verdict = (enum verdict)(DECISION_VERDICTS + 3);
	n = decision_answer(&t, &res, "api", buf, sizeof buf, &got);
	is_int(decision_answered(&res, got, n), V_INTERNAL, "an unknown verdict is the 500 it renders as");
}

int
main(void)
{
	test_denials();
	test_table();
	test_allow();
	test_injection();
	test_answered();
	return done_testing();
}
