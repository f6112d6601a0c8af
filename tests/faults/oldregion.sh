#!/bin/bash
# A request waiting inside the store when another process recovers it
# (its region files made anew) waits in the old environment, where
# nothing it waits for will ever be released: seen through failovers,
# where a worker answered nothing for the watchdog's 10 s.  The watchdog
# now ends such a worker after a second: its connection fails (never a
# 200) and a new worker serves.
#
# lock-holder write-locks every page of the keys table and waits.  With
# no key index, a request reads its key from the store and waits for that
# lock, and so does the worker's maintenance, rebuilding the index (so no
# lock wait of the worker expires).  lock-holder is then killed and a
# command recovers the store, as keygate-repd restarted after a death
# does.  The same for the in-process decision of the server modules
# (gate.h, driven by tests/store/gate-driver), whose watchdog ends the
# server's process.
. "$top_srcdir/tests/fcgi/lib.sh"
HOLDER=$top_builddir/tests/faults/lock-holder

kg init 2>/dev/null || exit 99
kg plan set free 2>/dev/null && kg org create acme --plan free >/dev/null 2>&1 &&
	newkey --org acme || exit 99
rm -f "$DB/keyindex"
"$HOLDER" "$DB" > "$T/holder.out" 2>>"$LOG" &
HP=$!; PIDS+=("$HP")
for i in $(seq 1 50); do grep -q held "$T/holder.out" && break; sleep 0.1; done
check "another process holds every page of the keys table" grep -q held "$T/holder.out"
"$KEYGATE_AUTHZ" --db "$DB" --listen "unix:$T/authz.sock" --workers 1 2>>"$LOG" &
AP=$!; PIDS+=("$AP")
for i in $(seq 1 50); do [ -S "$T/authz.sock" ] && break; sleep 0.1; done

status --timeout 20000 "unix:$T/authz.sock" REQUEST_URI=/v1/x \
	"HTTP_AUTHORIZATION=Bearer $NEWKEY" > "$T/answer" 2>/dev/null &
RP=$!
sleep 1
check "a request waits for the lock" kill -0 "$RP"
kill -KILL "$HP"; wait "$HP" 2>/dev/null
t0=$(date +%s%N)
kg plan list >/dev/null 2>&1 # opens the store: recovery (lock-holder died in it)
wait "$RP"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
answer=$(cat "$T/answer")
echo "# the waiting request: '${answer:-no answer}', $ms ms after the recovery began"
check "  is not allowed" [ "$answer" != 200 ]
check "  and its worker gave up within 4 s, not the watchdog's 10" [ "$ms" -lt 4000 ]
check "  saying why" grep -q "inside a store that another process recovered" "$LOG"
decides_again() {
	local i
	for i in $(seq 1 100); do
		[ "$(status --timeout 1000 "unix:$T/authz.sock" REQUEST_URI=/v1/x \
		    "HTTP_AUTHORIZATION=Bearer $NEWKEY" 2>/dev/null)" = 200 ] && return 0
		sleep 0.1
	done
	return 1
}
check "a new worker decides again (10 s)" decides_again

# the in-process gate: one thread deciding for 20 s, from a gate-driver
# process whose exit status and stderr tell what its watchdog did
kill "$AP" 2>/dev/null; wait "$AP" 2>/dev/null
rm -f "$DB/keyindex" "$T/holder.out"
"$HOLDER" "$DB" > "$T/holder.out" 2>>"$LOG" &
HP=$!; PIDS+=("$HP")
for i in $(seq 1 50); do grep -q held "$T/holder.out" && break; sleep 0.1; done
"$top_builddir/tests/store/gate-driver" -t 1 -d 20 "$DB" "$NEWKEY" > "$T/gate.out" 2> "$T/gate.err" &
GP=$!
sleep 2 # the gate opens the store (maintenance, every second), then a decision waits
kill -KILL "$HP"; wait "$HP" 2>/dev/null
t0=$(date +%s%N)
kg plan list >/dev/null 2>&1
wait "$GP"; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "# gate-driver: exit $rc, $ms ms after the recovery began: $(tail -n 1 "$T/gate.err")"
check "in-process: the process ends within 4 s of the recovery" [ "$ms" -lt 4000 ]
check "  with status 3 (its server starts another)" [ "$rc" = 3 ]
check "  saying why" grep -q "inside a store that another process recovered" "$T/gate.err"
finish
