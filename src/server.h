/*
 * server.h - listening sockets: `keygate-authz --listen`, a spawner's fd 0,
 * or one passed by systemd socket activation (LISTEN_FDS).
 */
#ifndef KEYGATE_SERVER_H
#define KEYGATE_SERVER_H

#include <stddef.h>

/*
 * "unix:/run/keygate.sock" or "127.0.0.1:9000" / "[::1]:9000" / ":9000".
 * Returns a listening socket or -1 with err set.
 */
int server_listen(const char *spec, unsigned mode, char *err, size_t errlen);
/* 1 if fd is a listening stream socket (a spawner's fd 0). */
int server_is_listener(int fd);
/* Bounds how long one write to a connection may block. */
int server_set_send_timeout(int fd, unsigned ms);

/*
 * systemd socket activation (sd_listen_fds(3)), read without libsystemd:
 * LISTEN_PID names the process the sockets are for, LISTEN_FDS how many
 * there are, starting at fd SERVER_LISTEN_FDS_START.
 */
#define SERVER_LISTEN_FDS_START 3

enum server_activation {
	SERVER_ACT_NONE, /* no socket for this process: unset, or another pid's */
	SERVER_ACT_ONE,  /* exactly one socket, at SERVER_LISTEN_FDS_START */
	SERVER_ACT_BAD,  /* for this process, but garbage or not one socket */
};

/*
 * Reads the values of LISTEN_PID and LISTEN_FDS (NULL when unset) for the
 * process self.  No I/O: the environment is the caller's.  err is set on
 * SERVER_ACT_BAD.
 */
enum server_activation server_activation_parse(const char *listen_pid,
    const char *listen_fds, long self, char *err, size_t errlen);

/*
 * Takes the socket systemd passed this process, if any: checks it is a
 * listening stream socket, moves it to fd 0 (where spawners put theirs and
 * libfcgi accepts by default) and unsets LISTEN_* so no child misreads
 * them.  listen: the configured --listen, which must then be empty.
 * Returns 1 when fd 0 is now the passed socket, 0 when none was passed,
 * -1 with err set.
 */
int server_take_activated(const char *listen, char *err, size_t errlen);

#endif
