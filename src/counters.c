/*
 * counters.c - the shared counter file.
 *
 * Layout: a 4 KiB header page, then nslots slots of 32 bytes, allocated
 * on disk when the store is created.  A slot
 * belongs to one tag (a key digest's first bytes, or a hash of an org id)
 * forever; tags are claimed by CAS from 0, found by linear probing.
 *   key slot: a = GCRA tat (ns), b = last use (s)
 *   org slot: a = quota word (period | used), b = the previous period's word
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

#include "counters.h"

#define COUNTERS_MAGIC "KGCOUNT1"
#define HEADER_SIZE 4096
#define PROBE_MAX 64

struct counters_header {
	char magic[8];
	uint32_t version;
	uint32_t nslots;
	int64_t created_at;
};

struct counter_slot {
	uint64_t tag;
	uint64_t a;
	uint64_t b;
	uint64_t c;
};

/*
 * Offset of the org/plan generation word: its own cache line, shared with
 * the key index's anchor, since a request reads both.
 */
#define GENERATION_OFFSET 64
#define INDEX_ANCHOR_OFFSET 72

struct counters {
	void *map;
	size_t maplen;
	struct counter_slot *slots;
	uint32_t nslots;
};

static void
counters_path(const char *dir, char *buf, size_t n)
{
	snprintf(buf, n, "%s/%s", dir, COUNTERS_FILE);
}

int
counters_create(const char *dir, uint32_t nslots, char *err, size_t errlen)
{
	struct counters_header h;
	char path[PATHNAME_BUF];
	int fd, rc;

	if (nslots == 0 || (nslots & (nslots - 1)) != 0) {
		snprintf(err, errlen, "counter slots must be a power of two");
		return -1;
	}
	counters_path(dir, path, sizeof path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0660);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	memset(&h, 0, sizeof h);
	memcpy(h.magic, COUNTERS_MAGIC, 8);
	h.version = 1;
	h.nslots = nslots;
	h.created_at = (int64_t)time(NULL);
	/*
	 * Allocated in full, not sparse: touching a hole of a mapped file on
	 * a full file system raises SIGBUS, which would kill the authorizer.
	 */
	rc = posix_fallocate(fd, 0, HEADER_SIZE + (off_t)nslots * (off_t)sizeof(struct counter_slot));
	if (rc != 0 || pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h || fsync(fd) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(rc ? rc : errno));
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

struct counters *
counters_open(const char *dir, char *err, size_t errlen)
{
	struct counters_header h;
	struct counters *c;
	struct stat st;
	char path[PATHNAME_BUF];
	int fd;

	counters_path(dir, path, sizeof path);
	if ((fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h ||
	    memcmp(h.magic, COUNTERS_MAGIC, 8) != 0 || h.version != 1 ||
	    h.nslots == 0 || (h.nslots & (h.nslots - 1)) != 0 ||
	    (uint64_t)st.st_size != HEADER_SIZE + (uint64_t)h.nslots * sizeof(struct counter_slot)) {
		snprintf(err, errlen, "%s is not a keygate counter file of this version", path);
		close(fd);
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
	c->slots = (struct counter_slot *)((char *)c->map + HEADER_SIZE);
	c->nslots = h.nslots;
	return c;
}

void
counters_close(struct counters *c)
{
	if (c == NULL)
		return;
	munmap(c->map, c->maplen);
	free(c);
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

uint32_t
counters_nslots(const struct counters *c)
{
	return c->nslots;
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

struct counter_slot *
counters_find(struct counters *c, uint64_t tag, int create)
{
	uint32_t mask = c->nslots - 1, i, idx = (uint32_t)(tag ^ (tag >> 32)) & mask;

	for (i = 0; i < PROBE_MAX && i < c->nslots; i++) {
		struct counter_slot *s = &c->slots[(idx + i) & mask];
		uint64_t cur = __atomic_load_n(&s->tag, __ATOMIC_ACQUIRE);

		if (cur == tag)
			return s;
		if (cur == 0) {
			uint64_t expect = 0;
			if (!create)
				return NULL;
			if (__atomic_compare_exchange_n(&s->tag, &expect, tag, 0,
			    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) || expect == tag)
				return s;
		}
	}
	return NULL;
}

void
counters_rate(struct counter_slot *s, const struct rate_spec *r,
    uint64_t now_ns, int consume, struct rate_result *res)
{
	uint64_t cur = __atomic_load_n(&s->a, __ATOMIC_ACQUIRE), next;

	for (;;) {
		/*
		 * On a denial, next may still differ from cur: a tat a clock
		 * step left in the future is clamped, and the clamp is kept.
		 */
		next = policy_gcra(cur, now_ns, r, consume, res);
		if (next == cur)
			return;
		if (__atomic_compare_exchange_n(&s->a, &cur, next, 0,
		    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return;
	}
}

void
counters_quota(struct counter_slot *s, enum quota_period kind, uint64_t quota,
    uint32_t overage_pct, int64_t now_s, int consume, struct quota_result *res)
{
	uint32_t pid = policy_period_id(kind, now_s);
	uint64_t cur = __atomic_load_n(&s->a, __ATOMIC_ACQUIRE), next;

	for (;;) {
		next = policy_quota(cur, pid, quota, overage_pct, consume, res);
		if (next == cur || !res->allowed)
			return;
		if (__atomic_compare_exchange_n(&s->a, &cur, next, 0,
		    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			break;
	}
	/*
	 * This CAS ended the previous period, so cur holds its final count:
	 * keep it for `keygate usage`.
	 */
	if (cur != 0 && (uint32_t)(cur >> QUOTA_USED_BITS) != pid)
		__atomic_store_n(&s->b, cur, __ATOMIC_RELEASE);
}

uint64_t
counters_quota_used(struct counter_slot *s, uint32_t period_id)
{
	uint64_t a = __atomic_load_n(&s->a, __ATOMIC_ACQUIRE);
	uint64_t b = __atomic_load_n(&s->b, __ATOMIC_ACQUIRE);

	if ((uint32_t)(a >> QUOTA_USED_BITS) == period_id)
		return a & QUOTA_USED_MAX;
	return policy_quota_used(b, period_id);
}

void
counters_touch(struct counter_slot *s, int64_t now_s)
{
	uint64_t last = __atomic_load_n(&s->b, __ATOMIC_RELAXED);

	/* "within a minute": one store per key per 30 s, not per request */
	if ((int64_t)last + 30 <= now_s)
		__atomic_store_n(&s->b, (uint64_t)now_s, __ATOMIC_RELAXED);
}

int64_t
counters_last_used(struct counter_slot *s)
{
	return (int64_t)__atomic_load_n(&s->b, __ATOMIC_RELAXED);
}
