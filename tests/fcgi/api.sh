#!/bin/bash
# api.sh - keygate-api over FastCGI (keygate-api(8)): every endpoint and
# scope, bad input of every kind, secrets revealed from the store's vault,
# the plan's key limit under concurrent creates, stable pagination,
# refused requests changing nothing, GET /metrics (by scope, and by
# address: a second keygate-api whose keygate.conf sets metrics-allow).
# The checks are in api_test.py; this makes the store and starts
# keygate-api.
. "$top_srcdir/tests/fcgi/lib.sh"

: "${KEYGATE_API:?run me from make check}"
# made with a vault, so that GET /v1/keys/{id}/secret has secrets to reveal
head -c 32 /dev/urandom > "$T/vault"; chmod 0640 "$T/vault"
kg init --vault-file "$T/vault" 2>/dev/null || exit 99
kg plan set basic --deny '* /admin/**' 2>/dev/null
kg plan set three --max-keys 3 2>/dev/null
kg plan set prepaid --quota 0 2>/dev/null
for o in acme beta delta; do kg org create "$o" --plan basic 2>/dev/null; done
kg org create gamma --plan three 2>/dev/null
kg org create payg --plan prepaid 2>/dev/null
for i in $(seq 1 10); do kg key create --org delta >/dev/null 2>&1; done
keys="{"
add() { # add ROLE ARGS...: a key, its secret and id in the JSON for the test
	local role=$1; shift
	newkey "$@" || exit 99
	keys="$keys\"$role\": [\"$NEWKEY\", \"$NEWID\"],"
}
add admin --org acme --scope admin
add rw --org acme --scope keys:write --scope keys:read
add ro --org acme --scope keys:read
add plain --org acme
add verify --org acme --scope verify
add live --org acme
add other_rw --org beta --scope keys:write
add reveal --org acme --scope keys:reveal
add other_reveal --org beta --scope keys:reveal
keys="${keys%,}}"

"$KEYGATE_API" --db "$DB" --listen "unix:$T/api.sock" --workers 2 2>>"$LOG" &
PIDS+=("$!")
printf 'metrics-allow = 10.9.0.0/16 ::1\n' > "$T/metrics.conf"
"$KEYGATE_API" --db "$DB" --config "$T/metrics.conf" --listen "unix:$T/api-m.sock" 2>>"$LOG" &
PIDS+=("$!")
for i in $(seq 1 50); do [ -S "$T/api.sock" ] && [ -S "$T/api-m.sock" ] && break; sleep 0.1; done
sleep 0.3
API_SOCK="$T/api.sock" API_SOCK_METRICS="$T/api-m.sock" API_KEYS="$keys" KEYGATE="$KEYGATE" \
	DB="$DB" python3 "$top_srcdir/tests/fcgi/api_test.py"
rc=$?
check "no key appears in keygate-api's log" bash -c "! grep -qE 'kg_(live|test)_[A-Za-z0-9]{20,}' '$LOG'"
[ "$rc" -eq 0 ] && ok "api_test.py" || not_ok "api_test.py: $rc failed"
finish
