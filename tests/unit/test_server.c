/*
 * test_server.c - systemd socket activation: LISTEN_PID / LISTEN_FDS
 * parsing (garbage, another process's, counts other than one, huge and
 * signed numbers) and the hand-over of fd 3 to fd 0.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "server.h"
#include "tap.h"

static char err[512];

static enum server_activation
parse(const char *pid, const char *fds, long self)
{
	err[0] = '\0';
	return server_activation_parse(pid, fds, self, err, sizeof err);
}

static void
test_parse(void)
{
	ok(parse(NULL, NULL, 42) == SERVER_ACT_NONE, "nothing set: none");
	ok(parse("42", NULL, 42) == SERVER_ACT_NONE, "LISTEN_PID alone: none");
	ok(parse(NULL, "1", 42) == SERVER_ACT_NONE, "LISTEN_FDS alone: none");
	ok(parse("42", "1", 42) == SERVER_ACT_ONE && err[0] == '\0', "one socket for us");
	ok(parse("43", "1", 42) == SERVER_ACT_NONE, "another process's socket: none");
	ok(parse("43", "garbage", 42) == SERVER_ACT_NONE,
	    "another process's garbage count: not ours to judge");

	ok(parse("42", "0", 42) == SERVER_ACT_BAD && strstr(err, "0 sockets") != NULL,
	    "zero sockets: refused (%s)", err);
	ok(parse("42", "2", 42) == SERVER_ACT_BAD && strstr(err, "2 sockets") != NULL,
	    "two sockets: refused (%s)", err);
	ok(parse("42", "4294967295", 42) == SERVER_ACT_BAD, "2^32 - 1 sockets: refused");
	ok(parse("42", "4294967296", 42) == SERVER_ACT_BAD &&
	    strstr(err, "LISTEN_FDS") != NULL, "a count past 32 bits: refused (%s)", err);
	ok(parse("42", "99999999999999999999999", 42) == SERVER_ACT_BAD,
	    "a count past 64 bits: refused");

	ok(parse("42", "", 42) == SERVER_ACT_BAD, "empty LISTEN_FDS: refused");
	ok(parse("42", "one", 42) == SERVER_ACT_BAD, "non-numeric LISTEN_FDS: refused");
	ok(parse("42", "1x", 42) == SERVER_ACT_BAD, "trailing garbage in LISTEN_FDS");
	ok(parse("42", " 1", 42) == SERVER_ACT_BAD, "leading space in LISTEN_FDS");
	ok(parse("42", "+1", 42) == SERVER_ACT_BAD, "a sign in LISTEN_FDS");
	ok(parse("42", "-1", 42) == SERVER_ACT_BAD, "a negative LISTEN_FDS");
	ok(parse("42", "0x1", 42) == SERVER_ACT_BAD, "hexadecimal LISTEN_FDS");

	ok(parse("", "1", 42) == SERVER_ACT_BAD && strstr(err, "LISTEN_PID") != NULL,
	    "empty LISTEN_PID: refused (%s)", err);
	ok(parse("pid", "1", 42) == SERVER_ACT_BAD, "non-numeric LISTEN_PID: refused");
	ok(parse("42 ", "1", 42) == SERVER_ACT_BAD, "trailing space in LISTEN_PID");
	ok(parse("-42", "1", 42) == SERVER_ACT_BAD, "a negative LISTEN_PID");
	ok(parse("0", "1", 0) == SERVER_ACT_BAD, "LISTEN_PID 0: refused");
	ok(parse("2147483648", "1", 42) == SERVER_ACT_BAD, "LISTEN_PID past pid_t: refused");
	ok(parse("18446744073709551658", "1", 42) == SERVER_ACT_BAD,
	    "LISTEN_PID that wraps to ours modulo 2^64: refused");
}

/* A listening unix socket at fd 3, as systemd passes it. */
static int
listener_at_3(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	unlink(path);
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 4) != 0)
		return -1;
	if (fd != 3 && (dup2(fd, 3) != 3 || close(fd) != 0))
		return -1;
	return 0;
}

static void
set_env(const char *fds)
{
	char pid[32];

	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", fds, 1);
	setenv("LISTEN_FDNAMES", "authz.sock", 1);
}

static int
env_gone(void)
{
	return getenv("LISTEN_PID") == NULL && getenv("LISTEN_FDS") == NULL &&
	    getenv("LISTEN_FDNAMES") == NULL;
}

static void
test_take(void)
{
	char path[] = "/tmp/keygate-test-server.XXXXXX";
	char sock[64];
	int fds[2];

	if (mkdtemp(path) == NULL) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(sock, sizeof sock, "%s/s", path);

	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	ok(server_take_activated("", err, sizeof err) == 0, "no activation: nothing taken");

	/* another process's variables: left alone, but not passed on */
	setenv("LISTEN_PID", "1", 1);
	setenv("LISTEN_FDS", "1", 1);
	ok(server_take_activated("", err, sizeof err) == 0 && env_gone(),
	    "another pid: nothing taken, variables unset");

	ok(listener_at_3(sock) == 0, "a listening socket at fd 3");
	set_env("1");
	ok(server_take_activated("unix:/x.sock", err, sizeof err) < 0 &&
	    strstr(err, "listen") != NULL && env_gone(),
	    "a passed socket and listen set: refused (%s)", err);

	set_env("2");
	ok(server_take_activated("", err, sizeof err) < 0 && env_gone(),
	    "two sockets: refused (%s)", err);

	set_env("1");
	ok(server_take_activated("", err, sizeof err) == 1, "one socket: taken");
	ok(server_is_listener(0), "fd 0 is now the listening socket");
	ok(fcntl(3, F_GETFD) < 0, "fd 3 is closed");
	ok(env_gone(), "LISTEN_* unset for children");

	/* Accept=yes passes a connection: refused */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0) {
		if (fds[0] != 3)
			dup2(fds[0], 3);
		set_env("1");
		ok(server_take_activated(NULL, err, sizeof err) < 0 &&
		    strstr(err, "not a listening") != NULL,
		    "a connected socket at fd 3: refused (%s)", err);
	} else {
		ok(0, "socketpair");
	}
	unlink(sock);
	rmdir(path);
}

int
main(void)
{
	test_parse();
	test_take();
	return done_testing();
}
