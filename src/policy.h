/*
 * policy.h - the arithmetic of rate limits and quotas, as pure functions
 * of (state word, limit, now) -> (new state word, verdict).  counters.c
 * applies them to shared memory with compare-and-swap.
 *
 * Rate limits use GCRA (the generic cell rate algorithm): the whole state
 * of a limit is one 64-bit "theoretical arrival time", so an update is a
 * single CAS that no crash can leave half done, and the limit is exact:
 * N requests at once from any number of processes admit exactly N.
 *
 * Quotas are one 64-bit word: the period (24 bits: 2 bits of kind, 22 of
 * day or month number) and the units used in it (40 bits).  A new period
 * starts from zero in the same CAS that counts its first unit.
 */
#ifndef KEYGATE_POLICY_H
#define KEYGATE_POLICY_H

#include <stdint.h>

#include "parse.h"

#define NS_PER_S 1000000000ull
#define QUOTA_USED_BITS 40
#define QUOTA_USED_MAX ((UINT64_C(1) << QUOTA_USED_BITS) - 1)

struct rate_result {
	int allowed;
	uint32_t limit;
	uint64_t remaining;
	uint32_t reset_s;       /* seconds until the limit is whole again */
	uint32_t retry_after_s; /* when denied: >= 1 */
};

struct quota_result {
	int allowed;
	int over;        /* allowed only by the soft overage */
	uint64_t limit;  /* the quota (without overage) */
	uint64_t used;   /* after this request */
	uint64_t remaining;
	int64_t reset_at; /* start of the next period, 0 for credits */
};

/*
 * One GCRA step.  tat and now in ns since the epoch.  Returns the new tat
 * to store (equal to tat when nothing is to be written).
 */
uint64_t policy_gcra(uint64_t tat, uint64_t now_ns, const struct rate_spec *r,
    int consume, struct rate_result *res);

/* The 24-bit period id of now for a quota kind. */
uint32_t policy_period_id(enum quota_period kind, int64_t now_s);
/* Start of the period after the one holding now (0 for credits). */
int64_t policy_period_next(enum quota_period kind, int64_t now_s);
/* Start of the period with this id (for `keygate usage`). */
int64_t policy_period_start(uint32_t id);

/*
 * One quota step.  quota: units per period (or credits in total);
 * overage_pct: soft overage.  Returns the new word to store.
 */
uint64_t policy_quota(uint64_t word, uint32_t period_id, uint64_t quota,
    uint32_t overage_pct, int consume, struct quota_result *res);
/*
 * The same, when units counted elsewhere (base: flushed by other counter
 * files of the organization, see ledger.h) use up part of the quota:
 * only word is ever written, the verdict is on base + word.
 */
uint64_t policy_quota_based(uint64_t word, uint32_t period_id, uint64_t base,
    uint64_t quota, uint32_t overage_pct, int consume, struct quota_result *res);
/*
 * Gives back a token that policy_gcra() took (a later check refused the
 * request): GCRA's state is a sum of emission intervals, so taking one
 * interval off is exact whatever other processes did meanwhile.
 */
uint64_t policy_gcra_refund(uint64_t tat, uint64_t now_ns, const struct rate_spec *r);
/* Units used in period_id according to word (0 if word is another period). */
uint64_t policy_quota_used(uint64_t word, uint32_t period_id);

#endif
