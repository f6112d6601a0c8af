#!/bin/bash
# gate.sh - the in-process decision (gate.h) from many threads of one
# process, as Apache's event MPM calls it (tests/store/gate-driver):
#   - a rate limit is exact across threads (and with keygate-authz's
#     counters: they are the same file);
#   - the store handle replaced under load (the counter file deleted and
#     made anew, the key index deleted and rebuilt) while 8 threads decide:
#     no crash, every answer well formed, only 200 or a 503 while the
#     counter file is swapped, and 200 again afterwards;
#   - the counter file truncated while the gate is idle: its background
#     threads survive the SIGBUS too.
set -u
: "${KEYGATE:?run me from make check}" "${top_builddir:?}"
DRIVER=$top_builddir/tests/store/gate-driver
T=$(mktemp -d /tmp/kggate.XXXXXX) || exit 99
DB=$T/db
FAIL=0 N=0
cleanup() { [ -n "${KEYGATE_TEST_KEEP:-}" ] && echo "# kept $T" || rm -rf "$T"; }
trap cleanup EXIT
ok() { N=$((N + 1)); echo "ok $N - $*"; }
not_ok() { N=$((N + 1)); FAIL=$((FAIL + 1)); echo "not ok $N - $*"; }
kg() { "$KEYGATE" --db "$DB" "$@"; }

kg init 2>/dev/null || exit 99
{ kg plan set limited --rate 100/h && kg plan set free &&
  kg org create acme --plan limited && kg org create beta --plan free; } 2>/dev/null || exit 99
LIMITED=$(kg key create --org acme 2>/dev/null) || exit 99
FREE=$(kg key create --org beta 2>/dev/null) || exit 99

got=$("$DRIVER" -t 8 -n 50 "$DB" "$LIMITED" 2>"$T/err")
if [ "$got" = "200=100 429=300" ]; then ok "100/h from 8 threads at once: exactly 100 let in ($got)"
else not_ok "100/h from 8 threads at once: '$got', expected 200=100 429=300 ($(tail -n 2 "$T/err"))"; fi

got=$("$DRIVER" -t 4 -n 10 "$DB" "kg_live_notakey" 2>"$T/err")
if [ "$got" = "401=40" ]; then ok "a malformed key: 401 from every thread"
else not_ok "a malformed key: '$got'"; fi

# 8 threads for a few seconds while the counter file and the index go
"$DRIVER" -t 8 -d 6 "$DB" "$FREE" > "$T/load.out" 2> "$T/load.err" &
pid=$!
sleep 1
rm -f "$DB/counters"
sleep 1.5
rm -f "$DB/keyindex"
sleep 1.5
truncate -s 0 "$DB/counters"
wait "$pid"
rc=$?
got=$(cat "$T/load.out")
if [ "$rc" = 0 ]; then ok "handle replaced under 8 threads: no crash, every answer well formed ($got)"
else not_ok "handle replaced under 8 threads: exit $rc ($(tail -n 3 "$T/load.err"))"; fi
if echo "$got" | grep -Eq '^200=[0-9]+( 503=[0-9]+)?$'; then ok "only 200, or 503 while the counter file was swapped"
else not_ok "unexpected answers: $got"; fi
if grep -q 'a new one was made from the ledger' "$T/load.err"; then ok "the counter file was made anew"
else not_ok "the counter file was not made anew: $(tail -n 3 "$T/load.err")"; fi

got=$("$DRIVER" -t 2 -n 100 "$DB" "$FREE" 2>"$T/err")
if [ "$got" = "200=200" ]; then ok "afterwards: every request let in"
else not_ok "afterwards: '$got'"; fi

# The counter file truncated while no request runs: the gate's own
# maintenance and flush threads meet the SIGBUS first, and a thread that
# blocks SIGBUS is killed by it whatever handler is installed.
"$DRIVER" -t 2 -n 50 -w 3 "$DB" "$FREE" > "$T/idle.out" 2> "$T/idle.err" &
pid=$!
sleep 1
truncate -s 4096 "$DB/counters"
wait "$pid"
rc=$?
got=$(cat "$T/idle.out")
if [ "$rc" = 0 ] && echo "$got" | grep -Eq '^200=[0-9]+( 503=[0-9]+)?$'; then
	ok "counter file truncated while the gate was idle: no crash ($got)"
else not_ok "counter file truncated while the gate was idle: exit $rc, '$got' ($(tail -n 2 "$T/idle.err"))"; fi

echo "# $N checks, $FAIL failed"
[ "$FAIL" = 0 ]
