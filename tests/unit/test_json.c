/*
 * test_json.c - JSON string escaping (every byte, invalid UTF-8,
 * truncation) and the streaming writer.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json.h"
#include "tap.h"

/*
 * A strict validator of JSON string content (what goes between the
 * quotes): UTF-8 without overlongs, surrogates or code points past
 * U+10FFFF, no raw control characters, no raw '"' or '\\', escapes from
 * RFC 8259 only.
 */
static int
valid_json_string_content(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, n, k;
	unsigned cp;

	while (i < len) {
		unsigned char c = s[i];
		if (c == '\\') {
			if (i + 1 >= len)
				return 0;
			switch (s[i + 1]) {
			case '"': case '\\': case '/': case 'b': case 'f':
			case 'n': case 'r': case 't':
				i += 2;
				continue;
			case 'u':
				if (i + 6 > len)
					return 0;
				for (k = 2; k < 6; k++)
					if (!strchr("0123456789abcdefABCDEF", s[i + k]) || s[i + k] == 0)
						return 0;
				i += 6;
				continue;
			default:
				return 0;
			}
		}
		if (c == '"' || c < 0x20)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			n = 2, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			n = 3, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			n = 4, cp = c & 0x07;
		else
			return 0;
		if (i + n > len)
			return 0;
		for (k = 1; k < n; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3F);
		}
		if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
		    (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
			return 0;
		i += n;
	}
	return 1;
}

static const char *
esc(const char *s, size_t len)
{
	static char out[4096];
	size_t n = json_escape(s, len, out, sizeof out);

	return n < sizeof out ? out : "(cut)";
}

static void
test_validator(void)
{
	ok(valid_json_string_content("a\\n\\u00e9\xc3\xa9", 11), "validator accepts good content");
	ok(!valid_json_string_content("a\"b", 3), "validator refuses a raw quote");
	ok(!valid_json_string_content("a\\x", 3), "validator refuses a bad escape");
	ok(!valid_json_string_content("\x01", 1), "validator refuses a raw control");
	ok(!valid_json_string_content("\xc0\x80", 2), "validator refuses an overlong");
	ok(!valid_json_string_content("\xed\xa0\x80", 3), "validator refuses a surrogate");
	ok(!valid_json_string_content("\\u12", 4), "validator refuses a short \\u");
}

static void
test_every_byte(void)
{
	char in[1], want[16], out[32];
	unsigned c;
	int bad_exact = 0, bad_valid = 0, bad_len = 0;

	for (c = 0; c < 256; c++) {
		size_t n;

		in[0] = (char)c;
		switch (c) {
		case '"': strcpy(want, "\\\""); break;
		case '\\': strcpy(want, "\\\\"); break;
		case '\b': strcpy(want, "\\b"); break;
		case '\t': strcpy(want, "\\t"); break;
		case '\n': strcpy(want, "\\n"); break;
		case '\f': strcpy(want, "\\f"); break;
		case '\r': strcpy(want, "\\r"); break;
		default:
			if (c < 0x20 || c == 0x7f)
				snprintf(want, sizeof want, "\\u%04x", c);
			else if (c < 0x80)
				snprintf(want, sizeof want, "%c", (char)c);
			else
				strcpy(want, "\\ufffd");
		}
		memset(out, 0x77, sizeof out);
		n = json_escape(in, 1, out, sizeof out);
		if (strcmp(out, want) != 0) {
			if (bad_exact++ < 5)
				diag("byte 0x%02x escaped as '%s', want '%s'", c, out, want);
		}
		if (n != strlen(want))
			bad_len++;
		if (!valid_json_string_content(out, strlen(out)))
			bad_valid++;
	}
	is_int(bad_exact, 0, "each byte 0-255 alone has its exact escape");
	is_int(bad_len, 0, "json_escape returns the escaped length for each byte");
	is_int(bad_valid, 0, "each escaped byte is valid JSON string content");
}

static void
test_utf8(void)
{
	static const struct { const char *in; size_t len; const char *want; } cases[] = {
		{"\x80", 1, "\\ufffd"},
		{"\xbf", 1, "\\ufffd"},
		{"\x80\x80", 2, "\\ufffd\\ufffd"},
		{"\xc0\x80", 2, "\\ufffd\\ufffd"},
		{"\xc1\xbf", 2, "\\ufffd\\ufffd"},
		{"\xe0\x80\x80", 3, "\\ufffd\\ufffd\\ufffd"},
		{"\xe0\x9f\xbf", 3, "\\ufffd\\ufffd\\ufffd"},
		{"\xed\xa0\x80", 3, "\\ufffd\\ufffd\\ufffd"},
		{"\xed\xbf\xbf", 3, "\\ufffd\\ufffd\\ufffd"},
		{"\xf0\x80\x80\x80", 4, "\\ufffd\\ufffd\\ufffd\\ufffd"},
		{"\xf0\x8f\xbf\xbf", 4, "\\ufffd\\ufffd\\ufffd\\ufffd"},
		{"\xf4\x90\x80\x80", 4, "\\ufffd\\ufffd\\ufffd\\ufffd"},
		{"\xf5\x80\x80\x80", 4, "\\ufffd\\ufffd\\ufffd\\ufffd"},
		{"\xf8\x88\x80\x80\x80", 5, "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd"},
		{"\xfe", 1, "\\ufffd"},
		{"\xff", 1, "\\ufffd"},
		{"\xe2\x82", 2, "\\ufffd\\ufffd"},
		{"a\xe2\x82", 3, "a\\ufffd\\ufffd"},
		{"\xe2\x82" "a", 3, "\\ufffd\\ufffda"},
		{"\xc3", 1, "\\ufffd"},
		{"\xc3\xa9\x80", 3, "\xc3\xa9\\ufffd"},
		{"\xf0\x9f\x98", 3, "\\ufffd\\ufffd\\ufffd"},
		/* valid sequences pass through unchanged */
		{"\xc3\xa9", 2, "\xc3\xa9"},
		{"\xe2\x82\xac", 3, "\xe2\x82\xac"},
		{"\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80"},
		{"\xc2\x80", 2, "\xc2\x80"},
		{"\xdf\xbf", 2, "\xdf\xbf"},
		{"\xe0\xa0\x80", 3, "\xe0\xa0\x80"},
		{"\xed\x9f\xbf", 3, "\xed\x9f\xbf"},
		{"\xee\x80\x80", 3, "\xee\x80\x80"},
		{"\xef\xbf\xbf", 3, "\xef\xbf\xbf"},
		{"\xf0\x90\x80\x80", 4, "\xf0\x90\x80\x80"},
		{"\xf4\x8f\xbf\xbf", 4, "\xf4\x8f\xbf\xbf"},
		{"Stra\xc3\x9f" "e \xe2\x80\x9cq\xe2\x80\x9d", 15, "Stra\xc3\x9f" "e \xe2\x80\x9cq\xe2\x80\x9d"},
		{"a\0b", 3, "a\\u0000b"},
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		is_str(esc(cases[i].in, cases[i].len), cases[i].want, "utf-8 case %zu", i);
}

static void
test_random(void)
{
	unsigned char in[64];
	char out[64 * 6 + 1];
	unsigned seed = 12345;
	int i, bad = 0;

	for (i = 0; i < 20000; i++) {
		size_t len = (size_t)(i % 64), k, n;
		for (k = 0; k < len; k++) {
			seed = seed * 1103515245u + 12345u;
			/* bias towards the interesting bytes */
			in[k] = (unsigned char)(i % 2 ? (seed >> 16) : 0x80 | (seed >> 16));
		}
		n = json_escape((const char *)in, len, out, sizeof out);
		if (n >= sizeof out || strlen(out) != n ||
		    !valid_json_string_content(out, n))
			bad++;
	}
	is_int(bad, 0, "20000 random byte strings escape to valid JSON string content");
}

/*
 * Runs fn in a child with a time limit: a json_escape that never returns
 * must show up as a failed test, not as a hung test suite.  fn fills
 * res[0..n); returns 0, or -1 when the child did not finish.
 */
static int
guarded(void (*fn)(long *res), long *res, size_t n)
{
	int fds[2], status;
	pid_t pid;
	ssize_t got;

	if (pipe(fds) != 0 || (pid = fork()) < 0)
		abort();
	if (pid == 0) {
		close(fds[0]);
		alarm(2); /* the work takes microseconds */
		fn(res);
		if (write(fds[1], res, n * sizeof *res) != (ssize_t)(n * sizeof *res))
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	got = read(fds[0], res, n * sizeof *res);
	close(fds[0]);
	waitpid(pid, &status, 0);
	if (got != (ssize_t)(n * sizeof *res) || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return -1;
	return 0;
}

static const char trunc_in[] = "ab\"c\xc3\xa9\x01" "d";

/* res: need, bad_ret, bad_nul, bad_over, whole_ok */
static void
truncation_body(long *res)
{
	size_t need, cap, len = sizeof trunc_in - 1;
	char full[64], out[64];

	memset(res, 0, 5 * sizeof *res);
	need = json_escape(trunc_in, len, full, sizeof full);
	res[0] = (long)need;
	for (cap = 0; cap <= need + 1; cap++) {
		size_t n, i;

		memset(out, 0x5A, sizeof out);
		n = json_escape(trunc_in, len, out, cap);
		if (n != need)
			res[1]++;
		if (cap > 0 && memchr(out, '\0', cap) == NULL)
			res[2]++;
		for (i = cap; i < sizeof out; i++)
			if ((unsigned char)out[i] != 0x5A)
				res[3]++;
	}
	json_escape(trunc_in, len, out, need + 1);
	res[4] = strcmp(out, full) == 0;
}

/* res[0]: inputs whose cut escape misbehaved, res[1]: inputs tried */
static void
small_caps_body(long *res)
{
	static const char *ins[] = {
		"abc", "a\"b", "\xc3\xa9", "a\xc3\xa9", "\xe2\x82\xac\xe2\x82\xac", "\xf0\x9f\x98\x80",
		"\x01\xc3\xa9", "\"\xf0\x9f\x98\x80", "\x80\xc3\xa9", "xyz\xef\xbf\xbf",
	};
	size_t k, cap;
	char full[64], out[64];

	res[0] = res[1] = 0;
	/* cap 0 with a NULL buffer only measures */
	if (json_escape("abc", 3, NULL, 0) != 3)
		res[0]++;
	for (k = 0; k < sizeof ins / sizeof ins[0]; k++) {
		size_t need = json_escape(ins[k], strlen(ins[k]), full, sizeof full);
		for (cap = 0; cap <= need; cap++) {
			res[1]++;
			if (json_escape(ins[k], strlen(ins[k]), out, cap) != need ||
			    (cap > 0 && strlen(out) >= cap))
				res[0]++;
		}
	}
}

static void
test_truncation(void)
{
	static const char want[] = "ab\\\"c\xc3\xa9\\u0001d";
	long res[5] = {0};
	char out[8];

	if (guarded(truncation_body, res, 5) != 0) {
		ok(0, "json_escape returns for every cap 0..need+1 (it did not: infinite loop)");
	} else {
		ok(1, "json_escape returns for every cap 0..need+1");
		is_int(res[0], strlen(want), "the return value is the full length");
		is_int(res[1], 0, "every cap returns the needed length (>= cap means cut)");
		is_int(res[2], 0, "every cap > 0 leaves a NUL inside the buffer");
		is_int(res[3], 0, "nothing is written at or beyond cap");
		ok(res[4], "cap = need + 1 holds the whole escape");
	}
	if (guarded(small_caps_body, res, 2) != 0) {
		ok(0, "json_escape with a too small cap returns (it did not: infinite loop)");
	} else {
		ok(1, "json_escape with a too small cap returns (ASCII, quotes, UTF-8)");
		is_int(res[0], 0, "and measures right with a NUL-terminated prefix (%ld cuts)", res[1]);
	}
	is_str(esc(trunc_in, sizeof trunc_in - 1), want, "reference escape");
	is_int(json_escape("", 0, out, 1), 0, "empty string");
	is_str(out, "", "empty string is empty");
}

static char *
capture(void (*fn)(struct json *), size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);
	struct json j;

	if (f == NULL)
		abort();
	json_init(&j, f);
	fn(&j);
	fclose(f);
	return text;
}

static void
write_nested(struct json *j)
{
	json_obj_begin(j);
	json_kv_str(j, "name", "acme \"x\"", 0);
	json_kv_str(j, "user", NULL, 1);
	json_kv_str(j, "empty", "", 1);
	json_kv_str(j, "e2", "", 0);
	json_kv_int(j, "n", -5);
	json_key(j, "list");
	json_arr_begin(j);
	json_int(j, 1);
	json_uint(j, UINT64_MAX);
	json_bool(j, 1);
	json_bool(j, 0);
	json_null(j);
	json_str(j, "\xc3\xa9\n\xff");
	json_obj_begin(j);
	json_obj_end(j);
	json_arr_begin(j);
	json_arr_end(j);
	json_arr_end(j);
	json_key(j, "obj");
	json_obj_begin(j);
	json_kv_time(j, "t", 1795567326);
	json_kv_time(j, "z", 0);
	json_key(j, "k\"\x01");
	json_int(j, INT64_MIN);
	json_obj_end(j);
	json_obj_end(j);
}

static void
write_array(struct json *j)
{
	json_arr_begin(j);
	json_obj_begin(j);
	json_kv_int(j, "a", 1);
	json_obj_end(j);
	json_obj_begin(j);
	json_kv_int(j, "a", 2);
	json_obj_end(j);
	json_arr_end(j);
}

static void
write_long(struct json *j)
{
	char s[701];

	memset(s, '"', 700);
	s[700] = '\0';
	json_arr_begin(j);
	json_str(j, s);
	json_arr_end(j);
}

/* a 600-byte plain string: the writer's 512-byte first try is too small */
static void
long_ascii_body(long *res)
{
	char s[601], *text = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&text, &len);
	struct json j;

	memset(s, 'x', 600);
	s[600] = '\0';
	json_init(&j, f);
	json_str(&j, s);
	fclose(f);
	res[0] = (long)strlen(text);
	res[1] = text[0] == '"' && text[601] == '"' && text[602] == '\0';
	for (i = 1; i <= 600; i++)
		if (text[i] != 'x')
			res[1] = 0;
	free(text);
}

/* res[0]: length written, res[1]: exact */
static void
long_utf8_body(long *res)
{
	char s[603], *text = NULL, want[1300];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct json j;

	memset(s, '"', 600);
	memcpy(s + 600, "\xc3\xa9", 3);
	json_init(&j, f);
	json_str(&j, s);
	fclose(f);
	want[0] = '"';
	for (len = 0; len < 600; len++)
		memcpy(want + 1 + 2 * len, "\\\"", 2);
	memcpy(want + 1201, "\xc3\xa9\"", 4);
	res[0] = (long)strlen(text);
	res[1] = strcmp(text, want) == 0;
	free(text);
}

/*
 * Multi-byte sequences at every offset around the writer's piece bounds,
 * and invalid bytes among them: written exactly as json_escape escapes
 * the whole string.
 */
static void
test_pieces(void)
{
	static const char *const seqs[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
	    "\xf0\x9f\x98", "\x80\x80\x80\x80\x80", "\"", "x"};
	char s[1200], want[8000], *text = NULL;
	size_t pad, k, n, len = 0;
	int bad = 0;

	for (pad = 0; pad < 70; pad++)
		for (k = 0; k < sizeof seqs / sizeof seqs[0]; k++) {
			FILE *f = open_memstream(&text, &len);
			struct json j;

			memset(s, 'a', pad);
			n = pad;
			while (n + 5 < 300) {
				strcpy(s + n, seqs[k]);
				n += strlen(seqs[k]);
			}
			s[n] = '\0';
			json_init(&j, f);
			json_str(&j, s);
			fclose(f);
			want[0] = '"';
			n = json_escape(s, n, want + 1, sizeof want - 2);
			strcpy(want + 1 + n, "\"");
			bad += strcmp(text, want) != 0;
			free(text);
			text = NULL;
		}
	is_int(bad, 0, "strings written in pieces equal their escape in one (70 x 7 strings)");
}

static void
test_writer(void)
{
	long res[2];

	size_t len, i;
	char *t;
	int bad = 0;

	t = capture(write_nested, &len);
	is_str(t, "{\"name\":\"acme \\\"x\\\"\",\"user\":null,\"empty\":null,\"e2\":\"\","
	    "\"n\":-5,\"list\":[1,18446744073709551615,true,false,null,"
	    "\"\xc3\xa9\\n\\ufffd\",{},[]],\"obj\":{\"t\":\"2026-11-25T00:42:06Z\","
	    "\"z\":null,\"k\\\"\\u0001\":-9223372036854775808}}\n",
	    "a nested object is written exactly");
	free(t);
	t = capture(write_array, &len);
	is_str(t, "[{\"a\":1},{\"a\":2}]\n", "an array of objects is written exactly");
	free(t);
	t = capture(write_long, &len);
	is_int(len, 2 + 2 + 1400 + 1, "a 700-quote string is escaped in full (in pieces)");
	for (i = 2; i < 2 + 1400 && t != NULL && i < len; i += 2)
		if (t[i] != '\\' || t[i + 1] != '"')
			bad++;
	ok(t != NULL && strncmp(t, "[\"", 2) == 0 && strcmp(t + len - 3, "\"]\n") == 0 && bad == 0,
	    "and exactly");
	free(t);
	if (guarded(long_ascii_body, res, 2) != 0) {
		ok(0, "a 600-byte plain string is written (it was not: infinite loop)");
	} else {
		ok(1, "a 600-byte plain string is written");
		ok(res[1], "exactly (%ld bytes)", res[0]);
	}
	if (guarded(long_utf8_body, res, 2) != 0) {
		ok(0, "a long string ending in UTF-8 is written (it was not: infinite loop)");
	} else {
		ok(1, "a long string ending in UTF-8 is written");
		ok(res[1], "exactly (%ld bytes)", res[0]);
	}
}

int
main(void)
{
	test_validator();
	test_every_byte();
	test_utf8();
	test_random();
	test_truncation();
	test_writer();
	test_pieces();
	return done_testing();
}
