#!/bin/bash
# keygate behind real lighttpd ("mode" => "authorizer"), configured by
# contrib/lighttpd/keygate.conf as shipped (included unchanged): lighttpd
# spawns keygate-authz.  Backends: CGI (mod_cgi) and proxied HTTP
# (mod_proxy, which gets no identity).
# shellcheck source=tests/servers/lib.sh
. "${top_srcdir:-.}/tests/servers/lib.sh"

LIGHTTPD=/usr/sbin/lighttpd
[ -x "$LIGHTTPD" ] || skip "lighttpd is not installed"

sandbox
make_store
start_http_echo

PORT=$(free_port)
cat > "$T/lighttpd.conf" <<EOF
server.bind = "127.0.0.1"
server.port = $PORT
server.document-root = "$T/www"
server.errorlog = "$T/run/lighttpd-error.log"
server.pid-file = "$T/run/lighttpd.pid"
$( [ "$(id -u)" = 0 ] && printf 'server.username = "%s"\nserver.groupname = "%s"\n' "$WEB_USER" "$WEB_GROUP" )

var.keygate_authz    = "$AUTHZ"
var.keygate_db       = "$T/db"
var.keygate_socket   = "$T/run/keygate-authz.sock"
var.keygate_location = "/api/"
include "$CONTRIB/lighttpd/keygate.conf"

# after the include: mod_fastcgi must come before mod_proxy
server.modules += ( "mod_alias", "mod_cgi", "mod_proxy" )
\$HTTP["url"] =^ "/api/cgi/" {
    alias.url = ( "/api/cgi" => "$T/cgi-bin/echo" )
    cgi.assign = ( "" => "" )
}
\$HTTP["url"] =^ "/api/proxy/" {
    proxy.server = ( "" => (( "host" => "127.0.0.1", "port" => $HTTP_ECHO_PORT )) )
}
EOF
"$LIGHTTPD" -tt -f "$T/lighttpd.conf" > "$T/log/configtest.log" 2>&1 ||
	{ cat "$T/log/configtest.log" >&2; die "lighttpd rejects its configuration"; }
bg lighttpd "$LIGHTTPD" -D -f "$T/lighttpd.conf"
LIGHTTPD_PID=$BG_PID
wait_port "$PORT" || die "lighttpd did not start"
BASE=http://127.0.0.1:$PORT

# The keygate-authz processes lighttpd started.
spawned() {
	local p
	for p in $(descendants "$LIGHTTPD_PID"); do
		case $(ps -o comm= -p "$p" 2>/dev/null) in keygate-authz) echo "$p" ;; esac
	done
}

note "identity: CGI backend (environment)"
ID_NAMES="ORG_ID PLAN KEY_ID KEY_MODE USER_ID" ID_FMT="%s=%s"
run_identity "$BASE/api/cgi/v1/x"

note "proxied HTTP backend: requests pass, no identity, forged headers removed"
req "proxy: Bearer key" -H "Authorization: Bearer $KEY_LIVE" "$BASE/api/proxy/v1/x"
expect_status 200
# shellcheck disable=SC2086
req "proxy: forged identity headers" -H "Authorization: Bearer $KEY_TEST" $FORGED "$BASE/api/proxy/v1/x"
expect_status 200
expect_absent evil
expect_absent X-Keygate-
req "proxy: no key" "$BASE/api/proxy/v1/x"
expect_denial 401 missing_api_key

note "denials: keygate's status, headers and JSON body"
run_denials "$BASE/api/cgi/v1/x" expect_denial

note "soft overage and rotation"
ID_FMT="%s=%s"
run_lifecycle "$BASE/api/cgi/v1/x" expect_denial QUOTA_EXCEEDED
req "denial headers" "$BASE/api/cgi/v1/x"
expect_header Cache-Control no-store

note "repeated and empty headers: lighttpd joins the copies with ', '"
run_repeated "$BASE/api/cgi/v1/x" expect_denial
run_repeated_auth "$BASE/api/cgi/v1/x" expect_denial

note "host rules see the host lighttpd routed on"
run_hosts "$BASE/api/cgi/v1/x" expect_denial
# lighttpd takes the host of an absolute-form request line, and refuses one
# that differs from the Host header.
req "host rules: absolute-form URI of an internal host, Host: api.example.com" \
	--request-target "http://db.internal.example.com/api/cgi/v1/x" -H "Host: api.example.com" \
	-H "Authorization: Bearer $KEY_HOSTS" "$BASE/"
expect_status 400
req "host rules: absolute-form URI of an internal host, HTTP/1.0 without Host" -0 \
	--request-target "http://db.internal.example.com/api/cgi/v1/x" -H "Host:" \
	-H "Authorization: Bearer $KEY_HOSTS" "$BASE/"
expect_denial 403 forbidden

note "keys in query strings stay out of the logs"
run_query_key_log "$BASE/api/cgi/v1/x"

note "revocation"
run_revoke "$BASE/api/cgi/v1/x"

run_spawned_faults "$BASE/api/cgi/v1/x" lighttpd read-timeout

expect_no_key_in_logs "$KEY_LIVE" "$KEY_OTHER" "$KEY_HOSTS" "$KEY_TEST"
finish
