#!/usr/bin/env bash
# swapbench compare and calibrate on fixture result documents
# (tests/fixtures/results/), end to end, each exit code: 0 ok, 1 regressed,
# 2 inconclusive (and --inconclusive-exit), 3 for a fingerprint refusal,
# usage errors, and malformed or truncated JSON (one line naming file, line
# and column).  No root needed.  Try:
#   tests/run-tests test-harness-compare.sh
# timeout: 120

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires jq
requires_swapbench
F=$top/tests/fixtures/results

# expect RC CMD...: run swapbench CMD, output in $tmp/out and $tmp/err.
expect() {
	local want=$1 rc
	shift
	"$SWAPBENCH" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ "$rc" = "$want" ] || {
		cat "$tmp/out" "$tmp/err" >&2
		fail "swapbench $* exited $rc, expected $want"
	}
}

expect 0 compare "$F/base.json" "$F/cand-ok.json"
grep -q '^verdict: ok$' "$tmp/out" || fail "ok: no 'verdict: ok' line"
grep -Eq '^zram +probe_p99 +5/6 ' "$tmp/out" || fail "ok: the invalid zram run was not excluded"
grep -q 'zram: 1 baseline and 0 candidate run(s) excluded' "$tmp/out" ||
	fail "ok: excluded runs not counted"

expect 1 compare "$F/base.json" "$F/cand-regressed.json"
grep -Eq '^zram +probe_p99 .* regressed$' "$tmp/out" || fail "regressed: zram p99 not regressed"
grep -Eq '^disk +probe_p99 .* ok$' "$tmp/out" || fail "regressed: disk p99 not ok"

expect 2 compare "$F/base.json" "$F/cand-inconclusive.json"
grep -Eq 'inconclusive \(~[0-9]+ runs a side' "$tmp/out" || fail "inconclusive: no runs-needed estimate"
expect 0 compare --inconclusive-exit 0 "$F/base.json" "$F/cand-inconclusive.json"
expect 7 compare --inconclusive-exit 7 "$F/base.json" "$F/cand-inconclusive.json"

# The same answers every time (seeded bootstrap).
"$SWAPBENCH" compare --json "$F/base.json" "$F/cand-regressed.json" >"$tmp/a.json"
"$SWAPBENCH" compare --json "$F/base.json" "$F/cand-regressed.json" >"$tmp/b.json"
cmp -s "$tmp/a.json" "$tmp/b.json" || fail "two identical compares differ"

if command -v jq >/dev/null; then
	[ "$(jq -r .verdict "$tmp/a.json")" = regressed ] || fail "json: verdict"
	[ "$(jq -r '.results[] | select(.tier == "zram" and .metric == "probe_p99") | .verdict' \
		"$tmp/a.json")" = regressed ] || fail "json: zram p99 verdict"
	jq -e '.results[] | select(.metric == "psi_full") | .effect == "difference_pp"' \
		"$tmp/a.json" >/dev/null || fail "json: psi_full not judged in percentage points"
	jq -e '.results[0] | has("mann_whitney_p") and has("ci95_lo") and has("ci95_hi")' \
		"$tmp/a.json" >/dev/null || fail "json: interval or Mann-Whitney missing"
fi

expect 1 compare --markdown -m probe_p99,throughput "$F/base.json" "$F/cand-regressed.json"
grep -q '^| tier | metric |' "$tmp/out" || fail "markdown: no table header"
grep -q '^| zram | probe_p99 | .*\*\*regressed\*\* |$' "$tmp/out" || fail "markdown: no regressed row"
grep -q '^| zram | throughput |' "$tmp/out" || fail "markdown: --metric list not honoured"

# Fingerprints that differ are refused with the reason, unless --force.
expect 3 compare "$F/base.json" "$F/cand-other-kernel.json"
grep -q 'fingerprints differ in kernel' "$tmp/err" || fail "refusal: reason not given"
[ ! -s "$tmp/out" ] || fail "refusal: printed a comparison"
expect 3 compare "$F/base.json" "$F/cand-other-tier.json"
grep -q 'differ in tier_config' "$tmp/err" || fail "refusal: tier config"
expect 0 compare --force "$F/base.json" "$F/cand-other-tier.json"
grep -q 'differ in tier_config' "$tmp/out" || fail "--force: difference not noted"
# Another machine (machine_id) is refused; a document without one (before
# swapbench recorded it) is compared.
jq '.fingerprint.machine_id = "00000000000000aa"' "$F/base.json" >"$tmp/base-m.json"
jq '.fingerprint.machine_id = "00000000000000bb"' "$F/cand-ok.json" >"$tmp/cand-m.json"
jq '.fingerprint.machine_id = "00000000000000aa"' "$F/cand-ok.json" >"$tmp/cand-same.json"
expect 3 compare "$tmp/base-m.json" "$tmp/cand-m.json"
grep -q 'fingerprints differ in machine_id' "$tmp/err" || fail "machine: reason not given: $(cat "$tmp/err")"
expect 0 compare "$tmp/base-m.json" "$tmp/cand-same.json"
expect 0 compare "$tmp/base-m.json" "$F/cand-ok.json"
expect 0 compare --force "$tmp/base-m.json" "$tmp/cand-m.json"
# Other sizes (what "auto" made of the scenario on each side) likewise.
jq '.fingerprint.sizing = {memcg_limit_bytes: 536870912, workers: 2, engine: "touch"}' "$F/base.json" \
	>"$tmp/base-s.json"
jq '.fingerprint.sizing = {memcg_limit_bytes: 268435456, workers: 2, engine: "touch"}' "$F/cand-ok.json" \
	>"$tmp/cand-s.json"
expect 3 compare "$tmp/base-s.json" "$tmp/cand-s.json"
grep -q 'fingerprints differ in sizing' "$tmp/err" || fail "sizing: reason not given: $(cat "$tmp/err")"
expect 0 compare "$tmp/base-s.json" "$F/cand-ok.json"

# --pair: two tiers of one document (here base's zram against
# cand-regressed's zram, relabelled), and a threshold of one metric alone.
jq --slurpfile c "$F/cand-regressed.json" \
	'.runs += [$c[0].runs[] | select(.tier == "zram") | .tier = "zram-b"]' "$F/base.json" >"$tmp/pair.json"
expect 1 compare --pair zram,zram-b "$tmp/pair.json"
grep -Eq '^zram-b +probe_p99 .* regressed$' "$tmp/out" || fail "--pair: zram-b p99 not regressed"
grep -q 'tier zram-b against tier zram' "$tmp/out" || fail "--pair: the header names no tiers"
expect 0 compare --pair zram,zram-b --threshold probe_p99=1000% "$tmp/pair.json"
grep -q '^probe_p99: threshold 1000%$' "$tmp/out" || fail "per-metric threshold not shown"
expect 3 compare --pair zram,nosuch "$tmp/pair.json"
grep -q "no runs of both tier 'zram' and tier 'nosuch'" "$tmp/err" || fail "--pair nosuch: $(cat "$tmp/err")"
expect 3 compare --pair zram "$tmp/pair.json"
expect 3 compare --pair zram,zram-b "$tmp/pair.json" "$F/base.json"
expect 3 compare --threshold psi_full=3% "$F/base.json" "$F/cand-ok.json"
grep -q 'psi_full is judged by a margin' "$tmp/err" || fail "threshold for psi_full: $(cat "$tmp/err")"
# Probe figures without the start-up (newer) are not compared with older
# ones unless --force.
jq '.runs[0].metrics.probe_run_slots = 500' "$F/cand-ok.json" >"$tmp/cand-startup.json"
expect 3 compare "$F/base.json" "$tmp/cand-startup.json"
grep -q "leaves the workload's start-up out" "$tmp/err" || fail "start-up apart: $(cat "$tmp/err")"
expect 0 compare --force "$F/base.json" "$tmp/cand-startup.json"

# Usage errors.
expect 3 compare "$F/base.json"
expect 3 compare --threshold ten "$F/base.json" "$F/cand-ok.json"
expect 3 compare --metric nosuch "$F/base.json" "$F/cand-ok.json"
expect 3 compare --inconclusive-exit 300 "$F/base.json" "$F/cand-ok.json"
expect 3 compare --json --markdown "$F/base.json" "$F/cand-ok.json"
expect 0 compare --help
grep -q 'Exit status' "$tmp/out" || fail "--help: no exit status"

# Broken input: one line naming file:line:column and jansson's text.
expect 3 compare "$F/base.json" "$F/malformed.json"
[ "$(wc -l <"$tmp/err")" = 1 ] || fail "malformed: not one line: $(cat "$tmp/err")"
grep -Eq 'malformed\.json:[0-9]+:[0-9]+: .+' "$tmp/err" || fail "malformed: $(cat "$tmp/err")"
expect 3 compare "$F/truncated.json" "$F/base.json"
grep -Eq 'truncated\.json:[0-9]+:[0-9]+: premature end of input' "$tmp/err" ||
	fail "truncated: $(cat "$tmp/err")"
expect 3 compare "$F/base.json" "$tmp/absent.json"
grep -q "absent.json" "$tmp/err" || fail "absent file: not named"
echo '{"schema": "swapbench-tier", "schema_version": 1}' >"$tmp/other.json"
expect 3 compare "$F/base.json" "$tmp/other.json"
grep -q 'not a swapbench-run result document' "$tmp/err" || fail "wrong schema: $(cat "$tmp/err")"

# calibrate: A/A halves, suggested thresholds.
expect 0 calibrate -m probe_p99 -m psi_full "$F/base.json"
grep -Eq '^disk +probe_p99 +6 .*--threshold [0-9]+%$' "$tmp/out" || fail "calibrate: no threshold"
grep -Eq '^disk +psi_full +6 .*--margin [0-9.]+$' "$tmp/out" || fail "calibrate: no margin"
expect 0 calibrate --json "$F/base.json"
grep -q '"suggested_threshold_pct"' "$tmp/out" || fail "calibrate --json"
expect 3 calibrate "$F/truncated.json"
expect 3 calibrate

# Runs of a ramp (each with an overcommit "ratio") are compared per tier and
# ratio, never pooled across ratios.
expect 2 compare "$F/ramp.json" "$F/ramp.json"
grep -Eq '^zram@1\.5 +probe_p99 +3/3 .* ok$' "$tmp/out" || fail "ramp: zram@1.5 not compared alone"
grep -Eq '^zram@2 +probe_p99 +2/2 .*fewer than 3 valid runs' "$tmp/out" || fail "ramp: zram@2"
