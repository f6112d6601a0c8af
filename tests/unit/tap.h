/*
 * tap.h - a tiny header-only TAP producer for the unit tests.
 *
 * Each test program prints "ok N - desc" / "not ok N - desc" lines and
 * ends with done_testing(), which prints the plan ("1..N") and returns
 * the exit status: 0 when every point passed, 1 otherwise.  The default
 * automake driver reads only that exit status; the TAP text lands in the
 * .log file for a human to read.
 */
#ifndef KEYGATE_TAP_H
#define KEYGATE_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_run;
static int tap_failed;

static int tap_ok(int pass, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), unused));
static void diag(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), unused));

static void
diag(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("# ", stdout);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

static void
tap_vreport(int pass, const char *fmt, va_list ap)
{
	tap_run++;
	if (!pass)
		tap_failed++;
	printf("%sok %d - ", pass ? "" : "not ", tap_run);
	vprintf(fmt, ap);
	putchar('\n');
	fflush(stdout);
}

static int
tap_ok(int pass, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vreport(pass, fmt, ap);
	va_end(ap);
	return pass;
}

#define ok(cond, ...) tap_ok(!!(cond), __VA_ARGS__)

static int tap_is_ll(const char *file, int line, long long got, long long want,
    const char *fmt, ...) __attribute__((format(printf, 5, 6), unused));
static int tap_is_u64(const char *file, int line, uint64_t got, uint64_t want,
    const char *fmt, ...) __attribute__((format(printf, 5, 6), unused));
static int tap_is_str(const char *file, int line, const char *got,
    const char *want, const char *fmt, ...)
    __attribute__((format(printf, 5, 6), unused));

static int
tap_is_ll(const char *file, int line, long long got, long long want,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vreport(got == want, fmt, ap);
	va_end(ap);
	if (got != want)
		diag("  at %s line %d\n#          got: %lld\n#     expected: %lld",
		    file, line, got, want);
	return got == want;
}

static int
tap_is_u64(const char *file, int line, uint64_t got, uint64_t want,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vreport(got == want, fmt, ap);
	va_end(ap);
	if (got != want)
		diag("  at %s line %d\n#          got: %" PRIu64 "\n#     expected: %"
		    PRIu64, file, line, got, want);
	return got == want;
}

static int
tap_is_str(const char *file, int line, const char *got, const char *want,
    const char *fmt, ...)
{
	va_list ap;
	int pass = (got == NULL && want == NULL) ||
	    (got != NULL && want != NULL && strcmp(got, want) == 0);

	va_start(ap, fmt);
	tap_vreport(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		diag("  at %s line %d\n#          got: '%s'\n#     expected: '%s'",
		    file, line, got ? got : "(null)", want ? want : "(null)");
	return pass;
}

#define is_int(got, want, ...) \
	tap_is_ll(__FILE__, __LINE__, (long long)(got), (long long)(want), __VA_ARGS__)
#define is_u64(got, want, ...) \
	tap_is_u64(__FILE__, __LINE__, (uint64_t)(got), (uint64_t)(want), __VA_ARGS__)
#define is_str(got, want, ...) \
	tap_is_str(__FILE__, __LINE__, (got), (want), __VA_ARGS__)

static int __attribute__((unused))
done_testing(void)
{
	printf("1..%d\n", tap_run);
	if (tap_failed)
		diag("Looks like you failed %d test%s of %d.", tap_failed,
		    tap_failed == 1 ? "" : "s", tap_run);
	fflush(stdout);
	return tap_failed ? 1 : 0;
}

#endif
