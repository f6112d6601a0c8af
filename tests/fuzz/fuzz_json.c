/*
 * fuzz_json.c - json_escape and the --json writer on arbitrary bytes.
 *
 * Input: byte 0 picks a small output capacity, the rest is the string.
 *
 * Invariants: the length json_escape reports does not depend on the
 * capacity; the output is NUL-terminated and never written past cap;
 * a cut output is a prefix of the whole one; the whole output is valid
 * JSON string content (no raw control byte, no bare quote, only valid
 * escapes, valid UTF-8 with no surrogates), and unescaping it gives back
 * the input with every byte that is not part of valid UTF-8 replaced by
 * U+FFFD.  The streaming writer produces a valid JSON document.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "json.h"
#include "parse.h"

/*
 * Length of the well-formed UTF-8 sequence at s (Unicode table 3-7), or
 * 0.  Written from the table, not from json.c's code-point arithmetic.
 */
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

static void
put_utf8(unsigned char *out, size_t *o, uint32_t cp)
{
	if (cp < 0x80) {
		out[(*o)++] = (unsigned char)cp;
	} else if (cp < 0x800) {
		out[(*o)++] = (unsigned char)(0xc0 | cp >> 6);
		out[(*o)++] = (unsigned char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		out[(*o)++] = (unsigned char)(0xe0 | cp >> 12);
		out[(*o)++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*o)++] = (unsigned char)(0x80 | (cp & 0x3f));
	} else {
		out[(*o)++] = (unsigned char)(0xf0 | cp >> 18);
		out[(*o)++] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		out[(*o)++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*o)++] = (unsigned char)(0x80 | (cp & 0x3f));
	}
}

/*
 * Validates s[0..n) as the inside of a JSON string (RFC 8259 section 7)
 * and unescapes it into out (room for n bytes); returns its length.
 */
static size_t
validate_unescape(const char *str, size_t n, unsigned char *out)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, o = 0, k;

	while (i < n) {
		if (s[i] == '\\') {
			uint32_t cp = 0;

			FUZZ_CHECK(i + 1 < n, "a lone backslash at the end");
			switch (s[i + 1]) {
			case '"': out[o++] = '"'; i += 2; continue;
			case '\\': out[o++] = '\\'; i += 2; continue;
			case '/': out[o++] = '/'; i += 2; continue;
			case 'b': out[o++] = '\b'; i += 2; continue;
			case 'f': out[o++] = '\f'; i += 2; continue;
			case 'n': out[o++] = '\n'; i += 2; continue;
			case 'r': out[o++] = '\r'; i += 2; continue;
			case 't': out[o++] = '\t'; i += 2; continue;
			case 'u': break;
			default: FUZZ_CHECK(0, "bad escape \\%c", s[i + 1]);
			}
			FUZZ_CHECK(i + 6 <= n, "short \\u escape");
			for (k = 2; k < 6; k++) {
				int h = parse_hexdigit((char)s[i + k]);
				FUZZ_CHECK(h >= 0, "bad hex digit in \\u escape");
				cp = cp << 4 | (uint32_t)h;
			}
			/* json_escape never needs surrogate pairs */
			FUZZ_CHECK(cp < 0xd800 || cp > 0xdfff, "surrogate escape");
			put_utf8(out, &o, cp);
			i += 6;
			continue;
		}
		FUZZ_CHECK(s[i] >= 0x20, "raw control byte 0x%02x", s[i]);
		FUZZ_CHECK(s[i] != '"', "bare quote");
		k = ref_utf8(s + i, n - i);
		FUZZ_CHECK(k > 0, "invalid UTF-8 at %zu", i);
		memcpy(out + o, s + i, k);
		o += k;
		i += k;
	}
	return o;
}

/* What the unescaped output must be: invalid bytes become U+FFFD. */
static size_t
expected(const unsigned char *s, size_t n, unsigned char *out)
{
	size_t i = 0, o = 0, k;

	while (i < n) {
		k = ref_utf8(s + i, n - i);
		if (k == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(out + o, s + i, k);
			o += k;
			i += k;
		}
	}
	return o;
}

static void
check_writer(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	struct json j;
	FILE *f = open_memstream(&buf, &len);
	const char *p, *end;

	if (f == NULL)
		abort();
	json_init(&j, f);
	json_obj_begin(&j);
	json_kv_str(&j, s, s, 1);
	json_key(&j, "list");
	json_arr_begin(&j);
	json_str(&j, s);
	json_int(&j, -1);
	json_null(&j);
	json_arr_end(&j);
	json_obj_end(&j);
	fclose(f);

	/* {"S":"S","list":["S",-1,null]}\n or {"":null,...} for an empty s */
	FUZZ_CHECK(len >= 2 && buf[0] == '{' && buf[len - 1] == '\n' &&
	    buf[len - 2] == '}', "document shape: %s", buf);
	p = buf + 1;
	FUZZ_CHECK(*p == '"', "key");
	end = p + 1;
	while (*end != '"') {
		FUZZ_CHECK(*end != '\0', "unterminated key");
		end += *end == '\\' ? 2 : 1;
	}
	{
		unsigned char *tmp = malloc((size_t)(end - p) + 1);
		if (tmp == NULL)
			abort();
		validate_unescape(p + 1, (size_t)(end - p - 1), tmp);
		free(tmp);
	}
	FUZZ_CHECK(end[1] == ':', "colon after the key");
	FUZZ_CHECK(strstr(end, ",\"list\":[") != NULL && strstr(end, ",-1,null]}") != NULL,
	    "document: %s", buf);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s;
	char *full, *cut, one[1];
	unsigned char *un, *want;
	size_t len, need, need2, small, ulen, wlen;

	if (size < 1)
		return 0;
	small = data[0] % 64;
	s = (const char *)fuzz_dup(data + 1, size - 1);
	len = size - 1;

	/* with no room at all, nothing is written */
	one[0] = 'x';
	need = json_escape(s, len, one, 0);
	FUZZ_CHECK(one[0] == 'x', "wrote with cap 0");
	FUZZ_CHECK(need >= len, "escape shorter than its input");

	full = malloc(need + 1);
	if (full == NULL)
		abort();
	need2 = json_escape(s, len, full, need + 1);
	FUZZ_CHECK(need2 == need, "length %zu with room, %zu without", need2, need);
	FUZZ_CHECK(strlen(full) == need, "NUL at %zu, not %zu", strlen(full), need);

	un = malloc(need + 1);
	want = malloc(3 * len + 1);
	if (un == NULL || want == NULL)
		abort();
	ulen = validate_unescape(full, need, un);
	wlen = expected((const unsigned char *)s, len, want);
	FUZZ_CHECK(ulen == wlen && memcmp(un, want, ulen) == 0,
	    "unescaping does not give the input back");

	/* cut short: terminated, within cap, a prefix of the whole */
	if (small > 0) {
		cut = malloc(small);
		if (cut == NULL)
			abort();
		need2 = json_escape(s, len, cut, small);
		FUZZ_CHECK(need2 == need, "length depends on cap");
		FUZZ_CHECK(strnlen(cut, small) < small, "cut output not terminated");
		FUZZ_CHECK(strncmp(cut, full, strlen(cut)) == 0, "cut output is not a prefix");
		if (need < small)
			FUZZ_CHECK(strcmp(cut, full) == 0, "output differs when it fits");
		free(cut);
	}

	{
		char *cstr = fuzz_strdup(data + 1, size - 1);
		check_writer(cstr);
		free(cstr);
	}
	free(un);
	free(want);
	free(full);
	free((void *)s);
	return 0;
}
