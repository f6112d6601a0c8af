#!/bin/bash
# A real Prometheus server (Debian's prometheus package) scrapes
# keygate-api's GET /keygate/metrics through nginx (Prometheus speaks HTTP,
# not FastCGI), every second, without a key: keygate-api's keygate.conf
# lists 127.0.0.1 in metrics-allow.  The test sends requests of its own to
# keygate-authz on the same store and asks Prometheus's HTTP API
# (/api/v1/query) until it reports exactly that many, by status and code;
# `promtool check metrics` accepts the text.  Bounded: 30 s for Prometheus
# to start, 30 s for the scrape that shows the requests.
# shellcheck source=tests/servers/lib.sh
. "${top_srcdir:-.}/tests/servers/lib.sh"
: "${KEYGATE_API:?run me from make check}" "${FCGI_CLIENT:?}"

PROMETHEUS=$(command -v prometheus) || skip "prometheus is not installed (Debian package prometheus)"
PROMTOOL=$(command -v promtool) || skip "promtool is not installed (Debian package prometheus)"
NGINX=/usr/sbin/nginx
[ -x "$NGINX" ] || skip "nginx is not installed"

sandbox
install -m 755 "$KEYGATE_API" "$T/bin/keygate-api" || die "cannot copy $KEYGATE_API"
make_store
new_key KEY_ADMIN --org acme --scope admin

AZ_SOCK=$T/run/authz.sock
API_SOCK=$T/run/api.sock
start_authz authz "unix:$AZ_SOCK"
printf 'metrics-allow = 127.0.0.1 ::1\n' > "$T/keygate.conf"
bg api as_web "$T/bin/keygate-api" --db "$T/db" --config "$T/keygate.conf" \
	--listen "unix:$API_SOCK" --workers 2 --socket-mode 0660
wait_for -S "$API_SOCK" || die "keygate-api did not start"

PORT=$(free_port)
cat > "$T/nginx.conf" <<EOF
$( [ "$(id -u)" = 0 ] && echo "user $WEB_USER $WEB_GROUP;" )
worker_processes 1;
pid $T/run/nginx.pid;
error_log $T/run/nginx-error.log warn;
daemon off;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $T/run/body;
    fastcgi_temp_path $T/run/fastcgi;
    upstream keygate_api { server unix:$API_SOCK; }
    server {
        listen 127.0.0.1:$PORT;
        include $CONTRIB/nginx/keygate-api.conf;
    }
}
EOF
bg nginx "$NGINX" -e "$T/run/nginx-error.log" -p "$T/run" -c "$T/nginx.conf"
wait_port "$PORT" || die "nginx did not start"
METRICS_URL=http://127.0.0.1:$PORT/keygate/metrics

note "GET /keygate/metrics through nginx"
req "from 127.0.0.1 (metrics-allow), no key" "$METRICS_URL"
expect_status 200
expect_header Content-Type "text/plain; version=0.0.4"
if "$PROMTOOL" check metrics < "$T/resp.b" > "$T/log/promtool.log" 2>&1; then
	pass "promtool check metrics accepts the text"
else
	fail "promtool check metrics: $(head -n 5 "$T/log/promtool.log" | tr '\n' '|')"
fi
cp "$T/resp.b" "$T/metrics-before.txt"

# The scrape configuration: every second, this path, no key.
PPORT=$(free_port)
mkdir -p "$T/run/prometheus"
[ "$(id -u)" = 0 ] && chown "$WEB_USER:$WEB_GROUP" "$T/run/prometheus"
cat > "$T/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: keygate
    metrics_path: /keygate/metrics
    static_configs:
      - targets: ["127.0.0.1:$PORT"]
EOF
chmod 644 "$T/prometheus.yml"
if "$PROMTOOL" check config "$T/prometheus.yml" > "$T/log/promtool-config.log" 2>&1; then
	pass "promtool check config: the test's scrape configuration"
else
	die "promtool rejects the scrape configuration: $(cat "$T/log/promtool-config.log")"
fi
bg prometheus as_web "$PROMETHEUS" --config.file="$T/prometheus.yml" \
	--storage.tsdb.path="$T/run/prometheus" --web.listen-address="127.0.0.1:$PPORT"
PROM_PID=$BG_PID
PROM=http://127.0.0.1:$PPORT

ready=""
for _ in $(seq 300); do
	kill -0 "$PROM_PID" 2>/dev/null || break
	if [ "$(curl -s -o /dev/null -w '%{http_code}' "$PROM/-/ready")" = 200 ]; then ready=1; break; fi
	sleep 0.1
done
[ -n "$ready" ] || { tail -n 20 "$T/log/prometheus.log" >&2; die "Prometheus was not ready within 30 s"; }
pass "Prometheus is ready"

# query EXPR: the value of a one-element vector, or "none".
query() {
	curl -s --max-time 5 -G --data-urlencode "query=$1" "$PROM/api/v1/query" | python3 -c '
import json, sys
try:
    r = json.load(sys.stdin)["data"]["result"]
    print(r[0]["value"][1] if len(r) == 1 else "none")
except Exception:
    print("none")'
}

# wait_query EXPR WANT: until Prometheus answers WANT (30 s at most);
# the last answer in GOT.
wait_query() {
	local _
	for _ in $(seq 60); do
		GOT=$(query "$1")
		[ "$GOT" = "$2" ] && return 0
		sleep 0.5
	done
	return 1
}

REQ_DESC="Prometheus"
if wait_query 'up{job="keygate"}' 1; then pass "Prometheus scrapes keygate-api: up is 1"
else fail "Prometheus does not scrape keygate-api: up is '$GOT'"; fi

note "requests to keygate-authz, counted by Prometheus"
N_OK=37 N_401=5 N_403=3
send() { # send N WANT PARAMS...: N requests to keygate-authz, each answered WANT
	local n=$1 want=$2 got
	shift 2
	got=$("$FCGI_CLIENT" --status --repeat "$n" "unix:$AZ_SOCK" REQUEST_METHOD=GET "$@" |
		sort | uniq -c | awk '{print $2 " " $1}')
	if [ "$got" = "$want $n" ]; then pass "$n requests answered $want"
	else fail "expected $n answers $want, got: $got"; fi
}
send "$N_OK" 200 REQUEST_URI=/v1/x HTTP_X_API_KEY="$KEY_LIVE"
send "$N_401" 401 REQUEST_URI=/v1/x
send "$N_403" 403 REQUEST_URI=/v1/x HTTP_X_API_KEY="$KEY_FROZEN"
t0=$(date +%s)
for c in "200 ok $N_OK" "401 missing_api_key $N_401" "403 forbidden $N_403"; do
	set -- $c
	expr="keygate_requests_total{job=\"keygate\",program=\"keygate-authz\",status=\"$1\",code=\"$2\"}"
	if wait_query "$expr" "$3"; then pass "Prometheus: $expr = $3"
	else fail "Prometheus: $expr is '$GOT', expected $3"; fi
done
note "the scrape that showed them came within $(( $(date +%s) - t0 )) s"
expr='sum(keygate_decision_duration_seconds_count{job="keygate",program="keygate-authz"})'
if wait_query "$expr" $((N_OK + N_401 + N_403)); then
	pass "Prometheus: the latency histogram counts all $((N_OK + N_401 + N_403))"
else
	fail "Prometheus: $expr is '$GOT', expected $((N_OK + N_401 + N_403))"
fi
# keygate-api counts the scrapes themselves, as its other answers
expr='keygate_requests_total{job="keygate",program="keygate-api",status="200",code="ok"}'
GOT=$(query "$expr")
if [ "$GOT" != none ] && [ "$GOT" -ge 2 ]; then pass "Prometheus: keygate-api counted $GOT scrapes (200 ok)"
else fail "Prometheus: $expr is '$GOT', expected the scrapes"; fi

note "the text after the requests"
req "an admin key, from 127.0.0.1 too" -H "Authorization: Bearer $KEY_ADMIN" "$METRICS_URL"
expect_status 200
if "$PROMTOOL" check metrics < "$T/resp.b" > "$T/log/promtool2.log" 2>&1; then
	pass "promtool check metrics accepts the text with counts"
else
	fail "promtool check metrics: $(head -n 5 "$T/log/promtool2.log" | tr '\n' '|')"
fi

stop_tree "$PROM_PID"
untrack "$PROM_PID"
expect_no_key_in_logs "$KEY_LIVE" "$KEY_ADMIN" "$KEY_FROZEN"
finish
