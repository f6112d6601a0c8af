#!/bin/bash
# tests/repl/membership.sh - a replica that missed a change of the group's
# membership learns it again: site c joins while replica b's replication
# manager skips reloading the membership after applying the change (as
# Berkeley DB 5.3 does when the replica is locked out at that moment:
# gmdb-shim.so makes it happen every time).  b's keygate-repd sees that
# the master hears from a site its replication manager does not know,
# reopens the store (the replication manager reads the membership as it
# starts) 3 s later or when an election fails, whichever comes first: the
# master is killed as soon as the group has formed, and b and c elect a
# new master within 10 s.  Without it b refused c's connections and counted
# one site less: no election could succeed until the master came back
# (seen in failover.sh).
. "$top_srcdir/tests/repl/lib.sh"

SHIM=$top_builddir/tests/repl/gmdb-shim.so
SITE_RUN[b]="env LD_PRELOAD=$SHIM KG_GMDB_SHIM_FLAG=$T/b/skip-reload \
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
before_join() { [ "$1" = c ] && : >"$T/b/skip-reload"; }
BEFORE_JOIN=before_join

check "a group of three sites forms" make_group || finish
check "b skipped reloading the membership after c joined" \
	grep -q "gmdb-shim: skipped" "$T/b/repd.log"
knows_c() {
	kgs b --json repl status 2>/dev/null | python3 -c '
import json,sys
d=json.load(sys.stdin)
sys.exit(0 if any(s["address"].endswith(":" + sys.argv[1]) for s in d["sites"]) else 1)' "${PORT[c]}"
}
# as in failover.sh's failures: the master killed a second after the group formed
signal_repd KILL a; wait "${REPD[a]}" 2>/dev/null
new_master() { local m; m=$(master) && [ "$m" != a ]; }
check "the master killed, b and c elect a new master (10 s)" wait_for 10 new_master
check "  b knows c" knows_c
check "  b's keygate-repd said why it reopened the store" \
	grep -q "which this site's replication manager does not know" "$T/b/repd.log"
b_ready() { # b itself ready under a master (a, killed, is not)
	kgs b --json repl status 2>/dev/null | python3 -c '
import json,sys
d=json.load(sys.stdin)
sys.exit(0 if d["site"]["state"]=="ready" and d["master"]!="" else 1)'
}
check "  b is up to date again (10 s)" wait_for 10 b_ready
check "  and decides" wait_status b "$KEY1" 200
finish
