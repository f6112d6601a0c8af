/*
 * authz.h - the request path: FastCGI params in, a decision out.
 *
 *   credentials -> key format -> digest -> key record -> revoked/expired
 *   -> org (suspended) -> plan -> route rules -> quota peek -> rate limit
 *   -> quota -> last use
 *
 * Keys and their organizations come from the key index (keyindex.h) when
 * it can answer, else from the store.  Every error on the way is a deny:
 * a store that cannot be read is 503, a record that cannot be decoded is
 * 500.  Nothing here allocates.
 */
#ifndef KEYGATE_AUTHZ_H
#define KEYGATE_AUTHZ_H

#include <stddef.h>
#include <stdint.h>

#include "apikey.h"
#include "counters.h"
#include "creds.h"
#include "ctx.h"
#include "record.h"

enum verdict {
	V_ALLOW,
	V_CONFLICT,    /* 400 conflicting_api_keys */
	V_MISSING,     /* 401 missing_api_key */
	V_INVALID,     /* 401 invalid_api_key */
	V_EXPIRED,     /* 401 expired_api_key */
	V_QUOTA,       /* 402 quota_exceeded */
	V_FORBIDDEN,   /* 403 forbidden */
	V_RATE,        /* 429 rate_limited */
	V_INTERNAL,    /* 500 internal_error */
	V_UNAVAILABLE  /* 503 unavailable */
};

enum fcgi_role { ROLE_RESPONDER = 1, ROLE_AUTHORIZER = 2 };

struct authz_req {
	enum fcgi_role role;
	/* every HTTP_AUTHORIZATION and HTTP_X_API_KEY param (see creds.h) */
	const char *const *authorization;
	size_t nauthorization;     /* may exceed CREDS_COPIES_MAX: refused */
	const char *const *x_api_key;
	size_t nx_api_key;
	const char *method;
	/* REQUEST_URI, or SCRIPT_NAME + PATH_INFO; NULL: none, or too long to examine */
	const char *uri;
	const char *host;          /* the routed host (HTTP_HOST), with any :port */
	const char *remote;
	const char *query;
	int subrequest;            /* SERVER_PROTOCOL=INCLUDED: never counted */
	int replay;                /* KEYGATE_REPLAY=1: never 200, never counted */
	/*
	 * A call to keygate-api authenticated by this key: no route rules (the
	 * API is not the customer's), no quota, not in the usage history; the
	 * key's rate limits apply.
	 */
	int api;
};

struct authz_res {
	enum verdict verdict;
	const char *reason;        /* for the log: "revoked", "unknown key"... */
	char display[DISPLAY_MAX]; /* never the key: kg_live_AbCd… */
	const char *key_id;
	const char *org;
	const char *plan;
	const char *user;
	enum apikey_mode mode;
	int has_rate;
	struct rate_result rate;
	int has_quota;
	struct quota_result quota;
};

struct authz_opts {
	const char *query_param; /* NULL: keys in query strings are ignored */
	struct tally *tally;     /* usage history of counted requests, or NULL */
	/*
	 * Threads that decide at once over one store handle (the in-process
	 * modules, gate.h): each needs a digester of its own (one keeps one
	 * working state), and none may map the handle's key index again while
	 * the others read it.  With index_wanted set, a stale or missing
	 * index is asked for there (stored 1) and the request reads the
	 * store; the handle's owner maps it again with every thread out.
	 */
	struct digester *digester; /* NULL: the store handle's */
	int *index_wanted;         /* NULL: this thread maps the index again itself */
};

/*
 * Organizations and plans change rarely and are read on every request:
 * each worker keeps them, tagged with the host's generation (bumped by
 * the CLI after any change) and a local epoch (bumped after a reopen, or
 * when the store's own generation moved without the host's: a replica).
 * Keys are never cached here: a revocation must reach the next request
 * (the key index is shared and changes with the store).
 */
#define ORG_CACHE_SLOTS  1024 /* direct-mapped */
#define PLAN_CACHE_SLOTS 32
#define ORG_CACHE_BYTES  256  /* larger org records are read every time */

/* What makes a cached record current: its name, the host's generation
 * and the local epoch it was read under. */
struct cache_tag {
	uint64_t gen;
	uint32_t epoch;
	int valid;
	size_t len;
	char name[ID_MAX + 1];
};

struct org_entry {
	struct cache_tag tag;
	unsigned char raw[ORG_CACHE_BYTES];
};

struct plan_entry {
	struct cache_tag tag;
	unsigned char raw[RECORD_MAX];
};

struct tally;

struct authz {
	struct kg *kg;
	struct digester *digester;  /* opts.digester, else kg's */
	struct authz_opts opts;
	struct tally *tally;
	/* records are decoded in place: these outlive each decision */
	unsigned char keybuf[RECORD_MAX];
	unsigned char orgbuf[RECORD_MAX];
	unsigned char planbuf[RECORD_MAX];
	unsigned char metabuf[RECORD_MAX];
	struct key_rec key;
	struct org_rec org;
	struct plan_rec plan;
	struct request_target target;
	struct keyindex_hit hit;    /* the key and org found in the index */
	int org_from_index;         /* this decision's org record is hit.org_rec */
	uint64_t index_tried_ns;    /* kg_mono_ns() of the last attempt to (re)open the key index */
	uint32_t epoch;             /* atomic */
	int counters_suspect;       /* atomic: the counter file may have been replaced */
	uint64_t meta_gen_seen;     /* the store's generation at the last refresh */
	struct org_entry orgs[ORG_CACHE_SLOTS];
	struct plan_entry plans[PLAN_CACHE_SLOTS];
};

void authz_init(struct authz *az, struct kg *kg, const struct authz_opts *o);
/* Drops every cached org and plan (after the store was reopened). */
void authz_invalidate(struct authz *az);
/*
 * Reads the store's generation and drops the caches if it moved without
 * the host's generation (changes replicated from another host).  Safe to
 * call from another thread than the one deciding.
 */
void authz_refresh(struct authz *az);
/*
 * The counter file: a maintenance thread notices (a stat, every second)
 * that it was deleted or replaced; the request thread checks before each
 * request whether it must be mapped again (counters_usable: loads only,
 * one of them whether another process made a new file), and
 * swaps it (authz_counters_check) while nothing else uses the store
 * handle.
 */
void authz_counters_notice(struct authz *az);
int authz_counters_suspect(struct authz *az);
void authz_counters_check(struct authz *az);
void authz_decide(struct authz *az, const struct authz_req *req,
    uint64_t now_ns, struct authz_res *res);

/*
 * Whether a decision is an error (logged as a warning, whatever
 * log-denials says) rather than a denial: a 500, or a 503 that is no
 * replay's.  authz_log writes its one line, never the key (its display
 * prefix and id only), the URI's query values hidden (log.h).
 */
int authz_is_error(const struct authz_req *q, const struct authz_res *r);
void authz_log(const struct authz_req *q, const struct authz_res *r);

/* The verdict a history counter counts; -1 for H_QUOTA (a share of H_ALLOWED). */
int authz_history_verdict(enum hist_counter h, enum verdict *v);

/* Looks a presented key up: V_ALLOW (found, *rec filled) or a deny. */
enum verdict authz_find_key(struct authz *az, const char *key, size_t len,
    unsigned char digest[DIGEST_LEN], struct authz_res *res);

#endif
