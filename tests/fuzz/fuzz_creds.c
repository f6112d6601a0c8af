/*
 * fuzz_creds.c - creds_extract on arbitrary Authorization, X-Api-Key and
 * query strings, with and without a query parameter name.
 *
 * Input: one flag byte, then NUL-separated fields (a NUL cannot occur in a
 * FastCGI param value as libfcgi hands it over):
 *   authorization \0 x_api_key \0 query \0 query_param [\0 more]...
 * flag bits: 1 authorization present, 2 x_api_key present, 4 query present.
 * Each further field is one more param of a repeated header, as nginx
 * passes them: its first byte 'A' for Authorization, anything else for
 * X-Api-Key, then the value.
 *
 * The result is compared with a small reference written from keygate-authz(8)'s rules, so a
 * divergence (a key taken from the wrong place, a conflict missed) fails
 * as surely as a memory error.
 */
#include "config.h"

#include <string.h>

#include "creds.h"
#include "fuzz.h"

static int
ref_ows(char c)
{
	return c == ' ' || c == '\t';
}

static int
ref_usable(const char *v, size_t n)
{
	size_t i;

	if (n < 1 || n > 256)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)v[i] <= ' ' || (unsigned char)v[i] >= 0x7f)
			return 0;
	return 1;
}

static int
ref_hex(char c)
{
	const char *digits = "0123456789abcdef", *p;

	if (c >= 'A' && c <= 'F')
		c = (char)(c - 'A' + 'a');
	if (c == '\0' || (p = strchr(digits, c)) == NULL)
		return -1;
	return (int)(p - digits);
}

struct ref {
	int have;
	char key[300];
	size_t len;
};

/* CREDS_OK when v is taken (or equal to what was), else CREDS_CONFLICT. */
static enum creds_rc
ref_take(struct ref *r, const char *v, size_t n)
{
	if (r->have)
		return (r->len == n && memcmp(r->key, v, n) == 0) ? CREDS_OK : CREDS_CONFLICT;
	memcpy(r->key, v, n);
	r->len = n;
	r->have = 1;
	return CREDS_OK;
}

/* The bytes of [s, e) without OWS around them. */
static void
ref_trim(const char **s, const char **e)
{
	while (*s < *e && ref_ows(**s))
		(*s)++;
	while (*e > *s && ref_ows((*e)[-1]))
		(*e)--;
}

/*
 * The next element of a param (copies joined by a web server with ", "):
 * [*s, *e), trimmed; *next is where the one after starts, NULL at the end.
 */
static int
ref_element(const char **cur, const char **s, const char **e)
{
	const char *p = *cur, *c;

	if (p == NULL)
		return 0;
	for (c = p; (c = strchr(c, ',')) != NULL && !ref_ows(c[1]); c++)
		;
	*s = p;
	*e = c != NULL ? c : p + strlen(p);
	*cur = c != NULL ? c + 1 : NULL;
	ref_trim(s, e);
	return 1;
}

static enum creds_rc
ref_extract(const char *const *auth, size_t na, const char *const *x, size_t nx,
    const char *q, const char *qp, struct ref *r)
{
	static const char scheme[] = "bearer";
	const char *cur, *s, *e;
	size_t i, k;

	memset(r, 0, sizeof *r);
	if (na > CREDS_COPIES_MAX || nx > CREDS_COPIES_MAX)
		return CREDS_CONFLICT;
	for (k = 0; k < na; k++) {
		for (cur = auth[k]; ref_element(&cur, &s, &e);) {
			if (e - s < 6)
				continue;
			for (i = 0; i < 6; i++) {
				char c = s[i];
				if (c >= 'A' && c <= 'Z')
					c = (char)(c - 'A' + 'a');
				if (c != scheme[i])
					break;
			}
			if (i < 6 || (s + 6 < e && !ref_ows(s[6])))
				continue; /* another scheme */
			s += 6;
			ref_trim(&s, &e);
			if (!ref_usable(s, (size_t)(e - s)))
				return CREDS_INVALID;
			if (ref_take(r, s, (size_t)(e - s)) != CREDS_OK)
				return CREDS_CONFLICT;
		}
	}
	for (k = 0; k < nx; k++) {
		for (cur = x[k]; ref_element(&cur, &s, &e);) {
			if (s == e)
				continue; /* empty: absent */
			if (!ref_usable(s, (size_t)(e - s)))
				return CREDS_INVALID;
			if (ref_take(r, s, (size_t)(e - s)) != CREDS_OK)
				return CREDS_CONFLICT;
		}
	}
	if (qp != NULL && q != NULL) {
		size_t nl = strlen(qp);
		const char *p = q;

		for (;;) {
			size_t plen = strcspn(p, "&");

			if (plen > nl && strncmp(p, qp, nl) == 0 && p[nl] == '=') {
				char dec[300];
				size_t o = 0;

				for (k = nl + 1; k < plen; k++) {
					int c = (unsigned char)p[k], hi, lo;

					if (c == '%') {
						if (k + 2 >= plen)
							return CREDS_INVALID;
						hi = ref_hex(p[k + 1]);
						lo = ref_hex(p[k + 2]);
						if (hi < 0 || lo < 0)
							return CREDS_INVALID;
						c = hi * 16 + lo;
						k += 2;
					} else if (c == '+') {
						c = ' ';
					}
					if (o == 256)
						return CREDS_INVALID; /* too long */
					dec[o++] = (char)c;
				}
				if (!ref_usable(dec, o))
					return CREDS_INVALID;
				/* every occurrence: a repeated parameter is no way around a conflict */
				if (ref_take(r, dec, o) != CREDS_OK)
					return CREDS_CONFLICT;
			}
			if (p[plen] == '\0')
				break;
			p += plen + 1;
		}
	}
	return r->have ? CREDS_OK : CREDS_MISSING;
}

static int
points_into(const char *p, const char *base)
{
	return base != NULL && p >= base && p <= base + strlen(base);
}

struct input {
	const char *auth[CREDS_COPIES_MAX + 2];
	size_t na;
	const char *x[CREDS_COPIES_MAX + 2];
	size_t nx;
};

static int
points_into_any(const char *p, const char *const *v, size_t n)
{
	size_t i;

	for (i = 0; i < n && i < CREDS_COPIES_MAX + 2; i++)
		if (points_into(p, v[i]))
			return 1;
	return 0;
}

static enum creds_rc
check_one(const struct input *in, const char *q, const char *qp, struct creds *c,
    int fill)
{
	enum creds_rc rc, want;
	struct ref r;
	size_t i;

	memset(c, fill, sizeof *c);
	rc = creds_extract(in->auth, in->na, in->x, in->nx, q, qp, c);
	want = ref_extract(in->auth, in->na, in->x, in->nx, q, qp, &r);
	FUZZ_CHECK(rc == want, "creds_extract gave %d, the reference %d", rc, want);
	if (rc == CREDS_OK) {
		FUZZ_CHECK(c->key != NULL && c->len >= 1 && c->len <= APIKEY_MAX,
		    "key length %zu", c->len);
		FUZZ_CHECK(c->len == r.len && memcmp(c->key, r.key, r.len) == 0,
		    "a different key than the reference");
		for (i = 0; i < c->len; i++)
			FUZZ_CHECK((unsigned char)c->key[i] > ' ' &&
			    (unsigned char)c->key[i] < 0x7f, "unprintable key byte");
		/* the key lives in one of the params or in the creds' own buffer */
		FUZZ_CHECK(points_into_any(c->key, in->auth, in->na) ||
		    points_into_any(c->key, in->x, in->nx) ||
		    (c->key >= c->buf && c->key < c->buf + sizeof c->buf),
		    "key points outside its sources");
	}
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"api_key", "key", "k", "access_token"};
	struct fields f;
	struct creds c;
	struct input in;
	const char *q, *qp;
	enum creds_rc with, without;
	size_t i;
	uint8_t flags;

	if (size < 1)
		return 0;
	flags = data[0];
	fields_split(&f, data + 1, size - 1, '\0', 4 + CREDS_COPIES_MAX + 4);
	memset(&in, 0, sizeof in);
	if (flags & 1)
		in.auth[in.na++] = field(&f, 0);
	if (flags & 2)
		in.x[in.nx++] = field(&f, 1);
	q = (flags & 4) ? field(&f, 2) : NULL;
	qp = field(&f, 3);
	if (qp == NULL || *qp == '\0')
		qp = names[(flags >> 3) & 3];
	/* more params of a repeated header; past CREDS_COPIES_MAX only counted */
	for (i = 4; i < f.n; i++) {
		const char **v = f.v[i][0] == 'A' ? in.auth : in.x;
		size_t *n = f.v[i][0] == 'A' ? &in.na : &in.nx;

		if (*n < sizeof in.auth / sizeof in.auth[0])
			v[(*n)++] = f.v[i][0] != '\0' ? f.v[i] + 1 : f.v[i];
	}

	without = check_one(&in, q, NULL, &c, 0x5a);
	/* Keys in the query string are read only when the operator asks. */
	FUZZ_CHECK(without == check_one(&in, NULL, NULL, &c, 0x5a),
	    "the query string mattered with no query parameter configured");
	/* from a zeroed struct: whatever is not zero was written by the decoder */
	with = check_one(&in, q, qp, &c, 0);
	if (q == NULL)
		FUZZ_CHECK(with == without, "no query, yet the parameter name mattered");

	/* nothing decoded from the query string survives creds_wipe, key or not */
	creds_wipe(&c);
	FUZZ_CHECK(c.key == NULL && c.len == 0, "creds_wipe left the key");
	for (i = 0; i < sizeof c.buf; i++)
		FUZZ_CHECK(c.buf[i] == 0, "creds_wipe left byte %zu (0x%02x) of a decoded value",
		    i, (unsigned char)c.buf[i]);
	fields_free(&f);
	return 0;
}
