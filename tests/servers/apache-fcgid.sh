#!/bin/bash
# keygate behind real Apache httpd with mod_fcgid (FcgidAccessChecker),
# configured by contrib/apache/keygate-fcgid.conf as shipped (included
# unchanged): mod_fcgid spawns keygate-authz, and the ErrorDocument replay
# turns mod_fcgid's blanket 401 back into keygate's typed answer.
# Backends: CGI (mod_cgid) and proxied HTTP (mod_proxy_http).
# shellcheck source=tests/servers/lib.sh
. "${top_srcdir:-.}/tests/servers/lib.sh"

[ -x "$APACHE" ] || skip "Apache httpd ($APACHE) is not installed"
[ -f "$APACHE_MODS/mod_fcgid.so" ] || skip "mod_fcgid (libapache2-mod-fcgid) is not installed"

sandbox
make_store
start_http_echo

PORT=$(free_port)
apache_conf main "$PORT" fcgid headers env alias cgid proxy proxy_http
cat >> "$T/main/httpd.conf" <<EOF
FcgidIPCDir $T/main/rt/fcgid
FcgidProcessTableFile $T/main/rt/fcgid_shm
Define KEYGATE_AUTHZ_BIN $AUTHZ
Define KEYGATE_DB $T/db
Define KEYGATE_LOCATION /api/
Include $CONTRIB/apache/keygate-fcgid.conf
ScriptAliasMatch ^/api/cgi/ $T/cgi-bin/echo
ScriptAliasMatch ^/api/plain/ $T/cgi-bin/echo
ProxyPass /api/proxy/ http://127.0.0.1:$HTTP_ECHO_PORT/api/proxy/
# Without the replay: what mod_fcgid does on its own.
<Location /api/plain/>
    ErrorDocument 401 default
</Location>
EOF
start_apache main "$PORT"
BASE=http://127.0.0.1:$PORT

# The keygate-authz processes mod_fcgid started.
spawned() {
	local p
	for p in $(descendants "$APACHE_PID"); do
		case $(ps -o comm= -p "$p" 2>/dev/null) in keygate-authz) echo "$p" ;; esac
	done
}

note "identity: CGI backend (environment)"
ID_NAMES="Org_Id Plan Key_Id Key_Mode User_Id" ID_FMT="%s=%s"
run_identity "$BASE/api/cgi/v1/x"

note "identity: proxied HTTP backend (headers)"
ID_NAMES="X-Keygate-Org-Id X-Keygate-Plan X-Keygate-Key-Id X-Keygate-Key-Mode X-Keygate-User-Id"
ID_FMT="header %s: %s"
run_identity "$BASE/api/proxy/v1/x"

note "denials through the ErrorDocument replay: keygate's status, headers, JSON"
# The replay is an ErrorDocument: Apache fetches it with GET, and
# keygate-authz judges the client's method from REDIRECT_REQUEST_METHOD.
# shellcheck disable=SC2317  # called through run_denials
fcgid_denial() {
	expect_denial "$@"
}
run_denials "$BASE/api/cgi/v1/x" fcgid_denial

note "soft overage and rotation"
ID_FMT="%s=%s"
run_lifecycle "$BASE/api/cgi/v1/x" fcgid_denial Quota_Exceeded
req "denial headers, once each" "$BASE/api/cgi/v1/x"
expect_header Cache-Control no-store
req "the replay asked directly" -H "Authorization: Bearer $KEY_LIVE" "$BASE/keygate-denied"
expect_status 403

note "without the replay: mod_fcgid's own 401 page, keygate's headers kept"
req "plain: no key" "$BASE/api/plain/x"
expect_status 401
expect_header_match Content-Type '^text/html'
expect_header WWW-Authenticate "Bearer realm=\"$REALM\""
req "plain: suspended org (403)" -H "Authorization: Bearer $KEY_FROZEN" "$BASE/api/plain/x"
expect_status 401
expect_header_match Content-Type '^text/html'
expect_no_header WWW-Authenticate
req "plain: rate limited (429)" -H "Authorization: Bearer $KEY_SLOW" "$BASE/api/plain/x"
expect_status 401
expect_header_match Retry-After '^[0-9]+$'

note "repeated and empty headers: Apache joins the copies with ', '"
run_repeated "$BASE/api/cgi/v1/x" fcgid_denial
run_repeated_auth "$BASE/api/cgi/v1/x" fcgid_denial

note "host rules see the host Apache routed on"
run_hosts "$BASE/api/cgi/v1/x" fcgid_denial

note "keys in query strings stay out of the logs"
run_query_key_log "$BASE/api/cgi/v1/x"

note "revocation"
run_revoke "$BASE/api/proxy/v1/x"

run_spawned_faults "$BASE/api/cgi/v1/x" mod_fcgid FcgidIOTimeout

expect_no_key_in_logs "$KEY_LIVE" "$KEY_OTHER" "$KEY_HOSTS" "$KEY_TEST"
finish
