#!/bin/bash
# input.sh - what the authorizer reads from a request, where a client
# controls it: hosts that route rules cannot compare, headers sent twice
# or sent empty, a SCRIPT_NAME + PATH_INFO longer than the path buffer,
# rule hosts that could never match, and no key in any log or error
# line.  Limits refuse, never truncate.
. "$top_srcdir/tests/fcgi/lib.sh"

kg init 2>/dev/null || exit 99
kg plan set walled --deny '* *.internal.example.com/**' 2>/dev/null
kg plan set apionly --allow 'api.example.com/**' 2>/dev/null
kg plan set guarded --deny '* /admin/**' 2>/dev/null
kg plan set open 2>/dev/null
for p in walled apionly guarded open; do kg org create "o-$p" --plan "$p" 2>/dev/null; done
newkey --org o-walled; WALLED=$NEWKEY
newkey --org o-apionly; APIONLY=$NEWKEY
newkey --org o-guarded; GUARDED=$NEWKEY
newkey --org o-open; OPEN=$NEWKEY; OPEN_ID=$NEWID
newkey --org o-open; OTHER=$NEWKEY
newkey --org o-open --allow 'GET hooks.example.com/**'; HOOK=$NEWKEY

start_authz "unix:$T/authz.sock" || exit 99
A="unix:$T/authz.sock"
st() { status "$A" REQUEST_METHOD=GET "$@"; }

# --- hosts: never truncated or guessed at when a host rule applies ---
long=$(python3 -c "print(('a' * 60 + '.') * 4 + 'db.internal.example.com')")
expect_eq "deny *.internal: an internal host" 403 "$(st REQUEST_URI=/v1/x HTTP_HOST=db.internal.example.com "HTTP_X_API_KEY=$WALLED")"
expect_eq "deny *.internal: an outside host" 200 "$(st REQUEST_URI=/v1/x HTTP_HOST=api.example.com "HTTP_X_API_KEY=$WALLED")"
expect_eq "deny *.internal: a 267-byte internal host (was cut at 255 and let in)" 403 \
	"$(st REQUEST_URI=/v1/x "HTTP_HOST=$long" "HTTP_X_API_KEY=$WALLED")"
expect_eq "deny *.internal: the same with a port" 403 \
	"$(st REQUEST_URI=/v1/x "HTTP_HOST=$long:443" "HTTP_X_API_KEY=$WALLED")"
for h in '' '_' 'a_b.internal.example.com' 'db.internal.example.com..' 'db.internal.example.com:x' \
	'api.example.com, db.internal.example.com' 'db.internal.example.com\t' '[::1'; do
	expect_eq "deny *.internal: host '$h' cannot be compared: refused" 403 \
		"$(st REQUEST_URI=/v1/x "HTTP_HOST=$h" "HTTP_X_API_KEY=$WALLED")"
done
expect_eq "deny *.internal: no HTTP_HOST at all: refused" 403 "$(st REQUEST_URI=/v1/x "HTTP_X_API_KEY=$WALLED")"
expect_eq "deny *.internal: HTTP_HOST twice, an outside host last" 403 \
	"$(st REQUEST_URI=/v1/x HTTP_HOST=db.internal.example.com HTTP_HOST=api.example.com "HTTP_X_API_KEY=$WALLED")"
expect_eq "deny *.internal: HTTP_HOST twice, the same" 200 \
	"$(st REQUEST_URI=/v1/x HTTP_HOST=api.example.com HTTP_HOST=api.example.com "HTTP_X_API_KEY=$WALLED")"
expect_eq "deny *.internal: upper case, port and trailing dot" 403 \
	"$(st REQUEST_URI=/v1/x HTTP_HOST=DB.Internal.Example.COM.:8443 "HTTP_X_API_KEY=$WALLED")"
expect_eq "a 253-byte outside host is compared whole" 200 \
	"$(st REQUEST_URI=/v1/x "HTTP_HOST=$(python3 -c "print(('a' * 63 + '.') * 3 + 'b' * 57 + '.com')")" "HTTP_X_API_KEY=$WALLED")"
expect_eq "allow api.example.com: a long host that starts with it" 403 \
	"$(st REQUEST_URI=/v1/x "HTTP_HOST=api.example.com.$long" "HTTP_X_API_KEY=$APIONLY")"
expect_eq "a key's own host rule: no host" 403 "$(st REQUEST_URI=/v1/x "HTTP_X_API_KEY=$HOOK")"
expect_eq "a key's own host rule: its host" 200 "$(st REQUEST_URI=/v1/x HTTP_HOST=hooks.example.com "HTTP_X_API_KEY=$HOOK")"
expect_eq "rules without a host do not examine it: a long host" 200 \
	"$(st REQUEST_URI=/v1/x "HTTP_HOST=$long" "HTTP_X_API_KEY=$GUARDED")"
expect_eq "rules without a host do not examine it: no host" 200 "$(st REQUEST_URI=/v1/x "HTTP_X_API_KEY=$GUARDED")"
expect_eq "no rules: a host of 8 KiB" 200 "$(st REQUEST_URI=/v1/x --big HTTP_HOST=8192 "HTTP_X_API_KEY=$OPEN")"
check "the reason is logged: the host, not the rules" grep -q 'reason="host missing or not a valid name, and host rules apply"' "$LOG"

# --- a header sent twice (nginx: a param per copy), or sent empty ---
bad="${OPEN%??????}AAAAAA"
expect_eq "X-Api-Key twice, the same key" 200 "$(st REQUEST_URI=/v1/x "HTTP_X_API_KEY=$OPEN" "HTTP_X_API_KEY=$OPEN")"
expect_eq "X-Api-Key twice, two valid keys: never the last one" 400 \
	"$(st REQUEST_URI=/v1/x "HTTP_X_API_KEY=$OTHER" "HTTP_X_API_KEY=$OPEN")"
expect_eq "  conflicting_api_keys" conflicting_api_keys \
	"$(body "$A" REQUEST_URI=/v1/x "HTTP_X_API_KEY=$OTHER" "HTTP_X_API_KEY=$OPEN" | json_code)"
expect_eq "Authorization twice, invalid then valid: never the last one" 400 \
	"$(st REQUEST_URI=/v1/x "HTTP_AUTHORIZATION=Bearer $bad" "HTTP_AUTHORIZATION=Bearer $OPEN")"
expect_eq "Authorization twice, the same key" 200 \
	"$(st REQUEST_URI=/v1/x "HTTP_AUTHORIZATION=Bearer $OPEN" "HTTP_AUTHORIZATION=Bearer $OPEN")"
expect_eq "joined by Apache or lighttpd: 'k1, k2'" 400 "$(st REQUEST_URI=/v1/x "HTTP_X_API_KEY=$OTHER, $OPEN")"
expect_eq "joined: the same key twice" 200 "$(st REQUEST_URI=/v1/x "HTTP_X_API_KEY=$OPEN, $OPEN")"
expect_eq "joined Authorization: 'Bearer k1, Bearer k2'" 400 "$(st REQUEST_URI=/v1/x "HTTP_AUTHORIZATION=Bearer $bad, Bearer $OPEN")"
nine=(); for i in 1 2 3 4 5 6 7 8 9; do nine+=("HTTP_X_API_KEY=$OPEN"); done
expect_eq "9 copies of one key: more than are examined, refused" 400 "$(st REQUEST_URI=/v1/x "${nine[@]}")"
expect_eq "8 copies of one key" 200 "$(st REQUEST_URI=/v1/x "${nine[@]:1}")"
expect_eq "Bearer and an empty X-Api-Key param (nginx's \$http_x_api_key)" 200 \
	"$(st REQUEST_URI=/v1/x "HTTP_AUTHORIZATION=Bearer $OPEN" HTTP_X_API_KEY=)"
expect_eq "an empty X-Api-Key param first, then Bearer" 200 \
	"$(st REQUEST_URI=/v1/x HTTP_X_API_KEY= "HTTP_AUTHORIZATION=Bearer $OPEN")"
expect_eq "X-Api-Key and an empty Authorization param" 200 \
	"$(st REQUEST_URI=/v1/x HTTP_AUTHORIZATION= "HTTP_X_API_KEY=$OPEN")"
expect_eq "an empty X-Api-Key alone: missing" missing_api_key "$(body "$A" REQUEST_URI=/v1/x HTTP_X_API_KEY= | json_code)"
expect_eq "'Bearer' with nothing after it: still invalid" invalid_api_key \
	"$(body "$A" REQUEST_URI=/v1/x "HTTP_AUTHORIZATION=Bearer" "HTTP_X_API_KEY=$OPEN" | json_code)"

# --- SCRIPT_NAME + PATH_INFO: examined whole or not at all ---
sn="/$(printf 'a%.0s' $(seq 4090))"
expect_eq "deny /admin/**: a 4,091-byte SCRIPT_NAME and PATH_INFO /../../admin/x (was cut at 4,095)" 403 \
	"$(st "SCRIPT_NAME=$sn" PATH_INFO=/../../admin/x "HTTP_X_API_KEY=$GUARDED")"
expect_eq "deny /admin/**: the same pair, elsewhere" 200 \
	"$(st "SCRIPT_NAME=$sn" PATH_INFO=/../../v1/x "HTTP_X_API_KEY=$GUARDED")"
huge="/$(printf 'b%.0s' $(seq 8300))"
expect_eq "deny /admin/**: a pair longer than any path examined: refused" 403 \
	"$(st "SCRIPT_NAME=$huge" PATH_INFO=/x "HTTP_X_API_KEY=$GUARDED")"
expect_eq "no rules: the path is not examined" 200 "$(st "SCRIPT_NAME=$huge" PATH_INFO=/x "HTTP_X_API_KEY=$OPEN")"
expect_eq "deny /admin/**: a REQUEST_URI longer than any path examined: refused" 403 \
	"$(st "REQUEST_URI=$huge" "HTTP_X_API_KEY=$GUARDED")"

# --- rule hosts that could never match are refused when written ---
rule_refused() { # rule_refused DESC SPEC: plan set and key create refuse it, one line, exit 1
	local d=$1 spec=$2 rc
	kg plan set walled --deny "$spec" >/dev/null 2>"$T/err"; rc=$?
	if [ "$rc" = 1 ] && [ "$(wc -l < "$T/err")" = 1 ]; then ok "plan set --deny '$spec': $d (exit 1)"
	else not_ok "plan set --deny '$spec': expected exit 1 and one line, got $rc: $(cat "$T/err")"; fi
	kg key create --org o-open --allow "$spec" >"$T/out" 2>"$T/err"; rc=$?
	if [ "$rc" = 1 ] && [ ! -s "$T/out" ]; then ok "key create --allow '$spec': $d (exit 1, no key)"
	else not_ok "key create --allow '$spec': expected exit 1, got $rc"; fi
}
rule_refused "a port" '* admin.example.com:8443/**'
rule_refused "a trailing dot" 'GET admin.example.com./**'
rule_refused "a wildcard with a port" '* *.internal.example.com:443/**'
rule_refused "an underscore" 'GET a_b.example.com/x'
rule_refused "a 254-byte name" "GET $(python3 -c "print(('a' * 63 + '.') * 3 + 'b' * 62)")/x"
expect_eq "the plan kept its rule" "  deny * *.internal.example.com/**" "$(kg plan show walled | tail -n 1)"
kg plan set walled --deny '* *.Internal.EXAMPLE.com/**' 2>/dev/null
expect_eq "upper case is lower-cased" "  deny * *.internal.example.com/**" "$(kg plan show walled | tail -n 1)"

# --- no key in any log or error line ---
expect_eq "a key in the query string (no query-param), denied" 401 \
	"$(st "REQUEST_URI=/v1/x?api_key=$OTHER&page=2" QUERY_STRING="api_key=$OTHER&page=2")"
check "the denial's URI carries the parameter names only" grep -qF '"GET /v1/x?api_key=*&page=*"' "$LOG"
expect_eq "a bare key as the query" 401 "$(st "REQUEST_URI=/v1/x?$OTHER")"
expect_eq "a key in an absolute URI's userinfo" 401 "$(st "REQUEST_URI=http://$OTHER@api.example.com/v1/x")"
kg key revoke "$OTHER" >/dev/null 2>"$T/err"
check "key revoke <a pasted key>: not found, without the key" bash -c "grep -q 'not found' '$T/err' && ! grep -qF '$OTHER' '$T/err' && ! grep -qF '${OTHER:0:20}' '$T/err'"
kg key show "$OPEN_ID" "$OTHER" >/dev/null 2>"$T/err"
check "an unexpected argument that may be a key: its display prefix only" bash -c "grep -q 'unexpected argument' '$T/err' && ! grep -qF '${OTHER:0:13}' '$T/err'"
"$KEYGATE_AUTHZ" "$OTHER" 2>"$T/err" </dev/null
check "keygate-authz: the same" bash -c "grep -q 'unexpected argument' '$T/err' && ! grep -qF '${OTHER:0:13}' '$T/err'"
leaked=0
for k in "$WALLED" "$APIONLY" "$GUARDED" "$OPEN" "$OTHER" "$HOOK" "$bad"; do
	grep -qF "$k" "$LOG" && leaked=1
done
expect_eq "no full key in the authorizer's log" 0 "$leaked"
finish
