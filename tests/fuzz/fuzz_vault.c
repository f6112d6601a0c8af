/*
 * fuzz_vault.c - vault_open (src/vault.c) on hostile sealed secrets, and
 * vault_seal on arbitrary secrets and key ids.
 *
 * Input: byte 0 picks what the rest is (byte 0 % 4):
 *   0  a sealed secret, as it is: it must not open (nobody forges a GCM
 *      tag), with VAULT_E_FORMAT exactly when its length or version byte
 *      is wrong, VAULT_E_AUTH otherwise;
 *   1  changes to a secret sealed at start-up: byte 1 cuts or extends it
 *      (signed, the new bytes from the input), then (position, xor) pairs.
 *      It opens, to the very secret, only when nothing changed;
 *   2  a secret (up to VAULT_SECRET_MAX bytes): sealed and opened again to
 *      the same bytes, under no other key id; byte 0 >> 2 picks a byte to
 *      change, and then it does not open;
 *   3  a key id: sealing works exactly for ids of 1 to VAULT_ID_MAX bytes,
 *      and what it seals opens under that id only.
 * Whenever vault_open fails, its output buffer holds only zeros.
 */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "vault.h"

static const char ID[] = "key_0123456789abcdef";
static const char SECRET[] = "kg_live_FuzzSealedSecret0123456789abcdef";
static struct vault *V;
static unsigned char sealed[VAULT_SEALED_MAX];
static size_t sealed_len;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	unsigned char key[VAULT_KEY_LEN];
	size_t k;
	int n;

	(void)argc;
	(void)argv;
	for (k = 0; k < sizeof key; k++)
		key[k] = (unsigned char)(0xa5 ^ k);
	if ((V = vault_new(key)) == NULL)
		abort();
	n = vault_seal(V, ID, SECRET, strlen(SECRET), sealed, sizeof sealed);
	if (n <= 0)
		abort();
	sealed_len = (size_t)n;
	return 0;
}

static int FUZZ_NO_COVERAGE
zeros(const char *p, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++)
		if (p[k] != 0)
			return 0;
	return 1;
}

/* vault_open into a heap buffer of exactly cap bytes; checks the wiping. */
static int
open_checked(const char *id, const unsigned char *blob, size_t len, char *out, size_t cap)
{
	int rc;

	memset(out, 'Z', cap);
	rc = vault_open(V, id, blob, len, out, cap);
	if (rc < 0)
		FUZZ_CHECK(zeros(out, cap), "out not wiped after %d", rc);
	else
		FUZZ_CHECK((size_t)rc < cap && out[rc] == '\0', "the secret is not terminated");
	return rc;
}

static void
raw_blob(const unsigned char *data, size_t size, char *out, size_t cap)
{
	unsigned char *blob = fuzz_dup(data, size);
	int format = size <= VAULT_OVERHEAD || size > VAULT_SEALED_MAX || data[0] != VAULT_VERSION;
	int rc = open_checked(ID, blob, size, out, cap);

	FUZZ_CHECK(rc == (format ? VAULT_E_FORMAT : VAULT_E_AUTH), "a blob of %zu bytes: %d", size, rc);
	free(blob);
}

static void
edited(const uint8_t *data, size_t size, char *out, size_t cap)
{
	unsigned char *t;
	size_t len = sealed_len, k, i = 1;
	int delta = size > 0 ? (int8_t)data[0] : 0, rc;

	if (delta < 0)
		len = (size_t)-delta > len ? 0 : len - (size_t)-delta;
	else
		len += (size_t)delta;
	t = fuzz_dup(sealed, len > sealed_len ? len : sealed_len);
	for (k = sealed_len; k < len; k++) /* the extension: input bytes, else zeros */
		t[k] = i < size ? data[i++] : 0;
	for (; i + 1 < size && len > 0; i += 2)
		t[data[i] % len] ^= data[i + 1];
	rc = open_checked(ID, t, len, out, cap);
	if (len == sealed_len && memcmp(t, sealed, len) == 0)
		FUZZ_CHECK(rc == (int)strlen(SECRET) && memcmp(out, SECRET, (size_t)rc) == 0,
		    "the untouched secret does not open: %d", rc);
	else
		FUZZ_CHECK(rc < 0, "a changed secret opens (length %zu)", len);
	free(t);
}

static void
round_trip(const uint8_t *data, size_t size, unsigned pick, char *out, size_t cap)
{
	unsigned char *t = malloc(size + VAULT_OVERHEAD);
	int n, rc;

	if (t == NULL)
		abort();
	n = vault_seal(V, ID, data, size, t, size + VAULT_OVERHEAD);
	if (size == 0 || size > VAULT_SECRET_MAX) {
		FUZZ_CHECK(n == VAULT_E_ARGS, "sealed %zu bytes: %d", size, n);
		free(t);
		return;
	}
	FUZZ_CHECK(n == (int)(size + VAULT_OVERHEAD) && t[0] == VAULT_VERSION, "sealed length %d", n);
	rc = open_checked(ID, t, (size_t)n, out, cap);
	FUZZ_CHECK(rc == (int)size && memcmp(out, data, size) == 0, "round trip: %d", rc);
	FUZZ_CHECK(open_checked("key_0123456789abcdeF", t, (size_t)n, out, cap) == VAULT_E_AUTH,
	    "opens under another key id");
	FUZZ_CHECK(open_checked(ID, t, (size_t)n, out, size) == VAULT_E_ARGS,
	    "opens without room for the NUL");
	t[pick % (size_t)n] ^= 0x40;
	FUZZ_CHECK(open_checked(ID, t, (size_t)n, out, cap) < 0, "a changed byte %u opens",
	    pick % (unsigned)n);
	free(t);
}

static void
key_id(const uint8_t *data, size_t size, char *out, size_t cap)
{
	char *id = fuzz_strdup(data, size);
	size_t len = strlen(id);
	unsigned char t[VAULT_SEALED_MAX];
	int n = vault_seal(V, id, SECRET, strlen(SECRET), t, sizeof t);

	if (len == 0 || len > VAULT_ID_MAX) {
		FUZZ_CHECK(n == VAULT_E_ARGS, "sealed under an id of %zu bytes: %d", len, n);
	} else {
		FUZZ_CHECK(n > 0, "cannot seal under an id of %zu bytes", len);
		FUZZ_CHECK(open_checked(id, t, (size_t)n, out, cap) == (int)strlen(SECRET),
		    "does not open under its own id");
		FUZZ_CHECK(strcmp(id, ID) == 0 || open_checked(ID, t, (size_t)n, out, cap) == VAULT_E_AUTH,
		    "opens under another id");
	}
	free(id);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cap = VAULT_SECRET_MAX + 1;
	char *out = malloc(cap);

	if (out == NULL)
		abort();
	if (size > 0) {
		switch (data[0] % 4) {
		case 0: raw_blob(data + 1, size - 1, out, cap); break;
		case 1: edited(data + 1, size - 1, out, cap); break;
		case 2: round_trip(data + 1, size - 1, data[0] >> 2, out, cap); break;
		default: key_id(data + 1, size - 1, out, cap); break;
		}
	}
	free(out);
	return 0;
}
