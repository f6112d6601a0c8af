#!/bin/bash
# hostile.sh - hostile FastCGI streams against the real keygate-authz
# (keygate-authz(8), Hostile connections): the inputs that aborted a worker, kept in
# tests/fuzz/corpus/fuzz_fcgi_stream/ as the fuzzer's seeds, records out of
# place, params past the limits of src/fcgi_guard.h, and clients that
# trickle their request, go idle or read no answers.  Each such connection
# is closed within the request deadline; no worker dies, no store recovery
# runs, and the requests behind it are answered.
. "$top_srcdir/tests/fcgi/lib.sh"
SEEDS="$top_srcdir/tests/fuzz/corpus/fuzz_fcgi_stream"

kg init 2>/dev/null || exit 99
kg plan set free 2>/dev/null
kg org create acme --plan free 2>/dev/null
newkey --org acme; K=$NEWKEY
P=(REQUEST_METHOD=GET REQUEST_URI=/v1/x HTTP_HOST=api.example.com REMOTE_ADDR=127.0.0.1)
printf 'request-deadline = 2s\n' > "$T/conf"

workers() { ps -o pid= --ppid "$1" | tr -d ' ' | sort | tr '\n' ' '; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
# answered ADDRESS: a normal request gets its right answer
answered() { [ "$(header Variable-Org-Id "$1" "${P[@]}" "HTTP_X_API_KEY=$K")" = acme ]; }
# refused [FCGI-CLIENT-OPTIONS] ADDRESS [PARAMS]: closed without an answer
refused() {
	"$FCGI_CLIENT" --timeout 5000 "$@" >/dev/null 2>"$T/client.err"
	[ $? -eq 2 ] && grep -Eq 'closed|reset' "$T/client.err"
}

# --- the inputs that aborted a worker, and records libfcgi would misread ---
start_authz "unix:$T/a.sock" --workers 2 --config "$T/conf" || exit 99
MASTER=$AUTHZ_PID
TCP="127.0.0.1:$(free_port)"
start_authz "$TCP" --workers 1 --config "$T/conf" || exit 99
TCP_MASTER=$AUTHZ_PID
before=$(workers "$MASTER"); tcp_before=$(workers "$TCP_MASTER")
for f in "$SEEDS"/seed-crash-* "$SEEDS"/seed-begin-padded "$SEEDS"/seed-unknown-management-record \
    "$SEEDS"/seed-filter-role "$SEEDS"/seed-multiplexed "$SEEDS"/seed-http; do
	n=${f##*/seed-}
	check "$n: closed without an answer" refused --raw "$f" "unix:$T/a.sock"
	check "$n over TCP: closed without an answer" refused --raw "$f" "$TCP"
done
# as fast as an attacker would: 20 of each crashing input in a row
bad=0
for i in $(seq 1 20); do
	for f in "$SEEDS"/seed-crash-*; do
		"$FCGI_CLIENT" --timeout 5000 --raw "$f" "unix:$T/a.sock" >/dev/null 2>&1
		[ $? -eq 2 ] || bad=$((bad + 1))
	done
done
expect_eq "60 crashing inputs in a row: every one closed" 0 "$bad"
check "a request after them is answered" answered "unix:$T/a.sock"
check "... over TCP too" answered "$TCP"
expect_eq "the same worker processes" "$before" "$(workers "$MASTER")"
expect_eq "the same worker process over TCP" "$tcp_before" "$(workers "$TCP_MASTER")"
check "no worker exited" bash -c "! grep -Eq 'exited|stuck' '$LOG'"
check "no store recovery, no reopen" bash -c "! grep -Eiq 'store reopened|recover' '$LOG'"
check "why: a name length past the limit" grep -q 'refused a FastCGI connection: param name too long (1342177280, limit 16384)' "$LOG"
check "why: FCGI_GET_VALUES asking for 10 variables" grep -q 'refused a FastCGI connection: too many params (4, limit 3)' "$LOG"
check "why: a padded FCGI_BEGIN_REQUEST" grep -q 'FCGI_BEGIN_REQUEST with padding' "$LOG"
check "refusals are logged at a bounded rate" [ "$(grep -c 'refused a FastCGI connection' "$LOG")" -le 150 ]

# what web servers send still passes: a pair across records, GET_VALUES, a kept connection
for f in authorizer responder-split-padded get-values long-value keep-conn; do
	[ "$f" = keep-conn ] && id=7 || id=1
	expect_eq "$f: answered" 401 "$("$FCGI_CLIENT" --status --request-id $id --raw "$SEEDS/seed-$f" "unix:$T/a.sock")"
done

# --- the limits of src/fcgi_guard.h, at and past them ---
expect_eq "a 1 MiB value (the limit): answered" 200 "$(status --big HTTP_COOKIE=1M "unix:$T/a.sock" "${P[@]}" "HTTP_X_API_KEY=$K")"
check "one byte more: closed" refused --big HTTP_COOKIE=1048577 "unix:$T/a.sock" "${P[@]}" "HTTP_X_API_KEY=$K"
check "two values of 1 MiB (params over 2 MiB): closed" refused --big HTTP_COOKIE=1M --big HTTP_X_BIG=1M "unix:$T/a.sock" "${P[@]}" "HTTP_X_API_KEY=$K"
python3 -c 'for i in range(9990): print(f"HTTP_X_H{i}=v{i}")' > "$T/many"
expect_eq "10,000 params (the limit): answered" 200 "$(status --param-file "$T/many" "unix:$T/a.sock" "${P[@]}" "HTTP_X_API_KEY=$K" HTTP_X_LAST=1 HTTP_X_LAST2=2 HTTP_X_LAST3=3 HTTP_X_LAST4=4 HTTP_X_LAST5=5)"
check "10,001: closed" refused --param-file "$T/many" "unix:$T/a.sock" "${P[@]}" "HTTP_X_API_KEY=$K" HTTP_X_LAST=1 HTTP_X_LAST2=2 HTTP_X_LAST3=3 HTTP_X_LAST4=4 HTTP_X_LAST5=5 HTTP_X_LAST6=6
expect_eq "still the same workers" "$before" "$(workers "$MASTER")"

# --- the request deadline: the whole request, not each read (one worker) ---
start_authz "unix:$T/one.sock" --workers 1 --config "$T/conf" || exit 99
ONE=$AUTHZ_PID
one_before=$(workers "$ONE")
# a byte every 300 ms: no read ever waits long, the request never ends
t0=$(date +%s%N)
"$FCGI_CLIENT" --timeout 20000 --drip 300 "unix:$T/one.sock" "${P[@]}" "HTTP_X_API_KEY=$K" >/dev/null 2>"$T/drip.err" &
DRIP=$!; PIDS+=("$DRIP")
sleep 0.3
BEHIND=()
for i in 1 2 3; do
	( s=$(date +%s%N); st=$(status --timeout 10000 "unix:$T/one.sock" "${P[@]}" "HTTP_X_API_KEY=$K");
	  echo "$st $(ms_since "$s")" > "$T/behind.$i" ) &
	BEHIND+=($!)
done
wait "$DRIP"; rc=$?
drip_ms=$(ms_since "$t0")
check "a trickling client is cut off (exit $rc: $(head -c 120 "$T/drip.err"))" [ "$rc" -eq 2 ]
check "... within the 2 s deadline ($drip_ms ms)" [ "$drip_ms" -lt 3500 ]
wait "${BEHIND[@]}"
for i in 1 2 3; do
	read -r st ms < "$T/behind.$i"
	expect_eq "request $i behind it: answered" 200 "$st"
	check "... within the deadline ($ms ms)" [ "${ms:-99999}" -lt 3500 ]
done
check "it is logged" grep -q 'closed a FastCGI connection: its request did not arrive within 2000 ms' "$LOG"

# a kept connection left idle gives up the worker after the deadline too
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(open(sys.argv[2], "rb").read())
s.settimeout(5); s.recv(4096)          # the answer; the connection stays open
time.sleep(6)' "$T/one.sock" "$SEEDS/seed-keep-conn" &
IDLE=$!; PIDS+=("$IDLE")
sleep 0.5
t0=$(date +%s%N)
expect_eq "a request behind an idle kept connection: answered" 200 "$(status --timeout 10000 "unix:$T/one.sock" "${P[@]}" "HTTP_X_API_KEY=$K")"
ms=$(ms_since "$t0")
check "... once the deadline ends the idle connection ($ms ms)" [ "$ms" -lt 3000 ]
kill "$IDLE" 2>/dev/null

# a client that pipelines kept requests and reads no answer: the worker's
# writes block until the deadline, then the connection is closed
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1])
req = open(sys.argv[2], "rb").read()
s.settimeout(0.2)
try:
    for i in range(5000):
        s.send(req)
        time.sleep(0.0005)
except OSError:
    pass
time.sleep(12)' "$T/one.sock" "$SEEDS/seed-keep-conn" &
MUTE=$!; PIDS+=("$MUTE")
sleep 1
t0=$(date +%s%N)
expect_eq "a request behind a client that reads no answers: answered" 200 "$(status --timeout 15000 "unix:$T/one.sock" "${P[@]}" "HTTP_X_API_KEY=$K")"
ms=$(ms_since "$t0")
check "... within the deadline ($ms ms)" [ "$ms" -lt 4000 ]
kill "$MUTE" 2>/dev/null
expect_eq "the one worker is still the same process" "$one_before" "$(workers "$ONE")"
check "no worker exited, none was stuck" bash -c "! grep -Eq 'exited|stuck' '$LOG'"
check "no store recovery, no reopen" bash -c "! grep -Eiq 'store reopened|recover' '$LOG'"
finish
