/*
 * repllink.c - a host's processes and its keygate-repd (repllink.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctx.h"
#include "pathname.h"
#include "repllink.h"
#include "replmsg.h"

/*
 * A socket's path must fit sun_path (108 bytes); a store's may be up to
 * PATHNAME_MAX.  A longer one is reached through a descriptor of the
 * directory (/proc/self/fd/N/repl.sock), which the kernel resolves
 * without the limit.  *dirfd is that descriptor, or -1.
 */
static int
socket_addr(const char *dir, struct sockaddr_un *sa, int *dirfd)
{
	int n;

	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	*dirfd = -1;
	n = snprintf(sa->sun_path, sizeof sa->sun_path, "%s/%s", dir, REPLLINK_SOCKET);
	if (n > 0 && (size_t)n < sizeof sa->sun_path)
		return 0;
	if ((*dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	snprintf(sa->sun_path, sizeof sa->sun_path, "/proc/self/fd/%d/%s", *dirfd,
	    REPLLINK_SOCKET);
	return 0;
}

static int
wait_fd(int fd, short events, uint64_t deadline)
{
	uint64_t now;
	int r;

	for (;;) {
		struct pollfd p = {fd, events, 0};

		now = kg_mono_ns();
		if (now >= deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		r = poll(&p, 1, (int)((deadline - now + 999999) / 1000000));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

static int
write_all(int fd, const unsigned char *p, size_t n, uint64_t deadline)
{
	ssize_t w;

	while (n > 0) {
		if (wait_fd(fd, POLLOUT, deadline) != 0)
			return -1;
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
read_all(int fd, unsigned char *p, size_t n, uint64_t deadline)
{
	ssize_t r;

	while (n > 0) {
		if (wait_fd(fd, POLLIN, deadline) != 0)
			return -1;
		r = recv(fd, p, n, 0);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = ECONNRESET;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static uint64_t
deadline_in(unsigned ms)
{
	return kg_mono_ns() + (uint64_t)ms * 1000000u;
}

static int
send_by(int fd, const void *msg, size_t len, uint64_t deadline)
{
	unsigned char hdr[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16),
	    (unsigned char)(len >> 8), (unsigned char)len};

	if (len > REPLMSG_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	return write_all(fd, hdr, 4, deadline) == 0 ? write_all(fd, msg, len, deadline) : -1;
}

/*
 * A message's buffer grows as its bytes arrive, from RECV_FIRST: a length
 * alone never has keygate-repd hold REPLMSG_MAX for a connection that
 * sends nothing more (up to LINK_THREADS_MAX of them, for seconds each).
 */
#define RECV_FIRST (64u << 10)

static int
recv_by(int fd, void **msg, size_t *len, uint64_t deadline)
{
	unsigned char hdr[4], *buf = NULL, *p;
	size_t n, have = 0, cap;

	*msg = NULL;
	*len = 0;
	if (read_all(fd, hdr, 4, deadline) != 0)
		return -1;
	n = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
	if (n == 0 || n > REPLMSG_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	while (have < n) {
		cap = have == 0 ? (n < RECV_FIRST ? n : RECV_FIRST) : (n - have < have ? n : 2 * have);
		if ((p = realloc(buf, cap)) == NULL)
			goto fail;
		buf = p;
		if (read_all(fd, buf + have, cap - have, deadline) != 0)
			goto fail;
		have = cap;
	}
	*msg = buf;
	*len = n;
	return 0;
fail:
	free(buf);
	return -1;
}

int
repllink_send(int fd, const void *msg, size_t len, unsigned timeout_ms)
{
	return send_by(fd, msg, len, deadline_in(timeout_ms));
}

int
repllink_recv(int fd, void **msg, size_t *len, unsigned timeout_ms)
{
	return recv_by(fd, msg, len, deadline_in(timeout_ms));
}

static _Thread_local const struct repllink_wait *wait_hook;

void
repllink_wait_hook(const struct repllink_wait *w)
{
	wait_hook = w;
}

static int
call(const char *dir, const void *req, size_t len, unsigned timeout_ms,
    void **answer, size_t *alen, int *sent, char *err, size_t errlen)
{
	uint64_t deadline = deadline_in(timeout_ms);
	struct sockaddr_un sa;
	int fd, dirfd, rc;

	*answer = NULL;
	*alen = 0;
	if (sent != NULL)
		*sent = 0;
	if (socket_addr(dir, &sa, &dirfd) != 0 ||
	    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(err, errlen, "cannot reach keygate-repd: %s", strerror(errno));
		if (dirfd >= 0)
			close(dirfd);
		return -1;
	}
	rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	if (dirfd >= 0)
		close(dirfd);
	if (rc != 0) {
		snprintf(err, errlen, "keygate-repd is not running for %s (%s)", dir,
		    strerror(errno));
		close(fd);
		return -1;
	}
	if (send_by(fd, req, len, deadline) != 0) {
		snprintf(err, errlen, "cannot reach keygate-repd: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (sent != NULL)
		*sent = 1;
	if (recv_by(fd, answer, alen, deadline) != 0) {
		snprintf(err, errlen, "keygate-repd did not answer%s",
		    errno == ETIMEDOUT ? " in time" : "");
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int
repllink_call(const char *dir, const void *req, size_t len, unsigned timeout_ms,
    void **answer, size_t *alen, int *sent, char *err, size_t errlen)
{
	const struct repllink_wait *w = wait_hook;
	int rc;

	if (w != NULL)
		w->release(w->arg);
	rc = call(dir, req, len, timeout_ms, answer, alen, sent, err, errlen);
	if (w != NULL && w->reacquire(w->arg) != 0) {
		free(*answer);
		*answer = NULL;
		*alen = 0;
		snprintf(err, errlen, "the store was reopened while keygate-repd answered");
		return REPLLINK_MOVED;
	}
	return rc;
}

int
repllink_listen(const char *dir, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	int fd, dirfd, rc;
	mode_t old;

	if (socket_addr(dir, &sa, &dirfd) != 0 ||
	    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(err, errlen, "%s/%s: %s", dir, REPLLINK_SOCKET, strerror(errno));
		if (dirfd >= 0)
			close(dirfd);
		return -1;
	}
	/* a socket left by an earlier keygate-repd: we hold repl.lock, it is dead */
	unlink(sa.sun_path);
	old = umask(0117); /* 0660: the store's group may connect, nobody else */
	rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (dirfd >= 0)
		close(dirfd);
	if (rc != 0 || listen(fd, 64) != 0) {
		snprintf(err, errlen, "%s/%s: %s", dir, REPLLINK_SOCKET, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}
