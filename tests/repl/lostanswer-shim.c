/*
 * lostanswer-shim.c - an LD_PRELOAD library for tests/repl/lostanswer.sh,
 * loaded into the master's keygate-repd.
 *
 * The connection of a forwarded write is lost after the master ran it and
 * before its answer went out: once.  A connection whose incoming bytes
 * carried KG_LOST_MARK (the name of an organization only the test's write
 * names) is shut down when Berkeley DB's replication manager writes its
 * next channel response on it (message type 6, REPMGR_APP_RESPONSE in
 * Berkeley DB 5.3's dbinc/repmgr.h: the first byte of each message),
 * instead of that response being sent; the file KG_LOST_ONCE is made then,
 * and while it exists nothing more is dropped.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define APP_RESPONSE 6
#define MAX_FD 4096

static int marked[MAX_FD]; /* atomic */

static int
dropped_already(void)
{
	const char *once = getenv("KG_LOST_ONCE");

	return once == NULL || access(once, F_OK) == 0;
}

static void
look_for_mark(int fd, const struct iovec *iov, int n, ssize_t got)
{
	const char *mark = getenv("KG_LOST_MARK");
	size_t left = got > 0 ? (size_t)got : 0;
	int i;

	if (mark == NULL || left == 0 || fd < 0 || fd >= MAX_FD || dropped_already())
		return;
	for (i = 0; i < n && left > 0; i++) {
		size_t len = iov[i].iov_len < left ? iov[i].iov_len : left;

		if (memmem(iov[i].iov_base, len, mark, strlen(mark)) != NULL)
			__atomic_store_n(&marked[fd], 1, __ATOMIC_RELEASE);
		left -= len;
	}
}

ssize_t
readv(int fd, const struct iovec *iov, int n)
{
	ssize_t (*real)(int, const struct iovec *, int) =
	    (ssize_t (*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "readv");
	ssize_t got = real(fd, iov, n);
	int saved = errno; /* EAGAIN on these non-blocking sockets, which access(2) would replace */

	look_for_mark(fd, iov, n, got);
	errno = saved;
	return got;
}

ssize_t
writev(int fd, const struct iovec *iov, int n)
{
	ssize_t (*real)(int, const struct iovec *, int) =
	    (ssize_t (*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");

	int saved = errno;

	if (fd >= 0 && fd < MAX_FD && __atomic_load_n(&marked[fd], __ATOMIC_ACQUIRE) &&
	    n > 0 && iov[0].iov_len > 0 && *(const unsigned char *)iov[0].iov_base == APP_RESPONSE &&
	    !dropped_already()) {
		int made = open(getenv("KG_LOST_ONCE"), O_WRONLY | O_CREAT | O_EXCL, 0600);

		if (made >= 0)
			close(made);
		__atomic_store_n(&marked[fd], 0, __ATOMIC_RELEASE);
		shutdown(fd, SHUT_RDWR);
		errno = ECONNRESET;
		return -1;
	}
	errno = saved;
	return real(fd, iov, n);
}
