# bench: the benchmark of issue 6 (see bench/run --help).  Its programs are
# built only by `make bench`, which then runs the whole benchmark and writes
# bench/RESULTS.md in the source tree.
#
#   make bench                         full run (about an hour on 2 vCPUs)
#   make bench BENCH_FLAGS=--quick     a smoke run of every path, 1 round
#   make bench-repl                    a replicated store next to a single
#                                      host, directly and through nginx
#                                      (bench/repl; about 6 minutes)
EXTRA_PROGRAMS = bench/fcgi-load bench/null-authz

bench_fcgi_load_SOURCES = bench/fcgi-load.c
bench_fcgi_load_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/fcgi
bench_fcgi_load_LDADD = tests/fcgi/libfcgiclient.a $(PTHREAD_LIBS) -lm

bench_null_authz_SOURCES = bench/null-authz.c
bench_null_authz_LDADD = $(FCGI_LIBS)

BENCH_FILES = bench/run bench/seed bench/servers.sh \
	bench/report.py bench/wrk-keys.lua bench/api-mgmt.py bench/fcgi.py \
	bench/repl bench/repl-writes.py
EXTRA_DIST += $(BENCH_FILES) bench/RESULTS.md bench/analysis.md bench/REPL-RESULTS.md
CLEANFILES = $(EXTRA_PROGRAMS)

BENCH_FLAGS =
bench-programs: keygate keygate-authz keygate-api bench/fcgi-load$(EXEEXT) bench/null-authz$(EXEEXT) \
    tests/fcgi/fcgi-client$(EXEEXT)
bench: bench-programs
	$(SHELL) $(top_srcdir)/bench/run --builddir '$(abs_top_builddir)' \
	    --results '$(abs_top_srcdir)/bench/RESULTS.md' $(BENCH_FLAGS)
bench-repl: bench-programs keygate-repd tests/repl/repl-probe$(EXEEXT)
	$(SHELL) $(top_srcdir)/bench/repl --builddir '$(abs_top_builddir)' \
	    --results '$(abs_top_srcdir)/bench/REPL-RESULTS.md' $(BENCH_FLAGS)
.PHONY: bench bench-programs bench-repl
