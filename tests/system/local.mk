# tests/system: keygate installed as a system service.
#   units.sh       systemd-analyze verify and an offline security score of
#                  the generated units
#   activation.sh  keygate-authz and keygate-api under systemd-socket-activate
#                  (LISTEN_FDS): FastCGI requests, --workers 2, real nginx
#                  with the shipped upstream files, a TCP socket
#   package.sh     the Debian package: built, linted, installed, served,
#                  removed.  It changes the system (apt, /var/lib/keygate),
#                  so `make check` leaves it out: `make check-package`, which
#                  contrib/quickstart check runs, as root, after the suite.
TESTS += tests/system/units.sh tests/system/activation.sh
# units.sh checks the units this tree makes
AM_TESTS_ENVIRONMENT += SYSTEMD_UNITS='$(SYSTEMD_UNITS)'; export SYSTEMD_UNITS;
EXTRA_DIST += tests/system/units.sh tests/system/activation.sh tests/system/package.sh

# A skip (not root, a tool missing) is not a failure: status 0 and a
# "SKIP:" line.
check-package: tests/fcgi/fcgi-client$(EXEEXT)
	@$(AM_TESTS_ENVIRONMENT) KEYGATE_SYSTEM_TESTS=1 \
	    bash $(srcdir)/tests/system/package.sh; rc=$$?; \
	    test $$rc = 77 || exit $$rc
.PHONY: check-package
