/*
 * test_log.c - what a log line may carry: printable ASCII only, and never
 * a key from a request's query string or an absolute URI's userinfo.
 */
#include "config.h"

#include <string.h>

#include "log.h"
#include "tap.h"

#define KEY "kg_live_0123456789ABCDEFGHIJKLMNOPQRSTUV03NzCm"

static const char *
lu(const char *uri)
{
	static char out[260];

	return log_uri(uri, out, sizeof out);
}

static void
test_log_uri(void)
{
	static const struct { const char *in, *want; } cases[] = {
		{"/v1/x", "/v1/x"},
		{"/v1/x?api_key=" KEY, "/v1/x?api_key=*"},
		{"/v1/x?a=1&api_key=" KEY "&b=", "/v1/x?a=*&api_key=*&b=*"},
		{"/v1/x?" KEY, "/v1/x?*"},
		{"/v1/x?" KEY "&a=1", "/v1/x?*&a=*"},
		{"/v1/x?", "/v1/x?"},
		{"/v1/x?&&", "/v1/x?&&"},
		{"/v1/x?a==" KEY, "/v1/x?a=*"},
		{"/v1/x?a=1?api_key=" KEY, "/v1/x?a=*"},
		{"/v1/x#frag", "/v1/x#frag"},
		{"http://" KEY "@api.example.com/v1/x", "http://api.example.com/v1/x"},
		{"https://u:" KEY "@h/x?k=" KEY, "https://h/x?k=*"},
		{"http://api.example.com/a@b", "http://api.example.com/a@b"},
		{"/a\"b\r\nc\x01", "/a?b??c?"},
		{"", ""},
	};
	char small[8];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		is_str(lu(cases[i].in), cases[i].want, "log_uri case %zu: %.40s", i, cases[i].want);
	is_str(lu(NULL), "-", "log_uri NULL");
	is_str(log_uri("/abcdefghij?k=" KEY, small, sizeof small), "/abcdef", "cut to the buffer");
	is_str(log_uri("/a?k=" KEY, small, sizeof small), "/a?k=*", "the value is never what is cut");
	is_str(log_uri("/a?k=" KEY, small, 0), "", "no buffer");
}

int
main(void)
{
	test_log_uri();
	return done_testing();
}
