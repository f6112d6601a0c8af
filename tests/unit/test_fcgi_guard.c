/*
 * test_fcgi_guard.c - the FastCGI stream guard: what web servers send
 * passes whole, in any chunking; the inputs that abort libfcgi, records
 * out of place, garbage, empty and huge streams are refused, at the byte
 * that makes them so; every limit holds at its value and refuses one past it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fastcgi.h>

#include "fcgi_guard.h"
#include "tap.h"

/* A stream under construction. */
struct buf {
	unsigned char *d;
	size_t len, cap;
};

static void
put(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		if ((b->d = realloc(b->d, b->cap)) == NULL)
			abort();
	}
	memcpy(b->d + b->len, p, n);
	b->len += n;
}

static void
header(struct buf *b, int type, unsigned id, size_t len, unsigned pad)
{
	unsigned char h[8] = {1, (unsigned char)type, (unsigned char)(id >> 8),
	    (unsigned char)id, (unsigned char)(len >> 8), (unsigned char)len,
	    (unsigned char)pad, 0};

	put(b, h, sizeof h);
}

static void
record(struct buf *b, int type, unsigned id, const void *p, size_t len, unsigned pad)
{
	static const unsigned char zeros[255];

	header(b, type, id, len, pad);
	put(b, p, len);
	put(b, zeros, pad);
}

static void
begin(struct buf *b, unsigned id, unsigned role, int keep)
{
	unsigned char body[8] = {(unsigned char)(role >> 8), (unsigned char)role,
	    (unsigned char)(keep ? FCGI_KEEP_CONN : 0), 0, 0, 0, 0, 0};

	record(b, FCGI_BEGIN_REQUEST, id, body, sizeof body, 0);
}

static void
length(struct buf *b, size_t n, int four)
{
	unsigned char l[4] = {(unsigned char)(n >> 24 | 0x80), (unsigned char)(n >> 16),
	    (unsigned char)(n >> 8), (unsigned char)n};

	if (n < 128 && !four)
		put(b, l + 3, 1);
	else
		put(b, l, 4);
}

/* One encoded pair (not a record): name and value of the given sizes. */
static void
pair(struct buf *b, size_t nlen, size_t vlen)
{
	char *s = malloc(nlen + vlen + 1);

	if (s == NULL)
		abort();
	memset(s, 'N', nlen);
	memset(s + nlen, 'v', vlen);
	length(b, nlen, 0);
	length(b, vlen, 0);
	put(b, s, nlen + vlen);
	free(s);
}

static void
pair_str(struct buf *b, const char *name, const char *value)
{
	length(b, strlen(name), 0);
	length(b, strlen(value), 0);
	put(b, name, strlen(name));
	put(b, value, strlen(value));
}

/* PARAMS records of at most chunk bytes each for the encoded pairs, then the empty one. */
static void
params(struct buf *b, unsigned id, const struct buf *pairs, size_t chunk, unsigned pad)
{
	size_t off = 0, n;

	while (off < pairs->len) {
		n = pairs->len - off < chunk ? pairs->len - off : chunk;
		record(b, FCGI_PARAMS, id, pairs->d + off, n, pad);
		off += n;
	}
	header(b, FCGI_PARAMS, id, 0, 0);
}

/* Feeds s in chunks of `step` bytes; the result, and where it was reached. */
static enum fcgi_guard_rc
feed(struct fcgi_guard *g, const struct buf *s, size_t step, size_t *at)
{
	enum fcgi_guard_rc rc = FCGI_GUARD_MORE;
	size_t off = 0, n;

	fcgi_guard_init(g);
	*at = 0;
	while (off < s->len) {
		n = s->len - off < step ? s->len - off : step;
		rc = fcgi_guard_feed(g, s->d + off, n);
		off += n;
		if (rc != FCGI_GUARD_MORE)
			break;
	}
	*at = off;
	return rc;
}

/* The result of s in one piece, which byte-by-byte feeding must agree with. */
static enum fcgi_guard_rc
check(const struct buf *s, size_t *at_byte, char *why, size_t whylen)
{
	struct fcgi_guard g, g1;
	enum fcgi_guard_rc whole, bytes, odd;
	size_t at, at1, at7;

	whole = feed(&g, s, s->len ? s->len : 1, &at);
	odd = feed(&g1, s, 7, &at7);
	bytes = feed(&g1, s, 1, &at1);
	if (whole != bytes || whole != odd)
		diag("chunking changed the result: whole %d, 7-byte %d, 1-byte %d", whole,
		    odd, bytes);
	*at_byte = at1;
	fcgi_guard_reason(&g, why, whylen);
	return whole == bytes && whole == odd ? whole : (enum fcgi_guard_rc)-1;
}

static const char *
rc_name(enum fcgi_guard_rc rc)
{
	return rc == FCGI_GUARD_MORE ? "more" : rc == FCGI_GUARD_COMPLETE ? "complete" :
	    rc == FCGI_GUARD_REFUSED ? "refused" : "inconsistent";
}

/* expect(stream, result, the reason's start or NULL) */
static void
expect(const char *desc, struct buf *s, enum fcgi_guard_rc want, const char *why_start)
{
	char why[160];
	size_t at;
	enum fcgi_guard_rc rc = check(s, &at, why, sizeof why);

	if (!ok(rc == want && (why_start == NULL || strncmp(why, why_start, strlen(why_start)) == 0),
	    "%s: %s", desc, rc_name(want)))
		diag("got %s at byte %zu: %s", rc_name(rc), at, why);
	free(s->d);
	memset(s, 0, sizeof *s);
}

static void
test_what_servers_send(void)
{
	struct buf s = {0}, p = {0};
	struct fcgi_guard g;
	size_t at;

	/* nginx: RESPONDER, a big param crossing records, padding, STDIN after */
	pair_str(&p, "REQUEST_METHOD", "GET");
	pair_str(&p, "REQUEST_URI", "/v1/items");
	pair(&p, 14, 70000);          /* a 4-byte value length, across two records */
	pair_str(&p, "HTTP_X_API_KEY", "");
	begin(&s, 1, FCGI_RESPONDER, 0);
	params(&s, 1, &p, 1000, 0);
	record(&s, FCGI_STDIN, 1, "", 0, 0);
	ok(feed(&g, &s, s.len, &at) == FCGI_GUARD_COMPLETE && fcgi_guard_params(&g) == 4 &&
	    fcgi_guard_role(&g) == FCGI_RESPONDER, "nginx-like request: complete, 4 params");
	expect("the same, byte by byte and in 7-byte chunks", &s, FCGI_GUARD_COMPLETE, NULL);

	/* Apache mod_authnz_fcgi: AUTHORIZER, padded PARAMS records, no STDIN */
	begin(&s, 1, FCGI_AUTHORIZER, 0);
	params(&s, 1, &p, 8192, 5);
	expect("authorizer with padded records", &s, FCGI_GUARD_COMPLETE, NULL);

	/* the length bytes themselves split across records */
	begin(&s, 7, FCGI_AUTHORIZER, 1);
	params(&s, 7, &p, 1, 0);
	expect("one byte per PARAMS record", &s, FCGI_GUARD_COMPLETE, NULL);

	/* libfcgi ends the params at this header: it never reads the padding */
	begin(&s, 1, FCGI_AUTHORIZER, 0);
	header(&s, FCGI_PARAMS, 1, 0, 255);
	expect("the last PARAMS record padded, its padding never sent", &s,
	    FCGI_GUARD_COMPLETE, NULL);

	/* no params at all, and 4-byte lengths of small numbers */
	begin(&s, 1, FCGI_AUTHORIZER, 0);
	header(&s, FCGI_PARAMS, 1, 0, 0);
	expect("an empty params stream", &s, FCGI_GUARD_COMPLETE, NULL);
	free(p.d);
	memset(&p, 0, sizeof p);
	length(&p, 3, 1);
	length(&p, 0, 1);
	put(&p, "ABC", 3);
	begin(&s, 1, FCGI_AUTHORIZER, 0);
	params(&s, 1, &p, 100, 0);
	expect("4-byte lengths of small numbers", &s, FCGI_GUARD_COMPLETE, NULL);
	free(p.d);

	/* after the params: nothing is examined, until the next request */
	begin(&s, 1, FCGI_AUTHORIZER, 1);
	header(&s, FCGI_PARAMS, 1, 0, 0);
	put(&s, "\x09garbage after the params", 25);
	ok(feed(&g, &s, s.len, &at) == FCGI_GUARD_COMPLETE, "bytes after the params: not examined");
	ok(fcgi_guard_feed(&g, "\xff\xff", 2) == FCGI_GUARD_COMPLETE, "... still complete");
	fcgi_guard_init(&g);
	ok(fcgi_guard_feed(&g, "\xff\xff\xff\xff\xff\xff\xff\xff", 8) == FCGI_GUARD_REFUSED,
	    "a kept connection's next request is checked from its first byte");
	free(s.d);
	memset(&s, 0, sizeof s);

	ok(fcgi_guard_feed(&g, "", 0) == FCGI_GUARD_REFUSED, "refused stays refused");
	fcgi_guard_init(&g);
	ok(fcgi_guard_feed(&g, "", 0) == FCGI_GUARD_MORE, "empty input: more to come");
	begin(&s, 1, FCGI_AUTHORIZER, 0);
	record(&s, FCGI_PARAMS, 1, "\x01", 1, 0);
	expect("a stream that stops mid-request: more to come", &s, FCGI_GUARD_MORE, NULL);
}

/* The inputs that crashed a worker. */
static void
test_crashers(void)
{
	struct buf s = {0}, p = {0};
	static const unsigned char huge[] = {0xd0, 0, 0, 0, 0xc0, 0, 0, 0};
	enum fcgi_guard_rc rc;
	size_t at;
	char why[160];
	unsigned i;

	begin(&s, 1, FCGI_AUTHORIZER, 0);
	record(&s, FCGI_PARAMS, 1, huge, sizeof huge, 0);
	rc = check(&s, &at, why, sizeof why);
	ok(rc == FCGI_GUARD_REFUSED && at == 16 + 8 + 4,
	    "name length 0x50000000: refused at its last length byte (byte %zu)", at);
	ok(strcmp(why, "param name too long (1342177280, limit 16384)") == 0, "reason: %s", why);
	free(s.d);
	memset(&s, 0, sizeof s);

	begin(&s, 1, FCGI_AUTHORIZER, 0);
	length(&p, 10, 0);
	length(&p, 0x7fffffffu, 1);
	record(&s, FCGI_PARAMS, 1, p.d, p.len, 0);
	expect("value length 0x7fffffff", &s, FCGI_GUARD_REFUSED, "param value too long");
	free(p.d);
	memset(&p, 0, sizeof p);

	for (i = 0; i < 10; i++)
		pair_str(&p, FCGI_MAX_CONNS, "");
	record(&s, FCGI_GET_VALUES, 0, p.d, p.len, 0);
	begin(&s, 1, FCGI_AUTHORIZER, 0);
	expect("FCGI_GET_VALUES asking for 10 variables", &s, FCGI_GUARD_REFUSED,
	    "too many params (4, limit 3)");
	free(p.d);
	memset(&p, 0, sizeof p);

	length(&p, 0x50000000u, 1);
	length(&p, 0x40000000u, 1);
	record(&s, FCGI_GET_VALUES, 0, p.d, p.len, 0);
	expect("FCGI_GET_VALUES with a 0x50000000-byte name", &s, FCGI_GUARD_REFUSED,
	    "param name too long");
	free(p.d);
}

static void
test_get_values(void)
{
	struct buf s = {0}, p = {0}, q = {0};

	pair_str(&p, FCGI_MAX_CONNS, "");
	pair_str(&p, FCGI_MAX_REQS, "");
	pair_str(&p, FCGI_MPXS_CONNS, "");
	record(&s, FCGI_GET_VALUES, 0, p.d, p.len, 3);
	begin(&s, 1, FCGI_AUTHORIZER, 0);
	pair_str(&q, "REQUEST_URI", "/");
	record(&s, FCGI_PARAMS, 1, q.d, q.len, 0);
	record(&s, FCGI_GET_VALUES, 0, p.d, p.len, 0);   /* between PARAMS records */
	record(&s, FCGI_GET_VALUES, 0, "", 0, 0);
	header(&s, FCGI_PARAMS, 1, 0, 0);
	expect("FCGI_GET_VALUES for the three variables, before and amid the params", &s,
	    FCGI_GUARD_COMPLETE, NULL);
	free(q.d);

	record(&s, FCGI_GET_VALUES, 0, p.d, p.len - 1, 0);
	expect("FCGI_GET_VALUES cut short inside a name", &s, FCGI_GUARD_REFUSED,
	    "FCGI_GET_VALUES pair longer");
	record(&s, FCGI_GET_VALUES, 0, "\x80\x00", 2, 0);
	expect("FCGI_GET_VALUES cut short inside a length", &s, FCGI_GUARD_REFUSED,
	    "FCGI_GET_VALUES record ends inside a pair");
	record(&s, FCGI_GET_VALUES, 1, p.d, p.len, 0);
	expect("FCGI_GET_VALUES with a request id", &s, FCGI_GUARD_REFUSED, "record type out of place");
	free(p.d);
}

static void
test_out_of_place(void)
{
	struct buf s = {0};
	unsigned char body[8] = {0, FCGI_AUTHORIZER, 0, 0, 0, 0, 0, 0};
	int t, n;

	put(&s, "\x02\x01\x00\x01\x00\x08\x00\x00", 8);
	expect("version 2", &s, FCGI_GUARD_REFUSED, "unsupported FastCGI version (2)");
	put(&s, "\x00", 1);
	put(&s, "\x01\x01\x00\x01\x00\x08\x00\x00", 8);
	expect("version 0", &s, FCGI_GUARD_REFUSED, "unsupported FastCGI version (0)");
	put(&s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
	expect("HTTP instead of FastCGI", &s, FCGI_GUARD_REFUSED, "unsupported FastCGI version");
	for (t = 0, n = 0; t < 256; t++) {
		struct fcgi_guard g;
		size_t at;

		if (t == FCGI_BEGIN_REQUEST)
			continue;
		s.len = 0;
		record(&s, t, 1, "", 0, 0);
		n += feed(&g, &s, s.len, &at) == FCGI_GUARD_REFUSED;
	}
	ok(n == 255, "every other record type before FCGI_BEGIN_REQUEST: refused (%d of 255)", n);
	free(s.d);
	memset(&s, 0, sizeof s);
	record(&s, FCGI_UNKNOWN_TYPE, 0, "\x01\x01", 2, 0);
	expect("a management record other than FCGI_GET_VALUES", &s, FCGI_GUARD_REFUSED,
	    "record type out of place before FCGI_BEGIN_REQUEST (11)");
	record(&s, FCGI_BEGIN_REQUEST, 0, body, 8, 0);
	expect("FCGI_BEGIN_REQUEST with request id 0", &s, FCGI_GUARD_REFUSED, "record type out of place");
	record(&s, FCGI_BEGIN_REQUEST, 1, body, 7, 0);
	expect("FCGI_BEGIN_REQUEST of 7 bytes", &s, FCGI_GUARD_REFUSED,
	    "FCGI_BEGIN_REQUEST of the wrong length (7)");
	record(&s, FCGI_BEGIN_REQUEST, 1, body, 8, 8);
	expect("FCGI_BEGIN_REQUEST with padding", &s, FCGI_GUARD_REFUSED,
	    "FCGI_BEGIN_REQUEST with padding (8)");
	begin(&s, 1, FCGI_FILTER, 0);
	expect("the FILTER role", &s, FCGI_GUARD_REFUSED, "FastCGI role other than");
	begin(&s, 1, 0, 0);
	expect("role 0", &s, FCGI_GUARD_REFUSED, "FastCGI role other than");
	begin(&s, 1, 0xffff, 0);
	expect("role 65535", &s, FCGI_GUARD_REFUSED, "FastCGI role other than RESPONDER or AUTHORIZER (65535)");

	begin(&s, 1, FCGI_AUTHORIZER, 0);
	begin(&s, 2, FCGI_AUTHORIZER, 0);
	expect("a second request multiplexed", &s, FCGI_GUARD_REFUSED, "record type out of place in the params (1)");
	begin(&s, 1, FCGI_AUTHORIZER, 0);
	record(&s, FCGI_PARAMS, 2, "", 0, 0);
	expect("PARAMS of another request", &s, FCGI_GUARD_REFUSED, "record type out of place in the params");
	begin(&s, 1, FCGI_AUTHORIZER, 0);
	record(&s, FCGI_STDIN, 1, "x", 1, 0);
	expect("STDIN before the params end", &s, FCGI_GUARD_REFUSED, "record type out of place in the params (5)");
	begin(&s, 1, FCGI_AUTHORIZER, 0);
	record(&s, FCGI_ABORT_REQUEST, 1, "", 0, 0);
	expect("ABORT_REQUEST in the params", &s, FCGI_GUARD_REFUSED, "record type out of place in the params (2)");
	begin(&s, 1, FCGI_AUTHORIZER, 0);
	record(&s, FCGI_PARAMS, 1, "\x05\x01" "ABC", 5, 0);
	header(&s, FCGI_PARAMS, 1, 0, 0);
	expect("params that end inside a param", &s, FCGI_GUARD_REFUSED, "params end inside a param");
	begin(&s, 1, FCGI_AUTHORIZER, 0);
	record(&s, FCGI_PARAMS, 1, "\x85", 1, 0);
	header(&s, FCGI_PARAMS, 1, 0, 0);
	expect("params that end inside a length", &s, FCGI_GUARD_REFUSED, "params end inside a param");
}

static void
test_limits(void)
{
	struct buf s = {0}, p = {0};
	size_t n, i;

	pair(&p, FCGI_GUARD_NAME_MAX, 1);
	begin(&s, 1, FCGI_AUTHORIZER, 0);
	params(&s, 1, &p, 65535, 0);
	expect("a name at the limit", &s, FCGI_GUARD_COMPLETE, NULL);
	p.len = 0;
	length(&p, FCGI_GUARD_NAME_MAX + 1, 0);
	begin(&s, 1, FCGI_AUTHORIZER, 0);
	record(&s, FCGI_PARAMS, 1, p.d, p.len, 0);
	expect("a name one byte over", &s, FCGI_GUARD_REFUSED, "param name too long (16385, limit 16384)");

	p.len = 0;
	pair(&p, 16, FCGI_GUARD_VALUE_MAX);
	begin(&s, 1, FCGI_AUTHORIZER, 0);
	params(&s, 1, &p, 65535, 0);
	expect("a value at the limit", &s, FCGI_GUARD_COMPLETE, NULL);
	p.len = 0;
	length(&p, 16, 0);
	length(&p, FCGI_GUARD_VALUE_MAX + 1, 0);
	begin(&s, 1, FCGI_AUTHORIZER, 0);
	record(&s, FCGI_PARAMS, 1, p.d, p.len, 0);
	expect("a value one byte over", &s, FCGI_GUARD_REFUSED, "param value too long (1048577, limit 1048576)");

	/* the whole params: values of 1 MiB minus their encoding, to the byte */
	p.len = 0;
	n = FCGI_GUARD_PARAMS_MAX;
	pair(&p, 1, FCGI_GUARD_VALUE_MAX);             /* 1 + 4 + 1 + 1 MiB */
	pair(&p, 1, n - p.len - 6);                    /* the rest, 1 + 4 + 1 + ... */
	begin(&s, 1, FCGI_AUTHORIZER, 0);
	params(&s, 1, &p, 65535, 0);
	ok(p.len == n, "params of exactly %zu bytes built", n);
	expect("params at the limit", &s, FCGI_GUARD_COMPLETE, NULL);
	put(&p, "\x00", 1);
	begin(&s, 1, FCGI_AUTHORIZER, 0);
	params(&s, 1, &p, 65535, 0);
	expect("params one byte over", &s, FCGI_GUARD_REFUSED, "params too large");

	p.len = 0;
	for (i = 0; i < FCGI_GUARD_PAIRS_MAX; i++)
		pair(&p, 1, 0);
	begin(&s, 1, FCGI_AUTHORIZER, 0);
	params(&s, 1, &p, 4000, 0);
	expect("10,000 params", &s, FCGI_GUARD_COMPLETE, NULL);
	pair(&p, 1, 0);
	begin(&s, 1, FCGI_AUTHORIZER, 0);
	params(&s, 1, &p, 4000, 0);
	expect("10,001 params", &s, FCGI_GUARD_REFUSED, "too many params (10001, limit 10000)");
	free(p.d);
}

/* Random bytes: refused or incomplete, never a crash, whatever the chunking. */
static void
test_garbage(void)
{
	struct buf s = {0};
	unsigned seed = 12345, i, j, refused = 0, consistent = 1;
	size_t at;
	char why[160];

	for (i = 0; i < 2000; i++) {
		s.len = 0;
		/* half of them start with a valid BEGIN_REQUEST */
		if (i % 2)
			begin(&s, 1, FCGI_AUTHORIZER, 0);
		for (j = 0; j < 1 + i % 300; j++) {
			unsigned char c;

			seed = seed * 1103515245u + 12345u;
			c = (unsigned char)(seed >> 16);
			put(&s, &c, 1);
		}
		switch ((int)check(&s, &at, why, sizeof why)) {
		case FCGI_GUARD_REFUSED: refused++; break;
		case -1: consistent = 0; break;
		default: break;
		}
	}
	ok(consistent, "2000 random streams: the same result in any chunking");
	ok(refused > 1900, "... %u of them refused", refused);
	free(s.d);
}

int
main(void)
{
	test_what_servers_send();
	test_crashers();
	test_get_values();
	test_out_of_place();
	test_limits();
	test_garbage();
	return done_testing();
}
