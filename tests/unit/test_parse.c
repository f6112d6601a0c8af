/*
 * test_parse.c - strict parsers: numbers, durations, dates, rates, quotas,
 * percentages, periods, the civil calendar and time formatting.
 * Expected epoch values were computed with Python's datetime.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "parse.h"
#include "tap.h"

static void
test_u64(void)
{
	const char *err = NULL;
	uint64_t v = 0;

	is_int(parse_u64("42", 0, 100, &v, &err), 0, "u64 42");
	is_u64(v, 42, "u64 value 42");
	is_int(parse_u64("18446744073709551615", 0, UINT64_MAX, &v, &err), 0, "u64 max");
	is_u64(v, UINT64_MAX, "u64 max value");
	is_int(parse_u64("18446744073709551616", 0, UINT64_MAX, &v, &err), -1, "u64 max + 1");
	is_int(parse_u64("0", 1, 10, &v, &err), -1, "below min");
	is_int(parse_u64("11", 1, 10, &v, &err), -1, "above max");
	is_int(parse_u64("", 0, 10, &v, &err), -1, "empty");
	is_int(parse_u64(NULL, 0, 10, &v, &err), -1, "NULL");
	is_int(parse_u64("-1", 0, 10, &v, &err), -1, "negative");
	is_int(parse_u64("+1", 0, 10, &v, &err), -1, "plus sign");
	is_int(parse_u64(" 1", 0, 10, &v, &err), -1, "leading space");
	is_int(parse_u64("1 ", 0, 10, &v, &err), -1, "trailing space");
	is_int(parse_u64("0x10", 0, 100, &v, &err), -1, "hex");
	ok(err != NULL && *err != '\0', "errors carry a reason");
}

static void
test_duration(void)
{
	static const struct { const char *s; int64_t want; } good[] = {
		{"90d", 90 * 86400}, {"24h", 86400}, {"1h30m", 5400}, {"2w", 1209600},
		{"0s", 0}, {"45s", 45}, {"30m", 1800}, {"1w2d3h4m5s", 788645},
		{"007s", 7}, {"36600d", 3162240000LL}, {"3162240000s", 3162240000LL},
	};
	static const char *bad[] = {
		"", "d", "10", "10x", "-5d", "1.5h", "1h30", "h1", " 1d", "1d ",
		"1 d", "1D", "1H", "1y", "+1d", "36601d", "3162240001s", "5229w",
		"99999999999999999999d", "18446744073709551616s",
		"9223372036854775807s", "36600d1s", "1s36600d",
	};
	const char *err;
	int64_t v;
	size_t i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		v = -1;
		err = NULL;
		is_int(parse_duration(good[i].s, &v, &err), 0, "duration %s parses", good[i].s);
		is_int(v, good[i].want, "duration %s = %lld s", good[i].s, (long long)good[i].want);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err = NULL;
		is_int(parse_duration(bad[i], &v, &err), -1, "duration '%s' is refused", bad[i]);
		ok(err != NULL, "  with a reason (%s)", err ? err : "none");
	}
	is_int(parse_duration(NULL, &v, &err), -1, "NULL duration is refused");
}

static void
test_datetime(void)
{
	static const struct { const char *s; int64_t want; } good[] = {
		{"1970-01-01", 0},
		{"1970-01-01T00:00:00Z", 0},
		{"1970-01-01T01:00+01:00", 0},
		{"2026-11-25", 1795564800},
		{"2024-02-29", 1709164800},
		{"2000-02-29", 951782400},
		{"2026-11-25T00:42:06Z", 1795567326},
		{"2026-11-25t00:42:06z", 1795567326},
		{"2026-11-25 00:42:06", 1795567326},
		{"2026-11-25T00:42:06", 1795567326},
		{"2026-11-25T10:00+02:00", 1795593600},
		{"2026-11-25T10:00:00+02:00", 1795593600},
		{"2026-11-25T10:00:00+0200", 1795593600},
		{"2026-11-25T10:00:00+02", 1795593600},
		{"2026-11-25T10:00:30-0530", 1795620630},
		{"2026-11-25T10:00:30-05:30", 1795620630},
		{"2026-11-25T10:00:30.999+05", 1795582830},
		{"2026-11-25T10:00:30.1Z", 1795564800 + 10 * 3600 + 30},
		{"2026-11-25T10:00:30.123456789Z", 1795564800 + 10 * 3600 + 30},
		{"2038-01-19T03:14:08Z", 2147483648LL},
		{"9999-12-31", 253402214400LL},
	};
	static const char *bad[] = {
		"", "2026", "2026-11", "2026-02-30", "2026-02-29", "1900-02-29",
		"2026-13-01", "2026-00-10", "2026-11-00", "2026-11-31", "1969-12-31",
		"0000-01-01", "2026-1-01", "2026-01-1", "20261125", "2026/11/25",
		"2026-11-25x", "2026-11-25Z", "2026-11-25T", "2026-11-25T10",
		"2026-11-25T10:0", "2026-11-25T24:00", "2026-11-25T10:60",
		"2026-11-25T10:00:61", "2026-11-25T10:00:00.Z", "2026-11-25T10:00.5Z",
		"2026-11-25T10:00:00+24:00", "2026-11-25T10:00:00+02:60",
		"2026-11-25T10:00:00+2", "2026-11-25T10:00:00+023",
		"2026-11-25T10:00:00Zjunk", "2026-11-25T10:00:00 Z", "2026-11-25 ",
		" 2026-11-25", "2026-11-25T10:00:00+02:00x",
		/* instants before the epoch, by date or by offset */
		"1970-01-01T00:30+01:00", "1970-01-01T00:00:00+00:01", "1969-12-31T23:59:59Z",
		"1000-06-15",
	};
	const char *err;
	int64_t v;
	size_t i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		v = -1;
		is_int(parse_datetime(good[i].s, &v, &err), 0, "date %s parses", good[i].s);
		is_int(v, good[i].want, "date %s = %lld", good[i].s, (long long)good[i].want);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err = NULL;
		is_int(parse_datetime(bad[i], &v, &err), -1, "date '%s' is refused", bad[i]);
	}
	is_int(parse_datetime(NULL, &v, &err), -1, "NULL date is refused");
	err = NULL;
	parse_datetime("1970-01-01T00:30+01:00", &v, &err);
	ok(err != NULL && strstr(err, "before 1970") != NULL, "a pre-epoch instant says so (%s)", err ? err : "");
	/* a leap second is accepted and clamped into the same minute */
	is_int(parse_datetime("2016-12-31T23:59:60Z", &v, &err), 0, "leap second accepted");
	is_int(v, 1483228799, "leap second clamped to :59");
}

static void
test_when(void)
{
	const char *err;
	int64_t v;

	is_int(parse_when("90d", 1000, &v, &err), 0, "when 90d");
	is_int(v, 1000 + 90 * 86400, "when 90d = now + 90 days");
	is_int(parse_when("0s", 1000, &v, &err), 0, "when 0s");
	is_int(v, 1000, "when 0s = now");
	is_int(parse_when("2027-01-31", 1000, &v, &err), 0, "when 2027-01-31");
	is_int(v, 1801353600, "when 2027-01-31 is absolute");
	is_int(parse_when("2026-11-25T10:00:00+02:00", 5, &v, &err), 0, "when date-time");
	is_int(v, 1795593600, "when date-time is absolute");
	is_int(parse_when("2026-02-30", 1000, &v, &err), -1, "when bad date");
	is_int(parse_when("tomorrow", 1000, &v, &err), -1, "when garbage");
	is_int(parse_when("", 1000, &v, &err), -1, "when empty");
	is_int(parse_when(NULL, 1000, &v, &err), -1, "when NULL");
}

static void
test_rate(void)
{
	static const struct { const char *s; uint32_t count, window; } good[] = {
		{"100/s", 100, 1}, {"1000/min", 1000, 60}, {"10/h", 10, 3600},
		{"5/sec", 5, 1}, {"5/second", 5, 1}, {"5/m", 5, 60}, {"5/minute", 5, 60},
		{"5/hour", 5, 3600}, {"1/s", 1, 1}, {"1000000000/s", 1000000000, 1},
		{"none", 0, 0}, {"off", 0, 0},
	};
	static const char *bad[] = {
		"", "0/s", "100", "100/d", "100/day", "/s", "100/", "100/S", "100/Min",
		"100/s ", " 100/s", "+100/s", "-1/s", "1.5/s", "100 /s", "100/ s",
		"1000000001/s", "4294967296/s", "99999999999999999999999/s",
		"100/s/s", "none ", "NONE", "100/ms",
	};
	struct rate_spec r;
	const char *err;
	size_t i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		memset(&r, 0xff, sizeof r);
		is_int(parse_rate(good[i].s, &r, &err), 0, "rate %s parses", good[i].s);
		ok(r.count == good[i].count && r.window_s == good[i].window,
		    "rate %s = %u per %u s (got %u per %u)", good[i].s, good[i].count,
		    good[i].window, r.count, r.window_s);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		is_int(parse_rate(bad[i], &r, &err), -1, "rate '%s' is refused", bad[i]);
	is_int(parse_rate(NULL, &r, &err), -1, "rate NULL is refused");
}

static void
test_quota(void)
{
	static const struct { const char *s; uint64_t count; enum quota_period p; } good[] = {
		{"100000/month", 100000, QUOTA_MONTH}, {"5000/day", 5000, QUOTA_DAY},
		{"5000/d", 5000, QUOTA_DAY}, {"7/mo", 7, QUOTA_MONTH},
		{"1000", 1000, QUOTA_CREDITS}, {"0", 0, QUOTA_CREDITS},
		{"1099511627775", 1099511627775ULL, QUOTA_CREDITS},
		{"1099511627775/month", 1099511627775ULL, QUOTA_MONTH},
		{"none", 0, QUOTA_NONE}, {"off", 0, QUOTA_NONE},
	};
	static const char *bad[] = {
		"", "0/day", "0/month", "100/year", "100/week", "100/", "/month",
		"abc", "-5", "+5", "1.5", "100 /day", "100/Day", "100/day ",
		"1099511627776", "1099511627776/day", "99999999999999999999999",
		"100/month/day", "NONE",
	};
	struct quota_spec q;
	const char *err;
	size_t i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		memset(&q, 0xff, sizeof q);
		is_int(parse_quota(good[i].s, &q, &err), 0, "quota %s parses", good[i].s);
		ok(q.count == good[i].count && q.period == good[i].p,
		    "quota %s = %llu, period %d", good[i].s,
		    (unsigned long long)good[i].count, (int)good[i].p);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		is_int(parse_quota(bad[i], &q, &err), -1, "quota '%s' is refused", bad[i]);
	is_int(parse_quota(NULL, &q, &err), -1, "quota NULL is refused");
}

static void
test_percent(void)
{
	static const struct { const char *s; uint32_t v; } good[] = {
		{"20%", 20}, {"20", 20}, {"0%", 0}, {"0", 0}, {"1000%", 1000}, {"100", 100},
	};
	static const char *bad[] = {"", "%", "1001%", "-1%", "2.5%", "20%%", "20 %",
	    "%20", "abc", "20%x", "99999999999999999999%"};
	const char *err;
	uint32_t v;
	size_t i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		v = 12345;
		is_int(parse_percent(good[i].s, &v, &err), 0, "percent %s parses", good[i].s);
		is_int(v, good[i].v, "percent %s = %u", good[i].s, good[i].v);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		is_int(parse_percent(bad[i], &v, &err), -1, "percent '%s' is refused", bad[i]);
	is_int(parse_percent(NULL, &v, &err), -1, "percent NULL is refused");
}

static void
test_period(void)
{
	static const char *bad[] = {"", "2026", "2026-13", "2026-00", "1969-12",
	    "2026-1", "2026-11-", "2026-11-1", "2026-11-31", "2026-02-29",
	    "2026-11-25x", "2026-11x", "2026/11", "2026-11-25T00:00"};
	enum quota_period k;
	int64_t start;
	const char *err;
	size_t i;

	is_int(parse_period("2026-11", &k, &start, &err), 0, "period 2026-11");
	ok(k == QUOTA_MONTH && start == 1793491200, "2026-11 is a month from 2026-11-01");
	is_int(parse_period("2026-11-25", &k, &start, &err), 0, "period 2026-11-25");
	ok(k == QUOTA_DAY && start == 1795564800, "2026-11-25 is a day");
	is_int(parse_period("2024-02-29", &k, &start, &err), 0, "period 2024-02-29");
	ok(k == QUOTA_DAY && start == 1709164800, "leap day");
	is_int(parse_period("1970-01", &k, &start, &err), 0, "period 1970-01");
	ok(k == QUOTA_MONTH && start == 0, "1970-01 starts at 0");
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		is_int(parse_period(bad[i], &k, &start, &err), -1, "period '%s' is refused", bad[i]);
	is_int(parse_period(NULL, &k, &start, &err), -1, "period NULL is refused");
}

static int
is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static void
test_civil(void)
{
	static const unsigned dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int64_t y = 1970, z, last, gy;
	unsigned m = 1, d = 1, gm, gd;
	int bad_fwd = 0, bad_back = 0;

	is_int(days_from_civil(1970, 1, 1), 0, "1970-01-01 is day 0");
	is_int(days_from_civil(2000, 3, 1), 11017, "2000-03-01 is day 11017");
	is_int(days_from_civil(2100, 12, 31), 47846, "2100-12-31 is day 47846");
	is_int(days_from_civil(1969, 12, 31), -1, "1969-12-31 is day -1");
	last = days_from_civil(2100, 12, 31);
	/* walk an independent calendar day by day from 1970 to 2100 */
	for (z = 0; z <= last; z++) {
		civil_from_days(z, &gy, &gm, &gd);
		if (gy != y || gm != m || gd != d) {
			if (bad_back++ < 3)
				diag("day %lld: got %lld-%u-%u want %lld-%u-%u", (long long)z,
				    (long long)gy, gm, gd, (long long)y, m, d);
		}
		if (days_from_civil(y, m, d) != z)
			bad_fwd++;
		if (++d > dim[m - 1] + (m == 2 && is_leap(y))) {
			d = 1;
			if (++m > 12) {
				m = 1;
				y++;
			}
		}
	}
	ok(y == 2101 && m == 1 && d == 1, "the walk ended at 2101-01-01");
	is_int(bad_back, 0, "civil_from_days agrees with the calendar for every day 1970..2100");
	is_int(bad_fwd, 0, "days_from_civil agrees with the calendar for every day 1970..2100");
}

static void
test_format(void)
{
	char buf[64];
	struct rate_spec r;
	struct quota_spec q;

	is_str(format_time(0, buf, sizeof buf), "-", "time 0 is -");
	is_str(format_time(1, buf, sizeof buf), "1970-01-01T00:00:01Z", "time 1");
	is_str(format_time(1795567326, buf, sizeof buf), "2026-11-25T00:42:06Z", "time 2026");
	is_str(format_time(1795000000, buf, sizeof buf), "2026-11-18T11:06:40Z", "time 1795000000");
	is_str(format_time(4102444799LL, buf, sizeof buf), "2099-12-31T23:59:59Z", "time 2099");
	is_str(format_time(2147483648LL, buf, sizeof buf), "2038-01-19T03:14:08Z", "time past 2^31");
	is_str(format_time(-1, buf, sizeof buf), "1969-12-31T23:59:59Z", "time -1");
	is_str(format_time(-86400, buf, sizeof buf), "1969-12-31T00:00:00Z", "time -86400");
	is_int(strlen(format_time(253402300799LL, buf, 21)), 20, "9999-12-31T23:59:59Z fits 21 bytes");
	is_str(buf, "9999-12-31T23:59:59Z", "time 9999");

	r.count = 100; r.window_s = 1;
	is_str(format_rate(&r, buf, sizeof buf), "100/s", "format rate /s");
	r.window_s = 60;
	is_str(format_rate(&r, buf, sizeof buf), "100/min", "format rate /min");
	r.window_s = 3600;
	is_str(format_rate(&r, buf, sizeof buf), "100/h", "format rate /h");
	r.count = 0;
	is_str(format_rate(&r, buf, sizeof buf), "none", "format rate none");
	q.count = 5000; q.period = QUOTA_DAY;
	is_str(format_quota(&q, buf, sizeof buf), "5000/day", "format quota day");
	q.period = QUOTA_MONTH;
	is_str(format_quota(&q, buf, sizeof buf), "5000/month", "format quota month");
	q.period = QUOTA_CREDITS;
	is_str(format_quota(&q, buf, sizeof buf), "5000", "format quota credits");
	q.period = QUOTA_NONE;
	is_str(format_quota(&q, buf, sizeof buf), "none", "format quota none");
	is_str(format_duration(7776000, buf, sizeof buf), "90d", "format 90d");
	is_str(format_duration(1209600, buf, sizeof buf), "2w", "format 2w");
	is_str(format_duration(5400, buf, sizeof buf), "90m", "format 90m");
	is_str(format_duration(86400, buf, sizeof buf), "1d", "format 1d");
	is_str(format_duration(7200, buf, sizeof buf), "2h", "format 2h");
	is_str(format_duration(61, buf, sizeof buf), "61s", "format 61s");
	is_str(format_duration(0, buf, sizeof buf), "0s", "format 0s");

	/* what is formatted parses back to the same thing */
	{
		static const char *rates[] = {"100/s", "1000/min", "10/h"};
		static const char *quotas[] = {"100000/month", "5000/day", "1000", "none"};
		static const int64_t durs[] = {1, 59, 60, 3599, 3600, 86399, 86400, 604800, 788645};
		const char *err;
		size_t i;
		int64_t s;

		for (i = 0; i < sizeof rates / sizeof rates[0]; i++) {
			parse_rate(rates[i], &r, &err);
			is_str(format_rate(&r, buf, sizeof buf), rates[i], "rate %s round trip", rates[i]);
		}
		for (i = 0; i < sizeof quotas / sizeof quotas[0]; i++) {
			parse_quota(quotas[i], &q, &err);
			is_str(format_quota(&q, buf, sizeof buf), quotas[i], "quota %s round trip", quotas[i]);
		}
		for (i = 0; i < sizeof durs / sizeof durs[0]; i++) {
			format_duration(durs[i], buf, sizeof buf);
			ok(parse_duration(buf, &s, &err) == 0 && s == durs[i],
			    "duration %lld -> %s -> back", (long long)durs[i], buf);
		}
	}
}

int
main(void)
{
	test_u64();
	test_duration();
	test_datetime();
	test_when();
	test_rate();
	test_quota();
	test_percent();
	test_period();
	test_civil();
	test_format();
	return done_testing();
}
