/*
 * policy.c - GCRA and quota arithmetic.
 */
#include "config.h"

#include "policy.h"

static uint32_t
ceil_seconds(uint64_t ns)
{
	uint64_t s = (ns + NS_PER_S - 1) / NS_PER_S;
	return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

uint64_t
policy_gcra(uint64_t tat, uint64_t now, const struct rate_spec *r, int consume,
    struct rate_result *res)
{
	uint64_t window = (uint64_t)r->window_s * NS_PER_S;
	uint64_t t = window / r->count; /* emission interval, >= 1 ns */
	/* the burst: exactly count requests from an idle start */
	uint64_t cap = t * r->count;
	uint64_t base, next;

	res->limit = r->count;
	/*
	 * A tat further ahead than a whole burst can only come from a clock
	 * that went backwards (or a damaged slot): count the limit as used
	 * up, which waits one window at most, rather than trusting it.
	 */
	if (tat > now + cap)
		tat = now + cap;
	base = tat > now ? tat : now;
	next = base + t;
	if (next - now > cap) {
		res->allowed = 0;
		res->remaining = 0;
		res->retry_after_s = ceil_seconds(next - now - cap);
		if (res->retry_after_s == 0)
			res->retry_after_s = 1;
		res->reset_s = ceil_seconds(base - now);
		return tat; /* possibly clamped: the caller stores it */
	}
	res->allowed = 1;
	res->retry_after_s = 0;
	res->remaining = (cap - (next - now)) / t;
	res->reset_s = ceil_seconds(next - now);
	return consume ? next : tat;
}

uint32_t
policy_period_id(enum quota_period kind, int64_t now)
{
	int64_t days = now >= 0 ? now / 86400 : 0, y;
	unsigned m, d;

	switch (kind) {
	case QUOTA_DAY:
		return (uint32_t)(1u << 22 | ((uint32_t)days & 0x3FFFFF));
	case QUOTA_MONTH:
		civil_from_days(days, &y, &m, &d);
		return (uint32_t)(2u << 22 | (uint32_t)(((y - 1970) * 12 + (m - 1)) & 0x3FFFFF));
	case QUOTA_CREDITS:
		return 3u << 22;
	default:
		return 0;
	}
}

int64_t
policy_period_start(uint32_t id)
{
	uint32_t n = id & 0x3FFFFF;

	switch (id >> 22) {
	case 1:
		return (int64_t)n * 86400;
	case 2:
		return days_from_civil(1970 + n / 12, n % 12 + 1, 1) * 86400;
	default:
		return 0;
	}
}

int64_t
policy_period_next(enum quota_period kind, int64_t now)
{
	uint32_t id = policy_period_id(kind, now);

	switch (kind) {
	case QUOTA_DAY:
	case QUOTA_MONTH:
		return policy_period_start(id + 1);
	default:
		return 0;
	}
}

uint64_t
policy_quota_used(uint64_t word, uint32_t period_id)
{
	return (uint32_t)(word >> QUOTA_USED_BITS) == period_id
	    ? word & QUOTA_USED_MAX : 0;
}

uint64_t
policy_gcra_refund(uint64_t tat, uint64_t now_ns, const struct rate_spec *r)
{
	uint64_t t = (uint64_t)r->window_s * NS_PER_S / r->count;

	/* a tat at or behind now is an idle limit: nothing left to give back */
	if (tat <= now_ns)
		return tat;
	return tat - t > now_ns ? tat - t : now_ns;
}

uint64_t
policy_quota(uint64_t word, uint32_t period_id, uint64_t quota,
    uint32_t overage_pct, int consume, struct quota_result *res)
{
	return policy_quota_based(word, period_id, 0, quota, overage_pct, consume, res);
}

uint64_t
policy_quota_based(uint64_t word, uint32_t period_id, uint64_t base,
    uint64_t quota, uint32_t overage_pct, int consume, struct quota_result *res)
{
	uint64_t mine = policy_quota_used(word, period_id);
	uint64_t used = mine + base;
	/* never past the 40 bits of the counter, or it would carry into the period */
	uint64_t hard = quota < QUOTA_USED_MAX ? quota : QUOTA_USED_MAX;

	if (overage_pct > 0) {
		uint64_t extra = hard / 100 * overage_pct + hard % 100 * overage_pct / 100;
		hard = extra > QUOTA_USED_MAX - hard ? QUOTA_USED_MAX : hard + extra;
	}
	res->limit = quota;
	res->reset_at = policy_period_start(period_id + 1);
	if ((period_id >> 22) == 3)
		res->reset_at = 0;
	if (used >= hard) {
		res->allowed = 0;
		res->over = 0;
		res->used = used;
		res->remaining = 0;
		return word;
	}
	res->allowed = 1;
	res->used = used + 1;
	res->over = res->used > quota;
	res->remaining = quota > res->used ? quota - res->used : 0;
	if (!consume)
		return word;
	/* used < hard <= QUOTA_USED_MAX, so mine + 1 fits its 40 bits */
	return (uint64_t)period_id << QUOTA_USED_BITS | (mine + 1);
}
