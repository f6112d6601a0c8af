#!/bin/bash
# vault.sh - keys that can be read again (keygate(1), init --vault-file and
# key reveal): the file's rules, a reveal equals what create and rotate
# printed, revoked and imported keys have nothing kept, a wrong or
# unreadable vault refuses before anything is written, the store holds no
# key in clear, db check opens every sealed secret, every reveal audited.
. "$top_srcdir/tests/fcgi/lib.sh"

rc_of() { "$@" >"$T/out" 2>"$T/err"; echo $?; }
expect_rc() { # expect_rc DESC CODE COMMAND...: exit code and a one-line message
	local d=$1 want=$2; shift 2
	local got; got=$(rc_of "$@")
	if [ "$got" = "$want" ] && { [ "$want" = 0 ] || [ "$(wc -l < "$T/err")" -eq 1 ]; }; then
		ok "$d (exit $got)"
	else not_ok "$d: expected exit $want with one line, got $got: $(head -c 300 "$T/err")"; fi
}
nkeys() { kg key list --all --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

V="$T/vault"
head -c 32 /dev/urandom > "$V"; chmod 0640 "$V"

# --- the vault file's rules: 32 bytes exactly, not world-readable or group-writable ---
head -c 33 /dev/urandom > "$T/v33"; chmod 0640 "$T/v33"
expect_rc "init: a 33-byte vault file is refused" 1 kg init --vault-file "$T/v33"
head -c 31 /dev/urandom > "$T/v31"; chmod 0640 "$T/v31"
expect_rc "init: a 31-byte vault file is refused" 1 kg init --vault-file "$T/v31"
: > "$T/v0"; chmod 0640 "$T/v0"
expect_rc "init: an empty vault file is refused" 1 kg init --vault-file "$T/v0"
head -c 32 /dev/urandom > "$T/vworld"; chmod 0644 "$T/vworld"
expect_rc "init: a world-readable vault file is refused" 1 kg init --vault-file "$T/vworld"
expect_rc "init: a missing vault file is refused" 1 kg init --vault-file "$T/nothing"
check "... and none of them made a store" test ! -e "$DB/meta.db"

expect_rc "init --vault-file" 0 kg init --vault-file "$V"
kg plan set pro --max-keys 10 2>/dev/null
kg org create acme --plan pro 2>/dev/null

# --- a reveal is the very key create printed; and it verifies ---
newkey --org acme --name ci; K1=$NEWID; KEY1=$NEWKEY
expect_rc "key reveal" 0 kg key reveal "$K1"
expect_eq "the revealed key is the one create printed" "$KEY1" "$(cat "$T/out")"
expect_rc "the revealed key verifies" 0 kg verify "$(cat "$T/out")"
check "the key is nowhere in the store's files" sh -c "! grep -rqaF '$KEY1' '$DB'"
check "nor its random part" sh -c "! grep -rqaF '${KEY1: -24}' '$DB'"

# --- a rotation seals the successor; the old key's secret stays until it is revoked ---
kg key rotate "$K1" --grace 1h >"$T/rot.out" 2>"$T/rot.err"
KEY2=$(cat "$T/rot.out"); K2=$(cut -d' ' -f1 "$T/rot.err")
expect_rc "reveal the successor" 0 kg key reveal "$K2"
expect_eq "... it is the key rotate printed" "$KEY2" "$(cat "$T/out")"
expect_rc "the replaced key, in its grace period, still reveals" 0 kg key reveal "$K1"
kg key revoke "$K1" 2>/dev/null
expect_rc "a revoked key: nothing kept (exit 2)" 2 kg key reveal "$K1"
check "... its sealed secret is gone" sh -c "kg_count=\$('$KEYGATE' --db '$DB' db check | sed -n 's/^vault: *\([0-9]*\) sealed.*/\1/p'); [ \"\$kg_count\" = 1 ]"

# --- imported keys were never seen whole by a vault ---
echo legacy-key-for-vault | kg key import --org acme >/dev/null 2>"$T/imp"
KI=$(kg key list --org acme --json | python3 -c 'import json,sys; print([k["id"] for k in json.load(sys.stdin) if k["imported"]][0])')
expect_rc "an imported key: not kept (exit 2)" 2 kg key reveal "$KI"
expect_rc "a missing key (exit 2)" 2 kg key reveal key_0000000000000000
expect_rc "a malformed id (exit 2)" 2 kg key reveal 'not a key id'
expect_rc "no id (exit 1)" 1 kg key reveal

# --- every reveal is audited; the audit never holds the secret ---
nrev=$(kg audit --json | python3 -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if r["action"]=="key.reveal"))')
expect_eq "three reveals, three key.reveal records" 3 "$nrev"
check "the audit holds no secret" sh -c "! '$KEYGATE' --db '$DB' audit --json | grep -qF '${KEY2: -24}'"

# --- db check opens every sealed secret ---
expect_rc "db check with a vault" 0 kg db check
check "... and counts the sealed secrets" grep -q '^vault: *1 sealed secrets' "$T/out"

# --- a vault file that is no longer the store's refuses; nothing is written ---
before=$(nkeys)
cp "$V" "$T/vault.good"
head -c 32 /dev/urandom > "$V"
expect_rc "another vault file: key create refused (exit 4)" 4 kg key create --org acme
check "... the message says which" grep -q "not the one this store was made with" "$T/err"
expect_eq "... and no key was made" "$before" "$(nkeys)"
expect_rc "another vault file: reveal refused (exit 4)" 4 kg key reveal "$K2"
expect_eq "another vault file: db check finds the problem" 4 "$(rc_of kg db check)"
check "... and names it" grep -q "^problem: vault: the vault file .* is not the one" "$T/out"
cp "$T/vault.good" "$V"; chmod 0666 "$V"
expect_rc "a world-writable vault file: key create refused" 4 kg key create --org acme
expect_eq "... and no key was made" "$before" "$(nkeys)"
chmod 0640 "$V"
rm -f "$V"
expect_rc "a vanished vault file: key create refused" 4 kg key create --org acme
expect_eq "... and no key was made" "$before" "$(nkeys)"
cp "$T/vault.good" "$V"; chmod 0640 "$V"
expect_rc "the right file back: reveal works again" 0 kg key reveal "$K2"
expect_eq "... the same key" "$KEY2" "$(cat "$T/out")"

# the authorizer never needs the vault: it serves with the file unreadable
chmod 0000 "$V"
start_authz "127.0.0.1:$(free_port)"
expect_eq "the authorizer serves without reading the vault" 200 \
	"$(status "$ADDR" HTTP_AUTHORIZATION="Bearer $KEY2" REQUEST_URI=/v1/x)"
kill "$AUTHZ_PID"; wait "$AUTHZ_PID" 2>/dev/null
chmod 0640 "$V"

# --- a store without a vault: nothing to reveal, said in one line ---
P="$T/plain"
"$KEYGATE" --db "$P" init 2>/dev/null
"$KEYGATE" --db "$P" plan set p 2>/dev/null; "$KEYGATE" --db "$P" org create o --plan p 2>/dev/null
PK=$("$KEYGATE" --db "$P" key create --org o 2>"$T/pid")
expect_rc "reveal on a store without a vault (exit 2)" 2 "$KEYGATE" --db "$P" key reveal "$(cat "$T/pid")"
check "... says the store keeps no copy" grep -q "keeps no copy" "$T/err"
PR=$("$KEYGATE" --db "$P" key create --org o --scope keys:reveal 2>/dev/null)
"$KEYGATE_API" --db "$P" --listen "unix:$T/plain.sock" 2>>"$LOG" &
PIDS+=("$!"); wait_ready "unix:$T/plain.sock"
expect_eq "GET /v1/keys/{id}/secret on a store without a vault: 404" 404 \
	"$(status --role responder "unix:$T/plain.sock" REQUEST_METHOD=GET REQUEST_URI="/keygate/v1/keys/$(cat "$T/pid")/secret" \
	HTTP_AUTHORIZATION="Bearer $PR")"

# --- keygate-api loads the vault when it starts: a wrong one stops it there ---
head -c 32 /dev/urandom > "$T/wrong"; chmod 0640 "$T/wrong"
cp "$T/wrong" "$V"
"$KEYGATE_API" --db "$DB" --listen "unix:$T/api.sock" --workers 1 2>"$T/api.err" &
api=$!; PIDS+=("$api")
for i in $(seq 1 50); do kill -0 "$api" 2>/dev/null || break; sleep 0.1; done
check "keygate-api with another vault file does not serve" sh -c "! kill -0 $api 2>/dev/null"
check "... and says why" grep -q "not the one this store was made with" "$T/api.err"
cp "$T/vault.good" "$V"
finish
