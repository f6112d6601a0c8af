/*
 * json.h - JSON string escaping and a small streaming writer for the CLI's
 * --json output.  Output is always valid JSON: bytes that are not valid
 * UTF-8 become U+FFFD, control characters are escaped.
 */
#ifndef KEYGATE_JSON_H
#define KEYGATE_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Writes the escaped form of s[0..len) (without quotes) into out, NUL
 * terminated if cap > 0.  Returns the length the full escape needs; when
 * that is >= cap the output was cut and must not be used.
 */
size_t json_escape(const char *s, size_t len, char *out, size_t cap);

#define JSON_DEPTH 16

struct json {
	FILE *f;
	int depth;
	int first[JSON_DEPTH];
	int after_key;
};

void json_init(struct json *j, FILE *f);
void json_obj_begin(struct json *j);
void json_obj_end(struct json *j);
void json_arr_begin(struct json *j);
void json_arr_end(struct json *j);
void json_key(struct json *j, const char *k);
void json_str(struct json *j, const char *s);
void json_int(struct json *j, int64_t v);
void json_uint(struct json *j, uint64_t v);
void json_bool(struct json *j, int v);
void json_null(struct json *j);
/* key + string value, or null when s is NULL or empty and null_if_empty. */
void json_kv_str(struct json *j, const char *k, const char *s, int null_if_empty);
void json_kv_int(struct json *j, const char *k, int64_t v);
/* A time as ISO 8601 UTC, or null for 0. */
void json_kv_time(struct json *j, const char *k, int64_t t);

#endif
