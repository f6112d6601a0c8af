#!/bin/bash
# security.sh - the claims of doc/SECURITY.md that a test can hold:
# pepper file checks, file modes of a shared store, bounded resources per
# connection (huge params and thousands of them refused, a stalled client;
# tests/fcgi/hostile.sh has the rest), header injection, and no full key
# in any log.
. "$top_srcdir/tests/fcgi/lib.sh"
P=(REQUEST_METHOD=GET REQUEST_URI=/v1/x)

# --- pepper files ---
head -c 32 /dev/urandom > "$T/pepper"
chmod 0640 "$T/pepper"
chk_init() { "$KEYGATE" --db "$T/p$1" init --pepper-file "$2" >/dev/null 2>"$T/err"; }
chmod 0660 "$T/pepper"; chk_init 1 "$T/pepper"; rc=$?
check "a group-writable pepper is refused (exit $rc)" bash -c "[ $rc -eq 1 ] && grep -q 'writable by group' '$T/err'"
chmod 0644 "$T/pepper"; chk_init 2 "$T/pepper"; rc=$?
check "a world-readable pepper is refused (exit $rc)" bash -c "[ $rc -eq 1 ] && grep -q 'readable by others' '$T/err'"
chmod 0640 "$T/pepper"; ln -s "$T/pepper" "$T/pepper.link"; chk_init 3 "$T/pepper.link"
check "a symbolic link is followed only to its target path, which is checked" bash -c "[ -d '$T/p3' ]"
head -c 8 /dev/urandom > "$T/short"; chmod 0600 "$T/short"; chk_init 4 "$T/short"; rc=$?
check "a pepper under 16 bytes is refused (exit $rc)" bash -c "[ $rc -eq 1 ] && grep -q 'fewer than 16' '$T/err'"
DB="$T/peppered"
"$KEYGATE" --db "$DB" init --pepper-file "$T/pepper" 2>/dev/null || exit 99
kg plan set free 2>/dev/null; kg org create acme --plan free 2>/dev/null
newkey --org acme; PK=$NEWKEY
check "the store holds digests, not the key" bash -c "! grep -qF '$PK' '$DB'/*.db '$DB'/log.*"
chmod 0666 "$T/pepper"
"$KEYGATE_AUTHZ" --db "$DB" --listen "unix:$T/x.sock" 2>"$T/err"; rc=$?
check "an authorizer refuses a pepper made writable later (exit $rc)" bash -c "[ $rc -ne 0 ] && [ \$(wc -l < '$T/err') -eq 1 ]"
chmod 0640 "$T/pepper"
head -c 32 /dev/urandom > "$T/pepper2"; chmod 0640 "$T/pepper2"
mv "$T/pepper" "$T/pepper.orig"; cp "$T/pepper2" "$T/pepper"
"$KEYGATE" --db "$DB" key list >/dev/null 2>"$T/err"; rc=$?
check "another pepper at the same path is recognised and refused (exit $rc)" bash -c "[ $rc -eq 4 ] && grep -q 'not the one' '$T/err'"
mv "$T/pepper.orig" "$T/pepper"

# --- a store shared with the web server's group: modes ---
if [ "$(id -u)" = 0 ] && getent group www-data >/dev/null; then
	( umask 022; "$KEYGATE" --db "$T/shared" init --group www-data >/dev/null 2>&1 )
	DB="$T/shared"; kg plan set free 2>/dev/null
	expect_eq "the directory is setgid, group www-data, 2770" "2770 www-data" "$(stat -c '%a %G' "$T/shared")"
	bad=$(find "$T/shared" -type f \( -perm -o=r -o -perm -o=w -o ! -group www-data \) | wc -l)
	expect_eq "no file is world-accessible or outside the group" 0 "$bad"
else
	ok "# skip: needs root and the www-data group"
fi

# --- resources per connection ---
DB="$T/db"
kg init 2>/dev/null; kg plan set free 2>/dev/null; kg org create acme --plan free 2>/dev/null
newkey --org acme; K=$NEWKEY
printf 'watchdog = 2s\nrequest-deadline = 2s\n' > "$T/conf"
"$KEYGATE_AUTHZ" --config "$T/conf" --db "$DB" --listen "unix:$T/a.sock" --workers 1 2>>"$LOG" &
AUTHZ_PID=$!; PIDS+=("$AUTHZ_PID"); ADDR="unix:$T/a.sock"; wait_ready "$ADDR" || exit 99
worker=$(ps -o pid= --ppid "$AUTHZ_PID" | tr -d " ")
expect_eq "a 1 MiB param (the longest value): answered" 200 "$(status --timeout 20000 --big HTTP_COOKIE=1M "$ADDR" "${P[@]}" "HTTP_X_API_KEY=$K")"
"$FCGI_CLIENT" --timeout 20000 --big HTTP_COOKIE=64M "$ADDR" "${P[@]}" "HTTP_X_API_KEY=$K" >/dev/null 2>&1; rc=$?
check "a 64 MiB param: the connection is closed, no answer (exit $rc)" [ "$rc" -eq 2 ]
rss=$(ps -o rss= --ppid "$AUTHZ_PID" | head -n1)
if [ "${KEYGATE_SANITIZED:-no}" = yes ]; then
	ok "# skip the RSS bound: AddressSanitizer keeps freed memory in quarantine"
else
	check "... and the worker's memory stays small (RSS ${rss} KiB < 32 MiB)" [ "${rss:-999999}" -lt 32768 ]
fi
python3 -c 'for i in range(20000): print(f"HTTP_X_H{i}=v{i}")' > "$T/many"
"$FCGI_CLIENT" --param-file "$T/many" "$ADDR" "${P[@]}" "HTTP_X_API_KEY=$K" >/dev/null 2>&1; rc=$?
check "20,000 params: the connection is closed, no answer (exit $rc)" [ "$rc" -eq 2 ]
expect_eq "... the same worker answers the next request" "$worker 200" "$(ps -o pid= --ppid "$AUTHZ_PID" | tr -d ' ') $(status "$ADDR" "${P[@]}" "HTTP_X_API_KEY=$K")"
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.send(b"\x01\x01\x00\x01\x00\x08\x00\x00")   # half a request, then silence
time.sleep(20)' "$T/a.sock" &
SLOW=$!; PIDS+=("$SLOW")
sleep 0.3
t0=$(date +%s%N)
st=$(status --timeout 15000 "$ADDR" "${P[@]}" "HTTP_X_API_KEY=$K")
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
expect_eq "a stalled client does not hold the only worker" 200 "$st"
check "... longer than the request deadline ($ms ms for a 2 s deadline)" [ "$ms" -lt 6000 ]
kill "$SLOW" 2>/dev/null

# --- header injection: nothing we send can carry CR or LF ---
raw=$("$FCGI_CLIENT" "$ADDR" REQUEST_METHOD=GET 'REQUEST_URI=/x\r\nSet-Cookie: a=b' 'HTTP_X_API_KEY=a\r\nSet-Cookie: a=b')
check "a CR/LF in params never reaches a header" bash -c "! printf '%s' '$raw' | grep -qi '^set-cookie'"
check "--user refuses a value that is not a header value" bash -c "! '$KEYGATE' --db '$DB' key create --org acme --user \$'a\\r\\nX: y' 2>/dev/null"

# --- no full key in any log or message of this test ---
leak=0
for k in "$K" "$PK"; do grep -rqF "$k" "$LOG" "$T/err" && leak=1; done
expect_eq "no full key in any log" 0 "$leak"
finish
