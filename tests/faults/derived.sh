#!/bin/bash
# derived.sh - the store's derived files (the key index, the counter file)
# truncated, deleted, damaged or replaced by an older copy under running
# authorizers and between CLI commands: no worker dies (a truncated mapping
# raises SIGBUS, which is handled), no command stops working, no stale
# answer, and no prepaid credit is given twice.
. "$top_srcdir/tests/fcgi/lib.sh"

P=(REQUEST_METHOD=GET REQUEST_URI=/v1/x)
kg init --cache-size 2M --counter-slots 1024 2>/dev/null || exit 99
kg plan set free 2>/dev/null
kg plan set prepaid --quota 0 2>/dev/null
kg org create acme --plan free 2>/dev/null
kg org create payg --plan prepaid 2>/dev/null
kg org credit payg +20 2>/dev/null
newkey --org acme; K=$NEWKEY
newkey --org acme; K2=$NEWKEY; K2_ID=$NEWID
newkey --org acme; K3=$NEWKEY; K3_ID=$NEWID
newkey --org payg; PAY=$NEWKEY

start_authz "unix:$T/a.sock" --workers 2 || exit 99
A="unix:$T/a.sock"
workers() { pgrep -P "$AUTHZ_PID" | sort | tr '\n' ' '; }
W0=$(workers)
spread() { # spread CLIENTS REQUESTS PARAMS...: "status count" pairs
	local c=$1 n=$2 i; shift 2
	for i in $(seq 1 "$c"); do
		"$FCGI_CLIENT" --status --repeat "$n" "$A" "$@" > "$T/spread.$i" &
	done
	wait
	statuses
}
statuses() { # the "status count" pairs of the answers in $T/spread.*, which go
	cat "$T"/spread.* | sort | uniq -c | awk '{print $2 " " $1}' | tr '\n' ' ' | sed 's/ $//'
	rm -f "$T"/spread.*
}

expect_eq "before" 200 "$(status "$A" "${P[@]}" "HTTP_X_API_KEY=$K")"

# --- the key index truncated under the workers (SIGBUS) ---
truncate -s 0 "$DB/keyindex"
expect_eq "index truncated: the next requests are answered" "200 10" "$(spread 2 5 "${P[@]}" "HTTP_X_API_KEY=$K")"
expect_eq "... by the same workers (none died)" "$W0" "$(workers)"
kg key revoke "$K2_ID" 2>/dev/null
expect_eq "index truncated, then a revoke: seen at once" 401 "$(status "$A" "${P[@]}" "HTTP_X_API_KEY=$K2")"
sleep 2.5
check "a worker rebuilt it" bash -c "'$KEYGATE' --db '$DB' db check | grep -qx 'key index: ok'"
check "no worker was restarted" bash -c "! grep -q 'exited' '$LOG'"

# --- the counter file truncated under the workers ---
truncate -s 4096 "$DB/counters"
out=$(spread 2 5 "${P[@]}" "HTTP_X_API_KEY=$K")
check "counters truncated: never a 200 from zeros, then 200s again ($out)" \
	bash -c "[[ '$out' =~ ^(200\ [0-9]+)?\ ?(503\ [0-9]+)?$ ]] && [[ '$out' == *200* ]]"
expect_eq "... by the same workers" "$W0" "$(workers)"
check "the new file was made from the ledger, and said so" grep -q 'counters: it was damaged; a new one was made from the ledger' "$LOG"

# --- ... and truncated again while no request runs: the workers' own
# maintenance and flush threads meet the SIGBUS first (a thread that blocks
# SIGBUS is killed by it, whatever handler is installed) ---
truncate -s 4096 "$DB/counters"
sleep 2.5
check "counters truncated between requests: no worker died" bash -c "! grep -q 'exited' '$LOG'"
expect_eq "... the same workers" "$W0" "$(workers)"
expect_eq "... and they answer" "200 10" "$(spread 2 5 "${P[@]}" "HTTP_X_API_KEY=$K")"

# --- the counter file deleted: every command works, db recover too ---
expect_eq "prepaid: 12 of 20 credits spent" "200 12" "$(spread 2 6 "${P[@]}" "HTTP_X_API_KEY=$PAY")"
check "... and in the ledger within a second or so" wait_ledger payg 12
rm -f "$DB/counters"
check "counters deleted: key list works" bash -c "'$KEYGATE' --db '$DB' key list >/dev/null 2>&1"
check "... db recover works" bash -c "'$KEYGATE' --db '$DB' db recover >/dev/null 2>&1"
check "... and the file is back" test -s "$DB/counters"
check "... db check passes" bash -c "'$KEYGATE' --db '$DB' db check >/dev/null 2>&1"
expect_eq "credits: exactly the 8 left, nothing given twice" "200 8 402 12" \
	"$(spread 2 10 "${P[@]}" "HTTP_X_API_KEY=$PAY")"
# (what was counted since the last flush is what a loss may lose)
check "... the 20 in the ledger" wait_ledger payg 20
rm -f "$DB/counters"
kg key revoke "$K3_ID" 2>/dev/null
sleep 1.5   # running workers notice a replaced counter file within a second
expect_eq "counters deleted, then a revoke: refused by the running workers" "401 10" \
	"$(spread 2 5 "${P[@]}" "HTTP_X_API_KEY=$K3")"
expect_eq "the other keys still work" 200 "$(status "$A" "${P[@]}" "HTTP_X_API_KEY=$K")"
expect_eq "... by the same workers" "$W0" "$(workers)"

# --- garbage in place of the counter file ---
head -c 100000 /dev/urandom > "$DB/counters.tmp" && mv "$DB/counters.tmp" "$DB/counters"
check "garbage counters: the CLI works" bash -c "'$KEYGATE' --db '$DB' org show payg >/dev/null 2>&1"
expect_eq "... the credits are still used up" "402 4" "$(spread 2 2 "${P[@]}" "HTTP_X_API_KEY=$PAY")"

# --- a counter file older than the ledger (a copy restored) ---
kg org credit payg +5 2>/dev/null
cp "$DB/counters" "$T/counters.old"
expect_eq "5 new credits spent" "200 5 402 1" "$(spread 1 6 "${P[@]}" "HTTP_X_API_KEY=$PAY")"
check "... in the ledger" wait_ledger payg 25
cp "$T/counters.old" "$DB/counters.tmp" && mv "$DB/counters.tmp" "$DB/counters"
kill "$AUTHZ_PID"; wait "$AUTHZ_PID" 2>/dev/null
start_authz "unix:$T/b.sock" || exit 99
A="unix:$T/b.sock"
expect_eq "an older copy restored: refused, the credits stay spent" "402 5" \
	"$(spread 1 5 "${P[@]}" "HTTP_X_API_KEY=$PAY")"
check "... the copy was replaced, and it said why" grep -q 'it was older than the ledger' "$LOG"

# --- the counter file deleted, and a second authorizer started: it makes
# the new file while the first still maps the old one.  Both spend one
# balance: the first must stop deciding on the old file at once, not at
# its next look a second later (counters.h, counters_current).  Three
# rounds, because without that the first notices the new file in the
# window between the rebuild and its requests about one time in five. ---
for i in 1 2 3; do
	kg org create "once$i" --plan prepaid 2>/dev/null
	kg org credit "once$i" +8 2>/dev/null
	newkey --org "once$i"; OK=$NEWKEY
	rm -f "$DB/counters"
	start_authz "unix:$T/c$i.sock" || exit 99
	"$FCGI_CLIENT" --status --repeat 10 "$A" "${P[@]}" "HTTP_X_API_KEY=$OK" > "$T/spread.a" &
	pa=$!
	"$FCGI_CLIENT" --status --repeat 10 "unix:$T/c$i.sock" "${P[@]}" "HTTP_X_API_KEY=$OK" > "$T/spread.c" &
	wait "$pa" $!
	expect_eq "round $i: two authorizers on either side of a new file: 8 credits, 8 allowed" \
		"200 8 402 12" "$(statuses)"
	kill "$AUTHZ_PID"; wait "$AUTHZ_PID" 2>/dev/null
done
finish
