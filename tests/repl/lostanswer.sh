#!/bin/bash
# tests/repl/lostanswer.sh - a write forwarded from a replica whose
# connection to the master is lost after the master made it and before
# its answer came back: the replica's keygate-repd must not send it again
# (a credit granted twice) nor say that nothing was changed; it says the
# outcome is unknown (exit 4), and the master made the change once.
# lostanswer-shim.so (LD_PRELOAD, master only) shuts the connection down
# in place of that answer, once.
. "$top_srcdir/tests/repl/lib.sh"

SHIM=$top_builddir/tests/repl/lostanswer-shim.so
[ -f "$SHIM" ] || { echo "ERROR: $SHIM was not built"; exit 99; }
MARK=lostanswer-org
# ASan wants to be the first library of the process; the shim only wraps
# readv and writev, whose next definition (ASan's or libc's) it calls.
SITE_RUN[a]="env LD_PRELOAD=$SHIM KG_LOST_MARK=$MARK KG_LOST_ONCE=$T/dropped \
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

check "a group of three sites forms" make_group || finish
kgs a plan set prepaid --quota 0 >/dev/null 2>&1 &&
	kgs a org create "$MARK" --plan prepaid >/dev/null 2>&1
check "an organization with no credits, made on the master" [ $? -eq 0 ]
granted() { kgs "$1" --json org show "$MARK" | python3 -c 'import json,sys; print(json.load(sys.stdin)["credits"])'; }
wait_for 5 eval '[ "$(granted b)" = 0 ]'

check "site a is the master, b a replica" eval 'role_is a master && role_is b replica'
out=$(kgs b org credit "$MARK" +100 2>&1); rc=$?
echo "# keygate on site b said (exit $rc): $out"
check "the master's answer was lost (the shim dropped it)" [ -f "$T/dropped" ]
expect_eq "the replica's write ends with exit 4" 4 "$rc"
check "  in one line" one_line "$out"
check "  that says the change may or may not have been made" has "$out" "may or may not"
check "  and not that nothing was changed" eval '! has "$out" "nothing was changed"'
expect_eq "the master granted the credits once" 100 "$(granted a)"
check "  and every site says so" wait_for 5 eval '[ "$(granted b)" = 100 ] && [ "$(granted c)" = 100 ]'
sleep 1
expect_eq "  still once a second later (nothing was sent again)" 100 "$(granted a)"

# the next write, whose answer arrives, goes through as before
out=$(kgs b org credit "$MARK" +5 2>&1); rc=$?
expect_eq "a write from the replica whose answer arrives succeeds" 0 "$rc"
expect_eq "  and is made once" 105 "$(granted a)"
finish
