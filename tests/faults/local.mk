# Fault injection: damaged, missing and full stores; SIGKILLs.
TESTS += tests/faults/faults.sh tests/faults/kills.sh tests/faults/security.sh tests/faults/derived.sh
EXTRA_DIST += tests/faults/faults.sh tests/faults/kills.sh tests/faults/security.sh tests/faults/derived.sh
