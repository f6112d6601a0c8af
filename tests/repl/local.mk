# tests/repl: three sites of a replicated store on this machine (keygate-repd(8)).
check_PROGRAMS += tests/repl/repl-probe
tests_repl_repl_probe_SOURCES = tests/repl/repl-probe.c
tests_repl_repl_probe_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/fcgi
tests_repl_repl_probe_LDADD = tests/fcgi/libfcgiclient.a $(PTHREAD_LIBS)
check_PROGRAMS += tests/repl/applied-probe
tests_repl_applied_probe_LDADD = $(KG_LIBS)
check_PROGRAMS += tests/repl/hold-cursor
tests_repl_hold_cursor_LDADD = $(KG_LIBS)
check_PROGRAMS += tests/repl/history-probe
tests_repl_history_probe_LDADD = $(KG_LIBS)
REPL_TESTS = tests/repl/group.sh tests/repl/propagation.sh tests/repl/failover.sh \
	tests/repl/quota.sh tests/repl/api.sh tests/repl/partition.sh tests/repl/behind.sh \
	tests/repl/lostanswer.sh tests/repl/repdkill.sh tests/repl/applied.sh \
	tests/repl/membership.sh tests/repl/stuck.sh
TESTS += $(REPL_TESTS)
EXTRA_DIST += tests/repl/lib.sh $(REPL_TESTS) tests/repl/lostanswer-shim.c tests/repl/gmdb-shim.c
# LD_PRELOAD into the master's keygate-repd (lostanswer.sh); built without
# the project's flags, like tests/faults/watchdog-shim.so.
check_DATA += tests/repl/lostanswer-shim.so
tests/repl/lostanswer-shim.so: tests/repl/lostanswer-shim.c
	$(AM_V_CC)$(MKDIR_P) tests/repl && \
	$(CC) -O2 -Wall -Wextra -Werror -shared -fPIC -o $@ $(srcdir)/tests/repl/lostanswer-shim.c -ldl
MOSTLYCLEANFILES += tests/repl/lostanswer-shim.so
# LD_PRELOAD into a replica (membership.sh): its membership reloads skipped.
check_DATA += tests/repl/gmdb-shim.so
tests/repl/gmdb-shim.so: tests/repl/gmdb-shim.c
	$(AM_V_CC)$(MKDIR_P) tests/repl && \
	$(CC) -O2 -Wall -Wextra -Werror -shared -fPIC -o $@ $(srcdir)/tests/repl/gmdb-shim.c -ldl -lpthread
MOSTLYCLEANFILES += tests/repl/gmdb-shim.so

# These tests time elections, heartbeats and propagation, which a CPU
# saturated by the load tests of other suites distorts (a master that
# cannot send its heartbeats in time is replaced): under `make -j check`
# they run after every other test, one after another.  Only the tests
# being run are waited for (TESTS=... runs just those).
REPL_LOGS = $(REPL_TESTS:.sh=.log)
tests/repl/group.log: $(filter-out $(REPL_LOGS),$(TEST_LOGS))
tests/repl/propagation.log: $(filter tests/repl/group.log,$(TEST_LOGS))
tests/repl/failover.log: $(filter tests/repl/propagation.log,$(TEST_LOGS))
tests/repl/quota.log: $(filter tests/repl/failover.log,$(TEST_LOGS))
tests/repl/api.log: $(filter tests/repl/quota.log,$(TEST_LOGS))
tests/repl/partition.log: $(filter tests/repl/api.log,$(TEST_LOGS))
tests/repl/behind.log: $(filter tests/repl/partition.log,$(TEST_LOGS))
tests/repl/lostanswer.log: $(filter tests/repl/behind.log,$(TEST_LOGS))
tests/repl/repdkill.log: $(filter tests/repl/lostanswer.log,$(TEST_LOGS))
tests/repl/applied.log: $(filter tests/repl/repdkill.log,$(TEST_LOGS))
tests/repl/membership.log: $(filter tests/repl/applied.log,$(TEST_LOGS))
tests/repl/stuck.log: $(filter tests/repl/membership.log,$(TEST_LOGS))
