# tests/fcgi/lib.sh - shared by the FastCGI protocol tests: a sandbox with
# a store, keys and a running keygate-authz, and small assertions.
# Sourced by bash scripts run from `make check` (see AM_TESTS_ENVIRONMENT).

set -u
: "${KEYGATE:?run me from make check}" "${KEYGATE_AUTHZ:?}" "${FCGI_CLIENT:?}"

T=$(mktemp -d /tmp/kgtest.XXXXXX)
DB="$T/db"
LOG="$T/authz.log"
PASS=0
FAIL=0
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	if [ "$FAIL" -ne 0 ] && [ -f "$LOG" ]; then
		echo "# authorizer log:"; sed 's/^/#   /' "$LOG" | tail -n 40
	fi
	[ -n "${KEYGATE_TEST_KEEP:-}" ] && echo "# kept $T" || rm -rf "$T"
}
trap cleanup EXIT
trap "exit 1" INT TERM

ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
not_ok() { FAIL=$((FAIL + 1)); echo "not ok - $*"; }
check() { # check DESCRIPTION COMMAND...: passes when the command succeeds
	local d=$1; shift
	if "$@"; then ok "$d"; else not_ok "$d"; fi
}
finish() {
	echo "# $PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
	exit $?
}

kg() { "$KEYGATE" --db "$DB" "$@"; }
# Creates a key and sets NEWKEY and NEWID.
newkey() {
	NEWKEY=$(kg key create "$@" 2>"$T/id") || return 1
	NEWID=$(cat "$T/id")
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_authz ADDRESS [options]: runs keygate-authz --listen ADDRESS.
start_authz() {
	local addr=$1; shift
	"$KEYGATE_AUTHZ" --db "$DB" --listen "$addr" "$@" 2>>"$LOG" &
	AUTHZ_PID=$!
	PIDS+=("$AUTHZ_PID")
	ADDR=$addr
	wait_ready "$addr"
}

wait_ready() {
	local i
	# under valgrind a start takes seconds
	for i in $(seq 1 $(( ${KEYGATE_SLOW:-0} ? 300 : 50 ))); do
		"$FCGI_CLIENT" --timeout 500 --status "$1" REQUEST_URI=/ >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "# authorizer at $1 did not come up"; return 1
}

# req [client options] NAME=VALUE...: one request, raw response on stdout.
req() { "$FCGI_CLIENT" "$ADDR_OPT" "$@"; }
status() { "$FCGI_CLIENT" --status "$@"; }
header() { local h=$1; shift; "$FCGI_CLIENT" --header "$h" "$@"; }
body() { "$FCGI_CLIENT" --body "$@"; }

expect_eq() { # expect_eq DESCRIPTION EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (expected '$2', got '$3')"; fi
}

# The exact JSON error body of keygate-authz(8), parsed by a JSON parser.
json_code() {
	python3 -c 'import json,sys
d=json.loads(sys.stdin.read())
assert list(d)==["error"] and sorted(d["error"])==["code","message"]
print(d["error"]["code"])' 2>/dev/null || echo "not-json"
}

# ledger_used ORG [day|month|credits]: what the ledger holds of ORG's
# counts (the sum over every counter file's record), read straight from
# ledger.db.  Tests wait on it to know a flush has happened.
ledger_used() {
	db5.3_dump -p -h "$DB" ledger.db 2>/dev/null |
		python3 "$top_srcdir/tests/fcgi/ledger-used.py" "$1" "${2:-credits}"
}

# wait_ledger ORG WANT [COUNTER]: until the ledger holds WANT (10 s at most).
wait_ledger() {
	local i
	for i in $(seq 1 100); do
		[ "$(ledger_used "$1" "${3:-credits}")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
