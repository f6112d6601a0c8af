# Fault injection: damaged, missing and full stores; SIGKILLs.
TESTS += tests/faults/faults.sh tests/faults/kills.sh tests/faults/security.sh tests/faults/derived.sh
EXTRA_DIST += tests/faults/faults.sh tests/faults/kills.sh tests/faults/security.sh tests/faults/derived.sh
# The watchdog ends stuck workers only: an LD_PRELOAD library holds its
# thread between its clock read and its checks.  Built without the
# project's flags: it must not carry the sanitizers' runtime.
TESTS += tests/faults/watchdog.sh
EXTRA_DIST += tests/faults/watchdog.sh tests/faults/watchdog-shim.c
check_DATA = tests/faults/watchdog-shim.so
tests/faults/watchdog-shim.so: tests/faults/watchdog-shim.c
	$(AM_V_CC)$(MKDIR_P) tests/faults && \
	$(CC) -O2 -Wall -Wextra -Werror -shared -fPIC -o $@ $(srcdir)/tests/faults/watchdog-shim.c -ldl
MOSTLYCLEANFILES = tests/faults/watchdog-shim.so
# A worker waiting inside a store recovered under it ends after a second.
check_PROGRAMS += tests/faults/lock-holder
tests_faults_lock_holder_LDADD = $(KG_LIBS)
TESTS += tests/faults/oldregion.sh
EXTRA_DIST += tests/faults/oldregion.sh
