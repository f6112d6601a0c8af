/*
 * creds.h - find the API key in a request: "Authorization: Bearer <key>",
 * "X-Api-Key: <key>", and, only when the operator turns it on, a query
 * string parameter.  Pure string work over the FastCGI params.
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
 * authorization, x_api_key, query: the raw param values or NULL.
 * query_param: the query parameter name to read the key from, or NULL
 * (the default: keys in URLs end up in logs and browser histories).
 */
enum creds_rc creds_extract(const char *authorization, const char *x_api_key,
    const char *query, const char *query_param, struct creds *out);
void creds_wipe(struct creds *c);

#endif
