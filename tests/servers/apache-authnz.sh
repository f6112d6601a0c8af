#!/bin/bash
# keygate behind real Apache httpd with mod_authnz_fcgi, configured by
# contrib/apache/keygate-authnz-fcgi.conf as shipped (included unchanged).
# Backends: CGI (mod_cgid), proxied HTTP (mod_proxy_http), FastCGI
# (mod_proxy_fcgi).
# shellcheck source=tests/servers/lib.sh
. "${top_srcdir:-.}/tests/servers/lib.sh"

[ -x "$APACHE" ] || skip "Apache httpd ($APACHE) is not installed"
[ -f "$APACHE_MODS/mod_authnz_fcgi.so" ] || skip "mod_authnz_fcgi is not installed"

sandbox
make_store
start_http_echo
start_fcgi_echo

# Two servers: "main" for the checks, "hung" whose authorizer is stopped
# from the start.  mod_authnz_fcgi's timeout is fixed at 30 s; waiting for
# it alongside the other checks keeps the test short.
site() {
	cat <<-EOF
	Define KEYGATE_AUTHZ 127.0.0.1:$1
	Define KEYGATE_LOCATION /api/
	Include $CONTRIB/apache/keygate-authnz-fcgi.conf
	ScriptAliasMatch ^/api/cgi/ $T/cgi-bin/echo
	ProxyPass /api/proxy/ http://127.0.0.1:$HTTP_ECHO_PORT/api/proxy/
	ProxyPass /api/fcgi/ fcgi://127.0.0.1:$FCGI_ECHO_PORT/api/fcgi/
	EOF
}
MODS="authnz_fcgi headers alias cgid proxy proxy_http proxy_fcgi"

AZ_PORT=$(free_port)
start_authz authz "127.0.0.1:$AZ_PORT"
MAIN_AUTHZ=$AUTHZ_PID
PORT=$(free_port)
VPORT=$(free_port)
# shellcheck disable=SC2086
apache_conf main "$PORT" $MODS
site "$AZ_PORT" >> "$T/main/httpd.conf"
# Name-based virtual hosts on a port of their own: the internal one is the
# default (first) one.  They inherit the keygate <Location> and the CGI.
cat >> "$T/main/httpd.conf" <<EOF
Listen 127.0.0.1:$VPORT
<VirtualHost 127.0.0.1:$VPORT>
    ServerName db.internal.example.com
    ServerAlias *.internal.example.com
</VirtualHost>
<VirtualHost 127.0.0.1:$VPORT>
    ServerName api.example.com
</VirtualHost>
EOF
start_apache main "$PORT"

HUNG_AZ_PORT=$(free_port)
start_authz authz-hung "127.0.0.1:$HUNG_AZ_PORT"
HUNG_AUTHZ=$AUTHZ_PID
HUNG_PORT=$(free_port)
# shellcheck disable=SC2086
apache_conf hung "$HUNG_PORT" $MODS
site "$HUNG_AZ_PORT" >> "$T/hung/httpd.conf"
start_apache hung "$HUNG_PORT"
freeze "$HUNG_AUTHZ"
curl -s -o "$T/hung.b" -D "$T/hung.h" -w '%{http_code} %{time_total}' --max-time 50 \
	-H "Authorization: Bearer $KEY_LIVE" "http://127.0.0.1:$HUNG_PORT/api/cgi/x" > "$T/hung.out" 2>&1 &
HUNG_CURL=$!
track "$HUNG_CURL"

BASE=http://127.0.0.1:$PORT

note "identity: CGI backend (environment)"
ID_NAMES="Org_Id Plan Key_Id Key_Mode User_Id" ID_FMT="%s=%s"
run_identity "$BASE/api/cgi/v1/x"
req "REMOTE_USER is the key id" -H "Authorization: Bearer $KEY_LIVE" "$BASE/api/cgi/v1/x"
expect_line "REMOTE_USER=$KEY_LIVE_ID"

note "identity: proxied HTTP backend (headers)"
ID_NAMES="X-Keygate-Org-Id X-Keygate-Plan X-Keygate-Key-Id X-Keygate-Key-Mode X-Keygate-User-Id"
ID_FMT="header %s: %s"
run_identity "$BASE/api/proxy/v1/x"

note "identity: FastCGI backend (mod_proxy_fcgi params)"
ID_NAMES="Org-Id Plan Key-Id Key-Mode User-Id" ID_FMT="param %s=%s"
run_identity "$BASE/api/fcgi/v1/x"

note "denials: keygate's status, headers and JSON body"
run_denials "$BASE/api/cgi/v1/x" expect_denial

note "soft overage and rotation"
ID_FMT="%s=%s"
run_lifecycle "$BASE/api/cgi/v1/x" expect_denial Quota_Exceeded
# Apache keeps the authorizer's other headers
req "denial headers" "$BASE/api/cgi/v1/x"
expect_header Cache-Control no-store

note "repeated and empty headers: Apache joins the copies with ', '"
run_repeated "$BASE/api/cgi/v1/x" expect_denial
run_repeated_auth "$BASE/api/cgi/v1/x" expect_denial

note "host rules see the host Apache routed on"
VBASE=http://127.0.0.1:$VPORT
run_hosts "$VBASE/api/cgi/v1/x" expect_denial
# Apache takes the host of an absolute-form request line and rewrites Host from it.
req "host rules: absolute-form URI of an internal host, Host: api.example.com" \
	--request-target "http://db.internal.example.com/api/cgi/v1/x" -H "Host: api.example.com" \
	-H "Authorization: Bearer $KEY_HOSTS" "$VBASE/"
expect_denial 403 forbidden
req "host rules: absolute-form URI of an outside host, Host: db.internal.example.com" \
	--request-target "http://api.example.com/api/cgi/v1/x" -H "Host: db.internal.example.com" \
	-H "Authorization: Bearer $KEY_HOSTS" "$VBASE/"
expect_status 200
expect_line "HTTP_HOST=api.example.com"

note "keys in query strings stay out of the logs"
run_query_key_log "$BASE/api/cgi/v1/x"

note "revocation"
run_revoke "$BASE/api/proxy/v1/x"

note "authorizer stopped: Apache's own 500, not JSON"
stop_tree "$MAIN_AUTHZ"
untrack "$MAIN_AUTHZ"
req "authorizer stopped" -H "Authorization: Bearer $KEY_LIVE" "$BASE/api/cgi/v1/x"
expect_status 500
expect_header_match Content-Type '^text/html'

note "store unreadable: keygate-authz refuses to start, Apache answers 500"
chmod 000 "$T/db"
as_web "$AUTHZ" --db "$T/db" --listen "127.0.0.1:$AZ_PORT" > "$T/log/authz-nostore.log" 2>&1
rc=$?
if [ "$rc" != 0 ] && grep -q . "$T/log/authz-nostore.log"; then
	pass "keygate-authz exits ($rc) on an unreadable store: $(head -n 1 "$T/log/authz-nostore.log")"
else
	fail "keygate-authz started on an unreadable store (status $rc)"
fi
req "store unreadable" -H "Authorization: Bearer $KEY_LIVE" "$BASE/api/cgi/v1/x"
expect_status 500
chmod 2770 "$T/db"

note "authorizer back: requests pass again"
start_authz authz2 "127.0.0.1:$AZ_PORT"
req "authorizer restarted" -H "Authorization: Bearer $KEY_LIVE" "$BASE/api/cgi/v1/x"
expect_status 200

note "authorizer hung (SIGSTOP): 500 after mod_authnz_fcgi's fixed 30 s"
wait "$HUNG_CURL"
untrack "$HUNG_CURL"
read -r hung_code hung_time < "$T/hung.out"
REQ_DESC="authorizer hung" CODE=$hung_code
cp "$T/hung.h" "$T/resp.h" 2>/dev/null
cp "$T/hung.b" "$T/resp.b" 2>/dev/null
expect_status 500
note "answered after ${hung_time} s"
thaw "$HUNG_AUTHZ"

expect_no_key_in_logs "$KEY_LIVE" "$KEY_OTHER" "$KEY_HOSTS" "$KEY_TEST"
finish
