#!/bin/bash
# keygate inside real nginx: ngx_http_keygate_module (load_module),
# configured by contrib/nginx/keygate-module.conf and keygate-fastcgi.conf
# as shipped (included unchanged), the same checks as the FastCGI path
# (nginx.sh) plus what only a module has: a store that cannot be opened
# (503 with keygate's body), a worker killed, a rate limit shared with a
# keygate-authz on the same store.  Backends: proxied HTTP and FastCGI.
# shellcheck source=tests/servers/lib.sh
. "${top_srcdir:-.}/tests/servers/lib.sh"

NGINX=/usr/sbin/nginx
MODULE=$top_builddir/modules/nginx/ngx_http_keygate_module.so
[ -x "$NGINX" ] || skip "nginx is not installed"
[ -f "$MODULE" ] || skip "ngx_http_keygate_module was not built (no nginx-dev; or a sanitizer build, which builds no module)"

sandbox
install -m 644 "$MODULE" "$T/bin/ngx_http_keygate_module.so" || die "cannot copy $MODULE"
make_store
start_http_echo
start_fcgi_echo

PORT=$(free_port)
VPORT=$(free_port)
protected() {
	cat <<-EOF
	        location /api/proxy/ {
	            include $CONTRIB/nginx/keygate-module.conf;
	            proxy_pass http://127.0.0.1:$HTTP_ECHO_PORT;
	        }
	EOF
}
cat > "$T/nginx.conf" <<EOF
load_module $T/bin/ngx_http_keygate_module.so;
$( [ "$(id -u)" = 0 ] && echo "user $WEB_USER $WEB_GROUP;" )
worker_processes 2;
pid $T/run/nginx.pid;
error_log $T/run/nginx-error.log warn;
daemon off;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $T/run/body;
    proxy_temp_path $T/run/proxy;
    fastcgi_temp_path $T/run/fastcgi;
    uwsgi_temp_path $T/run/uwsgi;
    scgi_temp_path $T/run/scgi;
    keygate_store $T/db;

    server {
        listen 127.0.0.1:$PORT;
$(protected)
        location /api/fcgi/ {
            keygate on;
            fastcgi_param REQUEST_METHOD \$request_method;
            fastcgi_param REQUEST_URI \$request_uri;
            include $CONTRIB/nginx/keygate-fastcgi.conf;
            fastcgi_pass 127.0.0.1:$FCGI_ECHO_PORT;
        }
        location /public/ {
            proxy_pass http://127.0.0.1:$HTTP_ECHO_PORT;
        }
    }
    # Name-based virtual hosts: the internal one is the default server.
    server {
        listen 127.0.0.1:$VPORT default_server;
        server_name db.internal.example.com *.internal.example.com;
$(protected)
    }
    server {
        listen 127.0.0.1:$VPORT;
        server_name api.example.com;
$(protected)
    }
}
EOF
"$NGINX" -t -e "$T/run/nginx-error.log" -p "$T/run" -c "$T/nginx.conf" > "$T/log/configtest.log" 2>&1 ||
	{ cat "$T/log/configtest.log" >&2; die "nginx rejects its configuration"; }
bg nginx "$NGINX" -e "$T/run/nginx-error.log" -p "$T/run" -c "$T/nginx.conf"
NGINX_PID=$BG_PID
wait_port "$PORT" || die "nginx did not start"
BASE=http://127.0.0.1:$PORT
ELOG=$T/run/nginx-error.log

note "identity: proxied HTTP backend (headers)"
ID_NAMES="X-Keygate-Org-Id X-Keygate-Plan X-Keygate-Key-Id X-Keygate-Key-Mode X-Keygate-User-Id"
ID_FMT="header %s: %s"
run_identity "$BASE/api/proxy/v1/x"

note "identity: FastCGI backend (params)"
ID_NAMES="ORG_ID PLAN KEY_ID KEY_MODE USER_ID" ID_FMT="param %s=%s"
run_identity "$BASE/api/fcgi/v1/x"
req "FastCGI: REMOTE_USER is the key id" -H "Authorization: Bearer $KEY_LIVE" "$BASE/api/fcgi/v1/x"
expect_line "param REMOTE_USER=$KEY_LIVE_ID"

note "denials: keygate's status, headers and JSON body, sent by the module"
run_denials "$BASE/api/proxy/v1/x" expect_denial
req "denial headers" "$BASE/api/proxy/v1/x"
expect_header Cache-Control no-store
# the body of a denied request is read and dropped: the next request on
# the same connection is parsed as a request, not from that body
got=$(curl -s -o /dev/null -w '%{http_code} ' -d 'a=1&b=2' "$BASE/api/proxy/v1/x" \
	--next -s -o /dev/null -w '%{http_code} %{num_connects}' -H "X-Api-Key: $KEY_LIVE" "$BASE/api/proxy/v1/x")
REQ_DESC="a denied POST, then a request on the same connection"
if [ "$got" = "401 200 0" ]; then pass "$REQ_DESC: $got"
else fail "$REQ_DESC: '$got', expected '401 200 0' (statuses, new connections)"; fi
req "a denial of HEAD: status and headers, no body" -I "$BASE/api/proxy/v1/x"
expect_status 401
expect_header Content-Type application/json
req "an unprotected location is not asked" "$BASE/public/x"
expect_status 200

note "soft overage and rotation"
ID_FMT="header %s: %s"
run_lifecycle "$BASE/api/proxy/v1/x" expect_denial X-Keygate-Quota-Exceeded

note "repeated and empty headers: each copy is seen on its own"
run_repeated "$BASE/api/proxy/v1/x" expect_denial
req "Authorization twice: nginx refuses it itself" -H "Authorization: Bearer ${KEY_LIVE%??????}AAAAAA" \
	-H "Authorization: Bearer $KEY_LIVE" "$BASE/api/proxy/v1/x"
expect_status 400

note "host rules see the host nginx routed on (\$host), not the client's Host"
VBASE=http://127.0.0.1:$VPORT
run_hosts "$VBASE/api/proxy/v1/x" expect_denial
req "host rules: absolute-form URI of an internal host, Host: api.example.com" \
	--request-target "http://db.internal.example.com/api/proxy/v1/x" -H "Host: api.example.com" \
	-H "Authorization: Bearer $KEY_HOSTS" "$VBASE/"
expect_denial 403 forbidden
req "host rules: absolute-form URI of an outside host, Host: db.internal.example.com" \
	--request-target "http://api.example.com/api/proxy/v1/x" -H "Host: db.internal.example.com" \
	-H "Authorization: Bearer $KEY_HOSTS" "$VBASE/"
expect_status 200
req "host rules: HTTP/1.0 without Host, on a server without server_name" -0 -H "Host:" \
	-H "Authorization: Bearer $KEY_HOSTS" "$BASE/api/proxy/v1/x"
expect_denial 403 forbidden

note "keys in query strings stay out of the logs"
run_query_key_log "$BASE/api/proxy/v1/x"

note "revocation: the very next request"
run_revoke "$BASE/api/fcgi/v1/x"

note "a rate limit shared with keygate-authz on the same store is exact"
run_shared_limit "$BASE/api/proxy/v1/x"

note "a worker killed (SIGKILL): nginx starts another, requests pass, no recovery storm"
worker=$(ps -o pid= --ppid "$NGINX_PID" | head -n 1 | tr -d ' ')
[ -n "$worker" ] || die "nginx has no worker"
reopens_before=$(grep -c 'store reopened' "$ELOG")
kill -KILL "$worker"
sleep 1
bad=0
for i in $(seq 30); do
	req "after a worker was killed, request $i" -H "Authorization: Bearer $KEY_LIVE" "$BASE/api/proxy/v1/x"
	[ "$CODE" = 200 ] || bad=$((bad + 1))
done
REQ_DESC="after a worker was killed"
if [ "$bad" = 0 ]; then pass "$REQ_DESC: 30 requests, all 200"
else fail "$REQ_DESC: $bad of 30 requests were not 200"; fi
reopens=$(( $(grep -c 'store reopened' "$ELOG") - reopens_before ))
if [ "$reopens" -le 2 ]; then pass "$REQ_DESC: $reopens reopens for 2 workers"
else fail "$REQ_DESC: $reopens store reopens for 2 workers"; fi

note "store unreadable: new workers answer 503 with keygate's body, never the backend"
chmod 000 "$T/db"
kill -HUP "$NGINX_PID" # reload: new workers open the store anew
if wait_status 503 15 "store unreadable" -H "Authorization: Bearer $KEY_LIVE" "$BASE/api/proxy/v1/x"; then
	expect_denial 503 unavailable
else
	fail "store unreadable: status $CODE, expected 503"
fi
req "store unreadable, a POST to the FastCGI backend" -X POST -d x=1 -H "X-Api-Key: $KEY_LIVE" \
	"$BASE/api/fcgi/v1/x"
expect_denial 503 unavailable
grep -q 'every request is answered 503' "$ELOG" && pass "store unreadable: logged" ||
	fail "store unreadable: no line in the error log"
chmod 2770 "$T/db"
if wait_status 200 10 "store readable again" -H "Authorization: Bearer $KEY_LIVE" "$BASE/api/proxy/v1/x"; then
	pass "store readable again: the same workers open it (within seconds)"
else
	fail "store readable again: still $CODE"
fi

expect_no_key_in_logs "$KEY_LIVE" "$KEY_OTHER" "$KEY_HOSTS" "$KEY_TEST" "$KEY_SHARED"
finish
