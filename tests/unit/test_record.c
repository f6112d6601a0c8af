/*
 * test_record.c - record encode/decode round trips, and decoders that
 * refuse every malformed record (they read bytes from disk) without ever
 * reading outside the buffer.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "tap.h"

static unsigned char buf[RECORD_MAX * 4];
static unsigned char work[RECORD_MAX * 4];

static struct rule_view rules3[3] = {
	{RULE_ALLOW, "GET,POST", "", "/v1/**"},
	{RULE_DENY, "*", "*.example.com", "/admin/**"},
	{RULE_ALLOW, "POST", "hooks.example.com", "/hooks/*"},
};

static void
fill_meta(struct meta_rec *m)
{
	int i;

	memset(m, 0, sizeof *m);
	m->format = STORE_FORMAT;
	m->flags = METAF_PEPPER;
	m->prefix = "kg";
	m->pepper_path = "/etc/keygate/pepper";
	for (i = 0; i < DIGEST_LEN; i++)
		m->pepper_check[i] = (unsigned char)(i * 7 + 1);
	m->created_at = 1795567326;
	m->plain_digests = 7;
	m->generation = UINT64_C(0x0102030405060708);
}

static void
fill_key(struct key_rec *k)
{
	memset(k, 0, sizeof *k);
	k->flags = KEYF_TEST | KEYF_REVOKED | KEYF_PLAIN | KEYF_IMPORTED;
	k->id = "key_0123456789ABCDEF";
	k->org = "acme";
	k->name = "CI key \xc3\xa9";
	k->user = "user-42";
	k->display = "kg_live_0123\xe2\x80\xa6";
	k->successor = "key_ZYXWVUTSRQPONMLK";
	k->created_at = 1795567326;
	k->expires_at = 1801353600;
	k->revoked_at = -1; /* any int64 survives */
	k->last_used_at = INT64_MAX;
	k->rate.count = 100;
	k->rate.window_s = 60;
	k->nrules = 3;
	memcpy(k->rules, rules3, sizeof rules3);
}

static void
fill_org(struct org_rec *o)
{
	memset(o, 0, sizeof *o);
	o->flags = ORGF_SUSPENDED;
	o->name = "Acme Inc.";
	o->plan = "pro";
	o->created_at = 1795567326;
	o->credits = (UINT64_C(1) << 40) + 5;
	o->nkeys = 17;
}

static void
fill_plan(struct plan_rec *p)
{
	static char paths[RULES_MAX][16];
	size_t i;

	memset(p, 0, sizeof *p);
	p->name = "pro";
	p->rate.count = 1000;
	p->rate.window_s = 3600;
	p->quota.count = 100000;
	p->quota.period = QUOTA_MONTH;
	p->max_keys = 5;
	p->overage_pct = 20;
	p->created_at = 1795567326;
	p->updated_at = 1795567399;
	p->nrules = RULES_MAX;
	for (i = 0; i < RULES_MAX; i++) {
		snprintf(paths[i], sizeof paths[i], "/p%zu/*", i);
		p->rules[i].action = i % 2 ? RULE_DENY : RULE_ALLOW;
		p->rules[i].methods = i % 3 ? "GET" : "*";
		p->rules[i].host = i % 5 ? "" : "api.example.com";
		p->rules[i].path = paths[i];
	}
}

static int
rules_equal(const struct rule_view *a, const struct rule_view *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (a[i].action != b[i].action || strcmp(a[i].methods, b[i].methods) ||
		    strcmp(a[i].host, b[i].host) || strcmp(a[i].path, b[i].path))
			return 0;
	return 1;
}

static int
inside(const char *s, const unsigned char *b, size_t len)
{
	const char *lo = (const char *)b, *hi = (const char *)b + len;

	return s >= lo && s < hi && memchr(s, '\0', (size_t)(hi - s)) != NULL;
}

typedef int (*decode_fn)(const unsigned char *, size_t, void *);

static int dec_meta(const unsigned char *b, size_t n, void *r) { return record_decode_meta(b, n, r); }
static int dec_key(const unsigned char *b, size_t n, void *r) { return record_decode_key(b, n, r); }
static int dec_org(const unsigned char *b, size_t n, void *r) { return record_decode_org(b, n, r); }
static int dec_plan(const unsigned char *b, size_t n, void *r) { return record_decode_plan(b, n, r); }
static int dec_keyid(const unsigned char *b, size_t n, void *r) { return record_decode_keyid(b, n, r); }

static union {
	struct meta_rec m;
	struct key_rec k;
	struct org_rec o;
	struct plan_rec p;
	struct keyid_rec i;
} out;

/* Truncations, header flips, trailing garbage: all refused. */
static void
check_malformed(const char *what, decode_fn dec, const unsigned char *rec, size_t len)
{
	size_t n;
	int b, bad = 0, hdr = 0;

	for (n = 0; n < len; n++) {
		memcpy(work, rec, n);
		if (dec(work, n, &out) != -1)
			bad++;
	}
	is_int(bad, 0, "%s: truncated at each of %zu positions is refused", what, len);
	for (n = 0; n < 2; n++) {
		for (b = 0; b < 256; b++) {
			/* versions 1 and 2 are both read: test_v1 has the former */
			if (b == rec[n] || (n == 0 && b == 1))
				continue;
			memcpy(work, rec, len);
			work[n] = (unsigned char)b;
			if (dec(work, len, &out) != -1)
				hdr++;
		}
	}
	is_int(hdr, 0, "%s: every version byte but 1 and 2, every other type byte is refused", what);
	memcpy(work, rec, len);
	work[len] = 0;
	is_int(dec(work, len + 1, &out), -1, "%s: one trailing byte is refused", what);
	work[len] = 'x';
	work[len + 1] = 'y';
	is_int(dec(work, len + 2, &out), -1, "%s: trailing garbage is refused", what);
	is_int(dec(NULL, 0, &out), -1, "%s: NULL is refused", what);
	memcpy(work, rec, len);
	is_int(dec(work, len, &out), 0, "%s: the original still decodes", what);
}

/* The encoder refuses every cap below the length and fits the length. */
static void
check_caps(const char *what, int (*enc)(const void *, unsigned char *, size_t),
    const void *rec, int len)
{
	int cap, bad = 0;

	for (cap = 0; cap < len; cap++)
		if (enc(rec, work, (size_t)cap) != -1)
			bad++;
	is_int(bad, 0, "%s: every cap below %d is refused", what, len);
	is_int(enc(rec, work, (size_t)len), len, "%s: cap = length fits", what);
}

static int enc_meta(const void *r, unsigned char *b, size_t c) { return record_encode_meta(r, b, c); }
static int enc_key(const void *r, unsigned char *b, size_t c) { return record_encode_key(r, b, c); }
static int enc_org(const void *r, unsigned char *b, size_t c) { return record_encode_org(r, b, c); }
static int enc_plan(const void *r, unsigned char *b, size_t c) { return record_encode_plan(r, b, c); }
static int enc_keyid(const void *r, unsigned char *b, size_t c) { return record_encode_keyid(r, b, c); }

static size_t
put_len(unsigned char *p, size_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (unsigned char)v;
	return n;
}

/*
 * The encoder refuses a string longer than the decoder takes (so nothing
 * is written that cannot be read back), and the decoder must refuse one
 * all the same: buf holds a version 2 record of n bytes with a string of
 * max bytes, a run of c; decode it grown by one byte, its length too.
 */
static int
decode_grown(decode_fn dec, int n, char c, size_t max)
{
	unsigned char len[10];
	size_t i, j, at, old = max < 0x80 ? 1 : max < 0x4000 ? 2 : 3;

	for (i = 2; i + max < (size_t)n; i++) {
		for (j = 0; j < max && buf[i + j] == (unsigned char)c; j++)
			;
		if (j == max && buf[i + max] == '\0' && buf[i - 1] != (unsigned char)c)
			break;
	}
	if (n <= 0 || i + max >= (size_t)n)
		return 99; /* no such string: the test is wrong */
	at = i - old;
	memcpy(work, buf, at);
	j = put_len(len, max + 1);
	memcpy(work + at, len, j);
	memset(work + at + j, c, max + 1);
	memcpy(work + at + j + max + 1, buf + i + max, (size_t)n - (i + max));
	return dec(work, (size_t)n - old + j + 1, &out);
}

static void
test_meta(void)
{
	struct meta_rec m, d;
	int n;

	fill_meta(&m);
	n = record_encode_meta(&m, buf, sizeof buf);
	ok(n > 0, "meta encodes (%d bytes)", n);
	is_int(buf[0], RECORD_VERSION, "meta: version byte first");
	is_int(buf[1], 'M', "meta: type byte second");
	is_int(record_decode_meta(buf, (size_t)n, &d), 0, "meta decodes");
	ok(d.format == m.format && d.flags == m.flags && strcmp(d.prefix, "kg") == 0 &&
	    strcmp(d.pepper_path, m.pepper_path) == 0 &&
	    memcmp(d.pepper_check, m.pepper_check, DIGEST_LEN) == 0 &&
	    d.created_at == m.created_at && d.plain_digests == 7 &&
	    d.generation == m.generation, "meta round trip keeps every field");
	ok(inside(d.prefix, buf, (size_t)n) && inside(d.pepper_path, buf, (size_t)n),
	    "meta strings point into the buffer");
	check_malformed("meta", dec_meta, buf, (size_t)n);
	check_caps("meta", enc_meta, &m, n);

	m.prefix = "KG";
	n = record_encode_meta(&m, buf, sizeof buf);
	is_int(record_decode_meta(buf, (size_t)n, &d), -1, "meta with prefix KG is refused");
	m.prefix = "abcdefghijklm";
	is_int(record_encode_meta(&m, buf, sizeof buf), -1, "meta with a 13-char prefix is not written");
	m.prefix = "aaaaaaaaaaaa";
	n = record_encode_meta(&m, buf, sizeof buf);
	is_int(record_decode_meta(buf, (size_t)n, &d), 0, "meta with a 12-char prefix decodes");
	is_int(decode_grown(dec_meta, n, 'a', APIKEY_PREFIX_MAX), -1, "meta with a 13-char prefix is refused");
	{
		static char path[PATHNAME_MAX + 2];

		fill_meta(&m);
		memset(path, 'f', sizeof path - 1);
		path[0] = '/';
		path[PATHNAME_MAX] = '\0';
		m.pepper_path = path;
		n = record_encode_meta(&m, buf, sizeof buf);
		is_int(record_decode_meta(buf, (size_t)n, &d), 0, "meta: a %d-byte pepper path decodes", PATHNAME_MAX);
		path[0] = 'f';
		n = record_encode_meta(&m, buf, sizeof buf);
		is_int(decode_grown(dec_meta, n, 'f', PATHNAME_MAX), -1, "meta: a %d-byte pepper path is refused",
		    PATHNAME_MAX + 1);
		path[PATHNAME_MAX] = 'f';
		is_int(record_encode_meta(&m, buf, sizeof buf), -1, "meta: a %d-byte pepper path is not written",
		    PATHNAME_MAX + 1);
	}
	fill_meta(&m);
	m.prefix = "";
	n = record_encode_meta(&m, buf, sizeof buf);
	is_int(record_decode_meta(buf, (size_t)n, &d), -1, "meta with an empty prefix is refused");
	fill_meta(&m);
	m.pepper_path = NULL;
	n = record_encode_meta(&m, buf, sizeof buf);
	ok(record_decode_meta(buf, (size_t)n, &d) == 0 && strcmp(d.pepper_path, "") == 0,
	    "meta with no pepper path decodes as empty");
}

/* Offsets of the first string of a record whose flags are below 128:
 * [ver][type][1-byte varint flags][1-byte varint len] */
#define STR0_LEN 3
#define STR0     4

static void
test_key(void)
{
	struct key_rec k, d;
	struct rule_view bad_rules[1];
	char longs[600];
	int n, i;

	fill_key(&k);
	n = record_encode_key(&k, buf, sizeof buf);
	ok(n > 0, "key encodes (%d bytes)", n);
	is_int(record_decode_key(buf, (size_t)n, &d), 0, "key decodes");
	ok(d.flags == k.flags && strcmp(d.id, k.id) == 0 && strcmp(d.org, k.org) == 0 &&
	    strcmp(d.name, k.name) == 0 && strcmp(d.user, k.user) == 0 &&
	    strcmp(d.display, k.display) == 0 && strcmp(d.successor, k.successor) == 0,
	    "key round trip keeps flags and strings");
	ok(d.created_at == k.created_at && d.expires_at == k.expires_at &&
	    d.revoked_at == -1 && d.last_used_at == INT64_MAX,
	    "key round trip keeps times (including negative and INT64_MAX)");
	ok(d.rate.count == 100 && d.rate.window_s == 60, "key round trip keeps the rate");
	ok(d.nrules == 3 && rules_equal(d.rules, rules3, 3), "key round trip keeps the rules");
	ok(inside(d.id, buf, (size_t)n) && inside(d.rules[2].path, buf, (size_t)n),
	    "key strings point into the buffer");
	check_malformed("key", dec_key, buf, (size_t)n);
	check_caps("key", enc_key, &k, n);

	/* string without its NUL, embedded NUL, oversize length */
	memcpy(work, buf, (size_t)n);
	work[STR0 + strlen(k.id)] = 'x';
	is_int(record_decode_key(work, (size_t)n, &d), -1, "key: a string without its NUL is refused");
	memcpy(work, buf, (size_t)n);
	work[STR0 + 3] = '\0';
	is_int(record_decode_key(work, (size_t)n, &d), -1, "key: a string with an embedded NUL is refused");
	is_int(buf[STR0_LEN], strlen(k.id), "key: the id length is one byte");
	memcpy(work, buf, (size_t)n);
	work[STR0_LEN] = 0x7F;
	is_int(record_decode_key(work, (size_t)n, &d), -1, "key: id length 127 is refused");
	memcpy(work, buf, (size_t)n);
	work[STR0_LEN] = 0xFF;
	is_int(record_decode_key(work, (size_t)n, &d), -1,
	    "key: an id length continuing into the id is refused");
	memcpy(work, buf, (size_t)n);
	work[STR0_LEN] = (unsigned char)(strlen(k.id) + 1);
	is_int(record_decode_key(work, (size_t)n, &d), -1, "key: string length one too many is refused");
	memcpy(work, buf, (size_t)n);
	work[STR0_LEN] = (unsigned char)(strlen(k.id) - 1);
	is_int(record_decode_key(work, (size_t)n, &d), -1, "key: string length one too few is refused");

	/* each string one byte over its limit */
	memset(longs, 'a', sizeof longs);
	{
		static const struct { int field; size_t max; const char *name; } lim[] = {
			{0, KEYID_LEN, "id"}, {1, ID_MAX, "org"}, {2, TEXT_MAX, "name"},
			{3, TEXT_MAX, "user"}, {4, DISPLAY_MAX, "display"},
			{5, KEYID_LEN, "successor"},
		};
		for (i = 0; i < (int)(sizeof lim / sizeof lim[0]); i++) {
			const char **f[6];
			size_t len;
			fill_key(&k);
			f[0] = &k.id; f[1] = &k.org; f[2] = &k.name;
			f[3] = &k.user; f[4] = &k.display; f[5] = &k.successor;
			len = lim[i].max;
			longs[len] = '\0';
			*f[lim[i].field] = longs;
			n = record_encode_key(&k, buf, sizeof buf);
			is_int(record_decode_key(buf, (size_t)n, &d), 0, "key: %s of %zu bytes is fine",
			    lim[i].name, len);
			is_int(decode_grown(dec_key, n, 'a', len), -1, "key: %s of %zu bytes is refused",
			    lim[i].name, len + 1);
			longs[len] = 'a';
			longs[len + 1] = '\0';
			is_int(record_encode_key(&k, buf, sizeof buf), -1, "key: %s of %zu bytes is not written",
			    lim[i].name, len + 1);
			longs[len + 1] = 'a';
		}
	}
	fill_key(&k);
	k.id = "";
	n = record_encode_key(&k, buf, sizeof buf);
	is_int(record_decode_key(buf, (size_t)n, &d), -1, "key: an empty id is refused");
	fill_key(&k);
	k.org = NULL;
	n = record_encode_key(&k, buf, sizeof buf);
	is_int(record_decode_key(buf, (size_t)n, &d), -1, "key: an empty org is refused");
	fill_key(&k);
	k.user = NULL;
	k.successor = NULL;
	n = record_encode_key(&k, buf, sizeof buf);
	ok(record_decode_key(buf, (size_t)n, &d) == 0 && d.user[0] == '\0' &&
	    d.successor[0] == '\0', "key: NULL user and successor decode as empty");

	/* rates */
	{
		static const struct { uint32_t count, window; int want; } rates[] = {
			{0, 0, 0}, {0, 5, 0}, {10, 1, 0}, {10, 60, 0}, {10, 3600, 0},
			{10, 0, -1}, {10, 2, -1}, {10, 7, -1}, {10, 86400, -1}, {1, UINT32_MAX, -1},
		};
		for (i = 0; i < (int)(sizeof rates / sizeof rates[0]); i++) {
			fill_key(&k);
			k.rate.count = rates[i].count;
			k.rate.window_s = rates[i].window;
			n = record_encode_key(&k, buf, sizeof buf);
			is_int(record_decode_key(buf, (size_t)n, &d), rates[i].want,
			    "key: rate %u per %u s is %s", rates[i].count, rates[i].window,
			    rates[i].want ? "refused" : "fine");
		}
	}

	/* rules */
	fill_key(&k);
	k.nrules = 0;
	n = record_encode_key(&k, buf, sizeof buf);
	ok(record_decode_key(buf, (size_t)n, &d) == 0 && d.nrules == 0, "key: no rules");
	is_int(buf[n - 1], 0, "key: the rule count is the last byte");
	memcpy(work, buf, (size_t)n);
	work[n - 1] = RULES_MAX + 1;
	is_int(record_decode_key(work, (size_t)n, &d), -1, "key: a rule count of 33 is refused");
	work[n - 1] = 255;
	is_int(record_decode_key(work, (size_t)n, &d), -1, "key: a rule count of 255 is refused");
	work[n - 1] = 1;
	is_int(record_decode_key(work, (size_t)n, &d), -1, "key: a rule count without rules is refused");
	fill_key(&k);
	k.nrules = RULES_MAX + 1;
	is_int(record_encode_key(&k, buf, sizeof buf), -1, "key: encoding 33 rules is refused");
	for (i = 0; i < 4; i++) {
		static const int actions[] = {0, 3, 4, 255};
		fill_key(&k);
		bad_rules[0] = rules3[0];
		bad_rules[0].action = (enum rule_action)actions[i];
		k.nrules = 1;
		memcpy(k.rules, bad_rules, sizeof bad_rules);
		n = record_encode_key(&k, buf, sizeof buf);
		is_int(record_decode_key(buf, (size_t)n, &d), -1, "key: rule action %d is refused",
		    actions[i]);
	}
	fill_key(&k);
	k.rules[1].path = "admin/**";
	n = record_encode_key(&k, buf, sizeof buf);
	is_int(record_decode_key(buf, (size_t)n, &d), -1, "key: a rule path without / is refused");
	fill_key(&k);
	k.rules[1].methods = "";
	n = record_encode_key(&k, buf, sizeof buf);
	is_int(record_decode_key(buf, (size_t)n, &d), -1, "key: a rule without methods is refused");
	fill_key(&k);
	memset(longs, 'a', sizeof longs);
	longs[0] = '/';
	longs[RULE_PATH_MAX] = '\0';
	k.rules[1].path = longs;
	is_int(record_encode_key(&k, buf, sizeof buf), -1, "key: a %d-byte rule path is not written", RULE_PATH_MAX);
	longs[RULE_PATH_MAX - 1] = '\0';
	n = record_encode_key(&k, buf, sizeof buf);
	is_int(record_decode_key(buf, (size_t)n, &d), 0, "key: a %d-byte rule path is fine", RULE_PATH_MAX - 1);
	longs[0] = 'a'; /* the run to grow; a decoded path must still start with / */
	n = record_encode_key(&k, buf, sizeof buf);
	is_int(decode_grown(dec_key, n, 'a', RULE_PATH_MAX - 1), -1, "key: a %d-byte rule path is refused", RULE_PATH_MAX);
	fill_key(&k);
	memset(longs, 'h', sizeof longs);
	longs[RULE_HOST_MAX] = '\0';
	k.rules[1].host = longs;
	is_int(record_encode_key(&k, buf, sizeof buf), -1, "key: a %d-byte rule host is not written", RULE_HOST_MAX);
	longs[RULE_HOST_MAX - 1] = '\0';
	n = record_encode_key(&k, buf, sizeof buf);
	is_int(decode_grown(dec_key, n, 'h', RULE_HOST_MAX - 1), -1, "key: a %d-byte rule host is refused", RULE_HOST_MAX);
	fill_key(&k);
	memset(longs, 'G', sizeof longs);
	longs[RULE_METHODS_MAX] = '\0';
	k.rules[1].methods = longs;
	is_int(record_encode_key(&k, buf, sizeof buf), -1, "key: %d bytes of methods are not written", RULE_METHODS_MAX);
	longs[RULE_METHODS_MAX - 1] = '\0';
	n = record_encode_key(&k, buf, sizeof buf);
	is_int(decode_grown(dec_key, n, 'G', RULE_METHODS_MAX - 1), -1, "key: %d bytes of methods are refused", RULE_METHODS_MAX);
}

static void
test_org(void)
{
	struct org_rec o, d;
	char longs[300];
	int n;

	fill_org(&o);
	n = record_encode_org(&o, buf, sizeof buf);
	ok(n > 0, "org encodes (%d bytes)", n);
	is_int(record_decode_org(buf, (size_t)n, &d), 0, "org decodes");
	ok(d.flags == ORGF_SUSPENDED && strcmp(d.name, o.name) == 0 &&
	    strcmp(d.plan, "pro") == 0 && d.created_at == o.created_at &&
	    d.credits == o.credits && d.nkeys == 17, "org round trip keeps every field");
	check_malformed("org", dec_org, buf, (size_t)n);
	check_caps("org", enc_org, &o, n);

	memcpy(work, buf, (size_t)n);
	work[STR0 + strlen(o.name)] = 'x';
	is_int(record_decode_org(work, (size_t)n, &d), -1, "org: a name without its NUL is refused");
	memcpy(work, buf, (size_t)n);
	work[STR0 + 1] = '\0';
	is_int(record_decode_org(work, (size_t)n, &d), -1, "org: a name with an embedded NUL is refused");
	memset(longs, 'n', sizeof longs);
	longs[TEXT_MAX] = '\0';
	o.name = longs;
	n = record_encode_org(&o, buf, sizeof buf);
	is_int(record_decode_org(buf, (size_t)n, &d), 0, "org: a %d-byte name is fine", TEXT_MAX);
	is_int(decode_grown(dec_org, n, 'n', TEXT_MAX), -1, "org: a %d-byte name is refused", TEXT_MAX + 1);
	longs[TEXT_MAX] = 'n';
	longs[TEXT_MAX + 1] = '\0';
	is_int(record_encode_org(&o, buf, sizeof buf), -1, "org: a %d-byte name is not written", TEXT_MAX + 1);
	fill_org(&o);
	longs[ID_MAX + 1] = '\0';
	o.plan = longs;
	is_int(record_encode_org(&o, buf, sizeof buf), -1, "org: a %d-byte plan is not written", ID_MAX + 1);
	longs[ID_MAX] = '\0';
	n = record_encode_org(&o, buf, sizeof buf);
	is_int(decode_grown(dec_org, n, 'n', ID_MAX), -1, "org: a %d-byte plan is refused", ID_MAX + 1);
	fill_org(&o);
	o.plan = "";
	n = record_encode_org(&o, buf, sizeof buf);
	is_int(record_decode_org(buf, (size_t)n, &d), -1, "org: an empty plan is refused");
	fill_org(&o);
	o.name = NULL;
	n = record_encode_org(&o, buf, sizeof buf);
	ok(record_decode_org(buf, (size_t)n, &d) == 0 && d.name[0] == '\0', "org: no name decodes as empty");
}

static void
test_plan(void)
{
	struct plan_rec p, d;
	char longs[100];
	int n, i;

	fill_plan(&p);
	n = record_encode_plan(&p, buf, sizeof buf);
	ok(n > 0, "plan with %d rules encodes (%d bytes)", RULES_MAX, n);
	is_int(record_decode_plan(buf, (size_t)n, &d), 0, "plan decodes");
	ok(strcmp(d.name, "pro") == 0 && d.rate.count == 1000 && d.rate.window_s == 3600 &&
	    d.quota.count == 100000 && d.quota.period == QUOTA_MONTH && d.max_keys == 5 &&
	    d.overage_pct == 20 && d.created_at == p.created_at &&
	    d.updated_at == p.updated_at, "plan round trip keeps every field");
	ok(d.nrules == RULES_MAX && rules_equal(d.rules, p.rules, RULES_MAX),
	    "plan round trip keeps all %d rules", RULES_MAX);
	check_malformed("plan", dec_plan, buf, (size_t)n);
	check_caps("plan", enc_plan, &p, n);

	/* the period byte sits after name, rate and quota count */
	{
		/* varints: name length 1 byte, 1000 and 3600 2 bytes, 100000 3 */
		size_t off = 2 + 1 + strlen(p.name) + 1 + 2 + 2 + 3;
		is_int(buf[off], QUOTA_MONTH, "plan: the period byte is where expected");
		for (i = 0; i < 256; i++) {
			int want = i <= QUOTA_CREDITS ? 0 : -1;
			memcpy(work, buf, (size_t)n);
			work[off] = (unsigned char)i;
			if (record_decode_plan(work, (size_t)n, &d) != want)
				break;
		}
		is_int(i, 256, "plan: periods 0-3 decode, 4-255 are refused");
	}
	fill_plan(&p);
	p.quota.period = (enum quota_period)4;
	n = record_encode_plan(&p, buf, sizeof buf);
	is_int(record_decode_plan(buf, (size_t)n, &d), -1, "plan: quota period 4 is refused");
	{
		static const struct { uint32_t count, window; int want; } rates[] = {
			{0, 0, 0}, {10, 1, 0}, {10, 60, 0}, {10, 3600, 0},
			{10, 0, -1}, {10, 30, -1}, {10, 86400, -1},
		};
		for (i = 0; i < (int)(sizeof rates / sizeof rates[0]); i++) {
			fill_plan(&p);
			p.rate.count = rates[i].count;
			p.rate.window_s = rates[i].window;
			n = record_encode_plan(&p, buf, sizeof buf);
			is_int(record_decode_plan(buf, (size_t)n, &d), rates[i].want,
			    "plan: rate %u per %u s is %s", rates[i].count, rates[i].window,
			    rates[i].want ? "refused" : "fine");
		}
	}
	fill_plan(&p);
	p.overage_pct = 1000;
	n = record_encode_plan(&p, buf, sizeof buf);
	is_int(record_decode_plan(buf, (size_t)n, &d), 0, "plan: overage 1000%% is fine");
	p.overage_pct = 1001;
	n = record_encode_plan(&p, buf, sizeof buf);
	is_int(record_decode_plan(buf, (size_t)n, &d), -1, "plan: overage 1001%% is refused");
	fill_plan(&p);
	memset(longs, 'p', sizeof longs);
	longs[ID_MAX] = '\0';
	p.name = longs;
	n = record_encode_plan(&p, buf, sizeof buf);
	is_int(record_decode_plan(buf, (size_t)n, &d), 0, "plan: a %d-byte name is fine", ID_MAX);
	is_int(decode_grown(dec_plan, n, 'p', ID_MAX), -1, "plan: a %d-byte name is refused", ID_MAX + 1);
	longs[ID_MAX] = 'p';
	longs[ID_MAX + 1] = '\0';
	is_int(record_encode_plan(&p, buf, sizeof buf), -1, "plan: a %d-byte name is not written", ID_MAX + 1);
	fill_plan(&p);
	p.rules[RULES_MAX - 1].action = (enum rule_action)0;
	n = record_encode_plan(&p, buf, sizeof buf);
	is_int(record_decode_plan(buf, (size_t)n, &d), -1, "plan: a bad action in the last rule is refused");
	fill_plan(&p);
	p.nrules = RULES_MAX + 1;
	is_int(record_encode_plan(&p, buf, sizeof buf), -1, "plan: encoding 33 rules is refused");
}

static void
test_keyid(void)
{
	struct keyid_rec k, d;
	int n, i;

	for (i = 0; i < DIGEST_LEN; i++)
		k.digest[i] = (unsigned char)(255 - i);
	n = record_encode_keyid(&k, buf, sizeof buf);
	is_int(n, 2 + DIGEST_LEN, "keyid encodes to 34 bytes");
	ok(record_decode_keyid(buf, (size_t)n, &d) == 0 &&
	    memcmp(d.digest, k.digest, DIGEST_LEN) == 0, "keyid round trip");
	check_malformed("keyid", dec_keyid, buf, (size_t)n);
	check_caps("keyid", enc_keyid, &k, n);
}

/*
 * Version 1 records, as builds before the compact encoding wrote them,
 * spelt out field by field (integers little-endian fixed width, strings a
 * 16-bit length, the bytes and a NUL): stores hold them, so they must keep
 * decoding, and writing them back gives version 2.
 */
static const char v1_key[] =
	"\x01" "K"
	"\x08\x00\x00\x00"                              /* flags: imported */
	"\x14\x00" "key_0123456789abcdef" "\x00"        /* id */
	"\x04\x00" "acme" "\x00"                        /* org */
	"\x00\x00" "\x00"                               /* name: none */
	"\x07\x00" "user-42" "\x00"                     /* user */
	"\x0c\x00" "kg_live_AbCd" "\x00"                /* display */
	"\x00\x00" "\x00"                               /* successor: none */
	"\xc0\x86\xfd\x6a\x00\x00\x00\x00"              /* created_at 1795000000 */
	"\x80\x79\x5e\x6b\x00\x00\x00\x00"              /* expires_at 1801353600 */
	"\xff\xff\xff\xff\xff\xff\xff\xff"              /* revoked_at -1 */
	"\xfc\x86\xfd\x6a\x00\x00\x00\x00"              /* last_used_at 1795000060 */
	"\x0a\x00\x00\x00" "\x01\x00\x00\x00"          /* rate 10 per 1 s */
	"\x01"                                          /* one rule: */
	"\x01" "\x04\x00" "POST" "\x00" "\x00\x00" "\x00" "\x08\x00" "/hooks/*" "\x00";
static const char v1_org[] =
	"\x01" "O"
	"\x01\x00\x00\x00"                              /* flags: suspended */
	"\x08\x00" "Acme Inc" "\x00"                    /* name */
	"\x03\x00" "pro" "\x00"                         /* plan */
	"\xc0\x86\xfd\x6a\x00\x00\x00\x00"              /* created_at */
	"\xe8\x03\x00\x00\x00\x00\x00\x00"              /* credits 1000 */
	"\x03\x00\x00\x00";                             /* nkeys */
static const char v1_plan[] =
	"\x01" "P"
	"\x04\x00" "free" "\x00"                        /* name */
	"\x0a\x00\x00\x00" "\x3c\x00\x00\x00"          /* rate 10 per 60 s */
	"\xe8\x03\x00\x00\x00\x00\x00\x00" "\x02"      /* quota 1000 a month */
	"\x05\x00\x00\x00"                              /* max_keys */
	"\x0a\x00\x00\x00"                              /* overage_pct */
	"\xc0\x86\xfd\x6a\x00\x00\x00\x00"              /* created_at */
	"\xfc\x86\xfd\x6a\x00\x00\x00\x00"              /* updated_at */
	"\x01"                                          /* one rule: */
	"\x02" "\x01\x00" "*" "\x00" "\x00\x00" "\x00" "\x09\x00" "/admin/**" "\x00";
static const char v1_meta[] =
	"\x01" "M"
	"\x01\x00\x00\x00" "\x00\x00\x00\x00"          /* format 1, flags 0 */
	"\x02\x00" "kg" "\x00"                          /* prefix */
	"\x00\x00" "\x00"                               /* pepper_path: none */
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
	"\xc0\x86\xfd\x6a\x00\x00\x00\x00"              /* created_at */
	"\x02\x00\x00\x00\x00\x00\x00\x00"              /* plain_digests */
	"\x09\x00\x00\x00\x00\x00\x00\x00";             /* generation */

static void
test_v1(void)
{
	static unsigned char rec[RECORD_MAX];
	struct key_rec k, k2;
	struct org_rec o, o2;
	struct plan_rec p, p2;
	struct meta_rec m, m2;
	struct keyid_rec id, id2;
	int n, i;

	memcpy(rec, v1_key, sizeof v1_key - 1);
	is_int(record_decode_key(rec, sizeof v1_key - 1, &k), 0, "v1 key decodes");
	ok(k.flags == KEYF_IMPORTED && strcmp(k.id, "key_0123456789abcdef") == 0 &&
	    strcmp(k.org, "acme") == 0 && k.name[0] == '\0' &&
	    strcmp(k.user, "user-42") == 0 && strcmp(k.display, "kg_live_AbCd") == 0 &&
	    k.successor[0] == '\0', "v1 key: flags and strings");
	ok(k.created_at == 1795000000 && k.expires_at == 1801353600 &&
	    k.revoked_at == -1 && k.last_used_at == 1795000060, "v1 key: times");
	ok(k.rate.count == 10 && k.rate.window_s == 1 && k.nrules == 1 &&
	    k.rules[0].action == RULE_ALLOW && strcmp(k.rules[0].methods, "POST") == 0 &&
	    k.rules[0].host[0] == '\0' && strcmp(k.rules[0].path, "/hooks/*") == 0,
	    "v1 key: rate and rule");
	ok(inside(k.id, rec, sizeof v1_key - 1) && inside(k.rules[0].path, rec, sizeof v1_key - 1),
	    "v1 key: strings point into the buffer");
	check_malformed("v1 key", dec_key, rec, sizeof v1_key - 1);
	n = record_encode_key(&k, buf, sizeof buf);
	ok(n > 0 && buf[0] == 2, "v1 key encodes again as version 2");
	/* 3 (flags) + 9 (string lengths) + 16 (times) + 6 (rate) */
	is_int(n, (int)sizeof v1_key - 1 - 34, "... %d bytes instead of %zu", n, sizeof v1_key - 1);
	ok(record_decode_key(buf, (size_t)n, &k2) == 0 && k2.flags == k.flags &&
	    strcmp(k2.id, k.id) == 0 && strcmp(k2.display, k.display) == 0 &&
	    k2.created_at == k.created_at && k2.expires_at == k.expires_at &&
	    k2.revoked_at == -1 && k2.last_used_at == k.last_used_at &&
	    k2.rate.count == 10 && rules_equal(k2.rules, k.rules, 1),
	    "... which decodes to the same key");

	memcpy(rec, v1_org, sizeof v1_org - 1);
	is_int(record_decode_org(rec, sizeof v1_org - 1, &o), 0, "v1 org decodes");
	ok(o.flags == ORGF_SUSPENDED && strcmp(o.name, "Acme Inc") == 0 &&
	    strcmp(o.plan, "pro") == 0 && o.created_at == 1795000000 && o.credits == 1000 &&
	    o.nkeys == 3, "v1 org: every field");
	check_malformed("v1 org", dec_org, rec, sizeof v1_org - 1);
	n = record_encode_org(&o, buf, sizeof buf);
	ok(n > 0 && buf[0] == 2 && record_decode_org(buf, (size_t)n, &o2) == 0 &&
	    o2.credits == 1000 && o2.created_at == o.created_at && strcmp(o2.plan, "pro") == 0,
	    "v1 org: written back as version 2 (%d bytes instead of %zu)", n, sizeof v1_org - 1);

	memcpy(rec, v1_plan, sizeof v1_plan - 1);
	is_int(record_decode_plan(rec, sizeof v1_plan - 1, &p), 0, "v1 plan decodes");
	ok(strcmp(p.name, "free") == 0 && p.rate.count == 10 && p.rate.window_s == 60 &&
	    p.quota.count == 1000 && p.quota.period == QUOTA_MONTH && p.max_keys == 5 &&
	    p.overage_pct == 10 && p.created_at == 1795000000 && p.updated_at == 1795000060 &&
	    p.nrules == 1 && p.rules[0].action == RULE_DENY &&
	    strcmp(p.rules[0].path, "/admin/**") == 0, "v1 plan: every field");
	check_malformed("v1 plan", dec_plan, rec, sizeof v1_plan - 1);
	n = record_encode_plan(&p, buf, sizeof buf);
	ok(n > 0 && buf[0] == 2 && record_decode_plan(buf, (size_t)n, &p2) == 0 &&
	    p2.quota.count == 1000 && p2.updated_at == p.updated_at &&
	    rules_equal(p2.rules, p.rules, 1),
	    "v1 plan: written back as version 2 (%d bytes instead of %zu)", n, sizeof v1_plan - 1);

	memcpy(rec, v1_meta, sizeof v1_meta - 1);
	is_int(record_decode_meta(rec, sizeof v1_meta - 1, &m), 0, "v1 meta decodes");
	ok(m.format == 1 && m.flags == 0 && strcmp(m.prefix, "kg") == 0 &&
	    m.pepper_path[0] == '\0' && m.created_at == 1795000000 && m.plain_digests == 2 &&
	    m.generation == 9, "v1 meta: every field");
	check_malformed("v1 meta", dec_meta, rec, sizeof v1_meta - 1);
	n = record_encode_meta(&m, buf, sizeof buf);
	ok(n > 0 && buf[0] == 2 && record_decode_meta(buf, (size_t)n, &m2) == 0 &&
	    m2.format == 1 && m2.generation == 9 && m2.created_at == m.created_at,
	    "v1 meta: written back as version 2");

	rec[0] = 1;
	rec[1] = 'I';
	for (i = 0; i < DIGEST_LEN; i++)
		rec[2 + i] = (unsigned char)i;
	ok(record_decode_keyid(rec, 2 + DIGEST_LEN, &id) == 0 && id.digest[31] == 31,
	    "v1 keyid decodes");
	n = record_encode_keyid(&id, buf, sizeof buf);
	ok(n == 2 + DIGEST_LEN && buf[0] == 2 && memcmp(buf + 2, rec + 2, DIGEST_LEN) == 0 &&
	    record_decode_keyid(buf, (size_t)n, &id2) == 0,
	    "v1 keyid: version 2 differs only in the version byte");
}

/* Version 2 as bytes: an org record (the shortest with every kind of field). */
#define V2_ORG_HEAD  "\x02" "O"
#define V2_ORG_NAMES "\x08" "Acme Inc" "\x00" "\x03" "pro" "\x00"
#define V2_ORG_T0    "\x80\x9b\xec\xaf\x0d"   /* created_at 1795000000, zigzag */

static int
dec_org_bytes(const char *b, size_t n, struct org_rec *o)
{
	static unsigned char rec[64];

	memcpy(rec, b, n);
	return record_decode_org(rec, n, o);
}

#define ORG(flags, created, credits, nkeys) \
	V2_ORG_HEAD flags V2_ORG_NAMES created credits nkeys
#define DEC_ORG(s, o) dec_org_bytes((s), sizeof (s) - 1, (o))

static void
test_varint(void)
{
	static const char golden[] = ORG("\x01", V2_ORG_T0, "\xe8\x07", "\x03");
	struct org_rec o, d;
	struct key_rec k;
	int n;

	/* the exact bytes the encoder writes */
	memset(&o, 0, sizeof o);
	o.flags = ORGF_SUSPENDED;
	o.name = "Acme Inc";
	o.plan = "pro";
	o.created_at = 1795000000;
	o.credits = 1000;
	o.nkeys = 3;
	n = record_encode_org(&o, buf, sizeof buf);
	ok(n == (int)sizeof golden - 1 && memcmp(buf, golden, sizeof golden - 1) == 0,
	    "org encodes to the expected %zu bytes", sizeof golden - 1);
	is_int(DEC_ORG(golden, &d), 0, "... and they decode");
	ok(d.flags == 1 && d.created_at == 1795000000 && d.credits == 1000 && d.nkeys == 3,
	    "... to the same fields");

	/* limits of each width */
	ok(DEC_ORG(ORG("\xff\xff\xff\xff\x0f", V2_ORG_T0, "\x00", "\x00"), &d) == 0 &&
	    d.flags == UINT32_MAX, "u32 field: 2^32-1 decodes");
	is_int(DEC_ORG(ORG("\x80\x80\x80\x80\x10", V2_ORG_T0, "\x00", "\x00"), &d), -1,
	    "u32 field: 2^32 is refused");
	is_int(DEC_ORG(ORG("\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", V2_ORG_T0, "\x00", "\x00"), &d),
	    -1, "u32 field: 2^63 is refused");
	ok(DEC_ORG(ORG("\x00", V2_ORG_T0, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "\x00"), &d) == 0 &&
	    d.credits == UINT64_MAX, "u64 field: 2^64-1 in 10 bytes decodes");
	is_int(DEC_ORG(ORG("\x00", V2_ORG_T0, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", "\x00"), &d),
	    -1, "u64 field: 2^65-1 (10th byte 2) is refused");
	is_int(DEC_ORG(ORG("\x00", V2_ORG_T0, "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x81\x00", "\x00"), &d),
	    -1, "u64 field: an 11-byte varint is refused");
	is_int(DEC_ORG(ORG("\x00", V2_ORG_T0, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "\x00"), &d),
	    -1, "u64 field: a 13-byte varint is refused");
	ok(DEC_ORG(ORG("\x00", "\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01", "\x00", "\x00"), &d) == 0 &&
	    d.created_at == INT64_MAX, "i64 field: zigzag 2^64-2 is INT64_MAX");
	ok(DEC_ORG(ORG("\x00", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "\x00", "\x00"), &d) == 0 &&
	    d.created_at == INT64_MIN, "i64 field: zigzag 2^64-1 is INT64_MIN");
	ok(DEC_ORG(ORG("\x00", "\x01", "\x00", "\x00"), &d) == 0 && d.created_at == -1,
	    "i64 field: zigzag 1 is -1");

	/* one encoding per value */
	is_int(DEC_ORG(ORG("\x81\x00", V2_ORG_T0, "\x00", "\x00"), &d), -1,
	    "non-minimal varint (1 in two bytes) is refused");
	is_int(DEC_ORG(ORG("\x80\x00", V2_ORG_T0, "\x00", "\x00"), &d), -1,
	    "non-minimal varint (0 in two bytes) is refused");
	is_int(DEC_ORG(ORG("\x00", V2_ORG_T0, "\xe8\x87\x80\x00", "\x00"), &d), -1,
	    "non-minimal varint (1000 in four bytes) is refused");
	is_int(DEC_ORG(V2_ORG_HEAD "\x00" "\x88\x00" "Acme Inc" "\x00" "\x03" "pro" "\x00"
	    V2_ORG_T0 "\x00" "\x00", &d), -1, "non-minimal string length is refused");

	/* truncation inside a varint, huge lengths, empty input */
	is_int(DEC_ORG(ORG("\x00", V2_ORG_T0, "\x00", "\x80"), &d), -1,
	    "a varint cut off after a continuation byte is refused");
	is_int(DEC_ORG(ORG("\x00", V2_ORG_T0, "\x00", "\xff\xff"), &d), -1,
	    "a varint cut off after two continuation bytes is refused");
	is_int(DEC_ORG(V2_ORG_HEAD "\x00" "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01" "Acme", &d), -1,
	    "string length 2^64-1 is refused");
	is_int(DEC_ORG(V2_ORG_HEAD "\x00" "\x81\x01" "Acme", &d), -1,
	    "string length 129 over a %d-byte limit is refused", TEXT_MAX);
	is_int(DEC_ORG(V2_ORG_HEAD, &d), -1, "a header alone is refused");
	is_int(record_decode_org(buf, 0, &d), -1, "empty input is refused");
	is_int(record_decode_org(buf, 1, &d), -1, "a version byte alone is refused");
	memset(work, 0x80, 200);
	work[0] = 2;
	work[1] = 'O';
	is_int(record_decode_org(work, 200, &d), -1, "200 continuation bytes are refused");
	memset(work, 0xff, 200);
	is_int(record_decode_org(work, 200, &d), -1, "200 bytes of 0xff are refused");

	/* a 128-byte name takes a 2-byte length, and round trips */
	{
		char name[TEXT_MAX + 1];

		memset(name, 'n', TEXT_MAX);
		name[TEXT_MAX] = '\0';
		o.name = name;
		n = record_encode_org(&o, buf, sizeof buf);
		ok(n > 0 && buf[3] == 0x80 && buf[4] == 0x01 &&
		    record_decode_org(buf, (size_t)n, &d) == 0 && strlen(d.name) == TEXT_MAX,
		    "a %d-byte name: length 80 01, round trip", TEXT_MAX);
	}

	/* a typical imported key: well under its version 1 size */
	memset(&k, 0, sizeof k);
	k.flags = KEYF_IMPORTED;
	k.id = "key_0123456789abcdef";
	k.org = "org01234";
	k.display = "kg_live_AbCd\xe2\x80\xa6";
	k.created_at = 1795000000;
	n = record_encode_key(&k, buf, sizeof buf);
	is_int(n, 2 + 1 + (1 + 20 + 1) + (1 + 8 + 1) + 2 + 2 + (1 + 15 + 1) + 2 + 5 + 3 + 2 + 1,
	    "an imported key with no name, rate or rules: %d bytes", n);
}

/* Random and mutated buffers: never a crash, never a pointer outside. */
static void
test_fuzz(void)
{
	static unsigned char recs[4][RECORD_MAX];
	static size_t lens[4];
	static const char types[] = "MKOPI";
	struct meta_rec m;
	struct key_rec k;
	struct org_rec o;
	struct plan_rec p;
	unsigned seed = 777;
	int i, accepted = 0, outside = 0;

	fill_meta(&m);
	lens[0] = (size_t)record_encode_meta(&m, recs[0], RECORD_MAX);
	fill_key(&k);
	lens[1] = (size_t)record_encode_key(&k, recs[1], RECORD_MAX);
	fill_org(&o);
	lens[2] = (size_t)record_encode_org(&o, recs[2], RECORD_MAX);
	fill_plan(&p);
	lens[3] = (size_t)record_encode_plan(&p, recs[3], RECORD_MAX);

	for (i = 0; i < 10000; i++) {
		size_t len, j;
		unsigned char *b;

		seed = seed * 1103515245u + 12345u;
		len = (seed >> 16) % 400;
		/* exact-size heap buffers, so a sanitizer sees any overread */
		b = malloc(len ? len : 1);
		if (b == NULL)
			abort();
		for (j = 0; j < len; j++) {
			seed = seed * 1103515245u + 12345u;
			b[j] = (unsigned char)(seed >> 16);
			/* small length fields and NULs make deeper parses likely */
			if ((seed >> 8) % 4 == 0)
				b[j] = 0;
		}
		if (len >= 2 && i % 2) {
			b[0] = RECORD_VERSION;
			b[1] = (unsigned char)types[i % 5];
		}
		if (record_decode_meta(b, len, &m) == 0) {
			accepted++;
			outside += !inside(m.prefix, b, len) || !inside(m.pepper_path, b, len);
		}
		if (record_decode_key(b, len, &k) == 0) {
			accepted++;
			outside += !inside(k.id, b, len) || !inside(k.org, b, len);
		}
		if (record_decode_org(b, len, &o) == 0) {
			accepted++;
			outside += !inside(o.plan, b, len);
		}
		record_decode_plan(b, len, &p);
		{
			struct keyid_rec kid;
			record_decode_keyid(b, len, &kid);
		}
		free(b);
	}
	ok(1, "10000 random buffers through every decoder without a crash (%d accepted)", accepted);

	for (i = 0; i < 10000; i++) {
		int t = i % 4, flips, f;
		size_t len = lens[t];
		unsigned char *b = malloc(len);

		if (b == NULL)
			abort();
		memcpy(b, recs[t], len);
		seed = seed * 1103515245u + 12345u;
		flips = 1 + (int)((seed >> 16) % 3);
		for (f = 0; f < flips; f++) {
			seed = seed * 1103515245u + 12345u;
			b[(seed >> 8) % len] ^= (unsigned char)(1u << ((seed >> 4) % 8));
		}
		switch (t) {
		case 0:
			if (record_decode_meta(b, len, &m) == 0)
				outside += !inside(m.prefix, b, len) || !inside(m.pepper_path, b, len);
			break;
		case 1:
			if (record_decode_key(b, len, &k) == 0) {
				size_t r;
				outside += !inside(k.id, b, len) || !inside(k.successor, b, len);
				for (r = 0; r < k.nrules; r++)
					outside += !inside(k.rules[r].path, b, len) ||
					    k.rules[r].path[0] != '/';
			}
			break;
		case 2:
			if (record_decode_org(b, len, &o) == 0)
				outside += !inside(o.name, b, len);
			break;
		default:
			if (record_decode_plan(b, len, &p) == 0) {
				size_t r;
				outside += p.nrules > RULES_MAX;
				for (r = 0; r < p.nrules && r < RULES_MAX; r++)
					outside += !inside(p.rules[r].host, b, len);
			}
		}
		free(b);
	}
	is_int(outside, 0, "decoded strings of 20000 random and bit-flipped records lie inside their buffers");
}

static void
test_validators(void)
{
	char s[300];

	ok(record_id_valid("acme"), "id acme");
	ok(record_id_valid("a"), "id a");
	ok(record_id_valid("Acme-Corp_2.eu"), "id with - _ . and digits");
	memset(s, 'x', sizeof s);
	s[ID_MAX] = '\0';
	ok(record_id_valid(s), "id of %d bytes", ID_MAX);
	s[ID_MAX] = 'x';
	s[ID_MAX + 1] = '\0';
	ok(!record_id_valid(s), "id of %d bytes is not valid", ID_MAX + 1);
	ok(!record_id_valid(""), "empty id is not valid");
	ok(!record_id_valid(NULL), "NULL id is not valid");
	ok(!record_id_valid("a b"), "id with a space is not valid");
	ok(!record_id_valid("a/b"), "id with a slash is not valid");
	ok(!record_id_valid("a:b"), "id with a colon is not valid");
	ok(!record_id_valid("caf\xc3\xa9"), "id with UTF-8 is not valid");
	ok(!record_id_valid("a\nb"), "id with LF is not valid");

	ok(record_text_valid(NULL), "text NULL is fine (absent)");
	ok(record_text_valid(""), "text empty is fine");
	ok(record_text_valid("Acme Inc. \"quoted\" <x>"), "text printable");
	ok(record_text_valid("Caf\xc3\xa9"), "text UTF-8");
	ok(!record_text_valid("a\tb"), "text with a tab is not valid");
	ok(!record_text_valid("a\nb"), "text with LF is not valid");
	ok(!record_text_valid("a\rb"), "text with CR is not valid");
	ok(!record_text_valid("a\x7f"), "text with DEL is not valid");
	memset(s, 't', sizeof s);
	s[TEXT_MAX] = '\0';
	ok(record_text_valid(s), "text of %d bytes", TEXT_MAX);
	s[TEXT_MAX] = 't';
	s[TEXT_MAX + 1] = '\0';
	ok(!record_text_valid(s), "text of %d bytes is not valid", TEXT_MAX + 1);

	ok(record_header_safe(NULL), "header NULL is fine");
	ok(record_header_safe("acme pro ~!"), "header printable ASCII");
	ok(!record_header_safe("a\r"), "header with CR is not safe");
	ok(!record_header_safe("a\nX-Evil: 1"), "header with LF is not safe");
	ok(!record_header_safe("a\tb"), "header with a tab is not safe");
	ok(!record_header_safe("caf\xc3\xa9"), "header with UTF-8 is not safe");
	ok(!record_header_safe("a\x7f"), "header with DEL is not safe");
	s[TEXT_MAX] = '\0';
	ok(record_header_safe(s), "header of %d bytes", TEXT_MAX);
	s[TEXT_MAX] = 't';
	ok(!record_header_safe(s), "header of %d bytes is not safe", TEXT_MAX + 1);

	{
		struct rule r;
		struct rule_view v;
		const char *err;
		rule_parse(RULE_DENY, "GET api.example.com/x/*", &r, &err);
		record_rule_view(&r, &v);
		ok(v.action == RULE_DENY && v.methods == r.methods && v.host == r.host &&
		    v.path == r.path, "record_rule_view points at the rule");
	}
}

/* 0 is "never": an explicit expiry is never stored as 0 */
static void
test_expiry(void)
{
	struct key_rec k, d;
	int n;

	is_int(record_expiry(0), RECORD_EXPIRED_AT, "expiry at the epoch is stored as 1970-01-01T00:00:01Z");
	is_int(record_expiry(-3600), RECORD_EXPIRED_AT, "an expiry before the epoch too");
	is_int(record_expiry(INT64_MIN), RECORD_EXPIRED_AT, "INT64_MIN too");
	is_int(record_expiry(1), 1, "1 s after the epoch is itself");
	is_int(record_expiry(1801353600), 1801353600, "a date is itself");
	is_int(record_expiry(INT64_MAX), INT64_MAX, "INT64_MAX is itself");
	ok(record_expiry(0) != 0, "no explicit expiry becomes 0 (never)");
	ok(!record_expired(0, 0) && !record_expired(0, INT64_MAX), "0 never expires");
	ok(record_expired(record_expiry(0), 1) && record_expired(record_expiry(0), 1801353600),
	    "an expiry at the epoch is expired now");
	ok(!record_expired(100, 99) && record_expired(100, 100) && record_expired(100, 101),
	    "a key is expired from its expires_at on");
	ok(record_expired(-1, 0), "a negative expiry (records of earlier builds) is expired");
	fill_key(&k);
	k.expires_at = record_expiry(0);
	n = record_encode_key(&k, buf, sizeof buf);
	ok(record_decode_key(buf, (size_t)n, &d) == 0 && d.expires_at == RECORD_EXPIRED_AT &&
	    record_expired(d.expires_at, 1795567326), "an expiry at the epoch survives the record");
}

/*
 * Scopes: a key with scopes is version 3 (version 2 and a field after the
 * rules, never 0), so that a key without scopes is byte for byte what
 * earlier builds wrote, and a record cut before its scopes is refused.
 */
static void
test_scopes(void)
{
	struct key_rec k, d;
	int n0, n;

	fill_key(&k);
	n0 = record_encode_key(&k, buf, sizeof buf);
	memcpy(work, buf, (size_t)n0);
	k.scopes = SCOPE_KEYS_READ | SCOPE_ADMIN;
	n = record_encode_key(&k, buf, sizeof buf);
	ok(n == n0 + 1 && buf[0] == 3 && work[0] == 2 && memcmp(buf + 1, work + 1, (size_t)n0 - 1) == 0 &&
	    buf[n0] == 0x11, "scopes: version 3, one byte after the rules; the rest as without them");
	ok(record_decode_key(buf, (size_t)n, &d) == 0 && d.scopes == (SCOPE_KEYS_READ | SCOPE_ADMIN),
	    "... and back");
	ok(record_decode_key(work, (size_t)n0, &d) == 0 && d.scopes == 0,
	    "a key without the field has no scopes");
	check_malformed("key with scopes", dec_key, buf, (size_t)n);
	memcpy(work, buf, (size_t)n);
	work[0] = 2;
	is_int(record_decode_key(work, (size_t)n, &d), -1, "scopes in a version 2 record: refused");
	work[0] = 1;
	is_int(record_decode_key(work, (size_t)n, &d), -1, "... in a version 1 record: refused");
	memcpy(work, buf, (size_t)n0);
	is_int(record_decode_key(work, (size_t)n0, &d), -1, "a version 3 record without its scopes: refused");
	memcpy(work, buf, (size_t)n);
	work[1] = 'O';
	is_int(record_decode_org(work, (size_t)n, &out.o), -1, "version 3 is for keys only");
	check_caps("key with scopes", enc_key, &k, n);
	memcpy(work, buf, (size_t)n);
	work[n - 1] = 0;
	is_int(record_decode_key(work, (size_t)n, &d), -1, "scopes 0 written out: refused (one encoding)");
	work[n - 1] = 0x20;
	is_int(record_decode_key(work, (size_t)n, &d), -1, "an unknown scope bit: refused");
	k.scopes = 0x20;
	is_int(record_encode_key(&k, buf, sizeof buf), -1, "... and never written");
	k.scopes = SCOPES_ALL;
	n = record_encode_key(&k, buf, sizeof buf);
	ok(record_decode_key(buf, (size_t)n, &d) == 0 && d.scopes == SCOPES_ALL, "every scope");

	/* a key made by a rotation: version 4, its scopes (0 allowed) and what it replaced */
	k.scopes = 0;
	k.replaces = "key_0123456789abcdef";
	n = record_encode_key(&k, buf, sizeof buf);
	ok(n > n0 && buf[0] == 4 && record_decode_key(buf, (size_t)n, &d) == 0 && d.scopes == 0 &&
	    strcmp(d.replaces, "key_0123456789abcdef") == 0, "replaces: version 4, and back");
	check_malformed("key that replaced another", dec_key, buf, (size_t)n);
	k.scopes = SCOPE_VERIFY;
	n = record_encode_key(&k, buf, sizeof buf);
	ok(buf[0] == 4 && record_decode_key(buf, (size_t)n, &d) == 0 && d.scopes == SCOPE_VERIFY &&
	    strcmp(d.replaces, k.replaces) == 0, "... with scopes too");
	memcpy(work, buf, (size_t)n);
	work[0] = 3;
	is_int(record_decode_key(work, (size_t)n, &d), -1, "a replaced id in a version 3 record: refused");
	k.replaces = "";
	n = record_encode_key(&k, buf, sizeof buf);
	ok(buf[0] == 3 && record_decode_key(buf, (size_t)n, &d) == 0 && d.replaces[0] == '\0',
	    "an empty replaces is not written (version 3 with scopes)");
}

static void
fill_audit(struct audit_rec *a)
{
	static const struct audit_field f[] = {
		{AUDIT_STR, "name", "CI key \xc3\xa9", 0},
		{AUDIT_NULL, "user", "", 0},
		{AUDIT_INT, "grace", "", -86400},
		{AUDIT_BOOL, "created", "", 1},
		{AUDIT_LIST, "rules", "", 2},
		{AUDIT_STR, "", "allow GET /v1/*", 0},
		{AUDIT_STR, "", "deny * /admin/**", 0},
		{AUDIT_LIST, "scopes", "", 0},
		{AUDIT_INT, "max_keys", "", INT64_MAX},
		{AUDIT_STR, "sha256", "", 0},
	};

	memset(a, 0, sizeof *a);
	a->actor = "cli:root";
	a->remote = "2001:db8::1";
	a->action = "key.create";
	a->org = "acme";
	a->target = "key_0123456789ABCDEF";
	a->nfields = sizeof f / sizeof f[0];
	memcpy(a->f, f, sizeof f);
}

static int dec_audit(const unsigned char *b, size_t n, void *r)
{
	static struct audit_rec a;

	(void)r;
	return record_decode_audit(b, n, &a);
}
static int enc_audit(const void *r, unsigned char *b, size_t c) { return record_encode_audit(r, b, c); }

static void
test_audit(void)
{
	static char longest[AUDIT_VALUE_MAX + 2];
	static struct audit_rec a, d;
	size_t i;
	int n, same = 1;

	fill_audit(&a);
	n = record_encode_audit(&a, buf, sizeof buf);
	ok(n > 0, "audit encodes (%d bytes)", n);
	is_int(record_decode_audit(buf, (size_t)n, &d), 0, "audit decodes");
	ok(strcmp(d.actor, a.actor) == 0 && strcmp(d.remote, a.remote) == 0 &&
	    strcmp(d.action, a.action) == 0 && strcmp(d.org, a.org) == 0 &&
	    strcmp(d.target, a.target) == 0 && d.nfields == a.nfields, "audit round trip: who and what");
	for (i = 0; i < a.nfields; i++)
		same &= d.f[i].type == a.f[i].type && strcmp(d.f[i].name, a.f[i].name) == 0 &&
		    strcmp(d.f[i].str, a.f[i].str) == 0 &&
		    (a.f[i].type == AUDIT_STR || a.f[i].type == AUDIT_NULL || d.f[i].num == a.f[i].num);
	ok(same, "... and every field, list items included");
	ok(inside(d.f[5].str, buf, (size_t)n), "... strings point into the buffer");
	check_malformed("audit", dec_audit, buf, (size_t)n);
	check_caps("audit", enc_audit, &a, n);
	/* version 1 never existed for the audit */
	memcpy(work, buf, (size_t)n);
	work[0] = 1;
	is_int(record_decode_audit(work, (size_t)n, &d), -1, "audit: version 1 is refused");

	/* the rules of the fields, refused by both sides */
	fill_audit(&a);
	a.f[3].num = 2;
	is_int(record_encode_audit(&a, buf, sizeof buf), -1, "audit: a boolean of 2 is not written");
	fill_audit(&a);
	a.f[4].num = 6;
	is_int(record_encode_audit(&a, buf, sizeof buf), -1, "audit: a list longer than what follows");
	fill_audit(&a);
	a.f[4].num = 1; /* the second item becomes a field without a name */
	is_int(record_encode_audit(&a, buf, sizeof buf), -1, "audit: a nameless field");
	fill_audit(&a);
	a.f[2].name = "name";
	is_int(record_encode_audit(&a, buf, sizeof buf), -1, "audit: a name twice");
	fill_audit(&a);
	a.f[2].name = "Grace";
	is_int(record_encode_audit(&a, buf, sizeof buf), -1, "audit: a name in capitals");
	a.f[2].name = "9lives";
	is_int(record_encode_audit(&a, buf, sizeof buf), -1, "audit: a name starting with a digit");
	fill_audit(&a);
	a.f[0].type = (enum audit_type)'x';
	is_int(record_encode_audit(&a, buf, sizeof buf), -1, "audit: an unknown type");
	fill_audit(&a);
	a.actor = "";
	is_int(record_encode_audit(&a, buf, sizeof buf), -1, "audit: no actor");
	fill_audit(&a);
	a.nfields = AUDIT_FIELDS_MAX + 1;
	is_int(record_encode_audit(&a, buf, sizeof buf), -1, "audit: too many fields");
	/* the decoder refuses them too: a boolean of 2 made by hand */
	fill_audit(&a);
	a.nfields = 4;
	n = record_encode_audit(&a, buf, sizeof buf);
	ok(n > 0 && buf[n - 1] == 1, "audit: a record ending in a boolean");
	buf[n - 1] = 2;
	is_int(record_decode_audit(buf, (size_t)n, &d), -1, "... read as 2: refused");
	buf[n - 1] = 0;
	is_int(record_decode_audit(buf, (size_t)n, &d), 0, "... read as 0: fine");
	/* a value of the longest length */
	fill_audit(&a);
	memset(longest, 'v', AUDIT_VALUE_MAX);
	a.f[0].str = longest;
	n = record_encode_audit(&a, buf, sizeof buf);
	ok(n > 0 && record_decode_audit(buf, (size_t)n, &d) == 0 && strlen(d.f[0].str) == AUDIT_VALUE_MAX,
	    "audit: a %d-byte value is fine", AUDIT_VALUE_MAX);
	is_int(decode_grown(dec_audit, n, 'v', AUDIT_VALUE_MAX), -1, "... one more is refused");
	longest[AUDIT_VALUE_MAX] = 'v';
	is_int(record_encode_audit(&a, buf, sizeof buf), -1, "... and never written");
}

int
main(void)
{
	test_meta();
	test_key();
	test_org();
	test_plan();
	test_keyid();
	test_v1();
	test_varint();
	test_fuzz();
	test_validators();
	test_expiry();
	test_scopes();
	test_audit();
	return done_testing();
}
