/*
 * test_creds.c - where the key is read from (keygate-authz(8), What it reads).
 */
#include "config.h"

#include <string.h>

#include "creds.h"
#include "tap.h"

#define KEY  "kg_live_0123456789ABCDEFGHIJKLMNOPQRSTUV03NzCm"
#define KEY2 "kg_live_aZ3kQ9xW2mN7pL4vR8tY1cB6dF0gH5jK4J9uOT"

static struct creds cr;

/* One param of each header at most (NULL: none). */
static enum creds_rc
ex(const char *auth, const char *x, const char *q, const char *qp)
{
	const char *a[1] = {auth}, *k[1] = {x};

	memset(&cr, 0x33, sizeof cr);
	return creds_extract(a, auth != NULL, k, x != NULL, q, qp, &cr);
}

/* na Authorization and nx X-Api-Key params, as nginx passes repeated headers. */
static enum creds_rc
exn(const char *const *auth, size_t na, const char *const *x, size_t nx)
{
	memset(&cr, 0x33, sizeof cr);
	return creds_extract(auth, na, x, nx, NULL, NULL, &cr);
}

/* The extracted key as a C string, for is_str. */
static const char *
got(void)
{
	static char buf[APIKEY_BUF + 1];

	if (cr.key == NULL)
		return NULL;
	if (cr.len > APIKEY_MAX)
		return "(too long)";
	memcpy(buf, cr.key, cr.len);
	buf[cr.len] = '\0';
	return buf;
}

#define OK_KEY(auth, x, q, qp, want, desc) do {                         \
	enum creds_rc r_ = ex(auth, x, q, qp);                              \
	is_int(r_, CREDS_OK, "%s: OK", desc);                              \
	is_str(r_ == CREDS_OK ? got() : NULL, want, "%s: key", desc);       \
} while (0)

static void
test_bearer(void)
{
	OK_KEY("Bearer " KEY, NULL, NULL, NULL, KEY, "Bearer <key>");
	OK_KEY("bearer " KEY, NULL, NULL, NULL, KEY, "bearer (lower case)");
	OK_KEY("BEARER " KEY, NULL, NULL, NULL, KEY, "BEARER (upper case)");
	OK_KEY("BeArEr " KEY, NULL, NULL, NULL, KEY, "BeArEr (mixed case)");
	OK_KEY("Bearer   " KEY, NULL, NULL, NULL, KEY, "several spaces");
	OK_KEY("Bearer\t" KEY, NULL, NULL, NULL, KEY, "a tab");
	OK_KEY("Bearer \t \t" KEY, NULL, NULL, NULL, KEY, "spaces and tabs");
	OK_KEY("Bearer " KEY "   ", NULL, NULL, NULL, KEY, "trailing spaces");
	OK_KEY("Bearer " KEY "\t", NULL, NULL, NULL, KEY, "trailing tab");
	OK_KEY("Bearer abc", NULL, NULL, NULL, "abc", "any printable value is returned");

	is_int(ex("Bearer", NULL, NULL, NULL), CREDS_INVALID, "Bearer alone is invalid");
	is_int(ex("Bearer ", NULL, NULL, NULL), CREDS_INVALID, "Bearer + space is invalid");
	is_int(ex("Bearer\t", NULL, NULL, NULL), CREDS_INVALID, "Bearer + tab is invalid");
	is_int(ex("bearer  \t ", NULL, NULL, NULL), CREDS_INVALID, "Bearer + whitespace is invalid");
	is_int(ex("Bearer", KEY, NULL, NULL), CREDS_INVALID,
	    "an empty Bearer is invalid even with a good X-Api-Key");
	is_int(ex("Bearer " KEY " x", NULL, NULL, NULL), CREDS_INVALID,
	    "a value with an inner space is invalid");

	is_int(ex("Bearerx abc", NULL, NULL, NULL), CREDS_MISSING, "Bearerx is not Bearer");
	OK_KEY("Bearerx abc", KEY, NULL, NULL, KEY, "Bearerx + X-Api-Key uses X-Api-Key");
	is_int(ex("Bearer,abc", NULL, NULL, NULL), CREDS_MISSING, "Bearer,abc is not Bearer");
	is_int(ex("Bear abc", NULL, NULL, NULL), CREDS_MISSING, "Bear is not Bearer");
	is_int(ex("", NULL, NULL, NULL), CREDS_MISSING, "an empty Authorization is missing");
	is_int(ex(NULL, NULL, NULL, NULL), CREDS_MISSING, "nothing at all is missing");
}

static void
test_other_schemes(void)
{
	is_int(ex("Basic dXNlcjpwYXNz", NULL, NULL, NULL), CREDS_MISSING, "Basic alone is missing");
	is_int(ex("Token abc", NULL, NULL, NULL), CREDS_MISSING, "Token alone is missing");
	OK_KEY("Basic dXNlcjpwYXNz", KEY, NULL, NULL, KEY, "Basic + X-Api-Key");
	OK_KEY(NULL, KEY, NULL, NULL, KEY, "X-Api-Key alone");
	OK_KEY(NULL, "  " KEY "\t", NULL, NULL, KEY, "X-Api-Key with surrounding whitespace");
	OK_KEY("Bearer " KEY, KEY, NULL, NULL, KEY, "both with the same key");
	is_int(ex("Bearer " KEY, KEY2, NULL, NULL), CREDS_CONFLICT, "both with different keys conflict");
	is_int(ex("Bearer " KEY, KEY "x", NULL, NULL), CREDS_CONFLICT,
	    "a key and its extension conflict");
	is_int(ex("Bearer " KEY "x", KEY, NULL, NULL), CREDS_CONFLICT,
	    "an extension and its key conflict");
	is_int(ex(NULL, "", NULL, NULL), CREDS_MISSING, "an empty X-Api-Key is absent");
	is_int(ex(NULL, "   ", NULL, NULL), CREDS_MISSING, "a blank X-Api-Key is absent");
	/* nginx's "fastcgi_param HTTP_X_API_KEY $http_x_api_key;" for a client without one */
	OK_KEY("Bearer " KEY, "", NULL, NULL, KEY, "Bearer and an empty X-Api-Key");
	OK_KEY("", KEY, NULL, NULL, KEY, "an empty Authorization and X-Api-Key");
	OK_KEY("Bearer " KEY, " \t ", NULL, NULL, KEY, "Bearer and a blank X-Api-Key");
}

/* A header sent twice: separate params (nginx) or joined with ", " (Apache, lighttpd). */
static void
test_repeated(void)
{
	static const char *const two_same[] = {KEY, KEY};
	static const char *const two_diff[] = {KEY, KEY2};
	static const char *const empty_first[] = {"", KEY};
	static const char *const empty_last[] = {KEY, ""};
	static const char *const bad_then_good[] = {"Bearer kg_live_bad", "Bearer " KEY};
	static const char *const bearer_twice[] = {"Bearer " KEY, "bearer\t" KEY};
	static const char *const bearer_basic[] = {"Basic dXNlcjpwdw==", "Bearer " KEY};
	static const char *const empty_bearer[] = {"Bearer " KEY, "Bearer"};
	static const char *const nine[] = {KEY, KEY, KEY, KEY, KEY, KEY, KEY, KEY, KEY};
	static const char *const one[] = {KEY};

	is_int(exn(NULL, 0, two_same, 2), CREDS_OK, "two X-Api-Key params, the same key");
	is_str(got(), KEY, "  and that key");
	is_int(exn(NULL, 0, two_diff, 2), CREDS_CONFLICT, "two X-Api-Key params, different keys");
	is_int(exn(NULL, 0, two_diff + 1, 1), CREDS_OK, "(the second alone is fine)");
	is_int(exn(NULL, 0, empty_first, 2), CREDS_OK, "an empty X-Api-Key param, then a key");
	is_int(exn(NULL, 0, empty_last, 2), CREDS_OK, "a key, then an empty X-Api-Key param");
	is_int(exn(bad_then_good, 2, NULL, 0), CREDS_CONFLICT,
	    "two Authorization params, a bad key then a good one: never the last one");
	is_int(exn(bad_then_good + 1, 1, NULL, 0), CREDS_OK, "(the good one alone is fine)");
	is_int(exn(bearer_twice, 2, NULL, 0), CREDS_OK, "two Authorization params, the same key");
	is_int(exn(bearer_basic, 2, NULL, 0), CREDS_OK, "Basic (another layer's) and Bearer params");
	is_str(got(), KEY, "  the Bearer key");
	is_int(exn(empty_bearer, 2, NULL, 0), CREDS_INVALID, "an empty Bearer param is invalid");
	is_int(exn(bearer_basic + 1, 1, two_diff + 1, 1), CREDS_CONFLICT, "Bearer and a different X-Api-Key");
	is_int(exn(NULL, 0, nine, 8), CREDS_OK, "8 copies of the same key");
	is_int(exn(NULL, 0, nine, 9), CREDS_CONFLICT, "9 copies: more than are examined, refused");
	is_int(exn(one, 1, NULL, 9), CREDS_CONFLICT, "9 X-Api-Key params are refused before any is read");
	is_int(exn(nine, 9, NULL, 0), CREDS_CONFLICT, "9 Authorization params too");

	/* Apache and lighttpd: one param, the copies joined with ", " */
	OK_KEY(NULL, KEY ", " KEY, NULL, NULL, KEY, "joined X-Api-Key, the same key twice");
	is_int(ex(NULL, KEY ", " KEY2, NULL, NULL), CREDS_CONFLICT, "joined X-Api-Key, two keys");
	is_int(ex(NULL, "k1, k2", NULL, NULL), CREDS_CONFLICT, "'k1, k2' is two keys, not one");
	is_int(ex(NULL, KEY ",\t" KEY2, NULL, NULL), CREDS_CONFLICT, "joined with a comma and a tab");
	OK_KEY(NULL, KEY ", ", NULL, NULL, KEY, "joined with an empty copy after");
	OK_KEY(NULL, ", " KEY, NULL, NULL, KEY, "joined with an empty copy before");
	OK_KEY(NULL, KEY ", , " KEY, NULL, NULL, KEY, "joined with an empty copy between (Apache)");
	is_int(ex(NULL, ", ", NULL, NULL), CREDS_MISSING, "two empty copies joined");
	OK_KEY(NULL, "abc,def,ghi", NULL, NULL, "abc,def,ghi", "a comma without a space is part of a value");
	OK_KEY("Bearer " KEY ", Bearer " KEY, NULL, NULL, NULL, KEY, "joined Authorization, the same key");
	is_int(ex("Bearer " KEY ", Bearer " KEY2, NULL, NULL, NULL), CREDS_CONFLICT,
	    "joined Authorization, two keys");
	is_int(ex("Bearer kg_live_bad, Bearer " KEY, NULL, NULL, NULL), CREDS_CONFLICT,
	    "joined Authorization, a bad key then a good one");
	is_int(ex("Bearer , Bearer " KEY, NULL, NULL, NULL), CREDS_INVALID,
	    "joined Authorization with an empty Bearer");
	OK_KEY("Basic dXNlcjpwdw==, Bearer " KEY, NULL, NULL, NULL, KEY, "joined Basic and Bearer");
	OK_KEY("Digest username=\"a\", realm=\"b\", nonce=\"c\"", KEY, NULL, NULL, KEY,
	    "a Digest header's commas are not keys");
	is_int(ex("Bearer " KEY ", Bearer " KEY, KEY2, NULL, NULL), CREDS_CONFLICT,
	    "joined Authorization and a different X-Api-Key");
}

static void
test_bad_values(void)
{
	char big[8200], v[300];
	unsigned c;
	int bad;

	memset(big, 'a', sizeof big);
	memcpy(big, "Bearer ", 7);
	big[7 + 8192] = '\0';
	is_int(ex(big, NULL, NULL, NULL), CREDS_INVALID, "an 8 KiB Bearer value is invalid");
	is_int(ex(NULL, big + 7, NULL, NULL), CREDS_INVALID, "an 8 KiB X-Api-Key is invalid");
	big[7 + 256] = '\0';
	is_int(ex(big, NULL, NULL, NULL), CREDS_OK, "a 256-byte Bearer value is fine");
	is_int((int)cr.len, 256, "and is 256 bytes long");
	big[7 + 256] = 'a';
	big[7 + 257] = '\0';
	is_int(ex(big, NULL, NULL, NULL), CREDS_INVALID, "a 257-byte Bearer value is invalid");
	is_int(ex(NULL, big + 7, NULL, NULL), CREDS_INVALID, "a 257-byte X-Api-Key is invalid");

	bad = 0;
	for (c = 1; c < 256; c++) {
		if (c >= 0x21 && c <= 0x7e)
			continue;
		if (c == ' ' || c == '\t')
			continue; /* separators, tested above */
		snprintf(v, sizeof v, "Bearer abc%cdef", (char)c);
		if (ex(v, NULL, NULL, NULL) != CREDS_INVALID)
			bad++;
		snprintf(v, sizeof v, "abc%cdef", (char)c);
		if (ex(NULL, v, NULL, NULL) != CREDS_INVALID)
			bad++;
		snprintf(v, sizeof v, "Bearer abcdef%c", (char)c);
		if (ex(v, NULL, NULL, NULL) != CREDS_INVALID)
			bad++;
	}
	is_int(bad, 0, "a control byte (incl. CR, LF), DEL or non-ASCII byte inside or at the end is invalid");
	is_int(ex("Bearer k\xc3\xa9y", NULL, NULL, NULL), CREDS_INVALID, "UTF-8 is invalid");
	is_int(ex("Bearer " KEY "\r\nX-Evil: 1", NULL, NULL, NULL), CREDS_INVALID,
	    "a CRLF-injected Bearer value is invalid");
}

static void
test_query(void)
{
	char q[1200];
	int i;

	is_int(ex(NULL, NULL, "api_key=" KEY, NULL), CREDS_MISSING,
	    "the query is not read when query_param is NULL");
	OK_KEY(NULL, NULL, "api_key=" KEY, "api_key", KEY, "query parameter");
	ok(cr.key == cr.buf, "the query key lives in creds.buf");
	OK_KEY(NULL, NULL, "a=1&api_key=" KEY "&b=2", "api_key", KEY, "parameter among others");
	OK_KEY(NULL, NULL, "a=1&api_key=" KEY, "api_key", KEY, "parameter last");
	is_int(ex(NULL, NULL, "xapi_key=" KEY, "api_key"), CREDS_MISSING, "xapi_key is another parameter");
	is_int(ex(NULL, NULL, "api_keyx=" KEY, "api_key"), CREDS_MISSING, "api_keyx is another parameter");
	is_int(ex(NULL, NULL, "api_key", "api_key"), CREDS_MISSING, "a name without = has no value");
	is_int(ex(NULL, NULL, "", "api_key"), CREDS_MISSING, "an empty query");
	is_int(ex(NULL, NULL, NULL, "api_key"), CREDS_MISSING, "no query");
	is_int(ex(NULL, NULL, "api_key=", "api_key"), CREDS_INVALID, "an empty value is invalid");
	OK_KEY(NULL, NULL, "api_key=kg_live_%30%31%32" "3456789ABCDEFGHIJKLMNOPQRSTUV03NzCm", "api_key",
	    KEY, "percent-decoding");
	OK_KEY(NULL, NULL, "api_key=%6b%67%5Flive_0123456789ABCDEFGHIJKLMNOPQRSTUV03NzCm", "api_key",
	    KEY, "percent-decoding with both cases");
	is_int(ex(NULL, NULL, "api_key=ab%zz", "api_key"), CREDS_INVALID, "%%zz is invalid");
	is_int(ex(NULL, NULL, "api_key=ab%4", "api_key"), CREDS_INVALID, "%%4 at the end is invalid");
	is_int(ex(NULL, NULL, "api_key=ab%4&x=1", "api_key"), CREDS_INVALID, "%%4& is invalid");
	is_int(ex(NULL, NULL, "api_key=ab%", "api_key"), CREDS_INVALID, "%% at the end is invalid");
	is_int(ex(NULL, NULL, "api_key=a%00b", "api_key"), CREDS_INVALID, "%%00 is invalid");
	is_int(ex(NULL, NULL, "api_key=a%0Ab", "api_key"), CREDS_INVALID, "%%0A is invalid");
	is_int(ex(NULL, NULL, "api_key=a%20b", "api_key"), CREDS_INVALID, "%%20 is invalid");
	is_int(ex(NULL, NULL, "api_key=a+b", "api_key"), CREDS_INVALID, "+ (a space) is invalid");
	is_int(ex(NULL, NULL, "api_key=a%C3%A9", "api_key"), CREDS_INVALID, "encoded UTF-8 is invalid");

	/* length: 256 decoded bytes fine, 257 not, however they are encoded */
	strcpy(q, "api_key=");
	for (i = 0; i < 256; i++)
		strcat(q, "%41");
	is_int(ex(NULL, NULL, q, "api_key"), CREDS_OK, "256 decoded bytes (768 encoded) are fine");
	is_int((int)cr.len, 256, "and decode to 256 bytes");
	strcat(q, "A");
	is_int(ex(NULL, NULL, q, "api_key"), CREDS_INVALID, "257 decoded bytes are invalid");

	OK_KEY("Bearer " KEY, NULL, "api_key=" KEY, "api_key", KEY, "header and query with the same key");
	is_int(ex("Bearer " KEY, NULL, "api_key=" KEY2, "api_key"), CREDS_CONFLICT,
	    "header and query with different keys conflict");
	is_int(ex(NULL, KEY, "api_key=" KEY2, "api_key"), CREDS_CONFLICT,
	    "X-Api-Key and query with different keys conflict");
	OK_KEY(NULL, KEY, "other=1", "api_key", KEY, "query without the parameter");
	is_int(ex("Bearer " KEY, NULL, "api_key=%zz", "api_key"), CREDS_INVALID,
	    "a bad query key is invalid even with a good header");
	OK_KEY(NULL, NULL, "api_key=" KEY "&api_key=" KEY, "api_key", KEY, "the parameter twice, same key");
	ok(cr.key == cr.buf, "  the key lives in creds.buf");
	is_int(ex(NULL, NULL, "api_key=" KEY "&api_key=" KEY2, "api_key"), CREDS_CONFLICT,
	    "the parameter twice, two keys: never the first one");
	is_int(ex(NULL, NULL, "api_key=" KEY "&x=1&api_key=%zz", "api_key"), CREDS_INVALID,
	    "the parameter twice, the second undecodable");
	is_int(ex("Bearer " KEY, NULL, "api_key=" KEY "&api_key=" KEY2, "api_key"), CREDS_CONFLICT,
	    "a header and the parameter twice, one of them another key");
}

static void
test_wipe(void)
{
	size_t i;
	int dirty = 0;

	ex(NULL, NULL, "api_key=" KEY, "api_key");
	creds_wipe(&cr);
	for (i = 0; i < sizeof cr.buf; i++)
		if (cr.buf[i] != 0)
			dirty++;
	is_int(dirty, 0, "creds_wipe clears the decoded key");
	ok(cr.key == NULL && cr.len == 0, "creds_wipe forgets the key");

	/* a value decoded to a leading NUL still left bytes behind it */
	ex(NULL, NULL, "api_key=%00" KEY, "api_key");
	creds_wipe(&cr);
	for (dirty = 0, i = 0; i < sizeof cr.buf; i++)
		if (cr.buf[i] != 0)
			dirty++;
	is_int(dirty, 0, "creds_wipe clears a decoded value that starts with NUL");

	ex(NULL, NULL, "api_key=" KEY "&api_key=" KEY2, "api_key");
	creds_wipe(&cr);
	for (dirty = 0, i = 0; i < sizeof cr.buf; i++)
		if (cr.buf[i] != 0)
			dirty++;
	is_int(dirty, 0, "creds_wipe clears the buffer after a conflict in the query");
}

int
main(void)
{
	test_bearer();
	test_other_schemes();
	test_repeated();
	test_bad_values();
	test_query();
	test_wipe();
	return done_testing();
}
