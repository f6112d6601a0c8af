#!/bin/bash
# The watchdog ends a worker stuck on a dead process's lock, and only
# such a worker: a request, maintenance pass or flush that began after
# the watchdog read its clock is not "stuck for ever".  watchdog-shim.so
# (LD_PRELOAD) holds the watchdog thread for 2 s right after its clock
# read; requests that each take 2.5 s (their STDIN comes late, which
# keygate-api waits for) then begin within that window more often than
# not.  Every one of them must be answered, and no worker exit.
. "$top_srcdir/tests/fcgi/lib.sh"
: "${KEYGATE_API:?run me from make check}"

SHIM=$top_builddir/tests/faults/watchdog-shim.so
[ -f "$SHIM" ] || { echo "ERROR: $SHIM was not built"; exit 99; }
# ASan must be the first library of the process: an LD_PRELOAD before it is refused.
[ -n "${KEYGATE_SANITIZED:-}" ] && [ "$KEYGATE_SANITIZED" != no ] &&
	{ echo "SKIP: LD_PRELOAD under the sanitizers"; exit 77; }

kg init 2>/dev/null || exit 99
SOCK=$T/api.sock
LD_PRELOAD=$SHIM "$KEYGATE_API" --db "$DB" --listen "unix:$SOCK" --workers 1 2>>"$LOG" &
PIDS+=("$!")
for i in $(seq 1 50); do [ -S "$SOCK" ] && break; sleep 0.1; done

# GET /keygate/v1/health with its empty STDIN record DELAY seconds after
# the params: prints the status, or "none".
late_stdin() {
	python3 - "$SOCK" "$1" <<-'PY'
	import socket, struct, sys, time
	def rec(t, c=b""):
	    return struct.pack(">BBHHBB", 1, t, 1, len(c), 0, 0) + c
	def nv(n, v):
	    return bytes([len(n), len(v)]) + n + v
	params = b"".join(nv(n, v) for n, v in [(b"REQUEST_METHOD", b"GET"),
	    (b"REQUEST_URI", b"/keygate/v1/health"), (b"REMOTE_ADDR", b"127.0.0.1")])
	s = socket.socket(socket.AF_UNIX)
	s.settimeout(10)
	try:
	    s.connect(sys.argv[1])
	    s.sendall(rec(1, struct.pack(">HB5x", 1, 0)) + rec(4, params) + rec(4))
	    time.sleep(float(sys.argv[2]))
	    s.sendall(rec(5))
	    out = b""
	    while True:
	        c = s.recv(65536)
	        if not c:
	            break
	        out += c
	    print(out.split(b"Status: ")[1].split(b" ")[0].decode())
	except (OSError, IndexError):
	    print("none")
	PY
}

for i in 1 2 3 4 5 6; do
	expect_eq "request $i, 2.5 s long: answered" 200 "$(late_stdin 2.5)"
done
if grep -q "stuck" "$LOG"; then
	not_ok "a worker was ended as stuck: $(grep -m1 stuck "$LOG")"
else
	ok "no worker ended as stuck"
fi
finish
