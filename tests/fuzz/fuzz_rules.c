/*
 * fuzz_rules.c - rule_parse, path_normalize, host_normalize,
 * request_target_init and rules_allow on arbitrary text.
 *
 * Input: byte 0 sizes the small output buffers, then NUL-separated fields:
 *   method \0 host \0 uri \0 rule \0 rule ...
 * A rule field starting with 'a' or 'A' is an allow rule, anything else a
 * deny rule; the first byte is not part of the rule text.
 *
 * Invariants:
 * - a parsed rule is well formed and survives rule_format + rule_parse;
 * - a normalised path starts with "/", holds no "//", "/./", "/../", no
 *   ";" and no control byte, never ends in "/.." or "/."; normalising it
 *   again changes nothing (unless it holds "%", "?" or "#", which were
 *   decoded from %25, %3F, %23 and would be read differently again);
 * - "%2F", "%2f" or "%00" in the path is always unsafe;
 * - a smaller output buffer never gives another answer, only a refusal;
 * - a normalised host is valid (host_valid), whole (the input less its
 *   case, one trailing dot and a numeric port: never cut) and a fixed
 *   point; a refused host leaves "" behind;
 * - a parsed rule's host is what some request's normalised host can be
 *   (so no rule is stored that could never match);
 * - an invalid host is refused by every list holding a host rule;
 * - matching equals a reference matcher (dynamic programming instead of
 *   the greedy walk), and rules_allow equals first-match-wins over it.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "record.h"
#include "rules.h"

/* ---- reference matcher ---- */

/* Does glob p (only '*' is special) match all of s?  Two-row DP. */
static int
ref_seg_match(const char *p, size_t pn, const char *s, size_t sn)
{
	unsigned char *prev, *cur, *tmp;
	size_t i, j;
	int r;

	if (memchr(p, '*', pn) == NULL)
		return pn == sn && memcmp(p, s, pn) == 0;
	prev = calloc(sn + 1, 1);
	cur = calloc(sn + 1, 1);
	if (prev == NULL || cur == NULL)
		abort();
	prev[0] = 1; /* empty pattern matches empty string */
	for (i = 1; i <= pn; i++) {
		cur[0] = prev[0] && p[i - 1] == '*';
		for (j = 1; j <= sn; j++) {
			if (p[i - 1] == '*')
				cur[j] = prev[j] || cur[j - 1];
			else
				cur[j] = prev[j - 1] && p[i - 1] == s[j - 1];
		}
		tmp = prev, prev = cur, cur = tmp;
	}
	r = prev[sn];
	free(prev);
	free(cur);
	return r;
}

/* Splits at '/', skipping empty segments, like the matcher. */
static size_t
ref_split(const char *path, struct seg *out, size_t max)
{
	size_t n = 0;
	const char *p = path;

	for (;;) {
		size_t len;

		while (*p == '/')
			p++;
		if (*p == '\0')
			return n;
		len = strcspn(p, "/");
		if (n == max)
			return max + 1;
		out[n].p = p;
		out[n].n = len;
		n++;
		p += len;
	}
}

static int
ref_glob(const char *pattern, const struct seg *s, size_t ns)
{
	static struct seg pat[PATH_SEGS_MAX + 1];
	static unsigned char dp[PATH_SEGS_MAX + 2][PATH_SEGS_MAX + 2];
	size_t np = ref_split(pattern, pat, PATH_SEGS_MAX), i, j;

	if (np > PATH_SEGS_MAX)
		return 0;
	/* dp[i][j]: the first i pattern segments match the first j path ones */
	for (j = 0; j <= ns; j++)
		dp[0][j] = j == 0;
	for (i = 1; i <= np; i++) {
		int dstar = pat[i - 1].n == 2 && pat[i - 1].p[0] == '*' &&
		    pat[i - 1].p[1] == '*';
		for (j = 0; j <= ns; j++) {
			if (dstar)
				dp[i][j] = dp[i - 1][j] || (j > 0 && dp[i][j - 1]);
			else
				dp[i][j] = j > 0 && dp[i - 1][j - 1] &&
				    ref_seg_match(pat[i - 1].p, pat[i - 1].n,
				    s[j - 1].p, s[j - 1].n);
		}
	}
	return dp[np][ns];
}

static int
ref_method(const char *methods, const char *m)
{
	const char *p = methods;

	if (strcmp(methods, "*") == 0)
		return 1;
	while (*p) {
		size_t n = strcspn(p, ",");
		char tok[RULE_METHODS_MAX];

		memcpy(tok, p, n);
		tok[n] = '\0';
		if (strcasecmp(tok, m) == 0 ||
		    (strcmp(tok, "GET") == 0 && strcasecmp(m, "HEAD") == 0))
			return 1;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

static int
ref_host(const char *rule, const char *host)
{
	size_t rl = strlen(rule), hl = strlen(host);

	if (rl == 0)
		return 1;
	if (rule[0] == '*' && rule[1] == '.')
		return hl >= rl && strcmp(host + hl - (rl - 1), rule + 1) == 0;
	return strcmp(rule, host) == 0;
}

/* ---- checks ---- */

static void
check_rule(enum rule_action a, const char *spec)
{
	struct rule r, again;
	const char *err = NULL, *p;
	char buf[RULE_METHODS_MAX + RULE_HOST_MAX + RULE_PATH_MAX + 16];
	size_t i;
	int n;

	if (rule_parse(a, spec, &r, &err) != 0) {
		FUZZ_CHECK(err != NULL && *err != '\0', "a refusal without a reason");
		return;
	}
	FUZZ_CHECK(r.action == a, "action");
	/* methods: "*" or a comma list of upper-case words */
	if (strcmp(r.methods, "*") != 0) {
		FUZZ_CHECK(r.methods[0] != '\0' && r.methods[0] != ',' &&
		    r.methods[strlen(r.methods) - 1] != ',' &&
		    strstr(r.methods, ",,") == NULL, "methods \"%s\"", r.methods);
		for (p = r.methods; *p; p++)
			FUZZ_CHECK((*p >= 'A' && *p <= 'Z') || *p == ',',
			    "methods \"%s\"", r.methods);
	}
	p = r.host;
	if (p[0] == '*' && p[1] == '.')
		p += 2;
	if (r.host[0] != '\0') {
		char h[RULE_HOST_MAX];

		/* a request for exactly that host (under the wildcard) can match it */
		FUZZ_CHECK(host_valid(p, strlen(p)) && host_normalize(p, h, sizeof h) == 0 &&
		    strcmp(h, p) == 0, "rule host \"%s\" can never match a request's host", r.host);
	}
	for (; *p; p++)
		FUZZ_CHECK((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    strchr("-.[]:", *p) != NULL, "host \"%s\"", r.host);
	FUZZ_CHECK(r.path[0] == '/', "path \"%s\"", r.path);
	FUZZ_CHECK(strstr(r.path, "//") == NULL && strstr(r.path, "/./") == NULL &&
	    strstr(r.path, "/../") == NULL, "path \"%s\"", r.path);
	for (i = 0; r.path[i]; i++)
		FUZZ_CHECK((unsigned char)r.path[i] > 0x20 &&
		    (unsigned char)r.path[i] < 0x7f && !strchr("%?#;", r.path[i]),
		    "path \"%s\"", r.path);
	/* the form `keygate plan show` prints parses back to the same rule */
	n = rule_format(a, r.methods, r.host, r.path, buf, sizeof buf);
	FUZZ_CHECK(n > 0 && (size_t)n < sizeof buf, "rule_format");
	p = strchr(buf, ' ');
	FUZZ_CHECK(p != NULL, "rule_format: %s", buf);
	FUZZ_CHECK(rule_parse(a, p + 1, &again, &err) == 0, "\"%s\" does not parse back: %s",
	    buf, err);
	FUZZ_CHECK(strcmp(again.methods, r.methods) == 0 &&
	    strcmp(again.host, r.host) == 0 && strcmp(again.path, r.path) == 0,
	    "\"%s\" parses back differently", buf);
}

/* The part of a REQUEST_URI that is path: after an absolute form's authority, before ? or #. */
static void
raw_path(const char *uri, const char **start, size_t *len)
{
	const char *p = uri;

	if (strncasecmp(p, "http://", 7) == 0 || strncasecmp(p, "https://", 8) == 0) {
		p = strstr(p, "://") + 3;
		p += strcspn(p, "/?#");
	}
	*start = p;
	*len = strcspn(p, "?#");
}

static int
contains_ci(const char *s, size_t n, const char *needle)
{
	size_t k = strlen(needle), i;

	for (i = 0; i + k <= n; i++)
		if (strncasecmp(s + i, needle, k) == 0)
			return 1;
	return 0;
}

static void
check_path(const char *uri, size_t small)
{
	static char out[PATH_NORM_MAX], out2[PATH_NORM_MAX];
	const char *rp;
	char *tiny;
	size_t rlen, n, i;
	int rc, rc2;

	rc = path_normalize(uri, out, sizeof out);
	raw_path(uri, &rp, &rlen);
	if (contains_ci(rp, rlen, "%2f") || contains_ci(rp, rlen, "%00"))
		FUZZ_CHECK(rc != 0, "an encoded / or NUL passed: \"%s\"", uri);
	for (i = 0; i < rlen; i++)
		if ((unsigned char)rp[i] < 0x20 || rp[i] == 0x7f)
			FUZZ_CHECK(rc != 0, "a control byte passed");

	tiny = malloc(small);
	if (tiny == NULL)
		abort();
	rc2 = path_normalize(uri, tiny, small);
	if (rc != 0)
		FUZZ_CHECK(rc2 != 0, "refused with %zu bytes, accepted with %zu",
		    sizeof out, small);
	else if (rc2 == 0)
		FUZZ_CHECK(strcmp(tiny, out) == 0, "another answer with %zu bytes", small);
	free(tiny);
	if (rc != 0)
		return;

	n = strlen(out);
	FUZZ_CHECK(n >= 1 && n < sizeof out && out[0] == '/', "\"%s\"", out);
	FUZZ_CHECK(strstr(out, "//") == NULL, "\"//\" in \"%s\"", out);
	FUZZ_CHECK(strstr(out, "/./") == NULL, "\"/./\" in \"%s\"", out);
	FUZZ_CHECK(strstr(out, "/../") == NULL, "\"/../\" in \"%s\"", out);
	FUZZ_CHECK(strchr(out, ';') == NULL, "\";\" in \"%s\"", out);
	FUZZ_CHECK(!(n >= 3 && strcmp(out + n - 3, "/..") == 0), "ends in /.. \"%s\"", out);
	FUZZ_CHECK(!(n >= 2 && strcmp(out + n - 2, "/.") == 0), "ends in /. \"%s\"", out);
	FUZZ_CHECK(!(n > 1 && out[n - 1] == '/'), "ends in / \"%s\"", out);
	for (i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)out[i] >= 0x20 && out[i] != 0x7f,
		    "control byte in \"%s\"", out);
	if (strpbrk(out, "%?#") == NULL) {
		FUZZ_CHECK(path_normalize(out, out2, sizeof out2) == 0 &&
		    strcmp(out, out2) == 0, "not a fixed point: \"%s\" -> \"%s\"", out, out2);
	}
}

/* out is host less its case, one trailing dot and a numeric port: nothing cut. */
static int
whole(const char *host, const char *out)
{
	size_t n = strlen(out);
	const char *rest = host + n;

	if (strncasecmp(host, out, n) != 0)
		return 0;
	if (*rest == '.')
		rest++;
	if (*rest == ':')
		rest += 1 + strspn(rest + 1, "0123456789");
	return *rest == '\0';
}

static void
check_host(const char *host, size_t small)
{
	char out[RULE_HOST_MAX], again[RULE_HOST_MAX], *tiny;
	size_t n, i;
	int rc, rc2;

	rc = host_normalize(host, out, sizeof out);
	n = strlen(out);
	FUZZ_CHECK(n < sizeof out, "host length");
	if (rc != 0) {
		FUZZ_CHECK(n == 0, "a refused host left \"%s\"", out);
		return;
	}
	FUZZ_CHECK(n > 0 && n <= HOST_MAX && host_valid(out, n), "invalid host \"%s\"", out);
	FUZZ_CHECK(host != NULL && whole(host, out), "host \"%s\" cut to \"%s\"", host, out);
	for (i = 0; i < n; i++)
		FUZZ_CHECK(!(out[i] >= 'A' && out[i] <= 'Z'), "upper case in \"%s\"", out);
	FUZZ_CHECK(out[n - 1] != '.', "trailing dot in \"%s\"", out);
	FUZZ_CHECK(host_normalize(out, again, sizeof again) == 0 && strcmp(out, again) == 0,
	    "host not a fixed point: \"%s\" -> \"%s\"", out, again);
	tiny = malloc(small);
	if (tiny == NULL)
		abort();
	rc2 = host_normalize(host, tiny, small);
	FUZZ_CHECK(strnlen(tiny, small) < small, "host overflows %zu bytes", small);
	FUZZ_CHECK(rc2 == 0 ? strcmp(tiny, out) == 0 : tiny[0] == '\0',
	    "a %zu-byte buffer gave another host: \"%s\"", small, tiny);
	free(tiny);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct request_target t;
	struct rule rules[RULES_MAX];
	struct rule_view views[RULES_MAX];
	struct fields f;
	const char *method, *host, *uri, *err;
	size_t i, nrules = 0, small;
	int allow, want, matched;

	if (size < 1)
		return 0;
	small = 2 + data[0] % 64;
	fields_split(&f, data + 1, size - 1, '\0', 3 + RULES_MAX);
	method = field(&f, 0);
	host = field(&f, 1);
	uri = field(&f, 2);

	for (i = 3; i < f.n; i++) {
		enum rule_action a = (f.v[i][0] == 'a' || f.v[i][0] == 'A')
		    ? RULE_ALLOW : RULE_DENY;
		const char *spec = f.v[i][0] ? f.v[i] + 1 : f.v[i];

		check_rule(a, spec);
		if (rule_parse(a, spec, &rules[nrules], &err) == 0) {
			record_rule_view(&rules[nrules], &views[nrules]);
			nrules++;
		}
	}
	if (uri != NULL)
		check_path(uri, small);
	check_host(host, small);

	request_target_init(&t, method, host, uri);
	if (!t.unsafe) {
		FUZZ_CHECK(uri != NULL && path_normalize(uri, t.path, sizeof t.path) == 0,
		    "safe target from an unsafe path");
		FUZZ_CHECK(t.nsegs <= PATH_SEGS_MAX, "nsegs");
		for (i = 0; i < t.nsegs; i++)
			FUZZ_CHECK(t.segs[i].n > 0 && t.segs[i].p >= t.path &&
			    t.segs[i].p + t.segs[i].n <= t.path + strlen(t.path),
			    "segment %zu outside the path", i);
	}

	/* first match wins; with an allow rule in the list, the default is deny */
	matched = 0;
	want = !t.unsafe; /* an unsafe path is denied even with no rules */
	if (nrules > 0) {
		int any_allow = 0;

		want = -1;
		for (i = 0; i < nrules && !t.unsafe; i++) {
			int m = ref_method(views[i].methods, t.method) &&
			    ref_host(views[i].host, t.host) &&
			    ref_glob(views[i].path, t.segs, t.nsegs);

			FUZZ_CHECK(m == rule_matches(&views[i], &t),
			    "rule %zu (%s %s%s) on \"%s\" host \"%s\" %s: matcher %d, reference %d",
			    i, views[i].methods, views[i].host, views[i].path, t.path, t.host,
			    t.method, rule_matches(&views[i], &t), m);
			if (views[i].action == RULE_ALLOW)
				any_allow = 1;
			if (m && !matched) {
				matched = 1;
				want = views[i].action == RULE_ALLOW;
			}
		}
		if (t.unsafe)
			want = 0;
		else if (!matched)
			want = !any_allow;
		for (i = 0; i < nrules && t.host_invalid; i++)
			if (views[i].host[0] != '\0')
				want = 0; /* a host too bad to compare, and a host rule */
	}
	FUZZ_CHECK(t.host_invalid == (host_normalize(host, t.host, sizeof t.host) != 0),
	    "host_invalid");
	allow = rules_allow(views, nrules, &t);
	FUZZ_CHECK(allow == want, "rules_allow %d, reference %d", allow, want);
	fields_free(&f);
	return 0;
}
