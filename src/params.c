/*
 * params.c - FastCGI params in, a request out.
 *
 * This runs on every request: one pass over the environment, the names
 * compared inline, no allocation, no copy but SCRIPT_NAME + PATH_INFO
 * when a server sends no REQUEST_URI.
 */
#include "config.h"

#include <string.h>

#include <openssl/crypto.h>

#include "params.h"

/*
 * e with the name prefix lit (n bytes) skipped, or NULL when e does not
 * start with it.  Compared inline: a param differs from the names we look
 * for within its first bytes, and a strncmp call per candidate name was
 * about a tenth of the instructions of a denied request.  Stops at the
 * first difference, so never reads past e's terminating NUL.
 */
static inline char *
param_prefix(char *e, const char *lit, size_t n)
{
	size_t i;

	/* n and lit are constants: unrolled, a byte costs a compare and a branch */
#pragma GCC unroll 32
	for (i = 0; i < n; i++)
		if (e[i] != lit[i])
			return NULL;
	return e + n;
}

/* e is "NAME=value": the value if NAME is name (n bytes), else NULL. */
static inline char *
param_value(char *e, const char *name, size_t n)
{
	char *v = param_prefix(e, name, n);

	return v != NULL && *v == '=' ? v + 1 : NULL;
}

#define PARAM(e, lit) param_value((e), lit, sizeof(lit) - 1)

/* One more copy of a header; counted even when there is no slot left. */
static inline void
add_copy(char **slots, size_t *n, char *v)
{
	if (*n < CREDS_COPIES_MAX)
		slots[*n] = v;
	(*n)++;
}

/*
 * The host rules see must be one host: two HTTP_HOST params that differ
 * (a server passing the client's Host besides its own) leave none.
 */
static inline void
set_host(struct params *p, const char *v)
{
	if (p->host != NULL && strcmp(p->host, v) != 0)
		p->host_conflict = 1;
	p->host = v;
}

void
params_read(char **envp, struct params *p)
{
	memset(p, 0, sizeof *p);
	for (; envp != NULL && *envp != NULL; envp++) {
		char *e = *envp, *h, *v;

		switch (e[0]) {
		case 'H':
			/* browsers send a dozen HTTP_ params: the prefix is compared once */
			if ((h = param_prefix(e, "HTTP_", 5)) == NULL)
				break;
			if (h[0] == 'A' && (v = PARAM(h, "AUTHORIZATION")) != NULL)
				add_copy(p->authorization, &p->nauthorization, v);
			else if (h[0] == 'X' && (v = PARAM(h, "X_API_KEY")) != NULL)
				add_copy(p->x_api_key, &p->nx_api_key, v);
			else if (h[0] == 'H' && (v = PARAM(h, "HOST")) != NULL)
				set_host(p, v);
			break;
		case 'R':
			if ((h = param_prefix(e, "REQUEST_", 8)) != NULL) {
				if ((v = PARAM(h, "METHOD")) != NULL)
					p->method = v;
				else if ((v = PARAM(h, "URI")) != NULL)
					p->uri = v;
			} else if ((v = PARAM(e, "REMOTE_ADDR")) != NULL)
				p->remote = v;
			else if ((v = PARAM(e, "REDIRECT_REQUEST_METHOD")) != NULL)
				p->redirect_method = v;
			break;
		case 'S':
			if ((v = PARAM(e, "SERVER_PROTOCOL")) != NULL)
				p->protocol = v;
			else if ((v = PARAM(e, "SCRIPT_NAME")) != NULL)
				p->script_name = v;
			break;
		case 'Q':
			if ((v = PARAM(e, "QUERY_STRING")) != NULL)
				p->query = v;
			break;
		case 'P':
			if ((v = PARAM(e, "PATH_INFO")) != NULL)
				p->path_info = v;
			break;
		case 'K':
			if ((v = PARAM(e, "KEYGATE_REPLAY")) != NULL)
				p->replay = v;
			break;
		default:
			break;
		}
	}
}

/*
 * SCRIPT_NAME + PATH_INFO in buf, or NULL when the pair does not fit: a
 * path too long to examine in full is not examined in part.
 */
static const char *
script_path(const struct params *p, char *buf, size_t cap)
{
	const char *a = p->script_name ? p->script_name : "";
	const char *b = p->path_info ? p->path_info : "";
	size_t na = strnlen(a, cap), nb = strnlen(b, cap);

	if (na + nb >= cap)
		return NULL;
	memcpy(buf, a, na);
	memcpy(buf + na, b, nb);
	buf[na + nb] = '\0';
	return buf;
}

void
params_request(const struct params *p, enum fcgi_role role, int query_keys,
    char uri[PARAMS_URI_MAX], struct authz_req *q)
{
	/* one store of every field (the rest zero), no memset before it */
	*q = (struct authz_req){
		.role = role,
		.authorization = (const char *const *)p->authorization,
		.nauthorization = p->nauthorization,
		.x_api_key = (const char *const *)p->x_api_key,
		.nx_api_key = p->nx_api_key,
		.method = p->method,
		.host = p->host_conflict ? NULL : p->host,
		.remote = p->remote,
		.query = query_keys ? p->query : NULL,
		/* REQUEST_URI wins: nginx sets SCRIPT_NAME to the auth location. */
		.uri = p->uri != NULL ? p->uri : script_path(p, uri, PARAMS_URI_MAX),
		.subrequest = p->protocol != NULL && strcmp(p->protocol, "INCLUDED") == 0,
		.replay = p->replay != NULL && strcmp(p->replay, "1") == 0,
	};
	/*
	 * Apache fetches an ErrorDocument with GET; the replay must judge the
	 * method the client really sent.
	 */
	if (q->replay && p->redirect_method != NULL)
		q->method = p->redirect_method;
}

static void
wipe(char *v)
{
	OPENSSL_cleanse(v, strlen(v));
}

/* Every param named name: for more copies than params_read kept. */
static void
wipe_all(char **envp, const char *name)
{
	size_t n = strlen(name);

	for (; envp != NULL && *envp != NULL; envp++) {
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			wipe(*envp + n + 1);
	}
}

static void
wipe_copies(char **envp, const char *name, char *const *slots, size_t n)
{
	size_t i;

	if (n > CREDS_COPIES_MAX) {
		wipe_all(envp, name);
		return;
	}
	for (i = 0; i < n; i++)
		wipe(slots[i]);
}

void
params_wipe(char **envp, const struct params *p, int query_keys)
{
	char *q;

	wipe_copies(envp, "HTTP_AUTHORIZATION", p->authorization, p->nauthorization);
	wipe_copies(envp, "HTTP_X_API_KEY", p->x_api_key, p->nx_api_key);
	if (!query_keys)
		return;
	if (p->query != NULL)
		wipe(p->query);
	/* the query again, as the client sent it */
	if (p->uri != NULL && (q = strchr(p->uri, '?')) != NULL)
		wipe(q + 1);
}
