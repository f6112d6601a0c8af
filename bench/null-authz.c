/*
 * null-authz - the protocol ceiling: a FastCGI authorizer on libfcgi that
 * checks nothing and answers every request, in either role, with
 * "Status: 200 OK" and the Variable-* headers keygate sends for an allowed
 * key with a rate limit and a quota (the same header names and about the
 * same bytes).  Every keygate row of the benchmark is divided by the row
 * of this program on the same path.
 *
 * Same process model as keygate-authz, so that the two compare: started
 * by a spawner (mod_fcgid, lighttpd bin-path, spawn-fcgi) the listening
 * socket is fd 0; with --listen it binds itself, and a master pre-forks
 * --workers N single-threaded workers (FCGX_Accept_r loop, one connection
 * at a time).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcgiapp.h>

#define MAX_WORKERS 256
#define BACKLOG 1024	/* as keygate-authz */

static const char answer[] =
    "Status: 200 OK\r\n"
    "Variable-Org-Id: org-004711\r\n"
    "Variable-Plan: limited\r\n"
    "Variable-Key-Id: key_0a1B2c3D4e5F6g7H\r\n"
    "Variable-Key-Mode: live\r\n"
    "Variable-RateLimit-Remaining: 999999\r\n"
    "Variable-Quota-Remaining: 999999999\r\n"
    "\r\n";

static volatile sig_atomic_t stopping;

static void
on_stop(int sig)
{
	(void)sig;
	stopping = 1;
	FCGX_ShutdownPending();
}

static void
die(const char *what)
{
	fprintf(stderr, "null-authz: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int
listen_on(const char *spec, unsigned mode)
{
	int fd, one = 1;

	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un sa;
		const char *path = spec + 5;

		memset(&sa, 0, sizeof sa);
		sa.sun_family = AF_UNIX;
		if (strlen(path) >= sizeof sa.sun_path) {
			errno = ENAMETOOLONG;
			die(path);
		}
		memcpy(sa.sun_path, path, strlen(path));
		unlink(path);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
		    bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
		    chmod(path, mode) != 0)
			die(spec);
	} else {
		struct addrinfo hints, *res;
		char host[256];
		const char *colon = strrchr(spec, ':');

		if (colon == NULL || (size_t)(colon - spec) >= sizeof host) {
			fprintf(stderr, "null-authz: --listen unix:PATH or HOST:PORT\n");
			exit(1);
		}
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = '\0';
		memset(&hints, 0, sizeof hints);
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
		if (getaddrinfo(host, colon + 1, &hints, &res) != 0) {
			fprintf(stderr, "null-authz: cannot resolve %s\n", spec);
			exit(1);
		}
		if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			die("socket");
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, res->ai_addr, res->ai_addrlen) != 0)
			die(spec);
		freeaddrinfo(res);
	}
	if (listen(fd, BACKLOG) != 0)
		die("listen");
	return fd;
}

static int
serve(int fd)
{
	FCGX_Request rq;

	if (FCGX_InitRequest(&rq, fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0)
		return 1;
	while (!stopping) {
		if (FCGX_Accept_r(&rq) < 0) {
			if (stopping)
				break;
			continue;
		}
		FCGX_PutStr(answer, (int)sizeof answer - 1, rq.out);
		FCGX_Finish_r(&rq);
	}
	FCGX_Finish_r(&rq);
	return 0;
}

static int
master(int fd, unsigned n)
{
	pid_t pids[MAX_WORKERS];
	unsigned i;

	for (i = 0; i < n; i++) {
		if ((pids[i] = fork()) < 0)
			die("fork");
		if (pids[i] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() == 1)
				_exit(0);
			_exit(serve(fd));
		}
	}
	while (!stopping)
		pause();
	for (i = 0; i < n; i++)
		kill(pids[i], SIGTERM);
	while (wait(NULL) > 0 || errno == EINTR)
		;
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: null-authz [--listen unix:PATH|HOST:PORT] [--workers N] [--socket-mode MODE]\n"
	    "Answers every FastCGI request with 200 and keygate's Variable-* headers.\n"
	    "Without --listen the listening socket is fd 0 (mod_fcgid, lighttpd, spawn-fcgi).\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"workers", required_argument, NULL, 'w'},
		{"socket-mode", required_argument, NULL, 'm'},
		{"db", required_argument, NULL, 'd'},	/* accepted, ignored */
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct sigaction sa;
	const char *listen_spec = NULL;
	unsigned workers = 1, mode = 0660;
	char *end;
	int c, fd = 0;

	umask(007);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen_spec = optarg; break;
		case 'w':
			workers = (unsigned)strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || workers < 1 || workers > MAX_WORKERS) {
				fprintf(stderr, "null-authz: --workers 1-%d\n", MAX_WORKERS);
				return 1;
			}
			break;
		case 'm':
			mode = (unsigned)strtoul(optarg, &end, 8);
			if (*optarg == '\0' || *end != '\0' || mode > 0777) {
				fprintf(stderr, "null-authz: --socket-mode: an octal mode\n");
				return 1;
			}
			break;
		case 'd': break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (listen_spec != NULL)
		fd = listen_on(listen_spec, mode);
	else if (FCGX_IsCGI()) {
		fprintf(stderr, "null-authz: fd 0 is not a listening socket: use --listen\n");
		return 1;
	}
	if (FCGX_Init() != 0)
		return 1;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;	/* no SA_RESTART: accept(2) must see EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);	/* mod_fcgid's graceful stop */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (listen_spec != NULL || workers > 1)
		return master(fd, workers);
	return serve(fd);
}
