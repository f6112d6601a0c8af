#!/bin/bash
# concurrency.sh - 4 authorizer processes answer a load of requests while
# the CLI creates and revokes keys and suspends an org for 30 s
# (KEYGATE_CHURN_SECONDS): no 200 after a revoke or a suspension returned,
# no denial of a live key, no crash.
. "$top_srcdir/tests/fcgi/lib.sh"

kg init 2>/dev/null || exit 99
kg plan set free 2>/dev/null
kg org create acme --plan free 2>/dev/null
kg org create beta --plan free 2>/dev/null
start_authz "unix:$T/authz.sock" --workers 4 || exit 99
"$top_builddir/tests/fcgi/churn" "unix:$T/authz.sock" "$DB" "$KEYGATE" "${KEYGATE_CHURN_SECONDS:-30}"
rc=$?
check "the churn run judged every answer right" [ "$rc" -eq 0 ]
check "the authorizer is still running" kill -0 "$AUTHZ_PID"
check "no worker died" bash -c "! grep -q 'exited' '$LOG'"
finish
