// rules.h - route rules such as
//     allow GET /v1/*
//     deny * /admin/**
//     allow POST hooks.example.com/hooks/*
/*
 * Pure logic: parsing, request path normalisation, host normalisation and
 * matching.
 *
 * Rule text: [METHODS] [HOST]PATH
 *   METHODS  "*" or a comma list (GET,POST); absent means any; GET also
 *            covers HEAD
 *   HOST     a host name with a dot (or localhost, or [v6]), or
 *            "*.example.com", lower-cased, without port or trailing dot
 *            (host_valid); absent means any host
 *   PATH     a glob starting with "/": "*" matches within one segment,
 *            "**" (a whole segment) matches any number of segments
 *
 * A list is evaluated top down, the first match wins.  An empty list
 * allows everything; a list that holds an allow rule is an allowlist, so
 * a request that matches nothing is denied; a list of deny rules only
 * allows what it does not match.
 */
#ifndef KEYGATE_RULES_H
#define KEYGATE_RULES_H

#include <stddef.h>
#include <stdint.h>

#define RULE_METHODS_MAX 64
/* 253: the longest DNS name in text form (255 octets on the wire) */
#define HOST_MAX         253
#define RULE_HOST_MAX    (HOST_MAX + 3) /* "*." + a name + NUL */
#define RULE_PATH_MAX    512
#define RULES_MAX        32
/* 8 KiB: Apache's default LimitRequestLine; longer paths are not matched */
#define PATH_NORM_MAX    8192
#define PATH_SEGS_MAX    256

enum rule_action { RULE_ALLOW = 1, RULE_DENY = 2 };

struct rule {
	enum rule_action action;
	char methods[RULE_METHODS_MAX]; /* "*" or "GET,POST" */
	char host[RULE_HOST_MAX];       /* "" = any */
	char path[RULE_PATH_MAX];
};

/* A rule decoded in place from a store record: pointers into the record. */
struct rule_view {
	enum rule_action action;
	const char *methods;
	const char *host;
	const char *path;
};

struct seg {
	const char *p;
	size_t n;
};

/* What rules are matched against: normalised once per request. */
struct request_target {
	const char *method;
	char host[RULE_HOST_MAX];
	char path[PATH_NORM_MAX];
	struct seg segs[PATH_SEGS_MAX];
	size_t nsegs;
	int unsafe;       /* the path cannot be normalised safely: deny */
	int host_invalid; /* host is "": none, or not a valid host (host_normalize) */
};

/* What a rule list says about a request target. */
enum rules_result {
	RULES_ALLOW,
	RULES_DENY,
	RULES_BAD_PATH, /* the path cannot be normalised safely, or is too long */
	RULES_BAD_HOST  /* the list has host rules and the host is not valid */
};

int rule_parse(enum rule_action action, const char *spec, struct rule *out,
    const char **err);
// "allow GET /v1/*"
int rule_format(enum rule_action action, const char *methods, const char *host,
    const char *path, char *buf, size_t n);

/*
 * Where the path of a request target starts: after the scheme and
 * authority of an absolute-form target ("http://host:8080/x", which
 * Apache passes as REQUEST_URI just as a client sent it), else at uri.
 */
const char *uri_path_start(const char *uri);
/*
 * Normalises a REQUEST_URI (from uri_path_start on): query removed, percent-decoded once, ";params"
 * removed from segments, empty and "." segments dropped, ".." resolved.
 * Returns -1 (deny) for an encoded "/", a NUL or other control byte, a bad
 * escape, or a path too long to check.
 */
int path_normalize(const char *uri, char *out, size_t cap);
/*
 * The one host syntax, for the hosts of requests and of rules alike: 1
 * when the n bytes at s are a DNS name in lower case (labels of 1-63
 * letters, digits and inner hyphens, joined by single dots, at most
 * HOST_MAX bytes, no trailing dot) or a bracketed IPv6 address, else 0.
 */
int host_valid(const char *s, size_t n);
/*
 * A request's host as rules see it: lower-cased, without its ":port" and
 * one trailing dot.  Returns 0, or -1 with out set to "" when the host is
 * missing, empty, too long or not valid (host_valid): never truncated,
 * never guessed at.  cap must be at least RULE_HOST_MAX.
 */
int host_normalize(const char *host, char *out, size_t cap);
void request_target_init(struct request_target *t, const char *method,
    const char *host, const char *uri);

int path_glob_match(const char *pattern, const struct seg *segs, size_t nsegs);
int rule_matches(const struct rule_view *r, const struct request_target *t);
/* 1 when a rule of the list names a host. */
int rules_have_host(const struct rule_view *rules, size_t n);
/*
 * The list's answer.  A target that cannot be examined in full is refused
 * whenever the list depends on that part: an unsafe path always (only
 * called when some list has rules), an invalid host when the list has host
 * rules.
 */
enum rules_result rules_check(const struct rule_view *rules, size_t n,
    const struct request_target *t);
/* 1 allowed (rules_check says RULES_ALLOW), 0 denied. */
int rules_allow(const struct rule_view *rules, size_t n,
    const struct request_target *t);

#endif
