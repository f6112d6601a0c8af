# tests/repl/lib.sh - three sites of a replicated store on one machine:
# own store directories, keygate-repd on ports of 127.0.0.1, each site
# with its own keygate-authz.  Sourced by the tests/repl scripts.
# A test may set, before make_group, SITE_ADDR[S] (site S's address,
# default 127.0.0.1) and SITE_RUN[S] (a command prefix that runs site S's
# processes, e.g. `ip netns exec NS`): every process of S runs through it.

set -u
: "${KEYGATE:?run me from make check}" "${KEYGATE_AUTHZ:?}" "${KEYGATE_REPD:?}" \
	"${REPL_PROBE:?}" "${FCGI_CLIENT:?}"

T=$(mktemp -d /tmp/kgrepl.XXXXXX)
PASS=0
FAIL=0
SITES="a b c"
declare -A PORT REPD AUTHZ SITE_ADDR SITE_RUN

cleanup() {
	local s p
	for s in $SITES; do
		[ -n "${REPD[$s]:-}" ] && signal_repd CONT "$s" 2>/dev/null
		for p in ${AUTHZ[$s]:-} ${REPD[$s]:-}; do
			kill -CONT "$p" 2>/dev/null
			kill "$p" 2>/dev/null
		done
	done
	for s in $SITES; do
		for p in ${AUTHZ[$s]:-} ${REPD[$s]:-}; do wait "$p" 2>/dev/null; done
	done
	if [ "$FAIL" -ne 0 ]; then
		for s in $SITES; do
			[ -f "$T/$s/repd.log" ] || continue
			echo "# keygate-repd of site $s:"
			grep -v ' db: ' "$T/$s/repd.log" | tail -n 15 | sed 's/^/#   /'
		done
	fi
	if [ -n "${REPL_KEEP:-}" ]; then echo "# kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap "exit 1" INT TERM

ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
not_ok() { FAIL=$((FAIL + 1)); echo "not ok - $*"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
has() { printf '%s\n' "$1" | grep -q -- "$2"; }
one_line() { [ "$(printf '%s\n' "$1" | wc -l)" -eq 1 ]; }
expect_eq() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (expected '$2', got '$3')"; fi; }
finish() { echo "# $PASS passed, $FAIL failed"; [ "$FAIL" -eq 0 ]; exit $?; }

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# site_conf S: writes $T/S/keygate.conf (its peers are the other sites).
site_conf() {
	local s=$1 o peers=""
	for o in $SITES; do
		[ "$o" = "$s" ] || peers="$peers $(site_addr "$o"):${PORT[$o]}"
	done
	mkdir -p "$T/$s"
	printf 'db = %s/%s/db\nrepl_site = %s:%s\nrepl_peers =%s\nlog-denials = no\n' \
		"$T" "$s" "$(site_addr "$s")" "${PORT[$s]}" "$peers" > "$T/$s/keygate.conf"
}
site_addr() { echo "${SITE_ADDR[$1]:-127.0.0.1}"; }

kgs() { local s=$1; shift; ${SITE_RUN[$s]:-} "$KEYGATE" --config "$T/$s/keygate.conf" "$@"; }

# keygate-repd at the priority its systemd unit gives it (Nice=-5), when
# this user may raise a priority: at the same priority as a saturating
# load its replies and acknowledgements wait for a CPU (forwarded flushes
# answered in 1-3 s, in 2 runs of 4 under fcgi-load -k -c 2 on a replica;
# none in 3 at -5).
REPD_NICE=
[ "$(nice -n -5 nice 2>/dev/null)" = "$(( $(nice) - 5 ))" ] && REPD_NICE="nice -n -5"
# start_repd S: site S's keygate-repd under a supervisor that starts it
# again when it exits with status 3 (its environment died: keygate-repd(8)),
# as its systemd unit does, at its priority.  REPD[S] is the supervisor; signal_repd SIG S
# signals the keygate-repd running now.  A keygate-repd killed by a test
# is not started again: the supervisor ends.
start_repd() {
	local s=$1
	rm -f "$T/$s/repd.pid"
	# Berkeley DB's account of elections and synchronisation in its log
	# (lines " db: "), for the failures seen once in CI
	[ -d "$T/$s/db" ] && ! grep -q '^set_verbose' "$T/$s/db/DB_CONFIG" 2>/dev/null &&
		printf 'set_verbose %s\n' DB_VERB_REP_ELECT DB_VERB_REP_SYNC DB_VERB_REPMGR_MISC \
		>>"$T/$s/db/DB_CONFIG"
	(
		trap 'p=$(cat "$T/$s/repd.pid" 2>/dev/null); kill "$p" 2>/dev/null; wait "$p"; exit 0' TERM
		while :; do
			${SITE_RUN[$s]:-} $REPD_NICE "$KEYGATE_REPD" --config "$T/$s/keygate.conf" --debug \
				>>"$T/$s/repd.log" 2>&1 &
			echo $! >"$T/$s/repd.pid"
			wait $!
			[ $? -eq 3 ] || exit 0
			echo "# supervisor: keygate-repd of site $s exited with status 3; starting it again" >>"$T/$s/repd.log"
			sleep 0.2
		done
	) &
	REPD[$s]=$!
	local i
	for i in $(seq 1 50); do [ -s "$T/$s/repd.pid" ] && return 0; sleep 0.02; done
}
signal_repd() { kill -"$1" "$(cat "$T/$2/repd.pid")"; }

start_authz() {
	local s=$1
	${SITE_RUN[$s]:-} "$KEYGATE_AUTHZ" --config "$T/$s/keygate.conf" --listen "unix:$T/$s/authz.sock" \
		--workers 2 2>>"$T/$s/authz.log" &
	AUTHZ[$s]=$!
}

addr() { echo "unix:$T/$1/authz.sock"; }

# json_field S FIELD: a top-level field of `keygate repl status --json` on S.
status_field() {
	kgs "$1" --json repl status 2>/dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1]))' "$2" 2>/dev/null
}

# wait_for SECONDS COMMAND...: until the command succeeds.
wait_for() {
	local n=$(( $1 * 10 )) i; shift
	for i in $(seq 1 "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}

role_is() { [ "$(status_field "$1" role)" = "$2" ]; }
# every other site heard of and ready, as S sees them, and S itself ready under a master
all_ready() {
	# a site that knows no master yet is "ready" from before: once it
	# hears of the new one it is behind until it has caught up with it
	kgs "$1" --json repl status 2>/dev/null | python3 -c '
import json,sys
d=json.load(sys.stdin)
ok = d["site"]["state"]=="ready" and d["master"]!="" and len(d["sites"])==2 and all(s["state"]=="ready" for s in d["sites"])
sys.exit(0 if ok else 1)' 2>/dev/null
}

# The master among the sites (by their own word), or nothing.
master() {
	local s
	for s in $SITES; do
		[ -n "${REPD[$s]:-}" ] && kill -0 "${REPD[$s]}" 2>/dev/null && role_is "$s" master &&
			{ echo "$s"; return 0; }
	done
	return 1
}

# status S KEY [PARAMS...]: what S's authorizer answers for KEY.
status() {
	local s=$1 key=$2; shift 2
	"$FCGI_CLIENT" --status "$(addr "$s")" "HTTP_AUTHORIZATION=Bearer $key" \
		REQUEST_METHOD=GET REQUEST_URI=/v1/x "$@"
}

wait_status() { # wait_status S KEY WANT: until S answers WANT (5 s)
	local i
	for i in $(seq 1 50); do
		[ "$(status "$1" "$2")" = "$3" ] && return 0
		sleep 0.1
	done
	return 1
}

# A group: site a made by keygate init (or a copy of GROUP_SEED) with a
# plan, an org and keys, b and c joined with keygate repl join, every
# keygate-repd and authorizer up.  BEFORE_JOIN, if set, is a command run
# with the name of each site about to join.
make_group() {
	local s
	for s in $SITES; do PORT[$s]=$(free_port); done
	for s in $SITES; do site_conf "$s"; done
	if [ -n "${GROUP_SEED:-}" ]; then
		# bench/repl: the group starts from a copy of a seeded store
		cp -a "$GROUP_SEED" "$T/a/db" && rm -f "$T/a/db"/__db.* || return 1
	else
		kgs a init >/dev/null 2>&1 || return 1
	fi
	kgs a plan set open >/dev/null 2>&1 &&
	kgs a plan set pro --quota 1000000/month >/dev/null 2>&1 &&
	kgs a org create acme --plan open >/dev/null 2>&1 || return 1
	KEY1=$(kgs a key create --org acme 2>/dev/null) || return 1
	start_repd a
	wait_for 10 role_is a master || return 1
	for s in b c; do
		[ -n "${BEFORE_JOIN:-}" ] && $BEFORE_JOIN "$s"
		kgs "$s" repl join "$(site_addr a):${PORT[a]}" >>"$T/$s/join.log" 2>&1 || return 1
		start_repd "$s"
	done
	for s in $SITES; do start_authz "$s"; done
	wait_for 20 all_ready a || return 1
	for s in $SITES; do wait_status "$s" "$KEY1" 200 || return 1; done
}

# pct LIST P: the P-th percentile of numbers, one a line on stdin.
pct() {
	python3 -c '
import sys, math
v = sorted(float(x) for x in sys.stdin.read().split())
p = float(sys.argv[1])
print("%.1f" % v[min(len(v)-1, max(0, math.ceil(p/100*len(v))-1))] if v else "nan")' "$1"
}
