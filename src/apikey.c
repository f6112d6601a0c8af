/*
 * apikey.c - key generation, format checks, digests.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "apikey.h"
#include "parse.h"

static const char base62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/*
 * Byte classes, so that checking a presented key costs one table load per
 * byte and no branch: a flood of bad keys is checked here, before any
 * hashing or store access, and should cost little more than reading it.
 */
#define CLASS_PRINT  1 /* 0x21-0x7e: may appear in a key */
#define CLASS_BASE62 2

static unsigned char byte_class[256];

/*
 * CRC-32/IEEE (reflected 0xEDB88320), the one zlib and Ethernet use,
 * eight bytes a step ("slicing-by-8"): crc_table[0] is the classic byte
 * table, crc_table[k][b] the CRC of byte b followed by k zero bytes.
 */
static uint32_t crc_table[8][256];
static int tables_ready;

static void
tables_init(void)
{
	uint32_t i, j, c;

	for (i = 0; i < 256; i++) {
		c = i;
		for (j = 0; j < 8; j++)
			c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[0][i] = c;
	}
	for (i = 0; i < 256; i++)
		for (j = 1; j < 8; j++)
			crc_table[j][i] = (crc_table[j - 1][i] >> 8) ^
			    crc_table[0][crc_table[j - 1][i] & 0xFF];
	for (i = 0x21; i <= 0x7e; i++)
		byte_class[i] = CLASS_PRINT;
	for (i = 0; base62[i] != '\0'; i++)
		byte_class[(unsigned char)base62[i]] |= CLASS_BASE62;
	tables_ready = 1;
}

/* 1 when every one of the len bytes has every bit of class */
static int
all_of_class(const char *s, size_t len, unsigned char class)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char acc = class;
	size_t i = 0;

	if (!tables_ready)
		tables_init();
	/* eight at a time: keys are 40-odd bytes, the loop's own upkeep showed */
	for (; i + 8 <= len; i += 8)
		acc &= byte_class[p[i]] & byte_class[p[i + 1]] & byte_class[p[i + 2]] &
		    byte_class[p[i + 3]] & byte_class[p[i + 4]] & byte_class[p[i + 5]] &
		    byte_class[p[i + 6]] & byte_class[p[i + 7]];
	for (; i < len; i++)
		acc &= byte_class[p[i]];
	return acc == class;
}

int
apikey_prefix_valid(const char *p)
{
	size_t n;

	if (p == NULL)
		return 0;
	for (n = 0; p[n] != '\0'; n++) {
		if (!((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= '0' && p[n] <= '9')))
			return 0;
		if (n >= APIKEY_PREFIX_MAX)
			return 0;
	}
	return n >= APIKEY_PREFIX_MIN;
}

uint32_t
apikey_crc32(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t c = 0xFFFFFFFFu, lo, hi;

	if (!tables_ready)
		tables_init();
	for (; len >= 8; len -= 8, p += 8) {
		/* byte by byte, so the result does not depend on the CPU's byte order */
		lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		    (uint32_t)p[3] << 24);
		hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
		    (uint32_t)p[7] << 24;
		c = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^
		    crc_table[5][(lo >> 16) & 0xFF] ^ crc_table[4][lo >> 24] ^
		    crc_table[3][hi & 0xFF] ^ crc_table[2][(hi >> 8) & 0xFF] ^
		    crc_table[1][(hi >> 16) & 0xFF] ^ crc_table[0][hi >> 24];
	}
	while (len--)
		c = crc_table[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
	return c ^ 0xFFFFFFFFu;
}

void
apikey_checksum(const char *s, size_t len, char out[APIKEY_CHECKSUM_LEN])
{
	uint32_t v = apikey_crc32(s, len);
	int i;

	for (i = APIKEY_CHECKSUM_LEN - 1; i >= 0; i--) {
		out[i] = base62[v % 62];
		v /= 62;
	}
}

/*
 * Rejection sampling keeps the characters uniform: 248 = 4 * 62, so a byte
 * below 248 maps onto base62 without bias; the rest are drawn again.
 */
int
apikey_random_base62(char *buf, size_t n)
{
	unsigned char rnd[64];
	size_t have = 0, used = sizeof rnd;

	while (have < n) {
		if (used == sizeof rnd) {
			if (RAND_bytes(rnd, sizeof rnd) != 1)
				goto fail;
			used = 0;
		}
		if (rnd[used] < 248)
			buf[have++] = base62[rnd[used] % 62];
		used++;
	}
	OPENSSL_cleanse(rnd, sizeof rnd);
	return 0;
fail:
	OPENSSL_cleanse(rnd, sizeof rnd);
	return -1;
}

int
apikey_generate(const char *prefix, enum apikey_mode mode, char *out,
    size_t outsz)
{
	const char *m = mode == MODE_TEST ? "test" : "live";
	size_t plen = strlen(prefix), n;

	if (!apikey_prefix_valid(prefix) ||
	    outsz < plen + 6 + APIKEY_RANDOM_LEN + APIKEY_CHECKSUM_LEN + 1)
		return -1;
	memcpy(out, prefix, plen);
	out[plen] = '_';
	memcpy(out + plen + 1, m, 4);
	out[plen + 5] = '_';
	n = plen + 6;
	if (apikey_random_base62(out + n, APIKEY_RANDOM_LEN) != 0) {
		OPENSSL_cleanse(out, outsz);
		return -1;
	}
	n += APIKEY_RANDOM_LEN;
	apikey_checksum(out, n, out + n);
	n += APIKEY_CHECKSUM_LEN;
	out[n] = '\0';
	return (int)n;
}

int
apikey_printable(const char *s, size_t len)
{
	return all_of_class(s, len, CLASS_PRINT);
}

/*
 * Anything that begins with "<prefix>_" is claimed as ours and must be a
 * whole, correct key: a typo or a truncation is refused here, before any
 * hashing or store access.  Imports refuse such keys for the same reason.
 */
enum apikey_form
apikey_classify(const char *prefix, const char *key, size_t len,
    enum apikey_mode *mode)
{
	size_t plen = strlen(prefix), body;
	char sum[APIKEY_CHECKSUM_LEN];

	if (len == 0 || len > APIKEY_MAX || !apikey_printable(key, len))
		return APIKEY_GARBAGE;
	if (len <= plen || memcmp(key, prefix, plen) != 0 || key[plen] != '_')
		return len >= APIKEY_IMPORT_MIN ? APIKEY_FOREIGN : APIKEY_GARBAGE;
	if (len < plen + 6)
		return APIKEY_MALFORMED;
	if (memcmp(key + plen + 1, "live_", 5) == 0)
		*mode = MODE_LIVE;
	else if (memcmp(key + plen + 1, "test_", 5) == 0)
		*mode = MODE_TEST;
	else
		return APIKEY_MALFORMED;
	body = len - (plen + 6);
	if (body < APIKEY_RANDOM_LEN + APIKEY_CHECKSUM_LEN || body > APIKEY_BODY_MAX)
		return APIKEY_MALFORMED;
	if (!all_of_class(key + plen + 6, body, CLASS_BASE62))
		return APIKEY_MALFORMED;
	apikey_checksum(key, len - APIKEY_CHECKSUM_LEN, sum);
	if (memcmp(sum, key + len - APIKEY_CHECKSUM_LEN, APIKEY_CHECKSUM_LEN) != 0)
		return APIKEY_MALFORMED;
	return APIKEY_OURS;
}

int
apikey_new_id(char out[KEYID_LEN + 1])
{
	memcpy(out, "key_", 4);
	if (apikey_random_base62(out + 4, KEYID_LEN - 4) != 0)
		return -1;
	out[KEYID_LEN] = '\0';
	return 0;
}

int
apikey_id_valid(const char *s)
{
	return s != NULL && strlen(s) == KEYID_LEN && memcmp(s, "key_", 4) == 0 &&
	    all_of_class(s + 4, KEYID_LEN - 4, CLASS_BASE62);
}

#define ELLIPSIS "\xe2\x80\xa6" /* U+2026 HORIZONTAL ELLIPSIS */

/* Without the byte tables: the log calls this from any thread, at any time. */
static int
is_lower_or_digit(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int
is_base62(char c)
{
	return is_lower_or_digit(c) || (c >= 'A' && c <= 'Z');
}

/*
 * Whether body[0..n) may be a key's random part: more than a display
 * prefix shows, and not a lower-case word.  38 random base62 characters
 * are all lower-case letters once in 10^14 draws, while org ids such as
 * "shop_live_payments" appear in every log line and must stay readable.
 */
static int
random_part(const char *body, size_t n)
{
	size_t i;

	if (n <= DISPLAY_RANDOM)
		return 0;
	for (i = 0; i < n; i++)
		if (!(body[i] >= 'a' && body[i] <= 'z'))
			return 1;
	return 0;
}

/* Where a key's random part starts if text has a key's shape at i, else 0. */
static size_t
key_shape_at(const char *text, size_t i)
{
	if (i == 0 || text[i] != '_')
		return 0;
	if (!is_lower_or_digit(text[i - 1]))
		return 0;
	if (strncmp(text + i, "_live_", 6) != 0 && strncmp(text + i, "_test_", 6) != 0)
		return 0;
	return i + 6;
}

const char *
apikey_redact(const char *text, char *out, size_t n)
{
	size_t len = strlen(text), i = 0, o = 0, safe = 0, body, end, take, step;

	if (n < sizeof ELLIPSIS) {
		if (n > 0)
			out[0] = '\0';
		return out;
	}
	while (i < len) {
		take = 1;
		end = i + 1;
		if ((body = key_shape_at(text, i)) != 0) {
			for (end = body; end < len && is_base62(text[end]); end++)
				;
			take = random_part(text + body, end - body) ? body + DISPLAY_RANDOM - i : end - i;
		}
		step = take + (i + take < end ? sizeof ELLIPSIS - 1 : 0);
		if (o + step >= n) { /* no room for it and the NUL: cut where it was safe */
			memcpy(out + safe, ELLIPSIS, sizeof ELLIPSIS);
			return out;
		}
		memcpy(out + o, text + i, take);
		if (i + take < end) /* a key's random part, cut */
			memcpy(out + o + take, ELLIPSIS, sizeof ELLIPSIS - 1);
		o += step;
		i = end;
		/* an ellipsis could go here: room left, and not inside a UTF-8 sequence */
		if (o + sizeof ELLIPSIS <= n && ((unsigned char)text[i] & 0xc0) != 0x80)
			safe = o;
	}
	out[o] = '\0';
	return out;
}

void
apikey_display(const char *prefix, const char *key, size_t len, char *out,
    size_t outsz)
{
	size_t plen = prefix ? strlen(prefix) : 0, keep, i;
	enum apikey_mode mode;
	enum apikey_form form = APIKEY_GARBAGE;

	if (outsz < 4) { /* not even the ellipsis fits */
		if (outsz > 0)
			out[0] = '\0';
		return;
	}
	/* Our keys: the public part plus 4 of 190 random bits' characters. */
	if (prefix)
		form = apikey_classify(prefix, key, len, &mode);
	if (form == APIKEY_OURS)
		keep = plen + 6 + DISPLAY_RANDOM;
	/* a malformed or foreign key has passed the printable test already */
	else if (form == APIKEY_GARBAGE && !apikey_printable(key, len))
		keep = 0;
	else /* foreign keys: never more than a quarter, at most 4 bytes */
		keep = len / 4 < 4 ? len / 4 : 4;
	if (keep + 4 > outsz)
		keep = outsz > 4 ? outsz - 4 : 0;
	for (i = 0; i < keep; i++)
		out[i] = key[i];
	memcpy(out + i, ELLIPSIS, sizeof ELLIPSIS);
}

struct digester {
	EVP_MD *md;
	EVP_MD_CTX *work;
	EVP_MD_CTX *inner; /* SHA-256 state after (pepper ^ ipad) */
	EVP_MD_CTX *outer; /* SHA-256 state after (pepper ^ opad) */
	int peppered;
};

static int
absorb_padded_key(EVP_MD_CTX *ctx, const EVP_MD *md, const unsigned char *k,
    size_t klen, unsigned char pad)
{
	unsigned char block[64];
	size_t i;
	int ok;

	memset(block, 0, sizeof block);
	memcpy(block, k, klen);
	for (i = 0; i < sizeof block; i++)
		block[i] ^= pad;
	ok = EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
	    EVP_DigestUpdate(ctx, block, sizeof block) == 1;
	OPENSSL_cleanse(block, sizeof block);
	return ok ? 0 : -1;
}

struct digester *
digester_new(const unsigned char *pepper, size_t pepperlen)
{
	struct digester *d;
	unsigned char k[32];
	const unsigned char *key = pepper;
	size_t klen = pepperlen;

	if ((d = calloc(1, sizeof *d)) == NULL)
		return NULL;
	if ((d->md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
	    (d->work = EVP_MD_CTX_new()) == NULL)
		goto fail;
	if (pepper == NULL)
		return d;
	/* RFC 2104: keys longer than the block are hashed first. */
	if (pepperlen > 64) {
		if (EVP_Digest(pepper, pepperlen, k, NULL, d->md, NULL) != 1)
			goto fail;
		key = k;
		klen = sizeof k;
	}
	if ((d->inner = EVP_MD_CTX_new()) == NULL ||
	    (d->outer = EVP_MD_CTX_new()) == NULL ||
	    absorb_padded_key(d->inner, d->md, key, klen, 0x36) != 0 ||
	    absorb_padded_key(d->outer, d->md, key, klen, 0x5c) != 0)
		goto fail;
	d->peppered = 1;
	OPENSSL_cleanse(k, sizeof k);
	return d;
fail:
	OPENSSL_cleanse(k, sizeof k);
	digester_free(d);
	return NULL;
}

struct digester *
digester_clone(const struct digester *from)
{
	struct digester *d;

	if ((d = calloc(1, sizeof *d)) == NULL)
		return NULL;
	if ((d->md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
	    (d->work = EVP_MD_CTX_new()) == NULL)
		goto fail;
	if (!from->peppered)
		return d;
	if ((d->inner = EVP_MD_CTX_new()) == NULL ||
	    (d->outer = EVP_MD_CTX_new()) == NULL ||
	    EVP_MD_CTX_copy_ex(d->inner, from->inner) != 1 ||
	    EVP_MD_CTX_copy_ex(d->outer, from->outer) != 1)
		goto fail;
	d->peppered = 1;
	return d;
fail:
	digester_free(d);
	return NULL;
}

void
digester_free(struct digester *d)
{
	if (d == NULL)
		return;
	EVP_MD_CTX_free(d->work);
	EVP_MD_CTX_free(d->inner);
	EVP_MD_CTX_free(d->outer);
	EVP_MD_free(d->md);
	free(d);
}

int
digester_peppered(const struct digester *d)
{
	return d->peppered;
}

int
digester_sha256(struct digester *d, const void *key, size_t len,
    unsigned char out[DIGEST_LEN])
{
	unsigned int n = 0;

	if (EVP_DigestInit_ex(d->work, d->md, NULL) != 1 ||
	    EVP_DigestUpdate(d->work, key, len) != 1 ||
	    EVP_DigestFinal_ex(d->work, out, &n) != 1 || n != DIGEST_LEN)
		return -1;
	return 0;
}

int
digester_digest(struct digester *d, const void *key, size_t len,
    unsigned char out[DIGEST_LEN])
{
	unsigned char inner[DIGEST_LEN];
	unsigned int n = 0;
	int ok;

	if (!d->peppered)
		return digester_sha256(d, key, len, out);
	ok = EVP_MD_CTX_copy_ex(d->work, d->inner) == 1 &&
	    EVP_DigestUpdate(d->work, key, len) == 1 &&
	    EVP_DigestFinal_ex(d->work, inner, &n) == 1 && n == DIGEST_LEN &&
	    EVP_MD_CTX_copy_ex(d->work, d->outer) == 1 &&
	    EVP_DigestUpdate(d->work, inner, sizeof inner) == 1 &&
	    EVP_DigestFinal_ex(d->work, out, &n) == 1 && n == DIGEST_LEN;
	OPENSSL_cleanse(inner, sizeof inner);
	return ok ? 0 : -1;
}

void
hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}


int
hex_decode(const char *in, size_t inlen, unsigned char *out, size_t outlen)
{
	size_t i;

	if (inlen != 2 * outlen)
		return -1;
	for (i = 0; i < outlen; i++) {
		int hi = parse_hexdigit(in[2 * i]), lo = parse_hexdigit(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}
