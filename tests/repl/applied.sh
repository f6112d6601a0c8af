#!/bin/bash
# tests/repl/applied.sh - asking whether a commit is here (repl_wait_applied:
# an authorizer's ledger flush does it every second, keygate-repd for each
# write it forwards) says yes for the master's commits of a replica's
# writes, and never crashes nor says yes for a commit that was never made:
# on a replica, on the master, on a site whose keygate-repd is down, and on
# a new master after a failover, with commit tokens of the current
# generation, an older one and the first.
#
# What it guards against: Berkeley DB 5.3's txn_applied, asked about
# another generation where the environment logs (a master, or a site whose
# keygate-repd has not started replication), empties the process's handle
# of the generation history, and the process's next such question dies of
# SIGSEGV (repl.c, applied_now).  An authorizer's worker died so in
# behind.sh under AddressSanitizer, 2 fresh-clone CI runs in 5.
. "$top_srcdir/tests/repl/lib.sh"
APPLIED_PROBE=$top_builddir/tests/repl/applied-probe

probe() { # probe S WHAT
	local out rc
	out=$("$APPLIED_PROBE" "$T/$1/db" 2>&1); rc=$?
	echo "# $1 ($2): $out"
	expect_eq "$1 ($2): no crash, and no commit that was never made is said to be here" 0 "$rc"
}

# forwarded writes: keygate-repd answers once this host holds the master's commit
forwarded_ok() { # forwarded_ok S: a write from S, and S held its commit at once
	kgs "$1" plan set "probe-$1" >/dev/null 2>&1 && ! grep -q 'is not here yet' "$T/$1/repd.log"
}

check "a group of three sites forms" make_group || finish
M=$(master)
for s in $SITES; do
	[ "$s" != "$M" ] &&
		check "a write from replica $s: its keygate-repd saw the master's commit here" forwarded_ok "$s"
done
for s in $SITES; do probe "$s" "$( [ "$s" = "$M" ] && echo master || echo replica)"; done
S=b; [ "$M" = b ] && S=c
signal_repd KILL "$S"; wait "${REPD[$S]}" 2>/dev/null
probe "$S" "its keygate-repd killed"
start_repd "$S"
check "$S follows the master again" wait_for 20 all_ready "$S"
# a new generation: the master's keygate-repd stops, another site is elected
signal_repd TERM "$M"; wait "${REPD[$M]}" 2>/dev/null
check "a new master is elected" wait_for 20 eval '[ -n "$(master)" ] && [ "$(master)" != "$M" ]'
N=$(master)
probe "$N" "the new master"
start_repd "$M"
check "$M rejoins" wait_for 30 all_ready "$M"
probe "$M" "the old master, a replica now"
finish
