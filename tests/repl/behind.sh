#!/bin/bash
# tests/repl/behind.sh - a replica whose store is damaged or far behind
# never decides from half-applied state: it answers 503 until it has
# caught up, and says so in keygate repl status and its log
# (keygate-repd(8), Failures).
#
# Site c crashes (SIGKILL) and stays down while the master revokes a key
# c knew, creates one and imports keys.  Meanwhile c is started on its
# store damaged three ways.  A table cut short: keygate-repd refuses in
# one line once the library has panicked (or held it) three times, unless
# recovery rewrote the table and c caught up; c's authorizer answers
# only 503 or the up-to-date answer.  A table removed, the logs removed:
# keygate-repd refuses in one line that says what to do, leaves the store
# as it was, and c's authorizer answers nothing but 503, for longer than
# an unrefreshed word of keygate-repd lasts.
# Then c is started on its copy as the crash left it, far behind: the
# master has removed the logs it lacks, so it must receive a full copy.
# Its authorizer, asked from its first answer on, answers only 503 or the
# up-to-date answer, does answer 503 for a while (repl status and the
# log say so), and decides rightly within CATCH_UP_LIMIT_S.  The master
# logs no error about the store's files that are no tables while it lists
# what to copy.  Last, the refusal's advice (move the store away, keygate
# repl join) brings a damaged site back.
. "$top_srcdir/tests/repl/lib.sh"

CATCH_UP_LIMIT_S=20
# A damaged site dies three times before keygate-repd refuses, or is held
# inside the library until its watchdog ends it (keygate-repd.c, STUCK_*).
DAMAGED_LIMIT_S=40
# Berkeley DB keeps a master's logs for 30 s after it loses the
# connection to a site, so that the site may catch up from them (and for
# as long as a site that acknowledged anything stays connected, hung or
# not): c's crashes below start the 30 s again.
LOGS_GONE_LIMIT_S=45

check "a group of three sites forms" make_group || finish
PEER="127.0.0.1:${PORT[a]}"
# a master's checkpoint would otherwise sleep 30 s in keygate-repd's main loop
setting() {
	kgs "$1" --json repl status 2>/dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["settings"][sys.argv[1]])' "$2"
}
expect_eq "the master's checkpoints do not wait for the replicas (checkpoint delay, ms)" 0 \
	"$(setting a checkpoint_delay_ms)"

# S's authorizer: its main process and its workers
authz_pids() { echo ${AUTHZ[$1]} $(ps -o pid= --ppid ${AUTHZ[$1]} 2>/dev/null); }
# stop_site S SIG: S's authorizer and keygate-repd.
stop_site() {
	local s=$1 sig=$2
	kill -"$sig" $(authz_pids "$s") 2>/dev/null
	signal_repd "$sig" "$s" 2>/dev/null
	wait ${AUTHZ[$s]} "${REPD[$s]}" 2>/dev/null
	AUTHZ[$s]= REPD[$s]=
}
repd_answers() { kgs "$1" repl status >/dev/null 2>&1; }
repd_gone() { ! kill -0 "${REPD[$1]}" 2>/dev/null; }
# start_site S: keygate-repd first, the authorizer once keygate-repd
# answers (it has said by then that the copy is behind) or has stopped.
# An authorizer started while no keygate-repd runs decides from the copy
# it has, as on a host cut off from the group (keygate-repd(8)).
start_site() {
	start_repd "$1"
	wait_for 10 eval "repd_answers $1 || repd_gone $1"
	start_authz "$1"
}
# watch S SECONDS STATUS KEY [STATUS KEY...]: S's authorizer asked for
# each key in turn (repl-probe watch), in the background, into $T/watch.N.
watch() {
	local s=$1 secs=$2 args=()
	shift 2
	while [ $# -gt 0 ]; do
		args+=(--case "$1" "HTTP_AUTHORIZATION=Bearer $2" REQUEST_METHOD=GET REQUEST_URI=/v1/x)
		shift 2
	done
	WATCHES=$((WATCHES + 1))
	"$REPL_PROBE" watch --seconds "$secs" --pause-us 1000 --site "$(addr "$s")" "${args[@]}" \
		>"$T/watch.$WATCHES" 2>&1 &
	WATCHER=$!
}
WATCHES=0
unwatch() { kill -TERM "$WATCHER" 2>/dev/null; wait "$WATCHER"; }
summary() { tail -n 1 "$T/watch.$WATCHES"; }
field() { summary | awk -v f="$1" '{ for (i = 1; i < NF; i++) if ($i == f) print $(i + 1) }'; }
store_sum() { (cd "$T/c/db" && md5sum ./*.db ./log.* 2>/dev/null); }
last_line() { grep -v ' db: ' "$T/c/repd.log" | grep -v '^#' | tail -n 1; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
# import N: N new keys on the master, about 1 KB of log each
import() {
	python3 -c 'import secrets, sys
for i in range(int(sys.argv[1])): print("bulk_" + secrets.token_hex(16))' "$1" |
		kgs a key import --org acme >/dev/null 2>&1
}
# refused SIGN: c's keygate-repd stopped, saying SIGN and what to do in one line
refused() {
	local line
	wait_for 10 repd_gone c || return 1
	line=$(last_line)
	has "$line" "$1" && has "$line" "keygate repl join $PEER" && has "$line" "answer 503" &&
		[ "$(grep -c "$1" "$T/c/repd.log")" -eq 1 ]
}

# --- c crashes; the master goes on ---
REVOKED=$(kgs a key create --org acme --name revoked 2>"$T/rid") && RID=$(cat "$T/rid")
check "site c decides with a key made on the master" wait_status c "$REVOKED" 200
c_log=$(ls "$T/c/db" | grep '^log\.' | tail -n 1)
stop_site c KILL
down=$(date +%s%N)
cp -a "$T/c/db" "$T/crashed"
kgs a key revoke "$RID" >/dev/null 2>&1
NEWKEY=$(kgs a key create --org acme --name while-c-was-down 2>/dev/null)
check "the master revokes a key and creates one while c is down" [ -n "$NEWKEY" ]
import 30000

# --- damaged: keygate-repd refuses, the authorizer answers nothing but 503 ---
# A table cut short: recovery succeeds, and the library panics applying
# the group's changes to what is missing, in every new keygate-repd; or
# it holds keygate-repd (a replication thread looping in the buffer
# pool), whose watchdog ends it after STUCK_SERVE_MS (30 s) or
# STUCK_CLOSE_MS; or recovery rewrites what the logs since the last
# checkpoint hold, which was all that was lost: then c catches up.
cp -a "$T/crashed" "$T/c/db.new" && rm -rf "$T/c/db" && mv "$T/c/db.new" "$T/c/db"
truncate -s 4096 "$T/c/db/keys.db"
watch c $((DAMAGED_LIMIT_S + 5)) 401 "$REVOKED" 200 "$NEWKEY" 200 "$KEY1"
t0=$(date +%s%N)
start_site c
caught_up() { [ "$(status c "$REVOKED")" = 401 ] && [ "$(status c "$NEWKEY")" = 200 ]; }
gave_up() { repd_gone c && has "$(last_line)" "died 3 times in a row"; }
held() { grep -q 'held inside Berkeley DB' "$T/c/repd.log"; }
check "damaged (a table cut short): keygate-repd refuses once its environment died 3 times, or c catches up" \
	wait_for "$DAMAGED_LIMIT_S" eval 'gave_up || caught_up || held'
if held && ! gave_up; then
	echo "# keygate-repd was held inside Berkeley DB: its watchdog ended it ($(ms "$t0") ms after its start)"
elif gave_up; then
	check "  refused in one line that says what to do" refused "died 3 times in a row"
	echo "# refused $(ms "$t0") ms after its start, after $(grep -c 'exited with status 3' "$T/c/repd.log") restarts"
elif caught_up; then
	echo "# recovery rewrote the table: caught up $(ms "$t0") ms after its start"
fi
down=$(date +%s%N)
sleep 1
unwatch; rc=$?
echo "# c's authorizer: $(summary)"
expect_eq "  c's authorizer answers nothing but 503 or the up-to-date answer all along" 0 "$rc"
check "  and does answer (it runs on the damaged store)" [ "$(( $(field ok) + $(field unavailable) ))" -gt 0 ]
stop_site c TERM

# The last one's authorizer is asked for longer than a word of keygate-repd
# lasts (COUNTERS_REPL_FRESH_S, 10 s), while the master removes its logs.
for damage in "keys.db is missing:rm keys.db:3" "its log files are missing:rm log.*:15"; do
	sign=${damage%%:*} what=${damage#*:}
	secs=${what#*:} what=${what%:*}
	rm -rf "$T/c/db" && cp -a "$T/crashed" "$T/c/db" && (cd "$T/c/db" && eval "$what")
	before=$(store_sum)
	start_repd c
	check "damaged ($what): keygate-repd refuses in one line: $sign, and what to do" \
		refused "$sign"
	check "  and leaves the store as it was" eval '[ "$(store_sum)" = "$before" ]'
	# the authorizer recovers the store if need be, and cannot open it, or answers 503
	watch c "$secs" 503 "$REVOKED" 503 "$NEWKEY" 503 "$KEY1"
	start_authz c
	[ "$secs" -gt 3 ] && break
	wait "$WATCHER"; rc=$?
	echo "# c's authorizer: $(summary)"
	expect_eq "  c's authorizer answers nothing but 503" 0 "$rc"
	stop_site c TERM
done

# --- far behind: the master removed the logs c lacks, c gets a full copy ---
# a checkpoint past a log file lets the master remove it once no site
# needs it and the 30 s after c's last crash are over; each round of
# 10,000 keys writes about one log file (10 MB) and a checkpoint
while [ -e "$T/a/db/$c_log" ] && [ "$(ms "$down")" -lt $((LOGS_GONE_LIMIT_S * 1000)) ]; do
	sleep 2
	[ "$(ms "$down")" -gt 28000 ] && import 10000
done
check "the master removed the log c's copy ends in ($c_log) $(ms "$down") ms after c was last up" \
	[ ! -e "$T/a/db/$c_log" ]
wait "$WATCHER"; rc=$?
echo "# c's authorizer on the store without logs, 15 s: $(summary)"
expect_eq "  meanwhile c's authorizer answered nothing but 503 (keygate-repd refused 15 s ago)" 0 "$rc"
check "  and did answer" [ "$(field ok)" -gt 0 ]
stop_site c TERM
rm -rf "$T/c/db" && cp -a "$T/crashed" "$T/c/db"
watch c $((CATCH_UP_LIMIT_S + 5)) 401 "$REVOKED" 200 "$NEWKEY" 200 "$KEY1"
t0=$(date +%s%N)
start_site c
: >"$T/states"
watched() { status_field c site >>"$T/states" 2>/dev/null; caught_up; }
check "far behind: c decides rightly within ${CATCH_UP_LIMIT_S} s of its start" \
	wait_for "$CATCH_UP_LIMIT_S" watched
took=$(ms "$t0")
sleep 0.5
unwatch; rc=$?
echo "# c's authorizer: $(summary)"
expect_eq "  answering nothing but 503 or the up-to-date answer meanwhile" 0 "$rc"
check "  and answering 503 for a while" [ "$(field unavailable)" -gt 0 ]
echo "# far behind: right answers ${took} ms after the start; 503 from" \
	"$(field first_unavailable_ms) to $(field last_unavailable_ms) ms of the authorizer's answers;" \
	"$(du -cb "$T"/c/db/*.db | tail -n 1 | cut -f1) bytes of tables copied"
check "  keygate repl status said so meanwhile" grep -q "'state': 'behind'" "$T/states"
check "  and so did c's log" grep -q 'answer 503 until it has caught up' "$T/c/repd.log"
if grep -q 'received a full copy of the store' "$T/c/repd.log"; then
	ok "  which shows the full copy"
else
	# seen once in CI (7da6860), though the tables had been copied: c's own account
	not_ok "  which shows the full copy"
	grep -v ' db: ' "$T/c/repd.log" | grep -E 'copy|opening|reopen|caught up|exit|dead' |
		tail -n 20 | sed 's/^/#   c: /'
fi
# a full copy locks the site for as long as it lasts: keygate-repd must not
# take it for a lock that waits on a hung read (sync_stuck; seen once in CI
# under ASan, the master slow to send: c restarted mid-copy and was then
# refused as damaged)
check "  and its keygate-repd did not cut the copy short" \
	eval '! grep -q "with no progress" "$T/c/repd.log"'
check "the master logged no error about the store's files that are no tables" \
	eval '! grep -E "unexpected file type|checksum error|Encrypted (checksum|database)" "$T/a/repd.log"'
check "  nor did c" eval '! grep -E "unexpected file type|checksum error|Encrypted (checksum|database)" "$T/c/repd.log"'

# --- the refusal's advice brings a damaged site back ---
stop_site c TERM
rm -f "$T/c/db/orgs.db"
start_site c
check "damaged again (orgs.db removed): refused" refused "orgs.db is missing"
stop_site c TERM
mv "$T/c/db" "$T/damaged"
check "moved away as advised, keygate repl join" eval 'kgs c repl join "$PEER" >>"$T/c/join.log" 2>&1'
watch c 20 401 "$REVOKED" 200 "$NEWKEY" 200 "$KEY1"
start_site c
check "  and site c decides again" wait_for 10 caught_up
unwatch; rc=$?
expect_eq "  never otherwise meanwhile" 0 "$rc"
finish
