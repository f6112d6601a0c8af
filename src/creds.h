/*
 * creds.h - find the API key in a request: "Authorization: Bearer <key>",
 * "X-Api-Key: <key>", and, only when the operator turns it on, a query
 * string parameter.  Pure string work over the FastCGI params.
 *
 * A header the client sent several times reaches us in one of two shapes:
 * nginx passes every copy as a param of its own, Apache and lighttpd join
 * the copies into one value with ", ".  So each header is a list of params,
 * each param a list of elements split at a comma followed by a space or
 * tab (a key never holds a space), and every key found anywhere must be
 * the same key: two different ones are a conflict, never "the last one
 * wins".  An element that is empty (an empty header, an empty copy) counts
 * as absent; "Bearer" with nothing after it is an invalid key.
 */
#ifndef KEYGATE_CREDS_H
#define KEYGATE_CREDS_H

#include <stddef.h>

#include "apikey.h"

enum creds_rc {
	CREDS_OK,       /* one key found (possibly in several places) */
	CREDS_MISSING,  /* no key anywhere */
	CREDS_INVALID,  /* a key slot is present but unusable: empty Bearer... */
	CREDS_CONFLICT  /* two different keys */
};

struct creds {
	const char *key; /* points into a param, or into buf */
	size_t len;
	int buf_used; /* buf was written: creds_wipe must clear it */
	char buf[APIKEY_BUF]; /* query-string key, percent-decoded; wiped by creds_wipe */
};

/*
 * 8 params of one header name: more than any client sends by mistake.  A
 * request with more is refused (CREDS_CONFLICT), not read in part.
 */
#define CREDS_COPIES_MAX 8

/*
 * authorization, x_api_key: the values of the nauthorization and
 * nx_api_key params of that name, in the order received (a count above
 * CREDS_COPIES_MAX is refused without reading the values); query: the raw
 * query string or NULL.  query_param: the query parameter name to read the
 * key from, or NULL (the default: keys in URLs end up in logs and browser
 * histories); a parameter repeated with different keys conflicts too.
 */
enum creds_rc creds_extract(const char *const *authorization,
    size_t nauthorization, const char *const *x_api_key, size_t nx_api_key,
    const char *query, const char *query_param, struct creds *out);
void creds_wipe(struct creds *c);

#endif
