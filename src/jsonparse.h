/*
 * jsonparse.h - a strict RFC 8259 parser for request bodies, into a small
 * tree held in an arena the caller makes once and reuses: no allocation per
 * value, per document, or per string.
 *
 * Strict means: only the RFC's grammar (no comments, no NaN or Infinity,
 * no leading zeros, no trailing commas, no byte order mark), one value and
 * nothing after it but the four whitespace bytes, UTF-8 only (no overlong
 * forms, no encoded surrogates, nothing past U+10FFFF), escapes only as
 * the RFC lists them with \u surrogate pairs combined and a lone or
 * reversed surrogate refused.  Two refusals go beyond the RFC, because
 * what keygate does with a document needs them:
 *   - a NUL in a string, raw or as \u0000: strings become C strings;
 *   - a member name twice in one object: the RFC leaves the meaning to
 *     the implementation, and two readers of one body must never see two
 *     different values.
 * Limits refuse the document; nothing is ever cut.
 *
 * Errors carry a code, the byte offset (from 0) where the problem is,
 * and a one-line message, "at byte 17: duplicate member \"name\"".  A
 * message never repeats the input, except a member name made safe by
 * jp_name_show().
 *
 * Usage (one arena per thread, reused for every body):
 *
 *	struct jp_arena *a = jp_arena_new(JP_INPUT_MAX, JP_VALUES_MAX);
 *	...
 *	const struct jp_value *doc, *bad;
 *	struct jp_error e;
 *	static const char *const fields[] = {"name", "scopes", NULL};
 *
 *	if ((doc = jp_parse(a, body, len, &e)) == NULL)
 *		-> 400 with e.msg
 *	if (doc->type != JP_OBJECT) -> 400
 *	if (jp_object_only(doc, fields, &bad) != 0)
 *		-> 400 "unknown field" with jp_name_show(bad->name, ...)
 *	name = jp_get(doc, "name");
 *	...
 *	jp_arena_free(a);
 *
 * The tree lives in the arena: it is valid until the next jp_parse() on
 * the same arena, or jp_arena_free().
 */
#ifndef KEYGATE_JSONPARSE_H
#define KEYGATE_JSONPARSE_H

#include <stddef.h>
#include <stdint.h>

/* 64 KiB: the API's body limit (a larger body is a 413 before parsing). */
#define JP_INPUT_MAX 65536
/*
 * Containers inside containers.  API bodies nest two levels (an object
 * holding arrays of strings); 16 leaves room and bounds the parser's
 * recursion, whatever the input.
 */
#define JP_DEPTH_MAX 16
/*
 * Values in one document, containers included.  The largest API body, a
 * key with RULES_MAX allow and RULES_MAX deny rules and every scope,
 * holds fewer than 100; 4096 leaves room for lists and bounds an arena
 * at about 300 KiB.
 */
#define JP_VALUES_MAX 4096
/*
 * Bytes of one decoded string or member name.  The longest value an API
 * field takes is a request path for /v1/verify, which the authorizer
 * refuses beyond PATH_NORM_MAX (8 KiB) anyway.
 */
#define JP_STRING_MAX 8192
/* The most of a member name an error message shows. */
#define JP_NAME_SHOWN 32
/* Room for jp_name_show()'s output: the name, an ellipsis, the NUL. */
#define JP_NAME_BUF (JP_NAME_SHOWN + 4)
/* Room for an error message: the fixed texts, an offset, a shown name. */
#define JP_MSG_MAX 128

enum jp_type {
	JP_NULL,
	JP_FALSE,
	JP_TRUE,
	JP_NUMBER,
	JP_STRING,
	JP_ARRAY,
	JP_OBJECT
};

struct jp_value {
	enum jp_type type;
	uint32_t offset;      /* where the value starts in the input */
	uint32_t name_offset; /* a member: where its name starts */
	/* JP_STRING, JP_NUMBER: bytes in str; JP_ARRAY, JP_OBJECT: children */
	uint32_t len;
	/*
	 * JP_STRING: the decoded UTF-8, NUL-terminated (it holds no other NUL);
	 * JP_NUMBER: the number's text as the input wrote it, NUL-terminated.
	 */
	const char *str;
	/* A member of an object: its decoded name.  NULL otherwise. */
	const char *name;
	const struct jp_value *child; /* JP_ARRAY, JP_OBJECT: the first one */
	const struct jp_value *next;  /* the next in the same container */
};

enum jp_code {
	JP_OK = 0,
	JP_E_EMPTY,       /* no value at all (empty, or only whitespace) */
	JP_E_TOO_LARGE,   /* the input is longer than the arena takes */
	JP_E_DEPTH,       /* nested deeper than JP_DEPTH_MAX */
	JP_E_VALUES,      /* more values than the arena holds */
	JP_E_STRING_LONG, /* a string or name decodes to more than JP_STRING_MAX */
	JP_E_SYNTAX,      /* a byte the grammar does not allow there */
	JP_E_END,         /* the input ends inside a value */
	JP_E_TRAILING,    /* something other than whitespace after the value */
	JP_E_NUMBER,      /* a number against the grammar: 01, 1., -, 1e */
	JP_E_ESCAPE,      /* a backslash escape the RFC does not list */
	JP_E_SURROGATE,   /* a \u surrogate not in a high-low pair */
	JP_E_CONTROL,     /* a raw control character (< 0x20) in a string */
	JP_E_UTF8,        /* a string's bytes are not valid UTF-8 */
	JP_E_NUL,         /* a NUL in a string, raw or \u0000 */
	JP_E_DUPLICATE    /* a member name twice in one object */
};

struct jp_error {
	enum jp_code code;
	size_t offset;
	char msg[JP_MSG_MAX];
};

struct jp_arena;

/*
 * An arena for documents of up to input_max bytes and values_max values
 * (each at most the JP_ limit): one allocation.  NULL when out of memory
 * or a size is 0 or beyond its limit.
 */
struct jp_arena *jp_arena_new(size_t input_max, size_t values_max);
void jp_arena_free(struct jp_arena *a);

/*
 * Parses in[0..len) (not necessarily NUL-terminated; the arena keeps
 * copies of what the tree needs).  The root value, or NULL with *err set.
 * Anything the tree of a previous parse on this arena held is gone.
 */
const struct jp_value *jp_parse(struct jp_arena *a, const char *in, size_t len,
    struct jp_error *err);

/* The member called name of obj, or NULL (also when obj is no object). */
const struct jp_value *jp_get(const struct jp_value *obj, const char *name);
/*
 * The API's rule that unknown fields are an error: 0 when every member of
 * obj is named in allowed (NULL-terminated; NULL: none), otherwise -1 with *bad the
 * first member in the document's order that is not (NULL when obj is not
 * an object).
 */
int jp_object_only(const struct jp_value *obj, const char *const allowed[],
    const struct jp_value **bad);
/*
 * A member name as a message may show it: at most JP_NAME_SHOWN bytes of
 * printable ASCII (anything else, quotes and backslashes included, shown
 * as '?'), a key-shaped part cut to its display prefix (apikey_redact),
 * an ellipsis where it was cut.  out has room for JP_NAME_BUF bytes.
 */
const char *jp_name_show(const char *name, char out[JP_NAME_BUF]);
/* "string", "object", ...: for messages. */
const char *jp_type_name(enum jp_type t);

/*
 * Exact conversions of a number to an integer: the number's value must be
 * an integer, whatever its form (1, 1.0, 1e2, 1.5e1, 100e-2 and -0 are;
 * 1.5 and 1e-1 are not), within the type's range (1e999 is not).
 */
enum jp_conv {
	JP_CONV_OK,
	JP_CONV_TYPE,     /* not a number */
	JP_CONV_FRACTION, /* a number, not an integer */
	JP_CONV_RANGE     /* an integer beyond the type's range */
};
enum jp_conv jp_int64(const struct jp_value *v, int64_t *out);
enum jp_conv jp_uint64(const struct jp_value *v, uint64_t *out);
/* The same on a number's text: JP_CONV_TYPE unless it is a JSON number. */
enum jp_conv jp_text_int64(const char *text, size_t len, int64_t *out);
enum jp_conv jp_text_uint64(const char *text, size_t len, uint64_t *out);

#endif
