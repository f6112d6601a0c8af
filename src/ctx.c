/*
 * ctx.c - opening a store with its settings.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "ctx.h"
#include "vault.h"
#include "ledger.h"
#include "log.h"
#include "repl.h"
#include "secretfile.h"

#define PEPPER_CHECK_TEXT "keygate pepper check v1"

int64_t
kg_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

uint64_t
kg_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t
kg_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* + 1: callers keep 0 for "not started" */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + 1;
}

void
kg_mono_timespec(uint64_t at_ns, struct timespec *ts)
{
	ts->tv_sec = (time_t)(at_ns / NS_PER_S);
	ts->tv_nsec = (long)(at_ns % NS_PER_S);
}

int
kg_mono_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t ca;
	int rc;

	if (pthread_condattr_init(&ca) != 0)
		return -1;
	rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(cv, &ca) == 0;
	pthread_condattr_destroy(&ca);
	return rc ? 0 : -1;
}

int
kg_read_pepper(const char *path, unsigned char *buf, size_t cap, size_t *len,
    char *err, size_t errlen)
{
	size_t got;

	if (secretfile_read(path, "pepper file", buf, cap < PEPPER_MAX ? cap : PEPPER_MAX,
	    &got, err, errlen) != 0)
		return -1;
	if (got > 0 && buf[got - 1] == '\n')
		got--;
	if (got < PEPPER_MIN) {
		OPENSSL_cleanse(buf, cap);
		snprintf(err, errlen, "the pepper file %s holds fewer than %d bytes", path, PEPPER_MIN);
		return -1;
	}
	*len = got;
	return 0;
}

int
kg_pepper_check(const unsigned char *pepper, size_t len,
    unsigned char out[DIGEST_LEN])
{
	struct digester *d = digester_new(pepper, len);
	int rc;

	if (d == NULL)
		return -1;
	rc = digester_digest(d, PEPPER_CHECK_TEXT, strlen(PEPPER_CHECK_TEXT), out);
	digester_free(d);
	return rc;
}

int
kg_read_meta(struct kg *kg, struct store_txn *txn, unsigned char *buf,
    size_t cap, struct meta_rec *m, int rmw)
{
	size_t len;
	int rc;

	rc = store_get(kg->store, txn, TBL_META, "store", 5, buf, cap, &len, rmw);
	if (rc != ST_OK)
		return rc == ST_NOTFOUND ? ST_ERROR : rc;
	if (record_decode_meta(buf, len, m) != 0)
		return ST_ERROR;
	return ST_OK;
}

static int
open_counters(struct kg *kg, const char *dir, char *err, size_t errlen)
{
	struct ledger_open_info info;

	kg->counters = ledger_open_counters(kg->store, dir, &info, err, errlen);
	if (kg->counters == NULL)
		return -1;
	if (info.rebuilt != NULL) {
		log_warnx("%s/%s: %s; a new one was made from the ledger", dir,
		    COUNTERS_FILE, info.rebuilt);
		kg->counters_rebuilt++;
	}
	return 0;
}

int
kg_counters_check(struct kg *kg)
{
	char err[600];
	struct counters *old = kg->counters;

	if (old != NULL && !counters_replaced(old, store_dir(kg->store)))
		return 0;
	keyindex_close(kg->index);
	kg->index = NULL;
	kg->counters = NULL;
	counters_close(old);
	if (open_counters(kg, store_dir(kg->store), err, sizeof err) != 0) {
		log_warnx("%s", err);
		return -1;
	}
	kg->index = keyindex_open(store_dir(kg->store), counters_index_anchor(kg->counters));
	return 1;
}

void
kg_index_reopen(struct kg *kg)
{
	keyindex_close(kg->index);
	kg->index = NULL;
	if (kg->counters != NULL)
		kg->index = keyindex_open(store_dir(kg->store), counters_index_anchor(kg->counters));
}

int
kg_open(struct kg *kg, const char *dir, unsigned store_flags, char *err,
    size_t errlen)
{
	struct store *s;

	memset(kg, 0, sizeof *kg);
	if ((s = store_open(dir, store_flags, err, errlen)) == NULL)
		return -1;
	if (kg_attach(kg, s, err, errlen) != 0) {
		store_close(s);
		return -1;
	}
	return 0;
}

int
kg_attach(struct kg *kg, struct store *s, char *err, size_t errlen)
{
	unsigned char buf[RECORD_MAX], pepper[PEPPER_MAX], check[DIGEST_LEN];
	const char *dir = store_dir(s);
	struct meta_rec m;
	size_t plen = 0;
	int rc;

	memset(kg, 0, sizeof *kg);
	kg->store = s;
	rc = kg_read_meta(kg, NULL, buf, sizeof buf, &m, 0);
	if (rc != ST_OK) {
		snprintf(err, errlen, "%s: the store's meta record is unreadable (%s)",
		    dir, rc == ST_ERROR ? "missing or damaged" : store_errmsg(kg->store));
		goto fail;
	}
	if (m.format != STORE_FORMAT) {
		snprintf(err, errlen, "%s: store format %u, this keygate reads format %u",
		    dir, m.format, STORE_FORMAT);
		goto fail;
	}
	snprintf(kg->prefix, sizeof kg->prefix, "%s", m.prefix);
	snprintf(kg->pepper_path, sizeof kg->pepper_path, "%s", m.pepper_path);
	kg->meta_flags = m.flags;
	if (m.flags & METAF_PEPPER) {
		if (kg_read_pepper(m.pepper_path, pepper, sizeof pepper, &plen, err,
		    errlen) != 0)
			goto fail;
		if (kg_pepper_check(pepper, plen, check) != 0 ||
		    CRYPTO_memcmp(check, m.pepper_check, DIGEST_LEN) != 0) {
			OPENSSL_cleanse(pepper, sizeof pepper);
			snprintf(err, errlen, "the pepper file %s is not the one this store was created with",
			    m.pepper_path);
			goto fail;
		}
	}
	kg->digester = digester_new(plen ? pepper : NULL, plen);
	OPENSSL_cleanse(pepper, sizeof pepper);
	if (kg->digester == NULL) {
		snprintf(err, errlen, "OpenSSL cannot set up SHA-256");
		goto fail;
	}
	if (open_counters(kg, dir, err, errlen) != 0)
		goto fail;
	/* missing or unusable is no error: the store answers until it is rebuilt */
	kg->index = keyindex_open(dir, counters_index_anchor(kg->counters));
	return 0;
fail:
	kg->store = NULL; /* the caller's again */
	kg_close(kg);
	return -1;
}

/* The vault's record: ST_OK, ST_NOTFOUND (no vault), or a failure. */
static int
read_vault_meta(struct kg *kg, unsigned char *buf, size_t cap, struct vault_meta_rec *v)
{
	size_t len;
	int rc;

	rc = store_get(kg->store, NULL, TBL_META, "vault", 5, buf, cap, &len, 0);
	if (rc != ST_OK)
		return rc;
	return record_decode_vault_meta(buf, len, v) == 0 ? ST_OK : ST_ERROR;
}

int
kg_has_vault(struct kg *kg)
{
	unsigned char buf[RECORD_MAX];
	struct vault_meta_rec v;

	/* a store error counts as a vault: the caller then fails to load it */
	return kg->vault != NULL || read_vault_meta(kg, buf, sizeof buf, &v) != ST_NOTFOUND;
}

struct vault *
kg_vault(struct kg *kg, int *none, char *err, size_t errlen)
{
	unsigned char buf[RECORD_MAX];
	struct vault_meta_rec m;
	struct vault *v;
	int rc;

	*none = 0;
	if (kg->vault != NULL)
		return kg->vault;
	if ((rc = read_vault_meta(kg, buf, sizeof buf, &m)) == ST_NOTFOUND) {
		*none = 1;
		snprintf(err, errlen, "this store keeps no copy of its keys' secrets "
		    "(made without keygate init --vault-file)");
		return NULL;
	}
	if (rc != ST_OK) {
		snprintf(err, errlen, "the store's vault record cannot be read: %s",
		    rc == ST_ERROR ? "damaged" : store_errmsg(kg->store));
		return NULL;
	}
	if ((v = vault_load(m.path, err, errlen)) == NULL)
		return NULL;
	if (!vault_matches(v, m.check)) {
		vault_free(v);
		snprintf(err, errlen, "the vault file %s is not the one this store was made with",
		    m.path);
		return NULL;
	}
	return kg->vault = v;
}

void
kg_close(struct kg *kg)
{
	vault_free(kg->vault);
	keyindex_close(kg->index);
	counters_close(kg->counters);
	digester_free(kg->digester);
	store_close(kg->store);
	memset(kg, 0, sizeof *kg);
}

const char *
kg_role_name(struct kg *kg)
{
	if (kg->store == NULL || !store_replicated(kg->store))
		return "standalone";
	return repl_role(kg->store) == REPL_ROLE_MASTER ? "master" : "replica";
}

int
kg_replica_behind(struct kg *kg)
{
	return kg->counters != NULL && counters_repl_unavailable(kg->counters, kg_now());
}
