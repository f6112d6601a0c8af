/*
 * record.c - record layout.  Every record starts with a version byte and
 * a type byte.  Version 2 (written): integers are LEB128 varints (7 bits
 * a byte, least significant first, the high bit set on every byte but
 * the last; signed ones zigzag-mapped so that -1 stays short), strings
 * a varint length, the bytes and a NUL, so decoded strings are C strings
 * pointing into the buffer.  A varint must be minimal (no trailing zero
 * byte, at most 10 bytes) and fit its field, so that every value has one
 * encoding.  Version 1 (still read: stores made by earlier builds):
 * integers little-endian fixed width, string lengths 16 bits.  Bytes and
 * byte-sized fields (digests, quota period, rule count and action) are
 * the same in both.  A decoder refuses a version it does not know,
 * trailing bytes, missing NULs and embedded NULs.
 *
 * A key with scopes is a version 3 record: version 2 and its scopes, a
 * varint after the rules, never zero (a key without scopes is version 2,
 * so that every value keeps one encoding).  Keys without scopes are thus
 * byte for byte what earlier builds wrote, and they read them; and a
 * record cut short is refused, which an optional trailing field could not
 * tell from a key without scopes.  A key made by a rotation is a version 4
 * record: version 2, its scopes (a varint, zero allowed) and the id of the
 * key it replaced (never empty); every key keeps one encoding.
 */
#include "config.h"

#include <string.h>

#include "record.h"

enum rec_type {
	REC_META = 'M', REC_KEY = 'K', REC_KEYID = 'I', REC_ORG = 'O', REC_PLAN = 'P',
	REC_LEDGER = 'L', REC_LEDGER_SEQ = 'S', REC_HISTORY = 'H', REC_AUDIT = 'A',
	REC_VAULT = 'V',
};

struct wr {
	unsigned char *buf;
	size_t cap, len;
	int overflow;
};

struct rd {
	const unsigned char *buf;
	size_t len, pos;
	int version;
	int bad;
};

static void
put_bytes(struct wr *w, const void *p, size_t n)
{
	if (w->overflow || n > w->cap - w->len) {
		w->overflow = 1;
		return;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void
put_u8(struct wr *w, uint8_t v)
{
	put_bytes(w, &v, 1);
}

static void
put_varint(struct wr *w, uint64_t v)
{
	unsigned char b[10];
	size_t n = 0;

	while (v >= 0x80) {
		b[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	b[n++] = (unsigned char)v;
	put_bytes(w, b, n);
}

static void
put_u32(struct wr *w, uint32_t v)
{
	put_varint(w, v);
}

static void
put_u64(struct wr *w, uint64_t v)
{
	put_varint(w, v);
}

/* zigzag: 0, -1, 1, -2... -> 0, 1, 2, 3... */
static void
put_i64(struct wr *w, int64_t v)
{
	put_varint(w, v < 0 ? ((uint64_t)(-(v + 1)) << 1) | 1 : (uint64_t)v << 1);
}

/* max: what the decoder accepts, so that nothing is written it would refuse */
static void
put_str(struct wr *w, const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n > max) {
		w->overflow = 1;
		return;
	}
	put_varint(w, n);
	put_bytes(w, s ? s : "", n);
	put_u8(w, 0);
}

static void
put_rules(struct wr *w, const struct rule_view *r, size_t n)
{
	size_t i;

	if (n > RULES_MAX) {
		w->overflow = 1;
		return;
	}
	put_u8(w, (uint8_t)n);
	for (i = 0; i < n; i++) {
		put_u8(w, (uint8_t)r[i].action);
		put_str(w, r[i].methods, RULE_METHODS_MAX - 1);
		put_str(w, r[i].host, RULE_HOST_MAX - 1);
		put_str(w, r[i].path, RULE_PATH_MAX - 1);
	}
}

static const unsigned char *
get_bytes(struct rd *r, size_t n)
{
	const unsigned char *p;

	if (r->bad || n > r->len - r->pos) {
		r->bad = 1;
		return NULL;
	}
	p = r->buf + r->pos;
	r->pos += n;
	return p;
}

static uint8_t
get_u8(struct rd *r)
{
	const unsigned char *p = get_bytes(r, 1);
	return p ? p[0] : 0;
}

/* A minimal varint of at most 10 bytes, no larger than max. */
static uint64_t
get_varint(struct rd *r, uint64_t max)
{
	const unsigned char *p;
	uint64_t v = 0;
	unsigned shift;

	for (shift = 0; shift <= 63; shift += 7) {
		if ((p = get_bytes(r, 1)) == NULL)
			return 0;
		if (shift == 63 && *p > 1)
			break; /* past 64 bits */
		v |= (uint64_t)(*p & 0x7f) << shift;
		if (*p & 0x80)
			continue;
		if (*p == 0 && shift > 0)
			break; /* not minimal */
		if (v > max)
			break;
		return v;
	}
	r->bad = 1;
	return 0;
}

static uint32_t
get_u32(struct rd *r)
{
	const unsigned char *p;

	if (r->version != 1)
		return (uint32_t)get_varint(r, UINT32_MAX);
	p = get_bytes(r, 4);
	return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24 : 0;
}

static uint64_t
get_u64(struct rd *r)
{
	uint64_t lo;

	if (r->version != 1)
		return get_varint(r, UINT64_MAX);
	lo = get_u32(r);
	return lo | (uint64_t)get_u32(r) << 32;
}

static int64_t
get_i64(struct rd *r)
{
	uint64_t u;

	if (r->version == 1)
		return (int64_t)get_u64(r);
	u = get_varint(r, UINT64_MAX);
	return u & 1 ? -(int64_t)(u >> 1) - 1 : (int64_t)(u >> 1);
}

static const char *
get_str(struct rd *r, size_t max)
{
	const unsigned char *p;
	size_t n;

	if (r->version != 1) {
		n = (size_t)get_varint(r, max);
	} else {
		n = get_u8(r);
		n |= (size_t)get_u8(r) << 8;
	}
	if (r->bad || n > max) {
		r->bad = 1;
		return "";
	}
	p = get_bytes(r, n + 1);
	if (p == NULL || p[n] != '\0' || memchr(p, '\0', n) != NULL) {
		r->bad = 1;
		return "";
	}
	return (const char *)p;
}

static void
get_rules(struct rd *r, struct rule_view *v, size_t *n)
{
	size_t i, count = get_u8(r);

	*n = 0;
	if (count > RULES_MAX) {
		r->bad = 1;
		return;
	}
	for (i = 0; i < count && !r->bad; i++) {
		uint8_t a = get_u8(r);
		if (a != RULE_ALLOW && a != RULE_DENY)
			r->bad = 1;
		v[i].action = (enum rule_action)a;
		v[i].methods = get_str(r, RULE_METHODS_MAX - 1);
		v[i].host = get_str(r, RULE_HOST_MAX - 1);
		v[i].path = get_str(r, RULE_PATH_MAX - 1);
		/* a path pattern from disk must still look like one */
		if (v[i].path[0] != '/' || v[i].methods[0] == '\0')
			r->bad = 1;
	}
	if (!r->bad)
		*n = count;
}

static void
begin(struct wr *w, unsigned char *buf, size_t cap, enum rec_type type)
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->overflow = 0;
	put_u8(w, RECORD_VERSION);
	put_u8(w, (uint8_t)type);
}

static int
finish(struct wr *w)
{
	return w->overflow ? -1 : (int)w->len;
}

static int
open_rd(struct rd *r, const unsigned char *buf, size_t len, enum rec_type type)
{
	r->buf = buf;
	r->len = len;
	r->pos = 0;
	r->bad = 0;
	/* stores are not converted: a record becomes version 2 when written again */
	if (buf == NULL || len < 2 || (buf[0] != 1 && buf[0] != RECORD_VERSION &&
	    !((buf[0] == RECORD_VERSION_SCOPES || buf[0] == RECORD_VERSION_REPLACES) &&
	    type == REC_KEY)) || buf[1] != type)
		return -1;
	r->version = buf[0];
	r->pos = 2;
	return 0;
}

static int
close_rd(struct rd *r)
{
	return r->bad || r->pos != r->len ? -1 : 0;
}

int
record_encode_meta(const struct meta_rec *m, unsigned char *buf, size_t cap)
{
	struct wr w;

	begin(&w, buf, cap, REC_META);
	put_u32(&w, m->format);
	put_u32(&w, m->flags);
	put_str(&w, m->prefix, APIKEY_PREFIX_MAX);
	put_str(&w, m->pepper_path, PATHNAME_MAX);
	put_bytes(&w, m->pepper_check, DIGEST_LEN);
	put_i64(&w, m->created_at);
	put_u64(&w, m->plain_digests);
	put_u64(&w, m->generation);
	return finish(&w);
}

int
record_decode_meta(const unsigned char *buf, size_t len, struct meta_rec *m)
{
	struct rd r;
	const unsigned char *p;

	memset(m, 0, sizeof *m);
	if (open_rd(&r, buf, len, REC_META) != 0)
		return -1;
	m->format = get_u32(&r);
	m->flags = get_u32(&r);
	m->prefix = get_str(&r, APIKEY_PREFIX_MAX);
	m->pepper_path = get_str(&r, PATHNAME_MAX);
	if ((p = get_bytes(&r, DIGEST_LEN)) != NULL)
		memcpy(m->pepper_check, p, DIGEST_LEN);
	m->created_at = get_i64(&r);
	m->plain_digests = get_u64(&r);
	m->generation = get_u64(&r);
	if (close_rd(&r) != 0 || !apikey_prefix_valid(m->prefix))
		return -1;
	return 0;
}

int
record_encode_key(const struct key_rec *k, unsigned char *buf, size_t cap)
{
	struct wr w;

	begin(&w, buf, cap, REC_KEY);
	put_u32(&w, k->flags);
	put_str(&w, k->id, KEYID_LEN);
	put_str(&w, k->org, ID_MAX);
	put_str(&w, k->name, TEXT_MAX);
	put_str(&w, k->user, TEXT_MAX);
	put_str(&w, k->display, DISPLAY_MAX);
	put_str(&w, k->successor, KEYID_LEN);
	put_i64(&w, k->created_at);
	put_i64(&w, k->expires_at);
	put_i64(&w, k->revoked_at);
	put_i64(&w, k->last_used_at);
	put_u32(&w, k->rate.count);
	put_u32(&w, k->rate.window_s);
	put_rules(&w, k->rules, k->nrules);
	if (k->scopes & ~(uint32_t)SCOPES_ALL)
		w.overflow = 1;
	if (k->replaces != NULL && k->replaces[0] != '\0') {
		put_u32(&w, k->scopes);
		put_str(&w, k->replaces, KEYID_LEN);
		if (!w.overflow)
			buf[0] = RECORD_VERSION_REPLACES;
	} else if (k->scopes != 0) {
		put_u32(&w, k->scopes);
		if (!w.overflow)
			buf[0] = RECORD_VERSION_SCOPES;
	}
	return finish(&w);
}

/* The bounds parse_rate and parse_quota enforce, for records from disk. */
static int
rate_valid(const struct rate_spec *r)
{
	if (r->count == 0)
		return 1;
	return r->count <= RATE_COUNT_MAX &&
	    (r->window_s == 1 || r->window_s == 60 || r->window_s == 3600);
}

int
record_decode_key(const unsigned char *buf, size_t len, struct key_rec *k)
{
	struct rd r;

	if (open_rd(&r, buf, len, REC_KEY) != 0)
		return -1;
	k->flags = get_u32(&r);
	k->id = get_str(&r, KEYID_LEN);
	k->org = get_str(&r, ID_MAX);
	k->name = get_str(&r, TEXT_MAX);
	k->user = get_str(&r, TEXT_MAX);
	k->display = get_str(&r, DISPLAY_MAX);
	k->successor = get_str(&r, KEYID_LEN);
	k->created_at = get_i64(&r);
	k->expires_at = get_i64(&r);
	k->revoked_at = get_i64(&r);
	k->last_used_at = get_i64(&r);
	k->rate.count = get_u32(&r);
	k->rate.window_s = get_u32(&r);
	get_rules(&r, k->rules, &k->nrules);
	k->scopes = 0;
	k->replaces = "";
	if (r.version == RECORD_VERSION_SCOPES || r.version == RECORD_VERSION_REPLACES) {
		k->scopes = get_u32(&r);
		if ((k->scopes == 0 && r.version == RECORD_VERSION_SCOPES) ||
		    (k->scopes & ~(uint32_t)SCOPES_ALL))
			r.bad = 1;
	}
	if (r.version == RECORD_VERSION_REPLACES) {
		k->replaces = get_str(&r, KEYID_LEN);
		if (k->replaces[0] == '\0')
			r.bad = 1;
	}
	if (close_rd(&r) != 0 || k->id[0] == '\0' || k->org[0] == '\0' ||
	    !rate_valid(&k->rate))
		return -1;
	return 0;
}

int
record_encode_keyid(const struct keyid_rec *k, unsigned char *buf, size_t cap)
{
	struct wr w;

	begin(&w, buf, cap, REC_KEYID);
	put_bytes(&w, k->digest, DIGEST_LEN);
	return finish(&w);
}

int
record_decode_keyid(const unsigned char *buf, size_t len, struct keyid_rec *k)
{
	struct rd r;
	const unsigned char *p;

	if (open_rd(&r, buf, len, REC_KEYID) != 0)
		return -1;
	if ((p = get_bytes(&r, DIGEST_LEN)) != NULL)
		memcpy(k->digest, p, DIGEST_LEN);
	return close_rd(&r);
}

int
record_encode_org(const struct org_rec *o, unsigned char *buf, size_t cap)
{
	struct wr w;

	begin(&w, buf, cap, REC_ORG);
	put_u32(&w, o->flags);
	put_str(&w, o->name, TEXT_MAX);
	put_str(&w, o->plan, ID_MAX);
	put_i64(&w, o->created_at);
	put_u64(&w, o->credits);
	put_u32(&w, o->nkeys);
	return finish(&w);
}

int
record_decode_org(const unsigned char *buf, size_t len, struct org_rec *o)
{
	struct rd r;

	if (open_rd(&r, buf, len, REC_ORG) != 0)
		return -1;
	o->flags = get_u32(&r);
	o->name = get_str(&r, TEXT_MAX);
	o->plan = get_str(&r, ID_MAX);
	o->created_at = get_i64(&r);
	o->credits = get_u64(&r);
	o->nkeys = get_u32(&r);
	if (close_rd(&r) != 0 || o->plan[0] == '\0')
		return -1;
	return 0;
}

int
record_encode_plan(const struct plan_rec *p, unsigned char *buf, size_t cap)
{
	struct wr w;

	begin(&w, buf, cap, REC_PLAN);
	put_str(&w, p->name, ID_MAX);
	put_u32(&w, p->rate.count);
	put_u32(&w, p->rate.window_s);
	put_u64(&w, p->quota.count);
	put_u8(&w, (uint8_t)p->quota.period);
	put_u32(&w, p->max_keys);
	put_u32(&w, p->overage_pct);
	put_i64(&w, p->created_at);
	put_i64(&w, p->updated_at);
	put_rules(&w, p->rules, p->nrules);
	return finish(&w);
}

int
record_decode_plan(const unsigned char *buf, size_t len, struct plan_rec *p)
{
	struct rd r;
	uint8_t period;

	if (open_rd(&r, buf, len, REC_PLAN) != 0)
		return -1;
	p->name = get_str(&r, ID_MAX);
	p->rate.count = get_u32(&r);
	p->rate.window_s = get_u32(&r);
	p->quota.count = get_u64(&r);
	period = get_u8(&r);
	p->quota.period = (enum quota_period)period;
	p->max_keys = get_u32(&r);
	p->overage_pct = get_u32(&r);
	p->created_at = get_i64(&r);
	p->updated_at = get_i64(&r);
	get_rules(&r, p->rules, &p->nrules);
	if (close_rd(&r) != 0 || period > QUOTA_CREDITS || !rate_valid(&p->rate) ||
	    p->quota.count > QUOTA_COUNT_MAX || p->overage_pct > 1000)
		return -1;
	return 0;
}

int
record_id_valid(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++) {
		char c = s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
		if (n >= ID_MAX)
			return 0;
	}
	return n > 0;
}

int
record_text_valid(const char *s)
{
	size_t n;

	if (s == NULL)
		return 1;
	for (n = 0; s[n] != '\0'; n++) {
		unsigned char c = (unsigned char)s[n];
		if (c < 0x20 || c == 0x7f || n >= TEXT_MAX)
			return 0;
	}
	return 1;
}

int
record_header_safe(const char *s)
{
	size_t n;

	if (s == NULL)
		return 1;
	for (n = 0; s[n] != '\0'; n++) {
		unsigned char c = (unsigned char)s[n];
		if (c < 0x20 || c > 0x7e || n >= TEXT_MAX)
			return 0;
	}
	return 1;
}

int64_t
record_expiry(int64_t when)
{
	return when < RECORD_EXPIRED_AT ? RECORD_EXPIRED_AT : when;
}

int
record_expired(int64_t expires_at, int64_t now)
{
	return expires_at != 0 && now >= expires_at;
}

void
record_rule_view(const struct rule *r, struct rule_view *v)
{
	v->action = r->action;
	v->methods = r->methods;
	v->host = r->host;
	v->path = r->path;
}

/*
 * Ledger and history records exist only in version 2: open_rd also takes
 * version 1 (for the record types that had one), so these refuse it.
 */
int
record_encode_ledger(const struct ledger_rec *l, unsigned char *buf, size_t cap)
{
	struct wr w;
	size_t i;

	begin(&w, buf, cap, REC_LEDGER);
	for (i = 0; i < LEDGER_WORDS; i++)
		put_u64(&w, l->word[i]);
	put_i64(&w, l->updated_at);
	return finish(&w);
}

int
record_decode_ledger(const unsigned char *buf, size_t len, struct ledger_rec *l)
{
	struct rd r;
	size_t i;

	memset(l, 0, sizeof *l);
	if (open_rd(&r, buf, len, REC_LEDGER) != 0 || r.version != RECORD_VERSION)
		return -1;
	for (i = 0; i < LEDGER_WORDS; i++)
		l->word[i] = get_u64(&r);
	l->updated_at = get_i64(&r);
	return close_rd(&r);
}

int
record_encode_ledger_seq(const struct ledger_seq_rec *l, unsigned char *buf, size_t cap)
{
	struct wr w;

	begin(&w, buf, cap, REC_LEDGER_SEQ);
	put_u64(&w, l->seq);
	put_i64(&w, l->at);
	return finish(&w);
}

int
record_decode_ledger_seq(const unsigned char *buf, size_t len, struct ledger_seq_rec *l)
{
	struct rd r;

	memset(l, 0, sizeof *l);
	if (open_rd(&r, buf, len, REC_LEDGER_SEQ) != 0 || r.version != RECORD_VERSION)
		return -1;
	l->seq = get_u64(&r);
	l->at = get_i64(&r);
	return close_rd(&r);
}

int
record_encode_history(const struct history_rec *h, unsigned char *buf, size_t cap)
{
	struct wr w;
	size_t i;

	begin(&w, buf, cap, REC_HISTORY);
	put_u8(&w, H_COUNT);
	for (i = 0; i < H_COUNT; i++)
		put_u64(&w, h->n[i]);
	put_i64(&w, h->last_used);
	return finish(&w);
}

int
record_decode_history(const unsigned char *buf, size_t len, struct history_rec *h)
{
	struct rd r;
	size_t i;

	memset(h, 0, sizeof *h);
	if (open_rd(&r, buf, len, REC_HISTORY) != 0 || r.version != RECORD_VERSION)
		return -1;
	/* a later build may count more codes; this one knows H_COUNT of them */
	if (get_u8(&r) != H_COUNT)
		return -1;
	for (i = 0; i < H_COUNT; i++)
		h->n[i] = get_u64(&r);
	h->last_used = get_i64(&r);
	return close_rd(&r);
}

/* ---- audit ---- */

static int
audit_name_valid(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++)
		if (n >= AUDIT_NAME_MAX || !((s[n] >= 'a' && s[n] <= 'z') || s[n] == '_' ||
		    (n > 0 && s[n] >= '0' && s[n] <= '9')))
			return 0;
	return n > 0;
}

/*
 * The rules of struct audit_rec's fields, for the encoder and the decoder
 * alike: known types, a boolean 0 or 1, a list followed by as many items
 * (strings without a name), every other field named, each name once.
 */
static int
audit_fields_valid(const struct audit_rec *a)
{
	size_t i, j, items = 0;

	if (a->nfields > AUDIT_FIELDS_MAX)
		return 0;
	for (i = 0; i < a->nfields; i++) {
		const struct audit_field *f = &a->f[i];

		if (items > 0) {
			if (f->type != AUDIT_STR || f->name == NULL || f->name[0] != '\0')
				return 0;
			items--;
			continue;
		}
		if (!audit_name_valid(f->name))
			return 0;
		for (j = 0; j < i; j++)
			if (a->f[j].name[0] != '\0' && strcmp(a->f[j].name, f->name) == 0)
				return 0;
		switch (f->type) {
		case AUDIT_STR:
		case AUDIT_INT:
		case AUDIT_NULL:
			break;
		case AUDIT_BOOL:
			if (f->num != 0 && f->num != 1)
				return 0;
			break;
		case AUDIT_LIST:
			if (f->num < 0 || (uint64_t)f->num > a->nfields - i - 1)
				return 0;
			items = (size_t)f->num;
			break;
		default:
			return 0;
		}
	}
	return items == 0;
}

int
record_encode_audit(const struct audit_rec *a, unsigned char *buf, size_t cap)
{
	struct wr w;
	size_t i;

	begin(&w, buf, cap, REC_AUDIT);
	if (!audit_fields_valid(a) || a->actor == NULL || a->actor[0] == '\0' ||
	    a->action == NULL || a->action[0] == '\0')
		return -1;
	put_str(&w, a->actor, AUDIT_ACTOR_MAX);
	put_str(&w, a->remote, AUDIT_REMOTE_MAX);
	put_str(&w, a->action, AUDIT_ACTION_MAX);
	put_str(&w, a->org, ID_MAX);
	put_str(&w, a->target, ID_MAX);
	put_u8(&w, (uint8_t)a->nfields);
	for (i = 0; i < a->nfields; i++) {
		const struct audit_field *f = &a->f[i];

		put_u8(&w, (uint8_t)f->type);
		put_str(&w, f->name, AUDIT_NAME_MAX);
		if (f->type == AUDIT_STR)
			put_str(&w, f->str, AUDIT_VALUE_MAX);
		else if (f->type == AUDIT_INT)
			put_i64(&w, f->num);
		else if (f->type == AUDIT_BOOL)
			put_u8(&w, (uint8_t)f->num);
		else if (f->type == AUDIT_LIST)
			put_u64(&w, (uint64_t)f->num);
	}
	return finish(&w);
}

int
record_decode_audit(const unsigned char *buf, size_t len, struct audit_rec *a)
{
	struct rd r;
	size_t i;

	memset(a, 0, sizeof *a);
	if (open_rd(&r, buf, len, REC_AUDIT) != 0 || r.version != RECORD_VERSION)
		return -1;
	a->actor = get_str(&r, AUDIT_ACTOR_MAX);
	a->remote = get_str(&r, AUDIT_REMOTE_MAX);
	a->action = get_str(&r, AUDIT_ACTION_MAX);
	a->org = get_str(&r, ID_MAX);
	a->target = get_str(&r, ID_MAX);
	a->nfields = get_u8(&r);
	if (a->nfields > AUDIT_FIELDS_MAX)
		return -1;
	for (i = 0; i < a->nfields && !r.bad; i++) {
		struct audit_field *f = &a->f[i];

		f->type = (enum audit_type)get_u8(&r);
		f->name = get_str(&r, AUDIT_NAME_MAX);
		f->str = "";
		if (f->type == AUDIT_STR)
			f->str = get_str(&r, AUDIT_VALUE_MAX);
		else if (f->type == AUDIT_INT)
			f->num = get_i64(&r);
		else if (f->type == AUDIT_BOOL)
			f->num = get_u8(&r);
		else if (f->type == AUDIT_LIST)
			f->num = (int64_t)get_varint(&r, AUDIT_FIELDS_MAX);
	}
	if (close_rd(&r) != 0 || a->actor[0] == '\0' || a->action[0] == '\0' ||
	    !audit_fields_valid(a))
		return -1;
	return 0;
}

int
record_encode_vault_meta(const struct vault_meta_rec *v, unsigned char *buf, size_t cap)
{
	struct wr w;

	begin(&w, buf, cap, REC_VAULT);
	put_str(&w, v->path, PATHNAME_MAX);
	put_bytes(&w, v->check, VAULT_CHECK_BYTES);
	return finish(&w);
}

int
record_decode_vault_meta(const unsigned char *buf, size_t len, struct vault_meta_rec *v)
{
	const unsigned char *p;
	struct rd r;

	if (open_rd(&r, buf, len, REC_VAULT) != 0 || r.version != RECORD_VERSION)
		return -1;
	v->path = get_str(&r, PATHNAME_MAX);
	if ((p = get_bytes(&r, VAULT_CHECK_BYTES)) != NULL)
		memcpy(v->check, p, VAULT_CHECK_BYTES);
	if (close_rd(&r) != 0 || v->path[0] != '/')
		return -1;
	return 0;
}
