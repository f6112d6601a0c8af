/*
 * test_vault.c - the vault: sealing and opening, every byte tampered,
 * another key id, another vault, cut and extended input, versions, nonce
 * uniqueness, the sealed format checked with OpenSSL directly, and the
 * rules for vault files (shared with the pepper file: secretfile.c).
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ctx.h"
#include "secretfile.h"
#include "vault.h"
#include "tap.h"

static const char ID[] = "key_0123456789abcdef";
static const char SECRET[] = "kg_live_AbCdEfGhIjKlMnOpQrStUvWxYz012345abcdef";
static unsigned char K1[VAULT_KEY_LEN], K2[VAULT_KEY_LEN];

static int
all_zero(const char *p, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++)
		if (p[k] != 0)
			return 0;
	return 1;
}

static void
test_round_trip(struct vault *v)
{
	unsigned char sealed[VAULT_SEALED_MAX], secret[VAULT_SECRET_MAX];
	char out[VAULT_SECRET_MAX + 1];
	size_t len, k, bad = 0;
	int n, m;

	n = vault_seal(v, ID, SECRET, strlen(SECRET), sealed, sizeof sealed);
	is_int(n, strlen(SECRET) + VAULT_OVERHEAD, "seal: the secret plus %d bytes", VAULT_OVERHEAD);
	is_int(sealed[0], VAULT_VERSION, "seal: the version byte first");
	ok(memmem(sealed, (size_t)n, "AbCdEfGh", 8) == NULL, "seal: the secret does not show");
	m = vault_open(v, ID, sealed, (size_t)n, out, sizeof out);
	is_int(m, strlen(SECRET), "open: the secret's length");
	is_str(out, SECRET, "open: the secret, NUL-terminated");

	for (k = 0; k < sizeof secret; k++)
		secret[k] = (unsigned char)(k * 7 + 1);
	for (len = 1; len <= VAULT_SECRET_MAX; len++) {
		n = vault_seal(v, ID, secret, len, sealed, len + VAULT_OVERHEAD);
		m = vault_open(v, ID, sealed, (size_t)n, out, len + 1);
		if (n != (int)(len + VAULT_OVERHEAD) || m != (int)len ||
		    memcmp(out, secret, len) != 0 || out[len] != '\0')
			bad++;
	}
	is_int(bad, 0, "round trips of every length from 1 to %d (binary secrets)", VAULT_SECRET_MAX);

	is_int(vault_seal(v, ID, secret, 0, sealed, sizeof sealed), VAULT_E_ARGS, "seal: nothing to seal");
	is_int(vault_seal(v, ID, secret, VAULT_SECRET_MAX + 1, sealed, sizeof sealed + 1),
	    VAULT_E_ARGS, "seal: a secret longer than %d", VAULT_SECRET_MAX);
	is_int(vault_seal(v, ID, secret, 10, sealed, 10 + VAULT_OVERHEAD - 1), VAULT_E_ARGS,
	    "seal: no room for the result");
	is_int(vault_seal(v, "", secret, 10, sealed, sizeof sealed), VAULT_E_ARGS, "seal: an empty key id");
	is_int(vault_seal(v, NULL, secret, 10, sealed, sizeof sealed), VAULT_E_ARGS, "seal: no key id");
	{
		char long_id[VAULT_ID_MAX + 2];

		memset(long_id, 'k', sizeof long_id - 1);
		long_id[sizeof long_id - 1] = '\0';
		is_int(vault_seal(v, long_id, secret, 10, sealed, sizeof sealed), VAULT_E_ARGS,
		    "seal: a key id longer than %d", VAULT_ID_MAX);
		long_id[VAULT_ID_MAX] = '\0';
		n = vault_seal(v, long_id, secret, 10, sealed, sizeof sealed);
		ok(n > 0 && vault_open(v, long_id, sealed, (size_t)n, out, sizeof out) == 10,
		    "a key id of %d bytes", VAULT_ID_MAX);
	}
	n = vault_seal(v, ID, SECRET, strlen(SECRET), sealed, sizeof sealed);
	memset(out, 'Z', sizeof out);
	is_int(vault_open(v, ID, sealed, (size_t)n, out, strlen(SECRET)), VAULT_E_ARGS,
	    "open: no room for the NUL");
	ok(all_zero(out, strlen(SECRET)), "  and out is wiped");
	is_int(vault_open(v, "", sealed, (size_t)n, out, sizeof out), VAULT_E_ARGS, "open: an empty key id");
}

/* Every byte changed, one bit at a time at both ends of the byte. */
static void
test_tamper(struct vault *v)
{
	unsigned char sealed[VAULT_SEALED_MAX], t[VAULT_SEALED_MAX + 1];
	char out[VAULT_SECRET_MAX + 1];
	size_t k, len, opened = 0, leaked = 0, wrong_code = 0;
	int n, rc, bit;

	n = vault_seal(v, ID, SECRET, strlen(SECRET), sealed, sizeof sealed);
	len = (size_t)n;
	for (k = 0; k < len; k++)
		for (bit = 0; bit < 8; bit += 7) {
			memcpy(t, sealed, len);
			t[k] ^= (unsigned char)(1u << bit);
			memset(out, 'Z', sizeof out);
			rc = vault_open(v, ID, t, len, out, sizeof out);
			if (rc >= 0)
				opened++;
			if (!all_zero(out, sizeof out))
				leaked++;
			if (rc != (k == 0 ? VAULT_E_FORMAT : VAULT_E_AUTH))
				wrong_code++;
		}
	is_int(opened, 0, "no byte of %zu can change and still open", len);
	is_int(wrong_code, 0, "the version byte is a format error, any other an authentication failure");
	is_int(leaked, 0, "out is wiped after every failure");

	/* cut and extended */
	for (k = 0, opened = 0, wrong_code = 0; k < len; k++) {
		rc = vault_open(v, ID, sealed, k, out, sizeof out);
		opened += rc >= 0;
		wrong_code += rc != (k <= VAULT_OVERHEAD ? VAULT_E_FORMAT : VAULT_E_AUTH);
	}
	is_int(opened, 0, "cut to any shorter length, it does not open");
	is_int(wrong_code, 0, "  too short for the format, or the tag fails");
	memcpy(t, sealed, len);
	for (bit = 0; bit < 256; bit += 85) {
		t[len] = (unsigned char)bit;
		is_int(vault_open(v, ID, t, len + 1, out, sizeof out), VAULT_E_AUTH,
		    "extended by a byte 0x%02x, it does not open", bit);
	}
	memset(t, 0, sizeof t);
	t[0] = VAULT_VERSION;
	is_int(vault_open(v, ID, t, VAULT_SEALED_MAX + 1, out, sizeof out), VAULT_E_FORMAT,
	    "longer than any sealed secret");
	for (bit = 0; bit < 256; bit++) {
		if (bit == VAULT_VERSION)
			continue;
		memcpy(t, sealed, len);
		t[0] = (unsigned char)bit;
		if (vault_open(v, ID, t, len, out, sizeof out) != VAULT_E_FORMAT)
			break;
	}
	is_int(bit, 256, "every other version byte is refused as unknown");
	is_int(vault_open(v, ID, sealed, len, out, sizeof out), (int)strlen(SECRET),
	    "the untouched one still opens");
}

static void
test_wrong_id_and_vault(struct vault *v, struct vault *other)
{
	unsigned char sealed[VAULT_SEALED_MAX];
	char out[VAULT_SECRET_MAX + 1];
	int n = vault_seal(v, ID, SECRET, strlen(SECRET), sealed, sizeof sealed);

	is_int(vault_open(v, "key_0123456789abcdeg", sealed, (size_t)n, out, sizeof out),
	    VAULT_E_AUTH, "another key id does not open it (copied to another key's record)");
	is_int(vault_open(v, "key_0123456789abcde", sealed, (size_t)n, out, sizeof out),
	    VAULT_E_AUTH, "nor does a prefix of the id");
	is_int(vault_open(v, "key_0123456789abcdef ", sealed, (size_t)n, out, sizeof out),
	    VAULT_E_AUTH, "nor an extension of it");
	is_int(vault_open(other, ID, sealed, (size_t)n, out, sizeof out), VAULT_E_AUTH,
	    "another vault file does not open it");
}

static int
cmp16(const void *a, const void *b)
{
	return memcmp(a, b, VAULT_NONCE_LEN);
}

static void
test_nonces(struct vault *v)
{
	enum { N = 20000 };
	unsigned char (*nonce)[VAULT_NONCE_LEN] = malloc(N * VAULT_NONCE_LEN);
	unsigned char a[VAULT_SEALED_MAX], b[VAULT_SEALED_MAX];
	size_t k, repeats = 0, failed = 0;
	int n;

	if (nonce == NULL)
		abort();
	for (k = 0; k < N; k++) {
		if (vault_seal(v, ID, SECRET, strlen(SECRET), a, sizeof a) <= 0)
			failed++;
		memcpy(nonce[k], a + 1, VAULT_NONCE_LEN);
	}
	qsort(nonce, N, VAULT_NONCE_LEN, cmp16);
	for (k = 1; k < N; k++)
		repeats += memcmp(nonce[k - 1], nonce[k], VAULT_NONCE_LEN) == 0;
	is_int(failed, 0, "%d seals of one secret", N);
	is_int(repeats, 0, "  with %d different nonces", N);
	n = vault_seal(v, ID, SECRET, strlen(SECRET), a, sizeof a);
	vault_seal(v, ID, SECRET, strlen(SECRET), b, sizeof b);
	ok(memcmp(a + 1 + VAULT_NONCE_LEN, b + 1 + VAULT_NONCE_LEN, (size_t)n - 1 - VAULT_NONCE_LEN) != 0,
	    "the same secret sealed twice looks different");
	free(nonce);
}

/*
 * The format as vault.h describes it, with OpenSSL called here directly:
 * what vault_seal writes opens this way, and what is sealed this way
 * vault_open reads.  A change of format shows here first.
 */
static int
by_hand(int encrypt, const unsigned char key[VAULT_KEY_LEN], const char *id,
    unsigned char *sealed, size_t n, unsigned char *plain)
{
	unsigned char aes[32];
	unsigned int alen = 0;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int len = 0, ok;

	HMAC(EVP_sha256(), key, VAULT_KEY_LEN, (const unsigned char *)"keygate vault aes-256-gcm v1",
	    28, aes, &alen);
	ok = ctx != NULL &&
	    EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, aes, sealed + 1, encrypt) == 1 &&
	    EVP_CipherUpdate(ctx, NULL, &len, sealed, 1) == 1 &&
	    EVP_CipherUpdate(ctx, NULL, &len, (const unsigned char *)id, (int)strlen(id)) == 1;
	if (ok && encrypt)
		ok = EVP_CipherUpdate(ctx, sealed + 13, &len, plain, (int)n) == 1 &&
		    EVP_CipherFinal_ex(ctx, sealed + 13 + n, &len) == 1 &&
		    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, sealed + 13 + n) == 1;
	else if (ok)
		ok = EVP_CipherUpdate(ctx, plain, &len, sealed + 13, (int)n) == 1 &&
		    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, sealed + 13 + n) == 1 &&
		    EVP_CipherFinal_ex(ctx, plain + n, &len) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

static void
test_format(struct vault *v)
{
	unsigned char sealed[VAULT_SEALED_MAX], plain[VAULT_SECRET_MAX + 1];
	char out[VAULT_SECRET_MAX + 1];
	size_t n = strlen(SECRET);
	int len = vault_seal(v, ID, SECRET, n, sealed, sizeof sealed);

	memset(plain, 0, sizeof plain);
	ok(len > 0 && by_hand(0, K1, ID, sealed, n, plain) == 0 && memcmp(plain, SECRET, n) == 0,
	    "version 1 is AES-256-GCM under HMAC-SHA256(file, label), AAD version and key id");
	memset(sealed, 0, sizeof sealed);
	sealed[0] = 1;
	memcpy(sealed + 1, "twelve bytes", 12);
	memcpy(plain, SECRET, n);
	ok(by_hand(1, K1, ID, sealed, n, plain) == 0 &&
	    vault_open(v, ID, sealed, n + VAULT_OVERHEAD, out, sizeof out) == (int)n &&
	    strcmp(out, SECRET) == 0, "a secret sealed by hand opens");
}

static void
test_check(struct vault *v, struct vault *other)
{
	unsigned char c1[VAULT_CHECK_LEN], c2[VAULT_CHECK_LEN], c3[VAULT_CHECK_LEN];
	struct vault *again = vault_new(K1);

	vault_check(v, c1);
	vault_check(other, c2);
	vault_check(again, c3);
	ok(memcmp(c1, c3, sizeof c1) == 0, "the check value depends only on the vault file");
	ok(memcmp(c1, c2, sizeof c1) != 0, "another vault file has another check value");
	ok(vault_matches(v, c1) && !vault_matches(other, c1) && vault_matches(again, c1),
	    "vault_matches recognises the right file");
	c1[31] ^= 1;
	ok(!vault_matches(v, c1), "  and only that one");
	vault_free(again);
	vault_free(NULL);
}

static char tmpdir[] = "/tmp/test_vault.XXXXXX";

static const char *
file(const char *name, const void *data, size_t n, mode_t mode)
{
	static char path[256];
	int fd;

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	unlink(path);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0 ||
	    write(fd, data, n) != (ssize_t)n || fchmod(fd, mode) != 0 || close(fd) != 0)
		abort();
	return path;
}

/* vault_load refuses path, with a message holding want. */
static void
load_refused(const char *path, const char *want, const char *what)
{
	char err[600] = "";
	struct vault *v = vault_load(path, err, sizeof err);

	ok(v == NULL && strstr(err, want) != NULL && strchr(err, '\n') == NULL,
	    "vault file %s: refused (%s)", what, err);
	vault_free(v);
}

static void
test_files(void)
{
	unsigned char buf[80], sealed[VAULT_SEALED_MAX], pepper[PEPPER_MAX];
	char err[600], out[VAULT_SECRET_MAX + 1], path[256];
	struct vault *v, *mem;
	size_t len;
	int n;

	if (mkdtemp(tmpdir) == NULL)
		abort();
	v = vault_load(file("vault", K1, sizeof K1, 0640), err, sizeof err);
	mem = vault_new(K1);
	n = vault_seal(mem, ID, SECRET, strlen(SECRET), sealed, sizeof sealed);
	ok(v != NULL && vault_open(v, ID, sealed, (size_t)n, out, sizeof out) > 0,
	    "a vault file of 32 bytes, mode 0640: the same vault as its bytes");
	vault_free(v);
	vault_free(mem);
	v = vault_load(file("vault", K1, sizeof K1, 0600), err, sizeof err);
	ok(v != NULL, "mode 0600");
	vault_free(v);
	v = vault_load(file("vault", K1, sizeof K1, 0400), err, sizeof err);
	ok(v != NULL, "mode 0400");
	vault_free(v);
	memcpy(buf, K1, 31);
	buf[31] = '\n';
	v = vault_load(file("vault", buf, 32, 0640), err, sizeof err);
	ok(v != NULL, "a last byte 0x0a is key material like any other");
	vault_free(v);

	load_refused(file("vault", K1, sizeof K1, 0660), "writable by group", "mode 0660");
	load_refused(file("vault", K1, sizeof K1, 0642), "writable by group or others", "mode 0642");
	load_refused(file("vault", K1, sizeof K1, 0644), "readable by others", "mode 0644");
	load_refused(file("vault", K1, 31, 0640), "holds 31 bytes, not 32", "31 bytes");
	memcpy(buf, K1, 32);
	buf[32] = '\n';
	load_refused(file("vault", buf, 33, 0640), "larger than 32 bytes", "32 bytes and a newline");
	memset(buf, 'a', 64);
	load_refused(file("vault", buf, 64, 0640), "larger than 32 bytes", "64 bytes (hex)");
	load_refused(file("vault", "", 0, 0640), "holds 0 bytes", "empty");
	snprintf(path, sizeof path, "%s/missing", tmpdir);
	load_refused(path, "cannot open the vault file", "missing");
	snprintf(path, sizeof path, "%s/link", tmpdir);
	file("vault", K1, sizeof K1, 0640);
	if (symlink("vault", path) != 0)
		abort();
	load_refused(path, "symbolic link", "a symbolic link to a good one");
	load_refused(tmpdir, "not a regular file", "a directory");
	unlink(path);

	/* the pepper file reads through the same code */
	memset(buf, 'p', 17);
	buf[16] = '\n';
	ok(kg_read_pepper(file("pepper", buf, 17, 0640), pepper, sizeof pepper, &len, err,
	    sizeof err) == 0 && len == 16, "a pepper: one trailing newline is not part of it");
	ok(kg_read_pepper(file("pepper", buf, 17, 0660), pepper, sizeof pepper, &len, err,
	    sizeof err) == -1 && strstr(err, "the pepper file") && strstr(err, "writable by group"),
	    "a pepper file under the same rules: %s", err);
	{
		unsigned char *big = malloc(PEPPER_MAX + 1);

		memset(big, 'p', PEPPER_MAX + 1);
		ok(kg_read_pepper(file("pepper", big, PEPPER_MAX, 0640), pepper, sizeof pepper, &len,
		    err, sizeof err) == 0 && len == PEPPER_MAX, "a pepper of exactly %d bytes", PEPPER_MAX);
		ok(kg_read_pepper(file("pepper", big, PEPPER_MAX + 1, 0640), pepper, sizeof pepper,
		    &len, err, sizeof err) == -1 && strstr(err, "larger than 4096 bytes"),
		    "one byte more is refused: %s", err);
		free(big);
	}
	memset(buf, 'S', sizeof buf);
	ok(secretfile_read(file("pepper", buf, 8, 0644), "test file", buf, sizeof buf, &len, err,
	    sizeof err) == -1 && all_zero((char *)buf, sizeof buf) && strstr(err, "the test file "),
	    "a refused file leaves nothing in the buffer");
	snprintf(path, sizeof path, "%s/vault", tmpdir);
	unlink(path);
	snprintf(path, sizeof path, "%s/pepper", tmpdir);
	unlink(path);
	rmdir(tmpdir);
}

int
main(void)
{
	struct vault *v, *other;
	size_t k;

	for (k = 0; k < VAULT_KEY_LEN; k++) {
		K1[k] = (unsigned char)(k * 13 + 5);
		K2[k] = (unsigned char)(k * 13 + 6);
	}
	v = vault_new(K1);
	other = vault_new(K2);
	if (v == NULL || other == NULL) {
		fprintf(stderr, "vault_new failed\n");
		return 99;
	}
	test_round_trip(v);
	test_tamper(v);
	test_wrong_id_and_vault(v, other);
	test_nonces(v);
	test_format(v);
	test_check(v, other);
	test_files();
	vault_free(v);
	vault_free(other);
	return done_testing();
}
