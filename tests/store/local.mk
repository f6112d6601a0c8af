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
