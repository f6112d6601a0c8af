/*
 * keyindex.h - the key index: a read-only mirror of what the authorizer
 * needs from the key and organization records, in one file of the store
 * directory that every process maps.  A lookup is a hash probe in shared
 * memory instead of two Berkeley DB gets (lock manager, mpool latch, page
 * search: most of a request's cost on a large store, bench/analysis.md).
 *
 * Berkeley DB stays the source of truth; the index is derived from it and
 * may be deleted at any time.  Only a writer holding keyindex.lock (the
 * CLI, or an authorizer repairing the index) changes it, and it keeps the
 * anchor's sequence number (in the counters file) odd from before its
 * first Berkeley DB commit until every change it made is mirrored.
 * Readers never wait: a lookup that starts on an odd sequence, or ends on
 * another one than it began with, or finds that its file is not the
 * anchor's current one, is KIX_UNUSABLE, and the caller reads the store.
 * A writer that dies leaves the sequence odd, so every reader goes to the
 * store until the index is rebuilt; an index built in another boot (the
 * kernel may have lost page cache that the store's logs kept, or the
 * reverse) is never trusted.
 *
 * Keys the index cannot describe in its fixed-size entry (a user id, own
 * rate limit or rules, an expiry past 2106, a foreign id) are marked
 * KIX_SLOW: they exist, and the caller reads their record from the store.
 */
#ifndef KEYGATE_KEYINDEX_H
#define KEYGATE_KEYINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "apikey.h"
#include "counters.h"
#include "record.h"
#include "store.h"

#define KEYINDEX_FILE "keyindex"
#define KEYINDEX_LOCK "keyindex.lock"
#define KIX_ORG_REC_MAX 184 /* larger org records are read from the store */

enum keyindex_rc {
	KIX_HIT,      /* found, *hit filled */
	KIX_MISS,     /* no such key in the store */
	KIX_SLOW,     /* the key exists: read its record (or its org's) from the store */
	KIX_UNUSABLE  /* a writer is (or was) at work, or no index: read the store */
};

struct keyindex_hit {
	uint32_t flags;                      /* KEYF_* */
	int64_t expires_at;                  /* 0: never */
	char id[KEYID_LEN + 1];
	char org[ID_MAX + 1];
	unsigned char org_rec[KIX_ORG_REC_MAX]; /* the encoded org record */
	size_t org_rec_len;
};

struct keyindex;

/* ---- readers ---- */

/* Maps dir's index read-only; NULL when it is missing or not usable here. */
struct keyindex *keyindex_open(const char *dir, struct keyindex_anchor *a);
void keyindex_close(struct keyindex *x);
/* The file is no longer the current one (rebuilt, deleted): open again. */
int keyindex_stale(const struct keyindex *x);
/* Whether a peppered store's index holds plain SHA-256 digests. */
int keyindex_has_plain(const struct keyindex *x);
enum keyindex_rc keyindex_lookup(const struct keyindex *x,
    const unsigned char digest[DIGEST_LEN], struct keyindex_hit *hit);

/* ---- writers ---- */

/*
 * Takes keyindex.lock (waiting for it, or not with nowait: NULL and
 * *busy = 1 when another writer holds it) and maps the index for writing.
 * The index may be missing or unusable: keyindex_end() then rebuilds it.
 */
struct keyindex *keyindex_lock(const char *dir, struct keyindex_anchor *a,
    int nowait, int *busy, char *err, size_t errlen);
/* Makes the sequence odd: call before the first Berkeley DB commit. */
void keyindex_begin(struct keyindex *x);
/*
 * Mirror a committed record (read back from the store after the commit).
 * A failure (table full) only marks the index for a rebuild at the end.
 */
void keyindex_put_key(struct keyindex *x, const unsigned char digest[DIGEST_LEN],
    const struct key_rec *k);
void keyindex_del_key(struct keyindex *x, const unsigned char digest[DIGEST_LEN]);
void keyindex_put_org(struct keyindex *x, const char *id,
    const unsigned char *rec, size_t len);
void keyindex_del_org(struct keyindex *x, const char *id);
/* Asks keyindex_end() for a rebuild (many changes, or a failure). */
void keyindex_want_rebuild(struct keyindex *x);
/* Whether the index must be rebuilt from the store at keyindex_end(). */
int keyindex_needs_rebuild(const struct keyindex *x);
/*
 * Ends the writer: rebuilds from the store if needed (progress is called
 * every few thousand records, may be NULL), else makes the sequence even;
 * releases the lock and frees x.  0, or -1 with err set: the index then
 * stays unusable (readers use the store) until a later rebuild.
 */
int keyindex_end(struct keyindex *x, struct store *s, void (*progress)(void),
    char *err, size_t errlen);

/*
 * Takes the lock (waiting), rebuilds the index from the store and ends:
 * keygate init, db check, db recover.  0, or -1 with err set.  Not while
 * this process holds a writer of its own (the lock would wait for ever).
 */
int keyindex_rebuild(const char *dir, struct keyindex_anchor *a, struct store *s,
    void (*progress)(void), char *err, size_t errlen);

/*
 * Retires the current index file in place (clears its id, under the
 * lock): every process that maps it stops trusting it at its next lookup.
 * For a new counter file, whose anchor cannot name the old index, while
 * processes still map the old counter file.  0, or -1 with err set.
 */
int keyindex_retire(const char *dir, char *err, size_t errlen);

/* ---- checks ---- */

/* Whether dir's index is present, current, from this boot, not mid-write. */
int keyindex_usable(const char *dir, const struct keyindex_anchor *a);
/*
 * Compares the index with the store, record by record: 0 when they agree;
 * 1 when there is no usable index; -1 when they differ (err: the first
 * difference) or the store cannot be read.
 */
int keyindex_verify(const char *dir, struct keyindex_anchor *a, struct store *s,
    char *err, size_t errlen);

#endif
