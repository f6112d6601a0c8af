/*
 * audit.h - the audit trail: one record per change to the store, written
 * in the change's own transaction by the catalog (catalog.h), its only
 * writer, and read newest first by both front-ends.
 *
 * Keys (TBL_AUDIT, sorted): the time in nanoseconds since the epoch, then
 * a sequence, 8 bytes big-endian each.  Listing by time is a range scan,
 * pruning a walk from the start, and a key names one record for ever, so
 * it is the cursor of a listing: records added while a client pages are
 * newer than every page it has not read yet, and never shift one.  Keys
 * grow with commit order: a record's time is at least the greatest key's
 * (a clock stepped back, a new master with a slower clock), its sequence
 * one more when the time is the same.
 *
 * Records (record.h, struct audit_rec): who (actor, remote address), what
 * (action, organization, target) and the fields that changed: never a
 * secret, never a digest.
 */
#ifndef KEYGATE_AUDIT_H
#define KEYGATE_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "record.h"
#include "store.h"

#define AUDIT_KEY_LEN    16
#define AUDIT_CURSOR_LEN (2 * AUDIT_KEY_LEN) /* the key in hex */
/* "2026-12-01T10:00:00.123456Z" and its NUL */
#define AUDIT_AT_MAX     28

/*
 * A record being built: its fields point into the entry's own arena, so
 * the values given need not outlive the calls.  Whatever does not fit
 * marks the entry overflowed: audit_put then refuses it (nothing is
 * written cut short).
 */
struct audit_entry {
	struct audit_rec r;
	char arena[AUDIT_RECORD_MAX];
	size_t used;
	size_t items; /* list items still expected */
	int overflow;
};

/* Starts an entry; org and target may be NULL. */
void audit_begin(struct audit_entry *e, const char *action, const char *org,
    const char *target);
/* A string field; NULL makes it null. */
void audit_str(struct audit_entry *e, const char *name, const char *value);
void audit_int(struct audit_entry *e, const char *name, int64_t value);
void audit_bool(struct audit_entry *e, const char *name, int value);
/* A time as RFC 3339 UTC, null for 0 (never). */
void audit_time(struct audit_entry *e, const char *name, int64_t t);
/* A list of n strings: n calls of audit_item follow. */
void audit_list(struct audit_entry *e, const char *name, size_t n);
void audit_item(struct audit_entry *e, const char *value);

/*
 * Writes e, made by actor from remote (NULL: none), at at_ns, in txn:
 * ST_OK; ST_ERROR with e->overflow set for an entry that overflowed, was
 * left incomplete or breaks the record's rules; or the store's result
 * (ST_DEADLOCK: retry the transaction).
 */
int audit_put(struct store *s, struct store_txn *txn, struct audit_entry *e,
    const char *actor, const char *remote, uint64_t at_ns);

void audit_key(uint64_t at_ns, uint64_t seq, unsigned char key[AUDIT_KEY_LEN]);
/* 0, or -1 when key is not an audit key. */
int audit_parse_key(const void *key, size_t len, uint64_t *at_ns, uint64_t *seq);
/* The cursor (hex) of a key, and back: 0 or -1. */
void audit_cursor(const unsigned char key[AUDIT_KEY_LEN], char out[AUDIT_CURSOR_LEN + 1]);
int audit_cursor_parse(const char *cursor, unsigned char key[AUDIT_KEY_LEN]);

/* "2026-12-01T10:00:00.123456Z" (microseconds). */
const char *audit_format_at(uint64_t at_ns, char *buf, size_t n);
/*
 * The record as a JSON object: at, actor, remote, action, org, target
 * (absent values null) and changes, an object of the changed fields.
 */
void audit_json(struct json *j, uint64_t at_ns, const struct audit_rec *r);

#endif
