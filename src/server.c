/*
 * server.c - socket setup.  libfcgi's FCGX_OpenSocket binds TCP to every
 * address and gives a backlog we cannot see; operators expect
 * "127.0.0.1:9000" to mean loopback only, so we bind ourselves.  A socket
 * passed by systemd is taken from the environment here too, without
 * libsystemd: the protocol is three variables and a fixed fd.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "parse.h"
#include "server.h"

/* Deep enough for a burst from every web server worker at once. */
#define LISTEN_BACKLOG 1024

static int
listen_unix(const char *path, unsigned mode, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof sa.sun_path) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -1;
	}
	/* Replace a stale socket, never any other kind of file. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket", path);
			return -1;
		}
		unlink(path);
	}
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    chmod(path, mode) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int
listen_tcp(const char *spec, char *err, size_t errlen)
{
	char host[256];
	const char *port, *h = spec;
	struct addrinfo hints, *res = NULL, *ai;
	size_t hlen;
	int fd = -1, one = 1, rc;

	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');
		if (end == NULL || end[1] != ':') {
			snprintf(err, errlen, "bad address %s: use [::1]:9000", spec);
			return -1;
		}
		h = spec + 1;
		hlen = (size_t)(end - h);
		port = end + 2;
	} else {
		port = strrchr(spec, ':');
		if (port == NULL) {
			snprintf(err, errlen, "bad address %s: use unix:PATH or HOST:PORT", spec);
			return -1;
		}
		hlen = (size_t)(port - spec);
		port++;
	}
	if (hlen >= sizeof host || *port == '\0') {
		snprintf(err, errlen, "bad address %s", spec);
		return -1;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(hlen ? host : NULL, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "bad address %s: %s", spec, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0)) < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, LISTEN_BACKLOG) == 0)
			break;
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(errno));
	freeaddrinfo(res);
	return fd;
}

int
server_listen(const char *spec, unsigned mode, char *err, size_t errlen)
{
	if (strncmp(spec, "unix:", 5) == 0)
		return listen_unix(spec + 5, mode, err, errlen);
	if (spec[0] == '/')
		return listen_unix(spec, mode, err, errlen);
	return listen_tcp(spec, err, errlen);
}

int
server_is_listener(int fd)
{
	int type = 0, acc = 0;
	socklen_t len = sizeof type;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
		return 0;
	len = sizeof acc;
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) != 0)
		return 0;
	return acc != 0;
}

int
server_set_send_timeout(int fd, unsigned ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

	return setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* Linux's pid_max can be raised to 2^22; 2^31 - 1 bounds any pid_t. */
#define PID_LIMIT 2147483647u

enum server_activation
server_activation_parse(const char *listen_pid, const char *listen_fds, long self,
    char *err, size_t errlen)
{
	uint64_t pid, n;
	const char *why;

	/* systemd sets both; either missing means nothing was passed to us */
	if (listen_pid == NULL || listen_fds == NULL)
		return SERVER_ACT_NONE;
	if (parse_u64(listen_pid, 1, PID_LIMIT, &pid, &why) != 0) {
		snprintf(err, errlen, "LISTEN_PID is not a process id (%s)", why);
		return SERVER_ACT_BAD;
	}
	/* inherited from a parent that was activated: not ours to take */
	if ((long)pid != self)
		return SERVER_ACT_NONE;
	if (parse_u64(listen_fds, 0, UINT32_MAX, &n, &why) != 0) {
		snprintf(err, errlen, "LISTEN_FDS is not a count of sockets (%s)", why);
		return SERVER_ACT_BAD;
	}
	if (n != 1) {
		snprintf(err, errlen, "systemd passed %llu sockets (LISTEN_FDS), not exactly "
		    "one: give the .socket unit one ListenStream=", (unsigned long long)n);
		return SERVER_ACT_BAD;
	}
	return SERVER_ACT_ONE;
}

int
server_take_activated(const char *listen, char *err, size_t errlen)
{
	enum server_activation act;
	int fd = SERVER_LISTEN_FDS_START;

	act = server_activation_parse(getenv("LISTEN_PID"), getenv("LISTEN_FDS"),
	    (long)getpid(), err, errlen);
	/* Whatever they said, they were for this process only. */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (act == SERVER_ACT_NONE)
		return 0;
	if (act == SERVER_ACT_BAD)
		return -1;
	if (listen != NULL && listen[0] != '\0') {
		snprintf(err, errlen, "systemd passed a socket (LISTEN_FDS) and listen is set "
		    "to %s: use one or the other", listen);
		return -1;
	}
	/* Accept=yes would pass a connection, not a listener */
	if (!server_is_listener(fd)) {
		snprintf(err, errlen, "fd %d from systemd is not a listening stream socket: "
		    "the .socket unit needs ListenStream= and Accept=no", fd);
		return -1;
	}
	if (dup2(fd, 0) != 0) {
		snprintf(err, errlen, "cannot move the socket from systemd to fd 0: %s",
		    strerror(errno));
		return -1;
	}
	close(fd);
	return 1;
}
