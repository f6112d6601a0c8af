#!/bin/bash
# keygate-api behind real Apache httpd (mod_proxy_fcgi), lighttpd and
# nginx, configured by contrib/*/keygate-api.conf as shipped (included
# unchanged; for nginx the test writes its own upstream block for the
# sandbox's socket), each next to a location that keygate-authz protects
# on the same server.  Through each server, with curl:
#   - GET /keygate/v1/health without a key; HEAD (no body); an
#     absolute-form request line (Apache passes it as REQUEST_URI)
#   - a customer's key with keys:write creates a key (POST, JSON body, by
#     Content-Length and chunked), the new key works at once on the API and
#     at the protected location, is revoked (DELETE) and is a 401 on both
#     at the very next request
#   - Authorization: Bearer and X-Api-Key both reach keygate-api (and for
#     Apache: without CGIPassAuth On, Bearer keys do not)
#   - a body of 64 KiB passes, one byte more is a 413 (by Content-Length
#     and chunked)
#   - 405 with Allow, 401 with WWW-Authenticate, JSON errors with their
#     Content-Type, as keygate-api wrote them
#   - no key in any log: the servers' access and error logs, keygate-api's
#     and keygate-authz's
#   - keygate-api stopped (nginx, Apache: the server's 5xx, the protected
#     location unharmed) or killed (lighttpd starts another)
# shellcheck source=tests/servers/lib.sh
. "${top_srcdir:-.}/tests/servers/lib.sh"
: "${KEYGATE_API:?run me from make check}"

APACHE_OK=1 LIGHTTPD_OK=1 NGINX_OK=1
{ [ -x "$APACHE" ] && [ -f "$APACHE_MODS/mod_proxy_fcgi.so" ] &&
	[ -f "$APACHE_MODS/mod_authnz_fcgi.so" ]; } || APACHE_OK=""
[ -x /usr/sbin/lighttpd ] || LIGHTTPD_OK=""
[ -x /usr/sbin/nginx ] || NGINX_OK=""
[ -n "$APACHE_OK$LIGHTTPD_OK$NGINX_OK" ] || skip "none of Apache, lighttpd, nginx is installed"

sandbox
install -m 755 "$KEYGATE_API" "$T/bin/keygate-api" || die "cannot copy $KEYGATE_API"
API=$T/bin/keygate-api
make_store
new_key KEY_W --org acme --scope keys:write --scope keys:read
start_http_echo
# Keys made through the API, for the log check at the end.
MADE=""

# start_api NAME SOCKET: keygate-api --listen unix:SOCKET as the web user.
start_api() {
	bg "$1" as_web "$API" --db "$T/db" --listen "unix:$2" --workers 2 --socket-mode 0660
	API_PID=$BG_PID
	wait_for -S "$2" || { cat "$T/log/$1.log" >&2; die "keygate-api ($1) did not start"; }
}

# api_stopped SERVER BASE PID STATUS: keygate-api (PID) stopped: the server
# answers STATUS (its own page), and the protected location still works.
api_stopped() {
	note "$1: keygate-api stopped"
	stop_tree "$3"
	untrack "$3"
	req "$1: keygate-api stopped" -H "X-Api-Key: $KEY_W" "$2/keygate/v1/self"
	expect_status "$4"
	req "$1: keygate-api stopped, the protected location" -H "X-Api-Key: $KEY_LIVE" "$2/api/v1/x"
	expect_status 200
}

# A member of the JSON body of the last answer: jget key | jget object id.
jget() {
	python3 - "$T/resp.b" "$@" <<-'EOF'
	import json, sys
	try:
	    d = json.load(open(sys.argv[1], encoding="utf-8"))
	    for k in sys.argv[2:]:
	        d = d[k]
	except (ValueError, KeyError, TypeError):
	    d = "(none)"
	print("null" if d is None else d)
	EOF
}

expect_json_member() { # NAME... VALUE: the body's member is VALUE
	local want=${*: -1} got
	got=$(jget "${@:1:$#-1}")
	if [ "$got" = "$want" ]; then pass "$REQ_DESC: ${*:1:$#-1} is $want"
	else fail "$REQ_DESC: ${*:1:$#-1} is '$got', expected '$want'"; fi
}

# head_body URL: HEAD over a raw connection (curl stops at the headers
# whatever follows): the bytes the server sent after them.
head_body() {
	python3 - "$1" <<-'EOF'
	import socket, sys, urllib.parse
	u = urllib.parse.urlsplit(sys.argv[1])
	s = socket.create_connection((u.hostname, u.port), timeout=10)
	s.sendall(b"HEAD %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (u.path.encode(), u.netloc.encode()))
	out = b""
	while True:
	    c = s.recv(65536)
	    if not c:
	        break
	    out += c
	print(len(out.partition(b"\r\n\r\n")[2]))
	EOF
}

# A body of exactly N bytes that keygate-api accepts for POST /v1/self:
# {} and blanks.
padded_body() {
	python3 -c 'import sys; n = int(sys.argv[1]); sys.stdout.write("{}" + " " * (n - 2))' "$1" > "$2"
}
padded_body 65536 "$T/body-64k"
padded_body 65537 "$T/body-64k+1"

# Who answered a 413: keygate-api's JSON, or the server's own page.
who_413() {
	if [ "$(hdr Content-Type)" = application/json ]; then echo "keygate-api (JSON too_large)"
	else echo "the server ($(hdr Content-Type | cut -d';' -f1))"; fi
}

# run_api SERVER BASE GATE: the scenario, through the server at BASE
# (keygate-api under /keygate/), GATE a URL of the location keygate-authz
# protects there (its backend echoes the request).
run_api() {
	local server=$1 api=$2/keygate/v1 gate=$3 new new_id chunked chunked_id n

	note "$server: health, no key needed; HEAD"
	req "$server: health" "$api/health"
	expect_status 200
	expect_header Content-Type application/json
	expect_json_member status ok
	req "$server: HEAD health" -I "$api/health"
	expect_status 200
	expect_header Content-Type application/json
	n=$(head_body "$api/health")
	if [ "$n" = 0 ]; then pass "$REQ_DESC: no body"
	else fail "$REQ_DESC: a body of '$n' bytes after the headers"; fi

	req "$server: an absolute-form request line" --request-target "$api/health" "$2/"
	expect_status 200
	expect_json_member status ok
	note "$server: the caller's key, by Bearer and by X-Api-Key"
	req "$server: no key" "$api/self"
	expect_denial 401 missing_api_key
	req "$server: Bearer" -H "Authorization: Bearer $KEY_W" "$api/self"
	expect_status 200
	expect_json_member key id "$KEY_W_ID"
	req "$server: X-Api-Key" -H "X-Api-Key: $KEY_W" "$api/self"
	expect_status 200
	expect_json_member key id "$KEY_W_ID"
	req "$server: an unknown key" -H "Authorization: Bearer ${KEY_W%??????}AAAAAA" "$api/self"
	expect_denial 401 invalid_api_key

	note "$server: a customer creates a key with its own, uses it, revokes it"
	req "$server: POST /v1/keys" -X POST -H "Authorization: Bearer $KEY_W" \
		-H "Content-Type: application/json" --data "{\"name\":\"made through $server\"}" "$api/keys"
	expect_status 201
	expect_header Content-Type application/json
	expect_json_member object name "made through $server"
	new=$(jget key) new_id=$(jget object id)
	MADE="$MADE $new"
	req "$server: the new key on the API" -H "X-Api-Key: $new" "$api/self"
	expect_status 200
	expect_json_member key id "$new_id"
	req "$server: the new key at the protected location" -H "Authorization: Bearer $new" "$gate"
	expect_status 200
	expect_line "${GATE_ID_LINE}$new_id"
	req "$server: POST /v1/keys, chunked" -X POST -H "X-Api-Key: $KEY_W" \
		-H "Content-Type: application/json" -H "Transfer-Encoding: chunked" \
		--data "{\"name\":\"chunked through $server\"}" "$api/keys"
	expect_status 201
	chunked=$(jget key) chunked_id=$(jget object id)
	MADE="$MADE $chunked"
	expect_json_member object name "chunked through $server"
	req "$server: DELETE /v1/keys/ID" -X DELETE -H "Authorization: Bearer $KEY_W" "$api/keys/$new_id"
	expect_status 200
	expect_json_member state revoked
	req "$server: the revoked key on the API" -H "X-Api-Key: $new" "$api/self"
	expect_denial 401 invalid_api_key
	req "$server: the revoked key at the protected location" -H "Authorization: Bearer $new" "$gate"
	expect_denial 401 invalid_api_key
	req "$server: the other new key still works" -H "Authorization: Bearer $chunked" "$gate"
	expect_status 200
	req "$server: ... until revoked too" -X DELETE -H "X-Api-Key: $KEY_W" "$api/keys/$chunked_id"
	expect_status 200
	req "$server: ... then a 401" -H "Authorization: Bearer $chunked" "$gate"
	expect_denial 401 invalid_api_key

	note "$server: errors as keygate-api writes them"
	req "$server: PUT /v1/keys" -X PUT -H "Authorization: Bearer $KEY_W" "$api/keys"
	expect_status 405
	expect_header Allow "GET, HEAD, POST"
	expect_header Content-Type application/json
	expect_json_error method_not_allowed
	req "$server: an unknown path" -H "Authorization: Bearer $KEY_W" "$api/nothing"
	expect_status 404
	expect_header Content-Type application/json
	expect_json_error not_found
	req "$server: a body that is not JSON" -X POST -H "Authorization: Bearer $KEY_W" \
		-H "Content-Type: application/json" --data '{"name":' "$api/keys"
	expect_status 400
	expect_header Content-Type application/json
	expect_json_error invalid_request
	req "$server: no scope" -H "Authorization: Bearer $KEY_LIVE" "$api/keys"
	expect_status 403
	expect_json_error insufficient_scope

	note "$server: bodies up to 64 KiB"
	req "$server: a body of 64 KiB" -X POST -H "X-Api-Key: $KEY_W" -H "Content-Type: application/json" \
		--data-binary "@$T/body-64k" "$api/self"
	expect_status 200
	req "$server: a body of 64 KiB + 1" -X POST -H "X-Api-Key: $KEY_W" -H "Content-Type: application/json" \
		--data-binary "@$T/body-64k+1" "$api/self"
	expect_status 413
	note "$server: 413 by Content-Length from $(who_413)"
	req "$server: a chunked body of 64 KiB" -X POST -H "X-Api-Key: $KEY_W" \
		-H "Content-Type: application/json" -H "Transfer-Encoding: chunked" \
		--data-binary "@$T/body-64k" "$api/self"
	expect_status 200
	req "$server: a chunked body of 64 KiB + 1" -X POST -H "X-Api-Key: $KEY_W" \
		-H "Content-Type: application/json" -H "Transfer-Encoding: chunked" \
		--data-binary "@$T/body-64k+1" "$api/self"
	expect_status 413
	note "$server: 413 chunked from $(who_413)"

	note "$server: the protected location still asks keygate-authz"
	req "$server: the protected location without a key" "$gate"
	expect_denial 401 missing_api_key
}

# ---- nginx -----------------------------------------------------------

if [ -n "$NGINX_OK" ]; then
	AZ_SOCK=$T/run/authz-nginx.sock
	API_SOCK=$T/run/api-nginx.sock
	start_authz authz-nginx "unix:$AZ_SOCK"
	start_api api-nginx "$API_SOCK"
	PORT=$(free_port)
	cat > "$T/nginx.conf" <<-EOF
	$( [ "$(id -u)" = 0 ] && echo "user $WEB_USER $WEB_GROUP;" )
	worker_processes 1;
	pid $T/run/nginx.pid;
	error_log $T/log/nginx-error.log info;
	daemon off;
	events { worker_connections 64; }
	http {
	    access_log $T/log/nginx-access.log combined;
	    client_body_temp_path $T/run/body;
	    proxy_temp_path $T/run/proxy;
	    fastcgi_temp_path $T/run/fastcgi;
	    uwsgi_temp_path $T/run/uwsgi;
	    scgi_temp_path $T/run/scgi;
	    upstream keygate_authz { server unix:$AZ_SOCK; }
	    upstream keygate_api { server unix:$API_SOCK; }
	    server {
	        listen 127.0.0.1:$PORT;
	        include $CONTRIB/nginx/keygate-server.conf;
	        include $CONTRIB/nginx/keygate-api.conf;
	        location /api/ {
	            include $CONTRIB/nginx/keygate-location.conf;
	            proxy_pass http://127.0.0.1:$HTTP_ECHO_PORT;
	        }
	    }
	}
	EOF
	/usr/sbin/nginx -t -e "$T/log/nginx-error.log" -p "$T/run" -c "$T/nginx.conf" > "$T/log/nginx-configtest.log" 2>&1 ||
		{ cat "$T/log/nginx-configtest.log" >&2; die "nginx rejects its configuration"; }
	bg nginx /usr/sbin/nginx -e "$T/log/nginx-error.log" -p "$T/run" -c "$T/nginx.conf"
	wait_port "$PORT" || die "nginx did not start"
	GATE_ID_LINE="header X-Keygate-Key-Id: "
	run_api nginx "http://127.0.0.1:$PORT" "http://127.0.0.1:$PORT/api/v1/x"
	REQ_DESC="nginx: bodies up to 64 KiB"
	if grep -q "buffered to a temporary file" "$T/log/nginx-error.log"; then
		fail "$REQ_DESC: nginx wrote one to a temporary file"
	else
		pass "$REQ_DESC: kept in memory (client_body_buffer_size)"
	fi
	api_stopped nginx "http://127.0.0.1:$PORT" "$API_PID" 502
else
	note "nginx is not installed: skipped"
fi

# ---- Apache: mod_proxy_fcgi --------------------------------------------

# apache_api NAME PORT API-CONF: an Apache with keygate-authz (mod_authnz_fcgi)
# in front of /api/ and the API configuration API-CONF.
apache_api() {
	local name=$1 port=$2 conf=$3
	apache_conf "$name" "$port" authnz_fcgi headers proxy proxy_http proxy_fcgi
	cat >> "$T/$name/httpd.conf" <<-EOF
	LogFormat "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\"" combined
	CustomLog $T/log/$name-access.log combined
	Define KEYGATE_AUTHZ 127.0.0.1:$AZ_PORT
	Define KEYGATE_LOCATION /api/
	Include $CONTRIB/apache/keygate-authnz-fcgi.conf
	ProxyPass /api/ http://127.0.0.1:$HTTP_ECHO_PORT/api/
	Define KEYGATE_API $API_SOCK
	Include $conf
	EOF
	start_apache "$name" "$port"
}

if [ -n "$APACHE_OK" ]; then
	AZ_PORT=$(free_port)
	API_SOCK=$T/run/api-apache.sock
	start_authz authz-apache "127.0.0.1:$AZ_PORT"
	start_api api-apache "$API_SOCK"
	PORT=$(free_port)
	apache_api apache "$PORT" "$CONTRIB/apache/keygate-api.conf"
	GATE_ID_LINE="header X-Keygate-Key-Id: "
	run_api apache "http://127.0.0.1:$PORT" "http://127.0.0.1:$PORT/api/v1/x"
	APACHE_API_PID=$API_PID

	note "apache: without CGIPassAuth On, keygate-api never sees Authorization"
	grep -v 'CGIPassAuth' "$CONTRIB/apache/keygate-api.conf" > "$T/api-nopassauth.conf"
	NPORT=$(free_port)
	apache_api apache-nopassauth "$NPORT" "$T/api-nopassauth.conf"
	req "apache without CGIPassAuth: Bearer" -H "Authorization: Bearer $KEY_W" \
		"http://127.0.0.1:$NPORT/keygate/v1/self"
	expect_denial 401 missing_api_key
	req "apache without CGIPassAuth: X-Api-Key" -H "X-Api-Key: $KEY_W" \
		"http://127.0.0.1:$NPORT/keygate/v1/self"
	expect_status 200
	api_stopped apache "http://127.0.0.1:$PORT" "$APACHE_API_PID" 503
else
	note "Apache with mod_proxy_fcgi and mod_authnz_fcgi is not installed: skipped"
fi

# ---- lighttpd: keygate-api spawned by lighttpd --------------------------

if [ -n "$LIGHTTPD_OK" ]; then
	PORT=$(free_port)
	cat > "$T/lighttpd.conf" <<-EOF
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

	var.keygate_api        = "$API"
	var.keygate_api_socket = "$T/run/keygate-api.sock"
	include "$CONTRIB/lighttpd/keygate-api.conf"

	server.modules += ( "mod_alias", "mod_cgi", "mod_accesslog" )
	accesslog.filename = "$T/run/lighttpd-access.log"
	\$HTTP["url"] =^ "/api/cgi/" {
	    alias.url = ( "/api/cgi" => "$T/cgi-bin/echo" )
	    cgi.assign = ( "" => "" )
	}
	EOF
	/usr/sbin/lighttpd -tt -f "$T/lighttpd.conf" > "$T/log/lighttpd-configtest.log" 2>&1 ||
		{ cat "$T/log/lighttpd-configtest.log" >&2; die "lighttpd rejects its configuration"; }
	bg lighttpd /usr/sbin/lighttpd -D -f "$T/lighttpd.conf"
	LIGHTTPD_PID=$BG_PID
	wait_port "$PORT" || die "lighttpd did not start"
	GATE_ID_LINE="KEY_ID="
	run_api lighttpd "http://127.0.0.1:$PORT" "http://127.0.0.1:$PORT/api/cgi/v1/x"
	note "lighttpd: keygate-api killed, lighttpd starts another"
	for p in $(descendants "$LIGHTTPD_PID"); do
		[ "$(ps -o comm= -p "$p" 2>/dev/null)" = keygate-api ] && kill -KILL "$p"
	done
	sleep 1
	req "lighttpd: after keygate-api was killed" -H "X-Api-Key: $KEY_W" "http://127.0.0.1:$PORT/keygate/v1/self"
	expect_status 200
else
	note "lighttpd is not installed: skipped"
fi

# shellcheck disable=SC2086
expect_no_key_in_logs "$KEY_W" "$KEY_LIVE" $MADE
finish
