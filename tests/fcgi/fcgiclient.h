/*
 * fcgiclient.h - a small FastCGI client for the tests and the benchmark.
 * It speaks the protocol itself rather than through libfcgi, so the tests
 * do not share the library whose server side they are testing, and so a
 * test can send what a real web server sends: no STDIN, keep-conn, huge
 * or binary params.
 *
 * Every function that fails returns -1 and leaves a one-line reason for
 * fcgic_strerror() and a class for fcgic_errcode(), both per thread.
 */
#ifndef KEYGATE_FCGICLIENT_H
#define KEYGATE_FCGICLIENT_H

#include <stddef.h>
#include <stdint.h>

/* Roles of FCGI_BEGIN_REQUEST. */
#define FCGIC_RESPONDER		1
#define FCGIC_AUTHORIZER	2
#define FCGIC_FILTER		3

/* protocolStatus of FCGI_END_REQUEST. */
#define FCGIC_REQUEST_COMPLETE	0
#define FCGIC_CANT_MPX_CONN	1
#define FCGIC_OVERLOADED	2
#define FCGIC_UNKNOWN_ROLE	3

/* The largest name or value the 4-byte length form can carry. */
#define FCGIC_MAX_LENGTH	0x7fffffffU

enum fcgic_err {
	FCGIC_E_NONE = 0,
	FCGIC_E_USAGE,		/* bad argument: address, length */
	FCGIC_E_NOMEM,
	FCGIC_E_CONNECT,	/* could not resolve or connect */
	FCGIC_E_IO,		/* a system call failed */
	FCGIC_E_CLOSED,		/* the peer closed the connection */
	FCGIC_E_TIMEOUT,
	FCGIC_E_PROTOCOL	/* the peer sent something malformed */
};

/* A growable byte buffer; data is NULL until the first byte is stored. */
struct fcgic_buf {
	unsigned char	*data;
	size_t		 len;
	size_t		 cap;
};

/*
 * Params, kept already encoded as FastCGI name-value pairs so sending
 * costs one copy.  Initialise with fcgic_params_init (or zero it);
 * fcgic_params_clear empties it but keeps the memory for reuse.
 */
struct fcgic_params {
	struct fcgic_buf enc;
	size_t		 count;
};

/*
 * One response.  out and err hold the STDOUT and STDERR bytes of the
 * request; when data is not NULL it is followed by a NUL that is not
 * counted in len, so text checks can use string functions.
 */
struct fcgic_response {
	struct fcgic_buf out;
	struct fcgic_buf err;
	uint32_t	 app_status;
	uint8_t		 protocol_status;
	int		 out_closed;	/* the empty STDOUT record arrived */
	int		 err_closed;	/* the empty STDERR record arrived */
};

/* A CGI-style response split by fcgic_http_parse; points into the input. */
struct fcgic_http {
	const char	*head;		/* header lines, without the empty line */
	size_t		 head_len;
	const char	*body;
	size_t		 body_len;
	int		 status;	/* from "Status:", else 200 */
};

const char	*fcgic_strerror(void);
enum fcgic_err	 fcgic_errcode(void);

/* "unix:/path", "HOST:PORT" or "[IPV6]:PORT"; a blocking socket or -1. */
int	fcgic_connect(const char *addr);
/* Bound every send on fd to ms milliseconds (SO_SNDTIMEO); 0 is no bound. */
int	fcgic_set_send_timeout(int fd, int ms);

void	fcgic_params_init(struct fcgic_params *p);
int	fcgic_params_add(struct fcgic_params *p, const void *name,
	    size_t namelen, const void *value, size_t valuelen);
int	fcgic_params_add_str(struct fcgic_params *p, const char *name,
	    const char *value);
/* Add a param whose valuelen bytes the caller fills through the result. */
void	*fcgic_params_add_space(struct fcgic_params *p, const void *name,
	    size_t namelen, size_t valuelen);
void	fcgic_params_clear(struct fcgic_params *p);
void	fcgic_params_free(struct fcgic_params *p);

/*
 * Append one whole request to out: BEGIN_REQUEST, PARAMS records, the
 * empty PARAMS, and if send_stdin the STDIN records and the empty STDIN.
 * Several requests may be appended to pipeline them.
 */
int	fcgic_build(struct fcgic_buf *out, uint16_t request_id, int role,
	    int keep_conn, const struct fcgic_params *p,
	    const void *stdin_data, size_t stdin_len, int send_stdin);
int	fcgic_write_all(int fd, const void *data, size_t len);
/* fcgic_build into a per-thread buffer, then fcgic_write_all. */
int	fcgic_send(int fd, uint16_t request_id, int role, int keep_conn,
	    const struct fcgic_params *p, const void *stdin_data,
	    size_t stdin_len, int send_stdin);
/* Free the per-thread buffer of fcgic_send (before a thread exits). */
void	fcgic_thread_cleanup(void);

/*
 * Empty r, then read records until the END_REQUEST of request_id, and
 * not one byte further, so a kept connection stays in step.  Records of
 * other ids and of unknown types are skipped.  timeout_ms bounds the
 * whole call; a negative value waits for ever and, on a blocking socket,
 * saves a poll per read.  fd must be a stream socket (the reader peeks).
 * 0 on END_REQUEST, else -1.
 */
int	fcgic_recv(int fd, uint16_t request_id, struct fcgic_response *r,
	    int timeout_ms);
void	fcgic_response_init(struct fcgic_response *r);
/* Empty r, keeping its buffers (fcgic_recv does this itself). */
void	fcgic_response_reset(struct fcgic_response *r);
void	fcgic_response_free(struct fcgic_response *r);

int	fcgic_buf_append(struct fcgic_buf *b, const void *data, size_t n);
void	fcgic_buf_free(struct fcgic_buf *b);

/*
 * Split a CGI-style response into headers and body: the headers end at
 * the first empty line, lines end in "\r\n" or "\n".  -1 if there is no
 * empty line or the Status header is not "NNN[ reason]".
 */
int	fcgic_http_parse(const void *data, size_t len, struct fcgic_http *h);
/*
 * The value of the first header called name (case-insensitive), with
 * surrounding blanks removed, and its length in *vlen; NULL if absent.
 */
const char *fcgic_http_header(const struct fcgic_http *h, const char *name,
	    size_t *vlen);

#endif
