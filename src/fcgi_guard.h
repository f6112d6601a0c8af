/*
 * fcgi_guard.h - checks the bytes a FastCGI client sends, as they arrive,
 * before libfcgi parses them.
 *
 * libfcgi trusts what it reads: a param whose name and value lengths add
 * up past INT_MAX, or a FCGI_GET_VALUES record that asks for more than
 * three variables, aborts the process (a failed assertion, a smashed
 * stack), and a dead worker makes the next process to open the store run
 * recovery.  The guard follows the stream record by record and refuses,
 * with a reason, anything that is not the shape web servers send:
 *
 *   [GET_VALUES]* BEGIN_REQUEST ([GET_VALUES] | PARAMS)* empty PARAMS
 *
 * one request at a time, in the AUTHORIZER or RESPONDER role, with every
 * name-value pair (which may cross record boundaries) under the limits
 * below.  What follows the params (STDIN, which the authorizer never
 * reads) is not examined.  It allocates nothing and performs no I/O: the
 * caller feeds it the bytes it read, in chunks of any size, and refuses
 * the connection when it says so, before handing libfcgi those bytes.
 *
 * It stays in step with libfcgi only if it starts where libfcgi starts: on
 * a new connection, and again for each request of a kept connection
 * (libfcgi drops what it had buffered beyond the last request's params).
 */
#ifndef KEYGATE_FCGI_GUARD_H
#define KEYGATE_FCGI_GUARD_H

#include <stddef.h>
#include <stdint.h>

/*
 * 2 MiB of PARAMS content in one request, length bytes included.  Apache's
 * defaults let through at most 100 header lines of 8190 bytes (about
 * 800 KiB) and nginx's 4 buffers of 8 KiB; the CGI variables add a few
 * KiB.  libfcgi holds all of it in memory while the request is answered.
 */
#define FCGI_GUARD_PARAMS_MAX (2u << 20)
/*
 * 16 KiB for one param's name: a header name is part of one header line,
 * which Apache (LimitRequestFieldSize) and nginx (large_client_header_buffers)
 * cap at 8 KiB by default.
 */
#define FCGI_GUARD_NAME_MAX (16u << 10)
/*
 * 1 MiB for one value: Apache joins the lines of a repeated header into
 * one value with ", ", up to 100 lines of 8190 bytes.
 */
#define FCGI_GUARD_VALUE_MAX (1u << 20)
/*
 * 10,000 params in one request: Apache passes at most 100 header lines
 * (LimitRequestFields), nginx's default header buffers fit at most about
 * 8,000 minimal ones.  libfcgi allocates each param on its own.
 */
#define FCGI_GUARD_PAIRS_MAX 10000
/*
 * 3 variables in one FCGI_GET_VALUES record: libfcgi answers into a
 * 64-byte buffer that holds the three it knows (FCGI_MAX_CONNS,
 * FCGI_MAX_REQS, FCGI_MPXS_CONNS) and overflows with a fourth.
 */
#define FCGI_GUARD_GET_VALUES_MAX 3

enum fcgi_guard_rc {
	FCGI_GUARD_MORE,     /* fine so far: the params are not complete yet */
	FCGI_GUARD_COMPLETE, /* the params are complete; later bytes are not examined */
	FCGI_GUARD_REFUSED   /* close the connection; fcgi_guard_reason says why */
};

/* Name-value pairs: lengths are read byte by byte, names and values skipped. */
struct fcgi_pairs {
	uint8_t state;       /* which length byte comes next, or in a body */
	uint32_t len;        /* the length being read */
	uint32_t name_len;
	uint32_t body_left;  /* name and value bytes still to skip */
	uint32_t count;
};

struct fcgi_guard {
	uint8_t phase;           /* where the request is: see fcgi_guard.c */
	/* the record being read */
	uint8_t hdr[8];
	uint8_t hdr_have;        /* 8: inside a record's content or padding */
	uint8_t type;
	uint16_t id;
	uint16_t content_len;
	uint16_t content_left;
	uint8_t pad_left;
	uint8_t begin[8];        /* FCGI_BEGIN_REQUEST's body */
	uint8_t begin_have;
	/* the request */
	uint16_t request_id;
	uint16_t role;
	uint32_t params_bytes;
	struct fcgi_pairs params;
	struct fcgi_pairs values; /* the FCGI_GET_VALUES record being read */
	const char *why;         /* set when refused */
	uint32_t why_got, why_max; /* the number that was refused and its limit, if any */
};

/* Ready for the first byte of a connection, or of a kept connection's next request. */
void fcgi_guard_init(struct fcgi_guard *g);
/*
 * Checks the next n bytes of the stream.  Once refused, always refused;
 * once complete, complete until fcgi_guard_init.
 */
enum fcgi_guard_rc fcgi_guard_feed(struct fcgi_guard *g, const void *data, size_t n);
/* Why the stream was refused, e.g. "param name of 1342177280 bytes, limit 16384". */
const char *fcgi_guard_reason(const struct fcgi_guard *g, char *buf, size_t len);
/* The request's role, once its FCGI_BEGIN_REQUEST was read (0 before). */
unsigned fcgi_guard_role(const struct fcgi_guard *g);
/* The params read so far (libfcgi adds FCGI_ROLE to them). */
unsigned fcgi_guard_params(const struct fcgi_guard *g);

#endif
