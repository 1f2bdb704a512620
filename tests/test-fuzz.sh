#!/bin/bash
# A short libFuzzer run of every target in tests/fuzz/ on a scratch copy of
# its corpus (tests/fuzz/corpus/TARGET).  FUZZ_SECONDS per target (default 10;
# longer runs: FUZZ_SECONDS=120 tests/run-tests test-fuzz.sh).
# A crash, leak or sanitizer report fails the test; the reproducer is kept
# in build/fuzz-findings/.  SWAPBENCH_SKIP_FUZZ=1 skips it (CI's sanitizer pass).
# timeout: 300
. "$(dirname "$0")/functions.sh"
[ -z "${SWAPBENCH_SKIP_FUZZ:-}" ] ||
	skip "SWAPBENCH_SKIP_FUZZ is set (CI's sanitizer pass: the fuzz targets are always built with ASan/UBSan and ran in the plain pass)"
requires clang
secs=${FUZZ_SECONDS:-10}
# Whether clang can build a libFuzzer program at all decides a skip; a
# target of ours that then fails to build is a failure.
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
	'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
	'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
	>"$tmp/probe.c"
"${FUZZ_CC:-clang}" -fsanitize=fuzzer,address,undefined -o "$tmp/probe" "$tmp/probe.c" >"$tmp/probe.log" 2>&1 || {
	cat "$tmp/probe.log" >&2
	skip "clang cannot build a libFuzzer program here (libFuzzer and the sanitizer runtimes needed)"
}
make -s -C "$top" BUILD="$BUILD" fuzz >"$tmp/build.log" 2>&1 || {
	cat "$tmp/build.log" >&2
	fail "a fuzz target does not build (clang builds libFuzzer programs here)"
}
mkdir -p "$BUILD/fuzz-findings"
for f in "$top"/tests/fuzz/*.c; do
	t=$(basename "$f" .c)
	name=${t#fuzz-}
	cp -r "$top/tests/fuzz/corpus/$name" "$tmp/corpus-$name"
	info "fuzzing $t for ${secs}s"
	"$BUILD/fuzz/$t" -max_total_time="$secs" -max_len=1100000 -rss_limit_mb=2048 \
		-artifact_prefix="$BUILD/fuzz-findings/$t-" -print_final_stats=1 \
		"$tmp/corpus-$name" >"$tmp/$t.log" 2>&1 || {
		tail -40 "$tmp/$t.log" >&2
		fail "$t found a problem (reproducer in $BUILD/fuzz-findings/)"
	}
	grep -E '^stat::number_of_executed_units' "$tmp/$t.log" >&2
done
exit 0
