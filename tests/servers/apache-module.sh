#!/bin/bash
# keygate inside real Apache httpd (event MPM): mod_keygate, configured by
# contrib/apache/keygate-module.conf as shipped (included unchanged), the
# same checks as the FastCGI paths (apache-authnz.sh) plus what only a
# module has: a store that cannot be opened (503 with keygate's body), a
# child killed, a rate limit shared with a keygate-authz on the same store.
# Backends: CGI (mod_cgid), proxied HTTP (mod_proxy_http), FastCGI
# (mod_proxy_fcgi).
# shellcheck source=tests/servers/lib.sh
. "${top_srcdir:-.}/tests/servers/lib.sh"

MODULE=$top_builddir/modules/apache/mod_keygate.so
[ -x "$APACHE" ] || skip "Apache httpd ($APACHE) is not installed"
[ -f "$MODULE" ] || skip "mod_keygate was not built (no apxs: apache2-dev; or a sanitizer build, which builds no module)"

sandbox
install -m 644 "$MODULE" "$T/bin/mod_keygate.so" || die "cannot copy $MODULE"
make_store
start_http_echo
start_fcgi_echo

PORT=$(free_port)
VPORT=$(free_port)
apache_conf main "$PORT" headers alias cgid proxy proxy_http proxy_fcgi
cat >> "$T/main/httpd.conf" <<EOF
LoadModule keygate_module $T/bin/mod_keygate.so
KeygateStore $T/db
Define KEYGATE_LOCATION /api/
Include $CONTRIB/apache/keygate-module.conf
ScriptAliasMatch ^/api/cgi/ $T/cgi-bin/echo
ProxyPass /api/proxy/ http://127.0.0.1:$HTTP_ECHO_PORT/api/proxy/
ProxyPass /api/fcgi/ fcgi://127.0.0.1:$FCGI_ECHO_PORT/api/fcgi/
# Name-based virtual hosts on a port of their own: the internal one is the
# default (first) one.  They inherit the keygate <Location> and the CGI.
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
BASE=http://127.0.0.1:$PORT
ELOG=$T/log/main-error.log

note "identity: CGI backend (environment)"
ID_NAMES="Org_Id Plan Key_Id Key_Mode User_Id" ID_FMT="%s=%s"
run_identity "$BASE/api/cgi/v1/x"
req "REMOTE_USER is the key id" -H "Authorization: Bearer $KEY_LIVE" "$BASE/api/cgi/v1/x"
expect_line "REMOTE_USER=$KEY_LIVE_ID"
expect_line "AUTH_TYPE=keygate"

note "identity: proxied HTTP backend (headers)"
ID_NAMES="X-Keygate-Org-Id X-Keygate-Plan X-Keygate-Key-Id X-Keygate-Key-Mode X-Keygate-User-Id"
ID_FMT="header %s: %s"
run_identity "$BASE/api/proxy/v1/x"

note "identity: FastCGI backend (mod_proxy_fcgi params)"
ID_NAMES="Org-Id Plan Key-Id Key-Mode User-Id" ID_FMT="param %s=%s"
run_identity "$BASE/api/fcgi/v1/x"

note "denials: keygate's status, headers and JSON body, no ErrorDocument"
run_denials "$BASE/api/cgi/v1/x" expect_denial
req "denial headers" "$BASE/api/cgi/v1/x"
expect_header Cache-Control no-store
req "a denial of HEAD: status and headers, no body" -I "$BASE/api/cgi/v1/x"
expect_status 401
expect_header Content-Type application/json

note "soft overage and rotation"
ID_FMT="%s=%s"
run_lifecycle "$BASE/api/cgi/v1/x" expect_denial Quota_Exceeded

note "repeated and empty headers: Apache joins the copies with ', '"
run_repeated "$BASE/api/cgi/v1/x" expect_denial
run_repeated_auth "$BASE/api/cgi/v1/x" expect_denial

note "host rules see the host Apache routed on"
VBASE=http://127.0.0.1:$VPORT
run_hosts "$VBASE/api/cgi/v1/x" expect_denial
req "host rules: absolute-form URI of an internal host, Host: api.example.com" \
	--request-target "http://db.internal.example.com/api/cgi/v1/x" -H "Host: api.example.com" \
	-H "Authorization: Bearer $KEY_HOSTS" "$VBASE/"
expect_denial 403 forbidden
req "host rules: absolute-form URI of an outside host, Host: db.internal.example.com" \
	--request-target "http://api.example.com/api/cgi/v1/x" -H "Host: db.internal.example.com" \
	-H "Authorization: Bearer $KEY_HOSTS" "$VBASE/"
expect_status 200

note "keys in query strings stay out of the logs"
run_query_key_log "$BASE/api/cgi/v1/x"

note "revocation: the very next request"
run_revoke "$BASE/api/proxy/v1/x"

note "a rate limit shared with keygate-authz on the same store is exact"
run_shared_limit "$BASE/api/proxy/v1/x"

note "a child killed (SIGKILL): Apache starts another, requests pass, no recovery storm"
# a child that serves requests: many threads (mod_cgid's daemon has one)
workers() { ps -o pid=,nlwp= --ppid "$APACHE_PID" | awk '$2 > 1 { print $1 }'; }
child=$(workers | head -n 1)
[ -n "$child" ] || die "Apache has no child serving requests"
reopens_before=$(grep -c 'store reopened' "$ELOG")
kill -KILL "$child"
sleep 1
bad=0
for i in $(seq 30); do
	req "after a child was killed, request $i" -H "Authorization: Bearer $KEY_LIVE" "$BASE/api/cgi/v1/x"
	[ "$CODE" = 200 ] || bad=$((bad + 1))
done
REQ_DESC="after a child was killed"
if [ "$bad" = 0 ]; then pass "$REQ_DESC: 30 requests, all 200"
else fail "$REQ_DESC: $bad of 30 requests were not 200"; fi
reopens=$(( $(grep -c 'store reopened' "$ELOG") - reopens_before ))
children=$(workers | wc -l)
if [ "$reopens" -le "$children" ]; then pass "$REQ_DESC: $reopens reopens for $children children"
else fail "$REQ_DESC: $reopens store reopens for $children children"; fi

note "store unreadable: new children answer 503 with keygate's body, never the backend"
chmod 000 "$T/db"
kill -USR1 "$APACHE_PID" # graceful restart: new children open the store anew
if wait_status 503 15 "store unreadable" -H "Authorization: Bearer $KEY_LIVE" "$BASE/api/cgi/v1/x"; then
	expect_denial 503 unavailable
else
	fail "store unreadable: status $CODE, expected 503"
fi
req "store unreadable, a POST to the proxy" -X POST -d x=1 -H "X-Api-Key: $KEY_LIVE" "$BASE/api/proxy/v1/x"
expect_denial 503 unavailable
grep -q 'every request is answered 503' "$ELOG" && pass "store unreadable: logged" ||
	fail "store unreadable: no line in the error log"
chmod 2770 "$T/db"
if wait_status 200 10 "store readable again" -H "Authorization: Bearer $KEY_LIVE" "$BASE/api/cgi/v1/x"; then
	pass "store readable again: the same children open it (within seconds)"
else
	fail "store readable again: still $CODE"
fi

expect_no_key_in_logs "$KEY_LIVE" "$KEY_OTHER" "$KEY_HOSTS" "$KEY_TEST" "$KEY_SHARED"
finish
