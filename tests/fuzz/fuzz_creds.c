/*
 * fuzz_creds.c - creds_extract on arbitrary Authorization, X-Api-Key and
 * query strings, with and without a query parameter name.
 *
 * Input: one flag byte, then NUL-separated fields (a NUL cannot occur in a
 * FastCGI param value as libfcgi hands it over):
 *   authorization \0 x_api_key \0 query \0 query_param
 * flag bits: 1 authorization present, 2 x_api_key present, 4 query present.
 *
 * The result is compared with a small reference written from SPEC 3, so a
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

static enum creds_rc
ref_extract(const char *auth, const char *x, const char *q, const char *qp,
    struct ref *r)
{
	static const char scheme[] = "bearer";
	const char *v;
	size_t n, i;

	memset(r, 0, sizeof *r);
	if (auth != NULL) {
		for (i = 0; i < 6; i++) {
			char c = auth[i];
			if (c >= 'A' && c <= 'Z')
				c = (char)(c - 'A' + 'a');
			if (c != scheme[i])
				break;
		}
		if (i == 6 && (auth[6] == '\0' || ref_ows(auth[6]))) {
			v = auth + 6;
			n = strlen(v);
			while (n > 0 && ref_ows(*v))
				v++, n--;
			while (n > 0 && ref_ows(v[n - 1]))
				n--;
			if (!ref_usable(v, n))
				return CREDS_INVALID;
			ref_take(r, v, n);
		}
	}
	if (x != NULL) {
		v = x;
		n = strlen(v);
		while (n > 0 && ref_ows(*v))
			v++, n--;
		while (n > 0 && ref_ows(v[n - 1]))
			n--;
		if (!ref_usable(v, n))
			return CREDS_INVALID;
		if (ref_take(r, v, n) != CREDS_OK)
			return CREDS_CONFLICT;
	}
	if (qp != NULL && q != NULL) {
		size_t nl = strlen(qp);
		const char *p = q;

		for (;;) {
			size_t plen = strcspn(p, "&");

			if (plen > nl && strncmp(p, qp, nl) == 0 && p[nl] == '=') {
				char dec[300];
				size_t o = 0, k;

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
				if (ref_take(r, dec, o) != CREDS_OK)
					return CREDS_CONFLICT;
				break;
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

static enum creds_rc
check_one(const char *auth, const char *x, const char *q, const char *qp,
    struct creds *c, int fill)
{
	enum creds_rc rc, want;
	struct ref r;
	size_t i;

	memset(c, fill, sizeof *c);
	rc = creds_extract(auth, x, q, qp, c);
	want = ref_extract(auth, x, q, qp, &r);
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
		FUZZ_CHECK(points_into(c->key, auth) || points_into(c->key, x) ||
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
	const char *auth, *x, *q, *qp;
	enum creds_rc with, without;
	size_t i;
	uint8_t flags;

	if (size < 1)
		return 0;
	flags = data[0];
	fields_split(&f, data + 1, size - 1, '\0', 4);
	auth = (flags & 1) ? field(&f, 0) : NULL;
	x = (flags & 2) ? field(&f, 1) : NULL;
	q = (flags & 4) ? field(&f, 2) : NULL;
	qp = field(&f, 3);
	if (qp == NULL || *qp == '\0')
		qp = names[(flags >> 3) & 3];

	without = check_one(auth, x, q, NULL, &c, 0x5a);
	/* Keys in the query string are read only when the operator asks. */
	FUZZ_CHECK(without == check_one(auth, x, NULL, NULL, &c, 0x5a),
	    "the query string mattered with no query parameter configured");
	/* from a zeroed struct: whatever is not zero was written by the decoder */
	with = check_one(auth, x, q, qp, &c, 0);
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
