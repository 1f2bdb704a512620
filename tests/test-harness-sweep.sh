#!/usr/bin/env bash
# timeout: 300
# A sweep (`run --sweep vm.swappiness=60,180`) over zram and the stack
# zram>disk: each variant runs (labels zram_swappiness60 ...), under the
# swappiness it names (the run's in_force, read while the tier was up),
# the document records the factor and each run's value, plot draws
# sweep.png from sweep-TIER.tsv with a row per value, report tabulates it,
# and the machine's swappiness is back afterwards.  Try:
#   tests/run-tests test-harness-sweep.sh

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_root
requires jq
requires_swapbench
requires_swap_tiers zram disk
keep_stderr
swapbench_isolate
export SWAPBENCH_SCENARIOS=$top/scenarios SWAPBENCH_PLOTS=$top/plots
before=$(machine_snapshot)
swapfile=/var/tmp/swapbench-test-sweep-$$.swap
cleanup_add "rm -f '$swapfile'"

with_timeout 240 "$SWAPBENCH" run --scenario quick --tiers "zram,zram>disk:file=$swapfile:as=zd" \
	--sweep vm.swappiness=60,180 --repeats 1 --set workload.duration_s=2 --out "$tmp/run" \
	>"$tmp/run.out" 2>&1 || bad "run: $(tail -n 15 "$tmp/run.out")"
doc=$tmp/run/run.json
grep -q 'sweep of vm.swappiness over 2 values: 4 variants a round' "$tmp/run.out" ||
	bad "no sweep line: $(head -n 5 "$tmp/run.out")"
jq -e '.settings.sweep == {factor: "vm.swappiness", values: ["60", "180"], numeric: true} and
	.fingerprint.factors.sweep.factor == "vm.swappiness" and
	([.runs[] | .tier] | sort) == ["zd_swappiness180", "zd_swappiness60", "zram_swappiness180", "zram_swappiness60"] and
	all(.runs[]; .valid == true and .sweep.value == .in_force.vm_swappiness and
		.sweep.base_tier == (.tier | split("_")[0]))' "$doc" >/dev/null ||
	bad "the document: $(jq -c '{s: .settings.sweep, runs: [.runs[] | {tier, valid, sweep, sw: .in_force.vm_swappiness}]}' "$doc")"
same_machine "$before" "after the sweep"

"$SWAPBENCH" report "$tmp/run" >/dev/null 2>"$tmp/report.err" || bad "report: $(cat "$tmp/report.err")"
grep -q '^### Sweep of vm.swappiness: probe p99' "$tmp/run/report.md" &&
	grep -qE '^\| zd \| [0-9.]+ ms \| [0-9.]+ ms \|$' "$tmp/run/report.md" ||
	bad "report.md has no sweep table: $(grep -A6 'Sweep' "$tmp/run/report.md" | head -20)"
if command -v gnuplot >/dev/null; then
	"$SWAPBENCH" plot "$tmp/run" >"$tmp/plot.out" 2>&1 || bad "plot: $(tail -n 5 "$tmp/plot.out")"
	[ -s "$tmp/run/plots/sweep.png" ] && [ -s "$tmp/run/plots/sweep.svg" ] ||
		bad "no sweep figure: $(ls "$tmp/run/plots")"
	[ "$(grep -vc '^#' "$tmp/run/plots/sweep-zram.tsv")" = 2 ] &&
		awk -F'\t' '!/^#/ && ($1 != $2 || $3 <= 0 || $6 <= 0) { bad = 1 } END { exit bad }' \
			"$tmp/run/plots/sweep-zram.tsv" ||
		bad "sweep-zram.tsv: $(cat "$tmp/run/plots/sweep-zram.tsv")"
else
	info "no gnuplot: the figure is not checked"
fi
checks_done
