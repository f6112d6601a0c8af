/*
 * vault.c - sealing and opening keys' secrets with AES-256-GCM (OpenSSL
 * EVP), under a key derived from the vault file.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "secretfile.h"
#include "vault.h"

/* One label per use of the vault file's bytes (see vault.h). */
#define LABEL_AES   "keygate vault aes-256-gcm v1"
#define LABEL_CHECK "keygate vault check v1"
#define AES_KEY_LEN 32

/* Where the parts of a sealed secret start. */
#define AT_NONCE 1
#define AT_CIPHERTEXT (AT_NONCE + VAULT_NONCE_LEN)

struct vault {
	unsigned char aes[AES_KEY_LEN];
	unsigned char check[VAULT_CHECK_LEN];
	EVP_CIPHER *cipher;
};

/* HMAC-SHA256(key, label) into out. */
static int
derive(const unsigned char key[VAULT_KEY_LEN], const char *label,
    unsigned char out[32])
{
	unsigned int n = 0;

	return HMAC(EVP_sha256(), key, VAULT_KEY_LEN, (const unsigned char *)label,
	    strlen(label), out, &n) != NULL && n == 32 ? 0 : -1;
}

struct vault *
vault_new(const unsigned char key[VAULT_KEY_LEN])
{
	struct vault *v = calloc(1, sizeof *v);

	if (v == NULL)
		return NULL;
	if (derive(key, LABEL_AES, v->aes) != 0 ||
	    derive(key, LABEL_CHECK, v->check) != 0 ||
	    (v->cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL)) == NULL ||
	    EVP_CIPHER_get_iv_length(v->cipher) != VAULT_NONCE_LEN) {
		vault_free(v);
		return NULL;
	}
	return v;
}

struct vault *
vault_load(const char *path, char *err, size_t errlen)
{
	unsigned char key[VAULT_KEY_LEN];
	struct vault *v;
	size_t len;

	if (secretfile_read(path, "vault file", key, sizeof key, &len, err, errlen) != 0)
		return NULL;
	if (len != VAULT_KEY_LEN) {
		OPENSSL_cleanse(key, sizeof key);
		snprintf(err, errlen, "the vault file %s holds %zu bytes, not %d "
		    "(make one with head -c %d /dev/urandom)", path, len, VAULT_KEY_LEN,
		    VAULT_KEY_LEN);
		return NULL;
	}
	v = vault_new(key);
	OPENSSL_cleanse(key, sizeof key);
	if (v == NULL)
		snprintf(err, errlen, "OpenSSL cannot set up AES-256-GCM and HMAC-SHA256");
	return v;
}

void
vault_free(struct vault *v)
{
	if (v == NULL)
		return;
	EVP_CIPHER_free(v->cipher);
	OPENSSL_cleanse(v, sizeof *v);
	free(v);
}

void
vault_check(const struct vault *v, unsigned char out[VAULT_CHECK_LEN])
{
	memcpy(out, v->check, VAULT_CHECK_LEN);
}

int
vault_matches(const struct vault *v, const unsigned char check[VAULT_CHECK_LEN])
{
	return CRYPTO_memcmp(v->check, check, VAULT_CHECK_LEN) == 0;
}

/* The key id's length, or 0 when it is empty or longer than VAULT_ID_MAX. */
static size_t
id_len(const char *key_id)
{
	size_t n = key_id != NULL ? strnlen(key_id, VAULT_ID_MAX + 1) : 0;

	return n <= VAULT_ID_MAX ? n : 0;
}

/*
 * A cipher context for v with the sealed secret's nonce, and its
 * associated data: the version byte, then the key id.
 */
static EVP_CIPHER_CTX *
start(const struct vault *v, int encrypt, const unsigned char *head,
    const char *key_id, size_t idlen)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n;

	if (ctx == NULL)
		return NULL;
	if (EVP_CipherInit_ex2(ctx, v->cipher, v->aes, head + AT_NONCE, encrypt, NULL) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &n, head, 1) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *)key_id, (int)idlen) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int
vault_seal(const struct vault *v, const char *key_id, const void *secret,
    size_t len, unsigned char *out, size_t cap)
{
	size_t idlen = id_len(key_id);
	EVP_CIPHER_CTX *ctx;
	int n = 0, fin = 0, ok;

	if (v == NULL || idlen == 0 || secret == NULL || len == 0 ||
	    len > VAULT_SECRET_MAX || out == NULL || cap < len + VAULT_OVERHEAD)
		return VAULT_E_ARGS;
	out[0] = VAULT_VERSION;
	if (RAND_bytes(out + AT_NONCE, VAULT_NONCE_LEN) != 1 ||
	    (ctx = start(v, 1, out, key_id, idlen)) == NULL)
		return VAULT_E_CRYPTO;
	ok = EVP_CipherUpdate(ctx, out + AT_CIPHERTEXT, &n, secret, (int)len) == 1 &&
	    (size_t)n == len &&
	    EVP_CipherFinal_ex(ctx, out + AT_CIPHERTEXT + len, &fin) == 1 && fin == 0 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, VAULT_TAG_LEN,
	    out + AT_CIPHERTEXT + len) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok) {
		OPENSSL_cleanse(out, cap);
		return VAULT_E_CRYPTO;
	}
	return (int)(len + VAULT_OVERHEAD);
}

/* Wipes what out held and returns err. */
static int
open_failed(char *out, size_t cap, int err)
{
	if (out != NULL)
		OPENSSL_cleanse(out, cap);
	return err;
}

int
vault_open(const struct vault *v, const char *key_id,
    const unsigned char *sealed, size_t len, char *out, size_t cap)
{
	size_t idlen = id_len(key_id), n;
	unsigned char tag[VAULT_TAG_LEN];
	EVP_CIPHER_CTX *ctx;
	int got = 0, fin = 0, rc;

	if (v == NULL || idlen == 0 || sealed == NULL || out == NULL)
		return open_failed(out, cap, VAULT_E_ARGS);
	if (len <= VAULT_OVERHEAD || len > VAULT_SEALED_MAX || sealed[0] != VAULT_VERSION)
		return open_failed(out, cap, VAULT_E_FORMAT);
	n = len - VAULT_OVERHEAD;
	if (cap <= n)
		return open_failed(out, cap, VAULT_E_ARGS);
	/* EVP_CIPHER_CTX_ctrl takes the tag to check through a non-const pointer */
	memcpy(tag, sealed + AT_CIPHERTEXT + n, VAULT_TAG_LEN);
	if ((ctx = start(v, 0, sealed, key_id, idlen)) == NULL)
		return open_failed(out, cap, VAULT_E_CRYPTO);
	if (EVP_CipherUpdate(ctx, (unsigned char *)out, &got, sealed + AT_CIPHERTEXT,
	    (int)n) != 1 || (size_t)got != n ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, VAULT_TAG_LEN, tag) != 1)
		rc = VAULT_E_CRYPTO;
	else if (EVP_CipherFinal_ex(ctx, (unsigned char *)out + n, &fin) != 1 || fin != 0)
		rc = VAULT_E_AUTH; /* GCM's final step is the tag comparison */
	else
		rc = (int)n;
	EVP_CIPHER_CTX_free(ctx);
	if (rc < 0)
		return open_failed(out, cap, rc);
	out[n] = '\0';
	return rc;
}
