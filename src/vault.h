/*
 * vault.h - keys that can be read again: a key's secret sealed with
 * AES-256-GCM under the store's vault file, kept beside its digest.
 *
 * Opt in, per store: `keygate init --vault-file FILE`.  FILE holds exactly
 * VAULT_KEY_LEN random bytes (head -c 32 /dev/urandom > FILE), mode 0640
 * root:www-data, under the rules of every file that holds a secret
 * (secretfile.h).  Exactly: the content is binary, where a last byte 0x0a
 * is as likely as any other, so no trailing newline can be told apart and
 * none is allowed; a file of 31, 33 or 65 bytes (a hex dump) is refused.
 *
 * How keygate uses it (ctx.c kg_vault, catalog.c):
 *   init       v = vault_load(FILE); FILE's absolute path and vault_check(v)
 *              go into the store's vault record (TBL_META "vault");
 *   load       where a vault is needed, never in the authorizer (which
 *              has no use for it): keygate-api at start, the CLI before
 *              a key command writes or reveals, db check.  vault_load(path)
 *              and vault_matches(v, stored check), else refuse: a wrong
 *              file fails before anything is written, not at the reveal;
 *   key create the digest is stored as always, and beside it, in the same
 *              transaction, vault_seal(v, key id, key, ...) in secrets.db;
 *   revoke     the sealed secret is deleted with it;
 *   reveal     vault_open(v, key id, sealed, ...), the key answered once
 *              and the buffer wiped (OPENSSL_cleanse), audited key.reveal.
 * A vault is read-only after vault_load/vault_new: any number of threads
 * may seal and open with it at once.  There is no re-keying: another
 * vault file means sealing every key again.
 *
 * The 32 bytes are never used directly: HMAC-SHA256 under them derives
 * the AES key and the check value, each from its own label, so the check
 * stored in the meta record says nothing about the AES key.  Then the
 * raw bytes are wiped.
 *
 * A sealed secret, version 1:
 *   version (1 byte, 1) | nonce (12 bytes, RAND_bytes) |
 *   ciphertext (as long as the secret) | GCM tag (16 bytes)
 * with the version byte and the key id as associated data: a sealed
 * secret copied to another key's record, a changed version byte, a
 * changed, cut or extended byte anywhere, or another vault file fail to
 * open.  Random 96-bit nonces are safe for 2^32 seals under one key; a
 * store holds far fewer keys.
 */
#ifndef KEYGATE_VAULT_H
#define KEYGATE_VAULT_H

#include <stddef.h>

#include "apikey.h"

#define VAULT_KEY_LEN     32 /* the vault file: an AES-256 key's worth */
#define VAULT_CHECK_LEN   32 /* HMAC-SHA256 */
#define VAULT_VERSION     1
#define VAULT_NONCE_LEN   12 /* GCM's 96-bit nonce */
#define VAULT_TAG_LEN     16
#define VAULT_OVERHEAD    (1 + VAULT_NONCE_LEN + VAULT_TAG_LEN)
/* The longest secret: the longest key keygate stores (imports included). */
#define VAULT_SECRET_MAX  APIKEY_MAX
#define VAULT_SEALED_MAX  (VAULT_OVERHEAD + VAULT_SECRET_MAX)
/* Key ids ("key_" and 16 base62) with room to change; any C string fits the AAD. */
#define VAULT_ID_MAX      64

/* What seal and open return when they fail (they return lengths otherwise). */
enum vault_err {
	VAULT_E_ARGS = -1,   /* a length or key id out of bounds, or out too small */
	VAULT_E_FORMAT = -2, /* not a sealed secret this code reads: too short,
	                        too long, or another version */
	VAULT_E_AUTH = -3,   /* the tag does not match: another vault, another
	                        key id, or a changed, cut or extended byte */
	VAULT_E_CRYPTO = -4  /* OpenSSL or its random generator failed */
};

struct vault;

/* A vault from the 32 bytes of a vault file (they are not kept); NULL when OpenSSL fails. */
struct vault *vault_new(const unsigned char key[VAULT_KEY_LEN]);
/*
 * Reads the vault file at path (the rules above) into a vault, or NULL
 * with a one-line reason in err.
 */
struct vault *vault_load(const char *path, char *err, size_t errlen);
/* Wipes and frees; NULL is fine. */
void vault_free(struct vault *v);

/* The check value stored at init, to recognise the vault file later. */
void vault_check(const struct vault *v, unsigned char out[VAULT_CHECK_LEN]);
/* 1 when check is this vault's check value (compared in constant time). */
int vault_matches(const struct vault *v, const unsigned char check[VAULT_CHECK_LEN]);

/*
 * Seals secret[0..len) (1 to VAULT_SECRET_MAX bytes) for the key key_id
 * (1 to VAULT_ID_MAX bytes) into out, which needs len + VAULT_OVERHEAD
 * bytes: the sealed length, or a negative enum vault_err.
 */
int vault_seal(const struct vault *v, const char *key_id, const void *secret,
    size_t len, unsigned char *out, size_t cap);
/*
 * Opens what vault_seal made for key_id: the secret into out, followed by
 * a NUL (cap must exceed the secret's length), and its length; or a
 * negative enum vault_err, with out[0..cap) wiped.
 */
int vault_open(const struct vault *v, const char *key_id,
    const unsigned char *sealed, size_t len, char *out, size_t cap);

#endif
