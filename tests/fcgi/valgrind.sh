#!/bin/bash
# valgrind.sh - the protocol tests again, with every authorizer process
# (master and workers) under valgrind memcheck: any error or definite
# leak fails.
command -v valgrind >/dev/null || { echo "valgrind is not installed"; exit 77; }
# valgrind cannot run a binary built with AddressSanitizer
[ "${KEYGATE_SANITIZED:-no}" = yes ] && { echo "sanitizer build: see the normal build's run"; exit 77; }
VG=$(mktemp -d /tmp/kgvg.XXXXXX)
cat > "$VG/keygate-authz" <<WRAP
#!/bin/sh
exec valgrind -q --error-exitcode=42 --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \\
	--suppressions="$top_srcdir/tests/valgrind.supp" --log-file="$VG/vg.%p" \\
	"$KEYGATE_AUTHZ" "\$@"
WRAP
chmod +x "$VG/keygate-authz"
KEYGATE_AUTHZ="$VG/keygate-authz" KEYGATE_SLOW=1 bash "$top_srcdir/tests/fcgi/protocol.sh"
rc=$?
reports=$(cat "$VG"/vg.* 2>/dev/null | grep -c '^==[0-9]*==' )
if [ "$reports" -gt 0 ]; then
	echo "not ok - valgrind reported problems:"
	cat "$VG"/vg.* | head -n 80 | sed 's/^/# /'
	rc=1
else
	echo "ok - valgrind: no errors, no definite leaks in $(ls "$VG"/vg.* | wc -l) processes"
fi
rm -rf "$VG"
exit $rc
