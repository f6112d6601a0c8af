/*
 * parse.c - strict parsing of the small languages of the CLI and config:
 * numbers, durations (90d, 1h30m), dates (YYYY-MM-DD, ISO 8601), rate
 * limits (100/s), quotas (100000/month, or a bare number for credits).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "parse.h"

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Reads at most maxdigits digits; refuses overflow past max. */
static int
take_number(const char **sp, uint64_t max, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;

	if (!is_digit(*s))
		return -1;
	while (is_digit(*s)) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
		s++;
	}
	*sp = s;
	*out = v;
	return 0;
}

int
parse_hexdigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    const char **err)
{
	uint64_t v;

	if (s == NULL || *s == '\0') {
		*err = "empty number";
		return -1;
	}
	if (take_number(&s, UINT64_MAX, &v) != 0) {
		*err = is_digit(*s) ? "number too large" : "not a number";
		return -1;
	}
	if (*s != '\0') {
		*err = "not a number";
		return -1;
	}
	if (v < min) {
		*err = "number too small";
		return -1;
	}
	if (v > max) {
		*err = "number too large";
		return -1;
	}
	*out = v;
	return 0;
}

static int64_t
unit_seconds(char u)
{
	switch (u) {
	case 's': return 1;
	case 'm': return 60;
	case 'h': return 3600;
	case 'd': return 86400;
	case 'w': return 7 * 86400;
	default: return 0;
	}
}

int
parse_duration(const char *s, int64_t *seconds, const char **err)
{
	int64_t total = 0;

	if (s == NULL || *s == '\0') {
		*err = "empty duration";
		return -1;
	}
	/* One or more <digits><unit> parts, e.g. 90d or 1h30m. */
	while (*s != '\0') {
		uint64_t n;
		int64_t unit;

		if (take_number(&s, (uint64_t)PARSE_MAX_SECONDS, &n) != 0) {
			*err = is_digit(*s) ? "duration too long"
			    : "duration must look like 90d, 24h, 30m, 45s or 2w";
			return -1;
		}
		unit = unit_seconds(*s);
		if (unit == 0) {
			*err = "duration must look like 90d, 24h, 30m, 45s or 2w";
			return -1;
		}
		s++;
		if ((int64_t)n > (PARSE_MAX_SECONDS - total) / unit) {
			*err = "duration too long";
			return -1;
		}
		total += (int64_t)n * unit;
	}
	*seconds = total;
	return 0;
}

/*
 * Howard Hinnant's days_from_civil: exact for the proleptic Gregorian
 * calendar, no libc time zone state involved.
 */
int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int
days_in_month(int64_t y, unsigned m)
{
	static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dim[m - 1];
}

/* Exactly n digits. */
static int
take_fixed(const char **sp, int n, unsigned *out)
{
	const char *s = *sp;
	unsigned v = 0;
	int i;

	for (i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*sp = s + n;
	*out = v;
	return 0;
}

/*
 * YYYY-MM-DD (00:00:00 UTC of that day) or YYYY-MM-DD[T ]HH:MM[:SS]
 * followed by nothing (UTC), Z, or an offset +HH:MM / +HHMM / +HH.
 * Instants before the epoch are refused; the epoch itself is a date.
 */
int
parse_datetime(const char *s, int64_t *when, const char **err)
{
	unsigned y, mo, d, h = 0, mi = 0, se = 0, oh = 0, om = 0;
	int64_t t;
	int sign = 0;

	*err = "date must be YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM]";
	if (s == NULL || take_fixed(&s, 4, &y) || *s++ != '-' ||
	    take_fixed(&s, 2, &mo) || *s++ != '-' || take_fixed(&s, 2, &d))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > (unsigned)days_in_month(y, mo)) {
		*err = "no such date";
		return -1;
	}
	if (*s == 'T' || *s == 't' || *s == ' ') {
		s++;
		if (take_fixed(&s, 2, &h) || *s++ != ':' || take_fixed(&s, 2, &mi))
			return -1;
		if (*s == ':') {
			s++;
			if (take_fixed(&s, 2, &se))
				return -1;
			if (*s == '.') { /* fractions of a second are dropped */
				s++;
				if (!is_digit(*s))
					return -1;
				while (is_digit(*s))
					s++;
			}
		}
		if (h > 23 || mi > 59 || se > 60) {
			*err = "no such time of day";
			return -1;
		}
		if (*s == 'Z' || *s == 'z') {
			s++;
		} else if (*s == '+' || *s == '-') {
			sign = *s++ == '+' ? 1 : -1;
			if (take_fixed(&s, 2, &oh))
				return -1;
			if (*s == ':') {
				s++;
				if (take_fixed(&s, 2, &om))
					return -1;
			} else if (*s != '\0' && take_fixed(&s, 2, &om)) {
				return -1;
			}
			if (oh > 23 || om > 59) {
				*err = "no such time zone offset";
				return -1;
			}
		}
	}
	if (*s != '\0')
		return -1;
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + (se > 59 ? 59 : se);
	t -= sign * (int64_t)(oh * 3600 + om * 60);
	/* one rule for dates and offsets alike ("1970-01-01T00:30+01:00") */
	if (t < 0) {
		*err = "dates before 1970-01-01T00:00:00Z are not supported";
		return -1;
	}
	*when = t;
	return 0;
}

/* A duration from now (90d) or an absolute date. */
int
parse_when(const char *s, int64_t now, int64_t *when, const char **err)
{
	int64_t secs;

	if (s != NULL && strlen(s) >= 10 && s[4] == '-')
		return parse_datetime(s, when, err);
	if (parse_duration(s, &secs, err) != 0)
		return -1;
	*when = now + secs;
	return 0;
}

int
parse_rate(const char *s, struct rate_spec *out, const char **err)
{
	static const struct { const char *name; uint32_t secs; } units[] = {
		{"s", 1}, {"sec", 1}, {"second", 1},
		{"m", 60}, {"min", 60}, {"minute", 60},
		{"h", 3600}, {"hour", 3600},
	};
	uint64_t n;
	size_t i;

	*err = "rate must look like 100/s, 1000/min or 10000/h";
	if (s == NULL)
		return -1;
	if (strcmp(s, "none") == 0 || strcmp(s, "off") == 0) {
		out->count = 0;
		out->window_s = 0;
		return 0;
	}
	if (take_number(&s, RATE_COUNT_MAX, &n) != 0 || n == 0 || *s++ != '/')
		return -1;
	for (i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(s, units[i].name) == 0) {
			out->count = (uint32_t)n;
			out->window_s = units[i].secs;
			return 0;
		}
	}
	return -1;
}

int
parse_quota(const char *s, struct quota_spec *out, const char **err)
{
	uint64_t n;

	*err = "quota must look like 100000/month, 5000/day or 1000 (prepaid credits)";
	if (s == NULL)
		return -1;
	if (strcmp(s, "none") == 0 || strcmp(s, "off") == 0) {
		out->count = 0;
		out->period = QUOTA_NONE;
		return 0;
	}
	if (take_number(&s, QUOTA_COUNT_MAX, &n) != 0)
		return -1;
	if (*s == '\0') {
		out->count = n;
		out->period = QUOTA_CREDITS;
		return 0;
	}
	if (*s++ != '/' || n == 0)
		return -1;
	if (strcmp(s, "day") == 0 || strcmp(s, "d") == 0)
		out->period = QUOTA_DAY;
	else if (strcmp(s, "month") == 0 || strcmp(s, "mo") == 0)
		out->period = QUOTA_MONTH;
	else
		return -1;
	out->count = n;
	return 0;
}

int
parse_percent(const char *s, uint32_t *out, const char **err)
{
	uint64_t n;

	*err = "percentage must look like 20%";
	if (s == NULL || take_number(&s, 1000, &n) != 0)
		return -1;
	if (*s == '%')
		s++;
	if (*s != '\0')
		return -1;
	*out = (uint32_t)n;
	return 0;
}

/* "2026-11" (a month) or "2026-11-25" (a day) for `keygate usage`. */
int
parse_period(const char *s, enum quota_period *kind, int64_t *start,
    const char **err)
{
	unsigned y, m, d;

	*err = "period must be YYYY-MM or YYYY-MM-DD";
	if (s == NULL || take_fixed(&s, 4, &y) || *s++ != '-' ||
	    take_fixed(&s, 2, &m) || m < 1 || m > 12 || y < 1970)
		return -1;
	if (*s == '\0') {
		*kind = QUOTA_MONTH;
		*start = days_from_civil(y, m, 1) * 86400;
		return 0;
	}
	if (*s++ != '-' || take_fixed(&s, 2, &d) || *s != '\0' || d < 1 ||
	    d > (unsigned)days_in_month(y, m))
		return -1;
	*kind = QUOTA_DAY;
	*start = days_from_civil(y, m, d) * 86400;
	return 0;
}

const char *
format_time(int64_t t, char *buf, size_t n)
{
	int64_t y, days, secs;
	unsigned m, d;

	if (t == 0) {
		snprintf(buf, n, "-");
		return buf;
	}
	days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
	secs = t - days * 86400;
	civil_from_days(days, &y, &m, &d);
	snprintf(buf, n, "%04lld-%02u-%02uT%02u:%02u:%02uZ", (long long)y, m, d,
	    (unsigned)(secs / 3600), (unsigned)(secs / 60 % 60), (unsigned)(secs % 60));
	return buf;
}

const char *
format_rate(const struct rate_spec *r, char *buf, size_t n)
{
	const char *unit = r->window_s == 1 ? "s" : r->window_s == 60 ? "min" : "h";

	if (r->count == 0)
		snprintf(buf, n, "none");
	else
		snprintf(buf, n, "%u/%s", r->count, unit);
	return buf;
}

const char *
format_quota(const struct quota_spec *q, char *buf, size_t n)
{
	switch (q->period) {
	case QUOTA_DAY:
		snprintf(buf, n, "%llu/day", (unsigned long long)q->count);
		break;
	case QUOTA_MONTH:
		snprintf(buf, n, "%llu/month", (unsigned long long)q->count);
		break;
	case QUOTA_CREDITS:
		snprintf(buf, n, "%llu", (unsigned long long)q->count);
		break;
	default:
		snprintf(buf, n, "none");
	}
	return buf;
}

const char *
format_duration(int64_t s, char *buf, size_t n)
{
	if (s % 604800 == 0 && s != 0)
		snprintf(buf, n, "%lldw", (long long)(s / 604800));
	else if (s % 86400 == 0 && s != 0)
		snprintf(buf, n, "%lldd", (long long)(s / 86400));
	else if (s % 3600 == 0 && s != 0)
		snprintf(buf, n, "%lldh", (long long)(s / 3600));
	else if (s % 60 == 0 && s != 0)
		snprintf(buf, n, "%lldm", (long long)(s / 60));
	else
		snprintf(buf, n, "%llds", (long long)s);
	return buf;
}
