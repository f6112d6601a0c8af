/*
 * fuzz_replmsg.c - the messages of a replicated store (replmsg.h): what
 * keygate-repd takes from the processes of its host and, on the master,
 * from other sites, and the answers those read back; against a real store
 * made through the catalog.
 *
 * Input: one message, as it arrives.  "key_FuzzSeed0000000A".."D" in it
 * become the seeded keys' ids (as long), so that inputs reach real keys.
 * It is routed as keygate-repd routes it (replmsg_route), once as from a
 * process of this host and once as from another site; a write runs on the
 * store as on the master (replsite_execute: catfwd_exec, ledger_apply_flush,
 * tally_apply), a replica's state is read as gossip_in reads it.  The same
 * bytes are then read as an answer by the readers of answers: rmr_answer,
 * catfwd_answer_token, replsite_get_status (keygate repl status) and
 * replsite_get_gossip (a replica, the master's answer).  And as the bytes
 * a process writes to repl.sock: repllink_recv's framing.
 *
 * Invariants: every answer written is a well-formed answer of a status the
 * executor gives (RS_OK or RS_REFUSED, and no CAT_STORE: the store never
 * fails on a request it let through); a request refused wrote nothing to the store (its log
 * did not move), a catalog operation that failed wrote no audit record;
 * no single allocation while a message is read and run exceeds a fixed
 * allowance plus a small multiple of the message's size (a count read from
 * a message never sizes an allocation the message cannot back); any strict
 * prefix of a write that was taken is refused, with nothing written; a
 * status or a state a reader accepts is exactly what the writer makes of it
 * (replsite_put_status, replsite_put_status_info).
 *
 * FUZZ_REPLMSG_SEEDS=DIR, set when the target starts, makes it write its
 * seed inputs into DIR with the writers of the format, check that each is
 * taken as intended, and exit (tests/fuzz/make-seeds runs it).
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sanitizer/allocator_interface.h>

#include "catalog.h"
#include "catfwd.h"
#include "counters.h"
#include "fuzz.h"
#include "keyindex.h"
#include "ledger.h"
#include "repl.h"
#include "repllink.h"
#include "replmsg.h"
#include "replsite.h"
#include "store.h"
#include "tally.h"

#define NSEED 4
/* The fixed "now" of routing (2026-12-01T00:00:00Z): expiries are input. */
#define NOW_MS INT64_C(1796083200000)
/*
 * What reading and running a message may allocate at once whatever it
 * holds (the catalog's session, its rules, Berkeley DB's cursors), and
 * per byte of the message beyond that.
 */
#define ALLOC_FIXED (256u << 10)
#define ALLOC_PER_BYTE 4u

static const char g_placeholder[] = "key_FuzzSeed0000000"; /* + 'A'..'D' */
_Static_assert(sizeof g_placeholder == KEYID_LEN, "a placeholder is as long as a key id");

static char g_dir[256];
static struct kg g_kg;
static char g_id[NSEED][KEYID_LEN + 1];

static void die(const char *what, const char *why) __attribute__((noreturn));

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "fuzz_replmsg: %s: %s\n", what, why);
	abort();
}

/* ---- the largest allocation while a message is read and run ---- */

static volatile int g_tracking;
static volatile size_t g_largest;

FUZZ_NO_COVERAGE static void
on_malloc(const volatile void *p, size_t n)
{
	(void)p;
	if (g_tracking && n > g_largest)
		g_largest = n;
}

FUZZ_NO_COVERAGE static void
on_free(const volatile void *p)
{
	(void)p;
}

static void
track(void)
{
	g_largest = 0;
	g_tracking = 1;
}

static void
check_allocs(size_t len, const char *what)
{
	g_tracking = 0;
	FUZZ_CHECK(g_largest <= ALLOC_FIXED + ALLOC_PER_BYTE * len,
	    "%s: an allocation of %zu bytes for a message of %zu", what, (size_t)g_largest, len);
}

/* ---- the store ---- */

static void
seed(void)
{
	struct cat_actor actor = {"cli:fuzz", NULL, SCOPES_ALL, NULL};
	struct cat_plan_spec ps;
	struct cat_key_spec ks;
	struct cat_new_key nk;
	struct meta_rec m;
	struct catalog *cat;
	struct store *s = NULL;
	struct counters *c = NULL;
	char err[600];
	int i;

	if (store_write_config(g_dir, 4u << 20, err, sizeof err) != 0 ||
	    (s = store_open(g_dir, STORE_CREATE, err, sizeof err)) == NULL)
		die(g_dir, err);
	memset(&m, 0, sizeof m);
	m.format = STORE_FORMAT;
	m.prefix = "kg";
	m.pepper_path = "";
	m.created_at = kg_now();
	if (cat_init_store(s, &actor, &m, NULL, err, sizeof err) != 0 ||
	    ledger_set_slots(s, 4096, err, sizeof err) != 0 ||
	    counters_create(g_dir, 4096, err, sizeof err) != 0 ||
	    (c = counters_open(g_dir, err, sizeof err)) == NULL ||
	    keyindex_rebuild(g_dir, counters_index_anchor(c), s, NULL, err, sizeof err) != 0)
		die("seed", err);
	counters_close(c);
	store_close(s);
	if (kg_open(&g_kg, g_dir, 0, err, sizeof err) != 0)
		die("open", err);
	if ((cat = cat_open(&g_kg, &actor, NULL)) == NULL)
		die("seed", "cat_open");
	memset(&ps, 0, sizeof ps);
	ps.name = "small";
	ps.set_max_keys = 1;
	ps.max_keys = 40;
	if (cat_plan_set(cat, &ps, NULL) != CAT_OK ||
	    cat_org_create(cat, "acme", "small", "Acme") != CAT_OK ||
	    cat_org_create(cat, "beta", "small", NULL) != CAT_OK)
		die("seed", cat_error(cat)->msg);
	for (i = 0; i < NSEED; i++) {
		memset(&ks, 0, sizeof ks);
		ks.org = i == 3 ? "beta" : "acme";
		ks.name = "seed";
		ks.scopes = SCOPE_KEYS_READ;
		if (cat_key_create(cat, &ks, &nk) != CAT_OK)
			die("seed key", cat_error(cat)->msg);
		strcpy(g_id[i], nk.id);
		cat_new_key_wipe(&nk);
	}
	if (cat_close(cat, err, sizeof err) != 0)
		die("seed", err);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
cleanup(void)
{
	kg_close(&g_kg);
	if (g_dir[0] != '\0')
		nftw(g_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* What a request must leave alone when it changes nothing. */
struct state {
	uint64_t log;            /* the end of the store's log */
	unsigned char audit[32]; /* the key of the last audit record */
	size_t audit_len;
};

static void
state_of(struct state *st)
{
	int rc;

	memset(st, 0, sizeof *st);
	FUZZ_CHECK(repl_log_position(g_kg.store, &st->log) == 0, "the log's position");
	rc = store_last(g_kg.store, NULL, TBL_AUDIT, st->audit, sizeof st->audit,
	    &st->audit_len, 0);
	FUZZ_CHECK(rc == ST_OK || rc == ST_NOTFOUND, "the last audit record: %d", rc);
}

static int
same_audit(const struct state *a, const struct state *b)
{
	return a->audit_len == b->audit_len && memcmp(a->audit, b->audit, a->audit_len) == 0;
}

/* ---- answers ---- */

/*
 * An answer the executor wrote: well formed, RS_OK or RS_REFUSED, and
 * for RS_OK one whose commit token reads.  Its status, and for a
 * catalog answer the catalog's result (*cat_rc; -1 when none).
 */
static enum replmsg_status
check_written(const struct replmsg_w *w, int kind, int *cat_rc)
{
	unsigned char token[STORE_TOKEN_LEN];
	struct replmsg_r r;
	enum replmsg_status st;
	const char *msg;
	int has;

	*cat_rc = -1;
	FUZZ_CHECK(!w->failed && w->len >= 2 && w->len <= REPLMSG_MAX, "an answer was not written");
	rmr_init(&r, w->buf, w->len);
	st = rmr_answer(&r, &msg);
	FUZZ_CHECK(!r.failed && w->buf[0] == REPLMSG_VERSION && st == w->buf[1],
	    "a malformed answer (%02x %02x)", w->buf[0], w->buf[1]);
	FUZZ_CHECK(st == RS_OK || st == RS_REFUSED, "an executor answered %d: %s", (int)st, msg);
	if (st != RS_OK)
		return st;
	has = catfwd_answer_token(w->buf, w->len, token);
	FUZZ_CHECK(has == 0 || has == 1, "an answer's commit token does not read");
	if (kind == RM_CATALOG) {
		if (has == 1)
			rmr_bytes(&r, 1 + STORE_TOKEN_LEN);
		else
			rmr_u8(&r);
		*cat_rc = (int)rmr_u8(&r);
		rmr_opt_str(&r, CAT_FIELD_MAX);
		msg = rmr_str(&r, CAT_MSG_MAX);
		FUZZ_CHECK(!r.failed && *cat_rc < CAT_STORE, "a catalog answer's result: %d (%s)",
		    *cat_rc, msg);
	}
	return st;
}

/* A reader's struct replsite_info: what a writer could have sent. */
static void
check_info(const struct replsite_info *in)
{
	FUZZ_CHECK(strlen(in->addr.host) <= REPL_HOST_MAX && in->addr.port <= 65535 &&
	    in->role <= REPL_ROLE_CLIENT && in->state <= SITE_STARTING &&
	    (in->connected == 0 || in->connected == 1), "a site's state out of range");
}

/* What the writer makes of what a reader accepted must be the bytes read. */
static void
check_same(const struct replmsg_w *w, const unsigned char *body, size_t len, const char *what)
{
	FUZZ_CHECK(!w->failed && w->len == len && memcmp(w->buf, body, len) == 0,
	    "%s: the writer makes %zu other bytes of what the reader took from %zu", what,
	    w->len, len);
}

/* The input read as an answer, by every reader of one. */
static void
as_answer(const unsigned char *msg, size_t len)
{
	static struct replsite_status st;
	static struct replsite_info sites[REPLSITE_GOSSIP_MAX];
	unsigned char token[STORE_TOKEN_LEN];
	struct replmsg_r r, body;
	struct replmsg_w w;
	enum replmsg_status status;
	const char *text;
	uint64_t lsn;
	size_t n, i;
	int well, has;

	rmr_init(&r, msg, len);
	status = rmr_answer(&r, &text);
	FUZZ_CHECK(text != NULL && strlen(text) <= REPLMSG_LINE_MAX, "an answer's message");
	well = !r.failed && len >= 2 && msg[0] == REPLMSG_VERSION && msg[1] <= RS_NOT_MASTER;
	FUZZ_CHECK(well ? status == msg[1] : status == RS_REFUSED, "rmr_answer: status %d", status);
	has = catfwd_answer_token(msg, len, token);
	FUZZ_CHECK(has >= -1 && has <= 1 && (has == 0 || (well && status == RS_OK)),
	    "catfwd_answer_token: %d for an answer of status %d", has, status);
	if (!well || status != RS_OK)
		return;
	body = r;
	if (replsite_get_status(&body, &st) == 0) {
		FUZZ_CHECK(st.nsites <= REPL_SITES_MAX && strlen(st.master.host) <= REPL_HOST_MAX &&
		    st.master.port <= 65535, "a status out of range");
		check_info(&st.self);
		for (i = 0; i < st.nsites; i++)
			check_info(&st.sites[i]);
		rmw_init(&w);
		replsite_put_status(&w, &st);
		check_same(&w, r.p, r.left, "replsite_get_status");
		rmw_free(&w);
	}
	body = r;
	if (replsite_get_gossip(&body, &lsn, sites, &n) == 0) {
		FUZZ_CHECK(n >= 1 && n <= REPLSITE_GOSSIP_MAX, "gossip: %zu sites", n);
		rmw_init(&w);
		rmw_u64(&w, lsn);
		rmw_u32(&w, (uint32_t)n);
		for (i = 0; i < n; i++) {
			check_info(&sites[i]);
			replsite_put_status_info(&w, &sites[i]);
		}
		check_same(&w, r.p, r.left, "replsite_get_gossip");
		rmw_free(&w);
	}
}

/* ---- requests ---- */

/*
 * Runs the write q on the store as the master does; its answer into w
 * (rmw_init'd here).  The answer's status; *cat_rc as check_written.
 */
static enum replmsg_status
run_write(struct replmsg_req *q, size_t len, struct replmsg_w *w, int *cat_rc)
{
	struct state before, after;
	enum replmsg_status st;

	state_of(&before);
	rmw_init(w);
	track();
	replsite_execute(&g_kg, q->kind, &q->r, w, NULL);
	check_allocs(len, "a write");
	st = check_written(w, q->kind, cat_rc);
	state_of(&after);
	if (st == RS_REFUSED)
		FUZZ_CHECK(after.log == before.log, "a refused %c request wrote to the store "
		    "(log %llx -> %llx)", q->kind, (unsigned long long)before.log,
		    (unsigned long long)after.log);
	if (st == RS_REFUSED || (*cat_rc > 0))
		FUZZ_CHECK(same_audit(&before, &after), "a %s catalog request wrote an audit record",
		    st == RS_REFUSED ? "refused" : "failed");
	return st;
}

/* A cheap spread of cut points over the message. */
static size_t
cut_point(const unsigned char *msg, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ msg[i]) * 16777619u;
	return h % len;
}

/* Prefixes of a write that was taken: each is refused, with nothing written. */
static void
check_prefixes(const unsigned char *msg, size_t len, int local)
{
	size_t cuts[3], i, k;

	cuts[0] = len - 1;
	cuts[1] = cut_point(msg, len);
	cuts[2] = len / 2;
	for (i = 0; i < 3; i++) {
		struct replmsg_req q;
		struct replmsg_w w;
		enum replmsg_route rt;
		unsigned char *cut;
		int cat_rc;

		for (k = 0; k < i && cuts[k] != cuts[i]; k++)
			;
		if (k < i)
			continue;
		cut = fuzz_dup(msg, cuts[i]);
		rt = replmsg_route(cut, cuts[i], local, NOW_MS, &q);
		FUZZ_CHECK(rt == RR_REFUSED || rt == RR_WRITE,
		    "the first %zu of %zu bytes of a write route as %d", cuts[i], len, rt);
		if (rt == RR_WRITE) {
			FUZZ_CHECK(run_write(&q, cuts[i], &w, &cat_rc) == RS_REFUSED,
			    "the first %zu of %zu bytes of a %c write were taken", cuts[i], len,
			    q.kind);
			rmw_free(&w);
		}
		free(cut);
	}
}

/* The input as a request, from a process of this host (local) or another site. */
static void
as_request(const unsigned char *msg, size_t len, int local)
{
	struct replsite_info in;
	struct replmsg_req q;
	struct replmsg_w w;
	enum replmsg_route rt;
	int cat_rc;

	track();
	rt = replmsg_route(msg, len, local, NOW_MS, &q);
	check_allocs(len, "routing");
	FUZZ_CHECK(q.msg >= msg && q.msg + q.len == msg + len, "the request inside is not the tail");
	switch (rt) {
	case RR_WRITE:
		FUZZ_CHECK(q.kind == RM_CATALOG || q.kind == RM_LEDGER || q.kind == RM_HISTORY,
		    "a write of kind %d", q.kind);
		FUZZ_CHECK(local == (q.msg == msg), "a write %s a wrapper",
		    local ? "from this host in" : "from another site without");
		if (run_write(&q, len, &w, &cat_rc) == RS_OK)
			check_prefixes(msg, len, local);
		rmw_free(&w);
		break;
	case RR_GOSSIP:
		FUZZ_CHECK(!local, "gossip from this host");
		replsite_get_status_info(&q.r, &in);
		if (rmr_done(&q.r)) {
			check_info(&in);
			rmw_init(&w);
			replsite_put_status_info(&w, &in);
			check_same(&w, q.msg + 2, q.len - 2, "a replica's state");
			rmw_free(&w);
		}
		break;
	case RR_STATUS:
		FUZZ_CHECK(local && len == 2, "a status request from %s of %zu bytes",
		    local ? "this host" : "another site", len);
		break;
	case RR_EXPIRED:
		FUZZ_CHECK(!local, "an expired request from this host");
		break;
	case RR_REFUSED:
		break;
	default:
		FUZZ_CHECK(0, "route %d", rt);
	}
}

/*
 * The input as the bytes a process writes to repl.sock, then hangs up:
 * repllink_recv's framing (a 32-bit length, then the message).
 */
static void
as_stream(const unsigned char *data, size_t len)
{
	void *msg = NULL;
	size_t n = 0, want;
	int sv[2], rc;

	if (len > 65536) /* what a socket's buffer takes at once */
		return;
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	FUZZ_CHECK(len == 0 || write(sv[0], data, len) == (ssize_t)len, "write");
	shutdown(sv[0], SHUT_WR);
	track();
	rc = repllink_recv(sv[1], &msg, &n, 1000);
	check_allocs(len, "repllink_recv");
	if (rc == 0) {
		want = len < 4 ? 0 : (size_t)data[0] << 24 | (size_t)data[1] << 16 |
		    (size_t)data[2] << 8 | data[3];
		FUZZ_CHECK(len >= 4 && n == want && n > 0 && n <= REPLMSG_MAX && n <= len - 4 &&
		    memcmp(msg, data + 4, n) == 0, "repllink_recv took %zu bytes of %zu", n, len);
	} else {
		FUZZ_CHECK(msg == NULL && n == 0, "repllink_recv failed with a message");
	}
	free(msg);
	close(sv[0]);
	close(sv[1]);
}

/* The seeded keys' ids in place of their placeholders. */
static void
expand_ids(unsigned char *msg, size_t len)
{
	size_t n = sizeof g_placeholder - 1;
	unsigned char *p = msg, *end = msg + len;

	while ((size_t)(end - p) > n &&
	    (p = memmem(p, (size_t)(end - p) - 1, g_placeholder, n)) != NULL) {
		if (p[n] >= 'A' && p[n] < 'A' + NSEED)
			memcpy(p, g_id[p[n] - 'A'], KEYID_LEN);
		p += n;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *msg;

	if (size > REPLMSG_MAX)
		return 0;
	as_stream(data, size);
	msg = fuzz_dup(data, size);
	expand_ids(msg, size);
	as_request(msg, size, 1);
	as_request(msg, size, 0);
	as_answer(msg, size);
	free(msg);
	return 0;
}

/* ---- seeds: messages as the writers make them ---- */

static const char *g_seed_dir;

enum expect { TAKEN, REFUSED, EXPIRED, STATUS, GOSSIP, ANSWER };

/* Writes w as seed-NAME after checking that it is taken as expected. */
static void
seed_file(const char *name, struct replmsg_w *w, enum expect e)
{
	char path[512];
	struct replmsg_req q;
	struct replmsg_w ans;
	enum replmsg_route rt;
	unsigned char *msg;
	int cat_rc = -1, local;
	FILE *f;

	if (w->failed)
		die(name, "the writer failed");
	if (e != ANSWER) {
		/* as LLVMFuzzerTestOneInput takes it: with the seeded keys' ids */
		msg = fuzz_dup(w->buf, w->len);
		expand_ids(msg, w->len);
		local = w->len >= 2 && w->buf[1] != RM_EXPIRING && w->buf[1] != RM_GOSSIP;
		rt = replmsg_route(msg, w->len, local, NOW_MS, &q);
		if ((e == TAKEN) != (rt == RR_WRITE) || (e == REFUSED && rt != RR_REFUSED) ||
		    (e == EXPIRED && rt != RR_EXPIRED) || (e == STATUS && rt != RR_STATUS) ||
		    (e == GOSSIP && rt != RR_GOSSIP))
			die(name, "routed otherwise");
		if (e == TAKEN) {
			if (run_write(&q, w->len, &ans, &cat_rc) != RS_OK || cat_rc > 0)
				die(name, "not taken");
			rmw_free(&ans);
		}
		free(msg);
	}
	snprintf(path, sizeof path, "%s/seed-%s", g_seed_dir, name);
	if ((f = fopen(path, "wb")) == NULL || fwrite(w->buf, 1, w->len, f) != w->len ||
	    fclose(f) != 0)
		die(path, strerror(errno));
	rmw_free(w);
}

/* The start of a catalog request as catfwd's client writes it. */
static void
cat_begin(struct replmsg_w *w, const char *actor, const char *remote, uint32_t scopes,
    const char *org, enum catfwd_op op)
{
	rmw_init(w);
	rmw_request(w, RM_CATALOG);
	rmw_str(w, actor);
	rmw_opt_str(w, remote);
	rmw_u32(w, scopes);
	rmw_opt_str(w, org);
	rmw_u8(w, op);
}

static void
put_rule(struct replmsg_w *w, enum rule_action action, const char *methods, const char *host,
    const char *path)
{
	rmw_u8(w, action);
	rmw_str(w, methods);
	rmw_str(w, host);
	rmw_str(w, path);
}

static void
seed_catalog(void)
{
	struct replmsg_w w, wrap;
	unsigned char digest[DIGEST_LEN];

	cat_begin(&w, "cli:root", NULL, SCOPES_ALL, NULL, CATFWD_PLAN_SET);
	rmw_str(&w, "fuzzplan");
	rmw_u8(&w, 1 | 2 | 4 | 8 | 16);
	rmw_u32(&w, 100);
	rmw_u32(&w, 60);
	rmw_u64(&w, 10000);
	rmw_u8(&w, QUOTA_MONTH);
	rmw_u32(&w, 10);
	rmw_u32(&w, 20);
	rmw_u32(&w, 2);
	put_rule(&w, RULE_ALLOW, "GET,POST", "", "/v1/*");
	put_rule(&w, RULE_DENY, "*", "admin.example.com", "/**");
	seed_file("cat-plan-set", &w, TAKEN);

	cat_begin(&w, "cli:root", NULL, SCOPES_ALL, NULL, CATFWD_ORG_CREATE);
	rmw_str(&w, "gamma");
	rmw_str(&w, "fuzzplan");
	rmw_opt_str(&w, "Gamma Ltd");
	seed_file("cat-org-create", &w, TAKEN);

	cat_begin(&w, "cli:root", NULL, SCOPES_ALL, NULL, CATFWD_ORG_SET);
	rmw_str(&w, "gamma");
	rmw_opt_str(&w, "small");
	rmw_opt_str(&w, NULL);
	rmw_i64(&w, 1);
	seed_file("cat-org-set", &w, TAKEN);

	cat_begin(&w, "key:key_FuzzSeed0000000A", "192.0.2.7", SCOPE_ADMIN, NULL,
	    CATFWD_ORG_CREDIT);
	rmw_str(&w, "acme");
	rmw_i64(&w, 500);
	seed_file("cat-org-credit", &w, TAKEN);

	cat_begin(&w, "key:key_FuzzSeed0000000A", "192.0.2.7", SCOPE_KEYS_WRITE, "acme",
	    CATFWD_KEY_CREATE);
	rmw_str(&w, "acme");
	rmw_opt_str(&w, "ci");
	rmw_opt_str(&w, "alice");
	rmw_u8(&w, 1);
	rmw_u8(&w, 1);
	rmw_i64(&w, NOW_MS / 1000 + 86400 * 365);
	rmw_u8(&w, 0);
	rmw_u32(&w, 10);
	rmw_u32(&w, 1);
	rmw_u32(&w, 1);
	put_rule(&w, RULE_ALLOW, "GET", "", "/v1/items/*");
	rmw_u32(&w, SCOPE_KEYS_READ);
	seed_file("cat-key-create", &w, TAKEN);

	cat_begin(&w, "cli:root", NULL, SCOPES_ALL, NULL, CATFWD_KEY_ROTATE);
	rmw_str(&w, "key_FuzzSeed0000000B");
	rmw_i64(&w, 3600);
	rmw_u8(&w, 0);
	rmw_i64(&w, 0);
	rmw_u8(&w, 0);
	seed_file("cat-key-rotate", &w, TAKEN);

	cat_begin(&w, "cli:root", NULL, SCOPES_ALL, NULL, CATFWD_KEY_REVOKE);
	rmw_str(&w, "key_FuzzSeed0000000C");
	seed_file("cat-key-revoke", &w, TAKEN);

	cat_begin(&w, "cli:root", NULL, SCOPES_ALL, NULL, CATFWD_KEY_IMPORT);
	rmw_str(&w, "beta");
	rmw_opt_str(&w, "imported");
	rmw_u8(&w, 1);
	rmw_u32(&w, 2);
	memset(digest, 0xa5, sizeof digest);
	rmw_bytes(&w, digest, sizeof digest);
	rmw_str(&w, "legacy_Ab12");
	rmw_u64(&w, 1);
	rmw_u8(&w, 0);
	rmw_u8(&w, 0);
	memset(digest, 0x5a, sizeof digest);
	rmw_bytes(&w, digest, sizeof digest);
	rmw_str(&w, "legacy_Cd34");
	rmw_u64(&w, 2);
	rmw_u8(&w, 1);
	rmw_u8(&w, 0);
	seed_file("cat-key-import", &w, TAKEN);

	cat_begin(&w, "cli:root", NULL, SCOPES_ALL, NULL, CATFWD_USAGE_PRUNE);
	rmw_i64(&w, NOW_MS / 86400000 - 400);
	seed_file("cat-usage-prune", &w, TAKEN);

	cat_begin(&w, "cli:root", NULL, SCOPES_ALL, NULL, CATFWD_AUDIT_PRUNE);
	rmw_i64(&w, NOW_MS / 1000 - 86400 * 365);
	seed_file("cat-audit-prune", &w, TAKEN);

	/* from another site: wrapped with its expiry (keygate-repd's forward) */
	cat_begin(&w, "cli:root", NULL, SCOPES_ALL, NULL, CATFWD_ORG_CREATE);
	rmw_str(&w, "delta");
	rmw_str(&w, "small");
	rmw_opt_str(&w, NULL);
	rmw_init(&wrap);
	rmw_expiring(&wrap, NOW_MS + 10000, w.buf, w.len);
	rmw_free(&w);
	seed_file("site-org-create", &wrap, TAKEN);

	cat_begin(&w, "cli:root", NULL, SCOPES_ALL, NULL, CATFWD_ORG_CREDIT);
	rmw_str(&w, "beta");
	rmw_i64(&w, 1);
	rmw_init(&wrap);
	rmw_expiring(&wrap, NOW_MS - 1, w.buf, w.len);
	rmw_free(&w);
	seed_file("site-expired", &wrap, EXPIRED);

	cat_begin(&w, "cli:root", NULL, SCOPES_ALL, NULL, CATFWD_PLAN_DELETE);
	rmw_str(&w, "fuzzplan");
	seed_file("cat-plan-delete", &w, TAKEN);
}

/* Batch seq of a process's usage history, as tally.c's encode_batch writes it. */
static void
history_batch(struct replmsg_w *w, uint64_t seq)
{
	int k;

	rmw_request(w, RM_HISTORY);
	rmw_u64(w, 0xfeedfacecafebeefull);
	rmw_u64(w, seq);
	rmw_u32(w, 2);
	rmw_u32(w, (uint32_t)(NOW_MS / 86400000));
	rmw_u8(w, TALLY_ORG);
	rmw_str(w, "acme");
	for (k = 0; k < H_COUNT; k++)
		rmw_u64(w, (uint64_t)k);
	rmw_i64(w, NOW_MS / 1000);
	rmw_u32(w, (uint32_t)(NOW_MS / 86400000));
	rmw_u8(w, TALLY_KEY);
	rmw_str(w, "key_FuzzSeed0000000A");
	for (k = 0; k < H_COUNT; k++)
		rmw_u64(w, 2 * (uint64_t)k);
	rmw_i64(w, NOW_MS / 1000);
}

static void
seed_flushes(void)
{
	static const char *const orgs[] = {"acme", "beta"};
	struct replmsg_w w, wrap;
	size_t i;
	int k;

	/* a counter file's flush, as ledger.c's forward_flush writes it */
	rmw_init(&w);
	rmw_request(&w, RM_LEDGER);
	rmw_u64(&w, 0x0123456789abcdefull);
	rmw_i64(&w, NOW_MS / 1000);
	rmw_u32(&w, 2);
	for (i = 0; i < 2; i++) {
		rmw_str(&w, orgs[i]);
		for (k = 0; k < OC_COUNT; k++)
			rmw_u64(&w, 10 * (i + 1) + (uint64_t)k);
	}
	rmw_init(&wrap);
	rmw_expiring(&wrap, NOW_MS + 2000, w.buf, w.len);
	seed_file("ledger-flush", &w, TAKEN);
	seed_file("site-ledger-flush", &wrap, TAKEN);

	rmw_init(&w);
	rmw_request(&w, RM_LEDGER);
	rmw_u64(&w, 7);
	rmw_i64(&w, NOW_MS / 1000);
	rmw_u32(&w, 0);
	seed_file("ledger-flush-empty", &w, TAKEN);

	rmw_init(&w);
	history_batch(&w, 1);
	seed_file("history-batch", &w, TAKEN);
	rmw_init(&w);
	history_batch(&w, 2);
	rmw_init(&wrap);
	rmw_expiring(&wrap, NOW_MS + 2000, w.buf, w.len);
	rmw_free(&w);
	seed_file("site-history-batch", &wrap, TAKEN);
}

static void
info(struct replsite_info *in, const char *host, unsigned port, enum repl_role role,
    uint64_t lsn)
{
	memset(in, 0, sizeof *in);
	snprintf(in->addr.host, sizeof in->addr.host, "%s", host);
	in->addr.port = port;
	in->role = role;
	in->state = SITE_READY;
	in->connected = 1;
	in->lsn = lsn;
	in->lag_ns = role == REPL_ROLE_MASTER ? 0 : 1500000;
	in->age_ms = role == REPL_ROLE_MASTER ? 0 : 120;
}

static void
seed_sites(void)
{
	static struct replsite_status st;
	struct replsite_info self, peer;
	struct replmsg_w w;

	rmw_init(&w);
	rmw_request(&w, RM_STATUS);
	seed_file("status-request", &w, STATUS);

	/* a replica's state, as gossip_out sends it */
	info(&self, "10.0.0.2", 7000, REPL_ROLE_CLIENT, 1ull << 32 | 4096);
	rmw_init(&w);
	rmw_request(&w, RM_GOSSIP);
	replsite_put_status_info(&w, &self);
	seed_file("gossip-state", &w, GOSSIP);

	/* the master's answer to it, as gossip_in writes it */
	info(&peer, "fd00::1", 7000, REPL_ROLE_MASTER, 1ull << 32 | 8192);
	rmw_init(&w);
	rmw_answer(&w, RS_OK, "");
	rmw_u64(&w, peer.lsn);
	rmw_u32(&w, 2);
	replsite_put_status_info(&w, &peer);
	replsite_put_status_info(&w, &self);
	seed_file("answer-gossip", &w, ANSWER);

	/* keygate-repd's status, as keygate repl status reads it */
	memset(&st, 0, sizeof st);
	info(&st.self, "10.0.0.2", 7000, REPL_ROLE_CLIENT, 1ull << 32 | 4096);
	st.have_master = 1;
	st.master = peer.addr;
	st.group_size = 3;
	st.priority = 100;
	st.elections = 2;
	st.settings.quorum_acks = 1;
	st.settings.elections = 1;
	st.settings.ack_timeout_ms = 1000;
	st.settings.heartbeat_send_ms = 500;
	st.settings.heartbeat_monitor_ms = 2000;
	st.settings.election_timeout_ms = 3000;
	st.nsites = 2;
	st.sites[0] = peer;
	info(&st.sites[1], "10.0.0.3", 7000, REPL_ROLE_CLIENT, 1ull << 32 | 2048);
	st.sites[1].state = SITE_BEHIND;
	rmw_init(&w);
	rmw_answer(&w, RS_OK, "");
	replsite_put_status(&w, &st);
	seed_file("answer-status", &w, ANSWER);
}

/* Answers the executors write, as a replica or a process reads them. */
static void
seed_answers(void)
{
	struct replmsg_w w, ans;
	struct replmsg_req q;
	void *only;
	size_t len;
	int cat_rc;

	cat_begin(&w, "cli:root", NULL, SCOPES_ALL, NULL, CATFWD_ORG_CREDIT);
	rmw_str(&w, "beta");
	rmw_i64(&w, 25);
	if (replmsg_route(w.buf, w.len, 1, NOW_MS, &q) != RR_WRITE ||
	    run_write(&q, w.len, &ans, &cat_rc) != RS_OK || cat_rc != CAT_OK)
		die("answer-org-credit", "not taken");
	rmw_free(&w);
	seed_file("answer-org-credit", &ans, ANSWER);

	if (replmsg_answer_only(RS_REFUSED, "a malformed ledger flush", &only, &len) != 0)
		die("answer-refused", "out of memory");
	w.buf = only;
	w.len = w.cap = len;
	w.failed = 0;
	seed_file("answer-refused", &w, ANSWER);
}

static void
write_seeds(void)
{
	seed_catalog();
	seed_flushes();
	seed_sites();
	seed_answers();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	snprintf(g_dir, sizeof g_dir, "%s/fuzz_replmsg.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(g_dir) == NULL)
		die(g_dir, strerror(errno));
	atexit(cleanup);
	seed();
	__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
	if ((g_seed_dir = getenv("FUZZ_REPLMSG_SEEDS")) != NULL) {
		write_seeds();
		exit(0);
	}
	return 0;
}
