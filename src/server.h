/*
 * server.h - listening sockets for `keygate-authz --listen`.
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

#endif
