#!/bin/bash
# churn.sh - 8 concurrent clients through real nginx while the CLI creates
# and revokes keys and suspends and resumes an organization, about 10
# operations a second.  Every answer is judged against what the CLI had
# returned when the request was sent (tests/fcgi/churn.c): zero wrong
# decisions allowed.  CI runs 15 s; KEYGATE_CHURN_WEB_SECONDS=60 runs the
# full minute.
# shellcheck source=tests/servers/lib.sh
. "${top_srcdir:-.}/tests/servers/lib.sh"

NGINX=/usr/sbin/nginx
[ -x "$NGINX" ] || skip "nginx is not installed"
SECS=${KEYGATE_CHURN_WEB_SECONDS:-15}

sandbox
make_store
kg org create beta --plan pro 2>>"$T/log/init.log" || die "org create beta failed"
start_http_echo
SOCK=$T/run/keygate-authz.sock
bg authz as_web "$AUTHZ" --db "$T/db" --listen "unix:$SOCK" --workers 4 --socket-mode 0660
wait_for -S "$SOCK" || die "keygate-authz did not start"

PORT=$(free_port)
{
	[ "$(id -u)" = 0 ] && echo "user $WEB_USER $WEB_GROUP;"
	cat <<CONF
worker_processes 2;
pid $T/run/nginx.pid;
error_log $T/run/nginx-error.log warn;
daemon off;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $T/run/body;
    proxy_temp_path $T/run/proxy;
    fastcgi_temp_path $T/run/fastcgi;
    uwsgi_temp_path $T/run/uwsgi;
    scgi_temp_path $T/run/scgi;
    upstream keygate_authz { server unix:$SOCK; }
    server {
        listen 127.0.0.1:$PORT;
        include $CONTRIB/nginx/keygate-server.conf;
        location /api/ {
            include $CONTRIB/nginx/keygate-location.conf;
            proxy_pass http://127.0.0.1:$HTTP_ECHO_PORT;
        }
    }
}
CONF
} > "$T/nginx.conf"
bg nginx "$NGINX" -e "$T/run/nginx-error.log" -p "$T/run" -c "$T/nginx.conf"
wait_port "$PORT" || die "nginx did not start"

note "churn for $SECS s: 8 clients, ~10 CLI operations a second"
"$top_builddir/tests/fcgi/churn" "http://127.0.0.1:$PORT/api/v1/items" "$T/db" "$KEYGATE" "$SECS" 8 10 \
	> "$T/churn.out" 2>&1
rc=$?
grep '^# [0-9]' "$T/churn.out"
if [ "$rc" -eq 0 ]; then
	pass "zero wrong decisions under churn"
else
	sed 's/^/# /' "$T/churn.out" | head -n 40
	fail "wrong decisions or errors under churn"
fi
finish
