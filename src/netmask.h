/*
 * netmask.h - addresses and networks written in keygate.conf
 * (metrics-allow), and whether a client's address is one of them.
 *
 * A network is an IPv4 or IPv6 address with an optional prefix length
 * ("127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"), parsed strictly: no host
 * names, no bits set past the prefix (10.1.2.3/8 is refused, never taken
 * for 10.0.0.0/8), no zone, no spaces inside.  A client's address (the
 * REMOTE_ADDR a web server passes) written as an IPv4-mapped IPv6 address
 * (::ffff:127.0.0.1, as a server listening on [::] may pass it) is that
 * IPv4 address.  Nothing here allocates or does I/O.
 */
#ifndef KEYGATE_NETMASK_H
#define KEYGATE_NETMASK_H

#include <stddef.h>
#include <stdint.h>

/* 32 networks in one list: a handful of monitoring hosts and subnets */
#define NETMASK_LIST_MAX 32

struct netmask {
	uint8_t family;   /* 4 or 6 */
	uint8_t bits;     /* prefix length: 0-32 or 0-128 */
	uint8_t addr[16]; /* network order; IPv4 in the first 4 bytes */
};

/* One network, from n bytes at s: 0, or -1 with *why. */
int netmask_parse(const char *s, size_t n, struct netmask *out, const char **why);

/*
 * A list separated by spaces or tabs (empty: none), at most max: 0, or -1
 * with *why (which names the token when it can: fmt into buf).
 */
int netmask_list_parse(const char *text, struct netmask *list, size_t max, size_t *n,
    char *why, size_t whylen);

/* Whether addr (a textual address, e.g. REMOTE_ADDR; NULL: no) is in one of the n networks. */
int netmask_list_match(const struct netmask *list, size_t n, const char *addr);

/* The network as written canonically ("10.0.0.0/8"), for messages and tests. */
int netmask_format(const struct netmask *m, char *buf, size_t cap);

#endif
