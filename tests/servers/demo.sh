#!/bin/bash
# contrib/demo/run --once on each server: 200 with the demo key (the API
# sees organization acme) and a JSON 401 without one; nothing left running.
# shellcheck source=tests/servers/lib.sh
. "${top_srcdir:-.}/tests/servers/lib.sh"

DEMO=$top_srcdir/contrib/demo/run
trap cleanup EXIT
BUILD=$(dirname "$KEYGATE")
[ "$(dirname "$KEYGATE_AUTHZ")" = "$BUILD" ] || {
	# the demo takes one build directory: put both programs in one
	sandbox
	BUILD=$T/bin
	install -m 755 "$KEYGATE" "$BUILD/keygate" || die "cannot copy $KEYGATE"
}

ran=0
for server in apache lighttpd nginx; do
	case $server in
	apache) bin=/usr/sbin/apache2 ;;
	lighttpd) bin=/usr/sbin/lighttpd ;;
	nginx) bin=/usr/sbin/nginx ;;
	esac
	if [ ! -x "$bin" ]; then
		note "$server: not installed, skipped"
		continue
	fi
	ran=$((ran + 1))
	out=$(mktemp)
	port=$(free_port)
	KEYGATE_DEMO_PORT=$port timeout 60 "$DEMO" "$BUILD" --server "$server" --once > "$out" 2>&1
	rc=$?
	if [ "$rc" = 0 ]; then pass "$server: demo --once exits 0"
	else fail "$server: demo --once exits $rc"; sed 's/^/#   /' "$out" | tail -n 30; fi
	# the first answer (with the key), then the second (without)
	answers=$(grep -E '^HTTP/1\.[01] [0-9]{3}' "$out" | awk '{print $2}' | tr '\n' ' ')
	if [ "$answers" = "200 401 " ]; then pass "$server: 200 with the key, 401 without"
	else fail "$server: answers '$answers', expected '200 401'"; fi
	if grep -q '"org_id": "acme"' "$out"; then pass "$server: the API saw organization acme"
	else fail "$server: the API did not see organization acme"; fi
	if grep -q '^{"error":{"code":"missing_api_key","message":"[^"]*"}}$' "$out" &&
	    grep -qi '^Content-Type: application/json' "$out"; then
		pass "$server: the 401 is keygate's JSON"
	else
		fail "$server: no JSON missing_api_key answer"
	fi
	if grep -q "^live key: *kg_live_" "$out"; then pass "$server: prints the key"
	else fail "$server: does not print the key"; fi
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		fail "$server: something still listens on port $port after the demo"
	else
		pass "$server: the demo stopped its server"
	fi
	dir=$(grep -o '/tmp/keygate-demo\.[A-Za-z0-9]*' "$out" | head -n 1)
	if [ -n "$dir" ] && [ -e "$dir" ]; then fail "$server: $dir is left behind"
	else pass "$server: the demo removed its files"; fi
	rm -f "$out"
done
[ "$ran" = 0 ] && skip "no web server installed"
finish
