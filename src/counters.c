/*
 * counters.c - the shared counter file.
 *
 * Layout: a 4 KiB header page, nslots key slots of 32 bytes, then
 * norg = max(nslots / 8, 64) organization slots of 192 bytes, allocated
 * on disk when the file is created.  Both tables are open addressing with
 * linear probing; a slot belongs to one tag (a key digest's first bytes,
 * or a hash of an org id) for the life of the file, claimed by CAS from 0.
 *
 *   key slot:  tag, tat of the plan's limit, last use (s), tat of the
 *              key's own limit: one half cache line, read per request
 *   org slot:  line 1 (read per request): tag, the file's count per day,
 *              month and credits (each a quota word, policy.h), the base
 *              of each (what other files flushed to the ledger), flags
 *              and the id's length; line 2: the id; line 3: what the
 *              ledger holds of this file's counts (ledger.c's bookkeeping)
 *
 * Then a bitmap of org slots counted in since the flush last looked: the
 * flush visits those, not every slot (a bit is written once per org and
 * flush, read before it is set, so busy orgs do not bounce a cache line).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "counters.h"
#include "mapguard.h"
#include "record.h"

#define COUNTERS_MAGIC "KGCOUNT2"
#define COUNTERS_VERSION 2
#define HEADER_SIZE 4096
#define PROBE_MAX 64
/* counters.lock: its first word is the instance of the host's current file */
#define CURRENT_PAGE 4096

struct counters_header {
	char magic[8];
	uint32_t version;
	uint32_t nslots;
	uint32_t norg;
	uint32_t flags;      /* COUNTERS_REBUILT */
	int64_t created_at;
	uint64_t instance;
};

/*
 * Offsets of the words that change after creation, each where a request
 * reads it: the org/plan generation and the key index's anchor share a
 * cache line; the ledger's bookkeeping has its own.
 */
#define GENERATION_OFFSET 64
#define INDEX_ANCHOR_OFFSET 72
#define FLUSH_STATE_OFFSET 128
#define REPL_STATE_OFFSET 256

/* In an org slot's id_len: the ledger holds a record of it that cannot be read. */
#define ORG_DAMAGED (UINT64_C(1) << 63)
#define ORG_ID_LEN(v) ((v) & 0xff)

struct counter_slot {
	uint64_t tag;
	uint64_t tat;       /* the plan's limit */
	uint64_t last_used; /* seconds */
	uint64_t tat_key;   /* the key's own limit */
};

struct org_slot {
	uint64_t tag;
	uint64_t word[OC_COUNT];     /* this file's counts */
	uint64_t base[OC_COUNT];     /* flushed by other files, same word format */
	uint64_t id_len;             /* 0 while the id is being written; | ORG_DAMAGED */
	char id[ID_MAX];
	uint64_t flushed[OC_COUNT];  /* the ledger's copy of word[] */
	uint64_t pad[5];
};

_Static_assert(sizeof(struct counter_slot) == 32, "a key slot is half a cache line");
_Static_assert(sizeof(struct org_slot) == 192, "an org slot is three cache lines");
_Static_assert(sizeof(struct counters_header) <= GENERATION_OFFSET, "header fields end before the generation");
_Static_assert(FLUSH_STATE_OFFSET + sizeof(struct counters_flush_state) <= REPL_STATE_OFFSET, "bookkeeping ends before the replication state");
_Static_assert(REPL_STATE_OFFSET + sizeof(struct counters_repl) <= HEADER_SIZE, "replication state fits the header page");

struct counters {
	void *map;
	size_t maplen;
	struct counter_slot *slots;
	struct org_slot *orgs;
	uint64_t *dirty;     /* org slots counted in since the ledger's last look */
	uint32_t nslots, norg;
	uint64_t instance;
	int64_t created_at;
	uint32_t flags;
	dev_t dev;
	ino_t ino;
	struct mapguard guard;
	/* counters.lock's page (counters_watch): which file is the host's current one */
	uint64_t *current;
	dev_t lock_dev;
	ino_t lock_ino;
	struct mapguard lock_guard;
};

static uint32_t
org_slots_for(uint32_t nslots)
{
	uint32_t n = nslots / COUNTERS_KEYS_PER_ORG;

	return n < COUNTERS_ORG_SLOTS_MIN ? COUNTERS_ORG_SLOTS_MIN : n;
}

/* The dirty bitmap: one bit per org slot, in whole cache lines. */
static uint64_t
dirty_bytes(uint32_t norg)
{
	return ((uint64_t)norg + 511) / 512 * 64;
}

static uint64_t
file_size(uint32_t nslots, uint32_t norg)
{
	return HEADER_SIZE + (uint64_t)nslots * sizeof(struct counter_slot) +
	    (uint64_t)norg * sizeof(struct org_slot) + dirty_bytes(norg);
}

int
counters_create_at(const char *path, uint32_t nslots, uint64_t instance,
    uint32_t flags, char *err, size_t errlen)
{
	struct counters_header h;
	int fd, rc;

	if (nslots < COUNTERS_MIN_SLOTS || nslots > COUNTERS_MAX_SLOTS ||
	    (nslots & (nslots - 1)) != 0) {
		snprintf(err, errlen, "counter slots must be a power of two from %u to %u",
		    COUNTERS_MIN_SLOTS, COUNTERS_MAX_SLOTS);
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0660);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	memset(&h, 0, sizeof h);
	memcpy(h.magic, COUNTERS_MAGIC, 8);
	h.version = COUNTERS_VERSION;
	h.nslots = nslots;
	h.norg = org_slots_for(nslots);
	h.created_at = (int64_t)time(NULL);
	h.instance = instance;
	h.flags = flags;
	/*
	 * Allocated in full, not sparse: touching a hole of a mapped file on
	 * a full file system raises SIGBUS.
	 */
	rc = posix_fallocate(fd, 0, (off_t)file_size(h.nslots, h.norg));
	if (rc != 0 || pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h || fsync(fd) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(rc ? rc : errno));
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

int
counters_create(const char *dir, uint32_t nslots, char *err, size_t errlen)
{
	char path[PATHNAME_BUF];
	uint64_t instance = 0;

	if (snprintf(path, sizeof path, "%s/%s", dir, COUNTERS_FILE) >= (int)sizeof path) {
		snprintf(err, errlen, "store path too long");
		return -1;
	}
	while (instance == 0)
		if (RAND_bytes((unsigned char *)&instance, sizeof instance) != 1) {
			snprintf(err, errlen, "OpenSSL's random generator failed");
			return -1;
		}
	return counters_create_at(path, nslots, instance, 0, err, errlen);
}

struct counters *
counters_open_path(const char *path, char *err, size_t errlen)
{
	struct counters_header h;
	struct counters *c;
	struct stat st;
	int fd;

	if ((fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h ||
	    memcmp(h.magic, COUNTERS_MAGIC, 8) != 0 || h.version != COUNTERS_VERSION ||
	    h.nslots < COUNTERS_MIN_SLOTS || h.nslots > COUNTERS_MAX_SLOTS ||
	    (h.nslots & (h.nslots - 1)) != 0 || h.norg != org_slots_for(h.nslots) ||
	    h.instance == 0 || (uint64_t)st.st_size != file_size(h.nslots, h.norg)) {
		snprintf(err, errlen, "%s is not a keygate counter file of this version", path);
		close(fd);
		errno = EINVAL; /* callers tell a damaged file from a missing one */
		return NULL;
	}
	if ((c = calloc(1, sizeof *c)) == NULL) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return NULL;
	}
	c->maplen = (size_t)st.st_size;
	c->map = mmap(NULL, c->maplen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (c->map == MAP_FAILED) {
		snprintf(err, errlen, "cannot map %s: %s", path, strerror(errno));
		free(c);
		return NULL;
	}
	if (mapguard_add(&c->guard, c->map, c->maplen) != 0) {
		snprintf(err, errlen, "cannot map %s: too many mapped files", path);
		munmap(c->map, c->maplen);
		free(c);
		return NULL;
	}
	c->slots = (struct counter_slot *)((char *)c->map + HEADER_SIZE);
	c->orgs = (struct org_slot *)(c->slots + h.nslots);
	c->dirty = (uint64_t *)(c->orgs + h.norg);
	c->nslots = h.nslots;
	c->norg = h.norg;
	c->instance = h.instance;
	c->created_at = h.created_at;
	c->flags = h.flags;
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	return c;
}

struct counters *
counters_open(const char *dir, char *err, size_t errlen)
{
	char path[PATHNAME_BUF];

	if (snprintf(path, sizeof path, "%s/%s", dir, COUNTERS_FILE) >= (int)sizeof path) {
		snprintf(err, errlen, "store path too long");
		return NULL;
	}
	return counters_open_path(path, err, errlen);
}

void
counters_close(struct counters *c)
{
	if (c == NULL)
		return;
	if (c->current != NULL) {
		mapguard_remove(&c->lock_guard);
		munmap(c->current, CURRENT_PAGE);
	}
	mapguard_remove(&c->guard);
	munmap(c->map, c->maplen);
	free(c);
}

int
counters_intact(const struct counters *c)
{
	return !mapguard_lost(&c->guard) && (c->current == NULL || !mapguard_lost(&c->lock_guard));
}

/* Whether the file at path is not the one (dev, ino) we map. */
static int
moved(const char *path, dev_t dev, ino_t ino, struct stat *st)
{
	if (lstat(path, st) != 0)
		return errno == ENOENT;
	return st->st_dev != dev || st->st_ino != ino;
}

int
counters_replaced(const struct counters *c, const char *dir)
{
	char path[PATHNAME_BUF];
	struct stat st;

	if (!counters_usable(c))
		return 1;
	/* counters.lock deleted or replaced: map the new one (its page is what others bump) */
	snprintf(path, sizeof path, "%s/%s", dir, COUNTERS_LOCK);
	if (c->current != NULL && moved(path, c->lock_dev, c->lock_ino, &st))
		return 1;
	snprintf(path, sizeof path, "%s/%s", dir, COUNTERS_FILE);
	if (moved(path, c->dev, c->ino, &st))
		return 1;
	/* truncated or grown in place is as good as replaced */
	return (size_t)st.st_size != c->maplen;
}

int
counters_watch(struct counters *c, const char *dir, char *err, size_t errlen)
{
	char path[PATHNAME_BUF];
	struct stat st;
	void *map;
	int fd, rc = 0;

	if (c->current != NULL)
		return 0;
	if (snprintf(path, sizeof path, "%s/%s", dir, COUNTERS_LOCK) >= (int)sizeof path) {
		snprintf(err, errlen, "store path too long");
		return -1;
	}
	if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0660)) < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		close(fd);
		return -1;
	}
	/* allocated, not sparse: a write to a hole on a full file system is a SIGBUS */
	if (st.st_size < CURRENT_PAGE)
		rc = posix_fallocate(fd, 0, CURRENT_PAGE);
	map = rc != 0 ? MAP_FAILED :
	    mmap(NULL, CURRENT_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		snprintf(err, errlen, "cannot map %s: %s", path, strerror(rc ? rc : errno));
		return -1;
	}
	if (mapguard_add(&c->lock_guard, map, CURRENT_PAGE) != 0) {
		snprintf(err, errlen, "cannot map %s: too many mapped files", path);
		munmap(map, CURRENT_PAGE);
		return -1;
	}
	c->current = map;
	c->lock_dev = st.st_dev;
	c->lock_ino = st.st_ino;
	return 0;
}

int
counters_current(const struct counters *c)
{
	return c->current == NULL || __atomic_load_n(c->current, __ATOMIC_ACQUIRE) == c->instance;
}

int
counters_usable(const struct counters *c)
{
	return c != NULL && counters_intact(c) && counters_current(c);
}

void
counters_make_current(struct counters *c)
{
	if (c->current != NULL)
		__atomic_store_n(c->current, c->instance, __ATOMIC_RELEASE);
}

uint64_t
counters_instance(const struct counters *c)
{
	return c->instance;
}

int64_t
counters_created_at(const struct counters *c)
{
	return c->created_at;
}

uint32_t
counters_flags(const struct counters *c)
{
	return c->flags;
}

uint64_t
counters_generation(const struct counters *c)
{
	const uint64_t *g = (const uint64_t *)((const char *)c->map + GENERATION_OFFSET);

	return __atomic_load_n(g, __ATOMIC_ACQUIRE);
}

void
counters_bump_generation(struct counters *c)
{
	uint64_t *g = (uint64_t *)((char *)c->map + GENERATION_OFFSET);

	__atomic_add_fetch(g, 1, __ATOMIC_ACQ_REL);
}

struct keyindex_anchor *
counters_index_anchor(struct counters *c)
{
	return (struct keyindex_anchor *)((char *)c->map + INDEX_ANCHOR_OFFSET);
}

struct counters_flush_state *
counters_flush_state(struct counters *c)
{
	return (struct counters_flush_state *)((char *)c->map + FLUSH_STATE_OFFSET);
}

struct counters_repl *
counters_repl(struct counters *c)
{
	return (struct counters_repl *)((char *)c->map + REPL_STATE_OFFSET);
}

int
counters_repl_unavailable(struct counters *c, int64_t now_s)
{
	struct counters_repl *r = counters_repl(c);

	uint32_t state = __atomic_load_n(&r->state, __ATOMIC_ACQUIRE);

	return state == COUNTERS_REPL_STOPPED || (state == COUNTERS_REPL_BEHIND &&
	    now_s - __atomic_load_n(&r->at, __ATOMIC_RELAXED) < COUNTERS_REPL_FRESH_S);
}

uint32_t
counters_nslots(const struct counters *c)
{
	return c->nslots;
}

uint32_t
counters_norg_slots(const struct counters *c)
{
	return c->norg;
}

uint32_t
counters_used(const struct counters *c)
{
	uint32_t i, n = 0;

	for (i = 0; i < c->nslots; i++)
		if (__atomic_load_n(&c->slots[i].tag, __ATOMIC_RELAXED) != 0)
			n++;
	return n;
}

/* Tags: kind in the top two bits, so a tag is never 0 (a free slot). */
uint64_t
counters_key_tag(const unsigned char d[DIGEST_LEN])
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | d[i];
	return (v >> 2) | (UINT64_C(1) << 62);
}

uint64_t
counters_org_tag(const char *org)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then a murmur finaliser */

	while (*org)
		h = (h ^ (unsigned char)*org++) * 0x100000001b3ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (h >> 2) | (UINT64_C(2) << 62);
}

/*
 * Probes a table of n slots (a power of two) of size bytes each, whose
 * first word is the tag: the slot of tag, or with create a free one it
 * claimed (*claimed = 1).  NULL: not found, or no free slot within
 * PROBE_MAX.
 */
static void *
probe(void *table, uint32_t n, size_t size, uint64_t tag, int create, int *claimed)
{
	uint32_t mask = n - 1, i, idx = (uint32_t)(tag ^ (tag >> 32)) & mask;

	*claimed = 0;
	for (i = 0; i < PROBE_MAX && i < n; i++) {
		uint64_t *t = (uint64_t *)((char *)table + (size_t)((idx + i) & mask) * size);
		uint64_t cur = __atomic_load_n(t, __ATOMIC_ACQUIRE);

		if (cur == tag)
			return t;
		if (cur == 0) {
			uint64_t expect = 0;

			if (!create)
				return NULL;
			if (__atomic_compare_exchange_n(t, &expect, tag, 0,
			    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
				*claimed = 1;
				return t;
			}
			if (expect == tag)
				return t;
		}
	}
	return NULL;
}

struct counter_slot *
counters_find(struct counters *c, uint64_t tag, int create)
{
	int claimed;

	return probe(c->slots, c->nslots, sizeof(struct counter_slot), tag, create, &claimed);
}

static uint64_t *
tat_of(struct counter_slot *s, enum rate_which w)
{
	return w == RATE_KEY ? &s->tat_key : &s->tat;
}

void
counters_rate(struct counter_slot *s, enum rate_which w, const struct rate_spec *r,
    uint64_t now_ns, int consume, struct rate_result *res)
{
	uint64_t *p = tat_of(s, w);
	uint64_t cur = __atomic_load_n(p, __ATOMIC_ACQUIRE), next;

	for (;;) {
		/*
		 * On a denial, next may still differ from cur: a tat a clock
		 * step left in the future is clamped, and the clamp is kept.
		 */
		next = policy_gcra(cur, now_ns, r, consume, res);
		if (next == cur)
			return;
		if (__atomic_compare_exchange_n(p, &cur, next, 0,
		    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return;
	}
}

void
counters_rate_refund(struct counter_slot *s, enum rate_which w,
    const struct rate_spec *r, uint64_t now_ns)
{
	uint64_t *p = tat_of(s, w);
	uint64_t cur = __atomic_load_n(p, __ATOMIC_ACQUIRE), next;

	do {
		next = policy_gcra_refund(cur, now_ns, r);
		if (next == cur)
			return;
	} while (!__atomic_compare_exchange_n(p, &cur, next, 0,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
}

void
counters_touch(struct counter_slot *s, int64_t now_s)
{
	uint64_t last = __atomic_load_n(&s->last_used, __ATOMIC_RELAXED);

	/* "within a minute": one store per key per 30 s, not per request */
	if ((int64_t)last + 30 <= now_s)
		__atomic_store_n(&s->last_used, (uint64_t)now_s, __ATOMIC_RELAXED);
}

int64_t
counters_last_used(struct counter_slot *s)
{
	return (int64_t)__atomic_load_n(&s->last_used, __ATOMIC_RELAXED);
}

/* ---- organizations ---- */

struct org_slot *
counters_org(struct counters *c, const char *id, int create)
{
	size_t n = strlen(id);
	struct org_slot *s;
	int claimed;

	if (n == 0 || n > ID_MAX)
		return NULL;
	s = probe(c->orgs, c->norg, sizeof(struct org_slot), counters_org_tag(id),
	    create, &claimed);
	/*
	 * The id is written by whoever finds it missing (the claimer, or a
	 * process that comes after one that died between the two steps): the
	 * same bytes every time, so racing writers agree.
	 */
	if (s != NULL && ORG_ID_LEN(__atomic_load_n(&s->id_len, __ATOMIC_ACQUIRE)) == 0) {
		memcpy(s->id, id, n);
		__atomic_or_fetch(&s->id_len, (uint64_t)n, __ATOMIC_RELEASE);
	}
	return s;
}

void
counters_org_set_damaged(struct org_slot *s, int damaged)
{
	if (damaged)
		__atomic_or_fetch(&s->id_len, ORG_DAMAGED, __ATOMIC_RELEASE);
	else
		__atomic_and_fetch(&s->id_len, ~ORG_DAMAGED, __ATOMIC_RELEASE);
}

int
counters_org_damaged(struct org_slot *s)
{
	return (__atomic_load_n(&s->id_len, __ATOMIC_ACQUIRE) & ORG_DAMAGED) != 0;
}

int
counters_org_at(struct counters *c, uint32_t i, char id[ID_MAX + 1],
    struct org_slot **out)
{
	struct org_slot *s;
	uint64_t n;

	if (i >= c->norg)
		return -1;
	s = &c->orgs[i];
	n = ORG_ID_LEN(__atomic_load_n(&s->id_len, __ATOMIC_ACQUIRE));
	if (__atomic_load_n(&s->tag, __ATOMIC_ACQUIRE) == 0 || n == 0 || n > ID_MAX)
		return -1;
	memcpy(id, s->id, n);
	id[n] = '\0';
	/* a damaged or hostile file: never trust an id that is not its tag's */
	if (strlen(id) != n || counters_org_tag(id) != s->tag)
		return -1;
	*out = s;
	return 0;
}

uint32_t
counters_period(enum org_counter which, int64_t now_s)
{
	switch (which) {
	case OC_DAY:
		return policy_period_id(QUOTA_DAY, now_s);
	case OC_MONTH:
		return policy_period_id(QUOTA_MONTH, now_s);
	default:
		return policy_period_id(QUOTA_CREDITS, now_s);
	}
}

void
counters_org_mark_dirty(struct counters *c, struct org_slot *s)
{
	size_t i = (size_t)(s - c->orgs);
	uint64_t bit = UINT64_C(1) << (i % 64), *w = &c->dirty[i / 64];

	if (!(__atomic_load_n(w, __ATOMIC_RELAXED) & bit))
		__atomic_or_fetch(w, bit, __ATOMIC_SEQ_CST);
}

int64_t
counters_org_next_dirty(struct counters *c, uint32_t from)
{
	uint32_t i;

	for (i = from; i < c->norg; i++) {
		uint64_t w = __atomic_load_n(&c->dirty[i / 64], __ATOMIC_RELAXED);

		if (w == 0) {
			i |= 63; /* a whole word of clean slots */
			continue;
		}
		if (w & (UINT64_C(1) << (i % 64))) {
			/* cleared before the counts are read: a later count marks it again */
			__atomic_and_fetch(&c->dirty[i / 64], ~(UINT64_C(1) << (i % 64)),
			    __ATOMIC_SEQ_CST);
			return i;
		}
	}
	return -1;
}

void
counters_quota(struct counters *c, struct org_slot *s, enum org_counter which, uint64_t quota,
    uint32_t overage_pct, int64_t now_s, int consume, struct quota_result *res)
{
	uint32_t pid = counters_period(which, now_s);
	uint64_t base = policy_quota_used(__atomic_load_n(&s->base[which], __ATOMIC_ACQUIRE), pid);
	uint64_t *p = &s->word[which];
	uint64_t cur = __atomic_load_n(p, __ATOMIC_ACQUIRE), next;

	for (;;) {
		next = policy_quota_based(cur, pid, base, quota, overage_pct, consume, res);
		if (next == cur || !res->allowed)
			return;
		if (__atomic_compare_exchange_n(p, &cur, next, 0,
		    __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE)) {
			counters_org_mark_dirty(c, s);
			return;
		}
	}
}

void
counters_count(struct counters *c, struct org_slot *s, enum org_counter which,
    int64_t now_s)
{
	struct quota_result q;

	counters_quota(c, s, which, QUOTA_USED_MAX, 0, now_s, 1, &q);
}

uint64_t
counters_org_used(struct org_slot *s, enum org_counter which, uint32_t period_id)
{
	uint64_t w = __atomic_load_n(&s->word[which], __ATOMIC_ACQUIRE);
	uint64_t b = __atomic_load_n(&s->base[which], __ATOMIC_ACQUIRE);

	return policy_quota_used(w, period_id) + policy_quota_used(b, period_id);
}

uint64_t
counters_org_word(struct org_slot *s, enum org_counter which)
{
	return __atomic_load_n(&s->word[which], __ATOMIC_ACQUIRE);
}

uint64_t
counters_org_base(struct org_slot *s, enum org_counter which)
{
	return __atomic_load_n(&s->base[which], __ATOMIC_ACQUIRE);
}

void
counters_org_set_base(struct org_slot *s, enum org_counter which, uint64_t word)
{
	__atomic_store_n(&s->base[which], word, __ATOMIC_RELEASE);
}

uint64_t
counters_org_flushed(struct org_slot *s, enum org_counter which)
{
	return __atomic_load_n(&s->flushed[which], __ATOMIC_ACQUIRE);
}

void
counters_org_set_flushed(struct org_slot *s, enum org_counter which, uint64_t word)
{
	__atomic_store_n(&s->flushed[which], word, __ATOMIC_RELEASE);
}
