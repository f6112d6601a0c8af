# tests/fuzz: libFuzzer targets, one per input surface (see each
# fuzz_*.c), with seed corpora (corpus/TARGET/: seed-* hand-made by
# make-seeds, crash-* and hang-* past findings) and dictionaries.
#
# They are built with clang, ASan, UBSan and libFuzzer by tests/fuzz/build,
# which compiles the library sources again (libkeygate.a is built by $(CC)
# without instrumentation) into $(top_builddir)/tests/fuzz/.
#
#   make fuzz                           every target, FUZZ_SECONDS (600) each
#   make fuzz FUZZ_SECONDS=60 FUZZ_TARGETS="fuzz_rules fuzz_decide"
#
# `make check` runs tests/fuzz/smoke.sh: the kept inputs, then 3 s per target.

FUZZ_LIBS = $(CRYPTO_LIBS) $(DB_LIBS) $(FCGI_LIBS) $(PTHREAD_LIBS)
FUZZ_SECONDS = 600
FUZZ_TARGETS =

AM_TESTS_ENVIRONMENT += \
	FUZZ_CC='$(FUZZ_CC)'; FUZZ_LIBS='$(FUZZ_LIBS)'; export FUZZ_CC FUZZ_LIBS;

TESTS += tests/fuzz/smoke.sh

FUZZ_HARNESS = \
	tests/fuzz/fuzz.h \
	tests/fuzz/fuzz_apikey.c \
	tests/fuzz/fuzz_conf.c \
	tests/fuzz/fuzz_creds.c \
	tests/fuzz/fuzz_decide.c \
	tests/fuzz/fuzz_fcgi_stream.c \
	tests/fuzz/fuzz_json.c \
	tests/fuzz/fuzz_jsonparse.c \
	tests/fuzz/fuzz_api.c \
	tests/fuzz/fuzz_parse.c \
	tests/fuzz/fuzz_record.c \
	tests/fuzz/fuzz_replmsg.c \
	tests/fuzz/fuzz_rules.c \
	tests/fuzz/fuzz_vault.c
FUZZ_DICTS = \
	tests/fuzz/fuzz_apikey.dict \
	tests/fuzz/fuzz_conf.dict \
	tests/fuzz/fuzz_creds.dict \
	tests/fuzz/fuzz_decide.dict \
	tests/fuzz/fuzz_fcgi_stream.dict \
	tests/fuzz/fuzz_json.dict \
	tests/fuzz/fuzz_jsonparse.dict \
	tests/fuzz/fuzz_api.dict \
	tests/fuzz/fuzz_parse.dict \
	tests/fuzz/fuzz_record.dict \
	tests/fuzz/fuzz_replmsg.dict \
	tests/fuzz/fuzz_rules.dict \
	tests/fuzz/fuzz_vault.dict
EXTRA_DIST += $(FUZZ_HARNESS) $(FUZZ_DICTS) tests/fuzz/corpus \
	tests/fuzz/build tests/fuzz/run tests/fuzz/smoke.sh tests/fuzz/make-seeds

if HAVE_FUZZ_CC
fuzz: config.h
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	FUZZ_CC='$(FUZZ_CC)' FUZZ_LIBS='$(FUZZ_LIBS)' \
	FUZZ_SECONDS='$(FUZZ_SECONDS)' \
	bash $(top_srcdir)/tests/fuzz/run $(FUZZ_TARGETS)
else
fuzz:
	@echo "make fuzz: configure found no clang; install clang and libclang-rt-14-dev and run configure again" >&2; exit 1
endif

# Build products go with `make clean`; the grown corpora and the findings
# of `make fuzz` stay until `make distclean`.
clean-local: clean-fuzz
distclean-local: distclean-fuzz
clean-fuzz:
	rm -rf tests/fuzz/obj tests/fuzz/bin tests/fuzz/libkeygate-fuzz.a \
	    tests/fuzz/smoke.*
distclean-fuzz: clean-fuzz
	rm -rf tests/fuzz/work tests/fuzz/findings

.PHONY: fuzz clean-fuzz distclean-fuzz
