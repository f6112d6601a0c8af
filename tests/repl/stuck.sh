#!/bin/bash
# tests/repl/stuck.sh - a process of a replica dies inside a read, or
# hangs there, and then the group changes master.  Berkeley DB counts
# every read in progress (an open cursor), and a replica's
# synchronisation with a new master waits, locked, for that count to fall
# to zero: until then the replica applies nothing, drops every message (a
# vote among them) and its reads fail.  Nothing in the library gives up,
# and the count of a process that died is never given back (failchk does
# not).  keygate-repd ends that wait by starting again and recovering
# the store (keygate-repd(8), Failures); the site follows the new master.
. "$top_srcdir/tests/repl/lib.sh"
HOLD_CURSOR=$top_builddir/tests/repl/hold-cursor

check "a group of three sites forms" make_group || finish
# c never becomes the master: its part is the replica's synchronisation
echo "repl_priority = 0" >>"$T/c/keygate.conf"
kill -TERM "${REPD[c]}"; wait "${REPD[c]}" 2>/dev/null
start_repd c
check "site c, restarted with priority 0, is ready again" wait_for 20 all_ready a

# change_master HOW OLD NEW: a process of c holds a read open (and dies
# there if HOW is dead), the master OLD is killed, NEW is elected, OLD
# comes back; a key created then must reach c's authorizer
change_master() {
	local how=$1 old=$2 new=$3 holder i rc t0 k
	"$HOLD_CURSOR" "$T/c/db" >"$T/hold.out" 2>"$T/hold.err" &
	holder=$!
	check "$how: a process of site c holds a read open" wait_for 5 grep -q holding "$T/hold.out" ||
		sed 's/^/#   /' "$T/hold.err"
	[ "$how" = dead ] && { kill -KILL "$holder"; wait "$holder" 2>/dev/null; }
	signal_repd KILL "$old"; wait "${REPD[$old]}" 2>/dev/null; REPD[$old]=
	check "  the master ($old) killed, site $new is elected" wait_for 15 role_is "$new" master
	# old back, so that new has its quorum whatever c does (until old has
	# caught up: exit 4, nothing written)
	start_repd "$old"
	for i in $(seq 1 30); do
		k=$(kgs "$new" key create --org acme --name "after-$how" 2>"$T/err"); rc=$?
		[ "$rc" -eq 4 ] || break
		sleep 0.5
	done
	expect_eq "  a key is created on the new master" 0 "$rc"
	[ "$rc" -eq 0 ] || sed 's/^/#   /' "$T/err"
	check "  site $old decides with it" wait_status "$old" "$k" 200
	t0=$(date +%s)
	if wait_for 30 eval '[ "$(status c "$k")" = 200 ]'; then
		ok "  site c follows the new master (in $(( $(date +%s) - t0 )) s)"
	else
		not_ok "  site c follows the new master (30 s)"
	fi
	expect_eq "  and still denies what it never knew" 401 "$(status c "tk_live_no_such_key")"
	[ "$how" = dead ] || { kill "$holder"; wait "$holder" 2>/dev/null; }
}
change_master dead a b
change_master hung b a
expect_eq "c's keygate-repd said why it started again, each time" 2 \
	"$(grep -c 'locked for [0-9]* s with no progress' "$T/c/repd.log")"
finish
