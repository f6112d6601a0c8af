#!/bin/bash
# tests/repl/propagation.sh - a change committed on the master decides
# requests on every replica within a second: a new key, a revocation, a
# suspension and a plan change, each timed on every site's authorizer
# (repl-probe flip) while every authorizer is kept busy (repl-probe load).
. "$top_srcdir/tests/repl/lib.sh"

ROUNDS=${REPL_ROUNDS:-8}
LIMIT_MS=1000

check "a group of three sites forms" make_group || finish

# every authorizer busy with the same client all along: a known key and a
# revoked one (keygate-authz answers both from its key index)
REVOKED=$(kgs a key create --org acme 2>"$T/rid") && kgs a key revoke "$(cat "$T/rid")" >/dev/null 2>&1
for s in $SITES; do wait_status "$s" "$REVOKED" 401; done
"$REPL_PROBE" load --seconds 300 --pause-us "${REPL_PAUSE_US:-500}" --site "$(addr a)" --site "$(addr b)" --site "$(addr c)" \
	--case 200 "HTTP_AUTHORIZATION=Bearer $KEY1" REQUEST_METHOD=GET REQUEST_URI=/v1/x \
	--case 401 "HTTP_AUTHORIZATION=Bearer $REVOKED" REQUEST_METHOD=GET REQUEST_URI=/v1/x \
	>"$T/load.out" 2>&1 &
LOADER=$!

# timed CHANGE WANT KEY [--stdin TEXT] -- COMMAND...: one round on the master;
# every site's time (ms from the command's start) goes to $T/times.CHANGE
timed() {
	local change=$1 want=$2 key=$3; shift 3
	"$REPL_PROBE" flip --expect "$want" --timeout 5000 \
		--site "$(addr a)" --site "$(addr b)" --site "$(addr c)" \
		"HTTP_AUTHORIZATION=Bearer $key" REQUEST_METHOD=GET REQUEST_URI=/v1/x "$@" \
		>"$T/flip.out" 2>&1
	local rc=$?
	[ -n "${REPL_VERBOSE:-}" ] && sed "s/^/# $change: /" "$T/flip.out"
	grep -v '^keygate:' "$T/flip.out" | awk -v c="$change" -v f="$T/times" '
		$2 == "timeout" { print c " " $1 " timeout"; next }
		{ print $2 >> (f "." c); print $2 >> (f ".all") }'
	return $rc
}

kga() { echo "$KEYGATE" --config "$T/a/keygate.conf"; }
kgs a plan set closed --deny 'GET /v1/*' >/dev/null 2>&1
bad=0
for i in $(seq 1 "$ROUNDS"); do
	org=o$i
	kgs a org create "$org" --plan open >/dev/null 2>&1
	key="repl-propagation-$i-$RANDOM$RANDOM"
	timed create 200 "$key" --stdin "$key" -- $(kga) key import --org "$org" || bad=1
	timed suspend 403 "$key" -- $(kga) org set "$org" --suspend || bad=1
	kgs a org set "$org" --resume >/dev/null 2>&1
	for s in $SITES; do wait_status "$s" "$key" 200; done
	timed plan 403 "$key" -- $(kga) org set "$org" --plan closed || bad=1
	id=$(kgs a --json key list --org "$org" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
	kgs a org set "$org" --plan open >/dev/null 2>&1
	for s in $SITES; do wait_status "$s" "$key" 200; done
	timed revoke 401 "$key" -- $(kga) key revoke "$id" || bad=1
done
expect_eq "every change decided on every site (no timeout)" 0 "$bad"
for c in create suspend plan revoke all; do
	[ -s "$T/times.$c" ] || { not_ok "no times for $c"; continue; }
	p50=$(pct 50 <"$T/times.$c"); p99=$(pct 99 <"$T/times.$c"); max=$(pct 100 <"$T/times.$c")
	echo "# $c: every site decides accordingly after p50 $p50 ms, p99 $p99 ms, max $max ms" \
		"(from the command's start, $(wc -l <"$T/times.$c") site-rounds)"
	check "  $c: on every site within ${LIMIT_MS} ms" \
		python3 -c "import sys; sys.exit(0 if float('$max') < $LIMIT_MS else 1)"
done

# An import names its new keys in its audit record (up to 16): the
# replicas mirror them into their key index; a larger one makes them
# rebuild it (a new file, renamed into place: a new inode).
index_inode() { stat -c %i "$T/$1/db/keyindex"; }
import_keys() { # ORG N: N new keys imported on the master, their secrets in $T/imported
	local i
	for i in $(seq 1 "$2"); do echo "repl-import-$1-$i-$RANDOM$RANDOM"; done >"$T/imported"
	kgs a key import --org "$1" <"$T/imported" >/dev/null 2>&1
}
every_imported_allowed() {
	local s k
	for s in b c; do while read -r k; do
		[ "$(status "$s" "$k")" = 200 ] || return 1
	done <"$T/imported"; done
}
kgs a org create imports --plan open >/dev/null 2>&1
before_b=$(index_inode b); before_c=$(index_inode c)
import_keys imports 16
check "16 keys imported on the master are allowed on every replica (5 s)" wait_for 5 every_imported_allowed
check "  which mirrored them without rebuilding their key index" \
	eval '[ "$(index_inode b)" = "$before_b" ] && [ "$(index_inode c)" = "$before_c" ]'
before_b=$(index_inode b); before_c=$(index_inode c)
import_keys imports 17
check "17 keys imported at once are allowed on every replica too (5 s)" wait_for 5 every_imported_allowed
check "  which rebuilt their key index for them" \
	eval '[ "$(index_inode b)" != "$before_b" ] && [ "$(index_inode c)" != "$before_c" ]'

kill -TERM "$LOADER"; wait "$LOADER"; rc=$?
sed 's/^/# load: /' "$T/load.out"
expect_eq "no authorizer answered wrongly under load" 0 "$rc"
finish
