/*
 * fuzz.h - what every libFuzzer target shares: a check that aborts with a
 * reason (libFuzzer then saves the input), and the splitting of an input
 * into fields.  Each field is copied into its own heap block of exactly
 * its size plus the NUL, so AddressSanitizer sees any read past its end.
 */
#ifndef KEYGATE_FUZZ_H
#define KEYGATE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond, ...) do {                                      \
	if (!(cond)) {                                                  \
		fprintf(stderr, "%s:%d: invariant broken: %s: ",        \
		    __FILE__, __LINE__, #cond);                         \
		fprintf(stderr, __VA_ARGS__);                           \
		fputc('\n', stderr);                                    \
		abort();                                                \
	}                                                               \
} while (0)

/* For the harness's own loops: no coverage feedback, no comparison tracing. */
#if defined(__clang__) && __clang_major__ >= 13
#define FUZZ_NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define FUZZ_NO_COVERAGE
#endif

#define FUZZ_FIELDS_MAX 48

struct fields {
	size_t n;
	char *v[FUZZ_FIELDS_MAX];
	size_t len[FUZZ_FIELDS_MAX];
};

/*
 * Splits data at sep into at most max fields (the last one takes the
 * rest, separators included).  Fields are NUL-terminated heap copies.
 */
static inline void
fields_split(struct fields *f, const uint8_t *data, size_t size, uint8_t sep,
    size_t max)
{
	size_t start = 0, i;

	if (max > FUZZ_FIELDS_MAX)
		max = FUZZ_FIELDS_MAX;
	f->n = 0;
	for (i = 0; i <= size && f->n < max; i++) {
		size_t n;

		if (i < size && (data[i] != sep || f->n + 1 == max))
			continue;
		n = i - start;
		if ((f->v[f->n] = malloc(n + 1)) == NULL)
			abort();
		if (n > 0)
			memcpy(f->v[f->n], data + start, n);
		f->v[f->n][n] = '\0';
		f->len[f->n] = n;
		f->n++;
		start = i + 1;
	}
}

static inline void
fields_free(struct fields *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		free(f->v[i]);
	f->n = 0;
}

/* The field or NULL when the input has fewer fields. */
static inline const char *
field(const struct fields *f, size_t i)
{
	return i < f->n ? f->v[i] : NULL;
}

/* A heap copy of data of exactly size bytes (at least 1 allocated). */
static inline unsigned char *
fuzz_dup(const uint8_t *data, size_t size)
{
	unsigned char *p = malloc(size ? size : 1);

	if (p == NULL)
		abort();
	if (size > 0)
		memcpy(p, data, size);
	return p;
}

/* A NUL-terminated heap copy (an embedded NUL ends the string early). */
static inline char *
fuzz_strdup(const uint8_t *data, size_t size)
{
	char *p = malloc(size + 1);

	if (p == NULL)
		abort();
	if (size > 0)
		memcpy(p, data, size);
	p[size] = '\0';
	return p;
}

#endif
