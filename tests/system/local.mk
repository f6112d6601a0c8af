# tests/system: keygate installed as a system service.
#   units.sh       systemd-analyze verify and an offline security score of
#                  the generated units
#   activation.sh  keygate-authz under systemd-socket-activate (LISTEN_FDS):
#                  FastCGI requests, --workers 2, real nginx, a TCP socket
TESTS += tests/system/units.sh tests/system/activation.sh
EXTRA_DIST += tests/system/units.sh tests/system/activation.sh


# For tests/system/units.sh: the units this tree makes.
print-systemd-units:
	@echo $(SYSTEMD_UNITS)
.PHONY: print-systemd-units
