/*
 * fuzz_apikey.c - apikey_classify and apikey_display on arbitrary bytes.
 *
 * Input: byte 0 picks the store prefix and the mode of a key built from
 * the input, byte 1 the display buffer size, the rest is the key.
 *
 * Invariants: the classification equals a reference written from keygate(1)'s KEYS section
 * (with its own bitwise CRC-32, not the table one); a key built with a
 * correct checksum is ours and any one-character change makes it
 * malformed; the display shows a prefix of the key, never more of it
 * than allowed, and always fits its buffer.
 */
#include "config.h"

#include <string.h>

#include "apikey.h"
#include "fuzz.h"

static const char *const prefixes[] = {
	"kg", "ab", "kg2", "x9", "abcdefghijkl", "live", "k", NULL,
};

static const char b62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static uint32_t
ref_crc32(const unsigned char *p, size_t n)
{
	uint32_t crc = 0xFFFFFFFFu;
	int k;

	while (n--) {
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

static void
ref_checksum(const char *s, size_t n, char out[6])
{
	uint32_t v = ref_crc32((const unsigned char *)s, n);
	int i;

	for (i = 5; i >= 0; i--) {
		out[i] = b62[v % 62];
		v /= 62;
	}
}

static int
ref_b62(char c)
{
	return c != '\0' && strchr(b62, c) != NULL;
}

static int
ref_printable(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

static enum apikey_form
ref_classify(const char *prefix, const char *k, size_t n, enum apikey_mode *mode)
{
	size_t pl = strlen(prefix), body, i;
	char sum[6];

	if (n == 0 || n > 256 || !ref_printable(k, n))
		return APIKEY_GARBAGE;
	if (!(n > pl && memcmp(k, prefix, pl) == 0 && k[pl] == '_'))
		return n >= 8 ? APIKEY_FOREIGN : APIKEY_GARBAGE;
	if (n >= pl + 6 && memcmp(k + pl + 1, "live_", 5) == 0)
		*mode = MODE_LIVE;
	else if (n >= pl + 6 && memcmp(k + pl + 1, "test_", 5) == 0)
		*mode = MODE_TEST;
	else
		return APIKEY_MALFORMED;
	body = n - pl - 6;
	if (body < 38 || body > 128)
		return APIKEY_MALFORMED;
	for (i = pl + 6; i < n; i++)
		if (!ref_b62(k[i]))
			return APIKEY_MALFORMED;
	ref_checksum(k, n - 6, sum);
	return memcmp(sum, k + n - 6, 6) == 0 ? APIKEY_OURS : APIKEY_MALFORMED;
}

static int
ref_prefix_valid(const char *p)
{
	size_t n = strlen(p), i;

	if (n < 2 || n > 12)
		return 0;
	for (i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9')))
			return 0;
	return 1;
}

static void
check_display(const char *prefix, const char *key, size_t len, size_t outsz)
{
	char *out = malloc(outsz);
	enum apikey_mode mode = MODE_LIVE;
	size_t olen, kept, allowed;

	if (out == NULL)
		abort();
	memset(out, 'Q', outsz);
	apikey_display(prefix, key, len, out, outsz);
	olen = strnlen(out, outsz);
	FUZZ_CHECK(olen < outsz, "display not NUL-terminated in %zu bytes", outsz);
	if (prefix != NULL && apikey_classify(prefix, key, len, &mode) == APIKEY_OURS)
		allowed = strlen(prefix) + 6 + 4;
	else if (ref_printable(key, len))
		allowed = len / 4 < 4 ? len / 4 : 4;
	else
		allowed = 0;
	/* U+2026 marks what was left out; a buffer too small for it stays empty */
	if (olen >= 3) {
		FUZZ_CHECK(memcmp(out + olen - 3, "\xe2\x80\xa6", 3) == 0,
		    "display does not end with an ellipsis");
		kept = olen - 3;
	} else {
		kept = olen;
	}
	FUZZ_CHECK(kept <= allowed, "display shows %zu bytes of the key, at most %zu allowed",
	    kept, allowed);
	FUZZ_CHECK(kept <= len && memcmp(out, key, kept) == 0,
	    "display is not a prefix of the key");
	free(out);
}

/* A key of ours made from the input's bytes, with a right checksum. */
static void
check_built_key(const char *prefix, enum apikey_mode m, const uint8_t *d,
    size_t n)
{
	char key[APIKEY_BUF];
	size_t pl = strlen(prefix), body, i, len;
	enum apikey_mode got = MODE_LIVE;
	enum apikey_form form;

	if (n == 0)
		return;
	body = 32 + d[0] % (APIKEY_BODY_MAX - APIKEY_CHECKSUM_LEN - 32 + 1);
	if (pl + 6 + body + APIKEY_CHECKSUM_LEN > APIKEY_MAX)
		body = APIKEY_MAX - pl - 6 - APIKEY_CHECKSUM_LEN;
	memcpy(key, prefix, pl);
	memcpy(key + pl, m == MODE_TEST ? "_test_" : "_live_", 6);
	for (i = 0; i < body; i++)
		key[pl + 6 + i] = b62[d[(i + 1) % n] % 62];
	len = pl + 6 + body;
	ref_checksum(key, len, key + len);
	len += APIKEY_CHECKSUM_LEN;
	key[len] = '\0';
	form = apikey_classify(prefix, key, len, &got);
	FUZZ_CHECK(form == APIKEY_OURS && got == m,
	    "a well-formed key was not recognised: %s (form %d)", key, form);
	check_display(prefix, key, len, DISPLAY_MAX);
	/* one character changed anywhere after the prefix: never ours */
	i = pl + 6 + d[n - 1] % (len - pl - 6);
	key[i] = key[i] == '0' ? '1' : '0';
	form = apikey_classify(prefix, key, len, &got);
	FUZZ_CHECK(form == APIKEY_MALFORMED,
	    "a key with a changed character is form %d: %s", form, key);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *prefix;
	enum apikey_mode mode = MODE_LIVE, rmode = MODE_LIVE;
	enum apikey_form form, want;
	char *key, gen[APIKEY_BUF], *pstr;
	unsigned char bin[64], back[64];
	char hex[2 * sizeof bin + 1];
	size_t len, outsz, n;
	int glen;

	if (size < 2)
		return 0;
	prefix = prefixes[data[0] % (sizeof prefixes / sizeof prefixes[0])];
	outsz = 1 + data[1] % 48;
	key = (char *)fuzz_dup(data + 2, size - 2);
	len = size - 2;

	if (prefix != NULL) {
		form = apikey_classify(prefix, key, len, &mode);
		want = ref_classify(prefix, key, len, &rmode);
		FUZZ_CHECK(form == want, "classify gave %d, the reference %d", form, want);
		if (form == APIKEY_OURS) {
			char sum[6];

			FUZZ_CHECK(mode == rmode, "mode %d, the reference %d", mode, rmode);
			ref_checksum(key, len - 6, sum);
			FUZZ_CHECK(memcmp(sum, key + len - 6, 6) == 0,
			    "classified ours with a wrong checksum");
		}
	}
	check_display(prefix, key, len, outsz);
	check_display(prefix, key, len, DISPLAY_MAX);

	if (prefix != NULL && apikey_prefix_valid(prefix)) {
		check_built_key(prefix, (data[0] & 0x80) ? MODE_TEST : MODE_LIVE,
		    data + 2, size - 2);
		glen = apikey_generate(prefix, (data[0] & 0x40) ? MODE_TEST : MODE_LIVE,
		    gen, sizeof gen);
		FUZZ_CHECK(glen > 0 && ref_classify(prefix, gen, (size_t)glen, &rmode) ==
		    APIKEY_OURS, "a generated key is not ours: %s", gen);
	}

	/* the prefix rules of keygate init --prefix */
	pstr = fuzz_strdup(data + 2, size - 2 < 20 ? size - 2 : 20);
	FUZZ_CHECK(apikey_prefix_valid(pstr) == ref_prefix_valid(pstr),
	    "apikey_prefix_valid(\"%s\") = %d", pstr, apikey_prefix_valid(pstr));
	free(pstr);

	/* hex round trip */
	n = len < sizeof bin ? len : sizeof bin;
	hex_encode((const unsigned char *)key, n, hex);
	FUZZ_CHECK(hex_decode(hex, 2 * n, back, n) == 0 && memcmp(back, key, n) == 0,
	    "hex round trip");
	n = len / 2;
	if (n < sizeof bin && hex_decode(key, 2 * n, bin, n) == 0) {
		char again[2 * sizeof bin + 1];
		size_t i;

		hex_encode(bin, n, again);
		for (i = 0; i < 2 * n; i++) {
			char c = key[i];
			if (c >= 'A' && c <= 'F')
				c = (char)(c - 'A' + 'a');
			FUZZ_CHECK(again[i] == c, "hex_decode accepted a non-hex byte");
		}
	}
	free(key);
	return 0;
}
