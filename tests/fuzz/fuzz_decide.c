/*
 * fuzz_decide.c - the authorizer's whole decision (authz_decide, then
 * decision_render) on arbitrary FastCGI params, over a small store seeded
 * once at start-up with plans, organizations and keys of every kind.
 *
 * Input: a 7-byte header, then NUL-separated param values (a NUL cannot
 * occur inside a FastCGI param value as libfcgi hands it over):
 *   byte 0     bit 0: FastCGI role AUTHORIZER (else RESPONDER)
 *              bit 1: query-param = api_key is configured
 *              bits 2-3: the request is decided 1-4 times in a row, 1 ms apart
 *              bit 4: the peppered store (HMAC digests, with --sha256
 *                     imports looked up as plain digests) instead of the plain one
 *              bit 5: before repeat (bits 6-7) % repeats, organization acme is
 *                     suspended and plan free denies everything, as the CLI
 *                     does it (undone after the input)
 *   bytes 1-2  which of the 15 params are present (bit i, little-endian)
 *   bytes 3-6  the clock: (v >> 8) seconds and (v & 255) / 256 s after
 *              T0 - 30 days (so from a month before T0 to ~164 days after)
 *   fields     HTTP_AUTHORIZATION, HTTP_X_API_KEY, REQUEST_METHOD,
 *              REQUEST_URI, HTTP_HOST, QUERY_STRING, SERVER_PROTOCOL,
 *              KEYGATE_REPLAY, SCRIPT_NAME, PATH_INFO, REMOTE_ADDR,
 *              REDIRECT_REQUEST_METHOD, and a second HTTP_AUTHORIZATION,
 *              HTTP_X_API_KEY and HTTP_HOST (a header nginx passes twice)
 * In any value, "$0" ... "$9", "$a" ... "$f" stand for the seeded keys below
 * (they are also fixed strings, in the dictionary, but two bytes are
 * easier to move around than fifty).
 *
 * The params become an environment ("NAME=value", in field order) that
 * the authorizer's own params_read and params_request map to a request,
 * and params_wipe wipes afterwards.  Counters are zeroed before each input,
 * so an input always gets the same answers.  The stores live in $KEYGATE_FUZZ_DIR, else /dev/shm,
 * else $TMPDIR, and are removed at exit (or by the next run, after a crash).
 *
 * Invariants (a wrong "yes" aborts):
 * - 200 only for a valid seeded key (live or test, not revoked, expired,
 *   suspended, orphaned, of the wrong mode, or found by the wrong kind of
 *   digest), that key really is in the
 *   Authorization (Bearer), X-Api-Key or (when configured) query string,
 *   and in every copy of a header that was sent twice, never for a
 *   replay, and with that key's id, organization, plan, mode;
 * - 200 only for a request the plan's and the key's route rules allow,
 *   within the rate limit and the quota (checked against what the seed
 *   configured, with path_normalize and host_normalize as the only shared
 *   code): on plan pro, never for a host under internal.example.com, nor
 *   for a host that cannot be compared (too long, empty, malformed);
 * - after params_wipe, no byte of any Authorization or X-Api-Key param
 *   (nor of the query string, when keys may come from it) is left;
 * - replays and subrequests leave every counter as it was;
 * - after a suspension or plan change, the very next decision obeys it
 *   (organizations and plans are cached per worker);
 * - decision_render succeeds for every verdict, starts with the Status
 *   line of that verdict, uses CR LF only as header line ends, has a
 *   one-line body for a denial, carries WWW-Authenticate on a 401 and
 *   Retry-After on a 429, and never contains a key;
 * - the authorizer's pre-rendered answers (decision_answer) are byte for
 *   byte what decision_render writes.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authz.h"
#include "counters.h"
#include "creds.h"
#include "ctx.h"
#include "decision.h"
#include "fuzz.h"
#include "params.h"
#include "record.h"
#include "rules.h"
#include "store.h"

#define T0 ((int64_t)1795000000) /* 2026-11-18T10:13:20Z */
#define DAY 86400
#define NSLOTS 1024
/* counters.c's layout: a 4 KiB header, then 32-byte slots (tag, a, b, c) */
#define COUNTERS_HEADER 4096
#define SLOT_SIZE 32

enum {
	P_AUTH, P_XKEY, P_METHOD, P_URI, P_HOST, P_QUERY, P_PROTOCOL, P_REPLAY,
	P_SCRIPT, P_PATHINFO, P_REMOTE, P_REDIRECT, P_AUTH2, P_XKEY2, P_HOST2, P_COUNT
};

static const char *const param_names[P_COUNT] = {
	"HTTP_AUTHORIZATION", "HTTP_X_API_KEY", "REQUEST_METHOD", "REQUEST_URI",
	"HTTP_HOST", "QUERY_STRING", "SERVER_PROTOCOL", "KEYGATE_REPLAY",
	"SCRIPT_NAME", "PATH_INFO", "REMOTE_ADDR", "REDIRECT_REQUEST_METHOD",
	"HTTP_AUTHORIZATION", "HTTP_X_API_KEY", "HTTP_HOST",
};

struct plan_seed {
	const char *name;
	struct rate_spec rate;
	struct quota_spec quota;
	const char *rules[4]; /* "a..." allow, "d..." deny */
};

static const struct plan_seed plans[] = {
	{"pro", {0, 0}, {0, QUOTA_NONE}, {"d* /admin/**", "d* *.internal.example.com/**"}},
	{"free", {2, 1}, {3, QUOTA_DAY}, {"d* /v1/admin/**", "aGET,POST /v1/**"}},
	{"credits", {100, 60}, {1, QUOTA_CREDITS}, {NULL}},
};

struct org_seed {
	const char *id;
	const char *plan;
	uint32_t flags;
	uint64_t credits;
};

static const struct org_seed orgs[] = {
	{"acme", "pro", 0, 0},
	{"tiny", "free", 0, 0},
	{"prepaid", "credits", 0, 2},
	{"gone", "pro", ORGF_SUSPENDED, 0},
	{"planless", "ghost", 0, 0},  /* a plan that does not exist: 500 */
};

/* How a key is stored in the peppered store (the plain one: DIGEST). */
enum storage {
	DIGEST,       /* under the store's digest (HMAC when peppered) */
	PLAIN_FLAG,   /* a --sha256 import: SHA-256, KEYF_PLAIN */
	PLAIN_NOFLAG, /* SHA-256 without KEYF_PLAIN: must not match */
	DIGEST_FLAG,  /* the store's digest with KEYF_PLAIN: must not match */
	DAMAGED       /* a record cut in half: 500, never 200 */
};

struct key_seed {
	const char *tag;       /* the random part, padded; NULL: imported */
	const char *imported;  /* the key itself for an imported key */
	const char *org;
	int test;              /* the key string's mode */
	uint32_t flags;        /* the record's flags */
	int64_t expires_at;
	struct rate_spec rate;
	const char *rule;      /* the key's own rule ("a..." allow) */
	enum storage plain, peppered;
	int valid[2];          /* may ever be allowed, in the plain and peppered store */
};

static const struct key_seed keys[] = {
	/* $0 */ {"AcmeLive", NULL, "acme", 0, 0, 0, {0, 0}, NULL, DIGEST, DIGEST, {1, 1}},
	/* $1 */ {"AcmeTest", NULL, "acme", 1, KEYF_TEST, 0, {0, 0}, NULL, DIGEST, DIGEST,
		    {1, 1}},
	/* $2 */ {"TinyLive", NULL, "tiny", 0, 0, 0, {0, 0}, NULL, DIGEST, DIGEST, {1, 1}},
	/* $3 */ {"TinyHook", NULL, "tiny", 1, KEYF_TEST, 0, {1, 1},
		    "aPOST hooks.example.com/v1/hooks/*", DIGEST, DIGEST, {1, 1}},
	/* $4 */ {"Prepaid", NULL, "prepaid", 0, 0, 0, {0, 0}, NULL, DIGEST, DIGEST, {1, 1}},
	/* $5 */ {"GoneLive", NULL, "gone", 0, 0, 0, {0, 0}, NULL, DIGEST, DIGEST, {0, 0}},
	/* $6 */ {"Revoked", NULL, "acme", 0, KEYF_REVOKED, 0, {0, 0}, NULL, DIGEST, DIGEST,
		    {0, 0}},
	/* $7 */ {"Expired", NULL, "acme", 0, 0, T0 - 365 * DAY, {0, 0}, NULL, DIGEST, DIGEST,
		    {0, 0}},
	/* $8 */ {"Soon", NULL, "acme", 0, 0, T0 + 60 * DAY, {0, 0}, NULL, DIGEST, DIGEST,
		    {1, 1}},
	/* $9 */ {NULL, "legacy-Key-0123456789abcdef", "tiny", 0, KEYF_IMPORTED, 0,
		    {0, 0}, NULL, DIGEST, PLAIN_FLAG, {1, 1}},
	/* $a */ {"Orphan", NULL, "nobody", 0, 0, 0, {0, 0}, NULL, DIGEST, DIGEST, {0, 0}},
	/* $b */ {"ModeLie", NULL, "acme", 0, KEYF_TEST, 0, {0, 0}, NULL, DIGEST, DIGEST,
		    {0, 0}},
	/* $c */ {"PlainNoFlag", NULL, "acme", 0, 0, 0, {0, 0}, NULL, DIGEST, PLAIN_NOFLAG,
		    {1, 0}},
	/* $d */ {"DigestFlag", NULL, "acme", 0, 0, 0, {0, 0}, NULL, DIGEST_FLAG, DIGEST_FLAG,
		    {0, 0}},
	/* $e */ {"Damaged", NULL, "acme", 0, 0, 0, {0, 0}, NULL, DAMAGED, DAMAGED, {0, 0}},
	/* $f */ {"NoPlan", NULL, "planless", 0, 0, 0, {0, 0}, NULL, DIGEST, DIGEST, {0, 0}},
};
#define NKEYS (sizeof keys / sizeof keys[0])
static const char key_names[] = "0123456789abcdef";

/* 16+ bytes, as kg_read_pepper wants */
#define PEPPER "fuzz pepper, not a secret: 0123456789"

static char g_key[NKEYS][APIKEY_BUF];
static char g_id[NKEYS][KEYID_LEN + 1];
static char g_dir[4096];

/* One opened store: [0] plain, [1] peppered. */
struct world {
	char dir[4200];
	struct kg kg;
	struct authz az, azq;    /* without and with query-param */
	int cfd;
	unsigned char *slots;    /* read-only view of the counter slots */
	unsigned long changes;   /* admin changes undone, for checkpoints */
};
static struct world g_w[2];
static size_t g_slots_len;
static unsigned char *g_zero;
static int g_verbose;            /* KEYGATE_FUZZ_VERBOSE=1: print each answer */

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "fuzz_decide: %s: %s\n", what, why);
	exit(1);
}

static void
make_key(size_t i)
{
	char body[APIKEY_RANDOM_LEN + 1];
	size_t n, len;

	if (keys[i].tag == NULL) {
		snprintf(g_key[i], sizeof g_key[i], "%s", keys[i].imported);
	} else {
		/* deterministic: the same keys in every run, so inputs replay */
		snprintf(body, sizeof body, "Fuzz%s", keys[i].tag);
		for (n = strlen(body); n < APIKEY_RANDOM_LEN; n++)
			body[n] = (char)('0' + n % 10);
		body[n] = '\0';
		len = (size_t)snprintf(g_key[i], sizeof g_key[i], "kg_%s_%s",
		    keys[i].test ? "test" : "live", body);
		apikey_checksum(g_key[i], len, g_key[i] + len);
		g_key[i][len + APIKEY_CHECKSUM_LEN] = '\0';
	}
	snprintf(g_id[i], sizeof g_id[i], "key_Fuzz%012zu", i);
}

static void
put(struct store *s, struct store_txn *t, enum store_tbl tbl, const void *k,
    size_t klen, const unsigned char *v, int vlen, int nooverwrite)
{
	if (vlen < 0)
		die("seed", "record too large");
	if (store_put(s, t, tbl, k, klen, v, (size_t)vlen, nooverwrite) != ST_OK)
		die("seed", store_errmsg(s));
}

static void
parse_rules(const char *const *specs, size_t max, struct rule *r,
    struct rule_view *v, size_t *n)
{
	const char *err;
	size_t i;

	*n = 0;
	for (i = 0; i < max && specs[i] != NULL; i++) {
		enum rule_action a = specs[i][0] == 'a' ? RULE_ALLOW : RULE_DENY;

		if (rule_parse(a, specs[i] + 1, &r[*n], &err) != 0)
			die(specs[i], err);
		record_rule_view(&r[*n], &v[*n]);
		(*n)++;
	}
}

/* A plan as seeded, or (changed) denying every request. */
static void
put_plan(struct store *s, struct store_txn *t, size_t i, int changed)
{
	static unsigned char buf[RECORD_MAX];
	static struct rule rules[RULES_MAX];
	static const char *const deny_all[] = {"d* /**"};
	struct plan_rec p;

	memset(&p, 0, sizeof p);
	p.name = plans[i].name;
	p.rate = plans[i].rate;
	p.quota = plans[i].quota;
	p.created_at = p.updated_at = T0 - 100 * DAY;
	parse_rules(changed ? deny_all : plans[i].rules, changed ? 1 : 4, rules, p.rules,
	    &p.nrules);
	put(s, t, TBL_PLANS, p.name, strlen(p.name), buf,
	    record_encode_plan(&p, buf, sizeof buf), 0);
}

/* An organization as seeded, or (changed) suspended. */
static void
put_org(struct store *s, struct store_txn *t, size_t i, int changed)
{
	static unsigned char buf[RECORD_MAX];
	struct org_rec o;

	memset(&o, 0, sizeof o);
	o.flags = orgs[i].flags | (changed ? ORGF_SUSPENDED : 0);
	o.name = orgs[i].id;
	o.plan = orgs[i].plan;
	o.created_at = T0 - 100 * DAY;
	o.credits = orgs[i].credits;
	put(s, t, TBL_ORGS, orgs[i].id, strlen(orgs[i].id), buf,
	    record_encode_org(&o, buf, sizeof buf), 0);
}

/* Indexes in orgs[] and plans[] of what an admin change touches. */
#define ORG_ACME 0
#define PLAN_FREE 1

/*
 * What `keygate org set acme --suspend` and a `keygate plan set free` that
 * denies every path do (changed), or their undoing, as cli_txn does it:
 * take the key index, make its sequence odd, commit, mirror the org into
 * the index, end the index session, bump the host generation so that
 * cached plans are read again.
 */
static void
admin_change(struct world *w, int changed)
{
	static unsigned char buf[RECORD_MAX];
	struct store *s = w->kg.store;
	struct store_txn *t;
	struct keyindex *x;
	char err[600];
	size_t len;

	x = keyindex_lock(w->dir, counters_index_anchor(w->kg.counters), 0, NULL,
	    err, sizeof err);
	if (x == NULL)
		die("admin change", err);
	keyindex_begin(x);
	if (store_txn_begin(s, &t) != ST_OK)
		die("admin change", store_errmsg(s));
	put_org(s, t, ORG_ACME, changed);
	put_plan(s, t, PLAN_FREE, changed);
	if (store_txn_commit(t) != ST_OK)
		die("admin change", store_errmsg(s));
	if (store_get(s, NULL, TBL_ORGS, orgs[ORG_ACME].id, strlen(orgs[ORG_ACME].id),
	    buf, sizeof buf, &len, 0) != ST_OK)
		die("admin change", store_errmsg(s));
	keyindex_put_org(x, orgs[ORG_ACME].id, buf, len);
	if (keyindex_end(x, s, NULL, err, sizeof err) != 0)
		die("admin change", err);
	counters_bump_generation(w->kg.counters);
	/* a checkpoint now and then lets Berkeley DB remove old log files */
	if (!changed && ++w->changes % 1024 == 0)
		store_checkpoint(s);
}

static void
seed(const char *dir, int peppered)
{
	static unsigned char buf[RECORD_MAX];
	static struct rule rules[RULES_MAX];
	struct digester *d;
	struct store *s;
	struct store_txn *t;
	char err[600], pepper_path[4300];
	size_t i;

	if (mkdir(dir, 0700) != 0)
		die(dir, strerror(errno));
	snprintf(pepper_path, sizeof pepper_path, "%s/pepper", dir);
	if (peppered) {
		int fd = open(pepper_path, O_WRONLY | O_CREAT | O_EXCL, 0600);

		if (fd < 0 || write(fd, PEPPER, strlen(PEPPER)) != (ssize_t)strlen(PEPPER) ||
		    close(fd) != 0)
			die(pepper_path, strerror(errno));
	}
	if (store_write_config(dir, 2u << 20, err, sizeof err) != 0 ||
	    counters_create(dir, NSLOTS, err, sizeof err) != 0)
		die(dir, err);
	if ((s = store_open(dir, STORE_CREATE, err, sizeof err)) == NULL)
		die(dir, err);
	d = peppered ? digester_new((const unsigned char *)PEPPER, strlen(PEPPER))
	    : digester_new(NULL, 0);
	if (store_txn_begin(s, &t) != ST_OK || d == NULL)
		die(dir, "cannot begin");
	{
		struct meta_rec m;

		memset(&m, 0, sizeof m);
		m.format = STORE_FORMAT;
		m.prefix = "kg";
		m.pepper_path = peppered ? pepper_path : "";
		m.created_at = T0 - 100 * DAY;
		if (peppered) {
			m.flags = METAF_PEPPER;
			m.plain_digests = 2;
			if (kg_pepper_check((const unsigned char *)PEPPER, strlen(PEPPER),
			    m.pepper_check) != 0)
				die("seed", "pepper check");
		}
		put(s, t, TBL_META, "store", 5, buf, record_encode_meta(&m, buf, sizeof buf), 1);
	}
	for (i = 0; i < sizeof plans / sizeof plans[0]; i++)
		put_plan(s, t, i, 0);
	for (i = 0; i < sizeof orgs / sizeof orgs[0]; i++)
		put_org(s, t, i, 0);
	for (i = 0; i < NKEYS; i++) {
		struct key_rec k;
		struct keyid_rec kid;
		char disp[DISPLAY_MAX];
		const char *spec[1] = {keys[i].rule};
		enum storage how = peppered ? keys[i].peppered : keys[i].plain;
		int rc;

		make_key(i);
		memset(&k, 0, sizeof k);
		k.flags = keys[i].flags;
		if (how == PLAIN_FLAG || how == DIGEST_FLAG)
			k.flags |= KEYF_PLAIN;
		k.id = g_id[i];
		k.org = keys[i].org;
		k.name = keys[i].tag ? keys[i].tag : "imported";
		k.user = i == 0 ? "user-42" : "";
		apikey_display("kg", g_key[i], strlen(g_key[i]), disp, sizeof disp);
		k.display = disp;
		k.successor = "";
		k.created_at = T0 - 100 * DAY;
		k.expires_at = keys[i].expires_at;
		k.revoked_at = (keys[i].flags & KEYF_REVOKED) ? T0 - 50 * DAY : 0;
		k.rate = keys[i].rate;
		parse_rules(spec, 1, rules, k.rules, &k.nrules);
		if (how == PLAIN_FLAG || how == PLAIN_NOFLAG)
			rc = digester_sha256(d, g_key[i], strlen(g_key[i]), kid.digest);
		else
			rc = digester_digest(d, g_key[i], strlen(g_key[i]), kid.digest);
		if (rc != 0)
			die("seed", "digest");
		rc = record_encode_key(&k, buf, sizeof buf);
		put(s, t, TBL_KEYS, kid.digest, DIGEST_LEN, buf, how == DAMAGED ? rc / 2 : rc, 1);
		put(s, t, TBL_KEYIDS, g_id[i], strlen(g_id[i]), buf,
		    record_encode_keyid(&kid, buf, sizeof buf), 1);
	}
	if (store_txn_commit(t) != ST_OK)
		die("seed", store_errmsg(s));
	digester_free(d);
	/* the key index, as keygate init and a rebuild make it */
	{
		struct counters *c = counters_open(dir, err, sizeof err);

		if (c == NULL || keyindex_rebuild(dir, counters_index_anchor(c), s, NULL,
		    err, sizeof err) != 0)
			die("seed", err);
		counters_close(c);
	}
	store_close(s);
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
	kg_close(&g_w[0].kg);
	kg_close(&g_w[1].kg);
	if (g_dir[0] != '\0')
		nftw(g_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * A crash ends the process without atexit handlers, so each run first
 * removes the stores of runs whose process is gone.
 */
static void
remove_stale(const char *tmp)
{
	struct dirent *e;
	char path[4200], *end;
	DIR *d;
	long pid;

	if ((d = opendir(tmp)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "kg-fuzz-decide.", 15) != 0)
			continue;
		pid = strtol(e->d_name + 15, &end, 10);
		if (*end != '\0' || pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof path, "%s/%s", tmp, e->d_name);
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	}
	closedir(d);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct authz_opts o;
	char err[600], path[4300];
	const char *tmp = getenv("KEYGATE_FUZZ_DIR");
	int i;

	(void)argc;
	(void)argv;
	/*
	 * Admin changes commit synchronously: on tmpfs that costs microseconds,
	 * on a disk a quarter of a millisecond.
	 */
	if (tmp == NULL || *tmp == '\0')
		tmp = access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	remove_stale(tmp);
	snprintf(g_dir, sizeof g_dir, "%s/kg-fuzz-decide.%ld", tmp, (long)getpid());
	if (mkdir(g_dir, 0700) != 0)
		die(g_dir, strerror(errno));
	atexit(cleanup);
	g_verbose = getenv("KEYGATE_FUZZ_VERBOSE") != NULL;
	if ((g_zero = calloc(1, (size_t)NSLOTS * SLOT_SIZE)) == NULL)
		die("calloc", strerror(errno));
	g_slots_len = (size_t)NSLOTS * SLOT_SIZE;
	for (i = 0; i < 2; i++) {
		struct world *w = &g_w[i];

		snprintf(w->dir, sizeof w->dir, "%s/%s", g_dir, i ? "peppered" : "plain");
		seed(w->dir, i);
		if (kg_open(&w->kg, w->dir, 0, err, sizeof err) != 0)
			die(w->dir, err);
		memset(&o, 0, sizeof o);
		authz_init(&w->az, &w->kg, &o);
		o.query_param = "api_key";
		authz_init(&w->azq, &w->kg, &o);

		snprintf(path, sizeof path, "%s/%s", w->dir, COUNTERS_FILE);
		if ((w->cfd = open(path, O_RDWR | O_CLOEXEC)) < 0)
			die(path, strerror(errno));
		w->slots = mmap(NULL, COUNTERS_HEADER + g_slots_len, PROT_READ, MAP_SHARED,
		    w->cfd, 0);
		if (w->slots == MAP_FAILED)
			die(path, strerror(errno));
		w->slots += COUNTERS_HEADER;
	}
	return 0;
}

/* Replaces "$0".."$b" by the seeded keys. */
static char *
expand(const char *v)
{
	size_t n = 0, i;
	const char *p;
	char *out, *o;

	if (v == NULL)
		return NULL;
	for (p = v; *p; p++) {
		if (p[0] == '$' && p[1] != '\0' && (o = strchr(key_names, p[1])) != NULL) {
			n += strlen(g_key[o - key_names]);
			p++;
		} else {
			n++;
		}
	}
	if ((out = malloc(n + 1)) == NULL)
		abort();
	for (p = v, o = out; *p; p++) {
		const char *k;

		if (p[0] == '$' && p[1] != '\0' && (k = strchr(key_names, p[1])) != NULL) {
			i = (size_t)(k - key_names);
			memcpy(o, g_key[i], strlen(g_key[i]));
			o += strlen(g_key[i]);
			p++;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

/* Percent-decoding as a query string is read ('+' is a space). */
static void
query_decode(const char *q, char *out, size_t cap)
{
	size_t o = 0;

	for (; *q && o + 1 < cap; q++) {
		unsigned hi, lo;
		if (q[0] == '%' && sscanf(q + 1, "%1x%1x", &hi, &lo) == 2) {
			/* a %00 must not end the string searched afterwards */
			out[o++] = (hi << 4 | lo) != 0 ? (char)(hi << 4 | lo) : '\x01';
			q += 2;
		} else {
			out[o++] = *q == '+' ? ' ' : *q;
		}
	}
	out[o] = '\0';
}

static int
key_index(const char *id)
{
	size_t i;

	for (i = 0; id != NULL && i < NKEYS; i++)
		if (strcmp(id, g_id[i]) == 0)
			return (int)i;
	return -1;
}

static int
path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* What must hold when the answer is 200. */
static void
check_allow(const struct authz_req *q, const struct authz_res *r, int64_t now_s,
    int peppered)
{
	static char path[PATH_NORM_MAX], dec[16384];
	char host[RULE_HOST_MAX];
	int i = key_index(r->key_id), carried;
	const char *k, *a;
	unsigned c;

	FUZZ_CHECK(!q->replay, "200 for a replay");
	FUZZ_CHECK(i >= 0, "200 for an unknown key id %s", r->key_id ? r->key_id : "(null)");
	FUZZ_CHECK(keys[i].valid[peppered], "200 for seeded key $%c (%s) in the %s store",
	    key_names[i], g_key[i], peppered ? "peppered" : "plain");
	FUZZ_CHECK(keys[i].expires_at == 0 || now_s < keys[i].expires_at,
	    "200 for key $%c after its expiry", key_names[i]);
	/* the key was really presented, in every copy of a repeated header */
	k = g_key[i];
	if (q->query != NULL)
		query_decode(q->query, dec, sizeof dec);
	FUZZ_CHECK(q->nauthorization <= CREDS_COPIES_MAX && q->nx_api_key <= CREDS_COPIES_MAX,
	    "200 with more copies of a header than are examined");
	carried = q->query != NULL && strstr(dec, k) != NULL;
	for (c = 0; c < q->nauthorization; c++) {
		/*
		 * Apache and lighttpd join copies of a header with ", " (a comma
		 * and a space or tab): each element is a copy of its own, and a
		 * Bearer element anywhere must carry the key.
		 */
		char el[4096];
		const char *e;
		size_t n;

		for (a = q->authorization[c]; a != NULL; a = e != NULL ? e + 1 : NULL) {
			for (e = strchr(a, ','); e != NULL && e[1] != ' ' && e[1] != '\t';
			    e = strchr(e + 1, ','))
				;
			n = e != NULL ? (size_t)(e - a) : strlen(a);
			if (n >= sizeof el)
				n = sizeof el - 1; /* a longer element holds no key of ours anyway */
			memcpy(el, a, n);
			el[n] = '\0';
			k = g_key[i];
			{
				const char *b = el + strspn(el, " \t");

				if (strncasecmp(b, "bearer", 6) != 0 ||
				    (b[6] != '\0' && b[6] != ' ' && b[6] != '\t'))
					continue; /* another scheme ("Bearerx" too) */
				FUZZ_CHECK(strstr(b, k) != NULL, "200 for key $%c, but Authorization "
				    "copy %u carries another Bearer", key_names[i], c);
				carried = 1;
			}
		}
	}
	for (c = 0; c < q->nx_api_key; c++) {
		a = q->x_api_key[c];
		if (a[strspn(a, " \t,")] == '\0')
			continue; /* empty, or empty copies joined with ", ": absent */
		FUZZ_CHECK(strstr(a, k) != NULL, "200 for key $%c, but X-Api-Key copy %u "
		    "carries another value", key_names[i], c);
		carried = 1;
	}
	FUZZ_CHECK(carried, "200 for key $%c, which the request does not carry", key_names[i]);
	FUZZ_CHECK(r->org != NULL && strcmp(r->org, keys[i].org) == 0, "org");
	FUZZ_CHECK(r->mode == (keys[i].test ? MODE_TEST : MODE_LIVE), "mode");
	FUZZ_CHECK(r->plan != NULL, "plan");

	/* route rules, from the seed, over path_normalize alone */
	if (strcmp(r->plan, "pro") == 0 || strcmp(r->plan, "free") == 0) {
		FUZZ_CHECK(q->uri != NULL && path_normalize(q->uri, path, sizeof path) == 0,
		    "200 for an unsafe path under route rules");
		if (strcmp(r->plan, "pro") == 0) {
			size_t hl;

			FUZZ_CHECK(!path_under(path, "/admin"), "200 for %s on plan pro", path);
			FUZZ_CHECK(host_normalize(q->host, host, sizeof host) == 0,
			    "200 on plan pro (host rules) for a host it cannot compare: %.80s",
			    q->host ? q->host : "(none)");
			hl = strlen(host);
			FUZZ_CHECK(hl < 21 || strcmp(host + hl - 21, ".internal.example.com") != 0,
			    "200 on plan pro for host %s", host);
		}
	}
	if (strcmp(r->plan, "free") == 0) {
		FUZZ_CHECK(path_under(path, "/v1") && !path_under(path, "/v1/admin"),
		    "200 for %s on plan free", path);
		FUZZ_CHECK(q->method != NULL && (strcasecmp(q->method, "GET") == 0 ||
		    strcasecmp(q->method, "HEAD") == 0 || strcasecmp(q->method, "POST") == 0),
		    "200 for method %s on plan free", q->method ? q->method : "(none)");
	}
	if (keys[i].rule != NULL) {
		host_normalize(q->host, host, sizeof host);
		FUZZ_CHECK(q->method != NULL && strcasecmp(q->method, "POST") == 0 &&
		    strcmp(host, "hooks.example.com") == 0 &&
		    strncmp(path, "/v1/hooks/", 10) == 0 && path[10] != '\0' &&
		    strchr(path + 10, '/') == NULL,
		    "200 for %s %s%s with a key for POST hooks.example.com/v1/hooks/*",
		    q->method, host, path);
	}
	FUZZ_CHECK((keys[i].rate.count == 0 && strcmp(r->plan, "pro") == 0) ||
	    r->has_rate, "a rate limit applies but is not reported");
}

/*
 * A plain loop: memcmp and memmem are intercepted and traced by libFuzzer,
 * which made this search most of the target's time.
 */
FUZZ_NO_COVERAGE static int
contains(const char *hay, size_t n, const char *needle)
{
	size_t k = strlen(needle), i, j;

	for (i = 0; k > 0 && i + k <= n; i++) {
		if (hay[i] != needle[0])
			continue;
		for (j = 1; j < k && hay[i + j] == needle[j]; j++)
			;
		if (j == k)
			return 1;
	}
	return 0;
}

static void
check_render(const struct authz_res *r, const struct creds *presented)
{
	static char out[8192], out2[8192];
	static struct decision_table table;
	static int table_ready;
	const struct decision_info *d = decision_info(r->verdict);
	const char *answer = NULL;
	char status[64];
	int n, n2, i, end = -1;
	size_t k;

	n = decision_render(r, "keygate", out, sizeof out);
	FUZZ_CHECK(n > 0 && n < (int)sizeof out, "render failed for verdict %d", r->verdict);
	if (!table_ready) {
		FUZZ_CHECK(decision_table_init(&table, "keygate") == 0, "decision_table_init failed");
		table_ready = 1;
	}
	n2 = decision_answer(&table, r, "keygate", out2, sizeof out2, &answer);
	FUZZ_CHECK(n2 == n && answer != NULL && memcmp(answer, out, (size_t)n) == 0,
	    "the pre-rendered answer differs from decision_render for verdict %d", r->verdict);
	snprintf(status, sizeof status, "Status: %d %s\r\n", d->status, d->phrase);
	FUZZ_CHECK(strncmp(out, status, strlen(status)) == 0, "status line: %.40s", out);
	/* headers: CR only before LF, LF only after CR, up to the empty line */
	for (i = 0; i < n; i++) {
		if (out[i] == '\r')
			FUZZ_CHECK(i + 1 < n && out[i + 1] == '\n', "bare CR at %d", i);
		if (out[i] == '\n') {
			FUZZ_CHECK(out[i - 1] == '\r', "bare LF at %d in the headers", i);
			if (i >= 3 && out[i - 2] == '\n') {
				end = i + 1;
				break;
			}
		}
		FUZZ_CHECK(out[i] != '\0', "NUL in the headers");
	}
	FUZZ_CHECK(end > 0, "no end of headers");
	if (r->verdict == V_ALLOW) {
		FUZZ_CHECK(end == n, "a body after a 200");
	} else {
		/* one line of JSON */
		FUZZ_CHECK(out[n - 1] == '\n' && memchr(out + end, '\n', (size_t)(n - 1 - end)) == NULL &&
		    memchr(out + end, '\r', (size_t)(n - end)) == NULL,
		    "body is not one line");
		FUZZ_CHECK(strncmp(out + end, "{\"error\":{\"code\":\"", 18) == 0 &&
		    contains(out + end, (size_t)(n - end), d->code), "body: %s", out + end);
	}
	if (d->status == 401)
		FUZZ_CHECK(contains(out, (size_t)end, "\r\nWWW-Authenticate: Bearer realm=\"keygate\"\r\n"),
		    "401 without WWW-Authenticate");
	if (r->verdict == V_RATE && r->has_rate)
		FUZZ_CHECK(contains(out, (size_t)end, "\r\nRetry-After: "), "429 without Retry-After");
	/* no key in the answer, ever (every seeded key holds one of these) */
	FUZZ_CHECK(!contains(out, (size_t)n, "live_Fuzz") &&
	    !contains(out, (size_t)n, "test_Fuzz") &&
	    !contains(out, (size_t)n, "legacy-Key-"), "a key in the answer");
	/*
	 * The presented value itself may well be a piece of a fixed text
	 * (the fuzzer copies them), so only the fields the decision fills
	 * in are searched for it.
	 */
	if (presented->key != NULL && presented->len >= 8) {
		char pk[APIKEY_BUF];
		const char *fld[] = {r->key_id, r->org, r->plan, r->user};

		memcpy(pk, presented->key, presented->len);
		pk[presented->len] = '\0';
		for (k = 0; k < sizeof fld / sizeof fld[0]; k++)
			FUZZ_CHECK(fld[k] == NULL || strstr(fld[k], pk) == NULL,
			    "the presented key in a field of the answer");
	}
}

static void
reset_counters(const struct world *w)
{
	if (pwrite(w->cfd, g_zero, g_slots_len, COUNTERS_HEADER) != (ssize_t)g_slots_len)
		abort();
}

/* No counter word but the slot tags (claimed by lookups) changed. */
FUZZ_NO_COVERAGE static int
counters_untouched(const struct world *wd)
{
	const uint64_t *w = (const uint64_t *)(const void *)wd->slots;
	size_t i;
	uint64_t any = 0;

	for (i = 0; i + 3 < g_slots_len / 8; i += SLOT_SIZE / 8)
		any |= w[i + 1] | w[i + 2] | w[i + 3];
	return any == 0;
}

/* After params_wipe: nothing left of the key material, wherever it was sent. */
FUZZ_NO_COVERAGE static void
check_wiped(char **env, const size_t *len, unsigned n, int query_keys)
{
	unsigned i;
	size_t k;

	for (i = 0; i < n; i++) {
		const char *v = strchr(env[i], '=') + 1;
		int secret = strncmp(env[i], "HTTP_AUTHORIZATION=", 19) == 0 ||
		    strncmp(env[i], "HTTP_X_API_KEY=", 15) == 0 ||
		    (query_keys && strncmp(env[i], "QUERY_STRING=", 13) == 0);

		for (k = 0; secret && k < len[i]; k++)
			FUZZ_CHECK(v[k] == '\0', "byte %zu of %.*s was not wiped", k,
			    (int)(v - env[i] - 1), env[i]);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *p[P_COUNT], *env[P_COUNT + 1], uri[PARAMS_URI_MAX];
	size_t envlen[P_COUNT];
	struct fields f;
	struct params pp;
	struct authz_req q;
	struct authz_res r;
	struct creds presented;
	struct authz *az;
	struct world *w;
	unsigned mask, reps, i, rep, nenv;
	int query_keys;
	uint32_t clock;
	uint64_t now_ns;
	int64_t day[4];
	int allowed[4], counted = 0, only_uncounted = 1, nallowed = 0, same_day, j, first = -1;
	int admin, changed = 0;
	unsigned admin_at;

	if (size < 7)
		return 0;
	w = &g_w[(data[0] >> 4) & 1];
	az = (data[0] & 2) ? &w->azq : &w->az;
	reps = 1 + ((data[0] >> 2) & 3);
	admin = (data[0] & 0x20) != 0;
	admin_at = ((unsigned)data[0] >> 6) % reps;
	mask = (unsigned)data[1] | (unsigned)data[2] << 8;
	clock = (uint32_t)data[3] | (uint32_t)data[4] << 8 | (uint32_t)data[5] << 16 |
	    (uint32_t)data[6] << 24;
	fields_split(&f, data + 7, size - 7, '\0', P_COUNT);
	for (i = 0; i < P_COUNT; i++)
		p[i] = (mask & (1u << i)) ? expand(field(&f, i)) : NULL;

	/* the environment libfcgi would hand over, mapped by keygate-authz's own code */
	for (i = 0, nenv = 0; i < P_COUNT; i++) {
		size_t nl = strlen(param_names[i]), vl;

		if (p[i] == NULL)
			continue;
		vl = strlen(p[i]);
		if ((env[nenv] = malloc(nl + vl + 2)) == NULL)
			abort();
		memcpy(env[nenv], param_names[i], nl);
		env[nenv][nl] = '=';
		memcpy(env[nenv] + nl + 1, p[i], vl + 1);
		envlen[nenv++] = vl;
	}
	env[nenv] = NULL;
	query_keys = az == &w->azq;
	params_read(env, &pp);
	params_request(&pp, (data[0] & 1) ? ROLE_AUTHORIZER : ROLE_RESPONDER, query_keys, uri, &q);
	if (!q.subrequest && !q.replay)
		only_uncounted = 0;

	/* what the request presents, for the no-echo check */
	creds_extract(q.authorization, q.nauthorization, q.x_api_key, q.nx_api_key, q.query,
	    az->opts.query_param, &presented);

	reset_counters(w);
	now_ns = (uint64_t)(T0 - 30 * DAY) * NS_PER_S +
	    (uint64_t)(clock >> 8) * NS_PER_S + (uint64_t)(clock & 255) * (NS_PER_S / 256);
	for (rep = 0; rep < reps; rep++) {
		int64_t now_s = (int64_t)(now_ns / NS_PER_S);

		if (admin && rep == admin_at) {
			admin_change(w, 1);
			changed = 1;
		}
		authz_decide(az, &q, now_ns, &r);
		if (g_verbose)
			fprintf(stderr, "fuzz_decide: %d %s (%s) key=%s org=%s plan=%s\n",
			    decision_info(r.verdict)->status,
			    decision_info(r.verdict)->code ? decision_info(r.verdict)->code : "ok",
			    r.reason ? r.reason : "", r.key_id ? r.key_id : "-",
			    r.org ? r.org : "-", r.plan ? r.plan : "-");
		FUZZ_CHECK((unsigned)r.verdict <= V_UNAVAILABLE, "verdict %d", r.verdict);
		if (q.replay)
			FUZZ_CHECK(r.verdict != V_ALLOW, "200 for a replay");
		if (r.verdict == V_ALLOW) {
			check_allow(&q, &r, now_s, w == &g_w[1]);
			if (changed)
				FUZZ_CHECK(strcmp(r.org, "acme") != 0 && strcmp(r.plan, "free") != 0,
				    "200 for %s on plan %s right after the change", r.org, r.plan);
			if (first < 0)
				first = key_index(r.key_id);
			/* the same request must keep naming the same key */
			FUZZ_CHECK(key_index(r.key_id) == first, "key changed between repeats");
			nallowed++;
		}
		check_render(&r, &presented);
		allowed[rep] = r.verdict == V_ALLOW;
		day[rep] = now_s / DAY;
		now_ns += NS_PER_S / 1000;
	}
	if (changed)
		admin_change(w, 0);
	if (only_uncounted)
		FUZZ_CHECK(counters_untouched(w), "a %s changed the counters",
		    q.replay ? "replay" : "subrequest");

	/* limits: what the seed configured, over the repeats (1 ms apart) */
	if (first >= 0 && !q.subrequest && !q.replay) {
		const struct key_seed *ks = &keys[first];

		counted = nallowed;
		if (strcmp(ks->org, "tiny") == 0) {
			/* free: 2/s per key; the hook key also 1/s of its own */
			FUZZ_CHECK(counted <= (ks->rate.count ? 1 : 2),
			    "%d requests within 4 ms under a rate of %u/s", counted,
			    ks->rate.count ? ks->rate.count : 2);
			if (!ks->test) {
				for (rep = 0; rep < reps; rep++) {
					same_day = 0;
					for (j = 0; j < (int)reps; j++)
						same_day += allowed[j] && day[j] == day[rep];
					FUZZ_CHECK(same_day <= 3, "%d units of a 3/day quota", same_day);
				}
			}
		}
		if (strcmp(ks->org, "prepaid") == 0)
			FUZZ_CHECK(counted <= 3, "%d units of 3 prepaid credits", counted);
	}

	creds_wipe(&presented);
	params_wipe(env, &pp, query_keys);
	check_wiped(env, envlen, nenv, query_keys);
	for (i = 0; i < nenv; i++)
		free(env[i]);
	for (i = 0; i < P_COUNT; i++)
		free(p[i]);
	fields_free(&f);
	return 0;
}
