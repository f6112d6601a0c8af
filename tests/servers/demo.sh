#!/bin/bash
# contrib/demo/run --once on each server: 200 with the demo key (the API
# sees organization acme) and a JSON 401 without one; through keygate-api
# under /keygate/, the customer's key creates a key (201), which passes
# (200), is revoked (200) and is then refused (401); nothing left running.
# shellcheck source=tests/servers/lib.sh
. "${top_srcdir:-.}/tests/servers/lib.sh"

DEMO=$top_srcdir/contrib/demo/run
trap cleanup EXIT
BUILD=$(dirname "$KEYGATE")
[ "$(dirname "$KEYGATE_AUTHZ")" = "$BUILD" ] && [ "$(dirname "$KEYGATE_API")" = "$BUILD" ] || {
	# the demo takes one build directory: put the three programs in one
	sandbox
	BUILD=$T/bin
	install -m 755 "$KEYGATE" "$BUILD/keygate" || die "cannot copy $KEYGATE"
	install -m 755 "$KEYGATE_API" "$BUILD/keygate-api" || die "cannot copy $KEYGATE_API"
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
	# with the key, without; keygate-api: create, the new key, revoke, the revoked key
	answers=$(grep -E '^HTTP/1\.[01] [0-9]{3}' "$out" | awk '{print $2}' | tr '\n' ' ')
	if [ "$answers" = "200 401 201 200 200 401 " ]; then
		pass "$server: 200 with the key, 401 without; keygate-api: 201, 200, 200, 401"
	else
		fail "$server: answers '$answers', expected '200 401 201 200 200 401'"
	fi
	if grep -q '^{"key":"kg_live_' "$out" && grep -q '"state":"revoked"' "$out" &&
	    grep -q '"code":"invalid_api_key"' "$out"; then
		pass "$server: keygate-api made the key, revoked it, and keygate-authz refused it"
	else
		fail "$server: no key made and revoked through keygate-api"
	fi
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
