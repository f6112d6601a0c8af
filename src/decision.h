/*
 * decision.h - a decision as the web server receives it: the Status line
 * first, with its reason phrase (lighttpd drops headers written before it;
 * mod_fcgid and nginx mangle a bare status), the Variable-* headers of an
 * allowed request, or the typed JSON error of a denied one.  The one place
 * that maps verdicts to statuses and error codes.
 */
#ifndef KEYGATE_DECISION_H
#define KEYGATE_DECISION_H

#include <stddef.h>

#include "authz.h"

struct decision_info {
	int status;
	const char *phrase;  /* "Unauthorized" */
	const char *code;    /* "invalid_api_key", NULL for 200 */
	const char *message;
};

const struct decision_info *decision_info(enum verdict v);

/*
 * keygate-api's answers beyond the authorizer's (keygate-api(8)): the same
 * error shape, these codes.  The message given here is the default; a 400
 * says which field instead.
 */
enum api_error {
	API_CREATED,           /* 201: not an error, but an answer only the API gives */
	API_INVALID_REQUEST,   /* 400 */
	API_INSUFFICIENT_SCOPE,/* 403 */
	API_KEY_LIMIT,         /* 403 key_limit_reached */
	API_NOT_FOUND,         /* 404 */
	API_METHOD,            /* 405, with Allow */
	API_CONFLICT,          /* 409 */
	API_TOO_LARGE,         /* 413 */
	API_INTERNAL,          /* 500: the authorizer's internal_error */
	API_UNAVAILABLE,       /* 503: the authorizer's unavailable */
	API_ERRORS
};
const struct decision_info *decision_api_info(enum api_error e);

/*
 * Every distinct answer the programs give, for counting them (metrics.h):
 * the verdicts (0 .. DECISION_VERDICTS - 1), then keygate-api's own
 * answers.  An API answer that is a verdict's (500, 503) counts as it.
 */
#define DECISION_OUTCOMES (DECISION_VERDICTS + API_ERRORS)
int decision_api_outcome(enum api_error e);
/* Status and code of an outcome (its code NULL for 200 and 201). */
const struct decision_info *decision_outcome_info(int outcome);
/* Whether an outcome is counted as itself (not as the verdict it is). */
int decision_outcome_distinct(int outcome);
/* The reason phrase of a status keygate answers with ("Created"), or NULL. */
const char *decision_phrase(int status);

/*
 * Writes the CGI-style response into buf.  Returns its length.  An allow
 * that does not fit, or that carries a value not safe in a header, becomes
 * a 500 (we never emit CR or LF, never a truncated allow); -1 only when
 * not even that fits, and the caller then answers a fixed 500.
 */
int decision_render(const struct authz_res *res, const char *realm, char *buf,
    size_t cap);

/*
 * The names of every Variable-* header decision_render may write on an
 * allow ("Org-Id", ...), NULL-terminated: what the in-process modules
 * hand the backend (Org-Id, X-Keygate-Org-Id, $keygate_org_id), and so
 * what they never let a client supply under those names.
 */
extern const char *const decision_variables[];

/* The body alone ({"error":{...}}), for `keygate verify`. */
int decision_body(enum verdict v, char *buf, size_t cap);

/*
 * Every denial but a 429 with its RateLimit headers is the same bytes for
 * a given realm, request after request: a worker renders them once at
 * start-up, and a denial (a flood of bad keys above all) then costs a
 * table lookup instead of a printf per request.
 */
#define DECISION_VERDICTS (V_UNAVAILABLE + 1)

struct decision_table {
	struct {
		unsigned off, len;
	} deny[DECISION_VERDICTS]; /* len 0 for V_ALLOW */
	char bytes[4096];          /* all of them: 2.1 KB with a 127-byte realm, the conf's longest */
};

/* 0, or -1 when the answers do not fit (a realm far longer than any conf allows). */
int decision_table_init(struct decision_table *t, const char *realm);

/*
 * The answer to res, exactly what decision_render(res, realm) writes:
 * points *out at the pre-rendered bytes when the answer is constant, else
 * renders into buf (and points *out at buf).  Returns the length, or -1 as
 * decision_render does.
 */
int decision_answer(const struct decision_table *t, const struct authz_res *res,
    const char *realm, char *buf, size_t cap, const char **out);

/*
 * The verdict an answer of decision_answer() (len, or -1) carries: res's,
 * except for an allow that became a 500 (a value not safe in a header, an
 * answer that did not fit) and an answer that could not be rendered.
 * What the metrics count, so that they say what the web server received.
 */
enum verdict decision_answered(const struct authz_res *res, const char *answer, int len);

#endif
