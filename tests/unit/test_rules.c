/*
 * test_rules.c - route rules: parsing, path and host normalisation, glob
 * matching, method and host matching, list semantics, and attempts to
 * get past a deny rule.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "rules.h"
#include "tap.h"

static struct request_target T;

static void
target(const char *method, const char *host, const char *uri)
{
	request_target_init(&T, method, host, uri);
}

static void
test_rule_parse(void)
{
	static const struct {
		const char *spec, *methods, *host, *path;
	} good[] = {
		{"GET /v1/*", "GET", "", "/v1/*"},
		{"* /admin/**", "*", "", "/admin/**"},
		{"POST hooks.example.com/hooks/*", "POST", "hooks.example.com", "/hooks/*"},
		{"/v1/*", "*", "", "/v1/*"},
		{"*", "*", "", "/**"},
		{"get,post /x", "GET,POST", "", "/x"},
		{"GET,HEAD,OPTIONS /x", "GET,HEAD,OPTIONS", "", "/x"},
		{"GET *.example.com/x", "GET", "*.example.com", "/x"},
		{"GET */x", "GET", "", "/x"},
		{"GET Api.Example.COM/x", "GET", "api.example.com", "/x"},
		{"  GET \t /x  ", "GET", "", "/x"},
		{"GET\t/x", "GET", "", "/x"},
		{"GET /", "GET", "", "/"},
		{"GET /v1/", "GET", "", "/v1/"},
		{"GET [::1]/x", "GET", "[::1]", "/x"},
		{"GET [FE80::1]/x", "GET", "[fe80::1]", "/x"},
		{"GET 10.0.0.1/x", "GET", "10.0.0.1", "/x"},
		{"GET *.Internal.Example.COM/x", "GET", "*.internal.example.com", "/x"},
		{"GET /a/**/b", "GET", "", "/a/**/b"},
		{"GET /*.json", "GET", "", "/*.json"},
		{"GET /a*b*c", "GET", "", "/a*b*c"},
		{"DELETE /users/*/keys/*", "DELETE", "", "/users/*/keys/*"},
		{"GET /v1/~user/a-b_c.d", "GET", "", "/v1/~user/a-b_c.d"},
	};
	static const char *bad[] = {
		"", "   ", "GET", "GET ", "v1", "GET v1", "GET //x", "GET /a//b",
		"GET /a/./b", "GET /a/../b", "GET /.", "GET /..", "GET /a/.",
		"GET /a%2fb", "GET /a%20b", "GET /a**", "GET /**a", "GET /a/***",
		"GET /a/b**/c", "GET /a?b", "GET /a#b", "GET /a;b", "GET /a\x01",
		"GET /a\x7f", "GET /caf\xc3\xa9", "G3T /x", "GET;POST /x", "GET, /x",
		",GET /x", "GET,,POST /x", "G\xc3\x89T /x", "- /x", "GET /x extra",
		"GET exa_mple.com/x", "GET ex*ample.com/x", "GET a*.example.com/x",
		"GET **.example.com/x", "GET ex\xc3\xa4mple.com/x", "GET a@b/x",
		/* a rule's host is what a request's host can be after host_normalize */
		"GET admin.example.com:8443/x", "GET admin.example.com:/x", "GET example.com./x",
		"GET *.example.com./x", "GET *.example.com:443/x", "GET [::1]:8443/x",
		"GET localhost:80/x", "GET a..b.com/x", "GET .example.com/x", "GET -a.example.com/x",
		"GET a-.example.com/x", "GET *./x", "GET *.*.example.com/x", "GET [::g]/x",
		"GET [::1/x", "GET [::1]]/x", "GET a.b.c.*/x",
	};
	struct rule r;
	const char *err;
	char buf[1200];
	size_t i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		err = NULL;
		is_int(rule_parse(RULE_ALLOW, good[i].spec, &r, &err), 0, "rule '%s' parses", good[i].spec);
		ok(r.action == RULE_ALLOW && strcmp(r.methods, good[i].methods) == 0 &&
		    strcmp(r.host, good[i].host) == 0 && strcmp(r.path, good[i].path) == 0,
		    "  as methods '%s' host '%s' path '%s' (got '%s' '%s' '%s')",
		    good[i].methods, good[i].host, good[i].path, r.methods, r.host, r.path);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err = NULL;
		is_int(rule_parse(RULE_DENY, bad[i], &r, &err), -1, "rule '%s' is refused", bad[i]);
		ok(err != NULL && *err != '\0', "  with a reason (%s)", err ? err : "none");
	}
	is_int(rule_parse(RULE_DENY, NULL, &r, &err), -1, "a NULL rule is refused");
	is_int(rule_parse(RULE_DENY, "DELETE /x", &r, &err), 0, "deny rule");
	is_int(r.action, RULE_DENY, "deny rule has action deny");

	/* lengths: path < RULE_PATH_MAX, host < RULE_HOST_MAX, methods < RULE_METHODS_MAX */
	memset(buf, 0, sizeof buf);
	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', RULE_PATH_MAX - 2);
	is_int(rule_parse(RULE_ALLOW, buf, &r, &err), 0, "a %d-byte path pattern parses", RULE_PATH_MAX - 1);
	buf[5 + RULE_PATH_MAX - 2] = 'a';
	is_int(rule_parse(RULE_ALLOW, buf, &r, &err), -1, "a %d-byte path pattern is too long", RULE_PATH_MAX);
	/* a host of 253 bytes (labels of 63), and "*." before it */
	memset(buf, 0, sizeof buf);
	memcpy(buf, "GET *.", 6);
	for (i = 0; i < 4; i++) {
		memset(buf + 6 + i * 64, 'h', 63);
		buf[6 + i * 64 + 63] = '.';
	}
	buf[6 + 3 * 64 + 61] = '\0'; /* 4 * 64 - 3 = 253 bytes */
	strcat(buf, "/x");
	is_int(rule_parse(RULE_ALLOW, buf, &r, &err), 0, "a 253-byte host under *. parses");
	is_int((int)strlen(r.host), 255, "  and is kept whole");
	memmove(buf + 6, buf + 5, strlen(buf + 5) + 1);
	buf[6] = 'h'; /* 254 bytes */
	is_int(rule_parse(RULE_ALLOW, buf, &r, &err), -1, "a 254-byte host is too long");
	memset(buf, 0, sizeof buf);
	memcpy(buf, "GET ", 4);
	memset(buf + 4, 'h', 64);
	strcat(buf, ".example.com/x");
	is_int(rule_parse(RULE_ALLOW, buf, &r, &err), -1, "a 64-byte label is refused");
	memmove(buf + 4, buf + 5, strlen(buf + 5) + 1);
	is_int(rule_parse(RULE_ALLOW, buf, &r, &err), 0, "a 63-byte label parses");
	is_int(rule_parse(RULE_ALLOW, "GET admin.example.com:8443/x", &r, &err), -1,
	    "a host with a port is refused (it could never match)");
	ok(err != NULL && strstr(err, "port") != NULL, "  saying so (%s)", err ? err : "");
	is_int(rule_parse(RULE_ALLOW, "GET example.com./x", &r, &err), -1,
	    "a host with a trailing dot is refused (it could never match)");
	ok(err != NULL && strstr(err, "trailing dot") != NULL, "  saying so (%s)", err ? err : "");
	is_int(rule_parse(RULE_ALLOW, "GET v1/items", &r, &err), -1,
	    "'GET v1/items' is a path missing its slash, not a host v1");
	is_int(rule_parse(RULE_ALLOW, "GET localhost/x", &r, &err), 0, "localhost is a host");
	is_int(rule_parse(RULE_ALLOW, "GET [::1]/x", &r, &err), 0, "[::1] is a host");
	memset(buf, 0, sizeof buf);
	memcpy(buf, "GET ", 4);
	memset(buf + 4, 'h', RULE_HOST_MAX);
	strcat(buf, "/x");
	is_int(rule_parse(RULE_ALLOW, buf, &r, &err), -1, "a %d-byte host is too long", RULE_HOST_MAX);
	memset(buf, 0, sizeof buf);
	memset(buf, 'A', RULE_METHODS_MAX - 1);
	strcat(buf, " /x");
	is_int(rule_parse(RULE_ALLOW, buf, &r, &err), 0, "a %d-byte method list parses", RULE_METHODS_MAX - 1);
	memset(buf, 0, sizeof buf);
	memset(buf, 'A', RULE_METHODS_MAX);
	strcat(buf, " /x");
	is_int(rule_parse(RULE_ALLOW, buf, &r, &err), -1, "a %d-byte method list is too long", RULE_METHODS_MAX);

	rule_format(RULE_ALLOW, "GET", "api.example.com", "/v1/*", buf, sizeof buf);
	is_str(buf, "allow GET api.example.com/v1/*", "rule_format");
	rule_format(RULE_DENY, "*", "", "/admin/**", buf, sizeof buf);
	is_str(buf, "deny * /admin/**", "rule_format without a host");
}

static const char *
norm(const char *uri)
{
	static char out[PATH_NORM_MAX];

	if (path_normalize(uri, out, sizeof out) != 0)
		return "UNSAFE";
	return out;
}

static void
test_path_normalize(void)
{
	static const struct { const char *in, *want; } cases[] = {
		{"/", "/"},
		{"/a", "/a"},
		{"/a/", "/a"},
		{"/a//b/", "/a/b"},
		{"/v1/../admin", "/admin"},
		{"//admin", "/admin"},
		{"///admin///x", "/admin/x"},
		{"/v1/%2e%2e/admin", "/admin"},
		{"/v1/%2E%2e/admin", "/admin"},
		{"/v1/.%2e/admin", "/admin"},
		{"/v1/%2e./admin", "/admin"},
		{"/%2e/admin", "/admin"},
		{"/./a/./b", "/a/b"},
		{"/a/b/..", "/a"},
		{"/a/b/../..", "/"},
		{"/a/b/../../..", "/"},
		{"/..", "/"},
		{"/../../a", "/a"},
		{"/a/../../../b/c", "/b/c"},
		{"/a/b/c/../../d", "/a/d"},
		{"/a?x=1", "/a"},
		{"/a?x=/../b", "/a"},
		{"/a?%zz", "/a"},
		{"/a?x=%00", "/a"},
		{"/a#frag", "/a"},
		{"/a/#/..", "/a"},
		{"/a;jsessionid=x", "/a"},
		{"/a;jsessionid=x/b", "/a/b"},
		{"/admin;x", "/admin"},
		{"/v1/..;/admin", "/admin"},
		{"/v1/..;x=y/admin", "/admin"},
		{"/v1/.;/admin", "/v1/admin"},
		{"http://host/x", "/x"},
		{"HTTPS://host:443/x/y?q=1", "/x/y"},
		{"http://host/../admin", "/admin"},
		{"/%61dmin", "/admin"},
		{"/%2525", "/%25"},
		{"/a%20b", "/a b"},
		{"/caf%C3%A9", "/caf\xc3\xa9"},
		{"/a%3Fb", "/a?b"},
		{"/%2F", "UNSAFE"},
		{"/a%2fb", "UNSAFE"},
		{"/a%2F..%2F..%2Fadmin", "UNSAFE"},
		{"/%00", "UNSAFE"},
		{"/a%00.json", "UNSAFE"},
		{"/a%0a", "UNSAFE"},
		{"/a%0D", "UNSAFE"},
		{"/a%7f", "UNSAFE"},
		{"/a%1f", "UNSAFE"},
		{"/a\x01", "UNSAFE"},
		{"/a\tb", "UNSAFE"},
		{"/%zz", "UNSAFE"},
		{"/%4", "UNSAFE"},
		{"/%", "UNSAFE"},
		{"/a%g0", "UNSAFE"},
		{"/a%0", "UNSAFE"},
		{"", "UNSAFE"},
		{"a/b", "UNSAFE"},
		{"*", "UNSAFE"},
		{"?x", "UNSAFE"},
	};
	char *big;
	size_t i, n;
	char out[16];

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		is_str(norm(cases[i].in), cases[i].want, "normalise '%s'", cases[i].in);
	is_str(uri_path_start("http://host:8080/keygate/v1?x"), "/keygate/v1?x", "uri_path_start: absolute form");
	is_str(uri_path_start("HTTPS://h/"), "/", "uri_path_start: scheme in upper case");
	is_str(uri_path_start("http://h?x"), "?x", "uri_path_start: no path");
	is_str(uri_path_start("http://"), "", "uri_path_start: nothing after the scheme");
	is_str(uri_path_start("/a/http://h/b"), "/a/http://h/b", "uri_path_start: origin form as is");
	is_str(uri_path_start("ftp://h/x"), "ftp://h/x", "uri_path_start: only http and https");
	is_int(path_normalize(NULL, out, sizeof out), -1, "NULL uri");
	is_int(path_normalize("/abc", out, 1), -1, "cap 1");
	is_int(path_normalize("/a/b/c/d/e/f/gh", out, sizeof out), 0, "15 bytes fit 16");
	is_str(out, "/a/b/c/d/e/f/gh", "exact fit");
	is_int(path_normalize("/a/b/c/d/e/f/ghi", out, sizeof out), -1, "16 bytes do not fit 16");

	big = malloc(3 * PATH_NORM_MAX);
	if (big == NULL)
		abort();
	/* long paths */
	big[0] = '/';
	memset(big + 1, 'a', 4000);
	big[4001] = '\0';
	is_int(strlen(norm(big)), 4001, "a 4001-byte path is fine");
	memset(big + 1, 'a', PATH_NORM_MAX + 808);
	big[PATH_NORM_MAX + 809] = '\0';
	is_str(norm(big), "UNSAFE", "a 9001-byte path is unsafe");
	for (n = 0; n < 230 * 40; n += 40) {
		big[n] = '/';
		memset(big + n + 1, 'b', 39);
	}
	big[n] = '\0';
	is_str(norm(big), "UNSAFE", "a path of %zu bytes in 230 segments is unsafe", n);
	/* 8 KiB of path that normalises to almost nothing */
	for (n = 0; n + 3 < PATH_NORM_MAX + 1000; n += 2)
		memcpy(big + n, "/.", 2);
	strcpy(big + n, "/admin");
	is_str(norm(big), "UNSAFE", "a path longer than 8 KiB is unsafe even if it normalises short (%zu bytes)",
	    strlen(big));
	/* a long query does not make the path long */
	strcpy(big, "/a?");
	memset(big + 3, 'q', PATH_NORM_MAX + 1000);
	big[PATH_NORM_MAX + 1003] = '\0';
	is_str(norm(big), "/a", "a 9 KiB query string is not part of the path");
	/* segment count */
	for (n = 0; n < 2 * PATH_SEGS_MAX; n += 2)
		memcpy(big + n, "/s", 2);
	big[n] = '\0';
	is_int(strlen(norm(big)), 2 * PATH_SEGS_MAX, "%d segments are fine", PATH_SEGS_MAX);
	strcpy(big + n, "/s");
	is_str(norm(big), "UNSAFE", "%d segments are unsafe", PATH_SEGS_MAX + 1);
	free(big);
}

static void
test_host_normalize(void)
{
	static const struct { const char *in, *want; } cases[] = {
		{"example.com", "example.com"},
		{"Example.COM", "example.com"},
		{"example.com:8080", "example.com"},
		{"example.com:", "example.com"},
		{"EXAMPLE.com.:443", "example.com"},
		{"example.com.", "example.com"},
		{"[::1]:8080", "[::1]"},
		{"[::1]", "[::1]"},
		{"[::1]:", "[::1]"},
		{"[FE80::1]:443", "[fe80::1]"},
		{"[::ffff:10.0.0.1]", "[::ffff:10.0.0.1]"},
		{"127.0.0.1:80", "127.0.0.1"},
		{"localhost", "localhost"},
		{"a-b.x9.example", "a-b.x9.example"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
	};
	/* never truncated, never guessed at: refused, out = "" */
	static const char *const refused[] = {
		"", ":80", ".", "..", "example.com..", ".example.com", "a..b", "-a.com", "a-.com",
		"a.-b.com", "a_b.example.com", "_", "*.example.com", "exa mple.com", "ex\xc3\xa4mple.com",
		"example.com:80:80", "example.com:8o", "example.com:123456", "example.com/x",
		"a@example.com", "a,b", "api.example.com, db.internal.example.com", "[::1", "[::1]x",
		"[::1]:x", "[]", "[::g]", "[1.2.3.4]", "[fe80::1%eth0]", "::1", "\x01a.com",
		"a.com\x7f",
	};
	char out[RULE_HOST_MAX], big[600];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		is_int(host_normalize(cases[i].in, out, sizeof out), 0, "host '%s' is valid", cases[i].in);
		is_str(out, cases[i].want, "  as '%s'", cases[i].want);
	}
	for (i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		strcpy(out, "x");
		is_int(host_normalize(refused[i], out, sizeof out), -1, "host '%s' is refused", refused[i]);
		is_str(out, "", "  and empty");
	}
	is_int(host_normalize(NULL, out, sizeof out), -1, "no host is refused");
	is_str(out, "", "  and empty");

	/* the review's host: 4 labels of 60 and db.internal.example.com, 267 bytes */
	big[0] = '\0';
	for (i = 0; i < 4; i++) {
		memset(big + strlen(big), 'a', 60);
		big[i * 61 + 60] = '\0';
		strcat(big, ".");
	}
	strcat(big, "db.internal.example.com");
	is_int((int)strlen(big), 267, "a 267-byte host");
	is_int(host_normalize(big, out, sizeof out), -1, "  is refused, not cut to 255 bytes");
	is_str(out, "", "  and empty");
	/* 253 bytes fine, 254 not, with or without a port or a trailing dot */
	memset(big, 0, sizeof big);
	for (i = 0; i < 4; i++) {
		memset(big + i * 64, 'h', 63);
		big[i * 64 + 63] = '.';
	}
	big[253] = '\0';
	is_int(host_normalize(big, out, sizeof out), 0, "a 253-byte host is valid");
	is_int((int)strlen(out), 253, "  whole");
	strcat(big, ".:443");
	is_int(host_normalize(big, out, sizeof out), 0, "  with a trailing dot and a port");
	is_int((int)strlen(out), 253, "  whole");
	big[253] = '\0';
	big[252] = 'h';
	strcat(big, "h");
	is_int(host_normalize(big, out, sizeof out), -1, "a 254-byte host is refused");
	ok(host_valid("a.b", 3) && !host_valid("a.b", 0) && !host_valid("A.b", 3),
	    "host_valid: lower case names only, never empty");
}

/* Matches pattern against the normalised uri. */
static int
gm(const char *pattern, const char *uri)
{
	target("GET", "h", uri);
	if (T.unsafe)
		return -1;
	return path_glob_match(pattern, T.segs, T.nsegs);
}

static void
test_glob(void)
{
	static const struct { const char *pat, *uri; int want; } cases[] = {
		{"/v1/*", "/v1/x", 1},
		{"/v1/*", "/v1/x/", 1},
		{"/v1/*", "/v1/x/y", 0},
		{"/v1/*", "/v1", 0},
		{"/v1/*", "/v1/", 0},
		{"/v1/*", "/v2/x", 0},
		{"/v1/**", "/v1", 1},
		{"/v1/**", "/v1/", 1},
		{"/v1/**", "/v1/a", 1},
		{"/v1/**", "/v1/a/b/c", 1},
		{"/v1/**", "/v10", 0},
		{"/v1/**", "/v2/a", 0},
		{"/v1/**", "/", 0},
		{"/a/**/b", "/a/b", 1},
		{"/a/**/b", "/a/x/b", 1},
		{"/a/**/b", "/a/x/y/b", 1},
		{"/a/**/b", "/a/b/b/b", 1},
		{"/a/**/b", "/a/b/c", 0},
		{"/a/**/b", "/a/x/y", 0},
		{"/a/**/b", "/b", 0},
		{"/a/**/b", "/a", 0},
		{"/**", "/", 1},
		{"/**", "/a/b/c", 1},
		{"/", "/", 1},
		{"/", "/a", 0},
		{"/v1/", "/v1", 1},
		{"/v1/", "/v1/", 1},
		{"/v1", "/v1/", 1},
		{"/*.json", "/a.json", 1},
		{"/*.json", "/.json", 1},
		{"/*.json", "/a/b.json", 0},
		{"/*.json", "/a.jsonx", 0},
		{"/a*b*c", "/abc", 1},
		{"/a*b*c", "/aXbYc", 1},
		{"/a*b*c", "/abbcbc", 1},
		{"/a*b*c", "/acb", 0},
		{"/a*b*c", "/abcd", 0},
		{"/*", "/anything", 1},
		{"/*", "/", 0},
		{"/users/*/keys", "/users/42/keys", 1},
		{"/users/*/keys", "/users/42/43/keys", 0},
		{"/**/*.png", "/a/b/c.png", 1},
		{"/**/*.png", "/c.png", 1},
		{"/**/*.png", "/c.png/x", 0},
		{"/**/x/**", "/x", 1},
		{"/**/x/**", "/a/x/b", 1},
		{"/**/x/**", "/a/y/b", 0},
		{"/**/**", "/", 1},
		{"/a/**/**/b", "/a/b", 1},
		{"/a/**/b/**/c", "/a/b/x/b/c", 1},
		{"/a/**/b/**/c", "/a/c/b", 0},
		{"/Admin", "/admin", 0},
	};
	char pat[600], uri[8100];
	size_t i, n;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		is_int(gm(cases[i].pat, cases[i].uri), cases[i].want, "glob '%s' %s '%s'",
		    cases[i].pat, cases[i].want ? "matches" : "does not match", cases[i].uri);

	/* pathological patterns finish, and right */
	strcpy(pat, "");
	for (i = 0; i < 40; i++)
		strcat(pat, "/**/a");
	strcat(pat, "/**/b");
	strcpy(uri, "");
	for (i = 0; i < 200; i++)
		strcat(uri, "/a");
	is_int(gm(pat, uri), 0, "(/**/a)x40/**/b does not match (/a)x200");
	strcat(uri, "/b");
	is_int(gm(pat, uri), 1, "(/**/a)x40/**/b matches (/a)x200/b");
	strcpy(pat, "/");
	for (i = 0; i < 100; i++)
		strcat(pat, "*a");
	strcat(pat, "*b");
	uri[0] = '/';
	memset(uri + 1, 'a', 8000);
	uri[8001] = '\0';
	is_int(gm(pat, uri), 0, "/(*a)x100*b does not match an 8000-a segment");
	uri[8000] = 'b';
	is_int(gm(pat, uri), 1, "/(*a)x100*b matches 7999 a's and a b");
	n = 0;
	for (i = 0; i < 250; i++) {
		memcpy(uri + n, "/x", 2);
		n += 2;
	}
	uri[n] = '\0';
	strcpy(pat, "/**/*/*/*/*/*/*/*/*/y");
	is_int(gm(pat, uri), 0, "/**/*x8/y does not match 250 x segments");
	strcpy(pat, "/**/*/*/*/*/*/*/*/*/x");
	is_int(gm(pat, uri), 1, "/**/*x8/x matches 250 x segments");
}

/* A plain recursive glob, exponential but obviously right, for small inputs. */
static int
ref_seg(const char *p, size_t pn, const char *s, size_t sn)
{
	if (pn == 0)
		return sn == 0;
	if (p[0] == '*')
		return ref_seg(p + 1, pn - 1, s, sn) ||
		    (sn > 0 && ref_seg(p, pn, s + 1, sn - 1));
	return sn > 0 && p[0] == s[0] && ref_seg(p + 1, pn - 1, s + 1, sn - 1);
}

static int
ref_path(const struct seg *p, size_t np, const struct seg *s, size_t ns)
{
	if (np == 0)
		return ns == 0;
	if (p[0].n == 2 && p[0].p[0] == '*' && p[0].p[1] == '*')
		return ref_path(p + 1, np - 1, s, ns) ||
		    (ns > 0 && ref_path(p, np, s + 1, ns - 1));
	return ns > 0 && ref_seg(p[0].p, p[0].n, s[0].p, s[0].n) &&
	    ref_path(p + 1, np - 1, s + 1, ns - 1);
}

static void
test_glob_against_reference(void)
{
	static const char *psegs[] = {"a", "b", "*", "a*", "*b", "**", "ab", "*a*", "**"};
	static const char *ssegs[] = {"a", "b", "ab", "ba", "aa", "bb", "aab", "bab"};
	static struct request_target pt;
	unsigned seed = 4242;
	char pat[128], uri[128];
	int i, bad = 0, matches = 0;

	for (i = 0; i < 30000; i++) {
		int np, ns, k;
		int got, want;

		seed = seed * 1103515245u + 12345u;
		np = (int)(seed >> 16) % 6;
		seed = seed * 1103515245u + 12345u;
		ns = (int)(seed >> 16) % 7;
		pat[0] = uri[0] = '\0';
		for (k = 0; k < np; k++) {
			seed = seed * 1103515245u + 12345u;
			strcat(pat, "/");
			strcat(pat, psegs[(seed >> 16) % (sizeof psegs / sizeof psegs[0])]);
		}
		if (np == 0)
			strcpy(pat, "/");
		for (k = 0; k < ns; k++) {
			seed = seed * 1103515245u + 12345u;
			strcat(uri, "/");
			strcat(uri, ssegs[(seed >> 16) % (sizeof ssegs / sizeof ssegs[0])]);
		}
		if (ns == 0)
			strcpy(uri, "/");
		target("GET", "", uri);
		/* split the pattern the same way a path is split */
		request_target_init(&pt, "GET", "", pat);
		got = path_glob_match(pat, T.segs, T.nsegs);
		want = ref_path(pt.segs, pt.nsegs, T.segs, T.nsegs);
		matches += want;
		if (got != want && bad++ < 5)
			diag("pattern %s path %s: got %d want %d", pat, uri, got, want);
	}
	is_int(bad, 0, "path_glob_match agrees with a recursive reference on 30000 random cases (%d matches)",
	    matches);
}

static int
allowed(const struct rule_view *v, size_t n, const char *method, const char *host,
    const char *uri)
{
	target(method, host, uri);
	return rules_allow(v, n, &T);
}

/* Parses specs ("allow GET /x" / "deny /y") into rules and views. */
static size_t
build(const char *const *specs, struct rule *rules, struct rule_view *views)
{
	size_t n = 0;
	const char *err;

	for (; specs[n] != NULL; n++) {
		int deny = strncmp(specs[n], "deny ", 5) == 0;
		if (rule_parse(deny ? RULE_DENY : RULE_ALLOW, specs[n] + (deny ? 5 : 6),
		    &rules[n], &err) != 0) {
			diag("bad test rule %s: %s", specs[n], err);
			abort();
		}
		views[n].action = rules[n].action;
		views[n].methods = rules[n].methods;
		views[n].host = rules[n].host;
		views[n].path = rules[n].path;
	}
	return n;
}

static void
test_methods_hosts(void)
{
	static const char *const get[] = {"allow GET /**", NULL};
	static const char *const list[] = {"allow GET,POST /**", NULL};
	static const char *const head[] = {"allow HEAD /**", NULL};
	static const char *const post[] = {"allow POST /**", NULL};
	static const char *const any[] = {"allow * /**", NULL};
	static const char *const wild[] = {"allow GET *.example.com/**", NULL};
	static const char *const exact[] = {"allow api.example.com/**", NULL};
	struct rule r[4];
	struct rule_view v[4];
	size_t n;

	n = build(get, r, v);
	ok(allowed(v, n, "GET", "h", "/x"), "GET rule: GET");
	ok(allowed(v, n, "get", "h", "/x"), "GET rule: get (case-insensitive)");
	ok(allowed(v, n, "HEAD", "h", "/x"), "GET rule: HEAD");
	ok(allowed(v, n, "head", "h", "/x"), "GET rule: head");
	ok(!allowed(v, n, "POST", "h", "/x"), "GET rule: not POST");
	ok(!allowed(v, n, "GETX", "h", "/x"), "GET rule: not GETX");
	ok(!allowed(v, n, "GE", "h", "/x"), "GET rule: not GE");
	ok(!allowed(v, n, "", "h", "/x"), "GET rule: not an empty method");
	ok(!allowed(v, n, NULL, "h", "/x"), "GET rule: not a missing method");
	n = build(list, r, v);
	ok(allowed(v, n, "POST", "h", "/x"), "GET,POST rule: POST");
	ok(allowed(v, n, "GET", "h", "/x"), "GET,POST rule: GET");
	ok(allowed(v, n, "HEAD", "h", "/x"), "GET,POST rule: HEAD");
	ok(!allowed(v, n, "PUT", "h", "/x"), "GET,POST rule: not PUT");
	ok(!allowed(v, n, "GET,POST", "h", "/x"), "GET,POST rule: not the method 'GET,POST'");
	n = build(head, r, v);
	ok(!allowed(v, n, "GET", "h", "/x"), "HEAD rule: not GET");
	n = build(post, r, v);
	ok(!allowed(v, n, "HEAD", "h", "/x"), "POST rule: not HEAD");
	n = build(any, r, v);
	ok(allowed(v, n, "PROPFIND", "h", "/x"), "* rule: any method");
	ok(allowed(v, n, "", "h", "/x"), "* rule: even an empty one");

	n = build(wild, r, v);
	ok(allowed(v, n, "GET", "a.example.com", "/x"), "*.example.com: a.example.com");
	ok(allowed(v, n, "GET", "a.b.example.com", "/x"), "*.example.com: a.b.example.com");
	ok(allowed(v, n, "GET", "A.Example.COM:8443", "/x"), "*.example.com: A.Example.COM:8443");
	ok(allowed(v, n, "GET", "a.example.com.", "/x"), "*.example.com: a.example.com.");
	ok(!allowed(v, n, "GET", "example.com", "/x"), "*.example.com: not example.com");
	ok(!allowed(v, n, "GET", ".example.com", "/x"), "*.example.com: not .example.com");
	ok(!allowed(v, n, "GET", "badexample.com", "/x"), "*.example.com: not badexample.com");
	ok(!allowed(v, n, "GET", "a.example.com.evil.org", "/x"), "*.example.com: not a.example.com.evil.org");
	ok(!allowed(v, n, "GET", "a.example.co", "/x"), "*.example.com: not a.example.co");
	ok(!allowed(v, n, "GET", NULL, "/x"), "*.example.com: not without a host");
	n = build(exact, r, v);
	ok(!allowed(v, n, "GET", "api.example.com:80:80", "/x"), "exact host: not with a bad port");
	ok(allowed(v, n, "GET", "api.example.com", "/x"), "exact host");
	ok(allowed(v, n, "GET", "API.example.com:443", "/x"), "exact host, case and port");
	ok(!allowed(v, n, "GET", "x.api.example.com", "/x"), "exact host: not a subdomain");
	ok(!allowed(v, n, "GET", "api.example.com.evil", "/x"), "exact host: not a longer name");
}

static void
test_lists(void)
{
	static const char *const deny_only[] = {"deny * /admin/**", "deny DELETE /**", NULL};
	static const char *const allow_list[] = {"allow GET /v1/**", "allow POST /v1/hooks/*", NULL};
	static const char *const first_deny[] = {"deny * /v1/secret/**", "allow * /v1/**", NULL};
	static const char *const first_allow[] = {"allow * /v1/**", "deny * /v1/secret/**", NULL};
	static const char *const bypass[] = {"deny * /admin/**", "allow * /**", NULL};
	static const char *const hooks[] = {"allow POST hooks.example.com/hooks/*", NULL};
	struct rule r[4];
	struct rule_view v[4];
	size_t n, i;

	ok(allowed(NULL, 0, "GET", "h", "/anything"), "an empty list allows");
	ok(allowed(NULL, 0, "DELETE", "h", "/admin"), "an empty list allows anything");

	n = build(deny_only, r, v);
	ok(allowed(v, n, "GET", "h", "/v1/x"), "deny-only list allows what it does not match");
	ok(!allowed(v, n, "GET", "h", "/admin/x"), "deny-only list denies what it matches");
	ok(!allowed(v, n, "DELETE", "h", "/v1/x"), "deny-only list denies DELETE");
	ok(!allowed(v, n, "GET", "h", "/a%2Fb"), "deny-only list denies an unsafe path");

	n = build(allow_list, r, v);
	ok(allowed(v, n, "GET", "h", "/v1/x"), "allow list allows a match");
	ok(allowed(v, n, "HEAD", "h", "/v1/x"), "allow list allows HEAD by GET");
	ok(allowed(v, n, "POST", "h", "/v1/hooks/a"), "allow list allows the second rule");
	ok(!allowed(v, n, "POST", "h", "/v1/x"), "allow list denies a non-match (method)");
	ok(!allowed(v, n, "GET", "h", "/v2/x"), "allow list denies a non-match (path)");
	ok(!allowed(v, n, "GET", "h", "/"), "allow list denies /");

	n = build(first_deny, r, v);
	ok(!allowed(v, n, "GET", "h", "/v1/secret/x"), "first match wins: deny before allow");
	ok(allowed(v, n, "GET", "h", "/v1/public"), "the allow after it still allows");
	n = build(first_allow, r, v);
	ok(allowed(v, n, "GET", "h", "/v1/secret/x"), "first match wins: allow before deny");

	n = build(hooks, r, v);
	ok(allowed(v, n, "POST", "hooks.example.com", "/hooks/gh"), "webhook token: its one request");
	ok(!allowed(v, n, "POST", "api.example.com", "/hooks/gh"), "webhook token: another host");
	ok(!allowed(v, n, "GET", "hooks.example.com", "/hooks/gh"), "webhook token: another method");
	ok(!allowed(v, n, "POST", "hooks.example.com", "/hooks/gh/x"), "webhook token: a deeper path");
	ok(!allowed(v, n, "POST", "hooks.example.com", "/hooks/../admin"), "webhook token: dot-dot out");

	/* "deny * /admin/..." then "allow * /...": attempts to reach /admin */
	n = build(bypass, r, v);
	{
		static const char *const denied[] = {
			"/admin", "/admin/", "/admin/x/y", "//admin", "/v1/../admin",
			"/%61dmin", "/%61%64%6d%69%6e/x", "/admin%2Fx", "/./admin", "/admin;x",
			"/admin;/x", "/v1/..;/admin", "/v1/%2e%2e/admin", "/v1/%2E%2E/admin",
			"/%2e/admin", "/admin?x=1", "/admin#x", "http://evil.example/admin",
			"/admin%00", "/admin%00.png", "/x/%2e%2e/admin", "/x/..%2fadmin",
			"/admin/..%2f..%2fx", "///admin", "/a/b/../../admin", "/../admin",
		};
		static const char *const allowed_paths[] = {
			"/", "/v1/admin", "/administrator", "/admi", "/x/admin",
			"/admin/../v1", "/ADMIN", "/Admin",
		};
		for (i = 0; i < sizeof denied / sizeof denied[0]; i++)
			ok(!allowed(v, n, "GET", "h", denied[i]), "deny /admin/**: '%s' is denied", denied[i]);
		/*
		 * Paths are case-sensitive (RFC 3986 section 6.2.2.1): /ADMIN is
		 * another resource as far as the rules go; an operator whose
		 * backend folds case must deny both spellings.
		 */
		for (i = 0; i < sizeof allowed_paths / sizeof allowed_paths[0]; i++)
			ok(allowed(v, n, "GET", "h", allowed_paths[i]), "deny /admin/**: '%s' is allowed",
			    allowed_paths[i]);
	}
}

/*
 * Host rules and hosts that cannot be examined: a deny rule on a host must
 * not be walked around by a host too long, empty or malformed to match.
 */
static void
test_bad_hosts(void)
{
	static const char *const deny_internal[] = {"deny * *.internal.example.com/**", NULL};
	static const char *const no_host_rules[] = {"deny * /admin/**", NULL};
	static const char *const allow_api[] = {"allow api.example.com/**", NULL};
	static const char *const hosts[] = {
		NULL, "", "_", "a_b.internal.example.com", "db.internal.example.com..",
		"db.internal.example.com:x", "api.example.com, db.internal.example.com",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.db.internal.example.com",
	};
	struct rule r[4];
	struct rule_view v[4];
	size_t n, i;

	n = build(deny_internal, r, v);
	ok(!allowed(v, n, "GET", "db.internal.example.com", "/v1/x"), "deny *.internal: the host");
	ok(allowed(v, n, "GET", "api.example.com", "/v1/x"), "deny *.internal: another host");
	for (i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
		target("GET", hosts[i], "/v1/x");
		is_int(rules_check(v, n, &T), RULES_BAD_HOST, "deny *.internal: host '%.40s%s' (%zu bytes) is refused",
		    hosts[i] ? hosts[i] : "(none)", hosts[i] && strlen(hosts[i]) > 40 ? "..." : "",
		    hosts[i] ? strlen(hosts[i]) : 0);
	}
	n = build(allow_api, r, v);
	target("GET", NULL, "/v1/x");
	is_int(rules_check(v, n, &T), RULES_BAD_HOST, "allow api.example.com: no host is refused");
	n = build(no_host_rules, r, v);
	for (i = 0; i < sizeof hosts / sizeof hosts[0]; i++)
		ok(allowed(v, n, "GET", hosts[i], "/v1/x"),
		    "rules without a host do not examine it: host %zu", i);
	target("GET", "", "/admin/x");
	is_int(rules_check(v, n, &T), RULES_DENY, "  and still deny by path");
	target("GET", "h", "/a%2Fb");
	is_int(rules_check(v, n, &T), RULES_BAD_PATH, "an unsafe path is RULES_BAD_PATH");
	ok(!rules_have_host(v, n) && rules_have_host(r == NULL ? NULL : v, 0) == 0,
	    "rules_have_host: no host rule");
	n = build(deny_internal, r, v);
	ok(rules_have_host(v, n), "rules_have_host: a host rule");
}

int
main(void)
{
	test_rule_parse();
	test_path_normalize();
	test_host_normalize();
	test_glob();
	test_glob_against_reference();
	test_methods_hosts();
	test_lists();
	test_bad_hosts();
	return done_testing();
}
