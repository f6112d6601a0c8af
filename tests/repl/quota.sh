#!/bin/bash
# tests/repl/quota.sh - quotas and prepaid credits across the group: every
# site's authorizer under a paced load of the same organization until
# each refuses it (402); the requests allowed in all may pass the quota
# by no more than the other hosts admit before their counts reach this
# host, the same total is what `keygate usage` and the merged history
# tell on every site, credits survive a SIGKILL of a site's authorizer
# workers, a key's last use on a replica reaches the master, and a
# replica's history of more keys in a second than one batch holds reaches
# the master whole.
#
# The bound (keygate-repd(8), "Counters"): a host's counts wait up to a
# flush interval (UPKEEP_FLUSH_NS, 0.5 s) before they are sent; the
# master commits them and they replicate within milliseconds; the other
# host takes them into its base at its own next flush, up to another
# 0.5 s later.  With 0.5 s of slack for forwarding and a loaded machine,
# no host decides on counts more than 1.5 s old, so
#     allowed <= quota + max over hosts H (rate of the hosts but H) * 1.5 s
# where the rates are the ones measured here.
. "$top_srcdir/tests/repl/lib.sh"

STALE_S=1.5                             # 2 flush intervals + 0.5 s of slack
QUOTA=${REPL_QUOTA:-3000}
CREDITS=${REPL_CREDITS:-2000}
PAUSE_US=${REPL_PAUSE_US:-3000}         # about 300 requests a second a site here
LAST_USED_LIMIT_S=5                     # the history, sent every second, and its forward
HISTORY_PROBE=$top_builddir/tests/repl/history-probe

# a day's quota must not be renewed halfway: not within two minutes of 00:00 UTC
left=$(( 86400 - $(date -u +%s) % 86400 ))
[ "$left" -lt 120 ] && sleep $(( left + 2 ))

check "a group of three sites forms" make_group || finish
SITE_ARGS=(--site "$(addr a)" --site "$(addr b)" --site "$(addr c)")

# count_run OUT KEY [ARGS...]: every site's authorizer asked for KEY until
# each has answered 402 once; the counts per site in OUT
count_run() {
	local out=$1 key=$2; shift 2
	"$REPL_PROBE" count --until 402 --seconds 60 --pause-us "$PAUSE_US" "${SITE_ARGS[@]}" \
		"HTTP_AUTHORIZATION=Bearer $key" REQUEST_METHOD=GET REQUEST_URI=/v1/x "$@" >"$out" 2>&1
}
# field OUT NAME: the sum of that field over the sites of a count_run
field() { awk -v f="$2" '{ for (i = 2; i < NF; i++) if ($i == f) n += $(i + 1) } END { print n + 0 }' "$1"; }
# bound OUT: what the other hosts admit in STALE_S, for the host whose
# others are the busiest (rates: the answers a site gave over its run)
bound() {
	awk -v st="$STALE_S" '{
		for (i = 2; i < NF; i++) {
			if ($i == "allowed" || $i == "until" || $i == "other") n[NR] += $(i + 1)
			if ($i == "ran_ms") ms[NR] = $(i + 1)
		}
		r[NR] = n[NR] * 1000 / ms[NR]; all += r[NR]
	} END {
		for (h = 1; h <= NR; h++) if (all - r[h] > worst) worst = all - r[h]
		printf "%d %d %d\n", worst * st + 0.999, all, worst
	}' "$1"
}
used_on() { # used_on S ORG: what `keygate usage` tells on site S
	kgs "$1" --json usage --org "$2" 2>/dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["used"])' 2>/dev/null
}
history_on() { # history_on S ORG FIELD: today's merged history on site S
	kgs "$1" --json usage --daily --org "$2" --from "$(date -u +%F)" 2>/dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["days"][-1][sys.argv[1]])' "$3" 2>/dev/null
}
every_site_tells() { # every_site_tells WANT COMMAND ARGS... (S is put first)
	local want=$1 s; shift
	for s in $SITES; do [ "$("$1" "$s" "${@:2}")" = "$want" ] || return 1; done
}
tells() { # tells COMMAND ARGS...: what each site says, for the report
	local s; for s in $SITES; do printf '%s=%s ' "$s" "$("$1" "$s" "${@:2}")"; done
}

# ---------------------------------------------------------------- quota
kgs a plan set daily --quota "$QUOTA/day" >/dev/null 2>&1
kgs a org create metered --plan daily >/dev/null 2>&1
KQ=$(kgs a key create --org metered --name load 2>/dev/null)
check "an organization with a daily quota of $QUOTA and a live key" [ -n "$KQ" ]
# each site's first 200 is a quota unit too: 3 of them
for s in $SITES; do wait_status "$s" "$KQ" 200; done
PRE=3
count_run "$T/quota.out" "$KQ"; rc=$?
sed 's/^/# quota load: /' "$T/quota.out"
expect_eq "every site came to refuse the organization (402)" 0 "$rc"
allowed=$(( PRE + $(field "$T/quota.out" allowed) ))
read -r B RATE OTHERS < <(bound "$T/quota.out")
over=$(( allowed - QUOTA ))
echo "# quota $QUOTA: $allowed allowed in all at $RATE requests/s over the three sites;" \
	"overshoot $over ($(python3 -c "print('%.2f' % ($over / max($OTHERS, 1)))") s of the other" \
	"hosts' $OTHERS requests/s), bound $B (${STALE_S} s of them)"
expect_eq "  no answer but 200 and 402, no request failed" 0 \
	"$(( $(field "$T/quota.out" other) + $(field "$T/quota.out" failed) ))"
expect_eq "  no site allowed a request after it refused one" 0 "$(field "$T/quota.out" late)"
check "  at least the quota was allowed ($allowed >= $QUOTA)" [ "$allowed" -ge "$QUOTA" ]
check "  the overshoot $over is within the bound $B" [ "$over" -le "$B" ]
sleep 2 # the last flushes: a host's own, then the others' look at the ledger
for s in $SITES; do
	expect_eq "  site $s refuses the organization once the counts settled" 402 "$(status "$s" "$KQ")"
done
agree() { # agree DESCRIPTION COMMAND ARGS...: every site tells $allowed within 5 s
	local d=$1; shift
	if wait_for 5 every_site_tells "$allowed" "$@"; then ok "$d"; else not_ok "$d ($(tells "$@"))"; fi
}
agree "keygate usage on every site tells the group's total, $allowed" used_on metered
agree "  and so does the history merged from every host (quota units)" \
	history_on metered quota_used
agree "  and its allowed requests" history_on metered allowed

# ---------------------------------------------------------- last use
KL=$(kgs a key create --org acme --name replica-only 2>"$T/klid"); KLID=$(cat "$T/klid")
t_use0=$(date +%s)
wait_status c "$KL" 200; t_use=$(date +%s)   # used on site c alone
last_used_on_master() {
	kgs a --json key show "$KLID" 2>/dev/null | python3 -c '
import json, sys, datetime
t = json.load(sys.stdin)["last_used_at"]
if not t: sys.exit(1)
d = datetime.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
sys.exit(0 if int(sys.argv[1]) <= d <= int(sys.argv[2]) else 1)' "$t_use0" "$t_use"
}
t0=$(date +%s%N)
if wait_for "$LAST_USED_LIMIT_S" last_used_on_master; then
	ok "the last use of a key used on a replica alone shows on the master" \
		"in $(( ($(date +%s%N) - t0) / 1000000 )) ms (at most ${LAST_USED_LIMIT_S} s)"
else
	not_ok "the master does not tell the last use on site c within ${LAST_USED_LIMIT_S} s" \
		"($(kgs a --json key show "$KLID" 2>&1 | grep -o '"last_used_at":[^,]*'))"
fi

# ------------------------------------------------------------ credits
kgs a plan set prepaid --quota 0 >/dev/null 2>&1
kgs a org create payg --plan prepaid >/dev/null 2>&1
kgs a org credit payg "+$CREDITS" >/dev/null 2>&1
KP=$(kgs a key create --org payg --name load 2>/dev/null)
check "an organization with $CREDITS prepaid credits (granted on the master)" [ -n "$KP" ]
for s in $SITES; do wait_status "$s" "$KP" 200; done
used_on_master() { kgs a --json org show payg | python3 -c 'import json,sys; print(json.load(sys.stdin)["used"])'; }
# credits_round NAME GRANTED: a load until every site refuses; checks the
# credits served so far (SERVED, FAILED) against GRANTED and the bound
SERVED=$PRE
FAILED=0
credits_round() {
	local name=$1 granted=$2 b rate others used
	count_run "$T/$name.out" "$KP"; rc=$?
	sed "s/^/# $name: /" "$T/$name.out"
	expect_eq "every site came to refuse the organization (402)" 0 "$rc"
	SERVED=$(( SERVED + $(field "$T/$name.out" allowed) ))
	FAILED=$(( FAILED + $(field "$T/$name.out" failed) ))
	read -r b rate others < <(bound "$T/$name.out")
	BOUND=$b
	echo "# $name: $SERVED credits served in all of $granted granted, at $rate requests/s;" \
		"overshoot $(( SERVED - granted )), bound $b"
	expect_eq "  no site allowed a request after it refused one" 0 "$(field "$T/$name.out" late)"
	# every host's last flush, then the master's look at the ledger
	wait_for 10 eval '[ "$(used_on_master)" -ge "$SERVED" ]'
	used=$(used_on_master)
	echo "# $name: the master counts $used credits used ($FAILED requests failed unanswered)"
	check "  every credit served is counted on the master ($used >= $SERVED): none granted twice" \
		[ "$used" -ge "$SERVED" ]
	check "  nor more than were asked for ($used <= $SERVED + $FAILED)" \
		[ "$used" -le $(( SERVED + FAILED )) ]
}
credits_round credits "$CREDITS"
check "  credits served $SERVED: at most $CREDITS + $BOUND" [ "$SERVED" -le $(( CREDITS + BOUND )) ]

# More credits, and site b's authorizer workers die (SIGKILL) a second
# into the load; their master starts new ones on the same counter file.
# The new worker that opens the store finds the dead one in the registry
# and runs full recovery (src/store.c, DB_REGISTER); the host's
# keygate-repd meets DB_RUNRECOVERY and starts over, and for the seconds
# that takes no flush of site b reaches the master.  Site b then answers
# 503 for the quota after LEDGER_REPORT_STALE_NS rather than decide on
# the others' counts as they were, so the bound holds; and nothing is
# granted twice.
kgs a org credit payg "+$CREDITS" >/dev/null 2>&1
for s in $SITES; do wait_status "$s" "$KP" 200; done   # the grant reached every site
SERVED=$(( SERVED + 3 ))
( sleep 1; for p in $(ps -o pid= --ppid "${AUTHZ[b]}"); do kill -KILL "$p"; done ) &
KILLER=$!
credits_round "credits after the kill" $(( 2 * CREDITS ))
wait "$KILLER"
check "  site b's authorizer workers were killed under load and restarted" \
	grep -q 'worker .* exited' "$T/b/authz.log"
check "  credits served $SERVED: at most $(( 2 * CREDITS )) + $BOUND" \
	[ "$SERVED" -le $(( 2 * CREDITS + BOUND )) ]
count_run "$T/again.out" "$KP"
sed 's/^/# credits again: /' "$T/again.out"
expect_eq "a load once every site refused: no site serves a credit more" 0 "$(field "$T/again.out" allowed)"
# --- a host that cannot report its counts (its keygate-repd hangs) ---
# It cannot know the group's total: after LEDGER_REPORT_STALE_NS (5 s) it
# answers 503 for an organization with a quota, never 200 on stale counts,
# and keeps deciding for the others; once it reports again, 200.
kgs a plan set wide --quota 1000000/day >/dev/null 2>&1 &&
kgs a org create wide --plan wide >/dev/null 2>&1
KW=$(kgs a key create --org wide 2>/dev/null)
for s in $SITES; do wait_status "$s" "$KW" 200; done
signal_repd STOP c
t0=$(date +%s%N); first503=; last200=
for i in $(seq 1 200); do
	st=$(status c "$KW")
	now=$(( ($(date +%s%N) - t0) / 1000000 ))
	case $st in
	200) [ -z "$first503" ] && last200=$now;;
	503) [ -z "$first503" ] && first503=$now;;
	esac
	[ -n "$first503" ] && [ "$now" -gt $(( first503 + 1000 )) ] && break
	sleep 0.05
done
echo "# keygate-repd of c stopped: 200 until ${last200:-?} ms, first 503 at ${first503:-never} ms"
check "  the host that cannot report answers 503 for a quota within 7 s" \
	[ "${first503:-99999}" -le 7000 ]
expect_eq "  and 503 still, never a 200 on stale counts" 503 "$(status c "$KW")"
expect_eq "  an organization without a quota is still decided there" 200 "$(status c "$KEY1")"
expect_eq "  another host decides the quota as before" 200 "$(status a "$KW")"
signal_repd CONT c
check "  once it reports again, the quota is decided again (10 s)" \
	wait_for 10 eval '[ "$(status c "$KW")" = 200 ]'
# --- an authorizer started on a host that reported nothing for 5 s ---
# (it was stopped): it has nothing unreported, and its first requests are
# decided, not refused for counts it never had (upkeep_first_flush)
kill "${AUTHZ[c]}"; wait "${AUTHZ[c]}" 2>/dev/null
sleep 5.5
rm -f "$T/c/authz.sock"
start_authz c
wait_for 5 test -S "$T/c/authz.sock"
expect_eq "an authorizer started after 5.5 s without one decides a quota at once" 200 \
	"$(status c "$KW")"
# the master holds a batch mark for every process that sent it history
# (tally.h): db check tells them from day records
check "db check on the master finds the history and its batch marks sound" \
	kgs a db check

# --- more distinct keys in one flush than a process's first tally table
# holds (8192), from a replica: forwarded in batches of at most 8192
# records, every one in the history on the master and back on the
# replica, none dropped (tally.c).  Made-up key ids of a made-up org:
# after db check, which would name them. ---
R=""; for s in $SITES; do role_is "$s" replica && R=$s; done
M=$(master)
out=$("$HISTORY_PROBE" count "$T/$R/db" hpo 20000 2>&1)
expect_eq "20000 keys' history from replica $R in one flush: all sent, none dropped" \
	"records 20001 dropped 0" "$out"
for s in "$M" "$R"; do
	check "  all 20000 in the history on site $s (5 s)" wait_for 5 eval \
		'[ "$("$HISTORY_PROBE" read "$T/$s/db" hpo 20000)" = "org 20000 keys 20000" ]'
done
finish
