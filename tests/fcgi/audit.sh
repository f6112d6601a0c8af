#!/bin/bash
# audit.sh - keygate audit and key scopes through the CLI (keygate(1), Audit): every
# change writes one audit record (who, what, which fields), a failed one
# none; keygate audit lists them newest first, by org, since a date, a
# number of them, as JSON; audit prune and usage prune are audited too;
# db check reads every record.  Scopes: --scope, repeatable, shown,
# inherited by a rotation, an unknown one refused.
. "$top_srcdir/tests/fcgi/lib.sh"

rc_of() { "$@" >"$T/out" 2>"$T/err"; echo $?; }
expect_rc() { # expect_rc DESC CODE COMMAND...
	local d=$1 want=$2; shift 2
	local got; got=$(rc_of "$@")
	if [ "$got" = "$want" ]; then ok "$d (exit $got)"
	else not_ok "$d: expected exit $want, got $got: $(head -c 300 "$T/err")"; fi
}
# the audit as JSON, through a JSON parser: "action org target" per line, newest first
actions() { kg audit --json "$@" | python3 -c 'import json,sys
for r in json.load(sys.stdin): print(r["action"], r["org"], r["target"])'; }
naudit() { kg audit --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
field() { # field N NAME: a changed field of the Nth newest record
	kg audit --json | python3 -c "import json,sys; print(json.dumps(json.load(sys.stdin)[$1]['changes']['$2']))"
}

kg init >/dev/null 2>&1
me="cli:$(id -un)"
expect_eq "init is the first record" "store.init None None" "$(actions)"
kg plan set pro --max-keys 3 --allow 'GET /v1/**' 2>/dev/null
kg plan set prepaid --quota 100 2>/dev/null
kg org create acme --plan pro --name "Acme Inc" 2>/dev/null
kg org set acme --suspend 2>/dev/null
kg org set acme --resume --plan prepaid 2>/dev/null
kg org credit acme +50 2>/dev/null
newkey --org acme --name ci --scope keys:read --scope keys:write; K1=$NEWID; KEY1=$NEWKEY
kg key revoke "$K1" 2>/dev/null
newkey --org acme --scope verify; K2=$NEWID
kg key rotate "$K2" --grace 1h >/dev/null 2>"$T/rot"; K3=$(cut -d' ' -f1 "$T/rot")
printf 'legacy-key-0001\nlegacy-key-0002\n' | kg key import --org acme 2>/dev/null
kg plan set gone 2>/dev/null
kg plan delete gone 2>/dev/null
kg usage prune --before 2000-01-01 2>/dev/null
actions > "$T/actions"
# the order above is the order of the commands; check it as such
want="plan.delete plan.set key.import key.rotate key.create key.revoke key.create org.credit org.set org.set org.create plan.set plan.set store.init"
expect_eq "every action, newest first" "$want" "$(cut -d' ' -f1 "$T/actions" | tr '\n' ' ' | sed 's/ $//')"
expect_eq "... the rotation names the rotated key" "key.rotate acme $K2" "$(sed -n 4p "$T/actions")"
expect_eq "... the revocation its key" "key.revoke acme $K1" "$(sed -n 6p "$T/actions")"
check "... every record names its actor" bash -c "'$KEYGATE' --db '$DB' audit --json | python3 -c 'import json,sys; sys.exit(0 if all(r[\"actor\"] == \"$me\" and r[\"remote\"] is None for r in json.load(sys.stdin)) else 1)'"
expect_eq "key.create records the scopes granted" '["keys:read", "keys:write"]' "$(field 6 scopes)"
expect_eq "key.rotate records the successor" "\"$K3\"" "$(field 3 successor)"
expect_eq "org.credit records the amount" 50 "$(field 7 amount)"
expect_eq "... and the balance (100 prepaid + 50)" 150 "$(field 7 balance)"
expect_eq "org.set records what changed" true "$(field 9 suspended)"
expect_eq "plan.set records the rules" '["allow GET /v1/**"]' "$(field 12 rules)"
expect_eq "key.import records how many" 2 "$(field 2 added)"
check "no record holds a key or a digest" bash -c "! '$KEYGATE' --db '$DB' audit --json | grep -qF '${KEY1#kg_live_}'"
expect_eq "a usage prune that deletes nothing is no change" 0 "$(kg audit --json | grep -c usage.prune)"

# --- a failed operation writes no audit record ---
n=$(naudit)
kg key create --org nobody >/dev/null 2>&1
kg key create --org acme --expires 2001-01-01 >/dev/null 2>&1
kg org create acme --plan pro >/dev/null 2>&1
kg plan delete prepaid >/dev/null 2>&1
kg key rotate "$K1" >/dev/null 2>&1
kg org credit acme -51 >/dev/null 2>&1
kg org credit acme -5000 >/dev/null 2>&1
kg plan set "$KEY1" >/dev/null 2>&1
for i in 1 2 3; do kg key create --org acme >/dev/null 2>&1; done
kg plan set pro --max-keys 1 2>/dev/null; kg org set acme --plan pro 2>/dev/null
n=$((n + 2 + 3))
kg key create --org acme >/dev/null 2>&1
kg key revoke "$K1" >/dev/null 2>&1   # already revoked: nothing changes
expect_eq "failed commands (and a revocation that changes nothing) wrote no record" "$n" "$(naudit)"

# --- listing: --org, --since, --limit, text ---
kg org create beta --plan prepaid 2>/dev/null
expect_eq "--org: only that org's records" 0 "$(actions --org beta | grep -vc ' beta ')"
expect_eq "--org beta: its creation" "org.create beta beta" "$(actions --org beta)"
expect_eq "--limit 2: the two newest" "org.create org.set" "$(actions --limit 2 | cut -d' ' -f1 | tr '\n' ' ' | sed 's/ $//')"
expect_eq "--since tomorrow: nothing" "" "$(actions --since "$(date -u -d tomorrow +%F)")"
expect_eq "--since today: everything" "$(naudit)" "$(actions --since "$(date -u +%F)" | wc -l)"
kg audit --limit 3 > "$T/text" 2>/dev/null
check "text: a header and three lines" bash -c "[ \$(wc -l < '$T/text') -eq 4 ] && head -1 '$T/text' | grep -q '^AT .*ACTOR.*ACTION.*CHANGES'"
check "text: microseconds, the actor, key=value changes" grep -Eq "^[0-9-]{10}T[0-9:]{8}\.[0-9]{6}Z +$me +org.create +beta +beta +plan=prepaid name=\"\"" "$T/text"
expect_rc "an unknown option" 1 kg audit --colour
expect_rc "a bad --since" 1 kg audit --since yesterday
expect_rc "--limit 0" 1 kg audit --limit 0
expect_rc "a bad --org" 1 kg audit --org 'a b'

# --- scopes ---
expect_rc "an unknown scope is refused" 1 kg key create --org beta --scope keys:everything
check "... naming the scopes there are" grep -q "keys:read, keys:write, keys:reveal, verify, admin" "$T/err"
newkey --org beta --scope admin --scope verify --scope admin; S=$NEWID
expect_eq "key show lists the scopes" "scopes:     verify, admin" "$(kg key show "$S" | grep '^scopes:')"
expect_eq "key list --json has them" '["verify", "admin"]' "$(kg key list --org beta --json | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)[0]["scopes"]))')"
kg key rotate "$S" --grace 0 >/dev/null 2>"$T/rot"; S2=$(cut -d' ' -f1 "$T/rot")
expect_eq "a rotation inherits them" "scopes:     verify, admin" "$(kg key show "$S2" | grep '^scopes:')"
newkey --org beta; N=$NEWID
expect_eq "a key without scopes shows none" "[]" "$(kg key show "$N" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["scopes"])')"

# --- prunes, audited ---
n=$(naudit)
expect_rc "audit prune in the future is refused" 1 kg audit prune --before "$(date -u -d '+2 days' +%F)"
expect_rc "audit prune before 2000: nothing to prune" 0 kg audit prune --before 2000-01-01
expect_eq "... and nothing audited" "$n" "$(naudit)"
sleep 1
expect_rc "audit prune up to now" 0 kg audit prune --before "$(date -u +%FT%T)Z"
check "... says how many" grep -q "^keygate: $n audit records before" "$T/err"
expect_eq "... leaving its own record" "audit.prune None None" "$(actions)"

# --- db check reads every record ---
expect_rc "db check" 0 kg db check
check "... counts the audit and the keys by organization" bash -c "grep -q '^audit: *1 records' '$T/out' && grep -q '^keys by organization: [0-9]*, ok' '$T/out'"
db5.3_dump -p -h "$DB" audit.db > "$T/audit.txt"
sed -i '0,/^ \\02A/s//\ \\02X/' "$T/audit.txt"
db5.3_load -h "$DB" audit.db < "$T/audit.txt"
expect_rc "a damaged audit record: db check says so" 4 kg db check
check "... naming it" grep -q "audit: the record of .* is damaged" "$T/out"
expect_rc "keygate audit skips it, and says so" 0 kg audit
check "... in one line" grep -q "skipped 1 damaged audit record" "$T/err"
finish
