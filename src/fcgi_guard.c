/*
 * fcgi_guard.c - the FastCGI stream, checked before libfcgi reads it.
 *
 * A record is an 8-byte header (version, type, request id, content
 * length, padding length, reserved), its content and its padding; the
 * guard keeps the header bytes it has seen, then counts content and
 * padding down.  Inside PARAMS and FCGI_GET_VALUES content it reads each
 * name-value pair's two lengths (one byte below 128, else four bytes with
 * the high bit set) and skips the name and value without looking at them,
 * so a request costs a few operations per record and per param.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <fastcgi.h>

#include "fcgi_guard.h"

enum phase {
	PH_BEGIN,   /* before FCGI_BEGIN_REQUEST */
	PH_PARAMS,  /* reading the params */
	PH_DONE,    /* the empty PARAMS record arrived */
	PH_REFUSED
};

/* Where a name-value pair is: its length bytes one by one, then its body. */
enum pair_state {
	PAIR_NAME,            /* the first byte of the name's length: a new pair */
	PAIR_NAME_1, PAIR_NAME_2, PAIR_NAME_3,
	PAIR_VALUE,           /* the first byte of the value's length */
	PAIR_VALUE_1, PAIR_VALUE_2, PAIR_VALUE_3,
	PAIR_BODY             /* skipping name and value */
};

struct pair_limits {
	uint32_t name_max, value_max, count_max;
};

static const struct pair_limits params_limits = {
	FCGI_GUARD_NAME_MAX, FCGI_GUARD_VALUE_MAX, FCGI_GUARD_PAIRS_MAX
};
/* A GET_VALUES pair must also end within its record (checked as it is read). */
static const struct pair_limits values_limits = {
	FCGI_MAX_LENGTH, FCGI_MAX_LENGTH, FCGI_GUARD_GET_VALUES_MAX
};

#define NO_RECORD_BOUND UINT32_MAX

void
fcgi_guard_init(struct fcgi_guard *g)
{
	memset(g, 0, sizeof *g);
	g->phase = PH_BEGIN;
}

static void
refuse_limit(struct fcgi_guard *g, const char *why, uint32_t got, uint32_t max)
{
	g->phase = PH_REFUSED;
	g->why = why;
	g->why_got = got;
	g->why_max = max;
}

static void
refuse(struct fcgi_guard *g, const char *why, uint32_t got)
{
	refuse_limit(g, why, got, 0);
}

/*
 * Reads pair lengths from k content bytes.  record_left: content bytes
 * of the record from p on, for pairs that must end within it (or
 * NO_RECORD_BOUND).  Returns 0, or -1 when g was refused.
 */
static int
pairs_feed(struct fcgi_guard *g, struct fcgi_pairs *pr, const struct pair_limits *lim,
    const uint8_t *p, size_t k, uint32_t record_left)
{
	size_t i = 0, skip;
	uint32_t value_len;
	uint8_t b;

	while (i < k) {
		if (pr->state == PAIR_BODY) {
			skip = k - i < pr->body_left ? k - i : pr->body_left;
			pr->body_left -= (uint32_t)skip;
			i += skip;
			if (pr->body_left == 0)
				pr->state = PAIR_NAME;
			continue;
		}
		b = p[i++];
		switch (pr->state) {
		case PAIR_NAME:
			if (++pr->count > lim->count_max) {
				refuse_limit(g, "too many params", pr->count, lim->count_max);
				return -1;
			}
			/* FALLTHROUGH */
		case PAIR_VALUE:
			if (b & 0x80) {
				pr->len = b & 0x7fu;
				pr->state++;
				continue;
			}
			pr->len = b;
			pr->state = pr->state == PAIR_NAME ? PAIR_NAME_3 : PAIR_VALUE_3;
			break;
		default:
			pr->len = pr->len << 8 | b;
			break;
		}
		if (pr->state != PAIR_NAME_3 && pr->state != PAIR_VALUE_3) {
			pr->state++;
			continue;
		}
		/* a length is complete */
		if (pr->state == PAIR_NAME_3) {
			if (pr->len > lim->name_max) {
				refuse_limit(g, "param name too long", pr->len, lim->name_max);
				return -1;
			}
			pr->name_len = pr->len;
			pr->state = PAIR_VALUE;
			continue;
		}
		value_len = pr->len;
		if (value_len > lim->value_max) {
			refuse_limit(g, "param value too long", value_len, lim->value_max);
			return -1;
		}
		/* both at most FCGI_MAX_LENGTH here when bounded by a record */
		pr->body_left = pr->name_len + value_len;
		if (record_left != NO_RECORD_BOUND && pr->body_left > record_left - i) {
			refuse_limit(g, "FCGI_GET_VALUES pair longer than its record",
			    pr->body_left, (uint32_t)(record_left - i));
			return -1;
		}
		pr->state = pr->body_left > 0 ? PAIR_BODY : PAIR_NAME;
	}
	return 0;
}

/* A record header is complete: is this record allowed here? */
static void
record_start(struct fcgi_guard *g)
{
	const uint8_t *h = g->hdr;
	uint32_t len;

	if (h[0] != FCGI_VERSION_1) {
		refuse(g, "unsupported FastCGI version", h[0]);
		return;
	}
	g->type = h[1];
	g->id = (uint16_t)(h[2] << 8 | h[3]);
	g->content_len = g->content_left = (uint16_t)(h[4] << 8 | h[5]);
	g->pad_left = h[6];
	if (g->type == FCGI_GET_VALUES && g->id == FCGI_NULL_REQUEST_ID) {
		memset(&g->values, 0, sizeof g->values);
		return;
	}
	switch (g->phase) {
	case PH_BEGIN:
		if (g->type != FCGI_BEGIN_REQUEST || g->id == FCGI_NULL_REQUEST_ID) {
			refuse(g, "record type out of place before FCGI_BEGIN_REQUEST", g->type);
		} else if (g->content_left != sizeof g->begin) {
			refuse(g, "FCGI_BEGIN_REQUEST of the wrong length", g->content_left);
		} else if (g->pad_left != 0) {
			/* libfcgi does not skip this padding: it would read it as a header */
			refuse(g, "FCGI_BEGIN_REQUEST with padding", g->pad_left);
		}
		g->begin_have = 0;
		return;
	case PH_PARAMS:
		if (g->type != FCGI_PARAMS || g->id != g->request_id) {
			refuse(g, "record type out of place in the params", g->type);
			return;
		}
		if (g->content_len == 0) {
			/* the end: libfcgi reads none of its padding, nor what follows */
			if (g->params.state != PAIR_NAME)
				refuse(g, "params end inside a param", g->params.state);
			else
				g->phase = PH_DONE;
			return;
		}
		len = g->params_bytes + g->content_left;
		if (len > FCGI_GUARD_PARAMS_MAX) {
			refuse_limit(g, "params too large", len, FCGI_GUARD_PARAMS_MAX);
			return;
		}
		g->params_bytes = len;
		return;
	default:
		return;
	}
}

/* A record's content and padding are over. */
static void
record_end(struct fcgi_guard *g)
{
	uint16_t role;

	g->hdr_have = 0;
	if (g->type == FCGI_GET_VALUES && g->id == FCGI_NULL_REQUEST_ID) {
		if (g->values.state != PAIR_NAME)
			refuse(g, "FCGI_GET_VALUES record ends inside a pair", g->values.state);
		return;
	}
	if (g->phase == PH_BEGIN) {
		role = (uint16_t)(g->begin[0] << 8 | g->begin[1]);
		if (role != FCGI_RESPONDER && role != FCGI_AUTHORIZER) {
			refuse(g, "FastCGI role other than RESPONDER or AUTHORIZER", role);
			return;
		}
		g->role = role;
		g->request_id = g->id;
		g->phase = PH_PARAMS;
	}
}

/* Content bytes of the current record: k at most content_left. */
static void
content(struct fcgi_guard *g, const uint8_t *p, size_t k)
{
	if (g->type == FCGI_GET_VALUES && g->id == FCGI_NULL_REQUEST_ID)
		pairs_feed(g, &g->values, &values_limits, p, k, g->content_left);
	else if (g->phase == PH_BEGIN)
		memcpy(g->begin + g->begin_have, p, k), g->begin_have += (uint8_t)k;
	else
		pairs_feed(g, &g->params, &params_limits, p, k, NO_RECORD_BOUND);
	g->content_left -= (uint16_t)k;
}

static enum fcgi_guard_rc
result(const struct fcgi_guard *g)
{
	return g->phase == PH_REFUSED ? FCGI_GUARD_REFUSED :
	    g->phase == PH_DONE ? FCGI_GUARD_COMPLETE : FCGI_GUARD_MORE;
}

enum fcgi_guard_rc
fcgi_guard_feed(struct fcgi_guard *g, const void *data, size_t n)
{
	const uint8_t *p = data, *end = p + n;
	size_t k;

	while (p < end && (g->phase == PH_BEGIN || g->phase == PH_PARAMS)) {
		if (g->hdr_have < sizeof g->hdr) {
			k = sizeof g->hdr - g->hdr_have;
			k = k < (size_t)(end - p) ? k : (size_t)(end - p);
			memcpy(g->hdr + g->hdr_have, p, k);
			g->hdr_have += (uint8_t)k;
			p += k;
			if (g->hdr_have < sizeof g->hdr)
				break;
			record_start(g);
		} else if (g->content_left > 0) {
			k = g->content_left < (size_t)(end - p) ? g->content_left : (size_t)(end - p);
			content(g, p, k);
			p += k;
		} else {
			k = g->pad_left < (size_t)(end - p) ? g->pad_left : (size_t)(end - p);
			g->pad_left -= (uint8_t)k;
			p += k;
		}
		if (g->phase != PH_REFUSED && g->content_left == 0 && g->pad_left == 0)
			record_end(g);
	}
	return result(g);
}

const char *
fcgi_guard_reason(const struct fcgi_guard *g, char *buf, size_t len)
{
	if (g->phase != PH_REFUSED)
		snprintf(buf, len, "not refused");
	else if (g->why_max != 0)
		snprintf(buf, len, "%s (%u, limit %u)", g->why, g->why_got, g->why_max);
	else
		snprintf(buf, len, "%s (%u)", g->why, g->why_got);
	return buf;
}

unsigned
fcgi_guard_role(const struct fcgi_guard *g)
{
	return g->role;
}

unsigned
fcgi_guard_params(const struct fcgi_guard *g)
{
	return g->params.count;
}
