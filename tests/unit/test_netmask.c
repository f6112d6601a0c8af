/*
 * test_netmask.c - networks as keygate.conf writes them (metrics-allow)
 * and client addresses: what parses, what is refused and why, what
 * matches, and garbage, empty, huge and hostile input.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netmask.h"
#include "tap.h"

/* The canonical form of one network, or "ERR: reason". */
static const char *
one(const char *s)
{
	static char out[256];
	struct netmask m;
	const char *why;

	if (netmask_parse(s, strlen(s), &m, &why) != 0) {
		snprintf(out, sizeof out, "ERR: %s", why);
		return out;
	}
	if (netmask_format(&m, out, sizeof out) < 0)
		return "FORMAT FAILED";
	return out;
}

static void
test_parse(void)
{
	static const struct { const char *in, *want; } good[] = {
		{"127.0.0.1", "127.0.0.1/32"},
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"0.0.0.0/0", "0.0.0.0/0"},
		{"192.168.1.128/25", "192.168.1.128/25"},
		{"::1", "::1/128"},
		{"fd00::/8", "fd00::/8"},
		{"::/0", "::/0"},
		{"2001:db8::/32", "2001:db8::/32"},
		{"::ffff:127.0.0.1", "127.0.0.1/32"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"10.1.2.3/32", "10.1.2.3/32"},
	};
	static const char *const bad[] = {
		"", "localhost", "example.com", "10.0.0.0/", "10.0.0.0/33", "::/129",
		"10.1.2.3/8", "fd00::1/8", "10.0.0.0/08", "10.0.0.0/+8", "10.0.0.0/-1",
		"10.0.0.0/8/8", "10.0.0.0 /8", "10.0.0", "10.0.0.0.0", "256.0.0.1",
		"010.0.0.1", "1.2.3.4x", "fe80::1%eth0", "[::1]", ":::1", "1::2::3",
		"10.0.0.0/1000", "10.0.0.0/4294967304", "0x7f.0.0.1", "127.1",
		"/8", "*", "10.0.0.*", "10.0.0.0/8,127.0.0.1",
	};
	size_t i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++)
		is_str(one(good[i].in), good[i].want, "'%s'", good[i].in);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ok(strncmp(one(bad[i]), "ERR: ", 5) == 0, "refused: '%s' (%s)", bad[i], one(bad[i]));
	ok(strstr(one("10.1.2.3/8"), "10.0.0.0/8") != NULL, "host bits: the message says how to write it");
	ok(strstr(one("localhost"), "host names") != NULL, "a host name: the message says none");
}

static void
test_hostile(void)
{
	struct netmask m;
	const char *why;
	char *big;
	size_t n = 1 << 20;

	/* the length given is the length read: no NUL needed, none looked past */
	ok(netmask_parse("10.0.0.0/8XXXX", 10, &m, &why) == 0 && m.bits == 8, "n bytes, not up to a NUL");
	ok(netmask_parse("10.0.0.0\0/8", 11, &m, &why) != 0, "a NUL inside: refused");
	ok(netmask_parse("127.0.0.1", 0, &m, &why) != 0, "n = 0: refused");
	big = malloc(n);
	if (big == NULL)
		return;
	memset(big, '1', n);
	ok(netmask_parse(big, n, &m, &why) != 0, "1 MiB of digits: refused");
	memset(big, ':', n);
	ok(netmask_parse(big, n, &m, &why) != 0, "1 MiB of colons: refused");
	free(big);
}

static void
test_list(void)
{
	struct netmask list[NETMASK_LIST_MAX];
	char why[200], text[4096];
	size_t n, i;

	ok(netmask_list_parse("", list, NETMASK_LIST_MAX, &n, why, sizeof why) == 0 && n == 0,
	    "empty: no networks");
	ok(netmask_list_parse(" \t ", list, NETMASK_LIST_MAX, &n, why, sizeof why) == 0 && n == 0,
	    "blanks: no networks");
	ok(netmask_list_parse("127.0.0.1 ::1\t10.0.0.0/8", list, NETMASK_LIST_MAX, &n, why,
	    sizeof why) == 0 && n == 3, "three, by spaces and tabs");
	ok(netmask_list_parse("127.0.0.1 nope ::1", list, NETMASK_LIST_MAX, &n, why, sizeof why) != 0 &&
	    strstr(why, "'nope'") != NULL, "a bad one: refused, named (%s)", why);
	ok(netmask_list_parse("127.0.0.1 \x1b[31m", list, NETMASK_LIST_MAX, &n, why, sizeof why) != 0 &&
	    strchr(why, '\x1b') == NULL, "a control byte is not echoed (%s)", why);
	ok(netmask_list_parse("10.0.0.0/8,127.0.0.1", list, NETMASK_LIST_MAX, &n, why, sizeof why) != 0,
	    "commas are no separator");
	text[0] = '\0';
	for (i = 0; i <= NETMASK_LIST_MAX; i++)
		snprintf(text + strlen(text), sizeof text - strlen(text), "10.0.0.%zu ", i);
	ok(netmask_list_parse(text, list, NETMASK_LIST_MAX, &n, why, sizeof why) != 0,
	    "%d networks: refused, never cut (%s)", NETMASK_LIST_MAX + 1, why);
	text[strlen(text) - strlen("10.0.0.32 ")] = '\0';
	ok(netmask_list_parse(text, list, NETMASK_LIST_MAX, &n, why, sizeof why) == 0 &&
	    n == NETMASK_LIST_MAX, "%d networks: fine", NETMASK_LIST_MAX);
}

static void
test_match(void)
{
	struct netmask list[NETMASK_LIST_MAX];
	char why[200];
	size_t n;

	netmask_list_parse("127.0.0.1 10.0.0.0/8 192.168.1.128/25 fd00::/8 ::1", list,
	    NETMASK_LIST_MAX, &n, why, sizeof why);
	ok(netmask_list_match(list, n, "127.0.0.1"), "127.0.0.1");
	ok(!netmask_list_match(list, n, "127.0.0.2"), "not 127.0.0.2");
	ok(netmask_list_match(list, n, "10.255.3.4"), "10.255.3.4 in 10.0.0.0/8");
	ok(!netmask_list_match(list, n, "11.0.0.1"), "not 11.0.0.1");
	ok(netmask_list_match(list, n, "192.168.1.200"), "192.168.1.200 in /25");
	ok(!netmask_list_match(list, n, "192.168.1.127"), "not 192.168.1.127");
	ok(netmask_list_match(list, n, "::1"), "::1");
	ok(netmask_list_match(list, n, "fd12:3456::1"), "fd12:3456::1 in fd00::/8");
	ok(!netmask_list_match(list, n, "fe80::1"), "not fe80::1");
	ok(netmask_list_match(list, n, "::ffff:127.0.0.1"), "::ffff:127.0.0.1 is 127.0.0.1");
	ok(netmask_list_match(list, n, "::FFFF:10.1.1.1"), "::FFFF:10.1.1.1 is 10.1.1.1");
	ok(!netmask_list_match(list, n, "::ffff:11.0.0.1"), "not ::ffff:11.0.0.1");
	ok(!netmask_list_match(list, n, "::127.0.0.1"), "::127.0.0.1 is no IPv4 address");
	ok(!netmask_list_match(list, n, NULL), "no address: no");
	ok(!netmask_list_match(list, n, ""), "an empty address: no");
	ok(!netmask_list_match(list, n, "localhost"), "a name: no");
	ok(!netmask_list_match(list, n, "127.0.0.1 "), "a trailing space: no");
	ok(!netmask_list_match(list, n, "127.0.0.1/8"), "a network as address: no");
	ok(!netmask_list_match(list, 0, "127.0.0.1"), "an empty list allows nobody");
	netmask_list_parse("0.0.0.0/0", list, NETMASK_LIST_MAX, &n, why, sizeof why);
	ok(netmask_list_match(list, n, "203.0.113.9") && !netmask_list_match(list, n, "::1"),
	    "0.0.0.0/0: every IPv4 address, no IPv6 one");
}

int
main(void)
{
	test_parse();
	test_hostile();
	test_list();
	test_match();
	return done_testing();
}
