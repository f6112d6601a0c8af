/*
 * audit.c - audit keys, entries and their JSON form (see audit.h).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "parse.h"

/* Copies s into the arena: NULL when it does not fit (the entry overflows). */
static const char *
keep(struct audit_entry *e, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p;

	if (e->overflow || n > sizeof e->arena - e->used) {
		e->overflow = 1;
		return NULL;
	}
	p = e->arena + e->used;
	memcpy(p, s, n);
	e->used += n;
	return p;
}

static struct audit_field *
add(struct audit_entry *e, const char *name, enum audit_type type)
{
	struct audit_field *f;

	if (e->overflow || e->r.nfields == AUDIT_FIELDS_MAX) {
		e->overflow = 1;
		return NULL;
	}
	f = &e->r.f[e->r.nfields];
	memset(f, 0, sizeof *f);
	f->type = type;
	f->str = "";
	if ((f->name = keep(e, name)) == NULL)
		return NULL;
	e->r.nfields++;
	return f;
}

void
audit_begin(struct audit_entry *e, const char *action, const char *org,
    const char *target)
{
	memset(&e->r, 0, sizeof e->r);
	e->used = 0;
	e->items = 0;
	e->overflow = 0;
	e->r.action = keep(e, action);
	e->r.org = keep(e, org ? org : "");
	e->r.target = keep(e, target ? target : "");
}

void
audit_str(struct audit_entry *e, const char *name, const char *value)
{
	struct audit_field *f;

	if (value == NULL) {
		add(e, name, AUDIT_NULL);
		return;
	}
	if ((f = add(e, name, AUDIT_STR)) != NULL && (f->str = keep(e, value)) == NULL)
		f->str = "";
}

void
audit_int(struct audit_entry *e, const char *name, int64_t value)
{
	struct audit_field *f = add(e, name, AUDIT_INT);

	if (f != NULL)
		f->num = value;
}

void
audit_bool(struct audit_entry *e, const char *name, int value)
{
	struct audit_field *f = add(e, name, AUDIT_BOOL);

	if (f != NULL)
		f->num = value != 0;
}

void
audit_time(struct audit_entry *e, const char *name, int64_t t)
{
	char buf[32];

	audit_str(e, name, t ? format_time(t, buf, sizeof buf) : NULL);
}

void
audit_list(struct audit_entry *e, const char *name, size_t n)
{
	struct audit_field *f = add(e, name, AUDIT_LIST);

	if (f != NULL) {
		f->num = (int64_t)n;
		e->items = n;
	}
}

void
audit_item(struct audit_entry *e, const char *value)
{
	if (e->items == 0) {
		e->overflow = 1; /* an item with no list: a bug, never written */
		return;
	}
	e->items--;
	audit_str(e, "", value ? value : "");
}

void
audit_key(uint64_t at_ns, uint64_t seq, unsigned char key[AUDIT_KEY_LEN])
{
	int i;

	for (i = 0; i < 8; i++) {
		key[i] = (unsigned char)(at_ns >> (56 - 8 * i));
		key[8 + i] = (unsigned char)(seq >> (56 - 8 * i));
	}
}

int
audit_parse_key(const void *key, size_t len, uint64_t *at_ns, uint64_t *seq)
{
	const unsigned char *k = key;
	int i;

	if (len != AUDIT_KEY_LEN)
		return -1;
	*at_ns = *seq = 0;
	for (i = 0; i < 8; i++) {
		*at_ns = *at_ns << 8 | k[i];
		*seq = *seq << 8 | k[8 + i];
	}
	return 0;
}

void
audit_cursor(const unsigned char key[AUDIT_KEY_LEN], char out[AUDIT_CURSOR_LEN + 1])
{
	hex_encode(key, AUDIT_KEY_LEN, out);
	out[AUDIT_CURSOR_LEN] = '\0';
}

int
audit_cursor_parse(const char *cursor, unsigned char key[AUDIT_KEY_LEN])
{
	if (cursor == NULL || strlen(cursor) != AUDIT_CURSOR_LEN)
		return -1;
	return hex_decode(cursor, AUDIT_CURSOR_LEN, key, AUDIT_KEY_LEN) == 0 ? 0 : -1;
}

/*
 * Keys tried after the greatest before giving up: with that key locked
 * the first one is free, so failing means a damaged table, and a change
 * that cannot be audited is not made.
 */
#define AUDIT_SEQ_TRIES 64

int
audit_put(struct store *s, struct store_txn *txn, struct audit_entry *e,
    const char *actor, const char *remote, uint64_t at_ns)
{
	unsigned char key[AUDIT_KEY_LEN], last[AUDIT_KEY_LEN], buf[AUDIT_RECORD_MAX];
	uint64_t seq, first, last_at, last_seq;
	size_t llen = 0;
	int n, rc;

	if (e->overflow || e->items != 0)
		return ST_ERROR;
	e->r.actor = actor;
	e->r.remote = remote ? remote : "";
	if ((n = record_encode_audit(&e->r, buf, sizeof buf)) < 0) {
		e->overflow = 1; /* too large, or fields that break the record's rules */
		return ST_ERROR;
	}
	/*
	 * Keys grow with commit order: a record goes after the greatest key,
	 * read write-locked, so a writer appending meanwhile waits for this
	 * transaction.  A replica follows the trail by key (mirror.h) and must
	 * never find a record appear behind one it has read: not after a
	 * clock step back, nor after a master with a slower clock took over.
	 */
	first = 0;
	rc = store_last(s, txn, TBL_AUDIT, last, sizeof last, &llen, 1);
	if (rc == ST_OK && audit_parse_key(last, llen, &last_at, &last_seq) == 0 &&
	    at_ns <= last_at) {
		at_ns = last_at;
		first = last_seq + 1;
	} else if (rc != ST_OK && rc != ST_NOTFOUND) {
		return rc;
	}
	rc = ST_EXISTS;
	for (seq = first; seq < first + AUDIT_SEQ_TRIES && rc == ST_EXISTS; seq++) {
		audit_key(at_ns, seq, key);
		rc = store_put(s, txn, TBL_AUDIT, key, sizeof key, buf, (size_t)n, 1);
	}
	return rc == ST_EXISTS ? ST_ERROR : rc;
}

const char *
audit_format_at(uint64_t at_ns, char *buf, size_t n)
{
	char t[32];
	size_t len;

	format_time((int64_t)(at_ns / 1000000000u), t, sizeof t);
	len = strlen(t);
	if (len > 0 && t[len - 1] == 'Z')
		t[len - 1] = '\0';
	snprintf(buf, n, "%s.%06uZ", t, (unsigned)(at_ns % 1000000000u / 1000u));
	return buf;
}

/* One field (a list with its items): the index of the next field. */
static size_t
json_field(struct json *j, const struct audit_rec *r, size_t i)
{
	const struct audit_field *f = &r->f[i];
	size_t k;

	json_key(j, f->name);
	switch (f->type) {
	case AUDIT_STR:
		json_str(j, f->str);
		break;
	case AUDIT_INT:
		json_int(j, f->num);
		break;
	case AUDIT_BOOL:
		json_bool(j, (int)f->num);
		break;
	case AUDIT_LIST:
		json_arr_begin(j);
		for (k = 0; k < (size_t)f->num && i + 1 + k < r->nfields; k++)
			json_str(j, r->f[i + 1 + k].str);
		json_arr_end(j);
		return i + 1 + k;
	default:
		json_null(j);
		break;
	}
	return i + 1;
}

void
audit_json(struct json *j, uint64_t at_ns, const struct audit_rec *r)
{
	char at[AUDIT_AT_MAX];
	size_t i;

	json_obj_begin(j);
	json_kv_str(j, "at", audit_format_at(at_ns, at, sizeof at), 0);
	json_kv_str(j, "actor", r->actor, 0);
	json_kv_str(j, "remote", r->remote, 1);
	json_kv_str(j, "action", r->action, 0);
	json_kv_str(j, "org", r->org, 1);
	json_kv_str(j, "target", r->target, 1);
	json_key(j, "changes");
	json_obj_begin(j);
	for (i = 0; i < r->nfields;)
		i = json_field(j, r, i);
	json_obj_end(j);
	json_obj_end(j);
}
