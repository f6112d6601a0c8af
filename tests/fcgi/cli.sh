#!/bin/bash
# cli.sh - the admin CLI's contract (keygate(1)): exit codes,
# one-line errors, a failed command changes nothing, --json listings,
# key create's output, imports (raw, --sha256, peppered), backup, recover.
. "$top_srcdir/tests/fcgi/lib.sh"

rc_of() { "$@" >"$T/out" 2>"$T/err"; echo $?; }
one_line() { [ "$(wc -l < "$T/err")" -eq 1 ]; }
expect_rc() { # expect_rc DESC CODE COMMAND...: exit code and a one-line message
	local d=$1 want=$2; shift 2
	local got; got=$(rc_of "$@")
	if [ "$got" = "$want" ] && { [ "$want" = 0 ] || one_line; }; then ok "$d (exit $got)"
	else not_ok "$d: expected exit $want with one line, got $got: $(head -c 300 "$T/err")"; fi
}
json_ok() { python3 -c 'import json,sys; json.load(sys.stdin)' < "$T/out"; }
snapshot() { kg plan list --json > "$T/s1"; kg org list --json >> "$T/s1"; kg key list --all --json | python3 -c 'import json,sys; print(sorted((k["id"],k["state"]) for k in json.load(sys.stdin)))' >> "$T/s1"; }
unchanged() { kg plan list --json > "$T/s2"; kg org list --json >> "$T/s2"; kg key list --all --json | python3 -c 'import json,sys; print(sorted((k["id"],k["state"]) for k in json.load(sys.stdin)))' >> "$T/s2"; cmp -s "$T/s1" "$T/s2"; }

expect_rc "--help" 0 "$KEYGATE" --help
expect_rc "--version" 0 "$KEYGATE" --version
expect_rc "init with a bad prefix" 1 kg init --prefix K_G
expect_rc "init" 0 kg init --prefix acme1
expect_rc "init again" 3 kg init
expect_rc "plan set" 0 kg plan set pro --rate 100/s --quota 1000/month --max-keys 3 --allow 'GET /v1/**'
expect_rc "org create" 0 kg org create acme --plan pro --name "Acme Inc"
snapshot

# --- usage errors: exit 1, one line, nothing changed ---
expect_rc "unknown command" 1 kg frobnicate
expect_rc "unknown option" 1 kg key create --org acme --colour red
expect_rc "missing --org" 1 kg key create
expect_rc "bad rate" 1 kg plan set pro --rate 100/fortnight
expect_rc "bad quota" 1 kg plan set pro --quota lots
expect_rc "bad rule" 1 kg plan set pro --allow 'GET v1/*'
expect_rc "bad duration" 1 kg key create --org acme --expires 3x
expect_rc "past expiry without --force" 1 kg key create --org acme --expires 2020-01-01
expect_rc "header-unsafe user id" 1 kg key create --org acme --user "$(printf 'a\tb')"
expect_rc "bad org id" 1 kg org create 'a b' --plan pro
expect_rc "option given twice" 1 kg org create x --plan pro --plan pro
expect_rc "--suspend with --resume" 1 kg org set acme --suspend --resume
expect_rc "credit not a number" 1 kg org credit acme +lots
check "usage errors changed nothing" unchanged

# --- not found: exit 2 ---
expect_rc "key create for a missing org" 2 kg key create --org nobody
expect_rc "org create on a missing plan" 2 kg org create beta --plan nothing
expect_rc "revoke a missing key" 2 kg key revoke key_0000000000000000
expect_rc "show a missing plan" 2 kg plan show nothing
check "not-found errors changed nothing" unchanged

# --- conflicts: exit 3 ---
expect_rc "org create twice" 3 kg org create acme --plan pro
for i in 1 2 3; do kg key create --org acme >/dev/null 2>&1; done
snapshot
expect_rc "max keys reached" 3 kg key create --org acme
expect_rc "delete a plan in use" 3 kg plan delete pro
check "conflicts changed nothing" unchanged

# --- key create's output: the key alone on stdout, its id on stderr ---
kg plan set big 2>/dev/null; kg org create big --plan big 2>/dev/null
KEY=$(kg key create --org big --name ci 2>"$T/id")
check "stdout is one key in the store's format" bash -c "[[ '$KEY' =~ ^acme1_live_[0-9A-Za-z]{38}\$ ]]"
check "stderr is its id" bash -c "[[ \$(cat '$T/id') =~ ^key_[0-9A-Za-z]{16}\$ ]]"
ID=$(cat "$T/id")
check "the key is never shown again" bash -c "! '$KEYGATE' --db '$DB' key show '$ID' | grep -qF '$KEY' && ! '$KEYGATE' --db '$DB' key list --json | grep -qF '$KEY'"
expect_rc "verify: allowed" 0 kg verify "$KEY"
check "verify reads the key from stdin with -" bash -c "echo '$KEY' | '$KEYGATE' --db '$DB' verify - | grep -q '\"status\":200'"

# --- an explicit expiry is honoured, even at the epoch (0 is "never") ---
kshow() { kg key show "$1" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"; }
newkey --org big --expires 1970-01-01 --force; EPOCH_ID=$NEWID
expect_eq "--expires 1970-01-01 --force: an expired key" expired "$(kshow "$EPOCH_ID" state)"
expect_eq "... whose expiry is kept, not dropped" 1970-01-01T00:00:01Z "$(kshow "$EPOCH_ID" expires_at)"
expect_rc "a date-time before the epoch is refused" 1 kg key create --org big --expires 1970-01-01T00:30+01:00 --force
expect_rc "a date before the epoch is refused" 1 kg key create --org big --expires 1969-12-31 --force

# --- rotation: the successor inherits the expiry; never from a dead key ---
newkey --org big --expires 2030-01-01; R_OLD=$NEWID
R_NEW=$(kg key rotate "$R_OLD" --grace 1h 2>&1 >/dev/null | cut -d' ' -f1)
expect_eq "the successor keeps the old key's expiry" 2030-01-01T00:00:00Z "$(kshow "$R_NEW" expires_at)"
expect_eq "the old key expires when the grace ends" active "$(kshow "$R_OLD" state)"
expect_rc "a key rotates once (its successor is in grace)" 3 kg key rotate "$R_OLD"
R_NEWER=$(kg key rotate "$R_NEW" --grace 0 --expires 2031-06-01 2>&1 >/dev/null | cut -d' ' -f1)
expect_eq "--expires sets the successor's expiry explicitly" 2031-06-01T00:00:00Z "$(kshow "$R_NEWER" expires_at)"
expect_eq "--grace 0 revokes the old key at once" revoked "$(kshow "$R_NEW" state)"
expect_rc "a revoked key cannot be rotated" 3 kg key rotate "$R_NEW" --grace 0
expect_rc "an expired key cannot be rotated" 3 kg key rotate "$EPOCH_ID" --grace 0
newkey --org big; R_G=$NEWID
expect_rc "--grace 36500d is refused" 1 kg key rotate "$R_G" --grace 36500d
expect_rc "--grace 31d is refused" 1 kg key rotate "$R_G" --grace 31d
expect_rc "--grace 30d is accepted" 0 kg key rotate "$R_G" --grace 30d
expect_rc "a rotation's --expires in the past needs --force" 1 kg key rotate "$R_NEWER" --expires 2020-01-01
# max-keys: a grace period needs room for the successor, no grace does not
kg plan set two --max-keys 2 2>/dev/null; kg org create duo --plan two 2>/dev/null
newkey --org duo; D1=$NEWID; newkey --org duo
snapshot
expect_rc "rotation with a grace at max-keys: refused" 3 kg key rotate "$D1" --grace 1h
check "... naming the limit and the way out" grep -q "allows 2.*--grace 0" "$T/err"
check "... and changing nothing" unchanged
expect_rc "rotation without a grace at max-keys: the old key is revoked" 0 kg key rotate "$D1" --grace 0
expect_eq "... and the org still has 2 active keys" 2 "$(kg key list --org duo --json | python3 -c 'import json,sys; print(sum(k["state"] == "active" for k in json.load(sys.stdin)))')"

# --- no message shows more of a key than its display prefix ---
RANDOM_PART=${KEY#acme1_live_}
leak_free() { ! grep -qF "${RANDOM_PART:0:5}" "$T/err" && ! grep -qF "${RANDOM_PART:0:5}" "$T/out"; }
for cmd in "key revoke" "key show" "key rotate" "org show" "org set --name x" "org credit" \
	"plan show" "plan delete" "plan set" "key list --org" "key create --org" "usage --org" \
	"key import --org" "verify -- $KEY" "frobnicate" "key frobnicate" "org create x --plan" \
	"key create --org acme --allow" "key create --org acme --expires" "db backup $T/nope"; do
	rc_of kg $cmd "$KEY" </dev/null >/dev/null
	label=${cmd//$KEY/KEY}
	check "'keygate ${label%% $T*} KEY' does not echo the key" leak_free
done
snapshot
expect_rc "a key as a new plan's name: refused" 1 kg plan set "$KEY"
expect_rc "a key as a new org's id: refused" 1 kg org create "$KEY" --plan big
expect_rc "a key as a user id: refused" 1 kg key create --org big --user "$KEY"
check "... nothing made" unchanged
check "... nor echoed" leak_free
rc_of kg "--$KEY" key list >/dev/null
check "an option that is a key is not echoed" leak_free
rc_of kg org credit acme "$KEY" >/dev/null
check "a credit amount that is a key is not echoed" leak_free
# an imported key of another format, pasted as an org or plan: only a prefix
printf 'Zq8-imported-secret-Xr5\n' | kg key import --org big >/dev/null 2>&1
for cmd in "org show" "plan show" "key list --org" "key show"; do
	rc_of kg $cmd Zq8-imported-secret-Xr5 >/dev/null
	check "'keygate $cmd <imported key>' does not echo it" bash -c "! grep -q 'imported-secret' '$T/err'"
done
rc_of kg key revoke "$KEY" >/dev/null
check "the message says what a key id is" grep -q "key id is key_" "$T/err"

# --- key list: columns aligned by characters (a display prefix ends in a 3-byte ellipsis) ---
kg key list > "$T/list" 2>/dev/null
check "key list: every row's LAST USED column starts where its header does" python3 - "$T/list" <<'PY'
import sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
col = lines[0].index("LAST USED")
sys.exit(0 if len(lines) > 2 and all(l[col - 1] == " " and l[col] != " " for l in lines[1:]) else 1)
PY

# --- one limit on the store path (1024 bytes), refused when it arrives ---
exact_dir() { # a directory path of exactly $1 bytes under $T
	local d="$T/L" seg; seg=$(printf 'p%.0s' $(seq 200))
	while [ $(( $1 - ${#d} )) -gt 201 ]; do d="$d/$seg"; done
	echo "$d/$(printf 'q%.0s' $(seq $(( $1 - ${#d} - 1 ))))"
}
AT=$(exact_dir 1024) OVER=$(exact_dir 1025) FAR=$(exact_dir 1500)
mkdir -p "$(dirname "$AT")" "$(dirname "$OVER")" "$(dirname "$FAR")"
expect_rc "a store at 1024 bytes: init" 0 "$KEYGATE" --db "$AT" init
expect_rc "... and a write" 0 "$KEYGATE" --db "$AT" plan set p
expect_rc "... and a key" 0 "$KEYGATE" --db "$AT" org create o --plan p
expect_rc "init at 1025 bytes: refused" 1 "$KEYGATE" --db "$OVER" init
check "... with the limit in its message" grep -q "at most 1024" "$T/err"
check "... before anything is made" [ ! -e "$OVER" ]
expect_rc "init at 1500 bytes: refused" 1 "$KEYGATE" --db "$FAR" init
mv "$AT" "$FAR" # a working store, moved where its path is too long
expect_rc "a read of a store at 1500 bytes: refused at open" 1 "$KEYGATE" --db "$FAR" plan list
expect_rc "a write: refused at open, not half done" 1 "$KEYGATE" --db "$FAR" plan set q
expect_rc "a backup into a 1500-byte path: refused" 1 kg db backup "$FAR/b"
timeout 20 "$KEYGATE_AUTHZ" --db "$FAR" --listen "unix:$T/far.sock" >/dev/null 2>"$T/err"
expect_eq "keygate-authz on it: fatal at start-up" 1 "$?"
check "... in one line naming the limit" bash -c "[ \$(wc -l < '$T/err') -eq 1 ] && grep -q 'at most 1024' '$T/err'"
printf 'db = %s\n' "$FAR" > "$T/long.conf"
expect_rc "db = a 1500-byte path in the config: refused" 1 "$KEYGATE" --config "$T/long.conf" plan list
check "... naming its line" grep -q "line 1" "$T/err"
rm -rf "$T/L"

# --- every listing has valid --json ---
for cmd in "plan list" "plan show pro" "org list" "org show acme" "key list" "key show $ID" "usage"; do
	kg $cmd --json > "$T/out" 2>/dev/null
	check "$cmd --json is valid JSON" json_ok
done

# --- import: raw keys, SHA-256 digests, duplicates, garbage ---
printf 'legacy-key-0001\nlegacy-key-0002\nlegacy-key-0001\n\n' > "$T/raw"
expect_rc "import raw keys" 0 kg key import --org big < "$T/raw"
check "imported: 2 new, 1 duplicate line" grep -q 'imported 2 keys into big (0 already present, 1 duplicate' "$T/err"
expect_rc "import again: skipped, not doubled" 0 kg key import --org big < "$T/raw"
expect_rc "an imported key verifies" 0 kg verify legacy-key-0002
sha=$(printf 'legacy-key-0003' | sha256sum | cut -d' ' -f1)
echo "$sha" | kg key import --org big --sha256 >/dev/null 2>&1
expect_rc "a key imported by its SHA-256 verifies" 0 kg verify legacy-key-0003
snapshot
printf 'good-key-00001\nbad key with spaces\n' > "$T/bad"
expect_rc "import with a bad line" 1 kg key import --org big < "$T/bad"
check "... names the line" grep -q 'line 2' "$T/err"
check "... and imported nothing" unchanged
printf 'acme1_live_0123456789012345678901234567890123456X\n' > "$T/fake"
expect_rc "import of a bad-checksum key in our format" 1 kg key import --org big < "$T/fake"
printf 'legacy-key-0001\n' > "$T/other"
kg org create other --plan big 2>/dev/null
expect_rc "import of a key another org holds" 3 kg key import --org other < "$T/other"

# --- a peppered store: HMAC digests, and --sha256 imports still work ---
head -c 32 /dev/urandom > "$T/pepper"; chmod 0640 "$T/pepper"
P="$T/peppered"
"$KEYGATE" --db "$P" init --pepper-file "$T/pepper" 2>/dev/null
"$KEYGATE" --db "$P" plan set p 2>/dev/null; "$KEYGATE" --db "$P" org create o --plan p 2>/dev/null
PK=$("$KEYGATE" --db "$P" key create --org o 2>/dev/null)
expect_rc "peppered: a new key verifies" 0 "$KEYGATE" --db "$P" verify "$PK"
sha=$(printf 'old-system-key-42' | sha256sum | cut -d' ' -f1)
echo "$sha" | "$KEYGATE" --db "$P" key import --org o --sha256 >/dev/null 2>&1
expect_rc "peppered: a --sha256 import verifies (plain digest)" 0 "$KEYGATE" --db "$P" verify old-system-key-42
expect_eq "peppered: the plain digest is not a key" 2 "$(rc_of "$KEYGATE" --db "$P" verify "$sha")"

# --- backup, check, recover ---
expect_rc "db check" 0 kg db check
expect_rc "db backup" 0 kg db backup "$T/backup"
expect_rc "the backup opens as a store and knows the key" 0 "$KEYGATE" --db "$T/backup" verify "$KEY"
expect_rc "the backup passes db check" 0 "$KEYGATE" --db "$T/backup" db check
expect_rc "backup into an existing store: refused, nothing touched" 3 kg db backup "$T/backup"
expect_rc "... the backup is intact" 0 "$KEYGATE" --db "$T/backup" verify "$KEY"
expect_rc "db recover" 0 kg db recover
expect_rc "after recover, the key still verifies" 0 kg verify "$KEY"
finish
