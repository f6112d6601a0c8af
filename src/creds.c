/*
 * creds.c - credential extraction.  RFC 6750 section 2.1 (Bearer, scheme
 * case-insensitive, then one or more spaces; we also accept tabs as Apache
 * passes the header through unchanged) and the common X-Api-Key header.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "creds.h"
#include "parse.h"

static int
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* A usable key value: 1-256 bytes, printable ASCII without spaces. */
static int
value_ok(const char *v, size_t len)
{
	return len > 0 && len <= APIKEY_MAX && apikey_printable(v, len);
}

static void
trim(const char **v, size_t *len)
{
	while (*len > 0 && is_ows(**v)) {
		(*v)++;
		(*len)--;
	}
	while (*len > 0 && is_ows((*v)[*len - 1]))
		(*len)--;
}

/*
 * 1: a Bearer credential was found (*v, *len; may be unusable),
 * 0: no Authorization header or another scheme.
 */
static int
bearer_value(const char *auth, const char **v, size_t *len)
{
	if (auth == NULL || strncasecmp(auth, "bearer", 6) != 0)
		return 0;
	if (auth[6] != '\0' && !is_ows(auth[6]))
		return 0; /* "Bearerx": another scheme */
	*v = auth + 6;
	*len = strlen(*v);
	trim(v, len);
	return 1;
}


/*
 * Finds name=value in a query string and percent-decodes the value into
 * buf.  Returns 1 found (decoded length in *len, may be unusable), 0 absent,
 * -1 undecodable or too long.
 */
static int
query_value(const char *q, const char *name, char *buf, size_t cap, size_t *len)
{
	size_t nlen = strlen(name);

	while (q != NULL && *q != '\0') {
		const char *end = strchr(q, '&');
		size_t plen = end ? (size_t)(end - q) : strlen(q);

		if (plen > nlen && strncmp(q, name, nlen) == 0 && q[nlen] == '=') {
			const char *s = q + nlen + 1, *e = q + plen;
			size_t n = 0;

			while (s < e) {
				int c = (unsigned char)*s;
				if (c == '%') {
					int hi, lo;
					if (e - s < 3 || (hi = parse_hexdigit(s[1])) < 0 ||
					    (lo = parse_hexdigit(s[2])) < 0)
						return -1;
					c = hi << 4 | lo;
					s += 3;
				} else {
					if (c == '+')
						c = ' ';
					s++;
				}
				if (n + 1 >= cap)
					return -1;
				buf[n++] = (char)c;
			}
			buf[n] = '\0';
			*len = n;
			return 1;
		}
		q = end ? end + 1 : NULL;
	}
	return 0;
}

/* Merges one more source into out: CREDS_OK, or CREDS_CONFLICT. */
static enum creds_rc
merge(struct creds *out, const char *v, size_t len)
{
	if (out->key == NULL) {
		out->key = v;
		out->len = len;
		return CREDS_OK;
	}
	if (out->len != len || memcmp(out->key, v, len) != 0)
		return CREDS_CONFLICT;
	return CREDS_OK;
}

enum creds_rc
creds_extract(const char *authorization, const char *x_api_key,
    const char *query, const char *query_param, struct creds *out)
{
	const char *v;
	size_t len;
	int r;

	out->key = NULL;
	out->len = 0;
	out->buf_used = 0;

	/* An empty or broken Bearer is an invalid key, whatever else is sent. */
	if (bearer_value(authorization, &v, &len)) {
		if (!value_ok(v, len))
			return CREDS_INVALID;
		merge(out, v, len);
	}
	if (x_api_key != NULL) {
		v = x_api_key;
		len = strlen(v);
		trim(&v, &len);
		if (!value_ok(v, len))
			return CREDS_INVALID;
		if (merge(out, v, len) == CREDS_CONFLICT)
			return CREDS_CONFLICT;
	}
	if (query_param != NULL && query != NULL) {
		out->buf_used = 1;
		r = query_value(query, query_param, out->buf, sizeof out->buf, &len);
		if (r < 0 || (r > 0 && !value_ok(out->buf, len)))
			return CREDS_INVALID;
		if (r > 0 && merge(out, out->buf, len) == CREDS_CONFLICT)
			return CREDS_CONFLICT;
	}
	return out->key != NULL ? CREDS_OK : CREDS_MISSING;
}

void
creds_wipe(struct creds *c)
{
	/*
	 * Only a key from the query string is copied into buf.  Not buf[0]
	 * as the test: a decoded value may start with %00 and still leave
	 * key bytes behind it (found by fuzz_creds).
	 */
	if (c->buf_used)
		OPENSSL_cleanse(c->buf, sizeof c->buf);
	c->buf_used = 0;
	c->key = NULL;
	c->len = 0;
}
