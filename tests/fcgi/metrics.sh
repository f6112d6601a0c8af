#!/bin/bash
# metrics.sh - keygate metrics counts what the authorizer answered:
#  - after N allowed and M denied requests of several codes, served by two
#    workers, the counters say N and M by code, and the latency
#    histogram's count is N + M;
#  - a worker SIGKILLed leaves its counts (folded into the retired rows by
#    the worker that replaces it: nothing lost, nothing counted twice),
#    its restart is counted, and so is the recovery its death caused;
#  - the metrics file truncated under the workers: they keep serving, and
#    count again in a new file;
#  - `promtool check metrics` (Debian's prometheus package) accepts the
#    output; without promtool the test ends with 77 after its other checks.
. "$top_srcdir/tests/fcgi/lib.sh"

kg init --cache-size 8M 2>/dev/null || exit 99
kg plan set free --rate 100000/s --deny 'GET /admin/**' 2>/dev/null
kg org create acme --plan free 2>/dev/null
newkey --org acme; K1=$NEWKEY
newkey --org acme; K2=$NEWKEY
newkey --org acme --rate 1/h; KR=$NEWKEY
BAD=${K1%?}$([ "${K1: -1}" = A ] && echo B || echo A) # a wrong checksum

check "nothing counted before any program ran (exit 0)" bash -c \
	"'$KEYGATE' --db '$DB' metrics | grep -qx 'keygate_requests_total{program=\"keygate-authz\",status=\"200\",code=\"ok\"} 0'"
"$KEYGATE" --db "$T/nowhere" metrics >/dev/null 2>&1
expect_eq "a directory without a store: exit 4" 4 "$?"

start_authz "unix:$T/a.sock" --workers 2 || exit 99
A="unix:$T/a.sock"
# wait_ready's probes were answered (401 missing_api_key): start from what is counted now
metric() { # metric NAME{LABELS}: its value in `keygate metrics`, 0 when absent
	kg metrics | awk -v n="$1" '$1 == n { print $2; f = 1 } END { if (!f) print 0 }'
}
req_metric() { metric "keygate_requests_total{program=\"keygate-authz\",status=\"$1\",code=\"$2\"}"; }
at_least() { # at_least NAME{LABELS} MIN: waits (5 s at most) until the metric is MIN or more
	local i
	for i in $(seq 1 50); do
		[ "$(metric "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
COUNT='keygate_decision_duration_seconds_count{program="keygate-authz"}'
INF='keygate_decision_duration_seconds_bucket{program="keygate-authz",le="+Inf"}'
MISSING0=$(req_metric 401 missing_api_key)

# send N STATUS PARAMS...: N requests, each answered STATUS
send() {
	local n=$1 want=$2 got; shift 2
	got=$("$FCGI_CLIENT" --status --repeat "$n" "$A" REQUEST_METHOD=GET "$@" | sort | uniq -c | awk '{print $2 " " $1}')
	[ "$got" = "$want $n" ] || not_ok "expected $n answers $want, got: $got"
}
send 40 200 REQUEST_URI=/v1/x "HTTP_X_API_KEY=$K1"
send 17 200 REQUEST_URI=/v1/y "HTTP_AUTHORIZATION=Bearer $K2"
send 1 200 REQUEST_URI=/v1/x "HTTP_X_API_KEY=$KR"
send 3 429 REQUEST_URI=/v1/x "HTTP_X_API_KEY=$KR"
send 5 401 REQUEST_URI=/v1/x
send 4 401 REQUEST_URI=/v1/x "HTTP_X_API_KEY=$BAD"
send 2 403 REQUEST_URI=/admin/users "HTTP_X_API_KEY=$K1"
send 6 400 REQUEST_URI=/v1/x "HTTP_X_API_KEY=$K1" "HTTP_AUTHORIZATION=Bearer $K2"
N=58 M=$((3 + 5 + 4 + 2 + 6))
ALL=$((MISSING0 + N + M))

expect_eq "allowed: $N" "$N" "$(req_metric 200 ok)"
expect_eq "rate_limited: 3" 3 "$(req_metric 429 rate_limited)"
expect_eq "missing_api_key: 5 (and the readiness probes)" $((MISSING0 + 5)) "$(req_metric 401 missing_api_key)"
expect_eq "invalid_api_key: 4" 4 "$(req_metric 401 invalid_api_key)"
expect_eq "forbidden: 2" 2 "$(req_metric 403 forbidden)"
expect_eq "conflicting_api_keys: 6" 6 "$(req_metric 400 conflicting_api_keys)"
expect_eq "no other code" 0 "$(( $(req_metric 500 internal_error) + $(req_metric 503 unavailable) + $(req_metric 402 quota_exceeded) + $(req_metric 401 expired_api_key) ))"
expect_eq "the histogram counts every request" "$ALL" "$(metric "$COUNT")"
expect_eq "... in its +Inf bucket too" "$ALL" "$(metric "$INF")"
check "... and its buckets never decrease" bash -c "'$KEYGATE' --db '$DB' metrics |
	awk '/^keygate_decision_duration_seconds_bucket\\{program=\"keygate-authz\"/ { if (\$2 < last) exit 1; last = \$2 }'"
check "... and the latencies add up to something" bash -c "'$KEYGATE' --db '$DB' metrics |
	awk '/^keygate_decision_duration_seconds_sum\\{program=\"keygate-authz\"/ { exit !(\$2 > 0) }'"
expect_eq "keygate-api counted nothing" 0 "$(metric 'keygate_requests_total{program="keygate-api",status="200",code="ok"}')"
check "the history flushes are counted (once a second)" \
	at_least 'keygate_history_flushes_total{program="keygate-authz"}' 1

# --- a worker SIGKILLed: its counts stay, its restart is counted ---
# a worker that answered some of the requests (its denials are logged with its pid)
victim=""
for p in $(pgrep -P "$AUTHZ_PID"); do
	grep -q "keygate-authz\[$p\]: deny" "$LOG" && { victim=$p; break; }
done
check "a worker that counted requests" test -n "$victim"
kill -KILL "$victim"
for i in $(seq 1 50); do
	[ "$(metric 'keygate_worker_restarts_total{program="keygate-authz"}')" = 1 ] && break
	sleep 0.1
done
expect_eq "the restart is counted" 1 "$(metric 'keygate_worker_restarts_total{program="keygate-authz"}')"
wait_ready "$A" >/dev/null
sleep 1 # the new worker is up, and has folded the dead worker's row into the retired ones
PROBES=$(( $(req_metric 401 missing_api_key) - MISSING0 - 5 ))
expect_eq "the killed worker's requests are still counted, once" "$N $((ALL + PROBES))" \
	"$(req_metric 200 ok) $(metric "$COUNT")"
send 10 200 REQUEST_URI=/v1/x "HTTP_X_API_KEY=$K1"
send 10 200 REQUEST_URI=/v1/x "HTTP_X_API_KEY=$K2"
expect_eq "and counting goes on" $((N + 20)) "$(req_metric 200 ok)"
check "the recovery its death caused is counted" \
	at_least 'keygate_store_recoveries_total{program="keygate-authz"}' 1

check "promtool-free sanity: HELP and TYPE before every family, a newline at the end" bash -c "
	'$KEYGATE' --db '$DB' metrics > '$T/m.txt' && [ \"\$(tail -c1 '$T/m.txt' | od -An -c | tr -d ' ')\" = '\\n' ] &&
	awk '/^# HELP/ {h[\$3]=1} /^# TYPE/ {t[\$3]=\$4} !/^#/ {n=\$1; sub(/\\{.*/, \"\", n); b=n; sub(/_(bucket|sum|count)\$/, \"\", b);
	     if (!(n in t) && !(b in t && t[b] == \"histogram\")) exit 1} END {}' '$T/m.txt'"
if command -v promtool >/dev/null; then
	check "promtool check metrics accepts it" bash -c "'$KEYGATE' --db '$DB' metrics | promtool check metrics"
	"$KEYGATE" --db "$T/db2" init >/dev/null 2>&1
	check "promtool accepts a store's output before anything ran" bash -c \
		"'$KEYGATE' --db '$T/db2' metrics | promtool check metrics"
fi

# --- the metrics file truncated under the workers ---
truncate -s 0 "$DB/metrics"
send 5 200 REQUEST_URI=/v1/x "HTTP_X_API_KEY=$K1"
# noticed within a second; each worker makes or maps the new file between two requests
sent=5 v=""
for i in $(seq 1 50); do
	v=$(kg metrics 2>/dev/null | awk '$1 == "keygate_requests_total{program=\"keygate-authz\",status=\"200\",code=\"ok\"}" {print $2}')
	[ -n "$v" ] && [ "$v" -ge 1 ] && break
	send 1 200 REQUEST_URI=/v1/x "HTTP_X_API_KEY=$K1"
	sent=$((sent + 1))
	sleep 0.1
done
check "the workers kept serving, and count in a new file ($v of the last $sent)" \
	test -n "$v" -a "${v:-0}" -ge 1 -a "${v:-0}" -le "$sent"
check "no worker died of it" bash -c "! grep -q 'exited (signal' '$LOG' || [ \$(grep -c 'exited (signal' '$LOG') -eq 1 ]"

if ! command -v promtool >/dev/null && [ "$FAIL" -eq 0 ]; then
	echo "# promtool is missing (Debian's prometheus package): the format was not checked"
	echo "# $PASS passed"
	exit 77
fi
finish
