# tests/fcgi: a FastCGI client written from the specification, not on
# libfcgi, so the tests do not share the code they test.  The library is
# kept separate for the benchmark to link.
noinst_LIBRARIES += tests/fcgi/libfcgiclient.a
tests_fcgi_libfcgiclient_a_SOURCES = \
	tests/fcgi/fcgiclient.c tests/fcgi/fcgiclient.h

check_PROGRAMS += tests/fcgi/fcgi-client
tests_fcgi_fcgi_client_SOURCES = tests/fcgi/fcgi-client.c
tests_fcgi_fcgi_client_LDADD = tests/fcgi/libfcgiclient.a libkeygate.a

# Protocol tests: the real keygate-authz driven by the client above.
TESTS += tests/fcgi/protocol.sh
EXTRA_DIST += tests/fcgi/lib.sh tests/fcgi/protocol.sh

# Decisions under churn: CLI writes while 4 authorizer processes serve.
check_PROGRAMS += tests/fcgi/churn
tests_fcgi_churn_SOURCES = tests/fcgi/churn.c
tests_fcgi_churn_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/fcgi
tests_fcgi_churn_LDADD = tests/fcgi/libfcgiclient.a $(PTHREAD_LIBS)
TESTS += tests/fcgi/concurrency.sh
EXTRA_DIST += tests/fcgi/concurrency.sh
TESTS += tests/fcgi/policy.sh tests/fcgi/valgrind.sh tests/fcgi/cli.sh tests/fcgi/ledger.sh
EXTRA_DIST += tests/fcgi/policy.sh tests/fcgi/valgrind.sh tests/fcgi/cli.sh tests/fcgi/ledger.sh tests/fcgi/ledger-used.py tests/valgrind.supp tests/lsan.supp
# The audit trail and key scopes through the CLI; keys kept in a vault.
TESTS += tests/fcgi/audit.sh tests/fcgi/vault.sh
EXTRA_DIST += tests/fcgi/audit.sh tests/fcgi/vault.sh
# Hostile streams: crafted records, limits, trickling and idle clients.
TESTS += tests/fcgi/hostile.sh
EXTRA_DIST += tests/fcgi/hostile.sh
# What a client controls: hosts, repeated and empty headers, long paths, logs.
TESTS += tests/fcgi/input.sh
EXTRA_DIST += tests/fcgi/input.sh
# keygate-api over FastCGI: every endpoint, scope and bad input.
TESTS += tests/fcgi/api.sh
EXTRA_DIST += tests/fcgi/api.sh tests/fcgi/api_test.py
# What keygate metrics says after requests, a killed worker and a truncated file.
TESTS += tests/fcgi/metrics.sh
EXTRA_DIST += tests/fcgi/metrics.sh
