/*
 * fcgiclient.c - the FastCGI client side, written from the specification
 * (FastCGI 1.0) so the tests do not lean on the libfcgi they exercise.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fcgiclient.h"

#define FCGI_VERSION_1		1
#define FCGI_HEADER_LEN		8
#define FCGI_KEEP_CONN		1
/* The contentLength field is 16 bits. */
#define FCGI_MAX_CONTENT	65535

enum fcgi_type {
	FCGI_BEGIN_REQUEST = 1,
	FCGI_ABORT_REQUEST,
	FCGI_END_REQUEST,
	FCGI_PARAMS,
	FCGI_STDIN,
	FCGI_STDOUT,
	FCGI_STDERR
};

/* Room for any whole record, so most responses take one peek. */
#define RECV_CHUNK		(FCGI_MAX_CONTENT + 255 + FCGI_HEADER_LEN)
/* A larger send buffer is freed after use rather than kept per thread. */
#define SENDBUF_KEEP		(1024 * 1024)

static _Thread_local char		errmsg[256];
static _Thread_local enum fcgic_err	errcode;
static _Thread_local struct fcgic_buf	sendbuf;

static int seterr(enum fcgic_err, const char *, ...)
    __attribute__((format(printf, 2, 3)));

/* Record a failure for fcgic_strerror; always -1 so callers can return it. */
static int
seterr(enum fcgic_err code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof errmsg, fmt, ap);
	va_end(ap);
	errcode = code;
	return -1;
}

const char *
fcgic_strerror(void)
{
	return errcode == FCGIC_E_NONE ? "no error" : errmsg;
}

enum fcgic_err
fcgic_errcode(void)
{
	return errcode;
}

/* Make room for n more bytes plus the NUL kept after the data. */
static int
buf_reserve(struct fcgic_buf *b, size_t n)
{
	unsigned char *d;
	size_t need, cap;

	if (n > SIZE_MAX - 1 - b->len)
		return seterr(FCGIC_E_NOMEM, "buffer size overflow");
	need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if ((d = realloc(b->data, cap)) == NULL)
		return seterr(FCGIC_E_NOMEM, "out of memory (%zu bytes)", cap);
	b->data = d;
	b->cap = cap;
	return 0;
}

static int
buf_append(struct fcgic_buf *b, const void *data, size_t n)
{
	if (buf_reserve(b, n) == -1)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
fcgic_buf_append(struct fcgic_buf *b, const void *data, size_t n)
{
	return buf_append(b, data, n);
}

void
fcgic_buf_free(struct fcgic_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* Connections */

static int
connect_unix(const char *path)
{
	struct sockaddr_un sa;
	size_t len = strlen(path);
	int fd;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (len == 0 || len >= sizeof sa.sun_path)
		return seterr(FCGIC_E_USAGE, "bad unix socket path: %s", path);
	memcpy(sa.sun_path, path, len + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return seterr(FCGIC_E_IO, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1) {
		seterr(FCGIC_E_CONNECT, "connect unix:%s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* "HOST:PORT" or "[V6]:PORT"; a bare IPv6 address would be ambiguous. */
static int
split_hostport(const char *addr, char *host, size_t hostsz, const char **port)
{
	const char *h = addr, *end;

	if (*addr == '[') {
		h = addr + 1;
		if ((end = strchr(h, ']')) == NULL || end[1] != ':')
			return seterr(FCGIC_E_USAGE, "bad address: %s", addr);
		*port = end + 2;
	} else {
		if ((end = strrchr(addr, ':')) == NULL)
			return seterr(FCGIC_E_USAGE,
			    "address is neither unix:PATH nor HOST:PORT: %s",
			    addr);
		if (memchr(addr, ':', end - addr) != NULL)
			return seterr(FCGIC_E_USAGE,
			    "IPv6 address needs brackets: %s", addr);
		*port = end + 1;
	}
	if (end == h || **port == '\0' || (size_t)(end - h) >= hostsz)
		return seterr(FCGIC_E_USAGE, "bad address: %s", addr);
	memcpy(host, h, end - h);
	host[end - h] = '\0';
	return 0;
}

static int
connect_tcp(const char *addr)
{
	struct addrinfo hints, *res, *ai;
	char host[256];
	const char *port = NULL;
	int fd = -1, rc, saved = 0, one = 1;

	if (split_hostport(addr, host, sizeof host, &port) == -1)
		return -1;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0)
		return seterr(FCGIC_E_CONNECT, "%s: %s", addr,
		    gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd != -1 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		saved = errno;
		if (fd != -1)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		return seterr(FCGIC_E_CONNECT, "connect %s: %s", addr,
		    strerror(saved));
	/* A request is written whole; Nagle would only delay the next one. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == -1) {
		seterr(FCGIC_E_IO, "TCP_NODELAY: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int
fcgic_connect(const char *addr)
{
	if (strncmp(addr, "unix:", 5) == 0)
		return connect_unix(addr + 5);
	return connect_tcp(addr);
}

int
fcgic_set_send_timeout(int fd, int ms)
{
	struct timeval tv;

	if (ms < 0)
		return seterr(FCGIC_E_USAGE, "negative timeout");
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == -1)
		return seterr(FCGIC_E_IO, "SO_SNDTIMEO: %s", strerror(errno));
	return 0;
}

/* Params */

void
fcgic_params_init(struct fcgic_params *p)
{
	memset(p, 0, sizeof *p);
}

/* The 1-byte length form below 128, else 4 bytes with the high bit set. */
static unsigned char *
put_length(unsigned char *d, size_t n)
{
	if (n < 128) {
		*d++ = (unsigned char)n;
		return d;
	}
	*d++ = (unsigned char)((n >> 24) | 0x80);
	*d++ = (unsigned char)(n >> 16);
	*d++ = (unsigned char)(n >> 8);
	*d++ = (unsigned char)n;
	return d;
}

void *
fcgic_params_add_space(struct fcgic_params *p, const void *name,
    size_t namelen, size_t valuelen)
{
	unsigned char *d;

	if (namelen > FCGIC_MAX_LENGTH || valuelen > FCGIC_MAX_LENGTH) {
		seterr(FCGIC_E_USAGE, "param longer than %u bytes",
		    FCGIC_MAX_LENGTH);
		return NULL;
	}
	if (valuelen > SIZE_MAX - 8 - namelen) {
		seterr(FCGIC_E_NOMEM, "param too large for memory");
		return NULL;
	}
	if (buf_reserve(&p->enc, 8 + namelen + valuelen) == -1)
		return NULL;
	d = p->enc.data + p->enc.len;
	d = put_length(d, namelen);
	d = put_length(d, valuelen);
	if (namelen > 0)
		memcpy(d, name, namelen);
	d += namelen;
	p->enc.len = d + valuelen - p->enc.data;
	p->enc.data[p->enc.len] = '\0';
	p->count++;
	return d;
}

int
fcgic_params_add(struct fcgic_params *p, const void *name, size_t namelen,
    const void *value, size_t valuelen)
{
	unsigned char *d;

	if ((d = fcgic_params_add_space(p, name, namelen, valuelen)) == NULL)
		return -1;
	if (valuelen > 0)
		memcpy(d, value, valuelen);
	return 0;
}

int
fcgic_params_add_str(struct fcgic_params *p, const char *name,
    const char *value)
{
	return fcgic_params_add(p, name, strlen(name), value, strlen(value));
}

void
fcgic_params_clear(struct fcgic_params *p)
{
	p->enc.len = 0;
	p->count = 0;
}

void
fcgic_params_free(struct fcgic_params *p)
{
	fcgic_buf_free(&p->enc);
	p->count = 0;
}

/* Requests */

static unsigned char *
put_header(unsigned char *d, int type, uint16_t id, size_t len)
{
	d[0] = FCGI_VERSION_1;
	d[1] = (unsigned char)type;
	d[2] = (unsigned char)(id >> 8);
	d[3] = (unsigned char)id;
	d[4] = (unsigned char)(len >> 8);
	d[5] = (unsigned char)len;
	d[6] = 0;	/* no padding: alignment is only a recommendation */
	d[7] = 0;
	return d + FCGI_HEADER_LEN;
}

/* Bytes to send len bytes as a stream: its records and the empty one. */
static size_t
stream_size(size_t len)
{
	size_t records = len / FCGI_MAX_CONTENT + (len % FCGI_MAX_CONTENT != 0);

	return len + (records + 1) * FCGI_HEADER_LEN;
}

/*
 * Records split at the size limit regardless of pair boundaries, as the
 * stream is a byte stream: a big param crosses records as with nginx.
 */
static unsigned char *
put_stream(unsigned char *d, int type, uint16_t id, const unsigned char *s,
    size_t len)
{
	size_t n;

	while (len > 0) {
		n = len < FCGI_MAX_CONTENT ? len : FCGI_MAX_CONTENT;
		d = put_header(d, type, id, n);
		memcpy(d, s, n);
		d += n;
		s += n;
		len -= n;
	}
	return put_header(d, type, id, 0);
}

int
fcgic_build(struct fcgic_buf *out, uint16_t request_id, int role,
    int keep_conn, const struct fcgic_params *p, const void *stdin_data,
    size_t stdin_len, int send_stdin)
{
	const unsigned char *pdata = p != NULL ? p->enc.data : NULL;
	size_t plen = p != NULL ? p->enc.len : 0, total;
	unsigned char *d;

	if (role < 0 || role > 0xffff)
		return seterr(FCGIC_E_USAGE, "role %d out of range", role);
	if (!send_stdin)
		stdin_len = 0;
	/* Each stream grows by well under 1%; half of SIZE_MAX is headroom. */
	if (plen > SIZE_MAX / 4 || stdin_len > SIZE_MAX / 4)
		return seterr(FCGIC_E_NOMEM, "request too large");
	total = 2 * FCGI_HEADER_LEN + stream_size(plen);
	if (send_stdin)
		total += stream_size(stdin_len);
	if (buf_reserve(out, total) == -1)
		return -1;
	d = put_header(out->data + out->len, FCGI_BEGIN_REQUEST, request_id,
	    FCGI_HEADER_LEN);
	d[0] = (unsigned char)(role >> 8);
	d[1] = (unsigned char)role;
	d[2] = keep_conn ? FCGI_KEEP_CONN : 0;
	memset(d + 3, 0, 5);
	d += FCGI_HEADER_LEN;
	d = put_stream(d, FCGI_PARAMS, request_id, pdata, plen);
	if (send_stdin)
		d = put_stream(d, FCGI_STDIN, request_id, stdin_data,
		    stdin_len);
	out->len = d - out->data;
	out->data[out->len] = '\0';
	return 0;
}

int
fcgic_write_all(int fd, const void *data, size_t len)
{
	const unsigned char *s = data;
	ssize_t n;

	while (len > 0) {
		/* MSG_NOSIGNAL: a server that hangs up must not kill us. */
		if ((n = send(fd, s, len, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return seterr(FCGIC_E_TIMEOUT,
				    "send timed out, %zu bytes unsent", len);
			if (errno == EPIPE || errno == ECONNRESET)
				return seterr(FCGIC_E_CLOSED,
				    "send: %s, %zu bytes unsent",
				    strerror(errno), len);
			return seterr(FCGIC_E_IO, "send: %s", strerror(errno));
		}
		s += n;
		len -= n;
	}
	return 0;
}

int
fcgic_send(int fd, uint16_t request_id, int role, int keep_conn,
    const struct fcgic_params *p, const void *stdin_data, size_t stdin_len,
    int send_stdin)
{
	int rc;

	sendbuf.len = 0;
	rc = fcgic_build(&sendbuf, request_id, role, keep_conn, p, stdin_data,
	    stdin_len, send_stdin);
	if (rc == 0)
		rc = fcgic_write_all(fd, sendbuf.data, sendbuf.len);
	if (sendbuf.cap > SENDBUF_KEEP)
		fcgic_buf_free(&sendbuf);
	return rc;
}

void
fcgic_thread_cleanup(void)
{
	fcgic_buf_free(&sendbuf);
}

/* Responses */

void
fcgic_response_init(struct fcgic_response *r)
{
	memset(r, 0, sizeof *r);
}

void
fcgic_response_reset(struct fcgic_response *r)
{
	r->out.len = 0;
	r->err.len = 0;
	if (r->out.data != NULL)
		r->out.data[0] = '\0';
	if (r->err.data != NULL)
		r->err.data[0] = '\0';
	r->app_status = 0;
	r->protocol_status = 0;
	r->out_closed = r->err_closed = 0;
}

void
fcgic_response_free(struct fcgic_response *r)
{
	fcgic_buf_free(&r->out);
	fcgic_buf_free(&r->err);
	fcgic_response_init(r);
}

/*
 * A record parser fed arbitrary slices of the byte stream, so partial
 * reads need no special case.  It stops right after the END_REQUEST of
 * the awaited id, padding included.
 */
struct reader {
	uint16_t	 id;
	int		 in_record;
	unsigned char	 hdr[FCGI_HEADER_LEN];
	size_t		 hdr_have;
	int		 type;
	int		 mine;		/* the record is for id */
	size_t		 content_left;
	size_t		 pad_left;
	unsigned char	 end[8];
	size_t		 end_have;
	int		 done;
	size_t		 seen;		/* bytes parsed, for error messages */
};

static int
reader_header(struct reader *rd, struct fcgic_response *r)
{
	const unsigned char *h = rd->hdr;
	uint16_t id = (uint16_t)(h[2] << 8 | h[3]);

	if (h[0] != FCGI_VERSION_1)
		return seterr(FCGIC_E_PROTOCOL,
		    "record version %u at byte %zu", h[0],
		    rd->seen - FCGI_HEADER_LEN);
	rd->type = h[1];
	rd->mine = id == rd->id;
	rd->content_left = (size_t)h[4] << 8 | h[5];
	rd->pad_left = h[6];
	rd->end_have = 0;
	rd->in_record = 1;
	if (!rd->mine)
		return 0;
	if (rd->type == FCGI_END_REQUEST && rd->content_left != 8)
		return seterr(FCGIC_E_PROTOCOL,
		    "END_REQUEST with contentLength %zu", rd->content_left);
	if (rd->content_left == 0 && rd->type == FCGI_STDOUT)
		r->out_closed = 1;
	if (rd->content_left == 0 && rd->type == FCGI_STDERR)
		r->err_closed = 1;
	return 0;
}

static int
reader_content(struct reader *rd, struct fcgic_response *r,
    const unsigned char *s, size_t n)
{
	if (!rd->mine)
		return 0;
	switch (rd->type) {
	case FCGI_STDOUT:
		return buf_append(&r->out, s, n);
	case FCGI_STDERR:
		return buf_append(&r->err, s, n);
	case FCGI_END_REQUEST:
		memcpy(rd->end + rd->end_have, s, n);
		rd->end_have += n;
		return 0;
	default:
		return 0;	/* unknown or unexpected types are skipped */
	}
}

static void
reader_record_done(struct reader *rd, struct fcgic_response *r)
{
	const unsigned char *e = rd->end;

	rd->in_record = 0;
	rd->hdr_have = 0;
	if (!rd->mine || rd->type != FCGI_END_REQUEST)
		return;
	r->app_status = (uint32_t)e[0] << 24 | (uint32_t)e[1] << 16 |
	    (uint32_t)e[2] << 8 | e[3];
	r->protocol_status = e[4];
	rd->done = 1;
}

/* Parse up to n bytes; *used tells how many belong before the end. */
static int
reader_feed(struct reader *rd, struct fcgic_response *r,
    const unsigned char *s, size_t n, size_t *used)
{
	size_t off = 0, k;

	while (off < n && !rd->done) {
		if (!rd->in_record) {
			k = FCGI_HEADER_LEN - rd->hdr_have;
			k = k < n - off ? k : n - off;
			memcpy(rd->hdr + rd->hdr_have, s + off, k);
			rd->hdr_have += k;
			off += k;
			rd->seen += k;
			if (rd->hdr_have < FCGI_HEADER_LEN)
				break;
			if (reader_header(rd, r) == -1)
				return -1;
		} else if (rd->content_left > 0) {
			k = rd->content_left < n - off ? rd->content_left :
			    n - off;
			if (reader_content(rd, r, s + off, k) == -1)
				return -1;
			rd->content_left -= k;
			off += k;
			rd->seen += k;
		} else {
			k = rd->pad_left < n - off ? rd->pad_left : n - off;
			rd->pad_left -= k;
			off += k;
			rd->seen += k;
		}
		if (rd->in_record && rd->content_left == 0 &&
		    rd->pad_left == 0)
			reader_record_done(rd, r);
	}
	*used = off;
	return 0;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* deadline < 0: wait for ever. */
static int
wait_readable(int fd, int64_t deadline, int timeout_ms,
    const struct reader *rd)
{
	struct pollfd pfd;
	int64_t left;
	int ms, rc;

	for (;;) {
		ms = -1;
		if (deadline >= 0) {
			if ((left = deadline - now_ms()) <= 0)
				return seterr(FCGIC_E_TIMEOUT,
				    "no END_REQUEST within %d ms "
				    "(%zu bytes received)", timeout_ms,
				    rd->seen);
			ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if ((rc = poll(&pfd, 1, ms)) > 0)
			return 0;
		if (rc == -1 && errno != EINTR)
			return seterr(FCGIC_E_IO, "poll: %s", strerror(errno));
	}
}

/*
 * Drop the n bytes already parsed from the socket.  They are known to
 * be there, so this never blocks.
 */
static int
consume(int fd, unsigned char *scratch, size_t n)
{
	ssize_t got;

	while (n > 0) {
		if ((got = recv(fd, scratch, n, MSG_DONTWAIT)) == -1) {
			if (errno == EINTR)
				continue;
			return seterr(FCGIC_E_IO, "recv: %s", strerror(errno));
		}
		if (got == 0)
			return seterr(FCGIC_E_IO, "peeked bytes vanished");
		n -= got;
	}
	return 0;
}

/*
 * Peek, parse, then consume exactly what was parsed: one or two system
 * calls per response, never a byte of the next response read ahead, and
 * no buffer to carry between calls.  Sockets only (MSG_PEEK).
 */
int
fcgic_recv(int fd, uint16_t request_id, struct fcgic_response *r,
    int timeout_ms)
{
	static _Thread_local unsigned char buf[RECV_CHUNK];
	struct reader rd;
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	ssize_t n;
	size_t used;

	fcgic_response_reset(r);
	memset(&rd, 0, sizeof rd);
	rd.id = request_id;
	while (!rd.done) {
		/* With no deadline a blocking peek spares the poll. */
		if (deadline >= 0 &&
		    wait_readable(fd, deadline, timeout_ms, &rd) == -1)
			return -1;
		n = recv(fd, buf, sizeof buf,
		    MSG_PEEK | (deadline >= 0 ? MSG_DONTWAIT : 0));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (deadline < 0 && wait_readable(fd, -1,
				    timeout_ms, &rd) == -1)
					return -1;
				continue;
			}
			if (errno == ECONNRESET)
				return seterr(FCGIC_E_CLOSED,
				    "connection reset after %zu bytes, "
				    "before END_REQUEST", rd.seen);
			return seterr(FCGIC_E_IO, "recv: %s", strerror(errno));
		}
		if (n == 0)
			return seterr(FCGIC_E_CLOSED,
			    "connection closed after %zu bytes, "
			    "before END_REQUEST", rd.seen);
		if (reader_feed(&rd, r, buf, (size_t)n, &used) == -1)
			return -1;
		if (consume(fd, buf, used) == -1)
			return -1;
	}
	return 0;
}

/* CGI-style responses */

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int
name_eq(const char *a, size_t alen, const char *b)
{
	size_t i;

	for (i = 0; i < alen; i++)
		if (b[i] == '\0' || lower((unsigned char)a[i]) !=
		    lower((unsigned char)b[i]))
			return 0;
	return b[alen] == '\0';
}

static int
is_blank(int c)
{
	return c == ' ' || c == '\t';
}

const char *
fcgic_http_header(const struct fcgic_http *h, const char *name,
    size_t *vlen)
{
	const char *line = h->head, *end, *nl, *colon, *v, *ve;

	if (line == NULL)
		return NULL;
	for (end = line + h->head_len; line < end; line = nl + 1) {
		if ((nl = memchr(line, '\n', end - line)) == NULL)
			nl = end;
		colon = memchr(line, ':', nl - line);
		if (colon == NULL || !name_eq(line, colon - line, name))
			continue;
		for (v = colon + 1; v < nl && is_blank(*v); v++)
			;
		for (ve = nl; ve > v && (is_blank(ve[-1]) || ve[-1] == '\r');
		    ve--)
			;
		*vlen = ve - v;
		return v;
	}
	return NULL;
}

/* "NNN" or "NNN reason": lighttpd and nginx read no other shape. */
static int
parse_status(const char *v, size_t len)
{
	if (len < 3 || v[0] < '1' || v[0] > '9' || v[1] < '0' || v[1] > '9' ||
	    v[2] < '0' || v[2] > '9' || (len > 3 && !is_blank(v[3])))
		return seterr(FCGIC_E_PROTOCOL, "bad Status header: %.*s",
		    (int)(len > 64 ? 64 : len), v);
	return (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
}

int
fcgic_http_parse(const void *data, size_t len, struct fcgic_http *h)
{
	const char *s = data, *end, *line, *nl, *v;
	size_t linelen, vlen;

	memset(h, 0, sizeof *h);
	if (len == 0)
		return seterr(FCGIC_E_PROTOCOL, "empty response");
	end = s + len;
	for (line = s;; line = nl + 1) {
		if ((nl = memchr(line, '\n', end - line)) == NULL)
			return seterr(FCGIC_E_PROTOCOL,
			    "no empty line ends the headers");
		linelen = nl - line;
		if (linelen > 0 && line[linelen - 1] == '\r')
			linelen--;
		if (linelen == 0)
			break;
	}
	h->head = s;
	h->head_len = line - s;
	h->body = nl + 1;
	h->body_len = end - h->body;
	h->status = 200;
	if ((v = fcgic_http_header(h, "Status", &vlen)) != NULL &&
	    (h->status = parse_status(v, vlen)) == -1)
		return -1;
	return 0;
}
