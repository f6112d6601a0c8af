/*
 * ledger.c - flushing the counter file to Berkeley DB, and building a
 * counter file from it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "catfwd.h"
#include "keyindex.h"
#include "ledger.h"
#include "log.h"
#include "record.h"
#include "repllink.h"
#include "repl.h"
#include "replmsg.h"
#include "tally.h"

_Static_assert(OC_COUNT == LEDGER_WORDS, "a ledger record holds every org counter");

#define FLUSH_RETRIES 5
#define SEQ_KEY "\0seq"
#define SEQ_KEY_LEN 4
#define SLOTS_KEY "\0slots"
#define SLOTS_KEY_LEN 6
#define INST_KEY_LEN 10 /* \0 i instance */
/* A forwarded flush in flight: its sequence is the master's to tell. */
#define PENDING_FORWARDED UINT64_MAX
/* How long a flush waits for the master (through keygate-repd). */
#define FORWARD_TIMEOUT_MS 5000
/* forward_flush: the store was reopened while the master answered (repllink.h) */
#define LEDGER_MOVED (-100)

/* ---- keys ---- */

static void
be64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t
get_be64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

size_t
ledger_org_key(const char *org, uint64_t instance, unsigned char *key)
{
	size_t n = strlen(org);

	memcpy(key, org, n);
	key[n] = '\0';
	be64(key + n + 1, instance);
	return n + 9;
}

static void
inst_key(uint64_t instance, unsigned char key[INST_KEY_LEN])
{
	key[0] = '\0';
	key[1] = 'i';
	be64(key + 2, instance);
}

/*
 * An org record's key: its org id (into id) and instance, or -1 for the
 * bookkeeping records (which start with a NUL) and anything malformed.
 */
static int
parse_org_key(const unsigned char *k, size_t kl, char id[ID_MAX + 1],
    uint64_t *instance)
{
	size_t n;

	if (kl < 10 || kl > ID_MAX + 9 || k[0] == '\0' || k[kl - 9] != '\0')
		return -1;
	n = kl - 9;
	memcpy(id, k, n);
	id[n] = '\0';
	if (!record_id_valid(id))
		return -1;
	*instance = get_be64(k + n + 1);
	return 0;
}

int
ledger_seq_get(struct store *s, struct store_txn *t, enum store_tbl tbl, const void *key,
    size_t klen, uint64_t *seq, int rmw)
{
	unsigned char buf[64];
	struct ledger_seq_rec r;
	size_t len;
	int rc;

	*seq = 0;
	rc = store_get(s, t, tbl, key, klen, buf, sizeof buf, &len, rmw);
	if (rc == ST_NOTFOUND)
		return ST_OK;
	if (rc != ST_OK)
		return rc;
	if (record_decode_ledger_seq(buf, len, &r) != 0)
		return ST_ERROR;
	*seq = r.seq;
	return ST_OK;
}

int
ledger_seq_put(struct store *s, struct store_txn *t, enum store_tbl tbl, const void *key,
    size_t klen, uint64_t seq, int64_t now)
{
	struct ledger_seq_rec r = {seq, now};
	unsigned char buf[64];
	int n = record_encode_ledger_seq(&r, buf, sizeof buf);

	return n < 0 ? ST_ERROR : store_put(s, t, tbl, key, klen, buf, (size_t)n, 0);
}

static int
get_seq(struct store *s, struct store_txn *t, const void *key, size_t klen,
    uint64_t *seq, int rmw)
{
	return ledger_seq_get(s, t, TBL_LEDGER, key, klen, seq, rmw);
}

static int
put_seq(struct store *s, struct store_txn *t, const void *key, size_t klen,
    uint64_t seq, int64_t now)
{
	return ledger_seq_put(s, t, TBL_LEDGER, key, klen, seq, now);
}

int
ledger_set_slots(struct store *s, uint32_t nslots, char *err, size_t errlen)
{
	struct store_txn *t;
	int rc;

	if ((rc = store_txn_begin(s, &t)) != ST_OK ||
	    (rc = put_seq(s, t, SLOTS_KEY, SLOTS_KEY_LEN, nslots, 0)) != ST_OK) {
		store_txn_abort(t);
		snprintf(err, errlen, "cannot record the counter file's size: %s", store_errmsg(s));
		return -1;
	}
	if (store_txn_commit(t) != ST_OK) {
		snprintf(err, errlen, "cannot record the counter file's size: %s", store_errmsg(s));
		return -1;
	}
	return 0;
}

/* ---- summing the ledger ---- */

/* What other counter files flushed, per org: an open-addressing map. */
struct acc {
	char id[ID_MAX + 1];
	uint64_t used[OC_COUNT];
	int damaged;
};

struct accmap {
	struct acc *v;
	size_t cap, n;
	uint64_t instance; /* the file whose own records are not summed */
	uint32_t pid[OC_COUNT];
	int failed;        /* out of memory */
};

static struct acc *
acc_slot(struct acc *v, size_t cap, const char *id)
{
	size_t i = (size_t)counters_org_tag(id) & (cap - 1);

	while (v[i].id[0] != '\0' && strcmp(v[i].id, id) != 0)
		i = (i + 1) & (cap - 1);
	return &v[i];
}

static struct acc *
acc_get(struct accmap *m, const char *id)
{
	struct acc *e;

	if ((m->n + 1) * 10 > m->cap * 7) {
		size_t cap = m->cap ? m->cap * 2 : 1024, i;
		struct acc *v = calloc(cap, sizeof *v);

		if (v == NULL) {
			m->failed = 1;
			return NULL;
		}
		for (i = 0; i < m->cap; i++)
			if (m->v[i].id[0] != '\0')
				*acc_slot(v, cap, m->v[i].id) = m->v[i];
		free(m->v);
		m->v = v;
		m->cap = cap;
	}
	e = acc_slot(m->v, m->cap, id);
	if (e->id[0] == '\0') {
		strcpy(e->id, id);
		m->n++;
	}
	return e;
}

static struct acc *
acc_find(const struct accmap *m, const char *id)
{
	struct acc *e;

	if (m->cap == 0)
		return NULL;
	e = acc_slot(m->v, m->cap, id);
	return e->id[0] != '\0' ? e : NULL;
}

static int
sum_row(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct accmap *m = ctx;
	char id[ID_MAX + 1];
	struct ledger_rec r;
	uint64_t instance;
	struct acc *e;
	int i;

	if (parse_org_key(k, kl, id, &instance) != 0 || instance == m->instance)
		return 0;
	if ((e = acc_get(m, id)) == NULL)
		return 1;
	if (record_decode_ledger(v, vl, &r) != 0) {
		e->damaged = 1;
		return 0;
	}
	for (i = 0; i < OC_COUNT; i++) {
		uint64_t u = policy_quota_used(r.word[i], m->pid[i]);

		e->used[i] = u > QUOTA_USED_MAX - e->used[i] ? QUOTA_USED_MAX : e->used[i] + u;
	}
	return 0;
}

static uint64_t
base_word(uint32_t pid, uint64_t used)
{
	return used == 0 ? 0 : (uint64_t)pid << QUOTA_USED_BITS | used;
}

static void
set_bases(struct org_slot *o, const struct accmap *m, const struct acc *e)
{
	int i;

	for (i = 0; i < OC_COUNT; i++)
		counters_org_set_base(o, i, e ? base_word(m->pid[i], e->used[i]) : 0);
	counters_org_set_damaged(o, e != NULL && e->damaged);
}

/*
 * Sets every org slot's base to what the other counter files flushed to
 * the ledger, claiming a slot for each org that has some.  ST_*.
 */
static int
refresh_bases(struct store *s, struct counters *c, int64_t now, char *err, size_t errlen)
{
	struct accmap m;
	char id[ID_MAX + 1];
	struct org_slot *o;
	uint32_t i;
	size_t j;
	int rc, k;

	memset(&m, 0, sizeof m);
	m.instance = counters_instance(c);
	for (k = 0; k < OC_COUNT; k++)
		m.pid[k] = counters_period(k, now);
	rc = store_scan(s, NULL, TBL_LEDGER, sum_row, &m);
	if (rc == ST_OK && m.failed)
		rc = ST_ERROR;
	if (rc != ST_OK) {
		snprintf(err, errlen, "cannot read the ledger: %s",
		    m.failed ? "out of memory" : store_errmsg(s));
		goto out;
	}
	for (i = 0; i < counters_norg_slots(c); i++)
		if (counters_org_at(c, i, id, &o) == 0)
			set_bases(o, &m, acc_find(&m, id));
	for (j = 0; j < m.cap; j++) {
		if (m.v[j].id[0] == '\0')
			continue;
		if ((o = counters_org(c, m.v[j].id, 1)) == NULL) {
			snprintf(err, errlen, "the counter file has no room for organization '%s' "
			    "(keygate init --counter-slots, then keygate db recover)", m.v[j].id);
			rc = ST_ERROR;
			goto out;
		}
		set_bases(o, &m, &m.v[j]);
	}
out:
	free(m.v);
	return rc;
}

/* ---- making a counter file ---- */

static uint32_t
wanted_slots(struct store *s, const char *dir)
{
	char err[256], path[PATHNAME_BUF];
	struct counters *old;
	uint64_t n = 0;
	int fd;

	if (get_seq(s, NULL, SLOTS_KEY, SLOTS_KEY_LEN, &n, 0) == ST_OK &&
	    n >= COUNTERS_MIN_SLOTS && n <= COUNTERS_MAX_SLOTS && (n & (n - 1)) == 0)
		return (uint32_t)n;
	/* a store made before the size was recorded: keep the old file's */
	snprintf(path, sizeof path, "%s/%s", dir, COUNTERS_FILE);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
		close(fd);
		if ((old = counters_open(dir, err, sizeof err)) != NULL) {
			n = counters_nslots(old);
			counters_close(old);
			return (uint32_t)n;
		}
	}
	return COUNTERS_DEFAULT_SLOTS;
}

static struct counters *
rebuild(struct store *s, const char *dir, char *err, size_t errlen)
{
	char tmp[PATHNAME_BUF], path[PATHNAME_BUF];
	struct counters *c;
	uint64_t instance = 0, seq;
	int64_t now = (int64_t)time(NULL);

	snprintf(tmp, sizeof tmp, "%s/%s.new", dir, COUNTERS_FILE);
	snprintf(path, sizeof path, "%s/%s", dir, COUNTERS_FILE);
	unlink(tmp); /* left by a builder that died: we hold the lock */
	while (instance == 0)
		if (RAND_bytes((unsigned char *)&instance, sizeof instance) != 1) {
			snprintf(err, errlen, "OpenSSL's random generator failed");
			return NULL;
		}
	if (counters_create_at(tmp, wanted_slots(s, dir), instance, COUNTERS_REBUILT,
	    err, errlen) != 0)
		return NULL;
	if ((c = counters_open_path(tmp, err, errlen)) == NULL)
		goto fail;
	/* the sequence first: a flush after it is noticed, and summed, later */
	if (get_seq(s, NULL, SEQ_KEY, SEQ_KEY_LEN, &seq, 0) != ST_OK) {
		snprintf(err, errlen, "cannot read the ledger: %s", store_errmsg(s));
		goto fail;
	}
	counters_flush_state(c)->seq = seq;
	if (refresh_bases(s, c, now, err, errlen) != ST_OK)
		goto fail;
	/*
	 * Processes still mapping the old file read the key index through its
	 * anchor, which nobody will update again: retire that index first, so
	 * that they go to the store until they notice the new file.
	 */
	if (keyindex_retire(dir, err, errlen) != 0)
		goto fail;
	/*
	 * Named the current file before anyone can map it: from here on, a
	 * process still on the old file decides nothing more on it
	 * (counters_current), so that no two files spend one balance.
	 */
	if (counters_watch(c, dir, err, errlen) != 0)
		goto fail;
	counters_make_current(c);
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "cannot rename %s: %s", tmp, strerror(errno));
		goto fail;
	}
	return c;
fail:
	counters_close(c);
	unlink(tmp);
	return NULL;
}

/* Whether the ledger holds flushes of c that c does not have (a restored copy). */
static int
older_than_ledger(struct store *s, struct counters *c, int *older)
{
	unsigned char key[INST_KEY_LEN];
	struct counters_flush_state *fs = counters_flush_state(c);
	uint64_t seq, pending;
	int rc;

	inst_key(counters_instance(c), key);
	if ((rc = get_seq(s, NULL, key, sizeof key, &seq, 0)) != ST_OK)
		return rc;
	pending = __atomic_load_n(&fs->pending, __ATOMIC_ACQUIRE);
	*older = seq > __atomic_load_n(&fs->seq, __ATOMIC_ACQUIRE) && seq != pending &&
	    pending != PENDING_FORWARDED;
	return ST_OK;
}

static int
lock_file(const char *dir, const char *name, int op)
{
	char path[PATHNAME_BUF];
	int fd, r;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0660)) < 0)
		return -1;
	while ((r = flock(fd, op)) != 0 && errno == EINTR)
		;
	if (r != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The file at dir/counters if it can be used.  NULL otherwise, with *why
 * the reason to make a new one, or NULL and err when a new one would not
 * help.  locked: the caller holds counters.lock, so that no other file is
 * being made, and a sound file at the path that counters.lock does not
 * name (a store made by keygate init, counters.lock deleted, a rename
 * that failed) is named the current one.
 */
static struct counters *
usable(struct store *s, const char *dir, int locked, const char **why, char *err,
    size_t errlen)
{
	struct counters *c;
	int older = 0;

	*why = NULL;
	if ((c = counters_open(dir, err, errlen)) == NULL) {
		*why = errno == ENOENT ? "it was missing" : "it was damaged";
		return NULL;
	}
	if (older_than_ledger(s, c, &older) != ST_OK) {
		snprintf(err, errlen, "cannot read the ledger: %s", store_errmsg(s));
		goto unusable;
	}
	if (older) {
		*why = "it was older than the ledger";
		goto unusable;
	}
	if (counters_watch(c, dir, err, errlen) != 0)
		goto unusable;
	if (!counters_current(c)) {
		if (!locked) {
			*why = "another process is replacing it"; /* wait for it: take the lock */
			goto unusable;
		}
		counters_make_current(c);
	}
	return c;
unusable:
	counters_close(c);
	return NULL;
}

struct counters *
ledger_open_counters(struct store *s, const char *dir,
    struct ledger_open_info *info, char *err, size_t errlen)
{
	const char *why = NULL;
	struct counters *c;
	int fd;

	if (info != NULL)
		info->rebuilt = NULL;
	if ((c = usable(s, dir, 0, &why, err, errlen)) != NULL)
		return c;
	if ((fd = lock_file(dir, COUNTERS_LOCK, LOCK_EX)) < 0) {
		snprintf(err, errlen, "cannot lock %s/%s: %s", dir, COUNTERS_LOCK, strerror(errno));
		return NULL;
	}
	/* another process may have made it while we waited */
	if ((c = usable(s, dir, 1, &why, err, errlen)) == NULL && why != NULL) {
		if ((c = rebuild(s, dir, err, errlen)) != NULL && info != NULL)
			info->rebuilt = why;
	}
	close(fd);
	return c;
}

/* ---- flushing ---- */

struct dirty {
	struct org_slot *slot;
	char id[ID_MAX + 1];
	uint64_t word[OC_COUNT];
};

/*
 * The org slots whose counts the ledger does not have yet (malloc'd, *n of
 * them).  Usually the ones marked as counted in since the last look; with
 * full, every slot, compared with what was flushed: every FULL_EVERY
 * flushes, and after a flush that died holding marks it had taken.
 */
#define FULL_EVERY 10

static int
add_dirty(struct dirty **d, size_t *n, size_t *cap, struct org_slot *o, const char *id)
{
	uint64_t w[OC_COUNT];
	struct dirty *p;
	int k, changed = 0;

	for (k = 0; k < OC_COUNT; k++) {
		w[k] = counters_org_word(o, k);
		changed |= w[k] != counters_org_flushed(o, k);
	}
	if (!changed)
		return 0;
	if (*n == *cap) {
		size_t c2 = *cap ? *cap * 2 : 64;

		if ((p = realloc(*d, c2 * sizeof *p)) == NULL)
			return -1;
		*d = p;
		*cap = c2;
	}
	(*d)[*n].slot = o;
	strcpy((*d)[*n].id, id);
	memcpy((*d)[*n].word, w, sizeof w);
	(*n)++;
	return 0;
}

static struct dirty *
collect_dirty(struct counters *c, int full, size_t *n)
{
	struct dirty *d = NULL;
	struct org_slot *o;
	char id[ID_MAX + 1];
	size_t cap = 0;
	int64_t i;

	*n = 0;
	for (i = -1; ; ) {
		if (full)
			i = i + 1 < (int64_t)counters_norg_slots(c) ? i + 1 : -1;
		else
			i = counters_org_next_dirty(c, (uint32_t)(i + 1));
		if (i < 0)
			break;
		if (counters_org_at(c, (uint32_t)i, id, &o) != 0)
			continue;
		if (add_dirty(&d, n, &cap, o, id) != 0) {
			/* out of memory: this one waits for the next flush */
			counters_org_mark_dirty(c, o);
			break;
		}
	}
	return d;
}

/* One org's counts of one file, as a flush writes them. */
struct flush_item {
	const char *id;
	uint64_t word[OC_COUNT];
};

/*
 * The flush of file instance: every item's record, the file's sequence
 * and the ledger's, in one transaction.  *seq_out: the sequence before
 * it (the flush makes it one more).  pending (may be NULL): where the
 * flushing file notes the sequence it is committing.
 */
static int
write_items(struct store *s, uint64_t instance, const struct flush_item *items, size_t n,
    int64_t now, uint64_t *pending, uint64_t *seq_out)
{
	unsigned char key[ID_MAX + 16], buf[128];
	struct store_txn *t;
	uint64_t seq;
	size_t i;
	int rc, len;

	if ((rc = store_txn_begin(s, &t)) != ST_OK)
		return rc;
	if ((rc = get_seq(s, t, SEQ_KEY, SEQ_KEY_LEN, &seq, 1)) != ST_OK)
		goto abort;
	if (pending != NULL)
		__atomic_store_n(pending, seq + 1, __ATOMIC_RELEASE);
	for (i = 0; i < n; i++) {
		struct ledger_rec r;

		memcpy(r.word, items[i].word, sizeof r.word);
		r.updated_at = now;
		if ((len = record_encode_ledger(&r, buf, sizeof buf)) < 0) {
			rc = ST_ERROR;
			goto abort;
		}
		rc = store_put(s, t, TBL_LEDGER, key, ledger_org_key(items[i].id, instance, key),
		    buf, (size_t)len, 0);
		if (rc != ST_OK)
			goto abort;
	}
	inst_key(instance, key);
	if ((rc = put_seq(s, t, key, INST_KEY_LEN, seq + 1, now)) != ST_OK ||
	    (rc = put_seq(s, t, SEQ_KEY, SEQ_KEY_LEN, seq + 1, now)) != ST_OK)
		goto abort;
	*seq_out = seq;
	return store_txn_commit(t);
abort:
	store_txn_abort(t);
	return rc;
}

static struct flush_item *
items_of(const struct dirty *d, size_t n)
{
	struct flush_item *it = calloc(n ? n : 1, sizeof *it);
	size_t i;

	for (i = 0; it != NULL && i < n; i++) {
		it[i].id = d[i].id;
		memcpy(it[i].word, d[i].word, sizeof it[i].word);
	}
	return it;
}

static int
write_flush(struct store *s, struct counters *c, const struct dirty *d, size_t n,
    int64_t now, uint64_t *seq_out)
{
	struct flush_item *it = items_of(d, n);
	int rc;

	if (it == NULL)
		return ST_ERROR;
	rc = write_items(s, counters_instance(c), it, n, now,
	    &counters_flush_state(c)->pending, seq_out);
	free(it);
	return rc;
}

/*
 * A replicated store: the flush goes to the master (through the host's
 * keygate-repd), which writes it with write_items.  The records are
 * absolute counts, so a flush whose answer was lost is simply sent again
 * with the next one.  The answer comes once this host holds the change.
 */
static int
forward_flush(struct store *s, struct counters *c, const struct dirty *d, size_t n,
    int64_t now, uint64_t *seq_out, unsigned char token[STORE_TOKEN_LEN], int *has_token,
    char *err, size_t errlen)
{
	struct counters_flush_state *fs = counters_flush_state(c);
	struct replmsg_w w;
	struct replmsg_r r;
	void *answer = NULL;
	size_t alen = 0, i;
	const char *msg;
	int rc = ST_ERROR, k;

	rmw_init(&w);
	rmw_request(&w, RM_LEDGER);
	rmw_u64(&w, counters_instance(c));
	rmw_i64(&w, now);
	rmw_u32(&w, (uint32_t)n);
	for (i = 0; i < n; i++) {
		rmw_str(&w, d[i].id);
		for (k = 0; k < OC_COUNT; k++)
			rmw_u64(&w, d[i].word[k]);
	}
	if (w.failed) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	__atomic_store_n(&fs->pending, PENDING_FORWARDED, __ATOMIC_RELEASE);
	k = repllink_call(store_dir(s), w.buf, w.len, FORWARD_TIMEOUT_MS, &answer, &alen,
	    NULL, err, errlen);
	if (k == REPLLINK_MOVED) {
		rc = LEDGER_MOVED; /* c and d may be unmapped by now */
		goto out;
	}
	if (k != 0)
		goto out;
	rmr_init(&r, answer, alen);
	if (rmr_answer(&r, &msg) != RS_OK) {
		snprintf(err, errlen, "%s", msg);
		goto out;
	}
	k = catfwd_get_token(&r, token);
	*has_token = k == 1;
	*seq_out = rmr_u64(&r);
	if (k < 0 || !rmr_done(&r)) {
		snprintf(err, errlen, "a malformed answer from keygate-repd");
		goto out;
	}
	__atomic_store_n(&fs->pending, *seq_out + 1, __ATOMIC_RELEASE);
	rc = ST_OK;
out:
	rmw_free(&w);
	free(answer);
	return rc;
}

void
ledger_apply_flush(struct store *s, struct replmsg_r *r, struct replmsg_w *w)
{
	struct flush_item *items = NULL;
	uint64_t instance, seq = 0;
	int64_t now;
	uint32_t n, i;
	int rc = ST_ERROR, attempt, k;

	instance = rmr_u64(r);
	now = rmr_i64(r);
	n = rmr_count(r, REPLMSG_STR_MIN + 8 * OC_COUNT);
	if (r->failed || (items = calloc(n ? n : 1, sizeof *items)) == NULL) {
		rmw_answer(w, RS_REFUSED, "a malformed ledger flush");
		return;
	}
	for (i = 0; i < n; i++) {
		items[i].id = rmr_str(r, ID_MAX);
		for (k = 0; k < OC_COUNT; k++)
			items[i].word[k] = rmr_u64(r);
		if (!record_id_valid(items[i].id))
			r->failed = 1;
	}
	if (!rmr_done(r) || instance == 0) {
		free(items);
		rmw_answer(w, RS_REFUSED, "a malformed ledger flush");
		return;
	}
	store_token_reset();
	for (attempt = 0; attempt < FLUSH_RETRIES; attempt++) {
		rc = write_items(s, instance, items, n, now, NULL, &seq);
		if (rc != ST_DEADLOCK)
			break;
		usleep(1000u << attempt);
	}
	free(items);
	if (rc != ST_OK) {
		rmw_answer(w, RS_UNAVAILABLE, store_errmsg(s));
		return;
	}
	rmw_answer(w, RS_OK, "");
	catfwd_put_token(w);
	rmw_u64(w, seq);
}

/*
 * History older than HISTORY_KEEP_DAYS goes once a day, PRUNE_BATCH
 * records a flush, so that a large first prune never holds the flush up.
 */
#define PRUNE_BATCH 5000

static void
prune_history(struct store *s, struct counters_flush_state *fs, int64_t now)
{
	int64_t today = now / 86400;
	uint64_t n = 0;

	if (__atomic_load_n(&fs->pruned_day, __ATOMIC_ACQUIRE) == today)
		return;
	if (tally_prune(s, NULL, today - HISTORY_KEEP_DAYS, PRUNE_BATCH, &n) == ST_OK &&
	    n < PRUNE_BATCH)
		__atomic_store_n(&fs->pruned_day, today, __ATOMIC_RELEASE);
}

int
ledger_reports_stale(struct counters *c)
{
	uint64_t at = __atomic_load_n(&counters_flush_state(c)->reported, __ATOMIC_ACQUIRE);

	/* 0: never reported; the clock is the host's monotonic one, never stepped back */
	return at == 0 || kg_mono_ns() - at > LEDGER_REPORT_STALE_NS;
}

/*
 * A forwarded flush is complete ("reported", ledger_reports_stale) once
 * this replica's copy has the master's commit of it, and with it every
 * other host's counts committed before: only then are the bases taken
 * from this copy the group's.  A copy that lags (its keygate-repd
 * recovering after a worker's SIGKILL, or starved of CPU) otherwise
 * decided on old bases while its reports still reached the master: 1,123
 * credits over instead of at most 964 in one quota.sh run.  The wait is
 * short, since a replica's rollback waits for every txn_applied in
 * progress; a commit not here by then is looked for again at the next
 * flush, and counts as of its own flush's time.
 */
#define LOCAL_APPLY_WAIT_MS 100

_Static_assert(STORE_TOKEN_LEN <= sizeof ((struct counters_flush_state *)0)->unseen_token,
    "a commit token fits the flush state");

/* Never back in time, unless what is there is from another boot (later than now). */
static void
mark_reported(struct counters_flush_state *fs, uint64_t at)
{
	uint64_t was = __atomic_load_n(&fs->reported, __ATOMIC_ACQUIRE);

	if (at > was || was > kg_mono_ns())
		__atomic_store_n(&fs->reported, at, __ATOMIC_RELEASE);
}

/* An earlier flush's commit that reached this copy since: reported as of then. */
static void
settle_unseen(struct store *s, struct counters_flush_state *fs)
{
	if (fs->unseen_at != 0 && repl_wait_applied(s, fs->unseen_token, 0) == 0) {
		mark_reported(fs, fs->unseen_at);
		fs->unseen_at = 0;
	}
}

/* 1 when the master's commit of our flush is in this copy (or there is none to wait for) */
static int
seen_here(struct store *s, struct counters_flush_state *fs, int has_token,
    const unsigned char token[STORE_TOKEN_LEN])
{
	if (!has_token || repl_wait_applied(s, token, LOCAL_APPLY_WAIT_MS) == 0)
		return 1;
	memcpy(fs->unseen_token, token, STORE_TOKEN_LEN);
	fs->unseen_at = kg_mono_ns();
	return 0;
}

int
ledger_flush(struct store *s, struct counters *c, const char *dir, int64_t now,
    char *err, size_t errlen)
{
	static unsigned flushes; /* this process's, for the periodic full look */
	struct counters_flush_state *fs = counters_flush_state(c);
	struct dirty *d = NULL;
	uint64_t seq = 0, mine;
	size_t n = 0, i;
	int fd, rc = ST_OK, attempt, result = 0, full, has_token = 0, unseen = 0;
	unsigned char token[STORE_TOKEN_LEN];
	char ferr[300] = "";

	if ((fd = lock_file(dir, LEDGER_FLUSH_LOCK, LOCK_EX | LOCK_NB)) < 0)
		return 0; /* another process of this host is flushing */
	if (!store_writable(s))
		settle_unseen(s, fs);
	mine = __atomic_load_n(&fs->seq, __ATOMIC_ACQUIRE);
	full = __atomic_load_n(&fs->busy, __ATOMIC_ACQUIRE) != 0 || ++flushes % FULL_EVERY == 0;
	__atomic_store_n(&fs->busy, 1, __ATOMIC_RELEASE);
	d = collect_dirty(c, full, &n);
	/*
	 * Truncated while we read it: an org's id may have been read before
	 * the fault and its counts after, as zeros (mapguard.h).  Absolute
	 * zeros in the ledger would give its usage back.
	 */
	if (!counters_intact(c)) {
		snprintf(err, errlen, "the counter file was truncated under the flush: "
		    "nothing written from it");
		result = -1;
		goto out;
	}
	if (n > 0) {
		for (attempt = 0; attempt < FLUSH_RETRIES && store_writable(s); attempt++) {
			rc = write_flush(s, c, d, n, now, &seq);
			if (rc != ST_DEADLOCK)
				break;
			usleep(1000u << attempt);
		}
		if (!store_writable(s))
			rc = forward_flush(s, c, d, n, now, &seq, token, &has_token, ferr, sizeof ferr);
		if (rc == LEDGER_MOVED) {
			/* absolute counts: the next flush sends them again, whoever got these */
			snprintf(err, errlen, "cannot write the ledger: %s", ferr);
			result = -1;
			goto out;
		}
		if (rc != ST_OK) {
			snprintf(err, errlen, "cannot write the ledger: %s",
			    store_writable(s) ? store_errmsg(s) : ferr);
			for (i = 0; i < n; i++) /* nothing lost: the next flush takes them again */
				counters_org_mark_dirty(c, d[i].slot);
			__atomic_store_n(&fs->busy, 0, __ATOMIC_RELEASE);
			result = -1;
			goto out;
		}
		unseen = !seen_here(s, fs, has_token, token);
		/* not seen here yet: the next flush takes the bases again */
		if (!unseen)
			__atomic_store_n(&fs->seq, seq + 1, __ATOMIC_RELEASE);
		for (i = 0; i < n; i++) {
			int k;

			for (k = 0; k < OC_COUNT; k++)
				counters_org_set_flushed(d[i].slot, k, d[i].word[k]);
		}
		result = 1;
	} else if (get_seq(s, NULL, SEQ_KEY, SEQ_KEY_LEN, &seq, 0) != ST_OK) {
		snprintf(err, errlen, "cannot read the ledger: %s", store_errmsg(s));
		result = -1;
		goto out;
	} else if (seq != mine) {
		__atomic_store_n(&fs->seq, seq, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&fs->busy, 0, __ATOMIC_RELEASE);
	/* another file flushed since ours did: its counts are part of our bases */
	if (seq != mine && refresh_bases(s, c, now, err, errlen) != ST_OK)
		result = -1;
	/* a replicated store's history is pruned by keygate-repd on the master */
	if (store_writable(s))
		prune_history(s, fs, now);
	if (result >= 0 && !unseen)
		mark_reported(fs, kg_mono_ns());
out:
	free(d);
	close(fd);
	return result;
}

/*
 * The batch marks of processes that sent nothing for BATCH_KEEP_DAYS:
 * long gone (a process sends every second it counted something).
 */
#define BATCH_KEEP_DAYS 7

void
ledger_upkeep(struct store *s, struct counters *c, int64_t now)
{
	prune_history(s, counters_flush_state(c), now);
	tally_prune_marks(s, now - BATCH_KEEP_DAYS * 86400, PRUNE_BATCH);
}
