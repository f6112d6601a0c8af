# Store: several processes, crashes (SIGKILL) and recovery.
check_PROGRAMS += tests/store/test_store
TESTS += tests/store/test_store
tests_store_test_store_LDADD = $(KG_LIBS)
check_PROGRAMS += tests/store/test_keyindex
TESTS += tests/store/test_keyindex
tests_store_test_keyindex_SOURCES = tests/store/test_keyindex.c tests/unit/tap.h
tests_store_test_keyindex_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/unit
tests_store_test_keyindex_LDADD = $(KG_LIBS)
check_PROGRAMS += tests/store/test_ledger
TESTS += tests/store/test_ledger
tests_store_test_ledger_SOURCES = tests/store/test_ledger.c tests/unit/tap.h
tests_store_test_ledger_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/unit
tests_store_test_ledger_LDADD = $(KG_LIBS)
check_PROGRAMS += tests/store/test_catalog
TESTS += tests/store/test_catalog
tests_store_test_catalog_SOURCES = tests/store/test_catalog.c tests/unit/tap.h
tests_store_test_catalog_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/unit
tests_store_test_catalog_LDADD = $(KG_LIBS)
# The in-process decision (gate.h) from many threads at once.
check_PROGRAMS += tests/store/gate-driver
tests_store_gate_driver_LDADD = $(KG_LIBS)
TESTS += tests/store/gate.sh
EXTRA_DIST += tests/store/gate.sh
