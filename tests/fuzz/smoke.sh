#!/bin/bash
# tests/fuzz/smoke.sh - the fuzz targets in `make check`: every input kept
# in tests/fuzz/corpus (seeds and past findings) is replayed, then each
# target fuzzes for a few seconds.  Skipped (77) only when there is no
# clang or it cannot link libFuzzer.  Builds into the build tree and
# writes nothing into the source tree.
#
# Environment: top_srcdir, top_builddir, FUZZ_CC, FUZZ_LIBS (from the
# Makefile); FUZZ_SMOKE_SECONDS (3) per target.
set -u

top_srcdir=${top_srcdir:?}
top_builddir=${top_builddir:?}
if [ -z "${FUZZ_CC:-}" ]; then
	echo "SKIP: configure found no clang (FUZZ_CC); install clang and libclang-rt-14-dev"
	exit 77
fi
export top_srcdir top_builddir FUZZ_CC
export FUZZ_OUT=$top_builddir/tests/fuzz
seconds=${FUZZ_SMOKE_SECONDS:-3}
src=$top_srcdir/tests/fuzz

start=$(date +%s)
bash "$src/build"
rc=$?
if [ $rc -eq 77 ]; then
	echo "SKIP: $FUZZ_CC cannot build libFuzzer targets"
	exit 77
elif [ $rc -ne 0 ]; then
	echo "FAIL: the fuzz targets do not build"
	exit 1
fi
echo "built in $(( $(date +%s) - start ))s"

tmp=$(mktemp -d "$FUZZ_OUT/smoke.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
export TMPDIR=$tmp

failed=0
for c in "$src"/fuzz_*.c; do
	t=$(basename "$c" .c)
	bin=$FUZZ_OUT/bin/$t
	corpus=$src/corpus/$t

	# every kept input, one at a time: a past finding must stay fixed
	if [ -d "$corpus" ] && [ -n "$(ls "$corpus")" ]; then
		if ! "$bin" "$corpus"/* >"$tmp/$t.replay.log" 2>&1; then
			echo "FAIL: $t: an input of tests/fuzz/corpus/$t fails:"
			grep -E '^Running: |ERROR:|invariant broken|runtime error|SUMMARY' \
			    "$tmp/$t.replay.log" | tail -6 | sed 's/^/  /'
			failed=1
			continue
		fi
	fi
	mkdir -p "$tmp/work-$t" "$tmp/found-$t"
	if ! "$bin" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
	    -dict="$src/$t.dict" -artifact_prefix="$tmp/found-$t/" \
	    "$tmp/work-$t" "$corpus" >"$tmp/$t.log" 2>&1; then
		echo "FAIL: $t found something in ${seconds}s:"
		grep -E 'ERROR:|invariant broken|runtime error|SUMMARY' "$tmp/$t.log" |
		    head -4 | sed 's/^/  /'
		for f in "$tmp/found-$t"/*; do
			[ -f "$f" ] || continue
			mkdir -p "$FUZZ_OUT/findings/$t"
			cp "$f" "$FUZZ_OUT/findings/$t/"
			echo "  input kept as $FUZZ_OUT/findings/$t/$(basename "$f")"
		done
		failed=1
		continue
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/$t.log")
	echo "ok: $t: $(ls "$corpus" | wc -l) kept inputs, ${execs:-?} runs in ${seconds}s"
done
echo "smoke test took $(( $(date +%s) - start ))s"
exit $failed
