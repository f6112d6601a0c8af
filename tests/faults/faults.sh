#!/bin/bash
# faults.sh - what keygate does when its store is damaged or taken away
# (issue 5, item 3): every failure is a clear line and a denial, never a
# 200; the CLI exits 4; nothing committed before is lost.
. "$top_srcdir/tests/fcgi/lib.sh"

P=(REQUEST_METHOD=GET REQUEST_URI=/v1/x)
store() { # store DIR: a small store with one org and a key in $K / $K_ID
	"$KEYGATE" --db "$1" init --cache-size 2M --counter-slots 1024 "${@:2}" 2>/dev/null || return 1
	"$KEYGATE" --db "$1" plan set free 2>/dev/null
	"$KEYGATE" --db "$1" org create acme --plan free 2>/dev/null
	K=$("$KEYGATE" --db "$1" key create --org acme 2>"$T/id"); K_ID=$(cat "$T/id")
}
one_line() { [ "$(wc -l < "$1")" -eq 1 ] && [ -s "$1" ]; }

# --- start-up errors are one clear line ---
"$KEYGATE_AUTHZ" --db "$T/none" --listen "unix:$T/a.sock" 2>"$T/err"; rc=$?
check "no store: the authorizer refuses to start" [ "$rc" -ne 0 ]
check "... with one clear line" bash -c "one_line() { [ \$(wc -l < \$1) -eq 1 ]; }; one_line '$T/err' && grep -q 'no keygate store' '$T/err'"
"$KEYGATE" --db "$T/none" key list 2>"$T/err" >/dev/null; rc=$?
expect_eq "no store: the CLI exits 4" 4 "$rc"
check "... with one line" one_line "$T/err"

# an incompatible store format (meta.format 99): refused at start
store "$T/fmt" || exit 99
db5.3_dump -p -h "$T/fmt" meta.db > "$T/meta.txt"
# the record: version 2, type M, format as a varint: 1 becomes 99 ("c")
sed -i 's/^ \\02M\\01/ \\02Mc/' "$T/meta.txt"
db5.3_load -h "$T/fmt" meta.db < "$T/meta.txt"
"$KEYGATE_AUTHZ" --db "$T/fmt" --listen "unix:$T/a.sock" 2>"$T/err"; rc=$?
check "store format 99: the authorizer refuses to start" [ "$rc" -ne 0 ]
check "... saying which format" grep -q 'store format 99, this keygate reads format 1' "$T/err"

# --- a truncated database file ---
store "$T/trunc" || exit 99
: > "$T/trunc/keys.db"
"$KEYGATE_AUTHZ" --db "$T/trunc" --listen "unix:$T/a.sock" 2>"$T/err"; rc=$?
check "truncated keys.db: the authorizer refuses to start" [ "$rc" -ne 0 ]
check "... naming the file" grep -q 'keys.db' "$T/err"
"$KEYGATE" --db "$T/trunc" key create --org acme >/dev/null 2>"$T/err"; rc=$?
expect_eq "truncated keys.db: the CLI exits 4" 4 "$rc"
check "... with one line" one_line "$T/err"

# --- a corrupted page: denials, never a 200 for a key that is not there ---
store "$T/corrupt" || exit 99
GOOD=$K
for i in $(seq 1 200); do "$KEYGATE" --db "$T/corrupt" key create --org acme >/dev/null 2>&1; done
"$KEYGATE" --db "$T/corrupt" db check >/dev/null 2>&1 || not_ok "a fresh store passes db check"
# overwrite the middle of the keys file with garbage (not the meta page)
size=$(stat -c %s "$T/corrupt/keys.db")
dd if=/dev/urandom of="$T/corrupt/keys.db" bs=4096 seek=2 count=$(( size / 4096 - 3 )) conv=notrunc 2>/dev/null
"$KEYGATE" --db "$T/corrupt" db check >/dev/null 2>"$T/err"; rc=$?
check "db check notices the damage (exit $rc)" [ "$rc" -eq 4 ]
start_authz "unix:$T/c.sock" --db "$T/corrupt" >/dev/null 2>&1
started=$?
if [ $started -eq 0 ]; then
	st=$(status "unix:$T/c.sock" "${P[@]}" "HTTP_X_API_KEY=kg_live_$(head -c 24 /dev/urandom | base64 | tr -dc A-Za-z0-9 | head -c 32)AAAAAA")
	check "a corrupted store never lets an unknown key in ($st)" [ "$st" != 200 ]
	kill "$AUTHZ_PID"
else
	ok "a corrupted store keeps the authorizer from starting"
fi

# --- region files deleted under a running authorizer: it reopens ---
store "$T/region" || exit 99
DB="$T/region"
start_authz "unix:$T/r.sock" || exit 99
expect_eq "before" 200 "$(status "unix:$T/r.sock" "${P[@]}" "HTTP_X_API_KEY=$K")"
rm -f "$T/region"/__db.*
sleep 1.5   # the maintenance thread looks every second
kg key revoke "$K_ID" 2>/dev/null
expect_eq "region files removed, then a revoke: seen" 401 "$(status "unix:$T/r.sock" "${P[@]}" "HTTP_X_API_KEY=$K")"
check "it said so in one line" grep -q 'region files were removed or replaced' "$LOG"

# --- a store the authorizer may no longer open (permissions) ---
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	store "$T/perm" --group nogroup || exit 99
	chmod 2770 "$T"; chgrp nogroup "$T"; chmod g+x "$T"
	setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
		"$KEYGATE_AUTHZ" --db "$T/perm" --listen "unix:$T/p.sock" --socket-mode 0666 2>>"$LOG" &
	PIDS+=("$!")
	ADDR="unix:$T/p.sock"; wait_ready "$ADDR"
	expect_eq "as the web server user: allowed" 200 "$(status "$ADDR" "${P[@]}" "HTTP_X_API_KEY=$K")"
	chmod 0700 "$T/perm"; chown root:root "$T/perm"
	db5.3_recover -h "$T/perm"   # forces every process to reopen
	# Requests answered from the key index touch no Berkeley DB region:
	# the maintenance thread notices the recovery within a second.
	sleep 1.5
	s1=$(status "$ADDR" "${P[@]}" "HTTP_X_API_KEY=$K"); sleep 1.2
	s2=$(status "$ADDR" "${P[@]}" "HTTP_X_API_KEY=$K")
	expect_eq "store unreadable: 503, and stays so" "503 503" "$s1 $s2"
	check "the reason is logged" grep -q 'reopen failed' "$LOG"
	chown root:nogroup "$T/perm"; chmod 2770 "$T/perm"
	sleep 1.2
	expect_eq "access restored: back to 200" 200 "$(status "$ADDR" "${P[@]}" "HTTP_X_API_KEY=$K")"
else
	ok "# skip permission test: needs root and setpriv"
fi

# --- the key index deleted, damaged, left half written: never a stale
#     answer, and a worker rebuilds it by itself ---
store "$T/kix" || exit 99
DB="$T/kix"
K2=$("$KEYGATE" --db "$DB" key create --org acme 2>"$T/id2"); K2_ID=$(cat "$T/id2")
start_authz "unix:$T/x.sock" --workers 2 || exit 99
A="unix:$T/x.sock"
rebuilt() { grep -c 'key index rebuilt' "$LOG"; }
n0=$(rebuilt)
rm -f "$DB/keyindex"
expect_eq "index deleted: answers from the store" 200 "$(status "$A" "${P[@]}" "HTTP_X_API_KEY=$K")"
sleep 2.5
check "a worker rebuilt the deleted index" [ "$(rebuilt)" -gt "$n0" ]
rm -f "$DB/keyindex"
kg key revoke "$K2_ID" 2>/dev/null
expect_eq "index deleted, then a revoke: seen at once" 401 "$(status "$A" "${P[@]}" "HTTP_X_API_KEY=$K2")"
check "db check agrees with it" bash -c "'$KEYGATE' --db '$DB' db check | grep -qx 'key index: ok'"
n0=$(rebuilt)
printf 'X' | dd of="$DB/keyindex" bs=1 seek=64 conv=notrunc 2>/dev/null   # its boot id
sleep 2.5
check "an index of another boot is rebuilt" [ "$(rebuilt)" -gt "$n0" ]
expect_eq "the revoked key stays refused" 401 "$(status "$A" "${P[@]}" "HTTP_X_API_KEY=$K2")"
expect_eq "the other key works" 200 "$(status "$A" "${P[@]}" "HTTP_X_API_KEY=$K")"
kill "$AUTHZ_PID"; wait "$AUTHZ_PID" 2>/dev/null

# --- disk full: the CLI fails cleanly, the authorizer keeps answering ---
if [ "$(id -u)" = 0 ] && mkdir -p "$T/full" && mount -t tmpfs -o size=48m tmpfs "$T/full" 2>/dev/null; then
	store "$T/full/db" || exit 99
	DB="$T/full/db"
	kg plan set prepaid --quota 0 2>/dev/null
	kg org create payg --plan prepaid 2>/dev/null
	kg org credit payg +1000 2>/dev/null
	PAY=$(kg key create --org payg 2>/dev/null)
	log0=$(wc -l < "$LOG")   # earlier sections log flush failures of their own
	start_authz "unix:$T/f.sock" || exit 99
	dd if=/dev/zero of="$T/full/filler" bs=1M 2>/dev/null   # fills the file system
	# more log than the preallocated log file holds: the next one cannot be made
	python3 -c 'import os
for i in range(60000): print(os.urandom(16).hex())' > "$T/many"
	"$KEYGATE" --db "$T/full/db" key import --org acme < "$T/many" >/dev/null 2>"$T/err"
	rc=$?
	expect_eq "disk full: the CLI exits 4" 4 "$rc"
	check "... saying why" grep -qi 'no space' "$T/err"
	grep -qi 'no space' "$T/err" || sed 's/^/#   said: /' "$T/err"
	expect_eq "disk full: the authorizer still answers reads" 200 "$(status "unix:$T/f.sock" "${P[@]}" "HTTP_X_API_KEY=$K")"
	# credits spent while nothing can be written: decided from memory
	n=$("$FCGI_CLIENT" --status --repeat 30 "unix:$T/f.sock" "${P[@]}" "HTTP_X_API_KEY=$PAY" | grep -c '^200$')
	expect_eq "disk full: 30 credits spent, decided from memory" 30 "$n"
	sleep 2.5
	check "the failing flush is logged" grep -q 'ledger flush failed (retried every second)' "$LOG"
	expect_eq "... once a minute, not every second" 1 "$(tail -n +"$((log0 + 1))" "$LOG" | grep -c 'ledger flush failed')"
	check "... and the ledger does not have them yet" [ "$(ledger_used payg)" -lt 30 ]
	rm -f "$T/full/filler"
	check "space again: the ledger gets all 30" wait_ledger payg 30
	check "space again: the CLI works" bash -c "'$KEYGATE' --db '$T/full/db' key create --org acme >/dev/null 2>&1"
	expect_eq "nothing committed was lost" 200 "$(status "unix:$T/f.sock" "${P[@]}" "HTTP_X_API_KEY=$K")"
	sleep 1.5
	expect_eq "... and the history has the 30 requests too" 30 \
		"$(kg usage --daily --org payg --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["days"][-1]["allowed"])')"
	kill "$AUTHZ_PID"; wait "$AUTHZ_PID" 2>/dev/null
	umount "$T/full"
else
	ok "# skip disk-full test: cannot mount a tmpfs here"
fi
finish
