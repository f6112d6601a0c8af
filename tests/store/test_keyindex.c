/*
 * test_keyindex.c - the key index against a real store:
 *  1. a rebuild mirrors the store: hits, misses, slow keys (a user id, a
 *     damaged record, an org record too large), plain digests;
 *  2. a writer session: readers get KIX_UNUSABLE while it is open, and the
 *     change on the next lookup after it ends;
 *  3. a writer killed mid-session (fork, _exit): readers go to the store
 *     until the next writer rebuilds; the index is then right again;
 *  4. a reader of a file that was rebuilt or deleted finds it stale;
 *  5. hostile files (garbage, truncated, wrong sizes, another boot, a
 *     symbolic link) are never used and never crash a reader;
 *  6. a table that fills up is rebuilt larger;
 *  7. verify finds a store changed behind the index's back;
 *  8. a reader racing a writer that flips a key between two versions only
 *     ever sees one version or the other, never a mix.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "counters.h"
#include "keyindex.h"
#include "record.h"
#include "store.h"
#include "tap.h"

static char dir[256];
static struct store *st;
static struct counters *ctr;
static struct keyindex_anchor *anchor;

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "test_keyindex: %s: %s\n", what, why);
	exit(99);
}

static void
digest_of(int i, unsigned char d[DIGEST_LEN])
{
	int j;

	/* spread like a real digest: the index hashes the first 8 bytes */
	for (j = 0; j < DIGEST_LEN; j++)
		d[j] = (unsigned char)((i * 2654435761u) >> ((j % 4) * 8)) ^ (unsigned char)(j * 31 + i);
}

static void
put_raw(enum store_tbl t, const void *k, size_t kl, const unsigned char *v, size_t vl)
{
	struct store_txn *txn;

	if (store_txn_begin(st, &txn) != ST_OK ||
	    store_put(st, txn, t, k, kl, v, vl, 0) != ST_OK ||
	    store_txn_commit(txn) != ST_OK)
		die("put", store_errmsg(st));
}

static void
put_org(const char *id, const char *name)
{
	unsigned char buf[RECORD_MAX];
	struct org_rec o;
	int n;

	memset(&o, 0, sizeof o);
	o.name = name;
	o.plan = "pro";
	n = record_encode_org(&o, buf, sizeof buf);
	put_raw(TBL_ORGS, id, strlen(id), buf, (size_t)n);
}

static void
make_key(struct key_rec *k, const char *id, const char *org, uint32_t flags)
{
	memset(k, 0, sizeof *k);
	k->flags = flags;
	k->id = id;
	k->org = org;
	k->name = k->display = k->successor = "";
	k->user = "";
	k->expires_at = 2000000000;
}

static void
put_key(const unsigned char d[DIGEST_LEN], const struct key_rec *k)
{
	unsigned char buf[RECORD_MAX];
	int n = record_encode_key(k, buf, sizeof buf);

	put_raw(TBL_KEYS, d, DIGEST_LEN, buf, (size_t)n);
}

static void
key_id(int i, char out[KEYID_LEN + 1])
{
	snprintf(out, KEYID_LEN + 1, "key_%016d", i);
}

static int
rebuild(void)
{
	char err[600];

	if (keyindex_rebuild(dir, anchor, st, NULL, err, sizeof err) != 0) {
		diag("rebuild: %s", err);
		return -1;
	}
	return 0;
}

static enum keyindex_rc
lookup_once(int i, struct keyindex_hit *hit)
{
	unsigned char d[DIGEST_LEN];
	struct keyindex *x = keyindex_open(dir, anchor);
	enum keyindex_rc rc;

	if (x == NULL)
		return KIX_UNUSABLE;
	digest_of(i, d);
	rc = keyindex_lookup(x, d, hit);
	keyindex_close(x);
	return rc;
}

static void
seed(int nkeys)
{
	struct key_rec k;
	unsigned char d[DIGEST_LEN];
	char id[KEYID_LEN + 1];
	int i;

	put_org("acme", "Acme");
	put_org("beta", "Beta");
	for (i = 0; i < nkeys; i++) {
		key_id(i, id);
		make_key(&k, id, i % 2 ? "beta" : "acme", i % 7 == 0 ? KEYF_TEST : 0);
		digest_of(i, d);
		put_key(d, &k);
	}
}

static void
test_mirror(void)
{
	struct keyindex_hit hit;
	struct key_rec k;
	unsigned char d[DIGEST_LEN], big[RECORD_MAX];
	char id[KEYID_LEN + 1], longname[TEXT_MAX + 1];
	struct org_rec o;
	int n;

	seed(1000);
	/* slow ones: a user id, a damaged record, an org too large to mirror */
	key_id(5000, id);
	make_key(&k, id, "acme", 0);
	k.user = "user-42";
	digest_of(5000, d);
	put_key(d, &k);
	digest_of(5001, d);
	put_raw(TBL_KEYS, d, DIGEST_LEN, (const unsigned char *)"\x01K garbage", 10);
	memset(longname, 'n', TEXT_MAX);
	longname[TEXT_MAX] = '\0';
	memset(&o, 0, sizeof o);
	o.name = longname;
	o.plan = "a-plan-with-a-name-that-is-long-enough-to-push-the-record-over";
	n = record_encode_org(&o, big, sizeof big);
	ok(n > KIX_ORG_REC_MAX, "an org record of %d bytes is larger than an entry holds", n);
	put_raw(TBL_ORGS, "bigorg", 6, big, (size_t)n);
	key_id(5002, id);
	make_key(&k, id, "bigorg", 0);
	digest_of(5002, d);
	put_key(d, &k);

	ok(keyindex_usable(dir, anchor) == 0, "no index before the first build");
	ok(rebuild() == 0, "rebuild");
	ok(keyindex_usable(dir, anchor), "usable after it");
	ok(lookup_once(3, &hit) == KIX_HIT, "a key: hit");
	is_str(hit.id, "key_0000000000000003", "its id");
	is_str(hit.org, "beta", "its org");
	is_int(hit.expires_at, 2000000000, "its expiry");
	memset(&o, 0, sizeof o);
	ok(record_decode_org(hit.org_rec, hit.org_rec_len, &o) == 0 &&
	    strcmp(o.name, "Beta") == 0, "its org record");
	ok(lookup_once(7, &hit) == KIX_HIT && hit.flags == KEYF_TEST, "a test key: its flags");
	ok(lookup_once(999999, &hit) == KIX_MISS, "an unknown digest: miss");
	ok(lookup_once(5000, &hit) == KIX_SLOW, "a key with a user id: slow (the store has it)");
	ok(lookup_once(5001, &hit) == KIX_SLOW, "a damaged key record: slow (the store reports it)");
	ok(lookup_once(5002, &hit) == KIX_SLOW, "a key of an org too large to mirror: slow");
	ok(keyindex_verify(dir, anchor, st, NULL, 0) == 0, "verify: the index agrees with the store");
}

static void
test_session(void)
{
	char err[600], id[KEYID_LEN + 1];
	struct keyindex_hit hit;
	unsigned char d[DIGEST_LEN];
	struct keyindex *r, *w;
	struct key_rec k;

	r = keyindex_open(dir, anchor);
	ok(r != NULL, "a reader opens the index");
	w = keyindex_lock(dir, anchor, 0, NULL, err, sizeof err);
	ok(w != NULL && !keyindex_needs_rebuild(w), "a writer takes it, nothing to rebuild");
	ok(keyindex_lock(dir, anchor, 1, &(int){0}, err, sizeof err) == NULL,
	    "a second writer cannot (nowait)");
	keyindex_begin(w);
	digest_of(3, d);
	ok(keyindex_lookup(r, d, &hit) == KIX_UNUSABLE, "while a writer is at work: unusable");
	key_id(3, id);
	make_key(&k, id, "beta", KEYF_REVOKED);
	put_key(d, &k);
	keyindex_put_key(w, d, &k);
	ok(keyindex_end(w, st, NULL, err, sizeof err) == 0, "the writer ends");
	ok(keyindex_lookup(r, d, &hit) == KIX_HIT && (hit.flags & KEYF_REVOKED),
	    "the next lookup sees the revocation");
	ok(!keyindex_stale(r), "no rebuild: the reader's file is current");

	/* an expiry at the epoch is an expiry (0 in an entry means never) */
	w = keyindex_lock(dir, anchor, 0, NULL, err, sizeof err);
	keyindex_begin(w);
	digest_of(6000, d);
	key_id(6000, id);
	make_key(&k, id, "beta", 0);
	k.expires_at = record_expiry(0);
	put_key(d, &k);
	keyindex_put_key(w, d, &k);
	digest_of(6001, d);
	key_id(6001, id);
	make_key(&k, id, "beta", 0);
	k.expires_at = (int64_t)UINT32_MAX + 1;
	put_key(d, &k);
	keyindex_put_key(w, d, &k);
	ok(keyindex_end(w, st, NULL, err, sizeof err) == 0, "the writer ends");
	digest_of(6000, d);
	ok(keyindex_lookup(r, d, &hit) == KIX_HIT && hit.expires_at == RECORD_EXPIRED_AT &&
	    record_expired(hit.expires_at, 1795567326), "an expiry at the epoch: expired");
	digest_of(6001, d);
	ok(keyindex_lookup(r, d, &hit) == KIX_SLOW, "an expiry past 2106: read from the store");
	keyindex_close(r);
}

static void
test_dead_writer(void)
{
	char err[600];
	struct keyindex_hit hit;
	struct keyindex *w;
	pid_t pid;
	int status;

	if ((pid = fork()) == 0) {
		struct keyindex *x = keyindex_lock(dir, anchor, 0, NULL, err, sizeof err);

		if (x == NULL)
			_exit(1);
		keyindex_begin(x);
		_exit(0); /* killed mid-session: the lock goes, the sequence stays odd */
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a writer died mid-session");
	ok(lookup_once(4, &hit) == KIX_UNUSABLE, "readers go to the store");
	ok(!keyindex_usable(dir, anchor), "the index is not usable");
	w = keyindex_lock(dir, anchor, 1, NULL, err, sizeof err);
	ok(w != NULL && keyindex_needs_rebuild(w), "the next writer gets the lock and must rebuild");
	ok(w != NULL && keyindex_end(w, st, NULL, err, sizeof err) == 0, "and does");
	ok(lookup_once(4, &hit) == KIX_HIT, "lookups work again");
	ok(lookup_once(3, &hit) == KIX_HIT && (hit.flags & KEYF_REVOKED),
	    "with what the store holds");
}

static void
test_stale(void)
{
	char path[400];
	struct keyindex_hit hit;
	unsigned char d[DIGEST_LEN];
	struct keyindex *r = keyindex_open(dir, anchor);

	digest_of(4, d);
	ok(r != NULL && keyindex_lookup(r, d, &hit) == KIX_HIT, "a reader");
	ok(rebuild() == 0, "a rebuild replaces the file");
	ok(keyindex_stale(r), "the reader's file is stale");
	ok(keyindex_lookup(r, d, &hit) == KIX_UNUSABLE, "and never answers from it");
	keyindex_close(r);
	r = keyindex_open(dir, anchor);
	snprintf(path, sizeof path, "%s/%s", dir, KEYINDEX_FILE);
	ok(r != NULL && unlink(path) == 0, "a reader maps the index, someone deletes it");
	ok(keyindex_lookup(r, d, &hit) == KIX_HIT, "(the deleted file still answers until...)");
	ok(rebuild() == 0, "a writer finds it missing and rebuilds");
	ok(keyindex_lookup(r, d, &hit) == KIX_UNUSABLE, "the reader of the deleted file is told");
	keyindex_close(r);
}

/* Writes len bytes of data at offset into a copy of the index, as path. */
static void
write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0660);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd) != 0)
		die(path, strerror(errno));
}

static void *
read_file(const char *path, size_t *len)
{
	struct stat sb;
	void *p;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &sb) != 0 || (p = malloc((size_t)sb.st_size)) == NULL ||
	    read(fd, p, (size_t)sb.st_size) != sb.st_size)
		die(path, "read");
	close(fd);
	*len = (size_t)sb.st_size;
	return p;
}

static void
test_hostile(void)
{
	char path[400], other[400], err[600];
	struct keyindex_hit hit;
	unsigned char *good, *bad, zero[8192];
	struct keyindex *w;
	size_t len;

	snprintf(path, sizeof path, "%s/%s", dir, KEYINDEX_FILE);
	snprintf(other, sizeof other, "%s/elsewhere", dir);
	ok(rebuild() == 0, "a good index");
	good = read_file(path, &len);
	bad = malloc(len);
	memset(zero, 0, sizeof zero);

	write_file(path, "", 0);
	ok(lookup_once(4, &hit) == KIX_UNUSABLE && !keyindex_usable(dir, anchor), "empty file: not used");
	write_file(path, zero, sizeof zero);
	ok(lookup_once(4, &hit) == KIX_UNUSABLE, "zeros: not used");
	write_file(path, good, len / 2);
	ok(lookup_once(4, &hit) == KIX_UNUSABLE, "truncated: not used");
	memcpy(bad, good, len);
	memset(bad + 24, 0xff, 8); /* the id, then the key slots: absurd sizes */
	memset(bad + 32, 0xff, 8);
	write_file(path, bad, len);
	ok(lookup_once(4, &hit) == KIX_UNUSABLE, "absurd table sizes: not used");
	memcpy(bad, good, len);
	bad[64] ^= 1; /* the boot id */
	write_file(path, bad, len);
	ok(lookup_once(4, &hit) == KIX_UNUSABLE && !keyindex_usable(dir, anchor),
	    "built in another boot: not used");
	write_file(other, good, len);
	unlink(path);
	ok(symlink(other, path) == 0, "a symbolic link to a good copy");
	ok(lookup_once(4, &hit) == KIX_UNUSABLE, "not followed");
	w = keyindex_lock(dir, anchor, 0, NULL, err, sizeof err);
	ok(w != NULL && keyindex_needs_rebuild(w), "a writer rebuilds what it cannot trust");
	ok(w != NULL && keyindex_end(w, st, NULL, err, sizeof err) == 0, "over the link");
	ok(lookup_once(4, &hit) == KIX_HIT, "and lookups work again");
	unlink(other);
	free(good);
	free(bad);
}

static void
test_growth(void)
{
	char err[600], id[KEYID_LEN + 1];
	struct keyindex_hit hit;
	unsigned char d[DIGEST_LEN];
	struct keyindex *w;
	struct key_rec k;
	int i, all = 1;

	/* ~2,000 slots for ~1,000 keys: 3,000 more cannot fit */
	w = keyindex_lock(dir, anchor, 0, NULL, err, sizeof err);
	ok(w != NULL, "a writer");
	for (i = 10000; i < 13000; i++) {
		key_id(i, id);
		make_key(&k, id, "acme", 0);
		digest_of(i, d);
		put_key(d, &k);
		keyindex_put_key(w, d, &k);
	}
	ok(keyindex_needs_rebuild(w), "a full table asks for a rebuild");
	ok(keyindex_end(w, st, NULL, err, sizeof err) == 0, "which makes it larger");
	for (i = 10000; i < 13000; i++)
		all &= lookup_once(i, &hit) == KIX_HIT;
	ok(all, "every key is there");
	ok(keyindex_verify(dir, anchor, st, NULL, 0) == 0, "verify agrees");
}

static void
test_verify(void)
{
	char err[600], id[KEYID_LEN + 1];
	unsigned char d[DIGEST_LEN];
	struct key_rec k;

	key_id(8, id);
	make_key(&k, id, "acme", KEYF_REVOKED);
	digest_of(8, d);
	put_key(d, &k); /* behind the index's back */
	ok(keyindex_verify(dir, anchor, st, err, sizeof err) < 0, "verify sees a change made "
	    "behind the index's back: %s", err);
	ok(rebuild() == 0 && keyindex_verify(dir, anchor, st, err, sizeof err) == 0,
	    "a rebuild mends it");
}

/*
 * Versions A and B of key 20 differ in every field a reader copies; a
 * reader that ever sees a mix of the two read a torn entry.
 */
static void
test_torn(void)
{
	char err[600], ida[KEYID_LEN + 1], idb[KEYID_LEN + 1];
	unsigned char d[DIGEST_LEN];
	struct key_rec a, b;
	struct keyindex *w;
	int pipefd[2], rounds = 0;
	time_t give_up;
	pid_t pid;

	key_id(1111, ida);
	key_id(2222, idb);
	make_key(&a, ida, "acme", 0);
	make_key(&b, idb, "beta", KEYF_REVOKED | KEYF_TEST);
	b.expires_at = 1900000000;
	digest_of(20, d);
	put_key(d, &a);
	ok(rebuild() == 0, "key 20 as version A");
	if (pipe(pipefd) != 0)
		die("pipe", strerror(errno));
	if ((pid = fork()) == 0) {
		struct keyindex *r = keyindex_open(dir, anchor);
		struct keyindex_hit h;
		long seen = 0, torn = 0, unusable = 0;
		time_t end = time(NULL) + 2;

		close(pipefd[1]);
		while (r != NULL && time(NULL) < end) {
			enum keyindex_rc rc = keyindex_lookup(r, d, &h);

			if (rc == KIX_UNUSABLE) {
				unusable++;
				continue;
			}
			seen++;
			if (rc != KIX_HIT)
				torn++;
			else if (strcmp(h.id, ida) == 0)
				torn += strcmp(h.org, "acme") != 0 || h.flags != 0 || h.expires_at != 2000000000;
			else if (strcmp(h.id, idb) == 0)
				torn += strcmp(h.org, "beta") != 0 || h.flags != (KEYF_REVOKED | KEYF_TEST) ||
				    h.expires_at != 1900000000;
			else
				torn++;
		}
		printf("# reader: %ld answers, %ld unusable, %ld torn\n", seen, unusable, torn);
		fflush(stdout);
		_exit(r == NULL || seen == 0 || torn != 0);
	}
	close(pipefd[0]);
	for (give_up = time(NULL) + 60; time(NULL) < give_up;) {
		int status;

		if (waitpid(pid, &status, WNOHANG) == pid) {
			ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			    "a reader racing %d writer sessions never saw a torn entry", rounds);
			close(pipefd[1]);
			return;
		}
		if ((w = keyindex_lock(dir, anchor, 0, NULL, err, sizeof err)) == NULL)
			die("lock", err);
		keyindex_put_key(w, d, rounds % 2 ? &a : &b);
		keyindex_end(w, st, NULL, err, sizeof err);
		rounds++;
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	ok(0, "the reader did not finish");
	close(pipefd[1]);
}

int
main(void)
{
	char err[600];
	const char *tmp = getenv("TMPDIR");

	alarm(120);
	snprintf(dir, sizeof dir, "%s/kg-keyindex.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp", strerror(errno));
	if (store_write_config(dir, 4u << 20, err, sizeof err) != 0 ||
	    counters_create(dir, 1024, err, sizeof err) != 0 ||
	    (st = store_open(dir, STORE_CREATE, err, sizeof err)) == NULL ||
	    (ctr = counters_open(dir, err, sizeof err)) == NULL)
		die(dir, err);
	anchor = counters_index_anchor(ctr);

	test_mirror();
	test_session();
	test_dead_writer();
	test_stale();
	test_hostile();
	test_growth();
	test_verify();
	test_torn();

	counters_close(ctr);
	store_close(st);
	{
		char cmd[400];

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			diag("could not remove %s", dir);
	}
	return done_testing();
}
