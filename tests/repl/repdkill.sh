#!/bin/bash
# tests/repl/repdkill.sh - a replica's keygate-repd killed (SIGKILL) again
# and again while the master writes and the replica's authorizer answers:
# no authorizer worker dies of a signal, every answer meanwhile is right
# (200 for a good key, 401 for a revoked one), and the site follows the
# master again each time keygate-repd is back.
#
# What it guards against: Berkeley DB 5.3's failchk, run by a process
# that finds keygate-repd dead, "closes" the files keygate-repd opened to
# apply the master's log through the *caller's* own table of handles,
# indexed by keygate-repd's file ids (dbreg.c, __dbreg_failchk ->
# __dbreg_close_id_int -> __dbreg_close_file): an authorizer that ran it
# died of SIGSEGV, or closed one of its own handles.  On a replicated
# store only keygate-repd runs failchk (store.c, store_maintain).
. "$top_srcdir/tests/repl/lib.sh"

ROUNDS=${REPDKILL_ROUNDS:-6}

check "a group of three sites forms" make_group || finish
M=a S=b

deaths() { grep -c 'exited (signal' "$T/$S/authz.log"; }
bad=0 answers=0 revoked_seen=0 followed=0
for r in $(seq 1 "$ROUNDS"); do
	# a change to apply, so that keygate-repd holds the tables open for it
	k=$(kgs "$M" key create --org acme 2>"$T/id"); id=$(cat "$T/id")
	wait_status "$S" "$k" 200 || { not_ok "round $r: the new key reached $S"; continue; }
	kgs "$M" key revoke "$id" >/dev/null 2>&1
	wait_status "$S" "$k" 401 && revoked_seen=$((revoked_seen + 1))
	signal_repd KILL "$S"
	wait "${REPD[$S]}" 2>/dev/null
	# the authorizer's maintenance passes run meanwhile, every second
	for i in $(seq 1 15); do
		a=$(status "$S" "$KEY1"); b=$(status "$S" "$k")
		answers=$((answers + 2))
		[ "$a" = 200 ] && [ "$b" = 401 ] || { bad=$((bad + 1)); echo "# round $r: $a $b"; }
		sleep 0.1
	done
	start_repd "$S"
	wait_for 20 all_ready "$S" && followed=$((followed + 1))
done
expect_eq "every revocation reached $S before its keygate-repd was killed" "$ROUNDS" "$revoked_seen"
expect_eq "no authorizer worker of $S died of a signal ($ROUNDS kills of its keygate-repd)" 0 "$(deaths)"
expect_eq "every answer of $S while its keygate-repd was down was right ($answers asked)" 0 "$bad"
expect_eq "$S followed the master again after each kill" "$ROUNDS" "$followed"
k=$(kgs "$M" key create --org acme 2>/dev/null)
check "... and decides on the master's latest change" wait_status "$S" "$k" 200
finish
