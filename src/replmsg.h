/*
 * replmsg.h - the messages of a replicated store: what a process sends
 * its host's keygate-repd (repllink.h), and what a keygate-repd sends the
 * master's (repl.h), are one format.  Pure code: a writer that grows a
 * buffer and a reader that checks every length against what arrived, so
 * that a message cut short, padded or made up by a hostile peer is
 * refused, never read past.
 *
 *   request: version, kind, then the kind's body
 *   answer:  version, status, a message (one line), then the kind's body
 *
 * Integers are big-endian; a string is a 32-bit length that counts its
 * NUL, the bytes and the NUL (none inside), so that a reader hands out
 * pointers into the message; an optional string is a flag byte first.
 */
#ifndef KEYGATE_REPLMSG_H
#define KEYGATE_REPLMSG_H

#include <stddef.h>
#include <stdint.h>

#define REPLMSG_VERSION 1
/* The largest message: an import batch of 10,000 keys is about 1 MiB. */
#define REPLMSG_MAX (16u << 20)
#define REPLMSG_LINE_MAX 600 /* an answer's message, as the catalog's */

enum replmsg_kind {
	RM_CATALOG = 'C',  /* a catalog operation (catfwd.h) */
	RM_LEDGER = 'L',   /* a counter file's flush (ledger.h) */
	RM_HISTORY = 'H',  /* a process's usage history (tally.h) */
	RM_STATUS = 'S',   /* keygate repl status, to the host's keygate-repd */
	RM_GOSSIP = 'G',   /* a site's state to the master, the group's back */
	RM_EXPIRING = 'E'  /* between sites: a request the master must not start after a time */
};

enum replmsg_status {
	RS_OK = 0,         /* done: the body follows */
	RS_UNAVAILABLE,    /* no master (or no keygate-repd): nothing was done */
	RS_UNKNOWN,        /* sent, never answered: it may or may not have been done */
	RS_REFUSED,        /* a malformed or unknown request */
	RS_NOT_MASTER      /* between sites: no longer the master, ask again */
};

struct replmsg_w {
	unsigned char *buf;
	size_t len, cap;
	int failed; /* out of memory or over REPLMSG_MAX: the message is void */
};

void rmw_init(struct replmsg_w *w);
void rmw_free(struct replmsg_w *w);
void rmw_u8(struct replmsg_w *w, unsigned v);
void rmw_u32(struct replmsg_w *w, uint32_t v);
void rmw_u64(struct replmsg_w *w, uint64_t v);
void rmw_i64(struct replmsg_w *w, int64_t v);
void rmw_bytes(struct replmsg_w *w, const void *p, size_t n);
void rmw_str(struct replmsg_w *w, const char *s);
void rmw_opt_str(struct replmsg_w *w, const char *s); /* NULL: absent */
/* The start of a request or of an answer. */
void rmw_request(struct replmsg_w *w, enum replmsg_kind kind);
void rmw_answer(struct replmsg_w *w, enum replmsg_status status, const char *msg);

struct replmsg_r {
	const unsigned char *p;
	size_t left;
	int failed; /* something did not fit: every later read fails too */
};

void rmr_init(struct replmsg_r *r, const void *msg, size_t len);
unsigned rmr_u8(struct replmsg_r *r);
/* A flag: 0 or 1 (a writer's x != 0); any other byte fails the read and is 0. */
int rmr_flag(struct replmsg_r *r);
uint32_t rmr_u32(struct replmsg_r *r);
uint64_t rmr_u64(struct replmsg_r *r);
int64_t rmr_i64(struct replmsg_r *r);
/*
 * A count of items that take at least item_min bytes each: one that the
 * bytes left could not hold fails the read (and is 0), so that no count
 * from a message sizes an allocation the message does not back.
 */
uint32_t rmr_count(struct replmsg_r *r, size_t item_min);
#define REPLMSG_STR_MIN 5 /* the smallest string: its length and its NUL */
/* n bytes, or NULL */
const void *rmr_bytes(struct replmsg_r *r, size_t n);
/* at most max bytes before its NUL; "" and failed when it breaks a rule */
const char *rmr_str(struct replmsg_r *r, size_t max);
/* NULL when absent */
const char *rmr_opt_str(struct replmsg_r *r, size_t max);
/* Whether the whole message was read, and read right. */
int rmr_done(const struct replmsg_r *r);

/* A request's kind (0 when it is no request of this version). */
int rmr_request(struct replmsg_r *r);
/* An answer's status and message (RS_REFUSED when it is no answer). */
enum replmsg_status rmr_answer(struct replmsg_r *r, const char **msg);

/*
 * How keygate-repd takes a request, from a process of its host (local)
 * or, on the master, from another site.  A write between sites comes
 * wrapped in RM_EXPIRING: the time (ms since the epoch, on the sender's
 * clock) after which the master must not start it, then the request the
 * process sent.  Pure: what to do with it is the caller's.
 */
enum replmsg_route {
	RR_REFUSED,   /* malformed, unknown, or not one this side takes: RS_REFUSED */
	RR_EXPIRED,   /* a write its sender gave up on: RS_UNAVAILABLE, nothing done */
	RR_STATUS,    /* keygate repl status (local) */
	RR_GOSSIP,    /* a replica's state (another site): q->r at its body */
	RR_WRITE      /* RM_CATALOG, RM_LEDGER or RM_HISTORY (q->kind): q->r at its body */
};

struct replmsg_req {
	int kind;
	const unsigned char *msg; /* the request inside any wrapper: what a replica forwards */
	size_t len;
	struct replmsg_r r;
};

enum replmsg_route replmsg_route(const void *msg, size_t len, int local, int64_t now_ms,
    struct replmsg_req *q);
/* The RM_EXPIRING request around req (a whole request) for another site. */
void rmw_expiring(struct replmsg_w *w, int64_t until_ms, const void *req, size_t len);

/* A whole answer with no body: for refusals and unavailability. */
int replmsg_answer_only(enum replmsg_status status, const char *msg, void **out,
    size_t *len);

#endif
