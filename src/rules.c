/*
 * rules.c - route rule parsing, path normalisation and glob matching.
 *
 * Matching is segment-wise: pattern and path are both split at "/"; a
 * "*" inside a segment never crosses a "/", a "**" segment stands for zero
 * or more whole segments.  Both levels use the
 * classic greedy wildcard walk with one backtrack point, which is exact
 * when a level has one kind of wildcard and bounded by O(n * m).
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rules.h"
#include "parse.h"

static int
is_method_char(char c)
{
	return c >= 'A' && c <= 'Z';
}

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int
parse_methods(const char *s, size_t len, char *out, const char **err)
{
	size_t i, tok = 0, ntok = 0;

	*err = "methods must be * or a comma list such as GET,POST";
	if (len == 1 && s[0] == '*') {
		memcpy(out, "*", 2);
		return 0;
	}
	if (len == 0 || len >= RULE_METHODS_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		char c = s[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c == ',') {
			if (tok == 0)
				return -1;
			tok = 0;
		} else if (is_method_char(c)) {
			if (tok++ == 0)
				ntok++;
		} else {
			return -1;
		}
		out[i] = c;
	}
	if (tok == 0)
		return -1;
	out[len] = '\0';
	return 0;
}

static int
check_path_pattern(const char *p, const char **err)
{
	const char *seg = p + 1;

	if (p[0] != '/') {
		*err = "path must start with /";
		return -1;
	}
	for (;;) {
		const char *end = strchr(seg, '/');
		size_t n = end ? (size_t)(end - seg) : strlen(seg);
		size_t i;

		if (n == 0 && end != NULL) {
			*err = "path must not contain // (paths are matched normalised)";
			return -1;
		}
		if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.')) {
			*err = "path must not contain . or .. segments (paths are matched normalised)";
			return -1;
		}
		for (i = 0; i < n; i++) {
			unsigned char c = (unsigned char)seg[i];
			if (c <= 0x20 || c >= 0x7f || c == '%' || c == '?' || c == '#' || c == ';') {
				*err = "path must be plain decoded characters (no %, ?, #, ; or spaces)";
				return -1;
			}
			if (c == '*' && i + 1 < n && seg[i + 1] == '*' && n != 2) {
				*err = "** must be a whole segment, as in /v1/** or /a/**/b";
				return -1;
			}
		}
		if (end == NULL)
			break;
		seg = end + 1;
	}
	return 0;
}

/*
 * A rule's host, lower-cased into out (RULE_HOST_MAX bytes): "*." and a
 * name, or a name.  It must be what a request's host can be once
 * host_normalize has taken its port and trailing dot away, so that no rule
 * is stored that could never match.
 */
static int
parse_rule_host(const char *s, size_t n, char *out, const char **err)
{
	size_t start = n >= 2 && s[0] == '*' && s[1] == '.' ? 2 : 0, i;
	int v6 = s[start] == '[';

	if (n >= RULE_HOST_MAX || n - start > HOST_MAX) {
		*err = "host too long (a name has at most 253 bytes)";
		return -1;
	}
	for (i = 0; i < n; i++)
		out[i] = lower(s[i]);
	out[n] = '\0';
	if (n == start)
		goto invalid; /* "*." */
	if (v6 ? strstr(out, "]:") != NULL : memchr(out, ':', n) != NULL) {
		*err = "a rule's host takes no port (requests are matched without theirs)";
		return -1;
	}
	if (out[n - 1] == '.') {
		*err = "a rule's host takes no trailing dot (requests are matched without theirs)";
		return -1;
	}
	/*
	 * "GET v1/items" is a path missing its slash far more often than a
	 * host named v1: a host must look like one.
	 */
	if (start == 0 && !v6 && memchr(out, '.', n) == NULL && strcmp(out, "localhost") != 0) {
		*err = "path must start with / (a host must be a name with a dot, such as api.example.com)";
		return -1;
	}
	if (host_valid(out + start, n - start))
		return 0;
invalid:
	*err = "host must be a name such as api.example.com or *.example.com "
	    "(letters, digits, inner hyphens), or a bracketed IPv6 address";
	return -1;
}

int
rule_parse(enum rule_action action, const char *spec, struct rule *out,
    const char **err)
{
	const char *sp, *target;
	size_t tlen, hlen;

	memset(out, 0, sizeof *out);
	out->action = action;
	if (spec == NULL)
		spec = "";
	while (*spec == ' ' || *spec == '\t')
		spec++;
	/* A lone "*": any method, any host, any path. */
	if (strcmp(spec, "*") == 0) {
		memcpy(out->methods, "*", 2);
		memcpy(out->path, "/**", 4);
		return 0;
	}
	sp = strpbrk(spec, " \t");
	if (sp != NULL) {
		if (parse_methods(spec, (size_t)(sp - spec), out->methods, err) != 0)
			return -1;
		target = sp;
		while (*target == ' ' || *target == '\t')
			target++;
	} else {
		memcpy(out->methods, "*", 2);
		target = spec;
	}
	tlen = strlen(target);
	while (tlen > 0 && (target[tlen - 1] == ' ' || target[tlen - 1] == '\t'))
		tlen--;
	if (tlen == 0 || memchr(target, ' ', tlen) || memchr(target, '\t', tlen)) {
		*err = "rule must look like 'GET /v1/*' or 'POST api.example.com/hooks/*'";
		return -1;
	}
	hlen = 0;
	while (hlen < tlen && target[hlen] != '/')
		hlen++;
	if (hlen == tlen) {
		*err = "path must start with /";
		return -1;
	}
	/* a "*" host is any host, as no host is */
	if (hlen > 0 && !(hlen == 1 && target[0] == '*') &&
	    parse_rule_host(target, hlen, out->host, err) != 0)
		return -1;
	if (tlen - hlen >= RULE_PATH_MAX) {
		*err = "path too long";
		return -1;
	}
	memcpy(out->path, target + hlen, tlen - hlen);
	out->path[tlen - hlen] = '\0';
	return check_path_pattern(out->path, err);
}

int
rule_format(enum rule_action action, const char *methods, const char *host,
    const char *path, char *buf, size_t n)
{
	return snprintf(buf, n, "%s %s %s%s", action == RULE_ALLOW ? "allow" : "deny",
	    methods, host, path);
}


const char *
uri_path_start(const char *uri)
{
	const char *p = uri;

	if (strncasecmp(p, "http://", 7) == 0 || strncasecmp(p, "https://", 8) == 0) {
		p = strstr(p, "://") + 3;
		p += strcspn(p, "/?#");
	}
	return p;
}

int
path_normalize(const char *uri, char *out, size_t cap)
{
	size_t segstart[PATH_SEGS_MAX];
	size_t nseg = 0, o = 0;
	const char *p;

	if (uri == NULL || cap < 2)
		return -1;
	p = uri_path_start(uri);
	/* a path too long to check is refused, however short it normalises */
	if (*p != '/' || strcspn(p, "?#") >= PATH_NORM_MAX)
		return -1;
	out[o++] = '/';
	while (*p != '\0' && *p != '?' && *p != '#') {
		char seg[PATH_NORM_MAX];
		size_t n = 0;
		int params = 0;

		while (*p == '/')
			p++;
		/* decode one segment */
		while (*p != '\0' && *p != '/' && *p != '?' && *p != '#') {
			int c = (unsigned char)*p;
			if (c == '%') {
				int hi = parse_hexdigit(p[1]), lo;
				if (hi < 0 || (lo = parse_hexdigit(p[2])) < 0)
					return -1;
				c = hi << 4 | lo;
				if (c == '/')
					return -1; /* encoded slash */
				p += 3;
			} else {
				p++;
			}
			if (c < 0x20 || c == 0x7f)
				return -1; /* NUL and other controls */
			/* matrix parameters (";jsessionid=...") are not path */
			if (c == ';')
				params = 1;
			if (params)
				continue;
			if (n + 1 >= sizeof seg)
				return -1;
			seg[n++] = (char)c;
		}
		if (n == 0 || (n == 1 && seg[0] == '.'))
			continue;
		if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			if (nseg > 0)
				o = segstart[--nseg];
			continue;
		}
		if (nseg == PATH_SEGS_MAX || o + n + 2 > cap)
			return -1;
		segstart[nseg++] = o;
		if (o > 1)
			out[o++] = '/';
		memcpy(out + o, seg, n);
		o += n;
	}
	out[o] = '\0';
	return 0;
}

/* "[" IPv6 "]" in lower case, as inet_pton reads it. */
static int
ipv6_literal(const char *s, size_t n)
{
	char buf[INET6_ADDRSTRLEN];
	struct in6_addr a;
	size_t i;

	if (n < 4 || s[0] != '[' || s[n - 1] != ']' || n - 2 >= sizeof buf)
		return 0;
	for (i = 1; i + 1 < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':' || c == '.'))
			return 0;
		buf[i - 1] = c;
	}
	buf[n - 2] = '\0';
	return inet_pton(AF_INET6, buf, &a) == 1;
}

int
host_valid(const char *s, size_t n)
{
	size_t i, label = 0;

	if (n > 0 && s[0] == '[')
		return ipv6_literal(s, n);
	if (n == 0 || n > HOST_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		/* letters and digits first: nearly every byte is one */
		if ((unsigned)(c - 'a') < 26 || (unsigned)(c - '0') < 10 ||
		    (c == '-' && label > 0)) {
			if (++label > 63)
				return 0;
		} else if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0; /* an empty label, or one ending in '-' */
			label = 0;
		} else {
			return 0; /* upper case, '_', '*', a leading '-', anything else */
		}
	}
	return label > 0 && s[n - 1] != '-';
}

int
host_normalize(const char *host, char *out, size_t cap)
{
	const char *end, *port;
	size_t n, i;

	if (cap == 0)
		return -1;
	out[0] = '\0';
	if (host == NULL)
		return -1;
	/* the port follows an IPv6 literal's ']', else the first ':' */
	if (host[0] == '[') {
		if ((end = strchr(host, ']')) == NULL)
			return -1;
		end++;
	} else {
		end = host + strcspn(host, ":");
	}
	port = end;
	if (*port == ':') {
		for (i = 1; port[i] >= '0' && port[i] <= '9'; i++)
			;
		if (port[i] != '\0' || i > 6)
			return -1;
	} else if (*port != '\0') {
		return -1;
	}
	n = (size_t)(end - host);
	/* "api.example.com." is the same name, written absolute */
	if (n > 0 && host[n - 1] == '.')
		n--;
	if (n == 0 || n > HOST_MAX || n >= cap)
		return -1;
	for (i = 0; i < n; i++)
		out[i] = lower(host[i]);
	out[n] = '\0';
	if (!host_valid(out, n)) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

static size_t
split_path(const char *path, struct seg *segs, size_t max)
{
	size_t n = 0;
	const char *p = path;

	while (*p != '\0') {
		const char *s;
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		s = p;
		while (*p != '\0' && *p != '/')
			p++;
		if (n == max)
			return max + 1;
		segs[n].p = s;
		segs[n].n = (size_t)(p - s);
		n++;
	}
	return n;
}

void
request_target_init(struct request_target *t, const char *method,
    const char *host, const char *uri)
{
	size_t n;

	t->method = method ? method : "";
	t->host_invalid = host_normalize(host, t->host, sizeof t->host) != 0;
	t->nsegs = 0;
	t->unsafe = path_normalize(uri, t->path, sizeof t->path) != 0;
	if (t->unsafe)
		return;
	n = split_path(t->path, t->segs, PATH_SEGS_MAX);
	if (n > PATH_SEGS_MAX)
		t->unsafe = 1;
	else
		t->nsegs = n;
}

/* '*' matches any run of bytes within the segment. */
static int
seg_match(const char *p, size_t pn, const char *s, size_t sn)
{
	size_t pi = 0, si = 0, star = (size_t)-1, mark = 0;

	while (si < sn) {
		if (pi < pn && p[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < pn && p[pi] == s[si]) {
			pi++;
			si++;
		} else if (star != (size_t)-1) {
			pi = star + 1;
			si = ++mark;
		} else {
			return 0;
		}
	}
	while (pi < pn && p[pi] == '*')
		pi++;
	return pi == pn;
}

int
path_glob_match(const char *pattern, const struct seg *segs, size_t nsegs)
{
	struct seg pat[PATH_SEGS_MAX];
	size_t np = split_path(pattern, pat, PATH_SEGS_MAX);
	size_t pi = 0, si = 0, star = (size_t)-1, mark = 0;

	if (np > PATH_SEGS_MAX)
		return 0;
	while (si < nsegs) {
		if (pi < np && pat[pi].n == 2 && pat[pi].p[0] == '*' && pat[pi].p[1] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < np && seg_match(pat[pi].p, pat[pi].n, segs[si].p, segs[si].n)) {
			pi++;
			si++;
		} else if (star != (size_t)-1) {
			pi = star + 1;
			si = ++mark;
		} else {
			return 0;
		}
	}
	while (pi < np && pat[pi].n == 2 && pat[pi].p[0] == '*' && pat[pi].p[1] == '*')
		pi++;
	return pi == np;
}

static int
method_matches(const char *methods, const char *m)
{
	size_t mlen = strlen(m);
	const char *p = methods;

	if (strcmp(methods, "*") == 0)
		return 1;
	while (*p != '\0') {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n == mlen && strncasecmp(p, m, n) == 0)
			return 1;
		/* HEAD is GET without a body: a GET rule covers it. */
		if (n == 3 && strncmp(p, "GET", 3) == 0 && strcasecmp(m, "HEAD") == 0)
			return 1;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

static int
host_matches(const char *rule_host, const char *host)
{
	size_t rl, hl;

	if (rule_host[0] == '\0')
		return 1;
	if (rule_host[0] == '*' && rule_host[1] == '.') {
		rl = strlen(rule_host + 1); /* ".example.com" */
		hl = strlen(host);
		return hl > rl && strcmp(host + hl - rl, rule_host + 1) == 0;
	}
	return strcmp(rule_host, host) == 0;
}

int
rule_matches(const struct rule_view *r, const struct request_target *t)
{
	return method_matches(r->methods, t->method) &&
	    host_matches(r->host, t->host) &&
	    path_glob_match(r->path, t->segs, t->nsegs);
}

int
rules_have_host(const struct rule_view *rules, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (rules[i].host[0] != '\0')
			return 1;
	return 0;
}

enum rules_result
rules_check(const struct rule_view *rules, size_t n,
    const struct request_target *t)
{
	size_t i;
	int any_allow = 0;

	if (t->unsafe)
		return RULES_BAD_PATH;
	if (n == 0)
		return RULES_ALLOW;
	/* an invalid host would match no host rule: deny rules with it too */
	if (t->host_invalid && rules_have_host(rules, n))
		return RULES_BAD_HOST;
	for (i = 0; i < n; i++) {
		if (rule_matches(&rules[i], t))
			return rules[i].action == RULE_ALLOW ? RULES_ALLOW : RULES_DENY;
		if (rules[i].action == RULE_ALLOW)
			any_allow = 1;
	}
	return any_allow ? RULES_DENY : RULES_ALLOW;
}

int
rules_allow(const struct rule_view *rules, size_t n,
    const struct request_target *t)
{
	return rules_check(rules, n, t) == RULES_ALLOW;
}
