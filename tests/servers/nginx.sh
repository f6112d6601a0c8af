#!/bin/bash
# keygate behind real nginx (auth_request + fastcgi_pass, RESPONDER role),
# configured by contrib/nginx/keygate-server.conf, keygate-location.conf and
# keygate-fastcgi.conf as shipped (included unchanged; the test writes its
# own upstream block for the sandbox's socket).  Denials reach the client
# through the error_page replay.  Backends: proxied HTTP and FastCGI.
# shellcheck source=tests/servers/lib.sh
. "${top_srcdir:-.}/tests/servers/lib.sh"

NGINX=/usr/sbin/nginx
[ -x "$NGINX" ] || skip "nginx is not installed"

sandbox
make_store
start_http_echo
start_fcgi_echo

SOCK=$T/run/keygate-authz.sock
start_authz authz "unix:$SOCK"
MAIN_AUTHZ=$AUTHZ_PID

PORT=$(free_port)
VPORT=$(free_port)
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
    proxy_temp_path $T/run/proxy;
    fastcgi_temp_path $T/run/fastcgi;
    uwsgi_temp_path $T/run/uwsgi;
    scgi_temp_path $T/run/scgi;

    upstream keygate_authz {
        server unix:$SOCK;
    }
    server {
        listen 127.0.0.1:$PORT;
        include $CONTRIB/nginx/keygate-server.conf;

        location /api/proxy/ {
            include $CONTRIB/nginx/keygate-location.conf;
            proxy_pass http://127.0.0.1:$HTTP_ECHO_PORT;
        }
        location /api/fcgi/ {
            include $CONTRIB/nginx/keygate-location.conf;
            fastcgi_param REQUEST_METHOD \$request_method;
            fastcgi_param REQUEST_URI \$request_uri;
            include $CONTRIB/nginx/keygate-fastcgi.conf;
            fastcgi_pass 127.0.0.1:$FCGI_ECHO_PORT;
        }
    }
    # Name-based virtual hosts: the internal one is the default server.
    server {
        listen 127.0.0.1:$VPORT default_server;
        server_name db.internal.example.com *.internal.example.com;
        include $CONTRIB/nginx/keygate-server.conf;
        location /api/proxy/ {
            include $CONTRIB/nginx/keygate-location.conf;
            proxy_pass http://127.0.0.1:$HTTP_ECHO_PORT;
        }
    }
    server {
        listen 127.0.0.1:$VPORT;
        server_name api.example.com;
        include $CONTRIB/nginx/keygate-server.conf;
        location /api/proxy/ {
            include $CONTRIB/nginx/keygate-location.conf;
            proxy_pass http://127.0.0.1:$HTTP_ECHO_PORT;
        }
    }
}
EOF
"$NGINX" -t -e "$T/run/nginx-error.log" -p "$T/run" -c "$T/nginx.conf" > "$T/log/configtest.log" 2>&1 ||
	{ cat "$T/log/configtest.log" >&2; die "nginx rejects its configuration"; }
bg nginx "$NGINX" -e "$T/run/nginx-error.log" -p "$T/run" -c "$T/nginx.conf"
wait_port "$PORT" || die "nginx did not start"
BASE=http://127.0.0.1:$PORT

note "identity: proxied HTTP backend (headers)"
ID_NAMES="X-Keygate-Org-Id X-Keygate-Plan X-Keygate-Key-Id X-Keygate-Key-Mode X-Keygate-User-Id"
ID_FMT="header %s: %s"
run_identity "$BASE/api/proxy/v1/x"

note "identity: FastCGI backend (params)"
ID_NAMES="ORG_ID PLAN KEY_ID KEY_MODE USER_ID" ID_FMT="param %s=%s"
run_identity "$BASE/api/fcgi/v1/x"
req "FastCGI: REMOTE_USER is the key id" -H "Authorization: Bearer $KEY_LIVE" "$BASE/api/fcgi/v1/x"
expect_line "param REMOTE_USER=$KEY_LIVE_ID"

note "denials through the error_page replay: keygate's status, headers, JSON"
run_denials "$BASE/api/proxy/v1/x" expect_denial

note "soft overage and rotation"
ID_FMT="header %s: %s"
run_lifecycle "$BASE/api/proxy/v1/x" expect_denial X-Keygate-Quota-Exceeded
req "denial headers" "$BASE/api/proxy/v1/x"
expect_header Cache-Control no-store
req "the replay location is not reachable" -H "Authorization: Bearer $KEY_LIVE" "$BASE/.keygate/auth"
expect_status 404

note "repeated and empty headers: each copy is a param of its own"
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

note "revocation"
run_revoke "$BASE/api/fcgi/v1/x"

note "authorizer hung (SIGSTOP): 504 after fastcgi_read_timeout, twice (5 s + 5 s)"
freeze "$MAIN_AUTHZ"
req "authorizer hung" -H "Authorization: Bearer $KEY_LIVE" "$BASE/api/proxy/v1/x"
expect_status 504
if [ "$ELAPSED" -le 15 ]; then pass "authorizer hung: answered in ${ELAPSED} s"
else fail "authorizer hung: answered in ${ELAPSED} s, expected about 10"; fi
thaw "$MAIN_AUTHZ"

note "authorizer stopped: 502"
stop_tree "$MAIN_AUTHZ"
untrack "$MAIN_AUTHZ"
req "authorizer stopped" -H "Authorization: Bearer $KEY_LIVE" "$BASE/api/proxy/v1/x"
expect_status 502

note "store unreadable: keygate-authz refuses to start, nginx answers 502"
chmod 000 "$T/db"
rm -f "$SOCK"
as_web "$AUTHZ" --db "$T/db" --listen "unix:$SOCK" > "$T/log/authz-nostore.log" 2>&1
rc=$?
if [ "$rc" != 0 ]; then pass "keygate-authz exits ($rc) on an unreadable store"
else fail "keygate-authz started on an unreadable store"; fi
req "store unreadable" -H "Authorization: Bearer $KEY_LIVE" "$BASE/api/proxy/v1/x"
expect_status 502
chmod 2770 "$T/db"

note "authorizer back: requests pass again"
start_authz authz2 "unix:$SOCK"
req "authorizer restarted" -H "Authorization: Bearer $KEY_LIVE" "$BASE/api/proxy/v1/x"
expect_status 200

expect_no_key_in_logs "$KEY_LIVE" "$KEY_OTHER" "$KEY_HOSTS" "$KEY_TEST"
finish
