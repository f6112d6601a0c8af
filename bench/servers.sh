# bench/servers.sh - the web servers of the benchmark, sourced by bench/run
# (bench/repl uses make_docroot, nginx_conf and the nginx locations).
#
# One instance of each server, every variant side by side under its own
# URL prefix so that rows interleave without restarts:
#
#   Apache httpd (event MPM)
#     /az-kg/    mod_authnz_fcgi -> keygate-authz  (TCP, 2 workers)
#     /az-null/  mod_authnz_fcgi -> null-authz     (TCP, 2 workers)
#     /fg-kg/    mod_fcgid FcgidAccessChecker keygate-authz (+ the 401 replay)
#     /fg-null/  mod_fcgid FcgidAccessChecker null-authz
#     /dbm/      mod_authn_dbm Basic auth, {SHA} hashes, Berkeley DB file
#     /none/     no authorization
#   lighttpd   /kg/ /null/ ("mode" => "authorizer", bin-path, max-procs 2), /none/
#   nginx      /kg/ /null/ (auth_request + fastcgi_pass, unix socket,
#              2 workers; denials replayed by @kgfcgi_denied), /none/
#   in-process modules, when built (MOD_APACHE, MOD_NGINX: their .so):
#     Apache /mod/  mod_keygate (AuthType keygate, Require valid-key)
#     nginx  /mod/  ngx_http_keygate_module (keygate on)
#
# The directives are those of contrib/apache, contrib/lighttpd and
# contrib/nginx, repeated here with per-prefix names (the contrib files
# define one provider / one location each and cannot be included twice).
# The backend is a small static file, so that the rows show what the
# authorization costs, not what an application costs.
#
# Needs from bench/run: W (work dir), BIN (binaries the web user can run),
# RUN (sockets, writable by the web user), LOG, WEB_USER, WEB_GROUP,
# AP_PORT LT_PORT NG_PORT, KG2_SOCK NULL2_SOCK (unix), KG_TCP NULL_TCP
# (HOST:PORT), and bg/track from bench/run.

APACHE=${APACHE:-/usr/sbin/apache2}
APACHE_MODS=${APACHE_MODS:-/usr/lib/apache2/modules}
LIGHTTPD=${LIGHTTPD:-/usr/sbin/lighttpd}
NGINX=${NGINX:-/usr/sbin/nginx}

# make_docroot DIR PREFIX...: the backend's file under each prefix.
make_docroot() {
	local root=$1 p
	shift
	mkdir -p "$root"
	for p in "$@"; do
		mkdir -p "$root/$p/v1/items"
		printf '{"items":[{"id":4711,"name":"widget"}]}\n' > "$root/$p/v1/items/4711"
	done
	chmod -R a+rX "$root"
}

# What contrib/apache puts in the location of an API (identity headers for
# the backend, JSON type restored on keygate's denials).
apache_identity_headers() {
	cat <<-'EOF'
	    Header always set Content-Type application/json "expr=%{REQUEST_STATUS} -ge 400 && -z %{REMOTE_USER} && resp('Cache-Control') == 'no-store'"
	    RequestHeader set X-Keygate-Org-Id "%{Org-Id}e"
	    RequestHeader set X-Keygate-Plan "%{Plan}e"
	    RequestHeader set X-Keygate-Key-Id "%{Key-Id}e"
	    RequestHeader set X-Keygate-Key-Mode "%{Key-Mode}e"
	    RequestHeader set X-Keygate-User-Id "%{User-Id}e" env=User-Id
	    RequestHeader unset X-Keygate-User-Id env=!User-Id
	    RequestHeader set X-Keygate-RateLimit-Remaining "%{RateLimit-Remaining}e" env=RateLimit-Remaining
	    RequestHeader unset X-Keygate-RateLimit-Remaining env=!RateLimit-Remaining
	    RequestHeader set X-Keygate-Quota-Remaining "%{Quota-Remaining}e" env=Quota-Remaining
	    RequestHeader unset X-Keygate-Quota-Remaining env=!Quota-Remaining
	    RequestHeader set X-Keygate-Quota-Exceeded "%{Quota-Exceeded}e" env=Quota-Exceeded
	    RequestHeader unset X-Keygate-Quota-Exceeded env=!Quota-Exceeded
	    RequestHeader unset X-Org-Id
	EOF
}

apache_fcgid_unset() {
	local h
	for h in Org-Id Plan Key-Id Key-Mode User-Id RateLimit-Remaining Quota-Remaining Quota-Exceeded; do
		echo "    Header always unset Variable-$h"
	done
}

write_apache_conf() {
	local d=$W/apache m
	mkdir -p "$d/rt"
	{
		echo "ServerRoot $d"
		echo "ServerName 127.0.0.1"
		echo "Listen 127.0.0.1:$AP_PORT"
		echo "PidFile $d/rt/httpd.pid"
		echo "DefaultRuntimeDir $d/rt"
		echo "Mutex file:$d/rt default"
		echo "ErrorLog $LOG/apache-error.log"
		echo "LogLevel warn"
		echo "DocumentRoot $W/www"
		if [ "$(id -u)" = 0 ]; then
			echo "User $WEB_USER"
			echo "Group $WEB_GROUP"
		fi
		for m in mpm_event authn_core authz_core authz_user auth_basic authn_dbm \
		    authnz_fcgi fcgid headers alias env; do
			echo "LoadModule ${m}_module $APACHE_MODS/mod_$m.so"
		done
		if [ -n "${MOD_APACHE:-}" ]; then
			# contrib/apache/keygate-module.conf
			echo "LoadModule keygate_module $MOD_APACHE"
			echo "KeygateStore $W/db"
			echo "<Location \"/mod/\">"
			echo "    AuthType keygate"
			echo "    Require valid-key"
			echo "</Location>"
		fi
		cat <<-EOF
		# Debian's mpm_event defaults; no access log (as for every server here)
		StartServers 2
		MinSpareThreads 25
		MaxSpareThreads 75
		ThreadLimit 64
		ThreadsPerChild 25
		MaxRequestWorkers 150
		MaxConnectionsPerChild 0
		KeepAlive On
		MaxKeepAliveRequests 0
		KeepAliveTimeout 30
		Timeout 20
		<Directory $W/www>
		    Options None
		    AllowOverride None
		</Directory>

		# ---- mod_authnz_fcgi (contrib/apache/keygate-authnz-fcgi.conf)
		AuthnzFcgiDefineProvider authnz keygate fcgi://$KG_TCP/
		AuthnzFcgiDefineProvider authnz nullauthz fcgi://$NULL_TCP/
		<Location "/az-kg/">
		    AuthType None
		    CGIPassAuth On
		    AuthnzFcgiCheckAuthnProvider keygate Authoritative On RequireBasicAuth Off UserExpr "%{reqenv:Key-Id}"
		    Require keygate
		$(apache_identity_headers)
		</Location>
		<Location "/az-null/">
		    AuthType None
		    CGIPassAuth On
		    AuthnzFcgiCheckAuthnProvider nullauthz Authoritative On RequireBasicAuth Off UserExpr "%{reqenv:Key-Id}"
		    Require nullauthz
		$(apache_identity_headers)
		</Location>

		# ---- mod_fcgid (contrib/apache/keygate-fcgid.conf)
		FcgidIPCDir $d/rt/fcgid
		FcgidProcessTableFile $d/rt/fcgid_shm
		FcgidInitialEnv KEYGATE_DB $W/db
		FcgidConnectTimeout 3
		FcgidIOTimeout 5
		# mod_fcgid sleeps a second when no process of a class is free:
		# allow more processes than wrk's connections, and keep them.
		FcgidMaxProcessesPerClass 16
		FcgidMaxProcesses 64
		FcgidMinProcessesPerClass 0
		FcgidIdleTimeout 7200
		FcgidProcessLifeTime 7200
		FcgidMaxRequestsPerProcess 0
		FcgidSpawnScoreUpLimit 64
		<Location "/fg-kg/">
		    CGIPassAuth On
		    FcgidAccessChecker $BIN/keygate-authz
		    FcgidAccessCheckerAuthoritative On
		    Require all granted
		$(apache_fcgid_unset)
		$(apache_identity_headers | grep -v 'Header always set Content-Type')
		    ErrorDocument 401 /fg-kg-denied
		</Location>
		Alias /fg-kg-denied $BIN/keygate-authz
		<Location "/fg-kg-denied">
		    SetHandler fcgid-script
		    Options +ExecCGI
		    CGIPassAuth On
		    SetEnv KEYGATE_REPLAY 1
		    Require expr -n %{reqenv:REDIRECT_STATUS}
		    Header always edit WWW-Authenticate "^(.+), \1$" "\$1"
		    Header always edit Cache-Control "^(.+), \1$" "\$1"
		    Header always edit Retry-After "^([^,]*),.*$" "\$1"
		    Header always edit RateLimit-Limit "^([^,]*),.*$" "\$1"
		    Header always edit RateLimit-Remaining "^([^,]*),.*$" "\$1"
		    Header always edit RateLimit-Reset "^([^,]*),.*$" "\$1"
		</Location>
		<Location "/fg-null/">
		    CGIPassAuth On
		    FcgidAccessChecker $BIN/null-authz
		    FcgidAccessCheckerAuthoritative On
		    Require all granted
		$(apache_fcgid_unset)
		$(apache_identity_headers | grep -v 'Header always set Content-Type')
		</Location>

		# ---- Apache's native peer: mod_authn_dbm, {SHA} hashes
		<Location "/dbm/">
		    AuthType Basic
		    AuthName "bench"
		    AuthBasicProvider dbm
		    AuthDBMType DB
		    AuthDBMUserFile $W/dbm/users.db
		    Require valid-user
		</Location>

		<Location "/none/">
		    Require all granted
		</Location>
		EOF
	} > "$d/httpd.conf"
}

write_lighttpd_conf() {
	local d=$W/lighttpd p
	mkdir -p "$d"
	{
		cat <<-EOF
		server.bind = "127.0.0.1"
		server.port = $LT_PORT
		server.document-root = "$W/www"
		server.errorlog = "$LOG/lighttpd-error.log"
		server.pid-file = "$d/lighttpd.pid"
		server.max-keep-alive-requests = 1000000
		server.max-keep-alive-idle = 30
		EOF
		if [ "$(id -u)" = 0 ]; then
			printf 'server.username = "%s"\nserver.groupname = "%s"\n' "$WEB_USER" "$WEB_GROUP"
		fi
		cat <<-EOF
		server.modules += ( "mod_fastcgi", "mod_setenv" )
		# contrib/lighttpd/keygate.conf, once per prefix
		fastcgi.server += (
		    "/kg/" => ((
		        "bin-path"        => "$BIN/keygate-authz --db $W/db",
		        "socket"          => "$RUN/lt-keygate.sock",
		        "mode"            => "authorizer",
		        "check-local"     => "disable",
		        "max-procs"       => 2,
		        "connect-timeout" => 3,
		        "write-timeout"   => 5,
		        "read-timeout"    => 5,
		    )),
		    "/null/" => ((
		        "bin-path"        => "$BIN/null-authz",
		        "socket"          => "$RUN/lt-null.sock",
		        "mode"            => "authorizer",
		        "check-local"     => "disable",
		        "max-procs"       => 2,
		        "connect-timeout" => 3,
		        "write-timeout"   => 5,
		        "read-timeout"    => 5,
		    )),
		)
		EOF
		for p in kg null; do
			cat <<-EOF
			\$HTTP["url"] =^ "/$p/" {
			    setenv.set-request-header += (
			        "X-Org-Id" => "", "X-Keygate-Org-Id" => "", "X-Keygate-Plan" => "",
			        "X-Keygate-Key-Id" => "", "X-Keygate-Key-Mode" => "", "X-Keygate-User-Id" => "",
			        "X-Keygate-RateLimit-Remaining" => "", "X-Keygate-Quota-Remaining" => "",
			        "X-Keygate-Quota-Exceeded" => "",
			    )
			}
			EOF
		done
	} > "$d/lighttpd.conf"
}

# contrib/nginx/keygate-server.conf's two locations for upstream $1, named $2.
nginx_auth_locations() {
	local up=$1 name=$2
	cat <<-EOF
	    location = /.$name/auth {
	        internal;
	        fastcgi_pass $up;
	        fastcgi_pass_request_body off;
	        fastcgi_param REQUEST_METHOD \$request_method;
	        fastcgi_param REQUEST_URI \$request_uri;
	        fastcgi_param QUERY_STRING \$query_string;
	        fastcgi_param SCRIPT_NAME \$fastcgi_script_name;
	        fastcgi_param SERVER_PROTOCOL \$server_protocol;
	        fastcgi_param REMOTE_ADDR \$remote_addr;
	        fastcgi_param CONTENT_LENGTH "";
	        fastcgi_connect_timeout 3s;
	        fastcgi_send_timeout 5s;
	        fastcgi_read_timeout 5s;
	    }
	    location @${name}_denied {
	        fastcgi_pass $up;
	        fastcgi_pass_request_body off;
	        fastcgi_param REQUEST_METHOD \$request_method;
	        fastcgi_param REQUEST_URI \$request_uri;
	        fastcgi_param QUERY_STRING \$query_string;
	        fastcgi_param SCRIPT_NAME \$fastcgi_script_name;
	        fastcgi_param SERVER_PROTOCOL \$server_protocol;
	        fastcgi_param REMOTE_ADDR \$remote_addr;
	        fastcgi_param CONTENT_LENGTH "";
	        fastcgi_param KEYGATE_REPLAY 1;
	        fastcgi_connect_timeout 3s;
	        fastcgi_send_timeout 5s;
	        fastcgi_read_timeout 5s;
	        fastcgi_hide_header WWW-Authenticate;
	    }
	EOF
}

# contrib/nginx/keygate-location.conf for the auth location named $1.
nginx_protect() {
	local name=$1 v
	echo "        auth_request /.$name/auth;"
	for v in org_id plan key_id key_mode user_id ratelimit_remaining quota_remaining quota_exceeded; do
		echo "        auth_request_set \$${name}_$v \$upstream_http_variable_$v;"
	done
	echo "        error_page 401 403 500 = @${name}_denied;"
	for v in Org-Id:org_id Plan:plan Key-Id:key_id Key-Mode:key_mode User-Id:user_id \
	    RateLimit-Remaining:ratelimit_remaining Quota-Remaining:quota_remaining \
	    Quota-Exceeded:quota_exceeded; do
		echo "        proxy_set_header X-Keygate-${v%%:*} \$${name}_${v#*:};"
	done
	echo "        proxy_set_header X-Org-Id \"\";"
}

# contrib/nginx/keygate-module.conf
nginx_module_location() {
	local v
	echo "        location /mod/ {"
	echo "            keygate on;"
	for v in Org-Id:org_id Plan:plan Key-Id:key_id Key-Mode:key_mode User-Id:user_id \
	    RateLimit-Remaining:ratelimit_remaining Quota-Remaining:quota_remaining \
	    Quota-Exceeded:quota_exceeded; do
		echo "            proxy_set_header X-Keygate-${v%%:*} \$keygate_${v#*:};"
	done
	echo "            proxy_set_header X-Org-Id \"\";"
	echo "        }"
}

# nginx_conf DIR ERRLOG: what every benchmark nginx runs with (2 workers,
# its pid and temporary files under DIR, no access log, client connections
# kept), then the rest of its http block (upstreams, servers) from stdin.
# Used by write_nginx_conf and by bench/repl.
nginx_conf() {
	cat <<-EOF
	worker_processes 2;
	pid $1/nginx.pid;
	error_log $2 warn;
	events { worker_connections 1024; }
	http {
	    access_log off;
	    client_body_temp_path $1/tmp/body;
	    proxy_temp_path $1/tmp/proxy;
	    fastcgi_temp_path $1/tmp/fastcgi;
	    uwsgi_temp_path $1/tmp/uwsgi;
	    scgi_temp_path $1/tmp/scgi;
	    keepalive_requests 1000000;
	    keepalive_timeout 30s;
	EOF
	cat
	echo "}"
}

write_nginx_conf() {
	local d=$W/nginx
	mkdir -p "$d/tmp"
	[ "$(id -u)" = 0 ] && chown "$WEB_USER:$WEB_GROUP" "$d/tmp"
	{
		[ -n "${MOD_NGINX:-}" ] && echo "load_module $MOD_NGINX;"
		[ "$(id -u)" = 0 ] && echo "user $WEB_USER $WEB_GROUP;"
		nginx_conf "$d" "$LOG/nginx-error.log" <<-EOF
		    upstream keygate_authz { server unix:$KG2_SOCK; }
		    upstream null_authz { server unix:$NULL2_SOCK; }
		    $( [ -n "${MOD_NGINX:-}" ] && echo "keygate_store $W/db;" )
		    server {
		        listen 127.0.0.1:$NG_PORT;
		        root $W/www;
		$(nginx_auth_locations keygate_authz kgfcgi)
		$(nginx_auth_locations null_authz nullauthz)
		        location /kg/ {
		$(nginx_protect kgfcgi)
		        }
		        location /null/ {
		$(nginx_protect nullauthz)
		        }
		        location /none/ {
		        }
		$( [ -n "${MOD_NGINX:-}" ] && nginx_module_location )
		    }
		EOF
	} > "$d/nginx.conf"
}

start_servers() {
	make_docroot "$W/www" az-kg az-null fg-kg fg-null dbm none kg null mod
	write_apache_conf
	write_lighttpd_conf
	write_nginx_conf
	"$APACHE" -f "$W/apache/httpd.conf" -t > "$LOG/apache-configtest.log" 2>&1 ||
		{ cat "$LOG/apache-configtest.log" >&2; die "Apache rejects $W/apache/httpd.conf"; }
	"$LIGHTTPD" -tt -f "$W/lighttpd/lighttpd.conf" > "$LOG/lighttpd-configtest.log" 2>&1 ||
		{ cat "$LOG/lighttpd-configtest.log" >&2; die "lighttpd rejects $W/lighttpd/lighttpd.conf"; }
	"$NGINX" -t -c "$W/nginx/nginx.conf" -e "$LOG/nginx-error.log" > "$LOG/nginx-configtest.log" 2>&1 ||
		{ cat "$LOG/nginx-configtest.log" >&2; die "nginx rejects $W/nginx/nginx.conf"; }
	bg apache "$APACHE" -f "$W/apache/httpd.conf" -DFOREGROUND
	APACHE_PID=$BG_PID
	bg lighttpd "$LIGHTTPD" -D -f "$W/lighttpd/lighttpd.conf"
	LIGHTTPD_PID=$BG_PID
	bg nginx "$NGINX" -c "$W/nginx/nginx.conf" -e "$LOG/nginx-error.log" -g "daemon off;"
	NGINX_PID=$BG_PID
	wait_port "$AP_PORT" || die "Apache did not start (see $LOG/apache.log)"
	wait_port "$LT_PORT" || die "lighttpd did not start (see $LOG/lighttpd.log)"
	wait_port "$NG_PORT" || die "nginx did not start (see $LOG/nginx.log)"
}
