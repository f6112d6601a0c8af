#!/bin/bash
# protocol.sh - keygate-authz over real FastCGI: every status of keygate-authz(8)
# section 4 that the core implements, both roles, unix socket and TCP,
# kept connections, and a revocation seen by the next request of the
# same running process.
. "$top_srcdir/tests/fcgi/lib.sh"

kg init --prefix kg 2>/dev/null || exit 99
kg plan set pro --allow 'GET /v1/**' --allow 'GET api.example.com/host/**' 2>/dev/null
kg plan set free 2>/dev/null
kg org create acme --plan pro --name "Acme Inc" 2>/dev/null
kg org create beta --plan free 2>/dev/null
newkey --org acme --name live; LIVE=$NEWKEY; LIVE_ID=$NEWID
newkey --org acme --test; TEST=$NEWKEY
newkey --org acme --user u-42; USERKEY=$NEWKEY
newkey --org beta; BETA=$NEWKEY
newkey --org beta --expires 2026-01-01 --force; EXPIRED=$NEWKEY

start_authz "unix:$T/authz.sock" || exit 99
A="unix:$T/authz.sock"
P=(REQUEST_METHOD=GET REQUEST_URI=/v1/items HTTP_HOST=api.example.com REMOTE_ADDR=127.0.0.1 SERVER_PROTOCOL=HTTP/1.1)

# --- allowed ---
out=$("$FCGI_CLIENT" "$A" "${P[@]}" "HTTP_AUTHORIZATION=Bearer $LIVE")
expect_eq "Bearer: Status first, with its reason phrase" "Status: 200 OK" "$(printf '%s' "$out" | head -n1 | tr -d '\r')"
expect_eq "Variable-Org-Id" acme "$(header Variable-Org-Id "$A" "${P[@]}" "HTTP_AUTHORIZATION=Bearer $LIVE")"
expect_eq "Variable-Plan" pro "$(header Variable-Plan "$A" "${P[@]}" "HTTP_AUTHORIZATION=Bearer $LIVE")"
expect_eq "Variable-Key-Id" "$LIVE_ID" "$(header Variable-Key-Id "$A" "${P[@]}" "HTTP_AUTHORIZATION=Bearer $LIVE")"
expect_eq "Variable-Key-Mode live" live "$(header Variable-Key-Mode "$A" "${P[@]}" "HTTP_AUTHORIZATION=Bearer $LIVE")"
expect_eq "no Variable-User-Id without a user" "" "$(header Variable-User-Id "$A" "${P[@]}" "HTTP_AUTHORIZATION=Bearer $LIVE")"
expect_eq "X-Api-Key" 200 "$(status "$A" "${P[@]}" "HTTP_X_API_KEY=$LIVE")"
expect_eq "bearer scheme in lower case, tabs" 200 "$(status "$A" "${P[@]}" "HTTP_AUTHORIZATION=bearer\t \t$LIVE")"
expect_eq "test key: Variable-Key-Mode test" test "$(header Variable-Key-Mode "$A" "${P[@]}" "HTTP_X_API_KEY=$TEST")"
expect_eq "Variable-User-Id" u-42 "$(header Variable-User-Id "$A" "${P[@]}" "HTTP_X_API_KEY=$USERKEY")"
expect_eq "same key in both headers" 200 "$(status "$A" "${P[@]}" "HTTP_X_API_KEY=$LIVE" "HTTP_AUTHORIZATION=Bearer $LIVE")"
expect_eq "Basic for another layer plus a valid X-Api-Key" 200 "$(status "$A" "${P[@]}" "HTTP_AUTHORIZATION=Basic dXNlcjpwdw==" "HTTP_X_API_KEY=$LIVE")"

# --- denied ---
deny() { # deny DESCRIPTION STATUS CODE PARAMS...
	local d=$1 st=$2 code=$3; shift 3
	local raw got_st got_code ct
	raw=$("$FCGI_CLIENT" "$A" "$@")
	got_st=$(printf '%s' "$raw" | head -n1 | tr -d '\r')
	got_code=$(printf '%s' "$raw" | sed '1,/^\r\{0,1\}$/d' | json_code)
	ct=$(header Content-Type "$A" "$@")
	if [[ $got_st == "Status: $st "* ]] && [ -n "$got_code" ] && [ "$got_code" = "$code" ] && [ "$ct" = application/json ]; then
		ok "$d: $st $code"
	else
		not_ok "$d: expected $st $code, got '$got_st' '$got_code' '$ct'"
	fi
	if [ "$st" = 401 ]; then
		expect_eq "$d: WWW-Authenticate" 'Bearer realm="keygate"' "$(header WWW-Authenticate "$A" "$@")"
	fi
}
deny "no key" 401 missing_api_key "${P[@]}"
deny "Basic only" 401 missing_api_key "${P[@]}" "HTTP_AUTHORIZATION=Basic dXNlcjpwdw=="
deny "empty Bearer" 401 invalid_api_key "${P[@]}" "HTTP_AUTHORIZATION=Bearer "
deny "garbage key" 401 invalid_api_key "${P[@]}" "HTTP_X_API_KEY=hello"
bad="${LIVE%?}$( [ "${LIVE: -1}" = A ] && echo B || echo A )"
deny "checksum wrong" 401 invalid_api_key "${P[@]}" "HTTP_X_API_KEY=$bad"
deny "truncated key" 401 invalid_api_key "${P[@]}" "HTTP_X_API_KEY=${LIVE:0:20}"
unknown=$("$KEYGATE" --db "$T/none" init >/dev/null 2>&1; "$KEYGATE" --db "$T/none" plan set p 2>/dev/null; "$KEYGATE" --db "$T/none" org create o --plan p 2>/dev/null; "$KEYGATE" --db "$T/none" key create --org o 2>/dev/null)
deny "well-formed but unknown key" 401 invalid_api_key "${P[@]}" "HTTP_X_API_KEY=$unknown"
deny "an 8 KiB key" 401 invalid_api_key "${P[@]}" --big HTTP_X_API_KEY=8192
deny "CR LF in the key" 401 invalid_api_key "${P[@]}" "HTTP_X_API_KEY=${LIVE}\r\nX-Evil: 1"
deny "two different keys" 400 conflicting_api_keys "${P[@]}" "HTTP_X_API_KEY=$LIVE" "HTTP_AUTHORIZATION=Bearer $BETA"
deny "expired key" 401 expired_api_key "${P[@]}" "HTTP_X_API_KEY=$EXPIRED"
deny "route not in the plan" 403 forbidden REQUEST_METHOD=GET REQUEST_URI=/admin HTTP_HOST=x "HTTP_X_API_KEY=$LIVE"

# REQUEST_URI wins over SCRIPT_NAME (nginx sets it to the auth location)
expect_eq "REQUEST_URI wins (allowed path)" 200 "$(status "$A" REQUEST_METHOD=GET REQUEST_URI=/v1/x SCRIPT_NAME=/auth HTTP_HOST=api.example.com "HTTP_X_API_KEY=$LIVE")"
expect_eq "REQUEST_URI wins (denied path)" 403 "$(status "$A" REQUEST_METHOD=GET REQUEST_URI=/admin SCRIPT_NAME=/v1/x HTTP_HOST=api.example.com "HTTP_X_API_KEY=$LIVE")"
expect_eq "host compared without its port" 200 "$(status "$A" REQUEST_METHOD=GET REQUEST_URI=/host/a HTTP_HOST=API.example.com:8443 "HTTP_X_API_KEY=$LIVE")"
expect_eq "another host is not that host" 403 "$(status "$A" REQUEST_METHOD=GET REQUEST_URI=/host/a HTTP_HOST=evil.example.com "HTTP_X_API_KEY=$LIVE")"

# suspension and revocation take effect on the next request, same process
expect_eq "beta allowed" 200 "$(status "$A" "${P[@]}" "HTTP_X_API_KEY=$BETA")"
kg org set beta --suspend 2>/dev/null
deny "suspended organization" 403 forbidden "${P[@]}" "HTTP_X_API_KEY=$BETA"
kg org set beta --resume 2>/dev/null
expect_eq "resumed organization" 200 "$(status "$A" "${P[@]}" "HTTP_X_API_KEY=$BETA")"
pid_before=$AUTHZ_PID
kg key revoke "$LIVE_ID" 2>/dev/null
deny "revoked key, next request" 401 invalid_api_key "${P[@]}" "HTTP_X_API_KEY=$LIVE"
check "the same authorizer process answered" kill -0 "$pid_before"

# replays never answer 200; subrequests are answered but never counted
expect_eq "replay of an allowed request: 503" 503 "$(status "$A" "${P[@]}" KEYGATE_REPLAY=1 "HTTP_X_API_KEY=$BETA")"
deny "replay of a denial repeats it" 401 missing_api_key "${P[@]}" KEYGATE_REPLAY=1

# --- RESPONDER role (nginx auth_request) ---
expect_eq "responder: allowed" 200 "$(status --role responder "$A" "${P[@]}" "HTTP_X_API_KEY=$BETA")"
expect_eq "responder: headers" beta "$(header Variable-Org-Id --role responder "$A" "${P[@]}" "HTTP_X_API_KEY=$BETA")"
expect_eq "responder: denial body" missing_api_key "$(body --role responder "$A" "${P[@]}" | json_code)"
expect_eq "responder without STDIN records answers" 200 "$(status --role responder --no-stdin --timeout 2000 "$A" "${P[@]}" "HTTP_X_API_KEY=$BETA")"
expect_eq "authorizer never waits for STDIN" 200 "$(status --no-stdin --timeout 2000 "$A" "${P[@]}" "HTTP_X_API_KEY=$BETA")"

# --- FCGI_KEEP_CONN ---
expect_eq "three requests on one kept connection" "200 200 200" "$(status --keep-conn --repeat 3 "$A" "${P[@]}" "HTTP_X_API_KEY=$BETA" | tr '\n' ' ' | sed 's/ $//')"

# --- a damaged record is a 500, logged, never a 200 ---
newkey --org beta; BROKEN_ORG_KEY=$NEWKEY
kg org create broken --plan free 2>/dev/null
newkey --org broken; BROKEN=$NEWKEY
printf 'broken\ngarbage\n' | db5.3_load -h "$DB" -T -t hash orgs.db
# The key index mirrors what keygate wrote; a write behind its back
# (db5.3_load here) is found by db check, which rebuilds the index.
kg db check >"$T/check.out" 2>&1
check "db check: the key index differed from the store, rebuilt" \
	grep -q 'key index: differed from the store; rebuilt' "$T/check.out"
deny "damaged organization record" 500 internal_error "${P[@]}" "HTTP_X_API_KEY=$BROKEN"
check "it is logged" grep -q "damaged organization record" "$LOG"

# --- recovery under a running authorizer: it reopens within the request ---
db5.3_recover -h "$DB"
expect_eq "after a recovery under it: the right answer from the reopened store" 200 \
	"$(status "$A" "${P[@]}" "HTTP_X_API_KEY=$BETA")"
check "it said so" grep -q 'store reopened' "$LOG"
db5.3_recover -h "$DB"
expect_eq "... and a revoked key stays refused across it" 401 "$(status "$A" "${P[@]}" "HTTP_X_API_KEY=$LIVE")"

# --- a flood of denials is logged at most 50 a second per worker, then counted ---
before=$(grep -c 'deny 401' "$LOG")
"$FCGI_CLIENT" --status --keep-conn --repeat 300 "$A" "${P[@]}" HTTP_X_API_KEY=flood-flood-flood >/dev/null
sleep 1.1
status "$A" "${P[@]}" HTTP_X_API_KEY=flood-flood-flood >/dev/null
logged=$(( $(grep -c 'deny 401' "$LOG") - before ))
check "denials logged at a bounded rate ($logged lines for 301)" [ "$logged" -le 101 ]
check "the rest is counted in one line" grep -q 'more denials were not logged' "$LOG"

# --- TCP ---
port=$(free_port)
start_authz "127.0.0.1:$port" --workers 2 || exit 99
expect_eq "TCP: allowed" 200 "$(status "127.0.0.1:$port" "${P[@]}" "HTTP_X_API_KEY=$BETA")"
expect_eq "TCP: denied" 401 "$(status "127.0.0.1:$port" "${P[@]}" "HTTP_X_API_KEY=nope-nope-nope")"
expect_eq "TCP: responder" 200 "$(status --role responder "127.0.0.1:$port" "${P[@]}" "HTTP_X_API_KEY=$BETA")"

# --- spawned: the listening socket is fd 0 (spawn-fcgi, as lighttpd and mod_fcgid do) ---
if command -v spawn-fcgi >/dev/null; then
	spawn-fcgi -s "$T/spawned.sock" -P "$T/spawned.pid" -- "$KEYGATE_AUTHZ" --db "$DB" >/dev/null 2>>"$LOG"
	sleep 0.3
	PIDS+=("$(cat "$T/spawned.pid")")
	expect_eq "spawned on fd 0: allowed" 200 "$(status "unix:$T/spawned.sock" "${P[@]}" "HTTP_X_API_KEY=$BETA")"
	expect_eq "spawned on fd 0: denied" 401 "$(status "unix:$T/spawned.sock" "${P[@]}")"
else
	not_ok "spawn-fcgi is not installed (contrib/quickstart installs it)"
fi
check "refuses to start without a socket on fd 0" bash -c "! '$KEYGATE_AUTHZ' --db '$DB' </dev/null 2>/dev/null"
check "refuses to start without a store" bash -c "! '$KEYGATE_AUTHZ' --db '$T/nothing' --listen 'unix:$T/x.sock' 2>/dev/null"

# --- SIGTERM: finishes and exits ---
kill -TERM "$AUTHZ_PID"
for i in $(seq 1 30); do kill -0 "$AUTHZ_PID" 2>/dev/null || break; sleep 0.1; done
check "SIGTERM stops the authorizer" bash -c "! kill -0 $AUTHZ_PID 2>/dev/null"

# --- no full key in any log ---
leaked=0
for k in "$LIVE" "$TEST" "$USERKEY" "$BETA" "$EXPIRED" "$BROKEN" "$BROKEN_ORG_KEY"; do
	grep -qF "$k" "$LOG" && leaked=1
done
expect_eq "no full key in the authorizer's log" 0 "$leaked"
finish
