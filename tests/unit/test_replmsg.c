/*
 * test_replmsg.c - the replication messages' pure code (replmsg.h): how
 * keygate-repd routes a request by its side and the time, what counts
 * and flags a reader takes, and garbage, empty, huge and hostile input;
 * repllink's framing of messages of every size.
 * The executors of writes, on a real store, are fuzz_replmsg's.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "repllink.h"
#include "replmsg.h"
#include "tap.h"

#define NOW 1000000

/* The route of the message w holds, from this host (local) or another site. */
static enum replmsg_route
route_of(const struct replmsg_w *w, int local, struct replmsg_req *q)
{
	return replmsg_route(w->buf, w->len, local, NOW, q);
}

static void
request(struct replmsg_w *w, int kind)
{
	rmw_init(w);
	rmw_request(w, kind);
}

static void
test_route_sides(void)
{
	static const struct {
		int kind;
		enum replmsg_route local, remote;
	} t[] = {
		{RM_CATALOG, RR_WRITE, RR_REFUSED},
		{RM_LEDGER, RR_WRITE, RR_REFUSED},
		{RM_HISTORY, RR_WRITE, RR_REFUSED},
		{RM_STATUS, RR_STATUS, RR_REFUSED},
		{RM_GOSSIP, RR_REFUSED, RR_GOSSIP},
		{'X', RR_REFUSED, RR_REFUSED},
	};
	struct replmsg_req q;
	struct replmsg_w w;
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		request(&w, t[i].kind);
		is_int(route_of(&w, 1, &q), t[i].local, "kind %c from this host", t[i].kind);
		is_int(route_of(&w, 0, &q), t[i].remote, "kind %c from another site, unwrapped",
		    t[i].kind);
		rmw_free(&w);
	}
}

static void
test_route_expiring(void)
{
	static const int kinds[] = {RM_CATALOG, RM_LEDGER, RM_HISTORY, RM_GOSSIP};
	struct replmsg_w inner, w;
	struct replmsg_req q;
	size_t i, cut;

	for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		request(&inner, kinds[i]);
		rmw_u32(&inner, 42);
		rmw_init(&w);
		rmw_expiring(&w, NOW, inner.buf, inner.len);
		is_int(route_of(&w, 0, &q), kinds[i] == RM_GOSSIP ? RR_GOSSIP : RR_WRITE,
		    "kind %c wrapped, expiring now", kinds[i]);
		ok(q.kind == kinds[i] && q.len == inner.len &&
		    memcmp(q.msg, inner.buf, inner.len) == 0 && rmr_u32(&q.r) == 42 &&
		    rmr_done(&q.r), "the request inside is what was wrapped, read past its kind");
		is_int(route_of(&w, 1, &q), RR_REFUSED, "a wrapper from this host is refused");
		rmw_free(&w);
		rmw_init(&w);
		rmw_expiring(&w, NOW - 1, inner.buf, inner.len);
		is_int(route_of(&w, 0, &q), RR_EXPIRED, "kind %c wrapped, expired a ms ago",
		    kinds[i]);
		/* a wrapper cut inside its expiry is malformed, not expired */
		for (cut = 2; cut < 10; cut++) {
			struct replmsg_req c;

			if (replmsg_route(w.buf, cut, 0, NOW, &c) != RR_REFUSED)
				break;
		}
		is_int((int)cut, 10, "a wrapper cut inside its expiry is refused");
		rmw_free(&w);
		rmw_free(&inner);
	}
	/* what a wrapper may hold: one write or a state, nothing else */
	request(&inner, RM_STATUS);
	rmw_init(&w);
	rmw_expiring(&w, NOW, inner.buf, inner.len);
	is_int(route_of(&w, 0, &q), RR_REFUSED, "a status question between sites");
	rmw_free(&w);
	rmw_free(&inner);
	request(&inner, RM_LEDGER);
	rmw_init(&w);
	rmw_expiring(&w, NOW, inner.buf, inner.len);
	rmw_free(&inner);
	rmw_init(&inner);
	rmw_expiring(&inner, NOW, w.buf, w.len);
	is_int(route_of(&inner, 0, &q), RR_REFUSED, "a wrapper in a wrapper");
	rmw_free(&w);
	rmw_free(&inner);
}

static void
test_route_hostile(void)
{
	static const unsigned char version2[] = {2, RM_LEDGER}, one[] = {REPLMSG_VERSION},
	    status_padded[] = {REPLMSG_VERSION, RM_STATUS, 0};
	struct replmsg_req q;

	is_int(replmsg_route(NULL, 0, 1, NOW, &q), RR_REFUSED, "no message");
	is_int(replmsg_route("", 0, 1, NOW, &q), RR_REFUSED, "an empty message");
	is_int(replmsg_route(one, sizeof one, 1, NOW, &q), RR_REFUSED, "a version alone");
	is_int(replmsg_route(version2, sizeof version2, 1, NOW, &q), RR_REFUSED,
	    "another version");
	is_int(replmsg_route(status_padded, sizeof status_padded, 1, NOW, &q), RR_REFUSED,
	    "a status question with a byte after it");
}

static void
test_count(void)
{
	unsigned char buf[4 + 10];
	struct replmsg_r r;

	memset(buf, 0, sizeof buf);
	buf[3] = 2;
	rmr_init(&r, buf, sizeof buf);
	ok(rmr_count(&r, 5) == 2 && !r.failed, "2 items of 5 bytes in 10");
	buf[3] = 3;
	rmr_init(&r, buf, sizeof buf);
	ok(rmr_count(&r, 5) == 0 && r.failed, "3 items of 5 bytes in 10: refused");
	memset(buf, 0xff, 4);
	rmr_init(&r, buf, sizeof buf);
	ok(rmr_count(&r, 1) == 0 && r.failed, "a count of 2^32-1: refused");
	rmr_init(&r, buf, 3);
	ok(rmr_count(&r, 1) == 0 && r.failed, "a count cut short");
	memset(buf, 0, 4);
	rmr_init(&r, buf, 4);
	ok(rmr_count(&r, 1000) == 0 && !r.failed && rmr_done(&r), "no items in nothing");
}

static void
test_flag(void)
{
	static const unsigned char bytes[] = {0, 1, 2, 0xff};
	struct replmsg_r r;
	size_t i;

	for (i = 0; i < sizeof bytes; i++) {
		int v;

		rmr_init(&r, &bytes[i], 1);
		v = rmr_flag(&r);
		ok(bytes[i] <= 1 ? v == bytes[i] && !r.failed : v == 0 && r.failed,
		    "flag byte %u", bytes[i]);
	}
	rmr_init(&r, bytes, 0);
	ok(rmr_flag(&r) == 0 && r.failed, "a flag past the end");
}

static void
test_strings(void)
{
	static const unsigned char nul_inside[] = {0, 0, 0, 3, 'a', 0, 0},
	    no_nul[] = {0, 0, 0, 2, 'a', 'b'}, zero[] = {0, 0, 0, 0},
	    huge[] = {0xff, 0xff, 0xff, 0xff, 'a', 0};
	struct replmsg_r r;
	struct replmsg_w w;

	rmr_init(&r, nul_inside, sizeof nul_inside);
	ok(*rmr_str(&r, 10) == '\0' && r.failed, "a NUL inside a string");
	rmr_init(&r, no_nul, sizeof no_nul);
	ok(*rmr_str(&r, 10) == '\0' && r.failed, "a string without its NUL");
	rmr_init(&r, zero, sizeof zero);
	ok(*rmr_str(&r, 10) == '\0' && r.failed, "a string of length 0");
	rmr_init(&r, huge, sizeof huge);
	ok(*rmr_str(&r, UINT32_MAX) == '\0' && r.failed, "a length past the message");
	rmw_init(&w);
	rmw_str(&w, "abcd");
	rmr_init(&r, w.buf, w.len);
	ok(*rmr_str(&r, 3) == '\0' && r.failed, "a string over its reader's maximum");
	rmr_init(&r, w.buf, w.len);
	is_str(rmr_str(&r, 4), "abcd", "a string at its maximum");
	rmw_free(&w);
}

struct sender {
	int fd;
	const unsigned char *msg;
	size_t len;
	int rc;
};

static void *
send_thread(void *arg)
{
	struct sender *s = arg;

	s->rc = repllink_send(s->fd, s->msg, s->len, 10000);
	return NULL;
}

/* repllink's framing, for messages that take several growths of the buffer. */
static void
test_framing(void)
{
	static const size_t sizes[] = {1, 65535, 65536, 65537, 3u << 20, REPLMSG_MAX};
	unsigned char *big = malloc(REPLMSG_MAX + 1);
	size_t i, k;

	if (big == NULL) {
		ok(0, "out of memory");
		return;
	}
	for (k = 0; k <= REPLMSG_MAX; k++)
		big[k] = (unsigned char)(k * 131 + (k >> 16));
	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		struct sender s;
		pthread_t t;
		void *msg = NULL;
		size_t len = 0;
		int sv[2], rc;

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
			ok(0, "socketpair");
			continue;
		}
		s.fd = sv[0];
		s.msg = big;
		s.len = sizes[i];
		pthread_create(&t, NULL, send_thread, &s);
		rc = repllink_recv(sv[1], &msg, &len, 10000);
		pthread_join(t, NULL);
		ok(s.rc == 0 && rc == 0 && len == sizes[i] && memcmp(msg, big, len) == 0,
		    "a message of %zu bytes across repl.sock", sizes[i]);
		free(msg);
		close(sv[0]);
		close(sv[1]);
	}
	free(big);
}

int
main(void)
{
	test_route_sides();
	test_route_expiring();
	test_route_hostile();
	test_count();
	test_flag();
	test_strings();
	test_framing();
	return done_testing();
}
