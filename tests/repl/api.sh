#!/bin/bash
# tests/repl/api.sh - keygate-api on a replica: a key created and one
# revoked through it are the master's doing (its answers, its audit) and
# decide on every site's authorizer; with neither the master nor the
# other replica up (no master, no quorum) the same requests answer
# 503 unavailable and change nothing, also once the group is back.
. "$top_srcdir/tests/repl/lib.sh"
: "${KEYGATE_API:?run me from make check}"

check "a group of three sites forms" make_group || finish
ADMIN=$(kgs a key create --org acme --name admin --scope admin 2>"$T/admin.id")
ADMIN_ID=$(cat "$T/admin.id")
check "an admin key made on the master" [ -n "$ADMIN" ]

"$KEYGATE_API" --config "$T/b/keygate.conf" --listen "unix:$T/b/api.sock" 2>>"$T/b/api.log" &
AUTHZ[b]="${AUTHZ[b]} $!"

# api METHOD PATH [BODY]: keygate-api of site b, as the web server asks
# it; prints the status on the first line, then the body
api() {
	local method=$1 path=$2 body=${3:-} args=()
	[ -n "$body" ] && args=(--stdin "$body" CONTENT_LENGTH=${#body} CONTENT_TYPE=application/json)
	# the timeout covers a replica's wait for an election (keygate-repd, 5 s)
	"$FCGI_CLIENT" --role responder --timeout 20000 "${args[@]:0:2}" "unix:$T/b/api.sock" \
		REQUEST_METHOD="$method" REQUEST_URI="/keygate$path" REMOTE_ADDR=127.0.0.1 \
		"HTTP_AUTHORIZATION=Bearer $ADMIN" "${args[@]:2}" 2>/dev/null |
		python3 -c '
import sys
head, _, body = sys.stdin.read().partition("\r\n\r\n")
st = [l.split()[1] for l in head.split("\r\n") if l.startswith("Status:")]
print(st[0] if st else "none"); print(body)'
}
# jget JSON PATH: one value of a JSON document (a.b.c), or nothing
jget() {
	python3 -c '
import json, sys
try:
    d = json.loads(sys.argv[1])
    for p in sys.argv[2].split("."): d = d[p]
    print(d)
except Exception:
    pass' "$1" "$2"
}
self_ok() { [ "$(api GET /v1/self | head -n 1)" = 200 ]; }
check "keygate-api on replica b knows the admin key" wait_for 10 self_ok

# --- a key created through the replica ---
out=$(api POST /v1/keys '{"org":"acme","name":"via-replica"}')
st=$(head -n 1 <<<"$out"); body=$(tail -n +2 <<<"$out")
expect_eq "POST /v1/keys on a replica: 201" 201 "$st"
NEW=$(jget "$body" key); NEW_ID=$(jget "$body" object.id)
check "  with the secret and the key object" [ -n "$NEW" -a -n "$NEW_ID" ]
master_says() { kgs a --json key show "$NEW_ID" 2>/dev/null; }
expect_eq "  the master holds that key (its name)" via-replica "$(jget "$(master_says)" name)"
check "  the master's audit names it, made by the admin key" sh -c \
	"'$KEYGATE' --config '$T/a/keygate.conf' audit --limit 1 | grep '$NEW_ID' | grep -q 'key:$ADMIN_ID'"
expect_eq "  the replica's authorizer allows it at once" 200 "$(status b "$NEW")"
for s in a c; do check "  site $s's authorizer allows it" wait_status "$s" "$NEW" 200; done

# --- a revocation through the replica ---
out=$(api DELETE "/v1/keys/$NEW_ID")
st=$(head -n 1 <<<"$out"); body=$(tail -n +2 <<<"$out")
expect_eq "DELETE /v1/keys/ID on a replica: 200" 200 "$st"
expect_eq "  with the key object, revoked" revoked "$(jget "$body" state)"
expect_eq "  the master says revoked" revoked "$(jget "$(master_says)" state)"
expect_eq "  the replica's authorizer denies it at once" 401 "$(status b "$NEW")"
for s in a c; do check "  site $s's authorizer denies it" wait_status "$s" "$NEW" 401; done

# --- no master: 503 unavailable, nothing changed ---
KEEP=$(kgs a key create --org acme --name keep 2>"$T/keep.id"); KEEP_ID=$(cat "$T/keep.id")
check "a key to revoke while no master is up" wait_status b "$KEEP" 200
keys() { kgs "$1" --json key list --all | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
before=$(keys b)
audit_before=$(kgs b --json audit | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
# the other replica first: stopped together, it may still elect b in
# the moment it outlives the master (a master then, but without a quorum)
kill "${REPD[c]}"; wait "${REPD[c]}" 2>/dev/null; REPD[c]=
kill "${REPD[a]}"; wait "${REPD[a]}" 2>/dev/null; REPD[a]=
no_master() { [ "$(status_field b master)" = "None" ]; }
check "the master's and the other replica's keygate-repd stopped: b finds no master" wait_for 15 no_master
t0=$(date +%s%N)
out=$(api POST /v1/keys '{"org":"acme","name":"refused"}')
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
st=$(head -n 1 <<<"$out"); body=$(tail -n +2 <<<"$out")
expect_eq "POST /v1/keys with no master: 503" 503 "$st"
expect_eq "  code unavailable (after $ms ms)" unavailable "$(jget "$body" error.code)"
check "  and no secret" [ -z "$(jget "$body" key)" ]
out=$(api DELETE "/v1/keys/$KEEP_ID")
expect_eq "DELETE /v1/keys/ID with no master: 503 unavailable" "503 unavailable" \
	"$(head -n 1 <<<"$out") $(jget "$(tail -n +2 <<<"$out")" error.code)"
expect_eq "  reads still work on the replica (GET /v1/keys/ID)" 200 "$(api GET "/v1/keys/$KEEP_ID" | head -n 1)"
expect_eq "  and its authorizer still allows the key" 200 "$(status b "$KEEP")"

start_repd a
start_repd c
check "the master and the other replica come back" wait_for 30 all_ready b
expect_eq "  the replica holds no key from the refused create" "$before" "$(keys b)"
expect_eq "  nor does the master's copy" "$before" "$(keys a)"
audit_after=$(kgs b --json audit | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
expect_eq "  nor any audit record of them" "$audit_before" "$audit_after"
for s in $SITES; do
	expect_eq "  site $s still allows the key whose revocation was refused" 200 "$(status "$s" "$KEEP")"
done
expect_eq "POST /v1/keys works again through the replica" 201 \
	"$(api POST /v1/keys '{"org":"acme","name":"after"}' | head -n 1)"
check "no key appears in keygate-api's log" sh -c "! grep -qE 'kg_(live|test)_[A-Za-z0-9]{20,}' '$T/b/api.log'"
finish
