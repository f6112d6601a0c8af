/*
 * tally.c - per-process usage counts, written to the history once a second.
 *
 * A buffer is an open-addressing table of entries claimed by CAS on a tag
 * (a hash of day, kind and id, never 0); the claimer writes the rest and
 * then sets ready.  A thread that meets an entry not ready yet probes on
 * and may claim a second entry for the same id and day: both are written,
 * and the history adds them, so that costs nothing but a slot.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "catfwd.h"
#include "ledger.h"
#include "repllink.h"
#include "replmsg.h"
#include "tally.h"

/*
 * 8192 entries a buffer (1.3 MiB): the distinct (day, org or key) a process
 * sees in one second.  A request that finds no room within TALLY_PROBE
 * slots is not in the history (counted in dropped and logged), never waits.
 */
#define TALLY_SLOTS 8192
#define TALLY_PROBE 64
#define TALLY_BATCH 256 /* records per transaction: a second's worth in a few commits */

struct tally_entry {
	uint64_t tag;
	uint32_t ready;
	uint32_t day;
	uint8_t kind;
	uint8_t len;
	char id[ID_MAX];
	uint64_t n[H_COUNT];
	int64_t last_used;
};

struct tally_buf {
	struct tally_entry *e;
	uint64_t writers; /* threads counting into it right now */
	uint64_t dropped;
};

/* How long a forwarded batch waits for the master (through keygate-repd). */
#define FORWARD_TIMEOUT_MS 5000

struct tally {
	struct tally_buf b[2];
	uint32_t active;
	/*
	 * A replicated store: this process's batches go to the master, each
	 * under (proc, seq); one the master has not confirmed is sent again
	 * as it was, and the master applies a (proc, seq) once.
	 */
	uint64_t proc;
	uint64_t seq;
	unsigned char *pending;
	size_t pending_len;
	uint32_t pending_records;
};

struct tally *
tally_new(void)
{
	struct tally *t = calloc(1, sizeof *t);

	if (t == NULL)
		return NULL;
	t->b[0].e = calloc(TALLY_SLOTS, sizeof(struct tally_entry));
	t->b[1].e = calloc(TALLY_SLOTS, sizeof(struct tally_entry));
	if (t->b[0].e == NULL || t->b[1].e == NULL ||
	    RAND_bytes((unsigned char *)&t->proc, sizeof t->proc) != 1) {
		tally_free(t);
		return NULL;
	}
	t->seq = 1;
	return t;
}

void
tally_free(struct tally *t)
{
	if (t == NULL)
		return;
	free(t->b[0].e);
	free(t->b[1].e);
	free(t->pending);
	free(t);
}

static uint64_t
entry_tag(uint32_t day, int kind, const char *id, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull ^ day ^ ((uint64_t)kind << 32);
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)id[i]) * 0x100000001b3ull;
	h ^= h >> 29;
	return h | 1;
}

static int
entry_is(const struct tally_entry *e, uint32_t day, int kind, const char *id, size_t len)
{
	return e->day == day && e->kind == kind && e->len == len &&
	    memcmp(e->id, id, len) == 0;
}

/* The entry of (day, kind, id) in b, claimed if need be; NULL: no room. */
static struct tally_entry *
entry(struct tally_buf *b, uint32_t day, int kind, const char *id, size_t len)
{
	uint64_t tag = entry_tag(day, kind, id, len);
	uint32_t i, at = (uint32_t)tag & (TALLY_SLOTS - 1);

	for (i = 0; i < TALLY_PROBE; i++) {
		struct tally_entry *e = &b->e[(at + i) & (TALLY_SLOTS - 1)];
		uint64_t cur = __atomic_load_n(&e->tag, __ATOMIC_ACQUIRE), expect = 0;

		if (cur == tag && __atomic_load_n(&e->ready, __ATOMIC_ACQUIRE) &&
		    entry_is(e, day, kind, id, len))
			return e;
		if (cur == 0 && __atomic_compare_exchange_n(&e->tag, &expect, tag, 0,
		    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			e->day = day;
			e->kind = (uint8_t)kind;
			e->len = (uint8_t)len;
			memcpy(e->id, id, len);
			__atomic_store_n(&e->ready, 1, __ATOMIC_RELEASE);
			return e;
		}
	}
	return NULL;
}

static void
add(struct tally_entry *e, const uint64_t n[H_COUNT], int64_t last_used)
{
	int64_t cur;
	int i;

	for (i = 0; i < H_COUNT; i++)
		if (n[i] != 0)
			__atomic_add_fetch(&e->n[i], n[i], __ATOMIC_RELAXED);
	cur = __atomic_load_n(&e->last_used, __ATOMIC_RELAXED);
	while (last_used > cur && !__atomic_compare_exchange_n(&e->last_used, &cur,
	    last_used, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static void
count_in(struct tally_buf *b, uint32_t day, int kind, const char *id,
    const uint64_t n[H_COUNT], int64_t last_used)
{
	size_t len = strlen(id);
	struct tally_entry *e;

	if (len == 0 || len > ID_MAX || (e = entry(b, day, kind, id, len)) == NULL) {
		__atomic_add_fetch(&b->dropped, 1, __ATOMIC_RELAXED);
		return;
	}
	add(e, n, last_used);
}

/* The active buffer, with this thread counted among its writers. */
static struct tally_buf *
enter(struct tally *t)
{
	for (;;) {
		uint32_t a = __atomic_load_n(&t->active, __ATOMIC_SEQ_CST);
		struct tally_buf *b = &t->b[a];

		__atomic_add_fetch(&b->writers, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&t->active, __ATOMIC_SEQ_CST) == a)
			return b;
		/* the flush swapped buffers meanwhile: it may be reading this one */
		__atomic_sub_fetch(&b->writers, 1, __ATOMIC_SEQ_CST);
	}
}

static void
leave(struct tally_buf *b)
{
	__atomic_sub_fetch(&b->writers, 1, __ATOMIC_SEQ_CST);
}

void
tally_count(struct tally *t, const char *org, const char *key_id,
    enum hist_counter which, int quota_unit, int64_t now_s)
{
	uint64_t n[H_COUNT] = {0};
	uint32_t day = (uint32_t)(now_s / 86400);
	struct tally_buf *b;

	if (t == NULL || org == NULL || now_s < 0)
		return;
	n[which] = 1;
	if (quota_unit)
		n[H_QUOTA] = 1;
	b = enter(t);
	count_in(b, day, TALLY_ORG, org, n, which == H_ALLOWED ? now_s : 0);
	if (key_id != NULL)
		count_in(b, day, TALLY_KEY, key_id, n, which == H_ALLOWED ? now_s : 0);
	leave(b);
}

/* ---- keys ---- */

size_t
tally_key(int64_t day, enum tally_kind kind, const char *id, unsigned char *key)
{
	size_t n = strlen(id);

	if (n > ID_MAX)
		n = ID_MAX; /* never a real id: such ids are refused where they arrive */
	key[0] = (unsigned char)(day >> 24);
	key[1] = (unsigned char)(day >> 16);
	key[2] = (unsigned char)(day >> 8);
	key[3] = (unsigned char)day;
	key[4] = (unsigned char)kind;
	memcpy(key + 5, id, n);
	return 5 + n;
}

int
tally_read_day(struct store *s, int64_t day, enum tally_kind kind, const char *id,
    struct history_rec *h)
{
	unsigned char key[HISTORY_KEY_MAX], buf[256];
	size_t len;
	int rc;

	rc = store_get(s, NULL, TBL_HISTORY, key, tally_key(day, kind, id, key), buf, sizeof buf,
	    &len, 0);
	if (rc == ST_NOTFOUND) {
		memset(h, 0, sizeof *h);
		return ST_OK;
	}
	if (rc != ST_OK)
		return rc;
	return record_decode_history(buf, len, h) == 0 ? ST_OK : ST_ERROR;
}

int
tally_parse_key(const unsigned char *key, size_t len, int64_t *day,
    enum tally_kind *kind, char id[ID_MAX + 1])
{
	if (len < 6 || len > HISTORY_KEY_MAX || (key[4] != TALLY_ORG && key[4] != TALLY_KEY))
		return -1;
	*day = (int64_t)key[0] << 24 | key[1] << 16 | key[2] << 8 | key[3];
	*kind = key[4];
	memcpy(id, key + 5, len - 5);
	id[len - 5] = '\0';
	return strlen(id) == len - 5 ? 0 : -1;
}

size_t
tally_mark_key(const uint64_t *proc, unsigned char key[TALLY_MARK_LEN])
{
	int i;

	memset(key, 0xff, 4);
	key[4] = TALLY_MARK;
	if (proc == NULL)
		return 5;
	for (i = 0; i < 8; i++)
		key[5 + i] = (unsigned char)(*proc >> (56 - 8 * i));
	return TALLY_MARK_LEN;
}

int
tally_is_mark(const unsigned char *key, size_t len)
{
	unsigned char prefix[TALLY_MARK_LEN];

	return len == TALLY_MARK_LEN && memcmp(key, prefix, tally_mark_key(NULL, prefix)) == 0;
}

/*
 * Exactly once for the batches of other processes: in t, whether batch
 * seq of process proc is newer than the last one its mark records
 * (*fresh), recording it if so.  ST_*.
 */
static int
batch_fresh(struct store *s, struct store_txn *t, uint64_t proc, uint64_t seq,
    int64_t now, int *fresh)
{
	unsigned char key[TALLY_MARK_LEN];
	uint64_t last;
	int rc;

	*fresh = 0;
	tally_mark_key(&proc, key);
	if ((rc = ledger_seq_get(s, t, TBL_HISTORY, key, sizeof key, &last, 1)) != ST_OK)
		return rc; /* a damaged mark: which batches it had is unknown (db check names it) */
	if (seq <= last)
		return ST_OK;
	*fresh = 1;
	return ledger_seq_put(s, t, TBL_HISTORY, key, sizeof key, seq, now);
}

/* ---- flush ---- */

/* Adds counts n and last_used to the history record of (day, kind, id) in t. */
static int
add_record(struct store *s, struct store_txn *t, uint32_t day, int kind, const char *id,
    const uint64_t n[H_COUNT], int64_t last_used)
{
	unsigned char key[HISTORY_KEY_MAX], buf[256];
	struct history_rec h;
	size_t klen, len;
	int rc, i, m;

	klen = tally_key(day, kind, id, key);
	rc = store_get(s, t, TBL_HISTORY, key, klen, buf, sizeof buf, &len, 1);
	if (rc == ST_NOTFOUND)
		memset(&h, 0, sizeof h);
	else if (rc != ST_OK)
		return rc;
	else if (record_decode_history(buf, len, &h) != 0)
		memset(&h, 0, sizeof h); /* a damaged day starts again: db check reports it */
	for (i = 0; i < H_COUNT; i++)
		h.n[i] = n[i] > UINT64_MAX - h.n[i] ? UINT64_MAX : h.n[i] + n[i];
	if (last_used > h.last_used)
		h.last_used = last_used;
	if ((m = record_encode_history(&h, buf, sizeof buf)) < 0)
		return ST_ERROR;
	return store_put(s, t, TBL_HISTORY, key, klen, buf, (size_t)m, 0);
}

static void
entry_id(const struct tally_entry *e, char id[ID_MAX + 1])
{
	memcpy(id, e->id, e->len);
	id[e->len] = '\0';
}

/* Adds e's counts to its history record in t. */
static int
write_entry(struct store *s, struct store_txn *t, const struct tally_entry *e)
{
	char id[ID_MAX + 1];

	entry_id(e, id);
	return add_record(s, t, e->day, e->kind, id, e->n, e->last_used);
}

/* Writes entries [from, to) of b that hold counts, in one transaction. */
static int
write_batch(struct store *s, struct tally_buf *b, uint32_t from, uint32_t to)
{
	struct store_txn *t;
	uint32_t i;
	int rc, attempt, any = 0;

	for (i = from; i < to && !any; i++)
		any = b->e[i].tag != 0;
	if (!any)
		return ST_OK; /* no transaction (and no commit to wait for) for nothing */
	for (attempt = 0; attempt < 5; attempt++) {
		if ((rc = store_txn_begin(s, &t)) != ST_OK)
			return rc;
		for (i = from; i < to && rc == ST_OK; i++)
			if (b->e[i].tag != 0 && b->e[i].ready)
				rc = write_entry(s, t, &b->e[i]);
		if (rc == ST_OK)
			rc = store_txn_commit(t);
		else
			store_txn_abort(t);
		if (rc != ST_DEADLOCK)
			return rc;
	}
	return rc;
}

/* Swaps the buffers and waits until no thread counts into the one flushed. */
static struct tally_buf *
take_inactive(struct tally *t, struct tally_buf **now)
{
	uint32_t old = __atomic_load_n(&t->active, __ATOMIC_SEQ_CST);
	struct tally_buf *b = &t->b[old];
	struct timespec tick = {0, 20000};

	*now = &t->b[1 - old];
	__atomic_store_n(&t->active, 1 - old, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&b->writers, __ATOMIC_SEQ_CST) != 0)
		nanosleep(&tick, NULL);
	return b;
}

/* The batch of b's entries (then cleared) for the master, as t->pending. */
static int
encode_batch(struct tally *t, struct tally_buf *b)
{
	struct replmsg_w w;
	uint32_t i, n = 0;
	int k;

	for (i = 0; i < TALLY_SLOTS; i++)
		n += b->e[i].tag != 0 && b->e[i].ready;
	if (n == 0)
		return 0;
	rmw_init(&w);
	rmw_request(&w, RM_HISTORY);
	rmw_u64(&w, t->proc);
	rmw_u64(&w, t->seq);
	rmw_u32(&w, n);
	for (i = 0; i < TALLY_SLOTS; i++) {
		struct tally_entry *e = &b->e[i];
		char id[ID_MAX + 1];

		if (e->tag != 0 && e->ready) {
			entry_id(e, id);
			rmw_u32(&w, e->day);
			rmw_u8(&w, e->kind);
			rmw_str(&w, id);
			for (k = 0; k < H_COUNT; k++)
				rmw_u64(&w, e->n[k]);
			rmw_i64(&w, e->last_used);
		}
		memset(e, 0, sizeof *e);
	}
	if (w.failed) { /* out of memory: a second of history is lost, never doubled */
		rmw_free(&w);
		return -1;
	}
	t->pending = w.buf;
	t->pending_len = w.len;
	t->pending_records = n;
	return 0;
}

/* Sends the pending batch: 0 once the master has it (and this host too). */
static int
send_pending(struct tally *t, struct store *s, char *err, size_t errlen)
{
	struct replmsg_r r;
	void *answer = NULL;
	size_t alen = 0;
	const char *msg;
	int rc = -1;

	if (repllink_call(store_dir(s), t->pending, t->pending_len, FORWARD_TIMEOUT_MS,
	    &answer, &alen, NULL, err, errlen) != 0)
		return -1;
	rmr_init(&r, answer, alen);
	if (rmr_answer(&r, &msg) == RS_OK)
		rc = 0;
	else
		snprintf(err, errlen, "%s", msg);
	free(answer);
	if (rc == 0) {
		free(t->pending);
		t->pending = NULL;
		t->pending_len = 0;
		t->seq++;
	}
	return rc;
}

/*
 * A replicated store: this process's counts go to the master as a batch
 * that the master applies once (batch_fresh); until it confirms,
 * the same batch is sent again and new counts wait in the buffers.
 */
static int
forward_flush(struct tally *t, struct store *s, uint64_t *dropped, char *err,
    size_t errlen)
{
	char why[300];
	struct tally_buf *b, *now;
	uint32_t records;

	if (dropped != NULL)
		*dropped = 0;
	if (t->pending != NULL) {
		records = t->pending_records;
		if (send_pending(t, s, why, sizeof why) != 0) {
			snprintf(err, errlen, "cannot send the usage history to the master: %s", why);
			return -1;
		}
		return (int)records;
	}
	b = take_inactive(t, &now);
	if (dropped != NULL)
		*dropped = __atomic_exchange_n(&b->dropped, 0, __ATOMIC_RELAXED);
	if (encode_batch(t, b) != 0) {
		snprintf(err, errlen, "out of memory: a second of usage history is lost");
		return -1;
	}
	if (t->pending == NULL)
		return 0;
	records = t->pending_records;
	if (send_pending(t, s, why, sizeof why) != 0) {
		snprintf(err, errlen, "cannot send the usage history to the master: %s", why);
		return -1;
	}
	return (int)records;
}

/* One record of a history batch, as encode_batch writes it. */
struct batch_item {
	uint32_t day;
	unsigned kind;
	const char *id;
	uint64_t n[H_COUNT];
	int64_t last_used;
};

/* The next record of a batch from r: 0, or -1 when it is malformed. */
static int
read_item(struct replmsg_r *r, struct batch_item *it)
{
	int k;

	it->day = rmr_u32(r);
	it->kind = rmr_u8(r);
	it->id = rmr_str(r, ID_MAX);
	for (k = 0; k < H_COUNT; k++)
		it->n[k] = rmr_u64(r);
	it->last_used = rmr_i64(r);
	return !r->failed && (it->kind == TALLY_ORG || it->kind == TALLY_KEY) &&
	    record_id_valid(it->id) ? 0 : -1;
}

void
tally_apply(struct store *s, struct replmsg_r *r, struct replmsg_w *w)
{
	struct store_txn *txn = NULL;
	struct batch_item it;
	struct replmsg_r body;
	uint64_t proc = rmr_u64(r), seq = rmr_u64(r);
	uint32_t count = rmr_u32(r), i;
	int attempt, rc = ST_ERROR, fresh = 0;

	/*
	 * All of the batch is read before anything is written: a malformed
	 * one is refused whether or not a batch of that sequence was added
	 * before (then only its header would be looked at).
	 */
	body = *r;
	for (i = 0; !r->failed && count <= TALLY_SLOTS && i < count; i++)
		if (read_item(r, &it) != 0)
			break;
	if (count == 0 || count > TALLY_SLOTS || i < count || !rmr_done(r)) {
		rmw_answer(w, RS_REFUSED, "a malformed history batch");
		return;
	}
	store_token_reset();
	for (attempt = 0; attempt < 5; attempt++) {
		*r = body;
		if ((rc = store_txn_begin(s, &txn)) != ST_OK)
			break;
		rc = batch_fresh(s, txn, proc, seq, kg_now(), &fresh);
		for (i = 0; rc == ST_OK && fresh && i < count; i++) {
			read_item(r, &it);
			rc = add_record(s, txn, it.day, (int)it.kind, it.id, it.n, it.last_used);
		}
		if (rc == ST_OK && fresh)
			rc = store_txn_commit(txn);
		else
			store_txn_abort(txn); /* already applied: nothing to write */
		if (rc != ST_DEADLOCK)
			break;
		usleep(1000u << attempt);
	}
	if (rc != ST_OK)
		rmw_answer(w, RS_UNAVAILABLE, store_errmsg(s));
	else {
		rmw_answer(w, RS_OK, "");
		catfwd_put_token(w);
	}
}

int
tally_flush(struct tally *t, struct store *s, uint64_t *dropped, char *err,
    size_t errlen)
{
	uint32_t i, from, written = 0;
	int records = 0;
	struct tally_buf *b, *now;
	int rc = ST_OK;

	if (!store_writable(s))
		return forward_flush(t, s, dropped, err, errlen);
	b = take_inactive(t, &now);
	for (from = 0; from < TALLY_SLOTS; from += TALLY_BATCH) {
		if ((rc = write_batch(s, b, from, from + TALLY_BATCH)) != ST_OK)
			break;
		written = from + TALLY_BATCH;
	}
	/* what was written is cleared; what was not goes back into the active buffer */
	for (i = 0; i < TALLY_SLOTS; i++) {
		struct tally_entry *e = &b->e[i];

		if (e->tag == 0)
			continue;
		records += i < written && e->ready;
		if (i >= written && e->ready) {
			char id[ID_MAX + 1];

			entry_id(e, id);
			count_in(now, e->day, e->kind, id, e->n, e->last_used);
		}
		memset(e, 0, sizeof *e);
	}
	if (dropped != NULL)
		*dropped = __atomic_exchange_n(&b->dropped, 0, __ATOMIC_RELAXED);
	if (rc != ST_OK) {
		snprintf(err, errlen, "cannot write the usage history: %s", store_errmsg(s));
		return -1;
	}
	return records;
}

/* ---- pruning ---- */

int
tally_prune(struct store *s, struct store_txn *txn, int64_t before, uint64_t max,
    uint64_t *deleted)
{
	unsigned char limit[4];

	if (before < 0)
		before = 0;
	limit[0] = (unsigned char)(before >> 24);
	limit[1] = (unsigned char)(before >> 16);
	limit[2] = (unsigned char)(before >> 8);
	limit[3] = (unsigned char)before;
	return store_del_below(s, txn, TBL_HISTORY, limit, sizeof limit, max, deleted);
}

/* Marks last written before `before` (seconds), collected for deletion. */
struct stale_marks {
	unsigned char (*keys)[TALLY_MARK_LEN];
	size_t n, cap;
	size_t max;
	int64_t before;
};

static int
stale_mark(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct stale_marks *st = ctx;
	struct ledger_seq_rec r;

	if (!tally_is_mark(k, kl))
		return 1; /* past the marks */
	if (record_decode_ledger_seq(v, vl, &r) != 0 || r.at >= st->before)
		return 0;
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 64;
		void *p = realloc(st->keys, cap * TALLY_MARK_LEN);

		if (p == NULL)
			return 1;
		st->keys = p;
		st->cap = cap;
	}
	memcpy(st->keys[st->n++], k, TALLY_MARK_LEN);
	return st->n >= st->max;
}

void
tally_prune_marks(struct store *s, int64_t before, size_t max)
{
	unsigned char from[TALLY_MARK_LEN];
	struct stale_marks st;
	struct store_txn *t;
	size_t i;

	memset(&st, 0, sizeof st);
	st.before = before;
	st.max = max ? max : SIZE_MAX;
	if (store_scan_from(s, NULL, TBL_HISTORY, from, tally_mark_key(NULL, from), stale_mark,
	    &st) == ST_OK && st.n > 0 && store_txn_begin(s, &t) == ST_OK) {
		for (i = 0; i < st.n; i++)
			if (store_del(s, t, TBL_HISTORY, st.keys[i], TALLY_MARK_LEN) != ST_OK &&
			    store_exists(s, t, TBL_HISTORY, st.keys[i], TALLY_MARK_LEN) == ST_OK)
				break;
		if (i == st.n)
			store_txn_commit(t);
		else
			store_txn_abort(t);
	}
	free(st.keys);
}
