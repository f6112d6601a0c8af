/*
 * test_jsonparse.c - the strict JSON parser: RFC 8259's examples, every
 * class of refusal with its code and offset, the limits, hostile input,
 * integer conversions, the helpers, and a differential check against
 * Python's json module (tests/unit/jsonparse_ref.py) over a corpus of
 * hand-made documents and mutations of them.
 *
 * Where Python and this parser differ on purpose, the reference script
 * names the reason and the test requires the matching refusal here:
 *   - NaN, Infinity, -Infinity: Python's extension, not RFC 8259;
 *   - a member name twice in one object: Python keeps the last value;
 *   - lone or reversed \u surrogates: Python makes strings that are not
 *     Unicode text;
 *   - a NUL in a string (\u0000): keygate's strings are C strings;
 *   - the limits (depth, values, string length, input size), which
 *     Python does not have.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jsonparse.h"
#include "tap.h"

static struct jp_arena *A;

static const struct jp_value *
parse_n(const char *s, size_t len, struct jp_error *e)
{
	return jp_parse(A, s, len, e);
}

static const struct jp_value *
parse(const char *s)
{
	struct jp_error e;
	const struct jp_value *v = parse_n(s, strlen(s), &e);

	if (v == NULL)
		diag("unexpected refusal: %s", e.msg);
	return v;
}

/*
 * A message is one line of printable text, "at byte N: ...", with room
 * to spare, and it never holds the input's bytes (checked by callers
 * that know what must not appear).
 */
static int
message_ok(const struct jp_error *e)
{
	char want[40];
	const unsigned char *m = (const unsigned char *)e->msg;
	size_t len = strnlen(e->msg, sizeof e->msg), k;

	snprintf(want, sizeof want, "at byte %zu: ", e->offset);
	if (len == 0 || len >= sizeof e->msg || strncmp(e->msg, want, strlen(want)) != 0)
		return 0;
	for (k = 0; k < len; k++) /* printable ASCII, or the ellipsis of a cut name */
		if ((m[k] < 0x20 || m[k] > 0x7e) &&
		    !(m[k] == 0xe2 && m[k + 1] == 0x80 && m[k + 2] == 0xa6 && (k += 2)))
			return 0;
	return 1;
}

/* Refused with code at offset (SIZE_MAX: any offset), a clean message. */
static void
refuse_n(const char *s, size_t len, enum jp_code code, size_t offset,
    const char *what)
{
	struct jp_error e;
	const struct jp_value *v = parse_n(s, len, &e);
	int pass = v == NULL && e.code == code &&
	    (offset == SIZE_MAX || e.offset == offset) && message_ok(&e);

	ok(pass, "refused: %s (%s)", what, e.msg);
	if (!pass)
		diag("got code %d offset %zu, want code %d offset %zu", e.code,
		    e.offset, code, offset);
}

static void
refuse(const char *s, enum jp_code code, size_t offset, const char *what)
{
	refuse_n(s, strlen(s), code, offset, what);
}

/* --- RFC 8259 --- */

static void
test_rfc_examples(void)
{
	static const char image[] =
	    "{\n"
	    "  \"Image\": {\n"
	    "      \"Width\":  800,\n"
	    "      \"Height\": 600,\n"
	    "      \"Title\":  \"View from 15th Floor\",\n"
	    "      \"Thumbnail\": {\n"
	    "          \"Url\":    \"http://www.example.com/image/481989943\",\n"
	    "          \"Height\": 125,\n"
	    "          \"Width\":  100\n"
	    "      },\n"
	    "      \"Animated\" : false,\n"
	    "      \"IDs\": [116, 943, 234, 38793]\n"
	    "    }\n"
	    "}\n";
	static const char places[] =
	    "[\n"
	    "  {\n"
	    "     \"precision\": \"zip\",\n"
	    "     \"Latitude\":  37.7668,\n"
	    "     \"Longitude\": -122.3959,\n"
	    "     \"Address\":   \"\",\n"
	    "     \"City\":      \"SAN FRANCISCO\",\n"
	    "     \"State\":     \"CA\",\n"
	    "     \"Zip\":       \"94107\",\n"
	    "     \"Country\":   \"US\"\n"
	    "  },\n"
	    "  {\n"
	    "     \"precision\": \"zip\",\n"
	    "     \"Latitude\":  37.371991,\n"
	    "     \"Longitude\": -122.026020,\n"
	    "     \"Address\":   \"\",\n"
	    "     \"City\":      \"SUNNYVALE\",\n"
	    "     \"State\":     \"CA\",\n"
	    "     \"Zip\":       \"94085\",\n"
	    "     \"Country\":   \"US\"\n"
	    "  }\n"
	    "]\n";
	const struct jp_value *doc, *img, *ids, *c, *v;
	int64_t n = 0;
	int64_t want_ids[] = {116, 943, 234, 38793};
	size_t k;

	doc = parse(image);
	ok(doc != NULL && doc->type == JP_OBJECT && doc->len == 1, "RFC 8259 section 13: the image object");
	img = jp_get(doc, "Image");
	ok(img != NULL && img->type == JP_OBJECT && img->len == 6, "  Image: an object of 6 members");
	ok(jp_int64(jp_get(img, "Width"), &n) == JP_CONV_OK && n == 800, "  Width 800");
	v = jp_get(img, "Title");
	ok(v != NULL && v->type == JP_STRING && strcmp(v->str, "View from 15th Floor") == 0 &&
	    v->len == 20, "  Title");
	v = jp_get(jp_get(img, "Thumbnail"), "Url");
	is_str(v ? v->str : NULL, "http://www.example.com/image/481989943", "  Thumbnail.Url");
	ok(jp_get(img, "Animated") && jp_get(img, "Animated")->type == JP_FALSE, "  Animated false");
	ids = jp_get(img, "IDs");
	ok(ids != NULL && ids->type == JP_ARRAY && ids->len == 4, "  IDs: 4 elements");
	for (k = 0, c = ids ? ids->child : NULL; c != NULL; c = c->next, k++)
		ok(jp_int64(c, &n) == JP_CONV_OK && n == want_ids[k], "  IDs[%zu] = %lld", k,
		    (long long)want_ids[k]);
	ok(jp_get(img, "width") == NULL, "  member names are case-sensitive");
	is_int(doc->offset, 0, "  the root's offset");
	is_int(img->name_offset, 4, "  Image's name starts at byte 4");
	is_int(img->offset, 13, "  its value at byte 13");

	doc = parse(places);
	ok(doc != NULL && doc->type == JP_ARRAY && doc->len == 2, "RFC 8259 section 13: the array of two objects");
	v = doc ? jp_get(doc->child->next, "Longitude") : NULL;
	ok(v != NULL && v->type == JP_NUMBER && strcmp(v->str, "-122.026020") == 0,
	    "  numbers keep their text: -122.026020");
	ok(jp_int64(v, &n) == JP_CONV_FRACTION, "  and are no integer");
	v = doc ? jp_get(doc->child, "Address") : NULL;
	ok(v != NULL && v->type == JP_STRING && v->len == 0 && v->str[0] == '\0', "  an empty string");

	v = parse("\"Hello world!\"");
	ok(v && v->type == JP_STRING && strcmp(v->str, "Hello world!") == 0, "a string alone is a document");
	v = parse("42");
	ok(v && v->type == JP_NUMBER && strcmp(v->str, "42") == 0, "a number alone is a document");
	v = parse("true");
	ok(v && v->type == JP_TRUE, "true alone is a document");
	v = parse("false");
	ok(v && v->type == JP_FALSE, "false alone");
	v = parse("null");
	ok(v && v->type == JP_NULL, "null alone");
	v = parse(" \t\r\n[ \t\r\n1 \t\r\n, \t\r\n{ \t\r\n\"a\" \t\r\n: \t\r\n2 \t\r\n} \t\r\n] \t\r\n");
	ok(v && v->type == JP_ARRAY && v->len == 2, "the four whitespace bytes everywhere the RFC allows them");
	v = parse("\"\\uD834\\uDD1E\"");
	ok(v && strcmp(v->str, "\xf0\x9d\x84\x9e") == 0 && v->len == 4,
	    "section 7: the G clef as a surrogate pair");
	v = parse("\"a\\u005Cb\"");
	ok(v && strcmp(v->str, "a\\b") == 0, "section 8.3: \\u005C is a backslash");
	v = parse("[[],{}]");
	ok(v && v->child->type == JP_ARRAY && v->child->len == 0 && v->child->child == NULL &&
	    v->child->next->type == JP_OBJECT && v->child->next->len == 0, "empty array and object");
}

static void
test_whitespace_and_literals(void)
{
	refuse("\f1", JP_E_SYNTAX, 0, "form feed is not whitespace");
	refuse("1\v", JP_E_TRAILING, 1, "vertical tab is not whitespace");
	refuse("\xc2\xa0" "1", JP_E_SYNTAX, 0, "no-break space is not whitespace");
	refuse("\xef\xbb\xbf" "1", JP_E_SYNTAX, 0, "a byte order mark");
	refuse("True", JP_E_SYNTAX, 0, "True");
	refuse("nul", JP_E_END, 3, "nul, cut");
	refuse("nulL", JP_E_SYNTAX, 0, "nulL");
	refuse("nulll", JP_E_TRAILING, 4, "nulll");
	refuse("tru e", JP_E_SYNTAX, 0, "tru e");
	refuse("NaN", JP_E_SYNTAX, 0, "NaN");
	refuse("Infinity", JP_E_SYNTAX, 0, "Infinity");
	refuse("-Infinity", JP_E_NUMBER, 1, "-Infinity");
	refuse("[undefined]", JP_E_SYNTAX, 1, "undefined");
	refuse("/* c */ 1", JP_E_SYNTAX, 0, "a comment before");
	refuse("[1] // c", JP_E_TRAILING, 4, "a comment after");
	refuse("'a'", JP_E_SYNTAX, 0, "single quotes");
}

static void
test_numbers(void)
{
	static const char *const good[] = {
		"0", "-0", "1", "-1", "10", "1.5", "-0.0", "1e5", "1E5", "1e+5",
		"1e-5", "0e0", "123.456e-789", "1e999", "-1.0E+10", "0.000001",
		"99999999999999999999999999999999999999",
	};
	static const struct { const char *s; size_t at; enum jp_code code; } bad[] = {
		{"01", 1, JP_E_NUMBER}, {"-01", 2, JP_E_NUMBER}, {"00", 1, JP_E_NUMBER},
		{"1.", 2, JP_E_NUMBER}, {".1", 0, JP_E_SYNTAX}, {"-", 1, JP_E_NUMBER},
		{"-a", 1, JP_E_NUMBER}, {"1e", 2, JP_E_NUMBER}, {"1e+", 3, JP_E_NUMBER},
		{"1E-x", 3, JP_E_NUMBER}, {"1.e5", 2, JP_E_NUMBER}, {"+1", 0, JP_E_SYNTAX},
		{"0x10", 1, JP_E_TRAILING}, {"1_000", 1, JP_E_TRAILING},
		{"1 2", 2, JP_E_TRAILING}, {"- 1", 1, JP_E_NUMBER}, {"[01]", 2, JP_E_NUMBER},
		{"[1.]", 3, JP_E_NUMBER}, {"{\"a\":-}", 6, JP_E_NUMBER}, {"1.5.5", 3, JP_E_TRAILING},
		{"1e5e5", 3, JP_E_TRAILING}, {"\xd9\xa1", 0, JP_E_SYNTAX}, /* ARABIC-INDIC DIGIT ONE */
	};
	const struct jp_value *v;
	size_t k;

	for (k = 0; k < sizeof good / sizeof good[0]; k++) {
		v = parse(good[k]);
		ok(v && v->type == JP_NUMBER && strcmp(v->str, good[k]) == 0 &&
		    v->len == strlen(good[k]), "number %s, text kept", good[k]);
	}
	for (k = 0; k < sizeof bad / sizeof bad[0]; k++)
		refuse(bad[k].s, bad[k].code, bad[k].at, bad[k].s);
}

static void
test_integers(void)
{
	static const struct {
		const char *s;
		enum jp_conv i_rc;
		int64_t i;
		enum jp_conv u_rc;
		uint64_t u;
	} t[] = {
		{"0", JP_CONV_OK, 0, JP_CONV_OK, 0},
		{"-0", JP_CONV_OK, 0, JP_CONV_OK, 0},
		{"-0.0e-5", JP_CONV_OK, 0, JP_CONV_OK, 0},
		{"0e99999999999999999999", JP_CONV_OK, 0, JP_CONV_OK, 0},
		{"42", JP_CONV_OK, 42, JP_CONV_OK, 42},
		{"-42", JP_CONV_OK, -42, JP_CONV_RANGE, 0},
		{"1.0", JP_CONV_OK, 1, JP_CONV_OK, 1},
		{"1e2", JP_CONV_OK, 100, JP_CONV_OK, 100},
		{"1.5e1", JP_CONV_OK, 15, JP_CONV_OK, 15},
		{"100e-2", JP_CONV_OK, 1, JP_CONV_OK, 1},
		{"0.0001e4", JP_CONV_OK, 1, JP_CONV_OK, 1},
		{"1.5", JP_CONV_FRACTION, 0, JP_CONV_FRACTION, 0},
		{"-0.5", JP_CONV_FRACTION, 0, JP_CONV_FRACTION, 0},
		{"1e-1", JP_CONV_FRACTION, 0, JP_CONV_FRACTION, 0},
		{"1.25e1", JP_CONV_FRACTION, 0, JP_CONV_FRACTION, 0},
		{"1e-999", JP_CONV_FRACTION, 0, JP_CONV_FRACTION, 0},
		{"1e-99999999999999999999", JP_CONV_FRACTION, 0, JP_CONV_FRACTION, 0},
		{"9223372036854775807", JP_CONV_OK, INT64_MAX, JP_CONV_OK, INT64_MAX},
		{"9223372036854775808", JP_CONV_RANGE, 0, JP_CONV_OK, UINT64_C(9223372036854775808)},
		{"-9223372036854775808", JP_CONV_OK, INT64_MIN, JP_CONV_RANGE, 0},
		{"-9223372036854775809", JP_CONV_RANGE, 0, JP_CONV_RANGE, 0},
		{"-92233720368547758.08e2", JP_CONV_OK, INT64_MIN, JP_CONV_RANGE, 0},
		{"18446744073709551615", JP_CONV_RANGE, 0, JP_CONV_OK, UINT64_MAX},
		{"18446744073709551616", JP_CONV_RANGE, 0, JP_CONV_RANGE, 0},
		{"1.8446744073709551615e19", JP_CONV_RANGE, 0, JP_CONV_OK, UINT64_MAX},
		{"1e19", JP_CONV_RANGE, 0, JP_CONV_OK, UINT64_C(10000000000000000000)},
		{"1e20", JP_CONV_RANGE, 0, JP_CONV_RANGE, 0},
		{"1e999", JP_CONV_RANGE, 0, JP_CONV_RANGE, 0},
		{"-1e999", JP_CONV_RANGE, 0, JP_CONV_RANGE, 0},
		{"1e99999999999999999999", JP_CONV_RANGE, 0, JP_CONV_RANGE, 0},
		{"123456789012345678900000000000e-10", JP_CONV_RANGE, 0, JP_CONV_OK,
		    UINT64_C(12345678901234567890)},
		{"123456789012345678901234567890e-10", JP_CONV_FRACTION, 0, JP_CONV_FRACTION, 0},
		{"00000", JP_CONV_TYPE, 0, JP_CONV_TYPE, 0},
		{"", JP_CONV_TYPE, 0, JP_CONV_TYPE, 0},
		{"1e", JP_CONV_TYPE, 0, JP_CONV_TYPE, 0},
		{"0x1", JP_CONV_TYPE, 0, JP_CONV_TYPE, 0},
		{" 1", JP_CONV_TYPE, 0, JP_CONV_TYPE, 0},
	};
	size_t k;

	for (k = 0; k < sizeof t / sizeof t[0]; k++) {
		int64_t i = 7;
		uint64_t u = 7;
		enum jp_conv ri = jp_text_int64(t[k].s, strlen(t[k].s), &i);
		enum jp_conv ru = jp_text_uint64(t[k].s, strlen(t[k].s), &u);

		ok(ri == t[k].i_rc && (ri != JP_CONV_OK || i == t[k].i),
		    "int64 of '%s': %d %lld", t[k].s, ri, (long long)i);
		ok(ru == t[k].u_rc && (ru != JP_CONV_OK || u == t[k].u),
		    "uint64 of '%s': %d %llu", t[k].s, ru, (unsigned long long)u);
	}
	{
		int64_t i;
		uint64_t u;
		const struct jp_value *v = parse("[\"1\",null]");

		ok(jp_int64(v->child, &i) == JP_CONV_TYPE, "a string is no integer");
		ok(jp_uint64(v->child->next, &u) == JP_CONV_TYPE, "null is no integer");
		ok(jp_int64(NULL, &i) == JP_CONV_TYPE, "nor is a missing member");
	}
}

static void
test_strings(void)
{
	const struct jp_value *v;

	v = parse("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"");
	ok(v && strcmp(v->str, "\"\\/\b\f\n\r\t") == 0 && v->len == 8, "the eight short escapes");
	v = parse("\"\\u0041\\u00e9\\u00E9\\u20ac\\uFFFF\\uDBFF\\uDFFF\\u0001\\u007f\"");
	ok(v && strcmp(v->str, "A\xc3\xa9\xc3\xa9\xe2\x82\xac\xef\xbf\xbf\xf4\x8f\xbf\xbf\x01\x7f") == 0,
	    "\\u escapes of 1 to 4 UTF-8 bytes, either case, U+10FFFF, controls");
	v = parse("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf \x7f\"");
	ok(v && v->len == 21, "raw UTF-8 of 2, 3 and 4 bytes, and DEL, are kept");

	refuse("\"\\x\"", JP_E_ESCAPE, 1, "\\x");
	refuse("\"\\'\"", JP_E_ESCAPE, 1, "\\'");
	refuse("\"\\U0041\"", JP_E_ESCAPE, 1, "\\U");
	refuse("\"\\u12\"", JP_E_ESCAPE, 1, "\\u with two hex digits");
	refuse("\"\\u12G4\"", JP_E_ESCAPE, 1, "\\u with a G");
	refuse("\"\\u12", JP_E_END, 5, "\\u cut by the end");
	refuse("\"\\", JP_E_END, 2, "a backslash at the end");
	refuse("\"abc", JP_E_END, 4, "unterminated string");
	refuse("\"", JP_E_END, 1, "a lone quote");

	refuse("\"\\uD800\"", JP_E_SURROGATE, 1, "a lone high surrogate");
	refuse("\"\\uDBFF\"", JP_E_SURROGATE, 1, "a lone high surrogate, the last");
	refuse("\"\\uDC00\"", JP_E_SURROGATE, 1, "a lone low surrogate");
	refuse("\"\\uDFFF\"", JP_E_SURROGATE, 1, "a lone low surrogate, the last");
	refuse("\"ab\\uDC00\\uD800\"", JP_E_SURROGATE, 3, "a reversed pair");
	refuse("\"\\uD800\\uD800\"", JP_E_SURROGATE, 1, "two high surrogates");
	refuse("\"\\uD800\\u0041\"", JP_E_SURROGATE, 1, "a high surrogate and a letter");
	refuse("\"\\uD800x\"", JP_E_SURROGATE, 1, "a high surrogate and a raw letter");
	refuse("\"\\uD800\\n\"", JP_E_SURROGATE, 1, "a high surrogate and \\n");
	refuse("\"\\uD800\\uDC0", JP_E_END, 12, "a pair cut by the end");
	refuse("\"\\uD800", JP_E_END, 7, "a high surrogate at the end");
	refuse("\"\\uD800\\", JP_E_END, 8, "a high surrogate and a backslash at the end");

	refuse("\"a\\u0000b\"", JP_E_NUL, 2, "\\u0000");
	refuse_n("\"a\0b\"", 5, JP_E_NUL, 2, "a raw NUL in a string");
	refuse_n("{\"a\0\":1}", 8, JP_E_NUL, 3, "a raw NUL in a name");
	refuse_n("[1]\0", 4, JP_E_TRAILING, 3, "a NUL after the document");
	refuse_n("\0", 1, JP_E_SYNTAX, 0, "a NUL alone");
	refuse("\"\x01\"", JP_E_CONTROL, 1, "raw 0x01");
	refuse("\"\x1f\"", JP_E_CONTROL, 1, "raw 0x1f");
	refuse("\"a\nb\"", JP_E_CONTROL, 2, "a raw newline");
	refuse("\"a\tb\"", JP_E_CONTROL, 2, "a raw tab");
}

static void
test_utf8(void)
{
	static const struct { const char *s; const char *what; } bad[] = {
		{"\x80", "a lone continuation byte"},
		{"\xbf", "a lone continuation byte 0xbf"},
		{"\xc0\x80", "overlong NUL (C0 80)"},
		{"\xc1\xbf", "overlong 2-byte"},
		{"\xe0\x80\x80", "overlong 3-byte NUL"},
		{"\xe0\x9f\xbf", "overlong U+07FF in 3 bytes"},
		{"\xf0\x80\x80\x80", "overlong 4-byte NUL"},
		{"\xf0\x8f\xbf\xbf", "overlong U+FFFF in 4 bytes"},
		{"\xed\xa0\x80", "U+D800 encoded"},
		{"\xed\xbf\xbf", "U+DFFF encoded"},
		{"\xed\xa0\xbd\xed\xb8\x80", "a CESU-8 pair"},
		{"\xf4\x90\x80\x80", "U+110000"},
		{"\xf5\x80\x80\x80", "lead byte F5"},
		{"\xf8\x88\x80\x80\x80", "a 5-byte form"},
		{"\xfc\x84\x80\x80\x80\x80", "a 6-byte form"},
		{"\xfe", "byte FE"},
		{"\xff", "byte FF"},
		{"\xc3", "a 2-byte lead, cut by the quote"},
		{"\xe2\x82", "a 3-byte lead with one continuation"},
		{"\xf0\x9f\x98", "a 4-byte lead with two continuations"},
		{"\xc3\x28", "a lead and no continuation"},
		{"\xe2\x28\xa1", "a 3-byte lead, second byte ASCII"},
		{"\xe2\x82\x28", "a 3-byte lead, third byte ASCII"},
	};
	char doc[32];
	size_t k;

	for (k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		snprintf(doc, sizeof doc, "[\"ab%s\"]", bad[k].s);
		refuse(doc, JP_E_UTF8, 4, bad[k].what);
	}
	refuse_n("[\"ab\xc3", 5, JP_E_UTF8, 4, "a 2-byte lead at the end of input");
	refuse("{\"\xc0\xae\":1}", JP_E_UTF8, 2, "invalid UTF-8 in a name");
	refuse("\xc3\xa9", JP_E_SYNTAX, 0, "UTF-8 outside a string");
	refuse("[1,\xff]", JP_E_SYNTAX, 3, "a bad byte outside a string");
	{
		const struct jp_value *v = parse("\"\xef\xbf\xbe\xef\xbf\xbf\xef\xbb\xbf\"");
		ok(v && v->len == 9, "noncharacters and U+FEFF inside a string are text");
	}
}

static void
test_structure(void)
{
	refuse("", JP_E_EMPTY, 0, "empty");
	refuse(" \t\r\n", JP_E_EMPTY, 4, "only whitespace");
	refuse_n(NULL, 0, JP_E_EMPTY, 0, "no input at all");
	refuse("[", JP_E_END, 1, "[");
	refuse("{", JP_E_END, 1, "{");
	refuse("[1", JP_E_END, 2, "[1");
	refuse("[1,", JP_E_END, 3, "[1,");
	refuse("{\"a\"", JP_E_END, 4, "{\"a\"");
	refuse("{\"a\":", JP_E_END, 5, "{\"a\":");
	refuse("{\"a\":1", JP_E_END, 6, "{\"a\":1");
	refuse("[1,]", JP_E_SYNTAX, 3, "a trailing comma in an array");
	refuse("{\"a\":1,}", JP_E_SYNTAX, 7, "a trailing comma in an object");
	refuse("[,1]", JP_E_SYNTAX, 1, "a leading comma");
	refuse("[1,,2]", JP_E_SYNTAX, 3, "two commas");
	refuse("{,}", JP_E_SYNTAX, 1, "{,}");
	refuse("{\"a\"}", JP_E_SYNTAX, 4, "a name without a value");
	refuse("{\"a\" 1}", JP_E_SYNTAX, 5, "a name without a colon");
	refuse("{\"a\":}", JP_E_SYNTAX, 5, "a colon without a value");
	refuse("{\"a\"::1}", JP_E_SYNTAX, 5, "two colons");
	refuse("{a:1}", JP_E_SYNTAX, 1, "a bare name");
	refuse("{1:1}", JP_E_SYNTAX, 1, "a number as a name");
	refuse("{\"a\":1 \"b\":2}", JP_E_SYNTAX, 7, "members without a comma");
	refuse("[1 2]", JP_E_SYNTAX, 3, "elements without a comma");
	refuse("[1:2]", JP_E_SYNTAX, 2, "a colon in an array");
	refuse("{\"a\",1}", JP_E_SYNTAX, 4, "a comma for a colon");
	refuse("[}", JP_E_SYNTAX, 1, "[}");
	refuse("{]", JP_E_SYNTAX, 1, "{]");
	refuse("]", JP_E_SYNTAX, 0, "]");
	refuse("[]]", JP_E_TRAILING, 2, "[]]");
	refuse("{}}", JP_E_TRAILING, 2, "{}}");
	refuse("[1]x", JP_E_TRAILING, 3, "[1]x");
	refuse("\"a\"\"b\"", JP_E_TRAILING, 3, "two strings");
	refuse("[] []", JP_E_TRAILING, 3, "two arrays");
	refuse("{}\n{}\n", JP_E_TRAILING, 3, "JSON lines");
	refuse("1,", JP_E_TRAILING, 1, "a comma after a number");
}

static void
test_duplicates(void)
{
	static const char key[] = "kg_live_AbCdEfGhIjKlMnOpQrStUvWxYz012345abcdef";
	char doc[512], shown[JP_NAME_BUF];
	struct jp_error e;

	refuse("{\"a\":1,\"a\":2}", JP_E_DUPLICATE, 7, "a name twice");
	refuse("{\"a\":1,\"a\":1}", JP_E_DUPLICATE, 7, "a name twice, same value");
	refuse("{\"a\":1,\"\\u0061\":2}", JP_E_DUPLICATE, 7, "the same name, once escaped");
	refuse("{\"\xc3\xa9\":1,\"\\u00e9\":2}", JP_E_DUPLICATE, 8, "the same name, raw and escaped UTF-8");
	refuse("{\"x\":{\"a\":1,\"a\":2}}", JP_E_DUPLICATE, 12, "in a nested object");
	refuse("[{\"b\":[],\"a\":{},\"b\":null}]", JP_E_DUPLICATE, 16, "in an object in an array");
	refuse("{\"a\":1,\"b\":2,\"a\":3,\"b\":4}", JP_E_DUPLICATE, 13,
	    "two names twice: the first repeated one in document order");
	refuse("{\"b\":1,\"a\":2,\"a\":3,\"b\":4}", JP_E_DUPLICATE, 13,
	    "the first repetition, not the first name sorted");
	refuse("{\"a\":1,\"a\":2,\"a\":3}", JP_E_DUPLICATE, 7, "a name three times");
	refuse("{\"\":1,\"\":2}", JP_E_DUPLICATE, 6, "the empty name twice");
	ok(parse("{\"a\":1,\"A\":2,\"a \":3,\"\":4}") != NULL, "names that only look alike");
	ok(parse("[{\"a\":1},{\"a\":1}]") != NULL, "one name in two objects");
	ok(parse("{\"a\":{\"a\":{\"a\":1}}}") != NULL, "one name at three levels");

	parse_n("{\"a\":1,\"a\":2}", 13, &e);
	is_str(e.msg, "at byte 7: duplicate member \"a\"", "the message names the member");
	snprintf(doc, sizeof doc, "{\"x\\\"\\\\\\n\\u00e9<y\":1,\"x\\\"\\\\\\n\\u00e9<y\":2}");
	parse_n(doc, strlen(doc), &e);
	is_str(e.msg, "at byte 21: duplicate member \"x?\?\?\?<y\"",
	    "a name's quote, backslash, control and non-ASCII are shown as '?'");
	snprintf(doc, sizeof doc, "{\"%s\":1,\"%s\":2}", key, key);
	parse_n(doc, strlen(doc), &e);
	ok(e.code == JP_E_DUPLICATE && strstr(e.msg, "kg_live_AbCd\xe2\x80\xa6") != NULL &&
	    strstr(e.msg, "AbCdE") == NULL, "a key as a name is shown as its display prefix: %s", e.msg);
	memset(doc, 0, sizeof doc);
	memcpy(doc, "{\"", 2);
	memset(doc + 2, 'n', 100);
	memcpy(doc + 102, "\":1,\"", 5);
	memset(doc + 107, 'n', 100);
	memcpy(doc + 207, "\":2}", 4);
	parse_n(doc, strlen(doc), &e);
	ok(e.code == JP_E_DUPLICATE && message_ok(&e) && strlen(e.msg) < 70 &&
	    strstr(e.msg, "\xe2\x80\xa6\"") != NULL, "a long name is cut: %s", e.msg);
	is_str(jp_name_show("abc", shown), "abc", "jp_name_show: short names as they are");
	is_str(jp_name_show("0123456789abcdef0123456789abcdef", shown),
	    "0123456789abcdef0123456789abcdef", "jp_name_show: 32 bytes are shown whole");
	ok(strcmp(jp_name_show("0123456789abcdef0123456789abcdefX", shown),
	    "0123456789abcdef0123456789abcdefX") != 0 && strlen(shown) <= JP_NAME_SHOWN,
	    "jp_name_show: 33 are cut: %s", shown);
	is_str(jp_name_show("a b\x7f", shown), "a?b?", "jp_name_show: space and DEL as '?'");
}

/* A document of n bytes: '[' * depth, then ']' * depth. */
static char *
nested(size_t depth, char open, char close)
{
	char *s = malloc(2 * depth + 1);

	if (s == NULL)
		abort();
	memset(s, open, depth);
	memset(s + depth, close, depth);
	s[2 * depth] = '\0';
	return s;
}

static double
seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void
test_limits(void)
{
	struct jp_arena *small;
	struct jp_error e;
	struct timespec t0;
	char *s, buf[128];
	size_t k, n;

	ok(jp_arena_new(0, 10) == NULL && jp_arena_new(10, 0) == NULL &&
	    jp_arena_new(JP_INPUT_MAX + 1, 10) == NULL &&
	    jp_arena_new(10, JP_VALUES_MAX + 1) == NULL, "arenas beyond the limits are refused");

	/* input size */
	n = JP_INPUT_MAX;
	s = malloc(10u << 20);
	if (s == NULL)
		abort();
	memset(s, ' ', n);
	s[0] = '[';
	s[n - 1] = ']';
	ok(parse_n(s, n, &e) != NULL, "a document of exactly %zu bytes", n);
	s[n] = ' ';
	refuse_n(s, n + 1, JP_E_TOO_LARGE, JP_INPUT_MAX, "one byte more");
	memset(s, '[', 10u << 20);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	refuse_n(s, 10u << 20, JP_E_TOO_LARGE, JP_INPUT_MAX, "10 MB of '['");
	ok(seconds_since(&t0) < 0.01, "refused without reading it");
	free(s);
	small = jp_arena_new(100, 10);
	ok(small && jp_parse(small, "[1,2,3,4,5,6,7,8,9]", 19, &e) != NULL, "a smaller arena takes what fits");
	memset(buf, ' ', sizeof buf);
	memcpy(buf, "\"a\"", 3);
	ok(small && jp_parse(small, buf, 100, &e) != NULL && jp_parse(small, buf, 101, &e) == NULL &&
	    e.code == JP_E_TOO_LARGE && e.offset == 100, "and refuses a byte more than its limit");

	/* depth */
	s = nested(JP_DEPTH_MAX, '[', ']');
	ok(parse(s) != NULL, "%d arrays nested", JP_DEPTH_MAX);
	free(s);
	s = nested(JP_DEPTH_MAX + 1, '[', ']');
	refuse(s, JP_E_DEPTH, JP_DEPTH_MAX, "one level more");
	free(s);
	s = nested(30000, '[', ']');
	refuse(s, JP_E_DEPTH, JP_DEPTH_MAX, "30000 levels within 64 KiB");
	free(s);
	s = nested(100000, '[', ']');
	refuse(s, JP_E_TOO_LARGE, JP_INPUT_MAX, "100000 levels");
	free(s);
	s = nested(JP_INPUT_MAX, '[', ']');
	refuse_n(s, JP_INPUT_MAX, JP_E_DEPTH, JP_DEPTH_MAX, "64 KiB of '[' only");
	free(s);
	s = malloc(7 * (JP_DEPTH_MAX + 1) + 2);
	for (k = 0, n = 0; k <= JP_DEPTH_MAX; k++)
		n += (size_t)sprintf(s + n, "{\"a\":[");
	/* each {"a":[ is two levels: the 17th starts the 9th of them */
	refuse(s, JP_E_DEPTH, 6 * (JP_DEPTH_MAX / 2), "objects and arrays mixed");
	free(s);

	/* values */
	s = malloc(2 * JP_VALUES_MAX + 8);
	n = 0;
	s[n++] = '[';
	for (k = 0; k < JP_VALUES_MAX - 1; k++) {
		s[n++] = '0';
		s[n++] = ',';
	}
	s[n - 1] = ']';
	ok(parse_n(s, n, &e) != NULL, "%d values (an array and its elements)", JP_VALUES_MAX);
	s[n - 1] = ',';
	s[n++] = '0';
	s[n++] = ']';
	refuse_n(s, n, JP_E_VALUES, n - 2, "one value more");
	free(s);
	ok(small && jp_parse(small, "[[[[[[[[[1]]]]]]]]]", 19, &e) != NULL, "10 values in an arena of 10");
	ok(small && jp_parse(small, "[[[[[[[[[[1]]]]]]]]]]", 21, &e) == NULL && e.code == JP_E_VALUES &&
	    e.offset == 10 && strcmp(e.msg, "at byte 10: more than 10 values") == 0,
	    "the 11th is refused: %s", e.msg);
	jp_arena_free(small);

	/* strings */
	s = malloc(6 * (JP_STRING_MAX + 1) + 8);
	s[0] = '"';
	memset(s + 1, 'a', JP_STRING_MAX);
	strcpy(s + 1 + JP_STRING_MAX, "\"");
	ok(parse(s) != NULL && parse(s)->len == JP_STRING_MAX, "a string of %d bytes", JP_STRING_MAX);
	memset(s + 1, 'a', JP_STRING_MAX + 1);
	strcpy(s + 2 + JP_STRING_MAX, "\"");
	refuse(s, JP_E_STRING_LONG, 0, "one byte more");
	for (k = 0; k <= JP_STRING_MAX; k++)
		memcpy(s + 1 + 6 * k, "\\u0041", 6);
	strcpy(s + 1 + 6 * (JP_STRING_MAX + 1), "\"");
	refuse(s, JP_E_STRING_LONG, 0, "one byte more, written as \\u escapes");
	for (k = 0; k < JP_STRING_MAX / 3 + 1; k++)
		memcpy(s + 1 + 3 * k, "\xe2\x82\xac", 3);
	strcpy(s + 1 + 3 * k, "\"");
	refuse(s, JP_E_STRING_LONG, 0, "three-byte characters past the limit");
	s[0] = '{';
	s[1] = '"';
	memset(s + 2, 'n', JP_STRING_MAX + 1);
	strcpy(s + 3 + JP_STRING_MAX, "\":1}");
	refuse(s, JP_E_STRING_LONG, 1, "a name past the limit");
	free(s);
}

/*
 * The duplicate check must not cost n squared: an object of as many
 * members as the arena holds, with names that share long prefixes.
 */
static void
test_many_members(void)
{
	char *s = malloc(JP_INPUT_MAX);
	struct timespec t0;
	struct jp_error e;
	size_t n = 0, k;
	double took;

	if (s == NULL)
		abort();
	s[n++] = '{';
	for (k = 0; k < JP_VALUES_MAX - 1 && n < JP_INPUT_MAX - 16; k++)
		n += (size_t)sprintf(s + n, "\"%04zx\":0,", k);
	s[n - 1] = '}';
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ok(parse_n(s, n, &e) != NULL, "an object of %zu members", k);
	took = seconds_since(&t0);
	ok(took < 0.5, "parsed in %.1f ms", took * 1000);
	memcpy(s + n - 9, "\"0000\"", 6); /* the last name: "0ffe":0} */
	refuse_n(s, n, JP_E_DUPLICATE, n - 9, "the first name again at the end");
	free(s);
}

static void
test_helpers(void)
{
	static const char *const allowed[] = {"name", "scopes", "expires", NULL};
	static const char *const none[] = {NULL};
	const struct jp_value *doc, *bad = (const struct jp_value *)1;

	doc = parse("{\"name\":\"ci\",\"scopes\":[\"keys:read\"]}");
	ok(jp_object_only(doc, allowed, &bad) == 0 && bad == NULL, "jp_object_only: known members");
	doc = parse("{\"name\":\"ci\",\"scope\":[],\"colour\":1}");
	ok(jp_object_only(doc, allowed, &bad) == -1 && bad != NULL &&
	    strcmp(bad->name, "scope") == 0 && bad->name_offset == 13,
	    "jp_object_only: the first unknown member, with its offset");
	doc = parse("{}");
	ok(jp_object_only(doc, none, &bad) == 0, "jp_object_only: an empty object");
	doc = parse("{\"a\":1}");
	ok(jp_object_only(doc, none, &bad) == -1 && strcmp(bad->name, "a") == 0,
	    "jp_object_only: nothing allowed");
	doc = parse("[\"name\"]");
	ok(jp_object_only(doc, allowed, &bad) == -1 && bad == NULL, "jp_object_only: not an object");
	ok(jp_get(doc, "name") == NULL, "jp_get on an array");
	ok(jp_get(NULL, "name") == NULL, "jp_get on nothing");
	doc = parse("{\"a\":1,\"b\":[true,false,null]}");
	ok(jp_get(doc, "b") && jp_get(doc, "b")->len == 3 &&
	    jp_get(doc, "b")->child->next->next->type == JP_NULL, "jp_get: an array member");
	ok(jp_get(doc, "b")->child->name == NULL, "elements have no name");
	is_str(jp_type_name(JP_OBJECT), "object", "jp_type_name");
	is_str(jp_type_name(JP_TRUE), "boolean", "jp_type_name: true is a boolean");
}

static void
test_reuse_and_hygiene(void)
{
	struct jp_error e;
	const struct jp_value *v;
	static const char secret[] = "{\"key\":\"kg_live_SeCrEtSeCrEt\",\"x\":[1,2,}";

	ok(parse_n(secret, strlen(secret), &e) == NULL && strstr(e.msg, "SeCrEt") == NULL &&
	    strstr(e.msg, "kg_live") == NULL && message_ok(&e),
	    "a message does not repeat the input: %s", e.msg);
	v = parse("{\"b\":\"second\"}");
	ok(v && strcmp(jp_get(v, "b")->str, "second") == 0, "the arena serves again after a refusal");
	v = parse("[\"third\"]");
	ok(v && strcmp(v->child->str, "third") == 0 && v->child->offset == 1, "and again");
}

/* --- the differential check against Python --- */

struct buf {
	char *p;
	size_t len, cap;
};

static void
put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		if ((b->p = realloc(b->p, b->cap)) == NULL)
			abort();
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
put_hex(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char two[2];
	size_t k;

	for (k = 0; k < n; k++) {
		two[0] = hex[(unsigned char)s[k] >> 4];
		two[1] = hex[(unsigned char)s[k] & 15];
		put(b, two, 2);
	}
}

/* The form jsonparse_ref.py's canon() writes. */
static void
canon(struct buf *b, const struct jp_value *v)
{
	const struct jp_value *c;

	switch (v->type) {
	case JP_NULL: put(b, "n", 1); return;
	case JP_TRUE: put(b, "t", 1); return;
	case JP_FALSE: put(b, "f", 1); return;
	case JP_NUMBER: put(b, "#", 1); put(b, v->str, v->len); return;
	case JP_STRING: put(b, "s", 1); put_hex(b, v->str, v->len); put(b, ";", 1); return;
	case JP_ARRAY:
	case JP_OBJECT:
		put(b, v->type == JP_ARRAY ? "[" : "{", 1);
		for (c = v->child; c != NULL; c = c->next) {
			if (c != v->child)
				put(b, ",", 1);
			if (v->type == JP_OBJECT) {
				put_hex(b, c->name, strlen(c->name));
				put(b, ":", 1);
			}
			canon(b, c);
		}
		put(b, v->type == JP_ARRAY ? "]" : "}", 1);
		return;
	}
}

/* The codes a reason of the reference script stands for. */
static int
code_fits(const char *reasons, enum jp_code code)
{
	static const struct { const char *why; enum jp_code code; } map[] = {
		{"constant", JP_E_SYNTAX}, {"constant", JP_E_NUMBER},
		{"duplicate", JP_E_DUPLICATE}, {"surrogate", JP_E_SURROGATE},
		{"nul", JP_E_NUL}, {"depth", JP_E_DEPTH}, {"values", JP_E_VALUES},
		{"string", JP_E_STRING_LONG}, {"size", JP_E_TOO_LARGE},
	};
	size_t k;

	for (k = 0; k < sizeof map / sizeof map[0]; k++)
		if (map[k].code == code && strstr(reasons, map[k].why) != NULL)
			return 1;
	return 0;
}

struct doc {
	char *s;
	size_t len;
};

struct corpus {
	struct doc *d;
	size_t n, cap;
};

static void
add(struct corpus *c, const char *s, size_t len)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 256;
		if ((c->d = realloc(c->d, c->cap * sizeof *c->d)) == NULL)
			abort();
	}
	if ((c->d[c->n].s = malloc(len + 1)) == NULL)
		abort();
	memcpy(c->d[c->n].s, s, len);
	c->d[c->n].s[len] = '\0';
	c->d[c->n].len = len;
	c->n++;
}

/* Documents on every side of every rule, for both parsers. */
static const char *const corpus_seeds[] = {
	"{}", "[]", "0", "-0", "1.5e-3", "\"\"", "true", "false", "null",
	"{\"a\":[1,2,{\"b\":null}],\"c\":\"d\"}",
	"[\"\\u00e9\\ud834\\udd1e\\n\\/\"]", "{\"\\u0061\":1,\"a\":2}",
	"{\"a\":1,\"a\":2}", "[NaN]", "[Infinity,-Infinity]", "\"\\ud800\"",
	"\"\\udc00\\ud800\"", "\"\\u0000\"", "[01]", "[1.]", "[.5]", "[-]",
	"[1e]", "[1E+2,-0.0e-0]", "1e999", "[1,]", "{\"a\":1,}", "[1 2]",
	"{\"a\" 1}", "\"\x01\"", "\"\x7f\"", "\"\xc3\xa9\"", "\"\xed\xa0\x80\"",
	"\"\xc0\xaf\"", "\"\xf4\x90\x80\x80\"", "\"\xef\xbb\xbf\"",
	"\xef\xbb\xbf[]", " [ ] ", "\t\n\r 1 \r\n", "[1]x", "[][]", "\"a\\qb\"",
	"\"\\u12\"", "{\"\":\"\"}", "[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]",
	"[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]", "{\"k\":{\"k\":{\"k\":[{}]}}}",
	"[true,false,null,\"x\",-12.5E+7,{\"y\":[]}]", "nul", "tru", "[\"\\",
	"{\"a\":\"b\",\"c\":{\"d\":[\"e\",{\"f\":1}]},\"g\":-0.0}",
	"\"\\uDBFF\\uDFFF\\uD800\\uDC00\"", "\"\\uFFFF\\uFFFE\"", "[1,\"2\",[3]]",
};

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t
next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A copy of s changed at one place: a byte replaced, dropped, added or a span repeated. */
static void
mutate(struct corpus *c, const char *s, size_t len)
{
	static const char alphabet[] = "{}[],:\"\\u0123456789-+.eEtrfalsnu dDcCfF\n\t\x01\x7f"
	    "\x80\xbf\xc3\xa9\xed\xa0\xf0\x9f\xf4\x90\xff";
	char out[256];
	size_t at = len ? next_random() % len : 0, n = 0, span;
	char b = alphabet[next_random() % (sizeof alphabet - 1)];

	if (len + 64 > sizeof out)
		return;
	switch (next_random() % 5) {
	case 0: /* replace */
		memcpy(out, s, len);
		n = len;
		if (len)
			out[at] = b;
		break;
	case 1: /* drop */
		memcpy(out, s, at);
		memcpy(out + at, s + at + (len ? 1 : 0), len - at - (len ? 1 : 0));
		n = len - (len ? 1 : 0);
		break;
	case 2: /* insert */
		memcpy(out, s, at);
		out[at] = b;
		memcpy(out + at + 1, s + at, len - at);
		n = len + 1;
		break;
	case 3: /* repeat a span */
		span = 1 + next_random() % 16;
		if (at + span > len)
			span = len - at;
		memcpy(out, s, at + span);
		memcpy(out + at + span, s + at, len - at);
		n = len + span;
		break;
	default: /* cut */
		n = at;
		memcpy(out, s, n);
		break;
	}
	add(c, out, n);
}

/* Random text for a string: plain, escaped, raw UTF-8, now and then wrong. */
static void
gen_string(struct buf *b)
{
	static const char *const pieces[] = {
		"a", "Z", "0", " ", "/", "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n",
		"\\r", "\\t", "\\u0041", "\\u00e9", "\\u00E9", "\\u20AC", "\\uffff",
		"\\ud834\\udd1e", "\\uDBFF\\uDFFF", "\xc3\xa9", "\xe2\x82\xac",
		"\xf0\x9f\x98\x80", "\x7f", "~", "kg_live_", "\\u001f",
	};
	static const char *const rare[] = {
		"\\ud800", "\\udc00", "\\u0000", "\x01", "\\x", "\xc0\x80", "\xed\xa0\x80",
	};
	size_t n = next_random() % 6, k;

	put(b, "\"", 1);
	for (k = 0; k < n; k++) {
		const char *p = next_random() % 40 == 0 ?
		    rare[next_random() % (sizeof rare / sizeof rare[0])] :
		    pieces[next_random() % (sizeof pieces / sizeof pieces[0])];
		put(b, p, strlen(p));
	}
	put(b, "\"", 1);
}

static void
gen_ws(struct buf *b)
{
	static const char ws[] = " \t\r\n";

	while (next_random() % 4 == 0)
		put(b, &ws[next_random() % 4], 1);
}

/* A random document, valid but for what gen_string makes wrong and duplicates. */
static void
gen_value(struct buf *b, int depth)
{
	static const char *const numbers[] = {
		"0", "-0", "7", "-12", "3.25", "1e3", "-4E-2", "6.02e+23", "1e999",
		"9223372036854775808", "-9223372036854775809", "0.5", "100e-2",
	};
	static const char *const names[] = {"a", "b", "name", "\\u0061", "", "\xc3\xa9"};
	size_t n, k;

	gen_ws(b);
	switch (next_random() % (depth < 5 ? 8 : 5)) {
	case 0: put(b, "null", 4); break;
	case 1: {
		const char *word = next_random() & 1 ? "true" : "false";
		put(b, word, strlen(word));
		break;
	}
	case 2: {
		const char *num = numbers[next_random() % (sizeof numbers / sizeof numbers[0])];
		put(b, num, strlen(num));
		break;
	}
	case 3:
	case 4: gen_string(b); break;
	case 5:
	case 6:
		put(b, "[", 1);
		for (n = next_random() % 4, k = 0; k < n; k++) {
			if (k)
				put(b, ",", 1);
			gen_value(b, depth + 1);
		}
		gen_ws(b);
		put(b, "]", 1);
		break;
	default:
		put(b, "{", 1);
		for (n = next_random() % 4, k = 0; k < n; k++) {
			const char *name = names[next_random() % (sizeof names / sizeof names[0])];

			if (k)
				put(b, ",", 1);
			gen_ws(b);
			put(b, "\"", 1);
			put(b, name, strlen(name));
			if (next_random() % 3) /* mostly distinct names */
				put_hex(b, (const char *)&k, 1);
			put(b, "\"", 1);
			gen_ws(b);
			put(b, ":", 1);
			gen_value(b, depth + 1);
		}
		gen_ws(b);
		put(b, "}", 1);
		break;
	}
	gen_ws(b);
}

static const char *
script_path(char *out, size_t n)
{
	const char *top = getenv("top_srcdir");
	const char *file = __FILE__, *slash = strrchr(file, '/');

	if (top != NULL)
		snprintf(out, n, "%s/tests/unit/jsonparse_ref.py", top);
	else if (slash != NULL)
		snprintf(out, n, "%.*s/jsonparse_ref.py", (int)(slash - file), file);
	else
		snprintf(out, n, "jsonparse_ref.py");
	return out;
}

static void
test_python(void)
{
	struct corpus c = {NULL, 0, 0, };
	struct buf cmd = {NULL, 0, 0}, mine = {NULL, 0, 0};
	char path[4096], tmp[] = "/tmp/jsonparse.XXXXXX", *line = NULL;
	size_t k, round, cap = 0, nseeds = sizeof corpus_seeds / sizeof corpus_seeds[0];
	size_t accepted = 0, refused_both = 0, refused_ours = 0, mismatches = 0;
	ssize_t got;
	FILE *f, *py;
	int fd;

	for (k = 0; k < nseeds; k++)
		add(&c, corpus_seeds[k], strlen(corpus_seeds[k]));
	for (k = 0; k < 600; k++) {
		struct buf g = {NULL, 0, 0};

		gen_value(&g, 0);
		if (g.len < 200)
			add(&c, g.p, g.len);
		free(g.p);
	}
	nseeds = c.n;
	for (round = 0; round < 2; round++) /* mutations of mutations too */
		for (k = 0, nseeds = c.n; k < nseeds; k++) {
			mutate(&c, c.d[k].s, c.d[k].len);
			mutate(&c, c.d[k].s, c.d[k].len);
		}

	if ((fd = mkstemp(tmp)) < 0 || (f = fdopen(fd, "w")) == NULL) {
		ok(0, "a temporary file for the corpus");
		return;
	}
	for (k = 0; k < c.n; k++) {
		struct buf h = {NULL, 0, 0};

		put_hex(&h, c.d[k].s, c.d[k].len);
		fprintf(f, "%s\n", h.p ? h.p : "");
		free(h.p);
	}
	fclose(f);

	{
		char head[256];

		snprintf(head, sizeof head, "python3 '%s' %d %d %d %d < '%s'",
		    script_path(path, sizeof path), JP_DEPTH_MAX, JP_VALUES_MAX,
		    JP_STRING_MAX, JP_INPUT_MAX, tmp);
		put(&cmd, head, strlen(head));
	}
	if ((py = popen(cmd.p, "r")) == NULL) {
		ok(0, "python3 runs");
		unlink(tmp);
		return;
	}
	for (k = 0; k < c.n; k++) {
		struct jp_error e;
		const struct jp_value *v;

		if ((got = getline(&line, &cap, py)) <= 0)
			break;
		if (line[got - 1] == '\n')
			line[--got] = '\0';
		v = parse_n(c.d[k].s, c.d[k].len, &e);
		mine.len = 0;
		if (v != NULL)
			canon(&mine, v);
		if (strncmp(line, "OK ", 3) == 0) {
			if (v == NULL || strcmp(line + 3, mine.p) != 0) {
				mismatches++;
				diag("doc %zu: Python accepts, we %s: %s", k,
				    v ? "differ" : "refuse", v ? mine.p : e.msg);
			} else {
				accepted++;
			}
		} else if (strncmp(line, "REFUSE ", 7) == 0) {
			if (v != NULL || !code_fits(line + 7, e.code)) {
				mismatches++;
				diag("doc %zu: Python flags %s, we %s", k, line + 7,
				    v ? "accept" : e.msg);
			} else {
				refused_ours++;
			}
		} else if (strcmp(line, "ERR") == 0) {
			if (v != NULL) {
				mismatches++;
				diag("doc %zu: Python refuses, we accept: %s", k, mine.p);
			} else {
				refused_both++;
			}
		} else {
			mismatches++;
			diag("doc %zu: the reference says '%s'", k, line);
		}
	}
	is_int(pclose(py), 0, "the reference script ran (%s)", path);
	is_int(k, c.n, "it answered for every one of %zu documents", c.n);
	is_int(mismatches, 0, "Python and jsonparse agree: %zu accepted by both, %zu refused by both, "
	    "%zu refused here for a documented reason", accepted, refused_both, refused_ours);
	ok(accepted > 50 && refused_both > 50 && refused_ours > 10, "the corpus covers all three outcomes");
	unlink(tmp);
	free(line);
	free(cmd.p);
	free(mine.p);
	for (k = 0; k < c.n; k++)
		free(c.d[k].s);
	free(c.d);
}

int
main(void)
{
	if ((A = jp_arena_new(JP_INPUT_MAX, JP_VALUES_MAX)) == NULL) {
		fprintf(stderr, "out of memory\n");
		return 99;
	}
	test_rfc_examples();
	test_whitespace_and_literals();
	test_numbers();
	test_integers();
	test_strings();
	test_utf8();
	test_structure();
	test_duplicates();
	test_limits();
	test_many_members();
	test_helpers();
	test_reuse_and_hygiene();
	test_python();
	jp_arena_free(A);
	return done_testing();
}
