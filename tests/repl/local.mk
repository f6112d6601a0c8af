# tests/repl: three sites of a replicated store on this machine (keygate-repd(8)).
check_PROGRAMS += tests/repl/repl-probe
tests_repl_repl_probe_SOURCES = tests/repl/repl-probe.c
tests_repl_repl_probe_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/fcgi
tests_repl_repl_probe_LDADD = tests/fcgi/libfcgiclient.a $(PTHREAD_LIBS)
TESTS += tests/repl/group.sh tests/repl/propagation.sh tests/repl/failover.sh
EXTRA_DIST += tests/repl/lib.sh tests/repl/group.sh tests/repl/propagation.sh \
	tests/repl/failover.sh
