#!/bin/bash
# kills.sh - SIGKILL at any moment (issue 5, item 3):
#  A. authorizer workers killed 100 times while they update counters and
#     last use: every restart opens the store by itself, nothing hangs,
#     quota counters never go backwards and count at most what was in
#     flight beyond the 200s the clients saw;
#  B. the CLI killed at random points of key create, key revoke and plan
#     set, 100 times each: the store holds all of a command or none of it,
#     and the authorizer agrees with the store on every key, whatever the
#     kill left of the key index.
. "$top_srcdir/tests/fcgi/lib.sh"
KILLS=${KEYGATE_KILLS:-100}

kg init 2>/dev/null || exit 99
kg plan set metered --quota 1000000000/month --rate 1000000/s 2>/dev/null
kg org create acme --plan metered 2>/dev/null
newkey --org acme; K=$NEWKEY; K_ID=$NEWID
start_authz "unix:$T/a.sock" --workers 2 || exit 99
MASTER=$AUTHZ_PID
P=(REQUEST_METHOD=GET REQUEST_URI=/v1/x "HTTP_X_API_KEY=$K")

used() { kg usage --org acme --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["used"])'; }

# --- A: kill workers under load ---
: > "$T/answers"
( while [ ! -e "$T/stop" ]; do
	"$FCGI_CLIENT" --status --timeout 8000 --repeat 20 "$ADDR" "${P[@]}" >> "$T/answers" 2>/dev/null
  done ) &
LOAD=$!
PIDS+=("$LOAD")
backwards=0 prev=0 hung=0
for i in $(seq 1 "$KILLS"); do
	w=$(pgrep -P "$MASTER" | shuf -n 1)
	[ -n "$w" ] && kill -9 "$w"
	sleep "0.0$(( RANDOM % 9 + 1 ))"
	u=$(used); [ -n "$u" ] || u=$prev
	[ "$u" -lt "$prev" ] && backwards=$((backwards + 1))
	prev=$u
done
touch "$T/stop"; wait "$LOAD" 2>/dev/null
sleep 1.5   # let the last respawned worker come up
final=$(status --timeout 8000 "$ADDR" "${P[@]}")
expect_eq "after $KILLS worker kills the authorizer still answers" 200 "$final"
seen=$(grep -c '^200$' "$T/answers")
u=$(used)
expect_eq "quota counters never went backwards" 0 "$backwards"
check "usage counts every 200 the clients saw ($u >= $((seen + 1)))" [ "$u" -ge $((seen + 1)) ]
check "and at most what was in flight beyond them ($u <= $((seen + 1 + KILLS)))" [ "$u" -le $((seen + 1 + KILLS)) ]
check "load was answered throughout ($seen answers)" [ "$seen" -gt "$KILLS" ]
check "the master is alive" kill -0 "$MASTER"
lu=$(kg key show "$K_ID" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["last_used_at"] is not None)')
expect_eq "last use was recorded" True "$lu"
check "the store is consistent" kg db check

# --- B: kill the CLI in the middle of its commands ---
kill_cli() { # kill_cli OUTFILE ARGS...: runs keygate, SIGKILLs it at a random point
	local out=$1; shift
	"$KEYGATE" --db "$DB" "$@" > "$out" 2>"$out.err" &
	local p=$!
	sleep "$(printf '0.%03d' $(( RANDOM % ${KILL_MS:-10} )))"
	kill -9 "$p" 2>/dev/null
	wait "$p" 2>/dev/null
}
printed=0 lost=0
: > "$T/printed"
for i in $(seq 1 "$KILLS"); do
	kill_cli "$T/k" key create --org acme --name "k$i"
	if [ -s "$T/k" ]; then
		printed=$((printed + 1))
		grep -qx 'key_[0-9A-Za-z]*' "$T/k.err" && echo "$(cat "$T/k") $(cat "$T/k.err")" >> "$T/printed"
		# a key that was shown was committed
		if [ "$(status "$ADDR" REQUEST_METHOD=GET REQUEST_URI=/ "HTTP_X_API_KEY=$(cat "$T/k")")" != 200 ]; then
			lost=$((lost + 1))
			echo "# printed but not working: $(od -c "$T/k" | head -3)"
		fi
	fi
done
expect_eq "every key that was printed works ($printed printed)" 0 "$lost"
for i in $(seq 1 20); do
	newkey --org acme && echo "$NEWKEY $NEWID" >> "$T/printed"
done
ids=$(kg key list --org acme --json | python3 -c 'import json,sys; print(" ".join(k["id"] for k in json.load(sys.stdin)))')
for id in $ids; do
	KILL_MS=20 kill_cli "$T/k" key revoke "$id"
done
# A revoke killed after its commit may leave the index half written: the
# authorizer must then answer from the store, never from the old entry.
# A killed CLI leaves the environment to be recovered by the next opener;
# a worker caught inside the old one is ended after a second and its
# request gets no answer (fail closed, section 3 of doc/DESIGN.md): such a
# request is asked once more, and only its second answer is judged.
disagree=0 revoked=0 unanswered=0
while read -r key id; do
	state=$(kg key show "$id" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
	want=200
	[ "$state" = revoked ] && { want=401; revoked=$((revoked + 1)); }
	got=$(status "$ADDR" REQUEST_METHOD=GET REQUEST_URI=/ "HTTP_X_API_KEY=$key")
	case $got in
	[0-9][0-9][0-9]) ;;
	*)	unanswered=$((unanswered + 1)); echo "# $id: no answer ('$got'), asked again"
		sleep 0.5
		got=$(status "$ADDR" REQUEST_METHOD=GET REQUEST_URI=/ "HTTP_X_API_KEY=$key") ;;
	esac
	[ "$got" = "$want" ] || { disagree=$((disagree + 1)); echo "# $id is $state in the store, answered $got"; }
done < "$T/printed"
echo "# requests unanswered at the first asking: $unanswered"
expect_eq "after killed revokes the authorizer agrees with the store ($revoked revoked)" 0 "$disagree"
for i in $(seq 1 "$KILLS"); do
	kill_cli "$T/k" plan set metered --rate "$(( i % 2 ? 1000000 : 999999 ))/s" --max-keys "$(( i % 2 ? 0 : 100000 ))"
done
pair=$(kg plan show metered --json | python3 -c 'import json,sys; p=json.load(sys.stdin); print(p["rate"], p["max_keys"])')
check "plan set is all or nothing ($pair)" bash -c "[ '$pair' = '1000000/s None' ] || [ '$pair' = '999999/s 100000' ]"
kg db check > "$T/check" 2>&1; rc=$?
expect_eq "after $((3 * KILLS)) killed commands the store is consistent" 0 "$rc"
[ "$rc" -eq 0 ] || sed 's/^/# /' "$T/check"
check "the CLI still works" bash -c "'$KEYGATE' --db '$DB' key create --org acme >/dev/null 2>&1"
finish
