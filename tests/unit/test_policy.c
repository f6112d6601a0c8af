/*
 * test_policy.c - GCRA rate limits and quota arithmetic, as pure
 * functions of (state, limit, now).
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "policy.h"
#include "tap.h"

/* 2026-11-25T00:00:00Z, in ns: a realistic clock */
#define T0_S  INT64_C(1795564800)
#define T0    ((uint64_t)T0_S * NS_PER_S)
#define HOUR  (3600 * NS_PER_S)

static uint32_t
ceil_s(uint64_t ns)
{
	return (uint32_t)((ns + NS_PER_S - 1) / NS_PER_S);
}

/*
 * From idle, a burst at one instant: returns how many were admitted
 * (stops at the first denial or at max), and checks remaining counts
 * down by one per admission.
 */
static uint64_t
burst(uint64_t *tat, uint64_t now, const struct rate_spec *r, uint64_t max,
    int *bad_remaining)
{
	struct rate_result res;
	uint64_t n = 0;

	while (n < max) {
		memset(&res, 0xAA, sizeof res);
		*tat = policy_gcra(*tat, now, r, 1, &res);
		if (!res.allowed)
			break;
		n++;
		if (res.remaining != r->count - n || res.limit != r->count)
			(*bad_remaining)++;
	}
	return n;
}

static void
test_gcra_limits(void)
{
	static const uint32_t counts[] = {1, 2, 3, 7, 100, 1000, 31623, 1000000};
	static const uint32_t windows[] = {1, 60, 3600};
	size_t i, w;

	for (w = 0; w < sizeof windows / sizeof windows[0]; w++) {
		for (i = 0; i < sizeof counts / sizeof counts[0]; i++) {
			struct rate_spec r = {counts[i], windows[w]};
			struct rate_result res;
			uint64_t t = (uint64_t)windows[w] * NS_PER_S / counts[i];
			uint64_t tat = 0, before, n;
			int bad_rem = 0, ok_all = 1;

			n = burst(&tat, T0, &r, (uint64_t)counts[i] + 5, &bad_rem);
			ok_all &= n == counts[i];
			ok_all &= bad_rem == 0;
			/* the burst used the whole window */
			memset(&res, 0, sizeof res);
			before = tat;
			tat = policy_gcra(tat, T0, &r, 1, &res);
			ok_all &= !res.allowed && res.remaining == 0 && tat == before;
			ok_all &= res.retry_after_s >= 1;
			ok_all &= res.retry_after_s == (ceil_s(t) ? ceil_s(t) : 1);
			ok_all &= res.reset_s == windows[w];
			/* one ns short of an emission interval: still denied */
			tat = policy_gcra(tat, T0 + t - 1, &r, 1, &res);
			ok_all &= !res.allowed;
			/* exactly one emission interval later: exactly one more */
			tat = policy_gcra(tat, T0 + t, &r, 1, &res);
			ok_all &= res.allowed && res.remaining == 0;
			tat = policy_gcra(tat, T0 + t, &r, 1, &res);
			ok_all &= !res.allowed;
			/* a whole window later: a whole burst again, not more */
			n = burst(&tat, T0 + t + (uint64_t)windows[w] * NS_PER_S, &r,
			    (uint64_t)counts[i] + 5, &bad_rem);
			ok_all &= n == counts[i] && bad_rem == 0;
			if (!ok_all)
				diag("N=%u window=%u: admitted %llu, remaining errors %d, retry %u reset %u",
				    counts[i], windows[w], (unsigned long long)n, bad_rem,
				    res.retry_after_s, res.reset_s);
			ok(ok_all, "%u/%us: a burst admits exactly %u, remaining counts down, "
			    "one more after one emission interval", counts[i], windows[w], counts[i]);
		}
	}
}

static void
test_gcra_details(void)
{
	struct rate_spec r = {10, 60}; /* t = 6 s */
	struct rate_result res;
	uint64_t tat = 0, t2, before;
	int i, admitted, bad = 0;

	tat = policy_gcra(0, T0, &r, 1, &res);
	ok(res.allowed && res.remaining == 9 && res.limit == 10, "first of 10/min: 9 remaining");
	is_int(res.reset_s, 6, "reset after one request is one emission interval (6 s)");
	is_int(res.retry_after_s, 0, "no retry_after when allowed");
	is_u64(tat, T0 + 6 * NS_PER_S, "tat moves one interval ahead");

	/* consume = 0 never changes the state, in any state */
	before = tat;
	t2 = policy_gcra(tat, T0, &r, 0, &res);
	ok(t2 == before && res.allowed && res.remaining == 8, "peek in a partly used state");
	t2 = policy_gcra(0, T0, &r, 0, &res);
	ok(t2 == 0 && res.allowed && res.remaining == 9, "peek from idle");
	for (i = 0; i < 9; i++)
		tat = policy_gcra(tat, T0, &r, 1, &res);
	before = tat;
	t2 = policy_gcra(tat, T0, &r, 0, &res);
	ok(t2 == before && !res.allowed && res.retry_after_s == 6, "peek in the exhausted state");
	for (i = 0; i < 1000; i++) {
		t2 = policy_gcra(before, T0 + (uint64_t)i * NS_PER_S / 10, &r, 0, &res);
		if (t2 != before)
			bad++;
	}
	is_int(bad, 0, "1000 peeks over 100 s never change the state");

	/* a long idle time does not bank more than one burst */
	tat = T0 - 10 * HOUR;
	admitted = (int)burst(&tat, T0, &r, 100, &bad);
	is_int(admitted, 10, "after 10 idle hours, still exactly 10");

	/* the clock goes back 10 hours after a full burst */
	tat = 0;
	burst(&tat, T0, &r, 100, &bad);
	{
		uint64_t back = T0 - 10 * HOUR, n = 0;
		int k;

		tat = policy_gcra(tat, back, &r, 1, &res);
		ok(!res.allowed, "clock 10 h back: denied");
		ok(res.retry_after_s >= 1 && res.retry_after_s <= 60, "  retry_after within a window (%u)",
		    res.retry_after_s);
		ok(tat <= back + 60 * NS_PER_S, "  the stored tat is clamped to one window ahead");
		{
			uint64_t t3 = tat;
			n = burst(&t3, back + 60 * NS_PER_S, &r, 100, &bad);
			is_int(n, 10, "  a whole burst again one window after the step back");
			n = 0;
		}
		/* within the next window, never more than the limit */
		for (k = 0; k < 600; k++) {
			tat = policy_gcra(tat, back + (uint64_t)k * NS_PER_S / 10, &r, 1, &res);
			n += (uint64_t)res.allowed;
		}
		ok(n <= 10, "  at most the limit in the window after (%llu)", (unsigned long long)n);
		n = burst(&tat, back + 120 * NS_PER_S, &r, 100, &bad);
		is_int(n, 10, "  and a whole burst again within two windows");
	}

	/* a damaged slot */
	{
		uint64_t n;

		tat = policy_gcra(UINT64_MAX, T0, &r, 1, &res);
		ok(!res.allowed, "tat = UINT64_MAX: denied");
		ok(res.retry_after_s <= 60, "  retry_after at most a window (%u)", res.retry_after_s);
		ok(tat <= T0 + 60 * NS_PER_S, "  clamped to at most a window ahead");
		n = burst(&tat, T0 + 60 * NS_PER_S, &r, 100, &bad);
		is_int(n, 10, "  recovers a whole burst one window later");
		tat = policy_gcra(UINT64_MAX, T0, &r, 0, &res);
		ok(!res.allowed, "tat = UINT64_MAX, peek: denied");
	}
	is_int(bad, 0, "remaining was right all along");
}

static void
test_period_ids(void)
{
	int64_t t = T0_S + 12 * 3600; /* 2026-11-25T12:00:00Z, day 20782 */

	is_u64(policy_period_id(QUOTA_DAY, t), (1u << 22) | 20782, "day id of 2026-11-25");
	is_u64(policy_period_id(QUOTA_MONTH, t), (2u << 22) | 682, "month id of 2026-11");
	is_u64(policy_period_id(QUOTA_CREDITS, t), 3u << 22, "credits id");
	is_u64(policy_period_id(QUOTA_CREDITS, 0), 3u << 22, "credits id does not depend on time");
	is_u64(policy_period_id(QUOTA_NONE, t), 0, "no quota, id 0");
	is_u64(policy_period_id(QUOTA_DAY, 0), 1u << 22, "day id of the epoch");
	is_u64(policy_period_id(QUOTA_MONTH, 0), 2u << 22, "month id of the epoch");
	is_int(policy_period_start((1u << 22) | 20782), T0_S, "start of day 20782");
	is_int(policy_period_start((2u << 22) | 682), 1793491200, "start of 2026-11");
	is_int(policy_period_start(3u << 22), 0, "credits have no start");
	is_int(policy_period_next(QUOTA_CREDITS, t), 0, "credits have no next period");
	is_int(policy_period_next(QUOTA_DAY, t), T0_S + 86400, "next day");
	is_int(policy_period_next(QUOTA_MONTH, t), 1796083200, "next month is 2026-12-01");
	is_int(policy_period_next(QUOTA_DAY, T0_S - 1), T0_S, "the last second of a day");
	is_int(policy_period_next(QUOTA_DAY, T0_S), T0_S + 86400, "the first second of a day");
}

static int
leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static void
test_period_walk(void)
{
	static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int64_t y, day_start = 0;
	int m, d, bad_day = 0, bad_month = 0, bad_start = 0;

	/* every day and month boundary from 1970 to 2100 */
	for (y = 1970; y <= 2100; y++) {
		for (m = 0; m < 12; m++) {
			int64_t month_start = day_start;
			int len = dim[m] + (m == 1 && leap(y));
			int64_t month_end = month_start + (int64_t)len * 86400;
			uint32_t mid = policy_period_id(QUOTA_MONTH, month_start);

			if (policy_period_next(QUOTA_MONTH, month_start) != month_end ||
			    policy_period_next(QUOTA_MONTH, month_end - 1) != month_end ||
			    policy_period_id(QUOTA_MONTH, month_end - 1) != mid ||
			    policy_period_id(QUOTA_MONTH, month_end) != mid + 1)
				bad_month++;
			if (policy_period_start(mid) != month_start)
				bad_start++;
			for (d = 0; d < len; d++) {
				uint32_t did = policy_period_id(QUOTA_DAY, day_start);
				if (policy_period_next(QUOTA_DAY, day_start) != day_start + 86400 ||
				    policy_period_next(QUOTA_DAY, day_start + 86399) != day_start + 86400 ||
				    policy_period_id(QUOTA_DAY, day_start + 86399) != did ||
				    policy_period_id(QUOTA_DAY, day_start + 86400) != did + 1)
					bad_day++;
				if (policy_period_start(did) != day_start)
					bad_start++;
				day_start += 86400;
			}
		}
	}
	is_int(bad_day, 0, "every day boundary 1970-2100 (leap years included)");
	is_int(bad_month, 0, "every month boundary 1970-2100 (month ends, leap Februaries, year ends)");
	is_int(bad_start, 0, "period_start of every day and month id");
	/* spot checks */
	is_int(policy_period_next(QUOTA_MONTH, 1709251199), 1709251200, "2024-02-29T23:59:59 -> 2024-03-01");
	is_int(policy_period_next(QUOTA_DAY, 1709164800), 1709251200, "2024-02-29 -> 2024-03-01");
	is_int(policy_period_next(QUOTA_MONTH, 1798761599), 1798761600, "2026-12-31T23:59:59 -> 2027-01-01");
	is_int(policy_period_next(QUOTA_DAY, 1798761599), 1798761600, "last day of 2026 -> 2027-01-01");
}

static void
test_quota(void)
{
	static const uint64_t quotas[] = {1, 2, 5, 100, 1000};
	uint32_t day = policy_period_id(QUOTA_DAY, T0_S);
	struct quota_result res;
	uint64_t word, w2;
	size_t i;
	int bad;

	for (i = 0; i < sizeof quotas / sizeof quotas[0]; i++) {
		uint64_t n = 0, q = quotas[i];
		bad = 0;
		word = 0;
		for (;;) {
			memset(&res, 0xAA, sizeof res);
			w2 = policy_quota(word, day, q, 0, 1, &res);
			if (!res.allowed)
				break;
			n++;
			word = w2;
			if (res.used != n || res.remaining != q - n || res.over || res.limit != q ||
			    res.reset_at != T0_S + 86400)
				bad++;
			if (n > q + 10)
				break;
		}
		ok(n == q && bad == 0, "quota %llu admits exactly %llu, counting down",
		    (unsigned long long)q, (unsigned long long)q);
		ok(w2 == word && res.used == q && res.remaining == 0 && !res.over,
		    "  then denies without changing the word");
		is_u64(policy_quota_used(word, day), q, "  policy_quota_used reads %llu",
		    (unsigned long long)q);
	}

	/* overage */
	{
		uint64_t n = 0, over = 0;
		word = 0;
		for (;;) {
			w2 = policy_quota(word, day, 100, 20, 1, &res);
			if (!res.allowed)
				break;
			word = w2;
			n++;
			if (res.over)
				over++;
			if (n > 200)
				break;
		}
		is_int(n, 120, "100 with 20%% overage admits 120");
		is_int(over, 20, "  of which the last 20 are flagged over");
		ok(!res.allowed && !res.over && res.used == 120 && res.remaining == 0,
		    "  the 121st is a hard stop");
		w2 = policy_quota(word, day, 100, 20, 1, &res);
		ok(!res.allowed && w2 == word, "  and stays stopped");
	}
	{
		static const struct { uint64_t q; uint32_t pct; uint64_t hard; } ov[] = {
			{7, 50, 10}, {250, 10, 275}, {99, 1, 99}, {100, 1, 101}, {1, 1000, 11},
			{1000000, 1000, 11000000},
		};
		for (i = 0; i < sizeof ov / sizeof ov[0]; i++) {
			/* just below the hard limit: allowed; at it: denied */
			word = (uint64_t)day << QUOTA_USED_BITS | (ov[i].hard - 1);
			policy_quota(word, day, ov[i].q, ov[i].pct, 1, &res);
			w2 = res.allowed;
			word = (uint64_t)day << QUOTA_USED_BITS | ov[i].hard;
			policy_quota(word, day, ov[i].q, ov[i].pct, 1, &res);
			ok(w2 && !res.allowed, "%llu with %u%% overage stops at %llu",
			    (unsigned long long)ov[i].q, ov[i].pct, (unsigned long long)ov[i].hard);
		}
	}

	/* rollover: yesterday's usage does not count today */
	word = (uint64_t)(day - 1) << QUOTA_USED_BITS | 100;
	w2 = policy_quota(word, day, 100, 0, 1, &res);
	ok(res.allowed && res.used == 1 && res.remaining == 99, "a new day starts from zero");
	is_u64(w2, (uint64_t)day << QUOTA_USED_BITS | 1, "  in the same word update");
	is_u64(policy_quota_used(word, day), 0, "policy_quota_used of another period is 0");
	is_u64(policy_quota_used(word, day - 1), 100, "policy_quota_used of its own period");
	{
		uint32_t jan = policy_period_id(QUOTA_MONTH, 1798761600); /* 2027-01 */
		uint32_t dec = policy_period_id(QUOTA_MONTH, 1798761599);
		word = (uint64_t)dec << QUOTA_USED_BITS | 5000;
		w2 = policy_quota(word, jan, 5000, 0, 1, &res);
		ok(jan == dec + 1 && res.allowed && res.used == 1 && res.reset_at == 1801440000,
		    "a new year starts a new month from zero, resetting 2027-02-01");
	}

	/* consume = 0 never counts */
	word = (uint64_t)day << QUOTA_USED_BITS | 10;
	w2 = policy_quota(word, day, 100, 0, 0, &res);
	ok(w2 == word && res.allowed && res.used == 11 && res.remaining == 89,
	    "a peek reports the next unit without counting it");
	word = 0;
	w2 = policy_quota(word, day, 100, 0, 0, &res);
	ok(w2 == 0 && res.allowed, "a peek in a new period writes nothing");
	word = (uint64_t)day << QUOTA_USED_BITS | 100;
	w2 = policy_quota(word, day, 100, 0, 0, &res);
	ok(w2 == word && !res.allowed, "a peek when used up: denied");

	/* credits */
	{
		uint32_t cid = policy_period_id(QUOTA_CREDITS, T0_S);
		word = (uint64_t)cid << QUOTA_USED_BITS | 49;
		w2 = policy_quota(word, cid, 50, 0, 1, &res);
		ok(res.allowed && res.used == 50 && res.remaining == 0 && res.reset_at == 0,
		    "the last credit is spent, no reset time");
		w2 = policy_quota(w2, policy_period_id(QUOTA_CREDITS, T0_S + 400 * 86400), 50, 0, 1, &res);
		ok(!res.allowed, "credits do not come back a year later");
		w2 = policy_quota(0, cid, 0, 0, 1, &res);
		ok(!res.allowed && w2 == 0, "zero credits admit nothing");
	}

	/* saturation at 2^40 - 1 */
	word = (uint64_t)day << QUOTA_USED_BITS | (QUOTA_USED_MAX - 1);
	w2 = policy_quota(word, day, QUOTA_USED_MAX, 0, 1, &res);
	ok(res.allowed && w2 == ((uint64_t)day << QUOTA_USED_BITS | QUOTA_USED_MAX),
	    "the counter reaches 2^40-1");
	word = w2;
	w2 = policy_quota(word, day, QUOTA_USED_MAX, 0, 1, &res);
	ok(!res.allowed && w2 == word, "and stops there");
	w2 = policy_quota(word, day, QUOTA_USED_MAX, 1000, 1, &res);
	ok(!res.allowed && w2 == word, "overage cannot push it past 2^40-1");
	w2 = policy_quota(word, day, UINT64_MAX, 0, 1, &res);
	ok((w2 >> QUOTA_USED_BITS) == day && (w2 & QUOTA_USED_MAX) == QUOTA_USED_MAX,
	    "a quota above 2^40-1 saturates the counter instead of carrying into the period "
	    "(word 0x%016llx)", (unsigned long long)w2);
	w2 = policy_quota(word, day, UINT64_C(1) << 41, 0, 1, &res);
	is_u64(policy_quota_used(w2, day), QUOTA_USED_MAX, "  (quota 2^41: used stays 2^40-1)");
}

int
main(void)
{
	test_gcra_limits();
	test_gcra_details();
	test_period_ids();
	test_period_walk();
	test_quota();
	return done_testing();
}
