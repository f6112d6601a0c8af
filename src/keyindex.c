/*
 * keyindex.c - the key index file.
 *
 * Layout: a 4 KiB header, key_slots entries of 64 bytes (one cache line
 * each), then org_slots entries of 256 bytes.  Both tables use open
 * addressing with linear probing: keys on their digest (uniform already),
 * orgs on a hash of their id.  An entry never moves; a deleted one becomes
 * a tombstone.  A key entry names its org by the org's slot, and an org
 * slot is only ever reused for the same id, so that name cannot go wrong.
 * A table fuller than LOAD_MAX_PCT is rebuilt larger, into a new file.
 *
 * Readers copy what they need between two reads of the anchor's sequence
 * number and trust the copy only if it did not move; what they read in
 * between may be torn, so every loop and index is bounded by the sizes
 * the reader saw when it mapped the file, never by the file's header.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "keyindex.h"
#include "mapguard.h"

#define KIX_MAGIC     "KGINDEX1"
#define KIX_VERSION   1
#define HEADER_SIZE   4096
#define BOOT_ID_MAX   40
#define KIX_ID_CHARS  16  /* what follows "key_" in a key id */
#define LOAD_MAX_PCT  80  /* beyond this, probes get long: rebuild larger */
#define KEY_SLOTS_MAX (UINT64_C(1) << 31)
#define ORG_SLOTS_MAX (UINT64_C(1) << 24)
#define PROGRESS_EVERY 4096

enum entry_state { E_EMPTY, E_FULL, E_SLOW, E_DELETED };

struct kix_header {
	char magic[8];
	uint32_t version;
	uint32_t key_entry_size;
	uint32_t org_entry_size;
	uint32_t plain;          /* some key is a plain digest (KEYF_PLAIN) */
	uint64_t id;             /* this file's id: current when the anchor's */
	uint64_t key_slots, org_slots;
	uint64_t keys_used, orgs_used; /* entries not empty (tombstones count) */
	char boot_id[BOOT_ID_MAX];
};

struct kix_key {
	unsigned char digest[DIGEST_LEN];
	char id[KIX_ID_CHARS];
	uint32_t org;     /* org slot + 1 */
	uint32_t expires; /* the record's expires_at: 0 never, else 1..2^32-1 s */
	uint8_t state;
	uint8_t flags;    /* KEYF_* */
	uint8_t pad[6];
};

struct kix_org {
	uint8_t state;
	uint8_t id_len;
	uint16_t rec_len;
	char id[ID_MAX + 4];
	unsigned char rec[KIX_ORG_REC_MAX];
};

_Static_assert(sizeof(struct kix_key) == 64, "a key entry is one cache line");
_Static_assert(sizeof(struct kix_org) == 256, "an org entry is 256 bytes");
_Static_assert(sizeof(struct kix_header) <= HEADER_SIZE, "the header fits its page");

struct keyindex {
	struct keyindex_anchor *anchor;
	void *map;
	size_t maplen;
	struct kix_header *h;
	struct kix_key *keys;
	struct kix_org *orgs;
	uint64_t key_slots, org_slots, id; /* as mapped: never re-read */
	struct mapguard guard;             /* the file truncated under us: see mapguard.h */
	/* writers */
	char dir[PATHNAME_MAX + 1];
	int lock_fd;
	int began;
	int rebuild;
};

/* ---- files ---- */

static int
path_in(const char *dir, const char *name, char *buf, size_t n)
{
	int r = snprintf(buf, n, "%s/%s", dir, name);

	return r < 0 || (size_t)r >= n ? -1 : 0;
}

/*
 * This boot's id: an index written in another boot may hold pages the
 * kernel never wrote back while the store's log has them, or the reverse.
 */
static int
read_boot_id(char out[BOOT_ID_MAX])
{
	ssize_t n;
	int fd;

	memset(out, 0, BOOT_ID_MAX);
	if ((fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, out, BOOT_ID_MAX - 1);
	close(fd);
	if (n < 32) {
		memset(out, 0, BOOT_ID_MAX);
		return -1;
	}
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

static uint64_t
file_size(uint64_t key_slots, uint64_t org_slots)
{
	return HEADER_SIZE + key_slots * sizeof(struct kix_key) +
	    org_slots * sizeof(struct kix_org);
}

static int
header_valid(const struct kix_header *h, uint64_t size)
{
	char boot[BOOT_ID_MAX];

	return memcmp(h->magic, KIX_MAGIC, 8) == 0 && h->version == KIX_VERSION &&
	    h->key_entry_size == sizeof(struct kix_key) &&
	    h->org_entry_size == sizeof(struct kix_org) &&
	    h->key_slots > 0 && h->key_slots <= KEY_SLOTS_MAX &&
	    h->org_slots > 0 && h->org_slots <= ORG_SLOTS_MAX &&
	    size == file_size(h->key_slots, h->org_slots) && h->id != 0 &&
	    read_boot_id(boot) == 0 && memcmp(boot, h->boot_id, BOOT_ID_MAX) == 0;
}

static void
attach(struct keyindex *x, void *map, size_t len)
{
	x->map = map;
	x->maplen = len;
	x->h = map;
	x->keys = (struct kix_key *)((char *)map + HEADER_SIZE);
	x->key_slots = x->h->key_slots;
	x->org_slots = x->h->org_slots;
	x->orgs = (struct kix_org *)(x->keys + x->key_slots);
	x->id = x->h->id;
}

static void
detach(struct keyindex *x)
{
	if (x->map != NULL) {
		mapguard_remove(&x->guard);
		munmap(x->map, x->maplen);
	}
	x->map = NULL;
	x->h = NULL;
}

/* Maps path when it is an index of this boot; 0, or -1 (x untouched). */
static int
map_file(struct keyindex *x, const char *path, int writable)
{
	struct kix_header h;
	struct stat st;
	void *map;
	int fd;

	if ((fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h ||
	    !header_valid(&h, (uint64_t)st.st_size)) {
		close(fd);
		return -1;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ | (writable ? PROT_WRITE : 0),
	    MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return -1;
	if (mapguard_add(&x->guard, map, (size_t)st.st_size) != 0) {
		munmap(map, (size_t)st.st_size);
		return -1;
	}
	attach(x, map, (size_t)st.st_size);
	return 0;
}

/* ---- probing ---- */

static uint64_t
key_home(const unsigned char d[DIGEST_LEN], uint64_t n)
{
	uint64_t v;

	memcpy(&v, d, sizeof v);
	return v % n;
}

static uint64_t
org_home(const char *id, size_t len, uint64_t n)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)id[i]) * 0x100000001b3ull;
	return h % n;
}

/*
 * The slot holding digest d, or -1.  *reuse (writers): the first empty or
 * deleted slot of the probe, where d may go.
 */
static int64_t
find_key(const struct keyindex *x, const unsigned char d[DIGEST_LEN],
    int64_t *reuse)
{
	uint64_t i, s = key_home(d, x->key_slots);

	if (reuse != NULL)
		*reuse = -1;
	for (i = 0; i < x->key_slots; i++) {
		const struct kix_key *e = &x->keys[s];

		if (e->state == E_EMPTY || e->state == E_DELETED) {
			if (reuse != NULL && *reuse < 0)
				*reuse = (int64_t)s;
			if (e->state == E_EMPTY)
				return -1;
		} else if (memcmp(e->digest, d, DIGEST_LEN) == 0) {
			return (int64_t)s;
		}
		if (++s == x->key_slots)
			s = 0;
	}
	return -1;
}

/* The slot of org id (deleted or not), or -1; *empty: where it may go. */
static int64_t
find_org(const struct keyindex *x, const char *id, size_t len, int64_t *empty)
{
	uint64_t i, s = org_home(id, len, x->org_slots);

	if (empty != NULL)
		*empty = -1;
	for (i = 0; i < x->org_slots; i++) {
		const struct kix_org *o = &x->orgs[s];

		if (o->state == E_EMPTY) {
			if (empty != NULL)
				*empty = (int64_t)s;
			return -1;
		}
		if (o->id_len == len && memcmp(o->id, id, len) == 0)
			return (int64_t)s;
		if (++s == x->org_slots)
			s = 0;
	}
	return -1;
}

static int
room(uint64_t used, uint64_t slots)
{
	return used * 100 <= slots * LOAD_MAX_PCT;
}

/* ---- readers ---- */

struct keyindex *
keyindex_open(const char *dir, struct keyindex_anchor *a)
{
	struct keyindex *x;
	char path[PATHNAME_BUF];

	if (a == NULL || path_in(dir, KEYINDEX_FILE, path, sizeof path) != 0 ||
	    (x = calloc(1, sizeof *x)) == NULL)
		return NULL;
	x->anchor = a;
	x->lock_fd = -1;
	if (map_file(x, path, 0) != 0) {
		free(x);
		return NULL;
	}
	return x;
}

void
keyindex_close(struct keyindex *x)
{
	if (x == NULL)
		return;
	detach(x);
	if (x->lock_fd >= 0)
		close(x->lock_fd);
	free(x);
}

/*
 * Current: the anchor names this file, and the file still carries its id
 * (a retired file has it cleared, keyindex_retire), and no access to it
 * ever faulted (truncated under us).
 */
static int
current(const struct keyindex *x)
{
	return __atomic_load_n(&x->anchor->id, __ATOMIC_ACQUIRE) == x->id &&
	    __atomic_load_n(&x->h->id, __ATOMIC_ACQUIRE) == x->id &&
	    !mapguard_lost(&x->guard);
}

int
keyindex_stale(const struct keyindex *x)
{
	return !current(x);
}

int
keyindex_has_plain(const struct keyindex *x)
{
	return __atomic_load_n(&x->h->plain, __ATOMIC_RELAXED) != 0;
}

static int
base62(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= 'a' && ch <= 'z');
}

/* Copies a found entry and its org out of the map (maybe torn: checked). */
static enum keyindex_rc
copy_hit(const struct keyindex *x, const struct kix_key *p,
    struct keyindex_hit *hit)
{
	struct kix_key e;
	const struct kix_org *o;
	size_t idlen, reclen, i;

	memcpy(&e, p, sizeof e);
	if (e.state != E_FULL || e.org == 0 || e.org > x->org_slots)
		return KIX_SLOW;
	o = &x->orgs[e.org - 1];
	idlen = o->id_len;
	reclen = o->rec_len;
	if (o->state != E_FULL || idlen == 0 || idlen > ID_MAX || reclen > KIX_ORG_REC_MAX)
		return KIX_SLOW;
	memcpy(hit->id, "key_", 4);
	for (i = 0; i < KIX_ID_CHARS; i++) {
		if (!base62(e.id[i]))
			return KIX_SLOW;
		hit->id[4 + i] = e.id[i];
	}
	hit->id[4 + KIX_ID_CHARS] = '\0';
	memcpy(hit->org, o->id, idlen);
	hit->org[idlen] = '\0';
	if (strlen(hit->org) != idlen)
		return KIX_SLOW;
	memcpy(hit->org_rec, o->rec, reclen);
	hit->org_rec_len = reclen;
	hit->flags = e.flags;
	hit->expires_at = e.expires;
	return KIX_HIT;
}

enum keyindex_rc
keyindex_lookup(const struct keyindex *x, const unsigned char digest[DIGEST_LEN],
    struct keyindex_hit *hit)
{
	const struct keyindex_anchor *a = x->anchor;
	enum keyindex_rc rc = KIX_MISS;
	uint64_t s1, s2;
	int64_t at;

	s1 = __atomic_load_n(&a->seq, __ATOMIC_ACQUIRE);
	if ((s1 & 1) || !current(x))
		return KIX_UNUSABLE;
	if ((at = find_key(x, digest, NULL)) >= 0)
		rc = copy_hit(x, &x->keys[at], hit);
	/* the copies above must be complete before the sequence is read again */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	s2 = __atomic_load_n(&a->seq, __ATOMIC_RELAXED);
	/* zeros read from a file that shrank are no answer either */
	return s1 == s2 && !mapguard_lost(&x->guard) ? rc : KIX_UNUSABLE;
}

/* ---- writers: entries ---- */

/* The entry that describes k; E_SLOW when it cannot be described. */
static void
key_entry(const struct keyindex *x, const unsigned char d[DIGEST_LEN],
    const struct key_rec *k, struct kix_key *e)
{
	int64_t org;

	memset(e, 0, sizeof *e);
	memcpy(e->digest, d, DIGEST_LEN);
	e->state = E_SLOW;
	if (k == NULL)
		return;
	e->flags = (uint8_t)k->flags;
	if (k->flags > 0xff || k->id == NULL || strlen(k->id) != KEYID_LEN ||
	    strncmp(k->id, "key_", 4) != 0 || k->org == NULL ||
	    (k->user != NULL && k->user[0] != '\0') || k->rate.count != 0 ||
	    k->nrules != 0 || k->scopes != 0 || k->expires_at < 0 || k->expires_at > (int64_t)UINT32_MAX)
		return; /* an older record's pre-epoch or a post-2106 expiry: from the store */
	org = find_org(x, k->org, strlen(k->org), NULL);
	if (org < 0 || x->orgs[org].state != E_FULL)
		return;
	memcpy(e->id, k->id + 4, KIX_ID_CHARS);
	e->org = (uint32_t)org + 1;
	e->expires = (uint32_t)k->expires_at;
	e->state = E_FULL;
}

/* k NULL: a record that exists but cannot be decoded (read it from the store). */
static int
insert_key(struct keyindex *x, const unsigned char d[DIGEST_LEN],
    const struct key_rec *k)
{
	struct kix_key e;
	int64_t at, reuse;

	key_entry(x, d, k, &e);
	if ((at = find_key(x, d, &reuse)) < 0) {
		if (reuse < 0 || !room(x->h->keys_used + 1, x->key_slots))
			return -1;
		at = reuse;
		if (x->keys[at].state == E_EMPTY)
			x->h->keys_used++;
	}
	x->keys[at] = e;
	if (k != NULL && (k->flags & KEYF_PLAIN))
		x->h->plain = 1;
	return 0;
}

static int
insert_org(struct keyindex *x, const char *id, const unsigned char *rec, size_t len)
{
	struct kix_org o;
	size_t n = strlen(id);
	int64_t at, empty;

	if (n == 0 || n > ID_MAX)
		return 0; /* not an org id: its keys stay slow */
	if ((at = find_org(x, id, n, &empty)) < 0) {
		if (empty < 0 || !room(x->h->orgs_used + 1, x->org_slots))
			return -1;
		at = empty;
		x->h->orgs_used++;
	}
	memset(&o, 0, sizeof o);
	o.id_len = (uint8_t)n;
	memcpy(o.id, id, n);
	o.state = E_SLOW;
	if (len <= KIX_ORG_REC_MAX) {
		o.state = E_FULL;
		o.rec_len = (uint16_t)len;
		memcpy(o.rec, rec, len);
	}
	x->orgs[at] = o;
	return 0;
}

/* ---- writers: sessions ---- */

struct keyindex *
keyindex_lock(const char *dir, struct keyindex_anchor *a, int nowait, int *busy,
    char *err, size_t errlen)
{
	char path[PATHNAME_BUF];
	struct keyindex *x;
	int r;

	if (busy != NULL)
		*busy = 0;
	if (!pathname_fits(dir) || path_in(dir, KEYINDEX_LOCK, path, sizeof path) != 0) {
		snprintf(err, errlen, "store path too long");
		return NULL;
	}
	if ((x = calloc(1, sizeof *x)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	x->anchor = a;
	strcpy(x->dir, dir);
	if ((x->lock_fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0660)) < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		free(x);
		return NULL;
	}
	while ((r = flock(x->lock_fd, LOCK_EX | (nowait ? LOCK_NB : 0))) != 0 && errno == EINTR)
		;
	if (r != 0) {
		if (errno == EWOULDBLOCK && busy != NULL)
			*busy = 1;
		snprintf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
		keyindex_close(x);
		return NULL;
	}
	/*
	 * Holding the lock, an odd sequence can only be a writer that died
	 * with changes half mirrored; a file that is not the anchor's, or of
	 * another boot, or missing, is no mirror either.
	 */
	if (path_in(dir, KEYINDEX_FILE, path, sizeof path) != 0 ||
	    map_file(x, path, 1) != 0 || x->id != a->id ||
	    (__atomic_load_n(&a->seq, __ATOMIC_ACQUIRE) & 1))
		x->rebuild = 1;
	return x;
}

void
keyindex_begin(struct keyindex *x)
{
	uint64_t s;

	if (x->began)
		return;
	x->began = 1;
	s = __atomic_load_n(&x->anchor->seq, __ATOMIC_ACQUIRE);
	if (s & 1)
		return;
	__atomic_store_n(&x->anchor->seq, s + 1, __ATOMIC_RELAXED);
	/* readers must see the odd sequence before any change to the entries */
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

/* Whether changes go into the mapped file (else the rebuild sees them). */
static int
writable(struct keyindex *x)
{
	keyindex_begin(x);
	return x->map != NULL && !x->rebuild;
}

void
keyindex_put_key(struct keyindex *x, const unsigned char digest[DIGEST_LEN],
    const struct key_rec *k)
{
	if (writable(x) && insert_key(x, digest, k) != 0)
		x->rebuild = 1;
}

void
keyindex_del_key(struct keyindex *x, const unsigned char digest[DIGEST_LEN])
{
	int64_t at;

	if (writable(x) && (at = find_key(x, digest, NULL)) >= 0)
		x->keys[at].state = E_DELETED;
}

void
keyindex_put_org(struct keyindex *x, const char *id, const unsigned char *rec,
    size_t len)
{
	if (writable(x) && insert_org(x, id, rec, len) != 0)
		x->rebuild = 1;
}

void
keyindex_del_org(struct keyindex *x, const char *id)
{
	int64_t at;

	if (writable(x) && (at = find_org(x, id, strlen(id), NULL)) >= 0)
		x->orgs[at].state = E_DELETED;
}

void
keyindex_want_rebuild(struct keyindex *x)
{
	x->rebuild = 1;
}

int
keyindex_needs_rebuild(const struct keyindex *x)
{
	return x->rebuild;
}

/* ---- rebuilding ---- */

struct build {
	struct keyindex *x;
	void (*progress)(void);
	uint64_t n;
	int full;
};

static int
build_org(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct build *b = ctx;
	char id[ID_MAX + 1];

	if (kl == 0 || kl > ID_MAX)
		return 0;
	memcpy(id, k, kl);
	id[kl] = '\0';
	if (insert_org(b->x, id, v, vl) != 0) {
		b->full = 1;
		return 1;
	}
	return 0;
}

static int
build_key(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct build *b = ctx;
	struct key_rec rec;
	int ok;

	if (kl != DIGEST_LEN)
		return 0;
	memset(&rec, 0, sizeof rec);
	ok = record_decode_key(v, vl, &rec) == 0;
	if (insert_key(b->x, k, ok ? &rec : NULL) != 0) {
		b->full = 1;
		return 1;
	}
	if (++b->n % PROGRESS_EVERY == 0 && b->progress != NULL)
		b->progress();
	return 0;
}

/*
 * Writes a complete index of the store into a new file and makes it the
 * current one (rename, then the anchor's id).  *full: a table ran out of
 * room; try again larger.
 */
static int
build(struct keyindex *x, struct store *s, uint64_t nkeys, uint64_t norgs,
    void (*progress)(void), int *full, char *err, size_t errlen)
{
	char tmp[PATHNAME_BUF], path[PATHNAME_BUF];
	struct keyindex n;
	struct build b;
	uint64_t key_slots = nkeys + nkeys * 3 / 5 + 1024; /* a load of 5/8 */
	uint64_t org_slots = norgs * 2 + 256, size, id = 0;
	void *map;
	int fd, rc;

	*full = 0;
	if (key_slots > KEY_SLOTS_MAX || org_slots > ORG_SLOTS_MAX) {
		snprintf(err, errlen, "too many keys or organizations for the key index");
		return -1;
	}
	size = file_size(key_slots, org_slots);
	if (path_in(x->dir, KEYINDEX_FILE ".tmp", tmp, sizeof tmp) != 0 ||
	    path_in(x->dir, KEYINDEX_FILE, path, sizeof path) != 0) {
		snprintf(err, errlen, "store path too long");
		return -1;
	}
	unlink(tmp); /* a builder that died left it; we hold the lock */
	if ((fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0660)) < 0) {
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		return -1;
	}
	/* allocated in full: a hole touched on a full disk would be SIGBUS */
	if (fchmod(fd, 0660) != 0) {
		snprintf(err, errlen, "cannot chmod %s: %s", tmp, strerror(errno));
		goto fail_fd;
	}
	if ((rc = posix_fallocate(fd, 0, (off_t)size)) != 0) {
		snprintf(err, errlen, "cannot allocate %s: %s", tmp, strerror(rc));
		goto fail_fd;
	}
	map = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	fd = -1;
	if (map == MAP_FAILED) {
		snprintf(err, errlen, "cannot map %s: %s", tmp, strerror(errno));
		goto fail;
	}
	memset(&n, 0, sizeof n);
	n.h = map;
	memcpy(n.h->magic, KIX_MAGIC, 8);
	n.h->version = KIX_VERSION;
	n.h->key_entry_size = sizeof(struct kix_key);
	n.h->org_entry_size = sizeof(struct kix_org);
	n.h->key_slots = key_slots;
	n.h->org_slots = org_slots;
	while (id == 0)
		if (RAND_bytes((unsigned char *)&id, sizeof id) != 1) {
			snprintf(err, errlen, "no random bytes for the key index id");
			munmap(map, (size_t)size);
			goto fail;
		}
	n.h->id = id;
	if (read_boot_id(n.h->boot_id) != 0) {
		snprintf(err, errlen, "cannot read the boot id");
		munmap(map, (size_t)size);
		goto fail;
	}
	attach(&n, map, (size_t)size);
	memset(&b, 0, sizeof b);
	b.x = &n;
	b.progress = progress;
	if ((rc = store_scan(s, NULL, TBL_ORGS, build_org, &b)) == ST_OK && !b.full)
		rc = store_scan(s, NULL, TBL_KEYS, build_key, &b);
	detach(&n);
	if (b.full) {
		*full = 1;
		snprintf(err, errlen, "the key index filled up while it was built");
		goto fail;
	}
	if (rc != ST_OK) {
		snprintf(err, errlen, "cannot read the store: %s", store_errmsg(s));
		goto fail;
	}
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "cannot rename %s: %s", tmp, strerror(errno));
		goto fail;
	}
	/* From here readers of the old file find it stale; the sequence is odd. */
	__atomic_store_n(&x->anchor->id, id, __ATOMIC_RELEASE);
	return 0;
fail_fd:
	close(fd);
fail:
	unlink(tmp);
	return -1;
}

static int
count_row(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	++*(uint64_t *)ctx;
	return 0;
}

static int
rebuild(struct keyindex *x, struct store *s, void (*progress)(void), char *err,
    size_t errlen)
{
	uint64_t nkeys = 0, norgs = 0;
	int attempt, full;

	/*
	 * Counted exactly (Berkeley DB's fast count of a hash is whatever it
	 * last saved, often 0): the tables are sized from it.  Records added
	 * meanwhile by nobody (we hold the lock) can only come from outside
	 * keygate; a table that fills up anyway is built again, larger.
	 */
	if (store_scan(s, NULL, TBL_KEYS, count_row, &nkeys) != ST_OK ||
	    store_scan(s, NULL, TBL_ORGS, count_row, &norgs) != ST_OK) {
		snprintf(err, errlen, "cannot read the store: %s", store_errmsg(s));
		return -1;
	}
	if (progress != NULL)
		progress();
	for (attempt = 0; attempt < 4; attempt++) {
		if (build(x, s, nkeys, norgs, progress, &full, err, errlen) == 0)
			return 0;
		if (!full)
			return -1;
		nkeys = nkeys * 2 + 65536;
		norgs = norgs * 2 + 1024;
	}
	return -1;
}

int
keyindex_end(struct keyindex *x, struct store *s, void (*progress)(void),
    char *err, size_t errlen)
{
	int rc = 0;

	if (x == NULL)
		return 0;
	if (x->rebuild) {
		keyindex_begin(x);
		rc = rebuild(x, s, progress, err, errlen);
	}
	/* a failed rebuild leaves the sequence odd: readers use the store */
	if (rc == 0 && x->began)
		__atomic_store_n(&x->anchor->seq,
		    (__atomic_load_n(&x->anchor->seq, __ATOMIC_RELAXED) | 1) + 1,
		    __ATOMIC_RELEASE);
	keyindex_close(x); /* and with the lock file, the lock */
	return rc;
}

int
keyindex_rebuild(const char *dir, struct keyindex_anchor *a, struct store *s,
    void (*progress)(void), char *err, size_t errlen)
{
	struct keyindex *x = keyindex_lock(dir, a, 0, NULL, err, errlen);

	if (x == NULL)
		return -1;
	keyindex_want_rebuild(x);
	return keyindex_end(x, s, progress, err, errlen);
}

int
keyindex_retire(const char *dir, char *err, size_t errlen)
{
	char path[PATHNAME_BUF];
	struct kix_header h;
	struct keyindex *x;
	uint64_t zero = 0;
	int fd, rc = 0;

	if ((x = calloc(1, sizeof *x)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* the lock: a writer mirroring into it finishes first */
	if (path_in(dir, KEYINDEX_LOCK, path, sizeof path) != 0 ||
	    (x->lock_fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0660)) < 0) {
		snprintf(err, errlen, "cannot open %s/%s: %s", dir, KEYINDEX_LOCK, strerror(errno));
		free(x);
		return -1;
	}
	while ((rc = flock(x->lock_fd, LOCK_EX)) != 0 && errno == EINTR)
		;
	if (rc == 0 && path_in(dir, KEYINDEX_FILE, path, sizeof path) == 0 &&
	    (fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
		if (pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h &&
		    memcmp(h.magic, KIX_MAGIC, 8) == 0 && h.id != 0 &&
		    pwrite(fd, &zero, sizeof zero, offsetof(struct kix_header, id)) !=
		    (ssize_t)sizeof zero) {
			snprintf(err, errlen, "cannot retire %s: %s", path, strerror(errno));
			rc = -1;
		}
		close(fd);
	}
	keyindex_close(x);
	return rc == 0 ? 0 : -1;
}

/* ---- checks ---- */

int
keyindex_usable(const char *dir, const struct keyindex_anchor *a)
{
	char path[PATHNAME_BUF];
	struct kix_header h;
	struct stat st;
	int fd, ok;

	if (path_in(dir, KEYINDEX_FILE, path, sizeof path) != 0 ||
	    (fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return 0;
	ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h &&
	    header_valid(&h, (uint64_t)st.st_size) &&
	    h.id == __atomic_load_n(&a->id, __ATOMIC_ACQUIRE) &&
	    (__atomic_load_n(&a->seq, __ATOMIC_ACQUIRE) & 1) == 0;
	close(fd);
	return ok;
}

struct verify {
	struct keyindex *x;
	char *err;
	size_t errlen;
	uint64_t keys;
	int bad;
};

static int
verify_key(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct verify *vf = ctx;
	struct key_rec rec;
	struct kix_key want;
	int64_t at;

	if (kl != DIGEST_LEN)
		return 0;
	vf->keys++;
	memset(&rec, 0, sizeof rec);
	key_entry(vf->x, k, record_decode_key(v, vl, &rec) == 0 ? &rec : NULL, &want);
	if ((at = find_key(vf->x, k, NULL)) < 0 ||
	    memcmp(&vf->x->keys[at], &want, sizeof want) != 0) {
		snprintf(vf->err, vf->errlen, "the key index %s key %s",
		    at < 0 ? "lacks" : "has another version of",
		    rec.id != NULL && rec.id[0] ? rec.id : "(damaged record)");
		vf->bad = 1;
		return 1;
	}
	return 0;
}

static int
verify_org(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct verify *vf = ctx;
	const struct kix_org *o;
	int64_t at;
	int same;

	if (kl == 0 || kl > ID_MAX)
		return 0;
	if ((at = find_org(vf->x, k, kl, NULL)) < 0) {
		same = 0;
	} else {
		o = &vf->x->orgs[at];
		same = vl <= KIX_ORG_REC_MAX ?
		    o->state == E_FULL && o->rec_len == vl && memcmp(o->rec, v, vl) == 0 :
		    o->state == E_SLOW;
	}
	if (!same) {
		snprintf(vf->err, vf->errlen, "the key index %s organization %.*s",
		    at < 0 ? "lacks" : "has another version of", (int)kl, (const char *)k);
		vf->bad = 1;
		return 1;
	}
	return 0;
}

int
keyindex_verify(const char *dir, struct keyindex_anchor *a, struct store *s,
    char *err, size_t errlen)
{
	struct verify vf;
	struct keyindex *x;
	uint64_t i, held = 0;
	int rc;

	if ((x = keyindex_lock(dir, a, 0, NULL, err, errlen)) == NULL)
		return -1;
	if (x->rebuild) {
		snprintf(err, errlen, "missing, from an earlier boot, or left half written");
		keyindex_close(x);
		return 1;
	}
	memset(&vf, 0, sizeof vf);
	vf.x = x;
	vf.err = err;
	vf.errlen = errlen;
	if ((rc = store_scan(s, NULL, TBL_ORGS, verify_org, &vf)) == ST_OK && !vf.bad)
		rc = store_scan(s, NULL, TBL_KEYS, verify_key, &vf);
	for (i = 0; i < x->key_slots; i++)
		held += x->keys[i].state == E_FULL || x->keys[i].state == E_SLOW;
	if (rc == ST_OK && !vf.bad && held != vf.keys) {
		snprintf(err, errlen, "the key index holds %llu keys, the store %llu",
		    (unsigned long long)held, (unsigned long long)vf.keys);
		vf.bad = 1;
	}
	if (rc != ST_OK && !vf.bad)
		snprintf(err, errlen, "cannot read the store: %s", store_errmsg(s));
	keyindex_close(x);
	return rc == ST_OK && !vf.bad ? 0 : -1;
}
