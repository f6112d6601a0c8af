#!/bin/bash
# tests/repl/failover.sh - the master dies (SIGKILL) or hangs (SIGSTOP)
# while every site's authorizer is under load: the others elect a new
# master within 10 s, no acknowledged write is lost, writes work again,
# the old master rejoins as a replica, a replica that was down catches
# up, and no authorizer answers wrongly or stalls for seconds meanwhile.
. "$top_srcdir/tests/repl/lib.sh"
mark() { echo "# at $(date +%s.%3N): $*"; }

ELECT_LIMIT_S=10
# A read locked out by an election fails at once (NOWAIT; a lone read goes
# through a cursor, store.c lone_get) and is retried for up to 0.4 s.  A
# read that meets a page lock waits out the lock timeout (3 s, src/store.c):
# held by a keygate-repd that hangs, or by a new master's commit still
# waiting for its quorum.  The front-ends of contrib/ give up after 5 s:
# no request should wait that long, but in 2 runs of 44 one request went
# unanswered for 6 s: an open problem, reported as a TAP TODO.
STALL_LIMIT_MS=5000

check "a group of three sites forms" make_group || finish

REVOKED=$(kgs a key create --org acme 2>"$T/rid") && kgs a key revoke "$(cat "$T/rid")" >/dev/null 2>&1
for s in $SITES; do wait_status "$s" "$REVOKED" 401; done
"$REPL_PROBE" load --seconds 300 --pause-us 500 --site "$(addr a)" --site "$(addr b)" \
	--site "$(addr c)" \
	--case 200 "HTTP_AUTHORIZATION=Bearer $KEY1" REQUEST_METHOD=GET REQUEST_URI=/v1/x \
	--case 401 "HTTP_AUTHORIZATION=Bearer $REVOKED" REQUEST_METHOD=GET REQUEST_URI=/v1/x \
	>"$T/load.out" 2>"$T/load.err" &
LOADER=$!

# elected OLD: until a site other than OLD says it is the master; prints
# the winner and the milliseconds it took
elected() {
	local old=$1 t0 s i
	t0=$(date +%s%N)
	for i in $(seq 1 $((ELECT_LIMIT_S * 10))); do
		for s in $SITES; do
			[ "$s" != "$old" ] && [ -n "${REPD[$s]:-}" ] && role_is "$s" master && {
				echo "$s $(( ($(date +%s%N) - t0) / 1000000 ))"; return 0; }
		done
		sleep 0.1
	done
	return 1
}

# --- SIGKILL of the master ---
KBEFORE=$(kgs a key create --org acme --name before-kill 2>/dev/null)
check "a key created on the master just before its death" [ -n "$KBEFORE" ]
mark "SIGKILL of the master (a)"; signal_repd KILL a; wait "${REPD[a]}" 2>/dev/null; REPD[a]=
if won=$(elected a); then
	M=${won% *}
	ok "master killed: site $M is elected in ${won#* } ms"
else
	not_ok "master killed: no new master within ${ELECT_LIMIT_S} s"; M=b
fi
R=b; [ "$M" = b ] && R=c
for s in b c; do
	check "  site $s allows the key acknowledged before the kill" wait_status "$s" "$KBEFORE" 200
done
KAFTER=$(kgs "$R" key create --org acme --name after-kill 2>/dev/null); rc=$?
expect_eq "  a write from the remaining replica works again" 0 "$rc"
check "  every live site decides with it" eval 'wait_status b "$KAFTER" 200 && wait_status c "$KAFTER" 200'
# the old master comes back (its authorizer kept the regions the whole time)
mark "keygate-repd of a restarts"; start_repd a
check "  the old master rejoins as a replica" wait_for 10 role_is a replica
check "  and catches up: its authorizer allows the key made without it (10 s)" \
	wait_for 10 eval '[ "$(status a "$KAFTER")" = 200 ]'
expect_eq "  its authorizer still denies the revoked key" 401 "$(status a "$REVOKED")"

# --- SIGSTOP of the master: only heartbeats notice a hung master ---
# The third site may have to roll back or even recover (Berkeley DB has
# panicked applying the new master's first transactions: keygate-repd then
# exits and is started again) before it can acknowledge: until then the
# new master has no quorum and refuses writes, changing nothing.  Writes
# must work again within WRITE_AGAIN_S of the election.
WRITE_AGAIN_S=10
check "the group is whole again before the next fault" wait_for 20 all_ready "$M"
mark "SIGSTOP of the master ($M)"; signal_repd STOP "$M"
if won=$(elected "$M"); then
	N=${won% *}
	ok "master hung (SIGSTOP): site $N is elected in ${won#* } ms"
else
	not_ok "master hung: no new master within ${ELECT_LIMIT_S} s"; N=
	# seen from a replica that missed a membership change (membership.sh) and
	# from a site whose synchronisation stayed locked (stuck.sh, keygate-repd(8)
	# BUGS): what each live site says tells which
	for s in $SITES; do
		[ "$s" = "$M" ] && continue
		echo "#   $s says: $(kgs "$s" repl status 2>&1 | tr -s ' \n' ' ' | cut -c1-600)"
		grep -v ' db: ' "$T/$s/repd.log" | tail -n 12 | sed "s/^/#   $s: /"
		# Berkeley DB's own account (lib.sh's set_verbose): elections, sync
		grep ' db: ' "$T/$s/repd.log" | grep -v 'log_split\|log_rep_split' | tail -n 25 |
			cut -c1-300 | sed "s/^/#   $s db: /"
	done
fi
KSTOP=
if [ -n "$N" ]; then
	t0=$(date +%s%N); tries=0; refused=0
	while :; do
		tries=$((tries + 1))
		KSTOP=$(kgs "$N" key create --org acme --name "while-stopped-$tries" 2>"$T/err"); rc=$?
		[ "$rc" -eq 0 ] && break
		[ "$rc" -eq 4 ] || refused=$((refused + 1))
		sed 's/^/#   refused: /' "$T/err"
		[ $(( ($(date +%s%N) - t0) / 1000000000 )) -ge "$WRITE_AGAIN_S" ] && break
		sleep 0.5
	done
	check "  writes work on the new master within ${WRITE_AGAIN_S} s ($tries tries, $(( ($(date +%s%N) - t0) / 1000000 )) ms)" \
		[ "$rc" -eq 0 ]
	expect_eq "  every write refused meanwhile said so with exit 4" 0 "$refused"
fi
mark "SIGCONT of $M"; signal_repd CONT "$M"
one_master() {
	local s n=0
	for s in $SITES; do role_is "$s" master && n=$((n + 1)); done
	[ "$n" -eq 1 ] && role_is "$M" replica
}
check "  resumed, the hung master steps down: one master in the group" wait_for 10 one_master
check "  and holds the write made while it hung (10 s)" \
	wait_for 10 eval '[ "$(status "$M" "$KSTOP")" = 200 ]' ||
	{ echo "# site $M answers $(status "$M" "$KSTOP") for it, and says:"; kgs "$M" repl status | sed 's/^/#   /'; }

# --- a replica down while the master writes, then back ---
OLD=$(master) || OLD=$N
DOWN=a; [ "$OLD" = a ] && DOWN=b
mark "SIGKILL of a replica ($DOWN)"; signal_repd KILL "$DOWN"; wait "${REPD[$DOWN]}" 2>/dev/null; REPD[$DOWN]=
: > "$T/keys.down"
for i in 1 2 3; do kgs "$OLD" key create --org acme --name "while-down-$i" >>"$T/keys.down" 2>>"$T/keys.down.err"; done
expect_eq "the master writes with one replica down (a quorum of two)" 3 "$(wc -l <"$T/keys.down")"
[ "$(wc -l <"$T/keys.down")" -eq 3 ] ||
	{ sed 's/^/#   keygate said: /' "$T/keys.down.err"; kgs "$OLD" repl status | sed 's/^/#   /'; }
mark "keygate-repd of $DOWN restarts"; start_repd "$DOWN"
caught_up() { local k; while read -r k; do [ "$(status "$DOWN" "$k")" = 200 ] || return 1; done <"$T/keys.down"; }
check "  the replica back catches up within 10 s" wait_for 10 caught_up

kill -TERM "$LOADER"; wait "$LOADER"; rc=$?
sed 's/^/# load: /' "$T/load.out" "$T/load.err"
expect_eq "no authorizer answered wrongly all along" 0 "$rc"
# longest request per site, through two elections and the restarts
max_of() { awk -v a="$(addr "$1")" '$1 == a { for (i = 2; i < NF; i++) if ($i == "max_ms") print $(i + 1) }' "$T/load.out"; }
under() { python3 -c "import sys; sys.exit(0 if float('$1') < float('$2') else 1)"; }
# (a worker waiting inside a store that keygate-repd recovered on its
# restart waited out the 10 s watchdog: now it ends after a second, and
# its request fails, as the front-ends' 5 s timeout would have made it)
for s in $SITES; do
	m=$(max_of "$s")
	check "site $s: no request waited more than ${STALL_LIMIT_MS} ms through the faults (longest $m ms)" \
		under "$m" "$STALL_LIMIT_MS"
done
finish
