#!/bin/bash
# tests/repl/group.sh - a group of three sites made with keygate init and
# keygate repl join: every site decides, writes from any site reach the
# master and come back, keygate repl status tells the roles, and every
# misconfiguration is one line that changes nothing.
. "$top_srcdir/tests/repl/lib.sh"

check "a group of three sites forms (init, two joins)" make_group

# --- reads and writes from every site ---
expect_eq "site a is the master" master "$(status_field a role)"
expect_eq "site b is a replica" replica "$(status_field b role)"
expect_eq "site c is a replica" replica "$(status_field c role)"
for s in a b c; do
	expect_eq "site $s's authorizer allows the key" 200 "$(status "$s" "$KEY1")"
done
KEY2=$(kgs b key create --org acme --name from-b 2>"$T/id2") && ID2=$(cat "$T/id2")
check "key create on a replica runs on the master" [ -n "$KEY2" ]
expect_eq "  the replica that asked allows it at once" 200 "$(status b "$KEY2")"
check "  and so does every other site" wait_status c "$KEY2" 200
check "  the master's audit names it" sh -c "'$KEYGATE' --config '$T/a/keygate.conf' audit --limit 1 | grep -q '$ID2'"
kgs c key revoke "$ID2" >/dev/null 2>&1
expect_eq "key revoke on the other replica: it denies at once" 401 "$(status c "$KEY2")"
check "  every site denies it" wait_status a "$KEY2" 401
check "  the third site too" wait_status b "$KEY2" 401
kgs c org create beta --plan open >/dev/null 2>&1
check "org create on a replica" sh -c "'$KEYGATE' --config '$T/a/keygate.conf' org show beta >/dev/null"
out=$(kgs b org create beta --plan open 2>&1); rc=$?
expect_eq "the catalog's refusals come back as they are (exit 3)" 3 "$rc"
check "  with the master's message" has "$out" 'already exists'
out=$(kgs b plan set bad --quota nonsense 2>&1); rc=$?
expect_eq "  a refused input exits 1" 1 "$rc"

# --- status ---
json=$(kgs b --json repl status)
check "repl status --json is JSON with the group" python3 -c '
import json,sys
d=json.loads(sys.argv[1])
assert d["role"]=="replica" and d["group_size"]==3 and len(d["sites"])==2
assert any(s["role"]=="master" for s in d["sites"]) and d["master"]' "$json"
check "repl status (text) names the master" sh -c "'$KEYGATE' --config '$T/c/keygate.conf' repl status | grep -q \"master:   127.0.0.1:${PORT[a]}\""

# --- the replication lag in keygate metrics (the authorizers publish what keygate-repd measures) ---
lag_metric() { kgs "$1" metrics 2>/dev/null | grep -q '^keygate_replication_lag_seconds [0-9][0-9.]*$'; }
check "keygate metrics on a replica reports keygate_replication_lag_seconds" wait_for 5 lag_metric b
if command -v promtool >/dev/null 2>&1; then
	check "  which promtool accepts" sh -c "'$KEYGATE' --config '$T/b/keygate.conf' metrics | promtool check metrics"
fi

# --- the settings each pitfall of repmgr needs, in force on every site ---
settings_ok() {
	kgs "$1" --json repl status 2>/dev/null | python3 -c '
import json,sys
s=json.load(sys.stdin)["settings"]
sys.exit(0 if s["acks"]=="quorum" and s["bulk"] and s["nowait"] and s["elections"] and
    s["heartbeat_send_ms"]==500 and s["heartbeat_monitor_ms"]==3000 else 1)'
}
for s in a b c; do
	check "site $s: quorum acks, bulk, nowait, elections, heartbeats 500/3000 ms" settings_ok "$s"
done
# a keygate-repd restarted while its authorizers keep the regions alive
# finds the settings of the old regions: it makes them again after the open
signal_repd TERM b; wait "${REPD[b]}" 2>/dev/null
start_repd b
check "  and again after keygate-repd restarts under live authorizers" wait_for 10 settings_ok b
# bulk transfer: without it each commit waits for Nagle and a delayed ACK
# (40 ms or more, 150 ms a CLI write measured); with it 6-35 ms here
for i in $(seq 1 11); do
	t0=$(date +%s%N); kgs a plan set "bulk$i" >/dev/null 2>&1; t1=$(date +%s%N)
	echo $(( (t1 - t0) / 1000 ))
done > "$T/writes.us"
p50=$(pct 50 <"$T/writes.us")
echo "# a write on the master, CLI included: p50 $p50 us"
check "  a write on the master takes less than 80 ms (p50)" \
	python3 -c "import sys; sys.exit(0 if float('$p50') < 80000 else 1)"
# A replica flushes its log once per commit it applies, not once per
# record: a synchronous commit on the master marks its whole bulk buffer
# "flush", and a replica then applies every record of it with an
# fdatasync (thousands a second under usage flushes: doc/DESIGN.md 15).
log_flushes() { db5.3_stat -l -h "$T/$1/db" 2>/dev/null | awk '/Total log file flushes/ { print $1 }'; }
python3 -c 'import secrets
for i in range(3000): print("legacy_" + secrets.token_hex(16))' > "$T/bulk.keys"
acme_keys() { [ "$(kgs "$1" --json key list --org acme 2>/dev/null | grep -o '"id"' | wc -l)" -gt "$2" ]; }
f0=$(log_flushes c)
out=$(kgs a key import --org acme < "$T/bulk.keys" 2>&1 | tail -n 1)
check "an import of 3000 keys on the master reaches every replica" wait_for 10 acme_keys c 3000
f1=$(log_flushes c)
echo "# log flushes on a replica for a 3000-key import: $(( ${f1:-0} - ${f0:-0} )) ($out)"
few_flushes() { [ -n "$f0" ] && [ -n "$f1" ] && [ $(( f1 - f0 )) -lt 100 ]; }
check "  a replica flushed its log a few times for it, not once a record" few_flushes

# --- the API's health says the role ---
health() {
	"$FCGI_CLIENT" --role responder --body "unix:$T/$1/api.sock" REQUEST_METHOD=GET \
		REQUEST_URI=/keygate/v1/health
}
for s in a b; do
	"$KEYGATE_API" --config "$T/$s/keygate.conf" --listen "unix:$T/$s/api.sock" 2>>"$T/$s/api.log" &
	AUTHZ[$s]="${AUTHZ[$s]} $!"
done
wait_for 5 test -S "$T/a/api.sock" && wait_for 5 test -S "$T/b/api.sock"
sleep 0.3
check "GET /v1/health on the master says master" sh -c "$(declare -f health); T='$T' FCGI_CLIENT='$FCGI_CLIENT'; health a | grep -q '\"role\":\"master\"'"
check "GET /v1/health on a replica says replica" sh -c "$(declare -f health); T='$T' FCGI_CLIENT='$FCGI_CLIENT'; health b | grep -q '\"role\":\"replica\"'"

# --- misconfiguration: one line, nothing changed ---
cp "$T/b/keygate.conf" "$T/bad.conf"
sed -i "s/^repl_site = .*/repl_site = 192.0.2.7:${PORT[b]}/" "$T/bad.conf"
out=$("$KEYGATE_REPD" --config "$T/bad.conf" 2>&1); rc=$?
check "keygate-repd refuses a repl_site that is not this host's" [ "$rc" -ne 0 ]
check "  in one line that says so" eval 'one_line "$out" && has "$out" "not an address of this host"'
out=$("$KEYGATE_REPD" --config "$T/b/keygate.conf" 2>&1); rc=$?
check "a second keygate-repd on a site is refused" eval '[ $rc -ne 0 ] && has "$out" "another process owns"'
out=$(kgs b repl join "127.0.0.1:${PORT[a]}" 2>&1); rc=$?
check "repl join of a store that is not empty is refused (exit 3)" [ "$rc" -eq 3 ]
check "  in one line" eval 'one_line "$out" && has "$out" "not empty"'
mkdir -p "$T/d"
printf 'db = %s/d/db\nrepl_site = 127.0.0.1:%s\nrepl_peers = 127.0.0.1:%s\n' "$T" "${PORT[a]}" \
	"${PORT[b]}" > "$T/d/keygate.conf"
out=$("$KEYGATE" --config "$T/d/keygate.conf" repl join "127.0.0.1:${PORT[a]}" 2>&1); rc=$?
check "repl join naming this very site is refused" eval '[ $rc -eq 1 ] && has "$out" "is this site"'
check "  and made nothing" [ ! -e "$T/d/db" ]
# a store made on its own (keygate init) while the group runs: not a second group
printf 'db = %s/d/db\nrepl_site = 127.0.0.1:%s\nrepl_peers = 127.0.0.1:%s\n' "$T" "$(free_port)" \
	"${PORT[a]}" > "$T/d/keygate.conf"
"$KEYGATE" --config "$T/d/keygate.conf" init >/dev/null 2>&1
out=$("$KEYGATE_REPD" --config "$T/d/keygate.conf" 2>&1); rc=$?
check "keygate-repd refuses to start a second group beside a running one" eval '[ $rc -ne 0 ] && has "$out" "repl join"'
check "  and leaves that store unreplicated" [ ! -e "$T/d/db/replicated" ]
rm -rf "$T/d"
# a host whose pepper differs would decide differently: it may not join
head -c 32 /dev/urandom | base64 > "$T/pepper"; chmod 600 "$T/pepper"
mkdir -p "$T/p"
PP=$(free_port); PQ=$(free_port)
printf 'db = %s/p/db\nrepl_site = 127.0.0.1:%s\n' "$T" "$PP" > "$T/p/keygate.conf"
"$KEYGATE" --config "$T/p/keygate.conf" init --pepper-file "$T/pepper" >/dev/null 2>&1
"$KEYGATE_REPD" --config "$T/p/keygate.conf" >>"$T/p/repd.log" 2>&1 &
PREPD=$!
mkdir -p "$T/q"
printf 'db = %s/q/db\nrepl_site = 127.0.0.1:%s\n' "$T" "$PQ" > "$T/q/keygate.conf"
head -c 32 /dev/urandom | base64 > "$T/pepper.new"
sleep 1
mv "$T/pepper" "$T/pepper.p" && cp "$T/pepper.new" "$T/pepper" && chmod 600 "$T/pepper"
out=$("$KEYGATE" --config "$T/q/keygate.conf" repl join "127.0.0.1:$PP" --timeout 20s 2>&1); rc=$?
check "a site whose pepper differs from the group's may not join" eval '[ $rc -eq 4 ] && has "$out" pepper'
check "  and keeps no copy of the store" sh -c "[ ! -e '$T/q/db/meta.db' ] && [ ! -e '$T/q/db/replicated' ]"
kill "$PREPD"; wait "$PREPD" 2>/dev/null

# --- no master: writes fail, nothing changed ---
signal_repd STOP a
signal_repd TERM c; wait "${REPD[c]}" 2>/dev/null; REPD[c]=
no_master() { [ "$(status_field b master)" = "None" ]; }
check "a lone replica finds no master" wait_for 15 no_master
before=$(kgs b key list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
out=$(kgs b key create --org acme 2>&1); rc=$?
expect_eq "with no master reachable a write exits 4" 4 "$rc"
check "  and says nothing was changed" has "$out" "nothing was changed"
expect_eq "  reads still work on the replica" 200 "$(status b "$KEY1")"
signal_repd CONT a
start_repd c
check "the group comes back" wait_for 20 all_ready a
after=$(kgs a key list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
expect_eq "  and holds no key from the refused write" "$before" "$after"
finish
