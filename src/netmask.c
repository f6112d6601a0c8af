/*
 * netmask.c - networks of keygate.conf and client addresses (netmask.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "netmask.h"

/* INET6_ADDRSTRLEN and a prefix ("/128"): anything longer is no address */
#define NETMASK_TEXT_MAX (INET6_ADDRSTRLEN + 4)

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* An address alone (no prefix): its family (4 or 6), or 0. */
static int
address(const char *s, uint8_t out[16])
{
	memset(out, 0, 16);
	if (strchr(s, ':') == NULL)
		return inet_pton(AF_INET, s, out) == 1 ? 4 : 0;
	return inet_pton(AF_INET6, s, out) == 1 ? 6 : 0;
}

int
netmask_parse(const char *s, size_t n, struct netmask *out, const char **why)
{
	char text[NETMASK_TEXT_MAX + 1], *slash;
	unsigned bits, max, i;
	int family;

	if (n == 0 || n > NETMASK_TEXT_MAX || memchr(s, '\0', n) != NULL) {
		*why = n == 0 ? "an empty address" : "not an IPv4 or IPv6 address";
		return -1;
	}
	memcpy(text, s, n);
	text[n] = '\0';
	if ((slash = strchr(text, '/')) != NULL)
		*slash = '\0';
	if ((family = address(text, out->addr)) == 0) {
		*why = "not an IPv4 or IPv6 address (no host names)";
		return -1;
	}
	max = family == 4 ? 32 : 128;
	bits = max;
	if (slash != NULL) {
		const char *p = slash + 1;

		/* 1 to 3 digits, no sign, no leading zero: "/08" is a typo */
		if (*p == '\0' || strspn(p, "0123456789") != strlen(p) || strlen(p) > 3 ||
		    (p[0] == '0' && p[1] != '\0')) {
			*why = "the prefix length must be a number, e.g. /24";
			return -1;
		}
		for (bits = 0; *p; p++)
			bits = bits * 10 + (unsigned)(*p - '0');
		if (bits > max) {
			*why = family == 4 ? "an IPv4 prefix is at most /32" : "an IPv6 prefix is at most /128";
			return -1;
		}
	}
	for (i = bits; i < max; i++) {
		if (out->addr[i / 8] & (0x80u >> (i % 8))) {
			*why = "bits set past the prefix length (write the network, e.g. 10.0.0.0/8)";
			return -1;
		}
	}
	out->family = (uint8_t)family;
	out->bits = (uint8_t)bits;
	/* ::ffff:10.0.0.0/104 is 10.0.0.0/8: clients' mapped addresses are matched as IPv4 */
	if (family == 6 && bits >= 96 && memcmp(out->addr, v4mapped, sizeof v4mapped) == 0) {
		memmove(out->addr, out->addr + 12, 4);
		memset(out->addr + 4, 0, 12);
		out->family = 4;
		out->bits = (uint8_t)(bits - 96);
	}
	return 0;
}

static int
printable(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

int
netmask_list_parse(const char *text, struct netmask *list, size_t max, size_t *n,
    char *why, size_t whylen)
{
	const char *p = text, *reason;
	size_t len;

	*n = 0;
	for (;;) {
		p += strspn(p, " \t");
		if (*p == '\0')
			return 0;
		len = strcspn(p, " \t");
		if (*n == max) {
			snprintf(why, whylen, "more than %zu addresses", max);
			return -1;
		}
		if (netmask_parse(p, len, &list[*n], &reason) != 0) {
			/* the token as written, when it is short and printable */
			if (len <= NETMASK_TEXT_MAX && printable(p, len))
				snprintf(why, whylen, "'%.*s': %s", (int)len, p, reason);
			else
				snprintf(why, whylen, "address %zu: %s", *n + 1, reason);
			return -1;
		}
		(*n)++;
		p += len;
	}
}

static int
in_network(const struct netmask *m, const uint8_t a[16])
{
	unsigned full = m->bits / 8, rest = m->bits % 8;

	if (memcmp(m->addr, a, full) != 0)
		return 0;
	return rest == 0 || ((m->addr[full] ^ a[full]) & (0xffu << (8 - rest)) & 0xffu) == 0;
}

int
netmask_list_match(const struct netmask *list, size_t n, const char *addr)
{
	uint8_t a[16];
	size_t i;
	int family;

	if (addr == NULL || strlen(addr) > NETMASK_TEXT_MAX || (family = address(addr, a)) == 0)
		return 0;
	if (family == 6 && memcmp(a, v4mapped, sizeof v4mapped) == 0) {
		memmove(a, a + 12, 4);
		memset(a + 4, 0, 12);
		family = 4;
	}
	for (i = 0; i < n; i++)
		if (list[i].family == family && in_network(&list[i], a))
			return 1;
	return 0;
}

int
netmask_format(const struct netmask *m, char *buf, size_t cap)
{
	char text[INET6_ADDRSTRLEN];

	if (inet_ntop(m->family == 4 ? AF_INET : AF_INET6, m->addr, text, sizeof text) == NULL)
		return -1;
	return snprintf(buf, cap, "%s/%u", text, m->bits);
}
