/*
 * fuzz_fcgi_stream.c - the bytes a client sends on a FastCGI connection,
 * through the guard (src/fcgi_guard.c) and through the real libfcgi
 * behind it, in process, over a socketpair.
 *
 * Input: the raw stream, as tests/fcgi/fcgi-client --raw sends it.
 * Inputs over 64 KiB are skipped: the stream is written into the socket
 * before libfcgi reads it, and the guard's byte limits are tested in
 * tests/unit/test_fcgi_guard.c.
 *
 * Invariants:
 * - the guard's answer does not depend on how the stream is cut into
 *   reads (whole, byte by byte, in chunks sized by the input);
 * - libfcgi, given every byte the guard let through (when it refuses, the
 *   authorizer gives libfcgi less: not even the read that held the refused
 *   byte) and then the end of the stream, never aborts: a failed huge
 *   allocation, a stack overflow, a read out of bounds all end the run;
 * - libfcgi reads a whole request (FCGX_Accept_r succeeds with no error
 *   on the stream, as keygate-authz checks) exactly when the guard says
 *   the params are complete, in the same role and with the same number of
 *   params (plus the FCGI_ROLE that libfcgi adds).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "fcgi_guard.h"
#include "fuzz.h"

#define INPUT_MAX (64 * 1024)

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (FCGX_Init() != 0)
		abort();
	return 0;
}

struct verdict {
	enum fcgi_guard_rc rc;
	size_t passed;    /* bytes before the one that made the guard refuse */
	unsigned role, params;
};

static void
guard_in_chunks(const uint8_t *data, size_t size, size_t chunk, struct verdict *v)
{
	struct fcgi_guard g;
	size_t off = 0, n;

	fcgi_guard_init(&g);
	v->rc = FCGI_GUARD_MORE;
	v->passed = 0;
	while (off < size) {
		n = size - off < chunk ? size - off : chunk;
		v->rc = fcgi_guard_feed(&g, data + off, n);
		if (v->rc == FCGI_GUARD_REFUSED)
			break;
		off += n;
	}
	/* byte by byte, off is the refused byte's offset */
	v->passed = off;
	v->role = fcgi_guard_role(&g);
	v->params = fcgi_guard_params(&g);
}

/* What libfcgi writes back (FCGI_GET_VALUES_RESULT, the answer) is read and dropped. */
static void *
drain(void *arg)
{
	int fd = *(int *)arg;
	char sink[4096];

	while (read(fd, sink, sizeof sink) > 0)
		;
	return NULL;
}

/* libfcgi reads n bytes and then the end of the stream: 1 if it read a request. */
static int
libfcgi_reads(const uint8_t *data, size_t n, unsigned *role, unsigned *params)
{
	FCGX_Request rq;
	pthread_t reader;
	char **e;
	int sv[2], got;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		abort();
	if (n > 0 && write(sv[0], data, n) != (ssize_t)n)
		abort();
	shutdown(sv[0], SHUT_WR);
	if (pthread_create(&reader, NULL, drain, &sv[0]) != 0)
		abort();
	/* no listening socket: a failed request ends in accept(-1), EBADF */
	FCGX_InitRequest(&rq, -1, 0);
	/* as if kept from an earlier request: FCGX_Accept_r would close it first */
	rq.ipcFd = sv[1];
	rq.keepConnection = 1;
	/*
	 * libfcgi ends the params at the end of the stream as at the empty
	 * PARAMS record, with an error on the stream: the authorizer
	 * answers only when there is none.
	 */
	got = FCGX_Accept_r(&rq) == 0;
	if (got && FCGX_GetError(rq.in) != 0) {
		got = 0;
		FCGX_Finish_r(&rq);
	} else if (got) {
		*role = (unsigned)rq.role;
		*params = 0;
		for (e = rq.envp; e != NULL && *e != NULL; e++)
			(*params)++;
		FCGX_Finish_r(&rq);
	}
	/* a kept connection, or one libfcgi never opened as a request */
	if (rq.ipcFd >= 0)
		close(rq.ipcFd);
	pthread_join(reader, NULL);
	close(sv[0]);
	return got;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct verdict whole, bytes, chunks;
	unsigned role = 0, params = 0;
	int got;

	if (size > INPUT_MAX)
		return 0;
	guard_in_chunks(data, size, size ? size : 1, &whole);
	guard_in_chunks(data, size, 1, &bytes);
	guard_in_chunks(data, size, size ? 1 + data[0] % 13 : 1, &chunks);
	FUZZ_CHECK(whole.rc == bytes.rc && whole.rc == chunks.rc,
	    "whole %d, byte by byte %d, in chunks %d", whole.rc, bytes.rc, chunks.rc);
	FUZZ_CHECK(whole.params == bytes.params && whole.role == bytes.role,
	    "chunking changed what the guard counted");

	got = libfcgi_reads(data, bytes.passed, &role, &params);
	FUZZ_CHECK(got == (bytes.rc == FCGI_GUARD_COMPLETE),
	    "libfcgi %s a request the guard calls %s", got ? "read" : "did not read",
	    bytes.rc == FCGI_GUARD_COMPLETE ? "complete" :
	    bytes.rc == FCGI_GUARD_REFUSED ? "refused" : "incomplete");
	if (got) {
		FUZZ_CHECK(role == bytes.role, "role %u, the guard saw %u", role, bytes.role);
		FUZZ_CHECK(params == bytes.params + 1, "libfcgi read %u params, the guard %u",
		    params, bytes.params);
	}
	return 0;
}
