/*
 * fuzz_parse.c - the strict parsers of parse.h on arbitrary strings.
 *
 * Input: the string (NUL-terminated copy; an embedded NUL ends it).
 *
 * Invariants: results stay in their documented ranges; what the format_*
 * functions print parses back to the same value (this is how `plan show`
 * output is fed back to `plan set`); parse_u64 agrees with strtoull on
 * plain digit strings; a YYYY-MM-DD date agrees with timegm(3); the
 * policy arithmetic accepts whatever the rate and quota parsers accept.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz.h"
#include "parse.h"
#include "policy.h"

#define NOW ((int64_t)1795000000) /* a Wednesday in 2026 */

static void
check_u64(const char *s)
{
	uint64_t v = 0, v2;
	const char *err = NULL;
	char buf[32];
	int rc = parse_u64(s, 0, UINT64_MAX, &v, &err);
	size_t n = strlen(s);

	if (rc != 0) {
		FUZZ_CHECK(err != NULL, "no reason");
		/* only digits and no overflow must parse */
		if (n > 0 && n < 20 && strspn(s, "0123456789") == n)
			FUZZ_CHECK(0, "refused \"%s\": %s", s, err);
		return;
	}
	FUZZ_CHECK(n > 0 && strspn(s, "0123456789") == n, "accepted \"%s\"", s);
	errno = 0;
	FUZZ_CHECK(strtoull(s, NULL, 10) == v && errno == 0, "\"%s\" -> %llu", s,
	    (unsigned long long)v);
	snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
	FUZZ_CHECK(parse_u64(buf, 0, UINT64_MAX, &v2, &err) == 0 && v2 == v, "round trip");
	/* bounds */
	rc = parse_u64(s, 1, 256, &v2, &err);
	FUZZ_CHECK((rc == 0) == (v >= 1 && v <= 256), "bounds 1-256 for %llu",
	    (unsigned long long)v);
}

static void
check_duration(const char *s)
{
	int64_t secs = -1, again = -1;
	const char *err = NULL;
	char buf[64];

	if (parse_duration(s, &secs, &err) != 0) {
		FUZZ_CHECK(err != NULL, "no reason");
		return;
	}
	FUZZ_CHECK(secs >= 0 && secs <= PARSE_MAX_SECONDS, "\"%s\" -> %lld", s,
	    (long long)secs);
	format_duration(secs, buf, sizeof buf);
	FUZZ_CHECK(parse_duration(buf, &again, &err) == 0 && again == secs,
	    "\"%s\" -> %lld -> \"%s\" -> %lld", s, (long long)secs, buf, (long long)again);
}

static void
check_datetime(const char *s)
{
	int64_t t = 0, again = 0;
	const char *err = NULL;
	char buf[64];

	if (parse_datetime(s, &t, &err) != 0) {
		FUZZ_CHECK(err != NULL, "no reason");
		return;
	}
	/* 1970-01-01 at the latest offset is the earliest */
	FUZZ_CHECK(t >= -24 * 3600, "\"%s\" -> %lld", s, (long long)t);
	FUZZ_CHECK(t <= (int64_t)253402300800LL + 24 * 3600, "\"%s\" -> %lld", s,
	    (long long)t);
	if (strlen(s) == 10) {
		struct tm tm;

		memset(&tm, 0, sizeof tm);
		tm.tm_year = atoi(s) - 1900;
		tm.tm_mon = atoi(s + 5) - 1;
		tm.tm_mday = atoi(s + 8);
		FUZZ_CHECK((int64_t)timegm(&tm) == t, "\"%s\" -> %lld, timegm says %lld", s,
		    (long long)t, (long long)timegm(&tm));
	}
	if (t > 0 && t < (int64_t)253402300800LL) { /* printable as YYYY */
		format_time(t, buf, sizeof buf);
		FUZZ_CHECK(parse_datetime(buf, &again, &err) == 0 && again == t,
		    "\"%s\" -> %lld -> \"%s\" -> %lld", s, (long long)t, buf, (long long)again);
	}
}

static void
check_when(const char *s)
{
	int64_t w = 0, d = 0;
	const char *err = NULL;

	if (parse_when(s, NOW, &w, &err) != 0)
		return;
	if (parse_datetime(s, &d, &err) == 0)
		FUZZ_CHECK(w == d, "parse_when and parse_datetime differ on \"%s\"", s);
	else
		FUZZ_CHECK(parse_duration(s, &d, &err) == 0 && w == NOW + d,
		    "parse_when \"%s\" is neither a date nor a duration", s);
}

static void
check_rate(const char *s)
{
	struct rate_spec r, again;
	struct rate_result res;
	const char *err = NULL;
	char buf[64];
	uint64_t tat;

	memset(&r, 0xa5, sizeof r);
	if (parse_rate(s, &r, &err) != 0) {
		FUZZ_CHECK(err != NULL, "no reason");
		return;
	}
	FUZZ_CHECK((r.count == 0 && r.window_s == 0) ||
	    (r.count >= 1 && r.count <= 1000000000 &&
	    (r.window_s == 1 || r.window_s == 60 || r.window_s == 3600)),
	    "\"%s\" -> %u/%u", s, r.count, r.window_s);
	format_rate(&r, buf, sizeof buf);
	FUZZ_CHECK(parse_rate(buf, &again, &err) == 0 && again.count == r.count &&
	    (r.count == 0 || again.window_s == r.window_s), "\"%s\" -> \"%s\"", s, buf);
	if (r.count == 0)
		return;
	/* the authorizer must be able to apply any rate the CLI accepts */
	tat = policy_gcra(0, (uint64_t)NOW * NS_PER_S, &r, 1, &res);
	FUZZ_CHECK(res.allowed && res.limit == r.count && res.remaining < r.count,
	    "first request under %s: allowed %d remaining %llu", buf, res.allowed,
	    (unsigned long long)res.remaining);
	policy_gcra(tat, (uint64_t)NOW * NS_PER_S, &r, 1, &res);
	FUZZ_CHECK(res.allowed == (r.count > 1), "second request under %s", buf);
	if (!res.allowed)
		FUZZ_CHECK(res.retry_after_s >= 1, "Retry-After 0 under %s", buf);
}

static void
check_quota(const char *s)
{
	struct quota_spec q, again;
	struct quota_result res;
	const char *err = NULL;
	char buf[64];
	uint32_t pid;
	uint64_t w;

	if (parse_quota(s, &q, &err) != 0) {
		FUZZ_CHECK(err != NULL, "no reason");
		return;
	}
	FUZZ_CHECK(q.period <= QUOTA_CREDITS && q.count <= QUOTA_USED_MAX,
	    "\"%s\" -> %llu per %d", s, (unsigned long long)q.count, q.period);
	format_quota(&q, buf, sizeof buf);
	FUZZ_CHECK(parse_quota(buf, &again, &err) == 0 && again.count == q.count &&
	    again.period == q.period, "\"%s\" -> \"%s\"", s, buf);
	if (q.period == QUOTA_NONE)
		return;
	pid = policy_period_id(q.period, NOW);
	w = policy_quota(0, pid, q.count, 0, 1, &res);
	FUZZ_CHECK(res.allowed == (q.count > 0), "first unit of %s: allowed %d", buf,
	    res.allowed);
	FUZZ_CHECK(policy_quota_used(w, pid) == (res.allowed ? 1u : 0u),
	    "one unit counted");
}

static void
check_percent(const char *s)
{
	uint32_t p = 12345;
	const char *err = NULL;

	if (parse_percent(s, &p, &err) == 0)
		FUZZ_CHECK(p <= 1000, "\"%s\" -> %u", s, p);
}

static void
check_period(const char *s)
{
	enum quota_period kind;
	int64_t start = -1;
	const char *err = NULL;
	int64_t y;
	unsigned m, d;

	if (parse_period(s, &kind, &start, &err) != 0)
		return;
	FUZZ_CHECK(kind == QUOTA_DAY || kind == QUOTA_MONTH, "kind %d", kind);
	FUZZ_CHECK(start >= 0 && start % 86400 == 0, "start %lld", (long long)start);
	civil_from_days(start / 86400, &y, &m, &d);
	FUZZ_CHECK(kind == QUOTA_DAY || d == 1, "a month that does not start on the 1st");
	/* the period id of its own start is the period `keygate usage` shows */
	FUZZ_CHECK(policy_period_start(policy_period_id(kind, start)) == start,
	    "period start %lld", (long long)start);
}

static void
check_civil(const uint8_t *data, size_t size)
{
	int64_t z = 0, y;
	unsigned m, d;
	size_t i;

	for (i = 0; i < size && i < 4; i++)
		z = z << 8 | data[i];
	z -= (int64_t)1 << 31; /* +-5.8 million years around 1970 */
	civil_from_days(z, &y, &m, &d);
	FUZZ_CHECK(m >= 1 && m <= 12 && d >= 1 && d <= 31, "%lld-%u-%u", (long long)y, m, d);
	FUZZ_CHECK(days_from_civil(y, m, d) == z, "civil round trip of day %lld",
	    (long long)z);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strdup(data, size);

	check_u64(s);
	check_duration(s);
	check_datetime(s);
	check_when(s);
	check_rate(s);
	check_quota(s);
	check_percent(s);
	check_period(s);
	check_civil(data, size);
	free(s);
	return 0;
}
