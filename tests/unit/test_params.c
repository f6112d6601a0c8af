/*
 * test_params.c - FastCGI params to a request: which param means what,
 * repeated headers, SCRIPT_NAME + PATH_INFO without truncation, replays
 * and subrequests, and where the key material is wiped.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "params.h"
#include "tap.h"

#define KEY  "kg_live_0123456789ABCDEFGHIJKLMNOPQRSTUV03NzCm"
#define KEY2 "kg_live_aZ3kQ9xW2mN7pL4vR8tY1cB6dF0gH5jK4J9uOT"

#define ENV_MAX 32

/* A mutable environment, as libfcgi hands one over. */
struct env {
	char *v[ENV_MAX + 1];
	size_t n;
};

static void
env_add(struct env *e, const char *s)
{
	if (e->n == ENV_MAX || (e->v[e->n] = strdup(s)) == NULL)
		abort();
	e->v[++e->n] = NULL;
}

/* A NULL-terminated list of "NAME=value" into a fresh environment. */
static struct env *
env_new(const char *const *list)
{
	struct env *e = calloc(1, sizeof *e);

	if (e == NULL)
		abort();
	for (; *list != NULL; list++)
		env_add(e, *list);
	return e;
}

static void
env_free(struct env *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e);
}

/* The env's value of its i-th param, bytes after '=' up to its old length. */
static int
wiped(const struct env *e, size_t i, size_t len)
{
	const char *v = strchr(e->v[i], '=') + 1;
	size_t k;

	for (k = 0; k < len; k++)
		if (v[k] != '\0')
			return 0;
	return 1;
}

static struct params P;
static struct authz_req Q;
static char U[PARAMS_URI_MAX];

static void
map(struct env *e, int query_keys)
{
	params_read(e->v, &P);
	params_request(&P, ROLE_AUTHORIZER, query_keys, U, &Q);
}

static void
test_names(void)
{
	static const char *const all[] = {
		"HTTP_AUTHORIZATION=Bearer " KEY, "HTTP_X_API_KEY=" KEY, "REQUEST_METHOD=POST",
		"REQUEST_URI=/v1/x?a=1", "HTTP_HOST=api.example.com", "REMOTE_ADDR=10.0.0.1",
		"QUERY_STRING=a=1", "SERVER_PROTOCOL=HTTP/1.1", "SCRIPT_NAME=/auth",
		"PATH_INFO=/p", "HTTP_HOSTX=evil", "HTTP_X_API_KEYS=evil", "REQUEST_URIX=/evil",
		"HTTP_AUTHORIZATIONS=evil", "X=1", "=", "", "HTTP_", NULL,
	};
	struct env *e = env_new(all);

	map(e, 0);
	is_int((int)Q.nauthorization, 1, "one Authorization");
	is_str(Q.authorization[0], "Bearer " KEY, "  its value");
	is_int((int)Q.nx_api_key, 1, "one X-Api-Key (not HTTP_X_API_KEYS)");
	is_str(Q.x_api_key[0], KEY, "  its value");
	is_str(Q.method, "POST", "REQUEST_METHOD");
	is_str(Q.uri, "/v1/x?a=1", "REQUEST_URI wins over SCRIPT_NAME + PATH_INFO");
	is_str(Q.host, "api.example.com", "HTTP_HOST (not HTTP_HOSTX)");
	is_str(Q.remote, "10.0.0.1", "REMOTE_ADDR");
	ok(Q.query == NULL, "no query without query-param");
	ok(!Q.subrequest && !Q.replay, "neither a subrequest nor a replay");
	is_int(Q.role, ROLE_AUTHORIZER, "the role as given");
	map(e, 1);
	is_str(Q.query, "a=1", "QUERY_STRING with query-param");
	env_free(e);

	params_read(NULL, &P);
	params_request(&P, ROLE_RESPONDER, 1, U, &Q);
	ok(Q.nauthorization == 0 && Q.nx_api_key == 0 && Q.method == NULL && Q.host == NULL &&
	    Q.query == NULL && Q.uri != NULL && Q.uri[0] == '\0' && Q.role == ROLE_RESPONDER,
	    "no environment: nothing, and an empty path");
}

static void
test_repeated(void)
{
	static const char *const keys[] = {
		"HTTP_X_API_KEY=" KEY, "HTTP_AUTHORIZATION=Bearer x", "HTTP_X_API_KEY=",
		"HTTP_AUTHORIZATION=Bearer " KEY, "HTTP_X_API_KEY=" KEY2, NULL,
	};
	static const char *const same_host[] = {"HTTP_HOST=a.example.com", "HTTP_HOST=a.example.com", NULL};
	static const char *const two_hosts[] = {
		"HTTP_HOST=api.example.com", "HTTP_HOST=db.internal.example.com", NULL,
	};
	struct env *e = env_new(keys);
	char name[64];
	size_t i;

	map(e, 0);
	is_int((int)Q.nx_api_key, 3, "every X-Api-Key param, the empty one too");
	ok(strcmp(Q.x_api_key[0], KEY) == 0 && Q.x_api_key[1][0] == '\0' &&
	    strcmp(Q.x_api_key[2], KEY2) == 0, "  in the order received");
	is_int((int)Q.nauthorization, 2, "every Authorization param");
	ok(strcmp(Q.authorization[0], "Bearer x") == 0 &&
	    strcmp(Q.authorization[1], "Bearer " KEY) == 0, "  in the order received");
	env_free(e);

	e = env_new(same_host);
	map(e, 0);
	is_str(Q.host, "a.example.com", "HTTP_HOST twice, the same: that host");
	env_free(e);
	e = env_new(two_hosts);
	map(e, 0);
	ok(Q.host == NULL, "HTTP_HOST twice, different: no host (never the last one)");
	env_free(e);

	e = env_new((const char *const[]){NULL});
	for (i = 0; i < 12; i++) {
		snprintf(name, sizeof name, "HTTP_X_API_KEY=%s", KEY);
		env_add(e, name);
	}
	map(e, 0);
	is_int((int)Q.nx_api_key, 12, "12 X-Api-Key params are counted");
	params_wipe(e->v, &P, 0);
	for (i = 0; i < 12 && wiped(e, i, strlen(KEY)); i++)
		;
	is_int((int)i, 12, "  and every one is wiped, beyond the slots too");
	env_free(e);
}

static void
test_script_path(void)
{
	char *sn, *big;
	struct env *e;
	struct request_target *t = malloc(sizeof *t);

	if (t == NULL || (sn = malloc(8300)) == NULL || (big = malloc(8300)) == NULL)
		abort();
	e = env_new((const char *const[]){"SCRIPT_NAME=/v1", "PATH_INFO=/x", NULL});
	map(e, 0);
	is_str(Q.uri, "/v1/x", "SCRIPT_NAME + PATH_INFO without REQUEST_URI");
	env_free(e);
	e = env_new((const char *const[]){"PATH_INFO=/only", NULL});
	map(e, 0);
	is_str(Q.uri, "/only", "PATH_INFO alone");
	env_free(e);

	/* the review's case: a 4,091-byte SCRIPT_NAME used to cut PATH_INFO off */
	strcpy(sn, "SCRIPT_NAME=/");
	memset(sn + 13, 'a', 4090);
	sn[13 + 4090] = '\0';
	e = env_new((const char *const[]){"PATH_INFO=/../../admin/x", NULL});
	env_add(e, sn);
	map(e, 0);
	ok(Q.uri != NULL && strlen(Q.uri) == 4091 + 14 &&
	    strcmp(Q.uri + 4091, "/../../admin/x") == 0, "a 4,105-byte pair is joined whole");
	request_target_init(t, "GET", "h", Q.uri);
	is_str(t->path, "/admin/x", "  and normalises to /admin/x");
	env_free(e);

	/* longer than any path examined: left out, never cut */
	strcpy(big, "PATH_INFO=/");
	memset(big + 11, 'b', PARAMS_URI_MAX - 2 - 4091);
	big[11 + PARAMS_URI_MAX - 2 - 4091] = '\0';
	e = env_new((const char *const[]){NULL});
	env_add(e, sn);
	env_add(e, big);
	map(e, 0);
	is_int((int)(strlen(sn + 12) + strlen(big + 10)), PARAMS_URI_MAX - 1,
	    "a pair of PARAMS_URI_MAX - 1 bytes");
	ok(Q.uri != NULL && strlen(Q.uri) == PARAMS_URI_MAX - 1, "  fits, whole");
	env_free(e);
	strcat(big, "c");
	e = env_new((const char *const[]){NULL});
	env_add(e, sn);
	env_add(e, big);
	map(e, 0);
	ok(Q.uri == NULL, "one byte more: no path at all, never a cut one");
	request_target_init(t, "GET", "h", Q.uri);
	ok(t->unsafe, "  which route rules refuse");
	env_free(e);
	free(sn);
	free(big);
	free(t);
}

static void
test_flags(void)
{
	struct env *e;

	e = env_new((const char *const[]){"SERVER_PROTOCOL=INCLUDED", NULL});
	map(e, 0);
	ok(Q.subrequest && !Q.replay, "SERVER_PROTOCOL=INCLUDED: a subrequest");
	env_free(e);
	e = env_new((const char *const[]){"KEYGATE_REPLAY=1", "REQUEST_METHOD=GET",
	    "REDIRECT_REQUEST_METHOD=DELETE", NULL});
	map(e, 0);
	ok(Q.replay && !Q.subrequest, "KEYGATE_REPLAY=1: a replay");
	is_str(Q.method, "DELETE", "  judged by the client's method (REDIRECT_REQUEST_METHOD)");
	env_free(e);
	e = env_new((const char *const[]){"KEYGATE_REPLAY=0", "REQUEST_METHOD=GET",
	    "REDIRECT_REQUEST_METHOD=DELETE", NULL});
	map(e, 0);
	ok(!Q.replay, "KEYGATE_REPLAY=0: no replay");
	is_str(Q.method, "GET", "  and REDIRECT_REQUEST_METHOD is not read");
	env_free(e);
}

static void
test_wipe(void)
{
	static const char *const list[] = {
		"HTTP_AUTHORIZATION=Bearer " KEY, "HTTP_X_API_KEY=" KEY, "HTTP_X_API_KEY=" KEY2,
		"QUERY_STRING=api_key=" KEY, "REQUEST_URI=/v1/x?api_key=" KEY,
		"HTTP_HOST=api.example.com", NULL,
	};
	struct env *e = env_new(list);

	map(e, 0);
	params_wipe(e->v, &P, 0);
	ok(wiped(e, 0, strlen("Bearer " KEY)) && wiped(e, 1, strlen(KEY)) && wiped(e, 2, strlen(KEY2)),
	    "every Authorization and X-Api-Key param is wiped");
	is_str(e->v[3], "QUERY_STRING=api_key=" KEY, "the query is not key material without query-param");
	is_str(e->v[4], "REQUEST_URI=/v1/x?api_key=" KEY, "  nor REQUEST_URI's");
	is_str(e->v[5], "HTTP_HOST=api.example.com", "other params are left alone");
	env_free(e);

	e = env_new(list);
	map(e, 1);
	params_wipe(e->v, &P, 1);
	ok(wiped(e, 3, strlen("api_key=" KEY)), "with query-param: QUERY_STRING is wiped");
	ok(strncmp(e->v[4], "REQUEST_URI=/v1/x?", 18) == 0 && e->v[4][18] == '\0' &&
	    memchr(e->v[4] + 18, 'k', strlen("api_key=" KEY)) == NULL,
	    "  and REQUEST_URI's query, its path kept");
	env_free(e);
}

int
main(void)
{
	test_names();
	test_repeated();
	test_script_path();
	test_flags();
	test_wipe();
	return done_testing();
}
