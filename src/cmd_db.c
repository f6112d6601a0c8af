/*
 * cmd_db.c - keygate db backup|check|recover.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "audit.h"
#include "cli.h"
#include "ledger.h"
#include "tally.h"
#include "counters.h"
#include "vault.h"

/* Copies a file, leaving holes where the source reads as zeros. */
static int
copy_sparse(const char *from, const char *to, char *err, size_t errlen)
{
	char buf[65536];
	struct stat st;
	ssize_t n;
	off_t off = 0;
	int in, out, i, zero;

	if ((in = open(from, O_RDONLY | O_NOFOLLOW)) < 0) {
		snprintf(err, errlen, "cannot read %s: %s", from, strerror(errno));
		return -1;
	}
	fstat(in, &st);
	if ((out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, st.st_mode & 0660)) < 0) {
		snprintf(err, errlen, "cannot create %s: %s", to, strerror(errno));
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof buf)) > 0) {
		for (zero = 1, i = 0; i < n && zero; i++)
			zero = buf[i] == 0;
		if (!zero && pwrite(out, buf, (size_t)n, off) != n)
			break;
		off += n;
	}
	if (n != 0 || ftruncate(out, off) != 0 || fsync(out) != 0) {
		snprintf(err, errlen, "cannot copy %s: %s", from, strerror(errno));
		close(in);
		close(out);
		return -1;
	}
	close(in);
	close(out);
	return 0;
}

static int
dir_is_empty_or_absent(const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int empty = 1;

	if (d == NULL)
		return errno == ENOENT;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	}
	closedir(d);
	return empty;
}

static int
db_backup(struct cli *c, int argc, char **argv)
{
	char err[700], from[PATHNAME_BUF], to[PATHNAME_BUF];
	/*
	 * The counter file and the key index are derived: the copy makes its
	 * own from the databases when it is first opened (the ledger, flushed
	 * first, holds what organizations consumed).
	 */
	static const char *const extra[] = {"DB_CONFIG"};
	struct args a;
	size_t i;
	int code;

	c->cmd = "db backup";
	if ((code = cli_parse(c, argc, argv, NULL, 1, 1, "db backup DIR", &a)) != EX_OK)
		return code;
	/* a backup is opened as a store: the same limit */
	if ((code = cli_check_path("db backup: the path", a.pos[0])) != EX_OK)
		return code;
	/* Berkeley DB's backup empties its target first: never point it at files */
	if (!dir_is_empty_or_absent(a.pos[0]))
		return cli_fail(EX_CONFLICT, "db backup: %s exists and is not empty", a.pos[0]);
	if ((code = cli_open(c)) != EX_OK)
		return code;
	if (ledger_flush(c->kg.store, c->kg.counters, c->dir, kg_now(), err, sizeof err) < 0)
		return cli_fail(EX_STORE, "db backup: %s", err);
	if (store_backup(c->kg.store, a.pos[0], err, sizeof err) != 0)
		return cli_fail(EX_STORE, "db backup: %s", err);
	for (i = 0; i < sizeof extra / sizeof extra[0]; i++) {
		snprintf(from, sizeof from, "%s/%s", c->dir, extra[i]);
		snprintf(to, sizeof to, "%s/%s", a.pos[0], extra[i]);
		if (access(from, F_OK) == 0 && copy_sparse(from, to, err, sizeof err) != 0)
			return cli_fail(EX_STORE, "db backup: %s", err);
	}
	cli_note("keygate: backup written to %s; it opens as a store with --db %s", a.pos[0], a.pos[0]);
	return EX_OK;
}

/* ---- check ---- */

struct check {
	struct cli *c;
	unsigned long problems;
	unsigned long keys, revoked, orgs, plans, ids, ledger, history, audit, secrets;
	/* per-org active key counts, recomputed: a small open hash */
	struct orgcount { char id[ID_MAX + 1]; uint32_t n; int used; } *oc;
	size_t ocap;
};

static void
problem(struct check *ck, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
problem(struct check *ck, const char *fmt, ...)
{
	va_list ap;

	ck->problems++;
	if (ck->problems > 50)
		return;
	fputs("problem: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
}

static struct orgcount *
orgcount(struct check *ck, const char *id)
{
	size_t h = (size_t)counters_org_tag(id), i;

	for (i = 0; i < ck->ocap; i++) {
		struct orgcount *e = &ck->oc[(h + i) % ck->ocap];
		if (!e->used) {
			e->used = 1;
			snprintf(e->id, sizeof e->id, "%s", id);
			return e;
		}
		if (strcmp(e->id, id) == 0)
			return e;
	}
	return NULL;
}

static int
check_plan(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct check *ck = ctx;
	struct plan_rec p;

	ck->plans++;
	if (record_decode_plan(v, vl, &p) != 0 || strlen(p.name) != kl || memcmp(p.name, k, kl) != 0)
		problem(ck, "plan '%.*s': damaged record", (int)(kl > 64 ? 64 : kl), (const char *)k);
	return 0;
}

static int
check_org(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct check *ck = ctx;
	char id[ID_MAX + 1];
	struct org_rec o;

	ck->orgs++;
	if (kl > ID_MAX || record_decode_org(v, vl, &o) != 0) {
		problem(ck, "organization '%.*s': damaged record", (int)(kl > 64 ? 64 : kl), (const char *)k);
		return 0;
	}
	memcpy(id, k, kl);
	id[kl] = '\0';
	if (!cli_exists(ck->c, TBL_PLANS, o.plan))
		problem(ck, "organization '%s': its plan '%s' does not exist", id, o.plan);
	return 0;
}

static int
check_key(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct check *ck = ctx;
	unsigned char ibuf[64];
	struct keyid_rec kid;
	struct key_rec r;
	struct orgcount *e;
	size_t len;

	ck->keys++;
	if (kl != DIGEST_LEN || record_decode_key(v, vl, &r) != 0) {
		problem(ck, "a key record is damaged");
		return 0;
	}
	if (r.flags & KEYF_REVOKED)
		ck->revoked++;
	if (!cli_exists(ck->c, TBL_ORGS, r.org))
		problem(ck, "key %s: its organization '%s' does not exist", r.id, r.org);
	if (store_get(ck->c->kg.store, NULL, TBL_KEYIDS, r.id, strlen(r.id), ibuf, sizeof ibuf,
	    &len, 0) != ST_OK || record_decode_keyid(ibuf, len, &kid) != 0 ||
	    memcmp(kid.digest, k, DIGEST_LEN) != 0)
		problem(ck, "key %s: its id record is missing or points elsewhere", r.id);
	if (!(r.flags & KEYF_REVOKED) && (e = orgcount(ck, r.org)) != NULL)
		e->n++;
	return 0;
}

static int
check_keyid(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct check *ck = ctx;
	struct keyid_rec kid;

	ck->ids++;
	if (record_decode_keyid(v, vl, &kid) != 0 ||
	    store_exists(ck->c->kg.store, NULL, TBL_KEYS, kid.digest, DIGEST_LEN) != ST_OK)
		problem(ck, "key id %.*s: points to no key", (int)(kl > 24 ? 24 : kl), (const char *)k);
	return 0;
}

/* Ledger records: what the counter files flushed, and their bookkeeping. */
static int
check_ledger(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct check *ck = ctx;
	const unsigned char *key = k;
	struct ledger_seq_rec sr;
	struct ledger_rec lr;
	char id[ID_MAX + 1];
	size_t n;

	ck->ledger++;
	if (kl > 0 && key[0] == '\0') {
		if (record_decode_ledger_seq(v, vl, &sr) != 0)
			problem(ck, "ledger: a bookkeeping record is damaged");
		return 0;
	}
	n = kl > 9 ? kl - 9 : 0;
	if (n == 0 || n > ID_MAX || key[n] != '\0') {
		problem(ck, "ledger: a record with a malformed key");
		return 0;
	}
	memcpy(id, key, n);
	id[n] = '\0';
	if (record_decode_ledger(v, vl, &lr) != 0)
		problem(ck, "ledger: the record of organization '%s' is damaged; "
		    "its quota is refused (503) until it is repaired", id);
	return 0;
}

static int
check_history(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct check *ck = ctx;
	char id[ID_MAX + 1];
	struct history_rec h;
	enum tally_kind kind;
	struct ledger_seq_rec mark;
	int64_t day;

	if (tally_is_mark(k, kl)) {
		if (record_decode_ledger_seq(v, vl, &mark) != 0)
			problem(ck, "history: a batch mark is damaged; the master refuses "
			    "that process's usage until the process restarts");
		return 0;
	}
	ck->history++;
	if (tally_parse_key(k, kl, &day, &kind, id) != 0)
		problem(ck, "history: a record with a malformed key");
	else if (record_decode_history(v, vl, &h) != 0)
		problem(ck, "history: the record of %s '%s' on day %lld is damaged",
		    kind == TALLY_ORG ? "organization" : "key", id, (long long)day);
	return 0;
}

static int
check_audit(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct check *ck = ctx;
	static struct audit_rec r;
	char at[AUDIT_AT_MAX];
	uint64_t ns, seq;

	ck->audit++;
	if (audit_parse_key(k, kl, &ns, &seq) != 0)
		problem(ck, "audit: a record with a malformed key");
	else if (record_decode_audit(v, vl, &r) != 0)
		problem(ck, "audit: the record of %s is damaged", audit_format_at(ns, at, sizeof at));
	return 0;
}

/* Sealed secrets: each opens under the store's vault, for a key id it knows. */
static int
check_secret(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct check *ck = ctx;
	char id[KEYID_LEN + 1], key[APIKEY_BUF];

	ck->secrets++;
	if (kl != KEYID_LEN) {
		problem(ck, "vault: a sealed secret under a malformed key id");
		return 0;
	}
	memcpy(id, k, kl);
	id[kl] = '\0';
	if (store_exists(ck->c->kg.store, NULL, TBL_KEYIDS, id, kl) != ST_OK)
		problem(ck, "vault: the sealed secret of %s belongs to no key", id);
	if (vault_open(ck->c->kg.vault, id, v, vl, key, sizeof key) < 0)
		problem(ck, "vault: the sealed secret of %s does not open", id);
	OPENSSL_cleanse(key, sizeof key);
	return 0;
}

/* A store made with a vault: the file still loads and is the store's. */
static void
check_vault(struct check *ck)
{
	struct kg *kg = &ck->c->kg;
	char err[600];
	int none, rc;

	if (!kg_has_vault(kg))
		return;
	cli_progress();
	if (kg_vault(kg, &none, err, sizeof err) == NULL) {
		problem(ck, "vault: %s", err);
		return;
	}
	if ((rc = store_scan(kg->store, NULL, TBL_SECRETS, check_secret, ck)) != ST_OK) {
		problem(ck, "vault: the sealed secrets cannot be read: %s", store_errmsg(kg->store));
		return;
	}
	printf("vault:     %lu sealed secrets\n", ck->secrets);
}

static int
check_counts(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct check *ck = ctx;
	char id[ID_MAX + 1];
	struct org_rec o;
	struct orgcount *e;

	if (kl > ID_MAX || record_decode_org(v, vl, &o) != 0)
		return 0;
	memcpy(id, k, kl);
	id[kl] = '\0';
	e = orgcount(ck, id);
	if (e != NULL && e->n != o.nkeys)
		problem(ck, "organization '%s': counts %u keys not revoked, the store holds %u",
		    id, o.nkeys, e->n);
	return 0;
}

/*
 * The key index must mirror the store.  One that is missing or was left
 * half written only costs speed; one that differs is a bug, and both are
 * rebuilt here.
 */
static void
check_index(struct cli *c, struct check *ck)
{
	char err[600];
	int rc;

	cli_progress();
	rc = keyindex_verify(c->dir, counters_index_anchor(c->kg.counters),
	    c->kg.store, err, sizeof err);
	if (rc == 0) {
		printf("key index: ok\n");
		return;
	}
	if (rc < 0)
		problem(ck, "key index: %s", err);
	if (cat_rebuild_index(c->cat) == CAT_OK)
		printf("key index: %s; rebuilt\n", rc > 0 ? err : "differed from the store");
	else
		problem(ck, "key index: could not be rebuilt");
}

static int
db_check(struct cli *c, int argc, char **argv)
{
	unsigned char mbuf[RECORD_MAX];
	struct meta_rec m;
	struct check ck;
	struct args a;
	char err[600];
	uint32_t used, slots;
	uint64_t entries;
	int code, rc;

	c->cmd = "db check";
	if ((code = cli_parse(c, argc, argv, NULL, 0, 0, "db check", &a)) != EX_OK)
		return code;
	if ((code = cli_open(c)) != EX_OK)
		return code;
	memset(&ck, 0, sizeof ck);
	ck.c = c;
	/* Pages on disk must be current before the files are verified. */
	if ((rc = store_checkpoint(c->kg.store)) != ST_OK)
		return cli_store_fail(c, rc, "checkpoint");
	cli_progress();
	if (store_verify(c->kg.store, err, sizeof err) != 0)
		problem(&ck, "%s", err);
	if (kg_read_meta(&c->kg, NULL, mbuf, sizeof mbuf, &m, 0) != ST_OK)
		problem(&ck, "the meta record is unreadable");
	ck.ocap = 4096;
	{
		uint64_t n = 0;

		if (store_count(c->kg.store, TBL_ORGS, &n) == ST_OK)
			ck.ocap = (size_t)n * 2 + 64;
	}
	if ((ck.oc = calloc(ck.ocap, sizeof *ck.oc)) == NULL)
		return cli_fail(EX_STORE, "out of memory");
	if ((rc = store_scan(c->kg.store, NULL, TBL_PLANS, check_plan, &ck)) != ST_OK ||
	    (rc = store_scan(c->kg.store, NULL, TBL_ORGS, check_org, &ck)) != ST_OK ||
	    (cli_progress(), rc = store_scan(c->kg.store, NULL, TBL_KEYS, check_key, &ck)) != ST_OK ||
	    (cli_progress(), rc = store_scan(c->kg.store, NULL, TBL_KEYIDS, check_keyid, &ck)) != ST_OK ||
	    (cli_progress(), rc = store_scan(c->kg.store, NULL, TBL_ORGS, check_counts, &ck)) != ST_OK ||
	    (cli_progress(), rc = store_scan(c->kg.store, NULL, TBL_LEDGER, check_ledger, &ck)) != ST_OK ||
	    (cli_progress(), rc = store_scan(c->kg.store, NULL, TBL_HISTORY, check_history, &ck)) != ST_OK ||
	    (cli_progress(), rc = store_scan(c->kg.store, NULL, TBL_AUDIT, check_audit, &ck)) != ST_OK) {
		free(ck.oc);
		return cli_store_fail(c, rc, "scan");
	}
	free(ck.oc);
	slots = counters_nslots(c->kg.counters);
	used = counters_used(c->kg.counters);
	printf("store:     %s (prefix %s%s)\n", c->dir, c->kg.prefix,
	    digester_peppered(c->kg.digester) ? ", peppered" : "");
	printf("plans:     %lu\n", ck.plans);
	printf("orgs:      %lu\n", ck.orgs);
	printf("keys:      %lu (%lu revoked)\n", ck.keys, ck.revoked);
	printf("ledger:    %lu records\n", ck.ledger);
	printf("history:   %lu day records\n", ck.history);
	printf("audit:     %lu records\n", ck.audit);
	check_vault(&ck);
	cli_progress();
	switch (cat_verify_orgkeys(c->cat, &entries, err, sizeof err)) {
	case 0:
		printf("keys by organization: %llu, ok\n", (unsigned long long)entries);
		break;
	case 1:
		printf("keys by organization: to be built by the next key command\n");
		break;
	default:
		problem(&ck, "keys by organization: %s", err);
	}
	printf("counters:  %u of %u slots used (%.1f%%)\n", used, slots,
	    100.0 * used / (double)slots);
	check_index(c, &ck);
	if (used > slots / 2)
		problem(&ck, "the counter table is more than half full; make a new store with "
		    "init --counter-slots and import the keys, before rate limits fail closed");
	if (ck.problems) {
		printf("%lu problem%s found\n", ck.problems, ck.problems == 1 ? "" : "s");
		return EX_STORE;
	}
	printf("ok\n");
	return EX_OK;
}

static int
db_recover(struct cli *c, int argc, char **argv)
{
	struct args a;
	int code, rc;

	c->cmd = "db recover";
	if ((code = cli_parse(c, argc, argv, NULL, 0, 0, "db recover", &a)) != EX_OK)
		return code;
	/*
	 * Opening registers with DB_REGISTER|DB_RECOVER: if a process died
	 * in the store, failchk (or full recovery, when failchk cannot
	 * release what it held) runs now.  Then checkpoint.
	 */
	if ((code = cli_open(c)) != EX_OK)
		return code;
	if ((rc = store_maintain(c->kg.store)) != ST_OK)
		return cli_store_fail(c, rc, "failchk");
	if ((rc = store_checkpoint(c->kg.store)) != ST_OK)
		return cli_store_fail(c, rc, "checkpoint");
	/* the index is derived: after a recovery, derive it again */
	if ((code = cli_cat_fail(c, cat_rebuild_index(c->cat))) != EX_OK)
		return code;
	cli_note("keygate: store %s is consistent", c->dir);
	return EX_OK;
}

int
cmd_db(struct cli *c, int argc, char **argv)
{
	c->cmd = "db";
	if (argc < 1)
		return cli_fail(EX_USAGE, "db: expected backup, check or recover");
	if (strcmp(argv[0], "backup") == 0)
		return db_backup(c, argc - 1, argv + 1);
	if (strcmp(argv[0], "check") == 0)
		return db_check(c, argc - 1, argv + 1);
	if (strcmp(argv[0], "recover") == 0)
		return db_recover(c, argc - 1, argv + 1);
	return cli_fail(EX_USAGE, "db: unknown subcommand '%s' (backup, check, recover)", argv[0]);
}
