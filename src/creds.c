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
 * The next element of a header value, trimmed, at *cur (NULL: the value
 * is used up).  Elements are split where a web server joined copies of
 * the header: at ", " (or a comma and a tab).  Returns 0 when none is left.
 */
static int
next_element(const char **cur, const char **v, size_t *len)
{
	const char *s = *cur, *e;

	if (s == NULL)
		return 0;
	/* commas are rare: strchr and strlen find them and the end fastest */
	for (e = strchr(s, ','); e != NULL && !is_ows(e[1]); e = strchr(e + 1, ','))
		;
	*v = s;
	*len = e != NULL ? (size_t)(e - s) : strlen(s);
	*cur = e != NULL ? e + 1 : NULL;
	trim(v, len);
	return 1;
}

/*
 * 1: the element (len > 0) is a Bearer credential (*v, *len; may be
 * unusable), 0: another scheme.
 */
static int
bearer_value(const char *e, size_t elen, const char **v, size_t *len)
{
	if (elen < 6 || strncasecmp(e, "bearer", 6) != 0)
		return 0;
	if (elen > 6 && !is_ows(e[6]))
		return 0; /* "Bearerx": another scheme */
	*v = e + 6;
	*len = elen - 6;
	trim(v, len);
	return 1;
}

/* Merges one more key into out: CREDS_OK, or CREDS_CONFLICT. */
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

/*
 * The keys in every param of one header.  For Authorization (bearer) only
 * the Bearer credentials: other schemes (Basic for another layer, the
 * pieces of a Digest split at its commas) are not ours.
 */
static enum creds_rc
from_header(const char *const *params, size_t n, int bearer, struct creds *out)
{
	const char *cur, *v;
	size_t i, len;

	for (i = 0; i < n; i++) {
		for (cur = params[i]; next_element(&cur, &v, &len);) {
			if (len == 0 || (bearer && !bearer_value(v, len, &v, &len)))
				continue;
			/* an empty or broken value is an invalid key, whatever else is sent */
			if (!value_ok(v, len))
				return CREDS_INVALID;
			if (merge(out, v, len) != CREDS_OK)
				return CREDS_CONFLICT;
		}
	}
	return CREDS_OK;
}

/*
 * Finds the next name=value in a query string from *q on and
 * percent-decodes the value into buf.  Returns 1 found (decoded length in
 * *len, may be unusable; *q moved past it), 0 no more, -1 undecodable or
 * too long.
 */
static int
query_value(const char **q, const char *name, char *buf, size_t cap, size_t *len)
{
	size_t nlen = strlen(name);

	while (*q != NULL && **q != '\0') {
		const char *p = *q, *end = strchr(p, '&');
		size_t plen = end ? (size_t)(end - p) : strlen(p);

		*q = end ? end + 1 : NULL;
		if (plen > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			const char *s = p + nlen + 1, *e = p + plen;
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
	}
	return 0;
}

/*
 * Every occurrence of the parameter: the first decoded into out->buf
 * (where the key then lives), the others into a scratch buffer, compared
 * and wiped.
 */
static enum creds_rc
from_query(const char *query, const char *name, struct creds *out)
{
	char scratch[APIKEY_BUF];
	enum creds_rc rc = CREDS_OK;
	const char *q = query;
	char *dst;
	size_t len;
	int r, scratched = 0;

	out->buf_used = 1;
	for (;;) {
		dst = out->key == out->buf ? scratch : out->buf;
		scratched |= dst == scratch;
		if ((r = query_value(&q, name, dst, sizeof out->buf, &len)) == 0)
			break;
		if (r < 0 || !value_ok(dst, len)) {
			rc = CREDS_INVALID;
			break;
		}
		if (merge(out, dst, len) != CREDS_OK) {
			rc = CREDS_CONFLICT;
			break;
		}
	}
	if (scratched)
		OPENSSL_cleanse(scratch, sizeof scratch);
	return rc;
}

enum creds_rc
creds_extract(const char *const *authorization, size_t nauthorization,
    const char *const *x_api_key, size_t nx_api_key, const char *query,
    const char *query_param, struct creds *out)
{
	enum creds_rc rc;

	out->key = NULL;
	out->len = 0;
	out->buf_used = 0;
	if (nauthorization > CREDS_COPIES_MAX || nx_api_key > CREDS_COPIES_MAX)
		return CREDS_CONFLICT;
	if ((rc = from_header(authorization, nauthorization, 1, out)) != CREDS_OK)
		return rc;
	if ((rc = from_header(x_api_key, nx_api_key, 0, out)) != CREDS_OK)
		return rc;
	if (query_param != NULL && query != NULL &&
	    (rc = from_query(query, query_param, out)) != CREDS_OK)
		return rc;
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
