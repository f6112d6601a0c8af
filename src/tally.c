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
 * A buffer holds the distinct (day, org or key) a process sees between two
 * flushes, in up to TALLY_LEVELS tables: the first of TALLY_SLOTS entries
 * (1.3 MiB), made with the buffer; when a request finds no room in it
 * within TALLY_PROBE slots (more distinct ids in a second than it holds),
 * that request makes the next table, twice as large, and counts there; a
 * lookup probes the tables in order.  An id whose window in one table is
 * full stays out of it until the flush empties the buffer, so an id is
 * counted in one table (two threads that claim it at once may each get an
 * entry: both are written, and added up).  A table that went unused for
 * a whole flush is freed.  Past the last table (122,880 entries in all),
 * or when memory runs out, a request is not in the history: counted in
 * dropped and logged, never waited for.
 */
#define TALLY_SLOTS 8192
#define TALLY_LEVELS 4
#define TALLY_PROBE 64
#define TALLY_BATCH 256 /* records per transaction: a second's worth in a few commits */
/* records per batch forwarded to the master: larger buffers go as several */
#define TALLY_FORWARD_MAX 8192

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
	struct tally_entry *level[TALLY_LEVELS]; /* level l: TALLY_SLOTS << l entries */
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
	/* the buffer being sent, TALLY_FORWARD_MAX records a batch, and how far */
	struct tally_buf *draining;
	uint32_t drained;
	/* the flushed buffer's entries in the history table's key order (sort_entries) */
	struct tally_entry **order;
	uint32_t norder, order_cap;
	unsigned levels_held; /* bit l: table l held one of them (for trim) */
};

struct tally *
tally_new(void)
{
	struct tally *t = calloc(1, sizeof *t);

	if (t == NULL)
		return NULL;
	t->b[0].level[0] = calloc(TALLY_SLOTS, sizeof(struct tally_entry));
	t->b[1].level[0] = calloc(TALLY_SLOTS, sizeof(struct tally_entry));
	if (t->b[0].level[0] == NULL || t->b[1].level[0] == NULL ||
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
	int b, l;

	if (t == NULL)
		return;
	for (b = 0; b < 2; b++)
		for (l = 0; l < TALLY_LEVELS; l++)
			free(t->b[b].level[l]);
	free(t->order);
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

static uint32_t
level_slots(int l)
{
	return (uint32_t)TALLY_SLOTS << l;
}

/* The entry of (day, kind, id) in one table of n slots, claimed if need be; NULL: no room. */
static struct tally_entry *
probe(struct tally_entry *tab, uint32_t n, uint64_t tag, uint32_t day, int kind,
    const char *id, size_t len)
{
	uint32_t i, at = (uint32_t)tag & (n - 1);

	for (i = 0; i < TALLY_PROBE; i++) {
		struct tally_entry *e = &tab[(at + i) & (n - 1)];
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

/*
 * Table l of b, made now if it is not there yet; NULL when memory runs
 * out.  Made by a request that found no room below it: rare, and the
 * allocation's zero pages cost only where entries land.
 */
static struct tally_entry *
table(struct tally_buf *b, int l)
{
	struct tally_entry *tab = __atomic_load_n(&b->level[l], __ATOMIC_ACQUIRE), *none = NULL;

	if (tab != NULL)
		return tab;
	if ((tab = calloc(level_slots(l), sizeof *tab)) == NULL)
		return NULL;
	if (!__atomic_compare_exchange_n(&b->level[l], &none, tab, 0, __ATOMIC_ACQ_REL,
	    __ATOMIC_ACQUIRE)) {
		free(tab); /* another thread made it first */
		return none;
	}
	return tab;
}

/* The entry of (day, kind, id) in b, claimed if need be; NULL: no room. */
static struct tally_entry *
entry(struct tally_buf *b, uint32_t day, int kind, const char *id, size_t len)
{
	uint64_t tag = entry_tag(day, kind, id, len);
	struct tally_entry *tab, *e;
	int l;

	for (l = 0; l < TALLY_LEVELS; l++) {
		if ((tab = table(b, l)) == NULL)
			return NULL;
		if ((e = probe(tab, level_slots(l), tag, day, kind, id, len)) != NULL)
			return e;
	}
	return NULL;
}

/*
 * After a flush emptied b: frees the tables past the first that held
 * nothing (levels_held, from sort_entries), so that a peak's memory goes
 * back.  Tables are made in order and must stay a prefix: one that held
 * entries keeps every table below it.
 */
static void
trim(struct tally_buf *b, unsigned levels_held)
{
	int l;

	for (l = TALLY_LEVELS - 1; l > 0 && !(levels_held & (1u << l)); l--) {
		free(b->level[l]);
		b->level[l] = NULL;
	}
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

/* Whether an entry of a buffer no thread counts into holds counts. */
static int
holds(const struct tally_entry *e)
{
	return e->tag != 0 && e->ready;
}

/* The history table's order of two entries' keys (tally_key): day, kind, id. */
static int
key_order(const void *pa, const void *pb)
{
	const struct tally_entry *a = *(const struct tally_entry *const *)pa,
	    *b = *(const struct tally_entry *const *)pb;
	int c;

	if (a->day != b->day)
		return a->day < b->day ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if ((c = memcmp(a->id, b->id, a->len < b->len ? a->len : b->len)) != 0)
		return c;
	return (a->len > b->len) - (a->len < b->len);
}

/*
 * The entries of b that hold counts, into t->order in the history table's
 * key order: written so, a flush's transactions take their page locks in
 * one order (two workers flushing at the same tick deadlocked five times
 * running on random orders, measured: history lost under load) and walk
 * the btree's leaves in turn.  0, or -1 when memory runs out.
 */
static int
sort_entries(struct tally *t, struct tally_buf *b)
{
	uint32_t i, slots = 0;
	int l;

	for (l = 0; l < TALLY_LEVELS && b->level[l] != NULL; l++)
		slots += level_slots(l);
	if (t->order_cap < slots) {
		struct tally_entry **o = realloc(t->order, slots * sizeof *o);

		if (o == NULL)
			return -1;
		t->order = o;
		t->order_cap = slots;
	}
	t->norder = 0;
	t->levels_held = 0;
	for (l = 0; l < TALLY_LEVELS && b->level[l] != NULL; l++)
		for (i = 0; i < level_slots(l); i++) {
			struct tally_entry *e = &b->level[l][i];

			if (holds(e)) {
				t->order[t->norder++] = e;
				t->levels_held |= 1u << l;
			}
		}
	qsort(t->order, t->norder, sizeof *t->order, key_order);
	return 0;
}

/* Writes n entries in one transaction; a deadlock is tried again after a pause. */
static int
write_batch(struct store *s, struct tally_entry *const *e, uint32_t n)
{
	struct store_txn *t;
	uint32_t i;
	int rc, attempt;

	for (attempt = 0; attempt < 5; attempt++) {
		if ((rc = store_txn_begin(s, &t)) != ST_OK)
			return rc;
		for (i = 0; i < n && rc == ST_OK; i++)
			rc = write_entry(s, t, e[i]);
		if (rc == ST_OK)
			rc = store_txn_commit(t);
		else
			store_txn_abort(t);
		if (rc != ST_DEADLOCK)
			return rc;
		usleep(1000u << attempt);
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

/*
 * The next batch of the draining buffer's entries (t->order) from
 * t->drained on, at most TALLY_FORWARD_MAX records, as t->pending: those
 * entries are cleared and t->drained moves past them.  0 (t->pending
 * still NULL: nothing was left), or -1: out of memory, nothing cleared,
 * tried again at the next flush.
 */
static int
encode_batch(struct tally *t)
{
	uint32_t i, n = t->norder - t->drained;
	struct replmsg_w w;
	int k;

	if (n == 0)
		return 0;
	if (n > TALLY_FORWARD_MAX)
		n = TALLY_FORWARD_MAX;
	rmw_init(&w);
	rmw_request(&w, RM_HISTORY);
	rmw_u64(&w, t->proc);
	rmw_u64(&w, t->seq);
	rmw_u32(&w, n);
	for (i = 0; i < n; i++) {
		const struct tally_entry *e = t->order[t->drained + i];
		char id[ID_MAX + 1];

		entry_id(e, id);
		rmw_u32(&w, e->day);
		rmw_u8(&w, e->kind);
		rmw_str(&w, id);
		for (k = 0; k < H_COUNT; k++)
			rmw_u64(&w, e->n[k]);
		rmw_i64(&w, e->last_used);
	}
	if (w.failed) {
		rmw_free(&w);
		return -1;
	}
	for (i = 0; i < n; i++)
		memset(t->order[t->drained + i], 0, sizeof(struct tally_entry));
	t->drained += n;
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
 * A replicated store: this process's counts go to the master in batches
 * of at most TALLY_FORWARD_MAX records, each of which the master applies
 * once (batch_fresh).  Until the master confirms one, the same batch is
 * sent again, the rest of its buffer waits, and new counts wait in the
 * other buffer.  Sends every batch of the buffer it swaps out (at most
 * one swap a call).  The records sent, or -1 with err.
 */
static int
forward_flush(struct tally *t, struct store *s, uint64_t *dropped, char *err,
    size_t errlen)
{
	char why[300];
	struct tally_buf *b, *now;
	int sent = 0, swapped = 0;
	uint32_t records;

	if (dropped != NULL)
		*dropped = 0;
	for (;;) {
		if (t->pending != NULL) {
			records = t->pending_records;
			if (send_pending(t, s, why, sizeof why) != 0) {
				snprintf(err, errlen, "cannot send the usage history to the master: %s",
				    why);
				return -1;
			}
			sent += (int)records;
		}
		if (t->draining == NULL) {
			if (swapped)
				return sent;
			b = take_inactive(t, &now);
			swapped = 1;
			if (dropped != NULL)
				*dropped = __atomic_exchange_n(&b->dropped, 0, __ATOMIC_RELAXED);
			if (sort_entries(t, b) != 0) {
				/* its entries stay: counted into again, flushed with the next second */
				snprintf(err, errlen, "out of memory: the usage history waits for the next flush");
				return -1;
			}
			t->draining = b;
			t->drained = 0;
		}
		if (encode_batch(t) != 0) {
			snprintf(err, errlen, "out of memory: the usage history waits for the next flush");
			return -1;
		}
		if (t->pending == NULL) { /* all of it sent */
			trim(t->draining, t->levels_held);
			t->draining = NULL;
		}
	}
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
	for (i = 0; !r->failed && count <= TALLY_FORWARD_MAX && i < count; i++)
		if (read_item(r, &it) != 0)
			break;
	if (count == 0 || count > TALLY_FORWARD_MAX || i < count || !rmr_done(r)) {
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

/*
 * This host sent its history to the master and is the master now: the
 * batch it had not seen confirmed is applied here, once (its mark says
 * whether the old master had it), and the rest of the buffer it was
 * sending is written when that buffer is next swapped out.
 */
static int
settle_forwarding(struct tally *t, struct store *s, char *err, size_t errlen)
{
	struct replmsg_r r, a;
	struct replmsg_w w;
	const char *msg = "a malformed batch";
	int ok = 0;

	t->draining = NULL;
	if (t->pending == NULL)
		return 0;
	rmr_init(&r, t->pending, t->pending_len);
	rmw_init(&w);
	if (rmr_request(&r) == RM_HISTORY) {
		tally_apply(s, &r, &w);
		rmr_init(&a, w.buf, w.len);
		ok = !w.failed && rmr_answer(&a, &msg) == RS_OK;
	}
	if (!ok)
		snprintf(err, errlen, "cannot write the usage history: %s", w.failed ?
		    "out of memory" : msg);
	rmw_free(&w);
	if (!ok)
		return -1;
	free(t->pending);
	t->pending = NULL;
	t->pending_len = 0;
	t->seq++;
	return 0;
}

int
tally_flush(struct tally *t, struct store *s, uint64_t *dropped, char *err,
    size_t errlen)
{
	uint32_t i, from, to, written = 0;
	struct tally_buf *b, *now;
	int rc = ST_OK;

	if (!store_writable(s))
		return forward_flush(t, s, dropped, err, errlen);
	if ((t->pending != NULL || t->draining != NULL) && settle_forwarding(t, s, err, errlen) != 0)
		return -1;
	b = take_inactive(t, &now);
	if (dropped != NULL)
		*dropped = __atomic_exchange_n(&b->dropped, 0, __ATOMIC_RELAXED);
	if (sort_entries(t, b) != 0) {
		/* its entries stay: counted into again, flushed with the next second */
		snprintf(err, errlen, "out of memory: the usage history waits for the next flush");
		return -1;
	}
	for (from = 0; from < t->norder; from = to) {
		to = t->norder - from > TALLY_BATCH ? from + TALLY_BATCH : t->norder;
		if ((rc = write_batch(s, t->order + from, to - from)) != ST_OK)
			break;
		written = to;
	}
	/* what was written is cleared; what was not goes back into the active buffer */
	for (i = 0; i < t->norder; i++) {
		struct tally_entry *e = t->order[i];

		if (i >= written) {
			char id[ID_MAX + 1];

			entry_id(e, id);
			count_in(now, e->day, e->kind, id, e->n, e->last_used);
		}
		memset(e, 0, sizeof *e);
	}
	trim(b, t->levels_held);
	if (rc != ST_OK) {
		snprintf(err, errlen, "cannot write the usage history: %s",
		    rc == ST_DEADLOCK ? "deadlocked five times" : store_errmsg(s));
		return -1;
	}
	return (int)written;
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
