/*
 * repllink.h - the link between the processes of a host and its
 * keygate-repd: a unix socket in the store directory (REPLLINK_SOCKET,
 * mode 0660 like every file there: whoever may write the store may ask).
 * One request a connection, each message framed by a 32-bit big-endian
 * length of at most REPLMSG_MAX; every read and write has a deadline.
 */
#ifndef KEYGATE_REPLLINK_H
#define KEYGATE_REPLLINK_H

#include <stddef.h>

#define REPLLINK_SOCKET "repl.sock"

/*
 * Sends req to the keygate-repd of the store in dir and waits at most
 * timeout_ms for its answer (malloc'd into *answer).  0, or -1 with err
 * set: no keygate-repd listening, or no answer in time (the request may
 * then have been carried out: the caller says so).  *sent (may be NULL)
 * tells the two apart: 0 when nothing reached keygate-repd.
 */
int repllink_call(const char *dir, const void *req, size_t len, unsigned timeout_ms,
    void **answer, size_t *alen, int *sent, char *err, size_t errlen);

/*
 * A thread that holds a lock other threads need (a flush thread holds its
 * process's store lock shared) gives it up while repllink_call waits for
 * keygate-repd, which can take seconds when the master is gone or hung:
 * a reopen of the store never waits that out.  release() runs before the
 * call's first step, reacquire() after its last; reacquire() answers
 * nonzero when what the lock guards was replaced meanwhile, and the call
 * then answers REPLLINK_MOVED (the request may have been carried out):
 * the caller must not touch anything it read before the call.  One hook
 * per thread; NULL removes it.
 */
struct repllink_wait {
	void (*release)(void *arg);
	int (*reacquire)(void *arg);
	void *arg;
};
#define REPLLINK_MOVED (-2)
void repllink_wait_hook(const struct repllink_wait *w);

/* keygate-repd: the listening socket (an old one is replaced), or -1. */
int repllink_listen(const char *dir, char *err, size_t errlen);
/* One framed message from fd within timeout_ms (malloc'd): 0 or -1. */
int repllink_recv(int fd, void **msg, size_t *len, unsigned timeout_ms);
int repllink_send(int fd, const void *msg, size_t len, unsigned timeout_ms);

#endif
