/*
 * parse.h - strict parsers for numbers, durations, dates, rate limits and
 * quotas.  Each returns 0 on success or -1 with *err set to a short reason
 * that the caller puts in its one-line message; nothing is ever guessed.
 */
#ifndef KEYGATE_PARSE_H
#define KEYGATE_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Longest duration or date offset we accept: 100 years, in seconds. */
#define PARSE_MAX_SECONDS ((int64_t)100 * 366 * 86400)

enum quota_period {
	QUOTA_NONE = 0,   /* no quota */
	QUOTA_DAY = 1,    /* calendar day, UTC */
	QUOTA_MONTH = 2,  /* calendar month, UTC */
	QUOTA_CREDITS = 3 /* prepaid: no period, topped up by `org credit` */
};

/* 1e9 per window: beyond it the GCRA emission interval rounds to 0 ns */
#define RATE_COUNT_MAX 1000000000u
/* 2^40 - 1: the width of the shared usage counter */
#define QUOTA_COUNT_MAX ((UINT64_C(1) << 40) - 1)

struct rate_spec {
	uint32_t count;    /* 0 = no rate limit */
	uint32_t window_s; /* 1, 60 or 3600 */
};

struct quota_spec {
	uint64_t count;
	enum quota_period period;
};

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    const char **err);
/* The value of a hex digit, or -1. */
int parse_hexdigit(char c);
int parse_duration(const char *s, int64_t *seconds, const char **err);
int parse_datetime(const char *s, int64_t *when, const char **err);
int parse_when(const char *s, int64_t now, int64_t *when, const char **err);
int parse_rate(const char *s, struct rate_spec *out, const char **err);
int parse_quota(const char *s, struct quota_spec *out, const char **err);
int parse_percent(const char *s, uint32_t *out, const char **err);
int parse_period(const char *s, enum quota_period *kind, int64_t *start,
    const char **err);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);
void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

/* "2026-11-25T00:42:06Z"; buf needs 21 bytes.  0 prints "-". */
const char *format_time(int64_t t, char *buf, size_t n);
const char *format_rate(const struct rate_spec *r, char *buf, size_t n);
const char *format_quota(const struct quota_spec *q, char *buf, size_t n);
const char *format_duration(int64_t seconds, char *buf, size_t n);

#endif
