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
 * Writes the CGI-style response into buf.  Returns its length.  An allow
 * that does not fit, or that carries a value not safe in a header, becomes
 * a 500 (we never emit CR or LF, never a truncated allow); -1 only when
 * not even that fits, and the caller then answers a fixed 500.
 */
int decision_render(const struct authz_res *res, const char *realm, char *buf,
    size_t cap);

/* The body alone ({"error":{...}}), for `keygate verify`. */
int decision_body(enum verdict v, char *buf, size_t cap);

#endif
