/*
 * fuzz_jsonparse.c - the strict JSON parser (src/jsonparse.c) on arbitrary
 * bytes.
 *
 * Input: the document, all of it.
 *
 * Invariants, for every input: a refusal has a code, an offset within the
 * input (or the limit, for one too large) and a one-line message
 * "at byte N: ..." of printable text.  Input that holds a byte no JSON
 * document may hold (a NUL, a control character other than the four
 * whitespace bytes, a byte that does not start well-formed UTF-8, judged
 * by a reference written from the Unicode table) is refused at or before
 * that byte.
 *
 * For every accepted document: each value's offset points at the byte
 * that starts its kind, in document order; numbers are the input's text
 * and match RFC 8259's grammar (a reference from the ABNF); strings are
 * well-formed UTF-8 without NUL; no object holds a name twice; jp_get
 * finds every member and jp_object_only the one left out; the integer
 * conversions agree with strtoll/strtoull and with each other; nesting and
 * counts are within the limits.  The tree written again with src/json.c's
 * writer parses to the same tree, and the document cut before its last
 * closing bracket is refused as ending early.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "json.h"
#include "jsonparse.h"

static struct jp_arena *first, *again;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	first = jp_arena_new(JP_INPUT_MAX, JP_VALUES_MAX);
	again = jp_arena_new(JP_INPUT_MAX, JP_VALUES_MAX);
	if (first == NULL || again == NULL)
		abort();
	return 0;
}

/* Length of the well-formed UTF-8 sequence at s (Unicode table 3-7), or 0. */
static size_t
ref_utf8(const unsigned char *s, size_t n)
{
	unsigned char a = s[0];

	if (a <= 0x7f)
		return 1;
#define IN(i, lo, hi) (n > (i) && s[i] >= (lo) && s[i] <= (hi))
	if (a >= 0xc2 && a <= 0xdf)
		return IN(1, 0x80, 0xbf) ? 2 : 0;
	if (a == 0xe0)
		return IN(1, 0xa0, 0xbf) && IN(2, 0x80, 0xbf) ? 3 : 0;
	if ((a >= 0xe1 && a <= 0xec) || a == 0xee || a == 0xef)
		return IN(1, 0x80, 0xbf) && IN(2, 0x80, 0xbf) ? 3 : 0;
	if (a == 0xed)
		return IN(1, 0x80, 0x9f) && IN(2, 0x80, 0xbf) ? 3 : 0;
	if (a == 0xf0)
		return IN(1, 0x90, 0xbf) && IN(2, 0x80, 0xbf) && IN(3, 0x80, 0xbf) ? 4 : 0;
	if (a >= 0xf1 && a <= 0xf3)
		return IN(1, 0x80, 0xbf) && IN(2, 0x80, 0xbf) && IN(3, 0x80, 0xbf) ? 4 : 0;
	if (a == 0xf4)
		return IN(1, 0x80, 0x8f) && IN(2, 0x80, 0xbf) && IN(3, 0x80, 0xbf) ? 4 : 0;
#undef IN
	return 0;
}

/* The first byte no JSON text may hold, or n. */
static size_t FUZZ_NO_COVERAGE
first_poison(const unsigned char *s, size_t n)
{
	size_t i = 0, k;

	while (i < n) {
		if (s[i] < 0x20 && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			return i;
		if ((k = ref_utf8(s + i, n - i)) == 0)
			return i;
		i += k;
	}
	return n;
}

/*
 * RFC 8259 section 6 as a state machine over the ABNF:
 *   number = [ minus ] int [ frac ] [ exp ]
 *   int = zero / ( digit1-9 *DIGIT ), frac = "." 1*DIGIT,
 *   exp = ( "e" / "E" ) [ minus / plus ] 1*DIGIT
 */
static int FUZZ_NO_COVERAGE
ref_number(const char *s, size_t n)
{
	enum { START, SIGN, ZERO, INT, DOT, FRAC, E, ESIGN, EXP } st = START;
	size_t i;

	for (i = 0; i < n; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9';

		switch (st) {
		case START: st = c == '-' ? SIGN : c == '0' ? ZERO : d ? INT : 99; break;
		case SIGN: st = c == '0' ? ZERO : d ? INT : 99; break;
		case ZERO: st = c == '.' ? DOT : (c == 'e' || c == 'E') ? E : 99; break;
		case INT: st = d ? INT : c == '.' ? DOT : (c == 'e' || c == 'E') ? E : 99; break;
		case DOT: st = d ? FRAC : 99; break;
		case FRAC: st = d ? FRAC : (c == 'e' || c == 'E') ? E : 99; break;
		case E: st = (c == '+' || c == '-') ? ESIGN : d ? EXP : 99; break;
		case ESIGN: st = d ? EXP : 99; break;
		case EXP: st = d ? EXP : 99; break;
		default: return 0;
		}
		if ((int)st == 99)
			return 0;
	}
	return st == ZERO || st == INT || st == FRAC || st == EXP;
}

static void
check_message(const struct jp_error *e, size_t size)
{
	char want[40];
	const unsigned char *m = (const unsigned char *)e->msg;
	size_t len = strnlen(e->msg, sizeof e->msg), k;

	FUZZ_CHECK(e->code != JP_OK, "a refusal without a code");
	FUZZ_CHECK(e->offset <= size || (e->code == JP_E_TOO_LARGE && e->offset < size),
	    "offset %zu beyond the input (%zu)", e->offset, size);
	snprintf(want, sizeof want, "at byte %zu: ", e->offset);
	FUZZ_CHECK(len < sizeof e->msg && strncmp(e->msg, want, strlen(want)) == 0,
	    "message %s", e->msg);
	for (k = 0; k < len; k++) {
		if (m[k] == 0xe2 && m[k + 1] == 0x80 && m[k + 2] == 0xa6) {
			k += 2; /* the ellipsis of a cut name */
			continue;
		}
		FUZZ_CHECK(m[k] >= 0x20 && m[k] <= 0x7e, "byte 0x%02x in the message", m[k]);
	}
}

/* The conversions against the C library and against each other. */
static void FUZZ_NO_COVERAGE
check_integers(const struct jp_value *v)
{
	int64_t i = 0;
	uint64_t u = 0;
	enum jp_conv ri = jp_int64(v, &i), ru = jp_uint64(v, &u);
	int plain = strpbrk(v->str, ".eE") == NULL, neg = v->str[0] == '-';

	FUZZ_CHECK(ri != JP_CONV_TYPE && ru != JP_CONV_TYPE, "a number is no number: %s", v->str);
	FUZZ_CHECK((ri == JP_CONV_FRACTION) == (ru == JP_CONV_FRACTION),
	    "fraction for one type only: %s", v->str);
	if (ri == JP_CONV_OK && ru == JP_CONV_OK)
		FUZZ_CHECK(i >= 0 && (uint64_t)i == u, "%s: %lld and %llu", v->str,
		    (long long)i, (unsigned long long)u);
	if (ri == JP_CONV_OK && i < 0)
		FUZZ_CHECK(ru == JP_CONV_RANGE, "%s: negative as uint64", v->str);
	if (ri == JP_CONV_OK && i > -(1LL << 53) && i < (1LL << 53))
		FUZZ_CHECK(strtod(v->str, NULL) == (double)i, "%s is not %lld", v->str, (long long)i);
	if (plain) {
		long long ll;
		unsigned long long ull;

		FUZZ_CHECK(ri != JP_CONV_FRACTION, "%s: an integer as a fraction", v->str);
		errno = 0;
		ll = strtoll(v->str, NULL, 10);
		FUZZ_CHECK((ri == JP_CONV_OK) == (errno == 0), "%s: int64 %d, strtoll errno %d",
		    v->str, ri, errno);
		if (ri == JP_CONV_OK)
			FUZZ_CHECK(ll == i, "%s: %lld, strtoll %lld", v->str, (long long)i, ll);
		if (!neg) {
			errno = 0;
			ull = strtoull(v->str, NULL, 10);
			FUZZ_CHECK((ru == JP_CONV_OK) == (errno == 0), "%s: uint64 %d", v->str, ru);
			if (ru == JP_CONV_OK)
				FUZZ_CHECK(ull == u, "%s: %llu, strtoull %llu", v->str,
				    (unsigned long long)u, ull);
		} else {
			FUZZ_CHECK((ru == JP_CONV_OK) == (strcmp(v->str, "-0") == 0),
			    "%s: uint64 %d", v->str, ru);
		}
	}
}

static void
check_object(const struct jp_value *obj)
{
	const char *names[64];
	const struct jp_value *c, *d, *bad;
	size_t n = 0;

	for (c = obj->child; c != NULL; c = c->next) {
		FUZZ_CHECK(c->name != NULL, "a member without a name");
		FUZZ_CHECK(jp_get(obj, c->name) == c, "jp_get misses \"%s\"", c->name);
		for (d = c->next; d != NULL; d = d->next)
			FUZZ_CHECK(strcmp(c->name, d->name) != 0, "\"%s\" twice", c->name);
		if (n < 63)
			names[n++] = c->name;
	}
	if (obj->len >= 64)
		return;
	names[n] = NULL;
	FUZZ_CHECK(jp_object_only(obj, names, &bad) == 0 && bad == NULL,
	    "jp_object_only refuses the object's own names");
	if (n > 0) { /* leave out the last: that one is reported */
		names[n - 1] = NULL;
		FUZZ_CHECK(jp_object_only(obj, names, &bad) == -1 && bad != NULL &&
		    bad->next == NULL, "jp_object_only misses the member left out");
	}
}

/* One value and what is under it; *last is the previous offset in document order. */
static size_t
check_tree(const struct jp_value *v, const unsigned char *in, size_t size,
    int depth, long *last)
{
	static const char starts[] = {
		[JP_NULL] = 'n', [JP_FALSE] = 'f', [JP_TRUE] = 't', [JP_STRING] = '"',
		[JP_ARRAY] = '[', [JP_OBJECT] = '{',
	};
	const struct jp_value *c;
	size_t count = 1, n = 0, k;

	FUZZ_CHECK(v->offset < size, "offset %u beyond the input", v->offset);
	FUZZ_CHECK((long)v->offset > *last, "offset %u not after %ld", v->offset, *last);
	*last = (long)v->offset;
	if (v->type == JP_NUMBER)
		FUZZ_CHECK(in[v->offset] == '-' || (in[v->offset] >= '0' && in[v->offset] <= '9'),
		    "a number at a 0x%02x", in[v->offset]);
	else
		FUZZ_CHECK(in[v->offset] == (unsigned char)starts[v->type],
		    "a %s at a 0x%02x", jp_type_name(v->type), in[v->offset]);
	switch (v->type) {
	case JP_NUMBER:
		FUZZ_CHECK(strlen(v->str) == v->len && v->offset + v->len <= size &&
		    memcmp(in + v->offset, v->str, v->len) == 0, "a number that is not the input's text");
		FUZZ_CHECK(ref_number(v->str, v->len), "not a JSON number: %s", v->str);
		check_integers(v);
		break;
	case JP_STRING:
		FUZZ_CHECK(strlen(v->str) == v->len && v->len <= JP_STRING_MAX, "string length");
		for (k = 0; k < v->len; k += ref_utf8((const unsigned char *)v->str + k, v->len - k))
			FUZZ_CHECK(ref_utf8((const unsigned char *)v->str + k, v->len - k) > 0,
			    "a string is not well-formed UTF-8");
		break;
	case JP_ARRAY:
	case JP_OBJECT:
		FUZZ_CHECK(depth < JP_DEPTH_MAX, "nested %d deep", depth + 1);
		for (c = v->child; c != NULL; c = c->next) {
			if (v->type == JP_OBJECT) {
				FUZZ_CHECK(c->name != NULL && strlen(c->name) <= JP_STRING_MAX &&
				    c->name_offset > (uint32_t)*last && c->name_offset < c->offset &&
				    in[c->name_offset] == '"', "a member name's offset");
				*last = (long)c->name_offset;
			} else {
				FUZZ_CHECK(c->name == NULL, "an element with a name");
			}
			count += check_tree(c, in, size, depth + 1, last);
			n++;
		}
		FUZZ_CHECK(n == v->len, "%zu children, len %u", n, v->len);
		if (v->type == JP_OBJECT)
			check_object(v);
		break;
	default:
		break;
	}
	return count;
}

/*
 * Writes v with src/json.c.  The writer has no call for a number's text
 * as it is: integers go through json_int/json_uint, any other number
 * replaces the "null" json_null has just written (the writer placed the
 * separator before it).
 */
static void
write_tree(struct json *j, const struct jp_value *v)
{
	const struct jp_value *c;
	int64_t i;
	uint64_t u;

	switch (v->type) {
	case JP_NULL: json_null(j); break;
	case JP_TRUE: json_bool(j, 1); break;
	case JP_FALSE: json_bool(j, 0); break;
	case JP_STRING: json_str(j, v->str); break;
	case JP_NUMBER:
		if (jp_int64(v, &i) == JP_CONV_OK) {
			json_int(j, i);
		} else if (jp_uint64(v, &u) == JP_CONV_OK) {
			json_uint(j, u);
		} else {
			json_null(j);
			if (fseek(j->f, -4, SEEK_CUR) != 0)
				abort();
			fputs(v->str, j->f);
		}
		break;
	case JP_ARRAY:
		json_arr_begin(j);
		for (c = v->child; c != NULL; c = c->next)
			write_tree(j, c);
		json_arr_end(j);
		break;
	case JP_OBJECT:
		json_obj_begin(j);
		for (c = v->child; c != NULL; c = c->next) {
			json_key(j, c->name);
			write_tree(j, c);
		}
		json_obj_end(j);
		break;
	}
}

/* Same tree: numbers as the same integer, or the same text. */
static void
same_tree(const struct jp_value *a, const struct jp_value *b)
{
	int64_t ia, ib;
	uint64_t ua, ub;

	FUZZ_CHECK(a->type == b->type, "type %s became %s", jp_type_name(a->type),
	    jp_type_name(b->type));
	FUZZ_CHECK((a->name == NULL) == (b->name == NULL) &&
	    (a->name == NULL || strcmp(a->name, b->name) == 0), "a member name changed");
	switch (a->type) {
	case JP_STRING:
		FUZZ_CHECK(a->len == b->len && memcmp(a->str, b->str, a->len) == 0, "a string changed");
		break;
	case JP_NUMBER:
		if (jp_int64(a, &ia) == JP_CONV_OK)
			FUZZ_CHECK(jp_int64(b, &ib) == JP_CONV_OK && ia == ib, "%s became %s", a->str, b->str);
		else if (jp_uint64(a, &ua) == JP_CONV_OK)
			FUZZ_CHECK(jp_uint64(b, &ub) == JP_CONV_OK && ua == ub, "%s became %s", a->str, b->str);
		else
			FUZZ_CHECK(strcmp(a->str, b->str) == 0, "%s became %s", a->str, b->str);
		break;
	case JP_ARRAY:
	case JP_OBJECT:
		FUZZ_CHECK(a->len == b->len, "%u children became %u", a->len, b->len);
		for (a = a->child, b = b->child; a != NULL && b != NULL; a = a->next, b = b->next)
			same_tree(a, b);
		break;
	default:
		break;
	}
}

static void
round_trip(const struct jp_value *root)
{
	char *out = NULL;
	size_t len = 0;
	struct json j;
	struct jp_error e;
	const struct jp_value *back;
	FILE *f = open_memstream(&out, &len);

	if (f == NULL)
		abort();
	json_init(&j, f);
	write_tree(&j, root);
	if (fclose(f) != 0)
		abort();
	back = jp_parse(again, out, len, &e);
	FUZZ_CHECK(back != NULL, "json.c's output is refused: %s: %s", e.msg, out);
	same_tree(root, back);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *in = fuzz_dup(data, size);
	const struct jp_value *root;
	struct jp_error e;
	size_t poison = first_poison(in, size), end;
	long last = -1;

	root = jp_parse(first, (const char *)in, size, &e);
	if (root == NULL) {
		check_message(&e, size);
		FUZZ_CHECK(e.code != JP_E_TOO_LARGE || size > JP_INPUT_MAX, "too large at %zu", size);
		if (poison < size)
			FUZZ_CHECK(e.offset <= poison, "refused at %zu, after the bad byte at %zu",
			    e.offset, poison);
		free(in);
		return 0;
	}
	FUZZ_CHECK(poison == size, "accepted with a bad byte at %zu", poison);
	FUZZ_CHECK(size <= JP_INPUT_MAX, "accepted %zu bytes", size);
	FUZZ_CHECK(check_tree(root, in, size, 0, &last) <= JP_VALUES_MAX, "too many values");

	round_trip(root);

	/* cut before its closing bracket, a container is refused as cut */
	if (root->type == JP_ARRAY || root->type == JP_OBJECT) {
		for (end = size; end > 0 && strchr(" \t\r\n", in[end - 1]) != NULL; end--)
			;
		FUZZ_CHECK(end > 0 && in[end - 1] == (root->type == JP_ARRAY ? ']' : '}'),
		    "a container that does not end in its bracket");
		FUZZ_CHECK(jp_parse(again, (const char *)in, end - 1, &e) == NULL &&
		    e.code == JP_E_END && e.offset == end - 1, "the cut document: %s", e.msg);
	}
	free(in);
	return 0;
}
