/*
 * mirror.c - the key index and generation of a replica follow its store
 * (mirror.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "counters.h"
#include "keyindex.h"
#include "log.h"
#include "mirror.h"
#include "repl.h"

/* Audit records followed per pass: the rest waits for the next pass. */
#define MIRROR_BATCH 1024

struct mirror {
	int valid;             /* the index mirrors the store up to cursor */
	uint64_t lsn;          /* the end of the log at the last pass */
	int have_gen;
	uint64_t gen;          /* meta.generation at the last pass */
	unsigned char cursor[AUDIT_KEY_LEN];
	int have_cursor;       /* else: no audit record yet */
};

struct mirror *
mirror_new(void)
{
	return calloc(1, sizeof(struct mirror));
}

void
mirror_free(struct mirror *m)
{
	free(m);
}

void
mirror_reset(struct mirror *m)
{
	m->valid = 0;
	m->have_gen = 0;
	m->lsn = 0;
}

uint64_t
mirror_followed(const struct mirror *m)
{
	return m->valid ? m->lsn : 0;
}

/* What the audit records of one pass touched. */
struct changes {
	char keys[MIRROR_BATCH * 2][KEYID_LEN + 1];
	size_t nkeys;
	char orgs[MIRROR_BATCH][ID_MAX + 1];
	size_t norgs;
	unsigned char last[AUDIT_KEY_LEN];
	size_t seen;
	int rebuild;           /* a record only a rebuild can follow */
	const unsigned char *after; /* the cursor, not to be read again */
};

static void
add_key(struct changes *c, const char *id)
{
	if (id == NULL || id[0] == '\0')
		return;
	if (strlen(id) > KEYID_LEN || c->nkeys == sizeof c->keys / sizeof c->keys[0]) {
		c->rebuild = 1;
		return;
	}
	strcpy(c->keys[c->nkeys++], id);
}

static void
add_org(struct changes *c, const char *id)
{
	size_t i;

	if (id == NULL || id[0] == '\0')
		return;
	for (i = 0; i < c->norgs; i++)
		if (strcmp(c->orgs[i], id) == 0)
			return;
	if (strlen(id) > ID_MAX) {
		c->rebuild = 1;
		return;
	}
	strcpy(c->orgs[c->norgs++], id);
}

static const char *
field_str(const struct audit_rec *a, const char *name)
{
	size_t i;

	for (i = 0; i < a->nfields; i++)
		if (a->f[i].type == AUDIT_STR && strcmp(a->f[i].name, name) == 0)
			return a->f[i].str;
	return NULL;
}

/* The items of the list field name (an import's "keys"): 1, or 0 when there is none. */
static int
add_listed_keys(struct changes *c, const struct audit_rec *a, const char *name)
{
	size_t i, j;

	for (i = 0; i < a->nfields; i++) {
		if (a->f[i].type != AUDIT_LIST || strcmp(a->f[i].name, name) != 0)
			continue;
		if (a->f[i].num < 0 || (size_t)a->f[i].num > a->nfields - i - 1)
			return 0;
		for (j = 1; j <= (size_t)a->f[i].num; j++)
			if (a->f[i + j].type != AUDIT_STR)
				return 0;
		for (j = 1; j <= (size_t)a->f[i].num; j++)
			add_key(c, a->f[i + j].str);
		return 1;
	}
	return 0;
}

/*
 * What a change touched, by its action: a key (and the successor of a
 * rotation) with its organization; the keys an import names; an
 * organization; nothing the index holds (plans live in the workers'
 * caches, which the generation drops; pruning).  Anything else, or an
 * import too large to name its keys, is a rebuild.
 */
static int
audit_row(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct changes *c = ctx;
	struct audit_rec a;

	if (kl != AUDIT_KEY_LEN)
		return 0;
	if (c->after != NULL && memcmp(k, c->after, AUDIT_KEY_LEN) == 0)
		return 0;
	if (c->seen == MIRROR_BATCH)
		return 1;
	memcpy(c->last, k, AUDIT_KEY_LEN);
	c->seen++;
	if (record_decode_audit(v, vl, &a) != 0) {
		c->rebuild = 1;
		return 0;
	}
	if (strcmp(a.action, "key.import") == 0) {
		if (add_listed_keys(c, &a, "keys"))
			add_org(c, a.org);
		else
			c->rebuild = 1;
	} else if (strncmp(a.action, "key.", 4) == 0) {
		add_key(c, a.target);
		add_key(c, field_str(&a, "successor"));
		add_org(c, a.org);
	} else if (strncmp(a.action, "org.", 4) == 0) {
		add_org(c, a.target);
	} else if (strncmp(a.action, "plan.", 5) != 0 && strncmp(a.action, "audit.", 6) != 0 &&
	    strncmp(a.action, "usage.", 6) != 0) {
		c->rebuild = 1;
	}
	return 0;
}

static void
mirror_key(struct kg *kg, struct keyindex *x, const char *id)
{
	unsigned char buf[RECORD_MAX];
	struct keyid_rec kid;
	struct key_rec k;
	size_t len;
	int rc;

	rc = store_get(kg->store, NULL, TBL_KEYIDS, id, strlen(id), buf, sizeof buf, &len, 0);
	if (rc == ST_NOTFOUND)
		return; /* a key that never was (a failed create leaves no record) */
	if (rc != ST_OK || record_decode_keyid(buf, len, &kid) != 0) {
		keyindex_want_rebuild(x);
		return;
	}
	rc = store_get(kg->store, NULL, TBL_KEYS, kid.digest, DIGEST_LEN, buf, sizeof buf, &len, 0);
	if (rc == ST_OK)
		keyindex_put_key(x, kid.digest, record_decode_key(buf, len, &k) == 0 ? &k : NULL);
	else if (rc == ST_NOTFOUND)
		keyindex_del_key(x, kid.digest);
	else
		keyindex_want_rebuild(x);
}

static void
mirror_org(struct kg *kg, struct keyindex *x, const char *id)
{
	unsigned char buf[RECORD_MAX];
	size_t len;
	int rc;

	rc = store_get(kg->store, NULL, TBL_ORGS, id, strlen(id), buf, sizeof buf, &len, 0);
	if (rc == ST_OK)
		keyindex_put_org(x, id, buf, len);
	else if (rc == ST_NOTFOUND)
		keyindex_del_org(x, id);
	else
		keyindex_want_rebuild(x);
}

/* Writes the changes into the index, under its lock, the sequence odd meanwhile. */
static int
apply(struct kg *kg, const struct changes *c, char *err, size_t errlen)
{
	const char *dir = store_dir(kg->store);
	struct keyindex *x;
	size_t i;

	x = keyindex_lock(dir, counters_index_anchor(kg->counters), 0, NULL, err, errlen);
	if (x == NULL)
		return -1;
	keyindex_begin(x);
	if (c->rebuild)
		keyindex_want_rebuild(x);
	/* orgs first: a key's entry names its org's slot */
	for (i = 0; !c->rebuild && i < c->norgs; i++)
		mirror_org(kg, x, c->orgs[i]);
	for (i = 0; !c->rebuild && i < c->nkeys; i++)
		mirror_key(kg, x, c->keys[i]);
	return keyindex_end(x, kg->store, NULL, err, errlen);
}

static int
last_audit_key(struct kg *kg, unsigned char key[AUDIT_KEY_LEN], int *have)
{
	size_t len = 0;
	int rc = store_last(kg->store, NULL, TBL_AUDIT, key, AUDIT_KEY_LEN, &len, 0);

	*have = rc == ST_OK && len == AUDIT_KEY_LEN;
	return rc == ST_NOTFOUND ? ST_OK : rc;
}

/* The generation: caches of every worker drop when it moves. */
static int
follow_generation(struct mirror *m, struct kg *kg)
{
	unsigned char buf[RECORD_MAX];
	struct meta_rec meta;
	int rc;

	if ((rc = kg_read_meta(kg, NULL, buf, sizeof buf, &meta, 0)) != ST_OK)
		return rc;
	if (!m->have_gen || meta.generation != m->gen)
		counters_bump_generation(kg->counters);
	m->gen = meta.generation;
	m->have_gen = 1;
	return ST_OK;
}

static int
rebuild(struct mirror *m, struct kg *kg, int *st, char *err, size_t errlen)
{
	int rc;

	/* the cursor first: what commits during the rebuild is read again after */
	if ((rc = last_audit_key(kg, m->cursor, &m->have_cursor)) != ST_OK) {
		*st = rc;
		snprintf(err, errlen, "cannot read the audit trail: %s", store_errmsg(kg->store));
		return -1;
	}
	if (keyindex_rebuild(store_dir(kg->store), counters_index_anchor(kg->counters),
	    kg->store, NULL, err, errlen) != 0) {
		*st = ST_ERROR;
		return -1;
	}
	m->valid = 1;
	return 1;
}

int
mirror_pass(struct mirror *m, struct kg *kg, int *st, char *err, size_t errlen)
{
	struct changes *c;
	uint64_t lsn = 0;
	int rc, more;

	*st = ST_OK;
	if (kg->counters == NULL) {
		snprintf(err, errlen, "no counter file");
		*st = ST_ERROR;
		return -1;
	}
	repl_log_position(kg->store, &lsn);
	if (m->valid && lsn == m->lsn && lsn != 0)
		return 0;
	if ((rc = follow_generation(m, kg)) != ST_OK) {
		*st = rc;
		snprintf(err, errlen, "cannot read the meta record: %s", store_errmsg(kg->store));
		return -1;
	}
	if (!m->valid) {
		if ((rc = rebuild(m, kg, st, err, errlen)) > 0)
			m->lsn = lsn;
		return rc;
	}
	if ((c = calloc(1, sizeof *c)) == NULL) {
		snprintf(err, errlen, "out of memory");
		*st = ST_ERROR;
		return -1;
	}
	if (m->have_cursor) {
		c->after = m->cursor;
		rc = store_scan_from(kg->store, NULL, TBL_AUDIT, m->cursor, AUDIT_KEY_LEN, audit_row, c);
	} else {
		rc = store_scan(kg->store, NULL, TBL_AUDIT, audit_row, c);
	}
	if (rc != ST_OK) {
		*st = rc;
		snprintf(err, errlen, "cannot read the audit trail: %s", store_errmsg(kg->store));
		free(c);
		return -1;
	}
	more = c->seen == MIRROR_BATCH;
	if (c->rebuild) {
		free(c);
		if ((rc = rebuild(m, kg, st, err, errlen)) > 0)
			m->lsn = lsn;
		return rc;
	}
	if ((c->norgs > 0 || c->nkeys > 0) && apply(kg, c, err, errlen) != 0) {
		free(c);
		*st = ST_ERROR;
		m->valid = 0;
		return -1;
	}
	if (c->seen > 0) {
		memcpy(m->cursor, c->last, AUDIT_KEY_LEN);
		m->have_cursor = 1;
	}
	rc = c->seen > 0;
	free(c);
	/* more records than one pass takes: the log position is not caught up */
	if (!more)
		m->lsn = lsn;
	return rc;
}
