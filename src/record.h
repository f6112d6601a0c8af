/*
 * record.h - versioned binary encoding of the store's records: meta, keys,
 * key ids, organisations, plans, usage.  No I/O.  Decoders never allocate:
 * strings and rules point into the caller's buffer, which must outlive the
 * decoded struct.  Every decoder rejects anything malformed (it reads bytes
 * that came from disk).
 */
#ifndef KEYGATE_RECORD_H
#define KEYGATE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "apikey.h"
#include "parse.h"
#include "pathname.h"
#include "rules.h"

#define RECORD_VERSION 2   /* written; version 1 (fixed-width integers) is still read */
#define RECORD_VERSION_SCOPES 3 /* a key record with scopes (record.c) */
#define RECORD_VERSION_REPLACES 4 /* a key record that replaced another (record.c) */
#define STORE_FORMAT   1   /* meta.format: bumped on incompatible layout changes */
#define RECORD_MAX     8192

#define ID_MAX        64   /* org ids and plan names: [A-Za-z0-9._-] */
#define TEXT_MAX      128  /* names, user ids */

/* key flags */
#define KEYF_TEST     0x01
#define KEYF_REVOKED  0x02
#define KEYF_PLAIN    0x04 /* plain SHA-256 digest in a peppered store (--sha256 import) */
#define KEYF_IMPORTED 0x08

/*
 * Key scopes (what a key may do with keygate-api): a bit each.  Stored in
 * the key record; names and the rules of granting are catalog.h's.
 */
#define SCOPE_KEYS_READ   0x01
#define SCOPE_KEYS_WRITE  0x02
#define SCOPE_KEYS_REVEAL 0x04
#define SCOPE_VERIFY      0x08
#define SCOPE_ADMIN       0x10
#define SCOPES_ALL        0x1f

/* org flags */
#define ORGF_SUSPENDED 0x01

/* meta flags */
#define METAF_PEPPER  0x01
#define METAF_ORGKEYS 0x02 /* orgkeys.db lists every key (stores before it: built once) */

struct meta_rec {
	uint32_t format;
	uint32_t flags;
	const char *prefix;
	const char *pepper_path;
	unsigned char pepper_check[DIGEST_LEN];
	int64_t created_at;
	uint64_t plain_digests; /* --sha256 imports in a peppered store */
	uint64_t generation;    /* bumped by every org or plan change */
};

struct key_rec {
	uint32_t flags;
	const char *id;
	const char *org;
	const char *name;
	const char *user;
	const char *display;
	const char *successor; /* rotation: the key that replaced this one */
	const char *replaces;  /* rotation: the key this one replaced ("" none) */
	int64_t created_at;
	int64_t expires_at; /* 0 = never; any other value only from record_expiry() */
	int64_t revoked_at; /* informative: KEYF_REVOKED says whether the key is */
	int64_t last_used_at; /* as of the last write; the live value is in counters */
	struct rate_spec rate; /* count 0: the plan's */
	size_t nrules;
	struct rule_view rules[RULES_MAX];
	uint32_t scopes;       /* SCOPE_*: none for keys made before scopes */
};

struct org_rec {
	uint32_t flags;
	const char *name;
	const char *plan;
	int64_t created_at;
	uint64_t credits;  /* prepaid units granted in total */
	uint32_t nkeys;    /* keys not revoked, for the plan's max-keys */
};

struct plan_rec {
	const char *name;
	struct rate_spec rate;
	struct quota_spec quota;
	uint32_t max_keys;    /* 0 = unlimited */
	uint32_t overage_pct; /* soft overage beyond the quota, percent */
	int64_t created_at;
	int64_t updated_at;
	size_t nrules;
	struct rule_view rules[RULES_MAX];
};

struct keyid_rec {
	unsigned char digest[DIGEST_LEN];
};

/*
 * The ledger (ledger.h): what one counter file counted for one
 * organization, as the quota words of counters.h (day, month, credits),
 * and the ledger's flush sequence (global, and per counter file).
 */
#define LEDGER_WORDS 3
struct ledger_rec {
	uint64_t word[LEDGER_WORDS];
	int64_t updated_at;
};

struct ledger_seq_rec {
	uint64_t seq;
	int64_t at;
};

/* Usage history (tally.h): one UTC day of one organization or key. */
enum hist_counter {
	H_ALLOWED,     /* 200s */
	H_QUOTA,       /* of those, units that counted against the quota */
	H_INVALID,     /* 401 invalid_api_key for a known key: revoked */
	H_EXPIRED,     /* 401 expired_api_key */
	H_OVER_QUOTA,  /* 402 quota_exceeded */
	H_FORBIDDEN,   /* 403 forbidden */
	H_RATE,        /* 429 rate_limited */
	H_INTERNAL,    /* 500 internal_error */
	H_UNAVAILABLE, /* 503 unavailable */
	H_COUNT
};

struct history_rec {
	uint64_t n[H_COUNT];
	int64_t last_used; /* latest allowed request that day, 0: none */
};

/*
 * An audit record (audit.h): who changed what.  Its time and sequence
 * are its key.  What changed is a list of named fields (never a secret),
 * each a string, an integer, a boolean, null, or a list: a field of type
 * AUDIT_LIST with num = n is followed by its n items, strings without a
 * name.  Names are 1-AUDIT_NAME_MAX of a-z, 0-9 (not first) and _, each
 * once.
 */
#define AUDIT_ACTOR_MAX  96   /* "cli:" + a user name, "key:" + a key id */
#define AUDIT_REMOTE_MAX 64   /* an IPv6 address with a zone and a port */
#define AUDIT_ACTION_MAX 32   /* "plan.delete" */
#define AUDIT_NAME_MAX   32
#define AUDIT_VALUE_MAX  1024 /* the longest rule text is about 830 bytes */
#define AUDIT_FIELDS_MAX 64   /* list items included: 32 rules and a few fields */
/*
 * A plan's or key's rules are at most what fits their RECORD_MAX record,
 * and their text as long: room for that and every other field.
 */
#define AUDIT_RECORD_MAX 16384

enum audit_type {
	AUDIT_STR = 's',
	AUDIT_INT = 'i',
	AUDIT_BOOL = 'b',  /* num 0 or 1 */
	AUDIT_NULL = 'z',
	AUDIT_LIST = 'l'   /* num: the items that follow */
};

struct audit_field {
	enum audit_type type;
	const char *name;  /* "" for a list item */
	const char *str;   /* AUDIT_STR */
	int64_t num;       /* AUDIT_INT, AUDIT_BOOL, AUDIT_LIST */
};

struct audit_rec {
	const char *actor;
	const char *remote; /* "" for the CLI */
	const char *action;
	const char *org;    /* "" when no organization is concerned */
	const char *target;
	size_t nfields;
	struct audit_field f[AUDIT_FIELDS_MAX];
};

/*
 * A store with a vault (keygate init --vault-file): the vault file's path
 * and its check value, in TBL_META under "vault" (vault.h).
 */
#define VAULT_CHECK_BYTES 32
struct vault_meta_rec {
	const char *path;
	unsigned char check[VAULT_CHECK_BYTES];
};

/* Encoders return the length written, or -1 if it would exceed cap. */
int record_encode_meta(const struct meta_rec *m, unsigned char *buf, size_t cap);
int record_encode_key(const struct key_rec *k, unsigned char *buf, size_t cap);
int record_encode_org(const struct org_rec *o, unsigned char *buf, size_t cap);
int record_encode_plan(const struct plan_rec *p, unsigned char *buf, size_t cap);
int record_encode_keyid(const struct keyid_rec *k, unsigned char *buf, size_t cap);
int record_encode_ledger(const struct ledger_rec *l, unsigned char *buf, size_t cap);
int record_encode_ledger_seq(const struct ledger_seq_rec *l, unsigned char *buf, size_t cap);
int record_encode_history(const struct history_rec *h, unsigned char *buf, size_t cap);
int record_encode_vault_meta(const struct vault_meta_rec *v, unsigned char *buf, size_t cap);
/* Also -1 for fields that break the rules above: nothing unreadable is written. */
int record_encode_audit(const struct audit_rec *a, unsigned char *buf, size_t cap);

/* Decoders return 0, or -1 for a malformed or foreign-version record. */
int record_decode_meta(const unsigned char *buf, size_t len, struct meta_rec *m);
int record_decode_key(const unsigned char *buf, size_t len, struct key_rec *k);
int record_decode_org(const unsigned char *buf, size_t len, struct org_rec *o);
int record_decode_plan(const unsigned char *buf, size_t len, struct plan_rec *p);
int record_decode_keyid(const unsigned char *buf, size_t len, struct keyid_rec *k);
int record_decode_ledger(const unsigned char *buf, size_t len, struct ledger_rec *l);
int record_decode_ledger_seq(const unsigned char *buf, size_t len, struct ledger_seq_rec *l);
int record_decode_history(const unsigned char *buf, size_t len, struct history_rec *h);
int record_decode_vault_meta(const unsigned char *buf, size_t len, struct vault_meta_rec *v);
int record_decode_audit(const unsigned char *buf, size_t len, struct audit_rec *a);

/* Identifier rules shared by the CLI and the decoders. */
int record_id_valid(const char *s);      /* org ids, plan names */
int record_text_valid(const char *s);    /* names: printable, no controls */
int record_header_safe(const char *s);   /* values sent as headers: 0x20-0x7e */

/*
 * Expiry.  expires_at 0 means "never", so an explicit expiry must never be
 * stored as 0: record_expiry() gives what a writer stores for an explicit
 * expiry at `when`: `when` itself, or for the epoch and anything before it
 * RECORD_EXPIRED_AT, an instant that is just as much in the past (a key
 * expiring at 1970-01-01 is already expired, never one that does not expire).
 * Records written before this rule may hold negative instants: they are
 * expired too.  record_expired() is the one test of a key's expiry.
 */
#define RECORD_EXPIRED_AT 1 /* 1970-01-01T00:00:01Z */
int64_t record_expiry(int64_t when);
int record_expired(int64_t expires_at, int64_t now);

/* Converts a parsed rule into a view pointing at it (for encoding). */
void record_rule_view(const struct rule *r, struct rule_view *v);

#endif
