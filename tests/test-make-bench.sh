#!/usr/bin/env bash
# README's main job, shortened: `make bench DURATION=10 REPEATS=1` in a fresh
# copy of the tree (tracked and new files, no build), as a newcomer runs it.
# It must build what it runs, print doctor's findings and how the default
# scenario was sized to this host, say before each run which run it is and
# about how long is left, run every tier this host supports with the nbd tier
# among them (nbd-vram where the GPU works, else nbd-ram) and the no-swap
# baseline (none), make every run valid, draw the figures, write report.md
# with one row per tier and the baseline table, and end with the summary
# table, calibrate's A/A lines and report.md's path.  The machine as before
# afterwards.  Try:  tests/run-tests test-make-bench.sh
# timeout: 900

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires jq
requires gnuplot
requires_root
requires_swapbench
[ -z "${SWAPBENCH_SANITIZED:-}" ] ||
	skip "a sanitizer build: the default nbd tier runs vramd in swap mode, which ASan's shadow memory rules out"
[ -z "$(active_swaps)" ] ||
	skip "swap already active on this host: $(active_swaps | tr '\n' ' '); each tier must be the only swap"
memcg_find || skip "no memory cgroup controller mounted (v1 or v2)"
keep_stderr
swapbench_isolate
before=$(machine_snapshot)

clone=$tmp/clone
mkdir "$clone"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$top" && git ls-files -z -co --exclude-standard | tar --null -T - -cf -) | tar -xf - -C "$clone" ||
		fail "copying the tree failed"
else
	tar -C "$top" --exclude=./build -cf - . | tar -xf - -C "$clone" || fail "copying the tree failed"
fi
[ ! -e "$clone/build" ] || fail "the copy has a build directory"
out=$tmp/result
t0=$(date +%s)
# Its own build in the copy, as README's user gets (the runner's BUILD,
# exported, would have make rebuild the suite's build from a tree that is
# no git checkout, stamping its programs' commit "unknown").
with_timeout 840 env -u BUILD make -C "$clone" -s bench BUILD="$clone/build" DURATION=10 REPEATS=1 OUT="$out" \
	>"$tmp/bench.out" 2>&1 ||
	{ tail -n 40 "$tmp/bench.out" >&2; fail "make bench exited with status $?"; }
info "make bench took $(($(date +%s) - t0)) s (build included)"
same_machine "$before" "after make bench"
doc=$out/run.json
[ -s "$doc" ] || fail "no $doc"

# What it said before and while it ran.
grep -q '^default run (make bench, scenario overcommit): ' "$tmp/bench.out" ||
	bad "no doctor section on the default run in the output"
grep -q 'sized to this host: memcg limit [0-9]* MiB' "$tmp/bench.out" ||
	bad "the run did not print how it was sized: $(grep -m 3 'sized\|limit' "$tmp/bench.out")"
grep -Eq 'run 1/[0-9]+: tier [a-z-]+, repeat 1/1, ratio 1.20; about [0-9]+ (min|s) left' "$tmp/bench.out" ||
	bad "no progress line per run: $(grep -m 2 'run 1/' "$tmp/bench.out")"
jq -e '.settings.scenario.host_sizing | test("memcg limit")' "$doc" >/dev/null ||
	bad "run.json does not record the host sizing"

# The tiers: every supported one, the nbd tier among them.
if "$clone/build/vramd" --dump-backend --backend=vram | grep -qx 'supported=yes'; then
	want=nbd-vram
else
	want=nbd-ram
fi
tiers=$(jq -r '[.runs[].tier] | unique | join(",")' "$doc")
info "tiers: $tiers"
for t in zram disk "$want" none; do
	supported_tier "${t%%-*}" || continue
	[[ ",$tiers," == *",$t,"* ]] || bad "tier $t did not run (ran: $tiers)"
done
jq -e '[.runs[] | select(.valid | not)] | length == 0' "$doc" >/dev/null ||
	bad "invalid runs: $(jq -c '[.runs[] | select(.valid | not) | {tier, invalid_reason}]' "$doc")"
jq -e '[.runs[] | select((.metrics.workload_ops_per_s // 0) <= 0)] | length == 0' "$doc" >/dev/null ||
	bad "a run without work done: $(jq -c '[.runs[] | {tier, ops: .metrics.workload_ops_per_s}]' "$doc")"

# The figures, the report, the summary on the terminal.
for f in p99-by-tier psi-full swap-rates latency-cdf; do
	[ -s "$out/plots/$f.png" ] || bad "no plots/$f.png"
done
md=$out/report.md
[ -s "$md" ] || fail "no report.md"
ntiers=$(jq '[.runs[].tier] | unique | length' "$doc")
rows=$(grep -c '^| [a-z][a-z0-9-]*@[0-9.]* | [0-9]*/[0-9]* |' "$md")
[ "$rows" = "$ntiers" ] || bad "report.md's table has $rows rows for $ntiers tiers"
grep -q '^| tier | valid runs | work done (ops/s) |' "$md" || bad "report.md's table does not start with work done"
grep -Eq '^tier +valid +work/s +probe p99 +PSI full +out pg/s +in pg/s +p99 vs none$' "$tmp/bench.out" ||
	bad "no summary table on the terminal (with the baseline's column)"
grep -q '^### Against the baseline (no swap)' "$md" || bad "report.md has no baseline table"
grep -q '^A/A halves of ' "$tmp/bench.out" || bad "make bench did not end with swapbench calibrate"
for t in ${tiers//,/ }; do
	# a row per tier and ratio: TIER@RATIO
	grep -Eq "^$t@1\.2 +1/1 +[0-9]" "$tmp/bench.out" || bad "no summary row for $t: $(grep "^$t" "$tmp/bench.out")"
done
[ "$(tail -n 1 "$tmp/bench.out")" = "bench: results, plots and report in $md" ] ||
	bad "the last line is '$(tail -n 1 "$tmp/bench.out")'"
checks_done
