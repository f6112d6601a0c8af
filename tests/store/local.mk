# Store: several processes, crashes (SIGKILL) and recovery.
check_PROGRAMS += tests/store/test_store
TESTS += tests/store/test_store
tests_store_test_store_LDADD = $(KG_LIBS)
