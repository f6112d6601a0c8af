/*
 * json.c - escaping and the --json writer.  A writer's FILE belongs to one
 * thread (the CLI's stdout, a keygate-api worker's answer buffer), so
 * characters go out with putc_unlocked: fputc took the stream's lock for
 * each one, 5% of a keygate-api verify.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "parse.h"

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if invalid. */
static size_t
utf8_seq(const unsigned char *s, size_t len)
{
	size_t n, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		n = 2, cp = s[0] & 0x1F;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		n = 3, cp = s[0] & 0x0F;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	/* overlong forms, UTF-16 surrogates, beyond U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
		return 0;
	return n;
}

size_t
json_escape(const char *str, size_t len, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, o = 0;

#define EMIT(c) do { char ch_ = (char)(c); if (o + 1 < cap) out[o] = ch_; o++; } while (0)
	while (i < len) {
		unsigned char c = s[i];
		size_t n;

		switch (c) {
		case '"': EMIT('\\'); EMIT('"'); i++; continue;
		case '\\': EMIT('\\'); EMIT('\\'); i++; continue;
		case '\n': EMIT('\\'); EMIT('n'); i++; continue;
		case '\r': EMIT('\\'); EMIT('r'); i++; continue;
		case '\t': EMIT('\\'); EMIT('t'); i++; continue;
		case '\b': EMIT('\\'); EMIT('b'); i++; continue;
		case '\f': EMIT('\\'); EMIT('f'); i++; continue;
		default: break;
		}
		if (c < 0x20 || c == 0x7f) {
			EMIT('\\'); EMIT('u'); EMIT('0'); EMIT('0');
			EMIT(hex[c >> 4]); EMIT(hex[c & 15]);
			i++;
			continue;
		}
		n = utf8_seq(s + i, len - i);
		if (n == 0) {
			const char *rep = "\\ufffd";
			while (*rep)
				EMIT(*rep++);
			i++;
			continue;
		}
		while (n--)
			EMIT((char)s[i++]);
	}
#undef EMIT
	if (cap > 0)
		out[o < cap ? o : cap - 1] = '\0';
	return o;
}

void
json_init(struct json *j, FILE *f)
{
	memset(j, 0, sizeof *j);
	j->f = f;
	j->first[0] = 1;
}

static void
sep(struct json *j)
{
	if (j->after_key) {
		j->after_key = 0;
		return;
	}
	if (!j->first[j->depth])
		putc_unlocked(',', j->f);
	j->first[j->depth] = 0;
}

static void
push(struct json *j, char c)
{
	sep(j);
	putc_unlocked(c, j->f);
	if (j->depth + 1 < JSON_DEPTH)
		j->depth++;
	j->first[j->depth] = 1;
}

static void
pop(struct json *j, char c)
{
	putc_unlocked(c, j->f);
	if (j->depth > 0)
		j->depth--;
	if (j->depth == 0)
		putc_unlocked('\n', j->f);
}

void json_obj_begin(struct json *j) { push(j, '{'); }
void json_obj_end(struct json *j) { pop(j, '}'); }
void json_arr_begin(struct json *j) { push(j, '['); }
void json_arr_end(struct json *j) { pop(j, ']'); }

/*
 * A string in pieces of at most WRITE_PIECE input bytes, each escaped into
 * a buffer on the stack: no allocation, so no string can go missing from
 * an answer when memory is short.  A piece never ends inside a UTF-8
 * sequence (it takes the continuation bytes that follow its end), so the
 * pieces escape exactly as the whole string would.
 */
#define WRITE_PIECE 64

static void
write_string(FILE *f, const char *s)
{
	char buf[(WRITE_PIECE + 3) * 6 + 1]; /* \u00XX is the longest escape of a byte */
	size_t len = strlen(s), at = 0, n;

	putc_unlocked('"', f);
	while (at < len) {
		n = len - at < WRITE_PIECE ? len - at : WRITE_PIECE;
		while (at + n < len && n < WRITE_PIECE + 3 &&
		    ((unsigned char)s[at + n] & 0xC0) == 0x80)
			n++;
		json_escape(s + at, n, buf, sizeof buf);
		fputs(buf, f);
		at += n;
	}
	putc_unlocked('"', f);
}

void
json_key(struct json *j, const char *k)
{
	sep(j);
	write_string(j->f, k);
	putc_unlocked(':', j->f);
	j->after_key = 1;
}

void
json_str(struct json *j, const char *s)
{
	sep(j);
	write_string(j->f, s);
}

void
json_int(struct json *j, int64_t v)
{
	sep(j);
	fprintf(j->f, "%lld", (long long)v);
}

void
json_uint(struct json *j, uint64_t v)
{
	sep(j);
	fprintf(j->f, "%llu", (unsigned long long)v);
}

void
json_bool(struct json *j, int v)
{
	sep(j);
	fputs(v ? "true" : "false", j->f);
}

void
json_null(struct json *j)
{
	sep(j);
	fputs("null", j->f);
}

void
json_kv_str(struct json *j, const char *k, const char *s, int null_if_empty)
{
	json_key(j, k);
	if (s == NULL || (null_if_empty && *s == '\0'))
		json_null(j);
	else
		json_str(j, s);
}

void
json_kv_int(struct json *j, const char *k, int64_t v)
{
	json_key(j, k);
	json_int(j, v);
}

void
json_kv_time(struct json *j, const char *k, int64_t t)
{
	char buf[32];

	json_key(j, k);
	if (t == 0)
		json_null(j);
	else
		json_str(j, format_time(t, buf, sizeof buf));
}
