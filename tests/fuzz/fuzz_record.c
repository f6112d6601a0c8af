/*
 * fuzz_record.c - every record decoder on arbitrary bytes, as read from
 * a damaged or hostile store file.
 *
 * Input: the record's bytes (an exact-size heap copy, so a read past the
 * end is caught).  Every decoder sees every input.
 *
 * Invariants: a decoded record of the current version re-encodes to the
 * very same bytes (the format has one encoding per value), one of version
 * 1 to the current version; either decodes again to the same fields;
 * decoded strings are NUL-terminated inside the buffer; and what
 * the authorizer does with a decoded record (match its rules, apply its
 * rate and quota, render its ids as headers) neither crashes nor emits a
 * line break.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "decision.h"
#include "fuzz.h"
#include "policy.h"
#include "record.h"
#include "rules.h"

static const unsigned char *g_buf;
static size_t g_len;

/* A decoded string: inside the input and terminated there. */
static void
check_str(const char *s, size_t max, const char *what)
{
	const unsigned char *p = (const unsigned char *)s;

	FUZZ_CHECK(s != NULL, "%s is NULL", what);
	if (*s == '\0' && !(p >= g_buf && p < g_buf + g_len))
		return; /* "" may be a literal */
	FUZZ_CHECK(p >= g_buf && p < g_buf + g_len, "%s points outside the record", what);
	FUZZ_CHECK(memchr(p, '\0', (size_t)(g_buf + g_len - p)) != NULL,
	    "%s not terminated inside the record", what);
	FUZZ_CHECK(strlen(s) <= max, "%s longer than %zu", what, max);
}

#define SAME_STR(a, b) FUZZ_CHECK(strcmp((a), (b)) == 0, "%s differs", #a)
#define SAME(a, b) FUZZ_CHECK((a) == (b), "%s differs", #a)

static void
same_rules(const struct rule_view *a, size_t na, const struct rule_view *b, size_t nb)
{
	size_t i;

	SAME(na, nb);
	for (i = 0; i < na; i++) {
		SAME(a[i].action, b[i].action);
		SAME_STR(a[i].methods, b[i].methods);
		SAME_STR(a[i].host, b[i].host);
		SAME_STR(a[i].path, b[i].path);
	}
}

/*
 * What a decoded record encoded to (n bytes in enc, a buffer of len + 32:
 * a version 1 record grows by at most 2 bytes an integer field): the same
 * bytes for the current version, the current version for version 1.
 * Returns an exact-size copy of it, to decode again.
 */
static unsigned char *
reencode_check(int n, const unsigned char *in, size_t len, unsigned char *enc)
{
	unsigned char *out;

	FUZZ_CHECK(n >= 0, "a decoded record does not encode again");
	if (in[0] == RECORD_VERSION || in[0] == RECORD_VERSION_SCOPES) {
		FUZZ_CHECK((size_t)n == len, "re-encoded to %d bytes, read %zu", n, len);
		FUZZ_CHECK(memcmp(enc, in, len) == 0, "re-encoded to other bytes");
	} else {
		FUZZ_CHECK(in[0] == 1, "decoded a version %d record", in[0]);
		FUZZ_CHECK(n >= 2 && enc[0] == RECORD_VERSION && enc[1] == in[1],
		    "a version 1 record re-encoded with another header");
	}
	out = fuzz_dup(enc, (size_t)n);
	free(enc);
	return out;
}

static unsigned char *
enc_buf(size_t len)
{
	unsigned char *b = malloc(len + 32);

	if (b == NULL)
		abort();
	return b;
}

/* What the authorizer does with rules from a record. */
static void
use_rules(const struct rule_view *r, size_t n)
{
	static struct request_target t;
	static const char *const uris[] = {
		"/", "/v1/items", "/admin/x/y", "/hooks/a%2e%2e/b", "/a/b/c/d/e/f",
	};
	size_t i;

	for (i = 0; i < sizeof uris / sizeof uris[0]; i++) {
		request_target_init(&t, i % 2 ? "GET" : "post", "api.example.com:443", uris[i]);
		(void)rules_allow(r, n, &t);
	}
}

static void
use_rate(const struct rate_spec *r)
{
	struct rate_result res;
	uint64_t now = UINT64_C(1795000000) * NS_PER_S, tat;

	if (r->count == 0)
		return;
	tat = policy_gcra(0, now, r, 1, &res);
	tat = policy_gcra(tat, now, r, 1, &res);
	(void)policy_gcra(tat, now + NS_PER_S, r, 0, &res);
	(void)policy_gcra(UINT64_MAX, now, r, 1, &res);
}

static void
render(const char *org, const char *plan, const char *key_id, const char *user)
{
	struct authz_res res;
	char out[8192];
	int n, i;

	memset(&res, 0, sizeof res);
	res.verdict = V_ALLOW;
	res.org = org;
	res.plan = plan;
	res.key_id = key_id;
	res.user = user && *user ? user : NULL;
	n = decision_render(&res, "keygate", out, sizeof out);
	FUZZ_CHECK(n > 0, "render failed");
	for (i = 0; i < n; i++) {
		if (out[i] == '\r')
			FUZZ_CHECK(i + 1 < n && out[i + 1] == '\n', "bare CR");
		if (out[i] == '\n')
			FUZZ_CHECK(i > 0 && out[i - 1] == '\r' ? 1 : (i == n - 1), "bare LF");
		FUZZ_CHECK(out[i] != '\0', "NUL in the answer");
	}
}

static void
try_meta(const unsigned char *b, size_t len)
{
	struct meta_rec m, m2;
	unsigned char *enc, *out;
	int n;

	if (record_decode_meta(b, len, &m) != 0)
		return;
	check_str(m.prefix, APIKEY_PREFIX_MAX, "prefix");
	check_str(m.pepper_path, PATHNAME_MAX, "pepper_path");
	FUZZ_CHECK(apikey_prefix_valid(m.prefix), "prefix \"%s\"", m.prefix);
	enc = enc_buf(len);
	n = record_encode_meta(&m, enc, len + 32);
	out = reencode_check(n, b, len, enc);
	FUZZ_CHECK(record_decode_meta(out, (size_t)n, &m2) == 0, "decode again");
	SAME(m.format, m2.format);
	SAME(m.flags, m2.flags);
	SAME_STR(m.prefix, m2.prefix);
	SAME_STR(m.pepper_path, m2.pepper_path);
	FUZZ_CHECK(memcmp(m.pepper_check, m2.pepper_check, DIGEST_LEN) == 0, "pepper_check");
	SAME(m.created_at, m2.created_at);
	SAME(m.plain_digests, m2.plain_digests);
	SAME(m.generation, m2.generation);
	/* a shorter buffer must be refused, not overrun */
	FUZZ_CHECK(record_encode_meta(&m, out, (size_t)n - 1) == -1, "encoded into too little room");
	free(out);
}

static void
try_key(const unsigned char *b, size_t len)
{
	struct key_rec k, k2;
	unsigned char *enc, *out;
	size_t i;
	int n;

	if (record_decode_key(b, len, &k) != 0)
		return;
	check_str(k.id, KEYID_LEN, "id");
	check_str(k.org, ID_MAX, "org");
	check_str(k.name, TEXT_MAX, "name");
	check_str(k.user, TEXT_MAX, "user");
	check_str(k.display, DISPLAY_MAX, "display");
	check_str(k.successor, KEYID_LEN, "successor");
	FUZZ_CHECK(k.nrules <= RULES_MAX, "nrules %zu", k.nrules);
	for (i = 0; i < k.nrules; i++) {
		FUZZ_CHECK(k.rules[i].action == RULE_ALLOW || k.rules[i].action == RULE_DENY,
		    "action");
		check_str(k.rules[i].methods, RULE_METHODS_MAX - 1, "methods");
		check_str(k.rules[i].host, RULE_HOST_MAX - 1, "host");
		check_str(k.rules[i].path, RULE_PATH_MAX - 1, "path");
	}
	enc = enc_buf(len);
	n = record_encode_key(&k, enc, len + 32);
	out = reencode_check(n, b, len, enc);
	FUZZ_CHECK(record_decode_key(out, (size_t)n, &k2) == 0, "decode again");
	SAME(k.flags, k2.flags);
	SAME_STR(k.id, k2.id);
	SAME_STR(k.org, k2.org);
	SAME_STR(k.name, k2.name);
	SAME_STR(k.user, k2.user);
	SAME_STR(k.display, k2.display);
	SAME_STR(k.successor, k2.successor);
	SAME(k.created_at, k2.created_at);
	SAME(k.expires_at, k2.expires_at);
	SAME(k.revoked_at, k2.revoked_at);
	SAME(k.last_used_at, k2.last_used_at);
	SAME(k.rate.count, k2.rate.count);
	SAME(k.rate.window_s, k2.rate.window_s);
	SAME(k.scopes, k2.scopes);
	FUZZ_CHECK((k.scopes & ~(uint32_t)SCOPES_ALL) == 0, "scopes %#x", k.scopes);
	FUZZ_CHECK((k.scopes != 0) == (b[0] == RECORD_VERSION_SCOPES), "scopes in version %d", b[0]);
	same_rules(k.rules, k.nrules, k2.rules, k2.nrules);
	FUZZ_CHECK(record_encode_key(&k, out, (size_t)n - 1) == -1, "encoded into too little room");
	free(out);
	use_rules(k.rules, k.nrules);
	use_rate(&k.rate);
	render(k.org, "plan", k.id, k.user);
}

static void
try_org(const unsigned char *b, size_t len)
{
	struct org_rec o, o2;
	unsigned char *enc, *out;
	int n;

	if (record_decode_org(b, len, &o) != 0)
		return;
	check_str(o.name, TEXT_MAX, "name");
	check_str(o.plan, ID_MAX, "plan");
	enc = enc_buf(len);
	n = record_encode_org(&o, enc, len + 32);
	out = reencode_check(n, b, len, enc);
	FUZZ_CHECK(record_decode_org(out, (size_t)n, &o2) == 0, "decode again");
	SAME(o.flags, o2.flags);
	SAME_STR(o.name, o2.name);
	SAME_STR(o.plan, o2.plan);
	SAME(o.created_at, o2.created_at);
	SAME(o.credits, o2.credits);
	SAME(o.nkeys, o2.nkeys);
	FUZZ_CHECK(record_encode_org(&o, out, (size_t)n - 1) == -1, "encoded into too little room");
	free(out);
	render("org", o.plan, "key_0123456789abcdef", NULL);
}

static void
try_plan(const unsigned char *b, size_t len)
{
	struct plan_rec p, p2;
	struct quota_result q;
	unsigned char *enc, *out;
	int64_t now = 1795000000;
	size_t i;
	int n;

	if (record_decode_plan(b, len, &p) != 0)
		return;
	check_str(p.name, ID_MAX, "name");
	FUZZ_CHECK(p.quota.period <= QUOTA_CREDITS, "period %d", p.quota.period);
	FUZZ_CHECK(p.nrules <= RULES_MAX, "nrules %zu", p.nrules);
	for (i = 0; i < p.nrules; i++) {
		check_str(p.rules[i].methods, RULE_METHODS_MAX - 1, "methods");
		check_str(p.rules[i].host, RULE_HOST_MAX - 1, "host");
		check_str(p.rules[i].path, RULE_PATH_MAX - 1, "path");
	}
	enc = enc_buf(len);
	n = record_encode_plan(&p, enc, len + 32);
	out = reencode_check(n, b, len, enc);
	FUZZ_CHECK(record_decode_plan(out, (size_t)n, &p2) == 0, "decode again");
	SAME_STR(p.name, p2.name);
	SAME(p.rate.count, p2.rate.count);
	SAME(p.rate.window_s, p2.rate.window_s);
	SAME(p.quota.count, p2.quota.count);
	SAME(p.quota.period, p2.quota.period);
	SAME(p.max_keys, p2.max_keys);
	SAME(p.overage_pct, p2.overage_pct);
	SAME(p.created_at, p2.created_at);
	SAME(p.updated_at, p2.updated_at);
	same_rules(p.rules, p.nrules, p2.rules, p2.nrules);
	FUZZ_CHECK(record_encode_plan(&p, out, (size_t)n - 1) == -1, "encoded into too little room");
	free(out);
	use_rules(p.rules, p.nrules);
	use_rate(&p.rate);
	if (p.quota.period != QUOTA_NONE) {
		uint32_t pid = policy_period_id(p.quota.period, now);
		uint64_t w = policy_quota(0, pid, p.quota.count, p.overage_pct, 1, &q);

		(void)policy_quota(w, pid, p.quota.count, p.overage_pct, 1, &q);
		/* a counted unit stays in its period, whatever the quota read */
		w = QUOTA_USED_MAX - 1;
		w = policy_quota(w | (uint64_t)pid << QUOTA_USED_BITS, pid,
		    p.quota.count, p.overage_pct, 1, &q);
		w = policy_quota(w, pid, p.quota.count, p.overage_pct, 1, &q);
		FUZZ_CHECK(!q.allowed || policy_quota_used(w, pid) == q.used,
		    "quota %llu/%d (+%u%%): unit %llu counted as %llu in period %u",
		    (unsigned long long)p.quota.count, p.quota.period, p.overage_pct,
		    (unsigned long long)q.used,
		    (unsigned long long)policy_quota_used(w, pid), pid);
	}
}

static void
try_keyid(const unsigned char *b, size_t len)
{
	struct keyid_rec k, k2;
	unsigned char *enc, *out;
	int n;

	if (record_decode_keyid(b, len, &k) != 0)
		return;
	enc = enc_buf(len);
	n = record_encode_keyid(&k, enc, len + 32);
	out = reencode_check(n, b, len, enc);
	FUZZ_CHECK(record_decode_keyid(out, (size_t)n, &k2) == 0 &&
	    memcmp(k.digest, k2.digest, DIGEST_LEN) == 0, "decode again");
	free(out);
}

/* What an audit record holds is shown as JSON: it must stay JSON. */
static void
try_audit(const unsigned char *b, size_t len)
{
	static struct audit_rec a, a2;
	unsigned char *enc, *out;
	struct json j;
	char *text = NULL;
	size_t i, tlen = 0, items = 0;
	FILE *f;
	int n;

	if (record_decode_audit(b, len, &a) != 0)
		return;
	check_str(a.actor, AUDIT_ACTOR_MAX, "actor");
	check_str(a.remote, AUDIT_REMOTE_MAX, "remote");
	check_str(a.action, AUDIT_ACTION_MAX, "action");
	check_str(a.org, ID_MAX, "org");
	check_str(a.target, ID_MAX, "target");
	FUZZ_CHECK(a.nfields <= AUDIT_FIELDS_MAX, "nfields %zu", a.nfields);
	for (i = 0; i < a.nfields; i++) {
		check_str(a.f[i].name, AUDIT_NAME_MAX, "name");
		check_str(a.f[i].str, AUDIT_VALUE_MAX, "value");
		if (items > 0) {
			FUZZ_CHECK(a.f[i].name[0] == '\0' && a.f[i].type == AUDIT_STR, "a list item");
			items--;
		} else {
			FUZZ_CHECK(a.f[i].name[0] != '\0', "a nameless field");
			if (a.f[i].type == AUDIT_LIST)
				items = (size_t)a.f[i].num;
		}
	}
	FUZZ_CHECK(items == 0, "a list runs past the fields");
	enc = enc_buf(len);
	n = record_encode_audit(&a, enc, len + 32);
	out = reencode_check(n, b, len, enc);
	FUZZ_CHECK(record_decode_audit(out, (size_t)n, &a2) == 0 && a2.nfields == a.nfields,
	    "decode again");
	free(out);
	/* rendered as an API or CLI answer would be */
	if ((f = open_memstream(&text, &tlen)) == NULL)
		abort();
	json_init(&j, f);
	audit_json(&j, UINT64_MAX, &a);
	fclose(f);
	/* one line: the object and the newline that ends a top-level value */
	FUZZ_CHECK(tlen > 2 && text[0] == '{' && text[tlen - 2] == '}' && text[tlen - 1] == '\n',
	    "not a JSON object on a line");
	FUZZ_CHECK(memchr(text, '\n', tlen - 1) == NULL, "a line break in the JSON");
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *b = fuzz_dup(data, size);

	g_buf = b;
	g_len = size;
	try_meta(b, size);
	try_key(b, size);
	try_org(b, size);
	try_plan(b, size);
	try_keyid(b, size);
	try_audit(b, size);
	free(b);
	return 0;
}
