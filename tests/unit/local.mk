# tests/unit: one TAP program per module, run by automake's default driver.
# Each program prints TAP to its .log file and exits non-zero when any test
# point failed, so the shell tests added elsewhere keep the plain exit-code
# protocol (0 pass, 77 skip, 99 hard error) and no special driver is needed.

UNIT_TESTS = \
	tests/unit/test_apikey \
	tests/unit/test_creds \
	tests/unit/test_parse \
	tests/unit/test_json \
	tests/unit/test_jsonparse \
	tests/unit/test_rules \
	tests/unit/test_record \
	tests/unit/test_policy \
	tests/unit/test_conf \
	tests/unit/test_decision \
	tests/unit/test_counters \
	tests/unit/test_server \
	tests/unit/test_fcgi_guard \
	tests/unit/test_params \
	tests/unit/test_log \
	tests/unit/test_vault \
	tests/unit/test_metrics \
	tests/unit/test_netmask \
	tests/unit/test_replmsg

check_PROGRAMS += $(UNIT_TESTS)
# the reference for test_jsonparse's differential check
EXTRA_DIST += tests/unit/jsonparse_ref.py
TESTS += $(UNIT_TESTS)

tests_unit_test_apikey_SOURCES = tests/unit/test_apikey.c tests/unit/tap.h
tests_unit_test_apikey_LDADD = $(KG_LIBS)
tests_unit_test_creds_SOURCES = tests/unit/test_creds.c tests/unit/tap.h
tests_unit_test_creds_LDADD = $(KG_LIBS)
tests_unit_test_parse_SOURCES = tests/unit/test_parse.c tests/unit/tap.h
tests_unit_test_parse_LDADD = $(KG_LIBS)
tests_unit_test_json_SOURCES = tests/unit/test_json.c tests/unit/tap.h
tests_unit_test_json_LDADD = $(KG_LIBS)
tests_unit_test_jsonparse_SOURCES = tests/unit/test_jsonparse.c tests/unit/tap.h
tests_unit_test_jsonparse_LDADD = $(KG_LIBS)
tests_unit_test_rules_SOURCES = tests/unit/test_rules.c tests/unit/tap.h
tests_unit_test_rules_LDADD = $(KG_LIBS)
tests_unit_test_record_SOURCES = tests/unit/test_record.c tests/unit/tap.h
tests_unit_test_record_LDADD = $(KG_LIBS)
tests_unit_test_policy_SOURCES = tests/unit/test_policy.c tests/unit/tap.h
tests_unit_test_policy_LDADD = $(KG_LIBS)
tests_unit_test_conf_SOURCES = tests/unit/test_conf.c tests/unit/tap.h
tests_unit_test_conf_LDADD = $(KG_LIBS)
tests_unit_test_decision_SOURCES = tests/unit/test_decision.c tests/unit/tap.h
tests_unit_test_decision_LDADD = $(KG_LIBS)
tests_unit_test_counters_SOURCES = tests/unit/test_counters.c tests/unit/tap.h
tests_unit_test_counters_LDADD = $(KG_LIBS)
tests_unit_test_server_SOURCES = tests/unit/test_server.c tests/unit/tap.h
tests_unit_test_server_LDADD = $(KG_LIBS)
tests_unit_test_fcgi_guard_SOURCES = tests/unit/test_fcgi_guard.c tests/unit/tap.h
tests_unit_test_fcgi_guard_LDADD = $(KG_LIBS)
tests_unit_test_params_SOURCES = tests/unit/test_params.c tests/unit/tap.h
tests_unit_test_params_LDADD = $(KG_LIBS)
tests_unit_test_log_SOURCES = tests/unit/test_log.c tests/unit/tap.h
tests_unit_test_log_LDADD = $(KG_LIBS)
tests_unit_test_vault_SOURCES = tests/unit/test_vault.c tests/unit/tap.h
tests_unit_test_vault_LDADD = $(KG_LIBS)
tests_unit_test_metrics_SOURCES = tests/unit/test_metrics.c tests/unit/tap.h
tests_unit_test_metrics_LDADD = $(KG_LIBS)
tests_unit_test_netmask_SOURCES = tests/unit/test_netmask.c tests/unit/tap.h
tests_unit_test_netmask_LDADD = $(KG_LIBS)
tests_unit_test_replmsg_SOURCES = tests/unit/test_replmsg.c tests/unit/tap.h
tests_unit_test_replmsg_LDADD = $(KG_LIBS)
