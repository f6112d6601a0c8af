/*
 * test_apikey.c - key format, checksum, classification, display prefixes,
 * key ids, randomness, digests and hex.
 *
 * Expected checksums were computed independently with Python's
 * zlib.crc32 when these tests were written, and are hard-coded here.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "apikey.h"
#include "tap.h"

static const char B62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static int
b62_index(char c)
{
	const char *p = strchr(B62, c);
	return c != '\0' && p != NULL ? (int)(p - B62) : -1;
}

/* Our own rendering of a CRC as 6 base62 digits, MSB first. */
static void
my_b62_6(uint32_t v, char out[7])
{
	int i;

	for (i = 5; i >= 0; i--) {
		out[i] = B62[v % 62];
		v /= 62;
	}
	out[6] = '\0';
}

/* Known keys: random part chosen by hand, checksum from zlib.crc32. */
static const struct {
	const char *prefix, *key;
	enum apikey_mode mode;
	uint32_t crc; /* of everything before the checksum */
} known[] = {
	{"kg", "kg_live_0123456789ABCDEFGHIJKLMNOPQRSTUV03NzCm", MODE_LIVE, 0x02fba384},
	{"kg", "kg_live_aZ3kQ9xW2mN7pL4vR8tY1cB6dF0gH5jK4J9uOT", MODE_LIVE, 0xeb4c4235},
	{"kg", "kg_live_000000000000000000000000000000004eeaNr", MODE_LIVE, 0xfe3aab17},
	{"kg", "kg_test_0123456789ABCDEFGHIJKLMNOPQRSTUV3Gorfl", MODE_TEST, 0xb2a1b701},
	{"kg", "kg_test_aZ3kQ9xW2mN7pL4vR8tY1cB6dF0gH5jK1fQ8C8", MODE_TEST, 0x5b1656b0},
	{"acme2", "acme2_live_0123456789ABCDEFGHIJKLMNOPQRSTUV4Esnjl", MODE_LIVE, 0xe7882b89},
	{"acme2", "acme2_live_aZ3kQ9xW2mN7pL4vR8tY1cB6dF0gH5jK0GB4pc", MODE_LIVE, 0x0e3fca38},
	{"acme2", "acme2_live_000000000000000000000000000000000UymxG", MODE_LIVE, 0x1b49231a},
};
#define NKNOWN (sizeof known / sizeof known[0])

static const char *K0 = "kg_live_0123456789ABCDEFGHIJKLMNOPQRSTUV03NzCm";

static enum apikey_form
classify(const char *prefix, const char *key, size_t len)
{
	enum apikey_mode m = MODE_LIVE;
	return apikey_classify(prefix, key, len, &m);
}

static void
test_crc_and_checksum(void)
{
	char sum[APIKEY_CHECKSUM_LEN], mine[7];
	size_t i;

	is_u64(apikey_crc32("123456789", 9), 0xCBF43926u, "crc32 check value of 123456789");
	is_u64(apikey_crc32("", 0), 0, "crc32 of nothing is 0");
	is_u64(apikey_crc32("a", 1), 0xe8b7be43u, "crc32 of 'a'");
	for (i = 0; i < NKNOWN; i++) {
		size_t n = strlen(known[i].key) - APIKEY_CHECKSUM_LEN;
		is_u64(apikey_crc32(known[i].key, n), known[i].crc, "crc32 of %.*s",
		    (int)n, known[i].key);
		apikey_checksum(known[i].key, n, sum);
		ok(memcmp(sum, known[i].key + n, APIKEY_CHECKSUM_LEN) == 0,
		    "checksum of %.*s is %s", (int)n, known[i].key, known[i].key + n);
		my_b62_6(known[i].crc, mine);
		is_str(mine, known[i].key + n, "independent base62 rendering agrees (%s)", mine);
	}
	/* zero padding: CRC 0 is "000000", CRC 0xFFFFFFFF is "4gfFC3" */
	my_b62_6(0xFFFFFFFFu, mine);
	is_str(mine, "4gfFC3", "base62 of 2^32-1");
}

/* The CRC bit by bit, as the polynomial defines it. */
static uint32_t
bitwise_crc32(const unsigned char *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;
	int k;

	while (n--) {
		c ^= *p++;
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
	}
	return ~c;
}

/* apikey_crc32 works eight bytes a step: every length and alignment. */
static void
test_crc_slices(void)
{
	unsigned char buf[300 + 8];
	size_t off, len, i;
	int bad = 0;

	for (i = 0; i < sizeof buf; i++)
		buf[i] = (unsigned char)(i * 131u + 7u);
	for (off = 0; off < 8; off++)
		for (len = 0; len + off <= 300; len++)
			if (apikey_crc32(buf + off, len) != bitwise_crc32(buf + off, len))
				bad++;
	is_int(bad, 0, "crc32 equals the bitwise CRC at every length 0-300 and offset 0-7");
	memset(buf, 0xFF, sizeof buf);
	is_u64(apikey_crc32(buf, 300), bitwise_crc32(buf, 300), "crc32 of 300 bytes 0xff");
}

/* apikey_printable checks eight bytes a step: every byte value at every place. */
static void
test_printable(void)
{
	char buf[24];
	size_t len, pos;
	int c, bad = 0;

	for (len = 1; len <= sizeof buf; len++) {
		for (pos = 0; pos < len; pos++) {
			for (c = 0; c < 256; c++) {
				memset(buf, 'k', sizeof buf);
				buf[pos] = (char)c;
				if (apikey_printable(buf, len) != (c >= 0x21 && c <= 0x7e))
					bad++;
			}
		}
	}
	is_int(bad, 0, "apikey_printable: each byte value at each place of 1-24 bytes");
	ok(apikey_printable("", 0), "nothing is printable");
}

static void
test_known_keys(void)
{
	size_t i;

	for (i = 0; i < NKNOWN; i++) {
		enum apikey_mode m = (enum apikey_mode)99;
		enum apikey_form f = apikey_classify(known[i].prefix, known[i].key,
		    strlen(known[i].key), &m);
		is_int(f, APIKEY_OURS, "known key %s is ours", known[i].key);
		is_int(m, known[i].mode, "known key %s has mode %s", known[i].key,
		    known[i].mode == MODE_LIVE ? "live" : "test");
	}
	/* a key of another prefix's store is foreign here */
	is_int(classify("kg", known[5].key, strlen(known[5].key)), APIKEY_FOREIGN,
	    "acme2 key under prefix kg is foreign");
	/* longer random parts are fine up to APIKEY_BODY_MAX */
	{
		char k[300];
		int n = snprintf(k, sizeof k, "kg_live_%s3KugRP",
		    "Zz9Zz9Zz9Zz9Zz9Zz9Zz9Zz9Zz9Zz9Zz9Zz9Zz9Zz9");
		is_int(classify("kg", k, (size_t)n), APIKEY_OURS, "42-char random part is ours");
		memset(k, 'q', sizeof k);
		memcpy(k, "kg_live_", 8);
		memcpy(k + 8 + 122, "2CJORW", 6);
		is_int(classify("kg", k, 8 + 122 + 6), APIKEY_OURS,
		    "body of exactly APIKEY_BODY_MAX (128) is ours");
		memset(k, 'q', sizeof k);
		memcpy(k, "kg_live_", 8);
		memcpy(k + 8 + 123, "33NWiO", 6);
		is_int(classify("kg", k, 8 + 123 + 6), APIKEY_MALFORMED,
		    "body of 129 (valid checksum) is malformed");
		n = snprintf(k, sizeof k, "kg_test_0123456789ABCDEFGHIJKLMNOPQRSTU0MWSKX");
		is_int(classify("kg", k, (size_t)n), APIKEY_MALFORMED,
		    "31-char random part with a valid checksum is malformed");
	}
}

static void
test_generate(void)
{
	char key[APIKEY_BUF], mine[7];
	int i, n, bad_len = 0, bad_fmt = 0, bad_sum = 0, bad_class = 0, bad_mode = 0;

	for (i = 0; i < 2000; i++) {
		enum apikey_mode want = i % 2 ? MODE_TEST : MODE_LIVE, m = MODE_LIVE;
		const char *prefix = i % 3 == 0 ? "kg" : i % 3 == 1 ? "acme2" : "abcdefghij12";
		size_t plen = strlen(prefix), j;

		memset(key, 0x55, sizeof key);
		n = apikey_generate(prefix, want, key, sizeof key);
		if (n != (int)(plen + 6 + 32 + 6) || strlen(key) != (size_t)n) {
			bad_len++;
			continue;
		}
		if (memcmp(key, prefix, plen) != 0 || key[plen] != '_' ||
		    memcmp(key + plen + 1, want == MODE_TEST ? "test_" : "live_", 5) != 0)
			bad_fmt++;
		for (j = plen + 6; j < (size_t)n; j++)
			if (b62_index(key[j]) < 0)
				bad_fmt++;
		my_b62_6(apikey_crc32(key, (size_t)n - 6), mine);
		if (strcmp(mine, key + n - 6) != 0)
			bad_sum++;
		if (apikey_classify(prefix, key, (size_t)n, &m) != APIKEY_OURS)
			bad_class++;
		if (m != want)
			bad_mode++;
	}
	is_int(bad_len, 0, "2000 generated keys have length prefix+6+38");
	is_int(bad_fmt, 0, "generated keys are <prefix>_<mode>_<base62>");
	is_int(bad_sum, 0, "generated keys carry the CRC32 of what precedes it");
	is_int(bad_class, 0, "generated keys classify as ours");
	is_int(bad_mode, 0, "generated keys classify with their mode");

	is_int(apikey_generate("KG", MODE_LIVE, key, sizeof key), -1, "generate refuses prefix KG");
	is_int(apikey_generate("k", MODE_LIVE, key, sizeof key), -1, "generate refuses prefix k");
	is_int(apikey_generate("kg", MODE_LIVE, key, 2 + 6 + 38), -1,
	    "generate refuses a buffer without room for the NUL");
	is_int(apikey_generate("kg", MODE_LIVE, key, 2 + 6 + 38 + 1), 46,
	    "generate fits a buffer of exactly the key + NUL");
}

static void
test_flips(void)
{
	char k[64];
	size_t len = strlen(K0), plen = 2, i;
	int j, wrong_body = 0, wrong_mode = 0, wrong_prefix = 0, sep = 0;

	for (i = 0; i < len; i++) {
		for (j = 0; j < 62; j++) {
			enum apikey_form f, want;
			if (B62[j] == K0[i])
				continue;
			memcpy(k, K0, len + 1);
			k[i] = B62[j];
			f = classify("kg", k, len);
			if (i < plen)
				want = APIKEY_FOREIGN; /* no longer our prefix */
			else if (i == plen)
				want = APIKEY_FOREIGN; /* "kgX" is not "kg_" */
			else
				want = APIKEY_MALFORMED;
			if (f != want) {
				if (i < plen)
					wrong_prefix++;
				else if (i == plen)
					sep++;
				else if (i < plen + 6)
					wrong_mode++;
				else
					wrong_body++;
				if (wrong_body + wrong_mode + wrong_prefix + sep < 5)
					diag("flip at %zu to %c: got %d want %d", i, B62[j], f, want);
			}
		}
	}
	is_int(wrong_body, 0, "every body character flipped to any other base62 char is malformed (38*61 keys)");
	is_int(wrong_mode, 0, "every mode/separator character flipped is malformed");
	is_int(wrong_prefix, 0, "a flipped prefix character makes the key foreign");
	is_int(sep, 0, "a flipped separator after the prefix makes the key foreign");

	/* two transposed adjacent body characters (a common typo) */
	wrong_body = 0;
	for (i = 8; i + 1 < len; i++) {
		char t;
		memcpy(k, K0, len + 1);
		if (k[i] == k[i + 1])
			continue;
		t = k[i]; k[i] = k[i + 1]; k[i + 1] = t;
		if (classify("kg", k, len) != APIKEY_MALFORMED)
			wrong_body++;
	}
	is_int(wrong_body, 0, "every adjacent transposition in the body is malformed");
}

static void
test_lengths(void)
{
	char k[APIKEY_MAX + 8];
	size_t len = strlen(K0), n;
	int bad = 0, j;

	for (n = 0; n < len; n++) {
		enum apikey_form want = n <= 2 ? APIKEY_GARBAGE : APIKEY_MALFORMED;
		enum apikey_form f = classify("kg", K0, n);
		if (f != want) {
			bad++;
			diag("truncated to %zu: got %d want %d", n, f, want);
		}
	}
	is_int(bad, 0, "a key truncated by 1..all characters is never ours (malformed, or garbage when too short)");

	bad = 0;
	for (j = 0; j < 62; j++) {
		memcpy(k, K0, len);
		k[len] = B62[j];
		k[len + 1] = '\0';
		if (classify("kg", k, len + 1) != APIKEY_MALFORMED)
			bad++;
	}
	is_int(bad, 0, "one character too long (any base62 char appended) is malformed");
	memcpy(k, K0, len);
	k[len] = '!';
	is_int(classify("kg", k, len + 1), APIKEY_MALFORMED, "one '!' appended is malformed");
	/* the checksum covers the bytes before it, not a NUL-terminated string */
	is_int(classify("kg", K0, len), APIKEY_OURS, "classify honours len");
}

static void
test_forms(void)
{
	char k[400], r[64];
	size_t len = strlen(K0);
	unsigned c;
	int bad;

	/* wrong prefixes */
	snprintf(k, sizeof k, "xx%s", K0 + 2);
	is_int(classify("kg", k, strlen(k)), APIKEY_FOREIGN, "xx_live_... is foreign to kg");
	snprintf(k, sizeof k, "KG%s", K0 + 2);
	is_int(classify("kg", k, strlen(k)), APIKEY_FOREIGN, "KG_live_... (prefix case) is foreign");
	snprintf(k, sizeof k, "kgx%s", K0 + 2);
	is_int(classify("kg", k, strlen(k)), APIKEY_FOREIGN, "kgx_live_... is foreign");
	is_int(classify("kg", "ab_x", 4), APIKEY_GARBAGE, "a 4-byte other key is garbage");
	is_int(classify("kg", "abcdefg", 7), APIKEY_GARBAGE, "7 printable bytes are garbage");
	is_int(classify("kg", "abcdefgh", 8), APIKEY_FOREIGN, "8 printable bytes are foreign");
	is_int(classify("kg", K0, len), APIKEY_OURS, "K0 is ours");
	is_int(classify("acme2", K0, len), APIKEY_FOREIGN, "K0 is foreign under prefix acme2");

	/* wrong modes */
	snprintf(k, sizeof k, "kg_prod_%s", K0 + 8);
	is_int(classify("kg", k, strlen(k)), APIKEY_MALFORMED, "kg_prod_... is malformed");
	snprintf(k, sizeof k, "kg_LIVE_%s", K0 + 8);
	is_int(classify("kg", k, strlen(k)), APIKEY_MALFORMED, "kg_LIVE_... (upper-case mode) is malformed");
	snprintf(k, sizeof k, "kg_Live_%s", K0 + 8);
	is_int(classify("kg", k, strlen(k)), APIKEY_MALFORMED, "kg_Live_... is malformed");
	snprintf(k, sizeof k, "kg_TEST_%s", K0 + 8);
	is_int(classify("kg", k, strlen(k)), APIKEY_MALFORMED, "kg_TEST_... is malformed");
	snprintf(k, sizeof k, "kg_test_%s", K0 + 8);
	is_int(classify("kg", k, strlen(k)), APIKEY_MALFORMED,
	    "a live key's body under test_ is malformed (the mode is under the checksum)");
	is_int(classify("kg", "kg_live", 7), APIKEY_MALFORMED, "kg_live is malformed");
	is_int(classify("kg", "kg_live_", 8), APIKEY_MALFORMED, "kg_live_ is malformed");
	is_int(classify("kg", "kg__", 4), APIKEY_MALFORMED, "kg__ is malformed");

	/* bytes that cannot be in any key */
	bad = 0;
	for (c = 0; c < 256; c++) {
		if (c >= 0x21 && c <= 0x7e)
			continue;
		memcpy(k, K0, len + 1);
		k[20] = (char)c;
		if (classify("kg", k, len) != APIKEY_GARBAGE)
			bad++;
		memcpy(k, "abcdefghijkl", 13);
		k[5] = (char)c;
		if (classify("kg", k, 12) != APIKEY_GARBAGE)
			bad++;
	}
	is_int(bad, 0, "a control byte, space, DEL or byte >= 0x80 anywhere makes garbage");
	memset(k, 'a', sizeof k);
	is_int(classify("kg", k, 257), APIKEY_GARBAGE, "257 bytes are garbage");
	is_int(classify("kg", k, 256), APIKEY_FOREIGN, "256 printable bytes are foreign");
	memcpy(k, K0, len);
	is_int(classify("kg", k, 257), APIKEY_GARBAGE, "our prefix + 257 bytes is garbage");
	is_int(classify("kg", "", 0), APIKEY_GARBAGE, "empty key is garbage");
	snprintf(r, sizeof r, " %s", K0);
	is_int(classify("kg", r, strlen(r)), APIKEY_GARBAGE, "a leading space is garbage");
}

static void
test_prefix_valid(void)
{
	ok(apikey_prefix_valid("kg"), "kg is a valid prefix");
	ok(apikey_prefix_valid("a1"), "a1 is a valid prefix");
	ok(apikey_prefix_valid("12"), "12 is a valid prefix");
	ok(apikey_prefix_valid("abcdefghij12"), "12 characters are a valid prefix");
	ok(!apikey_prefix_valid("abcdefghij123"), "13 characters are not");
	ok(!apikey_prefix_valid("k"), "1 character is not");
	ok(!apikey_prefix_valid(""), "empty is not");
	ok(!apikey_prefix_valid(NULL), "NULL is not");
	ok(!apikey_prefix_valid("KG"), "upper case is not");
	ok(!apikey_prefix_valid("k_g"), "underscore is not");
	ok(!apikey_prefix_valid("k-g"), "dash is not");
	ok(!apikey_prefix_valid("kg "), "trailing space is not");
	ok(!apikey_prefix_valid("k\xc3\xa9"), "non-ASCII is not");
}

static int
ends_with_ellipsis_after(const char *out, const char *key, size_t keep)
{
	return strncmp(out, key, keep) == 0 &&
	    strcmp(out + keep, "\xe2\x80\xa6") == 0;
}

static void
test_display(void)
{
	char out[DISPLAY_MAX], big[300], guard[80];
	size_t i, n;
	int bad = 0;

	apikey_display("kg", K0, strlen(K0), out, sizeof out);
	is_str(out, "kg_live_0123\xe2\x80\xa6", "display of an own key is prefix_mode_ + 4 chars + ellipsis");
	apikey_display("acme2", known[5].key, strlen(known[5].key), out, sizeof out);
	is_str(out, "acme2_live_0123\xe2\x80\xa6", "display with a 5-char prefix");

	/* foreign keys of every length: at most a quarter, at most 4 bytes */
	memset(big, 0, sizeof big);
	for (n = 8; n <= 256; n++) {
		size_t keep = n / 4 < 4 ? n / 4 : 4;
		for (i = 0; i < n; i++)
			big[i] = B62[(i * 7 + 3) % 62];
		big[n] = '\0';
		apikey_display("kg", big, n, out, sizeof out);
		if (!ends_with_ellipsis_after(out, big, keep)) {
			bad++;
			diag("foreign key of %zu bytes displayed as '%s'", n, out);
		}
	}
	is_int(bad, 0, "foreign keys (8..256 bytes) show min(len/4, 4) bytes");

	/* our prefix but malformed: treated as foreign, never 12 chars */
	{
		char k[64];
		memcpy(k, K0, strlen(K0) + 1);
		k[30] = k[30] == 'A' ? 'B' : 'A';
		apikey_display("kg", k, strlen(k), out, sizeof out);
		is_str(out, "kg_l\xe2\x80\xa6", "a malformed key of our prefix shows 4 bytes");
	}
	apikey_display("kg", "abc\001defghijk", 12, out, sizeof out);
	is_str(out, "\xe2\x80\xa6", "a non-printable key shows nothing");
	apikey_display(NULL, K0, strlen(K0), out, sizeof out);
	is_str(out, "kg_l\xe2\x80\xa6", "without a prefix a key is shown as foreign");

	/* small buffers: never a byte beyond outsz, always NUL-terminated */
	bad = 0;
	for (n = 1; n <= 40; n++) {
		memset(guard, 0x5A, sizeof guard);
		apikey_display("kg", K0, strlen(K0), guard, n);
		for (i = n; i < sizeof guard; i++)
			if ((unsigned char)guard[i] != 0x5A)
				break;
		if (i != sizeof guard || memchr(guard, '\0', n) == NULL) {
			bad++;
			diag("apikey_display with outsz %zu wrote past the buffer or left no NUL", n);
		}
	}
	is_int(bad, 0, "apikey_display never writes beyond outsz (1..40)");
}

/* apikey_redact: what a message or a log line may show of a key in it */
static void
test_redact(void)
{
	static const struct { const char *in, *want, *what; } cases[] = {
		{"", "", "empty text"},
		{"organization 'acme' not found", "organization 'acme' not found", "text without a key"},
		{"key 'kg_live_0123456789abcdefghijABCDEFGHIJ0123456' not found",
		    "key 'kg_live_0123\xe2\x80\xa6' not found", "a key in a message"},
		{"kg_test_AbCdEfGh", "kg_test_AbCd\xe2\x80\xa6", "a test key at the start, any length"},
		{"x acme2_live_ABCDE", "x acme2_live_ABCD\xe2\x80\xa6", "5 random characters are one too many"},
		{"kg_live_ABCD", "kg_live_ABCD", "4 are a display prefix already"},
		{"kg_live_ABCD\xe2\x80\xa6 again", "kg_live_ABCD\xe2\x80\xa6 again", "a display prefix is kept (idempotent)"},
		{"a kg_live_0123456789 and b_test_9876543210!", "a kg_live_0123\xe2\x80\xa6 and b_test_9876\xe2\x80\xa6!",
		    "every key in the text"},
		{"GET /v1/keys/zz_live_Secret123/x", "GET /v1/keys/zz_live_Secr\xe2\x80\xa6/x",
		    "a key inside a path, whatever its prefix"},
		{"_live_0123456789", "_live_0123456789", "no prefix before the mode: not a key's shape"},
		{"KG_live_0123456789", "KG_live_0123456789", "an upper-case prefix is no key prefix"},
		{"kg_live_kg_live_0123456789", "kg_live_kg_live_0123\xe2\x80\xa6", "a key after a short run"},
		{"org=shop_live_payments", "org=shop_live_payments", "a lower-case word is no random part"},
		{"org=shop_live_payments2", "org=shop_live_paym\xe2\x80\xa6", "a digit makes it one"},
		{"kg_live_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKL", "kg_live_abcd\xe2\x80\xa6",
		    "so does an upper-case letter anywhere in it"},
		{"kg_livex_0123456789", "kg_livex_0123456789", "no mode"},
	};
	char out[1024], guard[96], big[4000];
	size_t i, n;
	int bad = 0;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		is_str(apikey_redact(cases[i].in, out, sizeof out), cases[i].want, "redact: %s", cases[i].what);

	/* huge: cut with an ellipsis, never overrun, never a key's tail */
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	memcpy(big + 1000, " kg_live_", 9);
	apikey_redact(big, out, sizeof out);
	ok(strlen(out) < sizeof out && strcmp(out + strlen(out) - 3, "\xe2\x80\xa6") == 0,
	    "redact: text longer than the buffer ends in an ellipsis");

	/* small buffers: never a byte beyond n, NUL-terminated, never more of the key */
	for (n = 0; n <= 64; n++) {
		memset(guard, 0x5A, sizeof guard);
		apikey_redact("ab kg_live_0123456789abcdefghij \xc3\xa9t\xc3\xa9", guard, n);
		for (i = n; i < sizeof guard; i++)
			if ((unsigned char)guard[i] != 0x5A)
				break;
		if (i != sizeof guard || (n > 0 && memchr(guard, '\0', n) == NULL) ||
		    (n > 0 && strstr(guard, "01234") != NULL)) {
			bad++;
			diag("apikey_redact with n = %zu: overrun, no NUL or key shown", n);
		}
		/* a cut never splits a UTF-8 sequence: the last byte before the NUL is ASCII or completes one */
		if (n > 0 && memchr(guard, '\0', n) != NULL) {
			size_t l = strlen(guard);
			if (l > 0 && (unsigned char)guard[l - 1] == 0xc3) {
				bad++;
				diag("apikey_redact with n = %zu split a UTF-8 sequence", n);
			}
		}
	}
	is_int(bad, 0, "redact: buffers of 0..64 bytes");

	/* hostile: every byte value, never a crash, always terminated */
	for (i = 0; i < 255; i++)
		big[i] = (char)(i + 1);
	big[255] = '\0';
	apikey_redact(big, out, sizeof out);
	ok(strlen(out) == 255, "redact: every byte value but NUL passes through unchanged");
}

static void
test_id_valid(void)
{
	ok(apikey_id_valid("key_0123456789abcDEF"), "id: key_ + 16 base62");
	ok(!apikey_id_valid("key_0123456789abcDE"), "id: 15 characters");
	ok(!apikey_id_valid("key_0123456789abcDEFG"), "id: 17 characters");
	ok(!apikey_id_valid("kex_0123456789abcDEF"), "id: another word");
	ok(!apikey_id_valid("key_0123456789abc-EF"), "id: not base62");
	ok(!apikey_id_valid(""), "id: empty");
	ok(!apikey_id_valid(NULL), "id: NULL");
	ok(!apikey_id_valid(K0), "id: a key is no id");
}

static int
cmp_ids(const void *a, const void *b)
{
	return memcmp(a, b, KEYID_LEN + 1);
}

static void
test_key_ids(void)
{
	enum { N = 10000 };
	char (*ids)[KEYID_LEN + 1] = calloc(N, sizeof *ids);
	int i, bad = 0, dups = 0, rc = 0;
	size_t j;

	if (ids == NULL)
		abort();
	for (i = 0; i < N; i++) {
		rc |= apikey_new_id(ids[i]);
		if (strlen(ids[i]) != KEYID_LEN || memcmp(ids[i], "key_", 4) != 0)
			bad++;
		for (j = 4; j < KEYID_LEN; j++)
			if (b62_index(ids[i][j]) < 0)
				bad++;
	}
	is_int(rc, 0, "apikey_new_id succeeds 10000 times");
	is_int(bad, 0, "every id is key_ + 16 base62");
	qsort(ids, N, sizeof *ids, cmp_ids);
	for (i = 1; i < N; i++)
		if (strcmp(ids[i - 1], ids[i]) == 0)
			dups++;
	is_int(dups, 0, "10000 ids are distinct");
	free(ids);
}

static void
test_randomness(void)
{
	enum { N = 100000 };
	char *buf = malloc(N);
	long count[62] = {0};
	double chi = 0, expect = (double)N / 62;
	int i, bad = 0;

	if (buf == NULL)
		abort();
	is_int(apikey_random_base62(buf, N), 0, "100000 random base62 characters");
	for (i = 0; i < N; i++) {
		int x = b62_index(buf[i]);
		if (x < 0)
			bad++;
		else
			count[x]++;
	}
	is_int(bad, 0, "all of them are base62");
	for (i = 0; i < 62; i++)
		chi += (count[i] - expect) * (count[i] - expect) / expect;
	/*
	 * 61 degrees of freedom: mean 61, sd 11.  200 is 12 sd away, so this
	 * never flakes, yet the classic modulo bias (byte % 62: the first 8
	 * characters 25% more likely) scores about 800.
	 */
	ok(chi < 200.0, "character distribution is uniform (chi-square %.1f < 200)", chi);
	is_int(apikey_random_base62(buf, 0), 0, "zero characters is fine");
	free(buf);
}

static void
hex(const unsigned char *d, size_t n, char *out)
{
	hex_encode(d, n, out);
}

static void
test_digests(void)
{
	struct digester *d;
	unsigned char out[DIGEST_LEN], ref[DIGEST_LEN], pepper[200], msg[300];
	char h[2 * DIGEST_LEN + 1];
	static const size_t plens[] = {16, 64, 65, 200};
	size_t i, m;
	int bad;

	d = digester_new(NULL, 0);
	ok(d != NULL, "digester without pepper");
	is_int(digester_peppered(d), 0, "not peppered");
	is_int(digester_digest(d, "abc", 3, out), 0, "digest of abc");
	hex(out, DIGEST_LEN, h);
	is_str(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	    "SHA-256(abc) test vector");
	is_int(digester_sha256(d, "", 0, out), 0, "sha256 of empty");
	hex(out, DIGEST_LEN, h);
	is_str(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	    "SHA-256('') test vector");
	digester_free(d);

	/* RFC 4231 test cases 1 and 6 */
	memset(pepper, 0x0b, 20);
	d = digester_new(pepper, 20);
	ok(d != NULL && digester_peppered(d), "peppered digester");
	digester_digest(d, "Hi There", 8, out);
	hex(out, DIGEST_LEN, h);
	is_str(h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
	    "RFC 4231 case 1");
	digester_sha256(d, "abc", 3, out);
	hex(out, DIGEST_LEN, h);
	is_str(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	    "digester_sha256 stays plain SHA-256 in a peppered digester");
	digester_digest(d, "Hi There", 8, out);
	hex(out, DIGEST_LEN, h);
	is_str(h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
	    "RFC 4231 case 1 again (precomputed states are not consumed)");
	digester_free(d);
	memset(pepper, 0xaa, 131);
	d = digester_new(pepper, 131);
	digester_digest(d, "Test Using Larger Than Block-Size Key - Hash Key First", 54, out);
	hex(out, DIGEST_LEN, h);
	is_str(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
	    "RFC 4231 case 6 (131-byte key)");
	digester_free(d);

	for (i = 0; i < sizeof pepper; i++)
		pepper[i] = (unsigned char)(i * 37 + 11);
	for (i = 0; i < sizeof msg; i++)
		msg[i] = (unsigned char)(i * 13 + 5);
	for (i = 0; i < sizeof plens / sizeof plens[0]; i++) {
		d = digester_new(pepper, plens[i]);
		bad = d == NULL;
		for (m = 0; d != NULL && m <= sizeof msg; m += 7) {
			unsigned int rl = 0;
			if (digester_digest(d, msg, m, out) != 0 ||
			    HMAC(EVP_sha256(), pepper, (int)plens[i], msg, m, ref, &rl) == NULL ||
			    rl != DIGEST_LEN || memcmp(out, ref, DIGEST_LEN) != 0)
				bad++;
		}
		is_int(bad, 0, "HMAC-SHA256 with a %zu-byte pepper equals OpenSSL HMAC() for 43 message lengths",
		    plens[i]);
		digester_free(d);
	}
	digester_free(NULL);
	ok(1, "digester_free(NULL) is harmless");
}

static void
test_hex(void)
{
	static const unsigned char b[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
	unsigned char out[8];
	char h[16];

	hex_encode(b, sizeof b, h);
	is_str(h, "00017f80abff", "hex_encode");
	hex_encode(b, 0, h);
	is_str(h, "", "hex_encode of nothing");
	memset(out, 0, sizeof out);
	is_int(hex_decode("00017f80abff", 12, out, 6), 0, "hex_decode");
	ok(memcmp(out, b, 6) == 0, "hex_decode round trip");
	is_int(hex_decode("00017F80ABFF", 12, out, 6), 0, "hex_decode accepts upper case");
	ok(memcmp(out, b, 6) == 0, "upper case decodes the same");
	is_int(hex_decode("00017f80abf", 11, out, 6), -1, "odd length refused");
	is_int(hex_decode("00017f80abff00", 14, out, 6), -1, "too long refused");
	is_int(hex_decode("00017f80abfg", 12, out, 6), -1, "non-hex refused");
	is_int(hex_decode("0x017f80abff", 12, out, 6), -1, "0x refused");
	is_int(hex_decode(" 0017f80abff", 12, out, 6), -1, "space refused");
}

int
main(void)
{
	test_crc_and_checksum();
	test_crc_slices();
	test_printable();
	test_known_keys();
	test_generate();
	test_flips();
	test_lengths();
	test_forms();
	test_prefix_valid();
	test_display();
	test_key_ids();
	test_redact();
	test_id_valid();
	test_randomness();
	test_digests();
	test_hex();
	return done_testing();
}
