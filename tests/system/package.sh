#!/bin/bash
# The Debian package, end to end, on this machine:
#   1. dpkg-buildpackage -b -us -uc in a copy of the tree; lintian reports
#      no error and no warning
#   2. apt-get install ./keygate_*.deb: the layout debian/ promises (README.Debian), the store
#      directory /var/lib/keygate (root:www-data 2770), the Apache file
#      disabled, the socket enabled
#   3. keygate init / plan set / org create / key create, as installed
#   4. the installed keygate-authz started as the installed units say
#      (ListenStream, SocketMode, SocketGroup, User, ExecStart) under
#      systemd-socket-activate: 200 with the key, 401 without; and behind
#      a sandboxed Apache that includes the installed
#      /etc/apache2/conf-available/keygate.conf, on a TCP socket; the
#      installed keygate-api the same way, behind the same Apache through
#      the installed conf-available/keygate-api.conf
#   5. apt-get remove, then purge: the store survives both
#
# It changes the system, so it runs only as root with KEYGATE_SYSTEM_TESTS=1
# (`make check-package`, run by contrib/quickstart check), never on a
# machine where keygate is already installed or /var/lib/keygate exists,
# and it puts things back: the package purged, /var/lib/keygate and
# /run/keygate removed (both are made here).
# shellcheck disable=SC2317

set -u
: "${top_srcdir:?run me from make check-package}" "${FCGI_CLIENT:?}"

say_skip() { echo "SKIP: $*"; exit 77; }
[ "${KEYGATE_SYSTEM_TESTS:-}" = 1 ] || say_skip "set KEYGATE_SYSTEM_TESTS=1 to run (it installs a package)"
[ "$(id -u)" = 0 ] || say_skip "needs root (apt-get install)"
for tool in dpkg-buildpackage dh lintian apt-get systemd-socket-activate setpriv; do
	command -v "$tool" >/dev/null || say_skip "$tool is not installed"
done
if dpkg-query -W -f='${Status}' keygate 2>/dev/null | grep -q 'ok installed'; then
	say_skip "the keygate package is already installed here: not touching it"
fi
[ -e /var/lib/keygate ] && say_skip "/var/lib/keygate exists: not touching a store this test did not make"

# The sandbox helpers (temp dir, processes stopped by PID, requests,
# Apache) of the server tests, with the installed programs.
KEYGATE=/usr/bin/keygate KEYGATE_AUTHZ=/usr/sbin/keygate-authz
# shellcheck source=tests/servers/lib.sh
. "$top_srcdir/tests/servers/lib.sh"

STORE=/var/lib/keygate
UNITS=/lib/systemd/system
INSTALLED=""
RUN_MADE=""

restore() {
	local p
	for p in $PIDS; do stop_tree "$p"; done
	PIDS=""
	if [ -n "$INSTALLED" ]; then
		DEBIAN_FRONTEND=noninteractive timeout 300 apt-get purge -y -qq keygate > "$T/log/purge-restore.log" 2>&1 ||
			echo "# apt-get purge keygate failed: see $T/log/purge-restore.log"
	fi
	# both made by this test (it skips when the store existed before)
	rm -rf "$STORE"
	[ -n "$RUN_MADE" ] && rm -rf "$RUN_MADE"
	return 0
}

# The T of lib.sh, without its copy of keygate-authz (not installed yet).
T=$(mktemp -d /tmp/keygate-pkg.XXXXXX) || die "mktemp failed"
chmod 755 "$T"
mkdir -p "$T/log" "$T/run" "$T/src" "$T/www"
trap 'rc=$?; restore; (exit $rc); cleanup' EXIT
trap 'exit 1' INT TERM HUP

note "1. build and lint, in a copy of the tree"
if git -C "$top_srcdir" rev-parse --git-dir >/dev/null 2>&1; then
	# tracked and new files, none of the ignored build products
	git -C "$top_srcdir" ls-files -co --exclude-standard -z |
		(cd "$top_srcdir" && tar --null -T - -cf -) | tar -C "$T/src" -xf -
else
	tar -C "$top_srcdir" --exclude='./build*' --exclude=./autom4te.cache -cf - . | tar -C "$T/src" -xf -
fi || die "cannot copy the tree"
[ -f "$T/src/debian/control" ] || die "no debian/ in $top_srcdir"
if (cd "$T/src" && timeout 900 dpkg-buildpackage -b -us -uc) > "$T/log/build.log" 2>&1; then
	pass "dpkg-buildpackage -b -us -uc"
else
	tail -n 30 "$T/log/build.log" | sed 's/^/#   /'
	fail "dpkg-buildpackage failed"
	finish
fi
DEB=$(ls "$T"/keygate_*_*.deb 2>/dev/null | head -n 1)
[ -n "$DEB" ] || die "no keygate_*.deb was built"
if grep -q -- '-D_FORTIFY_SOURCE=2' "$T/log/build.log" && grep -q -- '-z,now' "$T/log/build.log"; then
	pass "built with the hardening flags (fortify, relro + now)"
else
	fail "the hardening flags are missing from the build"
fi
timeout 300 lintian --pedantic --display-info "$T"/keygate_*.changes > "$T/log/lintian.log" 2>&1
if ! grep -qE '^[EW]: ' "$T/log/lintian.log"; then
	pass "lintian: no error, no warning ($(grep -cE '^[IP]: ' "$T/log/lintian.log") info/pedantic notes)"
else
	grep -E '^[EW]: ' "$T/log/lintian.log" | sed 's/^/#   /'
	fail "lintian reports errors or warnings"
fi

note "2. install"
INSTALLED=1
if DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq "$DEB" > "$T/log/install.log" 2>&1; then
	pass "apt-get install ./$(basename "$DEB")"
else
	tail -n 20 "$T/log/install.log" | sed 's/^/#   /'
	fail "apt-get install failed"
	finish
fi
for f in /usr/bin/keygate /usr/sbin/keygate-authz /usr/sbin/keygate-api; do
	if [ -x "$f" ]; then pass "$f"; else fail "$f is missing"; fi
done
for page in keygate.1 keygate-authz.8 keygate-api.8 keygate.conf.5; do
	if [ -f "/usr/share/man/man${page##*.}/$page.gz" ]; then pass "man page $page"
	else fail "no man page $page"; fi
done
conffiles=$(dpkg-query -W -f='${Conffiles}\n' keygate)
for f in /etc/keygate/keygate.conf /etc/apache2/conf-available/keygate.conf \
    /etc/apache2/conf-available/keygate-api.conf; do
	if printf '%s\n' "$conffiles" | grep -q "^ $f "; then pass "$f is a conffile"
	else fail "$f is not a conffile"; fi
done
if [ ! -e /etc/apache2/conf-enabled/keygate.conf ] && [ ! -e /etc/apache2/conf-enabled/keygate-api.conf ]; then
	pass "the Apache configurations are not enabled"
else
	fail "the package enabled an Apache configuration"
fi
for f in nginx/keygate-upstream.conf nginx/keygate-server.conf nginx/keygate-location.conf \
    nginx/keygate-fastcgi.conf apache/keygate-authnz-fcgi.conf apache/keygate-fcgid.conf \
    lighttpd/keygate.conf apache/keygate-api.conf lighttpd/keygate-api.conf \
    nginx/keygate-api-upstream.conf nginx/keygate-api.conf; do
	[ -f "/usr/share/keygate/$f" ] || fail "/usr/share/keygate/$f is missing"
done
pass "web server snippets in /usr/share/keygate"
for p in keygate-authz keygate-api; do
	for u in $p.socket $p.service; do
		if [ -f "$UNITS/$u" ]; then pass "unit $u"; else fail "unit $u is missing"; fi
	done
	if [ -L /etc/systemd/system/sockets.target.wants/$p.socket ]; then
		pass "$p.socket is enabled"
	else
		fail "$p.socket is not enabled"
	fi
done
# Under a running systemd: the socket starts on install, the service only
# at the first request, and an upgrade restarts it only if it runs.
postinst=/var/lib/dpkg/info/keygate.postinst
for p in keygate-authz keygate-api; do
	if grep -q "deb-systemd-invoke \$_dh_action .*'$p.socket'" "$postinst" &&
	    grep -q "deb-systemd-invoke try-restart .*'$p.service'" "$postinst" &&
	    ! grep -q "deb-systemd-invoke \$_dh_action .*$p.service" "$postinst"; then
		pass "postinst starts $p.socket, try-restarts $p.service on upgrade"
	else
		fail "postinst does not start $p.socket only and try-restart $p.service"
	fi
done
got=$(stat -c '%U:%G %a' "$STORE" 2>/dev/null)
if [ "$got" = "root:www-data 2770" ]; then pass "$STORE made on install: $got"
else fail "$STORE is '${got:-missing}', expected root:www-data 2770"; fi

note "3. a store, a plan, an organization and a key, as installed"
if keygate init --group www-data > "$T/log/init.log" 2>&1 &&
    keygate plan set pro --rate 100/s >> "$T/log/init.log" 2>&1 &&
    keygate org create acme --plan pro >> "$T/log/init.log" 2>&1 &&
    KEY=$(keygate key create --org acme 2>> "$T/log/init.log"); then
	pass "keygate init, plan set, org create, key create"
else
	sed 's/^/#   /' "$T/log/init.log"
	fail "the admin commands failed"
	finish
fi
got=$(stat -c '%U:%G %a' "$STORE")
[ "$got" = "root:www-data 2770" ] || fail "$STORE is $got after keygate init"
if [ -z "$(find "$STORE" ! -group www-data)" ]; then pass "every file of the store is in group www-data"
else fail "files outside group www-data: $(find "$STORE" ! -group www-data | head -n 3 | tr '\n' ' ')"; fi

note "4. the installed keygate-authz, started as the installed units say"
unit_value() { sed -n "s/^$2=//p" "$UNITS/$1" | tail -n 1; }
SOCK=$(unit_value keygate-authz.socket ListenStream)
MODE=$(unit_value keygate-authz.socket SocketMode)
GROUP=$(unit_value keygate-authz.socket SocketGroup)
USER_=$(unit_value keygate-authz.service User)
GROUP_=$(unit_value keygate-authz.service Group)
read -r -a EXEC <<< "$(unit_value keygate-authz.service ExecStart)"
[ -n "$SOCK" ] && [ -n "$USER_" ] && [ -n "${EXEC[0]:-}" ] || die "cannot read the installed units"
if [ ! -d "$(dirname "$SOCK")" ]; then
	mkdir -p "$(dirname "$SOCK")" && RUN_MADE=$(dirname "$SOCK")
fi
bg authz systemd-socket-activate -l "$SOCK" \
	setpriv --reuid="$USER_" --regid="$GROUP_" --clear-groups -- "${EXEC[@]}"
AUTHZ_PID=$BG_PID
wait_for -S "$SOCK" || die "no socket at $SOCK"
chgrp "$GROUP" "$SOCK" && chmod "$MODE" "$SOCK"
fcgi() {
	"$FCGI_CLIENT" --timeout 5000 --status "$@" REQUEST_METHOD=GET REQUEST_URI=/v1/x 2>/dev/null
}
got=$(fcgi "unix:$SOCK" HTTP_AUTHORIZATION="Bearer $KEY")
if [ "$got" = 200 ]; then pass "$SOCK, a key: 200 (${EXEC[*]} as $USER_)"
else fail "$SOCK, a key: '${got:-no answer}', expected 200"; fi
got=$(fcgi "unix:$SOCK")
if [ "$got" = 401 ]; then pass "$SOCK, no key: 401"
else fail "$SOCK, no key: '${got:-no answer}', expected 401"; fi
stop_tree "$AUTHZ_PID"
untrack "$AUTHZ_PID"

note "4b. the installed keygate-api, started as its installed units say"
if KEYR=$(keygate key create --org acme --scope keys:read 2>> "$T/log/init.log"); then
	pass "keygate key create --scope keys:read"
else
	fail "keygate key create --scope keys:read failed"
fi
API_SOCK=$(unit_value keygate-api.socket ListenStream)
API_MODE=$(unit_value keygate-api.socket SocketMode)
API_GROUP=$(unit_value keygate-api.socket SocketGroup)
API_USER=$(unit_value keygate-api.service User)
API_GROUP_=$(unit_value keygate-api.service Group)
read -r -a API_EXEC <<< "$(unit_value keygate-api.service ExecStart)"
[ -n "$API_SOCK" ] && [ -n "$API_USER" ] && [ -n "${API_EXEC[0]:-}" ] || die "cannot read the installed keygate-api units"
bg api systemd-socket-activate -l "$API_SOCK" \
	setpriv --reuid="$API_USER" --regid="$API_GROUP_" --clear-groups -- "${API_EXEC[@]}"
API_PID=$BG_PID
wait_for -S "$API_SOCK" || die "no socket at $API_SOCK"
chgrp "$API_GROUP" "$API_SOCK" && chmod "$API_MODE" "$API_SOCK"
api_status() { # PATH [NAME=VALUE...]
	local path=$1
	shift
	"$FCGI_CLIENT" --timeout 5000 --role responder --status "unix:$API_SOCK" \
		REQUEST_METHOD=GET REQUEST_URI="/keygate$path" REMOTE_ADDR=127.0.0.1 "$@" 2>/dev/null
}
got=$(api_status /v1/health)
if [ "$got" = 200 ]; then pass "$API_SOCK, /v1/health: 200 (${API_EXEC[*]} as $API_USER)"
else fail "$API_SOCK, /v1/health: '${got:-no answer}', expected 200"; fi
got=$(api_status /v1/keys HTTP_AUTHORIZATION="Bearer $KEYR")
if [ "$got" = 200 ]; then pass "$API_SOCK, /v1/keys with a keys:read key: 200"
else fail "$API_SOCK, /v1/keys with a keys:read key: '${got:-no answer}', expected 200"; fi
got=$(api_status /v1/keys)
if [ "$got" = 401 ]; then pass "$API_SOCK, /v1/keys without a key: 401"
else fail "$API_SOCK, /v1/keys without a key: '${got:-no answer}', expected 401"; fi

if [ -x "$APACHE" ] && [ -f "$APACHE_MODS/mod_authnz_fcgi.so" ]; then
	note "Apache with the installed conf-available/keygate.conf, the authorizer on TCP"
	AZ_PORT=$(free_port)
	bg authz-tcp systemd-socket-activate -l "127.0.0.1:$AZ_PORT" \
		setpriv --reuid="$USER_" --regid="$GROUP_" --clear-groups -- "${EXEC[@]}"
	wait_port "$AZ_PORT" || die "no socket on 127.0.0.1:$AZ_PORT"
	start_http_echo
	PORT=$(free_port)
	apache_conf apache "$PORT" authnz_fcgi headers proxy proxy_http proxy_fcgi
	cat >> "$T/apache/httpd.conf" <<-EOF
	Define KEYGATE_AUTHZ 127.0.0.1:$AZ_PORT
	Include /etc/apache2/conf-available/keygate.conf
	ProxyPass /api/ http://127.0.0.1:$HTTP_ECHO_PORT/api/
	Include /etc/apache2/conf-available/keygate-api.conf
	EOF
	start_apache apache "$PORT"
	req "Apache, a key" -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/api/v1/x"
	expect_status 200
	expect_line "header X-Keygate-Org-Id: acme"
	req "Apache, no key" "http://127.0.0.1:$PORT/api/v1/x"
	expect_denial 401 missing_api_key
	req "Apache, keygate-api on $API_SOCK: a keys:read key" -H "Authorization: Bearer $KEYR" \
		"http://127.0.0.1:$PORT/keygate/v1/keys"
	expect_status 200
	req "Apache, keygate-api: no key" "http://127.0.0.1:$PORT/keygate/v1/keys"
	expect_denial 401 missing_api_key
	for p in $PIDS; do stop_tree "$p"; done
	PIDS=""
else
	note "Apache with mod_authnz_fcgi is not installed: its part is skipped"
fi

note "5. remove, then purge: the store stays"
if DEBIAN_FRONTEND=noninteractive timeout 300 apt-get remove -y -qq keygate > "$T/log/remove.log" 2>&1; then
	pass "apt-get remove keygate"
else
	fail "apt-get remove keygate failed"
fi
if [ ! -e /usr/sbin/keygate-authz ] && [ ! -e "$UNITS/keygate-authz.socket" ] &&
    [ ! -e /usr/sbin/keygate-api ] && [ ! -e "$UNITS/keygate-api.socket" ]; then
	pass "programs and units removed"
else
	fail "programs or units left after remove"
fi
if [ -f "$STORE/meta.db" ] && [ "$(stat -c '%U:%G %a' "$STORE")" = "root:www-data 2770" ]; then
	pass "the store survives remove, with its permissions"
else
	fail "the store did not survive remove"
fi
if [ -f /etc/keygate/keygate.conf ]; then pass "the configuration stays until purge"
else fail "remove deleted /etc/keygate/keygate.conf"; fi
DEBIAN_FRONTEND=noninteractive timeout 300 apt-get purge -y -qq keygate > "$T/log/purge.log" 2>&1 ||
	fail "apt-get purge keygate failed"
INSTALLED=""
if [ -f "$STORE/meta.db" ]; then pass "the store survives purge (README.Debian says so)"
else fail "purge removed the store"; fi
if [ ! -e /etc/keygate/keygate.conf ] && [ ! -e /etc/systemd/system/sockets.target.wants/keygate-authz.socket ] &&
    [ ! -e /etc/systemd/system/sockets.target.wants/keygate-api.socket ] &&
    [ ! -e /etc/apache2/conf-available/keygate-api.conf ]; then
	pass "purge removed the configuration and the socket's enablement"
else
	fail "purge left the configuration or the socket's enablement"
fi

finish
