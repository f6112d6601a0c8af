/*
 * replmsg.c - writing and reading the messages of a replicated store
 * (replmsg.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replmsg.h"

void
rmw_init(struct replmsg_w *w)
{
	memset(w, 0, sizeof *w);
}

void
rmw_free(struct replmsg_w *w)
{
	free(w->buf);
	memset(w, 0, sizeof *w);
}

static unsigned char *
room(struct replmsg_w *w, size_t n)
{
	unsigned char *p;
	size_t cap;

	if (w->failed)
		return NULL;
	if (n > REPLMSG_MAX - w->len) {
		w->failed = 1;
		return NULL;
	}
	if (w->len + n > w->cap) {
		cap = w->cap ? w->cap : 256;
		while (cap < w->len + n)
			cap *= 2;
		if ((p = realloc(w->buf, cap)) == NULL) {
			w->failed = 1;
			return NULL;
		}
		w->buf = p;
		w->cap = cap;
	}
	p = w->buf + w->len;
	w->len += n;
	return p;
}

void
rmw_u8(struct replmsg_w *w, unsigned v)
{
	unsigned char *p = room(w, 1);

	if (p != NULL)
		p[0] = (unsigned char)v;
}

void
rmw_u32(struct replmsg_w *w, uint32_t v)
{
	unsigned char *p = room(w, 4);
	int i;

	for (i = 3; p != NULL && i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

void
rmw_u64(struct replmsg_w *w, uint64_t v)
{
	unsigned char *p = room(w, 8);
	int i;

	for (i = 7; p != NULL && i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

void
rmw_i64(struct replmsg_w *w, int64_t v)
{
	rmw_u64(w, (uint64_t)v);
}

void
rmw_bytes(struct replmsg_w *w, const void *src, size_t n)
{
	unsigned char *p = room(w, n);

	if (p != NULL && n > 0)
		memcpy(p, src, n);
}

void
rmw_str(struct replmsg_w *w, const char *s)
{
	size_t n = strlen(s) + 1;

	if (n > UINT32_MAX) {
		w->failed = 1;
		return;
	}
	rmw_u32(w, (uint32_t)n);
	rmw_bytes(w, s, n);
}

void
rmw_opt_str(struct replmsg_w *w, const char *s)
{
	rmw_u8(w, s != NULL);
	if (s != NULL)
		rmw_str(w, s);
}

void
rmw_request(struct replmsg_w *w, enum replmsg_kind kind)
{
	rmw_u8(w, REPLMSG_VERSION);
	rmw_u8(w, kind);
}

void
rmw_answer(struct replmsg_w *w, enum replmsg_status status, const char *msg)
{
	rmw_u8(w, REPLMSG_VERSION);
	rmw_u8(w, status);
	rmw_str(w, msg != NULL ? msg : "");
}

void
rmr_init(struct replmsg_r *r, const void *msg, size_t len)
{
	r->p = msg;
	r->left = msg != NULL ? len : 0;
	r->failed = msg == NULL;
}

static const unsigned char *
take(struct replmsg_r *r, size_t n)
{
	const unsigned char *p;

	if (r->failed || n > r->left) {
		r->failed = 1;
		return NULL;
	}
	p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

unsigned
rmr_u8(struct replmsg_r *r)
{
	const unsigned char *p = take(r, 1);

	return p != NULL ? p[0] : 0;
}

int
rmr_flag(struct replmsg_r *r)
{
	unsigned v = rmr_u8(r);

	if (v > 1) {
		r->failed = 1;
		return 0;
	}
	return (int)v;
}

uint32_t
rmr_u32(struct replmsg_r *r)
{
	const unsigned char *p = take(r, 4);
	uint32_t v = 0;
	int i;

	for (i = 0; p != NULL && i < 4; i++)
		v = v << 8 | p[i];
	return v;
}

uint64_t
rmr_u64(struct replmsg_r *r)
{
	const unsigned char *p = take(r, 8);
	uint64_t v = 0;
	int i;

	for (i = 0; p != NULL && i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int64_t
rmr_i64(struct replmsg_r *r)
{
	return (int64_t)rmr_u64(r);
}

uint32_t
rmr_count(struct replmsg_r *r, size_t item_min)
{
	uint32_t n = rmr_u32(r);

	if (r->failed || (item_min > 0 && n > r->left / item_min)) {
		r->failed = 1;
		return 0;
	}
	return n;
}

const void *
rmr_bytes(struct replmsg_r *r, size_t n)
{
	return take(r, n);
}

const char *
rmr_str(struct replmsg_r *r, size_t max)
{
	uint32_t n = rmr_u32(r);
	const unsigned char *p;

	if (r->failed || n == 0 || n - 1 > max || (p = take(r, n)) == NULL ||
	    p[n - 1] != '\0' || memchr(p, '\0', n - 1) != NULL) {
		r->failed = 1;
		return "";
	}
	return (const char *)p;
}

const char *
rmr_opt_str(struct replmsg_r *r, size_t max)
{
	unsigned present = rmr_u8(r);

	if (present > 1)
		r->failed = 1;
	return present == 1 ? rmr_str(r, max) : NULL;
}

int
rmr_done(const struct replmsg_r *r)
{
	return !r->failed && r->left == 0;
}

int
rmr_request(struct replmsg_r *r)
{
	unsigned v = rmr_u8(r), kind = rmr_u8(r);

	if (r->failed || v != REPLMSG_VERSION)
		return 0;
	switch (kind) {
	case RM_CATALOG:
	case RM_LEDGER:
	case RM_HISTORY:
	case RM_STATUS:
	case RM_GOSSIP:
	case RM_EXPIRING:
		return (int)kind;
	default:
		return 0;
	}
}

enum replmsg_status
rmr_answer(struct replmsg_r *r, const char **msg)
{
	unsigned v = rmr_u8(r), status = rmr_u8(r);

	*msg = rmr_str(r, REPLMSG_LINE_MAX);
	if (r->failed || v != REPLMSG_VERSION || status > RS_NOT_MASTER) {
		*msg = "a malformed answer";
		return RS_REFUSED;
	}
	return (enum replmsg_status)status;
}

void
rmw_expiring(struct replmsg_w *w, int64_t until_ms, const void *req, size_t len)
{
	rmw_request(w, RM_EXPIRING);
	rmw_i64(w, until_ms);
	rmw_bytes(w, req, len);
}

enum replmsg_route
replmsg_route(const void *msg, size_t len, int local, int64_t now_ms, struct replmsg_req *q)
{
	int64_t until;

	q->msg = msg;
	q->len = len;
	rmr_init(&q->r, msg, len);
	q->kind = rmr_request(&q->r);
	if (q->kind == RM_EXPIRING && !local) {
		until = rmr_i64(&q->r);
		if (q->r.failed)
			return RR_REFUSED;
		if (now_ms > until)
			return RR_EXPIRED;
		q->msg = q->r.p;
		q->len = q->r.left;
		rmr_init(&q->r, q->msg, q->len);
		q->kind = rmr_request(&q->r);
		/* a write between sites is wrapped once; a status is a local question */
		if (q->kind != RM_CATALOG && q->kind != RM_LEDGER && q->kind != RM_HISTORY &&
		    q->kind != RM_GOSSIP)
			return RR_REFUSED;
		return q->kind == RM_GOSSIP ? RR_GOSSIP : RR_WRITE;
	}
	switch (q->kind) {
	case RM_STATUS:
		/* a status request is its header alone */
		return local && rmr_done(&q->r) ? RR_STATUS : RR_REFUSED;
	case RM_GOSSIP:
		return local ? RR_REFUSED : RR_GOSSIP;
	case RM_CATALOG:
	case RM_LEDGER:
	case RM_HISTORY:
		/* another site's write comes with its expiry (forward) */
		return local ? RR_WRITE : RR_REFUSED;
	default:
		return RR_REFUSED;
	}
}

int
replmsg_answer_only(enum replmsg_status status, const char *msg, void **out, size_t *len)
{
	struct replmsg_w w;
	char line[REPLMSG_LINE_MAX + 1];

	snprintf(line, sizeof line, "%s", msg != NULL ? msg : "");
	rmw_init(&w);
	rmw_answer(&w, status, line);
	if (w.failed) {
		rmw_free(&w);
		*out = NULL;
		*len = 0;
		return -1;
	}
	*out = w.buf;
	*len = w.len;
	return 0;
}
