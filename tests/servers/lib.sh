# tests/servers/lib.sh - what the real-server tests share.  Sourced by
# tests/servers/*.sh, which `make check` runs with KEYGATE, KEYGATE_AUTHZ,
# top_srcdir and top_builddir in the environment.
#
# A test: sandbox (temp dir, store, keys), real server started from a
# config written into the sandbox (generated from contrib/), echo backends,
# requests with curl, checks.  Everything started is recorded by PID and
# stopped at exit.  Ports come from the kernel: tests run in parallel.
#
# Exit status: 0 all checks passed, 77 the server is not installed, 1 any
# check failed, 99 the sandbox could not be set up.

# Variables set here are read by the scripts that source this file.
# shellcheck disable=SC2034

set -u

: "${KEYGATE:?KEYGATE must name the keygate binary}"
: "${KEYGATE_AUTHZ:?KEYGATE_AUTHZ must name the keygate-authz binary}"
: "${top_srcdir:?}"

SRV=$top_srcdir/tests/servers
CONTRIB=$top_srcdir/contrib
REALM=keygate

T=""
PIDS=""
FAILS=0
CHECKS=0
T0=$(date +%s)

# ---- reporting -------------------------------------------------------

note() { printf '# %s\n' "$*"; }

pass() {
	CHECKS=$((CHECKS + 1))
	printf 'ok %d - %s\n' "$CHECKS" "$*"
}

# A failed check: says what was expected and shows the last response.
fail() {
	CHECKS=$((CHECKS + 1))
	FAILS=$((FAILS + 1))
	printf 'not ok %d - %s\n' "$CHECKS" "$*"
	if [ -n "$T" ] && [ -f "$T/resp.h" ]; then
		printf '#   last response: %s %s\n' "${REQ_DESC:-}" "${CODE:-}"
		sed 's/^/#   < /' "$T/resp.h" | head -n 20
		head -c 600 "$T/resp.b" 2>/dev/null | sed 's/^/#   | /'
		echo
	fi
}

# Sandbox trouble, not a failed check.
die() {
	printf 'ERROR: %s\n' "$*" >&2
	exit 99
}

skip() {
	printf 'SKIP: %s\n' "$*"
	exit 77
}

# ---- sandbox ---------------------------------------------------------

# The user the servers run as, and who must reach the store: as root the
# servers drop to www-data, so the store is shared with that group and the
# standalone authorizer drops too.
if [ "$(id -u)" = 0 ]; then
	WEB_USER=www-data
	WEB_GROUP=www-data
	id "$WEB_USER" >/dev/null 2>&1 || die "user $WEB_USER does not exist"
else
	WEB_USER=$(id -un)
	WEB_GROUP=$(id -gn)
fi

# Runs a command as the web user (as root), or as is.
as_web() {
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid="$WEB_USER" --regid="$WEB_GROUP" --clear-groups -- "$@"
	else
		"$@"
	fi
}

# Sets T to a fresh directory the web user can traverse, with:
#   bin/  copies of keygate-authz (the build tree may sit in a directory the
#         web user cannot enter, such as /root)
#   run/  writable by the web user: sockets, logs, temp files
#   db/   the store (see make_store)
sandbox() {
	T=$(mktemp -d /tmp/keygate-srv.XXXXXX) || die "mktemp failed"
	chmod 755 "$T"
	trap cleanup EXIT
	trap 'exit 1' INT TERM HUP
	mkdir -p "$T/bin" "$T/run" "$T/www" "$T/cgi-bin" "$T/log" || die "mkdir failed"
	[ "$(id -u)" = 0 ] && chown "$WEB_USER:$WEB_GROUP" "$T/run"
	install -m 755 "$KEYGATE_AUTHZ" "$T/bin/keygate-authz" || die "cannot copy $KEYGATE_AUTHZ"
	AUTHZ=$T/bin/keygate-authz
	echo "keygate test" > "$T/www/index.html"
	# CGI echo backend: what a CGI program receives, one NAME=value a line.
	cat > "$T/cgi-bin/echo" <<-'EOF'
	#!/bin/sh
	printf 'Content-Type: text/plain\r\n\r\n'
	env | sort
	EOF
	chmod 755 "$T/cgi-bin/echo"
	note "sandbox $T (servers run as $WEB_USER)"
}

# Stops one process: SIGCONT (it may be stopped), SIGTERM, up to 5 s, SIGKILL.
stop_pid() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	kill -CONT "$pid" 2>/dev/null
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		# a zombie child of ours: reap it
		if [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = Z ]; then
			break
		fi
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# All descendants of a PID, children first listed last (by ps).
descendants() {
	local p c
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		echo "$c"
		descendants "$c"
	done
}

# Stops a process we started and whatever it started (web servers stop
# their own children, but a stopped or wedged one may not).
stop_tree() {
	local pid=$1 kids k
	kids=$(descendants "$pid")
	for k in $kids; do kill -CONT "$k" 2>/dev/null; done
	stop_pid "$pid"
	for k in $kids; do
		kill -0 "$k" 2>/dev/null || continue
		kill -CONT "$k" 2>/dev/null
		kill -TERM "$k" 2>/dev/null
	done
	sleep 0.2
	for k in $kids; do kill -KILL "$k" 2>/dev/null; done
	return 0
}

# Records a PID to be stopped at exit.
track() { PIDS="$1 $PIDS"; }
untrack() {
	local p rest=""
	for p in $PIDS; do [ "$p" = "$1" ] || rest="$rest $p"; done
	PIDS=$rest
}

cleanup() {
	local rc=$? p
	trap - EXIT
	for p in $PIDS; do stop_tree "$p"; done
	if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -n "$T" ]; then
		for p in "$T"/log/* "$T"/run/*.log; do
			[ -s "$p" ] || continue
			echo "# ---- ${p#"$T"/} (last 25 lines)"
			tail -n 25 "$p" | sed 's/^/#   /'
		done
	fi
	if [ -n "$T" ]; then
		if [ -n "${KEYGATE_TEST_KEEP:-}" ]; then
			echo "# kept $T"
		else
			[ -d "$T/db" ] && chmod 2770 "$T/db" 2>/dev/null
			rm -rf "$T"
		fi
	fi
	echo "# $(( $(date +%s) - T0 )) s"
	exit "$rc"
}

# Ends the test: the exit status says whether every check passed.
finish() {
	note "$CHECKS checks, $FAILS failed"
	[ "$FAILS" = 0 ] && exit 0
	exit 1
}

# ---- ports and waiting -----------------------------------------------

# A free TCP port on 127.0.0.1, from the kernel.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT [SECONDS]: until something accepts on 127.0.0.1:PORT.
wait_port() {
	local i n=$(( ${2:-10} * 10 ))
	for i in $(seq "$n"); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# wait_for TEST-ARGS... : until [ TEST-ARGS ] holds, up to 10 s.
wait_for() {
	local i
	for i in $(seq 100); do
		[ "$@" ] && return 0
		sleep 0.1
	done
	return 1
}

# bg NAME CMD...: starts CMD in the background, output in log/NAME.log;
# its PID in BG_PID.
bg() {
	local name=$1
	shift
	"$@" > "$T/log/$name.log" 2>&1 &
	BG_PID=$!
	track "$BG_PID"
}

# ---- backends --------------------------------------------------------

# Starts the proxied HTTP echo backend; its port in HTTP_ECHO_PORT.
start_http_echo() {
	bg http-echo python3 "$SRV/echo-backend.py" "$T/http-echo.port"
	wait_for -s "$T/http-echo.port" || die "the HTTP echo backend did not start"
	HTTP_ECHO_PORT=$(cat "$T/http-echo.port")
}

# Starts the FastCGI echo responder; its port in FCGI_ECHO_PORT.
start_fcgi_echo() {
	bg fcgi-echo python3 "$SRV/fcgi-echo.py" "$T/fcgi-echo.port"
	wait_for -s "$T/fcgi-echo.port" || die "the FastCGI echo backend did not start"
	FCGI_ECHO_PORT=$(cat "$T/fcgi-echo.port")
}

# ---- store -----------------------------------------------------------

kg() { "$KEYGATE" --db "$T/db" "$@"; }

# new_key VAR ARGS...: creates a key (keygate key create ARGS), the key in
# $VAR and its id in ${VAR}_ID.
new_key() {
	local var=$1 key id
	shift
	key=$(kg key create "$@" 2>"$T/keyid") || die "keygate key create $* failed: $(cat "$T/keyid")"
	id=$(tr -d '\n' < "$T/keyid")
	eval "$var=\$key; ${var}_ID=\$id"
}

# The store every test uses:
#   plan pro:     route rule "deny DELETE /**"
#   plan slow:    2 requests an hour (429 on the third)
#   plan metered: 2 requests a day (402 on the third)
#   org acme (pro): KEY_LIVE (user alice), KEY_TEST (test mode), KEY_OTHER,
#                   KEY_EXPIRED, KEY_REVOKE
#   org frozen (pro, suspended): KEY_FROZEN
#   plan soft:    2 requests a day + 50% overage (the third flagged, 402 on the fourth)
#   org slowco (slow): KEY_SLOW;  org meterco (metered): KEY_METER
#   org softco (soft): KEY_SOFT;  org acme: KEY_ROTATE (run_lifecycle rotates it)
#   plan hosts:   route rule "deny * *.internal.example.com/**"
#   org hostco (hosts): KEY_HOSTS (run_hosts)
make_store() {
	kg init --group "$WEB_GROUP" 2>"$T/log/init.log" || die "keygate init failed: $(cat "$T/log/init.log")"
	{
		kg plan set pro --deny 'DELETE /**' &&
		kg plan set slow --rate 2/h &&
		kg plan set metered --quota 2/day &&
		kg plan set soft --quota 2/day --overage 50% &&
		kg org create softco --plan soft &&
		kg org create acme --plan pro &&
		kg org create frozen --plan pro &&
		kg org create slowco --plan slow &&
		kg org create meterco --plan metered &&
		kg plan set hosts --deny '* *.internal.example.com/**' &&
		kg org create hostco --plan hosts
	} 2>>"$T/log/init.log" || die "store setup failed: $(cat "$T/log/init.log")"
	new_key KEY_LIVE --org acme --user alice
	new_key KEY_TEST --org acme --test
	new_key KEY_OTHER --org acme
	new_key KEY_EXPIRED --org acme --expires 2020-01-01 --force
	new_key KEY_REVOKE --org acme
	new_key KEY_FROZEN --org frozen
	new_key KEY_SLOW --org slowco
	new_key KEY_METER --org meterco
	new_key KEY_SOFT --org softco
	new_key KEY_ROTATE --org acme
	new_key KEY_HOSTS --org hostco
	kg org set frozen --suspend 2>>"$T/log/init.log" || die "org set --suspend failed"
}

# ---- the standalone authorizer (mod_authnz_fcgi, nginx) ----------------

# start_authz NAME LISTEN: keygate-authz --listen LISTEN as the web user;
# PID in AUTHZ_PID (the master; its workers are its children).
start_authz() {
	local name=$1 listen=$2
	bg "$name" as_web "$AUTHZ" --db "$T/db" --listen "$listen" --workers 2 --socket-mode 0660
	AUTHZ_PID=$BG_PID
	case $listen in
	unix:*) wait_for -S "${listen#unix:}" ;;
	*) wait_port "${listen##*:}" ;;
	esac || { cat "$T/log/$name.log" >&2; die "keygate-authz ($name) did not start"; }
}

# SIGSTOP / SIGCONT a process and its children (a hung authorizer).
freeze() {
	local p
	for p in "$@"; do
		# shellcheck disable=SC2046
		kill -STOP "$p" $(descendants "$p") 2>/dev/null
	done
}
thaw() {
	local p
	for p in "$@"; do
		# shellcheck disable=SC2046
		kill -CONT "$p" $(descendants "$p") 2>/dev/null
	done
}

# ---- requests and checks ---------------------------------------------

# req DESC [curl args...] URL: one request.  CODE holds the status,
# $T/resp.h the headers (no CR), $T/resp.b the body, ELAPSED the seconds.
# Checked on every response: no Variable-* header reaches a client.
req() {
	local t1
	REQ_DESC=$1
	shift
	t1=$(date +%s)
	CODE=$(curl -sS --max-time "${REQ_TIMEOUT:-20}" -o "$T/resp.b" -D "$T/resp.raw" \
		-w '%{http_code}' "$@" 2>"$T/curl.err") || true
	ELAPSED=$(( $(date +%s) - t1 ))
	tr -d '\r' < "$T/resp.raw" > "$T/resp.h" 2>/dev/null || : > "$T/resp.h"
	[ -n "$CODE" ] || CODE=000
	if grep -qi '^Variable-' "$T/resp.h"; then
		fail "$REQ_DESC: a Variable-* header reached the client"
	fi
}

# Every value of response header NAME, one a line.
hdr() {
	awk -v n="$1" '
	    BEGIN { n = tolower(n) }
	    { i = index($0, ":"); if (i == 0) next
	      k = tolower(substr($0, 1, i - 1)); v = substr($0, i + 1)
	      sub(/^[ \t]+/, "", v); if (k == n) print v }' "$T/resp.h"
}

expect_status() {
	if [ "$CODE" = "$1" ]; then pass "$REQ_DESC: status $1"
	else fail "$REQ_DESC: status $CODE, expected $1"; fi
}

# The status is a 5xx, or a denial: anything but the backend's success.
expect_refused() {
	case $CODE in
	5??|401|403) pass "$REQ_DESC: refused with $CODE" ;;
	*) fail "$REQ_DESC: status $CODE, expected a 5xx, 401 or 403" ;;
	esac
}

# expect_header NAME VALUE: present exactly once, with this value.
expect_header() {
	local got
	got=$(hdr "$1")
	if [ "$got" = "$2" ]; then pass "$REQ_DESC: $1: $2"
	else fail "$REQ_DESC: header $1 is '$(echo "$got" | tr '\n' '|')', expected '$2' once"; fi
}

# expect_header_match NAME ERE: present exactly once, matching.
expect_header_match() {
	local got
	got=$(hdr "$1")
	if [ -n "$got" ] && [ "$(printf '%s\n' "$got" | wc -l)" = 1 ] &&
	    printf '%s\n' "$got" | grep -Eq "$2"; then
		pass "$REQ_DESC: $1: $got"
	else
		fail "$REQ_DESC: header $1 is '$(echo "$got" | tr '\n' '|')', expected once matching $2"
	fi
}

expect_no_header() {
	if [ -z "$(hdr "$1")" ]; then pass "$REQ_DESC: no $1"
	else fail "$REQ_DESC: unexpected header $1: $(hdr "$1" | head -n 1)"; fi
}

# The body is keygate's error document with this code, and nothing else.
expect_json_error() {
	if python3 - "$1" "$T/resp.b" <<-'EOF'
	import json, sys
	code, path = sys.argv[1], sys.argv[2]
	text = open(path, encoding="utf-8").read()
	doc = json.loads(text)
	assert text.strip().count("\n") == 0, "not one line"
	assert set(doc) == {"error"}, doc
	assert set(doc["error"]) == {"code", "message"}, doc
	assert doc["error"]["code"] == code, doc["error"]["code"]
	assert isinstance(doc["error"]["message"], str) and doc["error"]["message"]
	EOF
	then pass "$REQ_DESC: JSON body with code $1"
	else fail "$REQ_DESC: body is not the JSON error $1"; fi
}

# The body holds this exact line.
expect_line() {
	if grep -Fxq -- "$1" "$T/resp.b"; then pass "$REQ_DESC: backend saw '$1'"
	else fail "$REQ_DESC: backend did not see '$1'"; fi
}

# The body does not contain this text anywhere.
expect_absent() {
	if grep -Fq -- "$1" "$T/resp.b"; then
		fail "$REQ_DESC: '$1' reached the backend: $(grep -F -- "$1" "$T/resp.b" | head -n 3 | tr '\n' '|')"
	else
		pass "$REQ_DESC: no '$1' at the backend"
	fi
}

# A typed keygate denial as the client sees it: status, JSON content type
# and body, WWW-Authenticate on 401 only, Retry-After and RateLimit-* on 429.
expect_denial() {
	local status=$1 code=$2
	expect_status "$status"
	expect_header Content-Type application/json
	expect_json_error "$code"
	if [ "$status" = 401 ]; then
		expect_header WWW-Authenticate "Bearer realm=\"$REALM\""
	else
		expect_no_header WWW-Authenticate
	fi
	if [ "$status" = 429 ]; then
		expect_header_match Retry-After '^[0-9]+$'
		expect_header RateLimit-Limit 2
		expect_header RateLimit-Remaining 0
		expect_header_match RateLimit-Reset '^[0-9]+$'
	fi
}

# ---- the scenario every front-end runs ---------------------------------

# run_denials URL DENY-FN: every denial keygate has, through the server.
# DENY-FN STATUS CODE checks one response (expect_denial where the server
# passes keygate's answer through).
run_denials() {
	local url=$1 deny=$2 i
	req "no key" "$url"
	$deny 401 missing_api_key
	req "malformed key" -H "Authorization: Bearer kg_live_notakey" "$url"
	$deny 401 invalid_api_key
	req "bad checksum" -H "X-Api-Key: ${KEY_LIVE%??????}AAAAAA" "$url"
	$deny 401 invalid_api_key
	req "empty Bearer" -H "Authorization: Bearer " "$url"
	$deny 401 invalid_api_key
	req "expired key" -H "Authorization: Bearer $KEY_EXPIRED" "$url"
	$deny 401 expired_api_key
	req "suspended org" -H "Authorization: Bearer $KEY_FROZEN" "$url"
	$deny 403 forbidden
	req "route rule (DELETE)" -X DELETE -H "Authorization: Bearer $KEY_LIVE" "$url"
	$deny 403 forbidden
	req "two different keys" -H "Authorization: Bearer $KEY_LIVE" -H "X-Api-Key: $KEY_OTHER" "$url"
	$deny 400 conflicting_api_keys
	req "same key twice" -H "Authorization: Bearer $KEY_LIVE" -H "X-Api-Key: $KEY_LIVE" "$url"
	expect_status 200
	for i in 1 2; do
		req "rate limit 2/h, request $i" -H "Authorization: Bearer $KEY_SLOW" "$url"
		expect_status 200
	done
	req "rate limit 2/h, request 3" -H "Authorization: Bearer $KEY_SLOW" "$url"
	$deny 429 rate_limited
	for i in 1 2; do
		req "quota 2/day, request $i" -H "X-Api-Key: $KEY_METER" "$url"
		expect_status 200
	done
	req "quota 2/day, request 3" -H "X-Api-Key: $KEY_METER" "$url"
	$deny 402 quota_exceeded
}

# A host of 267 bytes under internal.example.com: longer than any DNS name,
# and cut at 255 bytes it no longer ends in .internal.example.com.
LONG_INTERNAL_HOST=$(printf 'a%.0s' $(seq 60)).$(printf 'a%.0s' $(seq 60)).$(printf 'a%.0s' $(seq 60)).$(printf 'a%.0s' $(seq 60)).db.internal.example.com

# run_hosts URL DENY-FN: route rules on hosts ("deny * *.internal.example.com/**",
# KEY_HOSTS) see the host the server routed the request to, and a host
# they cannot compare is refused, never cut or guessed at.  The server
# behind URL serves *.internal.example.com and api.example.com alike.
run_hosts() {
	local url=$1 deny=$2
	req "host rules: an outside host" -H "Host: api.example.com" \
		-H "Authorization: Bearer $KEY_HOSTS" "$url"
	expect_status 200
	req "host rules: an internal host" -H "Host: db.internal.example.com" \
		-H "Authorization: Bearer $KEY_HOSTS" "$url"
	$deny 403 forbidden
	req "host rules: an internal host in upper case, with a port and a trailing dot" \
		-H "Host: DB.Internal.Example.COM.:80" -H "Authorization: Bearer $KEY_HOSTS" "$url"
	$deny 403 forbidden
	req "host rules: a 267-byte internal host" -H "Host: $LONG_INTERNAL_HOST" \
		-H "Authorization: Bearer $KEY_HOSTS" "$url"
	$deny 403 forbidden
	req "host rules: HTTP/1.0 without Host" -0 -H "Host:" -H "Authorization: Bearer $KEY_HOSTS" "$url"
	$deny 403 forbidden
	req "no host rules: HTTP/1.0 without Host" -0 -H "Host:" -H "Authorization: Bearer $KEY_LIVE" "$url"
	expect_status 200
}

# run_repeated URL DENY-FN: a header sent twice, or sent empty.  nginx
# passes each copy as a param of its own, Apache and lighttpd join them
# with ", ": either way two different keys are a conflict, never "the last
# one wins"; the same key twice is fine; an empty header is no header.
# (nginx itself refuses a repeated Authorization: run_repeated_auth.)
run_repeated() {
	local url=$1 deny=$2
	req "X-Api-Key twice, the same key" -H "X-Api-Key: $KEY_LIVE" -H "X-Api-Key: $KEY_LIVE" "$url"
	expect_status 200
	req "X-Api-Key twice, a bad key then a good one" -H "X-Api-Key: ${KEY_LIVE%??????}AAAAAA" \
		-H "X-Api-Key: $KEY_LIVE" "$url"
	$deny 400 conflicting_api_keys
	req "X-Api-Key twice, two good keys" -H "X-Api-Key: $KEY_OTHER" -H "X-Api-Key: $KEY_LIVE" "$url"
	$deny 400 conflicting_api_keys
	req "X-Api-Key 'k1, k2' in one header" -H "X-Api-Key: $KEY_OTHER, $KEY_LIVE" "$url"
	$deny 400 conflicting_api_keys
	req "Bearer and an empty X-Api-Key" -H "Authorization: Bearer $KEY_LIVE" -H "X-Api-Key;" "$url"
	expect_status 200
	req "an empty X-Api-Key alone" -H "X-Api-Key;" "$url"
	$deny 401 missing_api_key
	req "Authorization: Bearer with nothing after it" -H "Authorization: Bearer" "$url"
	$deny 401 invalid_api_key
}

# run_repeated_auth URL DENY-FN: Authorization twice, for servers that pass
# both copies on (Apache and lighttpd join them).
run_repeated_auth() {
	local url=$1 deny=$2
	req "Authorization twice, a bad key then a good one" \
		-H "Authorization: Bearer ${KEY_LIVE%??????}AAAAAA" -H "Authorization: Bearer $KEY_LIVE" "$url"
	$deny 400 conflicting_api_keys
	req "Authorization twice, the same key" \
		-H "Authorization: Bearer $KEY_LIVE" -H "Authorization: Bearer $KEY_LIVE" "$url"
	expect_status 200
}

# run_query_key_log URL: a key a client put in the query string (not
# read: no query-param) never reaches a log whole, denied or not.
run_query_key_log() {
	local url=$1
	req "a key in the query string, denied" "$url?api_key=$KEY_OTHER&x=1"
	expect_status 401
	req "a key in the query string, bare" "$url?$KEY_OTHER"
	expect_status 401
}

# expect_no_key_in_logs KEY...: no log of the sandbox holds any of them whole.
expect_no_key_in_logs() {
	local k found=""
	for k in "$@"; do
		if grep -rqF -- "$k" "$T/log" "$T/run" "$T"/*/*.log 2>/dev/null; then
			found="$found $(grep -rlF -- "$k" "$T/log" "$T/run" "$T"/*/*.log 2>/dev/null | head -n 1)"
		fi
	done
	REQ_DESC="logs"
	if [ -z "$found" ]; then pass "no full key in any log"
	else fail "a full key in:$found"; fi
}

# run_revoke URL: a revocation applies to the very next request.
run_revoke() {
	req "key before revoke" -H "Authorization: Bearer $KEY_REVOKE" "$1"
	expect_status 200
	kg key revoke "$KEY_REVOKE_ID" 2>/dev/null || fail "keygate key revoke failed"
	req "key after revoke" -H "Authorization: Bearer $KEY_REVOKE" "$1"
	expect_status 401
}

# run_lifecycle URL DENY-FN QX-NAME: soft overage and rotation, through
# the server.  QX-NAME: what this backend calls Variable-Quota-Exceeded,
# printed with ID_FMT (set by the run_identity before it).
run_lifecycle() {
	local url=$1 deny=$2 qx=$3 i line new grace_end
	# shellcheck disable=SC2059
	line=$(printf "$ID_FMT" "$qx" 1)
	for i in 1 2; do
		req "soft quota 2/day + 50%, request $i" -H "X-Api-Key: $KEY_SOFT" "$url"
		expect_status 200
		expect_absent "$line"
	done
	req "soft quota, request 3: over quota, within the overage" -H "X-Api-Key: $KEY_SOFT" "$url"
	expect_status 200
	expect_line "$line"
	req "soft quota, request 4: past the overage" -H "X-Api-Key: $KEY_SOFT" "$url"
	$deny 402 quota_exceeded

	new=$(kg key rotate "$KEY_ROTATE_ID" --grace 3s 2>/dev/null) || fail "keygate key rotate failed"
	grace_end=$(( $(date +%s) + 3 ))
	req "rotation: the old key during the grace" -H "Authorization: Bearer $KEY_ROTATE" "$url"
	expect_status 200
	req "rotation: the successor" -H "Authorization: Bearer $new" "$url"
	expect_status 200
	while [ "$(date +%s)" -le "$grace_end" ]; do sleep 0.5; done
	req "rotation: the old key after the grace" -H "Authorization: Bearer $KEY_ROTATE" "$url"
	$deny 401 expired_api_key
	req "rotation: the successor after the grace" -H "Authorization: Bearer $new" "$url"
	expect_status 200
}

# run_spawned_faults URL SPAWNER TIMEOUT: an authorizer the web server
# spawned (the test's spawned() lists them) hung past TIMEOUT, killed, and
# restarted on an unreadable store: never the backend's 200 in between.
run_spawned_faults() {
	local url=$1 spawner=$2 timeout=$3 pids p
	note "authorizer hung (SIGSTOP): a 5xx after $timeout (5 s)"
	pids=$(spawned)
	[ -n "$pids" ] || fail "no keygate-authz process under $spawner"
	# shellcheck disable=SC2086
	freeze $pids
	req "authorizer hung" -H "Authorization: Bearer $KEY_LIVE" "$url"
	expect_refused
	if [ "$ELAPSED" -le 12 ]; then pass "authorizer hung: answered in ${ELAPSED} s"
	else fail "authorizer hung: answered in ${ELAPSED} s, expected about 5"; fi
	# shellcheck disable=SC2086
	thaw $pids

	note "authorizer killed: $spawner starts a new one"
	for p in $(spawned); do kill -TERM "$p"; done
	sleep 1
	req "after the authorizer was killed" -H "Authorization: Bearer $KEY_LIVE" "$url"
	expect_status 200

	note "store unreadable: the new authorizer cannot start, a 5xx"
	chmod 000 "$T/db"
	for p in $(spawned); do kill -TERM "$p"; done
	sleep 1
	req "store unreadable" -H "Authorization: Bearer $KEY_LIVE" "$url"
	expect_refused
	chmod 2770 "$T/db"
}

# Forged identity headers sent by the client.
FORGED="-H X-Org-Id:evil -H X-Keygate-Org-Id:evil -H X-Keygate-Plan:evil -H X-Keygate-Key-Id:evil -H X-Keygate-Key-Mode:evil -H X-Keygate-User-Id:evil -H X-Keygate-RateLimit-Remaining:evil -H X-Keygate-Quota-Remaining:evil"

# run_identity URL: a valid key, by Bearer and by X-Api-Key, reaches the
# backend, which sees who called (see expect_identity); identity headers
# forged by the client do not reach it.
run_identity() {
	local url=$1
	req "Bearer key" -H "Authorization: Bearer $KEY_LIVE" "$url"
	expect_status 200
	expect_identity acme pro "$KEY_LIVE_ID" live alice
	req "X-Api-Key key" -H "X-Api-Key: $KEY_LIVE" "$url"
	expect_status 200
	expect_identity acme pro "$KEY_LIVE_ID" live alice
	req "scheme 'bearer' and a tab" -H "$(printf 'Authorization: bearer\t%s' "$KEY_TEST")" "$url"
	expect_status 200
	# shellcheck disable=SC2086
	req "test key and forged identity headers" -H "Authorization: Bearer $KEY_TEST" $FORGED "$url"
	expect_status 200
	expect_identity acme pro "$KEY_TEST_ID" test ""
	expect_absent evil
}

# expect_identity ORG PLAN KEY_ID MODE USER: the echo backend's answer
# shows them under the names this backend gets.  ID_NAMES: the five names,
# in this order; ID_FMT: printf format of the backend's line for a name and
# a value.  An empty USER: the backend sees no user id at all.
expect_identity() {
	local names values i n v line
	read -r -a names <<< "$ID_NAMES"
	values=("$1" "$2" "$3" "$4" "$5")
	for i in 0 1 2 3 4; do
		n=${names[$i]}
		v=${values[$i]}
		# shellcheck disable=SC2059
		line=$(printf "$ID_FMT" "$n" "$v")
		if [ -n "$v" ]; then
			expect_line "$line"
		elif grep -q "^$line" "$T/resp.b"; then
			fail "$REQ_DESC: the backend saw a $n: $(grep "^$line" "$T/resp.b" | head -n 1)"
		else
			pass "$REQ_DESC: no $n at the backend"
		fi
	done
}

# ---- Apache ----------------------------------------------------------

APACHE=/usr/sbin/apache2
APACHE_MODS=/usr/lib/apache2/modules

# apache_conf NAME PORT MODULE...: starts $T/NAME/httpd.conf with what every
# Apache setup needs, everything inside the sandbox; the test appends its
# site.  MODULEs are names as in mod_NAME.so.
apache_conf() {
	local name=$1 port=$2 m d=$T/$1
	shift 2
	mkdir -p "$d/rt" || die "mkdir $d failed"
	{
		echo "ServerRoot $d"
		echo "ServerName 127.0.0.1"
		echo "Listen 127.0.0.1:$port"
		echo "PidFile $d/rt/httpd.pid"
		echo "DefaultRuntimeDir $d/rt"
		echo "Mutex file:$d/rt default"
		echo "ErrorLog $T/log/$name-error.log"
		echo "LogLevel warn"
		echo "DocumentRoot $T/www"
		echo "Timeout 20"
		echo "MaxRequestWorkers 25"
		if [ "$(id -u)" = 0 ]; then
			echo "User $WEB_USER"
			echo "Group $WEB_GROUP"
		fi
		for m in mpm_event authn_core authz_core "$@"; do
			echo "LoadModule ${m}_module $APACHE_MODS/mod_$m.so"
		done
		echo "<IfModule cgid_module>"
		echo "    ScriptSock $d/rt/cgid.sock"
		echo "</IfModule>"
	} > "$d/httpd.conf"
}

# start_apache NAME PORT: checks and starts $T/NAME/httpd.conf; the PID of
# the parent in APACHE_PID.
start_apache() {
	local name=$1 port=$2
	"$APACHE" -f "$T/$name/httpd.conf" -t > "$T/log/$name-configtest.log" 2>&1 ||
		{ cat "$T/log/$name-configtest.log" >&2; die "Apache ($name) rejects its configuration"; }
	bg "$name" "$APACHE" -f "$T/$name/httpd.conf" -DFOREGROUND
	APACHE_PID=$BG_PID
	wait_port "$port" || die "Apache ($name) did not start"
}

# ---- the in-process modules (mod_keygate, ngx_http_keygate_module) ------

# run_shared_limit URL: a rate limit of 10 an hour counted by the module
# behind URL and by a keygate-authz on the same store at once, 40 requests
# in parallel, half through each: exactly 10 are let in.
run_shared_limit() {
	local url=$1 sock=$T/run/shared-authz.sock i ok
	kg plan set shared --rate 10/h 2>>"$T/log/init.log" &&
		kg org create sharedco --plan shared 2>>"$T/log/init.log" ||
		die "plan shared: $(tail -n 1 "$T/log/init.log")"
	new_key KEY_SHARED --org sharedco
	start_authz shared-authz "unix:$sock"
	for i in $(seq 20); do
		echo "curl -s -o /dev/null -w '%{http_code}\n' -H 'X-Api-Key: $KEY_SHARED' '$url'"
		echo "'$FCGI_CLIENT' --status 'unix:$sock' REQUEST_METHOD=GET REQUEST_URI=/api/x HTTP_X_API_KEY=$KEY_SHARED; echo"
	done > "$T/shared.cmds"
	xargs -P 8 -d '\n' -n 1 sh -c < "$T/shared.cmds" > "$T/shared.out" 2>&1
	ok=$(grep -c '^200$' "$T/shared.out")
	REQ_DESC="a 10/h rate limit shared by the module and keygate-authz"
	if [ "$ok" = 10 ] && [ "$(grep -c '^429$' "$T/shared.out")" = 30 ]; then
		pass "$REQ_DESC: 40 requests in parallel, exactly 10 let in"
	else
		fail "$REQ_DESC: $ok let in, expected 10 ($(sort "$T/shared.out" | uniq -c | tr '\n' ' '))"
	fi
	stop_tree "$AUTHZ_PID"
	untrack "$AUTHZ_PID"
}

# wait_status STATUS SECONDS CURL-ARGS...: repeats a request until it
# answers STATUS (req's variables then hold that answer); 1 if it never did.
wait_status() {
	local want=$1 secs=$2 i
	shift 2
	for i in $(seq $((secs * 5))); do
		req "$@"
		[ "$CODE" = "$want" ] && return 0
		sleep 0.2
	done
	return 1
}
