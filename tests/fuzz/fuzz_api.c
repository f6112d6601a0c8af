/*
 * fuzz_api.c - keygate-api's requests (src/api.c, the code keygate-api
 * runs) on arbitrary method, path, query, headers and body, against a real
 * store made through the catalog.
 *
 * Input: byte 0 picks the caller (its low 3 bits: admin, keys:write,
 * keys:read, no scope, verify, a key of another organization, a revoked
 * key, none); byte 1 the method (low 3 bits) and whether the body is
 * announced as JSON (bit 3); then, split at NUL: the path and query after
 * the prefix, the body, and an X-Api-Key value.  "$A".."$F" in the path,
 * the body or the header become the seeded keys' ids ($a..$f: their
 * secrets), so that inputs reach real keys.
 *
 * Invariants: every answer is a CGI Status line with a reason phrase, a
 * JSON Content-Type and a body that keygate's own strict parser accepts;
 * its status is one keygate-api answers with; a 2xx for a route the
 * caller's scopes do not reach, or for a caller whose key is not valid,
 * never happens; a seeded secret appears only in a 200 to GET
 * /v1/keys/{its id}/secret (the store has a vault), and it is that key's;
 * a secret appears at all only there or in a 201 (a key made or
 * rotated); no digest of a
 * seeded key appears; a request answered with anything but 2xx wrote no
 * audit record.
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/rand.h>

#include "api.h"
#include "catalog.h"
#include "counters.h"
#include "fuzz.h"
#include "jsonparse.h"
#include "keyindex.h"
#include "ledger.h"
#include "metrics.h"
#include "netmask.h"
#include "store.h"
#include "vault.h"

#define NSEED 6

static char g_dir[256];
static struct kg g_kg;
static struct authz g_az;
static struct api *g_api;
static struct jp_arena *g_arena;
static char g_key[NSEED][APIKEY_BUF], g_id[NSEED][KEYID_LEN + 1];
static char g_hex[NSEED][2 * DIGEST_LEN + 1];
/*
 * A digest some request of this run carried (a name of 64 hex digits,
 * learnt by the fuzzer from a comparison): the store keeps what that
 * request wrote, so a later answer (the audit trail) may show it.
 */
static int g_carried[NSEED];
static const uint32_t g_scopes[NSEED] = {
	SCOPE_ADMIN, SCOPE_KEYS_WRITE | SCOPE_KEYS_READ, SCOPE_KEYS_READ, 0, SCOPE_VERIFY,
	SCOPE_KEYS_WRITE,
};

static void die(const char *what, const char *why) __attribute__((noreturn));

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "fuzz_api: %s: %s\n", what, why);
	abort();
}

/* ---- the answer ---- */

static char g_out[4u << 20];
static size_t g_outlen;

static void
emit(void *arg, const char *buf, size_t n)
{
	(void)arg;
	FUZZ_CHECK(g_outlen + n <= sizeof g_out, "an answer over %zu bytes", sizeof g_out);
	memcpy(g_out + g_outlen, buf, n);
	g_outlen += n;
}

/* ---- the store ---- */

static void
make_key(struct catalog *cat, int i, const char *org)
{
	struct cat_key_spec spec;
	struct cat_new_key nk;
	unsigned char d[DIGEST_LEN];
	size_t k;

	memset(&spec, 0, sizeof spec);
	spec.org = org;
	spec.name = "seed";
	spec.scopes = g_scopes[i];
	if (cat_key_create(cat, &spec, &nk) != CAT_OK)
		die("seed key", cat_error(cat)->msg);
	strcpy(g_key[i], nk.key);
	strcpy(g_id[i], nk.id);
	if (digester_digest(g_kg.digester, nk.key, strlen(nk.key), d) != 0)
		die("seed key", "digest");
	for (k = 0; k < DIGEST_LEN; k++)
		snprintf(g_hex[i] + 2 * k, 3, "%02x", d[k]);
	cat_new_key_wipe(&nk);
}

/* A vault in the store's directory: reveals answer, creations seal. */
static void
make_vault(struct vault_meta_rec *vm, char *path, size_t cap)
{
	unsigned char secret[VAULT_KEY_LEN];
	char err[600];
	struct vault *v;
	FILE *f;

	snprintf(path, cap, "%s/vault", g_dir);
	if (RAND_bytes(secret, sizeof secret) != 1 || (f = fopen(path, "wb")) == NULL ||
	    fwrite(secret, 1, sizeof secret, f) != sizeof secret || fclose(f) != 0 ||
	    chmod(path, 0640) != 0 || (v = vault_load(path, err, sizeof err)) == NULL)
		die("vault", path);
	vm->path = path;
	vault_check(v, vm->check);
	vault_free(v);
}

static void
seed(void)
{
	struct cat_actor actor = {"cli:fuzz", NULL, SCOPES_ALL, NULL};
	struct cat_plan_spec ps;
	struct meta_rec m;
	struct catalog *cat;
	struct store *s = NULL;
	struct counters *c = NULL;
	struct vault_meta_rec vm;
	char err[600], vpath[300];
	int i;

	if (store_write_config(g_dir, 4u << 20, err, sizeof err) != 0 ||
	    (s = store_open(g_dir, STORE_CREATE, err, sizeof err)) == NULL)
		die(g_dir, err);
	memset(&m, 0, sizeof m);
	m.format = STORE_FORMAT;
	m.prefix = "kg";
	m.pepper_path = "";
	m.created_at = kg_now();
	make_vault(&vm, vpath, sizeof vpath);
	if (cat_init_store(s, &actor, &m, &vm, err, sizeof err) != 0 ||
	    ledger_set_slots(s, 4096, err, sizeof err) != 0 ||
	    counters_create(g_dir, 4096, err, sizeof err) != 0 ||
	    (c = counters_open(g_dir, err, sizeof err)) == NULL ||
	    keyindex_rebuild(g_dir, counters_index_anchor(c), s, NULL, err, sizeof err) != 0)
		die("seed", err);
	counters_close(c);
	store_close(s);
	if (kg_open(&g_kg, g_dir, STORE_SERVER, err, sizeof err) != 0)
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
	for (i = 0; i < NSEED; i++)
		make_key(cat, i, i == 5 ? "beta" : "acme");
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

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	struct authz_opts o;

	(void)argc;
	(void)argv;
	snprintf(g_dir, sizeof g_dir, "%s/fuzz_api.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(g_dir) == NULL)
		die(g_dir, strerror(errno));
	atexit(cleanup);
	seed();
	memset(&o, 0, sizeof o);
	authz_init(&g_az, &g_kg, &o);
	if ((g_api = api_new("/keygate")) == NULL ||
	    (g_arena = jp_arena_new(JP_INPUT_MAX, JP_VALUES_MAX)) == NULL)
		die("init", "out of memory");
	return 0;
}

/* ---- one input ---- */

/* Copies s into out, with $A..$F as ids and $a..$f as secrets. */
static void
expand(const char *s, size_t n, char *out, size_t cap, size_t *len)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		const char *sub = NULL;

		if (s[i] == '$' && i + 1 < n) {
			if (s[i + 1] >= 'A' && s[i + 1] < 'A' + NSEED)
				sub = g_id[s[i + 1] - 'A'];
			else if (s[i + 1] >= 'a' && s[i + 1] < 'a' + NSEED)
				sub = g_key[s[i + 1] - 'a'];
		}
		if (sub != NULL) {
			size_t k = strlen(sub);

			if (o + k < cap) {
				memcpy(out + o, sub, k);
				o += k;
			}
			i++;
		} else if (o + 1 < cap) {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	*len = o;
}

/*
 * Where the audit trail ends: its last key, which every new record moves
 * (audit keys grow with commit order).  Cheaper than a count, which
 * walks the whole table.
 */
struct audit_end {
	unsigned char key[64];
	size_t len;
};

static struct audit_end
audit_end(void)
{
	struct audit_end e;
	int rc;

	memset(&e, 0, sizeof e);
	rc = store_last(g_kg.store, NULL, TBL_AUDIT, e.key, sizeof e.key, &e.len, 0);
	FUZZ_CHECK(rc == ST_OK || rc == ST_NOTFOUND, "the audit trail's end: %d", rc);
	return e;
}

static int
same_end(const struct audit_end *a, const struct audit_end *b)
{
	return a->len == b->len && memcmp(a->key, b->key, a->len) == 0;
}

/* The scope the route of path (after the prefix) and method needs; 0: any key. */
static uint32_t
needs(const char *path, const char *method)
{
	if (strncmp(path, "/v1/self", 8) == 0 || strncmp(path, "/v1/health", 10) == 0)
		return 0;
	if (strncmp(path, "/v1/verify", 10) == 0)
		return SCOPE_VERIFY;
	if (strncmp(path, "/v1/keys", 8) == 0) {
		if (strstr(path, "/secret") != NULL)
			return SCOPE_KEYS_REVEAL;
		return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ?
		    SCOPE_KEYS_READ : SCOPE_KEYS_WRITE;
	}
	if (strncmp(path, "/v1/usage", 9) == 0)
		return SCOPE_KEYS_READ;
	return SCOPE_ADMIN;
}

/* Whether text holds something shaped like a whole key of this store. */
static int
holds_secret(const char *text)
{
	const char *p;

	for (p = strstr(text, "kg_"); p != NULL; p = strstr(p + 1, "kg_")) {
		size_t n = 0;

		if (strncmp(p + 3, "live_", 5) != 0 && strncmp(p + 3, "test_", 5) != 0)
			continue;
		while ((p[8 + n] >= '0' && p[8 + n] <= '9') || (p[8 + n] >= 'a' && p[8 + n] <= 'z') ||
		    (p[8 + n] >= 'A' && p[8 + n] <= 'Z'))
			n++;
		if (n >= APIKEY_RANDOM_LEN)
			return 1;
	}
	return 0;
}

/*
 * "/v1/keys/" + an id + "/secret", nothing more but a query (the route
 * takes no parameter: an empty query is no parameter, any other a 400):
 * the one read of a secret.
 */
static int
is_secret_path(const char *path)
{
	size_t n = strcspn(path, "?");

	return strncmp(path, "/v1/keys/", 9) == 0 && n == 9 + KEYID_LEN + 7 &&
	    strncmp(path + 9 + KEYID_LEN, "/secret", 7) == 0;
}

static void
check_answer(int caller, const char *method, const char *path, const char *body_in,
    size_t body_len, const char *xkey, const struct audit_end *audits_before)
{
	static const int statuses[] = {200, 201, 400, 401, 403, 404, 405, 409, 413, 429, 500, 503};
	const struct jp_value *doc;
	struct jp_error e;
	char *body;
	int status = 0, known = 0, reveal, i;
	size_t k;

	g_out[g_outlen] = '\0';
	FUZZ_CHECK(strncmp(g_out, "Status: ", 8) == 0, "no Status line first: %.40s", g_out);
	status = atoi(g_out + 8);
	for (k = 0; k < sizeof statuses / sizeof statuses[0]; k++)
		known |= status == statuses[k];
	FUZZ_CHECK(known, "status %d", status);
	FUZZ_CHECK(g_out[11] == ' ' && g_out[12] >= 'A' && g_out[12] <= 'Z', "no reason phrase");
	body = strstr(g_out, "\r\n\r\n");
	FUZZ_CHECK(body != NULL, "no end of headers");
	body += 4;
	/* the one answer that is not JSON: GET /metrics, for an admin key only */
	if (status == 200 && strncmp(path, "/metrics", 8) == 0) {
		FUZZ_CHECK(strcmp(path, "/metrics") == 0 || path[8] == '?', "200 for %s", path);
		FUZZ_CHECK(strstr(g_out, "\r\nContent-Type: " METRICS_CONTENT_TYPE "\r\n") != NULL,
		    "GET /metrics: content type");
		FUZZ_CHECK(caller < NSEED && cat_scopes_allow(g_scopes[caller], SCOPE_ADMIN),
		    "GET /metrics for a caller without scope admin");
		FUZZ_CHECK(strncmp(body, "# HELP ", 7) == 0, "GET /metrics: not the text format");
		return;
	}
	FUZZ_CHECK(strstr(g_out, "\r\nContent-Type: application/json\r\n") != NULL, "content type");
	/*
	 * The parser is sized for request bodies: a page of a listing may pass
	 * its 64 KiB or 4,096 values (372 audit records did).  Such a page is
	 * checked for its frame only; the secret checks below read it all.
	 */
	doc = jp_parse(g_arena, body, strlen(body), &e);
	if (doc == NULL && status == 200 && (e.code == JP_E_TOO_LARGE || e.code == JP_E_VALUES))
		FUZZ_CHECK(body[0] == '{' && strcmp(body + strlen(body) - 2, "}\n") == 0,
		    "a large answer that is no JSON object: %.200s", body);
	else
		FUZZ_CHECK(doc != NULL, "the answer's body is not valid JSON (%s): %.200s", e.msg, body);
	reveal = status == 200 && (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) &&
	    is_secret_path(path);
	for (i = 0; i < NSEED; i++) {
		char want[APIKEY_BUF + 16];

		snprintf(want, sizeof want, "{\"key\":\"%s\"}", g_key[i]);
		if (reveal && strncmp(path + 9, g_id[i], KEYID_LEN) == 0)
			FUZZ_CHECK(strcmp(body, want) == 0 || strncmp(body, want, strlen(want)) == 0,
			    "the reveal of seeded key %d is not its secret: %.200s", i, body);
		else
			FUZZ_CHECK(strstr(g_out, g_key[i]) == NULL, "seeded secret %d in the answer", i);
		/* a digest this request or an earlier one carried may come back */
		if (strstr(path, g_hex[i]) != NULL || strstr(xkey, g_hex[i]) != NULL ||
		    memmem(body_in, body_len, g_hex[i], 2 * DIGEST_LEN) != NULL)
			g_carried[i] = 1;
		if (!g_carried[i])
			FUZZ_CHECK(strstr(g_out, g_hex[i]) == NULL, "seeded digest %d in the answer", i);
	}
	if (status != 201 && !reveal)
		FUZZ_CHECK(!holds_secret(body), "a key's secret outside a 201 or a reveal: %.200s", body);
	if (status >= 200 && status < 300) {
		uint32_t need = needs(path, method);

		FUZZ_CHECK(caller < NSEED || strncmp(path, "/v1/health", 10) == 0,
		    "%d for a caller without a valid key on %s", status, path);
		if (caller < NSEED && need != 0)
			FUZZ_CHECK(cat_scopes_allow(g_scopes[caller], need),
			    "%d for %s %s, beyond the caller's scopes", status, method, path);
	} else {
		struct audit_end now = audit_end();

		FUZZ_CHECK(same_end(&now, audits_before),
		    "a %d answer wrote an audit record (%s %s)", status, method, path);
	}
}

/* GET /metrics: the text of an empty snapshot (nothing is counted here). */
static int
metrics_text(void *arg, char *buf, size_t cap)
{
	static struct metrics_snapshot s;

	(void)arg;
	memset(&s, 0, sizeof s);
	return metrics_format(&s, buf, cap);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD",
	    "OPTIONS", ""};
	static char path[4096], body[API_BODY_MAX + 1], xkey[1024], uri[4200];
	static char p_method[64], p_uri[4300], p_auth[APIKEY_BUF + 32], p_x[1100], p_ct[64],
	    p_remote[] = "REMOTE_ADDR=127.0.0.1";
	char *envp[8];
	struct fields f;
	struct api_env env;
	size_t plen, blen, xlen, n = 0;
	int caller, json;
	struct audit_end audits;

	if (size < 2)
		return 0;
	caller = data[0] & 7;  /* 0-5 seeded, 6 a made-up key, 7 none */
	json = (data[1] & 8) != 0;
	fields_split(&f, data + 2, size - 2, 0, 3);
	expand(f.n > 0 ? f.v[0] : "", f.n > 0 ? f.len[0] : 0, path, sizeof path, &plen);
	expand(f.n > 1 ? f.v[1] : "", f.n > 1 ? f.len[1] : 0, body, sizeof body, &blen);
	expand(f.n > 2 ? f.v[2] : "", f.n > 2 ? f.len[2] : 0, xkey, sizeof xkey, &xlen);
	snprintf(uri, sizeof uri, "/keygate%s", path);
	snprintf(p_method, sizeof p_method, "REQUEST_METHOD=%s", methods[data[1] & 7]);
	snprintf(p_uri, sizeof p_uri, "REQUEST_URI=%s", uri);
	envp[n++] = p_method;
	envp[n++] = p_uri;
	envp[n++] = p_remote;
	if (caller < 7) {
		snprintf(p_auth, sizeof p_auth, "HTTP_AUTHORIZATION=Bearer %s",
		    caller < NSEED ? g_key[caller] : "kg_live_0123456789012345678901234567890AAAAAA");
		envp[n++] = p_auth;
	}
	if (xlen > 0) {
		snprintf(p_x, sizeof p_x, "HTTP_X_API_KEY=%s", xkey);
		envp[n++] = p_x;
	}
	if (json) {
		snprintf(p_ct, sizeof p_ct, "CONTENT_TYPE=application/json");
		envp[n++] = p_ct;
	}
	envp[n] = NULL;
	memset(&env, 0, sizeof env);
	env.kg = &g_kg;
	env.az = &g_az;
	env.realm = "keygate";
	env.emit = emit;
	env.metrics = metrics_text;
	/* no network holds the fuzzer's REMOTE_ADDR: /metrics needs an admin key */
	{
		static struct netmask allow[2];
		static size_t nallow;
		char why[160];

		if (nallow == 0 && netmask_list_parse("10.0.0.0/8 ::1", allow, 2, &nallow, why,
		    sizeof why) != 0)
			die("metrics-allow", why);
		env.metrics_allow = allow;
		env.metrics_allow_n = nallow;
	}
	g_outlen = 0;
	audits = audit_end();
	api_handle(g_api, &env, envp, body, blen, API_BODY_OK, kg_now_ns());
	/*
	 * The X-Api-Key param as the program sees it: up to its first NUL,
	 * without surrounding blanks; empty is absent.  Another key than the
	 * Bearer's is not the caller's (a 400 or a 401); alone, it is the caller.
	 */
	{
		char *x = xkey + strspn(xkey, " \t");
		size_t xl = strlen(x);
		int i;

		while (xl > 0 && (x[xl - 1] == ' ' || x[xl - 1] == '\t'))
			x[--xl] = '\0';
		/* empty copies joined with ", " are absent too (creds.h) */
		if (x[strspn(x, " \t,")] == '\0')
			xl = 0;
		if (xl > 0 && caller < 7 && (caller >= NSEED || strcmp(x, g_key[caller]) != 0))
			caller = 6;
		for (i = 0; xl > 0 && caller == 7 && i < NSEED; i++)
			if (strcmp(x, g_key[i]) == 0)
				caller = i;
		if (xl > 0 && caller == 7)
			caller = 6;
	}
	check_answer(caller, methods[data[1] & 7], path, body, blen, xkey, &audits);
	fields_free(&f);
	return 0;
}
