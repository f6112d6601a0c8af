/*
 * apikey.h - the key format (<prefix>_<mode>_<random><checksum>), its
 * generation from RAND_bytes, the CRC32 checksum, public key ids, display
 * prefixes, and the digest the store is keyed by.  OpenSSL lives here.
 */
#ifndef KEYGATE_APIKEY_H
#define KEYGATE_APIKEY_H

#include <stddef.h>
#include <stdint.h>

#define APIKEY_PREFIX_MIN   2
#define APIKEY_PREFIX_MAX   12
#define APIKEY_RANDOM_LEN   32   /* 32 base62 chars: 190.5 bits */
#define APIKEY_CHECKSUM_LEN 6    /* 62^6 > 2^32 */
#define APIKEY_BODY_MAX     128  /* longest body we accept as our format */
#define APIKEY_IMPORT_MIN   8    /* imported keys are 8-256 bytes (keygate(1), key import) */
#define APIKEY_MAX          256
#define APIKEY_BUF          (APIKEY_MAX + 1)
#define KEYID_LEN           20   /* "key_" + 16 base62 */
#define DIGEST_LEN          32
#define DISPLAY_MAX         32
#define DISPLAY_RANDOM      4    /* random characters a display prefix shows */

enum apikey_mode { MODE_LIVE = 0, MODE_TEST = 1 };

enum apikey_form {
	APIKEY_OURS,      /* our prefix, a mode, base62 body, checksum right */
	APIKEY_MALFORMED, /* claims our prefix but is not a valid key of ours */
	APIKEY_FOREIGN,   /* printable 8-256 bytes: may be an imported key */
	APIKEY_GARBAGE    /* cannot be any key */
};

int apikey_prefix_valid(const char *prefix);
/* 1 when every byte is printable ASCII without space (0x21-0x7e): what a key may hold */
int apikey_printable(const char *s, size_t len);
uint32_t apikey_crc32(const void *buf, size_t len);
void apikey_checksum(const char *s, size_t len, char out[APIKEY_CHECKSUM_LEN]);

/* Writes a new key into out (>= APIKEY_BUF); returns its length or -1. */
int apikey_generate(const char *prefix, enum apikey_mode mode, char *out,
    size_t outsz);
enum apikey_form apikey_classify(const char *prefix, const char *key,
    size_t len, enum apikey_mode *mode);
/* A new public id "key_" + 16 base62 from RAND_bytes; 0 or -1. */
int apikey_new_id(char out[KEYID_LEN + 1]);
/* Anything that is not secret: "kg_live_AbCd…", or a few leading bytes. */
void apikey_display(const char *prefix, const char *key, size_t len,
    char *out, size_t outsz);
/* 1 for a public key id: "key_" and 16 base62. */
int apikey_id_valid(const char *s);
/*
 * Copies text into out (n bytes with the NUL), cutting every run with the
 * shape of a key ("..._live_" or "..._test_" after a-z or 0-9, then more
 * than DISPLAY_RANDOM base62 characters that are not all lower-case
 * letters) after DISPLAY_RANDOM of them, so that a key pasted where
 * something else belongs is never shown beyond its display prefix, whatever
 * the store's prefix.  Text that does not fit ends in an ellipsis.
 */
const char *apikey_redact(const char *text, char *out, size_t n);
/* Fills buf with n uniformly random base62 characters; 0 or -1. */
int apikey_random_base62(char *buf, size_t n);

/*
 * The digest every store lookup is keyed by: SHA-256 of the key, or
 * HMAC-SHA256 under the pepper.  The HMAC's inner and outer states are
 * computed once, so a digest costs two hash finalisations, not a key setup.
 */
struct digester;
struct digester *digester_new(const unsigned char *pepper, size_t pepperlen);
/*
 * A digester of its own for another thread: one digester keeps one working
 * state, so threads that digest at once each need theirs (the pepper's
 * states are copied, the pepper itself is not kept anywhere).
 */
struct digester *digester_clone(const struct digester *d);
void digester_free(struct digester *d);
int digester_peppered(const struct digester *d);
int digester_digest(struct digester *d, const void *key, size_t len,
    unsigned char out[DIGEST_LEN]);
int digester_sha256(struct digester *d, const void *key, size_t len,
    unsigned char out[DIGEST_LEN]);

void hex_encode(const unsigned char *in, size_t n, char *out);
int hex_decode(const char *in, size_t inlen, unsigned char *out, size_t outlen);

#endif
