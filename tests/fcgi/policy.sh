#!/bin/bash
# policy.sh - answers and policy (keygate-authz(8), keygate(1)) through FastCGI, against 4 authorizer
# processes: exact rate limits and quotas across processes, 402/403/429
# with their headers, credits, soft overage, keys narrowing their plan,
# route rules and normalisation bypass attempts, expiry, rotation grace,
# max keys, subrequests never counted, verify consuming nothing.
. "$top_srcdir/tests/fcgi/lib.sh"

kg init 2>/dev/null || exit 99
kg plan set free 2>/dev/null
kg plan set rated --rate 100/h 2>/dev/null
kg plan set metered --quota 50/day 2>/dev/null
kg plan set prepaid --quota 0 2>/dev/null
kg plan set soft --quota 10/day --overage 20% 2>/dev/null
kg plan set tight --rate 2/h 2>/dev/null
kg plan set guarded --deny '* /admin/**' --allow '/**' 2>/dev/null
kg plan set small --max-keys 2 2>/dev/null
for o in free rated metered prepaid soft tight guarded small; do kg org create "o-$o" --plan "$o" 2>/dev/null; done
newkey --org o-rated; RATED=$NEWKEY
newkey --org o-metered; METERED=$NEWKEY
newkey --org o-metered --test; METERED_TEST=$NEWKEY
newkey --org o-prepaid; PREPAID=$NEWKEY
newkey --org o-soft; SOFT=$NEWKEY
newkey --org o-tight --rate 100/h; TIGHT_WIDE=$NEWKEY
newkey --org o-free --rate 3/h; NARROW=$NEWKEY
newkey --org o-free --allow 'POST hooks.example.com/hooks/*'; HOOK=$NEWKEY
newkey --org o-guarded; GUARDED=$NEWKEY

start_authz "unix:$T/authz.sock" --workers 4 || exit 99
A="unix:$T/authz.sock"
P=(REQUEST_METHOD=GET REQUEST_URI=/v1/x HTTP_HOST=api.example.com)

# N parallel clients x M requests each; prints "status count" lines
spread() { # spread CLIENTS REQUESTS PARAMS...
	local c=$1 n=$2 i; shift 2
	for i in $(seq 1 "$c"); do
		"$FCGI_CLIENT" --status --repeat "$n" "$A" "$@" > "$T/spread.$i" &
	done
	wait
	cat "$T"/spread.* | sort | uniq -c | awk '{print $2 " " $1}' | tr '\n' ' ' | sed 's/ $//'
	rm -f "$T"/spread.*
}

# --- rate limit: exact across 4 processes ---
expect_eq "100/h: 1000 requests over 4 processes admit exactly 100" "200 100 429 900" \
	"$(spread 4 250 "${P[@]}" "HTTP_X_API_KEY=$RATED")"
workers=$(grep 'rate limit reached' "$LOG" | sed 's/^keygate-authz\[\([0-9]*\)\].*/\1/' | sort -u | wc -l)
check "the load really was spread over several processes ($workers)" [ "$workers" -ge 2 ]
raw=$("$FCGI_CLIENT" "$A" "${P[@]}" "HTTP_X_API_KEY=$RATED")
h() { printf '%s' "$raw" | tr -d '\r' | sed -n "s/^$1: //p"; }
expect_eq "429 status line" "Status: 429 Too Many Requests" "$(printf '%s' "$raw" | head -n1 | tr -d '\r')"
ra=$(h Retry-After)
check "Retry-After is whole seconds >= 1 ($ra)" [ "${ra:-0}" -ge 1 ]
check "Retry-After within one emission interval (36 s)" [ "${ra:-99}" -le 36 ]
expect_eq "RateLimit-Limit" 100 "$(h RateLimit-Limit)"
expect_eq "RateLimit-Remaining" 0 "$(h RateLimit-Remaining)"
check "RateLimit-Reset is set" [ -n "$(h RateLimit-Reset)" ]
expect_eq "429 body" rate_limited "$(printf '%s' "$raw" | sed '1,/^\r\{0,1\}$/d' | json_code)"
newkey --org o-rated; R2=$NEWKEY
expect_eq "Variable-RateLimit-Remaining counts down" "99 98" \
	"$(for i in 1 2; do header Variable-RateLimit-Remaining "$A" "${P[@]}" "HTTP_X_API_KEY=$R2"; done | tr '\n' ' ' | sed 's/ $//')"

# --- a key's own limit narrows its plan, never widens it ---
expect_eq "key 3/h on a plan without limit" "200 3 429 7" "$(spread 2 5 "${P[@]}" "HTTP_X_API_KEY=$NARROW")"
expect_eq "key 100/h on a 2/h plan stays at 2" "200 2 429 8" "$(spread 2 5 "${P[@]}" "HTTP_X_API_KEY=$TIGHT_WIDE")"

# --- two limits: a denial by one spends nothing of the other ---
kg plan set twolimits --rate 10/min 2>/dev/null
kg org create o-twolimits --plan twolimits 2>/dev/null
newkey --org o-twolimits --rate 1/s; KEY1S=$NEWKEY
expect_eq "plan 10/min, key 1/s: a burst of 10 admits 1" "200 1 429 9" \
	"$(spread 1 10 "${P[@]}" "HTTP_X_API_KEY=$KEY1S")"
sleep 1.1
expect_eq "... and the key's 429s spent none of the plan's 10: a second later, allowed" 200 \
	"$(status "$A" "${P[@]}" "HTTP_X_API_KEY=$KEY1S")"
kg plan set twolimits --rate 3/min 2>/dev/null
newkey --org o-twolimits --rate 1/s; KEY1S=$NEWKEY
(spread 1 5 "${P[@]}" "HTTP_X_API_KEY=$KEY1S") >/dev/null; sleep 1.1
(spread 1 5 "${P[@]}" "HTTP_X_API_KEY=$KEY1S") >/dev/null; sleep 1.1
expect_eq "plan 3/min, key 1/s: the third second still has the plan's third token" 200 \
	"$(status "$A" "${P[@]}" "HTTP_X_API_KEY=$KEY1S")"
expect_eq "... and no fourth: the plan's limit holds" 429 "$(sleep 1.1; status "$A" "${P[@]}" "HTTP_X_API_KEY=$KEY1S")"
kg plan set q2rate --rate 100/h --quota 2/day 2>/dev/null
kg org create o-q2rate --plan q2rate 2>/dev/null
newkey --org o-q2rate; Q2R=$NEWKEY
expect_eq "quota 2/day with 100/h: 5 requests, 2 admitted" "200 2 402 3" \
	"$(spread 1 5 "${P[@]}" "HTTP_X_API_KEY=$Q2R")"
newkey --org o-q2rate; Q2R2=$NEWKEY
kg plan set q2rate --rate 100/h --quota 10/day 2>/dev/null
expect_eq "... the 402s spent no rate token: 97 remain after the next" 97 \
	"$(header Variable-RateLimit-Remaining "$A" "${P[@]}" "HTTP_X_API_KEY=$Q2R")"

# --- quota: exact across 4 processes; test keys never count ---
expect_eq "50/day: 200 requests over 4 processes admit exactly 50" "200 50 402 150" \
	"$(spread 4 50 "${P[@]}" "HTTP_X_API_KEY=$METERED")"
expect_eq "402 body" quota_exceeded "$(body "$A" "${P[@]}" "HTTP_X_API_KEY=$METERED" | json_code)"
expect_eq "test key: all allowed while live keys get 402" "200 100" "$(spread 4 25 "${P[@]}" "HTTP_X_API_KEY=$METERED_TEST")"
used=$(kg usage --org o-metered --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["used"])')
expect_eq "usage counts the 50 live requests, no test requests" 50 "$used"

# --- subrequests and verify consume nothing ---
newkey --org o-soft; SOFT2=$NEWKEY
expect_eq "subrequests are answered" "200 20" "$(spread 2 10 "${P[@]}" SERVER_PROTOCOL=INCLUDED "HTTP_X_API_KEY=$SOFT2")"
kg verify "$SOFT2" >/dev/null
expect_eq "... but never counted (nor is verify)" 0 \
	"$(kg usage --org o-soft --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["used"])')"
expect_eq "Variable-Quota-Remaining" 9 "$(header Variable-Quota-Remaining "$A" "${P[@]}" "HTTP_X_API_KEY=$SOFT")"

# --- soft overage: 10/day + 20% ---
out=""
for i in $(seq 2 13); do
	r=$("$FCGI_CLIENT" "$A" "${P[@]}" "HTTP_X_API_KEY=$SOFT" | tr -d '\r')
	st=$(printf '%s' "$r" | head -n1 | cut -d' ' -f2)
	ex=$(printf '%s' "$r" | sed -n 's/^Variable-Quota-Exceeded: //p')
	out="$out $st${ex:+!}"
done
expect_eq "overage: 10 plain, 2 flagged Variable-Quota-Exceeded, then 402" \
	" 200 200 200 200 200 200 200 200 200 200! 200! 402" "$out"

# --- prepaid credits ---
expect_eq "no credits: 402" 402 "$(status "$A" "${P[@]}" "HTTP_X_API_KEY=$PREPAID")"
kg org credit o-prepaid +5 2>/dev/null
expect_eq "+5 credits admit exactly 5" "200 5 402 5" "$(spread 2 5 "${P[@]}" "HTTP_X_API_KEY=$PREPAID")"
kg org credit o-prepaid +2 2>/dev/null
# (the lines that follow spend these 2)
expect_eq "a top-up applies on the next request" 200 "$(status "$A" "${P[@]}" "HTTP_X_API_KEY=$PREPAID")"

# --- a webhook-style key: one method, one host, one path ---
H=(HTTP_X_API_KEY=$HOOK HTTP_HOST=hooks.example.com:443)
expect_eq "hook key: POST /hooks/x on its host" 200 "$(status "$A" REQUEST_METHOD=POST REQUEST_URI=/hooks/x "${H[@]}")"
expect_eq "hook key: GET" 403 "$(status "$A" REQUEST_METHOD=GET REQUEST_URI=/hooks/x "${H[@]}")"
expect_eq "hook key: deeper path" 403 "$(status "$A" REQUEST_METHOD=POST REQUEST_URI=/hooks/x/y "${H[@]}")"
expect_eq "hook key: another host" 403 "$(status "$A" REQUEST_METHOD=POST REQUEST_URI=/hooks/x HTTP_HOST=api.example.com "HTTP_X_API_KEY=$HOOK")"
expect_eq "hook key: 403 body" forbidden "$(body "$A" REQUEST_METHOD=GET REQUEST_URI=/hooks/x "${H[@]}" | json_code)"

# --- a deny rule cannot be walked around ---
for path in /admin /admin/ /admin/users //admin /v1/../admin /./admin '/%61dmin/x' /v1/%2e%2e/admin \
	'/v1/%2E%2E/admin' '/admin;x=1' '/v1/..;/admin' '/admin%2Fx' '/v1%2F..%2Fadmin' '/admin%00' '/x/%zz'; do
	expect_eq "deny /admin/**: $path" 403 "$(status "$A" REQUEST_METHOD=GET "REQUEST_URI=$path" "HTTP_X_API_KEY=$GUARDED")"
done
expect_eq "an allowed path next to it" 200 "$(status "$A" REQUEST_METHOD=GET REQUEST_URI=/administrator "HTTP_X_API_KEY=$GUARDED")"

# --- a plan edit applies on the next request (workers cache plans) ---
for i in 1 2 3 4; do status "$A" REQUEST_METHOD=GET REQUEST_URI=/admin "HTTP_X_API_KEY=$GUARDED" >/dev/null; done
kg plan set guarded --clear-rules 2>/dev/null
expect_eq "rules cleared: the next request passes, whichever worker takes it" "200 200 200 200" \
	"$(for i in 1 2 3 4; do status "$A" REQUEST_METHOD=GET REQUEST_URI=/admin "HTTP_X_API_KEY=$GUARDED"; done | tr '\n' ' ' | sed 's/ $//')"
kg plan set guarded --deny '* /admin/**' --allow '/**' 2>/dev/null
expect_eq "rules back: refused again at once" 403 "$(status "$A" REQUEST_METHOD=GET REQUEST_URI=/admin "HTTP_X_API_KEY=$GUARDED")"

# --- a plan change never gives credits back nor resets a period ---
kg plan set cred5 --quota 5 2>/dev/null
kg plan set monthly --quota 1000/month 2>/dev/null
kg org create o-switch --plan cred5 2>/dev/null
newkey --org o-switch; SW=$NEWKEY
expect_eq "credits plan of 5: 7 requests, 5 admitted" "200 5 402 2" "$(spread 1 7 "${P[@]}" "HTTP_X_API_KEY=$SW")"
kg org set o-switch --plan monthly 2>/dev/null
expect_eq "on a monthly plan: allowed" 200 "$(status "$A" "${P[@]}" "HTTP_X_API_KEY=$SW")"
kg org set o-switch --plan cred5 2>/dev/null
expect_eq "back on the credits plan: still used up" "402 5" "$(spread 1 5 "${P[@]}" "HTTP_X_API_KEY=$SW")"
kg plan set day3 --quota 3/day 2>/dev/null
kg org set o-switch --plan day3 2>/dev/null
expect_eq "a daily plan counts the day's earlier requests (6 so far): 402" 402 \
	"$(status "$A" "${P[@]}" "HTTP_X_API_KEY=$SW")"
kg org set o-switch --plan monthly 2>/dev/null
status "$A" "${P[@]}" "HTTP_X_API_KEY=$SW" >/dev/null
expect_eq "the month keeps counting across the switches" 7 \
	"$(kg usage --org o-switch --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["used"])')"

# --- expiry and rotation ---
newkey --org o-free --expires 1970-01-01 --force; EPOCH=$NEWKEY
expect_eq "--expires 1970-01-01 --force: 401 expired_api_key" "401 expired_api_key" \
	"$(status "$A" "${P[@]}" "HTTP_X_API_KEY=$EPOCH") $(body "$A" "${P[@]}" "HTTP_X_API_KEY=$EPOCH" | json_code)"
newkey --org o-free --expires 2s; SHORT=$NEWKEY; SHORT_ID=$NEWID
expect_eq "before its expiry" 200 "$(status "$A" "${P[@]}" "HTTP_X_API_KEY=$SHORT")"
SHORT_NEXT=$(kg key rotate "$SHORT_ID" --grace 1h 2>/dev/null)
expect_eq "rotation of a key that expires: the successor works" 200 "$(status "$A" "${P[@]}" "HTTP_X_API_KEY=$SHORT_NEXT")"
newkey --org o-free; OLD=$NEWKEY; OLD_ID=$NEWID
NEWER=$(kg key rotate "$OLD_ID" --grace 2s 2>/dev/null)
expect_eq "rotation: the successor works" 200 "$(status "$A" "${P[@]}" "HTTP_X_API_KEY=$NEWER")"
expect_eq "rotation: the old key works during the grace" 200 "$(status "$A" "${P[@]}" "HTTP_X_API_KEY=$OLD")"
sleep 2.2
expect_eq "after its expiry: expired_api_key" expired_api_key "$(body "$A" "${P[@]}" "HTTP_X_API_KEY=$SHORT" | json_code)"
expect_eq "... and its successor's, which a rotation never extends" expired_api_key \
	"$(body "$A" "${P[@]}" "HTTP_X_API_KEY=$SHORT_NEXT" | json_code)"
expect_eq "rotation: the old key after the grace" expired_api_key "$(body "$A" "${P[@]}" "HTTP_X_API_KEY=$OLD" | json_code)"
expect_eq "rotation: the successor still works" 200 "$(status "$A" "${P[@]}" "HTTP_X_API_KEY=$NEWER")"
check "key show names the successor" bash -c "'$KEYGATE' --db '$DB' key show '$OLD_ID' | grep -q successor"

# --- max keys ---
newkey --org o-small; S1=$NEWID
newkey --org o-small
kg key create --org o-small >/dev/null 2>"$T/err"; rc=$?
expect_eq "the third key of a 2-key plan: exit 3" 3 "$rc"
check "... with a clear one-line message" bash -c "[ \$(wc -l < '$T/err') -eq 1 ] && grep -q 'allows 2' '$T/err'"
kg key revoke "$S1" 2>/dev/null
check "after a revoke there is room again" bash -c "'$KEYGATE' --db '$DB' key create --org o-small >/dev/null 2>&1"

# --- last use, within a minute, without a write per request ---
lu=$(kg key list --org o-rated --json | python3 -c 'import json,sys; print(sum(1 for k in json.load(sys.stdin) if k["last_used_at"]))')
expect_eq "last_used_at is set for both used keys" 2 "$lu"

# --- verify prints the decision ---
expect_eq "verify: route denied" 403 "$(kg verify "$GUARDED" --path /admin | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')"
expect_eq "verify: allowed" 200 "$(kg verify "$GUARDED" --path /v1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')"
finish
