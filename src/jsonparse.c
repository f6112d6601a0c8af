/*
 * jsonparse.c - the strict JSON parser: recursive descent bounded by
 * JP_DEPTH_MAX, values and decoded strings placed in the arena.
 */
#include "config.h"

#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apikey.h"
#include "jsonparse.h"
#include "rules.h"

_Static_assert(JP_STRING_MAX >= PATH_NORM_MAX,
    "a path the authorizer takes must fit in a JSON string");
_Static_assert(JP_INPUT_MAX < UINT32_MAX, "offsets and lengths are 32-bit");

struct jp_arena {
	size_t input_max;
	size_t values_max;
	struct jp_value *values;
	size_t nvalues;
	/* an object's members, sorted to find a name given twice */
	const struct jp_value **members;
	/*
	 * Decoded strings and number texts, each NUL-terminated.  A string
	 * decodes to fewer bytes than it takes with its quotes, and every
	 * number but the last is followed by a byte that is neither, so
	 * input_max + 1 bytes always suffice.
	 */
	char *text;
	size_t ntext;
	size_t text_cap;
};

struct parser {
	struct jp_arena *a;
	const unsigned char *s;
	size_t n;
	size_t i;
	struct jp_error *err;
};

/* Rounds n up to a multiple of the alignment al (a power of two). */
static size_t
align_up(size_t n, size_t al)
{
	return (n + al - 1) & ~(al - 1);
}

struct jp_arena *
jp_arena_new(size_t input_max, size_t values_max)
{
	struct jp_arena *a;
	size_t at_values, at_members, at_text, total;
	char *block;

	if (input_max == 0 || input_max > JP_INPUT_MAX || values_max == 0 ||
	    values_max > JP_VALUES_MAX)
		return NULL;
	at_values = align_up(sizeof *a, alignof(struct jp_value));
	at_members = align_up(at_values + values_max * sizeof(struct jp_value),
	    alignof(const struct jp_value *));
	at_text = at_members + values_max * sizeof(const struct jp_value *);
	total = at_text + input_max + 1;
	if ((block = malloc(total)) == NULL)
		return NULL;
	a = (struct jp_arena *)(void *)block;
	memset(a, 0, sizeof *a);
	a->input_max = input_max;
	a->values_max = values_max;
	a->values = (struct jp_value *)(void *)(block + at_values);
	a->members = (const struct jp_value **)(void *)(block + at_members);
	a->text = block + at_text;
	a->text_cap = input_max + 1;
	return a;
}

void
jp_arena_free(struct jp_arena *a)
{
	free(a);
}

/* --- errors --- */

static const char *const code_text[] = {
	[JP_OK] = "no error",
	[JP_E_EMPTY] = "no JSON value",
	[JP_E_TOO_LARGE] = "the document is too large",
	[JP_E_DEPTH] = "nested too deep",
	[JP_E_VALUES] = "too many values",
	[JP_E_STRING_LONG] = "string too long",
	[JP_E_SYNTAX] = "syntax error",
	[JP_E_END] = "unexpected end of input",
	[JP_E_TRAILING] = "data after the JSON value",
	[JP_E_NUMBER] = "invalid number",
	[JP_E_ESCAPE] = "invalid escape in a string",
	[JP_E_SURROGATE] = "unpaired surrogate in a \\u escape",
	[JP_E_CONTROL] = "control character in a string (escape it)",
	[JP_E_UTF8] = "invalid UTF-8",
	[JP_E_NUL] = "NUL in a string",
	[JP_E_DUPLICATE] = "duplicate member",
};

/*
 * Records the first error only: an inner failure is the one to report,
 * the callers above it just unwind.  detail, when given, replaces the
 * code's standard text; it never holds input except a shown name.
 */
static void fail(struct parser *p, enum jp_code code, size_t at,
    const char *detail, ...) __attribute__((format(printf, 4, 5)));

static void
fail(struct parser *p, enum jp_code code, size_t at, const char *detail, ...)
{
	char *msg = p->err->msg;
	size_t cap = sizeof p->err->msg;
	va_list ap;
	int n;

	if (p->err->code != JP_OK)
		return;
	p->err->code = code;
	p->err->offset = at;
	n = snprintf(msg, cap, "at byte %zu: ", at);
	if (n < 0 || (size_t)n >= cap)
		return;
	if (detail == NULL) {
		snprintf(msg + n, cap - (size_t)n, "%s", code_text[code]);
		return;
	}
	va_start(ap, detail);
	vsnprintf(msg + n, cap - (size_t)n, detail, ap);
	va_end(ap);
}

/* --- the arena --- */

static struct jp_value *
new_value(struct parser *p, enum jp_type type, size_t at)
{
	struct jp_value *v;

	if (p->a->nvalues == p->a->values_max) {
		fail(p, JP_E_VALUES, at, "more than %zu values", p->a->values_max);
		return NULL;
	}
	v = &p->a->values[p->a->nvalues++];
	memset(v, 0, sizeof *v);
	v->type = type;
	v->offset = (uint32_t)at;
	return v;
}

/* Room for n more bytes of text; the sizing above says it never fails. */
static char *
text_room(struct parser *p, size_t n, size_t at)
{
	if (p->a->text_cap - p->a->ntext < n) {
		fail(p, JP_E_TOO_LARGE, at, "the document is too large to hold");
		return NULL;
	}
	return p->a->text + p->a->ntext;
}

/* --- lexical pieces --- */

static void
skip_ws(struct parser *p)
{
	while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
	    p->s[p->i] == '\n' || p->s[p->i] == '\r'))
		p->i++;
}

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Length of the well-formed UTF-8 sequence at s (at most n bytes), or 0:
 * the table of well-formed byte sequences in the Unicode standard (3.9,
 * table 3-7), which leaves out overlong forms, surrogates and anything
 * beyond U+10FFFF by the ranges of the second byte.
 */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, k;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;      /* below: overlong */
	else if (s[0] == 0xed)
		hi = 0x9f;      /* above: U+D800-DFFF */
	else if (s[0] == 0xf0)
		lo = 0x90;      /* below: overlong */
	else if (s[0] == 0xf4)
		hi = 0x8f;      /* above: beyond U+10FFFF */
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (k = 2; k < len; k++)
		if (s[k] < 0x80 || s[k] > 0xbf)
			return 0;
	return len;
}

static size_t
put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* The four hex digits at s[at..]: 0, -1 not hex, -2 the input ends first. */
static int
hex4(const struct parser *p, size_t at, uint32_t *cp)
{
	size_t k;

	*cp = 0;
	for (k = 0; k < 4; k++) {
		unsigned char c;

		if (at + k >= p->n)
			return -2;
		c = p->s[at + k];
		if (is_digit(c))
			*cp = *cp << 4 | (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*cp = *cp << 4 | (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*cp = *cp << 4 | (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

/*
 * A \u escape at p->i (the backslash), with its low half when it is a
 * high surrogate: the code point, p->i past it; -1 on error.
 */
static int
unicode_escape(struct parser *p, uint32_t *cp)
{
	size_t at = p->i;
	uint32_t lo;
	int rc;

	if ((rc = hex4(p, at + 2, cp)) != 0) {
		if (rc == -2)
			fail(p, JP_E_END, p->n, NULL);
		else
			fail(p, JP_E_ESCAPE, at, "\\u needs four hex digits");
		return -1;
	}
	p->i = at + 6;
	if (*cp >= 0xdc00 && *cp <= 0xdfff) {
		fail(p, JP_E_SURROGATE, at, "low surrogate \\u escape without a high one");
		return -1;
	}
	if (*cp < 0xd800 || *cp > 0xdbff)
		return 0;
	/* a high surrogate: the low one must follow as the next escape */
	if (p->i >= p->n || (p->s[p->i] == '\\' && p->i + 1 >= p->n)) {
		fail(p, JP_E_END, p->n, NULL);
		return -1;
	}
	if (p->s[p->i] == '\\' && p->s[p->i + 1] == 'u') {
		rc = hex4(p, p->i + 2, &lo);
		if (rc == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
			*cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
			p->i += 6;
			return 0;
		}
		if (rc == -2) {
			fail(p, JP_E_END, p->n, NULL);
			return -1;
		}
	}
	fail(p, JP_E_SURROGATE, at, "high surrogate \\u escape without a low one");
	return -1;
}

/* A backslash escape at p->i into out: its length there, or 0 on error. */
static size_t
escape(struct parser *p, char *out)
{
	uint32_t cp;
	char c;

	if (p->i + 1 >= p->n) {
		fail(p, JP_E_END, p->n, NULL);
		return 0;
	}
	switch (p->s[p->i + 1]) {
	case '"': c = '"'; break;
	case '\\': c = '\\'; break;
	case '/': c = '/'; break;
	case 'b': c = '\b'; break;
	case 'f': c = '\f'; break;
	case 'n': c = '\n'; break;
	case 'r': c = '\r'; break;
	case 't': c = '\t'; break;
	case 'u':
		if (unicode_escape(p, &cp) != 0)
			return 0;
		if (cp == 0) {
			fail(p, JP_E_NUL, p->i - 6, "\\u0000 in a string");
			return 0;
		}
		return put_utf8(out, cp);
	default:
		fail(p, JP_E_ESCAPE, p->i, NULL);
		return 0;
	}
	p->i += 2;
	out[0] = c;
	return 1;
}

/*
 * The string at p->i (its opening quote), decoded into the arena: its
 * text (NUL-terminated) and length, p->i past the closing quote.
 */
static const char *
string(struct parser *p, uint32_t *len)
{
	size_t at = p->i, o = 0, k;
	char *out, chunk[4];

	/* the decoded string is shorter than what is left, quotes included */
	if ((out = text_room(p, p->n - at, at)) == NULL)
		return NULL;
	p->i++;
	for (;;) {
		unsigned char c;

		if (p->i >= p->n) {
			fail(p, JP_E_END, p->n, "unterminated string");
			return NULL;
		}
		c = p->s[p->i];
		if (c == '"')
			break;
		if (c == '\\') {
			if ((k = escape(p, chunk)) == 0)
				return NULL;
		} else if (c == '\0') {
			fail(p, JP_E_NUL, p->i, NULL);
			return NULL;
		} else if (c < 0x20) {
			fail(p, JP_E_CONTROL, p->i, NULL);
			return NULL;
		} else if ((k = utf8_len(p->s + p->i, p->n - p->i)) == 0) {
			fail(p, JP_E_UTF8, p->i, NULL);
			return NULL;
		} else {
			memcpy(chunk, p->s + p->i, k);
			p->i += k;
		}
		if (o + k > JP_STRING_MAX) {
			fail(p, JP_E_STRING_LONG, at, "string longer than %d bytes",
			    JP_STRING_MAX);
			return NULL;
		}
		memcpy(out + o, chunk, k);
		o += k;
	}
	p->i++;
	out[o] = '\0';
	p->a->ntext += o + 1;
	*len = (uint32_t)o;
	return out;
}

/*
 * The end of the number at s[0..n) by RFC 8259's grammar,
 *   [ "-" ] ( "0" / 1-9 *DIGIT ) [ "." 1*DIGIT ] [ ( "e" / "E" ) [ "+" / "-" ] 1*DIGIT ]
 * or 0 with *bad where it goes wrong.
 */
static size_t
number_end(const unsigned char *s, size_t n, size_t *bad)
{
	size_t i = 0;

	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0') {
		i++;
		if (i < n && is_digit(s[i]))
			goto bad;  /* a leading zero */
	} else if (i < n && is_digit(s[i])) {
		while (i < n && is_digit(s[i]))
			i++;
	} else {
		goto bad;
	}
	if (i < n && s[i] == '.') {
		i++;
		if (i >= n || !is_digit(s[i]))
			goto bad;
		while (i < n && is_digit(s[i]))
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || !is_digit(s[i]))
			goto bad;
		while (i < n && is_digit(s[i]))
			i++;
	}
	return i;
bad:
	*bad = i;
	return 0;
}

static struct jp_value *
number(struct parser *p)
{
	size_t at = p->i, end, bad = 0;
	struct jp_value *v;
	char *out;

	if ((end = number_end(p->s + at, p->n - at, &bad)) == 0) {
		fail(p, JP_E_NUMBER, at + bad, NULL);
		return NULL;
	}
	if ((v = new_value(p, JP_NUMBER, at)) == NULL ||
	    (out = text_room(p, end + 1, at)) == NULL)
		return NULL;
	memcpy(out, p->s + at, end);
	out[end] = '\0';
	p->a->ntext += end + 1;
	v->str = out;
	v->len = (uint32_t)end;
	p->i = at + end;
	return v;
}

static struct jp_value *
literal(struct parser *p, const char *word, enum jp_type type)
{
	size_t at = p->i, len = strlen(word), k;

	for (k = 0; k < len; k++) {
		if (at + k >= p->n) {
			fail(p, JP_E_END, p->n, NULL);
			return NULL;
		}
		if (p->s[at + k] != (unsigned char)word[k]) {
			fail(p, JP_E_SYNTAX, at, "expected a value");
			return NULL;
		}
	}
	p->i = at + len;
	return new_value(p, type, at);
}

/* --- containers --- */

static struct jp_value *value(struct parser *p, int depth);

static int
by_name_then_offset(const void *x, const void *y)
{
	const struct jp_value *a = *(const struct jp_value *const *)x;
	const struct jp_value *b = *(const struct jp_value *const *)y;
	int c = strcmp(a->name, b->name);

	if (c != 0)
		return c;
	return a->name_offset < b->name_offset ? -1 : a->name_offset > b->name_offset;
}

/*
 * A name given twice in obj: the second one in the document's order is
 * reported.  Sorting costs n log n whatever the names, where comparing
 * each pair, or a hash a sender could aim collisions at, costs n squared.
 */
static int
check_duplicates(struct parser *p, const struct jp_value *obj)
{
	const struct jp_value **m = p->a->members, *c, *dup = NULL;
	char shown[JP_NAME_BUF];
	size_t n = 0, k;

	if (obj->len < 2)
		return 0;
	for (c = obj->child; c != NULL; c = c->next)
		m[n++] = c;
	qsort(m, n, sizeof *m, by_name_then_offset);
	for (k = 1; k < n; k++)
		if (strcmp(m[k - 1]->name, m[k]->name) == 0 &&
		    (dup == NULL || m[k]->name_offset < dup->name_offset))
			dup = m[k];
	if (dup == NULL)
		return 0;
	fail(p, JP_E_DUPLICATE, dup->name_offset, "duplicate member \"%s\"",
	    jp_name_show(dup->name, shown));
	return -1;
}

/* Links v as the last child of c (tail: the last one so far). */
static void
append(struct jp_value *c, struct jp_value **tail, struct jp_value *v)
{
	if (*tail == NULL)
		c->child = v;
	else
		(*tail)->next = v;
	*tail = v;
	c->len++;
}

/*
 * After a member or element: the separator or the end.  1 more follows,
 * 0 the container ended, -1 error.
 */
static int
after_child(struct parser *p, unsigned char close, const char *expected)
{
	skip_ws(p);
	if (p->i >= p->n) {
		fail(p, JP_E_END, p->n, NULL);
		return -1;
	}
	if (p->s[p->i] == ',') {
		p->i++;
		return 1;
	}
	if (p->s[p->i] == close) {
		p->i++;
		return 0;
	}
	fail(p, JP_E_SYNTAX, p->i, "%s", expected);
	return -1;
}

static struct jp_value *
object(struct parser *p, int depth)
{
	struct jp_value *obj, *v, *tail = NULL;
	const char *name;
	uint32_t nlen;
	size_t name_at;
	int more;

	if ((obj = new_value(p, JP_OBJECT, p->i)) == NULL)
		return NULL;
	p->i++;
	skip_ws(p);
	if (p->i < p->n && p->s[p->i] == '}') {
		p->i++;
		return obj;
	}
	do {
		skip_ws(p);
		if (p->i >= p->n) {
			fail(p, JP_E_END, p->n, NULL);
			return NULL;
		}
		if (p->s[p->i] != '"') {
			fail(p, JP_E_SYNTAX, p->i, "expected a member name");
			return NULL;
		}
		name_at = p->i;
		if ((name = string(p, &nlen)) == NULL)
			return NULL;
		skip_ws(p);
		if (p->i >= p->n) {
			fail(p, JP_E_END, p->n, NULL);
			return NULL;
		}
		if (p->s[p->i] != ':') {
			fail(p, JP_E_SYNTAX, p->i, "expected ':'");
			return NULL;
		}
		p->i++;
		if ((v = value(p, depth)) == NULL)
			return NULL;
		v->name = name;
		v->name_offset = (uint32_t)name_at;
		append(obj, &tail, v);
	} while ((more = after_child(p, '}', "expected ',' or '}'")) == 1);
	if (more < 0 || check_duplicates(p, obj) != 0)
		return NULL;
	return obj;
}

static struct jp_value *
array(struct parser *p, int depth)
{
	struct jp_value *arr, *v, *tail = NULL;
	int more;

	if ((arr = new_value(p, JP_ARRAY, p->i)) == NULL)
		return NULL;
	p->i++;
	skip_ws(p);
	if (p->i < p->n && p->s[p->i] == ']') {
		p->i++;
		return arr;
	}
	do {
		if ((v = value(p, depth)) == NULL)
			return NULL;
		append(arr, &tail, v);
	} while ((more = after_child(p, ']', "expected ',' or ']'")) == 1);
	return more < 0 ? NULL : arr;
}

/* A value at p->i (after whitespace), inside depth containers. */
static struct jp_value *
value(struct parser *p, int depth)
{
	struct jp_value *v;
	const char *s;
	uint32_t len;
	size_t at;

	skip_ws(p);
	at = p->i;
	if (at >= p->n) {
		fail(p, JP_E_END, p->n, NULL);
		return NULL;
	}
	switch (p->s[at]) {
	case '{':
	case '[':
		if (depth >= JP_DEPTH_MAX) {
			fail(p, JP_E_DEPTH, at, "nested deeper than %d", JP_DEPTH_MAX);
			return NULL;
		}
		return p->s[at] == '{' ? object(p, depth + 1) : array(p, depth + 1);
	case '"':
		if ((v = new_value(p, JP_STRING, at)) == NULL ||
		    (s = string(p, &len)) == NULL)
			return NULL;
		v->str = s;
		v->len = len;
		return v;
	case 't':
		return literal(p, "true", JP_TRUE);
	case 'f':
		return literal(p, "false", JP_FALSE);
	case 'n':
		return literal(p, "null", JP_NULL);
	default:
		if (p->s[at] == '-' || is_digit(p->s[at]))
			return number(p);
		fail(p, JP_E_SYNTAX, at, "expected a value");
		return NULL;
	}
}

const struct jp_value *
jp_parse(struct jp_arena *a, const char *in, size_t len, struct jp_error *err)
{
	struct parser p;
	struct jp_value *root;

	memset(err, 0, sizeof *err);
	a->nvalues = 0;
	a->ntext = 0;
	p.a = a;
	p.s = (const unsigned char *)in;
	p.n = len;
	p.i = 0;
	p.err = err;
	if (len > a->input_max) {
		fail(&p, JP_E_TOO_LARGE, a->input_max, "the document is larger than %zu bytes",
		    a->input_max);
		return NULL;
	}
	skip_ws(&p);
	if (p.i == len) {
		fail(&p, JP_E_EMPTY, p.i, NULL);
		return NULL;
	}
	if ((root = value(&p, 0)) == NULL)
		return NULL;
	skip_ws(&p);
	if (p.i < len) {
		fail(&p, JP_E_TRAILING, p.i, NULL);
		return NULL;
	}
	return root;
}

/* --- reading the tree --- */

const struct jp_value *
jp_get(const struct jp_value *obj, const char *name)
{
	const struct jp_value *c;

	if (obj == NULL || obj->type != JP_OBJECT)
		return NULL;
	for (c = obj->child; c != NULL; c = c->next)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

int
jp_object_only(const struct jp_value *obj, const char *const allowed[],
    const struct jp_value **bad)
{
	const struct jp_value *c;
	size_t k;

	*bad = NULL;
	if (obj == NULL || obj->type != JP_OBJECT)
		return -1;
	for (c = obj->child; c != NULL; c = c->next) {
		for (k = 0; allowed != NULL && allowed[k] != NULL; k++)
			if (strcmp(c->name, allowed[k]) == 0)
				break;
		if (allowed == NULL || allowed[k] == NULL) {
			*bad = c;
			return -1;
		}
	}
	return 0;
}

const char *
jp_name_show(const char *name, char out[JP_NAME_BUF])
{
	/* one byte more than is shown: a longer name ends in an ellipsis */
	char safe[JP_NAME_SHOWN + 2];
	const unsigned char *s = (const unsigned char *)name;
	size_t o = 0;

	while (*s != '\0' && o < JP_NAME_SHOWN + 1) {
		unsigned char c = *s++;

		if (c >= 0x80) /* one '?' for a whole UTF-8 sequence */
			while ((*s & 0xc0) == 0x80)
				s++;
		safe[o++] = c > 0x20 && c < 0x7f && c != '"' && c != '\\' ? (char)c : '?';
	}
	safe[o] = '\0';
	return apikey_redact(safe, out, JP_NAME_SHOWN + 1);
}

const char *
jp_type_name(enum jp_type t)
{
	switch (t) {
	case JP_NULL: return "null";
	case JP_FALSE:
	case JP_TRUE: return "boolean";
	case JP_NUMBER: return "number";
	case JP_STRING: return "string";
	case JP_ARRAY: return "array";
	case JP_OBJECT: return "object";
	}
	return "value";
}

/* --- numbers as integers --- */

/*
 * Exponents are counted up to this and no further: a larger one makes
 * any number that is not zero too large or a fraction all the same, and
 * sums of it with digit counts (< JP_INPUT_MAX) cannot overflow.
 */
#define EXP_CAP INT64_C(1000000000)

/*
 * The magnitude of the integer the number text[0..len) is, and its
 * sign.  The digits with the fraction's appended and the exponent less
 * the fraction's length give value = digits * 10^exp, exactly.
 */
static enum jp_conv
integer_of(const char *text, size_t len, int *neg, uint64_t *mag)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0, bad, first = 0, last = 0, ndigits = 0, k;
	const unsigned char *digits[2];
	size_t dlen[2] = {0, 0};
	int64_t exp = 0;
	int eneg = 0, seen = 0;

	if (len == 0 || len > JP_INPUT_MAX || number_end(s, len, &bad) != len)
		return JP_CONV_TYPE;
	*neg = s[0] == '-';
	*mag = 0;
	i = (size_t)*neg;
	digits[0] = s + i;
	while (i < len && is_digit(s[i]))
		i++, dlen[0]++;
	digits[1] = s + i;
	if (i < len && s[i] == '.')
		for (digits[1] = s + ++i; i < len && is_digit(s[i]); i++)
			dlen[1]++;
	if (i < len) { /* the exponent */
		i++;
		if (s[i] == '+' || s[i] == '-')
			eneg = s[i++] == '-';
		for (; i < len; i++)
			if ((exp = exp * 10 + (s[i] - '0')) > EXP_CAP)
				exp = EXP_CAP;
		if (eneg)
			exp = -exp;
	}
	exp -= (int64_t)dlen[1];
	/* the significant digits: from the first to the last that is not 0 */
	for (k = 0; k < dlen[0] + dlen[1]; k++) {
		unsigned char d = k < dlen[0] ? digits[0][k] : digits[1][k - dlen[0]];

		if (d != '0') {
			if (!seen)
				first = k;
			seen = 1;
			last = k;
		}
	}
	if (!seen)
		return JP_CONV_OK; /* zero, however written */
	ndigits = last - first + 1;
	exp += (int64_t)(dlen[0] + dlen[1] - 1 - last);
	if (exp < 0)
		return JP_CONV_FRACTION;
	if ((int64_t)ndigits + exp > 20) /* 2^64 has 20 digits */
		return JP_CONV_RANGE;
	for (k = first; k <= last; k++) {
		unsigned d = (k < dlen[0] ? digits[0][k] : digits[1][k - dlen[0]]) - '0';

		if (*mag > (UINT64_MAX - d) / 10)
			return JP_CONV_RANGE;
		*mag = *mag * 10 + d;
	}
	for (; exp > 0; exp--) {
		if (*mag > UINT64_MAX / 10)
			return JP_CONV_RANGE;
		*mag *= 10;
	}
	return JP_CONV_OK;
}

enum jp_conv
jp_text_int64(const char *text, size_t len, int64_t *out)
{
	uint64_t mag;
	int neg;
	enum jp_conv rc = integer_of(text, len, &neg, &mag);

	if (rc != JP_CONV_OK)
		return rc;
	if (neg) {
		if (mag > (uint64_t)INT64_MAX + 1)
			return JP_CONV_RANGE;
		*out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	} else {
		if (mag > (uint64_t)INT64_MAX)
			return JP_CONV_RANGE;
		*out = (int64_t)mag;
	}
	return JP_CONV_OK;
}

enum jp_conv
jp_text_uint64(const char *text, size_t len, uint64_t *out)
{
	uint64_t mag;
	int neg;
	enum jp_conv rc = integer_of(text, len, &neg, &mag);

	if (rc != JP_CONV_OK)
		return rc;
	if (neg && mag != 0)
		return JP_CONV_RANGE;
	*out = mag;
	return JP_CONV_OK;
}

enum jp_conv
jp_int64(const struct jp_value *v, int64_t *out)
{
	if (v == NULL || v->type != JP_NUMBER)
		return JP_CONV_TYPE;
	return jp_text_int64(v->str, v->len, out);
}

enum jp_conv
jp_uint64(const struct jp_value *v, uint64_t *out)
{
	if (v == NULL || v->type != JP_NUMBER)
		return JP_CONV_TYPE;
	return jp_text_uint64(v->str, v->len, out);
}
