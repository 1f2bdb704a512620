#!/usr/bin/env bash
# Issue #20, item 12: non-finite numbers are refused wherever swapbench
# parses a value.  `--set workload.ratio=nan` was accepted (every
# comparison with NaN is false, so the range check passed) and the result
# document was then lost (jansson cannot hold NaN).  Each spelling of NaN
# and infinity is refused with the key named, from --set and from a
# scenario file, before anything runs; compare's thresholds too.  That a
# metric which does come out NaN still leaves run.json is
# build/tests/unit-harness-result's part.  Try:
#   tests/run-tests test-hostile-values.sh
# timeout: 60

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_swapbench
export SWAPBENCH_STATE_DIR=$tmp/state

# refused WHAT ARGS...: swapbench run ARGS exits 2 saying which key wants a
# finite number (--tiers names no tier: nothing can run even if accepted).
refused() {
	local what=$1
	shift
	timeout 20 "$SWAPBENCH" run "$@" --tiers no-such-tier >"$tmp/out" 2>&1
	local rc=$?
	grep -q "workload.ratio: expected working set / limit, a finite number" "$tmp/out" ||
		{ cat "$tmp/out" >&2; fail "item 12: $what accepted (exit $rc)"; }
	[ $rc = 2 ] || [ $rc = 1 ] || fail "item 12: $what: exit $rc"
	info "item 12: $what refused: $(head -n 1 "$tmp/out")"
}

for v in nan NaN -nan inf -inf infinity 1e999 0x1p3 '1.5,nan'; do
	refused "--set workload.ratio=$v" --set "workload.ratio=$v"
done
printf '[workload]\nratio = nan\n' >"$tmp/nan.ini"
refused "a scenario file with ratio = nan" --scenario "$tmp/nan.ini"

for v in nan inf; do
	timeout 20 "$SWAPBENCH" compare --threshold "$v" "$top/tests/fixtures/results/base.json" \
		"$top/tests/fixtures/results/cand-ok.json" >"$tmp/out" 2>&1
	rc=$?
	[ $rc != 0 ] && grep -q -- "--threshold: bad value '$v'" "$tmp/out" ||
		{ cat "$tmp/out" >&2; fail "item 12: compare --threshold $v: exit $rc, not refused"; }
done
info "item 12: compare --threshold nan and inf refused"

requires_test_prog unit-harness-result
"$BUILD/tests/unit-harness-result" 2>"$tmp/unit" || { cat "$tmp/unit" >&2; fail "item 12: unit-harness-result failed"; }
grep -q "'probe_ratio' is not a finite number (nan): recorded as null" "$tmp/unit" ||
	{ cat "$tmp/unit" >&2; fail "item 12: a NaN metric was not named"; }
info "item 12: a NaN metric is recorded as null, named, and run.json written"
exit 0
