/*
 * params.h - the FastCGI params a decision reads: found in one pass over a
 * request's environment, mapped to a request (struct authz_req), and the
 * key material in them wiped once the answer is written.
 *
 * The environment is a NULL-terminated array of "NAME=value" strings, as
 * libfcgi hands it over and as a web server module can build it from its
 * own tables: nothing here knows libfcgi.  Nothing here allocates.  The
 * authorizer, the fuzzers and any in-process module call these, so every
 * one of them maps params the same way.
 */
#ifndef KEYGATE_PARAMS_H
#define KEYGATE_PARAMS_H

#include <stddef.h>

#include "authz.h"
#include "creds.h"
#include "rules.h"

/*
 * SCRIPT_NAME + PATH_INFO are joined into a buffer of this size: the
 * longest path path_normalize examines.  A longer pair is not cut to fit
 * but left out (authz_req.uri NULL), which route rules refuse.
 */
#define PARAMS_URI_MAX PATH_NORM_MAX

struct params {
	/*
	 * Every HTTP_AUTHORIZATION and HTTP_X_API_KEY param, in the order
	 * received: nginx passes each copy of a repeated header as a param of
	 * its own.  The counts go on past CREDS_COPIES_MAX (creds refuses such
	 * a request; params_wipe then scans envp again).
	 */
	char *authorization[CREDS_COPIES_MAX];
	size_t nauthorization;
	char *x_api_key[CREDS_COPIES_MAX];
	size_t nx_api_key;
	char *query;     /* QUERY_STRING: wiped when keys may come from it */
	char *uri;       /* REQUEST_URI: its query too */
	const char *method, *host, *remote, *protocol, *replay;
	const char *script_name, *path_info, *redirect_method;
	int host_conflict; /* HTTP_HOST twice, with different values */
};

/* Finds the params in envp (which may be NULL), in one pass. */
void params_read(char **envp, struct params *p);

/*
 * The request the params describe, in q: role as FCGI_BEGIN_REQUEST gave
 * it, query_keys when keys may come from the query string (query-param),
 * uri (PARAMS_URI_MAX bytes) the storage for SCRIPT_NAME + PATH_INFO when
 * there is no REQUEST_URI.  q points into p, uri and the environment.
 */
void params_request(const struct params *p, enum fcgi_role role,
    int query_keys, char uri[PARAMS_URI_MAX], struct authz_req *q);

/* Wipes the key material params_read found in envp (OPENSSL_cleanse). */
void params_wipe(char **envp, const struct params *p, int query_keys);

#endif
